//! `Linear`: y = x Wᵀ + b for a packed `(T, in)` matrix, with weights in the Hugging Face
//! `(out, in)` layout.
//!
//! Decoding multiplies a handful of rows by each weight matrix, which is bound by memory
//! bandwidth: every weight is read once per step. For few rows on the CPU, a row-parallel
//! matrix–vector product reads each weight row once for all the input rows, on every core; for
//! many rows (prefill, training) the general matmul is faster and keeps gradients.
//!
//! The weights may be kept in bf16 or f16, as most checkpoints store them: the matrix–vector
//! product widens them to f32 as it loads them (exact) and computes in f32, reading half the
//! bytes per step; the general matmul widens the whole matrix first. Either way the result is bit
//! for bit that of the same weights widened to f32 when the model was loaded.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Device, Layout, Shape, Tensor};
use candle_nn::VarBuilder;
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
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
    /// Reads `weight` in the builder's dtype (the storage of the matrices) and `bias` in f32.
    pub(crate) fn new(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = if bias {
            Some(vb.get_with_hints_dtype(out_dim, "bias", Default::default(), DType::F32)?)
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
        Ok(Some(Linear { weight, bias }))
    }

    pub(crate) fn out_dim(&self) -> Result<usize> {
        Ok(self.weight.dim(0)?)
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rows = x.dim(0)?;
        let w_dtype = self.weight.dtype();
        let small = rows <= GEMV_MAX_ROWS
            && matches!(x.device(), Device::Cpu)
            && x.dtype() == DType::F32
            && matches!(w_dtype, DType::F32 | DType::BF16 | DType::F16)
            && !x.track_op()
            && !self.weight.is_variable();
        let y = if small {
            x.contiguous()?
                .apply_op2_no_bwd(&self.weight, &RowsTimesWeightT)?
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
            CpuStorage::F32(w) => rows_times_weight_t(x, &w[ws..we], t, n, k),
            CpuStorage::BF16(w) => rows_times_weight_t(x, &w[ws..we], t, n, k),
            CpuStorage::F16(w) => rows_times_weight_t(x, &w[ws..we], t, n, k),
            other => candle_core::bail!(
                "rows-times-weight-t: weights must be f32, bf16 or f16, not {:?}",
                other.dtype()
            ),
        };
        Ok((CpuStorage::F32(out), Shape::from((t, n))))
    }
}

/// `x (t, k)` times `w (n, k)`ᵀ, row-major `(t, n)`.
fn rows_times_weight_t<W: WeightElem>(
    x: &[f32],
    w: &[W],
    t: usize,
    n: usize,
    k: usize,
) -> Vec<f32> {
    // out_t is (n, t): each task owns a block of weight rows and writes only its block.
    let mut out_t = vec![0f32; n * t];
    let block = (n / (rayon::current_num_threads() * 8)).clamp(16, 1024);
    out_t
        .par_chunks_mut(block * t)
        .enumerate()
        .for_each(|(b, chunk)| {
            let first = b * block;
            let mut widened = Vec::new();
            for (r, cell) in chunk.chunks_mut(t).enumerate() {
                prefetch_row(w, first + r + PREFETCH_ROWS_AHEAD, k);
                let row = &w[(first + r) * k..(first + r + 1) * k];
                if let [c] = cell {
                    *c = W::dot(x, row);
                } else {
                    // Several input rows share the weight row: widen it once.
                    let row = W::widen(row, &mut widened);
                    for (i, c) in cell.iter_mut().enumerate() {
                        *c = dot(&x[i * k..(i + 1) * k], row);
                    }
                }
            }
        });
    if t == 1 {
        return out_t;
    }
    let mut out = vec![0f32; n * t];
    for j in 0..n {
        for i in 0..t {
            out[i * n + j] = out_t[j * t + i];
        }
    }
    out
}

/// A weight element the matrix–vector product reads: f32, or a 16-bit float that is widened to
/// f32 as it is loaded. Widening bf16 or f16 to f32 is exact, and every kernel adds the products
/// in the same order, so a half-precision matrix gives bit for bit the result of its f32 copy.
trait WeightElem: Copy + Send + Sync {
    /// `x · row` with the arithmetic of [`dot`] on the row widened to f32.
    fn dot(x: &[f32], row: &[Self]) -> f32;
    /// The row as f32: itself for f32, else widened into `buf`.
    fn widen<'a>(row: &'a [Self], buf: &'a mut Vec<f32>) -> &'a [f32];
}

