//! `--cascade SMALL,LARGE` for `ask`, `generate` and `eval`: the deferral rule and τ (given,
//! or chosen on a `hedge eval --cascade` run of held-out questions), the two models as one
//! [`Model::Steered`], and how a command shows which model answered.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hedge_core::TokenRecord;
use hedge_engine::WeightDtype;
use hedge_steer::cascade::{
    Cascade, Curve, DeferLabel, DeferralRule, Example, Outcome, PostHoc, Route, RuleSpec,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::args::{CascadeArgs, ModelArgs};
use crate::model::{Model, Steered};

/// One question of a `hedge eval --cascade` run: the small model's answer and the quality of
/// each model's answer (1 right, 0 wrong, or a grade).
#[derive(Debug, Clone)]
pub struct Answered {
    pub tokens: Vec<TokenRecord>,
    pub small: f64,
    pub large: f64,
    /// The item's "category" field, when it has one.
    pub category: Option<String>,
}

/// The answers of a `hedge eval --cascade` run, read back from its items.jsonl.
#[derive(Debug, Clone)]
pub struct HeldOut {
    /// The items.jsonl read.
    pub path: PathBuf,
    pub answers: Vec<Answered>,
}

/// `items.jsonl` of a run folder, or the file itself.
fn items_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("items.jsonl")
    } else {
        path.to_path_buf()
    }
}

/// The quality of an answer object: "quality" when graded, else "correct" (0/1/true/false).
fn quality(obj: &Map<String, Value>) -> Option<f64> {
    match (obj.get("quality"), obj.get("correct")) {
        (Some(Value::Number(q)), _) => q.as_f64(),
        (_, Some(Value::Bool(b))) => Some(f64::from(u8::from(*b))),
        (_, Some(Value::Number(c))) => c.as_f64(),
        _ => None,
    }
}

/// One line of a cascade run; the error says what is missing.
fn parse_answered(line: &[u8]) -> Result<Answered, String> {
    let obj: Map<String, Value> =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON object ({e})"))?;
    let small = quality(&obj).ok_or("no \"correct\" or \"quality\"")?;
    let large = obj
        .get("large")
        .and_then(Value::as_object)
        .ok_or("no \"large\" answer: --defer-fit takes a `hedge eval --cascade` run")?;
    let large = quality(large).ok_or("\"large\" has no \"correct\" or \"quality\"")?;
    let tokens = obj
        .get("tokens")
        .cloned()
        .ok_or("no \"tokens\" (the small model's answer, step by step)")?;
    let tokens: Vec<TokenRecord> =
        serde_json::from_value(tokens).map_err(|e| format!("bad \"tokens\" ({e})"))?;
    Ok(Answered {
        tokens,
        small,
        large,
        category: obj
            .get("category")
            .and_then(Value::as_str)
            .map(String::from),
    })
}

impl HeldOut {
    /// Reads a `hedge eval --cascade` run: its folder or its items.jsonl. A line that is not
    /// a cascade answer is reported on standard error as `FILE:LINE: reason` and skipped.
    ///
    /// # Errors
    /// When the file cannot be read or holds no cascade answer at all.
    pub fn read(path: &Path) -> anyhow::Result<HeldOut> {
        let path = items_path(path);
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut answers = Vec::new();
        let mut bad = 0;
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_answered(raw) {
                Ok(a) => answers.push(a),
                Err(reason) => {
                    bad += 1;
                    if bad <= 3 {
                        eprintln!("{}:{}: {reason}; skipped", path.display(), i + 1);
                    }
                }
            }
        }
        if bad > 3 {
            eprintln!("{}: {} more lines skipped", path.display(), bad - 3);
        }
        if answers.is_empty() {
            bail!(
                "{}: no answer of both models (a `hedge eval --cascade` run's items.jsonl)",
                path.display()
            );
        }
        Ok(HeldOut { path, answers })
    }

    /// The post-hoc rule fitted on these answers.
    ///
    /// # Errors
    /// When the labels leave nothing to learn (all the same).
    pub fn fit(&self, label: DeferLabel) -> anyhow::Result<PostHoc> {
        let examples: Vec<Example<'_>> = self
            .answers
            .iter()
            .map(|a| Example {
                tokens: &a.tokens,
                small_correct: hedge_core::metrics::is_correct(a.small),
                large_correct: hedge_core::metrics::is_correct(a.large),
            })
            .collect();
        PostHoc::fit(&examples, label, hedge_core::logistic::DEFAULT_L2)
            .with_context(|| format!("fitting posthoc on {}", self.path.display()))
    }

    /// Each answer's deferral score under `rule`, with both qualities.
    pub fn outcomes(&self, rule: &DeferralRule) -> Vec<Outcome> {
        self.answers
            .iter()
            .map(|a| Outcome {
                score: rule.score(&a.tokens),
                small: a.small,
                large: a.large,
            })
            .collect()
    }
}

