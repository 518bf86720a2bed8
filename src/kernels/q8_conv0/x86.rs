//! x86-64 int8 direct conv0, AVX512-VNNI: output channels across the lanes, 32-channel
//! blocks (two zmm of 16 channels x 4 taps) for 4 pixels at a time, or a 16-channel block
//! (a tail, or a layer of 16 or fewer channels) for 8 pixels; the weight registers of a
//! block (7 per 16 channels for 3 input channels) stay loaded over the whole row, each
//! pixel's input dwords are broadcast straight from the padded rows (`vpbroadcastd` from
//! memory, then one `vpdpbusd` per weight register; the 3-channel tail dword is put
//! together from the three rows' 9th bytes in a general register). u8 inputs as stored
//! (`vpdpbusd` multiplies u8 by s8).
//!
//! Requantization is `quant::requantize`'s float ops (`vcvtdq2ps`, `vmulps`, `vmaxps`,
//! `vminps`, `vcvtps2dq` under round-to-nearest-even), packed i32 -> i16 (+ zero point) ->
//! u8 four registers at a time (two pixels of 32 channels or four of 16), then the
//! 128-bit lanes permuted back to channel order and each pixel stored under a mask.
//!
//! The row quantizer is `InputRounding::quantize` on 16 lanes: `vmulps` by the f32
//! reciprocal or `vdivps` by the scale (IEEE, so the same bits as the scalar division),
//! clamp to +-512 (`vmaxps` first: a NaN becomes -512, whose code is 0 as the scalar
//! path's), `vcvtps2dq` (half to even), + zero point, clamp to 0..=255, `vpmovdb`.

// The register tiles index several fixed-size arrays (accumulators, weights, scales) in
// lockstep, in loops the compiler unrolls completely.
#![allow(clippy::needless_range_loop)]

use super::{Q8Conv0Args, Q8Conv0Kernel};
use crate::kernels::cpu::{require, Feature, Features, Isa};
use crate::kernels::table::KernelId;
use crate::net::q8::InputRounding;
use crate::quant::QParams;
use crate::{Error, Result};
use std::arch::x86_64::*;

pub const VNNI: Q8Conv0Kernel = Q8Conv0Kernel {
    id: KernelId {
        name: "q8_conv0_32c_vnni_avx512",
        isa: Isa::Avx512,
        features: Features::of(&[Feature::Vnni]),
        detail: "intrinsics, vpdpbusd zmm on dwords broadcast from padded rows, 4 pixels x \
                 32 channels or 8 x 16, masked stores; avx512 row quantizer",
    },
    block: 32,
    tail_block: 16,
    run: run_vnni,
    quantize: quantize_avx512,
};

fn run_vnni(mut a: Q8Conv0Args<'_>) -> Result<()> {
    a.check(&VNNI)?;
    require(&VNNI.id)?;
    // SAFETY: `require` confirmed AVX-512 (F, BW, VL) and VNNI; `check` validated the call.
    unsafe {
        match a.in_c {
            1 => row_vnni::<1, false>(&mut a),
            2 => row_vnni::<2, false>(&mut a),
            3 => row_vnni::<2, true>(&mut a),
            _ => row_vnni::<3, false>(&mut a),
        }
    }
    Ok(())
}

/// The requantization constants.
#[derive(Clone, Copy)]
struct Quant {
    lo: __m512,
    hi: __m512,
    zp: __m512i,
    order: __m512i,
}

/// Where one block writes: the row's first pixel, channel `c0`, `n` channels of the block,
/// pixels `oc` apart.
#[derive(Clone, Copy)]
struct Dst {
    out: *mut u8,
    oc: usize,
    n: usize,
}

/// # Safety
/// AVX-512 F/BW/VL and VNNI; `a.check(&VNNI)` passed, `G == full_groups(a.in_c)` and
/// `T == has_tail(a.in_c)`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn row_vnni<const G: usize, const T: bool>(a: &mut Q8Conv0Args<'_>) {
    let per = Q8Conv0Kernel::bytes_per_channel(a.in_c);
    let (lo, hi) = a.out_q.float_bounds();
    let q = Quant {
        lo: _mm512_set1_ps(lo),
        hi: _mm512_set1_ps(hi),
        zp: _mm512_set1_epi16(a.out_q.zero_point as i16),
        // After the two packs, 128-bit lane L holds channels 4L.. of each of the four
        // vectors in turn: dword 4L + v, wanted at 4v + L.
        order: _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
    };
    let rows = a.rows.map(<[u8]>::as_ptr);
    let step = a.stride * a.in_c;
    let oc = a.out_c;
    for (c0, b) in VNNI.blocks(oc) {
        // SAFETY: the packed weights hold every block (`check`), and `out` every pixel
        // of the row; each pixel reads `4 G` bytes of each row from `ox * step`
        // (`row_need`).
        unsafe {
            let p = a.packed.as_ptr().add(c0 * per);
            let dst = Dst {
                out: a.out.as_mut_ptr().add(c0),
                oc,
                n: b.min(oc - c0),
            };
            if b == 32 {
                block::<G, T, 2, 4>(rows, step, a.out_w, p, dst, q);
            } else {
                block::<G, T, 1, 8>(rows, step, a.out_w, p, dst, q);
            }
        }
    }
}

