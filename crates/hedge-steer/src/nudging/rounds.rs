//! The rounds of nudging, step for step as `completion_with_nudging` and `complete_with_base`
//! in the authors' `utils.py` (fywalter/nudging), with each model's API call replaced by a
//! [`Party`] writing from its session.
//!
//! One round: the nudger writes a chunk on its chat template + the output so far. If it ended
//! (end of sequence), the chunk is taken whole and nudging stops. Otherwise the chunk is split
//! into words; the first word is always taken, and each further word is taken until the base
//! model, asked to continue right before that word, either starts it with its own next token or
//! is sure of that token (top-1 probability ≥ γ). The base model then writes from there in
//! chunks, each kept up to its first token whose top-1 probability is < γ.
//!
//! Stage 1 asks the base model only for its first token at each candidate word and writes the
//! rest of the chunk only for the word where it takes over: the same output as the authors'
//! full 16-token calls when decoding is greedy, for one token per rejected word.

use serde::Serialize;

use super::party::{Chunk, Party};
use super::text::{find_stop, repeats_text, split_nudge};
use super::{NudgeStop, NudgingConfig, Span, Writer};
use hedge_engine::Result;

/// What one round added: the nudger's words, then the base model's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Round {
    pub nudge: String,
    pub base: String,
}

/// The output before the final clean-up.
pub(crate) struct Draft {
    pub text: String,
    pub spans: Vec<Span>,
    pub rounds: Vec<Round>,
    pub stop: NudgeStop,
}

impl Draft {
    fn push(&mut self, writer: Writer, text: &str) {
        if text.is_empty() {
            return;
        }
        let start = self.text.len();
        self.text.push_str(text);
        match self.spans.last_mut() {
            Some(last) if last.writer == writer => last.end = self.text.len(),
            _ => self.spans.push(Span {
                start,
                end: self.text.len(),
                writer,
            }),
        }
    }
}

/// The shared limits of one run and how tokens are counted (the authors count tokens of the
/// output with a fixed tokenizer; here the base model's).
pub(crate) struct Limits<'a> {
    pub max_tokens: usize,
    pub stop: &'a [String],
    pub count: &'a dyn Fn(&str) -> Result<usize>,
}

