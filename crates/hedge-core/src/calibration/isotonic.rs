//! Isotonic calibration: the non-increasing least-squares fit of correctness on u by
//! pool-adjacent-violators, interpolated between fitted points and clamped outside, as
//! `sklearn.isotonic.IsotonicRegression(increasing=False, out_of_bounds="clip")`.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::labels;
use crate::error::{CoreError, Result};

/// Fitted points (x, y): x strictly increasing, y non-increasing in [0, 1]. Between two
/// points κ is interpolated linearly; below the first x it is the first y, above the last
/// x the last y.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawIsotonic")]
pub struct Isotonic {
    x: Vec<f64>,
    y: Vec<f64>,
}

/// The serde shape of [`Isotonic`] before it is checked.
#[derive(Deserialize)]
struct RawIsotonic {
    x: Vec<f64>,
    y: Vec<f64>,
}

impl TryFrom<RawIsotonic> for Isotonic {
    type Error = CoreError;

    fn try_from(raw: RawIsotonic) -> Result<Isotonic> {
        Isotonic::new(raw.x, raw.y)
    }
}

impl Isotonic {
    /// A map through the points (x, y).
    ///
    /// # Errors
    /// [`CoreError::BadCalibration`] unless x and y have the same, non-zero length, x is
    /// finite and strictly increasing, and y is non-increasing in [0, 1].
    pub fn new(x: Vec<f64>, y: Vec<f64>) -> Result<Isotonic> {
        let bad = |reason: String| {
            Err(CoreError::BadCalibration {
                method: "isotonic",
                reason,
            })
        };
        if x.is_empty() || x.len() != y.len() {
            return bad(format!(
                "x and y must have the same non-zero length, not {} and {}",
                x.len(),
                y.len()
            ));
        }
        if x.iter().any(|v| !v.is_finite()) || x.windows(2).any(|w| w[0] >= w[1]) {
            return bad("x must be finite and strictly increasing".into());
        }
        if y.iter().any(|v| !(0.0..=1.0).contains(v)) || y.windows(2).any(|w| w[0] < w[1]) {
            return bad("y must lie in [0, 1] and not increase".into());
        }
        Ok(Isotonic { x, y })
    }

    /// The fitted points' x (uncertainties), strictly increasing.
    pub fn x(&self) -> &[f64] {
        &self.x
    }

    /// The fitted points' y (confidences), non-increasing.
    pub fn y(&self) -> &[f64] {
        &self.y
    }

    /// Fits c (correct when c ≥ 0.5) non-increasingly on u, as scikit-learn does: rows
    /// with equal u are first merged into one point weighted by their count (their mean
    /// c); pool-adjacent-violators then gives the weighted least-squares non-increasing
    /// fit; points inside a run of equal fitted values are dropped (they change no
    /// prediction). O(N log N).
    ///
    /// # Errors
    /// [`CoreError::LengthMismatch`] or [`CoreError::BadCalibration`] on unusable data.
    pub fn fit(u: &[f64], c: &[f64]) -> Result<Isotonic> {
        let y = labels("isotonic", u, c)?;
        let mut pairs: Vec<(f64, f64)> = u.iter().copied().zip(y).collect();
        pairs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
        // unique x with (Σy, count)
        let mut xs: Vec<f64> = Vec::new();
        let mut sums: Vec<(f64, f64)> = Vec::new();
        for (x, yi) in pairs {
            match (xs.last(), sums.last_mut()) {
                (Some(&last), Some(s)) if last == x => *s = (s.0 + yi, s.1 + 1.0),
                _ => {
                    xs.push(x);
                    sums.push((yi, 1.0));
                }
            }
        }
        // PAVA, non-increasing: a stack of blocks (Σ w·y, Σ w, number of points).
        let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(xs.len());
        for &(sy, w) in &sums {
            blocks.push((sy, w, 1));
            while blocks.len() >= 2 {
                let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
                if a.0 / a.1 >= b.0 / b.1 {
                    break;
                }
                blocks.pop();
                let last = blocks.len() - 1;
                blocks[last] = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
            }
        }
        let fitted: Vec<f64> = blocks
            .iter()
            .flat_map(|&(sy, w, k)| std::iter::repeat_n(sy / w, k))
            .collect();
        // keep the ends and every point where the fitted value changes on either side
        let m = fitted.len();
        let keep = |i: usize| {
            i == 0 || i + 1 == m || fitted[i] != fitted[i - 1] || fitted[i] != fitted[i + 1]
        };
        let (x, y) = (0..m)
            .filter(|&i| keep(i))
            .map(|i| (xs[i], fitted[i]))
            .unzip();
        Ok(Isotonic { x, y })
    }

