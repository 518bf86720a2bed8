/* void sepconv_gemm_f32_14x32_avx512(size_t mr, size_t nr, size_t kc,
 *                                     const float *a, size_t a_stride_bytes,
 *                                     const float *w, float *c, size_t c_stride_bytes,
 *                                     const struct params *params)
 *
 * C[i][j] = min(max(w[j] + sum_k a[i][k] * w[32 + k*32 + j], params->min), params->max)
 * for i < 14, j < nr: the 7x32 kernel's panel and contract (gemm_avx512.S) for a full
 * tile of 14 rows. Requires AVX-512F; mr == 14 (ignored: always 14 rows), 1 <= nr <= 32,
 * kc >= 1; reads exactly rows 0..14 of `a` (kc floats each) and the panel, writes
 * exactly C[0..14][0..nr]. No alignment needed. The Rust wrapper (src/kernels/f32_gemm/x86.rs)
 * checks all of this and runs the rows left after whole tiles through the 7x32 kernel.
 * struct params { float min, max; const void *prefetch; }: every 2 k steps one line from
 * `prefetch` on is prefetched into L2 (a slice of the next panel, chosen by the caller).
 * SysV: rdi mr, rsi nr, rdx kc, rcx a, r8 a_stride, r9 w, stack: c, c_stride, params.
 *
 * Tile 14x32: 28 accumulators (zmm0-27), 2 B vectors (zmm28-29), broadcasts alternating
 * in zmm30-31 (renamed, so one register per row is not needed). Per k: 28 FMAs (14
 * cycles at 2 per cycle) against 2 vector and 14 broadcast loads, and each B vector feeds
 * 14 FMAs instead of 7: B streams through L1 at half the 7x32's rate, which is what
 * bounds the 7x32 when a K >= 512 panel (64 KiB and more) lives in L2, and the per-tile
 * work (bias, clamp, stores) is spread over twice the FMAs (its speed against the 7x32's
 * is in docs/performance.md).
 *
 * Fourteen row pointers would take more registers than x86-64 has beside the loop
 * state, so rows are addressed from two bases and three strides: with s = a_stride,
 * rcx = row 0 and rax = row 5, r8 = s, r10 = 3s, r11 = 5s, every row is one base plus
 * one scaled index (row 10 = rcx + 2 x 5s, row 12 = rcx + 4 x 3s, row 13 = rax + 8s);
 * both bases step 16 bytes per 4 k steps. */
#include "asm.h"
#include "gemm_x86.h"

/* Row r of the tile at byte offset o (r = 0..13). */
#define ROW0(o) o(%rcx)
#define ROW1(o) o(%rcx,%r8,1)
#define ROW2(o) o(%rcx,%r8,2)
#define ROW3(o) o(%rcx,%r10,1)
#define ROW4(o) o(%rcx,%r8,4)
#define ROW5(o) o(%rax)
#define ROW6(o) o(%rcx,%r10,2)
#define ROW7(o) o(%rax,%r8,2)
#define ROW8(o) o(%rcx,%r8,8)
#define ROW9(o) o(%rax,%r8,4)
#define ROW10(o) o(%rcx,%r11,2)
#define ROW11(o) o(%rax,%r10,2)
#define ROW12(o) o(%rcx,%r10,4)
#define ROW13(o) o(%rax,%r8,8)

/* Row `addr`'s broadcast into `t`, then its two FMAs into accumulators lo, lo + 1. */
#define ROWFMA(addr, t, lo, hi) \
    vbroadcastss addr, %zmm##t SEP \
    vfmadd231ps %zmm28, %zmm##t, %zmm##lo SEP \
    vfmadd231ps %zmm29, %zmm##t, %zmm##hi

