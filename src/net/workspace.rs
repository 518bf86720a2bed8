//! [`Workspace`]: the per-call scratch of a model, its regions placed in one page-aligned
//! buffer so that each layer's output lies an odd number of cache lines from its input
//! (see `buffer`).

use super::buffer::place;
use super::model::Model;
use crate::memory::{split_parts, PageBuf};
use crate::ops::pointwise::PackedGemmB;
use crate::{Error, Result};
use std::ops::Range;

/// Bytes past a 4 KiB boundary at which pong starts (ping starts on one): 33 cache lines,
/// so that a layer's output lies an odd number of lines from its input whichever of the
/// two it reads (33 lines from ping to pong, 64 - 33 = 31 from pong to ping).
const PONG_PHASE: usize = 33 * 64;

/// Bytes past a 4 KiB boundary at which an NCHW input's NHWC copy starts: 17 cache lines,
/// an odd number from ping, which conv0 writes while it reads the copy.
const NHWC_PHASE: usize = 17 * 64;

const _: () = assert!(PONG_PHASE / 64 % 2 == 1 && NHWC_PHASE / 64 % 2 == 1);

/// The regions of a workspace, in the order they sit in its buffer: their ranges, their
/// lengths, or the slices themselves.
#[derive(Clone, Copy, Debug)]
pub(super) struct Regions<T> {
    /// Activations: each layer reads one of ping and pong and writes the other.
    pub(super) ping: T,
    pub(super) pong: T,
    /// An NCHW input's NHWC copy.
    pub(super) nhwc: T,
    /// The pooled features: the classifier's rows of A, at its stride.
    pub(super) pooled: T,
    /// One fused band of depthwise output per thread.
    pub(super) bands: T,
    /// One depth-first pipeline's windows per thread.
    pub(super) deep: T,
}

impl<T> Regions<T> {
    fn from_array([ping, pong, nhwc, pooled, bands, deep]: [T; 6]) -> Self {
        Regions {
            ping,
            pong,
            nhwc,
            pooled,
            bands,
            deep,
        }
    }

    fn into_array(self) -> [T; 6] {
        [
            self.ping,
            self.pong,
            self.nhwc,
            self.pooled,
            self.bands,
            self.deep,
        ]
    }
}

/// Per-call scratch for one batch size: activation ping-pong buffers, fused bands and
/// depth-first windows per thread. One per thread that calls `run`.
pub struct Workspace {
    batch: usize,
    /// Every region, in one page-aligned allocation (huge pages where it is large).
    mem: PageBuf,
    /// Where each region sits in `mem`.
    regions: Regions<Range<usize>>,
}

impl Workspace {
    /// The largest batch this workspace can run.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Whether every region holds at least the floats of `need`.
    pub(super) fn holds(&self, need: Regions<usize>) -> bool {
        let have = self.regions.clone().into_array();
        have.iter()
            .zip(need.into_array())
            .all(|(r, n)| r.len() >= n)
    }

    /// The regions, as disjoint slices of the buffer.
    pub(super) fn split(&mut self) -> Regions<&mut [f32]> {
        let ranges = self.regions.clone().into_array();
        Regions::from_array(split_parts(self.mem.as_mut_slice(), &ranges))
    }
}

impl Model {
    /// Floats of each region for batches of up to `batch` images, or `None` if that
    /// overflows.
    pub(super) fn region_lens(&self, batch: usize) -> Option<Regions<usize>> {
        let act = self.max_activation.checked_mul(batch)?;
        Some(Regions {
            ping: act,
            pong: act,
            nhwc: self.input_len().checked_mul(batch)?,
            pooled: self
                .fc
                .as_ref()
                .map_or(0, PackedGemmB::a_stride)
                .checked_mul(batch)?,
            bands: self.band_len.checked_mul(self.threads)?,
            deep: self.deep_len().checked_mul(self.threads)?,
        })
    }

    /// Scratch for batches of up to `batch` images (allocates; do it once per thread).
    pub fn workspace(&self, batch: usize) -> Result<Workspace> {
        if batch == 0 {
            return Err(Error::Shape("workspace batch must be at least 1".into()));
        }
        let too_big = || Error::Shape(format!("batch {batch} is too large for memory"));
        let lens = self.region_lens(batch).ok_or_else(too_big)?;
        // Pong and the NHWC copy at their phases, the others on a page boundary.
        let phases = Regions {
            ping: 0,
            pong: PONG_PHASE,
            nhwc: NHWC_PHASE,
            pooled: 0,
            bands: 0,
            deep: 0,
        };
        let (lens, phases) = (lens.into_array(), phases.into_array());
        let parts = std::array::from_fn(|i| (lens[i], phases[i]));
        let (ranges, len) = place(parts).ok_or_else(too_big)?;
        Ok(Workspace {
            batch,
            mem: PageBuf::zeroed(len).ok_or_else(too_big)?,
            regions: Regions::from_array(ranges),
        })
    }
}
