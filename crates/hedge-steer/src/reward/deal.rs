//! DeAL (Huang et al., "DeAL: Decoding-time Alignment for Large Language Models"), as the
//! reference implementation in IBM's AISteer360 runs it (`output_control/deal`): from each kept
//! prefix, beam search writes `init_beams` = 8 continuations of `lookahead` = 4 tokens; every
//! continuation is scored by the reward R(x, prefix + continuation); the `top_k` = 4 best are
//! kept; those that ended (end-of-sequence token, `max_tokens`, a stop string, the context) stop
//! there, the others are expanded again, for at most `max_iterations` = 10 rounds.
//!
//! The answer is the best-rewarded of the ended beams and the beams still kept at the end (the
//! first found on ties): AISteer360 returns the best beam of any round, which can be an
//! unfinished prefix cut mid-sentence when a later round only ties it; hedge returns a whole
//! answer instead.
//!
//! The lookahead is transformers' beam search (no sampling): each beam proposes its 2·B most
//! likely next tokens, the B best of all by summed log-probability continue, an end-of-sequence
//! token among the B best ends its hypothesis; at the end the B best hypotheses by
//! length-normalised log-probability (length penalty 1) are returned. With a sampling
//! temperature, the B continuations are instead sampled, each from its own seeded stream. The
//! beams of all kept prefixes advance together, one batched forward pass per step.

use hedge_engine::{
    DecodeSession, EngineError, FinishReason, Generation, Result, Sampler, SamplingParams,
};

use super::guided::{find_stop, top_k_ids, Answer, Run};

/// DeAL's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct DealParams {
    /// Continuations written from each kept prefix per round (8).
    pub init_beams: usize,
    /// Tokens per continuation (4).
    pub lookahead: usize,
    /// Continuations kept per round, by reward (4).
    pub top_k: usize,
    /// Rounds at most (10).
    pub max_iterations: usize,
}

impl Default for DealParams {
    fn default() -> Self {
        Self {
            init_beams: 8,
            lookahead: 4,
            top_k: 4,
            max_iterations: 10,
        }
    }
}

impl DealParams {
    pub(crate) fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("DeAL init_beams", self.init_beams),
            ("DeAL lookahead", self.lookahead),
            ("DeAL top_k", self.top_k),
            ("DeAL max_iterations", self.max_iterations),
        ] {
            if v == 0 {
                return Err(EngineError::InvalidParam {
                    name,
                    value: "0".into(),
                    allowed: "a positive integer (DeAL: init_beams 8, lookahead 4, top_k 4, max_iterations 10)",
                });
            }
        }
        if self.top_k > self.init_beams {
            return Err(EngineError::InvalidParam {
                name: "DeAL top_k",
                value: format!("{} with init_beams {}", self.top_k, self.init_beams),
                allowed: "top_k cannot exceed init_beams",
            });
        }
        Ok(())
    }
}

/// One hypothesis: the answer so far and a session over it. The last token may still be
/// pending (chosen but not fed: its logits are needed only if the beam grows again).
struct Beam<'m> {
    /// `None` once the beam has ended (nothing more will be fed).
    session: Option<DecodeSession<'m>>,
    pending: Option<u32>,
    /// Every answer token, the prompt excluded (an end-of-sequence token is not kept).
    ids: Vec<u32>,
    /// Σ log p of the tokens written in this lookahead (end-of-sequence included), and how many.
    logprob: f64,
    written: usize,
    /// Why it ended, if it did.
    end: Option<FinishReason>,
    /// Which kept prefix it grew from.
    origin: usize,
}

impl Beam<'_> {
    /// Length-normalised log-probability: transformers' beam score with length penalty 1.
    fn normalised(&self) -> f64 {
        self.logprob / self.written.max(1) as f64
    }

    fn row(&self) -> Result<&[f32]> {
        self.session
            .as_ref()
            .and_then(DecodeSession::next_logits)
            .ok_or(EngineError::InvalidParam {
                name: "beam",
                value: "no next logits".into(),
                allowed: "a live beam whose last token was fed",
            })
    }
}

/// Feeds every pending token of the live `beams` in one batched forward pass.
fn feed_pending(beams: &mut [Beam]) -> Result<()> {
    let mut slots = Vec::new();
    let mut sessions = Vec::new();
    let mut tokens = Vec::new();
    for (i, b) in beams.iter_mut().enumerate() {
        let Some(t) = b.pending else { continue };
        if let Some(s) = b.session.take() {
            slots.push(i);
            sessions.push(s);
            tokens.push(t);
        }
    }
    let fed = DecodeSession::feed_batch(&mut sessions, &tokens);
    for (i, s) in slots.into_iter().zip(sessions) {
        beams[i].session = Some(s);
        beams[i].pending = None;
    }
    fed
}

/// log-softmax of a logits row.
fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let log_z = max
        + row
            .iter()
            .map(|&l| (f64::from(l) - max).exp())
            .sum::<f64>()
            .ln();
    row.iter().map(|&l| (f64::from(l) - log_z) as f32).collect()
}

