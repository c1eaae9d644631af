//! hedge-engine: llama-family models on candle, with every step's next-token distribution kept.
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod generation;
pub mod kv_cache;
mod linear;
pub mod llama;
pub mod model;
pub mod random_model;
pub mod rope;
pub mod sampling;
pub mod tokenizer;

pub use checkpoint::Checkpoint;
pub use config::Config;
pub use error::{EngineError, Result};
pub use generation::{Backend, FinishReason, Generation, GenerationRequest, ScoreRequest};
pub use kv_cache::KvCache;
pub use llama::{Llama, LogitsAt, SeqInput};
pub use model::{LocalModel, Stats};
pub use random_model::write_random_model;
pub use sampling::SamplingParams;
pub use tokenizer::{ChatMessage, TextTokenizer};
