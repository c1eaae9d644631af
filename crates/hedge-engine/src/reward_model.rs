//! `RewardModel`: a BERT or RoBERTa sequence classifier read as a reward model — its score for a
//! (prompt, response) pair is the reward of the response, as reward-guided decoding
//! (hedge-steer's DeAL, ARGS, Transfer Q*) reads it.
//!
//! The form is the one transformers saves for `*ForSequenceClassification` with
//! `num_labels = 1` (a regression head: `config.json` has one label, usually `LABEL_0`), as
//! reward models and relevance cross-encoders are published (e.g. cross-encoder/ms-marco-MiniLM-L-6-v2,
//! cross-encoder/stsb-roberta-base): the pair is tokenized as `[CLS] prompt [SEP] response [SEP]`
//! (`<s> prompt </s></s> response </s>` for RoBERTa) and the single logit is the reward. A
//! classifier with several labels is read through one of them, named by the caller: the reward
//! is then that label's softmax probability (e.g. `POSITIVE` of a sentiment classifier).
//!
//! The heads are transformers': `RobertaClassificationHead` (dense, tanh, out_proj on the `<s>`
//! state) and `BertForSequenceClassification`'s pooler (dense, tanh on `[CLS]`) and classifier.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use serde_json::{json, Value};

use crate::encoder::input::{length_sorted_batches, pad_batch, EncoderTokenizer, BATCH_SIZE};
use crate::encoder::{in_file, require_dir, BertModel, EncoderConfig, EncoderFiles, Flavor};
use crate::error::{EngineError, Result};
use crate::linear::Linear;

/// What a reward-model folder is expected to be, for error messages.
const EXPECTED: &str = "a reward model: a BERT or RoBERTa *ForSequenceClassification checkpoint \
     (config.json, model.safetensors, tokenizer.json) with one output (num_labels = 1, e.g. \
     cross-encoder/ms-marco-MiniLM-L-6-v2), or a classifier read through one of its labels";

/// The classifier on top of the encoder's first-token state.
#[derive(Debug, Clone)]
enum Head {
    /// `RobertaClassificationHead`: `classifier.dense`, tanh, `classifier.out_proj`.
    Roberta { dense: Linear, out_proj: Linear },
    /// `BertForSequenceClassification`: `bert.pooler.dense`, tanh, `classifier`.
    Bert { pooler: Linear, classifier: Linear },
}

impl Head {
    fn new(cfg: &EncoderConfig, root: &VarBuilder, encoder: &VarBuilder, n: usize) -> Result<Self> {
        let h = cfg.hidden_size;
        match cfg.flavor() {
            Flavor::Roberta => {
                let c = root.pp("classifier");
                Ok(Head::Roberta {
                    dense: Linear::new(h, h, true, c.pp("dense"))?,
                    out_proj: Linear::new(h, n, true, c.pp("out_proj"))?,
                })
            }
            Flavor::Bert => Ok(Head::Bert {
                pooler: Linear::new(h, h, true, encoder.pp("pooler").pp("dense"))?,
                classifier: Linear::new(h, n, true, root.pp("classifier"))?,
            }),
            #[allow(unreachable_patterns)]
            _ => Err(EngineError::Unsupported(format!(
                "model_type \"{}\": reward models run on BERT or RoBERTa encoders",
                cfg.model_type
            ))),
        }
    }

    /// `first`: `(batch, hidden)` states of the first token; returns `(batch, num_labels)`.
    fn forward(&self, first: &Tensor) -> Result<Tensor> {
        let (inner, outer) = match self {
            Head::Roberta { dense, out_proj } => (dense, out_proj),
            Head::Bert { pooler, classifier } => (pooler, classifier),
        };
        outer.forward(&inner.forward(first)?.tanh()?)
    }
}

/// How the classifier's outputs become one reward.
#[derive(Debug, Clone, PartialEq)]
pub enum RewardOutput {
    /// The one logit of a `num_labels = 1` head.
    Logit,
    /// The softmax probability of class `index` (named `label` in `id2label`).
    Probability { index: usize, label: String },
}

