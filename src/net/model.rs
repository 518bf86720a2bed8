//! The MobileNet V1 runner: weights folded and packed once by [`Model::build`], activations
//! in a caller-owned [`Workspace`], so [`Model::run`] allocates nothing and one model serves
//! many threads at once.

use super::buffer::AlignedBuf;
use super::config::{LayerKind, LayerSpec, MobileNetConfig};
use super::fold::fold_batch_norm;
use super::weights::MobileNetWeights;
use crate::activation::Clamp;
use crate::isa::Isa;
use crate::kernels::{kernel_set, KernelSet};
use crate::ops::depthwise::{depthwise3x3_rows, DepthwiseParams, PackedDepthwise};
use crate::ops::pointwise::{pointwise, PackedGemmB};
use crate::{Error, Result};
use rayon::prelude::*;
use std::time::Instant;

/// How a model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Threads per `run` call: 1 runs inline on the caller's thread; more use a private
    /// rayon pool of that size.
    pub threads: usize,
    /// Force an ISA (else `SEPCONV_ISA`, else the best detected).
    pub isa: Option<Isa>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: 1,
            isa: None,
        }
    }
}

/// Kind of a timed step of [`Model::run_profiled`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    Conv0,
    Depthwise,
    Pointwise,
    Pool,
    Fc,
}

impl StepKind {
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Conv0 => "conv0",
            StepKind::Depthwise => "dw",
            StepKind::Pointwise => "pw",
            StepKind::Pool => "pool",
            StepKind::Fc => "fc",
        }
    }
}

/// One timed step: a convolution, the pool, or the classifier (with softmax).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
    /// Multiply-adds per image.
    pub macs: usize,
}

struct Block {
    dw: PackedDepthwise,
    dw_params: DepthwiseParams,
    pw: PackedGemmB,
}

/// A built MobileNet V1: immutable, `Send + Sync`.
pub struct Model {
    config: MobileNetConfig,
    kernels: &'static KernelSet,
    specs: Vec<LayerSpec>,
    clamp: Clamp,
    conv0: PackedGemmB,
    blocks: Vec<Block>,
    fc: PackedGemmB,
    pool: Option<rayon::ThreadPool>,
    threads: usize,
    /// Largest activation of one image, in floats.
    max_activation: usize,
}

/// Per-call scratch for one batch size: activation ping-pong buffers and the first
/// layer's patch matrix. One per thread that calls `run`.
pub struct Workspace {
    batch: usize,
    ping: AlignedBuf,
    pong: AlignedBuf,
    patches: AlignedBuf,
    nhwc: AlignedBuf,
    pooled: AlignedBuf,
}

impl Workspace {
    /// The largest batch this workspace can run.
    pub fn batch(&self) -> usize {
        self.batch
    }
}

const CONV0_K: usize = 27;
/// Output rows of conv0 per im2col + GEMM step: 4 x 112 x 27 floats = 48 KiB of patches.
const CONV0_ROWS_PER_STEP: usize = 4;

