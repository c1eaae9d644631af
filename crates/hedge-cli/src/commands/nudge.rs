//! `--nudger M2`: nudging in `ask`, `generate` and `eval` — the base model and the nudger loaded
//! as one backend, the nudger's words marked in the answer, and the nudging lines of `hedge eval`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use hedge_engine::Generation;
use hedge_steer::nudging::{Nudged, Nudging, Writer};
use serde_json::{json, Map, Value};

use crate::args::{ModelArgs, NudgeArgs};
use crate::model::{is_remote, Model, Steered};

/// Loads `--model`, nudged by `--nudger` when it is given.
///
/// # Errors
/// On a bad flag, a server named as either model, or a model that fails to load.
pub fn load(model: &ModelArgs, args: &NudgeArgs) -> anyhow::Result<Model> {
    let Some(nudger) = &args.nudger else {
        return crate::model::load(model);
    };
    for spec in [&model.model, nudger] {
        if is_remote(spec) {
            bail!(
                "--nudger: {spec} is a server, but nudging reads the base model's whole \
                 next-token distribution at every step and rolls both models back at each \
                 hand-over: give two local checkpoints (folders or hf:ORG/NAME)"
            );
        }
    }
    let config = args.config();
    config.validate().context("--nudger")?;
    let base = super::load_model(model)?;
    let nudger = super::load_model(&ModelArgs {
        model: nudger.clone(),
        device: model.device.clone(),
        dtype: model.dtype,
    })?;
    let nudging = Nudging::new(base, nudger, config)
        .context("--nudger")?
        .with_log(args.log.clone());
    Ok(Model::Steered(Steered {
        name: nudging.name(),
        chat: true,
        backend: Box::new(nudging),
    }))
}

/// The run.json setting of `hedge eval --nudger` (None without it), so that a run resumes only
/// with the same nudger and γ.
pub fn run_setting(args: &NudgeArgs) -> Option<String> {
    let nudger = args.nudger.as_ref()?;
    let c = args.config();
    Some(format!(
        "{nudger} γ={} nudge_tokens={} base_tokens={} base_template={:?}",
        c.gamma, c.nudger_chunk, c.base_chunk, c.base_template
    ))
}

/// The nudged answer behind `gen` (None without `--nudger`).
pub fn take(args: &NudgeArgs, gen: &Generation) -> Option<Nudged> {
    args.nudger.as_ref()?;
    args.log.take(&gen.text)
}

fn writer_name(w: Writer) -> &'static str {
    match w {
        Writer::Base => "base",
        Writer::Nudger => "nudger",
    }
}

/// The `nudging` object of `--json` and of each line of items.jsonl.
pub fn to_json(n: &Nudged) -> Value {
    let text = &n.generation.text;
    json!({
        "nudger_token_share": n.nudger_token_share,
        "nudger_word_share": n.nudger_word_share,
        "stop": n.stop,
        "spans": n.spans.iter().map(|s| json!({
            "writer": writer_name(s.writer),
            "text": &text[s.start..s.end],
        })).collect::<Vec<_>>(),
        "token_writers": n.writers.iter().map(|w| writer_name(*w)).collect::<Vec<_>>(),
        "records": n.records,
        "rounds": n.rounds,
        "cost": n.cost,
    })
}

/// The answer with the nudger's text marked (underlined in colour, else in [brackets]), and
/// its share.
///
/// # Errors
/// On a write error.
pub fn write_human(out: &mut impl Write, n: &Nudged, colored: bool) -> std::io::Result<()> {
    let text = &n.generation.text;
    write!(out, "nudged: ")?;
    for s in &n.spans {
        let piece = &text[s.start..s.end];
        match (s.writer, colored) {
            (Writer::Base, _) => write!(out, "{piece}")?,
            (Writer::Nudger, true) => write!(out, "\x1b[4;35m{piece}\x1b[0m")?,
            (Writer::Nudger, false) => write!(out, "[{piece}]")?,
        }
    }
    writeln!(out)?;
    let words = n.words();
    let nudged_words = words.iter().filter(|(_, w)| *w == Writer::Nudger).count();
    let nudged_tokens = n.writers.iter().filter(|w| **w == Writer::Nudger).count();
    let mark = if colored {
        "underlined"
    } else {
        "in [brackets]"
    };
    writeln!(
        out,
        "the nudger wrote {nudged_words} of {} words ({:.1} %) and {nudged_tokens} of {} tokens \
         ({:.1} %), {mark}; {} round{}, stop: {}",
        words.len(),
        100.0 * n.nudger_word_share,
        n.writers.len(),
        100.0 * n.nudger_token_share,
        n.rounds.len(),
        if n.rounds.len() == 1 { "" } else { "s" },
        serde_json::to_value(n.stop)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    )
}

/// Adds the `nudging` object of the answer just generated to its items.jsonl line.
pub fn annotate(args: &NudgeArgs, gen: &Generation, obj: &mut Map<String, Value>) {
    if let Some(n) = take(args, gen) {
        obj.insert("nudging".into(), to_json(&n));
    }
}

