//! e^x on a whole SIMD register at once, in f32 for the attention softmaxes of every decoding
//! step and in f64 for the per-step statistics and the sampler's weights over the whole
//! vocabulary: glibc's scalar `exp` and `expf` cost more there than everything around them.
//!
//! f32, Cephes' `expf`: x = n·ln 2 + r with n = round(x·log₂e) and |r| ≤ ln 2 / 2 (ln 2 split
//! in two parts, Cody–Waite), e^r by its degree-7 polynomial, then 2ⁿ added into the exponent bits.
//! Within 2 ulp of the correctly rounded value on the whole f32 range (a test checks this
//! against f64); e^x is 0 below −86.64 (where the true value is below 2.6·10⁻³⁸, next to the
//! smallest normal f32: nothing in a softmax), +∞ above 88.72, and NaN stays NaN.

use pulp::Simd;

/// `out[i]` = exp((values[i] − shift) · scale) in f64, a register at a time; every element
/// gets the same function whatever its place in the slice, so equal inputs give equal bits.
/// Within 2 ulp of libm's `exp` (a test checks this); 0 where the argument is below
/// −1021 ln 2 ≈ −707.7, where e^x is below 4.5·10⁻³⁰⁸.
pub fn exp_shifted(values: &[f32], shift: f64, scale: f64, out: &mut Vec<f64>) {
    out.clear();
    out.extend(values.iter().map(|&v| (f64::from(v) - shift) * scale));
    struct Exp<'a>(&'a mut [f64]);
    impl pulp::WithSimd for Exp<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let (head, tail) = S::as_mut_simd_f64s(self.0);
            for v in head {
                *v = exp_f64s(simd, *v);
            }
            let t = exp_f64s(simd, simd.partial_load_f64s(tail));
            simd.partial_store_f64s(tail, t);
        }
    }
    pulp::Arch::new().dispatch(Exp(out));
}

/// Lanes of the sums of [`exp_shifted_sums`]: lane `l` adds the elements `l, l + 8, …`,
/// whatever the registers (one of 8 f64 lanes, two of 4, …), so that every CPU gives the
/// same bits.
pub const SUM_LANES: usize = 8;

/// [`exp_shifted`] at scale 1, `out[i]` = e_i = exp(x_i) with x_i = values[i] − shift, and in
/// the same pass Z = Σ e_i and S = Σ e_i · x_i over the elements with e_i > 0 (so that a −inf
/// value, whose e is 0, adds 0 and not NaN). Each sum runs in [`SUM_LANES`] lanes, the lanes
/// then added in order.
pub fn exp_shifted_sums(values: &[f32], shift: f64, out: &mut Vec<f64>) -> (f64, f64) {
    struct ExpSums<'a> {
        values: &'a [f32],
        shift: f64,
        out: &'a mut Vec<f64>,
    }
    impl pulp::WithSimd for ExpSums<'_> {
        type Output = (f64, f64);
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> (f64, f64) {
            let ExpSums { values, shift, out } = self;
            out.clear();
            out.resize(values.len(), 0.0);
            for (o, &v) in out.iter_mut().zip(values) {
                *o = f64::from(v) - shift;
            }
            // Registers per group of SUM_LANES lanes.
            let per = (SUM_LANES / S::F64_LANES).max(1);
            let zero = simd.splat_f64s(0.0);
            let (mut z, mut s) = ([zero; SUM_LANES], [zero; SUM_LANES]);
            let (head, tail) = S::as_mut_simd_f64s(out);
            let n_head = head.len();
            for (j, v) in head.iter_mut().enumerate() {
                let (e, es) = exp_and_term(simd, *v);
                *v = e;
                z[j % per] = simd.add_f64s(z[j % per], e);
                s[j % per] = simd.add_f64s(s[j % per], es);
            }
            // The tail in a partial register, its missing lanes zero: they add 0.
            let (e, es) = exp_and_term(simd, simd.partial_load_f64s(tail));
            simd.partial_store_f64s(tail, e);
            // The missing lanes had x = 0: e = 1 there, so e is read back from what was stored
            // (zero beyond the row); their term e·x is 0.
            let e = simd.partial_load_f64s(tail);
            let j = n_head % per;
            z[j] = simd.add_f64s(z[j], e);
            s[j] = simd.add_f64s(s[j], es);
            (
                lanes_in_order::<S>(&z[..per]),
                lanes_in_order::<S>(&s[..per]),
            )
        }
    }
    pulp::Arch::new().dispatch(ExpSums { values, shift, out })
}

