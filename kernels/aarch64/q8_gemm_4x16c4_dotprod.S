/* void sepconv_q8_gemm_4x16c4_dotprod_neon(size_t mr, size_t nr, size_t kg,
 *                                          const uint8_t *a, size_t a_stride,
 *                                          const void *panel, void *c,
 *                                          size_t c_stride_bytes,
 *                                          const struct q8_params *params)
 *
 * One 4x16 tile of the int8 GEMM (src/kernels/q8_gemm/mod.rs): for i < mr, j < nr,
 * acc[i][j] = bias[j] + sum_k (a[i][k] - 128) * w[j][k] (i32, wrapping), then either
 * stored raw (params->raw != 0: i32 C) or requantized to u8 C:
 * zp + fcvtns(fmin(fmax(scvtf(acc) * scale[j], lo), hi)) (src/quant.rs, bit for bit).
 * `panel`: 16 i32 biases (with the zero-point terms and the 128 folded in), 16 f32
 * scales, then kg groups of [16 columns][4 k] s8 weights. Reads exactly kg * 4 bytes of
 * each of rows 0..mr of `a` and 128 + kg * 64 bytes of the panel; writes exactly
 * C[0..mr][0..nr] (u8 or i32 elements, rows c_stride_bytes apart). 1 <= mr <= 4,
 * 1 <= nr <= 16, kg >= 1; no alignment needed. The Rust wrapper
 * (src/kernels/q8_gemm/neon.rs) checks all of this.
 * struct q8_params { float lo, hi; int32_t zp; uint32_t raw; } (lo, hi = the output
 * bounds minus the zero point).
 * AAPCS64: x0 mr, x1 nr, x2 kg, x3 a, x4 a_stride, x5 panel, x6 c, x7 c_stride,
 * [sp] params.
 *
 * sdot multiplies s8 by s8, and A is u8: each A register (16 bytes = 4 groups of one
 * row) is flipped to s8 by one eor with 0x80 (= a - 128), once for all 16 columns; the
 * pack folds 128 * sum(w) into the bias (descriptor a_offset = 128).
 * Tile 4x16: 16 accumulators (v16-v31, row r in v16+4r .. v19+4r, 4 columns each),
 * A in v0-v3 (row r, 4 groups), B double-buffered in two sets of 4 (v4-v7 for even
 * groups, v12-v15 for odd ones), the next block's raw A in v9-v11 and v8 = 0x80: all 32
 * registers. Per block of 4 groups (16 k): 64 sdot by element (`sdot acc, b, a.4b[g]`),
 * 16 B loads, 4 A loads and 4 eor: the eor takes 4 of 68 vector-pipe slots. 8x8 would
 * take 8 eor per 64 sdot (a row register serves 8 columns, not 16), and 8x12 / 6x16 do
 * not fit the double buffers. For in-order cores (Cortex-A55) every load is issued at
 * least 8 sdot before its value is used: each B set is loaded in the first 11 sdot of
 * the group before it, the next block's A rows 0-2 during group 1 and row 3 (into the
 * register row 0's raw copy frees) during group 3, and each row's eor right after its
 * last use, 12 sdot before the next block's first.
 * A is addressed as row + shared offset (x17) and B by immediate offsets: loads with
 * writeback cost the A55 an extra issue slot. Rows >= mr alias row mr-1 (same A and C
 * pointers): they compute and store the same values. */
#include "asm.h"
#include "gemm_neon.h"
#include "q8_gemm_neon.h"

/* sdot v\d.4s, v\n.16b, v\m.4b[\idx], encoded by hand: the assemblers of older
 * toolchains (clang 14, as the mobile targets may use) refuse the mnemonic without a
 * -march flag that the build does not pass, and .arch cannot turn it on there. */
.macro SDOT_LANE d, n, m, idx
    .inst 0x4f80e000 | (((\idx) & 1) << 21) | ((\m) << 16) | (((\idx) >> 1) << 11) | ((\n) << 5) | (\d)
.endm

/* Sdots \from .. \to - 1 (of 0-3) of one row: lane \g of A row v\a times B v\b0-v\b3 into
 * v\c0-v\c3. */
