//! AArch64 GEMM microkernel: safe wrapper around `kernels/aarch64/gemm_neon.S` (8x8).
//! Without the assembly (Windows on Arm) there is no NEON entry: the portable kernel runs.

#[cfg(sepconv_asm)]
use super::{GemmArgs, GemmKernel};
#[cfg(sepconv_asm)]
use crate::kernels::cpu::{self, Features, Isa};
#[cfg(sepconv_asm)]
use crate::kernels::table::KernelId;
#[cfg(sepconv_asm)]
use crate::Result;

#[cfg(sepconv_asm)]
extern "C" {
    fn sepconv_gemm_f32_8x8_neon(
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
}

#[cfg(sepconv_asm)]
pub const NEON_8X8: GemmKernel = GemmKernel {
    id: KernelId {
        name: "f32_gemm_8x8_neon",
        isa: Isa::Neon,
        features: Features::NONE,
        detail: "asm neon, kernels/aarch64/gemm_neon.S",
    },
    ukernel: gemm_neon,
    mr: 8,
    nr: 8,
    costs: &[(Isa::Neon, 1.0)],
    one_row: false,
};

/// Entry of [`NEON_8X8`].
#[cfg(sepconv_asm)]
pub fn gemm_neon(args: GemmArgs<'_, '_>) -> Result<()> {
    cpu::require(&NEON_8X8.id)?;
    // SAFETY: the routine needs NEON, checked just above (baseline on AArch64);
    // `call_asm` checks the rest.
    unsafe {
        super::call_asm(
            super::AsmTile {
                kernel: sepconv_gemm_f32_8x8_neon,
                mr: NEON_8X8.mr,
                prefetch_lines: 1,
            },
            None,
            NEON_8X8.nr,
            args,
        )
    }
}
