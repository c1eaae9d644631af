//! The AVX-512 kernel of [`super`]: a 16-lane register holds the 8-lane accumulators of two input
//! rows side by side (the inputs are packed in pairs, each weight vector is broadcast to both
//! halves), so one fused multiply-add does the work of two AVX2 ones, and every lane does
//! exactly what its AVX2 lane does: the results are bit for bit the AVX2 kernel's. With 32
//! registers a tile of up to six weight rows multiplies all the rows of a decoding batch (up to
//! sixteen) in one pass, so each weight vector is loaded once per step, not once per group.

use std::arch::x86_64::{__m128i, __m512, _MM_HINT_T0, _MM_HINT_T2};

use pulp::x86::V4;

use super::{first_tile_lines, place, Ask, Block, Direct, Inputs, Tile, Weight, CACHE_LINE, LANES};

/// A pair of 8-vectors: two input rows' vector `j` side by side, as the kernel loads them.
type Pair = [[f32; LANES]; 2];

/// A block run with AVX-512, as a function object that `pulp` compiles with the target's
/// features enabled.
pub(super) struct InPairs<'a, W> {
    pub v4: V4,
    pub block: Block<'a, W>,
}

impl<W: Weight> pulp::NullaryFnOnce for InPairs<'_, W> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        W::multiply_pairs(self.v4, self.block)
    }
}

/// A weight element broadcast as an 8-vector to both halves of a 16-lane register.
pub(super) trait Broadcast: Direct {
    fn broadcast(v4: V4, a: [Self; LANES]) -> __m512;
}

impl Broadcast for f32 {
    #[inline(always)]
    fn broadcast(v4: V4, a: [f32; LANES]) -> __m512 {
        v4.avx512dq._mm512_broadcast_f32x8(pulp::bytemuck::cast(a))
    }
}

impl Broadcast for u16 {
    /// bf16 bits: both halves of a 256-bit register, widened to 32 bits and shifted high.
    #[inline(always)]
    fn broadcast(v4: V4, a: [u16; LANES]) -> __m512 {
        let half: __m128i = pulp::bytemuck::cast(a);
        let both = v4.avx2._mm256_broadcastsi128_si256(half);
        let wide = v4.avx512f._mm512_cvtepu16_epi32(both);
        v4.avx512f
            ._mm512_castsi512_ps(v4.avx512f._mm512_slli_epi32::<16>(wide))
    }
}

/// [`super::multiply_rows`] with the input rows in pairs: weight rows `w` (each `k` long) times
/// every input row; weight row `j` of `w` writes column `col0 + j` of each `out[i]`.
#[inline(always)]
pub(super) fn multiply_rows<D: Broadcast>(
    v4: V4,
    inputs: &Inputs<'_>,
    w: &[D],
    tile: Tile,
    out: &mut [&mut [f32]],
    col0: usize,
) {
    let k = inputs.k;
    let rows = w.len() / k.max(1);
    for at in first_tile_lines::<D>(tile, rows, k) {
        v4.sse
            ._mm_prefetch::<_MM_HINT_T0>(w[at..].as_ptr().cast::<i8>());
    }
    let mut r = 0;
    while r < rows {
        let rw = tile.rows.min(rows - r);
        for (gi, (i, xg)) in tile.groups().enumerate() {
            let (xp, xt) = inputs.group(gi, i, xg);
            let xp = pulp::as_arrays::<2, [f32; LANES]>(xp).0;
            let ask = Ask {
                first: gi,
                every: tile.groups,
            };
            macro_rules! tile {
                ($rw:literal, $xp:literal, $r:expr) => {{
                    let r = $r;
                    let wr = &w[r * k..(r + $rw) * k];
                    let ahead = w.get((r + $rw) * k..).unwrap_or(&[]);
                    let res = dot_tile::<D, $rw, $xp>(v4, xp, xt, xg, wr, ahead, ask, k);
                    place(out, (i, col0 + r), &res, xg);
                }};
            }
            match (rw, xg.div_ceil(2)) {
                (6, 1) => tile!(6, 1, r),
                (6, 2) => tile!(6, 2, r),
                (6, 3) => tile!(6, 3, r),
                (6, 4) => tile!(6, 4, r),
                (5, 5) => tile!(5, 5, r),
                (4, 6) => tile!(4, 6, r),
                (3, 7) => tile!(3, 7, r),
                (3, 8) => tile!(3, 8, r),
                // Single weight rows: the end of a block.
                (_, xp) => {
                    debug_assert!(xp <= 8);
                    for r in r..r + rw {
                        match xp {
                            1 => tile!(1, 1, r),
                            2 => tile!(1, 2, r),
                            3 => tile!(1, 3, r),
                            4 => tile!(1, 4, r),
                            5 => tile!(1, 5, r),
                            6 => tile!(1, 6, r),
                            7 => tile!(1, 7, r),
                            _ => tile!(1, 8, r),
                        }
                    }
                }
            }
        }
        r += rw;
    }
}

