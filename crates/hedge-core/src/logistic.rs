//! Multivariate logistic regression, P(y = 1 | x) = σ(w·z + b) on standardised features z,
//! fitted deterministically by Newton's method (IRLS) with an L2 penalty on w: the post-hoc
//! deferral rule of Language Model Cascades (METHODS §6) is one.
//!
//! ```
//! use hedge_core::logistic::LogisticRegression;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The label is 1 when the first feature is large; the second is noise.
//! let x = vec![vec![0.1, 5.0], vec![0.2, 1.0], vec![0.9, 4.0], vec![0.8, 2.0]];
//! let y = [0.0, 0.0, 1.0, 1.0];
//! let m = LogisticRegression::fit(&x, &y, 1.0)?;
//! assert!(m.predict(&[0.95, 3.0]) > 0.5 && m.predict(&[0.05, 3.0]) < 0.5);
//! # Ok(())
//! # }
//! ```

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::calibration::{sigmoid, softplus};
use crate::error::{CoreError, Result};

/// The default L2 penalty λ on the standardised weights, as scikit-learn's
/// `LogisticRegression()` (C = 1).
pub const DEFAULT_L2: f64 = 1.0;

/// A ridge on the intercept small enough to change no fit, large enough that data of one
/// class still has a finite intercept.
const INTERCEPT_RIDGE: f64 = 1e-9;

/// Newton steps at most.
const MAX_STEPS: usize = 200;

/// A fitted logistic regression. Predictions standardise x with the training rows' `mean`
/// and `scale` and return σ(weights·z + intercept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegression {
    /// Mean of each feature over the training rows.
    pub mean: Vec<f64>,
    /// Population standard deviation of each feature (1 for a constant feature).
    pub scale: Vec<f64>,
    /// Weights on the standardised features.
    pub weights: Vec<f64>,
    /// Intercept on the standardised features.
    pub intercept: f64,
    /// The L2 penalty λ it was fitted with.
    pub l2: f64,
}

impl LogisticRegression {
    /// Fits P(y = 1 | x) on rows `x` (one feature vector each, all of one length) and labels
    /// `y` (1 when y ≥ 0.5), minimising
    /// Σ_i [log(1 + e^{η_i}) − y_i η_i] + (λ/2)‖w‖², η_i = w·z_i + b,
    /// with z the features standardised to mean 0 and standard deviation 1 (a constant
    /// feature keeps weight 0). The intercept is not penalised (beyond a 1e-9 ridge that keeps
    /// one-class data finite). Newton steps with a backtracking line search run until a step
    /// moves no parameter by more than 1e-12 (relative), at most 200 steps: the same data
    /// give the same fit, bit for bit.
    ///
    /// # Errors
    /// [`CoreError::LengthMismatch`] when `x` and `y` differ in length;
    /// [`CoreError::BadCalibration`] on no rows, rows of different lengths, a non-finite
    /// feature, a NaN label, or λ negative or not finite.
    pub fn fit(x: &[Vec<f64>], y: &[f64], l2: f64) -> Result<LogisticRegression> {
        let d = check(x, y, l2)?;
        let n = x.len();
        let y: Vec<f64> = y
            .iter()
            .map(|&v| f64::from(u8::from(crate::metrics::is_correct(v))))
            .collect();
        let mut mean = vec![0.0; d];
        let mut scale = vec![1.0; d];
        for j in 0..d {
            mean[j] = x.iter().map(|r| r[j]).sum::<f64>() / n as f64;
            let var = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n as f64;
            if var > 0.0 {
                scale[j] = var.sqrt();
            }
        }
        // Design matrix with the intercept as the last column.
        let z = DMatrix::from_fn(n, d + 1, |i, j| {
            if j == d {
                1.0
            } else {
                (x[i][j] - mean[j]) / scale[j]
            }
        });
        let mut ridge = DVector::from_element(d + 1, l2);
        ridge[d] = INTERCEPT_RIDGE;
        let theta = newton(&z, &y, &ridge);
        Ok(LogisticRegression {
            mean,
            scale,
            weights: theta.rows(0, d).iter().copied().collect(),
            intercept: theta[d],
            l2,
        })
    }

