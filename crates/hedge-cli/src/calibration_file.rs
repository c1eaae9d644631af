//! The calibration file `hedge calibrate` writes and `--calibration FILE` reads: one fitted
//! map from uncertainty to confidence per estimator.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use hedge_core::{Calibration, CalibrationKind};
use serde::{Deserialize, Serialize};

/// `{"method": "platt", "fitted_on": "calib.jsonl", "maps": {"msp": {"method": "platt",
/// "a": …, "b": …}, …}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFile {
    /// The method every map was fitted with.
    pub method: CalibrationKind,
    /// The scored file the maps were fitted on, as given on the command line.
    pub fitted_on: String,
    /// Rows each map was fitted on (answers with a score and a quality).
    pub rows: BTreeMap<String, usize>,
    /// Estimator name → map.
    pub maps: BTreeMap<String, Calibration>,
}

impl CalibrationFile {
    /// Reads and checks a calibration file.
    ///
    /// # Errors
    /// When the file cannot be read, is not JSON of this shape, or holds a bad map.
    pub fn load(path: &Path) -> anyhow::Result<CalibrationFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading calibration file {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a hedge calibration file (expected {{\"method\", \"fitted_on\", \
                 \"rows\", \"maps\": {{estimator: map}}}}, as `hedge calibrate` writes)",
                path.display()
            )
        })
    }

    /// The map of estimator `name`, if the file has one.
    pub fn map(&self, name: &str) -> Option<&Calibration> {
        self.maps.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hedge_core::Platt;

    #[test]
    fn round_trip_and_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cal.json");
        let file = CalibrationFile {
            method: CalibrationKind::Platt,
            fitted_on: "calib.jsonl".into(),
            rows: [("msp".to_string(), 3)].into(),
            maps: [(
                "msp".to_string(),
                Calibration::Platt(Platt { a: -1.0, b: 0.5 }),
            )]
            .into(),
        };
        std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
        let back = CalibrationFile::load(&path).unwrap();
        assert_eq!(back, file);
        assert!(back.map("msp").is_some() && back.map("perplexity").is_none());

        std::fs::write(&path, r#"{"method":"platt","a":1,"b":0}"#).unwrap();
        let e = format!("{:#}", CalibrationFile::load(&path).unwrap_err());
        assert!(e.contains("not a hedge calibration file"), "{e}");
        let e = format!(
            "{:#}",
            CalibrationFile::load(&dir.path().join("none.json")).unwrap_err()
        );
        assert!(e.contains("reading calibration file"), "{e}");
    }
}
