//! `hedge score`: teacher-forced records and scores for responses that already exist.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use hedge_core::Scores;
use hedge_engine::{Backend, GatheredEvidence, Generation, GenerationRequest, ScoreRequest};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::args::ScoreArgs;
use crate::model::Model;
use crate::render;
use crate::uncertainty::{insert_evidence, write_samples, Scorer};

pub fn run(a: ScoreArgs) -> anyhow::Result<ExitCode> {
    let mut scorer = Scorer::new(&a.estimators.estimators, &a.estimators.sampling, a.seed)?;
    let model = crate::model::load(&a.model)?;
    match &a.input {
        Some(path) => score_file(&model, &mut scorer, &a, path),
        None => {
            let req = ScoreRequest {
                prompt: a.prompt.clone().unwrap_or_default(),
                response: a.response.clone().unwrap_or_default(),
                chat: a.chat,
                top_logprobs: a.estimators.top_logprobs,
            };
            let (gen, scores, gathered) = score_one(&model, &mut scorer, &a, &req, None)?;
            let mut out = std::io::stdout().lock();
            if a.out.json {
                let mut obj = serde_json::Map::new();
                obj.insert("model".into(), json!(model.name()));
                obj.insert("prompt".into(), json!(req.prompt));
                obj.insert("text".into(), json!(gen.text));
                obj.insert("prompt_tokens".into(), json!(gen.prompt_tokens));
                obj.insert("tokens".into(), serde_json::to_value(&gen.tokens)?);
                obj.insert("scores".into(), serde_json::to_value(&scores)?);
                insert_evidence(&mut obj, &gathered)?;
                serde_json::to_writer_pretty(&mut out, &Value::Object(obj))?;
                writeln!(out)?;
            } else {
                let colored = render::use_color(a.out.no_color);
                render::write_tokens(&mut out, &gen.text, &gen.tokens, colored)?;
                writeln!(out)?;
                render::write_scores(&mut out, &scores)?;
                write_samples(&mut out, &gathered, &scorer)?;
                if colored {
                    render::write_legend(&mut out)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The teacher-forced records of `req`'s response, and its scores; the sampling-based
/// estimators draw their samples for the prompt (at most --max-tokens each), and `token_sar`
/// reads the relevances of the given response's tokens.
fn score_one(
    model: &Model,
    scorer: &mut Scorer,
    a: &ScoreArgs,
    req: &ScoreRequest,
    choice: Option<&hedge_core::prompts::MultipleChoice>,
) -> anyhow::Result<(Generation, Scores, GatheredEvidence)> {
    let gen = model.score(req)?;
    let mut sample_req = GenerationRequest::new(req.prompt.clone());
    sample_req.chat = req.chat;
    sample_req.top_logprobs = req.top_logprobs;
    sample_req.sampling.max_tokens = a.max_tokens;
    let (scores, gathered) =
        scorer.score(model, &sample_req, &req.prompt, choice, &gen, &mut |_| {})?;
    Ok((gen, scores, gathered))
}

/// Scores one JSONL line; the error says what is wrong with it.
fn score_line(
    model: &Model,
    scorer: &mut Scorer,
    a: &ScoreArgs,
    line: &str,
) -> anyhow::Result<Value> {
    let mut obj: serde_json::Map<String, Value> =
        serde_json::from_str(line).context("not a JSON object")?;
    let field = |name: &str| -> anyhow::Result<String> {
        match obj.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => anyhow::bail!("field \"{name}\" must be a string"),
            None => anyhow::bail!("missing field \"{name}\""),
        }
    };
    let req = ScoreRequest {
        prompt: field("prompt")?,
        response: field("response")?,
        chat: a.chat,
        top_logprobs: a.estimators.top_logprobs,
    };
    // A multiple-choice line names its positive option ("positive"): there are no golds here.
    let choice = crate::uncertainty::choice_of(&obj, &[]).map_err(anyhow::Error::msg)?;
    let (gen, scores, gathered) = score_one(model, scorer, a, &req, choice.as_ref())?;
    obj.insert("prompt_tokens".into(), json!(gen.prompt_tokens));
    obj.insert("tokens".into(), serde_json::to_value(&gen.tokens)?);
    obj.insert("scores".into(), serde_json::to_value(&scores)?);
    insert_evidence(&mut obj, &gathered)?;
    Ok(Value::Object(obj))
}

fn score_file(
    model: &Model,
    scorer: &mut Scorer,
    a: &ScoreArgs,
    path: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let bar = ProgressBar::new(lines.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} lines  {per_sec}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut failed = 0usize;
    for (n, line) in &lines {
        match score_line(model, scorer, a, line) {
            Ok(v) => serde_json::to_writer(&mut out, &v)?,
            Err(e) => {
                failed += 1;
                bar.suspend(|| eprintln!("{}:{n}: {e:#}", path.display()));
                serde_json::to_writer(&mut out, &json!({"line": n, "error": format!("{e:#}")}))?;
            }
        }
        writeln!(out)?;
        bar.inc(1);
    }
    out.flush()?;
    bar.finish_and_clear();
    eprintln!("scored {} of {} lines", lines.len() - failed, lines.len());
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
