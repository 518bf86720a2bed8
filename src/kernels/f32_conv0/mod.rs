//! The first layer, a 3x3 stride-2 convolution from 3 input channels (conv0), computed
//! directly from the NHWC image: one output row per call.
//!
//! Why not im2col + GEMM: with K = 27 the patch matrix is as large as the work (27 floats
//! written and read again per output pixel), and the GEMM tile pays its bias, clamp and
//! stores every 27 k steps. Here a register tile of P output pixels x 1 or 2 vectors of
//! output channels accumulates the 27 taps straight from the three input rows. Per input
//! row and channel a tile holds the 3 taps (kx = 0, 1, 2) of each vector in registers and
//! walks its 2P + 1 input columns: each value is loaded (broadcast) once and feeds every
//! pixel whose window holds it (at stride 2 an even column belongs to two windows), so a
//! tile loads ~2/3 of an input value per FMA and vector instead of 1. Weights are packed
//! per block of `LANES` output channels: the bias, then the 27 taps in OHWI (ky, kx, c)
//! order, zero-padded. Every pixel sums bias, then per (ky, c) kx = 0, 1, 2, whichever tile
//! computes it, so rows and row ranges assemble the same image bit for bit.
//!
//! Pixels whose window lies inside the image columns run in tiles of P, then H, pixels; a
//! remainder shorter than H reruns the last H pixels (same values stored twice) when the
//! row has that many. Border pixels (left/right padding) copy their window into 27 floats
//! on the stack, zeros where it covers padding, and run a 1-pixel tile on it. Missing rows
//! (top/bottom padding) are skipped, 9 taps at a time. The algorithm is written once,
//! generic over the [`Simd`] trait it shares with the depthwise kernels; each ISA file instantiates it with
//! its tile sizes.

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
#[cfg(target_arch = "x86_64")]
mod pairs;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

use super::cpu::{Cpu, Features, Isa};
use super::simd::scalar::{self as portable, Portable};
use super::simd::Simd;
use super::table::{Kernel, KernelId};
use crate::activation::Clamp;

/// Input channels of the layer.
pub const IN_C: usize = 3;
/// Weights per output channel: 3 x 3 x 3.
pub const TAPS: usize = 27;
/// Vectors per packed channel block: the bias, then the 27 taps.
pub const PACKED_VECTORS: usize = 1 + TAPS;
/// Most pixels per tile (the unrolled code in `Sweep::tile` covers this many).
const MAX_TILE: usize = 24;

/// One output row of conv0 (stride 2, 3 input channels).
///
/// `input[ky]` is the input row `oy * 2 - pad_top + ky` (`in_w * 3` floats used), or
/// `None` where that row is padding. Output pixel `ox` reads columns
/// `ox * 2 - pad_left + {0, 1, 2}`; those outside `0..in_w` are zero. `out` holds the
/// row, `out_w * out_c` floats (longer is allowed); `weights` the packed blocks,
/// `ceil(out_c / block) * 28 * block` floats (see [`pack`]).
pub struct Conv0Row<'a> {
    pub input: [Option<&'a [f32]>; 3],
    pub in_w: usize,
    pub pad_left: usize,
    pub out: &'a mut [f32],
    pub out_w: usize,
    pub out_c: usize,
    pub weights: &'a [f32],
    pub clamp: Clamp,
}

/// A conv0 kernel: computes one output row. Panics if the call breaks the documented
/// contract (`ops::conv0` validates shapes first, so this only guards direct callers).
pub type Conv0Fn = fn(Conv0Row<'_>);

/// A conv0 kernel with its packing width.
#[derive(Debug)]
pub struct Conv0Kernel {
    pub id: KernelId,
    /// Safe to call on any CPU: each entry checks the CPU it needs first.
    pub row: Conv0Fn,
    /// Output channels per packed block (the vector width).
    pub block: usize,
    /// The most output channels it takes (`usize::MAX`: any).
    pub max_out_c: usize,
}

impl Kernel for Conv0Kernel {
    fn id(&self) -> &KernelId {
        &self.id
    }
}

/// Every conv0 kernel, best first.
pub static TABLE: &[Conv0Kernel] = &[
    #[cfg(target_arch = "x86_64")]
    x86::AVX512_PAIRS,
    #[cfg(target_arch = "x86_64")]
    x86::AVX512,
    #[cfg(target_arch = "x86_64")]
    x86::AVX2,
    #[cfg(target_arch = "aarch64")]
    neon::NEON,
    SCALAR,
];

/// The conv0 kernel for `cpu` and a layer of `out_c` output channels.
pub fn best(cpu: Cpu, out_c: usize) -> &'static Conv0Kernel {
    super::table::best(TABLE, cpu, |k| out_c <= k.max_out_c).unwrap_or(&SCALAR)
}

