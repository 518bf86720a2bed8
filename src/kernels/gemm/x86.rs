//! x86-64 GEMM microkernels: safe wrappers around the assembly in `kernels/x86_64/`:
//! the wide tiles `gemm_avx2.S` (6x16) and `gemm_avx512_14x32.S` (14x32, with
//! `gemm_avx512.S`'s 7x32 for the rows after whole tiles), and the narrow ones for
//! layers of few output channels, `gemm_avx2_12x8.S` (12x8, used by both sets) and
//! `gemm_avx512_12x16.S` (12x16). Without the assembly (Windows) the AVX sets use the
//! portable kernel instead.
//!
//! Each entry checks the CPU itself (a cached feature test, once per call of a whole
//! panel strip), so the safe functions are sound even when called outside a kernel set.

#[cfg(sepconv_asm)]
use super::{GemmArgs, GemmKernel};
#[cfg(sepconv_asm)]
use crate::{Error, Result};

#[cfg(sepconv_asm)]
macro_rules! asm_kernels {
    ($($name:ident),* $(,)?) => {
        extern "C" {
            $(
                fn $name(
                    mr: usize,
                    nr: usize,
                    kc: usize,
                    a: *const f32,
                    a_stride_bytes: usize,
                    w: *const f32,
                    c: *mut f32,
                    c_stride_bytes: usize,
                    params: *const super::AsmParams,
                );
            )*
        }
    };
}

#[cfg(sepconv_asm)]
asm_kernels!(
    sepconv_gemm_f32_6x16_avx2,
    sepconv_gemm_f32_12x8_avx2,
    sepconv_gemm_f32_7x32_avx512,
    sepconv_gemm_f32_12x16_avx512,
    sepconv_gemm_f32_14x32_avx512,
);

/// The AVX2 set's wide kernel.
#[cfg(sepconv_asm)]
pub const AVX2: GemmKernel = GemmKernel {
    ukernel: gemm_avx2,
    mr: 6,
    nr: 16,
    col_cost: 1.0,
    one_row: true,
    name: "asm avx2+fma 6x16 (kernels/x86_64/gemm_avx2.S)",
};
#[cfg(not(sepconv_asm))]
pub const AVX2: super::GemmKernel = super::scalar::KERNEL;

/// The AVX2 set's narrow kernel (8 columns).
#[cfg(sepconv_asm)]
pub const AVX2_12X8: GemmKernel = GemmKernel {
    ukernel: gemm_12x8_avx2,
    mr: 12,
    nr: 8,
    // benches/pointwise.rs on Zen 4: 65-80% of peak on full panels (12 broadcast loads per
    // 12 FMAs) against the 6x16's ~95%; at N = 24 it beats the 6x16 (76 vs 58 GFLOP/s).
    col_cost: 1.25,
    one_row: false,
    name: "asm avx2+fma 12x8 (kernels/x86_64/gemm_avx2_12x8.S)",
};

/// The AVX-512 set's wide kernel.
#[cfg(sepconv_asm)]
pub const AVX512: GemmKernel = GemmKernel {
    ukernel: gemm_avx512,
    mr: 14,
    nr: 32,
    col_cost: 1.0,
    one_row: true,
    name: "asm avx512f 14x32, 7x32 tail (kernels/x86_64/gemm_avx512_14x32.S, gemm_avx512.S)",
};
#[cfg(not(sepconv_asm))]
pub const AVX512: super::GemmKernel = super::scalar::KERNEL;

/// The AVX-512 set's narrow kernel of 16 columns.
#[cfg(sepconv_asm)]
pub const AVX512_12X16: GemmKernel = GemmKernel {
    ukernel: gemm_12x16_avx512,
    mr: 12,
    nr: 16,
    // As fast as the 7x32 on full panels (on Zen 4), but 12 aliased rows against 7 when M is tiny
    // (the batch-1 classifier, N = 1000: 9 vs 16 GFLOP/s): never chosen to save < 3%.
    col_cost: 1.03,
    one_row: false,
    name: "asm avx512f 12x16 (kernels/x86_64/gemm_avx512_12x16.S)",
};

/// The AVX-512 set's narrow kernel of 8 columns: the AVX2 12x8 tile (ymm FMAs issue at
/// twice the zmm rate where 512-bit ops are split, so it loses nothing per lane).
#[cfg(sepconv_asm)]
pub const AVX512_12X8: GemmKernel = GemmKernel {
    // Zen 4: 65-80% of peak against ~95% for the zmm tiles; at N = 24 on a par with the
    // 7x32 (76 vs 81 GFLOP/s), at N = 8 3x faster.
    col_cost: 1.35,
    one_row: false,
    ..AVX2_12X8
};

