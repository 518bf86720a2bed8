//! AVX-512F depthwise rows: 16-channel blocks in zmm registers, masked loads/stores
//! (`k` registers) for the last partial block.

use super::{DwRows, Simd};
use std::arch::x86_64::*;

pub(crate) const BLOCK: usize = 16;
const BAND: usize = 4;
const BAND2: usize = 2;
pub(crate) const IMPL: &str = "rust avx512f (16-channel blocks, k-mask tails)";

/// Token: exists only inside [`entry`] and the conv0 entries (`kernels::conv0::x86`),
/// which run with AVX-512F enabled.
#[derive(Clone, Copy)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// # Safety
    /// The CPU runs AVX-512F, and the token is used only inside a function compiled with
    /// those features (a `#[target_feature]` entry), like the conv0 entries.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Avx512 {
        Avx512(())
    }
}

// SAFETY (every value intrinsic below): a token exists only inside `entry` and the conv0
// entries, whose `#[target_feature(enable = "avx512f")]` the kernel set's CPU check guarantees.
impl Simd for Avx512 {
    const LANES: usize = BLOCK;
    const BAND: usize = BAND;
    const BAND2: usize = BAND2;
    type V = __m512;
    type Tail = __mmask16;

    #[inline(always)]
    fn tail(self, lanes: usize) -> __mmask16 {
        ((1u32 << lanes) - 1) as __mmask16
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn clamp(self, x: __m512, lo: __m512, hi: __m512) -> __m512 {
        // maxps returns its second operand when either is NaN: a NaN becomes `lo`.
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

/// Entry of the AVX-512 kernel set.
pub(crate) fn rows(mut a: DwRows<'_>) {
    a.check(BLOCK);
    // SAFETY: this function is reachable only through the AVX-512 `KernelSet`, which
    // `kernels::kernel_set` hands out after `Isa::check` confirmed AVX-512F; `check` above
    // validated the row.
    unsafe { entry(&mut a) }
}

/// # Safety
/// The CPU has AVX-512F and `a.check(BLOCK)` passed.
#[target_feature(enable = "avx512f")]
unsafe fn entry(a: &mut DwRows<'_>) {
    // SAFETY: AVX-512F is enabled here, so the token is valid; the row was checked.
    unsafe { super::rows(Avx512(()), a) }
}
