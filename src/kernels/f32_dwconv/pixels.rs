//! The pixel order ([`DwOrder::Pixels`](super::DwOrder)): bands of output rows outermost,
//! each swept `NP` output columns at a time; in a step, every channel block of a group of
//! `GROUP_BYTES` of channels loads its taps and the step's input window and stores its
//! `R x NP` outputs. Consecutive blocks touch consecutive cache lines, so a step's stores
//! and loads walk each pixel's channels in address order (the column sweep's stores lie
//! one pixel stride apart, which at multiples of 512 B crowds a few L1 sets).
//!
//! Each output is summed as in the column sweep: the bias, then the window's input
//! columns in order (kx = 0, 1, 2), each over the band's rows (ky = 0, 1, 2); the two
//! orders give the same bits.

use super::{band_height, BandRows, DwRows, DwSimd, Rows, MAX_BAND, MAX_IN, PACKED_VECTORS};
use std::ops::Range;

/// Output columns per step: 2 keeps `R x 2` accumulators, the 9 taps and the clamp
/// bounds in registers (4 x 2 + 12 of AVX-512's 32). Wider steps spilled or ran slower.
const NP: usize = 2;
/// Input columns of a step's window at stride 2.
const MAX_WIN: usize = 2 * NP + 1;
/// Channels per group, in bytes: 8 AVX-512 or 16 AVX2 blocks. A step's window of 6 rows
/// x 4 columns of a group (12 KiB) stays in L1 for the next step, which reuses half of
/// it. 1 KiB groups ran as fast on AVX-512 and slower on AVX2; 256 B slower.
const GROUP_BYTES: usize = 512;

/// Byte offsets of a step's input window (row i, column u) and outputs (row j, column p),
/// from the step's first input and first output address. A volatile read of each keeps
/// LLVM from turning the 32 addresses of a step into 32 induction variables (which it
/// spills).
struct Window {
    input: [[usize; MAX_WIN]; MAX_IN],
    output: [[usize; NP]; MAX_BAND],
}

/// Computes a checked call in the pixel order.
///
/// # Safety
/// As [`super::rows`]; `rp` is the call's `Rows`.
#[inline(always)]
pub(super) unsafe fn rows<S: DwSimd>(s: S, a: &DwRows<'_>, rp: &Rows) {
    let group = (GROUP_BYTES / 4 / S::LANES).max(1);
    let mut g0 = 0;
    while g0 < a.blocks {
        let g1 = (g0 + group).min(a.blocks);
        let mut oy = a.rows.start;
        while oy < a.rows.end {
            let n = band_height::<S>(a, oy);
            // SAFETY: oy .. oy + n lie inside the call's rows and g0 .. g1 inside its
            // blocks.
            unsafe {
                match (a.stride, n) {
                    (1, 4) => band::<S, 1, 4>(s, a, rp, oy, g0..g1),
                    (1, 3) => band::<S, 1, 3>(s, a, rp, oy, g0..g1),
                    (1, 2) => band::<S, 1, 2>(s, a, rp, oy, g0..g1),
                    (1, _) => band::<S, 1, 1>(s, a, rp, oy, g0..g1),
                    (_, 4) => band::<S, 2, 4>(s, a, rp, oy, g0..g1),
                    (_, 3) => band::<S, 2, 3>(s, a, rp, oy, g0..g1),
                    (_, 2) => band::<S, 2, 2>(s, a, rp, oy, g0..g1),
                    (_, _) => band::<S, 2, 1>(s, a, rp, oy, g0..g1),
                }
            }
            oy += n;
        }
        g0 = g1;
    }
}

