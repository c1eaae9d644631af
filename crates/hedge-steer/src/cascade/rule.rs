//! The deferral rules of Language Model Cascades (METHODS §6), each a score of the small
//! model's answer where higher = defer: Chow-Sum, Chow-Average and Chow-Quantile-α are
//! hedge-core's `msp`, `perplexity` and `chow_quantile:α`; the post-hoc rule is a fitted
//! logistic regression ([`PostHoc`]).

use std::fmt;
use std::str::FromStr;

use hedge_core::{EstimatorSpec, Evidence, TokenRecord};
use serde::{Deserialize, Serialize};

use super::error::{CascadeError, Result};
use super::posthoc::PostHoc;

/// A deferral rule by name, as `--defer` takes it: `chow_sum`, `chow_average`,
/// `chow_quantile:α` (α ∈ [0, 1]; `chow_quantile` alone is α = 0) or `posthoc`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum RuleSpec {
    /// Chow-Sum: defer when Σ_t log p_t is low, i.e. score −Σ_t log p_t (`msp`).
    ChowSum,
    /// Chow-Average: score −(1/L) Σ_t log p_t (`perplexity`).
    ChowAverage,
    /// Chow-Quantile-α: score −quantile_α({p_t}), linear interpolation (`chow_quantile:α`).
    ChowQuantile {
        /// Quantile level in [0, 1]; 0 is the least likely token.
        alpha: f64,
    },
    /// Logistic regression on [quantiles of {p_t} at α = 0, 0.1, …, 1; Σ log p; mean log p;
    /// L], fitted on held-out answers of both models.
    PostHoc,
}

impl RuleSpec {
    /// The hedge-core estimator a Chow rule is (`None` for the post-hoc rule).
    pub fn estimator(self) -> Option<EstimatorSpec> {
        match self {
            RuleSpec::ChowSum => Some(EstimatorSpec::Msp),
            RuleSpec::ChowAverage => Some(EstimatorSpec::Perplexity),
            RuleSpec::ChowQuantile { alpha } => Some(EstimatorSpec::ChowQuantile { alpha }),
            RuleSpec::PostHoc => None,
        }
    }
}

impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleSpec::ChowSum => f.write_str("chow_sum"),
            RuleSpec::ChowAverage => f.write_str("chow_average"),
            // + 0.0 writes −0 as 0
            RuleSpec::ChowQuantile { alpha } => write!(f, "chow_quantile:{}", alpha + 0.0),
            RuleSpec::PostHoc => f.write_str("posthoc"),
        }
    }
}

impl FromStr for RuleSpec {
    type Err = CascadeError;

    fn from_str(s: &str) -> Result<RuleSpec> {
        let s = s.trim();
        let (name, param) = match s.split_once(':') {
            Some((n, p)) => (n.trim(), Some(p.trim())),
            None => (s, None),
        };
        let spec = match (name, param) {
            ("chow_sum", None) => RuleSpec::ChowSum,
            ("chow_average", None) => RuleSpec::ChowAverage,
            ("posthoc", None) => RuleSpec::PostHoc,
            ("chow_quantile", None) => RuleSpec::ChowQuantile { alpha: 0.0 },
            ("chow_quantile", Some(p)) => {
                let alpha = p
                    .parse::<f64>()
                    .ok()
                    .filter(|a| (0.0..=1.0).contains(a))
                    .ok_or_else(|| CascadeError::BadParameter {
                        name: "chow_quantile α",
                        value: p.to_string(),
                        allowed: "a number in [0, 1], as in chow_quantile:0.1",
                    })?;
                RuleSpec::ChowQuantile { alpha: alpha + 0.0 }
            }
            _ => return Err(CascadeError::UnknownRule(s.to_string())),
        };
        Ok(spec)
    }
}

impl From<RuleSpec> for String {
    fn from(r: RuleSpec) -> String {
        r.to_string()
    }
}

impl TryFrom<String> for RuleSpec {
    type Error = CascadeError;

    fn try_from(s: String) -> Result<RuleSpec> {
        s.parse()
    }
}

/// A deferral rule ready to score answers: higher = defer.
#[derive(Debug, Clone, PartialEq)]
pub enum DeferralRule {
    /// Chow-Sum, Chow-Average or Chow-Quantile-α: the hedge-core estimator of the spec.
    Chow(RuleSpec),
    /// The post-hoc rule: its fitted model's probability of the deferral label.
    PostHoc(Box<PostHoc>),
}

impl DeferralRule {
    /// The rule named by `spec`; the post-hoc rule takes its fitted model from `posthoc`.
    ///
    /// # Errors
    /// [`CascadeError::NotFitted`] for `posthoc` without a fitted model.
    pub fn new(spec: RuleSpec, posthoc: Option<PostHoc>) -> Result<DeferralRule> {
        match (spec, posthoc) {
            (RuleSpec::PostHoc, Some(p)) => Ok(DeferralRule::PostHoc(Box::new(p))),
            (RuleSpec::PostHoc, None) => Err(CascadeError::NotFitted),
            (chow, _) => Ok(DeferralRule::Chow(chow)),
        }
    }

