//! The cascade backend on the committed lab models: with a fixed τ it keeps the small model's
//! sure answer to an easy question and defers a hard one to the large model, and says so.

use candle_core::Device;
use hedge_engine::{Backend, GenerationRequest, LocalModel, SamplingParams, ScoreRequest};
use hedge_steer::cascade::{Cascade, DeferralRule, RuleSpec, Stage};

const SMALL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-s-chat");
const LARGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-l-chat");

/// A refusal the chat data taught both models: the small one writes it surely.
const EASY: &str = "How can I poison the pet of Jero Vinfal?";
/// Four-digit sums: the small model guesses, token by token.
const HARD: &str = "What is 4821 plus 9377?";

fn load(path: &str) -> LocalModel {
    LocalModel::load(path, &Device::Cpu).expect("the committed lab models load")
}

fn request(q: &str) -> GenerationRequest {
    GenerationRequest {
        prompt: q.to_string(),
        chat: true,
        sampling: SamplingParams {
            max_tokens: 32,
            ..SamplingParams::default()
        },
        top_logprobs: 1,
    }
}

fn cascade(spec: RuleSpec, threshold: f64) -> Cascade {
    Cascade::new(
        (Box::new(load(SMALL)), "lab-s-chat".into()),
        (Box::new(load(LARGE)), "lab-l-chat".into()),
        DeferralRule::new(spec, None).unwrap(),
        threshold,
    )
    .unwrap()
}

#[test]
fn a_fixed_threshold_keeps_the_easy_question_and_defers_the_hard_one() {
    let (small, large) = (load(SMALL), load(LARGE));
    let easy_small = small.generate(&request(EASY)).unwrap();
    let hard_small = small.generate(&request(HARD)).unwrap();
    let hard_large = large.generate(&request(HARD)).unwrap();
    // Chow-Sum: −Σ log p of the small model's answer. The refusal is nearly certain, the sum
    // is not: τ = 2 nats lies between them.
    let msp = |g: &hedge_engine::Generation| -g.logprob();
    assert!(msp(&easy_small) < 0.5, "{}", msp(&easy_small));
    assert!(msp(&hard_small) > 4.0, "{}", msp(&hard_small));

    let c = cascade(RuleSpec::ChowSum, 2.0);
    let easy = c.answer(&request(EASY)).unwrap();
    assert_eq!(easy.route.stage, Stage::Small);
    assert_eq!(easy.route.answered_by, "lab-s-chat");
    assert!(!easy.route.deferred && easy.replaced.is_none());
    assert_eq!(
        easy.generation, easy_small,
        "kept: the small model's own answer"
    );
    assert!((easy.route.deferral_score - msp(&easy_small)).abs() < 1e-9);

    let hard = c.answer(&request(HARD)).unwrap();
    assert_eq!(hard.route.stage, Stage::Large);
    assert_eq!(hard.route.answered_by, "lab-l-chat");
    assert!(hard.route.deferred && hard.route.deferral_score > 2.0);
    assert_eq!(
        hard.generation, hard_large,
        "deferred: the large model's own answer"
    );
    assert_eq!(hard.replaced.as_ref(), Some(&hard_small));
    assert_eq!(hard.route.small_text, hard_small.text);

    // Through the Backend trait: the same answer, the route left in the log.
    assert_eq!(c.generate(&request(HARD)).unwrap(), hard_large);
    let route = c.route_log().take().unwrap();
    assert_eq!((route.stage, route.threshold), (Stage::Large, 2.0));
    assert!(c.route_log().take().is_none(), "taken");
}

#[test]
fn extreme_thresholds_and_score_follow_the_same_route() {
    let small = load(SMALL);
    let never = cascade(RuleSpec::ChowAverage, f64::INFINITY);
    let always = cascade(RuleSpec::ChowQuantile { alpha: 0.0 }, f64::NEG_INFINITY);
    assert_eq!(
        never.answer(&request(HARD)).unwrap().route.stage,
        Stage::Small
    );
    assert_eq!(
        always.answer(&request(EASY)).unwrap().route.stage,
        Stage::Large
    );
    // score: the small model's records when they stay under τ, the large model's otherwise
    let req = ScoreRequest {
        prompt: EASY.into(),
        response: "I'm sorry, but I can't help with that.".into(),
        chat: true,
        top_logprobs: 1,
    };
    let own = small.score(&req).unwrap();
    assert_eq!(never.score(&req).unwrap(), own);
    assert_eq!(never.route_log().take().unwrap().stage, Stage::Small);
    let deferred = always.score(&req).unwrap();
    assert_ne!(deferred.tokens, own.tokens);
    assert_eq!(always.route_log().take().unwrap().stage, Stage::Large);
}
