//! Speculative decoding is lossless: greedy answers are the target's own, token for token, on
//! every lab test question; sampled answers follow the target's exact distribution (a seeded
//! chi-square test on a tiny-vocabulary model pair); stops behave as the target's; the same
//! seed gives the same answer; a draft of another vocabulary is refused.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use hedge_engine::{
    Backend, FinishReason, Generation, GenerationRequest, LocalModel, SamplingParams,
};
use hedge_steer::speculative::{DraftLength, Speculative};

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab");
const TEST_SET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/lab/test.jsonl");

fn lab(name: &str) -> LocalModel {
    LocalModel::load(&format!("{LAB}/{name}"), &Device::Cpu).unwrap()
}

fn chat_request(question: &str, sampling: SamplingParams) -> GenerationRequest {
    GenerationRequest {
        prompt: question.to_string(),
        chat: true,
        sampling,
        top_logprobs: 5,
    }
}

/// Same tokens, text and finish; the records' statistics equal up to float error (the verify
/// pass scores several positions at once where plain decoding scores one).
fn assert_same(spec: &Generation, plain: &Generation, what: &str) {
    let ids = |g: &Generation| g.tokens.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(spec), ids(plain), "{what}: token ids");
    assert_eq!(spec.text, plain.text, "{what}: text");
    assert_eq!(spec.finish_reason, plain.finish_reason, "{what}: finish");
    assert_eq!(spec.prompt_tokens, plain.prompt_tokens, "{what}");
    for (a, b) in spec.tokens.iter().zip(&plain.tokens) {
        assert_eq!(a.text, b.text, "{what}");
        assert!(
            (a.logprob - b.logprob).abs() < 1e-4,
            "{what}: logprob {a:?} vs {b:?}"
        );
        assert!((a.entropy - b.entropy).abs() < 1e-4, "{what}: entropy");
        assert_eq!(
            a.top.iter().map(|t| t.id).collect::<Vec<_>>(),
            b.top.iter().map(|t| t.id).collect::<Vec<_>>(),
            "{what}: top-k"
        );
    }
}

/// The questions of the lab test split with their categories, in file order.
fn questions() -> Vec<(String, String)> {
    std::fs::read_to_string(TEST_SET)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let field = |k: &str| v[k].as_str().unwrap().to_string();
            (field("question"), field("category"))
        })
        .collect()
}

/// Runs `questions` through the target alone and speculatively with each γ, and checks that
/// every answer is the target's, token for token.
fn check_greedy(questions: &[&str], gammas: &[DraftLength]) {
    let target = lab("lab-l-chat");
    let greedy = SamplingParams {
        max_tokens: 32,
        ..Default::default()
    };
    let plain: Vec<Generation> = questions
        .iter()
        .map(|q| target.generate(&chat_request(q, greedy.clone())).unwrap())
        .collect();
    let written: usize = plain.iter().map(|g| g.tokens.len()).sum();
    for &gamma in gammas {
        let spec = Speculative::new(target.clone(), lab("lab-s-chat"), gamma)
            .unwrap()
            .with_draft_confidence(if gamma == DraftLength::Adaptive {
                0.5
            } else {
                0.0
            })
            .unwrap();
        for (i, (q, want)) in questions.iter().zip(&plain).enumerate() {
            let got = spec.generate(&chat_request(q, greedy.clone())).unwrap();
            assert_same(&got, want, &format!("γ {gamma}, question {i} {q:?}"));
        }
        let s = spec.total_stats();
        // Fewer target passes than tokens: the draft's tokens were kept.
        assert!(s.target_passes < written, "γ {gamma}: {s:?}");
        assert!(
            s.acceptance_rate() > 0.3 && s.acceptance_rate() <= 1.0,
            "{s:?}"
        );
        assert_eq!(s.generations, questions.len());
    }
}

/// The first question of each category (the dev profile runs the engine unoptimised, where
/// the whole split takes about 20 minutes; the ignored test below runs it).
#[test]
fn greedy_answers_are_the_targets_on_a_question_of_each_category() {
    let qs = questions();
    let mut seen = std::collections::HashSet::new();
    let firsts: Vec<&str> = qs
        .iter()
        .filter(|(_, c)| seen.insert(c.clone()))
        .map(|(q, _)| q.as_str())
        .collect();
    assert!(firsts.len() >= 8, "{} categories", firsts.len());
    check_greedy(&firsts, &[DraftLength::Adaptive, DraftLength::Fixed(4)]);
}

