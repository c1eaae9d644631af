//! The evidence runner on a tiny random-weight model written by the test: n samples from one
//! prefill, the reflexive log-probabilities, and evidence that scores the same after a trip
//! through JSON.

mod common;

use common::tiny_model;
use hedge_core::prompts::{choice_prompt, MultipleChoice};
use hedge_core::{score_with, Estimator, EstimatorSpec, SimilarityKind};
use hedge_engine::uncertainty::{needs_logprobs, samples_seed};
use hedge_engine::{
    Backend, EvidenceRunner, GatherOptions, GatheredEvidence, Generation, GenerationRequest,
    LocalModel, Plan, Result, ScoreRequest, SimilarityBackend, Stats,
};

/// A backend with only `generate` and `score`, so that it gets the trait's defaults: n
/// separate generations, next-token log-probabilities by teacher-forced scoring.
struct Plain<'a>(&'a LocalModel);

impl Backend for Plain<'_> {
    fn generate(&self, req: &GenerationRequest) -> Result<Generation> {
        self.0.generate(req)
    }
    fn score(&self, req: &ScoreRequest) -> Result<Generation> {
        self.0.score(req)
    }
}

fn request(temperature: f64, seed: u64) -> GenerationRequest {
    let mut req = GenerationRequest::new("hello world");
    req.sampling.temperature = temperature;
    req.sampling.seed = seed;
    req.sampling.max_tokens = 6;
    req.sampling.ignore_eos = true;
    req
}

fn ids(g: &Generation) -> Vec<u32> {
    g.tokens.iter().map(|t| t.id).collect()
}

