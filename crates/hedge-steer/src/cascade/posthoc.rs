//! The post-hoc deferral rule of Language Model Cascades (METHODS §6): a logistic regression
//! on [quantiles of {p_t} at α = 0, 0.1, …, 1; Σ log p; mean log p; L] of the small model's
//! answer, fitted on held-out questions that both models answered.

use std::fmt;
use std::str::FromStr;

use hedge_core::estimators::quantile_sorted;
use hedge_core::logistic::LogisticRegression;
use hedge_core::{EstimatorSpec, Evidence, TokenRecord};
use serde::{Deserialize, Serialize};

use super::error::{CascadeError, Result};

/// The quantile levels α of the features: 0, 0.1, …, 1.
pub const QUANTILE_LEVELS: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// Number of features: 11 quantiles, Σ log p, mean log p, L.
pub const FEATURES: usize = QUANTILE_LEVELS.len() + 3;

/// The names of the features, in order: `quantile:0` … `quantile:1`, `sum_logprob`,
/// `mean_logprob`, `length`.
pub fn feature_names() -> Vec<String> {
    QUANTILE_LEVELS
        .iter()
        .map(|a| format!("quantile:{a}"))
        .chain(["sum_logprob", "mean_logprob", "length"].map(String::from))
        .collect()
}

/// The features of an answer: quantile_α({p_t}) for α in [`QUANTILE_LEVELS`] (linear
/// interpolation, as `chow_quantile`), Σ_t log p_t, (1/L) Σ_t log p_t and L. `None` for an
/// answer with no token, or one with a non-finite feature (a token of probability 0).
pub fn features(tokens: &[TokenRecord]) -> Option<Vec<f64>> {
    if tokens.is_empty() {
        return None;
    }
    let mut p: Vec<f64> = tokens.iter().map(|t| t.logprob.exp()).collect();
    if p.iter().any(|x| x.is_nan()) {
        return None;
    }
    p.sort_unstable_by(f64::total_cmp);
    let ev = Evidence::new(tokens);
    // Σ log p and mean log p are −msp and −perplexity.
    let sum = -EstimatorSpec::Msp.build().estimate(&ev);
    let mean = -EstimatorSpec::Perplexity.build().estimate(&ev);
    let f: Vec<f64> = QUANTILE_LEVELS
        .iter()
        .map(|&a| quantile_sorted(&p, a))
        .chain([sum, mean, tokens.len() as f64])
        .collect();
    f.iter().all(|x| x.is_finite()).then_some(f)
}

/// What the post-hoc rule learns to predict from the small model's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferLabel {
    /// The golden deferral label: the large model is right where the small one is wrong, so
    /// deferring gains an answer. Questions neither model answers (nor both) are not worth
    /// a call to the large model.
    #[default]
    Gain,
    /// The small model is wrong (the label of a plain error detector).
    SmallWrong,
}

impl DeferLabel {
    /// The label of one held-out question.
    pub fn of(self, small_correct: bool, large_correct: bool) -> bool {
        match self {
            DeferLabel::Gain => large_correct && !small_correct,
            DeferLabel::SmallWrong => !small_correct,
        }
    }
}

impl fmt::Display for DeferLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeferLabel::Gain => "gain",
            DeferLabel::SmallWrong => "small_wrong",
        })
    }
}

impl FromStr for DeferLabel {
    type Err = CascadeError;

    fn from_str(s: &str) -> Result<DeferLabel> {
        match s.trim() {
            "gain" => Ok(DeferLabel::Gain),
            "small_wrong" => Ok(DeferLabel::SmallWrong),
            other => Err(CascadeError::BadParameter {
                name: "deferral label",
                value: other.to_string(),
                allowed: "gain (the large model right where the small one is wrong) or \
                          small_wrong",
            }),
        }
    }
}

/// One held-out question: the small model's answer and whether each model was right.
#[derive(Debug, Clone, Copy)]
pub struct Example<'a> {
    /// The small model's answer, step by step.
    pub tokens: &'a [TokenRecord],
    pub small_correct: bool,
    pub large_correct: bool,
}

/// A fitted post-hoc rule: the deferral score of an answer is P(label | its features).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostHoc {
    /// What the model predicts.
    pub label: DeferLabel,
    /// The feature names ([`feature_names`]).
    pub features: Vec<String>,
    pub model: LogisticRegression,
    /// Held-out answers it was fitted on (those with features: at least one token).
    pub rows: usize,
    /// Of those, how many had the label.
    pub positives: usize,
}

