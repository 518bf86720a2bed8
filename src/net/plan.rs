//! The schedule: how a network's layers are grouped into stages (a full 3x3 convolution,
//! a depthwise-separable block, a lone depthwise or pointwise layer); per block, whether
//! its depthwise layer runs fused with its pointwise layer (and in how many bands) or the
//! two run one after the other, with the pointwise layer split by rows or by columns; and
//! how many leading blocks run depth-first with conv0 (see `deep`).

use super::buffer::{odd_lines_from, PLACE_SLACK};
use super::config::LayerSpec;
use super::fold::fold_batch_norm;
use super::options::{
    Fuse, Options, COLUMNS_BELOW_PIXELS, DEPTH_FIRST_MIN_BYTES, FUSE_BAND_BYTES, FUSE_MIN_ROWS,
};
use super::weights::ConvWeights;
use crate::activation::Clamp;
use crate::kernels::KernelSet;
use crate::ops::conv0::{Conv0Params, PackedConv0};
use crate::ops::depthwise::{depthwise3x3_rows_strided, DepthwiseParams, DwOrder, PackedDepthwise};
use crate::ops::im2col::{im2col_rows, Im2colParams};
use crate::ops::pointwise::{pointwise, PackedGemmB};
use crate::{Error, Result};
use std::ops::Range;

/// One depthwise-separable block: its packed weights and how it runs.
pub(super) struct Block {
    pub(super) dw: PackedDepthwise,
    /// The depthwise layer's shape at batch 1 (the batch is set per run).
    pub(super) dw_params: DepthwiseParams,
    pub(super) pw: PackedGemmB,
    /// The pointwise layer's activation (the depthwise layer's is in `dw_params`).
    pub(super) pw_clamp: Clamp,
    /// Fused bands per image, or `None` to run the two layers one after the other.
    pub(super) fused_bands: Option<usize>,
    /// Unfused at > 1 thread: split the pointwise layer by columns (each thread reads all
    /// of A and its share of B) rather than by rows.
    pub(super) by_columns: bool,
}

impl Block {
    /// Folds and packs the weights of the block of layers `dw_spec`, `pw_spec` (activations
    /// `dw_clamp`, `pw_clamp`), and picks how it runs under `options`.
    pub(super) fn new(
        kernels: &'static KernelSet,
        (dw_spec, pw_spec): (&LayerSpec, &LayerSpec),
        (dw_weights, pw_weights): (&ConvWeights, &ConvWeights),
        (dw_clamp, pw_clamp): (Clamp, Clamp),
        options: &Options,
    ) -> Result<Block> {
        let (dw_w, dw_b) = fold_batch_norm(dw_weights);
        let (pw_w, pw_b) = fold_batch_norm(pw_weights);
        let dw_params = DepthwiseParams {
            batch: 1,
            in_h: dw_spec.in_h,
            in_w: dw_spec.in_w,
            channels: dw_spec.in_c,
            stride: dw_spec.stride,
            padding: dw_spec.padding,
            clamp: dw_clamp,
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
            pw_clamp,
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
    ) -> Result<()> {
        // The depthwise output is the GEMM's A: pixels `lda` apart (see `a_stride`).
        let lda = self.pw.a_stride();
        let m = rows.len() * p.out_w();
        let a = odd_lines_from(input.as_ptr(), scratch, m * lda);
        depthwise3x3_rows_strided(p, &self.dw, DwOrder::Auto, input, rows, a, lda)?;
        pointwise(&self.pw, m, a, lda, out, self.pw.n(), self.pw_clamp)
    }
}

/// A full 3x3 convolution through im2col and the GEMM (see `ops::im2col`): bands of
/// output rows, each band's im2col rows built in a thread's scratch and multiplied there.
pub(super) struct Im2colConv {
    /// The geometry of one image.
    pub(super) params: Im2colParams,
    /// The weights as B of K = 9 in_c rows.
    pub(super) gemm: PackedGemmB,
    pub(super) clamp: Clamp,
    /// Row bands per image.
    pub(super) bands: usize,
}

impl Im2colConv {
    /// Folds and packs the layer `spec`'s weights, with activation `clamp`, for bands that
    /// keep the im2col rows near FUSE_BAND_BYTES and give each of `threads` threads one.
    pub(super) fn new(
        kernels: &'static KernelSet,
        spec: &LayerSpec,
        weights: &ConvWeights,
        clamp: Clamp,
        threads: usize,
    ) -> Result<Im2colConv> {
        let params = Im2colParams {
            in_h: spec.in_h,
            in_w: spec.in_w,
            in_c: spec.in_c,
            stride: spec.stride,
            padding: spec.padding,
        };
        params.validate()?;
        clamp.check()?;
        let (w, b) = fold_batch_norm(weights);
        let gemm = PackedGemmB::new(kernels, params.k(), spec.out_c, &w, &b)?;
        let (out_h, out_w) = (params.out_h(), params.out_w());
        let limit = fuse_band_limit(out_w, gemm.a_stride());
        let bands = (out_h.div_ceil(threads).div_ceil(limit) * threads).min(out_h);
        Ok(Im2colConv {
            params,
            gemm,
            clamp,
            bands,
        })
    }

    /// Floats of one thread's band scratch (with the slack to place it).
    pub(super) fn band_len(&self) -> usize {
        let p = &self.params;
        p.out_h().div_ceil(self.bands) * p.out_w() * self.gemm.a_stride() + PLACE_SLACK
    }

    /// Output rows `rows` of one `image` into `out` (exactly those rows), through
    /// `scratch` (at least [`Im2colConv::band_len`] floats).
    pub(super) fn rows(
        &self,
        image: &[f32],
        rows: Range<usize>,
        scratch: &mut [f32],
        out: &mut [f32],
    ) -> Result<()> {
        let lda = self.gemm.a_stride();
        let m = rows.len() * self.params.out_w();
        let a = odd_lines_from(image.as_ptr(), scratch, m * lda);
        im2col_rows(&self.params, image, rows, a, lda)?;
        pointwise(&self.gemm, m, a, lda, out, self.gemm.n(), self.clamp)
    }
}

/// One stage of a model: the layers it runs (from `layer`, one or two) and how.
pub(super) struct Stage {
    /// Index of its first layer in the network.
    pub(super) layer: usize,
    pub(super) op: Op,
}

/// What a stage runs.
pub(super) enum Op {
    /// A full 3x3 stride-2 convolution from 3 channels: the direct conv0 kernel.
    Conv0 {
        conv: PackedConv0,
        /// Its shape at batch 1 (the batch is set per run).
        params: Conv0Params,
    },
    /// Any other full 3x3 convolution: im2col and the GEMM.
    Im2col(Im2colConv),
    /// A depthwise layer and the pointwise layer after it.
    Block(Block),
    /// A depthwise layer not followed by a pointwise one.
    Depthwise {
        dw: PackedDepthwise,
        /// Its shape at batch 1.
        params: DepthwiseParams,
    },
    /// A pointwise layer not after a depthwise one.
    Pointwise {
        pw: PackedGemmB,
        clamp: Clamp,
        /// Rows (pixels) of one image.
        pixels: usize,
        /// At > 1 thread split by columns (as small blocks' pointwise layers).
        by_columns: bool,
    },
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
