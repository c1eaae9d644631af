//! The report's plots, drawn with plotters into SVG strings: reliability diagram,
//! risk–coverage curve, and histograms of an uncertainty for right and wrong answers.

use hedge_core::metrics::{is_correct, risk_coverage, ReliabilityBin, RiskCoverage};
use plotters::coord::Shift;
use plotters::prelude::*;

const SIZE: (u32, u32) = (440, 330);
pub(super) const FONT: &str = "sans-serif";
/// Most points drawn of a curve: a million-answer curve is thinned to this.
const CURVE_POINTS: usize = 400;
/// Bars of a histogram.
const HIST_BINS: usize = 30;

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const RED_: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(127, 127, 127);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws on a fresh SVG canvas and returns the `<svg>…</svg>` text.
pub(super) fn render(draw: impl FnOnce(&Area<'_>) -> anyhow::Result<()>) -> anyhow::Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    // Inline SVG in HTML needs no namespace; dropping it keeps the report free of URLs.
    Ok(buf.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1))
}

/// A note in the middle of an empty plot.
fn note(root: &Area<'_>, text: &str) -> anyhow::Result<()> {
    let style = TextStyle::from((FONT, 15).into_font()).color(&GREY).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    root.draw_text(text, &style, (SIZE.0 as i32 / 2, SIZE.1 as i32 / 2))?;
    Ok(())
}

/// The rows where both u and q are known.
pub fn known(u: &[f64], q: &[f64]) -> (Vec<f64>, Vec<f64>) {
    u.iter()
        .zip(q)
        .filter(|(x, y)| !x.is_nan() && !y.is_nan())
        .map(|(&x, &y)| (x, y))
        .unzip()
}

/// Reliability diagram: accuracy per equal-width confidence bin, the gap to the bin's mean
/// confidence, and the diagonal of perfect calibration. Empty `bins` (no confidence) draws
/// a note instead.
pub fn reliability(bins: &[ReliabilityBin]) -> anyhow::Result<String> {
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("reliability diagram", (FONT, 16))
            .margin(12)
            .x_label_area_size(38)
            .y_label_area_size(46)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("confidence κ")
            .y_desc("accuracy")
            .max_light_lines(0)
            .draw()?;
        let used: Vec<&ReliabilityBin> = bins.iter().filter(|b| b.count > 0).collect();
        if used.is_empty() {
            return note(root, "no confidence for this estimator");
        }
        chart
            .draw_series(used.iter().map(|b| {
                Rectangle::new([(b.lo, 0.0), (b.hi, b.accuracy)], BLUE_.mix(0.75).filled())
            }))?
            .label("accuracy")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE_.filled()));
        chart
            .draw_series(used.iter().map(|b| {
                Rectangle::new(
                    [(b.lo, b.accuracy), (b.hi, b.mean_confidence)],
                    RED_.mix(0.3).filled(),
                )
            }))?
            .label("gap to mean κ")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], RED_.mix(0.3).filled()));
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                GREY.stroke_width(1),
            ))?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], GREY));
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

/// At most [`CURVE_POINTS`] (coverage, risk) points of a curve, evenly spaced in coverage,
/// always keeping the last.
fn thin(curve: &RiskCoverage) -> Vec<(f64, f64)> {
    let n = curve.coverage.len();
    let mut out = Vec::with_capacity(CURVE_POINTS + 1);
    let mut next = 0.0;
    for (i, (&c, &r)) in curve.coverage.iter().zip(&curve.risk).enumerate() {
        if c >= next || i + 1 == n {
            out.push((c, r));
            next = c + 1.0 / CURVE_POINTS as f64;
        }
    }
    out
}

/// Risk–coverage curve of `u` (answers accepted from the most confident), with the
/// oracle's curve (ranked by the quality itself) and the flat risk of a random ranking.
pub fn risk_coverage_curve(u: &[f64], q: &[f64]) -> anyhow::Result<String> {
    let (u, q) = known(u, q);
    let curve = thin(&risk_coverage(&u, &q));
    let by_quality: Vec<f64> = q.iter().map(|x| -x).collect();
    let oracle = thin(&risk_coverage(&by_quality, &q));
    let overall = curve.last().map_or(f64::NAN, |p| p.1);
    let top = curve.iter().chain(&oracle).map(|p| p.1).fold(0.0, f64::max);
    let top = (top * 1.5).clamp(0.05, 1.0); // room for the legend
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("risk–coverage", (FONT, 16))
            .margin(12)
            .x_label_area_size(38)
            .y_label_area_size(46)
            .build_cartesian_2d(0f64..1f64, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("coverage (answers kept, most confident first)")
            .y_desc("risk (1 − quality)")
            .max_light_lines(0)
            .draw()?;
        if curve.is_empty() {
            return note(root, "no answer with a score");
        }
        chart
            .draw_series(LineSeries::new(
                [(0.0, overall), (1.0, overall)],
                GREY.stroke_width(1),
            ))?
            .label("random")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], GREY));
        chart
            .draw_series(LineSeries::new(
                oracle.iter().copied(),
                GREEN_.stroke_width(2),
            ))?
            .label("oracle")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], GREEN_.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(
                curve.iter().copied(),
                BLUE_.stroke_width(2),
            ))?
            .label("this estimator")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLUE_.stroke_width(2)));
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

