//! x86-64 int8 depthwise 3x3: AVX512-VNNI (`vpdpbusd`: u8 inputs times s8 weights, 4 taps
//! per i32 lane; 64-channel zmm blocks, a 32-channel ymm block for the tail, k-mask
//! loads and stores at the edges) and AVX2 (no byte dot product: the interleaved taps are
//! split into even and odd bytes as i16 and multiplied by i16 weight pairs with
//! `vpmaddwd`, which cannot overflow on u8 x s8 pairs; 32-channel ymm blocks).
//!
//! Both requantize with the float ops of `quant::requantize` (`vcvtdq2ps`, `vmulps`,
//! `vmaxps`, `vminps`, `vcvtps2dq` under the default round-to-nearest-even), then pack
//! i32 -> i16 -> u8 per 128-bit lane, which undoes the channel order of the interleave.

use super::{DwHalves, DwVec, InRow, Q8DwArgs, Q8DwKernel};
use crate::kernels::cpu::{self, Feature, Features, Isa};
use crate::kernels::table::KernelId;
use crate::quant::OutQ;
use crate::Result;
use std::arch::x86_64::*;

pub const VNNI: Q8DwKernel = Q8DwKernel {
    id: KernelId {
        name: "q8_dwconv3x3_64c_vnni_avx512",
        isa: Isa::Avx512,
        features: Features::of(&[Feature::Vnni]),
        detail: "rust avx512-vnni intrinsics, vpdpbusd on vertical tap triples, 64-channel \
                 zmm blocks, 32-channel ymm tail, k-mask edges, full blocks in half-block \
                 sweeps with the weights in registers",
    },
    block: 64,
    tail_block: 32,
    wide: false,
    a_offset: 0,
    run: run_vnni,
};

pub const AVX2: Q8DwKernel = Q8DwKernel {
    id: KernelId {
        name: "q8_dwconv3x3_32c_avx2",
        isa: Isa::Avx2,
        features: Features::NONE,
        detail: "rust avx2 intrinsics, vpmaddwd on even/odd taps widened to i16, \
                 32-channel ymm blocks",
    },
    block: 32,
    tail_block: 32,
    wide: true,
    a_offset: 0,
    run: run_avx2,
};

fn run_vnni(mut a: Q8DwArgs<'_>) -> Result<()> {
    a.check(&VNNI)?;
    cpu::require(&VNNI.id)?;
    // SAFETY: `require` confirmed the CPU has AVX-512 (F, BW, VL) and VNNI, the features
    // `vnni_entry` enables; `check` validated the call.
    unsafe { vnni_entry(&mut a) };
    Ok(())
}

/// # Safety
/// The CPU has avx512f/bw/vl/vnni and `a.check(&VNNI)` passed.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn vnni_entry(a: &mut Q8DwArgs<'_>) {
    // SAFETY: the features are enabled here, so the tokens are valid; checked call, and
    // Zmm / Ymm have the widths and packing of VNNI.
    unsafe { super::rows(Zmm(()), Ymm(()), &VNNI, a) }
}

fn run_avx2(mut a: Q8DwArgs<'_>) -> Result<()> {
    a.check(&AVX2)?;
    cpu::require(&AVX2.id)?;
    // SAFETY: `require` confirmed the CPU has AVX2 + FMA, the features `avx2_entry`
    // enables; `check` validated the call.
    unsafe { avx2_entry(&mut a) };
    Ok(())
}

/// # Safety
/// The CPU has avx2 and `a.check(&AVX2)` passed.
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_entry(a: &mut Q8DwArgs<'_>) {
    // SAFETY: as `vnni_entry`, for Avx2Vec.
    unsafe { super::rows(Avx2Vec(()), Avx2Vec(()), &AVX2, a) }
}

/// The requantization constants: float bounds, the zero point as i16 lanes.
#[derive(Clone, Copy)]
struct Q512 {
    hi: __m512,
    zp: __m512i,
    lo8: __m512i,
    hi8: __m512i,
}

