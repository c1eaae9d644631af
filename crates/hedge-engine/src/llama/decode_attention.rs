//! Attention of new tokens over their KV cache, the step of decoding (one token per sequence) and
//! of verifying a draft (a few tokens of one sequence, each over the positions up to its own):
//! every token and every key/value head in one pass over the cached keys and values, read in
//! place. The general path costs a dozen small tensor operations per sequence and layer
//! (copies, two batched matmuls, a mask, a softmax, a concatenation), which for ten sampled
//! sequences weigh as much as a tenth of the weights' memory traffic.
//!
//! The arithmetic is the general path's in f32 — scores `q·k / √d`, a softmax with the maximum
//! subtracted, the probability-weighted sum of the values — with sums in another order and e^x
//! from [`hedge_core::vexp`] (within 2 ulp), so the results agree to rounding.

use candle_core::{CpuStorage, Layout, Storage};
use rayon::prelude::*;

use crate::error::Result;
use crate::kv_cache::KvViews;
use hedge_core::vexp::exp_f32s;

/// Below this many query-key products (times the head size) the pass runs on the calling thread:
/// waking the pool costs more than the arithmetic (a small model's few heads over a short
/// context).
const SERIAL_WORK: usize = 1 << 17;

/// One sequence's cached keys and values after this step's token was appended (views of the
/// cache: the positions its forks share, then its own), and the first position its query may
/// see.
pub(super) struct Cached {
    pub kv: KvViews,
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
    // Read locks on every cache for the pass (forks of one prompt lock its shared buffers once
    // each); per sequence: shared keys, shared values, own keys, own values.
    let guards: Vec<[Option<_>; 4]> = seqs
        .iter()
        .map(|s| {
            let (shared, own) = (s.kv.shared.as_ref(), s.kv.own.as_ref());
            [
                shared.map(|(k, _)| k.storage_and_layout()),
                shared.map(|(_, v)| v.storage_and_layout()),
                own.map(|(k, _)| k.storage_and_layout()),
                own.map(|(_, v)| v.storage_and_layout()),
            ]
        })
        .collect();
    let mut views = Vec::with_capacity(2 * seqs.len());
    for locked in &guards {
        // `None` for a layout the pass does not read; `Some(None)` for an absent segment.
        let [Some(ks), Some(vs), Some(ko), Some(vo)] = locked.each_ref().map(|g| match g {
            None => Some(None),
            Some((storage, layout)) => Segment::of(storage, layout, hd).map(Some),
        }) else {
            return Ok(None);
        };
        views.push(View::of(ks, ko));
        views.push(View::of(vs, vo));
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

/// A `(kv_heads, len, head_dim)` piece of a cache buffer with contiguous rows.
#[derive(Clone, Copy)]
struct Segment<'a> {
    data: &'a [f32],
    offset: usize,
    head_stride: usize,
    len: usize,
}

impl<'a> Segment<'a> {
    /// The piece `layout` describes in `storage`, if it is f32 on the CPU with contiguous rows
    /// of `hd`.
    fn of(storage: &'a Storage, layout: &Layout, hd: usize) -> Option<Self> {
        let (Storage::Cpu(CpuStorage::F32(data)), [_, len, d]) = (storage, layout.dims()) else {
            return None;
        };
        let [head_stride, pos_stride, 1] = layout.stride() else {
            return None;
        };
        (*d == hd && *pos_stride == hd).then_some(Segment {
            data,
            offset: layout.start_offset(),
            head_stride: *head_stride,
            len: *len,
        })
    }
}

/// A sequence's keys (or values): the shared positions `0..split`, then its own.
struct View<'a> {
    shared: Segment<'a>,
    own: Segment<'a>,
    split: usize,
    len: usize,
}

impl<'a> View<'a> {
    fn of(shared: Option<Segment<'a>>, own: Option<Segment<'a>>) -> Self {
        let empty = Segment {
            data: &[],
            offset: 0,
            head_stride: 0,
            len: 0,
        };
        let (shared, own) = (shared.unwrap_or(empty), own.unwrap_or(empty));
        Self {
            shared,
            own,
            split: shared.len,
            len: shared.len + own.len,
        }
    }

