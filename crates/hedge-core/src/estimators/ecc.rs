//! `ecc`: the eccentricity of the samples' spectral embedding (Lin et al.; LM-Polygraph
//! `Eccentricity`).

use super::laplacian::spectrum;
use super::{np_sum, Estimator, Evidence, Need};

/// With u_1..u_K the eigenvectors of L (see [`super::Eigv`]) whose eigenvalue is below 0.9,
/// v_j = (u_1\[j\], …, u_K\[j\]) the embedding of sample j and v̄ their mean,
/// ecc = ‖(‖v_1 − v̄‖, …, ‖v_m − v̄‖)‖₂.
///
/// LM-Polygraph computes ‖(‖u_1 − mean u_1‖, …, ‖u_K − mean u_K‖)‖₂, centring each
/// eigenvector instead; both are the Frobenius norm of the centred m×K matrix [u_1 … u_K],
/// so the numbers agree (hedge computes LM-Polygraph's form). When no eigenvalue is below
/// 0.9 METHODS keeps the smallest one, where LM-Polygraph's empty selection would give 0;
/// this cannot happen for W ≥ 0, whose Laplacian always has the eigenvalue 0.
///
/// 0 for m identical answers, √(m − 1) for m orthogonal ones. NaN as [`super::Eigv`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ecc;

/// The eigenvalue bound of METHODS §3 (LM-Polygraph's `thres`).
const THRESHOLD: f64 = 0.9;

impl Estimator for Ecc {
    fn name(&self) -> String {
        "ecc".into()
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Samples, Need::Similarity]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let Some(s) = ev.w().and_then(|w| spectrum(&w)) else {
            return f64::NAN;
        };
        let m = s.values.len();
        let keep = s.values.iter().filter(|&&l| l < THRESHOLD).count().max(1);
        let norms: Vec<f64> = (0..keep)
            .map(|k| {
                let u: Vec<f64> = s.vectors.column(k).iter().copied().collect();
                let mean = np_sum(&u) / m as f64;
                norm(u.iter().map(|x| x - mean))
            })
            .collect();
        norm(norms.into_iter())
    }
}

/// The Euclidean norm.
fn norm(xs: impl Iterator<Item = f64>) -> f64 {
    xs.map(|x| x * x).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::similarity::SimilarityMatrix;

    #[test]
    fn by_hand() {
        let ev = Evidence::new(&[]);
        for m in [1usize, 2, 5, 10] {
            // W = I: every λ = 0, all m eigenvectors kept; ‖C·U‖_F² = trace(C) = m − 1.
            let w = SimilarityMatrix::identity(m);
            let got = Ecc.estimate(&ev.with_similarity(&w));
            assert!(
                (got - (m as f64 - 1.0).sqrt()).abs() < 1e-12,
                "m = {m}: {got}"
            );
            // W = 1: only λ = 0 is kept, its eigenvector is constant: 0.
            let w = SimilarityMatrix::from_fn(m, |_, _| 1.0);
            let got = Ecc.estimate(&ev.with_similarity(&w));
            assert!(got.abs() < 1e-12, "m = {m}: {got}");
        }
        // Two clusters {0, 1} and {2}: L = [[½, −½], [−½, ½]] ⊕ [0], λ = 0, 0 (kept) and 1.
        let w = SimilarityMatrix::from_rows(&[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            .unwrap();
        let got = Ecc.estimate(&ev.with_similarity(&w));
        // Kept space: span{(1, 1, 0)/√2, (0, 0, 1)}; centred projector trace = 2 − 1 = 1.
        assert!((got - 1.0).abs() < 1e-12, "{got}");
        assert!(Ecc.estimate(&ev).is_nan());
    }
}
