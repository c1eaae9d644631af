//! [`SimilarityBackend`]: the four similarity backends of METHODS §3 behind hedge-core's
//! [`Similarity`] trait — the lexical ones from hedge-core, `embedding` with a
//! [`SentenceEncoder`] and `nli` with an [`NliModel`] — and the pair similarities SAR's token
//! relevances read.

use hedge_core::similarity::{jaccard, rouge_l};
use hedge_core::{CoreError, NliProbs, Similarity, SimilarityKind, SimilarityMatrix};

use crate::encoder::{embedding_similarity, resolve_folder, SentenceEncoder};
use crate::error::Result;
use crate::nli::{nli_probabilities, NliModel};

/// The model the `embedding` backend loads when none is named.
pub const DEFAULT_EMBEDDING_MODEL: &str = "hf:sentence-transformers/all-MiniLM-L6-v2";
/// The model the `nli` backend loads when none is named (a RoBERTa NLI cross-encoder).
pub const DEFAULT_NLI_MODEL: &str = "hf:cross-encoder/nli-distilroberta-base";

/// A similarity backend, ready to run.
#[derive(Debug, Clone)]
pub enum SimilarityBackend {
    /// |A∩B| / |A∪B| over lowercased whitespace words.
    Jaccard,
    /// ROUGE-L F-measure over lowercased words.
    RougeL,
    /// max(0, cos) of mean-pooled, L2-normalised sentence embeddings.
    Embedding(Box<SentenceEncoder>),
    /// p_entail of an NLI cross-encoder at T = 3, symmetrised.
    Nli(Box<NliModel>),
}

impl SimilarityBackend {
    /// The backend `kind`, loading its model from `model` (a folder or `hf:ORG/NAME`) when it
    /// has one; `None` takes [`DEFAULT_EMBEDDING_MODEL`] or [`DEFAULT_NLI_MODEL`]. The lexical
    /// backends ignore `model`.
    ///
    /// # Errors
    /// When the model cannot be downloaded ([`crate::EngineError::EncoderDownload`] says how to pass
    /// a folder instead) or the folder is not a model of the expected kind (the error says what
    /// was expected).
    pub fn load(kind: SimilarityKind, model: Option<&str>) -> Result<SimilarityBackend> {
        Ok(match kind {
            SimilarityKind::Jaccard => SimilarityBackend::Jaccard,
            SimilarityKind::RougeL => SimilarityBackend::RougeL,
            SimilarityKind::Embedding => {
                let dir = resolve_folder(model.unwrap_or(DEFAULT_EMBEDDING_MODEL))?;
                SimilarityBackend::Embedding(Box::new(SentenceEncoder::load(dir)?))
            }
            SimilarityKind::Nli => {
                let dir = resolve_folder(model.unwrap_or(DEFAULT_NLI_MODEL))?;
                SimilarityBackend::Nli(Box::new(NliModel::load(dir)?))
            }
        })
    }

    /// Which backend this is.
    pub fn kind(&self) -> SimilarityKind {
        match self {
            SimilarityBackend::Jaccard => SimilarityKind::Jaccard,
            SimilarityBackend::RougeL => SimilarityKind::RougeL,
            SimilarityBackend::Embedding(_) => SimilarityKind::Embedding,
            SimilarityBackend::Nli(_) => SimilarityKind::Nli,
        }
    }

    /// W of `texts` and, for the `nli` backend, the NLI probabilities it came from
    /// (W = [`NliProbs::agreement_w`]).
    ///
    /// # Errors
    /// When the model fails.
    pub fn matrix(&self, texts: &[&str]) -> Result<(SimilarityMatrix, Option<NliProbs>)> {
        let m = texts.len();
        Ok(match self {
            SimilarityBackend::Jaccard => (
                SimilarityMatrix::from_fn(m, |i, j| jaccard(texts[i], texts[j])),
                None,
            ),
            SimilarityBackend::RougeL => (
                SimilarityMatrix::from_fn(m, |i, j| rouge_l(texts[i], texts[j])),
                None,
            ),
            SimilarityBackend::Embedding(enc) => {
                let w = embedding_similarity(enc, texts)?;
                (SimilarityMatrix::from_rows(&w)?, None)
            }
            SimilarityBackend::Nli(model) => {
                let nli = nli_matrix(model, texts)?;
                (nli.agreement_w(), Some(nli))
            }
        })
    }

