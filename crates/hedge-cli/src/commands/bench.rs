//! `hedge bench`: speed measured as ratios in one run, never as a bare pass/fail time.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use hedge_core::{score_all, EstimatorSpec, SummaryOptions};
use hedge_engine::{LocalModel, LogitsAt, SamplingParams, SeqInput, Stats};
use serde_json::json;

use crate::args::{BenchArgs, BenchCommand, BenchDecodeArgs, BenchMetricsArgs, BenchWhiteboxArgs};
use crate::{scored, summary, synthetic};

pub fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    match a.which {
        BenchCommand::Whitebox(w) => whitebox(w),
        BenchCommand::Decode(d) => decode(d),
        BenchCommand::Metrics(m) => metrics(m),
        BenchCommand::Sampling(s) => super::bench_sampling::run(s),
        BenchCommand::Reward(r) => super::bench_reward::run(*r),
        BenchCommand::Speculative(s) => super::bench_speculative::run(*s),
    }
}

/// A deterministic prompt of `n` ids from the middle of the vocabulary (no special tokens).
pub(super) fn bench_prompt(model: &LocalModel, n: usize) -> Vec<u32> {
    let v = model.decoder.config().vocab_size as u64;
    (0..n as u64)
        .map(|i| (300 + (i * 7919) % (v - 300).max(1)) as u32 % v as u32)
        .collect()
}

