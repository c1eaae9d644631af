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
    /// Downloading a similarity model (a sentence encoder or an NLI cross-encoder) failed.
    #[error("could not download {repo} from the Hugging Face Hub ({reason}). Without network access, pass a local folder with --similarity-model DIR (scripts/install-test-models puts all-MiniLM-L6-v2 in target/models/all-MiniLM-L6-v2)")]
    EncoderDownload { repo: String, reason: String },
    /// Any other I/O failure, with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An error from the math crate (estimators, statistics).
    #[error(transparent)]
    Core(#[from] hedge_core::error::CoreError),
    /// A remote model spec is not `openai:URL#MODEL`.
    #[error("bad remote model {spec:?}: {reason} (expected openai:URL#MODEL, e.g. openai:http://localhost:8000/v1#Qwen/Qwen2.5-7B-Instruct)")]
    BadRemoteSpec { spec: String, reason: String },
    /// The server answered with an error status (after the retries, for 429 and 5xx); the
    /// message is the server's own.
    #[error("{url}: HTTP {status}: {message}")]
    Http {
        url: String,
        status: u16,
        message: String,
    },
    /// No answer came from the server: connection refused or reset, or a timeout.
    #[error("{url}: {reason} (after {attempts} attempt{s})", s = if *attempts == 1 { "" } else { "s" })]
    Connection {
        url: String,
        reason: String,
        attempts: u32,
    },
    /// The server's answer is not an OpenAI-compatible one.
    #[error("{url}: unexpected answer: {reason}")]
    BadResponse { url: String, reason: String },
    /// The server lacks a feature that a request needs.
    #[error("{url}: the server does not support {what}: {reason}")]
    RemoteUnsupported {
        url: String,
        what: &'static str,
        reason: String,
    },
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
