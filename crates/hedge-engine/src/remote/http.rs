//! The HTTP side of the remote backend: one JSON POST with connect and read timeouts, retried
//! with exponential back-off (and seeded jitter) on 408, 429, 5xx and connection failures,
//! honouring the server's `Retry-After`.

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{EngineError, Result};

/// When and how long to wait before trying a failed request again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// The wait before the first retry; each later one doubles it.
    pub initial_delay: Duration,
    /// No back-off wait is longer than this.
    pub max_delay: Duration,
    /// A `Retry-After` up to this long is honoured as given; a longer one is replaced by the
    /// back-off wait (as the OpenAI clients do).
    pub max_retry_after: Duration,
    /// Seed of the jitter: each wait is the back-off times a factor in (0.75, 1].
    pub seed: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            seed: 0,
        }
    }
}

impl RetryPolicy {
    /// The back-off before retry number `retry` (0 for the first), before jitter:
    /// `initial_delay · 2^retry`, at most `max_delay`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(30));
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }
}

/// A status that is worth trying again: request timeout, rate limit, server errors.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// The most a response body may hold (n samples × max_tokens × top-k alternatives add up).
const MAX_BODY: u64 = 256 << 20;

/// A ureq agent with the API key and the retry policy.
pub(crate) struct HttpClient {
    agent: ureq::Agent,
    api_key: Option<String>,
    retry: RetryPolicy,
    read_timeout: Duration,
    jitter: Mutex<ChaCha8Rng>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed.
        f.debug_struct("HttpClient")
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Why one attempt failed.
enum Attempt {
    /// The server answered with an error status.
    Status {
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    /// No complete answer: connection refused or reset, timeout, malformed status line.
    Transport { reason: String, retryable: bool },
}

impl HttpClient {
    pub(crate) fn new(
        connect_timeout: Duration,
        read_timeout: Duration,
        retry: RetryPolicy,
        api_key: Option<String>,
    ) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(connect_timeout)
            .timeout_read(read_timeout)
            .timeout_write(read_timeout)
            .user_agent(concat!("hedge/", env!("CARGO_PKG_VERSION")))
            .build();
        let jitter = Mutex::new(ChaCha8Rng::seed_from_u64(retry.seed));
        Self {
            agent,
            api_key,
            retry,
            read_timeout,
            jitter,
        }
    }

    /// POSTs `body` as JSON to `url` and returns the response body of the first success.
    ///
    /// # Errors
    /// [`EngineError::Http`] with the server's own message for an error status that is not
    /// retried (or still fails after the last retry); [`EngineError::Connection`] when no
    /// answer came.
    pub(crate) fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<String> {
        let payload = body.to_string();
        let mut retry = 0u32;
        loop {
            let failure = match self.attempt(url, &payload) {
                Ok(text) => return Ok(text),
                Err(f) => f,
            };
            let (retryable, retry_after) = match &failure {
                Attempt::Status {
                    status,
                    retry_after,
                    ..
                } => (is_retryable_status(*status), *retry_after),
                Attempt::Transport { retryable, .. } => (*retryable, None),
            };
            if !retryable || retry >= self.retry.max_retries {
                return Err(match failure {
                    Attempt::Status { status, body, .. } => EngineError::Http {
                        url: url.to_string(),
                        status,
                        message: server_message(&body),
                    },
                    Attempt::Transport { reason, .. } => EngineError::Connection {
                        url: url.to_string(),
                        reason,
                        attempts: retry + 1,
                    },
                });
            }
            std::thread::sleep(self.wait(retry, retry_after));
            retry += 1;
        }
    }

    /// The wait before retry number `retry`: the server's `Retry-After` when it gave a
    /// reasonable one, or else the jittered back-off.
    fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after.filter(|d| *d <= self.retry.max_retry_after) {
            return d;
        }
        let u: f64 = match self.jitter.lock() {
            Ok(mut rng) => rng.random(),
            Err(poisoned) => poisoned.into_inner().random(),
        };
        self.retry.backoff(retry).mul_f64(1.0 - 0.25 * u)
    }

