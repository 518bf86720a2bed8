/* void sepconv_gemm_f32_6x16_avx2(size_t mr, size_t nr, size_t kc,
 *                                  const float *a, size_t a_stride_bytes,
 *                                  const float *w, float *c, size_t c_stride_bytes,
 *                                  const struct params *params)
 *
 * C[i][j] = min(max(w[j] + sum_k a[i][k] * w[16 + k*16 + j], params->min), params->max)
 * for i < mr, j < nr. `w` is one packed panel: 16 biases, then kc rows of 16 weights
 * (zero-padded past the layer's last column). Requires AVX2 and FMA; 1 <= mr <= 6,
 * 1 <= nr <= 16, kc >= 1; reads exactly rows 0..mr of `a` (kc floats each) and the
 * panel, writes exactly C[0..mr][0..nr]. No alignment needed. The Rust wrapper
 * (src/kernels/f32_gemm/x86.rs) checks all of this.
 * struct params { float min, max; const void *prefetch; } (AsmParams in
 * src/kernels/f32_gemm/mod.rs): every 4 k steps one line from `prefetch` on is prefetched
 * into L2 (a slice of the next panel, chosen by the caller).
 * SysV: rdi mr, rsi nr, rdx kc, rcx a, r8 a_stride, r9 w, stack: c, c_stride, params.
 *
 * Tile 6x16: 12 accumulators (ymm0-11) + 2 B vectors (ymm12-13) + 2 broadcasts
 * (ymm14-15) = all 16 ymm. Zen 3-5 run 2 FMAs per cycle with latency 4: >= 8
 * independent chains needed, 12 give slack. Per k: 12 FMAs (6 cycles) against 2 vector
 * loads and 6 broadcasts. (7x16 would leave no register for the broadcast.)
 * Rows >= mr alias row mr-1 (same A and C pointers): they compute and store the same
 * values. A short tile (mr <= 4, the rows left after whole tiles of 6) runs a loop over
 * rows 0-3 only: 8 FMAs per k instead of 12; a single row (the batch-1 classifier, the
 * last row of M = 25 or 49) one of its own, 2 FMAs per k.
 * Columns >= nr are stored with vmaskmovps, masks cut from a -1/0 table. */
#include "asm.h"
/* Where mr is, for NEXT_ROW and ROW_CHAIN. */
#define TILE_MR %rdi
#include "gemm_x86.h"

/* The prefetch runs 64 k steps (4 KiB) ahead in the panel and on into the next one, as
 * in gemm_avx512.S (a hint: never faults past the end of the weights). */
#define PF(j) prefetcht0 (64*(j)+4096)(%r9) SEP

/* One k step. */
#define KSTEP(o, j) \
    PF(j) \
    vmovups (64*(j))(%r9), %ymm12 SEP \
    vmovups (64*(j)+32)(%r9), %ymm13 SEP \
    vbroadcastss o(%rcx,%rdx), %ymm14 SEP \
    vbroadcastss o(%rax,%rdx), %ymm15 SEP \
    vfmadd231ps %ymm12, %ymm14, %ymm0 SEP \
    vfmadd231ps %ymm13, %ymm14, %ymm1 SEP \
    vbroadcastss o(%r10,%rdx), %ymm14 SEP \
    vfmadd231ps %ymm12, %ymm15, %ymm2 SEP \
    vfmadd231ps %ymm13, %ymm15, %ymm3 SEP \
    vbroadcastss o(%r11,%rdx), %ymm15 SEP \
    vfmadd231ps %ymm12, %ymm14, %ymm4 SEP \
    vfmadd231ps %ymm13, %ymm14, %ymm5 SEP \
    vbroadcastss o(%rbx,%rdx), %ymm14 SEP \
    vfmadd231ps %ymm12, %ymm15, %ymm6 SEP \
    vfmadd231ps %ymm13, %ymm15, %ymm7 SEP \
    vbroadcastss o(%rbp,%rdx), %ymm15 SEP \
    vfmadd231ps %ymm12, %ymm14, %ymm8 SEP \
    vfmadd231ps %ymm13, %ymm14, %ymm9 SEP \
    vfmadd231ps %ymm12, %ymm15, %ymm10 SEP \
    vfmadd231ps %ymm13, %ymm15, %ymm11

