//! Every metric of every estimator on scored answers (`summary.json`), and its table.

use std::io::Write;

use hedge_core::{Calibration, MetricSet, Platt, SummaryOptions};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::calibration_file::CalibrationFile;
use crate::scored::Scored;

/// Where the confidence κ of an estimator's calibration metrics (ECE, MCE, Brier, NLL,
/// reliability diagram) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfidenceSource {
    /// The map of `--calibration FILE`, fitted on other data.
    CalibrationFile,
    /// A Platt map fitted on these same answers (optimistic: in-sample).
    PlattInSample,
    /// No confidence: the Platt fit failed (no usable row); calibration metrics are null.
    None,
}

impl ConfidenceSource {
    /// A short label for tables and plots.
    pub fn label(self) -> &'static str {
        match self {
            ConfidenceSource::CalibrationFile => "calibration file",
            ConfidenceSource::PlattInSample => "Platt, in-sample",
            ConfidenceSource::None => "none",
        }
    }
}

/// The metrics of one estimator.
#[derive(Debug, Clone, Serialize)]
pub struct EstimatorSummary {
    pub name: String,
    /// Where κ comes from.
    pub confidence: ConfidenceSource,
    /// The map that gave κ.
    pub calibration: Option<Calibration>,
    #[serde(flatten)]
    pub metrics: MetricSet,
}

/// `summary.json`: what was measured, the options, and the estimators sorted by PRR.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Where the answers come from (input file, or model and data set).
    #[serde(flatten)]
    pub context: Map<String, Value>,
    /// Answers read.
    pub rows: usize,
    pub options: SummaryOptions,
    /// Sorted by PRR, best first; estimators whose PRR is undefined come last.
    pub estimators: Vec<EstimatorSummary>,
}

/// The metrics of every estimator of `data`, estimators in parallel.
///
/// κ for the calibration metrics is the estimator's map in `calibration` when it has one,
/// else a Platt map fitted on the same answers.
///
/// # Errors
/// Only on inconsistent columns (a bug).
pub fn compute(
    data: &Scored,
    opts: &SummaryOptions,
    calibration: Option<&CalibrationFile>,
    context: Map<String, Value>,
) -> anyhow::Result<Summary> {
    let mut estimators = data
        .names
        .par_iter()
        .zip(data.u.par_iter())
        .map(|(name, u)| estimator(name, u, &data.q, opts, calibration))
        .collect::<anyhow::Result<Vec<_>>>()?;
    sort_by_prr(&mut estimators);
    Ok(Summary {
        context,
        rows: data.len(),
        options: *opts,
        estimators,
    })
}

fn estimator(
    name: &str,
    u: &[f64],
    q: &[f64],
    opts: &SummaryOptions,
    calibration: Option<&CalibrationFile>,
) -> anyhow::Result<EstimatorSummary> {
    let (confidence, map) = match calibration.and_then(|f| f.map(name)) {
        Some(map) => (ConfidenceSource::CalibrationFile, Some(map.clone())),
        None => match platt_in_sample(u, q) {
            Some(p) => (ConfidenceSource::PlattInSample, Some(Calibration::Platt(p))),
            None => (ConfidenceSource::None, None),
        },
    };
    // Scores read from JSON are finite or NaN, so κ is NaN exactly where u is.
    let kappa = map.as_ref().map(|m| m.apply_all(u));
    let metrics = MetricSet::compute(u, q, kappa.as_deref(), opts)?;
    Ok(EstimatorSummary {
        name: name.to_string(),
        confidence,
        calibration: map,
        metrics,
    })
}

/// A Platt map fitted on the rows where u and q are known; `None` when there is none.
pub fn platt_in_sample(u: &[f64], q: &[f64]) -> Option<Platt> {
    let (fu, fq): (Vec<f64>, Vec<f64>) = u
        .iter()
        .zip(q)
        .filter(|(x, y)| x.is_finite() && !y.is_nan())
        .map(|(&x, &y)| (x, y))
        .unzip();
    Platt::fit(&fu, &fq).ok()
}

/// Sorts by PRR descending, undefined PRR last; ties keep their order.
fn sort_by_prr(estimators: &mut [EstimatorSummary]) {
    estimators.sort_by(|a, b| {
        let key = |e: &EstimatorSummary| {
            if e.metrics.prr.is_nan() {
                f64::NEG_INFINITY
            } else {
                e.metrics.prr
            }
        };
        key(b).total_cmp(&key(a))
    });
}

/// A metric with three decimals, or `—` when undefined.
pub fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "—".into()
    }
}

/// A bootstrap interval as `[low, high]`, or `—`.
pub fn interval(i: Option<&hedge_core::Interval>) -> String {
    match i {
        Some(i) if i.low.is_finite() && i.high.is_finite() => {
            format!("[{:.3}, {:.3}]", i.low, i.high)
        }
        _ => "—".into(),
    }
}

/// The header and rows of the metric table, as text cells (shared by stdout and HTML).
pub fn table(s: &Summary) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let ci = s.options.resamples > 0;
    let mut head = vec!["estimator", "n", "PRR"];
    if ci {
        head.push("PRR 95% CI");
    }
    head.push("AUROC");
    if ci {
        head.push("AUROC 95% CI");
    }
    head.extend(["AUPRC", "PRR@50", "AURC", "AUARC", "ECE", "Brier", "κ from"]);
    let rows = s
        .estimators
        .iter()
        .map(|e| {
            let m = &e.metrics;
            let mut row = vec![e.name.clone(), m.n.to_string(), num(m.prr)];
            if ci {
                row.push(interval(m.prr_ci.as_ref()));
            }
            row.push(num(m.auroc));
            if ci {
                row.push(interval(m.auroc_ci.as_ref()));
            }
            row.extend(
                [m.auprc, m.prr_50, m.aurc, m.auarc, m.ece, m.brier]
                    .into_iter()
                    .map(num),
            );
            row.push(e.confidence.label().to_string());
            row
        })
        .collect();
    (head, rows)
}

