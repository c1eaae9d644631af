//! The product `x Wᵀ` of a few rows (1 … 16: one decoding step of a batch) with an `(n, k)`
//! weight matrix in f32, bf16 or f16, in safe code.
//!
//! Decoding is bound by memory: each weight must cross from memory once per step, whatever the
//! number of rows. So each task owns a block of weight rows and streams it once, in order, a
//! tile of three or four weight rows at a time, while it asks the memory for the next tile's
//! rows. The input rows go in groups of at most four (one to three inputs: a single group), and
//! a tile multiplies its weight rows by one group after the other: the tile's rows (a few KB
//! each) stay in the first-level cache from one group to the next, so each weight still comes
//! from memory once per step, and each step of a group is 3 × 4 or 4 × 3 products in twelve
//! accumulators for seven vector loads (one weight row times ten inputs needed eleven loads for
//! ten products, and read all ten inputs, from the second-level cache when rows are long, for
//! every weight row). The arithmetic of the ten rows of ten samples then hides under the memory
//! traffic of one as far as the cores allow. bf16 weights are widened in registers as they are
//! loaded (a shift); f16 weights a block of rows at a time by `half` (F16C where the CPU has it).
//!
//! The kernels run in AVX-512 registers for four rows or more where the CPU has them (two input
//! rows to a register: [`pairs`]), else in AVX2 + FMA registers, chosen at run time through
//! `pulp` (safe target-feature dispatch and prefetch; the crate is already built as part of
//! candle's `gemm`), and on portable 8-wide arrays elsewhere.
//!
//! **One order of arithmetic.** Every output element is the dot product of one input row and
//! one weight row, computed the same way by every kernel: lane `l` of an 8-lane accumulator adds
//! the products at positions `l, l + 8, …` (fused multiply-add on AVX2), the lanes are summed
//! pairwise (`l + 4`, `l + 2`, `l + 1`), then the `k mod 8` tail is added in order. So a bf16 or
//! f16 matrix gives bit for bit the result of its f32 widening, and a row's result does not depend
//! on which other rows share the batch.

mod lanes;
#[cfg(target_arch = "x86_64")]
mod pairs;

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use rayon::prelude::*;

use lanes::{Direct, Lanes, Portable};

/// Lanes of every accumulator.
const LANES: usize = 8;

/// Accumulators a tile keeps in registers (of AVX2's sixteen; the rest hold weights and inputs).
const TILE_ACCUMULATORS: usize = 12;

/// Most weight rows per tile: four independent rows already hide the latency of the fused
/// multiply-add when there is a single input row.
const MAX_TILE_ROWS: usize = 4;

/// Most input rows per group: three weight rows by four inputs fill the accumulators with seven
/// loads per step (the fewest for twelve products).
const MAX_GROUP: usize = 4;

/// The AVX-512 kernel's tiles (input rows in pairs, sixteen lanes, 32 registers): groups of up to
/// sixteen inputs (eight pairs, so a decoding batch of up to 16 is one group and each weight tile
/// is read once for all), and weight rows by pairs in at most 25 accumulators, six rows at most:
/// six by one to four pairs, five by five, four by six, three by seven or eight. Five by five
/// (ten samples) holds 25 accumulators, five weight vectors and one input pair: 31 registers.
/// On a 2-core AMD EPYC (Zen 4), where ten rows' products are bound by the arithmetic, it
/// streamed a 530 MB matrix 4–7 % faster than four by five in each of five runs (alternated in
/// one process).
const PAIR_MAX_GROUP: usize = 16;
const PAIR_ACCUMULATORS: usize = 25;
const PAIR_MAX_TILE_ROWS: usize = 6;

/// From this many input rows on, the AVX-512 kernel (where the CPU has it).
const PAIRS_MIN_ROWS: usize = 4;

/// Below this many multiply-adds a product runs on the calling thread: waking the pool costs
/// more than the arithmetic (a 128 × 128 layer of a small draft model is 16 K of them, a few
/// microseconds). The default of [`rows_times_weight_t`]'s `serial_work`.
pub(super) const SERIAL_WORK: usize = 1 << 18;

