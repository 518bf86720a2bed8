/* void sepconv_gemm_f32_8x12_neon(size_t mr, size_t nr, size_t kc,
 *                                 const float *a, size_t a_stride_bytes,
 *                                 const float *w, float *c, size_t c_stride_bytes,
 *                                 const float *params)
 *
 * C[i][j] = min(max(w[j] + sum_k a[i][k] * w[12 + k*12 + j], params[0]), params[1])
 * for i < mr, j < nr. `w` is one packed panel: 12 biases, then kc rows of 12 weights
 * (zero-padded past the layer's last column). 1 <= mr <= 8, 1 <= nr <= 12, kc >= 1;
 * reads exactly rows 0..mr of `a` (kc floats each) and the panel, writes exactly
 * C[0..mr][0..nr]. No alignment needed. The Rust wrapper (src/kernels/gemm/neon.rs)
 * checks all of this.
 * AAPCS64: x0 mr, x1 nr, x2 kc, x3 a, x4 a_stride, x5 w, x6 c, x7 c_stride,
 * [sp] params.
 *
 * Tile 8x12: 24 accumulators (v8-v31) + 3 B vectors (v0-v2) + 4 rotating row
 * broadcasts (v3-v6) = 31 of 32 q registers. Cortex-A76 issues 2 FMLA per cycle with
 * latency 4: >= 8 chains needed, 24 give slack; per k, 24 FMLA (12 cycles) against 3
 * vector loads and 8 load-replicates (ld1r), under A76's 2 loads/cycle. On the in-order
 * Cortex-A55 (1 q FMLA per cycle) the loads dual-issue beside the FMLAs.
 * Rows >= mr alias row mr-1 (same A and C pointers): they compute and store the same
 * values. Columns >= nr are stored 8/4/2/1 floats at a time. */
#include "asm.h"

