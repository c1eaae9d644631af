//! The scores q·k / √d of the decoding attention ([`super::decode_attention`]) in AVX-512, sixteen
//! positions at a time.
//!
//! A dot product of one query and one key ends in a horizontal sum of a register, a chain of
//! shuffles and additions that waits on itself at every step, and the attention of a decoding
//! step is mostly such sums. Here the sixteen registers of sixteen positions are summed
//! together instead, in a transposition tree (pairs of lanes, then pairs of pairs, then
//! 128-bit quarters) that ends with position p's score in lane p: about three instructions
//! per score where a register's own sum takes nine, and no long chain.
//!
//! Every score goes through the same tree whatever its place among the sixteen (a missing
//! position is a register of zeros, summed apart), so a token's scores do not depend on how
//! many positions its sequence has, nor on the tokens decoded beside it.

use std::arch::x86_64::{__m512, __m512d};

use pulp::x86::V4;

/// Head sizes up to this many registers of sixteen lanes.
const MAX_REGS: usize = 16;

/// Scores of the query heads `q` (`n_rep · hd`) over the keys `rows` (positions in order, in
/// up to two runs of whole rows: the positions shared with other forks, then the sequence's
/// own), times `scale`, into `scores` (`n_rep · positions`, head-major). `None` when the head
/// size is not a multiple of 16 (up to 256) or the CPU has no AVX-512: the caller computes
/// them.
pub(super) fn scores_v4(
    q: &[f32],
    rows: [&[f32]; 2],
    hd: usize,
    scale: f32,
    scores: &mut [f32],
) -> Option<()> {
    if hd == 0 || hd % 16 != 0 || hd / 16 > MAX_REGS || q.len() % hd != 0 {
        return None;
    }
    let positions = scores.len() / (q.len() / hd).max(1);
    if rows.iter().any(|r| r.len() % hd != 0) || rows[0].len() + rows[1].len() != positions * hd {
        return None;
    }
    let simd = V4::try_new()?;
    let args = Scores {
        simd,
        q,
        rows,
        hd,
        scale,
        scores,
    };
    match hd / 16 {
        4 => simd.vectorize(ScoresOf::<4>(args)),
        8 => simd.vectorize(ScoresOf::<8>(args)),
        _ => simd.vectorize(ScoresOf::<0>(args)),
    }
    Some(())
}

struct Scores<'a> {
    simd: V4,
    q: &'a [f32],
    rows: [&'a [f32]; 2],
    hd: usize,
    scale: f32,
    scores: &'a mut [f32],
}

/// [`Scores`] for heads of `REGS` registers (their loops unrolled), or of any size when
/// `REGS` is 0.
struct ScoresOf<'a, const REGS: usize>(Scores<'a>);

impl<const REGS: usize> pulp::NullaryFnOnce for ScoresOf<'_, REGS> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let Scores {
            simd,
            q,
            rows,
            hd,
            scale,
            scores,
        } = self.0;
        let f = simd.avx512f;
        let regs = if REGS == 0 { hd / 16 } else { REGS };
        let width = 16 * regs;
        let len = (rows[0].len() + rows[1].len()) / hd;
        let scale = f._mm512_set1_ps(scale);
        for (r, q) in q.chunks_exact(hd).enumerate() {
            let mut qv = [f._mm512_setzero_ps(); MAX_REGS];
            for (v, chunk) in qv.iter_mut().zip(q.chunks_exact(16)) {
                *v = load(chunk);
            }
            let mut out = &mut scores[r * len..(r + 1) * len];
            // Each run by blocks of sixteen positions: a score does not depend on its block.
            for run in rows {
                for block in run.chunks(16 * hd) {
                    let count = block.len() / hd;
                    let (here, rest) = out.split_at_mut(count);
                    out = rest;
                    let mut acc = [f._mm512_setzero_ps(); 16];
                    for (a, k) in acc.iter_mut().zip(block.chunks_exact(hd)) {
                        let k = &k[..width];
                        let mut sum = f._mm512_mul_ps(qv[0], load(&k[..16]));
                        for (c, q) in qv.iter().enumerate().take(regs).skip(1) {
                            sum = f._mm512_fmadd_ps(*q, load(&k[16 * c..]), sum);
                        }
                        *a = sum;
                    }
                    let total = f._mm512_mul_ps(sum_each(simd, &acc), scale);
                    let lanes: [f32; 16] = pulp::bytemuck::cast(total);
                    here.copy_from_slice(&lanes[..count]);
                }
            }
        }
    }
}