/// Every question of the lab test split, with a fixed and an adaptive γ and a short and a
/// long one: about 30 s with `--release`
/// (`cargo test --release -p hedge-steer --test speculative -- --include-ignored`).
#[test]
#[ignore = "the whole test split: about 30 s with --release, 20 minutes in the dev profile"]
fn greedy_answers_are_the_targets_on_every_lab_test_question() {
    let qs = questions();
    assert!(
        qs.len() >= 300,
        "the lab test split has {} questions",
        qs.len()
    );
    let all: Vec<&str> = qs.iter().map(|(q, _)| q.as_str()).collect();
    check_greedy(
        &all,
        &[
            DraftLength::Adaptive,
            DraftLength::Fixed(4),
            DraftLength::Fixed(1),
            DraftLength::Fixed(8),
        ],
    );
}

#[test]
fn stop_strings_and_lengths_end_the_answer_as_the_target_does() {
    let target = lab("lab-l-chat");
    let spec = Speculative::new(target.clone(), lab("lab-s-chat"), DraftLength::Fixed(6)).unwrap();
    let qs = questions();
    let mut stopped = 0;
    for (q, _) in qs.iter().step_by(110) {
        for sampling in [
            SamplingParams {
                max_tokens: 40,
                stop: vec![" in".into(), "!".into()],
                ..Default::default()
            },
            SamplingParams {
                max_tokens: 3,
                ..Default::default()
            },
            SamplingParams {
                max_tokens: 20,
                ignore_eos: true,
                ..Default::default()
            },
        ] {
            let req = chat_request(q, sampling);
            let want = target.generate(&req).unwrap();
            let got = spec.generate(&req).unwrap();
            assert_same(&got, &want, q);
            stopped += usize::from(want.finish_reason == FinishReason::Stop);
        }
    }
    assert!(
        stopped >= 2,
        "the stop strings were reached only {stopped} times"
    );
}

/// A checkpoint with a vocabulary of `vocab` words: the random model of `seed`, with its
/// embedding and output rows cut to the first `vocab` and the logits scaled by `sharpness`
/// (peaked distributions, so that few continuations hold most of the mass), and a word-level
/// tokenizer ("<|endoftext|>", "<|im_start|>", "<|im_end|>", then w3, w4, …).
fn tiny_model(dir: &Path, vocab: usize, context: usize, seed: u64, sharpness: f64) -> LocalModel {
    let config = format!(
        r#"{{"model_type": "llama", "vocab_size": 259, "hidden_size": 16,
        "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 1, "max_position_embeddings": {context}}}"#
    );
    hedge_engine::write_random_model(&config, dir, seed).unwrap();
    let path = dir.join("model.safetensors");
    let mut tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    for name in ["model.embed_tokens.weight", "lm_head.weight"] {
        let t = tensors[name].narrow(0, 0, vocab).unwrap();
        let t = if name == "lm_head.weight" {
            (t * sharpness).unwrap()
        } else {
            t
        };
        tensors.insert(name.to_string(), t.contiguous().unwrap());
    }
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let cfg_path = dir.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["vocab_size"] = vocab.into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    let words: Vec<String> = (0..vocab)
        .map(|i| specials.get(i).map_or(format!("w{i}"), |s| s.to_string()))
        .collect();
    let vocab_map: serde_json::Map<String, serde_json::Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.clone(), i.into()))
        .collect();
    let added: Vec<serde_json::Value> = specials
        .iter()
        .enumerate()
        .map(|(id, t)| {
            serde_json::json!({"id": id, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab_map, "unk_token": "w3"}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let m = LocalModel::load(dir.to_str().unwrap(), &Device::Cpu).unwrap();
    assert_eq!(m.decoder.config().vocab_size, vocab);
    m
}

/// The distribution the target samples from at temperature `t` with top-k and top-p, computed
/// here from its logits (most likely first, ties by lower id, top-p keeping the smallest head
/// whose mass reaches p).
fn warped(logits: &[f32], t: f64, top_k: Option<usize>, top_p: Option<f64>) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let w: Vec<f64> = logits
        .iter()
        .map(|&l| ((l as f64 - max) / t).exp())
        .collect();
    let mut order: Vec<usize> = (0..w.len()).collect();
    order.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(a.cmp(&b)));
    let mut keep = top_k.unwrap_or(w.len()).min(w.len());
    if let Some(p) = top_p {
        let total: f64 = order[..keep].iter().map(|&i| w[i]).sum();
        let mut cum = 0.0;
        for (n, &i) in order[..keep].iter().enumerate() {
            cum += w[i] / total;
            if cum >= p {
                keep = n + 1;
                break;
            }
        }
    }
    let total: f64 = order[..keep].iter().map(|&i| w[i]).sum();
    let mut out = vec![0.0; w.len()];
    for &i in &order[..keep] {
        out[i] = w[i] / total;
    }
    out
}

