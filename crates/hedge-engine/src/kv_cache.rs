//! `KvCache`: one sequence's keys and values for every layer, preallocated so that appending a
//! token copies only that token, and forkable so that n samples share one prefilled prompt: a
//! fork reads the prompt's keys and values where they already are, and writes only its own.

use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor};

use crate::error::Result;

/// Keys and values of one layer: the positions shared with the cache this one was forked from
/// (read, never written), then its own buffers of shape `(kv_heads, capacity, head_dim)`, of
/// which the first `len` positions are filled.
#[derive(Debug, Default)]
struct LayerKv {
    /// `(kv_heads, shared_len, head_dim)` views of another cache's buffers.
    shared: Option<(Tensor, Tensor)>,
    own: Option<(Tensor, Tensor)>,
    len: usize,
    /// Forks read the first `frozen` positions of `own` in place: before writing below it, this
    /// cache moves to a copy of its buffers.
    frozen: AtomicUsize,
}

impl LayerKv {
    fn shared_len(&self) -> usize {
        self.shared
            .as_ref()
            .map_or(0, |(k, _)| k.dim(1).unwrap_or(0))
    }

    fn capacity(&self) -> usize {
        self.own.as_ref().map_or(0, |(k, _)| k.dim(1).unwrap_or(0))
    }

    /// Views of every cached position: the shared ones, then the own ones.
    fn views(&self) -> Result<KvViews> {
        let own = match &self.own {
            Some((k, v)) if self.len > 0 => {
                Some((k.narrow(1, 0, self.len)?, v.narrow(1, 0, self.len)?))
            }
            _ => None,
        };
        Ok(KvViews {
            shared: self.shared.clone(),
            own,
        })
    }
}

/// One layer's cached keys and values as views, `(kv_heads, len, head_dim)` each: the positions
/// shared with other forks of the same prompt, then the sequence's own.
#[derive(Debug, Clone)]
pub(crate) struct KvViews {
    pub shared: Option<(Tensor, Tensor)>,
    pub own: Option<(Tensor, Tensor)>,
}

impl KvViews {
    /// Number of positions.
    pub fn len(&self) -> usize {
        [&self.shared, &self.own]
            .into_iter()
            .flatten()
            .map(|(k, _)| k.dim(1).unwrap_or(0))
            .sum()
    }

    /// The first `len` positions.
    pub fn narrow(&self, len: usize) -> Result<Self> {
        let cut = |kv: &Option<(Tensor, Tensor)>, len: usize| -> Result<Option<(Tensor, Tensor)>> {
            match kv {
                Some((k, v)) if len > 0 => {
                    let len = len.min(k.dim(1)?);
                    Ok(Some((k.narrow(1, 0, len)?, v.narrow(1, 0, len)?)))
                }
                _ => Ok(None),
            }
        };
        let shared_len = self.shared.as_ref().map_or(Ok(0), |(k, _)| k.dim(1))?;
        Ok(Self {
            shared: cut(&self.shared, len)?,
            own: cut(&self.own, len.saturating_sub(shared_len))?,
        })
    }

    /// Keys and values as one tensor each (a copy when some positions are shared); `None` when
    /// nothing is cached.
    pub fn joined(&self) -> Result<Option<(Tensor, Tensor)>> {
        Ok(match (&self.shared, &self.own) {
            (Some((sk, sv)), Some((k, v))) => {
                Some((Tensor::cat(&[sk, k], 1)?, Tensor::cat(&[sv, v], 1)?))
            }
            (Some(kv), None) | (None, Some(kv)) => Some(kv.clone()),
            (None, None) => None,
        })
    }
}

/// The KV cache of one sequence.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<LayerKv>,
}

const MIN_CAPACITY: usize = 64;

