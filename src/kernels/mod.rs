//! The Rust side of the microkernels: one module per op, one file per ISA, plus the safe
//! wrappers around the assembly in `/kernels`. [`KernelSet`] gathers one ISA's entries as
//! plain function pointers, like XNNPACK's hardware config.

pub mod clamp;
pub mod conv0;
pub mod dwconv;
pub mod gemm;
pub mod mat;
pub mod peak;
pub mod prefetch;

use crate::activation::Clamp;
use crate::isa::Isa;
use crate::Result;

/// One ISA's kernels (not constructible outside the crate). Obtained only through [`kernel_set`] / [`selected_kernel_set`], which
/// check that the CPU runs the ISA: that check is what makes calling the ISA-specific
/// entries sound.
#[derive(Debug)]
#[non_exhaustive]
pub struct KernelSet {
    pub isa: Isa,
    /// In-place clamp of a buffer (the activation epilogue on its own).
    pub clamp: fn(&mut [f32], Clamp),
    /// Which implementation `clamp` is, for `sepconv info`.
    pub clamp_impl: &'static str,
    /// The GEMM microkernel of the pointwise layers: entry, MR x NR tile and name.
    pub gemm: gemm::GemmKernel,
    /// Narrower GEMM kernels for layers of few output channels (or whose width the wide
    /// NR does not divide); `ops::pointwise::PackedGemmB::new` picks among `gemm` and
    /// these per layer by padded width x `col_cost`.
    pub gemm_narrow: &'static [gemm::GemmKernel],
    /// Depthwise 3x3: output rows of one channel block (see [`dwconv::DwRows`]).
    pub dw3x3: dwconv::DwRowsFn,
    /// Channels per depthwise block (the packing width of `ops::depthwise`).
    pub dw3x3_block: usize,
    /// Which implementation `dw3x3` is, for `sepconv info`.
    pub dw3x3_impl: &'static str,
    /// The first layer (3x3 stride 2 from 3 channels), one output row per call.
    pub conv0: conv0::Conv0Kernel,
}

static SCALAR: KernelSet = KernelSet {
    isa: Isa::Scalar,
    clamp: clamp::scalar::clamp,
    clamp_impl: "rust",
    gemm: gemm::scalar::KERNEL,
    gemm_narrow: &[],
    dw3x3: dwconv::scalar::rows,
    dw3x3_block: dwconv::scalar::BLOCK,
    dw3x3_impl: dwconv::scalar::IMPL,
    conv0: conv0::SCALAR,
};

#[cfg(target_arch = "x86_64")]
static AVX2: KernelSet = KernelSet {
    isa: Isa::Avx2,
    clamp: clamp::x86::clamp_avx,
    clamp_impl: clamp::x86::IMPL,
    gemm: gemm::x86::AVX2,
    gemm_narrow: gemm::x86::AVX2_NARROW,
    dw3x3: dwconv::avx2::rows,
    dw3x3_block: dwconv::avx2::BLOCK,
    dw3x3_impl: dwconv::avx2::IMPL,
    conv0: conv0::x86::AVX2,
};

#[cfg(target_arch = "x86_64")]
static AVX512: KernelSet = KernelSet {
    isa: Isa::Avx512,
    clamp: clamp::x86::clamp_avx,
    clamp_impl: clamp::x86::IMPL,
    gemm: gemm::x86::AVX512,
    gemm_narrow: gemm::x86::AVX512_NARROW,
    dw3x3: dwconv::avx512::rows,
    dw3x3_block: dwconv::avx512::BLOCK,
    dw3x3_impl: dwconv::avx512::IMPL,
    conv0: conv0::x86::AVX512,
};

#[cfg(target_arch = "aarch64")]
static NEON: KernelSet = KernelSet {
    isa: Isa::Neon,
    clamp: clamp::neon::clamp_neon,
    clamp_impl: clamp::neon::IMPL,
    gemm: gemm::neon::NEON,
    gemm_narrow: &[],
    dw3x3: dwconv::neon::rows,
    dw3x3_block: dwconv::neon::BLOCK,
    dw3x3_impl: dwconv::neon::IMPL,
    conv0: conv0::neon::NEON,
};

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

/// The kernel set of `isa`, or an error naming why this CPU cannot run it.
pub fn kernel_set(isa: Isa) -> Result<&'static KernelSet> {
    isa.check()?;
    Ok(match isa {
        Isa::Scalar => &SCALAR,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => &AVX2,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => &AVX512,
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => &NEON,
        // `check` refused ISAs of other architectures above.
        #[allow(unreachable_patterns)]
        _ => &SCALAR,
    })
}

/// The kernel set of [`Isa::selected`] (detected, or forced by `SEPCONV_ISA`).
pub fn selected_kernel_set() -> Result<&'static KernelSet> {
    kernel_set(Isa::selected()?)
}
