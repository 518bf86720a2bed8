/* void sepconv_gemm_f32_8x8_neon(size_t mr, size_t nr, size_t kc,
 *                                const float *a, size_t a_stride_bytes,
 *                                const float *w, float *c, size_t c_stride_bytes,
 *                                const struct params *params)
 *
 * C[i][j] = min(max(w[j] + sum_k a[i][k] * w[8 + k*8 + j], params->min), params->max)
 * for i < mr, j < nr. `w` is one packed panel: 8 biases, then kc rows of 8 weights
 * (zero-padded past the layer's last column). 1 <= mr <= 8, 1 <= nr <= 8, kc >= 1;
 * reads exactly rows 0..mr of `a` (kc floats each) and the panel (kc + 1 rows), writes
 * exactly C[0..mr][0..nr]. No alignment needed. The Rust wrapper
 * (src/kernels/gemm/neon.rs) checks all of this.
 * struct params { float min, max; const void *prefetch; } (AsmParams in
 * src/kernels/gemm/mod.rs); this tile ignores `prefetch`.
 * AAPCS64: x0 mr, x1 nr, x2 kc, x3 a, x4 a_stride, x5 w, x6 c, x7 c_stride,
 * [sp] params.
 *
 * Tile 8x8: 16 accumulators (v16-v31) + 8 A vectors holding 4 k each (v0-v7) + 2 B rows
 * double-buffered (v8-v11) = 28 of 32 q registers. A is read 4 k at a time with plain
 * `ldr q` and consumed by by-element FMLA (v.s[lane]), so broadcasting A costs no FP-pipe
 * slot (LD1R would: it uses a V pipe on Cortex-A76). Per 4 k: 64 FMLA against 8 A
 * loads and 8 B loads. Cortex-A76 issues 2 FMLA per cycle with latency 4: >= 8
 * chains needed, 16 given. For the in-order Cortex-A55 the loads are software-pipelined:
 * each B row is loaded one k ahead, each A row reloaded right after its last use of the
 * group, 16 FMLA before its next use. A is addressed as row + shared offset (x17) and
 * B by immediate offsets: post-indexed loads cost the A55 extra issue cycles. (8x12
 * would need 24 + 8 + 3 = 35 registers with this A scheme; 8x12 with LD1R fits but
 * spends a quarter of the FP issue on LD1R.)
 * Rows >= mr alias row mr-1 (same A and C pointers): they compute and store the same
 * values. Columns >= nr are stored 4/2/1 floats at a time. */
#include "asm.h"

/* Row pointer \dst = \prev + \stride, or \prev when row \row >= mr (x0). */
.macro NEXT_ROW prev, dst, stride, row
    add \dst, \prev, \stride
    cmp x0, #\row
    csel \dst, \prev, \dst, ls
.endm

/* Clamp one row's two vectors to [v0, v1]. */
.macro CLAMP r0, r1
    fmaxnm \r0\().4s, \r0\().4s, v0.4s
    fmaxnm \r1\().4s, \r1\().4s, v0.4s
    fminnm \r0\().4s, \r0\().4s, v1.4s
    fminnm \r1\().4s, \r1\().4s, v1.4s
.endm

/* Store the first nr (x1 < 8) floats of one row (\r0, \r1) at \ptr. */
.macro STORE_PARTIAL ptr, r0, r1
    mov x16, \ptr
    tbz x1, #2, 1f
    str q\r0, [x16], #16
    mov v\r0\().16b, v\r1\().16b
1:  tbz x1, #1, 2f
    str d\r0, [x16], #8
    ext v\r0\().16b, v\r0\().16b, v\r0\().16b, #8
2:  tbz x1, #0, 3f
    str s\r0, [x16]
3:
.endm