/// Where τ comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum ThresholdSource {
    /// `--defer-threshold`.
    Given,
    /// Chosen on a held-out run: the smallest deferral within `within` of the large model's
    /// accuracy there.
    Fitted {
        run: String,
        within: f64,
        /// Fraction deferred on the held-out run at this τ.
        fraction: f64,
        /// The cascade's accuracy there.
        accuracy: f64,
        /// The large model's accuracy there.
        large_accuracy: f64,
    },
}

/// τ and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    pub value: f64,
    #[serde(flatten)]
    pub source: ThresholdSource,
}

/// The rule of `--defer` (the post-hoc one fitted on `held_out`) and τ: `--defer-threshold`,
/// else chosen on `held_out`, else none.
///
/// # Errors
/// posthoc without a held-out run; a fit that fails.
pub fn rule_and_threshold(
    args: &CascadeArgs,
    held_out: Option<&HeldOut>,
) -> anyhow::Result<(DeferralRule, Option<Threshold>)> {
    let posthoc = match (args.defer, held_out) {
        (RuleSpec::PostHoc, Some(h)) => Some(h.fit(args.label)?),
        _ => None,
    };
    let rule = DeferralRule::new(args.defer, posthoc)?;
    let threshold = match (args.threshold, held_out) {
        (Some(value), _) => Some(Threshold {
            value,
            source: ThresholdSource::Given,
        }),
        (None, Some(h)) => {
            let curve = Curve::new(&h.outcomes(&rule));
            curve.within_of_large(args.within).map(|p| Threshold {
                value: p.threshold,
                source: ThresholdSource::Fitted {
                    run: h.path.display().to_string(),
                    within: args.within,
                    fraction: p.fraction,
                    accuracy: p.accuracy,
                    large_accuracy: curve.large_accuracy,
                },
            })
        }
        (None, None) => None,
    };
    Ok((rule, threshold))
}

/// Warns when `held_out` was made by other models than `--cascade` names (its run.json).
fn check_models(held_out: &HeldOut, small: &str, large: &str) {
    let Some(dir) = held_out.path.parent() else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(dir.join("run.json")) else {
        return;
    };
    let run: Value = serde_json::from_str(&text).unwrap_or_default();
    let want = run_name(small, large);
    if let Some(model) = run.get("model").and_then(Value::as_str) {
        if model != want {
            eprintln!(
                "warning: --defer-fit {} was made by {model}, not {want}",
                held_out.path.display()
            );
        }
    }
}

/// How a cascade run is named in run.json and summaries.
pub fn run_name(small: &str, large: &str) -> String {
    format!("cascade:{small},{large}")
}

/// The held-out run of `--defer-fit`, read and checked against the models.
///
/// # Errors
/// As [`HeldOut::read`].
pub fn held_out(args: &CascadeArgs) -> anyhow::Result<Option<HeldOut>> {
    let (Some(path), Some(pair)) = (&args.fit, &args.models) else {
        return Ok(None);
    };
    let h = HeldOut::read(path).context("--defer-fit")?;
    check_models(&h, &pair.small, &pair.large);
    Ok(Some(h))
}

/// Loads SMALL and LARGE of `--cascade` on `device`.
///
/// # Errors
/// When a model cannot be loaded.
pub fn load_pair(
    args: &CascadeArgs,
    device: &str,
    dtype: WeightDtype,
) -> anyhow::Result<(Model, Model)> {
    let Some(pair) = &args.models else {
        bail!("--cascade is not set");
    };
    let load = |spec: &str| {
        crate::model::load(&ModelArgs {
            model: spec.to_string(),
            device: device.to_string(),
            dtype,
        })
        .with_context(|| format!("--cascade: model {spec}"))
    };
    Ok((load(&pair.small)?, load(&pair.large)?))
}

