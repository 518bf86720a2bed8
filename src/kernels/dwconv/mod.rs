//! Depthwise 3x3 convolution, one output row of one channel block per call.
//!
//! The row algorithm is written once, generic over [`Simd`] (a vector type plus its
//! loads, stores and arithmetic); each ISA file supplies the vector type and a
//! `#[target_feature]` entry that instantiates it. Every helper is `#[inline(always)]`, so
//! the whole row is compiled with the entry's target features.
//!
//! Structure: the channel block's bias and 9 taps sit in registers for the whole row.
//! Interior outputs (all three input columns inside the image) slide along the row keeping
//! the input columns they share with the next output in registers: 3 new vectors per
//! output at stride 1, 6 at stride 2, for 9 FMAs. The at most one output at each end that
//! touches padding takes a slower path that skips the missing columns; missing rows (top
//! or bottom padding) are compiled out through const generics. Nothing copies the input.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use crate::activation::Clamp;

/// Vectors per packed channel block: the bias, then the 9 taps in (ky, kx) order.
pub const PACKED_VECTORS: usize = 10;

/// One output row of one channel block.
///
/// `input[ky]` is the image row read by tap row `ky` (`None` where that row is padding;
/// the middle row always exists), `in_w * channels` floats (longer is allowed). `out` is
/// the output row, `out_w * channels` floats (longer is allowed). The block covers channels
/// `c0 .. min(c0 + block, channels)`; `weights` is its packed block, `10 * block` floats.
/// Output `ox` reads input columns `ox * stride - pad_left + {0, 1, 2}`.
pub struct DwRow<'a> {
    pub input: [Option<&'a [f32]>; 3],
    pub out: &'a mut [f32],
    pub weights: &'a [f32],
    pub in_w: usize,
    pub out_w: usize,
    pub channels: usize,
    pub c0: usize,
    pub stride: usize,
    pub pad_left: usize,
    pub clamp: Clamp,
}

