//! One module per subcommand, and what they share: loading a model, choosing estimators.

pub mod bench;
pub mod dev;
pub mod generate;
pub mod score;

use anyhow::{bail, Context};
use candle_core::Device;
use hedge_core::EstimatorSpec;
use hedge_engine::LocalModel;

use crate::args::ModelArgs;

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
    LocalModel::load(&args.model, &dev).with_context(|| format!("loading model {}", args.model))
}

/// The estimators named by `--estimators`.
pub fn estimators(list: &str) -> anyhow::Result<Vec<EstimatorSpec>> {
    Ok(EstimatorSpec::parse_list(list)?)
}
