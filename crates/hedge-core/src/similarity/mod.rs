//! How much m sampled answers agree: the similarity matrix W of METHODS §3, the backends that
//! build it, and the equivalence classes (semantic sets) of the answers.
//!
//! - [`SimilarityMatrix`]: W, m×m, diagonal 1.
//! - [`Similarity`]: a backend, one required method. hedge-core has the two lexical ones,
//!   [`Jaccard`] and [`RougeL`]; hedge-engine implements `embedding` and `nli` with its
//!   models. [`SimilarityKind`] names all four (`--similarity`).
//! - [`NliProbs`]: p_entail / p_contra of every ordered pair, from which the `nli` backend
//!   builds W ([`NliProbs::agreement_w`]) and decides equivalence.
//! - [`Clusters`]: the connected components of the equivalence graph (`num_sets`,
//!   `semantic_entropy`).
//!
//! ```
//! use hedge_core::similarity::{Clusters, Jaccard, Similarity};
//!
//! # fn main() -> hedge_core::Result<()> {
//! let w = Jaccard.similarity(&["Paris", "paris", "It is Lyon"])?;
//! assert_eq!(w.row(0), [1.0, 1.0, 0.0]);
//! assert_eq!(Clusters::from_similarity(&w, 0.5).len(), 2);
//! # Ok(())
//! # }
//! ```

mod clusters;
mod jaccard;
mod matrix;
mod nli;
mod porter;
mod rouge;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use clusters::Clusters;
pub use jaccard::{jaccard, Jaccard};
pub use matrix::SimilarityMatrix;
pub use nli::NliProbs;
pub use porter::porter_stem;
pub use rouge::{rouge_l, rouge_l_tokens, rouge_tokens, RougeL};

use crate::error::{CoreError, Result};

/// A similarity backend: the matrix W of a list of texts.
///
/// Implementations outside hedge-core (embedding and NLI models) report a failure as
/// [`CoreError::Similarity`].
pub trait Similarity: Send + Sync {
    /// W of `texts`: m×m for m texts, W_ij the similarity of texts i and j, diagonal 1.
    ///
    /// # Errors
    /// Whatever stops the backend from scoring the texts (a model that fails to run); the
    /// lexical backends never fail.
    fn similarity(&self, texts: &[&str]) -> Result<SimilarityMatrix>;
}

/// The similarity backends of METHODS §3, by name: `jaccard`, `rouge_l`, `embedding`, `nli`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimilarityKind {
    /// [`Jaccard`] over lowercased whitespace words.
    Jaccard,
    /// [`RougeL`], ROUGE-L F-measure as `rouge_score` computes it.
    RougeL,
    /// max(0, cos) of mean-pooled, L2-normalised sentence embeddings (hedge-engine).
    Embedding,
    /// p_entail of an NLI cross-encoder, symmetrised (hedge-engine; [`NliProbs`]).
    Nli,
}

impl SimilarityKind {
    /// Every backend, in the order of METHODS §3.
    pub const ALL: [SimilarityKind; 4] = [
        SimilarityKind::Jaccard,
        SimilarityKind::RougeL,
        SimilarityKind::Embedding,
        SimilarityKind::Nli,
    ];

    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            SimilarityKind::Jaccard => "jaccard",
            SimilarityKind::RougeL => "rouge_l",
            SimilarityKind::Embedding => "embedding",
            SimilarityKind::Nli => "nli",
        }
    }

    /// The backend when hedge-core has it (the lexical ones); `None` for those that need a
    /// model.
    pub fn lexical(self) -> Option<Box<dyn Similarity>> {
        match self {
            SimilarityKind::Jaccard => Some(Box::new(Jaccard)),
            SimilarityKind::RougeL => Some(Box::new(RougeL)),
            SimilarityKind::Embedding | SimilarityKind::Nli => None,
        }
    }
}

impl fmt::Display for SimilarityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SimilarityKind {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<SimilarityKind> {
        SimilarityKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| CoreError::UnknownSimilarity {
                name: s.to_string(),
                known: SimilarityKind::ALL.map(SimilarityKind::name).join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in SimilarityKind::ALL {
            assert_eq!(k.to_string().parse::<SimilarityKind>().unwrap(), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
            assert_eq!(serde_json::from_str::<SimilarityKind>(&json).unwrap(), k);
        }
        let e = "cosine".parse::<SimilarityKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown similarity backend `cosine`; known backends: jaccard, rouge_l, embedding, nli"
        );
        let texts = ["the cat sat", "the cat"];
        let w = SimilarityKind::RougeL
            .lexical()
            .unwrap()
            .similarity(&texts)
            .unwrap();
        assert!((w.get(0, 1) - 0.8).abs() < 1e-15);
        assert!(SimilarityKind::Nli.lexical().is_none());
    }
}
