//! AdamW with global gradient-norm clipping, and moments that can be saved and restored.
//!
//! The update is candle-nn's `AdamW` (decoupled weight decay, bias-corrected moments), written
//! over plain `f32` slices: candle's optimiser keeps its moments private, and a resumed run must
//! continue exactly where it stopped. Weight decay applies to matrices only (linear and
//! embedding weights), not to norm weights or biases.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor};
use candle_nn::ParamsAdamW;

use super::model::Params;
use crate::error::Result;

/// The optimiser state: one pair of moments per parameter, in [`Params`] order.
#[derive(Debug, Clone)]
pub struct AdamW {
    pub params: ParamsAdamW,
    /// Number of updates applied so far (the bias correction's t).
    pub t: usize,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

/// What one update did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// The global L2 norm of the gradient, before clipping.
    pub grad_norm: f64,
    /// The factor the gradient was multiplied by (1 when not clipped).
    pub clip_scale: f64,
}

impl AdamW {
    pub fn new(params: &Params, config: ParamsAdamW) -> Self {
        let zeros: Vec<Vec<f32>> = params
            .vars()
            .iter()
            .map(|(_, v)| vec![0.0; v.elem_count()])
            .collect();
        Self {
            params: config,
            t: 0,
            m: zeros.clone(),
            v: zeros,
        }
    }

    /// Clips the gradient to a global norm of `max_norm` (none when `max_norm <= 0`) and applies
    /// one update at the current learning rate. A parameter without a gradient is left alone.
    ///
    /// # Errors
    /// On a device failure.
    pub fn step(&mut self, params: &Params, grads: &GradStore, max_norm: f64) -> Result<StepStats> {
        let grads: Vec<Option<Vec<f32>>> = params
            .vars()
            .iter()
            .map(|(_, var)| {
                grads
                    .get(var.as_tensor())
                    .map(|g| g.flatten_all()?.to_vec1::<f32>())
                    .transpose()
            })
            .collect::<candle_core::Result<_>>()?;
        let sum_sq: f64 = grads
            .iter()
            .flatten()
            .map(|g| g.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>())
            .sum();
        let grad_norm = sum_sq.sqrt();
        let clip_scale = if max_norm > 0.0 && grad_norm > max_norm {
            max_norm / (grad_norm + 1e-6)
        } else {
            1.0
        };
        self.t += 1;
        let p = &self.params;
        let (b1, b2) = (p.beta1, p.beta2);
        let scale_m = 1.0 / (1.0 - b1.powi(self.t as i32));
        let scale_v = 1.0 / (1.0 - b2.powi(self.t as i32));
        let (b1, b2, eps, lr) = (b1 as f32, b2 as f32, p.eps as f32, p.lr as f32);
        let (scale_m, scale_v, clip) = (scale_m as f32, scale_v as f32, clip_scale as f32);
        for (i, ((_, var), g)) in params.vars().iter().zip(&grads).enumerate() {
            let Some(g) = g else { continue };
            let decay = if var.rank() >= 2 {
                1.0 - (p.lr * p.weight_decay) as f32
            } else {
                1.0
            };
            let mut theta: Vec<f32> = var.as_tensor().flatten_all()?.to_vec1()?;
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            for j in 0..theta.len() {
                let g = g[j] * clip;
                m[j] = b1 * m[j] + (1.0 - b1) * g;
                v[j] = b2 * v[j] + (1.0 - b2) * g * g;
                let update = (m[j] * scale_m) / ((v[j] * scale_v).sqrt() + eps);
                theta[j] = theta[j] * decay - lr * update;
            }
            var.set(&Tensor::from_vec(theta, var.shape(), var.device())?)?;
        }
        Ok(StepStats {
            grad_norm,
            clip_scale,
        })
    }

    /// The moments as tensors named `m.<param>` and `v.<param>`, for a checkpoint.
    ///
    /// # Errors
    /// Only on a device failure.
    pub fn state_tensors(&self, params: &Params) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (i, (name, var)) in params.vars().iter().enumerate() {
            for (prefix, values) in [("m", &self.m[i]), ("v", &self.v[i])] {
                let t = Tensor::from_slice(values, var.shape(), &Device::Cpu)?;
                out.insert(format!("{prefix}.{name}"), t);
            }
        }
        Ok(out)
    }

    /// Restores the moments written by [`AdamW::state_tensors`] and the update count `t`.
    ///
    /// # Errors
    /// When a moment is missing or has another size than its parameter.
    pub fn load_state(
        &mut self,
        params: &Params,
        state: &HashMap<String, Tensor>,
        t: usize,
    ) -> Result<()> {
        for (i, (name, var)) in params.vars().iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{name}");
                let tensor = state
                    .get(&key)
                    .ok_or(candle_core::Error::CannotFindTensor { path: key.clone() })?;
                if tensor.elem_count() != var.elem_count() {
                    return Err(candle_core::Error::UnexpectedShape {
                        msg: format!("shape mismatch for {key}"),
                        expected: var.shape().clone(),
                        got: tensor.shape().clone(),
                    }
                    .into());
                }
                *slot = tensor.flatten_all()?.to_vec1()?;
            }
        }
        self.t = t;
        Ok(())
    }
}
