//! The world and its question sets: determinism, shapes, held-out instances.

use std::collections::BTreeSet;
use std::path::Path;

use hedge_lab::corpus::{chat_examples, raw_documents, sum_raw_prompt};
use hedge_lab::files::{
    write_world_with, CALIB_JSONL, CHAT_JSONL, CHAT_TUNING_JSONL, RAW_TXT, TEST_JSONL,
    TOKENIZER_CONFIG_JSON, TOKENIZER_JSON, WORLD_JSON,
};
use hedge_lab::questions::{question_sets, read_question_set, Split, CATEGORIES};
use hedge_lab::world::{zipf_mentions, Category, World, WorldConfig};

const FILES: [&str; 8] = [
    WORLD_JSON,
    RAW_TXT,
    CHAT_JSONL,
    CHAT_TUNING_JSONL,
    CALIB_JSONL,
    TEST_JSONL,
    TOKENIZER_JSON,
    TOKENIZER_CONFIG_JSON,
];

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let cfg = WorldConfig::default();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (dir, seed) in dirs.iter().zip([11, 11, 12]) {
        write_world_with(seed, &cfg, 512, dir.path()).unwrap();
    }
    for file in FILES {
        let a = read(dirs[0].path(), file);
        assert!(!a.is_empty(), "{file} is empty");
        assert_eq!(
            a,
            read(dirs[1].path(), file),
            "{file} differs for the same seed"
        );
        if file != TOKENIZER_CONFIG_JSON {
            assert_ne!(
                a,
                read(dirs[2].path(), file),
                "{file} same for another seed"
            );
        }
    }
}

#[test]
fn generation_is_deterministic_in_memory() {
    let cfg = WorldConfig::default();
    assert_eq!(World::generate(3, &cfg), World::generate(3, &cfg));
    assert_ne!(World::generate(3, &cfg), World::generate(4, &cfg));
}

#[test]
fn about_a_fifth_of_people_are_unknown() {
    let cfg = WorldConfig::default();
    let w = World::generate(1, &cfg);
    assert_eq!(w.people.len(), cfg.people);
    let count = |c| w.people_in(c).count();
    assert_eq!(count(Category::Unknown), 60);
    // Enough well-known people for 40 questions in each of calib and test (5 facts each).
    assert!(
        5 * count(Category::KnownFrequent) >= 2 * cfg.questions_per_split,
        "{}",
        count(Category::KnownFrequent)
    );
    assert!(count(Category::KnownRare) >= 150);
    for p in &w.people {
        let expected = match p.mentions {
            0 => Category::Unknown,
            m if m >= cfg.frequent_threshold => Category::KnownFrequent,
            _ => Category::KnownRare,
        };
        assert_eq!(p.category, expected, "{}", p.name);
    }
}

#[test]
fn mention_counts_are_zipf_from_max_down_to_one() {
    let cfg = WorldConfig::default();
    let w = World::generate(1, &cfg);
    let mut counts: Vec<u32> = w
        .people
        .iter()
        .map(|p| p.mentions)
        .filter(|&m| m > 0)
        .collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(counts[0], cfg.max_mentions);
    assert_eq!(*counts.last().unwrap(), 1);
    assert_eq!(
        counts,
        zipf_mentions(counts.len(), cfg.max_mentions, cfg.zipf_offset)
    );
    // Heavy tail: the top tenth of people hold far more than a tenth of the mentions, and the
    // median person is mentioned only a few times.
    let total: u32 = counts.iter().sum();
    let top: u32 = counts[..counts.len() / 10].iter().sum();
    assert!(top * 4 > total, "top {top} of {total}");
    assert!(counts[counts.len() / 2] <= 4);
}

#[test]
fn names_are_unique_and_visited_cities_two_or_three_distinct() {
    let w = World::generate(5, &WorldConfig::default());
    let names: BTreeSet<&str> = w.people.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), w.people.len());
    for p in &w.people {
        assert!((2..=3).contains(&p.visited.len()), "{}", p.name);
        let distinct: BTreeSet<&String> = p.visited.iter().collect();
        assert_eq!(distinct.len(), p.visited.len(), "{}", p.name);
        assert!(w.cities.contains(&p.home_city));
        let (lo, hi) = w.config.birth_years;
        assert!((lo..=hi).contains(&p.birth_year));
    }
}

