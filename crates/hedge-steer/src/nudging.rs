//! Nudging: a small aligned model writes where a base model's top-1 probability falls below γ (fywalter/nudging).
//!
//! The base model writes greedily; where its top-1 probability is < γ, the aligned model (the
//! *nudger*) writes a few words on its own chat template + the shared output, and the base model
//! takes over again as soon as it is sure (METHODS §6; Fei, Razeghi and Singh, "Nudging:
//! Inference-time Alignment of LLMs via Guided Decoding"). [`Nudging`] follows the authors'
//! `utils.py` step for step ([`rounds`]), with the limits of their code (chunks of 16 tokens,
//! 512 tokens, 150 rounds, three repeats of the same nudge), and is a [`Backend`], so every
//! command that generates can use it.
//!
//! The models hand over plain text, so their tokenizers may differ. Each keeps one
//! [`hedge_engine::DecodeSession`], prefilled once and rolled back to the fresh tokenization of
//! the shared text at each hand-over ([`party`]).
//!
//! The base model sees the prompt through [`NudgingConfig::base_template`]. The authors' base
//! prompt is their instruct template's fallback for a base model,
//! `"{system}\n{question_prompt}{question}\n{answer_start}"` with `answer_start` empty: the
//! question, then the answer on a new line. The default here, `"{prompt}\n"`, is that without a
//! system line or a `Question: ` prefix, which a base model trained on plain text (the lab's
//! `lab-l-base`) has never seen.
//!
//! Each token's record of the result holds the distribution of the model that wrote it
//! ([`Records::PerWriter`]): both models are teacher-forced over the final text (one forward
//! pass each, after their own prompts), and each token takes the record of its writer
//! ([`Nudged::writers`]), so the estimators read what the writer believed, as for a single
//! model. When the tokenizers split the text differently, every record is the base model's
//! ([`Records::Base`]). (All-base records were measured too: on the lab `test` split the base
//! model finds the nudger's refusals, which are right, the least likely text, and msp's AUROC
//! fell to 0.27 where lab-s-chat's own records give 0.87.)

pub mod party;
pub mod rounds;
mod text;

use std::sync::{Arc, Mutex};

use hedge_core::token::TokenRecord;
use hedge_engine::{
    Backend, ChatMessage, EngineError, FinishReason, Generation, GenerationRequest, LocalModel,
    Result, Sampler, ScoreRequest, TokenStats,
};
use serde::Serialize;

pub use party::PartyCost;
pub use rounds::Round;

use party::Party;
use rounds::Limits;

/// Who wrote a piece of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Writer {
    Base,
    Nudger,
}

/// A byte range of the answer and who wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub writer: Writer,
}

/// Why nudging stopped (the authors' `stop_reason`, and hedge's own limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NudgeStop {
    /// The nudger ended its answer within a chunk (`nudging_model_stop`).
    NudgerEos,
    /// The output reached `max_tokens` (`length`).
    Length,
    /// `max_rounds` rounds were played (`round`).
    Rounds,
    /// The same nudge came back `max_repeats` times in a row (`repeated_nudging_words`).
    RepeatedNudge,
    /// The text reached one of the request's stop strings (cut before it).
    StopString,
    /// A model's context window is full.
    Context,
}

impl NudgeStop {
    fn finish_reason(self) -> FinishReason {
        match self {
            NudgeStop::NudgerEos => FinishReason::Eos,
            NudgeStop::StopString => FinishReason::Stop,
            NudgeStop::Context => FinishReason::Context,
            NudgeStop::Length | NudgeStop::Rounds | NudgeStop::RepeatedNudge => {
                FinishReason::Length
            }
        }
    }
}

/// Whose next-token distributions the records of a nudged answer hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Records {
    /// Each token's record is the distribution of the model that wrote it, teacher-forced over
    /// the final text (the models share a tokenization of it).
    PerWriter,
    /// Every record is the base model's (the tokenizers split the text differently, or the
    /// nudger's context is too short for it).
    Base,
}

