//! `Scores`: estimator name → uncertainty for one answer, in the order the estimators were
//! asked for.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Estimator name → uncertainty, keeping insertion order.
///
/// Serialised as an object in that order; a non-finite value (NaN for an empty answer,
/// +inf for a token of probability 0) is written as `null` in every format, and read back
/// as NaN.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scores {
    entries: Vec<(String, f64)>,
}

impl Scores {
    /// No scores yet.
    pub fn new() -> Scores {
        Scores::default()
    }

    /// Sets the score of `name`: appended if new, replaced in place if already there.
    pub fn insert(&mut self, name: impl Into<String>, value: f64) {
        let name = name.into();
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// The score of `name`, if present.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }

    /// (name, score) pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> + '_ {
        self.entries.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// Number of scores.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no score.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<S: Into<String>> FromIterator<(S, f64)> for Scores {
    fn from_iter<I: IntoIterator<Item = (S, f64)>>(iter: I) -> Scores {
        let mut scores = Scores::new();
        for (name, value) in iter {
            scores.insert(name, value);
        }
        scores
    }
}

impl IntoIterator for Scores {
    type Item = (String, f64);
    type IntoIter = std::vec::IntoIter<(String, f64)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl Serialize for Scores {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (name, value) in &self.entries {
            map.serialize_entry(name, &value.is_finite().then_some(*value))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Scores {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scores, D::Error> {
        struct ScoresVisitor;

        impl<'de> Visitor<'de> for ScoresVisitor {
            type Value = Scores;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of estimator name to number or null")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scores, A::Error> {
                let mut scores = Scores::new();
                while let Some((name, value)) = map.next_entry::<String, Option<f64>>()? {
                    scores.insert(name, value.unwrap_or(f64::NAN));
                }
                Ok(scores)
            }
        }

        deserializer.deserialize_map(ScoresVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_replaces_in_place() {
        let mut s = Scores::new();
        assert!(s.is_empty());
        s.insert("perplexity", 0.5);
        s.insert("msp", 2.0);
        s.insert("perplexity", 0.25);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [("perplexity", 0.25), ("msp", 2.0)]
        );
        assert_eq!(s.get("msp"), Some(2.0));
        assert_eq!(s.get("eigv"), None);
    }

    #[test]
    fn json_object_in_order_with_null_for_non_finite() {
        let s: Scores = [
            ("zeta", 1.5),
            ("alpha", f64::NAN),
            ("msp", f64::INFINITY),
            ("beta", -0.25),
        ]
        .into_iter()
        .collect();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"zeta":1.5,"alpha":null,"msp":null,"beta":-0.25}"#);
        let back: Scores = serde_json::from_str(&json).unwrap();
        let names: Vec<&str> = back.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["zeta", "alpha", "msp", "beta"]);
        assert_eq!(back.get("zeta"), Some(1.5));
        assert!(back.get("alpha").unwrap().is_nan());
        assert!(back.get("msp").unwrap().is_nan());
        assert!(serde_json::from_str::<Scores>(r#"{"msp":"high"}"#).is_err());
    }
}
