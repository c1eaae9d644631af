//! What can go wrong in a cascade: a rule name, a parameter, a fit, or one of the models.

use hedge_core::CoreError;
use hedge_engine::EngineError;

/// Errors of [`crate::cascade`]; each names the offending value and what is allowed.
#[derive(thiserror::Error, Debug)]
pub enum CascadeError {
    /// A deferral rule hedge does not know.
    #[error(
        "unknown deferral rule `{0}`; known rules: chow_sum, chow_average, \
         chow_quantile:<α in [0, 1]>, posthoc"
    )]
    UnknownRule(String),

    /// A parameter out of its range (α, τ, λ).
    #[error("{name} {value}: {allowed}")]
    BadParameter {
        /// The parameter, e.g. `chow_quantile α`.
        name: &'static str,
        /// The value as given.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },

    /// The post-hoc rule was asked for without a fitted model.
    #[error(
        "the posthoc rule needs a fitted model: fit it on held-out answers of both models \
         (PostHoc::fit; on the command line --defer-fit, a `hedge eval --cascade` run on calib)"
    )]
    NotFitted,

    /// Too few usable examples to fit on.
    #[error("cannot fit the posthoc rule: {0}")]
    Fit(String),

    /// hedge-core refused the data (the logistic regression).
    #[error(transparent)]
    Core(#[from] CoreError),

    /// One of the models failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// `Result` with [`CascadeError`].
pub type Result<T> = std::result::Result<T, CascadeError>;
