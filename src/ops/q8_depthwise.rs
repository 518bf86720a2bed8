//! Int8 depthwise 3x3 over NHWC u8 tensors: weight packing, validation, and the calls
//! of the kernel set's `q8_dw3x3` kernel (see `kernels::q8_dwconv`). Numerics:
//! [`crate::quant`]; the oracle is `reference::q8::q8_depthwise3x3`.
//!
//! The output pixels may lie `out_px >= C` bytes apart, so that the next int8 GEMM reads
//! rows padded to its K group. No scratch is needed: padding taps read a zero-point vector
//! kept with the packed weights.

use crate::geometry::{conv_output_len, Padding};
use crate::kernels::q8_dwconv::{self, Q8DwArgs, Q8DwKernel};
use crate::kernels::KernelSet;
use crate::quant::{check_scales, OutQ};
use crate::{Error, Result};
use std::ops::Range;

/// Shape and output quantization of an int8 depthwise 3x3 layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Q8DepthwiseParams {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    /// 1 or 2.
    pub stride: usize,
    /// Each side 0..=2.
    pub padding: Padding,
    pub out: OutQ,
}

impl Q8DepthwiseParams {
    /// Output height (0 if the parameters are invalid).
    pub fn out_h(&self) -> usize {
        let p = self.padding;
        conv_output_len(self.in_h, 3, self.stride, p.top, p.bottom).unwrap_or(0)
    }

    /// Output width (0 if the parameters are invalid).
    pub fn out_w(&self) -> usize {
        let p = self.padding;
        conv_output_len(self.in_w, 3, self.stride, p.left, p.right).unwrap_or(0)
    }

    /// Checks every field; the error names the one at fault.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("batch", self.batch),
            ("in_h", self.in_h),
            ("in_w", self.in_w),
            ("channels", self.channels),
        ] {
            if v == 0 {
                return Err(Error::Shape(format!("q8 depthwise {name} must be >= 1")));
            }
        }
        if !matches!(self.stride, 1 | 2) {
            return Err(Error::Shape(format!(
                "q8 depthwise stride must be 1 or 2, got {}",
                self.stride
            )));
        }
        let p = self.padding;
        if [p.top, p.left, p.bottom, p.right].iter().any(|&v| v > 2) {
            return Err(Error::Shape(format!(
                "q8 depthwise 3x3 padding {p:?}: each side must be 0..=2"
            )));
        }
        conv_output_len(self.in_h, 3, self.stride, p.top, p.bottom)
            .map_err(|e| Error::Shape(format!("q8 depthwise height: {e}")))?;
        conv_output_len(self.in_w, 3, self.stride, p.left, p.right)
            .map_err(|e| Error::Shape(format!("q8 depthwise width: {e}")))?;
        OutQ::new(self.out.zero_point, self.out.lo, self.out.hi)?;
        self.image_len()?;
        Ok(())
    }

    /// Bytes of one input image, checked for overflow (times `batch` too).
    fn image_len(&self) -> Result<usize> {
        let image = self
            .in_h
            .checked_mul(self.in_w)
            .and_then(|v| v.checked_mul(self.channels));
        image
            .filter(|i| i.checked_mul(self.batch).is_some())
            .ok_or_else(|| {
                Error::Shape(format!(
                    "q8 depthwise input {}x{}x{}x{} has too many elements",
                    self.batch, self.in_h, self.in_w, self.channels
                ))
            })
    }
}

/// Depthwise weights, folded biases and scales packed for one kernel, with the input
/// zero point they were folded for.
#[derive(Clone, Debug)]
pub struct PackedQ8Depthwise {
    kernel: &'static Q8DwKernel,
    channels: usize,
    zp_in: i32,
    packed: Vec<u8>,
    /// `channels` bytes of `zp_in`: what padding taps read.
    zp: Vec<u8>,
}

impl PackedQ8Depthwise {
    /// Packs for the kernel set's kernel: see [`PackedQ8Depthwise::for_kernel`].
    pub fn new(
        kernels: &'static KernelSet,
        channels: usize,
        weights: &[i8],
        bias: &[i32],
        scale: &[f32],
        zp_in: i32,
    ) -> Result<Self> {
        Self::for_kernel(kernels.q8_dw3x3, channels, weights, bias, scale, zp_in)
    }