/// One decoding run of DeAL.
struct Search<'a, 'r> {
    run: &'a Run<'r>,
    p: &'a DealParams,
}

impl<'a, 'r> Search<'a, 'r> {
    /// Why a beam of `ids` must stop growing, if it must (`eos`: it just wrote one).
    fn end_of(&self, ids: &[u32], eos: bool) -> Option<FinishReason> {
        if eos {
            Some(FinishReason::Eos)
        } else if ids.len() >= self.run.params.max_tokens {
            Some(FinishReason::Length)
        } else if self.run.prompt_ids.len() + ids.len() >= self.run.context() {
            Some(FinishReason::Context)
        } else {
            None
        }
    }

    /// A child of `parent` that writes `token` (`None`: an end-of-sequence token of
    /// log-probability `lp`), on `session`.
    fn child<'m>(
        &self,
        parent: &Beam<'m>,
        session: Option<DecodeSession<'m>>,
        token: Option<u32>,
        lp: f64,
    ) -> Beam<'m> {
        let mut ids = parent.ids.clone();
        ids.extend(token);
        let end = self.end_of(&ids, token.is_none());
        Beam {
            session: if end.is_some() { None } else { session },
            pending: token,
            ids,
            logprob: parent.logprob + lp,
            written: parent.written + 1,
            end,
            origin: parent.origin,
        }
    }

    /// One beam-search step of the beams of one prefix (fed): the B best of their 2·B best
    /// next tokens each; a beam that writes end-of-sequence among the B best is a finished
    /// hypothesis (into `done`).
    fn beam_step<'m>(
        &self,
        group: Vec<Beam<'m>>,
        done: &mut Vec<Beam<'m>>,
    ) -> Result<Vec<Beam<'m>>> {
        let b = self.p.init_beams;
        // (summed log-prob, parent, token, log-prob)
        let mut cands: Vec<(f64, usize, u32, f64)> = Vec::new();
        for (j, beam) in group.iter().enumerate() {
            let lp = log_softmax(beam.row()?);
            for v in top_k_ids(&lp, 2 * b) {
                let l = f64::from(lp[v as usize]);
                cands.push((beam.logprob + l, j, v, l));
            }
        }
        cands.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        let mut chosen: Vec<(usize, Option<u32>, f64)> = Vec::new();
        let mut live = 0;
        for (rank, &(_, j, v, l)) in cands.iter().enumerate() {
            if live == b {
                break;
            }
            if self.run.is_eos(v) {
                if rank < b {
                    chosen.push((j, None, l));
                }
                continue;
            }
            chosen.push((j, Some(v), l));
            live += 1;
        }
        // The last live child of a beam takes its session; the earlier ones fork it.
        let mut last_live = vec![None; group.len()];
        for (c, &(j, token, _)) in chosen.iter().enumerate() {
            if token.is_some() {
                last_live[j] = Some(c);
            }
        }
        let mut parents: Vec<Beam> = group;
        let mut next = Vec::with_capacity(b);
        for (c, &(j, token, l)) in chosen.iter().enumerate() {
            let session = match token {
                None => None,
                Some(_) if last_live[j] == Some(c) => parents[j].session.take(),
                Some(_) => parents[j]
                    .session
                    .as_ref()
                    .map(DecodeSession::fork)
                    .transpose()?,
            };
            let child = self.child(&parents[j], session, token, l);
            if child.end.is_some() {
                done.push(child);
            } else {
                next.push(child);
            }
        }
        Ok(next)
    }

    /// Beam search of `lookahead` tokens from every prefix, all prefixes advancing together;
    /// returns each prefix's B best hypotheses, prefix by prefix.
    fn beam_lookahead<'m>(&self, prefixes: Vec<Beam<'m>>) -> Result<Vec<Beam<'m>>> {
        let n = prefixes.len();
        let mut alive: Vec<Beam> = prefixes;
        let mut done: Vec<Vec<Beam>> = (0..n).map(|_| Vec::new()).collect();
        for _ in 0..self.p.lookahead {
            if alive.is_empty() {
                break;
            }
            feed_pending(&mut alive)?;
            let mut groups: Vec<Vec<Beam>> = (0..n).map(|_| Vec::new()).collect();
            for beam in alive.drain(..) {
                groups[beam.origin].push(beam);
            }
            for (g, group) in groups.into_iter().enumerate() {
                if !group.is_empty() {
                    let next = self.beam_step(group, &mut done[g])?;
                    alive.extend(next);
                }
            }
        }
        let mut hyps: Vec<Vec<Beam>> = done;
        for beam in alive {
            hyps[beam.origin].push(beam);
        }
        let mut out = Vec::new();
        for mut h in hyps {
            h.sort_by(|x, y| y.normalised().total_cmp(&x.normalised()));
            h.truncate(self.p.init_beams);
            out.extend(h);
        }
        Ok(out)
    }

    /// B sampled continuations of `lookahead` tokens from every prefix, sample j of prefix g in
    /// round `round` from stream (round·top_k + g)·B + j of the request's seed.
    fn sampled_lookahead<'m>(
        &self,
        prefixes: Vec<Beam<'m>>,
        round: usize,
    ) -> Result<Vec<Beam<'m>>> {
        let b = self.p.init_beams;
        let params = SamplingParams {
            top_k: None,
            top_p: None,
            ..self.run.params.clone()
        };
        let mut prefixes = prefixes;
        feed_pending(&mut prefixes)?;
        let mut beams: Vec<Beam> = Vec::with_capacity(prefixes.len() * b);
        let mut samplers = Vec::with_capacity(prefixes.len() * b);
        for (g, p) in prefixes.into_iter().enumerate() {
            for j in 0..b {
                let session = p.session.as_ref().map(DecodeSession::fork).transpose()?;
                beams.push(Beam {
                    session,
                    pending: None,
                    ids: p.ids.clone(),
                    logprob: 0.0,
                    written: 0,
                    end: None,
                    origin: p.origin,
                });
                let stream = ((round * self.p.top_k + g) * b + j) as u64;
                samplers.push(Sampler::new(&params, stream));
            }
        }
        for _ in 0..self.p.lookahead {
            let live: Vec<usize> = (0..beams.len())
                .filter(|&i| beams[i].end.is_none())
                .collect();
            if live.is_empty() {
                break;
            }
            feed_pending(&mut beams)?;
            for i in live {
                let row = beams[i].row()?;
                let t = samplers[i].choose(row);
                let lp = f64::from(log_softmax(row)[t as usize]);
                let parent = &mut beams[i];
                let eos = self.run.is_eos(t);
                if !eos {
                    parent.ids.push(t);
                    parent.pending = Some(t);
                }
                parent.logprob += lp;
                parent.written += 1;
                parent.end = self.end_of(&parent.ids, eos);
                if parent.end.is_some() {
                    parent.session = None;
                }
            }
        }
        Ok(beams)
    }
}

