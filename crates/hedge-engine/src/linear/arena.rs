//! The weight matrices of a model too large for the caches, gathered into one buffer per dtype
//! that sits in 2 MB pages ([`crate::huge_pages`]), each matrix a view of it.
//!
//! Each matrix in its own allocation would leave the partial 2 MB pages at both of its ends in
//! 4 KB pages: for SmolLM2-135M's 3.5 MB matrices, more than a third of the weights. One buffer
//! has partial pages only at its two ends.

use candle_core::{CpuStorage, DType, Device, Storage, Tensor, WithDType};

use crate::error::Result;
use crate::huge_pages::{advise_huge_pages, HugePages};

/// Moves the CPU weight matrices `weights` into one buffer per dtype (f32, bf16, f16) in huge
/// pages, replacing each by a view of it with the same shape and numbers; others, and trained
/// variables (whose updates must reach their own tensor), are left as they are. Each matrix is
/// released as soon as it is copied, so that a model needs little more than its own size while
/// this runs. Returns what the kernel did with the largest buffer.
pub(crate) fn gather_in_huge_pages(weights: &mut [&mut Tensor]) -> Result<HugePages> {
    let mut answer = (0, HugePages::Unavailable);
    for dtype in [DType::F32, DType::BF16, DType::F16] {
        let mut these: Vec<&mut Tensor> = weights
            .iter_mut()
            .filter(|w| {
                w.dtype() == dtype && w.device().is_cpu() && w.is_contiguous() && !w.is_variable()
            })
            .map(|w| &mut **w)
            .collect();
        if these.is_empty() {
            continue;
        }
        let elems: usize = these.iter().map(|w| w.elem_count()).sum();
        let got = gather_dtype(&mut these, dtype)?;
        if elems > answer.0 {
            answer = (elems, got);
        }
    }
    Ok(answer.1)
}

fn gather_dtype(weights: &mut [&mut Tensor], dtype: DType) -> Result<HugePages> {
    match dtype {
        DType::F32 => gather::<f32>(weights, |s| match s {
            CpuStorage::F32(v) => Some(v),
            _ => None,
        }),
        DType::BF16 => gather::<half::bf16>(weights, |s| match s {
            CpuStorage::BF16(v) => Some(v),
            _ => None,
        }),
        DType::F16 => gather::<half::f16>(weights, |s| match s {
            CpuStorage::F16(v) => Some(v),
            _ => None,
        }),
        _ => Ok(HugePages::Unavailable),
    }
}

fn gather<T: WithDType>(
    weights: &mut [&mut Tensor],
    data: impl Fn(&CpuStorage) -> Option<&Vec<T>>,
) -> Result<HugePages> {
    let total: usize = weights.iter().map(|w| w.elem_count()).sum();
    let mut all: Vec<T> = Vec::with_capacity(total);
    // Advised before it is written, so that its pages are huge from their first touch; the
    // collapse below catches the ones that were not.
    advise_huge_pages(all.spare_capacity_mut());
    let mut shapes = Vec::with_capacity(weights.len());
    for w in weights.iter_mut() {
        {
            let (storage, layout) = w.storage_and_layout();
            let (Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets())
            else {
                unreachable!("only contiguous CPU tensors are gathered")
            };
            let Some(values) = data(cpu) else {
                unreachable!("only tensors of this dtype are gathered")
            };
            all.extend_from_slice(&values[start..end]);
        }
        shapes.push(w.shape().clone());
        // Release the matrix now (unless something else holds it too).
        **w = Tensor::zeros(0, w.dtype(), &Device::Cpu)?;
    }
    let answer = advise_huge_pages(&all);
    let arena = Tensor::from_vec(all, total, &Device::Cpu)?;
    let mut offset = 0;
    for (w, shape) in weights.iter_mut().zip(shapes) {
        let n = shape.elem_count();
        **w = arena.narrow(0, offset, n)?.reshape(shape)?;
        offset += n;
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every matrix keeps its shape and numbers, and all of one dtype share one buffer.
    #[test]
    fn gathered_matrices_are_views_of_one_buffer_with_the_same_numbers() {
        let dev = Device::Cpu;
        let mut a = Tensor::randn(0f32, 1.0, (300, 70), &dev).unwrap();
        let mut b = Tensor::randn(0f32, 1.0, (5, 7), &dev).unwrap();
        let mut c = Tensor::randn(0f32, 1.0, (9, 4), &dev)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap();
        let before: Vec<Vec<Vec<f32>>> = [&a, &b, &c]
            .iter()
            .map(|t| t.to_dtype(DType::F32).unwrap().to_vec2().unwrap())
            .collect();
        gather_in_huge_pages(&mut [&mut a, &mut b, &mut c]).unwrap();
        let after: Vec<Vec<Vec<f32>>> = [&a, &b, &c]
            .iter()
            .map(|t| t.to_dtype(DType::F32).unwrap().to_vec2().unwrap())
            .collect();
        assert_eq!(before, after);
        assert_eq!(c.dtype(), DType::BF16);
        let start = |t: &Tensor| {
            let (s, l) = t.storage_and_layout();
            match &*s {
                Storage::Cpu(CpuStorage::F32(v)) => v.as_ptr() as usize + 4 * l.start_offset(),
                _ => panic!("f32"),
            }
        };
        assert_eq!(
            start(&b),
            start(&a) + 4 * 300 * 70,
            "b follows a in one buffer"
        );
    }
}