/// One block of `16 CB` channels over the row, `P` pixels at a time.
///
/// # Safety
/// As [`row_vnni`]: `p` the block's packed weights, `dst` inside the output.
#[inline(always)]
unsafe fn block<const G: usize, const T: bool, const CB: usize, const P: usize>(
    rows: [*const u8; 3],
    step: usize,
    out_w: usize,
    p: *const u8,
    dst: Dst,
    q: Quant,
) {
    let b = 16 * CB;
    // SAFETY: the block holds `b` biases, `b` scales and `3 G (+ 1)` registers of `b`
    // lanes.
    unsafe {
        let bias: [__m512i; CB] = std::array::from_fn(|v| _mm512_loadu_si512(p.add(64 * v).cast()));
        let scale: [__m512; CB] =
            std::array::from_fn(|v| _mm512_loadu_ps(p.add(4 * b + 64 * v).cast()));
        let wp = p.add(8 * b);
        let w: [[[__m512i; CB]; G]; 3] = std::array::from_fn(|ky| {
            std::array::from_fn(|d| {
                std::array::from_fn(|v| {
                    _mm512_loadu_si512(wp.add(((ky * G + d) * CB + v) * 64).cast())
                })
            })
        });
        let wt: [__m512i; CB] = std::array::from_fn(|v| {
            if T {
                _mm512_loadu_si512(wp.add((3 * G * CB + v) * 64).cast())
            } else {
                _mm512_setzero_si512()
            }
        });
        let mut ox = 0;
        while ox + P <= out_w {
            tile::<G, T, CB, P>(rows, step, ox, &bias, &scale, &w, &wt, dst, q);
            ox += P;
        }
        while ox < out_w {
            tile::<G, T, CB, 1>(rows, step, ox, &bias, &scale, &w, &wt, dst, q);
            ox += 1;
        }
    }
}

/// Pixels `ox .. ox + P` of one block.
///
/// # Safety
/// As [`block`], with `ox + P <= out_w`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const G: usize, const T: bool, const CB: usize, const P: usize>(
    rows: [*const u8; 3],
    step: usize,
    ox: usize,
    bias: &[__m512i; CB],
    scale: &[__m512; CB],
    w: &[[[__m512i; CB]; G]; 3],
    wt: &[__m512i; CB],
    dst: Dst,
    q: Quant,
) {
    // SAFETY: pixel ox + j reads `row_need(in_c, stride, 1)` bytes of each row from
    // `(ox + j) * step`: `4 G`, and with the tail byte `4 G + 1`.
    unsafe {
        let mut acc = [*bias; P];
        for ky in 0..3 {
            for d in 0..G {
                for (j, acc) in acc.iter_mut().enumerate() {
                    let at = rows[ky].add((ox + j) * step + 4 * d);
                    let x = _mm512_set1_epi32(at.cast::<i32>().read_unaligned());
                    for v in 0..CB {
                        acc[v] = _mm512_dpbusd_epi32(acc[v], x, w[ky][d][v]);
                    }
                }
            }
        }
        if T {
            for (j, acc) in acc.iter_mut().enumerate() {
                let at = (ox + j) * step + 4 * G;
                let t = u32::from(*rows[0].add(at))
                    | u32::from(*rows[1].add(at)) << 8
                    | u32::from(*rows[2].add(at)) << 16;
                let x = _mm512_set1_epi32(t as i32);
                for v in 0..CB {
                    acc[v] = _mm512_dpbusd_epi32(acc[v], x, wt[v]);
                }
            }
        }
        let qv: [[__m512i; CB]; P] = std::array::from_fn(|j| {
            std::array::from_fn(|v| {
                let f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[j][v]), scale[v]);
                _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(f, q.lo), q.hi))
            })
        });
        // Four registers (4 / CB pixels) per 64 output bytes; a short last group
        // repeats its last register, whose bytes are not stored.
        let per_group = 4 / CB;
        let mut j0 = 0;
        while j0 < P {
            let reg = |k: usize| {
                let (j, v) = (j0 + k / CB, k % CB);
                if j < P {
                    qv[j][v]
                } else {
                    qv[P - 1][CB - 1]
                }
            };
            // In lo - zp..=hi - zp (within i16), then lo..=hi: the saturating packs and
            // the 16-bit add are exact.
            let q01 = _mm512_add_epi16(_mm512_packs_epi32(reg(0), reg(1)), q.zp);
            let q23 = _mm512_add_epi16(_mm512_packs_epi32(reg(2), reg(3)), q.zp);
            let bytes = _mm512_permutexvar_epi32(q.order, _mm512_packus_epi16(q01, q23));
            let pixels = per_group.min(P - j0);
            let first = dst.out.add((ox + j0) * dst.oc);
            if dst.n == dst.oc && dst.oc == 16 * CB && pixels == per_group {
                _mm512_storeu_si512(first.cast(), bytes);
            } else {
                store_pixels::<CB>(bytes, first, dst, pixels);
            }
            j0 += per_group;
        }
    }
}

