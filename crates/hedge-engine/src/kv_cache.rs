//! `KvCache`: one sequence's keys and values for every layer, preallocated so that appending a
//! token copies only that token, and forkable so that n samples share one prefilled prompt.

use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor};

use crate::error::Result;

/// Keys and values of one layer: buffers of shape `(kv_heads, capacity, head_dim)`, of which the
/// first `len` positions are filled.
#[derive(Debug)]
struct LayerKv {
    k: Tensor,
    v: Tensor,
    len: usize,
}

impl LayerKv {
    fn capacity(&self) -> usize {
        self.k.dim(1).unwrap_or(0)
    }
}

/// The KV cache of one sequence.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<LayerKv>>,
}

const MIN_CAPACITY: usize = 64;

impl KvCache {
    /// An empty cache for a model with `n_layers` layers.
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: (0..n_layers).map(|_| None).collect(),
        }
    }

    /// Number of positions cached (the position of the next token).
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |l| l.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An independent copy that shares nothing with `self`: appending to one leaves the other
    /// unchanged. Costs one copy of the cached prefix, far less than prefilling it again.
    ///
    /// # Errors
    /// Only on a device failure.
    pub fn fork(&self) -> Result<Self> {
        let layers = self
            .layers
            .iter()
            .map(|l| match l {
                None => Ok(None),
                Some(l) => {
                    let cap = l.capacity();
                    let k = copy_prefix(&l.k, l.len, cap)?;
                    let v = copy_prefix(&l.v, l.len, cap)?;
                    Ok(Some(LayerKv { k, v, len: l.len }))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    /// Forgets every position from `len` on, so that the next token is written at position
    /// `len`: a rejected draft is rolled back without copying anything. A `len` at or past the
    /// cached length changes nothing.
    pub fn truncate(&mut self, len: usize) {
        for l in self.layers.iter_mut().flatten() {
            l.len = l.len.min(len);
        }
    }

    /// Appends `k`, `v` of shape `(kv_heads, t, head_dim)` to layer `layer` and returns views of
    /// all the keys and values cached so far, `(kv_heads, len + t, head_dim)`.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (kvh, t, hd) = k.dims3()?;
        let l = self.reserve(layer, t, (kvh, hd), k)?;
        l.k.slice_set(&k.contiguous()?, 1, l.len)?;
        l.v.slice_set(&v.contiguous()?, 1, l.len)?;
        l.len += t;
        Ok((l.k.narrow(1, 0, l.len)?, l.v.narrow(1, 0, l.len)?))
    }

    /// [`KvCache::append`] for rows `first..first + t` of the packed keys and values of a forward
    /// pass, `(tokens, kv_heads, head_dim)`, contiguous f32 on the CPU (the decoding step): each
    /// row is copied straight into the cache, in place, with no intermediate tensor.
    pub(crate) fn append_rows(
        &mut self,
        layer: usize,
        (k, v): (&Tensor, &Tensor),
        first: usize,
        t: usize,
    ) -> Result<(Tensor, Tensor)> {
        let (_, kvh, hd) = k.dims3()?;
        let l = self.reserve(layer, t, (kvh, hd), k)?;
        let write = WriteRows {
            first,
            t,
            at: l.len,
        };
        l.k.inplace_op2(k, &write)?;
        l.v.inplace_op2(v, &write)?;
        l.len += t;
        Ok((l.k.narrow(1, 0, l.len)?, l.v.narrow(1, 0, l.len)?))
    }

    /// Layer `layer`'s buffers, grown (to a power of two, the filled prefix copied) so that `t`
    /// more positions fit; `like` gives their dtype and device.
    fn reserve(
        &mut self,
        layer: usize,
        t: usize,
        (kvh, hd): (usize, usize),
        like: &Tensor,
    ) -> Result<&mut LayerKv> {
        let slot = &mut self.layers[layer];
        let len = slot.as_ref().map_or(0, |l| l.len);
        let cap = slot.as_ref().map_or(0, |l| l.capacity());
        if len + t > cap {
            let new_cap = (len + t).next_power_of_two().max(MIN_CAPACITY);
            let (dtype, device) = (like.dtype(), like.device());
            let grown = match slot.take() {
                Some(old) => LayerKv {
                    k: copy_prefix(&old.k, old.len, new_cap)?,
                    v: copy_prefix(&old.v, old.len, new_cap)?,
                    len: old.len,
                },
                None => LayerKv {
                    k: Tensor::zeros((kvh, new_cap, hd), dtype, device)?,
                    v: Tensor::zeros((kvh, new_cap, hd), dtype, device)?,
                    len: 0,
                },
            };
            *slot = Some(grown);
        }
        match slot.as_mut() {
            Some(l) => Ok(l),
            None => unreachable!("the slot was filled just above"),
        }
    }
}

/// A fresh buffer of capacity `cap` holding the first `len` positions of `src`.
fn copy_prefix(src: &Tensor, len: usize, cap: usize) -> Result<Tensor> {
    let (kvh, _, hd) = src.dims3()?;
    let dst = Tensor::zeros((kvh, cap, hd), src.dtype(), src.device())?;
    if len > 0 {
        dst.slice_set(&src.narrow(1, 0, len)?.contiguous()?, 1, 0)?;
    }
    Ok(dst)
}

/// Writes rows `first..first + t` of a packed `(tokens, kv_heads, head_dim)` f32 tensor into a
/// `(kv_heads, capacity, head_dim)` buffer at positions `at..at + t`.
struct WriteRows {
    first: usize,
    t: usize,
    at: usize,
}

impl InplaceOp2 for WriteRows {
    fn name(&self) -> &'static str {
        "kv-write-rows"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        src: &CpuStorage,
        src_l: &Layout,
    ) -> candle_core::Result<()> {
        let (CpuStorage::F32(dst), CpuStorage::F32(src)) = (dst, src) else {
            candle_core::bail!("kv-write-rows: the cache and the rows must be f32")
        };
        let (Some((d0, _)), Some((s0, s1))) =
            (dst_l.contiguous_offsets(), src_l.contiguous_offsets())
        else {
            candle_core::bail!("kv-write-rows: the cache and the rows must be contiguous")
        };
        let (kvh, cap, hd) = dst_l.shape().dims3()?;
        let (rows, kvh2, hd2) = src_l.shape().dims3()?;
        if (kvh, hd) != (kvh2, hd2) || self.first + self.t > rows || self.at + self.t > cap {
            candle_core::bail!(
                "kv-write-rows: rows {}..{} of {rows}x{kvh2}x{hd2} do not fit at {} of {kvh}x{cap}x{hd}",
                self.first,
                self.first + self.t,
                self.at
            )
        }
        let src = &src[s0..s1];
        for r in 0..self.t {
            for g in 0..kvh {
                let from = ((self.first + r) * kvh + g) * hd;
                let to = d0 + (g * cap + self.at + r) * hd;
                dst[to..to + hd].copy_from_slice(&src[from..from + hd]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Rows written in place equal the same rows appended as `(kv_heads, t, head_dim)` tensors,
    /// across a growth of the buffers; rows outside the packed tensor are an error.
    #[test]
    fn rows_written_in_place_equal_appended_rows() {
        let (total, kvh, hd) = (70, 2, 3);
        let k = Tensor::arange(0f32, (total * kvh * hd) as f32, &Device::Cpu)
            .unwrap()
            .reshape((total, kvh, hd))
            .unwrap();
        let v = (&k * -1.0).unwrap();
        let (mut by_rows, mut by_tensors) = (KvCache::new(1), KvCache::new(1));
        // 3 rows, then 66 more: the second append grows the buffers past MIN_CAPACITY.
        for (first, t) in [(1, 3), (4, 66)] {
            let got = by_rows.append_rows(0, (&k, &v), first, t).unwrap();
            let ki = k.narrow(0, first, t).unwrap().transpose(0, 1).unwrap();
            let vi = v.narrow(0, first, t).unwrap().transpose(0, 1).unwrap();
            let want = by_tensors.append(0, &ki, &vi).unwrap();
            for (g, w) in [(&got.0, &want.0), (&got.1, &want.1)] {
                let g: Vec<Vec<Vec<f32>>> = g.to_vec3().unwrap();
                assert_eq!(g, w.to_vec3::<f32>().unwrap());
            }
        }
        assert_eq!(by_rows.len(), 69);
        assert!(by_rows.append_rows(0, (&k, &v), 68, 3).is_err());
    }
}
