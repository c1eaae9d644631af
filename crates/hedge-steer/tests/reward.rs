//! Reward-guided decoding end to end: ARGS with w = 0 is greedy decoding token for token; DeAL
//! finds a keyword that greedy decoding misses on the lab model; Transfer Q* values each
//! candidate by the reward of the baseline's greedy rollout; sampling is seeded; the backend
//! notes the final answer's reward.

use std::cell::RefCell;

use hedge_engine::{Backend, GenerationRequest, LocalModel, SamplingParams};
use hedge_steer::reward::argsearch::ArgsParams;
use hedge_steer::reward::deal::DealParams;
use hedge_steer::reward::transfer_q::TransferQParams;
use hedge_steer::reward::{Guide, Keywords, Reward, RewardGuided, RewardLog};

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-l-chat");

fn lab() -> LocalModel {
    LocalModel::load(LAB, &candle_core::Device::Cpu).unwrap()
}

/// A random-weight model (flat distributions: samples differ from seed to seed).
fn random_model() -> (tempfile::TempDir, LocalModel) {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"{"model_type": "llama", "vocab_size": 300, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 64}"#;
    hedge_engine::write_random_model(config, dir.path(), 5).unwrap();
    let m = LocalModel::load(dir.path().to_str().unwrap(), &candle_core::Device::Cpu).unwrap();
    (dir, m)
}

fn request(prompt: &str, chat: bool, max_tokens: usize) -> GenerationRequest {
    let mut req = GenerationRequest::new(prompt);
    req.chat = chat;
    req.sampling.max_tokens = max_tokens;
    req
}

fn ids(g: &hedge_engine::Generation) -> Vec<u32> {
    g.tokens.iter().map(|t| t.id).collect()
}

fn guided(model: &LocalModel, keyword: &str, guide: Guide) -> RewardGuided {
    RewardGuided::new(model.clone(), Box::new(Keywords::new([keyword])), guide).unwrap()
}

#[test]
fn args_with_zero_weight_is_greedy_token_for_token() {
    let m = lab();
    let args = guided(
        &m,
        "Dranholt",
        Guide::Args(ArgsParams {
            top_k: 10,
            weight: 0.0,
        }),
    );
    for q in [
        "Where does Renmisa Fal live?",
        "What is 27 plus 58?",
        "What does Serjeny Quist do for a living?",
        "Which cities has Renmisa Fal visited?",
    ] {
        let req = request(q, true, 48);
        let want = m.generate(&req).unwrap();
        let got = args.generate(&req).unwrap();
        assert_eq!(ids(&got), ids(&want), "{q}");
        assert_eq!(got.text, want.text, "{q}");
        assert_eq!(got.finish_reason, want.finish_reason, "{q}");
        for (a, b) in got.tokens.iter().zip(&want.tokens) {
            assert!((a.logprob - b.logprob).abs() < 1e-9 && a.text == b.text);
        }
    }
    // A random model, cut by max_tokens and by a stop string, ends where greedy decoding ends.
    let (_dir, r) = random_model();
    let args = guided(
        &r,
        "x",
        Guide::Args(ArgsParams {
            top_k: 10,
            weight: 0.0,
        }),
    );
    let mut req = request("The capital of France is", false, 12);
    let want = r.generate(&req).unwrap();
    let got = args.generate(&req).unwrap();
    assert_eq!((ids(&got), &got.text), (ids(&want), &want.text));
    let stop: String = want.text.chars().skip(3).take(2).collect();
    req.sampling.stop = vec![stop];
    let want = r.generate(&req).unwrap();
    let got = args.generate(&req).unwrap();
    assert_eq!((ids(&got), &got.text), (ids(&want), &want.text));
    assert_eq!(got.finish_reason, want.finish_reason);
}

#[test]
fn deal_reaches_a_keyword_that_greedy_decoding_misses() {
    let m = lab();
    // Serra Mekmek has visited Halvik, Marrowind and Nimbrel; greedy names Halvik.
    let q = "Name a city that Serra Mekmek has visited.";
    let req = request(q, true, 48);
    let greedy = m.generate(&req).unwrap();
    assert!(!greedy.text.contains("Nimbrel"), "{}", greedy.text);
    let log = RewardLog::default();
    let deal = guided(&m, "Nimbrel", Guide::Deal(DealParams::default())).with_log(log.clone());
    let got = deal.generate(&req).unwrap();
    assert!(got.text.contains("Nimbrel"), "DeAL wrote {:?}", got.text);
    assert_eq!(got.finish_reason, hedge_engine::FinishReason::Eos);
    let note = log.take(&got.text).unwrap();
    assert_eq!((note.guide, note.reward), ("deal", 1.0));
    // 8 lookaheads a round were scored, from the one prefix of the first round on.
    assert!(note.reward_calls >= 8, "{note:?}");
    // The records are the model's own distribution over the chosen tokens.
    let scored = m
        .score_ids(&m.prompt_ids(q, true).unwrap(), &ids(&got), 5)
        .unwrap();
    assert_eq!(scored.len(), got.tokens.len());
    assert!((scored[0].logprob - got.tokens[0].logprob).abs() < 1e-9);
}

/// A reward that remembers the texts it scored, the first call's batch apart.
struct Recorder {
    calls: RefCell<Vec<Vec<String>>>,
}

impl Reward for Recorder {
    fn reward(&self, _prompt: &str, text: &str) -> hedge_engine::Result<f64> {
        Ok(text.len() as f64)
    }

