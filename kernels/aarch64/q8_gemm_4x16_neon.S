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
 * 4 uxtl. Loads are issued at least 8 instructions before their use, for in-order
 * cores (each k's B during the k before, the next block's A during k 1-2 of this one);
 * A is addressed as row + shared offset (x17) and B by immediate offsets. */
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

/* k \t (0-7) of the block, weights in set \b (4: v4-v5, 6: v6-v7), loading k + 1's
 * into the other set v\o0-v\o1 (for k 7 only with \next: the next block's k 0) and,
 * with \next, the next block's raw A (k 1-2) and, after each row's last use, its
 * widened A (k 7). The other instructions sit an odd number of multiply-adds apart (at
 * 3, 8 and 11, 14 of the 16, or 3, 4, 7, 8, 13, 16 in k 7): an in-order core pairs one
 * with the multiply-add after it, so none issues alone (Cortex-A55, as llvm-mca models
 * it). */
.macro STEP t, b, o0, o1, next
    ROW 0, \b, \t, 0, 3
  .if (\t < 7) || \next
    ldr q\o0, [x15, #(32 * (\t + 1))]
  .endif
    ROW 0, \b, \t, 3, 4
  .if (\t == 7) && \next
    uxtl v0.8h, v8.8b
    ROW 1, \b, \t, 0, 3
    ldr q\o1, [x15, #(32 * (\t + 1) + 16)]
    ROW 1, \b, \t, 3, 4
    uxtl v1.8h, v9.8b
    ROW 2, \b, \t
    ROW 3, \b, \t, 0, 1
    uxtl v2.8h, v10.8b
    ROW 3, \b, \t, 1, 4
    uxtl v3.8h, v11.8b
  .else
    ROW 1, \b, \t
  .if \t < 7
    ldr q\o1, [x15, #(32 * (\t + 1) + 16)]
  .endif
    ROW 2, \b, \t, 0, 3
  .if \next && (\t == 1)
    ldr d8, [x3, x17]
  .elseif \next && (\t == 2)
    ldr d10, [x10, x17]
  .endif
    ROW 2, \b, \t, 3, 4
    ROW 3, \b, \t, 0, 2
  .if \next && (\t == 1)
    ldr d9, [x9, x17]
  .elseif \next && (\t == 2)
    ldr d11, [x11, x17]
  .endif
    ROW 3, \b, \t, 2, 4
  .endif
.endm

/* One block of 8 k (x15 at its weights, x17 at its A offset; v4-v5 hold k 0's weights,
 * v0-v3 its widened A). With next = 1 it also loads the next block's A and k 0 weights
 * (the loop); with next = 0 nothing past this block (the last). */
.macro BLOCK next
    add x17, x17, #8
    STEP 0, 4, 6, 7, \next
    STEP 1, 6, 4, 5, \next
    STEP 2, 4, 6, 7, \next
    STEP 3, 6, 4, 5, \next
    STEP 4, 4, 6, 7, \next
    STEP 5, 6, 4, 5, \next
    STEP 6, 4, 6, 7, \next
    STEP 7, 6, 4, 5, \next
    add x15, x15, #256
.endm

FUNC_BEGIN(sepconv_q8_gemm_4x16_neon)
    ldr x8, [sp]                    /* params */
    /* v8-v15 are callee-saved (low 64 bits); v8-v11 are used. */
    stp d8, d9, [sp, #-32]!
    stp d10, d11, [sp, #16]

    Q8_SETUP

    add x15, x5, #128
    mov x17, #0
    lsr x16, x2, #3
    and x2, x2, #7
    cbz x16, 3f
    ldr d0, [x3]
    ldr d1, [x9]
    ldr d2, [x10]
    ldr d3, [x11]
    ldr q4, [x15]
    ldr q5, [x15, #16]
    uxtl v0.8h, v0.8b
    uxtl v1.8h, v1.8b
    uxtl v2.8h, v2.8b
    uxtl v3.8h, v3.8b
    subs x16, x16, #1
    b.eq 2f
1:  subs x16, x16, #1
    BLOCK 1
    b.ne 1b
2:  BLOCK 0
3:  cbz x2, 5f
4:  /* One k at a time: lane 0 of each A row. */
    ldr b0, [x3, x17]
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
5:  ldp d10, d11, [sp, #16]
    ldp d8, d9, [sp], #32

    Q8_EPILOGUE
FUNC_END(sepconv_q8_gemm_4x16_neon)

NOEXEC_STACK
