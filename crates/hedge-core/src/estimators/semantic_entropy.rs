//! `semantic_entropy` and `discrete_semantic_entropy`: the entropy of the distribution of
//! the samples over their semantic sets (Kuhn et al.; Farquhar et al., `semantic_uncertainty`).
//!
//! The semantic sets are the connected components of the equivalence graph
//! ([`Evidence::clusters`]): with NLI, p_entail > p_contra both ways; otherwise W_ij ≥ τ.
//! Farquhar's and LM-Polygraph's code assign sets greedily (an answer joins the first set
//! whose first member it is equivalent to); the two agree whenever equivalence is
//! transitive.

use super::{logsumexp, np_sum, Estimator, Evidence, Need};
use crate::similarity::Clusters;

/// −Σ_C p(C) log p(C) with log p(C) = logsumexp_{s∈C} ℓ(s) − logsumexp_{all s} ℓ(s) and
/// ℓ(s) the length-normalised log-probability ([`super::Sample::mean_logprob`]): METHODS
/// §3, the number of Farquhar et al.'s `logsumexp_by_id(…, agg="sum_normalized")` +
/// `predictive_entropy_rao`.
///
/// LM-Polygraph's `SemanticEntropy` (default `"sum"`, `"mean"`) computes another number:
/// the Monte-Carlo mean −(1/m) Σ_j log p̃(C(s_j)) of the *unnormalised* class
/// log-likelihoods p̃(C) = logsumexp_{s∈C} log p(s) of the summed (not length-normalised)
/// log-probabilities. hedge follows METHODS here.
///
/// 0 when all samples are in one set. NaN without semantic sets (no W, no NLI), when their
/// number of answers differs from the number of samples, or when some sample has no
/// token or no log-probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SemanticEntropy {
    tau: f64,
}

/// −Σ_C p(C) log p(C) with p(C) = |C| / m (Farquhar et al.'s `cluster_assignment_entropy`;
/// LM-Polygraph `SemanticEntropy(class_probability_estimation="frequency")`). 0 for m
/// identical samples, ln m for m distinct ones. NaN without semantic sets or with no sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscreteSemanticEntropy {
    tau: f64,
}

/// The default threshold τ for backends other than `nli` (METHODS §3).
const DEFAULT_TAU: f64 = 0.5;

impl SemanticEntropy {
    /// The estimator whose semantic sets use threshold `tau` (without NLI probabilities).
    pub fn new(tau: f64) -> SemanticEntropy {
        SemanticEntropy { tau }
    }

    /// The threshold τ.
    pub fn tau(&self) -> f64 {
        self.tau
    }
}

impl Default for SemanticEntropy {
    fn default() -> SemanticEntropy {
        SemanticEntropy::new(DEFAULT_TAU)
    }
}

impl DiscreteSemanticEntropy {
    /// The estimator whose semantic sets use threshold `tau` (without NLI probabilities).
    pub fn new(tau: f64) -> DiscreteSemanticEntropy {
        DiscreteSemanticEntropy { tau }
    }

    /// The threshold τ.
    pub fn tau(&self) -> f64 {
        self.tau
    }
}

impl Default for DiscreteSemanticEntropy {
    fn default() -> DiscreteSemanticEntropy {
        DiscreteSemanticEntropy::new(DEFAULT_TAU)
    }
}

/// −Σ_C p(C) log p(C) of the sets' log-probabilities, in numpy's summation order (+0, not
/// −0, for a single set).
fn entropy(log_p: &[f64]) -> f64 {
    let terms: Vec<f64> = log_p.iter().map(|lp| lp.exp() * lp).collect();
    -np_sum(&terms) + 0.0
}

/// log p(C) of each set, METHODS §3: logsumexp over the set's ℓ minus logsumexp over all.
pub(crate) fn class_log_probs(clusters: &Clusters, ell: &[f64]) -> Vec<f64> {
    let all = logsumexp(ell);
    clusters
        .members()
        .iter()
        .map(|members| {
            let inside: Vec<f64> = members.iter().map(|&j| ell[j]).collect();
            logsumexp(&inside) - all
        })
        .collect()
}

impl Estimator for SemanticEntropy {
    fn name(&self) -> String {
        super::spec::with_param("semantic_entropy", self.tau, DEFAULT_TAU)
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Samples, Need::SampleLogprobs, Need::Similarity]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let Some(clusters) = ev.clusters(self.tau) else {
            return f64::NAN;
        };
        if clusters.is_empty() || clusters.answers() != ev.samples.len() {
            return f64::NAN;
        }
        let ell: Vec<f64> = ev.samples.iter().map(|s| s.mean_logprob()).collect();
        if ell.iter().any(|x| x.is_nan()) {
            return f64::NAN;
        }
        entropy(&class_log_probs(&clusters, &ell))
    }
}

