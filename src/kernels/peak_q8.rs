//! The machine's int8 multiply-accumulate peak, measured like the FMA one
//! ([`super::peak`]): a loop of independent accumulator chains of the instruction the
//! int8 GEMM of a kernel set is built on. `vpdpbusd` (zmm with AVX512-VNNI, ymm with
//! AVX-VNNI) and `sdot` do 4 MACs per 32-bit lane; without them the x86 bound is a
//! `vpmaddwd` (2 MACs per lane) plus the `vpaddd` that accumulates it, and baseline NEON's
//! `smlal` (1 MAC per 32-bit lane). 1 MAC = 2 ops, as for f32.

use super::cpu::Feature;
use super::table::KernelId;
use super::KernelSet;
use crate::Result;
use std::time::Instant;

/// Independent chains: latency (~5 cycles) x 2 pipes, and within the register file.
const CHAINS: usize = 12;

/// Which instruction bounds the int8 GEMM of a kernel set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Q8PeakOp {
    /// `vpdpbusd zmm`: 64 MACs.
    VnniZmm,
    /// `vpdpbusd ymm` (VEX): 32 MACs.
    AvxVnniYmm,
    /// `vpmaddwd ymm` + `vpaddd ymm`: 16 MACs.
    MaddwdYmm,
    /// `sdot v.4s`: 16 MACs.
    Sdot,
    /// `smlal v.4s` (+ `smlal2`): 4 MACs each.
    Smlal,
    /// Scalar i32 multiply-add.
    Scalar,
}

impl Q8PeakOp {
    /// The instruction of `set`'s int8 GEMM kernel.
    pub fn of(set: &KernelSet) -> Q8PeakOp {
        Q8PeakOp::of_kernel(&set.q8_gemm.id)
    }

    /// The dot-product instruction a kernel of `id`'s ISA and features is built on.
    pub fn of_kernel(id: &KernelId) -> Q8PeakOp {
        let has = |f: Feature| id.features.has(f);
        match id.isa {
            crate::Isa::Avx512 if has(Feature::Vnni) => Q8PeakOp::VnniZmm,
            crate::Isa::Avx2 | crate::Isa::Avx512 if has(Feature::AvxVnni) => Q8PeakOp::AvxVnniYmm,
            crate::Isa::Avx2 | crate::Isa::Avx512 => Q8PeakOp::MaddwdYmm,
            crate::Isa::Neon if has(Feature::Dotprod) => Q8PeakOp::Sdot,
            crate::Isa::Neon => Q8PeakOp::Smlal,
            _ => Q8PeakOp::Scalar,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Q8PeakOp::VnniZmm => "vpdpbusd zmm",
            Q8PeakOp::AvxVnniYmm => "vpdpbusd ymm",
            Q8PeakOp::MaddwdYmm => "vpmaddwd+vpaddd ymm",
            Q8PeakOp::Sdot => "sdot",
            Q8PeakOp::Smlal => "smlal",
            Q8PeakOp::Scalar => "scalar",
        }
    }

    fn macs_per_op(self) -> usize {
        match self {
            Q8PeakOp::VnniZmm => 64,
            Q8PeakOp::AvxVnniYmm => 32,
            Q8PeakOp::MaddwdYmm | Q8PeakOp::Sdot => 16,
            Q8PeakOp::Smlal => 4,
            Q8PeakOp::Scalar => 1,
        }
    }
}

/// Single-thread int8 peak of `set`'s GEMM instruction in GOP/s (2 ops per MAC), best of
/// a few ~20 ms trials.
pub fn q8_peak_gops(set: &KernelSet) -> Result<f64> {
    q8_kernel_peak_gops(&set.q8_gemm.id)
}

/// The int8 peak of the instruction of the kernel `id` (see [`Q8PeakOp::of_kernel`]), or
/// an error if this CPU does not run that kernel.
pub fn q8_kernel_peak_gops(id: &KernelId) -> Result<f64> {
    super::cpu::require(id)?;
    Ok(peak_of(Q8PeakOp::of_kernel(id)))
}

/// The peak of one instruction; the caller has checked the CPU runs it (through the
/// kernel set that names it).
fn peak_of(op: Q8PeakOp) -> f64 {
    let mut iters = 1 << 12;
    loop {
        let t = time_iters(op, iters);
        if t > 0.02 || iters > 1 << 30 {
            break;
        }
        iters *= 2;
    }
    let best = (0..5)
        .map(|_| time_iters(op, iters))
        .fold(f64::INFINITY, f64::min);
    (iters * CHAINS * op.macs_per_op() * 2) as f64 / best / 1e9
}

fn time_iters(op: Q8PeakOp, iters: usize) -> f64 {
    let t = Instant::now();
    let sink = run(op, iters);
    let elapsed = t.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    elapsed
}

