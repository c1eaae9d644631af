//! Flags of the answer / hedge / abstain / clarify policy: `--policy` on `ask`, `generate` and
//! `eval`, and the `hedge policy fit` / `hedge policy apply` subcommands.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hedge_core::{CalibrationKind, Match, SimilarityKind};

/// Which policy decides what to do with an answer.
#[derive(Args, Debug, Clone, Default)]
pub struct PolicyArgs {
    /// Act on the answer's uncertainty with a policy file of `hedge policy fit`: answer, hedge
    /// ("I'm not sure, but …"), abstain ("I don't know.") or ask a clarifying question, shown
    /// with the score, κ and thresholds that decided it ("decision" in --json and in eval's
    /// items.jsonl; honesty and the actions per category in eval's summary). A policy that
    /// clarifies draws its own samples: its sample count, temperature and similarity replace
    /// --samples, --sample-temperature and --similarity. `hedge ask` uses the model folder's
    /// policy.json when there is one and this flag is not given.
    #[arg(long, value_name = "FILE.json", conflicts_with = "no_policy")]
    pub policy: Option<PathBuf>,
    /// `hedge ask`: do not use the model folder's policy.json; show the bare answer.
    #[arg(long)]
    pub no_policy: bool,
}

pub const POLICY_FIT_HELP: &str = "Fit an answer / hedge / abstain / clarify policy on \
the items of a calibration split (the items.jsonl of `hedge eval`, or any scored JSONL with \
\"scores\" and \"correct\"), and save it as a versioned JSON file for --policy (`hedge ask`, \
`generate`, `eval`) or as policy.json in a model's folder, which `hedge ask` then uses by \
itself.\n\n\
The rule, exactly. The policy reads the uncertainty u of --estimator and maps it to a \
confidence κ = map(u), the --calibration map fitted on the items (u, correct). Then, with the \
items sorted by κ (equal κ together):\n  \
τ_lo = the lowest threshold such that the items with κ ≥ τ_lo (answered, plainly or hedged) \
are wrong at most --max-risk of the time: as many answered items as that risk allows;\n  \
τ_hi = the same with --max-risk-unhedged (default: half of --max-risk) for the plain answers.\n\
Each threshold lies halfway between the lowest κ it keeps and the next one. At use: κ ≥ τ_hi \
answer; τ_lo ≤ κ < τ_hi hedge (\"I'm not sure, but …\"); κ < τ_lo abstain (\"I don't know.\"); \
and, when κ ≥ τ_lo (or always with --clarify-first), clarify when the answer's --samples \
samples fall into ≥ 2 semantic clusters (W_ij ≥ --cluster-threshold, or the NLI rule) each \
holding a share ≥ --mu of them: the reply asks which of their most probable answers was meant.\n\n\
The file keeps the estimator, the map, τ_lo, τ_hi, the clarify settings and what the fit saw \
on the calibration items (coverage, risk, and, when the items carry samples, the whole policy \
applied to them: honesty and the actions per category).\n\n\
Examples:\n  \
hedge eval -m models/lab/lab-l-chat --data data/lab/calib.jsonl --split calib --out runs/calib \
-e all,num_sets:0.9\n  \
hedge policy fit --input runs/calib --estimator msp --max-risk 0.1 --cluster-threshold 0.9 \
--out models/lab/lab-l-chat/policy.json\n  \
hedge policy fit --input scored.jsonl --estimator perplexity --max-risk 0.05 --no-clarify \
--out p.json";

pub const POLICY_APPLY_HELP: &str = "Apply a policy file to the items of a `hedge eval` run \
without the model, and print what it does: the share of each action per category, coverage \
and risk of the answered questions, over_conservativeness, prudence and honesty (known = the \
model's answer is right; idk = the policy abstains), and how many clarifying questions name \
two right answers. Clarify needs the samples and their similarity matrix in the items (run \
eval with a sampling-based estimator, e.g. -e all,num_sets:0.9).\n\n\
Examples:\n  \
hedge policy apply --input runs/test --policy models/lab/lab-l-chat/policy.json\n  \
hedge policy apply --input runs/test/items.jsonl --policy p.json --json";

