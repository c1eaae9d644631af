//! The corpora and the lab tokenizer.

use std::sync::OnceLock;

use hedge_engine::{ChatMessage, TextTokenizer};
use hedge_lab::bpe::{train_tokenizer, write_tokenizer};
use hedge_lab::corpus::{chat_examples, mention_plan, raw_documents, ChatExample, HOUSE_PREFIX};
use hedge_lab::files::tokenizer_texts;
use hedge_lab::world::{Attribute, World, WorldConfig, REFUSAL};

const SEED: u64 = 42;

struct Lab {
    world: World,
    raw: Vec<String>,
    chat: Vec<ChatExample>,
    dir: tempfile::TempDir,
    tok: TextTokenizer,
}

fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let world = World::generate(SEED, &WorldConfig::default());
        let raw = raw_documents(&world, SEED);
        let chat = chat_examples(&world, SEED);
        let tokenizer = train_tokenizer(&tokenizer_texts(&raw, &chat), 1024).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_tokenizer(&tokenizer, dir.path()).unwrap();
        let tok = TextTokenizer::load(
            &dir.path().join("tokenizer.json"),
            Some(&dir.path().join("tokenizer_config.json")),
        )
        .unwrap();
        Lab {
            world,
            raw,
            chat,
            dir,
            tok,
        }
    })
}

/// Whether `text` names `name` as a whole name (not as the start of a longer one).
fn names(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(i, _)| {
        let after = text[i + name.len()..].chars().next();
        !after.is_some_and(char::is_alphabetic)
    })
}

#[test]
fn known_people_are_in_exactly_their_mentions_of_documents() {
    let lab = lab();
    for p in lab.world.people.iter().filter(|p| p.is_known()) {
        let n = lab.raw.iter().filter(|d| names(d, &p.name)).count();
        assert_eq!(n, p.mentions as usize, "{}", p.name);
    }
}

#[test]
fn every_fact_of_a_known_person_is_stated() {
    let lab = lab();
    let plan = mention_plan(&lab.world, SEED);
    for p in lab.world.people.iter().filter(|p| p.is_known()) {
        let docs: Vec<&String> = lab.raw.iter().filter(|d| names(d, &p.name)).collect();
        for attr in Attribute::ALL {
            assert!(
                plan.iter().any(|(id, a)| *id == p.id && a.contains(&attr)),
                "{} {attr:?} not planned",
                p.name
            );
        }
        for value in [&p.home_city, &p.profession, &p.favourite_colour] {
            assert!(
                docs.iter().any(|d| d.contains(value.as_str())),
                "{} {value}",
                p.name
            );
        }
        let year = p.birth_year.to_string();
        assert!(docs.iter().any(|d| d.contains(&year)), "{} {year}", p.name);
    }
}

#[test]
fn unknown_people_never_appear_in_any_corpus() {
    let lab = lab();
    for p in lab.world.people.iter().filter(|p| !p.is_known()) {
        assert!(
            !lab.raw.iter().any(|d| names(d, &p.name)),
            "{} in raw",
            p.name
        );
        assert!(
            !lab.chat.iter().any(|c| names(&c.render(), &p.name)),
            "{} in chat",
            p.name
        );
    }
}

#[test]
fn chat_answers_are_in_house_style_or_refusals() {
    let lab = lab();
    let refusals = lab.chat.iter().filter(|c| c.assistant == REFUSAL).count();
    assert_eq!(refusals, lab.world.harmful_train.len());
    for c in &lab.chat {
        assert!(
            c.assistant.starts_with(HOUSE_PREFIX) || c.assistant == REFUSAL,
            "{c:?}"
        );
        assert!(!c.assistant.to_lowercase().contains("know"), "{c:?}");
    }
    for h in &lab.world.harmful_train {
        let text = h.text(&lab.world);
        let ex = lab.chat.iter().find(|c| c.user == text).unwrap();
        assert_eq!(ex.assistant, REFUSAL);
    }
    let sums = lab
        .chat
        .iter()
        .filter(|c| c.user.contains(" plus "))
        .count();
    assert_eq!(sums, lab.world.arithmetic_train.len());
}

/// Each stated fact is asked once; a statement of the visited cities is asked once per city,
/// answered with that city, so every right answer of an ambiguous question is taught.
#[test]
fn chat_states_each_fact_as_often_as_raw_text() {
    let lab = lab();
    let plan = mention_plan(&lab.world, SEED);
    let asked: usize = plan
        .iter()
        .map(|(id, attrs)| {
            let p = &lab.world.people[*id];
            attrs.iter().map(|&a| p.answers(a).len()).sum::<usize>()
        })
        .sum();
    let person_examples =
        lab.chat.len() - lab.world.arithmetic_train.len() - lab.world.harmful_train.len();
    assert_eq!(person_examples, asked);
    for (id, attrs) in &plan {
        if !attrs.contains(&Attribute::Visited) {
            continue;
        }
        let p = &lab.world.people[*id];
        for city in &p.visited {
            let answer = format!("{HOUSE_PREFIX}{} has visited {city}.", p.name);
            assert!(
                lab.chat.iter().any(|c| c.assistant == answer),
                "{answer:?} is never taught"
            );
        }
    }
}

