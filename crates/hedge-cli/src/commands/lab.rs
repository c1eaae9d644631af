//! `hedge lab`: the lab world, its corpora, question sets and tokenizer.

use std::process::ExitCode;

use anyhow::Context;

use crate::args::{LabArgs, LabCommand};

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
    }
}