/// γ and the limits of nudging; the defaults are the authors'.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NudgingConfig {
    /// The base model writes while its top-1 probability is ≥ γ (0.3; 0.4 in the authors'
    /// example). γ = 0: the base model alone; γ > 1: the nudger writes every round.
    pub gamma: f64,
    /// Tokens per base-model call (`completion_token_num`, 16).
    pub base_chunk: usize,
    /// Tokens per nudger call (`completion_token_num_nudging`, 16).
    pub nudger_chunk: usize,
    /// Length of the answer in base-model tokens, checked before each round and each base
    /// chunk as the authors do (`max_token_total`, 512); a request's `max_tokens` lowers it.
    pub max_tokens: usize,
    /// Rounds at most (`max_round`, 150).
    pub max_rounds: usize,
    /// Stop when the same nudge is repeated this many times in a row (3).
    pub max_repeats: usize,
    /// The base model's prompt; `{prompt}` is replaced by the request's prompt.
    pub base_template: String,
}

impl Default for NudgingConfig {
    fn default() -> Self {
        Self {
            gamma: 0.3,
            base_chunk: 16,
            nudger_chunk: 16,
            max_tokens: 512,
            max_rounds: 150,
            max_repeats: 3,
            base_template: "{prompt}\n".into(),
        }
    }
}

impl NudgingConfig {
    /// # Errors
    /// When a value is out of range; the error says what is allowed.
    pub fn validate(&self) -> Result<()> {
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(EngineError::InvalidParam {
                name: "gamma",
                value: self.gamma.to_string(),
                allowed: "a finite number ≥ 0 (0: the base model alone; above 1: the nudger writes every round)",
            });
        }
        for (name, v) in [
            ("base_chunk", self.base_chunk),
            ("nudger_chunk", self.nudger_chunk),
            ("max_tokens", self.max_tokens),
            ("max_rounds", self.max_rounds),
            ("max_repeats", self.max_repeats),
        ] {
            if v == 0 {
                return Err(EngineError::InvalidParam {
                    name,
                    value: "0".into(),
                    allowed: "at least 1",
                });
            }
        }
        if !self.base_template.contains("{prompt}") {
            return Err(EngineError::InvalidParam {
                name: "base_template",
                value: format!("{:?}", self.base_template),
                allowed: "a template containing {prompt}, e.g. \"{prompt}\\n\"",
            });
        }
        Ok(())
    }

    /// The base model's prompt text for `prompt`.
    pub fn base_prompt(&self, prompt: &str) -> String {
        self.base_template.replace("{prompt}", prompt)
    }
}

/// A base model nudged by an aligned model.
#[derive(Debug, Clone)]
pub struct Nudging {
    pub base: LocalModel,
    pub nudger: LocalModel,
    pub config: NudgingConfig,
    log: Option<NudgeLog>,
}

/// Where a [`Nudging`] backend leaves each answer it generates, so that a command holding only
/// a `dyn Backend` can still show who wrote what. Cloning shares the log.
#[derive(Debug, Clone, Default)]
pub struct NudgeLog(Arc<Mutex<Vec<Nudged>>>);

impl NudgeLog {
    fn push(&self, n: &Nudged) {
        if let Ok(mut v) = self.0.lock() {
            v.push(n.clone());
        }
    }

    /// The first answer logged since the last call whose text is `text` (the command's own
    /// answer, not the samples or reflexive replies generated after it); empties the log.
    pub fn take(&self, text: &str) -> Option<Nudged> {
        let mut v = self.0.lock().ok()?;
        let pos = v.iter().position(|n| n.generation.text == text);
        let found = pos.map(|i| v.swap_remove(i));
        v.clear();
        found
    }
}

/// The work of one nudged answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NudgeCost {
    pub base: PartyCost,
    pub nudger: PartyCost,
}

/// A nudged answer, with who wrote what.
#[derive(Debug, Clone, Serialize)]
pub struct Nudged {
    /// The answer; its token records are the base model's distribution over the final text,
    /// teacher-forced after the base prompt.
    pub generation: Generation,
    /// Who wrote each token of `generation.tokens` (by the writer of its first byte).
    pub writers: Vec<Writer>,
    /// Whose distribution each record of `generation.tokens` is.
    pub records: Records,
    /// Who wrote each stretch of `generation.text`, in order, covering it.
    pub spans: Vec<Span>,
    /// The rounds as they were played, before the final clean-up.
    pub rounds: Vec<Round>,
    pub stop: NudgeStop,
    /// Share of the answer's tokens (base tokenizer) written by the nudger; 0 for an empty one.
    pub nudger_token_share: f64,
    /// Share of the answer's whitespace-separated words the nudger began; 0 for an empty one.
    pub nudger_word_share: f64,
    pub cost: NudgeCost,
}

impl Nudged {
    /// The answer's words, each with who began it.
    pub fn words(&self) -> Vec<(&str, Writer)> {
        words(&self.generation.text, &self.spans)
    }
}

