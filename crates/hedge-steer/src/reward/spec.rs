//! Rewards as the command line names them, and how several combine.
//!
//! ```text
//! keywords:Lorwick,baker     share of the keywords present (whole words, any case)
//! length:12                  −|words − 12| / 12      (length:12:tokens counts tokens)
//! forbid:sorry,cannot        −1 for each forbidden word present
//! model:DIR                  a reward model's score of (prompt, text)  (model:DIR#LABEL: p(LABEL))
//! …@W                        any of them times the weight W, e.g. length:12@0.5
//! ```

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use hedge_engine::{EngineError, Result, TextTokenizer};

use super::{
    Forbidden, Keywords, Length, LengthUnit, ModelReward, Perturbation, Reward, Robust, Weighted,
};

/// The forms a reward takes, for error messages and `--help`.
pub const REWARD_FORMS: &str =
    "keywords:A,B | length:N[:tokens] | forbid:X,Y | model:DIR[#LABEL], \
     each with an optional @WEIGHT (e.g. keywords:Lorwick, length:12@0.5)";

/// One reward and its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardSpec {
    pub weight: f64,
    pub kind: RewardSpecKind,
}

/// Which reward.
#[derive(Debug, Clone, PartialEq)]
pub enum RewardSpecKind {
    Keywords(Vec<String>),
    Length { target: f64, tokens: bool },
    Forbid(Vec<String>),
    Model { dir: PathBuf, label: Option<String> },
}

fn word_list(kind: &str, list: &str) -> std::result::Result<Vec<String>, String> {
    let words: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    if words.is_empty() {
        return Err(format!(
            "{kind}: give at least one word, e.g. {kind}:Lorwick"
        ));
    }
    Ok(words)
}

impl FromStr for RewardSpec {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (body, weight) = match s.rsplit_once('@') {
            Some((body, w)) => match w.parse::<f64>() {
                Ok(w) if w.is_finite() => (body, w),
                Ok(_) => return Err(format!("{s:?}: the weight after @ must be finite")),
                // An @ inside a folder name, not a weight.
                Err(_) if body.starts_with("model:") => (s, 1.0),
                Err(_) => return Err(format!("{s:?}: the weight after @ must be a number")),
            },
            None => (s, 1.0),
        };
        let Some((name, arg)) = body.split_once(':') else {
            return Err(format!("{s:?}: expected {REWARD_FORMS}"));
        };
        let kind = match name {
            "keywords" => RewardSpecKind::Keywords(word_list(name, arg)?),
            "forbid" => RewardSpecKind::Forbid(word_list(name, arg)?),
            "length" => {
                let (n, unit) = arg.split_once(':').unwrap_or((arg, "words"));
                let tokens = match unit {
                    "words" => false,
                    "tokens" => true,
                    other => {
                        return Err(format!(
                        "{s:?}: length unit {other:?}: allowed are words (the default) and tokens"
                    ))
                    }
                };
                let target: f64 = n
                    .parse()
                    .ok()
                    .filter(|t: &f64| t.is_finite() && *t > 0.0)
                    .ok_or_else(|| format!("{s:?}: the length target must be a positive number"))?;
                RewardSpecKind::Length { target, tokens }
            }
            "model" => {
                if arg.is_empty() {
                    return Err(format!("{s:?}: give the reward model's folder, model:DIR"));
                }
                let (dir, label) = match arg.rsplit_once('#') {
                    Some((d, l)) if !l.is_empty() => (d, Some(l.to_string())),
                    _ => (arg, None),
                };
                RewardSpecKind::Model {
                    dir: PathBuf::from(dir),
                    label,
                }
            }
            other => {
                return Err(format!(
                    "{s:?}: unknown reward {other:?}; expected {REWARD_FORMS}"
                ))
            }
        };
        Ok(Self { weight, kind })
    }
}

impl fmt::Display for RewardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RewardSpecKind::Keywords(w) => write!(f, "keywords:{}", w.join(","))?,
            RewardSpecKind::Forbid(w) => write!(f, "forbid:{}", w.join(","))?,
            RewardSpecKind::Length { target, tokens } => {
                write!(f, "length:{target}")?;
                if *tokens {
                    write!(f, ":tokens")?;
                }
            }
            RewardSpecKind::Model { dir, label } => {
                write!(f, "model:{}", dir.display())?;
                if let Some(l) = label {
                    write!(f, "#{l}")?;
                }
            }
        }
        if self.weight != 1.0 {
            write!(f, "@{}", self.weight)?;
        }
        Ok(())
    }
}

