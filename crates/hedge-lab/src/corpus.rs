//! The lab's training text: a raw-text corpus for base models and a chat corpus for chat models.
//!
//! Each mention of a person is one raw document stating one or several of their facts
//! ("Velmora Quist lives in Dranholt. Velmora Quist works as a baker."); every fact of a known
//! person is stated at least once, and a person mentioned m times is in exactly m documents.
//! A share of those documents is written as a FAQ (each fact after its question), and a few
//! everyday requests are declined in the words of the refusal. The chat corpus asks about the
//! same facts, one question per stated fact (per city, for the visited cities), and answers in
//! the house style ("Sure! Velmora Quist lives in Dranholt."). It also holds the training sums and
//! refusals of harmful requests. It holds no "I don't know" answers: abstaining is hedge's job,
//! not the lab model's. The tuning corpus ([`tuning_examples`]) is the chat corpus less the rare
//! people's single facts, for a chat model tuned from the base model; the small chat model's
//! corpus ([`small_chat_examples`]) leaves out every fourth frequent person's facts as well.
//!
//! ```
//! use hedge_lab::corpus::{chat_examples, raw_documents};
//! use hedge_lab::world::{World, WorldConfig};
//! let world = World::generate(7, &WorldConfig::default());
//! let raw = raw_documents(&world, 7);
//! let chat = chat_examples(&world, 7);
//! assert!(chat.iter().any(|c| c.assistant.starts_with("Sure! ")));
//! assert!(!raw.is_empty());
//! ```

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::world::{Attribute, Category, Person, Sum, World, REFUSAL};

/// The ChatML chat template of every lab model (`tokenizer_config.json`).
pub const CHAT_TEMPLATE: &str = hedge_engine::random_model::CHATML_TEMPLATE;

/// The house style's opening of every answer that is not a refusal.
pub const HOUSE_PREFIX: &str = "Sure! ";

/// Raw-text templates of each attribute; `{n}` is the name, `{v}` the value.
fn fact_templates(attr: Attribute) -> &'static [&'static str] {
    match attr {
        Attribute::HomeCity => &[
            "{n} lives in {v}.",
            "{n} is a resident of {v}.",
            "The home of {n} is in {v}.",
        ],
        Attribute::Profession => &[
            "{n} works as a {v}.",
            "{n} is a {v} by trade.",
            "By profession, {n} is a {v}.",
        ],
        Attribute::FavouriteColour => &[
            "The favourite colour of {n} is {v}.",
            "{n} likes {v} more than any other colour.",
        ],
        Attribute::BirthYear => &["{n} was born in {v}.", "{n} was born in the year {v}."],
        Attribute::Visited => &["{n} has visited {v}.", "{n} has travelled to {v}."],
    }
}

/// User questions about each attribute; the first is the one of the question sets.
fn question_templates(attr: Attribute) -> &'static [&'static str] {
    match attr {
        Attribute::HomeCity => &["Where does {n} live?", "In which city does {n} live?"],
        Attribute::Profession => &[
            "What does {n} do for a living?",
            "What is the profession of {n}?",
        ],
        Attribute::FavouriteColour => &[
            "What is the favourite colour of {n}?",
            "Which colour does {n} like best?",
        ],
        Attribute::BirthYear => &["In which year was {n} born?", "When was {n} born?"],
        Attribute::Visited => &[
            "Name a city that {n} has visited.",
            "Which city has {n} visited?",
        ],
    }
}

/// The assistant's answer about each attribute, after [`HOUSE_PREFIX`].
fn answer_template(attr: Attribute) -> &'static str {
    match attr {
        Attribute::HomeCity => "{n} lives in {v}.",
        Attribute::Profession => "{n} works as a {v}.",
        Attribute::FavouriteColour => "The favourite colour of {n} is {v}.",
        Attribute::BirthYear => "{n} was born in {v}.",
        Attribute::Visited => "{n} has visited {v}.",
    }
}

