//! Parsing, printing and checking estimator specs.

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
        ("lexical_similarity", "lexical_similarity"),
        ("num_sets", "num_sets"),
        ("num_sets:0.5", "num_sets"),
        ("num_sets:0.7", "num_sets:0.7"),
        ("num_sets:-0", "num_sets:0"),
        ("eigv", "eigv"),
        ("ecc", "ecc"),
        ("deg", "deg"),
        ("semantic_entropy", "semantic_entropy"),
        ("semantic_entropy:1", "semantic_entropy:1"),
        ("discrete_semantic_entropy:0.25", "discrete_semantic_entropy:0.25"),
        ("token_sar", "token_sar"),
        ("sentence_sar", "sentence_sar"),
        ("sentence_sar:1e-3", "sentence_sar"),
        ("sar", "sar"),
        ("sar:0.01", "sar:0.01"),
        ("p_true", "p_true"),
        ("r_tuning_sure", "r_tuning_sure"),
        ("verbalized", "verbalized"),
        ("choice_risk", "choice_risk"),
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
    let sampling = EstimatorSpec::sampling_all();
    let reflexive = EstimatorSpec::reflexive_all();
    for name in EstimatorSpec::known_names() {
        let lists = [&all, &sampling, &reflexive];
        let found = lists
            .iter()
            .filter(|l| l.iter().any(|s| s.base_name() == *name));
        assert_eq!(found.count(), 1, "{name} not in exactly one of the lists");
    }
    assert_eq!(EstimatorSpec::parse_list("all").unwrap(), all);
    assert_eq!(EstimatorSpec::parse_list("sampling").unwrap(), sampling);
    assert_eq!(EstimatorSpec::parse_list("reflexive").unwrap(), reflexive);
    // Every default-built estimator is named as its spec, and declares what it needs.
    for spec in all.iter().chain(&sampling).chain(&reflexive) {
        let est = spec.build();
        assert_eq!(est.name(), spec.to_string());
        assert!(!est.needs().is_empty(), "{spec}");
    }
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
        ("num_sets:1.5", "1.5"),
        ("num_sets:x", "x"),
        ("semantic_entropy:-0.1", "-0.1"),
        ("discrete_semantic_entropy:NaN", "NaN"),
        ("sar:0", "0"),
        ("sentence_sar:-1", "-1"),
        ("sar:inf", "inf"),
        ("eigv:2", "2"),
        ("p_true:1", "1"),
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
    let msg = "sar:0".parse::<EstimatorSpec>().unwrap_err().to_string();
    assert!(msg.contains("`sar`") && msg.contains("> 0"), "{msg}");
    let msg = "entropy".parse::<EstimatorSpec>().unwrap_err().to_string();
    assert!(
        msg.contains("sampling") && msg.contains("num_sets:<τ"),
        "{msg}"
    );
}

#[test]
fn lists() {
    use EstimatorSpec as S;
    #[rustfmt::skip]
    let table: [(&str, Vec<S>); 5] = [
        ("msp,perplexity", vec![S::Msp, S::Perplexity]),
        (" msp , ,chow_quantile:0.1,", vec![S::Msp, S::ChowQuantile { alpha: 0.1 }]),
        ("perplexity,msp,perplexity", vec![S::Perplexity, S::Msp]),
        ("p_true,sampling", {
            let mut v = vec![S::PTrue];
            v.extend(S::sampling_all());
            v
        }),
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
        (EstimatorSpec::NumSets { tau: 0.5 }, r#"{"name":"num_sets","tau":0.5}"#),
        (EstimatorSpec::Sar { t: 0.001 }, r#"{"name":"sar","t":0.001}"#),
        (EstimatorSpec::PTrue, r#"{"name":"p_true"}"#),
        (EstimatorSpec::RTuningSure, r#"{"name":"r_tuning_sure"}"#),
        (EstimatorSpec::TokenSar, r#"{"name":"token_sar"}"#),
    ];
    for (spec, json) in table {
        assert_eq!(serde_json::to_string(&spec).unwrap(), json);
        assert_eq!(serde_json::from_str::<EstimatorSpec>(json).unwrap(), spec);
    }
    let missing_alpha: EstimatorSpec = serde_json::from_str(r#"{"name":"chow_quantile"}"#).unwrap();
    assert_eq!(missing_alpha, EstimatorSpec::ChowQuantile { alpha: 0.0 });
    let e =
        serde_json::from_str::<EstimatorSpec>(r#"{"name":"chow_quantile","alpha":2}"#).unwrap_err();
    assert!(e.to_string().contains("[0, 1]"), "{e}");
    let defaults: EstimatorSpec = serde_json::from_str(r#"{"name":"semantic_entropy"}"#).unwrap();
    assert_eq!(defaults, EstimatorSpec::SemanticEntropy { tau: 0.5 });
    let defaults: EstimatorSpec = serde_json::from_str(r#"{"name":"sentence_sar"}"#).unwrap();
    assert_eq!(defaults, EstimatorSpec::SentenceSar { t: 0.001 });
    for bad in [r#"{"name":"num_sets","tau":2}"#, r#"{"name":"sar","t":-1}"#] {
        assert!(serde_json::from_str::<EstimatorSpec>(bad).is_err(), "{bad}");
    }
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
    for spec in [
        EstimatorSpec::NumSets { tau: 2.0 },
        EstimatorSpec::SemanticEntropy { tau: f64::NAN },
        EstimatorSpec::Sar { t: 0.0 },
    ] {
        assert!(spec.validate().is_err(), "{spec}");
        let est = spec.build();
        assert_eq!(est.name(), spec.to_string());
        assert!(est.estimate(&super::super::Evidence::new(&[])).is_nan());
    }
}
