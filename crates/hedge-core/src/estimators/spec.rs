//! `EstimatorSpec`: an estimator by name, the same in a config file, on the command line
//! (`msp`, `chow_quantile:0.1`, `num_sets:0.7`) and in an HTTP request
//! (`{"name":"chow_quantile","alpha":0.1}`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{
    ArithMeanProb, ChoiceRisk, ChowQuantile, Deg, DiscreteSemanticEntropy, Ecc, Eigv, Estimator,
    GeoMeanProb, LexicalSimilarity, MaxTokenEntropy, MeanKurtosis, MeanTokenEntropy, Msp, NumSets,
    PTrue, Perplexity, RTuningSure, Sar, SemanticEntropy, SentenceSar, TokenSar, Verbalized,
};
use crate::error::{CoreError, Result};

/// An estimator, named as in METHODS.md.
///
/// Text form ([`FromStr`] / [`Display`](fmt::Display)): the name, and for the estimators
/// with a parameter an optional `:value`:
///
/// | name | parameter | default |
/// |---|---|---|
/// | `chow_quantile` | α ∈ [0, 1], always written (`chow_quantile:0.1`) | 0 |
/// | `num_sets`, `semantic_entropy`, `discrete_semantic_entropy` | τ ∈ [0, 1], the similarity threshold of equivalence for backends other than `nli` | 0.5 |
/// | `sentence_sar`, `sar` | temperature t > 0 | 0.001 |
///
/// A parameter equal to its default is not written (`num_sets:0.5` reads back as
/// `num_sets`), except α. Serde form: an object tagged by `name`, e.g. `{"name":"msp"}`,
/// `{"name":"chow_quantile","alpha":0.1}`, `{"name":"num_sets","tau":0.5}`,
/// `{"name":"sar","t":0.001}` (a missing parameter takes its default). Both forms reject a
/// parameter out of range.
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
    /// [`LexicalSimilarity`]: −mean ROUGE-L of pairs of samples.
    LexicalSimilarity,
    /// [`NumSets`]: the number of semantic sets.
    NumSets {
        /// Equivalence threshold on W for backends other than `nli`, in [0, 1].
        tau: f64,
    },
    /// [`Eigv`]: Σ max(0, 1 − λ) of the graph Laplacian.
    Eigv,
    /// [`Ecc`]: eccentricity of the spectral embedding.
    Ecc,
    /// [`Deg`]: trace(m·I − D) / m².
    Deg,
    /// [`SemanticEntropy`]: entropy over semantic sets, weighted by likelihood.
    SemanticEntropy {
        /// Equivalence threshold on W for backends other than `nli`, in [0, 1].
        tau: f64,
    },
    /// [`DiscreteSemanticEntropy`]: entropy over semantic sets, weighted by count.
    DiscreteSemanticEntropy {
        /// Equivalence threshold on W for backends other than `nli`, in [0, 1].
        tau: f64,
    },
    /// [`TokenSar`]: relevance-weighted −log p_t.
    TokenSar,
    /// [`SentenceSar`]: SAR over samples with sequence probabilities.
    SentenceSar {
        /// Temperature t > 0.
        t: f64,
    },
    /// [`Sar`]: SAR over samples with token-SAR probabilities.
    Sar {
        /// Temperature t > 0.
        t: f64,
    },
    /// [`PTrue`]: −log P(" True").
    PTrue,
    /// [`RTuningSure`]: 1 − P(sure) / (P(sure) + P(unsure)).
    RTuningSure,
    /// [`Verbalized`]: 1 − c/100.
    Verbalized,
    /// [`ChoiceRisk`]: the renormalised mass of the positive option.
    ChoiceRisk,
}

