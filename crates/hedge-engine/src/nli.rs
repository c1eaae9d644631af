//! `NliModel`: an NLI cross-encoder (a BERT, RoBERTa or DeBERTa-v2/v3 sequence classifier such
//! as cross-encoder/nli-roberta-base or cross-encoder/nli-deberta-v3-base) that reads a
//! (premise, hypothesis) pair and gives the probabilities of entailment, neutral and
//! contradiction, for the `nli` similarity backend (METHODS.md §3: logits softmaxed at T = 3).
//!
//! The classifier heads are transformers': `RobertaClassificationHead` (dense, tanh, out_proj on
//! the `<s>` state), `BertForSequenceClassification`'s pooler (dense, tanh on `[CLS]`) and
//! classifier, and `DebertaV2ForSequenceClassification`'s `ContextPooler` (dense,
//! `pooler_hidden_act` on `[CLS]`) and classifier. Class order comes from `id2label` in `config.json`, read case-insensitively.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;

use crate::encoder::deberta_v2::DebertaV2Fields;
use crate::encoder::input::{length_sorted_batches, pad_batch, EncoderTokenizer, BATCH_SIZE};
use crate::encoder::Activation;
use crate::encoder::{
    in_file, require_dir, BertModel, DebertaV2Model, EncoderConfig, EncoderFiles, Flavor,
};
use crate::error::{EngineError, Result};
use crate::linear::Linear;

/// The softmax temperature of the `nli` similarity backend (METHODS.md §3).
pub const NLI_TEMPERATURE: f64 = 3.0;

/// What an NLI folder is expected to be, for error messages.
const EXPECTED: &str =
    "an NLI cross-encoder: a BERT, RoBERTa or DeBERTa-v2/v3 *ForSequenceClassification \
     checkpoint whose id2label has entailment, neutral and contradiction (e.g. \
     cross-encoder/nli-roberta-base, cross-encoder/nli-deberta-v3-base)";

/// Which class index holds each NLI label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NliLabels {
    pub entailment: usize,
    /// Absent in two-way (entailment / contradiction) classifiers.
    pub neutral: Option<usize>,
    pub contradiction: usize,
}

/// The classifier on top of the encoder's first-token state.
#[derive(Debug, Clone)]
enum Head {
    /// `RobertaClassificationHead`: `classifier.dense`, tanh, `classifier.out_proj`.
    Roberta { dense: Linear, out_proj: Linear },
    /// `BertForSequenceClassification`: `bert.pooler.dense`, tanh, `classifier`.
    Bert { pooler: Linear, classifier: Linear },
    /// `DebertaV2ForSequenceClassification`: `pooler.dense`, `pooler_hidden_act`, `classifier`.
    Deberta {
        pooler: Linear,
        act: Activation,
        classifier: Linear,
    },
}

impl Head {
    fn new(
        cfg: &EncoderConfig,
        deberta: Option<&DebertaV2Fields>,
        root: &VarBuilder,
        encoder: &VarBuilder,
        n: usize,
    ) -> Result<Self> {
        let h = cfg.hidden_size;
        if let Some(f) = deberta {
            let p = f.pooler_hidden_size.unwrap_or(h);
            return Ok(Head::Deberta {
                pooler: Linear::new(h, p, true, root.pp("pooler").pp("dense"))?,
                act: Activation::from_name(&f.pooler_hidden_act)
                    .map_err(EngineError::Unsupported)?,
                classifier: Linear::new(p, n, true, root.pp("classifier"))?,
            });
        }
        Ok(match cfg.flavor() {
            Flavor::Roberta => {
                let c = root.pp("classifier");
                Head::Roberta {
                    dense: Linear::new(h, h, true, c.pp("dense"))?,
                    out_proj: Linear::new(h, n, true, c.pp("out_proj"))?,
                }
            }
            Flavor::Bert | Flavor::DebertaV2 => Head::Bert {
                pooler: Linear::new(h, h, true, encoder.pp("pooler").pp("dense"))?,
                classifier: Linear::new(h, n, true, root.pp("classifier"))?,
            },
        })
    }

    /// `first`: `(batch, hidden)` states of the first token; returns `(batch, num_labels)`.
    fn forward(&self, first: &Tensor) -> Result<Tensor> {
        let (inner, outer, act) = match self {
            Head::Roberta { dense, out_proj } => (dense, out_proj, None),
            Head::Bert { pooler, classifier } => (pooler, classifier, None),
            Head::Deberta {
                pooler,
                act,
                classifier,
            } => (pooler, classifier, Some(*act)),
        };
        let pooled = inner.forward(first)?;
        let pooled = match act {
            None => pooled.tanh()?,
            Some(Activation::GeluErf) => pooled.gelu_erf()?,
            Some(Activation::GeluTanh) => pooled.gelu()?,
            Some(Activation::Relu) => pooled.relu()?,
        };
        outer.forward(&pooled)
    }
}

