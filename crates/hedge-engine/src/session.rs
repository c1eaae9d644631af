//! `DecodeSession`: one sequence of a [`LocalModel`] decoded step by step — feed tokens, read
//! the logits after each, roll back, fork — what hedge-steer's multi-model decoders
//! (speculative decoding, nudging, reward-guided search) are built on.

use hedge_core::stats::{StatsScratch, StepStats};
use hedge_core::token::TokenRecord;

use crate::error::{EngineError, Result};
use crate::kv_cache::KvCache;
use crate::llama::{LogitsAt, SeqInput};
use crate::model::LocalModel;

/// A prompt prefilled once, then extended token by token with its own KV cache.
#[derive(Debug)]
pub struct DecodeSession<'m> {
    model: &'m LocalModel,
    cache: KvCache,
    ids: Vec<u32>,
    /// The logits of the next token, when the last fed position's are known.
    next: Option<Vec<f32>>,
}

impl<'m> DecodeSession<'m> {
    /// Prefills `prompt_ids` in one forward pass.
    ///
    /// # Errors
    /// On an empty prompt, one that fills the context, or a model failure.
    pub fn new(model: &'m LocalModel, prompt_ids: &[u32]) -> Result<Self> {
        let mut s = Self {
            model,
            cache: model.decoder.new_cache(),
            ids: Vec::new(),
            next: None,
        };
        s.feed_last(prompt_ids)?;
        Ok(s)
    }

    pub fn model(&self) -> &'m LocalModel {
        self.model
    }

    /// Every id fed so far, prompt first.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// How many positions are cached (the position the next token will have).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Room left in the context window.
    pub fn remaining(&self) -> usize {
        self.model
            .decoder
            .config()
            .max_position_embeddings
            .saturating_sub(self.ids.len())
    }

    /// The logits of the next token; `None` right after [`DecodeSession::truncate`], until a
    /// token is fed.
    pub fn next_logits(&self) -> Option<&[f32]> {
        self.next.as_deref()
    }

    /// Feeds `tokens` in one forward pass and returns the logits after each of them (row i
    /// predicts the token after `tokens[i]`); the last row becomes [`Self::next_logits`].
    ///
    /// # Errors
    /// On an empty `tokens`, a sequence past the context, or a model failure.
    pub fn feed(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        let logits = self.model.decoder.forward_seqs(
            &mut [SeqInput {
                tokens,
                cache: Some(&mut self.cache),
            }],
            LogitsAt::All,
        )?;
        let rows: Vec<Vec<f32>> = logits.to_vec2()?;
        self.ids.extend_from_slice(tokens);
        self.next = rows.last().cloned();
        Ok(rows)
    }

    /// Feeds `tokens` in one forward pass, computing only the last position's logits (a
    /// prefill, or a text hand-over whose inner distributions are not needed), and returns them.
    ///
    /// # Errors
    /// As [`DecodeSession::feed`].
    pub fn feed_last(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        let logits = self.model.decoder.forward_seqs(
            &mut [SeqInput {
                tokens,
                cache: Some(&mut self.cache),
            }],
            LogitsAt::Last,
        )?;
        let row: Vec<f32> = logits.squeeze(0)?.to_vec1()?;
        self.ids.extend_from_slice(tokens);
        Ok(self.next.insert(row))
    }

    /// Feeds one token to each session in a single batched forward pass, each at its own
    /// position, and returns each one's next logits.
    ///
    /// # Errors
    /// When `sessions` and `tokens` differ in length, the sessions belong to different models,
    /// or on a model failure.
    pub fn feed_batch(sessions: &mut [DecodeSession<'m>], tokens: &[u32]) -> Result<()> {
        if sessions.len() != tokens.len() {
            return Err(EngineError::InvalidParam {
                name: "tokens",
                value: format!("{} tokens for {} sessions", tokens.len(), sessions.len()),
                allowed: "one token per session",
            });
        }
        let Some(first) = sessions.first() else {
            return Ok(());
        };
        let model = first.model;
        if sessions.iter().any(|s| !std::ptr::eq(s.model, model)) {
            return Err(EngineError::InvalidParam {
                name: "sessions",
                value: "sessions of different models".into(),
                allowed: "a batch runs the sessions of one model",
            });
        }
        let singles: Vec<[u32; 1]> = tokens.iter().map(|&t| [t]).collect();
        let mut inputs: Vec<SeqInput> = sessions
            .iter_mut()
            .zip(&singles)
            .map(|(s, t)| SeqInput {
                tokens: t,
                cache: Some(&mut s.cache),
            })
            .collect();
        let logits = model.decoder.forward_seqs(&mut inputs, LogitsAt::Last)?;
        let rows: Vec<Vec<f32>> = logits.to_vec2()?;
        for ((s, row), &t) in sessions.iter_mut().zip(rows).zip(tokens) {
            s.ids.push(t);
            s.next = Some(row);
        }
        Ok(())
    }

    /// Rolls back to the first `len` ids (a rejected draft); nothing is copied. The next
    /// logits are then unknown until a token is fed. A `len` at or past the current length
    /// changes nothing.
    pub fn truncate(&mut self, len: usize) {
        if len < self.ids.len() {
            self.ids.truncate(len);
            self.cache.truncate(len);
            self.next = None;
        }
    }

    /// An independent copy: extending one leaves the other unchanged.
    ///
    /// # Errors
    /// Only on a device failure.
    pub fn fork(&self) -> Result<Self> {
        Ok(Self {
            model: self.model,
            cache: self.cache.fork()?,
            ids: self.ids.clone(),
            next: self.next.clone(),
        })
    }
}