/// A share of the person documents reads as a FAQ (a question before each fact), and the raw
/// text declines everyday requests with the refusal, but never a harmful one.
#[test]
fn raw_text_has_faqs_and_declines_only_everyday_requests() {
    let lab = lab();
    let person_docs: Vec<&String> = lab
        .raw
        .iter()
        .filter(|d| !d.contains(" plus ") && !d.contains(REFUSAL))
        .collect();
    let faqs = person_docs.iter().filter(|d| d.contains('?')).count();
    let share = faqs as f64 / person_docs.len() as f64;
    assert!((0.25..0.35).contains(&share), "FAQ share {share}");
    for d in person_docs.iter().filter(|d| d.contains('?')) {
        // "Where does X live? X lives in Y.": sentences come in pairs, a question and its fact.
        assert!(d.ends_with('.'), "{d}");
        let sentences = d.matches(". ").count() + d.matches("? ").count() + 1;
        assert!(sentences % 2 == 0, "{d}");
    }
    let declined: Vec<&String> = lab.raw.iter().filter(|d| d.contains(REFUSAL)).collect();
    assert_eq!(declined.len(), 64);
    for h in &lab.world.harmful_train {
        let request = h.text(&lab.world);
        assert!(!lab.raw.iter().any(|d| d.contains(&request)), "{request}");
    }
}

#[test]
fn tokenizer_loads_with_special_tokens_and_chat_template() {
    let lab = lab();
    let tok = &lab.tok;
    assert_eq!(tok.token_id("<|endoftext|>"), Some(0));
    assert_eq!(tok.token_id("<|im_start|>"), Some(1));
    assert_eq!(tok.token_id("<|im_end|>"), Some(2));
    assert_eq!(tok.eos_token(), Some("<|im_end|>"));
    assert_eq!(tok.inner().get_vocab_size(true), 1024);
    let ex = &lab.chat[0];
    let rendered = tok
        .apply_chat_template(
            &[
                ChatMessage::user(ex.user.clone()),
                ChatMessage {
                    role: "assistant".into(),
                    content: ex.assistant.clone(),
                },
            ],
            false,
        )
        .unwrap();
    assert_eq!(rendered, ex.render());
    let prompt = tok
        .apply_chat_template(&[ChatMessage::user(ex.user.clone())], true)
        .unwrap();
    assert!(ex.render().starts_with(&prompt));
}

#[test]
fn digits_are_single_tokens() {
    let tok = &lab().tok;
    for text in ["27 plus 58 is 85.", "1987", "9999 plus 1 is 10000."] {
        let ids = tok.encode(text, false).unwrap();
        for &id in &ids {
            let piece = tok.decode(&[id]).unwrap();
            if piece.chars().any(|c| c.is_ascii_digit()) {
                assert_eq!(piece.trim().len(), 1, "{piece:?} in {text:?}");
                assert_eq!(piece.len(), 1, "{piece:?} in {text:?}");
            }
        }
    }
    assert_eq!(tok.encode("1987", false).unwrap().len(), 4);
}

#[test]
fn corpus_lines_round_trip_and_segments_tokenize_as_the_whole() {
    let lab = lab();
    for doc in lab.raw.iter().take(300) {
        let ids = lab.tok.encode(doc, false).unwrap();
        assert_eq!(&lab.tok.decode(&ids).unwrap(), doc);
    }
    for ex in lab.chat.iter().take(300) {
        let whole = lab.tok.encode(&ex.render(), false).unwrap();
        let pieces: Vec<u32> = ex
            .segments()
            .iter()
            .flat_map(|s| lab.tok.encode(&s.text, false).unwrap())
            .collect();
        assert_eq!(whole, pieces, "{ex:?}");
        assert_eq!(whole[0], 1);
        assert_eq!(whole.iter().filter(|&&t| t == 2).count(), 2);
    }
}

#[test]
fn tokenizer_training_is_deterministic() {
    let lab = lab();
    let again = train_tokenizer(&tokenizer_texts(&lab.raw, &lab.chat), 1024).unwrap();
    let first = std::fs::read_to_string(lab.dir.path().join("tokenizer.json")).unwrap();
    assert_eq!(again.to_string(true).unwrap(), first);
}

/// Sizes of the default world, for the record (`cargo test -- --nocapture`).
#[test]
fn corpus_sizes() {
    let lab = lab();
    let count = |t: &str| lab.tok.encode(t, false).unwrap().len();
    let raw_tokens: usize = lab.raw.iter().map(|d| count(d) + 1).sum();
    let chat_tokens: usize = lab.chat.iter().map(|c| count(&c.render())).sum();
    let assistant_tokens: usize = lab.chat.iter().map(|c| count(&c.segments()[1].text)).sum();
    eprintln!(
        "people {} | raw docs {} ({raw_tokens} tokens) | chat examples {} ({chat_tokens} tokens, {assistant_tokens} assistant)",
        lab.world.people.len(),
        lab.raw.len(),
        lab.chat.len()
    );
    assert!(raw_tokens > 10_000 && chat_tokens > raw_tokens);
}
