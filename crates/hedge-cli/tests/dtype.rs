//! `--dtype`: a bf16 checkpoint kept in bf16 answers exactly as when widened to f32 at load.

mod common;

use common::hedge;

const CONFIG: &str = r#"{"model_type": "llama", "vocab_size": 320, "hidden_size": 72,
  "intermediate_size": 100, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-5}"#;

fn bf16_model(dir: &std::path::Path) -> String {
    let cfg = dir.join("config-in.json");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = dir.join("model");
    let (cfg, out_s) = (cfg.to_str().unwrap(), out.to_str().unwrap());
    let o = hedge(&[
        "dev",
        "random-model",
        "--config",
        cfg,
        "--out",
        out_s,
        "--dtype",
        "bf16",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("in bf16"));
    out_s.to_string()
}

#[test]
fn bf16_storage_generates_what_f32_widening_generates() {
    let dir = tempfile::tempdir().unwrap();
    let model = bf16_model(dir.path());
    let run = |dtype: &str| {
        let o = hedge(&[
            "generate",
            "-m",
            &model,
            "--dtype",
            dtype,
            "--json",
            "--max-tokens",
            "10",
            "--top-logprobs",
            "3",
            "hello world",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let (auto, f32) = (run("auto"), run("f32"));
    assert_eq!(auto["tokens"].as_array().map(Vec::len), Some(10));
    // Same ids, logprobs, entropies and scores, to the last bit.
    assert_eq!(auto, f32);
    assert_eq!(auto, run("bf16"));
}

#[test]
fn bench_decode_compares_two_dtypes_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = bf16_model(dir.path());
    let o = hedge(&[
        "bench",
        "decode",
        "-m",
        &model,
        "--prompt-tokens",
        "8",
        "--new-tokens",
        "4",
        "--rounds",
        "1",
        "--compare-dtype",
        "f32",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dtypes: Vec<&str> = lines.iter().map(|l| l["dtype"].as_str().unwrap()).collect();
    assert_eq!(dtypes, ["bf16", "f32"]);
    assert!(lines.iter().all(|l| l["decode_tok_s"].as_f64() > Some(0.0)));
}

#[test]
fn a_bad_dtype_lists_the_allowed_ones() {
    let o = hedge(&["generate", "-m", "nowhere", "--dtype", "int8", "hi"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("int8") && err.contains("bf16"), "{err}");
}