    /// The similarity of each pair (a, b), in one batch: symmetric for every backend (`nli`
    /// averages p_entail of both directions).
    ///
    /// # Errors
    /// When the model fails.
    pub fn pairs(&self, pairs: &[(String, String)]) -> Result<Vec<f64>> {
        Ok(match self {
            SimilarityBackend::Jaccard => pairs.iter().map(|(a, b)| jaccard(a, b)).collect(),
            SimilarityBackend::RougeL => pairs.iter().map(|(a, b)| rouge_l(a, b)).collect(),
            SimilarityBackend::Embedding(enc) => {
                let mut texts: Vec<&str> = Vec::with_capacity(2 * pairs.len());
                for (a, b) in pairs {
                    texts.push(a);
                    texts.push(b);
                }
                // Each distinct text once.
                let mut unique: Vec<&str> = texts.clone();
                unique.sort_unstable();
                unique.dedup();
                let e = enc.encode(&unique)?;
                let at = |t: &str| unique.binary_search(&t).map(|i| &e[i]).ok();
                pairs
                    .iter()
                    .map(|(a, b)| match (at(a), at(b)) {
                        (Some(x), Some(y)) => dot(x, y).clamp(0.0, 1.0),
                        _ => f64::NAN,
                    })
                    .collect()
            }
            SimilarityBackend::Nli(model) => {
                let both: Vec<(&str, &str)> = pairs
                    .iter()
                    .flat_map(|(a, b)| [(a.as_str(), b.as_str()), (b.as_str(), a.as_str())])
                    .collect();
                let p = nli_probabilities(model, &both)?;
                p.chunks_exact(2)
                    .map(|ab| (ab[0][0] + ab[1][0]) / 2.0)
                    .collect()
            }
        })
    }
}

/// The NLI probabilities of every ordered pair of `texts`, in one batch.
fn nli_matrix(model: &NliModel, texts: &[&str]) -> Result<NliProbs> {
    let m = texts.len();
    let pairs: Vec<(&str, &str)> = (0..m)
        .flat_map(|i| (0..m).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| (texts[i], texts[j]))
        .collect();
    let p = nli_probabilities(model, &pairs)?;
    let mut k = 0;
    Ok(NliProbs::from_fn(m, |_, _| {
        // from_fn visits the off-diagonal pairs in the order they were listed.
        let [e, _, c] = p[k];
        k += 1;
        (e, c)
    }))
}

/// a·b in f64 (the embeddings are L2-normalised, so this is cos).
fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

impl Similarity for SimilarityBackend {
    fn similarity(&self, texts: &[&str]) -> hedge_core::Result<SimilarityMatrix> {
        self.matrix(texts)
            .map(|(w, _)| w)
            .map_err(|e| CoreError::Similarity {
                backend: self.kind().to_string(),
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_backends_agree_with_hedge_core() {
        let texts = ["the cat sat", "the cat", "a dog"];
        for kind in [SimilarityKind::Jaccard, SimilarityKind::RougeL] {
            let b = SimilarityBackend::load(kind, None).unwrap();
            assert_eq!(b.kind(), kind);
            let want = kind.lexical().unwrap().similarity(&texts).unwrap();
            assert_eq!(b.similarity(&texts).unwrap(), want);
            let pairs = vec![("the cat sat".to_string(), "the cat".to_string())];
            assert_eq!(b.pairs(&pairs).unwrap(), [want.get(0, 1)]);
        }
    }
}
