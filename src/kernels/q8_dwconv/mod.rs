//! Int8 depthwise 3x3 (stride 1 or 2, any padding of 0..=2 per side, any channel count):
//! `y = requantize(bias + sum over in-image taps (x - zp_in) * w, scale[c])` per channel
//! with u8 activations and s8 weights, bit-identical to `reference::q8::q8_depthwise3x3`.
//!
//! Design: the dot-product units do 4 taps per i32 lane. For one input column `cx` of one
//! output row, the three input rows it reads are interleaved byte-wise so that each i32
//! lane holds one channel's vertical triple `[x(ky=0), x(ky=1), x(ky=2), 0]`; the column's
//! weights are packed the same way (`[w(0,kx), w(1,kx), w(2,kx), 0]` per channel). An output
//! is then 3 dot products per register (kx = 0, 1, 2) into its folded bias. Along a row the
//! interleaved columns slide: at stride 1 each is built once and feeds the three outputs
//! that read it, at stride 2 one of two columns is shared. Padding taps read the input
//! zero point (a packed zero-point vector stands for missing rows and columns), whose
//! products the folded bias (`quant::fold_bias`) cancels exactly, so no input is copied
//! and no scratch is needed.
//!
//! The interleave is two rounds of byte then 16-bit unpacks, which on x86 work inside each
//! 128-bit lane: a block of `B` channels becomes 4 registers `r` whose lane `i` holds
//! channel `16 * (i / 4) + 4 * r + i % 4`. The pack back to bytes after requantization
//! (`packs` of registers 0, 1 and of 2, 3, then `packus`, also per 128-bit lane) restores
//! the natural order, so only the bias, scales and weights are packed in this permuted
//! order ([`pack`]). NEON's `zip1`/`zip2` give the same order with 16-channel blocks.
//!
//! Kernels with `DwVec::HALVES` (AVX512-VNNI) sweep a full block twice, once per half
//! (registers 0-1, then 2-3), so that the half's weight registers stay in registers
//! rather than being reloaded for every output: the register file cannot hold a whole
//! block's 12 (24 with a row pair's shifted copies) next to its columns and accumulators.
//! The first half parks its saturated 16-bit values in the block's output bytes, which
//! the second half reads back to pack both to bytes.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod x86;

#[cfg(target_arch = "aarch64")]
pub mod neon;

use super::cpu::Cpu;
use super::table::{Kernel, KernelId};
use crate::quant::{fold_bias, OutQ};
use crate::{Error, Result};
use std::ops::Range;

/// One int8 depthwise 3x3 kernel and its packing.
#[derive(Debug)]
pub struct Q8DwKernel {
    pub id: KernelId,
    /// Channels per full block (one group of 4 registers).
    pub block: usize,
    /// Width of the last block when the remaining channels fit in it (a narrower register
    /// set for channel counts like 32 below a 64-channel block); else `block`.
    pub tail_block: usize,
    /// Weights widened to i16 pairs at pack time, for kernels without byte dot products:
    /// per lane `[w0, w2]` then, one register later, `[w1, 0]`.
    pub wide: bool,
    /// What the kernel subtracts from every input byte before multiplying (128 where it
    /// flips u8 to s8 for a signed dot product), folded into the packed bias.
    pub a_offset: i32,
    /// Computes `args`; checks them first and refuses a CPU that lacks the kernel's ISA.
    pub run: fn(Q8DwArgs<'_>) -> Result<()>,
}

impl Kernel for Q8DwKernel {
    fn id(&self) -> &KernelId {
        &self.id
    }
}

impl Q8DwKernel {
    /// Packed bytes per channel of a block: bias and scale (4 + 4) and 3 columns of 4
    /// taps (12, or 24 widened).
    fn bytes_per_channel(&self) -> usize {
        if self.wide {
            32
        } else {
            20
        }
    }

    /// The blocks of `channels`: (first channel, width), full blocks then the tail.
    pub fn blocks(&self, channels: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..channels).step_by(self.block).map(move |c0| {
            let rem = channels - c0;
            let width = if rem <= self.tail_block {
                self.tail_block
            } else {
                self.block
            };
            (c0, width)
        })
    }

    /// Bytes of the packed weights of `channels`.
    pub fn packed_len(&self, channels: usize) -> usize {
        self.blocks(channels)
            .last()
            .map_or(0, |(c0, b)| (c0 + b) * self.bytes_per_channel())
    }
}

/// Output rows `rows` of one image. `image` is `[in_h][in_w][channels]` u8 (zero point
/// folded into `weights`); `out` holds the rows `rows`, `rows.len() * out_w * out_px`
/// bytes, pixels `out_px >= channels` apart (the bytes after each pixel's channels are
/// not written). Output (oy, ox) reads input rows `oy * stride - pad_top + {0, 1, 2}` and
/// columns `ox * stride - pad_left + {0, 1, 2}`; those outside the image are padding.
/// `weights` is [`pack`]ed for the kernel; `zp` holds `channels` bytes of the input
/// zero point (what padding taps read).
pub struct Q8DwArgs<'a> {
    pub image: &'a [u8],
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub out: &'a mut [u8],
    pub out_w: usize,
    pub out_px: usize,
    pub rows: Range<usize>,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub weights: &'a [u8],
    pub zp: &'a [u8],
    pub out_q: OutQ,
}

