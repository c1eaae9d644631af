//! A clarifying question when two or more semantic clusters of the samples each hold real mass
//! (METHODS §6; Proactive agents under uncertainty, CondAmbigQA).
//!
//! The samples are the m answers the sampling-based estimators already draw (one prefill,
//! forked m ways, at temperature 1), and the clusters are their semantic sets, built exactly
//! as `num_sets` and `semantic_entropy` build them: the NLI rule with the `nli` backend, else
//! W_ij ≥ τ on the similarity matrix ([`hedge_core::Clusters`]).
//!
//! **Mass** of a cluster: its share of the samples, |C| / m (as `discrete_semantic_entropy`).
//! The samples are already drawn from the model's distribution, so the share estimates the
//! cluster's probability without weighting each sample by its probability again (which would
//! count likely answers twice, and needs log-probabilities a server may not send).
//!
//! **Clarify** when ≥ 2 clusters each hold mass ≥ μ (default 0.25). The question names each
//! such cluster's representative, its most probable sample (highest Σ log p; the first
//! member without log-probabilities), heaviest cluster first, with the words all the
//! representatives share at their start and end left out, so that "Sure! Tora Dor has
//! visited Lorwick." and "Sure! Tora Dor has visited Halvik." read "“Lorwick” or “Halvik”".
//!
//! **Order against abstain** ([`ClarifyOrder`]): unknown questions also spread their samples,
//! over many small clusters as a rule but sometimes over two; ambiguous ones over two or three
//! large ones. The default, [`ClarifyOrder::AbstainFirst`], clarifies only answers the policy
//! would not abstain on (κ ≥ τ_lo). On the lab's calib split (lab-l-chat with its bundled
//! policy: mean_token_entropy, 10 samples, rouge_l, τ = 0.9), clarifying first asked 28
//! clarifying questions instead of 25: one more on an ambiguous question but two more on rare
//! facts, and honesty fell from 0.835 to 0.830 (see the README's policy section).
//!
//! ```
//! use hedge_core::{Clusters, Sample};
//! use hedge_steer::clarify::{clarify, masses, question};
//!
//! let samples = [
//!     Sample::new("Sure! Tora has visited Lorwick.", vec![-0.2]),
//!     Sample::new("Sure! Tora has visited Halvik.", vec![-0.9]),
//!     Sample::new("Sure! Tora has visited Lorwick.", vec![-0.2]),
//!     Sample::new("Sure! Tora has visited Peldor.", vec![-2.0]),
//! ];
//! // Samples 0 and 2 are one cluster.
//! let clusters = Clusters::connected(4, |i, j| samples[i].text == samples[j].text);
//! let m = masses(&samples, &clusters);
//! assert_eq!(m.iter().map(|c| c.mass).collect::<Vec<_>>(), [0.5, 0.25, 0.25]);
//! let c = clarify(&m, 0.25).unwrap();
//! assert_eq!(c.options, ["Lorwick", "Halvik", "Peldor"]);
//! assert_eq!(
//!     question(&c.options),
//!     "I can think of more than one answer: “Lorwick”, “Halvik” or “Peldor”. Which one do you mean?"
//! );
//! assert!(clarify(&m, 0.3).is_none()); // only one cluster holds ≥ 0.3
//! ```

use hedge_core::{Clusters, Sample, SimilarityKind};
use hedge_engine::GatheredEvidence;
use serde::{Deserialize, Serialize};

use crate::policy::{PolicyError, Result};

/// μ of METHODS §6: the mass each of the clusters must hold.
pub const DEFAULT_MU: f64 = 0.25;

/// Whether a policy considers clarifying before or after abstaining.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClarifyOrder {
    /// Abstain when κ < τ_lo whatever the clusters; clarify only above (the default, chosen
    /// by measurement: see the module documentation).
    #[default]
    AbstainFirst,
    /// Clarify whenever the clusters say so, even when κ < τ_lo.
    ClarifyFirst,
}

