//! The normalised graph Laplacian L = I − D^{-1/2} W D^{-1/2} of a similarity matrix and its
//! eigen-decomposition, shared by `eigv` and `ecc` (Lin et al.; LM-Polygraph).

use nalgebra::{DMatrix, SymmetricEigen};

use super::np_sum;
use crate::similarity::SimilarityMatrix;

/// The eigenvalues of L, ascending, with their unit eigenvectors (column k of `vectors`
/// belongs to `values[k]`).
pub(crate) struct Spectrum {
    pub(crate) values: Vec<f64>,
    pub(crate) vectors: DMatrix<f64>,
}

/// The degrees d_i = Σ_j W_ij (numpy's summation order, as `W.sum(axis=1)`).
pub(crate) fn degrees(w: &SimilarityMatrix) -> Vec<f64> {
    w.rows().map(np_sum).collect()
}

/// L = I − D^{-1/2} W D^{-1/2}, entry by entry as LM-Polygraph's matrix products give it:
/// L_ij = δ_ij − (d_i^{-1/2} · W_ij) · d_j^{-1/2}. `None` when some degree is not positive
/// (then D^{-1/2} does not exist) or an entry is not finite.
pub(crate) fn laplacian(w: &SimilarityMatrix) -> Option<DMatrix<f64>> {
    let m = w.len();
    let d = degrees(w);
    if d.iter().any(|&x| !(x > 0.0 && x.is_finite())) {
        return None;
    }
    let inv_sqrt: Vec<f64> = d.iter().map(|x| 1.0 / x.sqrt()).collect();
    let l = DMatrix::from_fn(m, m, |i, j| {
        let eye = if i == j { 1.0 } else { 0.0 };
        eye - (inv_sqrt[i] * w.get(i, j)) * inv_sqrt[j]
    });
    l.iter().all(|x| x.is_finite()).then_some(l)
}

/// The spectrum of [`laplacian`]`(w)`, reading its lower triangle (as `scipy.linalg.eigh`).
/// `None` for an empty matrix, when L does not exist, or if the eigen-solver does not
/// converge.
pub(crate) fn spectrum(w: &SimilarityMatrix) -> Option<Spectrum> {
    if w.is_empty() {
        return None;
    }
    let l = laplacian(w)?;
    let m = l.nrows();
    // Converges in a few sweeps per eigenvalue; the cap only guards against a loop forever.
    let eig = SymmetricEigen::try_new(l, f64::EPSILON, 1000 * m.max(10))?;
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    let values = order.iter().map(|&k| eig.eigenvalues[k]).collect();
    let vectors = DMatrix::from_fn(m, m, |i, k| eig.eigenvectors[(i, order[k])]);
    Some(Spectrum { values, vectors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laplacian_by_hand() {
        // W = [[1, 0.5], [0.5, 1]]: d = 1.5 each, L = [[1 − 1/1.5, −0.5/1.5], …]
        let w = SimilarityMatrix::from_fn(2, |_, _| 0.5);
        let s = spectrum(&w).unwrap();
        // eigenvalues of [[1/3, −1/3], [−1/3, 1/3]]: 0 and 2/3
        assert!(s.values[0].abs() < 1e-15 && (s.values[1] - 2.0 / 3.0).abs() < 1e-15);
        let v = s.vectors.column(0);
        assert!((v[0].abs() - 0.5f64.sqrt()).abs() < 1e-15 && (v[0] - v[1]).abs() < 1e-15);
        // A zero degree (negative similarities) has no D^{-1/2}.
        let neg = SimilarityMatrix::from_fn(2, |_, _| -1.0);
        assert!(spectrum(&neg).is_none());
        assert!(spectrum(&SimilarityMatrix::identity(0)).is_none());
        assert!(spectrum(&SimilarityMatrix::from_fn(2, |_, _| f64::NAN)).is_none());
    }
}
