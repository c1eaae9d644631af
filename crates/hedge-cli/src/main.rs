//! `hedge`: measure what a language model does not know, token by token.

mod args;
mod calibration_file;
mod commands;
mod model;
mod render;
mod report;
mod scored;
mod summary;
mod synthetic;
mod uncertainty;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    fix_thread_count();
    join_the_thread_pool();
    match try_main() {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`hedge … | head`) is a normal end, not an error.
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Makes this thread one of the global thread pool's workers (the pool then starts one thread
/// fewer). A parallel loop started from outside the pool hands its work to the pool and sleeps
/// until it is done, then must be woken: a decoding step starts dozens of them (products,
/// attention, statistics). From a worker the loop shares its work with the other worker and
/// goes on at once. Measured on 2 cores, each configuration alternated in one session:
/// lab-l-chat's plain greedy steps 0.516 → 0.425 ms and its γ 5 verify passes 1.11 → 0.88 ms
/// (`hedge bench speculative`), prefill of 128 tokens 7 100–8 400 → 11 700–13 100 tokens/s
/// (`hedge bench decode`). An error (a pool already built) leaves the default pool.
fn join_the_thread_pool() {
    let _ = rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global();
}

/// Sets `RAYON_NUM_THREADS` to candle's own choice (the physical cores) when it is not set.
/// candle asks for its thread count before every matmul and, without the variable, reads
/// `/proc/cpuinfo` each time: about 60 reads per decoded token, which cost a tenth of the
/// decoding speed of a 135M model. Also shortens the spin of candle's elementwise pool (below).
/// Done first, before any thread exists.
fn fix_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    // candle's pool for large elementwise ops spins 25,000 rounds after each op before it
    // sleeps, holding a core that the next matmul's threads need: prefill ran at about two
    // thirds of its speed on two cores. A short spin keeps the quick hand-over.
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "1000");
    }
}

/// Whether the error is a write to a closed pipe, directly or through serde_json.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(BrokenPipe)
    })
}

fn try_main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Ask(a) => commands::ask::run(a),
        Command::Generate(a) => commands::generate::run(a),
        Command::Score(a) => commands::score::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Metrics(a) => commands::metrics::run(a),
        Command::Rescore(a) => commands::rescore::run(a),
        Command::Calibrate(a) => commands::calibrate::run(a),
        Command::Policy(a) => commands::policy::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Dev(a) => commands::dev::run(a),
        Command::Lab(a) => commands::lab::run(a),
    }
}
