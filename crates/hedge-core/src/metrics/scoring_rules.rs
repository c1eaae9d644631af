//! Proper scoring rules for a confidence κ ∈ [0, 1]: `brier` and `nll`.

use super::{is_correct, mean, usable};

/// κ is clipped to [NLL_CLIP, 1 − NLL_CLIP] before `nll` takes its log.
pub const NLL_CLIP: f64 = 1e-7;

/// Brier score mean (κ − c)², c = 1 when correct (c ≥ 0.5) else 0. Lower is better. NaN
/// when the inputs are empty, differ in length or hold a NaN.
pub fn brier(kappa: &[f64], c: &[f64]) -> f64 {
    if !usable(kappa, c) {
        return f64::NAN;
    }
    mean(kappa.iter().zip(c).map(|(&k, &ci)| {
        let y = if is_correct(ci) { 1.0 } else { 0.0 };
        (k - y) * (k - y)
    }))
}

/// Negative log-likelihood −mean [c log κ + (1 − c) log(1 − κ)] with κ clipped to
/// [1e-7, 1 − 1e-7] ([`NLL_CLIP`]) and c = 1 when correct (c ≥ 0.5) else 0. Lower is
/// better. NaN when the inputs are empty, differ in length or hold a NaN.
pub fn nll(kappa: &[f64], c: &[f64]) -> f64 {
    if !usable(kappa, c) {
        return f64::NAN;
    }
    mean(kappa.iter().zip(c).map(|(&k, &ci)| {
        let k = k.clamp(NLL_CLIP, 1.0 - NLL_CLIP);
        if is_correct(ci) {
            -k.ln()
        } else {
            -(1.0 - k).ln()
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::same;

    #[test]
    fn brier_by_hand() {
        #[rustfmt::skip]
        let table: [(&[f64], &[f64], f64); 4] = [
            (&[1.0, 0.0], &[1.0, 0.0], 0.0),
            (&[1.0, 0.0], &[0.0, 1.0], 1.0),
            (&[0.8, 0.4], &[1.0, 0.0], (0.04 + 0.16) / 2.0),
            (&[0.5], &[0.7], 0.25), // c = 0.7 counts as correct
        ];
        for (k, c, want) in table {
            assert!((brier(k, c) - want).abs() < 1e-15, "{k:?} {c:?}");
        }
        assert!(same(brier(&[], &[]), f64::NAN));
        assert!(same(brier(&[0.5], &[f64::NAN]), f64::NAN));
    }

    #[test]
    fn nll_by_hand() {
        let ln2 = std::f64::consts::LN_2;
        #[rustfmt::skip]
        let table: [(&[f64], &[f64], f64); 5] = [
            (&[0.5, 0.5], &[1.0, 0.0], ln2),
            (&[0.25], &[1.0], 4f64.ln()),
            (&[0.25], &[0.0], -(0.75f64).ln()),
            // clipped: log(1e-7), not −inf
            (&[0.0], &[1.0], -(1e-7f64).ln()),
            (&[1.0], &[0.0], -(1.0 - (1.0 - 1e-7f64)).ln()),
        ];
        for (k, c, want) in table {
            let got = nll(k, c);
            assert!((got - want).abs() < 1e-12, "{k:?} {c:?}: {got} vs {want}");
        }
        assert!(same(nll(&[0.5], &[]), f64::NAN));
    }
}