impl Conv0Row<'_> {
    /// Checks everything the algorithm relies on for memory safety.
    pub(crate) fn check(&self, block: usize) {
        let row_len = self.in_w.checked_mul(IN_C);
        let out_len = self.out_w.checked_mul(self.out_c);
        let packed = self
            .out_c
            .div_ceil(block.max(1))
            .checked_mul(PACKED_VECTORS * block);
        let ok = self.in_w >= 1
            && self.out_w >= 1
            && self.out_c >= 1
            && self.pad_left <= 1
            && row_len.is_some_and(|n| self.input.iter().flatten().all(|r| r.len() >= n))
            && out_len.is_some_and(|n| self.out.len() >= n)
            && packed.is_some_and(|n| self.weights.len() >= n)
            // The last output's window ends at most one column past the image (padding).
            && (self.out_w - 1)
                .checked_mul(2)
                .and_then(|x| x.checked_add(2))
                .is_some_and(|last| last <= self.in_w + self.pad_left)
            && !self.clamp.min.is_nan()
            && !self.clamp.max.is_nan();
        assert!(ok, "conv0 kernel called outside its contract");
    }
}

/// Packs `weights` ([C][3][3][3], OHWI) and `bias` ([C]) into blocks of `block` output
/// channels: per block the bias vector, then the 27 tap vectors, each zero-padded to
/// `block` lanes.
pub(crate) fn pack(block: usize, out_c: usize, weights: &[f32], bias: &[f32]) -> Vec<f32> {
    super::pack_channel_blocks(block, TAPS, out_c, weights, bias)
}

/// Computes a checked row: channel blocks in pairs (the last one alone if their count is
/// odd), each pair or block swept along the row in tiles of `P2` then `H2` pixels (pairs)
/// or `P1` then `H1` (a single block), the ISA's choice for its register count.
///
/// # Safety
/// `s` is a valid token (the ISA's features are enabled) and `a.check(S::LANES)` passed.
#[inline(always)]
pub(crate) unsafe fn row<
    S: Simd,
    const P2: usize,
    const H2: usize,
    const P1: usize,
    const H1: usize,
>(
    s: S,
    a: &mut Conv0Row<'_>,
) {
    let lanes = S::LANES;
    let blocks = a.out_c.div_ceil(lanes);
    let last_lanes = a.out_c - (blocks - 1) * lanes;
    let (first, end) = interior(a);
    let g = Sweep {
        input: a.input,
        in_w: a.in_w,
        pl: a.pad_left,
        out: a.out.as_mut_ptr(),
        out_c: a.out_c,
        lo: s.splat(a.clamp.min),
        hi: s.splat(a.clamp.max),
        t: s.tail(last_lanes),
    };
    let mut b = 0;
    while b < blocks {
        let v = if blocks - b >= 2 { 2 } else { 1 };
        let masked = b + v == blocks && last_lanes < lanes;
        // SAFETY: blocks b .. b + v exist (b + v <= blocks), so their packed weights are
        // inside `weights` (checked) and their channels inside each output pixel.
        let w = unsafe { a.weights.as_ptr().add(b * PACKED_VECTORS * lanes) };
        let c0 = b * lanes;
        // SAFETY: as `sweep` requires: a checked row, blocks b .. b + v, `first..end` the
        // interior pixels.
        unsafe {
            match (v, masked) {
                (2, false) => g.sweep::<2, false, P2, H2>(s, w, c0, first, end, a.out_w),
                (2, true) => g.sweep::<2, true, P2, H2>(s, w, c0, first, end, a.out_w),
                (_, false) => g.sweep::<1, false, P1, H1>(s, w, c0, first, end, a.out_w),
                (_, true) => g.sweep::<1, true, P1, H1>(s, w, c0, first, end, a.out_w),
            }
        }
        b += v;
    }
}