/* One k step: B row into v0-v2, then each A row's element broadcast into v3-v6. */
.macro KSTEP
    ldp q0, q1, [x5]
    ldr q2, [x5, #32]
    add x5, x5, #48
    ld1r {v3.4s}, [x3], #4
    ld1r {v4.4s}, [x9], #4
    fmla v8.4s, v0.4s, v3.4s
    fmla v9.4s, v1.4s, v3.4s
    fmla v10.4s, v2.4s, v3.4s
    ld1r {v5.4s}, [x10], #4
    fmla v11.4s, v0.4s, v4.4s
    fmla v12.4s, v1.4s, v4.4s
    fmla v13.4s, v2.4s, v4.4s
    ld1r {v6.4s}, [x11], #4
    fmla v14.4s, v0.4s, v5.4s
    fmla v15.4s, v1.4s, v5.4s
    fmla v16.4s, v2.4s, v5.4s
    ld1r {v3.4s}, [x12], #4
    fmla v17.4s, v0.4s, v6.4s
    fmla v18.4s, v1.4s, v6.4s
    fmla v19.4s, v2.4s, v6.4s
    ld1r {v4.4s}, [x13], #4
    fmla v20.4s, v0.4s, v3.4s
    fmla v21.4s, v1.4s, v3.4s
    fmla v22.4s, v2.4s, v3.4s
    ld1r {v5.4s}, [x14], #4
    fmla v23.4s, v0.4s, v4.4s
    fmla v24.4s, v1.4s, v4.4s
    fmla v25.4s, v2.4s, v4.4s
    ld1r {v6.4s}, [x15], #4
    fmla v26.4s, v0.4s, v5.4s
    fmla v27.4s, v1.4s, v5.4s
    fmla v28.4s, v2.4s, v5.4s
    fmla v29.4s, v0.4s, v6.4s
    fmla v30.4s, v1.4s, v6.4s
    fmla v31.4s, v2.4s, v6.4s
.endm

/* Row pointer \dst = \prev + \stride, or \prev when row \row >= mr (x0). */
.macro NEXT_ROW prev, dst, stride, row
    add \dst, \prev, \stride
    cmp x0, #\row
    csel \dst, \prev, \dst, ls
.endm

/* Clamp one row's three vectors to [v0, v1]. */
.macro CLAMP r0, r1, r2
    fmaxnm \r0\().4s, \r0\().4s, v0.4s
    fmaxnm \r1\().4s, \r1\().4s, v0.4s
    fmaxnm \r2\().4s, \r2\().4s, v0.4s
    fminnm \r0\().4s, \r0\().4s, v1.4s
    fminnm \r1\().4s, \r1\().4s, v1.4s
    fminnm \r2\().4s, \r2\().4s, v1.4s
.endm

/* Store the first nr (x1 < 12) floats of one row (\r0, \r1, \r2) at \ptr. */
.macro STORE_PARTIAL ptr, r0, r1, r2
    mov x16, \ptr
    tbz x1, #3, 1f
    stp q\r0, q\r1, [x16], #32
    mov v\r0\().16b, v\r2\().16b
    b 2f
1:  tbz x1, #2, 2f
    str q\r0, [x16], #16
    mov v\r0\().16b, v\r1\().16b
2:  tbz x1, #1, 3f
    str d\r0, [x16], #8
    ext v\r0\().16b, v\r0\().16b, v\r0\().16b, #8
3:  tbz x1, #0, 4f
    str s\r0, [x16]
4:
.endm

FUNC_BEGIN(sepconv_gemm_f32_8x12_neon)
    /* v8-v15 are callee-saved (low 64 bits). */
    stp d8, d9, [sp, #-64]!
    stp d10, d11, [sp, #16]
    stp d12, d13, [sp, #32]
    stp d14, d15, [sp, #48]

    /* A row pointers: x3, x9-x15. */
    NEXT_ROW x3, x9, x4, 1
    NEXT_ROW x9, x10, x4, 2
    NEXT_ROW x10, x11, x4, 3
    NEXT_ROW x11, x12, x4, 4
    NEXT_ROW x12, x13, x4, 5
    NEXT_ROW x13, x14, x4, 6
    NEXT_ROW x14, x15, x4, 7

    /* Accumulators start at the bias. */
    ldp q8, q9, [x5]
    ldr q10, [x5, #32]
    add x5, x5, #48
    mov v11.16b, v8.16b
    mov v12.16b, v9.16b
    mov v13.16b, v10.16b
    mov v14.16b, v8.16b
    mov v15.16b, v9.16b
    mov v16.16b, v10.16b
    mov v17.16b, v8.16b
    mov v18.16b, v9.16b
    mov v19.16b, v10.16b
    mov v20.16b, v8.16b
    mov v21.16b, v9.16b
    mov v22.16b, v10.16b
    mov v23.16b, v8.16b
    mov v24.16b, v9.16b
    mov v25.16b, v10.16b
    mov v26.16b, v8.16b
    mov v27.16b, v9.16b
    mov v28.16b, v10.16b
    mov v29.16b, v8.16b
    mov v30.16b, v9.16b
    mov v31.16b, v10.16b

    /* Two k steps per iteration while at least two remain. */
    subs x2, x2, #2
    b.lo 2f
1:  KSTEP
    KSTEP
    subs x2, x2, #2
    b.hs 1b
2:  tbz x2, #0, 3f
    KSTEP
3:
    /* Clamp. */
    ldr x16, [sp, #64]              /* params */
    ld1r {v0.4s}, [x16], #4
    ld1r {v1.4s}, [x16]
    CLAMP v8, v9, v10
    CLAMP v11, v12, v13
    CLAMP v14, v15, v16
    CLAMP v17, v18, v19
    CLAMP v20, v21, v22
    CLAMP v23, v24, v25
    CLAMP v26, v27, v28
    CLAMP v29, v30, v31

    /* C row pointers: x6, x9-x15 (aliased like A's). */
    NEXT_ROW x6, x9, x7, 1
    NEXT_ROW x9, x10, x7, 2
    NEXT_ROW x10, x11, x7, 3
    NEXT_ROW x11, x12, x7, 4
    NEXT_ROW x12, x13, x7, 5
    NEXT_ROW x13, x14, x7, 6
    NEXT_ROW x14, x15, x7, 7

    cmp x1, #12
    b.ne 5f
    st1 {v8.4s, v9.4s, v10.4s}, [x6]
    st1 {v11.4s, v12.4s, v13.4s}, [x9]
    st1 {v14.4s, v15.4s, v16.4s}, [x10]
    st1 {v17.4s, v18.4s, v19.4s}, [x11]
    st1 {v20.4s, v21.4s, v22.4s}, [x12]
    st1 {v23.4s, v24.4s, v25.4s}, [x13]
    st1 {v26.4s, v27.4s, v28.4s}, [x14]
    st1 {v29.4s, v30.4s, v31.4s}, [x15]
    b 6f
5:  STORE_PARTIAL x6, 8, 9, 10
    STORE_PARTIAL x9, 11, 12, 13
    STORE_PARTIAL x10, 14, 15, 16
    STORE_PARTIAL x11, 17, 18, 19
    STORE_PARTIAL x12, 20, 21, 22
    STORE_PARTIAL x13, 23, 24, 25
    STORE_PARTIAL x14, 26, 27, 28
    STORE_PARTIAL x15, 29, 30, 31
6:  ldp d14, d15, [sp, #48]
    ldp d12, d13, [sp, #32]
    ldp d10, d11, [sp, #16]
    ldp d8, d9, [sp], #64
    ret
FUNC_END(sepconv_gemm_f32_8x12_neon)

NOEXEC_STACK