    /// The rows of head `g` from position `first` on, as two runs of whole rows: the shared
    /// positions, then the own ones.
    fn head_rows(&self, g: usize, first: usize, hd: usize) -> [&'a [f32]; 2] {
        let run = |seg: &Segment<'a>, from: usize| {
            let start = seg.offset + g * seg.head_stride;
            seg.data
                .get(start + from.min(seg.len) * hd..start + seg.len * hd)
                .unwrap_or(&[])
        };
        [
            run(&self.shared, first),
            run(&self.own, first.saturating_sub(self.split)),
        ]
    }

    /// Row `pos` of head `g`.
    fn row(&self, g: usize, pos: usize, hd: usize) -> &[f32] {
        let (seg, pos) = if pos < self.split {
            (&self.shared, pos)
        } else {
            (&self.own, pos - self.split)
        };
        let start = seg.offset + g * seg.head_stride + pos * hd;
        &seg.data[start..start + hd]
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
        #[cfg(target_arch = "x86_64")]
        let done =
            super::decode_scores::scores_v4(q, keys.head_rows(g, first, hd), hd, scale, scores)
                .is_some();
        #[cfg(not(target_arch = "x86_64"))]
        let done = false;
        if !done {
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
        }
        // A softmax per head, the maximum subtracted, e^x a register at a time.
        for head in scores.chunks_exact_mut(len.max(1)) {
            softmax_in_place(simd, head);
        }
        // The probability-weighted sum of the values: for up to three query heads at a time, a
        // block of up to four registers of each one's output stays in registers over all the
        // positions, and each value row is loaded once for all of them.
        let (lanes, tail) = (hd / S::F32_LANES, hd % S::F32_LANES);
        let value_runs = values.head_rows(g, first, hd);
        let mut r0 = 0;
        while r0 < n_rep {
            let heads = (n_rep - r0).min(3);
            let weights = &scores[r0 * len..(r0 + heads) * len];
            let o = &mut out[r0 * hd..(r0 + heads) * hd];
            let mut start = 0;
            while start < lanes {
                let regs = (lanes - start).min(4);
                let sum = WeightedSum {
                    weights,
                    len,
                    runs: value_runs,
                    hd,
                    start,
                    out: &mut *o,
                };
                match (heads, regs) {
                    (3, 4) => sum.run::<S, 3, 4>(simd),
                    (3, 3) => sum.run::<S, 3, 3>(simd),
                    (3, 2) => sum.run::<S, 3, 2>(simd),
                    (3, _) => sum.run::<S, 3, 1>(simd),
                    (2, 4) => sum.run::<S, 2, 4>(simd),
                    (2, 3) => sum.run::<S, 2, 3>(simd),
                    (2, 2) => sum.run::<S, 2, 2>(simd),
                    (2, _) => sum.run::<S, 2, 1>(simd),
                    (_, 4) => sum.run::<S, 1, 4>(simd),
                    (_, 3) => sum.run::<S, 1, 3>(simd),
                    (_, 2) => sum.run::<S, 1, 2>(simd),
                    _ => sum.run::<S, 1, 1>(simd),
                }
                start += 4;
            }
            if tail > 0 {
                for (r, o) in o.chunks_exact_mut(hd).enumerate() {
                    let o = &mut o[lanes * S::F32_LANES..];
                    o.fill(0.0);
                    let rows = value_runs.iter().flat_map(|run| run.chunks_exact(hd));
                    for (&w, v) in weights[r * len..(r + 1) * len].iter().zip(rows) {
                        let v = &v[lanes * S::F32_LANES..];
                        for (o, &v) in o.iter_mut().zip(v) {
                            *o += w * v;
                        }
                    }
                }
            }
            r0 += heads;
        }
    }
}

/// Registers `start..start + B` of the outputs of `R` query heads (`out`, `R · hd`): Σᵢ
/// weights[r][i] · (the same registers of value row i), over the `len` visible positions in
/// order (`runs`: the shared ones, then the own ones), the R · B accumulators held in
/// registers.
struct WeightedSum<'a, 'v> {
    weights: &'a [f32],
    len: usize,
    runs: [&'v [f32]; 2],
    hd: usize,
    start: usize,
    out: &'a mut [f32],
}

impl WeightedSum<'_, '_> {
    #[inline(always)]
    fn run<S: pulp::Simd, const R: usize, const B: usize>(self, simd: S) {
        let (len, start, hd) = (self.len, self.start, self.hd);
        let mut acc = [[simd.splat_f32s(0.0); B]; R];
        let mut i = 0;
        for run in self.runs {
            for row in run.chunks_exact(hd) {
                let (v, _) = S::as_simd_f32s(row);
                let v = &v[start..start + B];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let w = simd.splat_f32s(self.weights[r * len + i]);
                    for (a, &v) in acc.iter_mut().zip(v) {
                        *a = simd.mul_add_f32s(w, v, *a);
                    }
                }
                i += 1;
            }
        }
        for (o, acc) in self.out.chunks_exact_mut(hd).zip(acc) {
            let (o, _) = S::as_mut_simd_f32s(o);
            o[start..start + B].copy_from_slice(&acc);
        }
    }
}

