//! Answer / hedge / abstain bands on calibrated confidence, with thresholds fitted to a stated
//! risk, and the clarify action of [`clarify`](crate::clarify) (METHODS §6).
//!
//! A [`Policy`] reads one estimator's uncertainty u of an answer, maps it to a confidence
//! κ = map(u) with a calibration map of hedge-core (Platt, isotonic or temperature), and acts:
//!
//! | κ | action | reply |
//! |---|---|---|
//! | κ ≥ τ_hi | [`Action::Answer`] | the answer |
//! | τ_lo ≤ κ < τ_hi | [`Action::Hedge`] | "I'm not sure, but " + the answer (first person) |
//! | κ < τ_lo | [`Action::Abstain`] | "I don't know." |
//!
//! and, when the policy clarifies and the answer's samples fall into ≥ 2 semantic clusters
//! that each hold a share ≥ μ of the samples, [`Action::Clarify`]: a question naming the
//! clusters' representative answers. By default ([`ClarifyOrder::AbstainFirst`]) clarify is
//! only considered when κ ≥ τ_lo: an unknown question abstains even when its samples split.
//!
//! **Fitting** ([`Policy::fit`]) on calibration items (u, c): the map is fitted on (u, c);
//! then, with the items sorted by κ, τ_lo is the lowest threshold such that the items with
//! κ ≥ τ_lo (the *answered* ones, plain or hedged) have an error rate ≤ `max_risk`, and
//! τ_hi the lowest such that the items with κ ≥ τ_hi (the plainly answered ones) have an
//! error rate ≤ `max_risk_unhedged` (default `max_risk` / 2). A threshold lies halfway
//! between the lowest κ it keeps and the next lower κ (0 when it keeps every item). The
//! error rate is computed on the whole prefix, so each threshold answers as many calibration
//! items as its risk allows; a stricter risk keeps a prefix of the other's, so τ_lo ≤ τ_hi.
//!
//! ```
//! use hedge_core::CalibrationKind;
//! use hedge_steer::policy::{Action, FitOptions, Policy};
//!
//! # fn main() -> Result<(), hedge_steer::policy::PolicyError> {
//! // Uncertainties and correctness of ten calibration answers: the sure ones are right.
//! let u = [0.1, 0.2, 0.3, 0.4, 0.5, 1.5, 1.6, 1.7, 1.8, 1.9];
//! let c = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
//! let options = FitOptions::new("msp", CalibrationKind::Platt, 0.2);
//! let policy = Policy::fit(&u, &c, &options)?;
//! assert_eq!(policy.decide_with("Paris.", 0.1, None).action, Action::Answer);
//! let unsure = policy.decide_with("Lyon.", 1.9, None);
//! assert_eq!((unsure.action, unsure.text.as_str()), (Action::Abstain, "I don't know."));
//! # Ok(())
//! # }
//! ```

mod decision;
mod error;
mod file;
mod fit;
mod report;

pub use decision::{hedge_text, Action, Decision, ABSTAIN_TEXT, HEDGE_PREFIX};
pub use error::{PolicyError, Result};
pub use file::{FORMAT, VERSION};
pub use fit::{threshold_for_risk, FitOptions, FitReport, RiskThreshold};
pub use report::{ActionShares, ClarifyQuality, Outcome, PolicyReport};

use hedge_core::{Calibration, EstimatorSpec, Scores};
use hedge_engine::GatheredEvidence;
use serde::{Deserialize, Serialize};

use crate::clarify::{self, ClarifyConfig, ClarifyOrder, ClusterMass};

/// A fitted policy: the estimator it reads, its calibration map, the two thresholds, the
/// clarify settings, and the numbers of its fit. Saved and read as a versioned JSON file
/// ([`Policy::save`], [`Policy::load`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// The estimator whose uncertainty is read, as named on the command line (`msp`,
    /// `chow_quantile:0.1`); the key of [`Scores`].
    pub estimator: String,
    /// The map from that uncertainty to a confidence κ ∈ [0, 1].
    pub calibration: Calibration,
    /// Abstain below this κ.
    pub tau_lo: f64,
    /// Hedge below this κ (and at or above τ_lo); answer at or above it.
    pub tau_hi: f64,
    /// When and how to ask a clarifying question; `None`: never.
    #[serde(default)]
    pub clarify: Option<ClarifyConfig>,
    /// What the fit saw on its calibration items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<FitReport>,
}

