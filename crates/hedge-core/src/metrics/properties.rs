//! Property tests of the metrics: symmetries, the oracle and random baselines of PRR,
//! calibration error shrinking with N, invariance to monotone transforms of u, and AUROC
//! against a brute-force pair count.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// Distinct scores: a shuffled grid, so that no two are equal.
fn distinct_scores_and_labels() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (2usize..60).prop_flat_map(|n| {
        let perm = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
        let labels = prop::collection::vec(prop::bool::ANY, n);
        (perm, labels).prop_map(|(perm, labels)| {
            let u = perm.iter().map(|&i| i as f64 * 0.37 - 5.0).collect();
            let c = labels.iter().map(|&b| f64::from(u8::from(b))).collect();
            (u, c)
        })
    })
}

/// Scores on a small integer grid (many ties) with qualities in [0, 1].
fn tied_scores_and_quality() -> impl Strategy<Value = (Vec<i32>, Vec<f64>)> {
    (1usize..50).prop_flat_map(|n| {
        (
            prop::collection::vec(-6i32..6, n),
            prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0], n),
        )
    })
}

fn seeded(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

proptest! {
    #[test]
    fn auroc_of_minus_u_is_one_minus_auroc((u, c) in distinct_scores_and_labels()) {
        let neg: Vec<f64> = u.iter().map(|x| -x).collect();
        let (a, b) = (auroc(&u, &c), auroc(&neg, &c));
        if c.iter().all(|&x| x == c[0]) {
            prop_assert!(a.is_nan() && b.is_nan());
        } else {
            prop_assert!((a + b - 1.0).abs() < 1e-12, "{a} + {b}");
        }
    }

    #[test]
    fn auroc_equals_the_pair_count((u, q) in tied_scores_and_quality()) {
        let u: Vec<f64> = u.into_iter().map(f64::from).collect();
        let (mut won, mut pairs) = (0.0, 0.0);
        for (i, &ui) in u.iter().enumerate() {
            for (j, &uj) in u.iter().enumerate() {
                if !is_correct(q[i]) && is_correct(q[j]) {
                    pairs += 1.0;
                    won += if ui > uj { 1.0 } else if ui == uj { 0.5 } else { 0.0 };
                }
            }
        }
        let got = auroc(&u, &q);
        if pairs == 0.0 {
            prop_assert!(got.is_nan());
        } else {
            prop_assert!((got - won / pairs).abs() < 1e-12, "{got} vs {}", won / pairs);
        }
    }

    #[test]
    fn the_oracle_has_prr_one((_, q) in tied_scores_and_quality()) {
        let oracle: Vec<f64> = q.iter().map(|x| -x).collect();
        let n = q.len();
        let all_equal = q.iter().all(|&x| x == q[0]);
        for (rho, r) in [(1.0, n), (0.5, n / 2)] {
            let got = prr_at(&oracle, &q, rho);
            if all_equal || r <= 1 {
                prop_assert!(got.is_nan(), "ρ = {rho}: {got}");
            } else {
                prop_assert!((got - 1.0).abs() < 1e-12, "ρ = {rho}: {got}");
            }
        }
    }

    #[test]
    fn prr_is_at_most_one((u, q) in tied_scores_and_quality()) {
        let u: Vec<f64> = u.into_iter().map(f64::from).collect();
        for got in [prr(&u, &q), prr_50(&u, &q)] {
            prop_assert!(got.is_nan() || got <= 1.0 + 1e-12, "{got}");
        }
    }

    #[test]
    fn monotone_transforms_of_u_change_nothing((u, q) in tied_scores_and_quality()) {
        // k ↦ e^(k/7) and k ↦ k³ + 10 are strictly increasing on the grid, and keep ties.
        let base: Vec<f64> = u.iter().map(|&k| f64::from(k)).collect();
        let exp: Vec<f64> = u.iter().map(|&k| (f64::from(k) / 7.0).exp()).collect();
        let cube: Vec<f64> = u.iter().map(|&k| f64::from(k).powi(3) + 10.0).collect();
        type Metric = fn(&[f64], &[f64]) -> f64;
        let metrics: [(&str, Metric); 7] = [
            ("auroc", auroc), ("auprc", auprc), ("prr", prr), ("prr_50", prr_50),
            ("aurc", aurc), ("auarc", auarc),
            ("risk_coverage", |u, q| risk_coverage(u, q).risk.iter().sum()),
        ];
        for (name, f) in metrics {
            let want = f(&base, &q);
            for moved in [&exp, &cube] {
                let got = f(moved, &q);
                prop_assert!(tests::same(got, want), "{name}: {got} vs {want}");
            }
        }
    }

}

// These two draw large samples (2,000 × 20 and 100,000 rows) in an unoptimised build:
// a few seeds each.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn a_random_score_has_prr_near_zero_on_average(seed in any::<u64>()) {
        let mut rng = seeded(seed);
        let n = 2000;
        let q: Vec<f64> = (0..n).map(|_| if rng.random::<bool>() { rng.random::<f64>() } else { 1.0 }).collect();
        let rounds = 20;
        let (mut sum, mut sum50) = (0.0, 0.0);
        for _ in 0..rounds {
            let u: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
            sum += prr(&u, &q);
            sum50 += prr_50(&u, &q);
        }
        let (mean, mean50) = (sum / f64::from(rounds), sum50 / f64::from(rounds));
        prop_assert!(mean.abs() < 0.05 && mean50.abs() < 0.05, "{mean} {mean50}");
        // while a score that knows the answer is far from 0
        let informed: Vec<f64> = q.iter().map(|x| -x + 0.5 * rng.random::<f64>()).collect();
        prop_assert!(prr(&informed, &q) > 0.5);
    }

    #[test]
    fn calibration_error_of_a_calibrated_set_shrinks_with_n(seed in any::<u64>()) {
        // κ ~ U(0, 1), c ~ Bernoulli(κ): perfectly calibrated, so ECE → 0 like 1/√N.
        let mut rng = seeded(seed);
        let mut sample = |n: usize| -> (Vec<f64>, Vec<f64>) {
            let kappa: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
            let c = kappa.iter().map(|&k| f64::from(u8::from(rng.random::<f64>() < k))).collect();
            (kappa, c)
        };
        let (k_small, c_small) = sample(1_000);
        let (k_large, c_large) = sample(100_000);
        for binning in [Binning::EqualWidth, Binning::EqualMass] {
            let small = ece(&k_small, &c_small, DEFAULT_BINS, binning);
            let large = ece(&k_large, &c_large, DEFAULT_BINS, binning);
            prop_assert!(large < small, "{binning:?}: N = 1e5 {large} ≥ N = 1e3 {small}");
            prop_assert!(large < 0.012, "{binning:?}: {large}");
            prop_assert!(mce(&k_large, &c_large, DEFAULT_BINS, binning) < 0.03);
        }
        // a miscalibrated copy (κ² is overconfident-low) does not shrink
        let squared: Vec<f64> = k_large.iter().map(|k| k * k).collect();
        prop_assert!(ece(&squared, &c_large, DEFAULT_BINS, Binning::EqualWidth) > 0.1);
    }
}

#[test]
fn brier_and_nll_prefer_the_calibrated_confidence() {
    let mut rng = seeded(11);
    let kappa: Vec<f64> = (0..20_000).map(|_| rng.random::<f64>()).collect();
    let c: Vec<f64> = kappa
        .iter()
        .map(|&k| f64::from(u8::from(rng.random::<f64>() < k)))
        .collect();
    let shrunk: Vec<f64> = kappa.iter().map(|k| 0.5 + 0.5 * (k - 0.5)).collect();
    assert!(brier(&kappa, &c) < brier(&shrunk, &c));
    assert!(nll(&kappa, &c) < nll(&shrunk, &c));
    // E[(κ − c)²] = E[κ(1 − κ)] = 1/6 for κ ~ U(0, 1)
    assert!((brier(&kappa, &c) - 1.0 / 6.0).abs() < 0.01);
}
