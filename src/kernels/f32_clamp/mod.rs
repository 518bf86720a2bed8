//! In-place clamp of a buffer: the smallest kernel, and the one that proves the assembly
//! path (build.rs, symbols, calling convention) on each architecture.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod x86;

#[cfg(target_arch = "aarch64")]
pub mod neon;

use super::table::{Kernel, KernelId};
use crate::activation::Clamp;

/// A clamp kernel: clamps every float of the buffer in place.
#[derive(Debug)]
pub struct ClampKernel {
    pub id: KernelId,
    /// Safe to call on any CPU: an entry that needs more than the baseline checks the CPU
    /// first (and panics without it).
    pub run: fn(&mut [f32], Clamp),
}

impl Kernel for ClampKernel {
    fn id(&self) -> &KernelId {
        &self.id
    }
}

/// Every clamp kernel, best first.
pub static TABLE: &[ClampKernel] = &[
    #[cfg(target_arch = "x86_64")]
    x86::AVX,
    #[cfg(target_arch = "aarch64")]
    neon::NEON,
    scalar::SCALAR,
];
