//! BERT-family encoders on candle, for the similarity backends of sampling-based estimators
//! (METHODS.md §3):
//!
//! - [`BertModel`]: hedge's own BERT / RoBERTa / XLM-R encoder, built from candle-nn ops;
//! - [`SentenceEncoder`]: a sentence-transformers folder (e.g. all-MiniLM-L6-v2) giving
//!   pooled, L2-normalised sentence embeddings, and [`embedding_similarity`], the `embedding`
//!   backend's matrix max(0, cos);
//! - [`DebertaV2Model`]: DeBERTa-v2/v3 with disentangled attention, for NLI cross-encoders;
//! - the NLI cross-encoder that reads pairs with these encoders is [`crate::nli::NliModel`].
//!
//! ```no_run
//! use hedge_engine::encoder::{embedding_similarity, SentenceEncoder};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let encoder = SentenceEncoder::load("target/models/all-MiniLM-L6-v2")?;
//! let w = embedding_similarity(&encoder, &["Paris.", "It is Paris.", "Rome."])?;
//! assert!(w[0][1] > w[0][2]);
//! # Ok(())
//! # }
//! ```

mod bert;
mod config;
pub(crate) mod deberta_v2;
pub(crate) mod input;
mod sentence;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

pub use bert::{l2_normalize, mean_pool, BertModel};
pub(crate) use config::Activation;
pub use config::{EncoderConfig, Flavor, SUPPORTED_ENCODERS};
pub use deberta_v2::DebertaV2Model;
pub use sentence::{embedding_similarity, Pooling, SentenceEncoder};

use crate::error::{EngineError, Result};

/// The folder of an encoder named by `spec`: a local folder as it is, or `hf:ORG/NAME[@REV]`
/// downloaded with hf-hub into the standard cache (honouring `HF_HOME` and `HF_ENDPOINT`):
/// the files a sentence-transformers or sequence-classification folder holds (`config.json`,
/// `model.safetensors`, `tokenizer.json`, and when the repository has them `modules.json`,
/// `sentence_bert_config.json`, `1_Pooling/config.json`, `tokenizer_config.json`).
///
/// # Errors
/// [`EngineError::EncoderDownload`], saying how to pass a local folder instead, when the
/// download fails; [`EngineError::InvalidParam`] for a malformed `hf:` name.
pub fn resolve_folder(spec: &str) -> Result<PathBuf> {
    use hf_hub::{api::sync::ApiBuilder, Repo, RepoType};
    let Some(repo) = spec.strip_prefix("hf:") else {
        return Ok(PathBuf::from(spec));
    };
    let (name, revision) = match repo.split_once('@') {
        Some((n, r)) => (n, r.to_string()),
        None => (repo, "main".to_string()),
    };
    if name.split('/').count() != 2 || name.starts_with('/') || name.ends_with('/') {
        return Err(EngineError::InvalidParam {
            name: "--similarity-model",
            value: spec.to_string(),
            allowed: "a folder, or hf:ORG/NAME[@REVISION], e.g. hf:sentence-transformers/all-MiniLM-L6-v2",
        });
    }
    let fail = |reason: String| EngineError::EncoderDownload {
        repo: repo.to_string(),
        reason,
    };
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| fail(e.to_string()))?
        .repo(Repo::with_revision(
            name.to_string(),
            RepoType::Model,
            revision,
        ));
    let config = api.get("config.json").map_err(|e| fail(e.to_string()))?;
    for required in ["model.safetensors", "tokenizer.json"] {
        api.get(required).map_err(|e| fail(e.to_string()))?;
    }
    for optional in [
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        let _ = api.get(optional);
    }
    config
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| fail("the cache returned a path without a folder".into()))
}

/// `dir/name`, or an error naming the missing file and what it is for.
pub(crate) fn require_file(dir: &Path, name: &str, hint: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(EngineError::MissingFile {
            dir: dir.to_path_buf(),
            file: name.to_string(),
            hint: hint.to_string(),
        })
    }
}

/// Fails unless `dir` is a folder, saying what kind of folder was expected.
pub(crate) fn require_dir(dir: &Path, expected: &str) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(EngineError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("not a folder (pass {expected})"),
        ),
    })
}

/// Puts the weight file's path on a candle error (a missing tensor, a shape mismatch).
pub(crate) fn in_file(path: &Path) -> impl Fn(EngineError) -> EngineError + '_ {
    move |e| match e {
        EngineError::Candle(c) => EngineError::bad_file(path, c),
        other => other,
    }
}

/// The encoder of a model folder: its config, the memory-mapped `model.safetensors` (located
/// under a `bert.` / `roberta.` prefix when there is one), and the path of `tokenizer.json`.
pub(crate) struct EncoderFiles {
    pub cfg: EncoderConfig,
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
    pub vb: VarBuilder<'static>,
}

impl EncoderFiles {
    pub(crate) fn open(dir: &Path, device: &Device) -> Result<Self> {
        let cfg = EncoderConfig::from_file(&require_file(dir, "config.json", "")?)?;
        let weights = require_file(
            dir,
            "model.safetensors",
            " (hedge reads safetensors only; convert pytorch_model.bin first)",
        )?;
        let tokenizer = require_file(
            dir,
            "tokenizer.json",
            " (hedge needs the fast-tokenizer file)",
        )?;
        // SAFETY: the file is memory-mapped read-only; like every safetensors loader we assume
        // it is not modified while the model is loaded.
        #[allow(unsafe_code)]
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(std::slice::from_ref(&weights), DType::F32, device)
        };
        let vb =
            vb.map_err(|e| EngineError::bad_file(&weights, format!("loading weights: {e}")))?;
        Ok(Self {
            cfg,
            weights,
            tokenizer,
            vb,
        })
    }
}
