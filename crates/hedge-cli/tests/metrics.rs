//! End-to-end tests of `hedge metrics`, `hedge calibrate`, the report and `bench metrics`:
//! no model needed.

mod common;

use std::path::Path;

use common::{hedge, round_floats};
use serde_json::Value;

/// Five answers scored by hand. Wrong answers (c = 0) have u = 0.35 and 0.8; right ones
/// 0.1, 0.4 and 0.7. AUROC = P(u_wrong > u_right) = 4 of the 6 pairs = 2/3.
const HAND: &str = r#"{"scores": {"u": 0.1, "neg": -0.1}, "correct": 1, "id": "a"}
{"scores": {"u": 0.4, "neg": -0.4}, "correct": 1}
{"scores": {"u": 0.35, "neg": -0.35}, "correct": 0}
{"scores": {"u": 0.8, "neg": -0.8}, "correct": false}
{"scores": {"u": 0.7, "neg": -0.7}, "correct": true}
"#;

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn metrics_json(args: &[&str]) -> (Value, std::process::Output) {
    let mut all = vec!["metrics", "--json"];
    all.extend_from_slice(args);
    let o = hedge(&all);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (v, o)
}

fn estimator<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["estimators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no estimator {name} in {summary}"))
}

#[test]
fn metrics_gives_the_auroc_and_prr_worked_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("hand.jsonl");
    std::fs::write(&input, HAND).unwrap();
    let (v, o) = metrics_json(&["--input", input.to_str().unwrap(), "--bootstrap", "0"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let u = estimator(&v, "u");
    assert!(
        (u["auroc"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12,
        "{u}"
    );
    // Sorted by u: c = 1, 0, 1, 1, 0. Q(k) = 1, 1/2, 2/3, 3/4, 3/5 → raw = 211/300;
    // oracle (1, 1, 1, 3/4, 3/5) = 261/300; random = mean c = 180/300 → PRR = 31/81.
    assert!(
        (u["prr"].as_f64().unwrap() - 31.0 / 81.0).abs() < 1e-12,
        "{u}"
    );
    let neg = estimator(&v, "neg");
    assert!((neg["auroc"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(v["estimators"][0]["name"], "u", "sorted by PRR, best first");
    assert_eq!(u["n"], 5);
    assert_eq!(u["accuracy"], 0.6);

    // The table says the same, best PRR first.
    let o = hedge(&[
        "metrics",
        "--input",
        input.to_str().unwrap(),
        "--bootstrap",
        "0",
    ]);
    let table = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert!(
        rows[0].starts_with("u ") && rows[0].contains("0.383  0.667"),
        "{table}"
    );
    assert!(rows[1].starts_with("neg "), "{table}");
}

#[test]
fn metrics_reports_bad_lines_by_number_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scored.jsonl");
    let text = HAND.replacen('\n', "\n{\"scores\": {\"u\": 1}}\nnot json\n", 1)
        + "{\"scores\": {\"u\": 0.2}, \"quality\": 7}\n";
    std::fs::write(&input, text).unwrap();
    let (v, o) = metrics_json(&["--input", input.to_str().unwrap(), "--bootstrap", "0"]);
    assert_eq!(o.status.code(), Some(1), "bad lines give exit code 1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("scored.jsonl:2: missing field \"correct\""),
        "{err}"
    );
    assert!(err.contains("scored.jsonl:3: not a JSON object"), "{err}");
    assert!(err.contains("scored.jsonl:8: \"quality\" must be"), "{err}");
    assert!(err.contains("skipped 3 bad lines"), "{err}");
    let u = estimator(&v, "u");
    assert_eq!(u["n"], 5, "the good lines still count");
    assert!((u["auroc"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(v["skipped_lines"], 3);
}

#[test]
fn metrics_summary_json_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = hedge(&[
        "metrics",
        "--input",
        &data("scored.jsonl"),
        "--out",
        out.to_str().unwrap(),
        "--bootstrap",
        "200",
        "--seed",
        "1",
        "--bins",
        "4",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    assert!(v["input"].as_str().unwrap().ends_with("scored.jsonl"));
    v["input"] = "[input]".into();
    round_floats(&mut v);
    insta::assert_json_snapshot!(v);
}

#[test]
fn report_is_self_contained_with_one_svg_per_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = hedge(&[
        "metrics",
        "--input",
        &data("scored.jsonl"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!page.contains("http://") && !page.contains("https://"));
    for external in ["<script", "<link", "<img", "<iframe", "@import", "url("] {
        assert!(!page.contains(external), "report holds {external}");
    }
    // 3 estimators × (reliability diagram, risk–coverage curve, histograms)
    assert_eq!(page.matches("<svg").count(), 9);
    assert_eq!(page.matches("</svg>").count(), 9);
    for title in [
        "reliability diagram",
        "risk–coverage",
        "uncertainty of right vs wrong answers",
    ] {
        let caption = format!(">\n{title}\n</text>");
        assert_eq!(page.matches(&caption).count(), 3, "{title}");
    }
    // the table comes first, sorted by PRR: msp's row before max_token_entropy's
    let table = &page[page.find("<table>").unwrap()..page.find("</table>").unwrap()];
    let at = |name: &str| table.find(&format!("#e-{name}\"")).unwrap();
    assert!(at("msp") < at("max_token_entropy"), "{table}");
}

#[test]
fn calibrate_writes_maps_that_metrics_applies() {
    let dir = tempfile::tempdir().unwrap();
    let scored = dir.path().join("s.jsonl");
    let cal = dir.path().join("cal.json");
    let o = hedge(&[
        "dev",
        "synthetic-scores",
        "--rows",
        "400",
        "--estimators",
        "2",
        "--out",
        scored.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = scored.to_str().unwrap();
    let o = hedge(&[
        "calibrate",
        "--input",
        s,
        "--method",
        "isotonic",
        "--estimator",
        "e1",
        "--out",
        cal.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("e1: isotonic"));
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&cal).unwrap()).unwrap();
    assert_eq!(file["method"], "isotonic");
    assert_eq!(file["maps"]["e1"]["method"], "isotonic");
    assert_eq!(file["rows"]["e1"], 400);
    assert!(
        file["maps"].get("e0").is_none(),
        "only the estimator asked for"
    );

    let (v, o) = metrics_json(&[
        "--input",
        s,
        "--bootstrap",
        "0",
        "--calibration",
        cal.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e1 = estimator(&v, "e1");
    assert_eq!(e1["confidence"], "calibration_file");
    assert_eq!(e1["calibration"], file["maps"]["e1"]);
    // isotonic on its own fitting data is perfectly calibrated per level: ECE ≈ 0
    assert!(e1["ece"].as_f64().unwrap() < 0.05, "{e1}");
    assert_eq!(estimator(&v, "e0")["confidence"], "platt_in_sample");

    let o = hedge(&[
        "calibrate",
        "--input",
        s,
        "--estimators",
        "msp",
        "--out",
        cal.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("msp is not in") && err.contains("e0, e1"),
        "{err}"
    );
    let o = hedge(&[
        "calibrate",
        "--input",
        s,
        "--method",
        "beta",
        "--out",
        "x.json",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("platt, isotonic, temperature"));
}

#[test]
fn bench_metrics_reports_both_sizes_and_their_ratio() {
    let o = hedge(&[
        "bench",
        "metrics",
        "--rows",
        "5000",
        "--estimators",
        "2",
        "--rounds",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"], serde_json::json!([500, 5000]));
    let c = v["compute_s_per_million"].as_array().unwrap();
    let ratio = c[1].as_f64().unwrap() / c[0].as_f64().unwrap();
    assert!((ratio - v["compute_ratio"].as_f64().unwrap()).abs() < 1e-9);
    assert!((v["nlogn_ratio"].as_f64().unwrap() - 5000f64.ln() / 500f64.ln()).abs() < 1e-12);
}

#[test]
fn help_documents_formats_and_the_default_confidence() {
    let o = hedge(&["metrics", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "\"scores\"",
        "\"correct\"",
        "\"quality\"",
        "--calibration",
        "Platt",
        "in-sample",
        "FILE:LINE",
    ] {
        assert!(help.contains(needle), "metrics --help lacks {needle}");
    }
    let o = hedge(&["eval", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "\"answers\"",
        "--split",
        "--no-chat",
        "items.jsonl",
        "Resumable",
        "--match",
    ] {
        assert!(help.contains(needle), "eval --help lacks {needle}");
    }
}
