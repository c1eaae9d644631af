//! `hedge policy fit` / `hedge policy apply`, and what `ask`, `generate` and `eval` call to act
//! on an answer with a policy (`--policy FILE`, or the model folder's policy.json for `ask`).

mod items;
mod table;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use hedge_core::Scores;
use hedge_engine::GatheredEvidence;
use hedge_steer::clarify::{ClarifyConfig, ClarifyOrder};
use hedge_steer::policy::{Decision, FitOptions, Policy, PolicyReport};
use serde::Serialize;

use crate::args::{
    EstimatorArgs, PolicyApplyArgs, PolicyArgs, PolicyCommand, PolicyCommandArgs, PolicyFitArgs,
};
use crate::uncertainty::Scorer;

pub use items::report_of_lines;
pub use table::{write_decision, write_report};

/// The file name `hedge ask` looks for in a model's folder.
pub const POLICY_FILE: &str = "policy.json";

/// A policy in use, with the file it came from.
#[derive(Debug, Clone)]
pub struct Active {
    pub path: PathBuf,
    pub policy: Policy,
}

impl Active {
    /// The decision about `answer`, scored with `scores` from the evidence `gathered`.
    pub fn decide(&self, answer: &str, scores: &Scores, gathered: &GatheredEvidence) -> Decision {
        self.policy.decide(answer, scores, gathered)
    }
}

/// The policy of `--policy FILE`, read and checked; `None` without the flag.
///
/// # Errors
/// A file that cannot be read or is not a valid policy (the message names the file).
pub fn resolve(args: &PolicyArgs) -> anyhow::Result<Option<Active>> {
    let Some(path) = &args.policy else {
        return Ok(None);
    };
    let policy = Policy::load(path)?;
    Ok(Some(Active {
        path: path.clone(),
        policy,
    }))
}

/// `hedge ask`: without `--policy` or `--no-policy`, use `MODEL/policy.json` when the model is
/// a folder holding one.
pub fn default_for_model(args: &mut PolicyArgs, model: &str) {
    if args.policy.is_some() || args.no_policy {
        return;
    }
    let path = Path::new(model).join(POLICY_FILE);
    if path.is_file() {
        args.policy = Some(path);
    }
}

/// The scorer of `estimators`, with what the policy of `args` reads added: its estimator,
/// and when it clarifies `num_sets` at its cluster threshold, so that the samples and their
/// similarity matrix are gathered (with the policy's sample count, temperature and
/// similarity). Returns the policy too.
///
/// # Errors
/// A bad policy file, or as [`Scorer::new`].
pub fn scorer(
    estimators: &EstimatorArgs,
    args: &PolicyArgs,
    seed: u64,
) -> anyhow::Result<(Scorer, Option<Active>)> {
    let active = resolve(args)?;
    let Some(a) = &active else {
        let scorer = Scorer::new(&estimators.estimators, &estimators.sampling, seed)?;
        return Ok((scorer, None));
    };
    let mut list = format!("{},{}", estimators.estimators, a.policy.estimator);
    let mut sampling = estimators.sampling.clone();
    if let Some(c) = &a.policy.clarify {
        let clusters = hedge_core::EstimatorSpec::NumSets {
            tau: c.cluster_threshold,
        };
        list.push_str(&format!(",{clusters}"));
        sampling.samples = c.samples;
        sampling.sample_temperature = c.temperature;
        sampling.similarity = c.similarity;
    }
    let scorer = Scorer::new(&list, &sampling, seed)
        .with_context(|| format!("the estimators of policy {}", a.path.display()))?;
    Ok((scorer, active))
}

pub fn run(a: PolicyCommandArgs) -> anyhow::Result<ExitCode> {
    match a.which {
        PolicyCommand::Fit(a) => fit(a),
        PolicyCommand::Apply(a) => apply(a),
    }
}

/// `DIR/items.jsonl` for a folder, the path itself for a file.
fn items_path(input: &Path) -> PathBuf {
    if input.is_dir() {
        input.join("items.jsonl")
    } else {
        input.to_path_buf()
    }
}