impl Q8DwArgs<'_> {
    /// Checks everything the kernels rely on for memory safety: what each kernel's safe
    /// entry calls before its `unsafe` code.
    pub fn check(&self, kernel: &Q8DwKernel) -> Result<()> {
        let c = self.channels;
        let image = self
            .in_h
            .checked_mul(self.in_w)
            .and_then(|n| n.checked_mul(c));
        let out = self
            .out_w
            .checked_mul(self.out_px)
            .and_then(|n| n.checked_mul(self.rows.len()));
        let ok = c >= 1
            && matches!(self.stride, 1 | 2)
            && self.out_px >= c
            && self.in_h >= 1
            && self.in_w >= 1
            && self.rows.start <= self.rows.end
            && image.is_some_and(|n| self.image.len() >= n)
            && out.is_some_and(|n| self.out.len() >= n)
            && self.weights.len() >= kernel.packed_len(c)
            && self.zp.len() >= c
            && self.out_q.lo <= self.out_q.hi
            && (0..=255).contains(&self.out_q.zero_point)
            // Keeps every column and row index computed below far from overflow.
            && self.out_w.checked_mul(2).and_then(|n| n.checked_add(self.pad_left + 2)).is_some()
            && self.rows.end.checked_mul(2).and_then(|n| n.checked_add(self.pad_top + 2)).is_some();
        if ok {
            Ok(())
        } else {
            Err(Error::Shape(format!(
                "{}: called outside its contract ({}x{}x{c} image, {} rows of {} at pixel \
                 stride {}, stride {})",
                kernel.id.name,
                self.in_h,
                self.in_w,
                self.rows.len(),
                self.out_w,
                self.out_px,
                self.stride
            )))
        }
    }
}

/// Every int8 depthwise 3x3 kernel, best first.
pub static TABLE: &[Q8DwKernel] = &[
    #[cfg(target_arch = "x86_64")]
    x86::VNNI,
    #[cfg(target_arch = "x86_64")]
    x86::AVX2,
    #[cfg(target_arch = "aarch64")]
    neon::DOTPROD,
    #[cfg(target_arch = "aarch64")]
    neon::NEON,
    scalar::SCALAR,
];

/// The kernel `cpu` runs: the first entry of [`TABLE`] it has.
pub fn best(cpu: Cpu) -> &'static Q8DwKernel {
    super::table::best(TABLE, cpu, |_| true).unwrap_or(&scalar::SCALAR)
}

/// The channel of lane `i` of register `r` of a block (see the module doc).
#[inline(always)]
pub(crate) fn lane_channel(r: usize, i: usize) -> usize {
    16 * (i / 4) + 4 * r + i % 4
}

/// Packs weights `[c][3][3]`, bias and scales for `kernel`. Per block of width `B` at
/// channel `c0` (at byte `c0 * bytes_per_channel`): 4 registers of `B / 4` i32 folded
/// biases, 4 of f32 scales, then for kx = 0, 1, 2 the 4 registers of weights, lane `i` of
/// register `r` being channel `c0 + lane_channel(r, i)` with taps `[w(0,kx), w(1,kx),
/// w(2,kx), 0]` (widened: `[w0, w2]` as i16 in `B` bytes, then `[w1, 0]` in the next
/// `B`). Lanes past the last channel are zero.
pub fn pack(
    kernel: &Q8DwKernel,
    channels: usize,
    weights: &[i8],
    bias: &[i32],
    scale: &[f32],
    zp_in: i32,
) -> Vec<u8> {
    let per = kernel.bytes_per_channel();
    let wb = if kernel.wide { 2 } else { 1 };
    let mut p = vec![0u8; kernel.packed_len(channels)];
    for (c0, b) in kernel.blocks(channels) {
        let base = c0 * per;
        for r in 0..4 {
            for i in 0..b / 4 {
                let ch = c0 + lane_channel(r, i);
                if ch >= channels {
                    continue;
                }
                let w = &weights[ch * 9..ch * 9 + 9];
                let fb = fold_bias(bias[ch], w.iter().copied(), zp_in, kernel.a_offset);
                let at = base + r * b + 4 * i;
                p[at..at + 4].copy_from_slice(&fb.to_le_bytes());
                let at = base + 4 * b + r * b + 4 * i;
                p[at..at + 4].copy_from_slice(&scale[ch].to_le_bytes());
                for kx in 0..3 {
                    let reg = base + 8 * b + (kx * 4 + r) * b * wb;
                    let t = |ky: usize| w[ky * 3 + kx];
                    if kernel.wide {
                        let e = reg + 4 * i;
                        p[e..e + 2].copy_from_slice(&i16::from(t(0)).to_le_bytes());
                        p[e + 2..e + 4].copy_from_slice(&i16::from(t(2)).to_le_bytes());
                        let o = reg + b + 4 * i;
                        p[o..o + 2].copy_from_slice(&i16::from(t(1)).to_le_bytes());
                    } else {
                        for ky in 0..3 {
                            p[reg + 4 * i + ky] = t(ky) as u8;
                        }
                    }
                }
            }
        }
    }
    p
}

