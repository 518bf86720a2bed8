//! AVX-512 conv0 for at most 8 output channels (MobileNet 0.25): a zmm holds 8 channels x
//! 2 taps instead of 16 channels with half the lanes idle.
//!
//! A window row is 9 contiguous floats (kx, c). `vbroadcastsd` puts two neighbouring ones
//! (a, b) in every pair of lanes, and the weight vector of that tap pair holds tap a's
//! weight of channel j in lane 2j and tap b's in lane 2j + 1; the ninth float pairs with a
//! zero weight. So a pixel takes 5 FMAs per window row (15 in all) instead of 9 (27), and
//! the even and odd lanes are added once at the end (`vpermilps` + add, then `vpmovqd`
//! keeps the even lanes: the 8 sums). At stride 2 the last two pairs of pixel p's window
//! row are the first two of pixel p + 1's, loaded once for both. Every pixel sums in the
//! same order whichever tile computes it.

use super::{interior, row_ptrs, window, Conv0Row, IN_C, PACKED_VECTORS};
use std::arch::x86_64::*;

/// Pixels per tile, then per tile of what remains (15 weight vectors + 12 accumulators
/// + a broadcast fit the 32 zmm registers).
const P: usize = 12;
const H: usize = 4;

/// The 15 pair weights (per window row ky, pairs (0, 1), (2, 3), (4, 5), (6, 7), (8, -))
/// and the bias in the even lanes, of a row's single channel block.
struct Pairs {
    w: [[__m512; 5]; 3],
    bias: __m512,
    lo: __m256,
    hi: __m256,
    /// Live channels (1..=8): the store mask.
    mask: __mmask16,
}

/// One checked row with at most 8 output channels.
///
/// # Safety
/// The CPU has AVX-512F; `a.check(16)` passed and `a.out_c <= 8`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn row(a: &mut Conv0Row<'_>) {
    const { assert!(PACKED_VECTORS == 28) };
    let lanes = 16;
    debug_assert!(a.out_c <= 8);
    // Lane i of the result takes lane i / 2 of `x` (i even) or of `y` (i odd).
    let idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let wp = a.weights.as_ptr();
    // SAFETY: the packed block holds PACKED_VECTORS whole vectors of 16 (checked).
    let tap = |t: usize| unsafe { _mm512_loadu_ps(wp.add(t * lanes)) };
    let zero = _mm512_setzero_ps();
    let mut w = [[zero; 5]; 3];
    for (ky, w) in w.iter_mut().enumerate() {
        for (s, w) in w.iter_mut().enumerate() {
            let t = 1 + ky * 9 + 2 * s;
            let second = if s < 4 { tap(t + 1) } else { zero };
            *w = _mm512_permutex2var_ps(tap(t), idx, second);
        }
    }
    let g = Pairs {
        w,
        bias: _mm512_permutex2var_ps(tap(0), idx, zero),
        lo: _mm256_set1_ps(a.clamp.min),
        hi: _mm256_set1_ps(a.clamp.max),
        mask: ((1u32 << a.out_c) - 1) as __mmask16,
    };
    let (first, end) = interior(a);
    let (pl, in_w) = (a.pad_left, a.in_w);
    let rows = row_ptrs(&a.input);
    let out = a.out.as_mut_ptr();
    let c = a.out_c;
    let x0 = |ox: usize| (ox * 2 - pl) * IN_C;
    let n = end - first;
    let mut ox = first;
    // SAFETY: every tile: pixels ox .. ox + Q lie in first..end, whose windows are inside
    // the image columns (as in `Sweep::sweep`); the output pixels are inside the row.
    unsafe {
        while end - ox >= P {
            tile::<P>(&g, rows, x0(ox), out.wrapping_add(ox * c), c);
            ox += P;
        }
        while end - ox >= H {
            tile::<H>(&g, rows, x0(ox), out.wrapping_add(ox * c), c);
            ox += H;
        }
        if ox < end && n >= H {
            tile::<H>(&g, rows, x0(end - H), out.wrapping_add((end - H) * c), c);
            ox = end;
        }
        while ox < end {
            tile::<1>(&g, rows, x0(ox), out.wrapping_add(ox * c), c);
            ox += 1;
        }
    }
    for ox in (0..first).chain(end.max(first)..a.out_w) {
        let win = window(&a.input, in_w, pl, ox);
        let (top, rest) = win.split_at(9);
        let (mid, bottom) = rest.split_at(9);
        let rows = row_ptrs(&[Some(top), Some(mid), Some(bottom)]);
        // SAFETY: the window holds 3 rows of 9 floats, pixel ox is inside the output row.
        unsafe { tile::<1>(&g, rows, 0, out.wrapping_add(ox * c), c) };
    }
}

