//! The answer / hedge / abstain / clarify policy through its public API: fitting to a risk on
//! synthetic calibration items, decisions at the band edges, clarify on hand-made clusters,
//! and the policy file.

use hedge_core::{CalibrationKind, Platt, Sample, Scores, SimilarityKind, SimilarityMatrix};
use hedge_engine::GatheredEvidence;
use hedge_steer::clarify::{ClarifyConfig, ClarifyOrder};
use hedge_steer::policy::{Action, FitOptions, Policy, PolicyError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// N seeded calibration items: u uniform in [0, 4], correct with probability σ(3 − 2u), so
/// that sure answers are mostly right and unsure ones mostly wrong.
fn synthetic(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u: f64 = rng.random_range(0.0..4.0);
            let p = 1.0 / (1.0 + (2.0 * u - 3.0).exp());
            (u, f64::from(u8::from(rng.random_bool(p))))
        })
        .unzip()
}

/// (answered, wrong) among the items with κ ≥ tau.
fn kept(policy: &Policy, u: &[f64], c: &[f64], tau: f64) -> (usize, usize) {
    u.iter().zip(c).fold((0, 0), |(n, w), (&x, &y)| {
        if policy.confidence(x) >= tau {
            (n + 1, w + usize::from(y < 0.5))
        } else {
            (n, w)
        }
    })
}

#[test]
fn fit_meets_the_risk_and_answers_as_many_as_it_allows() {
    let (u, c) = synthetic(2000, 1);
    for kind in [CalibrationKind::Platt, CalibrationKind::Isotonic] {
        for max_risk in [0.05, 0.1, 0.2] {
            let options = FitOptions::new("msp", kind, max_risk);
            let p = Policy::fit(&u, &c, &options).unwrap();
            let (n, w) = kept(&p, &u, &c, p.tau_lo);
            assert!(
                n > 0 && w as f64 <= max_risk * n as f64,
                "{kind} {max_risk}: {w}/{n}"
            );
            // τ_hi meets the stricter risk (half), and keeps a subset.
            let (nh, wh) = kept(&p, &u, &c, p.tau_hi);
            assert!(wh as f64 <= max_risk / 2.0 * nh as f64, "{wh}/{nh}");
            assert!(p.tau_lo <= p.tau_hi && nh <= n);
            // No lower threshold (a longer prefix by κ) would meet the risk.
            let mut kappas: Vec<f64> = u.iter().map(|&x| p.confidence(x)).collect();
            kappas.sort_by(|a, b| b.total_cmp(a));
            kappas.dedup();
            for &k in kappas.iter().filter(|&&k| k < p.tau_lo) {
                let (m, e) = kept(&p, &u, &c, k);
                assert!(e as f64 > max_risk * m as f64, "κ ≥ {k} keeps {e}/{m}");
            }
            // The report says what the fit saw.
            let f = p.fit.as_ref().unwrap();
            assert_eq!((f.rows, f.answered), (2000, n));
            assert!((f.risk - w as f64 / n as f64).abs() < 1e-12);
        }
    }
}

#[test]
fn fit_is_deterministic() {
    let (u, c) = synthetic(500, 7);
    let mut options = FitOptions::new("msp", CalibrationKind::Platt, 0.1);
    options.clarify = Some(ClarifyConfig::default());
    let a = Policy::fit(&u, &c, &options).unwrap();
    let b = Policy::fit(&u, &c, &options).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    // Another sample of the same world gives other thresholds.
    let (u2, c2) = synthetic(500, 8);
    assert_ne!(Policy::fit(&u2, &c2, &options).unwrap().tau_lo, a.tau_lo);
}

