//! [`Cascade`]: a [`Backend`] in which a small model answers, and a large one answers instead
//! when the small model's deferral score exceeds τ; each answer says which model gave it.

use std::sync::{Arc, Mutex, PoisonError};

use hedge_engine::{Backend, Generation, GenerationRequest, ScoreRequest};
use serde::Serialize;

use super::curve::number_or_text;
use super::error::{CascadeError, Result};
use super::rule::DeferralRule;

/// Which stage of the cascade answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Small,
    Large,
}

/// How the cascade decided one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// The stage that answered.
    pub stage: Stage,
    /// The name of the model that answered.
    pub answered_by: String,
    /// Whether the small model deferred (`stage == Large`).
    pub deferred: bool,
    /// The rule, as `--defer` names it.
    pub rule: String,
    /// The small model's deferral score (+∞ for an empty answer).
    #[serde(serialize_with = "number_or_text")]
    pub deferral_score: f64,
    /// τ: the small model defers when its score exceeds it.
    #[serde(serialize_with = "number_or_text")]
    pub threshold: f64,
    /// The small model's text (the answer when it was kept; replaced when deferred).
    pub small_text: String,
}

/// A cascade's answer: the generation of the model that answered, how the cascade decided,
/// and when it deferred, the small model's answer that was replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeAnswer {
    pub generation: Generation,
    pub route: Route,
    /// The small model's answer when the cascade deferred (`None` when it is `generation`).
    pub replaced: Option<Generation>,
}

/// Where a [`Cascade`] leaves the route of its latest request, shared with whoever made it
/// (a command that needs to show which model answered after going through
/// [`Backend::generate`]). Cloning shares the log.
#[derive(Debug, Clone, Default)]
pub struct RouteLog(Arc<Mutex<Option<Route>>>);

impl RouteLog {
    /// Takes the latest route, leaving none.
    pub fn take(&self) -> Option<Route> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn set(&self, route: Route) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(route);
    }
}

/// A small model that defers to a large one (Language Model Cascades, METHODS §6).
///
/// [`Backend::generate`] runs the small model; when the deferral rule's score of its answer
/// exceeds τ, the large model answers the same request instead. [`Cascade::answer`] says which
/// model answered; through the `Backend` trait, [`Cascade::route_log`] keeps the latest route.
///
/// [`Backend::score`] follows the same route for a given response: the small model scores it
/// teacher-forced, and when the rule's score of those records exceeds τ, the large model
/// scores it instead, so the records are those of the model the cascade would have let write
/// that response. [`Backend::generate_n`] (samples) and [`Backend::next_token_logprobs`]
/// (reflexive prompts) keep the trait's defaults, built on those two: each sample and each
/// candidate is routed on its own.
pub struct Cascade {
    small: Box<dyn Backend>,
    large: Box<dyn Backend>,
    small_name: String,
    large_name: String,
    rule: DeferralRule,
    threshold: f64,
    log: RouteLog,
}

impl std::fmt::Debug for Cascade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cascade")
            .field("small", &self.small_name)
            .field("large", &self.large_name)
            .field("rule", &self.rule.to_string())
            .field("threshold", &self.threshold)
            .finish()
    }
}

impl Cascade {
    /// A cascade from `small` (named `small_name` in routes) to `large` that defers when
    /// `rule`'s score of the small model's answer exceeds `threshold`.
    ///
    /// # Errors
    /// [`CascadeError::BadParameter`] when τ is NaN.
    pub fn new(
        small: (Box<dyn Backend>, String),
        large: (Box<dyn Backend>, String),
        rule: DeferralRule,
        threshold: f64,
    ) -> Result<Cascade> {
        if threshold.is_nan() {
            return Err(CascadeError::BadParameter {
                name: "deferral threshold τ",
                value: "NaN".into(),
                allowed: "a number (−inf defers everything, inf nothing but empty answers)",
            });
        }
        Ok(Cascade {
            small: small.0,
            small_name: small.1,
            large: large.0,
            large_name: large.1,
            rule,
            threshold,
            log: RouteLog::default(),
        })
    }

    /// Leaves each route in `log` (shared with the caller) instead of a log of its own.
    pub fn with_route_log(mut self, log: RouteLog) -> Cascade {
        self.log = log;
        self
    }

    /// The log of the latest route.
    pub fn route_log(&self) -> &RouteLog {
        &self.log
    }

    pub fn rule(&self) -> &DeferralRule {
        &self.rule
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The names of the small and the large model.
    pub fn names(&self) -> (&str, &str) {
        (&self.small_name, &self.large_name)
    }

    /// Whether the rule defers an answer of these records.
    pub fn defers(&self, tokens: &[hedge_core::TokenRecord]) -> (bool, f64) {
        let s = self.rule.score(tokens);
        (s > self.threshold, s)
    }

    fn route(&self, deferred: bool, score: f64, small_text: &str) -> Route {
        let (stage, name) = if deferred {
            (Stage::Large, &self.large_name)
        } else {
            (Stage::Small, &self.small_name)
        };
        Route {
            stage,
            answered_by: name.clone(),
            deferred,
            rule: self.rule.to_string(),
            deferral_score: score,
            threshold: self.threshold,
            small_text: small_text.to_string(),
        }
    }

    /// Answers `req`: the small model first, the large one when the small one defers.
    ///
    /// # Errors
    /// As the models' [`Backend::generate`].
    pub fn answer(&self, req: &GenerationRequest) -> hedge_engine::Result<CascadeAnswer> {
        let small = self.small.generate(req)?;
        let (deferred, score) = self.defers(&small.tokens);
        let route = self.route(deferred, score, &small.text);
        let answer = if deferred {
            CascadeAnswer {
                generation: self.large.generate(req)?,
                route,
                replaced: Some(small),
            }
        } else {
            CascadeAnswer {
                generation: small,
                route,
                replaced: None,
            }
        };
        self.log.set(answer.route.clone());
        Ok(answer)
    }
}

impl Backend for Cascade {
    fn generate(&self, req: &GenerationRequest) -> hedge_engine::Result<Generation> {
        self.answer(req).map(|a| a.generation)
    }

    /// The small model's records of `req.response`, or the large model's when the rule's
    /// score of the small model's records exceeds τ.
    fn score(&self, req: &ScoreRequest) -> hedge_engine::Result<Generation> {
        let small = self.small.score(req)?;
        let (deferred, score) = self.defers(&small.tokens);
        let route = self.route(deferred, score, &small.text);
        let out = if deferred {
            self.large.score(req)?
        } else {
            small
        };
        self.log.set(route);
        Ok(out)
    }
}
