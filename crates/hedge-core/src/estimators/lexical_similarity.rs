//! `lexical_similarity`: −mean_{i<j} rouge_l(s_i, s_j) over the sampled answers (LM-Polygraph
//! `LexicalSimilarity` with its default `rougeL`).

use super::{np_sum, Estimator, Evidence, Need};
use crate::similarity::{rouge_l_tokens, rouge_tokens};

/// −mean over pairs i < j of the ROUGE-L F-measure of samples s_i (target) and s_j
/// (prediction), with `rouge_score`'s tokens and stemmer ([`crate::similarity::rouge_l`]).
/// The mean over i ≠ j is the same number, ROUGE-L F being symmetric. Reads only the
/// samples' texts, whatever the similarity backend; NaN with fewer than 2 samples.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LexicalSimilarity;

impl Estimator for LexicalSimilarity {
    fn name(&self) -> String {
        "lexical_similarity".into()
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Samples]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let tokens: Vec<Vec<String>> = ev.samples.iter().map(|s| rouge_tokens(&s.text)).collect();
        let mut sims = Vec::new();
        for (i, a) in tokens.iter().enumerate() {
            for b in &tokens[i + 1..] {
                sims.push(rouge_l_tokens(a, b));
            }
        }
        if sims.is_empty() {
            return f64::NAN;
        }
        -(np_sum(&sims) / sims.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::Sample;

    fn samples(texts: &[&str]) -> Vec<Sample> {
        texts.iter().map(|t| Sample::text_only(*t)).collect()
    }

    #[test]
    fn by_hand() {
        #[rustfmt::skip]
        let table: [(&[&str], f64); 4] = [
            (&["Paris", "paris.", "PARIS!"], -1.0),
            (&["a b", "c d"], 0.0),
            // pairs: (the cat, the dog) 0.5, (the cat, cat) 2/3, (the dog, cat) 0
            (&["the cat", "the dog", "cat"], -(0.5 + 2.0 / 3.0) / 3.0),
            (&["dogs run", "dog running"], -1.0), // stemmed
        ];
        for (texts, want) in table {
            let s = samples(texts);
            let got = LexicalSimilarity.estimate(&Evidence::new(&[]).with_samples(&s));
            assert!((got - want).abs() < 1e-15, "{texts:?}: {got} vs {want}");
        }
        for few in [&[][..], &["one"][..]] {
            let s = samples(few);
            assert!(LexicalSimilarity
                .estimate(&Evidence::new(&[]).with_samples(&s))
                .is_nan());
        }
    }
}