impl PostHoc {
    /// Fits the rule on held-out `examples` (answers with no token are left out: every rule
    /// defers them anyway) with an L2 penalty `l2` on the standardised weights
    /// ([`hedge_core::logistic::DEFAULT_L2`] is scikit-learn's default). Deterministic.
    ///
    /// # Errors
    /// [`CascadeError::Fit`] when no example has features, or all have the same label (the
    /// rule could then only defer everything or nothing); [`CascadeError::Core`] on a bad λ.
    pub fn fit(examples: &[Example<'_>], label: DeferLabel, l2: f64) -> Result<PostHoc> {
        let mut x = Vec::with_capacity(examples.len());
        let mut y = Vec::with_capacity(examples.len());
        for ex in examples {
            if let Some(f) = features(ex.tokens) {
                x.push(f);
                y.push(f64::from(u8::from(
                    label.of(ex.small_correct, ex.large_correct),
                )));
            }
        }
        if x.is_empty() {
            return Err(CascadeError::Fit(format!(
                "none of the {} held-out answers has a token",
                examples.len()
            )));
        }
        let positives = y.iter().filter(|&&v| v > 0.5).count();
        if positives == 0 || positives == y.len() {
            return Err(CascadeError::Fit(format!(
                "all {} held-out answers have {} label `{label}`: a rule fitted on them \
                 defers everything or nothing; fit on more varied questions",
                y.len(),
                if positives == 0 { "no" } else { "the" },
            )));
        }
        let model = LogisticRegression::fit(&x, &y, l2)?;
        Ok(PostHoc {
            label,
            features: feature_names(),
            model,
            rows: x.len(),
            positives,
        })
    }

    /// P(label | features of `tokens`); NaN for an answer without features (no token).
    pub fn probability(&self, tokens: &[TokenRecord]) -> f64 {
        features(tokens).map_or(f64::NAN, |f| self.model.predict(&f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cascade::rule::tests::rec;
    use crate::cascade::DeferralRule;

    fn answer(ps: &[f64]) -> Vec<TokenRecord> {
        ps.iter().map(|&p| rec(p)).collect()
    }

    #[test]
    fn features_by_hand() {
        let ln2 = std::f64::consts::LN_2;
        // p = (1, 1/2, 1/4, 1/2, 1): sorted (1/4, 1/2, 1/2, 1, 1), h = 4α.
        let f = features(&answer(&[1.0, 0.5, 0.25, 0.5, 1.0])).unwrap();
        assert_eq!(f.len(), FEATURES);
        #[rustfmt::skip]
        let want = [
            0.25, 0.35, 0.45, 0.5, 0.5, 0.5, 0.7, 0.9, 1.0, 1.0, 1.0, // α = 0, 0.1, …, 1
            -4.0 * ln2, -0.8 * ln2, 5.0,
        ];
        for (i, (g, w)) in f.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-12, "{}: {g} vs {w}", feature_names()[i]);
        }
        assert!(features(&[]).is_none());
        assert!(features(&answer(&[0.0, 0.5])).is_none(), "Σ log p = −inf");
        assert_eq!(feature_names()[1], "quantile:0.1");
        assert_eq!(feature_names()[13], "length");
    }

    #[test]
    fn labels() {
        use DeferLabel::*;
        #[rustfmt::skip]
        let table = [
            // small, large, gain, small_wrong
            (true, true, false, false),
            (true, false, false, false),
            (false, true, true, true),
            (false, false, false, true),
        ];
        for (s, l, gain, wrong) in table {
            assert_eq!(Gain.of(s, l), gain);
            assert_eq!(SmallWrong.of(s, l), wrong);
        }
        assert_eq!("small_wrong".parse::<DeferLabel>().unwrap(), SmallWrong);
        let e = "both".parse::<DeferLabel>().unwrap_err().to_string();
        assert!(e.contains("gain") && e.contains("small_wrong"), "{e}");
    }

    /// Held-out data where the small model is wrong exactly on answers with an unsure token,
    /// and the large one is always right: the rule learns to defer the unsure answers.
    #[test]
    fn fit_learns_to_defer_unsure_answers() {
        let mut answers = Vec::new();
        for i in 0..40 {
            let low = 0.05 + 0.02 * (i % 10) as f64; // 0.05 … 0.23: an unsure token
            let high = 0.75 + 0.02 * (i % 10) as f64; // 0.75 … 0.93: all tokens sure
            let len = 3 + i % 4;
            let mut unsure = vec![0.95; len];
            unsure[i % len] = low;
            answers.push((answer(&unsure), false));
            answers.push((answer(&vec![high; len]), true));
        }
        let examples: Vec<Example> = answers
            .iter()
            .map(|(t, ok)| Example {
                tokens: t,
                small_correct: *ok,
                large_correct: true,
            })
            .collect();
        let p = PostHoc::fit(&examples, DeferLabel::Gain, 1.0).unwrap();
        assert_eq!((p.rows, p.positives), (80, 40));
        let rule = DeferralRule::new(crate::cascade::RuleSpec::PostHoc, Some(p.clone())).unwrap();
        let sure = rule.score(&answer(&[0.9, 0.92, 0.88]));
        let unsure = rule.score(&answer(&[0.9, 0.1, 0.88]));
        assert!(sure < 0.5 && unsure > 0.5, "{sure} {unsure}");
        assert_eq!(rule.score(&[]), f64::INFINITY);
        // deterministic
        assert_eq!(PostHoc::fit(&examples, DeferLabel::Gain, 1.0).unwrap(), p);
        // one label only: refused with the reason
        let same: Vec<Example> = examples
            .iter()
            .map(|e| Example {
                small_correct: true,
                ..*e
            })
            .collect();
        let e = PostHoc::fit(&same, DeferLabel::Gain, 1.0).unwrap_err();
        assert!(e.to_string().contains("no label `gain`"), "{e}");
        let e = PostHoc::fit(&[], DeferLabel::Gain, 1.0).unwrap_err();
        assert!(e.to_string().contains("none of the 0"), "{e}");
    }
}
