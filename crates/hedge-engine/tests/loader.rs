//! Loading checkpoint folders: what works, and the errors that name what is wrong.

mod common;

use candle_core::Device;
use hedge_engine::{
    Backend, ChatMessage, FinishReason, GenerationRequest, LocalModel, SamplingParams, ScoreRequest,
};

fn load_err(dir: &std::path::Path) -> String {
    LocalModel::load(dir.to_str().unwrap(), &Device::Cpu)
        .map(|_| ())
        .expect_err("load must fail")
        .to_string()
}

#[test]
fn missing_files_are_named() {
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        let dir = tempfile::tempdir().unwrap();
        common::tiny_model(dir.path(), "llama", 1);
        std::fs::remove_file(dir.path().join(file)).unwrap();
        let e = load_err(dir.path());
        assert!(e.contains(&format!("missing {file}")), "{file}: {e}");
    }
}

#[test]
fn corrupt_weights_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_model(dir.path(), "llama", 1);
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(dir.path());
    assert!(
        e.contains("model.safetensors") && e.contains("truncated"),
        "{e}"
    );
    std::fs::write(&path, b"garbage").unwrap();
    let e = load_err(dir.path());
    assert!(
        e.contains("model.safetensors") && e.contains("not a safetensors file"),
        "{e}"
    );
}

#[test]
fn wrong_shape_names_the_tensor_and_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_model(dir.path(), "llama", 1);
    // Claim a larger MLP than the weights have.
    let cfg_path = dir.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["intermediate_size"] = serde_json::json!(100);
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("gate_proj.weight"), "{e}");
    assert!(e.contains("[100, 64]") && e.contains("[96, 64]"), "{e}");
}

#[test]
fn malformed_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_model(dir.path(), "llama", 1);
    std::fs::write(
        dir.path().join("config.json"),
        "{\"model_type\": \"gpt2\", \"vocab_size\": 3}",
    )
    .unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("config.json"), "{e}");
    std::fs::write(
        dir.path().join("config.json"),
        common::tiny_config("falcon"),
    )
    .unwrap();
    let e = load_err(dir.path());
    assert!(
        e.contains("falcon") && e.contains("supported: llama, qwen2, mistral"),
        "{e}"
    );
}

#[test]
fn offline_hub_download_says_how_to_use_a_folder() {
    let cache = tempfile::tempdir().unwrap();
    std::env::set_var("HF_HOME", cache.path());
    std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");
    let e = LocalModel::load("hf:nobody/nothing", &Device::Cpu)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nobody/nothing") && e.contains("--model /path/to/folder"),
        "{e}"
    );
}

