//! The decoder's exactness against itself: incremental decoding, forks and batches of
//! different-length sequences give the logits of a full forward pass.

mod common;

use candle_core::{Device, Tensor};
use hedge_engine::{KvCache, LocalModel, LogitsAt, SeqInput};

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_scalar::<f32>())
        .expect("diff")
}

const IDS: [u32; 12] = [5, 77, 300, 12, 9, 150, 151, 42, 8, 260, 3, 99];

/// One token through the decoder after what `cache` holds: the logits of its position.
fn decode_one(m: &LocalModel, id: u32, cache: &mut KvCache) -> Tensor {
    m.decoder
        .forward_seqs(
            &mut [SeqInput {
                tokens: &[id],
                cache: Some(cache),
            }],
            LogitsAt::Last,
        )
        .unwrap()
}

#[test]
fn incremental_decoding_matches_full_forward() {
    for ty in ["llama", "qwen2", "mistral"] {
        let dir = tempfile::tempdir().unwrap();
        let m = common::tiny_model(dir.path(), ty, 1);
        let full = m.logits(&IDS).unwrap();
        // Prefill 5 tokens, then one token at a time.
        let mut cache = m.decoder.new_cache();
        let mut rows = vec![m
            .decoder
            .forward_seqs(
                &mut [SeqInput {
                    tokens: &IDS[..5],
                    cache: Some(&mut cache),
                }],
                LogitsAt::All,
            )
            .unwrap()];
        for &id in &IDS[5..] {
            rows.push(decode_one(&m, id, &mut cache));
        }
        let inc = Tensor::cat(&rows, 0).unwrap();
        let d = max_abs_diff(&full, &inc);
        assert!(
            d < 1e-4,
            "{ty}: incremental differs from full forward by {d}"
        );
        assert_eq!(cache.len(), IDS.len());
    }
}

#[test]
fn batch_of_different_lengths_matches_each_alone() {
    let dir = tempfile::tempdir().unwrap();
    let m = common::tiny_model(dir.path(), "llama", 2);
    let a = &IDS[..3];
    let b = &IDS[..]; // 12 tokens
    let c = &IDS[4..9];
    // Give c some cached past so the batch mixes positions too.
    let mut cache_c = m.decoder.new_cache();
    m.decoder
        .forward_seqs(
            &mut [SeqInput {
                tokens: &IDS[..4],
                cache: Some(&mut cache_c),
            }],
            LogitsAt::Last,
        )
        .unwrap();
    let batched = m
        .decoder
        .forward_seqs(
            &mut [
                SeqInput {
                    tokens: a,
                    cache: None,
                },
                SeqInput {
                    tokens: b,
                    cache: None,
                },
                SeqInput {
                    tokens: c,
                    cache: Some(&mut cache_c),
                },
            ],
            LogitsAt::All,
        )
        .unwrap();
    let alone_a = m.logits(a).unwrap();
    let alone_b = m.logits(b).unwrap();
    let alone_c = m.logits(&IDS[..9]).unwrap().narrow(0, 4, 5).unwrap();
    let expect = Tensor::cat(&[alone_a, alone_b, alone_c], 0).unwrap();
    let d = max_abs_diff(&batched, &expect);
    assert!(d < 1e-4, "batched differs by {d}");
}

#[test]
fn forked_caches_are_independent() {
    let dir = tempfile::tempdir().unwrap();
    let m = common::tiny_model(dir.path(), "qwen2", 3);
    let mut base = m.decoder.new_cache();
    m.decoder
        .forward_seqs(
            &mut [SeqInput {
                tokens: &IDS[..6],
                cache: Some(&mut base),
            }],
            LogitsAt::Last,
        )
        .unwrap();
    let mut fork = base.fork().unwrap();
    let step = |cache: &mut KvCache, id: u32| decode_one(&m, id, cache);
    let on_fork = step(&mut fork, 7);
    let on_base = step(&mut base, 8);
    let full7 = m
        .logits(&[&IDS[..6], &[7]].concat())
        .unwrap()
        .narrow(0, 6, 1)
        .unwrap();
    let full8 = m
        .logits(&[&IDS[..6], &[8]].concat())
        .unwrap()
        .narrow(0, 6, 1)
        .unwrap();
    assert!(max_abs_diff(&on_fork, &full7) < 1e-4);
    assert!(max_abs_diff(&on_base, &full8) < 1e-4);
    assert!(
        max_abs_diff(&on_fork, &on_base) > 1e-3,
        "different tokens must give different logits"
    );
}

