//! Depthwise 3x3 convolution: a range of output rows and channel blocks per call.
//!
//! The algorithm is written once, generic over `Simd` (a vector type plus its loads,
//! stores and arithmetic); each ISA file supplies the vector type and a
//! `#[target_feature]` entry that instantiates it. Every helper is `#[inline(always)]`, so
//! the whole kernel is compiled with the entry's target features.
//!
//! Structure: a channel block's bias and 9 taps sit in registers while it slides along a
//! row, keeping the input columns it shares with the next output in registers: 3 new
//! vectors per output at stride 1, 6 at stride 2, for 9 FMAs. With 32 registers (AVX-512,
//! NEON) two output rows are computed per step at stride 1, so 4 input rows feed 2
//! outputs. Below `WIDE_CHANNELS` a block sweeps whole rows; from there on (large pixel
//! strides, whose columns collide in a few L1 sets) each group of `WIDE_PIXELS` outputs
//! is computed for every block in turn, so consecutive loads touch consecutive lines. The
//! at most one output at each end of a row that touches padding multiplies a zero column
//! instead; missing rows (top or bottom padding) are compiled out through const generics.
//! Nothing copies the input.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use crate::activation::Clamp;
use std::ops::Range;

/// Vectors per packed channel block: the bias, then the 9 taps in (ky, kx) order.
pub const PACKED_VECTORS: usize = 10;

/// Output rows `rows` of one channel block of one image.
///
/// `image` is one `[in_h, in_w, channels]` image (longer is allowed); `out` holds the
/// output rows `rows`, `rows.len() * out_w * channels` floats (longer is allowed). The
/// block covers channels `c0 .. min(c0 + block, channels)`; `weights` is its packed block,
/// `10 * block` floats. Output (oy, ox) reads input rows `oy * stride - pad_top + {0, 1, 2}`
/// and columns `ox * stride - pad_left + {0, 1, 2}`; those outside the image are zero.
pub struct DwRows<'a> {
    pub image: &'a [f32],
    pub out: &'a mut [f32],
    pub weights: &'a [f32],
    pub rows: Range<usize>,
    pub in_h: usize,
    pub in_w: usize,
    pub out_w: usize,
    pub channels: usize,
    pub c0: usize,
    /// Channel blocks to compute from `c0` (`weights` holds them consecutively).
    pub blocks: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub clamp: Clamp,
}

/// A depthwise kernel: computes `DwRows::out`'s blocks of channels. Panics if the call
/// breaks the documented contract (the operator in `ops::depthwise` validates shapes
/// first, so this only guards direct callers of the kernel set).
pub type DwRowsFn = fn(DwRows<'_>);

impl DwRows<'_> {
    /// Checks everything the algorithm relies on for memory safety.
    pub(crate) fn check(&self, block: usize) {
        let c = self.channels;
        let image_len = self
            .in_h
            .checked_mul(self.in_w)
            .and_then(|n| n.checked_mul(c));
        let out_len = self
            .out_w
            .checked_mul(c)
            .and_then(|n| n.checked_mul(self.rows.len()));
        // The last output's last column (row) is at most one past the image: padding.
        let last = |outs: usize, pad: usize, input: usize| {
            outs.checked_sub(1)
                .and_then(|o| o.checked_mul(self.stride))
                .and_then(|o| o.checked_add(2))
                .is_some_and(|last| last <= input + pad)
        };
        let ok = matches!(self.stride, 1 | 2)
            && self.pad_left <= 1
            && self.pad_top <= 1
            && self.in_w >= 1
            && self.in_h >= 1
            && self.blocks >= 1
            && self
                .blocks
                .checked_sub(1)
                .and_then(|b| b.checked_mul(block))
                .and_then(|o| o.checked_add(self.c0))
                .is_some_and(|last| last < c)
            && self.rows.start <= self.rows.end
            && image_len.is_some_and(|n| self.image.len() >= n)
            && out_len.is_some_and(|n| self.out.len() >= n)
            && self
                .blocks
                .checked_mul(PACKED_VECTORS * block)
                .is_some_and(|n| self.weights.len() >= n)
            && last(self.out_w, self.pad_left, self.in_w)
            && (self.rows.is_empty() || last(self.rows.end, self.pad_top, self.in_h))
            && !self.clamp.min.is_nan()
            && !self.clamp.max.is_nan();
        assert!(ok, "depthwise kernel called outside its contract");
    }
}

