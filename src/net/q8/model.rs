//! The int8 runner: a [`Q8Network`] packed for the kernel set of one CPU, run layer by
//! layer between two u8 activation buffers of a [`Q8Workspace`] (no allocation per run).
//! Every layer equals its `reference::q8` operator bit for bit, so a run equals
//! `reference::q8_network_forward`.

use super::network::{Q8Network, Q8Pool};
use crate::kernels::cpu::Cpu;
use crate::kernels::q8_gemm::{gemm, PackedQ8B, Q8Out};
use crate::kernels::{kernel_set, KernelSet};
use crate::net::{LayerKind, Options, Step, StepKind};
use crate::ops::q8_conv::Q8Conv3x3;
use crate::ops::q8_depthwise::{q8_depthwise3x3, PackedQ8Depthwise, Q8DepthwiseParams};
use crate::ops::q8_pool::q8_global_avg_pool_mode;
use crate::quant::{OutQ, QParams};
use crate::{Error, Result};
use std::time::Instant;

enum Op {
    Conv(Q8Conv3x3),
    Dw(PackedQ8Depthwise, Q8DepthwiseParams),
    Pw(PackedQ8B),
}

struct Stage {
    name: String,
    op: Op,
    out: OutQ,
    /// Input and output (h, w, c) of one image.
    input: (usize, usize, usize),
    output: (usize, usize, usize),
    macs: usize,
}

/// A quantized network packed for one CPU.
pub struct Q8Model {
    q: Q8Network,
    kernels: &'static KernelSet,
    stages: Vec<Stage>,
    fc: Option<PackedQ8B>,
    /// With int8 logits: their requantization scales and quantization.
    fc_out: Option<(Vec<f32>, QParams)>,
    /// Bytes of the largest activation of one image.
    max_act: usize,
    scratch: usize,
}

/// The buffers of [`Q8Model::run`] for batches up to `batch`.
pub struct Q8Workspace {
    batch: usize,
    a: Vec<u8>,
    b: Vec<u8>,
    scratch: Vec<u8>,
    sums: Vec<i32>,
    acc: Vec<i32>,
}

/// Slack after each activation: the GEMM reads K rounded up to its groups.
const SLACK: usize = 64;