/// The vector operations the sweep is written over, for one block width `B`.
pub(crate) trait DwVec: Copy {
    /// Channels per block.
    const B: usize;
    /// Bytes of packed weights per register (`B`, or `2 * B` widened).
    const WB: usize;
    /// `B` input bytes (one pixel's channels of the block).
    type R: Copy;
    /// One register of interleaved taps: `B / 4` channels x 4 taps.
    type X: Copy;
    /// `B / 4` i32 accumulators.
    type A: Copy;
    /// The requantization constants.
    type Q: Copy;
    /// Loads `n <= B` bytes at `p` (the rest of the register is arbitrary).
    ///
    /// # Safety
    /// `p .. p + n` is readable.
    unsafe fn load(self, p: *const u8, n: usize) -> Self::R;
    /// The vertical triples of three row vectors, in register order.
    fn interleave(self, a: Self::R, b: Self::R, c: Self::R) -> [Self::X; 4];
    /// Loads `B / 4` i32.
    ///
    /// # Safety
    /// `p .. p + B` is readable.
    unsafe fn bias(self, p: *const u8) -> Self::A;
    /// `acc` plus the dot products of the taps `x` with the packed weights at `w`.
    ///
    /// # Safety
    /// `w .. w + WB` is readable.
    unsafe fn dot(self, acc: Self::A, x: Self::X, w: *const u8) -> Self::A;
    fn quant(self, out: OutQ) -> Self::Q;
    /// Requantizes the 4 accumulator registers with the scales at `scale` (4 registers
    /// of `B / 4` f32) and stores the first `n` channels, in natural order, at `p`.
    ///
    /// # Safety
    /// `scale .. scale + 4 * B` is readable and `p .. p + n` writable.
    unsafe fn store(self, acc: [Self::A; 4], scale: *const u8, q: Self::Q, p: *mut u8, n: usize);
    /// As [`DwVec::store`], for blocks whose scales are all below 1 (so no product of a
    /// scale and an i32 reaches 2^31 and the float clamps may move after the conversion).
    ///
    /// # Safety
    /// As [`DwVec::store`].
    #[inline(always)]
    unsafe fn store_small(
        self,
        acc: [Self::A; 4],
        scale: *const u8,
        q: Self::Q,
        p: *mut u8,
        n: usize,
    ) {
        // SAFETY: forwarded.
        unsafe { self.store(acc, scale, q, p, n) }
    }
    /// Whether the type has the two-row stride-1 sweep ([`DwVec::interleave4`] and
    /// [`DwVec::shift_weights`]).
    const PAIR: bool = false;
    /// The 4-row taps `[x(a), x(b), x(c), x(d)]` per lane, in register order; only called
    /// if `PAIR`.
    fn interleave4(self, a: Self::R, b: Self::R, c: Self::R, d: Self::R) -> [Self::X; 4] {
        let _ = d;
        self.interleave(a, b, c)
    }
    /// Writes the `WB` weight bytes at `src` to `dst` with every i32 lane shifted up one
    /// byte (`[w0, w1, w2, 0]` becomes `[0, w0, w1, w2]`); only called if `PAIR`.
    ///
    /// # Safety
    /// `src .. src + WB` readable, `dst .. dst + WB` writable.
    unsafe fn shift_weights(self, src: *const u8, dst: *mut u8) {
        let _ = (src, dst);
    }
    /// Whether [`DwVec::pair_halves`] computes full blocks of the two-row stride-1 pass.
    const HALVES: bool = false;
    /// The two-row stride-1 pass of a full block (`n == B`) as two sweeps over half
    /// blocks with the weights in registers ([`sweep_pair_halves`]); only called if
    /// `HALVES`.
    ///
    /// # Safety
    /// As [`sweep_pair`] with `n == S::B`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn pair_halves<const SMALL: bool>(
        self,
        a: &Q8DwArgs<'_>,
        rows: &[InRow; 4],
        out: [*mut u8; 2],
        c0: usize,
        w: *const u8,
        q: Self::Q,
    ) {
        let _ = (a, rows, out, c0, w, q);
    }
    /// One output row of a full block as two half-block sweeps
    /// ([`sweep_single_halves`]); only called if `HALVES`.
    ///
    /// # Safety
    /// As [`sweep`] with `n == S::B`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn single_halves<const SMALL: bool>(
        self,
        a: &Q8DwArgs<'_>,
        rows: &[InRow; 3],
        out: *mut u8,
        c0: usize,
        w: *const u8,
        q: Self::Q,
    ) {
        let _ = (a, rows, out, c0, w, q);
    }
}

/// The half-block operations of [`sweep_pair_halves`]: half `H` of a block is registers
/// `2 H` and `2 H + 1` of its interleave (the channels of the `H`-th half of each 16
/// bytes on x86), so the sweep over it holds its 12 weight registers, 2 bias and 2 scale
/// registers without spilling.
// Only x86 implements the half-block sweeps so far.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) trait DwHalves: DwVec {
    /// Registers `2 H` and `2 H + 1` of [`DwVec::interleave4`].
    fn interleave4_half<const H: usize>(
        self,
        a: Self::R,
        b: Self::R,
        c: Self::R,
        d: Self::R,
    ) -> [Self::X; 2];
    /// One weight register.
    ///
    /// # Safety
    /// `p .. p + WB` is readable.
    unsafe fn load_w(self, p: *const u8) -> Self::X;
    /// The weight register with every i32 lane shifted up one byte.
    fn shift_w(self, w: Self::X) -> Self::X;
    /// `acc` plus the dot products of `x` with the weight register `w`.
    fn dot_w(self, acc: Self::A, x: Self::X, w: Self::X) -> Self::A;
    /// Requantizes half `H`'s 2 accumulators with the 2 scale registers at `scale`. Half 0
    /// leaves its saturated 16-bit values (plus the zero point), `B` bytes, at `p`; half 1
    /// reads them back, packs both halves to bytes in natural order and stores the `B`
    /// output bytes at `p`: the same ops on the same values as [`DwVec::store`].
    ///
    /// # Safety
    /// `scale .. scale + 2 * B` readable, `p .. p + B` writable (and, for half 1, holding
    /// half 0's values).
    unsafe fn store_half<const H: usize, const SMALL: bool>(
        self,
        acc: [Self::A; 2],
        scale: *const u8,
        q: Self::Q,
        p: *mut u8,
    );
}

/// One input row of an output row: its first pixel and its pixel stride, or the zero
/// point vector and stride 0 for a padding row.
#[derive(Clone, Copy)]
pub(crate) struct InRow {
    p: *const u8,
    px: usize,
}

/// The `R` input rows from output row `oy` on (3 for one output row, 4 for two at stride
/// 1) and output row `oy`'s pointer (`out` is the call's output buffer).
///
/// # Safety
/// `a` was checked and `oy` is in `a.rows`.
#[inline(always)]
unsafe fn row_setup<const R: usize>(
    a: &Q8DwArgs<'_>,
    out: *mut u8,
    oy: usize,
) -> ([InRow; R], *mut u8) {
    let c = a.channels;
    let mut r = [InRow {
        p: a.zp.as_ptr(),
        px: 0,
    }; R];
    for (ky, r) in r.iter_mut().enumerate() {
        let iy = (oy * a.stride + ky).wrapping_sub(a.pad_top);
        if iy < a.in_h {
            // SAFETY: iy < in_h, so the row starts inside the checked image.
            r.p = unsafe { a.image.as_ptr().add(iy * a.in_w * c) };
            r.px = c;
        }
    }
    // SAFETY: oy - rows.start < rows.len(), inside the checked output.
    let out = unsafe { out.add((oy - a.rows.start) * a.out_w * a.out_px) };
    (r, out)
}

