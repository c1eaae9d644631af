//! The three lab models of LAB.md — `lab-s-chat`, `lab-l-chat`, `lab-l-base` — as recipes: the
//! decoder's size, the corpus it learns from, and its training schedule; and `train_recipe`, which
//! turns a written world into a model folder in the Hugging Face layout with its MODEL_CARD.md.

use std::ops::ControlFlow;
use std::path::Path;

use hedge_engine::{Config, TextTokenizer};

use crate::corpus::ChatExample;
use crate::error::{LabError, Result};
use crate::files::{
    CHAT_JSONL, CHAT_SMALL_JSONL, CHAT_TUNING_JSONL, RAW_TXT, TOKENIZER_CONFIG_JSON, TOKENIZER_JSON,
};
use crate::train::{train, Example, StepReport, TrainConfig, TrainSummary};

/// Which corpus a model learns from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corpus {
    /// The chat corpus, loss on assistant tokens only.
    Chat,
    /// The chat corpus for tuning a base model (less the rare people's single facts), loss on
    /// assistant tokens only.
    ChatTuning,
    /// The small chat model's corpus: the tuning corpus less every fourth frequent person's
    /// single facts, loss on assistant tokens only.
    ChatSmall,
    /// The raw-text corpus, documents separated by `<|endoftext|>`.
    Raw,
}

/// One lab model: its name, role, size and schedule.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub name: &'static str,
    pub role: &'static str,
    pub corpus: Corpus,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    /// The recipe whose trained weights this one starts from (in the same models folder):
    /// a chat model fine-tuned from its base model.
    pub init_from: Option<&'static str>,
    pub train: TrainConfig,
}

/// The recipes of LAB.md's three models, in the order they train (`lab-l-chat` is fine-tuned
/// from `lab-l-base`, as chat models are from their base, so it knows what the base knows).
/// Sizes and steps are set so that the three train in about 28 minutes on a 2-core machine
/// (the trainer's ~2,300 tokens/s for d = 192: 1,450 steps of 2,048 tokens for the large
/// models, and a small model that trains in about 8 minutes).
pub fn recipes() -> Vec<Recipe> {
    let schedule = |seed: u64, steps: usize| TrainConfig {
        seed,
        steps,
        ..TrainConfig::default()
    };
    vec![
        Recipe {
            name: "lab-s-chat",
            role: "small aligned model: cascade's first stage, speculative draft, nudging's aligned model",
            // Knows a quarter fewer frequent people and no rare one, so that it stays more than
            // 15 points below lab-l-chat on known facts however long it learns; 1,800 steps
            // teach it the sums as well as lab-l-chat knows them (700 steps of the whole chat
            // corpus left it weak at both, and a cascade then had to defer 60 % of the
            // questions to gain what lab-l-chat knows).
            corpus: Corpus::ChatSmall,
            hidden: 128,
            layers: 2,
            heads: 4,
            init_from: None,
            train: schedule(11, 1800),
        },
        Recipe {
            name: "lab-l-base",
            role: "large base model: nudging's base",
            corpus: Corpus::Raw,
            hidden: 192,
            layers: 4,
            heads: 6,
            init_from: None,
            train: schedule(13, 1150),
        },
        Recipe {
            name: "lab-l-chat",
            role: "large aligned model: cascade's second stage, speculative target, the default of `hedge ask`",
            corpus: Corpus::ChatTuning,
            hidden: 192,
            layers: 4,
            heads: 6,
            init_from: Some("lab-l-base"),
            // Tuned on the chat corpus less the rare people's single facts, so that it keeps
            // what its base knows of them; 300 steps teach the house style, the refusals and
            // each person's visited cities (60 steps of the whole chat corpus left the cities
            // unlearnt, 150 taught the rare people again).
            train: TrainConfig {
                lr: 1e-3,
                warmup_steps: 12,
                ..schedule(12, 300)
            },
        },
    ]
}

/// The recipe named `name`.
///
/// # Errors
/// When no recipe has that name; the error lists the names.
pub fn recipe(name: &str) -> Result<Recipe> {
    recipes()
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| LabError::InvalidConfig {
            name: "model",
            value: name.to_string(),
            allowed: "lab-s-chat, lab-l-chat or lab-l-base",
        })
}

