//! `hedge eval --cascade SMALL,LARGE`: both models answer every question once; the report
//! gives accuracy against the fraction deferred over every τ, for --defer and the other
//! rules, computed from the two answers (nothing is run again per τ).
//!
//! A child module of `eval` (declared there with `#[path]`), so that it shares its item
//! reader, resume checks and run settings.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context};
use hedge_engine::{Backend, Generation, GenerationRequest, SamplingParams};
use hedge_steer::cascade::{Curve, DeferralRule, Outcome, RuleSpec};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{check_settings, read_back, read_items, resume, unescape, SamplingSettings};
use crate::args::EvalArgs;
use crate::commands::cascade::{self as cascade_cli, HeldOut, Threshold};
use crate::report::cascade::{
    label, pct, tau, threshold_source, CascadeReport, CategoryRow, OperatingPoint, RuleCurve,
};
use crate::uncertainty::{insert_evidence, Scorer};
use crate::{scored, summary};

/// The rules every cascade run reports, after --defer.
const COMPARED: [RuleSpec; 4] = [
    RuleSpec::ChowSum,
    RuleSpec::ChowAverage,
    RuleSpec::ChowQuantile { alpha: 0.0 },
    RuleSpec::PostHoc,
];

/// The settings that decide a cascade run's answers (`run.json`): a resumed run must use the
/// same. The deferral rule and τ are not among them: they decide nothing that is run, so the
/// same folder can be read again with another rule.
#[derive(Debug, Clone, Serialize)]
struct CascadeSettings {
    /// `cascade:SMALL,LARGE`.
    model: String,
    #[serde(rename = "match")]
    judge: String,
    estimators: Vec<String>,
    split: Option<String>,
    chat: bool,
    template: String,
    stop: Vec<String>,
    max_tokens: usize,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    sampling: Option<SamplingSettings>,
}

/// The fields one model's answer adds to an item line.
fn answer_fields(obj: &mut Map<String, Value>, gen: &Generation, q: f64, graded: bool) {
    obj.insert("response".into(), json!(gen.text));
    obj.insert("correct".into(), json!(u8::from(q >= 0.5)));
    if graded {
        obj.insert("quality".into(), json!(q));
    }
    obj.insert("response_tokens".into(), json!(gen.tokens.len()));
    obj.insert("finish_reason".into(), json!(gen.finish_reason));
    obj.insert("tokens".into(), json!(gen.tokens));
}

