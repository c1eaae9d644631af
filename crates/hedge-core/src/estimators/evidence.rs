//! [`Evidence`]: everything an estimator may read about one answer — its tokens, the
//! sampled answers, their similarities, SAR token relevances and the model's answers to the
//! reflexive prompts — each part optional, so that the runner fills only what the requested
//! estimators [`Need`](super::Need).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::similarity::{Clusters, NliProbs, SimilarityMatrix};
use crate::token::TokenRecord;

/// What an estimator reads about one answer. Built by [`Evidence::new`] and the `with_*`
/// methods; a part left out is empty (`samples`) or `None`, and an estimator that needs it
/// returns NaN.
///
/// ```
/// use hedge_core::estimators::{Evidence, Sample};
/// use hedge_core::similarity::SimilarityMatrix;
///
/// let samples = vec![Sample::new("Paris", vec![-0.1]), Sample::new("Lyon", vec![-2.3])];
/// let w = SimilarityMatrix::identity(2);
/// let ev = Evidence::new(&[]).with_samples(&samples).with_similarity(&w);
/// assert_eq!(ev.samples.len(), 2);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Evidence<'a> {
    /// The per-step records of the answer (greedy or sampled), in order.
    pub tokens: &'a [TokenRecord],
    /// The m sampled answers s_1..s_m of METHODS §3 (empty: not drawn).
    pub samples: &'a [Sample],
    /// W of the samples from the chosen backend (METHODS §3), m×m.
    pub similarity: Option<&'a SimilarityMatrix>,
    /// NLI probabilities of the samples, given with the `nli` backend: equivalence classes
    /// then follow the NLI rule, and W defaults to [`NliProbs::agreement_w`].
    pub nli: Option<&'a NliProbs>,
    /// SAR relevance R_i = 1 − sim(x + s, x + s without token i) of each token of the answer
    /// (`token_sar`), computed by the runner with a similarity model.
    pub token_relevance: Option<&'a [f64]>,
    /// SAR relevance of each token of each sample (`sar`), one row per sample.
    pub sample_token_relevance: Option<&'a [Vec<f64>]>,
    /// The model's answers to the reflexive prompts (METHODS §4).
    pub reflexive: Option<&'a Reflexive>,
}

