//! The runner: weights folded and packed once by [`Model::build_network`] (or
//! [`Model::build`] for MobileNet V1), activations in a caller-owned
//! [`Workspace`](super::Workspace), so [`Model::run`] allocates nothing and one model
//! serves many threads at once.
//!
//! This module holds the model and its build; the others hold what it is built from and
//! how it runs: `options` (how a model runs, the tuning constants), `plan` (the stages and
//! the schedule of each block), `deep` (the depth-first pipeline), `workspace` (the
//! per-call buffers), `run` (the stages, one after the other), `tasks` (splitting a stage
//! over threads), `profile` (the timed steps).

use super::config::{LayerKind, LayerSpec, MobileNetConfig};
use super::deep::{DeepPlan, MAX_STAGES};
use super::fold::fold_batch_norm;
use super::network::{Network, NetworkWeights};
use super::options::{Options, COLUMNS_BELOW_PIXELS, CONV0_ROWS_PER_STEP};
use super::plan::{depth_first_blocks, fuse_band_limit, Block, Im2colConv, Op, Stage};
use super::team::Pool;
use super::weights::{ConvWeights, MobileNetWeights};
use crate::kernels::cpu::{Cpu, Isa};
use crate::kernels::f32_conv0::IN_C;
use crate::kernels::{kernel_set, KernelSet};
use crate::memory::{gather, Packed};
use crate::ops::conv0::{Conv0Params, PackedConv0};
use crate::ops::depthwise::{DepthwiseParams, PackedDepthwise};
use crate::ops::pointwise::PackedGemmB;
use crate::{Error, Result};

/// A built network: immutable, `Send + Sync`.
pub struct Model {
    pub(super) network: Network,
    /// The MobileNet V1 configuration the network is, if it is one.
    pub(super) config: Option<MobileNetConfig>,
    pub(super) kernels: &'static KernelSet,
    /// The layers grouped into what runs together, in order.
    pub(super) stages: Vec<Stage>,
    /// The first blocks run depth-first with conv0 (see `deep`).
    pub(super) deep: Option<DeepPlan>,
    /// The classifier, if the network has one.
    pub(super) fc: Option<PackedGemmB>,
    pub(super) pool: Option<Pool>,
    pub(super) threads: usize,
    /// Largest activation of one image, in floats.
    pub(super) max_activation: usize,
    /// Floats of one thread's band scratch (fused blocks, im2col bands).
    pub(super) band_len: usize,
    /// Timed steps of a run (`Model::steps().len()`).
    pub(super) step_count: usize,
}

/// How the layer that starts a stage runs.
#[derive(Clone, Copy)]
enum Kind {
    Conv0,
    Im2col,
    Block,
    Depthwise,
    Pointwise,
}

impl Model {
    /// MobileNet V1: folds BatchNorm, packs every weight for the selected ISA, and plans
    /// the buffers. Everything is checked first: a bad config or weight returns an error
    /// naming it. The same as [`Model::build_network`] on [`Network::mobilenet`] and the
    /// weights in plan order.
    pub fn build(
        config: &MobileNetConfig,
        weights: &MobileNetWeights,
        options: Options,
    ) -> Result<Model> {
        config.validate()?;
        weights.validate(config)?;
        let network = Network::mobilenet(config)?;
        let convs: Vec<&ConvWeights> = weights.convs().collect();
        let fc = Some((weights.fc_weights.as_slice(), weights.fc_bias.as_slice()));
        Self::build_from(network, Some(*config), &convs, fc, options)
    }

    /// Any sequential depthwise-separable `network` with its `weights` (both checked
    /// first, the error naming the layer or tensor at fault): folds BatchNorm, packs every
    /// weight for the selected ISA, plans the stages and the buffers.
    pub fn build_network(
        network: &Network,
        weights: &NetworkWeights,
        options: Options,
    ) -> Result<Model> {
        network.validate()?;
        weights.validate(network)?;
        let convs: Vec<&ConvWeights> = weights.convs.iter().collect();
        let fc = weights
            .fc
            .as_ref()
            .map(|(w, b)| (w.as_slice(), b.as_slice()));
        Self::build_from(network.clone(), network.as_mobilenet(), &convs, fc, options)
    }