impl LocalModel {
    /// The [`TokenRecord`] of choosing `id` from a logits row (METHODS §1), with the text
    /// `piece` and the `top_logprobs` most likely alternatives, as decoding records it.
    ///
    /// # Errors
    /// When the row is empty or `id` is outside it.
    pub fn token_record(
        &self,
        scratch: &mut StatsScratch,
        row: &[f32],
        id: u32,
        piece: String,
        top_logprobs: usize,
    ) -> Result<TokenRecord> {
        let st = StepStats::compute_with(scratch, row, id, top_logprobs)?;
        Ok(TokenRecord::from_stats(id, piece, st, |t| {
            self.tokenizer.decode(&[t]).unwrap_or_default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn model() -> (tempfile::TempDir, LocalModel) {
        let dir = tempfile::tempdir().unwrap();
        let config = r#"{"model_type": "llama", "vocab_size": 300, "hidden_size": 32,
            "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "max_position_embeddings": 64}"#;
        crate::write_random_model(config, dir.path(), 3).unwrap();
        let m = LocalModel::load(dir.path().to_str().unwrap(), &Device::Cpu).unwrap();
        (dir, m)
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
    }

    #[test]
    fn feeding_rolling_back_and_forking_give_the_full_forward_logits() {
        let (_dir, m) = model();
        let ids = [5u32, 17, 42, 99, 7, 250, 3, 11];
        let full: Vec<Vec<f32>> = m.logits(&ids).unwrap().to_vec2().unwrap();

        let mut s = DecodeSession::new(&m, &ids[..3]).unwrap();
        assert!(close(s.next_logits().unwrap(), &full[2]));
        let rows = s.feed(&[ids[3], 200, 201]).unwrap();
        assert!(close(&rows[0], &full[3]));
        // A wrong draft rolled back and replaced by the true tokens.
        s.truncate(4);
        assert!(s.next_logits().is_none());
        let rows = s.feed(&ids[4..6]).unwrap();
        assert!(close(&rows[1], &full[5]));

        let mut a = s.fork().unwrap();
        let mut b = s.fork().unwrap();
        a.feed(&[ids[6]]).unwrap();
        b.feed(&[1]).unwrap();
        let mut batch = vec![a, b];
        DecodeSession::feed_batch(&mut batch, &[ids[7], 2]).unwrap();
        assert_eq!(batch[0].ids(), &ids[..]);
        assert!(close(batch[0].next_logits().unwrap(), &full[7]));
        assert_eq!(s.len(), 6, "forks leave the original alone");
    }
}
