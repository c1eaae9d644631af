//! hedge-engine: llama-family models on candle, with every step's next-token distribution kept.
//!
//! - [`Checkpoint`] finds the files of a Hugging Face folder (or downloads `hf:ORG/NAME`);
//! - [`Llama`] is hedge's own decoder: logits at every position, one forkable [`KvCache`] per
//!   sequence, batches of sequences of different lengths at different positions;
//! - [`LocalModel`] puts it together with the tokenizer and chat template: seeded decoding of n
//!   samples from one prefilled prompt, and teacher-forced scoring, keeping a
//!   [`hedge_core::TokenRecord`] (logprob, entropy, margin, kurtosis, top-k) per step;
//! - [`RemoteModel`] is the same [`Backend`] over an OpenAI-compatible server (vLLM, llama.cpp,
//!   hosted APIs) named `openai:URL#MODEL`, with statistics approximated from its top-k;
//! - [`DecodeSession`] decodes one sequence step by step (feed, roll back, fork), for the
//!   multi-model decoders of hedge-steer;
//! - [`write_random_model`] writes a loadable random-weight checkpoint for tests and benchmarks.
//! - [`uncertainty`] gathers what the sampling-based and reflexive estimators need — n samples
//!   from one prefill, their similarity matrix ([`SimilarityBackend`]), SAR relevances, the
//!   reflexive prompts — once for all of them, as a serialisable [`GatheredEvidence`];
//! - [`SentenceEncoder`] (sentence embeddings, e.g. all-MiniLM-L6-v2) and [`NliModel`] (an NLI
//!   cross-encoder) run BERT-family encoders for the `embedding` and `nli` similarity backends;
//! - [`RewardModel`] reads a one-output sequence classifier as a reward model (hedge-steer's
//!   reward-guided decoding).
//!
//! ```
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
//! req.sampling.max_tokens = 5;
//! req.sampling.ignore_eos = true;
//! let answer = model.generate(&req)?;
//! assert_eq!(answer.tokens.len(), 5);
//! let scores = hedge_core::score_all(&hedge_core::EstimatorSpec::whitebox_all(), &answer.tokens);
//! // perplexity is −(1/L) Σ log p_t: positive unless every token had probability 1.
//! assert!(scores.get("perplexity").unwrap() > 0.0);
//! # Ok(())
//! # }
//! ```
pub mod checkpoint;
pub mod config;
pub mod encoder;
pub mod error;
pub mod generation;
pub mod huge_pages;
pub mod kv_cache;
mod linear;
pub mod llama;
pub mod model;
pub mod nli;
pub mod random_model;
pub mod remote;
pub mod reward_model;
pub mod rope;
pub mod sampling;
pub mod session;
pub mod tokenizer;
pub mod uncertainty;

pub use checkpoint::{Checkpoint, WeightDtype};
pub use config::Config;
pub use encoder::{embedding_similarity, SentenceEncoder};
pub use error::{EngineError, Result};
pub use generation::TokenStats;
pub use generation::{
    Backend, FinishReason, Generation, GenerationRequest, NextTokenLogprobs, ScoreRequest,
};
pub use kv_cache::KvCache;
pub use llama::{Llama, LogitsAt, SeqInput};
pub use model::{LocalModel, Stats};
pub use nli::{nli_probabilities, NliModel, NLI_TEMPERATURE};
pub use random_model::{write_random_model, write_random_model_in};
pub use remote::{RemoteModel, RemoteOptions, RemoteSpec, RetryPolicy};
pub use reward_model::{write_random_reward_model, RewardModel, RewardOutput};
pub use sampling::{Sampler, SamplingParams};
pub use session::DecodeSession;
pub use tokenizer::{ChatMessage, TextTokenizer};
pub use uncertainty::{EvidenceRunner, GatherOptions, GatheredEvidence, Plan, SimilarityBackend};
