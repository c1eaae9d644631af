//! hedge's BERT-family encoder (BERT, RoBERTa, XLM-R) on candle-nn ops: post-LayerNorm
//! transformer layers over a padded `(batch, seq)` batch with an attention mask, returning the
//! last hidden states `(batch, seq, hidden)`.
//!
//! The tensors are read as transformers names them, with or without the `bert.` / `roberta.`
//! prefix that task checkpoints (`*ForSequenceClassification`) put in front of the encoder.

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Embedding, VarBuilder};

use super::config::{Activation, EncoderConfig, Flavor};
use crate::error::{EngineError, Result};
use crate::linear::Linear;

/// LayerNorm with weight and bias, as transformers' `nn.LayerNorm` (f32 statistics).
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    pub(crate) fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps: eps as f32,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm(
            &x.contiguous()?,
            &self.weight,
            &self.bias,
            self.eps,
        )?)
    }
}

#[derive(Debug, Clone)]
struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    norm: LayerNorm,
    n_heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    fn new(cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let s = vb.pp("self");
        let o = vb.pp("output");
        Ok(Self {
            query: Linear::new(h, h, true, s.pp("query"))?,
            key: Linear::new(h, h, true, s.pp("key"))?,
            value: Linear::new(h, h, true, s.pp("value"))?,
            output: Linear::new(h, h, true, o.pp("dense"))?,
            norm: LayerNorm::new(h, cfg.layer_norm_eps, o.pp("LayerNorm"))?,
            n_heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    /// `x`: `(b·t, hidden)`; `mask`: additive `(b, 1, 1, t)`.
    fn forward(&self, x: &Tensor, b: usize, t: usize, mask: &Tensor) -> Result<Tensor> {
        let (nh, hd) = (self.n_heads, self.head_dim);
        let heads = |y: Tensor| -> Result<Tensor> {
            Ok(y.reshape((b, t, nh, hd))?.transpose(1, 2)?.contiguous()?)
        };
        let q = heads(self.query.forward(x)?)?;
        let k = heads(self.key.forward(x)?)?;
        let v = heads(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(mask)?)?;
        let ctx = probs
            .matmul(&v)? // (b, nh, t, hd)
            .transpose(1, 2)?
            .reshape((b * t, nh * hd))?;
        self.norm.forward(&(self.output.forward(&ctx)? + x)?)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    attention: SelfAttention,
    intermediate: Linear,
    output: Linear,
    norm: LayerNorm,
    act: Activation,
}

impl Layer {
    fn new(cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            attention: SelfAttention::new(cfg, vb.pp("attention"))?,
            intermediate: Linear::new(h, i, true, vb.pp("intermediate").pp("dense"))?,
            output: Linear::new(i, h, true, vb.pp("output").pp("dense"))?,
            norm: LayerNorm::new(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            act: Activation::from_name(&cfg.hidden_act).map_err(EngineError::Unsupported)?,
        })
    }

    fn forward(&self, x: &Tensor, b: usize, t: usize, mask: &Tensor) -> Result<Tensor> {
        let x = self.attention.forward(x, b, t, mask)?;
        let h = self.intermediate.forward(&x)?;
        let h = match self.act {
            Activation::GeluErf => h.gelu_erf()?,
            Activation::GeluTanh => h.gelu()?,
            Activation::Relu => h.relu()?,
        };
        self.norm.forward(&(self.output.forward(&h)? + x)?)
    }
}

/// A BERT-family encoder: embeddings (word + position + token type, LayerNorm) and
/// `num_hidden_layers` post-LayerNorm transformer layers.
#[derive(Debug, Clone)]
pub struct BertModel {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    cfg: EncoderConfig,
    device: Device,
}

impl BertModel {
    /// Builds the encoder from tensors named as transformers names them (`embeddings.…`,
    /// `encoder.layer.0.…`), directly under `vb`: pass `vb.pp("bert")` for a prefixed checkpoint,
    /// or use [`BertModel::locate`].
    ///
    /// # Errors
    /// When a tensor is missing or has the wrong shape (candle's error names the tensor and both
    /// shapes), or the config asks for something unsupported.
    pub fn new(cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let e = vb.pp("embeddings");
        let table = |rows: usize, name: &str| -> Result<Embedding> {
            Ok(Embedding::new(e.pp(name).get((rows, h), "weight")?, h))
        };
        let word_embeddings = table(cfg.vocab_size, "word_embeddings")?;
        let position_embeddings = table(cfg.max_position_embeddings, "position_embeddings")?;
        let token_type_embeddings = table(cfg.type_vocab_size, "token_type_embeddings")?;
        let embeddings_norm = LayerNorm::new(h, cfg.layer_norm_eps, e.pp("LayerNorm"))?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, vb.pp(format!("encoder.layer.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings,
            position_embeddings,
            token_type_embeddings,
            embeddings_norm,
            layers,
            cfg: cfg.clone(),
            device: vb.device().clone(),
        })
    }

    /// The `VarBuilder` under which the encoder's tensors sit: the root (sentence-transformers
    /// folders, `BertModel` checkpoints) or `bert.` / `roberta.` (task checkpoints).
    ///
    /// # Errors
    /// When neither holds `embeddings.word_embeddings.weight`; the error names both names tried.
    pub fn locate<'a>(
        cfg: &EncoderConfig,
        vb: VarBuilder<'a>,
        weights: &std::path::Path,
    ) -> Result<VarBuilder<'a>> {
        const PROBE: &str = "embeddings.word_embeddings.weight";
        if vb.contains_tensor(PROBE) {
            return Ok(vb);
        }
        let prefixed = vb.pp(cfg.flavor().prefix());
        if prefixed.contains_tensor(PROBE) {
            return Ok(prefixed);
        }
        Err(EngineError::bad_file(
            weights,
            format!(
                "no tensor {PROBE} (nor {}.{PROBE}): not the weights of a {} encoder",
                cfg.flavor().prefix(),
                cfg.model_type
            ),
        ))
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Last hidden states `(batch, seq, hidden)` of a padded batch.
    ///
    /// `input_ids`, `token_type_ids`: `(batch, seq)` integer tensors; `attention_mask`:
    /// `(batch, seq)`, 1 for real tokens and 0 for padding. Position ids are 0..seq for BERT; for
    /// RoBERTa they count real tokens from `pad_token_id + 1` and padding sits at `pad_token_id`,
    /// as transformers' `create_position_ids_from_input_ids`.
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
        for (name, tensor) in [
            ("token_type_ids", token_type_ids),
            ("attention_mask", attention_mask),
        ] {
            if tensor.dims() != [b, t] {
                return Err(EngineError::InvalidParam {
                    name: "encoder input",
                    value: format!("{name} {:?} for input_ids {:?}", tensor.dims(), [b, t]),
                    allowed: "input_ids, token_type_ids and attention_mask must have one shape",
                });
            }
        }
        let ids: Vec<Vec<u32>> = input_ids.to_dtype(DType::U32)?.to_vec2()?;
        let types: Vec<Vec<u32>> = token_type_ids.to_dtype(DType::U32)?.to_vec2()?;
        let mask: Vec<Vec<f32>> = attention_mask.to_dtype(DType::F32)?.to_vec2()?;
        self.check_ids(&ids, &types)?;
        let positions = self.position_ids(&ids)?;

        let flat = |rows: Vec<Vec<u32>>| -> Result<Tensor> {
            let v: Vec<u32> = rows.into_iter().flatten().collect();
            Ok(Tensor::from_vec(v, b * t, &self.device)?)
        };
        let x = (self.word_embeddings.forward(&flat(ids)?)?
            + self.token_type_embeddings.forward(&flat(types)?)?)?;
        let x = (x + self.position_embeddings.forward(&flat(positions)?)?)?;
        let mut x = self.embeddings_norm.forward(&x)?;

        let additive: Vec<f32> = mask
            .iter()
            .flatten()
            .map(|&m| if m > 0.0 { 0.0 } else { f32::NEG_INFINITY })
            .collect();
        let additive = Tensor::from_vec(additive, (b, 1, 1, t), &self.device)?;
        for layer in &self.layers {
            x = layer.forward(&x, b, t, &additive)?;
        }
        Ok(x.reshape((b, t, self.cfg.hidden_size))?)
    }

    fn check_ids(&self, ids: &[Vec<u32>], types: &[Vec<u32>]) -> Result<()> {
        let checks = [
            (ids, self.cfg.vocab_size, "token id", "vocab_size"),
            (
                types,
                self.cfg.type_vocab_size,
                "token type id",
                "type_vocab_size",
            ),
        ];
        for (rows, limit, name, field) in checks {
            if let Some(&bad) = rows.iter().flatten().find(|&&v| v as usize >= limit) {
                return Err(EngineError::InvalidParam {
                    name,
                    value: bad.to_string(),
                    allowed: match field {
                        "vocab_size" => "token ids must be below the model's vocab_size (does tokenizer.json belong to this model?)",
                        _ => "token type ids must be below the model's type_vocab_size",
                    },
                });
            }
        }
        Ok(())
    }

    fn position_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<u32>>> {
        let t = ids.first().map_or(0, Vec::len);
        let limit = self.cfg.max_position_embeddings;
        let rows: Vec<Vec<u32>> = match self.cfg.flavor() {
            Flavor::Bert | Flavor::DebertaV2 => vec![(0..t as u32).collect(); ids.len()],
            Flavor::Roberta => {
                let pad = self.cfg.pad_id();
                ids.iter()
                    .map(|row| {
                        let mut n = 0u32;
                        row.iter()
                            .map(|&id| {
                                if id == pad {
                                    pad
                                } else {
                                    n += 1;
                                    pad + n
                                }
                            })
                            .collect()
                    })
                    .collect()
            }
        };
        if let Some(&p) = rows.iter().flatten().max() {
            if p as usize >= limit {
                return Err(EngineError::TooLong {
                    what: "the encoder input",
                    len: p as usize + 1 - self.cfg.position_offset(),
                    max: self.cfg.max_tokens(),
                });
            }
        }
        Ok(rows)
    }
}

