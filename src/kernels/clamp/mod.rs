//! In-place clamp of a buffer: the smallest kernel, and the one that proves the assembly
//! path (build.rs, symbols, calling convention) on each architecture.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod x86;

#[cfg(target_arch = "aarch64")]
pub mod neon;
