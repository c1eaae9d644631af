//! Saving a trained model in the Hugging Face layout, and the resumable training checkpoint.
//!
//! ```text
//! OUT/config.json                 the model's config.json (f32)
//! OUT/model.safetensors           its weights, Hugging Face names, f32
//! OUT/checkpoint/state.json       step, optimiser step, data fingerprint, both configs
//! OUT/checkpoint/model.safetensors      weights at that step
//! OUT/checkpoint/optimizer.safetensors  AdamW moments m.<name>, v.<name>
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use hedge_engine::Config;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::adamw::AdamW;
use super::model::Params;
use super::TrainConfig;
use crate::error::{LabError, Result};

/// The checkpoint folder inside the output folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
const STATE_JSON: &str = "state.json";
const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// Where a run stood when its checkpoint was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimiser steps done.
    pub step: usize,
    pub tokens_seen: u64,
    pub last_loss: f32,
    /// [`super::data::fingerprint`] of the training examples.
    pub data_fingerprint: u64,
    pub train: TrainConfig,
    /// The model's config.json, as written.
    pub model: Value,
}

/// A checkpoint read back.
#[derive(Debug)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub state: CheckpointState,
    pub weights: HashMap<String, Tensor>,
    pub moments: HashMap<String, Tensor>,
}

/// The `config.json` of a trained model: the config's fields with nulls left out, dtype f32.
///
/// # Errors
/// Never in practice (the config serialises).
pub fn config_json(cfg: &Config) -> Result<Value> {
    let mut v = serde_json::to_value(cfg).map_err(|e| LabError::InvalidConfig {
        name: "model config",
        value: e.to_string(),
        allowed: "a config that serialises to JSON",
    })?;
    if let Value::Object(map) = &mut v {
        map.retain(|_, x| !x.is_null());
        map.entry("model_type").or_insert_with(|| "llama".into());
        map.entry("architectures")
            .or_insert_with(|| serde_json::json!(["LlamaForCausalLM"]));
        map.insert("torch_dtype".into(), "float32".into());
    }
    Ok(v)
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|source| LabError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::write(path, text + "\n").map_err(|e| LabError::io(path, e))
}

fn save_tensors(map: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    candle_core::safetensors::save(map, path).map_err(|e| LabError::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("writing: {e}"),
    })
}

/// Writes `config.json` and `model.safetensors` into `dir` (created if needed), so that
/// `hedge_engine::LocalModel::load` reads them once the tokenizer files are beside them.
///
/// # Errors
/// When a file cannot be written.
pub fn save_model(params: &Params, cfg: &Config, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    write_json(&dir.join("config.json"), &config_json(cfg)?)?;
    save_tensors(&params.tensors()?, &dir.join(MODEL_FILE))
}

/// Writes the checkpoint into `out_dir/checkpoint`, replacing the previous one only once the new
/// one is complete.
///
/// # Errors
/// When a file cannot be written.
pub fn write_checkpoint(
    out_dir: &Path,
    params: &Params,
    opt: &AdamW,
    state: &CheckpointState,
) -> Result<()> {
    let dir = out_dir.join(CHECKPOINT_DIR);
    let tmp = out_dir.join(format!("{CHECKPOINT_DIR}.tmp"));
    let old = out_dir.join(format!("{CHECKPOINT_DIR}.old"));
    for stale in [&tmp, &old] {
        if stale.exists() {
            std::fs::remove_dir_all(stale).map_err(|e| LabError::io(stale, e))?;
        }
    }
    std::fs::create_dir_all(&tmp).map_err(|e| LabError::io(&tmp, e))?;
    save_tensors(&params.tensors()?, &tmp.join(MODEL_FILE))?;
    save_tensors(&opt.state_tensors(params)?, &tmp.join(OPTIMIZER_FILE))?;
    write_json(&tmp.join(STATE_JSON), state)?;
    if dir.exists() {
        std::fs::rename(&dir, &old).map_err(|e| LabError::io(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| LabError::io(&tmp, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| LabError::io(&old, e))?;
    }
    Ok(())
}

/// Removes `out_dir/checkpoint` (after a finished run).
///
/// # Errors
/// When it exists and cannot be removed.
pub fn remove_checkpoint(out_dir: &Path) -> Result<()> {
    let dir = out_dir.join(CHECKPOINT_DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| LabError::io(&dir, e))?;
    }
    Ok(())
}

/// Reads `out_dir/checkpoint`, if there is one.
///
/// # Errors
/// When it exists but a file is missing or malformed.
pub fn read_checkpoint(out_dir: &Path) -> Result<Option<Checkpoint>> {
    let dir = out_dir.join(CHECKPOINT_DIR);
    let state_path = dir.join(STATE_JSON);
    if !state_path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&state_path).map_err(|e| LabError::io(&state_path, e))?;
    let state: CheckpointState = serde_json::from_str(&text).map_err(|source| LabError::Json {
        path: state_path.clone(),
        source,
    })?;
    let load = |name: &str| {
        let path = dir.join(name);
        candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| LabError::Checkpoint {
            path,
            reason: format!("reading: {e}"),
        })
    };
    Ok(Some(Checkpoint {
        weights: load(MODEL_FILE)?,
        moments: load(OPTIMIZER_FILE)?,
        state,
        dir,
    }))
}

impl Checkpoint {
    /// Checks that the checkpoint belongs to this run: same model, same data, same training
    /// settings (all but `log_every` and `checkpoint_every`), and not past its last step.
    ///
    /// # Errors
    /// [`LabError::Checkpoint`] naming what differs.
    pub fn check(&self, train: &TrainConfig, model: &Config, data_fingerprint: u64) -> Result<()> {
        let fail = |reason: String| {
            Err(LabError::Checkpoint {
                path: self.dir.clone(),
                reason: format!("{reason}; delete the folder to start over"),
            })
        };
        if self.state.model != config_json(model)? {
            return fail("it was written for another model config".into());
        }
        if self.state.data_fingerprint != data_fingerprint {
            return fail("it was written for other training data".into());
        }
        let same = TrainConfig {
            log_every: train.log_every,
            checkpoint_every: train.checkpoint_every,
            ..self.state.train.clone()
        };
        if &same != train {
            return fail(format!(
                "it was written with other training settings ({:?}, now {:?})",
                self.state.train, train
            ));
        }
        if self.state.step >= train.steps {
            return fail(format!(
                "it is at step {}, not before the run's last step {}",
                self.state.step, train.steps
            ));
        }
        Ok(())
    }
}
