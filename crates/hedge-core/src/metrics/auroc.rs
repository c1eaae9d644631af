//! `auroc`: area under the ROC curve for error detection (positives = wrong answers, score
//! = u), by the Mann–Whitney rank sum with average ranks for ties.

use super::{is_correct, sorted_by_u, usable};

/// AUROC of `u` as a detector of wrong answers: the probability that a random wrong answer
/// has a higher u than a random right one, ties counting ½. Equals
/// `sklearn.metrics.roc_auc_score(1 − c, u)`.
///
/// Computed from the rank sum of the wrong answers, with the average rank for tied u
/// (Mann–Whitney), in exact integer arithmetic up to the last division. O(N log N).
///
/// NaN when the inputs are empty, differ in length or hold a NaN, and when every answer is
/// right or every answer is wrong (the curve is undefined).
pub fn auroc(u: &[f64], c: &[f64]) -> f64 {
    if !usable(u, c) {
        return f64::NAN;
    }
    let pairs = sorted_by_u(u, c);
    let n = pairs.len();
    // Twice the rank sum of the positives (wrong answers); twice an average rank is the
    // whole number first + last (1-based) of its tie group.
    let mut twice_rank_sum: u128 = 0;
    let mut positives: u128 = 0;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && pairs[j].0 == pairs[i].0 {
            j += 1;
        }
        let wrong = pairs[i..j].iter().filter(|p| !is_correct(p.1)).count() as u128;
        // ranks i+1 ..= j, average (i + 1 + j) / 2
        twice_rank_sum += wrong * (i + 1 + j) as u128;
        positives += wrong;
        i = j;
    }
    let negatives = n as u128 - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    // U = R − P(P+1)/2, AUROC = U / (P·N); both doubled.
    let twice_u = twice_rank_sum - positives * (positives + 1);
    twice_u as f64 / (2 * positives * negatives) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::same;

    #[test]
    fn by_hand() {
        #[rustfmt::skip]
        let table: [(&[f64], &[f64], f64); 8] = [
            // perfect: both wrong answers above both right ones
            (&[0.1, 0.9, 0.3, 0.7], &[1.0, 0.0, 1.0, 0.0], 1.0),
            // reversed
            (&[0.9, 0.1, 0.7, 0.3], &[1.0, 0.0, 1.0, 0.0], 0.0),
            // all tied: ½
            (&[0.5, 0.5, 0.5], &[1.0, 0.0, 1.0], 0.5),
            // wrong 0.4 vs right {0.2, 0.6}: 1 of 2 pairs
            (&[0.2, 0.4, 0.6], &[1.0, 0.0, 1.0], 0.5),
            // wrong {0.8, 0.3} vs right {0.5, 0.1}: pairs won (0.8>0.5, 0.8>0.1, 0.3>0.1) = 3/4
            (&[0.8, 0.5, 0.3, 0.1], &[0.0, 1.0, 0.0, 1.0], 0.75),
            // a tie across classes counts ½: wrong {0.5} vs right {0.5, 0.2} → (½ + 1)/2
            (&[0.5, 0.5, 0.2], &[0.0, 1.0, 1.0], 0.75),
            // correctness read as c ≥ 0.5
            (&[0.1, 0.9], &[0.7, 0.2], 1.0),
            // −0 and +0 tie
            (&[-0.0, 0.0], &[1.0, 0.0], 0.5),
        ];
        for (u, c, want) in table {
            assert_eq!(auroc(u, c), want, "u = {u:?}, c = {c:?}");
        }
    }

    #[test]
    fn degenerate_is_nan() {
        #[rustfmt::skip]
        let table: [(&[f64], &[f64]); 6] = [
            (&[], &[]),
            (&[0.1, 0.2], &[1.0, 1.0]),         // all right
            (&[0.1, 0.2], &[0.0, 0.0]),         // all wrong
            (&[0.1, 0.2], &[1.0]),              // lengths differ
            (&[0.1, f64::NAN], &[1.0, 0.0]),    // NaN score
            (&[0.1, 0.2], &[f64::NAN, 0.0]),    // NaN label
        ];
        for (u, c) in table {
            assert!(same(auroc(u, c), f64::NAN), "u = {u:?}, c = {c:?}");
        }
        // ±inf scores are ordinary (msp is +inf for a token of probability 0)
        assert_eq!(auroc(&[f64::INFINITY, 0.0], &[0.0, 1.0]), 1.0);
    }
}
