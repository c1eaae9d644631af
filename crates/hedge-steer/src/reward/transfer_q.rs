//! Transfer Q* (Chakraborty et al., "Transfer Q Star: Principled Decoding for LLM Alignment";
//! the authors' `direct.py`): as ARGS, but each candidate token v is valued by the reward of a
//! greedy rollout of a baseline model: score(v) = logit(v) + w·R(x, y + v + rollout), the
//! rollout 20 tokens long (shorter when the baseline writes an end-of-sequence token).
//!
//! The k rollouts run as one batch: the session is forked k ways, the candidates fed in one
//! forward pass, then one batched forward per rollout step. The baseline is the decoding model
//! itself unless another is given (it must share the vocabulary).

use hedge_engine::{DecodeSession, EngineError, Generation, LocalModel, Result};

use super::argsearch::validate_k_w;
use super::guided::{token_level, CandidateValue, Run};

/// Transfer Q*'s parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferQParams {
    /// How many tokens of highest logit are scored (k = 10, as ARGS).
    pub top_k: usize,
    /// The reward weight w (1).
    pub weight: f64,
    /// Tokens of greedy rollout after each candidate (20).
    pub rollout: usize,
}

impl Default for TransferQParams {
    fn default() -> Self {
        Self {
            top_k: 10,
            weight: 1.0,
            rollout: 20,
        }
    }
}

impl TransferQParams {
    pub(crate) fn validate(&self) -> Result<()> {
        validate_k_w(self.top_k, self.weight)?;
        if self.rollout == 0 {
            return Err(EngineError::InvalidParam {
                name: "rollout",
                value: "0".into(),
                allowed: "at least 1 token of baseline rollout (Transfer Q* uses 20); with no rollout use ARGS",
            });
        }
        Ok(())
    }
}

/// R(x, y + v + greedy rollout of the baseline) for each candidate v.
struct Rollouts<'a, 'r, 'b> {
    run: &'a Run<'r>,
    rollout: usize,
    /// The baseline's own session over the same ids, when it is another model.
    baseline: Option<DecodeSession<'b>>,
}

impl Rollouts<'_, '_, '_> {
    /// The greedy continuations of `base` after each candidate: `[v, t_1, …, t_n]`, n ≤ rollout,
    /// or `[]` for an end-of-sequence candidate.
    fn continuations(&self, base: &DecodeSession, candidates: &[u32]) -> Result<Vec<Vec<u32>>> {
        let run = self.run;
        let eos = &base.model().eos_ids;
        let mut conts: Vec<Vec<u32>> = candidates
            .iter()
            .map(|&v| if run.is_eos(v) { Vec::new() } else { vec![v] })
            .collect();
        // Room after the candidate: the rollout stops at the context.
        let room = run.context().saturating_sub(base.len() + 1);
        let steps = self.rollout.min(room);
        if steps == 0 {
            return Ok(conts);
        }
        let mut owners: Vec<usize> = (0..conts.len()).filter(|&i| !conts[i].is_empty()).collect();
        let mut sessions = owners
            .iter()
            .map(|_| base.fork())
            .collect::<Result<Vec<_>>>()?;
        let first: Vec<u32> = owners.iter().map(|&i| conts[i][0]).collect();
        DecodeSession::feed_batch(&mut sessions, &first)?;
        for step in 0..steps {
            let mut next = Vec::with_capacity(sessions.len());
            let mut keep = Vec::with_capacity(sessions.len());
            for (k, s) in sessions.iter().enumerate() {
                let row = s.next_logits().ok_or(EngineError::InvalidParam {
                    name: "rollout",
                    value: "no next logits".into(),
                    allowed: "a session fed its last token",
                })?;
                let t = hedge_engine::sampling::argmax(row);
                if run.params.ignore_eos || !eos.contains(&t) {
                    conts[owners[k]].push(t);
                    next.push(t);
                    keep.push(true);
                } else {
                    keep.push(false);
                }
            }
            if step + 1 == steps {
                break;
            }
            let mut it = keep.iter();
            sessions.retain(|_| *it.next().unwrap_or(&false));
            let mut it = keep.iter();
            owners.retain(|_| *it.next().unwrap_or(&false));
            if sessions.is_empty() {
                break;
            }
            DecodeSession::feed_batch(&mut sessions, &next)?;
        }
        Ok(conts)
    }
}

impl<'b> CandidateValue for Rollouts<'_, '_, 'b> {
    fn values(
        &mut self,
        session: &DecodeSession,
        ids: &[u32],
        candidates: &[u32],
    ) -> Result<Vec<f64>> {
        // Bring the baseline's session up to the answer so far (one token a step).
        if let Some(b) = self.baseline.as_mut() {
            let have = b.len() - self.run.prompt_ids.len();
            if have < ids.len() {
                b.feed_last(&ids[have..])?;
            }
        }
        let conts = match &self.baseline {
            Some(b) => self.continuations(b, candidates)?,
            None => self.continuations(session, candidates)?,
        };
        let texts = self.run.texts(ids, &conts)?;
        self.run.rewards(&texts)
    }
}

/// Decodes one answer with Transfer Q*, the rollouts written by `baseline`.
pub(crate) fn decode(run: &Run, baseline: &LocalModel, p: &TransferQParams) -> Result<Generation> {
    let separate = !std::ptr::eq(baseline, run.model);
    let mut value = Rollouts {
        run,
        rollout: p.rollout,
        baseline: if separate {
            Some(DecodeSession::new(baseline, run.prompt_ids)?)
        } else {
            None
        },
    };
    token_level(run, p.top_k, p.weight, &mut value)
}