fn whitebox(a: BenchWhiteboxArgs) -> anyhow::Result<ExitCode> {
    let model = super::load_model(&a.model)?;
    let prompt = bench_prompt(&model, 16);
    let params = SamplingParams {
        max_tokens: a.tokens,
        ignore_eos: true,
        ..SamplingParams::default()
    };
    let specs = EstimatorSpec::whitebox_all();
    let mut best_off = f64::INFINITY;
    let mut best_on = f64::INFINITY;
    let mut n_scores = 0;
    // Warm-up, then interleave the two variants so that both see the same machine load.
    model.sample(&prompt, 1, &params, 5, Stats::Off)?;
    for _ in 0..a.rounds.max(1) {
        let t = Instant::now();
        model.sample(&prompt, 1, &params, 5, Stats::Off)?;
        best_off = best_off.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let gens = model.sample(&prompt, 1, &params, 5, Stats::On)?;
        let scores = score_all(&specs, &gens[0].tokens);
        best_on = best_on.min(t.elapsed().as_secs_f64());
        n_scores = scores.len();
    }
    let off = a.tokens as f64 / best_off;
    let on = a.tokens as f64 / best_on;
    let ratio = on / off;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer(
            &mut out,
            &json!({
                "bench": "whitebox", "model": model.name, "tokens": a.tokens,
                "plain_tok_s": off, "whitebox_tok_s": on, "ratio": ratio, "estimators": n_scores,
            }),
        )?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "model {}: greedy decoding of {} tokens, best of {} rounds",
            model.name, a.tokens, a.rounds
        )?;
        writeln!(
            out,
            "plain greedy                           {off:8.1} tokens/s"
        )?;
        writeln!(
            out,
            "with statistics + {n_scores} estimators         {on:8.1} tokens/s"
        )?;
        writeln!(out, "ratio (on / off)                       {ratio:8.3}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Seconds of one prefill of `prompt` and of `new_tokens` greedy steps after it, at batch 1.
fn decode_round(
    model: &LocalModel,
    prompt: &[u32],
    new_tokens: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut cache = model.decoder.new_cache();
    let t = Instant::now();
    let logits = model.decoder.forward_seqs(
        &mut [SeqInput {
            tokens: prompt,
            cache: Some(&mut cache),
        }],
        LogitsAt::Last,
    )?;
    let row: Vec<f32> = logits.squeeze(0)?.to_vec1()?;
    let prefill = t.elapsed().as_secs_f64();
    let mut next = hedge_engine::sampling::argmax(&row);
    let t = Instant::now();
    for _ in 0..new_tokens {
        let logits = model.decoder.forward_seqs(
            &mut [SeqInput {
                tokens: &[next],
                cache: Some(&mut cache),
            }],
            LogitsAt::Last,
        )?;
        let row: Vec<f32> = logits.squeeze(0)?.to_vec1()?;
        next = hedge_engine::sampling::argmax(&row);
    }
    Ok((prefill, t.elapsed().as_secs_f64()))
}

fn decode(a: BenchDecodeArgs) -> anyhow::Result<ExitCode> {
    let mut models = vec![super::load_model(&a.model)?];
    if let Some(dtype) = a.compare_dtype {
        let mut other = a.model.clone();
        other.dtype = dtype;
        models.push(super::load_model(&other)?);
    }
    let prompt = bench_prompt(&models[0], a.prompt_tokens.max(1));
    let step_bytes: Vec<usize> = models
        .iter()
        .map(super::bench_memory::weight_bytes_per_step)
        .collect();
    let probe = super::bench_memory::ReadProbe::new(step_bytes.iter().copied().max().unwrap_or(0));
    // Per model: prefill and decode seconds of each timed round, and the GB/s at which the
    // machine read that model's step of weights right after.
    let mut times: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); models.len()];
    let mut reads: Vec<Vec<f64>> = vec![Vec::new(); models.len()];
    // Round 0 is the warm-up; the models alternate so that both see the same machine load.
    for round in 0..=a.rounds.max(1) {
        for (i, (model, (prefills, decodes))) in models.iter().zip(&mut times).enumerate() {
            let (prefill, decode) = decode_round(model, &prompt, a.new_tokens)?;
            let read = probe.read_gb_s(step_bytes[i]);
            if round > 0 {
                prefills.push(prefill);
                decodes.push(decode);
                reads[i].push(read);
            }
        }
    }
    // Per model: weights GB per step, GB/s decoding reads them at, GB/s the machine reads.
    let memory: Vec<(f64, f64, f64)> = speeds_memory(&step_bytes, &times, &mut reads, a.new_tokens);
    let speeds: Vec<(f64, f64)> = times
        .iter_mut()
        .map(|(p, d)| {
            (
                prompt.len() as f64 / median(p),
                a.new_tokens as f64 / median(d),
            )
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if a.json {
        for ((model, (prefill_tok_s, decode_tok_s)), (gb, decode_gb_s, read_gb_s)) in
            models.iter().zip(&speeds).zip(&memory)
        {
            serde_json::to_writer(
                &mut out,
                &json!({
                    "impl": "hedge", "model": model.name,
                    "dtype": model.decoder.weight_dtype().as_str(),
                    "prompt_tokens": prompt.len(), "new_tokens": a.new_tokens,
                    "prefill_tok_s": prefill_tok_s, "decode_tok_s": decode_tok_s,
                    "weights_gb_per_step": gb, "decode_read_gb_s": decode_gb_s,
                    "machine_read_gb_s": read_gb_s, "bound_tok_s": read_gb_s / gb,
                    "threads": rayon::current_num_threads(),
                }),
            )?;
            writeln!(out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "model {}: batch 1, f32 compute, {} prompt tokens, {} new tokens, median of {} rounds",
        models[0].name,
        prompt.len(),
        a.new_tokens,
        a.rounds.max(1)
    )?;
    writeln!(
        out,
        "{:18}{:>15}{:>15}",
        "weights", "prefill tok/s", "decode tok/s"
    )?;
    for (model, (prefill, decode)) in models.iter().zip(&speeds) {
        let dtype = model.decoder.weight_dtype().as_str();
        writeln!(out, "{dtype:18}{prefill:15.1}{decode:15.1}")?;
    }
    writeln!(
        out,
        "memory (median; all {} threads reading the same bytes right after each round):",
        rayon::current_num_threads()
    )?;
    for (model, (gb, decode_gb_s, read_gb_s)) in models.iter().zip(&memory) {
        writeln!(
            out,
            "  {}: {:.0} MB of weights per step; decoding reads {decode_gb_s:.1} GB/s, the \
             machine {read_gb_s:.1} GB/s: a bound of {:.1} tokens/s, {:.0} % reached",
            model.decoder.weight_dtype().as_str(),
            gb * 1e3,
            read_gb_s / gb,
            100.0 * decode_gb_s / read_gb_s
        )?;
    }
    if let [first, second] = speeds[..] {
        writeln!(
            out,
            "{:18}{:15.2}{:15.2}",
            format!(
                "{} / {}",
                models[0].decoder.weight_dtype().as_str(),
                models[1].decoder.weight_dtype().as_str()
            ),
            first.0 / second.0,
            first.1 / second.1
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Per model: GB of weights per step, the GB/s decoding read them at (median round), and the
/// median GB/s the machine read the same bytes at.
fn speeds_memory(
    step_bytes: &[usize],
    times: &[(Vec<f64>, Vec<f64>)],
    reads: &mut [Vec<f64>],
    new_tokens: usize,
) -> Vec<(f64, f64, f64)> {
    step_bytes
        .iter()
        .zip(times)
        .zip(reads.iter_mut())
        .map(|((&bytes, (_, decodes)), reads)| {
            let gb = bytes as f64 / 1e9;
            let mut decodes = decodes.clone();
            let decode_tok_s = new_tokens as f64 / median(&mut decodes);
            (gb, gb * decode_tok_s, median(reads))
        })
        .collect()
}

/// Best-of-rounds seconds to parse and to compute the metrics of `n` synthetic rows.
fn time_metrics(n: usize, a: &BenchMetricsArgs) -> anyhow::Result<(f64, f64)> {
    let mut text = Vec::new();
    synthetic::write_scored(&mut text, n, a.estimators, a.seed)?;
    let opts = SummaryOptions {
        resamples: 0,
        ..SummaryOptions::default()
    };
    let (mut parse, mut compute) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..a.rounds.max(1) {
        let t = Instant::now();
        let data = scored::read(text.as_slice(), |_| {})?;
        parse = parse.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let s = summary::compute(&data, &opts, None, serde_json::Map::new())?;
        compute = compute.min(t.elapsed().as_secs_f64());
        std::hint::black_box(s);
    }
    Ok((parse, compute))
}

fn metrics(a: BenchMetricsArgs) -> anyhow::Result<ExitCode> {
    if a.rows < 100 || a.estimators == 0 {
        bail!("--rows must be at least 100 and --estimators at least 1");
    }
    let sizes = [a.rows / 10, a.rows];
    let mut per_million = Vec::new(); // (parse, compute) seconds per million rows
    for n in sizes {
        let (parse, compute) = time_metrics(n, &a)?;
        let scale = 1e6 / n as f64;
        per_million.push((parse * scale, compute * scale));
    }
    let ratio = |f: fn(&(f64, f64)) -> f64| f(&per_million[1]) / f(&per_million[0]);
    let parse_ratio = ratio(|p| p.0);
    let compute_ratio = ratio(|p| p.1);
    let nlogn = (sizes[1] as f64).ln() / (sizes[0] as f64).ln();
    let threads = rayon::current_num_threads();
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer(
            &mut out,
            &json!({
                "bench": "metrics", "estimators": a.estimators, "threads": threads,
                "rows": sizes, "parse_s_per_million": [per_million[0].0, per_million[1].0],
                "compute_s_per_million": [per_million[0].1, per_million[1].1],
                "parse_ratio": parse_ratio, "compute_ratio": compute_ratio, "nlogn_ratio": nlogn,
            }),
        )?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "hedge metrics on synthetic scores: {} estimators, bootstrap off, {threads} threads, \
             best of {} rounds",
            a.estimators,
            a.rounds.max(1)
        )?;
        writeln!(
            out,
            "{:>10}  {:>22}  {:>22}",
            "rows", "parse (s / M rows)", "metrics (s / M rows)"
        )?;
        for (n, (p, c)) in sizes.iter().zip(&per_million) {
            writeln!(out, "{n:>10}  {p:>22.3}  {c:>22.3}")?;
        }
        writeln!(
            out,
            "ratio {} / {}: parse {parse_ratio:.3}, metrics {compute_ratio:.3} \
             (N log N predicts {nlogn:.3}, N² would give 10)",
            sizes[1], sizes[0]
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The median of a non-empty list of timings (sorted in place).
pub(super) fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}
