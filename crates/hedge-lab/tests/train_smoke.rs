//! A few dozen steps on a tiny model: the loss falls, training is reproducible bit for bit, the
//! saved model loads through hedge-engine's loader with the same logits, and a stopped run
//! resumes exactly where it stopped; a run can start from saved weights (fine-tuning).

use std::ops::ControlFlow;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use hedge_engine::{Config, LocalModel};
use hedge_lab::error::LabError;
use hedge_lab::train::{train, Example, StepReport, TrainConfig, TrainModel, CHECKPOINT_DIR};

/// Untied head and grouped-query attention, so that every kind of weight is trained and saved.
const TINY: &str = r#"{"model_type": "llama", "vocab_size": 300, "hidden_size": 48,
    "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "tie_word_embeddings": false, "max_position_embeddings": 64}"#;

/// Short repetitive "documents": a varying first token, then a fixed phrase that depends on it;
/// only the phrase counts in the loss (as the assistant turn of a chat example would).
fn examples() -> Vec<Example> {
    (0..24u32)
        .map(|i| {
            let k = i % 6;
            let mut ids = vec![3 + k];
            ids.extend((0..7).map(|j| 40 + 10 * k + j));
            let mut loss_mask = vec![false; ids.len()];
            loss_mask[1..].iter_mut().for_each(|m| *m = true);
            Example { ids, loss_mask }
        })
        .collect()
}

fn config() -> TrainConfig {
    TrainConfig {
        seed: 11,
        steps: 40,
        batch_size: 4,
        seq_len: 24,
        lr: 1e-2,
        warmup_steps: 5,
        min_lr_ratio: 0.1,
        weight_decay: 0.01,
        grad_clip: 1.0,
        log_every: 10,
        checkpoint_every: 0,
        init: None,
    }
}