/// The outputs whose three input columns all lie inside the image: `lo..hi`. Outputs
/// before `lo` (at most one) and from `hi` on (at most one, unless the row is shorter than
/// the kernel) touch padding.
#[inline(always)]
pub(crate) fn interior(
    in_w: usize,
    out_w: usize,
    stride: usize,
    pad_left: usize,
) -> (usize, usize) {
    let lo = pad_left.min(out_w);
    let hi = if in_w + pad_left >= 3 {
        ((in_w + pad_left - 3) / stride + 1).clamp(lo, out_w)
    } else {
        lo
    };
    (lo, hi)
}

/// A vector ISA, as the algorithm needs it. A value of the implementing type is a token:
/// it may only be created where the ISA's target features are known to be present (the
/// `#[target_feature]` entry of each ISA file), which is what makes its methods sound.
pub(crate) trait Simd: Copy {
    const LANES: usize;
    /// Whether to compute two output rows per sweep (needs ~28 vector registers).
    const DUAL_ROWS: bool;
    type V: Copy;
    /// Whatever a partial load/store needs (a mask, or the lane count).
    type Tail: Copy;

    fn tail(self, lanes: usize) -> Self::Tail;
    fn splat(self, x: f32) -> Self::V;
    /// a * b + c.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// clamp with `f32::max` / `f32::min` semantics (a NaN becomes `lo`).
    fn clamp(self, x: Self::V, lo: Self::V, hi: Self::V) -> Self::V;
    /// # Safety
    /// `p .. p + LANES` readable (or, if `MASKED`, the first `lanes` of `tail`).
    unsafe fn load<const MASKED: bool>(self, p: *const f32, t: Self::Tail) -> Self::V;
    /// # Safety
    /// `p .. p + LANES` writable (or, if `MASKED`, the first `lanes` of `tail`).
    unsafe fn store<const MASKED: bool>(self, p: *mut f32, v: Self::V, t: Self::Tail);
}

/// Channel count from which a call at stride 1 on an ISA with [`Simd::DUAL_ROWS`] walks
/// all channel blocks per output pixel group (the wide path) instead of sweeping one block along whole rows. With many channels the pixel
/// stride is a multiple of 1 KiB or more, so one block's columns fall into a couple of L1
/// sets and evict each other before the next row reuses them; walking the blocks of a few
/// neighbouring pixels touches consecutive lines instead.
pub(crate) const WIDE_CHANNELS: usize = 256;

/// The same threshold at stride 2, where a sweep reads two fresh columns per output and
/// so has less reuse to lose, and at stride 1 for ISAs that sweep one row at a time
/// (reading 3 columns per output rather than 2); both measured on Zen 5.
pub(crate) const WIDE_CHANNELS_STRIDE2: usize = 128;

/// Output pixels per channel block step on the wide path.
pub(crate) const WIDE_PIXELS: usize = 4;

/// Computes a checked call.
///
/// # Safety
/// `s` is a valid token (the ISA's features are enabled) and `a.check(S::LANES)` passed.
#[inline(always)]
pub(crate) unsafe fn rows<S: Simd>(s: S, a: &mut DwRows<'_>) {
    // SAFETY (both paths): forwarded; blocks were checked to lie inside the channels.
    unsafe {
        let wide = if a.stride == 1 && S::DUAL_ROWS {
            WIDE_CHANNELS
        } else {
            WIDE_CHANNELS_STRIDE2
        };
        if a.channels >= wide && a.blocks > 1 {
            rows_wide(s, a);
            return;
        }
        for b in 0..a.blocks {
            let c0 = a.c0 + b * S::LANES;
            let lanes = S::LANES.min(a.channels - c0);
            if lanes < S::LANES {
                rows_inst::<S, true>(s, a, b, lanes)
            } else {
                rows_inst::<S, false>(s, a, b, lanes)
            }
        }
    }
}

