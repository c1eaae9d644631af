//! `EstimatorSpec`: an estimator by name, the same in a config file, on the command line
//! (`msp`, `chow_quantile:0.1`) and in an HTTP request (`{"name":"chow_quantile","alpha":0.1}`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{
    ArithMeanProb, ChowQuantile, Estimator, GeoMeanProb, MaxTokenEntropy, MeanKurtosis,
    MeanTokenEntropy, Msp, Perplexity,
};
use crate::error::{CoreError, Result};

/// An estimator, named as in METHODS.md.
///
/// Text form ([`FromStr`] / [`Display`](fmt::Display)): the name, and for `chow_quantile`
/// an optional `:α` (`chow_quantile` alone means α = 0). Serde form: an object tagged by
/// `name`, e.g. `{"name":"msp"}` or `{"name":"chow_quantile","alpha":0.1}` (a missing `alpha`
/// means 0). Both forms reject α outside [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", try_from = "RawSpec")]
pub enum EstimatorSpec {
    /// [`Msp`]: −Σ log p_t.
    Msp,
    /// [`Perplexity`]: −mean log p_t.
    Perplexity,
    /// [`MeanTokenEntropy`]: mean H_t.
    MeanTokenEntropy,
    /// [`MaxTokenEntropy`]: max H_t.
    MaxTokenEntropy,
    /// [`GeoMeanProb`]: 1 − geometric mean of p_t.
    GeoMeanProb,
    /// [`ArithMeanProb`]: 1 − arithmetic mean of p_t.
    ArithMeanProb,
    /// [`MeanKurtosis`]: −mean kurtosis_t.
    MeanKurtosis,
    /// [`ChowQuantile`]: −quantile_α of p_t.
    ChowQuantile {
        /// Quantile level in [0, 1].
        alpha: f64,
    },
}

/// The serde shape of [`EstimatorSpec`], before α is checked.
#[derive(Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
enum RawSpec {
    Msp,
    Perplexity,
    MeanTokenEntropy,
    MaxTokenEntropy,
    GeoMeanProb,
    ArithMeanProb,
    MeanKurtosis,
    ChowQuantile {
        #[serde(default)]
        alpha: f64,
    },
}

impl TryFrom<RawSpec> for EstimatorSpec {
    type Error = CoreError;

    fn try_from(raw: RawSpec) -> Result<EstimatorSpec> {
        Ok(match raw {
            RawSpec::Msp => EstimatorSpec::Msp,
            RawSpec::Perplexity => EstimatorSpec::Perplexity,
            RawSpec::MeanTokenEntropy => EstimatorSpec::MeanTokenEntropy,
            RawSpec::MaxTokenEntropy => EstimatorSpec::MaxTokenEntropy,
            RawSpec::GeoMeanProb => EstimatorSpec::GeoMeanProb,
            RawSpec::ArithMeanProb => EstimatorSpec::ArithMeanProb,
            RawSpec::MeanKurtosis => EstimatorSpec::MeanKurtosis,
            RawSpec::ChowQuantile { alpha } => EstimatorSpec::ChowQuantile {
                alpha: ChowQuantile::new(alpha)?.alpha(),
            },
        })
    }
}

/// What `chow_quantile` accepts, for error messages.
const ALPHA_RULE: &str = "α must be a number in [0, 1], as in `chow_quantile:0.1`";

/// The names of [`EstimatorSpec::known_names`], in the order of METHODS §2.
const KNOWN: [&str; 8] = [
    "msp",
    "perplexity",
    "mean_token_entropy",
    "max_token_entropy",
    "geo_mean_prob",
    "arith_mean_prob",
    "mean_kurtosis",
    "chow_quantile",
];

