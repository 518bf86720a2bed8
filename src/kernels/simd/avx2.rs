//! AVX2+FMA vectors: 8 f32 lanes in a ymm register, `vmaskmovps` for partial vectors
//! (full vectors use plain loads: masked stores are slow on AMD).

use super::Simd;
use std::arch::x86_64::*;

pub(crate) const LANES: usize = 8;

/// Token: exists only inside the `#[target_feature]` entries of the depthwise and conv0 kernels,
/// which run with AVX2 and FMA enabled.
#[derive(Clone, Copy)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// # Safety
    /// The CPU runs AVX2 and FMA, and the token is used only inside a function compiled with
    /// those features (a `#[target_feature]` entry), like the kernels' entries.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Avx2 {
        Avx2(())
    }
}

// SAFETY (every value intrinsic below): a token exists only inside the depthwise and conv0
// entries, whose `#[target_feature(enable = "avx2,fma")]` the kernel set's CPU check guarantees.
impl Simd for Avx2 {
    const LANES: usize = LANES;
    type V = __m256;
    type Tail = __m256i;

    #[inline(always)]
    fn tail(self, lanes: usize) -> __m256i {
        // SAFETY: the token exists only on a CPU with AVX2+FMA (see above).
        unsafe {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(lanes as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        // SAFETY: the token exists only on a CPU with AVX2+FMA (see above).
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: the token exists only on a CPU with AVX2+FMA (see above).
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn clamp(self, x: __m256, lo: __m256, hi: __m256) -> __m256 {
        // maxps returns its second operand when either is NaN: a NaN becomes `lo`.
        // SAFETY: the token exists only on a CPU with AVX2+FMA (see above).
        unsafe { _mm256_min_ps(_mm256_max_ps(x, lo), hi) }
    }
    #[inline(always)]
    unsafe fn load<const MASKED: bool>(self, p: *const f32, t: __m256i) -> __m256 {
        // SAFETY: the caller guarantees the (unmasked) lanes are readable; vmaskmovps does
        // not access masked-out lanes.
        unsafe {
            if MASKED {
                _mm256_maskload_ps(p, t)
            } else {
                _mm256_loadu_ps(p)
            }
        }
    }
    #[inline(always)]
    unsafe fn store<const MASKED: bool>(self, p: *mut f32, v: __m256, t: __m256i) {
        // SAFETY: as for `load`, for writes.
        unsafe {
            if MASKED {
                _mm256_maskstore_ps(p, t, v)
            } else {
                _mm256_storeu_ps(p, v)
            }
        }
    }
}
