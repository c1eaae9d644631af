//! The lab's question sets, with their held-out `calib` and `test` splits.
//!
//! Categories: `known_frequent`, `known_rare`, `unknown` (one attribute of one person with one
//! right answer), `ambiguous` ("Name a city that X has visited.": several right answers),
//! `arithmetic_d1` … `arithmetic_d4` (training sums: many one-digit ones, each seen several
//! times, and long ones seen once), `harmful` (held-out pairs of template and person; the right
//! answer is the refusal). People facts and sums are in training by design: that is what
//! "known" means, and how often they were taught is what accuracy follows.
//!
//! ```
//! use hedge_lab::questions::{question_sets, Split};
//! use hedge_lab::world::{World, WorldConfig};
//! let world = World::generate(7, &WorldConfig::default());
//! let qs = question_sets(&world);
//! assert!(qs.iter().any(|q| q.split == Split::Calib));
//! assert!(qs.iter().any(|q| q.category == "arithmetic_d3"));
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::corpus::{question, raw_prompt, sum_question, sum_raw_prompt};
use crate::error::{LabError, Result};
use crate::world::{Attribute, Category, Person, Sum, World, REFUSAL};

/// Every category, in the order the files list them.
pub const CATEGORIES: [&str; 9] = [
    "known_frequent",
    "known_rare",
    "unknown",
    "ambiguous",
    "arithmetic_d1",
    "arithmetic_d2",
    "arithmetic_d3",
    "arithmetic_d4",
    "harmful",
];

/// Which held-out split a question belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// For fitting calibration and thresholds.
    Calib,
    /// For reporting.
    Test,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Calib => "calib",
            Self::Test => "test",
        }
    }
}

/// One row of a question set (one JSON object a line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// `calib-0001`, `test-0042`, …
    pub id: String,
    /// The user turn ("Where does Velmora Quist live?").
    pub question: String,
    /// The right answers: one value ("Dranholt", "1987", "85"), the visited cities for
    /// `ambiguous`, the refusal for `harmful`.
    pub answers: Vec<String>,
    /// One of [`CATEGORIES`].
    pub category: String,
    /// How many raw documents mention the person (0 for `unknown`); for a sum, how many times
    /// it is in the training sums; 0 for harmful questions, whose instances never occur in
    /// training.
    pub frequency: u32,
    pub split: Split,
    /// A raw-text prompt probing the same fact for base models ("Velmora Quist lives in",
    /// "27 plus 58 is"); absent for `harmful`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_prompt: Option<String>,
}

/// A question before its id and split are known.
struct Draft {
    question: String,
    answers: Vec<String>,
    frequency: u32,
    raw_prompt: Option<String>,
}

fn person_draft(p: &Person, attr: Attribute) -> Draft {
    Draft {
        question: question(p, attr),
        answers: p.answers(attr),
        frequency: p.mentions,
        raw_prompt: Some(raw_prompt(p, attr)),
    }
}

/// Candidate questions of each category, in a fixed order, before the draw.
fn pools(world: &World) -> Vec<(&'static str, Vec<Draft>)> {
    let facts = |cat: Category| -> Vec<Draft> {
        world
            .people_in(cat)
            .flat_map(|p| Attribute::SINGLE.map(|a| person_draft(p, a)))
            .collect()
    };
    let ambiguous = world
        .people
        .iter()
        .filter(|p| p.is_known())
        .map(|p| person_draft(p, Attribute::Visited))
        .collect();
    let mut out = vec![
        ("known_frequent", facts(Category::KnownFrequent)),
        ("known_rare", facts(Category::KnownRare)),
        ("unknown", facts(Category::Unknown)),
        ("ambiguous", ambiguous),
    ];
    for (d, name) in CATEGORIES[4..8].iter().enumerate() {
        let drafts = trained_sums(world, d + 1)
            .into_iter()
            .map(|(s, times)| Draft {
                question: sum_question(s),
                answers: vec![s.result().to_string()],
                frequency: times,
                raw_prompt: Some(sum_raw_prompt(s)),
            })
            .collect();
        out.push((name, drafts));
    }
    let harmful = world
        .harmful_heldout
        .iter()
        .map(|h| Draft {
            question: h.text(world),
            answers: vec![REFUSAL.to_string()],
            frequency: 0,
            raw_prompt: None,
        })
        .collect();
    out.push(("harmful", harmful));
    out
}