/// The exact probability of every continuation of `len` tokens of `prompt`, from the model's
/// own logits.
fn exact(
    m: &LocalModel,
    prompt: &[u32],
    len: usize,
    t: f64,
    k: Option<usize>,
    p: Option<f64>,
) -> HashMap<Vec<u32>, f64> {
    let mut out = HashMap::new();
    let mut stack = vec![(Vec::<u32>::new(), 1.0f64)];
    while let Some((cont, prob)) = stack.pop() {
        if cont.len() == len {
            out.insert(cont, prob);
            continue;
        }
        let mut ids = prompt.to_vec();
        ids.extend(&cont);
        let rows: Vec<Vec<f32>> = m.logits(&ids).unwrap().to_vec2().unwrap();
        for (tok, q) in warped(rows.last().unwrap(), t, k, p).iter().enumerate() {
            if *q > 0.0 {
                let mut c = cont.clone();
                c.push(tok as u32);
                stack.push((c, prob * q));
            }
        }
    }
    out
}

/// Pearson's chi-square statistic of `counts` against `probs` over `n` draws, cells with an
/// expected count under 5 pooled into one; with its degrees of freedom.
fn chi_square(
    counts: &HashMap<Vec<u32>, usize>,
    probs: &HashMap<Vec<u32>, f64>,
    n: usize,
) -> (f64, usize) {
    let (mut stat, mut cells) = (0.0, 0);
    let (mut pooled_obs, mut pooled_exp) = (0.0, 0.0);
    let mut seen = 0;
    for (cont, p) in probs {
        let expected = p * n as f64;
        let observed = *counts.get(cont).unwrap_or(&0) as f64;
        seen += counts.get(cont).copied().unwrap_or(0);
        if expected >= 5.0 {
            stat += (observed - expected).powi(2) / expected;
            cells += 1;
        } else {
            pooled_obs += observed;
            pooled_exp += expected;
        }
    }
    assert_eq!(
        seen, n,
        "a continuation the target gives probability 0 was sampled"
    );
    if pooled_exp > 0.0 {
        stat += (pooled_obs - pooled_exp).powi(2) / pooled_exp;
        cells += 1;
    }
    (stat, cells - 1)
}

/// The chi-square quantile of level 1 − 0.001 (Wilson–Hilferty).
fn critical(df: usize) -> f64 {
    let d = df as f64;
    let z = 3.09;
    d * (1.0 - 2.0 / (9.0 * d) + z * (2.0 / (9.0 * d)).sqrt()).powi(3)
}

#[test]
fn sampled_continuations_follow_the_targets_exact_distribution() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let target = tiny_model(dirs[0].path(), 8, 64, 1, 3.0);
    // A close draft (the target's weights, flatter logits: most tokens kept) and a far one
    // (other weights: most tokens rejected, the residual law at work).
    let close = tiny_model(dirs[1].path(), 8, 64, 1, 1.5);
    let far = tiny_model(dirs[2].path(), 8, 64, 2, 3.0);
    let prompt = [3u32, 4, 5, 6];
    let n = 1500;
    // (temperature, top-k, top-p, γ, draft): every rule of the sampler, fixed and adaptive γ.
    let cases = [
        (1.0, None, None, DraftLength::Fixed(2), &close),
        (1.0, None, None, DraftLength::Fixed(2), &far),
        (1.0, Some(3), None, DraftLength::Adaptive, &close),
        (1.3, None, Some(0.9), DraftLength::Fixed(3), &far),
    ];
    for (t, k, p, gamma, draft) in cases {
        let spec = Speculative::new(target.clone(), draft.clone(), gamma).unwrap();
        let mut counts: HashMap<Vec<u32>, usize> = HashMap::new();
        for seed in 0..n as u64 {
            let params = SamplingParams {
                temperature: t,
                top_k: k,
                top_p: p,
                seed,
                max_tokens: 3,
                ignore_eos: true,
                ..Default::default()
            };
            let (g, _) = spec.generate_ids(&prompt, &params, 0).unwrap();
            let ids: Vec<u32> = g.tokens.iter().map(|r| r.id).collect();
            assert_eq!(ids.len(), 3);
            *counts.entry(ids).or_default() += 1;
        }
        let what = format!(
            "T {t}, top-k {k:?}, top-p {p:?}, γ {gamma}, draft {}",
            draft.name
        );
        let stats = spec.total_stats();
        // Rejections happened, so the residual distribution was exercised.
        assert!(
            stats.acceptance_rate() > 0.05 && stats.acceptance_rate() < 0.95,
            "{what}: {stats:?}"
        );
        let (stat, df) = chi_square(&counts, &exact(&target, &prompt, 3, t, k, p), n);
        eprintln!(
            "{what}: chi-square {stat:.1} on {df} df (critical {:.1}), acceptance {:.3}",
            critical(df),
            stats.acceptance_rate()
        );
        assert!(df >= 5, "{what}: only {df} degrees of freedom");
        assert!(
            stat < critical(df),
            "{what}: chi-square {stat:.1} on {df} df"
        );
        // The test has power: the same counts are far from the draft's own distribution.
        let (stat_q, df_q) = chi_square_lenient(&counts, &exact(draft, &prompt, 3, t, k, p), n);
        eprintln!("{what}: against the draft's law {stat_q:.1} on {df_q} df");
        assert!(
            stat_q > 3.0 * critical(df_q),
            "{what}: the draft's law is not rejected ({stat_q:.1} on {df_q} df)"
        );
    }
}

