//! `--draft M` for `ask`, `generate` and `eval`: the command's model decoded speculatively (a
//! [`Model::Steered`] wrapping hedge-steer's [`Speculative`]), and the acceptance rate in the
//! outputs.

use std::io::Write;

use anyhow::{bail, Context};
use hedge_steer::speculative::{DraftLength, Speculative, SpeculativeStats};

use crate::args::ModelArgs;
use crate::args::SteerArgs;
use crate::model::{is_remote, Model, Steered};

/// γ when `--draft-tokens` is not given: the fastest on the lab models in
/// `hedge bench speculative` (lab-s-chat drafting for lab-l-chat).
pub const DEFAULT_DRAFT_LENGTH: DraftLength = DraftLength::Fixed(4);

/// The draft confidence when `--draft-confidence` is not given (measured as γ's default).
pub const DEFAULT_DRAFT_CONFIDENCE: f64 = 0.5;

/// The command's model decoded speculatively with `--draft`, or unchanged without it. The draft
/// is loaded on the same device and with the same `--dtype` as the model.
///
/// # Errors
/// When `--draft` is combined with a server or with another multi-model decoder, the draft
/// cannot be loaded, or its vocabulary differs from the model's.
pub fn wrap(model: Model, steer: &SteerArgs, model_args: &ModelArgs) -> anyhow::Result<Model> {
    let a = &steer.draft;
    let Some(draft_spec) = &a.draft else {
        return Ok(model);
    };
    let target = match model {
        Model::Local(m) => m,
        Model::Remote(m) => bail!(
            "--draft {draft_spec}: speculative decoding runs the model here, but {} is a server \
             (the server decides how it decodes)",
            m.name()
        ),
        Model::Steered(m) => bail!(
            "--draft {draft_spec} cannot be combined with {} (one multi-model decoder at a time)",
            m.name
        ),
    };
    if is_remote(draft_spec) {
        bail!("--draft {draft_spec}: the draft must be a local model (a folder or hf:ORG/NAME)");
    }
    let draft = crate::commands::load_model(&ModelArgs {
        model: draft_spec.clone(),
        device: model_args.device.clone(),
        dtype: model_args.dtype,
    })
    .with_context(|| format!("--draft {draft_spec}"))?;
    let gamma = a.draft_tokens.unwrap_or(DEFAULT_DRAFT_LENGTH);
    let confidence = a.draft_confidence.unwrap_or(DEFAULT_DRAFT_CONFIDENCE);
    let spec = Speculative::new(target, draft, gamma)?
        .with_draft_confidence(confidence)?
        .with_stats_log(a.stats.clone());
    Ok(Model::Steered(Steered {
        name: spec.name(),
        chat: spec.target().tokenizer.has_chat_template(),
        backend: Box::new(spec),
    }))
}

/// The counts of the latest speculative generation, when `--draft` is on.
pub fn last(steer: &SteerArgs) -> Option<SpeculativeStats> {
    steer.draft.draft.as_ref()?;
    steer.draft.stats.last()
}

/// The counts summed over every speculative generation of the run, when `--draft` is on.
pub fn total(steer: &SteerArgs) -> Option<SpeculativeStats> {
    steer.draft.draft.as_ref()?;
    let t = steer.draft.stats.total();
    (t.generations > 0).then_some(t)
}

/// The acceptance line of the human output.
///
/// # Errors
/// On a write error.
pub fn write_line(out: &mut impl Write, s: &SpeculativeStats) -> std::io::Result<()> {
    writeln!(out, "{}", s.summary_line())
}