/// Output pixels `first..end` have their window inside the image columns
/// (2 ox - pad_left >= 0 and 2 ox - pad_left + 2 < in_w); the others touch padding.
fn interior(a: &Conv0Row<'_>) -> (usize, usize) {
    let (in_w, pl) = (a.in_w, a.pad_left);
    let end = if in_w + pl >= 3 {
        ((in_w + pl - 3) / 2 + 1).min(a.out_w)
    } else {
        0
    };
    (pl.min(end), end)
}

/// The window of output pixel `ox` as three rows of 9 floats, zero where it covers
/// padding: border pixels run their 1-pixel tile on this copy.
fn window(input: &[Option<&[f32]>; 3], in_w: usize, pl: usize, ox: usize) -> [f32; TAPS] {
    let mut win = [0.0; TAPS];
    for (ky, r) in input.iter().enumerate() {
        let Some(r) = r else { continue };
        for kx in 0..3 {
            let x = (ox * 2 + kx).wrapping_sub(pl);
            if x < in_w {
                let at = (ky * 3 + kx) * IN_C;
                win[at..at + IN_C].copy_from_slice(&r[x * IN_C..(x + 1) * IN_C]);
            }
        }
    }
    win
}

/// Raw pointers to three input rows (of the image, or of a stack window), null where a
/// row is missing (padding): what the tiles read.
fn row_ptrs(input: &[Option<&[f32]>; 3]) -> [*const f32; 3] {
    input.map(|r| r.map_or(std::ptr::null(), |r| r.as_ptr()))
}

/// What every tile of a row shares.
struct Sweep<'a, S: Simd> {
    /// The three input rows, `None` where missing (padding).
    input: [Option<&'a [f32]>; 3],
    in_w: usize,
    pl: usize,
    out: *mut f32,
    out_c: usize,
    lo: S::V,
    hi: S::V,
    /// Live lanes of the last block.
    t: S::Tail,
}

