//! The training forward pass of hedge-engine's llama decoder, and its seeded initialisation.
//!
//! [`hedge_engine::Llama`] is built for inference: its RMSNorm, softmax and rotary embedding are
//! candle's fused kernels, which have no backward pass, so a loss computed through it sends
//! gradients only to the output projection. [`TrainModel`] is the same network, read from the same
//! tensor names, with those three (and SwiGLU) as fused kernels that do have one
//! ([`super::ops`]), and attention batched over sequences of equal length. A saved [`TrainModel`] loads through `hedge_engine::LocalModel` and
//! gives the same logits (the tests check it to 1e-5).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::VarBuilder;
use hedge_engine::random_model::normal;
use hedge_engine::rope::Rope;
use hedge_engine::Config;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::data::Batch;
use super::ops;
use crate::error::Result;

/// The standard deviation of the initial linear and embedding weights (GPT-2, Llama).
pub const INIT_STD: f32 = 0.02;

/// How a parameter starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Init {
    Normal,
    Ones,
    Zeros,
}

/// Every parameter of a llama-family config: Hugging Face name, shape, initialisation; in
/// checkpoint order (embedding, layers, final norm, head).
fn param_specs(cfg: &Config) -> Result<Vec<(String, Vec<usize>, Init)>> {
    let (d, inter, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let (h, kvh, hd) = (cfg.num_attention_heads, cfg.num_kv_heads(), cfg.head_dim());
    let (qkv_bias, o_bias) = cfg.biases()?;
    let mut specs = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![v, d],
        Init::Normal,
    )];
    let linear = |specs: &mut Vec<_>, name: String, out_dim: usize, in_dim: usize, bias| {
        if bias {
            specs.push((format!("{name}.bias"), vec![out_dim], Init::Zeros));
        }
        specs.push((
            format!("{name}.weight"),
            vec![out_dim, in_dim],
            Init::Normal,
        ));
    };
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        specs.push((format!("{p}.input_layernorm.weight"), vec![d], Init::Ones));
        linear(
            &mut specs,
            format!("{p}.self_attn.q_proj"),
            h * hd,
            d,
            qkv_bias,
        );
        linear(
            &mut specs,
            format!("{p}.self_attn.k_proj"),
            kvh * hd,
            d,
            qkv_bias,
        );
        linear(
            &mut specs,
            format!("{p}.self_attn.v_proj"),
            kvh * hd,
            d,
            qkv_bias,
        );
        linear(
            &mut specs,
            format!("{p}.self_attn.o_proj"),
            d,
            h * hd,
            o_bias,
        );
        specs.push((
            format!("{p}.post_attention_layernorm.weight"),
            vec![d],
            Init::Ones,
        ));
        linear(
            &mut specs,
            format!("{p}.mlp.gate_proj"),
            inter,
            d,
            cfg.mlp_bias,
        );
        linear(
            &mut specs,
            format!("{p}.mlp.up_proj"),
            inter,
            d,
            cfg.mlp_bias,
        );
        linear(
            &mut specs,
            format!("{p}.mlp.down_proj"),
            d,
            inter,
            cfg.mlp_bias,
        );
    }
    specs.push(("model.norm.weight".to_string(), vec![d], Init::Ones));
    if !cfg.tie_word_embeddings {
        specs.push(("lm_head.weight".to_string(), vec![v, d], Init::Normal));
    }
    Ok(specs)
}

/// The trainable parameters of a model, as candle `Var`s sorted by name (so that every sum over
/// them runs in the same order, and training is bit-for-bit reproducible).
#[derive(Debug, Clone)]
pub struct Params {
    vars: Vec<(String, Var)>,
}

