/* void sepconv_clamp_f32_avx(float *data, size_t n, float lo, float hi)
 *
 * In place: data[i] = min(max(data[i], lo), hi) for i < n.
 * SysV x86-64: rdi = data, rsi = n, xmm0 = lo, xmm1 = hi. Requires AVX (the AVX2 and
 * AVX-512 kernel sets use it; the Rust wrapper checks the CPU and the slice).
 * 32 floats per iteration, then 8, then a scalar tail: never touches data[n..].
 * NaN inputs become lo: maxps returns its second source (here lo) when either is NaN,
 * which matches the Rust scalar path's f32::max. */
#include "asm.h"

/* Clamp the \reg (ymm: 8 floats, with vmovups/vmaxps/vminps; xmm: 1, with the ss forms)
 * at rdi in place, through \reg 2, to [\reg 0, \reg 1]. */
.macro CLAMP_AT reg, mov, max, min
    \mov (%rdi), %\reg\()2
    \max %\reg\()0, %\reg\()2, %\reg\()2
    \min %\reg\()1, %\reg\()2, %\reg\()2
    \mov %\reg\()2, (%rdi)
.endm

FUNC_BEGIN(sepconv_clamp_f32_avx)
    vbroadcastss %xmm0, %ymm0
    vbroadcastss %xmm1, %ymm1
    cmpq $32, %rsi
    jb 2f
1:  /* 4 x 8 lanes */
    vmovups (%rdi), %ymm2
    vmovups 32(%rdi), %ymm3
    vmovups 64(%rdi), %ymm4
    vmovups 96(%rdi), %ymm5
    vmaxps %ymm0, %ymm2, %ymm2
    vmaxps %ymm0, %ymm3, %ymm3
    vmaxps %ymm0, %ymm4, %ymm4
    vmaxps %ymm0, %ymm5, %ymm5
    vminps %ymm1, %ymm2, %ymm2
    vminps %ymm1, %ymm3, %ymm3
    vminps %ymm1, %ymm4, %ymm4
    vminps %ymm1, %ymm5, %ymm5
    vmovups %ymm2, (%rdi)
    vmovups %ymm3, 32(%rdi)
    vmovups %ymm4, 64(%rdi)
    vmovups %ymm5, 96(%rdi)
    addq $128, %rdi
    subq $32, %rsi
    cmpq $32, %rsi
    jae 1b
2:  cmpq $8, %rsi
    jb 3f
    CLAMP_AT ymm, vmovups, vmaxps, vminps
    addq $32, %rdi
    subq $8, %rsi
    jmp 2b
3:  testq %rsi, %rsi
    jz 4f
    CLAMP_AT xmm, vmovss, vmaxss, vminss
    addq $4, %rdi
    decq %rsi
    jmp 3b
4:  vzeroupper
    ret
FUNC_END(sepconv_clamp_f32_avx)

NOEXEC_STACK
