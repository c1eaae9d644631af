//! `SentenceEncoder`: sentence embeddings from a sentence-transformers folder (or a bare
//! Hugging Face BERT/RoBERTa folder), as `SentenceTransformer.encode` computes them: tokens
//! truncated to `max_seq_length`, the encoder over padded batches, mean pooling over the real
//! tokens, L2 normalisation.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::Deserialize;

use super::bert::{l2_normalize, mean_pool, BertModel};
use super::input::{length_sorted_batches, pad_batch, EncoderTokenizer, BATCH_SIZE};
use super::{in_file, require_dir, EncoderFiles};
use crate::checkpoint::read_text;
use crate::error::{EngineError, Result};

/// How token states become one sentence vector (sentence-transformers' `Pooling` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean over real (non-pad) tokens: all-MiniLM-L6-v2 and most sentence-transformers.
    Mean,
    /// The first token (`[CLS]` / `<s>`).
    Cls,
    /// The element-wise maximum over real tokens.
    Max,
}

/// One entry of sentence-transformers' `modules.json`.
#[derive(Debug, Deserialize)]
struct Module {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `1_Pooling/config.json`.
#[derive(Debug, Default, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

/// `sentence_bert_config.json`.
#[derive(Debug, Default, Deserialize)]
struct SentenceBertConfig {
    #[serde(default)]
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

/// A sentence embedding model: a BERT-family encoder, its tokenizer, and its pooling.
#[derive(Debug, Clone)]
pub struct SentenceEncoder {
    model: BertModel,
    tokenizer: EncoderTokenizer,
    pooling: Pooling,
    lowercase: bool,
    dir: PathBuf,
}

impl SentenceEncoder {
    /// Loads a sentence-transformers folder (`modules.json`, the transformer's `config.json`,
    /// `model.safetensors`, `tokenizer.json`, optional `sentence_bert_config.json` and
    /// `1_Pooling/config.json`) or a bare BERT/RoBERTa folder (mean pooling, truncation at
    /// `max_position_embeddings`), on the CPU.
    ///
    /// # Errors
    /// When a file is missing or malformed (the error names it), or the folder holds a decoder or
    /// another model that is not a supported encoder (the error says what was expected).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_on(dir, &Device::Cpu)
    }

    /// [`SentenceEncoder::load`] on `device`.
    ///
    /// # Errors
    /// As [`SentenceEncoder::load`].
    pub fn load_on(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let root = dir.as_ref();
        require_dir(
            root,
            "a sentence-transformers folder such as all-MiniLM-L6-v2",
        )?;
        let (transformer_dir, pooling_dir) = read_modules(root)?;
        let pooling = match pooling_dir {
            Some(p) => read_pooling(&p.join("config.json"))?,
            None => Pooling::Mean,
        };
        // sentence-transformers keeps it beside the transformer's config.json.
        let st_config = [transformer_dir.as_path(), root]
            .into_iter()
            .map(|d| d.join("sentence_bert_config.json"))
            .find(|p| p.is_file());
        let st: SentenceBertConfig = match &st_config {
            Some(p) => {
                serde_json::from_str(&read_text(p)?).map_err(|e| EngineError::bad_file(p, e))?
            }
            None => SentenceBertConfig::default(),
        };
        let files = EncoderFiles::open(&transformer_dir, device)?;
        let cfg = files.cfg;
        if cfg.flavor() == super::Flavor::DebertaV2 {
            return Err(EngineError::bad_file(
                transformer_dir.join("config.json"),
                "a DeBERTa-v2 model: hedge runs DeBERTa as an NLI cross-encoder (--similarity nli), \
                 not as a sentence encoder; expected a sentence-transformers folder such as all-MiniLM-L6-v2",
            ));
        }
        let max_len = st
            .max_seq_length
            .map_or(cfg.max_tokens(), |m| m.min(cfg.max_tokens()));
        let tokenizer = EncoderTokenizer::load(&files.tokenizer, max_len, &cfg)?;
        let vb = BertModel::locate(&cfg, files.vb, &files.weights)?;
        Ok(Self {
            model: BertModel::new(&cfg, vb).map_err(in_file(&files.weights))?,
            tokenizer,
            pooling,
            lowercase: st.do_lower_case,
            dir: root.to_path_buf(),
        })
    }

    /// The folder this encoder was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The longest input in tokens, special tokens included; longer texts are truncated.
    pub fn max_seq_length(&self) -> usize {
        self.tokenizer.max_len()
    }

    /// The length of an embedding.
    pub fn dim(&self) -> usize {
        self.model.config().hidden_size
    }

    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    pub fn model(&self) -> &BertModel {
        &self.model
    }

    /// The token ids each text is encoded to, special tokens included, after truncation.
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn token_ids<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        Ok(self
            .tokenizer
            .encode(self.inputs(texts))?
            .into_iter()
            .map(|e| e.ids)
            .collect())
    }

    fn inputs<S: AsRef<str>>(&self, texts: &[S]) -> Vec<String> {
        texts
            .iter()
            .map(|t| {
                if self.lowercase {
                    t.as_ref().to_lowercase()
                } else {
                    t.as_ref().to_string()
                }
            })
            .collect()
    }

