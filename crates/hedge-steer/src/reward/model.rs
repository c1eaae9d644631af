//! A reward model as a [`Reward`]: the folder's score for the (prompt, text) pair.

use std::path::Path;

use hedge_engine::{Result, RewardModel};

use super::Reward;

/// R(x, y) = the reward model's score of the pair (x, y) ([`hedge_engine::RewardModel`]: the
/// logit of a one-output sequence classifier, or the probability of a named label).
#[derive(Debug, Clone)]
pub struct ModelReward {
    model: RewardModel,
}

impl ModelReward {
    /// Loads the folder `dir`, reading class `label` when the head has several.
    ///
    /// # Errors
    /// As [`RewardModel::load`]: the error names the folder or the file that is wrong.
    pub fn load(dir: impl AsRef<Path>, label: Option<&str>) -> Result<Self> {
        Ok(Self {
            model: RewardModel::load(dir, label)?,
        })
    }

    pub fn new(model: RewardModel) -> Self {
        Self { model }
    }

    pub fn model(&self) -> &RewardModel {
        &self.model
    }
}

impl Reward for ModelReward {
    fn reward(&self, prompt: &str, text: &str) -> Result<f64> {
        Ok(self.model.rewards(&[(prompt, text)])?[0])
    }

    /// All texts in padded batches: one forward pass per 32 candidates.
    fn rewards(&self, prompt: &str, texts: &[String]) -> Result<Vec<f64>> {
        let pairs: Vec<(&str, &str)> = texts.iter().map(|t| (prompt, t.as_str())).collect();
        self.model.rewards(&pairs)
    }
}
