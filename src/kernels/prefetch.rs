//! Software prefetch hints. Weights stream from L3 or DRAM once per inference; the
//! hardware prefetchers of some cores (seen on a virtualized Xeon) do not run far enough
//! ahead for a GEMM that finishes a panel in a few microseconds, so the kernels ask for
//! the next data themselves.

/// Asks the core to bring the cache line holding `p` into L2. A hint: it never faults and
/// changes no program-visible state, so `p` may be any address (callers form it with
/// `wrapping_add` and may point past the end of their data).
#[inline(always)]
pub fn to_l2(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT1 neither faults nor reads architecturally, whatever the address;
    // SSE (which has it) is part of the x86_64 baseline.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        _mm_prefetch::<_MM_HINT_T1>(p.cast())
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: PRFM is a hint that never faults, whatever the address, and writes nothing.
    unsafe {
        core::arch::asm!("prfm pldl2keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// Floats per 64-byte cache line.
pub const LINE_FLOATS: usize = 16;