#[test]
fn generate_n_prefills_once_and_is_the_fork_path() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "llama", 3);
    let req = request(1.0, 11);

    let before = model.prefill_count();
    let n = model.generate_n(&req, 5).unwrap();
    assert_eq!(
        model.prefill_count() - before,
        1,
        "one prefill for 5 samples"
    );
    assert_eq!(n.len(), 5);

    // Exactly what LocalModel::sample gives: the prompt prefilled once, its cache forked.
    let prompt = model.prompt_ids(&req.prompt, req.chat).unwrap();
    let fork = model
        .sample(&prompt, 5, &req.sampling, 5, Stats::On)
        .unwrap();
    assert_eq!(n, fork);
    // Seeded: the same seed gives the same samples, another seed others; the samples differ.
    assert_eq!(model.generate_n(&req, 5).unwrap(), n);
    let other = model.generate_n(&request(1.0, 12), 5).unwrap();
    assert_ne!(
        other.iter().map(ids).collect::<Vec<_>>(),
        n.iter().map(ids).collect::<Vec<_>>()
    );
    assert!(
        n.iter().any(|g| ids(g) != ids(&n[0])),
        "5 identical samples"
    );

    // LM-Polygraph's way, n separate generations, prefills n times.
    let before = model.prefill_count();
    let separate = Plain(&model).generate_n(&req, 5).unwrap();
    assert_eq!(model.prefill_count() - before, 5);
    assert_eq!(separate.len(), 5);
    assert_eq!(separate[0], model.generate(&req).unwrap(), "seed + 0 first");

    // Greedy: every forked row decodes as the batch-1 answer does.
    let greedy = request(0.0, 0);
    let one = model.generate(&greedy).unwrap();
    for g in model.generate_n(&greedy, 3).unwrap() {
        assert_eq!(ids(&g), ids(&one));
        for (a, b) in g.tokens.iter().zip(&one.tokens) {
            assert!((a.logprob - b.logprob).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }
}

#[test]
fn next_token_logprobs_match_teacher_forced_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), "qwen2", 5);
    let candidates = [" True", " sure", " unsure"];
    for chat in [false, true] {
        let fast = model
            .next_token_logprobs("Is it so?", chat, &candidates)
            .unwrap();
        let slow = Plain(&model)
            .next_token_logprobs("Is it so?", chat, &candidates)
            .unwrap();
        assert_eq!(fast.stats, hedge_engine::TokenStats::Full);
        for (a, b) in fast.logprobs.iter().zip(&slow.logprobs) {
            assert!(a.is_finite() && *a < 0.0, "{a}");
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

/// The tiny llama with a context long enough for the reflexive prompts (its byte-level
/// tokenizer spends about a token per character).
fn long_context_model(dir: &std::path::Path) -> LocalModel {
    let config = common::tiny_config("llama").replace(
        r#""max_position_embeddings": 128"#,
        r#""max_position_embeddings": 512"#,
    );
    hedge_engine::write_random_model(&config, dir, 7).unwrap();
    LocalModel::load(dir.to_str().unwrap(), &candle_core::Device::Cpu).unwrap()
}

#[test]
fn runner_gathers_once_and_evidence_survives_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = long_context_model(dir.path());
    let specs = EstimatorSpec::parse_list("all,sampling,reflexive").unwrap();
    let estimators: Vec<Box<dyn Estimator>> = specs.iter().map(EstimatorSpec::build).collect();
    let mut req = request(0.0, 4);
    req.sampling.ignore_eos = false;
    let answer = model.generate(&req).unwrap();
    let similarity = SimilarityBackend::load(SimilarityKind::Jaccard, None).unwrap();
    let options = GatherOptions {
        samples: 4,
        seed: 4,
        ..GatherOptions::default()
    };
    let runner = EvidenceRunner::new(&model, &similarity, options);
    let plan = Plan::of(&specs);
    let mut stages = Vec::new();
    let before = model.prefill_count();
    let got = runner
        .gather_with_progress(&req, "hello", None, &answer, &plan, &mut |s| stages.push(s))
        .unwrap();
    // The samples are drawn from one prefill; the reflexive prompts add one verbalized
    // generation (p_true and r_tuning read one forward pass each, without sampling).
    assert_eq!(model.prefill_count() - before, 2);
    assert_eq!(stages.len(), 4, "{stages:?}");
    assert_eq!(got.samples.len(), 4);
    assert_eq!(got.similarity.as_ref().unwrap().len(), 4);
    assert_eq!(got.similarity_backend, Some(SimilarityKind::Jaccard));
    assert_eq!(
        got.token_relevance.as_ref().unwrap().len(),
        answer.tokens.len()
    );
    let rel = got.sample_token_relevance.as_ref().unwrap();
    for (r, s) in rel.iter().zip(&got.samples) {
        assert_eq!(r.len(), s.token_logprobs.as_ref().unwrap().len());
    }
    let reflexive = got.reflexive.as_ref().unwrap();
    assert!(reflexive.p_true_logprob.unwrap() < 0.0);
    assert!(reflexive.sure_logprob.unwrap() < 0.0 && reflexive.unsure_logprob.unwrap() < 0.0);

    // The samples are those of the samples' own seed stream.
    let drawn = model.generate_n(&runner.samples_request(&req), 4).unwrap();
    assert_eq!(runner.samples_request(&req).sampling.seed, samples_seed(4));
    let texts: Vec<&str> = drawn.iter().map(|g| g.text.as_str()).collect();
    assert_eq!(
        got.samples
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>(),
        texts
    );

    let scores = score_with(&estimators, &got.evidence(&answer.tokens));
    for name in [
        "eigv",
        "ecc",
        "deg",
        "num_sets",
        "lexical_similarity",
        "p_true",
    ] {
        assert!(scores.get(name).unwrap().is_finite(), "{name}: {scores:?}");
    }
    // Scores recomputed from the JSON record are the same, bit for bit.
    let json = serde_json::to_string(&got).unwrap();
    let back: GatheredEvidence = serde_json::from_str(&json).unwrap();
    let tokens_json = serde_json::to_string(&answer.tokens).unwrap();
    let tokens: Vec<hedge_core::TokenRecord> = serde_json::from_str(&tokens_json).unwrap();
    let again = score_with(&estimators, &back.evidence(&tokens));
    for ((n, a), (_, b)) in scores.iter().zip(again.iter()) {
        assert!(
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            "{n}"
        );
    }
    // Without the evidence, only the white-box estimators are defined.
    let bare = score_with(&estimators, &GatheredEvidence::default().evidence(&tokens));
    assert!(bare.get("eigv").unwrap().is_nan() && bare.get("msp").unwrap().is_finite());
    assert!(specs.iter().any(|s| !needs_logprobs(s)));
}

#[test]
fn nli_backend_reads_x_plus_s_and_keeps_its_probabilities() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiny-nli-roberta");
    let nli = SimilarityBackend::load(SimilarityKind::Nli, Some(dir.to_str().unwrap())).unwrap();
    let texts = ["Q? Paris", "Q? Lyon", "Q? Paris."];
    let (w, probs) = nli.matrix(&texts).unwrap();
    let probs = probs.expect("the nli backend keeps its probabilities");
    assert_eq!(w, probs.agreement_w());
    for i in 0..3 {
        for j in 0..3 {
            assert!((w.get(i, j) - w.get(j, i)).abs() < 1e-15);
            assert!((0.0..=1.0).contains(&w.get(i, j)));
        }
    }
    let pairs = vec![(texts[0].to_string(), texts[1].to_string())];
    let p = nli.pairs(&pairs).unwrap();
    assert!(
        (p[0] - w.get(0, 1)).abs() < 1e-6,
        "{} vs {}",
        p[0],
        w.get(0, 1)
    );
    let e = SimilarityBackend::load(SimilarityKind::Embedding, Some(dir.to_str().unwrap()));
    // An NLI classifier is still a BERT-family encoder: it loads as a sentence encoder too.
    assert!(e.is_ok() || e.unwrap_err().to_string().contains("expected"));
}