/// `serial_work` for a model whose weights all stay in the caches: a product is then bound by
/// arithmetic and by the cost of waking the pool, not by the memory that two cores read faster
/// than one (measured on a 2-core machine: lab-l-chat, 8 MB of weights, decodes 1.5× faster
/// with this bound than with [`SERIAL_WORK`]; SmolLM2-135M, 540 MB, 1.4× slower).
pub(super) const SERIAL_WORK_IN_CACHE: usize = 1 << 21;

/// f16 rows are widened about this many at a time into a per-task buffer (rounded down to a
/// multiple of the tile's rows, so that only the end of a block has a partial tile).
const WIDEN_ROWS: usize = 12;

/// `x (t, k)` times `w (n, k)`ᵀ: `(t, n)` row-major. Each task owns a block of weight rows (a
/// block of output columns) and writes only there.
/// Products of fewer than `serial_work` multiply-adds run on the calling thread.
pub(super) fn rows_times_weight_t<W: Weight>(
    x: &[f32],
    w: &[W],
    (t, n, k): (usize, usize, usize),
    serial_work: usize,
) -> Vec<f32> {
    rows_times_weight_t_in(Simd::detect(t), x, w, (t, n, k), serial_work)
}

fn rows_times_weight_t_in<W: Weight>(
    simd: Simd,
    x: &[f32],
    w: &[W],
    (t, n, k): (usize, usize, usize),
    serial_work: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; t * n];
    if t == 0 || n == 0 || k == 0 {
        return out;
    }
    let tile = Tile::for_inputs(t, simd.pairs());
    let inputs = Inputs::pack(x, k, tile);
    // A few blocks per thread, so that a thread slowed by the machine's other work is helped.
    let threads = rayon::current_num_threads().max(1);
    let block = (n / (threads * 4))
        .clamp(16, 1024)
        .next_multiple_of(tile.rows);
    let blocks = n.div_ceil(block);
    // Output row i, columns of block b: pieces[b][i].
    let mut pieces: Vec<Vec<&mut [f32]>> = (0..blocks).map(|_| Vec::with_capacity(t)).collect();
    for row in out.chunks_mut(n) {
        for (b, piece) in row.chunks_mut(block).enumerate() {
            pieces[b].push(piece);
        }
    }
    let run = |buf: &mut Vec<f32>, (b, cols): (usize, Vec<&mut [f32]>)| {
        let first = b * block;
        let rows = cols.first().map_or(0, |c| c.len());
        simd.run(Block {
            inputs: &inputs,
            w: &w[first * k..(first + rows) * k],
            tile,
            out: cols,
            buf,
        });
    };
    if t * n * k < serial_work {
        let mut buf = Vec::new();
        pieces
            .into_iter()
            .enumerate()
            .for_each(|piece| run(&mut buf, piece));
    } else {
        pieces
            .into_par_iter()
            .enumerate()
            .for_each_init(Vec::new, run);
    }
    out
}

/// How many weight rows a tile multiplies, and how the `t` input rows are grouped: `groups`
/// groups of consecutive rows, as even as can be (the larger first), each multiplied by the
/// tile's weight rows in one pass.
#[derive(Clone, Copy, Debug)]
struct Tile {
    rows: usize,
    t: usize,
    groups: usize,
    /// Input rows packed two to a 16-lane vector (the AVX-512 kernel).
    pairs: bool,
}

impl Tile {
    /// As few groups of at most [`MAX_GROUP`] inputs as will do (so 4 … 16 inputs make groups
    /// of three or four, each step of a group at least nine products), and as many weight rows as
    /// the accumulators then allow: four rows by one to three inputs, three by four. In pairs,
    /// groups of up to [`PAIR_MAX_GROUP`] inputs, and as many weight rows as
    /// [`PAIR_ACCUMULATORS`] allow.
    fn for_inputs(t: usize, pairs: bool) -> Self {
        let (max_group, accumulators, max_rows) = if pairs {
            (PAIR_MAX_GROUP, PAIR_ACCUMULATORS, PAIR_MAX_TILE_ROWS)
        } else {
            (MAX_GROUP, TILE_ACCUMULATORS, MAX_TILE_ROWS)
        };
        let groups = t.div_ceil(max_group).max(1);
        let largest = t.div_ceil(groups).max(1);
        let per_input = if pairs { largest.div_ceil(2) } else { largest };
        let rows = (accumulators / per_input).clamp(1, max_rows);
        Tile {
            rows,
            t,
            groups,
            pairs,
        }
    }

