/* void sepconv_gemm_f32_7x32_avx512(size_t mr, size_t nr, size_t kc,
 *                                    const float *a, size_t a_stride_bytes,
 *                                    const float *w, float *c, size_t c_stride_bytes,
 *                                    const struct params *params)
 *
 * C[i][j] = min(max(w[j] + sum_k a[i][k] * w[32 + k*32 + j], params->min), params->max)
 * for i < mr, j < nr. `w` is one packed panel: 32 biases, then kc rows of 32 weights
 * (zero-padded past the layer's last column). Requires AVX-512F; 1 <= mr <= 7,
 * 1 <= nr <= 32, kc >= 1; reads exactly rows 0..mr of `a` (kc floats each) and the
 * panel, writes exactly C[0..mr][0..nr]. No alignment needed. The Rust wrapper
 * (src/kernels/f32_gemm/x86.rs) checks all of this.
 * struct params { float min, max; const void *prefetch; } (AsmParams in
 * src/kernels/f32_gemm/mod.rs): every 4 k steps one line from `prefetch` on is prefetched
 * into L2 (a slice of the next panel, chosen by the caller).
 * SysV: rdi mr, rsi nr, rdx kc, rcx a, r8 a_stride, r9 w, stack: c, c_stride, params.
 *
 * Tile 7x32: 14 accumulators (zmm0-13) + 2 B vectors (zmm14-15) + 7 broadcasts
 * (zmm16-22). Two 512-bit FMAs per cycle with latency 4 need >= 8 independent chains;
 * 14 give slack. Per k: 14 FMAs (7 cycles) against 2 vector and 7 broadcast loads.
 * Whole tiles of 14 rows run in gemm_avx512_14x32.S (28 accumulators: half the B loads
 * per FMA); this kernel takes the rows left after them (M = 49 = 3 x 14 + 7 at 224 px)
 * and the batch-1 classifier's single row, where its short-tile and one-row loops and its
 * prefetch of the weights 8 KiB ahead pay.
 * Rows >= mr alias row mr-1 (same A and C pointers): they compute and store the same
 * values, so remainder rows touch nothing outside the tile. A short tile (mr <= 4: the
 * rows left after whole tiles of 7, e.g. 25 = 3 x 7 + 4 at 160 px) runs a loop over rows
 * 0-3 only, in 4/7 of the cycles per k. One row (the batch-1 classifier, the last row of M = 15 or 29) runs a loop of its
 * own: 2 FMAs per k instead of the 4-row loop's 8, which on a core with one zmm FMA per
 * cycle had made the classifier FMA-bound (docs/performance.md). Its two accumulator chains wait on FMA latency (4 cycles per k);
 * splitting k over more would change the sums' order, and a row must give the same bits
 * in any loop (batch 1 = batch N).
 * Columns >= nr are masked with k1/k2 on store. */
#include "asm.h"
/* Where mr is, for NEXT_ROW and ROW_CHAIN. */
#define TILE_MR %rdi
#include "gemm_x86.h"

/* Prefetch the panel 8 KiB (64 k steps) ahead: the panel streams from L3 or DRAM once per
 * inference, and on some cores (a virtualized Xeon) the hardware prefetchers alone left
 * the first tile of each panel waiting on memory (docs/performance.md).
 * Past the panel's end it fetches the start of the next one, which is packed right after.
 * A prefetch never faults, so running off the end of the weights is harmless. */
#define PF(j) \
    prefetcht0 (128*(j)+8192)(%r9) SEP \
    prefetcht0 (128*(j)+8192+64)(%r9) SEP

/* One k step at byte offset `o` into the A rows, 128*`j` into the panel (with its
 * prefetch). */
#define KSTEP(o, j) \
    PF(j) \
    vmovups (128*(j))(%r9), %zmm14 SEP \
    vmovups (128*(j)+64)(%r9), %zmm15 SEP \
    vbroadcastss o(%rcx,%rdx), %zmm16 SEP \
    vbroadcastss o(%rax,%rdx), %zmm17 SEP \
    vbroadcastss o(%r10,%rdx), %zmm18 SEP \
    vbroadcastss o(%r11,%rdx), %zmm19 SEP \
    vbroadcastss o(%rbx,%rdx), %zmm20 SEP \
    vbroadcastss o(%rbp,%rdx), %zmm21 SEP \
    vbroadcastss o(%r12,%rdx), %zmm22 SEP \
    vfmadd231ps %zmm14, %zmm16, %zmm0 SEP \
    vfmadd231ps %zmm15, %zmm16, %zmm1 SEP \
    vfmadd231ps %zmm14, %zmm17, %zmm2 SEP \
    vfmadd231ps %zmm15, %zmm17, %zmm3 SEP \
    vfmadd231ps %zmm14, %zmm18, %zmm4 SEP \
    vfmadd231ps %zmm15, %zmm18, %zmm5 SEP \
    vfmadd231ps %zmm14, %zmm19, %zmm6 SEP \
    vfmadd231ps %zmm15, %zmm19, %zmm7 SEP \
    vfmadd231ps %zmm14, %zmm20, %zmm8 SEP \
    vfmadd231ps %zmm15, %zmm20, %zmm9 SEP \
    vfmadd231ps %zmm14, %zmm21, %zmm10 SEP \
    vfmadd231ps %zmm15, %zmm21, %zmm11 SEP \
    vfmadd231ps %zmm14, %zmm22, %zmm12 SEP \
    vfmadd231ps %zmm15, %zmm22, %zmm13

