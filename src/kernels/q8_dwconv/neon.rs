//! AArch64 int8 depthwise 3x3, 16-channel blocks: ARMv8.2 dot product (`sdot`, 4 taps
//! per i32 lane) and baseline NEON (`smull` / `smull2` products summed pairwise with
//! `saddlp` and `addp`, exact and wrapping like the dot product). Both are signed: the
//! input bytes are flipped to s8 with an `eor 0x80` (once per loaded vector, before the
//! interleave) and the 128 is folded into the bias (`a_offset`). `zip1`/`zip2` make the
//! interleave, `sqxtn` / `sqxtun` the pack back, in the natural channel order.
//!
//! Requantization: `scvtf`, `fmul`, `fmax`, `fmin`, `fcvtns` (round to nearest even), as
//! `quant::requantize`.

use super::{DwVec, Q8DwArgs, Q8DwKernel};
use crate::kernels::cpu::{self, Feature, Features, Isa};
use crate::kernels::table::KernelId;
use crate::quant::OutQ;
use crate::Result;
use std::arch::aarch64::*;

pub const DOTPROD: Q8DwKernel = Q8DwKernel {
    id: KernelId {
        name: "q8_dwconv3x3_16c_dotprod_neon",
        isa: Isa::Neon,
        features: Features::of(&[Feature::Dotprod]),
        detail: "rust neon intrinsics, sdot on vertical tap triples (inputs flipped to s8), \
                 16-channel blocks",
    },
    block: 16,
    tail_block: 16,
    wide: false,
    a_offset: 128,
    run: run_dotprod,
};

pub const NEON: Q8DwKernel = Q8DwKernel {
    id: KernelId {
        name: "q8_dwconv3x3_16c_neon",
        isa: Isa::Neon,
        features: Features::NONE,
        detail: "rust neon intrinsics, smull + pairwise adds on vertical tap triples \
                 (inputs flipped to s8), 16-channel blocks",
    },
    block: 16,
    tail_block: 16,
    wide: false,
    a_offset: 128,
    run: run_neon,
};

fn run_dotprod(mut a: Q8DwArgs<'_>) -> Result<()> {
    a.check(&DOTPROD)?;
    cpu::require(&DOTPROD.id)?;
    // SAFETY: `require` confirmed the CPU has the dot product, the feature
    // `dotprod_entry` enables; `check` validated the call.
    unsafe { dotprod_entry(&mut a) };
    Ok(())
}

/// # Safety
/// The CPU has dotprod and `a.check(&DOTPROD)` passed.
#[target_feature(enable = "neon,dotprod")]
unsafe fn dotprod_entry(a: &mut Q8DwArgs<'_>) {
    // SAFETY: the features are enabled here, so the token is valid; checked call.
    unsafe { super::rows(Dot(()), Dot(()), &DOTPROD, a) }
}

fn run_neon(mut a: Q8DwArgs<'_>) -> Result<()> {
    a.check(&NEON)?;
    cpu::require(&NEON.id)?;
    // SAFETY: `require` confirmed the CPU has NEON; `check` validated the call.
    unsafe { neon_entry(&mut a) };
    Ok(())
}

/// # Safety
/// The CPU has NEON and `a.check(&NEON)` passed.
#[target_feature(enable = "neon")]
unsafe fn neon_entry(a: &mut Q8DwArgs<'_>) {
    // SAFETY: as `dotprod_entry`, for Mull.
    unsafe { super::rows(Mull(()), Mull(()), &NEON, a) }
}

#[derive(Clone, Copy)]
struct QNeon {
    lo: float32x4_t,
    hi: float32x4_t,
    zp: int16x8_t,
}

/// # Safety
/// NEON is enabled and `p .. p + n` readable.
#[inline(always)]
unsafe fn load16(p: *const u8, n: usize) -> uint8x16_t {
    // SAFETY: as documented; a short tail goes through a stack buffer.
    unsafe {
        if n >= 16 {
            vld1q_u8(p)
        } else {
            let mut buf = [0u8; 16];
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            vld1q_u8(buf.as_ptr())
        }
    }
}

/// The flipped (s8) vertical triples of three row vectors: register r, lane e holds
/// channel 4r + e.
///
/// # Safety
/// NEON is enabled.
#[inline(always)]
unsafe fn interleave16(a: uint8x16_t, b: uint8x16_t, c: uint8x16_t) -> [int8x16_t; 4] {
    // SAFETY: as documented.
    unsafe {
        let f = vdupq_n_u8(0x80);
        let (a, b, c) = (veorq_u8(a, f), veorq_u8(b, f), veorq_u8(c, f));
        let z = vdupq_n_u8(0);
        let ab_lo = vreinterpretq_u16_u8(vzip1q_u8(a, b));
        let ab_hi = vreinterpretq_u16_u8(vzip2q_u8(a, b));
        let c_lo = vreinterpretq_u16_u8(vzip1q_u8(c, z));
        let c_hi = vreinterpretq_u16_u8(vzip2q_u8(c, z));
        [
            vreinterpretq_s8_u16(vzip1q_u16(ab_lo, c_lo)),
            vreinterpretq_s8_u16(vzip2q_u16(ab_lo, c_lo)),
            vreinterpretq_s8_u16(vzip1q_u16(ab_hi, c_hi)),
            vreinterpretq_s8_u16(vzip2q_u16(ab_hi, c_hi)),
        ]
    }
}

