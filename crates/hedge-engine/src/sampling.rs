//! Choosing the next token from a logits row: greedy, temperature, top-k and top-p, always from
//! a seeded per-sequence random stream.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// How to pick tokens and when to stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// 0 is greedy decoding.
    pub temperature: f64,
    /// Keep only the k most likely tokens (None or 0: all).
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose mass reaches p (None or 1: all).
    pub top_p: Option<f64>,
    pub seed: u64,
    pub max_tokens: usize,
    /// Generation stops when the text contains one of these; the text is cut before it.
    pub stop: Vec<String>,
    /// Keep going past end-of-sequence tokens (benchmarks).
    #[serde(default)]
    pub ignore_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 0,
            max_tokens: 64,
            stop: Vec::new(),
            ignore_eos: false,
        }
    }
}

impl SamplingParams {
    /// # Errors
    /// When a parameter is outside its range; the error says what is allowed.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(EngineError::InvalidParam {
                name: "temperature",
                value: self.temperature.to_string(),
                allowed: "a finite number ≥ 0 (0 = greedy)",
            });
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(EngineError::InvalidParam {
                    name: "top_p",
                    value: p.to_string(),
                    allowed: "a number in (0, 1]",
                });
            }
        }
        if self.max_tokens == 0 {
            return Err(EngineError::InvalidParam {
                name: "max_tokens",
                value: "0".into(),
                allowed: "at least 1",
            });
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(EngineError::InvalidParam {
                name: "stop",
                value: "\"\"".into(),
                allowed: "stop strings must not be empty",
            });
        }
        Ok(())
    }
}

/// The token chooser of one sequence: its own random stream, so that a sequence's tokens do not
/// depend on what else is in the batch.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: ChaCha8Rng,
    probs: Vec<(u32, f64)>,
    /// exp((l − max) / T) of the row, before top-k and top-p.
    exps: Vec<f64>,
    /// Sums of the weights by blocks of [`WALK_BLOCK`] tokens.
    blocks: Vec<f64>,
}

