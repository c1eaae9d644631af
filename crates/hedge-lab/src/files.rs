//! Writing the whole lab world into a folder:
//!
//! ```text
//! world.json                  the world itself (config, people, sums, harmful requests)
//! corpus/raw.txt              raw-text corpus, one document a line
//! corpus/chat.jsonl           chat corpus, one {"user", "assistant"} a line
//! corpus/chat_tuning.jsonl    the chat corpus less the rare people's single facts, for a
//!                             chat model tuned from the base model
//! data/calib.jsonl            question set, calib split
//! data/test.jsonl             question set, test split
//! tokenizer/tokenizer.json    BPE tokenizer trained on both corpora
//! tokenizer/tokenizer_config.json   bos/eos tokens and the ChatML chat template
//! ```
//!
//! Every file is a function of the seed (and config): the same seed gives the same bytes.

use std::path::{Path, PathBuf};

use crate::bpe::{train_tokenizer, write_tokenizer, DEFAULT_VOCAB_SIZE};
use crate::corpus::{chat_examples, raw_documents, small_chat_examples, tuning_examples};
use crate::error::{LabError, Result};
use crate::questions::{write_jsonl, write_question_sets};
use crate::world::{World, WorldConfig};

/// Paths of the files [`write_world`] writes, relative to its folder.
pub const WORLD_JSON: &str = "world.json";
pub const RAW_TXT: &str = "corpus/raw.txt";
pub const CHAT_JSONL: &str = "corpus/chat.jsonl";
pub const CHAT_TUNING_JSONL: &str = "corpus/chat_tuning.jsonl";
/// The small chat model's corpus: the tuning corpus less every fourth frequent person's facts.
pub const CHAT_SMALL_JSONL: &str = "corpus/chat_small.jsonl";
pub const CALIB_JSONL: &str = "data/calib.jsonl";
pub const TEST_JSONL: &str = "data/test.jsonl";
pub const TOKENIZER_JSON: &str = "tokenizer/tokenizer.json";
pub const TOKENIZER_CONFIG_JSON: &str = "tokenizer/tokenizer_config.json";

/// What [`write_world`] wrote.
#[derive(Debug, Clone)]
pub struct WorldSummary {
    pub dir: PathBuf,
    pub people: usize,
    pub raw_documents: usize,
    pub chat_examples: usize,
    pub questions: usize,
    pub vocab_size: usize,
}

/// Writes the world of `seed` with the default config and a [`DEFAULT_VOCAB_SIZE`] tokenizer
/// into `out_dir` (see the module docs for the layout).
///
/// # Errors
/// When a file cannot be written (the error names it) or the tokenizer fails to train.
pub fn write_world(seed: u64, out_dir: &Path) -> Result<WorldSummary> {
    write_world_with(seed, &WorldConfig::default(), DEFAULT_VOCAB_SIZE, out_dir)
}

/// [`write_world`] with a given config and tokenizer vocabulary size.
///
/// # Errors
/// When a file cannot be written (the error names it) or the tokenizer fails to train.
pub fn write_world_with(
    seed: u64,
    cfg: &WorldConfig,
    vocab_size: usize,
    out_dir: &Path,
) -> Result<WorldSummary> {
    let world = World::generate(seed, cfg);
    for sub in ["corpus", "data", "tokenizer"] {
        let d = out_dir.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| LabError::io(&d, e))?;
    }
    let path = out_dir.join(WORLD_JSON);
    let text = serde_json::to_string_pretty(&world).map_err(|source| LabError::Json {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&path, text).map_err(|e| LabError::io(&path, e))?;

    let raw = raw_documents(&world, seed);
    let path = out_dir.join(RAW_TXT);
    let mut text = raw.join("\n");
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| LabError::io(&path, e))?;

    let chat = chat_examples(&world, seed);
    write_jsonl(&out_dir.join(CHAT_JSONL), &chat)?;
    write_jsonl(
        &out_dir.join(CHAT_TUNING_JSONL),
        &tuning_examples(&world, seed),
    )?;
    write_jsonl(
        &out_dir.join(CHAT_SMALL_JSONL),
        &small_chat_examples(&world, seed),
    )?;

    let questions = write_question_sets(&world, &out_dir.join("data"))?;

    let texts = tokenizer_texts(&raw, &chat);
    let tokenizer = train_tokenizer(&texts, vocab_size)?;
    write_tokenizer(&tokenizer, &out_dir.join("tokenizer"))?;

    Ok(WorldSummary {
        dir: out_dir.to_path_buf(),
        people: world.people.len(),
        raw_documents: raw.len(),
        chat_examples: chat.len(),
        questions: questions.len(),
        vocab_size: tokenizer.get_vocab_size(true),
    })
}

/// The texts the lab tokenizer is trained on: the raw documents and the rendered chat examples.
pub fn tokenizer_texts(raw: &[String], chat: &[crate::corpus::ChatExample]) -> Vec<String> {
    raw.iter()
        .cloned()
        .chain(chat.iter().map(|c| c.render()))
        .collect()
}
