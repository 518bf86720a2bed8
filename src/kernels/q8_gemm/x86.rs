//! The x86 int8 GEMM kernels, Rust intrinsics:
//!
//! - [`VNNI512`]: AVX512-VNNI `vpdpbusd` on zmm, 6 rows x 64 channels (24 accumulators,
//!   4 weight registers; each row's 4 A bytes a broadcast operand). A is u8 as stored
//!   (`vpdpbusd` multiplies u8 by s8), so `a_offset` is 0.
//! - [`AVX_VNNI`]: the same with the VEX `vpdpbusd` on ymm, 6 rows x 16 channels.
//! - [`AVX2`]: AVX2 without VNNI, weights widened to i16 at pack time (`kr` 2): 4 A bytes
//!   broadcast, zero-extended into two (a0, a1) and (a2, a3) word pairs by two `vpshufb`,
//!   each `vpmaddwd` with a panel vector (exact: two products of u8 x s8 fit an i32)
//!   then `vpaddd` (wrapping), 3 rows x 32 channels.
//!
//! All three tile any `m` (the last rows with a shorter tile), write `n <= nr` columns
//! (masked stores on AVX-512, a bounce buffer otherwise) and read each A row up to
//! `k_padded(k)` bytes. The requantization is [`crate::quant::requantize`]'s operations
//! on vectors: `cvtdq2ps`, `mulps`, `maxps`, `minps`, `cvtps2dq` (round half to even, the
//! default MXCSR mode), integer add of the zero point.

// The register tiles index several fixed-size arrays (accumulators, weights, scales) with
// one lane index in lockstep, in loops the compiler unrolls completely.
#![allow(clippy::needless_range_loop)]

use super::{Q8GemmArgs, Q8GemmKernel, Q8Out};
use crate::kernels::cpu::{require, Feature, Features, Isa};
use crate::kernels::table::KernelId;
use crate::Result;
use std::arch::x86_64::*;

pub const VNNI512: Q8GemmKernel = Q8GemmKernel {
    id: KernelId {
        name: "q8_gemm_6x64c4_vnni_avx512",
        isa: Isa::Avx512,
        features: Features::of(&[Feature::Vnni]),
        detail: "intrinsics, vpdpbusd zmm, 6x64 tile, shorter tiles for the last rows, \
                 masked stores",
    },
    mr: 6,
    nr: 64,
    kr: 4,
    wide: false,
    a_offset: 0,
    run: run_vnni512,
};

pub const AVX_VNNI: Q8GemmKernel = Q8GemmKernel {
    id: KernelId {
        name: "q8_gemm_6x16c4_avxvnni_avx2",
        isa: Isa::Avx2,
        features: Features::of(&[Feature::AvxVnni]),
        detail: "intrinsics, VEX vpdpbusd ymm, 6x16 tile, shorter tiles for the last rows",
    },
    mr: 6,
    nr: 16,
    kr: 4,
    wide: false,
    a_offset: 0,
    run: run_avx_vnni,
};

pub const AVX2: Q8GemmKernel = Q8GemmKernel {
    id: KernelId {
        name: "q8_gemm_3x32c2_avx2",
        isa: Isa::Avx2,
        features: Features::NONE,
        detail: "intrinsics, i16 weights, vpmaddwd + vpaddd, 3x32 tile, shorter tiles for \
                 the last rows",
    },
    mr: 3,
    nr: 32,
    kr: 2,
    wide: true,
    a_offset: 0,
    run: run_avx2,
};

/// Where a tile writes, as raw pointers (from a checked [`Q8Out`]).
#[derive(Clone, Copy)]
enum Dst {
    U8 {
        c: *mut u8,
        zp: i32,
        lo: f32,
        hi: f32,
    },
    I32 {
        c: *mut i32,
    },
}

/// One checked call, as raw pointers: what the tiles read and write.
#[derive(Clone, Copy)]
struct Job {
    a: *const u8,
    a_stride: usize,
    /// K groups of the panel (`k_padded(k) / kr`).
    groups: usize,
    panel: *const u8,
    n: usize,
    dst: Dst,
    c_stride: usize,
}

impl Job {
    /// The raw view of `args` (already checked against `kernel`).
    fn new(args: &mut Q8GemmArgs<'_, '_>, kernel: &Q8GemmKernel) -> Job {
        let dst = match &mut args.c {
            Q8Out::U8 { c, out } => {
                let (lo, hi) = out.float_bounds();
                Dst::U8 {
                    c: c.as_mut_ptr(),
                    zp: out.zero_point,
                    lo,
                    hi,
                }
            }
            Q8Out::I32 { c } => Dst::I32 { c: c.as_mut_ptr() },
        };
        Job {
            a: args.a.as_ptr(),
            a_stride: args.a_stride,
            groups: kernel.k_padded(args.k) / kernel.kr,
            panel: args.panel.as_ptr(),
            n: args.n,
            dst,
            c_stride: args.c_stride,
        }
    }

