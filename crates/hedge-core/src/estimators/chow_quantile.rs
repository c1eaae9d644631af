//! `chow_quantile:α` (Language Model Cascades): −quantile_α({p_t}) with numpy's default
//! linear interpolation; α = 0 is the least likely token of the answer.

use super::{Estimator, Evidence};
use crate::error::{CoreError, Result};

/// −quantile_α of the token probabilities p_t = exp(logprob). NaN on an empty answer, and
/// NaN if some p_t is NaN (as `numpy.quantile`).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ChowQuantile {
    alpha: f64,
}

impl ChowQuantile {
    /// The estimator at quantile level `alpha` ∈ [0, 1].
    ///
    /// # Errors
    /// [`CoreError::BadParameter`] if `alpha` is outside [0, 1] or NaN.
    pub fn new(alpha: f64) -> Result<ChowQuantile> {
        if (0.0..=1.0).contains(&alpha) {
            // + 0.0 turns −0 into +0, so that the name reads `chow_quantile:0`.
            Ok(ChowQuantile { alpha: alpha + 0.0 })
        } else {
            Err(CoreError::BadParameter {
                estimator: "chow_quantile".into(),
                value: alpha.to_string(),
                reason: "α must be a number in [0, 1]".into(),
            })
        }
    }

    /// The quantile level α.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
}

impl Estimator for ChowQuantile {
    fn name(&self) -> String {
        format!("chow_quantile:{}", self.alpha)
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let mut p: Vec<f64> = ev.tokens.iter().map(|t| t.logprob.exp()).collect();
        if p.iter().any(|x| x.is_nan()) {
            return f64::NAN;
        }
        p.sort_unstable_by(f64::total_cmp);
        -quantile_sorted(&p, self.alpha)
    }
}

/// The α-quantile of `sorted` (ascending) with linear interpolation, the same arithmetic as
/// `numpy.quantile(x, α)` (method "linear"): index h = (n − 1)·α, and between the two
/// neighbours numpy's `_lerp`. NaN when `sorted` is empty; α is clamped to [0, 1].
pub fn quantile_sorted(sorted: &[f64], alpha: f64) -> f64 {
    let n = sorted.len();
    if n == 0 || alpha.is_nan() {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * alpha.clamp(0.0, 1.0);
    let lo = h.floor();
    let t = h - lo;
    // lo ≤ n − 1, a whole number: the cast is exact.
    let i = lo as usize;
    let a = sorted[i];
    let Some(&b) = sorted.get(i + 1) else {
        return a;
    };
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::tests::rec;

    /// Values from numpy 2.4.6:
    /// python -c "import numpy as np; p=np.array([0.9,0.05,0.6,0.33,0.71,0.999]); print([repr(np.quantile(p,a)) for a in [0,0.1,0.25,0.37,0.5,0.9,1]])"
    #[test]
    fn matches_numpy_quantile() {
        let ps = [0.9, 0.05, 0.6, 0.33, 0.71, 0.999];
        let tokens: Vec<_> = ps.iter().map(|&p| rec(p, 0.0, 0.0)).collect();
        #[rustfmt::skip]
        let table = [
            (0.0, 0.05), (0.1, 0.19), (0.25, 0.3975), (0.37, 0.5595),
            (0.5, 0.655), (0.9, 0.9495), (1.0, 0.999),
        ];
        for (alpha, q) in table {
            let got = ChowQuantile::new(alpha)
                .unwrap()
                .estimate(&Evidence::new(&tokens));
            // p = exp(ln p) is within an ulp or two of p
            assert!((got + q).abs() < 1e-12, "α = {alpha}: {got} vs −{q}");
        }
        let mut sorted = ps.to_vec();
        sorted.sort_by(f64::total_cmp);
        for (alpha, q) in table {
            assert_eq!(quantile_sorted(&sorted, alpha), q, "α = {alpha}");
        }
        // python -c "import numpy as np; print(np.quantile([0.5,0.25,0.8],0.1), np.quantile([0.42],0.3))"
        assert_eq!(quantile_sorted(&[0.25, 0.5, 0.8], 0.1), 0.3);
        assert_eq!(quantile_sorted(&[0.42], 0.3), 0.42);
        assert!(quantile_sorted(&[], 0.3).is_nan());
        // numpy's _lerp computes b − (b − a)(1 − t) when t ≥ 0.5; a + (b − a)t would give
        // 0.46707999999999994 here:
        // python -c "import numpy as np; print(repr(np.quantile([0.346,0.357,0.485,0.538],0.62)))"
        assert_eq!(
            quantile_sorted(&[0.346, 0.357, 0.485, 0.538], 0.62),
            0.46708
        );
    }

    #[test]
    fn alpha_is_checked() {
        for bad in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            let e = ChowQuantile::new(bad).unwrap_err();
            assert!(matches!(e, CoreError::BadParameter { .. }), "{e}");
            assert!(e.to_string().contains("[0, 1]"), "{e}");
        }
        assert_eq!(ChowQuantile::new(-0.0).unwrap().name(), "chow_quantile:0");
        assert_eq!(ChowQuantile::new(0.1).unwrap().name(), "chow_quantile:0.1");
        assert_eq!(ChowQuantile::new(1.0).unwrap().alpha(), 1.0);
    }

    #[test]
    fn nan_or_empty_gives_nan() {
        let c = ChowQuantile::new(0.5).unwrap();
        assert!(c.estimate(&Evidence::new(&[])).is_nan());
        assert!(c
            .estimate(&Evidence::new(&[
                rec(0.5, 0.0, 0.0),
                rec(f64::NAN, 0.0, 0.0)
            ]))
            .is_nan());
    }
}
