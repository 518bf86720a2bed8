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

    /// Multiply-adds per iteration of its probe loop.
    fn macs_per_iter(self) -> usize {
        match self {
            Q8PeakOp::VnniZmm => 64 * CHAINS,
            Q8PeakOp::AvxVnniYmm => 32 * CHAINS,
            Q8PeakOp::MaddwdYmm => 16 * 8,
            Q8PeakOp::Sdot => 16 * CHAINS,
            Q8PeakOp::Smlal => 4 * CHAINS,
            Q8PeakOp::Scalar => CHAINS,
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
    // Many ~1 ms trials, the best kept: short ones escape preemption on a loaded machine,
    // as the kernels' own timings do.
    let mut iters = 1 << 10;
    while time_iters(op, iters) < 0.001 && iters < 1 << 30 {
        iters *= 2;
    }
    let best = (0..40)
        .map(|_| time_iters(op, iters))
        .fold(f64::INFINITY, f64::min);
    (iters * op.macs_per_iter() * 2) as f64 / best / 1e9
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

    /// `iters` x 8 independent `vpmaddwd` + `vpaddd` pairs, the inner step of an int8 GEMM
    /// without VNNI (`vpmaddwd` cannot accumulate), in asm: the products do not depend on
    /// the loop, so the compiler would hoist them out of intrinsics.
    #[target_feature(enable = "avx2")]
    pub fn maddwd_ymm(iters: usize) -> i32 {
        let a = _mm256_set1_epi32(std::hint::black_box(0x0001_0002));
        let b = _mm256_set1_epi32(std::hint::black_box(0x0003_0004));
        let sum: __m256i;
        // SAFETY: register-only AVX2 arithmetic (the caller checked the CPU has AVX2), no
        // memory access; every register written is declared.
        unsafe {
            std::arch::asm!(
                "vpxor ymm0, ymm0, ymm0",
                "vpxor ymm1, ymm1, ymm1",
                "vpxor ymm2, ymm2, ymm2",
                "vpxor ymm3, ymm3, ymm3",
                "vpxor ymm4, ymm4, ymm4",
                "vpxor ymm5, ymm5, ymm5",
                "vpxor ymm6, ymm6, ymm6",
                "vpxor ymm7, ymm7, ymm7",
                "test {n}, {n}",
                "jz 3f",
                "2:",
                "vpmaddwd ymm8, ymm14, ymm15",
                "vpaddd ymm0, ymm0, ymm8",
                "vpmaddwd ymm9, ymm14, ymm15",
                "vpaddd ymm1, ymm1, ymm9",
                "vpmaddwd ymm10, ymm14, ymm15",
                "vpaddd ymm2, ymm2, ymm10",
                "vpmaddwd ymm11, ymm14, ymm15",
                "vpaddd ymm3, ymm3, ymm11",
                "vpmaddwd ymm8, ymm14, ymm15",
                "vpaddd ymm4, ymm4, ymm8",
                "vpmaddwd ymm9, ymm14, ymm15",
                "vpaddd ymm5, ymm5, ymm9",
                "vpmaddwd ymm10, ymm14, ymm15",
                "vpaddd ymm6, ymm6, ymm10",
                "vpmaddwd ymm11, ymm14, ymm15",
                "vpaddd ymm7, ymm7, ymm11",
                "dec {n}",
                "jnz 2b",
                "3:",
                "vpaddd ymm0, ymm0, ymm1",
                "vpaddd ymm2, ymm2, ymm3",
                "vpaddd ymm4, ymm4, ymm5",
                "vpaddd ymm6, ymm6, ymm7",
                "vpaddd ymm0, ymm0, ymm2",
                "vpaddd ymm4, ymm4, ymm6",
                "vpaddd ymm0, ymm0, ymm4",
                n = inout(reg) iters => _,
                in("ymm14") a,
                in("ymm15") b,
                out("ymm0") sum,
                out("ymm1") _, out("ymm2") _, out("ymm3") _, out("ymm4") _,
                out("ymm5") _, out("ymm6") _, out("ymm7") _, out("ymm8") _,
                out("ymm9") _, out("ymm10") _, out("ymm11") _,
                options(pure, nomem, nostack),
            );
        }
        _mm256_extract_epi32::<0>(sum)
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

    /// 12 `smlal` chains of 4 MACs each, in asm: from intrinsics the compiler may hoist
    /// the loop-invariant product and leave only adds.
    #[target_feature(enable = "neon")]
    pub fn smlal(iters: usize) -> i32 {
        let a = vdup_n_s16(std::hint::black_box(1));
        let b = vdup_n_s16(std::hint::black_box(2));
        let mut acc = [vdupq_n_s32(0); CHAINS];
        for _ in 0..iters {
            // SAFETY: register-only NEON arithmetic.
            unsafe {
                asm!(
                    "smlal {0:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {1:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {2:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {3:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {4:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {5:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {6:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {7:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {8:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {9:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {10:v}.4s, {12:v}.4h, {13:v}.4h",
                    "smlal {11:v}.4s, {12:v}.4h, {13:v}.4h",
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
}