/// `choice_risk`: the runner asks folktexts' multiple-choice prompt and reads the option
/// letters' masses; the score is the positive option's mass, renormalised over the options,
/// under the spelling ("A" or " A") that holds more mass. Checked against teacher-forced
/// scoring of every spelling of every letter; without options there is nothing to read.
#[test]
fn choice_risk_reads_the_option_letters() {
    let dir = tempfile::tempdir().unwrap();
    let model = long_context_model(dir.path());
    let choice = MultipleChoice::new(
        vec!["Below 50k".into(), "Above 50k".into(), "Unknown".into()],
        1,
    )
    .unwrap();
    let req = request(0.0, 1);
    let answer = model.generate(&req).unwrap();
    let similarity = SimilarityBackend::load(SimilarityKind::Jaccard, None).unwrap();
    let runner = EvidenceRunner::new(&model, &similarity, GatherOptions::default());
    let specs = EstimatorSpec::parse_list("choice_risk").unwrap();
    let estimators: Vec<Box<dyn Estimator>> = specs.iter().map(EstimatorSpec::build).collect();
    let plan = Plan::of(&specs);
    assert!(plan.choice && !plan.samples);
    let q = "What is this person's income?";
    let got = runner
        .gather(&req, q, Some(&choice), &answer, &plan)
        .unwrap();
    let risk = score_with(&estimators, &got.evidence(&answer.tokens))
        .get("choice_risk")
        .unwrap();

    let prompt = choice_prompt(q, &choice);
    let spellings = ["A", "B", "C", " A", " B", " C"];
    let lp = Plain(&model)
        .next_token_logprobs(&prompt, req.chat, &spellings)
        .unwrap()
        .logprobs;
    let mass = |s: &[f64]| s.iter().map(|x| x.exp()).sum::<f64>();
    let best = if mass(&lp[3..]) > mass(&lp[..3]) {
        &lp[3..]
    } else {
        &lp[..3]
    };
    let want = best[1].exp() / mass(best);
    assert!((risk - want).abs() < 1e-6, "{risk} vs {want}");
    assert!(risk > 0.0 && risk < 1.0);

    let none = runner.gather(&req, q, None, &answer, &plan).unwrap();
    let bare = score_with(&estimators, &none.evidence(&answer.tokens));
    assert!(bare.get("choice_risk").unwrap().is_nan());
}