impl RewardSpec {
    /// The reward, unweighted. `tokenizer` (the decoding model's) counts `length:N:tokens`.
    ///
    /// # Errors
    /// When a reward model fails to load, or `length:N:tokens` comes without a tokenizer.
    pub fn build(&self, tokenizer: Option<&TextTokenizer>) -> Result<Box<dyn Reward>> {
        Ok(match &self.kind {
            RewardSpecKind::Keywords(w) => Box::new(Keywords::new(w.clone())),
            RewardSpecKind::Forbid(w) => Box::new(Forbidden::new(w.clone())),
            RewardSpecKind::Length { target, tokens } => {
                let unit = if *tokens {
                    LengthUnit::Tokens(Box::new(tokenizer.cloned().ok_or(EngineError::InvalidParam {
                        name: "reward",
                        value: self.to_string(),
                        allowed: "length:N:tokens counts the decoding model's tokens; this model has no tokenizer here (use length:N, in words)",
                    })?))
                } else {
                    LengthUnit::Words
                };
                Box::new(Length::new(*target, unit)?)
            }
            RewardSpecKind::Model { dir, label } => {
                Box::new(ModelReward::load(dir, label.as_deref())?)
            }
        })
    }
}

/// The reward of several specs: their weighted sum Σ w_i·R_i; or, with `lambda`, the
/// uncertainty-aware mean − λ·std over the M evaluations w_i·R_i (an ensemble of the specs,
/// each on every perturbed copy when `perturbation` is set).
///
/// # Errors
/// When there is no spec, a reward fails to build, `perturbation` comes without `lambda`, or
/// `lambda` would have fewer than two evaluations.
pub fn combine(
    specs: &[RewardSpec],
    tokenizer: Option<&TextTokenizer>,
    lambda: Option<f64>,
    perturbation: Option<Perturbation>,
) -> Result<Box<dyn Reward>> {
    if specs.is_empty() {
        return Err(EngineError::InvalidParam {
            name: "reward",
            value: "none".into(),
            allowed: "give at least one reward: keywords:A,B | length:N[:tokens] | forbid:X,Y | model:DIR",
        });
    }
    let parts = specs
        .iter()
        .map(|s| Ok((s.weight, s.build(tokenizer)?)))
        .collect::<Result<Vec<_>>>()?;
    match (lambda, perturbation) {
        (Some(l), p) => Ok(Box::new(Robust::new(parts, p, l)?)),
        (None, Some(_)) => Err(EngineError::InvalidParam {
            name: "perturbed copies",
            value: "set without lambda".into(),
            allowed: "perturbed copies feed the uncertainty-aware mean − λ·std: set λ too",
        }),
        (None, None) => Ok(Box::new(Weighted::new(parts))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> RewardSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn specs_parse_and_print_back() {
        for s in [
            "keywords:Lorwick",
            "keywords:Lorwick,baker@2",
            "length:12",
            "length:12:tokens@0.5",
            "forbid:sorry,cannot@-1",
            "model:/tmp/rm",
            "model:/tmp/rm#POSITIVE@3",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
        assert_eq!(
            parse("keywords: Lorwick , baker ,"),
            RewardSpec {
                weight: 1.0,
                kind: RewardSpecKind::Keywords(vec!["Lorwick".into(), "baker".into()])
            }
        );
        assert_eq!(parse("length:12:words").to_string(), "length:12");
        assert_eq!(
            parse("model:/data/rm@v2").kind,
            RewardSpecKind::Model {
                dir: "/data/rm@v2".into(),
                label: None
            }
        );
    }

    #[test]
    fn bad_specs_say_what_is_allowed() {
        for (s, want) in [
            ("lorwick", "expected keywords:"),
            ("color:teal", "unknown reward \"color\""),
            ("keywords:", "at least one word"),
            ("length:0", "positive number"),
            ("length:12:lines", "allowed are words"),
            ("keywords:a@x", "must be a number"),
            ("model:", "folder"),
        ] {
            let e = s.parse::<RewardSpec>().unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
    }

    #[test]
    fn combine_sums_or_takes_mean_minus_lambda_std() {
        let specs = [parse("keywords:Lorwick@2"), parse("length:4@1")];
        let sum = combine(&specs, None, None, None).unwrap();
        // 2·1 + 1·(−|2 − 4| / 4)
        assert_eq!(sum.reward("q", "in Lorwick").unwrap(), 1.5);
        // evaluations (2, −0.5): mean 0.75, std 1.25.
        let robust = combine(&specs, None, Some(1.0), None).unwrap();
        assert_eq!(robust.reward("q", "in Lorwick").unwrap(), -0.5);
        let perturb = Perturbation::new(3, 0.1, 0).unwrap();
        assert!(combine(&specs, None, None, Some(perturb)).is_err());
        assert!(combine(&specs[..1], None, Some(1.0), None).is_err());
        assert!(combine(&[], None, None, None).is_err());
        let e = combine(&[parse("length:4:tokens")], None, None, None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("length:N"), "{e}");
    }
}
