//! `hedge lab`: the lab world, its corpora, question sets and tokenizer, and its models.

use std::ops::ControlFlow;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{LabArgs, LabCommand, LabTrainArgs};

pub fn run(a: LabArgs) -> anyhow::Result<ExitCode> {
    match a.which {
        LabCommand::World(w) => {
            let s = hedge_lab::files::write_world(w.seed, &w.out)
                .with_context(|| format!("writing the lab world into {}", w.out.display()))?;
            println!(
                "wrote the world of seed {} into {}: {} people, {} raw documents, {} chat examples, {} questions, tokenizer of {} tokens",
                w.seed,
                s.dir.display(),
                s.people,
                s.raw_documents,
                s.chat_examples,
                s.questions,
                s.vocab_size
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Train(t) => train(t),
        LabCommand::Bench(b) => super::lab_bench::run(b),
    }
}

fn train(t: LabTrainArgs) -> anyhow::Result<ExitCode> {
    for m in &t.models {
        hedge_lab::recipes::recipe(m)?;
    }
    // In the recipes' order, so that a base model trains before the chat model tuned from it.
    let recipes: Vec<_> = hedge_lab::recipes::recipes()
        .into_iter()
        .filter(|r| t.all || t.models.iter().any(|m| m == r.name))
        .collect();
    hedge_lab::files::write_world(t.seed, &t.work)
        .with_context(|| format!("writing the lab world into {}", t.work.display()))?;
    for r in &recipes {
        let out = t.out.join(r.name);
        let steps = t.steps.unwrap_or(r.train.steps);
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} {bar:30} {pos}/{len} steps  {msg}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(r.name);
        let summary = hedge_lab::recipes::train_recipe(r, &t.work, &out, t.steps, &mut |rep| {
            bar.set_position(rep.step as u64);
            bar.set_message(format!(
                "loss {:.3}  {:.0} tok/s",
                rep.avg_loss, rep.tokens_per_sec
            ));
            ControlFlow::Continue(())
        })
        .with_context(|| format!("training {}", r.name))?;
        bar.finish_and_clear();
        println!(
            "{}: {} steps, final loss {:.4}, {} tokens in {:.0} s ({:.0} tokens/s) → {}",
            r.name,
            summary.steps,
            summary.final_loss,
            summary.tokens_seen,
            summary.wall_secs,
            summary.tokens_per_sec,
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
