//! The `rouge_l` backend: ROUGE-L F-measure over words, exactly as `rouge_score`
//! (`RougeScorer(["rougeL"], use_stemmer=True)`) computes it for LM-Polygraph's
//! `LexicalSimilarity`.
//!
//! METHODS §3 says "over lowercased words"; `rouge_score` also drops everything but ASCII
//! letters and digits and Porter-stems words of more than 3 letters, so `Cats!` and `cat`
//! match. hedge follows `rouge_score`, the reference's number. (The answer judge,
//! [`crate::judge::rouge_l`], keeps plain whitespace words.)

use super::porter::porter_stem;
use super::{Similarity, SimilarityMatrix};
use crate::error::Result;
use crate::judge::lcs_len;

/// `rouge_score`'s tokens of `text`: lowercase, every run of characters other than ASCII
/// `a-z0-9` becomes a separator, and words of more than 3 characters are Porter-stemmed
/// ([`porter_stem`]).
///
/// ```
/// use hedge_core::similarity::rouge_tokens;
/// assert_eq!(rouge_tokens("The cats' naps—in Zürich!"), ["the", "cat", "nap", "in", "z", "rich"]);
/// ```
pub fn rouge_tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.len() > 3 {
                porter_stem(t)
            } else {
                t.to_string()
            }
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// ROUGE-L F-measure of two texts over [`rouge_tokens`]: with L the longest common
/// subsequence, P = L/|prediction|, R = L/|target|, F = 2PR/(P + R); 0 when either has no
/// token. Symmetric in its two arguments.
///
/// ```
/// use hedge_core::similarity::rouge_l;
/// // tokens (the, cat, sat) and (the, cat): L = 2, P = 1, R = 2/3, F = 0.8
/// assert!((rouge_l("The cat sat.", "the cats") - 0.8).abs() < 1e-15);
/// ```
pub fn rouge_l(target: &str, prediction: &str) -> f64 {
    rouge_l_tokens(&rouge_tokens(target), &rouge_tokens(prediction))
}

/// [`rouge_l`] on texts already split by [`rouge_tokens`] (`rouge_score`'s `_score_lcs`).
pub fn rouge_l_tokens<T: PartialEq>(target: &[T], prediction: &[T]) -> f64 {
    if target.is_empty() || prediction.is_empty() {
        return 0.0;
    }
    let lcs = lcs_len(target, prediction) as f64;
    let precision = lcs / prediction.len() as f64;
    let recall = lcs / target.len() as f64;
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

/// The `rouge_l` backend: W_ij = [`rouge_l`](s_i, s_j), diagonal 1.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RougeL;

impl Similarity for RougeL {
    fn similarity(&self, texts: &[&str]) -> Result<SimilarityMatrix> {
        let tokens: Vec<_> = texts.iter().map(|t| rouge_tokens(t)).collect();
        Ok(SimilarityMatrix::from_fn(texts.len(), |i, j| {
            rouge_l_tokens(&tokens[i], &tokens[j])
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_like_rouge_score() {
        #[rustfmt::skip]
        let table: [(&str, &[&str]); 6] = [
            ("Hello, World!", &["hello", "world"]),
            ("  running   dogs ", &["run", "dog"]),
            ("e-mail x2 3.14", &["e", "mail", "x2", "3", "14"]),
            ("Café", &["caf"]),
            ("", &[]),
            ("?!", &[]),
        ];
        for (text, want) in table {
            assert_eq!(rouge_tokens(text), want, "{text:?}");
        }
    }

    #[test]
    fn f_measure_by_hand() {
        #[rustfmt::skip]
        let table = [
            ("a b c", "a b c", 1.0),
            ("a b c d e", "a c e x", 2.0 / 3.0), // L = 3, P = 3/4, R = 3/5
            ("Paris.", "paris", 1.0),
            ("dogs", "dog", 1.0),
            ("x", "", 0.0),
            ("a b", "c d", 0.0),
        ];
        for (a, b, want) in table {
            assert!(
                (rouge_l(a, b) - want).abs() < 1e-15,
                "{a:?} {b:?}: {}",
                rouge_l(a, b)
            );
            assert_eq!(rouge_l(a, b), rouge_l(b, a), "{a:?} {b:?}");
        }
        let w = RougeL.similarity(&["the cat", "the dog", "cat"]).unwrap();
        assert_eq!(w.row(0), [1.0, 0.5, 2.0 / 3.0]);
    }
}
