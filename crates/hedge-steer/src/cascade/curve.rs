//! The accuracy–cost curve of a cascade over every threshold τ: accuracy against the fraction
//! of questions deferred, computed once both models have answered every question (deferring
//! a question swaps the small model's answer for the large one's; nothing is run again).

use serde::{Serialize, Serializer};

/// One question: the small model's deferral score (higher = defer; NaN is treated as +∞)
/// and the quality of each model's answer (1 right, 0 wrong, or a grade in [0, 1]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub score: f64,
    pub small: f64,
    pub large: f64,
}

/// The cascade at one threshold: the questions whose score exceeds `threshold` are deferred.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Questions deferred.
    pub deferred: usize,
    /// `deferred` / questions.
    pub fraction: f64,
    /// τ: defer when the score > τ. A midpoint between the scores of the last question
    /// deferred and the first kept, so that it carries over to other data; the largest score
    /// when nothing is deferred, −∞ when everything is (written `"-inf"` in JSON).
    #[serde(serialize_with = "number_or_text")]
    pub threshold: f64,
    /// Mean quality of the cascade's answers.
    pub accuracy: f64,
}

/// Every point a threshold can reach, nothing deferred first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    pub questions: usize,
    /// Accuracy of the small model alone (nothing deferred).
    pub small_accuracy: f64,
    /// Accuracy of the large model alone (everything deferred).
    pub large_accuracy: f64,
    /// Questions of equal score are deferred together, so there is one point per distinct
    /// score, plus the point with nothing deferred.
    pub points: Vec<CurvePoint>,
}

/// The score as the curve orders it: NaN is +∞ (always deferred first), −∞ the lowest finite
/// number (so that τ = −∞ still defers it).
fn key(score: f64) -> f64 {
    if score.is_nan() {
        f64::INFINITY
    } else {
        score.max(f64::MIN)
    }
}

/// A threshold τ with `lo` ≤ τ < `hi`: the midpoint when both are finite, else `lo`.
fn between(lo: f64, hi: f64) -> f64 {
    let mid = lo + (hi - lo) / 2.0;
    if lo.is_finite() && hi.is_finite() && mid >= lo && mid < hi {
        mid
    } else {
        lo
    }
}

impl Curve {
    /// The curve of `outcomes`; an empty slice gives a curve with no point and NaN
    /// accuracies.
    pub fn new(outcomes: &[Outcome]) -> Curve {
        let n = outcomes.len();
        let mut order: Vec<(f64, f64, f64)> = outcomes
            .iter()
            .map(|o| (key(o.score), o.small, o.large))
            .collect();
        // Highest score first: the first k are the k deferred. The sort is stable, but
        // equal scores are deferred together anyway.
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        let small_total: f64 = order.iter().map(|o| o.1).sum();
        let large_total: f64 = order.iter().map(|o| o.2).sum();
        let per = |total: f64| if n == 0 { f64::NAN } else { total / n as f64 };
        let mut points = Vec::with_capacity(n + 1);
        if let Some(first) = order.first() {
            points.push(CurvePoint {
                deferred: 0,
                fraction: 0.0,
                threshold: first.0,
                accuracy: per(small_total),
            });
        }
        let mut total = small_total;
        for k in 1..=n {
            let (score, small, large) = order[k - 1];
            total += large - small;
            let threshold = match order.get(k) {
                Some(next) if next.0 < score => between(next.0, score),
                Some(_) => continue, // a tie: its group is deferred together
                None => f64::NEG_INFINITY,
            };
            points.push(CurvePoint {
                deferred: k,
                fraction: k as f64 / n as f64,
                threshold,
                // the last point is exactly the large model's accuracy
                accuracy: if k == n { per(large_total) } else { per(total) },
            });
        }
        Curve {
            questions: n,
            small_accuracy: per(small_total),
            large_accuracy: per(large_total),
            points,
        }
    }

    /// The point that defers the most questions without deferring more than `fraction` of
    /// them.
    pub fn at_most(&self, fraction: f64) -> Option<CurvePoint> {
        let limit = (fraction * self.questions as f64 + 1e-9).floor();
        self.points
            .iter()
            .take_while(|p| p.deferred as f64 <= limit)
            .last()
            .copied()
    }

    /// [`Curve::at_most`] at fractions 0, 1/steps, …, 1 (steps = 10: 0, 0.1, …, 1).
    pub fn table(&self, steps: usize) -> Vec<CurvePoint> {
        let steps = steps.max(1);
        (0..=steps)
            .filter_map(|i| self.at_most(i as f64 / steps as f64))
            .collect()
    }

    /// The point with the fewest questions deferred whose accuracy is at least `accuracy`.
    pub fn reaching(&self, accuracy: f64) -> Option<CurvePoint> {
        self.points
            .iter()
            .find(|p| p.accuracy >= accuracy - 1e-12)
            .copied()
    }

    /// The point with the fewest questions deferred whose accuracy is within `gap` of the
    /// large model's (gap = 0.01: within 1 point). Always found on a non-empty curve: the
    /// last point is the large model's accuracy.
    pub fn within_of_large(&self, gap: f64) -> Option<CurvePoint> {
        self.reaching(self.large_accuracy - gap)
    }

    /// The area under accuracy against fraction deferred (trapezoids between the points):
    /// the mean accuracy over deferral budgets. Random deferral gives
    /// (small + large accuracy) / 2.
    pub fn area(&self) -> f64 {
        self.points
            .windows(2)
            .map(|w| (w[1].fraction - w[0].fraction) * (w[0].accuracy + w[1].accuracy) / 2.0)
            .sum()
    }

