//! Exactness against Hugging Face `transformers`: the fixtures under `tests/fixtures/` were
//! written by `scripts/fixtures/make_reference.py` (random weights saved by transformers itself,
//! reference values computed by transformers in float32). hedge must load each folder through its
//! real loader and give the same teacher-forced log-probabilities to 1e-4.

use std::path::PathBuf;

use candle_core::Device;
use hedge_engine::{ChatMessage, LocalModel};
use serde_json::Value;

const FIXTURES: [&str; 5] = [
    "tiny-llama",
    "tiny-llama-sharded",
    "tiny-llama3-rope",
    "tiny-qwen2",
    "tiny-mistral",
];

fn fixture(name: &str) -> (LocalModel, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let model = LocalModel::load(dir.to_str().unwrap(), &Device::Cpu)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    (model, reference)
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn tokenization_matches_transformers() {
    for name in FIXTURES {
        let (m, r) = fixture(name);
        for case in r["cases"].as_array().unwrap() {
            let prompt_ids = match case.get("chat_rendered") {
                Some(rendered) => {
                    let msgs: Vec<ChatMessage> =
                        serde_json::from_value(case["chat_messages"].clone()).unwrap();
                    let text = m.tokenizer.apply_chat_template(&msgs, true).unwrap();
                    assert_eq!(
                        text,
                        rendered.as_str().unwrap(),
                        "{name}: chat template rendering"
                    );
                    m.tokenizer.encode(&text, false).unwrap()
                }
                None => m
                    .tokenizer
                    .encode(case["prompt"].as_str().unwrap(), true)
                    .unwrap(),
            };
            assert_eq!(
                prompt_ids,
                ids(&case["prompt_ids"]),
                "{name}/{}: prompt ids",
                case["name"]
            );
            let response_ids = m
                .tokenizer
                .encode(case["response"].as_str().unwrap(), false)
                .unwrap();
            assert_eq!(
                response_ids,
                ids(&case["response_ids"]),
                "{name}/{}: response ids",
                case["name"]
            );
        }
    }
}

#[test]
fn teacher_forced_logprobs_match_transformers() {
    for name in FIXTURES {
        let (m, r) = fixture(name);
        for case in r["cases"].as_array().unwrap() {
            let label = format!("{name}/{}", case["name"].as_str().unwrap());
            let records = m
                .score_ids(&ids(&case["prompt_ids"]), &ids(&case["response_ids"]), 5)
                .unwrap();
            let want_lp = floats(&case["logprobs"]);
            let want_h = floats(&case["entropies"]);
            assert_eq!(records.len(), want_lp.len(), "{label}");
            for (i, rec) in records.iter().enumerate() {
                assert!(
                    (rec.logprob - want_lp[i]).abs() < 1e-4,
                    "{label} step {i}: logprob {} vs {}",
                    rec.logprob,
                    want_lp[i]
                );
                assert!(
                    (rec.entropy - want_h[i]).abs() < 1e-4,
                    "{label} step {i}: entropy {} vs {}",
                    rec.entropy,
                    want_h[i]
                );
                let want_top = case["top5"][i].as_array().unwrap();
                for (got, want) in rec.top.iter().zip(want_top) {
                    assert_eq!(
                        got.id as u64,
                        want[0].as_u64().unwrap(),
                        "{label} step {i}: top ids"
                    );
                    assert!(
                        (got.logprob - want[1].as_f64().unwrap()).abs() < 1e-4,
                        "{label} step {i}: top logprob"
                    );
                }
            }
        }
    }
}

#[test]
fn last_logits_and_greedy_tokens_match_transformers() {
    for name in FIXTURES {
        let (m, r) = fixture(name);
        for case in r["cases"].as_array().unwrap() {
            let label = format!("{name}/{}", case["name"].as_str().unwrap());
            let mut input = ids(&case["prompt_ids"]);
            input.extend(ids(&case["response_ids"]));
            let logits = m.logits(&input).unwrap();
            let last: Vec<f32> = logits.get(input.len() - 1).unwrap().to_vec1().unwrap();
            let want = floats(&case["last_logits"]);
            let diff = last
                .iter()
                .zip(&want)
                .map(|(a, b)| (*a as f64 - b).abs())
                .fold(0.0, f64::max);
            assert!(diff < 1e-4, "{label}: last logits differ by {diff}");
            // Greedy continuation, through the cached decoding path.
            let params = hedge_engine::SamplingParams {
                max_tokens: 8,
                ignore_eos: true,
                ..Default::default()
            };
            let prompt = ids(&case["prompt_ids"]);
            let gen = m
                .sample(&prompt, 1, &params, 1, hedge_engine::Stats::On)
                .unwrap()
                .remove(0);
            let got: Vec<u32> = gen.tokens.iter().map(|t| t.id).collect();
            let want = ids(&case["greedy"]["ids"]);
            assert_eq!(got, want, "{label}: greedy tokens");
        }
    }
}