impl EstimatorSpec {
    /// The estimator names hedge knows (without parameters), in the order of METHODS §2.
    pub fn known_names() -> &'static [&'static str] {
        &KNOWN
    }

    /// The default list, what `all` means: every white-box estimator of METHODS §2, with
    /// `chow_quantile` twice, at α = 0 (the least likely token) and α = 0.1.
    pub fn whitebox_all() -> Vec<EstimatorSpec> {
        vec![
            EstimatorSpec::Msp,
            EstimatorSpec::Perplexity,
            EstimatorSpec::MeanTokenEntropy,
            EstimatorSpec::MaxTokenEntropy,
            EstimatorSpec::GeoMeanProb,
            EstimatorSpec::ArithMeanProb,
            EstimatorSpec::MeanKurtosis,
            EstimatorSpec::ChowQuantile { alpha: 0.0 },
            EstimatorSpec::ChowQuantile { alpha: 0.1 },
        ]
    }

    /// Parses a comma-separated list such as `msp,perplexity,chow_quantile:0.1`; `all`
    /// (alone or as an item) stands for [`EstimatorSpec::whitebox_all`]. Spaces around items
    /// and empty items are ignored; a repeated estimator is kept once, at its first place.
    ///
    /// # Errors
    /// [`CoreError::UnknownEstimator`] or [`CoreError::BadParameter`] for the first bad item,
    /// [`CoreError::EmptyEstimatorList`] if no item is left.
    pub fn parse_list(list: &str) -> Result<Vec<EstimatorSpec>> {
        let mut out: Vec<EstimatorSpec> = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let specs = if item == "all" {
                EstimatorSpec::whitebox_all()
            } else {
                vec![item.parse()?]
            };
            for spec in specs {
                if !out.contains(&spec) {
                    out.push(spec);
                }
            }
        }
        if out.is_empty() {
            return Err(CoreError::EmptyEstimatorList);
        }
        Ok(out)
    }

    /// Checks the parameters of a spec built by hand (parsing and deserialising check them
    /// already).
    ///
    /// # Errors
    /// [`CoreError::BadParameter`] if `alpha` is outside [0, 1] or NaN.
    pub fn validate(&self) -> Result<()> {
        match *self {
            EstimatorSpec::ChowQuantile { alpha } => ChowQuantile::new(alpha).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The estimator this spec names. A `ChowQuantile` built by hand with α outside [0, 1]
    /// (see [`EstimatorSpec::validate`]) gets α clamped into [0, 1]; a NaN α gives an
    /// estimator that returns NaN.
    pub fn build(&self) -> Box<dyn Estimator> {
        match *self {
            EstimatorSpec::Msp => Box::new(Msp),
            EstimatorSpec::Perplexity => Box::new(Perplexity),
            EstimatorSpec::MeanTokenEntropy => Box::new(MeanTokenEntropy),
            EstimatorSpec::MaxTokenEntropy => Box::new(MaxTokenEntropy),
            EstimatorSpec::GeoMeanProb => Box::new(GeoMeanProb),
            EstimatorSpec::ArithMeanProb => Box::new(ArithMeanProb),
            EstimatorSpec::MeanKurtosis => Box::new(MeanKurtosis),
            EstimatorSpec::ChowQuantile { alpha } => match ChowQuantile::new(alpha.clamp(0.0, 1.0))
            {
                Ok(c) => Box::new(c),
                Err(_) => Box::new(NanEstimator(self.to_string())),
            },
        }
    }

    /// The bare name, without parameters.
    pub fn base_name(&self) -> &'static str {
        match self {
            EstimatorSpec::Msp => KNOWN[0],
            EstimatorSpec::Perplexity => KNOWN[1],
            EstimatorSpec::MeanTokenEntropy => KNOWN[2],
            EstimatorSpec::MaxTokenEntropy => KNOWN[3],
            EstimatorSpec::GeoMeanProb => KNOWN[4],
            EstimatorSpec::ArithMeanProb => KNOWN[5],
            EstimatorSpec::MeanKurtosis => KNOWN[6],
            EstimatorSpec::ChowQuantile { .. } => KNOWN[7],
        }
    }
}

/// What an invalid hand-built spec builds to: an estimator that knows nothing.
struct NanEstimator(String);

impl Estimator for NanEstimator {
    fn name(&self) -> String {
        self.0.clone()
    }

    fn estimate(&self, _: &super::Evidence) -> f64 {
        f64::NAN
    }
}

