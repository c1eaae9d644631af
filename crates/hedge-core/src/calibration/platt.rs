//! Platt scaling: κ = σ(a·u + b), a logistic regression of correctness on u fitted by
//! Newton's method (IRLS), with a tiny ridge so that separable data still has a finite fit.

use serde::{Deserialize, Serialize};

use super::{labels, sigmoid};
use crate::error::Result;

/// The ridge λ/2·(α² + β²) on the coefficients of the standardised problem. Small enough
/// to move a non-separable fit by ~λ/N relative (far below 1e-6), large enough to give
/// separable or one-class data a finite, steep fit.
const RIDGE: f64 = 1e-9;

/// κ = σ(a·u + b). Usually a < 0: more uncertainty, less confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    /// Slope on u.
    pub a: f64,
    /// Intercept.
    pub b: f64,
}

impl Platt {
    /// The maximum-likelihood logistic regression of c (correct when c ≥ 0.5) on u, as
    /// `sklearn.linear_model.LogisticRegression(penalty=None)` on the column u, plus the
    /// tiny ridge. No target smoothing (Platt's (N₊ + 1)/(N₊ + 2) is not applied).
    ///
    /// Internally u is standardised (z = (u − mean)/sd; sd = 1 if all u are equal), the
    /// penalised log-likelihood is maximised over (α, β) by Newton steps with a
    /// backtracking line search until a step moves the parameters by < 1e-13 (at most 200
    /// steps), and the fit is mapped back to a = α/sd, b = β − α·mean/sd.
    ///
    /// # Errors
    /// [`CoreError::LengthMismatch`](crate::CoreError::LengthMismatch) or
    /// [`CoreError::BadCalibration`](crate::CoreError::BadCalibration) on unusable data.
    pub fn fit(u: &[f64], c: &[f64]) -> Result<Platt> {
        let y = labels("platt", u, c)?;
        let n = u.len() as f64;
        let mean = u.iter().sum::<f64>() / n;
        let var = u.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
        let z: Vec<f64> = u.iter().map(|x| (x - mean) / sd).collect();

        let loss = |al: f64, be: f64| -> f64 {
            let data: f64 = z
                .iter()
                .zip(&y)
                .map(|(&zi, &yi)| softplus(al * zi + be) - yi * (al * zi + be))
                .sum();
            data + 0.5 * RIDGE * (al * al + be * be)
        };
        let (mut al, mut be) = (0.0f64, 0.0f64);
        let mut current = loss(al, be);
        for _ in 0..200 {
            // gradient g and Hessian H of the penalised negative log-likelihood
            let (mut g0, mut g1, mut h00, mut h01, mut h11) =
                (RIDGE * al, RIDGE * be, RIDGE, 0.0, RIDGE);
            for (&zi, &yi) in z.iter().zip(&y) {
                let p = sigmoid(al * zi + be);
                let w = p * (1.0 - p);
                g0 += (p - yi) * zi;
                g1 += p - yi;
                h00 += w * zi * zi;
                h01 += w * zi;
                h11 += w;
            }
            let det = h00 * h11 - h01 * h01;
            let (d0, d1) = if det > 0.0 && det.is_finite() {
                ((h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det)
            } else {
                (g0 / h00, g1 / h11) // diagonal fallback
            };
            let slope = g0 * d0 + g1 * d1; // > 0: −d is a descent direction
                                           // Armijo backtracking, with slack for rounding: near the optimum a Newton step
                                           // changes the loss by less than its last bit and must still be taken.
            let slack = 1e-12 * current.abs().max(1.0);
            let mut t = 1.0;
            let mut next = loss(al - d0, be - d1);
            while next > current - 1e-4 * t * slope + slack {
                t *= 0.5;
                if t < 1e-12 {
                    break;
                }
                next = loss(al - t * d0, be - t * d1);
            }
            if t < 1e-12 {
                break; // no decrease possible at this precision
            }
            al -= t * d0;
            be -= t * d1;
            current = next;
            if (t * d0).abs().max((t * d1).abs()) < 1e-13 * (1.0 + al.abs().max(be.abs())) {
                break;
            }
        }
        Ok(Platt {
            a: al / sd,
            b: be - al * mean / sd,
        })
    }

    /// κ = σ(a·u + b).
    pub fn apply(&self, u: f64) -> f64 {
        sigmoid(self.a * u + self.b)
    }
}

/// ln(1 + eˣ) without overflow.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_two_groups() {
        // u = 0: 3 right, 1 wrong → σ(b) = ¾, b = ln 3;
        // u = 1: 1 right, 3 wrong → σ(a + b) = ¼, a = −2 ln 3.
        let u = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let c = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let m = Platt::fit(&u, &c).unwrap();
        let ln3 = 3f64.ln();
        assert!((m.a + 2.0 * ln3).abs() < 1e-8, "{m:?}");
        assert!((m.b - ln3).abs() < 1e-8, "{m:?}");
        assert!((m.apply(0.0) - 0.75).abs() < 1e-8);
        // shifting and scaling u moves a, b but not the fitted κ
        let u2: Vec<f64> = u.iter().map(|x| 100.0 + 5.0 * x).collect();
        let m2 = Platt::fit(&u2, &c).unwrap();
        assert!((m2.apply(105.0) - 0.25).abs() < 1e-8, "{m2:?}");
    }

    #[test]
    fn separable_and_one_class_data_give_finite_fits() {
        // separable: right below 0.5, wrong above
        let u = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9];
        let c = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let m = Platt::fit(&u, &c).unwrap();
        assert!(m.a.is_finite() && m.b.is_finite() && m.a < -10.0, "{m:?}");
        assert!(m.apply(0.1) > 0.99 && m.apply(0.9) < 0.01, "{m:?}");
        assert!((m.apply(0.5) - 0.5).abs() < 1e-6, "symmetric data: {m:?}");
        // one class: κ → 1, finite
        let m = Platt::fit(&[0.1, 0.5, 0.9], &[1.0, 1.0, 1.0]).unwrap();
        assert!(m.b.is_finite() && m.apply(0.5) > 0.999, "{m:?}");
        // all u equal: κ = the accuracy, a = 0
        let m = Platt::fit(&[2.0; 4], &[1.0, 0.0, 0.0, 0.0]).unwrap();
        assert!(
            m.a.abs() < 1e-9 && (m.apply(2.0) - 0.25).abs() < 1e-8,
            "{m:?}"
        );
    }

    #[test]
    fn softplus_is_stable() {
        assert_eq!(softplus(1000.0), 1000.0);
        assert_eq!(softplus(-1000.0), 0.0);
        assert!((softplus(0.0) - std::f64::consts::LN_2).abs() < 1e-16);
    }
}