/// The value at quantile `p` of sorted `xs` (nearest rank).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Histograms of `u` for right (q ≥ 0.5) and wrong answers, each as a fraction of its own
/// group, over the 0.5–99.5 % quantile range of u (values beyond it count in the end bars).
pub fn histogram(u: &[f64], q: &[f64]) -> anyhow::Result<String> {
    let (u, q) = known(u, q);
    let mut sorted = u.clone();
    sorted.sort_by(f64::total_cmp);
    let (mut lo, mut hi) = match sorted.first() {
        Some(_) => (quantile(&sorted, 0.005), quantile(&sorted, 0.995)),
        None => (0.0, 1.0),
    };
    if hi - lo <= 1e-12 * lo.abs().max(1.0) {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let width = (hi - lo) / HIST_BINS as f64;
    let mut counts = [[0usize; HIST_BINS]; 2]; // [wrong, right]
    for (&x, &y) in u.iter().zip(&q) {
        let b = ((x - lo) / width)
            .floor()
            .clamp(0.0, (HIST_BINS - 1) as f64) as usize;
        counts[usize::from(is_correct(y))][b] += 1;
    }
    let totals = counts.map(|c| c.iter().sum::<usize>());
    let frac = |g: usize, b: usize| counts[g][b] as f64 / totals[g].max(1) as f64;
    let top = (0..2)
        .flat_map(|g| (0..HIST_BINS).map(move |b| (g, b)))
        .map(|(g, b)| frac(g, b))
        .fold(0.0, f64::max);
    let top = (top * 1.35).max(0.05); // room for the legend
    render(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("uncertainty of right vs wrong answers", (FONT, 16))
            .margin(12)
            .x_label_area_size(38)
            .y_label_area_size(46)
            .build_cartesian_2d(lo..hi, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("uncertainty (higher = less sure)")
            .y_desc("fraction of the group")
            .max_light_lines(0)
            .draw()?;
        if u.is_empty() {
            return note(root, "no answer with a score");
        }
        for (g, color, name) in [(1, GREEN_, "right"), (0, ORANGE, "wrong")] {
            let bars = (0..HIST_BINS).filter(|&b| counts[g][b] > 0).map(move |b| {
                let x0 = lo + b as f64 * width;
                Rectangle::new(
                    [(x0, 0.0), (x0 + width, frac(g, b))],
                    color.mix(0.5).filled(),
                )
            });
            chart
                .draw_series(bars)?
                .label(format!("{name} (n = {})", totals[g]))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.mix(0.5).filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .label_font((FONT, 12))
            .draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_keeps_ends_and_bounds_the_size() {
        let n = 10_000;
        let curve = RiskCoverage {
            threshold: (0..n).map(f64::from).collect(),
            coverage: (1..=n).map(|i| f64::from(i) / f64::from(n)).collect(),
            risk: vec![0.5; n as usize],
        };
        let t = thin(&curve);
        assert!(t.len() <= CURVE_POINTS + 1, "{}", t.len());
        assert_eq!(t.first().unwrap().0, 1.0 / f64::from(n));
        assert_eq!(t.last().unwrap().0, 1.0);
    }

    #[test]
    fn plots_are_one_svg_without_urls() {
        let u = [0.1, 0.5, f64::NAN, 0.9, 0.3];
        let q = [1.0, 0.0, 1.0, 0.0, 1.0];
        for svg in [
            risk_coverage_curve(&u, &q).unwrap(),
            histogram(&u, &q).unwrap(),
            reliability(&[]).unwrap(),
            histogram(&[], &[]).unwrap(),
        ] {
            assert_eq!(svg.matches("<svg").count(), 1);
            assert!(svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
            assert!(!svg.contains("http"), "{svg}");
        }
        assert!(reliability(&[]).unwrap().contains("no confidence"));
    }
}