/// The input rows a sweep reads: each one's pointer at the block's first channel and its
/// pixel stride (a padding row points at the zero-point vector with stride 0, so it reads
/// zero points at every column).
struct Cols<const R: usize> {
    p: [*const u8; R],
    px: [usize; R],
    n: usize,
}

impl<const R: usize> Cols<R> {
    /// # Safety
    /// `rows` come from [`row_setup`] and `c0` is below the channel count.
    #[inline(always)]
    unsafe fn new(rows: &[InRow; R], c0: usize, n: usize) -> Self {
        let mut p = [rows[0].p; R];
        let mut px = [0; R];
        for i in 0..R {
            // SAFETY: c0 is inside the row's first pixel or the zero-point vector.
            p[i] = unsafe { rows[i].p.add(c0) };
            px[i] = rows[i].px;
        }
        Cols { p, px, n }
    }
}

/// The interleaved input column `cx < in_w`: 3 rows, or 4 if `R == 4`; `n` channels, or
/// `S::B` if `FULL`.
///
/// # Safety
/// As [`sweep`], and `cx < in_w`.
#[inline(always)]
unsafe fn col_at<S: DwVec, const R: usize, const FULL: bool>(
    s: S,
    g: &Cols<R>,
    zr: S::R,
    cx: usize,
) -> [S::X; 4] {
    let n = if FULL { S::B } else { g.n };
    let mut v = [zr; R];
    #[allow(clippy::needless_range_loop)]
    for i in 0..R {
        // SAFETY: a present row at cx < in_w, or the zero-point vector; `n` bytes of the
        // block's channels either way.
        v[i] = unsafe { s.load(g.p[i].add(cx * g.px[i]), n) };
    }
    if R == 4 {
        s.interleave4(v[0], v[1], v[2], v[3])
    } else {
        s.interleave(v[0], v[1], v[2])
    }
}

/// The accumulators of one output from its three interleaved columns and the weights at
/// `wk` (3 x 4 registers of `S::WB` bytes).
///
/// # Safety
/// `bias` points to the block's 4 bias registers, `wk` to its 12 weight registers.
#[inline(always)]
unsafe fn acc3<S: DwVec>(s: S, bias: *const u8, wk: *const u8, v: [&[S::X; 4]; 3]) -> [S::A; 4] {
    let b = S::B;
    // SAFETY: as documented.
    unsafe {
        let mut acc = [
            s.bias(bias),
            s.bias(bias.add(b)),
            s.bias(bias.add(2 * b)),
            s.bias(bias.add(3 * b)),
        ];
        for (kx, v) in v.iter().enumerate() {
            for r in 0..4 {
                acc[r] = s.dot(acc[r], v[r], wk.add((kx * 4 + r) * S::WB));
            }
        }
        acc
    }
}

/// Requantizes and stores one output.
///
/// # Safety
/// As [`DwVec::store`].
#[inline(always)]
unsafe fn put<S: DwVec, const SMALL: bool>(
    s: S,
    acc: [S::A; 4],
    scale: *const u8,
    q: S::Q,
    p: *mut u8,
    n: usize,
) {
    // SAFETY: forwarded.
    unsafe {
        if SMALL {
            s.store_small(acc, scale, q, p, n)
        } else {
            s.store(acc, scale, q, p, n)
        }
    }
}

