//! Calibration of a confidence κ ∈ [0, 1]: reliability-diagram bins, `ece` (expected
//! calibration error) and `mce` (maximum calibration error), with equal-width or
//! equal-mass bins.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::{is_correct, nan_as_null, usable};

/// The number of bins METHODS §5 uses by default.
pub const DEFAULT_BINS: usize = 10;

/// How confidences are grouped into B bins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binning {
    /// Edges e_b = b/B, b = 0..=B. Bin b holds e_b ≤ κ < e_{b+1}: closed on the left, open
    /// on the right, except the last bin, closed on both sides ([e_{B−1}, 1]). κ below 0
    /// counts in the first bin, above 1 in the last.
    #[default]
    EqualWidth,
    /// The answers sorted by κ (stable) and cut into B runs of equal size, as
    /// `numpy.array_split`: the first N mod B bins hold ⌈N/B⌉, the others ⌊N/B⌋. Equal κ
    /// may straddle two bins. A bin's edges are the least and greatest κ in it.
    EqualMass,
}

/// One bar of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge (nominal for equal width; the least κ in the bin for equal mass, NaN if
    /// the bin is empty).
    #[serde(with = "nan_as_null")]
    pub lo: f64,
    /// Upper edge (as `lo`).
    #[serde(with = "nan_as_null")]
    pub hi: f64,
    /// Number of answers in the bin.
    pub count: usize,
    /// Mean κ of those answers; NaN when empty.
    #[serde(with = "nan_as_null")]
    pub mean_confidence: f64,
    /// Fraction of them that are correct (c ≥ 0.5); NaN when empty.
    #[serde(with = "nan_as_null")]
    pub accuracy: f64,
}

/// The `bins` reliability-diagram bins of confidence `kappa` against correctness `c`, in
/// order of κ; empty bins are kept (count 0). No bins at all when `bins` is 0 or the inputs
/// are empty, differ in length or hold a NaN. O(N log B) for equal width, O(N log N) for
/// equal mass.
pub fn reliability(kappa: &[f64], c: &[f64], bins: usize, binning: Binning) -> Vec<ReliabilityBin> {
    if bins == 0 || !usable(kappa, c) {
        return Vec::new();
    }
    let correct = |x: f64| if is_correct(x) { 1.0 } else { 0.0 };
    match binning {
        Binning::EqualWidth => {
            let edge = |b: usize| b as f64 / bins as f64;
            // (Σκ, Σc, count) per bin
            let mut acc = vec![(0.0, 0.0, 0usize); bins];
            for (&k, &ci) in kappa.iter().zip(c) {
                let idx = partition_point_edges(bins, k, edge);
                let slot = &mut acc[idx];
                slot.0 += k;
                slot.1 += correct(ci);
                slot.2 += 1;
            }
            acc.into_iter()
                .enumerate()
                .map(|(b, (sk, sc, n))| bin(edge(b), edge(b + 1), sk, sc, n))
                .collect()
        }
        Binning::EqualMass => {
            let mut pairs: Vec<(f64, f64)> = kappa.iter().copied().zip(c.iter().copied()).collect();
            pairs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
            let n = pairs.len();
            let (size, extra) = (n / bins, n % bins);
            let mut start = 0;
            (0..bins)
                .map(|b| {
                    let end = start + size + usize::from(b < extra);
                    let run = &pairs[start..end];
                    start = end;
                    let (lo, hi) = match (run.first(), run.last()) {
                        (Some(f), Some(l)) => (f.0, l.0),
                        _ => (f64::NAN, f64::NAN),
                    };
                    let sk = run.iter().map(|p| p.0).sum();
                    let sc = run.iter().map(|p| correct(p.1)).sum();
                    bin(lo, hi, sk, sc, run.len())
                })
                .collect()
        }
    }
}

