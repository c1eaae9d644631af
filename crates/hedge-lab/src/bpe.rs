//! The lab's BPE tokenizer, trained on the lab corpus with the `tokenizers` crate and shared by
//! all lab models (speculative decoding needs one vocabulary).
//!
//! Byte-level BPE as GPT-2 (every byte is a token, so any text round-trips), with digits split
//! one per token before the byte-level split so that arithmetic is learnable, and the special
//! tokens `<|endoftext|>` = 0, `<|im_start|>` = 1, `<|im_end|>` = 2 as hedge-engine's random
//! tokenizer. Training is deterministic: the same texts give the same `tokenizer.json` bytes.
//!
//! ```
//! use hedge_lab::bpe::train_tokenizer;
//! let texts = ["Velmora Quist lives in Dranholt.", "27 plus 58 is 85."];
//! let tok = train_tokenizer(&texts, 300).unwrap();
//! let ids = tok.encode("58", false).unwrap();
//! assert_eq!(ids.get_ids().len(), 2);
//! ```

use std::path::Path;

use serde_json::json;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{AddedToken, Tokenizer, TokenizerImpl};

use crate::corpus::CHAT_TEMPLATE;
use crate::error::{LabError, Result};

/// The special tokens, at ids 0, 1, 2.
pub const SPECIAL_TOKENS: [&str; 3] = hedge_engine::random_model::SPECIAL_TOKENS;

/// `bos_token` of `tokenizer_config.json` (as hedge-engine's random models).
pub const BOS_TOKEN: &str = "<|im_start|>";

/// `eos_token` of `tokenizer_config.json`: the end of an assistant turn.
pub const EOS_TOKEN: &str = "<|im_end|>";

/// Default vocabulary size of the lab tokenizer.
pub const DEFAULT_VOCAB_SIZE: usize = 1024;

/// `model_max_length` written to `tokenizer_config.json`.
pub const MODEL_MAX_LENGTH: usize = 512;

/// Smallest vocabulary: the special tokens and the 256 bytes.
pub const MIN_VOCAB_SIZE: usize = SPECIAL_TOKENS.len() + 256;

type Impl = TokenizerImpl<
    ModelWrapper,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

fn tok_err(op: &'static str) -> impl Fn(tokenizers::Error) -> LabError {
    move |e| LabError::Tokenizer {
        op,
        reason: e.to_string(),
    }
}

/// Trains a byte-level BPE tokenizer of at most `vocab_size` tokens (special tokens and the 256
/// bytes included) on `texts`. Special tokens inside the texts (e.g. a rendered chat example)
/// are cut out before training and never merged with their neighbours. The vocabulary is
/// smaller than `vocab_size` when the texts offer no more merges.
///
/// # Errors
/// When `vocab_size` is below [`MIN_VOCAB_SIZE`], or training fails.
pub fn train_tokenizer<S: AsRef<str> + Sync>(texts: &[S], vocab_size: usize) -> Result<Tokenizer> {
    if vocab_size < MIN_VOCAB_SIZE {
        return Err(LabError::InvalidConfig {
            name: "vocab_size",
            value: vocab_size.to_string(),
            allowed: "at least 259 (3 special tokens and 256 bytes)",
        });
    }
    let byte_level = ByteLevel::new(false, true, true);
    let mut tok: Impl = TokenizerImpl::new(BPE::default().into());
    tok.with_pre_tokenizer(Some(Sequence::new(vec![
        Digits::new(true).into(),
        byte_level.into(),
    ])));
    tok.with_post_processor(Some(byte_level));
    tok.with_decoder(Some(byte_level));
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(0)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let pieces: Vec<String> = texts
        .iter()
        .flat_map(|t| split_specials(t.as_ref()))
        .collect();
    tok.train(&mut trainer, pieces.iter())
        .map_err(tok_err("training"))?;
    Ok(Tokenizer::from(tok))
}

/// The parts of `text` between special tokens.
fn split_specials(text: &str) -> Vec<String> {
    let mut parts = vec![text.to_string()];
    for special in SPECIAL_TOKENS {
        parts = parts
            .iter()
            .flat_map(|p| p.split(special).map(str::to_string).collect::<Vec<_>>())
            .collect();
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// Writes `tokenizer.json` and `tokenizer_config.json` (bos/eos tokens and the ChatML
/// [`CHAT_TEMPLATE`], as hedge-engine's random models) into `dir`, creating it.
///
/// # Errors
/// When the folder or a file cannot be written; the error names the path.
pub fn write_tokenizer(tokenizer: &Tokenizer, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    let path = dir.join("tokenizer.json");
    let text = tokenizer
        .to_string(true)
        .map_err(tok_err("serialising tokenizer.json"))?;
    std::fs::write(&path, text).map_err(|e| LabError::io(&path, e))?;
    let path = dir.join("tokenizer_config.json");
    let config = json!({
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "chat_template": CHAT_TEMPLATE,
        "model_max_length": MODEL_MAX_LENGTH,
    });
    let text = serde_json::to_string_pretty(&config).map_err(|source| LabError::Json {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&path, text).map_err(|e| LabError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_are_cut_out() {
        assert_eq!(
            split_specials("<|im_start|>user\nHi<|im_end|>\n"),
            ["user\nHi", "\n"]
        );
        assert_eq!(split_specials("plain"), ["plain"]);
    }

    #[test]
    fn too_small_a_vocabulary_is_refused() {
        assert!(train_tokenizer(&["a"], 100).is_err());
    }
}