/// Input/output row pointers of one call, at channel `c0`.
struct Rows {
    img: *const f32,
    out: *mut f32,
    row_len: usize,
    out_row: usize,
}

impl Rows {
    /// # Safety
    /// `a` was checked.
    #[inline(always)]
    unsafe fn new(a: &mut DwRows<'_>) -> Rows {
        // SAFETY: c0 < channels, so these stay inside the image / the output.
        unsafe {
            Rows {
                img: a.image.as_ptr().add(a.c0),
                out: a.out.as_mut_ptr().add(a.c0),
                row_len: a.in_w * a.channels,
                out_row: a.out_w * a.channels,
            }
        }
    }

    /// Image row `iy` (< in_h).
    #[inline(always)]
    fn input(&self, iy: usize) -> *const f32 {
        self.img.wrapping_add(iy * self.row_len)
    }

    /// Output row `i` of the call (< rows.len()).
    #[inline(always)]
    fn output(&self, i: usize) -> *mut f32 {
        self.out.wrapping_add(i * self.out_row)
    }

    /// The tap rows of output row `oy`: pointers (a missing row aliases the middle one)
    /// and whether rows 0 and 2 exist.
    #[inline(always)]
    fn taps(&self, a: &DwRows<'_>, oy: usize) -> ([*const f32; 3], bool, bool) {
        let top = (oy * a.stride).wrapping_sub(a.pad_top);
        // The middle row always exists (checked: the last row's window ends at most one
        // past the image, and pad_top <= 1).
        let r1 = self.input(top.wrapping_add(1));
        let has0 = top < a.in_h;
        let has2 = top.wrapping_add(2) < a.in_h;
        let r0 = if has0 { self.input(top) } else { r1 };
        let r2 = if has2 {
            self.input(top.wrapping_add(2))
        } else {
            r1
        };
        ([r0, r1, r2], has0, has2)
    }
}

/// The weights, bias and clamp of block `b` of a call.
///
/// # Safety
/// `a` was checked and `b < a.blocks`; `lanes` is the block's live lane count.
#[inline(always)]
unsafe fn block<S: Simd, const MASKED: bool>(
    s: S,
    a: &DwRows<'_>,
    b: usize,
    lanes: usize,
) -> Block<S, MASKED> {
    let t = s.tail(lanes);
    let wp = a.weights[b * PACKED_VECTORS * S::LANES..].as_ptr();
    macro_rules! w {
        ($i:literal) => {
            // SAFETY: `check` verified `weights.len() >= blocks * 10 * LANES`; packed
            // blocks are zero-padded to full width, so these loads are never masked.
            unsafe { s.load::<false>(wp.add($i * S::LANES), t) }
        };
    }
    Block {
        s,
        t,
        c: a.channels,
        bias: w!(0),
        k: [
            w!(1),
            w!(2),
            w!(3),
            w!(4),
            w!(5),
            w!(6),
            w!(7),
            w!(8),
            w!(9),
        ],
        lo: s.splat(a.clamp.min),
        hi: s.splat(a.clamp.max),
        zero: s.splat(0.0),
    }
}