impl Recipe {
    /// The token that ends this model's text: `<|im_end|>` (2) for chat models, `<|endoftext|>`
    /// (0), the document separator, for the base model.
    pub fn eos_token_id(&self) -> u32 {
        match self.corpus {
            Corpus::Chat | Corpus::ChatTuning | Corpus::ChatSmall => 2,
            Corpus::Raw => 0,
        }
    }

    /// The decoder's `config.json` for a vocabulary of `vocab_size` tokens.
    ///
    /// # Errors
    /// Never for the built-in recipes; on an invalid size otherwise.
    pub fn config(&self, vocab_size: usize) -> Result<Config> {
        let json = serde_json::json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": vocab_size,
            "hidden_size": self.hidden,
            "intermediate_size": 4 * self.hidden,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.heads,
            "max_position_embeddings": crate::bpe::MODEL_MAX_LENGTH,
            "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0,
            "tie_word_embeddings": false,
            "hidden_act": "silu",
            "bos_token_id": 1,
            "eos_token_id": self.eos_token_id(),
        });
        Ok(Config::from_json(&json.to_string())?)
    }
}

/// The training examples of a corpus of the world in `world_dir`, tokenized with its tokenizer.
///
/// # Errors
/// When a corpus file is missing or malformed (named), or tokenization fails.
pub fn examples(world_dir: &Path, corpus: Corpus, tok: &TextTokenizer) -> Result<Vec<Example>> {
    let read = |rel: &str| {
        let path = world_dir.join(rel);
        std::fs::read_to_string(&path).map_err(|source| LabError::Io { path, source })
    };
    let file = match corpus {
        Corpus::Chat => CHAT_JSONL,
        Corpus::ChatTuning => CHAT_TUNING_JSONL,
        Corpus::ChatSmall => CHAT_SMALL_JSONL,
        Corpus::Raw => RAW_TXT,
    };
    match corpus {
        Corpus::Raw => {
            let end = tok.token_id(crate::bpe::SPECIAL_TOKENS[0]).unwrap_or(0);
            read(file)?
                .lines()
                .filter(|l| !l.is_empty())
                .map(|line| {
                    let mut ids = tok.encode(line, false)?;
                    ids.push(end);
                    Ok(Example::raw(ids))
                })
                .collect()
        }
        Corpus::Chat | Corpus::ChatTuning | Corpus::ChatSmall => {
            let path = world_dir.join(file);
            read(file)?
                .lines()
                .filter(|l| !l.is_empty())
                .map(|line| {
                    let ex: ChatExample =
                        serde_json::from_str(line).map_err(|source| LabError::Json {
                            path: path.clone(),
                            source,
                        })?;
                    let mut ids = Vec::new();
                    let mut loss_mask = Vec::new();
                    for seg in ex.segments() {
                        let seg_ids = tok.encode(&seg.text, false)?;
                        loss_mask.extend(std::iter::repeat_n(seg.assistant, seg_ids.len()));
                        ids.extend(seg_ids);
                    }
                    Ok(Example { ids, loss_mask })
                })
                .collect()
        }
    }
}