#[test]
fn fit_refuses_what_it_cannot_do() {
    let (u, c) = synthetic(200, 3);
    let fit = |r: f64, r2: Option<f64>| {
        let mut o = FitOptions::new("msp", CalibrationKind::Platt, r);
        o.max_risk_unhedged = r2;
        Policy::fit(&u, &c, &o)
    };
    let e = fit(1.5, None).unwrap_err().to_string();
    assert!(e.contains("--max-risk 1.5"), "{e}");
    let e = fit(0.1, Some(0.2)).unwrap_err().to_string();
    assert!(e.contains("must not exceed --max-risk 0.1"), "{e}");
    let mut o = FitOptions::new("all", CalibrationKind::Platt, 0.1);
    let e = Policy::fit(&u, &c, &o).unwrap_err().to_string();
    assert!(e.contains("group of estimators"), "{e}");
    // A hedge estimator is named as hedge names it; another system's score keeps its name.
    o.estimator = "num_sets:0.50".into();
    assert_eq!(Policy::fit(&u, &c, &o).unwrap().estimator, "num_sets");
    o.estimator = "my_score".into();
    assert_eq!(Policy::fit(&u, &c, &o).unwrap().estimator, "my_score");
    // The most sure answer is wrong (isotonic pools all three at κ = ⅔): risk 0 is out of
    // reach, and the message says how close a threshold gets.
    o.estimator = "msp".into();
    o.calibration = CalibrationKind::Isotonic;
    o.max_risk = 0.0;
    let e = Policy::fit(&[0.1, 0.5, 0.9], &[0.0, 1.0, 1.0], &o).unwrap_err();
    assert!(matches!(e, PolicyError::RiskUnreachable { .. }), "{e}");
    assert!(e.to_string().contains("0.3333"), "{e}");
    // No usable item.
    assert!(Policy::fit(&[f64::NAN], &[1.0], &o).is_err());
}

/// κ = σ(−u) (u = 0 ↦ ½), τ_lo = 0.3, τ_hi = 0.7, clarify at μ = 0.25 on W ≥ 0.9.
fn hand_policy(order: ClarifyOrder) -> Policy {
    let p = Policy {
        estimator: "msp".into(),
        calibration: hedge_core::Calibration::Platt(Platt { a: -1.0, b: 0.0 }),
        tau_lo: 0.3,
        tau_hi: 0.7,
        clarify: Some(ClarifyConfig {
            order,
            cluster_threshold: 0.9,
            ..ClarifyConfig::default()
        }),
        fit: None,
    };
    p.validate().unwrap();
    p
}

/// u with κ = σ(−u) equal to `kappa`.
fn u_of(kappa: f64) -> f64 {
    -(kappa / (1.0 - kappa)).ln()
}

#[test]
fn decisions_at_the_band_edges() {
    let p = hand_policy(ClarifyOrder::AbstainFirst);
    for (kappa, want) in [
        (0.7 + 1e-9, Action::Answer),
        (0.7 - 1e-9, Action::Hedge),
        (0.3 + 1e-9, Action::Hedge),
        (0.3 - 1e-9, Action::Abstain),
    ] {
        let d = p.decide_with("Sure! Tora lives in Lorwick.", u_of(kappa), None);
        assert_eq!(d.action, want, "κ = {kappa}");
        assert!((d.confidence - kappa).abs() < 1e-12);
        let text = match want {
            Action::Answer => "Sure! Tora lives in Lorwick.",
            Action::Hedge => "I'm not sure, but Tora lives in Lorwick.",
            _ => "I don't know.",
        };
        assert_eq!(d.text, text);
    }
}

/// Samples with their similarity matrix: 1 between equal texts, 0.8 otherwise (a sentence
/// that differs in one word of five), so τ = 0.9 keeps different answers apart.
fn evidence(answers: &[&str]) -> GatheredEvidence {
    let samples: Vec<Sample> = answers
        .iter()
        .map(|a| Sample::new(format!("Sure! Tora has visited {a}."), vec![-0.5]))
        .collect();
    let w = SimilarityMatrix::from_fn(answers.len(), |i, j| {
        if answers[i] == answers[j] {
            1.0
        } else {
            0.8
        }
    });
    GatheredEvidence {
        samples,
        similarity_backend: Some(SimilarityKind::RougeL),
        similarity: Some(w),
        ..GatheredEvidence::default()
    }
}

fn scores(kappa: f64) -> Scores {
    Scores::from_iter([("perplexity", 0.1), ("msp", u_of(kappa))])
}

