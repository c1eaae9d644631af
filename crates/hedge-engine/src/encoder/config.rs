//! `EncoderConfig`: the fields of a BERT or RoBERTa `config.json`, named as Hugging Face names
//! them, checked before any weight is read so that a folder of the wrong kind says what it is.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{EngineError, Result};

/// The encoder families hedge runs, by `model_type`.
pub const SUPPORTED_ENCODERS: &str = "bert, roberta, xlm-roberta, deberta-v2 (NLI cross-encoders)";

/// `model_type`s of decoders (text generation models), named in the error when one of them is
/// given where an encoder is expected.
const DECODER_TYPES: [&str; 12] = [
    "llama", "qwen2", "qwen3", "mistral", "mixtral", "gemma", "gemma2", "gemma3", "phi", "phi3",
    "gpt2", "smollm",
];

/// Which position scheme and tensor prefix an encoder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// BERT: positions 0..t, tensors under `bert.` in task checkpoints.
    Bert,
    /// RoBERTa and XLM-R: positions start at `pad_token_id + 1` and skip padding; tensors under
    /// `roberta.`.
    Roberta,
    /// DeBERTa-v2 and v3 (`model_type` "deberta-v2"): relative positions, tensors under
    /// `deberta.`.
    DebertaV2,
}

impl Flavor {
    /// The prefix of the encoder's tensors in a `*ForSequenceClassification` checkpoint.
    pub fn prefix(self) -> &'static str {
        match self {
            Flavor::Bert => "bert",
            Flavor::Roberta => "roberta",
            Flavor::DebertaV2 => "deberta",
        }
    }
}

fn default_act() -> String {
    "gelu".to_string()
}
fn default_max_pos() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_ln_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".to_string()
}

/// A BERT-family `config.json` (BERT, RoBERTa, XLM-R; base models and sequence classifiers).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EncoderConfig {
    pub model_type: String,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_ln_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// Class index (as a string key, as written by transformers) to label name.
    #[serde(default)]
    pub id2label: Option<BTreeMap<String, String>>,
}

impl EncoderConfig {
    /// Reads and checks `config.json`.
    ///
    /// # Errors
    /// When the file is missing or malformed, names a decoder or another unsupported
    /// `model_type`, or describes something this encoder does not implement; the error names the
    /// file and says what was expected.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::checkpoint::read_text(path)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| EngineError::bad_file(path, e))?;
        let model_type = value
            .get("model_type")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                EngineError::bad_file(
                    path,
                    format!("no \"model_type\"; expected an encoder with model_type one of {SUPPORTED_ENCODERS}"),
                )
            })?;
        flavor_of(model_type).map_err(|m| EngineError::bad_file(path, m))?;
        let cfg: EncoderConfig =
            serde_json::from_value(value).map_err(|e| EngineError::bad_file(path, e))?;
        cfg.validate().map_err(|m| EngineError::bad_file(path, m))?;
        Ok(cfg)
    }

    /// The position scheme and tensor prefix of this `model_type`.
    pub fn flavor(&self) -> Flavor {
        flavor_of(&self.model_type).unwrap_or(Flavor::Bert)
    }

    /// The padding id: `pad_token_id`, or 0 (BERT) / 1 (RoBERTa) when absent.
    pub fn pad_id(&self) -> u32 {
        self.pad_token_id.unwrap_or(match self.flavor() {
            Flavor::Bert | Flavor::DebertaV2 => 0,
            Flavor::Roberta => 1,
        })
    }

    /// The first position id: 0 for BERT, `pad_token_id + 1` for RoBERTa.
    pub fn position_offset(&self) -> usize {
        match self.flavor() {
            Flavor::Bert | Flavor::DebertaV2 => 0,
            Flavor::Roberta => self.pad_id() as usize + 1,
        }
    }

    /// The longest input in tokens that the position table holds.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset())
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.hidden_size == 0 || self.num_attention_heads == 0 || self.vocab_size == 0 {
            return Err("hidden_size, num_attention_heads and vocab_size must be positive".into());
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size ({}) must be a multiple of num_attention_heads ({})",
                self.hidden_size, self.num_attention_heads
            ));
        }
        Activation::from_name(&self.hidden_act)?;
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type \"{}\" is not supported; supported: absolute",
                self.position_embedding_type
            ));
        }
        if self.max_tokens() == 0 {
            return Err(format!(
                "max_position_embeddings ({}) leaves no position after the offset {}",
                self.max_position_embeddings,
                self.position_offset()
            ));
        }
        Ok(())
    }
}