/// Computes one output row of the block of width `S::B` at channel `c0` (`n` live
/// channels, `n == S::B` if `FULL`): the sliding sweep of the module doc. The columns
/// inside the image run in an unchecked, unrolled loop (so that the sliding columns
/// rotate without register moves); the edges test each column. `SMALL`: the block's
/// scales are all below 1.
///
/// # Safety
/// `a` was checked, `rows`/`out` come from [`row_setup`], `c0 + n <= channels`, and the
/// block's packed bytes start at `w` (`20 * S::B` or `32 * S::B` of them, inside
/// `a.weights`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn sweep<S: DwVec, const STRIDE: usize, const FULL: bool, const SMALL: bool>(
    s: S,
    a: &Q8DwArgs<'_>,
    rows: &[InRow; 3],
    out: *mut u8,
    c0: usize,
    n: usize,
    w: *const u8,
    q: S::Q,
) {
    // SAFETY: inputs are read at columns < in_w of present rows (or from the zero-point
    // vector, `channels >= c0 + n` bytes long), `n` bytes from channel c0; outputs at
    // columns < out_w, `n <= out_px - c0` bytes; packed bytes inside the block. The
    // unchecked columns are inside the image by the bounds computed below.
    unsafe {
        let scale = w.add(4 * S::B);
        let wk = w.add(8 * S::B);
        let g = Cols::<3>::new(rows, c0, n);
        let zr = s.load(a.zp.as_ptr().add(c0), n);
        let zcol = s.interleave(zr, zr, zr);
        let n = if FULL { S::B } else { n };
        let (pl, opx, ow, iw) = (a.pad_left, a.out_px, a.out_w, a.in_w);
        // Macros, not closures: a closure would not inherit the caller's target features
        // and its intrinsics would become calls.
        macro_rules! one {
            ($ox:expr, $v:expr) => {{
                let acc = acc3(s, w, wk, $v);
                put::<S, SMALL>(s, acc, scale, q, out.add(($ox) * opx + c0), n);
            }};
        }
        // Padded column `cx`, inside the image.
        macro_rules! cu {
            ($cx:expr) => {
                col_at::<S, 3, FULL>(s, &g, zr, usize::wrapping_sub($cx, pl))
            };
        }
        // Padded column `cx`, anywhere.
        macro_rules! cc {
            ($cx:expr) => {{
                let cx = usize::wrapping_sub($cx, pl);
                if cx < iw {
                    col_at::<S, 3, FULL>(s, &g, zr, cx)
                } else {
                    zcol
                }
            }};
        }
        if STRIDE == 1 {
            // Column ox + 2 - pl >= 0 (pl <= 2) is inside the image for ox < end.
            let end = ow.min((iw + pl).saturating_sub(2));
            let mut v0 = cc!(0);
            let mut v1 = cc!(1);
            let mut ox = 0;
            while ox + 3 <= end {
                let v2 = cu!(ox + 2);
                one!(ox, [&v0, &v1, &v2]);
                v0 = cu!(ox + 3);
                one!(ox + 1, [&v1, &v2, &v0]);
                v1 = cu!(ox + 4);
                one!(ox + 2, [&v2, &v0, &v1]);
                ox += 3;
            }
            while ox < ow {
                let v2 = cc!(ox + 2);
                one!(ox, [&v0, &v1, &v2]);
                v0 = v1;
                v1 = v2;
                ox += 1;
            }
        } else {
            // Columns 2 ox + 1 - pl and 2 ox + 2 - pl are inside the image for start <=
            // ox < end.
            let start = usize::from(pl == 2).min(ow);
            let end = ow.min((iw + pl).saturating_sub(1) / 2);
            let mut v0 = cc!(0);
            let mut ox = 0;
            while ox < start {
                let v1 = cc!(2 * ox + 1);
                let v2 = cc!(2 * ox + 2);
                one!(ox, [&v0, &v1, &v2]);
                v0 = v2;
                ox += 1;
            }
            while ox < end {
                let v1 = cu!(2 * ox + 1);
                let v2 = cu!(2 * ox + 2);
                one!(ox, [&v0, &v1, &v2]);
                v0 = v2;
                ox += 1;
            }
            while ox < ow {
                let v1 = cc!(2 * ox + 1);
                let v2 = cc!(2 * ox + 2);
                one!(ox, [&v0, &v1, &v2]);
                v0 = v2;
                ox += 1;
            }
        }
    }
}

/// Weights shifted up one byte per lane, for the second row of a pair.
#[repr(C, align(64))]
struct Shifted([u8; 12 * 128]);

/// Computes output rows `oy` and `oy + 1` at stride 1 (`out[0]` and `out[1]`) of one
/// block: each interleaved column holds the 4 input rows `oy ..= oy + 3` of both, the
/// first row dotted with the packed weights `[w0, w1, w2, 0]`, the second with the same
/// shifted up one byte, `[0, w0, w1, w2]`, so the interleave is shared by both rows.
///
/// # Safety
/// As [`sweep`], with `rows` the 4 input rows from `oy` on ([`row_setup`]), `S::PAIR`
/// and `S::WB <= 128`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn sweep_pair<S: DwVec, const FULL: bool, const SMALL: bool>(
    s: S,
    a: &Q8DwArgs<'_>,
    rows: &[InRow; 4],
    out: [*mut u8; 2],
    c0: usize,
    n: usize,
    w: *const u8,
    q: S::Q,
) {
    // SAFETY: as `sweep`; the shifted weights are 12 * WB <= 12 * 128 bytes.
    unsafe {
        let scale = w.add(4 * S::B);
        let wk = w.add(8 * S::B);
        let mut sh = Shifted([0; 12 * 128]);
        for i in 0..12 {
            s.shift_weights(wk.add(i * S::WB), sh.0.as_mut_ptr().add(i * S::WB));
        }
        let wk1 = sh.0.as_ptr();
        let g = Cols::<4>::new(rows, c0, n);
        let zr = s.load(a.zp.as_ptr().add(c0), n);
        let zcol = s.interleave4(zr, zr, zr, zr);
        let n = if FULL { S::B } else { n };
        let (pl, opx, ow, iw) = (a.pad_left, a.out_px, a.out_w, a.in_w);
        // Macros, not closures, as in `sweep`.
        macro_rules! two {
            ($ox:expr, $v:expr) => {{
                let o = ($ox) * opx + c0;
                let acc0 = acc3(s, w, wk, $v);
                let acc1 = acc3(s, w, wk1, $v);
                put::<S, SMALL>(s, acc0, scale, q, out[0].add(o), n);
                put::<S, SMALL>(s, acc1, scale, q, out[1].add(o), n);
            }};
        }
        macro_rules! cu {
            ($cx:expr) => {
                col_at::<S, 4, FULL>(s, &g, zr, usize::wrapping_sub($cx, pl))
            };
        }
        macro_rules! cc {
            ($cx:expr) => {{
                let cx = usize::wrapping_sub($cx, pl);
                if cx < iw {
                    col_at::<S, 4, FULL>(s, &g, zr, cx)
                } else {
                    zcol
                }
            }};
        }
        // As the stride-1 `sweep`.
        let end = ow.min((iw + pl).saturating_sub(2));
        let mut v0 = cc!(0);
        let mut v1 = cc!(1);
        let mut ox = 0;
        while ox + 3 <= end {
            let v2 = cu!(ox + 2);
            two!(ox, [&v0, &v1, &v2]);
            v0 = cu!(ox + 3);
            two!(ox + 1, [&v1, &v2, &v0]);
            v1 = cu!(ox + 4);
            two!(ox + 2, [&v2, &v0, &v1]);
            ox += 3;
        }
        while ox < ow {
            let v2 = cc!(ox + 2);
            two!(ox, [&v0, &v1, &v2]);
            v0 = v1;
            v1 = v2;
            ox += 1;
        }
    }
}

