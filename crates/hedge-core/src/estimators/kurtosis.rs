//! `mean_kurtosis`: −(1/L) Σ_t kurtosis_t; a peaked next-token distribution (high kurtosis)
//! is a confident one ("Visualizing Uncertainty in Translation").

use super::{mean, Estimator, Evidence};

/// −(1/L) Σ_t kurtosis_t. NaN on an empty answer, and NaN if some step had a uniform
/// distribution (whose kurtosis is NaN, as in scipy).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MeanKurtosis;

impl Estimator for MeanKurtosis {
    fn name(&self) -> String {
        "mean_kurtosis".into()
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        -mean(ev.tokens.iter().map(|t| t.kurtosis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::tests::rec;

    #[test]
    fn by_hand() {
        #[rustfmt::skip]
        let table: [(&[f64], f64); 3] = [
            (&[1.0, -0.5, 4.0], -1.5),
            (&[22.0 / 7.0], -22.0 / 7.0),
            (&[-2.0, 0.0], 1.0),
        ];
        for (ks, want) in table {
            let tokens: Vec<_> = ks.iter().map(|&k| rec(0.5, 0.0, k)).collect();
            let got = MeanKurtosis.estimate(&Evidence::new(&tokens));
            assert!((got - want).abs() < 1e-12, "{ks:?}: {got} vs {want}");
        }
        let uniform_step = [rec(0.5, 0.0, 3.0), rec(0.5, 0.0, f64::NAN)];
        assert!(MeanKurtosis
            .estimate(&Evidence::new(&uniform_step))
            .is_nan());
    }
}
