//! `MetricSet`: every metric of one estimator at once, as written to `summary.json`.

use serde::{Deserialize, Serialize};

use super::{
    auarc, auprc, aurc, auroc, bootstrap, brier, ece, is_correct, mce, mean, nan_as_null, nll, prr,
    prr_50, reliability, Binning, Interval, ReliabilityBin, DEFAULT_BINS, DEFAULT_RESAMPLES,
};
use crate::error::{CoreError, Result};

/// Knobs of [`MetricSet::compute`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SummaryOptions {
    /// Bins of the ECE, MCE and reliability diagram (default 10).
    pub bins: usize,
    /// Bootstrap resamples for the AUROC and PRR intervals (default 1,000); 0 turns the
    /// bootstrap off.
    pub resamples: usize,
    /// Seed of the bootstrap (default 0).
    pub seed: u64,
}

impl Default for SummaryOptions {
    fn default() -> SummaryOptions {
        SummaryOptions {
            bins: DEFAULT_BINS,
            resamples: DEFAULT_RESAMPLES,
            seed: 0,
        }
    }
}

/// Every metric of METHODS §5 for one estimator; non-finite values serialise as `null`.
///
/// Ranking metrics (`prr`, `prr_50`, `aurc`, `auarc`) read the quality q; error-detection
/// and calibration metrics (`auroc`, `auprc`, `ece`, …) read correctness c = [q ≥ 0.5].
/// The calibration metrics need a confidence κ and are NaN (`null`) without one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSet {
    /// Rows used.
    pub n: usize,
    /// Rows left out because u, q or κ was NaN.
    pub dropped: usize,
    /// Fraction of used rows that are correct (q ≥ 0.5).
    #[serde(with = "nan_as_null")]
    pub accuracy: f64,
    /// Mean quality q.
    #[serde(with = "nan_as_null")]
    pub mean_quality: f64,
    /// [`auroc`](super::auroc).
    #[serde(with = "nan_as_null")]
    pub auroc: f64,
    /// [`auprc`](super::auprc).
    #[serde(with = "nan_as_null")]
    pub auprc: f64,
    /// [`prr`](super::prr).
    #[serde(with = "nan_as_null")]
    pub prr: f64,
    /// [`prr_50`](super::prr_50).
    #[serde(with = "nan_as_null")]
    pub prr_50: f64,
    /// [`aurc`](super::aurc).
    #[serde(with = "nan_as_null")]
    pub aurc: f64,
    /// [`auarc`](super::auarc).
    #[serde(with = "nan_as_null")]
    pub auarc: f64,
    /// [`ece`](super::ece) with equal-width bins.
    #[serde(with = "nan_as_null")]
    pub ece: f64,
    /// [`ece`](super::ece) with equal-mass bins.
    #[serde(with = "nan_as_null")]
    pub ece_equal_mass: f64,
    /// [`mce`](super::mce) with equal-width bins.
    #[serde(with = "nan_as_null")]
    pub mce: f64,
    /// [`brier`](super::brier).
    #[serde(with = "nan_as_null")]
    pub brier: f64,
    /// [`nll`](super::nll).
    #[serde(with = "nan_as_null")]
    pub nll: f64,
    /// Bootstrap interval of AUROC; `None` when the bootstrap is off.
    pub auroc_ci: Option<Interval>,
    /// Bootstrap interval of PRR; `None` when the bootstrap is off.
    pub prr_ci: Option<Interval>,
    /// Equal-width reliability-diagram bins; empty without κ.
    pub reliability: Vec<ReliabilityBin>,
}

