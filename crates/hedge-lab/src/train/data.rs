//! Training examples and their packing into fixed-length sequences.
//!
//! The examples are shuffled (seeded, a new order every epoch) and concatenated into one endless
//! token stream; sequence k of the stream is its tokens `k·L .. k·L + L + 1` for `L = seq_len`,
//! so inputs are the first `L` tokens, targets the last `L`, and every token of the stream (but
//! the first) is a target exactly once. A target counts in the loss when its own mask is true.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{LabError, Result};

/// One training document: token ids and, per token, whether it is a target that counts in the
/// loss (chat data: only the assistant's tokens; raw text: all of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    pub ids: Vec<u32>,
    pub loss_mask: Vec<bool>,
}

impl Example {
    /// An example whose every token counts (raw text).
    pub fn raw(ids: Vec<u32>) -> Self {
        let loss_mask = vec![true; ids.len()];
        Self { ids, loss_mask }
    }
}

/// `batch_size` packed sequences of `seq_len` tokens, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub batch_size: usize,
    pub seq_len: usize,
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
    /// Whether each target counts in the loss.
    pub mask: Vec<bool>,
}

impl Batch {
    /// How many targets count in the loss.
    pub fn counted(&self) -> usize {
        self.mask.iter().filter(|&&m| m).count()
    }
}

/// The RNG stream of the epoch shuffles (stream 0 is the weight initialisation).
const SHUFFLE_STREAM: u64 = 1;

/// An endless, deterministic source of packed sequences over a set of examples.
#[derive(Debug, Clone)]
pub struct Packer<'a> {
    examples: &'a [Example],
    seq_len: usize,
    seed: u64,
    epoch: u64,
    order: Vec<usize>,
    next: usize,
    ids: Vec<u32>,
    mask: Vec<bool>,
}

impl<'a> Packer<'a> {
    /// # Errors
    /// When an example's mask and ids differ in length, a token id is not below `vocab_size`,
    /// or no token of any example counts in the loss.
    pub fn new(
        examples: &'a [Example],
        seq_len: usize,
        seed: u64,
        vocab_size: usize,
    ) -> Result<Self> {
        check_examples(examples, vocab_size)?;
        let mut packer = Self {
            examples,
            seq_len,
            seed,
            epoch: 0,
            order: Vec::new(),
            next: 0,
            ids: Vec::new(),
            mask: Vec::new(),
        };
        packer.shuffle();
        Ok(packer)
    }

    fn shuffle(&mut self) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(SHUFFLE_STREAM + self.epoch);
        self.order = (0..self.examples.len()).collect();
        self.order.shuffle(&mut rng);
        self.next = 0;
    }

    /// The next `seq_len + 1` tokens of the stream and their masks; the stream then advances by
    /// `seq_len`, so that the last token is the first of the next window.
    fn next_window(&mut self) -> (&[u32], &[bool]) {
        let need = self.seq_len + 1;
        while self.ids.len() < need {
            if self.next == self.order.len() {
                self.epoch += 1;
                self.shuffle();
            }
            let ex = &self.examples[self.order[self.next]];
            self.next += 1;
            self.ids.extend_from_slice(&ex.ids);
            self.mask.extend_from_slice(&ex.loss_mask);
        }
        (&self.ids[..need], &self.mask[..need])
    }

    fn advance(&mut self) {
        self.ids.drain(..self.seq_len);
        self.mask.drain(..self.seq_len);
    }

    /// The next batch of `batch_size` sequences.
    pub fn next_batch(&mut self, batch_size: usize) -> Batch {
        let n = batch_size * self.seq_len;
        let mut batch = Batch {
            batch_size,
            seq_len: self.seq_len,
            inputs: Vec::with_capacity(n),
            targets: Vec::with_capacity(n),
            mask: Vec::with_capacity(n),
        };
        for _ in 0..batch_size {
            let (ids, mask) = self.next_window();
            batch.inputs.extend_from_slice(&ids[..ids.len() - 1]);
            batch.targets.extend_from_slice(&ids[1..]);
            batch.mask.extend_from_slice(&mask[1..]);
            self.advance();
        }
        batch
    }

    /// Skips `n` sequences, as if they had been drawn (resuming from a checkpoint).
    pub fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.next_window();
            self.advance();
        }
    }
}

