//! `hedge bench speculative`: the target decoding alone against speculative decoding with each
//! γ, on one prompt set, interleaved in one run: tokens/s, the speed-up, the acceptance rate,
//! and where the time goes (draft forwards, target verification, bookkeeping). Greedy answers
//! are checked against the target's own on the way.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use hedge_engine::{Generation, LocalModel, SamplingParams, Stats};
use hedge_steer::speculative::{DraftLength, Speculative, SpeculativeStats};
use serde_json::{json, Value};

use crate::args::{BenchSpeculativeArgs, ModelArgs};

/// How many alternatives each token record keeps, as `hedge generate` does by default.
const TOP_LOGPROBS: usize = 5;

/// One variant over the prompt set: each prompt's fastest run, summed.
#[derive(Debug, Clone)]
struct Pass {
    seconds: f64,
    tokens: usize,
    /// Summed counts of the pass (speculative variants only).
    stats: Option<SpeculativeStats>,
}

/// One timed generation: seconds, tokens written, and the counts of a speculative one.
type Run = (f64, usize, Option<SpeculativeStats>);

/// One measured variant: the target alone (`gamma` None) or speculative with a γ and a draft
/// confidence.
#[derive(Debug)]
struct Variant {
    gamma: Option<(DraftLength, f64)>,
    best: Option<Pass>,
    /// Prompts whose greedy answer differed from the target's (greedy only).
    mismatches: Vec<usize>,
}

/// `--data` as given, or, for a relative path missing here, the same path in the source tree
/// this binary was built from (where the lab sets are), as `hedge ask` finds its model.
fn data_path(data: &std::path::Path) -> std::path::PathBuf {
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(data);
    if data.is_relative() && !data.exists() && built.is_file() {
        built
    } else {
        data.to_path_buf()
    }
}

/// The prompts as token ids, and what the table calls them.
fn prompts(
    a: &BenchSpeculativeArgs,
    target: &LocalModel,
) -> anyhow::Result<(Vec<Vec<u32>>, String)> {
    let chat = target.tokenizer.has_chat_template();
    let (texts, source): (Vec<String>, String) = if a.prompt.is_empty() {
        let text = std::fs::read_to_string(data_path(&a.data))
            .with_context(|| format!("reading --data {}", a.data.display()))?;
        let mut all = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not JSON", a.data.display(), i + 1))?;
            let q = v["question"].as_str().with_context(|| {
                format!("{}:{}: no \"question\" string", a.data.display(), i + 1)
            })?;
            all.push(q.to_string());
        }
        if all.is_empty() {
            bail!("--data {}: no question", a.data.display());
        }
        let n = a.questions.min(all.len());
        let picked: Vec<String> = if a.spread {
            (0..n).map(|i| all[i * all.len() / n].clone()).collect()
        } else {
            all.into_iter().take(n).collect()
        };
        let how = if a.spread { "spread over" } else { "first" };
        (
            picked,
            format!("{n} questions ({how} {})", a.data.display()),
        )
    } else {
        (
            a.prompt.clone(),
            format!("{} given prompts", a.prompt.len()),
        )
    };
    let ids = texts
        .iter()
        .map(|t| target.prompt_ids(t, chat))
        .collect::<Result<Vec<_>, _>>()?;
    let source = if chat {
        format!("{source}, chat template")
    } else {
        source
    };
    Ok((ids, source))
}

