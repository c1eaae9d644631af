//! The command line: every subcommand and flag, with the help text that teaches it.

mod cascade;
mod eval;
mod nudge;
mod policy;
mod reward;
mod sampling;
mod speculative;
mod steer;

use clap::{Args, Parser, Subcommand};

pub use cascade::CascadeArgs;
pub use eval::{
    BenchMetricsArgs, CalibrateArgs, EvalArgs, MetricsArgs, SummaryArgs, CALIBRATE_HELP, EVAL_HELP,
    METRICS_HELP,
};
pub use nudge::NudgeArgs;
pub use policy::{PolicyApplyArgs, PolicyArgs, PolicyCommand, PolicyCommandArgs, PolicyFitArgs};
pub use reward::{BenchGuide, BenchRewardArgs, GuideKind, GuideParams, RewardArgs};
pub use sampling::{BenchSamplingArgs, RescoreArgs, SamplingArgs, RESCORE_HELP};
pub use speculative::BenchSpeculativeArgs;
pub use steer::SteerArgs;

#[derive(Parser, Debug)]
#[command(
    name = "hedge",
    version,
    about = "Measure what a language model does not know, token by token.",
    long_about = "hedge runs a language model, keeps the next-token distribution of every step, and \
turns it into uncertainty scores from the research literature (higher = less sure).\n\n\
Models are Hugging Face llama-family folders (Llama, Qwen2, Mistral, SmolLM) with config.json, \
model.safetensors and tokenizer.json, or hf:ORG/NAME[@REVISION] to download one, or \
openai:URL#MODEL for an OpenAI-compatible server (vLLM, llama.cpp, hosted APIs)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Ask a question: the bundled lab model (or --model) answers, each token coloured by its
    /// confidence, with the uncertainty table.
    #[command(
        long_about = "Ask a question. With no --model, hedge answers with its bundled lab \
model (models/lab/lab-l-chat: a small model trained on hedge's synthetic lab world, so no \
download is needed), through the model's chat template, greedily. Each token is coloured by its \
probability on a terminal, then the white-box uncertainty estimators are printed (higher = less \
sure).\n\n\
With -e sampling (or reflexive), the model also answers --samples more times from one \
prefill, and the sampling-based estimators compare those answers.\n\n\
Examples:\n  hedge ask \"What is 27 plus 58?\"\n  hedge ask --json \"Where does Velmora Quist live?\"\n  \
hedge ask -e msp,semantic_entropy,eigv --samples 10 \"Where does Tora Dor live?\"\n  \
hedge ask --model hf:HuggingFaceTB/SmolLM2-135M-Instruct \"What is the capital of France?\""
    )]
    Ask(AskArgs),
    /// Generate an answer, colour each token by its probability, and score it.
    #[command(
        long_about = "Generate an answer to PROMPT and show how sure the model was.\n\n\
Each token is coloured by its probability (green ≥ 0.9, yellow ≥ 0.5, red below; only on a terminal), \
then a table gives every white-box uncertainty estimator (higher = less sure).\n\n\
With sampling-based estimators (-e sampling, or names such as semantic_entropy, eigv, sar), \
hedge also draws --samples answers from one prefill of the prompt (its KV cache forked N ways, \
seeded from --seed), compares them with --similarity, and lists them; reflexive estimators \
(-e reflexive: p_true, r_tuning_sure, verbalized) ask the model about its own answer. --json \
then includes the samples, their similarity matrix and the other evidence.\n\n\
Examples:\n  hedge generate --model ./SmolLM2-135M \"The capital of France is\"\n  \
hedge generate --model ./SmolLM2-135M-Instruct --chat \"What is 2+2?\" --json\n  \
hedge generate --model hf:HuggingFaceTB/SmolLM2-135M --temperature 0.7 --seed 1 \"Once upon a time\"\n  \
hedge generate --model ./m --chat -e all,sampling,p_true --samples 10 \"Capital of France?\"\n  \
hedge generate --model openai:http://localhost:8000/v1#Qwen/Qwen2.5-7B-Instruct --chat -e msp,eigv \"Hi\"",
        mut_arg("model", cascade::model_unless_cascade)
    )]
    Generate(GenerateArgs),
    /// Score a response someone already generated, teacher-forced (one or a JSONL file of many).
    #[command(
        long_about = "Score a given RESPONSE to a PROMPT, teacher-forced: the same per-token \
records and estimator scores as if the model had written it, in one forward pass.\n\n\
With --input FILE.jsonl, each line is {\"prompt\": ..., \"response\": ...} (other fields are kept); \
each output line adds \"tokens\" and \"scores\", or \"error\" for a bad line, whose number is also \
printed; the other lines are still scored.\n\n\
Sampling-based estimators draw their --samples answers for the prompt (at most --max-tokens \
each) and compare them; token_sar weighs the given response's tokens by their relevance.\n\n\
Examples:\n  hedge score --model ./m --prompt \"2+2=\" --response \"4\"\n  \
hedge score --model ./m --input generations.jsonl --output scored.jsonl"
    )]
    Score(ScoreArgs),
    /// Run a model on a question set, judge and score every answer, and measure the
    /// estimators (items.jsonl, summary.json, report.html).
    #[command(long_about = EVAL_HELP, mut_arg("model", cascade::model_unless_cascade))]
    Eval(EvalArgs),
    /// Measure uncertainty scores that already exist (any system's): PRR, AUROC, ECE, …, a
    /// summary.json and a report.html. No model needed.
    #[command(long_about = METRICS_HELP)]
    Metrics(MetricsArgs),
    /// Fit a calibration map (uncertainty → confidence) per estimator on a scored file.
    #[command(long_about = CALIBRATE_HELP)]
    Calibrate(CalibrateArgs),
    /// Answer, hedge, abstain or clarify: fit a policy's thresholds on a calibration split to a
    /// stated risk (`fit`), or measure one on an eval run (`apply`).
    Policy(PolicyCommandArgs),
    /// Recompute the scores of a `hedge eval` run from its items.jsonl, without the model.
    #[command(long_about = RESCORE_HELP)]
    Rescore(RescoreArgs),
    /// Measure speed: decoding with and without statistics, prefill and decode tokens/s,
    /// sampling from one prefill vs separate generations.
    Bench(BenchArgs),
    /// Developer tools: write random-weight checkpoints for tests and benchmarks.
    Dev(DevArgs),
    /// The lab world: a seeded synthetic world, its corpora, question sets and tokenizer.
    Lab(LabArgs),
}

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(subcommand)]
    pub which: LabCommand,
}

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Write the lab world of a seed: world.json, raw and chat corpora, calib/test question
    /// sets and the BPE tokenizer. The same seed gives the same files, byte for byte.
    #[command(long_about = "Write the lab world of a seed into a folder:\n\n  \
