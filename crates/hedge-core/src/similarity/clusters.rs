//! [`Clusters`]: the semantic sets of m sampled answers, the connected components of the
//! graph whose edges join equivalent answers (`num_sets`, `semantic_entropy`).

use super::matrix::SimilarityMatrix;
use super::nli::NliProbs;

/// A partition of answers 0..m into clusters, numbered in the order of their smallest
/// member (answer 0 is always in cluster 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clusters {
    of: Vec<usize>,
    members: Vec<Vec<usize>>,
}

impl Clusters {
    /// The connected components of the graph on 0..m with an edge i–j (i < j) wherever
    /// `equivalent(i, j)`, as LM-Polygraph's `NumSemSets` builds them: an answer joins a set
    /// when it is equivalent to any member, so the relation is closed transitively.
    pub fn connected(m: usize, mut equivalent: impl FnMut(usize, usize) -> bool) -> Clusters {
        // Union–find with the smaller root kept, so that roots are smallest members.
        let mut parent: Vec<usize> = (0..m).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for i in 0..m {
            for j in i + 1..m {
                if equivalent(i, j) {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
        let mut of = vec![0; m];
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut id_of_root = vec![usize::MAX; m];
        for i in 0..m {
            let r = root(&mut parent, i);
            if id_of_root[r] == usize::MAX {
                id_of_root[r] = members.len();
                members.push(Vec::new());
            }
            of[i] = id_of_root[r];
            members[of[i]].push(i);
        }
        Clusters { of, members }
    }

    /// Clusters of the `nli` backend: s_i and s_j are equivalent when p_entail > p_contra
    /// both ways ([`NliProbs::equivalent`]).
    pub fn from_nli(nli: &NliProbs) -> Clusters {
        Clusters::connected(nli.len(), |i, j| nli.equivalent(i, j))
    }

    /// Clusters of any other backend: s_i and s_j are equivalent when W_ij ≥ τ and
    /// W_ji ≥ τ (one test for a symmetric W). A NaN entry joins nothing.
    pub fn from_similarity(w: &SimilarityMatrix, tau: f64) -> Clusters {
        Clusters::connected(w.len(), |i, j| w.get(i, j) >= tau && w.get(j, i) >= tau)
    }

    /// The number of clusters.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there is no answer.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The number of answers m.
    pub fn answers(&self) -> usize {
        self.of.len()
    }

    /// The cluster of answer `i`.
    ///
    /// # Panics
    /// If `i` is not below [`Clusters::answers`].
    pub fn cluster_of(&self, i: usize) -> usize {
        self.of[i]
    }

    /// The members of each cluster, ascending, clusters in order of their smallest member.
    pub fn members(&self) -> &[Vec<usize>] {
        &self.members
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_by_hand() {
        // Edges 0–3, 3–4 (so 0, 3, 4 together although 0–4 is not an edge), 1–2; 5 alone.
        let edges = [(0, 3), (3, 4), (1, 2)];
        let c = Clusters::connected(6, |i, j| edges.contains(&(i, j)));
        assert_eq!(c.members(), [vec![0, 3, 4], vec![1, 2], vec![5]]);
        assert_eq!(c.len(), 3);
        assert_eq!(c.answers(), 6);
        assert_eq!(
            (0..6).map(|i| c.cluster_of(i)).collect::<Vec<_>>(),
            [0, 1, 1, 0, 0, 2]
        );
        // The smaller root is kept whatever the order the edges join roots in.
        let c = Clusters::connected(4, |i, j| (i, j) == (2, 3) || (i, j) == (1, 3));
        assert_eq!(c.members(), [vec![0], vec![1, 2, 3]]);
        assert!(Clusters::connected(0, |_, _| true).is_empty());
    }

    #[test]
    fn threshold_and_identity() {
        let w = SimilarityMatrix::from_rows(&[[1.0, 0.5, 0.49], [0.5, 1.0, 0.2], [0.49, 0.2, 1.0]])
            .unwrap();
        assert_eq!(
            Clusters::from_similarity(&w, 0.5).members(),
            [vec![0, 1], vec![2]]
        );
        assert_eq!(Clusters::from_similarity(&w, 0.1).len(), 1);
        assert_eq!(
            Clusters::from_similarity(&SimilarityMatrix::identity(4), 0.5).len(),
            4
        );
        // τ = 0 joins everything with a non-negative similarity, but never a NaN.
        let nan = SimilarityMatrix::from_fn(2, |_, _| f64::NAN);
        assert_eq!(Clusters::from_similarity(&nan, 0.0).len(), 2);
    }
}
