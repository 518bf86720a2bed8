//! The MobileNet V1 runner: weights folded and packed once by [`Model::build`], activations
//! in a caller-owned [`Workspace`], so [`Model::run`] allocates nothing and one model serves
//! many threads at once.

use super::buffer::{odd_lines_from, place, PLACE_SLACK};
use super::config::{LayerKind, LayerSpec, MobileNetConfig};
use super::deep::DeepPlan;
use super::fold::fold_batch_norm;
use super::pool::{spin_lock, Pool, Team};
use super::weights::MobileNetWeights;
use crate::activation::Clamp;
use crate::kernels::cpu::{Cpu, Isa};
use crate::kernels::mat::MatMut;
use crate::kernels::{kernel_set, KernelSet};
use crate::memory::{gather, split_parts, PageBuf};
use crate::ops::conv0::{conv0_rows, Conv0Params, PackedConv0};
use crate::ops::depthwise::{depthwise3x3_rows_strided, DepthwiseParams, DwOrder, PackedDepthwise};
use crate::ops::pointwise::{pointwise, pointwise_cols, PackedGemmB};
use crate::{Error, Result};
use std::ops::Range;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// How a model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Threads per `run` call: 1 runs inline on the caller's thread; more use a private
    /// pool of that many threads, the caller included.
    pub threads: usize,
    /// Force a base ISA and features (e.g. `"avx512,-vnni".parse()` or
    /// `Cpu::with_isa(Isa::Avx2)`); else `SEPCONV_ISA`, else all this CPU has.
    pub cpu: Option<Cpu>,
    /// Which depthwise layers run fused with the pointwise layer after them.
    pub fuse: Fuse,
    /// How many leading blocks run depth-first with conv0 (see [`DEPTH_FIRST_MIN_BYTES`]);
    /// `None` picks: with [`Fuse::Auto`], the leading blocks whose input activation is at
    /// least `DEPTH_FIRST_MIN_BYTES`; with `Never` or `Always`, none.
    pub depth_first: Option<usize>,
}

/// Automatic depth-first execution covers the leading blocks whose input activation (one
/// image) is at least this big: those whose layers, run one after the other, would write
/// and read back activations that do not fit in L2. Measured on a virtualized 2-core Xeon
/// (Sapphire/Emerald Rapids), 1.0-224 (inputs 1.6, 3.2, 1.6, 1.6, then 0.8 MB: 4 blocks),
/// lowest of 3-5 alternating rounds of `bench --layers`: conv0 to pw4 3.32 -> 2.68 ms at
/// 1 thread, 1.65 -> 1.60 ms at 2; stopping after 3 blocks or going on to 5 was slower
/// at 1 thread. 0.5-160 and 0.25-128 (at most 0.8 MB) were no faster depth-first.
pub const DEPTH_FIRST_MIN_BYTES: usize = 1 << 20;

/// Depthwise -> pointwise fusion: a band of depthwise output rows goes from the cache
/// straight into the GEMM instead of through a whole activation. Results are identical
/// either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fuse {
    /// On more than one thread, fuse every block of at least 64 output pixels and split
    /// the pointwise layer of smaller ones by columns; on one thread fuse none. Where it
    /// was measured faster (2-core Zen 4: at 2 threads fusing saves one hand-off per block
    /// and keeps each thread's rows in its own cache, 10-20% end to end, but 7 rows do not
    /// split evenly over 2 threads, while columns do; at 1 thread the unfused layers run
    /// from L2/L3 as fast or 2-4% faster).
    #[default]
    Auto,
    /// Run every layer whole (for comparison); small blocks still split by columns. No
    /// automatic depth-first execution either (an explicit `Options::depth_first` still
    /// applies).
    Never,
    /// Fuse every block (for tests); no automatic depth-first execution.
    Always,
}

impl Fuse {
    pub fn name(self) -> &'static str {
        match self {
            Fuse::Auto => "auto",
            Fuse::Never => "never",
            Fuse::Always => "always",
        }
    }
}

impl std::str::FromStr for Fuse {
    type Err = Error;
    fn from_str(s: &str) -> Result<Fuse> {
        match s {
            "auto" => Ok(Fuse::Auto),
            "never" => Ok(Fuse::Never),
            "always" => Ok(Fuse::Always),
            _ => Err(Error::Config(format!(
                "fusion must be auto, never or always, got {s:?}"
            ))),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: 1,
            cpu: None,
            fuse: Fuse::Auto,
            depth_first: None,
        }
    }
}

