/* void sepconv_gemm_f32_12x16_avx512(size_t mr, size_t nr, size_t kc,
 *                                     const float *a, size_t a_stride_bytes,
 *                                     const float *w, float *c, size_t c_stride_bytes,
 *                                     const struct params *params)
 *
 * C[i][j] = min(max(w[j] + sum_k a[i][k] * w[16 + k*16 + j], params->min), params->max)
 * for i < mr, j < nr. `w` is one packed panel: 16 biases, then kc rows of 16 weights
 * (zero-padded past the layer's last column). Requires AVX-512F; 1 <= mr <= 12,
 * 1 <= nr <= 16, kc >= 1; reads exactly rows 0..mr of `a` (kc floats each) and the
 * panel, writes exactly C[0..mr][0..nr]. No alignment needed. The Rust wrapper
 * (src/kernels/gemm/x86.rs) checks all of this.
 * struct params { float min, max; const void *prefetch; } (AsmParams in
 * src/kernels/gemm/mod.rs); this tile ignores `prefetch`.
 * SysV: rdi mr, rsi nr, rdx kc, rcx a, r8 a_stride, r9 w, stack: c, c_stride, params.
 *
 * The narrow tile of the AVX-512 set, for layers with N <= 16 (or N = 48, 80 ...) where
 * the 7x32 tile would leave half its lanes idle (MobileNet 0.25 / 0.5: conv0 as a K = 27
 * GEMM with N = 8 or 16, pw1 with N = 16). One zmm of 16 columns per row, 12 rows:
 * 12 accumulators (zmm0-11), B in zmm30/31, A broadcast by the FMA itself
 * ({1to16} memory operand), so the tile needs no broadcast registers and per k issues
 * 12 FMAs against 1 vector load and 12 fused broadcasts. 12 chains cover latency x
 * pipes on every AVX-512 core (Zen 4: 1 zmm FMA/cycle, latency 4; Intel: 2 x 4). Rows
 * are limited by the general registers: 12 row pointers + index + B pointer use all but
 * one (mr and nr live on the stack).
 * Rows >= mr alias row mr-1 (same A and C pointers): they compute and store the same
 * values. Columns >= nr are masked with k1 on store. */
#include "asm.h"

/* One k step at byte offset `o` into the A rows, 64*`j` into the panel, B into `B_`. */
#define KSTEP(o, j, B_) \
    vmovups (64*(j))(%r9), B_ SEP \
    vfmadd231ps o(%rcx,%rdx){1to16}, B_, %zmm0 SEP \
    vfmadd231ps o(%rax,%rdx){1to16}, B_, %zmm1 SEP \
    vfmadd231ps o(%r10,%rdx){1to16}, B_, %zmm2 SEP \
    vfmadd231ps o(%r11,%rdx){1to16}, B_, %zmm3 SEP \
    vfmadd231ps o(%rbx,%rdx){1to16}, B_, %zmm4 SEP \
    vfmadd231ps o(%rbp,%rdx){1to16}, B_, %zmm5 SEP \
    vfmadd231ps o(%r12,%rdx){1to16}, B_, %zmm6 SEP \
    vfmadd231ps o(%r13,%rdx){1to16}, B_, %zmm7 SEP \
    vfmadd231ps o(%r14,%rdx){1to16}, B_, %zmm8 SEP \
    vfmadd231ps o(%r15,%rdx){1to16}, B_, %zmm9 SEP \
    vfmadd231ps o(%rsi,%rdx){1to16}, B_, %zmm10 SEP \
    vfmadd231ps o(%rdi,%rdx){1to16}, B_, %zmm11

/* Row pointer `dst` = `prev` + `stride`, or `prev` when row `row` >= mr (saved at (%rsp)). */
#define NEXT_ROW(prev, dst, stride, row) \
    leaq (prev,stride), dst SEP \
    cmpq $(row), (%rsp) SEP \
    cmovbe prev, dst