impl Policy {
    /// Checks what a file or a caller may have got wrong: an empty estimator name, a group
    /// (`all`, `sampling`, `reflexive`) or a hedge estimator not written as hedge writes it
    /// (`num_sets:0.50` for `num_sets`), thresholds outside [0, 1] or τ_lo > τ_hi, bad clarify
    /// settings. Another name (a score of another system, in a scored file) is allowed; only
    /// `hedge policy apply` can use such a policy.
    ///
    /// # Errors
    /// [`PolicyError::Invalid`] naming the field and what is allowed.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(PolicyError::Invalid { field, reason });
        let name = self.estimator.as_str();
        if name.trim().is_empty() || name.contains(',') {
            return bad(
                "estimator",
                format!("{name:?}: name one estimator, such as \"msp\""),
            );
        }
        if matches!(name, "all" | "sampling" | "reflexive") {
            return bad(
                "estimator",
                format!("{name:?} is a group of estimators; name one, such as \"msp\""),
            );
        }
        if let Ok(spec) = name.parse::<EstimatorSpec>() {
            if spec.to_string() != name {
                return bad(
                    "estimator",
                    format!("write {name:?} as {:?}", spec.to_string()),
                );
            }
        }
        for (field, tau) in [("tau_lo", self.tau_lo), ("tau_hi", self.tau_hi)] {
            if !(0.0..=1.0).contains(&tau) {
                return bad(field, format!("{tau} is not a confidence in [0, 1]"));
            }
        }
        if self.tau_lo > self.tau_hi {
            return bad(
                "tau_hi",
                format!("{} is below tau_lo {}", self.tau_hi, self.tau_lo),
            );
        }
        if let Some(c) = &self.clarify {
            c.validate()?;
        }
        Ok(())
    }

    /// The confidence κ of uncertainty `u` (NaN for a NaN `u`).
    pub fn confidence(&self, u: f64) -> f64 {
        self.calibration.apply(u)
    }

    /// The band of κ alone: answer, hedge or abstain (abstain for a NaN κ).
    pub fn band(&self, kappa: f64) -> Action {
        if kappa >= self.tau_hi {
            Action::Answer
        } else if kappa >= self.tau_lo {
            Action::Hedge
        } else {
            Action::Abstain
        }
    }

    /// Whether deciding needs sampled answers and their similarity matrix (the policy
    /// clarifies).
    pub fn needs_samples(&self) -> bool {
        self.clarify.is_some()
    }

    /// Decides what to do with `answer`, reading the policy's estimator in `scores` and the
    /// samples (with their similarity matrix or NLI probabilities) in `evidence`. Without the
    /// score (a server without log-probabilities, an empty answer) the policy abstains and
    /// says why; without samples it does not clarify.
    pub fn decide(&self, answer: &str, scores: &Scores, evidence: &GatheredEvidence) -> Decision {
        let u = scores.get(&self.estimator).unwrap_or(f64::NAN);
        let clusters = self
            .clarify
            .as_ref()
            .and_then(|c| clarify::cluster_masses(evidence, c.cluster_threshold));
        self.decide_with(answer, u, clusters.as_deref())
    }

    /// [`Policy::decide`] from the uncertainty `u` and the answer clusters' masses (from
    /// [`clarify::cluster_masses`]), when the samples were drawn.
    pub fn decide_with(&self, answer: &str, u: f64, clusters: Option<&[ClusterMass]>) -> Decision {
        let kappa = self.confidence(u);
        let band = self.band(kappa);
        let clarification = match (&self.clarify, clusters) {
            (Some(cfg), Some(masses)) => clarify::clarify(masses, cfg.mu),
            _ => None,
        };
        let order = self.clarify.as_ref().map(|c| c.order);
        let clarifies = clarification.is_some()
            && (band != Action::Abstain || order == Some(ClarifyOrder::ClarifyFirst));
        let mut d = Decision {
            action: band,
            text: String::new(),
            confidence: kappa,
            reason: String::new(),
            estimator: self.estimator.clone(),
            uncertainty: u,
            tau_lo: self.tau_lo,
            tau_hi: self.tau_hi,
            clusters: clusters.map(<[ClusterMass]>::to_vec).unwrap_or_default(),
            options: Vec::new(),
        };
        match clarification {
            Some(c) if clarifies => {
                d.action = Action::Clarify;
                d.text = clarify::question(&c.options);
                let shares: Vec<String> = c
                    .clusters
                    .iter()
                    .map(|m| format!("{:.0} %", 100.0 * m.mass))
                    .collect();
                let mu = self.clarify.as_ref().map_or(0.0, |c| c.mu);
                let samples: usize = d.clusters.iter().map(|m| m.size).sum();
                d.reason = format!(
                    "{} answer clusters each hold ≥ {:.0} % of the {samples} samples ({})",
                    c.clusters.len(),
                    100.0 * mu,
                    shares.join(", ")
                );
                if kappa.is_finite() {
                    d.reason.push_str(&format!("; κ {kappa:.3}"));
                }
                d.options = c.options;
            }
            _ => {
                d.text = match band {
                    Action::Answer => answer.trim().to_string(),
                    Action::Hedge => hedge_text(answer),
                    _ => ABSTAIN_TEXT.to_string(),
                };
                d.reason = self.band_reason(u, kappa, band);
            }
        }
        d
    }

    /// Why κ falls in its band, with the numbers.
    fn band_reason(&self, u: f64, kappa: f64, band: Action) -> String {
        if kappa.is_nan() {
            return format!(
                "no {} score for this answer (uncertainty {u}), so no confidence: abstaining",
                self.estimator
            );
        }
        let (lo, hi) = (self.tau_lo, self.tau_hi);
        match band {
            Action::Answer => format!("κ {kappa:.3} ≥ τ_hi {hi:.3}"),
            Action::Hedge => format!("τ_lo {lo:.3} ≤ κ {kappa:.3} < τ_hi {hi:.3}"),
            _ => format!("κ {kappa:.3} < τ_lo {lo:.3}"),
        }
    }
}