impl Estimator for DiscreteSemanticEntropy {
    fn name(&self) -> String {
        super::spec::with_param("discrete_semantic_entropy", self.tau, DEFAULT_TAU)
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Samples, Need::Similarity]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let Some(clusters) = ev.clusters(self.tau).filter(|c| !c.is_empty()) else {
            return f64::NAN;
        };
        let m = clusters.answers() as f64;
        let log_p: Vec<f64> = clusters
            .members()
            .iter()
            .map(|c| (c.len() as f64 / m).ln())
            .collect();
        entropy(&log_p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::Sample;
    use crate::similarity::{NliProbs, SimilarityMatrix};

    #[test]
    fn by_hand() {
        // Samples 0, 1 agree; 2 stands alone. ℓ = mean token log-probability.
        let samples = vec![
            Sample::new("Paris", vec![-0.2, -0.4]), // ℓ = −0.3
            Sample::new("paris", vec![-0.3]),       // ℓ = −0.3
            Sample::new("Lyon", vec![-1.0, -2.0]),  // ℓ = −1.5
        ];
        let nli = NliProbs::from_fn(3, |i, j| if i + j == 1 { (0.9, 0.0) } else { (0.1, 0.7) });
        let ev = Evidence::new(&[]).with_samples(&samples).with_nli(&nli);
        // p(C) ∝ (2e^{−0.3}, e^{−1.5})
        let (a, b) = (2.0 * (-0.3f64).exp(), (-1.5f64).exp());
        let (pa, pb) = (a / (a + b), b / (a + b));
        let want = -(pa * pa.ln() + pb * pb.ln());
        let got = SemanticEntropy::default().estimate(&ev);
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        let want = -(2.0 / 3.0 * (2.0f64 / 3.0).ln() + 1.0 / 3.0 * (1.0f64 / 3.0).ln());
        let got = DiscreteSemanticEntropy::default().estimate(&ev);
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }

    #[test]
    fn identical_and_distinct() {
        for m in [1usize, 5, 10] {
            let samples: Vec<Sample> = (0..m)
                .map(|j| Sample::new("x", vec![-0.1 * j as f64 - 0.5]))
                .collect();
            let same = SimilarityMatrix::from_fn(m, |_, _| 1.0);
            let ev = Evidence::new(&[])
                .with_samples(&samples)
                .with_similarity(&same);
            assert_eq!(SemanticEntropy::default().estimate(&ev), 0.0);
            assert_eq!(DiscreteSemanticEntropy::default().estimate(&ev), 0.0);
            let apart = SimilarityMatrix::identity(m);
            let ev = ev.with_similarity(&apart);
            let got = DiscreteSemanticEntropy::default().estimate(&ev);
            assert!((got - (m as f64).ln()).abs() < 1e-12, "m = {m}: {got}");
            // Distinct answers of equal ℓ: uniform over m sets.
            let equal: Vec<Sample> = (0..m).map(|_| Sample::new("x", vec![-0.7])).collect();
            let got = SemanticEntropy::default().estimate(&ev.with_samples(&equal));
            assert!((got - (m as f64).ln()).abs() < 1e-12, "m = {m}: {got}");
        }
    }

    #[test]
    fn missing_evidence_is_nan() {
        let samples = vec![Sample::new("a", vec![-1.0]), Sample::text_only("b")];
        let w = SimilarityMatrix::identity(2);
        let se = SemanticEntropy::default();
        assert!(se
            .estimate(&Evidence::new(&[]).with_samples(&samples))
            .is_nan());
        let ev = Evidence::new(&[])
            .with_samples(&samples)
            .with_similarity(&w);
        assert!(se.estimate(&ev).is_nan(), "unknown log-probabilities");
        let three = SimilarityMatrix::identity(3);
        let ok = vec![Sample::new("a", vec![-1.0]), Sample::new("b", vec![-1.0])];
        let ev = Evidence::new(&[]).with_samples(&ok).with_similarity(&three);
        assert!(se.estimate(&ev).is_nan(), "3×3 W for 2 samples");
        assert!(DiscreteSemanticEntropy::default()
            .estimate(&Evidence::new(&[]))
            .is_nan());
    }
}