/// The first `pixels` pixels of `bytes` (`16 CB` channels each), `n` channels each, at
/// `first`, `first + oc`, ...
///
/// # Safety
/// Those bytes are writable.
#[inline(always)]
unsafe fn store_pixels<const CB: usize>(bytes: __m512i, first: *mut u8, dst: Dst, pixels: usize) {
    // SAFETY: masked stores of `n` bytes at each pixel, which the caller owns.
    unsafe {
        if CB == 2 {
            let m = if dst.n >= 32 {
                u32::MAX
            } else {
                (1u32 << dst.n) - 1
            };
            _mm256_mask_storeu_epi8(first.cast(), m, _mm512_castsi512_si256(bytes));
            if pixels > 1 {
                let hi = _mm512_extracti64x4_epi64::<1>(bytes);
                _mm256_mask_storeu_epi8(first.add(dst.oc).cast(), m, hi);
            }
        } else {
            let m = if dst.n >= 16 {
                u16::MAX
            } else {
                (1u16 << dst.n) - 1
            };
            let lanes = [
                _mm512_castsi512_si128(bytes),
                _mm512_extracti32x4_epi32::<1>(bytes),
                _mm512_extracti32x4_epi32::<2>(bytes),
                _mm512_extracti32x4_epi32::<3>(bytes),
            ];
            for (k, lane) in lanes.iter().enumerate().take(pixels) {
                _mm_mask_storeu_epi8(first.add(k * dst.oc).cast(), m, *lane);
            }
        }
    }
}

fn quantize_avx512(src: &[f32], dst: &mut [u8], q: QParams, rounding: InputRounding) -> Result<()> {
    if src.len() != dst.len() {
        return Err(Error::Shape(format!(
            "quantize: {} values into {} codes",
            src.len(),
            dst.len()
        )));
    }
    require(&VNNI.id)?;
    // SAFETY: `require` confirmed AVX-512 F/BW/VL; the lengths are equal.
    unsafe {
        match rounding {
            InputRounding::Reciprocal => quantize_entry::<false>(src, dst, 1.0 / q.scale, q),
            InputRounding::Divide => quantize_entry::<true>(src, dst, q.scale, q),
        }
    }
    Ok(())
}

/// `DIV`: `x / s`, else `x * s` (`s` the reciprocal, computed as the scalar path does).
///
/// # Safety
/// AVX-512 F/BW/VL; `dst.len() == src.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn quantize_entry<const DIV: bool>(src: &[f32], dst: &mut [u8], s: f32, q: QParams) {
    let n = src.len();
    let sv = _mm512_set1_ps(s);
    let (lo, hi) = (_mm512_set1_ps(-512.0), _mm512_set1_ps(512.0));
    let zp = _mm512_set1_epi32(q.zero_point);
    let (zero, top) = (_mm512_setzero_si512(), _mm512_set1_epi32(255));
    let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    let mut i = 0;
    // 64 values a step: the codes (in -512 + zp ..= 512 + zp) pack to i16 exactly, then to
    // u8 saturating, which is the clamp to 0..=255; one store of 64 bytes.
    while i + 64 <= n {
        // SAFETY: values i .. i + 64 of both slices.
        unsafe {
            let r: [__m512i; 4] = std::array::from_fn(|k| {
                let x = _mm512_loadu_ps(src.as_ptr().add(i + 16 * k));
                let y = if DIV {
                    _mm512_div_ps(x, sv)
                } else {
                    _mm512_mul_ps(x, sv)
                };
                let y = _mm512_min_ps(_mm512_max_ps(y, lo), hi);
                _mm512_add_epi32(_mm512_cvtps_epi32(y), zp)
            });
            let w01 = _mm512_packs_epi32(r[0], r[1]);
            let w23 = _mm512_packs_epi32(r[2], r[3]);
            let bytes = _mm512_permutexvar_epi32(order, _mm512_packus_epi16(w01, w23));
            _mm512_storeu_si512(dst.as_mut_ptr().add(i).cast(), bytes);
        }
        i += 64;
    }
    while i < n {
        let m = if n - i >= 16 {
            u16::MAX
        } else {
            (1u16 << (n - i)) - 1
        };
        // SAFETY: the mask covers values i .. min(i + 16, n) of both slices.
        unsafe {
            let x = _mm512_maskz_loadu_ps(m, src.as_ptr().add(i));
            let y = if DIV {
                _mm512_div_ps(x, sv)
            } else {
                _mm512_mul_ps(x, sv)
            };
            let y = _mm512_min_ps(_mm512_max_ps(y, lo), hi);
            let r = _mm512_add_epi32(_mm512_cvtps_epi32(y), zp);
            let r = _mm512_min_epi32(_mm512_max_epi32(r, zero), top);
            _mm512_mask_cvtepi32_storeu_epi8(dst.as_mut_ptr().add(i).cast(), m, r);
        }
        i += 16;
    }
}