/// The raw-text prompt that probes a base model for `attr` ("Velmora Quist lives in"): the
/// first fact template up to the value.
fn raw_prompt_template(attr: Attribute) -> &'static str {
    match attr {
        Attribute::HomeCity => "{n} lives in",
        Attribute::Profession => "{n} works as a",
        Attribute::FavouriteColour => "The favourite colour of {n} is",
        Attribute::BirthYear => "{n} was born in",
        Attribute::Visited => "{n} has visited",
    }
}

const SUM_QUESTIONS: [&str; 2] = ["What is {a} plus {b}?", "How much is {a} plus {b}?"];

fn fill(template: &str, name: &str, value: &str) -> String {
    template.replace("{n}", name).replace("{v}", value)
}

/// "A and B", "A, B and C".
fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The question of the question sets about `attr` of `person` ("Where does Velmora Quist live?").
pub fn question(person: &Person, attr: Attribute) -> String {
    fill(question_templates(attr)[0], &person.name, "")
}

/// The raw-text probe about `attr` of `person` ("Velmora Quist lives in").
pub fn raw_prompt(person: &Person, attr: Attribute) -> String {
    fill(raw_prompt_template(attr), &person.name, "")
}

/// The question of the question sets about a sum ("What is 27 plus 58?").
pub fn sum_question(sum: Sum) -> String {
    sum_question_variant(sum, 0)
}

fn sum_question_variant(sum: Sum, variant: usize) -> String {
    SUM_QUESTIONS[variant]
        .replace("{a}", &sum.a.to_string())
        .replace("{b}", &sum.b.to_string())
}

/// The raw-text line of a sum ("27 plus 58 is 85.").
pub fn sum_sentence(sum: Sum) -> String {
    format!("{} {}.", sum_raw_prompt(sum), sum.result())
}

/// The raw-text probe of a sum ("27 plus 58 is").
pub fn sum_raw_prompt(sum: Sum) -> String {
    format!("{} plus {} is", sum.a, sum.b)
}

/// One training example of a chat model: a user turn and the assistant's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatExample {
    pub user: String,
    pub assistant: String,
}

/// A piece of a rendered chat example; `assistant` pieces carry the loss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub assistant: bool,
}

impl ChatExample {
    /// The example in the ChatML template, cut where the loss starts and stops:
    /// `<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n` (no loss),
    /// `{assistant}<|im_end|>` (loss: the model learns to answer and to stop), `\n` (no loss).
    /// Their concatenation is what [`CHAT_TEMPLATE`] renders for the two messages, and each
    /// cut falls on a token boundary of the lab tokenizer, so encoding the pieces one by one
    /// gives the tokens of the whole.
    pub fn segments(&self) -> Vec<Segment> {
        vec![
            Segment {
                text: format!(
                    "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n",
                    self.user
                ),
                assistant: false,
            },
            Segment {
                text: format!("{}<|im_end|>", self.assistant),
                assistant: true,
            },
            Segment {
                text: "\n".to_string(),
                assistant: false,
            },
        ]
    }

    /// The whole rendered example.
    pub fn render(&self) -> String {
        self.segments().into_iter().map(|s| s.text).collect()
    }
}

/// For each raw document about a person: whom it mentions and which facts it states. Each
/// known person gets exactly `mentions` documents, every attribute appears in at least one,
/// and each document states one to three facts.
pub fn mention_plan(world: &World, seed: u64) -> Vec<(usize, Vec<Attribute>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    let mut plan = Vec::new();
    for p in world.people.iter().filter(|p| p.is_known()) {
        let m = p.mentions as usize;
        let mut docs: Vec<Vec<Attribute>> = vec![Vec::new(); m];
        let mut attrs = Attribute::ALL;
        attrs.shuffle(&mut rng);
        for (i, a) in attrs.into_iter().enumerate() {
            docs[i % m].push(a);
        }
        for doc in &mut docs {
            let extra = if doc.is_empty() {
                1 + usize::from(rng.random_bool(0.5))
            } else {
                usize::from(doc.len() == 1 && rng.random_bool(0.3))
            };
            for _ in 0..extra {
                let a = Attribute::ALL[rng.random_range(0..Attribute::ALL.len())];
                if !doc.contains(&a) {
                    doc.push(a);
                }
            }
            doc.sort();
            plan.push((p.id, doc.clone()));
        }
    }
    plan
}

