//! `LocalModel`: a checkpoint loaded on candle, decoding n sequences from one prefilled prompt and
//! keeping the statistics of every step; and teacher-forced scoring of given responses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use candle_core::{Device, Tensor};
use hedge_core::stats::{RowStats, StatsScratch, StepStats};
use hedge_core::token::TokenRecord;
use rayon::prelude::*;

use crate::checkpoint::{read_text, Checkpoint, WeightDtype};
use crate::error::{EngineError, Result};
use crate::generation::{
    Backend, FinishReason, Generation, GenerationRequest, NextTokenLogprobs, ScoreRequest,
    TokenStats,
};
use crate::llama::{Llama, LogitsAt, SeqInput};
use crate::sampling::{Sampler, SamplingParams};
use crate::tokenizer::TextTokenizer;

/// A llama-family checkpoint with its tokenizer, ready to run.
#[derive(Debug, Clone)]
pub struct LocalModel {
    pub name: String,
    pub decoder: Llama,
    pub tokenizer: TextTokenizer,
    /// Every id that ends a sequence (generation_config.json, config.json, tokenizer_config.json).
    pub eos_ids: Vec<u32>,
    /// How many prompts [`LocalModel::sample`] has prefilled (shared by clones).
    prefills: Arc<AtomicUsize>,
}

/// The statistics switched on for a decoding run. `hedge bench whitebox` turns them off to
/// measure their cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stats {
    On,
    Off,
}

/// One decoded sequence before its text is assembled.
#[derive(Debug)]
struct Seq {
    ids: Vec<u32>,
    records: Vec<TokenRecord>,
    pieces: Vec<String>,
    text: String,
    done: Option<FinishReason>,
    sampler: Sampler,
}

impl LocalModel {
    /// Loads `spec` (a folder, or `hf:ORG/NAME[@REV]`) on `device`, computing in f32, with the
    /// weight matrices kept as the checkpoint stores them ([`WeightDtype::Auto`]).
    ///
    /// # Errors
    /// Names the missing or malformed file, or the tensor of the wrong shape.
    pub fn load(spec: &str, device: &Device) -> Result<Self> {
        Self::load_with_dtype(spec, device, WeightDtype::Auto)
    }

