//! `RewardGuided`: a [`LocalModel`] decoded under a reward by DeAL, ARGS or Transfer Q*, as a
//! [`Backend`]; and what the three share: the token-level loop of ARGS and Transfer Q*, and the
//! text of a finished answer (pieces, stop strings, per-step records).

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use hedge_core::stats::StatsScratch;
use hedge_core::token::TokenRecord;
use hedge_engine::{
    Backend, DecodeSession, EngineError, FinishReason, Generation, GenerationRequest, LocalModel,
    NextTokenLogprobs, Result, Sampler, SamplingParams, ScoreRequest, TokenStats,
};

use super::argsearch::ArgsParams;
use super::deal::DealParams;
use super::transfer_q::TransferQParams;
use super::Reward;
use serde::Serialize;

/// Which reward-guided decoder, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Guide {
    /// No guidance: the model's own decoding, the reward only measured (the baseline).
    Plain,
    /// DeAL lookahead search.
    Deal(DealParams),
    /// ARGS: top-k tokens scored by logit + w·R(x, y + v).
    Args(ArgsParams),
    /// Transfer Q*: as ARGS, R on a greedy rollout of a baseline model.
    TransferQ(TransferQParams),
}

impl Guide {
    /// The method's short name: `deal`, `args` or `tq`.
    pub fn name(&self) -> &'static str {
        match self {
            Guide::Plain => "plain",
            Guide::Deal(_) => "deal",
            Guide::Args(_) => "args",
            Guide::TransferQ(_) => "tq",
        }
    }

    fn validate(&self) -> Result<()> {
        match self {
            Guide::Plain => Ok(()),
            Guide::Deal(p) => p.validate(),
            Guide::Args(p) => p.validate(),
            Guide::TransferQ(p) => p.validate(),
        }
    }
}

/// A model decoded under a reward: every [`Backend`] call of hedge (generate, ask, eval) can
/// run through it. Scoring a given response is the model's own, unguided.
pub struct RewardGuided {
    model: LocalModel,
    baseline: Option<LocalModel>,
    reward: Box<dyn Reward>,
    guide: Guide,
    log: Option<RewardLog>,
}

/// Where a [`RewardGuided`] backend leaves a note on each answer it writes, so that a command
/// holding only a `dyn Backend` can still show the reward. Cloning shares the log.
#[derive(Debug, Clone, Default)]
pub struct RewardLog(Arc<Mutex<Vec<RewardNote>>>);

/// The reward of one answer, and what the search cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewardNote {
    /// The decoder: `plain`, `deal`, `args` or `tq`.
    pub guide: &'static str,
    /// R(x, y) of the final text.
    pub reward: f64,
    /// Texts the reward scored while decoding (candidates, lookaheads, rollouts).
    pub reward_calls: usize,
    /// The answer's text, to match the note to the answer.
    #[serde(skip)]
    pub text: String,
}

impl RewardLog {
    fn push(&self, n: RewardNote) {
        if let Ok(mut v) = self.0.lock() {
            v.push(n);
        }
    }

    /// The first note logged since the last call whose text is `text` (the command's own
    /// answer, not the samples drawn after it for estimators); empties the log.
    pub fn take(&self, text: &str) -> Option<RewardNote> {
        let mut v = self.0.lock().ok()?;
        let pos = v.iter().position(|n| n.text == text);
        let found = pos.map(|i| v.swap_remove(i));
        v.clear();
        found
    }
}

impl std::fmt::Debug for RewardGuided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewardGuided")
            .field("model", &self.model.name)
            .field("baseline", &self.baseline.as_ref().map(|b| &b.name))
            .field("guide", &self.guide)
            .finish()
    }
}

/// What one decoding run needs to read, shared by the three decoders.
pub(crate) struct Run<'a> {
    pub model: &'a LocalModel,
    pub reward: &'a dyn Reward,
    /// x as the reward reads it: the user's prompt, without the chat template.
    pub prompt: &'a str,
    pub prompt_ids: &'a [u32],
    pub params: &'a SamplingParams,
    pub top_logprobs: usize,
    /// Texts scored so far.
    pub calls: Cell<usize>,
}

impl Run<'_> {
    pub fn context(&self) -> usize {
        self.model.decoder.config().max_position_embeddings
    }

    pub fn is_eos(&self, id: u32) -> bool {
        !self.params.ignore_eos && self.model.eos_ids.contains(&id)
    }

    /// The text of `ids` followed by each continuation, as the reward reads it.
    pub fn texts(&self, ids: &[u32], continuations: &[Vec<u32>]) -> Result<Vec<String>> {
        let mut buf = ids.to_vec();
        continuations
            .iter()
            .map(|c| {
                buf.truncate(ids.len());
                buf.extend_from_slice(c);
                self.model.tokenizer.decode(&buf)
            })
            .collect()
    }

    /// R(x, y) of each text, counted in [`Run::calls`].
    pub fn rewards(&self, texts: &[String]) -> Result<Vec<f64>> {
        self.calls.set(self.calls.get() + texts.len());
        self.reward.rewards(self.prompt, texts)
    }
}

