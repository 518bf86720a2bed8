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
        params: *const f32,
    );
}

#[cfg(sepconv_asm)]
pub const NEON: GemmKernel = GemmKernel {
    ukernel: gemm_neon,
    mr: 8,
    nr: 8,
    name: "asm neon 8x8 (kernels/aarch64/gemm_neon.S)",
};
#[cfg(not(sepconv_asm))]
pub const NEON: super::GemmKernel = super::scalar::KERNEL;

/// Entry of the NEON kernel set.
#[cfg(sepconv_asm)]
pub fn gemm_neon(args: GemmArgs<'_, '_>) -> Result<()> {
    let (lda_bytes, ldc_bytes) = args.check(NEON.mr, NEON.nr)?;
    let params = [args.clamp.min, args.clamp.max];
    // SAFETY: NEON is baseline on AArch64 (and checked by `Isa::check` before the NEON
    // set is handed out). `check` above proved 1 <= mr <= 8, 1 <= nr <= 8, kc >= 1 and
    // that rows 0..mr of `a` (kc floats at stride lda), the (kc + 1) x 8 panel and rows
    // 0..mr of `c` (nr floats at stride ldc) lie inside their slices: exactly what the
    // routine reads and writes. `c` is an exclusive borrow, so it overlaps neither `a`
    // nor the panel.
    unsafe {
        sepconv_gemm_f32_8x8_neon(
            args.mr,
            args.nr,
            args.kc,
            args.a.as_ptr(),
            lda_bytes,
            args.panel.as_ptr(),
            args.c.as_mut_ptr(),
            ldc_bytes,
            params.as_ptr(),
        )
    }
    Ok(())
}
