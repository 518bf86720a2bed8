/* void sepconv_q8_gemm_4x16_neon(size_t mr, size_t nr, size_t k,
 *                                const uint8_t *a, size_t a_stride,
 *                                const void *panel, void *c, size_t c_stride_bytes,
 *                                const struct q8_params *params)
 *
 * One 4x16 tile of the int8 GEMM (src/kernels/q8_gemm/mod.rs) on baseline Advanced SIMD
 * (no dot product): for i < mr, j < nr, acc[i][j] = bias[j] + sum_k a[i][k] * w[j][k]
 * (i32, wrapping), then stored raw (params->raw != 0: i32 C) or requantized to u8 C:
 * zp + fcvtns(fmin(fmax(scvtf(acc) * scale[j], lo), hi)) (src/quant.rs, bit for bit).
 * `panel`: 16 i32 biases (with the zero-point terms folded in), 16 f32 scales, then k
 * rows of 16 weights, s8 widened to i16 at pack time. Reads exactly k bytes of each of
 * rows 0..mr of `a` and 128 + k * 32 bytes of the panel; writes exactly C[0..mr][0..nr]
 * (u8 or i32 elements, rows c_stride_bytes apart). 1 <= mr <= 4, 1 <= nr <= 16, k >= 1;
 * no alignment needed. The Rust wrapper (src/kernels/q8_gemm/neon.rs) checks all of this.
 * struct q8_params { float lo, hi; int32_t zp; uint32_t raw; }.
 * AAPCS64: x0 mr, x1 nr, x2 k, x3 a, x4 a_stride, x5 panel, x6 c, x7 c_stride,
 * [sp] params.
 *
 * A (u8) is widened with uxtl to 8 lanes of 16 bits (8 k per row register), read as s16
 * (0..255 fits), and multiplied by the i16 weights with smlal/smlal2 by element: s16 x s16
 * products (|p| <= 255 * 128) added into s32 lanes, exact and wrapping like the
 * reference (smlal never saturates). Per k and row: 4 instructions for 16 columns.
 * Tile 4x16: 16 accumulators (v16-v31, row r in v16+4r .. v19+4r), A in v0-v3 (the
 * by-element form of the 16-bit multiplies takes its element register from v0-v15
 * only), each k's 16 weights double-buffered in v4-v5 (even k) and v6-v7 (odd k), the
 * next block's raw A in v8-v11. Per block of 8 k: 128 smlal, 16 B loads, 4 A loads,
 * 4 uxtl. For the in-order Cortex-A55 (llvm-mca 19's model, scripts/mca-q8-gemm.sh):
 * it issues one Q-form smlal a cycle, first of a pair, and the second of the pair only
 * if it writes back no earlier (latency >= 4, no FP pipe): `ldr q, [x, x]` does,
 * `ldr q, [x, #imm]` does not. So every load is register-offset: A at [row + 8, x17]
 * (x17 = 8 * block), B at [base, x28, lsl #4] (x28 = 16 * block, one fixed base per k
 * and half, 16 bases), each k's B loaded during the k before, the next block's A during
 * k 1-2 of this one. */
#include "asm.h"
#include "gemm_neon.h"
#include "q8_gemm_neon.h"

/* Multiply-adds \from .. \to - 1 (of 0-3) of one row: lane \t of A row v\a times the 16
 * weights in v\b0 (columns 0-7) and v\b1 (8-15) into v\c0-v\c3. */
.macro ROWMLA a, c0, c1, c2, c3, b0, b1, t, from, to
  .if (\from <= 0) && (\to > 0)
    smlal v\c0\().4s, v\b0\().4h, v\a\().h[\t]
  .endif
  .if (\from <= 1) && (\to > 1)
    smlal2 v\c1\().4s, v\b0\().8h, v\a\().h[\t]
  .endif
  .if (\from <= 2) && (\to > 2)
    smlal v\c2\().4s, v\b1\().4h, v\a\().h[\t]
  .endif
  .if (\from <= 3) && (\to > 3)
    smlal2 v\c3\().4s, v\b1\().8h, v\a\().h[\t]
  .endif
.endm

/* Row \r (0-3), k \t of the block, weights in the set \b (4: v4-v5, else v6-v7):
 * its multiply-adds \from .. \to - 1 (all four by default). */