/// Half `H` of the two-row stride-1 pass of a full block ([`sweep_pair`]'s sweep, on
/// registers `2 H`, `2 H + 1`): the 6 weight registers of the half and their 6 shifted
/// copies stay in registers for the whole row pair. Half 0 leaves 16-bit values in the
/// output that half 1 turns into bytes ([`DwHalves::store_half`]).
///
/// # Safety
/// As [`sweep_pair`] with `n == S::B`.
#[inline(always)]
// Only x86 implements the half-block sweeps so far.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
unsafe fn sweep_pair_half<S: DwHalves, const H: usize, const SMALL: bool>(
    s: S,
    a: &Q8DwArgs<'_>,
    rows: &[InRow; 4],
    out: [*mut u8; 2],
    c0: usize,
    w: *const u8,
    q: S::Q,
) {
    // SAFETY: as `sweep_pair`: the half's registers are inside the block's packed bytes.
    unsafe {
        let b = S::B;
        let b0 = s.bias(w.add(2 * H * b));
        let b1 = s.bias(w.add((2 * H + 1) * b));
        let scale = w.add(4 * b + 2 * H * b);
        let wk = w.add(8 * b);
        // Macros, not closures, as in `sweep`.
        macro_rules! ld {
            ($kx:expr, $j:expr) => {
                s.load_w(wk.add(($kx * 4 + 2 * H + $j) * S::WB))
            };
        }
        let wt = [
            [ld!(0, 0), ld!(0, 1)],
            [ld!(1, 0), ld!(1, 1)],
            [ld!(2, 0), ld!(2, 1)],
        ];
        macro_rules! sh {
            ($kx:expr) => {
                [s.shift_w(wt[$kx][0]), s.shift_w(wt[$kx][1])]
            };
        }
        let ws = [sh!(0), sh!(1), sh!(2)];
        let g = Cols::<4>::new(rows, c0, b);
        let zr = s.load(a.zp.as_ptr().add(c0), b);
        let zcol = s.interleave4_half::<H>(zr, zr, zr, zr);
        let (pl, opx, ow, iw) = (a.pad_left, a.out_px, a.out_w, a.in_w);
        macro_rules! two {
            ($o0:expr, $o1:expr, $v:expr) => {{
                let v: [&[S::X; 2]; 3] = $v;
                let mut acc0 = [b0, b1];
                let mut acc1 = [b0, b1];
                for kx in 0..3 {
                    for j in 0..2 {
                        acc0[j] = s.dot_w(acc0[j], v[kx][j], wt[kx][j]);
                        acc1[j] = s.dot_w(acc1[j], v[kx][j], ws[kx][j]);
                    }
                }
                s.store_half::<H, SMALL>(acc0, scale, q, $o0);
                s.store_half::<H, SMALL>(acc1, scale, q, $o1);
            }};
        }
        macro_rules! col {
            ($p:expr) => {{
                let p: [*const u8; 4] = $p;
                s.interleave4_half::<H>(
                    s.load(p[0], b),
                    s.load(p[1], b),
                    s.load(p[2], b),
                    s.load(p[3], b),
                )
            }};
        }
        // Padded column `cx`, anywhere.
        macro_rules! cc {
            ($cx:expr) => {{
                let cx = usize::wrapping_sub($cx, pl);
                if cx < iw {
                    col!([0, 1, 2, 3].map(|i| g.p[i].add(cx * g.px[i])))
                } else {
                    zcol
                }
            }};
        }
        // As the stride-1 `sweep`, the interior with one pointer per row and output row
        // bumped each column: indexing from the row starts (or unrolling) gives the loop
        // a pointer per row and column, and spills them; the moves that rotate the
        // columns cost less.
        let end = ow.min((iw + pl).saturating_sub(2));
        let mut v0 = cc!(0);
        let mut v1 = cc!(1);
        let mut ox = 0;
        if ox < end {
            // Column 2 - pl, inside the image since end > 0.
            let mut p = [0, 1, 2, 3].map(|i| g.p[i].add((2 - pl) * g.px[i]));
            let mut o = [out[0].add(c0), out[1].add(c0)];
            while ox < end {
                let v2 = col!(p);
                two!(o[0], o[1], [&v0, &v1, &v2]);
                v0 = v1;
                v1 = v2;
                p = [0, 1, 2, 3].map(|i| p[i].add(g.px[i]));
                o = [o[0].add(opx), o[1].add(opx)];
                ox += 1;
            }
        }
        while ox < ow {
            let v2 = cc!(ox + 2);
            let o = ox * opx + c0;
            two!(out[0].add(o), out[1].add(o), [&v0, &v1, &v2]);
            v0 = v1;
            v1 = v2;
            ox += 1;
        }
    }
}

/// The two-row stride-1 pass of a full block as its two half sweeps.
///
/// # Safety
/// As [`sweep_pair`] with `n == S::B`.
#[inline(always)]
// Only x86 implements the half-block sweeps so far.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) unsafe fn sweep_pair_halves<S: DwHalves, const SMALL: bool>(
    s: S,
    a: &Q8DwArgs<'_>,
    rows: &[InRow; 4],
    out: [*mut u8; 2],
    c0: usize,
    w: *const u8,
    q: S::Q,
) {
    // SAFETY: forwarded; half 1 runs after half 0 has written every output of the pair.
    unsafe {
        sweep_pair_half::<S, 0, SMALL>(s, a, rows, out, c0, w, q);
        sweep_pair_half::<S, 1, SMALL>(s, a, rows, out, c0, w, q);
    }
}