    /// The build on a validated network and weights: `convs` one per layer, `fc` the
    /// classifier's weights and bias if it has one.
    fn build_from(
        network: Network,
        config: Option<MobileNetConfig>,
        convs: &[&ConvWeights],
        fc: Option<(&[f32], &[f32])>,
        options: Options,
    ) -> Result<Model> {
        if options.threads == 0 || options.threads > 256 {
            return Err(Error::Config(format!(
                "threads must be in 1..=256, got {}",
                options.threads
            )));
        }
        let kernels = kernel_set(Cpu::resolve(options.cpu)?)?;
        let specs: Vec<LayerSpec> = network.layers.iter().map(|l| l.spec.clone()).collect();
        let clamps: Vec<_> = network
            .layers
            .iter()
            .map(|l| l.activation.clamp())
            .collect();

        // Group the layers: a depthwise layer takes the pointwise layer after it.
        let mut plan = Vec::with_capacity(specs.len());
        let mut i = 0;
        while i < specs.len() {
            let s = &specs[i];
            let kind = match s.kind {
                LayerKind::Conv0 if s.in_c == IN_C && s.stride == 2 => Kind::Conv0,
                LayerKind::Conv0 => Kind::Im2col,
                LayerKind::Depthwise
                    if specs.get(i + 1).map(|n| n.kind) == Some(LayerKind::Pointwise) =>
                {
                    Kind::Block
                }
                LayerKind::Depthwise => Kind::Depthwise,
                LayerKind::Pointwise => Kind::Pointwise,
            };
            plan.push((i, kind));
            i += if matches!(kind, Kind::Block) { 2 } else { 1 };
        }
        if convs.len() != specs.len() {
            return Err(Error::Model(format!(
                "the network has {} convolutions, the weights {}",
                specs.len(),
                convs.len()
            )));
        }
        let pack = |&(i, kind): &(usize, Kind)| -> Result<Stage> {
            let (s, clamp) = (&specs[i], clamps[i]);
            let op = match kind {
                Kind::Conv0 => {
                    let (w, b) = fold_batch_norm(convs[i]);
                    let params = Conv0Params {
                        batch: 1,
                        in_h: s.in_h,
                        in_w: s.in_w,
                        out_c: s.out_c,
                        padding: s.padding,
                        clamp,
                    };
                    params.validate()?;
                    Op::Conv0 {
                        conv: PackedConv0::new(kernels, s.out_c, &w, &b)?,
                        params,
                    }
                }
                Kind::Im2col => Op::Im2col(Im2colConv::new(
                    kernels,
                    s,
                    convs[i],
                    clamp,
                    options.threads,
                )?),
                Kind::Block => Op::Block(Block::new(
                    kernels,
                    (s, &specs[i + 1]),
                    (convs[i], convs[i + 1]),
                    (clamp, clamps[i + 1]),
                    &options,
                )?),
                Kind::Depthwise => {
                    let (w, b) = fold_batch_norm(convs[i]);
                    let params = DepthwiseParams {
                        batch: 1,
                        in_h: s.in_h,
                        in_w: s.in_w,
                        channels: s.in_c,
                        stride: s.stride,
                        padding: s.padding,
                        clamp,
                    };
                    params.validate()?;
                    Op::Depthwise {
                        dw: PackedDepthwise::new(kernels, s.in_c, &w, &b)?,
                        params,
                    }
                }
                Kind::Pointwise => {
                    let (w, b) = fold_batch_norm(convs[i]);
                    clamp.check()?;
                    let pixels = s.out_h * s.out_w;
                    Op::Pointwise {
                        pw: PackedGemmB::new(kernels, s.in_c, s.out_c, &w, &b)?,
                        clamp,
                        pixels,
                        // As the pointwise layers of small blocks (`Block::new`).
                        by_columns: options.threads > 1 && pixels < COLUMNS_BELOW_PIXELS,
                    }
                }
            };
            Ok(Stage { layer: i, op })
        };
        // With the `rayon` feature the stages' weights are folded and packed in parallel
        // on rayon's global pool (a one-time cost per model; docs/design.md).
        #[cfg(feature = "rayon")]
        let mut stages = {
            use rayon::prelude::*;
            plan.par_iter().map(pack).collect::<Result<Vec<_>>>()?
        };
        #[cfg(not(feature = "rayon"))]
        let mut stages = plan.iter().map(pack).collect::<Result<Vec<_>>>()?;
        let features = network.features().2;
        let mut fc = match (network.head.classes, fc) {
            (Some(classes), Some((w, b))) => {
                Some(PackedGemmB::new(kernels, features, classes, w, b)?)
            }
            (None, None) => None,
            _ => {
                return Err(Error::Model(
                    "the classifier and its weights disagree".into(),
                ))
            }
        };
        // All weights in one buffer on huge pages: the GEMMs' B (pointwise layers, im2col
        // convolutions) and the classifier first, in the order they run, so that the
        // next-panel prefetch of each layer's last panel (`gemm::call_asm`) runs on into
        // the next layer's first panel, which would otherwise start cold from L3; then the
        // direct convolutions' weights (conv0, depthwise) in order.
        {
            let (mut parts, mut rest): (Vec<&mut Packed>, Vec<&mut Packed>) =
                (Vec::new(), Vec::new());
            for st in stages.iter_mut() {
                match &mut st.op {
                    Op::Conv0 { conv, .. } => rest.push(conv.packed_mut()),
                    Op::Im2col(c) => parts.push(c.gemm.packed_mut()),
                    Op::Block(b) => {
                        parts.push(b.pw.packed_mut());
                        rest.push(b.dw.packed_mut());
                    }
                    Op::Depthwise { dw, .. } => rest.push(dw.packed_mut()),
                    Op::Pointwise { pw, .. } => parts.push(pw.packed_mut()),
                }
            }
            if let Some(fc) = fc.as_mut() {
                parts.push(fc.packed_mut());
            }
            parts.append(&mut rest);
            gather(&mut parts).ok_or_else(|| {
                Error::Shape("the model's packed weights do not fit in memory".into())
            })?;
        }
        let max_activation = specs
            .iter()
            .map(|s| s.out_h * s.out_w * s.out_c)
            .chain(stages.iter().filter_map(|st| match &st.op {
                Op::Block(b) => Some(b.dw_output_len()),
                _ => None,
            }))
            .max()
            .unwrap_or(0);
        let band_len = stages
            .iter()
            .filter_map(|st| match &st.op {
                Op::Block(b) => b.band_len(),
                Op::Im2col(c) => Some(c.band_len()),
                _ => None,
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
        // Depth-first: conv0 by its direct kernel, then the blocks right after it.
        let blocks: Vec<&Block> = match stages.first().map(|s| &s.op) {
            Some(Op::Conv0 { .. }) => stages[1..]
                .iter()
                .map_while(|s| match &s.op {
                    Op::Block(b) => Some(b),
                    _ => None,
                })
                .take(MAX_STAGES - 1)
                .collect(),
            _ => Vec::new(),
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
        let head = network.head;
        let step_count = stages
            .iter()
            .skip(if depth > 0 { depth + 1 } else { 0 })
            .map(|st| match &st.op {
                Op::Block(b) if b.fused_bands.is_none() => 2,
                _ => 1,
            })
            .sum::<usize>()
            + usize::from(depth > 0)
            + usize::from(head.pool)
            + usize::from(head.classes.is_some());
        Ok(Model {
            network,
            config,
            kernels,
            stages,
            deep,
            fc,
            pool,
            threads: options.threads,
            max_activation,
            band_len,
            step_count,
        })
    }

    /// The network this model runs.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The MobileNet V1 configuration, if the network is one (always when built by
    /// [`Model::build`]).
    pub fn config(&self) -> Option<&MobileNetConfig> {
        self.config.as_ref()
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

    /// Floats per input image (NHWC or NCHW): in_h x in_w x in_c.
    pub fn input_len(&self) -> usize {
        self.network.input_len()
    }

    /// Floats per output image: the classes, the pooled channels, or the last feature map
    /// ([`Network::output_len`]).
    pub fn output_len(&self) -> usize {
        self.network.output_len()
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
