//! One model's side of nudging: a [`DecodeSession`] kept in step with the shared text, and the
//! chunks the model writes from it.
//!
//! The models hand over plain text, as the authors' API calls do: every call sends
//! `prompt + output` and the server tokenizes it afresh. Here each model keeps one session,
//! prefilled once; before it writes, the prompt and the shared text are re-tokenized (cheap: a
//! few hundred characters), the session is rolled back to the longest common prefix of its ids
//! and the new tokenization (no copy), and only the rest is fed, in one forward pass. The ids
//! the model then sees are exactly the fresh tokenization the authors' server would see, so the
//! result does not depend on how the text was cut into chunks; the cost is a re-feed of the
//! last token or two at each hand-over instead of a whole prefill.

use hedge_engine::{DecodeSession, EngineError, LocalModel, Result, Sampler};

/// The tokens one call wrote (the authors' `completion`, `tokens`, `top_logprobs`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Chunk {
    pub ids: Vec<u32>,
    /// The text of each token, in the context it was written in.
    pub pieces: Vec<String>,
    /// The top-1 probability of the distribution each token was chosen from.
    pub top1: Vec<f64>,
    /// The model wrote an end-of-sequence token (not kept): the API's `finish_reason == "stop"`.
    pub eos: bool,
}

impl Chunk {
    pub fn text(&self) -> String {
        self.pieces.concat()
    }

    /// The chunk without its first token (stage 2 pops the token stage 1 accepted).
    pub fn without_first(&self) -> Chunk {
        Chunk {
            ids: self.ids.get(1..).unwrap_or_default().to_vec(),
            pieces: self.pieces.get(1..).unwrap_or_default().to_vec(),
            top1: self.top1.get(1..).unwrap_or_default().to_vec(),
            eos: self.eos,
        }
    }
}

/// How much work one model did: forward passes and tokens fed (prefill included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PartyCost {
    pub forward_passes: usize,
    pub tokens_fed: usize,
    /// Tokens rolled back because a fresh tokenization of the shared text differed.
    pub tokens_rolled_back: usize,
}

/// Incremental detokenization, as `tokenizers`' `DecodeStream`, but warmed with the context so
/// that the first piece keeps its leading space under every decoder.
struct TextStream {
    ids: Vec<u32>,
    prefix: String,
}

const WINDOW: usize = 4;

impl TextStream {
    fn new(model: &LocalModel, context: &[u32]) -> Result<Self> {
        let ids = context[context.len().saturating_sub(WINDOW)..].to_vec();
        let prefix = model.tokenizer.decode(&ids)?;
        Ok(Self { ids, prefix })
    }

    fn step(&mut self, model: &LocalModel, id: u32) -> Result<String> {
        self.ids.push(id);
        let text = model.tokenizer.decode(&self.ids)?;
        if text.len() > self.prefix.len() && !text.ends_with('\u{FFFD}') {
            let piece = text
                .strip_prefix(self.prefix.as_str())
                .unwrap_or_default()
                .to_string();
            let keep = self.ids.len().saturating_sub(WINDOW);
            self.ids.drain(..keep);
            self.prefix = model.tokenizer.decode(&self.ids)?;
            Ok(piece)
        } else {
            // A token with no text of its own (a special token, or part of a character).
            Ok(String::new())
        }
    }
}

/// One model with its prompt text and its session.
pub(crate) struct Party<'m> {
    model: &'m LocalModel,
    /// The prompt as this model sees it (the base template, or the chat template rendered).
    prefix: String,
    /// Whether encoding adds the tokenizer's special tokens (raw prompts: yes; chat: the
    /// template carries its own).
    special: bool,
    session: Option<DecodeSession<'m>>,
    sampler: Sampler,
    ignore_eos: bool,
    /// The chunk being written and the id chosen last but not fed yet.
    chunk: Chunk,
    pending: Option<u32>,
    stream: Option<TextStream>,
    pub cost: PartyCost,
}

impl<'m> Party<'m> {
    pub fn new(
        model: &'m LocalModel,
        prefix: String,
        special: bool,
        sampler: Sampler,
        ignore_eos: bool,
    ) -> Self {
        Self {
            model,
            prefix,
            special,
            session: None,
            sampler,
            ignore_eos,
            chunk: Chunk::default(),
            pending: None,
            stream: None,
            cost: PartyCost::default(),
        }
    }

    /// Ids of the prompt alone.
    pub fn prompt_ids(&self) -> Result<Vec<u32>> {
        self.model.tokenizer.encode(&self.prefix, self.special)
    }

    fn feed(&mut self, ids: &[u32]) -> Result<()> {
        let s = self.session.as_mut().ok_or_else(no_session)?;
        s.feed_last(ids)?;
        self.cost.forward_passes += 1;
        self.cost.tokens_fed += ids.len();
        Ok(())
    }

