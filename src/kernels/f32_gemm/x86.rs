//! x86-64 GEMM microkernels: safe wrappers around the assembly in `kernels/x86_64/`:
//! the wide tiles `gemm_avx2.S` (6x16) and `gemm_avx512_14x32.S` (14x32, with
//! `gemm_avx512.S`'s 7x32 for the rows after whole tiles), and the AVX-512 narrow one
//! for layers of few output channels, `gemm_avx512_12x16.S` (12x16). Without the
//! assembly (Windows) there are no x86 entries and both rungs use the portable kernel.
//!
//! Each entry checks the CPU itself (a cached feature test, once per call of a whole
//! panel strip), so the safe functions are sound whoever calls them.

#[cfg(sepconv_asm)]
use super::{GemmArgs, GemmKernel};
#[cfg(sepconv_asm)]
use crate::kernels::cpu::{self, Features, Isa};
#[cfg(sepconv_asm)]
use crate::kernels::table::KernelId;
#[cfg(sepconv_asm)]
use crate::Result;

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
    sepconv_gemm_f32_7x32_avx512,
    sepconv_gemm_f32_12x16_avx512,
    sepconv_gemm_f32_14x32_avx512,
);

/// The AVX2 wide tile.
#[cfg(sepconv_asm)]
pub const AVX2_6X16: GemmKernel = GemmKernel {
    id: KernelId {
        name: "f32_gemm_6x16_avx2",
        isa: Isa::Avx2,
        features: Features::NONE,
        detail: "asm avx2+fma, kernels/x86_64/gemm_avx2.S",
    },
    ukernel: gemm_avx2,
    mr: 6,
    nr: 16,
    costs: &[(Isa::Avx2, 1.0)],
    one_row: true,
};

/// The AVX-512 wide tile.
#[cfg(sepconv_asm)]
pub const AVX512_14X32: GemmKernel = GemmKernel {
    id: KernelId {
        name: "f32_gemm_14x32_avx512",
        isa: Isa::Avx512,
        features: Features::NONE,
        detail: "asm avx512f, kernels/x86_64/gemm_avx512_14x32.S; the rows after whole \
                 tiles and single rows in 7x32 tiles, kernels/x86_64/gemm_avx512.S",
    },
    ukernel: gemm_avx512,
    mr: 14,
    nr: 32,
    costs: &[(Isa::Avx512, 1.0)],
    one_row: true,
};

/// The AVX-512 16-column tile: as fast as the 7x32 on full panels, but its 12 rows alias
/// where M is tiny (the batch-1 classifier), so its cost keeps it from being chosen to
/// save less than 3%.
#[cfg(sepconv_asm)]
pub const AVX512_12X16: GemmKernel = GemmKernel {
    id: KernelId {
        name: "f32_gemm_12x16_avx512",
        isa: Isa::Avx512,
        features: Features::NONE,
        detail: "asm avx512f, kernels/x86_64/gemm_avx512_12x16.S",
    },
    ukernel: gemm_12x16_avx512,
    mr: 12,
    nr: 16,
    costs: &[(Isa::Avx512, 1.03)],
    one_row: false,
};

/// Entry of the AVX2 6x16 kernel.
#[cfg(sepconv_asm)]
pub fn gemm_avx2(args: GemmArgs<'_, '_>) -> Result<()> {
    cpu::require(&AVX2_6X16.id)?;
    // SAFETY: the routine needs AVX2 and FMA, checked just above; it honours the 6x16
    // contract of `call_asm` (kernels/x86_64/gemm_avx2.S), which checks the rest.
    unsafe {
        super::call_asm(
            super::AsmTile {
                kernel: sepconv_gemm_f32_6x16_avx2,
                mr: AVX2_6X16.mr,
                prefetch_lines: 1,
            },
            None,
            AVX2_6X16.nr,
            args,
        )
    }
}

/// Entry of the AVX-512 wide kernel: whole tiles of 14 rows, then the rows left over (and
/// the batch-1 classifier's single row) in 7x32 tiles, whose short-tile and one-row loops
/// and weight prefetch suit them (the 14x32 has neither: its tiles read L2-resident panels,
/// where the prefetch only costs, while the one-row classifier streams its weights and
/// needs it; docs/performance.md).
#[cfg(sepconv_asm)]
pub fn gemm_avx512(args: GemmArgs<'_, '_>) -> Result<()> {
    cpu::require(&AVX512_14X32.id)?;
    // SAFETY: both routines need AVX-512F, checked just above; the 14x32 honours the
    // contract of `call_asm` for exactly 14 rows (kernels/x86_64/gemm_avx512_14x32.S),
    // which `call_asm` passes it when a tail tile is given, and the 7x32 for 1..=7 rows
    // (kernels/x86_64/gemm_avx512.S); `call_asm` checks the rest.
    unsafe {
        super::call_asm(
            super::AsmTile {
                kernel: sepconv_gemm_f32_14x32_avx512,
                mr: AVX512_14X32.mr,
                prefetch_lines: 2,
            },
            Some(super::AsmTile {
                kernel: sepconv_gemm_f32_7x32_avx512,
                mr: 7,
                prefetch_lines: 1,
            }),
            AVX512_14X32.nr,
            args,
        )
    }
}

/// Entry of the AVX-512 12x16 kernel.
#[cfg(sepconv_asm)]
pub fn gemm_12x16_avx512(args: GemmArgs<'_, '_>) -> Result<()> {
    cpu::require(&AVX512_12X16.id)?;
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
