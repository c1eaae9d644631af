//! The acceptance rule of speculative decoding (METHODS §6): which draft tokens the target
//! keeps, and the token it writes after them.

use hedge_engine::sampling::argmax;
use hedge_engine::Sampler;

/// What the target made of one round's draft tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// How many draft tokens, from the first, are kept.
    pub accepted: usize,
    /// The token written after them: the correction at the first rejection, or the bonus token
    /// when every draft token was kept.
    pub next: u32,
}

/// Greedy: keep draft tokens while each is the target's argmax; then write the target's argmax.
/// `p_rows[i]` holds the target's logits for draft position i; `p_rows` has one more row than
/// `drafts` (for the bonus token).
pub(crate) fn greedy(drafts: &[u32], p_rows: &[Vec<f32>]) -> Verdict {
    for (i, &x) in drafts.iter().enumerate() {
        let best = argmax(&p_rows[i]);
        if x != best {
            return Verdict {
                accepted: i,
                next: best,
            };
        }
    }
    Verdict {
        accepted: drafts.len(),
        next: argmax(&p_rows[drafts.len()]),
    }
}

/// Reusable buffers of [`sampled`].
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    p: Vec<f64>,
    residual: Vec<f64>,
}

/// Sampling: keep draft token x_i with probability min(1, p_i(x_i) / q_i(x_i)); at the first
/// rejection write a token drawn from norm(max(0, p_i − q_i)); when all are kept, write a bonus
/// token drawn from p after the last. p and q are the distributions the sampler draws from
/// (temperature, top-k, top-p applied): `q[i]` is the draft's at position i, already warped,
/// and `p_rows` the target's logits (one more row than `drafts`), warped here by `sampler`,
/// whose stream also supplies the random draws.
pub(crate) fn sampled(
    drafts: &[u32],
    q: &[Vec<f64>],
    p_rows: &[Vec<f32>],
    sampler: &mut Sampler,
    scratch: &mut Scratch,
) -> Verdict {
    for (i, &x) in drafts.iter().enumerate() {
        sampler.distribution(&p_rows[i], &mut scratch.p);
        let (px, qx) = (scratch.p[x as usize], q[i][x as usize]);
        // u < p/q, written without a division: q(x) > 0 for a token drawn from q.
        if sampler.uniform() * qx < px {
            continue;
        }
        scratch.residual.clear();
        scratch
            .residual
            .extend(scratch.p.iter().zip(&q[i]).map(|(p, q)| (p - q).max(0.0)));
        // p = q up to rounding leaves no residual mass: then p itself is the right law.
        let next = match sampler.choose_weighted(&scratch.residual) {
            Some(t) => t,
            None => sampler.choose_weighted(&scratch.p).unwrap_or(x),
        };
        return Verdict { accepted: i, next };
    }
    sampler.distribution(&p_rows[drafts.len()], &mut scratch.p);
    let bonus = sampler
        .choose_weighted(&scratch.p)
        .unwrap_or_else(|| argmax(&p_rows[drafts.len()]));
    Verdict {
        accepted: drafts.len(),
        next: bonus,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hedge_engine::SamplingParams;

    fn params(temperature: f64, top_k: Option<usize>, seed: u64) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k,
            seed,
            ..Default::default()
        }
    }

    #[test]
    fn greedy_keeps_the_argmax_prefix() {
        let rows = vec![
            vec![0.0, 5.0, 1.0],
            vec![3.0, 0.0, 1.0],
            vec![0.0, 0.0, 9.0],
        ];
        assert_eq!(
            greedy(&[1, 0], &rows),
            Verdict {
                accepted: 2,
                next: 2
            }
        );
        assert_eq!(
            greedy(&[1, 2], &rows),
            Verdict {
                accepted: 1,
                next: 0
            }
        );
        assert_eq!(
            greedy(&[0, 0], &rows),
            Verdict {
                accepted: 0,
                next: 1
            }
        );
    }

    /// The first token written by a one-token round follows p exactly, whatever q is: drafted
    /// from q and kept, or drawn from the residual.
    #[test]
    fn the_first_written_token_follows_the_target() {
        let p_logits = vec![0.0f32, 1.0, 2.0, -1.0, 0.5];
        let q_logits = vec![2.0f32, 0.0, 0.0, 1.0, -3.0];
        for top_k in [None, Some(3)] {
            let par = params(1.0, top_k, 11);
            let mut draft = Sampler::new(&par, 0);
            let mut target = Sampler::new(&par, 1);
            let mut p = Vec::new();
            target.distribution(&p_logits, &mut p);
            let mut q = vec![Vec::new()];
            draft.distribution(&q_logits, &mut q[0]);
            let rows = vec![p_logits.clone(), p_logits.clone()];
            let mut scratch = Scratch::default();
            let n = 40_000;
            let mut counts = [0usize; 5];
            let mut kept = 0;
            for _ in 0..n {
                let x = draft.choose_weighted(&q[0]).unwrap();
                let v = sampled(&[x], &q, &rows, &mut target, &mut scratch);
                let first = if v.accepted == 1 { x } else { v.next };
                kept += v.accepted;
                counts[first as usize] += 1;
            }
            for (c, want) in counts.iter().zip(&p) {
                let got = *c as f64 / n as f64;
                assert!((got - want).abs() < 0.01, "{top_k:?}: {counts:?} vs {p:?}");
            }
            // Acceptance rate of one token = Σ min(p, q).
            let overlap: f64 = p.iter().zip(&q[0]).map(|(a, b)| a.min(*b)).sum();
            let rate = kept as f64 / n as f64;
            assert!((rate - overlap).abs() < 0.01, "{rate} vs {overlap}");
        }
    }

    #[test]
    fn a_draft_equal_to_the_target_is_always_kept() {
        let logits = vec![0.3f32, 1.0, -2.0, 0.0];
        let par = params(0.7, None, 5);
        let mut s = Sampler::new(&par, 0);
        let mut q = vec![Vec::new(), Vec::new()];
        s.distribution(&logits, &mut q[0]);
        s.distribution(&logits, &mut q[1]);
        let rows = vec![logits.clone(); 3];
        let mut scratch = Scratch::default();
        for _ in 0..500 {
            let x0 = s.choose_weighted(&q[0]).unwrap();
            let x1 = s.choose_weighted(&q[1]).unwrap();
            let v = sampled(&[x0, x1], &q, &rows, &mut s, &mut scratch);
            assert_eq!(v.accepted, 2);
        }
    }
}