/// AVX512-VNNI, 64 channels in zmm. Only built inside `vnni_entry`.
#[derive(Clone, Copy)]
struct Zmm(());

impl DwVec for Zmm {
    const B: usize = 64;
    const WB: usize = 64;
    type R = __m512i;
    type X = __m512i;
    type A = __m512i;
    type Q = Q512;

    #[inline(always)]
    unsafe fn load(self, p: *const u8, n: usize) -> __m512i {
        // SAFETY: p .. p + n readable; the masked load reads only the first n bytes.
        unsafe {
            if n >= 64 {
                _mm512_loadu_si512(p.cast())
            } else {
                _mm512_maskz_loadu_epi8((1u64 << n) - 1, p.cast())
            }
        }
    }

    #[inline(always)]
    fn interleave(self, a: __m512i, b: __m512i, c: __m512i) -> [__m512i; 4] {
        // SAFETY: the token proves the features enabled.
        self.interleave4(a, b, c, unsafe { _mm512_setzero_si512() })
    }

    const PAIR: bool = true;

    #[inline(always)]
    fn interleave4(self, a: __m512i, b: __m512i, c: __m512i, d: __m512i) -> [__m512i; 4] {
        // SAFETY: the token proves the features enabled.
        unsafe {
            let (ab_lo, ab_hi) = (_mm512_unpacklo_epi8(a, b), _mm512_unpackhi_epi8(a, b));
            let (cd_lo, cd_hi) = (_mm512_unpacklo_epi8(c, d), _mm512_unpackhi_epi8(c, d));
            [
                _mm512_unpacklo_epi16(ab_lo, cd_lo),
                _mm512_unpackhi_epi16(ab_lo, cd_lo),
                _mm512_unpacklo_epi16(ab_hi, cd_hi),
                _mm512_unpackhi_epi16(ab_hi, cd_hi),
            ]
        }
    }

    #[inline(always)]
    unsafe fn shift_weights(self, src: *const u8, dst: *mut u8) {
        // SAFETY: 64 bytes each.
        unsafe {
            let v = _mm512_loadu_si512(src.cast());
            _mm512_storeu_si512(dst.cast(), _mm512_slli_epi32::<8>(v));
        }
    }

    const HALVES: bool = true;

    #[inline(always)]
    unsafe fn pair_halves<const SMALL: bool>(
        self,
        a: &Q8DwArgs<'_>,
        rows: &[InRow; 4],
        out: [*mut u8; 2],
        c0: usize,
        w: *const u8,
        q: Q512,
    ) {
        // SAFETY: forwarded.
        unsafe { super::sweep_pair_halves::<Self, SMALL>(self, a, rows, out, c0, w, q) }
    }

    #[inline(always)]
    unsafe fn single_halves<const SMALL: bool>(
        self,
        a: &Q8DwArgs<'_>,
        rows: &[InRow; 3],
        out: *mut u8,
        c0: usize,
        w: *const u8,
        q: Q512,
    ) {
        // SAFETY: forwarded.
        unsafe { super::sweep_single_halves::<Self, SMALL>(self, a, rows, out, c0, w, q) }
    }

    #[inline(always)]
    unsafe fn bias(self, p: *const u8) -> __m512i {
        // SAFETY: 64 readable bytes.
        unsafe { _mm512_loadu_si512(p.cast()) }
    }

    #[inline(always)]
    unsafe fn dot(self, acc: __m512i, x: __m512i, w: *const u8) -> __m512i {
        // SAFETY: 64 readable bytes at w.
        unsafe { _mm512_dpbusd_epi32(acc, x, _mm512_loadu_si512(w.cast())) }
    }

    #[inline(always)]
    fn quant(self, out: OutQ) -> Q512 {
        let (_, hi) = out.float_bounds();
        // SAFETY: the token proves the features enabled.
        unsafe {
            Q512 {
                hi: _mm512_set1_ps(hi),
                zp: _mm512_set1_epi16(out.zero_point as i16),
                lo8: _mm512_set1_epi8(out.lo as i8),
                hi8: _mm512_set1_epi8(out.hi as i8),
            }
        }
    }

