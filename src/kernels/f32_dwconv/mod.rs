//! Depthwise 3x3 convolution: a range of output rows and channel blocks per call.
//!
//! The algorithm is written once, generic over [`Simd`] (`kernels::simd`: a vector type
//! plus its loads, stores and arithmetic) and the tuning of [`DwSimd`]; each ISA file
//! supplies the tuning, a descriptor and a `#[target_feature]` entry that instantiates it. Every helper is `#[inline(always)]`, so
//! the whole kernel is compiled with the entry's target features.
//!
//! Structure: a channel block's bias and 9 taps sit in registers while it sweeps a band of
//! up to 4 output rows (`DwSimd::BAND`, `DwSimd::BAND2`) along the whole width. The band holds
//! accumulators, not inputs: each input vector is loaded once per band and feeds up to 9
//! FMAs into the three output columns (stride 1) or two (stride 2) it touches, so a band of
//! 4 rows at stride 1 loads 6 vectors per 4 outputs (36 FMAs) and keeps 12 accumulators +
//! 9 taps + bias + 2 clamp bounds in registers. Every output is summed in one order (bias,
//! then kx = 0, 1, 2, each over ky = 0, 1, 2) whatever band or call computes it, so row
//! ranges assemble the same image bit for bit. Padding columns are skipped, missing rows
//! (top or bottom padding) are tested only in edge bands (const generic `EDGE`). Nothing
//! copies the input.
//!
//! Two loop orders share that arithmetic ([`DwOrder`]). Columns: blocks are the outer
//! loop, and a block's sweep over a row tile reads what the previous block's sweep brought
//! into L2. Pixels (`pixels`): bands are the outer loop, swept two output columns at a
//! time through every block of a 512 B channel group, so that memory is walked in address
//! order; it wins on large images and on stride 2 with many channels (`pixels_pay`).

pub(crate) mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

mod pixels;

use super::cpu::Cpu;
use super::simd::Simd;
use super::table::{Kernel, KernelId};
use crate::activation::Clamp;
use std::ops::Range;

/// Loop order of a depthwise call. Both orders sum every output in the same order, so
/// they give the same bits; they differ in how they move through memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DwOrder {
    /// [`DwOrder::Pixels`] where it pays (images past most of L2, stride 2 with many
    /// channels, more shapes on AVX2), else [`DwOrder::Columns`]: see `pixels_pay`.
    #[default]
    Auto,
    /// Channel block outermost, each sweeping bands of rows along the whole width with
    /// its taps in registers: the fewest instructions per output.
    Columns,
    /// Bands of rows outermost, swept two output columns at a time, every channel block
    /// of a 512 B group in turn per step: stores and loads walk each pixel's channels
    /// in address order.
    Pixels,
}

/// Vectors per packed channel block: the bias, then the 9 taps in (ky, kx) order.
pub const PACKED_VECTORS: usize = 10;

/// Output rows `rows` of one channel block of one image.
///
/// `image` is one `[in_h, in_w, channels]` image (longer is allowed); `out` holds the
/// output rows `rows`, `rows.len() * out_w * out_px` floats (longer is allowed), pixel
/// after pixel `out_px >= channels` floats apart (the floats between one pixel's channels
/// and the next pixel are not written). The
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
    /// Floats from one output pixel to the next (`channels` for dense NHWC).
    pub out_px: usize,
    pub c0: usize,
    /// Channel blocks to compute from `c0` (`weights` holds them consecutively).
    pub blocks: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub clamp: Clamp,
    pub order: DwOrder,
}

