//! Attention of new tokens over their KV cache, the step of decoding (one token per sequence) and
//! of verifying a draft (a few tokens of one sequence, each over the positions up to its own):
//! every token and every key/value head in one pass over the cached keys and values, read in
//! place. The general path costs a dozen small tensor operations per sequence and layer
//! (copies, two batched matmuls, a mask, a softmax, a concatenation), which for ten sampled
//! sequences weigh as much as a tenth of the weights' memory traffic.
//!
//! The arithmetic is the general path's in f32 — scores `q·k / √d`, a softmax with the maximum
//! subtracted, the probability-weighted sum of the values — with sums in another order, so the
//! results agree to rounding.

use candle_core::{CpuStorage, Storage, Tensor};
use rayon::prelude::*;

use crate::error::Result;

/// Below this many query-key products (times the head size) the pass runs on the calling thread:
/// waking the pool costs more than the arithmetic (a small model's few heads over a short
/// context).
const SERIAL_WORK: usize = 1 << 17;

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
    let arch = pulp::Arch::new();
    // One task per (sequence, kv head): the n_rep query heads that share its keys and values.
    let task = |scores: &mut Vec<f32>, (task, (out, q)): (usize, (&mut [f32], &[f32]))| {
        let (seq, g) = (task / kvh, task % kvh);
        let (keys, values) = (&views[2 * seq], &views[2 * seq + 1]);
        arch.dispatch(KvGroup {
            q,
            keys,
            values,
            g,
            hd,
            first: seqs[seq].first_visible.min(keys.len),
            scale,
            scores,
            out,
        });
    };
    let work: usize = seqs.len() * h * hd * views.iter().map(|v| v.len).max().unwrap_or(0);
    if work < SERIAL_WORK {
        let mut scores = Vec::new();
        out.chunks_mut(n_rep * hd)
            .zip(q.chunks(n_rep * hd))
            .enumerate()
            .for_each(|t| task(&mut scores, t));
    } else {
        out.par_chunks_mut(n_rep * hd)
            .zip(q.par_chunks(n_rep * hd))
            .enumerate()
            .for_each_init(Vec::new, task);
    }
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

/// The query heads `q` (`n_rep · head_dim`) that share kv head `g`, over its positions
/// `first..len`, into `out` (same shape as `q`): each key and value row is read once for all of
/// them, in the widest vectors the CPU has.
struct KvGroup<'a> {
    q: &'a [f32],
    keys: &'a View<'a>,
    values: &'a View<'a>,
    g: usize,
    hd: usize,
    first: usize,
    scale: f32,
    scores: &'a mut Vec<f32>,
    out: &'a mut [f32],
}

impl pulp::WithSimd for KvGroup<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let KvGroup {
            q,
            keys,
            values,
            g,
            hd,
            first,
            scale,
            scores,
            out,
        } = self;
        let n_rep = q.len() / hd.max(1);
        let len = keys.len.saturating_sub(first);
        scores.clear();
        scores.resize(n_rep * len, 0.0);
        // Scores q·k / √d, position-major so that each key row is loaded once.
        for (i, p) in (first..keys.len).enumerate() {
            let (kv, kt) = S::as_simd_f32s(keys.row(g, p, hd));
            for (r, q) in q.chunks_exact(hd).enumerate() {
                let (qv, qt) = S::as_simd_f32s(q);
                let mut acc = simd.splat_f32s(0.0);
                for (&a, &b) in qv.iter().zip(kv) {
                    acc = simd.mul_add_f32s(a, b, acc);
                }
                let tail: f32 = qt.iter().zip(kt).map(|(a, b)| a * b).sum();
                scores[r * len + i] = (simd.reduce_sum_f32s(acc) + tail) * scale;
            }
        }
        // A softmax per head, the maximum subtracted.
        for head in scores.chunks_exact_mut(len.max(1)) {
            let max = head.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for s in head.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            for s in head.iter_mut() {
                *s /= sum;
            }
        }
        // The probability-weighted sum of the values, each value row loaded once.
        out.fill(0.0);
        for (i, p) in (first..values.len).enumerate() {
            let (vv, vt) = S::as_simd_f32s(values.row(g, p, hd));
            for (r, o) in out.chunks_exact_mut(hd).enumerate() {
                let weight = scores[r * len + i];
                let w = simd.splat_f32s(weight);
                let (ov, ot) = S::as_mut_simd_f32s(o);
                for (o, &v) in ov.iter_mut().zip(vv) {
                    *o = simd.mul_add_f32s(w, v, *o);
                }
                for (o, &v) in ot.iter_mut().zip(vt) {
                    *o += weight * v;
                }
            }
        }
    }
}