impl FromStr for EstimatorSpec {
    type Err = CoreError;

    /// Parses `msp`, `chow_quantile`, `chow_quantile:0.1`, … (surrounding spaces ignored).
    fn from_str(s: &str) -> Result<EstimatorSpec> {
        let s = s.trim();
        let (name, param) = match s.split_once(':') {
            Some((name, param)) => (name.trim(), Some(param.trim())),
            None => (s, None),
        };
        let spec = match name {
            "msp" => EstimatorSpec::Msp,
            "perplexity" => EstimatorSpec::Perplexity,
            "mean_token_entropy" => EstimatorSpec::MeanTokenEntropy,
            "max_token_entropy" => EstimatorSpec::MaxTokenEntropy,
            "geo_mean_prob" => EstimatorSpec::GeoMeanProb,
            "arith_mean_prob" => EstimatorSpec::ArithMeanProb,
            "mean_kurtosis" => EstimatorSpec::MeanKurtosis,
            "chow_quantile" => {
                let alpha = match param {
                    None => 0.0,
                    Some(p) => p.parse::<f64>().map_err(|_| CoreError::BadParameter {
                        estimator: name.into(),
                        value: p.into(),
                        reason: ALPHA_RULE.into(),
                    })?,
                };
                let alpha = ChowQuantile::new(alpha)
                    .map_err(|_| CoreError::BadParameter {
                        estimator: name.into(),
                        value: param.unwrap_or_default().into(),
                        reason: ALPHA_RULE.into(),
                    })?
                    .alpha();
                return Ok(EstimatorSpec::ChowQuantile { alpha });
            }
            _ => {
                return Err(CoreError::UnknownEstimator {
                    name: s.into(),
                    known: format!("{}, chow_quantile:<α in [0, 1]>, all", KNOWN.join(", ")),
                })
            }
        };
        match param {
            None => Ok(spec),
            Some(p) => Err(CoreError::BadParameter {
                estimator: name.into(),
                value: p.into(),
                reason: format!("`{name}` takes no parameter"),
            }),
        }
    }
}

