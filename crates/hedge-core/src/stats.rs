//! Per-step statistics of METHODS §1 (logprob, entropy, margin, kurtosis, top-k), computed
//! once from a row of logits at temperature 1.
//!
//! This runs on every decoded token with V up to ~150k, so it makes three passes over the row
//! and allocates nothing of size V once a [`StatsScratch`] is warm:
//!
//! 1. max and a bounded top-k selection (O(V log k), ties broken by the lower id);
//! 2. e_v = exp(l_v − max) into the scratch buffer (a SIMD register at a time, [`crate::vexp`]),
//!    then Z = Σ e_v and Σ e_v (l_v − max);
//! 3. the central moments m2, m4 of the V values P_v = e_v / Z, about their mean 1/V.
//!
//! Everything is accumulated in f64.

use crate::error::{CoreError, Result};
use crate::vexp::{lanes_in_order, SUM_LANES};

/// Buffers reused from step to step by [`StepStats::compute_with`].
#[derive(Debug, Default, Clone)]
pub struct StatsScratch {
    /// exp(l_v − max) for every v of the current row.
    exps: Vec<f64>,
    /// The top selection, (logit, id), best first.
    top: Vec<(f32, u32)>,
}

impl StatsScratch {
    /// An empty scratch; it grows to the vocabulary size on first use.
    pub fn new() -> StatsScratch {
        StatsScratch::default()
    }

    /// A scratch already sized for a vocabulary of `vocab` tokens.
    pub fn with_capacity(vocab: usize) -> StatsScratch {
        StatsScratch {
            exps: Vec::with_capacity(vocab),
            top: Vec::new(),
        }
    }

    /// exp(l_v − max) for every v of the row last passed to [`RowStats::compute_with`]: at
    /// temperature 1, the unnormalised weights a sampler draws from.
    pub fn weights(&self) -> &[f64] {
        &self.exps
    }
}

/// The statistics of one row of logits that do not depend on the token chosen from it, so that
/// a sampler can draw from the weights they leave in the scratch before the token is known.
#[derive(Debug, Clone, PartialEq)]
pub struct RowStats {
    max: f64,
    ln_z: f64,
    entropy: f64,
    margin: f64,
    kurtosis: f64,
    top: Vec<(u32, f64)>,
}

/// The statistics of one decoding step (METHODS §1), at temperature 1.
#[derive(Debug, Clone, PartialEq)]
pub struct StepStats {
    /// log p of the chosen token (−inf if its logit is −inf).
    pub logprob: f64,
    /// H = −Σ_v P(v) log P(v), in nats, with 0 · log 0 = 0.
    pub entropy: f64,
    /// P(1st) − P(2nd); 1 when V = 1.
    pub margin: f64,
    /// Excess (Fisher) kurtosis of the V values of P with population moments,
    /// m4 / m2² − 3, exactly `scipy.stats.kurtosis(P)` (fisher=True, bias=True).
    /// NaN when P is constant (uniform over all V tokens, or V = 1), as scipy returns
    /// for a constant array: scipy takes m2 ≤ (ε · mean)² as zero, and so does hedge.
    pub kurtosis: f64,
    /// The `top_k` most likely tokens as (id, logprob), most likely first, ties broken by
    /// the lower id. Fewer than `top_k` when V < `top_k`.
    pub top: Vec<(u32, f64)>,
}

impl StepStats {
    /// Computes the statistics of one step from its `logits` (one row of V values), for the
    /// token `chosen`, keeping the `top_k` most likely tokens. Allocates a buffer of size V;
    /// use [`StepStats::compute_with`] in a decoding loop.
    ///
    /// # Errors
    /// [`CoreError::TokenOutOfRange`] if `chosen` ≥ V (this includes V = 0),
    /// [`CoreError::BadLogit`] on a NaN or +inf logit,
    /// [`CoreError::EmptyDistribution`] if every logit is −inf.
    pub fn compute(logits: &[f32], chosen: u32, top_k: usize) -> Result<StepStats> {
        StepStats::compute_with(
            &mut StatsScratch::with_capacity(logits.len()),
            logits,
            chosen,
            top_k,
        )
    }

