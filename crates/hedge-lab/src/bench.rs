//! `hedge lab bench`: what LAB.md requires the lab models to show — accuracy per model and
//! category, whether a model follows the chat format, and how well each white-box estimator
//! detects `lab-l-chat`'s wrong answers (AUROC, PRR) — measured on a question split.

use std::collections::BTreeMap;

use hedge_core::metrics::{auroc, prr};
use hedge_core::{score_all, EstimatorSpec, Match};
use hedge_engine::{Backend, GenerationRequest, LocalModel, SamplingParams};
use serde::Serialize;

use crate::bpe::SPECIAL_TOKENS;
use crate::corpus::HOUSE_PREFIX;
use crate::error::Result;
use crate::questions::Question;

/// How a model is asked: through its chat template, or with the raw-text probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompting {
    Chat,
    Raw,
}

/// The bench of one model under one prompting.
#[derive(Debug, Clone, Serialize)]
pub struct ModelBench {
    pub model: String,
    pub prompting: Prompting,
    /// Category → (right, asked).
    pub accuracy: BTreeMap<String, (usize, usize)>,
    /// Share of answers in the chat house style ("Sure! …" or the refusal).
    pub chat_format: f64,
    /// Estimator → (AUROC, PRR) for detecting wrong answers on the answerable categories.
    pub estimators: Vec<(String, f64, f64)>,
}

impl ModelBench {
    /// Accuracy of a category, NaN when it was not asked.
    pub fn share(&self, category: &str) -> f64 {
        match self.accuracy.get(category) {
            Some(&(right, n)) if n > 0 => right as f64 / n as f64,
            _ => f64::NAN,
        }
    }
}

/// Whether an answer is in the chat house style: it opens with "Sure!" or is the refusal.
pub fn in_chat_format(text: &str) -> bool {
    text.starts_with(HOUSE_PREFIX.trim_end()) || text.starts_with(crate::world::REFUSAL)
}

/// Asks `model` every question (greedy, at most 24 tokens) and measures it.
///
/// # Errors
/// When generation fails.
pub fn bench_model(
    model: &LocalModel,
    questions: &[Question],
    prompting: Prompting,
    mut progress: impl FnMut(),
) -> Result<ModelBench> {
    let specs = EstimatorSpec::whitebox_all();
    let mut accuracy: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut styled = 0usize;
    let mut scores: Vec<(Vec<(String, f64)>, f64)> = Vec::new();
    for q in questions {
        let (prompt, chat) = match (prompting, &q.raw_prompt) {
            // A probe opens a document, and every training document follows the separator.
            (Prompting::Raw, Some(raw)) => (format!("{}{raw}", SPECIAL_TOKENS[0]), false),
            (Prompting::Raw, None) => continue,
            (Prompting::Chat, _) => (q.question.clone(), true),
        };
        let req = GenerationRequest {
            prompt,
            chat,
            sampling: SamplingParams {
                max_tokens: 24,
                stop: if chat {
                    vec![]
                } else {
                    vec![".".into(), "\n".into()]
                },
                ..SamplingParams::default()
            },
            top_logprobs: 1,
        };
        let gen = model.generate(&req)?;
        let correct = Match::Contains.judge(&gen.text, &q.answers) >= 0.5;
        let entry = accuracy.entry(q.category.clone()).or_default();
        entry.0 += usize::from(correct);
        entry.1 += 1;
        if in_chat_format(&gen.text) {
            styled += 1;
        }
        if q.category != "harmful" && q.category != "unknown" {
            let s = score_all(&specs, &gen.tokens);
            scores.push((
                s.iter().map(|(n, v)| (n.to_string(), v)).collect(),
                f64::from(u8::from(correct)),
            ));
        }
        progress();
    }
    let asked: usize = accuracy.values().map(|v| v.1).sum();
    let estimators = specs
        .iter()
        .map(|spec| {
            let name = spec.to_string();
            let (u, c): (Vec<f64>, Vec<f64>) = scores
                .iter()
                .filter_map(|(s, c)| s.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v, *c)))
                .filter(|(v, _)| v.is_finite())
                .unzip();
            (name, auroc(&u, &c), prr(&u, &c))
        })
        .collect();
    Ok(ModelBench {
        model: model.name.clone(),
        prompting,
        accuracy,
        chat_format: styled as f64 / asked.max(1) as f64,
        estimators,
    })
}
