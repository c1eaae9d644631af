//! The runner of the sampling-based and reflexive estimators (METHODS §3–4): given a backend,
//! the request that produced an answer, and the estimators asked for, it gathers exactly the
//! evidence their [`Need`]s ask for, once for all of them — m sampled answers (one prefill and
//! a forked cache on a local model, one request for n choices on a server), their similarity
//! matrix, SAR token relevances, and the model's answers to the reflexive prompts — into a
//! serialisable [`GatheredEvidence`] that turns back into the [`hedge_core::Evidence`] the
//! estimators read.
//!
//! ```
//! use hedge_core::{score_with, EstimatorSpec, SimilarityKind};
//! use hedge_engine::uncertainty::{EvidenceRunner, GatherOptions, Plan, SimilarityBackend};
//! use hedge_engine::{Backend, GenerationRequest, LocalModel};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let config = r#"{"model_type": "llama", "vocab_size": 320, "hidden_size": 32,
//!     "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}"#;
//! hedge_engine::write_random_model(config, dir.path(), 0)?;
//! let model = LocalModel::load(dir.path().to_str().unwrap(), &candle_core::Device::Cpu)?;
//!
//! let mut req = GenerationRequest::new("The capital of France is");
//! req.sampling.max_tokens = 4;
//! let answer = model.generate(&req)?;
//!
//! let specs = EstimatorSpec::parse_list("msp,semantic_entropy,eigv,token_sar")?;
//! let similarity = SimilarityBackend::load(SimilarityKind::Jaccard, None)?;
//! let options = GatherOptions { samples: 4, ..GatherOptions::default() };
//! let runner = EvidenceRunner::new(&model, &similarity, options);
//! let gathered = runner.gather(&req, &req.prompt, None, &answer, &Plan::of(&specs))?;
//! assert_eq!(gathered.samples.len(), 4);
//! assert_eq!(gathered.similarity.as_ref().map(|w| w.len()), Some(4));
//!
//! let estimators: Vec<_> = specs.iter().map(EstimatorSpec::build).collect();
//! let scores = score_with(&estimators, &gathered.evidence(&answer.tokens));
//! assert!(scores.get("eigv").unwrap().is_finite());
//! # Ok(())
//! # }
//! ```

mod evidence;
mod reflexive;
mod relevance;
mod similarity;

use hedge_core::estimators::DEFAULT_NUM_SAMPLES;
use hedge_core::prompts::MultipleChoice;
use hedge_core::{EstimatorSpec, Need, Reflexive};

pub use evidence::GatheredEvidence;
pub use relevance::{join_prompt, token_relevances};
pub use similarity::{SimilarityBackend, DEFAULT_EMBEDDING_MODEL, DEFAULT_NLI_MODEL};

use crate::error::{EngineError, Result};
use crate::generation::{Backend, Generation, GenerationRequest, TokenStats};

/// How the extra samples are drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct GatherOptions {
    /// m, the number of sampled answers (METHODS §3: 10).
    pub samples: usize,
    /// Their sampling temperature (1: the model's own distribution). No top-k or top-p.
    pub temperature: f64,
    /// The seed their stream is derived from ([`samples_seed`]): the same seed gives the same
    /// samples, and they never share the stream of an answer sampled with the same seed.
    pub seed: u64,
}

impl Default for GatherOptions {
    fn default() -> GatherOptions {
        GatherOptions {
            samples: DEFAULT_NUM_SAMPLES,
            temperature: 1.0,
            seed: 0,
        }
    }
}

