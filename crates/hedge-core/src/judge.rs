//! Judging an answer against gold answers: SQuAD-normalised exact match, contains-any-gold,
//! ROUGE-L F (a quality in [0, 1]) and numeric equality, chosen by [`Match`] (`--match`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// How an answer is judged against its gold answers. Text and serde names: `exact`,
/// `contains` (the default), `rouge_l`, `numeric`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Match {
    /// 1 when the [`normalize_answer`]ed answer equals some normalised gold, else 0.
    #[serde(rename = "exact")]
    ExactMatch,
    /// 1 when some normalised gold appears in the normalised answer on word boundaries,
    /// else 0 ([`contains_gold`]).
    #[default]
    #[serde(rename = "contains")]
    Contains,
    /// ROUGE-L F over lowercased whitespace words, the best over the golds: a quality in
    /// [0, 1] ([`rouge_l`]).
    #[serde(rename = "rouge_l")]
    RougeL,
    /// 1 when the first number in the answer equals the first number of some gold, else 0
    /// ([`first_number`]).
    #[serde(rename = "numeric")]
    Numeric,
}

impl Match {
    /// Every method, in the order of the names in error messages.
    pub const ALL: [Match; 4] = [
        Match::ExactMatch,
        Match::Contains,
        Match::RougeL,
        Match::Numeric,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Match::ExactMatch => "exact",
            Match::Contains => "contains",
            Match::RougeL => "rouge_l",
            Match::Numeric => "numeric",
        }
    }

    /// Whether the judgement is a graded quality (ROUGE-L) rather than 0/1.
    pub fn graded(self) -> bool {
        self == Match::RougeL
    }

    /// The correctness (0 or 1) or quality in [0, 1] of `answer` against `golds`; 0 when
    /// there is no gold.
    pub fn judge<S: AsRef<str>>(self, answer: &str, golds: &[S]) -> f64 {
        let golds = golds.iter().map(AsRef::as_ref);
        let hit = |yes: bool| if yes { 1.0 } else { 0.0 };
        match self {
            Match::ExactMatch => {
                let a = normalize_answer(answer);
                hit(golds.into_iter().any(|g| normalize_answer(g) == a))
            }
            Match::Contains => hit(golds.into_iter().any(|g| contains_gold(answer, g))),
            Match::RougeL => golds.map(|g| rouge_l(answer, g)).fold(0.0, f64::max),
            Match::Numeric => {
                let Some(a) = first_number(answer) else {
                    return 0.0;
                };
                hit(golds.filter_map(first_number).any(|g| g == a))
            }
        }
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Match {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Match> {
        Match::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| CoreError::UnknownMatch {
                name: s.to_string(),
                known: Match::ALL.map(Match::name).join(", "),
            })
    }
}