    #[inline(always)]
    unsafe fn store(self, acc: [__m512i; 4], scale: *const u8, q: Q512, p: *mut u8, n: usize) {
        // SAFETY: forwarded.
        unsafe { store512::<true>(acc, scale, q, p, n) }
    }

    #[inline(always)]
    unsafe fn store_small(
        self,
        acc: [__m512i; 4],
        scale: *const u8,
        q: Q512,
        p: *mut u8,
        n: usize,
    ) {
        // SAFETY: forwarded.
        unsafe { store512::<false>(acc, scale, q, p, n) }
    }
}

// Why the kernels may clamp after the conversion, in integers: the reference computes
// `zp + rne(min(max(f, lo - zp), hi - zp))` with `f = float(acc) * scale`. `lo - zp`
// and `hi - zp` are integers, and rounding is monotonic and leaves integers alone, so
// `rne(clamp(f, L, H)) = clamp(rne(f), L, H)`: the reference is `clamp(rne(f) + zp, lo,
// hi)`. The kernels compute `v = cvtps2dq(f)`, then `packs` (i32 -> i16, saturating),
// `adds` of zp (saturating) and `packus` (i16 -> u8, saturating): for any i32 `v` that
// chain is exactly `clamp(v + zp, 0, 255)` (a saturated i16 stays beyond 0..=255 after
// adding 0..=255), and since `0 <= lo <= hi <= 255`, `clamp(clamp(x, 0, 255), lo, hi) =
// clamp(x, lo, hi)`: `max_epu8(lo)` and `min_epu8(hi)` finish it. What remains is `v =
// rne(f)`: `cvtps2dq` rounds half to even exactly on (-2^31, 2^31) and gives i32::MIN
// for -2^31 (exact) and for anything at or above 2^31 (wrong: it should clamp to hi).
// `|float(acc)| <= 2^31`, so with every scale below 1 `|f| <= 2^31 (1 - 2^-24) < 2^31`
// and no float clamp is needed; otherwise `min(f, hi - zp)` in float first keeps `f`
// below 2^31 (then `min_epu8(hi)` is a no-op and is skipped). The low side never needs
// the float clamp: a negative overflow is impossible and i32::MIN saturates to 0.

/// The requantization of 4 zmm accumulator registers to 64 bytes in natural order,
/// stored at `p` (`n` of them). See the comment above for why the clamps may move; with
/// `HI` the upper one is also applied in float, as it must be when a scale may be >= 1.
///
/// # Safety
/// The VNNI features are enabled, `scale .. scale + 256` readable, `p .. p + n` writable.
#[inline(always)]
unsafe fn store512<const HI: bool>(
    acc: [__m512i; 4],
    scale: *const u8,
    q: Q512,
    p: *mut u8,
    n: usize,
) {
    // SAFETY: as documented; the store is masked past n.
    unsafe {
        let mut i = [_mm512_setzero_si512(); 4];
        for r in 0..4 {
            let s = _mm512_loadu_ps(scale.add(64 * r).cast());
            let f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r]), s);
            let f = if HI { _mm512_min_ps(f, q.hi) } else { f };
            i[r] = _mm512_cvtps_epi32(f);
        }
        let p01 = _mm512_adds_epi16(_mm512_packs_epi32(i[0], i[1]), q.zp);
        let p23 = _mm512_adds_epi16(_mm512_packs_epi32(i[2], i[3]), q.zp);
        let u = _mm512_packus_epi16(p01, p23);
        let u = _mm512_max_epu8(u, q.lo8);
        let u = if HI { u } else { _mm512_min_epu8(u, q.hi8) };
        if n >= 64 {
            _mm512_storeu_si512(p.cast(), u);
        } else {
            _mm512_mask_storeu_epi8(p.cast(), (1u64 << n) - 1, u);
        }
    }
}