    /// [`LocalModel::load`] with the weight matrices kept in `dtype`.
    ///
    /// # Errors
    /// Names the missing or malformed file, or the tensor of the wrong shape.
    pub fn load_with_dtype(spec: &str, device: &Device, dtype: WeightDtype) -> Result<Self> {
        let ckpt = Checkpoint::open(spec)?;
        let vb = ckpt.var_builder(dtype.resolve(&ckpt, device)?, device)?;
        let decoder = Llama::new(&ckpt.config, vb)?;
        let tokenizer = TextTokenizer::load(&ckpt.tokenizer, ckpt.tokenizer_config.as_deref())?;
        let mut eos_ids = Vec::new();
        if let Some(path) = &ckpt.generation_config {
            let json: serde_json::Value = serde_json::from_str(&read_text(path)?)
                .map_err(|e| EngineError::bad_file(path, e))?;
            if let Ok(ids) =
                serde_json::from_value::<crate::config::TokenIds>(json["eos_token_id"].clone())
            {
                eos_ids.extend(ids.to_vec());
            }
        }
        if let Some(ids) = &ckpt.config.eos_token_id {
            eos_ids.extend(ids.to_vec());
        }
        if let Some(id) = tokenizer.eos_token().and_then(|t| tokenizer.token_id(t)) {
            eos_ids.push(id);
        }
        eos_ids.sort_unstable();
        eos_ids.dedup();
        let name = ckpt
            .dir
            .file_name()
            .map_or_else(|| spec.to_string(), |n| n.to_string_lossy().into_owned());
        Ok(Self {
            name,
            decoder,
            tokenizer,
            eos_ids,
            prefills: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// How many prompts have been prefilled by [`LocalModel::sample`] (and so by `generate`
    /// and `generate_n`) since the model was loaded, over this model and its clones: n samples
    /// of one prompt count one.
    pub fn prefill_count(&self) -> usize {
        self.prefills.load(Ordering::Relaxed)
    }

    fn context(&self) -> usize {
        self.decoder.config().max_position_embeddings
    }

    /// The ids of a prompt, checked against the context window.
    ///
    /// # Errors
    /// When the prompt is empty after tokenization or longer than the context.
    pub fn prompt_ids(&self, prompt: &str, chat: bool) -> Result<Vec<u32>> {
        let ids = self.tokenizer.prompt_ids(prompt, chat)?;
        if ids.is_empty() {
            return Err(EngineError::InvalidParam {
                name: "prompt",
                value: "\"\"".into(),
                allowed: "the prompt must have at least one token (this tokenizer adds no BOS token to condition on)",
            });
        }
        if ids.len() >= self.context() {
            return Err(EngineError::TooLong {
                what: "the prompt",
                len: ids.len(),
                max: self.context(),
            });
        }
        Ok(ids)
    }

    /// Draws `n` continuations of `prompt_ids`: the prompt is prefilled once, its cache forked n
    /// ways, and the n sequences decoded as one batch, each with its own seeded stream
    /// (stream i of `params.seed`) and its own stop.
    ///
    /// # Errors
    /// On bad parameters or a model failure.
    pub fn sample(
        &self,
        prompt_ids: &[u32],
        n: usize,
        params: &SamplingParams,
        top_logprobs: usize,
        stats: Stats,
    ) -> Result<Vec<Generation>> {
        params.validate()?;
        if prompt_ids.len() >= self.context() {
            return Err(EngineError::TooLong {
                what: "the prompt",
                len: prompt_ids.len(),
                max: self.context(),
            });
        }
        let mut prefill_cache = self.decoder.new_cache();
        self.prefills.fetch_add(1, Ordering::Relaxed);
        let logits = self.decoder.forward_seqs(
            &mut [SeqInput {
                tokens: prompt_ids,
                cache: Some(&mut prefill_cache),
            }],
            LogitsAt::Last,
        )?;
        let first_row: Vec<f32> = logits.squeeze(0)?.to_vec1()?;
        let mut caches = Vec::with_capacity(n);
        for _ in 1..n {
            caches.push(prefill_cache.fork()?);
        }
        caches.insert(0, prefill_cache);
        let mut seqs: Vec<Seq> = (0..n)
            .map(|i| Seq {
                ids: Vec::new(),
                records: Vec::new(),
                pieces: Vec::new(),
                text: String::new(),
                done: None,
                sampler: Sampler::new(params, i as u64),
            })
            .collect();
        let mut rows: Vec<Vec<f32>> = vec![first_row; n];
        let vocab = self.decoder.config().vocab_size;
        let mut decoders: Vec<_> = (0..n)
            .map(|_| self.tokenizer.inner().decode_stream(true))
            .collect();
        loop {
            // Each sequence's step depends only on its own row, sampler stream and decoder: the
            // n rows are sampled and their statistics computed on every core.
            seqs.par_iter_mut()
                .zip(decoders.par_iter_mut())
                .zip(rows.par_iter())
                .try_for_each_init(
                    || StatsScratch::with_capacity(vocab),
                    |scratch, ((seq, decoder), row)| -> Result<()> {
                        if seq.done.is_some() {
                            return Ok(());
                        }
                        // The statistics first: the sampler draws from the weights they leave.
                        let row_stats = match stats {
                            Stats::On => Some(RowStats::compute_with(scratch, row, top_logprobs)?),
                            Stats::Off => None,
                        };
                        let weights = row_stats.as_ref().map(|_| scratch.weights());
                        let id = seq.sampler.choose_given(row, weights);
                        if !params.ignore_eos && self.eos_ids.contains(&id) {
                            seq.done = Some(FinishReason::Eos);
                            return Ok(());
                        }
                        let piece = decoder
                            .step(id)
                            .map_err(|e| EngineError::Tokenizer(e.to_string()))?
                            .unwrap_or_default();
                        if let Some(row_stats) = row_stats {
                            let st = row_stats.for_token(row, id)?;
                            let rec = TokenRecord::from_stats(id, piece.clone(), st, |t| {
                                self.tokenizer.decode(&[t]).unwrap_or_default()
                            });
                            seq.records.push(rec);
                        }
                        seq.ids.push(id);
                        seq.text.push_str(&piece);
                        seq.pieces.push(piece);
                        if let Some(cut) = find_stop(&seq.text, &params.stop) {
                            truncate_at(seq, cut);
                            seq.done = Some(FinishReason::Stop);
                        } else if seq.ids.len() >= params.max_tokens {
                            seq.done = Some(FinishReason::Length);
                        } else if prompt_ids.len() + seq.ids.len() >= self.context() {
                            seq.done = Some(FinishReason::Context);
                        }
                        Ok(())
                    },
                )?;
            let active: Vec<usize> = (0..n).filter(|&i| seqs[i].done.is_none()).collect();
            if active.is_empty() {
                break;
            }
            let last: Vec<[u32; 1]> = active
                .iter()
                .map(|&i| [*seqs[i].ids.last().unwrap_or(&0)])
                .collect();
            let mut inputs: Vec<SeqInput> = Vec::with_capacity(active.len());
            let mut cache_refs: Vec<Option<&mut _>> = caches.iter_mut().map(Some).collect();
            for (k, &i) in active.iter().enumerate() {
                inputs.push(SeqInput {
                    tokens: &last[k],
                    cache: cache_refs[i].take(),
                });
            }
            let logits = self.decoder.forward_seqs(&mut inputs, LogitsAt::Last)?;
            let new_rows: Vec<Vec<f32>> = logits.to_vec2()?;
            for (row, &i) in new_rows.into_iter().zip(&active) {
                rows[i] = row;
            }
        }
        Ok(seqs
            .into_iter()
            .map(|s| Generation {
                text: s.text,
                tokens: s.records,
                prompt_tokens: prompt_ids.len(),
                finish_reason: s.done.unwrap_or(FinishReason::Length),
                token_stats: TokenStats::Full,
            })
            .collect())
    }

    /// Scores `response` after `prompt` teacher-forced, in one forward pass: for each response
    /// token, the statistics of the distribution the model had when it came to write it.
    /// Prompt and response are tokenized separately and concatenated, as in generation.
    ///
    /// # Errors
    /// On an empty response, an input longer than the context, or a model failure.
    pub fn score_ids(
        &self,
        prompt_ids: &[u32],
        response_ids: &[u32],
        top_logprobs: usize,
    ) -> Result<Vec<TokenRecord>> {
        if response_ids.is_empty() {
            return Err(EngineError::InvalidParam {
                name: "response",
                value: "\"\"".into(),
                allowed: "the response must have at least one token to score",
            });
        }
        let total = prompt_ids.len() + response_ids.len();
        if total > self.context() {
            return Err(EngineError::TooLong {
                what: "prompt + response",
                len: total,
                max: self.context(),
            });
        }
        let mut input = prompt_ids.to_vec();
        input.extend_from_slice(&response_ids[..response_ids.len() - 1]);
        let logits = self.decoder.forward_seqs(
            &mut [SeqInput {
                tokens: &input,
                cache: None,
            }],
            LogitsAt::LastN(response_ids.len()),
        )?;
        let rows: Vec<Vec<f32>> = logits.to_vec2()?;
        let mut scratch = StatsScratch::with_capacity(self.decoder.config().vocab_size);
        let mut stream = self.tokenizer.inner().decode_stream(true);
        rows.iter()
            .zip(response_ids)
            .map(|(row, &id)| {
                let piece = stream
                    .step(id)
                    .map_err(|e| EngineError::Tokenizer(e.to_string()))?
                    .unwrap_or_default();
                let st = StepStats::compute_with(&mut scratch, row, id, top_logprobs)?;
                Ok(TokenRecord::from_stats(id, piece, st, |t| {
                    self.tokenizer.decode(&[t]).unwrap_or_default()
                }))
            })
            .collect()
    }

    /// Logits of every position of `ids` in one forward pass, `(len, vocab)`.
    ///
    /// # Errors
    /// On an empty input or one longer than the context.
    pub fn logits(&self, ids: &[u32]) -> Result<Tensor> {
        self.decoder.forward_seqs(
            &mut [SeqInput {
                tokens: ids,
                cache: None,
            }],
            LogitsAt::All,
        )
    }
}

/// Byte offset of the first stop string in `text`: where decoding cuts the answer.
pub fn find_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s.as_str())).min()
}

