//! Calibration maps from an uncertainty u to a confidence κ ∈ [0, 1] (METHODS §5): Platt
//! scaling, isotonic regression and temperature scaling, fitted on one split, saved as
//! JSON, applied to another.
//!
//! Correctness c is read as correct when c ≥ 0.5, as in [`metrics`](crate::metrics).
//!
//! ```
//! use hedge_core::{Calibration, CalibrationKind};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let u = [0.1, 0.2, 0.8, 0.9, 0.5, 0.4];
//! let c = [1.0, 1.0, 0.0, 0.0, 1.0, 0.0];
//! let map = Calibration::fit(CalibrationKind::Isotonic, &u, &c)?;
//! let json = serde_json::to_string(&map)?; // {"method":"isotonic","x":[…],"y":[…]}
//! let back: Calibration = serde_json::from_str(&json)?;
//! assert_eq!(back.apply(0.1), 1.0);
//! assert_eq!(back.apply(0.95), 0.0);
//! # Ok(())
//! # }
//! ```

mod isotonic;
mod platt;
mod temperature;

pub use isotonic::Isotonic;
pub(crate) use platt::softplus;
pub use platt::Platt;
pub use temperature::{Temperature, T_RANGE};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// A fitted calibration map, serialised as an object tagged by `method`:
/// `{"method":"platt","a":…,"b":…}`, `{"method":"isotonic","x":[…],"y":[…]}`,
/// `{"method":"temperature","t":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibration {
    /// [`Platt`]: κ = σ(a·u + b).
    Platt(Platt),
    /// [`Isotonic`]: a non-increasing step-and-ramp function of u.
    Isotonic(Isotonic),
    /// [`Temperature`]: κ = σ(−u/T) for a score, softmax(logits/T) for logits.
    Temperature(Temperature),
}

impl Calibration {
    /// Fits a map of the given kind on uncertainties `u` and correctness `c`
    /// (temperature scaling reads u as a negative logit: [`Temperature::fit_scores`]).
    ///
    /// # Errors
    /// [`CoreError::LengthMismatch`] or [`CoreError::BadCalibration`] on unusable data
    /// (empty, different lengths, non-finite u, NaN c).
    pub fn fit(kind: CalibrationKind, u: &[f64], c: &[f64]) -> Result<Calibration> {
        Ok(match kind {
            CalibrationKind::Platt => Calibration::Platt(Platt::fit(u, c)?),
            CalibrationKind::Isotonic => Calibration::Isotonic(Isotonic::fit(u, c)?),
            CalibrationKind::Temperature => {
                Calibration::Temperature(Temperature::fit_scores(u, c)?)
            }
        })
    }

    /// The confidence κ ∈ [0, 1] for uncertainty `u` (NaN for a NaN `u`).
    pub fn apply(&self, u: f64) -> f64 {
        match self {
            Calibration::Platt(m) => m.apply(u),
            Calibration::Isotonic(m) => m.apply(u),
            Calibration::Temperature(m) => m.apply(u),
        }
    }

    /// [`apply`](Self::apply) to each of `u`.
    pub fn apply_all(&self, u: &[f64]) -> Vec<f64> {
        u.iter().map(|&x| self.apply(x)).collect()
    }

    /// Which method this map is.
    pub fn kind(&self) -> CalibrationKind {
        match self {
            Calibration::Platt(_) => CalibrationKind::Platt,
            Calibration::Isotonic(_) => CalibrationKind::Isotonic,
            Calibration::Temperature(_) => CalibrationKind::Temperature,
        }
    }
}

/// A calibration method by name: `platt`, `isotonic`, `temperature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationKind {
    /// Logistic regression of c on u.
    Platt,
    /// Pool-adjacent-violators, non-increasing in u.
    Isotonic,
    /// One temperature T > 0.
    Temperature,
}

impl CalibrationKind {
    /// Every method, in the order of the names in error messages.
    pub const ALL: [CalibrationKind; 3] = [
        CalibrationKind::Platt,
        CalibrationKind::Isotonic,
        CalibrationKind::Temperature,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            CalibrationKind::Platt => "platt",
            CalibrationKind::Isotonic => "isotonic",
            CalibrationKind::Temperature => "temperature",
        }
    }
}

