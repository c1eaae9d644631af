//! `hedge metrics`: every metric of every estimator in a file of existing scores, no model.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use serde_json::{json, Map};

use crate::args::MetricsArgs;
use crate::{scored, summary};

pub fn run(a: MetricsArgs) -> anyhow::Result<ExitCode> {
    let (opts, calibration) = super::summary_setup(&a.summary)?;
    let (data, bad) = scored::read_file(&a.input)?;
    if data.is_empty() {
        bail!(
            "{}: no usable line (each needs \"scores\" and \"correct\" or \"quality\")",
            a.input.display()
        );
    }
    let mut context = Map::new();
    context.insert("input".into(), json!(a.input.display().to_string()));
    context.insert("skipped_lines".into(), json!(bad));
    if let Some(path) = &a.summary.calibration {
        context.insert("calibration".into(), json!(path.display().to_string()));
    }
    let summary = summary::compute(&data, &opts, calibration.as_ref(), context)?;
    if let Some(dir) = &a.out {
        super::write_outputs(dir, &summary, &data)?;
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        summary::write_table(&mut out, &summary)?;
    }
    if let Some(dir) = &a.out {
        eprintln!("wrote {0}/summary.json and {0}/report.html", dir.display());
    }
    if bad > 0 {
        eprintln!(
            "skipped {bad} bad line{} of {}",
            if bad == 1 { "" } else { "s" },
            a.input.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