impl Sampler {
    /// Sampler number `stream` of a request seeded with `params.seed`.
    pub fn new(params: &SamplingParams, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        rng.set_stream(stream);
        Self {
            params: params.clone(),
            rng,
            probs: Vec::new(),
            exps: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// Picks the next token from a logits row.
    pub fn choose(&mut self, logits: &[f32]) -> u32 {
        self.choose_given(logits, None)
    }

    /// [`Sampler::choose`], given the row's weights exp(l − max) when they are already known
    /// (the statistics of the step computed them: [`hedge_core::StatsScratch::weights`]). At
    /// temperature 1 they are the very numbers `choose` would compute, so the token is the same;
    /// at any other temperature they are not used.
    pub fn choose_given(&mut self, logits: &[f32], weights: Option<&[f64]>) -> u32 {
        if self.params.temperature == 0.0 {
            return argmax(logits);
        }
        let plain = self
            .params
            .top_k
            .is_none_or(|k| k == 0 || k >= logits.len())
            && self.params.top_p.is_none_or(|p| p >= 1.0);
        if let Some(w) =
            weights.filter(|w| self.params.temperature == 1.0 && w.len() == logits.len())
        {
            if plain {
                // The walk below, without copying the weights.
                return walk_by_blocks(w, &mut self.blocks, &mut self.rng);
            }
        }
        self.warp(logits);
        if plain {
            return walk_by_blocks(&self.exps, &mut self.blocks, &mut self.rng);
        }
        let total: f64 = self.probs.iter().map(|x| x.1).sum();
        let mut u = self.rng.random::<f64>() * total;
        for &(id, p) in &self.probs {
            if u < p {
                return id;
            }
            u -= p;
        }
        self.probs.last().map_or(0, |x| x.0)
    }

    /// The distribution [`Sampler::choose`] samples from for this logits row, written densely
    /// into `out` (one probability per token, summing to 1, zero outside the tokens that
    /// temperature, top-k and top-p keep): what speculative decoding compares, p against q.
    /// Greedy decoding (temperature 0) is the point mass on the argmax.
    pub fn distribution(&mut self, logits: &[f32], out: &mut Vec<f64>) {
        out.clear();
        out.resize(logits.len(), 0.0);
        if logits.is_empty() {
            return;
        }
        if self.params.temperature == 0.0 {
            out[argmax(logits) as usize] = 1.0;
            return;
        }
        self.warp(logits);
        let total: f64 = self.probs.iter().map(|x| x.1).sum();
        for &(id, p) in &self.probs {
            out[id as usize] = p / total;
        }
    }

    /// A uniform draw in [0, 1) from this sampler's stream.
    pub fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Draws a token from non-negative `weights` (one per token, any positive total) from this
    /// sampler's stream; `None` when every weight is zero.
    pub fn choose_weighted(&mut self, weights: &[f64]) -> Option<u32> {
        let total: f64 = weights.iter().sum();
        if total.is_nan() || total <= 0.0 {
            return None;
        }
        let mut u = self.rng.random::<f64>() * total;
        let mut last = None;
        for (id, &w) in weights.iter().enumerate() {
            if w > 0.0 {
                if u < w {
                    return Some(id as u32);
                }
                u -= w;
                last = Some(id as u32);
            }
        }
        last
    }

    /// The parameters this sampler was made with.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Fills `self.probs` with the kept tokens and their unnormalised weights
    /// exp((l − max) / T), in the order [`Sampler::choose`] walks them (temperature > 0).
    fn warp(&mut self, logits: &[f32]) {
        let inv_t = 1.0 / self.params.temperature;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        // The exponential of the statistics (`hedge_core::RowStats`), so that at temperature 1
        // these are the weights they leave, bit for bit.
        hedge_core::vexp::exp_shifted(logits, max, inv_t, &mut self.exps);
        self.probs.clear();
        self.probs
            .extend(self.exps.iter().enumerate().map(|(i, &e)| (i as u32, e)));
        let k = self.params.top_k.filter(|&k| k > 0 && k < logits.len());
        let top_p = self.params.top_p.filter(|&p| p < 1.0);
        if k.is_some() || top_p.is_some() {
            // Most likely first, ties by lower id, as a deterministic order.
            let by_prob = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
            if let Some(k) = k {
                self.probs.select_nth_unstable_by(k - 1, by_prob);
                self.probs.truncate(k);
            }
            self.probs.sort_unstable_by(by_prob);
            if let Some(p) = top_p {
                let total: f64 = self.probs.iter().map(|x| x.1).sum();
                let mut cum = 0.0;
                let mut keep = self.probs.len();
                for (i, x) in self.probs.iter().enumerate() {
                    cum += x.1 / total;
                    if cum >= p {
                        keep = i + 1;
                        break;
                    }
                }
                self.probs.truncate(keep.max(1));
            }
        }
    }
}

/// Tokens per block of [`walk_by_blocks`].
const WALK_BLOCK: usize = 256;

/// Draws an id from non-negative `weights` in id order: u uniform in [0, total), then the first
/// id whose weight exceeds what is left of u after the weights before it. The total and the
/// walk go by blocks of [`WALK_BLOCK`] tokens, each block's sum taken in vector registers, so
/// that a draw over a vocabulary of 49 152 walks about 200 block sums and 256 weights, not
/// every weight in one chain of dependent additions. The last id if rounding leaves u past
/// every weight.
fn walk_by_blocks(weights: &[f64], blocks: &mut Vec<f64>, rng: &mut ChaCha8Rng) -> u32 {
    blocks.clear();
    pulp::Arch::new().dispatch(BlockSums { weights, blocks });
    let total: f64 = blocks.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (b, &sum) in blocks.iter().enumerate() {
        if u < sum {
            let mut left = u;
            for (i, &p) in weights[b * WALK_BLOCK..]
                .iter()
                .take(WALK_BLOCK)
                .enumerate()
            {
                if left < p {
                    return (b * WALK_BLOCK + i) as u32;
                }
                left -= p;
            }
        }
        u -= sum;
    }
    u32::try_from(weights.len().saturating_sub(1)).unwrap_or(u32::MAX)
}

/// The sum of each block of [`WALK_BLOCK`] weights, in the widest registers the CPU has.
struct BlockSums<'a> {
    weights: &'a [f64],
    blocks: &'a mut Vec<f64>,
}

impl pulp::WithSimd for BlockSums<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        for block in self.weights.chunks(WALK_BLOCK) {
            let (head, tail) = S::as_simd_f64s(block);
            let mut acc = [simd.splat_f64s(0.0); 4];
            let quads = head.chunks_exact(4);
            let rest = quads.remainder();
            for q in quads {
                for (a, &x) in acc.iter_mut().zip(q) {
                    *a = simd.add_f64s(*a, x);
                }
            }
            for (a, &x) in acc.iter_mut().zip(rest) {
                *a = simd.add_f64s(*a, x);
            }
            let acc = simd.add_f64s(simd.add_f64s(acc[0], acc[1]), simd.add_f64s(acc[2], acc[3]));
            let tail: f64 = tail.iter().sum();
            self.blocks.push(simd.reduce_sum_f64s(acc) + tail);
        }
    }
}

