//! `hedge eval`: run a question set through a model, judge and score every answer, and
//! measure the estimators; resumable from the answers already in `DIR/items.jsonl`.

use std::collections::{HashMap, HashSet};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use hedge_engine::{Backend, GenerationRequest, SamplingParams};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::args::EvalArgs;
use crate::uncertainty::insert_evidence;
use crate::{scored, summary};

// `hedge eval --cascade`: a child module, so that it shares the item reader and resume checks.
#[path = "cascade_eval.rs"]
mod cascade_eval;

/// One question of the data set.
#[derive(Debug)]
struct Item {
    /// Line number in the data file, from 1.
    line: usize,
    /// The id as JSON text (`3` and `"3"` differ), the key of resuming.
    key: String,
    question: String,
    answers: Vec<String>,
    /// The options of a multiple-choice question (`choice_risk`).
    choice: Option<hedge_core::prompts::MultipleChoice>,
    /// Every field of the line, kept in items.jsonl.
    fields: Map<String, Value>,
}

/// The settings that decide the answers: a resumed run must use the same (`run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RunSettings {
    model: String,
    #[serde(rename = "match")]
    judge: String,
    estimators: Vec<String>,
    split: Option<String>,
    chat: bool,
    template: String,
    stop: Vec<String>,
    max_tokens: usize,
    /// How the samples were drawn and compared; left out when no estimator draws samples or
    /// asks reflexive prompts (so that runs made before sampling existed still resume).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    sampling: Option<SamplingSettings>,
    /// Reward-guided decoding (--guide, --reward), when on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reward: Option<String>,
    /// Nudging (--nudger, γ, chunk sizes, base template), when on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nudging: Option<String>,
}

/// The settings of the sampling-based and reflexive estimators that decide their evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SamplingSettings {
    samples: usize,
    sample_temperature: f64,
    seed: u64,
    similarity: Option<String>,
    similarity_model: Option<String>,
}

/// Reads one data line; the error says what is wrong with it.
fn parse_item(line: usize, text: &[u8]) -> Result<Item, String> {
    let fields: Map<String, Value> =
        serde_json::from_slice(text).map_err(|e| format!("not a JSON object ({e})"))?;
    let key = match fields.get("id") {
        Some(v @ (Value::String(_) | Value::Number(_))) => v.to_string(),
        Some(v) => return Err(format!("\"id\" must be a string or a number, not {v}")),
        None => return Err("missing field \"id\"".into()),
    };
    let question = match fields.get("question") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("\"question\" must be a string".into()),
        None => return Err("missing field \"question\"".into()),
    };
    let answers = match fields.get("answers") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| g.as_str().map(String::from))
            .collect::<Option<Vec<String>>>()
            .ok_or("\"answers\" must be a list of strings")?,
        Some(_) => return Err("\"answers\" must be a list of strings".into()),
        None => return Err("missing field \"answers\" (a list of gold answers)".into()),
    };
    let choice = crate::uncertainty::choice_of(&fields, &answers)?;
    Ok(Item {
        line,
        key,
        question,
        answers,
        choice,
        fields,
    })
}

/// The items to run: good lines of the split, first of each id, at most `limit`. Bad lines
/// are reported as `FILE:LINE: reason`; returns the items and the number of bad lines.
fn read_items(
    path: &Path,
    split: Option<&str>,
    limit: Option<usize>,
) -> anyhow::Result<(Vec<Item>, usize)> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut items = Vec::new();
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut bad = 0;
    let mut report = |line: usize, reason: &str| {
        bad += 1;
        eprintln!("{}:{line}: {reason}", path.display());
    };
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let item = match parse_item(i + 1, raw) {
            Ok(item) => item,
            Err(reason) => {
                report(i + 1, &reason);
                continue;
            }
        };
        if let Some(s) = split {
            if item.fields.get("split").and_then(Value::as_str) != Some(s) {
                continue;
            }
        }
        if let Some(&line) = first.get(&item.key) {
            report(
                item.line,
                &format!("duplicate id {} (first on line {line})", item.key),
            );
            continue;
        }
        first.insert(item.key.clone(), item.line);
        items.push(item);
    }
    if let Some(n) = limit {
        items.truncate(n);
    }
    Ok((items, bad))
}