    /// Number of features.
    pub fn features(&self) -> usize {
        self.weights.len()
    }

    /// The log-odds w·z + b of `x`; NaN when `x` has the wrong length or a NaN feature.
    pub fn logit(&self, x: &[f64]) -> f64 {
        if x.len() != self.weights.len() {
            return f64::NAN;
        }
        x.iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .zip(&self.weights)
            .fold(self.intercept, |acc, (((v, m), s), w)| {
                acc + w * (v - m) / s
            })
    }

    /// P(y = 1 | x) = σ(w·z + b); NaN when `x` has the wrong length or a NaN feature.
    pub fn predict(&self, x: &[f64]) -> f64 {
        sigmoid(self.logit(x))
    }

    /// The weights on the raw (unstandardised) features and the raw intercept:
    /// logit = Σ_j a_j x_j + c.
    pub fn raw_coefficients(&self) -> (Vec<f64>, f64) {
        let a: Vec<f64> = self
            .weights
            .iter()
            .zip(&self.scale)
            .map(|(w, s)| w / s)
            .collect();
        let c = self.intercept - a.iter().zip(&self.mean).map(|(a, m)| a * m).sum::<f64>();
        (a, c)
    }
}

/// Checks the data and returns the number of features.
fn check(x: &[Vec<f64>], y: &[f64], l2: f64) -> Result<usize> {
    let bad = |reason: String| CoreError::BadCalibration {
        method: "logistic regression",
        reason,
    };
    if x.len() != y.len() {
        return Err(CoreError::LengthMismatch {
            op: "logistic regression fit",
            left_name: "feature rows",
            left: x.len(),
            right_name: "labels",
            right: y.len(),
        });
    }
    if !(l2.is_finite() && l2 >= 0.0) {
        return Err(bad(format!("L2 penalty {l2}: must be a finite number ≥ 0")));
    }
    let Some(first) = x.first() else {
        return Err(bad("no data to fit on".into()));
    };
    let d = first.len();
    if d == 0 {
        return Err(bad("rows have no features".into()));
    }
    for (i, row) in x.iter().enumerate() {
        if row.len() != d {
            return Err(bad(format!(
                "row {i} has {} features, row 0 has {d}",
                row.len()
            )));
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("feature {j} of row {i} is {}", row[j])));
        }
    }
    if let Some(i) = y.iter().position(|v| v.is_nan()) {
        return Err(bad(format!("label at row {i} is NaN")));
    }
    Ok(d)
}

/// The penalised negative log-likelihood at θ.
fn loss(z: &DMatrix<f64>, y: &[f64], ridge: &DVector<f64>, theta: &DVector<f64>) -> f64 {
    let eta = z * theta;
    let data: f64 = eta
        .iter()
        .zip(y)
        .map(|(&e, &yi)| softplus(e) - yi * e)
        .sum();
    data + 0.5 * theta.iter().zip(ridge).map(|(t, r)| r * t * t).sum::<f64>()
}