/// e^x and the term e·x of S (0 where e = 0).
#[inline(always)]
fn exp_and_term<S: Simd>(simd: S, x: S::f64s) -> (S::f64s, S::f64s) {
    let e = exp_f64s(simd, x);
    let zero = simd.splat_f64s(0.0);
    let term = simd.select_f64s(simd.greater_than_f64s(e, zero), simd.mul_f64s(e, x), zero);
    (e, term)
}

/// The [`SUM_LANES`] lanes held in `regs` (lane `l` in register `l / lanes`), added in order.
#[inline(always)]
pub fn lanes_in_order<S: Simd>(regs: &[S::f64s]) -> f64 {
    let mut lanes = [0.0f64; SUM_LANES];
    let (whole, _) = S::as_mut_simd_f64s(&mut lanes);
    for (to, &from) in whole.iter_mut().zip(regs) {
        *to = from;
    }
    lanes.iter().sum()
}

/// −125 ln 2: below it we give 0 (e^x < 2.6·10⁻³⁸, the f32 normals' edge), so that 2ⁿ · e^r
/// never leaves the normal range where adding n to the exponent bits is exact.
const MIN_X: f32 = -86.643_4;
/// Above this e^x overflows f32.
const MAX_X: f32 = 88.722_83;
/// 1.5 · 2²³: adding it to a float of magnitude below 2²² rounds to an integer that lands in
/// the low mantissa bits, so the integer n is read off the bits without a float→int conversion.
const SHIFTER: f32 = 12_582_912.0;
/// ln 2 = LN2_HI + LN2_LO; LN2_HI has few enough bits that n · LN2_HI is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes' coefficients: e^r ≈ 1 + r + r² · P(r) on |r| ≤ ln 2 / 2.
const P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_2e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// e^x in every lane of `x`. (No closures in here or in callers' SIMD loops: a closure's body
/// loses the target features of pulp's dispatch, and every operation becomes a call.)
#[inline(always)]
pub fn exp_f32s<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let clamped = simd.min_f32s(
        simd.max_f32s(x, simd.splat_f32s(MIN_X)),
        simd.splat_f32s(MAX_X),
    );
    let shifted = simd.mul_add_f32s(
        clamped,
        simd.splat_f32s(std::f32::consts::LOG2_E),
        simd.splat_f32s(SHIFTER),
    );
    let n = simd.sub_f32s(shifted, simd.splat_f32s(SHIFTER));
    let r = simd.negate_mul_add_f32s(n, simd.splat_f32s(LN2_HI), clamped);
    let r = simd.negate_mul_add_f32s(n, simd.splat_f32s(LN2_LO), r);
    let mut p = simd.splat_f32s(P[0]);
    for &coef in &P[1..] {
        p = simd.mul_add_f32s(p, r, simd.splat_f32s(coef));
    }
    let r2 = simd.mul_f32s(r, r);
    let e_r = simd.add_f32s(simd.mul_add_f32s(p, r2, r), simd.splat_f32s(1.0));
    // 2ⁿ · e^r: n sits in the low bits of `shifted`; shifted left by 23 it is n in the exponent
    // field (the shifter's own bits leave the word), added to e^r's exponent.
    let n_bits = simd.wrapping_dyn_shl_u32s(simd.transmute_u32s_f32s(shifted), simd.splat_u32s(23));
    let y = simd.transmute_f32s_u32s(simd.add_u32s(simd.transmute_u32s_f32s(e_r), n_bits));
    let y = simd.select_f32s(
        simd.less_than_f32s(x, simd.splat_f32s(MIN_X)),
        simd.splat_f32s(0.0),
        y,
    );
    let y = simd.select_f32s(
        simd.greater_than_f32s(x, simd.splat_f32s(MAX_X)),
        simd.splat_f32s(f32::INFINITY),
        y,
    );
    // NaN fails every comparison, and min/max would have turned it into a bound.
    simd.select_f32s(simd.equal_f32s(x, x), y, x)
}