/// Step `j` of a tile: vector `j` of its `RW` weight rows times its `XP` input pairs, added to
/// the accumulators. The shorter side stays in registers while the other streams past it.
#[inline(always)]
fn step<D: Broadcast, const RW: usize, const XP: usize>(
    v4: V4,
    acc: &mut [[__m512; XP]; RW],
    ws: &[&[[D; LANES]]; RW],
    xs: &[Pair; XP],
    j: usize,
) {
    let fma = |x, w, a| v4.avx512f._mm512_fmadd_ps(x, w, a);
    if RW <= XP {
        let wv: [__m512; RW] = std::array::from_fn(|a| D::broadcast(v4, ws[a][j]));
        for (p, &x) in xs.iter().enumerate() {
            let xv: __m512 = pulp::bytemuck::cast(x);
            for (acc, &wv) in acc.iter_mut().zip(&wv) {
                acc[p] = fma(xv, wv, acc[p]);
            }
        }
    } else {
        let xv: [__m512; XP] = xs.map(pulp::bytemuck::cast);
        for (acc, ws) in acc.iter_mut().zip(ws) {
            let wv = D::broadcast(v4, ws[j]);
            for (acc, &xv) in acc.iter_mut().zip(&xv) {
                *acc = fma(xv, wv, *acc);
            }
        }
    }
}

/// `xg` input rows (pairs of interleaved vectors `xp`, original rows `xt` for the tails) times
/// `RW` weight rows `w` (each `k` long): `out[a][g]` = w row a · x row g for g < xg, in the one
/// order of arithmetic of [`super`]. Meanwhile asks for the next tile's rows, the first `RW` rows
/// of `ahead` (when it has that many), into the first-level cache, and for the tile after it into
/// the second-level cache.
///
/// Ten rows' arithmetic keeps the core busy for as long as one row's weights take to arrive, so
/// the next tile alone is asked for too late to keep the memory streaming. Asking two tiles ahead
/// into the second level (which holds more requests in flight) measured 5–10 % faster at ten rows
/// on cold weights of SmolLM2-135M's shapes; the AVX2 kernel, bound by its arithmetic at ten rows,
/// and one row, bound by the memory that the hardware prefetchers already stream, gained nothing.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dot_tile<D: Broadcast, const RW: usize, const XP: usize>(
    v4: V4,
    xp: &[Pair],
    xt: &[f32],
    xg: usize,
    w: &[D],
    ahead: &[D],
    ask: Ask,
    k: usize,
) -> [[f32; 2 * LANES]; RW] {
    let body = k / LANES * LANES;
    let steps = body / LANES;
    fn rows<D: Direct, const RW: usize>(w: &[D], k: usize, steps: usize) -> [&[[D; LANES]]; RW] {
        std::array::from_fn(|a| &pulp::as_arrays::<LANES, D>(&w[a * k..]).0[..steps])
    }
    let ws = rows::<D, RW>(w, k, steps);
    let xs = &pulp::as_arrays::<XP, Pair>(xp).0[..steps];
    // Lets the compiler drop the bounds checks of `ws[a][j]` below.
    assert!(ws.iter().all(|w| w.len() == xs.len()));
    let zero = v4.avx512f._mm512_setzero_ps();
    let mut acc = [[zero; XP]; RW];
    // The next tile's rows and the one after, asked for a cache line at a time: the lines of
    // vectors `line · (first + every · m)`, … (a pointer past the slice is never read, only named
    // to the prefetcher).
    let rows_at = |tile: usize| -> Option<[*const D; RW]> {
        (ahead.len() >= (tile + 1) * RW * k)
            .then(|| std::array::from_fn(|a| ahead[(tile * RW + a) * k..].as_ptr()))
    };
    let (next, after) = (rows_at(0), rows_at(1));
    let line = (CACHE_LINE / std::mem::size_of::<[D; LANES]>()).max(1);
    let mut wait = ask.first * line;
    for (j, xs) in xs.iter().enumerate() {
        if let Some(next) = &next {
            if wait == 0 {
                for &row in next {
                    v4.sse
                        ._mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(j * LANES).cast::<i8>());
                }
                for &row in after.iter().flatten() {
                    v4.sse
                        ._mm_prefetch::<_MM_HINT_T2>(row.wrapping_add(j * LANES).cast::<i8>());
                }
                wait = ask.every * line;
            }
            wait -= 1;
        }
        step(v4, &mut acc, &ws, xs, j);
    }
    // Output (a, g) is half g % 2 of accumulator (a, g / 2), its eight lanes summed in the
    // module's order, eight accumulators at a time ([`sum_halves`]); then the tail.
    let mut out = [[0f32; 2 * LANES]; RW];
    let n = RW * XP;
    let zero = v4.avx512f._mm512_setzero_ps();
    for first in (0..n).step_by(8) {
        let eight: [__m512; 8] = std::array::from_fn(|i| {
            let m = first + i;
            if m < n {
                acc[m / XP][m % XP]
            } else {
                zero
            }
        });
        let sums = sum_halves(v4, eight);
        for i in 0..8.min(n - first) {
            let (a, p) = ((first + i) / XP, (first + i) % XP);
            out[a][2 * p] = sums[8 * (i % 2) + i / 2];
            out[a][2 * p + 1] = sums[8 * (i % 2) + 4 + i / 2];
        }
    }
    for (a, out) in out.iter_mut().enumerate() {
        for (g, out) in out.iter_mut().enumerate().take(xg.min(2 * XP)) {
            let tail = xt[g * k + body..(g + 1) * k]
                .iter()
                .zip(&w[a * k + body..(a + 1) * k])
                .fold(0f32, |s, (&xv, &wv)| xv.mul_add(wv.to_f32(), s));
            *out += tail;
        }
    }
    out
}

