//! Flags of speculative decoding: --draft M proposes tokens that the model verifies.

use clap::Args;
use hedge_steer::speculative::{DraftLength, StatsLog};

/// `--draft M [--draft-tokens N|adaptive]`.
#[derive(Args, Debug, Clone, Default)]
pub struct DraftArgs {
    /// Decode speculatively with this draft model (a folder or hf:ORG/NAME with the model's
    /// vocabulary): it proposes tokens, the model checks them in one forward pass. Lossless:
    /// greedy answers are the model's own, token for token, and sampled ones follow its
    /// distribution; the acceptance rate is shown. Local models only.
    #[arg(long, value_name = "PATH|hf:ORG/NAME")]
    pub draft: Option<String>,
    /// Tokens the draft proposes per round at most (γ): 1 to 16, or adaptive (start at 4, +2
    /// after a round with every token accepted, −1 after a rejection). Default 4: with
    /// --draft-confidence 0.5, the fastest in `hedge bench speculative` on the lab test split
    /// (lab-s-chat drafting for lab-l-chat).
    #[arg(long, value_name = "N|adaptive", requires = "draft", value_parser = parse_draft_tokens)]
    pub draft_tokens: Option<DraftLength>,
    /// Stop a round's drafting after a token the draft gave a probability below P (greedy:
    /// its top probability): such tokens are often rejected, and every token drafted after
    /// them with them. 0 never stops early; γ stays the most a round drafts. Lossless either
    /// way. Default 0.5 (measured with --draft-tokens by `hedge bench speculative`).
    #[arg(long, value_name = "P", requires = "draft", value_parser = parse_confidence)]
    pub draft_confidence: Option<f64>,
    /// Where the decoder leaves the counts of each generation, for the outputs.
    #[arg(skip)]
    pub stats: StatsLog,
}

fn parse_draft_tokens(s: &str) -> Result<DraftLength, String> {
    s.parse()
}

fn parse_confidence(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "{s:?}: expected a probability from 0 to 1 (0: never stop drafting early)"
        )),
    }
}

/// `hedge bench speculative`: the target alone against speculative decoding for each γ, on one
/// prompt set, in one run.
#[derive(Args, Debug, Clone)]
pub struct BenchSpeculativeArgs {
    /// The target model (speculative decoding must give its answers).
    #[command(flatten)]
    pub model: super::ModelArgs,
    /// The draft model: same vocabulary as the target, far cheaper per forward pass.
    #[arg(long, value_name = "PATH|hf:ORG/NAME")]
    pub draft: String,
    /// The prompts: a JSONL question set (field "question"), each asked through the target's
    /// chat template when it has one.
    #[arg(long, default_value = "data/lab/test.jsonl", value_name = "FILE")]
    pub data: std::path::PathBuf,
    /// How many questions of --data: the first N (the lab sets are sorted by category, so
    /// --spread takes them evenly over the file instead).
    #[arg(long, default_value_t = 40, value_name = "N")]
    pub questions: usize,
    /// Take the N questions evenly over the whole file (every category) instead of the first N.
    #[arg(long)]
    pub spread: bool,
    /// Prompts given here instead of --data (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub prompt: Vec<String>,
    /// The γ values to measure, comma-separated: numbers from 1 to 16 and adaptive.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,3,4,5,6,7,8,adaptive",
        value_name = "LIST",
        value_parser = parse_draft_tokens
    )]
    pub gammas: Vec<DraftLength>,
    /// The draft confidences to measure, comma-separated (each with every γ): a round stops
    /// drafting after a token the draft gave a probability below it; 0 never stops early.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0,0.5",
        value_name = "LIST",
        value_parser = parse_confidence
    )]
    pub confidence: Vec<f64>,
    /// Tokens per answer at most.
    #[arg(long, default_value_t = 32)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 (the default) is greedy decoding, where every answer is also
    /// checked against the target's own.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Sample only among the K most likely tokens.
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    /// Sample only among the most likely tokens holding mass P.
    #[arg(long, value_name = "P")]
    pub top_p: Option<f64>,
    /// Seed of the sampled answers (prompt i uses seed + i).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Timed passes over the prompt set, the variants taking turns prompt by prompt; each
    /// variant's time is the sum over the prompts of its fastest run.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}
