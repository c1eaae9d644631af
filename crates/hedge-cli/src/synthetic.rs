//! Seeded synthetic scored answers, for `hedge bench metrics` and `hedge dev synthetic-scores`.

use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Writes `rows` scored JSONL lines `{"scores": {"e0": u, …}, "correct": c}`: c = 1 with
/// probability 0.6; estimator k's u is N(0, 1) noise plus 2/(k + 1) for a wrong answer, so
/// `e0` separates best. Seeded: the same seed writes the same bytes.
///
/// # Errors
/// When writing fails.
pub fn write_scored(
    out: &mut impl Write,
    rows: usize,
    estimators: usize,
    seed: u64,
) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut line = String::new();
    for _ in 0..rows {
        let correct = rng.random::<f64>() < 0.6;
        line.clear();
        line.push_str("{\"scores\":{");
        for k in 0..estimators {
            let shift = if correct { 0.0 } else { 2.0 / (k + 1) as f64 };
            let u = shift + normal(&mut rng);
            if k > 0 {
                line.push(',');
            }
            line.push_str(&format!("\"e{k}\":{u:.6}"));
        }
        line.push_str(&format!("}},\"correct\":{}}}\n", u8::from(correct)));
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_readable() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_scored(&mut a, 200, 3, 5).unwrap();
        write_scored(&mut b, 200, 3, 5).unwrap();
        assert_eq!(a, b);
        let d = crate::scored::read(a.as_slice(), |b| panic!("{b:?}")).unwrap();
        assert_eq!((d.len(), d.names.len()), (200, 3));
        let acc = d.q.iter().sum::<f64>() / 200.0;
        assert!((0.45..0.75).contains(&acc), "{acc}");
        let e0 = hedge_core::metrics::auroc(d.column("e0").unwrap(), &d.q);
        let e2 = hedge_core::metrics::auroc(d.column("e2").unwrap(), &d.q);
        assert!(e0 > e2 && e0 > 0.8, "{e0} {e2}");
    }
}
