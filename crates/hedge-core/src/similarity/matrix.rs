//! [`SimilarityMatrix`]: the m×m matrix W of pairwise similarities of m sampled answers,
//! diagonal 1 (METHODS §3).

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// The similarities W of m sampled answers: W_ij is how much s_i and s_j agree, and
/// W_ii = 1 (a text agrees with itself). Row-major, m×m.
///
/// Every constructor sets the diagonal to 1, whatever the backend gave for a text with
/// itself. W need not be symmetric (an NLI score is not); [`SimilarityMatrix::symmetrised`]
/// gives (W + Wᵀ)/2. The spectral estimators (`eigv`, `ecc`) read only the lower triangle
/// of the Laplacian, as `scipy.linalg.eigh` does.
///
/// Serialised as its rows, `[[1.0, 0.3], [0.3, 1.0]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Vec<f64>>", into = "Vec<Vec<f64>>")]
pub struct SimilarityMatrix {
    m: usize,
    w: Vec<f64>,
}

impl SimilarityMatrix {
    /// The matrix with W_ij = `f(i, j)` off the diagonal and 1 on it (`f` is called only for
    /// i ≠ j). Values are taken as they are; an estimator that meets a NaN returns NaN.
    pub fn from_fn(m: usize, mut f: impl FnMut(usize, usize) -> f64) -> SimilarityMatrix {
        let mut w = Vec::with_capacity(m * m);
        for i in 0..m {
            for j in 0..m {
                w.push(if i == j { 1.0 } else { f(i, j) });
            }
        }
        SimilarityMatrix { m, w }
    }

    /// The matrix whose rows are `rows`; the diagonal is replaced by 1.
    ///
    /// # Errors
    /// [`CoreError::BadMatrix`] if the rows do not make a square matrix or an off-diagonal
    /// entry is NaN or infinite.
    pub fn from_rows<R: AsRef<[f64]>>(rows: &[R]) -> Result<SimilarityMatrix> {
        let w = square("similarity matrix", rows)?;
        let m = rows.len();
        Ok(SimilarityMatrix::from_fn(m, |i, j| w[i * m + j]))
    }

    /// W = I: m answers that share nothing.
    pub fn identity(m: usize) -> SimilarityMatrix {
        SimilarityMatrix::from_fn(m, |_, _| 0.0)
    }

    /// The number of answers m.
    pub fn len(&self) -> usize {
        self.m
    }

    /// Whether there is no answer (m = 0).
    pub fn is_empty(&self) -> bool {
        self.m == 0
    }

    /// W_ij.
    ///
    /// # Panics
    /// If `i` or `j` is not below [`SimilarityMatrix::len`].
    pub fn get(&self, i: usize, j: usize) -> f64 {
        assert!(
            i < self.m && j < self.m,
            "({i}, {j}) outside {0}×{0}",
            self.m
        );
        self.w[i * self.m + j]
    }

    /// Row i of W.
    ///
    /// # Panics
    /// If `i` is not below [`SimilarityMatrix::len`].
    pub fn row(&self, i: usize) -> &[f64] {
        &self.w[i * self.m..(i + 1) * self.m]
    }

    /// The rows of W, in order.
    pub fn rows(&self) -> impl Iterator<Item = &[f64]> {
        // chunks_exact(0) panics; an empty matrix has no rows.
        self.w.chunks_exact(self.m.max(1))
    }

    /// (W + Wᵀ)/2, as UQ-NLG's `agreement_w` and LM-Polygraph's graph estimators symmetrise
    /// an NLI matrix.
    pub fn symmetrised(&self) -> SimilarityMatrix {
        SimilarityMatrix::from_fn(self.m, |i, j| (self.get(i, j) + self.get(j, i)) / 2.0)
    }

    /// Whether every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.w.iter().all(|x| x.is_finite())
    }
}

impl TryFrom<Vec<Vec<f64>>> for SimilarityMatrix {
    type Error = CoreError;

    fn try_from(rows: Vec<Vec<f64>>) -> Result<SimilarityMatrix> {
        SimilarityMatrix::from_rows(&rows)
    }
}

impl From<SimilarityMatrix> for Vec<Vec<f64>> {
    fn from(w: SimilarityMatrix) -> Vec<Vec<f64>> {
        w.rows().map(<[f64]>::to_vec).collect()
    }
}

/// The entries of `rows`, row-major, after checking that they make a square matrix whose
/// off-diagonal entries are finite.
pub(crate) fn square<R: AsRef<[f64]>>(op: &'static str, rows: &[R]) -> Result<Vec<f64>> {
    let m = rows.len();
    let mut w = Vec::with_capacity(m * m);
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != m {
            return Err(CoreError::BadMatrix {
                op,
                reason: format!(
                    "row {i} has {} entries, but there are {m} rows (the matrix must be square)",
                    row.len()
                ),
            });
        }
        if let Some((j, x)) = row
            .iter()
            .enumerate()
            .find(|&(j, x)| j != i && !x.is_finite())
        {
            return Err(CoreError::BadMatrix {
                op,
                reason: format!("entry ({i}, {j}) is {x}; entries must be finite"),
            });
        }
        w.extend_from_slice(row);
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_is_one_and_rows_round_trip() {
        let w = SimilarityMatrix::from_rows(&[[0.2, 0.5], [0.25, 7.0]]).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w.row(0), [1.0, 0.5]);
        assert_eq!(w.row(1), [0.25, 1.0]);
        assert_eq!(w.symmetrised().row(0), [1.0, 0.375]);
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, "[[1.0,0.5],[0.25,1.0]]");
        assert_eq!(serde_json::from_str::<SimilarityMatrix>(&json).unwrap(), w);
        assert_eq!(SimilarityMatrix::identity(2).row(1), [0.0, 1.0]);
        let empty = SimilarityMatrix::from_rows::<Vec<f64>>(&[]).unwrap();
        assert!(empty.is_empty() && empty.rows().next().is_none());
    }

    #[test]
    fn bad_shapes_and_values_are_named() {
        let e = SimilarityMatrix::from_rows(&[vec![1.0, 0.5], vec![0.5]]).unwrap_err();
        assert!(e.to_string().contains("row 1 has 1 entries"), "{e}");
        let e = SimilarityMatrix::from_rows(&[[1.0, f64::NAN], [0.5, 1.0]]).unwrap_err();
        assert!(e.to_string().contains("entry (0, 1) is NaN"), "{e}");
        // A NaN on the diagonal is replaced, not rejected.
        assert!(SimilarityMatrix::from_rows(&[[f64::NAN]])
            .unwrap()
            .is_finite());
        let e = serde_json::from_str::<SimilarityMatrix>("[[1.0, 0.5]]").unwrap_err();
        assert!(e.to_string().contains("square"), "{e}");
    }
}
