//! `eigv`: Σ_k max(0, 1 − λ_k) over the eigenvalues of the normalised graph Laplacian of W,
//! a continuous number of semantic sets (Lin et al.; LM-Polygraph `EigValLaplacian`).

use super::laplacian::spectrum;
use super::{Estimator, Evidence, Need};

/// Σ_k max(0, 1 − λ_k), λ the eigenvalues of L = I − D^{-1/2} W D^{-1/2}, D = diag(row sums
/// of W), W from [`Evidence::w`]. m for m orthogonal answers (W = I), 1 for m identical
/// ones. NaN without W, with no sample, or when a row of W sums to ≤ 0.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Eigv;

impl Estimator for Eigv {
    fn name(&self) -> String {
        "eigv".into()
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Samples, Need::Similarity]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let Some(s) = ev.w().and_then(|w| spectrum(&w)) else {
            return f64::NAN;
        };
        // Python's sum() over eigh's ascending eigenvalues, one by one.
        s.values
            .iter()
            .fold(0.0, |acc, &lambda| acc + f64::max(0.0, 1.0 - lambda))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::similarity::SimilarityMatrix;

    #[test]
    fn by_hand() {
        let ev = Evidence::new(&[]);
        for m in [1usize, 2, 5, 10] {
            // W = I: L = 0, every λ = 0, eigv = m.
            let w = SimilarityMatrix::identity(m);
            let got = Eigv.estimate(&ev.with_similarity(&w));
            assert!((got - m as f64).abs() < 1e-12, "m = {m}: {got}");
            // W = 1: λ = 0 once and 1 (m − 1 times), eigv = 1.
            let w = SimilarityMatrix::from_fn(m, |_, _| 1.0);
            let got = Eigv.estimate(&ev.with_similarity(&w));
            assert!((got - 1.0).abs() < 1e-12, "m = {m}: {got}");
        }
        // W = [[1, a], [a, 1]]: λ = 0 and 2a/(1 + a), eigv = 1 + max(0, 1 − 2a/(1 + a)).
        let a = 0.25;
        let w = SimilarityMatrix::from_fn(2, |_, _| a);
        let got = Eigv.estimate(&ev.with_similarity(&w));
        assert!((got - (2.0 - 2.0 * a / (1.0 + a))).abs() < 1e-15, "{got}");
        assert!(Eigv.estimate(&ev).is_nan());
    }
}