/// The cascade of `--cascade` as a model for `ask` and `generate`, or `None` without the flag.
///
/// # Errors
/// When τ is unknown (neither --defer-threshold nor --defer-fit), posthoc has no
/// --defer-fit, or a model cannot be loaded.
pub fn load(args: &CascadeArgs, device: &str, dtype: WeightDtype) -> anyhow::Result<Option<Model>> {
    let Some(pair) = &args.models else {
        // clap's `requires` gives way to --model's conflict with --cascade: check here.
        if args.threshold.is_some() || args.fit.is_some() {
            bail!("--defer-threshold and --defer-fit need --cascade SMALL,LARGE");
        }
        return Ok(None);
    };
    if args.defer == RuleSpec::PostHoc && args.fit.is_none() {
        bail!(
            "--defer posthoc needs --defer-fit DIR: a `hedge eval --cascade {},{} --split calib` \
             run to fit it on",
            pair.small,
            pair.large
        );
    }
    let held_out = held_out(args)?;
    let (rule, threshold) = rule_and_threshold(args, held_out.as_ref())?;
    let Some(threshold) = threshold else {
        bail!(
            "--cascade needs τ: --defer-threshold τ, or --defer-fit DIR (a `hedge eval \
             --cascade` run on held-out questions) to choose it"
        );
    };
    let (small, large) = load_pair(args, device, dtype)?;
    let chat = small.has_chat_template() && large.has_chat_template();
    let name = format!(
        "{} → {} ({rule} > {})",
        small.name(),
        large.name(),
        crate::report::cascade::tau(threshold.value)
    );
    let (small_name, large_name) = (small.name().to_string(), large.name().to_string());
    let cascade = Cascade::new(
        (Box::new(small), small_name),
        (Box::new(large), large_name),
        rule,
        threshold.value,
    )?
    .with_route_log(args.route.clone());
    Ok(Some(Model::Steered(Steered {
        name,
        chat,
        backend: Box::new(cascade),
    })))
}

/// The route of the answer just generated, as `--json` shows it (`None` without a cascade).
pub fn take_route(args: &CascadeArgs) -> Option<Route> {
    args.models.as_ref().and_then(|_| args.route.take())
}

/// "answered by …" with the score and τ, after the answer.
///
/// # Errors
/// On a write error.
pub fn write_route(out: &mut impl Write, r: &Route) -> std::io::Result<()> {
    let num = crate::report::cascade::tau;
    if r.deferred {
        writeln!(
            out,
            "\ncascade: answered by {} — the small model deferred ({} {} > τ {}); it had \
             answered: {}",
            r.answered_by,
            r.rule,
            num(r.deferral_score),
            num(r.threshold),
            r.small_text.trim()
        )
    } else {
        writeln!(
            out,
            "\ncascade: answered by {} ({} {} ≤ τ {})",
            r.answered_by,
            r.rule,
            num(r.deferral_score),
            num(r.threshold)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An items.jsonl line of a one-token small answer of probability `p`.
    fn line(p: f64, small: u8, large: u8) -> String {
        let token = serde_json::json!({"id": 1, "text": "x", "logprob": p.ln(), "entropy": 0.0,
            "margin": 0.0, "kurtosis": 0.0, "top": []});
        serde_json::json!({"id": p.to_string(), "correct": small, "tokens": [token],
            "large": {"correct": large}})
        .to_string()
    }

    fn args(defer: RuleSpec) -> CascadeArgs {
        CascadeArgs {
            models: Some("s,l".parse().unwrap()),
            defer,
            ..CascadeArgs::default()
        }
    }

    #[test]
    fn tau_is_chosen_on_the_held_out_run() {
        let dir = tempfile::tempdir().unwrap();
        // Chow-Sum scores −ln p: 1.609 (gain), 1.204 (gain), 0.693 (neither), 0.105 (both).
        let text = [
            line(0.2, 0, 1),
            line(0.3, 0, 1),
            "not json".to_string(),
            line(0.5, 0, 0),
            line(0.9, 1, 1),
        ]
        .join("\n");
        std::fs::write(dir.path().join("items.jsonl"), text).unwrap();
        let held = HeldOut::read(dir.path()).unwrap();
        assert_eq!(held.answers.len(), 4, "the bad line is skipped");

        let (rule, t) = rule_and_threshold(&args(RuleSpec::ChowSum), Some(&held)).unwrap();
        assert_eq!(rule.spec(), RuleSpec::ChowSum);
        let t = t.unwrap();
        // small 25 %, large 75 %: deferring the two gains reaches 75 %; τ lies halfway
        // between the last deferred score (−ln 0.3) and the first kept (−ln 0.5).
        let want = (-(0.3f64.ln()) - 0.5f64.ln()) / 2.0;
        assert!((t.value - want).abs() < 1e-12, "{t:?}");
        match t.source {
            ThresholdSource::Fitted {
                fraction,
                accuracy,
                large_accuracy,
                ..
            } => assert_eq!((fraction, accuracy, large_accuracy), (0.5, 0.75, 0.75)),
            ThresholdSource::Given => panic!("{t:?}"),
        }
        // a given τ wins; posthoc is fitted on the run
        let mut a = args(RuleSpec::PostHoc);
        a.threshold = Some(0.3);
        let (rule, t) = rule_and_threshold(&a, Some(&held)).unwrap();
        assert_eq!((rule.spec(), t.unwrap().value), (RuleSpec::PostHoc, 0.3));
        assert!(rule_and_threshold(&a, None).is_err(), "posthoc needs a fit");
    }
}
