//! Attention of one new token per sequence over its KV cache, the step of decoding: every
//! sequence and every key/value head in one parallel pass over the cached keys and values, read
//! in place. The general path costs a dozen small tensor operations per sequence and layer
//! (copies, two batched matmuls, a mask, a softmax, a concatenation), which for ten sampled
//! sequences weigh as much as a tenth of the weights' memory traffic.
//!
//! The arithmetic is the general path's in f32 — scores `q·k / √d`, a softmax with the maximum
//! subtracted, the probability-weighted sum of the values — with sums in another order, so the
//! results agree to rounding.

use candle_core::{CpuStorage, Storage, Tensor};
use rayon::prelude::*;

use crate::error::Result;

/// One sequence's cached keys and values after this step's token was appended, both
/// `(kv_heads, len, head_dim)` views of the cache, and the first position its query may see.
pub(super) struct Cached {
    pub keys: Tensor,
    pub values: Tensor,
    pub first_visible: usize,
}

/// The heads of the attention, as the decoder has them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Heads {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

/// Attention output `(n_seqs, n_heads · head_dim)` for `q` `(n_seqs, n_heads, head_dim)`
/// (contiguous, f32: one query row per sequence) over each sequence's cache; query head `i`
/// reads key/value head `i / (n_heads / n_kv_heads)`, as `transformers`' `repeat_kv`. `None`
/// when the tensors are not f32 on the CPU with contiguous head rows: the caller then takes the
/// general path.
pub(super) fn attend_one_token(
    q: &[f32],
    seqs: &[Cached],
    heads: Heads,
) -> Result<Option<Vec<f32>>> {
    let Heads {
        n_heads: h,
        n_kv_heads: kvh,
        head_dim: hd,
    } = heads;
    if kvh == 0 || h % kvh != 0 || q.len() != seqs.len() * h * hd {
        return Ok(None);
    }
    let n_rep = h / kvh;
    // Read locks on every cache for the pass; each view as (data, offset, head stride, length).
    let mut guards = Vec::with_capacity(2 * seqs.len());
    for s in seqs {
        guards.push(s.keys.storage_and_layout());
        guards.push(s.values.storage_and_layout());
    }
    let mut views = Vec::with_capacity(guards.len());
    for (storage, layout) in &guards {
        let (Storage::Cpu(CpuStorage::F32(data)), [_, len, d]) = (&**storage, layout.dims()) else {
            return Ok(None);
        };
        let [head_stride, pos_stride, 1] = layout.stride() else {
            return Ok(None);
        };
        if *d != hd || *pos_stride != hd {
            return Ok(None);
        }
        views.push(View {
            data,
            offset: layout.start_offset(),
            head_stride: *head_stride,
            len: *len,
        });
    }
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = vec![0f32; q.len()];
    // One task per (sequence, kv head): the n_rep query heads that share its keys and values.
    out.par_chunks_mut(n_rep * hd)
        .zip(q.par_chunks(n_rep * hd))
        .enumerate()
        .for_each_init(Vec::new, |scores, (task, (out, q))| {
            let (seq, g) = (task / kvh, task % kvh);
            let (keys, values) = (&views[2 * seq], &views[2 * seq + 1]);
            let first = seqs[seq].first_visible.min(keys.len);
            for (out, q) in out.chunks_exact_mut(hd).zip(q.chunks_exact(hd)) {
                attend_head(q, keys, values, g, first, scale, scores, out);
            }
        });
    Ok(Some(out))
}

/// A `(kv_heads, len, head_dim)` view of a cache buffer with contiguous rows.
struct View<'a> {
    data: &'a [f32],
    offset: usize,
    head_stride: usize,
    len: usize,
}

impl View<'_> {
    /// Row `pos` of head `g`.
    fn row(&self, g: usize, pos: usize, hd: usize) -> &[f32] {
        let start = self.offset + g * self.head_stride + pos * hd;
        &self.data[start..start + hd]
    }
}

/// One query head over positions `first..len` of kv head `g`, into `out`.
#[allow(clippy::too_many_arguments)]
fn attend_head(
    q: &[f32],
    keys: &View<'_>,
    values: &View<'_>,
    g: usize,
    first: usize,
    scale: f32,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let hd = q.len();
    scores.clear();
    scores.extend((first..keys.len).map(|p| dot(q, keys.row(g, p, hd)) * scale));
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    out.fill(0.0);
    for (p, &s) in (first..values.len).zip(scores.iter()) {
        let weight = s / sum;
        for (o, &v) in out.iter_mut().zip(values.row(g, p, hd)) {
            *o += weight * v;
        }
    }
}

/// `a · b` in eight independent lanes (vectorised by the compiler).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
