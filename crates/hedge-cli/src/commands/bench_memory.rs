//! What bounds batch-1 decoding: the bytes of weights one step reads, and how fast this machine
//! reads that many bytes right now, measured in the same run as the decoding it bounds (so that
//! a busy or throttled machine shows in both).

use std::time::Instant;

use hedge_engine::huge_pages::advise_huge_pages;
use hedge_engine::LocalModel;
use rayon::prelude::*;

/// The largest buffer the read probe allocates: far beyond any cache, so larger models are
/// bounded by the same bandwidth.
const MAX_PROBE_BYTES: usize = 1 << 30;

/// Bytes of weight matrices one decoding step reads: every projection of every layer and the
/// vocabulary projection, in the dtype they are kept in. The embedding row and the norms are
/// negligible.
pub(super) fn weight_bytes_per_step(model: &LocalModel) -> usize {
    let c = model.decoder.config();
    let (d, hd) = (c.hidden_size, c.head_dim());
    // q and o: d × heads·hd each; k and v: d × kv_heads·hd each; gate, up and down: d × i each.
    let attention = 2 * d * c.num_attention_heads * hd + 2 * d * c.num_kv_heads() * hd;
    let mlp = 3 * d * c.intermediate_size;
    let params = c.num_hidden_layers * (attention + mlp) + c.vocab_size * d;
    params * model.decoder.weight_dtype().size_in_bytes()
}

/// A buffer as large as the largest model's step (at most [`MAX_PROBE_BYTES`]), written once so
/// that every page is real memory, in 2 MB pages where the kernel gives them, as the weights of
/// a model of that size are ([`hedge_engine::huge_pages`]).
pub(super) struct ReadProbe {
    buf: Vec<f32>,
}

impl ReadProbe {
    pub(super) fn new(max_bytes: usize) -> Self {
        let len = max_bytes.clamp(4, MAX_PROBE_BYTES) / 4;
        let mut buf = Vec::with_capacity(len);
        advise_huge_pages(buf.spare_capacity_mut());
        buf.resize(len, 1.0);
        advise_huge_pages(&buf);
        Self { buf }
    }

    /// GB/s at which all threads read the first `bytes` of the buffer once, summing it: the
    /// traffic of a memory-bound decoding step without its arithmetic.
    pub(super) fn read_gb_s(&self, bytes: usize) -> f64 {
        let part = &self.buf[..(bytes / 4).clamp(1, self.buf.len())];
        let t = Instant::now();
        let sum: f32 = part.par_chunks(1 << 16).map(sum_lanes).sum();
        std::hint::black_box(sum);
        (part.len() * 4) as f64 / t.elapsed().as_secs_f64() / 1e9
    }
}

/// A sum in sixteen independent lanes, which the compiler keeps in vector registers.
fn sum_lanes(xs: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = xs.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_reads_what_it_wrote() {
        let probe = ReadProbe::new(1000);
        assert_eq!(probe.buf.len(), 250);
        assert_eq!(sum_lanes(&probe.buf), 250.0);
        assert!(probe.read_gb_s(400) > 0.0);
    }
}