/// A depthwise kernel: computes `DwRows::out`'s blocks of channels. Panics if the call
/// breaks the documented contract (the operator in `ops::depthwise` validates shapes
/// first, so this only guards direct callers of the kernel set).
pub type DwRowsFn = fn(DwRows<'_>);

/// A depthwise 3x3 kernel with its channel block.
#[derive(Debug)]
pub struct DwKernel {
    pub id: KernelId,
    /// Safe to call on any CPU: each entry checks the CPU it needs first.
    pub rows: DwRowsFn,
    /// Channels per block (the packing width of `ops::depthwise`).
    pub block: usize,
}

impl Kernel for DwKernel {
    fn id(&self) -> &KernelId {
        &self.id
    }
}

/// Every depthwise 3x3 kernel, best first.
pub static TABLE: &[DwKernel] = &[
    #[cfg(target_arch = "x86_64")]
    avx512::KERNEL,
    #[cfg(target_arch = "x86_64")]
    avx2::KERNEL,
    #[cfg(target_arch = "aarch64")]
    neon::KERNEL,
    scalar::KERNEL,
];

/// The depthwise kernel for `cpu`.
pub fn best(cpu: Cpu) -> &'static DwKernel {
    super::table::best(TABLE, cpu, |_| true).unwrap_or(&scalar::KERNEL)
}

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
            .checked_mul(self.out_px)
            .and_then(|n| n.checked_mul(self.rows.len()));
        // The last output's last column (row) is at most one past the image: padding.
        let last = |outs: usize, pad: usize, input: usize| {
            outs.checked_sub(1)
                .and_then(|o| o.checked_mul(self.stride))
                .and_then(|o| o.checked_add(2))
                .is_some_and(|last| last <= input + pad)
        };
        let ok = matches!(self.stride, 1 | 2)
            && self.out_px >= c
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

/// The depthwise algorithm's tuning per vector ISA, beside the [`Simd`] it runs on.
pub(crate) trait DwSimd: Simd {
    /// Output rows per band at stride 1 (1, 2 or 4). A band keeps three output columns of
    /// accumulators per row, the 9 taps, the bias and the clamp bounds in registers:
    /// `3 * rows + 13` vectors, so 4 rows need 25 of 32 registers.
    const BAND: usize;
    /// The same at stride 2, where a band keeps two output columns of accumulators per row
    /// but reads `2 * rows + 1` input rows (one general register each).
    const BAND2: usize;
    /// Whether the pixel order pays on every stride-2 layer and on stride-1 layers of a
    /// multiple of 256 channels (`pixels_pay`): true for AVX2, whose 16 registers leave
    /// the column sweep 2-row bands that reload more input per output.
    const PIXELS_WIDELY: bool = false;
}

/// Most output rows of a band (the accumulator arrays are this long).
const MAX_BAND: usize = 4;
/// Most input rows of a band: `2 * MAX_BAND + 1` at stride 2.
const MAX_IN: usize = 2 * MAX_BAND + 1;

/// Computes a checked call in the order `a.order` resolves to. Columns: for each channel
/// block, its bands of output rows, each swept along the whole width (walking every block
/// per band with this sweep, or per band and chunk of 4 columns, measured slower or no
/// faster at every channel count on Zen 4 and on the Xeon; the pixel order's steps are
/// built for walking the blocks, see `pixels`).
///
/// # Safety
/// `s` is a valid token (the ISA's features are enabled) and `a.check(S::LANES)` passed.
#[inline(always)]
pub(crate) unsafe fn rows<S: DwSimd>(s: S, a: &mut DwRows<'_>) {
    // SAFETY: `a` was checked.
    let rp = unsafe { Rows::new(a) };
    let pixels = match a.order {
        DwOrder::Auto => pixels_pay::<S>(a),
        order => order == DwOrder::Pixels,
    };
    if pixels {
        // SAFETY: forwarded.
        unsafe { pixels::rows(s, a, &rp) };
        return;
    }
    for b in 0..a.blocks {
        let mut oy = a.rows.start;
        while oy < a.rows.end {
            let n = band_height::<S>(a, oy);
            // SAFETY: oy .. oy + n lie inside the call's rows, b < blocks, and out_w >= 1
            // (checked), so the columns are a nonempty part of 0..out_w.
            unsafe { run(s, a, &rp, oy, n, b, 0..a.out_w) };
            oy += n;
        }
    }
}

