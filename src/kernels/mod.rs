//! The kernels: one folder per data type and op (`f32_gemm`, `f32_dwconv`, `f32_conv0`,
//! `f32_clamp`), each with its descriptor type and its table of kernels, best first (the
//! only place that holds the op's ISA policy), and one file per ISA beside it; the
//! assembly behind the wrappers is in `/kernels`. `cpu` is the one table of base ISAs and
//! CPU features; `simd` the vector abstraction the direct convolutions are written over.
//! A [`KernelSet`] is what the tables pick for one [`Cpu`].

pub mod cpu;
pub mod f32_clamp;
pub mod f32_conv0;
pub mod f32_dwconv;
pub mod f32_gemm;
pub mod mat;
pub mod peak;
pub mod peak_q8;
pub mod prefetch;
pub mod q8_conv0;
pub mod q8_dwconv;
pub mod q8_gemm;
pub(crate) mod simd;
pub mod table;

use crate::Result;
pub use cpu::{Cpu, Feature, Features, Isa};
use f32_clamp::ClampKernel;
use f32_conv0::Conv0Kernel;
use f32_dwconv::DwKernel;
use f32_gemm::GemmKernel;
use q8_conv0::Q8Conv0Kernel;
use q8_dwconv::Q8DwKernel;
use q8_gemm::Q8GemmKernel;
use std::sync::{Mutex, OnceLock};
pub use table::{Kernel, KernelId};

/// The kernels the tables pick for one [`Cpu`], one field per op. Obtained through
/// [`kernel_set`] / [`selected_kernel_set`], which check that the CPU is this one's.
#[derive(Debug)]
#[non_exhaustive]
pub struct KernelSet {
    /// What the kernels were picked for.
    pub cpu: Cpu,
    /// In-place clamp of a buffer (the activation epilogue on its own).
    pub clamp: &'static ClampKernel,
    /// The rung whose GEMM tiles `gemm` and `gemm_narrow` are (see [`f32_gemm::candidates`]).
    pub gemm_rung: Isa,
    /// The wide GEMM microkernel of the pointwise layers.
    pub gemm: &'static GemmKernel,
    /// Narrower GEMM kernels for layers of few output channels (or whose width the wide
    /// NR does not divide); `ops::pointwise::PackedGemmB::new` picks among `gemm` and
    /// these per layer by padded width x [`GemmKernel::col_cost`].
    pub gemm_narrow: &'static [&'static GemmKernel],
    /// Depthwise 3x3: output rows of one channel block (see [`f32_dwconv::DwRows`]).
    pub dw3x3: &'static DwKernel,
    /// The first layer (3x3 stride 2 from 3 channels), best first: [`KernelSet::conv0`]
    /// picks by channel count.
    pub conv0: &'static [&'static Conv0Kernel],
    /// The int8 GEMM of the q8 pointwise layers, conv0 (through im2col) and classifier.
    pub q8_gemm: &'static Q8GemmKernel,
    /// The int8 depthwise 3x3 (stride 1 and 2) of the q8 network.
    pub q8_dw3x3: &'static Q8DwKernel,
    /// The int8 direct conv0 (3x3 from 1..=4 channels, quantizing an f32 input as it
    /// reads it), where one beats im2col + `q8_gemm` (`q8_conv0::best`).
    pub q8_conv0: Option<&'static Q8Conv0Kernel>,
}

impl KernelSet {
    fn pick(cpu: Cpu) -> KernelSet {
        let (gemm_rung, gemm) = f32_gemm::candidates(cpu);
        // The entries it runs up to the first that takes any channel count.
        let mut conv0: Vec<&'static Conv0Kernel> = Vec::new();
        for k in f32_conv0::TABLE.iter().filter(|k| k.id.runs_on(cpu)) {
            conv0.push(k);
            if k.max_out_c == usize::MAX {
                break;
            }
        }
        KernelSet {
            cpu,
            clamp: table::best(f32_clamp::TABLE, cpu, |_| true)
                .unwrap_or(&f32_clamp::scalar::SCALAR),
            gemm_rung,
            gemm: gemm[0],
            gemm_narrow: Vec::leak(gemm[1..].to_vec()),
            dw3x3: f32_dwconv::best(cpu),
            conv0: Vec::leak(conv0),
            q8_gemm: q8_gemm::best(cpu),
            q8_dw3x3: q8_dwconv::best(cpu),
            q8_conv0: q8_conv0::best(cpu),
        }
    }

    /// Every GEMM kernel of the set, the wide one first.
    pub fn gemms(&self) -> impl Iterator<Item = &'static GemmKernel> + '_ {
        std::iter::once(self.gemm).chain(self.gemm_narrow.iter().copied())
    }