pub fn run(a: BenchSpeculativeArgs) -> anyhow::Result<ExitCode> {
    if a.questions == 0 && a.prompt.is_empty() {
        bail!("--questions 0: the benchmark needs at least one prompt");
    }
    if a.gammas.is_empty() {
        bail!("--gammas: give at least one γ (1 to 16, or adaptive)");
    }
    if a.confidence.is_empty() {
        bail!("--confidence: give at least one draft confidence in [0, 1]");
    }
    let params = SamplingParams {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        seed: a.seed,
        max_tokens: a.max_tokens,
        ..SamplingParams::default()
    };
    params.validate()?;
    let target = super::load_model(&a.model)?;
    let draft = super::load_model(&ModelArgs {
        model: a.draft.clone(),
        ..a.model.clone()
    })
    .with_context(|| format!("--draft {}", a.draft))?;
    let (prompts, source) = prompts(&a, &target)?;
    let greedy = a.temperature == 0.0;
    let settings: Vec<(DraftLength, f64)> = a
        .confidence
        .iter()
        .flat_map(|&c| a.gammas.iter().map(move |&g| (g, c)))
        .collect();
    let deciders: Vec<Speculative> = settings
        .iter()
        .map(|&(g, c)| Speculative::new(target.clone(), draft.clone(), g)?.with_draft_confidence(c))
        .collect::<Result<_, _>>()?;
    let mut variants: Vec<Variant> = std::iter::once(None)
        .chain(settings.iter().copied().map(Some))
        .map(|gamma| Variant {
            gamma,
            best: None,
            mismatches: Vec::new(),
        })
        .collect();
    let per_prompt = |i: usize| SamplingParams {
        seed: params.seed.wrapping_add(i as u64),
        ..params.clone()
    };

    // The target's own answers, which also warm both models up.
    let reference: Vec<Generation> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| plain(&target, p, &per_prompt(i)))
        .collect::<anyhow::Result<_>>()?;
    for (i, p) in prompts.iter().enumerate().take(4) {
        deciders[0].generate_ids(p, &per_prompt(i), TOP_LOGPROBS)?;
    }

    // Per variant and prompt, the fastest of the rounds (with its counts): the variants take
    // turns prompt by prompt, so that a burst of load elsewhere on the machine hits one
    // variant's run of one prompt, which another round then replaces.
    let mut fastest: Vec<Vec<Option<Run>>> = vec![vec![None; prompts.len()]; variants.len()];
    for _ in 0..a.rounds.max(1) {
        for (i, p) in prompts.iter().enumerate() {
            let params = per_prompt(i);
            for (v, variant) in variants.iter_mut().enumerate() {
                let t = Instant::now();
                let (gen, stats) = match v {
                    0 => (plain(&target, p, &params)?, None),
                    _ => {
                        let (gen, s) = deciders[v - 1].generate_ids(p, &params, TOP_LOGPROBS)?;
                        (gen, Some(s))
                    }
                };
                let seconds = t.elapsed().as_secs_f64();
                if greedy
                    && v > 0
                    && !same_tokens(&gen, &reference[i])
                    && !variant.mismatches.contains(&i)
                {
                    variant.mismatches.push(i);
                }
                let slot = &mut fastest[v][i];
                if slot.as_ref().is_none_or(|(s, _, _)| seconds < *s) {
                    *slot = Some((seconds, gen.tokens.len(), stats));
                }
            }
        }
    }
    for (variant, runs) in variants.iter_mut().zip(&fastest) {
        let mut pass = Pass {
            seconds: 0.0,
            tokens: 0,
            stats: variant.gamma.map(|_| SpeculativeStats::default()),
        };
        for (seconds, tokens, stats) in runs.iter().flatten() {
            pass.seconds += seconds;
            pass.tokens += tokens;
            if let (Some(total), Some(s)) = (&mut pass.stats, stats) {
                total.add(s);
            }
        }
        variant.best = Some(pass);
    }

    let base = variants[0].best.clone().context("no timed pass")?;
    let base_tok_s = base.tokens as f64 / base.seconds.max(1e-12);
    let identical = variants.iter().all(|v| v.mismatches.is_empty());
    let mut out = std::io::stdout().lock();
    if a.json {
        let rows: Vec<Value> = variants
            .iter()
            .filter_map(|v| Some((v, v.best.as_ref()?)))
            .map(|(v, b)| row_json(v, b, base_tok_s, greedy))
            .collect();
        serde_json::to_writer(
            &mut out,
            &json!({
                "bench": "speculative", "model": target.name, "draft": draft.name,
                "prompts": prompts.len(), "source": source, "max_tokens": a.max_tokens,
                "temperature": a.temperature, "top_k": a.top_k, "top_p": a.top_p,
                "seed": a.seed, "rounds": a.rounds.max(1),
                "variants": rows,
                "identical_to_target": if greedy { json!(identical) } else { Value::Null },
            }),
        )?;
        writeln!(out)?;
    } else {
        let mode = if greedy {
            "greedy".to_string()
        } else {
            format!("temperature {}", a.temperature)
        };
        writeln!(
            out,
            "target {}, draft {}: {source}, {mode}, at most {} tokens, fastest of {} rounds per prompt",
            target.name,
            draft.name,
            a.max_tokens,
            a.rounds.max(1)
        )?;
        writeln!(
            out,
            "{:<16}{:>7}{:>9}{:>9}{:>11}{:>12}{:>10}{:>10}{:>7}{:>8}{:>7}",
            "γ",
            "tokens",
            "tok/s",
            "speed-up",
            "acceptance",
            "tokens/pass",
            "draft ms",
            "target ms",
            "draft",
            "target",
            "other"
        )?;
        for v in &variants {
            if let Some(b) = &v.best {
                write_row(&mut out, v, b, base_tok_s)?;
            }
        }
        writeln!(
            out,
            "γ @ P: at most γ draft tokens a round, stopping after one the draft gave a probability \
             below P;\ndraft ms / target ms: per forward pass (the target's verify γ + 1 \
             positions); draft, target, other: shares of the time"
        )?;
        if greedy {
            if identical {
                writeln!(
                    out,
                    "greedy answers identical to the target's, token for token: {} of {} prompts, every γ",
                    prompts.len(),
                    prompts.len()
                )?;
            } else {
                for v in variants.iter().filter(|v| !v.mismatches.is_empty()) {
                    writeln!(
                        out,
                        "γ {}: {} prompts differ from the target's answer (prompts {:?})",
                        name(v),
                        v.mismatches.len(),
                        v.mismatches
                    )?;
                }
            }
        }
    }
    Ok(if identical {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The target decoding alone, with the statistics every generation keeps.
fn plain(
    target: &LocalModel,
    prompt: &[u32],
    params: &SamplingParams,
) -> anyhow::Result<Generation> {
    let mut gens = target.sample(prompt, 1, params, TOP_LOGPROBS, Stats::On)?;
    gens.pop().context("no generation")
}

fn same_tokens(a: &Generation, b: &Generation) -> bool {
    a.tokens.len() == b.tokens.len() && a.tokens.iter().zip(&b.tokens).all(|(x, y)| x.id == y.id)
}

fn ms(seconds: f64, passes: usize) -> f64 {
    if passes == 0 {
        0.0
    } else {
        1e3 * seconds / passes as f64
    }
}

/// "plain", "4", "4 @ 0.5", "adaptive @ 0.5".
fn name(v: &Variant) -> String {
    match v.gamma {
        None => "plain".into(),
        Some((g, c)) if c > 0.0 => format!("{g} @ {c}"),
        Some((g, _)) => g.to_string(),
    }
}

fn row_json(v: &Variant, b: &Pass, base_tok_s: f64, greedy: bool) -> Value {
    let tok_s = b.tokens as f64 / b.seconds.max(1e-12);
    let mut row = json!({
        "gamma": v.gamma.map_or("plain".to_string(), |(g, _)| g.to_string()),
        "draft_confidence": v.gamma.map(|(_, c)| c),
        "tokens": b.tokens, "seconds": b.seconds, "tok_s": tok_s, "speedup": tok_s / base_tok_s,
    });
    if let (Value::Object(o), Some(s)) = (&mut row, &b.stats) {
        o.insert("acceptance_rate".into(), json!(s.acceptance_rate()));
        o.insert(
            "tokens_per_target_pass".into(),
            json!(s.tokens_per_target_pass()),
        );
        o.insert("mean_gamma".into(), json!(s.mean_gamma()));
        o.insert(
            "mean_drafted".into(),
            json!(s.drafted as f64 / s.rounds.max(1) as f64),
        );
        o.insert(
            "draft_ms_per_pass".into(),
            json!(ms(s.draft_seconds, s.draft_passes)),
        );
        o.insert(
            "target_ms_per_pass".into(),
            json!(ms(s.target_seconds, s.target_passes)),
        );
        o.insert(
            "draft_share".into(),
            json!(s.draft_seconds / s.total_seconds.max(1e-12)),
        );
        o.insert(
            "target_share".into(),
            json!(s.target_seconds / s.total_seconds.max(1e-12)),
        );
        o.insert(
            "other_share".into(),
            json!(s.bookkeeping_seconds() / s.total_seconds.max(1e-12)),
        );
        o.insert("stats".into(), s.to_json());
        if greedy {
            o.insert("identical".into(), json!(v.mismatches.is_empty()));
        }
    }
    row
}

fn write_row(out: &mut impl Write, v: &Variant, b: &Pass, base_tok_s: f64) -> std::io::Result<()> {
    let tok_s = b.tokens as f64 / b.seconds.max(1e-12);
    let name = name(v);
    let Some(s) = &b.stats else {
        return writeln!(
            out,
            "{name:<16}{:>7}{tok_s:>9.1}{:>8.2}×{:>11}{:>12.2}{:>10}{:>10.3}{:>7}{:>8}{:>7}",
            b.tokens,
            1.0,
            "-",
            1.0,
            "-",
            ms(b.seconds, b.tokens),
            "-",
            "-",
            "-"
        );
    };
    let share = |x: f64| format!("{:.0} %", 100.0 * x / s.total_seconds.max(1e-12));
    writeln!(
        out,
        "{name:<16}{:>7}{tok_s:>9.1}{:>8.2}×{:>10.1}%{:>12.2}{:>10.3}{:>10.3}{:>7}{:>8}{:>7}",
        b.tokens,
        tok_s / base_tok_s,
        100.0 * s.acceptance_rate(),
        s.tokens_per_target_pass(),
        ms(s.draft_seconds, s.draft_passes),
        ms(s.target_seconds, s.target_passes),
        share(s.draft_seconds),
        share(s.target_seconds),
        share(s.bookkeeping_seconds()),
    )
}