/* One k step at byte offset `o` into the A rows, 128*`j` into the panel. */
#define KSTEP(o, j) \
    vmovups (128*(j))(%r9), %zmm28 SEP \
    vmovups (128*(j)+64)(%r9), %zmm29 SEP \
    ROWFMA(ROW0(o), 30, 0, 1) SEP \
    ROWFMA(ROW1(o), 31, 2, 3) SEP \
    ROWFMA(ROW2(o), 30, 4, 5) SEP \
    ROWFMA(ROW3(o), 31, 6, 7) SEP \
    ROWFMA(ROW4(o), 30, 8, 9) SEP \
    ROWFMA(ROW5(o), 31, 10, 11) SEP \
    ROWFMA(ROW6(o), 30, 12, 13) SEP \
    ROWFMA(ROW7(o), 31, 14, 15) SEP \
    ROWFMA(ROW8(o), 30, 16, 17) SEP \
    ROWFMA(ROW9(o), 31, 18, 19) SEP \
    ROWFMA(ROW10(o), 30, 20, 21) SEP \
    ROWFMA(ROW11(o), 31, 22, 23) SEP \
    ROWFMA(ROW12(o), 30, 24, 25) SEP \
    ROWFMA(ROW13(o), 31, 26, 27)

/* `op(lo, hi)` for the accumulator pairs of all 14 rows. */
#define EACH_ROW(op) \
    op(0, 1) SEP op(2, 3) SEP op(4, 5) SEP op(6, 7) SEP op(8, 9) SEP op(10, 11) SEP \
    op(12, 13) SEP op(14, 15) SEP op(16, 17) SEP op(18, 19) SEP op(20, 21) SEP \
    op(22, 23) SEP op(24, 25) SEP op(26, 27)

/* Clamp accumulators lo, hi to [zmm30, zmm31]. */
#define CLAMP2(lo, hi) \
    vmaxps %zmm30, %zmm##lo, %zmm##lo SEP \
    vmaxps %zmm30, %zmm##hi, %zmm##hi SEP \
    vminps %zmm31, %zmm##lo, %zmm##lo SEP \
    vminps %zmm31, %zmm##hi, %zmm##hi

/* Store one row (accumulators lo, hi) at rcx, then step rcx to the next C row. */
#define STORE(lo, hi) STORE2_ZMM lo, hi, %rcx SEP addq %r8, %rcx
#define STORE_MASKED(lo, hi) MASKSTORE2_ZMM lo, hi, %rcx SEP addq %r8, %rcx

FUNC_BEGIN(sepconv_gemm_f32_14x32_avx512)
    pushq %r13
    movq 32(%rsp), %r13             /* params */
    movq 8(%r13), %r13              /* params->prefetch: one line per 2 k steps into L2 */
    leaq (%r8,%r8,2), %r10          /* 3s */
    leaq (%r8,%r8,4), %r11          /* 5s */
    leaq (%rcx,%r11), %rax          /* row 5 */

    /* Accumulators start at the bias. */
    BIAS_2V zmm, 128, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, \
        21, 22, 23, 24, 25, 26, 27

    /* Four k steps per iteration while at least four remain (rdi counts them). */
    movq %rdx, %rdi
    shrq $2, %rdi
    jz 2f
1:  prefetcht1 (%r13)
    prefetcht1 64(%r13)
    addq $128, %r13
    KSTEP(0, 0)
    KSTEP(4, 1)
    KSTEP(8, 2)
    KSTEP(12, 3)
    addq $512, %r9
    addq $16, %rcx
    addq $16, %rax
    decq %rdi
    jnz 1b
2:  andq $3, %rdx
    jz 4f
3:  KSTEP(0, 0)
    addq $128, %r9
    addq $4, %rcx
    addq $4, %rax
    decq %rdx
    jnz 3b
4:
    /* Clamp. */
    movq 32(%rsp), %rax             /* params */
    vbroadcastss (%rax), %zmm30
    vbroadcastss 4(%rax), %zmm31
    EACH_ROW(CLAMP2)

    movq 16(%rsp), %rcx             /* c */
    movq 24(%rsp), %r8              /* c_stride */
    cmpq $32, %rsi
    jne 5f
    EACH_ROW(STORE)
    jmp 6f
5:  /* nr < 32: k1 masks columns 0-15, k2 columns 16-31. */
    MASKS_32
    movq %r9, %rcx
    EACH_ROW(STORE_MASKED)
6:  popq %r13
    vzeroupper
    ret
FUNC_END(sepconv_gemm_f32_14x32_avx512)

NOEXEC_STACK
