//! `Config`: the fields of a llama-family `config.json`, named as Hugging Face names them.

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// `eos_token_id` may be one id or a list of ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// `rope_scaling`, as written by Hugging Face (`rope_type`, or the older `type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    #[serde(alias = "type")]
    pub rope_type: String,
    #[serde(default)]
    pub factor: Option<f64>,
    #[serde(default)]
    pub low_freq_factor: Option<f64>,
    #[serde(default)]
    pub high_freq_factor: Option<f64>,
    #[serde(default)]
    pub original_max_position_embeddings: Option<usize>,
}

/// transformers ≥ 5 writes `rope_parameters` (theta and scaling together) instead of
/// `rope_theta` and `rope_scaling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RopeParameters {
    #[serde(default)]
    pub rope_theta: Option<f64>,
    #[serde(flatten)]
    pub scaling: RopeScaling,
}

fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_rms_eps() -> f64 {
    1e-6
}
fn default_act() -> String {
    "silu".to_string()
}
fn default_max_pos() -> usize {
    2048
}

/// A llama-family `config.json` (Llama, Qwen2, Mistral, SmolLM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    #[serde(default, skip_serializing)]
    pub rope_parameters: Option<RopeParameters>,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Llama's `attention_bias`: biases on q, k, v and o.
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub sliding_window: Option<usize>,
    /// Qwen2 keeps `sliding_window` in its config but uses it only when this is true.
    #[serde(default)]
    pub use_sliding_window: Option<bool>,
    #[serde(default)]
    pub bos_token_id: Option<TokenIds>,
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    #[serde(default)]
    pub torch_dtype: Option<String>,
}

/// Which member of the llama family a config describes; decides the bias layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Llama,
    Qwen2,
    Mistral,
}

impl Config {
    /// Reads and checks a `config.json` text.
    ///
    /// # Errors
    /// When the JSON is malformed or describes something this decoder cannot run.
    pub fn from_json(text: &str) -> Result<Self> {
        let mut cfg: Config = serde_json::from_str(text)
            .map_err(|e| EngineError::Unsupported(format!("cannot parse: {e}")))?;
        if let Some(p) = cfg.rope_parameters.take() {
            if let Some(theta) = p.rope_theta {
                cfg.rope_theta = theta;
            }
            if p.scaling.rope_type != "default" {
                cfg.rope_scaling = Some(p.scaling);
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn family(&self) -> Result<Family> {
        let ty = self.model_type.as_deref().unwrap_or("llama");
        match ty {
            "llama" | "smollm" | "smollm2" => Ok(Family::Llama),
            "qwen2" => Ok(Family::Qwen2),
            "mistral" => Ok(Family::Mistral),
            other => Err(EngineError::Unsupported(format!(
                "model_type \"{other}\" is not supported; supported: llama, qwen2, mistral"
            ))),
        }
    }

    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether q, k and v carry a bias, and whether o does.
    pub fn biases(&self) -> Result<(bool, bool)> {
        Ok(match self.family()? {
            Family::Qwen2 => (true, false),
            Family::Llama | Family::Mistral => (self.attention_bias, self.attention_bias),
        })
    }

    /// The attention window in tokens, when the model uses one.
    pub fn window(&self) -> Result<Option<usize>> {
        Ok(match self.family()? {
            Family::Mistral => self.sliding_window,
            Family::Qwen2 if self.use_sliding_window == Some(true) => self.sliding_window,
            _ => None,
        })
    }

    fn validate(&self) -> Result<()> {
        self.family()?;
        let bad = |m: String| Err(EngineError::Unsupported(m));
        if self.num_attention_heads == 0 || self.hidden_size == 0 || self.vocab_size == 0 {
            return bad("hidden_size, num_attention_heads and vocab_size must be positive".into());
        }
        if self.num_attention_heads % self.num_kv_heads().max(1) != 0 || self.num_kv_heads() == 0 {
            return bad(format!(
                "num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
                self.num_attention_heads,
                self.num_kv_heads()
            ));
        }
        if self.head_dim() % 2 != 0 {
            return bad(format!(
                "head_dim {} must be even for RoPE",
                self.head_dim()
            ));
        }
        if self.hidden_act != "silu" {
            return bad(format!(
                "hidden_act \"{}\" is not supported; supported: silu",
                self.hidden_act
            ));
        }
        if let Some(rs) = &self.rope_scaling {
            match rs.rope_type.as_str() {
                "default" | "linear" | "llama3" => {}
                other => {
                    return bad(format!(
                        "rope_scaling type \"{other}\" is not supported; supported: default, linear, llama3"
                    ))
                }
            }
        }
        Ok(())
    }
}