#[test]
fn clarify_on_hand_made_clusters() {
    let p = hand_policy(ClarifyOrder::AbstainFirst);
    let answer = "Sure! Tora has visited Lorwick.";
    // 5 / 3 / 1 / 1: two clusters hold ≥ 25 %.
    let split = evidence(&[
        "Lorwick", "Halvik", "Lorwick", "Lorwick", "Halvik", "Peldor", "Lorwick", "Halvik",
        "Lorwick", "Ashgrove",
    ]);
    let d = p.decide(answer, &scores(0.9), &split);
    assert_eq!(d.action, Action::Clarify);
    assert_eq!(d.options, ["Lorwick", "Halvik"]);
    assert_eq!(
        d.text,
        "I can think of more than one answer: “Lorwick” or “Halvik”. Which one do you mean?"
    );
    let masses: Vec<f64> = d.clusters.iter().map(|c| c.mass).collect();
    assert_eq!(masses, [0.5, 0.3, 0.1, 0.1]);
    assert!(
        d.reason
            .starts_with("2 answer clusters each hold ≥ 25 % of the 10 samples (50 %, 30 %)"),
        "{}",
        d.reason
    );
    // A hedged answer is clarified too; an abstention is not, unless clarify comes first.
    assert_eq!(
        p.decide(answer, &scores(0.5), &split).action,
        Action::Clarify
    );
    assert_eq!(
        p.decide(answer, &scores(0.1), &split).action,
        Action::Abstain
    );
    let first = hand_policy(ClarifyOrder::ClarifyFirst);
    assert_eq!(
        first.decide(answer, &scores(0.1), &split).action,
        Action::Clarify
    );
    // Many small clusters (an unknown question): 3 / 1 / 1 / 1 / 1 / 1 / 1 / 1.
    let spread = evidence(&["A", "B", "C", "A", "D", "E", "F", "A", "G", "H"]);
    let d = first.decide(answer, &scores(0.9), &spread);
    assert_eq!((d.action, d.clusters.len()), (Action::Answer, 8));
    // One large cluster: 8 / 2 (0.2 < μ).
    let one = evidence(&["A", "A", "A", "B", "A", "A", "B", "A", "A", "A"]);
    assert_eq!(p.decide(answer, &scores(0.9), &one).action, Action::Answer);
    // Without samples, no clarify.
    let d = p.decide(answer, &scores(0.9), &GatheredEvidence::default());
    assert_eq!(d.action, Action::Answer);
    assert!(d.clusters.is_empty());
}

#[test]
fn policy_file_round_trip_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    let (u, c) = synthetic(300, 5);
    let mut options = FitOptions::new("chow_quantile:0.1", CalibrationKind::Isotonic, 0.15);
    options.clarify = Some(ClarifyConfig {
        mu: 0.3,
        ..ClarifyConfig::default()
    });
    let mut p = Policy::fit(&u, &c, &options).unwrap();
    p.fit.as_mut().unwrap().fitted_on = Some("calib.jsonl".into());
    p.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("{\n  \"format\": \"hedge-policy\",\n  \"version\": 1,"),
        "{text}"
    );
    assert_eq!(Policy::load(&path).unwrap(), p);

    let bad = |body: &str, want: &str| {
        std::fs::write(&path, body).unwrap();
        let e = Policy::load(&path).unwrap_err().to_string();
        assert!(
            e.contains(path.to_str().unwrap()) && e.contains(want),
            "{e}"
        );
    };
    let good: serde_json::Value = serde_json::from_str(&text).unwrap();
    let with = |key: &str, value: serde_json::Value| {
        let mut v = good.clone();
        v[key] = value;
        v.to_string()
    };
    bad("{", "not JSON");
    bad(
        r#"{"method": "platt", "a": 1, "b": 0}"#,
        "not a policy written by `hedge policy fit`",
    );
    bad(
        &with("format", "hedge-calibration".into()),
        "\"format\" is \"hedge-calibration\"",
    );
    bad(&with("version", 2.into()), "version 2");
    bad(&with("tau_hi", 1.5.into()), "tau_hi");
    bad(&with("tau_lo", serde_json::json!("high")), "tau_lo");
    bad(&with("estimator", "sampling".into()), "estimator");
    bad(
        &with("estimator", 3.into()),
        "\"estimator\" must be a string",
    );
    bad(
        &with("calibration", serde_json::json!({"method": "histogram"})),
        "histogram",
    );
    let mut v = good.clone();
    v["clarify"]["mu"] = 0.0.into();
    bad(&v.to_string(), "clarify.mu");
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("tau_lo");
    bad(&v.to_string(), "missing field `tau_lo`");
    let missing = dir.path().join("none.json");
    let e = Policy::load(&missing).unwrap_err().to_string();
    assert!(e.contains("none.json"), "{e}");
}