/// Target size of one fused band of depthwise output (whole rows, at least one): it stays
/// in L1/L2 while the GEMM reads it once per B panel.
const FUSE_BAND_BYTES: usize = 48 << 10;
/// Fewest GEMM rows per fused band: each band streams the whole B once.
const FUSE_MIN_ROWS: usize = 48;
/// At > 1 thread, blocks of fewer output pixels per image (7x7, 5x5, 4x4) run unfused with
/// the pointwise layer split by columns. Measured on a 2-core Zen 4 (best of 5 rounds at
/// 2 threads): 0.5-160 0.828 ms with every block fused, 0.787 with this threshold, 0.807
/// with 128 (10x10 split by columns too); 0.25-128 0.178 / 0.175 / 0.190.
const COLUMNS_BELOW_PIXELS: usize = 64;

/// Kind of a timed step of [`Model::run_profiled`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    Conv0,
    Depthwise,
    Pointwise,
    Pool,
    Fc,
    /// A depthwise layer and the pointwise layer after it, fused.
    Fused,
    /// conv0 and the first blocks, run depth-first as one pipeline.
    DepthFirst,
}

impl StepKind {
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Conv0 => "conv0",
            StepKind::Depthwise => "dw",
            StepKind::Pointwise => "pw",
            StepKind::Pool => "pool",
            StepKind::Fc => "fc",
            StepKind::Fused => "dw+pw",
            StepKind::DepthFirst => "deep",
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

pub(super) struct Block {
    pub(super) dw: PackedDepthwise,
    pub(super) dw_params: DepthwiseParams,
    pub(super) pw: PackedGemmB,
    /// Fused bands per image, or `None` to run the two layers one after the other.
    fused_bands: Option<usize>,
    /// Unfused at > 1 thread: split the pointwise layer by columns (each thread reads all
    /// of A and its share of B) rather than by rows.
    by_columns: bool,
}

/// A built MobileNet V1: immutable, `Send + Sync`.
pub struct Model {
    config: MobileNetConfig,
    kernels: &'static KernelSet,
    pub(super) specs: Vec<LayerSpec>,
    pub(super) clamp: Clamp,
    pub(super) conv0: PackedConv0,
    /// conv0's shape at batch 1 (the batch is set per run).
    pub(super) conv0_params: Conv0Params,
    pub(super) blocks: Vec<Block>,
    /// The first blocks run depth-first with conv0 (see `deep`).
    deep: Option<DeepPlan>,
    fc: PackedGemmB,
    pool: Option<Pool>,
    threads: usize,
    /// Largest activation of one image, in floats.
    max_activation: usize,
    /// Floats of one thread's fused-band scratch.
    band_len: usize,
}

/// Per-call scratch for one batch size: activation ping-pong buffers, fused bands and
/// depth-first windows per thread. One per thread that calls `run`.
pub struct Workspace {
    batch: usize,
    /// Every buffer below, in one page-aligned allocation (huge pages where it is large).
    mem: PageBuf,
    /// Ranges of `mem`, in this order: ping, pong (activations, each layer reads one and
    /// writes the other), nhwc (an NCHW input's NHWC copy), pooled, bands (one fused
    /// band of depthwise output per thread), deep (one depth-first pipeline's windows
    /// per thread).
    parts: [Range<usize>; 6],
}

impl Workspace {
    /// The largest batch this workspace can run.
    pub fn batch(&self) -> usize {
        self.batch
    }
}

/// Output rows of conv0 per task (and per depth-first step): enough work per task to
/// amortize taking it, small enough to split 112 rows evenly over threads.
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
        let kernels = kernel_set(Cpu::resolve(options.cpu)?)?;
        let specs = config.layers()?;
        let clamp = config.activation.clamp();