/* KSTEP for rows 0-3 only (the short-tile loop), broadcasting into ymm8-9 as well. */
#define KSTEP4(o, j) KSTEP4_2V(o, j, ymm, 64, 12, 13, 14, 15, 8, 9)

/* KSTEP for row 0 only (the one-row loop). */
#define KSTEP1(o, j) KSTEP1_2V(o, j, ymm, 64, 14)

/* Rows 1-5 (ymm2-11) take row 0's accumulators. */
#define ROW0_TO_ALL FROM_ROW0 ymm, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11

/* Its rows: accumulator pairs and row pointers, row 0's pointer given. */
#define ROWS(first) 0, 1, first, 2, 3, %rax, 4, 5, %r10, 6, 7, %r11, 8, 9, %rbx, 10, 11, %rbp

FUNC_BEGIN(sepconv_gemm_f32_6x16_avx2)
    pushq %rbx
    pushq %rbp
    pushq %r12
    movq 48(%rsp), %r12             /* params */
    movq 8(%r12), %r12              /* params->prefetch: one line per 4 k steps into L2 */
    /* A row pointers: rcx, rax, r10, r11, rbx, rbp. */
    ROW_CHAIN %r8, 1, %rcx, %rax, %r10, %r11, %rbx, %rbp
    ROWS_TO_END %rcx, %rax, %r10, %r11, %rbx, %rbp

    /* Accumulators start at the bias. */
    BIAS_2V ymm, 64, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    /* One row (the batch-1 classifier) runs its own loop; a short tile (mr <= 4, the
     * remainder of M after whole tiles of 6) the 4-row loop: 8 FMA chains still cover
     * 2 x 4 in flight. */
    cmpq $1, %rdi
    je 12f
    cmpq $4, %rdi
    jbe 7f

    KLOOP(KSTEP, %r12, 64)
4:
    /* Clamp. */
    CLAMP_ACCS 48(%rsp), ymm, ymm12, ymm13, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11

    /* C row pointers: rcx, rax, r10, r11, rbx, rbp (aliased like A's). */
    movq 32(%rsp), %rcx             /* c */
    movq 40(%rsp), %r8              /* c_stride */
    ROW_CHAIN %r8, 1, %rcx, %rax, %r10, %r11, %rbx, %rbp

    cmpq $16, %rsi
    jne 5f
    EACH_ROW2 STORE2_YMM, ROWS(%rcx)
    jmp 6f
5:  /* nr < 16: lanes j < nr of table[16 - nr ..] are -1, the rest 0. */
    leaq sepconv_gemm_avx2_mask_table(%rip), %rdx
    negq %rsi
    vmovups 64(%rdx,%rsi,4), %ymm12  /* columns 0-7 */
    vmovups 96(%rdx,%rsi,4), %ymm13  /* columns 8-15 */
    EACH_ROW2 MASKSTORE2_YMM, ROWS(%rcx)
6:  popq %r12
    popq %rbp
    popq %rbx
    vzeroupper
    ret

    /* Rows 0-3 only (mr <= 4), then rejoin at the clamp. */
7:  KLOOP(KSTEP4, %r12, 64)
    /* Rows 4-5 alias row mr - 1 <= 3, as does row 3: store row 3's values through them
     * too, so every store to that row writes the same. */
    vmovaps %ymm6, %ymm8
    vmovaps %ymm7, %ymm9
    vmovaps %ymm6, %ymm10
    vmovaps %ymm7, %ymm11
    jmp 4b

    /* One row: each weight is read once, from L3 or DRAM, so the loop is bound by the
     * weight stream, not by FMAs. One accumulator pair, k in order as in the tile loops:
     * a row's sums do not depend on where in a tile it falls (depth-first and threaded
     * runs split rows differently and stay bit-identical). */
12: KLOOP(KSTEP1, %r12, 64)
    /* Every other row aliases row 0 and stores the same values. */
    ROW0_TO_ALL
    jmp 4b
FUNC_END(sepconv_gemm_f32_6x16_avx2)

/* 16 x -1 then 16 x 0, read-only, kept in .text so no per-format section is needed. */
    .p2align 6
sepconv_gemm_avx2_mask_table:
    .long -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
    .long 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0

NOEXEC_STACK
