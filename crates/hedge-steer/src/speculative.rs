//! Lossless speculative decoding (Leviathan et al. 2023; Chen et al. 2023; METHODS §6): a small
//! draft model proposes γ tokens, the target scores them all in one forward pass over γ + 1
//! positions and keeps each with probability min(1, p/q), writing a token from
//! norm(max(0, p − q)) at the first rejection or a bonus token from p when all are kept.
//! The answers follow the target's distribution exactly; greedy answers are the target's own,
//! token for token.
//!
//! [`Speculative`] is a [`Backend`], so every command that generates can use it. Its
//! [`TokenRecord`](hedge_core::TokenRecord)s are the target's statistics at each written token,
//! read from the verify pass's logits (the target is never run twice), so every estimator
//! gives what the target alone gives.
//!
//! ```no_run
//! use hedge_engine::{Backend, GenerationRequest, LocalModel};
//! use hedge_steer::speculative::{DraftLength, Speculative};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cpu = candle_core::Device::Cpu;
//! let target = LocalModel::load("models/lab/lab-l-chat", &cpu)?;
//! let draft = LocalModel::load("models/lab/lab-s-chat", &cpu)?;
//! let spec = Speculative::new(target, draft, DraftLength::Fixed(4))?;
//! let mut req = GenerationRequest::new("Where does Renmisa Fal live?");
//! req.chat = true;
//! let answer = spec.generate(&req)?;
//! println!("{} ({:.0} % of drafts accepted)", answer.text, 100.0 * spec.last_stats().acceptance_rate());
//! # Ok(())
//! # }
//! ```

mod decode;
mod draft_length;
mod output;
mod stats;
mod verify;

use hedge_engine::{
    Backend, EngineError, Generation, GenerationRequest, LocalModel, NextTokenLogprobs, Result,
    SamplingParams, ScoreRequest,
};

pub use draft_length::{DraftLength, ADAPTIVE_START, MAX_DRAFT_TOKENS};
pub use stats::{SpeculativeStats, StatsLog};

/// A target model decoded speculatively with a draft model of the same vocabulary.
#[derive(Debug)]
pub struct Speculative {
    target: LocalModel,
    draft: LocalModel,
    draft_length: DraftLength,
    draft_confidence: f64,
    log: StatsLog,
}

impl Speculative {
    /// Pairs `target` with `draft`, drafting `draft_length` tokens per round.
    ///
    /// # Errors
    /// When the two models' vocabularies differ (the error names both models and sizes): the
    /// draft's token ids must mean the target's.
    pub fn new(target: LocalModel, draft: LocalModel, draft_length: DraftLength) -> Result<Self> {
        let tv = target.decoder.config().vocab_size;
        let dv = draft.decoder.config().vocab_size;
        if tv != dv {
            return Err(EngineError::InvalidParam {
                name: "draft",
                value: format!(
                    "{} (vocabulary of {dv} tokens) for target {} (vocabulary of {tv} tokens)",
                    draft.name, target.name
                ),
                allowed: "the draft must share the target's vocabulary (the same tokenizer), \
                          since its token ids are verified as the target's",
            });
        }
        if let DraftLength::Fixed(n) = draft_length {
            DraftLength::fixed(n).map_err(|_| EngineError::InvalidParam {
                name: "draft tokens",
                value: n.to_string(),
                allowed: "1 to 16 draft tokens per round, or adaptive",
            })?;
        }
        Ok(Self {
            target,
            draft,
            draft_length,
            draft_confidence: 0.0,
            log: StatsLog::default(),
        })
    }

    /// Ends a round's drafting early, after a token the draft gave a probability below
    /// `confidence` (its top probability when greedy; q(x) of the drawn token when sampling):
    /// such a token is likely rejected, and the tokens drafted after it with it. γ stays the
    /// most a round drafts. 0 (the default) never stops early. Still lossless: when to stop
    /// depends only on the draft, never on the target.
    ///
    /// # Errors
    /// When `confidence` is not in [0, 1].
    pub fn with_draft_confidence(mut self, confidence: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&confidence) {
            return Err(EngineError::InvalidParam {
                name: "draft confidence",
                value: confidence.to_string(),
                allowed: "a probability in [0, 1] (0: never stop drafting early)",
            });
        }
        self.draft_confidence = confidence;
        Ok(self)
    }

    /// The draft probability below which a round stops drafting (0: never early).
    pub fn draft_confidence(&self) -> f64 {
        self.draft_confidence
    }

    /// Leaves the counts of each generation in `log` (shared with the caller) instead of a log
    /// of its own.
    pub fn with_stats_log(mut self, log: StatsLog) -> Self {
        self.log = log;
        self
    }

    /// Where the counts of each generation are left.
    pub fn stats_log(&self) -> &StatsLog {
        &self.log
    }

    pub fn target(&self) -> &LocalModel {
        &self.target
    }

    pub fn draft(&self) -> &LocalModel {
        &self.draft
    }

    pub fn draft_length(&self) -> DraftLength {
        self.draft_length
    }

    /// How outputs name the run: `TARGET (draft DRAFT, γ N[, confidence P])`.
    pub fn name(&self) -> String {
        let confidence = if self.draft_confidence > 0.0 {
            format!(", confidence {}", self.draft_confidence)
        } else {
            String::new()
        };
        format!(
            "{} (draft {}, γ {}{confidence})",
            self.target.name, self.draft.name, self.draft_length
        )
    }

    /// Decodes `prompt_ids` (already tokenized, chat template applied) and returns the answer
    /// with the counts of this generation. Stops (end of sequence, stop strings, max_tokens,
    /// the context) behave as in the target's own decoding. The draft samples from stream 0
    /// of `params.seed` and the acceptance draws come from stream 1: the same seed gives the
    /// same answer.
    ///
    /// # Errors
    /// On bad parameters, an empty prompt or one that fills the target's context, or a model
    /// failure.
    pub fn generate_ids(
        &self,
        prompt_ids: &[u32],
        params: &SamplingParams,
        top_logprobs: usize,
    ) -> Result<(Generation, SpeculativeStats)> {
        let (generation, stats) = decode::generate(self, prompt_ids, params, top_logprobs)?;
        self.log.record(&stats);
        Ok((generation, stats))
    }

    /// The counts of the last generation (all zero before the first).
    pub fn last_stats(&self) -> SpeculativeStats {
        self.log.last().unwrap_or_default()
    }

    /// The counts summed over every generation logged.
    pub fn total_stats(&self) -> SpeculativeStats {
        self.log.total()
    }
}

impl Backend for Speculative {
    fn generate(&self, req: &GenerationRequest) -> Result<Generation> {
        let ids = self.target.prompt_ids(&req.prompt, req.chat)?;
        Ok(self.generate_ids(&ids, &req.sampling, req.top_logprobs)?.0)
    }

    /// n samples are drawn by the target alone, from one prefill and a KV cache forked n ways
    /// (its [`Backend::generate_n`]): the same distribution as speculative decoding (which is
    /// lossless), and faster, because n sequences decoded as one batch already share each
    /// forward pass's fixed cost, the cost speculative decoding saves at batch 1.
    fn generate_n(&self, req: &GenerationRequest, n: usize) -> Result<Vec<Generation>> {
        self.target.generate_n(req, n)
    }

    fn score(&self, req: &ScoreRequest) -> Result<Generation> {
        self.target.score(req)
    }

    fn next_token_logprobs(
        &self,
        prompt: &str,
        chat: bool,
        candidates: &[&str],
    ) -> Result<NextTokenLogprobs> {
        self.target.next_token_logprobs(prompt, chat, candidates)
    }
}
