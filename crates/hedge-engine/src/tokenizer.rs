//! `TextTokenizer`: the checkpoint's `tokenizer.json`, its special tokens, and its chat template
//! (from `tokenizer_config.json`, rendered with minijinja as transformers renders it with jinja2).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkpoint::read_text;
use crate::error::{EngineError, Result};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }
}

/// A tokenizer with the special tokens and chat template of its checkpoint.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    chat_template: Option<String>,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

/// `bos_token` in tokenizer_config.json is a string or an AddedToken object with `content`.
fn token_text(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// Today's date (UTC) in a strftime `format`, for the directives chat templates use:
/// %d %m %Y %y %b %B %e %%; other directives are kept as written.
fn strftime_now(format: &str) -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month = MONTHS[(m - 1) as usize];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('e') => out.push_str(&format!("{d:>2}")),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('Y') => out.push_str(&y.to_string()),
            Some('y') => out.push_str(&format!("{:02}", y % 100)),
            Some('b') => out.push_str(&month[..3]),
            Some('B') => out.push_str(month),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// (year, month, day) of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl TextTokenizer {
    /// Loads `tokenizer.json` and, when given, `tokenizer_config.json` (or a `chat_template.jinja`
    /// beside it).
    ///
    /// # Errors
    /// When a file cannot be read or parsed; the error names the file.
    pub fn load(tokenizer_json: &Path, tokenizer_config: Option<&Path>) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_file(tokenizer_json)
            .map_err(|e| EngineError::bad_file(tokenizer_json, e))?;
        let mut out = Self {
            inner,
            chat_template: None,
            bos_token: None,
            eos_token: None,
        };
        if let Some(path) = tokenizer_config {
            let json: serde_json::Value = serde_json::from_str(&read_text(path)?)
                .map_err(|e| EngineError::bad_file(path, e))?;
            out.bos_token = token_text(json.get("bos_token"));
            out.eos_token = token_text(json.get("eos_token"));
            out.chat_template = match json.get("chat_template") {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                // A list of named templates: take "default".
                Some(serde_json::Value::Array(list)) => list
                    .iter()
                    .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                    .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
                _ => None,
            };
        }
        if out.chat_template.is_none() {
            if let Some(dir) = tokenizer_json.parent() {
                let jinja = dir.join("chat_template.jinja");
                if jinja.is_file() {
                    out.chat_template = Some(read_text(&jinja)?);
                }
            }
        }
        Ok(out)
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// The id of a token given by its text, e.g. the `eos_token` of tokenizer_config.json.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// Token ids of `text`; `special` adds what the tokenizer's post-processor adds (e.g. BOS).
    ///
    /// # Errors
    /// When the tokenizer fails on the text.
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, special)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    ///
    /// # Errors
    /// When an id is unknown to the tokenizer.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))
    }

    /// Renders `messages` with the chat template, as `apply_chat_template(..., tokenize=False)`.
    ///
    /// # Errors
    /// When the checkpoint has no chat template, or the template fails.
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self.chat_template.as_deref().ok_or_else(|| {
            EngineError::ChatTemplate(
                "this model has no chat_template in tokenizer_config.json; run without --chat"
                    .into(),
            )
        })?;
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        // Llama 3.x templates date their system prompt with transformers' `strftime_now`.
        env.add_function("strftime_now", |format: String| strftime_now(&format));
        env.add_template("chat", template)
            .map_err(|e| EngineError::ChatTemplate(e.to_string()))?;
        let tmpl = env
            .get_template("chat")
            .map_err(|e| EngineError::ChatTemplate(e.to_string()))?;
        tmpl.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.clone().unwrap_or_default(),
            eos_token => self.eos_token.clone().unwrap_or_default(),
        })
        .map_err(|e| EngineError::ChatTemplate(e.to_string()))
    }

    /// Ids of a prompt as the model should see it: rendered through the chat template (which
    /// carries its own special tokens) when `chat`, else the raw text with the tokenizer's
    /// special tokens.
    ///
    /// # Errors
    /// When the template or the tokenizer fails.
    pub fn prompt_ids(&self, prompt: &str, chat: bool) -> Result<Vec<u32>> {
        if chat {
            let text = self.apply_chat_template(&[ChatMessage::user(prompt)], true)?;
            self.encode(&text, false)
        } else {
            self.encode(prompt, true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1)); // after a non-leap February
    }

    #[test]
    fn strftime_now_formats_the_directives_templates_use() {
        let s = strftime_now("%d %b %Y");
        let parts: Vec<&str> = s.split(' ').collect();
        assert_eq!(parts.len(), 3, "{s}");
        assert_eq!(parts[0].len(), 2);
        assert_eq!(parts[1].len(), 3);
        assert!(parts[2].parse::<i32>().unwrap() >= 2024);
        assert_eq!(strftime_now("100%% %q"), "100% %q");
    }
}
