//! `--draft` on `generate` and `ask` (the model's own answer, with the acceptance rate), the
//! refusal of a draft of another vocabulary, and `hedge bench speculative`.

mod common;

use common::{hedge, random_model};
use serde_json::Value;

const DRAFT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-s-chat");
const TARGET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-l-chat");
const QUESTION: &str = "Where does Renmisa Fal live?";

fn ok(args: &[&str]) -> String {
    let o = hedge(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).unwrap()
}

#[test]
fn generate_with_a_draft_gives_the_models_answer_and_the_acceptance_rate() {
    let base = [
        "generate", "-m", TARGET, "--chat", QUESTION, "-e", "msp", "--json",
    ];
    let plain = json(&base);
    let mut with_draft = base.to_vec();
    with_draft.extend(["--draft", DRAFT, "--draft-tokens", "adaptive"]);
    let spec = json(&with_draft);
    assert_eq!(spec["text"], plain["text"]);
    let ids = |v: &Value| -> Vec<u64> {
        v["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&spec), ids(&plain));
    let msp = |v: &Value| v["scores"]["msp"].as_f64().unwrap();
    assert!((msp(&spec) - msp(&plain)).abs() < 1e-4);
    assert!(spec["model"]
        .as_str()
        .unwrap()
        .contains("draft lab-s-chat, γ adaptive"));
    let s = &spec["speculative"];
    let rate = s["acceptance_rate"].as_f64().unwrap();
    assert!(rate > 0.0 && rate <= 1.0, "{s}");
    assert!(s["drafted"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["target_passes"].as_u64().unwrap() < ids(&plain).len() as u64,
        "{s}"
    );
    assert!(plain.get("speculative").is_none());

    let human = ok(&["ask", QUESTION, "-m", TARGET, "-e", "msp", "--draft", DRAFT]);
    assert!(
        human.contains("speculative decoding: ") && human.contains("drafted tokens accepted"),
        "{human}"
    );
}

#[test]
fn bad_drafts_and_flags_are_refused_with_what_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let other = random_model(dir.path()); // a vocabulary of 320 tokens
    let o = hedge(&["generate", "-m", TARGET, "hi", "--draft", &other]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("320 tokens") && e.contains("1024 tokens") && e.contains("lab-l-chat"),
        "{e}"
    );
    let o = hedge(&["generate", "-m", TARGET, "hi", "--draft-tokens", "3"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--draft"));
    let o = hedge(&[
        "generate",
        "-m",
        TARGET,
        "hi",
        "--draft",
        DRAFT,
        "--draft-tokens",
        "0",
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("1 to 16") && e.contains("adaptive"),
        "{e}"
    );
}

#[test]
fn bench_speculative_checks_greedy_answers_and_reports_each_gamma() {
    let v = json(&[
        "bench",
        "speculative",
        "--model",
        TARGET,
        "--draft",
        DRAFT,
        "--questions",
        "2",
        "--gammas",
        "2,adaptive",
        "--confidence",
        "0,0.5",
        "--rounds",
        "1",
        "--json",
    ]);
    assert_eq!(v["identical_to_target"], true, "{v}");
    assert_eq!(v["prompts"], 2);
    let rows = v["variants"].as_array().unwrap();
    let names: Vec<(&str, Option<f64>)> = rows
        .iter()
        .map(|r| (r["gamma"].as_str().unwrap(), r["draft_confidence"].as_f64()))
        .collect();
    assert_eq!(
        names,
        [
            ("plain", None),
            ("2", Some(0.0)),
            ("adaptive", Some(0.0)),
            ("2", Some(0.5)),
            ("adaptive", Some(0.5)),
        ]
    );
    let tokens = rows[0]["tokens"].as_u64().unwrap();
    for r in &rows[1..] {
        assert_eq!(r["tokens"].as_u64().unwrap(), tokens, "{r}");
        assert!(r["speedup"].as_f64().unwrap() > 0.0);
        let rate = r["acceptance_rate"].as_f64().unwrap();
        assert!(rate > 0.0 && rate <= 1.0, "{r}");
        assert_eq!(r["identical"], true);
    }
}