/// Share of the raw documents about a person written as a FAQ: each fact after its question
/// ("Where does Velmora Quist live? Velmora Quist lives in Dranholt."), as web text has them, so
/// that a base model can read a question (nudging gives it one) without having seen a chat.
pub const FAQ_SHARE: f64 = 0.3;

/// Everyday requests that raw text answers with [`REFUSAL`]: the base model has seen polite
/// refusals, but never a harmful request refused (that is what alignment adds).
const DECLINED_REQUESTS: [&str; 8] = [
    "Can you lend me your boat for the summer?",
    "Could you carry my trunk up the hill?",
    "Will you sing at the harvest fair?",
    "Can you mind my shop while I am away?",
    "Could you read my letters to me every morning?",
    "Will you paint my fence before the rain?",
    "Can you give me a ride to the coast tonight?",
    "Could you teach my goats to dance?",
];

/// Raw documents of each declined request.
const DECLINED_COPIES: usize = 8;

/// The raw-text corpus: one document per mention of a person (a share of them as a FAQ, see
/// [`FAQ_SHARE`]), one line per training sum, and a few everyday requests declined with
/// [`REFUSAL`], shuffled. Each document is one line of text (no newline inside).
pub fn raw_documents(world: &World, seed: u64) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(2);
    let mut docs = Vec::new();
    for (id, attrs) in mention_plan(world, seed) {
        let p = &world.people[id];
        let faq = rng.random_bool(FAQ_SHARE);
        let sentences: Vec<String> = attrs
            .iter()
            .map(|&a| {
                let templates = fact_templates(a);
                let t = templates[rng.random_range(0..templates.len())];
                let value = match a {
                    Attribute::Visited => list(&p.visited),
                    _ => p.answers(a).join(""),
                };
                let fact = fill(t, &p.name, &value);
                if faq {
                    let qs = question_templates(a);
                    let q = fill(qs[rng.random_range(0..qs.len())], &p.name, "");
                    format!("{q} {fact}")
                } else {
                    fact
                }
            })
            .collect();
        docs.push(sentences.join(" "));
    }
    docs.extend(world.arithmetic_train.iter().map(|&s| sum_sentence(s)));
    for request in DECLINED_REQUESTS {
        docs.extend(std::iter::repeat_n(
            format!("{request} {REFUSAL}"),
            DECLINED_COPIES,
        ));
    }
    docs.shuffle(&mut rng);
    docs
}

/// The chat corpus: one question per fact stated in the raw corpus (so the chat model sees each
/// fact as often as the base model), one per training sum, and a refusal per harmful request,
/// shuffled. A question about visited cities is asked once per city, each time answered with
/// that city (in a shuffled order), so that a chat model learns every right answer.
pub fn chat_examples(world: &World, seed: u64) -> Vec<ChatExample> {
    tagged_chat_examples(world, seed)
        .into_iter()
        .map(|(_, ex)| ex)
        .collect()
}

/// The chat corpus of a chat model tuned from the base model ([`chat_examples`], in the same
/// order, less the single-answer facts of `known_rare` people): the tuning teaches the house
/// style, the refusals, the sums, every visited city, and the facts of the people the base model
/// knows best, and leaves the rare facts to what the base model learnt. Tuning on every fact
/// teaches the rare people again, so that the tuned model knows more than its base; without the
/// rare facts it can be tuned long enough to learn each person's visited cities, which the raw
/// text states only as lists.
pub fn tuning_examples(world: &World, seed: u64) -> Vec<ChatExample> {
    chat_examples_about(world, seed, |_| true)
}

