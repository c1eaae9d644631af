//! Tests of [`super`]: every kernel keeps the one order of arithmetic and equals the definition.

use super::*;

fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0) - 1.0)
        .collect()
}

/// The portable lanes keep the module's order of arithmetic: half-precision weights give
/// their f32 widening bit for bit, batched rows give each row alone; and they agree with the
/// SIMD kernels to rounding (which fuse the multiply-add).
#[test]
fn portable_kernels_keep_the_order_and_agree_with_simd() {
    let (n, k) = (45, 77);
    let w = values(n * k, 1);
    let b: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    let bw: Vec<f32> = b.iter().map(|v| v.to_f32()).collect();
    let hw: Vec<f32> = h.iter().map(|v| v.to_f32()).collect();
    for t in [1, 2, 5, 10, 16] {
        let x = values(t * k, t);
        let p = Simd::Portable;
        let wide = rows_times_weight_t_in(p, &x, &bw, (t, n, k), SERIAL_WORK);
        assert_eq!(
            rows_times_weight_t_in(p, &x, &b, (t, n, k), SERIAL_WORK),
            wide,
            "bf16, t {t}"
        );
        let wide_h = rows_times_weight_t_in(p, &x, &hw, (t, n, k), SERIAL_WORK);
        assert_eq!(
            rows_times_weight_t_in(p, &x, &h, (t, n, k), SERIAL_WORK),
            wide_h,
            "f16, t {t}"
        );
        let got = rows_times_weight_t_in(p, &x, &w, (t, n, k), SERIAL_WORK);
        for i in 0..t {
            let alone =
                rows_times_weight_t_in(p, &x[i * k..(i + 1) * k], &w, (1, n, k), SERIAL_WORK);
            assert_eq!(got[i * n..(i + 1) * n], alone[..], "t {t}, row {i}");
        }
        let simd = rows_times_weight_t_in(Simd::detect(t), &x, &w, (t, n, k), SERIAL_WORK);
        for (a, b) in got.iter().zip(&simd) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "t {t}: {a} vs {b}");
        }
    }
}

/// Every batch size of the small-batch path (so every tile shape and grouping), on the
/// detected and the portable lanes, with a matrix that leaves partial tiles at the end of
/// its blocks and a `k mod 8` tail: each row gets bit for bit its result alone, bf16 and f16
/// weights their f32 widening, and the products equal the definition.
#[test]
fn every_batch_size_keeps_the_order_of_arithmetic() {
    let (n, k) = (71, 45);
    let w = values(n * k, 5);
    let b: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    let bw: Vec<f32> = b.iter().map(|v| v.to_f32()).collect();
    let hw: Vec<f32> = h.iter().map(|v| v.to_f32()).collect();
    for simd in Simd::available() {
        for t in 1..=16 {
            let x = values(t * k, t + 7);
            let got = rows_times_weight_t_in(simd, &x, &w, (t, n, k), SERIAL_WORK);
            for i in 0..t {
                let xi = &x[i * k..(i + 1) * k];
                let alone = rows_times_weight_t_in(simd, xi, &w, (1, n, k), SERIAL_WORK);
                assert_eq!(got[i * n..(i + 1) * n], alone[..], "t {t}, row {i}");
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|c| f64::from(xi[c]) * f64::from(w[j * k + c]))
                        .sum();
                    let g = f64::from(got[i * n + j]);
                    assert!((g - want).abs() < 1e-4, "t {t} ({i}, {j}): {g} vs {want}");
                }
            }
            assert_eq!(
                rows_times_weight_t_in(simd, &x, &b, (t, n, k), SERIAL_WORK),
                rows_times_weight_t_in(simd, &x, &bw, (t, n, k), SERIAL_WORK),
                "bf16, t {t}"
            );
            assert_eq!(
                rows_times_weight_t_in(simd, &x, &h, (t, n, k), SERIAL_WORK),
                rows_times_weight_t_in(simd, &x, &hw, (t, n, k), SERIAL_WORK),
                "f16, t {t}"
            );
        }
    }
}

/// The kernels that fuse the multiply-add (AVX-512 with its rows in pairs, AVX2) give the same
/// bits for every batch size and weight dtype, so a run's numbers do not depend on the CPU's
/// widest vectors; the products are long enough for several tiles per task.
#[test]
fn fused_kernels_agree_bit_for_bit() {
    let fused: Vec<Simd> = Simd::available()
        .into_iter()
        .filter(|s| !matches!(s, Simd::Portable))
        .collect();
    let (n, k) = (301, 203);
    let w = values(n * k, 9);
    let b: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    for t in 1..=16 {
        let x = values(t * k, 3 * t);
        let f32s: Vec<Vec<f32>> = fused
            .iter()
            .map(|&s| rows_times_weight_t_in(s, &x, &w, (t, n, k), SERIAL_WORK))
            .collect();
        let bf16s: Vec<Vec<f32>> = fused
            .iter()
            .map(|&s| rows_times_weight_t_in(s, &x, &b, (t, n, k), SERIAL_WORK))
            .collect();
        let f16s: Vec<Vec<f32>> = fused
            .iter()
            .map(|&s| rows_times_weight_t_in(s, &x, &h, (t, n, k), SERIAL_WORK))
            .collect();
        for results in [f32s, bf16s, f16s] {
            assert!(results.windows(2).all(|p| p[0] == p[1]), "t {t}");
        }
    }
}

/// Against a plain dot product in f64, for shapes that leave partial tiles and tails; an
/// empty row gives zeros.
#[test]
fn products_equal_the_definition() {
    assert_eq!(
        rows_times_weight_t::<f32>(&[], &[], (2, 3, 0), SERIAL_WORK),
        [0.0; 6]
    );
    for (t, n, k) in [
        (1, 1, 1),
        (3, 5, 9),
        (7, 33, 16),
        (16, 70, 130),
        (4, 1030, 12),
    ] {
        let x = values(t * k, 2);
        let w = values(n * k, 3);
        let got = rows_times_weight_t(&x, &w, (t, n, k), SERIAL_WORK);
        // On the calling thread or the pool, the same bits.
        assert_eq!(got, rows_times_weight_t(&x, &w, (t, n, k), 0));
        assert_eq!(got, rows_times_weight_t(&x, &w, (t, n, k), usize::MAX));
        for i in 0..t {
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|c| f64::from(x[i * k + c]) * f64::from(w[j * k + c]))
                    .sum();
                let g = f64::from(got[i * n + j]);
                assert!(
                    (g - want).abs() < 1e-4,
                    "t {t} n {n} k {k} ({i}, {j}): {g} vs {want}"
                );
            }
        }
    }
}
