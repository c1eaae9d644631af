//! Rotary position embeddings: inverse frequencies as Hugging Face computes them (default, linear
//! and llama3 `rope_scaling`), and the cos/sin rows for any list of positions.

use candle_core::{Device, Tensor};

use crate::config::Config;
use crate::error::{EngineError, Result};

/// The inverse frequencies of one attention head, in f32 as `transformers` keeps them.
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f32>,
}

impl Rope {
    /// # Errors
    /// When `rope_scaling` is of a type this decoder does not implement or lacks a field.
    pub fn new(cfg: &Config) -> Result<Self> {
        let dim = cfg.head_dim();
        let base = cfg.rope_theta;
        // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), all in f32.
        let mut inv_freq: Vec<f32> = (0..dim)
            .step_by(2)
            .map(|i| {
                let exponent = i as f32 / dim as f32;
                1.0f32 / (base.powf(exponent as f64) as f32)
            })
            .collect();
        if let Some(rs) = &cfg.rope_scaling {
            let need = |v: Option<f64>, name: &str| {
                v.ok_or_else(|| {
                    EngineError::Unsupported(format!(
                        "rope_scaling of type {} needs `{name}`",
                        rs.rope_type
                    ))
                })
            };
            match rs.rope_type.as_str() {
                "default" => {}
                "linear" => {
                    let factor = need(rs.factor, "factor")? as f32;
                    inv_freq.iter_mut().for_each(|f| *f /= factor);
                }
                "llama3" => {
                    let factor = need(rs.factor, "factor")? as f32;
                    let low = need(rs.low_freq_factor, "low_freq_factor")? as f32;
                    let high = need(rs.high_freq_factor, "high_freq_factor")? as f32;
                    let old_ctx = need(
                        rs.original_max_position_embeddings.map(|v| v as f64),
                        "original_max_position_embeddings",
                    )? as f32;
                    inv_freq = llama3_inv_freq(&inv_freq, factor, low, high, old_ctx);
                }
                other => {
                    return Err(EngineError::Unsupported(format!(
                        "rope_scaling type \"{other}\" is not supported"
                    )))
                }
            }
        }
        Ok(Self { inv_freq })
    }

    /// `cos` and `sin` of shape `(positions.len(), head_dim / 2)`.
    ///
    /// # Errors
    /// Only on a device failure.
    pub fn cos_sin(&self, positions: &[usize], device: &Device) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &p in positions {
            let p = p as f32;
            for &f in &self.inv_freq {
                // The angle is an f32 product, as in transformers; cos/sin of it in f32.
                let angle = p * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let n = positions.len();
        Ok((
            Tensor::from_vec(cos, (n, half), device)?,
            Tensor::from_vec(sin, (n, half), device)?,
        ))
    }
}

/// transformers' `_compute_llama3_parameters`.
fn llama3_inv_freq(inv_freq: &[f32], factor: f32, low: f32, high: f32, old_ctx: f32) -> Vec<f32> {
    let low_wavelen = old_ctx / low;
    let high_wavelen = old_ctx / high;
    inv_freq
        .iter()
        .map(|&f| {
            let wavelen = 2.0 * std::f32::consts::PI / f;
            let scaled = if wavelen > low_wavelen { f / factor } else { f };
            let is_medium = wavelen >= high_wavelen && wavelen <= low_wavelen;
            if is_medium {
                let smooth = (old_ctx / wavelen - low) / (high - low);
                (1.0 - smooth) * scaled / factor + smooth * scaled
            } else {
                scaled
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        // wavelengths: 2π/1 ≈ 6.3 (high freq, kept), 2π/0.001 ≈ 6283 (low freq, divided by 8).
        let out = llama3_inv_freq(&[1.0, 0.001], 8.0, 1.0, 4.0, 64.0);
        assert_eq!(out[0], 1.0);
        assert!((out[1] - 0.001 / 8.0).abs() < 1e-9);
        // A medium wavelength (between 16 and 64) is interpolated between f/8 and f.
        let f = 2.0 * std::f32::consts::PI / 32.0;
        let mid = llama3_inv_freq(&[f], 8.0, 1.0, 4.0, 64.0)[0];
        assert!(mid > f / 8.0 && mid < f);
    }
}
