//! The per-step record of a generation: the chosen token and the statistics of its step.

use serde::{Deserialize, Deserializer, Serialize};

use crate::stats::StepStats;

/// One of the most likely tokens of a step, with its log-probability.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TopToken {
    /// Token id in the model's vocabulary.
    pub id: u32,
    /// Decoded text of the token (filled by the engine, which has the tokenizer).
    pub text: String,
    /// log P(token) at temperature 1 (≤ 0; −inf for a masked token).
    #[serde(deserialize_with = "neg_inf_if_null")]
    pub logprob: f64,
}

/// What hedge keeps of one decoding step (METHODS §1): the chosen token and the statistics
/// of the full next-token distribution P_t, computed once from the logits by
/// [`StepStats::compute`].
///
/// Serialised as JSON, a non-finite number becomes `null` (JSON has no NaN or infinity); on
/// reading back, a `null` `logprob` is −inf (probability 0) and any other `null` is NaN.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TokenRecord {
    /// Token id of the chosen token.
    pub id: u32,
    /// Decoded text of the chosen token (filled by the engine).
    pub text: String,
    /// log p_t of the chosen token.
    #[serde(deserialize_with = "neg_inf_if_null")]
    pub logprob: f64,
    /// Entropy H_t of P_t, in nats.
    #[serde(deserialize_with = "nan_if_null")]
    pub entropy: f64,
    /// P_t(1st) − P_t(2nd).
    #[serde(deserialize_with = "nan_if_null")]
    pub margin: f64,
    /// Excess (Fisher) kurtosis of the V values of P_t; NaN for a uniform P_t.
    #[serde(deserialize_with = "nan_if_null")]
    pub kurtosis: f64,
    /// The most likely tokens, most likely first.
    pub top: Vec<TopToken>,
}

impl TokenRecord {
    /// Builds the record of the chosen token `id` from the statistics of its step.
    /// `top_text` gives the text of each top-k token id (the engine passes its decoder).
    pub fn from_stats(
        id: u32,
        text: String,
        stats: StepStats,
        mut top_text: impl FnMut(u32) -> String,
    ) -> TokenRecord {
        let top = stats
            .top
            .iter()
            .map(|&(tid, logprob)| TopToken {
                id: tid,
                text: top_text(tid),
                logprob,
            })
            .collect();
        TokenRecord {
            id,
            text,
            logprob: stats.logprob,
            entropy: stats.entropy,
            margin: stats.margin,
            kurtosis: stats.kurtosis,
            top,
        }
    }

    /// p_t = exp(logprob), the probability of the chosen token.
    pub fn prob(&self) -> f64 {
        self.logprob.exp()
    }
}

fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn neg_inf_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> TokenRecord {
        TokenRecord {
            id: 7,
            text: " Paris".into(),
            logprob: -0.25,
            entropy: 0.5,
            margin: 0.6,
            kurtosis: 12.0,
            top: vec![
                TopToken {
                    id: 7,
                    text: " Paris".into(),
                    logprob: -0.25,
                },
                TopToken {
                    id: 9,
                    text: " Lyon".into(),
                    logprob: -2.0,
                },
            ],
        }
    }

    #[test]
    fn json_field_order_and_round_trip() {
        let r = record();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"id":7,"text":" Paris","logprob":-0.25,"entropy":0.5,"margin":0.6,"kurtosis":12.0,"top":[{"id":7,"text":" Paris","logprob":-0.25},{"id":9,"text":" Lyon","logprob":-2.0}]}"#
        );
        let back: TokenRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn non_finite_values_survive_json_as_null() {
        let mut r = record();
        r.logprob = f64::NEG_INFINITY;
        r.kurtosis = f64::NAN;
        r.top[1].logprob = f64::NEG_INFINITY;
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""logprob":null"#), "{json}");
        assert!(json.contains(r#""kurtosis":null"#), "{json}");
        let back: TokenRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.logprob, f64::NEG_INFINITY);
        assert!(back.kurtosis.is_nan());
        assert_eq!(back.top[1].logprob, f64::NEG_INFINITY);
        assert_eq!(back.entropy, 0.5);
    }

    #[test]
    fn from_stats_copies_every_field() {
        let stats = StepStats {
            logprob: -0.25,
            entropy: 0.5,
            margin: 0.6,
            kurtosis: 12.0,
            top: vec![(7, -0.25), (9, -2.0)],
        };
        let texts = |id: u32| if id == 7 { " Paris" } else { " Lyon" }.to_string();
        let r = TokenRecord::from_stats(7, " Paris".into(), stats, texts);
        assert_eq!(r, record());
        assert!((r.prob() - (-0.25f64).exp()).abs() < 1e-15);
    }
}
