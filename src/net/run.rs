//! Running a model: checking a call, then its stages in order (conv0 or the depth-first
//! pipeline, full convolutions through im2col, each block's layers fused or one after the
//! other, lone depthwise and pointwise layers), the pool, the classifier and the softmax,
//! each step split into tasks over the model's threads.

use super::deep::DeepLayers;
use super::model::Model;
use super::options::{BIG_STEP_MACS, CONV0_ROWS_PER_STEP};
use super::plan::{Block, Im2colConv, Op};
use super::profile::Laps;
use super::tasks::{row_bands, run_tasks};
use super::team::{Pool, Team};
use super::workspace::{Regions, Workspace};
use crate::activation::Clamp;
use crate::kernels::f32_conv0::IN_C;
use crate::kernels::mat::MatMut;
use crate::ops::conv0::{conv0_rows, Conv0Params, PackedConv0};
use crate::ops::depthwise::{depthwise3x3_rows_strided, DepthwiseParams, DwOrder, PackedDepthwise};
use crate::ops::pointwise::{pointwise, pointwise_cols, PackedGemmB};
use crate::{Error, Result};

enum Input<'a> {
    Nhwc(&'a [f32]),
    Nchw(&'a [f32]),
}

impl Model {
    /// Runs `batch` NHWC images (`input`: batch x in_h x in_w x in_c) into `output`
    /// (batch x [`Model::output_len`]: the classes' probabilities, or logits without
    /// softmax; the pooled features; or the last feature map, NHWC). Allocates nothing.
    pub fn run(
        &self,
        ws: &mut Workspace,
        input: &[f32],
        batch: usize,
        output: &mut [f32],
    ) -> Result<()> {
        self.forward(ws, Input::Nhwc(input), batch, output, None)
    }

    /// As [`Model::run`] with NCHW input (PyTorch's layout), converted in the workspace.
    pub fn run_nchw(
        &self,
        ws: &mut Workspace,
        input: &[f32],
        batch: usize,
        output: &mut [f32],
    ) -> Result<()> {
        self.forward(ws, Input::Nchw(input), batch, output, None)
    }

    /// As [`Model::run`], recording the milliseconds of each of [`Model::steps`] in
    /// `step_ms` (which must have one slot per step).
    pub fn run_profiled(
        &self,
        ws: &mut Workspace,
        input: &[f32],
        batch: usize,
        output: &mut [f32],
        step_ms: &mut [f64],
    ) -> Result<()> {
        if step_ms.len() != self.step_count() {
            return Err(Error::Shape(format!(
                "step_ms needs {} slots (one per step), got {}",
                self.step_count(),
                step_ms.len()
            )));
        }
        self.forward(ws, Input::Nhwc(input), batch, output, Some(step_ms))
    }

    fn check_call(
        &self,
        ws: &Workspace,
        input_len: usize,
        batch: usize,
        output_len: usize,
    ) -> Result<()> {
        if batch == 0 || batch > ws.batch() {
            return Err(Error::Shape(format!(
                "batch {batch} must be in 1..={} (the workspace's batch)",
                ws.batch()
            )));
        }
        if !self.region_lens(batch).is_some_and(|need| ws.holds(need)) {
            return Err(Error::Shape(
                "workspace was made for a different model".into(),
            ));
        }
        if input_len != self.input_len() * batch {
            let n = &self.network;
            return Err(Error::Shape(format!(
                "input must hold {batch} x {} x {} x {} = {} floats, got {input_len}",
                n.in_h,
                n.in_w,
                n.in_c,
                self.input_len() * batch
            )));
        }
        if output_len != self.output_len() * batch {
            let dims: Vec<String> = self
                .network
                .output_dims()
                .iter()
                .map(usize::to_string)
                .collect();
            return Err(Error::Shape(format!(
                "output must hold {batch} x {} = {} floats, got {output_len}",
                dims.join(" x "),
                self.output_len() * batch
            )));
        }
        Ok(())
    }

    fn forward(
        &self,
        ws: &mut Workspace,
        input: Input<'_>,
        batch: usize,
        output: &mut [f32],
        step_ms: Option<&mut [f64]>,
    ) -> Result<()> {
        let input_len = match input {
            Input::Nhwc(x) | Input::Nchw(x) => x.len(),
        };
        self.check_call(ws, input_len, batch, output.len())?;
        // The pool serves one run at a time; a concurrent run goes inline on its own thread.
        let team = self.pool.as_ref().and_then(Pool::team);
        self.layers(ws, input, batch, output, step_ms, team.as_ref())
    }

    fn layers(
        &self,
        ws: &mut Workspace,
        input: Input<'_>,
        batch: usize,
        output: &mut [f32],
        step_ms: Option<&mut [f64]>,
        team: Option<&Team<'_>>,
    ) -> Result<()> {
        let Regions {
            ping,
            pong,
            nhwc,
            pooled,
            bands,
            deep,
        } = ws.split();
        let net = &self.network;
        let image: &[f32] = match input {
            Input::Nhwc(x) => x,
            Input::Nchw(x) => {
                let nhwc = &mut nhwc[..x.len()];
                crate::tensor::nchw_to_nhwc(x, nhwc, net.in_c, net.in_h * net.in_w);
                nhwc
            }
        };
        let threads = team.map_or(1, Team::threads);
        let specs = &net.layers;
        let head = net.head;
        // Without the pool the last stage writes the output itself.
        let last_stage = self.stages.len() - 1;
        let len_of = |layer: usize| {
            let s = &specs[layer].spec;
            s.out_h * s.out_w * s.out_c * batch
        };

        let mut laps = Laps::start(step_ms);

        // Each stage reads `cur` (the image before the first) and writes `next` (ping
        // first), then they swap.
        let (mut cur, mut next) = (pong, ping);
        let mut started = false;
        let mut skip = 0;
        if let Some(plan) = &self.deep {
            // conv0 and the first blocks depth-first: each thread a share of the rows of
            // each image's output of the last block in the pipeline.
            let Op::Conv0 { conv, params } = &self.stages[0].op else {
                return Err(Error::Shape("depth-first without conv0 first".into()));
            };
            let (out_h, row_len) = (plan.out_h(), plan.row_len());
            let in_len = self.input_len();
            let layers = DeepLayers {
                conv0: conv,
                conv0_params: params,
                stages: &self.stages[1..],
            };
            skip = plan.blocks + 1;
            let dst = if skip > last_stage && !head.pool {
                &mut output[..]
            } else {
                &mut next[..out_h * row_len * batch]
            };
            let tasks = row_bands(dst, out_h, row_len, threads);
            run_tasks(
                team,
                tasks,
                deep,
                plan.scratch_len,
                |(b, rows, out), scratch| {
                    let image = &image[b * in_len..(b + 1) * in_len];
                    layers.rows(plan, image, rows, out, scratch)
                },
            )?;
            laps.lap();
            std::mem::swap(&mut cur, &mut next);
            started = true;
        }

        for (i, stage) in self.stages.iter().enumerate().skip(skip) {
            let to_output = i == last_stage && !head.pool;
            let src: &[f32] = if started { cur } else { image };
            let out_layer = match stage.op {
                Op::Block(_) => stage.layer + 1,
                _ => stage.layer,
            };
            let dst: &mut [f32] = if to_output {
                &mut output[..]
            } else {
                &mut next[..len_of(out_layer)]
            };
            match &stage.op {
                Op::Conv0 { conv, params } => {
                    self.conv0(team, conv, params, batch, src, dst)?;
                }
                Op::Im2col(c) => self.im2col(team, c, batch, src, dst, bands)?,
                Op::Block(block) if block.fused_bands.is_some() => {
                    self.fused(team, block, batch, src, dst, bands)?;
                }
                Op::Block(block) => {
                    // The depthwise layer into `next` at the GEMM's A stride, then the
                    // GEMM from there into `cur` (whose input is read by then).
                    let lda = block.pw.a_stride();
                    let p = &block.dw_params;
                    let m = p.out_h() * p.out_w() * batch;
                    let a = &mut next[..m * lda];
                    self.depthwise(team, &block.dw, p, batch, src, a, lda)?;
                    laps.lap();
                    let n = block.pw.n();
                    let c: &mut [f32] = if to_output {
                        &mut output[..]
                    } else {
                        &mut cur[..m * n]
                    };
                    if block.by_columns {
                        gemm_columns(team, &block.pw, m, a, lda, c, block.pw_clamp)?;
                    } else {
                        self.gemm(team, &block.pw, m, a, lda, c, block.pw_clamp)?;
                    }
                    laps.lap();
                    // The output is in `cur` already.
                    started = true;
                    continue;
                }
                Op::Depthwise { dw, params } => {
                    self.depthwise(team, dw, params, batch, src, dst, params.channels)?;
                }
                Op::Pointwise {
                    pw,
                    clamp,
                    pixels,
                    by_columns,
                } => {
                    let (m, k) = (pixels * batch, pw.k());
                    let a = &src[..m * k];
                    if *by_columns {
                        gemm_columns(team, pw, m, a, k, dst, *clamp)?;
                    } else {
                        self.gemm(team, pw, m, a, k, dst, *clamp)?;
                    }
                }
            }
            laps.lap();
            std::mem::swap(&mut cur, &mut next);
            started = true;
        }

        if !head.pool {
            return Ok(());
        }
        // Global average pool, into the classifier's rows of A (at its stride) or the
        // output.
        let (h, w, c) = net.features();
        let hw = h * w;
        let features: &[f32] = if started { cur } else { image };
        let features = &features[..batch * hw * c];
        let Some(fc) = &self.fc else {
            avg_pool(features, hw, c, &mut output[..batch * c], c);
            if head.softmax {
                output.chunks_exact_mut(c).for_each(softmax_in_place);
            }
            laps.lap();
            return Ok(());
        };
        let lda = fc.a_stride();
        let pooled = &mut pooled[..batch * lda];
        avg_pool(features, hw, c, pooled, lda);
        laps.lap();

        // A few rows: split the classifier's columns (its weights) over the threads.
        gemm_columns(team, fc, batch, pooled, lda, output, Clamp::NONE)?;
        if head.softmax {
            output.chunks_exact_mut(fc.n()).for_each(softmax_in_place);
        }
        laps.lap();
        Ok(())
    }

    /// conv0 by its direct kernel, from the `image` batch, a few output rows per task.
    fn conv0(
        &self,
        team: Option<&Team<'_>>,
        conv: &PackedConv0,
        params: &Conv0Params,
        batch: usize,
        image: &[f32],
        dst: &mut [f32],
    ) -> Result<()> {
        let threads = team.map_or(1, Team::threads);
        let p = Conv0Params { batch, ..*params };
        let image = &image[..p.in_h * p.in_w * IN_C * batch];
        let rows = p.out_h() * batch;
        let out_row = p.out_w() * p.out_c;
        let band = CONV0_ROWS_PER_STEP.min(rows.div_ceil(threads));
        let tasks = dst[..rows * out_row].chunks_mut(band * out_row).enumerate();
        run_tasks(team, tasks, &mut [0f32; 0], 0, |(i, o), _| {
            let r0 = i * band;
            conv0_rows(&p, conv, image, r0..r0 + o.len() / out_row, o)
        })
    }

    /// A full 3x3 convolution by im2col and the GEMM, a band of rows per task.
    fn im2col(
        &self,
        team: Option<&Team<'_>>,
        conv: &Im2colConv,
        batch: usize,
        src: &[f32],
        dst: &mut [f32],
        bands: &mut [f32],
    ) -> Result<()> {
        let p = &conv.params;
        let in_len = p.image_len();
        let src = &src[..in_len * batch];
        let (out_h, out_row) = (p.out_h(), p.out_w() * conv.gemm.n());
        let tasks = row_bands(
            &mut dst[..out_h * out_row * batch],
            out_h,
            out_row,
            conv.bands,
        );
        run_tasks(
            team,
            tasks,
            bands,
            self.band_len,
            |(b, rows, out), scratch| {
                conv.rows(&src[b * in_len..(b + 1) * in_len], rows, scratch, out)
            },
        )
    }

    /// A fused block: each task a band of depthwise output rows into this thread's
    /// scratch, then the GEMM from there into the block's output.
    fn fused(
        &self,
        team: Option<&Team<'_>>,
        block: &Block,
        batch: usize,
        src: &[f32],
        dst: &mut [f32],
        bands: &mut [f32],
    ) -> Result<()> {
        let p = &block.dw_params;
        let in_len = p.in_h * p.in_w * p.channels;
        let src = &src[..in_len * batch];
        let (out_h, out_row) = (p.out_h(), p.out_w() * block.pw.n());
        let bands_per_image = block.fused_bands.unwrap_or(1);
        let tasks = row_bands(
            &mut dst[..out_h * out_row * batch],
            out_h,
            out_row,
            bands_per_image,
        );
        run_tasks(
            team,
            tasks,
            bands,
            self.band_len,
            |(b, rows, out), scratch| {
                let image = &src[b * in_len..(b + 1) * in_len];
                block.fused_rows(p, image, rows, scratch, out)
            },
        )
    }

    /// A depthwise layer of shape `p` (at batch 1) over `batch` images of `src` into
    /// `dst`, its pixels `out_px` floats apart, in row bands.
    #[allow(clippy::too_many_arguments)]
    fn depthwise(
        &self,
        team: Option<&Team<'_>>,
        dw: &PackedDepthwise,
        p: &DepthwiseParams,
        batch: usize,
        src: &[f32],
        dst: &mut [f32],
        out_px: usize,
    ) -> Result<()> {
        let threads = team.map_or(1, Team::threads);
        let in_len = p.in_h * p.in_w * p.channels;
        let src = &src[..in_len * batch];
        let (out_h, row_len) = (p.out_h(), p.out_w() * out_px);
        let bands_per_image = self.split(threads, out_h * row_len * 9, out_h);
        let tasks = row_bands(
            &mut dst[..out_h * row_len * batch],
            out_h,
            row_len,
            bands_per_image,
        );
        run_tasks(team, tasks, &mut [0f32; 0], 0, |(b, rows, out), _| {
            let image = &src[b * in_len..(b + 1) * in_len];
            depthwise3x3_rows_strided(p, dw, DwOrder::Auto, image, rows, out, out_px)
        })
    }

    /// C = clamp(A B + bias) over `m` rows of A (`lda` floats apart), in bands of whole
    /// MR-row tiles over the team.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &self,
        team: Option<&Team<'_>>,
        b: &PackedGemmB,
        m: usize,
        a: &[f32],
        lda: usize,
        c: &mut [f32],
        clamp: Clamp,
    ) -> Result<()> {
        let (k, n) = (b.k(), b.n());
        let threads = team.map_or(1, Team::threads);
        let mr = b.mr();
        let tiles = m.div_ceil(mr);
        let band = tiles.div_ceil(self.split(threads, m * k * n, tiles)) * mr;
        let tasks = c.chunks_mut(band * n).enumerate();
        run_tasks(team, tasks, &mut [0f32; 0], 0, |(t, cb), _| {
            let rows = cb.len() / n;
            let a = &a[t * band * lda..(t * band + rows) * lda];
            pointwise(b, rows, a, lda, cb, n, clamp)
        })
    }

    /// Tasks to split a step of `macs` multiply-adds into, at most `units` (rows or tiles):
    /// one per thread, more on big steps so a descheduled thread's share can be taken
    /// over by the others. One thread runs a step as one task: each row band of a GEMM
    /// streams all of its weights again, and the 7x7 layers of 1.0-224 (2 and 4 MB of
    /// weights, read from L3) ran slower in 4 bands than in one (docs/performance.md).
    fn split(&self, threads: usize, macs: usize, units: usize) -> usize {
        if threads == 1 {
            return 1;
        }
        let per_thread = if macs >= BIG_STEP_MACS { 4 } else { 1 };
        (threads * per_thread).clamp(1, units.max(1))
    }
}

