//! [`NliProbs`]: the entailment and contradiction probabilities of every ordered pair of
//! sampled answers, from which the `nli` backend builds W and the equivalence classes.

use serde::{Deserialize, Serialize};

use super::matrix::{square, SimilarityMatrix};
use crate::error::{CoreError, Result};

/// NLI probabilities of m sampled answers: `entail(i, j)` = p_entail and `contra(i, j)` =
/// p_contra of an NLI model on (premise x + s_i, hypothesis x + s_j), as LM-Polygraph's
/// `semantic_matrix_entail` / `semantic_matrix_contra`.
///
/// The probabilities come from the model's softmax, which is the engine's job (METHODS §3:
/// temperature 3); hedge-core takes them as they are. The diagonal is not read.
///
/// Serialised as `{"entail": [[…]], "contra": [[…]]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawNli", into = "RawNli")]
pub struct NliProbs {
    m: usize,
    entail: Vec<f64>,
    contra: Vec<f64>,
}

/// The serde shape of [`NliProbs`], before its shape is checked.
#[derive(Clone, Serialize, Deserialize)]
struct RawNli {
    entail: Vec<Vec<f64>>,
    contra: Vec<Vec<f64>>,
}

impl NliProbs {
    /// The probabilities `f(i, j) = (p_entail, p_contra)` of each ordered pair i ≠ j; the
    /// diagonal is set to (1, 0).
    pub fn from_fn(m: usize, mut f: impl FnMut(usize, usize) -> (f64, f64)) -> NliProbs {
        let mut entail = Vec::with_capacity(m * m);
        let mut contra = Vec::with_capacity(m * m);
        for i in 0..m {
            for j in 0..m {
                let (e, c) = if i == j { (1.0, 0.0) } else { f(i, j) };
                entail.push(e);
                contra.push(c);
            }
        }
        NliProbs { m, entail, contra }
    }

    /// The probabilities given as two m×m matrices of rows (the diagonal is set to (1, 0)).
    ///
    /// # Errors
    /// [`CoreError::BadMatrix`] if either is not square, their sizes differ, or an
    /// off-diagonal entry is not finite.
    pub fn from_rows<R: AsRef<[f64]>>(entail: &[R], contra: &[R]) -> Result<NliProbs> {
        let e = square("NLI entailment matrix", entail)?;
        let c = square("NLI contradiction matrix", contra)?;
        let m = entail.len();
        if contra.len() != m {
            return Err(CoreError::BadMatrix {
                op: "NLI probabilities",
                reason: format!(
                    "the entailment matrix is {m}×{m} but the contradiction matrix is {0}×{0}",
                    contra.len()
                ),
            });
        }
        Ok(NliProbs::from_fn(m, |i, j| (e[i * m + j], c[i * m + j])))
    }

    /// The number of answers m.
    pub fn len(&self) -> usize {
        self.m
    }

    /// Whether there is no answer (m = 0).
    pub fn is_empty(&self) -> bool {
        self.m == 0
    }

    /// p_entail(s_i ⇒ s_j).
    ///
    /// # Panics
    /// If `i` or `j` is not below [`NliProbs::len`].
    pub fn entail(&self, i: usize, j: usize) -> f64 {
        assert!(
            i < self.m && j < self.m,
            "({i}, {j}) outside {0}×{0}",
            self.m
        );
        self.entail[i * self.m + j]
    }

    /// p_contra(s_i, s_j).
    ///
    /// # Panics
    /// If `i` or `j` is not below [`NliProbs::len`].
    pub fn contra(&self, i: usize, j: usize) -> f64 {
        assert!(
            i < self.m && j < self.m,
            "({i}, {j}) outside {0}×{0}",
            self.m
        );
        self.contra[i * self.m + j]
    }

    /// Whether s_i and s_j are equivalent (METHODS §3, LM-Polygraph `NumSemSets`):
    /// p_entail > p_contra both ways. Every answer is equivalent to itself.
    pub fn equivalent(&self, i: usize, j: usize) -> bool {
        i == j || (self.entail(i, j) > self.contra(i, j) && self.entail(j, i) > self.contra(j, i))
    }

    /// W of the `nli` backend: (E + Eᵀ)/2 with E_ij = p_entail(s_i ⇒ s_j) and diagonal 1
    /// (UQ-NLG `agreement_w`; LM-Polygraph's `NLI_score` with `affinity="entail"`).
    pub fn agreement_w(&self) -> SimilarityMatrix {
        SimilarityMatrix::from_fn(self.m, |i, j| (self.entail(i, j) + self.entail(j, i)) / 2.0)
    }
}

impl TryFrom<RawNli> for NliProbs {
    type Error = CoreError;

    fn try_from(raw: RawNli) -> Result<NliProbs> {
        NliProbs::from_rows(&raw.entail, &raw.contra)
    }
}

impl From<NliProbs> for RawNli {
    fn from(nli: NliProbs) -> RawNli {
        let rows = |v: &[f64]| {
            v.chunks_exact(nli.m.max(1))
                .map(<[f64]>::to_vec)
                .collect::<Vec<_>>()
        };
        RawNli {
            entail: rows(&nli.entail),
            contra: rows(&nli.contra),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalence_needs_both_ways() {
        // 0 ⇒ 1 and 1 ⇒ 0; 0 ⇒ 2 but 2 contradicts 0.
        let entail = [[0.0, 0.9, 0.8], [0.7, 0.0, 0.1], [0.1, 0.2, 0.0]];
        let contra = [[0.0, 0.05, 0.1], [0.1, 0.0, 0.6], [0.5, 0.3, 0.0]];
        let nli = NliProbs::from_rows(&entail, &contra).unwrap();
        assert!(nli.equivalent(0, 1) && nli.equivalent(1, 0));
        assert!(!nli.equivalent(0, 2) && !nli.equivalent(2, 0));
        assert!(!nli.equivalent(1, 2));
        assert!((0..3).all(|i| nli.equivalent(i, i)));
        let w = nli.agreement_w();
        assert_eq!(w.row(0), [1.0, 0.8, 0.45]);
        assert_eq!(w.get(1, 0), 0.8);
        assert_eq!((nli.entail(1, 1), nli.contra(1, 1)), (1.0, 0.0));
    }

    #[test]
    fn json_round_trip_and_errors() {
        let nli = NliProbs::from_fn(2, |i, _| (0.6 - 0.1 * i as f64, 0.2));
        let json = serde_json::to_string(&nli).unwrap();
        assert_eq!(
            json,
            r#"{"entail":[[1.0,0.6],[0.5,1.0]],"contra":[[0.0,0.2],[0.2,0.0]]}"#
        );
        assert_eq!(serde_json::from_str::<NliProbs>(&json).unwrap(), nli);
        let e = NliProbs::from_rows(&[vec![1.0, 0.5], vec![0.5, 1.0]], &[vec![0.0]]).unwrap_err();
        assert!(
            e.to_string().contains("2×2") && e.to_string().contains("1×1"),
            "{e}"
        );
    }
}
