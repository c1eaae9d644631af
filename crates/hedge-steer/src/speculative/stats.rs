//! What speculative decoding did: tokens drafted and accepted, forward passes, γ, and where
//! the time went.

use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// Counts of one or more speculative generations (add them with [`SpeculativeStats::add`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeculativeStats {
    /// Generations counted.
    pub generations: usize,
    /// Draft-then-verify rounds.
    pub rounds: usize,
    /// Tokens the draft proposed.
    pub drafted: usize,
    /// Proposed tokens the target accepted.
    pub accepted: usize,
    /// Tokens decided: accepted drafts, corrections and bonus tokens, an end-of-sequence token
    /// included (it costs plain decoding a step too), before stop strings cut the text.
    pub emitted: usize,
    /// Forward passes of the target, its prefill included: plain decoding of L tokens makes L.
    pub target_passes: usize,
    /// Forward passes of the draft, its prefill included.
    pub draft_passes: usize,
    /// Σ γ over the rounds (each round's γ after the length limits; drafting may stop
    /// before it, at an end-of-sequence token or an unsure draft token).
    pub gamma_sum: usize,
    /// Rounds whose drafting stopped early at a token the draft was unsure of (below the
    /// draft confidence).
    #[serde(default)]
    pub confidence_stops: usize,
    /// Smallest and largest γ of the rounds.
    pub gamma_min: usize,
    pub gamma_max: usize,
    /// Seconds in the draft's forward passes (prefill included).
    pub draft_seconds: f64,
    /// Seconds in the target's forward passes (prefill and verification).
    pub target_seconds: f64,
    /// Seconds of the whole generation: what is neither draft nor target is bookkeeping
    /// (acceptance, statistics, text decoding).
    pub total_seconds: f64,
}

impl SpeculativeStats {
    /// accepted / drafted: the share of proposed tokens the target kept (0 when none were).
    pub fn acceptance_rate(&self) -> f64 {
        ratio(self.accepted, self.drafted)
    }

    /// Mean γ per round.
    pub fn mean_gamma(&self) -> f64 {
        ratio(self.gamma_sum, self.rounds)
    }

    /// Tokens decided per target forward pass (1 for plain decoding).
    pub fn tokens_per_target_pass(&self) -> f64 {
        ratio(self.emitted, self.target_passes)
    }

    /// Seconds outside both models' forward passes.
    pub fn bookkeeping_seconds(&self) -> f64 {
        (self.total_seconds - self.draft_seconds - self.target_seconds).max(0.0)
    }

    /// Adds the counts of `other` (more generations) to these.
    pub fn add(&mut self, other: &SpeculativeStats) {
        self.gamma_min = match (self.rounds, other.rounds) {
            (_, 0) => self.gamma_min,
            (0, _) => other.gamma_min,
            _ => self.gamma_min.min(other.gamma_min),
        };
        self.gamma_max = self.gamma_max.max(other.gamma_max);
        self.generations += other.generations;
        self.rounds += other.rounds;
        self.drafted += other.drafted;
        self.accepted += other.accepted;
        self.emitted += other.emitted;
        self.target_passes += other.target_passes;
        self.draft_passes += other.draft_passes;
        self.gamma_sum += other.gamma_sum;
        self.confidence_stops += other.confidence_stops;
        self.draft_seconds += other.draft_seconds;
        self.target_seconds += other.target_seconds;
        self.total_seconds += other.total_seconds;
    }

    /// Records the γ of a round.
    pub(crate) fn round(&mut self, gamma: usize) {
        self.gamma_min = if self.rounds == 0 {
            gamma
        } else {
            self.gamma_min.min(gamma)
        };
        self.gamma_max = self.gamma_max.max(gamma);
        self.gamma_sum += gamma;
        self.rounds += 1;
    }

    /// These counts with the derived rates, as JSON for `--json` outputs.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(o) = &mut v {
            o.insert("acceptance_rate".into(), self.acceptance_rate().into());
            o.insert("mean_gamma".into(), self.mean_gamma().into());
            o.insert(
                "tokens_per_target_pass".into(),
                self.tokens_per_target_pass().into(),
            );
        }
        v
    }

    /// One line for people: acceptance, drafts per round, γ, target passes.
    pub fn summary_line(&self) -> String {
        let gamma = if self.gamma_min == self.gamma_max {
            format!("γ {}", self.gamma_min)
        } else {
            format!(
                "γ {}..{}, mean {:.1}",
                self.gamma_min,
                self.gamma_max,
                self.mean_gamma()
            )
        };
        format!(
            "speculative decoding: {:.1} % of {} drafted tokens accepted ({:.1} drafted a round, \
             {gamma}); {} tokens in {} target passes ({:.2} a pass)",
            100.0 * self.acceptance_rate(),
            self.drafted,
            ratio(self.drafted, self.rounds),
            self.emitted,
            self.target_passes,
            self.tokens_per_target_pass()
        )
    }
}

/// Where a [`Speculative`](super::Speculative) leaves its counts: those of its last generation
/// and the sum over all of them. Clones share one log, so a caller that keeps a clone reads
/// what the decoder did behind a `Box<dyn Backend>`.
#[derive(Debug, Clone, Default)]
pub struct StatsLog(Arc<Mutex<Logged>>);

#[derive(Debug, Default)]
struct Logged {
    last: Option<SpeculativeStats>,
    total: SpeculativeStats,
}

impl StatsLog {
    /// The counts of the latest generation, if any.
    pub fn last(&self) -> Option<SpeculativeStats> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last
            .clone()
    }

    /// The counts summed over every generation logged.
    pub fn total(&self) -> SpeculativeStats {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
            .clone()
    }

    pub(crate) fn record(&self, stats: &SpeculativeStats) {
        let mut log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        log.total.add(stats);
        log.last = Some(stats.clone());
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_sums() {
        let mut a = SpeculativeStats {
            generations: 1,
            drafted: 8,
            accepted: 6,
            emitted: 8,
            target_passes: 3,
            ..Default::default()
        };
        a.round(4);
        a.round(4);
        let mut b = SpeculativeStats {
            generations: 1,
            drafted: 2,
            accepted: 2,
            emitted: 3,
            target_passes: 2,
            ..Default::default()
        };
        b.round(2);
        a.add(&b);
        assert_eq!(a.acceptance_rate(), 0.8);
        assert_eq!((a.gamma_min, a.gamma_max, a.rounds), (2, 4, 3));
        assert!((a.mean_gamma() - 10.0 / 3.0).abs() < 1e-12);
        assert_eq!(a.tokens_per_target_pass(), 11.0 / 5.0);
        assert_eq!(SpeculativeStats::default().acceptance_rate(), 0.0);
        let j = a.to_json();
        assert_eq!(j["acceptance_rate"], 0.8);
        assert!(a
            .summary_line()
            .contains("80.0 % of 10 drafted tokens accepted"));
    }
}