/// Decodes one answer with DeAL.
pub(crate) fn decode(run: &Run, p: &DealParams) -> Result<Generation> {
    let search = Search { run, p };
    let root = Beam {
        session: Some(DecodeSession::new(run.model, run.prompt_ids)?),
        pending: None,
        ids: Vec::new(),
        logprob: 0.0,
        written: 0,
        end: None,
        origin: 0,
    };
    let mut kept = vec![root];
    // Ended beams with their reward, in the order found.
    let mut ended: Vec<(f64, Vec<u32>, FinishReason)> = Vec::new();
    let mut last: Vec<(f64, Vec<u32>)> = Vec::new();
    for round in 0..p.max_iterations {
        let prefixes: Vec<Beam> = kept
            .drain(..)
            .enumerate()
            .map(|(g, mut b)| {
                b.origin = g;
                b.logprob = 0.0;
                b.written = 0;
                b
            })
            .collect();
        let cands = if run.params.temperature == 0.0 {
            search.beam_lookahead(prefixes)?
        } else {
            search.sampled_lookahead(prefixes, round)?
        };
        let continuations: Vec<Vec<u32>> = cands.iter().map(|c| c.ids.clone()).collect();
        let texts = run.texts(&[], &continuations)?;
        let rewards = run.rewards(&texts)?;
        let mut order: Vec<usize> = (0..cands.len()).collect();
        order.sort_by(|&a, &b| rewards[b].total_cmp(&rewards[a]).then(a.cmp(&b)));
        order.truncate(p.top_k);
        let mut cands: Vec<Option<Beam>> = cands.into_iter().map(Some).collect();
        last.clear();
        for i in order {
            let Some(mut beam) = cands[i].take() else {
                continue;
            };
            if beam.end.is_none() && find_stop(&texts[i], &run.params.stop).is_some() {
                beam.end = Some(FinishReason::Stop);
            }
            match beam.end {
                Some(reason) => ended.push((rewards[i], beam.ids, reason)),
                None => {
                    last.push((rewards[i], beam.ids.clone()));
                    kept.push(beam);
                }
            }
        }
        if kept.is_empty() {
            break;
        }
    }
    // The best-rewarded answer, the first found on ties: ended beams, then those still kept
    // when the rounds ran out (cut by the search's length).
    let mut best: Option<(f64, Vec<u32>, FinishReason)> = None;
    let still = last
        .into_iter()
        .map(|(r, ids)| (r, ids, FinishReason::Length));
    for (r, ids, reason) in ended.into_iter().chain(still) {
        if best.as_ref().is_none_or(|b| r > b.0) {
            best = Some((r, ids, reason));
        }
    }
    let (_, ids, reason) = best.ok_or(EngineError::InvalidParam {
        name: "DeAL",
        value: "no candidate".into(),
        allowed: "at least one round of search",
    })?;
    Answer::assemble(run, &ids, reason)
}
