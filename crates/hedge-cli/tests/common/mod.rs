//! What the end-to-end tests share: running the built `hedge`, a random-weight model
//! written by the test, and rounding floats for snapshots.

#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;
use std::process::{Command, Output};

const CONFIG: &str = r#"{"model_type": "llama", "vocab_size": 320, "hidden_size": 64, "intermediate_size": 96,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "max_position_embeddings": 64, "rms_norm_eps": 1e-5}"#;

/// Runs the built `hedge` with `args`, without colour.
pub fn hedge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hedge"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run hedge")
}

/// Writes a random-weight llama checkpoint (context 64) into `dir/model` and returns its path.
pub fn random_model(dir: &Path) -> String {
    random_model_with(dir, CONFIG, 7)
}

/// Writes a random-weight checkpoint of `config` (a `config.json` text) with `seed` into
/// `dir/model` through `hedge dev random-model`, and returns its path.
pub fn random_model_with(dir: &Path, config: &str, seed: u64) -> String {
    let cfg = dir.join("config-in.json");
    std::fs::write(&cfg, config).unwrap();
    let out = dir.join("model");
    let seed = seed.to_string();
    let o = hedge(&[
        "dev",
        "random-model",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--seed",
        &seed,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.to_str().unwrap().to_string()
}

/// Rounds every float so that snapshots do not depend on the last bits of a CPU's kernels.
/// `x` rounded to `digits` significant digits: what a snapshot can compare of a number whose
/// last bits depend on the order of a sum (SIMD width, threads). A fixed number of decimals
/// keeps six significant digits of a kurtosis of 69, more than its rounding holds still.
fn significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

pub fn round_floats(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap();
            *v = serde_json::json!(significant(x, 4));
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(round_floats),
        serde_json::Value::Object(o) => o.values_mut().for_each(round_floats),
        _ => {}
    }
}
