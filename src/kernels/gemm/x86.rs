//! x86-64 GEMM microkernels: safe wrappers around `kernels/x86_64/gemm_avx2.S` (6x16) and
//! `kernels/x86_64/gemm_avx512.S` (7x32). Without the assembly (Windows) the AVX sets use
//! the portable kernel instead.

#[cfg(sepconv_asm)]
use super::{GemmArgs, GemmKernel};
#[cfg(sepconv_asm)]
use crate::Result;

#[cfg(sepconv_asm)]
extern "C" {
    fn sepconv_gemm_f32_6x16_avx2(
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
    fn sepconv_gemm_f32_7x32_avx512(
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
pub const AVX2: GemmKernel = GemmKernel {
    ukernel: gemm_avx2,
    mr: 6,
    nr: 16,
    name: "asm avx2+fma 6x16 (kernels/x86_64/gemm_avx2.S)",
};
#[cfg(not(sepconv_asm))]
pub const AVX2: super::GemmKernel = super::scalar::KERNEL;

#[cfg(sepconv_asm)]
pub const AVX512: GemmKernel = GemmKernel {
    ukernel: gemm_avx512,
    mr: 7,
    nr: 32,
    name: "asm avx512f 7x32 (kernels/x86_64/gemm_avx512.S)",
};
#[cfg(not(sepconv_asm))]
pub const AVX512: super::GemmKernel = super::scalar::KERNEL;

/// Entry of the AVX2 kernel set.
#[cfg(sepconv_asm)]
pub fn gemm_avx2(args: GemmArgs<'_, '_>) -> Result<()> {
    // SAFETY: the routine needs AVX2 and FMA, which the AVX2 kernel set holding this entry
    // guarantees (`kernels::kernel_set` hands it out only after `Isa::check`); `call_asm`
    // checks the rest.
    unsafe { super::call_asm(sepconv_gemm_f32_6x16_avx2, AVX2.mr, AVX2.nr, args) }
}

/// Entry of the AVX-512 kernel set.
#[cfg(sepconv_asm)]
pub fn gemm_avx512(args: GemmArgs<'_, '_>) -> Result<()> {
    // SAFETY: the routine needs AVX-512F, which the AVX-512 kernel set holding this entry
    // guarantees (`kernels::kernel_set` hands it out only after `Isa::check`); `call_asm`
    // checks the rest.
    unsafe { super::call_asm(sepconv_gemm_f32_7x32_avx512, AVX512.mr, AVX512.nr, args) }
}
