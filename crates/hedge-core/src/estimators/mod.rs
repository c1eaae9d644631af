//! Uncertainty estimators of METHODS §2–4, behind one small trait.
//!
//! Every estimator returns an **uncertainty**: higher = less sure. Each reads the
//! [`Evidence`] of one answer and declares what it [`Need`]s, so that the runner draws
//! samples, builds similarity matrices and asks reflexive prompts only when a requested
//! estimator needs them, and once for all of them.
//!
//! - White-box (§2), from the answer's [`TokenRecord`]s: `msp`, `perplexity`,
//!   `mean_token_entropy`, `max_token_entropy`, `geo_mean_prob`, `arith_mean_prob`,
//!   `mean_kurtosis`, `chow_quantile`. On an empty answer (L = 0), `msp` is 0 (a sum over
//!   nothing) and every mean, maximum or quantile is NaN (serialised as `null` by [`Scores`]).
//! - Sampling-based (§3), from m sampled answers, their similarity matrix W and their
//!   semantic sets: `lexical_similarity`, `num_sets`, `eigv`, `ecc`, `deg`,
//!   `semantic_entropy`, `discrete_semantic_entropy`, `token_sar`, `sentence_sar`, `sar`.
//! - Reflexive (§4), from the model's answers to prompts about its own answer: `p_true`,
//!   `r_tuning_sure`, `verbalized`, `choice_risk`.
//!
//! **Missing evidence gives NaN, never a panic**: an estimator whose part of the
//! [`Evidence`] is absent, or inconsistent (a matrix whose size is not the number of
//! samples, relevances that do not match the tokens), returns NaN.

mod chow_quantile;
mod deg;
mod ecc;
mod eigv;
mod evidence;
mod kurtosis;
mod laplacian;
mod lexical_similarity;
mod mean_prob;
mod msp;
mod num_sets;
mod perplexity;
mod reflexive;
#[cfg(test)]
mod sampling_props;
mod sar;
mod semantic_entropy;
mod spec;
mod token_entropy;

pub use chow_quantile::{quantile_sorted, ChowQuantile};
pub use deg::Deg;
pub use ecc::Ecc;
pub use eigv::Eigv;
pub use evidence::{ChoiceMasses, Evidence, Reflexive, Sample};
pub use kurtosis::MeanKurtosis;
pub use lexical_similarity::LexicalSimilarity;
pub use mean_prob::{ArithMeanProb, GeoMeanProb};
pub use msp::Msp;
pub use num_sets::NumSets;
pub use perplexity::Perplexity;
pub use reflexive::{ChoiceRisk, PTrue, RTuningSure, Verbalized};
pub use sar::{token_sar, Sar, SentenceSar, TokenSar};
pub use semantic_entropy::{DiscreteSemanticEntropy, SemanticEntropy};
pub use spec::EstimatorSpec;
pub use token_entropy::{MaxTokenEntropy, MeanTokenEntropy};

use crate::scores::Scores;
use crate::token::TokenRecord;

/// The number of sampled answers m the runner draws for the sampling-based estimators
/// when the user does not say (METHODS §3).
pub const DEFAULT_NUM_SAMPLES: usize = 10;

/// What an estimator needs the runner to produce, so that samples are drawn only when some
/// requested estimator needs them, and once for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Need {
    /// The token records of one (greedy or sampled) answer: [`Evidence::tokens`].
    Tokens,
    /// m sampled answers (their texts): [`Evidence::samples`].
    Samples,
    /// The samples' per-token log-probabilities ([`Sample::token_logprobs`]), so a
    /// white-box backend.
    SampleLogprobs,
    /// W of the samples from the chosen similarity backend ([`Evidence::similarity`]); with
    /// the `nli` backend also the NLI probabilities ([`Evidence::nli`]), which decide the
    /// semantic sets.
    Similarity,
    /// SAR relevance of each token of the answer ([`Evidence::token_relevance`]).
    TokenRelevance,
    /// SAR relevance of each token of each sample ([`Evidence::sample_token_relevance`]).
    SampleTokenRelevance,
    /// log P(" True") after the `p_true` prompt ([`Reflexive::p_true_logprob`]).
    PTrueProb,
    /// log P(" sure") and log P(" unsure") after the R-Tuning suffix
    /// ([`Reflexive::sure_logprob`], [`Reflexive::unsure_logprob`]).
    SureProbs,
    /// The parsed answer to the verbalized-confidence prompt
    /// ([`Reflexive::verbalized_confidence`]).
    VerbalizedConfidence,
    /// The masses of a multiple-choice question's option letters ([`Reflexive::choice`]).
    OptionMasses,
}

/// An uncertainty estimator: higher = less sure.
pub trait Estimator: Send + Sync {
    /// The name as written on the command line and in [`Scores`], e.g. `msp` or
    /// `chow_quantile:0.1`.
    fn name(&self) -> String;

    /// What this estimator reads from [`Evidence`].
    fn needs(&self) -> &'static [Need] {
        &[Need::Tokens]
    }

    /// The uncertainty of the answer described by `ev`; NaN when the evidence it needs is
    /// missing.
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

/// Σ xs in numpy's order (`np.sum`, `np.mean`: pairwise summation, 8 running sums in blocks
/// of up to 128), so that the estimators ported from LM-Polygraph add up their terms as it
/// does. 0 when empty.
pub(crate) fn np_sum(xs: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = xs.len();
    if n < 8 {
        xs.iter().fold(0.0, |acc, x| acc + x)
    } else if n <= BLOCK {
        let mut r = [0.0; 8];
        r.copy_from_slice(&xs[..8]);
        let whole = n - n % 8;
        for chunk in xs[8..whole].chunks_exact(8) {
            for (acc, x) in r.iter_mut().zip(chunk) {
                *acc += x;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &xs[whole..] {
            res += x;
        }
        res
    } else {
        let half = (n / 2) - (n / 2) % 8;
        np_sum(&xs[..half]) + np_sum(&xs[half..])
    }
}

/// log Σ exp(xs), stable: max + log Σ exp(x − max). −inf when empty or all −inf; NaN if
/// some x is NaN.
pub(crate) fn logsumexp(xs: &[f64]) -> f64 {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if xs.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    if max.is_infinite() {
        return max;
    }
    max + xs.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
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
        assert!(built.iter().all(|e| e.needs() == [Need::Tokens]));
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
