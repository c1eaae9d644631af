//! One speculative generation: draft γ tokens with the draft's own session, verify them with
//! the target in one forward pass over γ + 1 positions, keep what the acceptance rule keeps,
//! roll both caches back, repeat.

use std::time::Instant;

use hedge_engine::sampling::argmax;
use hedge_engine::{
    DecodeSession, EngineError, FinishReason, Generation, Result, Sampler, SamplingParams,
    TokenStats,
};

use super::output::Output;
use super::verify::{self, Verdict};
use super::{Speculative, SpeculativeStats};

/// Decodes `prompt_ids` speculatively; see [`Speculative::generate_ids`].
pub(crate) fn generate(
    spec: &Speculative,
    prompt_ids: &[u32],
    params: &SamplingParams,
    top_logprobs: usize,
) -> Result<(Generation, SpeculativeStats)> {
    params.validate()?;
    let (target, draft) = (spec.target(), spec.draft());
    let target_context = target.decoder.config().max_position_embeddings;
    let draft_context = draft.decoder.config().max_position_embeddings;
    if prompt_ids.is_empty() {
        return Err(EngineError::InvalidParam {
            name: "prompt",
            value: "[]".into(),
            allowed: "the prompt must have at least one token",
        });
    }
    if prompt_ids.len() >= target_context {
        return Err(EngineError::TooLong {
            what: "the prompt",
            len: prompt_ids.len(),
            max: target_context,
        });
    }
    let start = Instant::now();
    let mut stats = SpeculativeStats {
        generations: 1,
        ..Default::default()
    };

    let t = Instant::now();
    let mut tgt = DecodeSession::new(target, prompt_ids)?;
    stats.target_seconds += t.elapsed().as_secs_f64();
    stats.target_passes += 1;
    // A prompt that fills the draft's (smaller) context leaves the target decoding alone.
    let mut drf = if prompt_ids.len() < draft_context {
        let t = Instant::now();
        let s = DecodeSession::new(draft, prompt_ids)?;
        stats.draft_seconds += t.elapsed().as_secs_f64();
        stats.draft_passes += 1;
        Some(s)
    } else {
        None
    };

    let mut out = Output::new(target, params, prompt_ids.len(), top_logprobs);
    let mut schedule = spec.draft_length().schedule();
    let confidence = spec.draft_confidence();
    let greedy = params.temperature == 0.0;
    let mut draft_sampler = Sampler::new(params, 0);
    let mut target_sampler = Sampler::new(params, 1);
    let mut scratch = verify::Scratch::default();
    // The draft's distribution at each drafted position (sampling only), buffers reused.
    let mut q: Vec<Vec<f64>> = Vec::new();
    let mut drafts: Vec<u32> = Vec::with_capacity(16);
    // The prompt and every token written so far: what both caches must come to hold.
    let mut full: Vec<u32> = prompt_ids.to_vec();

    while out.done.is_none() {
        // A round writes up to γ + 1 tokens: draft no more than the answer has room for. The
        // draft feeds its pending tokens and γ − 1 drafts, within its own context.
        let room = out.room();
        let draft_room = drf
            .as_ref()
            .map_or(0, |_| (draft_context + 1).saturating_sub(full.len()));
        let gamma = schedule.gamma().min(room.saturating_sub(1)).min(draft_room);
        stats.round(gamma);

        drafts.clear();
        if let (Some(d), true) = (drf.as_mut(), gamma > 0) {
            let held = sync(d, &full);
            let t = Instant::now();
            for i in 0..gamma {
                let row: &[f32] = if i > 0 {
                    stats.draft_passes += 1;
                    d.feed_last(&drafts[i - 1..i])?
                } else if held < full.len() {
                    stats.draft_passes += 1;
                    d.feed_last(&full[held..])?
                } else {
                    d.next_logits().ok_or_else(no_logits)?
                };
                // The draft's token and the probability it gave it.
                let (x, q_x) = if greedy {
                    let x = argmax(row);
                    let q_x = if confidence > 0.0 {
                        top_probability(row, x)
                    } else {
                        1.0
                    };
                    (x, q_x)
                } else {
                    if q.len() <= i {
                        q.push(Vec::new());
                    }
                    draft_sampler.distribution(row, &mut q[i]);
                    let x = draft_sampler
                        .choose_weighted(&q[i])
                        .unwrap_or_else(|| argmax(row));
                    (x, q[i][x as usize])
                };
                drafts.push(x);
                // Nothing after an end-of-sequence token can be written.
                if !params.ignore_eos && target.eos_ids.contains(&x) {
                    break;
                }
                // An unsure draft is likely rejected: the tokens after it would be wasted.
                if q_x < confidence && i + 1 < gamma {
                    stats.confidence_stops += 1;
                    break;
                }
            }
            stats.draft_seconds += t.elapsed().as_secs_f64();
        }

        // One target pass over its pending token(s) and the drafts: row i scores draft i, the
        // last row the bonus token.
        let held = sync(&mut tgt, &full);
        let t = Instant::now();
        let p_rows: Vec<Vec<f32>> = if held < full.len() {
            let pending = full.len() - held;
            let mut tokens = full[held..].to_vec();
            tokens.extend_from_slice(&drafts);
            let mut rows = tgt.feed(&tokens)?;
            stats.target_passes += 1;
            rows.split_off(pending - 1)
        } else {
            let mut rows = vec![tgt.next_logits().ok_or_else(no_logits)?.to_vec()];
            if !drafts.is_empty() {
                rows.extend(tgt.feed(&drafts)?);
                stats.target_passes += 1;
            }
            rows
        };
        stats.target_seconds += t.elapsed().as_secs_f64();

        let Verdict { accepted, next } = if greedy {
            verify::greedy(&drafts, &p_rows)
        } else {
            verify::sampled(&drafts, &q, &p_rows, &mut target_sampler, &mut scratch)
        };
        stats.drafted += drafts.len();
        stats.accepted += accepted;
        schedule.update(drafts.len(), accepted);

        for (i, &id) in drafts[..accepted]
            .iter()
            .chain(std::iter::once(&next))
            .enumerate()
        {
            out.push(id, &p_rows[i])?;
            stats.emitted += 1;
            full.push(id);
            if out.done.is_some() {
                break;
            }
        }
    }

    stats.total_seconds = start.elapsed().as_secs_f64();
    let generation = Generation {
        text: out.text,
        tokens: out.records,
        prompt_tokens: prompt_ids.len(),
        finish_reason: out.done.unwrap_or(FinishReason::Length),
        token_stats: TokenStats::Full,
    };
    Ok((generation, stats))
}

/// Rolls `session` back to the longest prefix of `full` it holds and returns that length: the
/// tokens of `full` after it are still to be fed. At least one token is left to feed when the
/// session's next logits are unknown.
fn sync(session: &mut DecodeSession<'_>, full: &[u32]) -> usize {
    let mut common = session
        .ids()
        .iter()
        .zip(full)
        .take_while(|(a, b)| a == b)
        .count();
    session.truncate(common);
    if common == full.len() && session.next_logits().is_none() {
        common -= 1;
        session.truncate(common);
    }
    common
}

/// softmax(row)[x] for the row's argmax x: 1 / Σ_v exp(l_v − l_x).
fn top_probability(row: &[f32], x: u32) -> f64 {
    let max = f64::from(row[x as usize]);
    1.0 / row.iter().map(|&l| (f64::from(l) - max).exp()).sum::<f64>()
}

fn no_logits() -> EngineError {
    EngineError::InvalidParam {
        name: "session",
        value: "no next-token logits".into(),
        allowed: "a session fed at least one token since its last roll-back",
    }
}
