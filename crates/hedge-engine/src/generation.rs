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
}

impl Generation {
    /// Σ log p_t: the log-probability of the whole answer.
    pub fn logprob(&self) -> f64 {
        self.tokens.iter().map(|t| t.logprob).sum()
    }
}

/// Anything that can answer a prompt and score a response, with per-step statistics.
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
}