    fn rewards(&self, _prompt: &str, texts: &[String]) -> hedge_engine::Result<Vec<f64>> {
        self.calls.borrow_mut().push(texts.to_vec());
        Ok(texts.iter().map(|t| t.len() as f64).collect())
    }
}

#[test]
fn transfer_q_scores_each_candidate_after_a_greedy_rollout() {
    let (_dir, m) = random_model();
    let recorder = std::rc::Rc::new(Recorder {
        calls: RefCell::new(Vec::new()),
    });
    struct Shared(std::rc::Rc<Recorder>);
    impl Reward for Shared {
        fn reward(&self, p: &str, t: &str) -> hedge_engine::Result<f64> {
            self.0.reward(p, t)
        }
        fn rewards(&self, p: &str, t: &[String]) -> hedge_engine::Result<Vec<f64>> {
            self.0.rewards(p, t)
        }
    }
    let params = TransferQParams {
        top_k: 4,
        weight: 1.0,
        rollout: 6,
    };
    let tq = RewardGuided::new(
        m.clone(),
        Box::new(Shared(recorder.clone())),
        Guide::TransferQ(params),
    )
    .unwrap();
    let req = request("Once upon a time", false, 3);
    tq.generate(&req).unwrap();
    let calls = recorder.calls.borrow();
    assert_eq!(calls.len(), 3, "one batch of candidates per token");
    // The first step by hand: the 4 most likely tokens, each followed by 6 greedy tokens.
    let prompt = m.prompt_ids("Once upon a time", false).unwrap();
    let row: Vec<f32> = m
        .logits(&prompt)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap()
        .pop()
        .unwrap();
    let mut order: Vec<u32> = (0..row.len() as u32).collect();
    order.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
    let greedy = SamplingParams {
        max_tokens: 6,
        ignore_eos: false,
        ..SamplingParams::default()
    };
    for (k, &v) in order[..4].iter().enumerate() {
        let mut ids = prompt.clone();
        ids.push(v);
        let mut cont = vec![v];
        if !m.eos_ids.contains(&v) {
            let g = &m
                .sample(&ids, 1, &greedy, 0, hedge_engine::Stats::On)
                .unwrap()[0];
            cont.extend(g.tokens.iter().map(|t| t.id));
        } else {
            cont.clear();
        }
        let want = m.tokenizer.decode(&cont).unwrap();
        assert_eq!(calls[0][k], want, "candidate {k} ({v})");
    }
}

#[test]
fn sampling_is_seeded_for_every_decoder() {
    let (_dir, m) = random_model();
    for guide in [
        Guide::Args(ArgsParams::default()),
        Guide::TransferQ(TransferQParams {
            rollout: 3,
            ..TransferQParams::default()
        }),
        Guide::Deal(DealParams {
            max_iterations: 2,
            ..DealParams::default()
        }),
    ] {
        let name = guide.name();
        let b = guided(&m, "e", guide);
        let run = |seed: u64| {
            let mut req = request("Hello there", false, 8);
            req.sampling.temperature = 1.0;
            req.sampling.seed = seed;
            let g = b.generate(&req).unwrap();
            (ids(&g), g.text)
        };
        let a = run(1);
        assert_eq!(a, run(1), "{name}: same seed, same answer");
        assert!(
            (2..6).any(|s| run(s) != a),
            "{name}: other seeds give other answers"
        );
    }
}

#[test]
fn bad_parameters_say_what_is_allowed() {
    let (_dir, m) = random_model();
    let bad = [
        Guide::Deal(DealParams {
            top_k: 9,
            ..DealParams::default()
        }),
        Guide::Deal(DealParams {
            lookahead: 0,
            ..DealParams::default()
        }),
        Guide::Args(ArgsParams {
            top_k: 0,
            weight: 1.0,
        }),
        Guide::TransferQ(TransferQParams {
            rollout: 0,
            ..TransferQParams::default()
        }),
    ];
    for g in bad {
        let e = RewardGuided::new(m.clone(), Box::new(Keywords::new(["x"])), g)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("invalid"), "{e}");
    }
}

#[test]
fn a_separate_baseline_of_the_same_weights_changes_nothing() {
    // Transfer Q*'s rollouts from another copy of the model (its own session, kept in step
    // with the answer) give the answer the model's own rollouts give.
    let (dir, m) = random_model();
    let twin = LocalModel::load(dir.path().to_str().unwrap(), &candle_core::Device::Cpu).unwrap();
    let params = TransferQParams {
        top_k: 5,
        weight: 3.0,
        rollout: 4,
    };
    let own = guided(&m, "e", Guide::TransferQ(params.clone()));
    let other = guided(&m, "e", Guide::TransferQ(params))
        .with_baseline(twin)
        .unwrap();
    let req = request("Tell me a story", false, 10);
    let (a, b) = (own.generate(&req).unwrap(), other.generate(&req).unwrap());
    assert_eq!((ids(&a), a.text), (ids(&b), b.text));
    // A baseline with another vocabulary is refused.
    let (_d2, small) = {
        let d = tempfile::tempdir().unwrap();
        let config = r#"{"model_type": "llama", "vocab_size": 280, "hidden_size": 32,
            "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
            "max_position_embeddings": 64}"#;
        hedge_engine::write_random_model(config, d.path(), 1).unwrap();
        let s = LocalModel::load(d.path().to_str().unwrap(), &candle_core::Device::Cpu).unwrap();
        (d, s)
    };
    let e = guided(&m, "e", Guide::TransferQ(TransferQParams::default()))
        .with_baseline(small)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("vocabulary"), "{e}");
}
