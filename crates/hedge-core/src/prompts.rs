//! The texts of the reflexive prompts of METHODS §4 (and `choice_risk`'s multiple-choice
//! prompt) and the parser of the verbalized confidence: definitions, so they live beside the estimators that read their answers
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

/// A multiple-choice question's options and which one is positive, for `choice_risk`
/// (folktexts: the positive option is the one whose renormalised mass is the risk score).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MultipleChoice {
    /// The options' texts, in the order their letters A, B, … are given.
    pub options: Vec<String>,
    /// The index of the positive option in `options`.
    pub positive: usize,
}

/// The most options a question may have: one letter each, A to Z.
pub const MAX_CHOICES: usize = 26;

/// The spellings of an option letter whose next-token mass `choice_risk` reads: `"A"` and
/// `" A"` (folktexts checks both and keeps the one with more mass over all the letters).
pub const CHOICE_PREFIXES: [&str; 2] = ["", " "];

impl MultipleChoice {
    /// The options and the positive one's index.
    ///
    /// # Errors
    /// Fewer than two options or more than [`MAX_CHOICES`], an empty option, or `positive` out
    /// of range: the message says what is allowed.
    pub fn new(options: Vec<String>, positive: usize) -> std::result::Result<Self, String> {
        if !(2..=MAX_CHOICES).contains(&options.len()) {
            return Err(format!(
                "{} options: a multiple-choice question has 2 to {MAX_CHOICES} (letters A to Z)",
                options.len()
            ));
        }
        if options.iter().any(|o| o.trim().is_empty()) {
            return Err("an option is empty".into());
        }
        if positive >= options.len() {
            return Err(format!(
                "positive {positive}: must index one of the {} options (0 to {})",
                options.len(),
                options.len() - 1
            ));
        }
        Ok(Self { options, positive })
    }

    /// The letters of the options: A, B, ….
    pub fn keys(&self) -> impl Iterator<Item = char> + '_ {
        (b'A'..=b'Z').map(char::from).take(self.options.len())
    }

    /// The candidates whose next-token log-probabilities `choice_risk` reads: every letter with
    /// the first prefix of [`CHOICE_PREFIXES`], then every letter with the second.
    pub fn candidates(&self) -> Vec<String> {
        CHOICE_PREFIXES
            .iter()
            .flat_map(|p| self.keys().map(move |k| format!("{p}{k}")))
            .collect()
    }

    /// The options' log-probabilities from those of [`MultipleChoice::candidates`] (in that
    /// order): the spelling whose letters hold the most probability in total (folktexts'
    /// `best_prefix`; the first on a tie).
    pub fn option_logprobs(&self, candidate_logprobs: &[f64]) -> Vec<f64> {
        let n = self.options.len();
        let mut best: Option<(f64, &[f64])> = None;
        for spelling in candidate_logprobs.chunks(n) {
            let mass: f64 = spelling.iter().map(|lp| lp.exp()).sum();
            if best.is_none_or(|(m, _)| mass > m) {
                best = Some((mass, spelling));
            }
        }
        best.map_or_else(Vec::new, |(_, s)| s.to_vec())
    }
}

/// The multiple-choice prompt of `choice_risk` (folktexts' `MultipleChoiceQA`):
/// ```text
/// Question: {q}
/// A. {option 1}.
/// B. {option 2}.
/// Answer:
/// ```
pub fn choice_prompt(question: &str, choice: &MultipleChoice) -> String {
    let lines: Vec<String> = choice
        .keys()
        .zip(&choice.options)
        .map(|(k, o)| format!("{k}. {o}."))
        .collect();
    format!("Question: {question}\n{}\nAnswer:", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_prompt_is_folktexts() {
        let c =
            MultipleChoice::new(vec!["Below $50,000".into(), "Above $50,000".into()], 1).unwrap();
        assert_eq!(
            choice_prompt("What is this person's income?", &c),
            "Question: What is this person's income?\nA. Below $50,000.\nB. Above $50,000.\nAnswer:"
        );
        assert_eq!(c.candidates(), ["A", "B", " A", " B"]);
    }

    #[test]
    fn option_masses_take_the_spelling_with_more_mass() {
        let c = MultipleChoice::new(vec!["no".into(), "yes".into()], 1).unwrap();
        let ln = f64::ln;
        // "A"/"B" hold 0.1 in all, " A"/" B" 0.8: the second spelling is read.
        let got = c.option_logprobs(&[ln(0.05), ln(0.05), ln(0.2), ln(0.6)]);
        assert_eq!(got, [ln(0.2), ln(0.6)]);
        // A tie keeps the first spelling.
        let got = c.option_logprobs(&[ln(0.3), ln(0.1), ln(0.1), ln(0.3)]);
        assert_eq!(got, [ln(0.3), ln(0.1)]);
    }

    #[test]
    fn bad_choices_say_what_is_allowed() {
        assert!(MultipleChoice::new(vec!["a".into()], 0)
            .unwrap_err()
            .contains("2 to 26"));
        assert!(MultipleChoice::new(vec!["a".into(), "b".into()], 2)
            .unwrap_err()
            .contains("0 to 1"));
        assert!(MultipleChoice::new(vec!["a".into(), " ".into()], 0)
            .unwrap_err()
            .contains("empty"));
    }

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