/// Mean of the hidden states over the positions where `mask` is 1: `(batch, seq, hidden)` and
/// `(batch, seq)` to `(batch, hidden)`, as sentence-transformers' mean pooling.
///
/// # Errors
/// On a shape mismatch.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(D::Minus1)?;
    let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
    let count = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?;
    Ok(sum.broadcast_div(&count)?)
}

/// Each row divided by its L2 norm (at least 1e-12), as `torch.nn.functional.normalize`.
///
/// # Errors
/// On a shape failure.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::INFINITY)?;
    Ok(x.broadcast_div(&norm)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_ignores_padding_and_normalize_gives_unit_rows() {
        let dev = Device::Cpu;
        // batch 2, seq 3, hidden 2; the second row has one pad position holding garbage.
        let h = Tensor::new(
            &[
                [[1f32, 2.], [3., 4.], [5., 6.]],
                [[2., 0.], [0., 2.], [100., 100.]],
            ],
            &dev,
        )
        .unwrap();
        let m = Tensor::new(&[[1u32, 1, 1], [1, 1, 0]], &dev).unwrap();
        let pooled: Vec<Vec<f32>> = mean_pool(&h, &m).unwrap().to_vec2().unwrap();
        assert_eq!(pooled, vec![vec![3.0, 4.0], vec![1.0, 1.0]]);
        let unit: Vec<Vec<f32>> = l2_normalize(&mean_pool(&h, &m).unwrap())
            .unwrap()
            .to_vec2()
            .unwrap();
        assert!((unit[0][0] - 0.6).abs() < 1e-6 && (unit[0][1] - 0.8).abs() < 1e-6);
        let zero = Tensor::zeros((1, 2), DType::F32, &dev).unwrap();
        let z: Vec<Vec<f32>> = l2_normalize(&zero).unwrap().to_vec2().unwrap();
        assert_eq!(z, vec![vec![0.0, 0.0]], "a zero row stays zero, no NaN");
    }
}