/// The two 8-lane halves of each of eight accumulators `c`, each summed in the order of
/// [`super`] (`l + (l + 4)`, then the pairs (0, 2) and (1, 3) of those, then the two) in one
/// transposition tree: 21 shuffles and adds for sixteen sums instead of six and two extractions
/// for each two (a tile of 5 × 5 accumulators spent a third as many instructions summing as
/// multiplying at k = 192). Every sum adds the same two numbers at every level as the
/// one-accumulator tree, so the bits are the same. Half `h` of `c[i]` is element
/// `8 · (i % 2) + 4 · h + i / 2` of the result.
#[inline(always)]
fn sum_halves(v4: V4, c: [__m512; 8]) -> [f32; 2 * LANES] {
    let f = v4.avx512f;
    // Blocks of 128 bits: (b0, b1) is a register's first half, (b2, b3) its second. Level 1 adds
    // b0 + b1 and b2 + b3 of two accumulators: lane l + (l + 4) of each half, four blocks of
    // (first's half 0, first's half 1, second's half 0, second's half 1).
    let level1 = |x: __m512, y: __m512| {
        f._mm512_add_ps(
            f._mm512_shuffle_f32x4::<0b10_00_10_00>(x, y),
            f._mm512_shuffle_f32x4::<0b11_01_11_01>(x, y),
        )
    };
    // In every block, lanes (0, 2) and (1, 3) of two registers:
    // [x₀ + x₂, x₁ + x₃, y₀ + y₂, y₁ + y₃].
    let pairs = |x: __m512, y: __m512| {
        f._mm512_add_ps(
            f._mm512_shuffle_ps::<0b01_00_01_00>(x, y),
            f._mm512_shuffle_ps::<0b11_10_11_10>(x, y),
        )
    };
    // In every block, the two sums of each of two registers: [x₀ + x₁, x₂ + x₃, y₀ + y₁, y₂ + y₃].
    let twos = |x: __m512, y: __m512| {
        f._mm512_add_ps(
            f._mm512_shuffle_ps::<0b10_00_10_00>(x, y),
            f._mm512_shuffle_ps::<0b11_01_11_01>(x, y),
        )
    };
    let l1: [__m512; 4] = std::array::from_fn(|j| level1(c[2 * j], c[2 * j + 1]));
    let l2 = [pairs(l1[0], l1[1]), pairs(l1[2], l1[3])];
    // Block q, lane j: accumulator pair j (c[2j], c[2j + 1]), block q of its level 1.
    let sums: [f32; 2 * LANES] = pulp::bytemuck::cast(twos(l2[0], l2[1]));
    sums
}
