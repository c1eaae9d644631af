//! Fitting a policy on calibration items (u, c): the calibration map, then τ_lo and τ_hi as
//! the lowest thresholds on κ whose answered items keep their error within the risks asked
//! for (the rule is spelt out in [`policy`](super)).

use hedge_core::metrics::is_correct;
use hedge_core::{Calibration, CalibrationKind, EstimatorSpec};
use serde::{Deserialize, Serialize};

use super::{Policy, PolicyError, PolicyReport, Result};
use crate::clarify::ClarifyConfig;

/// What to fit: the estimator, the calibration method, the risks, the clarify settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    /// The estimator read (`msp`); only recorded here, the caller passes its scores.
    pub estimator: String,
    /// The calibration map's method.
    pub calibration: CalibrationKind,
    /// The highest error rate allowed among answered items (plain or hedged): sets τ_lo.
    pub max_risk: f64,
    /// The highest error rate allowed among plainly answered items: sets τ_hi. `None`:
    /// `max_risk` / 2.
    pub max_risk_unhedged: Option<f64>,
    /// When to clarify; `None`: never.
    pub clarify: Option<ClarifyConfig>,
}

impl FitOptions {
    /// Options with the default unhedged risk (`max_risk` / 2) and no clarify.
    pub fn new(estimator: impl Into<String>, calibration: CalibrationKind, max_risk: f64) -> Self {
        FitOptions {
            estimator: estimator.into(),
            calibration,
            max_risk,
            max_risk_unhedged: None,
            clarify: None,
        }
    }

    /// The unhedged risk in force.
    pub fn unhedged_risk(&self) -> f64 {
        self.max_risk_unhedged.unwrap_or(self.max_risk / 2.0)
    }
}

/// What the fit saw on its calibration items, saved in the policy file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// The file fitted on, as the user named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted_on: Option<String>,
    /// Items fitted on (a finite score and a correctness).
    pub rows: usize,
    /// Items left out for want of a finite score.
    pub skipped: usize,
    /// Share of the items answered correctly (the error of answering everything is 1 − it).
    pub accuracy: f64,
    pub max_risk: f64,
    pub max_risk_unhedged: f64,
    /// Items with κ ≥ τ_lo (answered plainly or hedged) ...
    pub answered: usize,
    /// ... and their error rate.
    pub risk: f64,
    /// Items with κ ≥ τ_hi (answered plainly) ...
    pub answered_unhedged: usize,
    /// ... and their error rate (NaN, written null, when there is none).
    #[serde(with = "super::nan_as_null")]
    pub risk_unhedged: f64,
    /// The whole policy (clarify included) applied to the calibration items, when the caller
    /// measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calib: Option<PolicyReport>,
}

/// A threshold on κ and what it keeps of the items it was chosen on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskThreshold {
    /// Keep the items with κ ≥ tau.
    pub tau: f64,
    /// How many items it keeps.
    pub covered: usize,
    /// How many of those are wrong.
    pub errors: usize,
}

/// The lowest threshold τ on κ whose kept items (κ ≥ τ) have an error rate ≤ `max_risk`:
/// items sorted by κ descending, equal κ taken together, the longest such prefix; τ halfway
/// between its lowest κ and the next lower κ, or 0 when it keeps everything. `None` when no
/// prefix meets the risk (or there is no item). NaN κ are never kept.
pub fn threshold_for_risk(kappa: &[f64], correct: &[bool], max_risk: f64) -> Option<RiskThreshold> {
    let mut order: Vec<usize> = (0..kappa.len().min(correct.len()))
        .filter(|&i| !kappa[i].is_nan())
        .collect();
    order.sort_by(|&i, &j| kappa[j].total_cmp(&kappa[i]));
    let (mut covered, mut errors) = (0usize, 0usize);
    let mut best: Option<(usize, usize, usize)> = None; // (prefix end, covered, errors)
    let mut start = 0;
    while start < order.len() {
        let k = kappa[order[start]];
        let mut end = start;
        while end < order.len() && kappa[order[end]] == k {
            covered += 1;
            errors += usize::from(!correct[order[end]]);
            end += 1;
        }
        if errors as f64 <= max_risk * covered as f64 {
            best = Some((end, covered, errors));
        }
        start = end;
    }
    let (end, covered, errors) = best?;
    let lowest = kappa[order[end - 1]];
    let tau = match order.get(end) {
        Some(&next) => (lowest + kappa[next]) / 2.0,
        None => 0.0,
    };
    Some(RiskThreshold {
        tau,
        covered,
        errors,
    })
}

