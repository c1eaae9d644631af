//! SAR, shifting attention to relevance (Duan et al., `jinhaoduan/SAR`; LM-Polygraph
//! `TokenSAR`, `SentenceSAR`, `SAR`): `token_sar` weighs each token's −log p by its
//! relevance; `sentence_sar` and `sar` add to each sample's probability the probabilities of
//! the samples similar to it.

use super::{np_sum, Estimator, Evidence, Need};
use crate::similarity::SimilarityMatrix;

/// The default temperature t of `sentence_sar` and `sar` (METHODS §3, LM-Polygraph).
const DEFAULT_T: f64 = 0.001;

/// Σ_i R̃_i · (−log p_i) with R̃_i = R_i / Σ_k R_k, as LM-Polygraph's
/// `token_level_sar_scores` computes it. 0 for no token (a sum over nothing); NaN when the
/// lengths differ or every R_i is 0.
pub fn token_sar(logprobs: &[f64], relevance: &[f64]) -> f64 {
    if logprobs.len() != relevance.len() {
        return f64::NAN;
    }
    let total = np_sum(relevance);
    let terms: Vec<f64> = logprobs
        .iter()
        .zip(relevance)
        .map(|(lp, r)| -lp * (r / total))
        .collect();
    np_sum(&terms)
}

/// mean_j −log(p_j + (1/t) Σ_{k≠j} W_jk · p_k), in LM-Polygraph's order of operations
/// (the sum divided by t). NaN when W is not m×m or m = 0.
fn shifted(probs: &[f64], w: &SimilarityMatrix, t: f64) -> f64 {
    let m = probs.len();
    if m == 0 || w.len() != m {
        return f64::NAN;
    }
    let e: Vec<f64> = (0..m)
        .map(|j| {
            let row: Vec<f64> = (0..m)
                .map(|k| (probs[k] * w.get(j, k)) * if j == k { 0.0 } else { 1.0 })
                .collect();
            let relevance = np_sum(&row) / t;
            -(relevance + probs[j]).ln()
        })
        .collect();
    np_sum(&e) / m as f64
}

/// `token_sar`: [`token_sar`] of the answer's tokens with [`Evidence::token_relevance`].
/// NaN without relevances or when their number is not the number of tokens.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TokenSar;

impl Estimator for TokenSar {
    fn name(&self) -> String {
        "token_sar".into()
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Tokens, Need::TokenRelevance]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let Some(relevance) = ev.token_relevance else {
            return f64::NAN;
        };
        let logprobs: Vec<f64> = ev.tokens.iter().map(|t| t.logprob).collect();
        token_sar(&logprobs, relevance)
    }
}

/// `sentence_sar:t`: mean_j −log(p(s_j) + (1/t) Σ_{k≠j} W_jk p(s_k)) with p(s) the sequence
/// probability exp(Σ log p_t) and W from [`Evidence::w`]. NaN without W, with no sample,
/// or when a sample has no log-probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SentenceSar {
    t: f64,
}

/// `sar:t`: as [`SentenceSar`] with p(s) = exp(−token_sar(s)), each sample's [`token_sar`]
/// from its tokens' log-probabilities and [`Evidence::sample_token_relevance`]. NaN also
/// without those relevances or when a row's length is not its sample's number of tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sar {
    t: f64,
}

impl SentenceSar {
    /// The estimator at temperature `t` > 0.
    pub fn new(t: f64) -> SentenceSar {
        SentenceSar { t }
    }

    /// The temperature t.
    pub fn t(&self) -> f64 {
        self.t
    }
}

impl Default for SentenceSar {
    fn default() -> SentenceSar {
        SentenceSar::new(DEFAULT_T)
    }
}

impl Sar {
    /// The estimator at temperature `t` > 0.
    pub fn new(t: f64) -> Sar {
        Sar { t }
    }

    /// The temperature t.
    pub fn t(&self) -> f64 {
        self.t
    }
}

impl Default for Sar {
    fn default() -> Sar {
        Sar::new(DEFAULT_T)
    }
}

impl Estimator for SentenceSar {
    fn name(&self) -> String {
        super::spec::with_param("sentence_sar", self.t, DEFAULT_T)
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Samples, Need::SampleLogprobs, Need::Similarity]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let Some(w) = ev.w() else {
            return f64::NAN;
        };
        let probs: Vec<f64> = ev.samples.iter().map(|s| s.logprob().exp()).collect();
        shifted(&probs, &w, self.t)
    }
}