/// `x` ← softmax(x): e^(x − max) a register at a time (the tail through a partial register),
/// then divided by their sum.
#[inline(always)]
fn softmax_in_place<S: pulp::Simd>(simd: S, x: &mut [f32]) {
    let (head, tail) = S::as_mut_simd_f32s(x);
    let mut max = simd.splat_f32s(f32::NEG_INFINITY);
    for &v in head.iter() {
        max = simd.max_f32s(max, v);
    }
    let max = tail
        .iter()
        .copied()
        .fold(simd.reduce_max_f32s(max), f32::max);
    let m = simd.splat_f32s(max);
    let mut sum = simd.splat_f32s(0.0);
    for v in head.iter_mut() {
        *v = exp_f32s(simd, simd.sub_f32s(*v, m));
        sum = simd.add_f32s(sum, *v);
    }
    let t = exp_f32s(simd, simd.sub_f32s(simd.partial_load_f32s(tail), m));
    simd.partial_store_f32s(tail, t);
    let sum = tail.iter().sum::<f32>() + simd.reduce_sum_f32s(sum);
    let total = simd.splat_f32s(sum);
    for v in head.iter_mut() {
        *v = simd.div_f32s(*v, total);
    }
    for v in tail.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// softmax(q·k / √d) · v of one query head over `keys`/`values` rows, in f64.
    fn reference(q: &[f32], keys: &[Vec<f32>], values: &[Vec<f32>]) -> Vec<f64> {
        let scale = 1.0 / (q.len() as f64).sqrt();
        let s: Vec<f64> = keys
            .iter()
            .map(|k| {
                q.iter()
                    .zip(k)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum::<f64>()
                    * scale
            })
            .collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
        let z: f64 = e.iter().sum();
        (0..q.len())
            .map(|j| {
                e.iter()
                    .zip(values)
                    .map(|(w, v)| w * f64::from(v[j]))
                    .sum::<f64>()
                    / z
            })
            .collect()
    }

    #[test]
    fn every_head_size_and_visible_span_matches_the_definition() {
        let value = |i: usize| ((i * 37 % 101) as f32 - 50.0) * 0.03;
        // Head sizes with and without a partial register and a partial block of four.
        for (hd, kvh, h, len, first) in [
            (64, 3, 9, 40, 0),
            (18, 2, 4, 7, 2),
            (128, 1, 3, 33, 5),
            (72, 2, 2, 1, 0),
            (16, 2, 4, 20, 19),
        ] {
            let cache = |salt: usize| {
                let v: Vec<f32> = (0..kvh * len * hd).map(|i| value(i + salt)).collect();
                Tensor::from_vec(v, (kvh, len, hd), &Device::Cpu).unwrap()
            };
            // Sequence 0 holds every position itself; sequence 1 reads its first ones from a
            // buffer shared with other forks, as a fork of a prompt does.
            let seqs = [0, 1].map(|s| {
                let (keys, values) = (cache(7 * s), cache(7 * s + 3));
                let split = if s == 0 { 0 } else { len / 2 };
                let part = |t: &Tensor, from: usize, n: usize| {
                    (n > 0).then(|| t.narrow(1, from, n).unwrap())
                };
                Cached {
                    kv: KvViews {
                        shared: part(&keys, 0, split).zip(part(&values, 0, split)),
                        own: part(&keys, split, len - split).zip(part(&values, split, len - split)),
                    },
                    first_visible: first,
                }
            });
            let q: Vec<f32> = (0..2 * h * hd).map(|i| value(i * 3 + 1)).collect();
            let heads = Heads {
                n_heads: h,
                n_kv_heads: kvh,
                head_dim: hd,
            };
            let got = attend_one_token(&q, &seqs, heads).unwrap().unwrap();
            for (s, seq) in seqs.iter().enumerate() {
                let rows = |t: &Tensor, g: usize| -> Vec<Vec<f32>> {
                    t.get(g).unwrap().to_vec2::<f32>().unwrap()[first..].to_vec()
                };
                for head in 0..h {
                    let g = head / (h / kvh);
                    let at = (s * h + head) * hd;
                    let (keys, values) = seq.kv.joined().unwrap().unwrap();
                    let want = reference(&q[at..at + hd], &rows(&keys, g), &rows(&values, g));
                    for (j, (&a, b)) in got[at..at + hd].iter().zip(&want).enumerate() {
                        assert!(
                            (f64::from(a) - b).abs() < 1e-5,
                            "head_dim {hd}, seq {s}, head {head}, [{j}]: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}
