//! `hedge bench sampling`: n samples from one prefill and a forked cache, decoded as one batch
//! (hedge), against n separate generations (LM-Polygraph's loop), both divided by one greedy
//! generation of the same length, measured in one run; and the forward pass of one decoding
//! step of n rows against one of a single row, what the batch costs before sampling and
//! statistics.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use hedge_engine::{KvCache, LocalModel, LogitsAt, SamplingParams, SeqInput, Stats};
use serde_json::json;

use crate::args::BenchSamplingArgs;

/// Best-of-rounds seconds of the three variants, and of one decoding step's forward pass of 1
/// and of n rows.
struct Times {
    greedy: f64,
    fork: f64,
    separate: f64,
    step_1: f64,
    step_n: f64,
}

/// Seconds per forward pass of `steps` decoding steps of one row, then of n rows, each row
/// continuing its own fork of the prefilled `cache` with its own greedy token.
fn step_round(
    model: &LocalModel,
    cache: &KvCache,
    n: usize,
    steps: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut per_step = [0.0; 2];
    for (slot, rows) in [1, n].into_iter().enumerate() {
        let mut caches = (0..rows)
            .map(|_| cache.fork())
            .collect::<Result<Vec<_>, _>>()?;
        let mut next: Vec<u32> = (0..rows as u32).map(|i| 300 + i).collect();
        let t = Instant::now();
        for _ in 0..steps {
            let last: Vec<[u32; 1]> = next.iter().map(|&id| [id]).collect();
            let mut inputs: Vec<SeqInput> = caches
                .iter_mut()
                .zip(&last)
                .map(|(c, id)| SeqInput {
                    tokens: id,
                    cache: Some(c),
                })
                .collect();
            let logits: Vec<Vec<f32>> = model
                .decoder
                .forward_seqs(&mut inputs, LogitsAt::Last)?
                .to_vec2()?;
            next = logits
                .iter()
                .map(|r| hedge_engine::sampling::argmax(r))
                .collect();
        }
        per_step[slot] = t.elapsed().as_secs_f64() / steps as f64;
    }
    Ok((per_step[0], per_step[1]))
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
    let mut cache = model.decoder.new_cache();
    model.decoder.forward_seqs(
        &mut [SeqInput {
            tokens: &prompt,
            cache: Some(&mut cache),
        }],
        LogitsAt::Last,
    )?;
    // Warm-up, then the variants interleaved so that all see the same machine load.
    time_round(&model, &prompt, a.samples.min(2), a.tokens.min(4))?;
    let mut best = Times {
        greedy: f64::INFINITY,
        fork: f64::INFINITY,
        separate: f64::INFINITY,
        step_1: f64::INFINITY,
        step_n: f64::INFINITY,
    };
    // Each round's own ratio too: its greedy and forked runs follow each other, so they see
    // nearly the same load, where the best of each may come from different minutes.
    let mut round_ratios = Vec::with_capacity(a.rounds.max(1));
    for _ in 0..a.rounds.max(1) {
        let (g, f, s) = time_round(&model, &prompt, a.samples, a.tokens)?;
        round_ratios.push(f / g);
        best.greedy = best.greedy.min(g);
        best.fork = best.fork.min(f);
        best.separate = best.separate.min(s);
        let (s1, sn) = step_round(&model, &cache, a.samples, a.tokens)?;
        best.step_1 = best.step_1.min(s1);
        best.step_n = best.step_n.min(sn);
    }
    let fork_ratio = best.fork / best.greedy;
    let separate_ratio = best.separate / best.greedy;
    let speedup = best.separate / best.fork;
    let step_ratio = best.step_n / best.step_1;
    let median_ratio = super::bench::median(&mut round_ratios);
    let (lowest, highest) = (round_ratios[0], round_ratios[round_ratios.len() - 1]);
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer(
            &mut out,
            &json!({
                "bench": "sampling", "model": model.name, "samples": a.samples,
                "prompt_tokens": a.prompt_tokens, "tokens": a.tokens, "rounds": a.rounds.max(1),
                "greedy_s": best.greedy, "fork_s": best.fork, "separate_s": best.separate,
                "fork_over_greedy": fork_ratio, "fork_over_greedy_rounds": round_ratios,
                "fork_over_greedy_median": median_ratio, "separate_over_greedy": separate_ratio,
                "separate_over_fork": speedup, "step_1_s": best.step_1, "step_n_s": best.step_n,
                "step_n_over_1": step_ratio, "threads": rayon::current_num_threads(),
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
        writeln!(
            out,
            "{n} samples / 1 greedy within each round: median {median_ratio:.2}× ({lowest:.2}–{highest:.2}×)"
        )?;
        writeln!(out, "separate / forked: {speedup:.2}×")?;
        writeln!(
            out,
            "one decoding step's forward pass: {:.1} ms for 1 row, {:.1} ms for {n} rows ({step_ratio:.2}×)",
            best.step_1 * 1e3,
            best.step_n * 1e3
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