/// The seed of the samples drawn for an answer made with `seed`: a SplitMix64 step of
/// `seed` xor a constant, so that answer and samples use unrelated streams.
pub fn samples_seed(seed: u64) -> u64 {
    const SALT: u64 = 0x7361_6d70_6c65_7321; // "samples!"
    let mut z = (seed ^ SALT).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What to gather for a list of estimators: the union of their [`Need`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plan {
    /// m sampled answers.
    pub samples: bool,
    /// W of the samples (and the NLI probabilities with the `nli` backend).
    pub similarity: bool,
    /// SAR relevance of the answer's tokens.
    pub token_relevance: bool,
    /// SAR relevance of every sample's tokens.
    pub sample_token_relevance: bool,
    /// log P(" True") after the p_true prompt.
    pub p_true: bool,
    /// log P(" sure"), log P(" unsure") after the R-Tuning prompt.
    pub sure: bool,
    /// The verbalized confidence.
    pub verbalized: bool,
    /// The masses of a multiple-choice question's option letters (`choice_risk`; only for a
    /// question that comes with options).
    pub choice: bool,
}

impl Plan {
    /// The evidence `specs` need (`Need::Tokens` gathers nothing).
    pub fn of(specs: &[EstimatorSpec]) -> Plan {
        let mut p = Plan::default();
        for spec in specs {
            for need in spec.build().needs() {
                match need {
                    Need::Samples | Need::SampleLogprobs => p.samples = true,
                    Need::Similarity => {
                        p.samples = true;
                        p.similarity = true;
                    }
                    Need::TokenRelevance => p.token_relevance = true,
                    Need::SampleTokenRelevance => {
                        p.samples = true;
                        p.sample_token_relevance = true;
                    }
                    Need::PTrueProb => p.p_true = true,
                    Need::SureProbs => p.sure = true,
                    Need::VerbalizedConfidence => p.verbalized = true,
                    Need::OptionMasses => p.choice = true,
                    _ => {}
                }
            }
        }
        p
    }

    /// Whether nothing beyond the answer's tokens is needed.
    pub fn is_empty(&self) -> bool {
        *self == Plan::default()
    }

    /// Whether the similarity backend runs (for W or for SAR relevances), so that a backend
    /// with a model is loaded only then.
    pub fn uses_similarity(&self) -> bool {
        self.similarity || self.token_relevance || self.sample_token_relevance
    }
}

/// Whether `spec` reads log-probabilities (of the answer's tokens, the samples' tokens, or the
/// next token after a reflexive prompt), so that it can only be dropped when a server sends
/// none.
pub fn needs_logprobs(spec: &EstimatorSpec) -> bool {
    spec.build().needs().iter().any(|n| {
        matches!(
            n,
            Need::Tokens
                | Need::SampleLogprobs
                | Need::TokenRelevance
                | Need::SampleTokenRelevance
                | Need::PTrueProb
                | Need::SureProbs
                | Need::OptionMasses
        )
    })
}

/// A step of [`EvidenceRunner::gather_with_progress`], for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Drawing the m samples.
    Samples,
    /// The similarity matrix of the samples.
    Similarity,
    /// SAR token relevances.
    Relevance,
    /// The reflexive prompts.
    Reflexive,
}

impl Stage {
    /// A word for a progress bar.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Samples => "sampling",
            Stage::Similarity => "similarity",
            Stage::Relevance => "relevance",
            Stage::Reflexive => "reflexive",
        }
    }
}

/// Gathers the evidence of answers from one backend with one similarity backend.
#[derive(Debug)]
pub struct EvidenceRunner<'m, B: Backend + ?Sized> {
    backend: &'m B,
    similarity: &'m SimilarityBackend,
    options: GatherOptions,
}

