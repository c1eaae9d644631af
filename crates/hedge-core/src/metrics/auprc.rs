//! `auprc`: average precision of u as a detector of wrong answers, as
//! `sklearn.metrics.average_precision_score(1 − c, u)`.

use super::{is_correct, sorted_by_u, usable};

/// Average precision Σ_n (R_n − R_{n−1}) P_n of `u` as a detector of wrong answers
/// (positives = wrong), with one threshold per **distinct** value of u, from the highest
/// down: at threshold t every answer with u ≥ t is flagged, P_n and R_n are the precision
/// and recall of that flagging, and R_0 = 0. Tied scores therefore enter together, exactly
/// as in scikit-learn. O(N log N).
///
/// NaN when the inputs are empty, differ in length or hold a NaN, and when there is no
/// wrong answer (recall is undefined). All wrong gives 1.
pub fn auprc(u: &[f64], c: &[f64]) -> f64 {
    if !usable(u, c) {
        return f64::NAN;
    }
    let pairs = sorted_by_u(u, c);
    let positives = pairs.iter().filter(|p| !is_correct(p.1)).count();
    if positives == 0 {
        return f64::NAN;
    }
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut ap = 0.0;
    let mut last_recall = 0.0;
    // Walk from the highest u down, one tie group at a time.
    let mut j = pairs.len();
    while j > 0 {
        let mut i = j - 1;
        while i > 0 && pairs[i - 1].0 == pairs[j - 1].0 {
            i -= 1;
        }
        for p in &pairs[i..j] {
            if is_correct(p.1) {
                fp += 1;
            } else {
                tp += 1;
            }
        }
        let recall = tp as f64 / positives as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - last_recall) * precision;
        last_recall = recall;
        j = i;
    }
    ap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::same;

    #[test]
    fn by_hand() {
        #[rustfmt::skip]
        let table: [(&[f64], &[f64], f64); 6] = [
            // perfect ranking
            (&[0.1, 0.9, 0.3, 0.7], &[1.0, 0.0, 1.0, 0.0], 1.0),
            // u desc: 0.9 right, 0.7 wrong, 0.3 right, 0.1 wrong:
            // ΔR ½ at P ½ (2 flagged), ΔR ½ at P ½ (4 flagged) → ½
            (&[0.1, 0.9, 0.3, 0.7], &[0.0, 1.0, 1.0, 0.0], 0.5),
            // all tied: one threshold, P = 1/3, R = 1
            (&[0.5, 0.5, 0.5], &[1.0, 0.0, 1.0], 1.0 / 3.0),
            // tie group {0.8 wrong, 0.8 right} then 0.2 wrong:
            // ΔR ½ at P ½, ΔR ½ at P 2/3 → 1/4 + 1/3
            (&[0.8, 0.8, 0.2], &[0.0, 1.0, 0.0], 0.25 + 1.0 / 3.0),
            // all wrong
            (&[0.3, 0.1], &[0.0, 0.0], 1.0),
            // wrong answer ranked last of 4: ΔR 1 at P ¼
            (&[0.1, 0.2, 0.3, 0.4], &[0.0, 1.0, 1.0, 1.0], 0.25),
        ];
        for (u, c, want) in table {
            let got = auprc(u, c);
            assert!((got - want).abs() < 1e-15, "u = {u:?}: {got} vs {want}");
        }
    }

    #[test]
    fn degenerate_is_nan() {
        assert!(same(auprc(&[], &[]), f64::NAN));
        assert!(same(auprc(&[0.1, 0.2], &[1.0, 1.0]), f64::NAN));
        assert!(same(auprc(&[0.1], &[1.0, 0.0]), f64::NAN));
        assert!(same(auprc(&[f64::NAN, 0.2], &[0.0, 1.0]), f64::NAN));
    }
}
