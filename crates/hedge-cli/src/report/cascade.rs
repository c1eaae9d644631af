//! The cascade section of `hedge eval --cascade`: what `summary.json` holds under
//! "cascade" ([`CascadeReport`]) and its part of report.html — accuracy against the fraction
//! deferred for each deferral rule, drawn with plotters, and the tables.

use std::fmt::Write as _;

use hedge_steer::cascade::{CurvePoint, PostHoc};
use plotters::prelude::*;
use serde::Serialize;

use super::esc;
use super::plots::{render, FONT};
use crate::commands::cascade::Threshold;

/// The accuracy–cost curves of one `hedge eval --cascade` run.
#[derive(Debug, Clone, Serialize)]
pub struct CascadeReport {
    pub small: String,
    pub large: String,
    pub questions: usize,
    pub small_accuracy: f64,
    pub large_accuracy: f64,
    /// The rule of --defer.
    pub rule: String,
    /// The gap of the "within" point (0.01: within 1 point of the large model).
    pub within: f64,
    /// The cascade at τ of the flags (--defer-threshold, or chosen by --defer-fit), when
    /// there is one.
    pub operating_point: Option<OperatingPoint>,
    /// One curve per rule, --defer first.
    pub curves: Vec<RuleCurve>,
    /// Per category, when the items have a "category" field.
    pub categories: Vec<CategoryRow>,
}

/// The cascade at one τ on this run.
#[derive(Debug, Clone, Serialize)]
pub struct OperatingPoint {
    pub threshold: Threshold,
    pub deferred: usize,
    pub fraction: f64,
    pub accuracy: f64,
}

/// The curve of one rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleCurve {
    pub rule: String,
    /// For posthoc: the run it was fitted on, or "in-sample" (this run: optimistic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fitted_on: Option<String>,
    /// Mean accuracy over deferral budgets (area under the curve); random deferral gives
    /// (small + large accuracy) / 2.
    pub area: f64,
    /// The smallest deferral within `within` of the large model's accuracy.
    pub within_of_large: Option<CurvePoint>,
    /// The points deferring at most 0, 10, …, 100 % of the questions.
    pub table: Vec<CurvePoint>,
    /// Every point a threshold reaches.
    pub points: Vec<CurvePoint>,
    /// The fitted post-hoc model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posthoc: Option<PostHoc>,
}

/// One category's questions.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryRow {
    pub category: String,
    pub questions: usize,
    pub small_accuracy: f64,
    pub large_accuracy: f64,
    /// Fraction deferred at the operating point (`None` without one).
    pub deferred: Option<f64>,
    /// The cascade's accuracy at the operating point.
    pub accuracy: Option<f64>,
}

/// A percentage with one decimal, `—` when undefined.
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1} %", 100.0 * x)
    } else {
        "—".into()
    }
}

/// τ with four decimals, ±inf as such.
pub fn tau(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        x.to_string()
    }
}

/// The curve colours, one per rule in order.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
const GREY: RGBColor = RGBColor(127, 127, 127);

/// Accuracy against the fraction deferred: one line per rule, the straight line of random
/// deferral, and the large model's accuracy less the gap.
pub fn plot(r: &CascadeReport) -> anyhow::Result<String> {
    let accs = r
        .curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.accuracy))
        .chain([r.small_accuracy, r.large_accuracy]);
    let (lo, hi) = accs
        .filter(|a| a.is_finite())
        .fold((1.0f64, 0.0f64), |(lo, hi), a| (lo.min(a), hi.max(a)));
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.1).max(0.01);
    // room above for the legend
    let (y0, y1) = ((lo - pad).max(0.0), (hi + pad + (hi - lo) * 0.6).min(1.0));
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("cascade: accuracy vs fraction deferred", (FONT, 16))
            .margin(12)
            .x_label_area_size(38)
            .y_label_area_size(46)
            .build_cartesian_2d(0f64..1f64, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc("fraction deferred to the large model")
            .y_desc("accuracy")
            .max_light_lines(0)
            .draw()?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, r.small_accuracy), (1.0, r.large_accuracy)],
                GREY.stroke_width(1),
            ))?
            .label("random deferral")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], GREY));
        let target = r.large_accuracy - r.within;
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, target), (1.0, target)],
                4,
                4,
                GREY.stroke_width(1),
            ))?
            .label(format!("large − {:.0} pt", 100.0 * r.within))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], GREY));
        for (c, colour) in r.curves.iter().zip(COLOURS.iter().cycle()) {
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(
                    c.points.iter().map(|p| (p.fraction, p.accuracy)),
                    colour.stroke_width(2),
                ))?
                .label(label(c))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 12, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .label_font((FONT, 12))
            .draw()?;
        Ok(())
    })
}