impl<S: Simd> Sweep<'_, S> {
    /// Channel blocks from `c0 / LANES` on, `V` of them (weights at `w`), over the whole
    /// row: interior pixels `first..end` in tiles, the others one by one from a window on
    /// the stack.
    ///
    /// # Safety
    /// The row was checked; `w` points at `V` consecutive packed blocks and channels
    /// `c0 .. c0 + V * LANES` (only the live lanes of the last if `MASKED`) lie in each
    /// output pixel; `first..end` are the pixels whose window is inside the image columns.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn sweep<const V: usize, const MASKED: bool, const P: usize, const H: usize>(
        &self,
        s: S,
        w: *const f32,
        c0: usize,
        first: usize,
        end: usize,
        out_w: usize,
    ) {
        let n = end - first;
        let mut ox = first;
        let rows = row_ptrs(&self.input);
        // SAFETY: every tile: pixels ox .. ox + Q lie in first..end, so their windows
        // are inside the image columns; the output pixels are inside the row.
        unsafe {
            while end - ox >= P {
                self.tile::<V, MASKED, P>(s, rows, self.x0(ox), w, c0, ox);
                ox += P;
            }
            while end - ox >= H {
                self.tile::<V, MASKED, H>(s, rows, self.x0(ox), w, c0, ox);
                ox += H;
            }
            if ox < end && n >= H {
                // The last H interior pixels again: the remainder and some already done.
                self.tile::<V, MASKED, H>(s, rows, self.x0(end - H), w, c0, end - H);
                ox = end;
            }
            while ox < end {
                self.tile::<V, MASKED, 1>(s, rows, self.x0(ox), w, c0, ox);
                ox += 1;
            }
            for ox in (0..first).chain(end.max(first)..out_w) {
                let win = window(&self.input, self.in_w, self.pl, ox);
                let (top, rest) = win.split_at(9);
                let (mid, bottom) = rest.split_at(9);
                self.tile::<V, MASKED, 1>(
                    s,
                    row_ptrs(&[Some(top), Some(mid), Some(bottom)]),
                    0,
                    w,
                    c0,
                    ox,
                );
            }
        }
    }

    /// Float offset in a row of the window of interior pixel `ox`.
    #[inline(always)]
    fn x0(&self, ox: usize) -> usize {
        (ox * 2 - self.pl) * IN_C
    }

    /// Output pixels `ox .. ox + P`, channel blocks `c0 / LANES ..` (`V` of them): bias,
    /// then per row ky and channel c the taps kx = 0, 1, 2, pixel p reading
    /// `rows[ky][x0 + 3 (2p + kx) + c]`; rows that are null are skipped.
    ///
    /// # Safety
    /// Every such read is inside its row, the pixels inside the output row, and `w` and
    /// `c0` as in [`Sweep::sweep`].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn tile<const V: usize, const MASKED: bool, const P: usize>(
        &self,
        s: S,
        rows: [*const f32; 3],
        x0: usize,
        w: *const f32,
        c0: usize,
        ox: usize,
    ) {
        const { assert!(P >= 1 && P <= MAX_TILE) };
        // No closures here: they would not inherit the entry's target features.
        let lanes = S::LANES;
        let block = PACKED_VECTORS * lanes;
        let mut k = [s.splat(0.0); V];
        for (v, k) in k.iter_mut().enumerate() {
            // SAFETY: packed blocks are whole vectors (zero-padded), so weight loads are
            // never masked; the offset is block v's bias, inside the V blocks at `w`.
            *k = unsafe { s.load::<false>(w.add(v * block), self.t) };
        }
        let mut acc = [k; P];
        let mut k = [k; 3];
        for (ky, &r) in rows.iter().enumerate() {
            if r.is_null() {
                continue;
            }
            for c in 0..IN_C {
                // The taps (ky, kx, c) for kx = 0, 1, 2, then the 2P + 1 input columns of
                // the tile in this row and channel: each is loaded once and feeds every
                // pixel whose window holds it (an even column two pixels, with kx = 0 and
                // kx = 2), so per tap and pixel a tile loads 2/3 of an input value, not 1.
                for (kx, k) in k.iter_mut().enumerate() {
                    let tap = 1 + (ky * 3 + kx) * IN_C + c;
                    for (v, k) in k.iter_mut().enumerate() {
                        // SAFETY: as for the bias, tap `tap` of block v.
                        *k = unsafe { s.load::<false>(w.add(v * block + tap * lanes), self.t) };
                    }
                }
                // Pixel p gets kx = 0 and 1 from columns 2p and 2p + 1, kx = 2 from
                // column 2p + 2 (with pixel p + 1's kx = 0): the same order in every tile.
                let col = |x: usize| {
                    // SAFETY: the caller's window bound (column 2P is pixel P - 1's last).
                    unsafe { r.add(x0 + x * IN_C + c) }
                };
                // Unrolled by hand: LLVM leaves a loop over 24 pixels rolled, and the
                // accumulators then live on the stack. `p < P` folds at compile time.
                macro_rules! pixel {
                    ($($p:literal)*) => {$(
                        if $p < P {
                            // SAFETY: see `col`.
                            let b = s.splat(unsafe { *col(2 * $p) });
                            if $p > 0 {
                                for v in 0..V {
                                    acc[$p - 1][v] = s.fma(b, k[2][v], acc[$p - 1][v]);
                                }
                            }
                            for v in 0..V {
                                acc[$p][v] = s.fma(b, k[0][v], acc[$p][v]);
                            }
                            // SAFETY: see `col`.
                            let b = s.splat(unsafe { *col(2 * $p + 1) });
                            for v in 0..V {
                                acc[$p][v] = s.fma(b, k[1][v], acc[$p][v]);
                            }
                        }
                    )*};
                }
                pixel!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23);
                // SAFETY: see `col`.
                let b = s.splat(unsafe { *col(2 * P) });
                for v in 0..V {
                    acc[P - 1][v] = s.fma(b, k[2][v], acc[P - 1][v]);
                }
            }
        }
        for (p, acc) in acc.iter().enumerate() {
            let o = self.out.wrapping_add((ox + p) * self.out_c + c0);
            for (v, &a) in acc.iter().enumerate() {
                let y = s.clamp(a, self.lo, self.hi);
                // SAFETY: pixel ox + p is inside the row; channels c0 + v * LANES .. are
                // whole vectors except the last of a MASKED group, stored masked.
                unsafe {
                    if MASKED && v == V - 1 {
                        s.store::<true>(o.add(v * lanes), y, self.t)
                    } else {
                        s.store::<false>(o.add(v * lanes), y, self.t)
                    }
                }
            }
        }
    }
}