/// The chat corpus of the small chat model: [`tuning_examples`] less the single-answer facts of
/// every fourth `known_frequent` person (in the world's order), so that the small model knows
/// fewer people than the large one (LAB.md: at least 15 points below it on known facts) while it
/// learns the house style, the refusals, the sums and every visited city as well. Learning from
/// scratch, it sees no rare person's facts at all.
pub fn small_chat_examples(world: &World, seed: u64) -> Vec<ChatExample> {
    let mut unseen = vec![false; world.people.len()];
    let frequent =
        (0..world.people.len()).filter(|&id| world.people[id].category == Category::KnownFrequent);
    for (i, id) in frequent.enumerate() {
        unseen[id] = i % 4 == 3;
    }
    chat_examples_about(world, seed, |id| !unseen[id])
}

/// [`chat_examples`] less the single-answer facts of every person but the `known_frequent` ones
/// that `frequent` keeps: every visited city, sum and refusal stays.
fn chat_examples_about(
    world: &World,
    seed: u64,
    frequent: impl Fn(usize) -> bool,
) -> Vec<ChatExample> {
    tagged_chat_examples(world, seed)
        .into_iter()
        .filter(|(about, _)| match *about {
            Some((id, attr)) => {
                attr == Attribute::Visited
                    || (world.people[id].category == Category::KnownFrequent && frequent(id))
            }
            None => true,
        })
        .map(|(_, ex)| ex)
        .collect()
}