    fn attempt(&self, url: &str, payload: &str) -> std::result::Result<String, Attempt> {
        let mut request = self
            .agent
            .post(url)
            .set("Content-Type", "application/json")
            .set("Accept", "application/json");
        if let Some(key) = &self.api_key {
            request = request.set("Authorization", &format!("Bearer {key}"));
        }
        match request.send_string(payload) {
            Ok(response) => read_body(response).map_err(|e| self.io_failure(&e)),
            Err(ureq::Error::Status(status, response)) => {
                let retry_after = retry_after(&response);
                // An unreadable error body still leaves the status to report.
                let body = read_body(response).unwrap_or_default();
                Err(Attempt::Status {
                    status,
                    body,
                    retry_after,
                })
            }
            Err(ureq::Error::Transport(t)) => Err(self.transport_failure(&t)),
        }
    }

    fn transport_failure(&self, t: &ureq::Transport) -> Attempt {
        use ureq::ErrorKind as K;
        let io = std::error::Error::source(t).and_then(|s| s.downcast_ref::<std::io::Error>());
        if let Some(e) = io.filter(|e| is_timeout(e)) {
            return self.io_failure(e);
        }
        let mut reason = t.kind().to_string();
        if let Some(m) = t.message() {
            reason = format!("{reason}: {m}");
        }
        if let Some(source) = std::error::Error::source(t) {
            reason = format!("{reason}: {source}");
        }
        let retryable = matches!(t.kind(), K::ConnectionFailed | K::Io | K::BadStatus);
        Attempt::Transport { reason, retryable }
    }

    fn io_failure(&self, e: &std::io::Error) -> Attempt {
        let reason = if is_timeout(e) {
            format!(
                "timed out waiting for the server (read timeout {:.3} s)",
                self.read_timeout.as_secs_f64()
            )
        } else {
            format!("reading the response: {e}")
        };
        Attempt::Transport {
            reason,
            retryable: true,
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

fn read_body(response: ureq::Response) -> std::io::Result<String> {
    let mut text = String::new();
    response
        .into_reader()
        .take(MAX_BODY)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// `retry-after-ms` (OpenAI's, in milliseconds) or `Retry-After` in seconds (a decimal number;
/// an HTTP date is not read, and falls back to the back-off).
fn retry_after(response: &ureq::Response) -> Option<Duration> {
    let number = |name: &str| {
        response
            .header(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    number("retry-after").map(Duration::from_secs_f64)
}

/// The server's own words from an error body: `error.message` of OpenAI's error JSON (also
/// `{"error": "text"}`, `{"message": ...}` and `{"detail": ...}` as some servers send), or the
/// raw body, cut to 2000 characters.
pub(crate) fn server_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let pick = |v: &serde_json::Value| -> Option<String> {
                match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                }
            };
            let error = v.get("error");
            error
                .and_then(|e| e.get("message"))
                .and_then(pick)
                .or_else(|| error.filter(|e| e.is_string()).and_then(pick))
                .or_else(|| v.get("message").and_then(pick))
                .or_else(|| v.get("detail").and_then(pick))
        });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    if text.is_empty() {
        return "(empty response body)".to_string();
    }
    match text.char_indices().nth(2000) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
            ..Default::default()
        };
        let ms: Vec<u128> = (0..5).map(|r| p.backoff(r).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 700, 700]);
        assert_eq!(p.backoff(1000), Duration::from_millis(700));
    }

    #[test]
    fn jitter_is_seeded_and_within_a_quarter() {
        let policy = RetryPolicy {
            initial_delay: Duration::from_millis(400),
            ..Default::default()
        };
        let waits = || {
            let c = HttpClient::new(
                Duration::from_secs(1),
                Duration::from_secs(1),
                policy.clone(),
                None,
            );
            (0..3).map(|r| c.wait(r, None)).collect::<Vec<_>>()
        };
        let (a, b) = (waits(), waits());
        assert_eq!(a, b);
        for (r, w) in a.iter().enumerate() {
            let full = policy.backoff(r as u32);
            assert!(*w <= full && *w > full.mul_f64(0.75), "{w:?} vs {full:?}");
        }
    }

    #[test]
    fn server_messages() {
        #[rustfmt::skip]
        let table = [
            (r#"{"error": {"message": "bad n", "type": "invalid_request_error"}}"#, "bad n"),
            (r#"{"object": "error", "message": "vLLM says no", "code": 400}"#, "vLLM says no"),
            (r#"{"error": "plain"}"#, "plain"),
            (r#"{"detail": "Not Found"}"#, "Not Found"),
            ("upstream connect error\n", "upstream connect error"),
            ("", "(empty response body)"),
        ];
        for (body, want) in table {
            assert_eq!(server_message(body), want, "{body}");
        }
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [400, 401, 403, 404, 422] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }
}