/// Output rows `oy0 .. oy0 + R` of the call, channel blocks `blocks`, all columns.
///
/// # Safety
/// As [`super::rows`], with `oy0 + R <= a.rows.end` and `blocks` a nonempty part of
/// `0..a.blocks`.
#[inline(always)]
unsafe fn band<S: DwSimd, const STRIDE: usize, const R: usize>(
    s: S,
    a: &DwRows<'_>,
    rp: &Rows,
    oy0: usize,
    blocks: Range<usize>,
) {
    let (br, outs) = BandRows::new::<STRIDE, R>(a, rp, oy0);
    // SAFETY: forwarded; the rows are the band's.
    unsafe {
        if br.first && br.last {
            sweep::<S, STRIDE, R, false>(s, a, &br, &outs, blocks)
        } else {
            sweep::<S, STRIDE, R, true>(s, a, &br, &outs, blocks)
        }
    }
}

/// Registers and addresses shared by a band's steps.
struct Band<'r, S: DwSimd> {
    s: S,
    r: &'r BandRows,
    o: &'r [*mut f32; MAX_BAND],
    window: Window,
    c: usize,
    /// Output pixel stride.
    oc: usize,
    in_w: usize,
    lo: S::V,
    hi: S::V,
}

/// # Safety
/// As [`band`]; `r` and `o` are the band's input and output rows at channel `c0`.
#[inline(always)]
unsafe fn sweep<S: DwSimd, const STRIDE: usize, const R: usize, const EDGE: bool>(
    s: S,
    a: &DwRows<'_>,
    r: &BandRows,
    o: &[*mut f32; MAX_BAND],
    blocks: Range<usize>,
) {
    let c = a.channels;
    let n_in = if STRIDE == 1 { R + 2 } else { 2 * R + 1 };
    let win = (NP - 1) * STRIDE + 3;
    let mut window = Window {
        input: [[0; MAX_WIN]; MAX_IN],
        output: [[0; NP]; MAX_BAND],
    };
    for (i, row) in window.input.iter_mut().enumerate().take(n_in) {
        for (u, e) in row.iter_mut().enumerate().take(win) {
            *e = 4 * (i * a.in_w * c + u * c);
        }
    }
    for (j, row) in window.output.iter_mut().enumerate().take(R) {
        for (p, e) in row.iter_mut().enumerate() {
            *e = 4 * (j * a.out_w * a.out_px + p * a.out_px);
        }
    }
    let g = Band {
        s,
        r,
        o,
        window,
        c,
        oc: a.out_px,
        in_w: a.in_w,
        lo: s.splat(a.clamp.min),
        hi: s.splat(a.clamp.max),
    };
    // The last block of the group may be partial (only the call's last block can be).
    let last = blocks.end - 1;
    let tail_lanes = S::LANES.min(c - a.c0 - last * S::LANES);
    let whole = if tail_lanes == S::LANES {
        blocks.end
    } else {
        last
    };
    let (full, tail) = (s.tail(S::LANES), s.tail(tail_lanes));
    let mut ox = 0;
    while ox < a.out_w {
        // Input column of the window's first tap column (-1 at a left padding column).
        let x0 = (ox * STRIDE) as isize - a.pad_left as isize;
        let inside = ox + NP <= a.out_w && x0 >= 0 && x0 as usize + win <= a.in_w;
        // SAFETY: `inside` steps have every window column in the image and NP output
        // columns left; the others test each column. Blocks lie inside the call's.
        unsafe {
            if inside {
                for b in blocks.start..whole {
                    g.step::<STRIDE, R, NP, EDGE, false, false>(a, b, ox, x0, full);
                }
                if whole == last {
                    g.step::<STRIDE, R, NP, EDGE, false, true>(a, last, ox, x0, tail);
                }
                ox += NP;
            } else {
                for b in blocks.start..whole {
                    g.step::<STRIDE, R, 1, EDGE, true, false>(a, b, ox, x0, full);
                }
                if whole == last {
                    g.step::<STRIDE, R, 1, EDGE, true, true>(a, last, ox, x0, tail);
                }
                ox += 1;
            }
        }
    }
}