impl DwHalves for Zmm {
    #[inline(always)]
    fn interleave4_half<const H: usize>(
        self,
        a: __m512i,
        b: __m512i,
        c: __m512i,
        d: __m512i,
    ) -> [__m512i; 2] {
        // SAFETY: the token proves the features enabled.
        unsafe {
            let (ab, cd) = if H == 0 {
                (_mm512_unpacklo_epi8(a, b), _mm512_unpacklo_epi8(c, d))
            } else {
                (_mm512_unpackhi_epi8(a, b), _mm512_unpackhi_epi8(c, d))
            };
            [_mm512_unpacklo_epi16(ab, cd), _mm512_unpackhi_epi16(ab, cd)]
        }
    }

    #[inline(always)]
    unsafe fn load_w(self, p: *const u8) -> __m512i {
        // SAFETY: 64 readable bytes.
        unsafe { _mm512_loadu_si512(p.cast()) }
    }

    #[inline(always)]
    fn shift_w(self, w: __m512i) -> __m512i {
        // SAFETY: the token proves the features enabled.
        unsafe { _mm512_slli_epi32::<8>(w) }
    }

    #[inline(always)]
    fn dot_w(self, acc: __m512i, x: __m512i, w: __m512i) -> __m512i {
        // SAFETY: the token proves the features enabled.
        unsafe { _mm512_dpbusd_epi32(acc, x, w) }
    }

    #[inline(always)]
    unsafe fn store_half<const H: usize, const SMALL: bool>(
        self,
        acc: [__m512i; 2],
        scale: *const u8,
        q: Q512,
        p: *mut u8,
    ) {
        // SAFETY: as documented; the ops are `store512`'s on its registers 2 H, 2 H + 1.
        unsafe {
            let mut i = [_mm512_setzero_si512(); 2];
            for r in 0..2 {
                let s = _mm512_loadu_ps(scale.add(64 * r).cast());
                let f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r]), s);
                let f = if SMALL { f } else { _mm512_min_ps(f, q.hi) };
                i[r] = _mm512_cvtps_epi32(f);
            }
            let v = _mm512_adds_epi16(_mm512_packs_epi32(i[0], i[1]), q.zp);
            if H == 0 {
                _mm512_storeu_si512(p.cast(), v);
            } else {
                let u = _mm512_packus_epi16(_mm512_loadu_si512(p.cast()), v);
                let u = _mm512_max_epu8(u, q.lo8);
                let u = if SMALL { _mm512_min_epu8(u, q.hi8) } else { u };
                _mm512_storeu_si512(p.cast(), u);
            }
        }
    }
}

impl DwHalves for Ymm {
    #[inline(always)]
    fn interleave4_half<const H: usize>(
        self,
        a: __m256i,
        b: __m256i,
        c: __m256i,
        d: __m256i,
    ) -> [__m256i; 2] {
        // SAFETY: the token proves AVX2 enabled.
        unsafe {
            let (ab, cd) = if H == 0 {
                (_mm256_unpacklo_epi8(a, b), _mm256_unpacklo_epi8(c, d))
            } else {
                (_mm256_unpackhi_epi8(a, b), _mm256_unpackhi_epi8(c, d))
            };
            [_mm256_unpacklo_epi16(ab, cd), _mm256_unpackhi_epi16(ab, cd)]
        }
    }

