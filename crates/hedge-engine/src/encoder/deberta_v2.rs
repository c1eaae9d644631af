//! hedge's DeBERTa-v2/v3 encoder (`model_type` "deberta-v2") on candle ops, for NLI
//! cross-encoders such as cross-encoder/nli-deberta-v3-base: disentangled self-attention
//! (content→content, content→position "c2p" and position→content "p2c" scores over relative
//! positions, log-bucketed when `position_buckets` is set), as transformers'
//! `modeling_deberta_v2.py` computes it.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, VarBuilder};
use serde::Deserialize;

use super::bert::LayerNorm;
use super::config::{Activation, EncoderConfig};
use crate::error::{EngineError, Result};
use crate::linear::Linear;

/// `pos_att_type`: a list (`["p2c", "c2p"]`) or, in older configs, a string (`"p2c|c2p"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum PosAttType {
    List(Vec<String>),
    Joined(String),
}

fn yes() -> bool {
    true
}
fn minus_one() -> i64 {
    -1
}
fn none_str() -> String {
    "none".to_string()
}
fn gelu() -> String {
    "gelu".to_string()
}

/// The DeBERTa-specific fields of `config.json` (the common ones are in [`EncoderConfig`]).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DebertaV2Fields {
    #[serde(default)]
    relative_attention: bool,
    #[serde(default = "minus_one")]
    max_relative_positions: i64,
    #[serde(default = "minus_one")]
    position_buckets: i64,
    #[serde(default)]
    pos_att_type: Option<PosAttType>,
    #[serde(default)]
    share_att_key: bool,
    #[serde(default = "none_str")]
    norm_rel_ebd: String,
    #[serde(default = "yes")]
    position_biased_input: bool,
    #[serde(default)]
    conv_kernel_size: usize,
    #[serde(default)]
    embedding_size: Option<usize>,
    #[serde(default)]
    pub(crate) pooler_hidden_size: Option<usize>,
    #[serde(default = "gelu")]
    pub(crate) pooler_hidden_act: String,
}

impl DebertaV2Fields {
    /// Reads the DeBERTa fields of the `config.json` at `path`.
    pub(crate) fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = crate::checkpoint::read_text(path)?;
        let f: Self = serde_json::from_str(&text).map_err(|e| EngineError::bad_file(path, e))?;
        if f.conv_kernel_size > 0 {
            return Err(EngineError::bad_file(
                path,
                format!(
                    "conv_kernel_size {} (the convolution of DeBERTa-v2 xlarge/xxlarge) is not \
                     supported; DeBERTa-v3 checkpoints (no convolution) are",
                    f.conv_kernel_size
                ),
            ));
        }
        for t in f.att_types() {
            if t != "c2p" && t != "p2c" {
                return Err(EngineError::bad_file(
                    path,
                    format!("pos_att_type \"{t}\" is not supported; supported: c2p, p2c"),
                ));
            }
        }
        Activation::from_name(&f.pooler_hidden_act).map_err(|m| EngineError::bad_file(path, m))?;
        Ok(f)
    }

    fn att_types(&self) -> Vec<String> {
        match &self.pos_att_type {
            None => Vec::new(),
            Some(PosAttType::List(v)) => v.iter().map(|s| s.trim().to_lowercase()).collect(),
            Some(PosAttType::Joined(s)) => s
                .to_lowercase()
                .split('|')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty() && x != "none")
                .collect(),
        }
    }
}

fn activate(act: Activation, x: &Tensor) -> Result<Tensor> {
    Ok(match act {
        Activation::GeluErf => x.gelu_erf()?,
        Activation::GeluTanh => x.gelu()?,
        Activation::Relu => x.relu()?,
    })
}

/// The relative-position geometry shared by every layer.
#[derive(Debug, Clone, Copy)]
struct Relative {
    /// `pos_ebd_size`: half the number of relative embeddings used.
    span: usize,
    buckets: i64,
    max_positions: i64,
    c2p: bool,
    p2c: bool,
}

impl Relative {
    /// transformers' `make_log_bucket_position` on one relative position, in f32 as torch
    /// computes it.
    fn bucket(self, rel: i64) -> i64 {
        if self.buckets <= 0 || self.max_positions <= 0 {
            return rel;
        }
        let mid = self.buckets / 2;
        let abs = if rel < mid && rel > -mid {
            mid - 1
        } else {
            rel.abs()
        };
        if abs <= mid {
            return rel;
        }
        let denom = (((self.max_positions - 1) as f64 / mid as f64) as f32).ln();
        let log_pos =
            ((abs as f32 / mid as f32).ln() / denom * (mid - 1) as f32).ceil() + mid as f32;
        log_pos as i64 * rel.signum()
    }