/// Whether [`DwOrder::Pixels`] beats [`DwOrder::Columns`] on this image (both orders give
/// the same bits, so this only moves time; the timings behind each rule are in
/// docs/performance.md). The column sweep stores a block's outputs one pixel stride
/// apart, which at multiples of 512 B crowds a few L1 sets: on images past most of L2
/// those stores cost more than address-order stores do. At stride 2 the pixel order also
/// reads each pixel's channels together, which pays from 128 channels. Elsewhere, with
/// the data in L2, the AVX-512 column sweep's fewer instructions win, in the network
/// too. AVX2: see `DwSimd::PIXELS_WIDELY`.
fn pixels_pay<S: DwSimd>(a: &DwRows<'_>) -> bool {
    let input = a.in_h * a.in_w * a.channels * 4;
    let bytes = input + input / (a.stride * a.stride);
    if a.stride == 2 {
        S::PIXELS_WIDELY || a.channels >= 128 || input >= 1 << 20
    } else {
        bytes > 5 << 18 || (S::PIXELS_WIDELY && a.channels.is_multiple_of(256))
    }
}

/// Rows in the band that starts at output row `oy`: the widest band that fits, but 5 and
/// 6 rows as 3 + 2 and 3 + 3 rather than 4 + 1 and 4 + 2 (narrow bands reload more
/// input per output).
#[inline(always)]
fn band_height<S: DwSimd>(a: &DwRows<'_>, oy: usize) -> usize {
    let band = if a.stride == 1 { S::BAND } else { S::BAND2 };
    match (a.rows.end - oy).min(band).min(MAX_BAND) {
        4 if matches!(a.rows.end - oy, 5 | 6) => 3,
        n => n,
    }
}