/// The serde shape of [`EstimatorSpec`], before its parameters are checked.
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
    LexicalSimilarity,
    NumSets {
        #[serde(default = "default_tau")]
        tau: f64,
    },
    Eigv,
    Ecc,
    Deg,
    SemanticEntropy {
        #[serde(default = "default_tau")]
        tau: f64,
    },
    DiscreteSemanticEntropy {
        #[serde(default = "default_tau")]
        tau: f64,
    },
    TokenSar,
    SentenceSar {
        #[serde(default = "default_t")]
        t: f64,
    },
    Sar {
        #[serde(default = "default_t")]
        t: f64,
    },
    PTrue,
    RTuningSure,
    Verbalized,
    ChoiceRisk,
}

/// The default τ of METHODS §3.
const DEFAULT_TAU: f64 = 0.5;
/// The default SAR temperature of METHODS §3.
const DEFAULT_T: f64 = 0.001;

fn default_tau() -> f64 {
    DEFAULT_TAU
}

fn default_t() -> f64 {
    DEFAULT_T
}

impl TryFrom<RawSpec> for EstimatorSpec {
    type Error = CoreError;

    fn try_from(raw: RawSpec) -> Result<EstimatorSpec> {
        use EstimatorSpec as S;
        let spec = match raw {
            RawSpec::Msp => S::Msp,
            RawSpec::Perplexity => S::Perplexity,
            RawSpec::MeanTokenEntropy => S::MeanTokenEntropy,
            RawSpec::MaxTokenEntropy => S::MaxTokenEntropy,
            RawSpec::GeoMeanProb => S::GeoMeanProb,
            RawSpec::ArithMeanProb => S::ArithMeanProb,
            RawSpec::MeanKurtosis => S::MeanKurtosis,
            RawSpec::ChowQuantile { alpha } => S::ChowQuantile { alpha },
            RawSpec::LexicalSimilarity => S::LexicalSimilarity,
            RawSpec::NumSets { tau } => S::NumSets { tau },
            RawSpec::Eigv => S::Eigv,
            RawSpec::Ecc => S::Ecc,
            RawSpec::Deg => S::Deg,
            RawSpec::SemanticEntropy { tau } => S::SemanticEntropy { tau },
            RawSpec::DiscreteSemanticEntropy { tau } => S::DiscreteSemanticEntropy { tau },
            RawSpec::TokenSar => S::TokenSar,
            RawSpec::SentenceSar { t } => S::SentenceSar { t },
            RawSpec::Sar { t } => S::Sar { t },
            RawSpec::PTrue => S::PTrue,
            RawSpec::RTuningSure => S::RTuningSure,
            RawSpec::Verbalized => S::Verbalized,
            RawSpec::ChoiceRisk => S::ChoiceRisk,
        };
        spec.validate()?;
        Ok(spec.normalised())
    }
}

/// What `chow_quantile` accepts, for error messages.
const ALPHA_RULE: &str = "α must be a number in [0, 1], as in `chow_quantile:0.1`";
/// What the clustering estimators accept.
const TAU_RULE: &str = "τ must be a number in [0, 1], as in `num_sets:0.5`";
/// What the SAR estimators accept.
const T_RULE: &str = "t must be a finite number > 0, as in `sar:0.001`";

/// The names of [`EstimatorSpec::known_names`], in the order of METHODS §2–4.
const KNOWN: [&str; 22] = [
    "msp",
    "perplexity",
    "mean_token_entropy",
    "max_token_entropy",
    "geo_mean_prob",
    "arith_mean_prob",
    "mean_kurtosis",
    "chow_quantile",
    "lexical_similarity",
    "num_sets",
    "eigv",
    "ecc",
    "deg",
    "semantic_entropy",
    "discrete_semantic_entropy",
    "token_sar",
    "sar",
    "sentence_sar",
    "p_true",
    "r_tuning_sure",
    "verbalized",
    "choice_risk",
];

/// The parameters and list keywords, for the unknown-name message.
const KNOWN_FORMS: &str = "chow_quantile:<α in [0, 1]>, num_sets:<τ in [0, 1]> (also \
    semantic_entropy, discrete_semantic_entropy), sar:<t > 0> (also sentence_sar); \
    lists: all (white-box), sampling, reflexive";

