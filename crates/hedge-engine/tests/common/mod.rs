//! Shared helpers of the engine's integration tests: tiny random checkpoints written by the test.
#![allow(dead_code)]

use std::path::Path;

use hedge_engine::{write_random_model, LocalModel};

pub fn tiny_config(model_type: &str) -> String {
    let extra = match model_type {
        "qwen2" => r#", "tie_word_embeddings": true, "rope_theta": 1000000.0"#,
        "mistral" => r#", "sliding_window": 6"#,
        _ => {
            r#", "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32}"#
        }
    };
    format!(
        r#"{{"model_type": "{model_type}", "vocab_size": 320, "hidden_size": 64, "intermediate_size": 96,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 128, "rms_norm_eps": 1e-5{extra}}}"#
    )
}

pub fn tiny_model(dir: &Path, model_type: &str, seed: u64) -> LocalModel {
    write_random_model(&tiny_config(model_type), dir, seed).expect("write random model");
    LocalModel::load(dir.to_str().expect("utf-8 path"), &candle_core::Device::Cpu)
        .expect("load random model")
}
