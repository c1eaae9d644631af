//! `RemoteModel`: the [`Backend`] of any OpenAI-compatible server (vLLM, llama.cpp's server,
//! hosted APIs), named `openai:URL#MODEL`.
//!
//! Chat requests go to `URL/chat/completions`, raw prompts to `URL/completions`, both asking
//! for the log-probabilities of the chosen tokens and of the `top_logprobs` most likely ones.
//! A server sends only those k alternatives, not the full distribution, so each step's
//! entropy, margin and kurtosis are computed from the top-k values renormalised, and the
//! [`Generation`] says so ([`TokenStats::TopK`], [`Generation::approximate_distribution`]).
//! A server that sends no log-probabilities gives the text alone ([`TokenStats::Absent`]).
//!
//! ```no_run
//! use hedge_engine::{Backend, GenerationRequest, RemoteModel};
//!
//! # fn main() -> hedge_engine::Result<()> {
//! // The API key, if any, comes from HEDGE_API_KEY or else OPENAI_API_KEY.
//! let model = RemoteModel::from_spec("openai:http://localhost:8000/v1#Qwen/Qwen2.5-7B-Instruct")?;
//! let mut req = GenerationRequest::new("What is the capital of France?");
//! req.chat = true;
//! let answers = model.generate_n(&req, 5)?;
//! assert!(answers.iter().all(|a| a.approximate_distribution()));
//! # Ok(())
//! # }
//! ```

mod http;
mod response;
mod spec;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use serde_json::{json, Value};

pub use self::http::RetryPolicy;
pub use self::response::{approximate_record, text_id};
pub use self::spec::{api_key_from_env, RemoteOptions, RemoteSpec};

use self::http::{server_message, HttpClient};
use self::response::Response;
use crate::error::{EngineError, Result};
use crate::generation::{
    Backend, FinishReason, Generation, GenerationRequest, NextTokenLogprobs, ScoreRequest,
    TokenStats,
};

/// A model served over an OpenAI-compatible HTTP API.
#[derive(Debug)]
pub struct RemoteModel {
    pub spec: RemoteSpec,
    http: HttpClient,
    concurrency: usize,
    /// Set once the server has answered a request for n > 1 samples with fewer, or refused it:
    /// later requests for n samples go as n requests.
    n_ignored: AtomicBool,
    /// 0: every answer had log-probabilities; 1: one had none; 2: and that was told.
    no_logprobs: AtomicU8,
}

impl RemoteModel {
    pub fn new(spec: RemoteSpec, options: RemoteOptions) -> Self {
        Self {
            spec,
            http: HttpClient::new(
                options.connect_timeout,
                options.read_timeout,
                options.retry,
                options.api_key,
            ),
            concurrency: options.concurrency.max(1),
            n_ignored: AtomicBool::new(false),
            no_logprobs: AtomicU8::new(0),
        }
    }

    /// Reads `openai:URL#MODEL` and takes the API key from the environment.
    ///
    /// # Errors
    /// As [`RemoteSpec::parse`].
    pub fn from_spec(spec: &str) -> Result<Self> {
        Ok(Self::new(
            RemoteSpec::parse(spec)?,
            RemoteOptions::from_env(),
        ))
    }

    /// The model's name on the server.
    pub fn name(&self) -> &str {
        &self.spec.model
    }

    /// True once the server has sent an answer without log-probabilities.
    pub fn lacks_logprobs(&self) -> bool {
        self.no_logprobs.load(Ordering::Relaxed) != 0
    }

    /// A line for the user the first time an answer came without log-probabilities, and None
    /// ever after, so that the caller says it once.
    pub fn take_notice(&self) -> Option<String> {
        self.no_logprobs
            .compare_exchange(1, 2, Ordering::Relaxed, Ordering::Relaxed)
            .ok()
            .map(|_| {
                format!(
                    "{} sent no log-probabilities: token-level estimators are unavailable, only those that compare sampled texts",
                    self.spec
                )
            })
    }