    /// Rows a group of `len` inputs takes in the packed inputs (pairs are padded to whole).
    fn packed_rows(self, len: usize) -> usize {
        if self.pairs {
            len.next_multiple_of(2)
        } else {
            len
        }
    }

    /// The groups, as (first input row, rows).
    fn groups(self) -> impl Iterator<Item = (usize, usize)> {
        let (base, extra) = (self.t / self.groups, self.t % self.groups);
        (0..self.groups).scan(0, move |first, g| {
            let len = base + usize::from(g < extra);
            let group = (*first, len);
            *first += len;
            Some(group)
        })
    }
}

/// The input rows, in the tile's groups, each group interleaved per 8-vector (vector j of every
/// row of the group side by side) so that a tile reads them from one stream; and the
/// original rows, for the `k mod 8` tails. The interleaved vectors start on a cache line: a
/// vector load that straddles two lines costs two, and a tile loads an input vector for every
/// three or four fused multiply-adds.
pub(super) struct Inputs<'a> {
    x: &'a [f32],
    k: usize,
    /// The interleaved vectors from `start` on; the elements before it only align them.
    packed: Vec<f32>,
    start: usize,
    /// Where each group's vectors start among the packed vectors.
    group_starts: Vec<usize>,
}

/// Bytes of a cache line.
const CACHE_LINE: usize = 64;

/// The offset of each cache line of a block's first tile (`rows` weight rows of `k` elements
/// `D`). No tile before it asked for those lines, so both kernels ask for all of them at the
/// block's start: they arrive together rather than one demand miss after another.
fn first_tile_lines<D>(
    tile: Tile,
    rows: usize,
    k: usize,
) -> std::iter::StepBy<std::ops::Range<usize>> {
    let line = (CACHE_LINE / std::mem::size_of::<D>()).max(1);
    (0..tile.rows.min(rows) * k).step_by(line)
}

impl<'a> Inputs<'a> {
    fn pack(x: &'a [f32], k: usize, tile: Tile) -> Self {
        let steps = k / LANES;
        let slack = CACHE_LINE / std::mem::size_of::<f32>();
        let rows_packed: usize = tile.groups().map(|(_, len)| tile.packed_rows(len)).sum();
        let mut packed = vec![0f32; steps * rows_packed * LANES + slack];
        let start = packed.as_ptr().align_offset(CACHE_LINE).min(slack);
        let mut dst = packed[start..].chunks_exact_mut(LANES);
        let mut group_starts = Vec::with_capacity(tile.groups);
        let mut next = 0;
        for (first, len) in tile.groups() {
            group_starts.push(next);
            let width = tile.packed_rows(len);
            next += width * steps;
            let rows: Vec<&[[f32; LANES]]> = x[first * k..(first + len) * k]
                .chunks(k)
                .map(|r| pulp::as_arrays::<LANES, f32>(r).0)
                .collect();
            for j in 0..steps {
                // A missing second row of a pair stays zero.
                for (r, d) in (0..width).zip(dst.by_ref()) {
                    if let Some(row) = rows.get(r) {
                        d.copy_from_slice(&row[j]);
                    }
                }
            }
        }
        Inputs {
            x,
            k,
            packed,
            start,
            group_starts,
        }
    }

    /// Group `gi` of input rows `first..first + len`: its interleaved vectors (in pairs, two
    /// rows' vectors side by side) and its original rows (for the tails).
    fn group(&self, gi: usize, first: usize, len: usize) -> (&[[f32; LANES]], &[f32]) {
        let vectors = pulp::as_arrays::<LANES, f32>(&self.packed[self.start..]).0;
        let from = self.group_starts[gi];
        let to = self.group_starts.get(gi + 1).copied();
        (
            match to {
                Some(to) => &vectors[from..to],
                None => &vectors[from..],
            },
            &self.x[first * self.k..(first + len) * self.k],
        )
    }
}

/// One task's work: weight rows `w` times every input row, written to `out[i][r]` for input
/// row i and weight row r.
pub(super) struct Block<'a, W> {
    inputs: &'a Inputs<'a>,
    w: &'a [W],
    tile: Tile,
    out: Vec<&'a mut [f32]>,
    buf: &'a mut Vec<f32>,
}

