//! One module per subcommand, and what they share: loading a model, choosing estimators.

pub mod ask;
pub mod bench;
mod bench_memory;
pub mod bench_reward;
pub mod bench_sampling;
pub mod bench_speculative;
pub mod calibrate;
pub mod cascade;
pub mod dev;
pub mod eval;
pub mod generate;
pub mod lab;
pub mod lab_bench;
pub mod metrics;
pub mod nudge;
pub mod policy;
pub mod rescore;
pub mod reward;
pub mod score;
pub mod speculative;

use std::path::Path;

use anyhow::{bail, Context};
use candle_core::Device;
use hedge_core::SummaryOptions;
use hedge_engine::LocalModel;

use crate::args::{ModelArgs, SummaryArgs};
use crate::calibration_file::CalibrationFile;
use crate::scored::Scored;
use crate::summary::Summary;

/// The device named by `--device`.
pub fn device(name: &str) -> anyhow::Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        d if d == "cuda" || d.starts_with("cuda:") => {
            let ordinal = d.strip_prefix("cuda:").unwrap_or("0");
            let ordinal: usize = ordinal
                .parse()
                .with_context(|| format!("--device {d}: expected cuda or cuda:N"))?;
            if !candle_core::utils::cuda_is_available() {
                bail!("--device {d}: this hedge was built without CUDA (rebuild with `--features cuda`)");
            }
            Ok(Device::new_cuda(ordinal)?)
        }
        other => bail!("--device {other}: allowed values are cpu, cuda, cuda:N"),
    }
}

/// Loads `--model` on `--device`.
pub fn load_model(args: &ModelArgs) -> anyhow::Result<LocalModel> {
    let dev = device(&args.device)?;
    LocalModel::load_with_dtype(&args.model, &dev, args.dtype)
        .with_context(|| format!("loading model {}", args.model))
}

/// The options of `--bootstrap`, `--seed`, `--bins`, and the maps of `--calibration`.
pub fn summary_setup(a: &SummaryArgs) -> anyhow::Result<(SummaryOptions, Option<CalibrationFile>)> {
    if a.bins == 0 {
        bail!("--bins 0: the reliability diagram and ECE need at least 1 bin");
    }
    let opts = SummaryOptions {
        bins: a.bins,
        resamples: a.bootstrap,
        seed: a.seed,
    };
    let cal = a
        .calibration
        .as_deref()
        .map(CalibrationFile::load)
        .transpose()?;
    Ok((opts, cal))
}

/// Writes `DIR/summary.json` and `DIR/report.html`, creating DIR.
pub fn write_outputs(dir: &Path, summary: &Summary, data: &Scored) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("summary.json");
    let mut text = serde_json::to_string_pretty(summary)?;
    text.push('\n');
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    crate::report::write(&dir.join("report.html"), summary, data)
}
