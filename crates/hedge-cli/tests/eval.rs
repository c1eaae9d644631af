//! End-to-end tests of `hedge eval` on a random-weight model written by the test.

mod common;

use std::path::Path;

use common::{hedge, random_model};
use serde_json::Value;

fn item(id: u32, split: &str) -> String {
    format!(
        "{{\"id\": {id}, \"question\": \"q{id} what is {id}?\", \"answers\": [\"{id}\"], \
         \"split\": \"{split}\", \"source\": \"test\"}}\n"
    )
}

fn eval(model: &str, data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "eval",
        "--model",
        model,
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--max-tokens",
        "3",
        "--bootstrap",
        "20",
    ];
    args.extend_from_slice(extra);
    hedge(&args)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn eval_writes_every_output_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let data = dir.path().join("d.jsonl");
    let out = dir.path().join("run");
    std::fs::write(&data, (1..=4).map(|i| item(i, "test")).collect::<String>()).unwrap();
    let o = eval(&model, &data, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = lines(&out.join("items.jsonl"));
    assert_eq!(first.len(), 4);
    for (i, line) in first.iter().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["id"], i + 1);
        assert_eq!(v["question"], format!("q{} what is {}?", i + 1, i + 1));
        assert_eq!(v["answers"][0], (i + 1).to_string(), "gold answers kept");
        assert_eq!(v["source"], "test", "extra fields kept");
        assert!(v["response"].is_string());
        assert!(v["correct"] == 0 || v["correct"] == 1);
        assert!(v["scores"]["msp"].is_number() || v["scores"]["msp"].is_null());
        assert_eq!(v["scores"].as_object().unwrap().len(), 9, "every estimator");
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["rows"], 4);
    assert_eq!(summary["match"], "contains");
    assert_eq!(
        summary["chat"], true,
        "the random model has a chat template"
    );
    assert_eq!(summary["estimators"].as_array().unwrap().len(), 9);
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(page.matches("<svg").count(), 27);
    assert!(!page.contains("http://") && !page.contains("https://"));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.starts_with("4 answers, accuracy"), "{table}");

    // One more item: only it runs, and the first lines stay as they were.
    std::fs::write(&data, (1..=5).map(|i| item(i, "test")).collect::<String>()).unwrap();
    let o = eval(&model, &data, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("resuming: 4 of 5 items already in"), "{err}");
    let second = lines(&out.join("items.jsonl"));
    assert_eq!(second.len(), 5);
    assert_eq!(&second[..4], &first[..]);
    let v: Value = serde_json::from_str(&second[4]).unwrap();
    assert_eq!(v["id"], 5);

    // Nothing left to do: nothing added, the summary is still written.
    let o = eval(&model, &data, &out, &[]);
    assert!(o.status.success());
    assert_eq!(lines(&out.join("items.jsonl")), second);

    // Other settings are refused rather than mixed into the same items.jsonl.
    let o = eval(&model, &data, &out, &["--match", "exact"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("other settings") && err.contains("match: \"contains\" then, \"exact\" now"),
        "{err}"
    );
}

#[test]
fn eval_split_keeps_only_that_split_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model(dir.path());
    let data = dir.path().join("d.jsonl");
    let out = dir.path().join("run");
    let text = [
        item(1, "calib"),
        item(2, "test"),
        "{\"id\": 9, \"question\": \"no answers\"}\n".to_string(),
        item(3, "calib"),
        item(4, "test"),
        item(2, "test"), // duplicate id
        format!(
            "{{\"id\": 5, \"question\": \"{}\", \"answers\": [], \"split\": \"test\"}}\n",
            "z ".repeat(100)
        ),
    ]
    .concat();
    std::fs::write(&data, text).unwrap();
    let o = eval(
        &model,
        &data,
        &out,
        &["--split", "test", "-e", "msp,perplexity", "--no-chat"],
    );
    assert_eq!(o.status.code(), Some(1), "bad lines give exit code 1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("d.jsonl:3: missing field \"answers\""),
        "{err}"
    );
    assert!(
        err.contains("d.jsonl:6: duplicate id 2 (first on line 2)"),
        "{err}"
    );
    assert!(
        err.contains("d.jsonl:7: id 5: ") && err.contains("context of 64 tokens"),
        "a prompt too long for the model is reported and skipped: {err}"
    );
    assert!(err.contains("skipped 3 items"), "{err}");
    let items: Vec<Value> = lines(&out.join("items.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&Value> = items.iter().map(|v| &v["id"]).collect();
    assert_eq!(ids, [2, 4]);
    assert!(items.iter().all(|v| v["split"] == "test"));
    assert_eq!(items[0]["scores"].as_object().unwrap().len(), 2);
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["split"], "test");
    assert_eq!(run["chat"], false);

    // --limit counts items of the split, done or not.
    let out2 = dir.path().join("run2");
    let o = eval(&model, &data, &out2, &["--split", "calib", "--limit", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(lines(&out2.join("items.jsonl")).len(), 1);
}
