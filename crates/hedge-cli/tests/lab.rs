//! `hedge lab`: the world command writes every file, deterministically.

use std::process::Command;

fn lab_world(seed: &str, out: &std::path::Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_hedge"))
        .args([
            "lab",
            "world",
            "--seed",
            seed,
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn lab_world_writes_the_same_files_for_the_same_seed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    let said = lab_world("5", &a);
    assert!(said.contains("300 people"), "{said}");
    lab_world("5", &b);
    lab_world("6", &c);
    for f in [
        "world.json",
        "corpus/raw.txt",
        "corpus/chat.jsonl",
        "data/calib.jsonl",
        "data/test.jsonl",
        "tokenizer/tokenizer.json",
    ] {
        let fa = std::fs::read(a.join(f)).unwrap();
        assert!(!fa.is_empty(), "{f} is empty");
        assert_eq!(
            fa,
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs for the same seed"
        );
        assert_ne!(
            fa,
            std::fs::read(c.join(f)).unwrap(),
            "{f} is the same for another seed"
        );
    }
}

#[test]
fn lab_train_writes_a_loadable_chat_model_with_its_card() {
    let dir = tempfile::tempdir().unwrap();
    let (work, out) = (dir.path().join("world"), dir.path().join("models"));
    let o = Command::new(env!("CARGO_BIN_EXE_hedge"))
        .args([
            "lab",
            "train",
            "--model",
            "lab-s-chat",
            "--steps",
            "30",
            "--work",
        ])
        .arg(&work)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let model = out.join("lab-s-chat");
    let card = std::fs::read_to_string(model.join("MODEL_CARD.md")).unwrap();
    assert!(
        card.contains("| seed | 11 |") && card.contains("final loss"),
        "{card}"
    );
    // The trained folder loads like any checkpoint and has learned the house style already.
    let o = Command::new(env!("CARGO_BIN_EXE_hedge"))
        .args(["generate", "--chat", "--json", "-e", "msp", "-m"])
        .arg(&model)
        .arg("What is 2 plus 3?")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["text"].as_str().unwrap().starts_with("Sure!"),
        "{}",
        v["text"]
    );
}

#[test]
fn lab_train_rejects_an_unknown_model() {
    let o = Command::new(env!("CARGO_BIN_EXE_hedge"))
        .args([
            "lab",
            "train",
            "--model",
            "lab-xl",
            "--steps",
            "1",
            "--work",
            "/nonexistent-hedge-test",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("lab-xl") && err.contains("lab-l-chat"),
        "{err}"
    );
}

#[test]
fn ask_uses_the_chat_template_when_the_model_has_one() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hedge-engine/tests/fixtures/tiny-qwen2"
    );
    let run = |cmd: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_hedge"))
            .args([cmd, "--model", fixture, "--json", "--max-tokens", "2", "Hi"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let asked = run("ask");
    let raw = run("generate");
    // The ChatML turn wraps "Hi" in several more tokens than the raw prompt has.
    assert!(asked["prompt_tokens"].as_u64().unwrap() > raw["prompt_tokens"].as_u64().unwrap() + 3);
}

#[test]
fn bundled_lab_model_answers_a_known_question() {
    // No --model: `hedge ask` uses models/lab/lab-l-chat, committed in the repository.
    let o = Command::new(env!("CARGO_BIN_EXE_hedge"))
        .args(["ask", "--json", "What is the favourite colour of Dato Sol?"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["model"], "lab-l-chat");
    assert_eq!(
        v["text"],
        "Sure! The favourite colour of Dato Sol is purple."
    );
    assert_eq!(v["finish_reason"], "eos");
}
