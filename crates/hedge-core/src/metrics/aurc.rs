//! Selective prediction by u: `aurc` (area under the risk–coverage curve), `auarc` (UQ-NLG's
//! area under the accuracy–rejection curve) and the risk–coverage curve itself.

use serde::{Deserialize, Serialize};

use super::{sorted_by_u, usable};

/// AURC = (1/N) Σ_{k=1..N} mean(r of the k most confident), risk r = 1 − q, answers sorted
/// by u ascending (stable, so tied u keep their input order). Lower is better; an oracle
/// scores its minimum. NaN when the inputs are empty, differ in length or hold a NaN.
/// O(N log N).
pub fn aurc(u: &[f64], q: &[f64]) -> f64 {
    if !usable(u, q) {
        return f64::NAN;
    }
    let mut cum = 0.0;
    let mut total = 0.0;
    for (i, (_, qi)) in sorted_by_u(u, q).into_iter().enumerate() {
        cum += 1.0 - qi;
        total += cum / (i + 1) as f64;
    }
    total / q.len() as f64
}

/// AUARC as UQ-NLG's `area_under_accuracy_coverage_curve`: sort by u ascending (stable);
/// a_k = running mean of q over the k most confident; area under (x_k, a_k) by the
/// trapezoid rule with x = linspace(0, 1, N). Higher is better.
///
/// UQ-NLG sorts with pandas' default (unstable) quicksort, so its order among tied u is
/// unspecified; hedge keeps their input order. NaN when N < 2 (`sklearn.metrics.auc`
/// needs two points), when the inputs differ in length or hold a NaN. O(N log N).
pub fn auarc(u: &[f64], q: &[f64]) -> f64 {
    if !usable(u, q) || q.len() < 2 {
        return f64::NAN;
    }
    let n = q.len();
    let dx = 1.0 / (n - 1) as f64;
    let mut cum = 0.0;
    let mut prev = f64::NAN;
    let mut area = 0.0;
    for (i, (_, qi)) in sorted_by_u(u, q).into_iter().enumerate() {
        cum += qi;
        let a = cum / (i + 1) as f64;
        if i > 0 {
            area += dx * (prev + a) / 2.0;
        }
        prev = a;
    }
    area
}

/// The risk–coverage curve: for each distinct value t of u, ascending, the answers with
/// u ≤ t are accepted; `coverage` is their share of all answers and `risk` their mean
/// 1 − q. The last point has coverage 1 and the overall risk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RiskCoverage {
    /// Uncertainty threshold t of each point, ascending.
    pub threshold: Vec<f64>,
    /// Fraction of answers with u ≤ t, in (0, 1].
    pub coverage: Vec<f64>,
    /// Mean risk 1 − q of those answers.
    pub risk: Vec<f64>,
}

/// The [`RiskCoverage`] curve of `u` for quality `q`, one point per distinct u (tied
/// answers are accepted together). Empty when the inputs are empty, differ in length or
/// hold a NaN. O(N log N).
pub fn risk_coverage(u: &[f64], q: &[f64]) -> RiskCoverage {
    let mut curve = RiskCoverage::default();
    if !usable(u, q) {
        return curve;
    }
    let pairs = sorted_by_u(u, q);
    let n = pairs.len();
    let mut cum = 0.0;
    for (i, &(ui, qi)) in pairs.iter().enumerate() {
        cum += 1.0 - qi;
        let last_of_group = pairs.get(i + 1).is_none_or(|next| next.0 != ui);
        if last_of_group {
            curve.threshold.push(ui);
            curve.coverage.push((i + 1) as f64 / n as f64);
            curve.risk.push(cum / (i + 1) as f64);
        }
    }
    curve
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::same;

    #[test]
    fn aurc_by_hand() {
        #[rustfmt::skip]
        let table: [(&[f64], &[f64], f64); 5] = [
            // right, right, wrong, wrong: risks of the first k = 0, 0, 1/3, ½ → (5/6)/4
            (&[0.1, 0.2, 0.3, 0.4], &[1.0, 1.0, 0.0, 0.0], 5.0 / 24.0),
            // wrong, wrong, right, right: 1, 1, 2/3, ½ → (19/6)/4
            (&[0.4, 0.3, 0.2, 0.1], &[1.0, 1.0, 0.0, 0.0], 19.0 / 24.0),
            // graded: sorted q (0.5, 1, 0): risks ½, ¼, ½ → (5/4)/3
            (&[0.1, 0.5, 0.9], &[0.5, 1.0, 0.0], 5.0 / 12.0),
            (&[3.0], &[0.25], 0.75),
            // ties keep input order: wrong first here
            (&[0.0, 0.0], &[0.0, 1.0], 0.75),
        ];
        for (u, q, want) in table {
            let got = aurc(u, q);
            assert!((got - want).abs() < 1e-15, "{u:?}: {got} vs {want}");
        }
        assert!(same(aurc(&[], &[]), f64::NAN));
        assert!(same(aurc(&[0.1, f64::NAN], &[1.0, 0.0]), f64::NAN));
    }

    #[test]
    fn auarc_by_hand() {
        #[rustfmt::skip]
        let table: [(&[f64], &[f64], f64); 4] = [
            // a = (1, 1, 2/3, ½), x step 1/3:
            // (1/3)·[(1+1)/2 + (1+2/3)/2 + (2/3+½)/2] = (1/3)(1 + 5/6 + 7/12) = 29/36
            (&[0.1, 0.2, 0.3, 0.4], &[1.0, 1.0, 0.0, 0.0], 29.0 / 36.0),
            // a = (0, ½), one step of 1: ¼
            (&[0.1, 0.2], &[0.0, 1.0], 0.25),
            // a = (1, ½): ¾
            (&[0.2, 0.1], &[0.0, 1.0], 0.75),
            // constant accuracy: the area is that accuracy
            (&[0.3, 0.1, 0.2], &[0.6, 0.6, 0.6], 0.6),
        ];
        for (u, q, want) in table {
            let got = auarc(u, q);
            assert!((got - want).abs() < 1e-15, "{u:?}: {got} vs {want}");
        }
        assert!(same(auarc(&[0.1], &[1.0]), f64::NAN));
        assert!(same(auarc(&[0.1, 0.2], &[1.0]), f64::NAN));
    }

    #[test]
    fn risk_coverage_by_hand() {
        // u 0.2 (right), 0.5 (wrong), 0.5 (right), 0.9 (wrong)
        let curve = risk_coverage(&[0.5, 0.2, 0.9, 0.5], &[0.0, 1.0, 0.0, 1.0]);
        assert_eq!(curve.threshold, [0.2, 0.5, 0.9]);
        assert_eq!(curve.coverage, [0.25, 0.75, 1.0]);
        assert_eq!(curve.risk, [0.0, 1.0 / 3.0, 0.5]);
        assert_eq!(risk_coverage(&[], &[]), RiskCoverage::default());
        assert_eq!(risk_coverage(&[1.0], &[1.0, 0.0]), RiskCoverage::default());
        let json = serde_json::to_string(&risk_coverage(&[1.0], &[0.5])).unwrap();
        assert_eq!(json, r#"{"threshold":[1.0],"coverage":[1.0],"risk":[0.5]}"#);
    }
}