/// A sequence classifier whose score for (prompt, response) is a reward.
#[derive(Debug, Clone)]
pub struct RewardModel {
    model: BertModel,
    head: Head,
    tokenizer: EncoderTokenizer,
    output: RewardOutput,
    dir: PathBuf,
}

impl RewardModel {
    /// Loads a sequence-classification folder on the CPU. `label` names the class to read when
    /// the head has several; a one-output head needs none.
    ///
    /// # Errors
    /// When the folder or one of its files is missing or malformed (the error names it); when it
    /// is not a sequence classifier, has several labels and `label` names none of them, or its
    /// `model_type` is unsupported, the error says what was expected.
    pub fn load(dir: impl AsRef<Path>, label: Option<&str>) -> Result<Self> {
        Self::load_on(dir, label, &Device::Cpu)
    }

    /// [`RewardModel::load`] on `device`.
    ///
    /// # Errors
    /// As [`RewardModel::load`].
    pub fn load_on(dir: impl AsRef<Path>, label: Option<&str>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        require_dir(dir, EXPECTED)?;
        let files = EncoderFiles::open(dir, device)?;
        let cfg = files.cfg;
        let config_path = dir.join("config.json");
        if let Some(archs) = &cfg.architectures {
            if !archs
                .iter()
                .any(|a| a.ends_with("ForSequenceClassification"))
            {
                return Err(EngineError::bad_file(
                    &config_path,
                    format!("architectures {archs:?}: expected {EXPECTED}"),
                ));
            }
        }
        let names = label_names(&cfg).map_err(|m| EngineError::bad_file(&config_path, m))?;
        let output =
            reward_output(&names, label).map_err(|m| EngineError::bad_file(&config_path, m))?;
        let root = files.vb;
        let encoder_vb = BertModel::locate(&cfg, root.clone(), &files.weights)?;
        let head = Head::new(&cfg, &root, &encoder_vb, names.len()).map_err(|e| {
            EngineError::bad_file(
                &files.weights,
                format!("classifier head: {e}; expected {EXPECTED}"),
            )
        })?;
        let tokenizer = EncoderTokenizer::load(&files.tokenizer, cfg.max_tokens(), &cfg)?;
        Ok(Self {
            model: BertModel::new(&cfg, encoder_vb).map_err(in_file(&files.weights))?,
            head,
            tokenizer,
            output,
            dir: dir.to_path_buf(),
        })
    }

    /// The folder this model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Which output is the reward.
    pub fn output(&self) -> &RewardOutput {
        &self.output
    }

    /// The longest input pair in tokens, special tokens included; longer pairs are truncated
    /// longest-first.
    pub fn max_seq_length(&self) -> usize {
        self.tokenizer.max_len()
    }

    /// The reward of each (prompt, response) pair, in padded batches of at most 32.
    ///
    /// # Errors
    /// When the tokenizer or the model fails.
    pub fn rewards<A: AsRef<str>, B: AsRef<str>>(&self, pairs: &[(A, B)]) -> Result<Vec<f64>> {
        let inputs: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.as_ref().to_string(), b.as_ref().to_string()))
            .collect();
        let encoded = self.tokenizer.encode(inputs)?;
        let mut out = vec![0.0; pairs.len()];
        let pad = self.model.config().pad_id();
        for batch in length_sorted_batches(&encoded, BATCH_SIZE) {
            let items: Vec<_> = batch.iter().map(|&i| &encoded[i]).collect();
            let b = pad_batch(&items, pad, self.model.device())?;
            let hidden = self
                .model
                .forward(&b.input_ids, &b.token_type_ids, &b.attention_mask)?;
            let first = hidden.narrow(1, 0, 1)?.squeeze(1)?;
            let rows: Vec<Vec<f32>> = self.head.forward(&first)?.to_vec2()?;
            for (&i, row) in batch.iter().zip(rows) {
                out[i] = match &self.output {
                    RewardOutput::Logit => f64::from(row[0]),
                    RewardOutput::Probability { index, .. } => softmax_at(&row, *index),
                };
            }
        }
        Ok(out)
    }
}