/// One block swept along whole rows (two rows at a time where the ISA has the registers).
///
/// # Safety
/// As [`rows`], with `b < a.blocks`, `MASKED == (lanes < LANES)`.
#[inline(always)]
unsafe fn rows_inst<S: Simd, const MASKED: bool>(s: S, a: &mut DwRows<'_>, b: usize, lanes: usize) {
    // SAFETY: forwarded; block b's channels start at c0 + b * LANES < channels.
    let (k, rp) = unsafe {
        let mut rp = Rows::new(a);
        rp.img = rp.img.add(b * S::LANES);
        rp.out = rp.out.add(b * S::LANES);
        (block::<S, MASKED>(s, a, b, lanes), rp)
    };
    let g = Geometry {
        in_w: a.in_w,
        out_w: a.out_w,
        pad_left: a.pad_left,
    };
    let mut oy = a.rows.start;
    while oy < a.rows.end {
        let o = rp.output(oy - a.rows.start);
        let (r, has0, has2) = rp.taps(a, oy);
        let top = (oy * a.stride).wrapping_sub(a.pad_top);
        // SAFETY (all arms): the rows passed exist where their flag says so, `o` is the
        // output row, and `g` is the checked geometry.
        unsafe {
            if S::DUAL_ROWS && a.stride == 1 && has0 && oy + 1 < a.rows.end && top + 3 < a.in_h {
                let r3 = rp.input(top + 3);
                k.dual(
                    [r[0], r[1], r[2], r3],
                    [o, rp.output(oy + 1 - a.rows.start)],
                    &g,
                );
                oy += 2;
                continue;
            }
            match (a.stride, has0, has2) {
                (1, true, true) => k.row::<1, true, true>(r, o, &g),
                (1, true, false) => k.row::<1, true, false>(r, o, &g),
                (1, false, true) => k.row::<1, false, true>(r, o, &g),
                (1, false, false) => k.row::<1, false, false>(r, o, &g),
                (_, true, true) => k.row::<2, true, true>(r, o, &g),
                (_, true, false) => k.row::<2, true, false>(r, o, &g),
                (_, false, true) => k.row::<2, false, true>(r, o, &g),
                (_, false, false) => k.row::<2, false, false>(r, o, &g),
            }
        }
        oy += 1;
    }
}

/// Runs `$body` for each block of call `$a`, with `$k` bound to the block's registers and
/// `$r` / `$o` to the input / output row pointers `$rows` / `$outs` moved to its first
/// channel. Must be used inside `unsafe` with `$a` checked.
macro_rules! each_block {
    ($s:expr, $a:expr, $rows:expr, $outs:expr, |$k:ident, $r:ident, $o:ident| $body:expr) => {
        for b in 0..$a.blocks {
            let off = b * S::LANES;
            let lanes = S::LANES.min($a.channels - $a.c0 - off);
            let $r = $rows.map(|p| p.wrapping_add(off));
            let $o = $outs.map(|p| p.wrapping_add(off));
            if lanes == S::LANES {
                let $k = block::<S, false>($s, $a, b, lanes);
                $body
            } else {
                let $k = block::<S, true>($s, $a, b, lanes);
                $body
            }
        }
    };
}

/// All blocks, row by row: for each group of [`WIDE_PIXELS`] outputs, every block in
/// turn (weights reloaded from L1 per block and group).
///
/// # Safety
/// As [`rows`].
#[inline(always)]
unsafe fn rows_wide<S: Simd>(s: S, a: &mut DwRows<'_>) {
    // SAFETY: forwarded.
    let rp = unsafe { Rows::new(a) };
    let mut oy = a.rows.start;
    while oy < a.rows.end {
        let o = rp.output(oy - a.rows.start);
        let (r, has0, has2) = rp.taps(a, oy);
        let top = (oy * a.stride).wrapping_sub(a.pad_top);
        // SAFETY (all arms): as in `rows_inst`.
        unsafe {
            if S::DUAL_ROWS && a.stride == 1 && has0 && oy + 1 < a.rows.end && top + 3 < a.in_h {
                let r4 = [r[0], r[1], r[2], rp.input(top + 3)];
                wide_dual(s, a, r4, [o, rp.output(oy + 1 - a.rows.start)]);
                oy += 2;
                continue;
            }
            match (a.stride, has0, has2) {
                (1, true, true) => wide_row::<S, 1, true, true>(s, a, r, o),
                (1, true, false) => wide_row::<S, 1, true, false>(s, a, r, o),
                (1, false, true) => wide_row::<S, 1, false, true>(s, a, r, o),
                (1, false, false) => wide_row::<S, 1, false, false>(s, a, r, o),
                (_, true, true) => wide_row::<S, 2, true, true>(s, a, r, o),
                (_, true, false) => wide_row::<S, 2, true, false>(s, a, r, o),
                (_, false, true) => wide_row::<S, 2, false, true>(s, a, r, o),
                (_, false, false) => wide_row::<S, 2, false, false>(s, a, r, o),
            }
        }
        oy += 1;
    }
}