impl Params {
    /// Seeded initialisation: linear and embedding weights N(0, [`INIT_STD`]), norm weights 1,
    /// biases 0.
    ///
    /// # Errors
    /// When the config describes something the decoder does not support.
    pub fn init(cfg: &Config, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dev = Device::Cpu;
        let mut vars = Vec::new();
        for (name, shape, init) in param_specs(cfg)? {
            let n: usize = shape.iter().product();
            let values = match init {
                Init::Normal => normal(&mut rng, n, INIT_STD),
                Init::Ones => vec![1.0; n],
                Init::Zeros => vec![0.0; n],
            };
            let var = Var::from_tensor(&Tensor::from_vec(values, shape, &dev)?)?;
            vars.push((name, var));
        }
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self { vars })
    }

    /// The parameters and their names, sorted by name.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// The number of scalar parameters.
    pub fn count(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// A copy of the current values, by Hugging Face name (for saving).
    ///
    /// # Errors
    /// Only on a device failure.
    pub fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        self.vars
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?.detach())))
            .collect()
    }

    /// Overwrites every parameter with the tensor of the same name in `values`.
    ///
    /// # Errors
    /// When a tensor is missing or has another shape (the error names it).
    pub fn set(&self, values: &HashMap<String, Tensor>) -> Result<()> {
        for (name, var) in &self.vars {
            let value = values
                .get(name)
                .ok_or_else(|| candle_core::Error::CannotFindTensor { path: name.clone() })?;
            if value.dims() != var.dims() {
                return Err(candle_core::Error::UnexpectedShape {
                    msg: format!("shape mismatch for {name}"),
                    expected: var.shape().clone(),
                    got: value.shape().clone(),
                }
                .into());
            }
            var.set(&value.to_dtype(DType::F32)?)?;
        }
        Ok(())
    }

    /// A `VarBuilder` over the live parameters: models built from it train them.
    pub fn var_builder(&self) -> VarBuilder<'static> {
        let map: HashMap<String, Tensor> = self
            .vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        VarBuilder::from_tensors(map, DType::F32, &Device::Cpu)
    }
}

/// y = x Wᵀ + b for `(N, in)` rows.
#[derive(Debug, Clone)]
struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    fn new(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get((out_dim, in_dim), "weight")?,
            bias: if bias {
                Some(vb.get(out_dim, "bias")?)
            } else {
                None
            },
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight.t()?)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

#[derive(Debug, Clone)]
struct Layer {
    input_layernorm: Tensor,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    post_attention_layernorm: Tensor,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Layer {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (d, i) = (cfg.hidden_size, cfg.intermediate_size);
        let (h, kvh, hd) = (cfg.num_attention_heads, cfg.num_kv_heads(), cfg.head_dim());
        let (qkv_bias, o_bias) = cfg.biases()?;
        let (a, m) = (vb.pp("self_attn"), vb.pp("mlp"));
        Ok(Self {
            input_layernorm: vb.pp("input_layernorm").get(d, "weight")?,
            q_proj: Linear::new(d, h * hd, qkv_bias, a.pp("q_proj"))?,
            k_proj: Linear::new(d, kvh * hd, qkv_bias, a.pp("k_proj"))?,
            v_proj: Linear::new(d, kvh * hd, qkv_bias, a.pp("v_proj"))?,
            o_proj: Linear::new(h * hd, d, o_bias, a.pp("o_proj"))?,
            post_attention_layernorm: vb.pp("post_attention_layernorm").get(d, "weight")?,
            gate_proj: Linear::new(d, i, cfg.mlp_bias, m.pp("gate_proj"))?,
            up_proj: Linear::new(d, i, cfg.mlp_bias, m.pp("up_proj"))?,
            down_proj: Linear::new(i, d, cfg.mlp_bias, m.pp("down_proj"))?,
        })
    }
}

/// hedge-engine's llama decoder with a differentiable forward pass (see the module docs).
#[derive(Debug, Clone)]
pub struct TrainModel {
    embed_tokens: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Tensor,
    rope: Rope,
    cfg: Config,
    device: Device,
}