        let (w0, b0) = fold_batch_norm(&weights.conv0);
        let s0 = &specs[0];
        let mut conv0 = PackedConv0::new(kernels, s0.out_c, &w0, &b0)?;
        let conv0_params = Conv0Params {
            batch: 1,
            in_h: s0.in_h,
            in_w: s0.in_w,
            out_c: s0.out_c,
            padding: s0.padding,
            clamp,
        };
        conv0_params.validate()?;
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
            blocks.push(Block {
                dw: PackedDepthwise::new(kernels, dw_spec.in_c, &dw_w, &dw_b)?,
                dw_params,
                pw: PackedGemmB::new(kernels, pw_spec.in_c, pw_spec.out_c, &pw_w, &pw_b)?,
                fused_bands,
                by_columns,
            });
        }
        let mut fc = PackedGemmB::new(
            kernels,
            config.feature_channels(),
            config.classes,
            &weights.fc_weights,
            &weights.fc_bias,
        )?;
        // All weights in one buffer on huge pages: the pointwise layers and the classifier
        // first, in the order they run, so that the next-panel prefetch of each layer's
        // last panel (`gemm::call_asm`) runs on into the next layer's first panel, which
        // would otherwise start cold from L3; then conv0 and the depthwise weights.
        {
            let (mut parts, mut rest) = (Vec::new(), vec![conv0.packed_mut()]);
            for b in blocks.iter_mut() {
                parts.push(b.pw.packed_mut());
                rest.push(b.dw.packed_mut());
            }
            parts.push(fc.packed_mut());
            parts.append(&mut rest);
            gather(&mut parts).ok_or_else(|| {
                Error::Shape("the model's packed weights do not fit in memory".into())
            })?;
        }
        // Depthwise outputs are GEMM rows at their pointwise layer's A stride.
        let dw_outputs = blocks
            .iter()
            .zip(specs[1..].chunks(2))
            .map(|(b, pair)| pair[0].out_h * pair[0].out_w * b.pw.a_stride());
        let max_activation = specs
            .iter()
            .map(|s| s.out_h * s.out_w * s.out_c)
            .chain(dw_outputs)
            .max()
            .unwrap_or(0);
        let band_len = blocks
            .iter()
            .zip(specs[1..].chunks(2))
            .filter_map(|(b, pair)| {
                let (h, w, lda) = (pair[0].out_h, pair[0].out_w, b.pw.a_stride());
                b.fused_bands.map(|n| h.div_ceil(n) * w * lda + PLACE_SLACK)
            })
            .max()
            .unwrap_or(0);
        let pool = if options.threads > 1 {
            Some(
                Pool::new(options.threads)
                    .map_err(|e| Error::Config(format!("cannot start threads: {e}")))?,
            )
        } else {
            None
        };
        let mut model = Model {
            config: *config,
            kernels,
            specs,
            clamp,
            conv0,
            conv0_params,
            blocks,
            fc,
            pool,
            threads: options.threads,
            max_activation,
            band_len,
            deep: None,
        };
        let deep = match (options.depth_first, options.fuse) {
            (Some(n), _) => n,
            (None, Fuse::Auto) => model
                .specs
                .iter()
                .step_by(2)
                .take(model.blocks.len())
                .take_while(|s| 4 * s.out_h * s.out_w * s.out_c >= DEPTH_FIRST_MIN_BYTES)
                .count(),
            (None, _) => 0,
        };
        if deep > model.blocks.len() {
            return Err(Error::Config(format!(
                "depth-first blocks must be at most {}, got {deep}",
                model.blocks.len()
            )));
        }
        if deep > 0 {
            model.deep = Some(DeepPlan::new(&model, deep, |j| {
                if j == 0 {
                    return CONV0_ROWS_PER_STEP;
                }
                let dw = &model.specs[2 * j - 1];
                fuse_band_limit(dw.out_w, dw.out_c)
            }));
        }
        Ok(model)
    }

    pub fn config(&self) -> &MobileNetConfig {
        &self.config
    }

    /// The base ISA whose kernels this model runs.
    pub fn isa(&self) -> Isa {
        self.kernels.cpu.isa
    }

    /// The base ISA and features its kernels were picked for.
    pub fn cpu(&self) -> Cpu {
        self.kernels.cpu
    }

    /// The kernels it runs.
    pub fn kernels(&self) -> &'static KernelSet {
        self.kernels
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

    /// The timed steps of [`Model::run_profiled`], in order: conv0, each block's depthwise
    /// and pointwise layer (one step when fused), the pool, the classifier.
    pub fn steps(&self) -> Vec<Step> {
        let step = |s: &LayerSpec| Step {
            name: s.name.clone(),
            kind: match s.kind {
                LayerKind::Conv0 => StepKind::Conv0,
                LayerKind::Depthwise => StepKind::Depthwise,
                LayerKind::Pointwise => StepKind::Pointwise,
            },
            macs: s.macs(),
        };
        let deep = self.depth_first_blocks();
        let mut steps = vec![if deep > 0 {
            Step {
                name: format!("conv0..{}", self.specs[2 * deep].name),
                kind: StepKind::DepthFirst,
                macs: self.specs[..=2 * deep].iter().map(LayerSpec::macs).sum(),
            }
        } else {
            step(&self.specs[0])
        }];
        let pairs = self.specs[1..].chunks(2);
        for (block, pair) in self.blocks.iter().zip(pairs).skip(deep) {
            if block.fused_bands.is_some() {
                steps.push(Step {
                    name: format!("{}+{}", pair[0].name, pair[1].name),
                    kind: StepKind::Fused,
                    macs: pair[0].macs() + pair[1].macs(),
                });
            } else {
                steps.extend(pair.iter().map(step));
            }
        }
        let last = &self.specs[self.specs.len() - 1];
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

    /// Floats of one thread's depth-first scratch.
    fn deep_len(&self) -> usize {
        self.deep.as_ref().map_or(0, |d| d.scratch_len)
    }

    /// Leading blocks that run depth-first with conv0.
    pub fn depth_first_blocks(&self) -> usize {
        self.deep.as_ref().map_or(0, |d| d.blocks)
    }

    /// `self.steps().len()`, without allocating.
    fn step_count(&self) -> usize {
        let deep = self.depth_first_blocks();
        let fused = self.blocks[deep..]
            .iter()
            .filter(|b| b.fused_bands.is_some())
            .count();
        self.specs.len() + 2 - fused - 2 * deep
    }

    /// Scratch for batches of up to `batch` images (allocates; do it once per thread).
    pub fn workspace(&self, batch: usize) -> Result<Workspace> {
        if batch == 0 {
            return Err(Error::Shape("workspace batch must be at least 1".into()));
        }
        let too_big = || Error::Shape(format!("batch {batch} is too large for memory"));
        let act = self.max_activation.checked_mul(batch).ok_or_else(too_big)?;
        // Layers read one buffer and write the other: an odd number of cache lines apart
        // either way (33 lines, and 31 back), see `buffer`. conv0 reads the NHWC copy of
        // an NCHW input into ping: 17 lines apart.
        let sizes = [
            self.input_len().checked_mul(batch),
            self.fc.a_stride().checked_mul(batch),
            self.band_len.checked_mul(self.threads),
            self.deep_len().checked_mul(self.threads),
        ];
        let [Some(nhwc), Some(pooled), Some(bands), Some(deep)] = sizes else {
            return Err(too_big());
        };
        let (parts, len) = place([
            (act, 0),
            (act, 2112),
            (nhwc, 1088),
            (pooled, 0),
            (bands, 0),
            (deep, 0),
        ])
        .ok_or_else(too_big)?;
        Ok(Workspace {
            batch,
            mem: PageBuf::zeroed(len).ok_or_else(too_big)?,
            parts,
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
        if batch == 0 || batch > ws.batch {
            return Err(Error::Shape(format!(
                "batch {batch} must be in 1..={} (the workspace's batch)",
                ws.batch
            )));
        }
        let [ping, _, nhwc, pooled, bands, deep] = ws.parts.each_ref().map(|r| r.len());
        if ping < self.max_activation * batch
            || nhwc < self.input_len() * batch
            || pooled < self.fc.a_stride() * batch
            || bands < self.band_len * self.threads
            || deep < self.deep_len() * self.threads
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
        mut step_ms: Option<&mut [f64]>,
        team: Option<&Team<'_>>,
    ) -> Result<()> {
        let [ping, pong, nhwc, pooled, bands, deep] = split_parts(ws.mem.as_mut_slice(), &ws.parts);
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

        let mut clock = Instant::now();
        let mut step = 0;
        let mut lap = || {
            if let Some(ms) = step_ms.as_deref_mut() {
                let now = Instant::now();
                ms[step] = (now - clock).as_secs_f64() * 1e3;
                clock = now;
            }
            step += 1;
        };

        if let Some(plan) = &self.deep {
            // conv0 and the first blocks depth-first: each thread a share of the rows of
            // each image's output of the last block in the pipeline.
            let (out_h, row_len) = (plan.out_h(), plan.row_len());
            let in_len = self.input_len();
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
                    self.deep_rows(plan, image, rows, out, scratch)
                },
            )?;
            lap();
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
            lap();
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
                        let a = odd_lines_from(image.as_ptr(), scratch, rows.len() * row_len);
                        let m = rows.len() * dw_spec.out_w;
                        depthwise3x3_rows_strided(
                            p,
                            &block.dw,
                            DwOrder::Auto,
                            image,
                            rows,
                            a,
                            lda,
                        )?;
                        pointwise(&block.pw, m, a, lda, out, n, self.clamp)
                    },
                )?;
                lap();
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
            lap();
            std::mem::swap(&mut cur, &mut next);

            let m = out_h * dw_spec.out_w * batch;
            let (a, c) = (&cur[..m * lda], &mut next[..m * n]);
            if block.by_columns {
                gemm_columns(team, &block.pw, m, a, lda, c, self.clamp)?;
            } else {
                self.gemm(team, &block.pw, m, a, lda, c)?;
            }
            lap();
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
        lap();

        // A few rows: split the classifier's columns (its weights) over the threads.
        gemm_columns(team, &self.fc, batch, pooled, lda, output, Clamp::NONE)?;
        if self.config.softmax {
            for row in output.chunks_exact_mut(self.config.classes) {
                softmax_in_place(row);
            }
        }
        lap();
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
    /// weights, read from L3) took 0.46 and 1.04 ms in 4 bands against 0.35 and 0.71 in one.
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

/// Steps of at least this many multiply-adds are split into several tasks per thread.
const BIG_STEP_MACS: usize = 4 << 20;

/// `(image, output rows, their slice)` for `bands` bands of rows of each image of `out`
/// (images of `out_h` rows of `row_len` floats; 1 <= `bands` <= `out_h`).
fn row_bands(
    out: &mut [f32],
    out_h: usize,
    row_len: usize,
    bands: usize,
) -> impl DoubleEndedIterator<Item = (usize, std::ops::Range<usize>, &mut [f32])> + Send {
    out.chunks_mut(out_h * row_len)
        .enumerate()
        .flat_map(move |(b, image)| {
            RowBands {
                rest: image,
                rows: 0..out_h,
                bands: 0..bands,
                row_len,
                total: (out_h, bands),
            }
            .map(move |(rows, slice)| (b, rows, slice))
        })
}

/// Most rows of a depthwise output band fed to its pointwise GEMM (fused blocks and
/// depth-first stages): few enough rows of `out_w` x `channels` floats to stay within
/// FUSE_BAND_BYTES of cache, but at least FUSE_MIN_ROWS GEMM rows so each B panel is
/// reused over them, and at least one.
fn fuse_band_limit(out_w: usize, channels: usize) -> usize {
    (FUSE_BAND_BYTES / (4 * out_w * channels))
        .max(FUSE_MIN_ROWS.div_ceil(out_w))
        .max(1)
}

/// Rows of band `t` of `bands` over `rows` rows: sizes differ by at most one, and the
/// longer bands sit at both ends (band 0, the last, band 1, ...), so that with two
/// threads taking bands from opposite ends each gets the same number of rows.
fn band_rows(rows: usize, bands: usize, t: usize) -> usize {
    let extra = rows % bands;
    let rank = if 2 * t < bands {
        2 * t
    } else {
        2 * (bands - 1 - t) + 1
    };
    rows / bands + usize::from(rank < extra)
}

/// Iterator behind [`row_bands`] for one image, from either end.
struct RowBands<'a> {
    /// The rows not handed out yet.
    rest: &'a mut [f32],
    rows: std::ops::Range<usize>,
    bands: std::ops::Range<usize>,
    row_len: usize,
    /// Rows and bands of the whole image.
    total: (usize, usize),
}

