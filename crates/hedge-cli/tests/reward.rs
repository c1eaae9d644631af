//! `--guide` / `--reward` in generate and eval, and `hedge bench reward`, on a random-weight
//! model written by the test.

mod common;

use std::path::Path;
use std::process::Output;

use common::{hedge, random_model};
use serde_json::Value;

fn ok_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn generate(model: &str, extra: &[&str]) -> Value {
    let mut args = vec!["generate", "--model", model, "--max-tokens", "6", "--json"];
    args.extend_from_slice(extra);
    args.push("Hello there");
    ok_json(&hedge(&args))
}

#[test]
fn generate_shows_the_final_answer_s_reward() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let plain = generate(&model, &[]);
    assert!(plain.get("reward").is_none());
    // ARGS with w = 0 writes the plain greedy answer; the reward of it is reported.
    let args = generate(
        &model,
        &[
            "--guide",
            "args",
            "--reward",
            "keywords:e,a",
            "--reward-weight",
            "0",
        ],
    );
    assert_eq!(args["text"], plain["text"]);
    assert_eq!(args["reward"]["guide"], "args");
    let text = plain["text"].as_str().unwrap().to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .collect();
    let want = ["e", "a"].iter().filter(|k| words.contains(k)).count() as f64 / 2.0;
    assert_eq!(args["reward"]["reward"].as_f64().unwrap(), want);
    assert!(args["reward"]["reward_calls"].as_u64().unwrap() >= 10);
    // Without --guide the plain answer's reward is only shown.
    let shown = generate(&model, &["--reward", "length:3"]);
    assert_eq!(shown["text"], plain["text"]);
    assert_eq!(shown["reward"]["guide"], "plain");
    assert!(shown["reward"]["reward"].as_f64().unwrap() <= 0.0);
    // DeAL and Transfer Q* run, and their answers carry their reward.
    for guide in ["deal", "tq"] {
        let v = generate(
            &model,
            &[
                "--guide",
                guide,
                "--reward",
                "length:2",
                "--deal-iterations",
                "2",
            ],
        );
        assert_eq!(v["reward"]["guide"], guide);
        assert!(v["reward"]["reward"].as_f64().unwrap().is_finite());
    }
    // A reward model folder: its score of (prompt, answer), as the library reads it.
    let rm = dir.path().join("rm");
    hedge_engine::write_random_reward_model(&rm, "bert", 1).unwrap();
    let spec = format!("model:{}", rm.display());
    let v = generate(
        &model,
        &["--guide", "args", "--reward", &spec, "--guide-top-k", "3"],
    );
    let text = v["text"].as_str().unwrap();
    let want = hedge_engine::RewardModel::load(&rm, None)
        .unwrap()
        .rewards(&[("Hello there", text)])
        .unwrap()[0];
    assert!((v["reward"]["reward"].as_f64().unwrap() - want).abs() < 1e-6);
    // The text output says it in words.
    let o = hedge(&[
        "generate",
        "--model",
        &model,
        "--max-tokens",
        "4",
        "--guide",
        "deal",
        "--reward",
        "keywords:e",
        "Hi",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("of keywords:e, deal decoding"), "{out}");
}

#[test]
fn bad_reward_flags_say_what_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    for (extra, want) in [
        (vec!["--reward", "colour:teal"], "unknown reward"),
        (vec!["--guide", "deal"], "--reward"),
        (
            vec!["--reward", "keywords:a", "--reward-perturb", "3"],
            "--reward-lambda",
        ),
        (
            vec![
                "--guide",
                "deal",
                "--reward",
                "keywords:a",
                "--deal-top-k",
                "9",
            ],
            "top_k cannot exceed init_beams",
        ),
        (
            vec!["--reward", "keywords:a", "--reward-lambda", "1"],
            "M ≥ 2 evaluations",
        ),
        (
            vec!["--guide", "args", "--reward", "model:/no/such/reward-model"],
            "/no/such/reward-model",
        ),
    ] {
        let mut args = vec!["generate", "--model", &model, "--max-tokens", "3"];
        args.extend_from_slice(&extra);
        args.push("Hi");
        let o = hedge(&args);
        assert!(!o.status.success(), "{extra:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{extra:?}: {err}");
    }
}

fn write_questions(path: &Path, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(r#"{{"id": {i}, "question": "Question number {i}?", "answers": ["e"], "split": "test"}}"#)
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

#[test]
fn eval_keeps_each_answer_s_reward_and_the_guide_in_run_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let data = dir.path().join("q.jsonl");
    write_questions(&data, 3);
    let out = dir.path().join("run");
    let run = |guide: &str| {
        hedge(&[
            "eval",
            "--model",
            &model,
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--max-tokens",
            "4",
            "--guide",
            guide,
            "--reward",
            "keywords:e",
        ])
    };
    let o = run("args");
    assert!(
        o.status.code() == Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let items: Vec<Value> = std::fs::read_to_string(out.join("items.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 3);
    for item in &items {
        assert_eq!(item["reward"]["guide"], "args");
        let r = item["reward"]["reward"].as_f64().unwrap();
        assert!(r == 0.0 || r == 1.0, "{r}");
    }
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert!(
        settings["reward"]
            .as_str()
            .unwrap()
            .starts_with("args (top_k 10, w 1): keywords:e"),
        "{settings}"
    );
    // Resuming under another decoder would mix answers: refused.
    let o = run("deal");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("reward"));
}

#[test]
fn bench_reward_measures_every_method_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let data = dir.path().join("q.jsonl");
    write_questions(&data, 3);
    let v = ok_json(&hedge(&[
        "bench",
        "reward",
        "--model",
        &model,
        "--reward",
        "keywords:e",
        "--data",
        data.to_str().unwrap(),
        "--max-tokens",
        "4",
        "--deal-iterations",
        "1",
        "--tq-rollout",
        "2",
        "--json",
    ]));
    assert_eq!(v["bench"], "reward");
    assert_eq!(
        (v["prompts"].as_u64(), v["meet"].as_f64()),
        (Some(3), Some(1.0))
    );
    let methods = v["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["plain", "deal", "args", "tq"]);
    for m in methods {
        let share = m["share_met"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&share));
        assert_eq!(share * 3.0, m["met"].as_f64().unwrap());
        assert!(m["tok_s"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(methods[0]["slowdown"].as_f64(), Some(1.0));
    assert_eq!(methods[0]["reward_texts_per_token"].as_f64(), Some(0.0));
    assert!(methods[2]["reward_texts_per_token"].as_f64().unwrap() >= 10.0);
    // A reward model has no maximum: --meet is needed.
    let o = hedge(&[
        "bench",
        "reward",
        "--model",
        &model,
        "--reward",
        "model:/x",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--meet"));
}

#[test]
fn help_teaches_the_reward_flags() {
    let o = hedge(&["generate", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    for want in [
        "--guide <deal|args|tq>",
        "keywords:A,B",
        "--reward-lambda",
        "mean − λ·std",
        "--deal-lookahead",
        "--tq-rollout",
    ] {
        assert!(help.contains(want), "{want}");
    }
}