/// The report.html section: the plot, the table of accuracy at each deferral budget, the
/// "within" point of each rule, and the categories.
///
/// # Errors
/// When the plot cannot be drawn.
pub fn section(r: &CascadeReport) -> anyhow::Result<String> {
    let mut h = String::new();
    let w = &mut h;
    let _ = write!(
        w,
        "<h2 id=\"cascade\">Cascade: {small} → {large}</h2>\n<p class=\"note\">{n} questions; \
         {small} alone {sa}, {large} alone {la}. Each rule defers the questions whose score \
         of {small}'s answer exceeds τ; every τ is one point of its curve (both models \
         answered every question once).</p>\n<div class=\"plots\"><figure>{svg}<figcaption>\
         Accuracy against the fraction of questions deferred; the grey line is random \
         deferral, the dashed one {large}'s accuracy less {gap:.0} point(s).</figcaption>\
         </figure></div>\n",
        small = esc(&r.small),
        large = esc(&r.large),
        n = r.questions,
        sa = pct(r.small_accuracy),
        la = pct(r.large_accuracy),
        svg = plot(r)?,
        gap = 100.0 * r.within,
    );
    let _ = write!(w, "<table>\n<tr><th>deferred at most</th>");
    for c in &r.curves {
        let _ = write!(w, "<th>{} accuracy</th><th>τ</th>", esc(&label(c)));
    }
    let _ = writeln!(w, "</tr>");
    let rows = r.curves.first().map_or(0, |c| c.table.len());
    for i in 0..rows {
        let _ = write!(
            w,
            "<tr><td>{:.0} %</td>",
            100.0 * i as f64 / (rows - 1).max(1) as f64
        );
        for c in &r.curves {
            match c.table.get(i) {
                Some(p) => {
                    let _ = write!(
                        w,
                        "<td>{} ({})</td><td>{}</td>",
                        pct(p.accuracy),
                        pct(p.fraction),
                        tau(p.threshold)
                    );
                }
                None => {
                    let _ = write!(w, "<td>—</td><td>—</td>");
                }
            }
        }
        let _ = writeln!(w, "</tr>");
    }
    let _ = write!(
        w,
        "</table>\n<p class=\"note\">Each cell: the cascade's accuracy at the largest \
         deferral not above the row's budget (the fraction actually deferred in brackets; \
         questions of equal score are deferred together).</p>\n<h3>Within {gap:.0} point(s) of \
         {large} ({target})</h3>\n<table>\n<tr><th>rule</th><th>deferred</th><th>τ</th>\
         <th>accuracy</th><th>area</th></tr>\n",
        gap = 100.0 * r.within,
        large = esc(&r.large),
        target = pct(r.large_accuracy - r.within),
    );
    for c in &r.curves {
        let (d, t, a) = c
            .within_of_large
            .map_or(("—".into(), "—".into(), "—".into()), |p| {
                (pct(p.fraction), tau(p.threshold), pct(p.accuracy))
            });
        let _ = writeln!(
            w,
            "<tr><td>{}</td><td>{d}</td><td>{t}</td><td>{a}</td><td>{:.4}</td></tr>",
            esc(&label(c)),
            c.area
        );
    }
    let _ = writeln!(w, "</table>");
    if let Some(op) = &r.operating_point {
        let _ = writeln!(
            w,
            "<p class=\"note\">At τ = {} ({}) the cascade defers {} and is right on {}.</p>",
            tau(op.threshold.value),
            esc(&threshold_source(&op.threshold)),
            pct(op.fraction),
            pct(op.accuracy)
        );
    }
    if !r.categories.is_empty() {
        let _ = write!(
            w,
            "<h3>By category</h3>\n<table>\n<tr><th>category</th><th>questions</th>\
             <th>{}</th><th>{}</th><th>deferred at τ</th><th>cascade at τ</th></tr>\n",
            esc(&r.small),
            esc(&r.large)
        );
        for c in &r.categories {
            let _ = writeln!(
                w,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.category),
                c.questions,
                pct(c.small_accuracy),
                pct(c.large_accuracy),
                c.deferred.map_or("—".into(), pct),
                c.accuracy.map_or("—".into(), pct),
            );
        }
        let _ = writeln!(w, "</table>");
    }
    Ok(h)
}