/// The writer of byte `at` of a text covered by `spans`.
fn writer_at(spans: &[Span], at: usize) -> Writer {
    spans
        .iter()
        .find(|s| at < s.end)
        .or(spans.last())
        .map_or(Writer::Base, |s| s.writer)
}

fn words<'t>(text: &'t str, spans: &[Span]) -> Vec<(&'t str, Writer)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((&text[s..i], writer_at(spans, s)));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    out
}

fn share(nudged: usize, all: usize) -> f64 {
    if all == 0 {
        0.0
    } else {
        nudged as f64 / all as f64
    }
}

impl Nudging {
    /// # Errors
    /// When the configuration is out of range or the nudger has no chat template.
    pub fn new(base: LocalModel, nudger: LocalModel, config: NudgingConfig) -> Result<Self> {
        config.validate()?;
        if !nudger.tokenizer.has_chat_template() {
            return Err(EngineError::InvalidParam {
                name: "nudger",
                value: nudger.name.clone(),
                allowed: "an aligned (chat) model with a chat_template in tokenizer_config.json",
            });
        }
        Ok(Self {
            base,
            nudger,
            config,
            log: None,
        })
    }

    /// Leaves every answer [`Backend::generate`] returns in `log` as well.
    pub fn with_log(mut self, log: NudgeLog) -> Self {
        self.log = Some(log);
        self
    }

    /// How the pair is named in outputs.
    pub fn name(&self) -> String {
        format!(
            "{} nudged by {} (γ {})",
            self.base.name, self.nudger.name, self.config.gamma
        )
    }

    /// Answers `req.prompt`: the nudger on its chat template, the base model on
    /// [`NudgingConfig::base_template`] (whatever `req.chat` says: each model sees the prompt
    /// in its own format). Greedy at temperature 0, as the authors; otherwise both models sample
    /// with `req.sampling`, from streams 0 (base) and 1 (nudger) of its seed.
    ///
    /// # Errors
    /// On bad sampling parameters, a prompt that fills a context window, or a model failure.
    pub fn nudge(&self, req: &GenerationRequest) -> Result<Nudged> {
        req.sampling.validate()?;
        let nudger_prompt = self
            .nudger
            .tokenizer
            .apply_chat_template(&[ChatMessage::user(req.prompt.as_str())], true)?;
        let ignore_eos = req.sampling.ignore_eos;
        let mut base = Party::new(
            &self.base,
            self.config.base_prompt(&req.prompt),
            true,
            Sampler::new(&req.sampling, 0),
            ignore_eos,
        );
        let mut nudger = Party::new(
            &self.nudger,
            nudger_prompt,
            false,
            Sampler::new(&req.sampling, 1),
            ignore_eos,
        );
        let prompt_ids = base.prompt_ids()?;
        let context = self.base.decoder.config().max_position_embeddings;
        if prompt_ids.is_empty() || prompt_ids.len() >= context {
            return Err(EngineError::TooLong {
                what: "the base prompt",
                len: prompt_ids.len(),
                max: context,
            });
        }
        let count = |s: &str| -> Result<usize> { Ok(self.base.tokenizer.encode(s, false)?.len()) };
        let limits = Limits {
            max_tokens: self.config.max_tokens.min(req.sampling.max_tokens),
            stop: &req.sampling.stop,
            count: &count,
        };
        let draft = rounds::run(&mut base, &mut nudger, &self.config, &limits)?;
        let cost = NudgeCost {
            base: base.cost,
            nudger: nudger.cost,
        };

        let mut stop = draft.stop;
        let mut text = draft.text;
        if let Some(cut) = text::find_stop(&text, &req.sampling.stop) {
            text.truncate(cut);
            stop = NudgeStop::StopString;
        }
        let kept = text::clean_range(&text);
        let mut spans: Vec<Span> = draft
            .spans
            .iter()
            .filter_map(|s| {
                let (start, end) = (s.start.max(kept.start), s.end.min(kept.end));
                (start < end).then(|| Span {
                    start: start - kept.start,
                    end: end - kept.start,
                    writer: s.writer,
                })
            })
            .collect();
        let mut text = text[kept].to_string();

        let mut ids = self.base.tokenizer.encode(&text, false)?;
        let room = context - prompt_ids.len();
        if ids.len() > room {
            ids.truncate(room);
            text = self.base.tokenizer.decode(&ids)?;
            spans.retain_mut(|s| {
                s.end = s.end.min(text.len());
                s.start < s.end
            });
            stop = NudgeStop::Context;
        }
        let mut tokens: Vec<TokenRecord> = if ids.is_empty() {
            Vec::new()
        } else {
            self.base.score_ids(&prompt_ids, &ids, req.top_logprobs)?
        };
        let mut at = 0;
        let writers: Vec<Writer> = tokens
            .iter()
            .map(|t| {
                let w = writer_at(&spans, at);
                at += t.text.len();
                w
            })
            .collect();
        let records = self.take_nudger_records(&nudger, &text, &ids, &writers, &mut tokens, req)?;
        let word_writers = words(&text, &spans);
        let nudger_token_share = share(
            writers.iter().filter(|w| **w == Writer::Nudger).count(),
            writers.len(),
        );
        let nudger_word_share = share(
            word_writers
                .iter()
                .filter(|(_, w)| *w == Writer::Nudger)
                .count(),
            word_writers.len(),
        );
        Ok(Nudged {
            generation: Generation {
                text,
                tokens,
                prompt_tokens: prompt_ids.len(),
                finish_reason: stop.finish_reason(),
                token_stats: TokenStats::Full,
            },
            writers,
            records,
            spans,
            rounds: draft.rounds,
            stop,
            nudger_token_share,
            nudger_word_share,
            cost,
        })
    }
}