impl Q8Model {
    /// Packs `q` for the CPU of `options.cpu` (else `SEPCONV_ISA`, else this one's).
    /// Runs on one thread (`options.threads` must be 1 for now).
    pub fn build(q: Q8Network, options: Options) -> Result<Q8Model> {
        q.validate()?;
        if options.threads != 1 {
            return Err(Error::Config(format!(
                "the int8 runner runs on 1 thread, got {}",
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
        Ok(Q8Model {
            q,
            kernels,
            stages,
            fc,
            fc_out,
            max_act,
            scratch,
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

    /// f32 values of one input image.
    pub fn input_len(&self) -> usize {
        self.q.network.input_len()
    }

    /// f32 values of one output.
    pub fn output_len(&self) -> usize {
        self.q.network.output_len()
    }

    /// Buffers for batches of up to `batch` images.
    pub fn workspace(&self, batch: usize) -> Result<Q8Workspace> {
        if batch == 0 {
            return Err(Error::Shape("batch must be at least 1".into()));
        }
        let act = batch
            .checked_mul(self.max_act)
            .and_then(|n| n.checked_add(SLACK))
            .ok_or_else(|| Error::Shape(format!("batch {batch} is too large")))?;
        let c = self.q.network.features().2;
        Ok(Q8Workspace {
            batch,
            a: vec![0; act],
            b: vec![0; act],
            scratch: vec![0; self.scratch],
            sums: vec![0; c],
            acc: vec![0; batch * self.q.network.head.classes.unwrap_or(0)],
        })
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
                    Op::Conv(_) => StepKind::Conv0,
                    Op::Dw(..) => StepKind::Depthwise,
                    Op::Pw(_) => StepKind::Pointwise,
                },
                macs: s.macs,
            })
            .collect();
        let head = self.q.network.head;
        if head.pool {
            steps.push(Step {
                name: "pool".into(),
                kind: StepKind::Pool,
                macs: 0,
            });
        }
        if let Some(k) = head.classes {
            steps.push(Step {
                name: "fc".into(),
                kind: StepKind::Fc,
                macs: k * self.q.network.features().2,
            });
        }
        steps
    }

    /// Runs `batch` f32 NHWC images of `input` into `output` (`batch * output_len()`).
    pub fn run(
        &self,
        ws: &mut Q8Workspace,
        input: &[f32],
        batch: usize,
        output: &mut [f32],
    ) -> Result<()> {
        self.run_inner(ws, input, batch, output, None)
    }

    /// [`Q8Model::run`], timing each step of [`Q8Model::steps`] into `step_ms`.
    pub fn run_profiled(
        &self,
        ws: &mut Q8Workspace,
        input: &[f32],
        batch: usize,
        output: &mut [f32],
        step_ms: &mut [f64],
    ) -> Result<()> {
        if step_ms.len() < self.steps().len() {
            return Err(Error::Shape("one time per step".into()));
        }
        self.run_inner(ws, input, batch, output, Some(step_ms))
    }

    fn run_inner(
        &self,
        ws: &mut Q8Workspace,
        input: &[f32],
        n: usize,
        output: &mut [f32],
        mut laps: Option<&mut [f64]>,
    ) -> Result<()> {
        let net = &self.q.network;
        if n == 0 || n > ws.batch {
            return Err(Error::Shape(format!(
                "batch {n} must be 1..={} (the workspace's)",
                ws.batch
            )));
        }
        if input.len() != n * net.input_len() || output.len() != n * net.output_len() {
            return Err(Error::Shape(format!(
                "input of {} floats and output of {} for batch {n} (need {} and {})",
                input.len(),
                output.len(),
                n * net.input_len(),
                n * net.output_len()
            )));
        }
        let mut clock = Instant::now();
        let mut lap = |i: usize, laps: &mut Option<&mut [f64]>| {
            if let Some(l) = laps.as_deref_mut() {
                let now = Instant::now();
                l[i] = (now - clock).as_secs_f64() * 1e3;
                clock = now;
            }
        };
        let q_in = self.q.input;
        q_in.quantize_slice(input, &mut ws.a);
        let (mut src, mut dst) = (&mut ws.a, &mut ws.b);
        for (i, s) in self.stages.iter().enumerate() {
            let (h, w, c) = s.input;
            let (oh, ow, oc) = s.output;
            let out_len = n * oh * ow * oc;
            match &s.op {
                Op::Conv(op) => {
                    op.run(src, n, h, w, &mut dst[..out_len], s.out, &mut ws.scratch)?
                }
                Op::Dw(packed, params) => {
                    let p = Q8DepthwiseParams {
                        batch: n,
                        ..*params
                    };
                    q8_depthwise3x3(&p, packed, &src[..n * h * w * c], &mut dst[..out_len], oc)?
                }
                Op::Pw(b) => gemm(
                    b,
                    &src[..n * h * w * c + SLACK],
                    n * h * w,
                    c,
                    Q8Out::U8 {
                        c: &mut dst[..out_len],
                        out: s.out,
                    },
                    oc,
                )?,
            }
            std::mem::swap(&mut src, &mut dst);
            lap(i, &mut laps);
        }
        let (h, w, c) = net.features();
        let Some(pool) = &self.q.pool else {
            let last = self.q.layers.last().map_or(q_in, |l| l.output);
            dequantize(&src[..n * h * w * c], last, output);
            return Ok(());
        };
        let steps = self.stages.len();
        pooled(pool, src, n, h * w, c, dst, &mut ws.sums)?;
        if self.fc.is_some() {
            lap(steps, &mut laps);
        }
        match (&self.fc, &self.q.fc) {
            (Some(b), Some(fc)) => {
                let k = fc.bias.len();
                gemm(
                    b,
                    &dst[..n * c + SLACK],
                    n,
                    c,
                    Q8Out::I32 {
                        c: &mut ws.acc[..n * k],
                    },
                    k,
                )?;
                match &self.fc_out {
                    // int8 logits, requantized then dequantized (as the reference).
                    Some((rs, oq)) => {
                        let full = OutQ::full(oq.zero_point);
                        for (o, (&a, &s)) in
                            output.iter_mut().zip(ws.acc.iter().zip(rs.iter().cycle()))
                        {
                            *o = oq.dequantize(crate::quant::requantize(a, s, full));
                        }
                    }
                    None => {
                        for (o, (&a, s)) in output
                            .iter_mut()
                            .zip(ws.acc.iter().zip(fc.scale.iter().cycle()))
                        {
                            *o = a as f32 * s;
                        }
                    }
                }
            }
            _ => dequantize(&dst[..n * c], pool.output, output),
        }
        if net.head.softmax {
            for row in output.chunks_mut(net.output_len().max(1)) {
                softmax(row);
            }
        }
        // The classifier's step, or the pool's without one (the softmax with it).
        lap(steps + usize::from(self.fc.is_some()), &mut laps);
        Ok(())
    }
}

fn pooled(
    pool: &Q8Pool,
    src: &[u8],
    n: usize,
    hw: usize,
    c: usize,
    dst: &mut [u8],
    sums: &mut [i32],
) -> Result<()> {
    q8_global_avg_pool_mode(
        src,
        n,
        hw,
        c,
        pool.input.zero_point,
        pool.scale,
        pool.out,
        pool.mode,
        &mut dst[..n * c],
        sums,
    )
}

fn dequantize(src: &[u8], q: QParams, out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(src) {
        *o = q.dequantize(v);
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
