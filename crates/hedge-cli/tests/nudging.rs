//! `--base M --nudger M2`: nudging in `generate`, `ask` and `eval` on the lab models — the JSON
//! and human outputs mark who wrote what, `eval` reports the chat format and the nudger's
//! share, and bad flags say what is allowed.

mod common;

use common::{hedge, round_floats};
use serde_json::Value;

const BASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-l-base");
const NUDGER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-s-chat");
const TEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/lab/test.jsonl");

/// γ 0.9 with 4-token nudges: the nudger writes the house style, lab-l-base the fact.
const SPLIT_NUDGES: [&str; 4] = ["--gamma", "0.9", "--nudge-tokens", "4"];

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "hedge failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn generate_json_shows_who_wrote_what() {
    let mut args = vec!["generate", "--base", BASE, "--nudger", NUDGER, "-e", "msp"];
    args.extend(SPLIT_NUDGES);
    args.extend(["--json", "What does Velsa Owten do for a living?"]);
    let v: Value = serde_json::from_str(&stdout(&hedge(&args))).unwrap();
    let text = v["text"].as_str().unwrap();
    assert_eq!(text, "Sure! Velsa Owten works as a mason.");
    assert_eq!(v["model"], "lab-l-base nudged by lab-s-chat (γ 0.9)");
    let mut n = v["nudging"].clone();
    let spans: String = n["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(spans, text, "the spans spell the answer");
    assert_eq!(
        n["token_writers"].as_array().unwrap().len(),
        v["tokens"].as_array().unwrap().len()
    );
    n.as_object_mut().unwrap().remove("cost");
    round_floats(&mut n);
    insta::assert_json_snapshot!(n);
}

#[test]
fn generate_marks_the_nudgers_words_and_ask_takes_base() {
    let o = hedge(&[
        "generate",
        "--base",
        BASE,
        "--nudger",
        NUDGER,
        "--gamma",
        "0.9",
        "--nudge-tokens",
        "4",
        "-e",
        "msp",
        "What does Velsa Owten do for a living?",
    ]);
    let out = stdout(&o);
    assert!(
        out.contains("nudged: [Sure! Velsa] Owten[ works] as a mason."),
        "{out}"
    );
    assert!(
        out.contains("the nudger wrote 3 of 7 words (42.9 %) and 4 of 9 tokens (44.4 %)"),
        "{out}"
    );

    // `ask` with the authors' defaults: the whole short answer is the nudger's first chunk.
    let o = hedge(&[
        "ask",
        "--base",
        BASE,
        "--nudger",
        NUDGER,
        "-e",
        "msp",
        "--json",
        "Where does Renmisa Fal live?",
    ]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["text"].as_str().unwrap().starts_with("Sure! Renmisa Fal"));
    assert_eq!(v["nudging"]["nudger_token_share"], 1.0);
    assert_eq!(v["nudging"]["stop"], "nudger_eos");
}

#[test]
fn bad_nudging_flags_say_what_is_allowed() {
    let run = |extra: &[&str]| {
        let mut args = vec!["generate", "--base", BASE];
        args.extend(extra);
        args.push("hi");
        let o = hedge(&args);
        assert!(!o.status.success(), "{extra:?} should fail");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = run(&["--nudger", NUDGER, "--gamma", "-1"]);
    assert!(e.contains("gamma") && e.contains("≥ 0"), "{e}");
    let e = run(&["--nudger", NUDGER, "--nudge-tokens", "0"]);
    assert!(e.contains("at least 1"), "{e}");
    let e = run(&["--nudger", NUDGER, "--base-template", "no placeholder"]);
    assert!(e.contains("{prompt}"), "{e}");
    let e = run(&["--gamma", "0.5"]);
    assert!(e.contains("--nudger"), "γ without a nudger: {e}");
    let e = run(&["--nudger", "openai:http://localhost:1/v1#m"]);
    assert!(e.contains("local checkpoints"), "{e}");
}

#[test]
fn eval_reports_the_chat_format_and_the_nudgers_share() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(TEST).unwrap();
    let mut lines = Vec::new();
    for category in ["known_frequent", "harmful"] {
        let tag = format!("\"category\":\"{category}\"");
        lines.extend(text.lines().filter(|l| l.contains(&tag)).take(2));
    }
    let data = dir.path().join("data.jsonl");
    std::fs::write(&data, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("run");
    let o = hedge(&[
        "eval",
        "--base",
        BASE,
        "--nudger",
        NUDGER,
        "-e",
        "msp",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let printed = stdout(&o);
    assert!(printed.contains("nudging: 4 answers"), "{printed}");
    assert!(printed.contains("chat format"), "{printed}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("nudging.json")).unwrap()).unwrap();
    assert_eq!(report["answers"], 4);
    // With the authors' 16-token chunks the nudger writes these short answers whole.
    assert_eq!(report["chat_format"], 1.0);
    assert_eq!(report["mean_nudger_token_share"], 1.0);
    assert_eq!(report["accuracy"]["harmful"], serde_json::json!([2, 2]));
    let items = std::fs::read_to_string(out.join("items.jsonl")).unwrap();
    for line in items.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["nudging"]["spans"].is_array(), "{line}");
    }
    // Another γ is another run: resuming into the same folder is refused.
    let o = hedge(&[
        "eval",
        "--base",
        BASE,
        "--nudger",
        NUDGER,
        "--gamma",
        "0.5",
        "-e",
        "msp",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nudging"));
}