/// `completion_with_nudging`.
pub(crate) fn run(
    base: &mut Party,
    nudger: &mut Party,
    cfg: &NudgingConfig,
    limits: &Limits,
) -> Result<Draft> {
    let mut out = Draft {
        text: String::new(),
        spans: Vec::new(),
        rounds: Vec::new(),
        stop: NudgeStop::Length,
    };
    let mut stop = None;
    let mut round = 0;
    let mut last_nudge = String::new();
    let mut repeats = 0;
    'rounds: while (limits.count)(&out.text)? < limits.max_tokens && round < cfg.max_rounds {
        round += 1;
        let Some(nudge) = nudger.write(&out.text, cfg.nudger_chunk)? else {
            stop = Some(NudgeStop::Context);
            break;
        };
        if nudge.eos {
            // The nudger finished within its chunk: the chunk is the end of the answer.
            stop = Some(NudgeStop::NudgerEos);
            let text = nudge.text();
            out.push(Writer::Nudger, &text);
            if !text.is_empty() {
                out.rounds.push(Round {
                    nudge: text,
                    base: String::new(),
                });
            }
            break;
        }
        if nudge.ids.is_empty() {
            // No room left for the nudger to write a token.
            stop = Some(NudgeStop::Context);
            break;
        }

        // Stage 1: how many of the nudger's words to take.
        let text = nudge.text();
        let (spaces, words) = split_nudge(&text);
        let mut id = if words.len() > 1 { 0 } else { 1 };
        let mut found = false;
        while !found && id + 1 < words.len() {
            id += 1; // the first word is always taken
            let word = format!(" {}", words[id]);
            if word == " " {
                continue; // a run of spaces
            }
            let prefix = format!("{}{spaces}{}", out.text, words[..id].join(" "));
            if !base.begin(&prefix)? {
                stop = Some(NudgeStop::Context);
                break 'rounds;
            }
            base.step()?;
            let first = base.chunk();
            found = match (first.pieces.first(), first.top1.first()) {
                (Some(piece), Some(&p)) => word.starts_with(piece.as_str()) || p >= cfg.gamma,
                // The base model ends right here: its (empty) token starts every word.
                _ => first.eos,
            };
        }
        let nudge_words = format!("{spaces}{}", words[..id].join(" "));
        // Stop when the same nudge comes back max_repeats more times in a row.
        if nudge_words == last_nudge {
            repeats += 1;
            if repeats >= cfg.max_repeats {
                stop = Some(NudgeStop::RepeatedNudge);
                break;
            }
        } else {
            last_nudge.clone_from(&nudge_words);
            repeats = 0;
        }
        out.push(Writer::Nudger, &nudge_words);
        if find_stop(&out.text, limits.stop).is_some() {
            stop = Some(NudgeStop::StopString);
            break;
        }
        if !found {
            out.rounds.push(Round {
                nudge: nudge_words,
                base: String::new(),
            });
            continue;
        }
        base.extend(cfg.base_chunk)?;
        let stage1 = base.chunk().clone();
        if stage1.text().is_empty() {
            // The base model thinks the answer is done: the nudger decides in the next round.
            out.rounds.push(Round {
                nudge: nudge_words,
                base: String::new(),
            });
            continue;
        }

        // Stage 2: the base model writes while it is sure.
        let room = limits.max_tokens.saturating_sub((limits.count)(&out.text)?);
        let completion = complete_with_base(base, &out.text, &stage1, room, cfg, limits)?;
        out.push(Writer::Base, &completion);
        out.rounds.push(Round {
            nudge: nudge_words,
            base: completion,
        });
        if find_stop(&out.text, limits.stop).is_some() {
            stop = Some(NudgeStop::StopString);
            break;
        }
    }
    out.stop = match stop {
        Some(s) => s,
        None if round >= cfg.max_rounds => NudgeStop::Rounds,
        None => NudgeStop::Length,
    };
    Ok(out)
}

/// `complete_with_base`: the base model continues `output` from the chunk stage 1 accepted
/// (whose first token is taken as is), chunk after chunk, each kept up to its first token of
/// top-1 probability < γ, until such a token appears, `max_tokens` are written, the base model
/// repeats itself, or it ends.
fn complete_with_base(
    base: &mut Party,
    output: &str,
    stage1: &Chunk,
    max_tokens: usize,
    cfg: &NudgingConfig,
    limits: &Limits,
) -> Result<String> {
    let mut completion = stage1.pieces.first().cloned().unwrap_or_default();
    let mut current = Some(stage1.without_first());
    let mut found = false;
    while (limits.count)(&completion)? < max_tokens && !found {
        let (chunk, called) = match current.take() {
            Some(c) => (c, false),
            None => match base.write(&format!("{output}{completion}"), cfg.base_chunk)? {
                Some(c) => (c, true),
                None => break, // the context is full
            },
        };
        let text = chunk.text();
        if completion.contains(&text) {
            break; // a repeated (or empty) chunk
        }
        let cut = chunk.top1.iter().position(|&p| p < cfg.gamma);
        found = cut.is_some();
        let new = chunk.pieces[..cut.unwrap_or(chunk.pieces.len())].concat();
        if repeats_text(&new, &format!("{output}{completion}")) {
            break;
        }
        completion.push_str(&new);
        if find_stop(&format!("{output}{completion}"), limits.stop).is_some() {
            break; // the rest would be cut (stop strings are hedge's, not the authors')
        }
        // As the authors: the end of a chunk written in this loop ends the base model's turn
        // (the stage-1 chunk's own end is not checked; the next call then writes nothing).
        if called && chunk.eos {
            break;
        }
    }
    Ok(completion)
}
