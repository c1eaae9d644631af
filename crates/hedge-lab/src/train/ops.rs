//! Fused CPU kernels with backward passes for the training forward: causal softmax, RMSNorm,
//! SwiGLU and the rotary embedding.
//!
//! Written as candle ops, each of these is 5–10 elementwise passes forward and as many again
//! backward, each allocating a tensor; on a 2-core machine that costs more than the matrix
//! products. Each kernel here is one pass forward and one backward, rows split over the cores.
//! Every output element is computed by the same arithmetic whatever the thread count, so
//! training stays bit-for-bit reproducible. The tests check values and gradients against the
//! plain candle ops.

// The kernels walk several slices with one index; that reads best as an index loop.
#![allow(clippy::needless_range_loop)]

use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;

/// Rows per parallel task: large enough that scheduling costs little.
const MIN_TASK_ELEMS: usize = 16 * 1024;

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("{op}: only f32 is supported")
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        bail!("{op}: the input must be contiguous")
    };
    Ok(&v[a..b])
}

fn rows_per_task(row_len: usize) -> usize {
    (MIN_TASK_ELEMS / row_len.max(1)).max(1)
}

/// Whether key `j` is hidden from query `i` (causal, and outside the window if there is one).
#[inline]
fn masked(i: usize, j: usize, window: Option<usize>) -> bool {
    j > i || window.is_some_and(|w| i - j >= w)
}

