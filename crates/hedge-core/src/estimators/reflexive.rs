//! The reflexive estimators of METHODS §4, where the model judges its own answer: `p_true`,
//! `r_tuning_sure`, `verbalized` and `choice_risk`. The prompts are in [`crate::prompts`];
//! the runner asks them and puts the model's next-token log-probabilities (or parsed
//! answer) in [`Evidence::reflexive`](super::Evidence::reflexive).

use super::{logsumexp, Estimator, Evidence, Need};

/// `p_true` (Kadavath et al.; LM-Polygraph `PTrue`): −log P(" True") after
/// [`crate::prompts::p_true_prompt`]. NaN without it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PTrue;

/// `r_tuning_sure` (R-Tuning): 1 − sure with sure = P(" sure") / (P(" sure") + P(" unsure"))
/// after [`crate::prompts::r_tuning_prompt`]. NaN without both, or when both are 0.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RTuningSure;

/// `verbalized`: 1 − c/100 for the confidence c ∈ [0, 100] the model wrote
/// ([`crate::prompts::parse_verbalized_confidence`]). NaN without one or outside [0, 100].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Verbalized;

/// `choice_risk` (folktexts): the mass of the positive option renormalised over the
/// options, P(positive) / Σ_k P(option k). A risk score in [0, 1], higher for the positive
/// outcome, rather than an uncertainty about an answer. NaN without options, with a
/// positive index out of range, or when every option has mass 0.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ChoiceRisk;

impl Estimator for PTrue {
    fn name(&self) -> String {
        "p_true".into()
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::PTrueProb]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        match ev.reflexive.and_then(|r| r.p_true_logprob) {
            Some(lp) => -lp,
            None => f64::NAN,
        }
    }
}

impl Estimator for RTuningSure {
    fn name(&self) -> String {
        "r_tuning_sure".into()
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::SureProbs]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let Some((sure, unsure)) = ev
            .reflexive
            .and_then(|r| Some((r.sure_logprob?, r.unsure_logprob?)))
        else {
            return f64::NAN;
        };
        // Softmax over the two log-probabilities: exact for tiny masses too.
        let top = sure.max(unsure);
        let (ps, pu) = ((sure - top).exp(), (unsure - top).exp());
        1.0 - ps / (ps + pu)
    }
}

impl Estimator for Verbalized {
    fn name(&self) -> String {
        "verbalized".into()
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::VerbalizedConfidence]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        match ev.reflexive.and_then(|r| r.verbalized_confidence) {
            Some(c) if (0.0..=100.0).contains(&c) => 1.0 - c / 100.0,
            _ => f64::NAN,
        }
    }
}

impl Estimator for ChoiceRisk {
    fn name(&self) -> String {
        "choice_risk".into()
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::OptionMasses]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let Some(choice) = ev.reflexive.and_then(|r| r.choice.as_ref()) else {
            return f64::NAN;
        };
        let Some(&positive) = choice.option_logprobs.get(choice.positive) else {
            return f64::NAN;
        };
        let total = logsumexp(&choice.option_logprobs);
        if total == f64::NEG_INFINITY {
            return f64::NAN;
        }
        (positive - total).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::Reflexive;

    fn est(e: &dyn Estimator, r: &Reflexive) -> f64 {
        e.estimate(&Evidence::new(&[]).with_reflexive(r))
    }

    #[test]
    fn by_hand() {
        let r = Reflexive::default()
            .with_p_true(0.8f64.ln())
            .with_sure(0.3f64.ln(), 0.1f64.ln())
            .with_verbalized(85.0)
            .with_choice(vec![0.2f64.ln(), 0.6f64.ln(), 0.2f64.ln()], 1);
        #[rustfmt::skip]
        let table: [(&dyn Estimator, f64); 4] = [
            (&PTrue, -(0.8f64.ln())),
            (&RTuningSure, 0.25),   // sure = 0.3 / 0.4
            (&Verbalized, 0.15),
            (&ChoiceRisk, 0.6),     // masses already sum to 1
        ];
        for (e, want) in table {
            let got = est(e, &r);
            assert!((got - want).abs() < 1e-15, "{}: {got} vs {want}", e.name());
        }
        // Renormalised over the options; tiny masses keep their ratio.
        let r = Reflexive::default()
            .with_choice(vec![-800.0, -800.0 + 3f64.ln()], 0)
            .with_sure(-900.0, -900.0);
        assert!((est(&ChoiceRisk, &r) - 0.25).abs() < 1e-15);
        assert!((est(&RTuningSure, &r) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn missing_or_bad_is_nan() {
        let none = Reflexive::default();
        for e in [
            &PTrue as &dyn Estimator,
            &RTuningSure,
            &Verbalized,
            &ChoiceRisk,
        ] {
            assert!(est(e, &none).is_nan(), "{}", e.name());
            assert!(e.estimate(&Evidence::new(&[])).is_nan(), "{}", e.name());
        }
        let bad = Reflexive::default()
            .with_verbalized(120.0)
            .with_choice(vec![-1.0], 3)
            .with_sure(f64::NEG_INFINITY, f64::NEG_INFINITY);
        assert!(est(&Verbalized, &bad).is_nan());
        assert!(est(&ChoiceRisk, &bad).is_nan());
        assert!(est(&RTuningSure, &bad).is_nan());
        let zero = Reflexive::default().with_choice(vec![f64::NEG_INFINITY; 2], 0);
        assert!(est(&ChoiceRisk, &zero).is_nan());
    }
}
