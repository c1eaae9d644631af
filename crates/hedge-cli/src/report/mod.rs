//! `report.html`: one self-contained page (no network, no script) with the metric table
//! sorted by PRR and, per estimator, a reliability diagram, a risk–coverage curve and
//! histograms of the score for right and wrong answers, drawn with plotters as inline SVG.

pub mod cascade;
mod plots;
pub mod policy;

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use rayon::prelude::*;
use serde_json::Value;

use crate::scored::Scored;
use crate::summary::{self, ConfidenceSource, Summary};

/// The page's style sheet, inlined.
const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1400px;color:#222}\
table{border-collapse:collapse;font-size:14px}th,td{padding:3px 9px;border-bottom:1px solid #ddd}\
td{text-align:right}td:first-child,th:first-child,td:last-child{text-align:left}\
.plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}\
figcaption{font-size:13px;color:#555;max-width:440px}dt{font-weight:bold;float:left;\
clear:left;width:11em}dd{margin-left:12em}.note{color:#555;font-size:14px;max-width:60em}";

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page for `summary`, with plots drawn from the answers in `data`.
///
/// # Errors
/// When a plot cannot be drawn.
pub fn html(summary: &Summary, data: &Scored) -> anyhow::Result<String> {
    let mut h = String::new();
    let w = &mut h;
    let _ = write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>hedge report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>hedge report</h1>\n<dl>\n"
    );
    for (key, value) in &summary.context {
        let text = match (key.as_str(), value) {
            (_, Value::String(s)) => s.clone(),
            ("policy", p) => policy::headline(p),
            (_, v) => v.to_string(),
        };
        let _ = writeln!(w, "<dt>{}</dt><dd>{}</dd>", esc(key), esc(&text));
    }
    let o = &summary.options;
    let _ = write!(
        w,
        "<dt>options</dt><dd>{} bins, {} bootstrap resamples (seed {})</dd>\n</dl>\n\
         <h2>Metrics, sorted by PRR</h2>\n<p class=\"note\">{}</p>\n<table>\n<tr>",
        o.bins,
        o.resamples,
        o.seed,
        esc(&summary::headline(summary))
    );
    let (head, rows) = summary::table(summary);
    for cell in head {
        let _ = write!(w, "<th>{}</th>", esc(cell));
    }
    let _ = writeln!(w, "</tr>");
    for row in rows {
        let _ = write!(w, "<tr>");
        for (i, cell) in row.iter().enumerate() {
            if i == 0 {
                let _ = write!(w, "<td><a href=\"#e-{0}\">{0}</a></td>", esc(cell));
            } else {
                let _ = write!(w, "<td>{}</td>", esc(cell));
            }
        }
        let _ = writeln!(w, "</tr>");
    }
    let _ = writeln!(
        w,
        "</table>\n<p class=\"note\">PRR: prediction–rejection ratio (1 = the oracle's \
         ranking, 0 = random); AUROC and AUPRC: how well the uncertainty detects wrong \
         answers; AURC: area under the risk–coverage curve; AUARC: area under the \
         accuracy–rejection curve; ECE: expected calibration error of the confidence κ \
         ({} equal-width bins); Brier: mean (κ − correct)². κ from \"Platt, in-sample\" is a \
         Platt map fitted on these same answers: its ECE and Brier are optimistic; fit a map \
         on another split with <code>hedge calibrate</code> and pass it with \
         <code>--calibration</code>.</p>",
        o.bins
    );
    if let Some(p) = summary.context.get("policy") {
        w.push_str(&policy::section(p));
    }
    // The plots of each estimator sort its N answers: draw them in parallel.
    let figures = summary
        .estimators
        .par_iter()
        .map(|e| {
            let u = data.column(&e.name).unwrap_or_default();
            Ok([
                plots::reliability(&e.metrics.reliability)?,
                plots::risk_coverage_curve(u, &data.q)?,
                plots::histogram(u, &data.q)?,
            ])
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (e, [rel, rc, hist]) in summary.estimators.iter().zip(figures) {
        let kappa = match e.confidence {
            ConfidenceSource::CalibrationFile => {
                "κ from the map of the calibration file".to_string()
            }
            ConfidenceSource::PlattInSample => {
                "κ from a Platt map fitted on these same answers (in-sample)".to_string()
            }
            ConfidenceSource::None => "no confidence: no row to fit a map on".to_string(),
        };
        let m = &e.metrics;
        let _ = write!(
            w,
            "<h2 id=\"e-{name}\">{name}</h2>\n<div class=\"plots\">\n\
             <figure>{rel}<figcaption>Reliability diagram, {kappa}; ECE {ece}, MCE {mce}.\
             </figcaption></figure>\n\
             <figure>{rc}<figcaption>Risk–coverage: AURC {aurc} (lower is better), PRR {prr}.\
             </figcaption></figure>\n\
             <figure>{hist}<figcaption>Histograms of the score for right and wrong answers; \
             AUROC {auroc}.</figcaption></figure>\n</div>\n",
            name = esc(&e.name),
            kappa = esc(&kappa),
            ece = summary::num(m.ece),
            mce = summary::num(m.mce),
            aurc = summary::num(m.aurc),
            prr = summary::num(m.prr),
            auroc = summary::num(m.auroc),
        );
    }
    let _ = writeln!(w, "</body>\n</html>");
    Ok(h)
}

/// Writes [`html`] to `path`.
///
/// # Errors
/// When a plot cannot be drawn or the file cannot be written.
pub fn write(path: &Path, summary: &Summary, data: &Scored) -> anyhow::Result<()> {
    let page = html(summary, data)?;
    std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hedge_core::{Scores, SummaryOptions};

    #[test]
    fn escapes_names_and_has_three_plots_per_estimator() {
        let mut d = Scored::default();
        for (a, b, q) in [(0.1, 0.2, 1.0), (0.7, 0.1, 0.0), (0.3, 0.6, 1.0)] {
            let s: Scores = [("<b>x</b>", a), ("y", b)].into_iter().collect();
            d.push(&s, q);
        }
        let mut ctx = serde_json::Map::new();
        ctx.insert("input".into(), "a&b.jsonl".into());
        let s = summary::compute(&d, &SummaryOptions::default(), None, ctx).unwrap();
        let page = html(&s, &d).unwrap();
        assert_eq!(page.matches("<svg").count(), 6);
        assert!(!page.contains("<b>x</b>") && page.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(page.contains("a&amp;b.jsonl"));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