impl RewardGuided {
    /// # Errors
    /// When a parameter of `guide` is out of range; the error says what is allowed.
    pub fn new(model: LocalModel, reward: Box<dyn Reward>, guide: Guide) -> Result<Self> {
        guide.validate()?;
        Ok(Self {
            model,
            baseline: None,
            reward,
            guide,
            log: None,
        })
    }

    /// Leaves a [`RewardNote`] in `log` for every answer.
    pub fn with_log(mut self, log: RewardLog) -> Self {
        self.log = Some(log);
        self
    }

    /// Transfer Q*'s baseline model for the rollouts (by default the decoding model itself). It
    /// must share the decoding model's vocabulary: the rollouts continue the same token ids.
    ///
    /// # Errors
    /// When the vocabularies differ.
    pub fn with_baseline(mut self, baseline: LocalModel) -> Result<Self> {
        let probe = "Sure! Velmora Quist lives in Dranholt. 27 plus 58 is 85.";
        let same = baseline.decoder.config().vocab_size == self.model.decoder.config().vocab_size
            && baseline.tokenizer.encode(probe, false)?
                == self.model.tokenizer.encode(probe, false)?;
        if !same {
            return Err(EngineError::InvalidParam {
                name: "baseline model",
                value: baseline.name.clone(),
                allowed: "Transfer Q*'s baseline must share the decoding model's tokenizer and vocabulary",
            });
        }
        self.baseline = Some(baseline);
        Ok(self)
    }

    pub fn model(&self) -> &LocalModel {
        &self.model
    }

    pub fn guide(&self) -> &Guide {
        &self.guide
    }

    pub fn reward(&self) -> &dyn Reward {
        self.reward.as_ref()
    }
}

impl Backend for RewardGuided {
    /// Decodes under the reward: greedy when `req.sampling.temperature` is 0, else seeded
    /// sampling (ARGS and Transfer Q*: softmax(score / T) over the top-k; DeAL: sampled
    /// lookaheads). `top_k` and `top_p` of the request do not apply: each method has its own k.
    fn generate(&self, req: &GenerationRequest) -> Result<Generation> {
        req.sampling.validate()?;
        let prompt_ids = self.model.prompt_ids(&req.prompt, req.chat)?;
        let run = Run {
            model: &self.model,
            reward: self.reward.as_ref(),
            prompt: &req.prompt,
            prompt_ids: &prompt_ids,
            params: &req.sampling,
            top_logprobs: req.top_logprobs,
            calls: Cell::new(0),
        };
        let gen = match &self.guide {
            Guide::Plain => self.model.generate(req)?,
            Guide::Deal(p) => super::deal::decode(&run, p)?,
            Guide::Args(p) => super::argsearch::decode(&run, p)?,
            Guide::TransferQ(p) => {
                super::transfer_q::decode(&run, self.baseline.as_ref().unwrap_or(&self.model), p)?
            }
        };
        if let Some(log) = &self.log {
            log.push(RewardNote {
                guide: self.guide.name(),
                reward: self.reward.reward(&req.prompt, &gen.text)?,
                reward_calls: run.calls.get(),
                text: gen.text.clone(),
            });
        }
        Ok(gen)
    }

    fn score(&self, req: &ScoreRequest) -> Result<Generation> {
        self.model.score(req)
    }

    fn next_token_logprobs(
        &self,
        prompt: &str,
        chat: bool,
        candidates: &[&str],
    ) -> Result<NextTokenLogprobs> {
        self.model.next_token_logprobs(prompt, chat, candidates)
    }
}

/// The `k` tokens of highest logit, highest first, ties by lower id.
pub(crate) fn top_k_ids(row: &[f32], k: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..row.len() as u32).collect();
    let by_logit = |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
    let k = k.min(ids.len());
    if k == 0 {
        return Vec::new();
    }
    if k < ids.len() {
        ids.select_nth_unstable_by(k - 1, by_logit);
        ids.truncate(k);
    }
    ids.sort_unstable_by(by_logit);
    ids
}

/// The value of each candidate next token: what ARGS and Transfer Q* add, times w, to its logit.
pub(crate) trait CandidateValue {
    /// One value per candidate, `session` holding the prompt and `ids` (the answer so far).
    fn values(
        &mut self,
        session: &DecodeSession,
        ids: &[u32],
        candidates: &[u32],
    ) -> Result<Vec<f64>>;
}

