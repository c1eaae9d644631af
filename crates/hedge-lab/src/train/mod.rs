//! The trainer of hedge-engine's llama decoder: seeded initialisation, packed sequences, loss on
//! the counted tokens only, AdamW with warm-up and cosine decay, global gradient clipping,
//! resumable checkpoints, and a model saved in the Hugging Face layout.
//!
//! ```no_run
//! # fn main() -> hedge_lab::error::Result<()> {
//! use std::ops::ControlFlow;
//! use hedge_lab::train::{train, Example, TrainConfig};
//!
//! let config = hedge_engine::Config::from_json(
//!     r#"{"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
//!         "num_hidden_layers": 2, "num_attention_heads": 4, "tie_word_embeddings": true}"#,
//! )?;
//! let examples = vec![Example::raw((0..40).map(|i| i % 7).collect())];
//! let cfg = TrainConfig { steps: 20, batch_size: 2, seq_len: 16, ..TrainConfig::default() };
//! let summary = train(&config, &examples, &cfg, "out".as_ref(), &mut |r| {
//!     eprintln!("step {} loss {:.3}", r.step, r.loss);
//!     ControlFlow::Continue(())
//! })?;
//! println!("{:.0} tokens/s", summary.tokens_per_sec);
//! # Ok(()) }
//! ```

pub mod adamw;
pub mod checkpoint;
pub mod data;
pub mod model;
pub mod ops;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_nn::ParamsAdamW;
use hedge_engine::Config;
use serde::{Deserialize, Serialize};

pub use adamw::AdamW;
pub use checkpoint::{read_checkpoint, save_model, CHECKPOINT_DIR};
pub use data::{fingerprint, Batch, Example, Packer};
pub use model::{cross_entropy, Params, TrainModel};

use crate::error::{LabError, Result};

/// AdamW's fixed settings.
pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.95;
pub const EPS: f64 = 1e-8;

/// How to train. Everything but `log_every` and `checkpoint_every` must stay the same for a run
/// to resume from its checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Seeds the weights and the order of the examples.
    pub seed: u64,
    /// Optimiser steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Tokens per sequence.
    pub seq_len: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Steps of linear warm-up from lr / warmup_steps to lr.
    pub warmup_steps: usize,
    /// The cosine decay ends at min_lr_ratio · lr.
    pub min_lr_ratio: f64,
    /// Decoupled weight decay of the weight matrices (not of norms and biases).
    pub weight_decay: f64,
    /// Global gradient-norm limit; 0 turns clipping off.
    pub grad_clip: f64,
    /// Every how many steps a report is marked for logging.
    pub log_every: usize,
    /// Every how many steps a checkpoint is written; 0: never.
    pub checkpoint_every: usize,
    /// Start from these weights (a `model.safetensors` of the same architecture) instead of
    /// the seeded initialisation: fine-tuning, as a chat model is tuned from its base model.
    pub init: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            steps: 1000,
            batch_size: 16,
            seq_len: 128,
            lr: 3e-3,
            warmup_steps: 50,
            min_lr_ratio: 0.1,
            weight_decay: 0.1,
            grad_clip: 1.0,
            log_every: 10,
            checkpoint_every: 200,
            init: None,
        }
    }
}

impl TrainConfig {
    /// The learning rate of step `step` (0-based): linear warm-up to `lr`, then cosine decay to
    /// `min_lr_ratio · lr` at the last step.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.steps.saturating_sub(self.warmup_steps + 1).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0);
        let min = self.lr * self.min_lr_ratio;
        min + 0.5 * (self.lr - min) * (1.0 + (std::f64::consts::PI * progress).cos())
    }

    /// # Errors
    /// [`LabError::InvalidConfig`] naming the value out of range.
    pub fn validate(&self, model: &Config) -> Result<()> {
        let bad = |name, value: String, allowed| {
            Err(LabError::InvalidConfig {
                name,
                value,
                allowed,
            })
        };
        if self.steps == 0 {
            return bad("steps", "0".into(), "at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "0".into(), "at least 1");
        }
        if self.seq_len == 0 || self.seq_len > model.max_position_embeddings {
            return bad(
                "seq_len",
                self.seq_len.to_string(),
                "at least 1 and at most the model's max_position_embeddings",
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr.to_string(), "a positive number");
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return bad(
                "min_lr_ratio",
                self.min_lr_ratio.to_string(),
                "between 0 and 1",
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "a number ≥ 0",
            );
        }
        if !(self.grad_clip.is_finite() && self.grad_clip >= 0.0) {
            return bad(
                "grad_clip",
                self.grad_clip.to_string(),
                "a number ≥ 0 (0: no clipping)",
            );
        }
        Ok(())
    }
}