/// The lowest error rate of any prefix (by κ descending, ties together), and its length.
fn best_prefix(kappa: &[f64], correct: &[bool]) -> (f64, usize) {
    let mut order: Vec<usize> = (0..kappa.len()).filter(|&i| !kappa[i].is_nan()).collect();
    order.sort_by(|&i, &j| kappa[j].total_cmp(&kappa[i]));
    let (mut best, mut best_n, mut errors) = (f64::INFINITY, 0, 0);
    for (n, &i) in order.iter().enumerate() {
        errors += usize::from(!correct[i]);
        let last_of_tie = order.get(n + 1).is_none_or(|&j| kappa[j] != kappa[i]);
        let risk = errors as f64 / (n + 1) as f64;
        if last_of_tie && risk < best {
            (best, best_n) = (risk, n + 1);
        }
    }
    (best, best_n)
}

fn check_risk(option: &'static str, r: f64) -> Result<()> {
    if r.is_finite() && (0.0..1.0).contains(&r) {
        Ok(())
    } else {
        Err(PolicyError::BadOption {
            option,
            value: r.to_string(),
            reason: "the error allowed among answered questions, a number in [0, 1) (0.1: at \
                     most 10 % wrong)"
                .into(),
        })
    }
}

impl Policy {
    /// Fits a policy on calibration items: uncertainties `u` of `options.estimator` and
    /// correctness `c` (correct when c ≥ 0.5). Items whose u is not finite are left out and
    /// counted ([`FitReport::skipped`]). Deterministic: the same items give the same policy.
    ///
    /// # Errors
    /// A bad option (a risk outside [0, 1), an unhedged risk above the risk, a group name
    /// for the estimator, bad clarify settings), a calibration map that cannot be fitted (no item),
    /// or [`PolicyError::RiskUnreachable`] when even the most confident items are wrong too
    /// often.
    pub fn fit(u: &[f64], c: &[f64], options: &FitOptions) -> Result<Policy> {
        let max_risk = options.max_risk;
        let unhedged = options.unhedged_risk();
        check_risk("--max-risk", max_risk)?;
        check_risk("--max-risk-unhedged", unhedged)?;
        if unhedged > max_risk {
            return Err(PolicyError::BadOption {
                option: "--max-risk-unhedged",
                value: unhedged.to_string(),
                reason: format!("must not exceed --max-risk {max_risk}"),
            });
        }
        // A hedge estimator is written as hedge writes it (the key of its scores); another
        // system's score keeps its name.
        let estimator = match options.estimator.parse::<EstimatorSpec>() {
            Ok(spec) => spec.to_string(),
            Err(_) => options.estimator.clone(),
        };
        if let Some(cfg) = &options.clarify {
            cfg.validate()?;
        }
        if u.len() != c.len() {
            return Err(PolicyError::Calibration(
                hedge_core::CoreError::LengthMismatch {
                    op: "policy fit",
                    left_name: "uncertainties",
                    left: u.len(),
                    right_name: "correctness labels",
                    right: c.len(),
                },
            ));
        }
        let (fu, fc): (Vec<f64>, Vec<f64>) = u
            .iter()
            .zip(c)
            .filter(|(x, y)| x.is_finite() && !y.is_nan())
            .map(|(&x, &y)| (x, y))
            .unzip();
        let calibration = Calibration::fit(options.calibration, &fu, &fc)?;
        let kappa = calibration.apply_all(&fu);
        let correct: Vec<bool> = fc.iter().map(|&x| is_correct(x)).collect();
        let rows = fu.len();
        let lo = threshold_for_risk(&kappa, &correct, max_risk).ok_or_else(|| {
            let (best, best_answered) = best_prefix(&kappa, &correct);
            PolicyError::RiskUnreachable {
                max_risk,
                rows,
                best,
                best_answered,
            }
        })?;
        // A stricter risk that no prefix meets: nothing is answered without a hedge.
        let hi = threshold_for_risk(&kappa, &correct, unhedged).unwrap_or_else(|| {
            let covered = kappa.iter().filter(|&&k| k >= 1.0).count();
            let errors = kappa
                .iter()
                .zip(&correct)
                .filter(|(&k, &ok)| k >= 1.0 && !ok)
                .count();
            RiskThreshold {
                tau: 1.0,
                covered,
                errors,
            }
        });
        let ratio = |a: usize, b: usize| {
            if b == 0 {
                f64::NAN
            } else {
                a as f64 / b as f64
            }
        };
        let report = FitReport {
            fitted_on: None,
            rows,
            skipped: u.len() - rows,
            accuracy: ratio(correct.iter().filter(|&&x| x).count(), rows),
            max_risk,
            max_risk_unhedged: unhedged,
            answered: lo.covered,
            risk: ratio(lo.errors, lo.covered),
            answered_unhedged: hi.covered,
            risk_unhedged: ratio(hi.errors, hi.covered),
            calib: None,
        };
        let policy = Policy {
            estimator,
            calibration,
            tau_lo: lo.tau,
            tau_hi: hi.tau.max(lo.tau),
            clarify: options.clarify.clone(),
            fit: Some(report),
        };
        policy.validate()?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_by_hand() {
        // κ descending: .9 ok, .8 ok, .7 wrong, .6 ok, .5 wrong, .4 wrong.
        let kappa = [0.5, 0.9, 0.7, 0.4, 0.8, 0.6];
        let ok = [false, true, false, false, true, true];
        // Error of the prefixes: 0, 0, 1/3, 1/4, 2/5, 3/6.
        let t = threshold_for_risk(&kappa, &ok, 0.25).unwrap();
        assert_eq!((t.covered, t.errors), (4, 1));
        assert!(
            (t.tau - 0.55).abs() < 1e-12,
            "halfway between .6 and .5: {}",
            t.tau
        );
        let t = threshold_for_risk(&kappa, &ok, 0.0).unwrap();
        assert_eq!((t.covered, t.errors), (2, 0));
        assert!((t.tau - 0.75).abs() < 1e-12);
        // Risk 0.5 keeps everything: τ = 0.
        let t = threshold_for_risk(&kappa, &ok, 0.5).unwrap();
        assert_eq!((t.tau, t.covered, t.errors), (0.0, 6, 3));
        // The most confident is wrong: nothing meets risk 0.
        assert!(threshold_for_risk(&[0.9, 0.1], &[false, true], 0.0).is_none());
        assert!(threshold_for_risk(&[], &[], 0.1).is_none());
    }

    #[test]
    fn ties_are_kept_or_dropped_together() {
        // Two items at κ 0.8, one of them wrong: the tie goes in or out as a whole.
        let kappa = [0.9, 0.8, 0.8, 0.1];
        let ok = [true, true, false, false];
        // Prefixes: 0/1, (tie) 1/3, 2/4.
        let t = threshold_for_risk(&kappa, &ok, 0.4).unwrap();
        assert_eq!(
            (t.covered, t.errors),
            (3, 1),
            "1/3 ≤ 0.4 once the tie is in"
        );
        assert!((t.tau - 0.45).abs() < 1e-12);
        // 0.3: the right one of the tie cannot be kept without the wrong one.
        let t = threshold_for_risk(&kappa, &ok, 0.3).unwrap();
        assert_eq!((t.covered, t.errors), (1, 0));
        assert!((t.tau - 0.85).abs() < 1e-12);
        // NaN κ never kept.
        let t = threshold_for_risk(&[f64::NAN, 0.5], &[true, true], 0.0).unwrap();
        assert_eq!(t.covered, 1);
    }

    #[test]
    fn best_prefix_for_the_error_message() {
        let (best, n) = best_prefix(&[0.9, 0.8, 0.7], &[false, true, true]);
        assert!((best - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(n, 3);
    }
}
