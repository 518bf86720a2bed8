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
 * (src/kernels/f32_gemm/x86.rs) checks all of this.
 * struct params { float min, max; const void *prefetch; } (AsmParams in
 * src/kernels/f32_gemm/mod.rs); this tile ignores `prefetch`.
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
/* Where mr is (saved on the stack), for NEXT_ROW and ROW_CHAIN. */
#define TILE_MR (%rsp)
#include "gemm_x86.h"

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

/* Its rows: accumulators and row pointers. */
#define ROWS 0, %rcx, 1, %rax, 2, %r10, 3, %r11, 4, %rbx, 5, %rbp, 6, %r12, 7, %r13, 8, %r14, \
    9, %r15, 10, %rsi, 11, %rdi
#define ROW_PTRS %rcx, %rax, %r10, %r11, %rbx, %rbp, %r12, %r13, %r14, %r15, %rsi, %rdi

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
    ROW_CHAIN %r8, 1, ROW_PTRS
    ROWS_TO_END ROW_PTRS

    /* Accumulators start at the bias. */
    vmovups (%r9), %zmm0
    FROM_ACC0 zmm, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
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
    CLAMP_ACCS 88(%rsp), zmm, zmm30, zmm31, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11

    /* k1: columns 0 .. nr-1. */
    movq 8(%rsp), %rcx
    movl $1, %edx
    shll %cl, %edx
    decl %edx
    kmovw %edx, %k1

    /* C row pointers: rows >= mr aliased like A's. */
    movq 72(%rsp), %rcx             /* c */
    movq 80(%rsp), %r8              /* c_stride */
    ROW_CHAIN %r8, 1, ROW_PTRS

    cmpq $16, 8(%rsp)
    jne 5f
    EACH_ROW1 STORE1_ZMM, ROWS
    jmp 6f
5:
    EACH_ROW1 MASKSTORE1_ZMM, ROWS
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