    /// Packs `weights` `[C][3][3]`, `bias` `[C]` (i32, scale `s_in * s_w[c]`), `scale`
    /// `[C]` (`s_in * s_w[c] / s_out`) and the input zero point for `kernel`.
    pub fn for_kernel(
        kernel: &'static Q8DwKernel,
        channels: usize,
        weights: &[i8],
        bias: &[i32],
        scale: &[f32],
        zp_in: i32,
    ) -> Result<Self> {
        if channels == 0 || Some(weights.len()) != channels.checked_mul(9) {
            return Err(Error::Shape(format!(
                "q8 depthwise: {} weights for {channels} channels ([C][3][3])",
                weights.len()
            )));
        }
        if bias.len() != channels {
            return Err(Error::Shape(format!(
                "q8 depthwise: {} biases for {channels} channels",
                bias.len()
            )));
        }
        check_scales(scale, channels, "q8 depthwise")?;
        if !(0..=255).contains(&zp_in) {
            return Err(Error::Shape(format!(
                "q8 depthwise: input zero point {zp_in} outside 0..=255"
            )));
        }
        Ok(PackedQ8Depthwise {
            kernel,
            channels,
            zp_in,
            packed: q8_dwconv::pack(kernel, channels, weights, bias, scale, zp_in),
            zp: vec![zp_in as u8; channels],
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn zp_in(&self) -> i32 {
        self.zp_in
    }

    pub fn kernel(&self) -> &'static Q8DwKernel {
        self.kernel
    }
}

/// Whole batch: `input` `[batch][in_h][in_w][C]` contiguous, `output` `[batch][out_h]
/// [out_w]` pixels of `out_px >= C` bytes (exactly `batch * out_h * out_w * out_px`
/// bytes; the `out_px - C` bytes after each pixel's channels are left as they are).
pub fn q8_depthwise3x3(
    p: &Q8DepthwiseParams,
    w: &PackedQ8Depthwise,
    input: &[u8],
    output: &mut [u8],
    out_px: usize,
) -> Result<()> {
    check(p, w, out_px)?;
    let image = p.image_len()?;
    let out_image = p.out_h() * p.out_w() * out_px;
    if input.len() != image * p.batch || output.len() != out_image * p.batch {
        return Err(Error::Shape(format!(
            "q8 depthwise: input of {} bytes and output of {} for a batch of {} images of \
             {image} and outputs of {out_image}",
            input.len(),
            output.len(),
            p.batch
        )));
    }
    for (img, out) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        run(p, w, img, 0..p.out_h(), out, out_px)?;
    }
    Ok(())
}

/// One image, output rows `rows` only (for threading and dw->pw fusion): `output` holds
/// exactly `rows.len() * out_w * out_px` bytes.
pub fn q8_depthwise3x3_rows(
    p: &Q8DepthwiseParams,
    w: &PackedQ8Depthwise,
    image: &[u8],
    rows: Range<usize>,
    output: &mut [u8],
    out_px: usize,
) -> Result<()> {
    check(p, w, out_px)?;
    if image.len() != p.image_len()? {
        return Err(Error::Shape(format!(
            "q8 depthwise: image of {} bytes, want {}",
            image.len(),
            p.image_len()?
        )));
    }
    if rows.start > rows.end || rows.end > p.out_h() {
        return Err(Error::Shape(format!(
            "q8 depthwise output rows {rows:?} are not within 0..{}",
            p.out_h()
        )));
    }
    let need = rows.len().checked_mul(p.out_w() * out_px);
    if need != Some(output.len()) {
        return Err(Error::Shape(format!(
            "q8 depthwise output rows {rows:?} need {need:?} bytes, got {}",
            output.len()
        )));
    }
    run(p, w, image, rows, output, out_px)
}

fn check(p: &Q8DepthwiseParams, w: &PackedQ8Depthwise, out_px: usize) -> Result<()> {
    p.validate()?;
    if w.channels != p.channels {
        return Err(Error::Shape(format!(
            "q8 depthwise weights were packed for {} channels, the layer has {}",
            w.channels, p.channels
        )));
    }
    if out_px < p.channels {
        return Err(Error::Shape(format!(
            "q8 depthwise output pixel stride {out_px} < the {} channels",
            p.channels
        )));
    }
    Ok(())
}

fn run(
    p: &Q8DepthwiseParams,
    w: &PackedQ8Depthwise,
    image: &[u8],
    rows: Range<usize>,
    out: &mut [u8],
    out_px: usize,
) -> Result<()> {
    (w.kernel.run)(Q8DwArgs {
        image,
        in_h: p.in_h,
        in_w: p.in_w,
        channels: p.channels,
        out,
        out_w: p.out_w(),
        out_px,
        rows,
        stride: p.stride,
        pad_top: p.padding.top,
        pad_left: p.padding.left,
        weights: &w.packed,
        zp: &w.zp,
        out_q: p.out,
    })
}