/// The items of `items` not yet answered in `items_path` (saying how many were), the file
/// opened to append to (and read back at the end), and a progress bar over the rest.
fn resume<'i>(
    items_path: &Path,
    items: &'i [Item],
) -> anyhow::Result<(Vec<&'i Item>, BufWriter<std::fs::File>, ProgressBar)> {
    let (done, unterminated) = done_ids(items_path)?;
    let todo: Vec<&Item> = items.iter().filter(|i| !done.contains(&i.key)).collect();
    if items.len() > todo.len() {
        eprintln!(
            "resuming: {} of {} items already in {}",
            items.len() - todo.len(),
            items.len(),
            items_path.display()
        );
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(items_path)
        .with_context(|| format!("opening {}", items_path.display()))?;
    if unterminated {
        // A run stopped mid-line: start the next answer on a line of its own.
        file.write_all(b"\n")?;
    }
    let bar = ProgressBar::new(todo.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} items  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Ok((todo, BufWriter::new(file), bar))
}

/// Every line of `items.jsonl` (this run's and any earlier run's answers), read back through
/// the file `out` wrote, and its scored items; bad lines are named.
///
/// # Errors
/// When the file cannot be read, or holds no answered item.
fn read_back(
    out: BufWriter<std::fs::File>,
    items_path: &Path,
) -> anyhow::Result<(Vec<u8>, scored::Scored)> {
    let mut file = out.into_inner().map_err(|e| e.into_error())?;
    file.seek(SeekFrom::Start(0))?;
    let mut all = Vec::new();
    file.read_to_end(&mut all)?;
    let data = scored::read(all.as_slice(), |b| {
        eprintln!("{}:{}: {}", items_path.display(), b.line, b.reason);
    })?;
    if data.is_empty() {
        bail!("no item was answered; see the errors above");
    }
    Ok((all, data))
}

/// The ids already in `items.jsonl`, and whether it ends without a newline.
fn done_ids(path: &Path) -> anyhow::Result<(HashSet<String>, bool)> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((HashSet::new(), false)),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut ids = HashSet::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Map<String, Value>>(raw) {
            Ok(obj) => match obj.get("id") {
                Some(id) => {
                    ids.insert(id.to_string());
                }
                None => eprintln!("{}:{}: no \"id\"; ignored", path.display(), i + 1),
            },
            Err(e) => eprintln!(
                "{}:{}: unreadable ({e}); its item will run again",
                path.display(),
                i + 1
            ),
        }
    }
    Ok((ids, text.last().is_some_and(|&b| b != b'\n')))
}