/// Pixels 0..Q of a tile: pixel p's window row ky is `rows[ky][x0 + 6p .. x0 + 6p + 9]`;
/// null rows are skipped. Stores pixel p's `c` channels at `out + p * c`.
///
/// # Safety
/// AVX-512F; every window read is inside its row (or the stack window) and every pixel
/// stored inside the output row.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile<const Q: usize>(
    g: &Pairs,
    rows: [*const f32; 3],
    x0: usize,
    out: *mut f32,
    c: usize,
) {
    const { assert!(Q >= 1 && Q <= P) };
    let mut acc = [g.bias; Q];
    for (ky, &r) in rows.iter().enumerate() {
        if r.is_null() {
            continue;
        }
        let w = &g.w[ky];
        // SAFETY: every load: offsets up to x0 + 6 (Q - 1) + 8, the last float of the
        // last pixel's window row, which the caller guarantees is inside the row; the
        // pair at x0 + 6 (Q - 1) + 8 would read one float past it, so the last pixel's
        // ninth float is broadcast alone.
        let pair = |o: usize| unsafe {
            _mm512_castpd_ps(_mm512_set1_pd(std::ptr::read_unaligned(
                r.add(x0 + o).cast::<f64>(),
            )))
        };
        macro_rules! pixel {
            ($($p:literal)*) => {$(
                if $p < Q {
                    let b = pair(6 * $p);
                    acc[$p] = _mm512_fmadd_ps(b, w[0], acc[$p]);
                    if $p > 0 {
                        acc[$p - 1] = _mm512_fmadd_ps(b, w[3], acc[$p - 1]);
                    }
                    let b = pair(6 * $p + 2);
                    acc[$p] = _mm512_fmadd_ps(b, w[1], acc[$p]);
                    if $p > 0 {
                        acc[$p - 1] = _mm512_fmadd_ps(b, w[4], acc[$p - 1]);
                    }
                    let b = pair(6 * $p + 4);
                    acc[$p] = _mm512_fmadd_ps(b, w[2], acc[$p]);
                }
            )*};
        }
        pixel!(0 1 2 3 4 5 6 7 8 9 10 11);
        let b = pair(6 * Q);
        acc[Q - 1] = _mm512_fmadd_ps(b, w[3], acc[Q - 1]);
        // SAFETY: x0 + 6 (Q - 1) + 8 is the last pixel's last float.
        let b = _mm512_set1_ps(unsafe { *r.add(x0 + 6 * Q + 2) });
        acc[Q - 1] = _mm512_fmadd_ps(b, w[4], acc[Q - 1]);
    }
    for (p, &a) in acc.iter().enumerate() {
        // Even lanes + odd lanes, then the even lanes packed into 8 floats.
        let s = _mm512_add_ps(a, _mm512_permute_ps::<0b1011_0001>(a));
        let y = _mm256_castsi256_ps(_mm512_cvtepi64_epi32(_mm512_castps_si512(s)));
        let y = _mm256_min_ps(_mm256_max_ps(y, g.lo), g.hi);
        // SAFETY: pixel p of the tile is inside the output row; the mask keeps its c
        // channels.
        unsafe {
            _mm512_mask_storeu_ps(out.wrapping_add(p * c), g.mask, _mm512_castps256_ps512(y))
        };
    }
}
