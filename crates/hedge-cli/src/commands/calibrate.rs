//! `hedge calibrate`: fit a map from uncertainty to confidence per estimator, saved as JSON.

use std::process::ExitCode;

use anyhow::{bail, Context};
use hedge_core::Calibration;

use crate::args::CalibrateArgs;
use crate::calibration_file::CalibrationFile;
use crate::scored;

pub fn run(a: CalibrateArgs) -> anyhow::Result<ExitCode> {
    let (data, bad) = scored::read_file(&a.input)?;
    let names: Vec<String> = match &a.estimators {
        Some(list) => {
            let names: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            if names.is_empty() {
                bail!("--estimators {list:?}: name at least one estimator");
            }
            for n in &names {
                if data.column(n).is_none() {
                    bail!(
                        "--estimators: {n} is not in {}; it has: {}",
                        a.input.display(),
                        data.names.join(", ")
                    );
                }
            }
            names
        }
        None => data.names.clone(),
    };
    if names.is_empty() {
        bail!("{}: no scored line to fit on", a.input.display());
    }
    let mut file = CalibrationFile {
        method: a.method,
        fitted_on: a.input.display().to_string(),
        rows: Default::default(),
        maps: Default::default(),
    };
    for name in &names {
        let u = data.column(name).unwrap_or_default();
        let (u, q): (Vec<f64>, Vec<f64>) = u
            .iter()
            .zip(&data.q)
            .filter(|(x, _)| x.is_finite())
            .map(|(&x, &y)| (x, y))
            .unzip();
        let map =
            Calibration::fit(a.method, &u, &q).with_context(|| format!("estimator {name}"))?;
        println!("{name}: {} ({} answers)", describe(&map), u.len());
        file.rows.insert(name.clone(), u.len());
        file.maps.insert(name.clone(), map);
    }
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    std::fs::write(&a.out, text).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!("wrote {}", a.out.display());
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One line about a fitted map.
fn describe(map: &Calibration) -> String {
    match map {
        Calibration::Platt(p) => format!("platt, κ = σ({:.4}·u + {:.4})", p.a, p.b),
        Calibration::Isotonic(m) => format!("isotonic, {} knots", m.x().len()),
        Calibration::Temperature(t) => format!("temperature, κ = σ(−u / {:.4})", t.t()),
    }
}