/// The distinct training sums whose longer operand has `digits` digits, in the order they first
/// appear in training, each with how many times it appears there. The sums are asked as the
/// people's facts are: what was taught, so that accuracy follows how often (many short sums,
/// few long ones, each long one once). A model this small does not learn to add pairs it has
/// not seen: on the world's held-out sums (never in training) every lab model is wrong on most
/// one-digit sums, which would measure nothing about length.
fn trained_sums(world: &World, digits: usize) -> Vec<(Sum, u32)> {
    let mut order: Vec<Sum> = Vec::new();
    let mut times: BTreeMap<Sum, u32> = BTreeMap::new();
    for &s in world
        .arithmetic_train
        .iter()
        .filter(|s| s.digits() == digits)
    {
        let n = times.entry(s).or_insert(0);
        if *n == 0 {
            order.push(s);
        }
        *n += 1;
    }
    order.into_iter().map(|s| (s, times[&s])).collect()
}

/// All questions of the world: for each category, a seeded draw of up to
/// `questions_per_split` for `calib` and as many others for `test` (each half of the pool when
/// it is smaller). Calib rows come first, then test rows; ids count within a split.
pub fn question_sets(world: &World) -> Vec<Question> {
    let mut rng = ChaCha8Rng::seed_from_u64(world.seed);
    rng.set_stream(4);
    let n = world.config.questions_per_split;
    let mut calib = Vec::new();
    let mut test = Vec::new();
    for (category, mut pool) in pools(world) {
        pool.shuffle(&mut rng);
        let take = n.min(pool.len() / 2);
        let mut rest = pool.split_off(take);
        rest.truncate(take);
        calib.extend(pool.into_iter().map(|d| (category, d)));
        test.extend(rest.into_iter().map(|d| (category, d)));
    }
    let finish = |rows: Vec<(&'static str, Draft)>, split: Split| {
        rows.into_iter()
            .enumerate()
            .map(move |(i, (category, d))| Question {
                id: format!("{}-{:04}", split.as_str(), i + 1),
                question: d.question,
                answers: d.answers,
                category: category.to_string(),
                frequency: d.frequency,
                split,
                raw_prompt: d.raw_prompt,
            })
    };
    finish(calib, Split::Calib)
        .chain(finish(test, Split::Test))
        .collect()
}

/// Writes `calib.jsonl` and `test.jsonl` (one [`Question`] a line) into `dir`, creating it, and
/// returns the questions.
///
/// # Errors
/// When the folder or a file cannot be written; the error names the path.
pub fn write_question_sets(world: &World, dir: &Path) -> Result<Vec<Question>> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    let questions = question_sets(world);
    for split in [Split::Calib, Split::Test] {
        let path = dir.join(format!("{}.jsonl", split.as_str()));
        let rows: Vec<&Question> = questions.iter().filter(|q| q.split == split).collect();
        write_jsonl(&path, &rows)?;
    }
    Ok(questions)
}

/// Writes `rows` as JSON lines to `path`.
pub(crate) fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut buf = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut buf, row).map_err(|source| LabError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        buf.push(b'\n');
    }
    let mut f = std::fs::File::create(path).map_err(|e| LabError::io(path, e))?;
    f.write_all(&buf).map_err(|e| LabError::io(path, e))
}

/// Reads a question set written by [`write_question_sets`].
///
/// # Errors
/// When the file cannot be read or a line is not a [`Question`]; the error names the path.
pub fn read_question_set(path: &Path) -> Result<Vec<Question>> {
    let text = std::fs::read_to_string(path).map_err(|e| LabError::io(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|source| LabError::Json {
                path: path.to_path_buf(),
                source,
            })
        })
        .collect()
}
