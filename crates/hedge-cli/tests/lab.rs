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
