//! Flags of reward-guided decoding: --guide deal|args|tq under one or more --reward.

use clap::{Args, ValueEnum};
use hedge_steer::reward::{RewardLog, RewardSpec};

/// Which reward-guided decoder `--guide` names.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuideKind {
    /// DeAL lookahead search: beams of --deal-lookahead tokens, the --deal-top-k best by reward
    /// kept each round.
    Deal,
    /// ARGS: each step, the --guide-top-k most likely tokens scored by logit + w·R(x, y + v).
    Args,
    /// Transfer Q*: as ARGS, R read after a --tq-rollout token greedy rollout of each candidate.
    Tq,
}

/// Reward-guided decoding (METHODS §6): DeAL, ARGS, Transfer Q*.
#[derive(Args, Debug, Clone, Default)]
pub struct RewardArgs {
    /// Decode the model under the --reward: deal (lookahead search), args (reward-guided
    /// search, one token at a time) or tq (Transfer Q*: ARGS with rollouts). Greedy at
    /// --temperature 0, seeded sampling above. Local models only. The output gives the final
    /// answer's reward ("reward" in --json and in eval's items.jsonl).
    ///
    ///   hedge ask --guide deal --reward keywords:Dranholt "Where does Renmisa Fal live?"
    ///   hedge eval --model models/lab/lab-l-chat --guide deal --reward keywords:Dranholt \
    ///     --data data/lab/test.jsonl --out runs/deal
    ///   hedge bench reward --model models/lab/lab-l-chat --reward keywords:Dranholt
    #[arg(
        long,
        value_enum,
        value_name = "deal|args|tq",
        requires = "reward",
        help_heading = "Reward-guided decoding",
        verbatim_doc_comment
    )]
    pub guide: Option<GuideKind>,
    /// A reward R(x, y) of the answer y to the prompt x; repeat to add rewards (their
    /// weighted sum, or mean − λ·std with --reward-lambda). Without --guide, the plain
    /// answer's reward is only shown.
    ///
    ///   keywords:A,B   the share of the keywords the answer contains (whole words, any case)
    ///   length:N       −|words − N| / N  (length:N:tokens counts the model's tokens)
    ///   forbid:X,Y     −1 for each of the words the answer contains
    ///   model:DIR      a reward model's score of (prompt, answer): a BERT or RoBERTa
    ///                  *ForSequenceClassification folder with one output (num_labels 1), e.g.
    ///                  cross-encoder/ms-marco-MiniLM-L-6-v2; model:DIR#LABEL reads the
    ///                  probability of LABEL of a classifier with several
    ///   …@W            times the weight W, e.g. --reward length:12@0.5
    #[arg(
        long,
        value_name = "SPEC",
        value_parser = parse_spec,
        help_heading = "Reward-guided decoding",
        verbatim_doc_comment
    )]
    pub reward: Vec<RewardSpec>,
    #[command(flatten)]
    pub params: GuideParams,
    /// Where the guided backend leaves each answer's reward, for the command to show.
    #[arg(skip)]
    pub log: RewardLog,
}

