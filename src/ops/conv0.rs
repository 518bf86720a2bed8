//! The first layer of MobileNet: a 3x3 stride-2 convolution from 3 input channels over
//! NHWC tensors, computed directly from the image by the kernel set's conv0 kernel (see
//! `kernels::f32_conv0`): weight packing, validation, and the row loop.

use crate::activation::Clamp;
use crate::geometry::{conv_output_len, Padding};
use crate::kernels::f32_conv0::{self as conv0, Conv0Kernel, Conv0Row, IN_C, TAPS};
use crate::kernels::KernelSet;
use crate::memory::Packed;
use crate::{Error, Result};
use std::ops::Range;

/// Shape and epilogue of the layer (stride 2, 3 input channels, 3x3 window).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv0Params {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_c: usize,
    /// Each side 0 or 1.
    pub padding: Padding,
    pub clamp: Clamp,
}

impl Conv0Params {
    /// Output height, as the reference computes it (0 if the parameters are invalid).
    pub fn out_h(&self) -> usize {
        let p = self.padding;
        conv_output_len(self.in_h, 3, 2, p.top, p.bottom).unwrap_or(0)
    }

    /// Output width, as the reference computes it (0 if the parameters are invalid).
    pub fn out_w(&self) -> usize {
        let p = self.padding;
        conv_output_len(self.in_w, 3, 2, p.left, p.right).unwrap_or(0)
    }

    /// Checks every field; the error names the one at fault.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("batch", self.batch),
            ("in_h", self.in_h),
            ("in_w", self.in_w),
            ("out_c", self.out_c),
        ] {
            if v == 0 {
                return Err(Error::Shape(format!("conv0 {name} must be >= 1, got 0")));
            }
        }
        let p = self.padding;
        for (side, v) in [
            ("top", p.top),
            ("left", p.left),
            ("bottom", p.bottom),
            ("right", p.right),
        ] {
            if v > 1 {
                return Err(Error::Shape(format!(
                    "conv0 padding {side} must be 0 or 1, got {v}"
                )));
            }
        }
        conv_output_len(self.in_h, 3, 2, p.top, p.bottom)
            .map_err(|e| Error::Shape(format!("conv0 height: {e}")))?;
        conv_output_len(self.in_w, 3, 2, p.left, p.right)
            .map_err(|e| Error::Shape(format!("conv0 width: {e}")))?;
        self.clamp.check()?;
        self.image_len()?;
        self.out_w()
            .checked_mul(self.out_h())
            .and_then(|n| n.checked_mul(self.out_c))
            .and_then(|n| n.checked_mul(self.batch))
            .ok_or_else(|| Error::Shape("conv0 output has too many elements".into()))?;
        Ok(())
    }

    /// Floats in one input image, checked for overflow (times `batch` too).
    fn image_len(&self) -> Result<usize> {
        let image = self
            .in_h
            .checked_mul(self.in_w)
            .and_then(|v| v.checked_mul(IN_C));
        match image.filter(|i| i.checked_mul(self.batch).is_some()) {
            Some(i) => Ok(i),
            None => Err(Error::Shape(format!(
                "conv0 input {}x{}x{}x{IN_C} has too many elements",
                self.batch, self.in_h, self.in_w
            ))),
        }
    }
}

/// conv0 weights packed for one kernel of a kernel set (the one for its channel count):
/// per block of `kernel.block` output channels, the bias then the 27 taps, zero-padded
/// to the block.
#[derive(Clone, Debug)]
pub struct PackedConv0 {
    kernels: &'static KernelSet,
    kernel: &'static Conv0Kernel,
    out_c: usize,
    packed: Packed,
}

impl PackedConv0 {
    /// The packed weights, for a model to gather with its other weights.
    pub(crate) fn packed_mut(&mut self) -> &mut Packed {
        &mut self.packed
    }

    /// Packs `weights` [C][3][3][3] (OHWI, as `reference::conv2d`) and `bias` [C] for
    /// `kernels`.
    pub fn new(
        kernels: &'static KernelSet,
        out_c: usize,
        weights: &[f32],
        bias: &[f32],
    ) -> Result<Self> {
        if out_c == 0 {
            return Err(Error::Shape(
                "conv0 output channels must be >= 1, got 0".into(),
            ));
        }
        let taps = out_c
            .checked_mul(TAPS)
            .ok_or_else(|| Error::Shape(format!("conv0 output channels {out_c} too large")))?;
        if weights.len() != taps {
            return Err(Error::Shape(format!(
                "conv0 weights for {out_c} output channels need {taps} floats ([C][3][3][3]), got {}",
                weights.len()
            )));
        }
        if bias.len() != out_c {
            return Err(Error::Shape(format!(
                "conv0 bias for {out_c} output channels needs {out_c} floats, got {}",
                bias.len()
            )));
        }
        Ok(PackedConv0 {
            kernels,
            out_c,
            kernel: kernels.conv0(out_c),
            packed: Packed::from_vec(conv0::pack(
                kernels.conv0(out_c).block,
                out_c,
                weights,
                bias,
            )),
        })
    }

