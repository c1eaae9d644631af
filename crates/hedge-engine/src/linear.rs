//! `Linear`: y = x Wᵀ + b for a packed `(T, in)` matrix, with weights in the Hugging Face
//! `(out, in)` layout.
//!
//! Decoding multiplies a handful of rows by each weight matrix, which is bound by memory
//! bandwidth: every weight is read once per step. For up to 16 rows on the CPU, [`rows`] streams
//! each weight row once for all the input rows, on every core; for more rows (prefill, training)
//! the general matmul is faster and keeps gradients.
//!
//! The weights may be kept in bf16 or f16, as most checkpoints store them: the small-batch
//! product widens them to f32 as it loads them (exact) and computes in f32, reading half the
//! bytes per step; the general matmul widens the whole matrix first. Either way the result is bit
//! for bit that of the same weights widened to f32 when the model was loaded.

mod arena;
mod rows;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Device, Layout, Shape, Tensor};
use candle_nn::VarBuilder;
use half::f16;
use rayon::prelude::*;

use crate::error::Result;
use crate::huge_pages::HugePages;

/// Up to this many rows take the matrix–vector path.
const GEMV_MAX_ROWS: usize = 16;

#[derive(Debug, Clone)]
pub(crate) struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
    /// Small-batch products of fewer multiply-adds run on the calling thread.
    serial_work: usize,
}

impl Linear {
    /// Reads `weight` in the builder's dtype (the storage of the matrices) and `bias` in f32.
    pub(crate) fn new(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = if bias {
            Some(vb.get_with_hints_dtype(out_dim, "bias", Default::default(), DType::F32)?)
        } else {
            None
        };
        Ok(Self::from_weights(weight, bias))
    }

