//! Every sampling-based estimator and `p_true` against LM-Polygraph 0.7.0's estimator
//! classes, `semantic_entropy` against a port of Farquhar et al.'s code, the `rouge_l` and
//! `jaccard` backends against `rouge_score` and LM-Polygraph, and the Porter stemmer against
//! NLTK: values written by `scripts/fixtures/make_sampling_reference.py` into
//! `tests/fixtures/sampling_reference.json`.
//!
//! Tolerance: |got − want| ≤ 1e-9·|want| + 1e-12. The relative part is the contract; the
//! absolute part is for values that are 0 in exact arithmetic (the eccentricity of identical
//! answers), which both implementations return as rounding noise of about 1e-16 from their
//! own eigen-solvers (LAPACK's and nalgebra's). Counts and stems are compared exactly;
//! ROUGE-L, Jaccard, W and log p(s), computed by the same float operations as the reference,
//! to 1e-15 relative: the reference's bits, up to serde_json's default float parsing, which
//! may land one ulp away from the number written.

use hedge_core::estimators::{Evidence, Reflexive, Sample};
use hedge_core::similarity::{
    jaccard, porter_stem, rouge_l, Clusters, Jaccard, NliProbs, RougeL, Similarity,
    SimilarityMatrix,
};
use hedge_core::{EstimatorSpec, TokenRecord};
use serde::Deserialize;

const FIXTURE: &str = include_str!("fixtures/sampling_reference.json");

#[derive(Deserialize)]
struct Doc {
    stems: Vec<(String, String)>,
    rouge: Vec<RougePair>,
    p_true: PTrueRef,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct RougePair {
    a: String,
    b: String,
    rouge_l: f64,
    jaccard: f64,
}

#[derive(Deserialize)]
struct PTrueRef {
    logprobs: Vec<f64>,
    want: Vec<f64>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    texts: Vec<String>,
    token_logprobs: Vec<Vec<f64>>,
    relevance: Vec<Vec<f64>>,
    greedy_logprobs: Vec<f64>,
    greedy_relevance: Vec<f64>,
    entail: Vec<Vec<f64>>,
    contra: Vec<Vec<f64>>,
    p_sequence: Vec<f64>,
    lexical_similarity: Option<f64>,
    token_sar: f64,
    nli: Mode,
    jaccard: Mode,
    rouge_l: Mode,
}

/// The reference values with W from one backend.
#[derive(Deserialize)]
struct Mode {
    w: Vec<Vec<f64>>,
    num_sets: f64,
    eigv: f64,
    ecc: f64,
    deg: f64,
    semantic_entropy: f64,
    discrete_semantic_entropy: f64,
    lm_polygraph_semantic_entropy: f64,
    sentence_sar: f64,
    sar: f64,
}

fn doc() -> Doc {
    serde_json::from_str(FIXTURE).expect("fixture parses")
}

/// `got` equals `want` to the tolerance of this file; `None` (NaN in the reference) wants NaN.
#[track_caller]
fn check(what: &str, got: f64, want: Option<f64>) -> f64 {
    match want {
        None => {
            assert!(got.is_nan(), "{what}: got {got}, reference NaN");
            0.0
        }
        Some(w) => {
            let diff = (got - w).abs();
            assert!(
                diff <= 1e-9 * w.abs() + 1e-12,
                "{what}: got {got}, reference {w}, diff {diff:e}"
            );
            // Near 0 only the absolute tolerance means anything.
            if w.abs() < 1e-6 {
                0.0
            } else {
                diff / w.abs()
            }
        }
    }
}

/// `got` is `want` to the last bit or two (see the file's note on parsing).
#[track_caller]
fn same(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-15 * want.abs(),
        "{what}: got {got}, reference {want}"
    );
}

fn record(logprob: f64) -> TokenRecord {
    TokenRecord {
        id: 0,
        text: String::new(),
        logprob,
        entropy: 0.0,
        margin: 0.0,
        kurtosis: 0.0,
        top: Vec::new(),
    }
}

fn score(name: &str, ev: &Evidence) -> f64 {
    name.parse::<EstimatorSpec>().unwrap().build().estimate(ev)
}

fn rows(w: &SimilarityMatrix) -> Vec<Vec<f64>> {
    w.rows().map(<[f64]>::to_vec).collect()
}

/// LM-Polygraph's `SemanticEntropy()` default: −(1/m) Σ_j logsumexp over the set of s_j of
/// the summed log-probabilities, from hedge's semantic sets.
fn lm_polygraph_semantic_entropy(clusters: &Clusters, log_p: &[f64]) -> f64 {
    let lse = |xs: &[f64]| {
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        max + xs.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
    };
    let class_lp: Vec<f64> = clusters
        .members()
        .iter()
        .map(|c| lse(&c.iter().map(|&j| log_p[j]).collect::<Vec<_>>()))
        .collect();
    let m = log_p.len();
    -(0..m)
        .map(|j| class_lp[clusters.cluster_of(j)])
        .sum::<f64>()
        / m as f64
}

