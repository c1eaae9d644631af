//! `deg`: the mean dissimilarity read off the degree matrix, trace(m·I − D) / m² (Lin et
//! al.; LM-Polygraph `DegMat`).

use super::laplacian::degrees;
use super::{Estimator, Evidence, Need};

/// trace(m·I − D) / m² = Σ_i (m − d_i) / m², d_i the row sums of W ([`Evidence::w`]):
/// 0 for m identical answers, (m − 1)/m for m orthogonal ones. NaN without W or with no
/// sample.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deg;

impl Estimator for Deg {
    fn name(&self) -> String {
        "deg".into()
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Samples, Need::Similarity]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let Some(w) = ev.w().filter(|w| !w.is_empty()) else {
            return f64::NAN;
        };
        let m = w.len() as f64;
        let trace = degrees(&w).iter().fold(0.0, |acc, d| acc + (m - d));
        trace / (m * m)
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
            let same = SimilarityMatrix::from_fn(m, |_, _| 1.0);
            assert_eq!(Deg.estimate(&ev.with_similarity(&same)), 0.0);
            let apart = SimilarityMatrix::identity(m);
            let got = Deg.estimate(&ev.with_similarity(&apart));
            assert!(
                (got - (m as f64 - 1.0) / m as f64).abs() < 1e-15,
                "m = {m}: {got}"
            );
        }
        // W = [[1, 0.5], [0.5, 1]]: d = (1.5, 1.5), (0.5 + 0.5) / 4
        let w = SimilarityMatrix::from_fn(2, |_, _| 0.5);
        assert_eq!(Deg.estimate(&ev.with_similarity(&w)), 0.25);
        assert!(Deg.estimate(&ev).is_nan());
        assert!(Deg
            .estimate(&ev.with_similarity(&SimilarityMatrix::identity(0)))
            .is_nan());
    }
}