/// Index of the equal-width bin of `k`: the number of interior edges e_1..e_{B−1} that
/// are ≤ k (a binary search, as `numpy.searchsorted(edges[1:-1], k, side="right")`).
fn partition_point_edges(bins: usize, k: f64, edge: impl Fn(usize) -> f64) -> usize {
    let (mut lo, mut hi) = (1usize, bins); // search edges lo..hi
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if edge(mid) <= k {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo - 1
}

fn bin(lo: f64, hi: f64, sum_kappa: f64, sum_correct: f64, count: usize) -> ReliabilityBin {
    let (mean_confidence, accuracy) = if count == 0 {
        (f64::NAN, f64::NAN)
    } else {
        (sum_kappa / count as f64, sum_correct / count as f64)
    };
    ReliabilityBin {
        lo,
        hi,
        count,
        mean_confidence,
        accuracy,
    }
}

/// ECE = Σ_b (n_b / N) |acc_b − mean κ_b| over the non-empty [`reliability`] bins. NaN when
/// there is no bin (see [`reliability`]).
pub fn ece(kappa: &[f64], c: &[f64], bins: usize, binning: Binning) -> f64 {
    let bars = reliability(kappa, c, bins, binning);
    if bars.is_empty() {
        return f64::NAN;
    }
    let n = kappa.len() as f64;
    bars.iter()
        .filter(|b| b.count > 0)
        .map(|b| b.count as f64 / n * (b.accuracy - b.mean_confidence).abs())
        .sum()
}

/// MCE = max_b |acc_b − mean κ_b| over the non-empty [`reliability`] bins. NaN when there
/// is no bin.
pub fn mce(kappa: &[f64], c: &[f64], bins: usize, binning: Binning) -> f64 {
    reliability(kappa, c, bins, binning)
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.accuracy - b.mean_confidence).abs())
        .fold(f64::NAN, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::same;

    #[test]
    fn equal_width_edges_are_left_closed_and_the_last_is_closed() {
        // B = 4: [0, ¼) [¼, ½) [½, ¾) [¾, 1]
        #[rustfmt::skip]
        let table = [
            (0.0, 0), (0.24, 0), (0.25, 1), (0.49, 1), (0.5, 2), (0.75, 3), (1.0, 3),
            (-0.5, 0), (1.5, 3),
        ];
        for (k, want) in table {
            let bars = reliability(&[k], &[1.0], 4, Binning::EqualWidth);
            let got = bars.iter().position(|b| b.count == 1).unwrap();
            assert_eq!(got, want, "κ = {k}");
            assert_eq!(
                (bars[got].lo, bars[got].hi),
                (want as f64 / 4.0, (want + 1) as f64 / 4.0)
            );
        }
        // B = 10: 0.3, 0.7 sit on edges and open their bins (3/10 is the edge)
        let bars = reliability(&[0.3, 0.7, 0.1], &[1.0, 1.0, 1.0], 10, Binning::EqualWidth);
        let counts: Vec<usize> = bars.iter().map(|b| b.count).collect();
        assert_eq!(counts, [0, 1, 0, 1, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn ece_and_mce_by_hand() {
        // Two bins [0, ½) and [½, 1].
        // bin 0: κ 0.2, 0.4, c 0, 1 → conf 0.3, acc ½, gap 0.2
        // bin 1: κ 0.6, 0.9, 0.9, c 1, 1, 0 → conf 0.8, acc 2/3, gap 2/15
        let kappa = [0.2, 0.4, 0.6, 0.9, 0.9];
        let c = [0.0, 1.0, 1.0, 1.0, 0.0];
        let want_ece = 2.0 / 5.0 * 0.2 + 3.0 / 5.0 * (2.0 / 15.0);
        assert!((ece(&kappa, &c, 2, Binning::EqualWidth) - want_ece).abs() < 1e-15);
        assert!((mce(&kappa, &c, 2, Binning::EqualWidth) - 0.2).abs() < 1e-15);
        let bars = reliability(&kappa, &c, 2, Binning::EqualWidth);
        assert_eq!(bars[1].count, 3);
        assert!((bars[1].mean_confidence - 0.8).abs() < 1e-15);
        assert!((bars[1].accuracy - 2.0 / 3.0).abs() < 1e-15);

        // Equal mass, B = 2 over 5 answers: sizes 3, 2 (array_split).
        // bin 0: κ 0.2, 0.4, 0.6, c 0, 1, 1 → conf 0.4, acc 2/3, gap 4/15
        // bin 1: κ 0.9, 0.9, c 1, 0 → conf 0.9, acc ½, gap 0.4
        let bars = reliability(&kappa, &c, 2, Binning::EqualMass);
        assert_eq!((bars[0].count, bars[1].count), (3, 2));
        assert_eq!(
            (bars[0].lo, bars[0].hi, bars[1].lo, bars[1].hi),
            (0.2, 0.6, 0.9, 0.9)
        );
        let want = 3.0 / 5.0 * (4.0 / 15.0) + 2.0 / 5.0 * 0.4;
        assert!((ece(&kappa, &c, 2, Binning::EqualMass) - want).abs() < 1e-15);
        assert!((mce(&kappa, &c, 2, Binning::EqualMass) - 0.4).abs() < 1e-15);
    }

    #[test]
    fn perfect_and_empty() {
        // κ = accuracy in each bin: ECE 0
        let kappa = [0.5, 0.5, 1.0];
        let c = [1.0, 0.0, 1.0];
        assert_eq!(ece(&kappa, &c, 10, Binning::EqualWidth), 0.0);
        // equal mass with more bins than answers: empty bins are skipped
        let bars = reliability(&kappa, &c, 5, Binning::EqualMass);
        assert_eq!(
            bars.iter().map(|b| b.count).collect::<Vec<_>>(),
            [1, 1, 1, 0, 0]
        );
        assert!(bars[4].lo.is_nan() && bars[4].accuracy.is_nan());
        assert!(ece(&kappa, &c, 5, Binning::EqualMass).is_finite());
        for binning in [Binning::EqualWidth, Binning::EqualMass] {
            assert!(same(ece(&[], &[], 10, binning), f64::NAN));
            assert!(same(ece(&[0.5], &[1.0], 0, binning), f64::NAN));
            assert!(same(mce(&[0.5], &[1.0, 0.0], 10, binning), f64::NAN));
            assert!(same(ece(&[f64::NAN], &[1.0], 10, binning), f64::NAN));
        }
    }

    #[test]
    fn serde() {
        let bars = reliability(&[0.9], &[1.0], 2, Binning::EqualWidth);
        let json = serde_json::to_string(&bars).unwrap();
        assert_eq!(
            json,
            r#"[{"lo":0.0,"hi":0.5,"count":0,"mean_confidence":null,"accuracy":null},{"lo":0.5,"hi":1.0,"count":1,"mean_confidence":0.9,"accuracy":1.0}]"#
        );
        let back: Vec<ReliabilityBin> = serde_json::from_str(&json).unwrap();
        assert!(back[0].accuracy.is_nan() && back[1].accuracy == 1.0);
        assert_eq!(
            serde_json::to_string(&Binning::EqualMass).unwrap(),
            r#""equal_mass""#
        );
    }
}
