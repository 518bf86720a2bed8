//! NEON clamp: the assembly routine `kernels/aarch64/clamp_neon.S` where it was built, else
//! portable Rust (which the compiler vectorises with NEON, baseline on AArch64).

use crate::activation::Clamp;

#[cfg(sepconv_asm)]
pub const IMPL: &str = "asm neon (kernels/aarch64/clamp_neon.S)";
#[cfg(not(sepconv_asm))]
pub const IMPL: &str = "rust";

#[cfg(sepconv_asm)]
extern "C" {
    fn sepconv_clamp_f32_neon(data: *mut f32, n: usize, lo: f32, hi: f32);
}

/// Entry of the NEON kernel set.
pub fn clamp_neon(data: &mut [f32], c: Clamp) {
    #[cfg(sepconv_asm)]
    // SAFETY: NEON is baseline on AArch64 (and checked by `Isa::check`); the routine writes
    // exactly `data.len()` floats starting at `data`, a valid exclusive slice.
    unsafe {
        sepconv_clamp_f32_neon(data.as_mut_ptr(), data.len(), c.min, c.max)
    }
    #[cfg(not(sepconv_asm))]
    super::scalar::clamp(data, c)
}
