//! hedge-steer: acting on uncertainty (METHODS §6).
//!
//! - [`policy`]: calibrated confidence → answer / hedge / abstain, thresholds fitted to a stated
//!   risk; [`clarify`]: a clarifying question when several semantic clusters hold real mass;
//! - [`cascade`]: a small model that defers to a large one by a deferral rule;
//! - [`nudging`]: a small aligned model writing where a base model is unsure;
//! - [`speculative`]: lossless speculative decoding, a small draft verified by the target;
//! - [`reward`]: reward-guided decoding (DeAL, ARGS, Transfer Q*) with programmatic and
//!   model rewards, and the uncertainty-aware mean − λ·std reward.
//!
//! The decoding methods are [`hedge_engine::Backend`]s, so every command that generates can
//! use them unchanged.
pub mod cascade;
pub mod clarify;
pub mod nudging;
pub mod policy;
pub mod reward;
pub mod speculative;
