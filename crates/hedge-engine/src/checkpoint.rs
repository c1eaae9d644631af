//! Finding and reading a checkpoint in the Hugging Face layout: a local folder, or
//! `hf:ORG/NAME[@REVISION]` downloaded into the standard Hugging Face cache.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

use crate::config::Config;
use crate::error::{EngineError, Result};

/// How the weight matrices and the embedding of a checkpoint are kept in memory. Everything is
/// computed in f32 either way; widening bf16 or f16 to f32 is exact, so half-precision storage
/// gives exactly the logits of loading the same checkpoint in f32, while decoding reads half the
/// bytes per step (decoding is bound by memory bandwidth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightDtype {
    /// As the checkpoint stores them: bf16 and f16 checkpoints stay in half precision on the
    /// CPU; f32 checkpoints, mixed ones, and any checkpoint on a GPU are f32.
    #[default]
    Auto,
    F32,
    Bf16,
    F16,
}

impl WeightDtype {
    /// The storage dtype for `ckpt` on `device`.
    ///
    /// # Errors
    /// When [`WeightDtype::Auto`] cannot read a weight file's header.
    pub fn resolve(self, ckpt: &Checkpoint, device: &Device) -> Result<DType> {
        Ok(match self {
            WeightDtype::F32 => DType::F32,
            WeightDtype::Bf16 => DType::BF16,
            WeightDtype::F16 => DType::F16,
            WeightDtype::Auto if !device.is_cpu() => DType::F32,
            WeightDtype::Auto => match ckpt.stored_dtype()? {
                Some(d @ (DType::BF16 | DType::F16)) => d,
                _ => DType::F32,
            },
        })
    }
}

impl FromStr for WeightDtype {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "f32" | "float32" => Ok(Self::F32),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            "f16" | "float16" => Ok(Self::F16),
            other => Err(EngineError::InvalidParam {
                name: "dtype",
                value: other.to_string(),
                allowed: "allowed values are auto, f32, bf16 and f16",
            }),
        }
    }
}

impl std::fmt::Display for WeightDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        })
    }
}

/// The files of a checkpoint folder, checked to exist.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub config: Config,
    /// `model.safetensors`, or every shard named by `model.safetensors.index.json`.
    pub weights: Vec<PathBuf>,
    pub tokenizer: PathBuf,
    /// `tokenizer_config.json`, when present.
    pub tokenizer_config: Option<PathBuf>,
    /// `generation_config.json`, when present.
    pub generation_config: Option<PathBuf>,
}

const INDEX: &str = "model.safetensors.index.json";
const SINGLE: &str = "model.safetensors";

impl Checkpoint {
    /// Opens `spec`: a folder path, or `hf:ORG/NAME[@REVISION]`.
    ///
    /// # Errors
    /// A missing file is named; a download failure says how to pass a local folder instead.
    pub fn open(spec: &str) -> Result<Self> {
        let dir = match spec.strip_prefix("hf:") {
            Some(repo) => download(repo)?,
            None => PathBuf::from(spec),
        };
        Self::from_dir(&dir)
    }

    /// Opens a local folder.
    ///
    /// # Errors
    /// When the folder or one of its required files is missing or malformed.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(EngineError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not a folder (pass a Hugging Face model folder, or hf:ORG/NAME)",
                ),
            });
        }
        let config_path = require(dir, "config.json", "")?;
        let config = Config::from_json(&read_text(&config_path)?).map_err(|e| match e {
            EngineError::Unsupported(m) => EngineError::bad_file(&config_path, m),
            other => other,
        })?;
        let weights = weight_files(dir)?;
        let tokenizer = require(
            dir,
            "tokenizer.json",
            " (hedge needs the fast-tokenizer file)",
        )?;
        let optional = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            weights,
            tokenizer,
            tokenizer_config: optional("tokenizer_config.json"),
            generation_config: optional("generation_config.json"),
        })
    }

    /// The dtype in which the checkpoint stores its weight matrices (every tensor of two or more
    /// dimensions), or `None` when they differ.
    ///
    /// # Errors
    /// When a weight file is not valid safetensors (the error names the file).
    pub fn stored_dtype(&self) -> Result<Option<DType>> {
        let mut found: Option<&'static str> = None;
        for path in &self.weights {
            let header = safetensors_header(path)?;
            let matrices = header
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .filter(|t| t.get("shape").and_then(|s| s.as_array()).map(Vec::len) >= Some(2));
            for t in matrices {
                let d = match t.get("dtype").and_then(|d| d.as_str()) {
                    Some("F32") => "F32",
                    Some("BF16") => "BF16",
                    Some("F16") => "F16",
                    _ => return Ok(None),
                };
                if found.is_some_and(|f| f != d) {
                    return Ok(None);
                }
                found = Some(d);
            }
        }
        Ok(found.map(|d| match d {
            "BF16" => DType::BF16,
            "F16" => DType::F16,
            _ => DType::F32,
        }))
    }

    /// A `VarBuilder` over the weight files, memory-mapped, converted to `dtype`.
    ///
    /// # Errors
    /// When a weight file is not valid safetensors (the error names the file).
    pub fn var_builder(&self, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
        for path in &self.weights {
            safetensors_header(path)?;
        }
        // SAFETY: the files are memory-mapped read-only; like every safetensors loader we assume
        // they are not modified while the model is loaded.
        #[allow(unsafe_code)]
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&self.weights, dtype, device) };
        vb.map_err(|e| EngineError::bad_file(&self.dir, format!("loading weights: {e}")))
    }
}

