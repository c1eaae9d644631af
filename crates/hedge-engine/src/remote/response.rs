//! Reading OpenAI-compatible responses into [`Generation`]s: both logprobs shapes, and the
//! approximate step statistics of a top-k list.
//!
//! - chat (`/chat/completions`, and llama.cpp's `/completions`):
//!   `logprobs.content[j] = {token, logprob, top_logprobs: [{token, logprob}], id?, bytes?}`;
//! - legacy completions (`/completions` of vLLM and OpenAI):
//!   `logprobs = {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}`.

use hedge_core::stats::StepStats;
use hedge_core::token::{TokenRecord, TopToken};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::generation::{FinishReason, Generation, TokenStats};

#[derive(Debug, Deserialize)]
pub(crate) struct Response {
    #[serde(default)]
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Choice {
    #[serde(default)]
    pub index: Option<usize>,
    /// Completions.
    #[serde(default)]
    pub text: Option<String>,
    /// Chat.
    #[serde(default)]
    pub message: Option<Message>,
    /// A shape that is neither of the two is read as no log-probabilities, not as an error.
    #[serde(default, deserialize_with = "lenient_logprobs")]
    pub logprobs: Option<Logprobs>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// vLLM: the stop string or stop token id that ended the text, null for end-of-sequence.
    #[serde(default)]
    pub stop_reason: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub content: Option<String>,
}

fn lenient_logprobs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Logprobs>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// The two shapes of `logprobs`; the legacy one is tried first since it needs `tokens`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Logprobs {
    Legacy(LegacyLogprobs),
    Chat(ChatLogprobs),
}

#[derive(Debug, Deserialize)]
pub(crate) struct LegacyLogprobs {
    pub tokens: Vec<String>,
    #[serde(default)]
    pub token_logprobs: Vec<Option<f64>>,
    #[serde(default)]
    pub top_logprobs: Option<Vec<Option<TopMap>>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatLogprobs {
    #[serde(default)]
    pub content: Option<Vec<ChatToken>>,
}

/// One step of the chat shape. llama.cpp adds the token `id`, and with
/// `post_sampling_probs` sends `prob`/`top_probs` instead of `logprob`/`top_logprobs`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatToken {
    #[serde(flatten)]
    pub token: Alternative,
    #[serde(default, alias = "top_probs")]
    pub top_logprobs: Vec<Alternative>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Alternative {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub id: Option<u32>,
    #[serde(default)]
    pub logprob: Option<f64>,
    #[serde(default)]
    pub prob: Option<f64>,
}

impl Alternative {
    fn logprob(&self) -> Option<f64> {
        self.logprob.or(self.prob.map(f64::ln))
    }
}

/// A `{token: logprob}` object with its order kept (JSON objects are read into a sorted map by
/// default); a null logprob is −inf.
#[derive(Debug, Default)]
pub(crate) struct TopMap(pub Vec<(String, f64)>);

impl<'de> Deserialize<'de> for TopMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of token → logprob")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopMap, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Option<f64>>()? {
                    out.push((k, v.unwrap_or(f64::NEG_INFINITY)));
                }
                Ok(TopMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// One step as read from either shape, before its statistics.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub token: String,
    pub id: Option<u32>,
    /// None for the first token of an echoed prompt, which has no context to be predicted from.
    pub logprob: Option<f64>,
    pub top: Vec<(String, Option<u32>, f64)>,
}

impl Logprobs {
    /// The steps of this choice; None when the server sent the field without content.
    pub(crate) fn steps(&self) -> Option<Vec<Step>> {
        match self {
            Logprobs::Legacy(l) => {
                let tops = l.top_logprobs.as_deref().unwrap_or(&[]);
                Some(
                    l.tokens
                        .iter()
                        .enumerate()
                        .map(|(j, token)| Step {
                            token: token.clone(),
                            id: None,
                            logprob: l.token_logprobs.get(j).copied().flatten(),
                            top: tops
                                .get(j)
                                .and_then(Option::as_ref)
                                .map(|m| m.0.iter().map(|(t, lp)| (t.clone(), None, *lp)).collect())
                                .unwrap_or_default(),
                        })
                        .collect(),
                )
            }
            Logprobs::Chat(c) => c.content.as_ref().map(|content| {
                content
                    .iter()
                    .map(|t| Step {
                        token: t.token.token.clone(),
                        id: t.token.id,
                        logprob: t.token.logprob(),
                        top: t
                            .top_logprobs
                            .iter()
                            .filter_map(|a| Some((a.token.clone(), a.id, a.logprob()?)))
                            .collect(),
                    })
                    .collect()
            }),
        }
    }
}

/// vLLM writes −inf as −9999.0; anything at or below it is read back as −inf.
fn clean(logprob: f64) -> f64 {
    if logprob <= -9999.0 {
        f64::NEG_INFINITY
    } else {
        logprob
    }
}

