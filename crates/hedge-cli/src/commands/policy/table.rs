//! Human output of policies: one decision (`hedge ask`), a fit, and a report's table.

use std::io::Write;

use hedge_core::Calibration;
use hedge_steer::clarify::{ClarifyConfig, ClarifyOrder};
use hedge_steer::policy::{ActionShares, Decision, Policy, PolicyReport};

use super::Active;

/// A percentage, or `—` for NaN.
fn pct(x: f64) -> String {
    if x.is_nan() {
        "—".into()
    } else {
        format!("{:.1}%", 100.0 * x)
    }
}

/// The map in one phrase.
fn map_phrase(map: &Calibration) -> String {
    match map {
        Calibration::Platt(p) => format!("platt, κ = σ({:.4}·u + {:.4})", p.a, p.b),
        Calibration::Isotonic(m) => format!("isotonic, {} knots", m.x().len()),
        Calibration::Temperature(t) => format!("temperature, κ = σ(−u / {:.4})", t.t()),
    }
}

/// The clarify settings in one phrase.
fn clarify_phrase(c: &ClarifyConfig) -> String {
    let order = match c.order {
        ClarifyOrder::AbstainFirst => "never when κ < τ_lo",
        ClarifyOrder::ClarifyFirst => "even when κ < τ_lo",
    };
    format!(
        "clarify when ≥ 2 clusters each hold ≥ {:.0} % of {} samples (T {}, {} ≥ {}), {order}",
        100.0 * c.mu,
        c.samples,
        c.temperature,
        c.similarity,
        c.cluster_threshold
    )
}

/// The decision under the answer: action and reply, why, the score, the policy file.
///
/// # Errors
/// When writing fails.
pub fn write_decision(out: &mut impl Write, d: &Decision, active: &Active) -> std::io::Result<()> {
    let p = &active.policy;
    writeln!(out, "\ndecision: {} — {}", d.action, d.text)?;
    writeln!(out, "  why: {}", d.reason)?;
    writeln!(
        out,
        "  score: {} {:.4} → κ {:.3} ({}); answer κ ≥ {:.3}, hedge κ ≥ {:.3}, abstain below",
        d.estimator,
        d.uncertainty,
        d.confidence,
        p.calibration.kind(),
        d.tau_hi,
        d.tau_lo
    )?;
    if !d.clusters.is_empty() {
        let shown: Vec<String> = d
            .clusters
            .iter()
            .take(4)
            .map(|c| format!("{:.0} % “{}”", 100.0 * c.mass, c.representative))
            .collect();
        let more = d.clusters.len().saturating_sub(4);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        writeln!(out, "  clusters: {}{tail}", shown.join(", "))?;
    }
    writeln!(out, "  policy: {}", active.path.display())
}

/// What a fit chose and saw.
///
/// # Errors
/// When writing fails.
pub fn write_fit(out: &mut impl Write, p: &Policy) -> std::io::Result<()> {
    writeln!(
        out,
        "policy: {} → κ by {}",
        p.estimator,
        map_phrase(&p.calibration)
    )?;
    if let Some(f) = &p.fit {
        writeln!(
            out,
            "fitted on {} items of {} ({} without a score), {} of them right",
            f.rows,
            f.fitted_on.as_deref().unwrap_or("?"),
            f.skipped,
            pct(f.accuracy)
        )?;
        writeln!(
            out,
            "τ_lo {:.4}: {} answered (plainly or hedged), {} of them wrong (--max-risk {})",
            p.tau_lo,
            f.answered,
            pct(f.risk),
            f.max_risk
        )?;
        writeln!(
            out,
            "τ_hi {:.4}: {} answered without a hedge, {} of them wrong (--max-risk-unhedged {})",
            p.tau_hi,
            f.answered_unhedged,
            pct(f.risk_unhedged),
            f.max_risk_unhedged
        )?;
    }
    match &p.clarify {
        Some(c) => writeln!(out, "{}", clarify_phrase(c)),
        None => writeln!(out, "no clarifying questions"),
    }
}

/// The report's table: actions per category, then coverage, risk, honesty, clarify.
///
/// # Errors
/// When writing fails.
pub fn write_report(
    out: &mut impl Write,
    active: &Active,
    r: &PolicyReport,
) -> std::io::Result<()> {
    let p = &active.policy;
    writeln!(
        out,
        "policy {}: {} (κ by {}); answer κ ≥ {:.3}, hedge κ ≥ {:.3}, abstain below",
        active.path.display(),
        p.estimator,
        p.calibration.kind(),
        p.tau_hi,
        p.tau_lo
    )?;
    if let Some(c) = &p.clarify {
        writeln!(out, "{}", clarify_phrase(c))?;
    }
    let head = [
        "category",
        "n",
        "right",
        "answer",
        "hedge",
        "abstain",
        "clarify",
        "clarify≥2 right",
    ];
    let row = |name: &str, s: &ActionShares| -> Vec<String> {
        vec![
            name.to_string(),
            s.n.to_string(),
            pct(s.accuracy),
            pct(s.answer),
            pct(s.hedge),
            pct(s.abstain),
            pct(s.clarify),
            pct(s.clarify_naming_right),
        ]
    };
    let mut rows: Vec<Vec<String>> = r.categories.iter().map(|(k, s)| row(k, s)).collect();
    rows.push(row("all", &r.overall));
    let widths: Vec<usize> = (0..head.len())
        .map(|c| {
            rows.iter()
                .map(|x| x[c].chars().count())
                .chain([head[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let pad = " ".repeat(widths[c] - cell.chars().count());
                if c == 0 {
                    format!("{cell}{pad}")
                } else {
                    format!("{pad}{cell}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(&head))?;
    for x in &rows {
        let cells: Vec<&str> = x.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    let answered = (r.coverage * r.rows as f64).round() as usize;
    writeln!(
        out,
        "answered (answer or hedge): {answered} of {} questions ({}), {} of them wrong",
        r.rows,
        pct(r.coverage),
        pct(r.risk)
    )?;
    let h = &r.honesty;
    writeln!(
        out,
        "honesty {:.3}: over_conservativeness {:.3} (of {} known), prudence {:.3} (of {} \
         unknown); known = the model's answer is right",
        h.honesty, h.over_conservativeness, r.known, h.prudence, r.unknown
    )?;
    if p.clarify.is_some() {
        let c = &r.clarify_questions;
        writeln!(
            out,
            "clarifying questions: {}; naming ≥ 2 right answers: {}; every named answer right: {}",
            c.asked, c.naming_two_right, c.all_named_right
        )?;
    }
    Ok(())
}
