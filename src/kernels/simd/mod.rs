//! The SIMD abstraction the f32 direct-convolution kernels (depthwise, conv0) are written
//! over: a vector type with its loads, stores and arithmetic, one file per ISA. The
//! algorithms are written once, generic over [`Simd`]; each kernel's ISA file instantiates
//! them in a `#[target_feature]` entry. Every method is `#[inline(always)]`, so a whole
//! kernel compiles with its entry's target features.
//!
//! The GEMM microkernels do not use it: they are assembly (kernels/), except the
//! portable one.

pub(crate) mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

/// A vector ISA, as the algorithms need it. A value of the implementing type is a token:
/// it may only be created where the ISA's target features are known to be present (the
/// `#[target_feature]` entry of each kernel's ISA file), which is what makes its methods
/// sound.
pub(crate) trait Simd: Copy {
    /// f32 lanes per vector: the channel block of the kernels written over it.
    const LANES: usize;
    type V: Copy;
    /// Whatever a partial load/store needs (a mask, or the lane count).
    type Tail: Copy;

    fn tail(self, lanes: usize) -> Self::Tail;
    fn splat(self, x: f32) -> Self::V;
    /// a * b + c.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// clamp with `f32::max` / `f32::min` semantics (a NaN becomes `lo`).
    fn clamp(self, x: Self::V, lo: Self::V, hi: Self::V) -> Self::V;
    /// # Safety
    /// `p .. p + LANES` readable (or, if `MASKED`, the first `lanes` of `tail`).
    unsafe fn load<const MASKED: bool>(self, p: *const f32, t: Self::Tail) -> Self::V;
    /// # Safety
    /// `p .. p + LANES` writable (or, if `MASKED`, the first `lanes` of `tail`).
    unsafe fn store<const MASKED: bool>(self, p: *mut f32, v: Self::V, t: Self::Tail);
}