    /// The conv0 kernel for a layer of `out_c` output channels.
    pub fn conv0(&self, out_c: usize) -> &'static Conv0Kernel {
        self.conv0
            .iter()
            .copied()
            .find(|k| out_c <= k.max_out_c)
            .unwrap_or(&f32_conv0::SCALAR)
    }

    /// The base ISA the set was picked for.
    pub fn isa(&self) -> Isa {
        self.cpu.isa
    }

    /// Every kernel of the set, for `sepconv info`.
    pub fn ids(&self) -> Vec<(&'static str, &'static KernelId)> {
        let mut ids = vec![("clamp", &self.clamp.id)];
        ids.extend(self.gemms().map(|g| ("gemm", &g.id)));
        ids.push(("dw3x3", &self.dw3x3.id));
        ids.extend(self.conv0.iter().map(|k| ("conv0", &k.id)));
        ids.push(("q8 gemm", &self.q8_gemm.id));
        ids.push(("q8 dw3x3", &self.q8_dw3x3.id));
        ids.extend(self.q8_conv0.iter().map(|k| ("q8 conv0", &k.id)));
        ids
    }
}

/// Every kernel of every table: for tests, `sepconv info --all` and docs/kernels.md.
pub fn all_kernels() -> Vec<&'static KernelId> {
    let mut ids: Vec<&'static KernelId> = Vec::new();
    ids.extend(f32_clamp::TABLE.iter().map(|k| &k.id));
    ids.extend(f32_gemm::TABLE.iter().map(|k| &k.id));
    ids.extend(f32_dwconv::TABLE.iter().map(|k| &k.id));
    ids.extend(f32_conv0::TABLE.iter().map(|k| &k.id));
    ids.extend(q8_gemm::TABLE.iter().map(|k| &k.id));
    ids.extend(q8_dwconv::TABLE.iter().map(|k| &k.id));
    ids.extend(q8_conv0::TABLE.iter().map(|k| &k.id));
    ids
}

/// Packs per-channel filters for the direct-convolution kernels (depthwise, conv0):
/// `weights` holds `taps` floats per channel, `bias` one. Per block of `block` channels:
/// the bias vector, then one vector per tap, each zero-padded to `block` lanes, so a
/// kernel loads whole vectors even in the last, partial block.
pub(crate) fn pack_channel_blocks(
    block: usize,
    taps: usize,
    channels: usize,
    weights: &[f32],
    bias: &[f32],
) -> Vec<f32> {
    let stride = (1 + taps) * block;
    let mut packed = vec![0.0; channels.div_ceil(block) * stride];
    for (ch, &b) in bias.iter().enumerate().take(channels) {
        let base = ch / block * stride + ch % block;
        packed[base] = b;
        for (tap, &w) in weights[ch * taps..(ch + 1) * taps].iter().enumerate() {
            packed[base + (tap + 1) * block] = w;
        }
    }
    packed
}

/// The kernel set of `cpu` (an [`Isa`] means that rung with every feature this CPU has
/// there), or an error naming why this CPU cannot run it. Sets are picked once per
/// `Cpu` and live for the process.
pub fn kernel_set(cpu: impl Into<CpuRequest>) -> Result<&'static KernelSet> {
    let cpu = cpu.into().resolve()?;
    static SETS: OnceLock<Mutex<Vec<&'static KernelSet>>> = OnceLock::new();
    let mut sets = SETS
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(set) = sets.iter().find(|s| s.cpu == cpu) {
        return Ok(set);
    }
    // At most one set per distinct `Cpu` (a rung and a subset of its few features).
    let set: &'static KernelSet = Box::leak(Box::new(KernelSet::pick(cpu)));
    sets.push(set);
    Ok(set)
}

/// What [`kernel_set`] takes: a whole [`Cpu`] or a base [`Isa`].
#[derive(Clone, Copy, Debug)]
pub enum CpuRequest {
    Cpu(Cpu),
    Isa(Isa),
}

impl CpuRequest {
    fn resolve(self) -> Result<Cpu> {
        match self {
            CpuRequest::Cpu(cpu) => cpu.check().map(|()| cpu),
            CpuRequest::Isa(isa) => Cpu::with_isa(isa),
        }
    }
}

impl From<Cpu> for CpuRequest {
    fn from(cpu: Cpu) -> Self {
        CpuRequest::Cpu(cpu)
    }
}

impl From<Isa> for CpuRequest {
    fn from(isa: Isa) -> Self {
        CpuRequest::Isa(isa)
    }
}

/// The kernel set of [`Cpu::selected`] (detected, or forced by `SEPCONV_ISA`).
pub fn selected_kernel_set() -> Result<&'static KernelSet> {
    kernel_set(Cpu::selected()?)
}