/// Output rows `oy .. oy + n` (n <= 4) of block `b` at columns `cols`. A function, not a
/// closure: closures do not inherit the entry's target features, so their intrinsics
/// would not inline.
///
/// # Safety
/// As [`band_rows`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn run<S: DwSimd>(
    s: S,
    a: &DwRows<'_>,
    rp: &Rows,
    oy: usize,
    n: usize,
    b: usize,
    cols: Range<usize>,
) {
    // SAFETY: all arms: forwarded.
    unsafe {
        match (a.stride, n) {
            (1, 4) => band_rows::<S, 1, 4>(s, a, rp, oy, b, cols),
            (1, 3) => band_rows::<S, 1, 3>(s, a, rp, oy, b, cols),
            (1, 2) => band_rows::<S, 1, 2>(s, a, rp, oy, b, cols),
            (1, _) => band_rows::<S, 1, 1>(s, a, rp, oy, b, cols),
            (_, 4) => band_rows::<S, 2, 4>(s, a, rp, oy, b, cols),
            (_, 3) => band_rows::<S, 2, 3>(s, a, rp, oy, b, cols),
            (_, 2) => band_rows::<S, 2, 2>(s, a, rp, oy, b, cols),
            (_, _) => band_rows::<S, 2, 1>(s, a, rp, oy, b, cols),
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
                out_row: a.out_w * a.out_px,
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
}

/// Input rows of a band: `oy0 * STRIDE - pad_top + i` for `i < n`, where only the first
/// and the last can lie outside the image (padding).
struct BandRows {
    r: [*const f32; MAX_IN],
    /// Input row 0 of the band, computed with wrapping arithmetic: a padding row's
    /// address, only ever offset to a present row's.
    top: *const f32,
    /// Whether input row 0 / row n - 1 exists; a missing row's pointer aliases an image
    /// row and is never read.
    first: bool,
    last: bool,
}

impl BandRows {
    /// The input rows of the band of output rows `oy0 .. oy0 + R`, and its output rows.
    #[inline(always)]
    fn new<const STRIDE: usize, const R: usize>(
        a: &DwRows<'_>,
        rp: &Rows,
        oy0: usize,
    ) -> (BandRows, [*mut f32; MAX_BAND]) {
        let n_in = if STRIDE == 1 { R + 2 } else { 2 * R + 1 };
        let top = (oy0 * STRIDE).wrapping_sub(a.pad_top);
        let mut br = BandRows {
            r: [rp.img; MAX_IN],
            top: rp.img.wrapping_add(top.wrapping_mul(rp.row_len)),
            first: top < a.in_h,
            last: top.wrapping_add(n_in - 1) < a.in_h,
        };
        for (i, r) in br.r.iter_mut().enumerate().take(n_in) {
            // Rows above the image wrap to huge values: `min` maps them (and rows below
            // it) to the last image row. The checked contract (the last output row's
            // window ends at most one row past the image, pad_top <= 1) leaves only the
            // first and the last input row of a band possibly missing.
            *r = rp.input(top.wrapping_add(i).min(a.in_h - 1));
        }
        let mut outs = [rp.out; MAX_BAND];
        for (j, o) in outs.iter_mut().enumerate().take(R) {
            *o = rp.output(oy0 + j - a.rows.start);
        }
        (br, outs)
    }
}

/// Output rows `oy0 .. oy0 + R` of the call, channel block `b`, output columns `cols`.
///
/// # Safety
/// As [`rows`], with `oy0 + R <= a.rows.end`, `b < a.blocks` and `cols` a nonempty part
/// of `0..out_w`.
#[inline(always)]
unsafe fn band_rows<S: DwSimd, const STRIDE: usize, const R: usize>(
    s: S,
    a: &DwRows<'_>,
    rp: &Rows,
    oy0: usize,
    b: usize,
    cols: Range<usize>,
) {
    let (br, outs) = BandRows::new::<STRIDE, R>(a, rp, oy0);
    let g = Geometry {
        in_w: a.in_w,
        pad_left: a.pad_left,
        cols,
    };
    let off = b * S::LANES;
    let lanes = S::LANES.min(a.channels - a.c0 - off);
    let rb = BandRows {
        r: br.r.map(|p| p.wrapping_add(off)),
        ..br
    };
    let ob = outs.map(|p| p.wrapping_add(off));
    // SAFETY: block b lies inside the channels (checked), so `off` keeps every row
    // pointer inside its row; rows flagged present exist, output rows are the call's.
    unsafe {
        match (lanes == S::LANES, rb.first && rb.last) {
            (true, true) => {
                block::<S, false>(s, a, b, lanes).band::<STRIDE, R, false>(&rb, &ob, &g)
            }
            (true, false) => {
                block::<S, false>(s, a, b, lanes).band::<STRIDE, R, true>(&rb, &ob, &g)
            }
            (false, true) => {
                block::<S, true>(s, a, b, lanes).band::<STRIDE, R, false>(&rb, &ob, &g)
            }
            (false, false) => {
                block::<S, true>(s, a, b, lanes).band::<STRIDE, R, true>(&rb, &ob, &g)
            }
        }
    }
}

/// The weights, bias and clamp of block `b` of a call.
///
/// # Safety
/// `a` was checked and `b < a.blocks`; `lanes` is the block's live lane count.
#[inline(always)]
unsafe fn block<S: DwSimd, const MASKED: bool>(
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
        oc: a.out_px,
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
    }
}

/// Horizontal geometry of every row of a call, and the output columns to compute.
struct Geometry {
    in_w: usize,
    pad_left: usize,
    cols: Range<usize>,
}

/// The registers of one channel block: weights, bias, clamp bounds.
struct Block<S: DwSimd, const MASKED: bool> {
    s: S,
    t: S::Tail,
    /// Input pixel stride (channels).
    c: usize,
    /// Output pixel stride.
    oc: usize,
    bias: S::V,
    k: [S::V; 9],
    lo: S::V,
    hi: S::V,
}

/// Accumulators of one output column of a band, one per row.
type Acc<S> = [<S as Simd>::V; MAX_BAND];

impl<S: DwSimd, const MASKED: bool> Block<S, MASKED> {
    /// Feeds input column `x` of the band's rows (or, if `!real`, a padding column of
    /// zeros, which changes nothing) to up to three output columns: `fin` gets its kx = 2
    /// taps and is stored as output `ox_fin`, `mid` its kx = 1 taps, and `new` starts
    /// from the bias with its kx = 0 taps. Every output thus sums bias, then kx = 0, 1, 2,
    /// each over ky = 0, 1, 2: the same order whichever band or call computes it.
    /// Unless `EDGE`, all the band's rows exist and the per-row presence tests are
    /// compiled out of the hot loop.
    ///
    /// # Safety
    /// `r` holds the band's rows at the block's first channel (present where flagged),
    /// `x < in_w` if `real`, `o` the band's output rows and `ox_fin < out_w` if `FIN`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn step<
        const STRIDE: usize,
        const R: usize,
        const EDGE: bool,
        const FIN: bool,
        const MID: bool,
        const START: bool,
    >(
        &self,
        r: &BandRows,
        o: &[*mut f32; MAX_BAND],
        x: usize,
        real: bool,
        ox_fin: usize,
        fin: &mut Acc<S>,
        mid: &mut Acc<S>,
        new: &mut Acc<S>,
    ) {
        let (s, k) = (self.s, &self.k);
        let n_in = if STRIDE == 1 { R + 2 } else { 2 * R + 1 };
        if START {
            *new = [self.bias; MAX_BAND];
        }
        if real {
            for i in 0..n_in {
                if EDGE && ((i == 0 && !r.first) || (i == n_in - 1 && !r.last)) {
                    continue;
                }
                // SAFETY: row i exists (checked just above) and x < in_w.
                let v = unsafe { s.load::<MASKED>(r.r[i].add(x * self.c), self.t) };
                for j in 0..R {
                    let ky = i.wrapping_sub(STRIDE * j);
                    if ky < 3 {
                        if FIN {
                            fin[j] = s.fma(v, k[3 * ky + 2], fin[j]);
                        }
                        if MID {
                            mid[j] = s.fma(v, k[3 * ky + 1], mid[j]);
                        }
                        if START {
                            new[j] = s.fma(v, k[3 * ky], new[j]);
                        }
                    }
                }
            }
        }
        if FIN {
            for j in 0..R {
                // SAFETY: output row j of the band, ox_fin < out_w.
                unsafe {
                    self.s.store::<MASKED>(
                        o[j].add(ox_fin * self.oc),
                        s.clamp(fin[j], self.lo, self.hi),
                        self.t,
                    )
                }
            }
        }
    }

    /// The band's `R` output rows at output columns `g.cols`. Virtual column
    /// `u = x + pad_left` of the padded input feeds outputs `(u - kx) / STRIDE`.
    ///
    /// # Safety
    /// `r` holds the band's input rows and `o` its output rows, at the block's first
    /// channel; `g` is the checked geometry, with a nonempty `cols` inside `0..out_w`.
    #[inline(always)]
    unsafe fn band<const STRIDE: usize, const R: usize, const EDGE: bool>(
        &self,
        r: &BandRows,
        o: &[*mut f32; MAX_BAND],
        g: &Geometry,
    ) {
        let (o0, w, pl) = (g.cols.start, g.cols.len(), g.pad_left);
        // Column u - pad_left, and whether it lies inside the image.
        let x = |u: usize| u.wrapping_sub(pl);
        let real = |u: usize| x(u) < g.in_w;
        let z = [self.s.splat(0.0); MAX_BAND];
        let (mut a, mut b, mut n) = (z, z, z);
        // SAFETY: every step gets `real` as computed above or, in the steady loops, for
        // columns inside the image: the checked contract puts the last output's last
        // column at most one past the image ((out_w - 1) * STRIDE + 2 <= in_w +
        // pad_left), so every column before it, from 1 - pad_left on, is inside. Outputs
        // stored are in `cols`.
        unsafe {
            if STRIDE == 1 {
                // a: output u - 2, b: output u - 1, n: output u.
                self.step::<1, R, EDGE, false, false, true>(
                    r,
                    o,
                    x(o0),
                    real(o0),
                    0,
                    &mut a,
                    &mut b,
                    &mut n,
                );
                b = n;
                if w == 1 {
                    self.step::<1, R, EDGE, false, true, false>(
                        r,
                        o,
                        x(o0 + 1),
                        real(o0 + 1),
                        0,
                        &mut a,
                        &mut b,
                        &mut n,
                    );
                    a = b;
                    self.step::<1, R, EDGE, true, false, false>(
                        r,
                        o,
                        x(o0 + 2),
                        real(o0 + 2),
                        o0,
                        &mut a,
                        &mut b,
                        &mut n,
                    );
                    return;
                }
                self.step::<1, R, EDGE, false, true, true>(
                    r,
                    o,
                    x(o0 + 1),
                    real(o0 + 1),
                    0,
                    &mut a,
                    &mut b,
                    &mut n,
                );
                (a, b) = (b, n);
                for u in o0 + 2..o0 + w {
                    self.step::<1, R, EDGE, true, true, true>(
                        r,
                        o,
                        u - pl,
                        true,
                        u - 2,
                        &mut a,
                        &mut b,
                        &mut n,
                    );
                    (a, b) = (b, n);
                }
                let u = o0 + w;
                self.step::<1, R, EDGE, true, true, false>(
                    r,
                    o,
                    x(u),
                    real(u),
                    u - 2,
                    &mut a,
                    &mut b,
                    &mut n,
                );
                a = b;
                self.step::<1, R, EDGE, true, false, false>(
                    r,
                    o,
                    x(u + 1),
                    real(u + 1),
                    u - 1,
                    &mut a,
                    &mut b,
                    &mut n,
                );
            } else {
                // a: the output being summed, n: the next one.
                self.step::<2, R, EDGE, false, false, true>(
                    r,
                    o,
                    x(2 * o0),
                    real(2 * o0),
                    0,
                    &mut b,
                    &mut n,
                    &mut a,
                );
                for ox in o0..o0 + w - 1 {
                    let u = 2 * ox + 1;
                    self.step::<2, R, EDGE, false, true, false>(
                        r,
                        o,
                        u - pl,
                        true,
                        0,
                        &mut b,
                        &mut a,
                        &mut n,
                    );
                    self.step::<2, R, EDGE, true, false, true>(
                        r,
                        o,
                        u + 1 - pl,
                        true,
                        ox,
                        &mut a,
                        &mut b,
                        &mut n,
                    );
                    a = n;
                }
                let ox = o0 + w - 1;
                let u = 2 * ox + 1;
                self.step::<2, R, EDGE, false, true, false>(
                    r,
                    o,
                    x(u),
                    real(u),
                    0,
                    &mut b,
                    &mut a,
                    &mut n,
                );
                self.step::<2, R, EDGE, true, false, false>(
                    r,
                    o,
                    x(u + 1),
                    real(u + 1),
                    ox,
                    &mut a,
                    &mut b,
                    &mut n,
                );
            }
        }
    }
}

/// Packs `weights` ([C][3][3]) and `bias` ([C]) into blocks of `block` channels: per block
/// the bias vector, then the 9 tap vectors, each zero-padded to `block` lanes.
pub(crate) fn pack(block: usize, channels: usize, weights: &[f32], bias: &[f32]) -> Vec<f32> {
    super::pack_channel_blocks(block, PACKED_VECTORS - 1, channels, weights, bias)
}

#[cfg(test)]
mod tests {
    use super::*;

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
