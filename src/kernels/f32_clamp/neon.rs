//! NEON clamp: the assembly routine `kernels/aarch64/clamp_neon.S` where it was built, else
//! portable Rust (which the compiler vectorises with NEON, baseline on AArch64).

use super::ClampKernel;
use crate::activation::Clamp;
use crate::kernels::cpu::{Features, Isa};
use crate::kernels::table::KernelId;

pub const NEON: ClampKernel = ClampKernel {
    id: KernelId {
        name: "f32_clamp_neon",
        isa: Isa::Neon,
        features: Features::NONE,
        #[cfg(sepconv_asm)]
        detail: "asm neon, kernels/aarch64/clamp_neon.S",
        #[cfg(not(sepconv_asm))]
        detail: "rust",
    },
    run: clamp_neon,
};

#[cfg(sepconv_asm)]
extern "C" {
    fn sepconv_clamp_f32_neon(data: *mut f32, n: usize, lo: f32, hi: f32);
}

/// Entry of [`NEON`].
pub fn clamp_neon(data: &mut [f32], c: Clamp) {
    #[cfg(sepconv_asm)]
    // SAFETY: NEON is baseline on AArch64 ; the routine writes
    // exactly `data.len()` floats starting at `data`, a valid exclusive slice.
    unsafe {
        sepconv_clamp_f32_neon(data.as_mut_ptr(), data.len(), c.min, c.max)
    }
    #[cfg(not(sepconv_asm))]
    super::scalar::clamp(data, c)
}