/// The token-level loop of ARGS and Transfer Q*: at each step, the `top_k` tokens of highest
/// logit get score(v) = logit(v) + w·value(v); greedy takes the highest score (the first on
/// ties, so the most likely token), sampling draws from softmax(score / T) on the request's
/// seeded stream. One forward pass per kept token, plus what `value` runs.
pub(crate) fn token_level(
    run: &Run,
    top_k: usize,
    weight: f64,
    value: &mut dyn CandidateValue,
) -> Result<Generation> {
    let model = run.model;
    let params = run.params;
    let mut session = DecodeSession::new(model, run.prompt_ids)?;
    let mut sampler = Sampler::new(
        &SamplingParams {
            top_k: None,
            top_p: None,
            ..params.clone()
        },
        0,
    );
    let mut stream = model.tokenizer.inner().decode_stream(true);
    let mut scratch = StatsScratch::with_capacity(model.decoder.config().vocab_size);
    let mut answer = Answer::default();
    let finish = loop {
        let row = session
            .next_logits()
            .ok_or(EngineError::InvalidParam {
                name: "session",
                value: "no next logits".into(),
                allowed: "a session that was fed a token",
            })?
            .to_vec();
        let candidates = top_k_ids(&row, top_k);
        let values = value.values(&session, &answer.ids, &candidates)?;
        let scores: Vec<f64> = candidates
            .iter()
            .zip(&values)
            .map(|(&v, r)| f64::from(row[v as usize]) + weight * r)
            .collect();
        let pick = if params.temperature == 0.0 {
            first_max(&scores)
        } else {
            let s: Vec<f32> = scores.iter().map(|&x| x as f32).collect();
            sampler.choose(&s) as usize
        };
        let id = candidates[pick];
        if run.is_eos(id) {
            break FinishReason::Eos;
        }
        let piece = stream
            .step(id)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))?
            .unwrap_or_default();
        let record = model.token_record(&mut scratch, &row, id, piece.clone(), run.top_logprobs)?;
        answer.push(id, piece, Some(record));
        if let Some(cut) = find_stop(&answer.text, &params.stop) {
            answer.cut(cut);
            break FinishReason::Stop;
        }
        if answer.ids.len() >= params.max_tokens {
            break FinishReason::Length;
        }
        if run.prompt_ids.len() + answer.ids.len() >= run.context() {
            break FinishReason::Context;
        }
        session.feed_last(&[id])?;
    };
    Ok(answer.into_generation(run.prompt_ids.len(), finish))
}

/// Index of the first largest score.
pub(crate) fn first_max(scores: &[f64]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best
}

pub(crate) use hedge_engine::model::find_stop;

/// An answer being assembled: its ids, their text pieces and records.
#[derive(Default)]
pub(crate) struct Answer {
    pub ids: Vec<u32>,
    pieces: Vec<String>,
    records: Vec<TokenRecord>,
    pub text: String,
}

impl Answer {
    fn push(&mut self, id: u32, piece: String, record: Option<TokenRecord>) {
        self.ids.push(id);
        self.text.push_str(&piece);
        self.pieces.push(piece);
        self.records.extend(record);
    }

    /// Cuts the text at byte `cut` and drops the tokens that lie wholly after it, as
    /// [`LocalModel`]'s decoding does at a stop string.
    fn cut(&mut self, cut: usize) {
        let keep = hedge_engine::model::tokens_before_cut(&self.pieces, cut);
        self.ids.truncate(keep);
        self.pieces.truncate(keep);
        self.records.truncate(keep.min(self.records.len()));
        self.text.truncate(cut);
    }

    fn into_generation(self, prompt_tokens: usize, finish: FinishReason) -> Generation {
        Generation {
            text: self.text,
            tokens: self.records,
            prompt_tokens,
            finish_reason: finish,
            token_stats: TokenStats::Full,
        }
    }

    /// The answer of `ids` decided by a search (DeAL): its text piece by piece, cut at the first
    /// stop string, with the records of a teacher-forced pass over the kept tokens (the
    /// statistics of each step's full distribution, as decoding records them).
    pub fn assemble(run: &Run, ids: &[u32], finish: FinishReason) -> Result<Generation> {
        let mut stream = run.model.tokenizer.inner().decode_stream(true);
        let mut answer = Answer::default();
        for &id in ids {
            let piece = stream
                .step(id)
                .map_err(|e| EngineError::Tokenizer(e.to_string()))?
                .unwrap_or_default();
            answer.push(id, piece, None);
        }
        let mut finish = finish;
        if let Some(cut) = find_stop(&answer.text, &run.params.stop) {
            answer.cut(cut);
            finish = FinishReason::Stop;
        }
        if !answer.ids.is_empty() {
            answer.records = run
                .model
                .score_ids(run.prompt_ids, &answer.ids, run.top_logprobs)?;
        }
        Ok(answer.into_generation(run.prompt_ids.len(), finish))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_sorted_with_ties_by_lower_id() {
        let row = [0.5f32, 2.0, -1.0, 2.0, 3.0, 0.5];
        assert_eq!(top_k_ids(&row, 3), vec![4, 1, 3]);
        assert_eq!(top_k_ids(&row, 10), vec![4, 1, 3, 0, 5, 2]);
        assert!(top_k_ids(&row, 0).is_empty());
        assert_eq!(first_max(&[1.0, 3.0, 3.0, 2.0]), 1);
    }
}