/// When and how a policy clarifies, and how its samples are drawn and compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClarifyConfig {
    /// Clarify when ≥ 2 clusters each hold at least this share of the samples.
    pub mu: f64,
    #[serde(default)]
    pub order: ClarifyOrder,
    /// How many samples to draw.
    pub samples: usize,
    /// Their temperature.
    pub temperature: f64,
    /// How they are compared.
    pub similarity: SimilarityKind,
    /// τ: samples are equivalent when W_ij ≥ τ (backends other than `nli`).
    pub cluster_threshold: f64,
}

impl Default for ClarifyConfig {
    /// μ = 0.25, abstain first, 10 samples at temperature 1, rouge_l, τ = 0.5 (METHODS §3).
    fn default() -> ClarifyConfig {
        ClarifyConfig {
            mu: DEFAULT_MU,
            order: ClarifyOrder::AbstainFirst,
            samples: 10,
            temperature: 1.0,
            similarity: SimilarityKind::RougeL,
            cluster_threshold: 0.5,
        }
    }
}

impl ClarifyConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`PolicyError::Invalid`] naming the field: μ outside (0, 1], fewer than 2 samples, a
    /// temperature that is not a finite number > 0, τ outside [0, 1].
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(PolicyError::Invalid { field, reason });
        if !(self.mu > 0.0 && self.mu <= 1.0) {
            return bad(
                "clarify.mu",
                format!("{} is not a share of the samples in (0, 1]", self.mu),
            );
        }
        if self.samples < 2 {
            return bad(
                "clarify.samples",
                format!(
                    "{}: two clusters need at least 2 samples (10 is usual)",
                    self.samples
                ),
            );
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad(
                "clarify.temperature",
                format!("{} is not a finite number > 0", self.temperature),
            );
        }
        if !(0.0..=1.0).contains(&self.cluster_threshold) {
            return bad(
                "clarify.cluster_threshold",
                format!("{} is not a similarity in [0, 1]", self.cluster_threshold),
            );
        }
        Ok(())
    }
}

/// One semantic cluster of the samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterMass {
    /// Samples in it.
    pub size: usize,
    /// Its share of the samples.
    pub mass: f64,
    /// Its most probable sample, trimmed.
    pub representative: String,
}

/// The clusters of the samples in `evidence` with their masses, heaviest first: by the NLI
/// rule when it holds NLI probabilities, else W_ij ≥ `tau` on its similarity matrix. `None`
/// without samples, or without a matrix of their size.
pub fn cluster_masses(evidence: &GatheredEvidence, tau: f64) -> Option<Vec<ClusterMass>> {
    let m = evidence.samples.len();
    if m == 0 {
        return None;
    }
    let clusters = match (&evidence.nli, &evidence.similarity) {
        (Some(nli), _) if nli.len() == m => Clusters::from_nli(nli),
        (_, Some(w)) if w.len() == m => Clusters::from_similarity(w, tau),
        _ => return None,
    };
    Some(masses(&evidence.samples, &clusters))
}

/// The mass and representative of each cluster of `samples`, heaviest first (equal masses in
/// the order of the clusters' first samples).
///
/// # Panics
/// If `clusters` partitions fewer answers than there are `samples`.
pub fn masses(samples: &[Sample], clusters: &Clusters) -> Vec<ClusterMass> {
    let m = clusters.answers().max(1) as f64;
    let logprob = |i: usize| {
        let lp = samples[i].logprob();
        if lp.is_nan() {
            f64::NEG_INFINITY
        } else {
            lp
        }
    };
    let mut out: Vec<ClusterMass> = clusters
        .members()
        .iter()
        .map(|members| {
            // The first of the most probable members.
            let best = members
                .iter()
                .copied()
                .reduce(|a, b| if logprob(b) > logprob(a) { b } else { a })
                .unwrap_or(0);
            ClusterMass {
                size: members.len(),
                mass: members.len() as f64 / m,
                representative: samples[best].text.trim().to_string(),
            }
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.size));
    out
}