/// Two rows at stride 1 from four image rows, all present: as [`wide_row`], with each
/// block's loaded columns feeding both rows.
///
/// # Safety
/// As [`rows`]; `r` four consecutive image rows and `o` two output rows, at channel c0.
#[inline(always)]
unsafe fn wide_dual<S: Simd>(s: S, a: &DwRows<'_>, r: [*const f32; 4], o: [*mut f32; 2]) {
    let g = Geometry {
        in_w: a.in_w,
        out_w: a.out_w,
        pad_left: a.pad_left,
    };
    let (ox_lo, ox_hi) = interior(g.in_w, g.out_w, 1, g.pad_left);
    // SAFETY: as in `wide_row`, for both rows.
    unsafe {
        for ox in (0..ox_lo).chain(ox_hi..g.out_w) {
            each_block!(s, a, r, o, |k, rb, ob| {
                k.border::<1, true, true>([rb[0], rb[1], rb[2]], ob[0], ox, &g);
                k.border::<1, true, true>([rb[1], rb[2], rb[3]], ob[1], ox, &g);
            });
        }
        let mut ox = ox_lo;
        while ox + WIDE_PIXELS <= ox_hi {
            each_block!(s, a, r, o, |k, rb, ob| k.dual_sweep(
                rb,
                ob,
                ox,
                ox + WIDE_PIXELS,
                g.pad_left
            ));
            ox += WIDE_PIXELS;
        }
        each_block!(s, a, r, o, |k, rb, ob| k
            .dual_sweep(rb, ob, ox, ox_hi, g.pad_left));
    }
}

/// # Safety
/// As [`rows`]; `r` the tap rows of an output row `o` (at channel c0), present where
/// flagged.
#[inline(always)]
unsafe fn wide_row<S: Simd, const STRIDE: usize, const R0: bool, const R2: bool>(
    s: S,
    a: &DwRows<'_>,
    r: [*const f32; 3],
    o: *mut f32,
) {
    let g = Geometry {
        in_w: a.in_w,
        out_w: a.out_w,
        pad_left: a.pad_left,
    };
    let (ox_lo, ox_hi) = interior(g.in_w, g.out_w, STRIDE, g.pad_left);
    // SAFETY: every block lies inside the channels (checked); borders check their
    // columns, interior columns are < in_w by construction of `interior`, and every
    // ox < out_w.
    unsafe {
        for ox in (0..ox_lo).chain(ox_hi..g.out_w) {
            each_block!(s, a, r, [o], |k, rb, ob| k
                .border::<STRIDE, R0, R2>(rb, ob[0], ox, &g));
        }
        let mut ox = ox_lo;
        while ox + WIDE_PIXELS <= ox_hi {
            each_block!(s, a, r, [o], |k, rb, ob| k.sweep::<STRIDE, R0, R2>(
                rb,
                ob[0],
                ox,
                ox + WIDE_PIXELS,
                g.pad_left
            ));
            ox += WIDE_PIXELS;
        }
        if ox < ox_hi {
            each_block!(s, a, r, [o], |k, rb, ob| k
                .sweep::<STRIDE, R0, R2>(rb, ob[0], ox, ox_hi, g.pad_left));
        }
    }
}

/// Horizontal geometry of every row of a call.
struct Geometry {
    in_w: usize,
    out_w: usize,
    pad_left: usize,
}

