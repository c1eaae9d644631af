//! Writing a loadable random-weight checkpoint for any llama-family `config.json`: weights,
//! a byte-level BPE tokenizer of matching vocabulary size, and a ChatML chat template. Tests and
//! benchmarks run on these; speed does not depend on the weight values.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::config::{Config, TokenIds};
use crate::error::{EngineError, Result};

/// The special tokens of the random tokenizer, at ids 0, 1, 2.
pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// A ChatML template, as SmolLM2-Instruct and Qwen2 use.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// Smallest vocabulary the random tokenizer can fill: 3 special tokens and 256 bytes.
pub const MIN_VOCAB: usize = SPECIAL_TOKENS.len() + 256;

/// Writes `config.json`, `model.safetensors`, `tokenizer.json`, `tokenizer_config.json` and
/// `generation_config.json` into `out`, weights in f32. `bos_token_id`/`eos_token_id` are set to
/// the random tokenizer's `<|im_start|>` (1) and `<|im_end|>` (2).
///
/// # Errors
/// When the config is invalid, its vocabulary is smaller than [`MIN_VOCAB`], or a file cannot be
/// written.
pub fn write_random_model(config_json: &str, out: &Path, seed: u64) -> Result<Config> {
    write_random_model_in(config_json, out, seed, DType::F32)
}

/// [`write_random_model`] with every tensor stored in `dtype` (f32, bf16 or f16; `torch_dtype`
/// in `config.json` says which), as most published checkpoints store bf16. The values are the
/// f32 ones of the same seed, rounded to nearest.
///
/// # Errors
/// As [`write_random_model`], and when `dtype` is not a float type a checkpoint stores.
pub fn write_random_model_in(
    config_json: &str,
    out: &Path,
    seed: u64,
    dtype: DType,
) -> Result<Config> {
    let torch_dtype = match dtype {
        DType::F32 => "float32",
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        other => {
            return Err(EngineError::Unsupported(format!(
                "random checkpoints are written in f32, bf16 or f16, not {other:?}"
            )))
        }
    };
    let mut cfg = Config::from_json(config_json)?;
    if cfg.vocab_size < MIN_VOCAB {
        return Err(EngineError::Unsupported(format!(
            "vocab_size {} is too small for the random byte-level tokenizer (at least {MIN_VOCAB})",
            cfg.vocab_size
        )));
    }
    cfg.bos_token_id = Some(TokenIds::One(1));
    cfg.eos_token_id = Some(TokenIds::One(2));
    std::fs::create_dir_all(out).map_err(|source| EngineError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut raw: Value = serde_json::from_str(config_json)
        .map_err(|e| EngineError::Unsupported(format!("cannot parse: {e}")))?;
    raw["bos_token_id"] = json!(1);
    raw["eos_token_id"] = json!(2);
    raw["torch_dtype"] = json!(torch_dtype);
    write_json(&out.join("config.json"), &raw)?;

    let tensors = random_weights(&cfg, seed)?
        .into_iter()
        .map(|(name, t)| Ok((name, t.to_dtype(dtype)?)))
        .collect::<Result<HashMap<_, _>>>()?;
    let path = out.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &path)
        .map_err(|e| EngineError::bad_file(&path, format!("writing: {e}")))?;

    write_json(
        &out.join("tokenizer.json"),
        &random_tokenizer(cfg.vocab_size),
    )?;
    write_json(
        &out.join("tokenizer_config.json"),
        &json!({
            "bos_token": SPECIAL_TOKENS[1],
            "eos_token": SPECIAL_TOKENS[2],
            "chat_template": CHATML_TEMPLATE,
            "model_max_length": cfg.max_position_embeddings,
        }),
    )?;
    write_json(
        &out.join("generation_config.json"),
        &json!({"bos_token_id": 1, "eos_token_id": 2}),
    )?;
    Ok(cfg)
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| EngineError::bad_file(path, e))?;
    std::fs::write(path, text).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Normal(0, std) values from a seeded stream (Box–Muller).
pub fn normal(rng: &mut ChaCha8Rng, n: usize, std: f32) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let a = std::f32::consts::TAU * u2;
        v.push(r * a.cos());
        if v.len() < n {
            v.push(r * a.sin());
        }
    }
    v
}