impl Model {
    /// Folds BatchNorm, packs every weight for the selected ISA, and plans the buffers.
    /// Everything is checked first: a bad config or weight returns an error naming it.
    pub fn build(
        config: &MobileNetConfig,
        weights: &MobileNetWeights,
        options: Options,
    ) -> Result<Model> {
        config.validate()?;
        weights.validate(config)?;
        if options.threads == 0 || options.threads > 256 {
            return Err(Error::Config(format!(
                "threads must be in 1..=256, got {}",
                options.threads
            )));
        }
        let kernels = kernel_set(Isa::resolve(options.isa)?)?;
        let specs = config.layers()?;
        let clamp = config.activation.clamp();

        let (w0, b0) = fold_batch_norm(&weights.conv0);
        let conv0 = PackedGemmB::new(kernels, CONV0_K, specs[0].out_c, &w0, &b0)?;
        let mut blocks = Vec::with_capacity(13);
        for (pair, bw) in specs[1..].chunks(2).zip(&weights.blocks) {
            let (dw_spec, pw_spec) = (&pair[0], &pair[1]);
            let (dw_w, dw_b) = fold_batch_norm(&bw.dw);
            let (pw_w, pw_b) = fold_batch_norm(&bw.pw);
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
            blocks.push(Block {
                dw: PackedDepthwise::new(kernels, dw_spec.in_c, &dw_w, &dw_b)?,
                dw_params,
                pw: PackedGemmB::new(kernels, pw_spec.in_c, pw_spec.out_c, &pw_w, &pw_b)?,
            });
        }
        let fc = PackedGemmB::new(
            kernels,
            config.feature_channels(),
            config.classes,
            &weights.fc_weights,
            &weights.fc_bias,
        )?;
        let max_activation = specs
            .iter()
            .map(|s| s.out_h * s.out_w * s.out_c)
            .max()
            .unwrap_or(0);
        let pool = if options.threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(options.threads)
                    .thread_name(|i| format!("sepconv-{i}"))
                    .build()
                    .map_err(|e| Error::Config(format!("cannot start threads: {e}")))?,
            )
        } else {
            None
        };
        Ok(Model {
            config: *config,
            kernels,
            specs,
            clamp,
            conv0,
            blocks,
            fc,
            pool,
            threads: options.threads,
            max_activation,
        })
    }

    pub fn config(&self) -> &MobileNetConfig {
        &self.config
    }

    /// The ISA whose kernels this model runs.
    pub fn isa(&self) -> Isa {
        self.kernels.isa
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Floats per input image (NHWC or NCHW): resolution^2 x 3.
    pub fn input_len(&self) -> usize {
        self.config.resolution * self.config.resolution * 3
    }

    /// Floats per output image: the classes.
    pub fn output_len(&self) -> usize {
        self.config.classes
    }

    /// The timed steps of [`Model::run_profiled`], in order.
    pub fn steps(&self) -> Vec<Step> {
        let kind = |k| match k {
            LayerKind::Conv0 => StepKind::Conv0,
            LayerKind::Depthwise => StepKind::Depthwise,
            LayerKind::Pointwise => StepKind::Pointwise,
        };
        let last = &self.specs[self.specs.len() - 1];
        let mut steps: Vec<Step> = self
            .specs
            .iter()
            .map(|s| Step {
                name: s.name.clone(),
                kind: kind(s.kind),
                macs: s.macs(),
            })
            .collect();
        steps.push(Step {
            name: "pool".into(),
            kind: StepKind::Pool,
            macs: last.out_h * last.out_w * last.out_c,
        });
        steps.push(Step {
            name: "fc".into(),
            kind: StepKind::Fc,
            macs: self.config.feature_channels() * self.config.classes,
        });
        steps
    }

    /// Scratch for batches of up to `batch` images (allocates; do it once per thread).
    pub fn workspace(&self, batch: usize) -> Result<Workspace> {
        if batch == 0 {
            return Err(Error::Shape("workspace batch must be at least 1".into()));
        }
        let too_big = || Error::Shape(format!("batch {batch} is too large for memory"));
        let act = self.max_activation.checked_mul(batch).ok_or_else(too_big)?;
        let s0 = &self.specs[0];
        let patches = (s0.out_h * s0.out_w * CONV0_K)
            .checked_mul(batch)
            .ok_or_else(too_big)?;
        Ok(Workspace {
            batch,
            ping: AlignedBuf::zeroed(act),
            pong: AlignedBuf::zeroed(act),
            patches: AlignedBuf::zeroed(patches),
            nhwc: AlignedBuf::zeroed(self.input_len() * batch),
            pooled: AlignedBuf::zeroed(self.config.feature_channels() * batch),
        })
    }

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
        if step_ms.len() != self.specs.len() + 2 {
            return Err(Error::Shape(format!(
                "step_ms needs {} slots, got {}",
                self.specs.len() + 2,
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
        if batch == 0 || batch > ws.batch {
            return Err(Error::Shape(format!(
                "batch {batch} must be in 1..={} (the workspace's batch)",
                ws.batch
            )));
        }
        let s0 = &self.specs[0];
        if ws.ping.len() < self.max_activation * batch
            || ws.patches.len() < s0.out_h * s0.out_w * CONV0_K * batch
            || ws.nhwc.len() < self.input_len() * batch
            || ws.pooled.len() < self.config.feature_channels() * batch
        {
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
        // One hand-off to the pool per run (not per layer): the layers' parallel loops then
        // split work among the pool's threads by work stealing.
        match &self.pool {
            Some(pool) => pool.install(|| self.layers(ws, input, batch, output, step_ms)),
            None => self.layers(ws, input, batch, output, step_ms),
        }
    }

    fn layers(
        &self,
        ws: &mut Workspace,
        input: Input<'_>,
        batch: usize,
        output: &mut [f32],
        mut step_ms: Option<&mut [f64]>,
    ) -> Result<()> {
        let Workspace {
            ping,
            pong,
            patches,
            nhwc,
            pooled,
            ..
        } = ws;
        let (ping, pong, patches, nhwc, pooled) = (
            ping.as_mut_slice(),
            pong.as_mut_slice(),
            patches.as_mut_slice(),
            nhwc.as_mut_slice(),
            pooled.as_mut_slice(),
        );
        let image: &[f32] = match input {
            Input::Nhwc(x) => x,
            Input::Nchw(x) => {
                let r = self.config.resolution;
                let nhwc = &mut nhwc[..x.len()];
                crate::tensor::nchw_to_nhwc(x, nhwc, 3, r * r);
                nhwc
            }
        };

        let mut clock = Instant::now();
        let mut lap = |i: usize| {
            if let Some(ms) = step_ms.as_deref_mut() {
                let now = Instant::now();
                ms[i] = (now - clock).as_secs_f64() * 1e3;
                clock = now;
            }
        };

        // conv0: patches (im2col, K = 27) then the GEMM, a few output rows at a time so
        // the patches are still in L1/L2 when the GEMM reads them.
        let s0 = &self.specs[0];
        let rows = s0.out_h * batch;
        let (patch_row, out_row) = (s0.out_w * CONV0_K, s0.out_w * s0.out_c);
        let conv0_band = |first: usize, patches: &mut [f32], out: &mut [f32]| -> Result<()> {
            let step = CONV0_ROWS_PER_STEP;
            for (i, (p, o)) in patches
                .chunks_mut(step * patch_row)
                .zip(out.chunks_mut(step * out_row))
                .enumerate()
            {
                im2col_rows(s0, image, first + i * step, p);
                let m = o.len() / s0.out_c;
                pointwise(&self.conv0, m, p, CONV0_K, o, s0.out_c, self.clamp)?;
            }
            Ok(())
        };
        let (patches, out) = (
            &mut patches[..rows * patch_row],
            &mut ping[..rows * out_row],
        );
        let tasks = self.tasks(rows);
        if tasks <= 1 {
            conv0_band(0, patches, out)?;
        } else {
            let band = rows.div_ceil(tasks);
            patches
                .par_chunks_mut(band * patch_row)
                .zip(out.par_chunks_mut(band * out_row))
                .enumerate()
                .map(|(t, (p, o))| conv0_band(t * band, p, o))
                .collect::<Result<()>>()?;
        }
        lap(0);

        let (mut cur, mut next) = (ping, pong);
        for (i, block) in self.blocks.iter().enumerate() {
            let dw_spec = &self.specs[1 + 2 * i];
            let p = &block.dw_params;
            let (in_len, out_len) = (
                p.in_h * p.in_w * p.channels,
                dw_spec.out_h * dw_spec.out_w * p.channels,
            );
            let row_len = dw_spec.out_w * p.channels;
            let src = &cur[..in_len * batch];
            let dst = &mut next[..out_len * batch];
            let out_h = dw_spec.out_h;
            let mut status = Ok(());
            self.par_rows_err(dst, row_len, out_h, &mut status, |b, rows, band| {
                depthwise3x3_rows(p, &block.dw, &src[b * in_len..(b + 1) * in_len], rows, band)
            });
            status?;
            lap(1 + 2 * i);
            std::mem::swap(&mut cur, &mut next);

            let m = dw_spec.out_h * dw_spec.out_w * batch;
            let pw_out = block.pw.n();
            self.gemm(
                &block.pw,
                m,
                &cur[..m * p.channels],
                &mut next[..m * pw_out],
            )?;
            lap(2 + 2 * i);
            std::mem::swap(&mut cur, &mut next);
        }

        // Global average pool.
        let last = &self.specs[self.specs.len() - 1];
        let (hw, c) = (last.out_h * last.out_w, last.out_c);
        let pooled = &mut pooled[..batch * c];
        for (b, out) in pooled.chunks_exact_mut(c).enumerate() {
            out.fill(0.0);
            for px in cur[b * hw * c..(b + 1) * hw * c].chunks_exact(c) {
                for (o, v) in out.iter_mut().zip(px) {
                    *o += v;
                }
            }
            let inv = 1.0 / hw as f32;
            out.iter_mut().for_each(|o| *o *= inv);
        }
        lap(self.specs.len());

        pointwise(
            &self.fc,
            batch,
            pooled,
            c,
            output,
            self.config.classes,
            Clamp::NONE,
        )?;
        if self.config.softmax {
            for row in output.chunks_exact_mut(self.config.classes) {
                softmax_in_place(row);
            }
        }
        lap(self.specs.len() + 1);
        Ok(())
    }

    /// C = clamp(A B + bias) over `m` rows, split over the pool's threads.
    fn gemm(&self, b: &PackedGemmB, m: usize, a: &[f32], c: &mut [f32]) -> Result<()> {
        let (k, n) = (b.k(), b.n());
        let tasks = self.tasks(m);
        if tasks <= 1 {
            return pointwise(b, m, a, k, c, n, self.clamp);
        }
        // Bands of whole MR-row tiles.
        let mr = self.kernels.gemm.mr;
        let band = m.div_ceil(tasks).div_ceil(mr) * mr;
        c.par_chunks_mut(band * n)
            .enumerate()
            .map(|(t, cb)| {
                let rows = cb.len() / n;
                pointwise(
                    b,
                    rows,
                    &a[t * band * k..(t * band + rows) * k],
                    k,
                    cb,
                    n,
                    self.clamp,
                )
            })
            .collect::<Result<()>>()
    }

    /// How many tasks to split `rows` rows of work into (run inside the pool when > 1).
    fn tasks(&self, rows: usize) -> usize {
        if self.pool.is_none() {
            1
        } else {
            self.threads.min(rows)
        }
    }

    /// Calls `f(image, rows, band)` over bands of output rows of each image of `out`
    /// (images of `out_h` rows of `row_len` floats); the first error lands in `status`.
    fn par_rows_err(
        &self,
        out: &mut [f32],
        row_len: usize,
        out_h: usize,
        status: &mut Result<()>,
        f: impl Fn(usize, std::ops::Range<usize>, &mut [f32]) -> Result<()> + Sync,
    ) {
        let image_len = out_h * row_len;
        let tasks = self.tasks(out_h);
        if tasks <= 1 {
            for (b, img) in out.chunks_exact_mut(image_len).enumerate() {
                if let Err(e) = f(b, 0..out_h, img) {
                    *status = Err(e);
                    return;
                }
            }
            return;
        }
        let band = out_h.div_ceil(tasks);
        *status = out
            .par_chunks_mut(image_len)
            .enumerate()
            .map(|(b, img)| {
                img.par_chunks_mut(band * row_len)
                    .enumerate()
                    .map(|(t, chunk)| {
                        let r0 = t * band;
                        f(b, r0..r0 + chunk.len() / row_len, chunk)
                    })
                    .collect::<Result<()>>()
            })
            .collect::<Result<()>>();
    }
}

enum Input<'a> {
    Nhwc(&'a [f32]),
    Nchw(&'a [f32]),
}

/// Rows of the first layer's patch matrix: for output pixel (y, x) of image b, the 27
/// values (ky, kx, c) of its 3x3x3 window, zero where the window covers padding. The
/// order matches OHWI weights, so the GEMM's B is the weights as they are. `band` starts at
/// output row `first_row` (counted over the batch) and holds whole output rows.
fn im2col_rows(spec: &LayerSpec, input: &[f32], first_row: usize, band: &mut [f32]) {
    let (ih, iw) = (spec.in_h as isize, spec.in_w as isize);
    let image_len = spec.in_h * spec.in_w * 3;
    for (r, row) in band.chunks_exact_mut(spec.out_w * CONV0_K).enumerate() {
        let (b, oy) = ((first_row + r) / spec.out_h, (first_row + r) % spec.out_h);
        let image = &input[b * image_len..(b + 1) * image_len];
        for (ox, patch) in row.chunks_exact_mut(CONV0_K).enumerate() {
            let x0 = (ox * spec.stride) as isize - spec.padding.left as isize;
            for (ky, taps) in patch.chunks_exact_mut(9).enumerate() {
                let iy = (oy * spec.stride + ky) as isize - spec.padding.top as isize;
                if iy < 0 || iy >= ih {
                    taps.fill(0.0);
                } else if x0 >= 0 && x0 + 3 <= iw {
                    // The three pixels of this window row are 9 contiguous floats.
                    let at = ((iy * iw + x0) * 3) as usize;
                    // Fixed-size copy: inlined moves instead of a memcpy call per window.
                    let src: &[f32; 9] = image[at..at + 9].try_into().expect("9 floats");
                    taps.copy_from_slice(src);
                } else {
                    for (kx, px) in taps.chunks_exact_mut(3).enumerate() {
                        let ix = x0 + kx as isize;
                        if ix < 0 || ix >= iw {
                            px.fill(0.0);
                        } else {
                            let at = ((iy * iw + ix) * 3) as usize;
                            px.copy_from_slice(&image[at..at + 3]);
                        }
                    }
                }
            }
        }
    }
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