/// A clarifying question's content: the clusters holding mass ≥ μ and the answers it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Clarification {
    /// The clusters holding mass ≥ μ, heaviest first.
    pub clusters: Vec<ClusterMass>,
    /// What the question names of each ([`distinguishing`] of their representatives).
    pub options: Vec<String>,
}

/// The clarification of clusters `masses` (from [`masses`]) when ≥ 2 of them hold mass ≥ `mu`.
pub fn clarify(masses: &[ClusterMass], mu: f64) -> Option<Clarification> {
    let big: Vec<ClusterMass> = masses.iter().filter(|c| c.mass >= mu).cloned().collect();
    if big.len() < 2 {
        return None;
    }
    let texts: Vec<&str> = big.iter().map(|c| c.representative.as_str()).collect();
    Some(Clarification {
        options: distinguishing(&texts),
        clusters: big,
    })
}

/// Characters trimmed from the ends of an option.
fn trim_option(s: &str) -> &str {
    s.trim()
        .trim_matches(|c: char| matches!(c, '.' | ',' | '!' | '?' | ';' | ':'))
        .trim()
}

/// What tells `texts` apart: each text without the words (split on whitespace) that all of
/// them share at their start and at their end, trimmed of end punctuation. When that leaves
/// an option empty or two options equal, the whole texts (trimmed) instead.
pub fn distinguishing(texts: &[&str]) -> Vec<String> {
    let words: Vec<Vec<&str>> = texts
        .iter()
        .map(|t| t.split_whitespace().collect())
        .collect();
    let shortest = words.iter().map(Vec::len).min().unwrap_or(0);
    let same = |at: &dyn Fn(&Vec<&str>) -> String| words.iter().all(|w| at(w) == at(&words[0]));
    let mut prefix = 0;
    while prefix + 1 < shortest && same(&|w| w[prefix].to_string()) {
        prefix += 1;
    }
    let mut suffix = 0;
    while prefix + suffix + 1 < shortest && same(&|w| w[w.len() - 1 - suffix].to_string()) {
        suffix += 1;
    }
    let options: Vec<String> = words
        .iter()
        .map(|w| trim_option(&w[prefix..w.len() - suffix].join(" ")).to_string())
        .collect();
    let distinct = options
        .iter()
        .enumerate()
        .all(|(i, o)| !o.is_empty() && !options[..i].contains(o));
    if distinct {
        options
    } else {
        texts.iter().map(|t| trim_option(t).to_string()).collect()
    }
}

