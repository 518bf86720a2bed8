//! AVX-512F vectors: 16 f32 lanes in a zmm register, `k`-register masks for partial
//! vectors.

use super::Simd;
use std::arch::x86_64::*;

pub(crate) const LANES: usize = 16;

/// Token: exists only inside the `#[target_feature]` entries of the depthwise and conv0 kernels,
/// which run with AVX-512F enabled.
#[derive(Clone, Copy)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// # Safety
    /// The CPU runs AVX-512F, and the token is used only inside a function compiled with
    /// those features (a `#[target_feature]` entry), like the kernels' entries.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Avx512 {
        Avx512(())
    }
}

// SAFETY (every value intrinsic below): a token exists only inside the depthwise and conv0
// entries, whose `#[target_feature(enable = "avx512f")]` the kernel set's CPU check guarantees.
impl Simd for Avx512 {
    const LANES: usize = LANES;
    type V = __m512;
    type Tail = __mmask16;

    #[inline(always)]
    fn tail(self, lanes: usize) -> __mmask16 {
        ((1u32 << lanes) - 1) as __mmask16
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        // SAFETY: the token exists only on a CPU with AVX-512F (see above).
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: the token exists only on a CPU with AVX-512F (see above).
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn clamp(self, x: __m512, lo: __m512, hi: __m512) -> __m512 {
        // maxps returns its second operand when either is NaN: a NaN becomes `lo`.
        // SAFETY: the token exists only on a CPU with AVX-512F (see above).
        unsafe { _mm512_min_ps(_mm512_max_ps(x, lo), hi) }
    }
    #[inline(always)]
    unsafe fn load<const MASKED: bool>(self, p: *const f32, t: __mmask16) -> __m512 {
        // SAFETY: the caller guarantees the (unmasked) lanes are readable; masked-out lanes
        // are not accessed (AVX-512 suppresses their faults).
        unsafe {
            if MASKED {
                _mm512_maskz_loadu_ps(t, p)
            } else {
                _mm512_loadu_ps(p)
            }
        }
    }
    #[inline(always)]
    unsafe fn store<const MASKED: bool>(self, p: *mut f32, v: __m512, t: __mmask16) {
        // SAFETY: as for `load`, for writes.
        unsafe {
            if MASKED {
                _mm512_mask_storeu_ps(p, t, v)
            } else {
                _mm512_storeu_ps(p, v)
            }
        }
    }
}
