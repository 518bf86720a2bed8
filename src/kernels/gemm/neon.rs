//! AArch64 GEMM microkernel: safe wrapper around `kernels/aarch64/gemm_neon.S` (8x8).
//! Without the assembly (Windows on Arm) the NEON set uses the portable kernel.

#[cfg(sepconv_asm)]
use super::{GemmArgs, GemmKernel};
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
pub const NEON: GemmKernel = GemmKernel {
    ukernel: gemm_neon,
    mr: 8,
    nr: 8,
    col_cost: 1.0,
    one_row: false,
    name: "asm neon 8x8 (kernels/aarch64/gemm_neon.S)",
};
#[cfg(not(sepconv_asm))]
pub const NEON: super::GemmKernel = super::scalar::KERNEL;

/// Entry of the NEON kernel set.
#[cfg(sepconv_asm)]
pub fn gemm_neon(args: GemmArgs<'_, '_>) -> Result<()> {
    // SAFETY: the routine needs NEON, baseline on AArch64 and checked by `Isa::check`
    // before the NEON set is handed out; `call_asm` checks the rest.
    unsafe {
        super::call_asm(
            super::AsmTile {
                kernel: sepconv_gemm_f32_8x8_neon,
                mr: NEON.mr,
                prefetch_lines: 1,
            },
            None,
            NEON.nr,
            args,
        )
    }
}