/// −1021 ln 2: below it we give 0, so that 2ⁿ · e^r stays a normal f64.
const MIN_X64: f64 = -707.703_310_074_738_2;
/// Above this e^x overflows f64.
const MAX_X64: f64 = 709.782_712_893_384;
/// 1.5 · 2⁵²: as [`SHIFTER`], for f64.
const SHIFTER64: f64 = 6_755_399_441_055_744.0;
/// ln 2 = LN2_HI64 + LN2_LO64 (Cephes' C1, C2); n · LN2_HI64 is exact for |n| < 2³⁵.
const LN2_HI64: f64 = 6.931_457_519_531_25e-1;
const LN2_LO64: f64 = 1.428_606_820_309_417_3e-6;

/// e^x in every lane of `x` (f64): the same reduction as [`exp_f32s`], then e^r by its Taylor
/// series to r¹³ (the first term left out is below 5·10⁻¹⁸ for |r| ≤ ln 2 / 2).
#[inline(always)]
pub fn exp_f64s<S: Simd>(simd: S, x: S::f64s) -> S::f64s {
    let clamped = simd.min_f64s(
        simd.max_f64s(x, simd.splat_f64s(MIN_X64)),
        simd.splat_f64s(MAX_X64),
    );
    let shifted = simd.mul_add_f64s(
        clamped,
        simd.splat_f64s(std::f64::consts::LOG2_E),
        simd.splat_f64s(SHIFTER64),
    );
    let n = simd.sub_f64s(shifted, simd.splat_f64s(SHIFTER64));
    let r = simd.negate_mul_add_f64s(n, simd.splat_f64s(LN2_HI64), clamped);
    let r = simd.negate_mul_add_f64s(n, simd.splat_f64s(LN2_LO64), r);
    // Horner from 1/13! down to 1/1!, then e^r = 1 + r · p.
    let mut p = simd.splat_f64s(1.0 / 6_227_020_800.0);
    let mut factorial = 6_227_020_800.0f64;
    for k in (1..13).rev() {
        factorial /= f64::from(k + 1);
        p = simd.mul_add_f64s(p, r, simd.splat_f64s(1.0 / factorial));
    }
    let e_r = simd.mul_add_f64s(p, r, simd.splat_f64s(1.0));
    // n · 2⁵² moves n into the exponent field; the shifter's own bits leave the word.
    let n_bits = simd.mul_u64s(simd.transmute_u64s_f64s(shifted), simd.splat_u64s(1 << 52));
    let y = simd.transmute_f64s_u64s(simd.add_u64s(simd.transmute_u64s_f64s(e_r), n_bits));
    let y = simd.select_f64s(
        simd.less_than_f64s(x, simd.splat_f64s(MIN_X64)),
        simd.splat_f64s(0.0),
        y,
    );
    let y = simd.select_f64s(
        simd.greater_than_f64s(x, simd.splat_f64s(MAX_X64)),
        simd.splat_f64s(f64::INFINITY),
        y,
    );
    simd.select_f64s(simd.equal_f64s(x, x), y, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// e^x of each value through the widest SIMD this CPU has, the tail through a partial
    /// register, as the softmax calls it.
    fn exp_all(xs: &[f32]) -> Vec<f32> {
        struct Exp<'a>(&'a mut [f32]);
        impl pulp::WithSimd for Exp<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, simd: S) {
                let (head, tail) = S::as_mut_simd_f32s(self.0);
                for v in head {
                    *v = exp_f32s(simd, *v);
                }
                let t = exp_f32s(simd, simd.partial_load_f32s(tail));
                simd.partial_store_f32s(tail, t);
            }
        }
        let mut out = xs.to_vec();
        pulp::Arch::new().dispatch(Exp(&mut out));
        out
    }

    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        let ulp = (f32::from_bits(w.to_bits() + 1) - w) as f64;
        (got as f64 - want).abs() / ulp
    }

    #[test]
    fn within_two_ulp_of_the_exact_value_over_the_f32_range() {
        // Every 97th f32 bit pattern between the bounds, negative and positive.
        let xs: Vec<f32> = (0..u32::MAX / 97)
            .map(|i| f32::from_bits(i * 97))
            .filter(|x| x.is_finite() && *x < MAX_X)
            .flat_map(|x| [x, -x])
            .filter(|&x| x >= MIN_X)
            .collect();
        let got = exp_all(&xs);
        let worst = xs
            .iter()
            .zip(&got)
            .map(|(&x, &y)| ulps(y, f64::from(x).exp()))
            .fold(0.0, f64::max);
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp_all(&[0.0])[0], 1.0);
    }

    #[test]
    fn the_ends_of_the_range_and_nan() {
        let xs = [
            f32::NEG_INFINITY,
            -1000.0,
            -86.7,
            100.0,
            f32::INFINITY,
            f32::NAN,
            88.7,
            -86.6,
        ];
        let got = exp_all(&xs);
        assert_eq!(&got[..5], &[0.0, 0.0, 0.0, f32::INFINITY, f32::INFINITY]);
        assert!(got[5].is_nan());
        assert!(ulps(got[6], f64::from(88.7f32).exp()) <= 2.0, "{}", got[6]);
        assert!(ulps(got[7], f64::from(-86.6f32).exp()) <= 2.0, "{}", got[7]);
    }

    fn ulps64(got: f64, want: f64) -> f64 {
        let ulp = f64::from_bits(want.to_bits() + 1) - want;
        (got - want).abs() / ulp
    }

    #[test]
    fn f64_within_two_ulp_of_libm_and_the_same_bits_anywhere_in_the_slice() {
        // Logits in f32, shifted by a max and scaled as the sampler does (1/T).
        let logits: Vec<f32> = (0..200_003)
            .map(|i| ((i as f32) * 0.618_034).sin() * 40.0 - 20.0)
            .chain([f32::NEG_INFINITY, 0.0, -700.0, -709.0, 30.0])
            .collect();
        for (shift, scale) in [(20.0, 1.0), (30.0, 1.0 / 0.7), (-5.0, 1.0), (20.0, 25.0)] {
            let mut out = Vec::new();
            exp_shifted(&logits, shift, scale, &mut out);
            let mut worst = 0.0f64;
            for (&l, &e) in logits.iter().zip(&out) {
                let x = (f64::from(l) - shift) * scale;
                if x < MIN_X64 {
                    assert_eq!(e, 0.0, "exp({x})");
                } else {
                    worst = worst.max(ulps64(e, x.exp()));
                }
            }
            assert!(
                worst <= 2.0,
                "worst error {worst} ulp at shift {shift}, scale {scale}"
            );
            // The same value gives the same bits in a register and in the tail.
            let mut one = Vec::new();
            exp_shifted(&logits[3..4], shift, scale, &mut one);
            assert_eq!(one[0].to_bits(), out[3].to_bits());
        }
        let mut big = Vec::new();
        exp_shifted(&[f32::NAN, 1.0], 0.0, 800.0, &mut big);
        assert!(big[0].is_nan());
        assert_eq!(big[1], f64::INFINITY);
    }
}
