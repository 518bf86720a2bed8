//! AArch64 int8 GEMM microkernels: safe wrappers around `kernels/aarch64/q8_gemm_*.S`,
//! tiles of 5 or 4 rows of A against a 16-channel panel:
//!
//! - [`DOTPROD_5X16C4`]: ARMv8.2 `sdot` by element, 4-value groups (kr 4). `sdot` is s8 x
//!   s8, so each A register is flipped to s8 with one `eor` 0x80 (16 bytes of a row, for
//!   all 16 columns) and the pack folds the 128 into the bias (`a_offset` 128). Five rows
//!   (20 accumulators) so that the in-order Cortex-A55 pairs a load with each `sdot` and
//!   the Cortex-A76 target still dispatches 80 of them per 21 loads (the schedule and the
//!   llvm-mca figures are in the source).
//! - [`NEON_4X16`]: baseline Advanced SIMD for cores without the dot product (Cortex-A53,
//!   A72, A73): weights widened to i16 at pack time, A widened with `uxtl`, then
//!   `smlal`/`smlal2` by element (s16 x s16 into s32, exact, wrapping). One k per group
//!   (kr 1): the by-element multiply-add has no pairwise form, so pairs would buy nothing
//!   and cost a K padded to even.
//!
//! The assembly computes one tile of up to `mr` rows; the entries here check the
//! arguments, then walk the rows in tiles. Without the assembly (Windows on Arm) there
//! are no NEON entries: the portable kernel runs.

#[cfg(sepconv_asm)]
use super::{Q8GemmArgs, Q8GemmKernel, Q8Out};
#[cfg(sepconv_asm)]
use crate::kernels::cpu::{self, Feature, Features, Isa};
#[cfg(sepconv_asm)]
use crate::kernels::table::KernelId;
#[cfg(sepconv_asm)]
use crate::Result;

/// What the assembly reads after the tile's accumulators (`struct q8_params` in the
/// sources): the float bounds (output bounds minus zero point), the output zero point,
/// and whether to store the raw i32 accumulators instead of requantized bytes.
#[cfg(sepconv_asm)]
#[repr(C)]
struct Q8Params {
    lo: f32,
    hi: f32,
    zp: i32,
    raw: u32,
}

/// The tile routines' signature: (mr, nr, groups, a, a_stride, panel, c,
/// c_stride_bytes, params).
#[cfg(sepconv_asm)]
type Q8Ukernel = unsafe extern "C" fn(
    usize,
    usize,
    usize,
    *const u8,
    usize,
    *const u8,
    *mut u8,
    usize,
    *const Q8Params,
);

#[cfg(sepconv_asm)]
extern "C" {
    fn sepconv_q8_gemm_5x16c4_dotprod_neon(
        mr: usize,
        nr: usize,
        kg: usize,
        a: *const u8,
        a_stride: usize,
        panel: *const u8,
        c: *mut u8,
        c_stride_bytes: usize,
        params: *const Q8Params,
    );
    fn sepconv_q8_gemm_4x16_neon(
        mr: usize,
        nr: usize,
        k: usize,
        a: *const u8,
        a_stride: usize,
        panel: *const u8,
        c: *mut u8,
        c_stride_bytes: usize,
        params: *const Q8Params,
    );
}

/// Columns of both tiles (channels per panel).
#[cfg(sepconv_asm)]
const NR: usize = 16;

#[cfg(sepconv_asm)]
pub const DOTPROD_5X16C4: Q8GemmKernel = Q8GemmKernel {
    id: KernelId {
        name: "q8_gemm_5x16c4_dotprod_neon",
        isa: Isa::Neon,
        features: Features::of(&[Feature::Dotprod]),
        detail: "asm neon sdot by element, A flipped to s8 by eor, \
                 kernels/aarch64/q8_gemm_5x16c4_dotprod.S",
    },
    mr: 5,
    nr: NR,
    kr: 4,
    wide: false,
    a_offset: 128,
    run: run_dotprod,
};

