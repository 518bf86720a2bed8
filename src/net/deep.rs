//! Depth-first execution of the first layers: conv0 and the first blocks run band by band
//! as one pipeline, each layer's output held in a small window of rows that the next
//! layer reads while it is still in L1/L2, instead of whole activations (up to 3.2 MB at
//! 1.0-224) written to memory by one layer and read back by the next.
//!
//! Stage 0 is conv0; stage j >= 1 is block j - 1, its depthwise band computed into a
//! scratch band and fed straight to the pointwise GEMM (as in the fused blocks). A stage
//! makes its rows on demand: before a depthwise band runs, the stage before it is asked
//! for the input rows the band's windows cover. A window keeps the rows still needed by
//! the next stage at its front (rows no longer needed are dropped by moving the rest
//! down), so the 1-2 rows shared by neighbouring bands are computed once. The last stage
//! writes whole rows of the block's output, which the layer-by-layer code takes over.
//!
//! Every value is computed by the same kernels on the same operands as layer by layer
//! (a GEMM row does not depend on the rows around it, a depthwise output not on the band
//! it is computed in), so results are bit-identical. At more than one thread each thread
//! runs its own pipeline for a share of the last stage's rows and recomputes the few
//! rows of earlier stages that the shares' windows both need.

use super::buffer::PLACE_SLACK;
use super::config::LayerSpec;
use super::plan::{Block, Op, Stage as ModelStage};
use crate::geometry::Padding;
use crate::ops::conv0::{conv0_rows, Conv0Params, PackedConv0};
use crate::ops::depthwise::DepthwiseParams;
use crate::{Error, Result};
use std::ops::Range;

/// Most stages in a pipeline: conv0 and the 13 blocks.
pub(super) const MAX_STAGES: usize = 14;

/// Rows of one stage of the pipeline.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Stage {
    out_h: usize,
    /// Floats per output row.
    row_len: usize,
    /// Rows computed per step.
    band: usize,
    /// Rows the stage's window holds (stages before the last).
    cap: usize,
    /// Offset of the window in a thread's scratch.
    offset: usize,
}

/// How the first `blocks` blocks run depth-first, and the scratch a thread needs.
#[derive(Clone, Debug)]
pub(super) struct DeepPlan {
    /// Blocks in the pipeline: stages 0 ..= blocks.
    pub blocks: usize,
    stages: [Stage; MAX_STAGES],
    /// Offset of the depthwise band in a thread's scratch.
    band_at: usize,
    /// Floats of one thread's scratch.
    pub scratch_len: usize,
}

impl DeepPlan {
    /// Plans stages 0 ..= `depth` (`depth` >= 1) of a model of layers `specs` (conv0, then
    /// each block's depthwise and pointwise layer) and `blocks` (at least `depth`), with
    /// `band_rows(j)` rows per step of stage j.
    pub(super) fn new(
        specs: &[LayerSpec],
        blocks: &[&Block],
        depth: usize,
        band_rows: impl Fn(usize) -> usize,
    ) -> DeepPlan {
        let mut stages = [Stage::default(); MAX_STAGES];
        for (j, st) in stages.iter_mut().enumerate().take(depth + 1) {
            let spec = &specs[2 * j];
            st.out_h = spec.out_h;
            st.row_len = spec.out_w * spec.out_c;
            st.band = band_rows(j).clamp(1, spec.out_h);
        }
        // A window holds what one band of its consumer reads, plus what one band of its
        // own may add past that.
        let mut len = 0;
        for j in 0..depth {
            let p = &blocks[j].dw_params;
            let consumer = stages[j + 1].band;
            let cap = ((consumer - 1) * p.stride + 2 + stages[j].band).min(stages[j].out_h);
            stages[j].cap = cap;
            stages[j].offset = len;
            len += cap * stages[j].row_len;
        }
        let band_at = len;
        let band = (1..=depth)
            .map(|j| {
                let dw = &specs[2 * j - 1];
                stages[j].band * dw.out_w * blocks[j - 1].pw.a_stride()
            })
            .max()
            .unwrap_or(0);
        let scratch_len = band_at + band + PLACE_SLACK;
        DeepPlan {
            blocks: depth,
            stages,
            band_at,
            scratch_len,
        }
    }

    /// Rows of the last stage's output.
    pub(super) fn out_h(&self) -> usize {
        self.stages[self.blocks].out_h
    }

    /// Floats per row of the last stage's output.
    pub(super) fn row_len(&self) -> usize {
        self.stages[self.blocks].row_len
    }
}

/// One thread's pipeline over one image.
struct Run<'a> {
    /// Windows of stages 0 .. blocks, then the output rows of the last stage.
    wins: [&'a mut [f32]; MAX_STAGES],
    /// First row held in each window.
    base: [usize; MAX_STAGES],
    /// Rows computed so far (one past the last) per stage.
    done: [usize; MAX_STAGES],
    band: &'a mut [f32],
}

/// What the pipeline runs, borrowed from the model: conv0 and the blocks.
pub(super) struct DeepLayers<'a> {
    pub(super) conv0: &'a PackedConv0,
    /// conv0's shape at batch 1.
    pub(super) conv0_params: &'a Conv0Params,
    /// The model's stages after conv0 (the plan's blocks are the first `plan.blocks`).
    pub(super) stages: &'a [ModelStage],
}

