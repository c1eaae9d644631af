//! The uncertainty-aware reward (Ctrl-U; PEARL's robust reward): with M reward evaluations
//! r_1..r_M — an ensemble of rewards, or one reward on perturbed copies of the text — the
//! reward is mean(r) − λ·std(r).
//!
//! std is the population standard deviation (divide by M, numpy's default `np.std`, ddof = 0),
//! as the ensemble objectives of Coste et al.'s reference code (`np.mean(s) − c·np.var(s)`,
//! tlc4418/llm_optimization) compute their spread; with M = 2 it is |r_1 − r_2| / 2, half
//! Ctrl-U's discrepancy between two perturbed predictions.

use hedge_engine::{EngineError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Reward;

/// The population standard deviation √(Σ (x − x̄)² / M); 0 for fewer than two values.
pub fn population_std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// mean(xs) − λ·std(xs), std the population standard deviation; NaN for no values.
pub fn mean_minus_lambda_std(xs: &[f64], lambda: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    mean - lambda * population_std(xs)
}

/// Seeded perturbed copies of a text: copy j drops each whitespace-separated word with
/// probability `drop`, from random stream j of `seed` (same text, same copies).
#[derive(Debug, Clone, PartialEq)]
pub struct Perturbation {
    pub copies: usize,
    pub drop: f64,
    pub seed: u64,
}

impl Perturbation {
    /// # Errors
    /// When `copies` < 2 or `drop` is outside [0, 1).
    pub fn new(copies: usize, drop: f64, seed: u64) -> Result<Self> {
        if copies < 2 {
            return Err(EngineError::InvalidParam {
                name: "perturbed copies",
                value: copies.to_string(),
                allowed: "at least 2: mean − λ·std needs M ≥ 2 evaluations",
            });
        }
        if !(0.0..1.0).contains(&drop) {
            return Err(EngineError::InvalidParam {
                name: "word drop probability",
                value: drop.to_string(),
                allowed: "a probability in [0, 1)",
            });
        }
        Ok(Self { copies, drop, seed })
    }

    /// The `copies` perturbed versions of `text`.
    pub fn apply(&self, text: &str) -> Vec<String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        (0..self.copies as u64)
            .map(|j| {
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                rng.set_stream(j);
                words
                    .iter()
                    .filter(|_| rng.random::<f64>() >= self.drop)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }
}

/// mean − λ·std over M evaluations: every member reward (weights applied) on the text, or on
/// each of its perturbed copies when a [`Perturbation`] is set.
pub struct Robust {
    members: Vec<(f64, Box<dyn Reward>)>,
    perturbation: Option<Perturbation>,
    lambda: f64,
}

impl Robust {
    /// # Errors
    /// When `lambda` is negative or not finite, or there would be fewer than two evaluations.
    pub fn new(
        members: Vec<(f64, Box<dyn Reward>)>,
        perturbation: Option<Perturbation>,
        lambda: f64,
    ) -> Result<Self> {
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(EngineError::InvalidParam {
                name: "reward lambda",
                value: lambda.to_string(),
                allowed: "a finite number ≥ 0 (the weight of std in mean − λ·std)",
            });
        }
        let m = members.len() * perturbation.as_ref().map_or(1, |p| p.copies);
        if m < 2 {
            return Err(EngineError::InvalidParam {
                name: "reward evaluations",
                value: m.to_string(),
                allowed: "mean − λ·std needs M ≥ 2 evaluations: give several rewards (an \
                          ensemble) or perturbed copies of the text",
            });
        }
        Ok(Self {
            members,
            perturbation,
            lambda,
        })
    }

    /// The M evaluations r_1..r_M of `text`: member by member, copy by copy.
    ///
    /// # Errors
    /// When a member reward fails.
    pub fn evaluations(&self, prompt: &str, text: &str) -> Result<Vec<f64>> {
        Ok(self
            .evaluations_of(prompt, &[text.to_string()])?
            .pop()
            .unwrap_or_default())
    }

    /// The evaluations of each text, every member scoring all texts (and copies) in one call.
    fn evaluations_of(&self, prompt: &str, texts: &[String]) -> Result<Vec<Vec<f64>>> {
        let copies = self.perturbation.as_ref().map_or(1, |p| p.copies);
        let inputs: Vec<String> = match &self.perturbation {
            Some(p) => texts.iter().flat_map(|t| p.apply(t)).collect(),
            None => texts.to_vec(),
        };
        let mut out = vec![Vec::with_capacity(self.members.len() * copies); texts.len()];
        for (w, r) in &self.members {
            let scores = r.rewards(prompt, &inputs)?;
            for (i, chunk) in scores.chunks(copies).enumerate() {
                out[i].extend(chunk.iter().map(|s| w * s));
            }
        }
        Ok(out)
    }
}

impl Reward for Robust {
    fn reward(&self, prompt: &str, text: &str) -> Result<f64> {
        Ok(mean_minus_lambda_std(
            &self.evaluations(prompt, text)?,
            self.lambda,
        ))
    }

    fn rewards(&self, prompt: &str, texts: &[String]) -> Result<Vec<f64>> {
        Ok(self
            .evaluations_of(prompt, texts)?
            .iter()
            .map(|e| mean_minus_lambda_std(e, self.lambda))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::{Keywords, Length, LengthUnit};

    #[test]
    fn mean_minus_lambda_std_by_hand() {
        // r = (1, 2, 3, 4): mean 2.5; population variance (2.25 + 0.25 + 0.25 + 2.25) / 4 =
        // 1.25, std √1.25; λ = 2 gives 2.5 − 2√1.25.
        let r = [1.0, 2.0, 3.0, 4.0];
        assert!((population_std(&r) - 1.25f64.sqrt()).abs() < 1e-12);
        let want = 2.5 - 2.0 * 1.25f64.sqrt();
        assert!((mean_minus_lambda_std(&r, 2.0) - want).abs() < 1e-12);
        // M = 2: std = |r1 − r2| / 2.
        assert_eq!(population_std(&[0.0, 1.0]), 0.5);
        assert_eq!(mean_minus_lambda_std(&[0.0, 1.0], 1.0), 0.0);
        // λ = 0 is the mean; equal values have no spread.
        assert_eq!(mean_minus_lambda_std(&r, 0.0), 2.5);
        assert_eq!(mean_minus_lambda_std(&[0.7; 5], 3.0), 0.7);
        assert!(mean_minus_lambda_std(&[], 1.0).is_nan());
    }

    #[test]
    fn an_ensemble_penalises_disagreement() {
        // Keywords gives 1, the length target (2 words for a target of 4) gives −0.5, with
        // weights 1 and 2: evaluations (1, −1), mean 0, std 1, so mean − 0.5·std = −0.5.
        let ensemble = Robust::new(
            vec![
                (1.0, Box::new(Keywords::new(["Lorwick"])) as Box<dyn Reward>),
                (2.0, Box::new(Length::new(4.0, LengthUnit::Words).unwrap())),
            ],
            None,
            0.5,
        )
        .unwrap();
        assert_eq!(
            ensemble.evaluations("q", "in Lorwick").unwrap(),
            vec![1.0, -1.0]
        );
        assert_eq!(ensemble.reward("q", "in Lorwick").unwrap(), -0.5);
        let batch = ensemble
            .rewards("q", &["in Lorwick".into(), "a b c d".into()])
            .unwrap();
        // "a b c d": evaluations (0, 0): no spread.
        assert_eq!(batch, vec![-0.5, 0.0]);
    }

    #[test]
    fn perturbed_copies_are_seeded_and_drop_words() {
        let p = Perturbation::new(8, 0.5, 3).unwrap();
        let text = "one two three four five six seven eight";
        let copies = p.apply(text);
        assert_eq!(copies.len(), 8);
        assert_eq!(copies, p.apply(text), "same seed, same copies");
        assert_ne!(copies, Perturbation::new(8, 0.5, 4).unwrap().apply(text));
        assert!(copies.iter().any(|c| c.split_whitespace().count() < 8));
        assert!(copies
            .iter()
            .all(|c| c.split_whitespace().all(|w| text.contains(w))));
        let none = Perturbation::new(3, 0.0, 0).unwrap().apply(text);
        assert!(none.iter().all(|c| c == text));
        assert!(Perturbation::new(1, 0.1, 0).is_err());
        assert!(Perturbation::new(4, 1.0, 0).is_err());
    }

    #[test]
    fn one_reward_on_perturbed_copies() {
        // The keyword survives in some copies and not others: the robust reward is below the
        // plain one (1) by λ·std, and equals mean − λ·std of the copies' rewards.
        let p = Perturbation::new(6, 0.5, 11).unwrap();
        let text = "Sure! Mira lives in Lorwick near the river";
        let robust = Robust::new(
            vec![(1.0, Box::new(Keywords::new(["Lorwick"])) as Box<dyn Reward>)],
            Some(p.clone()),
            1.0,
        )
        .unwrap();
        let by_hand: Vec<f64> = p
            .apply(text)
            .iter()
            .map(|c| f64::from(u8::from(c.contains("Lorwick"))))
            .collect();
        assert!(
            by_hand.contains(&0.0) && by_hand.contains(&1.0),
            "{by_hand:?}"
        );
        assert_eq!(robust.evaluations("q", text).unwrap(), by_hand);
        let got = robust.reward("q", text).unwrap();
        assert!((got - mean_minus_lambda_std(&by_hand, 1.0)).abs() < 1e-12);
        assert!(got < by_hand.iter().sum::<f64>() / 6.0);
        assert!(Robust::new(vec![(1.0, Box::new(Keywords::new(["x"])))], None, 1.0).is_err());
        assert!(Robust::new(
            vec![
                (1.0, Box::new(Keywords::new(["x"]))),
                (1.0, Box::new(Keywords::new(["y"])))
            ],
            None,
            -1.0
        )
        .is_err());
    }
}
