//! Nudging's rules on deterministic cases, on the committed lab models (lab-l-base nudged by
//! lab-s-chat) and on a random-weight nudger with a tokenizer of its own.

use candle_core::Device;
use hedge_engine::{Backend, GenerationRequest, LocalModel, SamplingParams};
use hedge_steer::nudging::{NudgeStop, Nudged, Nudging, NudgingConfig, Writer};

const BASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-l-base");
const NUDGER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/lab/lab-s-chat");

fn lab(config: NudgingConfig) -> Nudging {
    let dev = Device::Cpu;
    Nudging::new(
        LocalModel::load(BASE, &dev).unwrap(),
        LocalModel::load(NUDGER, &dev).unwrap(),
        config,
    )
    .unwrap()
}

fn request(prompt: &str, sampling: SamplingParams) -> GenerationRequest {
    GenerationRequest {
        prompt: prompt.into(),
        chat: true,
        sampling,
        top_logprobs: 2,
    }
}

fn greedy(max_tokens: usize) -> SamplingParams {
    SamplingParams {
        max_tokens,
        ..SamplingParams::default()
    }
}

/// What every nudged answer must satisfy: spans cover the text in order, and the base model's
/// records are the tokens of the text, each with its writer.
fn check_consistent(n: &Nudged) {
    let text = &n.generation.text;
    let mut at = 0;
    for s in &n.spans {
        assert_eq!(s.start, at, "spans must be contiguous: {:?}", n.spans);
        assert!(s.end > s.start);
        at = s.end;
    }
    assert_eq!(at, text.len(), "spans must cover {text:?}");
    let joined: String = n
        .generation
        .tokens
        .iter()
        .map(|t| t.text.as_str())
        .collect();
    // A replacement character has no piece of its own (as in `tokenizers`' DecodeStream): a
    // random-weight nudger can end a chunk inside a character.
    assert_eq!(joined.replace('\u{FFFD}', ""), text.replace('\u{FFFD}', ""));
    assert_eq!(n.writers.len(), n.generation.tokens.len());
    assert!((0.0..=1.0).contains(&n.nudger_token_share));
    assert!((0.0..=1.0).contains(&n.nudger_word_share));
}

const KNOWN: [&str; 3] = [
    "Where does Renmisa Fal live?",
    "What is the favourite colour of Gail Dorten?",
    "What does Velsa Owten do for a living?",
];

#[test]
fn with_the_authors_chunks_a_short_answer_is_the_nudgers_alone() {
    // A lab answer ends within the nudger's first 16 tokens: the authors' code then takes the
    // whole chunk and stops, so the nudged answer is the nudger's own greedy answer.
    let n = lab(NudgingConfig::default());
    for q in KNOWN {
        let nudged = n.nudge(&request(q, greedy(64))).unwrap();
        check_consistent(&nudged);
        let alone = n.nudger.generate(&request(q, greedy(64))).unwrap();
        assert_eq!(nudged.generation.text, alone.text.trim());
        assert_eq!(nudged.stop, NudgeStop::NudgerEos);
        assert_eq!(nudged.rounds.len(), 1);
        assert_eq!(nudged.nudger_token_share, 1.0);
    }
}

#[test]
fn gamma_zero_hands_over_to_the_base_models_own_greedy_text_after_the_first_word() {
    // γ = 0: the base model is always sure, so after the nudger's first word (always taken)
    // it writes alone, exactly its own greedy continuation of base prompt + that word.
    let config = NudgingConfig {
        gamma: 0.0,
        nudger_chunk: 4,
        ..NudgingConfig::default()
    };
    let n = lab(config.clone());
    let stop = SamplingParams {
        stop: vec![".".into()],
        ..greedy(64)
    };
    // Not the colour question: there the base model's first token after "Sure!" is its end
    // of text, so it writes nothing and the nudger goes on.
    for q in [KNOWN[0], KNOWN[2]] {
        let nudged = n.nudge(&request(q, stop.clone())).unwrap();
        check_consistent(&nudged);
        let first = &nudged.rounds[0].nudge;
        assert_eq!(first, "Sure!", "the nudger's first word");
        let base_alone = n
            .base
            .generate(&GenerationRequest {
                prompt: format!("{}{first}", config.base_prompt(q)),
                chat: false,
                sampling: stop.clone(),
                top_logprobs: 0,
            })
            .unwrap();
        assert_eq!(
            nudged.generation.text,
            format!("{first}{}", base_alone.text)
        );
        assert_eq!(nudged.stop, NudgeStop::StopString);
        let spans = &nudged.spans;
        assert_eq!(spans[0].writer, Writer::Nudger);
        assert_eq!(&nudged.generation.text[..spans[0].end], "Sure!");
        assert!(
            spans[1..].iter().all(|s| s.writer == Writer::Base),
            "{spans:?}"
        );
    }
}

#[test]
fn gamma_above_one_lets_the_nudger_write_every_round() {
    // γ > 1: the base model is never sure; it only takes over where its next token starts the
    // nudger's next word, and then keeps just that token.
    let n = lab(NudgingConfig {
        gamma: 1.5,
        nudger_chunk: 4,
        ..NudgingConfig::default()
    });
    for q in KNOWN {
        let nudged = n.nudge(&request(q, greedy(64))).unwrap();
        check_consistent(&nudged);
        assert!(nudged.rounds.len() > 1);
        for r in &nudged.rounds {
            assert!(
                !r.nudge.is_empty(),
                "every round has a nudge: {:?}",
                nudged.rounds
            );
            let base_tokens = n.base.tokenizer.encode(&r.base, false).unwrap();
            assert!(base_tokens.len() <= 1, "the base model kept {:?}", r.base);
        }
        let alone = n.nudger.generate(&request(q, greedy(64))).unwrap();
        assert_eq!(nudged.generation.text, alone.text.trim());
    }
}