/// Sixteen f32 from the start of `xs` (at least sixteen long).
#[inline(always)]
fn load(xs: &[f32]) -> __m512 {
    let lanes: [f32; 16] = xs[..16].try_into().unwrap_or([0.0; 16]);
    pulp::bytemuck::cast(lanes)
}

/// Lane p of the result is the sum of the sixteen lanes of `a[p]`: pairs of lanes of two
/// registers interleaved and added, then pairs of pairs, then the four 128-bit quarters.
#[inline(always)]
fn sum_each(simd: V4, a: &[__m512; 16]) -> __m512 {
    let f = simd.avx512f;
    // Lanes 4ℓ + {0, 2} and 4ℓ + {1, 3} of two registers: [x0+x2, y0+y2, x1+x3, y1+y3] per quarter.
    let b: [__m512; 8] = std::array::from_fn(|i| {
        let (x, y) = (a[2 * i], a[2 * i + 1]);
        f._mm512_add_ps(f._mm512_unpacklo_ps(x, y), f._mm512_unpackhi_ps(x, y))
    });
    // Each quarter of c[j]: the quarter's sums of positions 4j … 4j + 3, in order.
    let c: [__m512; 4] = std::array::from_fn(|j| {
        let (x, y): (__m512d, __m512d) = (
            f._mm512_castps_pd(b[2 * j]),
            f._mm512_castps_pd(b[2 * j + 1]),
        );
        f._mm512_add_ps(
            f._mm512_castpd_ps(f._mm512_unpacklo_pd(x, y)),
            f._mm512_castpd_ps(f._mm512_unpackhi_pd(x, y)),
        )
    });
    // Quarters 0 + 1 and 2 + 3 of two registers, then of the two results.
    let halves = |x: __m512, y: __m512| {
        f._mm512_add_ps(
            f._mm512_shuffle_f32x4::<0x88>(x, y),
            f._mm512_shuffle_f32x4::<0xDD>(x, y),
        )
    };
    let (d0, d1) = (halves(c[0], c[1]), halves(c[2], c[3]));
    halves(d0, d1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each score is the dot product, to rounding; and a position's score has the same bits
    /// whatever its place among sixteen and however many positions follow it.
    #[test]
    fn scores_are_dot_products_and_do_not_depend_on_their_block() {
        if V4::try_new().is_none() {
            eprintln!("no AVX-512 here: the generic scores are used");
            return;
        }
        let value = |i: usize| ((i * 7919 % 211) as f32 - 105.0) * 0.013;
        for hd in [16, 64, 128] {
            let keys: Vec<f32> = (0..40 * hd).map(|i| value(i + 5)).collect();
            let q: Vec<f32> = (0..2 * hd).map(|i| value(3 * i + 1)).collect();
            let scale = 0.125;
            // Positions first..end, in two runs split at `split`.
            let score = |first: usize, split: usize, end: usize| {
                let mut s = vec![0f32; 2 * (end - first)];
                let runs = [&keys[first * hd..split * hd], &keys[split * hd..end * hd]];
                scores_v4(&q, runs, hd, scale, &mut s).unwrap();
                s
            };
            let all = score(0, 40, 40);
            for r in 0..2 {
                for p in 0..40 {
                    let want: f64 = q[r * hd..(r + 1) * hd]
                        .iter()
                        .zip(&keys[p * hd..(p + 1) * hd])
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum::<f64>()
                        * f64::from(scale);
                    let got = f64::from(all[r * 40 + p]);
                    assert!(
                        (got - want).abs() < 1e-5,
                        "hd {hd} head {r} pos {p}: {got} vs {want}"
                    );
                }
            }
            // Position 20 at slot 4 of its block, then at slot 0 of the second run, and last
            // of a short span.
            for (first, split, end) in [(3, 10, 21), (1, 20, 37), (19, 19, 21)] {
                let part = score(first, split, end);
                let len = end - first;
                for r in 0..2 {
                    assert_eq!(
                        part[r * len + (20 - first)].to_bits(),
                        all[r * 40 + 20].to_bits(),
                        "hd {hd}, span {first}..{end}"
                    );
                }
            }
        }
    }
}
