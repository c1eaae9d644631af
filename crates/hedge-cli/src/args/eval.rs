//! Flags of the evaluation commands: `eval`, `metrics`, `calibrate` and `bench metrics`.

use std::path::PathBuf;

use clap::Args;
use hedge_core::{CalibrationKind, Match};

use super::{EstimatorArgs, ModelArgs};

pub const EVAL_HELP: &str = "Run every item of a JSONL question set through the model with \
greedy decoding, judge each answer against its gold answers, score it with the estimators, and \
measure how well each estimator predicts the wrong answers.\n\n\
Each data line is {\"id\": …, \"question\": \"…\", \"answers\": [\"…\", …]}; other fields are kept \
in items.jsonl. --split S keeps only the items whose \"split\" field is S.\n\n\
Writes into DIR:\n  \
items.jsonl   per item: its fields, \"response\", \"correct\" (0/1), \"scores\", …\n  \
summary.json  every metric of every estimator, sorted by PRR (as `hedge metrics`)\n  \
report.html   the table and per estimator three plots; one file, no network\n  \
run.json      the settings that decide the answers, checked when resuming\n\n\
With --match rouge_l an item also gets \"quality\" (in [0, 1]) and \"correct\" is quality ≥ 0.5.\n\n\
Each item also keeps what its scores were computed from: the answer's \"tokens\" (per-step \
records) and, when sampling-based or reflexive estimators run (-e all,sampling,reflexive), \
\"samples\" (text, token_logprobs, logprob), the \"similarity\" matrix (and \"nli\" \
probabilities), SAR relevances and \"reflexive\" answers. `hedge rescore` recomputes any score \
from them without the model. --samples, --similarity, --sample-temperature and --seed decide \
the samples, with the progress bar showing each item's stage.\n\n\
Resumable: run it again with the same DIR and it skips the ids already in items.jsonl and \
appends the others (it refuses when run.json's settings differ). A bad data line, or an item the \
model cannot run (a prompt longer than the context), is reported as FILE:LINE: reason and \
skipped; the exit code is then 1.\n\n\
Examples:\n  \
hedge eval --model ./SmolLM2-135M-Instruct --data qa.jsonl --out runs/smol\n  \
hedge eval -m ./base --data qa.jsonl --out b --no-chat --template 'Q: {question}\\nA:' --stop '\\n'\n  \
hedge eval -m ./m --data qa.jsonl --split test --calibration calib.json --out runs/test\n  \
hedge eval -m ./m --data qa.jsonl --out runs/all -e all,sampling,reflexive --samples 10";

pub const METRICS_HELP: &str = "Compute every evaluation metric of METHODS §5 (PRR, PRR@50, \
AUROC, AUPRC, AURC, AUARC, ECE, MCE, Brier, NLL, with bootstrap intervals for PRR and AUROC) for \
every estimator of a scored JSONL file, print a table sorted by PRR, and with --out write \
DIR/summary.json and DIR/report.html. No model needed: the scores may come from any system.\n\n\
Each line is {\"scores\": {\"NAME\": u, …}, \"correct\": 0|1|true|false} or {\"scores\": {…}, \
\"quality\": q} with q in [0, 1] (\"quality\" wins when both are given; correct = quality ≥ 0.5). \
Other fields are ignored. A null or missing score leaves that answer out of that estimator's \
metrics. Scores are uncertainties: higher = less sure (negate a confidence).\n\n\
A bad line is reported as FILE:LINE: reason on stderr and skipped; the others still count, and \
the exit code is 1.\n\n\
The confidence κ of ECE, MCE, Brier, NLL and the reliability diagram is each estimator's map in \
--calibration FILE (from `hedge calibrate` on another split); an estimator without one gets a \
Platt map fitted on these same answers, labelled \"Platt, in-sample\" (optimistic).\n\n\
Examples:\n  \
hedge metrics --input scored.jsonl\n  \
hedge metrics --input runs/test/items.jsonl --calibration calib.json --out runs/test-cal\n  \
hedge metrics --input scored.jsonl --bootstrap 0 --json";

