//! `hedge bench reward`: plain greedy decoding and each reward-guided decoder (DeAL, ARGS,
//! Transfer Q*) on one prompt set, interleaved in one run: the share of answers meeting the
//! reward, the mean reward, and tokens/s.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use hedge_engine::{Backend, GenerationRequest, SamplingParams};
use hedge_steer::reward::{RewardGuided, RewardSpec, RewardSpecKind};
use serde_json::{json, Value};

use crate::args::{BenchGuide, BenchRewardArgs};

/// The highest reward `specs` can give, when each has one: keywords w·1 (all present), length
/// 0 (on target), forbid 0 (none present); for a negative weight, w times the lowest value.
pub fn max_reward(specs: &[RewardSpec]) -> Option<f64> {
    specs
        .iter()
        .map(|s| {
            let (lo, hi) = match &s.kind {
                RewardSpecKind::Keywords(_) => (Some(0.0), Some(1.0)),
                RewardSpecKind::Length { .. } => (None, Some(0.0)),
                RewardSpecKind::Forbid(w) => (Some(-(w.len() as f64)), Some(0.0)),
                RewardSpecKind::Model { .. } => (None, None),
            };
            if s.weight >= 0.0 {
                hi.map(|h| s.weight * h)
            } else {
                lo.map(|l| s.weight * l)
            }
        })
        .sum()
}

/// The totals of one method.
#[derive(Default)]
struct Tally {
    met: usize,
    reward: f64,
    tokens: usize,
    seconds: f64,
    reward_calls: usize,
}

fn name(g: BenchGuide) -> &'static str {
    match g {
        BenchGuide::Plain => "plain",
        BenchGuide::Deal => "deal",
        BenchGuide::Args => "args",
        BenchGuide::Tq => "tq",
    }
}

/// The questions of `a.data`.
fn prompts(a: &BenchRewardArgs) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(&a.data)
        .with_context(|| format!("reading {}", a.data.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", a.data.display(), i + 1))?;
        if let Some(s) = &a.split {
            if v.get("split").and_then(Value::as_str) != Some(s) {
                continue;
            }
        }
        let q = v
            .get("question")
            .and_then(Value::as_str)
            .with_context(|| format!("{}:{}: no \"question\" string", a.data.display(), i + 1))?;
        out.push(q.to_string());
    }
    if let Some(n) = a.limit {
        out.truncate(n);
    }
    if out.is_empty() {
        bail!("{}: no question to ask", a.data.display());
    }
    Ok(out)
}

pub fn run(a: BenchRewardArgs) -> anyhow::Result<ExitCode> {
    let meet = match (a.meet, max_reward(&a.reward)) {
        (Some(m), _) | (None, Some(m)) => m,
        (None, None) => bail!(
            "--meet R: this reward has no maximum (a reward model); say from which reward an answer meets it"
        ),
    };
    if a.guides.is_empty() {
        bail!("--guides: name at least one of plain, deal, args, tq");
    }
    let prompts = prompts(&a)?;
    let model = super::load_model(&a.model)?;
    let chat = !a.no_chat && model.tokenizer.has_chat_template();
    let backends = a
        .guides
        .iter()
        .map(|&g| {
            let reward =
                super::reward::build_reward(&a.reward, &a.params, &model.tokenizer, a.seed)?;
            let guide = super::reward::guide_of(name(g), &a.params);
            super::reward::guided_backend(model.clone(), reward, guide, &a.params, &a.model)
        })
        .collect::<anyhow::Result<Vec<RewardGuided>>>()?;
    let judge = super::reward::build_reward(&a.reward, &a.params, &model.tokenizer, a.seed)?;
    let mut tallies: Vec<Tally> = a.guides.iter().map(|_| Tally::default()).collect();
    let sampling = SamplingParams {
        max_tokens: a.max_tokens,
        ..SamplingParams::default()
    };
    // Warm-up: one answer each, untimed.
    for b in &backends {
        let mut req = GenerationRequest::new(prompts[0].clone());
        req.chat = chat;
        req.sampling = sampling.clone();
        b.generate(&req)?;
    }
    let log = hedge_steer::reward::RewardLog::default();
    let backends: Vec<RewardGuided> = backends
        .into_iter()
        .map(|b| b.with_log(log.clone()))
        .collect();
    for (n, prompt) in prompts.iter().enumerate() {
        let mut req = GenerationRequest::new(prompt.clone());
        req.chat = chat;
        req.sampling = sampling.clone();
        req.top_logprobs = 0;
        for (b, t) in backends.iter().zip(&mut tallies) {
            let start = Instant::now();
            let gen = b.generate(&req)?;
            t.seconds += start.elapsed().as_secs_f64();
            let note = log.take(&gen.text);
            let r = judge.reward(prompt, &gen.text)?;
            t.reward += r;
            t.met += usize::from(r >= meet);
            t.tokens += gen.tokens.len();
            t.reward_calls += note.map_or(0, |n| n.reward_calls);
        }
        eprint!("\r{}/{} prompts", n + 1, prompts.len());
    }
    eprintln!();
    let specs: Vec<String> = a.reward.iter().map(ToString::to_string).collect();
    let n = prompts.len();
    let speed = |t: &Tally| t.tokens as f64 / t.seconds.max(1e-9);
    let plain_speed = a
        .guides
        .iter()
        .position(|&g| g == BenchGuide::Plain)
        .map(|i| speed(&tallies[i]));
    let mut out = std::io::stdout().lock();
    if a.json {
        let methods: Vec<Value> = a
            .guides
            .iter()
            .zip(&tallies)
            .map(|(&g, t)| {
                json!({
                    "method": name(g),
                    "met": t.met,
                    "share_met": t.met as f64 / n as f64,
                    "mean_reward": t.reward / n as f64,
                    "tokens": t.tokens,
                    "seconds": t.seconds,
                    "tok_s": speed(t),
                    "slowdown": plain_speed.map(|p| p / speed(t)),
                    "reward_texts_per_token": t.reward_calls as f64 / t.tokens.max(1) as f64,
                })
            })
            .collect();
        serde_json::to_writer(
            &mut out,
            &json!({
                "bench": "reward", "model": model.name, "reward": specs, "meet": meet,
                "prompts": n, "data": a.data.display().to_string(), "chat": chat,
                "max_tokens": a.max_tokens, "methods": methods,
            }),
        )?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "model {}: reward {} (meets at ≥ {meet}), {n} prompts of {}{}, greedy, at most {} tokens",
        model.name,
        specs.join(" + "),
        a.data.display(),
        if chat { " (chat)" } else { "" },
        a.max_tokens
    )?;
    writeln!(
        out,
        "{:8}{:>20}{:>13}{:>11}{:>10}{:>16}",
        "method", "meets reward", "mean reward", "tokens/s", "slowdown", "texts/token"
    )?;
    for (&g, t) in a.guides.iter().zip(&tallies) {
        let share = format!("{:.1}% ({}/{n})", 100.0 * t.met as f64 / n as f64, t.met);
        let slow = plain_speed.map_or("—".to_string(), |p| format!("{:.1}×", p / speed(t)));
        writeln!(
            out,
            "{:8}{share:>20}{:>13.3}{:>11.1}{slow:>10}{:>16.1}",
            name(g),
            t.reward / n as f64,
            speed(t),
            t.reward_calls as f64 / t.tokens.max(1) as f64
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