pub const SCALAR: Conv0Kernel = Conv0Kernel {
    id: KernelId {
        name: "f32_conv0_8c_scalar",
        isa: Isa::Scalar,
        features: Features::NONE,
        detail: "rust portable, 2 or 4 pixels x 8 channels, direct from the image",
    },
    row: scalar_row,
    block: portable::LANES,
    max_out_c: usize::MAX,
};

fn scalar_row(mut a: Conv0Row<'_>) {
    a.check(portable::LANES);
    // SAFETY: the portable token needs no CPU feature; `check` validated the row.
    // Tiles of 2 / 4 pixels: the 8-lane arrays live in pairs of SSE2 or NEON registers.
    unsafe { row::<Portable, 2, 1, 4, 2>(Portable, &mut a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The portable kernel on every tiny row shape against a direct sum: short enough for
    /// Miri (CI runs it there), which checks the raw-pointer reads and writes.
    #[test]
    fn portable_row_matches_a_direct_sum() {
        for in_w in 1..=7usize {
            for pl in 0..=1usize {
                for pr in 0..=1usize {
                    let Some(out_w) = (in_w + pl + pr).checked_sub(3).map(|n| n / 2 + 1) else {
                        continue;
                    };
                    for (out_c, top_missing) in [(1, false), (9, true), (17, false)] {
                        let val = |i: usize| ((i * 37 % 11) as f32 - 5.0) * 0.25;
                        let rows: Vec<Vec<f32>> = (0..3)
                            .map(|ky| (0..in_w * IN_C).map(|i| val(i + 7 * ky)).collect())
                            .collect();
                        let weights: Vec<f32> = (0..out_c * TAPS).map(|i| val(i + 3)).collect();
                        let bias: Vec<f32> = (0..out_c).map(|i| val(i + 5)).collect();
                        let block = portable::LANES;
                        let packed = pack(block, out_c, &weights, &bias);
                        let mut out = vec![f32::NAN; out_w * out_c + 3];
                        let input = [0, 1, 2]
                            .map(|ky| (ky > 0 || !top_missing).then_some(rows[ky].as_slice()));
                        (SCALAR.row)(Conv0Row {
                            input,
                            in_w,
                            pad_left: pl,
                            out: &mut out[..out_w * out_c],
                            out_w,
                            out_c,
                            weights: &packed,
                            clamp: Clamp::NONE,
                        });
                        for ox in 0..out_w {
                            for o in 0..out_c {
                                let mut want = bias[o];
                                for (ky, row) in input.iter().enumerate() {
                                    for kx in 0..3 {
                                        let x = (2 * ox + kx).wrapping_sub(pl);
                                        if let (Some(row), true) = (row, x < in_w) {
                                            for c in 0..IN_C {
                                                let w = weights[o * TAPS + (ky * 3 + kx) * 3 + c];
                                                want += w * row[x * IN_C + c];
                                            }
                                        }
                                    }
                                }
                                let got = out[ox * out_c + o];
                                assert!(
                                    (got - want).abs() <= 1e-4,
                                    "in_w {in_w} pl {pl} c {out_c} pixel {ox} ch {o}: {got} vs {want}"
                                );
                            }
                        }
                        assert!(
                            out[out_w * out_c..].iter().all(|v| v.is_nan()),
                            "wrote past"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn pack_places_bias_then_taps_zero_padded() {
        // 3 channels, block 2: block 0 holds channels 0, 1; block 1 channel 2 and a zero lane.
        let weights: Vec<f32> = (0..81).map(|i| i as f32 + 1.0).collect();
        let p = pack(2, 3, &weights, &[-1.0, -2.0, -3.0]);
        assert_eq!(p.len(), 2 * 28 * 2);
        assert_eq!(&p[0..2], &[-1.0, -2.0]);
        // tap 0 of channels 0 and 1: weights[0], weights[27].
        assert_eq!(&p[2..4], &[1.0, 28.0]);
        // tap 26 of channels 0 and 1: weights[26], weights[53].
        assert_eq!(&p[54..56], &[27.0, 54.0]);
        assert_eq!(&p[56..58], &[-3.0, 0.0]);
        assert_eq!(&p[110..112], &[81.0, 0.0]);
    }
}
