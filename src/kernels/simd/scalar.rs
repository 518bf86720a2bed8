//! Portable vectors: 8 f32 lanes as a plain array, which the compiler maps to the
//! baseline vector unit (SSE2 on x86-64, NEON on AArch64). Multiply then add, not
//! `mul_add`: without FMA in the baseline that would be a slow libm call.

use super::Simd;

pub(crate) const LANES: usize = 8;

type V = [f32; LANES];

/// Token: valid everywhere (no target features needed).
#[derive(Clone, Copy)]
pub(crate) struct Portable;

#[inline(always)]
fn map2(a: V, b: V, f: impl Fn(f32, f32) -> f32) -> V {
    std::array::from_fn(|i| f(a[i], b[i]))
}

impl Simd for Portable {
    const LANES: usize = LANES;
    type V = V;
    type Tail = usize;

    #[inline(always)]
    fn tail(self, lanes: usize) -> usize {
        lanes
    }
    #[inline(always)]
    fn splat(self, x: f32) -> V {
        [x; LANES]
    }
    #[inline(always)]
    fn fma(self, a: V, b: V, c: V) -> V {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    fn clamp(self, x: V, lo: V, hi: V) -> V {
        map2(map2(x, lo, f32::max), hi, f32::min)
    }
    #[inline(always)]
    unsafe fn load<const MASKED: bool>(self, p: *const f32, lanes: usize) -> V {
        let mut v = [0.0; LANES];
        let n = if MASKED { lanes } else { LANES };
        // SAFETY: the caller guarantees `n` readable floats at `p`; `v` holds LANES >= n.
        unsafe { std::ptr::copy_nonoverlapping(p, v.as_mut_ptr(), n) };
        v
    }
    #[inline(always)]
    unsafe fn store<const MASKED: bool>(self, p: *mut f32, v: V, lanes: usize) {
        let n = if MASKED { lanes } else { LANES };
        // SAFETY: the caller guarantees `n` writable floats at `p`.
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), p, n) };
    }
}