pub(super) fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let cargs = a.steer.cascade.clone();
    let Some(pair) = cargs.models.clone() else {
        bail!("--cascade is not set");
    };
    if a.steer.policy.policy.is_some() {
        bail!(
            "--policy does not apply to `hedge eval --cascade`, which keeps both models' \
             answers to draw the deferral curve; evaluate a policy on one model's run"
        );
    }
    let mut scorer = Scorer::new(
        &a.estimators.estimators,
        &a.estimators.sampling,
        a.summary.seed,
    )?;
    let template = unescape(&a.template);
    if !template.contains("{question}") {
        bail!("--template {:?}: it must contain {{question}}", a.template);
    }
    let sampling = SamplingParams {
        max_tokens: a.max_tokens,
        stop: a.stop.iter().map(|s| unescape(s)).collect(),
        ..SamplingParams::default()
    };
    sampling.validate()?;
    let (opts, calibration) = crate::commands::summary_setup(&a.summary)?;
    // The held-out run (--defer-fit) fits posthoc and chooses τ; without it posthoc is
    // fitted on this run once it is done.
    let held_out = cascade_cli::held_out(&cargs)?;
    let fixed = match (cargs.defer, &held_out) {
        (RuleSpec::PostHoc, None) => None,
        _ => Some(cascade_cli::rule_and_threshold(&cargs, held_out.as_ref())?),
    };
    let (items, mut bad) = read_items(&a.data, a.split.as_deref(), a.limit)?;

    let (small, large) = cascade_cli::load_pair(&cargs, &a.model.device, a.model.dtype)?;
    let templates = small.has_chat_template() && large.has_chat_template();
    if a.chat && !a.no_chat && !templates {
        bail!("--chat: both models of --cascade need a chat template; run with --no-chat");
    }
    let chat = !a.no_chat && (a.chat || templates);
    let settings = CascadeSettings {
        model: cascade_cli::run_name(&pair.small, &pair.large),
        judge: a.judge.to_string(),
        estimators: scorer.specs().iter().map(ToString::to_string).collect(),
        split: a.split.clone(),
        chat,
        template: template.clone(),
        stop: sampling.stop.clone(),
        max_tokens: a.max_tokens,
        sampling: scorer.gathers().then(|| SamplingSettings {
            samples: scorer.options().samples,
            sample_temperature: scorer.options().temperature,
            seed: scorer.options().seed,
            similarity: scorer.similarity().map(|k| k.to_string()),
            similarity_model: scorer
                .similarity()
                .and(a.estimators.sampling.similarity_model.clone()),
        }),
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    check_settings(&a.out, &settings)?;
    let items_path = a.out.join("items.jsonl");
    let (todo, mut out, bar) = resume(&items_path, &items)?;
    let mut failed = 0;
    for item in todo {
        let req = GenerationRequest {
            prompt: template.replace("{question}", &item.question),
            chat,
            sampling: sampling.clone(),
            top_logprobs: a.estimators.top_logprobs,
        };
        bar.set_message(small.name().to_string());
        let result = (|| -> anyhow::Result<_> {
            let gen = small.generate(&req)?;
            let choice = item.choice.as_ref();
            let scored =
                scorer.score(&small, &req, &item.question, choice, &gen, &mut |stage| {
                    bar.set_message(stage.label());
                })?;
            bar.set_message(large.name().to_string());
            let big = large.generate(&req)?;
            Ok((gen, scored, big))
        })();
        if result.is_err() && scorer.exhausted() {
            bar.finish_and_clear();
            return result.map(|_| ExitCode::FAILURE);
        }
        match result {
            Ok((gen, (scores, gathered), big)) => {
                let mut obj = item.fields.clone();
                let q = a.judge.judge(&gen.text, &item.answers);
                answer_fields(&mut obj, &gen, q, a.judge.graded());
                obj.insert("scores".into(), serde_json::to_value(&scores)?);
                insert_evidence(&mut obj, &gathered)?;
                let mut l = Map::new();
                l.insert("model".into(), json!(large.name()));
                let ql = a.judge.judge(&big.text, &item.answers);
                answer_fields(&mut l, &big, ql, a.judge.graded());
                obj.insert("large".into(), Value::Object(l));
                serde_json::to_writer(&mut out, &obj)?;
                writeln!(out)?;
                out.flush()?;
            }
            Err(e) => {
                failed += 1;
                bar.suspend(|| {
                    eprintln!("{}:{}: id {}: {e:#}", a.data.display(), item.line, item.key);
                });
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (_, data) = read_back(out, &items_path)?;
    let answered = HeldOut::read(&items_path)?;
    let report = report(
        &answered,
        &cargs,
        held_out.as_ref(),
        fixed,
        (small.name(), large.name()),
    )?;

    let mut context = Map::new();
    context.insert("model".into(), json!(settings.model));
    context.insert("data".into(), json!(a.data.display().to_string()));
    context.insert("split".into(), json!(settings.split));
    context.insert("match".into(), json!(settings.judge));
    context.insert("chat".into(), json!(chat));
    context.insert("items".into(), json!(items_path.display().to_string()));
    context.insert(
        "answers scored".into(),
        json!(format!("{}'s (the first stage)", small.name())),
    );
    if let Some(path) = &a.summary.calibration {
        context.insert("calibration".into(), json!(path.display().to_string()));
    }
    let summary = summary::compute(&data, &opts, calibration.as_ref(), context)?;
    write_outputs(&a.out, &summary, &data, &report)?;
    let mut stdout = std::io::stdout().lock();
    summary::write_table(&mut stdout, &summary)?;
    write_table(&mut stdout, &report)?;
    eprintln!(
        "wrote {0}/items.jsonl, {0}/summary.json and {0}/report.html",
        a.out.display()
    );
    bad += failed;
    if bad > 0 {
        eprintln!("skipped {bad} item{}", if bad == 1 { "" } else { "s" });
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The curves of --defer and of [`COMPARED`] on this run's answers, the operating point at
/// τ, and the categories. `fixed` is the rule of --defer and τ when they did not wait for
/// this run (posthoc without --defer-fit is fitted here, in-sample).
fn report(
    run: &HeldOut,
    cargs: &crate::args::CascadeArgs,
    held_out: Option<&HeldOut>,
    fixed: Option<(DeferralRule, Option<Threshold>)>,
    (small, large): (&str, &str),
) -> anyhow::Result<CascadeReport> {
    let (rule, threshold) = match fixed {
        Some(x) => x,
        None => {
            let posthoc = run.fit(cargs.label)?;
            let t = cargs.threshold.map(|value| Threshold {
                value,
                source: cascade_cli::ThresholdSource::Given,
            });
            (DeferralRule::new(RuleSpec::PostHoc, Some(posthoc))?, t)
        }
    };
    let fitted_on = |spec: RuleSpec| {
        (spec == RuleSpec::PostHoc)
            .then(|| held_out.map_or("in-sample".to_string(), |h| h.path.display().to_string()))
    };
    let mut rules = vec![(rule.clone(), fitted_on(cargs.defer))];
    for &spec in COMPARED.iter().filter(|&&s| s != cargs.defer) {
        let posthoc = match (spec, held_out) {
            (RuleSpec::PostHoc, Some(h)) => Some(h.fit(cargs.label)),
            (RuleSpec::PostHoc, None) => Some(run.fit(cargs.label)),
            _ => None,
        };
        match posthoc.transpose() {
            Ok(p) => rules.push((DeferralRule::new(spec, p)?, fitted_on(spec))),
            Err(e) => eprintln!("posthoc left out of the comparison: {e:#}"),
        }
    }
    let curves = rules
        .into_iter()
        .map(|(r, fitted_on)| {
            let curve = Curve::new(&run.outcomes(&r));
            RuleCurve {
                rule: r.to_string(),
                fitted_on,
                area: curve.area(),
                within_of_large: curve.within_of_large(cargs.within),
                table: curve.table(10),
                points: curve.points,
                posthoc: match r {
                    DeferralRule::PostHoc(p) => Some(*p),
                    DeferralRule::Chow(_) => None,
                },
            }
        })
        .collect();
    let outcomes = run.outcomes(&rule);
    let all = Curve::new(&outcomes);
    let operating_point = threshold.map(|t| {
        let p = Curve::at_threshold(&outcomes, t.value);
        OperatingPoint {
            threshold: t,
            deferred: p.deferred,
            fraction: p.fraction,
            accuracy: p.accuracy,
        }
    });
    let tau = operating_point.as_ref().map(|p| p.threshold.value);
    Ok(CascadeReport {
        small: small.to_string(),
        large: large.to_string(),
        questions: all.questions,
        small_accuracy: all.small_accuracy,
        large_accuracy: all.large_accuracy,
        rule: cargs.defer.to_string(),
        within: cargs.within,
        operating_point,
        curves,
        categories: categories(run, &outcomes, tau),
    })
}

/// Per category (items without one are left out): each model's accuracy, and at τ the
/// fraction deferred and the cascade's accuracy.
fn categories(run: &HeldOut, outcomes: &[Outcome], tau: Option<f64>) -> Vec<CategoryRow> {
    let mut groups: BTreeMap<&str, Vec<Outcome>> = BTreeMap::new();
    for (a, o) in run.answers.iter().zip(outcomes) {
        if let Some(c) = &a.category {
            groups.entry(c.as_str()).or_default().push(*o);
        }
    }
    groups
        .into_iter()
        .map(|(category, os)| {
            let c = Curve::new(&os);
            let at = tau.map(|t| Curve::at_threshold(&os, t));
            CategoryRow {
                category: category.to_string(),
                questions: os.len(),
                small_accuracy: c.small_accuracy,
                large_accuracy: c.large_accuracy,
                deferred: at.map(|p| p.fraction),
                accuracy: at.map(|p| p.accuracy),
            }
        })
        .collect()
}

/// `summary.json` with the cascade under "cascade", and `report.html` with its section.
fn write_outputs(
    dir: &std::path::Path,
    summary: &summary::Summary,
    data: &scored::Scored,
    report: &CascadeReport,
) -> anyhow::Result<()> {
    let mut v = serde_json::to_value(summary)?;
    if let Value::Object(obj) = &mut v {
        obj.insert("cascade".into(), serde_json::to_value(report)?);
    }
    let path = dir.join("summary.json");
    let mut text = serde_json::to_string_pretty(&v)?;
    text.push('\n');
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    let page = crate::report::html(summary, data)?;
    let page = crate::report::cascade::insert(&page, &crate::report::cascade::section(report)?);
    let path = dir.join("report.html");
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))
}

/// The cascade's tables on standard output.
fn write_table(out: &mut impl Write, r: &CascadeReport) -> std::io::Result<()> {
    writeln!(
        out,
        "\ncascade {} → {} on {} questions: {} alone {}, {} alone {}",
        r.small,
        r.large,
        r.questions,
        r.small,
        pct(r.small_accuracy),
        r.large,
        pct(r.large_accuracy)
    )?;
    let names: Vec<String> = r
        .curves
        .iter()
        .map(|c| {
            let mut name = label(c);
            if c.rule == r.rule {
                name.push('*');
            }
            name
        })
        .collect();
    let widths: Vec<usize> = names.iter().map(|n| n.chars().count().max(8)).collect();
    write!(out, "\naccuracy, deferring at most\ndeferred")?;
    for (n, w) in names.iter().zip(&widths) {
        write!(out, "  {n:>w$}")?;
    }
    writeln!(out)?;
    let rows = r.curves.first().map_or(0, |c| c.table.len());
    for i in 0..rows {
        let budget = 100.0 * i as f64 / (rows - 1).max(1) as f64;
        write!(out, "{:>6.0} %", budget)?;
        for (c, w) in r.curves.iter().zip(&widths) {
            let cell = c.table.get(i).map_or("—".into(), |p| pct(p.accuracy));
            write!(out, "  {cell:>w$}")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "\nsmallest deferral within {:.0} point(s) of {} (accuracy ≥ {}):",
        100.0 * r.within,
        r.large,
        pct(r.large_accuracy - r.within)
    )?;
    let w = names.iter().map(|n| n.chars().count()).max().unwrap_or(8);
    for (c, n) in r.curves.iter().zip(&names) {
        match c.within_of_large {
            Some(p) => writeln!(
                out,
                "  {n:<w$}  {:>7} deferred  τ {:>8}  accuracy {:>7}  area {:.4}",
                pct(p.fraction),
                tau(p.threshold),
                pct(p.accuracy),
                c.area
            )?,
            None => writeln!(out, "  {n:<w$}  —")?,
        }
    }
    if let Some(op) = &r.operating_point {
        writeln!(
            out,
            "\nat τ = {} ({}): {} deferred, accuracy {}",
            tau(op.threshold.value),
            threshold_source(&op.threshold),
            pct(op.fraction),
            pct(op.accuracy)
        )?;
    }
    Ok(())
}
