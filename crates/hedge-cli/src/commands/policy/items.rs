//! The items a policy is fitted on or applied to: scored JSONL lines (a `hedge eval`
//! items.jsonl) with the answer, its judgement, category, golds and gathered evidence.

use std::path::Path;

use anyhow::Context;
use hedge_core::{Match, Scores};
use hedge_engine::GatheredEvidence;
use hedge_steer::clarify::ClarifyConfig;
use hedge_steer::policy::{Outcome, Policy, PolicyReport};
use serde_json::{Map, Value};

use crate::scored;

/// One judged, scored answer.
#[derive(Debug, Clone)]
pub struct Row {
    pub scores: Scores,
    /// Correctness or quality in [0, 1]; known when ≥ 0.5.
    pub quality: f64,
    /// The model's answer (`"response"`; empty when absent).
    pub response: String,
    pub category: Option<String>,
    /// The gold answers (`"answers"`; empty when absent).
    pub answers: Vec<String>,
    /// The samples, similarity matrix, … kept in the line.
    pub evidence: GatheredEvidence,
}

/// Reads one line; the error says what is wrong with it.
pub fn parse(line: &[u8]) -> Result<Row, String> {
    let (scores, quality) = scored::parse_line(line)?;
    let obj: Map<String, Value> =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON object ({e})"))?;
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(String::from);
    let answers = match obj.get("answers") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|g| g.as_str().map(String::from))
            .collect::<Option<Vec<String>>>()
            .ok_or("\"answers\" must be a list of strings")?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err("\"answers\" must be a list of strings".into()),
    };
    let evidence: GatheredEvidence = serde_json::from_value(Value::Object(obj.clone()))
        .map_err(|e| format!("its samples or similarity matrix: {e}"))?;
    Ok(Row {
        scores,
        quality,
        response: text("response").unwrap_or_default(),
        category: text("category"),
        answers,
        evidence,
    })
}

/// The good lines of `text`, passing each bad one (line number from 1, reason) to `on_bad`.
fn rows_of(text: &[u8], mut on_bad: impl FnMut(usize, String)) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse(raw) {
            Ok(r) => rows.push(r),
            Err(reason) => on_bad(i + 1, reason),
        }
    }
    rows
}

/// Reads the items of `path`, printing each bad line as `FILE:LINE: reason`; returns the
/// good ones and the number of bad ones.
///
/// # Errors
/// When the file cannot be read.
pub fn read(path: &Path) -> anyhow::Result<(Vec<Row>, usize)> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bad = 0;
    let rows = rows_of(&text, |line, reason| {
        bad += 1;
        eprintln!("{}:{line}: {reason}", path.display());
    });
    Ok((rows, bad))
}

/// The report of `policy` on `rows`.
pub fn report(policy: &Policy, rows: &[Row], judge: Match) -> PolicyReport {
    let decisions: Vec<_> = rows
        .iter()
        .map(|r| policy.decide(&r.response, &r.scores, &r.evidence))
        .collect();
    let outcomes: Vec<Outcome> = rows
        .iter()
        .zip(&decisions)
        .map(|(r, d)| Outcome {
            category: r.category.as_deref(),
            correct: hedge_core::metrics::is_correct(r.quality),
            decision: d,
            golds: &r.answers,
        })
        .collect();
    PolicyReport::compute(&outcomes, judge)
}

/// The report of `policy` on the items.jsonl text `text` (`hedge eval`, which has reported
/// its bad lines already): each decision is made again from the line's scores and evidence,
/// so items answered by an earlier, resumed run count too.
pub fn report_of_lines(policy: &Policy, text: &[u8], judge: Match) -> PolicyReport {
    report(policy, &rows_of(text, |_, _| {}), judge)
}

/// Says on standard error when the items cannot show the policy's clarify: no samples, or
/// samples drawn otherwise than the policy draws them.
pub fn check_samples(path: &Path, rows: &[Row], c: &ClarifyConfig) {
    let with = rows
        .iter()
        .filter(|r| !r.evidence.samples.is_empty())
        .count();
    if with == 0 {
        eprintln!(
            "note: {} holds no samples, so no clarifying question is measured on it (run \
             `hedge eval` with -e …,num_sets:{} to gather them)",
            path.display(),
            c.cluster_threshold
        );
        return;
    }
    let drawn = rows
        .iter()
        .find(|r| !r.evidence.samples.is_empty())
        .map(|r| (r.evidence.samples.len(), r.evidence.similarity_backend));
    if let Some((n, kind)) = drawn {
        if n != c.samples || kind.is_some_and(|k| k != c.similarity) {
            eprintln!(
                "note: {} holds {n} samples per item compared with {}; the policy draws {} \
                 compared with {}",
                path.display(),
                kind.map_or("nothing".to_string(), |k| k.to_string()),
                c.samples,
                c.similarity
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_with_their_evidence() {
        let line = br#"{"id": 1, "question": "q", "answers": ["Paris"], "category": "known",
            "response": "Paris.", "correct": 1, "scores": {"msp": 0.5},
            "samples": [{"text": "Paris."}, {"text": "Lyon."}],
            "similarity_backend": "rouge_l", "similarity": [[1.0, 0.0], [0.0, 1.0]]}"#;
        let r = parse(line).unwrap();
        assert_eq!((r.quality, r.response.as_str()), (1.0, "Paris."));
        assert_eq!(r.category.as_deref(), Some("known"));
        assert_eq!(r.answers, ["Paris"]);
        assert_eq!(r.evidence.samples.len(), 2);
        assert!(r.evidence.similarity.is_some());
        let e = parse(br#"{"scores": {"msp": 1}, "correct": 1, "answers": "Paris"}"#).unwrap_err();
        assert!(e.contains("\"answers\" must be a list"), "{e}");
        let e = parse(br#"{"scores": {"msp": 1}}"#).unwrap_err();
        assert!(e.contains("\"correct\""), "{e}");
        let mut bad = Vec::new();
        let rows = rows_of(b"\nnot json\n{\"scores\":{},\"correct\":0}\n", |l, _| {
            bad.push(l)
        });
        assert_eq!((rows.len(), bad), (1, vec![2]));
    }
}