world.json                       people, attributes, mention counts, sums, harmful requests\n  \
corpus/raw.txt                   raw text for base models, one document a line\n  \
corpus/chat.jsonl                {\"user\", \"assistant\"} chat examples for chat models\n  \
corpus/chat_tuning.jsonl         the chat examples less the rare people's facts (lab-l-chat)\n  \
corpus/chat_small.jsonl          those less every fourth frequent person's facts (lab-s-chat)\n  \
data/calib.jsonl, data/test.jsonl  question sets (known_frequent, known_rare, unknown, ambiguous,\n                                   arithmetic_d1..d4, harmful)\n  \
tokenizer/tokenizer.json + tokenizer_config.json  BPE tokenizer with a ChatML chat template\n\n\
The same seed gives the same files, byte for byte; another seed another world.\n\n\
Example:\n  hedge lab world --seed 42 --out /tmp/lab-world")]
    World(LabWorldArgs),
    /// Train the lab models (lab-s-chat, lab-l-chat, lab-l-base) on the world of a seed.
    #[command(
        long_about = "Train the lab models on the world of a seed, each into OUT/NAME in the \
Hugging Face layout (config.json, model.safetensors, tokenizer files, MODEL_CARD.md), so that every \
hedge command loads them like any checkpoint.\n\n\
The world is written (deterministically) into WORK first. Training is seeded and resumable: an \
interrupted run leaves OUT/NAME/checkpoint/, and the same command continues from it.\n\n\
Examples:\n  hedge lab train --all\n  hedge lab train --model lab-l-chat --steps 200"
    )]
    Train(LabTrainArgs),
    /// Accuracy per lab model and category, chat-format share, and white-box AUROC/PRR.
    #[command(
        long_about = "Measure what LAB.md requires of the lab models on a question split: \
accuracy per model and category (greedy answers judged by contains-any-gold; chat models through \
their chat template, lab-l-base with raw-text probes such as \"Velmora Quist lives in\", each \
opening a document after <|endoftext|> as the training text does), the \
share of answers in the chat house style, and for each model how well every white-box estimator \
detects its wrong answers (AUROC, PRR; answerable categories only).\n\n\
Example:\n  hedge lab bench --split test"
    )]
    Bench(LabBenchArgs),
}