impl KvCache {
    /// An empty cache for a model with `n_layers` layers.
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: (0..n_layers).map(|_| LayerKv::default()).collect(),
        }
    }

    /// Number of positions cached (the position of the next token).
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.shared_len() + l.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A cache that continues from the same positions independently: appending to one, or
    /// truncating it, leaves the other unchanged. The fork reads the positions cached so far
    /// where they are, with no copy (unless `self` is itself a fork that has added positions of
    /// its own: those are copied once), so n forks of a prompt hold its keys and values once,
    /// and decoding them reads them once.
    ///
    /// # Errors
    /// Only on a device failure.
    pub fn fork(&self) -> Result<Self> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let shared = match (&l.shared, l.len) {
                    (shared, 0) => shared.clone(),
                    (None, len) => {
                        l.frozen.fetch_max(len, Ordering::Relaxed);
                        l.views()?.own
                    }
                    (Some(_), _) => l.views()?.joined()?,
                };
                Ok(LayerKv {
                    shared,
                    ..LayerKv::default()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    /// Forgets every position from `len` on, so that the next token is written at position
    /// `len`: a rejected draft is rolled back without copying anything. A `len` at or past the
    /// cached length changes nothing.
    pub fn truncate(&mut self, len: usize) {
        for l in &mut self.layers {
            let shared_len = l.shared_len();
            if len >= shared_len {
                l.len = l.len.min(len - shared_len);
                continue;
            }
            l.len = 0;
            l.shared = match l.shared.take() {
                Some((k, v)) if len > 0 => k.narrow(1, 0, len).ok().zip(v.narrow(1, 0, len).ok()),
                _ => None,
            };
        }
    }

    /// Appends `k`, `v` of shape `(kv_heads, t, head_dim)` to layer `layer` and returns all the
    /// keys and values cached so far, `(kv_heads, len + t, head_dim)` (views of the cache, or a
    /// copy when some positions are shared with another fork).
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (kvh, t, hd) = k.dims3()?;
        self.unshare(layer)?;
        let l = self.reserve(layer, t, (kvh, hd), k)?;
        let Some((kb, vb)) = &l.own else {
            unreachable!("reserve gives the layer its own buffers")
        };
        kb.slice_set(&k.contiguous()?, 1, l.len)?;
        vb.slice_set(&v.contiguous()?, 1, l.len)?;
        l.len += t;
        Ok(l.views()?
            .joined()?
            .unwrap_or_else(|| (k.clone(), v.clone())))
    }

    /// [`KvCache::append`] for rows `first..first + t` of the packed keys and values of a forward
    /// pass, `(tokens, kv_heads, head_dim)`, contiguous f32 on the CPU (the decoding step): each
    /// row is copied straight into the cache, in place, with no intermediate tensor. Returns the
    /// cached positions as views, the shared ones apart.
    pub(crate) fn append_rows(
        &mut self,
        layer: usize,
        (k, v): (&Tensor, &Tensor),
        first: usize,
        t: usize,
    ) -> Result<KvViews> {
        let (_, kvh, hd) = k.dims3()?;
        let l = self.reserve(layer, t, (kvh, hd), k)?;
        let write = WriteRows {
            first,
            t,
            at: l.len,
        };
        let Some((kb, vb)) = &l.own else {
            unreachable!("reserve gives the layer its own buffers")
        };
        kb.inplace_op2(k, &write)?;
        vb.inplace_op2(v, &write)?;
        l.len += t;
        l.views()
    }

    /// Moves the positions layer `layer` shares with other forks into its own buffers, once.
    /// The general attention reads one tensor of keys and one of values: without this, a fork
    /// decoding on that path would join the shared positions to its own at every step.
    fn unshare(&mut self, layer: usize) -> Result<()> {
        let l = &mut self.layers[layer];
        if l.shared.is_none() {
            return Ok(());
        }
        let Some((k, v)) = l.views()?.joined()? else {
            unreachable!("a layer with shared positions has some")
        };
        let len = k.dim(1)?;
        let cap = len.next_power_of_two().max(MIN_CAPACITY);
        l.own = Some((copy_prefix(&k, len, cap)?, copy_prefix(&v, len, cap)?));
        l.shared = None;
        l.len = len;
        // Forks of this cache keep reading its old buffers.
        *l.frozen.get_mut() = 0;
        Ok(())
    }

    /// Layer `layer`, with own buffers that `t` more positions fit in (grown to a power of two,
    /// the filled positions copied) and that no fork reads where they will be written; `like`
    /// gives their dtype and device.
    fn reserve(
        &mut self,
        layer: usize,
        t: usize,
        (kvh, hd): (usize, usize),
        like: &Tensor,
    ) -> Result<&mut LayerKv> {
        let l = &mut self.layers[layer];
        let cap = l.capacity();
        let read_by_forks = l.len < *l.frozen.get_mut();
        if l.len + t > cap || read_by_forks {
            let new_cap = if l.len + t > cap {
                (l.len + t).next_power_of_two().max(MIN_CAPACITY)
            } else {
                cap
            };
            l.own = Some(match l.own.take() {
                Some((k, v)) => (
                    copy_prefix(&k, l.len, new_cap)?,
                    copy_prefix(&v, l.len, new_cap)?,
                ),
                None => {
                    let (dtype, device) = (like.dtype(), like.device());
                    (
                        Tensor::zeros((kvh, new_cap, hd), dtype, device)?,
                        Tensor::zeros((kvh, new_cap, hd), dtype, device)?,
                    )
                }
            });
            // The forks keep the old buffers.
            *l.frozen.get_mut() = 0;
        }
        Ok(l)
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
            let got = got.joined().unwrap().unwrap();
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

    /// Every position of a layer, `[kv_head][position][dim]`.
    type Positions = Vec<Vec<Vec<f32>>>;

    /// The keys and the values of `views`, read out.
    fn positions(views: &KvViews) -> (Positions, Positions) {
        let (k, v) = views.joined().unwrap().unwrap();
        (k.to_vec3().unwrap(), v.to_vec3().unwrap())
    }

    /// Rows `at..at + t` of a `(tokens, 1, 2)` tensor counting from `base`, as keys; values negated.
    fn rows(base: f32, t: usize) -> (Tensor, Tensor) {
        let k = Tensor::arange(base, base + (2 * t) as f32, &Device::Cpu)
            .unwrap()
            .reshape((t, 1, 2))
            .unwrap();
        let v = (&k * -1.0).unwrap();
        (k, v)
    }

    /// A fork reads its parent's positions in place, yet each side's appends and truncations
    /// stay its own: a parent rolled back and rewritten under its forks moves to a copy first.
    #[test]
    fn forks_share_the_prefix_and_stay_independent() {
        let mut parent = KvCache::new(1);
        let (k, v) = rows(0.0, 5);
        let before = positions(&parent.append_rows(0, (&k, &v), 0, 5).unwrap());
        let mut child = parent.fork().unwrap();
        assert_eq!(child.len(), 5);
        // The parent's rollback and new rows do not reach the fork.
        parent.truncate(3);
        let (k2, v2) = rows(100.0, 2);
        let rewritten = positions(&parent.append_rows(0, (&k2, &v2), 0, 2).unwrap());
        assert_eq!(rewritten.0[0][..3], before.0[0][..3]);
        assert_eq!(rewritten.0[0][3], vec![100.0, 101.0]);
        // The fork's view: the five shared positions, then its own.
        let (k3, v3) = rows(200.0, 1);
        let grown = child.append_rows(0, (&k3, &v3), 0, 1).unwrap();
        assert!(grown.shared.is_some());
        let grown = positions(&grown);
        assert_eq!(grown.0[0][..5], before.0[0][..]);
        assert_eq!(grown.1[0][5], vec![-200.0, -201.0]);
        // A fork of a fork that has positions of its own sees all six.
        let mut grandchild = child.fork().unwrap();
        let (k4, v4) = rows(300.0, 1);
        let seen = positions(&grandchild.append_rows(0, (&k4, &v4), 0, 1).unwrap());
        assert_eq!(seen.0[0][..6], grown.0[0][..]);
        // Truncating into the shared positions keeps their start.
        child.truncate(2);
        assert_eq!(child.len(), 2);
        let (k5, v5) = rows(400.0, 1);
        let cut = positions(&child.append_rows(0, (&k5, &v5), 0, 1).unwrap());
        assert_eq!(cut.0[0][..2], before.0[0][..2]);
        assert_eq!(cut.0[0][2], vec![400.0, 401.0]);
        assert_eq!(parent.len(), 5);
        assert_eq!(grandchild.len(), 7);
    }

    /// Where the f32 buffer under `t` starts.
    fn buffer(t: &Tensor) -> usize {
        let (storage, _) = t.storage_and_layout();
        match &*storage {
            candle_core::Storage::Cpu(CpuStorage::F32(d)) => d.as_ptr() as usize,
            _ => panic!("an f32 CPU tensor"),
        }
    }

    /// On the general path a fork copies the shared positions into its own buffers once: its
    /// keys and values are then views of one buffer, the same numbers as joined, and the parent
    /// and the other forks are unchanged.
    #[test]
    fn a_fork_appended_on_the_general_path_stops_sharing_once() {
        let mut parent = KvCache::new(1);
        let (k, v) = rows(0.0, 5);
        parent.append_rows(0, (&k, &v), 0, 5).unwrap();
        let mut child = parent.fork().unwrap();
        let sibling = parent.fork().unwrap();
        let one = |base: f32| {
            let (k, v) = rows(base, 1);
            (
                k.transpose(0, 1).unwrap().contiguous().unwrap(),
                v.transpose(0, 1).unwrap().contiguous().unwrap(),
            )
        };
        let (k1, v1) = one(200.0);
        let (keys, values) = child.append(0, &k1, &v1).unwrap();
        assert!(child.layers[0].shared.is_none());
        let (own_k, _) = child.layers[0].own.clone().unwrap();
        assert_eq!(
            buffer(&keys),
            buffer(&own_k),
            "a view of the fork's own buffer"
        );
        let (k2, v2) = one(300.0);
        let (keys2, _) = child.append(0, &k2, &v2).unwrap();
        assert_eq!(buffer(&keys2), buffer(&own_k), "no copy at the next step");
        let want = positions(&parent.layers[0].views().unwrap());
        let keys = keys.to_vec3::<f32>().unwrap();
        let keys2 = keys2.to_vec3::<f32>().unwrap();
        assert_eq!(keys[0][..5], want.0[0][..]);
        assert_eq!(keys2[0][..6], keys[0][..]);
        assert_eq!(keys2[0][6], vec![300.0, 301.0]);
        assert_eq!(values.to_vec3::<f32>().unwrap()[0][5], vec![-200.0, -201.0]);
        assert_eq!(parent.len(), 5);
        assert_eq!(sibling.len(), 5);
        assert_eq!(positions(&sibling.layers[0].views().unwrap()).0, want.0);
    }
}