/// A rule's name, with where a post-hoc rule was fitted.
pub fn label(c: &RuleCurve) -> String {
    match &c.fitted_on {
        Some(on) if on == "in-sample" => format!("{} (in-sample)", c.rule),
        Some(_) => format!("{} (fitted)", c.rule),
        None => c.rule.clone(),
    }
}

/// Where τ came from, in words.
pub fn threshold_source(t: &Threshold) -> String {
    match &t.source {
        crate::commands::cascade::ThresholdSource::Given => "--defer-threshold".into(),
        crate::commands::cascade::ThresholdSource::Fitted {
            run,
            within,
            fraction,
            accuracy,
            large_accuracy,
        } => format!(
            "chosen on {run}: deferring {} there reached {} against the large model's {} \
             (within {:.0} point(s))",
            pct(*fraction),
            pct(*accuracy),
            pct(*large_accuracy),
            100.0 * within
        ),
    }
}

/// `page` with the section put before its metric table (or at the end of the body).
pub fn insert(page: &str, section: &str) -> String {
    let at = page
        .find("<h2>Metrics")
        .or_else(|| page.rfind("</body>"))
        .unwrap_or(page.len());
    let mut out = String::with_capacity(page.len() + section.len());
    out.push_str(&page[..at]);
    out.push_str(section);
    out.push_str(&page[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hedge_steer::cascade::{Curve, Outcome};

    fn report() -> CascadeReport {
        let outcomes = [
            Outcome {
                score: 0.9,
                small: 0.0,
                large: 1.0,
            },
            Outcome {
                score: 0.1,
                small: 1.0,
                large: 1.0,
            },
            Outcome {
                score: 0.5,
                small: 0.0,
                large: 0.0,
            },
        ];
        let c = Curve::new(&outcomes);
        CascadeReport {
            small: "s<m>".into(),
            large: "l".into(),
            questions: 3,
            small_accuracy: c.small_accuracy,
            large_accuracy: c.large_accuracy,
            rule: "chow_sum".into(),
            within: 0.01,
            operating_point: None,
            curves: vec![RuleCurve {
                rule: "chow_sum".into(),
                fitted_on: None,
                area: c.area(),
                within_of_large: c.within_of_large(0.01),
                table: c.table(10),
                points: c.points.clone(),
                posthoc: None,
            }],
            categories: vec![],
        }
    }

    #[test]
    fn section_has_one_plot_and_the_table() {
        let s = section(&report()).unwrap();
        assert_eq!(s.matches("<svg").count(), 1);
        assert!(s.contains("s&lt;m&gt; → l") && !s.contains("s<m>"));
        assert_eq!(s.matches("<tr><td>").count(), 11 + 1, "11 budgets, 1 rule");
        assert!(!s.contains("http"));
        let page = insert(
            "<body><h1>x</h1><h2>Metrics, sorted</h2></body>",
            "<h2>C</h2>",
        );
        assert_eq!(
            page,
            "<body><h1>x</h1><h2>C</h2><h2>Metrics, sorted</h2></body>"
        );
    }
}