/// softmax(row)[i] in f64.
fn softmax_at(row: &[f32], i: usize) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = row.iter().map(|&x| (f64::from(x) - max).exp()).sum();
    (f64::from(row[i]) - max).exp() / sum
}

/// The label names of `id2label` in class order (transformers writes `LABEL_0` for a
/// one-output head).
fn label_names(cfg: &EncoderConfig) -> std::result::Result<Vec<String>, String> {
    let map = cfg
        .id2label
        .as_ref()
        .ok_or_else(|| format!("no id2label (so not a classifier); expected {EXPECTED}"))?;
    let mut names = vec![String::new(); map.len()];
    for (k, v) in map {
        let i: usize = k
            .parse()
            .map_err(|_| format!("id2label key \"{k}\" is not a class index"))?;
        let slot = names
            .get_mut(i)
            .ok_or_else(|| format!("id2label has {} labels but a key {i}", map.len()))?;
        slot.clone_from(v);
    }
    if names.is_empty() {
        return Err(format!("id2label is empty; expected {EXPECTED}"));
    }
    Ok(names)
}

/// The reward of a head with `names` classes: its logit when there is one, else the
/// probability of `label`.
fn reward_output(
    names: &[String],
    label: Option<&str>,
) -> std::result::Result<RewardOutput, String> {
    match (names.len(), label) {
        (1, None) => Ok(RewardOutput::Logit),
        (_, Some(want)) => names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(want))
            .map(|index| RewardOutput::Probability {
                index,
                label: names[index].clone(),
            })
            .ok_or_else(|| format!("no label \"{want}\" among {names:?}")),
        (_, None) => Err(format!(
            "the head has {} labels {names:?}: name the one whose probability is the reward \
             (model:DIR#LABEL), or use a one-output reward model (num_labels = 1)",
            names.len()
        )),
    }
}

/// Writes a loadable random-weight BERT (`model_type` "bert") or RoBERTa ("roberta") sequence
/// classifier with one output into `out` — `config.json`, `model.safetensors` and a
/// lower-casing character-level WordPiece `tokenizer.json` — for tests and examples of reward
/// models. Same seed, same files.
///
/// # Errors
/// When `model_type` is neither, or a file cannot be written.
pub fn write_random_reward_model(out: &Path, model_type: &str, seed: u64) -> Result<()> {
    use rand::SeedableRng;
    let roberta = match model_type {
        "bert" => false,
        "roberta" => true,
        other => {
            return Err(EngineError::Unsupported(format!(
                "random reward models are \"bert\" or \"roberta\", not \"{other}\""
            )))
        }
    };
    let vocab = wordpiece_vocab();
    let (h, inter, layers, heads) = (32usize, 64usize, 2usize, 4usize);
    // RoBERTa positions start after the padding id (0 here), so the table has one more row.
    let positions = if roberta { 65 } else { 64 };
    let config = json!({
        "architectures": [if roberta { "RobertaForSequenceClassification" } else { "BertForSequenceClassification" }],
        "model_type": model_type,
        "vocab_size": vocab.len(),
        "hidden_size": h,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "hidden_act": "gelu",
        "max_position_embeddings": positions,
        "type_vocab_size": if roberta { 1 } else { 2 },
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "id2label": {"0": "LABEL_0"},
        "label2id": {"LABEL_0": 0},
    });
    std::fs::create_dir_all(out).map_err(|source| EngineError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    write_json(&out.join("config.json"), &config)?;
    write_json(&out.join("tokenizer.json"), &wordpiece_tokenizer(&vocab))?;

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dev = Device::Cpu;
    let mut tensors = std::collections::HashMap::new();
    let mut put = |name: String, shape: &[usize], std: f32| -> Result<()> {
        let n = shape.iter().product();
        let mut values = crate::random_model::normal(&mut rng, n, std);
        if name.ends_with("LayerNorm.weight") {
            values.iter_mut().for_each(|x| *x += 1.0);
        }
        tensors.insert(name, Tensor::from_vec(values, shape, &dev)?);
        Ok(())
    };
    let p = if roberta { "roberta" } else { "bert" };
    let lin = |fan_in: usize| 1.0 / (fan_in as f32).sqrt();
    put(
        format!("{p}.embeddings.word_embeddings.weight"),
        &[vocab.len(), h],
        1.0,
    )?;
    put(
        format!("{p}.embeddings.position_embeddings.weight"),
        &[positions, h],
        1.0,
    )?;
    put(
        format!("{p}.embeddings.token_type_embeddings.weight"),
        &[if roberta { 1 } else { 2 }, h],
        1.0,
    )?;
    for part in ["weight", "bias"] {
        put(format!("{p}.embeddings.LayerNorm.{part}"), &[h], 0.1)?;
    }
    for i in 0..layers {
        let l = format!("{p}.encoder.layer.{i}");
        let dense = [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", h, inter),
            ("output.dense", inter, h),
        ];
        for (name, fan_in, fan_out) in dense {
            put(
                format!("{l}.{name}.weight"),
                &[fan_out, fan_in],
                lin(fan_in),
            )?;
            put(format!("{l}.{name}.bias"), &[fan_out], 0.1)?;
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            for part in ["weight", "bias"] {
                put(format!("{l}.{norm}.{part}"), &[h], 0.1)?;
            }
        }
    }
    let (inner, outer) = if roberta {
        ("classifier.dense".to_string(), "classifier.out_proj")
    } else {
        (format!("{p}.pooler.dense"), "classifier")
    };
    put(format!("{inner}.weight"), &[h, h], lin(h))?;
    put(format!("{inner}.bias"), &[h], 0.1)?;
    put(format!("{outer}.weight"), &[1, h], lin(h))?;
    put(format!("{outer}.bias"), &[1], 0.1)?;
    let path = out.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &path)
        .map_err(|e| EngineError::bad_file(&path, format!("writing: {e}")))
}

