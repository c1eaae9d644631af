//! γ, the number of tokens the draft proposes per round: fixed, or adapted round by round.

use std::fmt;
use std::str::FromStr;

/// The largest γ: past it, a verify pass costs more than the tokens it can win back.
pub const MAX_DRAFT_TOKENS: usize = 16;

/// Where adaptive γ starts.
pub const ADAPTIVE_START: usize = 4;

/// How many tokens the draft proposes per round.
///
/// `Adaptive` follows the rule of Hugging Face transformers' "heuristic" assistant schedule:
/// start at [`ADAPTIVE_START`]; after a round whose every draft token was accepted, γ grows by
/// 2; after a round with a rejection, γ shrinks by 1; always within 1..=[`MAX_DRAFT_TOKENS`].
/// γ then settles where rounds are about as often fully accepted as cut short, which tracks the
/// local acceptance rate (long runs of template text, short ones at facts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftLength {
    /// The same γ every round (1..=16).
    Fixed(usize),
    /// γ adapted after each round.
    Adaptive,
}

impl DraftLength {
    /// A fixed γ, checked against 1..=[`MAX_DRAFT_TOKENS`].
    ///
    /// # Errors
    /// When `n` is outside 1..=16; the message says what is allowed.
    pub fn fixed(n: usize) -> Result<Self, String> {
        if (1..=MAX_DRAFT_TOKENS).contains(&n) {
            Ok(Self::Fixed(n))
        } else {
            Err(format!(
                "{n} draft tokens: allowed are 1 to {MAX_DRAFT_TOKENS}, or adaptive"
            ))
        }
    }

    /// The schedule of one generation.
    pub(crate) fn schedule(self) -> Schedule {
        match self {
            Self::Fixed(n) => Schedule {
                gamma: n.clamp(1, MAX_DRAFT_TOKENS),
                adaptive: false,
            },
            Self::Adaptive => Schedule {
                gamma: ADAPTIVE_START,
                adaptive: true,
            },
        }
    }
}

impl fmt::Display for DraftLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(n) => write!(f, "{n}"),
            Self::Adaptive => f.write_str("adaptive"),
        }
    }
}

impl FromStr for DraftLength {
    type Err = String;

    /// `adaptive`, or a number of tokens from 1 to 16.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("adaptive") {
            return Ok(Self::Adaptive);
        }
        match s.parse::<usize>() {
            Ok(n) => Self::fixed(n),
            Err(_) => Err(format!(
                "{s:?}: expected a number of draft tokens from 1 to {MAX_DRAFT_TOKENS}, or adaptive"
            )),
        }
    }
}

/// γ during one generation.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    gamma: usize,
    adaptive: bool,
}

impl Schedule {
    /// γ of the next round.
    pub(crate) fn gamma(&self) -> usize {
        self.gamma
    }

    /// Records a round that drafted `drafted` tokens and had `accepted` of them accepted. A
    /// round cut short by the length limit or a drafted end-of-sequence says nothing about
    /// the draft's quality when all its tokens were accepted, so it does not grow γ.
    pub(crate) fn update(&mut self, drafted: usize, accepted: usize) {
        if !self.adaptive || drafted == 0 {
            return;
        }
        if accepted < drafted {
            self.gamma = self.gamma.saturating_sub(1).max(1);
        } else if drafted == self.gamma {
            self.gamma = (self.gamma + 2).min(MAX_DRAFT_TOKENS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_adaptive_and_says_what_is_allowed() {
        assert_eq!("4".parse::<DraftLength>(), Ok(DraftLength::Fixed(4)));
        assert_eq!(
            " Adaptive".parse::<DraftLength>(),
            Ok(DraftLength::Adaptive)
        );
        for bad in ["0", "17", "-1", "many"] {
            let e = bad.parse::<DraftLength>().unwrap_err();
            assert!(e.contains("1 to 16") && e.contains("adaptive"), "{e}");
        }
        assert_eq!(DraftLength::Fixed(3).to_string(), "3");
        assert_eq!(DraftLength::Adaptive.to_string(), "adaptive");
    }

    #[test]
    fn adaptive_grows_on_full_acceptance_and_shrinks_on_rejection() {
        let mut s = DraftLength::Adaptive.schedule();
        assert_eq!(s.gamma(), 4);
        s.update(4, 4);
        assert_eq!(s.gamma(), 6);
        s.update(6, 2);
        assert_eq!(s.gamma(), 5);
        s.update(3, 3); // cut short by the length limit: no growth
        assert_eq!(s.gamma(), 5);
        for _ in 0..10 {
            s.update(s.gamma(), s.gamma());
        }
        assert_eq!(s.gamma(), MAX_DRAFT_TOKENS);
        for _ in 0..20 {
            s.update(s.gamma(), 0);
        }
        assert_eq!(s.gamma(), 1);
        let mut fixed = DraftLength::Fixed(3).schedule();
        fixed.update(3, 3);
        fixed.update(3, 0);
        assert_eq!(fixed.gamma(), 3);
    }
}