/// SQuAD's `normalize_answer`: lowercase, delete ASCII punctuation (`string.punctuation`,
/// deleted without a space, so `state-of-the-art` → `stateoftheart`), replace the words
/// `a`, `an`, `the` (whole `\b`-bounded runs of word characters) by a space, and collapse
/// whitespace to single spaces with none at the ends.
pub fn normalize_answer(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    // Split into runs of word characters and runs of the rest; drop article runs.
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(lower.len());
    let mut rest = lower.as_str();
    while let Some(first) = rest.chars().next() {
        let word = is_word(first);
        let end = rest
            .find(|c: char| is_word(c) != word)
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(end);
        if word && matches!(run, "a" | "an" | "the") {
            out.push(' ');
        } else {
            out.push_str(run);
        }
        rest = tail;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the normalised `gold` appears in the normalised `answer` as whole words (a
/// contiguous run of its words). A gold that normalises to nothing (`"The."`) never does.
pub fn contains_gold(answer: &str, gold: &str) -> bool {
    let gold = normalize_answer(gold);
    let answer = normalize_answer(answer);
    let g: Vec<&str> = gold.split(' ').filter(|w| !w.is_empty()).collect();
    let a: Vec<&str> = answer.split(' ').filter(|w| !w.is_empty()).collect();
    !g.is_empty() && a.windows(g.len()).any(|w| w == g.as_slice())
}

/// ROUGE-L F-measure (β = 1) of two texts over lowercased whitespace-split words:
/// with L the longest common subsequence, P = L/|a|, R = L/|b|, F = 2PR/(P + R).
/// 0 when either text has no word or they share none. Symmetric; 1 for equal word lists.
pub fn rouge_l(a: &str, b: &str) -> f64 {
    let a = a.to_lowercase();
    let b = b.to_lowercase();
    let a: Vec<&str> = a.split_whitespace().collect();
    let b: Vec<&str> = b.split_whitespace().collect();
    let l = lcs_len(&a, &b);
    if l == 0 {
        return 0.0;
    }
    let p = l as f64 / a.len() as f64;
    let r = l as f64 / b.len() as f64;
    2.0 * p * r / (p + r)
}

/// Length of the longest common subsequence, O(|a|·|b|) time, O(|b|) memory.
pub(crate) fn lcs_len<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                cur[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The first number written in `s`: ASCII digits with optional thousands groups
/// (`1,234,567`: a comma followed by exactly three digits), an optional decimal part
/// (`4.0`, `.5`; a period not followed by a digit ends the number, so `4.` is 4), and a
/// minus sign (`-` or `−`) directly before it when that sign does not follow a letter or
/// digit (`-3` is −3, `COVID-19` gives 19). `None` when `s` holds no digit.
pub fn first_number(s: &str) -> Option<f64> {
    let ch: Vec<char> = s.chars().collect();
    let digit = |i: usize| ch.get(i).is_some_and(char::is_ascii_digit);
    let start = (0..ch.len()).find(|&i| digit(i) || (ch[i] == '.' && digit(i + 1)))?;
    let mut text = String::new();
    let mut j = start;
    while digit(j) {
        text.push(ch[j]);
        j += 1;
    }
    while ch.get(j) == Some(&',') && (1..=3).all(|k| digit(j + k)) && !digit(j + 4) {
        text.extend(&ch[j + 1..j + 4]);
        j += 4;
    }
    if ch.get(j) == Some(&'.') && digit(j + 1) {
        text.push('.');
        j += 1;
        while digit(j) {
            text.push(ch[j]);
            j += 1;
        }
    }
    let negative = start > 0
        && matches!(ch[start - 1], '-' | '−')
        && !(start > 1 && ch[start - 2].is_alphanumeric());
    // `text` is digits with at most one '.', never empty: it always parses.
    let value: f64 = text.parse().ok()?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_like_squad() {
        #[rustfmt::skip]
        let table = [
            ("The Eiffel Tower", "eiffel tower"),
            ("  an   apple, a day!  ", "apple day"),
            ("state-of-the-art", "stateoftheart"),
            ("Theatre and anthem", "theatre and anthem"), // articles only as whole words
            ("the", ""),
            ("A.", ""),
            ("Paris—the capital", "paris— capital"), // non-ASCII dash is kept, bounds \\b
            ("ÉCOLE Normale", "école normale"),
            ("1,234.5", "12345"),
        ];
        for (s, want) in table {
            assert_eq!(normalize_answer(s), want, "{s:?}");
        }
    }

    #[test]
    fn each_match_by_hand() {
        #[rustfmt::skip]
        let table: [(Match, &str, &[&str], f64); 22] = [
            (Match::ExactMatch, "The Eiffel Tower.", &["eiffel tower"], 1.0),
            (Match::ExactMatch, "Eiffel Tower in Paris", &["eiffel tower"], 0.0),
            (Match::ExactMatch, "paris", &["London", "Paris!"], 1.0),
            (Match::ExactMatch, "paris", &[], 0.0),
            (Match::Contains, "It is the Eiffel Tower, in Paris.", &["eiffel tower"], 1.0),
            (Match::Contains, "Eiffel Towers", &["eiffel tower"], 0.0), // word boundary
            (Match::Contains, "Parisian", &["Paris"], 0.0),
            (Match::Contains, "I think London", &["Paris", "london"], 1.0),
            (Match::Contains, "the answer", &["The"], 0.0), // empty gold never matches
            (Match::Contains, "tower eiffel", &["eiffel tower"], 0.0), // order matters
            (Match::RougeL, "the cat sat", &["the cat sat"], 1.0),
            // LCS "the cat" = 2: P = 2/3, R = 2/2 → F = 0.8
            (Match::RougeL, "The cat sat", &["the cat"], 0.8),
            (Match::RougeL, "dog", &["the cat"], 0.0),
            (Match::RougeL, "a b c d", &["x", "b d"], 2.0 / 3.0), // max over golds
            (Match::RougeL, "", &["x"], 0.0),
            (Match::Numeric, "The answer is 1,234.", &["1234"], 1.0),
            (Match::Numeric, "It is -3 degrees", &["-3"], 1.0),
            (Match::Numeric, "It is -3 degrees", &["3"], 0.0),
            (Match::Numeric, "4.0", &["4"], 1.0),
            (Match::Numeric, "about 12 or 13", &["13"], 0.0), // first number only
            (Match::Numeric, "no number", &["0"], 0.0),
            (Match::Numeric, "$0.50", &["0.5", "x"], 1.0),
        ];
        for (m, answer, golds, want) in table {
            let got = m.judge(answer, golds);
            assert!(
                (got - want).abs() < 1e-15,
                "{m} {answer:?} {golds:?}: {got}"
            );
        }
        // golds may be owned strings
        assert_eq!(Match::Contains.judge("yes", &[String::from("Yes")]), 1.0);
    }

    #[test]
    fn numbers_by_hand() {
        #[rustfmt::skip]
        let table = [
            ("1,234", Some(1234.0)), ("1,234,567 people", Some(1_234_567.0)),
            ("1,23", Some(1.0)), ("1,2345", Some(1.0)), ("1, 2, 3", Some(1.0)),
            ("-3", Some(-3.0)), ("−3", Some(-3.0)), ("COVID-19", Some(19.0)),
            ("x = -2.5", Some(-2.5)), ("4.", Some(4.0)), (".5", Some(0.5)),
            ("in 2024.", Some(2024.0)), ("007", Some(7.0)), ("abc", None), ("", None),
        ];
        for (s, want) in table {
            assert_eq!(first_number(s), want, "{s:?}");
        }
    }

    #[test]
    fn rouge_l_properties() {
        assert_eq!(rouge_l("A B", "a b"), 1.0);
        assert_eq!(rouge_l("a b c", "c b a"), rouge_l("c b a", "a b c"));
        // LCS of (a b c d e) and (a c e x) = 3: P = 3/5, R = 3/4 → 2·(9/20)/(27/20) = 2/3
        assert!((rouge_l("a b c d e", "a c e x") - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(rouge_l("", ""), 0.0);
    }

    #[test]
    fn names_round_trip_and_unknown_lists_the_allowed() {
        for m in Match::ALL {
            assert_eq!(m.to_string().parse::<Match>().unwrap(), m);
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{m}\""));
            assert_eq!(serde_json::from_str::<Match>(&json).unwrap(), m);
        }
        assert_eq!(Match::default(), Match::Contains);
        assert!(Match::RougeL.graded() && !Match::Numeric.graded());
        let e = "fuzzy".parse::<Match>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown match method `fuzzy`; known methods: exact, contains, rouge_l, numeric"
        );
    }
}
