//! The int8 runner: a [`Q8Network`] packed for the kernel set of one CPU. This module
//! holds the model, its build and what it tells about itself; `workspace` the per-call
//! buffers, `run` the layers one after the other, each split over the model's threads.
//! Every layer equals its `reference::q8` operator bit for bit, whatever the thread
//! count and the batch, so a run equals `reference::q8_network_forward`.

use super::dtype::EdgeType;
use super::network::Q8Network;
use crate::kernels::cpu::{Cpu, Isa};
use crate::kernels::q8_gemm::PackedQ8B;
use crate::kernels::{kernel_set, KernelSet};
use crate::net::team::Pool;
use crate::net::{LayerKind, Options, Step, StepKind};
use crate::ops::q8_conv::Q8Conv3x3;
use crate::ops::q8_conv0::Q8Conv0;
use crate::ops::q8_depthwise::{PackedQ8Depthwise, Q8DepthwiseParams};
use crate::quant::{OutQ, QParams};
use crate::{Error, Result};

pub(super) enum Op {
    Conv(Q8Conv3x3),
    /// The direct first layer: reads the f32 input (or the codes) itself.
    Conv0(Q8Conv0),
    /// The parameters at batch 1: a run goes image by image, band by band.
    Dw(PackedQ8Depthwise, Q8DepthwiseParams),
    Pw(PackedQ8B),
}

pub(super) struct Stage {
    pub(super) name: String,
    pub(super) op: Op,
    pub(super) out: OutQ,
    /// Input and output (h, w, c) of one image.
    pub(super) input: (usize, usize, usize),
    pub(super) output: (usize, usize, usize),
    pub(super) macs: usize,
}

/// A quantized network packed for one CPU: immutable, `Send + Sync`.
pub struct Q8Model {
    pub(super) q: Q8Network,
    pub(super) kernels: &'static KernelSet,
    pub(super) stages: Vec<Stage>,
    pub(super) fc: Option<PackedQ8B>,
    /// With int8 logits: their requantization scales and quantization.
    pub(super) fc_out: Option<(Vec<f32>, QParams)>,
    pub(super) pool: Option<Pool>,
    pub(super) threads: usize,
    /// Bytes of the largest activation of one image.
    pub(super) max_act: usize,
    /// Bytes of one thread's im2col scratch (the full 3x3 convolutions').
    pub(super) scratch: usize,
    /// `steps().len()`, known without allocating.
    pub(super) step_count: usize,
}

impl Q8Model {
    /// Packs `q` for the CPU of `options.cpu` (else `SEPCONV_ISA`, else this one's), to
    /// run on `options.threads` threads (the caller's and a private pool's). Fusion and
    /// depth-first options do not apply (every layer runs whole).
    pub fn build(q: Q8Network, options: Options) -> Result<Q8Model> {
        q.validate()?;
        if options.threads == 0 || options.threads > 256 {
            return Err(Error::Config(format!(
                "threads must be in 1..=256, got {}",
                options.threads
            )));
        }
        let kernels = kernel_set(Cpu::resolve(options.cpu)?)?;
        let net = &q.network;
        let mut stages = Vec::with_capacity(net.layers.len());
        let mut max_act = net.input_len();
        let mut scratch = 0;
        for (layer, ql) in net.layers.iter().zip(&q.layers) {
            let s = &layer.spec;
            let zp_in = ql.input.zero_point;
            let op = match s.kind {
                LayerKind::Conv0 => {
                    // The first layer direct from the input where the kernel set has such a
                    // kernel and it takes the shape; otherwise im2col + GEMM.
                    let direct = match kernels.q8_conv0 {
                        Some(kernel) if stages.is_empty() => Q8Conv0::new(
                            kernel,
                            &ql.weights,
                            s.in_c,
                            &ql.bias,
                            &ql.scale,
                            zp_in,
                            s.stride,
                            s.padding,
                        )
                        .ok(),
                        _ => None,
                    };
                    match direct {
                        Some(op) => {
                            scratch = scratch.max(op.scratch_len(s.in_w));
                            Op::Conv0(op)
                        }
                        None => {
                            let op = Q8Conv3x3::new(
                                kernels.q8_gemm,
                                &ql.weights,
                                s.in_c,
                                &ql.bias,
                                &ql.scale,
                                zp_in,
                                s.stride,
                                s.padding,
                            )?;
                            scratch = scratch.max(op.scratch_len());
                            Op::Conv(op)
                        }
                    }
                }
                LayerKind::Depthwise => {
                    let packed = PackedQ8Depthwise::new(
                        kernels,
                        s.in_c,
                        &ql.weights,
                        &ql.bias,
                        &ql.scale,
                        zp_in,
                    )?;
                    let params = Q8DepthwiseParams {
                        batch: 1,
                        in_h: s.in_h,
                        in_w: s.in_w,
                        channels: s.in_c,
                        stride: s.stride,
                        padding: s.padding,
                        out: ql.out,
                    };
                    params.validate()?;
                    Op::Dw(packed, params)
                }
                LayerKind::Pointwise => Op::Pw(PackedQ8B::new(
                    kernels.q8_gemm,
                    &ql.weights,
                    s.in_c,
                    &ql.bias,
                    &ql.scale,
                    zp_in,
                )?),
            };
            max_act = max_act.max(s.out_h * s.out_w * s.out_c);
            stages.push(Stage {
                name: s.name.clone(),
                op,
                out: ql.out,
                input: (s.in_h, s.in_w, s.in_c),
                output: (s.out_h, s.out_w, s.out_c),
                macs: s.macs(),
            });
        }
        let fc = match &q.fc {
            Some(fc) => Some(PackedQ8B::new(
                kernels.q8_gemm,
                &fc.weights,
                net.features().2,
                &fc.bias,
                &fc.scale,
                fc.input.zero_point,
            )?),
            None => None,
        };
        let fc_out =
            q.fc.as_ref()
                .and_then(|f| Some((f.requant_scales()?, f.output?)));
        let pool = if options.threads > 1 {
            Some(
                Pool::new(options.threads)
                    .map_err(|e| Error::Config(format!("cannot start threads: {e}")))?,
            )
        } else {
            None
        };
        let head = net.head;
        let step_count =
            stages.len() + usize::from(head.pool) + usize::from(head.classes.is_some());
        Ok(Q8Model {
            q,
            kernels,
            stages,
            fc,
            pool,
            threads: options.threads,
            fc_out,
            max_act,
            scratch,
            step_count,
        })
    }