fn flavor_of(model_type: &str) -> std::result::Result<Flavor, String> {
    match model_type {
        "bert" => Ok(Flavor::Bert),
        "roberta" | "xlm-roberta" => Ok(Flavor::Roberta),
        "deberta-v2" => Ok(Flavor::DebertaV2),
        "deberta" => Err(format!(
            "model_type \"deberta\" (DeBERTa v1, e.g. microsoft/deberta-large-mnli) is not supported; \
             supported encoders: {SUPPORTED_ENCODERS} (for NLI, e.g. cross-encoder/nli-deberta-v3-base \
             or cross-encoder/nli-roberta-base)"
        )),
        t if DECODER_TYPES.contains(&t) => Err(format!(
            "model_type \"{t}\" is a decoder (a text generation model), not an encoder; expected a \
             BERT-family encoder folder with model_type one of {SUPPORTED_ENCODERS} \
             (e.g. sentence-transformers/all-MiniLM-L6-v2, cross-encoder/nli-roberta-base)"
        )),
        other => Err(format!(
            "model_type \"{other}\" is not a supported encoder; supported: {SUPPORTED_ENCODERS}"
        )),
    }
}

/// The feed-forward activation, by its transformers name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `gelu`: the exact, erf-based GELU.
    GeluErf,
    /// `gelu_new`, `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    Relu,
}

impl Activation {
    pub(crate) fn from_name(name: &str) -> std::result::Result<Self, String> {
        match name {
            "gelu" => Ok(Self::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            other => Err(format!(
                "hidden_act \"{other}\" is not supported; supported: gelu, gelu_new, gelu_pytorch_tanh, relu"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> std::result::Result<EncoderConfig, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).map_err(|e| e.to_string())?;
        EncoderConfig::from_file(&path).map_err(|e| e.to_string())
    }

    const BERT: &str = r#"{"model_type": "bert", "vocab_size": 100, "hidden_size": 32,
        "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 64"#;

    #[test]
    fn positions_and_padding_follow_the_family() {
        let bert = parse(&format!("{BERT}}}")).unwrap();
        assert_eq!(
            (bert.flavor(), bert.pad_id(), bert.position_offset()),
            (Flavor::Bert, 0, 0)
        );
        assert_eq!(bert.max_tokens(), 512);
        let roberta = parse(
            &format!("{BERT}, \"pad_token_id\": 1, \"max_position_embeddings\": 514}}")
                .replace("\"bert\"", "\"roberta\""),
        )
        .unwrap();
        assert_eq!(
            (roberta.flavor(), roberta.position_offset()),
            (Flavor::Roberta, 2)
        );
        assert_eq!(roberta.max_tokens(), 512);
    }

    #[test]
    fn wrong_kinds_say_what_was_expected() {
        let cases = [
            (BERT.replace("\"bert\"", "\"llama\""), "is a decoder"),
            (BERT.replace("\"bert\"", "\"deberta\""), "DeBERTa v1"),
            (BERT.replace("\"bert\"", "\"t5\""), SUPPORTED_ENCODERS),
            (
                BERT.replace("\"model_type\": \"bert\",", ""),
                "no \"model_type\"",
            ),
            (format!("{BERT}, \"hidden_act\": \"swish\""), "hidden_act"),
            (
                format!("{BERT}, \"position_embedding_type\": \"relative_key\""),
                "position_embedding_type",
            ),
            (
                BERT.replace("\"hidden_size\": 32", "\"hidden_size\": 30"),
                "multiple",
            ),
        ];
        for (json, want) in cases {
            let json = if json.ends_with('}') {
                json
            } else {
                format!("{json}}}")
            };
            let err = parse(&json).unwrap_err();
            assert!(err.contains(want), "{err} should mention {want}");
            assert!(err.contains("config.json"), "{err} should name the file");
        }
    }
}
