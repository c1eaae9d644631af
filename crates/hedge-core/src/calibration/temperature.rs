//! Temperature scaling: one T > 0 dividing the logits, fitted to minimise the NLL of
//! softmax(logits/T) by a bisection search on log T.

use serde::{Deserialize, Serialize};

use super::{labels, sigmoid};
use crate::error::{CoreError, Result};

/// The search range of T: [1e-3, 1e3]. A fit that wants a T outside returns the bound.
pub const T_RANGE: (f64, f64) = (1e-3, 1e3);

/// Logits are divided by `t` before the softmax.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTemperature")]
pub struct Temperature {
    t: f64,
}

#[derive(Deserialize)]
struct RawTemperature {
    t: f64,
}

impl TryFrom<RawTemperature> for Temperature {
    type Error = CoreError;

    fn try_from(raw: RawTemperature) -> Result<Temperature> {
        Temperature::new(raw.t)
    }
}

impl Temperature {
    /// Temperature `t`.
    ///
    /// # Errors
    /// [`CoreError::BadCalibration`] unless `t` is finite and > 0.
    pub fn new(t: f64) -> Result<Temperature> {
        if t.is_finite() && t > 0.0 {
            Ok(Temperature { t })
        } else {
            Err(CoreError::BadCalibration {
                method: "temperature",
                reason: format!("T must be a finite number > 0, not {t}"),
            })
        }
    }

    /// The temperature T.
    pub fn t(&self) -> f64 {
        self.t
    }

    /// The T in [`T_RANGE`] minimising −mean log softmax(z_i/T)\[label_i\] over the rows
    /// `logits` (one row of class logits per example, rows may differ in length).
    ///
    /// The NLL is convex in β = 1/T, so its slope in β changes sign once; a bisection on
    /// log T on the sign of that slope (computed in closed form) finds the optimum to
    /// machine precision. (A search on NLL values alone stops at ~√ε ≈ 1e-8 relative.)
    ///
    /// # Errors
    /// [`CoreError::LengthMismatch`] when `labels` does not have one entry per row;
    /// [`CoreError::BadCalibration`] when there is no row, a logit is not finite, or a
    /// label does not index its row.
    pub fn fit<R: AsRef<[f64]>>(logits: &[R], labels: &[usize]) -> Result<Temperature> {
        if logits.len() != labels.len() {
            return Err(CoreError::LengthMismatch {
                op: "temperature",
                left_name: "logit rows",
                left: logits.len(),
                right_name: "labels",
                right: labels.len(),
            });
        }
        let bad = |reason: String| {
            Err(CoreError::BadCalibration {
                method: "temperature",
                reason,
            })
        };
        if logits.is_empty() {
            return bad("no data to fit on".into());
        }
        for (i, (row, &label)) in logits.iter().zip(labels).enumerate() {
            let row = row.as_ref();
            if label >= row.len() {
                return bad(format!(
                    "label {label} of row {i} is out of range for {} logits",
                    row.len()
                ));
            }
            if row.iter().any(|z| !z.is_finite()) {
                return bad(format!("row {i} has a logit that is not finite"));
            }
        }
        // d NLL / dβ at β = 1/T: Σ_i (E_{softmax(β z_i)}[z] − z_{i, label}). NLL is convex
        // in β, so this rises with β and falls with log T.
        let slope = |log_t: f64| {
            let beta = (-log_t).exp();
            logits
                .iter()
                .zip(labels)
                .map(|(row, &label)| {
                    let row = row.as_ref();
                    let max = row.iter().fold(f64::NEG_INFINITY, |m, &z| m.max(z));
                    // Σ_v p_v (z_v − z_label): no cancellation when p is nearly one-hot.
                    let (mut s, mut sz) = (0.0, 0.0);
                    for &z in row {
                        let e = (beta * (z - max)).exp();
                        s += e;
                        sz += e * (z - row[label]);
                    }
                    sz / s
                })
                .sum::<f64>()
        };
        let (mut lo, mut hi) = (T_RANGE.0.ln(), T_RANGE.1.ln());
        for _ in 0..200 {
            let mid = (lo + hi) / 2.0;
            if mid <= lo || mid >= hi {
                break;
            }
            if slope(mid) < 0.0 {
                hi = mid; // NLL still falls as β grows: the optimum has a smaller T
            } else {
                lo = mid;
            }
        }
        Temperature::new(((lo + hi) / 2.0).exp())
    }

