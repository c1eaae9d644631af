//! The engine's one error type: each variant names the operation and the offending value.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a model.
#[derive(thiserror::Error, Debug)]
pub enum EngineError {
    /// A file the checkpoint needs is not in the folder.
    #[error("model folder {dir}: missing {file}{hint}")]
    MissingFile {
        dir: PathBuf,
        file: String,
        hint: String,
    },
    /// A file exists but cannot be read or parsed.
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    /// A tensor in the checkpoint is missing or has the wrong shape, or another candle failure.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// The tokenizer failed on some input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template could not be rendered.
    #[error("chat template: {0}")]
    ChatTemplate(String),
    /// The configuration asks for something this decoder does not implement.
    #[error("config.json: {0}")]
    Unsupported(String),
    /// The input is longer than the model's context window.
    #[error("{what} is {len} tokens, longer than the model's context of {max} tokens (max_position_embeddings)")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A request parameter is out of its allowed range.
    #[error("invalid {name} = {value}: {allowed}")]
    InvalidParam {
        name: &'static str,
        value: String,
        allowed: &'static str,
    },
    /// Downloading from the Hugging Face Hub failed.
    #[error("could not download {repo} from the Hugging Face Hub ({reason}). Without network access, download the folder elsewhere and pass it with --model /path/to/folder")]
    Download { repo: String, reason: String },
    /// Any other I/O failure, with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An error from the math crate (estimators, statistics).
    #[error(transparent)]
    Core(#[from] hedge_core::error::CoreError),
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, EngineError>;

impl EngineError {
    pub(crate) fn bad_file(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Self::BadFile {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