FUNC_BEGIN(sepconv_gemm_f32_8x8_neon)
    /* v8-v15 are callee-saved (low 64 bits); v8-v11 are used. */
    stp d8, d9, [sp, #-32]!
    stp d10, d11, [sp, #16]

    /* A row pointers: x3, x9-x15. */
    NEXT_ROW x3, x9, x4, 1
    NEXT_ROW x9, x10, x4, 2
    NEXT_ROW x10, x11, x4, 3
    NEXT_ROW x11, x12, x4, 4
    NEXT_ROW x12, x13, x4, 5
    NEXT_ROW x13, x14, x4, 6
    NEXT_ROW x14, x15, x4, 7

    /* Accumulators start at the bias. */
    ldp q16, q17, [x5], #32
    mov v18.16b, v16.16b
    mov v19.16b, v17.16b
    mov v20.16b, v16.16b
    mov v21.16b, v17.16b
    mov v22.16b, v16.16b
    mov v23.16b, v17.16b
    mov v24.16b, v16.16b
    mov v25.16b, v17.16b
    mov v26.16b, v16.16b
    mov v27.16b, v17.16b
    mov v28.16b, v16.16b
    mov v29.16b, v17.16b
    mov v30.16b, v16.16b
    mov v31.16b, v17.16b

    /* x8 = groups of 4 k, x2 = the k left over; x17 = byte offset into the A rows. */
    lsr x8, x2, #2
    and x2, x2, #3
    mov x17, #0
    cbz x8, 3f
    /* First group's A and B row 0; each group then loads the next group's. */
    ldr q0, [x3]
    ldr q1, [x9]
    ldr q2, [x10]
    ldr q3, [x11]
    ldr q4, [x12]
    ldr q5, [x13]
    ldr q6, [x14]
    ldr q7, [x15]
    ldr q8, [x5]
    ldr q9, [x5, #16]
    subs x8, x8, #1
    b.eq 2f
1:
    ldr q10, [x5, #32]
    ldr q11, [x5, #48]
    fmla v16.4s, v8.4s, v0.s[0]
    fmla v17.4s, v9.4s, v0.s[0]
    fmla v18.4s, v8.4s, v1.s[0]
    fmla v19.4s, v9.4s, v1.s[0]
    fmla v20.4s, v8.4s, v2.s[0]
    fmla v21.4s, v9.4s, v2.s[0]
    fmla v22.4s, v8.4s, v3.s[0]
    fmla v23.4s, v9.4s, v3.s[0]
    fmla v24.4s, v8.4s, v4.s[0]
    fmla v25.4s, v9.4s, v4.s[0]
    fmla v26.4s, v8.4s, v5.s[0]
    fmla v27.4s, v9.4s, v5.s[0]
    fmla v28.4s, v8.4s, v6.s[0]
    fmla v29.4s, v9.4s, v6.s[0]
    fmla v30.4s, v8.4s, v7.s[0]
    fmla v31.4s, v9.4s, v7.s[0]
    ldr q8, [x5, #64]
    ldr q9, [x5, #80]
    fmla v16.4s, v10.4s, v0.s[1]
    fmla v17.4s, v11.4s, v0.s[1]
    fmla v18.4s, v10.4s, v1.s[1]
    fmla v19.4s, v11.4s, v1.s[1]
    fmla v20.4s, v10.4s, v2.s[1]
    fmla v21.4s, v11.4s, v2.s[1]
    fmla v22.4s, v10.4s, v3.s[1]
    fmla v23.4s, v11.4s, v3.s[1]
    fmla v24.4s, v10.4s, v4.s[1]
    fmla v25.4s, v11.4s, v4.s[1]
    fmla v26.4s, v10.4s, v5.s[1]
    fmla v27.4s, v11.4s, v5.s[1]
    fmla v28.4s, v10.4s, v6.s[1]
    fmla v29.4s, v11.4s, v6.s[1]
    fmla v30.4s, v10.4s, v7.s[1]
    fmla v31.4s, v11.4s, v7.s[1]
    ldr q10, [x5, #96]
    ldr q11, [x5, #112]
    fmla v16.4s, v8.4s, v0.s[2]
    fmla v17.4s, v9.4s, v0.s[2]
    fmla v18.4s, v8.4s, v1.s[2]
    fmla v19.4s, v9.4s, v1.s[2]
    fmla v20.4s, v8.4s, v2.s[2]
    fmla v21.4s, v9.4s, v2.s[2]
    fmla v22.4s, v8.4s, v3.s[2]
    fmla v23.4s, v9.4s, v3.s[2]
    fmla v24.4s, v8.4s, v4.s[2]
    fmla v25.4s, v9.4s, v4.s[2]
    fmla v26.4s, v8.4s, v5.s[2]
    fmla v27.4s, v9.4s, v5.s[2]
    fmla v28.4s, v8.4s, v6.s[2]
    fmla v29.4s, v9.4s, v6.s[2]
    fmla v30.4s, v8.4s, v7.s[2]
    fmla v31.4s, v9.4s, v7.s[2]
    add x17, x17, #16
    ldr q8, [x5, #128]
    ldr q9, [x5, #144]
    fmla v16.4s, v10.4s, v0.s[3]
    fmla v17.4s, v11.4s, v0.s[3]
    ldr q0, [x3, x17]
    fmla v18.4s, v10.4s, v1.s[3]
    fmla v19.4s, v11.4s, v1.s[3]
    ldr q1, [x9, x17]
    fmla v20.4s, v10.4s, v2.s[3]
    fmla v21.4s, v11.4s, v2.s[3]
    ldr q2, [x10, x17]
    fmla v22.4s, v10.4s, v3.s[3]
    fmla v23.4s, v11.4s, v3.s[3]
    ldr q3, [x11, x17]
    fmla v24.4s, v10.4s, v4.s[3]
    fmla v25.4s, v11.4s, v4.s[3]
    ldr q4, [x12, x17]
    fmla v26.4s, v10.4s, v5.s[3]
    fmla v27.4s, v11.4s, v5.s[3]
    ldr q5, [x13, x17]
    fmla v28.4s, v10.4s, v6.s[3]
    fmla v29.4s, v11.4s, v6.s[3]
    ldr q6, [x14, x17]
    fmla v30.4s, v10.4s, v7.s[3]
    fmla v31.4s, v11.4s, v7.s[3]
    ldr q7, [x15, x17]
    add x5, x5, #128
    subs x8, x8, #1
    b.ne 1b
2:  /* Last group: nothing further to load. */
    ldr q10, [x5, #32]
    ldr q11, [x5, #48]
    fmla v16.4s, v8.4s, v0.s[0]
    fmla v17.4s, v9.4s, v0.s[0]
    fmla v18.4s, v8.4s, v1.s[0]
    fmla v19.4s, v9.4s, v1.s[0]
    fmla v20.4s, v8.4s, v2.s[0]
    fmla v21.4s, v9.4s, v2.s[0]
    fmla v22.4s, v8.4s, v3.s[0]
    fmla v23.4s, v9.4s, v3.s[0]
    fmla v24.4s, v8.4s, v4.s[0]
    fmla v25.4s, v9.4s, v4.s[0]
    fmla v26.4s, v8.4s, v5.s[0]
    fmla v27.4s, v9.4s, v5.s[0]
    fmla v28.4s, v8.4s, v6.s[0]
    fmla v29.4s, v9.4s, v6.s[0]
    fmla v30.4s, v8.4s, v7.s[0]
    fmla v31.4s, v9.4s, v7.s[0]
    ldr q8, [x5, #64]
    ldr q9, [x5, #80]
    fmla v16.4s, v10.4s, v0.s[1]
    fmla v17.4s, v11.4s, v0.s[1]
    fmla v18.4s, v10.4s, v1.s[1]
    fmla v19.4s, v11.4s, v1.s[1]
    fmla v20.4s, v10.4s, v2.s[1]
    fmla v21.4s, v11.4s, v2.s[1]
    fmla v22.4s, v10.4s, v3.s[1]
    fmla v23.4s, v11.4s, v3.s[1]
    fmla v24.4s, v10.4s, v4.s[1]
    fmla v25.4s, v11.4s, v4.s[1]
    fmla v26.4s, v10.4s, v5.s[1]
    fmla v27.4s, v11.4s, v5.s[1]
    fmla v28.4s, v10.4s, v6.s[1]
    fmla v29.4s, v11.4s, v6.s[1]
    fmla v30.4s, v10.4s, v7.s[1]
    fmla v31.4s, v11.4s, v7.s[1]
    ldr q10, [x5, #96]
    ldr q11, [x5, #112]
    fmla v16.4s, v8.4s, v0.s[2]
    fmla v17.4s, v9.4s, v0.s[2]
    fmla v18.4s, v8.4s, v1.s[2]
    fmla v19.4s, v9.4s, v1.s[2]
    fmla v20.4s, v8.4s, v2.s[2]
    fmla v21.4s, v9.4s, v2.s[2]
    fmla v22.4s, v8.4s, v3.s[2]
    fmla v23.4s, v9.4s, v3.s[2]
    fmla v24.4s, v8.4s, v4.s[2]
    fmla v25.4s, v9.4s, v4.s[2]
    fmla v26.4s, v8.4s, v5.s[2]
    fmla v27.4s, v9.4s, v5.s[2]
    fmla v28.4s, v8.4s, v6.s[2]
    fmla v29.4s, v9.4s, v6.s[2]
    fmla v30.4s, v8.4s, v7.s[2]
    fmla v31.4s, v9.4s, v7.s[2]
    add x17, x17, #16
    fmla v16.4s, v10.4s, v0.s[3]
    fmla v17.4s, v11.4s, v0.s[3]
    fmla v18.4s, v10.4s, v1.s[3]
    fmla v19.4s, v11.4s, v1.s[3]
    fmla v20.4s, v10.4s, v2.s[3]
    fmla v21.4s, v11.4s, v2.s[3]
    fmla v22.4s, v10.4s, v3.s[3]
    fmla v23.4s, v11.4s, v3.s[3]
    fmla v24.4s, v10.4s, v4.s[3]
    fmla v25.4s, v11.4s, v4.s[3]
    fmla v26.4s, v10.4s, v5.s[3]
    fmla v27.4s, v11.4s, v5.s[3]
    fmla v28.4s, v10.4s, v6.s[3]
    fmla v29.4s, v11.4s, v6.s[3]
    fmla v30.4s, v10.4s, v7.s[3]
    fmla v31.4s, v11.4s, v7.s[3]
    add x5, x5, #128
3:  cbz x2, 5f
4:  /* One k at a time: lane 0 of each A row. */
    ldr q8, [x5]
    ldr q9, [x5, #16]
    add x5, x5, #32
    ldr s0, [x3, x17]
    ldr s1, [x9, x17]
    ldr s2, [x10, x17]
    ldr s3, [x11, x17]
    ldr s4, [x12, x17]
    ldr s5, [x13, x17]
    ldr s6, [x14, x17]
    ldr s7, [x15, x17]
    add x17, x17, #4
    fmla v16.4s, v8.4s, v0.s[0]
    fmla v17.4s, v9.4s, v0.s[0]
    fmla v18.4s, v8.4s, v1.s[0]
    fmla v19.4s, v9.4s, v1.s[0]
    fmla v20.4s, v8.4s, v2.s[0]
    fmla v21.4s, v9.4s, v2.s[0]
    fmla v22.4s, v8.4s, v3.s[0]
    fmla v23.4s, v9.4s, v3.s[0]
    fmla v24.4s, v8.4s, v4.s[0]
    fmla v25.4s, v9.4s, v4.s[0]
    fmla v26.4s, v8.4s, v5.s[0]
    fmla v27.4s, v9.4s, v5.s[0]
    fmla v28.4s, v8.4s, v6.s[0]
    fmla v29.4s, v9.4s, v6.s[0]
    fmla v30.4s, v8.4s, v7.s[0]
    fmla v31.4s, v9.4s, v7.s[0]
    subs x2, x2, #1
    b.ne 4b
5:
    /* Clamp. */
    ldr x16, [sp, #32]              /* params */
    ld1r {v0.4s}, [x16], #4
    ld1r {v1.4s}, [x16]
    CLAMP v16, v17
    CLAMP v18, v19
    CLAMP v20, v21
    CLAMP v22, v23
    CLAMP v24, v25
    CLAMP v26, v27
    CLAMP v28, v29
    CLAMP v30, v31

    /* C row pointers: x6, x9-x15 (aliased like A's). */
    NEXT_ROW x6, x9, x7, 1
    NEXT_ROW x9, x10, x7, 2
    NEXT_ROW x10, x11, x7, 3
    NEXT_ROW x11, x12, x7, 4
    NEXT_ROW x12, x13, x7, 5
    NEXT_ROW x13, x14, x7, 6
    NEXT_ROW x14, x15, x7, 7

    cmp x1, #8
    b.ne 6f
    stp q16, q17, [x6]
    stp q18, q19, [x9]
    stp q20, q21, [x10]
    stp q22, q23, [x11]
    stp q24, q25, [x12]
    stp q26, q27, [x13]
    stp q28, q29, [x14]
    stp q30, q31, [x15]
    b 7f
6:
    STORE_PARTIAL x6, 16, 17
    STORE_PARTIAL x9, 18, 19
    STORE_PARTIAL x10, 20, 21
    STORE_PARTIAL x11, 22, 23
    STORE_PARTIAL x12, 24, 25
    STORE_PARTIAL x13, 26, 27
    STORE_PARTIAL x14, 28, 29
    STORE_PARTIAL x15, 30, 31
7:  ldp d10, d11, [sp, #16]
    ldp d8, d9, [sp], #32
    ret
FUNC_END(sepconv_gemm_f32_8x8_neon)

NOEXEC_STACK
