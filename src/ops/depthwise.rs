//! Depthwise 3x3 convolution over NHWC tensors: weight packing, validation, and row
//! tiling around the kernel set's depthwise kernel.
//!
//! Output rows are cut into tiles whose input and output rows fit comfortably in L2; the
//! kernel gets one tile and all channel blocks per call and picks the loop order inside
//! (see `kernels::f32_dwconv`).

use crate::activation::Clamp;
use crate::geometry::{conv_output_len, Padding};
pub use crate::kernels::f32_dwconv::DwOrder;
use crate::kernels::f32_dwconv::{self as dwconv, DwRows};
use crate::kernels::KernelSet;
use crate::memory::Packed;
use crate::{Error, Result};
use std::ops::Range;

/// Input + output bytes of one row tile: half of a 1 MiB L2, leaving room for the
/// neighbouring layers' data and the prefetchers.
const TILE_BYTES: usize = 512 << 10;

/// Shape and epilogue of a depthwise 3x3 layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DepthwiseParams {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    /// 1 or 2.
    pub stride: usize,
    /// Each side 0 or 1.
    pub padding: Padding,
    pub clamp: Clamp,
}

impl DepthwiseParams {
    /// Output height, as the reference computes it (0 if the parameters are invalid).
    pub fn out_h(&self) -> usize {
        let p = self.padding;
        conv_output_len(self.in_h, 3, self.stride, p.top, p.bottom).unwrap_or(0)
    }

    /// Output width, as the reference computes it (0 if the parameters are invalid).
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
                return Err(Error::Shape(format!(
                    "depthwise {name} must be >= 1, got 0"
                )));
            }
        }
        if !matches!(self.stride, 1 | 2) {
            return Err(Error::Shape(format!(
                "depthwise stride must be 1 or 2, got {}",
                self.stride
            )));
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
                    "depthwise 3x3 padding {side} must be 0 or 1, got {v}"
                )));
            }
        }
        conv_output_len(self.in_h, 3, self.stride, p.top, p.bottom)
            .map_err(|e| Error::Shape(format!("depthwise height: {e}")))?;
        conv_output_len(self.in_w, 3, self.stride, p.left, p.right)
            .map_err(|e| Error::Shape(format!("depthwise width: {e}")))?;
        self.clamp.check()?;
        self.image_len()?;
        Ok(())
    }

    /// Floats in one input image, checked for overflow (times `batch` too).
    fn image_len(&self) -> Result<usize> {
        let image = self
            .in_h
            .checked_mul(self.in_w)
            .and_then(|v| v.checked_mul(self.channels));
        match image.filter(|i| i.checked_mul(self.batch).is_some()) {
            Some(i) => Ok(i),
            None => Err(Error::Shape(format!(
                "depthwise input {}x{}x{}x{} has too many elements",
                self.batch, self.in_h, self.in_w, self.channels
            ))),
        }
    }
}

/// Depthwise weights packed for one kernel set: per block of `kernels.dw3x3.block`
/// channels, the bias then the 9 taps, zero-padded to the block.
#[derive(Clone, Debug)]
pub struct PackedDepthwise {
    kernels: &'static KernelSet,
    channels: usize,
    packed: Packed,
}

impl PackedDepthwise {
    /// The packed weights, for a model to gather with its other weights.
    pub(crate) fn packed_mut(&mut self) -> &mut Packed {
        &mut self.packed
    }