    /// The c2p and p2c gather indices `(t, t)`: clamp(±rel(i, j) + span, 0, 2·span − 1).
    fn indices(self, t: usize, device: &Device) -> Result<(Tensor, Tensor)> {
        let top = 2 * self.span as i64 - 1;
        let mut c2p = Vec::with_capacity(t * t);
        let mut p2c = Vec::with_capacity(t * t);
        for i in 0..t as i64 {
            for j in 0..t as i64 {
                let r = self.bucket(i - j);
                c2p.push((r + self.span as i64).clamp(0, top) as u32);
                p2c.push((-r + self.span as i64).clamp(0, top) as u32);
            }
        }
        Ok((
            Tensor::from_vec(c2p, (t, t), device)?,
            Tensor::from_vec(p2c, (t, t), device)?,
        ))
    }
}

#[derive(Debug, Clone)]
struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    /// `pos_key_proj` / `pos_query_proj`; with `share_att_key` the content projections serve.
    pos_key: Option<Linear>,
    pos_query: Option<Linear>,
    output: Linear,
    norm: LayerNorm,
    n_heads: usize,
    head_dim: usize,
}

/// What a layer's attention needs besides its input.
struct Context<'a> {
    b: usize,
    t: usize,
    /// `(b, 1, t, t)`, 1 where query i and key j are both real tokens.
    mask: &'a Tensor,
    rel: Relative,
    /// The relative embeddings `(2·span, hidden)`, normalised when the config says so.
    rel_embeddings: &'a Tensor,
    /// `(b, heads, t, t)` gather indices.
    c2p_index: &'a Tensor,
    p2c_index: &'a Tensor,
}