/// `summary.json`'s `"policy"`: the policy's settings and its report.
#[derive(Serialize)]
pub struct PolicySummary<'a> {
    pub file: String,
    pub estimator: &'a str,
    pub calibration: &'static str,
    pub tau_lo: f64,
    pub tau_hi: f64,
    pub clarify: Option<&'a ClarifyConfig>,
    #[serde(flatten)]
    pub report: &'a PolicyReport,
}

impl Active {
    /// What `summary.json` says of this policy and its `report`.
    pub fn summary<'a>(&'a self, report: &'a PolicyReport) -> PolicySummary<'a> {
        PolicySummary {
            file: self.path.display().to_string(),
            estimator: &self.policy.estimator,
            calibration: self.policy.calibration.kind().name(),
            tau_lo: self.policy.tau_lo,
            tau_hi: self.policy.tau_hi,
            clarify: self.policy.clarify.as_ref(),
            report,
        }
    }
}

fn fit(a: PolicyFitArgs) -> anyhow::Result<ExitCode> {
    let path = items_path(&a.input);
    let (rows, bad) = items::read(&path)?;
    if rows.is_empty() {
        bail!("{}: no scored item to fit on", path.display());
    }
    if !rows.iter().any(|r| r.scores.get(&a.estimator).is_some()) {
        let names: Vec<&str> = rows[0].scores.iter().map(|(n, _)| n).collect();
        bail!(
            "--estimator {}: no item of {} has this score; it has: {}",
            a.estimator,
            path.display(),
            names.join(", ")
        );
    }
    let clarify = (!a.no_clarify).then_some(ClarifyConfig {
        mu: a.mu,
        order: if a.clarify_first {
            ClarifyOrder::ClarifyFirst
        } else {
            ClarifyOrder::AbstainFirst
        },
        samples: a.samples,
        temperature: a.sample_temperature,
        similarity: a.similarity,
        cluster_threshold: a.cluster_threshold,
    });
    let options = FitOptions {
        estimator: a.estimator.clone(),
        calibration: a.calibration,
        max_risk: a.max_risk,
        max_risk_unhedged: a.max_risk_unhedged,
        clarify,
    };
    let u: Vec<f64> = rows
        .iter()
        .map(|r| r.scores.get(&a.estimator).unwrap_or(f64::NAN))
        .collect();
    let c: Vec<f64> = rows.iter().map(|r| r.quality).collect();
    let mut policy = Policy::fit(&u, &c, &options)?;
    let active = Active {
        path: a.out.clone(),
        policy: policy.clone(),
    };
    let report = items::report(&active.policy, &rows, a.judge);
    if let Some(fit) = &mut policy.fit {
        fit.fitted_on = Some(a.input.display().to_string());
        fit.calib = Some(report.clone());
    }
    if let Some(c) = &policy.clarify {
        items::check_samples(&path, &rows, c);
    }
    policy.save(&a.out)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        out.write_all(policy.to_json().as_bytes())?;
    } else {
        table::write_fit(&mut out, &policy)?;
        writeln!(out)?;
        write_report(&mut out, &active, &report)?;
    }
    eprintln!("wrote {}", a.out.display());
    Ok(exit_code(bad))
}

fn apply(a: PolicyApplyArgs) -> anyhow::Result<ExitCode> {
    let policy = Policy::load(&a.policy)?;
    let active = Active {
        path: a.policy.clone(),
        policy,
    };
    let path = items_path(&a.input);
    let (rows, bad) = items::read(&path)?;
    if rows.is_empty() {
        bail!("{}: no scored item", path.display());
    }
    if let Some(c) = &active.policy.clarify {
        items::check_samples(&path, &rows, c);
    }
    let report = items::report(&active.policy, &rows, a.judge);
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &active.summary(&report))?;
        writeln!(out)?;
    } else {
        write_report(&mut out, &active, &report)?;
    }
    Ok(exit_code(bad))
}

fn exit_code(bad: usize) -> ExitCode {
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