/// `[PAD] [UNK] [CLS] [SEP]`, then every lower-case letter, digit and common punctuation mark,
/// alone and as a `##` continuation: every lower-cased ASCII word has a tokenization.
fn wordpiece_vocab() -> Vec<String> {
    let mut v: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let chars: Vec<char> = ('a'..='z')
        .chain('0'..='9')
        .chain(".,!?'\"-:;()".chars())
        .collect();
    v.extend(chars.iter().map(char::to_string));
    v.extend(chars.iter().map(|c| format!("##{c}")));
    v
}

/// A BERT-style `tokenizer.json` over `vocab`, with the pair template
/// `[CLS] A [SEP] B [SEP]` (token types 0 then 1).
fn wordpiece_tokenizer(vocab: &[String]) -> Value {
    let special = |id: usize, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let ids: serde_json::Map<String, Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids}
    })
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| EngineError::bad_file(path, e))?;
    std::fs::write(path, text).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_output_is_a_logit_and_several_need_a_label() {
        assert_eq!(
            reward_output(&names(&["LABEL_0"]), None),
            Ok(RewardOutput::Logit)
        );
        assert_eq!(
            reward_output(&names(&["NEGATIVE", "POSITIVE"]), Some("positive")),
            Ok(RewardOutput::Probability {
                index: 1,
                label: "POSITIVE".into()
            })
        );
        let e = reward_output(&names(&["NEGATIVE", "POSITIVE"]), None).unwrap_err();
        assert!(
            e.contains("2 labels") && e.contains("model:DIR#LABEL"),
            "{e}"
        );
        let e = reward_output(&names(&["NEGATIVE", "POSITIVE"]), Some("neutral")).unwrap_err();
        assert!(e.contains("no label \"neutral\""), "{e}");
    }

    #[test]
    fn softmax_probability_by_hand() {
        // logits (ln 3, 0): probabilities 3/4 and 1/4.
        let row = [3f32.ln(), 0.0];
        assert!((softmax_at(&row, 0) - 0.75).abs() < 1e-7);
        assert!((softmax_at(&row, 1) - 0.25).abs() < 1e-7);
    }
}
