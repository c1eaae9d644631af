//! The one error type of hedge-core; every variant names the offending value.

/// Everything that can go wrong in hedge-core's math.
///
/// Each variant names the operation and the value that caused it, so that a message
/// printed by the binary tells the user what to change.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum CoreError {
    /// An estimator name that hedge does not know.
    #[error("unknown estimator `{name}`; known estimators: {known}")]
    UnknownEstimator {
        /// The name as the user wrote it.
        name: String,
        /// The known names, comma separated.
        known: String,
    },

    /// A parameter that an estimator cannot take (not a number, out of range, or a
    /// parameter given to an estimator that takes none).
    #[error("bad parameter `{value}` for estimator `{estimator}`: {reason}")]
    BadParameter {
        /// The estimator the parameter was given to.
        estimator: String,
        /// The parameter as written.
        value: String,
        /// What is allowed.
        reason: String,
    },

    /// An empty estimator list, such as `--estimators ""`.
    #[error("empty estimator list; give comma-separated names such as `msp,perplexity`, or `all`")]
    EmptyEstimatorList,

    /// A token id that does not index the logits row.
    #[error("token id {id} is out of range for a logits row of {vocab} entries")]
    TokenOutOfRange {
        /// The token id.
        id: u32,
        /// The length of the logits row.
        vocab: usize,
    },

    /// A NaN or +inf logit (−inf is allowed: it is a masked token with probability 0).
    #[error("logit at index {index} is {value}; logits must be finite or -inf")]
    BadLogit {
        /// Position in the logits row.
        index: usize,
        /// The value found there.
        value: f32,
    },

    /// A logits row with no finite entry (empty, or all −inf): no distribution.
    #[error("logits row of {vocab} entries has no finite logit, so it is not a distribution")]
    EmptyDistribution {
        /// The length of the logits row.
        vocab: usize,
    },
}

/// `Result` with [`CoreError`].
pub type Result<T> = std::result::Result<T, CoreError>;
