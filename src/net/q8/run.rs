//! Running a [`Q8Model`]: checking a call, loading the input (f32 quantized, or codes),
//! then each layer split into tasks over the model's threads (the full 3x3 convolutions
//! and the depthwise layers in bands of output rows of each image, the pointwise layers
//! in bands of whole GEMM row tiles, the classifier in ranges of its panels), the pool, and
//! the output as codes, dequantized, or through the softmax.
//!
//! Every output value is computed by the same operations whichever task computes it, so a
//! run gives the same bits at any thread count.

use super::model::{Op, Q8Model, Stage};
use super::workspace::{Q8Workspace, SLACK};
use crate::kernels::q8_gemm::{gemm, PackedQ8B, Q8GemmArgs, Q8Out};
use crate::net::options::BIG_STEP_MACS;
use crate::net::profile::Laps;
use crate::net::tasks::{row_bands, run_tasks};
use crate::net::team::{Pool, Team};
use crate::ops::q8_conv0::Conv0Source;
use crate::ops::q8_depthwise::q8_depthwise3x3_rows;
use crate::ops::q8_pool::q8_global_avg_pool_mode;
use crate::quant::{requantize, OutQ, QParams};
use crate::{Error, Result};

/// Input codes for [`Q8Model::run_codes`], quantized with [`Q8Model::input_quant`]: u8,
/// or i8 (the u8 code minus 128, its zero point `zero_point - 128`).
#[derive(Clone, Copy, Debug)]
pub enum Q8Input<'a> {
    U8(&'a [u8]),
    I8(&'a [i8]),
}

/// Where [`Q8Model::run_codes`] writes: f32 (as [`Q8Model::run`]), or the codes of the
/// output tensor quantized with [`Q8Model::output_quant`] (u8, or i8 = u8 - 128).
#[derive(Debug)]
pub enum Q8Output<'a> {
    F32(&'a mut [f32]),
    U8(&'a mut [u8]),
    I8(&'a mut [i8]),
}

impl Q8Output<'_> {
    fn len(&self) -> usize {
        match self {
            Q8Output::F32(o) => o.len(),
            Q8Output::U8(o) => o.len(),
            Q8Output::I8(o) => o.len(),
        }
    }
}

#[derive(Clone, Copy)]
enum Input<'a> {
    Nhwc(&'a [f32]),
    Nchw(&'a [f32]),
    Codes(Q8Input<'a>),
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Nhwc(x) | Input::Nchw(x) => x.len(),
            Input::Codes(Q8Input::U8(x)) => x.len(),
            Input::Codes(Q8Input::I8(x)) => x.len(),
        }
    }
}

impl Q8Model {
    /// Runs `batch` f32 NHWC images of `input` into `output` (`batch * output_len()`:
    /// the dequantized logits, or probabilities with a softmax; the pooled features; or
    /// the last feature map). Allocates nothing.
    pub fn run(
        &self,
        ws: &mut Q8Workspace,
        input: &[f32],
        batch: usize,
        output: &mut [f32],
    ) -> Result<()> {
        self.forward(ws, Input::Nhwc(input), batch, Q8Output::F32(output), None)
    }

    /// As [`Q8Model::run`] with NCHW input (quantized straight into NHWC codes).
    pub fn run_nchw(
        &self,
        ws: &mut Q8Workspace,
        input: &[f32],
        batch: usize,
        output: &mut [f32],
    ) -> Result<()> {
        self.forward(ws, Input::Nchw(input), batch, Q8Output::F32(output), None)
    }

    /// As [`Q8Model::run`] on input codes (NHWC, quantized with
    /// [`Q8Model::input_quant`]), into f32 or into the output's codes (only where
    /// [`Q8Model::output_quant`] is `Some`; an error otherwise).
    pub fn run_codes(
        &self,
        ws: &mut Q8Workspace,
        input: Q8Input<'_>,
        batch: usize,
        output: Q8Output<'_>,
    ) -> Result<()> {
        self.forward(ws, Input::Codes(input), batch, output, None)
    }

    /// [`Q8Model::run`], timing each step of [`Q8Model::steps`] into `step_ms` (one
    /// slot per step).
    pub fn run_profiled(
        &self,
        ws: &mut Q8Workspace,
        input: &[f32],
        batch: usize,
        output: &mut [f32],
        step_ms: &mut [f64],
    ) -> Result<()> {
        if step_ms.len() != self.step_count {
            return Err(Error::Shape(format!(
                "step_ms needs {} slots (one per step), got {}",
                self.step_count,
                step_ms.len()
            )));
        }
        self.forward(
            ws,
            Input::Nhwc(input),
            batch,
            Q8Output::F32(output),
            Some(step_ms),
        )
    }

    fn check_call(&self, ws: &Q8Workspace, input: &Input, n: usize, out: &Q8Output) -> Result<()> {
        if n == 0 || n > ws.batch {
            return Err(Error::Shape(format!(
                "batch {n} must be in 1..={} (the workspace's batch)",
                ws.batch
            )));
        }
        if !self.lens(n).is_some_and(|need| ws.holds(need)) {
            return Err(Error::Shape(
                "workspace was made for a different model".into(),
            ));
        }
        let (want_in, want_out) = (n * self.input_len(), n * self.output_len());
        if input.len() != want_in || out.len() != want_out {
            return Err(Error::Shape(format!(
                "input of {} values and output of {} for batch {n} (need {want_in} and \
                 {want_out})",
                input.len(),
                out.len(),
            )));
        }
        if !matches!(out, Q8Output::F32(_)) && self.output_quant().is_none() {
            return Err(Error::Config(
                "the network ends in f32 (the classifier's logits or a softmax), not in \
                 codes: ask for f32 output"
                    .into(),
            ));
        }
        Ok(())
    }

    fn forward(
        &self,
        ws: &mut Q8Workspace,
        input: Input<'_>,
        n: usize,
        output: Q8Output<'_>,
        step_ms: Option<&mut [f64]>,
    ) -> Result<()> {
        self.check_call(ws, &input, n, &output)?;
        // The pool serves one run at a time; a concurrent run goes inline on its thread.
        let team = self.pool.as_ref().and_then(Pool::team);
        self.layers(ws, input, n, output, step_ms, team.as_ref())
    }

    fn layers(
        &self,
        ws: &mut Q8Workspace,
        input: Input<'_>,
        n: usize,
        output: Q8Output<'_>,
        step_ms: Option<&mut [f64]>,
        team: Option<&Team<'_>>,
    ) -> Result<()> {
        let net = &self.q.network;
        let mut laps = Laps::start(step_ms);
        let Q8Workspace {
            a,
            b,
            scratch,
            sums,
            acc,
            ..
        } = ws;
        // A direct first layer reads the f32 input or the codes itself, a row at a time;
        // else the whole input is quantized (or copied) first.
        let direct = matches!(self.stages.first().map(|s| &s.op), Some(Op::Conv0(_)));
        let mut first = match input {
            Input::Nhwc(x) if direct => Some(Conv0Source::F32 {
                x,
                q: self.q.input,
                rounding: self.q.input_rounding,
            }),
            Input::Codes(Q8Input::U8(x)) if direct => Some(Conv0Source::U8(x)),
            Input::Codes(Q8Input::I8(x)) if direct => Some(Conv0Source::I8(x)),
            _ => None,
        };
        if first.is_none() {
            self.load(input, &mut a[..n * net.input_len()]);
        }
        let (mut src, mut dst) = (a, b);
        for s in &self.stages {
            self.stage(team, s, n, first.take(), src, dst, scratch)?;
            std::mem::swap(&mut src, &mut dst);
            laps.lap();
        }
        let (h, w, c) = net.features();
        let Some(pool) = &self.q.pool else {
            let last = self.q.layers.last().map_or(self.q.input, |l| l.output);
            write_codes(&src[..n * h * w * c], last, output, None);
            return Ok(());
        };
        q8_global_avg_pool_mode(
            src,
            n,
            h * w,
            c,
            pool.input.zero_point,
            pool.scale,
            pool.out,
            pool.mode,
            &mut dst[..n * c],
            sums,
        )?;
        let Some((packed, fc)) = self.fc.as_ref().zip(self.q.fc.as_ref()) else {
            let softmax_rows = net.head.softmax.then_some(c);
            write_codes(&dst[..n * c], pool.output, output, softmax_rows);
            laps.lap();
            return Ok(());
        };
        laps.lap();
        let acc = &mut acc[..n * packed.panels() * packed.kernel().nr];
        classifier(team, packed, &dst[..n * c + SLACK], n, acc)?;
        let nr = packed.kernel().nr;
        let acc_at = |i: usize, j: usize| acc[((j / nr) * n + i) * nr + j % nr];
        let classes = packed.n();
        if let Some((rs, oq)) = &self.fc_out {
            // Quantized logits: requantized as the file's runtime does, then returned as
            // codes or dequantized (as the reference).
            let full = OutQ::full(oq.zero_point);
            let code =
                |k: usize| requantize(acc_at(k / classes, k % classes), rs[k % classes], full);
            match output {
                Q8Output::U8(o) => o.iter_mut().enumerate().for_each(|(k, d)| *d = code(k)),
                Q8Output::I8(o) => o
                    .iter_mut()
                    .enumerate()
                    .for_each(|(k, d)| *d = (code(k) ^ 0x80) as i8),
                Q8Output::F32(o) => {
                    o.iter_mut()
                        .enumerate()
                        .for_each(|(k, d)| *d = oq.dequantize(code(k)));
                    if net.head.softmax {
                        o.chunks_exact_mut(classes).for_each(softmax);
                    }
                }
            }
            laps.lap();
            return Ok(());
        }
        let Q8Output::F32(out) = output else {
            return Err(Error::Config("the classifier's logits are f32".into()));
        };
        for (i, row) in out.chunks_exact_mut(classes).enumerate() {
            for (j, (o, s)) in row.iter_mut().zip(&fc.scale).enumerate() {
                *o = acc_at(i, j) as f32 * s;
            }
        }
        if net.head.softmax {
            out.chunks_exact_mut(classes).for_each(softmax);
        }
        laps.lap();
        Ok(())
    }
}

impl Q8Model {
    /// The input as u8 NHWC codes into `dst`.
    fn load(&self, input: Input<'_>, dst: &mut [u8]) {
        let q = self.q.input;
        match input {
            Input::Nhwc(x) => self.q.input_rounding.quantize_slice(q, x, dst),
            Input::Nchw(x) => {
                // Quantized straight into NHWC: the same codes as converting first.
                let net = &self.q.network;
                let (c, hw) = (net.in_c, net.in_h * net.in_w);
                for (image, out) in x.chunks_exact(c * hw).zip(dst.chunks_exact_mut(c * hw)) {
                    for (ch, plane) in image.chunks_exact(hw).enumerate() {
                        for (p, &v) in plane.iter().enumerate() {
                            out[p * c + ch] = self.q.input_rounding.quantize(q, v);
                        }
                    }
                }
            }
            Input::Codes(Q8Input::U8(x)) => dst.copy_from_slice(x),
            Input::Codes(Q8Input::I8(x)) => {
                for (d, &v) in dst.iter_mut().zip(x) {
                    *d = v as u8 ^ 0x80;
                }
            }
        }
    }

    /// One layer over `n` images of `src` (or of `input`, for a direct first layer) into
    /// `dst`, in tasks over the team.
    #[allow(clippy::too_many_arguments)]
    fn stage(
        &self,
        team: Option<&Team<'_>>,
        s: &Stage,
        n: usize,
        input: Option<Conv0Source<'_>>,
        src: &[u8],
        dst: &mut [u8],
        scratch: &mut [u8],
    ) -> Result<()> {
        let threads = team.map_or(1, Team::threads);
        let (h, w, c) = s.input;
        let (oh, ow, oc) = s.output;
        let in_len = h * w * c;
        let dst = &mut dst[..n * oh * ow * oc];
        let bands = split(threads, n * s.macs, oh);
        match &s.op {
            Op::Conv(op) => {
                let tasks = row_bands(dst, oh, ow * oc, bands);
                run_tasks(
                    team,
                    tasks,
                    scratch,
                    self.scratch,
                    |(b, rows, out), scratch| {
                        let image = &src[b * in_len..(b + 1) * in_len];
                        let pixels = rows.start * ow..rows.end * ow;
                        op.run_pixels(image, h, w, pixels, out, s.out, scratch)
                    },
                )
            }
            Op::Conv0(op) => {
                let input = input.unwrap_or(Conv0Source::U8(&src[..n * in_len]));
                let tasks = row_bands(dst, oh, ow * oc, bands);
                run_tasks(
                    team,
                    tasks,
                    scratch,
                    self.scratch,
                    |(b, rows, out), scratch| {
                        op.run_rows(input.image(b, in_len), h, w, rows, out, s.out, scratch)
                    },
                )
            }
            Op::Dw(packed, p) => {
                let tasks = row_bands(dst, oh, ow * oc, bands);
                run_tasks(team, tasks, &mut [0u8; 0], 0, |(b, rows, out), _| {
                    let image = &src[b * in_len..(b + 1) * in_len];
                    q8_depthwise3x3_rows(p, packed, image, rows, out, oc)
                })
            }
            Op::Pw(packed) => {
                // Bands of whole row tiles over all pixels of the batch.
                let m = n * h * w;
                let mr = packed.kernel().mr;
                let tiles = m.div_ceil(mr);
                let band = tiles.div_ceil(split(threads, n * s.macs, tiles)) * mr;
                let tasks = dst.chunks_mut(band * oc).enumerate();
                run_tasks(team, tasks, &mut [0u8; 0], 0, |(t, out), _| {
                    let rows = out.len() / oc;
                    let a = &src[t * band * c..(t * band + rows) * c + SLACK];
                    let out = Q8Out::U8 { c: out, out: s.out };
                    gemm(packed, a, rows, c, out, oc)
                })
            }
        }
    }
}

/// The classifier's i32 accumulators for `m` rows of `a` (`b.k()` bytes apart) into
/// `acc` laid out `[panel][row][nr]`, each task a range of panels (its weights), since the
/// rows are few.
fn classifier(
    team: Option<&Team<'_>>,
    b: &PackedQ8B,
    a: &[u8],
    m: usize,
    acc: &mut [i32],
) -> Result<()> {
    let threads = team.map_or(1, Team::threads);
    let kernel = b.kernel();
    let nr = kernel.nr;
    let panels = b.panels();
    let per_task = panels.div_ceil(threads).max(1);
    let tasks = acc.chunks_mut(per_task * m * nr).enumerate();
    run_tasks(team, tasks, &mut [0u8; 0], 0, |(t, chunk), _| {
        for (i, c) in chunk.chunks_mut(m * nr).enumerate() {
            let p = t * per_task + i;
            (kernel.run)(Q8GemmArgs {
                m,
                n: nr.min(b.n() - p * nr),
                k: b.k(),
                a,
                a_stride: b.k(),
                panel: b.panel(p),
                c: Q8Out::I32 { c },
                c_stride: nr,
            })?;
        }
        Ok(())
    })
}

/// Tasks to split a step of `macs` multiply-adds into, at most `units` (rows or tiles):
/// one per thread, four per thread on big steps (as the f32 runner: a descheduled
/// thread's share is taken over by the others), one on one thread (each band of a GEMM
/// streams all of its weights again).
fn split(threads: usize, macs: usize, units: usize) -> usize {
    if threads == 1 {
        return 1;
    }
    let per_thread = if macs >= BIG_STEP_MACS { 4 } else { 1 };
    (threads * per_thread).clamp(1, units.max(1))
}

/// The output tensor's codes (quantized as `q`) into `out`: copied, flipped to i8, or
/// dequantized, then with `softmax_rows` a softmax over each row of that many values.
fn write_codes(codes: &[u8], q: QParams, out: Q8Output<'_>, softmax_rows: Option<usize>) {
    match out {
        Q8Output::U8(o) => o.copy_from_slice(codes),
        Q8Output::I8(o) => {
            for (d, &v) in o.iter_mut().zip(codes) {
                *d = (v ^ 0x80) as i8;
            }
        }
        Q8Output::F32(o) => {
            for (d, &v) in o.iter_mut().zip(codes) {
                *d = q.dequantize(v);
            }
            if let Some(len) = softmax_rows {
                o.chunks_exact_mut(len.max(1)).for_each(softmax);
            }
        }
    }
}

/// The reference's softmax (`reference::softmax`), the same operations in the same order.
fn softmax(row: &mut [f32]) {
    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}
