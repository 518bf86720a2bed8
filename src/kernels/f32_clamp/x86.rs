//! AVX clamp: the assembly routine `kernels/x86_64/clamp_avx.S` where it was built, else
//! Rust intrinsics.

use super::ClampKernel;
use crate::activation::Clamp;
use crate::kernels::cpu::{self, Features, Isa};
use crate::kernels::table::KernelId;

/// Needs only AVX, but AVX2 is the lowest x86 rung with SIMD kernels.
pub const AVX: ClampKernel = ClampKernel {
    id: KernelId {
        name: "f32_clamp_avx2",
        isa: Isa::Avx2,
        features: Features::NONE,
        #[cfg(sepconv_asm)]
        detail: "asm avx, kernels/x86_64/clamp_avx.S",
        #[cfg(not(sepconv_asm))]
        detail: "rust avx intrinsics",
    },
    run: clamp_avx,
};

#[cfg(sepconv_asm)]
extern "C" {
    fn sepconv_clamp_f32_avx(data: *mut f32, n: usize, lo: f32, hi: f32);
}

/// Entry of [`AVX`].
pub fn clamp_avx(data: &mut [f32], c: Clamp) {
    cpu::assert_runs(&AVX.id);
    #[cfg(sepconv_asm)]
    // SAFETY: the routine needs AVX, which `assert_runs` just confirmed (AVX2 implies it); it writes exactly
    // `data.len()` floats starting at `data`, a valid exclusive slice.
    unsafe {
        sepconv_clamp_f32_avx(data.as_mut_ptr(), data.len(), c.min, c.max)
    }
    #[cfg(not(sepconv_asm))]
    // SAFETY: as above, `assert_runs` confirmed AVX.
    unsafe {
        clamp_intrinsics(data, c)
    }
}

#[cfg(not(sepconv_asm))]
#[target_feature(enable = "avx")]
fn clamp_intrinsics(data: &mut [f32], c: Clamp) {
    use std::arch::x86_64::*;
    let lo = _mm256_set1_ps(c.min);
    let hi = _mm256_set1_ps(c.max);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        // SAFETY: `chunk` is exactly 8 valid floats.
        unsafe {
            let v = _mm256_loadu_ps(chunk.as_ptr());
            _mm256_storeu_ps(chunk.as_mut_ptr(), _mm256_min_ps(_mm256_max_ps(v, lo), hi));
        }
    }
    super::scalar::clamp(chunks.into_remainder(), c);
}
