//! `prr`, `prr_50`: the prediction–rejection ratio of LM-Polygraph
//! (`PredictionRejectionArea` normalised by `normalize_metric` between a random and an
//! oracle ranking), with the exact random baseline of METHODS §5.

use super::{mean, sorted_by_u, usable};

/// PRR over the whole rejection range (ρ = 1). See [`prr_at`].
pub fn prr(u: &[f64], q: &[f64]) -> f64 {
    prr_at(u, q, 1.0)
}

/// PRR when at most half of the answers are rejected (ρ = 0.5, LM-Polygraph's
/// `PredictionRejectionArea(max_rejection=0.5)`). See [`prr_at`].
pub fn prr_50(u: &[f64], q: &[f64]) -> f64 {
    prr_at(u, q, 0.5)
}

/// The prediction–rejection ratio of `u` for quality `q`, rejecting up to a fraction `rho`.
///
/// As LM-Polygraph: q is min–max normalised ([`normalize_quality`]); answers are sorted by
/// u ascending (stable); Q(k) is the mean normalised q of the k most confident; with
/// R = ⌊ρ·N⌋, raw = (1/R) Σ_{k=N−R+1..N} Q(k); the oracle is raw with u = −q; the random
/// baseline is mean(q) (normalised), the exact expectation of raw over random orders,
/// which LM-Polygraph estimates from 1,000 shuffles; PRR = (raw − random) / (oracle − random).
/// 1 for the oracle's order, 0 on average for a random order, negative when worse.
///
/// NaN when the inputs are empty, differ in length or hold a NaN, when R = 0 (ρ·N < 1,
/// or ρ not in (0, 1]), and exactly when oracle = random: every q equal, or R = 1 (then
/// raw = Q(N) = mean(q) for any order); for R ≥ 2 and unequal q the oracle's Q(N − 1)
/// exceeds mean(q). LM-Polygraph returns the raw area unnormalised in that case; hedge
/// says it is undefined. O(N log N).
pub fn prr_at(u: &[f64], q: &[f64], rho: f64) -> f64 {
    if !(usable(u, q) && rho > 0.0 && rho <= 1.0) {
        return f64::NAN;
    }
    let n = q.len();
    // ⌊ρN⌋ as Python's int(ρ * N); ρN ≤ N, so the cast cannot overflow.
    let r = (rho * n as f64).floor() as usize;
    let q = normalize_quality(q);
    // oracle = random exactly when R = 1 (raw = Q(N) = mean(q) for any order) or every q
    // is equal; decided here, not by comparing two rounded floats.
    if r <= 1 || q.iter().all(|&x| x == q[0]) {
        return f64::NAN;
    }
    let ranked: Vec<f64> = sorted_by_u(u, &q).into_iter().map(|p| p.1).collect();
    let raw = rejection_area(&ranked, r);
    let mut best = q.clone();
    best.sort_by(|a, b| b.total_cmp(a)); // oracle: highest quality first
    let oracle = rejection_area(&best, r);
    let random = mean(q.iter().copied());
    (raw - random) / (oracle - random)
}

/// (1/R) Σ_{k=N−R+1..N} Q(k), Q(k) = mean of the first k of `ranked` (most confident first).
fn rejection_area(ranked: &[f64], r: usize) -> f64 {
    let n = ranked.len();
    let mut cum = 0.0;
    let mut area = 0.0;
    for (i, &x) in ranked.iter().enumerate() {
        cum += x;
        let k = i + 1;
        if k > n - r {
            area += cum / k as f64;
        }
    }
    area / r as f64
}