#[test]
fn chat_template_renders_chatml() {
    let dir = tempfile::tempdir().unwrap();
    let m = common::tiny_model(dir.path(), "qwen2", 1);
    let text = m
        .tokenizer
        .apply_chat_template(&[ChatMessage::user("Hi there")], true)
        .unwrap();
    assert_eq!(
        text,
        "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = m.tokenizer.prompt_ids("Hi there", true).unwrap();
    assert_eq!(ids[0], 1, "<|im_start|> is one special token");
}

#[test]
fn generation_is_seeded_and_stops_where_asked() {
    let dir = tempfile::tempdir().unwrap();
    let m = common::tiny_model(dir.path(), "llama", 5);
    let req = |seed: u64, temperature: f64, stop: Vec<String>| GenerationRequest {
        prompt: "the quick brown fox".into(),
        chat: false,
        sampling: SamplingParams {
            temperature,
            seed,
            max_tokens: 20,
            stop,
            ..Default::default()
        },
        top_logprobs: 3,
    };
    let a = m.generate(&req(9, 1.0, vec![])).unwrap();
    let b = m.generate(&req(9, 1.0, vec![])).unwrap();
    assert_eq!(a, b);
    let c = m.generate(&req(10, 1.0, vec![])).unwrap();
    assert_ne!(
        a.tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
        c.tokens.iter().map(|t| t.id).collect::<Vec<_>>()
    );
    // Every record keeps its top alternatives, most likely first, and the chosen token's logprob.
    for t in &a.tokens {
        assert_eq!(t.top.len(), 3);
        assert!(t.top[0].logprob >= t.top[1].logprob);
        assert!(t.logprob <= 0.0 && t.entropy >= 0.0);
    }
    let greedy = m.generate(&req(0, 0.0, vec![])).unwrap();
    assert!(
        greedy.tokens.iter().all(|t| t.id == t.top[0].id),
        "greedy picks the mode"
    );
    if greedy.finish_reason == FinishReason::Length {
        assert_eq!(greedy.tokens.len(), 20);
    }
    // Stop at a string taken from the middle of the greedy text.
    let text = &greedy.text;
    if text.chars().count() > 6 {
        let stop: String = text.chars().skip(3).take(2).collect();
        let cut = m.generate(&req(0, 0.0, vec![stop.clone()])).unwrap();
        assert_eq!(cut.finish_reason, FinishReason::Stop);
        assert!(!cut.text.contains(&stop) && text.starts_with(&cut.text));
        let joined: String = cut.tokens.iter().map(|t| t.text.as_str()).collect();
        assert!(joined.starts_with(&cut.text));
    }
}

#[test]
fn scoring_an_empty_response_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = common::tiny_model(dir.path(), "llama", 1);
    let e = m
        .score(&ScoreRequest {
            prompt: "a".into(),
            response: String::new(),
            chat: false,
            top_logprobs: 1,
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("response"), "{e}");
}

#[test]
fn scoring_the_generated_tokens_gives_back_the_generation_records() {
    // Teacher forcing in one pass must reproduce what incremental decoding recorded.
    let dir = tempfile::tempdir().unwrap();
    let m = common::tiny_model(dir.path(), "qwen2", 6);
    let prompt = m.prompt_ids("the cat", true).unwrap();
    let params = SamplingParams {
        temperature: 0.8,
        seed: 3,
        max_tokens: 10,
        ignore_eos: true,
        ..Default::default()
    };
    let gen = m
        .sample(&prompt, 1, &params, 4, hedge_engine::Stats::On)
        .unwrap()
        .remove(0);
    let ids: Vec<u32> = gen.tokens.iter().map(|t| t.id).collect();
    let scored = m.score_ids(&prompt, &ids, 4).unwrap();
    assert_eq!(scored.len(), gen.tokens.len());
    for (a, b) in gen.tokens.iter().zip(&scored) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.text, b.text);
        assert!((a.logprob - b.logprob).abs() < 1e-4 && (a.entropy - b.entropy).abs() < 1e-4);
        assert_eq!(
            a.top.iter().map(|t| t.id).collect::<Vec<_>>(),
            b.top.iter().map(|t| t.id).collect::<Vec<_>>()
        );
    }
}

#[test]
fn n_samples_from_one_prefill_match_single_runs() {
    // Sample i of a batch of n uses random stream i: it equals a run of that stream alone.
    let dir = tempfile::tempdir().unwrap();
    let m = common::tiny_model(dir.path(), "llama", 8);
    let prompt = m.prompt_ids("abc", false).unwrap();
    let params = SamplingParams {
        temperature: 1.0,
        seed: 11,
        max_tokens: 8,
        ..Default::default()
    };
    let batch = m
        .sample(&prompt, 4, &params, 2, hedge_engine::Stats::On)
        .unwrap();
    let alone = m
        .sample(&prompt, 1, &params, 2, hedge_engine::Stats::On)
        .unwrap();
    assert_eq!(
        batch[0].tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
        alone[0].tokens.iter().map(|t| t.id).collect::<Vec<_>>()
    );
    for (a, b) in batch[0].tokens.iter().zip(&alone[0].tokens) {
        assert!((a.logprob - b.logprob).abs() < 1e-4);
    }
    let distinct: std::collections::HashSet<Vec<u32>> = batch
        .iter()
        .map(|g| g.tokens.iter().map(|t| t.id).collect())
        .collect();
    assert!(
        distinct.len() > 1,
        "different streams give different samples"
    );
}