/// Half `H` of one output row of a full block ([`sweep`] on registers `2 H`, `2 H + 1`,
/// as [`sweep_pair_half`]): the 6 weight registers of the half stay in registers. The
/// fourth tap byte of each lane repeats the third row: its weight is 0.
///
/// # Safety
/// As [`sweep`] with `n == S::B`.
#[inline(always)]
// Only x86 implements the half-block sweeps so far.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
unsafe fn sweep_half<S: DwHalves, const STRIDE: usize, const H: usize, const SMALL: bool>(
    s: S,
    a: &Q8DwArgs<'_>,
    rows: &[InRow; 3],
    out: *mut u8,
    c0: usize,
    w: *const u8,
    q: S::Q,
) {
    // SAFETY: as `sweep`: the half's registers are inside the block's packed bytes, and
    // the bumped pointers stay at columns inside the image, by the bounds of `sweep`.
    unsafe {
        let b = S::B;
        let b0 = s.bias(w.add(2 * H * b));
        let b1 = s.bias(w.add((2 * H + 1) * b));
        let scale = w.add(4 * b + 2 * H * b);
        let wk = w.add(8 * b);
        // Macros, not closures, as in `sweep`.
        macro_rules! ld {
            ($kx:expr, $j:expr) => {
                s.load_w(wk.add(($kx * 4 + 2 * H + $j) * S::WB))
            };
        }
        let wt = [
            [ld!(0, 0), ld!(0, 1)],
            [ld!(1, 0), ld!(1, 1)],
            [ld!(2, 0), ld!(2, 1)],
        ];
        let g = Cols::<3>::new(rows, c0, b);
        let zr = s.load(a.zp.as_ptr().add(c0), b);
        let zcol = s.interleave4_half::<H>(zr, zr, zr, zr);
        let (pl, opx, ow, iw) = (a.pad_left, a.out_px, a.out_w, a.in_w);
        macro_rules! one {
            ($o:expr, $v:expr) => {{
                let v: [&[S::X; 2]; 3] = $v;
                let mut acc = [b0, b1];
                for kx in 0..3 {
                    for j in 0..2 {
                        acc[j] = s.dot_w(acc[j], v[kx][j], wt[kx][j]);
                    }
                }
                s.store_half::<H, SMALL>(acc, scale, q, $o);
            }};
        }
        macro_rules! col {
            ($p:expr) => {{
                let p: [*const u8; 3] = $p;
                let r2 = s.load(p[2], b);
                s.interleave4_half::<H>(s.load(p[0], b), s.load(p[1], b), r2, r2)
            }};
        }
        // Padded column `cx`, anywhere.
        macro_rules! cc {
            ($cx:expr) => {{
                let cx = usize::wrapping_sub($cx, pl);
                if cx < iw {
                    col!([0, 1, 2].map(|i| g.p[i].add(cx * g.px[i])))
                } else {
                    zcol
                }
            }};
        }
        // The bounds of `sweep`; the interiors bump one pointer per row (see
        // `sweep_pair_half`).
        if STRIDE == 1 {
            let end = ow.min((iw + pl).saturating_sub(2));
            let mut v0 = cc!(0);
            let mut v1 = cc!(1);
            let mut ox = 0;
            if ox < end {
                let mut p = [0, 1, 2].map(|i| g.p[i].add((2 - pl) * g.px[i]));
                let mut o = out.add(c0);
                while ox < end {
                    let v2 = col!(p);
                    one!(o, [&v0, &v1, &v2]);
                    v0 = v1;
                    v1 = v2;
                    p = [0, 1, 2].map(|i| p[i].add(g.px[i]));
                    o = o.add(opx);
                    ox += 1;
                }
            }
            while ox < ow {
                let v2 = cc!(ox + 2);
                one!(out.add(ox * opx + c0), [&v0, &v1, &v2]);
                v0 = v1;
                v1 = v2;
                ox += 1;
            }
        } else {
            let start = usize::from(pl == 2).min(ow);
            let end = ow.min((iw + pl).saturating_sub(1) / 2);
            let mut v0 = cc!(0);
            let mut ox = 0;
            while ox < start {
                let v1 = cc!(2 * ox + 1);
                let v2 = cc!(2 * ox + 2);
                one!(out.add(ox * opx + c0), [&v0, &v1, &v2]);
                v0 = v2;
                ox += 1;
            }
            if ox < end {
                // Column 2 start + 1 - pl >= 0.
                let mut p = [0, 1, 2].map(|i| g.p[i].add((2 * start + 1 - pl) * g.px[i]));
                let mut o = out.add(start * opx + c0);
                while ox < end {
                    let v1 = col!(p);
                    let v2 = col!([0, 1, 2].map(|i| p[i].add(g.px[i])));
                    one!(o, [&v0, &v1, &v2]);
                    v0 = v2;
                    p = [0, 1, 2].map(|i| p[i].add(2 * g.px[i]));
                    o = o.add(opx);
                    ox += 1;
                }
            }
            while ox < ow {
                let v1 = cc!(2 * ox + 1);
                let v2 = cc!(2 * ox + 2);
                one!(out.add(ox * opx + c0), [&v0, &v1, &v2]);
                v0 = v2;
                ox += 1;
            }
        }
    }
}

/// One output row of a full block as its two half sweeps.
///
/// # Safety
/// As [`sweep`] with `n == S::B`.
#[inline(always)]
// Only x86 implements the half-block sweeps so far.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) unsafe fn sweep_single_halves<S: DwHalves, const SMALL: bool>(
    s: S,
    a: &Q8DwArgs<'_>,
    rows: &[InRow; 3],
    out: *mut u8,
    c0: usize,
    w: *const u8,
    q: S::Q,
) {
    // SAFETY: forwarded; half 1 runs after half 0 has written every output of the row.
    unsafe {
        if a.stride == 1 {
            sweep_half::<S, 1, 0, SMALL>(s, a, rows, out, c0, w, q);
            sweep_half::<S, 1, 1, SMALL>(s, a, rows, out, c0, w, q);
        } else {
            sweep_half::<S, 2, 0, SMALL>(s, a, rows, out, c0, w, q);
            sweep_half::<S, 2, 1, SMALL>(s, a, rows, out, c0, w, q);
        }
    }
}