    #[inline(always)]
    unsafe fn load_w(self, p: *const u8) -> __m256i {
        // SAFETY: 32 readable bytes.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }

    #[inline(always)]
    fn shift_w(self, w: __m256i) -> __m256i {
        // SAFETY: the token proves AVX2 enabled.
        unsafe { _mm256_slli_epi32::<8>(w) }
    }

    #[inline(always)]
    fn dot_w(self, acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
        // SAFETY: the token proves avx512vnni + vl enabled.
        unsafe { _mm256_dpbusd_epi32(acc, x, w) }
    }

    #[inline(always)]
    unsafe fn store_half<const H: usize, const SMALL: bool>(
        self,
        acc: [__m256i; 2],
        scale: *const u8,
        q: Q256,
        p: *mut u8,
    ) {
        // SAFETY: as documented; the ops are `requant256`'s on its registers 2 H, 2 H + 1.
        unsafe {
            let mut i = [_mm256_setzero_si256(); 2];
            for r in 0..2 {
                let s = _mm256_loadu_ps(scale.add(32 * r).cast());
                let f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r]), s);
                let f = if SMALL { f } else { _mm256_min_ps(f, q.hi) };
                i[r] = _mm256_cvtps_epi32(f);
            }
            let v = _mm256_adds_epi16(_mm256_packs_epi32(i[0], i[1]), q.zp);
            if H == 0 {
                _mm256_storeu_si256(p.cast(), v);
            } else {
                let u = _mm256_packus_epi16(_mm256_loadu_si256(p.cast()), v);
                let u = _mm256_max_epu8(u, q.lo8);
                let u = if SMALL { _mm256_min_epu8(u, q.hi8) } else { u };
                _mm256_storeu_si256(p.cast(), u);
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Q256 {
    hi: __m256,
    zp: __m256i,
    lo8: __m256i,
    hi8: __m256i,
}

/// The requantization of 4 ymm accumulator registers to 32 bytes in natural order, as
/// [`store512`].
///
/// # Safety
/// AVX2 is enabled and `scale .. scale + 128` readable.
#[inline(always)]
unsafe fn requant256<const HI: bool>(acc: [__m256i; 4], scale: *const u8, q: Q256) -> __m256i {
    // SAFETY: as documented.
    unsafe {
        let mut i = [_mm256_setzero_si256(); 4];
        for r in 0..4 {
            let s = _mm256_loadu_ps(scale.add(32 * r).cast());
            let f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r]), s);
            let f = if HI { _mm256_min_ps(f, q.hi) } else { f };
            i[r] = _mm256_cvtps_epi32(f);
        }
        let p01 = _mm256_adds_epi16(_mm256_packs_epi32(i[0], i[1]), q.zp);
        let p23 = _mm256_adds_epi16(_mm256_packs_epi32(i[2], i[3]), q.zp);
        let u = _mm256_max_epu8(_mm256_packus_epi16(p01, p23), q.lo8);
        if HI {
            u
        } else {
            _mm256_min_epu8(u, q.hi8)
        }
    }
}

