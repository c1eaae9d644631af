//! `hedge ask`: the main job — a question answered by the bundled lab model (or any model),
//! coloured by confidence, with the uncertainty table.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::args::{AskArgs, GenerateArgs, ModelArgs};

/// Where the bundled lab model is: `models/lab/lab-l-chat` under the current folder, else under
/// the source tree this binary was built from.
fn bundled_model() -> anyhow::Result<PathBuf> {
    let rel = PathBuf::from("models/lab/lab-l-chat");
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(&rel);
    [rel.clone(), built]
        .into_iter()
        .find(|p| p.join("config.json").is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the bundled lab model is not at {}: train it with `hedge lab train --model lab-l-chat`, or pass --model",
                rel.display()
            )
        })
}

pub fn run(mut a: AskArgs) -> anyhow::Result<ExitCode> {
    let model = match a.model {
        Some(m) => m,
        None => bundled_model()?.to_string_lossy().into_owned(),
    };
    // A model's own policy.json was fitted on its own answers: a cascade's answers may be
    // another model's, a nudged answer is two models' (an explicit --policy still applies).
    if a.steer.cascade.models.is_none() && a.steer.nudge.nudger.is_none() {
        super::policy::default_for_model(&mut a.steer.policy, &model);
    }
    let (scorer, _) = super::policy::scorer(&a.estimators, &a.steer.policy, a.seed)?;
    let model_args = ModelArgs {
        model,
        device: a.device,
        dtype: hedge_engine::WeightDtype::Auto,
    };
    let cascade = super::cascade::load(&a.steer.cascade, &model_args.device, model_args.dtype)?;
    let loaded = match cascade {
        Some(m) => m,
        None => super::nudge::load(&model_args, &a.steer.nudge)?,
    };
    let loaded = super::speculative::wrap(loaded, &a.steer, &model_args)?;
    let loaded = super::reward::guide(loaded, &a.steer.reward, &model_args, a.seed)?;
    // A model without a chat template is asked with the raw question.
    let chat = loaded.has_chat_template();
    super::generate::run_with(
        &loaded,
        scorer,
        GenerateArgs {
            model: model_args,
            prompt: a.question,
            chat,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: a.seed,
            max_tokens: a.max_tokens,
            stop: Vec::new(),
            estimators: a.estimators,
            choice: a.choice,
            steer: a.steer,
            output: a.output,
        },
    )
}