/// The encoder under the classifier.
#[derive(Debug, Clone)]
enum Body {
    Bert(BertModel),
    Deberta(DebertaV2Model),
}

impl Body {
    fn forward(&self, ids: &Tensor, types: &Tensor, mask: &Tensor) -> Result<Tensor> {
        match self {
            Body::Bert(m) => m.forward(ids, types, mask),
            Body::Deberta(m) => m.forward(ids, types, mask),
        }
    }

    fn config(&self) -> &EncoderConfig {
        match self {
            Body::Bert(m) => m.config(),
            Body::Deberta(m) => m.config(),
        }
    }

    fn device(&self) -> &Device {
        match self {
            Body::Bert(m) => m.device(),
            Body::Deberta(m) => m.device(),
        }
    }
}

/// An NLI cross-encoder.
#[derive(Debug, Clone)]
pub struct NliModel {
    model: Body,
    head: Head,
    tokenizer: EncoderTokenizer,
    labels: NliLabels,
    label_names: Vec<String>,
    dir: PathBuf,
}

impl NliModel {
    /// Loads a sequence-classification folder (`config.json` with `id2label`,
    /// `model.safetensors`, `tokenizer.json`) on the CPU.
    ///
    /// # Errors
    /// When a file is missing or malformed (the error names it); when the folder is not an NLI
    /// classifier (a decoder, a bare encoder, a classifier without entailment and contradiction
    /// labels) or its `model_type` is unsupported, the error says what was expected.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_on(dir, &Device::Cpu)
    }

    /// [`NliModel::load`] on `device`.
    ///
    /// # Errors
    /// As [`NliModel::load`].
    pub fn load_on(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
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
        let (labels, label_names) = nli_labels(cfg.id2label.as_ref())
            .map_err(|m| EngineError::bad_file(&config_path, m))?;
        let root = files.vb;
        let encoder_vb = BertModel::locate(&cfg, root.clone(), &files.weights)?;
        let deberta = match cfg.flavor() {
            Flavor::DebertaV2 => Some(DebertaV2Fields::from_file(&config_path)?),
            _ => None,
        };
        let head = Head::new(
            &cfg,
            deberta.as_ref(),
            &root,
            &encoder_vb,
            label_names.len(),
        )
        .map_err(|e| {
            EngineError::bad_file(
                &files.weights,
                format!("classifier head: {e}; expected {EXPECTED}"),
            )
        })?;
        let tokenizer = EncoderTokenizer::load(&files.tokenizer, cfg.max_tokens(), &cfg)?;
        let model = match &deberta {
            Some(f) => DebertaV2Model::new(&cfg, f, encoder_vb).map(Body::Deberta),
            None => BertModel::new(&cfg, encoder_vb).map(Body::Bert),
        }
        .map_err(in_file(&files.weights))?;
        Ok(Self {
            model,
            head,
            tokenizer,
            labels,
            label_names,
            dir: dir.to_path_buf(),
        })
    }

    /// The folder this model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Which class index holds entailment, neutral and contradiction.
    pub fn labels(&self) -> NliLabels {
        self.labels
    }

    /// The label names of `config.json`'s `id2label`, in class order.
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }

    /// The longest input pair in tokens, special tokens included; longer pairs are truncated
    /// longest-first.
    pub fn max_seq_length(&self) -> usize {
        self.tokenizer.max_len()
    }

    /// The token ids of each (premise, hypothesis) pair, special tokens included, truncated.
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn token_ids<A: AsRef<str>, B: AsRef<str>>(
        &self,
        pairs: &[(A, B)],
    ) -> Result<Vec<Vec<u32>>> {
        Ok(self
            .tokenizer
            .encode(pair_inputs(pairs))?
            .into_iter()
            .map(|e| e.ids)
            .collect())
    }

    /// The raw logits of each pair, in `config.json`'s class order.
    ///
    /// # Errors
    /// When the tokenizer or the model fails.
    pub fn logits<A: AsRef<str>, B: AsRef<str>>(&self, pairs: &[(A, B)]) -> Result<Vec<Vec<f32>>> {
        let encoded = self.tokenizer.encode(pair_inputs(pairs))?;
        let mut out = vec![Vec::new(); pairs.len()];
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
                out[i] = row;
            }
        }
        Ok(out)
    }

    /// softmax(logits / `temperature`) of each pair, as `[entailment, neutral, contradiction]`
    /// (neutral is 0 for a two-way classifier).
    ///
    /// # Errors
    /// When `temperature` is not a positive finite number, or the model fails.
    pub fn predict<A: AsRef<str>, B: AsRef<str>>(
        &self,
        pairs: &[(A, B)],
        temperature: f64,
    ) -> Result<Vec<[f32; 3]>> {
        Ok(self
            .probabilities(pairs, temperature)?
            .into_iter()
            .map(|p| p.map(|x| x as f32))
            .collect())
    }

    fn probabilities<A: AsRef<str>, B: AsRef<str>>(
        &self,
        pairs: &[(A, B)],
        temperature: f64,
    ) -> Result<Vec<[f64; 3]>> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(EngineError::InvalidParam {
                name: "temperature",
                value: temperature.to_string(),
                allowed: "the NLI softmax temperature must be a positive number (METHODS: 3)",
            });
        }
        let l = self.labels;
        Ok(self
            .logits(pairs)?
            .iter()
            .map(|row| {
                let p = softmax(row, temperature);
                [
                    p[l.entailment],
                    l.neutral.map_or(0.0, |n| p[n]),
                    p[l.contradiction],
                ]
            })
            .collect())
    }
}