    /// The quantized network this model runs.
    pub fn network(&self) -> &Q8Network {
        &self.q
    }

    /// The kernel set it runs.
    pub fn kernels(&self) -> &'static KernelSet {
        self.kernels
    }

    /// The base ISA whose kernels it runs.
    pub fn isa(&self) -> Isa {
        self.kernels.cpu.isa
    }

    /// The base ISA and features its kernels were picked for.
    pub fn cpu(&self) -> Cpu {
        self.kernels.cpu
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Values of one input image (f32, or u8 / i8 codes).
    pub fn input_len(&self) -> usize {
        self.q.network.input_len()
    }

    /// Values of one output.
    pub fn output_len(&self) -> usize {
        self.q.network.output_len()
    }

    /// How an f32 input is quantized, and what the codes of
    /// [`Q8Model::run_codes`] mean: `x = scale * (u - zero_point)` for u8 codes,
    /// `scale * (i - (zero_point - 128))` for i8 ones.
    pub fn input_quant(&self) -> QParams {
        self.q.input
    }

    /// The quantization of the output when the network ends in a quantized tensor (the
    /// last feature map, the pooled features, or quantized logits), so that
    /// [`Q8Model::run_codes`] can return raw codes; `None` when it ends in f32 (logits
    /// straight from the classifier's accumulators, or a softmax).
    pub fn output_quant(&self) -> Option<QParams> {
        let head = self.q.network.head;
        if head.softmax {
            return None;
        }
        match (&self.q.pool, &self.q.fc) {
            (_, Some(fc)) => fc.output,
            (Some(p), None) => Some(p.output),
            (None, None) => Some(self.q.layers.last().map_or(self.q.input, |l| l.output)),
        }
    }

    /// The input's element type as the model file states it (f32 for a model quantized
    /// from a float one): what a caller of the file's own runtime passes. [`Q8Model::run`]
    /// takes f32 and [`Q8Model::run_codes`] u8 or i8 codes either way.
    pub fn input_type(&self) -> EdgeType {
        self.q.input_type
    }

    /// The output's element type as the model file states it.
    pub fn output_type(&self) -> EdgeType {
        self.q.output_type
    }

    /// The timed steps of [`Q8Model::run_profiled`]: each layer, then the pool and the
    /// classifier (with the softmax) when the network has them.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = self
            .stages
            .iter()
            .map(|s| Step {
                name: s.name.clone(),
                kind: match s.op {
                    Op::Conv(_) | Op::Conv0(_) => StepKind::Conv0,
                    Op::Dw(..) => StepKind::Depthwise,
                    Op::Pw(_) => StepKind::Pointwise,
                },
                macs: s.macs,
            })
            .collect();
        let head = self.q.network.head;
        let (h, w, c) = self.q.network.features();
        if head.pool {
            steps.push(Step {
                name: "pool".into(),
                kind: StepKind::Pool,
                macs: h * w * c,
            });
        }
        if let Some(k) = head.classes {
            steps.push(Step {
                name: "fc".into(),
                kind: StepKind::Fc,
                macs: k * c,
            });
        }
        steps
    }
}
