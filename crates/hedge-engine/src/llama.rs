//! hedge's llama-family decoder (Llama, Qwen2, Mistral, SmolLM) on candle-nn ops.
//!
//! Unlike candle-transformers' models it returns logits at every position when asked, keeps one
//! [`KvCache`] per sequence, and runs a batch of sequences of different lengths at different
//! positions in one call: the tokens of all sequences are packed into one `(T, hidden)` matrix for
//! the projections and the MLP, and only attention runs per sequence.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, VarBuilder};

use crate::config::Config;
use crate::error::{EngineError, Result};
use crate::kv_cache::KvCache;
use crate::linear::Linear;
use crate::rope::Rope;

mod decode_attention;
#[cfg(target_arch = "x86_64")]
mod decode_scores;
mod swiglu;

/// RMSNorm in f32, as transformers' `LlamaRMSNorm`.
#[derive(Debug, Clone)]
struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints_dtype(size, "weight", Default::default(), DType::F32)?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::rms_norm(x, &self.weight, self.eps)?)
    }
}

/// Projections that read the same input, kept apart (training) or stacked into one (inference).
#[derive(Debug, Clone)]
enum Projections {
    Separate(Vec<Linear>),
    Fused { all: Linear, sizes: Vec<usize> },
}

impl Projections {
    fn new(parts: Vec<Linear>) -> Result<Self> {
        let refs: Vec<&Linear> = parts.iter().collect();
        Ok(match Linear::fuse(&refs)? {
            Some(all) => Projections::Fused {
                all,
                sizes: parts.iter().map(Linear::out_dim).collect::<Result<_>>()?,
            },
            None => Projections::Separate(parts),
        })
    }

    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        match self {
            Projections::Separate(parts) => parts.iter_mut().collect(),
            Projections::Fused { all, .. } => vec![all],
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        match self {
            Projections::Separate(parts) => parts.iter().map(|l| l.forward(x)).collect(),
            Projections::Fused { all, sizes } => {
                let y = all.forward(x)?;
                let mut start = 0;
                sizes
                    .iter()
                    .map(|&n| {
                        let part = y.narrow(1, start, n)?;
                        start += n;
                        Ok(part)
                    })
                    .collect()
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Attention {
    qkv: Projections,
    o_proj: Linear,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    window: Option<usize>,
}

impl Attention {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (qkv_bias, o_bias) = cfg.biases()?;
        let (h, kvh, hd) = (cfg.num_attention_heads, cfg.num_kv_heads(), cfg.head_dim());
        Ok(Self {
            qkv: Projections::new(vec![
                Linear::new(cfg.hidden_size, h * hd, qkv_bias, vb.pp("q_proj"))?,
                Linear::new(cfg.hidden_size, kvh * hd, qkv_bias, vb.pp("k_proj"))?,
                Linear::new(cfg.hidden_size, kvh * hd, qkv_bias, vb.pp("v_proj"))?,
            ])?,
            o_proj: Linear::new(h * hd, cfg.hidden_size, o_bias, vb.pp("o_proj"))?,
            n_heads: h,
            n_kv_heads: kvh,
            head_dim: hd,
            window: cfg.window()?,
        })
    }

    /// `x`: `(T, hidden)` packed over the sequences; `spans[i]` = (start row, length, past length).
    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        spans: &[Span],
        caches: &mut [Option<&mut KvCache>],
        layer: usize,
    ) -> Result<Tensor> {
        let total = x.dim(0)?;
        let (h, kvh, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let qkv = self.qkv.forward(x)?;
        let q = qkv[0].reshape((1, total, h, hd))?;
        let k = qkv[1].reshape((1, total, kvh, hd))?;
        let v = qkv[2].reshape((total, kvh, hd))?;
        let q = candle_nn::rotary_emb::rope_thd(&q, cos, sin)?.squeeze(0)?;
        let k = candle_nn::rotary_emb::rope_thd(&k, cos, sin)?.squeeze(0)?;
        if let Some(out) = self.decode_step(&q, &k, &v, spans, caches, layer)? {
            return self.o_proj.forward(&out);
        }
        let mut outs = Vec::with_capacity(spans.len());
        for (span, cache) in spans.iter().zip(caches.iter_mut()) {
            let t = span.len;
            // (t, heads, hd) -> (heads, t, hd)
            let qi = q.narrow(0, span.start, t)?.transpose(0, 1)?.contiguous()?;
            let ki = k.narrow(0, span.start, t)?.transpose(0, 1)?.contiguous()?;
            let vi = v.narrow(0, span.start, t)?.transpose(0, 1)?.contiguous()?;
            let (keys, values) = match cache {
                Some(c) => c.append(layer, &ki, &vi)?,
                None => (ki, vi),
            };
            outs.push(self.attend(&qi, &keys, &values, span)?);
        }
        let out = if outs.len() == 1 {
            outs.pop().unwrap_or_else(|| unreachable!())
        } else {
            Tensor::cat(&outs, 0)?
        };
        self.o_proj.forward(&out)
    }

    /// One sequence's queries `qi` `(heads, t, hd)` over its keys and values
    /// `(kv_heads, kv_len, hd)`: `(t, heads · hd)`.
    fn attend(&self, qi: &Tensor, keys: &Tensor, values: &Tensor, span: &Span) -> Result<Tensor> {
        let (h, kvh, hd, t) = (self.n_heads, self.n_kv_heads, self.head_dim, span.len);
        let n_rep = h / kvh;
        let scale = 1.0 / (hd as f64).sqrt();
        let kv_len = keys.dim(1)?;
        // Query heads sharing a kv head are stacked along the rows: no copy of k and v.
        let qg = qi.reshape((kvh, n_rep * t, hd))?;
        let scores = (qg.matmul(&keys.t()?)? * scale)?;
        let scores = match causal_mask(t, span.past, kv_len, self.window, qi.device())? {
            Some(mask) => scores
                .reshape((kvh, n_rep, t, kv_len))?
                .broadcast_add(&mask)?
                .reshape((kvh, n_rep * t, kv_len))?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(values)?; // (kvh, n_rep*t, hd)
        Ok(out
            .reshape((h, t, hd))?
            .transpose(0, 1)?
            .reshape((t, h * hd))?)
    }

    /// Decoding: up to [`DECODE_MAX_TOKENS`] new tokens per sequence (one when sampling, a
    /// draft's γ + 1 when verifying), every sequence with a cache, f32 on the CPU. Appends each
    /// token's key and value, then attends for every token in one pass ([`decode_attention`]),
    /// each over the positions up to its own: a token's output is the same whether it came alone
    /// or in a block. `None` (nothing appended) for any other batch.
    fn decode_step(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        spans: &[Span],
        caches: &mut [Option<&mut KvCache>],
        layer: usize,
    ) -> Result<Option<Tensor>> {
        let decoding = spans
            .iter()
            .all(|s| (1..=DECODE_MAX_TOKENS).contains(&s.len))
            && caches.iter().all(Option::is_some)
            && q.device().is_cpu()
            && q.dtype() == DType::F32;
        if !decoding {
            return Ok(None);
        }
        let (h, kvh, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let (k, v) = (k.contiguous()?, v.contiguous()?);
        let mut cached = Vec::with_capacity(spans.len());
        for (span, cache) in spans.iter().zip(caches.iter_mut()) {
            let Some(cache) = cache else {
                return Ok(None);
            };
            let kv = cache.append_rows(layer, (&k, &v), span.start, span.len)?;
            // Token i of the span, at position past + i, sees the positions up to its own (and
            // none before its window).
            for i in 0..span.len {
                let visible = span.past + i + 1;
                let first_visible = self.window.map_or(0, |w| visible.saturating_sub(w));
                let kv = if i + 1 == span.len {
                    kv.clone()
                } else {
                    kv.narrow(visible)?
                };
                cached.push(decode_attention::Cached { kv, first_visible });
            }
        }
        let q_rows: Vec<f32> = q.flatten_all()?.to_vec1()?;
        let heads = decode_attention::Heads {
            n_heads: h,
            n_kv_heads: kvh,
            head_dim: hd,
        };
        let out = match decode_attention::attend_one_token(&q_rows, &cached, heads)? {
            Some(out) => Tensor::from_vec(out, (cached.len(), h * hd), q.device())?,
            // A cache in a layout the fast pass does not read: the general attention over the
            // keys and values already appended.
            None => {
                let mut outs = Vec::with_capacity(cached.len());
                for (row, c) in cached.iter().enumerate() {
                    let qi = q.narrow(0, row, 1)?.reshape((h, 1, hd))?;
                    let one = Span {
                        start: row,
                        len: 1,
                        past: c.kv.len().saturating_sub(1),
                    };
                    // Never empty: this step's own key was just appended.
                    let Some((keys, values)) = c.kv.joined()? else {
                        unreachable!("the step's key and value are cached")
                    };
                    outs.push(self.attend(&qi, &keys, &values, &one)?);
                }
                Tensor::cat(&outs, 0)?
            }
        };
        Ok(Some(out))
    }
}

/// The additive mask of `t` queries at positions `past..past+t` over `kv_len` keys, or `None` when
/// nothing is masked (one query, no window).
fn causal_mask(
    t: usize,
    past: usize,
    kv_len: usize,
    window: Option<usize>,
    device: &Device,
) -> Result<Option<Tensor>> {
    let windowed = window.is_some_and(|w| kv_len > w);
    if t == 1 && !windowed {
        return Ok(None);
    }
    let mut m = vec![0f32; t * kv_len];
    for i in 0..t {
        let qpos = past + i;
        for (j, cell) in m[i * kv_len..(i + 1) * kv_len].iter_mut().enumerate() {
            let future = j > qpos;
            let outside = window.is_some_and(|w| qpos - j.min(qpos) >= w);
            if future || outside {
                *cell = f32::NEG_INFINITY;
            }
        }
    }
    Ok(Some(Tensor::from_vec(m, (t, kv_len), device)?))
}

/// Up to this many bytes of weight matrices, a model's weights stay in the caches of a server CPU
/// from one decoding step to the next (the lab models: 3 and 8 MB).
const IN_CACHE_BYTES: usize = 32 << 20;

/// Most new tokens of a sequence that attend in the decoding pass; longer spans (a prompt's
/// prefill) take the general path of batched matrix products.
const DECODE_MAX_TOKENS: usize = 16;

#[derive(Debug, Clone)]
struct Mlp {
    gate_up: Projections,
    down_proj: Linear,
}

impl Mlp {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let (d, i, b) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        Ok(Self {
            gate_up: Projections::new(vec![
                Linear::new(d, i, b, vb.pp("gate_proj"))?,
                Linear::new(d, i, b, vb.pp("up_proj"))?,
            ])?,
            down_proj: Linear::new(i, d, b, vb.pp("down_proj"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if let Projections::Fused { all, sizes } = &self.gate_up {
            if let &[i, j] = &sizes[..] {
                let y = all.forward(x)?;
                // Inference only: the one-pass activation has no backward.
                if i == j && !y.track_op() {
                    if let Some(h) = swiglu::silu_times_up(&y, i)? {
                        return self.down_proj.forward(&h);
                    }
                }
                let gate = candle_nn::ops::silu(&y.narrow(1, 0, i)?)?;
                return self.down_proj.forward(&(gate * y.narrow(1, i, j)?)?);
            }
        }
        let gate_up = self.gate_up.forward(x)?;
        let gate = candle_nn::ops::silu(&gate_up[0])?;
        self.down_proj.forward(&(gate * &gate_up[1])?)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

impl Layer {
    fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            input_layernorm: RmsNorm::new(
                cfg.hidden_size,
                cfg.rms_norm_eps,
                vb.pp("input_layernorm"),
            )?,
            self_attn: Attention::new(cfg, vb.pp("self_attn"))?,
            post_attention_layernorm: RmsNorm::new(
                cfg.hidden_size,
                cfg.rms_norm_eps,
                vb.pp("post_attention_layernorm"),
            )?,
            mlp: Mlp::new(cfg, vb.pp("mlp"))?,
        })
    }
}

/// Where one sequence's tokens sit in the packed batch.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
    past: usize,
}

/// Which positions' logits a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitsAt {
    /// Every input position: teacher-forced scoring and training.
    All,
    /// Only each sequence's last position: decoding.
    Last,
    /// Each sequence's last n positions (all of them if it is shorter): scoring a response
    /// without paying the vocabulary projection for the prompt.
    LastN(usize),
}

/// One sequence of a batched forward: its new tokens and, for incremental decoding, its cache.
#[derive(Debug)]
pub struct SeqInput<'a> {
    pub tokens: &'a [u32],
    pub cache: Option<&'a mut KvCache>,
}

/// A llama-family decoder.
#[derive(Debug, Clone)]
pub struct Llama {
    embed_tokens: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Linear,
    rope: Rope,
    cfg: Config,
    device: Device,
    /// The weights do not fit in the caches, so decoding's products run on the thread pool and
    /// a forward pass runs on a worker of it ([`Self::forward_seqs`]).
    on_pool: bool,
}

impl Llama {
    /// Builds the decoder from tensors named as in Hugging Face checkpoints (`model.layers.0...`).
    ///
    /// The builder's dtype is the storage of the weight matrices and the embedding: f32, or bf16
    /// or f16 to read half the bytes per decoding step (see [`crate::WeightDtype`]). Norm weights
    /// and biases are kept in f32 and everything is computed in f32, so half-precision storage
    /// gives exactly the logits of the same half-precision weights widened to f32.
    ///
    /// # Errors
    /// When a tensor is missing or has the wrong shape (the error names it and both shapes), or
    /// the config asks for something unsupported.
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let device = vb.device().clone();
        let m = vb.pp("model");
        let embed = m
            .pp("embed_tokens")
            .get((cfg.vocab_size, cfg.hidden_size), "weight")?;
        let embed_tokens = Embedding::new(embed.clone(), cfg.hidden_size);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, m.pp(format!("layers.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::new(cfg.hidden_size, cfg.rms_norm_eps, m.pp("norm"))?;
        let lm_head = if cfg.tie_word_embeddings {
            Linear::from_weights(embed, None)
        } else {
            Linear::new(cfg.hidden_size, cfg.vocab_size, false, vb.pp("lm_head"))?
        };
        let mut llama = Self {
            embed_tokens,
            layers,
            norm,
            lm_head,
            rope: Rope::new(cfg)?,
            cfg: cfg.clone(),
            device,
            on_pool: false,
        };
        let weight_bytes: usize = llama.linears_mut().iter().map(|l| l.weight_bytes()).sum();
        llama.on_pool = weight_bytes > IN_CACHE_BYTES;
        if !llama.on_pool {
            for l in llama.linears_mut() {
                l.set_in_cache();
            }
        } else {
            Linear::gather_in_huge_pages(llama.linears_mut())?;
            if cfg.tie_word_embeddings {
                // The embedding is the vocabulary projection: one matrix, not two.
                llama.embed_tokens =
                    Embedding::new(llama.lm_head.weight().clone(), cfg.hidden_size);
            }
        }
        Ok(llama)
    }

    /// Every weight matrix that decoding multiplies (not the embedding, of which a step reads
    /// one row per token).
    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut all = vec![&mut self.lm_head];
        for layer in &mut self.layers {
            all.extend(layer.self_attn.qkv.linears_mut());
            all.push(&mut layer.self_attn.o_proj);
            all.extend(layer.mlp.gate_up.linears_mut());
            all.push(&mut layer.mlp.down_proj);
        }
        all
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// How the weight matrices and the embedding are stored (computation is f32 either way).
    pub fn weight_dtype(&self) -> DType {
        self.embed_tokens.embeddings().dtype()
    }

    /// A fresh, empty cache for one sequence.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.cfg.num_hidden_layers)
    }

    /// Full causal forward of a `(batch, seq)` tensor of token ids, no cache: logits
    /// `(batch, seq, vocab)` at every position.
    ///
    /// # Errors
    /// On a shape or device failure.
    pub fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let rows: Vec<Vec<u32>> = input_ids.to_dtype(DType::U32)?.to_vec2()?;
        let mut seqs: Vec<SeqInput> = rows
            .iter()
            .map(|r| SeqInput {
                tokens: r,
                cache: None,
            })
            .collect();
        let logits = self.forward_seqs(&mut seqs, LogitsAt::All)?;
        Ok(logits.reshape((b, t, self.cfg.vocab_size))?)
    }

    /// Runs a batch of sequences, each with its own new tokens and optional cache (positions
    /// continue from the cache's length). Returns logits of shape `(Σ len, vocab)` for
    /// [`LogitsAt::All`], rows in sequence order, or `(n_seqs, vocab)` for [`LogitsAt::Last`].
    ///
    /// # Errors
    /// When a sequence is empty, a token id is outside the vocabulary, or positions run past the
    /// context window.
    pub fn forward_seqs(&self, seqs: &mut [SeqInput<'_>], at: LogitsAt) -> Result<Tensor> {
        if self.on_pool && rayon::current_thread_index().is_none() {
            // The pass runs on a worker of the thread pool, and its ~120 parallel products
            // split their work with the other workers there; from this thread each of them
            // would hand its work to the pool and sleep until it is done. One hand-over a pass
            // instead of one a product: SmolLM2-135M's shape decoded a median 54.3 against
            // 50.2 tokens/s (16 rounds alternating in one process, 2-core AMD EPYC), while
            // lab-l-chat, whose products all run on the calling thread, fell from ~2 900 to
            // ~2 400 tokens/s with the hand-over: hence only for models that use the pool.
            return rayon::scope(|_| self.forward_on_this_thread(seqs, at));
        }
        self.forward_on_this_thread(seqs, at)
    }

    /// [`Self::forward_seqs`], on the calling thread.
    fn forward_on_this_thread(&self, seqs: &mut [SeqInput<'_>], at: LogitsAt) -> Result<Tensor> {
        let mut spans = Vec::with_capacity(seqs.len());
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        for s in seqs.iter() {
            if s.tokens.is_empty() {
                return Err(EngineError::InvalidParam {
                    name: "tokens",
                    value: "[]".into(),
                    allowed: "each sequence of a forward pass needs at least one token",
                });
            }
            let past = s.cache.as_ref().map_or(0, |c| c.len());
            let end = past + s.tokens.len();
            if end > self.cfg.max_position_embeddings {
                return Err(EngineError::TooLong {
                    what: "the sequence",
                    len: end,
                    max: self.cfg.max_position_embeddings,
                });
            }
            if let Some(&bad) = s
                .tokens
                .iter()
                .find(|&&id| id as usize >= self.cfg.vocab_size)
            {
                return Err(EngineError::InvalidParam {
                    name: "token id",
                    value: bad.to_string(),
                    allowed: "token ids must be below the model's vocab_size",
                });
            }
            spans.push(Span {
                start: ids.len(),
                len: s.tokens.len(),
                past,
            });
            ids.extend_from_slice(s.tokens);
            positions.extend(past..end);
        }
        let total = ids.len();
        let ids = Tensor::from_vec(ids, total, &self.device)?;
        let (cos, sin) = self.rope.cos_sin(&positions, &self.device)?;
        let mut caches: Vec<Option<&mut KvCache>> =
            seqs.iter_mut().map(|s| s.cache.as_deref_mut()).collect();
        let mut x = self.embed_tokens.forward(&ids)?.to_dtype(DType::F32)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let residual = &x;
            let h = layer.input_layernorm.forward(&x)?;
            let h = layer
                .self_attn
                .forward(&h, &cos, &sin, &spans, &mut caches, i)?;
            let x1 = (residual + h)?;
            let h = layer.post_attention_layernorm.forward(&x1)?;
            let h = layer.mlp.forward(&h)?;
            x = (x1 + h)?;
        }
        let keep = match at {
            LogitsAt::All => None,
            LogitsAt::Last => Some(1),
            LogitsAt::LastN(n) => Some(n),
        };
        let x = match keep {
            Some(n) if spans.iter().any(|s| s.len > n) => {
                let rows: Vec<u32> = spans
                    .iter()
                    .flat_map(|s| (s.start + s.len - n.min(s.len))..(s.start + s.len))
                    .map(|r| r as u32)
                    .collect();
                let n_rows = rows.len();
                x.index_select(&Tensor::from_vec(rows, n_rows, &self.device)?, 0)?
            }
            _ => x,
        };
        let x = self.norm.forward(&x)?;
        self.lm_head.forward(&x)
    }
}