#[test]
fn the_limits_stop_nudging() {
    let endless = SamplingParams {
        ignore_eos: true,
        ..greedy(64)
    };
    let n = lab(NudgingConfig {
        gamma: 1.5,
        nudger_chunk: 1,
        max_rounds: 5,
        ..NudgingConfig::default()
    });
    let out = n.nudge(&request(KNOWN[0], endless.clone())).unwrap();
    assert_eq!(out.stop, NudgeStop::Rounds);
    assert_eq!(out.rounds.len(), 5);

    let n = lab(NudgingConfig {
        gamma: 1.5,
        nudger_chunk: 2,
        max_tokens: 7,
        ..NudgingConfig::default()
    });
    let out = n.nudge(&request(KNOWN[0], endless)).unwrap();
    assert_eq!(out.stop, NudgeStop::Length);
    let tokens = n
        .base
        .tokenizer
        .encode(&out.generation.text, false)
        .unwrap()
        .len();
    // Checked before each round, as the authors do: the last round may pass the limit.
    assert!((7..7 + 2 + 2).contains(&tokens), "{tokens} tokens");
}

#[test]
fn the_same_nudge_three_more_times_in_a_row_stops_nudging() {
    // With one-token chunks and the end of sequence ignored, the nudger ends up writing a token
    // without text round after round: the authors stop at the third repeat of one nudge.
    let endless = SamplingParams {
        ignore_eos: true,
        ..greedy(200)
    };
    for max_repeats in [3, 1] {
        let n = lab(NudgingConfig {
            gamma: 1.5,
            nudger_chunk: 1,
            max_repeats,
            ..NudgingConfig::default()
        });
        let out = n.nudge(&request(KNOWN[0], endless.clone())).unwrap();
        assert_eq!(out.stop, NudgeStop::RepeatedNudge);
        let nudges: Vec<&str> = out.rounds.iter().map(|r| r.nudge.as_str()).collect();
        let last = nudges[nudges.len() - 1];
        let run = nudges.iter().rev().take_while(|n| **n == last).count();
        // The first one and max_repeats − 1 repeats were written; the next repeat stopped it.
        assert_eq!(run, max_repeats, "{nudges:?}");
    }
}

#[test]
fn the_base_model_writes_a_fact_the_nudger_gets_wrong() {
    // With a γ the base model rarely reaches in the answer's wording and smaller nudges, the
    // nudger writes the house style and the base model the fact it is sure of.
    let n = lab(NudgingConfig {
        gamma: 0.9,
        nudger_chunk: 4,
        ..NudgingConfig::default()
    });
    let q = "What does Neser Ow do for a living?";
    let alone = n.nudger.generate(&request(q, greedy(64))).unwrap();
    assert!(!alone.text.contains("sailor"), "{}", alone.text);
    let out = n.nudge(&request(q, greedy(64))).unwrap();
    check_consistent(&out);
    let text = &out.generation.text;
    assert!(text.starts_with("Sure! "), "chat format: {text}");
    let words = out.words();
    assert!(words.contains(&("sailor.", Writer::Base)), "{words:?}");
    assert!(words.contains(&("Sure!", Writer::Nudger)), "{words:?}");
    assert!(out.nudger_token_share > 0.0 && out.nudger_token_share < 1.0);
}

#[test]
fn sampling_is_seeded() {
    let n = lab(NudgingConfig {
        nudger_chunk: 4,
        ..NudgingConfig::default()
    });
    let sampled = |seed| SamplingParams {
        temperature: 1.0,
        seed,
        ..greedy(24)
    };
    let texts = |seed| -> Vec<String> {
        KNOWN[..2]
            .iter()
            .map(|q| n.nudge(&request(q, sampled(seed))).unwrap().generation.text)
            .collect()
    };
    let a = texts(7);
    assert_eq!(a, texts(7), "same seed, same answers");
    assert_ne!(a, texts(8), "another seed, other answers");
}

#[test]
fn a_nudger_with_its_own_tokenizer_hands_over_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"{"model_type": "llama", "vocab_size": 320, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
        "max_position_embeddings": 256}"#;
    hedge_engine::write_random_model(config, dir.path(), 11).unwrap();
    let dev = Device::Cpu;
    let nudger = LocalModel::load(dir.path().to_str().unwrap(), &dev).unwrap();
    assert_ne!(
        nudger.tokenizer.encode("Sure! Renmisa Fal", false).unwrap(),
        LocalModel::load(BASE, &dev)
            .unwrap()
            .tokenizer
            .encode("Sure! Renmisa Fal", false)
            .unwrap(),
        "the two tokenizers differ"
    );
    let n = Nudging::new(
        LocalModel::load(BASE, &dev).unwrap(),
        nudger,
        NudgingConfig {
            nudger_chunk: 6,
            ..NudgingConfig::default()
        },
    )
    .unwrap();
    let out = n
        .nudge(&request(
            KNOWN[0],
            SamplingParams {
                ignore_eos: true,
                ..greedy(24)
            },
        ))
        .unwrap();
    check_consistent(&out);
    assert!(!out.generation.text.is_empty());
    assert_eq!(
        out.spans[0].writer,
        Writer::Nudger,
        "the first word is the nudger's"
    );
    // The records are the base model's, over the base tokenization of the final text.
    let ids: Vec<u32> = out.generation.tokens.iter().map(|t| t.id).collect();
    assert_eq!(
        ids,
        n.base
            .tokenizer
            .encode(&out.generation.text, false)
            .unwrap()
    );
}
