/* void sepconv_gemm_f32_12x8_avx2(size_t mr, size_t nr, size_t kc,
 *                                  const float *a, size_t a_stride_bytes,
 *                                  const float *w, float *c, size_t c_stride_bytes,
 *                                  const struct params *params)
 *
 * C[i][j] = min(max(w[j] + sum_k a[i][k] * w[8 + k*8 + j], params->min), params->max)
 * for i < mr, j < nr. `w` is one packed panel: 8 biases, then kc rows of 8 weights
 * (zero-padded past the layer's last column). Requires AVX2 and FMA; 1 <= mr <= 12,
 * 1 <= nr <= 8, kc >= 1; reads exactly rows 0..mr of `a` (kc floats each) and the
 * panel, writes exactly C[0..mr][0..nr]. No alignment needed. The Rust wrappers
 * (src/kernels/gemm/x86.rs) check all of this.
 * struct params { float min, max; const void *prefetch; } (AsmParams in
 * src/kernels/gemm/mod.rs); this tile ignores `prefetch`.
 * SysV: rdi mr, rsi nr, rdx kc, rcx a, r8 a_stride, r9 w, stack: c, c_stride, params.
 *
 * The narrow tile of the AVX2 and AVX-512 sets, for layers whose width is a multiple of
 * 8 but not of the wide tile's 16 / 32 (MobileNet 0.25 conv0: N = 8; alpha 0.75: N = 24,
 * 40 ...), where a wide tile would leave lanes idle. One ymm of 8 columns per row, 12
 * rows: 12 accumulators (ymm0-11) + B (ymm12) + 3 rotating broadcasts (ymm13-15) = all
 * 16 ymm; each broadcast is loaded two rows ahead of its FMA. 12 chains cover 2 FMA
 * pipes x latency 4-5. On an AVX-512 core a ymm FMA issues at twice the zmm rate where
 * 512-bit ops are double-pumped (Zen 4), so this is no slower per lane than a zmm tile.
 * Rows are limited by the general registers: 12 row pointers + index + B pointer use
 * all but one (mr and nr live on the stack).
 * Rows >= mr alias row mr-1 (same A and C pointers): they compute and store the same
 * values. Columns >= nr are stored with vmaskmovps, masks cut from a -1/0 table. */
#include "asm.h"

/* One k step at byte offset `o` into the A rows, 32*`j` into the panel. */
#define KSTEP(o, j) \
    vmovups (32*(j))(%r9), %ymm12 SEP \
    vbroadcastss o(%rcx,%rdx), %ymm13 SEP \
    vbroadcastss o(%rax,%rdx), %ymm14 SEP \
    vbroadcastss o(%r10,%rdx), %ymm15 SEP \
    vfmadd231ps %ymm12, %ymm13, %ymm0 SEP \
    vbroadcastss o(%r11,%rdx), %ymm13 SEP \
    vfmadd231ps %ymm12, %ymm14, %ymm1 SEP \
    vbroadcastss o(%rbx,%rdx), %ymm14 SEP \
    vfmadd231ps %ymm12, %ymm15, %ymm2 SEP \
    vbroadcastss o(%rbp,%rdx), %ymm15 SEP \
    vfmadd231ps %ymm12, %ymm13, %ymm3 SEP \
    vbroadcastss o(%r12,%rdx), %ymm13 SEP \
    vfmadd231ps %ymm12, %ymm14, %ymm4 SEP \
    vbroadcastss o(%r13,%rdx), %ymm14 SEP \
    vfmadd231ps %ymm12, %ymm15, %ymm5 SEP \
    vbroadcastss o(%r14,%rdx), %ymm15 SEP \
    vfmadd231ps %ymm12, %ymm13, %ymm6 SEP \
    vbroadcastss o(%r15,%rdx), %ymm13 SEP \
    vfmadd231ps %ymm12, %ymm14, %ymm7 SEP \
    vbroadcastss o(%rsi,%rdx), %ymm14 SEP \
    vfmadd231ps %ymm12, %ymm15, %ymm8 SEP \
    vbroadcastss o(%rdi,%rdx), %ymm15 SEP \
    vfmadd231ps %ymm12, %ymm13, %ymm9 SEP \
    vfmadd231ps %ymm12, %ymm14, %ymm10 SEP \
    vfmadd231ps %ymm12, %ymm15, %ymm11

