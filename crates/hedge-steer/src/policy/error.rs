//! [`PolicyError`]: what can go wrong fitting, reading or checking a policy.

use std::path::PathBuf;

/// Errors of [`policy`](crate::policy) and [`clarify`](crate::clarify); each names the value
/// at fault and what is allowed.
#[derive(thiserror::Error, Debug)]
pub enum PolicyError {
    /// A policy (or clarify) field with a value it cannot take.
    #[error("policy field `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },

    /// A fitting option out of range.
    #[error("{option} {value}: {reason}")]
    BadOption {
        /// The option as the command line names it (`--max-risk`).
        option: &'static str,
        value: String,
        reason: String,
    },

    /// No threshold meets the risk asked for on the calibration items.
    #[error(
        "no threshold keeps the error of the answered questions at most {max_risk} on these \
         {rows} items: the lowest error any threshold reaches is {best:.4} (answering the \
         {best_answered} most confident); raise the risk or use a better estimator"
    )]
    RiskUnreachable {
        max_risk: f64,
        rows: usize,
        best: f64,
        best_answered: usize,
    },

    /// The calibration map could not be fitted.
    #[error("fitting the calibration map: {0}")]
    Calibration(#[from] hedge_core::CoreError),

    /// A policy file that cannot be read, or is not a policy of a version hedge reads.
    #[error("policy file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
}

/// `Result` with [`PolicyError`].
pub type Result<T, E = PolicyError> = std::result::Result<T, E>;