/// softmax(scale · scores + causal mask) over the last dimension of `(…, t, t)` scores: row r is
/// query position `r mod t`, so query heads stacked along the rows are handled too.
#[derive(Debug, Clone, Copy)]
struct CausalSoftmax {
    scale: f32,
    window: Option<usize>,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let t = l.shape().dims().last().copied().unwrap_or(0);
        let mut out = vec![0f32; x.len()];
        let rows = rows_per_task(t);
        out.par_chunks_mut(rows * t)
            .zip(x.par_chunks(rows * t))
            .enumerate()
            .for_each(|(task, (out, x))| {
                for (k, (o, x)) in out.chunks_mut(t).zip(x.chunks(t)).enumerate() {
                    let i = (task * rows + k) % t;
                    let mut max = f32::NEG_INFINITY;
                    for j in 0..t {
                        if !masked(i, j, self.window) {
                            max = max.max(x[j] * self.scale);
                        }
                    }
                    let mut sum = 0f32;
                    for j in 0..t {
                        if !masked(i, j, self.window) {
                            o[j] = (x[j] * self.scale - max).exp();
                            sum += o[j];
                        }
                    }
                    let inv = 1.0 / sum;
                    o.iter_mut().for_each(|v| *v *= inv);
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(res.apply_op2_no_bwd(
            &grad,
            &CausalSoftmaxBwd { scale: self.scale },
        )?))
    }
}

/// d scores = scale · p ⊙ (g − Σ g ⊙ p), row by row.
struct CausalSoftmaxBwd {
    scale: f32,
}

impl CustomOp2 for CausalSoftmaxBwd {
    fn name(&self) -> &'static str {
        "causal-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (p, g) = (
            f32_slice(s1, l1, self.name())?,
            f32_slice(s2, l2, self.name())?,
        );
        let t = l1.shape().dims().last().copied().unwrap_or(0);
        let mut out = vec![0f32; p.len()];
        let rows = rows_per_task(t);
        out.par_chunks_mut(rows * t)
            .zip(p.par_chunks(rows * t).zip(g.par_chunks(rows * t)))
            .for_each(|(out, (p, g))| {
                for (o, (p, g)) in out.chunks_mut(t).zip(p.chunks(t).zip(g.chunks(t))) {
                    let dot: f32 = p.iter().zip(g).map(|(p, g)| p * g).sum();
                    for j in 0..t {
                        o[j] = self.scale * p[j] * (g[j] - dot);
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// softmax(scale · scores + causal mask) over the last dimension of `(…, t, t)` scores whose row
/// r is query position `r mod t`.
///
/// # Errors
/// When the scores are not f32 or their last two dimensions are not both t.
pub fn causal_softmax(scores: &Tensor, scale: f32, window: Option<usize>) -> Result<Tensor> {
    let dims = scores.dims();
    let n = dims.len();
    if n < 2 || dims[n - 1] == 0 || dims[n - 2] % dims[n - 1] != 0 {
        bail!(
            "causal-softmax: scores must be (…, k·t, t), got {:?}",
            scores.shape()
        )
    }
    scores
        .contiguous()?
        .apply_op1(CausalSoftmax { scale, window })
}

/// RMSNorm of the rows of `x` with weight `w`: x / sqrt(mean(x²) + eps) ⊙ w.
struct RmsNorm {
    eps: f32,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (
            f32_slice(s1, l1, self.name())?,
            f32_slice(s2, l2, self.name())?,
        );
        let d = w.len();
        let mut out = vec![0f32; x.len()];
        let rows = rows_per_task(d);
        out.par_chunks_mut(rows * d)
            .zip(x.par_chunks(rows * d))
            .for_each(|(out, x)| {
                for (o, x) in out.chunks_mut(d).zip(x.chunks(d)) {
                    let r = inv_rms(x, self.eps);
                    for j in 0..d {
                        o[j] = x[j] * r * w[j];
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, d) = x.dims2()?;
        let grad = grad.contiguous()?;
        let both = x.apply_op3_no_bwd(w, &grad, &RmsNormBwd { eps: self.eps })?;
        Ok((Some(both.narrow(0, 0, n)?), Some(both.get(n)?.reshape(d)?)))
    }
}

#[inline]
fn inv_rms(x: &[f32], eps: f32) -> f32 {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    1.0 / (ms + eps).sqrt()
}

/// dx (rows 0..n) and dw (row n) of RMSNorm: with r = 1/rms(x) and gw = g ⊙ w,
/// dx = r·gw − x·r³·mean(gw ⊙ x), dw = Σ_rows g ⊙ x · r.
struct RmsNormBwd {
    eps: f32,
}

impl CustomOp3 for RmsNormBwd {
    fn name(&self) -> &'static str {
        "rms-norm-train-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (x, w, g) = (
            f32_slice(s1, l1, name)?,
            f32_slice(s2, l2, name)?,
            f32_slice(s3, l3, name)?,
        );
        let d = w.len();
        let n = x.len() / d.max(1);
        let mut out = vec![0f32; (n + 1) * d];
        let rows = rows_per_task(d);
        // One partial dw per task, summed in task order: the same result on any thread count.
        let partial: Vec<Vec<f32>> = out[..n * d]
            .par_chunks_mut(rows * d)
            .zip(x.par_chunks(rows * d).zip(g.par_chunks(rows * d)))
            .map(|(out, (x, g))| {
                let mut dw = vec![0f32; d];
                for (o, (x, g)) in out.chunks_mut(d).zip(x.chunks(d).zip(g.chunks(d))) {
                    let r = inv_rms(x, self.eps);
                    let mean_gwx = (0..d).map(|j| g[j] * w[j] * x[j]).sum::<f32>() / d as f32;
                    for j in 0..d {
                        o[j] = r * g[j] * w[j] - x[j] * r * r * r * mean_gwx;
                        dw[j] += g[j] * x[j] * r;
                    }
                }
                dw
            })
            .collect();
        let dw = &mut out[n * d..];
        for p in partial {
            dw.iter_mut().zip(p).for_each(|(a, b)| *a += b);
        }
        Ok((CpuStorage::F32(out), Shape::from((n + 1, d))))
    }
}

/// RMSNorm of the rows of a `(n, d)` matrix, differentiable in `x` and `w`.
///
/// # Errors
/// When `x` is not `(n, d)` f32 with `w` of size d.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f32) -> Result<Tensor> {
    let (_, d) = x.dims2()?;
    if w.dims1()? != d {
        bail!(
            "rms-norm: x is {:?} but the weight is {:?}",
            x.shape(),
            w.shape()
        )
    }
    x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps })
}

/// silu(gate) ⊙ up.
struct SwiGlu;

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (
            f32_slice(s1, l1, self.name())?,
            f32_slice(s2, l2, self.name())?,
        );
        let mut out = vec![0f32; a.len()];
        out.par_chunks_mut(MIN_TASK_ELEMS)
            .zip(
                a.par_chunks(MIN_TASK_ELEMS)
                    .zip(b.par_chunks(MIN_TASK_ELEMS)),
            )
            .for_each(|(o, (a, b))| {
                for j in 0..o.len() {
                    o[j] = a[j] * sigmoid(a[j]) * b[j];
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = gate.dim(0)?;
        let grad = grad.contiguous()?;
        let both = gate.apply_op3_no_bwd(up, &grad, &SwiGluBwd)?;
        Ok((Some(both.narrow(0, 0, n)?), Some(both.narrow(0, n, n)?)))
    }
}

/// d gate (first half of the rows) and d up (second half).
struct SwiGluBwd;

impl CustomOp3 for SwiGluBwd {
    fn name(&self) -> &'static str {
        "swiglu-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (a, b, g) = (
            f32_slice(s1, l1, name)?,
            f32_slice(s2, l2, name)?,
            f32_slice(s3, l3, name)?,
        );
        let len = a.len();
        let mut out = vec![0f32; 2 * len];
        let (da, db) = out.split_at_mut(len);
        da.par_chunks_mut(MIN_TASK_ELEMS)
            .zip(db.par_chunks_mut(MIN_TASK_ELEMS))
            .zip(
                a.par_chunks(MIN_TASK_ELEMS)
                    .zip(b.par_chunks(MIN_TASK_ELEMS)),
            )
            .zip(g.par_chunks(MIN_TASK_ELEMS))
            .for_each(|(((da, db), (a, b)), g)| {
                for j in 0..da.len() {
                    let s = sigmoid(a[j]);
                    da[j] = g[j] * b[j] * s * (1.0 + a[j] * (1.0 - s));
                    db[j] = g[j] * a[j] * s;
                }
            });
        let mut dims = l1.shape().dims().to_vec();
        dims[0] *= 2;
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

/// silu(gate) ⊙ up for two `(n, …)` tensors of the same shape, differentiable in both.
///
/// # Errors
/// When the shapes differ or the tensors are not f32.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if gate.shape() != up.shape() {
        bail!(
            "swiglu: gate is {:?} but up is {:?}",
            gate.shape(),
            up.shape()
        )
    }
    gate.contiguous()?.apply_op2(&up.contiguous()?, SwiGlu)
}

/// The rotary embedding of `(b, t, heads, head_dim)`, halves rotated (transformers'
/// `rotate_half`), with `cos`/`sin` rows per position. Its gradient is the inverse rotation.
#[derive(Debug, Clone)]
struct Rope {
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "rope-train"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let (_, t, h, hd) = l.shape().dims4()?;
        let half = hd / 2;
        if self.cos.len() != t * half {
            bail!(
                "rope: {t} positions of {half} frequencies, but {} cos values",
                self.cos.len()
            )
        }
        let mut out = vec![0f32; x.len()];
        // One task per (sequence, position): h heads of hd values.
        out.par_chunks_mut(h * hd)
            .zip(x.par_chunks(h * hd))
            .enumerate()
            .for_each(|(row, (out, x))| {
                let p = row % t;
                let (cos, sin) = (
                    &self.cos[p * half..(p + 1) * half],
                    &self.sin[p * half..(p + 1) * half],
                );
                for (o, x) in out.chunks_mut(hd).zip(x.chunks(hd)) {
                    for i in 0..half {
                        let (x1, x2) = (x[i], x[i + half]);
                        o[i] = x1 * cos[i] - x2 * sin[i];
                        o[i + half] = x2 * cos[i] + x1 * sin[i];
                    }
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let inverse = Rope {
            cos: self.cos.clone(),
            sin: self.sin.iter().map(|s| -s).collect(),
        };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&inverse)?))
    }
}