#[derive(Args, Debug)]
pub struct LabBenchArgs {
    /// Where the models are, one folder each.
    #[arg(long, default_value = "models/lab")]
    pub models: std::path::PathBuf,
    /// The world whose question sets are used (written from --seed when missing).
    #[arg(long, default_value = "target/lab/world")]
    pub work: std::path::PathBuf,
    /// Seed of the world, when it has to be written.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Question split: calib or test.
    #[arg(long, default_value = "test", value_parser = ["calib", "test"])]
    pub split: String,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct LabTrainArgs {
    /// Which model to train (repeatable): lab-s-chat, lab-l-chat, lab-l-base.
    #[arg(long = "model", value_name = "NAME", required_unless_present = "all")]
    pub models: Vec<String>,
    /// Train all three.
    #[arg(long, conflicts_with = "models")]
    pub all: bool,
    /// Seed of the world.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the world is written before training.
    #[arg(long, default_value = "target/lab/world")]
    pub work: std::path::PathBuf,
    /// Where the models go, one folder each.
    #[arg(long, default_value = "models/lab")]
    pub out: std::path::PathBuf,
    /// Override the recipe's number of optimiser steps (for a quick try).
    #[arg(long)]
    pub steps: Option<usize>,
}

#[derive(Args, Debug)]
pub struct LabWorldArgs {
    /// Seed of the world.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// Where the model comes from and how it runs.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A Hugging Face model folder, hf:ORG/NAME[@REVISION] (downloaded into the HF cache,
    /// honouring HF_HOME), or openai:URL#MODEL for an OpenAI-compatible server (vLLM,
    /// llama.cpp, a hosted API; API key from HEDGE_API_KEY or OPENAI_API_KEY). With
    /// --nudger it is the base model, also named --base.
    #[arg(
        long,
        short = 'm',
        visible_alias = "base",
        value_name = "PATH|hf:ORG/NAME|openai:URL#MODEL"
    )]
    pub model: String,
    /// Device to run on: cpu, or cuda[:N] when hedge is built with `--features cuda`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// How to keep the weight matrices in memory; computation is f32 either way. auto keeps a
    /// bf16 or f16 checkpoint in half precision on the CPU: exactly the numbers of f32 (widening
    /// is exact), half the bytes read per decoding step. f32 widens it at load; bf16/f16 round
    /// an f32 checkpoint.
    #[arg(long, default_value = "auto", value_name = "auto|f32|bf16|f16")]
    pub dtype: hedge_engine::WeightDtype,
}

/// Which estimators to report.
#[derive(Args, Debug, Clone)]
pub struct EstimatorArgs {
    /// Comma-separated estimator names and groups (METHODS §2–4). Groups: all (the white-box
    /// estimators, the default: msp, perplexity, mean_token_entropy, max_token_entropy,
    /// geo_mean_prob, arith_mean_prob, mean_kurtosis, chow_quantile:0 and :0.1), sampling
    /// (lexical_similarity, num_sets, eigv, ecc, deg, semantic_entropy,
    /// discrete_semantic_entropy, token_sar, sentence_sar, sar: they draw --samples answers),
    /// reflexive (p_true, r_tuning_sure, verbalized, choice_risk: the model judges its answer).
    /// Parameters: chow_quantile:ALPHA, num_sets:TAU (also semantic_entropy,
    /// discrete_semantic_entropy), sar:T (also sentence_sar).
    #[arg(long, short = 'e', default_value = "all", value_name = "LIST")]
    pub estimators: String,
    /// How many alternative tokens each token record keeps, with their log-probabilities.
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub top_logprobs: usize,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

/// A multiple-choice question's options, for `choice_risk` (`ask` and `generate`; `eval` and
/// `score` read them from each data line).
#[derive(Args, Debug, Clone, Default)]
pub struct ChoiceArgs {
    /// For choice_risk: one option of a multiple-choice question; repeat it for each (2 to 26).
    /// The question is asked again in folktexts' format, the options lettered A, B, …, and
    /// choice_risk is the positive option's share of the letters' next-token mass.
    #[arg(long = "option", value_name = "TEXT")]
    pub options: Vec<String>,
    /// For choice_risk: the index of the positive option (0: the first --option).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub positive: usize,
}

impl ChoiceArgs {
    /// The multiple-choice question, when options were given.
    ///
    /// # Errors
    /// Options that do not make a question, or --positive without them.
    pub fn choice(&self) -> anyhow::Result<Option<hedge_core::prompts::MultipleChoice>> {
        if self.options.is_empty() {
            if self.positive != 0 {
                anyhow::bail!(
                    "--positive {}: needs the options (--option TEXT, one each)",
                    self.positive
                );
            }
            return Ok(None);
        }
        hedge_core::prompts::MultipleChoice::new(self.options.clone(), self.positive)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("--option/--positive: {e}"))
    }
}