impl WeightElem for f32 {
    fn dot(x: &[f32], row: &[f32]) -> f32 {
        dot(x, row)
    }

    fn widen<'a>(row: &'a [f32], _: &'a mut Vec<f32>) -> &'a [f32] {
        row
    }
}

impl WeightElem for bf16 {
    #[inline]
    fn dot(x: &[f32], row: &[bf16]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                #[allow(unsafe_code)]
                return unsafe { dot_bf16_avx2_fma(x, row.reinterpret_cast()) };
            }
        }
        dot_portable(x, row, bf16::to_f32)
    }

    fn widen<'a>(row: &'a [bf16], buf: &'a mut Vec<f32>) -> &'a [f32] {
        buf.resize(row.len(), 0.0);
        row.convert_to_f32_slice(buf);
        buf
    }
}

impl WeightElem for f16 {
    #[inline]
    fn dot(x: &[f32], row: &[f16]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
            {
                // SAFETY: the CPU supports AVX2, FMA and F16C, checked just above.
                #[allow(unsafe_code)]
                return unsafe { dot_f16_avx2_fma(x, row.reinterpret_cast()) };
            }
        }
        dot_portable(x, row, f16::to_f32)
    }

    fn widen<'a>(row: &'a [f16], buf: &'a mut Vec<f32>) -> &'a [f32] {
        buf.resize(row.len(), 0.0);
        row.convert_to_f32_slice(buf);
        buf
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
    const CHUNK: usize = 1 << 15;
    let mut out: Vec<f32> = Vec::with_capacity(w.len());
    out.spare_capacity_mut()[..w.len()]
        .par_chunks_mut(CHUNK)
        .zip(w.par_chunks(CHUNK))
        .for_each(|(o, i)| {
            for (o, &i) in o.iter_mut().zip(i) {
                o.write(widen(i));
            }
        });
    // SAFETY: the chunks above cover the first `w.len()` elements, and each was written.
    #[allow(unsafe_code)]
    unsafe {
        out.set_len(w.len())
    };
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

/// How far ahead of the row being multiplied its weights are requested from memory. Decoding is
/// bound by memory bandwidth, and a core keeps only a few hardware-prefetched streams in flight.
const PREFETCH_ROWS_AHEAD: usize = 4;

/// Asks the CPU to start loading row `row` of `w` (rows of `k` elements) into cache.
#[inline]
fn prefetch_row<W>(w: &[W], row: usize, k: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let Some(slice) = w.get(row * k..(row + 1) * k) else {
            return;
        };
        let per_line = (64 / std::mem::size_of::<W>()).max(1);
        for line in slice.chunks(per_line) {
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
    dot_portable(a, b, |w| w)
}

/// Lanes of the AVX2 dot products: 32 independent accumulators, four 8-wide registers. Lane `i`
/// sums the products at positions `i, i + 32, …`; the lanes are then added in order, then the
/// tail. The half-precision kernels keep exactly this order.
const AVX2_LANES: usize = 32;

/// 32 independent accumulators: the compiler turns them into vector registers, and the fused
/// multiply-add into `vfmadd` where the target has it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2_fma(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = AVX2_LANES;
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

/// Defines an AVX2/FMA dot product of f32 `a` with 16-bit floats `b` (as bits) that keeps the
/// arithmetic of [`dot_avx2_fma`]: `$load8` widens the 8 values at pointer `$p` to an f32
/// vector, `$one` widens a single value `$w` (the tail).
macro_rules! dot_half_avx2_fma {
    (
        $(#[$doc:meta])* $name:ident, $features:literal,
        |$p:ident| $load8:expr, |$w:ident| $one:expr
    ) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        fn $name(a: &[f32], b: &[u16]) -> f32 {
            #[allow(unused_imports)]
            use std::arch::x86_64::{
                __m128i, _mm256_castsi256_ps, _mm256_cvtepu16_epi32, _mm256_cvtph_ps,
                _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_slli_epi32,
                _mm256_storeu_ps, _mm_loadu_si128,
            };
            const L: usize = AVX2_LANES;
            let n = a.len().min(b.len());
            let full = n / L * L;
            let mut acc = [_mm256_setzero_ps(); L / 8];
            for j in (0..full).step_by(L) {
                for (q, acc) in acc.iter_mut().enumerate() {
                    let o = j + 8 * q;
                    // SAFETY: o + 8 <= full <= n, so the 8 elements from `o` lie inside both
                    // slices; both loads are unaligned loads.
                    #[allow(unsafe_code)]
                    let (x, w) = unsafe {
                        let $p = b.as_ptr().add(o).cast::<__m128i>();
                        (_mm256_loadu_ps(a.as_ptr().add(o)), $load8)
                    };
                    *acc = _mm256_fmadd_ps(x, w, *acc);
                }
            }
            let mut lanes = [0f32; L];
            for (q, acc) in acc.iter().enumerate() {
                // SAFETY: q < L / 8, so lanes 8q..8q + 8 lie inside `lanes`.
                #[allow(unsafe_code)]
                unsafe {
                    _mm256_storeu_ps(lanes.as_mut_ptr().add(8 * q), *acc)
                };
            }
            let tail: f32 = a[full..n]
                .iter()
                .zip(&b[full..n])
                .map(|(x, &$w)| x * $one)
                .sum();
            lanes.iter().sum::<f32>() + tail
        }
    };
}

dot_half_avx2_fma!(
    /// `a · b` for bf16 bits `b`: eight at a time zero-extended to 32 bits and shifted into the
    /// high half, which is the f32 of the same value.
    dot_bf16_avx2_fma,
    "avx2,fma",
    |p| _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(p)))),
    |w| f32::from_bits(u32::from(w) << 16)
);

