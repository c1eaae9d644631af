//! ARGS (Khanov et al., "Alignment as Reward-Guided Search"; deeplearning-wisc/args): at each
//! step, for the k = 10 tokens of highest logit, score(v) = logit(v) + w·R(x, y + v), w = 1;
//! greedy takes the argmax, sampling draws from softmax(score / T).
//!
//! As the reference `argsearch.py`: the raw logit (not its log-probability) plus the weighted
//! reward of the text with the candidate appended. With w = 0 it is greedy decoding, token for
//! token. The k candidate texts go to the reward in one call (one batch for a reward model).

use hedge_engine::{DecodeSession, EngineError, Generation, Result};

use super::guided::{token_level, CandidateValue, Run};

/// ARGS's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgsParams {
    /// How many tokens of highest logit are scored (k = 10).
    pub top_k: usize,
    /// The reward weight w in logit + w·R (w = 1).
    pub weight: f64,
}

impl Default for ArgsParams {
    fn default() -> Self {
        Self {
            top_k: 10,
            weight: 1.0,
        }
    }
}

impl ArgsParams {
    pub(crate) fn validate(&self) -> Result<()> {
        validate_k_w(self.top_k, self.weight)
    }
}

/// The checks ARGS and Transfer Q* share.
pub(crate) fn validate_k_w(top_k: usize, weight: f64) -> Result<()> {
    if top_k == 0 {
        return Err(EngineError::InvalidParam {
            name: "guide top-k",
            value: "0".into(),
            allowed: "at least 1 token to score (ARGS and Transfer Q* use 10)",
        });
    }
    if !weight.is_finite() {
        return Err(EngineError::InvalidParam {
            name: "reward weight",
            value: weight.to_string(),
            allowed: "a finite number (w in logit + w·R; 1 by default, 0 is plain decoding)",
        });
    }
    Ok(())
}

/// R(x, y + v) for each candidate v.
struct Appended<'a, 'r> {
    run: &'a Run<'r>,
}

impl CandidateValue for Appended<'_, '_> {
    fn values(
        &mut self,
        _session: &DecodeSession,
        ids: &[u32],
        candidates: &[u32],
    ) -> Result<Vec<f64>> {
        let continuations: Vec<Vec<u32>> = candidates.iter().map(|&v| vec![v]).collect();
        let texts = self.run.texts(ids, &continuations)?;
        self.run.rewards(&texts)
    }
}

/// Decodes one answer with ARGS.
pub(crate) fn decode(run: &Run, p: &ArgsParams) -> Result<Generation> {
    token_level(run, p.top_k, p.weight, &mut Appended { run })
}