#[derive(Args, Debug)]
pub struct PolicyCommandArgs {
    #[command(subcommand)]
    pub which: PolicyCommand,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Fit a policy's calibration map and thresholds on calibration items to a stated risk.
    #[command(long_about = POLICY_FIT_HELP)]
    Fit(PolicyFitArgs),
    /// Apply a policy to the items of an eval run: actions per category, honesty, risk.
    #[command(long_about = POLICY_APPLY_HELP)]
    Apply(PolicyApplyArgs),
}

#[derive(Args, Debug)]
pub struct PolicyFitArgs {
    /// The calibration items: a `hedge eval` folder or its items.jsonl (any JSONL with
    /// "scores" and "correct" or "quality").
    #[arg(long, short = 'i', value_name = "DIR|FILE.jsonl")]
    pub input: PathBuf,
    /// The estimator the policy reads (its scores must be in the items).
    #[arg(long, default_value = "msp", value_name = "NAME")]
    pub estimator: String,
    /// The map from uncertainty to confidence κ: platt, isotonic or temperature.
    #[arg(long, default_value = "platt", value_name = "METHOD")]
    pub calibration: CalibrationKind,
    /// The highest error rate allowed among answered questions (plain or hedged) on the
    /// calibration items: sets τ_lo, answering as many as it allows (0.1: at most 10 % wrong).
    #[arg(long, value_name = "R")]
    pub max_risk: f64,
    /// The highest error rate allowed among the questions answered without a hedge: sets
    /// τ_hi (default: half of --max-risk).
    #[arg(long, value_name = "R")]
    pub max_risk_unhedged: Option<f64>,
    /// Never ask a clarifying question (and draw no samples at use).
    #[arg(long)]
    pub no_clarify: bool,
    /// Clarify when at least two semantic clusters each hold this share of the samples.
    #[arg(long, default_value_t = hedge_steer::clarify::DEFAULT_MU, value_name = "MU")]
    pub mu: f64,
    /// Samples drawn at use to find the clusters.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub samples: usize,
    /// Their temperature.
    #[arg(long, default_value_t = 1.0, value_name = "T")]
    pub sample_temperature: f64,
    /// How they are compared: jaccard, rouge_l, embedding, nli.
    #[arg(long, default_value = "rouge_l", value_name = "NAME")]
    pub similarity: SimilarityKind,
    /// τ: two samples are one answer when W_ij ≥ τ (backends other than nli). Short answers
    /// in a fixed sentence differ in one word of about seven, so they need τ near 0.9.
    #[arg(long, default_value_t = 0.5, value_name = "TAU")]
    pub cluster_threshold: f64,
    /// Clarify even when κ < τ_lo (by default an answer the policy abstains on is never
    /// turned into a clarifying question).
    #[arg(long)]
    pub clarify_first: bool,
    /// How the clarifying questions' answers are judged against the items' golds in the
    /// calibration numbers: exact, contains, rouge_l, numeric.
    #[arg(long = "match", default_value = "contains", value_name = "METHOD")]
    pub judge: Match,
    /// Where to write the policy (e.g. MODEL/policy.json).
    #[arg(long, value_name = "FILE.json")]
    pub out: PathBuf,
    /// Print the policy file's JSON instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PolicyApplyArgs {
    /// A `hedge eval` folder or its items.jsonl.
    #[arg(long, short = 'i', value_name = "DIR|FILE.jsonl")]
    pub input: PathBuf,
    /// The policy file.
    #[arg(long, value_name = "FILE.json")]
    pub policy: PathBuf,
    /// How the clarifying questions' answers are judged against the golds.
    #[arg(long = "match", default_value = "contains", value_name = "METHOD")]
    pub judge: Match,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}
