//! The reflexive prompts of METHODS §4 put to the backend: `p_true`, `r_tuning_sure` and
//! `choice_risk` read next-token log-probabilities, `verbalized` generates a short reply and
//! parses it.

use hedge_core::prompts::{
    choice_prompt, p_true_prompt, parse_verbalized_confidence, r_tuning_prompt, verbalized_prompt,
    MultipleChoice, P_TRUE_TOKEN, R_TUNING_TOKENS,
};
use hedge_core::Reflexive;

use super::Plan;
use crate::error::Result;
use crate::generation::{Backend, GenerationRequest, TokenStats};

/// How many tokens the model may write after the verbalized-confidence prompt.
const VERBALIZED_MAX_TOKENS: usize = 8;

/// The text R-Tuning appends its question to: the question and answer as the model saw them —
/// the answer continuing the prompt for a raw prompt, and `Question: … Answer: …` for a chat
/// model, whose reflexive prompt is a new user turn.
pub(super) fn r_tuning_text(chat: bool, question: &str, answer: &str) -> String {
    if chat {
        r_tuning_prompt(&format!("Question: {question}\nAnswer: {}", answer.trim()))
    } else {
        r_tuning_prompt(&format!("{question}{answer}"))
    }
}

/// Puts the prompts `plan` asks for (through the chat template when `chat`) and reads the
/// answers; also says where the log-probabilities came from. `choice`: the multiple-choice
/// question's options, asked as folktexts does (the letters' masses after `Answer:`).
pub(super) fn ask<B: Backend + ?Sized>(
    backend: &B,
    chat: bool,
    question: &str,
    choice: Option<&MultipleChoice>,
    answer: &str,
    plan: &Plan,
) -> Result<(Reflexive, TokenStats)> {
    let mut r = Reflexive::default();
    let mut stats = TokenStats::Full;
    if let Some(c) = choice {
        let candidates = c.candidates();
        let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
        let lp = backend.next_token_logprobs(&choice_prompt(question, c), chat, &refs)?;
        stats = worse(stats, lp.stats);
        r = r.with_choice(c.option_logprobs(&lp.logprobs), c.positive);
    }
    if plan.p_true {
        let lp = backend.next_token_logprobs(
            &p_true_prompt(question, answer.trim()),
            chat,
            &[P_TRUE_TOKEN],
        )?;
        stats = worse(stats, lp.stats);
        r = r.with_p_true(lp.logprobs[0]);
    }
    if plan.sure {
        let lp = backend.next_token_logprobs(
            &r_tuning_text(chat, question, answer),
            chat,
            &R_TUNING_TOKENS,
        )?;
        stats = worse(stats, lp.stats);
        r = r.with_sure(lp.logprobs[0], lp.logprobs[1]);
    }
    if plan.verbalized {
        let mut req = GenerationRequest::new(verbalized_prompt(question, answer.trim()));
        req.chat = chat;
        req.top_logprobs = 0;
        req.sampling.max_tokens = VERBALIZED_MAX_TOKENS;
        let reply = backend.generate(&req)?;
        if let Some(c) = parse_verbalized_confidence(&reply.text) {
            r = r.with_verbalized(c);
        }
    }
    Ok((r, stats))
}

/// The less exact of two sources.
pub(super) fn worse(a: TokenStats, b: TokenStats) -> TokenStats {
    match (a, b) {
        (TokenStats::Absent, _) | (_, TokenStats::Absent) => TokenStats::Absent,
        (TokenStats::TopK, _) | (_, TokenStats::TopK) => TokenStats::TopK,
        _ => TokenStats::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_tuning_text_as_the_model_saw_it() {
        assert_eq!(
            r_tuning_text(false, "The capital of France is", " Paris"),
            "The capital of France is Paris. Are you sure you accurately answered the question based on your internal knowledge? I am"
        );
        assert!(r_tuning_text(true, "Capital of France?", " Paris")
            .starts_with("Question: Capital of France?\nAnswer: Paris. Are you sure"));
    }
}