/// The parameters of the reward and of the three decoders (the papers' values by default),
/// shared by --guide and `hedge bench reward`.
#[derive(Args, Debug, Clone)]
pub struct GuideParams {
    /// w in ARGS's and Transfer Q*'s score(v) = logit(v) + w·R (the papers: 1). 0 is plain
    /// decoding.
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "W",
        help_heading = "Reward-guided decoding"
    )]
    pub reward_weight: f64,
    /// Uncertainty-aware reward (Ctrl-U; PEARL): mean − λ·std over M reward evaluations, std
    /// the population standard deviation — the --reward list as an ensemble, each on every
    /// perturbed copy with --reward-perturb.
    #[arg(
        long,
        value_name = "λ",
        requires = "reward",
        help_heading = "Reward-guided decoding"
    )]
    pub reward_lambda: Option<f64>,
    /// Evaluate each reward on M perturbed copies of the answer (each word dropped with
    /// probability 0.1, seeded by --seed) for --reward-lambda.
    #[arg(
        long,
        value_name = "M",
        requires = "reward_lambda",
        help_heading = "Reward-guided decoding"
    )]
    pub reward_perturb: Option<usize>,
    /// Tokens ARGS and Transfer Q* score at each step: the k most likely (the papers: 10).
    #[arg(
        long,
        default_value_t = 10,
        value_name = "K",
        help_heading = "Reward-guided decoding"
    )]
    pub guide_top_k: usize,
    /// Tokens of greedy rollout after each Transfer Q* candidate (the paper's code: 20).
    #[arg(
        long,
        default_value_t = 20,
        value_name = "N",
        help_heading = "Reward-guided decoding"
    )]
    pub tq_rollout: usize,
    /// Transfer Q*'s baseline model for the rollouts (default: the model itself); it must share
    /// the model's tokenizer.
    #[arg(long, value_name = "PATH", help_heading = "Reward-guided decoding")]
    pub tq_baseline: Option<String>,
    /// DeAL: continuations written from each kept prefix per round (8).
    #[arg(
        long,
        default_value_t = 8,
        value_name = "N",
        help_heading = "Reward-guided decoding"
    )]
    pub deal_beams: usize,
    /// DeAL: tokens per continuation (4).
    #[arg(
        long,
        default_value_t = 4,
        value_name = "N",
        help_heading = "Reward-guided decoding"
    )]
    pub deal_lookahead: usize,
    /// DeAL: continuations kept per round, by reward (4).
    #[arg(
        long,
        default_value_t = 4,
        value_name = "K",
        help_heading = "Reward-guided decoding"
    )]
    pub deal_top_k: usize,
    /// DeAL: rounds at most (10): with --deal-lookahead 4, answers of up to 40 tokens.
    #[arg(
        long,
        default_value_t = 10,
        value_name = "N",
        help_heading = "Reward-guided decoding"
    )]
    pub deal_iterations: usize,
}

pub(crate) fn parse_spec(s: &str) -> Result<RewardSpec, String> {
    s.parse()
}

impl Default for GuideParams {
    fn default() -> Self {
        Self {
            reward_weight: 1.0,
            reward_lambda: None,
            reward_perturb: None,
            guide_top_k: 10,
            tq_rollout: 20,
            tq_baseline: None,
            deal_beams: 8,
            deal_lookahead: 4,
            deal_top_k: 4,
            deal_iterations: 10,
        }
    }
}

/// `hedge bench reward`: plain decoding and each guided decoder on one prompt set, in one run.
#[derive(Args, Debug, Clone)]
pub struct BenchRewardArgs {
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// The reward the decoders follow (repeat to add; forms as in `hedge generate --help`).
    #[arg(long, value_name = "SPEC", value_parser = parse_spec, required = true)]
    pub reward: Vec<RewardSpec>,
    /// An answer meets the reward when its reward is at least this. Default: the reward's
    /// maximum when it has one (keywords: all present; length: exactly on target; forbid: none
    /// present); a reward model needs it.
    #[arg(long, value_name = "R")]
    pub meet: Option<f64>,
    /// The prompts: a JSONL question set (field "question"), each asked through the model's
    /// chat template (--no-chat: as raw text).
    #[arg(long, default_value = "data/lab/test.jsonl", value_name = "FILE")]
    pub data: std::path::PathBuf,
    /// Only the lines of this split (the field "split").
    #[arg(long, value_name = "NAME")]
    pub split: Option<String>,
    /// The first N prompts only.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Ask the raw question, without the chat template.
    #[arg(long)]
    pub no_chat: bool,
    /// The methods to run, in this order; plain is the model's own greedy decoding.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "plain,deal,args,tq",
        value_name = "LIST"
    )]
    pub guides: Vec<BenchGuide>,
    /// Tokens per answer at most.
    #[arg(long, default_value_t = 48, value_name = "N")]
    pub max_tokens: usize,
    /// Seed of the perturbed copies (--reward-perturb).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub params: GuideParams,
    /// One JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// A method of `hedge bench reward`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchGuide {
    /// The model's own greedy decoding.
    Plain,
    Deal,
    Args,
    Tq,
}
