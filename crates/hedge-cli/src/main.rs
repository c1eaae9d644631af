//! `hedge`: measure what a language model does not know, token by token.

mod args;
mod commands;
mod render;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    match try_main() {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`hedge … | head`) is a normal end, not an error.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn try_main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Generate(a) => commands::generate::run(a),
        Command::Score(a) => commands::score::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Dev(a) => commands::dev::run(a),
    }
}