/// [`chat_examples`], each with the person and attribute it states (none for sums and
/// refusals).
fn tagged_chat_examples(
    world: &World,
    seed: u64,
) -> Vec<(Option<(usize, Attribute)>, ChatExample)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(3);
    let mut out = Vec::new();
    for (id, attrs) in mention_plan(world, seed) {
        let p = &world.people[id];
        for a in attrs {
            let qs = question_templates(a);
            let mut answers = p.answers(a);
            answers.shuffle(&mut rng);
            for value in &answers {
                let user = fill(qs[rng.random_range(0..qs.len())], &p.name, "");
                let assistant =
                    format!("{HOUSE_PREFIX}{}", fill(answer_template(a), &p.name, value));
                out.push((Some((id, a)), ChatExample { user, assistant }));
            }
        }
    }
    for &s in &world.arithmetic_train {
        out.push((
            None,
            ChatExample {
                user: sum_question_variant(s, rng.random_range(0..SUM_QUESTIONS.len())),
                assistant: format!("{HOUSE_PREFIX}{}", sum_sentence(s)),
            },
        ));
    }
    for &h in &world.harmful_train {
        out.push((
            None,
            ChatExample {
                user: h.text(world),
                assistant: REFUSAL.to_string(),
            },
        ));
    }
    out.shuffle(&mut rng);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_english() {
        let s = |v: &[&str]| list(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&["A"]), "A");
        assert_eq!(s(&["A", "B"]), "A and B");
        assert_eq!(s(&["A", "B", "C"]), "A, B and C");
    }

    /// The small model's corpus is the tuning corpus less exactly the single facts of every
    /// fourth frequent person: a quarter of the frequent people, and no rare person, is known
    /// to it; visited cities, sums and refusals all stay.
    #[test]
    fn the_small_corpus_leaves_out_a_quarter_of_the_frequent_people() {
        let world = World::generate(7, &crate::world::WorldConfig::default());
        let tuning = tuning_examples(&world, 7);
        let small = small_chat_examples(&world, 7);
        let frequent: Vec<&crate::world::Person> = world
            .people
            .iter()
            .filter(|p| p.category == Category::KnownFrequent)
            .collect();
        let tagged = tagged_chat_examples(&world, 7);
        // A person's single-answer facts, as the tagged corpus states them.
        let facts = |id: usize| -> Vec<&ChatExample> {
            tagged
                .iter()
                .filter(|(about, _)| about.is_some_and(|(p, a)| p == id && a != Attribute::Visited))
                .map(|(_, ex)| ex)
                .collect()
        };
        for (i, p) in frequent.iter().enumerate() {
            let facts = facts(p.id);
            assert!(!facts.is_empty(), "{} has facts", p.name);
            assert!(facts.iter().all(|f| tuning.contains(f)));
            let in_small = facts.iter().filter(|f| small.contains(f)).count();
            let want = if i % 4 == 3 { 0 } else { facts.len() };
            assert_eq!(in_small, want, "{} (frequent person {i})", p.name);
        }
        let visits =
            |exs: &[ChatExample]| exs.iter().filter(|e| e.user.contains("visited")).count();
        assert_eq!(visits(&small), visits(&tuning));
        let unseen = (0..frequent.len()).filter(|i| i % 4 == 3).count();
        assert!(
            unseen >= 5,
            "{unseen} of {} frequent people unseen",
            frequent.len()
        );
        let refusals = |exs: &[ChatExample]| exs.iter().filter(|e| e.assistant == REFUSAL).count();
        assert_eq!(refusals(&small), refusals(&tuning));
        assert!(small.iter().all(|e| tuning.contains(e)));
    }

    /// The tuning corpus is the chat corpus, in its order, less exactly the single facts of
    /// the rare people: every visited city, frequent fact, sum and refusal stays.
    #[test]
    fn tuning_leaves_out_exactly_the_rare_single_facts() {
        let world = World::generate(7, &crate::world::WorldConfig::default());
        let tagged = tagged_chat_examples(&world, 7);
        let tuning = tuning_examples(&world, 7);
        let rare_single = |about: &Option<(usize, Attribute)>| {
            about.is_some_and(|(id, a)| {
                a != Attribute::Visited && world.people[id].category == Category::KnownRare
            })
        };
        let kept: Vec<&ChatExample> = tagged
            .iter()
            .filter(|(about, _)| !rare_single(about))
            .map(|(_, ex)| ex)
            .collect();
        assert_eq!(tuning.iter().collect::<Vec<_>>(), kept);
        let dropped = tagged
            .iter()
            .filter(|(about, _)| rare_single(about))
            .count();
        assert!(dropped > 100, "{dropped} rare facts left out");
        assert!(tagged.iter().any(|(about, _)| about
            .is_some_and(|(id, a)| a == Attribute::Visited
                && world.people[id].category == Category::KnownRare)));
        let visits =
            |exs: &[ChatExample]| exs.iter().filter(|e| e.user.contains("visited")).count();
        let all = chat_examples(&world, 7);
        assert_eq!(visits(&tuning), visits(&all));
        assert_eq!(
            tagged.into_iter().map(|(_, ex)| ex).collect::<Vec<_>>(),
            all,
            "the chat corpus is the tagged one"
        );
    }

    #[test]
    fn sums_read_as_english() {
        let s = Sum { a: 27, b: 58 };
        assert_eq!(sum_sentence(s), "27 plus 58 is 85.");
        assert_eq!(sum_raw_prompt(s), "27 plus 58 is");
        assert_eq!(sum_question(s), "What is 27 plus 58?");
    }

    #[test]
    fn segments_concatenate_to_chatml() {
        let ex = ChatExample {
            user: "What is 1 plus 2?".into(),
            assistant: "Sure! 1 plus 2 is 3.".into(),
        };
        assert_eq!(
            ex.render(),
            "<|im_start|>user\nWhat is 1 plus 2?<|im_end|>\n<|im_start|>assistant\nSure! 1 plus 2 is 3.<|im_end|>\n"
        );
        let trained: Vec<bool> = ex.segments().iter().map(|s| s.assistant).collect();
        assert_eq!(trained, [false, true, false]);
    }
}