#[test]
fn porter_stems_match_nltk() {
    let doc = doc();
    assert!(doc.stems.len() >= 3000);
    for (word, stem) in &doc.stems {
        assert_eq!(&porter_stem(word), stem, "{word}");
    }
}

#[test]
fn rouge_l_and_jaccard_match_rouge_score_and_lm_polygraph() {
    for pair in doc().rouge {
        let what = format!("{:?} {:?}", pair.a, pair.b);
        same(
            &format!("rouge_l {what}"),
            rouge_l(&pair.a, &pair.b),
            pair.rouge_l,
        );
        same(
            &format!("jaccard {what}"),
            jaccard(&pair.a, &pair.b),
            pair.jaccard,
        );
    }
}

#[test]
fn p_true_matches_lm_polygraph() {
    let r = doc().p_true;
    for (lp, want) in r.logprobs.iter().zip(&r.want) {
        let reflexive = Reflexive::default().with_p_true(*lp);
        let got = score("p_true", &Evidence::new(&[]).with_reflexive(&reflexive));
        same(&format!("log P(True) = {lp}"), got, *want);
    }
}

#[test]
fn sampling_estimators_match_lm_polygraph() {
    let doc = doc();
    assert_eq!(doc.cases.len(), 17);
    let mut worst = (0.0f64, String::new());
    let mut note = |rel: f64, what: &str| {
        if rel > worst.0 {
            worst = (rel, what.to_string());
        }
    };
    for case in &doc.cases {
        let n = &case.name;
        let samples: Vec<Sample> = case
            .texts
            .iter()
            .zip(&case.token_logprobs)
            .map(|(t, lp)| Sample::new(t.clone(), lp.clone()))
            .collect();
        for (s, want) in samples.iter().zip(&case.p_sequence) {
            same(&format!("{n}: log p(s)"), s.logprob(), *want);
        }
        let base = Evidence::new(&[])
            .with_samples(&samples)
            .with_sample_token_relevance(&case.relevance);

        let got = score("lexical_similarity", &base);
        note(
            check(
                &format!("{n} lexical_similarity"),
                got,
                case.lexical_similarity,
            ),
            n,
        );

        let greedy: Vec<TokenRecord> = case.greedy_logprobs.iter().map(|&lp| record(lp)).collect();
        let ev = Evidence::new(&greedy).with_token_relevance(&case.greedy_relevance);
        note(
            check(
                &format!("{n} token_sar"),
                score("token_sar", &ev),
                Some(case.token_sar),
            ),
            n,
        );

        let nli = NliProbs::from_rows(&case.entail, &case.contra).unwrap();
        let texts: Vec<&str> = case.texts.iter().map(String::as_str).collect();
        let w_jaccard = Jaccard.similarity(&texts).unwrap();
        let w_rouge = RougeL.similarity(&texts).unwrap();
        let modes: [(&str, Evidence, &Mode, SimilarityMatrix); 3] = [
            ("nli", base.with_nli(&nli), &case.nli, nli.agreement_w()),
            (
                "jaccard",
                base.with_similarity(&w_jaccard),
                &case.jaccard,
                w_jaccard.clone(),
            ),
            (
                "rouge_l",
                base.with_similarity(&w_rouge),
                &case.rouge_l,
                w_rouge.clone(),
            ),
        ];
        for (mode, ev, want, w) in modes {
            let at = |name: &str| format!("{n} {mode} {name}");
            assert_eq!(w.len(), want.w.len(), "{}", at("m"));
            for (i, (got, want)) in rows(&w).iter().zip(&want.w).enumerate() {
                for (j, (g, v)) in got.iter().zip(want).enumerate() {
                    same(&at(&format!("W[{i}][{j}]")), *g, *v);
                }
            }
            assert_eq!(score("num_sets", &ev), want.num_sets, "{}", at("num_sets"));
            #[rustfmt::skip]
            let table = [
                ("eigv", want.eigv),
                ("ecc", want.ecc),
                ("deg", want.deg),
                ("semantic_entropy", want.semantic_entropy),
                ("discrete_semantic_entropy", want.discrete_semantic_entropy),
                ("sentence_sar", want.sentence_sar),
                ("sar", want.sar),
            ];
            for (name, value) in table {
                note(check(&at(name), score(name, &ev), Some(value)), &at(name));
            }
            // hedge's semantic sets and logsumexp give LM-Polygraph's own SemanticEntropy
            // number too, which is not METHODS' definition (see semantic_entropy.rs).
            let clusters = ev.clusters(0.5).unwrap();
            let got = lm_polygraph_semantic_entropy(&clusters, &case.p_sequence);
            check(
                &at("LM-Polygraph SemanticEntropy"),
                got,
                Some(want.lm_polygraph_semantic_entropy),
            );
        }
    }
    eprintln!("largest relative difference: {:e} ({})", worst.0, worst.1);
}
