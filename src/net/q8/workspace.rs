//! [`Q8Workspace`]: the per-call buffers of a [`Q8Model`] run, made once per thread that
//! calls it, so that a run allocates nothing.

use super::model::Q8Model;
use crate::{Error, Result};

/// Slack after each activation: the GEMM reads K rounded up to its groups.
pub(super) const SLACK: usize = 64;

/// The buffers of [`Q8Model::run`] for batches up to `batch`.
pub struct Q8Workspace {
    pub(super) batch: usize,
    /// The activations: each layer reads one and writes the other.
    pub(super) a: Vec<u8>,
    pub(super) b: Vec<u8>,
    /// One im2col band per thread.
    pub(super) scratch: Vec<u8>,
    /// The pool's per-channel sums.
    pub(super) sums: Vec<i32>,
    /// The classifier's accumulators, panel after panel: `[panel][image][nr]`.
    pub(super) acc: Vec<i32>,
}

/// The length of each buffer for one batch size.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Lens {
    act: usize,
    scratch: usize,
    sums: usize,
    acc: usize,
}

impl Q8Workspace {
    /// The largest batch this workspace can run.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Whether every buffer holds what `need` says.
    pub(super) fn holds(&self, need: Lens) -> bool {
        self.a.len() >= need.act
            && self.b.len() >= need.act
            && self.scratch.len() >= need.scratch
            && self.sums.len() >= need.sums
            && self.acc.len() >= need.acc
    }
}

impl Q8Model {
    /// The buffers' lengths for batches of up to `batch`, `None` if that overflows.
    pub(super) fn lens(&self, batch: usize) -> Option<Lens> {
        let net = &self.q.network;
        let acc = self
            .fc
            .as_ref()
            .map_or(Some(0), |b| (b.panels() * b.kernel().nr).checked_mul(batch))?;
        Some(Lens {
            act: batch.checked_mul(self.max_act)?.checked_add(SLACK)?,
            scratch: self.scratch.checked_mul(self.threads)?,
            sums: net.features().2,
            acc,
        })
    }

    /// Buffers for batches of up to `batch` images (allocates; once per calling thread).
    pub fn workspace(&self, batch: usize) -> Result<Q8Workspace> {
        if batch == 0 {
            return Err(Error::Shape("batch must be at least 1".into()));
        }
        let l = self
            .lens(batch)
            .ok_or_else(|| Error::Shape(format!("batch {batch} is too large")))?;
        Ok(Q8Workspace {
            batch,
            a: vec![0; l.act],
            b: vec![0; l.act],
            scratch: vec![0; l.scratch],
            sums: vec![0; l.sums],
            acc: vec![0; l.acc],
        })
    }
}