fn random_weights(cfg: &Config, seed: u64) -> Result<HashMap<String, Tensor>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dev = Device::Cpu;
    let (d, inter, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let (h, kvh, hd) = (cfg.num_attention_heads, cfg.num_kv_heads(), cfg.head_dim());
    let (qkv_bias, o_bias) = cfg.biases()?;
    let mut t = HashMap::new();
    // Weights are N(0, std); norm weights (name ending in "norm.weight") are 1 + N(0, std).
    let mut put = |name: String, shape: &[usize], std: f32, rng: &mut ChaCha8Rng| -> Result<()> {
        let n = shape.iter().product();
        let mut values = normal(rng, n, std);
        if name.ends_with("norm.weight") {
            values.iter_mut().for_each(|x| *x += 1.0);
        }
        t.insert(name, Tensor::from_vec(values, shape, &dev)?);
        Ok(())
    };
    put("model.embed_tokens.weight".into(), &[v, d], 1.0, &mut rng)?;
    let lin = |fan_in: usize| 1.0 / (fan_in as f32).sqrt();
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        for (name, out_dim) in [
            ("q_proj", h * hd),
            ("k_proj", kvh * hd),
            ("v_proj", kvh * hd),
        ] {
            put(
                format!("{p}.self_attn.{name}.weight"),
                &[out_dim, d],
                lin(d),
                &mut rng,
            )?;
            if qkv_bias {
                put(
                    format!("{p}.self_attn.{name}.bias"),
                    &[out_dim],
                    0.1,
                    &mut rng,
                )?;
            }
        }
        put(
            format!("{p}.self_attn.o_proj.weight"),
            &[d, h * hd],
            lin(h * hd),
            &mut rng,
        )?;
        if o_bias {
            put(format!("{p}.self_attn.o_proj.bias"), &[d], 0.1, &mut rng)?;
        }
        put(
            format!("{p}.mlp.gate_proj.weight"),
            &[inter, d],
            lin(d),
            &mut rng,
        )?;
        put(
            format!("{p}.mlp.up_proj.weight"),
            &[inter, d],
            lin(d),
            &mut rng,
        )?;
        put(
            format!("{p}.mlp.down_proj.weight"),
            &[d, inter],
            lin(inter),
            &mut rng,
        )?;
        if cfg.mlp_bias {
            for (name, n) in [("gate_proj", inter), ("up_proj", inter), ("down_proj", d)] {
                put(format!("{p}.mlp.{name}.bias"), &[n], 0.1, &mut rng)?;
            }
        }
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            put(format!("{p}.{norm}.weight"), &[d], 0.1, &mut rng)?;
        }
    }
    put("model.norm.weight".into(), &[d], 0.0, &mut rng)?;
    if !cfg.tie_word_embeddings {
        put("lm_head.weight".into(), &[v, d], lin(d), &mut rng)?;
    }
    Ok(t)
}

/// GPT-2's byte-to-unicode map: printable bytes map to themselves, the rest to U+0100 onwards.
fn byte_chars() -> Vec<char> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut next = 256u32;
    (0u32..256)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap_or('?')
            } else {
                let c = char::from_u32(next).unwrap_or('?');
                next += 1;
                c
            }
        })
        .collect()
}

/// A byte-level BPE `tokenizer.json` with exactly `vocab` tokens: 3 special tokens, 256 bytes,
/// then merges built breadth-first from " " and the lowercase letters ("Ġa", "ab", …, "Ġab", …).
fn random_tokenizer(vocab: usize) -> Value {
    let bytes = byte_chars();
    let mut tokens: Vec<String> = SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect();
    tokens.extend(bytes.iter().map(|c| c.to_string()));
    let mut seen: std::collections::HashSet<String> = tokens.iter().cloned().collect();
    let letters: Vec<String> = (b'a'..=b'z').map(|b| (b as char).to_string()).collect();
    let space = bytes[b' ' as usize].to_string();
    let mut frontier: Vec<String> = std::iter::once(space)
        .chain(letters.iter().cloned())
        .collect();
    let mut merges: Vec<String> = Vec::new();
    let mut i = 0;
    while tokens.len() < vocab && i < frontier.len() {
        let left = frontier[i].clone();
        for right in &letters {
            if tokens.len() >= vocab {
                break;
            }
            let merged = format!("{left}{right}");
            if seen.insert(merged.clone()) {
                merges.push(format!("{left} {right}"));
                tokens.push(merged.clone());
                frontier.push(merged);
            }
        }
        i += 1;
    }
    let vocab_map: serde_json::Map<String, Value> = tokens
        .iter()
        .enumerate()
        .map(|(id, t)| (t.clone(), json!(id)))
        .collect();
    let added: Vec<Value> = SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(id, t)| {
            json!({"id": id, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": byte_level,
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab_map, "merges": merges
        }
    })
}
