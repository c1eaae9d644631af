//! `KvCache`: one sequence's keys and values for every layer, preallocated so that appending a
//! token copies only that token, and forkable so that n samples share one prefilled prompt.

use candle_core::Tensor;

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
        let t = k.dim(1)?;
        let slot = &mut self.layers[layer];
        let len = slot.as_ref().map_or(0, |l| l.len);
        let cap = slot.as_ref().map_or(0, |l| l.capacity());
        if len + t > cap {
            let new_cap = (len + t).next_power_of_two().max(MIN_CAPACITY);
            let (kvh, _, hd) = k.dims3()?;
            let grown = match slot.take() {
                Some(old) => LayerKv {
                    k: copy_prefix(&old.k, old.len, new_cap)?,
                    v: copy_prefix(&old.v, old.len, new_cap)?,
                    len: old.len,
                },
                None => LayerKv {
                    k: Tensor::zeros((kvh, new_cap, hd), k.dtype(), k.device())?,
                    v: Tensor::zeros((kvh, new_cap, hd), v.dtype(), v.device())?,
                    len: 0,
                },
            };
            *slot = Some(grown);
        }
        let Some(l) = slot.as_mut() else {
            unreachable!("the slot was filled just above")
        };
        l.k.slice_set(&k.contiguous()?, 1, l.len)?;
        l.v.slice_set(&v.contiguous()?, 1, l.len)?;
        l.len += t;
        Ok((l.k.narrow(1, 0, l.len)?, l.v.narrow(1, 0, l.len)?))
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
