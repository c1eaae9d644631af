//! hedge-lab's one error type: each variant names the operation and the offending value or path.

use std::path::PathBuf;

/// Everything that can go wrong while writing the lab world or training a lab model.
#[derive(thiserror::Error, Debug)]
pub enum LabError {
    /// An I/O failure, with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A JSON file could not be written or parsed.
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// Training, saving or loading a tokenizer failed.
    #[error("tokenizer ({op}): {reason}")]
    Tokenizer { op: &'static str, reason: String },
    /// A configuration value is out of its allowed range.
    #[error("invalid {name} = {value}: {allowed}")]
    InvalidConfig {
        name: &'static str,
        value: String,
        allowed: &'static str,
    },
    /// Training data the trainer cannot use (mismatched mask, token outside the vocabulary,
    /// nothing to learn).
    #[error("training data: {reason}")]
    TrainData { reason: String },
    /// The loss stopped being a finite number.
    #[error("training diverged at step {step}: loss is {loss} (lower lr or grad_clip)")]
    Diverged { step: usize, loss: f32 },
    /// A training checkpoint is malformed or belongs to another run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    /// A candle failure (tensor shapes, devices, safetensors).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A failure of hedge-engine (loading a checkpoint, its tokenizer or config).
    #[error(transparent)]
    Engine(#[from] hedge_engine::EngineError),
}

impl LabError {
    /// An [`LabError::Io`] on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with [`LabError`].
pub type Result<T> = std::result::Result<T, LabError>;