impl DeepLayers<'_> {
    /// Block `j` of the pipeline (stage j + 1).
    fn block(&self, j: usize) -> Result<&Block> {
        match self.stages.get(j).map(|s| &s.op) {
            Some(Op::Block(b)) => Ok(b),
            _ => Err(Error::Shape(format!(
                "depth-first stage {} is not a depthwise-separable block",
                j + 1
            ))),
        }
    }

    /// Rows `rows` of the last stage of `plan` for one NHWC `image`, into `out` (exactly
    /// those rows), using `scratch` (`plan.scratch_len` floats).
    pub(super) fn rows(
        &self,
        plan: &DeepPlan,
        image: &[f32],
        rows: Range<usize>,
        out: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<()> {
        let last = plan.blocks;
        if rows.is_empty() {
            return Ok(());
        }
        if scratch.len() < plan.scratch_len
            || out.len() != rows.len() * plan.row_len()
            || rows.end > plan.out_h()
        {
            return Err(Error::Shape(
                "depth-first rows do not fit their output or scratch".into(),
            ));
        }
        let (wins_mem, rest) = scratch.split_at_mut(plan.band_at);
        let band = &mut rest[..plan.scratch_len - plan.band_at];
        let mut run = Run {
            wins: Default::default(),
            base: [0; MAX_STAGES],
            done: [0; MAX_STAGES],
            band,
        };
        let mut mem = wins_mem;
        for j in 0..last {
            let st = &plan.stages[j];
            let (w, tail) = mem.split_at_mut(st.cap * st.row_len);
            run.wins[j] = w;
            mem = tail;
        }
        run.wins[last] = out;
        // Each stage starts at the first row its consumer's first band reads.
        run.base[last] = rows.start;
        run.done[last] = rows.start;
        for j in (0..last).rev() {
            let p = &self.block(j)?.dw_params;
            let first = (run.done[j + 1] * p.stride).saturating_sub(p.padding.top);
            run.base[j] = first.min(plan.stages[j].out_h);
            run.done[j] = run.base[j];
        }
        self.produce(plan, &mut run, image, last, rows.end)
    }

    /// Computes rows of stage `j` until `upto` rows exist.
    fn produce(
        &self,
        plan: &DeepPlan,
        run: &mut Run<'_>,
        image: &[f32],
        j: usize,
        upto: usize,
    ) -> Result<()> {
        let st = plan.stages[j];
        while run.done[j] < upto {
            let r0 = run.done[j];
            // Earlier stages may run ahead of `upto` (their windows have room for one
            // band more); the last stage writes exactly its rows.
            let end = if j == plan.blocks { upto } else { st.out_h };
            let r1 = (r0 + st.band).min(end);
            if j < plan.blocks && r1 - run.base[j] > st.cap {
                self.slide(plan, run, j)?;
                if r1 - run.base[j] > st.cap {
                    return Err(Error::Shape(format!(
                        "depth-first window of stage {j} overflows ({} rows, holds {})",
                        r1 - run.base[j],
                        st.cap
                    )));
                }
            }
            if j == 0 {
                let b = run.base[0];
                let out = &mut run.wins[0][(r0 - b) * st.row_len..(r1 - b) * st.row_len];
                conv0_rows(self.conv0_params, self.conv0, image, r0..r1, out)?;
            } else {
                let block = self.block(j - 1)?;
                let p = &block.dw_params;
                let (s, pt) = (p.stride, p.padding.top);
                let hi = ((r1 - 1) * s + 3).saturating_sub(pt).min(p.in_h);
                self.produce(plan, run, image, j - 1, hi)?;
                // The window as an image of its own: virtual row v is row base + v, and
                // output row oy becomes oy - shift, with the top padding chosen so that
                // each output still reads the same rows (rows above the window are never
                // read: the band starts at or below the window's first row).
                let (b_in, d_in) = (run.base[j - 1], run.done[j - 1]);
                let pad_top = if b_in == 0 { pt } else { (b_in + pt) % s };
                let shift = (b_in + pt - pad_top) / s;
                let wp = DepthwiseParams {
                    in_h: d_in - b_in,
                    padding: Padding {
                        top: pad_top,
                        ..p.padding
                    },
                    ..*p
                };
                let in_row = p.in_w * p.channels;
                let (wins_lo, wins_hi) = run.wins.split_at_mut(j);
                let window = &wins_lo[j - 1][..(d_in - b_in) * in_row];
                let b = run.base[j];
                let out = &mut wins_hi[0][(r0 - b) * st.row_len..(r1 - b) * st.row_len];
                let rows = r0 - shift..r1 - shift;
                block.fused_rows(&wp, window, rows, run.band, out)?;
            }
            run.done[j] = r1;
        }
        Ok(())
    }

    /// Drops the rows of stage `j`'s window that its consumer no longer reads.
    fn slide(&self, plan: &DeepPlan, run: &mut Run<'_>, j: usize) -> Result<()> {
        let p = &self.block(j)?.dw_params;
        let keep = (run.done[j + 1] * p.stride)
            .saturating_sub(p.padding.top)
            .clamp(run.base[j], run.done[j]);
        let rl = plan.stages[j].row_len;
        let (b, d) = (run.base[j], run.done[j]);
        run.wins[j].copy_within((keep - b) * rl..(d - b) * rl, 0);
        run.base[j] = keep;
        Ok(())
    }
}
