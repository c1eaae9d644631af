//! The answer as it is written token by token: text pieces, the target's records and the
//! stops, exactly as `LocalModel`'s own decoding assembles them (hedge-engine's model.rs).

use hedge_core::stats::StatsScratch;
use hedge_core::token::TokenRecord;
use hedge_engine::{EngineError, FinishReason, LocalModel, Result, SamplingParams};
use tokenizers::{
    DecodeStream, DecoderWrapper, ModelWrapper, NormalizerWrapper, PostProcessorWrapper,
    PreTokenizerWrapper,
};

/// The incremental decoder of a `tokenizers::Tokenizer`.
type Stream<'t> = DecodeStream<
    't,
    ModelWrapper,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// One answer being written.
pub(crate) struct Output<'m> {
    model: &'m LocalModel,
    params: &'m SamplingParams,
    prompt_len: usize,
    context: usize,
    top_logprobs: usize,
    stream: Stream<'m>,
    scratch: StatsScratch,
    pub ids: Vec<u32>,
    pub records: Vec<TokenRecord>,
    pieces: Vec<String>,
    pub text: String,
    pub done: Option<FinishReason>,
}

impl<'m> Output<'m> {
    pub(crate) fn new(
        model: &'m LocalModel,
        params: &'m SamplingParams,
        prompt_len: usize,
        top_logprobs: usize,
    ) -> Self {
        let vocab = model.decoder.config().vocab_size;
        Self {
            model,
            params,
            prompt_len,
            context: model.decoder.config().max_position_embeddings,
            top_logprobs,
            stream: model.tokenizer.inner().decode_stream(true),
            scratch: StatsScratch::with_capacity(vocab),
            ids: Vec::new(),
            records: Vec::new(),
            pieces: Vec::new(),
            text: String::new(),
            done: None,
        }
    }

    /// How many more tokens may be written before max_tokens or the context ends the answer.
    pub(crate) fn room(&self) -> usize {
        let by_length = self.params.max_tokens.saturating_sub(self.ids.len());
        let by_context = self
            .context
            .saturating_sub(self.prompt_len + self.ids.len());
        by_length.min(by_context)
    }

    /// Writes `id`, chosen from the target's logits `row`: an end-of-sequence token ends the
    /// answer (not kept); otherwise its text piece and record are kept and the stops checked.
    ///
    /// # Errors
    /// On a tokenizer failure or a malformed row.
    pub(crate) fn push(&mut self, id: u32, row: &[f32]) -> Result<()> {
        if !self.params.ignore_eos && self.model.eos_ids.contains(&id) {
            self.done = Some(FinishReason::Eos);
            return Ok(());
        }
        let piece = self
            .stream
            .step(id)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))?
            .unwrap_or_default();
        let rec = self.model.token_record(
            &mut self.scratch,
            row,
            id,
            piece.clone(),
            self.top_logprobs,
        )?;
        self.records.push(rec);
        self.ids.push(id);
        self.text.push_str(&piece);
        self.pieces.push(piece);
        if let Some(cut) = find_stop(&self.text, &self.params.stop) {
            self.truncate_at(cut);
            self.done = Some(FinishReason::Stop);
        } else if self.ids.len() >= self.params.max_tokens {
            self.done = Some(FinishReason::Length);
        } else if self.prompt_len + self.ids.len() >= self.context {
            self.done = Some(FinishReason::Context);
        }
        Ok(())
    }

    /// Cuts the text at byte `cut` and drops the tokens that lie wholly after it.
    fn truncate_at(&mut self, cut: usize) {
        let mut start = 0;
        let mut keep = 0;
        for p in &self.pieces {
            if start >= cut && !p.is_empty() {
                break;
            }
            start += p.len();
            keep += 1;
        }
        self.ids.truncate(keep);
        self.pieces.truncate(keep);
        self.records.truncate(keep);
        self.text.truncate(cut);
    }
}

/// Byte offset of the first stop string in `text`.
fn find_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s.as_str())).min()
}