/// Minimises [`loss`] from θ = 0 by Newton steps with Armijo backtracking.
fn newton(z: &DMatrix<f64>, y: &[f64], ridge: &DVector<f64>) -> DVector<f64> {
    let k = z.ncols();
    let mut theta = DVector::zeros(k);
    let mut current = loss(z, y, ridge, &theta);
    for _ in 0..MAX_STEPS {
        let eta = z * &theta;
        let p: Vec<f64> = eta.iter().map(|&e| sigmoid(e)).collect();
        let resid = DVector::from_iterator(y.len(), p.iter().zip(y).map(|(p, y)| p - y));
        let grad = z.transpose() * resid + ridge.component_mul(&theta);
        let mut hess = DMatrix::from_diagonal(ridge);
        for (i, &pi) in p.iter().enumerate() {
            let w = pi * (1.0 - pi);
            let row = z.row(i);
            hess += w * row.transpose() * row;
        }
        let step = match hess.clone().cholesky() {
            Some(ch) => ch.solve(&grad),
            // Not positive definite in floating point: a diagonal (scaled gradient) step.
            None => grad.component_div(&hess.diagonal().map(|h| h.max(1e-12))),
        };
        let slope = grad.dot(&step);
        // Slack for rounding: near the optimum a Newton step changes the loss by less than
        // its last bit and must still be taken.
        let slack = 1e-12 * current.abs().max(1.0);
        let mut t = 1.0;
        let mut next = loss(z, y, ridge, &(&theta - t * &step));
        while next > current - 1e-4 * t * slope + slack {
            t *= 0.5;
            if t < 1e-12 {
                return theta; // no decrease at this precision
            }
            next = loss(z, y, ridge, &(&theta - t * &step));
        }
        theta -= t * &step;
        current = next;
        let moved = (t * &step).amax();
        if moved < 1e-12 * (1.0 + theta.amax()) {
            break;
        }
    }
    theta
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// n rows of `true_w.len()` standard-normal-ish features (sums of uniforms), labelled by
    /// a draw from σ(true_w·x + true_b); seeded.
    fn synthetic(n: usize, true_w: &[f64], true_b: f64, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Vec::with_capacity(n);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let row: Vec<f64> = true_w
                .iter()
                .map(|_| (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0)
                .collect();
            let eta = true_b + row.iter().zip(true_w).map(|(a, b)| a * b).sum::<f64>();
            y.push(f64::from(u8::from(rng.random::<f64>() < sigmoid(eta))));
            x.push(row);
        }
        (x, y)
    }

    #[test]
    fn one_feature_two_groups_in_closed_form() {
        // x = 0: 3 of 4 positive → σ(c) = ¾, c = ln 3; x = 1: 1 of 4 → σ(a + c) = ¼, a = −2 ln 3
        // (the same data as Platt's closed-form test), without penalty.
        let x: Vec<Vec<f64>> = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
            .iter()
            .map(|&v| vec![v])
            .collect();
        let y = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let m = LogisticRegression::fit(&x, &y, 0.0).unwrap();
        let (a, c) = m.raw_coefficients();
        let ln3 = 3f64.ln();
        assert!((a[0] + 2.0 * ln3).abs() < 1e-8, "{a:?}");
        assert!((c - ln3).abs() < 1e-8, "{c}");
        assert!((m.predict(&[0.0]) - 0.75).abs() < 1e-8);
        assert!((m.predict(&[1.0]) - 0.25).abs() < 1e-8);
        // the penalty shrinks the slope towards 0
        let shrunk = LogisticRegression::fit(&x, &y, 1.0).unwrap();
        assert!(
            shrunk.weights[0] < 0.0 && shrunk.weights[0] > m.weights[0],
            "{shrunk:?}"
        );
    }

    #[test]
    fn recovers_the_weights_and_the_ordering_of_synthetic_data() {
        let true_w = [2.0, -1.0, 0.0];
        let (x, y) = synthetic(4000, &true_w, 0.5, 7);
        let m = LogisticRegression::fit(&x, &y, DEFAULT_L2).unwrap();
        let (a, c) = m.raw_coefficients();
        for (got, want) in a.iter().zip(true_w) {
            assert!((got - want).abs() < 0.2, "{a:?} vs {true_w:?}");
        }
        assert!((c - 0.5).abs() < 0.2, "{c}");
        // Fresh data: the fitted probabilities rank rows as the true model does.
        let (tx, _) = synthetic(200, &true_w, 0.5, 8);
        let truth: Vec<f64> = tx
            .iter()
            .map(|r| r.iter().zip(true_w).map(|(a, b)| a * b).sum())
            .collect();
        let fitted: Vec<f64> = tx.iter().map(|r| m.predict(r)).collect();
        let mut concordant = 0usize;
        let mut pairs = 0usize;
        for i in 0..tx.len() {
            for j in 0..i {
                pairs += 1;
                if (truth[i] - truth[j]) * (fitted[i] - fitted[j]) > 0.0 {
                    concordant += 1;
                }
            }
        }
        assert!(
            concordant as f64 / pairs as f64 > 0.97,
            "{concordant}/{pairs}"
        );
        // Deterministic: the same data give the same fit, bit for bit.
        assert_eq!(LogisticRegression::fit(&x, &y, DEFAULT_L2).unwrap(), m);
    }

    #[test]
    fn the_gradient_vanishes_at_the_fit() {
        let (x, y) = synthetic(300, &[1.0, 0.5, -2.0, 0.0], -0.3, 3);
        let m = LogisticRegression::fit(&x, &y, 2.0).unwrap();
        let d = m.features();
        let mut grad = vec![0.0; d + 1];
        for (row, &yi) in x.iter().zip(&y) {
            let r = m.predict(row) - yi;
            for j in 0..d {
                grad[j] += r * (row[j] - m.mean[j]) / m.scale[j];
            }
            grad[d] += r;
        }
        for (g, w) in grad.iter_mut().zip(&m.weights) {
            *g += 2.0 * w;
        }
        grad[d] += INTERCEPT_RIDGE * m.intercept;
        assert!(grad.iter().all(|g| g.abs() < 1e-8), "{grad:?}");
    }

    #[test]
    fn standardisation_makes_the_fit_scale_free() {
        let (x, y) = synthetic(500, &[1.5, -0.5], 0.0, 11);
        let m = LogisticRegression::fit(&x, &y, DEFAULT_L2).unwrap();
        let scaled: Vec<Vec<f64>> = x.iter().map(|r| vec![100.0 * r[0] + 7.0, r[1]]).collect();
        let ms = LogisticRegression::fit(&scaled, &y, DEFAULT_L2).unwrap();
        for (r, s) in x.iter().zip(&scaled) {
            assert!((m.predict(r) - ms.predict(s)).abs() < 1e-9);
        }
    }

    #[test]
    fn separable_constant_and_one_class_data_give_finite_fits() {
        // separable on feature 0; feature 1 constant
        let x = vec![
            vec![0.1, 3.0],
            vec![0.2, 3.0],
            vec![0.3, 3.0],
            vec![0.7, 3.0],
            vec![0.8, 3.0],
        ];
        let m = LogisticRegression::fit(&x, &[0.0, 0.0, 0.0, 1.0, 1.0], 0.1).unwrap();
        assert!(m.weights.iter().all(|w| w.is_finite()) && m.intercept.is_finite());
        assert_eq!(m.weights[1], 0.0, "a constant feature keeps weight 0");
        assert!(m.predict(&[0.9, 3.0]) > 0.9 && m.predict(&[0.0, 3.0]) < 0.1);
        let one = LogisticRegression::fit(&x, &[1.0; 5], 1.0).unwrap();
        assert!(one.intercept.is_finite() && one.predict(&[0.5, 3.0]) > 0.999);
        // a row of the wrong length or with NaN predicts NaN
        assert!(m.predict(&[0.5]).is_nan() && m.predict(&[f64::NAN, 3.0]).is_nan());
    }

    #[test]
    fn bad_data_is_refused_with_the_reason() {
        let e = LogisticRegression::fit(&[vec![1.0]], &[1.0, 0.0], 1.0).unwrap_err();
        assert!(matches!(e, CoreError::LengthMismatch { .. }), "{e}");
        for (x, y, l2, want) in [
            (vec![], vec![], 1.0, "no data"),
            (vec![vec![]], vec![1.0], 1.0, "no features"),
            (
                vec![vec![1.0], vec![1.0, 2.0]],
                vec![1.0, 0.0],
                1.0,
                "row 1 has 2",
            ),
            (
                vec![vec![f64::INFINITY]],
                vec![1.0],
                1.0,
                "feature 0 of row 0 is inf",
            ),
            (
                vec![vec![1.0]],
                vec![f64::NAN],
                1.0,
                "label at row 0 is NaN",
            ),
            (vec![vec![1.0]], vec![1.0], -1.0, "L2 penalty -1"),
        ] {
            let e = LogisticRegression::fit(&x, &y, l2).unwrap_err();
            assert!(e.to_string().contains(want), "{e} (wanted {want})");
        }
    }

    #[test]
    fn json_round_trip() {
        let (x, y) = synthetic(50, &[1.0], 0.0, 1);
        let m = LogisticRegression::fit(&x, &y, 1.0).unwrap();
        let back: LogisticRegression =
            serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
