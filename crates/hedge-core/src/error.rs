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

    /// A judging method (`--match`) that hedge does not know.
    #[error("unknown match method `{name}`; known methods: {known}")]
    UnknownMatch {
        /// The name as the user wrote it.
        name: String,
        /// The known names, comma separated.
        known: String,
    },

    /// A calibration method that hedge does not know.
    #[error("unknown calibration method `{name}`; known methods: {known}")]
    UnknownCalibration {
        /// The name as the user wrote it.
        name: String,
        /// The known names, comma separated.
        known: String,
    },

    /// Two inputs of one operation that should have one entry per item but differ in length.
    #[error("{op}: {left_name} has {left} entries but {right_name} has {right}")]
    LengthMismatch {
        /// The operation, e.g. `metric summary` or `platt fit`.
        op: &'static str,
        /// What the first input holds.
        left_name: &'static str,
        /// Its length.
        left: usize,
        /// What the second input holds.
        right_name: &'static str,
        /// Its length.
        right: usize,
    },

    /// Data a calibration map cannot be fitted on or built from.
    #[error("cannot build {method} calibration: {reason}")]
    BadCalibration {
        /// `platt`, `isotonic` or `temperature`.
        method: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// A matrix that is not square, does not match the number of samples, or holds a value
    /// it may not (a similarity matrix or an NLI probability matrix).
    #[error("{op}: {reason}")]
    BadMatrix {
        /// What was being built, e.g. `similarity matrix`.
        op: &'static str,
        /// What is wrong, naming the row or entry.
        reason: String,
    },

    /// A similarity backend (`--similarity`) that hedge does not know.
    #[error("unknown similarity backend `{name}`; known backends: {known}")]
    UnknownSimilarity {
        /// The name as the user wrote it.
        name: String,
        /// The known names, comma separated.
        known: String,
    },

    /// A similarity backend that could not compute its matrix (a model that failed to run).
    /// Backends outside hedge-core report their own errors through this variant.
    #[error("similarity backend `{backend}` failed: {reason}")]
    Similarity {
        /// The backend, e.g. `nli`.
        backend: String,
        /// What went wrong.
        reason: String,
    },
}

/// `Result` with [`CoreError`].
pub type Result<T> = std::result::Result<T, CoreError>;
