//! The machine's FMA peak, measured: a loop of independent vector FMAs per ISA. Benches and
//! `sepconv bench` divide by it to report % of peak, so it is measured in the same process
//! as the kernels it is compared with, never hard-coded.

use crate::kernels::cpu::Isa;
use crate::Result;
use std::time::Instant;

/// Independent FMA chains per iteration: enough to cover latency x pipes on current cores
/// (Zen 5: 4 cycles x 2 pipes = 8; Cortex-A76: 4 x 2), and few enough to stay in
/// registers (AVX2 has 16 ymm, two of which hold the operands).
const CHAINS: usize = 16;
const CHAINS_AVX2: usize = 12;

/// Single-thread FMA peak of `isa` in GFLOP/s (2 flops per lane per FMA), best of a few
/// ~20 ms trials.
pub fn fma_peak_gflops(isa: Isa) -> Result<f64> {
    isa.check()?;
    let flops_per_iter = 2 * match isa {
        Isa::Scalar => CHAINS,
        Isa::Avx2 => 8 * CHAINS_AVX2,
        Isa::Avx512 => 16 * CHAINS,
        Isa::Neon => 4 * CHAINS,
    };
    // Calibrate the iteration count to ~20 ms, then keep the best of 5 trials.
    let mut iters = 1 << 14;
    loop {
        let t = time_iters(isa, iters);
        if t > 0.02 || iters > 1 << 30 {
            break;
        }
        iters *= 2;
    }
    let best = (0..5)
        .map(|_| time_iters(isa, iters))
        .fold(f64::INFINITY, f64::min);
    Ok((iters * flops_per_iter) as f64 / best / 1e9)
}

fn time_iters(isa: Isa, iters: usize) -> f64 {
    let t = Instant::now();
    let sink = run(isa, iters);
    let elapsed = t.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    elapsed
}