/* Row pointer `dst` = `prev` + `stride`, or `prev` when row `row` >= mr (saved at (%rsp)). */
#define NEXT_ROW(prev, dst, stride, row) \
    leaq (prev,stride), dst SEP \
    cmpq $(row), (%rsp) SEP \
    cmovbe prev, dst

FUNC_BEGIN(sepconv_gemm_f32_12x8_avx2)
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq %rsi                     /* nr, at 8(%rsp) */
    pushq %rdi                     /* mr, at (%rsp) */
    /* A row pointers: rcx, rax, r10, r11, rbx, rbp, r12, r13, r14, r15, rsi, rdi. */
    NEXT_ROW(%rcx, %rax, %r8, 1)
    NEXT_ROW(%rax, %r10, %r8, 2)
    NEXT_ROW(%r10, %r11, %r8, 3)
    NEXT_ROW(%r11, %rbx, %r8, 4)
    NEXT_ROW(%rbx, %rbp, %r8, 5)
    NEXT_ROW(%rbp, %r12, %r8, 6)
    NEXT_ROW(%r12, %r13, %r8, 7)
    NEXT_ROW(%r13, %r14, %r8, 8)
    NEXT_ROW(%r14, %r15, %r8, 9)
    NEXT_ROW(%r15, %rsi, %r8, 10)
    NEXT_ROW(%rsi, %rdi, %r8, 11)
    /* Point every row at its end and count a shared byte index up from -4*kc to 0. */
    leaq (,%rdx,4), %r8
    addq %r8, %rcx
    addq %r8, %rax
    addq %r8, %r10
    addq %r8, %r11
    addq %r8, %rbx
    addq %r8, %rbp
    addq %r8, %r12
    addq %r8, %r13
    addq %r8, %r14
    addq %r8, %r15
    addq %r8, %rsi
    addq %r8, %rdi
    negq %rdx
    shlq $2, %rdx

    /* Accumulators start at the bias. */
    vmovups (%r9), %ymm0
    vmovaps %ymm0, %ymm1
    vmovaps %ymm0, %ymm2
    vmovaps %ymm0, %ymm3
    vmovaps %ymm0, %ymm4
    vmovaps %ymm0, %ymm5
    vmovaps %ymm0, %ymm6
    vmovaps %ymm0, %ymm7
    vmovaps %ymm0, %ymm8
    vmovaps %ymm0, %ymm9
    vmovaps %ymm0, %ymm10
    vmovaps %ymm0, %ymm11
    addq $32, %r9

    /* Four k steps per iteration while at least four remain. */
    cmpq $-16, %rdx
    jg 2f
1:  KSTEP(0, 0)
    KSTEP(4, 1)
    KSTEP(8, 2)
    KSTEP(12, 3)
    addq $128, %r9
    addq $16, %rdx
    cmpq $-16, %rdx
    jle 1b
2:  testq %rdx, %rdx
    jz 4f
3:  KSTEP(0, 0)
    addq $32, %r9
    addq $4, %rdx
    jnz 3b