/// # Safety
/// NEON is enabled.
#[inline(always)]
unsafe fn quant16(out: OutQ) -> QNeon {
    let (lo, hi) = out.float_bounds();
    // SAFETY: as documented.
    unsafe {
        QNeon {
            lo: vdupq_n_f32(lo),
            hi: vdupq_n_f32(hi),
            zp: vdupq_n_s16(out.zero_point as i16),
        }
    }
}

/// # Safety
/// NEON is enabled, `scale .. scale + 64` readable and `p .. p + n` writable.
#[inline(always)]
unsafe fn store16(acc: [int32x4_t; 4], scale: *const u8, q: QNeon, p: *mut u8, n: usize) {
    // SAFETY: as documented; a short tail goes through a stack buffer.
    unsafe {
        let mut i = [vdupq_n_s32(0); 4];
        for r in 0..4 {
            let s = vld1q_f32(scale.add(16 * r).cast());
            let f = vmulq_f32(vcvtq_f32_s32(acc[r]), s);
            let f = vminq_f32(vmaxq_f32(f, q.lo), q.hi);
            i[r] = vcvtnq_s32_f32(f);
        }
        let n01 = vaddq_s16(vcombine_s16(vqmovn_s32(i[0]), vqmovn_s32(i[1])), q.zp);
        let n23 = vaddq_s16(vcombine_s16(vqmovn_s32(i[2]), vqmovn_s32(i[3])), q.zp);
        let u = vcombine_u8(vqmovun_s16(n01), vqmovun_s16(n23));
        if n >= 16 {
            vst1q_u8(p, u);
        } else {
            let mut buf = [0u8; 16];
            vst1q_u8(buf.as_mut_ptr(), u);
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
}

/// The dot-product kernel's vectors. Only built inside `dotprod_entry`.
#[derive(Clone, Copy)]
struct Dot(());

/// The baseline kernel's vectors. Only built inside `neon_entry`.
#[derive(Clone, Copy)]
struct Mull(());

macro_rules! neon_vec {
    ($t:ty, $dot:item) => {
        impl DwVec for $t {
            const B: usize = 16;
            const WB: usize = 16;
            type R = uint8x16_t;
            type X = int8x16_t;
            type A = int32x4_t;
            type Q = QNeon;

            #[inline(always)]
            unsafe fn load(self, p: *const u8, n: usize) -> uint8x16_t {
                // SAFETY: forwarded; the token proves NEON enabled.
                unsafe { load16(p, n) }
            }

            #[inline(always)]
            fn interleave(self, a: uint8x16_t, b: uint8x16_t, c: uint8x16_t) -> [int8x16_t; 4] {
                // SAFETY: the token proves NEON enabled.
                unsafe { interleave16(a, b, c) }
            }

            #[inline(always)]
            unsafe fn bias(self, p: *const u8) -> int32x4_t {
                // SAFETY: 16 readable bytes.
                unsafe { vld1q_s32(p.cast()) }
            }

            $dot

            #[inline(always)]
            fn quant(self, out: OutQ) -> QNeon {
                // SAFETY: the token proves NEON enabled.
                unsafe { quant16(out) }
            }

            #[inline(always)]
            unsafe fn store(
                self,
                acc: [int32x4_t; 4],
                scale: *const u8,
                q: QNeon,
                p: *mut u8,
                n: usize,
            ) {
                // SAFETY: forwarded.
                unsafe { store16(acc, scale, q, p, n) }
            }
        }
    };
}

neon_vec!(
    Dot,
    #[inline(always)]
    unsafe fn dot(self, mut acc: int32x4_t, x: int8x16_t, w: *const u8) -> int32x4_t {
        // SAFETY: 16 readable bytes at w; the token proves dotprod enabled (`vdotq_s32`
        // is not stable yet, hence the instruction itself).
        unsafe {
            let w = vld1q_s8(w.cast());
            std::arch::asm!(
                "sdot {acc:v}.4s, {x:v}.16b, {w:v}.16b",
                acc = inout(vreg) acc,
                x = in(vreg) x,
                w = in(vreg) w,
                options(pure, nomem, nostack, preserves_flags)
            );
            acc
        }
    }
);

neon_vec!(
    Mull,
    #[inline(always)]
    unsafe fn dot(self, acc: int32x4_t, x: int8x16_t, w: *const u8) -> int32x4_t {
        // SAFETY: 16 readable bytes at w; the token proves NEON enabled. The i16 products
        // are exact (|s8 * s8| <= 16384) and their sums in i32 wrap like `sdot`'s.
        unsafe {
            let w = vld1q_s8(w.cast());
            let lo = vpaddlq_s16(vmull_s8(vget_low_s8(x), vget_low_s8(w)));
            let hi = vpaddlq_s16(vmull_high_s8(x, w));
            vaddq_s32(acc, vpaddq_s32(lo, hi))
        }
    }
);