    /// `n` samples of one request. They are asked for with the `n` parameter; when the server
    /// sends fewer, or refuses `n` > 1 (llama.cpp: "Only one completion choice is allowed"),
    /// the rest are drawn as separate requests with seeds `seed + i`, at most `concurrency`
    /// at a time, and later calls go that way at once.
    ///
    /// # Errors
    /// On bad parameters, or when a request fails (see [`RemoteModel::generate`]).
    pub fn generate_n(&self, req: &GenerationRequest, n: usize) -> Result<Vec<Generation>> {
        req.sampling.validate()?;
        if n == 0 {
            return Err(EngineError::InvalidParam {
                name: "n",
                value: "0".into(),
                allowed: "at least one sample",
            });
        }
        let seed = req.sampling.seed;
        let mut out = if n == 1 || self.n_ignored.load(Ordering::Relaxed) {
            Vec::new()
        } else {
            match self.call(req, n, seed) {
                Ok(gens) => gens,
                // Refused: if one sample goes through, it was n the server refused; if not,
                // its error is the one to show, without n more tries.
                Err(EngineError::Http {
                    status: 400 | 422, ..
                }) => self.call(req, 1, seed)?,
                Err(e) => return Err(e),
            }
        };
        if out.len() < n {
            let seeds: Vec<u64> = (out.len()..n)
                .map(|i| seed.wrapping_add(i as u64))
                .collect();
            for result in map_concurrent(&seeds, self.concurrency, |&s| self.call(req, 1, s)) {
                out.extend(result?.into_iter().take(1));
            }
            if n > 1 {
                self.n_ignored.store(true, Ordering::Relaxed);
            }
        }
        out.truncate(n);
        Ok(out)
    }

    /// Generates an answer to each request, at most `concurrency` requests in flight at once
    /// (scoped threads); the results are in the order of `reqs`.
    pub fn generate_many(
        &self,
        reqs: &[GenerationRequest],
        concurrency: usize,
    ) -> Vec<Result<Generation>> {
        map_concurrent(reqs, concurrency, |r| self.generate(r))
    }

    /// Scores each request, at most `concurrency` requests in flight at once.
    pub fn score_many(&self, reqs: &[ScoreRequest], concurrency: usize) -> Vec<Result<Generation>> {
        map_concurrent(reqs, concurrency, |r| self.score(r))
    }

    /// The endpoint and JSON body of a generation request for `n` samples.
    fn body(&self, req: &GenerationRequest, n: usize, seed: u64) -> (&'static str, Value) {
        let s = &req.sampling;
        let mut body = json!({
            "model": self.spec.model,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "seed": seed,
        });
        let path = if req.chat {
            body["messages"] = json!([{"role": "user", "content": req.prompt}]);
            body["logprobs"] = json!(true);
            body["top_logprobs"] = json!(req.top_logprobs);
            "/chat/completions"
        } else {
            body["prompt"] = json!(req.prompt);
            body["logprobs"] = json!(req.top_logprobs);
            "/completions"
        };
        if n > 1 {
            body["n"] = json!(n);
        }
        if let Some(p) = s.top_p.filter(|&p| p < 1.0) {
            body["top_p"] = json!(p);
        }
        // Not in OpenAI's API (which would refuse it), but vLLM and llama.cpp read these.
        if let Some(k) = s.top_k.filter(|&k| k > 0) {
            body["top_k"] = json!(k);
        }
        if s.ignore_eos {
            body["ignore_eos"] = json!(true);
        }
        if !s.stop.is_empty() {
            body["stop"] = json!(s.stop);
        }
        (path, body)
    }