#[cfg(sepconv_asm)]
pub const NEON_4X16: Q8GemmKernel = Q8GemmKernel {
    id: KernelId {
        name: "q8_gemm_4x16_neon",
        isa: Isa::Neon,
        features: Features::NONE,
        detail: "asm neon smlal by element on i16 weights and widened A, \
                 kernels/aarch64/q8_gemm_4x16_neon.S",
    },
    mr: 4,
    nr: NR,
    kr: 1,
    wide: true,
    a_offset: 0,
    run: run_neon,
};

/// Entry of [`DOTPROD_5X16C4`].
#[cfg(sepconv_asm)]
fn run_dotprod(args: Q8GemmArgs<'_, '_>) -> Result<()> {
    args.check(&DOTPROD_5X16C4)?;
    cpu::require(&DOTPROD_5X16C4.id)?;
    // SAFETY: the CPU has the dot product (checked just above) and `args` passed its
    // kernel's check.
    unsafe { call(sepconv_q8_gemm_5x16c4_dotprod_neon, &DOTPROD_5X16C4, args) };
    Ok(())
}

/// Entry of [`NEON_4X16`].
#[cfg(sepconv_asm)]
fn run_neon(args: Q8GemmArgs<'_, '_>) -> Result<()> {
    args.check(&NEON_4X16)?;
    cpu::require(&NEON_4X16.id)?;
    // SAFETY: the CPU has NEON (checked just above; baseline on AArch64) and `args`
    // passed its kernel's check.
    unsafe { call(sepconv_q8_gemm_4x16_neon, &NEON_4X16, args) };
    Ok(())
}

/// Runs `args` through `ukernel` in tiles of up to `kernel.mr` rows.
///
/// # Safety
/// The CPU runs `ukernel`'s instructions, `args.check(kernel)` passed, and `ukernel`
/// honours the contract in its source for `kernel`'s packing: for 1 <= mr <= kernel.mr,
/// 1 <= nr <= 16 and groups >= 1 it reads exactly groups * kr bytes of each of rows
/// 0..mr of `a` and `kernel.panel_bytes(k)` bytes of the panel, and writes exactly
/// C[0..mr][0..nr].
#[cfg(sepconv_asm)]
unsafe fn call(ukernel: Q8Ukernel, kernel: &Q8GemmKernel, args: Q8GemmArgs<'_, '_>) {
    let groups = kernel.k_padded(args.k) / kernel.kr;
    let (params, c, elem) = match args.c {
        Q8Out::U8 { c, out } => {
            let (lo, hi) = out.float_bounds();
            let p = Q8Params {
                lo,
                hi,
                zp: out.zero_point,
                raw: 0,
            };
            (p, c.as_mut_ptr(), 1)
        }
        Q8Out::I32 { c } => {
            let p = Q8Params {
                lo: 0.0,
                hi: 0.0,
                zp: 0,
                raw: 1,
            };
            (p, c.as_mut_ptr().cast::<u8>(), 4)
        }
    };
    let mut r = 0;
    while r < args.m {
        let mr = kernel.mr.min(args.m - r);
        // SAFETY: rows r .. r + mr < m of A start at r * a_stride and hold k_padded
        // bytes each inside `a`, and those of C start at r * c_stride elements and hold
        // n inside `c` (both by `check`, which also put the panel's panel_bytes(k) and
        // n <= 16 in range); `c` is an exclusive borrow, so it overlaps neither A nor
        // the panel; the CPU runs the routine (the caller's promise).
        unsafe {
            ukernel(
                mr,
                args.n,
                groups,
                args.a.as_ptr().add(r * args.a_stride),
                args.a_stride,
                args.panel.as_ptr(),
                c.add(r * args.c_stride * elem),
                args.c_stride * elem,
                &params,
            );
        }
        r += kernel.mr;
    }
}
