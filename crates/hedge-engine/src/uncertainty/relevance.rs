//! SAR token relevances (Duan et al.; METHODS §3): R_i = 1 − sim(x + s, x + s without token i),
//! every token of every answer in one batch of the similarity backend.

use super::SimilarityBackend;
use crate::error::Result;

/// x + s: the question and an answer as one text, with a space between them unless one is
/// already there (an answer that continues the prompt keeps its own leading space).
pub fn join_prompt(question: &str, answer: &str) -> String {
    if question.is_empty() {
        return answer.to_string();
    }
    let spaced = question.ends_with(char::is_whitespace) || answer.starts_with(char::is_whitespace);
    if spaced {
        format!("{question}{answer}")
    } else {
        format!("{question} {answer}")
    }
}

/// The SAR relevance of each token of each answer, given as the texts its tokens add
/// (`TokenRecord::text`): R_i = 1 − sim(x + s, x + s with piece i left out), with `sim` the
/// backend's pair similarity ([`SimilarityBackend::pairs`]). An answer without tokens gets no
/// relevances.
///
/// # Errors
/// When the similarity model fails.
pub fn token_relevances(
    backend: &SimilarityBackend,
    question: &str,
    answers: &[Vec<&str>],
) -> Result<Vec<Vec<f64>>> {
    let mut pairs = Vec::new();
    for pieces in answers {
        let full = join_prompt(question, &pieces.concat());
        for i in 0..pieces.len() {
            let without: String = pieces
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != i)
                .map(|(_, p)| *p)
                .collect();
            pairs.push((full.clone(), join_prompt(question, &without)));
        }
    }
    let sims = backend.pairs(&pairs)?;
    let mut sims = sims.into_iter();
    Ok(answers
        .iter()
        .map(|pieces| sims.by_ref().take(pieces.len()).map(|s| 1.0 - s).collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevances_by_hand_with_jaccard() {
        // x + s = "Q: where? Paris France" (4 words). Leaving out " Paris" leaves 3 of them:
        // J = 3/4, R = 1/4. Leaving out " France" likewise.
        let r = token_relevances(
            &SimilarityBackend::Jaccard,
            "Q: where?",
            &[vec![" Paris", " France"], vec![]],
        )
        .unwrap();
        assert_eq!(r, vec![vec![0.25, 0.25], vec![]]);
        assert_eq!(join_prompt("Q?", "A"), "Q? A");
        assert_eq!(join_prompt("Q?", " A"), "Q? A");
        assert_eq!(join_prompt("", "A"), "A");
    }
}