fn require(dir: &Path, name: &str, hint: &str) -> Result<PathBuf> {
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

pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join(INDEX);
    if index.is_file() {
        let text = read_text(&index)?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| EngineError::bad_file(&index, e))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| EngineError::bad_file(&index, "no \"weight_map\" object"))?;
        let mut files: Vec<String> = map
            .values()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        files.sort();
        files.dedup();
        return files
            .iter()
            .map(|f| require(dir, f, &format!(" (a shard listed in {INDEX})")))
            .collect();
    }
    let single = dir.join(SINGLE);
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(EngineError::MissingFile {
        dir: dir.to_path_buf(),
        file: SINGLE.to_string(),
        hint: format!(" (or {INDEX} with its shards; .bin/PyTorch weights are not read)"),
    })
}

/// Reads the 8-byte length and JSON header of a safetensors file, so that a truncated or corrupt
/// file is reported with its name rather than as a bare parse error.
fn safetensors_header(path: &Path) -> Result<serde_json::Value> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|_| {
        EngineError::bad_file(path, "not a safetensors file (shorter than 8 bytes)")
    })?;
    let n = u64::from_le_bytes(len);
    if n == 0 || n > 100_000_000 || 8 + n > size {
        return Err(EngineError::bad_file(
            path,
            format!(
                "not a safetensors file (header length {n} does not fit a file of {size} bytes)"
            ),
        ));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|e| EngineError::bad_file(path, format!("reading the header: {e}")))?;
    let meta: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| EngineError::bad_file(path, format!("corrupt safetensors header: {e}")))?;
    let max_end = meta
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    if 8 + n + max_end > size {
        return Err(EngineError::bad_file(
            path,
            format!(
                "truncated: the header describes {} bytes of data but the file has {}",
                max_end,
                size - 8 - n
            ),
        ));
    }
    Ok(meta)
}

/// Downloads `ORG/NAME[@REVISION]` with hf-hub into the standard cache (honouring `HF_HOME`)
/// and returns the snapshot folder.
fn download(repo: &str) -> Result<PathBuf> {
    use hf_hub::{api::sync::ApiBuilder, Repo, RepoType};
    let (name, revision) = match repo.split_once('@') {
        Some((n, r)) => (n, r.to_string()),
        None => (repo, "main".to_string()),
    };
    if name.split('/').count() != 2 || name.starts_with('/') || name.ends_with('/') {
        return Err(EngineError::InvalidParam {
            name: "--model",
            value: format!("hf:{repo}"),
            allowed: "hf:ORG/NAME or hf:ORG/NAME@REVISION, e.g. hf:HuggingFaceTB/SmolLM2-135M",
        });
    }
    let fail = |reason: String| EngineError::Download {
        repo: repo.to_string(),
        reason,
    };
    let api = ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let api = api.repo(Repo::with_revision(
        name.to_string(),
        RepoType::Model,
        revision,
    ));
    let config = api.get("config.json").map_err(|e| fail(e.to_string()))?;
    api.get("tokenizer.json").map_err(|e| fail(e.to_string()))?;
    for optional in ["tokenizer_config.json", "generation_config.json"] {
        let _ = api.get(optional);
    }
    match api.get(INDEX) {
        Ok(index) => {
            let json: serde_json::Value = serde_json::from_str(&read_text(&index)?)
                .map_err(|e| EngineError::bad_file(&index, e))?;
            let mut shards: Vec<String> = json["weight_map"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            shards.sort();
            shards.dedup();
            for s in shards {
                api.get(&s).map_err(|e| fail(e.to_string()))?;
            }
        }
        Err(_) => {
            api.get(SINGLE).map_err(|e| fail(e.to_string()))?;
        }
    }
    config
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| fail("the cache returned a path without a folder".into()))
}
