//! Running a model: checking a call, then conv0 (or the depth-first pipeline), each
//! block's layers (fused or one after the other), the pool and the classifier, each step
//! split into tasks over the model's threads.

use super::deep::DeepLayers;
use super::model::Model;
use super::options::{BIG_STEP_MACS, CONV0_ROWS_PER_STEP};
use super::profile::Laps;
use super::tasks::{row_bands, run_tasks};
use super::team::{Pool, Team};
use super::workspace::{Regions, Workspace};
use crate::activation::Clamp;
use crate::kernels::mat::MatMut;
use crate::ops::conv0::{conv0_rows, Conv0Params};
use crate::ops::depthwise::{depthwise3x3_rows_strided, DwOrder};
use crate::ops::pointwise::{pointwise, pointwise_cols, PackedGemmB};
use crate::{Error, Result};

enum Input<'a> {
    Nhwc(&'a [f32]),
    Nchw(&'a [f32]),
}

impl Model {
    /// Runs `batch` NHWC images (`input`: batch x res x res x 3) into `output`
    /// (batch x classes: probabilities, or logits if `config.softmax` is false).
    /// Allocates nothing.
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
            let r = self.config.resolution;
            return Err(Error::Shape(format!(
                "input must hold {batch} x {r} x {r} x 3 = {} floats, got {input_len}",
                self.input_len() * batch
            )));
        }
        if output_len != self.output_len() * batch {
            return Err(Error::Shape(format!(
                "output must hold {batch} x {} = {} floats, got {output_len}",
                self.config.classes,
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
        let image: &[f32] = match input {
            Input::Nhwc(x) => x,
            Input::Nchw(x) => {
                let r = self.config.resolution;
                let nhwc = &mut nhwc[..x.len()];
                crate::tensor::nchw_to_nhwc(x, nhwc, 3, r * r);
                nhwc
            }
        };
        let threads = team.map_or(1, Team::threads);

        let mut laps = Laps::start(step_ms);

        if let Some(plan) = &self.deep {
            // conv0 and the first blocks depth-first: each thread a share of the rows of
            // each image's output of the last block in the pipeline.
            let (out_h, row_len) = (plan.out_h(), plan.row_len());
            let in_len = self.input_len();
            let layers = DeepLayers {
                conv0: &self.conv0,
                conv0_params: &self.conv0_params,
                blocks: &self.blocks,
                clamp: self.clamp,
            };
            let tasks = row_bands(
                &mut ping[..out_h * row_len * batch],
                out_h,
                row_len,
                threads,
            );
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
        } else {
            // conv0, directly from the image, a few output rows per task.
            let s0 = &self.specs[0];
            let rows = s0.out_h * batch;
            let out_row = s0.out_w * s0.out_c;
            let band = CONV0_ROWS_PER_STEP.min(rows.div_ceil(threads));
            let tasks = ping[..rows * out_row]
                .chunks_mut(band * out_row)
                .enumerate();
            let p = Conv0Params {
                batch,
                ..self.conv0_params
            };
            run_tasks(team, tasks, &mut [], 0, |(i, o), _| {
                let r0 = i * band;
                conv0_rows(&p, &self.conv0, image, r0..r0 + o.len() / out_row, o)
            })?;
            laps.lap();
        }

        let (mut cur, mut next) = (ping, pong);
        for (i, block) in self
            .blocks
            .iter()
            .enumerate()
            .skip(self.depth_first_blocks())
        {
            let dw_spec = &self.specs[1 + 2 * i];
            let p = &block.dw_params;
            // The depthwise output is the GEMM's A: pixels `lda` apart (see `a_stride`).
            let lda = block.pw.a_stride();
            let (in_len, out_h, row_len) = (
                p.in_h * p.in_w * p.channels,
                dw_spec.out_h,
                dw_spec.out_w * lda,
            );
            let src = &cur[..in_len * batch];
            let n = block.pw.n();
            if let Some(bands_per_image) = block.fused_bands {
                // Each task: a band of depthwise output rows into this thread's scratch,
                // then the GEMM from there into the block's output.
                let out_row = dw_spec.out_w * n;
                let tasks = row_bands(
                    &mut next[..out_h * out_row * batch],
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
                        block.fused_rows(p, image, rows, scratch, out, self.clamp)
                    },
                )?;
                laps.lap();
                std::mem::swap(&mut cur, &mut next);
                continue;
            }

            let bands_per_image = self.split(threads, out_h * row_len * 9, out_h);
            let tasks = row_bands(
                &mut next[..out_h * row_len * batch],
                out_h,
                row_len,
                bands_per_image,
            );
            run_tasks(team, tasks, &mut [], 0, |(b, rows, out), _| {
                let image = &src[b * in_len..(b + 1) * in_len];
                depthwise3x3_rows_strided(p, &block.dw, DwOrder::Auto, image, rows, out, lda)
            })?;
            laps.lap();
            std::mem::swap(&mut cur, &mut next);

            let m = out_h * dw_spec.out_w * batch;
            let (a, c) = (&cur[..m * lda], &mut next[..m * n]);
            if block.by_columns {
                gemm_columns(team, &block.pw, m, a, lda, c, self.clamp)?;
            } else {
                self.gemm(team, &block.pw, m, a, lda, c)?;
            }
            laps.lap();
            std::mem::swap(&mut cur, &mut next);
        }

        // Global average pool.
        let last = &self.specs[self.specs.len() - 1];
        let (hw, c) = (last.out_h * last.out_w, last.out_c);
        // Rows of the classifier's A, at its stride.
        let lda = self.fc.a_stride();
        let pooled = &mut pooled[..batch * lda];
        for (b, row) in pooled.chunks_exact_mut(lda).enumerate() {
            let out = &mut row[..c];
            out.fill(0.0);
            for px in cur[b * hw * c..(b + 1) * hw * c].chunks_exact(c) {
                for (o, v) in out.iter_mut().zip(px) {
                    *o += v;
                }
            }
            let inv = 1.0 / hw as f32;
            out.iter_mut().for_each(|o| *o *= inv);
        }
        laps.lap();

        // A few rows: split the classifier's columns (its weights) over the threads.
        gemm_columns(team, &self.fc, batch, pooled, lda, output, Clamp::NONE)?;
        if self.config.softmax {
            for row in output.chunks_exact_mut(self.config.classes) {
                softmax_in_place(row);
            }
        }
        laps.lap();
        Ok(())
    }

    /// C = clamp(A B + bias) over `m` rows of A (`lda` floats apart), in bands of whole
    /// MR-row tiles over the team.
    fn gemm(
        &self,
        team: Option<&Team<'_>>,
        b: &PackedGemmB,
        m: usize,
        a: &[f32],
        lda: usize,
        c: &mut [f32],
    ) -> Result<()> {
        let (k, n) = (b.k(), b.n());
        let threads = team.map_or(1, Team::threads);
        let mr = b.mr();
        let tiles = m.div_ceil(mr);
        let band = tiles.div_ceil(self.split(threads, m * k * n, tiles)) * mr;
        let tasks = c.chunks_mut(band * n).enumerate();
        run_tasks(team, tasks, &mut [], 0, |(t, cb), _| {
            let rows = cb.len() / n;
            let a = &a[t * band * lda..(t * band + rows) * lda];
            pointwise(b, rows, a, lda, cb, n, self.clamp)
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
    run_tasks(team, tasks, &mut [], 0, |(t, view), _| {
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