    /// The cascade at a given threshold τ: defer the questions whose score > τ.
    pub fn at_threshold(outcomes: &[Outcome], threshold: f64) -> CurvePoint {
        let n = outcomes.len();
        let mut deferred = 0;
        let mut total = 0.0;
        for o in outcomes {
            if key(o.score) > threshold {
                deferred += 1;
                total += o.large;
            } else {
                total += o.small;
            }
        }
        let per = |x: f64| if n == 0 { f64::NAN } else { x / n as f64 };
        CurvePoint {
            deferred,
            fraction: per(deferred as f64),
            threshold,
            accuracy: per(total),
        }
    }
}

/// A finite number as a JSON number, ±∞ as the text `"inf"` / `"-inf"`, NaN as `null`.
pub(super) fn number_or_text<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64(*x)
    } else if x.is_nan() {
        s.serialize_none()
    } else if *x > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(score: f64, small: f64, large: f64) -> Outcome {
        Outcome {
            score,
            small,
            large,
        }
    }

    /// Five questions worked by hand: the small model is right on 2 (40 %), the large on 3
    /// (60 %); the cascade does better than either in between.
    fn five() -> Vec<Outcome> {
        vec![
            o(0.9, 0.0, 1.0), // unsure and wrong, the large model right: defer first
            o(0.1, 1.0, 1.0),
            o(0.5, 0.0, 0.0), // neither knows
            o(0.7, 0.0, 1.0),
            o(0.2, 1.0, 0.0), // the large model is wrong here
        ]
    }

    #[test]
    fn curve_by_hand() {
        let c = Curve::new(&five());
        assert_eq!(
            (c.questions, c.small_accuracy, c.large_accuracy),
            (5, 0.4, 0.6)
        );
        // order by score: 0.9 (+1), 0.7 (+1), 0.5 (0), 0.2 (−1), 0.1 (0)
        let got: Vec<(usize, f64, f64)> = c
            .points
            .iter()
            .map(|p| (p.deferred, p.threshold, p.accuracy))
            .collect();
        let want = [
            (0, 0.9, 0.4),
            (1, 0.8, 0.6),
            (2, 0.6, 0.8),
            (3, 0.35, 0.8),
            (4, 0.15000000000000002, 0.6),
            (5, f64::NEG_INFINITY, 0.6),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.0, w.0);
            assert!((g.1 - w.1).abs() < 1e-12 || g.1 == w.1, "{g:?} vs {w:?}");
            assert!((g.2 - w.2).abs() < 1e-12, "{g:?} vs {w:?}");
        }
        // each point's τ gives back that point
        for p in &c.points {
            let again = Curve::at_threshold(&five(), p.threshold);
            assert_eq!(again.deferred, p.deferred, "τ {}", p.threshold);
            assert!((again.accuracy - p.accuracy).abs() < 1e-12);
        }
        // the large model's 60 % is first reached deferring 1 of 5; within 25 points, 0
        assert_eq!(c.within_of_large(0.0).unwrap().deferred, 1);
        assert_eq!(c.within_of_large(0.25).unwrap().deferred, 0);
        // area: trapezoids of width 0.2 over 0.4, 0.6, 0.8, 0.8, 0.6, 0.6
        let area = 0.2 * (0.5 + 0.7 + 0.8 + 0.7 + 0.6);
        assert!((c.area() - area).abs() < 1e-12, "{}", c.area());
    }

    #[test]
    fn endpoints_are_the_two_models() {
        let c = Curve::new(&five());
        let first = c.points.first().unwrap();
        let last = c.points.last().unwrap();
        assert_eq!((first.deferred, first.accuracy), (0, c.small_accuracy));
        assert_eq!((last.deferred, last.accuracy), (5, c.large_accuracy));
        let table = c.table(10);
        assert_eq!(table.len(), 11);
        assert_eq!(table[0].accuracy, 0.4);
        assert_eq!(table[10].accuracy, 0.6);
        // at most 30 % deferred of 5 questions: 1 question
        assert_eq!(table[3].deferred, 1);
        assert_eq!(
            table[4].deferred, 2,
            "40 % of 5 is 2, despite 0.4·5 = 2.0000000000000004"
        );
    }

    #[test]
    fn ties_are_deferred_together_and_nan_first() {
        let c = Curve::new(&[
            o(0.5, 0.0, 1.0),
            o(0.5, 1.0, 1.0),
            o(f64::NAN, 0.0, 1.0),
            o(0.2, 1.0, 1.0),
        ]);
        let deferred: Vec<usize> = c.points.iter().map(|p| p.deferred).collect();
        assert_eq!(deferred, [0, 1, 3, 4]);
        assert_eq!(c.points[0].threshold, f64::INFINITY);
        assert_eq!(c.points[1].threshold, 0.5, "+∞ and 0.5: τ = 0.5");
        assert_eq!(c.points[2].threshold, 0.35);
        assert_eq!(
            Curve::at_threshold(&[o(f64::NAN, 0.0, 1.0)], 1e300).deferred,
            1
        );
    }

    #[test]
    fn empty_and_json() {
        let c = Curve::new(&[]);
        assert!(c.points.is_empty() && c.small_accuracy.is_nan());
        assert!(c.within_of_large(0.01).is_none() && c.at_most(0.5).is_none());
        let c = Curve::new(&[o(0.3, 0.0, 1.0)]);
        let json = serde_json::to_string(&c.points).unwrap();
        assert_eq!(
            json,
            r#"[{"deferred":0,"fraction":0.0,"threshold":0.3,"accuracy":0.0},{"deferred":1,"fraction":1.0,"threshold":"-inf","accuracy":1.0}]"#
        );
    }
}
