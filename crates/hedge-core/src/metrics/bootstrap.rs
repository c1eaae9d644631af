//! Seeded bootstrap percentile intervals for any two-column metric (AUROC, PRR, …).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::nan_as_null;
use crate::estimators::quantile_sorted;

/// The number of bootstrap resamples used by default.
pub const DEFAULT_RESAMPLES: usize = 1000;

/// A metric's value on the data and a bootstrap percentile interval around it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end of the interval.
    #[serde(with = "nan_as_null")]
    pub low: f64,
    /// Upper end of the interval.
    #[serde(with = "nan_as_null")]
    pub high: f64,
    /// The metric on the data as given (not a bootstrap mean).
    #[serde(with = "nan_as_null")]
    pub point: f64,
}

/// A 95 % bootstrap percentile interval: see [`bootstrap_level`].
pub fn bootstrap<F>(metric: F, u: &[f64], c: &[f64], resamples: usize, seed: u64) -> Interval
where
    F: Fn(&[f64], &[f64]) -> f64,
{
    bootstrap_level(metric, u, c, resamples, seed, 0.95)
}

/// A bootstrap percentile interval of `metric(u, c)` at coverage `level` ∈ (0, 1).
///
/// Each of `resamples` resamples draws N rows with replacement (rows keep their (u, c)
/// pairs) from a ChaCha8 generator seeded with `seed`, so the same call gives the same
/// interval on every machine. The interval is the (1 − level)/2 and (1 + level)/2
/// quantiles (numpy's linear interpolation) of the finite resampled values; resamples on
/// which the metric is undefined (e.g. AUROC of a resample with no wrong answer) are left
/// out. `low` and `high` are NaN when no resample gives a finite value, when `resamples`
/// is 0, when `level` is not in (0, 1), and when the inputs are empty or differ in length.
/// Cost: `resamples` evaluations of `metric` on N rows.
pub fn bootstrap_level<F>(
    metric: F,
    u: &[f64],
    c: &[f64],
    resamples: usize,
    seed: u64,
    level: f64,
) -> Interval
where
    F: Fn(&[f64], &[f64]) -> f64,
{
    let point = metric(u, c);
    let n = u.len();
    let mut interval = Interval {
        low: f64::NAN,
        high: f64::NAN,
        point,
    };
    if n == 0 || c.len() != n || resamples == 0 || !(level > 0.0 && level < 1.0) {
        return interval;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut bu, mut bc) = (vec![0.0; n], vec![0.0; n]);
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for (x, y) in bu.iter_mut().zip(bc.iter_mut()) {
            let i = rng.random_range(0..n);
            *x = u[i];
            *y = c[i];
        }
        let v = metric(&bu, &bc);
        if v.is_finite() {
            values.push(v);
        }
    }
    values.sort_by(f64::total_cmp);
    interval.low = quantile_sorted(&values, (1.0 - level) / 2.0);
    interval.high = quantile_sorted(&values, (1.0 + level) / 2.0);
    interval
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{auroc, prr};

    #[test]
    fn seeded_and_contains_the_point() {
        // u = i, wrong answers mostly at high u but not always
        let u: Vec<f64> = (0..200).map(f64::from).collect();
        let c: Vec<f64> = (0..200)
            .map(|i| f64::from((i * 37) % 101 > i / 2))
            .collect();
        let a = bootstrap(auroc, &u, &c, 300, 7);
        let b = bootstrap(auroc, &u, &c, 300, 7);
        assert_eq!(a, b, "same seed, same interval");
        assert_ne!(
            a,
            bootstrap(auroc, &u, &c, 300, 8),
            "another seed, another interval"
        );
        assert_eq!(a.point, auroc(&u, &c));
        assert!(a.low <= a.point && a.point <= a.high, "{a:?}");
        assert!(a.high - a.low > 0.0 && a.high - a.low < 0.3, "{a:?}");
        // a wider level gives a wider interval from the same resamples
        let wide = bootstrap_level(auroc, &u, &c, 300, 7, 0.99);
        assert!(wide.low <= a.low && wide.high >= a.high);
        let p = bootstrap(prr, &u, &c, 100, 1);
        assert!(p.low <= p.point && p.point <= p.high, "{p:?}");
    }

    #[test]
    fn percentile_of_a_known_metric() {
        // metric = mean of c: with c all 1 every resample gives 1.
        let mean_c = |_: &[f64], c: &[f64]| c.iter().sum::<f64>() / c.len() as f64;
        let i = bootstrap(mean_c, &[0.0; 10], &[1.0; 10], 50, 3);
        assert_eq!((i.low, i.high, i.point), (1.0, 1.0, 1.0));
    }

    #[test]
    fn degenerate() {
        let i = bootstrap(auroc, &[0.1, 0.2], &[1.0, 1.0], 100, 0);
        assert!(i.point.is_nan() && i.low.is_nan() && i.high.is_nan());
        let i = bootstrap(auroc, &[0.1, 0.2], &[1.0, 0.0], 0, 0);
        assert_eq!(i.point, 1.0);
        assert!(i.low.is_nan() && i.high.is_nan());
        let i = bootstrap(auroc, &[0.1, 0.2], &[1.0], 10, 0);
        assert!(i.point.is_nan() && i.low.is_nan());
        let i = bootstrap(auroc, &[], &[], 10, 0);
        assert!(i.point.is_nan() && i.low.is_nan());
        let i = bootstrap_level(auroc, &[0.1, 0.2], &[1.0, 0.0], 10, 0, 1.0);
        assert!(i.low.is_nan());
        assert_eq!(
            serde_json::to_string(&i).unwrap(),
            r#"{"low":null,"high":null,"point":1.0}"#
        );
    }
}
