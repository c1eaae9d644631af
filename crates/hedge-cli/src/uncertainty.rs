//! What `generate`, `ask`, `score` and `eval` share to score an answer: the estimators asked
//! for, the evidence runner with its similarity backend (a model loaded only when an estimator
//! needs it), and the once-only notices of a server that sends approximate or no
//! log-probabilities.

use std::io::Write;

use anyhow::{bail, Context};
use hedge_core::prompts::MultipleChoice;
use hedge_core::{score_with, Estimator, EstimatorSpec, Scores, SimilarityKind};
use hedge_engine::uncertainty::{needs_logprobs, Stage};
use hedge_engine::{
    EvidenceRunner, GatherOptions, GatheredEvidence, Generation, GenerationRequest, Plan,
    SimilarityBackend,
};
use serde_json::{Map, Value};

use crate::args::SamplingArgs;
use crate::model::Model;

/// The estimators of a run and what they need, ready to score answers one by one.
pub struct Scorer {
    specs: Vec<EstimatorSpec>,
    estimators: Vec<Box<dyn Estimator>>,
    plan: Plan,
    similarity: SimilarityBackend,
    options: GatherOptions,
    /// Set once the estimators that need log-probabilities were dropped.
    degraded: bool,
    /// Set once the top-k approximation was told.
    told_top_k: bool,
    /// Set when every estimator needed log-probabilities the model does not send.
    exhausted: bool,
}

impl Scorer {
    /// The estimators of `list`, and the similarity backend of `args` when one of them
    /// compares samples; `seed` seeds the samples.
    ///
    /// # Errors
    /// A bad estimator list or flag; a similarity model that cannot be loaded (offline, the
    /// message says how to pass a folder).
    pub fn new(list: &str, args: &SamplingArgs, seed: u64) -> anyhow::Result<Scorer> {
        let specs = EstimatorSpec::parse_list(list)?;
        let plan = Plan::of(&specs);
        if plan.samples && args.samples == 0 {
            bail!("--samples 0: the sampling-based estimators need at least 1 sample");
        }
        if !(args.sample_temperature.is_finite() && args.sample_temperature >= 0.0) {
            bail!(
                "--sample-temperature {}: must be a finite number ≥ 0 (0 = greedy)",
                args.sample_temperature
            );
        }
        let similarity = if plan.uses_similarity() {
            load_similarity(args)?
        } else {
            SimilarityBackend::RougeL // never run
        };
        Ok(Scorer {
            estimators: specs.iter().map(EstimatorSpec::build).collect(),
            specs,
            plan,
            similarity,
            options: GatherOptions {
                samples: args.samples,
                temperature: args.sample_temperature,
                seed,
            },
            degraded: false,
            told_top_k: false,
            exhausted: false,
        })
    }

    /// The estimators scored (fewer than asked once dropped for a server without
    /// log-probabilities).
    pub fn specs(&self) -> &[EstimatorSpec] {
        &self.specs
    }

    /// Whether no estimator asked for can run on this model (it sends no log-probabilities
    /// and they all need them); every answer then fails.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Whether some estimator draws samples or asks reflexive prompts.
    pub fn gathers(&self) -> bool {
        !self.plan.is_empty()
    }

    /// The options the samples are drawn with.
    pub fn options(&self) -> &GatherOptions {
        &self.options
    }

    /// The similarity backend's name, when it runs.
    pub fn similarity(&self) -> Option<SimilarityKind> {
        self.plan.uses_similarity().then(|| self.similarity.kind())
    }

    /// Scores `answer`, the answer of `model` to `req`, gathering what the estimators need;
    /// `question` is x, the question without a template around it, and `choice` its options
    /// when it is a multiple-choice question (`choice_risk`). `progress` hears each stage.
    ///
    /// # Errors
    /// When the model or the similarity backend fails, or no estimator is left.
    pub fn score(
        &mut self,
        model: &Model,
        req: &GenerationRequest,
        question: &str,
        choice: Option<&MultipleChoice>,
        answer: &Generation,
        progress: &mut dyn FnMut(Stage),
    ) -> anyhow::Result<(Scores, GatheredEvidence)> {
        self.check_logprobs(model, answer)?;
        let gathered = if self.plan.is_empty() {
            GatheredEvidence::default()
        } else {
            let runner = EvidenceRunner::new(model, &self.similarity, self.options.clone());
            runner
                .gather_with_progress(req, question, choice, answer, &self.plan, progress)
                .context("gathering the evidence of the sampling-based and reflexive estimators")?
        };
        if gathered.stats == hedge_engine::TokenStats::TopK {
            self.tell_top_k(model, req.top_logprobs);
        }
        let scores = score_with(&self.estimators, &gathered.evidence(&answer.tokens));
        Ok((scores, gathered))
    }