/// C = clamp(A B + bias) over `m` rows of A (`lda` floats apart), each thread taking a
/// range of B's panels (all rows of A, its columns of C).
fn gemm_columns(
    team: Option<&Team<'_>>,
    b: &PackedGemmB,
    m: usize,
    a: &[f32],
    lda: usize,
    c: &mut [f32],
    clamp: Clamp,
) -> Result<()> {
    let n = b.n();
    let threads = team.map_or(1, Team::threads);
    let per_task = b.panels().div_ceil(threads).max(1);
    let tasks = MatMut::new(c, m, n, n)?
        .col_chunks(per_task * b.nr())
        .enumerate();
    run_tasks(team, tasks, &mut [0f32; 0], 0, |(t, view), _| {
        let panels = t * per_task..((t + 1) * per_task).min(b.panels());
        pointwise_cols(b, panels, a, lda, view, clamp)
    })
}

fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// The mean over the `hw` pixels of `c` channels of each image of `src` into the rows of
/// `dst`, `ld` floats apart (the first `c` of each written).
fn avg_pool(src: &[f32], hw: usize, c: usize, dst: &mut [f32], ld: usize) {
    let inv = 1.0 / hw as f32;
    for (image, row) in src.chunks_exact(hw * c).zip(dst.chunks_exact_mut(ld)) {
        let out = &mut row[..c];
        out.fill(0.0);
        for px in image.chunks_exact(c) {
            for (o, v) in out.iter_mut().zip(px) {
                *o += v;
            }
        }
        out.iter_mut().for_each(|o| *o *= inv);
    }
}