/// The registers of one channel block: weights, bias, clamp bounds.
struct Block<S: Simd, const MASKED: bool> {
    s: S,
    t: S::Tail,
    /// Pixel stride (channels).
    c: usize,
    bias: S::V,
    k: [S::V; 9],
    lo: S::V,
    hi: S::V,
    zero: S::V,
}

impl<S: Simd, const MASKED: bool> Block<S, MASKED> {
    /// Column `ix` of input row `r`.
    ///
    /// # Safety
    /// `r` is an image row at the block's first channel and `ix < in_w`.
    #[inline(always)]
    unsafe fn ld(&self, r: *const f32, ix: usize) -> S::V {
        // SAFETY: ix * c + lanes <= in_w * c - c0, inside the row.
        unsafe { self.s.load::<MASKED>(r.add(ix * self.c), self.t) }
    }

    /// Column `ix` of the three tap rows, or zeros if `ix` is outside the image; a
    /// missing row's slot is never used.
    ///
    /// # Safety
    /// `r` holds image rows at the block's first channel (any, where R0 / R2 is false).
    #[inline(always)]
    unsafe fn col<const R0: bool, const R2: bool>(
        &self,
        r: [*const f32; 3],
        ix: usize,
        in_w: usize,
    ) -> [S::V; 3] {
        if ix >= in_w {
            return [self.zero; 3];
        }
        // SAFETY: ix < in_w, and the rows exist where read.
        unsafe {
            [
                if R0 { self.ld(r[0], ix) } else { self.zero },
                self.ld(r[1], ix),
                if R2 { self.ld(r[2], ix) } else { self.zero },
            ]
        }
    }

    /// Stores output `ox` of output row `o`.
    ///
    /// # Safety
    /// `o` is an output row at the block's first channel and `ox < out_w`.
    #[inline(always)]
    unsafe fn put(&self, o: *mut f32, ox: usize, v: S::V) {
        // SAFETY: ox * c + lanes <= out_w * c - c0, inside the row.
        unsafe { self.s.store::<MASKED>(o.add(ox * self.c), v, self.t) }
    }

    /// One output from its three columns: a chain per tap row, summed at the end, so the
    /// dependency chain is 3 FMAs + 2 adds rather than 9 FMAs.
    #[inline(always)]
    fn dot<const R0: bool, const R2: bool>(
        &self,
        x0: [S::V; 3],
        x1: [S::V; 3],
        x2: [S::V; 3],
    ) -> S::V {
        let (s, k) = (self.s, &self.k);
        let mut acc = s.fma(x0[1], k[3], self.bias);
        acc = s.fma(x1[1], k[4], acc);
        acc = s.fma(x2[1], k[5], acc);
        if R0 {
            let mut r = s.mul(x0[0], k[0]);
            r = s.fma(x1[0], k[1], r);
            r = s.fma(x2[0], k[2], r);
            acc = s.add(acc, r);
        }
        if R2 {
            let mut r = s.mul(x0[2], k[6]);
            r = s.fma(x1[2], k[7], r);
            r = s.fma(x2[2], k[8], r);
            acc = s.add(acc, r);
        }
        s.clamp(acc, self.lo, self.hi)
    }

    /// An output touching padding: its columns outside the image are zeros.
    ///
    /// # Safety
    /// As [`Block::col`] and [`Block::put`].
    #[inline(always)]
    unsafe fn border<const STRIDE: usize, const R0: bool, const R2: bool>(
        &self,
        r: [*const f32; 3],
        o: *mut f32,
        ox: usize,
        g: &Geometry,
    ) {
        let ix = (ox * STRIDE).wrapping_sub(g.pad_left);
        // SAFETY: `col` checks each column against in_w (a wrapped -1 is huge).
        unsafe {
            let x = [
                self.col::<R0, R2>(r, ix, g.in_w),
                self.col::<R0, R2>(r, ix.wrapping_add(1), g.in_w),
                self.col::<R0, R2>(r, ix.wrapping_add(2), g.in_w),
            ];
            self.put(o, ox, self.dot::<R0, R2>(x[0], x[1], x[2]));
        }
    }