/// A stable 32-bit id for a token known only by its text (FNV-1a), so that the same token has
/// the same id across samples and requests. Servers that send ids (llama.cpp) keep theirs.
pub fn text_id(token: &str) -> u32 {
    token.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The record of one step from what a server returned: `logprob` and `top` as served (the `k`
/// most likely, most likely first), and entropy, margin and kurtosis of the distribution made
/// of the top list and the chosen token, renormalised to sum to 1. With fewer than two
/// distinct tokens in that list (k = 0, or k = 1 picking the top token), there is nothing to
/// approximate from, and those three are NaN.
pub fn approximate_record(
    token: &str,
    id: Option<u32>,
    logprob: f64,
    top: &[(String, Option<u32>, f64)],
    k: usize,
) -> TokenRecord {
    let logprob = clean(logprob);
    let mut alts: Vec<TopToken> = top
        .iter()
        .map(|(text, tid, lp)| TopToken {
            id: tid.unwrap_or_else(|| text_id(text)),
            text: text.clone(),
            logprob: clean(*lp),
        })
        .collect();
    // Most likely first; the order the server gave breaks ties.
    alts.sort_by(|a, b| b.logprob.total_cmp(&a.logprob));
    let chosen_id = id.unwrap_or_else(|| text_id(token));
    let mut values: Vec<f32> = alts.iter().map(|a| a.logprob as f32).collect();
    let chosen = match alts.iter().position(|a| a.id == chosen_id) {
        Some(i) => i,
        None => {
            values.push(logprob as f32);
            values.len() - 1
        }
    };
    let (entropy, margin, kurtosis) = match values.len() {
        0 | 1 => (f64::NAN, f64::NAN, f64::NAN),
        _ => match StepStats::compute(&values, chosen as u32, 0) {
            Ok(s) => (s.entropy, s.margin, s.kurtosis),
            Err(_) => (f64::NAN, f64::NAN, f64::NAN),
        },
    };
    alts.truncate(k);
    TokenRecord {
        id: chosen_id,
        text: token.to_string(),
        logprob,
        entropy,
        margin,
        kurtosis,
        top: alts,
    }
}

/// The finish reason of a choice. OpenAI's "stop" covers both end-of-sequence and a stop
/// string; vLLM tells them apart with `stop_reason` (a string for a stop string).
fn finish_reason(choice: &Choice) -> FinishReason {
    match choice.finish_reason.as_deref() {
        Some("length") => FinishReason::Length,
        Some("stop") if matches!(choice.stop_reason, Some(serde_json::Value::String(_))) => {
            FinishReason::Stop
        }
        _ => FinishReason::Eos,
    }
}

impl Choice {
    /// The text of the choice, whichever endpoint it came from.
    pub(crate) fn text(&self) -> String {
        self.text
            .clone()
            .or_else(|| self.message.as_ref().and_then(|m| m.content.clone()))
            .unwrap_or_default()
    }

    /// The choice as a [`Generation`], keeping the `k` most likely alternatives of each step.
    pub(crate) fn into_generation(self, prompt_tokens: usize, k: usize) -> Generation {
        let text = self.text();
        let steps = self.logprobs.as_ref().and_then(Logprobs::steps);
        let (tokens, token_stats) = match steps {
            Some(steps) if !steps.is_empty() || text.is_empty() => (
                steps
                    .iter()
                    .map(|s| {
                        let lp = s.logprob.unwrap_or(f64::NAN);
                        approximate_record(&s.token, s.id, lp, &s.top, k)
                    })
                    .collect(),
                TokenStats::TopK,
            ),
            _ => (Vec::new(), TokenStats::Absent),
        };
        Generation {
            finish_reason: finish_reason(&self),
            text,
            tokens,
            prompt_tokens,
            token_stats,
        }
    }
}

impl Response {
    /// Every choice as a [`Generation`], in the order of their `index`.
    pub(crate) fn into_generations(mut self, k: usize) -> Vec<Generation> {
        let prompt_tokens = self
            .usage
            .as_ref()
            .and_then(|u| u.prompt_tokens)
            .unwrap_or(0);
        self.choices.sort_by_key(|c| c.index.unwrap_or(usize::MAX));
        self.choices
            .into_iter()
            .map(|c| c.into_generation(prompt_tokens, k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_ids_are_stable_and_distinct() {
        assert_eq!(text_id(""), 0x811c_9dc5);
        assert_eq!(text_id(" Paris"), text_id(" Paris"));
        assert_ne!(text_id(" Paris"), text_id(" paris"));
    }

    #[test]
    fn top_map_keeps_order_and_nulls() {
        let m: TopMap = serde_json::from_str(r#"{"b": -0.5, "a": -1.0, "c": null}"#).unwrap();
        assert_eq!(m.0[0], ("b".into(), -0.5));
        assert_eq!(m.0[1], ("a".into(), -1.0));
        assert_eq!(m.0[2].1, f64::NEG_INFINITY);
    }

    #[test]
    fn too_few_alternatives_give_nan_not_certainty() {
        let r = approximate_record(" a", None, -0.1, &[], 5);
        assert!(r.entropy.is_nan() && r.margin.is_nan() && r.kurtosis.is_nan());
        let top = [(" a".to_string(), None, -0.1)];
        let r = approximate_record(" a", None, -0.1, &top, 5);
        assert!(r.entropy.is_nan());
        assert_eq!(r.top.len(), 1);
    }

    #[test]
    fn vllm_minus_9999_is_minus_infinity() {
        let top = [
            (" a".to_string(), None, 0.0),
            (" b".to_string(), None, -9999.0),
        ];
        let r = approximate_record(" a", None, 0.0, &top, 5);
        assert_eq!(r.top[1].logprob, f64::NEG_INFINITY);
        assert_eq!(r.entropy, 0.0);
        assert_eq!(r.margin, 1.0);
    }

    #[test]
    fn an_unknown_logprobs_shape_is_no_logprobs() {
        let r: Response = serde_json::from_str(
            r#"{"choices": [{"text": "a", "logprobs": {"completion_probabilities": [1]}}]}"#,
        )
        .unwrap();
        let g = r.into_generations(5).pop().unwrap();
        assert_eq!((g.text.as_str(), g.token_stats), ("a", TokenStats::Absent));
    }
}
