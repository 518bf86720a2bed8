//! The schedule: per block, whether its depthwise layer runs fused with its pointwise
//! layer (and in how many bands) or the two run one after the other, with the pointwise
//! layer split by rows or by columns; and how many leading blocks run depth-first with
//! conv0 (see `deep`).

use super::buffer::{odd_lines_from, PLACE_SLACK};
use super::config::LayerSpec;
use super::fold::fold_batch_norm;
use super::options::{
    Fuse, Options, COLUMNS_BELOW_PIXELS, DEPTH_FIRST_MIN_BYTES, FUSE_BAND_BYTES, FUSE_MIN_ROWS,
};
use super::weights::BlockWeights;
use crate::activation::Clamp;
use crate::kernels::KernelSet;
use crate::ops::depthwise::{depthwise3x3_rows_strided, DepthwiseParams, DwOrder, PackedDepthwise};
use crate::ops::pointwise::{pointwise, PackedGemmB};
use crate::{Error, Result};
use std::ops::Range;

/// One depthwise-separable block: its packed weights and how it runs.
pub(super) struct Block {
    pub(super) dw: PackedDepthwise,
    /// The depthwise layer's shape at batch 1 (the batch is set per run).
    pub(super) dw_params: DepthwiseParams,
    pub(super) pw: PackedGemmB,
    /// Fused bands per image, or `None` to run the two layers one after the other.
    pub(super) fused_bands: Option<usize>,
    /// Unfused at > 1 thread: split the pointwise layer by columns (each thread reads all
    /// of A and its share of B) rather than by rows.
    pub(super) by_columns: bool,
}

impl Block {
    /// Folds and packs the weights of the block of layers `dw_spec`, `pw_spec`, and picks
    /// how it runs under `options`.
    pub(super) fn new(
        kernels: &'static KernelSet,
        (dw_spec, pw_spec): (&LayerSpec, &LayerSpec),
        weights: &BlockWeights,
        clamp: Clamp,
        options: &Options,
    ) -> Result<Block> {
        let (dw_w, dw_b) = fold_batch_norm(&weights.dw);
        let (pw_w, pw_b) = fold_batch_norm(&weights.pw);
        let dw_params = DepthwiseParams {
            batch: 1,
            in_h: dw_spec.in_h,
            in_w: dw_spec.in_w,
            channels: dw_spec.in_c,
            stride: dw_spec.stride,
            padding: dw_spec.padding,
            clamp,
        };
        dw_params.validate()?;
        // Few pixels: row bands would be uneven (7 rows over 2 threads) or short of
        // whole MR tiles, and each would stream all of B; columns split evenly.
        let small = dw_spec.out_h * dw_spec.out_w < COLUMNS_BELOW_PIXELS;
        let by_columns = options.threads > 1 && small && options.fuse != Fuse::Always;
        let fuse = match options.fuse {
            Fuse::Auto => options.threads > 1 && !small,
            Fuse::Never => false,
            Fuse::Always => true,
        };
        // Enough rows for the GEMM to reuse each B panel over FUSE_MIN_ROWS rows, few
        // enough for the band to stay in cache and for every thread to get one.
        let fused_bands = fuse.then(|| {
            let (out_w, out_h, t) = (dw_spec.out_w, dw_spec.out_h, options.threads);
            let limit = fuse_band_limit(out_w, dw_spec.out_c);
            // A multiple of the thread count of near-equal bands.
            (out_h.div_ceil(t).div_ceil(limit) * t).min(out_h)
        });
        Ok(Block {
            dw: PackedDepthwise::new(kernels, dw_spec.in_c, &dw_w, &dw_b)?,
            dw_params,
            pw: PackedGemmB::new(kernels, pw_spec.in_c, pw_spec.out_c, &pw_w, &pw_b)?,
            fused_bands,
            by_columns,
        })
    }

    /// Floats of the depthwise output of one image: GEMM rows at the pointwise layer's
    /// A stride.
    pub(super) fn dw_output_len(&self) -> usize {
        let p = &self.dw_params;
        p.out_h() * p.out_w() * self.pw.a_stride()
    }

    /// Floats of one thread's scratch for a fused band (with the slack to place it), or
    /// `None` if the block is not fused.
    pub(super) fn band_len(&self) -> Option<usize> {
        let p = &self.dw_params;
        let (h, w, lda) = (p.out_h(), p.out_w(), self.pw.a_stride());
        self.fused_bands
            .map(|n| h.div_ceil(n) * w * lda + PLACE_SLACK)
    }

    /// Output rows `rows` of the depthwise layer of shape `p` over `input` into `scratch`
    /// (at least the band's floats plus PLACE_SLACK), then the pointwise layer from there
    /// into `out` (exactly those rows): the fused blocks and the depth-first stages.
    pub(super) fn fused_rows(
        &self,
        p: &DepthwiseParams,
        input: &[f32],
        rows: Range<usize>,
        scratch: &mut [f32],
        out: &mut [f32],
        clamp: Clamp,
    ) -> Result<()> {
        // The depthwise output is the GEMM's A: pixels `lda` apart (see `a_stride`).
        let lda = self.pw.a_stride();
        let m = rows.len() * p.out_w();
        let a = odd_lines_from(input.as_ptr(), scratch, m * lda);
        depthwise3x3_rows_strided(p, &self.dw, DwOrder::Auto, input, rows, a, lda)?;
        pointwise(&self.pw, m, a, lda, out, self.pw.n(), clamp)
    }
}

/// Most rows of a depthwise output band fed to its pointwise GEMM (fused blocks and
/// depth-first stages): few enough rows of `out_w` x `channels` floats to stay within
/// FUSE_BAND_BYTES of cache, but at least FUSE_MIN_ROWS GEMM rows so each B panel is
/// reused over them, and at least one.
pub(super) fn fuse_band_limit(out_w: usize, channels: usize) -> usize {
    (FUSE_BAND_BYTES / (4 * out_w * channels))
        .max(FUSE_MIN_ROWS.div_ceil(out_w))
        .max(1)
}

/// How many of the `blocks` leading blocks of the layers `specs` run depth-first with
/// conv0 under `options` (see [`Options::depth_first`]).
pub(super) fn depth_first_blocks(
    options: &Options,
    specs: &[LayerSpec],
    blocks: usize,
) -> Result<usize> {
    let deep = match (options.depth_first, options.fuse) {
        (Some(n), _) => n,
        // A block's input is the output of the layer before its depthwise layer.
        (None, Fuse::Auto) => specs
            .iter()
            .step_by(2)
            .take(blocks)
            .take_while(|s| 4 * s.out_h * s.out_w * s.out_c >= DEPTH_FIRST_MIN_BYTES)
            .count(),
        (None, _) => 0,
    };
    if deep > blocks {
        return Err(Error::Config(format!(
            "depth-first blocks must be at most {blocks}, got {deep}"
        )));
    }
    Ok(deep)
}
