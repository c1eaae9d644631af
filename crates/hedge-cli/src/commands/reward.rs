//! `--guide` and `--reward`: the model decoded under a reward (hedge-steer's DeAL, ARGS,
//! Transfer Q*) as a `Model::Steered`, and the final answer's reward in the output.

use std::io::Write;

use anyhow::{bail, Context};
use hedge_engine::{LocalModel, TextTokenizer};
use hedge_steer::reward::{
    argsearch::ArgsParams, combine, deal::DealParams, transfer_q::TransferQParams, Guide,
    Perturbation, Reward, RewardGuided, RewardNote, RewardSpec,
};

use crate::args::{GuideKind, GuideParams, ModelArgs, RewardArgs};
use crate::model::{Model, Steered};

/// Words dropped from each perturbed copy of an answer (--reward-perturb).
const PERTURB_DROP: f64 = 0.1;

/// The reward of `specs`: their weighted sum, or mean − λ·std with --reward-lambda (over
/// --reward-perturb copies, seeded by `seed`).
pub fn build_reward(
    specs: &[RewardSpec],
    p: &GuideParams,
    tokenizer: &TextTokenizer,
    seed: u64,
) -> anyhow::Result<Box<dyn Reward>> {
    let perturbation = p
        .reward_perturb
        .map(|m| Perturbation::new(m, PERTURB_DROP, seed))
        .transpose()
        .context("--reward-perturb")?;
    combine(specs, Some(tokenizer), p.reward_lambda, perturbation).context("--reward")
}

/// The decoder `name` names (`plain`, `deal`, `args`, `tq`) with the flags' parameters.
pub fn guide_of(name: &str, p: &GuideParams) -> Guide {
    match name {
        "deal" => Guide::Deal(DealParams {
            init_beams: p.deal_beams,
            lookahead: p.deal_lookahead,
            top_k: p.deal_top_k,
            max_iterations: p.deal_iterations,
        }),
        "args" => Guide::Args(ArgsParams {
            top_k: p.guide_top_k,
            weight: p.reward_weight,
        }),
        "tq" => Guide::TransferQ(TransferQParams {
            top_k: p.guide_top_k,
            weight: p.reward_weight,
            rollout: p.tq_rollout,
        }),
        _ => Guide::Plain,
    }
}

/// `model` under the reward as one backend, with Transfer Q*'s baseline loaded beside it.
pub fn guided_backend(
    model: LocalModel,
    reward: Box<dyn Reward>,
    guide: Guide,
    p: &GuideParams,
    model_args: &ModelArgs,
) -> anyhow::Result<RewardGuided> {
    let is_tq = matches!(guide, Guide::TransferQ(_));
    let mut backend = RewardGuided::new(model, reward, guide)?;
    if let (true, Some(path)) = (is_tq, &p.tq_baseline) {
        let baseline = super::load_model(&ModelArgs {
            model: path.clone(),
            ..model_args.clone()
        })?;
        backend = backend
            .with_baseline(baseline)
            .with_context(|| format!("--tq-baseline {path}"))?;
    }
    Ok(backend)
}

/// The model as the commands run it: unchanged without --reward; decoded by --guide under the
/// reward (or plainly, the reward only shown, without --guide) otherwise.
///
/// # Errors
/// When the model is not a local one, or a flag or the reward is wrong.
pub fn guide(
    model: Model,
    a: &RewardArgs,
    model_args: &ModelArgs,
    seed: u64,
) -> anyhow::Result<Model> {
    if a.reward.is_empty() {
        return Ok(model);
    }
    let local = match model {
        Model::Local(m) => m,
        other => bail!(
            "--reward: reward-guided decoding runs a local model (a folder or hf:ORG/NAME), not {}",
            other.name()
        ),
    };
    let reward = build_reward(&a.reward, &a.params, &local.tokenizer, seed)?;
    let kind = match a.guide {
        Some(GuideKind::Deal) => "deal",
        Some(GuideKind::Args) => "args",
        Some(GuideKind::Tq) => "tq",
        None => "plain",
    };
    let guide = guide_of(kind, &a.params);
    let specs: Vec<String> = a.reward.iter().map(ToString::to_string).collect();
    let name = format!("{} ({kind}, reward {})", local.name, specs.join(" + "));
    let chat = local.tokenizer.has_chat_template();
    let backend =
        guided_backend(local, reward, guide, &a.params, model_args)?.with_log(a.log.clone());
    Ok(Model::Steered(Steered {
        name,
        chat,
        backend: Box::new(backend),
    }))
}

/// The note the guided backend left on the answer `text`, if it runs.
pub fn take_note(a: &RewardArgs, text: &str) -> Option<RewardNote> {
    if a.reward.is_empty() {
        return None;
    }
    a.log.take(text)
}

/// One line: the answer's reward, and what finding it cost.
pub fn write_note(out: &mut impl Write, note: &RewardNote, a: &RewardArgs) -> std::io::Result<()> {
    let specs: Vec<String> = a.reward.iter().map(ToString::to_string).collect();
    let how = if a.params.reward_lambda.is_some() {
        " (mean − λ·std)"
    } else {
        ""
    };
    write!(
        out,
        "\nreward {:.4}{how} of {}, {} decoding",
        note.reward,
        specs.join(" + "),
        note.guide
    )?;
    if note.reward_calls > 0 {
        write!(out, ", {} texts scored", note.reward_calls)?;
    }
    writeln!(out)
}

/// What decides the answers under --guide and --reward, for `hedge eval`'s run.json (a resumed
/// run must use the same): the decoder, the rewards and the parameters.
pub fn run_setting(a: &RewardArgs) -> Option<String> {
    if a.reward.is_empty() {
        return None;
    }
    let specs: Vec<String> = a.reward.iter().map(ToString::to_string).collect();
    let p = &a.params;
    let guide = a.guide.map_or("plain", |g| match g {
        GuideKind::Deal => "deal",
        GuideKind::Args => "args",
        GuideKind::Tq => "tq",
    });
    let params = match a.guide {
        Some(GuideKind::Deal) => format!(
            "init_beams {}, lookahead {}, top_k {}, max_iterations {}",
            p.deal_beams, p.deal_lookahead, p.deal_top_k, p.deal_iterations
        ),
        Some(GuideKind::Args) => format!("top_k {}, w {}", p.guide_top_k, p.reward_weight),
        Some(GuideKind::Tq) => format!(
            "top_k {}, w {}, rollout {}, baseline {}",
            p.guide_top_k,
            p.reward_weight,
            p.tq_rollout,
            p.tq_baseline.as_deref().unwrap_or("the model")
        ),
        None => String::new(),
    };
    let robust = p.reward_lambda.map_or(String::new(), |l| {
        format!(
            "; mean − {l}·std over {} perturbed copies",
            p.reward_perturb.unwrap_or(1)
        )
    });
    Some(format!("{guide} ({params}): {}{robust}", specs.join(" + ")))
}
