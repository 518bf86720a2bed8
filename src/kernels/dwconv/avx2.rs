//! AVX2+FMA depthwise rows: 8-channel blocks in ymm registers, `vmaskmovps` for the last
//! partial block (the full blocks use plain loads: masked stores are slow on AMD).

use super::{DwRows, Simd};
use std::arch::x86_64::*;

pub(crate) const BLOCK: usize = 8;
// 16 ymm registers: 9 taps, bias, clamp bounds and 3 accumulators leave one for input.
const BAND: usize = 2;
const BAND2: usize = 2;
pub(crate) const IMPL: &str = "rust avx2+fma (8-channel blocks, maskload tails)";

/// Token: exists only inside [`entry`] and the conv0 entries (`kernels::conv0::x86`),
/// which run with AVX2 and FMA enabled.
#[derive(Clone, Copy)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// # Safety
    /// The CPU runs AVX2 and FMA, and the token is used only inside a function compiled with
    /// those features (a `#[target_feature]` entry), like the conv0 entries.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Avx2 {
        Avx2(())
    }
}

// SAFETY (every value intrinsic below): a token exists only inside `entry` and the conv0
// entries, whose `#[target_feature(enable = "avx2,fma")]` the kernel set's CPU check guarantees.
impl Simd for Avx2 {
    const LANES: usize = BLOCK;
    const BAND: usize = BAND;
    const BAND2: usize = BAND2;
    const PIXELS_WIDELY: bool = true;
    type V = __m256;
    type Tail = __m256i;

    #[inline(always)]
    fn tail(self, lanes: usize) -> __m256i {
        unsafe {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(lanes as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn fma(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn clamp(self, x: __m256, lo: __m256, hi: __m256) -> __m256 {
        // maxps returns its second operand when either is NaN: a NaN becomes `lo`.
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

/// Entry of the AVX2 kernel set.
pub(crate) fn rows(mut a: DwRows<'_>) {
    a.check(BLOCK);
    // SAFETY: this function is reachable only through the AVX2 and AVX-512 `KernelSet`s,
    // which `kernels::kernel_set` hands out after `Isa::check` confirmed AVX2 and FMA;
    // `check` above validated the row.
    unsafe { entry(&mut a) }
}

/// # Safety
/// The CPU has AVX2 and FMA, and `a.check(BLOCK)` passed.
#[target_feature(enable = "avx2,fma")]
unsafe fn entry(a: &mut DwRows<'_>) {
    // SAFETY: AVX2 and FMA are enabled here, so the token is valid; the row was checked.
    unsafe { super::rows(Avx2(()), a) }
}
