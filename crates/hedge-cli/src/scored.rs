//! Scored answers: one uncertainty column per estimator and a quality per answer, read from
//! JSONL lines `{"scores": {name: value}, "correct": 0/1}` or `{…, "quality": q}`.

use std::collections::HashMap;
use std::io::BufRead;

use hedge_core::Scores;
use serde::Deserialize;
use serde_json::Value;

/// Uncertainty columns and qualities of N answers.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// Estimator names, in the order they first appear.
    pub names: Vec<String>,
    /// `u[k][i]`: uncertainty of estimator `names[k]` for answer i; NaN when the answer has
    /// no score (or `null`) for that estimator.
    pub u: Vec<Vec<f64>>,
    /// Quality q_i ∈ [0, 1] of answer i (a 0/1 correctness is a quality).
    pub q: Vec<f64>,
    /// Column of each name.
    index: HashMap<String, usize>,
}

/// A line that could not be used: its number (from 1) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// The fields of a scored line that hedge reads; the others are ignored.
#[derive(Deserialize)]
struct Row {
    scores: Option<Scores>,
    correct: Option<Value>,
    quality: Option<Value>,
}

impl Scored {
    /// Number of answers.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether there is no answer.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Adds one answer; estimators it has no score for get NaN, and a new estimator gets
    /// NaN for every earlier answer.
    pub fn push(&mut self, scores: &Scores, q: f64) {
        let row = self.q.len();
        self.q.push(q);
        for col in &mut self.u {
            col.push(f64::NAN);
        }
        for (j, (name, value)) in scores.iter().enumerate() {
            // Lines usually list the estimators in the same order: try that column first.
            let k = match self.names.get(j) {
                Some(n) if n == name => j,
                _ => match self.index.get(name) {
                    Some(&k) => k,
                    None => {
                        self.names.push(name.to_string());
                        self.index.insert(name.to_string(), self.u.len());
                        self.u.push(vec![f64::NAN; row + 1]);
                        self.u.len() - 1
                    }
                },
            };
            self.u[k][row] = value;
        }
    }

    /// The column of estimator `name`.
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.index.get(name).map(|&k| self.u[k].as_slice())
    }
}

/// Reads the scores and quality of one line.
///
/// The quality is `"quality"` (a number in [0, 1]) when present, else `"correct"` (0, 1,
/// true or false). The error says what is wrong with the line.
pub fn parse_line(line: &[u8]) -> Result<(Scores, f64), String> {
    let row: Row = serde_json::from_slice(line).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            format!("not a JSON object ({e})")
        } else {
            e.to_string()
        }
    })?;
    let scores = row
        .scores
        .ok_or("missing field \"scores\" (an object of estimator name to number)")?;
    let q = match (&row.quality, &row.correct) {
        (Some(q), _) => match q.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => x,
            _ => return Err(format!("\"quality\" must be a number in [0, 1], not {q}")),
        },
        (None, Some(c)) => match (c.as_bool(), c.as_f64()) {
            (Some(b), _) => f64::from(u8::from(b)),
            (None, Some(x)) if x == 0.0 || x == 1.0 => x,
            _ => return Err(format!("\"correct\" must be 0, 1, true or false, not {c}")),
        },
        (None, None) => {
            return Err("missing field \"correct\" (0 or 1) or \"quality\" (in [0, 1])".into())
        }
    };
    Ok((scores, q))
}

/// Reads scored JSONL from `input`; blank lines are skipped, bad lines are passed to
/// `on_bad` and skipped.
///
/// # Errors
/// Only when reading fails.
pub fn read(mut input: impl BufRead, mut on_bad: impl FnMut(BadLine)) -> std::io::Result<Scored> {
    let mut data = Scored::default();
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(&buf) {
            Ok((scores, q)) => data.push(&scores, q),
            Err(reason) => on_bad(BadLine { line, reason }),
        }
    }
    Ok(data)
}

/// Reads a scored JSONL file, printing each bad line as `FILE:LINE: reason` on stderr.
/// Returns the answers and the number of bad lines.
///
/// # Errors
/// When the file cannot be opened or read.
pub fn read_file(path: &std::path::Path) -> anyhow::Result<(Scored, usize)> {
    use anyhow::Context;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bad = 0;
    let data = read(std::io::BufReader::new(file), |b| {
        bad += 1;
        eprintln!("{}:{}: {}", path.display(), b.line, b.reason);
    })
    .with_context(|| format!("reading {}", path.display()))?;
    Ok((data, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> (Scored, Vec<BadLine>) {
        let mut bad = Vec::new();
        let data = read(text.as_bytes(), |b| bad.push(b)).unwrap();
        (data, bad)
    }

    #[test]
    fn columns_follow_first_appearance_and_missing_is_nan() {
        let (d, bad) = lines(
            "{\"scores\": {\"a\": 1, \"b\": 2}, \"correct\": 1}\n\n\
             {\"scores\": {\"b\": 3, \"c\": null}, \"correct\": false, \"id\": 7}\n\
             {\"scores\": {\"c\": 4, \"a\": 5}, \"quality\": 0.25, \"correct\": 1}\n",
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(d.names, ["a", "b", "c"]);
        assert_eq!(d.q, [1.0, 0.0, 0.25], "quality wins over correct");
        let col = |n| d.column(n).unwrap().to_vec();
        assert_eq!(col("a")[0], 1.0);
        assert!(col("a")[1].is_nan());
        assert_eq!(col("a")[2], 5.0);
        assert_eq!(&col("b")[..2], [2.0, 3.0]);
        assert!(col("c")[0].is_nan() && col("c")[1].is_nan());
        assert_eq!(col("c")[2], 4.0);
    }

    #[test]
    fn bad_lines_say_why_and_are_skipped() {
        let (d, bad) = lines(
            "not json\n\
             {\"correct\": 1}\n\
             {\"scores\": {\"a\": 1}}\n\
             {\"scores\": {\"a\": 1}, \"correct\": 2}\n\
             {\"scores\": {\"a\": 1}, \"quality\": 1.5}\n\
             {\"scores\": {\"a\": \"high\"}, \"correct\": 0}\n\
             {\"scores\": {\"a\": 0.5}, \"correct\": 0}\n",
        );
        assert_eq!(d.len(), 1);
        let got: Vec<(usize, &str)> = bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
        assert_eq!(got.len(), 6);
        assert!(got[0].0 == 1 && got[0].1.starts_with("not a JSON object"));
        assert!(got[1].1.contains("missing field \"scores\""));
        assert!(got[2].1.contains("\"correct\" (0 or 1) or \"quality\""));
        assert!(got[3].1.contains("\"correct\" must be 0, 1"));
        assert!(got[4]
            .1
            .contains("\"quality\" must be a number in [0, 1], not 1.5"));
        assert!(got[5].0 == 6 && got[5].1.contains("invalid type"));
    }
}