.macro ROW r, b, t, from=0, to=4
  .if \r == 0
    ROWB 0, 16, 17, 18, 19, \b, \t, \from, \to
  .elseif \r == 1
    ROWB 1, 20, 21, 22, 23, \b, \t, \from, \to
  .elseif \r == 2
    ROWB 2, 24, 25, 26, 27, \b, \t, \from, \to
  .else
    ROWB 3, 28, 29, 30, 31, \b, \t, \from, \to
  .endif
.endm

.macro ROWB a, c0, c1, c2, c3, b, t, from, to
  .if \b == 4
    ROWMLA \a, \c0, \c1, \c2, \c3, 4, 5, \t, \from, \to
  .else
    ROWMLA \a, \c0, \c1, \c2, \c3, 6, 7, \t, \from, \to
  .endif
.endm

/* Half \h (columns 8 \h ..) of the weights of k \t + 1 of this block (\t = 7: k 0 of the
 * next) into v\o: base register Q[\t][\h] = weights + 32 (\t + 1) + 16 \h, plus
 * 16 * x28. */
.macro LB t, h, o
  .if (\t == 0) && (\h == 0)
    ldr q\o, [x0, x28, lsl #4]
  .elseif \t == 0
    ldr q\o, [x4, x28, lsl #4]
  .elseif (\t == 1) && (\h == 0)
    ldr q\o, [x6, x28, lsl #4]
  .elseif \t == 1
    ldr q\o, [x7, x28, lsl #4]
  .elseif (\t == 2) && (\h == 0)
    ldr q\o, [x12, x28, lsl #4]
  .elseif \t == 2
    ldr q\o, [x13, x28, lsl #4]
  .elseif (\t == 3) && (\h == 0)
    ldr q\o, [x14, x28, lsl #4]
  .elseif \t == 3
    ldr q\o, [x15, x28, lsl #4]
  .elseif (\t == 4) && (\h == 0)
    ldr q\o, [x19, x28, lsl #4]
  .elseif \t == 4
    ldr q\o, [x20, x28, lsl #4]
  .elseif (\t == 5) && (\h == 0)
    ldr q\o, [x21, x28, lsl #4]
  .elseif \t == 5
    ldr q\o, [x22, x28, lsl #4]
  .elseif (\t == 6) && (\h == 0)
    ldr q\o, [x23, x28, lsl #4]
  .elseif \t == 6
    ldr q\o, [x24, x28, lsl #4]
  .elseif (\t == 7) && (\h == 0)
    ldr q\o, [x25, x28, lsl #4]
  .elseif \t == 7
    ldr q\o, [x26, x28, lsl #4]
  .endif
.endm

/* k \t (0-7) of the block, weights in set \b (4: v4-v5, 6: v6-v7), loading k + 1's
 * into the other set v\o0-v\o1 (for k 7 only with \next: the next block's k 0) and,
 * with \next, the next block's raw A rows (k 1-2). Each load follows a multiply-add
 * (an in-order core issues it beside that one: Cortex-A55, as llvm-mca 19 models it). */
.macro STEP t, b, o0, o1, next
    ROW 0, \b, \t, 0, 2
  .if (\t < 7) || \next
    LB \t, 0, \o0
  .endif
    ROW 0, \b, \t, 2, 4
  .if (\t < 7) || \next
    LB \t, 1, \o1
  .endif
    ROW 1, \b, \t, 0, 2
  .if \next && (\t == 1)
    ldr d8, [x3, x17]
  .elseif \next && (\t == 2)
    ldr d10, [x10, x17]
  .endif
    ROW 1, \b, \t, 2, 4
  .if \next && (\t == 1)
    ldr d9, [x9, x17]
  .elseif \next && (\t == 2)
    ldr d11, [x11, x17]
  .endif
    ROW 2, \b, \t
    ROW 3, \b, \t
.endm

/* One block of 8 k (x17 = 8 * its index, x28 = 16 * it; v4-v5 hold k 0's weights, v0-v3
 * its widened A). With next = 1 it also loads the next block's A and k 0 weights, widens
 * that A after the block's last use of v0-v3 (the four uxtl back to back: each waits for
 * the multiply-add before it to write back, and so wait together), and counts x16 down
 * (the loop); with next = 0 nothing past this block (the last). */
.macro BLOCK next
    STEP 0, 4, 6, 7, \next
    STEP 1, 6, 4, 5, \next
    STEP 2, 4, 6, 7, \next
    STEP 3, 6, 4, 5, \next
    STEP 4, 4, 6, 7, \next
    STEP 5, 6, 4, 5, \next
    STEP 6, 4, 6, 7, \next
    STEP 7, 6, 4, 5, \next
    add x17, x17, #8
    add x28, x28, #16
  .if \next
    subs x16, x16, #1
    uxtl v0.8h, v8.8b
    uxtl v1.8h, v9.8b
    uxtl v2.8h, v10.8b
    uxtl v3.8h, v11.8b
  .endif
.endm

FUNC_BEGIN(sepconv_q8_gemm_4x16_neon)
    ldr x8, [sp]                    /* params */
    /* v8-v15 (low 64 bits; v8-v11 are used) and x19-x28 are callee-saved. mr, c and
     * c_stride wait on the stack while their registers hold weight bases. */
    stp d8, d9, [sp, #-128]!
    stp d10, d11, [sp, #16]
    stp x19, x20, [sp, #32]
    stp x21, x22, [sp, #48]
    stp x23, x24, [sp, #64]
    stp x25, x26, [sp, #80]
    stp x28, x0, [sp, #96]
    stp x6, x7, [sp, #112]

    Q8_SETUP

    /* x16 = blocks of 8 k, x2 = the k left over; x17 = 8 * block, x28 = 16 * block. */
    lsr x16, x2, #3
    and x2, x2, #7
    mov x17, #0
    mov x28, #0
    cbz x16, 3f
    add x15, x5, #128
    ldr d0, [x3]
    ldr d1, [x9]
    ldr d2, [x10]
    ldr d3, [x11]
    ldp q4, q5, [x15]
    uxtl v0.8h, v0.8b
    uxtl v1.8h, v1.8b
    uxtl v2.8h, v2.8b
    uxtl v3.8h, v3.8b
    /* Weight bases Q[t][h] (LB); the next block's A is at row + 8 + x17. */
    add x0, x15, #32
    add x4, x15, #32 + 16
    add x6, x15, #64
    add x7, x15, #64 + 16
    add x12, x15, #96
    add x13, x15, #96 + 16
    add x14, x15, #128
    add x19, x15, #160
    add x20, x15, #160 + 16
    add x21, x15, #192
    add x22, x15, #192 + 16
    add x23, x15, #224
    add x24, x15, #224 + 16
    add x25, x15, #256
    add x26, x15, #256 + 16
    add x15, x15, #128 + 16
    add x3, x3, #8
    add x9, x9, #8
    add x10, x10, #8
    add x11, x11, #8
    subs x16, x16, #1
    b.eq 2f
1:  BLOCK 1
    b.ne 1b
2:  BLOCK 0
    sub x3, x3, #8
    sub x9, x9, #8
    sub x10, x10, #8
    sub x11, x11, #8
3:  cbz x2, 5f
    /* One k at a time: lane 0 of each A row (at row + x17), weights at x15. */
    add x15, x5, #128
    add x15, x15, x28, lsl #4
4:  ldr b0, [x3, x17]
    ldr b1, [x9, x17]
    ldr b2, [x10, x17]
    ldr b3, [x11, x17]
    ldr q4, [x15]
    ldr q5, [x15, #16]
    uxtl v0.8h, v0.8b
    uxtl v1.8h, v1.8b
    uxtl v2.8h, v2.8b
    uxtl v3.8h, v3.8b
    add x17, x17, #1
    add x15, x15, #32
    ROW 0, 4, 0
    ROW 1, 4, 0
    ROW 2, 4, 0
    ROW 3, 4, 0
    subs x2, x2, #1
    b.ne 4b
5:  /* C rows at x6, x12-x14 (past mr: row mr-1). */
    ldr x0, [sp, #104]
    ldp x6, x7, [sp, #112]
    NEXT_ROW x6, x12, x7, 1
    NEXT_ROW x12, x13, x7, 2
    NEXT_ROW x13, x14, x7, 3
    ldp x19, x20, [sp, #32]
    ldp x21, x22, [sp, #48]
    ldp x23, x24, [sp, #64]
    ldp x25, x26, [sp, #80]
    ldr x28, [sp, #96]
    ldp d10, d11, [sp, #16]
    ldp d8, d9, [sp], #128

    Q8_EPILOGUE
FUNC_END(sepconv_q8_gemm_4x16_neon)

NOEXEC_STACK
