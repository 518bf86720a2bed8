//! How a model runs ([`Options`], [`Fuse`]), and the tuning constants behind the schedule
//! that [`Model::build`](super::Model::build) picks from them, each with its reason.

use crate::kernels::cpu::Cpu;
use crate::{Error, Result};

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

/// Depthwise -> pointwise fusion: a band of depthwise output rows goes from the cache
/// straight into the GEMM instead of through a whole activation. Results are identical
/// either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fuse {
    /// On more than one thread, fuse every block of at least 64 output pixels and split
    /// the pointwise layer of smaller ones by columns; on one thread fuse none. Where it
    /// was measured faster (docs/performance.md): at 2 threads fusing saves one
    /// hand-off per block and keeps each thread's rows in its own cache, but 7 rows do not
    /// split evenly over 2 threads, while columns do; at 1 thread the unfused layers run
    /// from L2/L3 as fast or faster.
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

/// Automatic depth-first execution covers the leading blocks whose input activation (one
/// image) is at least this big: those whose layers, run one after the other, would write
/// and read back activations that do not fit in L2. At 1.0-224 (inputs 1.6, 3.2, 1.6,
/// 1.6, then 0.8 MB: 4 blocks) conv0 to pw4 ran faster so at 1 and 2 threads, and
/// stopping after 3 blocks or going on to 5 was slower at 1 thread; 0.5-160 and 0.25-128
/// (at most 0.8 MB) were no faster depth-first (docs/performance.md).
pub const DEPTH_FIRST_MIN_BYTES: usize = 1 << 20;

/// Target size of one fused band of depthwise output (whole rows, at least one): it stays
/// in L1/L2 while the GEMM reads it once per B panel.
pub(super) const FUSE_BAND_BYTES: usize = 48 << 10;

/// Fewest GEMM rows per fused band: each band streams the whole B once.
pub(super) const FUSE_MIN_ROWS: usize = 48;

/// At > 1 thread, blocks of fewer output pixels per image (7x7, 5x5, 4x4) run unfused with
/// the pointwise layer split by columns: at 2 threads, 0.5-160 and 0.25-128 ran faster
/// with this threshold than with every block fused or with 128, which splits 10x10 by
/// columns too (docs/performance.md).
pub(super) const COLUMNS_BELOW_PIXELS: usize = 64;

/// Output rows of conv0 per task (and per depth-first step): enough work per task to
/// amortize taking it, small enough to split 112 rows evenly over threads.
pub(super) const CONV0_ROWS_PER_STEP: usize = 4;

/// Steps of at least this many multiply-adds are split into several tasks per thread.
pub(super) const BIG_STEP_MACS: usize = 4 << 20;
