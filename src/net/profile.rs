//! The timed steps of [`Model::run_profiled`]: what they are ([`Step`], [`Model::steps`])
//! and the clock that times them ([`Laps`]).

use super::config::{LayerKind, LayerSpec};
use super::model::Model;
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

    /// `self.steps().len()`, without allocating.
    pub(super) fn step_count(&self) -> usize {
        let deep = self.depth_first_blocks();
        let fused = self.blocks[deep..]
            .iter()
            .filter(|b| b.fused_bands.is_some())
            .count();
        self.specs.len() + 2 - fused - 2 * deep
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
