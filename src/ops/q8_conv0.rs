//! The int8 first layer as a direct convolution ([`crate::kernels::q8_conv0`]): a full
//! 3x3 from few input channels (1..=4; MobileNet's conv0 has 3), stride 1 or 2, pads up
//! to 2 per side, from u8 or i8 codes or from f32 pixels quantized on the way in.
//!
//! Each output row reads three input rows, which live as padded u8 code rows (zero-point
//! columns around the image, what the kernels read at the edges) in a ring of three slots
//! of the caller's scratch, slot `iy mod 3`: at stride 2 each input row is quantized (or
//! copied) once per band of output rows, bar the row two bands share; at stride 1 once
//! too. So the f32 input is quantized inside the layer, a row at a time while it is hot,
//! with no pass over the whole image before it.

use crate::geometry::{conv_output_len, Padding};
use crate::kernels::q8_conv0::{Q8Conv0Args, Q8Conv0Kernel, MAX_IN_C};
use crate::net::q8::InputRounding;
use crate::quant::{OutQ, QParams};
use crate::{Error, Result};
use std::ops::Range;

/// What the layer reads: NHWC codes, or f32 pixels and how to quantize them.
#[derive(Clone, Copy, Debug)]
pub enum Conv0Source<'a> {
    U8(&'a [u8]),
    /// i8 codes (the u8 code minus 128).
    I8(&'a [i8]),
    F32 {
        x: &'a [f32],
        q: QParams,
        rounding: InputRounding,
    },
}

impl<'a> Conv0Source<'a> {
    pub fn len(&self) -> usize {
        match self {
            Conv0Source::U8(x) => x.len(),
            Conv0Source::I8(x) => x.len(),
            Conv0Source::F32 { x, .. } => x.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values `range` of the source.
    fn slice(self, range: Range<usize>) -> Conv0Source<'a> {
        match self {
            Conv0Source::U8(x) => Conv0Source::U8(&x[range]),
            Conv0Source::I8(x) => Conv0Source::I8(&x[range]),
            Conv0Source::F32 { x, q, rounding } => Conv0Source::F32 {
                x: &x[range],
                q,
                rounding,
            },
        }
    }

    /// Image `b` of `len` values.
    pub fn image(self, b: usize, len: usize) -> Conv0Source<'a> {
        self.slice(b * len..(b + 1) * len)
    }
}

/// The packed weights and geometry of one direct int8 conv0.
pub struct Q8Conv0 {
    kernel: &'static Q8Conv0Kernel,
    packed: Vec<u8>,
    in_c: usize,
    out_c: usize,
    stride: usize,
    pad: Padding,
    zp_in: u8,
}

impl Q8Conv0 {
    /// `weights` OHWI `[out_c][3][3][in_c]`, `bias[out_c]` (scale `s_in * s_w`),
    /// `scale[out_c]` (requantization), `zp_in` the input's zero point; `in_c` in
    /// 1..=4, stride 1 or 2, pads at most 2.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kernel: &'static Q8Conv0Kernel,
        weights: &[i8],
        in_c: usize,
        bias: &[i32],
        scale: &[f32],
        zp_in: i32,
        stride: usize,
        pad: Padding,
    ) -> Result<Q8Conv0> {
        if !(1..=MAX_IN_C).contains(&in_c)
            || !(1..=2).contains(&stride)
            || [pad.top, pad.left, pad.bottom, pad.right]
                .iter()
                .any(|&p| p > 2)
        {
            return Err(Error::Shape(format!(
                "q8 conv0: {in_c} input channels, stride {stride}, pads {pad:?} (1..={MAX_IN_C} \
                 channels, stride 1 or 2, pads at most 2)"
            )));
        }
        let packed = kernel.pack(in_c, weights, bias, scale, zp_in)?;
        Ok(Q8Conv0 {
            kernel,
            packed,
            in_c,
            out_c: bias.len(),
            stride,
            pad,
            zp_in: zp_in as u8,
        })
    }

    pub fn kernel(&self) -> &'static Q8Conv0Kernel {
        self.kernel
    }

    pub fn out_c(&self) -> usize {
        self.out_c
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

    /// Bytes of one padded row for inputs `w` wide: the image columns after the left
    /// pad, and all the kernel reads.
    fn row_len(&self, w: usize) -> usize {
        let ow = conv_output_len(w, 3, self.stride, self.pad.left, self.pad.right).unwrap_or(0);
        let need = Q8Conv0Args::row_need(self.in_c, self.stride, ow);
        need.max((self.pad.left + w) * self.in_c)
    }

    /// Scratch bytes [`Q8Conv0::run_rows`] needs for inputs `w` wide.
    pub fn scratch_len(&self, w: usize) -> usize {
        3 * self.row_len(w)
    }

    /// `n` images `[h][w][in_c]` into `[n][oh][ow][out_c]` (dense).
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        input: Conv0Source<'_>,
        n: usize,
        h: usize,
        w: usize,
        out: &mut [u8],
        out_q: OutQ,
        scratch: &mut [u8],
    ) -> Result<()> {
        let (oh, ow) = self.out_hw(h, w)?;
        let (len, out_len) = (h * w * self.in_c, oh * ow * self.out_c);
        if input.len() < n * len || out.len() < n * out_len {
            return Err(Error::Shape(format!(
                "q8 conv0: input {} for {n}x{h}x{w}x{}, output {} for {n}x{oh}x{ow}x{}",
                input.len(),
                self.in_c,
                out.len(),
                self.out_c
            )));
        }
        for b in 0..n {
            let dst = &mut out[b * out_len..(b + 1) * out_len];
            self.run_rows(input.image(b, len), h, w, 0..oh, dst, out_q, scratch)?;
        }
        Ok(())
    }

    /// Output rows `rows` of one image `[h][w][in_c]` into `out` (`rows.len() * ow *
    /// out_c` bytes): for threads, each with its own scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn run_rows(
        &self,
        image: Conv0Source<'_>,
        h: usize,
        w: usize,
        rows: Range<usize>,
        out: &mut [u8],
        out_q: OutQ,
        scratch: &mut [u8],
    ) -> Result<()> {
        let (oh, ow) = self.out_hw(h, w)?;
        let (c, oc) = (self.in_c, self.out_c);
        let row_len = self.row_len(w);
        if image.len() < h * w * c
            || rows.start > rows.end
            || rows.end > oh
            || out.len() < rows.len() * ow * oc
            || scratch.len() < 3 * row_len
        {
            return Err(Error::Shape(format!(
                "q8 conv0: image {} for {h}x{w}x{c}, rows {rows:?} of {oh}x{ow} into {} \
                 bytes, scratch {} of {}",
                image.len(),
                out.len(),
                scratch.len(),
                3 * row_len
            )));
        }
        let scratch = &mut scratch[..3 * row_len];
        // Which input row each slot holds.
        let mut held = [isize::MIN; 3];
        let left = self.pad.left * c;
        for (r, oy) in rows.enumerate() {
            let iy0 = (oy * self.stride) as isize - self.pad.top as isize;
            for iy in iy0..iy0 + 3 {
                let slot = iy.rem_euclid(3) as usize;
                if held[slot] == iy {
                    continue;
                }
                held[slot] = iy;
                let buf = &mut scratch[slot * row_len..(slot + 1) * row_len];
                if iy < 0 || iy as usize >= h {
                    buf.fill(self.zp_in);
                    continue;
                }
                let line = image.slice(iy as usize * w * c..(iy as usize + 1) * w * c);
                buf[..left].fill(self.zp_in);
                buf[left + w * c..].fill(self.zp_in);
                let mid = &mut buf[left..left + w * c];
                match line {
                    Conv0Source::U8(x) => mid.copy_from_slice(x),
                    Conv0Source::I8(x) => {
                        for (d, &v) in mid.iter_mut().zip(x) {
                            *d = v as u8 ^ 0x80;
                        }
                    }
                    Conv0Source::F32 { x, q, rounding } => {
                        (self.kernel.quantize)(x, mid, q, rounding)?
                    }
                }
            }
            let slot = |k: isize| {
                let s = (iy0 + k).rem_euclid(3) as usize;
                &scratch[s * row_len..(s + 1) * row_len]
            };
            (self.kernel.run)(Q8Conv0Args {
                rows: [slot(0), slot(1), slot(2)],
                in_c: c,
                stride: self.stride,
                out_w: ow,
                out_c: oc,
                out: &mut out[r * ow * oc..(r + 1) * ow * oc],
                packed: &self.packed,
                out_q,
            })?;
        }
        Ok(())
    }
}