/// The interleave of the module doc on ymm (per 128-bit lane), of 4 rows.
///
/// # Safety
/// AVX2 is enabled.
#[inline(always)]
unsafe fn interleave256(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> [__m256i; 4] {
    // SAFETY: as documented.
    unsafe {
        let (ab_lo, ab_hi) = (_mm256_unpacklo_epi8(a, b), _mm256_unpackhi_epi8(a, b));
        let (cd_lo, cd_hi) = (_mm256_unpacklo_epi8(c, d), _mm256_unpackhi_epi8(c, d));
        [
            _mm256_unpacklo_epi16(ab_lo, cd_lo),
            _mm256_unpackhi_epi16(ab_lo, cd_lo),
            _mm256_unpacklo_epi16(ab_hi, cd_hi),
            _mm256_unpackhi_epi16(ab_hi, cd_hi),
        ]
    }
}

/// # Safety
/// AVX2 is enabled.
#[inline(always)]
unsafe fn quant256(out: OutQ) -> Q256 {
    let (_, hi) = out.float_bounds();
    // SAFETY: as documented.
    unsafe {
        Q256 {
            hi: _mm256_set1_ps(hi),
            zp: _mm256_set1_epi16(out.zero_point as i16),
            lo8: _mm256_set1_epi8(out.lo as i8),
            hi8: _mm256_set1_epi8(out.hi as i8),
        }
    }
}

/// AVX512-VNNI with VL, 32 channels in ymm (the tail block). Only built inside
/// `vnni_entry`.
#[derive(Clone, Copy)]
struct Ymm(());

impl DwVec for Ymm {
    const B: usize = 32;
    const WB: usize = 32;
    type R = __m256i;
    type X = __m256i;
    type A = __m256i;
    type Q = Q256;

    #[inline(always)]
    unsafe fn load(self, p: *const u8, n: usize) -> __m256i {
        // SAFETY: p .. p + n readable; the masked load reads only the first n bytes.
        unsafe {
            if n >= 32 {
                _mm256_loadu_si256(p.cast())
            } else {
                _mm256_maskz_loadu_epi8(((1u64 << n) - 1) as u32, p.cast())
            }
        }
    }

    #[inline(always)]
    fn interleave(self, a: __m256i, b: __m256i, c: __m256i) -> [__m256i; 4] {
        // SAFETY: the token proves AVX2 enabled.
        unsafe { interleave256(a, b, c, _mm256_setzero_si256()) }
    }

    const PAIR: bool = true;

    #[inline(always)]
    fn interleave4(self, a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> [__m256i; 4] {
        // SAFETY: the token proves AVX2 enabled.
        unsafe { interleave256(a, b, c, d) }
    }

    #[inline(always)]
    unsafe fn shift_weights(self, src: *const u8, dst: *mut u8) {
        // SAFETY: 32 bytes each.
        unsafe {
            let v = _mm256_loadu_si256(src.cast());
            _mm256_storeu_si256(dst.cast(), _mm256_slli_epi32::<8>(v));
        }
    }

    const HALVES: bool = true;

    #[inline(always)]
    unsafe fn pair_halves<const SMALL: bool>(
        self,
        a: &Q8DwArgs<'_>,
        rows: &[InRow; 4],
        out: [*mut u8; 2],
        c0: usize,
        w: *const u8,
        q: Q256,
    ) {
        // SAFETY: forwarded.
        unsafe { super::sweep_pair_halves::<Self, SMALL>(self, a, rows, out, c0, w, q) }
    }

    #[inline(always)]
    unsafe fn single_halves<const SMALL: bool>(
        self,
        a: &Q8DwArgs<'_>,
        rows: &[InRow; 3],
        out: *mut u8,
        c0: usize,
        w: *const u8,
        q: Q256,
    ) {
        // SAFETY: forwarded.
        unsafe { super::sweep_single_halves::<Self, SMALL>(self, a, rows, out, c0, w, q) }
    }

    #[inline(always)]
    unsafe fn bias(self, p: *const u8) -> __m256i {
        // SAFETY: 32 readable bytes.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }

    #[inline(always)]
    unsafe fn dot(self, acc: __m256i, x: __m256i, w: *const u8) -> __m256i {
        // SAFETY: 32 readable bytes at w; the token proves avx512vnni + vl enabled.
        unsafe { _mm256_dpbusd_epi32(acc, x, _mm256_loadu_si256(w.cast())) }
    }

    #[inline(always)]
    fn quant(self, out: OutQ) -> Q256 {
        // SAFETY: the token proves AVX2 enabled.
        unsafe { quant256(out) }
    }

    #[inline(always)]
    unsafe fn store(self, acc: [__m256i; 4], scale: *const u8, q: Q256, p: *mut u8, n: usize) {
        // SAFETY: forwarded.
        unsafe { store256m::<true>(acc, scale, q, p, n) }
    }

    #[inline(always)]
    unsafe fn store_small(
        self,
        acc: [__m256i; 4],
        scale: *const u8,
        q: Q256,
        p: *mut u8,
        n: usize,
    ) {
        // SAFETY: forwarded.
        unsafe { store256m::<false>(acc, scale, q, p, n) }
    }
}

/// [`requant256`] and a k-masked store of `n` bytes.
///
/// # Safety
/// AVX512-VL/BW are enabled, `scale .. scale + 128` readable, `p .. p + n` writable.
#[inline(always)]
unsafe fn store256m<const HI: bool>(
    acc: [__m256i; 4],
    scale: *const u8,
    q: Q256,
    p: *mut u8,
    n: usize,
) {
    // SAFETY: as documented; masked past n.
    unsafe {
        let u = requant256::<HI>(acc, scale, q);
        if n >= 32 {
            _mm256_storeu_si256(p.cast(), u);
        } else {
            _mm256_mask_storeu_epi8(p.cast(), ((1u64 << n) - 1) as u32, u);
        }
    }
}

/// AVX2, 32 channels in ymm: taps split into (even, odd) i16 words. Only built inside
/// `avx2_entry`.
#[derive(Clone, Copy)]
struct Avx2Vec(());

impl DwVec for Avx2Vec {
    const B: usize = 32;
    const WB: usize = 64;
    type R = __m256i;
    type X = (__m256i, __m256i);
    type A = __m256i;
    type Q = Q256;

    #[inline(always)]
    unsafe fn load(self, p: *const u8, n: usize) -> __m256i {
        // SAFETY: p .. p + n readable; a short tail goes through a stack buffer.
        unsafe {
            if n >= 32 {
                _mm256_loadu_si256(p.cast())
            } else {
                let mut buf = [0u8; 32];
                std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
                _mm256_loadu_si256(buf.as_ptr().cast())
            }
        }
    }

    #[inline(always)]
    fn interleave(self, a: __m256i, b: __m256i, c: __m256i) -> [(__m256i, __m256i); 4] {
        // SAFETY: the token proves AVX2 enabled.
        unsafe {
            let x = interleave256(a, b, c, _mm256_setzero_si256());
            let m = _mm256_set1_epi16(0xff);
            x.map(|x| (_mm256_and_si256(x, m), _mm256_srli_epi16::<8>(x)))
        }
    }

    #[inline(always)]
    unsafe fn bias(self, p: *const u8) -> __m256i {
        // SAFETY: 32 readable bytes.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }

    #[inline(always)]
    unsafe fn dot(self, acc: __m256i, x: (__m256i, __m256i), w: *const u8) -> __m256i {
        // SAFETY: 64 readable bytes at w. Words are u8 values (0..=255) times s8 weights,
        // so no pair sum reaches vpmaddwd's one overflowing case.
        unsafe {
            let e = _mm256_madd_epi16(x.0, _mm256_loadu_si256(w.cast()));
            let o = _mm256_madd_epi16(x.1, _mm256_loadu_si256(w.add(32).cast()));
            _mm256_add_epi32(acc, _mm256_add_epi32(e, o))
        }
    }

    #[inline(always)]
    fn quant(self, out: OutQ) -> Q256 {
        // SAFETY: the token proves AVX2 enabled.
        unsafe { quant256(out) }
    }

    #[inline(always)]
    unsafe fn store(self, acc: [__m256i; 4], scale: *const u8, q: Q256, p: *mut u8, n: usize) {
        // SAFETY: forwarded.
        unsafe { store256b::<true>(acc, scale, q, p, n) }
    }

    #[inline(always)]
    unsafe fn store_small(
        self,
        acc: [__m256i; 4],
        scale: *const u8,
        q: Q256,
        p: *mut u8,
        n: usize,
    ) {
        // SAFETY: forwarded.
        unsafe { store256b::<false>(acc, scale, q, p, n) }
    }
}

/// [`requant256`] and a store of `n` bytes (a short tail through a stack buffer).
///
/// # Safety
/// AVX2 is enabled, `scale .. scale + 128` readable, `p .. p + n` writable.
#[inline(always)]
unsafe fn store256b<const HI: bool>(
    acc: [__m256i; 4],
    scale: *const u8,
    q: Q256,
    p: *mut u8,
    n: usize,
) {
    // SAFETY: as documented.
    unsafe {
        let u = requant256::<HI>(acc, scale, q);
        if n >= 32 {
            _mm256_storeu_si256(p.cast(), u);
        } else {
            let mut buf = [0u8; 32];
            _mm256_storeu_si256(buf.as_mut_ptr().cast(), u);
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
    }
}
