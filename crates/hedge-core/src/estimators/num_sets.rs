//! `num_sets`: the number of semantic sets, the connected components of the graph joining
//! equivalent samples (Lin et al., Generating with Confidence; LM-Polygraph `NumSemSets`).

use super::{Estimator, Evidence, Need};

/// The number of connected components of the equivalence graph of the samples:
/// with NLI probabilities, s_i ~ s_j when p_entail > p_contra both ways (LM-Polygraph's
/// rule); with any other backend, when W_ij ≥ τ (and W_ji ≥ τ). See
/// [`Evidence::clusters`]. NaN without a similarity matrix or NLI probabilities, or with
/// no sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumSets {
    tau: f64,
}

impl NumSets {
    /// The default threshold τ of METHODS §3, for backends other than `nli`.
    pub const DEFAULT_TAU: f64 = 0.5;

    /// The estimator with threshold `tau` (used only without NLI probabilities).
    pub fn new(tau: f64) -> NumSets {
        NumSets { tau }
    }

    /// The threshold τ.
    pub fn tau(&self) -> f64 {
        self.tau
    }
}

impl Default for NumSets {
    fn default() -> NumSets {
        NumSets::new(NumSets::DEFAULT_TAU)
    }
}

impl Estimator for NumSets {
    fn name(&self) -> String {
        super::spec::with_param("num_sets", self.tau, NumSets::DEFAULT_TAU)
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Samples, Need::Similarity]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        match ev.clusters(self.tau) {
            Some(c) if !c.is_empty() => c.len() as f64,
            _ => f64::NAN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::similarity::{NliProbs, SimilarityMatrix};

    #[test]
    fn by_hand() {
        let ev = Evidence::new(&[]);
        assert!(NumSets::default().estimate(&ev).is_nan());
        // m identical samples: one set; m orthogonal ones: m sets.
        for m in [1, 5, 10] {
            let same = SimilarityMatrix::from_fn(m, |_, _| 1.0);
            assert_eq!(NumSets::default().estimate(&ev.with_similarity(&same)), 1.0);
            let apart = SimilarityMatrix::identity(m);
            assert_eq!(
                NumSets::default().estimate(&ev.with_similarity(&apart)),
                m as f64
            );
        }
        // τ decides for lexical backends: 0–1 at 0.6, 1–2 at 0.4.
        let w = SimilarityMatrix::from_rows(&[[1.0, 0.6, 0.1], [0.6, 1.0, 0.4], [0.1, 0.4, 1.0]])
            .unwrap();
        let ev_w = ev.with_similarity(&w);
        assert_eq!(NumSets::new(0.5).estimate(&ev_w), 2.0);
        assert_eq!(NumSets::new(0.4).estimate(&ev_w), 1.0);
        assert_eq!(NumSets::new(0.7).estimate(&ev_w), 3.0);
        // The NLI rule wins over W when both are given: 0 ⇔ 1 only.
        let nli = NliProbs::from_fn(3, |i, j| if i + j == 1 { (0.8, 0.1) } else { (0.3, 0.4) });
        assert_eq!(NumSets::new(0.05).estimate(&ev_w.with_nli(&nli)), 2.0);
        assert!(NumSets::default()
            .estimate(&ev.with_similarity(&SimilarityMatrix::identity(0)))
            .is_nan());
    }
}
