//! hedge-lab: a controlled world in which every uncertainty method can be run and measured
//! offline. We know exactly what each lab model was taught, so we know which answers it should
//! know, which it cannot know, and which questions have several right answers.
//!
//! - [`world`]: the seeded world (people, attributes, frequencies, arithmetic, harmful requests);
//! - [`corpus`]: its raw-text and chat training corpora;
//! - [`questions`]: the question sets with their `calib` and `test` splits;
//! - [`bpe`]: the BPE tokenizer trained on the corpus, shared by all lab models;
//! - [`train`]: the trainer of hedge-engine's decoder.

pub mod bench;
pub mod bpe;
pub mod corpus;
pub mod error;
pub mod files;
pub mod questions;
pub mod recipes;
pub mod train;
pub mod world;