impl fmt::Display for EstimatorSpec {
    /// The text form: `msp`, …, `chow_quantile:0.1` (α always written, `chow_quantile:0`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EstimatorSpec::ChowQuantile { alpha } => write!(f, "chow_quantile:{alpha}"),
            other => f.write_str(other.base_name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_parse_round_trip() {
        #[rustfmt::skip]
        let table = [
            ("msp", "msp"),
            ("  perplexity ", "perplexity"),
            ("mean_token_entropy", "mean_token_entropy"),
            ("max_token_entropy", "max_token_entropy"),
            ("geo_mean_prob", "geo_mean_prob"),
            ("arith_mean_prob", "arith_mean_prob"),
            ("mean_kurtosis", "mean_kurtosis"),
            ("chow_quantile", "chow_quantile:0"),
            ("chow_quantile:0", "chow_quantile:0"),
            ("chow_quantile:-0", "chow_quantile:0"),
            ("chow_quantile:0.1", "chow_quantile:0.1"),
            ("chow_quantile:.25", "chow_quantile:0.25"),
            ("chow_quantile:1e-3", "chow_quantile:0.001"),
            ("chow_quantile:1", "chow_quantile:1"),
        ];
        for (text, shown) in table {
            let spec: EstimatorSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), shown, "{text}");
            assert_eq!(shown.parse::<EstimatorSpec>().unwrap(), spec, "{text}");
            assert_eq!(spec.build().name(), shown, "{text}: built name");
        }
    }

    #[test]
    fn every_known_name_parses_and_all_covers_them() {
        for name in EstimatorSpec::known_names() {
            let spec: EstimatorSpec = name.parse().unwrap();
            assert_eq!(spec.base_name(), *name);
        }
        let all = EstimatorSpec::whitebox_all();
        for name in EstimatorSpec::known_names() {
            assert!(
                all.iter().any(|s| s.base_name() == *name),
                "{name} missing from all"
            );
        }
        assert_eq!(EstimatorSpec::parse_list("all").unwrap(), all);
    }

    #[test]
    fn bad_text_is_explained() {
        let e = "entropy".parse::<EstimatorSpec>().unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`entropy`"), "{msg}");
        for name in EstimatorSpec::known_names() {
            assert!(msg.contains(name), "{msg} lacks {name}");
        }
        #[rustfmt::skip]
        let table = [
            ("chow_quantile:abc", "abc"),
            ("chow_quantile:1.5", "1.5"),
            ("chow_quantile:-0.2", "-0.2"),
            ("chow_quantile:NaN", "NaN"),
            ("chow_quantile:", ""),
            ("msp:0.1", "0.1"),
        ];
        for (text, value) in table {
            match text.parse::<EstimatorSpec>() {
                Err(CoreError::BadParameter { value: v, .. }) => assert_eq!(v, value, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        let msg = "chow_quantile:abc"
            .parse::<EstimatorSpec>()
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`abc`") && msg.contains("`chow_quantile`") && msg.contains("[0, 1]"),
            "{msg}"
        );
    }

    #[test]
    fn lists() {
        use EstimatorSpec as S;
        #[rustfmt::skip]
        let table: [(&str, Vec<S>); 4] = [
            ("msp,perplexity", vec![S::Msp, S::Perplexity]),
            (" msp , ,chow_quantile:0.1,", vec![S::Msp, S::ChowQuantile { alpha: 0.1 }]),
            ("perplexity,msp,perplexity", vec![S::Perplexity, S::Msp]),
            ("mean_kurtosis,all", {
                let mut v = vec![S::MeanKurtosis];
                v.extend(S::whitebox_all().into_iter().filter(|s| *s != S::MeanKurtosis));
                v
            }),
        ];
        for (text, want) in table {
            assert_eq!(S::parse_list(text).unwrap(), want, "{text}");
        }
        assert_eq!(
            S::parse_list(" , ").unwrap_err(),
            CoreError::EmptyEstimatorList
        );
        assert!(
            matches!(S::parse_list("msp,bogus"), Err(CoreError::UnknownEstimator { name, .. }) if name == "bogus")
        );
    }

    #[test]
    fn serde_json_round_trip() {
        #[rustfmt::skip]
        let table = [
            (EstimatorSpec::Msp, r#"{"name":"msp"}"#),
            (EstimatorSpec::MeanTokenEntropy, r#"{"name":"mean_token_entropy"}"#),
            (EstimatorSpec::ChowQuantile { alpha: 0.1 }, r#"{"name":"chow_quantile","alpha":0.1}"#),
        ];
        for (spec, json) in table {
            assert_eq!(serde_json::to_string(&spec).unwrap(), json);
            assert_eq!(serde_json::from_str::<EstimatorSpec>(json).unwrap(), spec);
        }
        let missing_alpha: EstimatorSpec =
            serde_json::from_str(r#"{"name":"chow_quantile"}"#).unwrap();
        assert_eq!(missing_alpha, EstimatorSpec::ChowQuantile { alpha: 0.0 });
        let e = serde_json::from_str::<EstimatorSpec>(r#"{"name":"chow_quantile","alpha":2}"#)
            .unwrap_err();
        assert!(e.to_string().contains("[0, 1]"), "{e}");
        let e = serde_json::from_str::<EstimatorSpec>(r#"{"name":"bogus"}"#).unwrap_err();
        assert!(
            e.to_string().contains("bogus") && e.to_string().contains("mean_kurtosis"),
            "{e}"
        );
    }

    #[test]
    fn hand_built_bad_alpha() {
        let spec = EstimatorSpec::ChowQuantile { alpha: 3.0 };
        assert!(spec.validate().is_err());
        assert_eq!(spec.build().name(), "chow_quantile:1");
        let spec = EstimatorSpec::ChowQuantile { alpha: f64::NAN };
        assert!(spec.validate().is_err());
        let est = spec.build();
        assert_eq!(est.name(), "chow_quantile:NaN");
        assert!(est.estimate(&super::super::Evidence::new(&[])).is_nan());
        assert!(EstimatorSpec::Msp.validate().is_ok());
    }
}
