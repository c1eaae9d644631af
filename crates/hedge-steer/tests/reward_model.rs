//! The reward-model interface on random-weight sequence classifiers written by the test: a
//! BERT and a RoBERTa folder load and score (prompt, text) pairs, one at a time as in a batch;
//! a wrong folder is named in the error; and a reward model guides ARGS.

use hedge_engine::{
    write_random_reward_model, Backend, GenerationRequest, LocalModel, RewardModel,
};
use hedge_steer::reward::argsearch::ArgsParams;
use hedge_steer::reward::{Guide, ModelReward, Reward, RewardGuided, RewardLog, RewardSpec};

fn folder(model_type: &str, seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_random_reward_model(dir.path(), model_type, seed).unwrap();
    dir
}

#[test]
fn random_reward_models_load_and_score_pairs() {
    for kind in ["bert", "roberta"] {
        let dir = folder(kind, 3);
        let rm = ModelReward::load(dir.path(), None).unwrap();
        let texts: Vec<String> = [
            "Sure! Renmisa Fal lives in Lorwick.",
            "I don't know.",
            "Sure! 27 plus 58 is 85.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let q = "Where does Renmisa Fal live?";
        let batch = rm.rewards(q, &texts).unwrap();
        assert_eq!(batch.len(), 3);
        assert!(batch.iter().all(|r| r.is_finite()), "{kind}: {batch:?}");
        for (t, &b) in texts.iter().zip(&batch) {
            let alone = rm.reward(q, t).unwrap();
            assert!(
                (alone - b).abs() < 1e-5,
                "{kind}: alone {alone} vs batch {b}"
            );
        }
        assert!(
            (batch[0] - batch[1]).abs() > 1e-6,
            "{kind}: the score depends on the text"
        );
        // The pair is read in order: (prompt, text) is not (text, prompt).
        let swapped = rm.reward(&texts[0], q).unwrap();
        assert!((swapped - batch[0]).abs() > 1e-6, "{kind}");
        // Same seed, same weights, same rewards; another seed, other rewards.
        let again = ModelReward::load(folder(kind, 3).path(), None).unwrap();
        assert_eq!(again.rewards(q, &texts).unwrap(), batch);
        let other = ModelReward::load(folder(kind, 4).path(), None).unwrap();
        assert_ne!(other.rewards(q, &texts).unwrap(), batch);
    }
}

#[test]
fn a_wrong_folder_is_named_in_the_error() {
    let missing = std::env::temp_dir().join("hedge-no-such-reward-model");
    let e = RewardModel::load(&missing, None).unwrap_err().to_string();
    assert!(
        e.contains("hedge-no-such-reward-model") && e.contains("reward model"),
        "{e}"
    );
    // A decoder is not a reward model.
    let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-l-chat");
    let e = RewardModel::load(lab, None).unwrap_err().to_string();
    assert!(e.contains("lab-l-chat") && e.contains("decoder"), "{e}");
    // A folder without its tokenizer says which file is missing.
    let dir = folder("bert", 0);
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let e = RewardModel::load(dir.path(), None).unwrap_err().to_string();
    assert!(e.contains("tokenizer.json"), "{e}");
    // A classifier of several labels needs one named.
    let dir = folder("bert", 0);
    let cfg = dir.path().join("config.json");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(r#""0": "LABEL_0""#, r#""0": "NEGATIVE", "1": "POSITIVE""#);
    std::fs::write(&cfg, text).unwrap();
    let e = RewardModel::load(dir.path(), None).unwrap_err().to_string();
    assert!(e.contains("config.json") && e.contains("#LABEL"), "{e}");
    // Through the command-line form too.
    let spec: RewardSpec = format!("model:{}", missing.display()).parse().unwrap();
    let e = spec.build(None).err().unwrap().to_string();
    assert!(e.contains("hedge-no-such-reward-model"), "{e}");
}

#[test]
fn a_reward_model_guides_args() {
    let rm_dir = folder("bert", 1);
    let model_dir = tempfile::tempdir().unwrap();
    let config = r#"{"model_type": "llama", "vocab_size": 300, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
        "max_position_embeddings": 64}"#;
    hedge_engine::write_random_model(config, model_dir.path(), 2).unwrap();
    let m = LocalModel::load(
        model_dir.path().to_str().unwrap(),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let log = RewardLog::default();
    let reward = ModelReward::load(rm_dir.path(), None).unwrap();
    let b = RewardGuided::new(
        m.clone(),
        Box::new(reward.clone()),
        Guide::Args(ArgsParams {
            top_k: 5,
            weight: 50.0,
        }),
    )
    .unwrap()
    .with_log(log.clone());
    let mut req = GenerationRequest::new("hello world");
    req.sampling.max_tokens = 6;
    let g = b.generate(&req).unwrap();
    let note = log.take(&g.text).unwrap();
    // Five candidates scored per step: one step per token, and one more when it ended on EOS.
    let steps = note.reward_calls / 5;
    assert_eq!(note.reward_calls % 5, 0);
    assert!(
        steps == g.tokens.len() || steps == g.tokens.len() + 1,
        "{note:?}"
    );
    assert!((note.reward - reward.reward("hello world", &g.text).unwrap()).abs() < 1e-9);
    // With a heavy weight, the reward model (not the language model) picks the tokens: the
    // answer differs from greedy decoding.
    assert_ne!(g.text, m.generate(&req).unwrap().text);
}

/// softmax(row)[i].
fn softmax_at(row: &[f64], i: usize) -> f64 {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = row.iter().map(|x| (x - max).exp()).sum();
    (row[i] - max).exp() / sum
}

#[test]
fn a_classifier_read_through_a_label_matches_transformers() {
    // The tiny NLI classifiers of hedge-engine's fixtures, with transformers' logits: read
    // through a label, the reward is that label's softmax probability of transformers' logits.
    for (name, label, index) in [
        ("tiny-nli-bert", "entailment", 0),
        ("tiny-nli-roberta", "ENTAILMENT", 1),
    ] {
        let dir = format!(
            "{}/../hedge-engine/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let reference: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/reference.json")).unwrap(),
        )
        .unwrap();
        let rm = RewardModel::load(&dir, Some(label)).unwrap();
        let pairs: Vec<(String, String)> = reference["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
            .collect();
        let got = rm.rewards(&pairs).unwrap();
        for (g, row) in got.iter().zip(reference["logits"].as_array().unwrap()) {
            let row: Vec<f64> = row
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            let want = softmax_at(&row, index);
            assert!(
                (g - want).abs() < 1e-4,
                "{name}: {g} vs transformers {want}"
            );
        }
    }
}