    /// As [`StepStats::compute`], reusing the buffers of `scratch`.
    ///
    /// # Errors
    /// As [`StepStats::compute`].
    pub fn compute_with(
        scratch: &mut StatsScratch,
        logits: &[f32],
        chosen: u32,
        top_k: usize,
    ) -> Result<StepStats> {
        chosen_logit(logits, chosen)?;
        RowStats::compute_with(scratch, logits, top_k)?.for_token(logits, chosen)
    }
}

/// The logit of token `chosen`.
fn chosen_logit(logits: &[f32], chosen: u32) -> Result<f32> {
    logits
        .get(chosen as usize)
        .copied()
        .ok_or(CoreError::TokenOutOfRange {
            id: chosen,
            vocab: logits.len(),
        })
}

impl RowStats {
    /// Everything of [`StepStats::compute`] but the chosen token's log-probability, reusing the
    /// buffers of `scratch` (which then holds the row's [`StatsScratch::weights`]).
    ///
    /// # Errors
    /// [`CoreError::EmptyDistribution`] on an empty row or one whose logits are all −inf,
    /// [`CoreError::BadLogit`] on a NaN or +inf logit.
    pub fn compute_with(
        scratch: &mut StatsScratch,
        logits: &[f32],
        top_k: usize,
    ) -> Result<RowStats> {
        let vocab = logits.len();
        if vocab == 0 {
            return Err(CoreError::EmptyDistribution { vocab });
        }

        // Pass 1: validation and the bounded top selection; its first entry is the max.
        // The margin needs the two best, whatever `top_k` is.
        let keep = top_k.max(2).min(vocab);
        select_top(logits, keep, &mut scratch.top)?;
        let max = scratch.top[0].0;
        if max == f32::NEG_INFINITY {
            return Err(CoreError::EmptyDistribution { vocab });
        }
        let max = f64::from(max);

        // Pass 2: e_v = exp(l_v − max); Z = Σ e_v; S = Σ e_v (l_v − max), skipping e_v = 0
        // (a −inf logit, or an underflow), where 0 · log 0 = 0.
        let exps = &mut scratch.exps;
        let (z, s) = crate::vexp::exp_shifted_sums(logits, max, exps);
        let ln_z = z.ln();
        // H = −Σ P (d − ln Z) = ln Z − S / Z: a sum of two non-negative terms.
        let entropy = ln_z - s / z;

        let second = scratch
            .top
            .get(1)
            .map_or(0.0, |&(l, _)| (f64::from(l) - max).exp());
        // P(1st) = e_1 / Z with e_1 = 1.
        let margin = (1.0 - second) / z;

        let top = scratch
            .top
            .iter()
            .take(top_k)
            .map(|&(l, id)| (id, (f64::from(l) - max) - ln_z))
            .collect();

        Ok(RowStats {
            max,
            ln_z,
            entropy,
            margin,
            kurtosis: excess_kurtosis_of_probs(exps, 1.0 / z),
            top,
        })
    }

    /// The step's statistics for token `chosen` of the same row.
    ///
    /// # Errors
    /// [`CoreError::TokenOutOfRange`] if `chosen` ≥ V.
    pub fn for_token(self, logits: &[f32], chosen: u32) -> Result<StepStats> {
        let l = chosen_logit(logits, chosen)?;
        Ok(StepStats {
            logprob: (f64::from(l) - self.max) - self.ln_z,
            entropy: self.entropy,
            margin: self.margin,
            kurtosis: self.kurtosis,
            top: self.top,
        })
    }
}