/// The clarifying question naming `options`: "I can think of more than one answer: “A” or
/// “B”. Which one do you mean?".
pub fn question(options: &[String]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("“{o}”")).collect();
    let list = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    };
    format!("I can think of more than one answer: {list}. Which one do you mean?")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hedge_core::SimilarityMatrix;

    #[test]
    fn options_keep_what_differs() {
        let d = |t: &[&str]| distinguishing(t);
        assert_eq!(
            d(&[
                "Sure! Tora Dor has visited Lorwick.",
                "Sure! Tora Dor has visited Halvik."
            ]),
            ["Lorwick", "Halvik"]
        );
        // Shared words at both ends.
        assert_eq!(
            d(&["It is Paris, I think.", "It is Lyon, I think."]),
            ["Paris", "Lyon"]
        );
        // One text is the start of the other: nothing shared can go.
        assert_eq!(d(&["Paris", "Paris, France"]), ["Paris", "Paris, France"]);
        // Only punctuation differs: the options would be equal, so the whole texts.
        assert_eq!(d(&["It is 4.", "It is 4!"]), ["It is 4", "It is 4"]);
        assert_eq!(d(&["a b", "a c", "d c"]), ["a b", "a c", "d c"]);
        assert!(d(&[]).is_empty());
    }

    #[test]
    fn questions_read_as_english() {
        let q = |o: &[&str]| question(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            q(&["A", "B"]),
            "I can think of more than one answer: “A” or “B”. Which one do you mean?"
        );
        assert_eq!(
            q(&["A", "B", "C"]),
            "I can think of more than one answer: “A”, “B” or “C”. Which one do you mean?"
        );
    }

    /// Hand-made clusters: 10 samples, 4 / 3 / 2 / 1.
    fn ten() -> (Vec<Sample>, Clusters) {
        let names = [
            "Lorwick", "Lorwick", "Halvik", "Lorwick", "Halvik", "Peldor", "Halvik", "Lorwick",
            "Peldor", "Ashgrove",
        ];
        let samples: Vec<Sample> = names
            .iter()
            .enumerate()
            .map(|(i, n)| Sample::new(format!(" Tora has visited {n}. "), vec![-(i as f64)]))
            .collect();
        let clusters = Clusters::connected(10, |i, j| names[i] == names[j]);
        (samples, clusters)
    }

    #[test]
    fn masses_and_representatives() {
        let (samples, clusters) = ten();
        let m = masses(&samples, &clusters);
        let got: Vec<(usize, f64)> = m.iter().map(|c| (c.size, c.mass)).collect();
        assert_eq!(got, [(4, 0.4), (3, 0.3), (2, 0.2), (1, 0.1)]);
        // The most probable member (here the first: log p = −index), trimmed.
        assert_eq!(m[0].representative, "Tora has visited Lorwick.");
        let c = clarify(&m, 0.25).unwrap();
        assert_eq!(c.options, ["Lorwick", "Halvik"]);
        assert_eq!(c.clusters.len(), 2);
        // μ = 0.2 takes in Peldor too; μ = 0.35 leaves one cluster: no question.
        assert_eq!(
            clarify(&m, 0.2).unwrap().options,
            ["Lorwick", "Halvik", "Peldor"]
        );
        assert!(clarify(&m, 0.35).is_none());
        // Exactly μ counts: 0.3 ≥ 0.3.
        assert_eq!(clarify(&m, 0.3).unwrap().options.len(), 2);
    }

    #[test]
    fn representative_is_the_most_probable_member() {
        let samples = [
            Sample::new("b", vec![-3.0]),
            Sample::new("B", vec![-1.0]),
            Sample::text_only("c"),
        ];
        let m = masses(&samples, &Clusters::connected(3, |i, j| (i, j) == (0, 1)));
        assert_eq!(m[0].representative, "B");
        assert_eq!(m[1].representative, "c");
    }

    #[test]
    fn clusters_from_gathered_evidence() {
        let (samples, _) = ten();
        let texts: Vec<&str> = samples.iter().map(|s| s.text.as_str()).collect();
        let w = SimilarityMatrix::from_fn(10, |i, j| if texts[i] == texts[j] { 1.0 } else { 0.8 });
        let mut ev = GatheredEvidence {
            samples: samples.clone(),
            similarity: Some(w),
            ..GatheredEvidence::default()
        };
        assert_eq!(cluster_masses(&ev, 0.9).unwrap().len(), 4);
        // τ below the cross-answer similarity merges everything into one cluster.
        assert_eq!(cluster_masses(&ev, 0.5).unwrap().len(), 1);
        ev.similarity = None;
        assert!(cluster_masses(&ev, 0.9).is_none());
        assert!(cluster_masses(&GatheredEvidence::default(), 0.9).is_none());
    }

    #[test]
    fn config_checks() {
        let ok = ClarifyConfig::default();
        assert!(ok.validate().is_ok());
        for (cfg, field) in [
            (
                ClarifyConfig {
                    mu: 0.0,
                    ..ok.clone()
                },
                "clarify.mu",
            ),
            (
                ClarifyConfig {
                    mu: 1.5,
                    ..ok.clone()
                },
                "clarify.mu",
            ),
            (
                ClarifyConfig {
                    samples: 1,
                    ..ok.clone()
                },
                "clarify.samples",
            ),
            (
                ClarifyConfig {
                    temperature: 0.0,
                    ..ok.clone()
                },
                "clarify.temperature",
            ),
            (
                ClarifyConfig {
                    cluster_threshold: 1.1,
                    ..ok.clone()
                },
                "clarify.cluster_threshold",
            ),
        ] {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
    }
}
