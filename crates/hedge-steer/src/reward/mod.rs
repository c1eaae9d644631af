//! Reward-guided decoding: DeAL lookahead search, ARGS, Transfer Q*, and their rewards
//! (METHODS §6).
//!
//! - [`Reward`]: the reward R(x, y) of a text y given the prompt x. The programmatic rewards
//!   ([`Keywords`], [`Length`], [`Forbidden`]) and their [`Weighted`] sums; [`ModelReward`], a
//!   model folder whose score for (x, y) is the reward ([`hedge_engine::RewardModel`]); and
//!   [`Robust`], the uncertainty-aware mean − λ·std over M evaluations (Ctrl-U; PEARL), from an
//!   ensemble of rewards or one reward on perturbed copies of the text.
//! - [`RewardSpec`]: a reward as the command line names it (`keywords:Lorwick`, `length:12`,
//!   `forbid:sorry`, `model:DIR`, each with an optional `@WEIGHT`).
//! - [`RewardGuided`]: a [`hedge_engine::Backend`] that decodes a [`hedge_engine::LocalModel`]
//!   with one of the [`Guide`]s: [`deal`] (lookahead search), [`argsearch`] (ARGS) or
//!   [`transfer_q`] (Transfer Q*), candidates expanded in batched forward passes of
//!   [`hedge_engine::DecodeSession`]s, every random choice seeded.
//!
//! ```
//! use hedge_steer::reward::{Keywords, Length, LengthUnit, Reward, Weighted};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reward = Weighted::new(vec![
//!     (1.0, Box::new(Keywords::new(["Lorwick", "visited"])) as Box<dyn Reward>),
//!     (0.5, Box::new(Length::new(4.0, LengthUnit::Words)?)),
//! ]);
//! // Half the keywords (0.5) and 5 words for a target of 4 (−|5 − 4| / 4 = −0.25).
//! let r = reward.reward("Where does Mira live?", "Sure! Mira lives in Lorwick.")?;
//! assert!((r - (0.5 + 0.5 * -0.25)).abs() < 1e-12);
//! # Ok(())
//! # }
//! ```

pub mod argsearch;
pub mod deal;
mod guided;
mod model;
mod programmatic;
mod robust;
mod spec;
pub mod transfer_q;

pub use guided::{Guide, RewardGuided, RewardLog, RewardNote};
pub use model::ModelReward;
pub use programmatic::{contains_word, Forbidden, Keywords, Length, LengthUnit};
pub use robust::{mean_minus_lambda_std, population_std, Perturbation, Robust};
pub use spec::{combine, RewardSpec, RewardSpecKind, REWARD_FORMS};

use hedge_engine::Result;

/// The reward R(x, y) of a text `y` written for the prompt `x`: higher is better.
///
/// One required method; [`Reward::rewards`] scores several texts at once, which a reward model
/// overrides to run them as one batch.
pub trait Reward {
    /// R(x, y).
    ///
    /// # Errors
    /// When a model-based reward fails.
    fn reward(&self, prompt: &str, text: &str) -> Result<f64>;

    /// R(x, y_i) for each text, in order.
    ///
    /// # Errors
    /// As [`Reward::reward`].
    fn rewards(&self, prompt: &str, texts: &[String]) -> Result<Vec<f64>> {
        texts.iter().map(|t| self.reward(prompt, t)).collect()
    }
}

impl<R: Reward + ?Sized> Reward for Box<R> {
    fn reward(&self, prompt: &str, text: &str) -> Result<f64> {
        (**self).reward(prompt, text)
    }

    fn rewards(&self, prompt: &str, texts: &[String]) -> Result<Vec<f64>> {
        (**self).rewards(prompt, texts)
    }
}

/// Σ_i w_i · R_i: several rewards with their weights.
pub struct Weighted {
    parts: Vec<(f64, Box<dyn Reward>)>,
}

impl Weighted {
    pub fn new(parts: Vec<(f64, Box<dyn Reward>)>) -> Self {
        Self { parts }
    }
}

impl Reward for Weighted {
    fn reward(&self, prompt: &str, text: &str) -> Result<f64> {
        let mut total = 0.0;
        for (w, r) in &self.parts {
            total += w * r.reward(prompt, text)?;
        }
        Ok(total)
    }

    fn rewards(&self, prompt: &str, texts: &[String]) -> Result<Vec<f64>> {
        let mut total = vec![0.0; texts.len()];
        for (w, r) in &self.parts {
            for (t, x) in total.iter_mut().zip(r.rewards(prompt, texts)?) {
                *t += w * x;
            }
        }
        Ok(total)
    }
}