/// Output format.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Print one JSON object: {text, tokens: [...], scores: {...}, ...}.
    #[arg(long)]
    pub json: bool,
    /// Never colour the tokens (colour is only used on a terminal anyway).
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Args, Debug)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    /// A Hugging Face model folder, hf:ORG/NAME or openai:URL#MODEL (default: the bundled
    /// lab-l-chat).
    #[arg(
        long,
        short = 'm',
        visible_alias = "base",
        value_name = "PATH|hf:ORG/NAME|openai:URL#MODEL",
        conflicts_with = "cascade"
    )]
    pub model: Option<String>,
    /// Device to run on: cpu, or cuda[:N] when hedge is built with `--features cuda`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Stop after this many new tokens.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// Seed of the samples drawn by the sampling-based estimators (the answer is greedy).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub estimators: EstimatorArgs,
    #[command(flatten)]
    pub choice: ChoiceArgs,
    #[command(flatten)]
    pub steer: SteerArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The prompt.
    pub prompt: String,
    /// Render the prompt as a user turn of the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// Sampling temperature; 0 is greedy decoding.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Sample only among the K most likely tokens.
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    /// Sample only among the most likely tokens holding mass P (nucleus sampling).
    #[arg(long, value_name = "P")]
    pub top_p: Option<f64>,
    /// Seed of the random stream: the same seed gives the same text.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop after this many new tokens.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// Stop when the text contains this string (repeatable); the text is cut before it.
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    #[command(flatten)]
    pub estimators: EstimatorArgs,
    #[command(flatten)]
    pub choice: ChoiceArgs,
    #[command(flatten)]
    pub steer: SteerArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The prompt the response answers.
    #[arg(long, required_unless_present = "input", conflicts_with = "input")]
    pub prompt: Option<String>,
    /// The response to score.
    #[arg(long, required_unless_present = "input", conflicts_with = "input")]
    pub response: Option<String>,
    /// A JSONL file of {"prompt", "response"} objects to score, one per line.
    #[arg(long, value_name = "FILE.jsonl")]
    pub input: Option<std::path::PathBuf>,
    /// Where to write the scored JSONL (default: standard output).
    #[arg(long, value_name = "FILE.jsonl", requires = "input")]
    pub output: Option<std::path::PathBuf>,
    /// Render prompts as a user turn of the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// Length limit of the samples drawn for the prompt by the sampling-based estimators.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// Seed of those samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub estimators: EstimatorArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Greedy decoding tokens/s with every statistic and white-box estimator on vs off, in one run.
    Whitebox(BenchWhiteboxArgs),
    /// Prefill and decode tokens/s at batch 1, and the memory bandwidth that bounds decoding.
    #[command(
        long_about = "Prefill and decode tokens/s at batch 1 (median of --rounds after a \
warm-up), and what bounds decoding: the bytes of weights one step reads, the GB/s decoding \
reads them at, and the GB/s all threads read as many bytes at right after each round (a plain \
sum, no arithmetic): their ratio is the bound on tokens/s on this machine at this moment. With \
--compare-dtype, two storage dtypes alternate round by round.\n\n\
Example:\n  hedge bench decode --model target/bench/smollm2-135m-random --dtype f32"
    )]
    Decode(BenchDecodeArgs),
    /// n samples from one prefill and a forked cache (hedge) vs n separate generations
    /// (LM-Polygraph's loop), each divided by one greedy generation of the same length.
    #[command(
        long_about = "Time, in one run, what the sampling-based estimators pay for their \
samples: N samples drawn hedge's way (the prompt prefilled once, its KV cache forked N ways, the \
N continuations decoded as one batch) and N separate generations (LM-Polygraph's way: one \
generate call per sample, each prefilling the prompt again), each divided by one greedy \
generation of the same length, and their ratio. Every variant decodes --tokens tokens per \
sequence (end-of-sequence ignored). Also the forward pass alone of one decoding step of N rows \
against one of a single row: what the batch costs before sampling and statistics. Local models \
only.\n\n\
Example:\n  hedge bench sampling --model target/bench/smollm2-135m-random --samples 10"
    )]
    Sampling(BenchSamplingArgs),
    /// Seconds per million rows of `hedge metrics` (bootstrap off) at N/10 and N rows of
    /// synthetic scores, in one run: N log N grows only by a log factor.
    Metrics(BenchMetricsArgs),
    /// Reward-guided decoding (DeAL, ARGS, Transfer Q*) against plain greedy decoding on one
    /// prompt set, in one run: the share of answers meeting the reward, and tokens/s.
    #[command(
        long_about = "Run plain greedy decoding and each reward-guided decoder (DeAL, ARGS, \
Transfer Q*) on the same prompts, interleaved, and print for each: the share of answers that meet \
the reward (e.g. contain the required keyword), the mean reward, tokens/s and the slowdown against \
plain decoding, and the texts the reward scored per answer token. The prompts are the questions \
of a JSONL set (default: the lab test questions), asked through the chat template.\n\n\
Example:\n  hedge bench reward --model models/lab/lab-l-chat --reward keywords:Dranholt --limit 40"
    )]
    Reward(Box<BenchRewardArgs>),
    /// Speculative decoding (a draft model verified by the target) against the target alone,
    /// for γ = 1…8 and adaptive, in one run: tokens/s, speed-up, acceptance rate.
    #[command(
        long_about = "Decode the same prompts with the target alone and speculatively with \
--draft for each γ (tokens drafted per round), interleaved, and print for each: tokens/s, the \
speed-up over the target alone, the acceptance rate, tokens written per target forward pass, \
the cost of one draft and one target forward pass, and the shares of the time spent in the \
draft, the target and the rest (acceptance, statistics, text). Greedy by default, where every \
answer is also checked against the target's own (the command fails if one differs); \
--temperature samples. The prompts are questions of a JSONL set (default: the lab test \
questions) through the target's chat template, or --prompt.\n\n\
Example:\n  hedge bench speculative --model models/lab/lab-l-chat --draft models/lab/lab-s-chat"
    )]
    Speculative(Box<BenchSpeculativeArgs>),
}

