//! Flags of --cascade SMALL,LARGE and its deferral rule.

use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use hedge_steer::cascade::{DeferLabel, RouteLog, RuleSpec};

/// A cascade: a small model that defers to a large one (Language Model Cascades).
#[derive(Args, Debug, Clone)]
pub struct CascadeArgs {
    /// Answer with a cascade: SMALL answers, and defers to LARGE when its deferral score
    /// (--defer) exceeds τ; --model is then not needed.
    ///
    /// SMALL and LARGE are models as --model takes them (folders, hf:ORG/NAME,
    /// openai:URL#MODEL). τ is --defer-threshold, or chosen by --defer-fit on a `hedge eval
    /// --cascade` run of held-out questions. `hedge ask` and `hedge generate` show which model
    /// answered and why (the score and τ; "cascade" in --json). In `hedge eval`, both models
    /// answer every question once, and the report gives accuracy against the fraction
    /// deferred over every τ (a table, a curve in report.html, and the smallest deferral
    /// within --defer-within of the large model's accuracy), for --defer and for each other
    /// rule; τ is not needed there.
    ///
    /// The post-hoc rule is fitted on held-out answers (the calib split), then used on others:
    ///
    ///   hedge eval --cascade S,L --data d.jsonl --split calib --out runs/cascade-calib
    ///   hedge eval --cascade S,L --defer posthoc --defer-fit runs/cascade-calib --data d.jsonl --split test --out runs/cascade-test
    ///   hedge ask --cascade S,L --defer posthoc --defer-fit runs/cascade-calib "What is 27 plus 58?"
    ///
    /// With --defer-fit and no --defer-threshold, every rule gets its τ from the calib run,
    /// so the same two lines work for chow_sum, chow_average and chow_quantile:α.
    #[arg(
        id = "cascade",
        long = "cascade",
        value_name = "SMALL,LARGE",
        verbatim_doc_comment
    )]
    pub models: Option<CascadePair>,
    /// The deferral rule, a score of the small model's answer (higher = defer).
    ///
    /// chow_sum: −Σ log p_t (msp); chow_average: −(1/L) Σ log p_t (perplexity);
    /// chow_quantile:α: −quantile_α of the token probabilities p_t, α in [0, 1] (0: the least
    /// likely token); posthoc: P(deferring gains an answer) from a logistic regression on the
    /// quantiles of p_t at α = 0, 0.1, …, 1, Σ log p, mean log p and L, fitted by --defer-fit
    /// (in `hedge eval` without it: fitted on the run itself, in-sample). An answer with no
    /// token always defers.
    #[arg(
        long,
        value_name = "RULE",
        default_value = "chow_sum",
        value_parser = parse_rule,
        requires = "cascade"
    )]
    pub defer: RuleSpec,
    /// τ: the small model defers when its deferral score exceeds it (scores are on each
    /// rule's own scale: chow_quantile's are in [−1, 0], posthoc's in [0, 1]).
    #[arg(
        long = "defer-threshold",
        value_name = "τ",
        allow_hyphen_values = true,
        value_parser = parse_threshold,
        requires = "cascade"
    )]
    pub threshold: Option<f64>,
    /// A `hedge eval --cascade` run on held-out questions (its folder or items.jsonl): posthoc
    /// is fitted on it, and without --defer-threshold τ is chosen there, as the smallest
    /// deferral that comes within --defer-within of the large model's accuracy.
    #[arg(
        long = "defer-fit",
        value_name = "DIR|items.jsonl",
        requires = "cascade"
    )]
    pub fit: Option<PathBuf>,
    /// What posthoc learns to predict: gain (the large model is right where the small one is
    /// wrong: deferring gains an answer) or small_wrong (the small model is wrong).
    #[arg(
        long = "defer-label",
        value_name = "LABEL",
        default_value = "gain",
        value_parser = parse_label,
        requires = "cascade"
    )]
    pub label: DeferLabel,
    /// How far below the large model's accuracy the τ chosen by --defer-fit may leave the
    /// cascade on the held-out run (0.01: within 1 point); also the target of the "within"
    /// line of `hedge eval`.
    #[arg(
        long = "defer-within",
        value_name = "GAP",
        default_value_t = 0.01,
        value_parser = parse_gap,
        requires = "cascade"
    )]
    pub within: f64,
    /// Where the cascade leaves the route of its latest answer, for the command to show.
    #[arg(skip)]
    pub route: RouteLog,
}

impl Default for CascadeArgs {
    fn default() -> Self {
        CascadeArgs {
            models: None,
            defer: RuleSpec::ChowSum,
            threshold: None,
            fit: None,
            label: DeferLabel::Gain,
            within: 0.01,
            route: RouteLog::default(),
        }
    }
}

/// `--cascade SMALL,LARGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CascadePair {
    pub small: String,
    pub large: String,
}

impl FromStr for CascadePair {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(',') {
            Some((small, large))
                if !small.trim().is_empty() && !large.trim().is_empty() && !large.contains(',') =>
            {
                Ok(CascadePair {
                    small: small.trim().to_string(),
                    large: large.trim().to_string(),
                })
            }
            _ => Err(format!(
                "`{s}`: give two models separated by a comma, SMALL,LARGE (e.g. \
                 models/lab/lab-s-chat,models/lab/lab-l-chat)"
            )),
        }
    }
}

fn parse_rule(s: &str) -> Result<RuleSpec, String> {
    s.parse()
        .map_err(|e: hedge_steer::cascade::CascadeError| e.to_string())
}

fn parse_label(s: &str) -> Result<DeferLabel, String> {
    s.parse()
        .map_err(|e: hedge_steer::cascade::CascadeError| e.to_string())
}

fn parse_threshold(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if !t.is_nan() => Ok(t),
        _ => Err(format!(
            "`{s}`: τ must be a number (inf keeps every non-empty answer, -inf defers all)"
        )),
    }
}

fn parse_gap(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(g) if (0.0..=1.0).contains(&g) => Ok(g),
        _ => Err(format!(
            "`{s}`: the gap is an accuracy difference in [0, 1] (0.01: 1 point)"
        )),
    }
}

/// `--model` of a command that takes `--cascade` (generate, eval): not needed with
/// `--cascade`, refused beside it. Its value is then empty (the default no one sees).
pub fn model_unless_cascade(model: clap::Arg) -> clap::Arg {
    model
        .required(false)
        .default_value("")
        .hide_default_value(true)
        .required_unless_present("cascade")
        .conflicts_with("cascade")
}