    pub(crate) fn from_weights(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            weight,
            bias,
            serial_work: rows::SERIAL_WORK,
        }
    }

    /// Bytes of the weight matrix.
    pub(crate) fn weight_bytes(&self) -> usize {
        self.weight.elem_count() * self.weight.dtype().size_in_bytes()
    }

    /// Tells the layer that its model's weights all stay in the caches: small-batch products
    /// then run on the calling thread up to a larger size (they are bound by arithmetic and by
    /// waking the thread pool, not by memory).
    pub(crate) fn set_in_cache(&mut self) {
        self.serial_work = rows::SERIAL_WORK_IN_CACHE;
    }

    /// Moves the weight matrices of `linears` into one buffer per dtype in 2 MB pages, each
    /// layer keeping a view of it ([`arena`]): decoding streams them all once per step.
    pub(crate) fn gather_in_huge_pages(linears: Vec<&mut Linear>) -> Result<HugePages> {
        let mut weights: Vec<&mut Tensor> = linears.into_iter().map(|l| &mut l.weight).collect();
        arena::gather_in_huge_pages(&mut weights)
    }

    /// The weight matrix, `(out, in)`.
    pub(crate) fn weight(&self) -> &Tensor {
        &self.weight
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
        let bias_dtype = parts
            .iter()
            .find_map(|l| l.bias.as_ref().map(Tensor::dtype))
            .unwrap_or(DType::F32);
        let bias = if parts.iter().any(|l| l.bias.is_some()) {
            let biases = parts
                .iter()
                .map(|l| match &l.bias {
                    Some(b) => Ok(b.clone()),
                    None => Ok(Tensor::zeros(
                        l.weight.dim(0)?,
                        bias_dtype,
                        l.weight.device(),
                    )?),
                })
                .collect::<Result<Vec<_>>>()?;
            Some(Tensor::cat(&biases, 0)?)
        } else {
            None
        };
        Ok(Some(Linear {
            weight,
            bias,
            serial_work: parts
                .iter()
                .map(|l| l.serial_work)
                .max()
                .unwrap_or(rows::SERIAL_WORK),
        }))
    }

    pub(crate) fn out_dim(&self) -> Result<usize> {
        Ok(self.weight.dim(0)?)
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = x.dim(0)?;
        let w_dtype = self.weight.dtype();
        let small = rows <= GEMV_MAX_ROWS
            && x.rank() == 2
            && matches!(x.device(), Device::Cpu)
            && x.dtype() == DType::F32
            && matches!(w_dtype, DType::F32 | DType::BF16 | DType::F16)
            && !x.track_op()
            && !self.weight.is_variable();
        let y = if small {
            x.contiguous()?.apply_op2_no_bwd(
                &self.weight,
                &RowsTimesWeightT {
                    serial_work: self.serial_work,
                },
            )?
        } else if w_dtype == x.dtype() {
            x.matmul(&self.weight.t()?)?
        } else {
            // Half-precision storage: the f32 copy lives for this product only.
            x.matmul(&widen_to_f32(&self.weight)?.to_dtype(x.dtype())?.t()?)?
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

/// x `(T, in)` f32 times Wᵀ for W `(out, in)` in f32, bf16 or f16, both contiguous on the CPU.
struct RowsTimesWeightT {
    serial_work: usize,
}

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
        let CpuStorage::F32(x) = s1 else {
            candle_core::bail!("rows-times-weight-t: the input must be f32")
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
        let x = &x[xs..xe];
        let out = match s2 {
            CpuStorage::F32(w) => {
                rows::rows_times_weight_t(x, &w[ws..we], (t, n, k), self.serial_work)
            }
            CpuStorage::BF16(w) => {
                rows::rows_times_weight_t(x, &w[ws..we], (t, n, k), self.serial_work)
            }
            CpuStorage::F16(w) => {
                rows::rows_times_weight_t(x, &w[ws..we], (t, n, k), self.serial_work)
            }
            other => candle_core::bail!(
                "rows-times-weight-t: weights must be f32, bf16 or f16, not {:?}",
                other.dtype()
            ),
        };
        Ok((CpuStorage::F32(out), Shape::from((t, n))))
    }
}

/// A copy of a bf16 or f16 matrix in f32, converted on every core: the general matmul of many
/// rows (prefill) reads f32.
struct WidenToF32;

impl CustomOp1 for WidenToF32 {
    fn name(&self) -> &'static str {
        "widen-to-f32"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((start, end)) = l.contiguous_offsets() else {
            candle_core::bail!("widen-to-f32: the input must be contiguous")
        };
        let out = match s {
            CpuStorage::BF16(w) => widen_par(&w[start..end], |b| {
                f32::from_bits(u32::from(b.to_bits()) << 16)
            }),
            CpuStorage::F16(w) => widen_par(&w[start..end], f16::to_f32),
            other => candle_core::bail!(
                "widen-to-f32: expected bf16 or f16, not {:?}",
                other.dtype()
            ),
        };
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// `w` widened by `widen` on every core, written once (no zeroing first).
fn widen_par<W: Copy + Send + Sync>(w: &[W], widen: impl Fn(W) -> f32 + Sync) -> Vec<f32> {
    let mut out = Vec::with_capacity(w.len());
    w.par_iter().map(|&v| widen(v)).collect_into_vec(&mut out);
    out
}

/// `w` in f32: converted on every core for a contiguous half-precision matrix on the CPU.
fn widen_to_f32(w: &Tensor) -> Result<Tensor> {
    let half = matches!(w.dtype(), DType::BF16 | DType::F16);
    Ok(if half && w.device().is_cpu() && w.is_contiguous() {
        w.apply_op1_no_bwd(&WidenToF32)?
    } else {
        w.to_dtype(DType::F32)?
    })
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

    fn max_abs(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    /// A half-precision matrix gives bit for bit the result of its f32 widening, on both paths
    /// (matrix–vector for up to 16 rows, matmul beyond), with and without bias, and with row
    /// lengths that leave a tail after the 32-wide blocks.
    #[test]
    fn half_weights_equal_their_f32_widening_bit_for_bit() {
        let dev = Device::Cpu;
        for dtype in [DType::BF16, DType::F16] {
            for k in [70, 64, 5] {
                let w = Tensor::randn(0f32, 1.0, (300, k), &dev)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap();
                let b = Tensor::randn(0f32, 1.0, 300, &dev).unwrap();
                let wide = w.to_dtype(DType::F32).unwrap();
                for bias in [None, Some(b)] {
                    let half = Linear::from_weights(w.clone(), bias.clone());
                    let full = Linear::from_weights(wide.clone(), bias);
                    for rows in [1, 3, 16, 17, 40] {
                        let x = Tensor::randn(0f32, 1.0, (rows, k), &dev).unwrap();
                        let got: Vec<Vec<f32>> = half.forward(&x).unwrap().to_vec2().unwrap();
                        let want: Vec<Vec<f32>> = full.forward(&x).unwrap().to_vec2().unwrap();
                        assert_eq!(got, want, "{dtype:?}, k {k}, rows {rows}");
                    }
                }
            }
        }
    }

    #[test]
    fn half_matrix_vector_equals_matmul() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (300, 70), &dev)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap();
        let lin = Linear::from_weights(w.clone(), None);
        let x = Tensor::randn(0f32, 1.0, (2, 70), &dev).unwrap();
        let got = lin.forward(&x).unwrap();
        let want = x
            .matmul(&w.to_dtype(DType::F32).unwrap().t().unwrap())
            .unwrap();
        assert!(max_abs(&got, &want) < 1e-4);
    }

    /// Each row of a batch gets bit for bit its result alone, for every batch size of the
    /// small-batch path and row lengths with and without a tail.
    #[test]
    fn batched_rows_equal_each_row_alone_bit_for_bit() {
        let dev = Device::Cpu;
        for k in [1, 8, 70, 300] {
            let w = Tensor::randn(0f32, 1.0, (37, k), &dev).unwrap();
            let lin = Linear::from_weights(w, None);
            for rows in 1..=GEMV_MAX_ROWS {
                let x = Tensor::randn(0f32, 1.0, (rows, k), &dev).unwrap();
                let batched: Vec<Vec<f32>> = lin.forward(&x).unwrap().to_vec2().unwrap();
                for (i, got) in batched.iter().enumerate() {
                    let alone = lin.forward(&x.narrow(0, i, 1).unwrap()).unwrap();
                    let want: Vec<f32> = alone.squeeze(0).unwrap().to_vec1().unwrap();
                    assert_eq!(got, &want, "k {k}, rows {rows}, row {i}");
                }
            }
        }
    }
}
