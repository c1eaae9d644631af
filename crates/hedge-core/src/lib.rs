//! hedge's math: per-step token statistics, uncertainty estimators and their scores,
//! similarity graphs of sampled answers, evaluation metrics. No I/O, no candle: it builds in
//! seconds and tests in milliseconds.
//!
//! - [`stats`]: the statistics of one decoding step (logprob, entropy, margin, kurtosis,
//!   top-k), computed once from the logits (METHODS §1).
//! - [`token`]: [`TokenRecord`], what the engine keeps of each step.
//! - [`estimators`]: the [`Estimator`] trait, the [`Evidence`] it reads, and the estimators
//!   of METHODS §2–4 — white-box, sampling-based, reflexive — named by [`EstimatorSpec`]
//!   (`msp`, `chow_quantile:0.1`, `semantic_entropy`, `sar`, `p_true`, …).
//! - [`similarity`]: the similarity matrix W of sampled answers, the [`Similarity`] backends
//!   (`jaccard`, `rouge_l` here; `embedding`, `nli` in hedge-engine), NLI probabilities and
//!   semantic sets.
//! - [`prompts`]: the texts of the reflexive prompts and the verbalized-confidence parser.
//! - [`scores`]: [`Scores`], estimator name → uncertainty, in order.
//! - [`metrics`]: the evaluation metrics of METHODS §5 (`auroc`, `prr`, `ece`, …), seeded
//!   bootstrap intervals, and [`MetricSet`], all of them for one estimator.
//! - [`judge`]: whether an answer is right ([`Match`]: exact, contains, rouge_l, numeric).
//! - [`calibration`]: maps from uncertainty to confidence ([`Calibration`]: Platt,
//!   isotonic, temperature), fitted on one split and saved as JSON.
//! - [`logistic`]: multivariate logistic regression (Newton, L2, standardised features),
//!   as the post-hoc deferral rule of cascades uses.
//!
//! Every estimator returns an **uncertainty**: higher = less sure.
//!
//! ```
//! use hedge_core::{score_all, EstimatorSpec, StatsScratch, StepStats, TokenRecord};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Two decoding steps over a vocabulary of 4 tokens, and the token chosen at each.
//! let steps: [(&[f32], u32); 2] = [(&[2.0, 0.5, 0.1, -1.0], 0), (&[0.0, 0.0, 0.0, 0.0], 3)];
//! let mut scratch = StatsScratch::new(); // reused from step to step
//! let mut tokens = Vec::new();
//! for (logits, chosen) in steps {
//!     let stats = StepStats::compute_with(&mut scratch, logits, chosen, 2)?;
//!     // The engine passes real token texts; this example has no tokenizer.
//!     tokens.push(TokenRecord::from_stats(chosen, String::new(), stats, |_| String::new()));
//! }
//! // The second step is uniform over 4 tokens: p = 1/4, entropy ln 4.
//! assert!((tokens[1].logprob - 0.25f64.ln()).abs() < 1e-12);
//! assert!((tokens[1].entropy - 4f64.ln()).abs() < 1e-12);
//!
//! let specs = EstimatorSpec::parse_list("msp,perplexity,chow_quantile:0.1")?;
//! let scores = score_all(&specs, &tokens);
//! let msp = -(tokens[0].logprob + tokens[1].logprob);
//! assert_eq!(scores.get("msp"), Some(msp));
//! let json = serde_json::to_string(&scores)?;
//! assert!(json.starts_with(r#"{"msp":"#) && json.contains(r#""chow_quantile:0.1":"#));
//! # Ok(())
//! # }
//! ```

pub mod calibration;
pub mod error;
pub mod estimators;
pub mod judge;
pub mod logistic;
pub mod metrics;
pub mod prompts;
pub mod scores;
pub mod similarity;
pub mod stats;
pub mod token;
pub mod vexp;

pub use calibration::{Calibration, CalibrationKind, Isotonic, Platt, Temperature};
pub use error::{CoreError, Result};
pub use estimators::{
    score_all, score_with, Estimator, EstimatorSpec, Evidence, Need, Reflexive, Sample,
};
pub use judge::Match;
pub use metrics::{Interval, MetricSet, SummaryOptions};
pub use scores::Scores;
pub use similarity::{Clusters, NliProbs, Similarity, SimilarityKind, SimilarityMatrix};
pub use stats::{RowStats, StatsScratch, StepStats};
pub use token::{TokenRecord, TopToken};