    /// Interior outputs `ox_lo..ox_hi` of one row, sliding along it.
    ///
    /// # Safety
    /// As [`Block::row`], and columns `ox * STRIDE - pad_left + {0, 1, 2}` of every output
    /// in the range lie inside the image.
    #[inline(always)]
    unsafe fn sweep<const STRIDE: usize, const R0: bool, const R2: bool>(
        &self,
        r: [*const f32; 3],
        o: *mut f32,
        ox_lo: usize,
        ox_hi: usize,
        pad_left: usize,
    ) {
        if ox_lo >= ox_hi {
            return;
        }
        // SAFETY: forwarded from this function's contract.
        unsafe {
            let mut ix = ox_lo * STRIDE - pad_left;
            let col = |ix: usize| {
                [
                    if R0 { self.ld(r[0], ix) } else { self.zero },
                    self.ld(r[1], ix),
                    if R2 { self.ld(r[2], ix) } else { self.zero },
                ]
            };
            let mut x0 = col(ix);
            if STRIDE == 1 {
                let mut x1 = col(ix + 1);
                for ox in ox_lo..ox_hi {
                    let x2 = col(ix + 2);
                    self.put(o, ox, self.dot::<R0, R2>(x0, x1, x2));
                    (x0, x1) = (x1, x2);
                    ix += 1;
                }
            } else {
                for ox in ox_lo..ox_hi {
                    let (x1, x2) = (col(ix + 1), col(ix + 2));
                    self.put(o, ox, self.dot::<R0, R2>(x0, x1, x2));
                    x0 = x2;
                    ix += 2;
                }
            }
        }
    }

    /// One output row.
    ///
    /// # Safety
    /// `r` holds the tap rows (those flagged present exist), `o` the output row, both at
    /// the block's first channel; `g` is the checked geometry.
    #[inline(always)]
    unsafe fn row<const STRIDE: usize, const R0: bool, const R2: bool>(
        &self,
        r: [*const f32; 3],
        o: *mut f32,
        g: &Geometry,
    ) {
        let (ox_lo, ox_hi) = interior(g.in_w, g.out_w, STRIDE, g.pad_left);
        // SAFETY: borders check their columns; interior columns ox * STRIDE - pad_left +
        // {0, 1, 2} are < in_w by construction of `interior`; every ox < out_w.
        unsafe {
            for ox in 0..ox_lo {
                self.border::<STRIDE, R0, R2>(r, o, ox, g);
            }
            self.sweep::<STRIDE, R0, R2>(r, o, ox_lo, ox_hi, g.pad_left);
            for ox in ox_hi..g.out_w {
                self.border::<STRIDE, R0, R2>(r, o, ox, g);
            }
        }
    }

    /// Two output rows at stride 1 from four input rows, all inside the image: each
    /// loaded column feeds both rows.
    ///
    /// # Safety
    /// `r` holds four consecutive image rows, `o` the two output rows, all at the block's
    /// first channel; `g` is the checked geometry.
    #[inline(always)]
    unsafe fn dual(&self, r: [*const f32; 4], o: [*mut f32; 2], g: &Geometry) {
        let (ox_lo, ox_hi) = interior(g.in_w, g.out_w, 1, g.pad_left);
        let (top, bottom) = ([r[0], r[1], r[2]], [r[1], r[2], r[3]]);
        // SAFETY: as in `row`, for both output rows.
        unsafe {
            for ox in (0..ox_lo).chain(ox_hi..g.out_w) {
                self.border::<1, true, true>(top, o[0], ox, g);
                self.border::<1, true, true>(bottom, o[1], ox, g);
            }
            self.dual_sweep(r, o, ox_lo, ox_hi, g.pad_left);
        }
    }