/// Pass 1: checks every logit and keeps the `keep` best (logit, id) in `sel`, best first,
/// ties broken by the lower id. `keep` ≥ 1 and ≤ `logits.len()`.
///
/// The row goes by blocks of [`BLOCK`]: a block is first checked and its maximum taken in
/// vector registers, and only a block with a logit above the worst one kept is walked token by
/// token (after the first blocks, almost none: the selection is the same, at a fraction of the
/// cost).
fn select_top(logits: &[f32], keep: usize, sel: &mut Vec<(f32, u32)>) -> Result<()> {
    sel.clear();
    sel.reserve(keep);
    let arch = pulp::Arch::new();
    for (b, block) in logits.chunks(BLOCK).enumerate() {
        let (max, finite) = arch.dispatch(BlockScan(block));
        if !finite {
            let (at, &value) = block
                .iter()
                .enumerate()
                .find(|(_, l)| l.is_nan() || **l == f32::INFINITY)
                .unwrap_or_else(|| unreachable!("the scan saw a NaN or +inf"));
            return Err(CoreError::BadLogit {
                index: b * BLOCK + at,
                value,
            });
        }
        if sel.len() == keep && sel.last().is_some_and(|&(worst, _)| max <= worst) {
            continue;
        }
        for (i, &l) in block.iter().enumerate() {
            // Ids come in increasing order, so an equal logit never displaces a kept one:
            // it goes after every kept entry with a logit ≥ its own.
            if sel.len() == keep {
                match sel.last() {
                    Some(&(worst, _)) if l > worst => {
                        sel.pop();
                    }
                    _ => continue,
                }
            }
            let at = sel.partition_point(|&(kept, _)| kept >= l);
            // Token ids are u32; a row longer than u32::MAX saturates rather than wraps.
            let id = u32::try_from(b * BLOCK + i).unwrap_or(u32::MAX);
            sel.insert(at, (l, id));
        }
    }
    Ok(())
}

/// Logits per block of the top selection's scan.
const BLOCK: usize = 256;

/// The largest logit of a block (−inf for none) and whether every one is below +inf (no NaN,
/// no +inf), in the lanes of the widest registers the CPU has.
struct BlockScan<'a>(&'a [f32]);

impl pulp::WithSimd for BlockScan<'_> {
    type Output = (f32, bool);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> (f32, bool) {
        let mut max = [f32::NEG_INFINITY; 16];
        let mut finite = [true; 16];
        let chunks = self.0.chunks_exact(16);
        let tail = chunks.remainder();
        for c in chunks {
            for lane in 0..16 {
                let l = c[lane];
                max[lane] = if l > max[lane] { l } else { max[lane] };
                finite[lane] &= l < f32::INFINITY;
            }
        }
        for (lane, &l) in tail.iter().enumerate() {
            max[lane] = if l > max[lane] { l } else { max[lane] };
            finite[lane] &= l < f32::INFINITY;
        }
        let m = max.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        (m, finite.iter().all(|&f| f))
    }
}

/// Pass 3: excess kurtosis of the values P_v = e_v · `inv_z`, population moments about
/// their mean 1/V, with scipy's rule that m2 ≤ (ε · mean)² means a constant array (NaN).
fn excess_kurtosis_of_probs(exps: &[f64], inv_z: f64) -> f64 {
    let n = exps.len() as f64;
    let mean = 1.0 / n;
    let (mut m2, mut m4) = pulp::Arch::new().dispatch(Moments { exps, inv_z, mean });
    m2 /= n;
    m4 /= n;
    let eps_mean = f64::EPSILON * mean;
    if m2 <= eps_mean * eps_mean {
        f64::NAN
    } else {
        m4 / (m2 * m2) - 3.0
    }
}

/// Σ d² and Σ d⁴ for d = e_v · `inv_z` − `mean`, each in [`SUM_LANES`] lanes added in order
/// (see [`crate::vexp::exp_shifted_sums`]).
struct Moments<'a> {
    exps: &'a [f64],
    inv_z: f64,
    mean: f64,
}

impl pulp::WithSimd for Moments<'_> {
    type Output = (f64, f64);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> (f64, f64) {
        let Moments { exps, inv_z, mean } = self;
        let per = (SUM_LANES / S::F64_LANES).max(1);
        let zero = simd.splat_f64s(0.0);
        let (inv_z, mean) = (simd.splat_f64s(inv_z), simd.splat_f64s(mean));
        let (mut m2, mut m4) = ([zero; SUM_LANES], [zero; SUM_LANES]);
        let (head, tail) = S::as_simd_f64s(exps);
        let all = simd.equal_f64s(zero, zero);
        for (j, &e) in head.iter().enumerate() {
            let (a2, a4) = moment_terms(simd, e, inv_z, mean, all);
            m2[j % per] = simd.add_f64s(m2[j % per], a2);
            m4[j % per] = simd.add_f64s(m4[j % per], a4);
        }
        // Lanes past the row have d = −mean: they must add nothing.
        let mut ones = [0.0f64; SUM_LANES];
        ones[..tail.len()].fill(1.0);
        let live = simd.greater_than_f64s(simd.partial_load_f64s(&ones[..tail.len()]), zero);
        let (a2, a4) = moment_terms(simd, simd.partial_load_f64s(tail), inv_z, mean, live);
        let j = head.len() % per;
        m2[j] = simd.add_f64s(m2[j], a2);
        m4[j] = simd.add_f64s(m4[j], a4);
        (
            lanes_in_order::<S>(&m2[..per]),
            lanes_in_order::<S>(&m4[..per]),
        )
    }
}