fn check_examples(examples: &[Example], vocab_size: usize) -> Result<()> {
    let bad = |reason: String| Err(LabError::TrainData { reason });
    let mut counted = 0usize;
    for (i, ex) in examples.iter().enumerate() {
        if ex.ids.len() != ex.loss_mask.len() {
            return bad(format!(
                "example {i} has {} token ids but {} loss-mask entries",
                ex.ids.len(),
                ex.loss_mask.len()
            ));
        }
        if let Some(&id) = ex.ids.iter().find(|&&id| id as usize >= vocab_size) {
            return bad(format!(
                "example {i} has token id {id}, not below the model's vocab_size {vocab_size}"
            ));
        }
        counted += ex.loss_mask.iter().filter(|&&m| m).count();
    }
    if counted == 0 {
        return bad(format!(
            "none of the {} examples has a token that counts in the loss",
            examples.len()
        ));
    }
    Ok(())
}

/// A 64-bit FNV-1a hash of the examples (ids and masks), recorded in a checkpoint so that a run
/// never resumes on other data.
pub fn fingerprint(examples: &[Example]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for ex in examples {
        eat(&(ex.ids.len() as u64).to_le_bytes());
        for (&id, &m) in ex.ids.iter().zip(&ex.loss_mask) {
            eat(&id.to_le_bytes());
            eat(&[u8::from(m)]);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(ids: &[u32], mask: &[bool]) -> Example {
        Example {
            ids: ids.to_vec(),
            loss_mask: mask.to_vec(),
        }
    }

    #[test]
    fn windows_overlap_by_one_token_and_shift_targets() {
        let data = [Example::raw((0..10).collect())];
        let mut p = Packer::new(&data, 4, 0, 100).unwrap();
        let b = p.next_batch(2);
        assert_eq!(b.inputs, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(b.targets, [1, 2, 3, 4, 5, 6, 7, 8]);
        // The stream goes on into the next epoch: 8, 9, then the example again.
        let b = p.next_batch(1);
        assert_eq!(b.inputs, [8, 9, 0, 1]);
        assert_eq!(b.targets, [9, 0, 1, 2]);
    }

    #[test]
    fn mask_is_the_targets_mask() {
        let data = [ex(&[5, 6, 7], &[false, false, true])];
        let mut p = Packer::new(&data, 2, 0, 100).unwrap();
        let b = p.next_batch(1);
        assert_eq!(b.inputs, [5, 6]);
        assert_eq!(b.targets, [6, 7]);
        assert_eq!(b.mask, [false, true]);
        assert_eq!(b.counted(), 1);
    }

    #[test]
    fn skip_equals_drawing() {
        let data: Vec<Example> = (0..7u32)
            .map(|i| Example::raw((0..(i + 2)).map(|j| i * 10 + j).collect()))
            .collect();
        let mut a = Packer::new(&data, 5, 3, 100).unwrap();
        let mut b = a.clone();
        for _ in 0..4 {
            a.next_batch(3);
        }
        b.skip(12);
        assert_eq!(a.next_batch(3), b.next_batch(3));
    }

    #[test]
    fn shuffles_each_epoch_with_the_seed() {
        let data: Vec<Example> = (0..20u32).map(|i| Example::raw(vec![i])).collect();
        let draw = |seed| {
            let mut p = Packer::new(&data, 20, seed, 100).unwrap();
            (p.next_batch(1).inputs, p.next_batch(1).inputs)
        };
        let (e0, e1) = draw(1);
        assert_eq!(draw(1), (e0.clone(), e1.clone()));
        assert_ne!(draw(2).0, e0);
        // One epoch per window: the second epoch is ordered differently.
        assert_ne!(e0, e1);
    }

    #[test]
    fn rejects_bad_data() {
        assert!(Packer::new(&[ex(&[1, 2], &[true])], 4, 0, 10).is_err());
        assert!(Packer::new(&[Example::raw(vec![1, 20])], 4, 0, 10).is_err());
        assert!(Packer::new(&[ex(&[1, 2], &[false, false])], 4, 0, 10).is_err());
        assert!(Packer::new(&[], 4, 0, 10).is_err());
    }
}
