//! `hedge rescore`: the scores of a `hedge eval` run recomputed from its items.jsonl — the
//! answers' token records and the gathered evidence — without the model.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use hedge_core::{score_with, Estimator, EstimatorSpec, TokenRecord};
use hedge_engine::GatheredEvidence;
use serde_json::{json, Map, Value};

use crate::args::RescoreArgs;
use crate::{scored, summary};

/// The scores of one items.jsonl line, recomputed; the line comes back with its new
/// `"scores"`. The error says what the line lacks.
fn rescore_line(
    estimators: &[Box<dyn Estimator>],
    line: &[u8],
) -> Result<Map<String, Value>, String> {
    let mut obj: Map<String, Value> =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON object ({e})"))?;
    let tokens: Vec<TokenRecord> = match obj.get("tokens") {
        Some(t) => serde_json::from_value(t.clone()).map_err(|e| format!("\"tokens\": {e}"))?,
        None => {
            return Err(
                "no \"tokens\" (written by a hedge eval older than rescoring; run the \
                        eval again)"
                    .into(),
            )
        }
    };
    let gathered: GatheredEvidence = serde_json::from_value(Value::Object(obj.clone()))
        .map_err(|e| format!("the gathered evidence: {e}"))?;
    let scores = score_with(estimators, &gathered.evidence(&tokens));
    obj.insert(
        "scores".into(),
        serde_json::to_value(&scores).map_err(|e| e.to_string())?,
    );
    Ok(obj)
}

pub fn run(a: RescoreArgs) -> anyhow::Result<ExitCode> {
    let specs = EstimatorSpec::parse_list(&a.estimators)?;
    let estimators: Vec<Box<dyn Estimator>> = specs.iter().map(EstimatorSpec::build).collect();
    let (opts, calibration) = super::summary_setup(&a.summary)?;
    let input: PathBuf = if a.input.is_dir() {
        a.input.join("items.jsonl")
    } else {
        a.input.clone()
    };
    let text = std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
    let mut lines: Vec<Map<String, Value>> = Vec::new();
    let mut bad = 0;
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match rescore_line(&estimators, raw) {
            Ok(obj) => lines.push(obj),
            Err(reason) => {
                bad += 1;
                eprintln!("{}:{}: {reason}", input.display(), i + 1);
            }
        }
    }
    if lines.is_empty() {
        bail!("{}: no line could be rescored", input.display());
    }
    let mut jsonl = Vec::new();
    for obj in &lines {
        serde_json::to_writer(&mut jsonl, obj)?;
        jsonl.push(b'\n');
    }
    let data = scored::read(jsonl.as_slice(), |b| {
        eprintln!("{}: line {}: {}", input.display(), b.line, b.reason);
    })?;
    // An estimator NaN on every line had no evidence in this file.
    let missing: Vec<String> = specs
        .iter()
        .map(ToString::to_string)
        .filter(|name| {
            data.column(name)
                .is_none_or(|c| c.iter().all(|x| x.is_nan()))
        })
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "warning: {} has no evidence for {} (NaN on every line): the run did not gather it",
            input.display(),
            missing.join(", ")
        );
    }
    let mut context = Map::new();
    context.insert("items".into(), json!(input.display().to_string()));
    context.insert("rescored".into(), json!(true));
    let summary = summary::compute(&data, &opts, calibration.as_ref(), context)?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("items.jsonl");
        let mut f = BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        f.write_all(&jsonl)?;
        f.flush()?;
        super::write_outputs(dir, &summary, &data)?;
        eprintln!(
            "wrote {0}/items.jsonl, {0}/summary.json and {0}/report.html",
            dir.display()
        );
    }
    summary::write_table(&mut std::io::stdout().lock(), &summary)?;
    Ok(if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
