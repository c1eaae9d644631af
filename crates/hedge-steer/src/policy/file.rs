//! The policy file: the [`Policy`] as JSON with a format tag and a version, checked when read.
//!
//! ```json
//! {"format": "hedge-policy", "version": 1,
//!  "estimator": "msp", "calibration": {"method": "platt", "a": -2.67, "b": 2.70},
//!  "tau_lo": 0.722, "tau_hi": 0.846,
//!  "clarify": {"mu": 0.25, "order": "abstain_first", "samples": 10, "temperature": 1.0,
//!              "similarity": "rouge_l", "cluster_threshold": 0.9},
//!  "fit": {"fitted_on": "runs/calib/items.jsonl", "rows": 330, "max_risk": 0.1, …}}
//! ```

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::{Policy, PolicyError, Result};

/// The `"format"` of a policy file.
pub const FORMAT: &str = "hedge-policy";

/// The newest version of the file this hedge reads and the one it writes.
pub const VERSION: u64 = 1;

#[derive(Serialize)]
struct Tagged<'a> {
    format: &'static str,
    version: u64,
    #[serde(flatten)]
    policy: &'a Policy,
}

impl Policy {
    /// The policy file's text (pretty JSON, ending with a newline).
    pub fn to_json(&self) -> String {
        let tagged = Tagged {
            format: FORMAT,
            version: VERSION,
            policy: self,
        };
        // A policy holds only strings, numbers and maps: serialising cannot fail.
        let mut text = serde_json::to_string_pretty(&tagged).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads a policy from the text of a policy file, and checks it ([`Policy::validate`]).
    ///
    /// # Errors
    /// A message saying what is wrong: not JSON, not a hedge policy, a version newer than
    /// [`VERSION`], a missing or malformed field, a value out of range.
    pub fn from_json(text: &str) -> std::result::Result<Policy, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        let Value::Object(obj) = &value else {
            return Err("not a JSON object".into());
        };
        match obj.get("format").and_then(Value::as_str) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(format!(
                    "\"format\" is {other:?}, not {FORMAT:?} (write one with `hedge policy fit`)"
                ))
            }
            None => {
                return Err(format!(
                    "no \"format\": {FORMAT:?} field: not a policy written by `hedge policy fit`"
                ))
            }
        }
        match obj.get("version").and_then(Value::as_u64) {
            Some(v) if (1..=VERSION).contains(&v) => {}
            Some(v) => {
                return Err(format!(
                    "version {v}: this hedge reads policy files of version 1 to {VERSION}"
                ))
            }
            None => return Err("no \"version\" (a whole number ≥ 1)".into()),
        }
        // serde's messages do not name a top-level field of the wrong type: say it here.
        for (key, kind, ok) in [
            (
                "estimator",
                "a string such as \"msp\"",
                Value::is_string as fn(&Value) -> bool,
            ),
            (
                "calibration",
                "an object such as {\"method\": \"platt\", \"a\": …, \"b\": …}",
                Value::is_object,
            ),
            ("tau_lo", "a number in [0, 1]", Value::is_number),
            ("tau_hi", "a number in [0, 1]", Value::is_number),
        ] {
            match obj.get(key) {
                Some(v) if ok(v) => {}
                Some(v) => return Err(format!("\"{key}\" must be {kind}, not {v}")),
                None => return Err(format!("missing field `{key}` ({kind})")),
            }
        }
        if let Some(v) = obj
            .get("clarify")
            .filter(|v| !v.is_null() && !v.is_object())
        {
            return Err(format!("\"clarify\" must be null or an object, not {v}"));
        }
        let policy: Policy = serde_json::from_value(value).map_err(|e| e.to_string())?;
        policy.validate().map_err(|e| e.to_string())?;
        Ok(policy)
    }

    /// Reads and checks the policy file at `path`.
    ///
    /// # Errors
    /// [`PolicyError::File`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<Policy> {
        let file_error = |reason: String| PolicyError::File {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        Policy::from_json(&text).map_err(file_error)
    }

    /// Writes the policy file at `path`.
    ///
    /// # Errors
    /// [`PolicyError::File`] when it cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()).map_err(|e| PolicyError::File {
            path: path.to_path_buf(),
            reason: format!("cannot write it ({e})"),
        })
    }
}
