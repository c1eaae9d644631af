//! `msp`: maximum sequence probability (Chow-Sum), −Σ_t log p_t (LM-Polygraph
//! `MaximumSequenceProbability`).

use super::{Estimator, Evidence};

/// −Σ_t log p_t. 0 on an empty answer (a sum over nothing).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Msp;

impl Estimator for Msp {
    fn name(&self) -> String {
        "msp".into()
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        // Subtract from +0.0 so that an empty answer gives +0, not −0.
        ev.tokens.iter().fold(0.0, |acc, t| acc - t.logprob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::tests::rec;

    #[test]
    fn by_hand() {
        #[rustfmt::skip]
        let table: [(&[f64], f64); 4] = [
            (&[], 0.0),
            (&[1.0], 0.0),
            (&[0.5], std::f64::consts::LN_2),
            (&[0.5, 0.5, 0.25], 4.0 * std::f64::consts::LN_2), // −ln(1/16)
        ];
        for (ps, want) in table {
            let tokens: Vec<_> = ps.iter().map(|&p| rec(p, 0.0, 0.0)).collect();
            let got = Msp.estimate(&Evidence::new(&tokens));
            assert!((got - want).abs() < 1e-12, "{ps:?}: {got} vs {want}");
            assert!(got.is_sign_positive(), "{ps:?}: {got}");
        }
    }
}
