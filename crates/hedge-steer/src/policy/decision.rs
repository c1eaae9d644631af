//! What a policy decides for one answer: the [`Action`], the reply text, and why.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::nan_as_null;
use crate::clarify::ClusterMass;

/// The reply when the policy abstains.
pub const ABSTAIN_TEXT: &str = "I don't know.";

/// What a hedged reply starts with: a first-person hedge ("I'm Not Sure, But…": first-person
/// expressions of uncertainty reduced over-reliance most).
pub const HEDGE_PREFIX: &str = "I'm not sure, but ";

/// What the policy does with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Give the answer as it is (κ ≥ τ_hi).
    Answer,
    /// Give it after "I'm not sure, but" (τ_lo ≤ κ < τ_hi).
    Hedge,
    /// Say "I don't know." (κ < τ_lo).
    Abstain,
    /// Ask which of several answers was meant (≥ 2 semantic clusters each hold mass ≥ μ).
    Clarify,
}

impl Action {
    /// Every action, in the order of tables.
    pub const ALL: [Action; 4] = [
        Action::Answer,
        Action::Hedge,
        Action::Abstain,
        Action::Clarify,
    ];

    /// The name in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Action::Answer => "answer",
            Action::Hedge => "hedge",
            Action::Abstain => "abstain",
            Action::Clarify => "clarify",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A policy's decision about one answer.
///
/// JSON form (`"decision"` in `hedge ask --json` and in `hedge eval`'s items.jsonl):
/// `{"action": "hedge", "text": "I'm not sure, but …", "confidence": 0.61, "reason": "τ_lo
/// 0.500 ≤ κ 0.610 < τ_hi 0.800", "estimator": "msp", "uncertainty": 0.93, "tau_lo": 0.5,
/// "tau_hi": 0.8, "clusters": [{"size": 7, "mass": 0.7, "representative": "…"}, …],
/// "options": ["…", "…"]}`; `clusters` only when samples were drawn, `options` only for
/// clarify, a NaN number as `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub action: Action,
    /// The reply: the answer, the hedged answer, "I don't know.", or the clarifying question.
    pub text: String,
    /// κ, the calibrated confidence of the answer (NaN without a score).
    #[serde(with = "nan_as_null")]
    pub confidence: f64,
    /// Why, with the numbers: `κ 0.412 < τ_lo 0.722`.
    pub reason: String,
    /// The estimator read.
    pub estimator: String,
    /// Its uncertainty u for the answer (NaN when it was not scored).
    #[serde(with = "nan_as_null")]
    pub uncertainty: f64,
    pub tau_lo: f64,
    pub tau_hi: f64,
    /// The semantic clusters of the samples, heaviest first (when samples were drawn).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterMass>,
    /// The answers the clarifying question names, heaviest cluster first (clarify only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// Openers that agree before answering ("Sure! …"); a hedge cannot start by agreeing, so
/// they are dropped after "I'm not sure, but".
const AFFIRMATIONS: [&str; 6] = [
    "sure",
    "certainly",
    "of course",
    "absolutely",
    "definitely",
    "yes",
];

/// Sentence openers that read in lower case after "but" ("the capital is …" but "Paris is
/// …"): pronouns, articles and determiners.
const LOWER_AFTER_BUT: [&str; 17] = [
    "it", "the", "a", "an", "this", "that", "these", "those", "there", "he", "she", "they", "we",
    "you", "my", "his", "her",
];

/// The hedged reply to `answer`: [`HEDGE_PREFIX`] + the answer, without an opening
/// affirmation ("Sure! …") and with its first word in lower case when it is a pronoun or an
/// article. `hedge_text("Sure! The answer is 4.")` is `"I'm not sure, but the answer is 4."`.
pub fn hedge_text(answer: &str) -> String {
    let mut rest = answer.trim();
    for a in AFFIRMATIONS {
        let head = rest.get(..a.len()).map(str::to_lowercase);
        if head.as_deref() == Some(a) {
            let tail = &rest[a.len()..];
            if let Some(t) = tail.strip_prefix(['!', ',', '.']) {
                rest = t.trim_start();
                break;
            }
        }
    }
    let first = rest.split_whitespace().next().unwrap_or("");
    let word: String = first
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase();
    let body = if LOWER_AFTER_BUT.contains(&word.as_str()) {
        let mut chars = rest.chars();
        chars
            .next()
            .map(|c| c.to_lowercase().chain(chars).collect())
            .unwrap_or_default()
    } else {
        rest.to_string()
    };
    format!("{HEDGE_PREFIX}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hedges_read_in_the_first_person() {
        for (answer, want) in [
            (
                "Sure! Velmora Quist lives in Dranholt.",
                "I'm not sure, but Velmora Quist lives in Dranholt.",
            ),
            (
                "The capital is Paris.",
                "I'm not sure, but the capital is Paris.",
            ),
            (" Certainly, it is 4. ", "I'm not sure, but it is 4."),
            ("Paris", "I'm not sure, but Paris"),
            ("Surely not", "I'm not sure, but Surely not"),
            ("I think 4.", "I'm not sure, but I think 4."),
            ("", "I'm not sure, but "),
            ("Sure!", "I'm not sure, but "),
        ] {
            assert_eq!(hedge_text(answer), want, "{answer:?}");
        }
    }

    #[test]
    fn actions_by_name() {
        for a in Action::ALL {
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
        }
    }
}