/// A row kernel: computes `DwRow::out`'s block of channels. Panics if the row breaks the
/// documented contract (the operator in `ops::depthwise` validates shapes first, so this
/// only guards direct callers of the kernel set).
pub type DwRowFn = fn(DwRow<'_>);

impl DwRow<'_> {
    /// Checks everything the row algorithm relies on for memory safety; returns the number
    /// of live lanes in the block (`block` except for the last, partial block).
    pub(crate) fn check(&self, block: usize) -> usize {
        let row_len = self.in_w.checked_mul(self.channels);
        let out_len = self.out_w.checked_mul(self.channels);
        let last_col = self
            .out_w
            .checked_sub(1)
            .and_then(|o| o.checked_mul(self.stride))
            .and_then(|o| o.checked_add(2));
        let ok = matches!(self.stride, 1 | 2)
            && self.pad_left <= 1
            && self.in_w >= 1
            && self.c0 < self.channels
            && self.input[1].is_some()
            && row_len.is_some_and(|n| self.input.iter().flatten().all(|r| r.len() >= n))
            && out_len.is_some_and(|n| self.out.len() >= n)
            && self.weights.len() >= PACKED_VECTORS * block
            // The last output's last column is at most one past the image (right padding).
            && last_col.is_some_and(|c| c <= self.in_w + self.pad_left)
            && !self.clamp.min.is_nan()
            && !self.clamp.max.is_nan();
        assert!(ok, "depthwise row kernel called outside its contract");
        block.min(self.channels - self.c0)
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

/// A vector ISA, as the row algorithm needs it. A value of the implementing type is a
/// token: it may only be created where the ISA's target features are known to be present
/// (the `#[target_feature]` entry of each ISA file), which is what makes its methods sound.
pub(crate) trait Simd: Copy {
    const LANES: usize;
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

/// Computes one checked row: picks the instantiation for this row's stride, padding rows
/// and block tail.
///
/// # Safety
/// `s` is a valid token (the ISA's features are enabled) and `a.check(S::LANES)` returned
/// `lanes`.
#[inline(always)]
pub(crate) unsafe fn row<S: Simd>(s: S, a: &mut DwRow<'_>, lanes: usize) {
    let masked = lanes < S::LANES;
    let (r0, r2) = (a.input[0].is_some(), a.input[2].is_some());
    macro_rules! go {
        ($($m:literal, $s:literal, $r0:literal, $r2:literal);*) => {
            match (masked, a.stride, r0, r2) {
                // SAFETY: forwarded from this function's contract.
                $(($m, $s, $r0, $r2) => unsafe { row_inst::<S, $m, $s, $r0, $r2>(s, a, lanes) },)*
                _ => unreachable!("stride checked to be 1 or 2"),
            }
        };
    }
    go!(false, 1, false, false; false, 1, false, true; false, 1, true, false; false, 1, true, true;
        false, 2, false, false; false, 2, false, true; false, 2, true, false; false, 2, true, true;
        true, 1, false, false; true, 1, false, true; true, 1, true, false; true, 1, true, true;
        true, 2, false, false; true, 2, false, true; true, 2, true, false; true, 2, true, true)
}

/// # Safety
/// As [`row`], with `MASKED == (lanes < LANES)`, `STRIDE == a.stride`, `R0`/`R2` saying
/// whether `a.input[0]` / `a.input[2]` exist.
#[inline(always)]
unsafe fn row_inst<
    S: Simd,
    const MASKED: bool,
    const STRIDE: usize,
    const R0: bool,
    const R2: bool,
>(
    s: S,
    a: &mut DwRow<'_>,
    lanes: usize,
) {
    let t = s.tail(lanes);
    let wp = a.weights.as_ptr();
    // SAFETY: `check` verified `weights.len() >= 10 * LANES`; packed blocks are
    // zero-padded to full width, so these loads are never masked.
    macro_rules! w {
        ($i:literal) => {
            unsafe { s.load::<false>(wp.add($i * S::LANES), t) }
        };
    }
    // A missing row is never read (R0/R2 false); it aliases the middle row only to keep
    // the pointer valid.
    let mid = a.input[1].unwrap_or_default().as_ptr();
    // SAFETY: c0 < channels <= row length (checked), so the offsets stay inside each row
    // and the output row.
    let (rows, out) = unsafe {
        (
            [
                a.input[0].map_or(mid, |r| r.as_ptr()).add(a.c0),
                mid.add(a.c0),
                a.input[2].map_or(mid, |r| r.as_ptr()).add(a.c0),
            ],
            a.out.as_mut_ptr().add(a.c0),
        )
    };
    let r = Row::<S, MASKED, R0, R2> {
        s,
        t,
        rows,
        out,
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
    };
    let (in_w, out_w, pad_left) = (a.in_w, a.out_w, a.pad_left);
    // SAFETY (all `col` / `put` calls below): columns are < in_w and outputs < out_w.
    unsafe {
        let (ox_lo, ox_hi) = interior(in_w, out_w, STRIDE, pad_left);
        for ox in 0..ox_lo {
            r.border::<STRIDE>(ox, in_w, pad_left);
        }
        if ox_lo < ox_hi {
            // Interior: columns ox * STRIDE - pad_left + {0, 1, 2} are all < in_w.
            let mut ix = ox_lo * STRIDE - pad_left;
            let mut x0 = r.col(ix);
            if STRIDE == 1 {
                let mut x1 = r.col(ix + 1);
                for ox in ox_lo..ox_hi {
                    let x2 = r.col(ix + 2);
                    r.put(ox, r.dot(x0, x1, x2));
                    (x0, x1) = (x1, x2);
                    ix += 1;
                }
            } else {
                for ox in ox_lo..ox_hi {
                    let (x1, x2) = (r.col(ix + 1), r.col(ix + 2));
                    r.put(ox, r.dot(x0, x1, x2));
                    x0 = x2;
                    ix += 2;
                }
            }
        }
        for ox in ox_hi..out_w {
            r.border::<STRIDE>(ox, in_w, pad_left);
        }
    }
}

/// The registers of one row: weights, bias and clamp bounds, and the base pointers at the
/// block's first channel.
struct Row<S: Simd, const MASKED: bool, const R0: bool, const R2: bool> {
    s: S,
    t: S::Tail,
    rows: [*const f32; 3],
    out: *mut f32,
    /// Pixel stride (channels).
    c: usize,
    bias: S::V,
    k: [S::V; 9],
    lo: S::V,
    hi: S::V,
}

impl<S: Simd, const MASKED: bool, const R0: bool, const R2: bool> Row<S, MASKED, R0, R2> {
    /// Input column `ix` of the three tap rows; a missing row's slot holds `bias`, unused.
    ///
    /// # Safety
    /// `ix < in_w`, so `ix * c + c0 + lanes <= in_w * c <= row.len()`.
    #[inline(always)]
    unsafe fn col(&self, ix: usize) -> [S::V; 3] {
        let (s, off) = (self.s, ix * self.c);
        // SAFETY: forwarded from this function's contract.
        unsafe {
            [
                if R0 {
                    s.load::<MASKED>(self.rows[0].add(off), self.t)
                } else {
                    self.bias
                },
                s.load::<MASKED>(self.rows[1].add(off), self.t),
                if R2 {
                    s.load::<MASKED>(self.rows[2].add(off), self.t)
                } else {
                    self.bias
                },
            ]
        }
    }

    /// Stores output `ox`.
    ///
    /// # Safety
    /// `ox < out_w`, so `ox * c + c0 + lanes <= out_w * c <= out.len()`.
    #[inline(always)]
    unsafe fn put(&self, ox: usize, v: S::V) {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.s.store::<MASKED>(self.out.add(ox * self.c), v, self.t) }
    }

    /// One interior output from its three columns: a chain per tap row, summed at the
    /// end, so the dependency chain is 3 FMAs + 2 adds rather than 9 FMAs.
    #[inline(always)]
    fn dot(&self, x0: [S::V; 3], x1: [S::V; 3], x2: [S::V; 3]) -> S::V {
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

    /// An output touching padding: only the columns inside the image contribute.
    ///
    /// # Safety
    /// `ox < out_w` and `in_w` is the row's real width.
    #[inline(always)]
    unsafe fn border<const STRIDE: usize>(&self, ox: usize, in_w: usize, pad_left: usize) {
        let (s, k) = (self.s, &self.k);
        let mut acc = self.bias;
        for kx in 0..3 {
            let ix = (ox * STRIDE + kx).wrapping_sub(pad_left);
            if ix < in_w {
                // SAFETY: ix < in_w.
                let x = unsafe { self.col(ix) };
                acc = s.fma(x[1], k[3 + kx], acc);
                if R0 {
                    acc = s.fma(x[0], k[kx], acc);
                }
                if R2 {
                    acc = s.fma(x[2], k[6 + kx], acc);
                }
            }
        }
        // SAFETY: forwarded from this function's contract.
        unsafe { self.put(ox, s.clamp(acc, self.lo, self.hi)) }
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
