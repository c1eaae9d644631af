//! What a model run returns, and the `Backend` trait that local and (later) remote models share.

use hedge_core::token::TokenRecord;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::sampling::SamplingParams;

/// Why decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model wrote an end-of-sequence token (not kept in `tokens`).
    Eos,
    /// The text reached a stop string (cut before it).
    Stop,
    /// `max_tokens` was reached.
    Length,
    /// The context window is full.
    Context,
    /// Teacher-forced scoring of a given response.
    Scored,
}

/// A request to generate from one prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    pub prompt: String,
    /// Render the prompt through the model's chat template as a user turn.
    pub chat: bool,
    pub sampling: SamplingParams,
    /// How many alternatives each `TokenRecord` keeps in `top`.
    pub top_logprobs: usize,
}

impl GenerationRequest {
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            chat: false,
            sampling: SamplingParams::default(),
            top_logprobs: 5,
        }
    }
}

/// A request to score a given response to a prompt, teacher-forced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRequest {
    pub prompt: String,
    pub response: String,
    pub chat: bool,
    pub top_logprobs: usize,
}

/// One answer with the statistics of each of its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<TokenRecord>,
    pub prompt_tokens: usize,
    pub finish_reason: FinishReason,
    /// Where the statistics of `tokens` come from; left out of JSON when they are exact.
    #[serde(default, skip_serializing_if = "TokenStats::is_full")]
    pub token_stats: TokenStats,
}

/// Where the per-step statistics of a [`Generation`] come from, so that callers can say when
/// they are approximate, and fall back to estimators that need no log-probabilities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStats {
    /// From the full next-token distribution, as it left the model (local models).
    #[default]
    Full,
    /// From the top-k log-probabilities a server returned (remote models): `logprob` and `top`
    /// are the server's, but entropy, margin and kurtosis are those of the top-k values
    /// renormalised to sum to 1, so approximate.
    TopK,
    /// The server returned no log-probabilities: `tokens` is empty and only the text is known.
    Absent,
}

impl TokenStats {
    /// True for [`TokenStats::Full`] (also serde's test to leave the field out).
    pub fn is_full(&self) -> bool {
        *self == TokenStats::Full
    }
}

impl Generation {
    /// Σ log p_t: the log-probability of the whole answer.
    pub fn logprob(&self) -> f64 {
        self.tokens.iter().map(|t| t.logprob).sum()
    }

    /// True when entropy, margin and kurtosis were computed from a truncated (top-k)
    /// distribution rather than the full one ([`TokenStats::TopK`]).
    pub fn approximate_distribution(&self) -> bool {
        self.token_stats == TokenStats::TopK
    }

    /// True when the generation carries per-step log-probabilities (not [`TokenStats::Absent`]).
    pub fn has_logprobs(&self) -> bool {
        self.token_stats != TokenStats::Absent
    }
}

/// The log-probabilities of candidate next tokens after a prompt, as
/// [`Backend::next_token_logprobs`] reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextTokenLogprobs {
    /// log P of the first token of each candidate, in the order asked; NaN when the backend
    /// could not tell (a remote server that did not list the token in its top-k).
    pub logprobs: Vec<f64>,
    /// Where they come from: [`TokenStats::Full`] from the whole distribution (local models),
    /// [`TokenStats::TopK`] from a server's top-k list (approximate: a token outside it is
    /// NaN), [`TokenStats::Absent`] when the server sent no log-probabilities (all NaN).
    pub stats: TokenStats,
}

/// Anything that can answer a prompt and score a response, with per-step statistics.
///
/// `generate` and `score` are required; `generate_n` and `next_token_logprobs` have defaults
/// built on them, which backends override when they can do better (a local model draws n
/// samples from one prefill; it reads candidate tokens from one forward pass).
pub trait Backend {
    /// Generates one answer.
    ///
    /// # Errors
    /// On bad parameters, a prompt longer than the context, or a model failure.
    fn generate(&self, req: &GenerationRequest) -> Result<Generation>;

    /// Scores a given response, teacher-forced: the same records as if the model had written it.
    ///
    /// # Errors
    /// On an empty response, an input longer than the context, or a model failure.
    fn score(&self, req: &ScoreRequest) -> Result<Generation>;

    /// `n` samples of one request, deterministic for a given `req.sampling.seed`.
    ///
    /// The default makes n calls of [`Backend::generate`] with seeds `seed`, `seed + 1`, …;
    /// [`crate::LocalModel`] prefills the prompt once and forks its cache n ways instead, and
    /// [`crate::RemoteModel`] asks the server for n choices in one request.
    ///
    /// # Errors
    /// As [`Backend::generate`].
    fn generate_n(&self, req: &GenerationRequest, n: usize) -> Result<Vec<Generation>> {
        (0..n as u64)
            .map(|i| {
                let mut r = req.clone();
                r.sampling.seed = req.sampling.seed.wrapping_add(i);
                self.generate(&r)
            })
            .collect()
    }

    /// log P(first token of `candidate`) as the next token after `prompt` (rendered through the
    /// chat template as a user turn when `chat`), for each candidate, as the reflexive
    /// estimators read them (`p_true`: `" True"`; `r_tuning_sure`: `" sure"`, `" unsure"`).
    ///
    /// The default scores each candidate as a response, teacher-forced, and keeps its first
    /// token's log-probability.
    ///
    /// # Errors
    /// As [`Backend::score`].
    fn next_token_logprobs(
        &self,
        prompt: &str,
        chat: bool,
        candidates: &[&str],
    ) -> Result<NextTokenLogprobs> {
        let mut logprobs = Vec::with_capacity(candidates.len());
        let mut stats = TokenStats::Full;
        for c in candidates {
            let g = self.score(&ScoreRequest {
                prompt: prompt.to_string(),
                response: (*c).to_string(),
                chat,
                top_logprobs: 0,
            })?;
            if g.token_stats != TokenStats::Full {
                stats = g.token_stats;
            }
            logprobs.push(g.tokens.first().map_or(f64::NAN, |t| t.logprob));
        }
        Ok(NextTokenLogprobs { logprobs, stats })
    }
}