fn run(op: Q8PeakOp, iters: usize) -> i32 {
    match op {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the kernel this peak is for needs AVX512-VNNI, and `q8_kernel_peak_gops`
        // checked that this CPU runs it.
        Q8PeakOp::VnniZmm => unsafe { x86::vnni_zmm(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, AVX-VNNI.
        Q8PeakOp::AvxVnniYmm => unsafe { x86::avxvnni_ymm(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, AVX2.
        Q8PeakOp::MaddwdYmm => unsafe { x86::maddwd_ymm(iters) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above, the dot-product extension.
        Q8PeakOp::Sdot => unsafe { neon::sdot(iters) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: NEON is baseline on AArch64.
        Q8PeakOp::Smlal => unsafe { neon::smlal(iters) },
        _ => scalar(iters),
    }
}

fn scalar(iters: usize) -> i32 {
    let mut acc = [0i32; CHAINS];
    let (a, b) = std::hint::black_box((3i32, 5i32));
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = v.wrapping_mul(a).wrapping_add(b);
        }
    }
    acc.iter().fold(0, |s, v| s.wrapping_add(*v))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx512vnni")]
    pub fn vnni_zmm(iters: usize) -> i32 {
        let a = _mm512_set1_epi32(std::hint::black_box(0x01010101));
        let b = _mm512_set1_epi32(std::hint::black_box(0x02020202));
        let mut acc = [_mm512_setzero_si512(); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_dpbusd_epi32(*v, a, b);
            }
        }
        let s = acc
            .iter()
            .fold(_mm512_setzero_si512(), |s, v| _mm512_add_epi32(s, *v));
        _mm512_reduce_add_epi32(s)
    }

    #[target_feature(enable = "avx2,avxvnni")]
    pub fn avxvnni_ymm(iters: usize) -> i32 {
        let a = _mm256_set1_epi32(std::hint::black_box(0x01010101));
        let b = _mm256_set1_epi32(std::hint::black_box(0x02020202));
        let mut acc = [_mm256_setzero_si256(); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_dpbusd_avx_epi32(*v, a, b);
            }
        }
        let s = acc
            .iter()
            .fold(_mm256_setzero_si256(), |s, v| _mm256_add_epi32(s, *v));
        _mm256_extract_epi32::<0>(s)
    }

    /// A `vpmaddwd` and the `vpaddd` that accumulates it, per chain: the pair an int8
    /// GEMM without VNNI needs per 16 MACs.
    #[target_feature(enable = "avx2")]
    pub fn maddwd_ymm(iters: usize) -> i32 {
        let a = _mm256_set1_epi32(std::hint::black_box(0x00010001));
        let mut b = [_mm256_setzero_si256(); CHAINS];
        for (i, v) in b.iter_mut().enumerate() {
            *v = _mm256_set1_epi32(std::hint::black_box(i as i32 + 2));
        }
        let mut acc = [_mm256_setzero_si256(); CHAINS];
        for _ in 0..iters {
            for (v, b) in acc.iter_mut().zip(&b) {
                *v = _mm256_add_epi32(*v, _mm256_madd_epi16(a, *b));
            }
        }
        let s = acc
            .iter()
            .fold(_mm256_setzero_si256(), |s, v| _mm256_add_epi32(s, *v));
        _mm256_extract_epi32::<0>(s)
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::CHAINS;
    use std::arch::aarch64::*;
    use std::arch::asm;

    /// 12 `sdot` chains (stable Rust has no dot-product intrinsics yet: `asm!`).
    #[target_feature(enable = "neon,dotprod")]
    pub fn sdot(iters: usize) -> i32 {
        let a = vdupq_n_s8(std::hint::black_box(1));
        let b = vdupq_n_s8(std::hint::black_box(2));
        let mut acc = [vdupq_n_s32(0); CHAINS];
        for _ in 0..iters {
            // SAFETY: register-only arithmetic; the caller checked the CPU has dotprod.
            unsafe {
                asm!(
                    "sdot {0:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {1:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {2:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {3:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {4:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {5:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {6:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {7:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {8:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {9:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {10:v}.4s, {12:v}.16b, {13:v}.16b",
                    "sdot {11:v}.4s, {12:v}.16b, {13:v}.16b",
                    inout(vreg) acc[0], inout(vreg) acc[1], inout(vreg) acc[2],
                    inout(vreg) acc[3], inout(vreg) acc[4], inout(vreg) acc[5],
                    inout(vreg) acc[6], inout(vreg) acc[7], inout(vreg) acc[8],
                    inout(vreg) acc[9], inout(vreg) acc[10], inout(vreg) acc[11],
                    in(vreg) a, in(vreg) b,
                    options(pure, nomem, nostack),
                );
            }
        }
        acc.iter().fold(0, |s, v| s.wrapping_add(vaddvq_s32(*v)))
    }

    /// 12 `smlal` chains of 4 MACs each.
    #[target_feature(enable = "neon")]
    pub fn smlal(iters: usize) -> i32 {
        let a = vdup_n_s16(std::hint::black_box(1));
        let b = vdup_n_s16(std::hint::black_box(2));
        let mut acc = [vdupq_n_s32(0); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = vmlal_s16(*v, a, b);
            }
        }
        acc.iter().fold(0, |s, v| s.wrapping_add(vaddvq_s32(*v)))
    }
}