impl TrainModel {
    /// Builds the model from tensors named as in Hugging Face checkpoints, as
    /// [`hedge_engine::Llama::new`] does; with a builder from [`Params::var_builder`] the model
    /// trains those parameters.
    ///
    /// # Errors
    /// When a tensor is missing or has the wrong shape, or the config asks for something
    /// unsupported.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let m = vb.pp("model");
        let (d, v) = (cfg.hidden_size, cfg.vocab_size);
        let embed_tokens = m.pp("embed_tokens").get((v, d), "weight")?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, m.pp(format!("layers.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let lm_head = if cfg.tie_word_embeddings {
            embed_tokens.clone()
        } else {
            vb.pp("lm_head").get((v, d), "weight")?
        };
        Ok(Self {
            embed_tokens,
            layers,
            norm: m.pp("norm").get(d, "weight")?,
            lm_head,
            rope: Rope::new(cfg)?,
            cfg: cfg.clone(),
            device: vb.device().clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The residual stream after the last layer, `(b·t, hidden)`, for `ids` of `b` rows of `t`.
    fn hidden(&self, ids: &[u32], b: usize, t: usize) -> Result<Tensor> {
        let cfg = &self.cfg;
        let (h, kvh, hd) = (cfg.num_attention_heads, cfg.num_kv_heads(), cfg.head_dim());
        let n_rep = h / kvh;
        let eps = cfg.rms_norm_eps as f32;
        let scale = 1.0 / (hd as f32).sqrt();
        let window = cfg.window()?;
        let positions: Vec<usize> = (0..t).collect();
        let (cos, sin) = self.rope.cos_sin(&positions, &self.device)?;
        let ids = Tensor::from_vec(ids.to_vec(), b * t, &self.device)?;
        let mut x = self.embed_tokens.index_select(&ids, 0)?;
        for layer in &self.layers {
            let xn = ops::rms_norm(&x, &layer.input_layernorm, eps)?;
            let q = layer.q_proj.forward(&xn)?.reshape((b, t, h, hd))?;
            let k = layer.k_proj.forward(&xn)?.reshape((b, t, kvh, hd))?;
            let v = layer.v_proj.forward(&xn)?.reshape((b, t, kvh, hd))?;
            let q = ops::rope(&q, &cos, &sin)?.transpose(1, 2)?.contiguous()?;
            let k = ops::rope(&k, &cos, &sin)?.transpose(1, 2)?.contiguous()?;
            let v = v.transpose(1, 2)?.contiguous()?;
            // Query heads sharing a kv head are stacked along the rows, as in the engine.
            let qg = q.reshape((b, kvh, n_rep * t, hd))?;
            let scores = qg.matmul(&k.t()?)?;
            let probs = ops::causal_softmax(&scores, scale, window)?;
            let attn = probs
                .matmul(&v)?
                .reshape((b, h, t, hd))?
                .transpose(1, 2)?
                .reshape((b * t, h * hd))?;
            let x1 = (&x + layer.o_proj.forward(&attn)?)?;
            let xn = ops::rms_norm(&x1, &layer.post_attention_layernorm, eps)?;
            let gate = layer.gate_proj.forward(&xn)?;
            let up = layer.up_proj.forward(&xn)?;
            x = (x1 + layer.down_proj.forward(&ops::swiglu(&gate, &up)?)?)?;
        }
        Ok(x)
    }

    /// Logits of rows of the residual stream.
    fn head(&self, x: &Tensor) -> Result<Tensor> {
        let eps = self.cfg.rms_norm_eps as f32;
        let x = ops::rms_norm(x, &self.norm, eps)?;
        Ok(x.matmul(&self.lm_head.t()?)?)
    }

    /// Full causal forward of a `(batch, seq)` tensor of token ids: logits `(batch, seq, vocab)`
    /// at every position, as [`hedge_engine::Llama::forward`].
    ///
    /// # Errors
    /// On a shape or device failure.
    pub fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let ids: Vec<u32> = input_ids.to_dtype(DType::U32)?.flatten_all()?.to_vec1()?;
        let logits = self.head(&self.hidden(&ids, b, t)?)?;
        Ok(logits.reshape((b, t, self.cfg.vocab_size))?)
    }

    /// The mean cross-entropy of the batch's counted targets (a scalar; 0 when none counts).
    /// Only the counted positions go through the final norm and the vocabulary projection.
    ///
    /// # Errors
    /// On a shape or device failure.
    pub fn loss(&self, batch: &Batch) -> Result<Tensor> {
        let x = self.hidden(&batch.inputs, batch.batch_size, batch.seq_len)?;
        let (rows, targets): (Vec<u32>, Vec<u32>) = batch
            .mask
            .iter()
            .zip(&batch.targets)
            .enumerate()
            .filter(|(_, (&m, _))| m)
            .map(|(i, (_, &t))| (i as u32, t))
            .unzip();
        if rows.is_empty() {
            return Ok(Tensor::zeros((), DType::F32, &self.device)?);
        }
        let n = rows.len();
        let x = x.index_select(&Tensor::from_vec(rows, n, &self.device)?, 0)?;
        cross_entropy(&self.head(&x)?, &targets)
    }
}

/// The mean cross-entropy of `(n, vocab)` logits against `n` target ids, differentiable.
///
/// # Errors
/// When the shapes disagree.
pub fn cross_entropy(logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let n = targets.len();
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let targets = Tensor::from_vec(targets.to_vec(), (n, 1), logits.device())?;
    let picked = log_probs.gather(&targets, 1)?;
    Ok((picked.sum_all()? * (-1.0 / n as f64))?)
}