/// Index of the largest value, the lowest index on ties.
pub fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        temperature: f64,
        top_k: Option<usize>,
        top_p: Option<f64>,
        seed: u64,
    ) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k,
            top_p,
            seed,
            ..Default::default()
        }
    }

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut s = Sampler::new(&params(0.0, None, None, 0), 0);
        assert_eq!(s.choose(&[0.0, 3.0, 3.0, -1.0]), 1);
    }

    #[test]
    fn top_k_one_is_greedy_and_top_p_small_keeps_the_mode() {
        let logits = [0.5, 2.0, 1.9, -1.0];
        for seed in 0..20 {
            assert_eq!(
                Sampler::new(&params(1.0, Some(1), None, seed), 0).choose(&logits),
                1
            );
            assert_eq!(
                Sampler::new(&params(1.0, None, Some(0.01), seed), 0).choose(&logits),
                1
            );
        }
    }

    #[test]
    fn top_k_never_picks_outside_the_k_best() {
        let logits = [0.0, 1.0, 2.0, 3.0, 4.0];
        let mut s = Sampler::new(&params(5.0, Some(2), None, 7), 0);
        for _ in 0..200 {
            assert!(s.choose(&logits) >= 3);
        }
    }

    #[test]
    fn sampling_follows_the_distribution_and_is_seeded() {
        // p = softmax([0, ln 3]) = [0.25, 0.75]
        let logits = [0.0, 3f32.ln()];
        let mut s = Sampler::new(&params(1.0, None, None, 42), 0);
        let n = 20_000;
        let ones = (0..n).filter(|_| s.choose(&logits) == 1).count();
        let share = ones as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.015, "share of token 1 = {share}");
        let draw = |seed, stream| {
            let mut s = Sampler::new(&params(1.0, None, None, seed), stream);
            (0..50).map(|_| s.choose(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, 0), draw(1, 0));
        assert_ne!(draw(1, 0), draw(2, 0));
        assert_ne!(draw(1, 0), draw(1, 1));
    }

    #[test]
    fn distribution_is_what_choose_samples_from() {
        // softmax([0, ln 2, ln 3, ln 4]) = [0.1, 0.2, 0.3, 0.4]; top-k 3 drops token 0, then
        // top-p 0.6 keeps tokens 3 and 2 (0.4/0.9 + 0.3/0.9 ≥ 0.6).
        let logits = [0.0, 2f32.ln(), 3f32.ln(), 4f32.ln()];
        let cases: [(Option<usize>, Option<f64>, [f64; 4]); 3] = [
            (None, None, [0.1, 0.2, 0.3, 0.4]),
            (Some(3), None, [0.0, 2.0 / 9.0, 3.0 / 9.0, 4.0 / 9.0]),
            (Some(3), Some(0.6), [0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0]),
        ];
        for (k, p, want) in cases {
            let mut s = Sampler::new(&params(1.0, k, p, 3), 0);
            let mut dist = Vec::new();
            s.distribution(&logits, &mut dist);
            for (got, want) in dist.iter().zip(want) {
                assert!((got - want).abs() < 1e-6, "{k:?} {p:?}: {dist:?}");
            }
            let n = 20_000;
            let mut counts = [0usize; 4];
            for _ in 0..n {
                counts[s.choose(&logits) as usize] += 1;
            }
            for (c, want) in counts.iter().zip(want) {
                assert!((*c as f64 / n as f64 - want).abs() < 0.015, "{counts:?}");
            }
        }
        let mut greedy = Sampler::new(&params(0.0, None, None, 0), 0);
        let mut dist = Vec::new();
        greedy.distribution(&[1.0, 5.0, 5.0], &mut dist);
        assert_eq!(dist, [0.0, 1.0, 0.0]);
    }

    /// Drawing from the weights the step's statistics left gives the token `choose` draws, draw
    /// after draw, at temperature 1 with and without top-k / top-p; at another temperature the
    /// weights are not used.
    #[test]
    fn choosing_from_the_statistics_weights_changes_no_token() {
        let rows: Vec<Vec<f32>> = (0..40)
            .map(|r| {
                (0..97)
                    .map(|i| ((i * 31 + r * 17) % 23) as f32 * 0.37 - 3.0)
                    .collect()
            })
            .collect();
        let mut scratch = hedge_core::StatsScratch::new();
        for (t, k, p) in [
            (1.0, None, None),
            (1.0, Some(5), None),
            (1.0, None, Some(0.8)),
            (0.7, None, None),
        ] {
            let mut plain = Sampler::new(&params(t, k, p, 11), 2);
            let mut given = Sampler::new(&params(t, k, p, 11), 2);
            for row in &rows {
                hedge_core::RowStats::compute_with(&mut scratch, row, 3).unwrap();
                assert_eq!(
                    plain.choose(row),
                    given.choose_given(row, Some(scratch.weights())),
                    "temperature {t}, top-k {k:?}, top-p {p:?}"
                );
            }
        }
    }

    /// The walk by blocks draws only tokens with weight, at their frequencies, on both sides of
    /// the block boundaries and in a partial last block; same seed, same draws.
    #[test]
    fn the_walk_by_blocks_follows_the_weights() {
        let mut w = vec![0.0f64; 1000];
        for (id, weight) in [(0, 1.0), (255, 2.0), (256, 3.0), (511, 1.0), (999, 3.0)] {
            w[id] = weight;
        }
        let (mut blocks, mut rng) = (Vec::new(), ChaCha8Rng::seed_from_u64(3));
        let draws: Vec<u32> = (0..20_000)
            .map(|_| walk_by_blocks(&w, &mut blocks, &mut rng))
            .collect();
        for (id, weight) in [(0, 1.0), (255, 2.0), (256, 3.0), (511, 1.0), (999, 3.0)] {
            let share = draws.iter().filter(|&&d| d == id).count() as f64 / 20_000.0;
            assert!((share - weight / 10.0).abs() < 0.015, "id {id}: {share}");
        }
        assert!(draws.iter().all(|&d| w[d as usize] > 0.0));
        let mut again = ChaCha8Rng::seed_from_u64(3);
        let first: Vec<u32> = (0..100)
            .map(|_| walk_by_blocks(&w, &mut blocks, &mut again))
            .collect();
        assert_eq!(first, draws[..100]);
    }

    #[test]
    fn choose_weighted_follows_the_weights_and_skips_zeros() {
        let mut s = Sampler::new(&params(1.0, None, None, 9), 0);
        assert_eq!(s.choose_weighted(&[0.0, 0.0]), None);
        let w = [0.0, 3.0, 0.0, 1.0];
        let n = 20_000;
        let ones = (0..n).filter(|_| s.choose_weighted(&w) == Some(1)).count();
        assert!((ones as f64 / n as f64 - 0.75).abs() < 0.015);
        assert!((0..100).all(|_| matches!(s.choose_weighted(&w), Some(1 | 3))));
    }

    #[test]
    fn bad_parameters_say_what_is_allowed() {
        let e = params(-1.0, None, None, 0)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("temperature") && e.contains("≥ 0"), "{e}");
        let e = params(1.0, None, Some(1.5), 0)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("(0, 1]"), "{e}");
    }
}