/// d² and d⁴ for d = e · `inv_z` − `mean` in the `live` lanes, 0 elsewhere. (A function, not a
/// closure: a closure would lose the target features of the dispatch.)
#[inline(always)]
fn moment_terms<S: pulp::Simd>(
    simd: S,
    e: S::f64s,
    inv_z: S::f64s,
    mean: S::f64s,
    live: S::m64s,
) -> (S::f64s, S::f64s) {
    let d = simd.sub_f64s(simd.mul_f64s(e, inv_z), mean);
    let d2 = simd.select_f64s(live, simd.mul_f64s(d, d), simd.splat_f64s(0.0));
    (d2, simd.mul_f64s(d2, d2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NEG_INF: f32 = f32::NEG_INFINITY;

    /// Z, S, m2 and m4 as their definition in eight lanes, one element at a time: what the
    /// register passes must give bit for bit.
    fn lane_sums(logits: &[f32], max: f64) -> [f64; 4] {
        let exps: Vec<f64> = logits
            .iter()
            .map(|&l| {
                let mut e = Vec::new();
                crate::vexp::exp_shifted(&[l], max, 1.0, &mut e);
                e[0]
            })
            .collect();
        let (mut z, mut s) = ([0.0f64; 8], [0.0f64; 8]);
        for (i, (&l, &e)) in logits.iter().zip(&exps).enumerate() {
            z[i % 8] += e;
            s[i % 8] += if e > 0.0 {
                e * (f64::from(l) - max)
            } else {
                0.0
            };
        }
        let (z, s): (f64, f64) = (z.iter().sum(), s.iter().sum());
        let (inv_z, mean) = (1.0 / z, 1.0 / logits.len() as f64);
        let (mut m2, mut m4) = ([0.0f64; 8], [0.0f64; 8]);
        for (i, &e) in exps.iter().enumerate() {
            let d = e * inv_z - mean;
            m2[i % 8] += d * d;
            m4[i % 8] += d * d * (d * d);
        }
        [z, s, m2.iter().sum(), m4.iter().sum()]
    }

    #[test]
    fn register_passes_give_the_bits_of_the_lane_definition() {
        for len in [1, 3, 7, 8, 9, 15, 16, 17, 31, 100, 1027] {
            let mut logits: Vec<f32> = (0..len)
                .map(|i| ((i * 7919 % 613) as f32) * 0.05 - 12.0)
                .collect();
            if len > 2 {
                logits[1] = f32::NEG_INFINITY;
            }
            let max = f64::from(logits.iter().copied().fold(f32::NEG_INFINITY, f32::max));
            let want = lane_sums(&logits, max);
            let mut exps = Vec::new();
            let (z, s) = crate::vexp::exp_shifted_sums(&logits, max, &mut exps);
            let (m2, m4) = pulp::Arch::new().dispatch(Moments {
                exps: &exps,
                inv_z: 1.0 / z,
                mean: 1.0 / len as f64,
            });
            let got = [z, s, m2, m4];
            assert_eq!(
                got.map(f64::to_bits),
                want.map(f64::to_bits),
                "len {len}: {got:?} vs {want:?}"
            );
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    /// (logits, chosen, logprob, entropy, margin, kurtosis), worked by hand.
    /// The statistics of a row, then of a token of it, are those of the step; the scratch keeps
    /// the row's weights exp(l − max); an empty row is an error, not a panic.
    #[test]
    fn row_statistics_then_the_token_are_the_step_statistics() {
        let row = [0.5f32, -1.0, 2.0, 2.0, f32::NEG_INFINITY, 0.0];
        let mut scratch = StatsScratch::new();
        for chosen in 0..row.len() as u32 {
            let stats = RowStats::compute_with(&mut scratch, &row, 3).unwrap();
            let want: Vec<f64> = row.iter().map(|&l| (f64::from(l) - 2.0).exp()).collect();
            assert_eq!(scratch.weights(), &want[..]);
            assert_eq!(
                stats.for_token(&row, chosen).unwrap(),
                StepStats::compute(&row, chosen, 3).unwrap()
            );
        }
        let stats = RowStats::compute_with(&mut scratch, &row, 3).unwrap();
        assert!(matches!(
            stats.for_token(&row, 6),
            Err(CoreError::TokenOutOfRange { id: 6, vocab: 6 })
        ));
        assert!(matches!(
            RowStats::compute_with(&mut scratch, &[], 3),
            Err(CoreError::EmptyDistribution { vocab: 0 })
        ));
    }

    #[test]
    fn hand_worked_rows() {
        let ln = |x: f64| x.ln();
        let (e1, e2, e10) = ((-1.0f64).exp(), (-2.0f64).exp(), (-10.0f64).exp());
        let (z123, z_spike) = (1.0 + e1 + e2, 1.0 + 7.0 * e10);
        // (logits, chosen, logprob, entropy, margin, kurtosis); None: not worked by hand
        type Row = (Vec<f32>, u32, f64, f64, f64, Option<f64>);
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            // uniform over 4: log(1/4), ln 4, no margin, constant P → NaN (as scipy)
            (vec![0.7; 4], 2, -ln(4.0), ln(4.0), 0.0, Some(f64::NAN)),
            // V = 1: certain, margin 1, constant P → NaN
            (vec![-3.0], 0, 0.0, 0.0, 1.0, Some(f64::NAN)),
            // P = (1/4, 3/4): H = ln 4 − (3/4) ln 3; two-point → kurtosis −2
            (vec![0.0, 3f32.ln()], 0, -ln(4.0), ln(4.0) - 0.75 * ln(3.0), 0.5, Some(-2.0)),
            // P = (1/2, 0, 1/2): 0·log 0 = 0; deviations (1/6, −1/3, 1/6):
            // m2 = 1/18, m4 = 1/216, m4/m2² − 3 = 1.5 − 3
            (vec![0.0, NEG_INF, 0.0], 1, f64::NEG_INFINITY, ln(2.0), 0.0, Some(-1.5)),
            // one spike among n = 8: P = (1, e⁻¹⁰ × 7) / z; kurtosis (n² − 3n + 3)/(n − 1) − 3 = 22/7
            (vec![10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 1,
             -10.0 - ln(z_spike), ln(z_spike) + 70.0 * e10 / z_spike,
             (1.0 - e10) / z_spike, Some(22.0 / 7.0)),
            // logits (1, 2, 3) = 3 + (−2, −1, 0): P = (e⁻², e⁻¹, 1) / z
            (vec![1.0, 2.0, 3.0], 0, -2.0 - ln(z123), ln(z123) + (2.0 * e2 + e1) / z123,
             (1.0 - e1) / z123, None),
        ];
        for (logits, chosen, logprob, entropy, margin, kurtosis) in table {
            let s = StepStats::compute(&logits, chosen, 3).unwrap();
            let check = |what: &str, got: f64, want: f64| {
                let same = close(got, want, 1e-6) || got == want || (got.is_nan() && want.is_nan());
                assert!(same, "{what} of {logits:?}: got {got}, want {want}");
            };
            check("logprob", s.logprob, logprob);
            check("entropy", s.entropy, entropy);
            check("margin", s.margin, margin);
            if let Some(k) = kurtosis {
                check("kurtosis", s.kurtosis, k);
            }
        }
    }

    #[test]
    fn constant_distribution_has_nan_kurtosis_like_scipy() {
        // python -c "import scipy.stats as s; print(s.kurtosis([0.25]*4), s.kurtosis([1.0]))"
        // → nan nan
        for v in [1usize, 2, 4, 1000] {
            let s = StepStats::compute(&vec![1.5; v], 0, 1).unwrap();
            assert!(s.kurtosis.is_nan(), "V = {v}: {}", s.kurtosis);
            assert!(close(s.entropy, (v as f64).ln(), 1e-12));
            assert_eq!(s.margin, if v == 1 { 1.0 } else { 0.0 });
        }
    }

    /// Values from scipy 1.17.1 on the f32 logits cast to f64:
    /// python -c "import numpy as np, scipy.stats as s, scipy.special as sp; [print(repr(s.kurtosis(sp.softmax(x))), repr(s.entropy(sp.softmax(x))), repr(sp.log_softmax(x)[0])) for x in (np.array(r, dtype=np.float32).astype(np.float64) for r in [[2,1,0.5,-1,0],[10,0,0,0,0,0,0,0],[0.1,0.2,0.3,0.4],[3.5,-np.inf,1.25,1.25,-2,0.75]])]"
    #[test]
    fn kurtosis_entropy_logprob_match_scipy() {
        #[rustfmt::skip]
        let table: [(&[f32], f64, f64, f64); 4] = [
            (&[2.0, 1.0, 0.5, -1.0, 0.0], -0.2145512293692775, 1.206489207622027, -0.5744379396277961),
            (&[10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 3.142857142857144, 0.0034947344597333696, -0.0003177490207700183),
            (&[0.1, 0.2, 0.3, 0.4], -1.352691530332249, 1.3800708109870394, -1.5425355338220377),
            (&[3.5, NEG_INF, 1.25, 1.25, -2.0, 0.75], 1.0984435883448684, 0.7718695680373532, -0.24593236787354394),
        ];
        for (logits, kurtosis, entropy, logprob0) in table {
            let s = StepStats::compute(logits, 0, 2).unwrap();
            assert!(
                close(s.kurtosis, kurtosis, 1e-9),
                "{logits:?}: {} vs {kurtosis}",
                s.kurtosis
            );
            assert!(
                close(s.entropy, entropy, 1e-12),
                "{logits:?}: {} vs {entropy}",
                s.entropy
            );
            assert!(
                close(s.logprob, logprob0, 1e-12),
                "{logits:?}: {} vs {logprob0}",
                s.logprob
            );
        }
    }

    #[test]
    fn top_k_order_and_ties() {
        let logits = [1.0, 3.0, 3.0, 2.0, 3.0, NEG_INF];
        #[rustfmt::skip]
        let table: [(usize, &[u32]); 6] = [
            (0, &[]),
            (1, &[1]),
            (3, &[1, 2, 4]),
            (4, &[1, 2, 4, 3]),
            (6, &[1, 2, 4, 3, 0, 5]),
            (10, &[1, 2, 4, 3, 0, 5]), // k > V: all V
        ];
        for (k, want) in table {
            let s = StepStats::compute(&logits, 0, k).unwrap();
            let ids: Vec<u32> = s.top.iter().map(|&(id, _)| id).collect();
            assert_eq!(ids, want, "k = {k}");
            for &(id, lp) in &s.top {
                let direct = StepStats::compute(&logits, id, 0).unwrap().logprob;
                assert_eq!(lp, direct, "top logprob of id {id}");
            }
        }
        // The margin uses the two best even with top_k = 0: P(1) = P(2) here.
        assert_eq!(StepStats::compute(&logits, 0, 0).unwrap().margin, 0.0);
    }

    #[test]
    fn errors_name_the_value() {
        let e = StepStats::compute(&[0.0, 1.0, 2.0], 5, 1).unwrap_err();
        assert_eq!(e, CoreError::TokenOutOfRange { id: 5, vocab: 3 });
        assert!(
            e.to_string().contains('5') && e.to_string().contains('3'),
            "{e}"
        );
        assert_eq!(
            StepStats::compute(&[], 0, 1).unwrap_err(),
            CoreError::TokenOutOfRange { id: 0, vocab: 0 }
        );
        let e = StepStats::compute(&[0.0, f32::NAN], 0, 1).unwrap_err();
        assert!(matches!(e, CoreError::BadLogit { index: 1, value } if value.is_nan()));
        assert_eq!(
            StepStats::compute(&[f32::INFINITY, 0.0], 0, 1).unwrap_err(),
            CoreError::BadLogit {
                index: 0,
                value: f32::INFINITY
            }
        );
        assert_eq!(
            StepStats::compute(&[NEG_INF, NEG_INF], 0, 1).unwrap_err(),
            CoreError::EmptyDistribution { vocab: 2 }
        );
    }

    #[test]
    fn scratch_reuse_gives_the_same_answer() {
        let mut scratch = StatsScratch::new();
        let rows: [&[f32]; 3] = [&[0.5, -1.0, 2.0, 0.0, 0.25], &[1.0, 1.0], &[3.0, 0.0, -2.0]];
        for row in rows {
            let fresh = StepStats::compute(row, 1, 2).unwrap();
            let reused = StepStats::compute_with(&mut scratch, row, 1, 2).unwrap();
            // NaN ≠ NaN: compare kurtosis bitwise.
            assert_eq!(fresh.kurtosis.to_bits(), reused.kurtosis.to_bits());
            assert_eq!(
                (fresh.logprob, fresh.entropy, fresh.margin),
                (reused.logprob, reused.entropy, reused.margin)
            );
            assert_eq!(fresh.top, reused.top);
        }
    }

    fn logits_row() -> impl Strategy<Value = Vec<f32>> {
        // Mostly finite logits over a wide range, with some −inf (masked) tokens.
        let logit = prop_oneof![9 => -40.0f32..40.0, 1 => Just(NEG_INF)];
        prop::collection::vec(logit, 1..300).prop_map(|mut v| {
            v[0] = v[0].max(-40.0); // at least one finite logit
            v
        })
    }

    proptest! {
        #[test]
        fn invariants(logits in logits_row(), pick in any::<prop::sample::Index>(), k in 0usize..8) {
            let v = logits.len();
            let chosen = pick.index(v) as u32;
            let s = StepStats::compute(&logits, chosen, k).unwrap();
            prop_assert!(s.entropy >= 0.0, "entropy {}", s.entropy);
            prop_assert!(s.entropy <= (v as f64).ln() + 1e-9, "entropy {} > ln {v}", s.entropy);
            prop_assert!(s.logprob <= 0.0);
            prop_assert!((0.0..=1.0).contains(&s.margin), "margin {}", s.margin);
            prop_assert_eq!(s.top.len(), k.min(v));
            for w in s.top.windows(2) {
                let ((id_a, a), (id_b, b)) = (w[0], w[1]);
                prop_assert!(a > b || (a == b && id_a < id_b), "{:?}", s.top);
            }
            // the best logit's logprob is the top entry
            if let Some(&(_, best)) = s.top.first() {
                prop_assert!(s.logprob <= best);
            }
            prop_assert!(s.kurtosis.is_nan() || s.kurtosis >= -2.0 - 1e-9, "kurtosis {}", s.kurtosis);
        }

        #[test]
        fn full_top_is_a_distribution(logits in logits_row()) {
            let v = logits.len();
            let s = StepStats::compute(&logits, 0, v).unwrap();
            let total: f64 = s.top.iter().map(|&(_, lp)| lp.exp()).sum();
            prop_assert!((total - 1.0).abs() < 1e-9, "Σ P = {total}");
            let ids: std::collections::BTreeSet<u32> = s.top.iter().map(|&(id, _)| id).collect();
            prop_assert_eq!(ids.len(), v);
            // entropy agrees with −Σ P log P over the full top list
            let h: f64 = s.top.iter().map(|&(_, lp)| if lp == f64::NEG_INFINITY { 0.0 } else { -lp.exp() * lp }).sum();
            prop_assert!((h - s.entropy).abs() < 1e-9, "{h} vs {}", s.entropy);
            // margin agrees with the first two probabilities
            let p2 = s.top.get(1).map_or(0.0, |&(_, lp)| lp.exp());
            prop_assert!((s.top[0].1.exp() - p2 - s.margin).abs() < 1e-12);
        }

        #[test]
        fn shift_invariant(logits in logits_row(), c in -20.0f32..20.0) {
            let shifted: Vec<f32> = logits.iter().map(|&l| l + c).collect();
            let a = StepStats::compute(&logits, 0, 3).unwrap();
            let b = StepStats::compute(&shifted, 0, 3).unwrap();
            prop_assert!((a.entropy - b.entropy).abs() < 1e-4);
            prop_assert!((a.logprob - b.logprob).abs() < 1e-4 || a.logprob == b.logprob);
        }
    }
}