    /// The same job from row `r` on.
    ///
    /// # Safety
    /// `r` is below the job's row count.
    unsafe fn at_row(self, r: usize) -> Job {
        // SAFETY: rows below `m` are inside A and C (checked by `Q8GemmArgs::check`).
        unsafe {
            Job {
                a: self.a.add(r * self.a_stride),
                dst: match self.dst {
                    Dst::U8 { c, zp, lo, hi } => Dst::U8 {
                        c: c.add(r * self.c_stride),
                        zp,
                        lo,
                        hi,
                    },
                    Dst::I32 { c } => Dst::I32 {
                        c: c.add(r * self.c_stride),
                    },
                },
                ..self
            }
        }
    }
}

/// Runs `m` rows in tiles of `MR` rows, then the rest with `tail(rows, job)`.
///
/// # Safety
/// `job` comes from arguments checked against the kernel, with `m` rows; `full` and
/// `tail` compute a tile of `MR` and of `1..MR` rows of such a job.
#[inline(always)]
unsafe fn rows<const MR: usize>(job: Job, m: usize, full: impl Fn(Job), tail: impl Fn(usize, Job)) {
    let mut r = 0;
    while r + MR <= m {
        // SAFETY: r < m.
        full(unsafe { job.at_row(r) });
        r += MR;
    }
    if r < m {
        // SAFETY: r < m.
        tail(m - r, unsafe { job.at_row(r) });
    }
}

fn run_vnni512(mut args: Q8GemmArgs<'_, '_>) -> Result<()> {
    args.check(&VNNI512)?;
    require(&VNNI512.id)?;
    let job = Job::new(&mut args, &VNNI512);
    // SAFETY: the arguments are checked against this kernel's tile, and the CPU has
    // AVX-512 (F, BW, VL) and AVX512-VNNI.
    unsafe {
        rows::<6>(
            job,
            args.m,
            |j| tile_vnni512::<6>(j),
            |r, j| match r {
                1 => tile_vnni512::<1>(j),
                2 => tile_vnni512::<2>(j),
                3 => tile_vnni512::<3>(j),
                4 => tile_vnni512::<4>(j),
                _ => tile_vnni512::<5>(j),
            },
        )
    }
    Ok(())
}

/// `R` rows x 64 channels.
///
/// # Safety
/// `job` is checked for [`VNNI512`] with at least `R` rows; AVX-512 F/BW/VL and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tile_vnni512<const R: usize>(job: Job) {
    const NR: usize = 64;
    const V: usize = NR / 16;
    let p = job.panel;
    // SAFETY: the panel holds NR biases, NR scales and `groups` groups of NR x 4 weights,
    // 64-byte aligned; each of the R rows of A holds `4 * groups` bytes.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); V]; R];
        for v in 0..V {
            let b = _mm512_load_si512(p.add(v * 64).cast());
            for row in acc.iter_mut() {
                row[v] = b;
            }
        }
        let mut w = p.add(NR * 8);
        let mut a = job.a;
        for _ in 0..job.groups {
            let wv: [__m512i; V] = std::array::from_fn(|v| _mm512_load_si512(w.add(v * 64).cast()));
            for (r, row) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_epi32(a.add(r * job.a_stride).cast::<i32>().read_unaligned());
                for v in 0..V {
                    row[v] = _mm512_dpbusd_epi32(row[v], x, wv[v]);
                }
            }
            w = w.add(NR * 4);
            a = a.add(4);
        }
        match job.dst {
            Dst::U8 { c, zp, lo, hi } => {
                let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
                let zp = _mm512_set1_epi16(zp as i16);
                let scale: [__m512; V] =
                    std::array::from_fn(|v| _mm512_load_ps(p.add(NR * 4 + v * 64).cast()));
                // After the two packs, 128-bit lane L holds channels 4L.. of each of the
                // four vectors in turn: dword 4L + v, wanted at 4v + L.
                let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
                let mask = if job.n >= 64 {
                    u64::MAX
                } else {
                    (1u64 << job.n) - 1
                };
                for (r, row) in acc.iter().enumerate() {
                    let q: [__m512i; V] = std::array::from_fn(|v| {
                        let f = _mm512_mul_ps(_mm512_cvtepi32_ps(row[v]), scale[v]);
                        _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(f, lo), hi))
                    });
                    // In lo - zp..=hi - zp (within i16), then lo..=hi: the saturating
                    // packs and the 16-bit add are exact.
                    let q01 = _mm512_add_epi16(_mm512_packs_epi32(q[0], q[1]), zp);
                    let q23 = _mm512_add_epi16(_mm512_packs_epi32(q[2], q[3]), zp);
                    let bytes = _mm512_permutexvar_epi32(order, _mm512_packus_epi16(q01, q23));
                    _mm512_mask_storeu_epi8(c.add(r * job.c_stride).cast(), mask, bytes);
                }
            }
            Dst::I32 { c } => {
                for (r, row) in acc.iter().enumerate() {
                    let c = c.add(r * job.c_stride);
                    for v in 0..V {
                        _mm512_mask_storeu_epi32(c.add(v * 16), mask16(job.n, v), row[v]);
                    }
                }
            }
        }
    }
}