fn run(
    out: &Path,
    cfg: &TrainConfig,
    stop_at: Option<usize>,
) -> (
    Vec<StepReport>,
    hedge_lab::error::Result<hedge_lab::train::TrainSummary>,
) {
    let model = Config::from_json(TINY).unwrap();
    let mut reports = Vec::new();
    let summary = train(&model, &examples(), cfg, out, &mut |r| {
        reports.push(r.clone());
        if Some(r.step) == stop_at {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    (reports, summary)
}

fn weights(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("model.safetensors")).unwrap()
}

#[test]
fn loss_falls_and_training_is_reproducible() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = config();
    let (reports, summary) = run(a.path(), &cfg, None);
    let summary = summary.unwrap();
    let first = reports[0].loss;
    eprintln!(
        "loss {first} -> {} in {} steps",
        summary.final_loss, summary.steps
    );
    assert!(summary.completed && summary.steps == 40 && reports.len() == 40);
    assert!(
        summary.final_loss < 0.6 * first,
        "loss {first} -> {}",
        summary.final_loss
    );
    assert_eq!(summary.tokens_seen, 40 * 4 * 24);
    assert!(reports.iter().filter(|r| r.log).count() == 4);
    assert!(!a.path().join(CHECKPOINT_DIR).exists());

    let (_, again) = run(b.path(), &cfg, None);
    assert_eq!(
        again.unwrap().final_loss.to_bits(),
        summary.final_loss.to_bits()
    );
    assert_eq!(weights(a.path()), weights(b.path()));

    let c = tempfile::tempdir().unwrap();
    let other_seed = TrainConfig { seed: 12, ..cfg };
    let (_, other) = run(c.path(), &other_seed, None);
    assert_ne!(other.unwrap().final_loss, summary.final_loss);
}

#[test]
fn saved_model_loads_through_the_engine_with_the_same_logits() {
    let dir = tempfile::tempdir().unwrap();
    // The random model brings the tokenizer files; training overwrites config and weights.
    hedge_engine::write_random_model(TINY, dir.path(), 0).unwrap();
    let cfg = TrainConfig {
        steps: 15,
        ..config()
    };
    run(dir.path(), &cfg, None).1.unwrap();
    let loaded = LocalModel::load(dir.path().to_str().unwrap(), &Device::Cpu).unwrap();
    let mut saved = loaded.decoder.config().clone();
    assert_eq!(saved.torch_dtype.as_deref(), Some("float32"));
    (saved.torch_dtype, saved.architectures) = (None, None);
    assert_eq!(saved, Config::from_json(TINY).unwrap());

    let trained =
        candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu).unwrap();
    assert!(trained.values().all(|t| t.dtype() == DType::F32));
    let vb = VarBuilder::from_tensors(trained, DType::F32, &Device::Cpu);
    let model = TrainModel::new(loaded.decoder.config(), vb).unwrap();
    let ids: Vec<u32> = examples()[..3].iter().flat_map(|e| e.ids.clone()).collect();
    let x = Tensor::from_vec(ids, (3, 8), &Device::Cpu).unwrap();
    let diff: f32 = (loaded.decoder.forward(&x).unwrap() - model.forward(&x).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(diff < 1e-5, "max |Δlogit| = {diff}");
}

#[test]
fn a_stopped_run_resumes_exactly() {
    let (straight, resumed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = TrainConfig {
        steps: 20,
        ..config()
    };
    let (all, summary) = run(straight.path(), &cfg, None);
    let summary = summary.unwrap();

    let (first, stopped) = run(resumed.path(), &cfg, Some(10));
    let stopped = stopped.unwrap();
    assert!(!stopped.completed && stopped.steps == 10 && first.len() == 10);
    assert!(resumed.path().join(CHECKPOINT_DIR).is_dir());
    assert!(!resumed.path().join("model.safetensors").exists());

    // Another run's settings do not resume from this checkpoint.
    let other = TrainConfig {
        lr: 5e-3,
        ..cfg.clone()
    };
    assert!(matches!(
        run(resumed.path(), &other, None).1,
        Err(LabError::Checkpoint { .. })
    ));

    let (rest, finished) = run(resumed.path(), &cfg, None);
    let finished = finished.unwrap();
    assert_eq!(finished.resumed_from, 10);
    assert_eq!(rest[0].step, 11);
    assert!(finished.completed && finished.steps == 20);
    assert_eq!(finished.tokens_seen, summary.tokens_seen);
    // Weights, AdamW moments, schedule and data order all continue: bit-identical.
    let losses = |r: &[StepReport]| r.iter().map(|r| r.loss.to_bits()).collect::<Vec<_>>();
    assert_eq!(losses(&all[10..]), losses(&rest));
    assert_eq!(finished.final_loss.to_bits(), summary.final_loss.to_bits());
    assert_eq!(weights(straight.path()), weights(resumed.path()));
    assert!(!resumed.path().join(CHECKPOINT_DIR).exists());
}

#[test]
fn periodic_checkpoints_resume_exactly() {
    let (straight, resumed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = TrainConfig {
        steps: 12,
        checkpoint_every: 5,
        ..config()
    };
    let summary = run(straight.path(), &cfg, None).1.unwrap();
    // Stop at step 7: the checkpoint of step 5 is replaced by one at 7.
    run(resumed.path(), &cfg, Some(7)).1.unwrap();
    let finished = run(resumed.path(), &cfg, None).1.unwrap();
    assert_eq!(finished.resumed_from, 7);
    assert_eq!(finished.final_loss.to_bits(), summary.final_loss.to_bits());
    assert_eq!(weights(straight.path()), weights(resumed.path()));
}

/// Fine-tuning: a run started from a trained model's weights begins at that model's loss, not at
/// a fresh model's; weights that are missing or of another shape are refused, naming the file.
#[test]
fn a_run_starts_from_saved_weights() {
    let (trained, tuned) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = config();
    let (fresh, summary) = run(trained.path(), &cfg, None);
    let summary = summary.unwrap();
    let init = trained.path().join("model.safetensors");
    let from_trained = TrainConfig {
        steps: 5,
        init: Some(init.clone()),
        ..cfg.clone()
    };
    let (reports, _) = run(tuned.path(), &from_trained, None);
    assert!(
        reports[0].loss < 0.5 * fresh[0].loss && reports[0].loss < 2.0 * summary.final_loss,
        "first loss {} (fresh {}, trained {})",
        reports[0].loss,
        fresh[0].loss,
        summary.final_loss
    );

    let missing = TrainConfig {
        init: Some(trained.path().join("nope.safetensors")),
        ..from_trained.clone()
    };
    let err = run(tempfile::tempdir().unwrap().path(), &missing, None)
        .1
        .unwrap_err();
    assert!(matches!(err, LabError::Io { .. }) && err.to_string().contains("nope.safetensors"));

    let other = tempfile::tempdir().unwrap();
    hedge_engine::write_random_model(TINY.replace("48", "32").as_str(), other.path(), 0).unwrap();
    let wrong_shape = TrainConfig {
        init: Some(other.path().join("model.safetensors")),
        ..from_trained
    };
    let err = run(tempfile::tempdir().unwrap().path(), &wrong_shape, None)
        .1
        .unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}