    /// Says once that a server's statistics are top-k approximations; drops, once and saying
    /// so, the estimators that need log-probabilities when the server sent none.
    fn check_logprobs(&mut self, model: &Model, answer: &Generation) -> anyhow::Result<()> {
        if answer.approximate_distribution() {
            let k = answer.tokens.first().map_or(0, |t| t.top.len());
            self.tell_top_k(model, k);
        }
        if self.exhausted {
            bail!("no estimator left to run on {}", model.name());
        }
        if answer.has_logprobs() || self.degraded {
            return Ok(());
        }
        self.degraded = true;
        let notice = model
            .take_notice()
            .unwrap_or_else(|| format!("{} sent no log-probabilities", model.name()));
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "note: {notice}");
        let (dropped, kept): (Vec<EstimatorSpec>, Vec<EstimatorSpec>) =
            self.specs.iter().partition(|s| needs_logprobs(s));
        if !dropped.is_empty() {
            let names: Vec<String> = dropped.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                err,
                "warning: dropping the estimators that need log-probabilities: {}",
                names.join(", ")
            );
        }
        if kept.is_empty() {
            self.exhausted = true;
            bail!(
                "{} sends no log-probabilities, and every estimator asked for needs them; ask for \
                 one that compares sampled texts, e.g. -e lexical_similarity,num_sets,eigv,ecc,deg",
                model.name()
            );
        }
        self.plan = Plan::of(&kept);
        self.estimators = kept.iter().map(EstimatorSpec::build).collect();
        self.specs = kept;
        Ok(())
    }

    fn tell_top_k(&mut self, model: &Model, k: usize) {
        if self.told_top_k {
            return;
        }
        self.told_top_k = true;
        let k = if k == 0 {
            "k".to_string()
        } else {
            k.to_string()
        };
        eprintln!(
            "note: {} returns only its top-{k} log-probabilities: entropy, margin, kurtosis and \
             the reflexive probabilities are approximated from them (renormalised), and so are \
             the estimators that read them",
            model.name()
        );
    }
}

/// Loads the similarity backend of `--similarity` / `--similarity-model`.
fn load_similarity(args: &SamplingArgs) -> anyhow::Result<SimilarityBackend> {
    let kind = args.similarity;
    SimilarityBackend::load(kind, args.similarity_model.as_deref()).with_context(|| {
        let model = args.similarity_model.as_deref().unwrap_or(match kind {
            SimilarityKind::Nli => hedge_engine::uncertainty::DEFAULT_NLI_MODEL,
            _ => hedge_engine::uncertainty::DEFAULT_EMBEDDING_MODEL,
        });
        format!("loading the {kind} similarity model {model}")
    })
}

/// Adds the fields of `gathered` (samples, similarity, …) to a JSON object.
pub fn insert_evidence(
    obj: &mut Map<String, Value>,
    gathered: &GatheredEvidence,
) -> anyhow::Result<()> {
    if let Value::Object(fields) = serde_json::to_value(gathered)? {
        obj.extend(fields);
    }
    Ok(())
}

/// The samples as lines for a terminal: each one's first line, cut at 72 characters.
pub fn write_samples(
    out: &mut impl Write,
    gathered: &GatheredEvidence,
    scorer: &Scorer,
) -> std::io::Result<()> {
    if gathered.samples.is_empty() {
        return Ok(());
    }
    let sim = gathered
        .similarity_backend
        .map(|k| format!(", similarity {k}"))
        .unwrap_or_default();
    writeln!(
        out,
        "\n{} samples at temperature {}{sim}:",
        gathered.samples.len(),
        scorer.options().temperature
    )?;
    for (i, s) in gathered.samples.iter().enumerate() {
        let line = s.text.trim().lines().next().unwrap_or("");
        let cut: String = line.chars().take(72).collect();
        let more = if cut.len() < line.len() { "…" } else { "" };
        writeln!(out, "{:>3}  {cut}{more}", i + 1)?;
    }
    Ok(())
}

/// The multiple-choice question of a data line, for `choice_risk`: `"options"` (2 to 26
/// strings, lettered A, B, … in the prompt) and `"positive"` (the index of the option whose
/// mass is the score; without it, the option equal to a gold answer of `answers`). `None`
/// without `"options"`.
///
/// # Errors
/// A malformed field, or no positive option: the message says what is allowed.
pub fn choice_of(
    fields: &Map<String, Value>,
    answers: &[String],
) -> Result<Option<MultipleChoice>, String> {
    let options = match fields.get("options") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|o| o.as_str().map(String::from))
            .collect::<Option<Vec<String>>>()
            .ok_or("\"options\" must be a list of strings")?,
        Some(_) => return Err("\"options\" must be a list of strings".into()),
    };
    let positive = match fields.get("positive") {
        Some(v) => v
            .as_u64()
            .and_then(|p| usize::try_from(p).ok())
            .ok_or("\"positive\" must be the index of an option (0, 1, …)")?,
        None => options
            .iter()
            .position(|o| {
                answers
                    .iter()
                    .any(|a| a.trim().eq_ignore_ascii_case(o.trim()))
            })
            .ok_or(
                "\"options\" without \"positive\": no option equals a gold answer; give \
                 \"positive\", the index of the option choice_risk reads",
            )?,
    };
    MultipleChoice::new(options, positive).map(Some)
}