.macro ROWDOT a, c0, c1, c2, c3, b0, b1, b2, b3, g, from, to
  .if (\from <= 0) && (\to > 0)
    SDOT_LANE \c0, \b0, \a, \g
  .endif
  .if (\from <= 1) && (\to > 1)
    SDOT_LANE \c1, \b1, \a, \g
  .endif
  .if (\from <= 2) && (\to > 2)
    SDOT_LANE \c2, \b2, \a, \g
  .endif
  .if (\from <= 3) && (\to > 3)
    SDOT_LANE \c3, \b3, \a, \g
  .endif
.endm

/* Row \r (0-3) of group \g against the B set \b (4 for v4-v7, else v12-v15): its
 * sdots \from .. \to - 1 (all four by default). */
.macro ROW r, b, g, from=0, to=4
  .if \r == 0
    ROWB 0, 16, 17, 18, 19, \b, \g, \from, \to
  .elseif \r == 1
    ROWB 1, 20, 21, 22, 23, \b, \g, \from, \to
  .elseif \r == 2
    ROWB 2, 24, 25, 26, 27, \b, \g, \from, \to
  .else
    ROWB 3, 28, 29, 30, 31, \b, \g, \from, \to
  .endif
.endm

.macro ROWB a, c0, c1, c2, c3, b, g, from, to
  .if \b == 4
    ROWDOT \a, \c0, \c1, \c2, \c3, 4, 5, 6, 7, \g, \from, \to
  .else
    ROWDOT \a, \c0, \c1, \c2, \c3, 12, 13, 14, 15, \g, \from, \to
  .endif
.endm

/* One block of 4 groups (x15 at its B, x17 at its A offset; set v4-v7 holds group 0's B,
 * v0-v3 its flipped A). With next = 1 it also loads and flips the next block's A and
 * loads its group 0's B (the loop); with next = 0 nothing past this block (the last).
 * The other instructions sit an odd number of sdots apart where they can: an in-order
 * core pairs one with the sdot after it, so none issues alone (Cortex-A55, as llvm-mca
 * models it). */
