//! White-box uncertainty estimators of METHODS §2, behind one small trait.
//!
//! Every estimator returns an **uncertainty**: higher = less sure. Each reads the
//! [`Evidence`] of one answer; the ones here read only its [`TokenRecord`]s.
//! On an empty answer (L = 0), `msp` is 0 (a sum over nothing) and every mean, maximum or
//! quantile is NaN (serialised as `null` by [`Scores`]).

mod chow_quantile;
mod kurtosis;
mod mean_prob;
mod msp;
mod perplexity;
mod spec;
mod token_entropy;

pub use chow_quantile::{quantile_sorted, ChowQuantile};
pub use kurtosis::MeanKurtosis;
pub use mean_prob::{ArithMeanProb, GeoMeanProb};
pub use msp::Msp;
pub use perplexity::Perplexity;
pub use spec::EstimatorSpec;
pub use token_entropy::{MaxTokenEntropy, MeanTokenEntropy};

use crate::scores::Scores;
use crate::token::TokenRecord;

/// What an estimator reads about one answer.
///
/// Later estimators (sampling-based) need more than the tokens; they will add fields here,
/// so build it with [`Evidence::new`] rather than a struct literal.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Evidence<'a> {
    /// The per-step records of the answer, in order.
    pub tokens: &'a [TokenRecord],
}

impl<'a> Evidence<'a> {
    /// Evidence made of the token records of one answer.
    pub fn new(tokens: &'a [TokenRecord]) -> Evidence<'a> {
        Evidence { tokens }
    }
}

/// What an estimator needs the runner to produce, so that samples are drawn only when some
/// requested estimator needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Need {
    /// The token records of one (greedy or sampled) answer.
    Tokens,
}

/// An uncertainty estimator: higher = less sure.
pub trait Estimator: Send + Sync {
    /// The name as written on the command line and in [`Scores`], e.g. `msp` or
    /// `chow_quantile:0.1`.
    fn name(&self) -> String;

    /// What this estimator reads from [`Evidence`].
    fn needs(&self) -> Need {
        Need::Tokens
    }

    /// The uncertainty of the answer described by `ev`.
    fn estimate(&self, ev: &Evidence) -> f64;
}

/// Scores one answer's `tokens` with each of `specs`, in order.
pub fn score_all(specs: &[EstimatorSpec], tokens: &[TokenRecord]) -> Scores {
    let ev = Evidence::new(tokens);
    specs
        .iter()
        .map(|spec| {
            let est = spec.build();
            (est.name(), est.estimate(&ev))
        })
        .collect()
}

