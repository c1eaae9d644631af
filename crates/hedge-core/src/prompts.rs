//! The texts of the reflexive prompts of METHODS §4 and the parser of the verbalized
//! confidence: definitions, so they live beside the estimators that read their answers
//! ([`crate::estimators::Reflexive`]). The engine renders them (through a chat template
//! when the model has one) and reads the next-token log-probabilities.
//!
//! ```
//! use hedge_core::prompts::{p_true_prompt, parse_verbalized_confidence, P_TRUE_TOKEN};
//!
//! let prompt = p_true_prompt("What is the capital of France?", "Paris");
//! assert!(prompt.ends_with("The possible answer is:"));
//! assert_eq!(P_TRUE_TOKEN, " True");
//! assert_eq!(parse_verbalized_confidence("Confidence: 85%"), Some(85.0));
//! ```

use crate::judge::first_number;

/// The token whose next-token probability `p_true` reads after [`p_true_prompt`].
pub const P_TRUE_TOKEN: &str = " True";

/// The `p_true` prompt of METHODS §4 (Kadavath et al.):
///
/// ```text
/// Question: {q}
/// Possible answer: {a}
/// Is the possible answer:
///  (A) True
///  (B) False
/// The possible answer is:
/// ```
///
/// LM-Polygraph's `PromptCalculator` writes the same lines with different spaces —
/// `"Question: {q}\n Possible answer:{a}\n Is the possible answer:\n (A) True\n (B) False\n The possible answer is:"`
/// — and reads the token of `"True"` as the tokenizer encodes that word alone (without a
/// leading space for byte-level BPE tokenizers). hedge follows METHODS; what differs is the
/// model's probability after each prompt, not the estimator's arithmetic.
pub fn p_true_prompt(question: &str, answer: &str) -> String {
    format!(
        "Question: {question}\nPossible answer: {answer}\nIs the possible answer:\n (A) True\n (B) False\nThe possible answer is:"
    )
}

/// The question R-Tuning appends after the answer.
pub const R_TUNING_SUFFIX: &str =
    "Are you sure you accurately answered the question based on your internal knowledge? I am";

/// The tokens whose probabilities `r_tuning_sure` compares after [`r_tuning_prompt`].
pub const R_TUNING_TOKENS: [&str; 2] = [" sure", " unsure"];

/// The R-Tuning prompt: the question and answer as the model saw them, then
/// [`R_TUNING_SUFFIX`], joined by `". "` as in R-Tuning's `checksure`
/// (`f"{input_text}. Are you sure …? I am"`).
pub fn r_tuning_prompt(question_and_answer: &str) -> String {
    format!("{question_and_answer}. {R_TUNING_SUFFIX}")
}

/// hedge's verbalized-confidence prompt (METHODS §4 asks for "a confidence from 0 to 100"
/// and fixes no wording):
///
/// ```text
/// Question: {q}
/// Proposed answer: {a}
/// How confident are you that the proposed answer is correct? Reply with a number from 0 to 100.
/// Confidence:
/// ```
pub fn verbalized_prompt(question: &str, answer: &str) -> String {
    format!(
        "Question: {question}\nProposed answer: {answer}\nHow confident are you that the proposed answer is correct? Reply with a number from 0 to 100.\nConfidence:"
    )
}

/// The confidence c ∈ [0, 100] in a model's reply to [`verbalized_prompt`]: the first number
/// written ([`first_number`]: `85`, `85%`, `85/100`, `Confidence: 72.5`), `None` when there
/// is none or it lies outside [0, 100]. A reply of `0.9` is read as 0.9 on the 0–100 scale
/// the prompt asks for.
pub fn parse_verbalized_confidence(reply: &str) -> Option<f64> {
    first_number(reply).filter(|c| (0.0..=100.0).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_the_definitions() {
        assert_eq!(
            p_true_prompt("Q?", "A"),
            "Question: Q?\nPossible answer: A\nIs the possible answer:\n (A) True\n (B) False\nThe possible answer is:"
        );
        assert_eq!(
            r_tuning_prompt("Question: Q? Answer: A"),
            "Question: Q? Answer: A. Are you sure you accurately answered the question based on your internal knowledge? I am"
        );
        let v = verbalized_prompt("Q?", "A");
        assert!(
            v.starts_with("Question: Q?\nProposed answer: A\n") && v.ends_with("\nConfidence:")
        );
        assert!(v.contains("from 0 to 100"));
    }

    #[test]
    fn parse_confidence() {
        #[rustfmt::skip]
        let table = [
            ("85", Some(85.0)), (" 85%", Some(85.0)), ("Confidence: 72.5/100", Some(72.5)),
            ("100", Some(100.0)), ("0", Some(0.0)), ("I'd say 0.9", Some(0.9)),
            ("150", None), ("-5", None), ("very sure", None), ("", None),
        ];
        for (reply, want) in table {
            assert_eq!(parse_verbalized_confidence(reply), want, "{reply:?}");
        }
    }
}