    /// Interior outputs `ox_lo..ox_hi` of two rows at stride 1.
    ///
    /// # Safety
    /// As [`Block::dual`], and columns `ox - pad_left + {0, 1, 2}` of every output in the
    /// range lie inside the image.
    #[inline(always)]
    unsafe fn dual_sweep(
        &self,
        r: [*const f32; 4],
        o: [*mut f32; 2],
        ox_lo: usize,
        ox_hi: usize,
        pad_left: usize,
    ) {
        if ox_lo >= ox_hi {
            return;
        }
        // SAFETY: forwarded from this function's contract.
        unsafe {
            let ix = ox_lo - pad_left;
            let col = |ix: usize| {
                [
                    self.ld(r[0], ix),
                    self.ld(r[1], ix),
                    self.ld(r[2], ix),
                    self.ld(r[3], ix),
                ]
            };
            let (mut x0, mut x1) = (col(ix), col(ix + 1));
            for ox in ox_lo..ox_hi {
                // Columns ox - pad_left + {0, 1, 2}.
                let x2 = col(ox - pad_left + 2);
                let lo3 = |x: [S::V; 4]| [x[0], x[1], x[2]];
                let hi3 = |x: [S::V; 4]| [x[1], x[2], x[3]];
                let a = self.dot::<true, true>(lo3(x0), lo3(x1), lo3(x2));
                let b = self.dot::<true, true>(hi3(x0), hi3(x1), hi3(x2));
                self.put(o[0], ox, a);
                self.put(o[1], ox, b);
                (x0, x1) = (x1, x2);
            }
        }
    }
}

/// Packs `weights` ([C][3][3]) and `bias` ([C]) into blocks of `block` channels: per block
/// the bias vector, then the 9 tap vectors, each zero-padded to `block` lanes.
pub(crate) fn pack(block: usize, channels: usize, weights: &[f32], bias: &[f32]) -> Vec<f32> {
    let blocks = channels.div_ceil(block);
    let mut packed = vec![0.0; blocks * PACKED_VECTORS * block];
    for (ch, &b) in bias.iter().enumerate().take(channels) {
        let base = ch / block * PACKED_VECTORS * block + ch % block;
        packed[base] = b;
        for tap in 0..9 {
            packed[base + (tap + 1) * block] = weights[ch * 9 + tap];
        }
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interior_ranges() {
        // in 5, pad 1 each side, stride 1: out 5, outputs 1..4 are interior.
        assert_eq!(interior(5, 5, 1, 1), (1, 4));
        // no padding: out 3, all interior.
        assert_eq!(interior(5, 3, 1, 0), (0, 3));
        // TF SAME stride 2 on 6: pads (0, 1), out 3; output 2 reads columns 4, 5, 6.
        assert_eq!(interior(6, 3, 2, 0), (0, 2));
        // 1-wide image padded both sides: its single output is a border.
        assert_eq!(interior(1, 1, 1, 1), (1, 1));
        // 2-wide, pad left only: out 1 (columns -1, 0, 1) is a border.
        assert_eq!(interior(2, 1, 1, 1), (1, 1));
    }

    #[test]
    fn pack_places_bias_then_taps_zero_padded() {
        // 3 channels, block 2: block 0 holds channels 0, 1; block 1 channel 2 and a zero lane.
        let weights: Vec<f32> = (0..27).map(|i| i as f32 + 1.0).collect();
        let p = pack(2, 3, &weights, &[-1.0, -2.0, -3.0]);
        assert_eq!(p.len(), 2 * 10 * 2);
        assert_eq!(&p[0..2], &[-1.0, -2.0]);
        // tap 0 of channels 0 and 1: weights[0], weights[9].
        assert_eq!(&p[2..4], &[1.0, 10.0]);
        // tap 8 of channels 0 and 1: weights[8], weights[17].
        assert_eq!(&p[18..20], &[9.0, 18.0]);
        assert_eq!(&p[20..22], &[-3.0, 0.0]);
        assert_eq!(&p[38..40], &[27.0, 0.0]);
    }
}