/// Rotary embedding of `(b, t, heads, head_dim)` with `cos`/`sin` of `(t, head_dim / 2)`.
///
/// # Errors
/// When the shapes disagree.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let op = Rope {
        cos: cos.flatten_all()?.to_vec1()?,
        sin: sin.flatten_all()?.to_vec1()?,
    };
    x.contiguous()?.apply_op1(op)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var, D};

    use super::*;

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        // A small deterministic pseudo-random fill (no RNG state shared between tests).
        let v: Vec<f32> = (0..n as u64)
            .map(|i| {
                let z = (i.wrapping_add(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32;
                z / (1u64 << 24) as f32 * 4.0 - 2.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
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

    /// Runs `fused` and `reference` on the same variables, and compares outputs and the
    /// gradients of a weighted sum of the outputs.
    fn check(
        inputs: &[Tensor],
        fused: impl Fn(&[Tensor]) -> Tensor,
        reference: impl Fn(&[Tensor]) -> Tensor,
    ) {
        let vars: Vec<Var> = inputs
            .iter()
            .map(|t| Var::from_tensor(t).unwrap())
            .collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let (a, b) = (fused(&ts), reference(&ts));
        assert!(max_diff(&a, &b) < 1e-5, "forward: {}", max_diff(&a, &b));
        let w = randn(a.dims(), 99);
        let ga = (&a * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (&b * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for (i, t) in ts.iter().enumerate() {
            let (x, y) = (ga.get(t).unwrap(), gb.get(t).unwrap());
            let scale = y
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                max_diff(x, y) < 1e-4 * scale.max(1.0),
                "gradient of input {i}: {}",
                max_diff(x, y)
            );
        }
    }

    fn reference_mask(t: usize, rows: usize, window: Option<usize>) -> Tensor {
        let m: Vec<f32> = (0..rows * t)
            .map(|k| {
                if masked((k / t) % t, k % t, window) {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        Tensor::from_vec(m, (rows, t), &Device::Cpu).unwrap()
    }

    #[test]
    fn causal_softmax_matches_candle_ops() {
        for window in [None, Some(3)] {
            // (b, kv heads, n_rep·t, t): two query heads stacked per kv head.
            let (t, rows) = (7, 2 * 7);
            check(
                &[randn(&[2, 3, rows, t], 1)],
                |x| causal_softmax(&x[0], 0.5, window).unwrap(),
                |x| {
                    let s = ((&x[0] * 0.5).unwrap())
                        .broadcast_add(&reference_mask(t, rows, window))
                        .unwrap();
                    candle_nn::ops::softmax(&s, D::Minus1).unwrap()
                },
            );
        }
    }

    #[test]
    fn rms_norm_matches_candle_ops() {
        check(
            &[
                randn(&[37, 12], 2),
                randn(&[12], 3).affine(0.3, 1.0).unwrap(),
            ],
            |x| rms_norm(&x[0], &x[1], 1e-6).unwrap(),
            |x| candle_nn::ops::rms_norm_slow(&x[0], &x[1], 1e-6).unwrap(),
        );
    }

    #[test]
    fn swiglu_matches_candle_ops() {
        check(
            &[randn(&[9, 20], 4), randn(&[9, 20], 5)],
            |x| swiglu(&x[0], &x[1]).unwrap(),
            |x| (x[0].silu().unwrap() * &x[1]).unwrap(),
        );
    }

    #[test]
    fn rope_matches_candle_ops() {
        let (t, half) = (5, 4);
        let angles: Vec<f32> = (0..t * half)
            .map(|k| (k / half) as f32 * 0.3 / (1 + k % half) as f32)
            .collect();
        let cos = Tensor::from_vec(
            angles.iter().map(|a| a.cos()).collect(),
            (t, half),
            &Device::Cpu,
        )
        .unwrap();
        let sin = Tensor::from_vec(
            angles.iter().map(|a| a.sin()).collect(),
            (t, half),
            &Device::Cpu,
        )
        .unwrap();
        check(
            &[randn(&[2, t, 3, 2 * half], 6)],
            |x| rope(&x[0], &cos, &sin).unwrap(),
            |x| {
                let x = &x[0];
                let (c, s) = (
                    cos.reshape((t, 1, half)).unwrap(),
                    sin.reshape((t, 1, half)).unwrap(),
                );
                let (x1, x2) = (
                    x.narrow(3, 0, half).unwrap(),
                    x.narrow(3, half, half).unwrap(),
                );
                let r1 = (x1.broadcast_mul(&c).unwrap() - x2.broadcast_mul(&s).unwrap()).unwrap();
                let r2 = (x2.broadcast_mul(&c).unwrap() + x1.broadcast_mul(&s).unwrap()).unwrap();
                Tensor::cat(&[r1, r2], 3).unwrap()
            },
        );
        // And candle's own (inference) kernel agrees on the forward.
        let x = randn(&[2, t, 3, 2 * half], 7);
        let want = candle_nn::rotary_emb::rope_thd(&x, &cos, &sin).unwrap();
        assert!(max_diff(&rope(&x, &cos, &sin).unwrap(), &want) < 1e-6);
    }
}