/// How many of the tokens whose text `pieces` are to keep when the answer is cut at byte
/// `cut`: those that start before it (a token straddling the cut stays; its text is cut).
pub fn tokens_before_cut(pieces: &[String], cut: usize) -> usize {
    let mut start = 0;
    let mut keep = 0;
    for p in pieces {
        if start >= cut && !p.is_empty() {
            break;
        }
        start += p.len();
        keep += 1;
    }
    keep
}

/// Cuts the text at byte `cut` and drops the tokens that lie wholly after it.
fn truncate_at(seq: &mut Seq, cut: usize) {
    let keep = tokens_before_cut(&seq.pieces, cut);
    seq.ids.truncate(keep);
    seq.pieces.truncate(keep);
    seq.records.truncate(keep.min(seq.records.len()));
    seq.text.truncate(cut);
}

impl Backend for LocalModel {
    fn generate(&self, req: &GenerationRequest) -> Result<Generation> {
        let ids = self.prompt_ids(&req.prompt, req.chat)?;
        let mut out = self.sample(&ids, 1, &req.sampling, req.top_logprobs, Stats::On)?;
        out.pop().ok_or_else(|| EngineError::InvalidParam {
            name: "n",
            value: "0".into(),
            allowed: "at least one sample",
        })
    }

    /// n samples from one prefill: the prompt is tokenized and run once, its KV cache forked n
    /// ways, and the n continuations decoded as one batch, sample i from stream i of
    /// `req.sampling.seed` ([`LocalModel::sample`]).
    fn generate_n(&self, req: &GenerationRequest, n: usize) -> Result<Vec<Generation>> {
        if n == 0 {
            return Err(EngineError::InvalidParam {
                name: "n",
                value: "0".into(),
                allowed: "at least one sample",
            });
        }
        let ids = self.prompt_ids(&req.prompt, req.chat)?;
        self.sample(&ids, n, &req.sampling, req.top_logprobs, Stats::On)
    }