    /// POSTs and reads the answer's choices.
    fn request(&self, path: &str, body: &Value) -> Result<(String, Response)> {
        let url = self.spec.endpoint(path);
        let text = self.http.post_json(&url, body).map_err(|e| match e {
            EngineError::Http {
                url,
                status: 404,
                message,
            } if !url.contains("/v1/") => EngineError::Http {
                url,
                status: 404,
                message: format!("{message} (most servers want a base URL ending in /v1)"),
            },
            other => other,
        })?;
        let response: Response =
            serde_json::from_str(&text).map_err(|e| EngineError::BadResponse {
                url: url.clone(),
                reason: format!("{e}: {}", server_message(&text)),
            })?;
        if response.choices.is_empty() {
            return Err(EngineError::BadResponse {
                url,
                reason: format!("no choices in {}", server_message(&text)),
            });
        }
        Ok((url, response))
    }

    fn call(&self, req: &GenerationRequest, n: usize, seed: u64) -> Result<Vec<Generation>> {
        let (path, body) = self.body(req, n, seed);
        let (_, response) = self.request(path, &body)?;
        let gens = response.into_generations(req.top_logprobs);
        if gens.iter().any(|g| !g.has_logprobs()) {
            let _ = self
                .no_logprobs
                .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed);
        }
        Ok(gens)
    }
}

/// How many alternatives a next-token request asks for: the most OpenAI's chat API and vLLM's
/// default `max_logprobs` allow.
const NEXT_TOKEN_TOP: usize = 20;
/// What a server that refuses 20 alternatives is asked for instead (OpenAI's completions limit).
const NEXT_TOKEN_TOP_FALLBACK: usize = 5;

impl RemoteModel {
    /// The first step of a greedy one-token answer to `prompt`, with its top-`k` alternatives;
    /// None when the server sent no log-probabilities.
    fn first_step(&self, prompt: &str, chat: bool, k: usize) -> Result<Option<response::Step>> {
        let mut req = GenerationRequest::new(prompt);
        req.chat = chat;
        req.top_logprobs = k;
        req.sampling.max_tokens = 1;
        let (path, body) = self.body(&req, 1, 0);
        let (_, response) = self.request(path, &body)?;
        let step = response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.logprobs)
            .and_then(|l| l.steps())
            .and_then(|s| s.into_iter().next());
        Ok(step)
    }
}

/// log P of `candidate` among a step's alternatives (and its chosen token): the alternative
/// whose text is the candidate; else one equal to it without leading spaces (a chat answer's
/// first token has none: `"True"` for `" True"`); else the longest one of at least two
/// characters that begins it (the candidate's first token, when the server's tokenizer splits
/// it); NaN when none is listed.
fn candidate_logprob(step: &response::Step, candidate: &str) -> f64 {
    let mut alts: Vec<(&str, f64)> = step
        .top
        .iter()
        .map(|(t, _, lp)| (t.as_str(), *lp))
        .collect();
    if let Some(lp) = step.logprob {
        alts.push((step.token.as_str(), lp));
    }
    let exact = alts
        .iter()
        .filter(|(t, _)| *t == candidate)
        .map(|&(_, lp)| lp)
        .fold(f64::NAN, f64::max);
    if !exact.is_nan() {
        return exact;
    }
    let bare = candidate.trim_start();
    let trimmed = alts
        .iter()
        .filter(|(t, _)| !bare.is_empty() && t.trim_start() == bare)
        .map(|&(_, lp)| lp)
        .fold(f64::NAN, f64::max);
    if !trimmed.is_nan() {
        return trimmed;
    }
    alts.iter()
        .filter(|(t, _)| t.chars().count() >= 2 && candidate.starts_with(*t))
        .max_by_key(|(t, _)| t.len())
        .map_or(f64::NAN, |&(_, lp)| lp)
}

impl Backend for RemoteModel {
    /// Asks for `n` choices in one request ([`RemoteModel::generate_n`]).
    fn generate_n(&self, req: &GenerationRequest, n: usize) -> Result<Vec<Generation>> {
        RemoteModel::generate_n(self, req, n)
    }