#[test]
fn heldout_sums_never_appear_in_training() {
    let w = World::generate(2, &WorldConfig::default());
    let train: BTreeSet<_> = w.arithmetic_train.iter().copied().collect();
    for s in &w.arithmetic_heldout {
        assert!(!train.contains(s), "{s:?}");
        if s.digits() > 1 {
            assert!(!train.contains(&s.swapped()), "{s:?} swapped");
        }
    }
    // Many short sums, few long ones.
    let per_digit = |d| {
        w.arithmetic_train
            .iter()
            .filter(|s| s.digits() == d)
            .count()
    };
    assert!(per_digit(2) > per_digit(3) && per_digit(3) > per_digit(4));
    // And not in the text either; harmful questions are held out too, sums are asked as taught.
    let raw = raw_documents(&w, 2);
    let chat = chat_examples(&w, 2);
    let users: BTreeSet<&str> = chat.iter().map(|c| c.user.as_str()).collect();
    for q in question_sets(&w) {
        if q.category == "harmful" {
            assert!(!users.contains(q.question.as_str()), "{}", q.question);
        }
        if q.category.starts_with("arithmetic") {
            let probe = format!("{} ", q.raw_prompt.as_deref().unwrap());
            let times = raw.iter().filter(|l| l.starts_with(&probe)).count();
            assert_eq!(times as u32, q.frequency, "{}", q.question);
        }
    }
    for s in &w.arithmetic_heldout {
        let probe = format!("{} ", sum_raw_prompt(*s));
        assert!(!raw.iter().any(|l| l.starts_with(&probe)), "{probe}");
    }
}

#[test]
fn question_sets_have_every_category_in_both_splits() {
    let cfg = WorldConfig::default();
    let w = World::generate(9, &cfg);
    let qs = question_sets(&w);
    let ids: BTreeSet<&str> = qs.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids.len(), qs.len());
    for cat in CATEGORIES {
        for split in [Split::Calib, Split::Test] {
            let n = qs
                .iter()
                .filter(|q| q.category == cat && q.split == split)
                .count();
            let one_digit: BTreeSet<_> = w
                .arithmetic_train
                .iter()
                .filter(|s| s.digits() == 1)
                .collect();
            let want = if cat == "arithmetic_d1" {
                cfg.questions_per_split.min(one_digit.len() / 2)
            } else {
                cfg.questions_per_split
            };
            assert_eq!(n, want, "{cat} {split:?}");
        }
    }
    let calib: BTreeSet<&str> = qs
        .iter()
        .filter(|q| q.split == Split::Calib)
        .map(|q| q.question.as_str())
        .collect();
    for q in qs.iter().filter(|q| q.split == Split::Test) {
        assert!(
            !calib.contains(q.question.as_str()),
            "{} in both splits",
            q.question
        );
    }
    for q in &qs {
        assert!(!q.answers.is_empty());
        match q.category.as_str() {
            "ambiguous" => assert!((2..=3).contains(&q.answers.len())),
            "unknown" => assert_eq!(q.frequency, 0),
            "known_frequent" => assert!(q.frequency >= cfg.frequent_threshold),
            "known_rare" => assert!((1..cfg.frequent_threshold).contains(&q.frequency)),
            _ => assert_eq!(q.answers.len(), 1),
        }
    }
}

#[test]
fn question_files_round_trip() {
    let w = World::generate(9, &WorldConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let written = hedge_lab::questions::write_question_sets(&w, dir.path()).unwrap();
    let mut read_back = read_question_set(&dir.path().join("calib.jsonl")).unwrap();
    read_back.extend(read_question_set(&dir.path().join("test.jsonl")).unwrap());
    assert_eq!(written, read_back);
    let first = std::fs::read_to_string(dir.path().join("calib.jsonl")).unwrap();
    let row: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    for key in [
        "id",
        "question",
        "answers",
        "category",
        "frequency",
        "split",
    ] {
        assert!(row.get(key).is_some(), "missing {key}");
    }
}