#[test]
fn sliding_window_changes_long_contexts_only() {
    // mistral's window is 6: the first 6 positions see everything, later ones do not.
    let dir = tempfile::tempdir().unwrap();
    let m = common::tiny_model(dir.path(), "mistral", 4);
    let full = m.logits(&IDS).unwrap();
    let cfg_text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&cfg_text).unwrap();
    v["sliding_window"] = serde_json::Value::Null;
    std::fs::write(dir.path().join("config.json"), v.to_string()).unwrap();
    let nowin =
        hedge_engine::LocalModel::load(dir.path().to_str().unwrap(), &candle_core::Device::Cpu)
            .unwrap();
    let nowin = nowin.logits(&IDS).unwrap();
    assert!(
        max_abs_diff(
            &full.narrow(0, 0, 6).unwrap(),
            &nowin.narrow(0, 0, 6).unwrap()
        ) < 1e-5
    );
    assert!(
        max_abs_diff(
            &full.narrow(0, 7, 5).unwrap(),
            &nowin.narrow(0, 7, 5).unwrap()
        ) > 1e-4
    );
}

/// Verifying a draft feeds a block of tokens to a cache: each token's logits are bit for bit
/// those of feeding the tokens one at a time (what makes greedy speculative decoding lossless),
/// with grouped heads, biases and a sliding window that the block crosses.
#[test]
fn a_block_of_new_tokens_decodes_as_one_token_at_a_time() {
    for ty in ["llama", "qwen2", "mistral"] {
        let dir = tempfile::tempdir().unwrap();
        let m = common::tiny_model(dir.path(), ty, 5);
        let feed = |cache: &mut hedge_engine::KvCache, ids: &[u32], at: LogitsAt| {
            m.decoder
                .forward_seqs(
                    &mut [SeqInput {
                        tokens: ids,
                        cache: Some(cache),
                    }],
                    at,
                )
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        };
        let mut block = m.decoder.new_cache();
        feed(&mut block, &IDS[..4], LogitsAt::Last);
        let mut single = block.fork().unwrap();
        let together = feed(&mut block, &IDS[4..], LogitsAt::All);
        let alone: Vec<Vec<f32>> = IDS[4..]
            .iter()
            .flat_map(|id| feed(&mut single, std::slice::from_ref(id), LogitsAt::Last))
            .collect();
        assert_eq!(together, alone, "{ty}");
        // And both are the full forward pass's, to rounding.
        let full = m.logits(&IDS).unwrap().narrow(0, 4, 8).unwrap();
        let d = max_abs_diff(
            &full,
            &Tensor::new(together, &candle_core::Device::Cpu).unwrap(),
        );
        assert!(d < 1e-4, "{ty}: {d}");
    }
}

/// A model whose weights do not fit in the caches (over 32 MB: its matrices gathered into one
/// buffer, the tied embedding a view of the vocabulary projection, its decoding passes run on a
/// worker of the thread pool) decodes as its full forward does, and gives the same bits from a
/// thread outside the pool as on a pool's own worker.
#[test]
fn a_model_too_large_for_the_caches_decodes_the_same_from_any_thread() {
    let config = r#"{"model_type": "qwen2", "vocab_size": 34000, "hidden_size": 256,
        "intermediate_size": 384, "num_hidden_layers": 1, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": true}"#;
    let dir = tempfile::tempdir().unwrap();
    hedge_engine::write_random_model(config, dir.path(), 3).unwrap();
    let m = LocalModel::load(dir.path().to_str().unwrap(), &Device::Cpu).unwrap();
    let ids = [5u32, 33_999, 17, 2048, 9, 600];
    let full = m.logits(&ids).unwrap();
    let decode = || {
        let mut cache = m.decoder.new_cache();
        let rows: Vec<Tensor> = ids
            .iter()
            .map(|&id| decode_one(&m, id, &mut cache))
            .collect();
        Tensor::cat(&rows, 0).unwrap()
    };
    let outside = decode();
    let d = max_abs_diff(&full, &outside);
    assert!(d < 1e-4, "incremental differs from full forward by {d}");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let inside = pool.install(decode);
    assert_eq!(
        outside.to_vec2::<f32>().unwrap(),
        inside.to_vec2::<f32>().unwrap()
    );
}