/// The lanes of 16-lane vector `v` below column `n`.
#[inline(always)]
fn mask16(n: usize, v: usize) -> u16 {
    let left = n.saturating_sub(v * 16);
    if left >= 16 {
        u16::MAX
    } else {
        (1u16 << left) - 1
    }
}

fn run_avx_vnni(mut args: Q8GemmArgs<'_, '_>) -> Result<()> {
    args.check(&AVX_VNNI)?;
    require(&AVX_VNNI.id)?;
    let job = Job::new(&mut args, &AVX_VNNI);
    // SAFETY: the arguments are checked against this kernel's tile, and the CPU has AVX2
    // and AVX-VNNI.
    unsafe {
        rows::<6>(
            job,
            args.m,
            |j| tile_avx_vnni::<6>(j),
            |r, j| match r {
                1 => tile_avx_vnni::<1>(j),
                2 => tile_avx_vnni::<2>(j),
                3 => tile_avx_vnni::<3>(j),
                4 => tile_avx_vnni::<4>(j),
                _ => tile_avx_vnni::<5>(j),
            },
        )
    }
    Ok(())
}

/// `R` rows x 16 channels.
///
/// # Safety
/// `job` is checked for [`AVX_VNNI`] with at least `R` rows; AVX2 and AVX-VNNI.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn tile_avx_vnni<const R: usize>(job: Job) {
    const NR: usize = 16;
    const V: usize = NR / 8;
    let p = job.panel;
    // SAFETY: as in `tile_vnni512`, for this kernel's panel of 16 channels.
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); V]; R];
        for v in 0..V {
            let b = _mm256_load_si256(p.add(v * 32).cast());
            for row in acc.iter_mut() {
                row[v] = b;
            }
        }
        let mut w = p.add(NR * 8);
        let mut a = job.a;
        for _ in 0..job.groups {
            let wv: [__m256i; V] = std::array::from_fn(|v| _mm256_load_si256(w.add(v * 32).cast()));
            for (r, row) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_epi32(a.add(r * job.a_stride).cast::<i32>().read_unaligned());
                for v in 0..V {
                    row[v] = _mm256_dpbusd_avx_epi32(row[v], x, wv[v]);
                }
            }
            w = w.add(NR * 4);
            a = a.add(4);
        }
        store_avx2::<R, V>(&job, &acc);
    }
}

fn run_avx2(mut args: Q8GemmArgs<'_, '_>) -> Result<()> {
    args.check(&AVX2)?;
    require(&AVX2.id)?;
    let job = Job::new(&mut args, &AVX2);
    // SAFETY: the arguments are checked against this kernel's tile, and the CPU has AVX2.
    unsafe {
        rows::<3>(
            job,
            args.m,
            |j| tile_avx2::<3>(j),
            |r, j| match r {
                1 => tile_avx2::<1>(j),
                _ => tile_avx2::<2>(j),
            },
        )
    }
    Ok(())
}