    /// One request for a single greedy token with the top 20 log-probabilities (5 when the
    /// server refuses 20); a candidate is looked up by its text among them. Approximate
    /// ([`TokenStats::TopK`]): a candidate outside the top-k is NaN. A server that sends no
    /// log-probabilities gives NaN for every candidate ([`TokenStats::Absent`]).
    fn next_token_logprobs(
        &self,
        prompt: &str,
        chat: bool,
        candidates: &[&str],
    ) -> Result<NextTokenLogprobs> {
        let step = match self.first_step(prompt, chat, NEXT_TOKEN_TOP) {
            Err(EngineError::Http {
                status: 400 | 422, ..
            }) => self.first_step(prompt, chat, NEXT_TOKEN_TOP_FALLBACK)?,
            other => other?,
        };
        Ok(match step {
            Some(step) => NextTokenLogprobs {
                logprobs: candidates
                    .iter()
                    .map(|c| candidate_logprob(&step, c))
                    .collect(),
                stats: TokenStats::TopK,
            },
            None => {
                let _ =
                    self.no_logprobs
                        .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed);
                NextTokenLogprobs {
                    logprobs: vec![f64::NAN; candidates.len()],
                    stats: TokenStats::Absent,
                }
            }
        })
    }

    /// Generates one answer.
    ///
    /// # Errors
    /// On bad parameters; [`EngineError::Http`] with the server's own message for an error
    /// status (429 and 5xx after the retries); [`EngineError::Connection`] when the server
    /// cannot be reached or does not answer in time; [`EngineError::BadResponse`] when the
    /// answer is not an OpenAI-compatible one.
    fn generate(&self, req: &GenerationRequest) -> Result<Generation> {
        let mut gens = self.generate_n(req, 1)?;
        gens.pop().ok_or_else(|| EngineError::BadResponse {
            url: self.spec.base_url.clone(),
            reason: "no choices".into(),
        })
    }

    /// Teacher-forced scoring with `/completions`, `echo: true, logprobs: k, max_tokens: 0`
    /// (vLLM): the server returns the log-probabilities of the prompt, whose last tokens are
    /// the response. They are found by walking back from the end until their text covers the
    /// response, so a token that straddles the prompt/response boundary counts as response.
    ///
    /// # Errors
    /// [`EngineError::RemoteUnsupported`] for a chat prompt (the chat template lives on the
    /// server) and when the server does not support echo with log-probabilities;
    /// [`EngineError::InvalidParam`] for an empty response; request failures as in `generate`.
    fn score(&self, req: &ScoreRequest) -> Result<Generation> {
        const WHAT: &str =
            "teacher-forced scoring (/completions with echo: true, logprobs, max_tokens: 0)";
        let url = self.spec.endpoint("/completions");
        let unsupported = |reason: String| EngineError::RemoteUnsupported {
            url: url.clone(),
            what: WHAT,
            reason,
        };
        if req.chat {
            return Err(unsupported(
                "a chat prompt is rendered by the server's chat template, which hedge cannot see; render the prompt yourself and score it with chat = false".into(),
            ));
        }
        if req.response.is_empty() {
            return Err(EngineError::InvalidParam {
                name: "response",
                value: "\"\"".into(),
                allowed: "the response must have at least one token to score",
            });
        }
        let full = format!("{}{}", req.prompt, req.response);
        let body = json!({
            "model": self.spec.model,
            "prompt": full,
            "echo": true,
            "logprobs": req.top_logprobs,
            "max_tokens": 0,
            "temperature": 0.0,
        });
        let response = match self.request("/completions", &body) {
            Ok((_, r)) => r,
            Err(EngineError::Http {
                status: status @ (400 | 404 | 422 | 501),
                message,
                ..
            }) => return Err(unsupported(format!("HTTP {status}: {message}"))),
            Err(e) => return Err(e),
        };
        let choice = response.choices.into_iter().next();
        let text = choice.as_ref().map(|c| c.text()).unwrap_or_default();
        let steps = choice
            .as_ref()
            .and_then(|c| c.logprobs.as_ref())
            .and_then(|l| l.steps())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                unsupported("the answer has no log-probabilities of the echoed prompt".into())
            })?;
        // Text after prompt + response was generated (a server that ignored max_tokens: 0).
        let mut skip = text
            .strip_prefix(full.as_str())
            .map_or(0, |rest| rest.chars().count());
        let mut need = req.response.chars().count();
        let mut end = steps.len();
        let mut start = steps.len();
        while start > 0 && need > 0 {
            let len = steps[start - 1].token.chars().count();
            if skip > 0 {
                skip = skip.saturating_sub(len);
                end -= 1;
            } else {
                need = need.saturating_sub(len);
            }
            start -= 1;
        }
        let scored = &steps[start..end];
        if scored.is_empty() || need > 0 {
            return Err(unsupported(format!(
                "the echoed tokens do not cover the response ({} tokens for {} characters)",
                steps.len(),
                full.chars().count()
            )));
        }
        let tokens = scored
            .iter()
            .map(|s| {
                let lp = s.logprob.ok_or_else(|| EngineError::InvalidParam {
                    name: "prompt",
                    value: format!("{:?}", req.prompt),
                    allowed: "a non-empty prompt: the first token of a text has no log-probability",
                })?;
                Ok(approximate_record(
                    &s.token,
                    s.id,
                    lp,
                    &s.top,
                    req.top_logprobs,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Generation {
            text: req.response.clone(),
            tokens,
            prompt_tokens: start,
            finish_reason: FinishReason::Scored,
            token_stats: TokenStats::TopK,
        })
    }
}

/// `f` of each item, at most `concurrency` at a time on scoped threads, in the items' order.
fn map_concurrent<T: Sync, R: Send>(
    items: &[T],
    concurrency: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let workers = concurrency.max(1).min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(done) => {
                    for (i, r) in done {
                        slots[i] = Some(r);
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    // Every index was taken by exactly one worker, so every slot is filled.
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_concurrent_keeps_order() {
        let items: Vec<u32> = (0..37).collect();
        for c in [0, 1, 3, 100] {
            let out = map_concurrent(&items, c, |&x| x * 2);
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn candidates_are_found_by_text() {
        let step = response::Step {
            token: " True".into(),
            id: None,
            logprob: Some(-0.2),
            top: vec![
                (" True".into(), None, -0.2),
                (" False".into(), None, -1.8),
                (" uns".into(), None, -3.0),
                (" u".into(), None, -2.0),
            ],
        };
        assert_eq!(candidate_logprob(&step, " True"), -0.2);
        assert_eq!(candidate_logprob(&step, " False"), -1.8);
        // The longest listed prefix of two characters or more: " uns", not " u".
        assert_eq!(candidate_logprob(&step, " unsure"), -3.0);
        assert!(candidate_logprob(&step, " sure").is_nan());
        assert_eq!(candidate_logprob(&step, "False"), -1.8);
    }

    #[test]
    fn request_bodies() {
        let m = RemoteModel::new(
            RemoteSpec::parse("openai:http://h/v1#m").unwrap(),
            RemoteOptions::default(),
        );
        let mut req = GenerationRequest::new("Hi");
        req.top_logprobs = 3;
        req.sampling.stop = vec!["\n".into()];
        req.sampling.top_p = Some(0.9);
        let (path, body) = m.body(&req, 4, 7);
        assert_eq!(path, "/completions");
        assert_eq!(
            body,
            json!({"model": "m", "prompt": "Hi", "max_tokens": 64, "temperature": 0.0,
                   "seed": 7, "logprobs": 3, "n": 4, "top_p": 0.9, "stop": ["\n"]})
        );
        req.chat = true;
        req.sampling.top_k = Some(20);
        let (path, body) = m.body(&req, 1, 7);
        assert_eq!(path, "/chat/completions");
        assert_eq!(body["messages"], json!([{"role": "user", "content": "Hi"}]));
        assert_eq!(
            (body["logprobs"].clone(), body["top_logprobs"].clone()),
            (json!(true), json!(3))
        );
        assert_eq!(body["top_k"], json!(20));
        assert!(body.get("n").is_none());
    }
}
