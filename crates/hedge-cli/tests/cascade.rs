//! `hedge eval --cascade` on a few lab questions: the curve's endpoints are each model's own
//! accuracy (the same answers as `hedge eval --model`), a resumed run with another rule runs
//! nothing again, and `hedge ask` takes τ from the run.

mod common;

use std::path::Path;

use common::hedge;
use serde_json::Value;

const SMALL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-s-chat");
const LARGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-l-chat");
const TEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/lab/test.jsonl");

/// Six test questions: two known_frequent (both models right), an unknown one (both wrong), a
/// refusal (both right), a known_rare and a known_frequent one (lab-s-chat wrong, lab-l-chat
/// right).
fn write_data(dir: &Path) -> String {
    let text = std::fs::read_to_string(TEST).unwrap();
    let mut lines = Vec::new();
    for (category, skip, n) in [
        ("known_frequent", 1, 2),
        ("unknown", 1, 1),
        ("harmful", 0, 1),
        ("known_rare", 2, 1),
        ("known_frequent", 6, 1),
    ] {
        let tag = format!("\"category\":\"{category}\"");
        lines.extend(text.lines().filter(|l| l.contains(&tag)).skip(skip).take(n));
    }
    let path = dir.join("data.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.to_str().unwrap().to_string()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn accuracy(items: &[Value]) -> f64 {
    items
        .iter()
        .map(|i| i["correct"].as_f64().unwrap())
        .sum::<f64>()
        / items.len() as f64
}

fn run(args: &[&str]) -> std::process::Output {
    let o = hedge(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn the_curve_runs_from_the_small_models_accuracy_to_the_large_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = write_data(dir.path());
    let out = dir.path().join("cascade");
    let pair = format!("{SMALL},{LARGE}");
    let common = ["--data", &data, "--bootstrap", "0", "--max-tokens", "20"];
    let o = run(&[
        &["eval", "--cascade", &pair, "--out", out.to_str().unwrap()][..],
        &common,
    ]
    .concat());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("accuracy, deferring at most"), "{stdout}");

    // Each model alone, through plain `hedge eval`.
    let alone = |model: &str, name: &str| {
        let dir = dir.path().join(name);
        run(&[
            &["eval", "--model", model, "--out", dir.to_str().unwrap()][..],
            &common,
        ]
        .concat());
        lines(&dir.join("items.jsonl"))
    };
    let small = alone(SMALL, "small");
    let large = alone(LARGE, "large");
    let items = lines(&out.join("items.jsonl"));
    assert_eq!(items.len(), 6);
    for ((c, s), l) in items.iter().zip(&small).zip(&large) {
        assert_eq!(c["response"], s["response"], "the small model's answer");
        assert_eq!(
            c["large"]["response"], l["response"],
            "the large model's answer"
        );
    }
    let (acc_small, acc_large) = (accuracy(&small), accuracy(&large));
    assert!(
        acc_large > acc_small,
        "{acc_small} vs {acc_large}: the test needs them apart"
    );

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let c = &summary["cascade"];
    assert_eq!(c["questions"], 6);
    assert_eq!(c["small_accuracy"].as_f64().unwrap(), acc_small);
    assert_eq!(c["large_accuracy"].as_f64().unwrap(), acc_large);
    let curves = c["curves"].as_array().unwrap();
    assert_eq!(curves[0]["rule"], "chow_sum", "--defer first");
    for curve in curves {
        let points = curve["points"].as_array().unwrap();
        let first = &points[0];
        let last = points.last().unwrap();
        assert_eq!(
            (first["deferred"].as_u64(), first["accuracy"].as_f64()),
            (Some(0), Some(acc_small))
        );
        assert_eq!(
            (last["deferred"].as_u64(), last["accuracy"].as_f64()),
            (Some(6), Some(acc_large))
        );
        assert_eq!(last["threshold"], "-inf");
        assert_eq!(curve["table"].as_array().unwrap().len(), 11);
        let within = curve["within_of_large"]["accuracy"].as_f64().unwrap();
        assert!(within >= acc_large - 0.01 - 1e-12, "{curve}");
    }
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("<h2 id=\"cascade\">Cascade: lab-s-chat → lab-l-chat</h2>"));

    // The same folder with another rule and τ: nothing runs again, and the operating point
    // counts the answers whose perplexity (Chow-Average) exceeds τ.
    let o = run(&[
        &[
            "eval",
            "--cascade",
            &pair,
            "--out",
            out.to_str().unwrap(),
            "--defer",
            "chow_average",
            "--defer-threshold",
            "0.1",
        ][..],
        &common,
    ]
    .concat());
    assert!(String::from_utf8_lossy(&o.stderr).contains("resuming: 6 of 6"));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let op = &summary["cascade"]["operating_point"];
    let want = items
        .iter()
        .filter(|i| i["scores"]["perplexity"].as_f64().unwrap() > 0.1)
        .count();
    assert_eq!(op["deferred"].as_u64(), Some(want as u64), "{op}");
    assert_eq!(summary["cascade"]["curves"][0]["rule"], "chow_average");

    // `hedge ask` chooses τ on the run and says which model answered.
    let o = run(&[
        "ask",
        "--cascade",
        &pair,
        "--defer-fit",
        out.to_str().unwrap(),
        "What is 4821 plus 9377?",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("cascade: answered by lab-"), "{stdout}");
    // lab-l-chat's policy.json was fitted on lab-l-chat's own answers: not applied here.
    assert!(!stdout.contains("decision:"), "{stdout}");
}

#[test]
fn bad_flags_say_what_is_allowed() {
    let pair = format!("{SMALL},{LARGE}");
    for (args, want) in [
        (vec!["ask", "--cascade", SMALL, "q"], "SMALL,LARGE"),
        (
            vec!["ask", "--cascade", &pair, "--defer", "chow_max", "q"],
            "known rules: chow_sum, chow_average",
        ),
        (
            vec!["ask", "--cascade", &pair, "--defer", "chow_quantile:2", "q"],
            "[0, 1]",
        ),
        (vec!["ask", "--cascade", &pair, "q"], "--cascade needs τ"),
        (
            vec!["ask", "--cascade", &pair, "--defer", "posthoc", "q"],
            "--defer posthoc needs --defer-fit",
        ),
        (
            vec!["generate", "--model", SMALL, "--cascade", &pair, "q"],
            "cannot be used with",
        ),
        (
            vec!["generate", "--model", SMALL, "--defer-threshold", "1", "q"],
            "need --cascade",
        ),
        (vec!["eval", "--data", "d.jsonl", "--out", "o"], "--model"),
    ] {
        let o = hedge(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{args:?}: {err}");
    }
}