    /// One L2-normalised embedding per text, in input order. Texts are run in batches of up to
    /// 32, longest first, each padded to its longest member (padding changes nothing: it is
    /// masked out of attention and pooling).
    ///
    /// # Errors
    /// When the tokenizer or the model fails.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let encoded = self.tokenizer.encode(self.inputs(texts))?;
        let mut out = vec![Vec::new(); texts.len()];
        let pad = self.model.config().pad_id();
        for batch in length_sorted_batches(&encoded, BATCH_SIZE) {
            let items: Vec<_> = batch.iter().map(|&i| &encoded[i]).collect();
            let b = pad_batch(&items, pad, self.model.device())?;
            let hidden = self
                .model
                .forward(&b.input_ids, &b.token_type_ids, &b.attention_mask)?;
            let pooled = pool(self.pooling, &hidden, &b.attention_mask)?;
            let rows: Vec<Vec<f32>> = l2_normalize(&pooled)?.to_vec2()?;
            for (&i, row) in batch.iter().zip(rows) {
                out[i] = row;
            }
        }
        Ok(out)
    }
}

fn pool(pooling: Pooling, hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    Ok(match pooling {
        Pooling::Mean => mean_pool(hidden, mask)?,
        Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
        Pooling::Max => {
            // Padding is set to -1e9 so it never wins, as sentence-transformers does.
            let keep = mask
                .to_dtype(hidden.dtype())?
                .unsqueeze(candle_core::D::Minus1)?;
            let drop = ((1.0 - &keep)? * -1e9)?;
            hidden.broadcast_mul(&keep)?.broadcast_add(&drop)?.max(1)?
        }
    })
}

/// The transformer's folder and the pooling module's folder, from `modules.json` when present.
fn read_modules(root: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    let path = root.join("modules.json");
    if !path.is_file() {
        let pooling = Some(root.join("1_Pooling")).filter(|p| p.join("config.json").is_file());
        return Ok((root.to_path_buf(), pooling));
    }
    let modules: Vec<Module> =
        serde_json::from_str(&read_text(&path)?).map_err(|e| EngineError::bad_file(&path, e))?;
    let find = |suffix: &str| {
        modules
            .iter()
            .find(|m| m.kind.ends_with(suffix))
            .map(|m| root.join(&m.path))
    };
    let transformer = find("models.Transformer").ok_or_else(|| {
        EngineError::bad_file(
            &path,
            "no sentence_transformers.models.Transformer module: not a transformer sentence encoder",
        )
    })?;
    Ok((transformer, find("models.Pooling")))
}

fn read_pooling(path: &Path) -> Result<Pooling> {
    let cfg: PoolingConfig =
        serde_json::from_str(&read_text(path)?).map_err(|e| EngineError::bad_file(path, e))?;
    let unsupported = [
        (
            cfg.pooling_mode_mean_sqrt_len_tokens,
            "mean_sqrt_len_tokens",
        ),
        (cfg.pooling_mode_weightedmean_tokens, "weightedmean_tokens"),
        (cfg.pooling_mode_lasttoken, "lasttoken"),
    ];
    let chosen = [
        cfg.pooling_mode_mean_tokens,
        cfg.pooling_mode_cls_token,
        cfg.pooling_mode_max_tokens,
    ];
    if let Some((_, name)) = unsupported.iter().find(|(on, _)| *on) {
        return Err(EngineError::bad_file(
            path,
            format!("pooling_mode_{name} is not supported; supported: one of mean_tokens, cls_token, max_tokens"),
        ));
    }
    match chosen {
        [true, false, false] | [false, false, false] => Ok(Pooling::Mean),
        [false, true, false] => Ok(Pooling::Cls),
        [false, false, true] => Ok(Pooling::Max),
        _ => Err(EngineError::bad_file(
            path,
            "several pooling modes at once (concatenated) are not supported; supported: one of mean_tokens, cls_token, max_tokens",
        )),
    }
}

/// The `embedding` similarity backend (METHODS.md §3): the m×m matrix
/// W_ij = max(0, cos(e_i, e_j)) of the texts' normalised embeddings, with W_ii = 1.
///
/// # Errors
/// When encoding fails.
pub fn embedding_similarity<S: AsRef<str>>(
    encoder: &SentenceEncoder,
    texts: &[S],
) -> Result<Vec<Vec<f64>>> {
    let e = encoder.encode(texts)?;
    let m = e.len();
    let mut w = vec![vec![0.0; m]; m];
    for i in 0..m {
        w[i][i] = 1.0;
        for j in i + 1..m {
            let s = cosine(&e[i], &e[j]).clamp(0.0, 1.0);
            w[i][j] = s;
            w[j][i] = s;
        }
    }
    Ok(w)
}

/// cos(a, b) in f64; 0 when either vector is zero.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        dot / (aa.sqrt() * bb.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_by_hand() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        assert_eq!(cosine(&[1.0, 0.0], &[-1.0, 0.0]), -1.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn pooling_modes_from_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let cases = [
            (r#"{"pooling_mode_mean_tokens": true}"#, Ok(Pooling::Mean)),
            (r#"{"pooling_mode_cls_token": true}"#, Ok(Pooling::Cls)),
            (r#"{"pooling_mode_max_tokens": true}"#, Ok(Pooling::Max)),
            (r#"{"pooling_mode_lasttoken": true}"#, Err("lasttoken")),
            (
                r#"{"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": true}"#,
                Err("several"),
            ),
        ];
        for (json, want) in cases {
            std::fs::write(&path, json).unwrap();
            match (read_pooling(&path), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{e}"),
                (got, w) => panic!("{json}: got {got:?}, want {w:?}"),
            }
        }
    }
}