impl Attention {
    fn new(cfg: &EncoderConfig, f: &DebertaV2Fields, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let s = vb.pp("self");
        let o = vb.pp("output");
        let types = f.att_types();
        let separate = f.relative_attention && !f.share_att_key;
        let pos = |name: &str, kind: &str| -> Result<Option<Linear>> {
            if separate && types.iter().any(|t| t == kind) {
                Ok(Some(Linear::new(h, h, true, s.pp(name))?))
            } else {
                Ok(None)
            }
        };
        Ok(Self {
            query: Linear::new(h, h, true, s.pp("query_proj"))?,
            key: Linear::new(h, h, true, s.pp("key_proj"))?,
            value: Linear::new(h, h, true, s.pp("value_proj"))?,
            pos_key: pos("pos_key_proj", "c2p")?,
            pos_query: pos("pos_query_proj", "p2c")?,
            output: Linear::new(h, h, true, o.pp("dense"))?,
            norm: LayerNorm::new(h, cfg.layer_norm_eps, o.pp("LayerNorm"))?,
            n_heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    /// `x`: `(b·t, hidden)`.
    fn forward(&self, x: &Tensor, c: &Context) -> Result<Tensor> {
        let (nh, hd, b, t) = (self.n_heads, self.head_dim, c.b, c.t);
        let heads = |y: Tensor, rows: usize, batch: usize| -> Result<Tensor> {
            Ok(y.reshape((batch, rows, nh, hd))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = heads(self.query.forward(x)?, t, b)?;
        let k = heads(self.key.forward(x)?, t, b)?;
        let v = heads(self.value.forward(x)?, t, b)?;
        let factor = 1 + usize::from(c.rel.c2p) + usize::from(c.rel.p2c);
        let scale = ((hd * factor) as f32).sqrt() as f64;
        let mut scores = q.matmul(&(k.t()? / scale)?)?;
        let positions = c.rel_embeddings.dim(0)?;
        if c.rel.c2p {
            let proj = self.pos_key.as_ref().unwrap_or(&self.key);
            let pos_k = heads(proj.forward(c.rel_embeddings)?, positions, 1)?; // (1, nh, 2s, hd)
            let att = q.broadcast_matmul(&pos_k.t()?)?; // (b, nh, t, 2s)
            let att = att.contiguous()?.gather(c.c2p_index, 3)?;
            scores = (scores + (att / scale)?)?;
        }
        if c.rel.p2c {
            let proj = self.pos_query.as_ref().unwrap_or(&self.query);
            let pos_q = heads(proj.forward(c.rel_embeddings)?, positions, 1)?;
            let att = k.broadcast_matmul(&pos_q.t()?)?; // (b, nh, t_k, 2s)
            let att = att.contiguous()?.gather(c.p2c_index, 3)?.transpose(2, 3)?;
            scores = (scores + (att / scale)?)?;
        }
        // masked_fill with the float minimum, as transformers: a padded query row stays finite.
        let floor = Tensor::new(f32::MIN, x.device())?.broadcast_as(scores.shape())?;
        let scores = c
            .mask
            .broadcast_as(scores.shape())?
            .where_cond(&scores, &floor)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b * t, nh * hd))?;
        self.norm.forward(&(self.output.forward(&ctx)? + x)?)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    attention: Attention,
    intermediate: Linear,
    output: Linear,
    norm: LayerNorm,
    act: Activation,
}

impl Layer {
    fn new(cfg: &EncoderConfig, f: &DebertaV2Fields, vb: VarBuilder) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            attention: Attention::new(cfg, f, vb.pp("attention"))?,
            intermediate: Linear::new(h, i, true, vb.pp("intermediate").pp("dense"))?,
            output: Linear::new(i, h, true, vb.pp("output").pp("dense"))?,
            norm: LayerNorm::new(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            act: Activation::from_name(&cfg.hidden_act).map_err(EngineError::Unsupported)?,
        })
    }

    fn forward(&self, x: &Tensor, c: &Context) -> Result<Tensor> {
        let x = self.attention.forward(x, c)?;
        let h = activate(self.act, &self.intermediate.forward(&x)?)?;
        self.norm.forward(&(self.output.forward(&h)? + x)?)
    }
}

/// A DeBERTa-v2/v3 encoder: embeddings (word, optionally absolute position and token type,
/// a projection when `embedding_size` differs, LayerNorm) and disentangled-attention layers.
#[derive(Debug, Clone)]
pub struct DebertaV2Model {
    word_embeddings: Embedding,
    position_embeddings: Option<Embedding>,
    token_type_embeddings: Option<Embedding>,
    embed_proj: Option<Linear>,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    /// `(2·span, hidden)`, already LayerNorm-ed when `norm_rel_ebd` says so; `None` without
    /// relative attention.
    rel_embeddings: Option<Tensor>,
    rel: Relative,
    cfg: EncoderConfig,
    device: Device,
}

impl DebertaV2Model {
    /// Builds the encoder from tensors under `vb` (`embeddings.…`, `encoder.layer.0.…`): pass
    /// `vb.pp("deberta")` for a task checkpoint.
    ///
    /// # Errors
    /// When a tensor is missing or has the wrong shape (candle's error names it and both
    /// shapes).
    pub(crate) fn new(cfg: &EncoderConfig, f: &DebertaV2Fields, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let emb = f.embedding_size.unwrap_or(h);
        let e = vb.pp("embeddings");
        let table = |rows: usize, name: &str| -> Result<Embedding> {
            Ok(Embedding::new(e.pp(name).get((rows, emb), "weight")?, emb))
        };
        let position_embeddings = if f.position_biased_input {
            Some(table(cfg.max_position_embeddings, "position_embeddings")?)
        } else {
            None
        };
        let token_type_embeddings = if cfg.type_vocab_size > 0 {
            Some(table(cfg.type_vocab_size, "token_type_embeddings")?)
        } else {
            None
        };
        let embed_proj = if emb == h {
            None
        } else {
            Some(Linear::new(emb, h, false, e.pp("embed_proj"))?)
        };
        let types = f.att_types();
        let max_positions = if f.max_relative_positions < 1 {
            cfg.max_position_embeddings as i64
        } else {
            f.max_relative_positions
        };
        let span = if f.position_buckets > 0 {
            f.position_buckets
        } else {
            max_positions
        } as usize;
        let rel = Relative {
            span,
            buckets: f.position_buckets,
            max_positions,
            c2p: f.relative_attention && types.iter().any(|t| t == "c2p"),
            p2c: f.relative_attention && types.iter().any(|t| t == "p2c"),
        };
        let enc = vb.pp("encoder");
        let rel_embeddings = if f.relative_attention {
            let table = enc.pp("rel_embeddings").get((2 * span, h), "weight")?;
            let normed = f
                .norm_rel_ebd
                .to_lowercase()
                .split('|')
                .any(|s| s.trim() == "layer_norm");
            Some(if normed {
                LayerNorm::new(h, cfg.layer_norm_eps, enc.pp("LayerNorm"))?.forward(&table)?
            } else {
                table
            })
        } else {
            None
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, f, enc.pp(format!("layer.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings: table(cfg.vocab_size, "word_embeddings")?,
            position_embeddings,
            token_type_embeddings,
            embed_proj,
            embeddings_norm: LayerNorm::new(h, cfg.layer_norm_eps, e.pp("LayerNorm"))?,
            layers,
            rel_embeddings,
            rel,
            cfg: cfg.clone(),
            device: vb.device().clone(),
        })
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Last hidden states `(batch, seq, hidden)` of a padded batch; the inputs as
    /// [`super::BertModel::forward`]'s (token types are ignored when `type_vocab_size` is 0).
    ///
    /// # Errors
    /// When the shapes disagree, a sequence is longer than the position table, or an id is
    /// outside its embedding table.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        if token_type_ids.dims() != [b, t] || attention_mask.dims() != [b, t] {
            return Err(EngineError::InvalidParam {
                name: "encoder input",
                value: format!(
                    "token_type_ids {:?}, attention_mask {:?} for input_ids {:?}",
                    token_type_ids.dims(),
                    attention_mask.dims(),
                    [b, t]
                ),
                allowed: "input_ids, token_type_ids and attention_mask must have one shape",
            });
        }
        if t > self.cfg.max_position_embeddings {
            return Err(EngineError::TooLong {
                what: "the encoder input",
                len: t,
                max: self.cfg.max_position_embeddings,
            });
        }
        let ids = input_ids.to_dtype(DType::U32)?;
        if let Some(&bad) = ids
            .flatten_all()?
            .to_vec1::<u32>()?
            .iter()
            .find(|&&v| v as usize >= self.cfg.vocab_size)
        {
            return Err(EngineError::InvalidParam {
                name: "token id",
                value: bad.to_string(),
                allowed: "token ids must be below the model's vocab_size (does tokenizer.json belong to this model?)",
            });
        }
        let flat_ids = ids.flatten_all()?;
        let mut x = self.word_embeddings.forward(&flat_ids)?;
        if let Some(pos) = &self.position_embeddings {
            let p: Vec<u32> = (0..b).flat_map(|_| 0..t as u32).collect();
            x = (x + pos.forward(&Tensor::from_vec(p, b * t, &self.device)?)?)?;
        }
        if let Some(types) = &self.token_type_embeddings {
            let ty = token_type_ids.to_dtype(DType::U32)?.flatten_all()?;
            x = (x + types.forward(&ty)?)?;
        }
        if let Some(proj) = &self.embed_proj {
            x = proj.forward(&x)?;
        }
        let mask = attention_mask.to_dtype(DType::F32)?;
        let x = self.embeddings_norm.forward(&x)?;
        let mut x = x.broadcast_mul(&mask.flatten_all()?.unsqueeze(1)?)?;

        let m = mask.to_dtype(DType::U8)?;
        let pair_mask = m
            .unsqueeze(2)?
            .broadcast_mul(&m.unsqueeze(1)?)?
            .unsqueeze(1)?; // (b, 1, t, t)
        let (c2p, p2c) = self.rel.indices(t, &self.device)?;
        let nh = self.cfg.num_attention_heads;
        let expand = |ix: Tensor| -> Result<Tensor> {
            Ok(ix
                .unsqueeze(0)?
                .unsqueeze(0)?
                .broadcast_as((b, nh, t, t))?
                .contiguous()?)
        };
        let empty = Tensor::zeros((0, self.cfg.hidden_size), DType::F32, &self.device)?;
        let ctx = Context {
            b,
            t,
            mask: &pair_mask,
            rel: if self.rel_embeddings.is_some() {
                self.rel
            } else {
                Relative {
                    c2p: false,
                    p2c: false,
                    ..self.rel
                }
            },
            rel_embeddings: self.rel_embeddings.as_ref().unwrap_or(&empty),
            c2p_index: &expand(c2p)?,
            p2c_index: &expand(p2c)?,
        };
        for layer in &self.layers {
            x = layer.forward(&x, &ctx)?;
        }
        Ok(x.reshape((b, t, self.cfg.hidden_size))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buckets_follow_transformers() {
        // position_buckets 8 (mid 4), max_relative_positions 64: |rel| ≤ 4 is kept, beyond it
        // ceil(ln(|rel|/4) / ln(63/4) · 3) + 4, signed.
        let r = Relative {
            span: 8,
            buckets: 8,
            max_positions: 64,
            c2p: true,
            p2c: true,
        };
        let by_hand =
            |a: i64| ((a as f64 / 4.0).ln() / (63.0f64 / 4.0).ln() * 3.0).ceil() as i64 + 4;
        for rel in -4..=4 {
            assert_eq!(r.bucket(rel), rel);
        }
        for a in [5, 6, 10, 30, 63, 200] {
            assert_eq!(r.bucket(a), by_hand(a), "{a}");
            assert_eq!(r.bucket(-a), -by_hand(a), "{a}");
        }
        let plain = Relative { buckets: -1, ..r };
        assert_eq!(plain.bucket(-37), -37);
    }

    #[test]
    fn pos_att_type_reads_lists_and_joined_strings() {
        let parse = |s: &str| -> Vec<String> {
            serde_json::from_str::<DebertaV2Fields>(s)
                .unwrap()
                .att_types()
        };
        assert_eq!(parse(r#"{"pos_att_type": ["p2c", "c2p"]}"#), ["p2c", "c2p"]);
        assert_eq!(parse(r#"{"pos_att_type": "p2c|c2p"}"#), ["p2c", "c2p"]);
        assert!(parse(r#"{"pos_att_type": null}"#).is_empty());
        assert!(parse("{}").is_empty());
    }
}
