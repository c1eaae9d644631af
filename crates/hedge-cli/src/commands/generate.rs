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
    let scorer = Scorer::new(&a.estimators.estimators, &a.estimators.sampling, a.seed)?;
    sampling(&a).validate()?;
    let model = crate::model::load(&a.model)?;
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
    let req = GenerationRequest {
        prompt: a.prompt.clone(),
        chat: a.chat,
        sampling: sampling(&a),
        top_logprobs: a.estimators.top_logprobs,
    };
    let start = Instant::now();
    let gen = model.generate(&req)?;
    let secs = start.elapsed().as_secs_f64();
    let (scores, gathered) = scorer.score(model, &req, &a.prompt, &gen, &mut |_| {})?;
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
        }
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let colored = render::use_color(a.output.no_color);
    render::write_tokens(&mut out, &gen.text, &gen.tokens, colored)?;
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