/// Serde for an `f64` that may be NaN: `null` when not finite, and `null` read back as NaN.
pub(crate) mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        x.is_finite().then_some(*x).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hedge_core::Platt;

    /// κ = σ(−u): u = 0 ↦ 0.5; thresholds 0.3 and 0.7.
    fn policy() -> Policy {
        Policy {
            estimator: "msp".into(),
            calibration: Calibration::Platt(Platt { a: -1.0, b: 0.0 }),
            tau_lo: 0.3,
            tau_hi: 0.7,
            clarify: None,
            fit: None,
        }
    }

    #[test]
    fn bands_at_their_edges() {
        let p = policy();
        // κ exactly at a threshold belongs to the band above it.
        for (kappa, want) in [
            (1.0, Action::Answer),
            (0.7, Action::Answer),
            (0.699_999, Action::Hedge),
            (0.3, Action::Hedge),
            (0.299_999, Action::Abstain),
            (0.0, Action::Abstain),
            (f64::NAN, Action::Abstain),
        ] {
            assert_eq!(p.band(kappa), want, "κ = {kappa}");
        }
    }

    #[test]
    fn replies_and_reasons() {
        let p = policy();
        let sure = p.decide_with(" Paris. ", -2.0, None);
        assert_eq!(sure.action, Action::Answer);
        assert_eq!(sure.text, "Paris.");
        assert!(
            sure.reason.starts_with("κ 0.881 ≥ τ_hi 0.700"),
            "{}",
            sure.reason
        );
        let half = p.decide_with("Sure! It is Paris.", 0.0, None);
        assert_eq!(half.action, Action::Hedge);
        assert_eq!(half.text, "I'm not sure, but it is Paris.");
        assert_eq!(half.reason, "τ_lo 0.300 ≤ κ 0.500 < τ_hi 0.700");
        let unsure = p.decide_with("Lyon.", 2.0, None);
        assert_eq!(unsure.action, Action::Abstain);
        assert_eq!(unsure.text, "I don't know.");
        assert_eq!(unsure.reason, "κ 0.119 < τ_lo 0.300");
        let none = p.decide(
            "Lyon.",
            &Scores::from_iter([("perplexity", 0.1)]),
            &GatheredEvidence::default(),
        );
        assert_eq!(none.action, Action::Abstain);
        assert!(none.reason.contains("no msp score"), "{}", none.reason);
        let json = serde_json::to_value(&none).unwrap();
        assert!(json["confidence"].is_null() && json["uncertainty"].is_null());
    }

    #[test]
    fn validation_names_the_field() {
        let mut p = policy();
        assert!(p.validate().is_ok());
        p.tau_lo = 0.8;
        assert!(p.validate().unwrap_err().to_string().contains("tau_hi"));
        p.tau_lo = -0.1;
        assert!(p.validate().unwrap_err().to_string().contains("tau_lo"));
        p.tau_lo = 0.3;
        p.estimator = "all".into();
        assert!(p.validate().unwrap_err().to_string().contains("group"));
        p.estimator = "".into();
        assert!(p.validate().unwrap_err().to_string().contains("estimator"));
        // Another system's score is allowed.
        p.estimator = "my_score".into();
        assert!(p.validate().is_ok());
        p.estimator = "num_sets:0.50".into();
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains("write \"num_sets:0.50\" as \"num_sets\""), "{e}");
    }
}