    /// Temperature scaling of a scalar score: u is read as the negative logit of being
    /// correct, the two-class case with logits (−u, 0) and label "correct" when c ≥ 0.5;
    /// then κ = σ(−u/T) ([`apply`](Self::apply)).
    ///
    /// # Errors
    /// As [`fit`](Self::fit), and [`CoreError::BadCalibration`] for a non-finite u.
    pub fn fit_scores(u: &[f64], c: &[f64]) -> Result<Temperature> {
        let y = labels("temperature", u, c)?;
        let rows: Vec<[f64; 2]> = u.iter().map(|&x| [-x, 0.0]).collect();
        let classes: Vec<usize> = y.iter().map(|&yi| usize::from(yi == 0.0)).collect();
        Temperature::fit(&rows, &classes)
    }

    /// κ = σ(−u/T): the confidence of a score fitted with [`fit_scores`](Self::fit_scores).
    pub fn apply(&self, u: f64) -> f64 {
        sigmoid(-u / self.t)
    }

    /// softmax(logits/T). Empty in, empty out.
    pub fn probs(&self, logits: &[f64]) -> Vec<f64> {
        let max = logits.iter().fold(f64::NEG_INFINITY, |m, &z| m.max(z));
        let e: Vec<f64> = logits.iter().map(|&z| ((z - max) / self.t).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|x| x / s).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form() {
        // The same logits (1, 0) four times, class 0 three times: the fit makes
        // softmax = (¾, ¼), i.e. 1/T = ln 3.
        let rows = [[1.0, 0.0]; 4];
        let t = Temperature::fit(&rows, &[0, 0, 0, 1]).unwrap();
        assert!((t.t() - 1.0 / 3f64.ln()).abs() < 1e-12, "{t:?}");
        let p = t.probs(&[1.0, 0.0]);
        assert!((p[0] - 0.75).abs() < 1e-8 && (p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        // the scalar form: u = −1 is logit 1
        let t2 = Temperature::fit_scores(&[-1.0; 4], &[1.0, 1.0, 1.0, 0.0]).unwrap();
        assert!((t2.t() - t.t()).abs() < 1e-8 && (t2.apply(-1.0) - 0.75).abs() < 1e-8);
    }

    #[test]
    fn overconfident_logits_get_t_above_one() {
        // Three classes; the top logit is right 60 % of the time but softmax says ~0.98.
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for i in 0..100 {
            rows.push(vec![5.0, 1.0, 0.0]);
            labels.push(if i % 10 < 6 { 0 } else { 1 + i % 2 });
        }
        let t = Temperature::fit(&rows, &labels).unwrap();
        assert!(t.t() > 1.0, "{t:?}");
        // at the optimum the NLL is no better one step either side
        let nll = |t: f64| -> f64 {
            let m = Temperature::new(t).unwrap();
            rows.iter()
                .zip(&labels)
                .map(|(r, &l)| -m.probs(r)[l].ln())
                .sum()
        };
        assert!(nll(t.t()) <= nll(t.t() * 1.001) && nll(t.t()) <= nll(t.t() / 1.001));
        // perfectly separable: T falls until p underflows to one-hot (e^(−1/T) < 1e-308)
        let t = Temperature::fit(&[[1.0, 0.0]], &[0]).unwrap();
        assert!(t.t() < 2e-3, "{t:?}");
    }

    #[test]
    fn errors() {
        assert!(Temperature::new(0.0).is_err() && Temperature::new(f64::NAN).is_err());
        let e = Temperature::fit(&[[1.0, 0.0]], &[2]).unwrap_err();
        assert!(e.to_string().contains("label 2 of row 0"), "{e}");
        let e = Temperature::fit(&[[1.0, f64::NAN]], &[0]).unwrap_err();
        assert!(e.to_string().contains("not finite"), "{e}");
        let e = Temperature::fit::<[f64; 2]>(&[], &[]).unwrap_err();
        assert!(e.to_string().contains("no data"), "{e}");
        let e = Temperature::fit(&[[1.0, 0.0]], &[]).unwrap_err();
        assert!(matches!(e, CoreError::LengthMismatch { .. }), "{e}");
    }
}