/// Whether every packed scale of `kernel`'s blocks is below 1 (the lanes past the last
/// channel are 0).
fn scales_small(kernel: &Q8DwKernel, a: &Q8DwArgs<'_>) -> bool {
    let per = kernel.bytes_per_channel();
    kernel.blocks(a.channels).all(|(c0, b)| {
        let at = c0 * per + 4 * b;
        a.weights[at..at + 4 * b]
            .chunks_exact(4)
            .all(|v| f32::from_le_bytes([v[0], v[1], v[2], v[3]]) < 1.0)
    })
}

/// One block of one output row.
///
/// # Safety
/// As [`sweep`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn single<S: DwVec, const SMALL: bool>(
    s: S,
    a: &Q8DwArgs<'_>,
    rows: &[InRow; 3],
    out: *mut u8,
    c0: usize,
    n: usize,
    w: *const u8,
    q: S::Q,
) {
    let full = n == S::B;
    // SAFETY: forwarded.
    unsafe {
        if full && S::HALVES {
            return s.single_halves::<SMALL>(a, rows, out, c0, w, q);
        }
        match (a.stride, full) {
            (1, true) => sweep::<S, 1, true, SMALL>(s, a, rows, out, c0, n, w, q),
            (1, false) => sweep::<S, 1, false, SMALL>(s, a, rows, out, c0, n, w, q),
            (_, true) => sweep::<S, 2, true, SMALL>(s, a, rows, out, c0, n, w, q),
            (_, false) => sweep::<S, 2, false, SMALL>(s, a, rows, out, c0, n, w, q),
        }
    }
}

/// One block of output rows `oy` and `oy + 1` at stride 1.
///
/// # Safety
/// As [`sweep_pair`] for the rows from `oy` on, and as [`sweep`] for each row.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn pair<S: DwVec, const SMALL: bool>(
    s: S,
    a: &Q8DwArgs<'_>,
    rows: &[InRow; 4],
    out: [*mut u8; 2],
    c0: usize,
    n: usize,
    w: *const u8,
    q: S::Q,
) {
    // SAFETY: forwarded; rows 0..3 and 1..4 are the rows of `oy` and `oy + 1`.
    unsafe {
        if S::PAIR {
            if n == S::B && S::HALVES {
                s.pair_halves::<SMALL>(a, rows, out, c0, w, q)
            } else if n == S::B {
                sweep_pair::<S, true, SMALL>(s, a, rows, out, c0, n, w, q)
            } else {
                sweep_pair::<S, false, SMALL>(s, a, rows, out, c0, n, w, q)
            }
        } else {
            let r0 = [rows[0], rows[1], rows[2]];
            let r1 = [rows[1], rows[2], rows[3]];
            single::<S, SMALL>(s, a, &r0, out[0], c0, n, w, q);
            single::<S, SMALL>(s, a, &r1, out[1], c0, n, w, q);
        }
    }
}

/// A checked call: every row, every block; full blocks with `S`, a tail block of
/// `T::B` channels with `T` (`kernel` gives the block widths and the packing). At stride
/// 1 the rows go in pairs.
///
/// # Safety
/// `s` and `t` are valid tokens (their features are enabled) and `a.check(kernel)`
/// passed, with `S::B == kernel.block`, `T::B == kernel.tail_block` and `S::WB / S::B ==
/// T::WB / T::B == 2` if `kernel.wide`, else 1.
#[inline(always)]
pub(crate) unsafe fn rows<S: DwVec, T: DwVec>(
    s: S,
    t: T,
    kernel: &Q8DwKernel,
    a: &mut Q8DwArgs<'_>,
) {
    // SAFETY: forwarded.
    unsafe {
        if scales_small(kernel, a) {
            rows_with::<S, T, true>(s, t, kernel, a)
        } else {
            rows_with::<S, T, false>(s, t, kernel, a)
        }
    }
}

/// [`rows`], `SMALL` if every scale is below 1.
///
/// # Safety
/// As [`rows`].
#[inline(always)]
unsafe fn rows_with<S: DwVec, T: DwVec, const SMALL: bool>(
    s: S,
    t: T,
    kernel: &Q8DwKernel,
    a: &mut Q8DwArgs<'_>,
) {
    let per = kernel.bytes_per_channel();
    let (qs, qt) = (s.quant(a.out_q), t.quant(a.out_q));
    let out = a.out.as_mut_ptr();
    let a = &*a;
    let mut oy = a.rows.start;
    while oy < a.rows.end {
        if a.stride == 1 && oy + 1 < a.rows.end {
            // SAFETY: checked, oy and oy + 1 in rows.
            let (rows, out0) = unsafe { row_setup::<4>(a, out, oy) };
            // SAFETY: row oy + 1 is in rows, inside the checked output.
            let out1 = unsafe { out0.add(a.out_w * a.out_px) };
            for (c0, b) in kernel.blocks(a.channels) {
                let n = b.min(a.channels - c0);
                // SAFETY: `check` verified weights.len() >= packed_len, which covers
                // this block (c0 * per .. (c0 + b) * per); the rest is forwarded.
                unsafe {
                    let w = a.weights.as_ptr().add(c0 * per);
                    if b == T::B && b != S::B {
                        pair::<T, SMALL>(t, a, &rows, [out0, out1], c0, n, w, qt)
                    } else {
                        pair::<S, SMALL>(s, a, &rows, [out0, out1], c0, n, w, qs)
                    }
                }
            }
            oy += 2;
        } else {
            // SAFETY: checked, oy in rows.
            let (rows, out) = unsafe { row_setup::<3>(a, out, oy) };
            for (c0, b) in kernel.blocks(a.channels) {
                let n = b.min(a.channels - c0);
                // SAFETY: as above.
                unsafe {
                    let w = a.weights.as_ptr().add(c0 * per);
                    if b == T::B && b != S::B {
                        single::<T, SMALL>(t, a, &rows, out, c0, n, w, qt)
                    } else {
                        single::<S, SMALL>(s, a, &rows, out, c0, n, w, qs)
                    }
                }
            }
            oy += 1;
        }
    }
}