/// Writes `run.json`, or checks that the one there has the same settings.
fn check_settings(dir: &Path, settings: &impl Serialize) -> anyhow::Result<()> {
    let path = dir.join("run.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let old: Map<String, Value> = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a run.json of hedge eval", path.display()))?;
            let Value::Object(new) = serde_json::to_value(settings)? else {
                bail!("settings are not a JSON object");
            };
            let diff: Vec<String> = new
                .iter()
                .filter(|(k, v)| old.get(*k) != Some(v))
                .map(|(k, v)| {
                    let was = old.get(k).map_or("(none)".to_string(), Value::to_string);
                    format!("{k}: {was} then, {v} now")
                })
                .collect();
            if !diff.is_empty() {
                bail!(
                    "{} holds answers made with other settings ({}); use the same flags to \
                     resume, or another --out",
                    dir.display(),
                    diff.join("; ")
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut text = serde_json::to_string_pretty(settings)?;
            text.push('\n');
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `\n` typed on the command line means a newline.
fn unescape(s: &str) -> String {
    s.replace("\\n", "\n")
}

pub fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    if a.steer.cascade.models.is_some() {
        return cascade_eval::run(a);
    }
    let (mut scorer, policy) =
        super::policy::scorer(&a.estimators, &a.steer.policy, a.summary.seed)?;
    let template = unescape(&a.template);
    if !template.contains("{question}") {
        bail!("--template {:?}: it must contain {{question}}", a.template);
    }
    let sampling = SamplingParams {
        max_tokens: a.max_tokens,
        stop: a.stop.iter().map(|s| unescape(s)).collect(),
        ..SamplingParams::default()
    };
    sampling.validate()?;
    let (opts, calibration) = super::summary_setup(&a.summary)?;
    let (items, mut bad) = read_items(&a.data, a.split.as_deref(), a.limit)?;

    let model = super::nudge::load(&a.model, &a.steer.nudge)?;
    let model = super::speculative::wrap(model, &a.steer, &a.model)?;
    let model = super::reward::guide(model, &a.steer.reward, &a.model, a.summary.seed)?;
    if a.chat && !a.no_chat && !model.has_chat_template() {
        bail!(
            "--chat: model {} has no chat template; run with --no-chat",
            a.model.model
        );
    }
    let chat = !a.no_chat && (a.chat || model.has_chat_template());
    let sampling_settings = scorer.gathers().then(|| SamplingSettings {
        samples: scorer.options().samples,
        sample_temperature: scorer.options().temperature,
        seed: scorer.options().seed,
        similarity: scorer.similarity().map(|k| k.to_string()),
        similarity_model: scorer
            .similarity()
            .and(a.estimators.sampling.similarity_model.clone()),
    });
    let settings = RunSettings {
        model: a.model.model.clone(),
        judge: a.judge.to_string(),
        estimators: scorer.specs().iter().map(ToString::to_string).collect(),
        split: a.split.clone(),
        chat,
        template: template.clone(),
        stop: sampling.stop.clone(),
        max_tokens: a.max_tokens,
        sampling: sampling_settings,
        reward: super::reward::run_setting(&a.steer.reward),
        nudging: super::nudge::run_setting(&a.steer.nudge),
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    check_settings(&a.out, &settings)?;
    let items_path = a.out.join("items.jsonl");
    let (todo, mut out, bar) = resume(&items_path, &items)?;
    let mut failed = 0;
    for item in todo {
        let req = GenerationRequest {
            prompt: template.replace("{question}", &item.question),
            chat,
            sampling: sampling.clone(),
            top_logprobs: a.estimators.top_logprobs,
        };
        bar.set_message("answer");
        let result = (|| -> anyhow::Result<_> {
            let gen = model.generate(&req)?;
            let choice = item.choice.as_ref();
            let scored =
                scorer.score(&model, &req, &item.question, choice, &gen, &mut |stage| {
                    bar.set_message(stage.label());
                })?;
            Ok((gen, scored))
        })();
        if result.is_err() && scorer.exhausted() {
            // No estimator can run on this model: every item would fail the same way.
            bar.finish_and_clear();
            return result.map(|_| ExitCode::FAILURE);
        }
        match result {
            Ok((gen, (scores, gathered))) => {
                let q = a.judge.judge(&gen.text, &item.answers);
                let mut obj = item.fields.clone();
                obj.insert("response".into(), json!(gen.text));
                obj.insert("correct".into(), json!(u8::from(q >= 0.5)));
                if a.judge.graded() {
                    obj.insert("quality".into(), json!(q));
                }
                obj.insert("scores".into(), serde_json::to_value(&scores)?);
                obj.insert("response_tokens".into(), json!(gen.tokens.len()));
                obj.insert(
                    "finish_reason".into(),
                    serde_json::to_value(gen.finish_reason)?,
                );
                // What any score can be recomputed from (`hedge rescore`).
                obj.insert("tokens".into(), serde_json::to_value(&gen.tokens)?);
                insert_evidence(&mut obj, &gathered)?;
                super::nudge::annotate(&a.steer.nudge, &gen, &mut obj);
                if let Some(p) = &policy {
                    let d = p.decide(&gen.text, &scores, &gathered);
                    obj.insert("decision".into(), serde_json::to_value(d)?);
                }
                if let Some(r) = super::reward::take_note(&a.steer.reward, &gen.text) {
                    obj.insert("reward".into(), serde_json::to_value(r)?);
                }
                serde_json::to_writer(&mut out, &obj)?;
                writeln!(out)?;
                out.flush()?; // an interrupted run keeps every answer it finished
            }
            Err(e) => {
                failed += 1;
                bar.suspend(|| {
                    eprintln!("{}:{}: id {}: {e:#}", a.data.display(), item.line, item.key);
                });
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (all, data) = read_back(out, &items_path)?;
    let mut context = Map::new();
    context.insert("model".into(), json!(settings.model));
    context.insert("data".into(), json!(a.data.display().to_string()));
    context.insert("split".into(), json!(settings.split));
    context.insert("match".into(), json!(settings.judge));
    context.insert("chat".into(), json!(chat));
    context.insert("items".into(), json!(items_path.display().to_string()));
    if let Some(path) = &a.summary.calibration {
        context.insert("calibration".into(), json!(path.display().to_string()));
    }
    let policy_report = policy
        .as_ref()
        .map(|p| (p, super::policy::report_of_lines(&p.policy, &all, a.judge)));
    if let Some((p, r)) = &policy_report {
        context.insert("policy".into(), serde_json::to_value(p.summary(r))?);
    }
    let speculative = super::speculative::total(&a.steer);
    if let Some(s) = &speculative {
        context.insert("speculative".into(), s.to_json());
    }
    let summary = summary::compute(&data, &opts, calibration.as_ref(), context)?;
    super::write_outputs(&a.out, &summary, &data)?;
    summary::write_table(&mut std::io::stdout().lock(), &summary)?;
    if let Some(s) = &speculative {
        super::speculative::write_line(&mut std::io::stdout().lock(), s)?;
    }
    super::nudge::write_eval_report(&a.steer.nudge, &a.out, &mut std::io::stdout().lock())?;
    if let Some((p, r)) = &policy_report {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout)?;
        super::policy::write_report(&mut stdout, p, r)?;
    }
    eprintln!(
        "wrote {0}/items.jsonl, {0}/summary.json and {0}/report.html",
        a.out.display()
    );
    bad += failed;
    if bad > 0 {
        eprintln!("skipped {bad} item{}", if bad == 1 { "" } else { "s" });
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_checked_field_by_field() {
        let ok = parse_item(
            3,
            br#"{"id": 7, "question": "q?", "answers": ["a"], "x": 1}"#,
        )
        .unwrap();
        assert_eq!((ok.line, ok.key.as_str(), ok.answers.len()), (3, "7", 1));
        assert_eq!(ok.fields["x"], 1);
        let s = parse_item(1, br#"{"id": "7", "question": "q", "answers": []}"#).unwrap();
        assert_eq!(s.key, "\"7\"", "a string id differs from a number id");
        for (line, want) in [
            (
                &br#"{"question": "q", "answers": []}"#[..],
                "missing field \"id\"",
            ),
            (
                br#"{"id": [1], "question": "q", "answers": []}"#,
                "\"id\" must be",
            ),
            (br#"{"id": 1, "answers": []}"#, "missing field \"question\""),
            (
                br#"{"id": 1, "question": "q", "answers": [1]}"#,
                "list of strings",
            ),
            (
                br#"{"id": 1, "question": "q", "answers": "a"}"#,
                "list of strings",
            ),
            (
                br#"{"id": 1, "question": "q"}"#,
                "missing field \"answers\"",
            ),
            (b"[1, 2]", "not a JSON object"),
        ] {
            let e = parse_item(1, line).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn split_duplicates_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(
            &path,
            "{\"id\":1,\"question\":\"a\",\"answers\":[],\"split\":\"test\"}\n\
             {\"id\":2,\"question\":\"b\",\"answers\":[],\"split\":\"calib\"}\n\
             \n\
             {\"id\":1,\"question\":\"c\",\"answers\":[],\"split\":\"test\"}\n\
             {\"id\":3,\"question\":\"d\",\"answers\":[]}\n\
             {\"id\":4,\"question\":\"e\",\"answers\":[],\"split\":\"test\"}\n",
        )
        .unwrap();
        let keys = |items: &[Item]| items.iter().map(|i| i.key.clone()).collect::<Vec<_>>();
        let (items, bad) = read_items(&path, Some("test"), None).unwrap();
        assert_eq!((keys(&items), bad), (vec!["1".into(), "4".into()], 1));
        assert_eq!(items[1].line, 6);
        let (items, _) = read_items(&path, None, Some(3)).unwrap();
        assert_eq!(keys(&items), ["1", "2", "3"]);
    }
}