impl<'a> Iterator for RowBands<'a> {
    type Item = (std::ops::Range<usize>, &'a mut [f32]);

    fn next(&mut self) -> Option<Self::Item> {
        let t = self.bands.next()?;
        let n = band_rows(self.total.0, self.total.1, t);
        let (head, tail) = std::mem::take(&mut self.rest).split_at_mut(n * self.row_len);
        self.rest = tail;
        let r0 = self.rows.start;
        self.rows.start += n;
        Some((r0..r0 + n, head))
    }
}

impl DoubleEndedIterator for RowBands<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let t = self.bands.next_back()?;
        let n = band_rows(self.total.0, self.total.1, t);
        let rest = std::mem::take(&mut self.rest);
        let (head, tail) = rest.split_at_mut(rest.len() - n * self.row_len);
        self.rest = head;
        let r1 = self.rows.end;
        self.rows.end -= n;
        Some((r1 - n..r1, tail))
    }
}

/// Runs `f(task, scratch)` for every task, over the team's threads when there is one (each
/// thread takes the next task when done, and has its own `scratch_len` floats of
/// `scratch`). The first error is returned (other tasks may still run).
///
/// Tasks are bands of rows in order. Even threads take them from the front, odd threads
/// from the back, so with two threads each keeps roughly the same half of the image from
/// layer to layer: its input is then mostly in its own L2 (written there by the previous
/// layer) instead of in the other core's. Measured on a 2-core Zen 4, handing bands out
/// in order instead made the depthwise layers 3x slower at 2 threads than at 1.
fn run_tasks<T: Send>(
    team: Option<&Team<'_>>,
    tasks: impl DoubleEndedIterator<Item = T> + Send,
    scratch: &mut [f32],
    scratch_len: usize,
    f: impl Fn(T, &mut [f32]) -> Result<()> + Sync,
) -> Result<()> {
    let Some(team) = team else {
        let scratch = &mut scratch[..scratch_len];
        return tasks.into_iter().try_for_each(|t| f(t, scratch));
    };
    let tasks = Mutex::new(tasks);
    let scratches = Mutex::new(scratch.chunks_mut(scratch_len.max(1)));
    let status = Mutex::new(Ok(()));
    team.run(&|thread| {
        let scratch = spin_lock(&scratches).next().unwrap_or_default();
        loop {
            let task = if thread % 2 == 0 {
                spin_lock(&tasks).next()
            } else {
                spin_lock(&tasks).next_back()
            };
            let Some(task) = task else { break };
            if let Err(e) = f(task, scratch) {
                *spin_lock(&status) = Err(e);
                break;
            }
        }
    });
    status.into_inner().unwrap_or_else(PoisonError::into_inner)
}