fn run(isa: Isa, iters: usize) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `fma_peak_gflops` checked that the CPU has AVX-512F.
        Isa::Avx512 => unsafe { x86::avx512(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `fma_peak_gflops` checked that the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { x86::avx2(iters) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: NEON is baseline on AArch64 (and `fma_peak_gflops` checked it).
        Isa::Neon => unsafe { neon::neon(iters) },
        _ => scalar(iters),
    }
}

fn scalar(iters: usize) -> f32 {
    let mut acc = [0.0f32; CHAINS];
    let (a, b) = std::hint::black_box((0.999f32, 0.001f32));
    for _ in 0..iters {
        for v in acc.iter_mut() {
            // Multiply then add: the baseline target may lack FMA, and `mul_add` would
            // call a slow libm routine instead of counting what scalar code can do.
            *v = *v * a + b;
        }
    }
    acc.iter().sum()
}

/// Single-thread int8 dot-product peak in GOP/s (2 ops per int8 multiply-add) of
/// AVX512-VNNI: independent chains of `vpdpbusd` on zmm (64 products each). Errors if the
/// CPU lacks AVX512-VNNI.
pub fn vnni_peak_gops() -> Result<f64> {
    int8_peak(Int8Probe::Vnni512)
}

/// The same for AVX-VNNI: `vpdpbusd` on ymm, VEX encoded (32 products each).
pub fn avx_vnni_peak_gops() -> Result<f64> {
    int8_peak(Int8Probe::AvxVnni)
}

/// The int8 peak of AVX2 without VNNI, in GOP/s: independent `vpmaddwd` + `vpaddd` pairs
/// on ymm (16 exact 16-bit products summed into 8 i32 per pair, the inner step of the
/// AVX2 int8 GEMM: the add is part of the cost, since `vpmaddwd` cannot accumulate).
pub fn maddwd_peak_gops() -> Result<f64> {
    int8_peak(Int8Probe::Maddwd)
}

#[derive(Clone, Copy)]
enum Int8Probe {
    Vnni512,
    AvxVnni,
    Maddwd,
}

fn int8_peak(probe: Int8Probe) -> Result<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::kernels::cpu::{Cpu, Feature, Features};
        let (isa, features, macs) = match probe {
            Int8Probe::Vnni512 => (Isa::Avx512, Features::of(&[Feature::Vnni]), 64 * CHAINS),
            Int8Probe::AvxVnni => (
                Isa::Avx2,
                Features::of(&[Feature::AvxVnni]),
                32 * CHAINS_AVX2,
            ),
            Int8Probe::Maddwd => (Isa::Avx2, Features::NONE, 16 * 8),
        };
        Cpu { isa, features }.check()?;
        let time = |iters: usize| {
            let t = Instant::now();
            // SAFETY: the check above found the instructions each probe uses.
            let sink = unsafe {
                match probe {
                    Int8Probe::Vnni512 => x86::vnni512(iters),
                    Int8Probe::AvxVnni => x86::avx_vnni(iters),
                    Int8Probe::Maddwd => x86::maddwd(iters),
                }
            };
            let elapsed = t.elapsed().as_secs_f64();
            std::hint::black_box(sink);
            elapsed
        };
        // Many ~1 ms trials, the best kept: short ones escape preemption on a loaded
        // machine, as the kernels' own timings do.
        let mut iters = 1 << 10;
        while time(iters) < 0.001 && iters < 1 << 30 {
            iters *= 2;
        }
        let best = (0..40).map(|_| time(iters)).fold(f64::INFINITY, f64::min);
        Ok((iters * macs * 2) as f64 / best / 1e9)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = probe;
        Err(crate::Error::IsaUnavailable {
            isa: "avx2",
            why: "this build is for another architecture".into(),
        })
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{CHAINS, CHAINS_AVX2};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub fn avx512(iters: usize) -> f32 {
        let a = _mm512_set1_ps(std::hint::black_box(0.999));
        let b = _mm512_set1_ps(std::hint::black_box(0.001));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        let mut sum = _mm512_setzero_ps();
        for v in acc {
            sum = _mm512_add_ps(sum, v);
        }
        _mm512_reduce_add_ps(sum)
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn avx2(iters: usize) -> f32 {
        let a = _mm256_set1_ps(std::hint::black_box(0.999));
        let b = _mm256_set1_ps(std::hint::black_box(0.001));
        let mut acc = [_mm256_setzero_ps(); CHAINS_AVX2];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut sum = _mm256_setzero_ps();
        for v in acc {
            sum = _mm256_add_ps(sum, v);
        }
        let mut out = [0.0f32; 8];
        // SAFETY: `out` holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), sum) };
        out.iter().sum()
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    pub fn vnni512(iters: usize) -> i32 {
        let a = _mm512_set1_epi32(std::hint::black_box(0x0101_0101));
        let b = _mm512_set1_epi32(std::hint::black_box(0x0102_0304));
        let mut acc = [_mm512_setzero_si512(); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_dpbusd_epi32(*v, a, b);
            }
        }
        let mut sum = _mm512_setzero_si512();
        for v in acc {
            sum = _mm512_add_epi32(sum, v);
        }
        _mm512_reduce_add_epi32(sum)
    }

    #[target_feature(enable = "avx2,avxvnni")]
    pub fn avx_vnni(iters: usize) -> i32 {
        let a = _mm256_set1_epi32(std::hint::black_box(0x0101_0101));
        let b = _mm256_set1_epi32(std::hint::black_box(0x0102_0304));
        let mut acc = [_mm256_setzero_si256(); CHAINS_AVX2];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_dpbusd_avx_epi32(*v, a, b);
            }
        }
        hsum256(acc)
    }

    /// `iters` x 8 independent `vpmaddwd` + `vpaddd` pairs, in asm: the products do not
    /// depend on the loop, so the compiler would hoist them out of it.
    #[target_feature(enable = "avx2")]
    pub fn maddwd(iters: usize) -> i32 {
        let a = _mm256_set1_epi32(std::hint::black_box(0x0001_0002));
        let b = _mm256_set1_epi32(std::hint::black_box(0x0003_0004));
        let sum: __m256i;
        // SAFETY: register-only AVX2 arithmetic (the CPU has AVX2: checked by
        // `int8_peak`), no memory access; every register written is declared.
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
        let mut out = [0i32; 8];
        // SAFETY: `out` holds 8 i32.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), sum) };
        out.iter().fold(0, |s, &v| s.wrapping_add(v))
    }

    #[target_feature(enable = "avx2")]
    fn hsum256(acc: [__m256i; CHAINS_AVX2]) -> i32 {
        let mut sum = _mm256_setzero_si256();
        for v in acc {
            sum = _mm256_add_epi32(sum, v);
        }
        let mut out = [0i32; 8];
        // SAFETY: `out` holds 8 i32.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), sum) };
        out.iter().fold(0, |s, &v| s.wrapping_add(v))
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::CHAINS;
    use std::arch::aarch64::*;

    // The intrinsics are safe only inside a `target_feature` function.
    #[target_feature(enable = "neon")]
    pub fn neon(iters: usize) -> f32 {
        let a = vdupq_n_f32(std::hint::black_box(0.999));
        let b = vdupq_n_f32(std::hint::black_box(0.001));
        let mut acc = [vdupq_n_f32(0.0); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = vfmaq_f32(b, *v, a);
            }
        }
        let mut sum = vdupq_n_f32(0.0);
        for v in acc {
            sum = vaddq_f32(sum, v);
        }
        vaddvq_f32(sum)
    }
}
