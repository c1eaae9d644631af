//! `geo_mean_prob` (1 − exp((1/L) Σ_t log p_t)) and `arith_mean_prob` (1 − (1/L) Σ_t p_t),
//! from "Visualizing Uncertainty in Translation".

use super::{mean, Estimator, Evidence};

/// 1 − geometric mean of p_t = 1 − exp((1/L) Σ_t log p_t). NaN on an empty answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GeoMeanProb;

impl Estimator for GeoMeanProb {
    fn name(&self) -> String {
        "geo_mean_prob".into()
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        1.0 - mean(ev.tokens.iter().map(|t| t.logprob)).exp()
    }
}

/// 1 − arithmetic mean of p_t = 1 − (1/L) Σ_t p_t. NaN on an empty answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ArithMeanProb;

impl Estimator for ArithMeanProb {
    fn name(&self) -> String {
        "arith_mean_prob".into()
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        1.0 - mean(ev.tokens.iter().map(|t| t.logprob.exp()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::tests::rec;

    #[test]
    fn by_hand() {
        #[rustfmt::skip]
        let table: [(&[f64], f64, f64); 4] = [
            // p_t, geo, arith
            (&[1.0], 0.0, 0.0),
            (&[0.25, 1.0], 0.5, 0.375),       // √0.25 = 0.5; (0.25 + 1)/2
            (&[0.5, 0.25, 0.8], 1.0 - 0.1f64.cbrt(), 1.0 - 1.55 / 3.0),
            (&[0.0, 0.9], 1.0, 0.55),         // log 0 = −inf: geometric mean 0
        ];
        for (ps, geo, arith) in table {
            let tokens: Vec<_> = ps.iter().map(|&p| rec(p, 0.0, 0.0)).collect();
            let ev = Evidence::new(&tokens);
            let (g, a) = (GeoMeanProb.estimate(&ev), ArithMeanProb.estimate(&ev));
            assert!((g - geo).abs() < 1e-12, "geo {ps:?}: {g} vs {geo}");
            assert!((a - arith).abs() < 1e-12, "arith {ps:?}: {a} vs {arith}");
        }
    }
}
