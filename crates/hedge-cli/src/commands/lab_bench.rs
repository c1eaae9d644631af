//! `hedge lab bench`: the numbers LAB.md asks of the lab models, as tables or JSON.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use hedge_lab::bench::{bench_model, ModelBench, Prompting};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::LabBenchArgs;

/// (model folder, prompting) pairs measured, in table order.
const RUNS: [(&str, Prompting); 4] = [
    ("lab-s-chat", Prompting::Chat),
    ("lab-l-chat", Prompting::Chat),
    ("lab-l-base", Prompting::Raw),
    ("lab-l-base", Prompting::Chat),
];

pub fn run(a: LabBenchArgs) -> anyhow::Result<ExitCode> {
    let path = a.work.join(format!("data/{}.jsonl", a.split));
    if !path.is_file() {
        hedge_lab::files::write_world(a.seed, &a.work)
            .with_context(|| format!("writing the lab world into {}", a.work.display()))?;
    }
    let questions = hedge_lab::questions::read_question_set(&path)?;
    let mut benches = Vec::new();
    for (name, prompting) in RUNS {
        let dir = a.models.join(name);
        if !dir.is_dir() {
            eprintln!(
                "skipping {name}: no folder {} (train it with `hedge lab train --model {name}`)",
                dir.display()
            );
            continue;
        }
        let model = super::load_model(&crate::args::ModelArgs {
            model: dir.to_string_lossy().into_owned(),
            device: "cpu".into(),
            dtype: hedge_engine::WeightDtype::Auto,
        })?;
        let bar = ProgressBar::new(questions.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>16} {bar:30} {pos}/{len}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(format!("{name} ({})", label(prompting)));
        let b = bench_model(&model, &questions, prompting, || bar.inc(1))?;
        bar.finish_and_clear();
        benches.push(b);
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &benches)?;
        writeln!(out)?;
    } else {
        write_tables(&mut out, &benches, &a.split)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn label(p: Prompting) -> &'static str {
    match p {
        Prompting::Chat => "chat",
        Prompting::Raw => "raw",
    }
}

fn write_tables(out: &mut impl Write, benches: &[ModelBench], split: &str) -> std::io::Result<()> {
    let mut cats: Vec<&String> = benches.iter().flat_map(|b| b.accuracy.keys()).collect();
    cats.sort();
    cats.dedup();
    writeln!(
        out,
        "accuracy on the {split} split (contains-any-gold, greedy)"
    )?;
    write!(out, "{:<16}", "category")?;
    for b in benches {
        write!(
            out,
            "{:>20}",
            format!("{} ({})", b.model, label(b.prompting))
        )?;
    }
    writeln!(out)?;
    for c in cats {
        write!(out, "{c:<16}")?;
        for b in benches {
            match b.accuracy.get(c) {
                Some(&(r, n)) => write!(
                    out,
                    "{:>20}",
                    format!("{:.1}% ({r}/{n})", 100.0 * r as f64 / n.max(1) as f64)
                )?,
                None => write!(out, "{:>20}", "—")?,
            }
        }
        writeln!(out)?;
    }
    write!(out, "{:<16}", "chat format")?;
    for b in benches {
        write!(out, "{:>20}", format!("{:.1}%", 100.0 * b.chat_format))?;
    }
    writeln!(out)?;
    // One estimator table per model, under the prompting it was trained for (the first of its
    // runs in RUNS): chat models through the chat template, lab-l-base with raw-text probes.
    let mut shown: Vec<&str> = Vec::new();
    for b in benches {
        if shown.contains(&b.model.as_str()) {
            continue;
        }
        shown.push(&b.model);
        writeln!(
            out,
            "\n{} ({}): detecting wrong answers (answerable categories), best AUROC first",
            b.model,
            label(b.prompting)
        )?;
        writeln!(out, "{:<20}{:>8}{:>8}", "estimator", "AUROC", "PRR")?;
        let mut rows = b.estimators.clone();
        rows.sort_by(|x, y| y.1.total_cmp(&x.1));
        for (name, au, pr) in rows {
            writeln!(out, "{name:<20}{au:>8.3}{pr:>8.3}")?;
        }
    }
    Ok(())
}