pub const CALIBRATE_HELP: &str = "Fit a map from each estimator's uncertainty u to a \
confidence κ in [0, 1] on a scored JSONL file (an items.jsonl of `hedge eval`, or the format of \
`hedge metrics`) and save the maps as JSON, for --calibration FILE of `hedge eval` and `hedge \
metrics`. Fit on one split, report on another.\n\n\
Methods: platt (κ = σ(a·u + b), logistic regression), isotonic (pool-adjacent-violators, \
non-increasing in u), temperature (κ = σ(−u/T)).\n\n\
Examples:\n  \
hedge eval -m ./m --data qa.jsonl --split calib --out runs/calib\n  \
hedge calibrate --input runs/calib/items.jsonl --method isotonic --out calib.json\n  \
hedge metrics --input runs/test/items.jsonl --calibration calib.json";

/// How the metrics are summarised.
#[derive(Args, Debug, Clone)]
pub struct SummaryArgs {
    /// Bootstrap resamples for the 95 % intervals of PRR and AUROC; 0 turns them off.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,
    /// Seed of the bootstrap (and in `hedge eval`, of the samples drawn by the sampling-based
    /// estimators): the same seed gives the same intervals and samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Bins of ECE, MCE and the reliability diagram.
    #[arg(long, default_value_t = 10, value_name = "B")]
    pub bins: usize,
    /// Calibration maps from `hedge calibrate`: κ for the calibration metrics of each
    /// estimator it has a map for (the others: Platt fitted in-sample).
    #[arg(long, value_name = "FILE.json")]
    pub calibration: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The question set: JSONL of {"id", "question", "answers": [...]}.
    #[arg(long, value_name = "D.jsonl")]
    pub data: PathBuf,
    /// Output folder (created if missing; an existing items.jsonl is resumed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Keep only items whose "split" field equals S.
    #[arg(long, value_name = "S")]
    pub split: Option<String>,
    /// Run at most the first N items (after --split), counting those already done.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// How an answer is judged against the gold answers: exact (SQuAD-normalised), contains
    /// (a gold appears in the answer), rouge_l (a quality in [0, 1]), numeric.
    #[arg(long = "match", default_value = "contains", value_name = "METHOD")]
    pub judge: Match,
    /// Stop after this many new tokens.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// Stop when the answer contains this string (repeatable; `\n` means a newline).
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// The prompt: {question} is replaced by the item's question (`\n` means a newline).
    #[arg(long, default_value = "{question}")]
    pub template: String,
    /// Render prompts with the model's chat template (the default when it has one).
    #[arg(long, overrides_with = "no_chat")]
    pub chat: bool,
    /// Give prompts to the model as plain text, even when it has a chat template.
    #[arg(long, overrides_with = "chat")]
    pub no_chat: bool,
    #[command(flatten)]
    pub estimators: EstimatorArgs,
    #[command(flatten)]
    pub summary: SummaryArgs,
    #[command(flatten)]
    pub steer: super::SteerArgs,
}

#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// Scored JSONL: {"scores": {name: u}, "correct": 0/1} or {..., "quality": q} per line.
    #[arg(long, short = 'i', value_name = "FILE.jsonl")]
    pub input: PathBuf,
    /// Also write DIR/summary.json and DIR/report.html (DIR is created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print summary.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Scored JSONL to fit on (e.g. the items.jsonl of a calibration split).
    #[arg(long, short = 'i', value_name = "FILE.jsonl")]
    pub input: PathBuf,
    /// platt, isotonic or temperature.
    #[arg(long, default_value = "platt")]
    pub method: CalibrationKind,
    /// Comma-separated estimators to fit a map for (default: every estimator in the file).
    #[arg(long, alias = "estimator", value_name = "LIST")]
    pub estimators: Option<String>,
    /// Where to write the maps (JSON).
    #[arg(long, value_name = "FILE.json")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct BenchMetricsArgs {
    /// Rows of the larger run; the smaller has a tenth of them.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Estimators (score columns) per row.
    #[arg(long, default_value_t = 10)]
    pub estimators: usize,
    /// Timed runs of each size; the best is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Seed of the synthetic scores.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}