/// The instruction set chosen at run time.
#[derive(Clone, Copy)]
enum Simd {
    #[cfg(target_arch = "x86_64")]
    Avx512(pulp::x86::V4),
    #[cfg(target_arch = "x86_64")]
    Avx2(pulp::x86::V3),
    Portable,
}

impl Simd {
    /// The widest the CPU has for `t` input rows: AVX-512 from [`PAIRS_MIN_ROWS`] rows on
    /// (below, sixteen lanes would hold a single row's products and gain nothing on a product
    /// bound by memory), then AVX2 + FMA, then portable arrays.
    fn detect(t: usize) -> Self {
        #[cfg(target_arch = "x86_64")]
        if t >= PAIRS_MIN_ROWS {
            if let Some(v4) = pulp::x86::V4::try_new() {
                return Simd::Avx512(v4);
            }
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(v3) = pulp::x86::V3::try_new() {
            return Simd::Avx2(v3);
        }
        let _ = t;
        Simd::Portable
    }

    /// Every kernel this CPU can run, the portable one last.
    #[cfg(test)]
    fn available() -> Vec<Simd> {
        let mut all = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            all.extend(pulp::x86::V4::try_new().map(Simd::Avx512));
            all.extend(pulp::x86::V3::try_new().map(Simd::Avx2));
        }
        all.push(Simd::Portable);
        all
    }

    /// Whether the kernel takes its input rows in pairs.
    fn pairs(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512(_) => true,
            _ => false,
        }
    }

    fn run<W: Weight>(self, block: Block<'_, W>) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512(v4) => v4.vectorize(pairs::InPairs { v4, block }),
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2(v3) => v3.vectorize(InLanes { lanes: v3, block }),
            Simd::Portable => W::multiply(Portable, block),
        }
    }
}

/// A block run with `lanes`, as a function object that `pulp` compiles with the target's
/// features enabled (a closure would not be inlined into it).
struct InLanes<'a, L, W> {
    lanes: L,
    block: Block<'a, W>,
}

impl<L: Lanes, W: Weight> pulp::NullaryFnOnce for InLanes<'_, L, W> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        W::multiply(self.lanes, self.block)
    }
}

