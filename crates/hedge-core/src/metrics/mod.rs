//! Evaluation metrics of METHODS §5: how well an uncertainty u predicts correctness c or
//! quality q, how well a confidence κ is calibrated, and how honestly a model abstains.
//!
//! Conventions shared by every metric here:
//! - `u` is an uncertainty (higher = less sure); `c` is a correctness, read as *correct*
//!   when c ≥ 0.5 (so 0/1 labels as f64 work as they are); `q` is a quality in [0, 1]
//!   (a 0/1 correctness is a quality too); `kappa` is a confidence in [0, 1].
//! - Sorting by u is ascending and **stable** (ties keep their input order), as METHODS §5
//!   asks for PRR; AURC, AUARC and the risk–coverage curve use the same order.
//! - Degenerate inputs give NaN, never a panic: an empty input, inputs of different
//!   lengths, a NaN anywhere in the inputs, and the metric-specific cases each function
//!   names (AUROC with no wrong or no right answer, …). [`MetricSet`] drops rows with a NaN
//!   before it computes anything and says how many it dropped.
//! - Every metric is O(N log N) (one sort) or O(N).
//!
//! ```
//! use hedge_core::metrics::{auroc, prr};
//!
//! // Four answers; the two wrong ones (c = 0) have the highest uncertainty.
//! let u = [0.1, 0.9, 0.3, 0.7];
//! let c = [1.0, 0.0, 1.0, 0.0];
//! assert_eq!(auroc(&u, &c), 1.0);
//! assert!((prr(&u, &c) - 1.0).abs() < 1e-12); // the oracle's ranking
//! ```

mod auprc;
mod aurc;
mod auroc;
mod bootstrap;
mod calibration_error;
mod honesty;
#[cfg(test)]
mod properties;
mod prr;
mod scoring_rules;
mod summary;

pub use auprc::auprc;
pub use aurc::{auarc, aurc, risk_coverage, RiskCoverage};
pub use auroc::auroc;
pub use bootstrap::{bootstrap, bootstrap_level, Interval, DEFAULT_RESAMPLES};
pub use calibration_error::{ece, mce, reliability, Binning, ReliabilityBin, DEFAULT_BINS};
pub use honesty::{honesty, over_conservativeness, prudence, Honesty};
pub use prr::{normalize_quality, prr, prr_50, prr_at};
pub use scoring_rules::{brier, nll, NLL_CLIP};
pub use summary::{MetricSet, SummaryOptions};

use std::cmp::Ordering;

/// A correctness c counts as *correct* when c ≥ this.
pub const CORRECT_AT: f64 = 0.5;

/// Whether correctness `c` counts as correct (c ≥ [`CORRECT_AT`]).
pub fn is_correct(c: f64) -> bool {
    c >= CORRECT_AT
}

/// The inputs of a two-column metric are usable: same length, not empty, no NaN.
fn usable(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && !a.is_empty() && !a.iter().chain(b).any(|x| x.is_nan())
}

/// `(u, v)` pairs sorted by u ascending, stable. `u` must hold no NaN (checked by the
/// callers with [`usable`]), so `partial_cmp` is total; −0 and +0 compare equal, as in
/// numpy's sorts.
fn sorted_by_u(u: &[f64], v: &[f64]) -> Vec<(f64, f64)> {
    let mut pairs: Vec<(f64, f64)> = u.iter().copied().zip(v.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    pairs
}

/// Mean of `xs`; NaN when empty.
fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// Serde for an `f64` that may be NaN: written as `null` when not finite (as
/// [`Scores`](crate::Scores) does), and `null` read back as NaN.
pub(crate) mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        x.is_finite().then_some(*x).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Exact equality that also holds for NaN = NaN.
    pub(crate) fn same(a: f64, b: f64) -> bool {
        a == b || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn helpers() {
        assert!(is_correct(1.0) && is_correct(0.5) && !is_correct(0.0) && !is_correct(0.49));
        assert!(usable(&[1.0], &[0.0]));
        assert!(!usable(&[], &[]));
        assert!(!usable(&[1.0, 2.0], &[0.0]));
        assert!(!usable(&[1.0], &[f64::NAN]));
        // Stable: equal u (including −0 and +0) keep their input order.
        let s = sorted_by_u(&[2.0, 0.0, -0.0, 1.0, 0.0], &[0.0, 1.0, 2.0, 3.0, 4.0]);
        let v: Vec<f64> = s.iter().map(|p| p.1).collect();
        assert_eq!(v, [1.0, 2.0, 4.0, 3.0, 0.0]);
        assert!(mean(std::iter::empty()).is_nan());
    }
}