impl<'m, B: Backend + ?Sized> EvidenceRunner<'m, B> {
    pub fn new(
        backend: &'m B,
        similarity: &'m SimilarityBackend,
        options: GatherOptions,
    ) -> EvidenceRunner<'m, B> {
        EvidenceRunner {
            backend,
            similarity,
            options,
        }
    }

    /// The options the samples are drawn with.
    pub fn options(&self) -> &GatherOptions {
        &self.options
    }

    /// The request the samples of `req` are drawn with: the same prompt, chat flag, length and
    /// stops, at [`GatherOptions::temperature`] without top-k or top-p, seeded with
    /// [`samples_seed`] of [`GatherOptions::seed`].
    pub fn samples_request(&self, req: &GenerationRequest) -> GenerationRequest {
        let mut r = req.clone();
        r.sampling.temperature = self.options.temperature;
        r.sampling.top_k = None;
        r.sampling.top_p = None;
        r.sampling.seed = samples_seed(self.options.seed);
        r
    }

    /// The evidence `plan` asks for about `answer`, the answer to `req`. `question` is x of
    /// METHODS §3–4, the question as the user wrote it (the prompt without a template around it):
    /// the reflexive prompts quote it, and NLI and SAR compare x + s. `choice`, the question's
    /// options when it is a multiple-choice one, is what `choice_risk` asks about (without it
    /// `choice_risk` has nothing to read).
    ///
    /// # Errors
    /// When the backend or the similarity model fails, or `samples` is 0 while samples are
    /// needed.
    pub fn gather(
        &self,
        req: &GenerationRequest,
        question: &str,
        choice: Option<&MultipleChoice>,
        answer: &Generation,
        plan: &Plan,
    ) -> Result<GatheredEvidence> {
        self.gather_with_progress(req, question, choice, answer, plan, &mut |_| {})
    }

    /// [`EvidenceRunner::gather`], calling `progress` as each stage starts.
    ///
    /// # Errors
    /// As [`EvidenceRunner::gather`].
    pub fn gather_with_progress(
        &self,
        req: &GenerationRequest,
        question: &str,
        choice: Option<&MultipleChoice>,
        answer: &Generation,
        plan: &Plan,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<GatheredEvidence> {
        let mut out = GatheredEvidence::default();
        let mut stats = TokenStats::Full;
        let mut samples: Vec<Generation> = Vec::new();
        if plan.samples {
            if self.options.samples == 0 {
                return Err(EngineError::InvalidParam {
                    name: "samples",
                    value: "0".into(),
                    allowed: "at least 1 sample for the sampling-based estimators",
                });
            }
            progress(Stage::Samples);
            samples = self
                .backend
                .generate_n(&self.samples_request(req), self.options.samples)?;
            for g in &samples {
                stats = reflexive::worse(stats, g.token_stats);
            }
            out.samples = samples
                .iter()
                .map(|g| {
                    if g.has_logprobs() {
                        hedge_core::Sample::from_tokens(g.text.clone(), &g.tokens)
                    } else {
                        hedge_core::Sample::text_only(g.text.clone())
                    }
                })
                .collect();
        }
        if plan.similarity {
            progress(Stage::Similarity);
            let texts: Vec<String> = match self.similarity {
                // METHODS §3: NLI reads (x + s_i, x + s_j).
                SimilarityBackend::Nli(_) => samples
                    .iter()
                    .map(|g| join_prompt(question, &g.text))
                    .collect(),
                _ => samples.iter().map(|g| g.text.clone()).collect(),
            };
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let (w, nli) = self.similarity.matrix(&refs)?;
            out.similarity_backend = Some(self.similarity.kind());
            out.similarity = Some(w);
            out.nli = nli;
        }
        if plan.token_relevance || plan.sample_token_relevance {
            progress(Stage::Relevance);
            let mut answers: Vec<&Generation> = Vec::new();
            if plan.token_relevance {
                answers.push(answer);
            }
            if plan.sample_token_relevance {
                answers.extend(samples.iter());
            }
            let pieces: Vec<Vec<&str>> = answers
                .iter()
                .map(|g| g.tokens.iter().map(|t| t.text.as_str()).collect())
                .collect();
            let mut rel = token_relevances(self.similarity, question, &pieces)?.into_iter();
            if plan.token_relevance {
                out.token_relevance = rel.next();
            }
            if plan.sample_token_relevance {
                out.sample_token_relevance = Some(rel.collect());
            }
            out.similarity_backend = Some(self.similarity.kind());
        }
        let choice = choice.filter(|_| plan.choice);
        if plan.p_true || plan.sure || plan.verbalized || choice.is_some() {
            progress(Stage::Reflexive);
            let (r, s): (Reflexive, TokenStats) =
                reflexive::ask(self.backend, req.chat, question, choice, &answer.text, plan)?;
            stats = reflexive::worse(stats, s);
            out.reflexive = Some(r);
        }
        out.stats = stats;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_follow_needs() {
        let plan = |s: &str| Plan::of(&EstimatorSpec::parse_list(s).unwrap());
        assert!(plan("all").is_empty());
        let p = plan("lexical_similarity");
        assert!(p.samples && !p.similarity && !p.uses_similarity());
        let p = plan("eigv");
        assert!(p.samples && p.similarity && !p.token_relevance);
        let p = plan("token_sar");
        assert!(!p.samples && p.token_relevance && p.uses_similarity());
        let p = plan("sar");
        assert!(p.samples && p.similarity && p.sample_token_relevance && !p.token_relevance);
        let p = plan("reflexive");
        assert!(p.p_true && p.sure && p.verbalized && !p.samples);
        let drop: Vec<String> = EstimatorSpec::parse_list("all,sampling,reflexive")
            .unwrap()
            .into_iter()
            .filter(|s| !needs_logprobs(s))
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            drop,
            [
                "lexical_similarity",
                "num_sets",
                "eigv",
                "ecc",
                "deg",
                "discrete_semantic_entropy",
                "verbalized"
            ]
        );
    }

    #[test]
    fn samples_seed_is_a_fixed_unrelated_stream() {
        assert_eq!(samples_seed(0), samples_seed(0));
        assert_ne!(samples_seed(0), samples_seed(1));
        assert_ne!(samples_seed(0), 0);
    }
}
