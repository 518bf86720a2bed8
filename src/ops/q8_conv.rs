//! A full 3x3 int8 convolution (conv0 from the image's 3 channels, or any full 3x3 later in
//! a network) as im2col + the int8 GEMM: each output pixel's 3 x 3 x C window is copied into
//! one row of A, K = 9 C bytes in [ky][kx][c] order (the OHWI weights' order), taps in the
//! padding set to the input zero point (real 0, which the folded bias assumes). Rows are
//! built a band of output rows at a time into a caller's scratch buffer, so the band stays
//! in L1/L2 between its copy and the GEMM that reads it.
//!
//! Within an image row the 3 taps of one kernel row are `3 C` contiguous bytes, so an
//! interior window is 3 copies; for conv0 (`3 C = 9`) each is one 16-byte copy whose tail
//! the next copy (or the next pixel's) overwrites.

use crate::geometry::{conv_output_len, Padding};
use crate::kernels::q8_gemm::{gemm, PackedQ8B, Q8GemmKernel, Q8Out};
use crate::quant::OutQ;
use crate::{Error, Result};

/// Output rows per band of im2col rows.
const BAND_PIXELS: usize = 512;
/// Slack after the last im2col row: the 16-byte copies and the GEMM's padded K.
const SLACK: usize = 16;

/// The packed weights and geometry of one int8 3x3 convolution.
pub struct Q8Conv3x3 {
    packed: PackedQ8B,
    in_c: usize,
    stride: usize,
    pad: Padding,
    zp_in: u8,
}