/// `name` when `value` is the default, else `name:value` (−0 written as 0).
pub(crate) fn with_param(name: &str, value: f64, default: f64) -> String {
    if value == default {
        name.to_string()
    } else {
        format!("{name}:{}", value + 0.0)
    }
}

impl EstimatorSpec {
    /// The estimator names hedge knows (without parameters), in the order of METHODS §2–4.
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

    /// What `sampling` means: every sampling-based estimator of METHODS §3, with its default
    /// parameters.
    pub fn sampling_all() -> Vec<EstimatorSpec> {
        vec![
            EstimatorSpec::LexicalSimilarity,
            EstimatorSpec::NumSets { tau: DEFAULT_TAU },
            EstimatorSpec::Eigv,
            EstimatorSpec::Ecc,
            EstimatorSpec::Deg,
            EstimatorSpec::SemanticEntropy { tau: DEFAULT_TAU },
            EstimatorSpec::DiscreteSemanticEntropy { tau: DEFAULT_TAU },
            EstimatorSpec::TokenSar,
            EstimatorSpec::SentenceSar { t: DEFAULT_T },
            EstimatorSpec::Sar { t: DEFAULT_T },
        ]
    }

    /// What `reflexive` means: the reflexive estimators of METHODS §4 (`choice_risk` is NaN
    /// on a question that is not multiple-choice).
    pub fn reflexive_all() -> Vec<EstimatorSpec> {
        vec![
            EstimatorSpec::PTrue,
            EstimatorSpec::RTuningSure,
            EstimatorSpec::Verbalized,
            EstimatorSpec::ChoiceRisk,
        ]
    }