    /// One forward pass over the prompt; each candidate's first token (tokenized alone, without
    /// special tokens) read from the log-softmax of the last position's logits. A candidate
    /// that tokenizes to nothing gets NaN.
    fn next_token_logprobs(
        &self,
        prompt: &str,
        chat: bool,
        candidates: &[&str],
    ) -> Result<NextTokenLogprobs> {
        let ids = self.prompt_ids(prompt, chat)?;
        let logits = self.decoder.forward_seqs(
            &mut [SeqInput {
                tokens: &ids,
                cache: None,
            }],
            LogitsAt::Last,
        )?;
        let row: Vec<f32> = logits.squeeze(0)?.to_vec1()?;
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let log_z = max
            + row
                .iter()
                .map(|&l| (l as f64 - max).exp())
                .sum::<f64>()
                .ln();
        let logprobs = candidates
            .iter()
            .map(|c| {
                let first = self.tokenizer.encode(c, false)?.first().copied();
                Ok(first
                    .and_then(|id| row.get(id as usize))
                    .map_or(f64::NAN, |&l| l as f64 - log_z))
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(NextTokenLogprobs {
            logprobs,
            stats: TokenStats::Full,
        })
    }

    fn score(&self, req: &ScoreRequest) -> Result<Generation> {
        let prompt_ids = self.prompt_ids(&req.prompt, req.chat)?;
        let response_ids = self.tokenizer.encode(&req.response, false)?;
        let tokens = self.score_ids(&prompt_ids, &response_ids, req.top_logprobs)?;
        Ok(Generation {
            text: req.response.clone(),
            tokens,
            prompt_tokens: prompt_ids.len(),
            finish_reason: FinishReason::Scored,
            token_stats: TokenStats::Full,
        })
    }
}