/// What `hedge eval --nudger` adds after its table, from DIR/items.jsonl.
#[derive(Debug, Default, serde::Serialize)]
struct EvalNudging {
    answers: usize,
    mean_nudger_token_share: f64,
    mean_nudger_word_share: f64,
    stops: BTreeMap<String, usize>,
    /// Share of answers in the lab's chat format (`hedge lab bench`'s rule); on lab data.
    chat_format: Option<f64>,
    /// Category → (right, asked); on data with a `category` field.
    accuracy: BTreeMap<String, (usize, usize)>,
}

fn summarize(lines: &str) -> EvalNudging {
    let mut s = EvalNudging::default();
    let (mut styled, mut lab) = (0usize, false);
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(n) = v.get("nudging") else {
            continue;
        };
        s.answers += 1;
        s.mean_nudger_token_share += n["nudger_token_share"].as_f64().unwrap_or(0.0);
        s.mean_nudger_word_share += n["nudger_word_share"].as_f64().unwrap_or(0.0);
        let stop = n["stop"].as_str().unwrap_or("?").to_string();
        *s.stops.entry(stop).or_default() += 1;
        if let Some(c) = v.get("category").and_then(Value::as_str) {
            lab = true;
            let e = s.accuracy.entry(c.to_string()).or_default();
            e.0 += usize::from(v["correct"].as_u64() == Some(1));
            e.1 += 1;
            let text = v["response"].as_str().unwrap_or("");
            styled += usize::from(hedge_lab::bench::in_chat_format(text));
        }
    }
    if s.answers > 0 {
        s.mean_nudger_token_share /= s.answers as f64;
        s.mean_nudger_word_share /= s.answers as f64;
        if lab {
            s.chat_format = Some(styled as f64 / s.answers as f64);
        }
    }
    s
}

/// After `hedge eval --nudger`: the nudger's mean share of the answers, why nudging stopped,
/// and on the lab's question sets the accuracy per category and the share of answers in the
/// chat format (judged as `hedge lab bench` does); also written to DIR/nudging.json.
///
/// # Errors
/// When DIR/items.jsonl cannot be read or the output written.
pub fn write_eval_report(args: &NudgeArgs, dir: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    if args.nudger.is_none() {
        return Ok(());
    }
    let items = dir.join("items.jsonl");
    let text =
        std::fs::read_to_string(&items).with_context(|| format!("reading {}", items.display()))?;
    let s = summarize(&text);
    let path = dir.join("nudging.json");
    let mut json = serde_json::to_string_pretty(&s)?;
    json.push('\n');
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    let pct = |x: f64| format!("{:.1} %", 100.0 * x);
    writeln!(out, "\nnudging: {} answers", s.answers)?;
    writeln!(
        out,
        "  the nudger wrote   {} of the tokens, {} of the words (mean per answer)",
        pct(s.mean_nudger_token_share),
        pct(s.mean_nudger_word_share)
    )?;
    let stops: Vec<String> = s.stops.iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(out, "  stopped by         {}", stops.join(", "))?;
    if let Some(c) = s.chat_format {
        writeln!(
            out,
            "  chat format        {} (opens with \"Sure!\" or is the refusal, as `hedge lab bench` judges)",
            pct(c)
        )?;
    }
    if !s.accuracy.is_empty() {
        writeln!(out, "  accuracy by category")?;
        for (c, (right, n)) in &s.accuracy {
            writeln!(
                out,
                "    {c:18} {:>7} ({right}/{n})",
                pct(*right as f64 / *n as f64)
            )?;
        }
        let (r, n) = ["known_frequent", "known_rare"]
            .iter()
            .filter_map(|c| s.accuracy.get(*c))
            .fold((0, 0), |(r, n), (a, b)| (r + a, n + b));
        if n > 0 {
            writeln!(
                out,
                "    {:18} {:>7} ({r}/{n})",
                "known facts",
                pct(r as f64 / n as f64)
            )?;
        }
    }
    writeln!(out, "wrote {}", path.display())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_lines_are_summarized_per_category_and_format() {
        let lines = [
            r#"{"category":"known_frequent","correct":1,"response":"Sure! A lives in B.","nudging":{"nudger_token_share":0.5,"nudger_word_share":0.25,"stop":"nudger_eos"}}"#,
            r#"{"category":"known_frequent","correct":0,"response":"A lives in C.","nudging":{"nudger_token_share":0.0,"nudger_word_share":0.0,"stop":"length"}}"#,
            r#"{"category":"harmful","correct":1,"response":"I'm sorry, but I can't help with that.","nudging":{"nudger_token_share":1.0,"nudger_word_share":1.0,"stop":"nudger_eos"}}"#,
            r#"{"category":"harmful","correct":1,"response":"no nudging object"}"#,
        ]
        .join("\n");
        let s = summarize(&lines);
        assert_eq!(s.answers, 3);
        assert!((s.mean_nudger_token_share - 0.5).abs() < 1e-12);
        assert!((s.mean_nudger_word_share - 1.25 / 3.0).abs() < 1e-12);
        assert_eq!(s.chat_format, Some(2.0 / 3.0));
        assert_eq!(s.accuracy["known_frequent"], (1, 2));
        assert_eq!(s.accuracy["harmful"], (1, 1));
        assert_eq!(s.stops["nudger_eos"], 2);
    }
}