/// One optimiser step, as the progress callback sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// Steps done, 1-based (this step's number).
    pub step: usize,
    pub steps: usize,
    /// This step's loss (mean cross-entropy of the counted targets, nats).
    pub loss: f32,
    /// The mean loss since the last logged report.
    pub avg_loss: f32,
    /// The learning rate this step used.
    pub lr: f64,
    /// The gradient's global norm before clipping.
    pub grad_norm: f64,
    /// Input tokens processed since the start of training (resumed steps included).
    pub tokens_seen: u64,
    /// Tokens per second in this run.
    pub tokens_per_sec: f64,
    pub elapsed_secs: f64,
    /// True every `log_every` steps and on the last step.
    pub log: bool,
}

/// What a call of [`train`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSummary {
    /// Steps done in total (resumed steps included).
    pub steps: usize,
    /// The step this call started from (0, or a checkpoint's step).
    pub resumed_from: usize,
    /// False when the progress callback stopped the run early (a checkpoint holds its state).
    pub completed: bool,
    pub final_loss: f32,
    pub tokens_seen: u64,
    /// Wall time of this call.
    pub wall_secs: f64,
    /// Tokens per second in this call.
    pub tokens_per_sec: f64,
    /// Scalar parameters of the model.
    pub params: usize,
}

