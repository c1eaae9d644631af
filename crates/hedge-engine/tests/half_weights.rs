//! Half-precision weight storage: a bf16 (or f16) checkpoint kept in bf16 gives bit for bit the
//! logits of the same checkpoint widened to f32 at load time (as transformers loads a bf16
//! checkpoint in float32), on the full forward, on incremental decoding, on batches, and in
//! greedy continuations.

mod common;

use candle_core::{DType, Device, Tensor};
use hedge_engine::{
    write_random_model_in, Checkpoint, LocalModel, LogitsAt, SamplingParams, SeqInput, Stats,
    WeightDtype,
};

const IDS: [u32; 12] = [5, 77, 300, 12, 9, 150, 151, 42, 8, 260, 3, 99];

/// Row lengths (72, 100) that leave a tail after the kernels' 32-wide blocks, and biases.
const ODD_CONFIG: &str = r#"{"model_type": "qwen2", "vocab_size": 330, "hidden_size": 72,
    "intermediate_size": 100, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
    "tie_word_embeddings": false}"#;

fn load(dir: &std::path::Path, dtype: WeightDtype) -> LocalModel {
    LocalModel::load_with_dtype(dir.to_str().unwrap(), &Device::Cpu, dtype).unwrap()
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_vec2().unwrap()
}

/// Prefill 5 tokens, then one token at a time: the logits of every position.
fn incremental(m: &LocalModel) -> Vec<Vec<f32>> {
    let mut cache = m.decoder.new_cache();
    let mut out = rows(
        &m.decoder
            .forward_seqs(
                &mut [SeqInput {
                    tokens: &IDS[..5],
                    cache: Some(&mut cache),
                }],
                LogitsAt::All,
            )
            .unwrap(),
    );
    for id in &IDS[5..] {
        out.extend(rows(
            &m.decoder
                .forward_seqs(
                    &mut [SeqInput {
                        tokens: std::slice::from_ref(id),
                        cache: Some(&mut cache),
                    }],
                    LogitsAt::Last,
                )
                .unwrap(),
        ));
    }
    out
}

/// Three sequences of one new token each: the matrix–vector path with several rows.
fn small_batch(m: &LocalModel) -> Vec<Vec<f32>> {
    let mut caches: Vec<_> = (0..3).map(|_| m.decoder.new_cache()).collect();
    for (i, c) in caches.iter_mut().enumerate() {
        m.decoder
            .forward_seqs(
                &mut [SeqInput {
                    tokens: &IDS[i..i + 4],
                    cache: Some(c),
                }],
                LogitsAt::Last,
            )
            .unwrap();
    }
    let mut inputs: Vec<SeqInput> = caches
        .iter_mut()
        .zip(&IDS[6..9])
        .map(|(c, id)| SeqInput {
            tokens: std::slice::from_ref(id),
            cache: Some(c),
        })
        .collect();
    rows(&m.decoder.forward_seqs(&mut inputs, LogitsAt::Last).unwrap())
}

fn greedy(m: &LocalModel) -> Vec<u32> {
    let params = SamplingParams {
        max_tokens: 24,
        ignore_eos: true,
        ..SamplingParams::default()
    };
    let g = m.sample(&IDS[..4], 1, &params, 0, Stats::Off).unwrap();
    m.tokenizer.encode(&g[0].text, false).unwrap()
}

fn assert_same_numbers(half: &LocalModel, wide: &LocalModel, what: &str) {
    assert_eq!(
        rows(&half.logits(&IDS).unwrap()),
        rows(&wide.logits(&IDS).unwrap()),
        "{what}: full forward"
    );
    let inc = incremental(half);
    assert_eq!(inc, incremental(wide), "{what}: incremental decoding");
    let full = rows(&half.logits(&IDS).unwrap());
    let worst = full
        .iter()
        .flatten()
        .zip(inc.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "{what}: incremental vs full forward {worst}");
    assert_eq!(small_batch(half), small_batch(wide), "{what}: batch of 3");
    assert_eq!(greedy(half), greedy(wide), "{what}: greedy continuation");
}

#[test]
fn bf16_storage_gives_the_logits_of_the_f32_widening() {
    let configs = [
        ("llama", common::tiny_config("llama")),
        ("qwen2 tied", common::tiny_config("qwen2")),
        ("mistral", common::tiny_config("mistral")),
        ("qwen2 odd sizes", ODD_CONFIG.to_string()),
    ];
    for (what, config) in configs {
        let dir = tempfile::tempdir().unwrap();
        write_random_model_in(&config, dir.path(), 7, DType::BF16).unwrap();
        let half = load(dir.path(), WeightDtype::Auto);
        assert_eq!(half.decoder.weight_dtype(), DType::BF16, "{what}");
        let wide = load(dir.path(), WeightDtype::F32);
        assert_eq!(wide.decoder.weight_dtype(), DType::F32, "{what}");
        assert_same_numbers(&half, &wide, what);
    }
}

#[test]
fn f16_storage_gives_the_logits_of_the_f32_widening() {
    let dir = tempfile::tempdir().unwrap();
    write_random_model_in(ODD_CONFIG, dir.path(), 8, DType::F16).unwrap();
    let half = load(dir.path(), WeightDtype::Auto);
    assert_eq!(half.decoder.weight_dtype(), DType::F16);
    assert_same_numbers(&half, &load(dir.path(), WeightDtype::F32), "f16");
}

#[test]
fn auto_keeps_the_stored_dtype() {
    let f32_dir = tempfile::tempdir().unwrap();
    let bf16_dir = tempfile::tempdir().unwrap();
    let config = common::tiny_config("llama");
    hedge_engine::write_random_model(&config, f32_dir.path(), 1).unwrap();
    write_random_model_in(&config, bf16_dir.path(), 1, DType::BF16).unwrap();
    let stored = |d: &tempfile::TempDir| {
        Checkpoint::from_dir(d.path())
            .unwrap()
            .stored_dtype()
            .unwrap()
    };
    assert_eq!(stored(&f32_dir), Some(DType::F32));
    assert_eq!(stored(&bf16_dir), Some(DType::BF16));
    assert_eq!(
        load(f32_dir.path(), WeightDtype::Auto)
            .decoder
            .weight_dtype(),
        DType::F32
    );
    // An f32 checkpoint can be asked to be kept in bf16 (rounded: other numbers, half the bytes).
    assert_eq!(
        load(f32_dir.path(), WeightDtype::Bf16)
            .decoder
            .weight_dtype(),
        DType::BF16
    );
    let config_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(bf16_dir.path().join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config_json["torch_dtype"], "bfloat16");
}

#[test]
fn dtype_names_parse_and_bad_ones_list_the_allowed() {
    for (name, want) in [
        ("auto", WeightDtype::Auto),
        ("f32", WeightDtype::F32),
        ("bf16", WeightDtype::Bf16),
        ("bfloat16", WeightDtype::Bf16),
        ("f16", WeightDtype::F16),
    ] {
        assert_eq!(name.parse::<WeightDtype>().unwrap(), want);
    }
    let e = "int8".parse::<WeightDtype>().unwrap_err().to_string();
    assert!(e.contains("int8") && e.contains("bf16"), "{e}");
}
