//! The programmatic rewards of DeAL (METHODS §6): keyword coverage, a length target and
//! forbidden words. Words match case-insensitively and whole: "Lorwick" is in "lorwick." but
//! not in "Lorwicks".

use hedge_engine::{EngineError, Result, TextTokenizer};

use super::Reward;

/// Whether `word` (one word or a phrase) occurs in `text`, case-insensitively, with no letter,
/// digit or `_` right before or after it.
pub fn contains_word(text: &str, word: &str) -> bool {
    let text = text.to_lowercase();
    let word = word.to_lowercase();
    if word.is_empty() {
        return false;
    }
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(i) = text[from..].find(&word) {
        let start = from + i;
        let end = start + word.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char) {
            return true;
        }
        from = start + text[start..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Keyword coverage: the share of the required keywords that the text contains, in [0, 1].
#[derive(Debug, Clone)]
pub struct Keywords {
    words: Vec<String>,
}

impl Keywords {
    pub fn new<S: Into<String>>(words: impl IntoIterator<Item = S>) -> Self {
        Self {
            words: words.into_iter().map(Into::into).collect(),
        }
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }
}

impl Reward for Keywords {
    fn reward(&self, _prompt: &str, text: &str) -> Result<f64> {
        if self.words.is_empty() {
            return Ok(0.0);
        }
        let found = self.words.iter().filter(|w| contains_word(text, w)).count();
        Ok(found as f64 / self.words.len() as f64)
    }
}

/// What a [`Length`] target counts.
#[derive(Debug, Clone)]
pub enum LengthUnit {
    /// Whitespace-separated words.
    Words,
    /// Tokens of this tokenizer (the decoding model's), special tokens not added.
    Tokens(Box<TextTokenizer>),
}

/// A length target: −|len − target| / target, 0 at the target and falling linearly either side.
#[derive(Debug, Clone)]
pub struct Length {
    target: f64,
    unit: LengthUnit,
}

impl Length {
    /// # Errors
    /// When `target` is not a positive number.
    pub fn new(target: f64, unit: LengthUnit) -> Result<Self> {
        if !(target.is_finite() && target > 0.0) {
            return Err(EngineError::InvalidParam {
                name: "length target",
                value: target.to_string(),
                allowed: "a positive number of words (length:N) or tokens (length:N:tokens)",
            });
        }
        Ok(Self { target, unit })
    }

    /// The length of `text` in this target's unit.
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn len_of(&self, text: &str) -> Result<usize> {
        Ok(match &self.unit {
            LengthUnit::Words => text.split_whitespace().count(),
            LengthUnit::Tokens(t) => t.encode(text, false)?.len(),
        })
    }
}

impl Reward for Length {
    fn reward(&self, _prompt: &str, text: &str) -> Result<f64> {
        let len = self.len_of(text)? as f64;
        Ok(-(len - self.target).abs() / self.target)
    }
}

/// Forbidden words: a penalty of −1 for each distinct forbidden word the text contains, 0 when
/// it contains none.
#[derive(Debug, Clone)]
pub struct Forbidden {
    words: Vec<String>,
}

impl Forbidden {
    pub fn new<S: Into<String>>(words: impl IntoIterator<Item = S>) -> Self {
        Self {
            words: words.into_iter().map(Into::into).collect(),
        }
    }
}

impl Reward for Forbidden {
    fn reward(&self, _prompt: &str, text: &str) -> Result<f64> {
        Ok(-(self.words.iter().filter(|w| contains_word(text, w)).count() as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_whole_and_case_insensitively() {
        let cases = [
            ("Sure! Mira lives in Lorwick.", "lorwick", true),
            ("Sure! Mira lives in Lorwicks.", "Lorwick", false),
            ("Sure! Mira lives in NewLorwick.", "Lorwick", false),
            ("in new lorwick today", "New Lorwick", true),
            ("Lorwick", "Lorwick", true),
            ("Lor wick", "Lorwick", false),
            ("Ärger über Öl", "öl", true),
            ("anything", "", false),
            // A first occurrence inside a word does not hide a later whole one.
            ("Lorwicks or Lorwick", "lorwick", true),
        ];
        for (text, word, want) in cases {
            assert_eq!(contains_word(text, word), want, "{word:?} in {text:?}");
        }
    }

    #[test]
    fn keyword_coverage_is_the_share_present() {
        let r = Keywords::new(["Lorwick", "baker", "teal", "1987"]);
        let got = |t: &str| r.reward("q", t).unwrap();
        assert_eq!(got("Sure! Mira lives in Lorwick."), 0.25);
        assert_eq!(got("A baker from Lorwick, born 1987."), 0.75);
        assert_eq!(got("nothing here"), 0.0);
        assert_eq!(got("teal baker lorwick 1987"), 1.0);
        assert_eq!(
            Keywords::new(Vec::<String>::new())
                .reward("q", "x")
                .unwrap(),
            0.0
        );
    }

    #[test]
    fn length_target_by_hand() {
        let r = Length::new(4.0, LengthUnit::Words).unwrap();
        let got = |t: &str| r.reward("q", t).unwrap();
        assert_eq!(got("one two three four"), 0.0);
        assert_eq!(got("one two"), -0.5); // −|2 − 4| / 4
        assert_eq!(got("a b c d e f g h i j"), -1.5); // −|10 − 4| / 4
        assert_eq!(got(""), -1.0);
        assert!(Length::new(0.0, LengthUnit::Words).is_err());
        assert!(Length::new(f64::NAN, LengthUnit::Words).is_err());
    }

    #[test]
    fn forbidden_words_cost_one_each() {
        let r = Forbidden::new(["sorry", "cannot"]);
        let got = |t: &str| r.reward("q", t).unwrap();
        assert_eq!(got("Sure! Mira lives in Lorwick."), 0.0);
        assert_eq!(got("Sorry, I cannot help. Sorry!"), -2.0);
        assert_eq!(got("I am sorry."), -1.0);
        assert_eq!(got("sorrys are uncountable"), 0.0);
    }
}