/// `R` rows x 32 channels, i16 weights in pairs.
///
/// # Safety
/// `job` is checked for [`AVX2`] with at least `R` rows; AVX2.
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2<const R: usize>(job: Job) {
    const NR: usize = 32;
    const V: usize = NR / 8;
    // One group: NR channels x 2 i16.
    const GROUP: usize = NR * 4;
    let p = job.panel;
    // SAFETY: the panel holds NR biases, NR scales and `groups` groups of NR x 2 i16
    // weights, 64-byte aligned; each of the R rows of A holds `2 * groups` bytes, read in
    // 4 bytes for two groups, then 2 for an odd last group.
    unsafe {
        let mut acc = [[_mm256_setzero_si256(); V]; R];
        for v in 0..V {
            let b = _mm256_load_si256(p.add(v * 32).cast());
            for row in acc.iter_mut() {
                row[v] = b;
            }
        }
        // Bytes (a0, a1) and (a2, a3) of each dword, zero-extended to word pairs.
        let lo = _mm256_set1_epi32(0x8001_8000_u32 as i32);
        let hi = _mm256_set1_epi32(0x8003_8002_u32 as i32);
        let mut w = p.add(NR * 8);
        let mut a = job.a;
        for _ in 0..job.groups / 2 {
            for (r, row) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_epi32(a.add(r * job.a_stride).cast::<i32>().read_unaligned());
                let (x01, x23) = (_mm256_shuffle_epi8(x, lo), _mm256_shuffle_epi8(x, hi));
                for v in 0..V {
                    let w01 = _mm256_load_si256(w.add(v * 32).cast());
                    let w23 = _mm256_load_si256(w.add(GROUP + v * 32).cast());
                    row[v] = _mm256_add_epi32(row[v], _mm256_madd_epi16(x01, w01));
                    row[v] = _mm256_add_epi32(row[v], _mm256_madd_epi16(x23, w23));
                }
            }
            w = w.add(2 * GROUP);
            a = a.add(4);
        }
        if job.groups % 2 == 1 {
            for (r, row) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_epi16(a.add(r * job.a_stride).cast::<i16>().read_unaligned());
                let x01 = _mm256_shuffle_epi8(x, lo);
                for v in 0..V {
                    let w01 = _mm256_load_si256(w.add(v * 32).cast());
                    row[v] = _mm256_add_epi32(row[v], _mm256_madd_epi16(x01, w01));
                }
            }
        }
        store_avx2::<R, V>(&job, &acc);
    }
}

/// The AVX2 epilogue of `R` rows of `V` x 8 channels: requantized bytes or raw i32,
/// `job.n` columns (through a buffer when fewer than `8 * V`).
///
/// # Safety
/// `job` is checked with at least `R` rows, `8 * V` channels per panel; AVX2.
#[target_feature(enable = "avx2")]
unsafe fn store_avx2<const R: usize, const V: usize>(job: &Job, acc: &[[__m256i; V]; R]) {
    let nr = 8 * V;
    let n = job.n;
    // SAFETY: the panel holds `nr` scales after `nr` biases; rows below R of C hold `n`
    // elements from each row start.
    unsafe {
        match job.dst {
            Dst::U8 { c, zp, lo, hi } => {
                let (lo, hi, zp) = (
                    _mm256_set1_ps(lo),
                    _mm256_set1_ps(hi),
                    _mm256_set1_epi32(zp),
                );
                for (r, row) in acc.iter().enumerate() {
                    let c = c.add(r * job.c_stride);
                    let q: [__m256i; V] = std::array::from_fn(|v| {
                        let s = _mm256_load_ps(job.panel.add(nr * 4 + v * 32).cast());
                        let f = _mm256_mul_ps(_mm256_cvtepi32_ps(row[v]), s);
                        let f = _mm256_min_ps(_mm256_max_ps(f, lo), hi);
                        _mm256_add_epi32(_mm256_cvtps_epi32(f), zp)
                    });
                    let mut buf = [0u8; 32];
                    for h in 0..V / 2 {
                        // In lo..=hi: the saturating packs are exact, and packing each
                        // vector's halves keeps the channel order.
                        let (a, b) = (q[2 * h], q[2 * h + 1]);
                        let a = _mm_packs_epi32(
                            _mm256_castsi256_si128(a),
                            _mm256_extracti128_si256(a, 1),
                        );
                        let b = _mm_packs_epi32(
                            _mm256_castsi256_si128(b),
                            _mm256_extracti128_si256(b, 1),
                        );
                        let bytes = _mm_packus_epi16(a, b);
                        if n == nr {
                            _mm_storeu_si128(c.add(h * 16).cast(), bytes);
                        } else {
                            _mm_storeu_si128(buf.as_mut_ptr().add(h * 16).cast(), bytes);
                        }
                    }
                    if n < nr {
                        std::ptr::copy_nonoverlapping(buf.as_ptr(), c, n);
                    }
                }
            }
            Dst::I32 { c } => {
                for (r, row) in acc.iter().enumerate() {
                    let c = c.add(r * job.c_stride);
                    if n == nr {
                        for v in 0..V {
                            _mm256_storeu_si256(c.add(v * 8).cast(), row[v]);
                        }
                    } else {
                        let mut buf = [0i32; 32];
                        for v in 0..V {
                            _mm256_storeu_si256(buf.as_mut_ptr().add(v * 8).cast(), row[v]);
                        }
                        std::ptr::copy_nonoverlapping(buf.as_ptr(), c, n);
                    }
                }
            }
        }
    }
}
