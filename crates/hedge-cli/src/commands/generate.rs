//! `hedge generate`: answer a prompt, colour each token by its probability, and score it.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use hedge_engine::{Backend, GenerationRequest, SamplingParams};
use serde_json::{json, Value};

use crate::args::GenerateArgs;
use crate::model::Model;
use crate::render;
use crate::uncertainty::{insert_evidence, write_samples, Scorer};

pub fn run(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    // Check the flags (and load a similarity model) before paying for the model load.
    let (scorer, _) = super::policy::scorer(&a.estimators, &a.steer.policy, a.seed)?;
    sampling(&a).validate()?;
    let cascade = super::cascade::load(&a.steer.cascade, &a.model.device, a.model.dtype)?;
    let model = match cascade {
        Some(m) => m,
        None => super::nudge::load(&a.model, &a.steer.nudge)?,
    };
    let model = super::speculative::wrap(model, &a.steer, &a.model)?;
    let model = super::reward::guide(model, &a.steer.reward, &a.model, a.seed)?;
    run_with(&model, scorer, a)
}

fn sampling(a: &GenerateArgs) -> SamplingParams {
    SamplingParams {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        seed: a.seed,
        max_tokens: a.max_tokens,
        stop: a.stop.clone(),
        ignore_eos: false,
    }
}

/// `hedge generate` on a model already loaded (`hedge ask` loads it to read its chat template).
pub fn run_with(model: &Model, mut scorer: Scorer, a: GenerateArgs) -> anyhow::Result<ExitCode> {
    let choice = a.choice.choice()?;
    let req = GenerationRequest {
        prompt: a.prompt.clone(),
        chat: a.chat,
        sampling: sampling(&a),
        top_logprobs: a.estimators.top_logprobs,
    };
    let start = Instant::now();
    let gen = model.generate(&req)?;
    let secs = start.elapsed().as_secs_f64();
    let route = super::cascade::take_route(&a.steer.cascade);
    let speculative = super::speculative::last(&a.steer);
    let reward = super::reward::take_note(&a.steer.reward, &gen.text);
    let nudged = super::nudge::take(&a.steer.nudge, &gen);
    let (scores, gathered) =
        scorer.score(model, &req, &a.prompt, choice.as_ref(), &gen, &mut |_| {})?;
    let policy = super::policy::resolve(&a.steer.policy)?;
    let decision = policy
        .as_ref()
        .map(|p| p.decide(&gen.text, &scores, &gathered));
    let mut out = std::io::stdout().lock();
    if a.output.json {
        let mut v = json!({
            "model": model.name(),
            "prompt": a.prompt,
            "text": gen.text,
            "finish_reason": gen.finish_reason,
            "prompt_tokens": gen.prompt_tokens,
            "tokens": gen.tokens,
            "scores": scores,
        });
        if let Value::Object(obj) = &mut v {
            if !gen.token_stats.is_full() {
                obj.insert("token_stats".into(), serde_json::to_value(gen.token_stats)?);
            }
            insert_evidence(obj, &gathered)?;
            if let Some(r) = &route {
                obj.insert("cascade".into(), serde_json::to_value(r)?);
            }
            if let Some(r) = &reward {
                obj.insert("reward".into(), serde_json::to_value(r)?);
            }
            if let Some(s) = &speculative {
                obj.insert("speculative".into(), s.to_json());
            }
            if let Some(n) = &nudged {
                obj.insert("nudging".into(), super::nudge::to_json(n));
            }
            if let Some(d) = &decision {
                obj.insert("decision".into(), serde_json::to_value(d)?);
            }
        }
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let colored = render::use_color(a.output.no_color);
    render::write_tokens(&mut out, &gen.text, &gen.tokens, colored)?;
    if let Some(r) = &route {
        super::cascade::write_route(&mut out, r)?;
    }
    if let Some(r) = &reward {
        super::reward::write_note(&mut out, r, &a.steer.reward)?;
    }
    if let Some(n) = &nudged {
        super::nudge::write_human(&mut out, n, colored)?;
    }
    if let (Some(d), Some(p)) = (&decision, &policy) {
        super::policy::write_decision(&mut out, d, p)?;
    }
    writeln!(out)?;
    render::write_scores(&mut out, &scores)?;
    write_samples(&mut out, &gathered, &scorer)?;
    let finish = serde_json::to_value(gen.finish_reason)?;
    let finish = finish.as_str().unwrap_or("?");
    if gen.has_logprobs() {
        writeln!(
            out,
            "\n{} tokens, finish: {finish}, {:.1} tokens/s",
            gen.tokens.len(),
            gen.tokens.len() as f64 / secs.max(1e-9)
        )?;
        if let Some(s) = &speculative {
            super::speculative::write_line(&mut out, s)?;
        }
    } else {
        writeln!(
            out,
            "\nfinish: {finish}, {secs:.2} s (the server sent no per-token records)"
        )?;
    }
    if colored {
        render::write_legend(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}