.macro BLOCK next
    add x17, x17, #16
    /* group 0 (B in v4-v7): group 1's B into v12-v15 (after sdot 1, 4, 7, 10) */
    ROW 0, 4, 0, 0, 1
    ldr q12, [x15, #64]
    ROW 0, 4, 0, 1, 4
    ldr q13, [x15, #80]
    ROW 1, 4, 0, 0, 3
    ldr q14, [x15, #96]
    ROW 1, 4, 0, 3, 4
    ROW 2, 4, 0, 0, 2
    ldr q15, [x15, #112]
    ROW 2, 4, 0, 2, 4
    ROW 3, 4, 0
    /* group 1 (v12-v15): group 2's B into v4-v7, the next A rows 0-2 raw into v9-v11
     * (after sdot 1-7) */
    ROW 0, 12, 1, 0, 1
    ldr q4, [x15, #128]
    ROW 0, 12, 1, 1, 2
    ldr q5, [x15, #144]
    ROW 0, 12, 1, 2, 3
    ldr q6, [x15, #160]
    ROW 0, 12, 1, 3, 4
    ldr q7, [x15, #176]
    ROW 1, 12, 1, 0, 1
  .if \next
    ldr q9, [x3, x17]
  .endif
    ROW 1, 12, 1, 1, 2
  .if \next
    ldr q10, [x9, x17]
  .endif
    ROW 1, 12, 1, 2, 3
  .if \next
    ldr q11, [x10, x17]
  .endif
    ROW 1, 12, 1, 3, 4
    ROW 2, 12, 1
    ROW 3, 12, 1
    /* group 2 (v4-v7): group 3's B into v12-v15 (after sdot 0-3) */
    ldr q12, [x15, #192]
    ROW 0, 4, 2, 0, 1
    ldr q13, [x15, #208]
    ROW 0, 4, 2, 1, 2
    ldr q14, [x15, #224]
    ROW 0, 4, 2, 2, 3
    ldr q15, [x15, #240]
    ROW 0, 4, 2, 3, 4
    ROW 1, 4, 2
    ROW 2, 4, 2
    ROW 3, 4, 2
    /* group 3 (v12-v15): the next group 0's B (after sdot 0-3); each A row flipped
     * after its last use (row 3's raw copy loaded into the register row 0's frees) */
  .if \next
    ldr q4, [x15, #256]
  .endif
    ROW 0, 12, 3, 0, 1
  .if \next
    ldr q5, [x15, #272]
  .endif
    ROW 0, 12, 3, 1, 2
  .if \next
    ldr q6, [x15, #288]
  .endif
    ROW 0, 12, 3, 2, 3
  .if \next
    ldr q7, [x15, #304]
  .endif
    ROW 0, 12, 3, 3, 4
  .if \next
    eor v0.16b, v9.16b, v8.16b
  .endif
    ROW 1, 12, 3, 0, 1
  .if \next
    ldr q9, [x11, x17]
  .endif
    ROW 1, 12, 3, 1, 4
  .if \next
    eor v1.16b, v10.16b, v8.16b
  .endif
    ROW 2, 12, 3, 0, 4
    ROW 3, 12, 3, 0, 1
  .if \next
    eor v2.16b, v11.16b, v8.16b
  .endif
    ROW 3, 12, 3, 1, 4
  .if \next
    eor v3.16b, v9.16b, v8.16b
  .endif
    add x15, x15, #256
.endm

FUNC_BEGIN(sepconv_q8_gemm_4x16c4_dotprod_neon)
    ldr x8, [sp]                    /* params */
    /* v8-v15 are callee-saved (low 64 bits): all are used. */
    stp d8, d9, [sp, #-64]!
    stp d10, d11, [sp, #16]
    stp d12, d13, [sp, #32]
    stp d14, d15, [sp, #48]

    Q8_SETUP
    movi v8.16b, #0x80

    /* x16 = blocks of 4 groups, x2 = the groups left over; x15 = the weights, x17 = the
     * byte offset into the A rows. */
    add x15, x5, #128
    mov x17, #0
    lsr x16, x2, #2
    and x2, x2, #3
    cbz x16, 3f
    /* The first block's A (flipped) and group 0's B; each block then loads the next's. */
    ldr q0, [x3]
    ldr q1, [x9]
    ldr q2, [x10]
    ldr q3, [x11]
    ldr q4, [x15]
    ldr q5, [x15, #16]
    ldr q6, [x15, #32]
    ldr q7, [x15, #48]
    eor v0.16b, v0.16b, v8.16b
    eor v1.16b, v1.16b, v8.16b
    eor v2.16b, v2.16b, v8.16b
    eor v3.16b, v3.16b, v8.16b
    subs x16, x16, #1
    b.eq 2f
1:  subs x16, x16, #1
    BLOCK 1
    b.ne 1b
2:  BLOCK 0
3:  cbz x2, 5f
4:  /* One group at a time: lane 0 of each A row. */
    ldr s0, [x3, x17]
    ldr s1, [x9, x17]
    ldr s2, [x10, x17]
    ldr s3, [x11, x17]
    ldr q4, [x15]
    ldr q5, [x15, #16]
    ldr q6, [x15, #32]
    ldr q7, [x15, #48]
    eor v0.8b, v0.8b, v8.8b
    eor v1.8b, v1.8b, v8.8b
    eor v2.8b, v2.8b, v8.8b
    eor v3.8b, v3.8b, v8.8b
    add x17, x17, #4
    add x15, x15, #64
    ROW 0, 4, 0
    ROW 1, 4, 0
    ROW 2, 4, 0
    ROW 3, 4, 0
    subs x2, x2, #1
    b.ne 4b
5:  ldp d14, d15, [sp, #48]
    ldp d12, d13, [sp, #32]
    ldp d10, d11, [sp, #16]
    ldp d8, d9, [sp], #64

    Q8_EPILOGUE
FUNC_END(sepconv_q8_gemm_4x16c4_dotprod_neon)

NOEXEC_STACK