FUNC_BEGIN(sepconv_gemm_f32_12x16_avx512)
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
    vmovups (%r9), %zmm0
    vmovaps %zmm0, %zmm1
    vmovaps %zmm0, %zmm2
    vmovaps %zmm0, %zmm3
    vmovaps %zmm0, %zmm4
    vmovaps %zmm0, %zmm5
    vmovaps %zmm0, %zmm6
    vmovaps %zmm0, %zmm7
    vmovaps %zmm0, %zmm8
    vmovaps %zmm0, %zmm9
    vmovaps %zmm0, %zmm10
    vmovaps %zmm0, %zmm11
    addq $64, %r9

    /* Four k steps per iteration while at least four remain. */
    cmpq $-16, %rdx
    jg 2f
1:  KSTEP(0, 0, %zmm30)
    KSTEP(4, 1, %zmm31)
    KSTEP(8, 2, %zmm30)
    KSTEP(12, 3, %zmm31)
    addq $256, %r9
    addq $16, %rdx
    cmpq $-16, %rdx
    jle 1b
2:  testq %rdx, %rdx
    jz 4f
3:  KSTEP(0, 0, %zmm30)
    addq $64, %r9
    addq $4, %rdx
    jnz 3b
4:
    /* Clamp. */
    movq 88(%rsp), %rax             /* params */
    vbroadcastss (%rax), %zmm30
    vbroadcastss 4(%rax), %zmm31
    vmaxps %zmm30, %zmm0, %zmm0
    vmaxps %zmm30, %zmm1, %zmm1
    vmaxps %zmm30, %zmm2, %zmm2
    vmaxps %zmm30, %zmm3, %zmm3
    vmaxps %zmm30, %zmm4, %zmm4
    vmaxps %zmm30, %zmm5, %zmm5
    vmaxps %zmm30, %zmm6, %zmm6
    vmaxps %zmm30, %zmm7, %zmm7
    vmaxps %zmm30, %zmm8, %zmm8
    vmaxps %zmm30, %zmm9, %zmm9
    vmaxps %zmm30, %zmm10, %zmm10
    vmaxps %zmm30, %zmm11, %zmm11
    vminps %zmm31, %zmm0, %zmm0
    vminps %zmm31, %zmm1, %zmm1
    vminps %zmm31, %zmm2, %zmm2
    vminps %zmm31, %zmm3, %zmm3
    vminps %zmm31, %zmm4, %zmm4
    vminps %zmm31, %zmm5, %zmm5
    vminps %zmm31, %zmm6, %zmm6
    vminps %zmm31, %zmm7, %zmm7
    vminps %zmm31, %zmm8, %zmm8
    vminps %zmm31, %zmm9, %zmm9
    vminps %zmm31, %zmm10, %zmm10
    vminps %zmm31, %zmm11, %zmm11

    /* k1: columns 0 .. nr-1. */
    movq 8(%rsp), %rcx
    movl $1, %edx
    shll %cl, %edx
    decl %edx
    kmovw %edx, %k1

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

    cmpq $16, 8(%rsp)
    jne 5f
    vmovups %zmm0, (%rcx)
    vmovups %zmm1, (%rax)
    vmovups %zmm2, (%r10)
    vmovups %zmm3, (%r11)
    vmovups %zmm4, (%rbx)
    vmovups %zmm5, (%rbp)
    vmovups %zmm6, (%r12)
    vmovups %zmm7, (%r13)
    vmovups %zmm8, (%r14)
    vmovups %zmm9, (%r15)
    vmovups %zmm10, (%rsi)
    vmovups %zmm11, (%rdi)
    jmp 6f
5:
    vmovups %zmm0, (%rcx){%k1}
    vmovups %zmm1, (%rax){%k1}
    vmovups %zmm2, (%r10){%k1}
    vmovups %zmm3, (%r11){%k1}
    vmovups %zmm4, (%rbx){%k1}
    vmovups %zmm5, (%rbp){%k1}
    vmovups %zmm6, (%r12){%k1}
    vmovups %zmm7, (%r13){%k1}
    vmovups %zmm8, (%r14){%k1}
    vmovups %zmm9, (%r15){%k1}
    vmovups %zmm10, (%rsi){%k1}
    vmovups %zmm11, (%rdi){%k1}
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
FUNC_END(sepconv_gemm_f32_12x16_avx512)

NOEXEC_STACK