    /// The rule's name, as `--defer` takes it.
    pub fn spec(&self) -> RuleSpec {
        match self {
            DeferralRule::Chow(s) => *s,
            DeferralRule::PostHoc(_) => RuleSpec::PostHoc,
        }
    }

    /// The deferral score of the small model's answer `tokens`: higher = defer.
    ///
    /// An answer with no token, or whose score is undefined (NaN), scores +∞: it is always
    /// deferred, whatever τ (an empty answer is never right, and a rule that cannot judge an
    /// answer should not keep it). Chow-Sum would otherwise give an empty answer 0, the most
    /// confident score there is.
    pub fn score(&self, tokens: &[TokenRecord]) -> f64 {
        if tokens.is_empty() {
            return f64::INFINITY;
        }
        let s = match self {
            DeferralRule::Chow(spec) => spec
                .estimator()
                .map_or(f64::NAN, |e| e.build().estimate(&Evidence::new(tokens))),
            DeferralRule::PostHoc(p) => p.probability(tokens),
        };
        if s.is_nan() {
            f64::INFINITY
        } else {
            s
        }
    }
}

impl fmt::Display for DeferralRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.spec().fmt(f)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record with only the log-probability of the chosen token set.
    pub(crate) fn rec(p: f64) -> TokenRecord {
        TokenRecord {
            id: 0,
            text: String::new(),
            logprob: p.ln(),
            entropy: 0.0,
            margin: 0.0,
            kurtosis: 0.0,
            top: Vec::new(),
        }
    }

    fn score(rule: &str, ps: &[f64]) -> f64 {
        let tokens: Vec<TokenRecord> = ps.iter().map(|&p| rec(p)).collect();
        DeferralRule::new(rule.parse().unwrap(), None)
            .unwrap()
            .score(&tokens)
    }

    #[test]
    fn rules_by_hand() {
        let ln2 = std::f64::consts::LN_2;
        // p = (1/2, 1/4, 1): Σ log p = −3 ln 2, mean −ln 2; sorted p = (1/4, 1/2, 1).
        let ps = [0.5, 0.25, 1.0];
        #[rustfmt::skip]
        let table = [
            ("chow_sum", 3.0 * ln2),
            ("chow_average", ln2),
            ("chow_quantile", -0.25),        // α = 0: the least likely token
            ("chow_quantile:0", -0.25),
            ("chow_quantile:0.25", -0.375),  // h = 2·0.25 = 0.5: halfway from 1/4 to 1/2
            ("chow_quantile:0.5", -0.5),
            ("chow_quantile:0.75", -0.75),   // halfway from 1/2 to 1
            ("chow_quantile:1", -1.0),
        ];
        for (rule, want) in table {
            let got = score(rule, &ps);
            assert!((got - want).abs() < 1e-12, "{rule}: {got} vs {want}");
        }
        // higher = defer: a surer answer scores lower under every rule
        for rule in [
            "chow_sum",
            "chow_average",
            "chow_quantile:0",
            "chow_quantile:0.5",
        ] {
            assert!(
                score(rule, &[0.9, 0.95]) < score(rule, &[0.3, 0.95]),
                "{rule}"
            );
        }
    }

    #[test]
    fn length_bias_of_chow_sum() {
        // Chow-Sum prefers short answers: ten sure tokens look less sure than one unsure one.
        let long = [0.9; 10];
        let short = [0.5];
        assert!(score("chow_sum", &long) > score("chow_sum", &short));
        assert!(score("chow_average", &long) < score("chow_average", &short));
        assert!(score("chow_quantile:0", &long) < score("chow_quantile:0", &short));
    }

    #[test]
    fn an_empty_or_undefined_answer_always_defers() {
        for rule in ["chow_sum", "chow_average", "chow_quantile:0.3"] {
            assert_eq!(score(rule, &[]), f64::INFINITY, "{rule}");
        }
        assert_eq!(score("chow_average", &[f64::NAN]), f64::INFINITY);
    }

    #[test]
    fn names_round_trip_and_errors_say_what_is_allowed() {
        for name in [
            "chow_sum",
            "chow_average",
            "chow_quantile:0",
            "chow_quantile:0.1",
            "posthoc",
        ] {
            let spec: RuleSpec = name.parse().unwrap();
            assert_eq!(spec.to_string(), name);
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(serde_json::from_str::<RuleSpec>(&json).unwrap(), spec);
        }
        assert_eq!(
            " chow_quantile : 0.5 ".parse::<RuleSpec>().unwrap(),
            RuleSpec::ChowQuantile { alpha: 0.5 }
        );
        let e = "chow_max".parse::<RuleSpec>().unwrap_err().to_string();
        assert!(e.contains("unknown deferral rule `chow_max`") && e.contains("posthoc"));
        for bad in ["chow_quantile:1.5", "chow_quantile:x", "chow_quantile:NaN"] {
            let e = bad.parse::<RuleSpec>().unwrap_err().to_string();
            assert!(e.contains("[0, 1]"), "{bad}: {e}");
        }
        assert!("chow_sum:1".parse::<RuleSpec>().is_err());
        let e = DeferralRule::new(RuleSpec::PostHoc, None).unwrap_err();
        assert!(matches!(e, CascadeError::NotFitted), "{e}");
    }
}
