//! The training forward pass is hedge-engine's decoder: same logits as `Llama::forward` on the
//! same weights, gradients reaching every parameter, and a loss over the counted targets only.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use hedge_engine::{Config, LocalModel};
use hedge_lab::train::{Batch, Params, TrainModel};

const LLAMA_TIED: &str = r#"{"model_type": "llama", "vocab_size": 300, "hidden_size": 32,
    "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "tie_word_embeddings": true, "max_position_embeddings": 64}"#;
const QWEN2_GQA: &str = r#"{"model_type": "qwen2", "vocab_size": 300, "hidden_size": 48,
    "intermediate_size": 80, "num_hidden_layers": 2, "num_attention_heads": 6,
    "num_key_value_heads": 2, "tie_word_embeddings": false, "max_position_embeddings": 64,
    "rope_theta": 1000.0}"#;
const MISTRAL_WINDOW: &str = r#"{"model_type": "mistral", "vocab_size": 300, "hidden_size": 32,
    "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "sliding_window": 5, "max_position_embeddings": 64}"#;

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

fn ids(b: usize, t: usize) -> Tensor {
    let v: Vec<u32> = (0..b * t).map(|i| ((i * 37 + 11) % 300) as u32).collect();
    Tensor::from_vec(v, (b, t), &Device::Cpu).unwrap()
}

/// A random-weight checkpoint (norm weights away from 1, biases non-zero) read by both models.
#[test]
fn train_forward_equals_engine_forward() {
    for config_json in [LLAMA_TIED, QWEN2_GQA, MISTRAL_WINDOW] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = hedge_engine::write_random_model(config_json, dir.path(), 7).unwrap();
        let engine = LocalModel::load(dir.path().to_str().unwrap(), &Device::Cpu).unwrap();
        let weights =
            candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu)
                .unwrap();
        let vb = VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu);
        let model = TrainModel::new(&cfg, vb).unwrap();
        let x = ids(3, 12);
        let want = engine.decoder.forward(&x).unwrap();
        let got = model.forward(&x).unwrap();
        assert_eq!(got.dims(), want.dims());
        let diff = max_abs_diff(&got, &want);
        eprintln!("max |Δlogit| = {diff}");
        assert!(diff < 1e-4, "{config_json}: max |Δlogit| = {diff}");
    }
}

fn batch(b: usize, t: usize, mask: impl Fn(usize) -> bool) -> Batch {
    let x: Vec<u32> = ids(b, t + 1).flatten_all().unwrap().to_vec1().unwrap();
    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
    for row in x.chunks(t + 1) {
        inputs.extend_from_slice(&row[..t]);
        targets.extend_from_slice(&row[1..]);
    }
    Batch {
        batch_size: b,
        seq_len: t,
        inputs,
        targets,
        mask: (0..b * t).map(mask).collect(),
    }
}

#[test]
fn every_parameter_gets_a_gradient() {
    for config_json in [LLAMA_TIED, QWEN2_GQA] {
        let cfg = Config::from_json(config_json).unwrap();
        let params = Params::init(&cfg, 1).unwrap();
        let model = TrainModel::new(&cfg, params.var_builder()).unwrap();
        let grads = model
            .loss(&batch(2, 10, |_| true))
            .unwrap()
            .backward()
            .unwrap();
        for (name, var) in params.vars() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name}: no gradient"));
            let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
            // Biases start at 0 but still get a gradient; every gradient is non-zero.
            assert!(norm > 0.0, "{name}: zero gradient");
        }
    }
}

/// The cross-entropy of one position, computed by hand from the logits.
fn hand_ce(logits: &[f32], target: u32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + logits.iter().map(|&l| (l - max).exp()).sum::<f32>().ln();
    lse - logits[target as usize]
}

#[test]
fn loss_counts_only_masked_targets() {
    let cfg = Config::from_json(QWEN2_GQA).unwrap();
    let params = Params::init(&cfg, 2).unwrap();
    let model = TrainModel::new(&cfg, params.var_builder()).unwrap();
    let (b, t, only) = (2, 8, 11); // row 1, position 3
    let one = batch(b, t, |i| i == only);
    let loss: f32 = model.loss(&one).unwrap().to_scalar().unwrap();
    let x = Tensor::from_vec(one.inputs.clone(), (b, t), &Device::Cpu).unwrap();
    let logits: Vec<f32> = model
        .forward(&x)
        .unwrap()
        .get(only / t)
        .unwrap()
        .get(only % t)
        .unwrap()
        .to_vec1()
        .unwrap();
    let want = hand_ce(&logits, one.targets[only]);
    assert!((loss - want).abs() < 1e-5, "loss {loss} vs by hand {want}");

    // Another target at an uncounted position changes neither the loss nor the gradient.
    let mut other = one.clone();
    other.targets[0] = (other.targets[0] + 1) % 300;
    other.targets[15] = (other.targets[15] + 7) % 300;
    let g1 = model.loss(&one).unwrap().backward().unwrap();
    let l2 = model.loss(&other).unwrap();
    assert_eq!(l2.to_scalar::<f32>().unwrap(), loss);
    let g2 = l2.backward().unwrap();
    for (name, var) in params.vars() {
        let (a, b) = (g1.get(var.as_tensor()), g2.get(var.as_tensor()));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(max_abs_diff(a, b), 0.0, "{name}");
    }

    // The mean over several counted targets is the mean of their cross-entropies.
    let two = batch(b, t, |i| i == 2 || i == only);
    let loss2: f32 = model.loss(&two).unwrap().to_scalar().unwrap();
    let row0: Vec<f32> = model
        .forward(&x)
        .unwrap()
        .get(0)
        .unwrap()
        .get(2)
        .unwrap()
        .to_vec1()
        .unwrap();
    let want2 = (hand_ce(&row0, two.targets[2]) + want) / 2.0;
    assert!(
        (loss2 - want2).abs() < 1e-5,
        "loss {loss2} vs by hand {want2}"
    );
}

/// Init is seeded: same seed, same weights; another seed, other weights; norms start at 1.
#[test]
fn init_is_seeded() {
    let cfg = Config::from_json(LLAMA_TIED).unwrap();
    let values = |seed| -> HashMap<String, Vec<f32>> {
        Params::init(&cfg, seed)
            .unwrap()
            .tensors()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.flatten_all().unwrap().to_vec1().unwrap()))
            .collect()
    };
    let (a, b, c) = (values(5), values(5), values(6));
    assert_eq!(a, b);
    assert_ne!(
        a["model.embed_tokens.weight"],
        c["model.embed_tokens.weight"]
    );
    assert!(a["model.norm.weight"].iter().all(|&x| x == 1.0));
    let w = &a["model.layers.0.self_attn.q_proj.weight"];
    let std = (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
    assert!((std - 0.02).abs() < 0.003, "std {std}");
}
