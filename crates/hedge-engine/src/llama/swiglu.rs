//! The MLP's activation silu(gate) · up in one pass over the stacked gate/up projection, e^x a
//! SIMD register at a time: candle's `silu` then a multiply cost two tensor operations, two
//! buffers and one glibc `expf` per element, in every layer of every step.

use candle_core::{CpuStorage, Storage, Tensor};
use hedge_core::vexp::exp_f32s;
use pulp::Simd;
use rayon::prelude::*;

use crate::error::Result;

/// Below this many outputs the pass runs on the calling thread (a decoding step's few rows).
const SERIAL_WORK: usize = 1 << 16;

/// silu(g) · u = g / (1 + e^−g) · u for `y` = `(t, 2 · i)` holding gate then up in each row, as
/// a `(t, i)` tensor. `None` when `y` is not a contiguous f32 matrix on the CPU: the caller then
/// takes candle's operations.
pub(super) fn silu_times_up(y: &Tensor, i: usize) -> Result<Option<Tensor>> {
    let (storage, layout) = y.storage_and_layout();
    let (Storage::Cpu(CpuStorage::F32(data)), Some((start, end)), &[t, w]) =
        (&*storage, layout.contiguous_offsets(), layout.dims())
    else {
        return Ok(None);
    };
    if w != 2 * i || i == 0 {
        return Ok(None);
    }
    let rows = &data[start..end];
    let mut out = vec![0f32; t * i];
    let arch = pulp::Arch::new();
    let row = |(o, r): (&mut [f32], &[f32])| {
        let (g, u) = r.split_at(i);
        arch.dispatch(Row { g, u, out: o });
    };
    if t * i < SERIAL_WORK {
        out.chunks_mut(i).zip(rows.chunks(w)).for_each(row);
    } else {
        out.par_chunks_mut(i).zip(rows.par_chunks(w)).for_each(row);
    }
    Ok(Some(Tensor::from_vec(out, (t, i), y.device())?))
}

/// One row: `out` = silu(`g`) · `u`.
struct Row<'a> {
    g: &'a [f32],
    u: &'a [f32],
    out: &'a mut [f32],
}

impl pulp::WithSimd for Row<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let (gv, gt) = S::as_simd_f32s(self.g);
        let (uv, ut) = S::as_simd_f32s(self.u);
        let (ov, ot) = S::as_mut_simd_f32s(self.out);
        for ((o, &g), &u) in ov.iter_mut().zip(gv).zip(uv) {
            *o = silu_times(simd, g, u);
        }
        let t = silu_times(simd, simd.partial_load_f32s(gt), simd.partial_load_f32s(ut));
        simd.partial_store_f32s(ot, t);
    }
}

/// silu(g) · u = g / (1 + e^−g) · u, lane by lane (a function, not a closure: see
/// [`exp_f32s`]).
#[inline(always)]
fn silu_times<S: Simd>(simd: S, g: S::f32s, u: S::f32s) -> S::f32s {
    let e = exp_f32s(simd, simd.neg_f32s(g));
    simd.mul_f32s(simd.div_f32s(g, simd.add_f32s(simd.splat_f32s(1.0), e)), u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn equals_silu_then_multiply() {
        // Widths with and without a partial register, values past both ends of e^x's range.
        for (t, i) in [(3, 40), (1, 16), (70, 1000)] {
            let v: Vec<f32> = (0..t * 2 * i)
                .map(|n| ((n * 7919 % 2003) as f32 - 1001.0) * 0.11)
                .collect();
            let y = Tensor::from_vec(v, (t, 2 * i), &Device::Cpu).unwrap();
            let got = silu_times_up(&y, i).unwrap().unwrap();
            let want = (candle_nn::ops::silu(&y.narrow(1, 0, i).unwrap()).unwrap()
                * y.narrow(1, i, i).unwrap())
            .unwrap();
            let (got, want) = (
                got.to_vec2::<f32>().unwrap(),
                want.to_vec2::<f32>().unwrap(),
            );
            for (a, b) in got.iter().flatten().zip(want.iter().flatten()) {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "({t}, {i}): {a} vs {b}"
                );
            }
        }
        // Not a contiguous f32 matrix: the caller's general path.
        let y = Tensor::zeros((2, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(silu_times_up(&y.t().unwrap(), 1).unwrap().is_none());
        assert!(silu_times_up(&y, 3).unwrap().is_none());
    }
}