/// Trains a freshly initialised `model_config` decoder (or one started from `cfg.init`) on
/// `examples`, and saves it in the Hugging Face layout (`config.json`, `model.safetensors`; the
/// caller adds the tokenizer files) into `out_dir`.
///
/// Calls `progress` after every step; returning `ControlFlow::Break` stops the run after writing
/// a checkpoint. Every `checkpoint_every` steps the run is saved in `out_dir/checkpoint`, and a
/// call that finds a checkpoint of the same run continues from it, exactly: weights, AdamW
/// moments, learning-rate schedule and data order. A finished run removes its checkpoint.
///
/// # Errors
/// On invalid settings or data, a checkpoint of another run, a loss that is no longer finite,
/// or a file that cannot be written.
pub fn train(
    model_config: &Config,
    examples: &[Example],
    cfg: &TrainConfig,
    out_dir: &Path,
    progress: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<TrainSummary> {
    cfg.validate(model_config)?;
    let mut packer = Packer::new(examples, cfg.seq_len, cfg.seed, model_config.vocab_size)?;
    let params = Params::init(model_config, cfg.seed)?;
    if let Some(path) = &cfg.init {
        if !path.is_file() {
            return Err(LabError::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the weights to start from are missing (train that model first)",
                ),
            ));
        }
        let weights = candle_core::safetensors::load(path, &candle_core::Device::Cpu)?;
        params.set(&weights).map_err(|e| LabError::Checkpoint {
            path: path.clone(),
            reason: format!("cannot start from these weights: {e}"),
        })?;
    }
    let model = TrainModel::new(model_config, params.var_builder())?;
    let mut opt = AdamW::new(
        &params,
        ParamsAdamW {
            lr: cfg.lr,
            beta1: BETA1,
            beta2: BETA2,
            eps: EPS,
            weight_decay: cfg.weight_decay,
        },
    );
    let data_fingerprint = fingerprint(examples);
    let mut state = checkpoint::CheckpointState {
        step: 0,
        tokens_seen: 0,
        last_loss: f32::NAN,
        data_fingerprint,
        train: cfg.clone(),
        model: checkpoint::config_json(model_config)?,
    };
    if let Some(ck) = read_checkpoint(out_dir)? {
        ck.check(cfg, model_config, data_fingerprint)?;
        params.set(&ck.weights)?;
        opt.load_state(&params, &ck.moments, ck.state.step)?;
        packer.skip(ck.state.step * cfg.batch_size);
        state.step = ck.state.step;
        state.tokens_seen = ck.state.tokens_seen;
        state.last_loss = ck.state.last_loss;
    }
    let resumed_from = state.step;
    let tokens_per_step = (cfg.batch_size * cfg.seq_len) as u64;
    let start = Instant::now();
    let mut since_log = (0f64, 0usize);
    let mut completed = true;
    while state.step < cfg.steps {
        let lr = cfg.lr_at(state.step);
        opt.params.lr = lr;
        let batch = packer.next_batch(cfg.batch_size);
        let loss = model.loss(&batch)?;
        let loss_value = loss.to_scalar::<f32>()?;
        if !loss_value.is_finite() {
            return Err(LabError::Diverged {
                step: state.step + 1,
                loss: loss_value,
            });
        }
        let grads = loss.backward()?;
        let stats = opt.step(&params, &grads, cfg.grad_clip)?;
        state.step += 1;
        state.tokens_seen += tokens_per_step;
        state.last_loss = loss_value;
        since_log.0 += f64::from(loss_value);
        since_log.1 += 1;
        let elapsed = start.elapsed().as_secs_f64();
        let last = state.step == cfg.steps;
        let report = StepReport {
            step: state.step,
            steps: cfg.steps,
            loss: loss_value,
            avg_loss: (since_log.0 / since_log.1 as f64) as f32,
            lr,
            grad_norm: stats.grad_norm,
            tokens_seen: state.tokens_seen,
            tokens_per_sec: (state.step - resumed_from) as f64 * tokens_per_step as f64
                / elapsed.max(1e-9),
            elapsed_secs: elapsed,
            log: last || state.step % cfg.log_every.max(1) == 0,
        };
        if report.log {
            since_log = (0.0, 0);
        }
        let due = cfg.checkpoint_every > 0 && state.step % cfg.checkpoint_every == 0;
        if due && !last {
            checkpoint::write_checkpoint(out_dir, &params, &opt, &state)?;
        }
        if progress(&report).is_break() && !last {
            if !due {
                checkpoint::write_checkpoint(out_dir, &params, &opt, &state)?;
            }
            completed = false;
            break;
        }
    }
    if completed {
        save_model(&params, model_config, out_dir)?;
        checkpoint::remove_checkpoint(out_dir)?;
    }
    let wall_secs = start.elapsed().as_secs_f64();
    Ok(TrainSummary {
        steps: state.step,
        resumed_from,
        completed,
        final_loss: state.last_loss,
        tokens_seen: state.tokens_seen,
        wall_secs,
        tokens_per_sec: (state.step - resumed_from) as f64 * tokens_per_step as f64
            / wall_secs.max(1e-9),
        params: params.count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let cfg = TrainConfig {
            steps: 110,
            warmup_steps: 10,
            lr: 1.0,
            min_lr_ratio: 0.1,
            ..TrainConfig::default()
        };
        assert!((cfg.lr_at(0) - 0.1).abs() < 1e-12);
        assert!((cfg.lr_at(9) - 1.0).abs() < 1e-12);
        assert!((cfg.lr_at(10) - 1.0).abs() < 1e-12);
        // Halfway through the decay: the mean of peak and floor.
        assert!((cfg.lr_at(10 + 99 / 2) - 0.55).abs() < 0.02);
        assert!((cfg.lr_at(109) - 0.1).abs() < 1e-12);
        let lrs: Vec<f64> = (10..110).map(|s| cfg.lr_at(s)).collect();
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn rejects_bad_settings() {
        let model = Config::from_json(
            r#"{"vocab_size": 8, "hidden_size": 8, "intermediate_size": 8,
                "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 64}"#,
        )
        .unwrap();
        assert!(TrainConfig::default().validate(&model).is_err()); // seq_len 128 > 64
        let ok = TrainConfig {
            seq_len: 64,
            ..TrainConfig::default()
        };
        assert!(ok.validate(&model).is_ok());
        for bad in [
            TrainConfig {
                steps: 0,
                ..ok.clone()
            },
            TrainConfig {
                lr: -1.0,
                ..ok.clone()
            },
            TrainConfig {
                min_lr_ratio: 2.0,
                ..ok.clone()
            },
            TrainConfig {
                grad_clip: f64::NAN,
                ..ok.clone()
            },
        ] {
            assert!(bad.validate(&model).is_err(), "{bad:?}");
        }
    }
}
