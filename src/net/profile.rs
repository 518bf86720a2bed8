//! The timed steps of [`Model::run_profiled`]: what they are ([`Step`], [`Model::steps`])
//! and the clock that times them ([`Laps`]).

use super::config::LayerKind;
use super::model::Model;
use super::plan::Op;
use std::time::Instant;

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

impl Model {
    /// The timed steps of [`Model::run_profiled`], in order: each stage (the depth-first
    /// pipeline, a convolution, a fused block; an unfused block's depthwise and pointwise
    /// layer one step each), then the pool (with the softmax when there is no classifier)
    /// and the classifier (with the softmax), when the network has them.
    pub fn steps(&self) -> Vec<Step> {
        let specs = &self.network.layers;
        let step = |i: usize| {
            let s = &specs[i].spec;
            Step {
                name: s.name.clone(),
                kind: match s.kind {
                    LayerKind::Conv0 => StepKind::Conv0,
                    LayerKind::Depthwise => StepKind::Depthwise,
                    LayerKind::Pointwise => StepKind::Pointwise,
                },
                macs: s.macs(),
            }
        };
        let deep = self.depth_first_blocks();
        let mut steps = Vec::with_capacity(self.step_count);
        let mut skip = 0;
        if deep > 0 {
            steps.push(Step {
                name: format!("{}..{}", specs[0].spec.name, specs[2 * deep].spec.name),
                kind: StepKind::DepthFirst,
                macs: specs[..=2 * deep].iter().map(|l| l.spec.macs()).sum(),
            });
            skip = deep + 1;
        }
        for st in self.stages.iter().skip(skip) {
            let i = st.layer;
            match &st.op {
                Op::Block(b) if b.fused_bands.is_some() => {
                    let (dw, pw) = (&specs[i].spec, &specs[i + 1].spec);
                    steps.push(Step {
                        name: format!("{}+{}", dw.name, pw.name),
                        kind: StepKind::Fused,
                        macs: dw.macs() + pw.macs(),
                    });
                }
                Op::Block(_) => steps.extend([step(i), step(i + 1)]),
                _ => steps.push(step(i)),
            }
        }
        let (h, w, c) = self.network.features();
        if self.network.head.pool {
            steps.push(Step {
                name: "pool".into(),
                kind: StepKind::Pool,
                macs: h * w * c,
            });
        }
        if let Some(classes) = self.network.head.classes {
            steps.push(Step {
                name: "fc".into(),
                kind: StepKind::Fc,
                macs: c * classes,
            });
        }
        steps
    }

    /// `self.steps().len()`, without allocating.
    pub(super) fn step_count(&self) -> usize {
        self.step_count
    }
}

/// The clock of a run: each [`Laps::lap`] ends a step, and records its milliseconds in
/// the step's slot when the run is profiled.
pub(super) struct Laps<'a> {
    step_ms: Option<&'a mut [f64]>,
    clock: Instant,
    step: usize,
}

impl<'a> Laps<'a> {
    /// Starts the first step now.
    pub(super) fn start(step_ms: Option<&'a mut [f64]>) -> Self {
        Laps {
            step_ms,
            clock: Instant::now(),
            step: 0,
        }
    }

    /// Ends the current step and starts the next.
    pub(super) fn lap(&mut self) {
        if let Some(ms) = self.step_ms.as_deref_mut() {
            let now = Instant::now();
            ms[self.step] = (now - self.clock).as_secs_f64() * 1e3;
            self.clock = now;
        }
        self.step += 1;
    }
}