impl Nudging {
    /// Puts the nudger's teacher-forced records in place of the base model's at the tokens
    /// the nudger wrote, when both models split the final text into the same tokens.
    fn take_nudger_records(
        &self,
        nudger: &Party,
        text: &str,
        ids: &[u32],
        writers: &[Writer],
        tokens: &mut [TokenRecord],
        req: &GenerationRequest,
    ) -> Result<Records> {
        if !writers.contains(&Writer::Nudger) {
            return Ok(Records::PerWriter);
        }
        let prompt = nudger.prompt_ids()?;
        let context = self.nudger.decoder.config().max_position_embeddings;
        if self.nudger.tokenizer.encode(text, false)? != ids || prompt.len() + ids.len() > context {
            return Ok(Records::Base);
        }
        let theirs = self.nudger.score_ids(&prompt, ids, req.top_logprobs)?;
        for ((t, w), n) in tokens.iter_mut().zip(writers).zip(theirs) {
            if *w == Writer::Nudger {
                *t = n;
            }
        }
        Ok(Records::PerWriter)
    }
}

impl Backend for Nudging {
    /// [`Nudging::nudge`]'s answer.
    fn generate(&self, req: &GenerationRequest) -> Result<Generation> {
        let n = self.nudge(req)?;
        if let Some(log) = &self.log {
            log.push(&n);
        }
        Ok(n.generation)
    }

    /// The base model's records of `req.response`, teacher-forced after the base prompt (a
    /// given response has no writers; nudged answers carry each writer's records instead).
    fn score(&self, req: &ScoreRequest) -> Result<Generation> {
        let prompt_ids = self
            .base
            .tokenizer
            .encode(&self.config.base_prompt(&req.prompt), true)?;
        let response_ids = self.base.tokenizer.encode(&req.response, false)?;
        let tokens = self
            .base
            .score_ids(&prompt_ids, &response_ids, req.top_logprobs)?;
        Ok(Generation {
            text: req.response.clone(),
            tokens,
            prompt_tokens: prompt_ids.len(),
            finish_reason: FinishReason::Scored,
            token_stats: TokenStats::Full,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_attributed_by_their_first_byte() {
        let spans = [
            Span {
                start: 0,
                end: 8,
                writer: Writer::Nudger,
            },
            Span {
                start: 8,
                end: 20,
                writer: Writer::Base,
            },
        ];
        let w = words("Sure! Velmora Quist", &spans);
        assert_eq!(
            w,
            vec![
                ("Sure!", Writer::Nudger),
                ("Velmora", Writer::Nudger),
                ("Quist", Writer::Base)
            ]
        );
        assert!(words("  ", &spans).is_empty());
    }

    #[test]
    fn configs_out_of_range_are_refused() {
        let ok = NudgingConfig::default();
        assert!(ok.validate().is_ok());
        for bad in [
            NudgingConfig {
                gamma: f64::NAN,
                ..ok.clone()
            },
            NudgingConfig {
                gamma: -0.1,
                ..ok.clone()
            },
            NudgingConfig {
                base_chunk: 0,
                ..ok.clone()
            },
            NudgingConfig {
                base_template: "no placeholder".into(),
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