/// The accuracy line above the table.
pub fn headline(s: &Summary) -> String {
    // Over the answers of the estimator that scored the most of them: an estimator that is
    // undefined on many answers (verbalized, when the model writes no number) would give the
    // accuracy of a subset.
    let acc = s
        .estimators
        .iter()
        .rev()
        .max_by_key(|e| e.metrics.n)
        .map_or(f64::NAN, |e| e.metrics.accuracy);
    format!(
        "{} answers, accuracy {} (correct = quality ≥ 0.5); higher PRR, AUROC, AUPRC, AUARC \
         are better, lower AURC, ECE, Brier",
        s.rows,
        num(acc)
    )
}

/// The table on a terminal, columns aligned, sorted by PRR.
pub fn write_table(out: &mut impl Write, s: &Summary) -> std::io::Result<()> {
    let (head, rows) = table(s);
    let width = |c: usize| {
        rows.iter()
            .map(|r| r[c].chars().count())
            .chain([head[c].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..head.len()).map(width).collect();
    writeln!(out, "{}", headline(s))?;
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let pad = widths[c] - cell.chars().count();
                if c == 0 || c == cells.len() - 1 {
                    format!("{cell}{}", " ".repeat(pad))
                } else {
                    format!("{}{cell}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(head.clone()))?;
    for r in &rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hedge_core::Scores;

    fn data() -> Scored {
        let mut d = Scored::default();
        // "good" ranks the two wrong answers last; "bad" ranks them first.
        for (g, b, q) in [
            (0.1, 0.9, 1.0),
            (0.2, 0.8, 1.0),
            (0.3, 0.1, 0.0),
            (0.4, 0.2, 0.0),
        ] {
            let s: Scores = [("bad", b), ("good", g)].into_iter().collect();
            d.push(&s, q);
        }
        d
    }

    #[test]
    fn sorted_by_prr_with_in_sample_platt() {
        let opts = SummaryOptions {
            resamples: 0,
            ..SummaryOptions::default()
        };
        let s = compute(&data(), &opts, None, Map::new()).unwrap();
        let names: Vec<&str> = s.estimators.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["good", "bad"]);
        assert_eq!(s.estimators[0].metrics.auroc, 1.0);
        assert_eq!(s.estimators[1].metrics.auroc, 0.0);
        assert_eq!(s.estimators[0].confidence, ConfidenceSource::PlattInSample);
        assert!(s.estimators[0].metrics.ece.is_finite());
        let mut out = Vec::new();
        write_table(&mut out, &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("4 answers, accuracy 0.500"), "{text}");
        assert!(
            lines[1].starts_with("estimator  n     PRR  AUROC"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("good       4   1.000  1.000"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("bad        4  -1.000  0.000"),
            "{text}"
        );
        assert!(lines[3].ends_with("Platt, in-sample"), "{text}");
        assert!(
            !text.contains("CI"),
            "no interval columns without bootstrap"
        );
    }

    #[test]
    fn headline_accuracy_is_over_every_answer() {
        // "sparse" scores three of the four answers, perfectly: it comes first by PRR, but the
        // accuracy line is over the four answers that "good" scored.
        let mut d = Scored::default();
        for (g, sp, q) in [
            (0.1, 0.1, 1.0),
            (0.3, f64::NAN, 1.0),
            (0.2, 0.3, 0.0),
            (0.4, 0.4, 0.0),
        ] {
            let s: Scores = [("good", g), ("sparse", sp)].into_iter().collect();
            d.push(&s, q);
        }
        let opts = SummaryOptions {
            resamples: 0,
            ..SummaryOptions::default()
        };
        let s = compute(&d, &opts, None, Map::new()).unwrap();
        assert_eq!(s.estimators[0].name, "sparse");
        assert_eq!(s.estimators[0].metrics.n, 3);
        let line = headline(&s);
        assert!(line.starts_with("4 answers, accuracy 0.500"), "{line}");
    }

    #[test]
    fn calibration_file_maps_are_used_where_present() {
        let file = CalibrationFile {
            method: hedge_core::CalibrationKind::Platt,
            fitted_on: "x".into(),
            rows: Default::default(),
            maps: [(
                "bad".to_string(),
                Calibration::Platt(Platt { a: 0.0, b: 0.0 }),
            )]
            .into(),
        };
        let s = compute(&data(), &SummaryOptions::default(), Some(&file), Map::new()).unwrap();
        let bad = s.estimators.iter().find(|e| e.name == "bad").unwrap();
        assert_eq!(bad.confidence, ConfidenceSource::CalibrationFile);
        // κ = 0.5 everywhere: Brier = 0.25
        assert!((bad.metrics.brier - 0.25).abs() < 1e-15);
        let good = s.estimators.iter().find(|e| e.name == "good").unwrap();
        assert_eq!(good.confidence, ConfidenceSource::PlattInSample);
        assert!(good.metrics.prr_ci.is_some());
    }
}