impl<'a> Evidence<'a> {
    /// Evidence made of the token records of one answer.
    pub fn new(tokens: &'a [TokenRecord]) -> Evidence<'a> {
        Evidence {
            tokens,
            ..Evidence::default()
        }
    }

    /// With the sampled answers.
    pub fn with_samples(mut self, samples: &'a [Sample]) -> Evidence<'a> {
        self.samples = samples;
        self
    }

    /// With W of the samples.
    pub fn with_similarity(mut self, w: &'a SimilarityMatrix) -> Evidence<'a> {
        self.similarity = Some(w);
        self
    }

    /// With the NLI probabilities of the samples (the `nli` backend).
    pub fn with_nli(mut self, nli: &'a NliProbs) -> Evidence<'a> {
        self.nli = Some(nli);
        self
    }

    /// With the SAR relevance of each token of the answer.
    pub fn with_token_relevance(mut self, relevance: &'a [f64]) -> Evidence<'a> {
        self.token_relevance = Some(relevance);
        self
    }

    /// With the SAR relevance of each token of each sample.
    pub fn with_sample_token_relevance(mut self, relevance: &'a [Vec<f64>]) -> Evidence<'a> {
        self.sample_token_relevance = Some(relevance);
        self
    }

    /// With the answers to the reflexive prompts.
    pub fn with_reflexive(mut self, reflexive: &'a Reflexive) -> Evidence<'a> {
        self.reflexive = Some(reflexive);
        self
    }

    /// W for the graph and SAR estimators: [`Evidence::similarity`] when given, else
    /// [`NliProbs::agreement_w`] of [`Evidence::nli`], else `None`.
    pub fn w(&self) -> Option<Cow<'a, SimilarityMatrix>> {
        match (self.similarity, self.nli) {
            (Some(w), _) => Some(Cow::Borrowed(w)),
            (None, Some(nli)) => Some(Cow::Owned(nli.agreement_w())),
            (None, None) => None,
        }
    }

    /// The semantic sets of the samples: by the NLI rule when [`Evidence::nli`] is given
    /// ([`Clusters::from_nli`]), else by W_ij ≥ τ on [`Evidence::similarity`]
    /// ([`Clusters::from_similarity`]), else `None`.
    pub fn clusters(&self, tau: f64) -> Option<Clusters> {
        match (self.nli, self.similarity) {
            (Some(nli), _) => Some(Clusters::from_nli(nli)),
            (None, Some(w)) => Some(Clusters::from_similarity(w, tau)),
            (None, None) => None,
        }
    }
}

/// One sampled answer s_j: its text and, from a white-box backend, the log-probability of
/// each of its tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The answer's text.
    pub text: String,
    /// log p of each generated token, in order; `None` when the backend gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_logprobs: Option<Vec<f64>>,
}

impl Sample {
    /// A sample with its per-token log-probabilities.
    pub fn new(text: impl Into<String>, token_logprobs: Vec<f64>) -> Sample {
        Sample {
            text: text.into(),
            token_logprobs: Some(token_logprobs),
        }
    }

    /// A sample whose log-probabilities are unknown (a black-box backend).
    pub fn text_only(text: impl Into<String>) -> Sample {
        Sample {
            text: text.into(),
            token_logprobs: None,
        }
    }

    /// A sample from the token records the engine kept of it.
    pub fn from_tokens(text: impl Into<String>, tokens: &[TokenRecord]) -> Sample {
        Sample::new(text, tokens.iter().map(|t| t.logprob).collect())
    }

    /// log p(s) = Σ_t log p_t; 0 for no token, NaN when the log-probabilities are unknown.
    pub fn logprob(&self) -> f64 {
        match &self.token_logprobs {
            Some(lp) => lp.iter().fold(0.0, |acc, x| acc + x),
            None => f64::NAN,
        }
    }

    /// The length-normalised log-probability ℓ(s) = (1/L) Σ_t log p_t (numpy's summation
    /// order, as `np.mean`); NaN for no token or unknown log-probabilities.
    pub fn mean_logprob(&self) -> f64 {
        match &self.token_logprobs {
            Some(lp) if !lp.is_empty() => super::np_sum(lp) / lp.len() as f64,
            _ => f64::NAN,
        }
    }
}

/// The model's answers to the reflexive prompts of METHODS §4, as log-probabilities read
/// from the next-token distribution (and the parsed verbalized confidence).
///
/// ```
/// use hedge_core::estimators::Reflexive;
/// let r = Reflexive::default().with_p_true(-0.2).with_sure(-0.5, -1.5);
/// assert_eq!(r.p_true_logprob, Some(-0.2));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Reflexive {
    /// log P(" True") as the next token after [`crate::prompts::p_true_prompt`] (`p_true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_true_logprob: Option<f64>,
    /// log P(" sure") after [`crate::prompts::r_tuning_prompt`] (`r_tuning_sure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sure_logprob: Option<f64>,
    /// log P(" unsure") after the same prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsure_logprob: Option<f64>,
    /// The confidence c ∈ [0, 100] the model wrote after
    /// [`crate::prompts::verbalized_prompt`], parsed by
    /// [`crate::prompts::parse_verbalized_confidence`] (`verbalized`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbalized_confidence: Option<f64>,
    /// The options of a multiple-choice question (`choice_risk`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<ChoiceMasses>,
}

impl Reflexive {
    /// With log P(" True").
    pub fn with_p_true(mut self, logprob: f64) -> Reflexive {
        self.p_true_logprob = Some(logprob);
        self
    }

    /// With log P(" sure") and log P(" unsure").
    pub fn with_sure(mut self, sure_logprob: f64, unsure_logprob: f64) -> Reflexive {
        self.sure_logprob = Some(sure_logprob);
        self.unsure_logprob = Some(unsure_logprob);
        self
    }

    /// With the parsed verbalized confidence c ∈ [0, 100].
    pub fn with_verbalized(mut self, confidence: f64) -> Reflexive {
        self.verbalized_confidence = Some(confidence);
        self
    }

    /// With the log-probability of each option letter and the index of the positive option.
    pub fn with_choice(mut self, option_logprobs: Vec<f64>, positive: usize) -> Reflexive {
        self.choice = Some(ChoiceMasses {
            option_logprobs,
            positive,
        });
        self
    }
}

/// The next-token masses of the option letters of a multiple-choice question (folktexts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceMasses {
    /// log P of each option's letter (the engine may sum the masses of spellings such as
    /// "A" and " A" first), in the order of the options.
    pub option_logprobs: Vec<f64>,
    /// The index of the positive option, whose renormalised mass is the risk score.
    pub positive: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_logprobs() {
        let s = Sample::new("a b", vec![-0.5, -1.0, -0.25]);
        assert_eq!(s.logprob(), -1.75);
        assert_eq!(s.mean_logprob(), -1.75 / 3.0);
        assert_eq!(Sample::new("", vec![]).logprob(), 0.0);
        assert!(Sample::new("", vec![]).mean_logprob().is_nan());
        assert!(Sample::text_only("x").logprob().is_nan());
        assert!(Sample::text_only("x").mean_logprob().is_nan());
        let json = serde_json::to_string(&Sample::text_only("x")).unwrap();
        assert_eq!(json, r#"{"text":"x"}"#);
        let back: Sample = serde_json::from_str(r#"{"text":"y","token_logprobs":[-1.0]}"#).unwrap();
        assert_eq!(back, Sample::new("y", vec![-1.0]));
    }

    #[test]
    fn w_and_clusters_prefer_what_was_given() {
        let nli = NliProbs::from_fn(2, |_, _| (0.9, 0.05));
        let w = SimilarityMatrix::identity(2);
        let ev = Evidence::new(&[]);
        assert!(ev.w().is_none() && ev.clusters(0.5).is_none());
        let ev = ev.with_nli(&nli);
        assert_eq!(ev.w().unwrap().get(0, 1), 0.9);
        assert_eq!(ev.clusters(0.5).unwrap().len(), 1);
        let ev = ev.with_similarity(&w);
        assert_eq!(ev.w().unwrap().get(0, 1), 0.0); // W as given
        assert_eq!(ev.clusters(0.5).unwrap().len(), 1); // NLI rule still decides
        let ev = Evidence::new(&[]).with_similarity(&w);
        assert_eq!(ev.clusters(0.5).unwrap().len(), 2);
    }
}