/* KSTEP for rows 0-3 only: the short-tile loop below. */
#define KSTEP4(o, j) KSTEP4_2V(o, j, zmm, 128, 14, 15, 16, 17, 18, 19)

/* KSTEP for row 0 only: the one-row loop below. */
#define KSTEP1(o, j) KSTEP1_2V(o, j, zmm, 128, 16)

/* Rows 1-6 take row 0's accumulators (the bias at the start; the one-row loop's sums at
 * its end, stored through rows that all alias row 0). */
#define ROW0_TO_ALL FROM_ROW0 zmm, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13

/* Its rows: accumulator pairs and row pointers, row 0's pointer given. */
#define ROWS(first) 0, 1, first, 2, 3, %rax, 4, 5, %r10, 6, 7, %r11, 8, 9, %rbx, 10, 11, %rbp, \
    12, 13, %r12

FUNC_BEGIN(sepconv_gemm_f32_7x32_avx512)
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    movq 56(%rsp), %r13             /* params */
    movq 8(%r13), %r13              /* params->prefetch: one line per 4 k steps into L2 */
    /* A row pointers: rcx, rax, r10, r11, rbx, rbp, r12. */
    ROW_CHAIN %r8, 1, %rcx, %rax, %r10, %r11, %rbx, %rbp, %r12
    ROWS_TO_END %rcx, %rax, %r10, %r11, %rbx, %rbp, %r12

    /* Accumulators start at the bias. */
    BIAS_2V zmm, 128, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13
    /* One row (the batch-1 classifier): 2 FMAs per k in the tile loops' k order, so a
     * row's sums are the same bits whichever loop computes it. */
    cmpq $1, %rdi
    je 12f
    /* A short tile (mr <= 4, the remainder of M after whole tiles of 7) runs the 4-row
     * loop at 7/4 of the speed per tile: 8 FMA chains still cover Zen 5's 2 x 4 in flight. */
    cmpq $4, %rdi
    jbe 7f

    KLOOP(KSTEP, %r13, 128)
4:
    /* Clamp. */
    CLAMP_ACCS 56(%rsp), zmm, zmm30, zmm31, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13

    /* C row pointers: rcx, rax, r10, r11, rbx, rbp, r12 (aliased like A's). */
    movq 40(%rsp), %rcx             /* c */
    movq 48(%rsp), %r8              /* c_stride */
    ROW_CHAIN %r8, 1, %rcx, %rax, %r10, %r11, %rbx, %rbp, %r12

    cmpq $32, %rsi
    jne 5f
    EACH_ROW2 STORE2_ZMM, ROWS(%rcx)
    jmp 6f
5:  /* nr < 32: k1 masks columns 0-15, k2 columns 16-31. */
    MASKS_32                        /* row 0 now at r9 */
    EACH_ROW2 MASKSTORE2_ZMM, ROWS(%r9)
6:  popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    vzeroupper
    ret

    /* Rows 0-3 only (mr <= 4), then rejoin at the clamp. */
7:  KLOOP(KSTEP4, %r13, 128)
    /* Rows 4-6 alias row mr - 1 <= 3, as does row 3: store row 3's values through them
     * too, so every store to that row writes the same. */
    vmovaps %zmm6, %zmm8
    vmovaps %zmm7, %zmm9
    vmovaps %zmm6, %zmm10
    vmovaps %zmm7, %zmm11
    vmovaps %zmm6, %zmm12
    vmovaps %zmm7, %zmm13
    jmp 4b

    /* Row 0 only (mr == 1), then every row (all alias row 0) stores its values. */
12: KLOOP(KSTEP1, %r13, 128)
    ROW0_TO_ALL
    jmp 4b
FUNC_END(sepconv_gemm_f32_7x32_avx512)

NOEXEC_STACK
