//! `--model`: a local checkpoint on candle, or an OpenAI-compatible server, behind one
//! [`Backend`]. An enum rather than a `Box<dyn Backend>`, so that the local path is a direct
//! call and the commands can still reach what only one kind has (a tokenizer, a notice).

use anyhow::Context;
use hedge_engine::{
    Backend, Generation, GenerationRequest, LocalModel, NextTokenLogprobs, RemoteModel,
    ScoreRequest,
};

use crate::args::ModelArgs;

/// The model named by `--model`.
// One value per run, made once and borrowed after: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Model {
    /// A checkpoint run here.
    Local(LocalModel),
    /// `openai:URL#MODEL`.
    Remote(RemoteModel),
    /// Several models decoding together (speculative decoding, nudging, a cascade,
    /// reward-guided decoding): a hedge-steer backend.
    Steered(Steered),
}

/// A hedge-steer backend with what the commands need to know about it.
pub struct Steered {
    /// How the run is named in outputs, e.g. `lab-l-chat (draft lab-s-chat)`.
    pub name: String,
    /// Whether prompts go through a chat template by default.
    pub chat: bool,
    pub backend: Box<dyn Backend>,
}

impl std::fmt::Debug for Steered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steered").field("name", &self.name).finish()
    }
}

/// Whether `--model` names a server rather than a checkpoint.
pub fn is_remote(spec: &str) -> bool {
    spec.starts_with("openai:")
}

/// Loads `--model`: a server spec is only parsed (nothing is sent until the first request).
pub fn load(args: &ModelArgs) -> anyhow::Result<Model> {
    if is_remote(&args.model) {
        let m =
            RemoteModel::from_spec(&args.model).with_context(|| format!("model {}", args.model))?;
        return Ok(Model::Remote(m));
    }
    crate::commands::load_model(args).map(Model::Local)
}

impl Model {
    /// The model's name: its folder name, or its name on the server.
    pub fn name(&self) -> &str {
        match self {
            Model::Local(m) => &m.name,
            Model::Remote(m) => m.name(),
            Model::Steered(m) => &m.name,
        }
    }

    /// Whether prompts go through a chat template by default: a local model's own template,
    /// and always for a server (its chat endpoint applies the model's template).
    pub fn has_chat_template(&self) -> bool {
        match self {
            Model::Local(m) => m.tokenizer.has_chat_template(),
            Model::Remote(_) => true,
            Model::Steered(m) => m.chat,
        }
    }

    /// The server's line about missing log-probabilities, the first time it applies.
    pub fn take_notice(&self) -> Option<String> {
        match self {
            Model::Local(_) | Model::Steered(_) => None,
            Model::Remote(m) => m.take_notice(),
        }
    }
}

impl Backend for Model {
    fn generate(&self, req: &GenerationRequest) -> hedge_engine::Result<Generation> {
        match self {
            Model::Local(m) => m.generate(req),
            Model::Remote(m) => m.generate(req),
            Model::Steered(m) => m.backend.generate(req),
        }
    }

    fn score(&self, req: &ScoreRequest) -> hedge_engine::Result<Generation> {
        match self {
            Model::Local(m) => m.score(req),
            Model::Remote(m) => m.score(req),
            Model::Steered(m) => m.backend.score(req),
        }
    }

    fn generate_n(
        &self,
        req: &GenerationRequest,
        n: usize,
    ) -> hedge_engine::Result<Vec<Generation>> {
        match self {
            Model::Local(m) => Backend::generate_n(m, req, n),
            Model::Remote(m) => Backend::generate_n(m, req, n),
            Model::Steered(m) => m.backend.generate_n(req, n),
        }
    }

    fn next_token_logprobs(
        &self,
        prompt: &str,
        chat: bool,
        candidates: &[&str],
    ) -> hedge_engine::Result<NextTokenLogprobs> {
        match self {
            Model::Local(m) => m.next_token_logprobs(prompt, chat, candidates),
            Model::Remote(m) => m.next_token_logprobs(prompt, chat, candidates),
            Model::Steered(m) => m.backend.next_token_logprobs(prompt, chat, candidates),
        }
    }
}