    pub fn out_c(&self) -> usize {
        self.out_c
    }

    /// The conv0 kernel of the set these weights were packed for.
    pub fn kernel(&self) -> &'static Conv0Kernel {
        self.kernel
    }

    /// The kernel set these weights were packed for.
    pub fn kernels(&self) -> &'static KernelSet {
        self.kernels
    }
}

/// Whole batch: `input` [batch, in_h, in_w, 3], `output` [batch, out_h, out_w, C], both
/// contiguous NHWC.
pub fn conv0(p: &Conv0Params, w: &PackedConv0, input: &[f32], output: &mut [f32]) -> Result<()> {
    check(p, w, input)?;
    let out_image = p.out_h() * p.out_w() * p.out_c;
    if output.len() != out_image * p.batch {
        return Err(Error::Shape(format!(
            "conv0 output [{}, {}, {}, {}] needs {} floats, got {}",
            p.batch,
            p.out_h(),
            p.out_w(),
            p.out_c,
            out_image * p.batch,
            output.len()
        )));
    }
    rows_unchecked(p, w, input, 0..p.out_h() * p.batch, output);
    Ok(())
}

/// Output rows `rows`, counted over the batch (row r is row r % out_h of image r / out_h):
/// `input` is the whole batch, `output` holds exactly `rows.len() * out_w * C` floats.
/// For threading and for running conv0 band by band ahead of the next layers.
pub fn conv0_rows(
    p: &Conv0Params,
    w: &PackedConv0,
    input: &[f32],
    rows: Range<usize>,
    output: &mut [f32],
) -> Result<()> {
    check(p, w, input)?;
    let all = p.out_h() * p.batch;
    if rows.start > rows.end || rows.end > all {
        return Err(Error::Shape(format!(
            "conv0 output rows {}..{} are not within 0..{all}",
            rows.start, rows.end
        )));
    }
    let need = rows.len() * p.out_w() * p.out_c;
    if output.len() != need {
        return Err(Error::Shape(format!(
            "conv0 output rows {}..{} of width {} and {} channels need {need} floats, got {}",
            rows.start,
            rows.end,
            p.out_w(),
            p.out_c,
            output.len()
        )));
    }
    rows_unchecked(p, w, input, rows, output);
    Ok(())
}

/// Checks the parameters, that `w` was packed for them and that `input` is the whole batch.
fn check(p: &Conv0Params, w: &PackedConv0, input: &[f32]) -> Result<()> {
    p.validate()?;
    if w.out_c != p.out_c {
        return Err(Error::Shape(format!(
            "conv0 weights were packed for {} output channels, the layer has {}",
            w.out_c, p.out_c
        )));
    }
    let image = p.image_len()?;
    if input.len() != image * p.batch {
        return Err(Error::Shape(format!(
            "conv0 input [{}, {}, {}, {IN_C}] needs {} floats, got {}",
            p.batch,
            p.in_h,
            p.in_w,
            image * p.batch,
            input.len()
        )));
    }
    Ok(())
}

/// The row loop, on validated shapes: `input` is the whole batch, `output` holds exactly
/// the output rows `rows` (counted over the batch).
fn rows_unchecked(
    p: &Conv0Params,
    w: &PackedConv0,
    input: &[f32],
    rows: Range<usize>,
    output: &mut [f32],
) {
    let (out_h, out_w) = (p.out_h(), p.out_w());
    let row_len = p.in_w * IN_C;
    let image_len = p.in_h * row_len;
    let out_row = out_w * p.out_c;
    for (r, out) in rows.zip(output.chunks_exact_mut(out_row)) {
        let (b, oy) = (r / out_h, r % out_h);
        let image = &input[b * image_len..(b + 1) * image_len];
        let input = std::array::from_fn(|ky| {
            let iy = (oy * 2 + ky).wrapping_sub(p.padding.top);
            (iy < p.in_h).then(|| &image[iy * row_len..(iy + 1) * row_len])
        });
        (w.kernel.row)(Conv0Row {
            input,
            in_w: p.in_w,
            pad_left: p.padding.left,
            out,
            out_w,
            out_c: p.out_c,
            weights: &w.packed,
            clamp: p.clamp,
        });
    }
}
