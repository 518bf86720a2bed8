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
 * (src/kernels/f32_gemm/neon.rs) checks all of this.
 * struct params { float min, max; const void *prefetch; } (AsmParams in
 * src/kernels/f32_gemm/mod.rs); this tile ignores `prefetch`.
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
#include "gemm_neon.h"

/* Two FMLAs of row \a (A in v\a, lane \lane) against B in \b0, \b1 into v\acc0,
 * v\acc1; with reload, then the next group's A of that row (\ptr + x17) into v\a. */
.macro FMLA_ROW acc0, acc1, a, ptr, b0, b1, lane, reload
    fmla v\acc0\().4s, \b0\().4s, v\a\().s[\lane]
    fmla v\acc1\().4s, \b1\().4s, v\a\().s[\lane]
  .if \reload
    ldr q\a, [\ptr, x17]
  .endif
.endm

/* One k for all 8 rows: lane \lane of A (v0-v7) x the B row in \b0, \b1, into v16-v31;
 * reload = 1 reloads each A row right after its last use (the group's last k). */
.macro FMLA_ROWS b0, b1, lane, reload=0
    FMLA_ROW 16, 17, 0, x3, \b0, \b1, \lane, \reload
    FMLA_ROW 18, 19, 1, x9, \b0, \b1, \lane, \reload
    FMLA_ROW 20, 21, 2, x10, \b0, \b1, \lane, \reload
    FMLA_ROW 22, 23, 3, x11, \b0, \b1, \lane, \reload
    FMLA_ROW 24, 25, 4, x12, \b0, \b1, \lane, \reload
    FMLA_ROW 26, 27, 5, x13, \b0, \b1, \lane, \reload
    FMLA_ROW 28, 29, 6, x14, \b0, \b1, \lane, \reload
    FMLA_ROW 30, 31, 7, x15, \b0, \b1, \lane, \reload
.endm

/* One group of 4 k, B row 0 already in v8-v9: each B row loaded one k ahead of its use;
 * with next = 1 also the next group's B row 0 and A (the loop), else none (the last). */
.macro GROUP4 next
    ldr q10, [x5, #32]
    ldr q11, [x5, #48]
    FMLA_ROWS v8, v9, 0
    ldr q8, [x5, #64]
    ldr q9, [x5, #80]
    FMLA_ROWS v10, v11, 1
    ldr q10, [x5, #96]
    ldr q11, [x5, #112]
    FMLA_ROWS v8, v9, 2
    add x17, x17, #16
  .if \next
    ldr q8, [x5, #128]
    ldr q9, [x5, #144]
    FMLA_ROWS v10, v11, 3, 1
  .else
    FMLA_ROWS v10, v11, 3
  .endif
    add x5, x5, #128
.endm

/* Rows 1-7 of the tile at x9-x15, from row 0 at \base, \stride bytes apart (NEXT_ROW). */
.macro ROW_PTRS base, stride
    NEXT_ROW \base, x9, \stride, 1
    NEXT_ROW x9, x10, \stride, 2
    NEXT_ROW x10, x11, \stride, 3
    NEXT_ROW x11, x12, \stride, 4
    NEXT_ROW x12, x13, \stride, 5
    NEXT_ROW x13, x14, \stride, 6
    NEXT_ROW x14, x15, \stride, 7
.endm

FUNC_BEGIN(sepconv_gemm_f32_8x8_neon)
    /* v8-v15 are callee-saved (low 64 bits); v8-v11 are used. */
    stp d8, d9, [sp, #-32]!
    stp d10, d11, [sp, #16]

    /* A row pointers: x3, x9-x15. */
    ROW_PTRS x3, x4

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
1:  GROUP4 1
    subs x8, x8, #1
    b.ne 1b
2:  GROUP4 0                      /* the last group: nothing further to load */
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
    FMLA_ROWS v8, v9, 0
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
    ROW_PTRS x6, x7

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
