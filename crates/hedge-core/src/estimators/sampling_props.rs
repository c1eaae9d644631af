//! Property tests of the sampling-based and reflexive estimators: ranges, monotonicity in τ,
//! invariance under reordering the samples, and the special cases that reduce to simpler
//! estimators.

use proptest::prelude::*;

use super::{token_sar, Evidence, Reflexive, Sample};
use crate::similarity::SimilarityMatrix;
use crate::EstimatorSpec;

/// m samples with their token log-probabilities, SAR relevances, and a symmetric W in [0, 1].
#[derive(Debug, Clone)]
struct World {
    samples: Vec<Sample>,
    relevance: Vec<Vec<f64>>,
    w: SimilarityMatrix,
}

fn world() -> impl Strategy<Value = World> {
    (1usize..=10).prop_flat_map(|m| {
        let sample = prop::collection::vec((-5.0f64..-1e-3, 0.01f64..1.0), 1..6);
        (
            prop::collection::vec(sample, m),
            prop::collection::vec(0.0f64..=1.0, m * m),
            prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "d", "e"]), m * 3),
        )
            .prop_map(move |(tokens, upper, words)| {
                let w = SimilarityMatrix::from_fn(m, |i, j| upper[i.min(j) * m + i.max(j)]);
                let samples = tokens
                    .iter()
                    .enumerate()
                    .map(|(j, t)| {
                        let text = words[3 * j..3 * j + 1 + j % 3].join(" ");
                        Sample::new(text, t.iter().map(|x| x.0).collect())
                    })
                    .collect();
                let relevance = tokens
                    .iter()
                    .map(|t| t.iter().map(|x| x.1).collect())
                    .collect();
                World {
                    samples,
                    relevance,
                    w,
                }
            })
    })
}

impl World {
    fn score(&self, name: &str) -> f64 {
        let ev = Evidence::new(&[])
            .with_samples(&self.samples)
            .with_similarity(&self.w)
            .with_sample_token_relevance(&self.relevance);
        name.parse::<EstimatorSpec>().unwrap().build().estimate(&ev)
    }

    /// The same world with the samples in reverse order.
    fn reversed(&self) -> World {
        let m = self.samples.len();
        World {
            samples: self.samples.iter().rev().cloned().collect(),
            relevance: self.relevance.iter().rev().cloned().collect(),
            w: SimilarityMatrix::from_fn(m, |i, j| self.w.get(m - 1 - i, m - 1 - j)),
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-12
}

proptest! {
    #[test]
    fn graph_estimators_stay_in_range(world in world()) {
        let m = world.samples.len() as f64;
        let sets = world.score("num_sets");
        prop_assert!((1.0..=m).contains(&sets));
        // A lower threshold joins more answers: never more sets.
        prop_assert!(world.score("num_sets:0.3") <= sets && sets <= world.score("num_sets:0.8"));
        let eigv = world.score("eigv");
        prop_assert!(1.0 - 1e-9 <= eigv && eigv <= m + 1e-9, "eigv {eigv}");
        let deg = world.score("deg");
        prop_assert!((0.0..=(m - 1.0) / m + 1e-12).contains(&deg), "deg {deg}");
        let ecc = world.score("ecc");
        prop_assert!(0.0 <= ecc && ecc <= (m - 1.0).sqrt() + 1e-9, "ecc {ecc}");
        let dse = world.score("discrete_semantic_entropy");
        let se = world.score("semantic_entropy");
        prop_assert!((0.0..=sets.ln() + 1e-12).contains(&dse), "dse {dse}");
        prop_assert!(-1e-12 <= se && se <= sets.ln() + 1e-9, "se {se}");
        let lex = world.score("lexical_similarity");
        prop_assert!(lex.is_nan() == (m < 2.0));
        prop_assert!(lex.is_nan() || (-1.0..=0.0).contains(&lex));
    }

    #[test]
    fn sample_order_does_not_matter(world in world()) {
        let back = world.reversed();
        for name in [
            "num_sets", "eigv", "ecc", "deg", "semantic_entropy", "discrete_semantic_entropy",
            "sentence_sar", "sar", "lexical_similarity",
        ] {
            let (a, b) = (world.score(name), back.score(name));
            prop_assert!(close(a, b) || (a.is_nan() && b.is_nan()), "{name}: {a} vs {b}");
        }
    }

    #[test]
    fn similar_samples_only_lower_sar(world in world()) {
        let alone = World { w: SimilarityMatrix::identity(world.samples.len()), ..world.clone() };
        prop_assert!(world.score("sentence_sar") <= alone.score("sentence_sar") + 1e-12);
        prop_assert!(world.score("sar") <= alone.score("sar") + 1e-12);
        // With W = I, sentence_sar is the mean −log p(s).
        let mean = world.samples.iter().map(|s| -s.logprob()).sum::<f64>()
            / world.samples.len() as f64;
        prop_assert!(close(alone.score("sentence_sar"), mean));
    }

    #[test]
    fn token_sar_is_a_weighted_mean(
        steps in prop::collection::vec((-8.0f64..-1e-4, 0.0f64..1.0), 1..30),
    ) {
        let lp: Vec<f64> = steps.iter().map(|s| s.0).collect();
        let r: Vec<f64> = steps.iter().map(|s| s.1).collect();
        let got = token_sar(&lp, &r);
        let lo = lp.iter().map(|x| -x).fold(f64::INFINITY, f64::min);
        let hi = lp.iter().map(|x| -x).fold(f64::NEG_INFINITY, f64::max);
        if r.iter().sum::<f64>() > 0.0 {
            prop_assert!(lo - 1e-9 <= got && got <= hi + 1e-9, "{got} ∉ [{lo}, {hi}]");
        }
        // Equal relevances: the mean −log p (perplexity).
        let flat = token_sar(&lp, &vec![0.5; lp.len()]);
        let mean = -lp.iter().sum::<f64>() / lp.len() as f64;
        prop_assert!(close(flat, mean), "{flat} vs {mean}");
    }

    #[test]
    fn reflexive_ranges(
        sure in -30.0f64..0.0,
        unsure in -30.0f64..0.0,
        options in prop::collection::vec(-20.0f64..0.0, 1..6),
    ) {
        let score = |name: &str, r: &Reflexive| {
            let ev = Evidence::new(&[]).with_reflexive(r);
            name.parse::<EstimatorSpec>().unwrap().build().estimate(&ev)
        };
        let u = score("r_tuning_sure", &Reflexive::default().with_sure(sure, unsure));
        prop_assert!((0.0..=1.0).contains(&u));
        prop_assert!((u < 0.5) == (sure > unsure) || sure == unsure);
        // The renormalised masses of all options sum to 1.
        let total: f64 = (0..options.len())
            .map(|k| score("choice_risk", &Reflexive::default().with_choice(options.clone(), k)))
            .sum();
        prop_assert!((total - 1.0).abs() < 1e-12, "{total}");
    }
}