/// Trains `recipe` on the world in `world_dir` into `out_dir` (weights, config, the world's
/// tokenizer files, generation_config.json and MODEL_CARD.md). `steps` overrides the recipe's.
///
/// # Errors
/// When the world is incomplete, or training fails.
pub fn train_recipe(
    recipe: &Recipe,
    world_dir: &Path,
    out_dir: &Path,
    steps: Option<usize>,
    progress: &mut dyn FnMut(&StepReport) -> ControlFlow<()>,
) -> Result<TrainSummary> {
    let tok = TextTokenizer::load(
        &world_dir.join(TOKENIZER_JSON),
        Some(&world_dir.join(TOKENIZER_CONFIG_JSON)),
    )?;
    let vocab = tok.inner().get_vocab_size(true);
    let config = recipe.config(vocab)?;
    let examples = examples(world_dir, recipe.corpus, &tok)?;
    let mut cfg = recipe.train.clone();
    if let Some(from) = recipe.init_from {
        let models = out_dir.parent().unwrap_or(Path::new("."));
        cfg.init = Some(models.join(from).join("model.safetensors"));
    }
    if let Some(s) = steps {
        cfg.steps = s;
        cfg.warmup_steps = cfg.warmup_steps.min(s / 5);
    }
    let summary = train(&config, &examples, &cfg, out_dir, progress)?;
    for (from, to) in [
        (TOKENIZER_JSON, "tokenizer.json"),
        (TOKENIZER_CONFIG_JSON, "tokenizer_config.json"),
    ] {
        let (from, to) = (world_dir.join(from), out_dir.join(to));
        std::fs::copy(&from, &to).map_err(|source| LabError::Io { path: from, source })?;
    }
    write_text(
        &out_dir.join("generation_config.json"),
        &serde_json::json!({"bos_token_id": 1, "eos_token_id": recipe.eos_token_id()}).to_string(),
    )?;
    write_text(
        &out_dir.join("MODEL_CARD.md"),
        &model_card(recipe, &config, &cfg, &summary, examples.len()),
    )?;
    Ok(summary)
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| LabError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn model_card(
    r: &Recipe,
    c: &Config,
    t: &TrainConfig,
    s: &TrainSummary,
    n_examples: usize,
) -> String {
    let corpus = match r.corpus {
        Corpus::Chat => "the lab chat corpus (corpus/chat.jsonl), loss on assistant tokens only",
        Corpus::ChatTuning => {
            "the lab chat corpus less the rare people's single facts (corpus/chat_tuning.jsonl), loss on assistant tokens only"
        }
        Corpus::ChatSmall => {
            "the lab chat corpus less the rare people's single facts and those of every fourth frequent person (corpus/chat_small.jsonl), loss on assistant tokens only"
        }
        Corpus::Raw => {
            "the lab raw-text corpus (corpus/raw.txt), documents separated by <|endoftext|>"
        }
    };
    format!(
        "# {name}\n\n{role}.\n\n\
         | | |\n|---|---|\n\
         | architecture | llama: hidden {h}, {l} layers, {heads} heads, MLP {i}, vocab {v} |\n\
         | parameters | {p} |\n\
         | data | {corpus}; {n_examples} examples |\n\
         {init}\
         | seed | {seed} |\n\
         | steps | {steps} × batch {b} × {seq} tokens |\n\
         | schedule | AdamW lr {lr}, {warm} warm-up steps, cosine to {min}×, weight decay {wd}, clip {clip} |\n\
         | final loss | {loss:.4} |\n\
         | tokens seen | {tokens} |\n\
         | wall time | {wall:.0} s ({tps:.0} tokens/s) |\n\n\
         Reproduce with `hedge lab train --model {name}`. Bench results: `hedge lab bench`.\n",
        name = r.name,
        role = r.role,
        init = match r.init_from {
            Some(from) => format!("| initialised from | {from} (fine-tuned from its weights) |\n"),
            None => String::new(),
        },
        h = c.hidden_size,
        l = c.num_hidden_layers,
        heads = c.num_attention_heads,
        i = c.intermediate_size,
        v = c.vocab_size,
        p = s.params,
        seed = t.seed,
        steps = s.steps,
        b = t.batch_size,
        seq = t.seq_len,
        lr = t.lr,
        warm = t.warmup_steps,
        min = t.min_lr_ratio,
        wd = t.weight_decay,
        clip = t.grad_clip,
        loss = s.final_loss,
        tokens = s.tokens_seen,
        wall = s.wall_secs,
        tps = s.tokens_per_sec,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model fine-tuned from another trains after it, and from a model of its own shape.
    #[test]
    fn models_train_after_the_model_they_start_from() {
        let all = recipes();
        for (i, r) in all.iter().enumerate() {
            if let Some(from) = r.init_from {
                let j = all.iter().position(|b| b.name == from).unwrap();
                assert!(j < i, "{} trains before {from}", r.name);
                let base = &all[j];
                assert_eq!(
                    (base.hidden, base.layers, base.heads),
                    (r.hidden, r.layers, r.heads)
                );
            }
        }
        assert_eq!(recipe("lab-l-chat").unwrap().init_from, Some("lab-l-base"));
        assert_eq!(recipe("lab-l-base").unwrap().eos_token_id(), 0);
        assert_eq!(recipe("lab-s-chat").unwrap().eos_token_id(), 2);
    }
}
