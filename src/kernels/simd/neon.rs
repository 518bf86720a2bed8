//! NEON vectors: 4 f32 lanes in a q register; a partial vector goes through a 4-float
//! stack buffer so nothing outside the tensors is touched.

use super::Simd;
use std::arch::aarch64::*;

pub(crate) const LANES: usize = 4;

/// Token: NEON is baseline on AArch64 (and checked by the NEON kernel set).
#[derive(Clone, Copy)]
pub(crate) struct Neon(());

impl Neon {
    /// # Safety
    /// The CPU runs NEON, and the token is used only inside a function compiled with
    /// those features (a `#[target_feature]` entry), like the kernels' entries.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Neon {
        Neon(())
    }
}

// SAFETY (every value intrinsic below): NEON is enabled in every AArch64 build
// (`target_feature = "neon"` is part of the baseline) and checked by the NEON kernel set;
// the methods are not `#[target_feature]` functions themselves, hence the `unsafe` blocks.
impl Simd for Neon {
    const LANES: usize = LANES;
    type V = float32x4_t;
    type Tail = usize;

    #[inline(always)]
    fn tail(self, lanes: usize) -> usize {
        lanes
    }
    #[inline(always)]
    fn splat(self, x: f32) -> float32x4_t {
        // SAFETY: NEON is baseline on AArch64 (see above).
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    fn fma(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // SAFETY: NEON is baseline on AArch64 (see above).
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    fn clamp(self, x: float32x4_t, lo: float32x4_t, hi: float32x4_t) -> float32x4_t {
        // The "number" forms: max(NaN, lo) = lo, as `f32::max`.
        // SAFETY: NEON is baseline on AArch64 (see above).
        unsafe { vminnmq_f32(vmaxnmq_f32(x, lo), hi) }
    }
    #[inline(always)]
    unsafe fn load<const MASKED: bool>(self, p: *const f32, lanes: usize) -> float32x4_t {
        // SAFETY: the caller guarantees 4 (or, if MASKED, `lanes`) readable floats at `p`;
        // a partial block is copied into a zeroed 4-float buffer first.
        unsafe {
            if MASKED {
                let mut buf = [0.0f32; LANES];
                std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), lanes);
                vld1q_f32(buf.as_ptr())
            } else {
                vld1q_f32(p)
            }
        }
    }
    #[inline(always)]
    unsafe fn store<const MASKED: bool>(self, p: *mut f32, v: float32x4_t, lanes: usize) {
        // SAFETY: as for `load`, for writes.
        unsafe {
            if MASKED {
                let mut buf = [0.0f32; LANES];
                vst1q_f32(buf.as_mut_ptr(), v);
                std::ptr::copy_nonoverlapping(buf.as_ptr(), p, lanes);
            } else {
                vst1q_f32(p, v)
            }
        }
    }
}