impl fmt::Display for CalibrationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CalibrationKind {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<CalibrationKind> {
        CalibrationKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| CoreError::UnknownCalibration {
                name: s.to_string(),
                known: CalibrationKind::ALL.map(CalibrationKind::name).join(", "),
            })
    }
}

/// Checks fitting data: same length, not empty, finite u, no NaN c; returns 0/1 labels.
fn labels(method: &'static str, u: &[f64], c: &[f64]) -> Result<Vec<f64>> {
    if u.len() != c.len() {
        return Err(CoreError::LengthMismatch {
            op: method,
            left_name: "uncertainties",
            left: u.len(),
            right_name: "correctness labels",
            right: c.len(),
        });
    }
    let bad = |reason: String| Err(CoreError::BadCalibration { method, reason });
    if u.is_empty() {
        return bad("no data to fit on".into());
    }
    if let Some(i) = u.iter().position(|x| !x.is_finite()) {
        return bad(format!("uncertainty {} at row {i} is not finite", u[i]));
    }
    if let Some(i) = c.iter().position(|x| x.is_nan()) {
        return bad(format!("correctness at row {i} is NaN"));
    }
    Ok(c.iter()
        .map(|&x| f64::from(u8::from(crate::metrics::is_correct(x))))
        .collect())
}

/// The logistic function, without overflow for large |x|.
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_tagged_by_method() {
        let maps = [
            (
                Calibration::Platt(Platt { a: -2.0, b: 0.5 }),
                r#"{"method":"platt","a":-2.0,"b":0.5}"#,
            ),
            (
                Calibration::Isotonic(Isotonic::new(vec![0.0, 1.0], vec![0.75, 0.25]).unwrap()),
                r#"{"method":"isotonic","x":[0.0,1.0],"y":[0.75,0.25]}"#,
            ),
            (
                Calibration::Temperature(Temperature::new(2.0).unwrap()),
                r#"{"method":"temperature","t":2.0}"#,
            ),
        ];
        for (map, json) in maps {
            assert_eq!(serde_json::to_string(&map).unwrap(), json);
            let back: Calibration = serde_json::from_str(json).unwrap();
            assert_eq!(back, map);
            assert_eq!(
                back.kind().to_string(),
                json[11..].split('"').next().unwrap()
            );
        }
        // bad files are refused with the reason
        for bad in [
            r#"{"method":"isotonic","x":[1.0,0.0],"y":[0.5,0.5]}"#,
            r#"{"method":"isotonic","x":[0.0],"y":[0.5,0.5]}"#,
            r#"{"method":"temperature","t":0.0}"#,
            r#"{"method":"histogram"}"#,
        ] {
            assert!(serde_json::from_str::<Calibration>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fit_dispatches_and_apply_all() {
        let u = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let c = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        for kind in CalibrationKind::ALL {
            let map = Calibration::fit(kind, &u, &c).unwrap();
            assert_eq!(map.kind(), kind);
            let k = map.apply_all(&[0.0, 1.0]);
            assert!(k[0] > k[1], "{kind}: {k:?}");
            assert!(k.iter().all(|x| (0.0..=1.0).contains(x)));
        }
        let e = Calibration::fit(CalibrationKind::Platt, &[0.1], &[1.0, 0.0]).unwrap_err();
        assert!(matches!(e, CoreError::LengthMismatch { .. }), "{e}");
        let e = Calibration::fit(CalibrationKind::Isotonic, &[], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot build isotonic calibration: no data to fit on"
        );
        let e = Calibration::fit(CalibrationKind::Platt, &[f64::INFINITY], &[1.0]).unwrap_err();
        assert!(e.to_string().contains("inf at row 0"), "{e}");
        let e = Calibration::fit(CalibrationKind::Temperature, &[0.1], &[f64::NAN]).unwrap_err();
        assert!(e.to_string().contains("NaN"), "{e}");
    }

    #[test]
    fn names() {
        for k in CalibrationKind::ALL {
            assert_eq!(k.to_string().parse::<CalibrationKind>().unwrap(), k);
        }
        let e = "beta".parse::<CalibrationKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown calibration method `beta`; known methods: platt, isotonic, temperature"
        );
    }

    #[test]
    fn sigmoid_is_stable() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert!((sigmoid(2.0) + sigmoid(-2.0) - 1.0).abs() < 1e-15);
    }
}