/// Scores `ev` with estimators already built (build once, score many answers).
pub fn score_with(estimators: &[Box<dyn Estimator>], ev: &Evidence) -> Scores {
    estimators
        .iter()
        .map(|est| (est.name(), est.estimate(ev)))
        .collect()
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record carrying only what the sequence estimators read.
    pub(crate) fn rec(p: f64, entropy: f64, kurtosis: f64) -> TokenRecord {
        TokenRecord {
            id: 0,
            text: String::new(),
            logprob: p.ln(),
            entropy,
            margin: 0.0,
            kurtosis,
            top: Vec::new(),
        }
    }

    /// The 3-token answer worked by hand throughout: p = (0.5, 0.25, 0.8),
    /// H = (0.3, 1.2, 0.6), kurtosis = (1, −0.5, 4).
    pub(crate) fn three() -> Vec<TokenRecord> {
        vec![rec(0.5, 0.3, 1.0), rec(0.25, 1.2, -0.5), rec(0.8, 0.6, 4.0)]
    }

    #[test]
    fn every_estimator_by_hand_on_three_tokens() {
        let ln10 = 10f64.ln();
        // Σ log p = ln(0.5 · 0.25 · 0.8) = ln 0.1 = −ln 10
        #[rustfmt::skip]
        let table = [
            ("msp", ln10),
            ("perplexity", ln10 / 3.0),
            ("mean_token_entropy", 0.7),
            ("max_token_entropy", 1.2),
            ("geo_mean_prob", 1.0 - 0.1f64.powf(1.0 / 3.0)),
            ("arith_mean_prob", 1.0 - 1.55 / 3.0),
            ("mean_kurtosis", -1.5),
            ("chow_quantile:0", -0.25),
            ("chow_quantile:0.1", -0.3), // sorted (0.25, 0.5, 0.8): 0.25 + 0.2 · 0.25
            ("chow_quantile:0.5", -0.5),
            ("chow_quantile:1", -0.8),
        ];
        let tokens = three();
        for (name, want) in table {
            let spec: EstimatorSpec = name.parse().unwrap();
            let got = spec.build().estimate(&Evidence::new(&tokens));
            assert!((got - want).abs() < 1e-12, "{name}: got {got}, want {want}");
        }
    }

    #[test]
    fn empty_answer_is_zero_for_msp_and_nan_otherwise() {
        for spec in EstimatorSpec::whitebox_all() {
            let got = spec.build().estimate(&Evidence::new(&[]));
            if spec == EstimatorSpec::Msp {
                assert_eq!(got.to_bits(), 0.0f64.to_bits(), "msp of nothing is +0");
            } else {
                assert!(got.is_nan(), "{spec}: {got}");
            }
        }
    }

    #[test]
    fn more_confident_tokens_mean_less_uncertainty() {
        // Raising every p_t and lowering every H_t lowers every token-based uncertainty.
        let sure = vec![rec(0.9, 0.1, 9.0), rec(0.8, 0.2, 8.0)];
        let unsure = vec![rec(0.6, 0.9, 2.0), rec(0.3, 1.5, 1.0)];
        for spec in EstimatorSpec::whitebox_all() {
            let est = spec.build();
            let (a, b) = (
                est.estimate(&Evidence::new(&sure)),
                est.estimate(&Evidence::new(&unsure)),
            );
            assert!(a < b, "{spec}: sure {a} ≥ unsure {b}");
        }
    }

    #[test]
    fn score_all_keeps_order_and_names() {
        let specs = EstimatorSpec::parse_list("perplexity,msp,chow_quantile:0.1").unwrap();
        let scores = score_all(&specs, &three());
        let names: Vec<&str> = scores.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["perplexity", "msp", "chow_quantile:0.1"]);
        assert!((scores.get("msp").unwrap() - 10f64.ln()).abs() < 1e-12);
        let built: Vec<Box<dyn Estimator>> = specs.iter().map(EstimatorSpec::build).collect();
        assert_eq!(score_with(&built, &Evidence::new(&three())), scores);
        assert!(built.iter().all(|e| e.needs() == Need::Tokens));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn answer() -> impl Strategy<Value = Vec<TokenRecord>> {
            let step =
                (1e-6f64..=1.0, 0.0f64..12.0, -2.0f64..1e4).prop_map(|(p, h, k)| rec(p, h, k));
            prop::collection::vec(step, 1..40)
        }

        proptest! {
            #[test]
            fn ranges(tokens in answer()) {
                let ev = Evidence::new(&tokens);
                let s = |name: &str| name.parse::<EstimatorSpec>().unwrap().build().estimate(&ev);
                prop_assert!(s("msp") >= 0.0);
                prop_assert!(s("perplexity") >= 0.0);
                prop_assert!(s("msp") >= s("perplexity") - 1e-12); // Σ ≥ mean of non-negatives
                prop_assert!((0.0..=1.0).contains(&s("geo_mean_prob")));
                prop_assert!((0.0..=1.0).contains(&s("arith_mean_prob")));
                // AM ≥ GM, so 1 − AM ≤ 1 − GM
                prop_assert!(s("arith_mean_prob") <= s("geo_mean_prob") + 1e-12);
                prop_assert!(s("max_token_entropy") >= s("mean_token_entropy") - 1e-12);
                // quantiles are monotone in α and lie in [−max p, −min p]
                let q0 = s("chow_quantile:0");
                let q1 = s("chow_quantile:0.1");
                let q5 = s("chow_quantile:0.5");
                let qmax = s("chow_quantile:1");
                prop_assert!(q0 >= q1 && q1 >= q5 && q5 >= qmax);
                prop_assert!((-1.0..=0.0).contains(&q0) && (-1.0..=0.0).contains(&qmax));
            }
        }
    }
}
