/* void sepconv_clamp_f32_neon(float *data, size_t n, float lo, float hi)
 *
 * In place: data[i] = min(max(data[i], lo), hi) for i < n.
 * AAPCS64: x0 = data, x1 = n, s0 = lo, s1 = hi. NEON is baseline on AArch64.
 * 16 floats per iteration, then 4, then a scalar tail: never touches data[n..].
 * fmaxnm/fminnm treat a NaN input as missing, so NaN becomes lo, as the Rust scalar path
 * (f32::max) does. */
#include "asm.h"

FUNC_BEGIN(sepconv_clamp_f32_neon)
    dup v0.4s, v0.s[0]
    dup v1.4s, v1.s[0]
    cmp x1, #16
    b.lo 2f
1:  ld1 {v2.4s, v3.4s, v4.4s, v5.4s}, [x0]
    fmaxnm v2.4s, v2.4s, v0.4s
    fmaxnm v3.4s, v3.4s, v0.4s
    fmaxnm v4.4s, v4.4s, v0.4s
    fmaxnm v5.4s, v5.4s, v0.4s
    fminnm v2.4s, v2.4s, v1.4s
    fminnm v3.4s, v3.4s, v1.4s
    fminnm v4.4s, v4.4s, v1.4s
    fminnm v5.4s, v5.4s, v1.4s
    st1 {v2.4s, v3.4s, v4.4s, v5.4s}, [x0], #64
    sub x1, x1, #16
    cmp x1, #16
    b.hs 1b
2:  cmp x1, #4
    b.lo 3f
    ld1 {v2.4s}, [x0]
    fmaxnm v2.4s, v2.4s, v0.4s
    fminnm v2.4s, v2.4s, v1.4s
    st1 {v2.4s}, [x0], #16
    sub x1, x1, #4
    b 2b
3:  cbz x1, 4f
    ldr s2, [x0]
    fmaxnm s2, s2, s0
    fminnm s2, s2, s1
    str s2, [x0], #4
    sub x1, x1, #1
    b 3b
4:  ret
FUNC_END(sepconv_clamp_f32_neon)

NOEXEC_STACK