/// LM-Polygraph's `normalize`: (q − min) / (max − min), and when max ≈ min (numpy's
/// `isclose`: |min − max| ≤ 1e-8 + 1e-5·|max|) the range [min − 1, max + 1] instead, so
/// that equal qualities map to ½. Empty in, empty out.
pub fn normalize_quality(q: &[f64]) -> Vec<f64> {
    let (mut lo, mut hi) = q
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    if (lo - hi).abs() <= 1e-8 + 1e-5 * hi.abs() {
        lo -= 1.0;
        hi += 1.0;
    }
    q.iter().map(|&x| (x - lo) / (hi - lo)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::same;

    #[test]
    fn normalize_by_hand() {
        assert_eq!(normalize_quality(&[0.25, 0.5, 0.75]), [0.0, 0.5, 1.0]);
        assert_eq!(normalize_quality(&[3.0, 3.0]), [0.5, 0.5]);
        // within isclose: still the ±1 range, (x − (min − 1)) / (max − min + 2)
        let (lo, hi) = (0.75, 0.75 + 2f64.powi(-32));
        assert_eq!(
            normalize_quality(&[lo, hi]),
            [
                1.0 / (2.0 + 2f64.powi(-32)),
                (1.0 + 2f64.powi(-32)) / (2.0 + 2f64.powi(-32))
            ]
        );
        // outside isclose: the plain range
        assert_eq!(
            normalize_quality(&[0.75, 0.75 + 2f64.powi(-10)]),
            [0.0, 1.0]
        );
        assert!(normalize_quality(&[]).is_empty());
    }

    #[test]
    fn worked_by_hand() {
        // q = (1, 0, 1, 0) already normalised; random = ½.
        // u ranks the two right answers first: Q = (1, 1, 2/3, ½), raw = (1+1+2/3+½)/4 = 19/24
        // = oracle → PRR 1.
        let q = [1.0, 0.0, 1.0, 0.0];
        assert_eq!(prr(&[0.1, 0.9, 0.3, 0.7], &q), 1.0);
        // Reversed: Q = (0, 0, 1/3, ½), raw = 5/24; PRR = (5/24 − 12/24)/(19/24 − 12/24) = −1.
        assert!((prr(&[0.9, 0.1, 0.7, 0.3], &q) + 1.0).abs() < 1e-15);
        // Order right, wrong, right, wrong: Q = (1, ½, 2/3, ½), raw = 2.6667/4 = 16/24;
        // PRR = (16 − 12)/(19 − 12) = 4/7.
        let got = prr(&[0.1, 0.2, 0.3, 0.4], &q);
        assert!((got - 4.0 / 7.0).abs() < 1e-15, "{got}");
        // prr_50: R = 2, the mean of Q(3) and Q(4). Same order: (2/3 + ½)/2 = 7/12; the
        // oracle's Q(3) = 2/3 and Q(4) = ½ as well → PRR 1 (the first half ranks the same).
        assert_eq!(prr_50(&[0.1, 0.2, 0.3, 0.4], &q), 1.0);
        // Graded quality, min–max normalised: q = (0.6, 1.0, 0.2) → (½, 1, 0).
        // u order keeps it: Q = (½, ¾, ½), raw = 7/12; oracle Q = (1, ¾, ½), raw = 3/4;
        // random ½ → PRR = (7/12 − 6/12)/(9/12 − 6/12) = 1/3.
        let got = prr(&[0.1, 0.5, 0.9], &[0.6, 1.0, 0.2]);
        assert!((got - 1.0 / 3.0).abs() < 1e-12, "{got}");
    }

    #[test]
    fn ties_in_u_keep_input_order() {
        // All u tied: the stable order is the input order.
        let q = [0.0, 1.0, 1.0, 0.0];
        let tied = prr(&[0.0; 4], &q);
        let explicit = prr(&[0.0, 1.0, 2.0, 3.0], &q);
        assert_eq!(tied, explicit);
    }

    #[test]
    fn degenerate_is_nan() {
        #[rustfmt::skip]
        let table: [(&[f64], &[f64], f64); 7] = [
            (&[], &[], 1.0),
            (&[0.1, 0.2], &[1.0, 1.0], 1.0),          // all equal: oracle = random
            (&[0.1], &[1.0], 0.5),                    // R = ⌊0.5⌋ = 0
            (&[0.1, 0.2], &[1.0, 0.0], 0.0),          // ρ out of range
            (&[0.1, 0.2], &[1.0, 0.0], 1.5),
            (&[0.1, 0.2], &[1.0, f64::NAN], 1.0),
            (&[0.1, 0.2, 0.3], &[1.0, 0.0], 1.0),
        ];
        for (u, q, rho) in table {
            assert!(same(prr_at(u, q, rho), f64::NAN), "{u:?} {q:?} ρ = {rho}");
        }
        // R = 1 (N = 2 or 3 at ρ = ½): raw = Q(N) = mean(q) for every order, so
        // oracle = random and PRR is undefined; N = 4 has R = 2.
        assert!(prr_50(&[0.1, 0.2], &[1.0, 0.0]).is_nan());
        assert!(prr_50(&[0.1, 0.2, 0.3], &[1.0, 0.0, 1.0]).is_nan());
        assert_eq!(prr_50(&[0.1, 0.2, 0.3, 0.4], &[1.0, 0.0, 1.0, 0.0]), 1.0);
    }

    #[test]
    fn random_baseline_is_the_exact_mean_over_all_orders() {
        // Over all 5! orders of distinct u, PRR averages to exactly 0 (up to rounding),
        // which is what "exact random baseline" means.
        let q = [0.3, 1.0, 0.0, 0.55, 0.8];
        for rho in [1.0, 0.5] {
            let mut total = 0.0;
            let mut count = 0;
            permutations(5, &mut |perm| {
                let u: Vec<f64> = perm.iter().map(|&p| p as f64).collect();
                total += prr_at(&u, &q, rho);
                count += 1;
            });
            assert_eq!(count, 120);
            assert!((total / count as f64).abs() < 1e-12, "ρ = {rho}: {total}");
        }
    }

    /// Calls `f` with every permutation of 0..n (Heap's algorithm).
    fn permutations(n: usize, f: &mut dyn FnMut(&[usize])) {
        fn go(k: usize, a: &mut Vec<usize>, f: &mut dyn FnMut(&[usize])) {
            if k <= 1 {
                f(a);
                return;
            }
            for i in 0..k {
                go(k - 1, a, f);
                let j = if k % 2 == 0 { i } else { 0 };
                a.swap(j, k - 1);
            }
        }
        go(n, &mut (0..n).collect(), f);
    }
}
