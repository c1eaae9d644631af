//! [`GatheredEvidence`]: what the runner gathered for one answer, serialisable, so that every
//! score can be recomputed later without the model (by hedge or another tool).

use hedge_core::estimators::Sample;
use hedge_core::{Evidence, NliProbs, Reflexive, SimilarityKind, SimilarityMatrix, TokenRecord};
use serde::{Deserialize, Serialize};

use crate::generation::TokenStats;

/// Everything gathered for one answer beyond its own tokens: the sampled answers, their
/// similarity matrix (and NLI probabilities), SAR token relevances, and the model's answers
/// to the reflexive prompts. Each part is present only when a requested estimator needed it.
///
/// JSON form (the fields of `hedge eval`'s items.jsonl and `--json` output; absent parts are
/// left out):
///
/// ```json
/// {"samples": [{"text": " Paris", "token_logprobs": [-0.1], "logprob": -0.1}, …],
///  "similarity_backend": "rouge_l", "similarity": [[1.0, 0.5], [0.5, 1.0]],
///  "nli": {"entail": [[…]], "contra": [[…]]},
///  "token_relevance": [0.2, …], "sample_token_relevance": [[…], …],
///  "reflexive": {"p_true_logprob": -0.3, "sure_logprob": -0.5, "unsure_logprob": -1.2,
///                "verbalized_confidence": 80.0},
///  "evidence_stats": "top_k"}
/// ```
///
/// A sample's `logprob` is Σ `token_logprobs` (written for readers; recomputed on reading). A
/// log-probability of −inf is written as `null` and read back as −inf.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatheredEvidence {
    /// The m sampled answers s_1..s_m.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "samples")]
    pub samples: Vec<Sample>,
    /// The backend that built `similarity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity_backend: Option<SimilarityKind>,
    /// W of the samples (m×m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<SimilarityMatrix>,
    /// The NLI probabilities of the samples (the `nli` backend), which decide semantic sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nli: Option<NliProbs>,
    /// SAR relevance of each token of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_relevance: Option<Vec<f64>>,
    /// SAR relevance of each token of each sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_token_relevance: Option<Vec<Vec<f64>>>,
    /// The model's answers to the reflexive prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reflexive: Option<Reflexive>,
    /// Where the samples' and reflexive log-probabilities come from: left out when exact,
    /// `top_k` from a server's top-k list, `absent` when the server sent none.
    #[serde(
        default,
        rename = "evidence_stats",
        skip_serializing_if = "TokenStats::is_full"
    )]
    pub stats: TokenStats,
}

impl GatheredEvidence {
    /// Whether nothing was gathered.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
            && self.similarity.is_none()
            && self.nli.is_none()
            && self.token_relevance.is_none()
            && self.sample_token_relevance.is_none()
            && self.reflexive.is_none()
    }

    /// The [`Evidence`] the estimators read: the answer's `tokens` and every part gathered.
    pub fn evidence<'a>(&'a self, tokens: &'a [TokenRecord]) -> Evidence<'a> {
        let mut ev = Evidence::new(tokens).with_samples(&self.samples);
        if let Some(w) = &self.similarity {
            ev = ev.with_similarity(w);
        }
        if let Some(nli) = &self.nli {
            ev = ev.with_nli(nli);
        }
        if let Some(r) = &self.token_relevance {
            ev = ev.with_token_relevance(r);
        }
        if let Some(r) = &self.sample_token_relevance {
            ev = ev.with_sample_token_relevance(r);
        }
        if let Some(r) = &self.reflexive {
            ev = ev.with_reflexive(r);
        }
        ev
    }
}

/// The JSON form of the samples: `{text, token_logprobs, logprob}`, −inf as `null`.
mod samples {
    use hedge_core::estimators::Sample;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct Out<'a> {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        token_logprobs: Option<&'a [f64]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        logprob: Option<f64>,
    }

    #[derive(Deserialize)]
    struct In {
        text: String,
        #[serde(default)]
        token_logprobs: Option<Vec<Option<f64>>>,
    }

    pub(super) fn serialize<S: Serializer>(xs: &[Sample], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(xs.iter().map(|x| Out {
            text: &x.text,
            token_logprobs: x.token_logprobs.as_deref(),
            logprob: x.token_logprobs.as_ref().map(|_| x.logprob()),
        }))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Sample>, D::Error> {
        let raw = Vec::<In>::deserialize(d)?;
        Ok(raw
            .into_iter()
            .map(|r| match r.token_logprobs {
                Some(lp) => Sample::new(
                    r.text,
                    lp.into_iter()
                        .map(|x| x.unwrap_or(f64::NEG_INFINITY))
                        .collect(),
                ),
                None => Sample::text_only(r.text),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_is_exact() {
        let ev = GatheredEvidence {
            samples: vec![
                Sample::new(" Paris", vec![-0.1, -1.0 / 3.0]),
                Sample::new(" odd", vec![f64::NEG_INFINITY]),
                Sample::text_only(" Lyon"),
            ],
            similarity_backend: Some(SimilarityKind::RougeL),
            similarity: Some(SimilarityMatrix::from_fn(3, |i, j| (i + j) as f64 / 7.0)),
            token_relevance: Some(vec![0.1, 2.0 / 3.0]),
            reflexive: Some(Reflexive::default().with_p_true(-0.3)),
            stats: TokenStats::TopK,
            ..GatheredEvidence::default()
        };
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.contains(r#""logprob":-0.43333333333333335"#), "{json}");
        assert!(json.contains(r#""token_logprobs":[null]"#), "{json}");
        assert!(json.contains(r#""evidence_stats":"top_k""#), "{json}");
        let back: GatheredEvidence = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
        let empty = GatheredEvidence::default();
        assert!(empty.is_empty());
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
    }
}