impl<S: DwSimd> Band<'_, S> {
    /// Outputs (oy0 + j, ox + p), j < R, p < P, of block `b`.
    ///
    /// # Safety
    /// `b` is a block of the call (partial only if `MASKED`, with `t` its lanes); the
    /// band's rows are present where flagged. Unless `CHECK`, input columns
    /// `x0 .. x0 + (P - 1) * STRIDE + 3` lie inside the image and `ox + P <= out_w`;
    /// if `CHECK`, `P == 1` and `ox < out_w`.
    #[inline(always)]
    unsafe fn step<
        const STRIDE: usize,
        const R: usize,
        const P: usize,
        const EDGE: bool,
        const CHECK: bool,
        const MASKED: bool,
    >(
        &self,
        a: &DwRows<'_>,
        b: usize,
        ox: usize,
        x0: isize,
        t: S::Tail,
    ) {
        let (s, c, r) = (self.s, self.c, self.r);
        let off = b * S::LANES;
        let wp = a.weights[b * PACKED_VECTORS * S::LANES..].as_ptr();
        // SAFETY: `check` verified `weights.len() >= blocks * 10 * LANES`; packed blocks
        // are zero-padded to full width, so these loads are never masked.
        let w = |i: usize| unsafe { s.load::<false>(wp.add(i * S::LANES), t) };
        let k = [w(1), w(2), w(3), w(4), w(5), w(6), w(7), w(8), w(9)];
        let mut acc = [[w(0); P]; R];
        // The step's first input (row 0, column x0) and first output, wrapping: row 0 or
        // column x0 may be padding, whose addresses are only offset, never read.
        let in0 = r
            .top
            .wrapping_add((x0 as usize).wrapping_mul(c))
            .wrapping_add(off)
            .cast::<u8>();
        let out0 = self.o[0].wrapping_add(ox * self.oc + off).cast::<u8>();
        let n_in = if STRIDE == 1 { R + 2 } else { 2 * R + 1 };
        for u in 0..(P - 1) * STRIDE + 3 {
            let x = x0 + u as isize;
            if CHECK && (x < 0 || x as usize >= self.in_w) {
                continue;
            }
            for i in 0..n_in {
                if EDGE && ((i == 0 && !r.first) || (i == n_in - 1 && !r.last)) {
                    continue;
                }
                let p = if CHECK {
                    r.r[i].wrapping_add(x as usize * c + off)
                } else {
                    // SAFETY: a plain read of an initialized local.
                    let d = unsafe { core::ptr::read_volatile(&self.window.input[i][u]) };
                    in0.wrapping_add(d).cast::<f32>()
                };
                // SAFETY: row i is present (tested above in edge bands) and column x is
                // inside the image, so `p` addresses block b of pixel (row i, x).
                let v = unsafe { s.load::<MASKED>(p, t) };
                for (j, accj) in acc.iter_mut().enumerate() {
                    let ky = i.wrapping_sub(STRIDE * j);
                    if ky < 3 {
                        for (q, e) in accj.iter_mut().enumerate() {
                            let kx = u.wrapping_sub(STRIDE * q);
                            if kx < 3 {
                                *e = s.fma(v, k[3 * ky + kx], *e);
                            }
                        }
                    }
                }
            }
        }
        for (j, accj) in acc.iter().enumerate() {
            for (q, e) in accj.iter().enumerate() {
                let p = if CHECK {
                    self.o[j].wrapping_add((ox + q) * self.oc + off)
                } else {
                    // SAFETY: a plain read of an initialized local.
                    let d = unsafe { core::ptr::read_volatile(&self.window.output[j][q]) };
                    out0.wrapping_add(d).cast::<f32>()
                };
                // SAFETY: output row j of the band, column ox + q < out_w, block b.
                unsafe { s.store::<MASKED>(p, s.clamp(*e, self.lo, self.hi), t) }
            }
        }
    }
}
