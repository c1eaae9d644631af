//! The `jaccard` backend: |A ∩ B| / |A ∪ B| over the sets of lowercased whitespace-split
//! words (METHODS §3; LM-Polygraph `_compute_Jaccard_score`).

use std::collections::HashSet;

use super::{Similarity, SimilarityMatrix};
use crate::error::Result;

/// The Jaccard similarity of the word sets of `a` and `b`, as LM-Polygraph computes it:
/// `set(a.lower().split())`; 0 when both have no word. Symmetric; 1 for equal word sets.
///
/// ```
/// use hedge_core::similarity::jaccard;
/// assert_eq!(jaccard("The cat sat", "the CAT ran"), 0.5); // {the, cat} of {the, cat, sat, ran}
/// ```
pub fn jaccard(a: &str, b: &str) -> f64 {
    jaccard_sets(&words(a), &words(b))
}

/// The lowercased words of `text`, split where Python's `str.split()` splits (Unicode
/// whitespace and the separators U+001C–U+001F).
fn words(text: &str) -> HashSet<String> {
    text.to_lowercase()
        .split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn jaccard_sets(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    let inter = a.intersection(b).count();
    let union = a.len() + b.len() - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

/// The `jaccard` backend: W_ij = [`jaccard`](s_i, s_j), diagonal 1.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Jaccard;

impl Similarity for Jaccard {
    fn similarity(&self, texts: &[&str]) -> Result<SimilarityMatrix> {
        let sets: Vec<_> = texts.iter().map(|t| words(t)).collect();
        Ok(SimilarityMatrix::from_fn(texts.len(), |i, j| {
            jaccard_sets(&sets[i], &sets[j])
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        #[rustfmt::skip]
        let table = [
            ("a b c", "a b c", 1.0),
            ("A b", "b a a", 1.0),          // sets, case-folded
            ("a b", "c d", 0.0),
            ("a b c d", "c d e", 0.4),      // {c, d} of {a, b, c, d, e}
            ("Paris.", "paris", 0.0),       // punctuation stays on the word
            ("", "", 0.0),
            ("", "x", 0.0),
            ("a\u{1f}b\tc", "a b c", 1.0),  // Python splits on U+001F too
        ];
        for (a, b, want) in table {
            assert_eq!(jaccard(a, b), want, "{a:?} {b:?}");
            assert_eq!(jaccard(b, a), want, "{b:?} {a:?}");
        }
        let w = Jaccard.similarity(&["a b", "b c", ""]).unwrap();
        assert_eq!(w.row(0), [1.0, 1.0 / 3.0, 0.0]);
        assert_eq!(w.row(2), [0.0, 0.0, 1.0]);
    }
}