/// A weight dtype: how a block of its rows reaches the kernels.
pub(super) trait Weight: Copy + Send + Sync {
    fn multiply<L: Lanes>(lanes: L, block: Block<'_, Self>);
    #[cfg(target_arch = "x86_64")]
    fn multiply_pairs(v4: pulp::x86::V4, block: Block<'_, Self>);
}

impl Weight for f32 {
    #[inline(always)]
    fn multiply<L: Lanes>(lanes: L, b: Block<'_, f32>) {
        let mut out = b.out;
        multiply_rows(lanes, b.inputs, b.w, b.tile, &mut out, 0);
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn multiply_pairs(v4: pulp::x86::V4, b: Block<'_, f32>) {
        let mut out = b.out;
        pairs::multiply_rows(v4, b.inputs, b.w, b.tile, &mut out, 0);
    }
}

impl Weight for bf16 {
    #[inline(always)]
    fn multiply<L: Lanes>(lanes: L, b: Block<'_, bf16>) {
        let mut out = b.out;
        multiply_rows(lanes, b.inputs, b.w.reinterpret_cast(), b.tile, &mut out, 0);
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn multiply_pairs(v4: pulp::x86::V4, b: Block<'_, bf16>) {
        let mut out = b.out;
        let w: &[u16] = b.w.reinterpret_cast();
        pairs::multiply_rows(v4, b.inputs, w, b.tile, &mut out, 0);
    }
}

impl Weight for f16 {
    #[inline(always)]
    fn multiply<L: Lanes>(lanes: L, b: Block<'_, f16>) {
        let (inputs, tile) = (b.inputs, b.tile);
        widened(b, |wide, out, r| {
            multiply_rows(lanes, inputs, wide, tile, out, r)
        });
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn multiply_pairs(v4: pulp::x86::V4, b: Block<'_, f16>) {
        let (inputs, tile) = (b.inputs, b.tile);
        widened(b, |wide, out, r| {
            pairs::multiply_rows(v4, inputs, wide, tile, out, r)
        });
    }
}

/// An f16 block widened [`WIDEN_ROWS`] rows (rounded down to whole tiles) at a time into the
/// task's buffer: `multiply(rows in f32, out, index of their first row)` for each piece.
#[inline(always)]
fn widened(b: Block<'_, f16>, mut multiply: impl FnMut(&[f32], &mut [&mut [f32]], usize)) {
    let Block {
        inputs,
        w,
        tile,
        mut out,
        buf,
    } = b;
    let k = inputs.k;
    let rows = out.first().map_or(0, |o| o.len());
    let piece = (WIDEN_ROWS / tile.rows.max(1) * tile.rows).max(1);
    let mut r = 0;
    while r < rows {
        let m = piece.min(rows - r);
        if buf.len() < m * k {
            buf.resize(m * k, 0.0);
        }
        let wide = &mut buf[..m * k];
        w[r * k..(r + m) * k].convert_to_f32_slice(wide);
        multiply(wide, &mut out, r);
        r += m;
    }
}

/// Weight rows `w` (each `k` long) times every input row; weight row `j` of `w` writes column
/// `col0 + j` of each `out[i]`. Each tile multiplies its rows by one input group after the other
/// (its rows stay in the first-level cache meanwhile), the groups sharing the asking for the next
/// tile's rows. (A closure walking the tiles for both this and [`pairs`] would leave the target
/// features of `pulp`'s dispatch behind: measured 5× slower.)
#[inline(always)]
fn multiply_rows<L: Lanes, D: Direct>(
    lanes: L,
    inputs: &Inputs<'_>,
    w: &[D],
    tile: Tile,
    out: &mut [&mut [f32]],
    col0: usize,
) {
    let k = inputs.k;
    let rows = w.len() / k.max(1);
    for at in first_tile_lines::<D>(tile, rows, k) {
        lanes.prefetch(&w[at]);
    }
    let mut r = 0;
    while r < rows {
        // A tile of weight rows, or single rows at the end of the block.
        let rw = tile.rows.min(rows - r);
        for (gi, (i, xg)) in tile.groups().enumerate() {
            let (xp, xt) = inputs.group(gi, i, xg);
            let ask = Ask {
                first: gi,
                every: tile.groups,
            };
            macro_rules! tile {
                ($rw:literal, $xg:literal, $r:expr) => {{
                    let r = $r;
                    let wr = &w[r * k..(r + $rw) * k];
                    let ahead = w.get((r + $rw) * k..).unwrap_or(&[]);
                    let res = dot_tile::<L, D, $rw, $xg>(lanes, xp, xt, wr, ahead, ask, k);
                    place(out, (i, col0 + r), &res, xg);
                }};
            }
            debug_assert!(xg <= MAX_GROUP);
            match (rw, xg) {
                (4, 1) => tile!(4, 1, r),
                (4, 2) => tile!(4, 2, r),
                (4, 3) => tile!(4, 3, r),
                (3, 3) => tile!(3, 3, r),
                (3, 4) => tile!(3, 4, r),
                // Single weight rows: the end of a block.
                _ => {
                    for r in r..r + rw {
                        match xg {
                            1 => tile!(1, 1, r),
                            2 => tile!(1, 2, r),
                            3 => tile!(1, 3, r),
                            _ => tile!(1, 4, r),
                        }
                    }
                }
            }
        }
        r += rw;
    }
}

/// A tile's results `res[a][g]` (weight row a, input row g < `xg`) into `out[row + g][col + a]`.
#[inline(always)]
fn place<const N: usize>(
    out: &mut [&mut [f32]],
    (row, col): (usize, usize),
    res: &[[f32; N]],
    xg: usize,
) {
    for (a, res) in res.iter().enumerate() {
        for (g, &v) in res.iter().take(xg).enumerate() {
            out[row + g][col + a] = v;
        }
    }
}

/// Which group of a tile this is (`first`) of how many (`every`): in the AVX-512 kernel the groups
/// share the asking for the next tile (vectors `first`, `first + every`, …, so that the memory
/// works while every group runs); in the AVX2 one the first group asks for all of it.
#[derive(Clone, Copy)]
struct Ask {
    first: usize,
    every: usize,
}

/// Step `j` of a tile: vector `j` of its weight rows `ws` times the vectors `xs` of its input
/// rows, added to the accumulators. The shorter side of the tile stays in registers while the
/// other streams past it: `RW + XG` loads, and `RW · XG + min(RW, XG) + 1` registers (sixteen at
/// most).
#[inline(always)]
fn step<L: Lanes, D: Direct, const RW: usize, const XG: usize>(
    lanes: L,
    acc: &mut [[L::V; XG]; RW],
    ws: &[&[[D; LANES]]; RW],
    xs: &[[f32; LANES]; XG],
    j: usize,
) {
    if RW <= XG {
        let wv: [L::V; RW] = std::array::from_fn(|a| D::load(lanes, ws[a][j]));
        for (g, &xv) in xs.iter().enumerate() {
            let xv = lanes.load(xv);
            for (acc, &wv) in acc.iter_mut().zip(&wv) {
                acc[g] = lanes.mul_add(xv, wv, acc[g]);
            }
        }
    } else {
        let xv: [L::V; XG] = xs.map(|xv| lanes.load(xv));
        for (acc, ws) in acc.iter_mut().zip(ws) {
            let wv = D::load(lanes, ws[j]);
            for (acc, &xv) in acc.iter_mut().zip(&xv) {
                *acc = lanes.mul_add(xv, wv, *acc);
            }
        }
    }
}

/// `XG` input rows (interleaved vectors `xp`, original rows `xt` for the tails) times `RW`
/// weight rows `w` (each `k` long): `out[a][g]` = w row a · x row g, in the one order of
/// arithmetic of this module. Meanwhile the first group of the tile asks for the next tile's
/// rows, the first `RW · k` elements of `ahead`, in memory order: a few cache lines a step, so
/// that the requests run ahead of the loads as one ascending stream.
///
/// The tile itself reads its `RW` rows side by side, `RW` streams a row's length apart. Asking
/// for the next tile row by row, in that same interleaved order, left the one-row product of a
/// 530 MB matrix at 24–26 GB/s on a 2-core AMD EPYC (Zen 4) whose plain sequential read gave
/// 35–60 GB/s; asking in memory order gave 40–47 GB/s in the same runs (two to three input rows:
/// 24–26 → 40–47 GB/s). Two tiles ahead was slower, 38–43.
#[inline(always)]
fn dot_tile<L: Lanes, D: Direct, const RW: usize, const XG: usize>(
    lanes: L,
    xp: &[[f32; LANES]],
    xt: &[f32],
    w: &[D],
    ahead: &[D],
    ask: Ask,
    k: usize,
) -> [[f32; XG]; RW] {
    let body = k / LANES * LANES;
    let steps = body / LANES;
    // Every slice `steps` long, so that the loop indexes them without checks.
    fn rows<D: Direct, const RW: usize>(w: &[D], k: usize, steps: usize) -> [&[[D; LANES]]; RW] {
        std::array::from_fn(|a| &pulp::as_arrays::<LANES, D>(&w[a * k..]).0[..steps])
    }
    let ws = rows::<D, RW>(w, k, steps);
    let xs = &pulp::as_arrays::<XG, [f32; LANES]>(xp).0[..steps];
    let mut acc = [[lanes.zero(); XG]; RW];
    let next = if ask.first == 0 {
        &ahead[..ahead.len().min(RW * k)]
    } else {
        &[]
    };
    if next.is_empty() || steps == 0 {
        for (j, xs) in xs.iter().enumerate() {
            step(lanes, &mut acc, &ws, xs, j);
        }
    } else {
        // Step j asks for the lines that start in its share of `next`.
        let line = (CACHE_LINE / std::mem::size_of::<D>()).max(1);
        let share = next.len().div_ceil(steps);
        let mut at = 0;
        for (j, xs) in xs.iter().enumerate() {
            let end = ((j + 1) * share).min(next.len());
            while at < end {
                lanes.prefetch(&next[at]);
                at += line;
            }
            step(lanes, &mut acc, &ws, xs, j);
        }
    }
    let mut out = [[0f32; XG]; RW];
    for (a, (out, acc)) in out.iter_mut().zip(acc).enumerate() {
        for (g, (out, acc)) in out.iter_mut().zip(acc).enumerate() {
            let l = lanes.to_array(acc);
            let tail = xt[g * k + body..(g + 1) * k]
                .iter()
                .zip(&w[a * k + body..(a + 1) * k])
                .fold(0f32, |s, (&xv, &wv)| lanes.mul_add_one(xv, wv.to_f32(), s));
            *out = (((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))) + tail;
        }
    }
    out
}

#[cfg(test)]
mod tests;