    /// Starts a chunk after `prompt + text`: brings the session to the fresh tokenization of
    /// that string. Returns false when the context window has no room for another token.
    pub fn begin(&mut self, text: &str) -> Result<bool> {
        let target = self
            .model
            .tokenizer
            .encode(&format!("{}{text}", self.prefix), self.special)?;
        self.chunk = Chunk::default();
        self.pending = None;
        if target.is_empty() {
            return Err(EngineError::InvalidParam {
                name: "prompt",
                value: "\"\"".into(),
                allowed: "the prompt must have at least one token",
            });
        }
        let context = self.model.decoder.config().max_position_embeddings;
        if target.len() >= context {
            return Ok(false);
        }
        match &mut self.session {
            None => {
                self.session = Some(DecodeSession::new(self.model, &target)?);
                self.cost.forward_passes += 1;
                self.cost.tokens_fed += target.len();
            }
            Some(s) => {
                let common = s
                    .ids()
                    .iter()
                    .zip(&target)
                    .take_while(|(a, b)| a == b)
                    .count();
                let up_to_date =
                    common == s.len() && common == target.len() && s.next_logits().is_some();
                if !up_to_date {
                    // Keep at least one token to feed: its logits are the next token's.
                    let keep = common.min(target.len() - 1);
                    self.cost.tokens_rolled_back += s.len().saturating_sub(keep);
                    s.truncate(keep);
                    self.feed(&target[keep..])?;
                }
            }
        }
        self.stream = Some(TextStream::new(self.model, &target)?);
        Ok(true)
    }

    /// Writes one more token of the chunk. Returns false (writing nothing) at the model's
    /// end of sequence, which sets [`Chunk::eos`], or when the context is full.
    pub fn step(&mut self) -> Result<bool> {
        if self.chunk.eos {
            return Ok(false);
        }
        if let Some(id) = self.pending.take() {
            let room = self.session.as_ref().map_or(0, DecodeSession::remaining);
            if room <= 1 {
                self.pending = Some(id);
                return Ok(false);
            }
            self.feed(&[id])?;
        }
        let s = self.session.as_ref().ok_or_else(no_session)?;
        let row = s.next_logits().ok_or_else(no_session)?;
        let top1 = top1_probability(row);
        let id = self.sampler.choose(row);
        if !self.ignore_eos && self.model.eos_ids.contains(&id) {
            self.chunk.eos = true;
            return Ok(false);
        }
        let stream = self.stream.as_mut().ok_or_else(no_session)?;
        let piece = stream.step(self.model, id)?;
        self.chunk.ids.push(id);
        self.chunk.pieces.push(piece);
        self.chunk.top1.push(top1);
        self.pending = Some(id);
        Ok(true)
    }

    /// Writes until the chunk holds `n` tokens or the model stops.
    pub fn extend(&mut self, n: usize) -> Result<()> {
        while self.chunk.ids.len() < n && self.step()? {}
        Ok(())
    }

    /// One whole call: up to `n` tokens after `prompt + text`; `None` when the context is full.
    pub fn write(&mut self, text: &str, n: usize) -> Result<Option<Chunk>> {
        if !self.begin(text)? {
            return Ok(None);
        }
        self.extend(n)?;
        Ok(Some(self.chunk.clone()))
    }

    /// The chunk written since the last [`Party::begin`].
    pub fn chunk(&self) -> &Chunk {
        &self.chunk
    }
}

fn no_session() -> EngineError {
    EngineError::InvalidParam {
        name: "session",
        value: "none".into(),
        allowed: "a chunk is written after Party::begin",
    }
}

/// The probability of the most likely token of a logits row (temperature 1).
pub(crate) fn top1_probability(row: &[f32]) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z: f64 = row.iter().map(|&l| (l as f64 - max).exp()).sum();
    1.0 / z
}

#[cfg(test)]
mod tests {
    use super::*;
    use hedge_engine::SamplingParams;

    #[test]
    fn a_session_follows_the_fresh_tokenization_of_the_shared_text() {
        let dir = tempfile::tempdir().unwrap();
        let config = r#"{"model_type": "llama", "vocab_size": 320, "hidden_size": 32,
            "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "max_position_embeddings": 128}"#;
        hedge_engine::write_random_model(config, dir.path(), 5).unwrap();
        let m = LocalModel::load(dir.path().to_str().unwrap(), &candle_core::Device::Cpu).unwrap();
        let sampler = Sampler::new(&SamplingParams::default(), 0);
        let mut p = Party::new(&m, "Question\n".into(), true, sampler, true);
        assert!(p.begin("").unwrap());
        p.extend(6).unwrap();
        assert_eq!(p.chunk().ids.len(), 6);
        // Another writer appends text; the model rolls back to what the fresh tokenization
        // keeps and feeds the rest.
        let shared = format!("{} and then some", p.chunk().text());
        assert!(p.begin(&shared).unwrap());
        let fresh = m
            .tokenizer
            .encode(&format!("Question\n{shared}"), true)
            .unwrap();
        let session = p.session.as_ref().unwrap();
        assert_eq!(session.ids(), &fresh[..]);
        let full: Vec<Vec<f32>> = m.logits(&fresh).unwrap().to_vec2().unwrap();
        let next = session.next_logits().unwrap();
        let last = full.last().unwrap();
        assert!(next.iter().zip(last).all(|(a, b)| (a - b).abs() < 1e-4));
        assert_eq!(
            p.cost.forward_passes,
            1 + 5 + 1,
            "prefill, 5 fed tokens, one hand-over"
        );
    }

    #[test]
    fn top1_of_uniform_and_peaked_rows() {
        assert!((top1_probability(&[0.0; 4]) - 0.25).abs() < 1e-12);
        let p = top1_probability(&[(3.0f32).ln(), 0.0]);
        assert!((p - 0.75).abs() < 1e-6, "{p}");
    }
}
