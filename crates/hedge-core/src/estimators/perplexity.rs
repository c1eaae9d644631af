//! `perplexity` (Chow-Average): −(1/L) Σ_t log p_t, LM-Polygraph `Perplexity` (the log of
//! the usual perplexity).

use super::{mean, Estimator, Evidence};

/// −(1/L) Σ_t log p_t. NaN on an empty answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Perplexity;

impl Estimator for Perplexity {
    fn name(&self) -> String {
        "perplexity".into()
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        -mean(ev.tokens.iter().map(|t| t.logprob))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::tests::rec;

    #[test]
    fn by_hand() {
        let ln2 = std::f64::consts::LN_2;
        #[rustfmt::skip]
        let table: [(&[f64], f64); 3] = [
            (&[1.0], 0.0),
            (&[0.5, 0.25], 1.5 * ln2),
            (&[0.5, 0.5, 0.25, 1.0], ln2),
        ];
        for (ps, want) in table {
            let tokens: Vec<_> = ps.iter().map(|&p| rec(p, 0.0, 0.0)).collect();
            let got = Perplexity.estimate(&Evidence::new(&tokens));
            assert!((got - want).abs() < 1e-12, "{ps:?}: {got} vs {want}");
        }
        assert!(Perplexity.estimate(&Evidence::new(&[])).is_nan());
    }
}
