//! Flags of nudging: --nudger M2 writes where --base (--model) is unsure.

use clap::Args;
use hedge_steer::nudging::{NudgeLog, NudgingConfig};

/// Nudging (Fei et al.; METHODS §6): the base model (--base, an alias of --model) writes
/// greedily; where its top-1 probability is below --gamma, the aligned --nudger writes a few
/// words on its own chat template, and the base model takes over again as soon as it is sure.
#[derive(Args, Debug, Clone)]
pub struct NudgeArgs {
    /// An aligned (chat) model that nudges the base model where it is unsure: a folder or
    /// hf:ORG/NAME. The models hand over plain text, so their tokenizers may differ. The output
    /// marks the words the nudger wrote and gives its share of the answer.
    #[arg(
        long,
        value_name = "PATH|hf:ORG/NAME",
        conflicts_with = "cascade",
        help_heading = "Nudging"
    )]
    pub nudger: Option<String>,
    /// γ: the base model writes while its top-1 probability is at least γ (the authors' code:
    /// 0.3; their example: 0.4). 0 leaves the base model alone after the nudger's first word;
    /// above 1 the nudger writes every round.
    #[arg(
        long,
        default_value_t = 0.3,
        value_name = "γ",
        allow_negative_numbers = true,
        requires = "nudger",
        help_heading = "Nudging"
    )]
    pub gamma: f64,
    /// Tokens the nudger writes per round, split into words before the base model checks them
    /// (the authors: 16). A nudger that ends its answer within this many tokens writes it all.
    #[arg(
        long,
        default_value_t = 16,
        value_name = "N",
        requires = "nudger",
        help_heading = "Nudging"
    )]
    pub nudge_tokens: usize,
    /// Tokens the base model writes per call, kept up to its first unsure token (the authors: 16).
    #[arg(
        long,
        default_value_t = 16,
        value_name = "N",
        requires = "nudger",
        help_heading = "Nudging"
    )]
    pub base_tokens: usize,
    /// The base model's prompt; {prompt} is the prompt (`\n` means a newline). The default puts
    /// the answer on the line after the question, as the authors' base-model format does.
    #[arg(
        long,
        default_value = "{prompt}\\n",
        value_name = "TEXT",
        requires = "nudger",
        help_heading = "Nudging"
    )]
    pub base_template: String,
    /// Where the nudging backend leaves its latest answers, for the command to show.
    #[arg(skip)]
    pub log: NudgeLog,
}

impl Default for NudgeArgs {
    fn default() -> Self {
        let c = NudgingConfig::default();
        Self {
            nudger: None,
            gamma: c.gamma,
            nudge_tokens: c.nudger_chunk,
            base_tokens: c.base_chunk,
            base_template: c.base_template.replace('\n', "\\n"),
            log: NudgeLog::default(),
        }
    }
}

impl NudgeArgs {
    /// The configuration the flags ask for (the authors' limits otherwise).
    pub fn config(&self) -> NudgingConfig {
        NudgingConfig {
            gamma: self.gamma,
            base_chunk: self.base_tokens,
            nudger_chunk: self.nudge_tokens,
            base_template: self.base_template.replace("\\n", "\n"),
            ..NudgingConfig::default()
        }
    }
}