    /// κ at uncertainty `u`: `numpy.interp(clip(u, x₀, x_last), x, y)`. NaN for NaN.
    pub fn apply(&self, u: f64) -> f64 {
        let (x, y) = (&self.x, &self.y);
        let last = x.len() - 1;
        if u.is_nan() {
            return f64::NAN;
        }
        if u <= x[0] {
            return y[0];
        }
        if u >= x[last] {
            return y[last];
        }
        // x[j] ≤ u < x[j + 1]
        let j = x.partition_point(|&v| v <= u) - 1;
        if u == x[j] {
            return y[j];
        }
        let slope = (y[j + 1] - y[j]) / (x[j + 1] - x[j]);
        slope * (u - x[j]) + y[j]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pava_by_hand() {
        // c = (1, 0, 1, 0) at u = 1..4: the middle violators pool to ½.
        let m = Isotonic::fit(&[1.0, 2.0, 3.0, 4.0], &[1.0, 0.0, 1.0, 0.0]).unwrap();
        assert_eq!(m.x(), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.y(), [1.0, 0.5, 0.5, 0.0]);
        #[rustfmt::skip]
        let table = [
            (0.0, 1.0), (1.0, 1.0), (1.5, 0.75), (2.0, 0.5), (2.5, 0.5), (3.5, 0.25),
            (4.0, 0.0), (9.0, 0.0),
        ];
        for (u, want) in table {
            assert_eq!(m.apply(u), want, "u = {u}");
        }
        assert!(m.apply(f64::NAN).is_nan());
    }

    #[test]
    fn ties_are_merged_and_flat_runs_dropped() {
        // u = 0 ×3 with c (1, 1, 0) → ⅔; u = 1, 2, 3 all wrong → 0, 0, 0 (a flat run:
        // the point at u = 2 is dropped); input order shuffled.
        let u = [2.0, 0.0, 3.0, 0.0, 1.0, 0.0];
        let c = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let m = Isotonic::fit(&u, &c).unwrap();
        assert_eq!(m.x(), [0.0, 1.0, 3.0]);
        assert_eq!(m.y(), [2.0 / 3.0, 0.0, 0.0]);
        assert_eq!(m.apply(0.5), 1.0 / 3.0);
        // increasing data pools to one constant, the mean
        let m = Isotonic::fit(&[1.0, 2.0, 3.0, 4.0], &[0.0, 0.0, 1.0, 1.0]).unwrap();
        assert_eq!(m.y(), [0.5, 0.5]);
        assert_eq!(m.apply(2.7), 0.5);
        // one point
        let m = Isotonic::fit(&[5.0], &[1.0]).unwrap();
        assert_eq!((m.apply(-1.0), m.apply(5.0), m.apply(7.0)), (1.0, 1.0, 1.0));
    }

    #[test]
    fn new_checks_the_points() {
        assert!(Isotonic::new(vec![0.0, 1.0], vec![1.0, 0.0]).is_ok());
        for (x, y) in [
            (vec![], vec![]),
            (vec![0.0], vec![0.5, 0.4]),
            (vec![0.0, 0.0], vec![0.5, 0.4]),
            (vec![0.0, f64::INFINITY], vec![0.5, 0.4]),
            (vec![0.0, 1.0], vec![0.4, 0.5]),
            (vec![0.0, 1.0], vec![1.5, 0.5]),
        ] {
            let e = Isotonic::new(x.clone(), y.clone()).unwrap_err();
            assert!(
                matches!(
                    e,
                    CoreError::BadCalibration {
                        method: "isotonic",
                        ..
                    }
                ),
                "{x:?} {y:?}"
            );
        }
    }
}