fn pair_inputs<A: AsRef<str>, B: AsRef<str>>(pairs: &[(A, B)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.as_ref().to_string(), b.as_ref().to_string()))
        .collect()
}

/// softmax(x / t) in f64.
fn softmax(x: &[f32], t: f64) -> Vec<f64> {
    let z: Vec<f64> = x.iter().map(|&v| f64::from(v) / t).collect();
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// The NLI labels of `id2label`, and every label name in class order.
fn nli_labels(
    id2label: Option<&BTreeMap<String, String>>,
) -> std::result::Result<(NliLabels, Vec<String>), String> {
    let map = id2label.ok_or_else(|| format!("no id2label; expected {EXPECTED}"))?;
    let mut names = vec![None; map.len()];
    for (k, v) in map {
        let i: usize = k
            .parse()
            .map_err(|_| format!("id2label key \"{k}\" is not a class index"))?;
        let slot = names
            .get_mut(i)
            .ok_or_else(|| format!("id2label has {} labels but a key {i}", map.len()))?;
        *slot = Some(v.clone());
    }
    let names: Vec<String> = names.into_iter().map(Option::unwrap_or_default).collect();
    let find = |want: &str| names.iter().position(|n| n.eq_ignore_ascii_case(want));
    match (find("entailment"), find("contradiction")) {
        (Some(entailment), Some(contradiction)) => Ok((
            NliLabels {
                entailment,
                neutral: find("neutral"),
                contradiction,
            },
            names,
        )),
        _ => Err(format!(
            "id2label {names:?} has no entailment and contradiction labels; expected {EXPECTED}"
        )),
    }
}

/// The probabilities `[entailment, neutral, contradiction]` of each (premise, hypothesis) pair at
/// the `nli` backend's temperature T = 3 (METHODS.md §3).
///
/// # Errors
/// When the model fails.
pub fn nli_probabilities<A: AsRef<str>, B: AsRef<str>>(
    model: &NliModel,
    pairs: &[(A, B)],
) -> Result<Vec<[f64; 3]>> {
    model.probabilities(pairs, NLI_TEMPERATURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> std::result::Result<(NliLabels, Vec<String>), String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        nli_labels(Some(&map))
    }

    #[test]
    fn labels_are_read_case_insensitively_in_any_order() {
        let (l, names) = labels(&[
            ("0", "contradiction"),
            ("1", "entailment"),
            ("2", "neutral"),
        ])
        .unwrap();
        assert_eq!(
            l,
            NliLabels {
                entailment: 1,
                neutral: Some(2),
                contradiction: 0
            }
        );
        assert_eq!(names, ["contradiction", "entailment", "neutral"]);
        let (l, _) = labels(&[
            ("0", "ENTAILMENT"),
            ("1", "Neutral"),
            ("2", "CONTRADICTION"),
        ])
        .unwrap();
        assert_eq!((l.entailment, l.neutral, l.contradiction), (0, Some(1), 2));
        let (l, _) = labels(&[("1", "entailment"), ("0", "contradiction")]).unwrap();
        assert_eq!(l.neutral, None);
    }

    #[test]
    fn non_nli_labels_say_what_was_expected() {
        let err = labels(&[("0", "LABEL_0"), ("1", "LABEL_1")]).unwrap_err();
        assert!(
            err.contains("entailment") && err.contains("LABEL_0"),
            "{err}"
        );
        assert!(nli_labels(None).unwrap_err().contains("no id2label"));
        assert!(labels(&[("0", "entailment"), ("5", "contradiction")])
            .unwrap_err()
            .contains("key 5"));
    }

    #[test]
    fn softmax_at_temperature_by_hand() {
        // Equal logits: uniform whatever the temperature.
        assert_eq!(softmax(&[2.0, 2.0], 3.0), vec![0.5, 0.5]);
        // logits (ln 4, 0) at T = 1: 4/5 and 1/5; at T = 2: (2, 1) / 3.
        let ln4 = 4f32.ln();
        let p1 = softmax(&[ln4, 0.0], 1.0);
        let p2 = softmax(&[ln4, 0.0], 2.0);
        assert!((p1[0] - 0.8).abs() < 1e-6 && (p2[0] - 2.0 / 3.0).abs() < 1e-6);
    }
}