4:
    /* Clamp. */
    movq 88(%rsp), %rax             /* params */
    vbroadcastss (%rax), %ymm12
    vbroadcastss 4(%rax), %ymm13
    vmaxps %ymm12, %ymm0, %ymm0
    vmaxps %ymm12, %ymm1, %ymm1
    vmaxps %ymm12, %ymm2, %ymm2
    vmaxps %ymm12, %ymm3, %ymm3
    vmaxps %ymm12, %ymm4, %ymm4
    vmaxps %ymm12, %ymm5, %ymm5
    vmaxps %ymm12, %ymm6, %ymm6
    vmaxps %ymm12, %ymm7, %ymm7
    vmaxps %ymm12, %ymm8, %ymm8
    vmaxps %ymm12, %ymm9, %ymm9
    vmaxps %ymm12, %ymm10, %ymm10
    vmaxps %ymm12, %ymm11, %ymm11
    vminps %ymm13, %ymm0, %ymm0
    vminps %ymm13, %ymm1, %ymm1
    vminps %ymm13, %ymm2, %ymm2
    vminps %ymm13, %ymm3, %ymm3
    vminps %ymm13, %ymm4, %ymm4
    vminps %ymm13, %ymm5, %ymm5
    vminps %ymm13, %ymm6, %ymm6
    vminps %ymm13, %ymm7, %ymm7
    vminps %ymm13, %ymm8, %ymm8
    vminps %ymm13, %ymm9, %ymm9
    vminps %ymm13, %ymm10, %ymm10
    vminps %ymm13, %ymm11, %ymm11

    /* C row pointers: rows >= mr aliased like A's. */
    movq 72(%rsp), %rcx             /* c */
    movq 80(%rsp), %r8              /* c_stride */
    NEXT_ROW(%rcx, %rax, %r8, 1)
    NEXT_ROW(%rax, %r10, %r8, 2)
    NEXT_ROW(%r10, %r11, %r8, 3)
    NEXT_ROW(%r11, %rbx, %r8, 4)
    NEXT_ROW(%rbx, %rbp, %r8, 5)
    NEXT_ROW(%rbp, %r12, %r8, 6)
    NEXT_ROW(%r12, %r13, %r8, 7)
    NEXT_ROW(%r13, %r14, %r8, 8)
    NEXT_ROW(%r14, %r15, %r8, 9)
    NEXT_ROW(%r15, %rsi, %r8, 10)
    NEXT_ROW(%rsi, %rdi, %r8, 11)

    cmpq $8, 8(%rsp)
    jne 5f
    vmovups %ymm0, (%rcx)
    vmovups %ymm1, (%rax)
    vmovups %ymm2, (%r10)
    vmovups %ymm3, (%r11)
    vmovups %ymm4, (%rbx)
    vmovups %ymm5, (%rbp)
    vmovups %ymm6, (%r12)
    vmovups %ymm7, (%r13)
    vmovups %ymm8, (%r14)
    vmovups %ymm9, (%r15)
    vmovups %ymm10, (%rsi)
    vmovups %ymm11, (%rdi)
    jmp 6f
5:  /* nr < 8: lanes j < nr of table[8 - nr ..] are -1, the rest 0. */
    movq 8(%rsp), %rdx
    negq %rdx
    leaq sepconv_gemm_12x8_mask_table(%rip), %r9
    vmovups 32(%r9,%rdx,4), %ymm12
    vmaskmovps %ymm0, %ymm12, (%rcx)
    vmaskmovps %ymm1, %ymm12, (%rax)
    vmaskmovps %ymm2, %ymm12, (%r10)
    vmaskmovps %ymm3, %ymm12, (%r11)
    vmaskmovps %ymm4, %ymm12, (%rbx)
    vmaskmovps %ymm5, %ymm12, (%rbp)
    vmaskmovps %ymm6, %ymm12, (%r12)
    vmaskmovps %ymm7, %ymm12, (%r13)
    vmaskmovps %ymm8, %ymm12, (%r14)
    vmaskmovps %ymm9, %ymm12, (%r15)
    vmaskmovps %ymm10, %ymm12, (%rsi)
    vmaskmovps %ymm11, %ymm12, (%rdi)
6:
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    vzeroupper
    ret
FUNC_END(sepconv_gemm_f32_12x8_avx2)

/* 8 x -1 then 8 x 0, read-only, kept in .text so no per-format section is needed. */
    .p2align 5
sepconv_gemm_12x8_mask_table:
    .long -1, -1, -1, -1, -1, -1, -1, -1
    .long 0, 0, 0, 0, 0, 0, 0, 0

NOEXEC_STACK