    /// Parses a comma-separated list such as `msp,perplexity,chow_quantile:0.1`; `all`
    /// (alone or as an item) stands for [`EstimatorSpec::whitebox_all`], `sampling` for
    /// [`EstimatorSpec::sampling_all`] and `reflexive` for [`EstimatorSpec::reflexive_all`].
    /// Spaces around items and empty items are ignored; a repeated estimator is kept once,
    /// at its first place.
    ///
    /// # Errors
    /// [`CoreError::UnknownEstimator`] or [`CoreError::BadParameter`] for the first bad item,
    /// [`CoreError::EmptyEstimatorList`] if no item is left.
    pub fn parse_list(list: &str) -> Result<Vec<EstimatorSpec>> {
        let mut out: Vec<EstimatorSpec> = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let specs = match item {
                "all" => EstimatorSpec::whitebox_all(),
                "sampling" => EstimatorSpec::sampling_all(),
                "reflexive" => EstimatorSpec::reflexive_all(),
                _ => vec![item.parse()?],
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
    /// [`CoreError::BadParameter`] if α or τ is outside [0, 1] or NaN, or t is not a finite
    /// number > 0.
    pub fn validate(&self) -> Result<()> {
        let bad = |rule: &str, value: f64| CoreError::BadParameter {
            estimator: self.base_name().into(),
            value: value.to_string(),
            reason: rule.into(),
        };
        match *self {
            EstimatorSpec::ChowQuantile { alpha } => ChowQuantile::new(alpha)
                .map(|_| ())
                .map_err(|_| bad(ALPHA_RULE, alpha)),
            EstimatorSpec::NumSets { tau }
            | EstimatorSpec::SemanticEntropy { tau }
            | EstimatorSpec::DiscreteSemanticEntropy { tau } => {
                tau_ok(tau).then_some(()).ok_or_else(|| bad(TAU_RULE, tau))
            }
            EstimatorSpec::SentenceSar { t } | EstimatorSpec::Sar { t } => {
                t_ok(t).then_some(()).ok_or_else(|| bad(T_RULE, t))
            }
            _ => Ok(()),
        }
    }

    /// The spec with −0 parameters written as +0.
    fn normalised(self) -> EstimatorSpec {
        use EstimatorSpec as S;
        match self {
            S::ChowQuantile { alpha } => S::ChowQuantile { alpha: alpha + 0.0 },
            S::NumSets { tau } => S::NumSets { tau: tau + 0.0 },
            S::SemanticEntropy { tau } => S::SemanticEntropy { tau: tau + 0.0 },
            S::DiscreteSemanticEntropy { tau } => S::DiscreteSemanticEntropy { tau: tau + 0.0 },
            other => other,
        }
    }

    /// The estimator this spec names. A `ChowQuantile` built by hand with α outside [0, 1]
    /// (see [`EstimatorSpec::validate`]) gets α clamped into [0, 1]; any other invalid
    /// parameter (a NaN α, τ outside [0, 1], t ≤ 0) gives an estimator that returns NaN.
    pub fn build(&self) -> Box<dyn Estimator> {
        use EstimatorSpec as S;
        if let S::ChowQuantile { alpha } = *self {
            return match ChowQuantile::new(alpha.clamp(0.0, 1.0)) {
                Ok(c) => Box::new(c),
                Err(_) => Box::new(NanEstimator(self.to_string())),
            };
        }
        if self.validate().is_err() {
            return Box::new(NanEstimator(self.to_string()));
        }
        match *self {
            S::Msp => Box::new(Msp),
            S::Perplexity => Box::new(Perplexity),
            S::MeanTokenEntropy => Box::new(MeanTokenEntropy),
            S::MaxTokenEntropy => Box::new(MaxTokenEntropy),
            S::GeoMeanProb => Box::new(GeoMeanProb),
            S::ArithMeanProb => Box::new(ArithMeanProb),
            S::MeanKurtosis => Box::new(MeanKurtosis),
            // Handled above.
            S::ChowQuantile { .. } => Box::new(NanEstimator(self.to_string())),
            S::LexicalSimilarity => Box::new(LexicalSimilarity),
            S::NumSets { tau } => Box::new(NumSets::new(tau + 0.0)),
            S::Eigv => Box::new(Eigv),
            S::Ecc => Box::new(Ecc),
            S::Deg => Box::new(Deg),
            S::SemanticEntropy { tau } => Box::new(SemanticEntropy::new(tau + 0.0)),
            S::DiscreteSemanticEntropy { tau } => Box::new(DiscreteSemanticEntropy::new(tau + 0.0)),
            S::TokenSar => Box::new(TokenSar),
            S::SentenceSar { t } => Box::new(SentenceSar::new(t)),
            S::Sar { t } => Box::new(Sar::new(t)),
            S::PTrue => Box::new(PTrue),
            S::RTuningSure => Box::new(RTuningSure),
            S::Verbalized => Box::new(Verbalized),
            S::ChoiceRisk => Box::new(ChoiceRisk),
        }
    }

    /// The bare name, without parameters.
    pub fn base_name(&self) -> &'static str {
        use EstimatorSpec as S;
        match self {
            S::Msp => "msp",
            S::Perplexity => "perplexity",
            S::MeanTokenEntropy => "mean_token_entropy",
            S::MaxTokenEntropy => "max_token_entropy",
            S::GeoMeanProb => "geo_mean_prob",
            S::ArithMeanProb => "arith_mean_prob",
            S::MeanKurtosis => "mean_kurtosis",
            S::ChowQuantile { .. } => "chow_quantile",
            S::LexicalSimilarity => "lexical_similarity",
            S::NumSets { .. } => "num_sets",
            S::Eigv => "eigv",
            S::Ecc => "ecc",
            S::Deg => "deg",
            S::SemanticEntropy { .. } => "semantic_entropy",
            S::DiscreteSemanticEntropy { .. } => "discrete_semantic_entropy",
            S::TokenSar => "token_sar",
            S::SentenceSar { .. } => "sentence_sar",
            S::Sar { .. } => "sar",
            S::PTrue => "p_true",
            S::RTuningSure => "r_tuning_sure",
            S::Verbalized => "verbalized",
            S::ChoiceRisk => "choice_risk",
        }
    }
}

fn tau_ok(tau: f64) -> bool {
    (0.0..=1.0).contains(&tau)
}

fn t_ok(t: f64) -> bool {
    t.is_finite() && t > 0.0
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

/// The parameter `param` of `name`: `default` when absent, else the number written, which
/// must satisfy `ok`.
fn parse_param(
    name: &str,
    param: Option<&str>,
    default: f64,
    ok: fn(f64) -> bool,
    rule: &str,
) -> Result<f64> {
    let Some(p) = param else {
        return Ok(default);
    };
    match p.parse::<f64>() {
        Ok(v) if ok(v) => Ok(v + 0.0),
        _ => Err(CoreError::BadParameter {
            estimator: name.into(),
            value: p.into(),
            reason: rule.into(),
        }),
    }
}

impl FromStr for EstimatorSpec {
    type Err = CoreError;

    /// Parses `msp`, `chow_quantile`, `chow_quantile:0.1`, `num_sets:0.7`, `sar`, …
    /// (surrounding spaces ignored).
    fn from_str(s: &str) -> Result<EstimatorSpec> {
        use EstimatorSpec as S;
        let s = s.trim();
        let (name, param) = match s.split_once(':') {
            Some((name, param)) => (name.trim(), Some(param.trim())),
            None => (s, None),
        };
        let alpha_ok: fn(f64) -> bool = |a| ChowQuantile::new(a).is_ok();
        let tau = || parse_param(name, param, DEFAULT_TAU, tau_ok, TAU_RULE);
        let t = || parse_param(name, param, DEFAULT_T, t_ok, T_RULE);
        let spec = match name {
            "chow_quantile" => {
                let alpha = parse_param(name, param, 0.0, alpha_ok, ALPHA_RULE)?;
                return Ok(S::ChowQuantile { alpha });
            }
            "num_sets" => return Ok(S::NumSets { tau: tau()? }),
            "semantic_entropy" => return Ok(S::SemanticEntropy { tau: tau()? }),
            "discrete_semantic_entropy" => return Ok(S::DiscreteSemanticEntropy { tau: tau()? }),
            "sentence_sar" => return Ok(S::SentenceSar { t: t()? }),
            "sar" => return Ok(S::Sar { t: t()? }),
            "msp" => S::Msp,
            "perplexity" => S::Perplexity,
            "mean_token_entropy" => S::MeanTokenEntropy,
            "max_token_entropy" => S::MaxTokenEntropy,
            "geo_mean_prob" => S::GeoMeanProb,
            "arith_mean_prob" => S::ArithMeanProb,
            "mean_kurtosis" => S::MeanKurtosis,
            "lexical_similarity" => S::LexicalSimilarity,
            "eigv" => S::Eigv,
            "ecc" => S::Ecc,
            "deg" => S::Deg,
            "token_sar" => S::TokenSar,
            "p_true" => S::PTrue,
            "r_tuning_sure" => S::RTuningSure,
            "verbalized" => S::Verbalized,
            "choice_risk" => S::ChoiceRisk,
            _ => {
                return Err(CoreError::UnknownEstimator {
                    name: s.into(),
                    known: format!("{}; with a parameter: {KNOWN_FORMS}", KNOWN.join(", ")),
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
    /// The text form: `msp`, …, `chow_quantile:0.1` (α always written, `chow_quantile:0`),
    /// `num_sets` (τ = 0.5) or `num_sets:0.7`, `sar` (t = 0.001) or `sar:0.01`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use EstimatorSpec as S;
        match *self {
            S::ChowQuantile { alpha } => write!(f, "chow_quantile:{}", alpha + 0.0),
            S::NumSets { tau }
            | S::SemanticEntropy { tau }
            | S::DiscreteSemanticEntropy { tau } => {
                f.write_str(&with_param(self.base_name(), tau, DEFAULT_TAU))
            }
            S::SentenceSar { t } | S::Sar { t } => {
                f.write_str(&with_param(self.base_name(), t, DEFAULT_T))
            }
            _ => f.write_str(self.base_name()),
        }
    }
}

#[cfg(test)]
mod tests;