/// Narrow kernels of the AVX2 set, for [`crate::KernelSet::gemm_narrow`].
#[cfg(sepconv_asm)]
pub const AVX2_NARROW: &[GemmKernel] = &[AVX2_12X8];
#[cfg(not(sepconv_asm))]
pub const AVX2_NARROW: &[super::GemmKernel] = &[];

/// Narrow kernels of the AVX-512 set, for [`crate::KernelSet::gemm_narrow`].
#[cfg(sepconv_asm)]
pub const AVX512_NARROW: &[GemmKernel] = &[AVX512_12X16, AVX512_12X8];
#[cfg(not(sepconv_asm))]
pub const AVX512_NARROW: &[super::GemmKernel] = &[];

#[cfg(sepconv_asm)]
fn require(isa: &'static str, ok: bool, lacks: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::IsaUnavailable {
            isa,
            why: format!("this CPU lacks {lacks}"),
        })
    }
}

/// AVX2 and FMA, or the error saying which is missing.
#[cfg(sepconv_asm)]
fn require_avx2() -> Result<()> {
    let ok =
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    require("avx2", ok, "avx2 or fma")
}

/// AVX-512F, or the error saying it is missing.
#[cfg(sepconv_asm)]
fn require_avx512() -> Result<()> {
    require(
        "avx512",
        std::arch::is_x86_feature_detected!("avx512f"),
        "avx512f",
    )
}

/// Entry of the AVX2 6x16 kernel.
#[cfg(sepconv_asm)]
pub fn gemm_avx2(args: GemmArgs<'_, '_>) -> Result<()> {
    require_avx2()?;
    // SAFETY: the routine needs AVX2 and FMA, checked just above; it honours the 6x16
    // contract of `call_asm` (kernels/x86_64/gemm_avx2.S), which checks the rest.
    unsafe {
        super::call_asm(
            super::AsmTile {
                kernel: sepconv_gemm_f32_6x16_avx2,
                mr: AVX2.mr,
                prefetch_lines: 1,
            },
            None,
            AVX2.nr,
            args,
        )
    }
}

/// Entry of the AVX2 12x8 kernel (both x86 SIMD sets).
#[cfg(sepconv_asm)]
pub fn gemm_12x8_avx2(args: GemmArgs<'_, '_>) -> Result<()> {
    require_avx2()?;
    // SAFETY: the routine needs AVX2 and FMA, checked just above; it honours the 12x8
    // contract of `call_asm` (kernels/x86_64/gemm_avx2_12x8.S), which checks the rest.
    unsafe {
        super::call_asm(
            super::AsmTile {
                kernel: sepconv_gemm_f32_12x8_avx2,
                mr: AVX2_12X8.mr,
                prefetch_lines: 1,
            },
            None,
            AVX2_12X8.nr,
            args,
        )
    }
}

/// Entry of the AVX-512 wide kernel: whole tiles of 14 rows, then the rows left over (and
/// the batch-1 classifier's single row) in 7x32 tiles, whose short-tile and one-row loops
/// and weight prefetch suit them (the 14x32 has neither: dropping the 7x32's prefetch 8 KiB ahead
/// from L2-resident tiles was worth 1-5% in the network, while the classifier at 1.0-224
/// lost 10% without it).
#[cfg(sepconv_asm)]
pub fn gemm_avx512(args: GemmArgs<'_, '_>) -> Result<()> {
    require_avx512()?;
    // SAFETY: both routines need AVX-512F, checked just above; the 14x32 honours the
    // contract of `call_asm` for exactly 14 rows (kernels/x86_64/gemm_avx512_14x32.S),
    // which `call_asm` passes it when a tail tile is given, and the 7x32 for 1..=7 rows
    // (kernels/x86_64/gemm_avx512.S); `call_asm` checks the rest.
    unsafe {
        super::call_asm(
            super::AsmTile {
                kernel: sepconv_gemm_f32_14x32_avx512,
                mr: AVX512.mr,
                prefetch_lines: 2,
            },
            Some(super::AsmTile {
                kernel: sepconv_gemm_f32_7x32_avx512,
                mr: 7,
                prefetch_lines: 1,
            }),
            AVX512.nr,
            args,
        )
    }
}

/// Entry of the AVX-512 12x16 kernel.
#[cfg(sepconv_asm)]
pub fn gemm_12x16_avx512(args: GemmArgs<'_, '_>) -> Result<()> {
    require_avx512()?;
    // SAFETY: the routine needs AVX-512F, checked just above; it honours the 12x16
    // contract of `call_asm` (kernels/x86_64/gemm_avx512_12x16.S), which checks the rest.
    unsafe {
        super::call_asm(
            super::AsmTile {
                kernel: sepconv_gemm_f32_12x16_avx512,
                mr: AVX512_12X16.mr,
                prefetch_lines: 1,
            },
            None,
            AVX512_12X16.nr,
            args,
        )
    }
}
