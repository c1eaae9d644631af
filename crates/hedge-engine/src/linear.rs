//! `Linear`: y = x Wᵀ + b for a packed `(T, in)` matrix, with weights in the Hugging Face
//! `(out, in)` layout.
//!
//! Decoding multiplies a handful of rows by each weight matrix, which is bound by memory
//! bandwidth: every weight is read once per step. For few rows on the CPU, a row-parallel
//! matrix–vector product reads each weight row once for all the input rows, on every core; for
//! many rows (prefill, training) the general matmul is faster and keeps gradients.

use candle_core::{CpuStorage, CustomOp2, Device, Layout, Shape, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::error::Result;

/// Up to this many rows take the matrix–vector path.
const GEMV_MAX_ROWS: usize = 16;

#[derive(Debug, Clone)]
pub(crate) struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub(crate) fn new(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = if bias {
            Some(vb.get(out_dim, "bias")?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    pub(crate) fn from_weights(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    /// Stacks the output rows of several layers that read the same input into one layer, so
    /// that decoding reads the input once and dispatches one product instead of several. Only for
    /// frozen weights: a trained `Var` must stay its own tensor so that updates reach it.
    pub(crate) fn fuse(parts: &[&Linear]) -> Result<Option<Linear>> {
        if parts.iter().any(|l| l.weight.is_variable()) {
            return Ok(None);
        }
        let weights: Vec<&Tensor> = parts.iter().map(|l| &l.weight).collect();
        let weight = Tensor::cat(&weights, 0)?;
        let bias = if parts.iter().any(|l| l.bias.is_some()) {
            let biases = parts
                .iter()
                .map(|l| match &l.bias {
                    Some(b) => Ok(b.clone()),
                    None => Ok(Tensor::zeros(
                        l.weight.dim(0)?,
                        l.weight.dtype(),
                        l.weight.device(),
                    )?),
                })
                .collect::<Result<Vec<_>>>()?;
            Some(Tensor::cat(&biases, 0)?)
        } else {
            None
        };
        Ok(Some(Linear { weight, bias }))
    }

    pub(crate) fn out_dim(&self) -> Result<usize> {
        Ok(self.weight.dim(0)?)
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = x.dim(0)?;
        let small = rows <= GEMV_MAX_ROWS
            && matches!(x.device(), Device::Cpu)
            && x.dtype() == candle_core::DType::F32
            && self.weight.dtype() == candle_core::DType::F32
            && !x.track_op()
            && !self.weight.is_variable();
        let y = if small {
            x.contiguous()?
                .apply_op2_no_bwd(&self.weight, &RowsTimesWeightT)?
        } else {
            x.matmul(&self.weight.t()?)?
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

/// x `(T, in)` times Wᵀ for W `(out, in)`, both contiguous f32 on the CPU.
struct RowsTimesWeightT;

impl CustomOp2 for RowsTimesWeightT {
    fn name(&self) -> &'static str {
        "rows-times-weight-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(x), CpuStorage::F32(w)) = (s1, s2) else {
            candle_core::bail!("rows-times-weight-t: only f32 is supported")
        };
        let (Some((xs, xe)), Some((ws, we))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("rows-times-weight-t: inputs must be contiguous")
        };
        let (t, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("rows-times-weight-t: x is {t}x{k} but W is {n}x{k2}")
        }
        let (x, w) = (&x[xs..xe], &w[ws..we]);
        // out_t is (n, t): each task owns a block of weight rows and writes only its block.
        let mut out_t = vec![0f32; n * t];
        let block = (n / (rayon::current_num_threads() * 8)).clamp(16, 1024);
        out_t
            .par_chunks_mut(block * t)
            .enumerate()
            .for_each(|(b, chunk)| {
                let first = b * block;
                for (r, cell) in chunk.chunks_mut(t).enumerate() {
                    prefetch_row(w, first + r + PREFETCH_ROWS_AHEAD, k);
                    let row = &w[(first + r) * k..(first + r + 1) * k];
                    for (i, c) in cell.iter_mut().enumerate() {
                        *c = dot(&x[i * k..(i + 1) * k], row);
                    }
                }
            });
        let out = if t == 1 {
            out_t
        } else {
            let mut out = vec![0f32; n * t];
            for j in 0..n {
                for i in 0..t {
                    out[i * n + j] = out_t[j * t + i];
                }
            }
            out
        };
        Ok((CpuStorage::F32(out), Shape::from((t, n))))
    }
}

/// How far ahead of the row being multiplied its weights are requested from memory. Decoding is
/// bound by memory bandwidth, and a core keeps only a few hardware-prefetched streams in flight.
const PREFETCH_ROWS_AHEAD: usize = 4;

/// Asks the CPU to start loading row `row` of `w` (rows of `k` floats) into cache.
#[inline]
fn prefetch_row(w: &[f32], row: usize, k: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let Some(slice) = w.get(row * k..(row + 1) * k) else {
            return;
        };
        for line in slice.chunks(16) {
            // SAFETY: a prefetch is only a hint; the pointer is inside `w`.
            #[allow(unsafe_code)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast::<i8>());
            }
        }
    }
}

/// The dot product of two equal-length rows, with the widest vector instructions the CPU has.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            #[allow(unsafe_code)]
            return unsafe { dot_avx2_fma(a, b) };
        }
    }
    dot_portable(a, b)
}

/// 32 independent accumulators: the compiler turns them into vector registers, and the fused
/// multiply-add into `vfmadd` where the target has it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2_fma(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 32;
    let mut acc = [0f32; L];
    let ca = a.chunks_exact(L);
    let cb = b.chunks_exact(L);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (pa, pb) in ca.zip(cb) {
        for i in 0..L {
            acc[i] = pa[i].mul_add(pb[i], acc[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The same without fused multiply-add (which would be a slow library call where the CPU lacks it).
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let mut acc = [0f32; L];
    let ca = a.chunks_exact(L);
    let cb = b.chunks_exact(L);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (pa, pb) in ca.zip(cb) {
        for i in 0..L {
            acc[i] += pa[i] * pb[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_batch_path_equals_matmul() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (300, 70), &dev).unwrap();
        let lin = Linear::from_weights(w.clone(), None);
        for rows in [1, 3, 16, 17] {
            let x = Tensor::randn(0f32, 1.0, (rows, 70), &dev).unwrap();
            let got = lin.forward(&x).unwrap();
            let want = x.matmul(&w.t().unwrap()).unwrap();
            let diff: f32 = (got - want)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(diff < 1e-4, "rows {rows}: {diff}");
        }
    }
}
