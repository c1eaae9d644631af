//! Tokenizing texts or text pairs for an encoder, and packing them into padded batches.

use std::path::Path;

use candle_core::{Device, Tensor};
use tokenizers::{
    EncodeInput, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

use super::config::EncoderConfig;
use crate::error::{EngineError, Result};

/// How many sequences one forward pass takes (sentence-transformers' default batch size).
pub(crate) const BATCH_SIZE: usize = 32;

/// One tokenized input: ids with the special tokens, and their token types.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

/// `tokenizer.json` with the truncation an encoder needs and no padding (batches are padded
/// here, to their longest member).
#[derive(Debug, Clone)]
pub(crate) struct EncoderTokenizer {
    inner: Tokenizer,
    max_len: usize,
    /// `type_vocab_size` is 1 (RoBERTa) or 0 (DeBERTa-v3): every token type is 0.
    single_type: bool,
}

impl EncoderTokenizer {
    /// Loads `path`, truncating longest-first to `max_len` tokens, special tokens included.
    pub(crate) fn load(path: &Path, max_len: usize, cfg: &EncoderConfig) -> Result<Self> {
        let mut inner = Tokenizer::from_file(path).map_err(|e| EngineError::bad_file(path, e))?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| EngineError::bad_file(path, format!("truncation to {max_len}: {e}")))?;
        Ok(Self {
            inner,
            max_len,
            single_type: cfg.type_vocab_size <= 1,
        })
    }

    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    /// Tokenizes each input (a text, or a `(first, second)` pair) with the special tokens.
    pub(crate) fn encode<'s, E>(&self, inputs: Vec<E>) -> Result<Vec<Encoded>>
    where
        E: Into<EncodeInput<'s>> + Send,
    {
        let encodings = self
            .inner
            .encode_batch(inputs, true)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))?;
        Ok(encodings
            .into_iter()
            .map(|e| Encoded {
                ids: e.get_ids().to_vec(),
                type_ids: if self.single_type {
                    vec![0; e.get_ids().len()]
                } else {
                    e.get_type_ids().to_vec()
                },
            })
            .collect())
    }
}

/// A padded batch: `(b, t)` ids, token types and attention mask.
pub(crate) struct Batch {
    pub input_ids: Tensor,
    pub token_type_ids: Tensor,
    pub attention_mask: Tensor,
}

/// Pads `items` (right) to the longest of them with `pad_id`.
pub(crate) fn pad_batch(items: &[&Encoded], pad_id: u32, device: &Device) -> Result<Batch> {
    let b = items.len();
    let t = items.iter().map(|e| e.ids.len()).max().unwrap_or(0).max(1);
    let mut ids = vec![pad_id; b * t];
    let mut types = vec![0u32; b * t];
    let mut mask = vec![0u32; b * t];
    for (row, e) in items.iter().enumerate() {
        let n = e.ids.len();
        ids[row * t..row * t + n].copy_from_slice(&e.ids);
        types[row * t..row * t + n].copy_from_slice(&e.type_ids);
        mask[row * t..row * t + n].fill(1);
    }
    Ok(Batch {
        input_ids: Tensor::from_vec(ids, (b, t), device)?,
        token_type_ids: Tensor::from_vec(types, (b, t), device)?,
        attention_mask: Tensor::from_vec(mask, (b, t), device)?,
    })
}

/// Indices of `items` in batches of at most `size`, longest first, so that each batch pads
/// little; the caller puts results back in input order.
pub(crate) fn length_sorted_batches(items: &[Encoded], size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(items[i].ids.len()));
    order.chunks(size.max(1)).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(n: usize) -> Encoded {
        Encoded {
            ids: (1..=n as u32).collect(),
            type_ids: vec![0; n],
        }
    }

    #[test]
    fn batches_are_longest_first_and_cover_every_index_once() {
        let items: Vec<Encoded> = [3, 1, 5, 2, 4].into_iter().map(enc).collect();
        let batches = length_sorted_batches(&items, 2);
        assert_eq!(batches, vec![vec![2, 4], vec![0, 3], vec![1]]);
    }

    #[test]
    fn padding_fills_ids_and_masks_out() {
        let items = [enc(3), enc(1)];
        let refs: Vec<&Encoded> = items.iter().collect();
        let b = pad_batch(&refs, 9, &Device::Cpu).unwrap();
        let ids: Vec<Vec<u32>> = b.input_ids.to_vec2().unwrap();
        let mask: Vec<Vec<u32>> = b.attention_mask.to_vec2().unwrap();
        assert_eq!(ids, vec![vec![1, 2, 3], vec![1, 9, 9]]);
        assert_eq!(mask, vec![vec![1, 1, 1], vec![1, 0, 0]]);
    }
}
