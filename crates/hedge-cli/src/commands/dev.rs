//! `hedge dev`: tools for developers, such as random-weight checkpoints.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::args::{DevArgs, DevCommand};

pub fn run(a: DevArgs) -> anyhow::Result<ExitCode> {
    match a.which {
        DevCommand::RandomModel(r) => {
            let text = std::fs::read_to_string(&r.config)
                .with_context(|| format!("reading {}", r.config.display()))?;
            let dtype = match r.dtype.as_str() {
                "bf16" => candle_core::DType::BF16,
                "f16" => candle_core::DType::F16,
                _ => candle_core::DType::F32,
            };
            let cfg = hedge_engine::write_random_model_in(&text, &r.out, r.seed, dtype)
                .with_context(|| format!("{}", r.config.display()))?;
            let params = params(&cfg);
            println!(
                "wrote {} ({} layers, hidden {}, vocab {}, {:.1}M parameters in {}, seed {})",
                r.out.display(),
                cfg.num_hidden_layers,
                cfg.hidden_size,
                cfg.vocab_size,
                params as f64 / 1e6,
                r.dtype,
                r.seed
            );
            Ok(ExitCode::SUCCESS)
        }
        DevCommand::SyntheticScores(s) => {
            let file = std::fs::File::create(&s.out)
                .with_context(|| format!("creating {}", s.out.display()))?;
            let mut out = std::io::BufWriter::new(file);
            crate::synthetic::write_scored(&mut out, s.rows, s.estimators, s.seed)
                .and_then(|()| out.flush())
                .with_context(|| format!("writing {}", s.out.display()))?;
            println!(
                "wrote {} ({} lines, {} estimators, seed {})",
                s.out.display(),
                s.rows,
                s.estimators,
                s.seed
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn params(c: &hedge_engine::Config) -> usize {
    let (d, i, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
    let (h, kvh, hd) = (c.num_attention_heads, c.num_kv_heads(), c.head_dim());
    let layer = d * h * hd * 2 + d * kvh * hd * 2 + 3 * d * i + 2 * d;
    let head = if c.tie_word_embeddings { 0 } else { v * d };
    v * d + c.num_hidden_layers * layer + d + head
}
