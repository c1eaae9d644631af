//! Flags of hedge-steer's actions, shared by `ask`, `generate` and `eval`: each group is its
//! own struct in its own file, flattened here.

use clap::Args;

pub use super::cascade::CascadeArgs;
pub use super::nudge::NudgeArgs;
pub use super::policy::PolicyArgs;
pub use super::reward::RewardArgs;
pub use super::speculative::DraftArgs;

/// What to do with the model's uncertainty, and how to decode with several models.
#[derive(Args, Debug, Clone, Default)]
pub struct SteerArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub cascade: CascadeArgs,
    #[command(flatten)]
    pub nudge: NudgeArgs,
    #[command(flatten)]
    pub draft: DraftArgs,
    #[command(flatten)]
    pub reward: RewardArgs,
}
