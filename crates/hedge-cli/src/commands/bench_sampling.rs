//! `hedge bench sampling`: n samples from one prefill and a forked cache, decoded as one batch
//! (hedge), against n separate generations (LM-Polygraph's loop), both divided by one greedy
//! generation of the same length, measured in one run.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use hedge_engine::{LocalModel, SamplingParams, Stats};
use serde_json::json;

use crate::args::BenchSamplingArgs;

/// Best-of-rounds seconds of the three variants.
struct Times {
    greedy: f64,
    fork: f64,
    separate: f64,
}

/// One greedy generation; n samples from one prefill; n separate generations (seeds
/// `seed + i`, as the `Backend::generate_n` default does) — each `tokens` long.
fn time_round(
    model: &LocalModel,
    prompt: &[u32],
    n: usize,
    tokens: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let greedy = SamplingParams {
        max_tokens: tokens,
        ignore_eos: true,
        ..SamplingParams::default()
    };
    let sampled = SamplingParams {
        temperature: 1.0,
        seed: 1,
        ..greedy.clone()
    };
    let t = Instant::now();
    model.sample(prompt, 1, &greedy, 5, Stats::On)?;
    let g = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let fork = model.sample(prompt, n, &sampled, 5, Stats::On)?;
    let f = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..n as u64 {
        let p = SamplingParams {
            seed: sampled.seed + i,
            ..sampled.clone()
        };
        model.sample(prompt, 1, &p, 5, Stats::On)?;
    }
    let s = t.elapsed().as_secs_f64();
    debug_assert!(fork.iter().all(|g| g.tokens.len() == tokens));
    Ok((g, f, s))
}

pub fn run(a: BenchSamplingArgs) -> anyhow::Result<ExitCode> {
    if a.samples == 0 || a.tokens == 0 || a.prompt_tokens == 0 {
        bail!("--samples, --tokens and --prompt-tokens must be at least 1");
    }
    if crate::model::is_remote(&a.model.model) {
        bail!("hedge bench sampling times local decoding; pass a model folder or hf:ORG/NAME");
    }
    let model = super::load_model(&a.model)?;
    let context = model.decoder.config().max_position_embeddings;
    if a.prompt_tokens + a.tokens > context {
        bail!(
            "--prompt-tokens {} + --tokens {} exceed the model's context of {context} tokens",
            a.prompt_tokens,
            a.tokens
        );
    }
    let prompt = super::bench::bench_prompt(&model, a.prompt_tokens);
    // Warm-up, then the three variants interleaved so that all see the same machine load.
    time_round(&model, &prompt, a.samples.min(2), a.tokens.min(4))?;
    let mut best = Times {
        greedy: f64::INFINITY,
        fork: f64::INFINITY,
        separate: f64::INFINITY,
    };
    for _ in 0..a.rounds.max(1) {
        let (g, f, s) = time_round(&model, &prompt, a.samples, a.tokens)?;
        best.greedy = best.greedy.min(g);
        best.fork = best.fork.min(f);
        best.separate = best.separate.min(s);
    }
    let fork_ratio = best.fork / best.greedy;
    let separate_ratio = best.separate / best.greedy;
    let speedup = best.separate / best.fork;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer(
            &mut out,
            &json!({
                "bench": "sampling", "model": model.name, "samples": a.samples,
                "prompt_tokens": a.prompt_tokens, "tokens": a.tokens, "rounds": a.rounds.max(1),
                "greedy_s": best.greedy, "fork_s": best.fork, "separate_s": best.separate,
                "fork_over_greedy": fork_ratio, "separate_over_greedy": separate_ratio,
                "separate_over_fork": speedup,
            }),
        )?;
        writeln!(out)?;
    } else {
        let n = a.samples;
        writeln!(
            out,
            "model {}: {n} samples of {} tokens after a {}-token prompt, best of {} rounds",
            model.name,
            a.tokens,
            a.prompt_tokens,
            a.rounds.max(1)
        )?;
        writeln!(out, "{:<44}{:>10}{:>14}", "", "seconds", "× 1 greedy")?;
        writeln!(
            out,
            "{:<44}{:>10.3}{:>14.2}",
            "1 greedy generation", best.greedy, 1.0
        )?;
        writeln!(
            out,
            "{:<44}{:>10.3}{:>14.2}",
            format!("{n} samples, one prefill + forked cache"),
            best.fork,
            fork_ratio
        )?;
        writeln!(
            out,
            "{:<44}{:>10.3}{:>14.2}",
            format!("{n} separate generations (LM-Polygraph)"),
            best.separate,
            separate_ratio
        )?;
        writeln!(out, "separate / forked: {speedup:.2}×")?;
    }
    Ok(ExitCode::SUCCESS)
}
