//! `mean_token_entropy` ((1/L) Σ_t H_t, LM-Polygraph `MeanTokenEntropy`) and
//! `max_token_entropy` (max_t H_t).

use super::{mean, Estimator, Evidence};

/// (1/L) Σ_t H_t. NaN on an empty answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MeanTokenEntropy;

impl Estimator for MeanTokenEntropy {
    fn name(&self) -> String {
        "mean_token_entropy".into()
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        mean(ev.tokens.iter().map(|t| t.entropy))
    }
}

/// max_t H_t. NaN on an empty answer, and NaN if any H_t is NaN (as `numpy.max`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MaxTokenEntropy;

impl Estimator for MaxTokenEntropy {
    fn name(&self) -> String {
        "max_token_entropy".into()
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let mut it = ev.tokens.iter().map(|t| t.entropy);
        let Some(first) = it.next() else {
            return f64::NAN;
        };
        // f64::max ignores NaN; numpy propagates it, and so does hedge.
        it.fold(first, |m, h| {
            if m.is_nan() || h.is_nan() {
                f64::NAN
            } else {
                m.max(h)
            }
        })
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
            // entropies, mean, max
            (&[0.0], 0.0, 0.0),
            (&[0.3, 1.2, 0.6], 0.7, 1.2),
            (&[2.0, 0.5], 1.25, 2.0),
            (&[0.1, f64::NAN, 0.2], f64::NAN, f64::NAN),
        ];
        for (hs, want_mean, want_max) in table {
            let tokens: Vec<_> = hs.iter().map(|&h| rec(0.5, h, 0.0)).collect();
            let ev = Evidence::new(&tokens);
            for (got, want) in [
                (MeanTokenEntropy.estimate(&ev), want_mean),
                (MaxTokenEntropy.estimate(&ev), want_max),
            ] {
                assert!(
                    (got - want).abs() < 1e-12 || (got.is_nan() && want.is_nan()),
                    "{hs:?}: {got} vs {want}"
                );
            }
        }
        assert!(MaxTokenEntropy.estimate(&Evidence::new(&[])).is_nan());
        assert!(MeanTokenEntropy.estimate(&Evidence::new(&[])).is_nan());
    }
}
