//! Naming a remote model, `openai:URL#MODEL`, and the options of its HTTP client.

use std::time::Duration;

use super::http::RetryPolicy;
use crate::error::{EngineError, Result};

/// What `openai:URL#MODEL` names: the base URL of the API (ending in `/v1` for most servers)
/// and the model's name on that server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    /// Without a trailing `/`.
    pub base_url: String,
    pub model: String,
}

impl RemoteSpec {
    /// The prefix that marks a remote model spec.
    pub const PREFIX: &'static str = "openai:";

    /// True when `spec` names a remote model (starts with `openai:`).
    pub fn is_remote(spec: &str) -> bool {
        spec.starts_with(Self::PREFIX)
    }

    /// Reads `openai:URL#MODEL`, e.g. `openai:http://localhost:8000/v1#Qwen/Qwen2.5-7B-Instruct`.
    ///
    /// # Errors
    /// [`EngineError::BadRemoteSpec`] saying what is wrong: no `openai:` prefix, no `#MODEL`,
    /// a URL that is not http(s) or has no host, an endpoint instead of a base URL.
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = |reason: &str| EngineError::BadRemoteSpec {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let rest = spec
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| bad("it does not start with openai:"))?;
        let (url, model) = rest.split_once('#').ok_or_else(|| {
            bad("no #MODEL after the URL (a server with one model, such as llama.cpp's, takes any name)")
        })?;
        let url = url.trim_end_matches('/');
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| bad("the URL must start with http:// or https://"))?;
        if host.split('/').next().is_none_or(str::is_empty) {
            return Err(bad("the URL has no host"));
        }
        if url.chars().any(char::is_whitespace) {
            return Err(bad("the URL contains whitespace"));
        }
        if url.ends_with("/completions") {
            return Err(bad(
                "give the base URL (such as http://localhost:8000/v1), not an endpoint",
            ));
        }
        if model.trim().is_empty() {
            return Err(bad("the model name after # is empty"));
        }
        Ok(Self {
            base_url: url.to_string(),
            model: model.to_string(),
        })
    }

    /// The URL of `path` (such as `/completions`) on this server.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

impl std::str::FromStr for RemoteSpec {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl std::fmt::Display for RemoteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}#{}", Self::PREFIX, self.base_url, self.model)
    }
}

/// The API key of the environment: `HEDGE_API_KEY`, or else `OPENAI_API_KEY` (empty values
/// count as unset).
pub fn api_key_from_env() -> Option<String> {
    api_key_from(|name| std::env::var(name).ok())
}

fn api_key_from(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["HEDGE_API_KEY", "OPENAI_API_KEY"]
        .into_iter()
        .filter_map(var)
        .find(|v| !v.trim().is_empty())
}

/// How to talk to the server.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteOptions {
    /// Sent as `Authorization: Bearer KEY`; no header when None.
    pub api_key: Option<String>,
    pub connect_timeout: Duration,
    /// The longest wait for any read from the server (a long generation must start its
    /// answer within it).
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
    /// Requests in flight at once when n samples are drawn as separate requests.
    pub concurrency: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(600),
            retry: RetryPolicy::default(),
            concurrency: 4,
        }
    }
}

impl RemoteOptions {
    /// The defaults, with the API key of [`api_key_from_env`].
    pub fn from_env() -> Self {
        Self {
            api_key: api_key_from_env(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let s =
            RemoteSpec::parse("openai:http://localhost:8000/v1/#Qwen/Qwen2.5-7B-Instruct").unwrap();
        assert_eq!(s.base_url, "http://localhost:8000/v1");
        assert_eq!(s.model, "Qwen/Qwen2.5-7B-Instruct");
        assert_eq!(
            s.endpoint("/completions"),
            "http://localhost:8000/v1/completions"
        );
        assert_eq!(
            s.to_string(),
            "openai:http://localhost:8000/v1#Qwen/Qwen2.5-7B-Instruct"
        );
        #[rustfmt::skip]
        let bad = [
            ("http://localhost:8000/v1#m", "does not start with openai:"),
            ("openai:http://localhost:8000/v1", "no #MODEL"),
            ("openai:localhost:8000/v1#m", "http:// or https://"),
            ("openai:http:///v1#m", "no host"),
            ("openai:http://localhost:8000/v1/chat/completions#m", "not an endpoint"),
            ("openai:http://localhost:8000/v1# ", "model name after # is empty"),
            ("openai:http://local host/v1#m", "whitespace"),
        ];
        for (spec, want) in bad {
            let e = RemoteSpec::parse(spec).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("openai:URL#MODEL"),
                "{spec}: {e}"
            );
        }
        assert!(RemoteSpec::is_remote("openai:x") && !RemoteSpec::is_remote("models/lab"));
    }

    #[test]
    fn api_key_prefers_hedge_and_skips_empty_values() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        type Env = &'static [(&'static str, &'static str)];
        #[rustfmt::skip]
        let table: [(Env, Option<&str>); 4] = [
            (&[], None),
            (&[("OPENAI_API_KEY", "sk-o")], Some("sk-o")),
            (&[("HEDGE_API_KEY", "sk-h"), ("OPENAI_API_KEY", "sk-o")], Some("sk-h")),
            (&[("HEDGE_API_KEY", " "), ("OPENAI_API_KEY", "sk-o")], Some("sk-o")),
        ];
        for (pairs, want) in table {
            assert_eq!(api_key_from(env(pairs)).as_deref(), want, "{pairs:?}");
        }
    }
}
