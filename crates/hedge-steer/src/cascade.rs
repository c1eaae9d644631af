//! Cascades (Language Model Cascades, Gupta et al. 2024; METHODS §6): a small model answers,
//! and defers to a large one when its deferral score exceeds τ.
//!
//! - [`RuleSpec`] / [`DeferralRule`]: Chow-Sum, Chow-Average, Chow-Quantile-α (hedge-core's
//!   `msp`, `perplexity`, `chow_quantile:α` of the small model's answer) and the post-hoc
//!   rule; every score is higher = defer;
//! - [`PostHoc`]: the post-hoc rule, a logistic regression on [quantiles of {p_t} at
//!   α = 0, 0.1, …, 1; Σ log p; mean log p; L] fitted on held-out answers of both models;
//! - [`Curve`]: accuracy against the fraction deferred over every τ, from both models'
//!   answers to each question;
//! - [`Cascade`]: the [`hedge_engine::Backend`] that runs it, saying which model answered.
//!
//! ```
//! use hedge_steer::cascade::{Curve, Outcome};
//!
//! // Three questions: the small model's deferral score, and whether each model was right.
//! let outcomes = [
//!     Outcome { score: 0.9, small: 0.0, large: 1.0 },
//!     Outcome { score: 0.2, small: 1.0, large: 1.0 },
//!     Outcome { score: 0.5, small: 0.0, large: 0.0 },
//! ];
//! let curve = Curve::new(&outcomes);
//! assert_eq!(curve.points[0].accuracy, curve.small_accuracy); // nothing deferred
//! // deferring the most uncertain question already matches the large model
//! let p = curve.within_of_large(0.0).unwrap();
//! assert_eq!((p.deferred, p.threshold), (1, 0.7));
//! ```

mod backend;
mod curve;
mod error;
mod posthoc;
mod rule;

pub use backend::{Cascade, CascadeAnswer, Route, RouteLog, Stage};
pub use curve::{Curve, CurvePoint, Outcome};
pub use error::{CascadeError, Result};
pub use posthoc::{
    feature_names, features, DeferLabel, Example, PostHoc, FEATURES, QUANTILE_LEVELS,
};
pub use rule::{DeferralRule, RuleSpec};