    /// Packs `weights` [C][3][3] (OHWI with I = 1, as `reference::conv2d` with groups = C)
    /// and `bias` [C] for `kernels`.
    pub fn new(
        kernels: &'static KernelSet,
        channels: usize,
        weights: &[f32],
        bias: &[f32],
    ) -> Result<Self> {
        if channels == 0 {
            return Err(Error::Shape(
                "depthwise channels must be >= 1, got 0".into(),
            ));
        }
        let taps = channels
            .checked_mul(9)
            .ok_or_else(|| Error::Shape(format!("depthwise channels {channels} too large")))?;
        if weights.len() != taps {
            return Err(Error::Shape(format!(
                "depthwise weights for {channels} channels need {taps} floats ([C][3][3]), got {}",
                weights.len()
            )));
        }
        if bias.len() != channels {
            return Err(Error::Shape(format!(
                "depthwise bias for {channels} channels needs {channels} floats, got {}",
                bias.len()
            )));
        }
        Ok(PackedDepthwise {
            kernels,
            channels,
            packed: Packed::from_vec(dwconv::pack(kernels.dw3x3.block, channels, weights, bias)),
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The kernel set these weights were packed for.
    pub fn kernels(&self) -> &'static KernelSet {
        self.kernels
    }
}

/// Whole batch: `input` [batch, in_h, in_w, C], `output` [batch, out_h, out_w, C], both
/// contiguous NHWC.
pub fn depthwise3x3(
    p: &DepthwiseParams,
    w: &PackedDepthwise,
    input: &[f32],
    output: &mut [f32],
) -> Result<()> {
    depthwise3x3_in_order(p, w, DwOrder::Auto, input, output)
}

/// [`depthwise3x3`] in a given loop order (the orders give the same bits; `Auto` picks
/// the faster for the shape).
pub fn depthwise3x3_in_order(
    p: &DepthwiseParams,
    w: &PackedDepthwise,
    order: DwOrder,
    input: &[f32],
    output: &mut [f32],
) -> Result<()> {
    check(p, w)?;
    let image = p.image_len()?;
    let out_image = p.out_h() * p.out_w() * p.channels;
    if input.len() != image * p.batch {
        return Err(Error::Shape(format!(
            "depthwise input [{}, {}, {}, {}] needs {} floats, got {}",
            p.batch,
            p.in_h,
            p.in_w,
            p.channels,
            image * p.batch,
            input.len()
        )));
    }
    if output.len() != out_image * p.batch {
        return Err(Error::Shape(format!(
            "depthwise output [{}, {}, {}, {}] needs {} floats, got {}",
            p.batch,
            p.out_h(),
            p.out_w(),
            p.channels,
            out_image * p.batch,
            output.len()
        )));
    }
    for (img, out) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        rows_unchecked(p, w, order, img, 0..p.out_h(), out, p.channels);
    }
    Ok(())
}

/// One image, output rows `rows` only (for threading and dw->pw fusion): `image` is one
/// [in_h, in_w, C] image, `output` holds exactly `rows.len() * out_w * C` floats.
pub fn depthwise3x3_rows(
    p: &DepthwiseParams,
    w: &PackedDepthwise,
    image: &[f32],
    rows: Range<usize>,
    output: &mut [f32],
) -> Result<()> {
    depthwise3x3_rows_strided(p, w, DwOrder::Auto, image, rows, output, p.channels)
}

/// [`depthwise3x3_rows`] in a given loop order, with the output pixels `out_px >= C`
/// floats apart: `output` holds exactly `rows.len() * out_w * out_px` floats, of which
/// the `out_px - C` after each pixel's channels are left as they are. A pointwise layer
/// reads such rows as GEMM rows of stride `out_px`
/// ([`crate::ops::pointwise::PackedGemmB::a_stride`]).
pub fn depthwise3x3_rows_strided(
    p: &DepthwiseParams,
    w: &PackedDepthwise,
    order: DwOrder,
    image: &[f32],
    rows: Range<usize>,
    output: &mut [f32],
    out_px: usize,
) -> Result<()> {
    check(p, w)?;
    if out_px < p.channels {
        return Err(Error::Shape(format!(
            "depthwise output pixel stride {out_px} < the {} channels",
            p.channels
        )));
    }
    let image_len = p.image_len()?;
    if image.len() != image_len {
        return Err(Error::Shape(format!(
            "depthwise image [{}, {}, {}] needs {image_len} floats, got {}",
            p.in_h,
            p.in_w,
            p.channels,
            image.len()
        )));
    }
    if rows.start > rows.end || rows.end > p.out_h() {
        return Err(Error::Shape(format!(
            "depthwise output rows {}..{} are not within 0..{}",
            rows.start,
            rows.end,
            p.out_h()
        )));
    }
    let need = rows
        .len()
        .checked_mul(p.out_w())
        .and_then(|n| n.checked_mul(out_px));
    if need != Some(output.len()) {
        return Err(Error::Shape(format!(
            "depthwise output rows {}..{} of width {} at pixel stride {out_px} ({} channels) need {} floats, got {}",
            rows.start,
            rows.end,
            p.out_w(),
            p.channels,
            need.map_or("too many".into(), |n| n.to_string()),
            output.len()
        )));
    }
    rows_unchecked(p, w, order, image, rows, output, out_px);
    Ok(())
}

fn check(p: &DepthwiseParams, w: &PackedDepthwise) -> Result<()> {
    p.validate()?;
    if w.channels != p.channels {
        return Err(Error::Shape(format!(
            "depthwise weights were packed for {} channels, the layer has {}",
            w.channels, p.channels
        )));
    }
    Ok(())
}

/// The loop nest, on validated shapes: `image` is one whole image, `output` holds exactly
/// the output rows `rows`, pixels `out_px` floats apart.
fn rows_unchecked(
    p: &DepthwiseParams,
    w: &PackedDepthwise,
    order: DwOrder,
    image: &[f32],
    rows: Range<usize>,
    output: &mut [f32],
    out_px: usize,
) {
    let ks = w.kernels;
    let block = ks.dw3x3.block;
    let c = p.channels;
    let out_w = p.out_w();
    let out_row = out_w * out_px;
    let row_bytes = (p.stride * p.in_w * c + out_row) * std::mem::size_of::<f32>();
    // Whole bands of the kernel's 4 output rows, unless the tile is smaller than a band.
    let tile = match TILE_BYTES / row_bytes {
        t @ 0..4 => t.max(1),
        t => t / 4 * 4,
    };

    let mut start = rows.start;
    while start < rows.end {
        let end = (start + tile).min(rows.end);
        let out = &mut output[(start - rows.start) * out_row..(end - rows.start) * out_row];
        (ks.dw3x3.rows)(DwRows {
            image,
            out,
            weights: &w.packed,
            rows: start..end,
            in_h: p.in_h,
            in_w: p.in_w,
            out_w,
            channels: c,
            out_px,
            c0: 0,
            blocks: c.div_ceil(block),
            stride: p.stride,
            pad_top: p.padding.top,
            pad_left: p.padding.left,
            clamp: p.clamp,
            order,
        });
        start = end;
    }
}