impl Estimator for Sar {
    fn name(&self) -> String {
        super::spec::with_param("sar", self.t, DEFAULT_T)
    }

    fn needs(&self) -> &'static [Need] {
        &[
            Need::Samples,
            Need::SampleLogprobs,
            Need::Similarity,
            Need::SampleTokenRelevance,
        ]
    }

    fn estimate(&self, ev: &Evidence) -> f64 {
        let (Some(w), Some(relevance)) = (ev.w(), ev.sample_token_relevance) else {
            return f64::NAN;
        };
        if relevance.len() != ev.samples.len() {
            return f64::NAN;
        }
        let probs: Vec<f64> = ev
            .samples
            .iter()
            .zip(relevance)
            .map(|(s, r)| match &s.token_logprobs {
                Some(lp) => (-token_sar(lp, r)).exp(),
                None => f64::NAN,
            })
            .collect();
        shifted(&probs, &w, self.t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::tests::rec;
    use crate::estimators::Sample;

    #[test]
    fn token_sar_by_hand() {
        // −log p = (ln 2, ln 4), R = (1, 3): (ln 2 + 3 ln 4) / 4 = 7 ln 2 / 4
        let tokens = [rec(0.5, 0.0, 0.0), rec(0.25, 0.0, 0.0)];
        let r = [1.0, 3.0];
        let ev = Evidence::new(&tokens).with_token_relevance(&r);
        let got = TokenSar.estimate(&ev);
        assert!((got - 7.0 * 2f64.ln() / 4.0).abs() < 1e-15, "{got}");
        // Equal relevances: the mean −log p (perplexity).
        let got = token_sar(&[-1.0, -2.0, -3.0], &[0.2, 0.2, 0.2]);
        assert!((got - 2.0).abs() < 1e-15, "{got}");
        assert_eq!(token_sar(&[], &[]), 0.0);
        assert!(token_sar(&[-1.0], &[0.0]).is_nan());
        assert!(token_sar(&[-1.0], &[]).is_nan());
        assert!(TokenSar.estimate(&Evidence::new(&tokens)).is_nan());
    }

    #[test]
    fn sentence_sar_by_hand() {
        // Two samples with p = (0.5, 0.25), W_01 = W_10 = 0.2, t = 0.1:
        // E_0 = −ln(0.5 + 0.2·0.25/0.1) = −ln 1, E_1 = −ln(0.25 + 0.2·0.5/0.1) = −ln 1.25
        let samples = vec![
            Sample::new("a", vec![0.5f64.ln()]),
            Sample::new("b", vec![0.5f64.ln(), 0.5f64.ln()]),
        ];
        let w = SimilarityMatrix::from_fn(2, |_, _| 0.2);
        let ev = Evidence::new(&[])
            .with_samples(&samples)
            .with_similarity(&w);
        let got = SentenceSar::new(0.1).estimate(&ev);
        assert!((got - (-(1.25f64).ln() / 2.0)).abs() < 1e-15, "{got}");
        // W = I: no shift, mean −log p(s) = (ln 2 + ln 4)/2.
        let eye = SimilarityMatrix::identity(2);
        let got = SentenceSar::default().estimate(&ev.with_similarity(&eye));
        assert!((got - 1.5 * 2f64.ln()).abs() < 1e-15, "{got}");
        // sar with equal relevances: p(s) = exp(mean log p) = (0.5, 0.5).
        let r = vec![vec![1.0], vec![1.0, 1.0]];
        let got =
            Sar::default().estimate(&ev.with_similarity(&eye).with_sample_token_relevance(&r));
        assert!((got - 2f64.ln()).abs() < 1e-15, "{got}");
        // Missing pieces.
        assert!(Sar::default().estimate(&ev).is_nan());
        let short = vec![vec![1.0]];
        assert!(Sar::default()
            .estimate(&ev.with_sample_token_relevance(&short))
            .is_nan());
        assert!(SentenceSar::default()
            .estimate(&Evidence::new(&[]).with_samples(&samples))
            .is_nan());
        let blind = vec![Sample::text_only("a"), Sample::text_only("b")];
        assert!(SentenceSar::default()
            .estimate(&ev.with_samples(&blind))
            .is_nan());
    }
}
