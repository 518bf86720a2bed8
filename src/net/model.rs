//! The MobileNet V1 runner: weights folded and packed once by [`Model::build`], activations
//! in a caller-owned [`Workspace`](super::Workspace), so [`Model::run`] allocates nothing
//! and one model serves many threads at once.
//!
//! This module holds the model and its build; the others hold what it is built from and
//! how it runs: `options` (how a model runs, the tuning constants), `plan` (the schedule
//! of each block), `deep` (the depth-first pipeline), `workspace` (the per-call buffers),
//! `run` (the layers, one after the other), `tasks` (splitting a layer over threads),
//! `profile` (the timed steps).

use super::config::{LayerSpec, MobileNetConfig};
use super::deep::DeepPlan;
use super::fold::fold_batch_norm;
use super::options::{Options, CONV0_ROWS_PER_STEP};
use super::plan::{depth_first_blocks, fuse_band_limit, Block};
use super::team::Pool;
use super::weights::{BlockWeights, MobileNetWeights};
use crate::activation::Clamp;
use crate::kernels::cpu::{Cpu, Isa};
use crate::kernels::{kernel_set, KernelSet};
use crate::memory::gather;
use crate::ops::conv0::{Conv0Params, PackedConv0};
use crate::ops::pointwise::PackedGemmB;
use crate::{Error, Result};

/// A built MobileNet V1: immutable, `Send + Sync`.
pub struct Model {
    pub(super) config: MobileNetConfig,
    pub(super) kernels: &'static KernelSet,
    pub(super) specs: Vec<LayerSpec>,
    pub(super) clamp: Clamp,
    pub(super) conv0: PackedConv0,
    /// conv0's shape at batch 1 (the batch is set per run).
    pub(super) conv0_params: Conv0Params,
    pub(super) blocks: Vec<Block>,
    /// The first blocks run depth-first with conv0 (see `deep`).
    pub(super) deep: Option<DeepPlan>,
    pub(super) fc: PackedGemmB,
    pub(super) pool: Option<Pool>,
    pub(super) threads: usize,
    /// Largest activation of one image, in floats.
    pub(super) max_activation: usize,
    /// Floats of one thread's fused-band scratch.
    pub(super) band_len: usize,
}

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
        let pack = |(pair, bw): (&[LayerSpec], &BlockWeights)| {
            Block::new(kernels, (&pair[0], &pair[1]), bw, clamp, &options)
        };
        let pairs = specs[1..].chunks(2).zip(&weights.blocks);
        // With the `rayon` feature the blocks' weights are folded and packed in parallel on
        // rayon's global pool (a one-time cost per model; docs/design.md).
        #[cfg(feature = "rayon")]
        let mut blocks = {
            use rayon::prelude::*;
            pairs
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(pack)
                .collect::<Result<Vec<_>>>()?
        };
        #[cfg(not(feature = "rayon"))]
        let mut blocks = pairs.map(pack).collect::<Result<Vec<_>>>()?;
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
        let max_activation = specs
            .iter()
            .map(|s| s.out_h * s.out_w * s.out_c)
            .chain(blocks.iter().map(Block::dw_output_len))
            .max()
            .unwrap_or(0);
        let band_len = blocks.iter().filter_map(Block::band_len).max().unwrap_or(0);
        let pool = if options.threads > 1 {
            Some(
                Pool::new(options.threads)
                    .map_err(|e| Error::Config(format!("cannot start threads: {e}")))?,
            )
        } else {
            None
        };
        let depth = depth_first_blocks(&options, &specs, blocks.len())?;
        let deep = (depth > 0).then(|| {
            DeepPlan::new(&specs, &blocks, depth, |j| {
                if j == 0 {
                    return CONV0_ROWS_PER_STEP;
                }
                let dw = &specs[2 * j - 1];
                fuse_band_limit(dw.out_w, dw.out_c)
            })
        });
        Ok(Model {
            config: *config,
            kernels,
            specs,
            clamp,
            conv0,
            conv0_params,
            blocks,
            deep,
            fc,
            pool,
            threads: options.threads,
            max_activation,
            band_len,
        })
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

    /// Leading blocks that run depth-first with conv0.
    pub fn depth_first_blocks(&self) -> usize {
        self.deep.as_ref().map_or(0, |d| d.blocks)
    }

    /// Floats of one thread's depth-first scratch.
    pub(super) fn deep_len(&self) -> usize {
        self.deep.as_ref().map_or(0, |d| d.scratch_len)
    }
}