enum Input<'a> {
    Nhwc(&'a [f32]),
    Nchw(&'a [f32]),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row once, in order, from whichever end the bands are taken; sizes within one.
    #[test]
    fn row_bands_cover_each_image_in_near_equal_bands() {
        for out_h in 1..=20 {
            for bands in 1..=out_h {
                for batch in 1..=2 {
                    let row_len = 3;
                    let mut out = vec![0.0; batch * out_h * row_len];
                    let mut seen = Vec::new();
                    {
                        let mut it = row_bands(&mut out, out_h, row_len, bands);
                        let mut front = true;
                        loop {
                            let band = if front { it.next() } else { it.next_back() };
                            let Some((b, rows, slice)) = band else { break };
                            assert_eq!(slice.len(), rows.len() * row_len);
                            slice.fill((b * out_h + rows.start) as f32);
                            seen.push((b, rows));
                            front = !front;
                        }
                    }
                    seen.sort_by_key(|(b, r)| (*b, r.start));
                    assert_eq!(seen.len(), bands * batch);
                    let mut next = (0, 0);
                    for (b, rows) in &seen {
                        if *b != next.0 {
                            assert_eq!(next.1, out_h, "image {} not covered", next.0);
                            next = (*b, 0);
                        }
                        assert_eq!(rows.start, next.1);
                        let len = rows.len();
                        assert!(len == out_h / bands || len == out_h.div_ceil(bands));
                        next.1 = rows.end;
                    }
                    assert_eq!(next, (batch - 1, out_h));
                    // Each slice sits at its rows: row r of image b starts with the
                    // value written for its band's first row.
                    for (b, rows) in &seen {
                        let at = (b * out_h + rows.start) * row_len;
                        assert_eq!(out[at], (b * out_h + rows.start) as f32);
                    }
                }
            }
        }
    }

    /// Two threads taking bands from opposite ends get equal rows whenever the extra rows
    /// come in pairs.
    #[test]
    fn longer_bands_sit_at_both_ends() {
        assert_eq!(
            (0..4).map(|t| band_rows(14, 4, t)).collect::<Vec<_>>(),
            [4, 3, 3, 4]
        );
        assert_eq!(
            (0..6).map(|t| band_rows(22, 6, t)).collect::<Vec<_>>(),
            [4, 4, 3, 3, 4, 4]
        );
        assert_eq!(
            (0..3).map(|t| band_rows(7, 3, t)).collect::<Vec<_>>(),
            [3, 2, 2]
        );
    }
}