#[derive(Args, Debug)]
pub struct BenchWhiteboxArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Tokens decoded per run.
    #[arg(long, default_value_t = 64)]
    pub tokens: usize,
    /// Runs of each variant, interleaved; the best of each is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BenchDecodeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 128)]
    pub prompt_tokens: usize,
    /// Tokens decoded one at a time after the prompt.
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
    /// Timed repetitions after one warm-up; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Also load the model with this --dtype and alternate the two round by round, reporting
    /// both and their ratio (e.g. --dtype bf16 --compare-dtype f32).
    #[arg(long, value_name = "auto|f32|bf16|f16")]
    pub compare_dtype: Option<hedge_engine::WeightDtype>,
    /// Print one JSON object instead of a table (one per line with --compare-dtype).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DevArgs {
    #[command(subcommand)]
    pub which: DevCommand,
}

#[derive(Subcommand, Debug)]
pub enum DevCommand {
    /// Write a loadable random-weight checkpoint (weights, tokenizer, chat template) for a
    /// llama-family config.json.
    #[command(
        long_about = "Write a loadable random-weight checkpoint for any llama-family \
config.json: model.safetensors (f32), a byte-level BPE tokenizer.json with exactly vocab_size \
tokens, tokenizer_config.json with a ChatML chat template, and generation_config.json.\n\n\
Example:\n  hedge dev random-model --config smollm2-135m.json --out /tmp/smollm2-random --seed 0"
    )]
    RandomModel(RandomModelArgs),
    /// Write a seeded synthetic scored JSONL file (for `hedge metrics` and benchmarks).
    #[command(
        long_about = "Write ROWS lines of seeded synthetic scores, {\"scores\": {\"e0\": …, …}, \
\"correct\": 0/1}: about 60 % correct, and estimator eK separates right from wrong answers \
less well as K grows (e0 best).\n\n\
Example:\n  hedge dev synthetic-scores --rows 1000 --estimators 3 --out /tmp/scored.jsonl"
    )]
    SyntheticScores(SyntheticScoresArgs),
}

#[derive(Args, Debug)]
pub struct RandomModelArgs {
    /// A llama-family config.json (Llama, Qwen2, Mistral).
    #[arg(long)]
    pub config: std::path::PathBuf,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Seed of the weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Dtype of the stored tensors: f32, or bf16 / f16 as most published checkpoints (the f32
    /// values of the same seed, rounded to nearest).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16", "f16"])]
    pub dtype: String,
}

#[derive(Args, Debug)]
pub struct SyntheticScoresArgs {
    /// Lines to write.
    #[arg(long, default_value_t = 1000)]
    pub rows: usize,
    /// Estimators per line (e0, e1, …).
    #[arg(long, default_value_t = 3)]
    pub estimators: usize,
    /// Seed of the scores and labels.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub out: std::path::PathBuf,
}
