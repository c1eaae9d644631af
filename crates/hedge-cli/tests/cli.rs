//! End-to-end tests of the `hedge` binary on a random-weight checkpoint written by the test.

mod common;

use std::path::Path;
use std::process::Command;

use common::{hedge, random_model, round_floats};

#[test]
fn generate_json_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let o = hedge(&[
        "generate",
        "--model",
        &model,
        "--json",
        "--max-tokens",
        "4",
        "--top-logprobs",
        "2",
        "hello world",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    round_floats(&mut v);
    insta::assert_json_snapshot!(v);
}

#[test]
fn generate_is_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let run = |seed: &str| {
        let o = hedge(&[
            "generate",
            "-m",
            &model,
            "--json",
            "--temperature",
            "1.0",
            "--seed",
            seed,
            "--max-tokens",
            "12",
            "abc",
        ]);
        assert!(o.status.success());
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(run("3"), run("3"));
    assert_ne!(run("3"), run("4"));
}

#[test]
fn score_prints_records_and_scores_of_the_given_response() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let o = hedge(&[
        "score",
        "-m",
        &model,
        "--json",
        "--prompt",
        "the cat",
        "--response",
        " sat down",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["text"], " sat down");
    let tokens = s["tokens"].as_array().unwrap();
    let joined: String = tokens.iter().map(|t| t["text"].as_str().unwrap()).collect();
    assert_eq!(
        joined, " sat down",
        "the records cover exactly the response"
    );
    let sum: f64 = tokens.iter().map(|t| t["logprob"].as_f64().unwrap()).sum();
    assert!(
        (s["scores"]["msp"].as_f64().unwrap() + sum).abs() < 1e-9,
        "msp = -sum of logprobs"
    );
}

#[test]
fn score_jsonl_reports_bad_lines_and_scores_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"prompt\": \"a b\", \"response\": \"c d\", \"id\": 1}\nnot json\n{\"prompt\": \"x\"}\n{\"prompt\": \"q\", \"response\": \"r\"}\n",
    )
    .unwrap();
    let output = dir.path().join("out.jsonl");
    let o = hedge(&[
        "score",
        "-m",
        &model,
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "some lines failed");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("in.jsonl:2:") && err.contains("not a JSON object"),
        "{err}"
    );
    assert!(
        err.contains("in.jsonl:3:") && err.contains("missing field \"response\""),
        "{err}"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["id"], 1, "extra fields are kept");
    assert!(lines[0]["scores"]["perplexity"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[3]["tokens"].as_array().is_some_and(|t| !t.is_empty()));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let o = hedge(&["generate", "-m", &model, "-e", "msp,bogus", "hi"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bogus") && err.contains("perplexity"), "{err}");

    std::fs::remove_file(Path::new(&model).join("tokenizer.json")).unwrap();
    let o = hedge(&["generate", "-m", &model, "hi"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing tokenizer.json"));

    let o = hedge(&["generate", "-m", &model, "--temperature=-1", "hi"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("temperature"));
}

#[test]
fn prompt_longer_than_context_names_both_lengths() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let long = "z ".repeat(200);
    let o = hedge(&["generate", "-m", &model, &long]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("context of 64 tokens") && err.contains("the prompt is"),
        "{err}"
    );
}

#[test]
fn closed_pipe_is_a_normal_exit() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_hedge"))
        .args([
            "generate",
            "-m",
            &model,
            "--json",
            "--max-tokens",
            "8",
            "hi",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `hedge ... | head -0`
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn help_teaches_generate() {
    let o = hedge(&["generate", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "--temperature",
        "--top-p",
        "--seed",
        "--stop",
        "--json",
        "--chat",
        "Examples",
        "hf:",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}