impl Q8Conv3x3 {
    /// `weights` OHWI `[out_c][3][3][in_c]`, `bias[out_c]` (scale `s_in * s_w`),
    /// `scale[out_c]` (requantization), `zp_in` the input's zero point; stride 1 or 2.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kernel: &'static Q8GemmKernel,
        weights: &[i8],
        in_c: usize,
        bias: &[i32],
        scale: &[f32],
        zp_in: i32,
        stride: usize,
        pad: Padding,
    ) -> Result<Q8Conv3x3> {
        if in_c == 0
            || !(1..=2).contains(&stride)
            || [pad.top, pad.left, pad.bottom, pad.right]
                .iter()
                .any(|&p| p > 2)
        {
            return Err(Error::Shape(format!(
                "q8 3x3 conv: {in_c} input channels, stride {stride}, pads {pad:?} (stride 1 \
                 or 2, pads at most 2)"
            )));
        }
        let packed = PackedQ8B::new(kernel, weights, 9 * in_c, bias, scale, zp_in)?;
        Ok(Q8Conv3x3 {
            packed,
            in_c,
            stride,
            pad,
            zp_in: zp_in as u8,
        })
    }

    pub fn out_c(&self) -> usize {
        self.packed.n()
    }

    pub fn in_c(&self) -> usize {
        self.in_c
    }

    /// Output height and width of an `h` x `w` input.
    pub fn out_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let p = self.pad;
        Ok((
            conv_output_len(h, 3, self.stride, p.top, p.bottom)?,
            conv_output_len(w, 3, self.stride, p.left, p.right)?,
        ))
    }

    /// Scratch bytes [`Q8Conv3x3::run`] needs.
    pub fn scratch_len(&self) -> usize {
        BAND_PIXELS * 9 * self.in_c + SLACK
    }

    /// `n` images `[h][w][in_c]` (u8, dense) into `[n][oh][ow][out_c]` (dense).
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        input: &[u8],
        n: usize,
        h: usize,
        w: usize,
        out: &mut [u8],
        out_q: OutQ,
        scratch: &mut [u8],
    ) -> Result<()> {
        let (oh, ow) = self.out_hw(h, w)?;
        let (c, oc) = (self.in_c, self.out_c());
        if input.len() < n * h * w * c
            || out.len() < n * oh * ow * oc
            || scratch.len() < self.scratch_len()
        {
            return Err(Error::Shape(format!(
                "q8 3x3 conv: input {} for {n}x{h}x{w}x{c}, output {} for {n}x{oh}x{ow}x{oc}, \
                 scratch {} of {}",
                input.len(),
                out.len(),
                scratch.len(),
                self.scratch_len()
            )));
        }
        let total = oh * ow;
        for b in 0..n {
            let image = &input[b * h * w * c..(b + 1) * h * w * c];
            let dst = &mut out[b * total * oc..(b + 1) * total * oc];
            self.run_pixels(image, h, w, 0..total, dst, out_q, scratch)?;
        }
        Ok(())
    }

    /// Output pixels `pixels` (row-major over `oh * ow`) of one image `[h][w][in_c]` into
    /// `out` (`pixels.len() * out_c` bytes): for threads, each with its own scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn run_pixels(
        &self,
        image: &[u8],
        h: usize,
        w: usize,
        pixels: std::ops::Range<usize>,
        out: &mut [u8],
        out_q: OutQ,
        scratch: &mut [u8],
    ) -> Result<()> {
        let (oh, ow) = self.out_hw(h, w)?;
        let (c, oc, k) = (self.in_c, self.out_c(), 9 * self.in_c);
        if image.len() < h * w * c
            || pixels.start > pixels.end
            || pixels.end > oh * ow
            || out.len() < pixels.len() * oc
            || scratch.len() < self.scratch_len()
        {
            return Err(Error::Shape(format!(
                "q8 3x3 conv: image {} for {h}x{w}x{c}, pixels {pixels:?} of {oh}x{ow} into \
                 {} bytes, scratch {} of {}",
                image.len(),
                out.len(),
                scratch.len(),
                self.scratch_len()
            )));
        }
        let mut p0 = pixels.start;
        while p0 < pixels.end {
            let count = BAND_PIXELS.min(pixels.end - p0);
            let (mut oy, mut ox) = (p0 / ow, p0 % ow);
            let mut i = 0;
            while i < count {
                // A run of this output row's pixels whose windows lie inside the image, for
                // conv0's 9-byte window rows: three 16-byte copies each, no tests per tap.
                let run = self.interior_run(h, w, oy, ox).min(count - i);
                if run > 0 && 3 * c <= 16 {
                    let iy0 = oy * self.stride - self.pad.top;
                    let ix0 = ox * self.stride - self.pad.left;
                    for j in 0..run {
                        let dst = &mut scratch[(i + j) * k..];
                        let src = (iy0 * w + ix0 + j * self.stride) * c;
                        for ky in 0..3 {
                            let s0 = src + ky * w * c;
                            let v: [u8; 16] = image[s0..s0 + 16].try_into().unwrap_or([0; 16]);
                            dst[ky * 3 * c..ky * 3 * c + 16].copy_from_slice(&v);
                        }
                    }
                    i += run;
                    ox += run;
                } else {
                    self.window(image, h, w, oy, ox, &mut scratch[i * k..]);
                    i += 1;
                    ox += 1;
                }
                if ox == ow {
                    (oy, ox) = (oy + 1, 0);
                }
            }
            let at = (p0 - pixels.start) * oc;
            gemm(
                &self.packed,
                &scratch[..count * k + SLACK],
                count,
                k,
                Q8Out::U8 {
                    c: &mut out[at..at + count * oc],
                    out: out_q,
                },
                oc,
            )?;
            p0 += count;
        }
        Ok(())
    }

    /// How many output pixels from (oy, ox) on along the row have their whole window inside
    /// the image, with 16 bytes readable from each window row's start (0 if (oy, ox)'s
    /// does not).
    fn interior_run(&self, h: usize, w: usize, oy: usize, ox: usize) -> usize {
        let (s, p) = (self.stride, self.pad);
        let c = self.in_c;
        let Some(iy0) = (oy * s).checked_sub(p.top) else {
            return 0;
        };
        let Some(ix0) = (ox * s).checked_sub(p.left) else {
            return 0;
        };
        if iy0 + 3 > h || w < 3 {
            return 0;
        }
        // The last readable start column: its window fits, and 16 bytes from it stay
        // inside the image (past this row they read the next, which the copy ignores).
        let image_end = h * w * c;
        let row2 = (iy0 + 2) * w * c;
        let mut last = w.saturating_sub(3) as isize;
        while last >= ix0 as isize && row2 + last as usize * c + 16 > image_end {
            last -= 1;
        }
        if last < ix0 as isize {
            return 0;
        }
        (last as usize - ix0) / s + 1
    }

    /// Writes the window of output (oy, ox) to `dst[..9 c]` (and may scribble up to 16 bytes
    /// past it, which the next window or the slack takes).
    fn window(&self, image: &[u8], h: usize, w: usize, oy: usize, ox: usize, dst: &mut [u8]) {
        let c = self.in_c;
        let row = 3 * c;
        let iy0 = (oy * self.stride) as isize - self.pad.top as isize;
        let ix0 = (ox * self.stride) as isize - self.pad.left as isize;
        let inside_x = ix0 >= 0 && ix0 as usize + 3 <= w;
        for ky in 0..3 {
            let iy = iy0 + ky as isize;
            let d = &mut dst[ky * row..];
            if iy < 0 || iy as usize >= h {
                d[..row].fill(self.zp_in);
                continue;
            }
            let line = &image[iy as usize * w * c..(iy as usize + 1) * w * c];
            if inside_x {
                let s = ix0 as usize * c;
                if row <= 16 && s + 16 <= image.len() - iy as usize * w * c && d.len() >= 16 {
                    // Reads past this image row stay inside the image.
                    let src = &image[iy as usize * w * c + s..iy as usize * w * c + s + 16];
                    d[..16].copy_from_slice(src);
                } else {
                    d[..row].copy_from_slice(&line[s..s + row]);
                }
            } else {
                for kx in 0..3 {
                    let ix = ix0 + kx as isize;
                    let t = &mut d[kx * c..(kx + 1) * c];
                    if ix < 0 || ix as usize >= w {
                        t.fill(self.zp_in);
                    } else {
                        t.copy_from_slice(&line[ix as usize * c..(ix as usize + 1) * c]);
                    }
                }
            }
        }
    }
}