/// As [`chi_square`], without requiring every sampled continuation to be possible under
/// `probs` (the draft's law may give 0 where the target does not): those count in the pool.
fn chi_square_lenient(
    counts: &HashMap<Vec<u32>, usize>,
    probs: &HashMap<Vec<u32>, f64>,
    n: usize,
) -> (f64, usize) {
    let mut probs = probs.clone();
    for cont in counts.keys() {
        probs.entry(cont.clone()).or_insert(0.0);
    }
    let (mut stat, mut cells) = (0.0, 0);
    let (mut pooled_obs, mut pooled_exp) = (0.0, 0.0);
    for (cont, p) in &probs {
        let expected = p * n as f64;
        let observed = *counts.get(cont).unwrap_or(&0) as f64;
        if expected >= 5.0 {
            stat += (observed - expected).powi(2) / expected;
            cells += 1;
        } else {
            pooled_obs += observed;
            pooled_exp += expected;
        }
    }
    stat += (pooled_obs - pooled_exp).powi(2) / pooled_exp.max(1.0);
    (stat, cells)
}

#[test]
fn the_same_seed_gives_the_same_answer() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let target = tiny_model(dirs[0].path(), 40, 64, 7, 1.0);
    let draft = tiny_model(dirs[1].path(), 40, 64, 8, 1.0);
    let spec = Speculative::new(target, draft, DraftLength::Adaptive).unwrap();
    let run = |seed| {
        let params = SamplingParams {
            temperature: 1.5,
            top_p: Some(0.95),
            seed,
            max_tokens: 24,
            ignore_eos: true,
            ..Default::default()
        };
        let (g, _) = spec.generate_ids(&[3, 4, 5], &params, 2).unwrap();
        (g.text, g.tokens.iter().map(|t| t.id).collect::<Vec<_>>())
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert!(
        (0..6).any(|s| run(s) != a),
        "every seed gave the same answer"
    );
}

#[test]
fn the_context_ends_the_answer_as_the_target_does() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let target = tiny_model(dirs[0].path(), 12, 24, 3, 1.0);
    // A draft with a smaller context: it stops drafting where its window ends.
    let draft = tiny_model(dirs[1].path(), 12, 16, 4, 1.0);
    let spec = Speculative::new(target.clone(), draft, DraftLength::Fixed(5)).unwrap();
    let prompt: Vec<u32> = (3..12).collect();
    let params = SamplingParams {
        max_tokens: 100,
        ignore_eos: true,
        ..Default::default()
    };
    let want = &target
        .sample(&prompt, 1, &params, 3, hedge_engine::Stats::On)
        .unwrap()[0];
    let (got, stats) = spec.generate_ids(&prompt, &params, 3).unwrap();
    assert_eq!(want.finish_reason, FinishReason::Context);
    assert_same(&got, want, "context");
    assert_eq!(got.tokens.len(), 24 - prompt.len());
    assert!(stats.drafted > 0);
}

#[test]
fn a_draft_of_another_vocabulary_is_refused() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let target = tiny_model(dirs[0].path(), 12, 32, 5, 1.0);
    let draft = tiny_model(dirs[1].path(), 8, 32, 6, 1.0);
    let e = Speculative::new(target, draft, DraftLength::Fixed(4))
        .unwrap_err()
        .to_string();
    let (t, d) = (
        dirs[0]
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
        dirs[1]
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
    );
    assert!(e.contains("12 tokens") && e.contains("8 tokens"), "{e}");
    assert!(e.contains(&t) && e.contains(&d), "{e}");
}