impl MetricSet {
    /// Every metric of uncertainty `u` against quality `q` (a 0/1 correctness is a
    /// quality), and of confidence `kappa` when given. Rows where u, q or κ is NaN are
    /// dropped first (and counted in `dropped`); then each metric follows its own rules for
    /// degenerate data (NaN).
    ///
    /// # Errors
    /// [`CoreError::LengthMismatch`] when `u` or `kappa` does not have one entry per `q`.
    pub fn compute(
        u: &[f64],
        q: &[f64],
        kappa: Option<&[f64]>,
        opts: &SummaryOptions,
    ) -> Result<MetricSet> {
        let mismatch = |left_name, left: usize| CoreError::LengthMismatch {
            op: "metric summary",
            left_name,
            left,
            right_name: "qualities",
            right: q.len(),
        };
        if u.len() != q.len() {
            return Err(mismatch("uncertainties", u.len()));
        }
        if let Some(k) = kappa {
            if k.len() != q.len() {
                return Err(mismatch("confidences", k.len()));
            }
        }
        let total = q.len();
        let kept: Vec<usize> = (0..total)
            .filter(|&i| !u[i].is_nan() && !q[i].is_nan() && !kappa.is_some_and(|k| k[i].is_nan()))
            .collect();
        let u: Vec<f64> = kept.iter().map(|&i| u[i]).collect();
        let q: Vec<f64> = kept.iter().map(|&i| q[i]).collect();
        let c: Vec<f64> = q
            .iter()
            .map(|&x| f64::from(u8::from(is_correct(x))))
            .collect();
        let kappa: Option<Vec<f64>> = kappa.map(|k| kept.iter().map(|&i| k[i]).collect());

        let nan = f64::NAN;
        let (ece_w, ece_m, mce_w, brier_s, nll_s, bars) = match &kappa {
            Some(k) => (
                ece(k, &c, opts.bins, Binning::EqualWidth),
                ece(k, &c, opts.bins, Binning::EqualMass),
                mce(k, &c, opts.bins, Binning::EqualWidth),
                brier(k, &c),
                nll(k, &c),
                reliability(k, &c, opts.bins, Binning::EqualWidth),
            ),
            None => (nan, nan, nan, nan, nan, Vec::new()),
        };
        let ci = |metric: fn(&[f64], &[f64]) -> f64, target: &[f64]| {
            (opts.resamples > 0).then(|| bootstrap(metric, &u, target, opts.resamples, opts.seed))
        };
        Ok(MetricSet {
            n: q.len(),
            dropped: total - kept.len(),
            accuracy: mean(c.iter().copied()),
            mean_quality: mean(q.iter().copied()),
            auroc: auroc(&u, &c),
            auprc: auprc(&u, &c),
            prr: prr(&u, &q),
            prr_50: prr_50(&u, &q),
            aurc: aurc(&u, &q),
            auarc: auarc(&u, &q),
            ece: ece_w,
            ece_equal_mass: ece_m,
            mce: mce_w,
            brier: brier_s,
            nll: nll_s,
            auroc_ci: ci(auroc, &c),
            prr_ci: ci(prr, &q),
            reliability: bars,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_agrees_with_its_function() {
        let u = [0.1, 0.9, 0.3, 0.7, 0.5, 0.2];
        let q = [1.0, 0.0, 0.8, 0.4, 1.0, 0.0];
        let c = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let kappa = [0.9, 0.2, 0.7, 0.3, 0.5, 0.8];
        let opts = SummaryOptions::default();
        let m = MetricSet::compute(&u, &q, Some(&kappa), &opts).unwrap();
        assert_eq!((m.n, m.dropped), (6, 0));
        assert_eq!(m.accuracy, 0.5);
        assert!((m.mean_quality - 3.2 / 6.0).abs() < 1e-15);
        assert_eq!(m.auroc, auroc(&u, &c));
        assert_eq!(m.auprc, auprc(&u, &c));
        assert_eq!(m.prr, prr(&u, &q));
        assert_eq!(m.prr_50, prr_50(&u, &q));
        assert_eq!(m.aurc, aurc(&u, &q));
        assert_eq!(m.auarc, auarc(&u, &q));
        assert_eq!(m.ece, ece(&kappa, &c, 10, Binning::EqualWidth));
        assert_eq!(m.ece_equal_mass, ece(&kappa, &c, 10, Binning::EqualMass));
        assert_eq!(m.mce, mce(&kappa, &c, 10, Binning::EqualWidth));
        assert_eq!(m.brier, brier(&kappa, &c));
        assert_eq!(m.nll, nll(&kappa, &c));
        // (empty bins hold NaN, which is not == itself: compare the JSON)
        let json = |x: &[ReliabilityBin]| serde_json::to_string(x).unwrap();
        assert_eq!(
            json(&m.reliability),
            json(&reliability(&kappa, &c, 10, Binning::EqualWidth))
        );
        assert_eq!(m.reliability.len(), 10);
        assert_eq!(m.auroc_ci, Some(bootstrap(auroc, &u, &c, 1000, 0)));
        assert_eq!(m.prr_ci, Some(bootstrap(prr, &u, &q, 1000, 0)));
        // JSON round trip
        let text = serde_json::to_string(&m).unwrap();
        let back: MetricSet = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), text);
    }

    #[test]
    fn nan_rows_are_dropped_and_missing_kappa_is_null() {
        let u = [0.1, f64::NAN, 0.3, 0.7];
        let q = [1.0, 0.0, f64::NAN, 0.0];
        let opts = SummaryOptions {
            resamples: 0,
            ..SummaryOptions::default()
        };
        let m = MetricSet::compute(&u, &q, None, &opts).unwrap();
        assert_eq!((m.n, m.dropped), (2, 2));
        assert_eq!(m.auroc, 1.0);
        assert!(m.ece.is_nan() && m.brier.is_nan() && m.reliability.is_empty());
        assert_eq!((m.auroc_ci, m.prr_ci), (None, None));
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["ece"], serde_json::Value::Null);
        assert_eq!(json["auroc_ci"], serde_json::Value::Null);
        assert_eq!(json["auroc"], 1.0);
        let back: MetricSet = serde_json::from_value(json).unwrap();
        assert!(back.ece.is_nan() && back.auroc == 1.0);
        // a NaN κ drops its row too
        let k = [0.5, 0.5, 0.5, f64::NAN];
        let m = MetricSet::compute(&u, &q, Some(&k), &opts).unwrap();
        assert_eq!((m.n, m.dropped), (1, 3));
        assert!(m.auroc.is_nan()); // one row: undefined
    }

    #[test]
    fn lengths_are_checked() {
        let opts = SummaryOptions::default();
        let e = MetricSet::compute(&[0.1], &[1.0, 0.0], None, &opts).unwrap_err();
        assert_eq!(
            e.to_string(),
            "metric summary: uncertainties has 1 entries but qualities has 2"
        );
        let e = MetricSet::compute(&[0.1, 0.2], &[1.0, 0.0], Some(&[0.5]), &opts).unwrap_err();
        assert!(
            matches!(
                e,
                CoreError::LengthMismatch {
                    left: 1,
                    right: 2,
                    ..
                }
            ),
            "{e}"
        );
        let m = MetricSet::compute(&[], &[], None, &opts).unwrap();
        assert_eq!(m.n, 0);
        assert!(m.auroc.is_nan() && m.prr.is_nan() && m.accuracy.is_nan());
    }

    #[test]
    fn options_default_and_partial_json() {
        let o: SummaryOptions = serde_json::from_str(r#"{"resamples":0}"#).unwrap();
        assert_eq!(
            o,
            SummaryOptions {
                bins: 10,
                resamples: 0,
                seed: 0
            }
        );
    }
}
