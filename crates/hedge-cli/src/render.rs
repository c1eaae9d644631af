//! Human output: tokens coloured by probability, and the estimator table.

use std::io::{IsTerminal, Write};

use hedge_core::{Scores, TokenRecord};

/// Whether to colour: only on a terminal, never with `--no-color` or `NO_COLOR`.
pub fn use_color(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// ANSI colour of a token of probability `p`.
fn color(p: f64) -> &'static str {
    if p >= 0.9 {
        "\x1b[32m" // green
    } else if p >= 0.5 {
        "\x1b[33m" // yellow
    } else if p >= 0.2 {
        "\x1b[38;5;208m" // orange
    } else {
        "\x1b[31m" // red
    }
}

/// The answer, each token coloured by its probability when `colored`.
pub fn write_tokens(
    out: &mut impl Write,
    text: &str,
    tokens: &[TokenRecord],
    colored: bool,
) -> std::io::Result<()> {
    let joined: String = tokens.iter().map(|t| t.text.as_str()).collect();
    if !colored || joined != text {
        return writeln!(out, "{text}");
    }
    for t in tokens {
        write!(out, "{}{}\x1b[0m", color(t.prob()), t.text)?;
    }
    writeln!(out)
}

/// The legend of the colours.
pub fn write_legend(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "\x1b[2mtoken probability: {}≥0.9\x1b[0m {}≥0.5\x1b[0m {}≥0.2\x1b[0m {}<0.2\x1b[0m",
        color(0.95),
        color(0.6),
        color(0.3),
        color(0.0)
    )
}

/// The estimator table: one line per estimator, higher = less sure.
pub fn write_scores(out: &mut impl Write, scores: &Scores) -> std::io::Result<()> {
    let width = scores
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(9)
        .max(9);
    writeln!(
        out,
        "{:<width$}  uncertainty (higher = less sure)",
        "estimator"
    )?;
    for (name, value) in scores.iter() {
        writeln!(out, "{name:<width$}  {value:>10.4}")?;
    }
    Ok(())
}