dot_half_avx2_fma!(
    /// `a · b` for f16 bits `b`, widened eight at a time by F16C's `vcvtph2ps`.
    dot_f16_avx2_fma,
    "avx2,fma,f16c",
    |p| _mm256_cvtph_ps(_mm_loadu_si128(p)),
    |w| f16::from_bits(w).to_f32()
);

/// The same without fused multiply-add (which would be a slow library call where the CPU lacks
/// it), reading `b` through `widen`.
#[inline]
fn dot_portable<W: Copy>(a: &[f32], b: &[W], widen: impl Fn(W) -> f32) -> f32 {
    const L: usize = 16;
    let mut acc = [0f32; L];
    let ca = a.chunks_exact(L);
    let cb = b.chunks_exact(L);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, &y)| x * widen(y))
        .sum();
    for (pa, pb) in ca.zip(cb) {
        for i in 0..L {
            acc[i] += pa[i] * widen(pb[i]);
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

    /// Each kernel against the f32 kernel of the same family on the widened row: the portable
    /// ones everywhere, the AVX2 ones where the CPU has them.
    #[test]
    fn half_kernels_keep_the_f32_kernels_arithmetic() {
        let x: Vec<f32> = (0..133)
            .map(|i| ((i * 37) % 101) as f32 / 7.0 - 6.0)
            .collect();
        let wide: Vec<f32> = (0..133)
            .map(|i| ((i * 53) % 89) as f32 / 13.0 - 3.0)
            .collect();
        let b: Vec<bf16> = wide.iter().map(|&v| bf16::from_f32(v)).collect();
        let h: Vec<f16> = wide.iter().map(|&v| f16::from_f32(v)).collect();
        let bw: Vec<f32> = b.iter().map(|v| v.to_f32()).collect();
        let hw: Vec<f32> = h.iter().map(|v| v.to_f32()).collect();
        assert_eq!(
            dot_portable(&x, &b, bf16::to_f32),
            dot_portable(&x, &bw, |w| w)
        );
        assert_eq!(
            dot_portable(&x, &h, f16::to_f32),
            dot_portable(&x, &hw, |w| w)
        );
        assert_eq!(bf16::dot(&x, &b), dot(&x, &bw));
        assert_eq!(f16::dot(&x, &h), dot(&x, &hw));
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            if avx2 {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                #[allow(unsafe_code)]
                let (got, want) = unsafe {
                    (
                        dot_bf16_avx2_fma(&x, b.reinterpret_cast()),
                        dot_avx2_fma(&x, &bw),
                    )
                };
                assert_eq!(got, want);
            }
            if avx2 && std::arch::is_x86_feature_detected!("f16c") {
                // SAFETY: the CPU supports AVX2, FMA and F16C, checked just above.
                #[allow(unsafe_code)]
                let (got, want) = unsafe {
                    (
                        dot_f16_avx2_fma(&x, h.reinterpret_cast()),
                        dot_avx2_fma(&x, &hw),
                    )
                };
                assert_eq!(got, want);
            }
        }
    }
}
