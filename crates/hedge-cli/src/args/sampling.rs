//! Flags of the sampling-based estimators, shared by `generate`, `ask`, `score` and `eval`, and
//! of `hedge bench sampling` and `hedge rescore`.

use std::path::PathBuf;

use clap::Args;
use hedge_core::SimilarityKind;

use super::{ModelArgs, SummaryArgs};

/// How the sampling-based estimators draw and compare their samples.
#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// How many answers the sampling-based estimators draw (one prefill, forked N ways).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub samples: usize,
    /// How the samples are compared: jaccard, rouge_l (no model needed), embedding (a sentence
    /// encoder), nli (an NLI cross-encoder on question + sample pairs).
    #[arg(long, default_value = "rouge_l", value_name = "NAME")]
    pub similarity: SimilarityKind,
    /// The model of --similarity embedding or nli: a folder, or hf:ORG/NAME (default
    /// hf:sentence-transformers/all-MiniLM-L6-v2 for embedding,
    /// hf:cross-encoder/nli-distilroberta-base for nli). Offline, pass a folder, e.g.
    /// target/models/all-MiniLM-L6-v2 as installed by scripts/install-test-models.
    #[arg(long, value_name = "DIR|hf:ORG/NAME")]
    pub similarity_model: Option<String>,
    /// Temperature of the samples (1: the model's own distribution).
    #[arg(long, default_value_t = 1.0, value_name = "T")]
    pub sample_temperature: f64,
}

pub const RESCORE_HELP: &str = "Recompute every score of a `hedge eval` run from what its \
items.jsonl kept — each answer's token records, its samples (text, token log-probabilities, \
sequence log-probability), their similarity matrix, NLI probabilities, SAR relevances and \
reflexive answers — without loading the model. Use it to add estimators that read the same \
evidence, or to change their parameters (e.g. num_sets:0.7).\n\n\
An estimator whose evidence the run did not gather (eigv on a run without samples) is NaN, and \
named on standard error. Writes DIR/items.jsonl (the same lines with the new \"scores\"), \
DIR/summary.json and DIR/report.html with --out, and prints the table.\n\n\
Examples:\n  \
hedge eval -m ./m --data qa.jsonl --out runs/a -e all,sampling --samples 10\n  \
hedge rescore --input runs/a --estimators sampling,num_sets:0.7 --out runs/a-rescored";

#[derive(Args, Debug)]
pub struct RescoreArgs {
    /// A `hedge eval` output folder, or its items.jsonl.
    #[arg(long, short = 'i', value_name = "DIR|items.jsonl")]
    pub input: PathBuf,
    /// Comma-separated estimators to compute (names and groups as in `hedge eval`).
    #[arg(long, short = 'e', default_value = "all", value_name = "LIST")]
    pub estimators: String,
    /// Also write DIR/items.jsonl, DIR/summary.json and DIR/report.html.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub summary: SummaryArgs,
}

#[derive(Args, Debug)]
pub struct BenchSamplingArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Samples per run.
    #[arg(long, short = 'n', default_value_t = 10)]
    pub samples: usize,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 64)]
    pub prompt_tokens: usize,
    /// Tokens decoded per sample (end-of-sequence ignored, so every variant decodes as many).
    #[arg(long, default_value_t = 32)]
    pub tokens: usize,
    /// Runs of each variant, interleaved; the best of each is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}
