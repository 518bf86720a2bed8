/* void sepconv_q8_gemm_5x16c4_dotprod_neon(size_t mr, size_t nr, size_t kg,
 *                                          const uint8_t *a, size_t a_stride,
 *                                          const void *panel, void *c,
 *                                          size_t c_stride_bytes,
 *                                          const struct q8_params *params)
 *
 * One 5x16 tile of the int8 GEMM (src/kernels/q8_gemm/mod.rs): for i < mr, j < nr,
 * acc[i][j] = bias[j] + sum_k (a[i][k] - 128) * w[j][k] (i32, wrapping), then either
 * stored raw (params->raw != 0: i32 C) or requantized to u8 C:
 * zp + fcvtns(fmin(fmax(scvtf(acc) * scale[j], lo), hi)) (src/quant.rs, bit for bit).
 * `panel`: 16 i32 biases (with the zero-point terms and the 128 folded in), 16 f32
 * scales, then kg groups of [16 columns][4 k] s8 weights. Reads exactly kg * 4 bytes of
 * each of rows 0..mr of `a` and 128 + kg * 64 bytes of the panel; writes exactly
 * C[0..mr][0..nr] (u8 or i32 elements, rows c_stride_bytes apart). 1 <= mr <= 5,
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
 *
 * Registers: 20 accumulators v12-v31 (row r in v12+4r .. v15+4r, 4 columns each), A in
 * v0-v4 (row r, 4 groups), one B set v5-v8 (4 columns each), v9 = 0x80, v10 = the next
 * block's raw row 4. Per block of 4 groups (16 k): 80 sdot by element, 16 B loads,
 * 5 A loads, 5 eor; the loop runs two blocks (llvm-mca 19: 174 cycles for 160 sdot on
 * cortex-a55, 92%; 86 on cortex-a76, 93%).
 *
 * Why 5x16 and this order (llvm-mca 19, scripts/mca-q8-gemm.sh; the Cortex-A55 is
 * in-order): its model issues one Q-form sdot a cycle (both 64-bit FP pipes) as the first
 * of a pair, and the second of the pair only if it writes back no earlier than the sdot
 * (latency >= 4, no FP pipe). `ldr q, [x, x]` (latency 4) pairs; `ldr q, [x, #imm]`
 * (latency 3), an ALU op or an `eor` (latency 1) each cost a cycle, or three after an
 * sdot for the eor. So every load here is register-offset: B at [base, x17, lsl #4]
 * (one fixed base per group and 4 columns, 16 bases, x17 = 16 * block), A at
 * [row + 16, x17]; and the five eor run back to back at the end of the block, after
 * the two ALU ops in the cycle they must wait anyway. The Cortex-A76 target (LLVM's
 * A57 model) dispatches 3 micro-ops a cycle and a register-offset load is 2 of them,
 * the instruction's all in one cycle: 5 rows spread 21 loads over 80 sdot (a 4x16 tile
 * with the same loads has 20 per 64: at most 86% there; 6x16 needs 36 registers), and
 * each load sits where both its micro-ops fit in one dispatch group. B is
 * single-buffered: each B_j is reloaded right
 * after its last sdot of the group (groups 0-2 run column by column, so that is 5 sdot
 * in), and group 3 runs row by row so that rows 0-3 of the next block's A can load in
 * place; row 4's goes to v10.
 * Silicon may disagree where the model is silent: XNNPACK's and ONNX Runtime's A55
 * kernels load B as `ldr d` + `ldr x` + `ins` because, their authors note, a 128-bit
 * load stops the A55 issuing anything else for 2 cycles; LLVM 19's model has no such
 * stall and charges a cycle for each `ins` instead. Without a board, this follows the
 * model.
 * Rows >= mr alias row mr-1 (same A and C pointers): they compute and store the same
 * values. */
#include "asm.h"
#include "gemm_neon.h"
#include "q8_gemm_neon.h"

/* sdot v\d.4s, v\n.16b, v\m.4b[\idx], encoded by hand: the assemblers of older
 * toolchains (clang 14, as the mobile targets may use) refuse the mnemonic without a
 * -march flag that the build does not pass, and .arch cannot turn it on there. */
.macro SDOT_LANE d, n, m, idx
    .inst 0x4f80e000 | (((\idx) & 1) << 21) | ((\m) << 16) | (((\idx) >> 1) << 11) | ((\n) << 5) | (\d)
.endm

/* acc[row \r][columns 4\j..] += B_\j . A row \r, group \g. */
.macro SD r, j, g
    SDOT_LANE (12 + 4 * (\r) + (\j)), (5 + (\j)), \r, \g
.endm

/* B_\j (v5+\j) of group \g (1-3) of this block, or (\g = 0) of the next block's group 0:
 * base register Q[\g][\j] + 16 * \off (16 * the block's index). */
.macro LB j, g, off=x17
  .if \g == 0
    .if \j == 0
    ldr q5, [x0, \off, lsl #4]
    .elseif \j == 1
    ldr q6, [x4, \off, lsl #4]
    .elseif \j == 2
    ldr q7, [x6, \off, lsl #4]
    .else
    ldr q8, [x7, \off, lsl #4]
    .endif
  .elseif \g == 1
    .if \j == 0
    ldr q5, [x13, \off, lsl #4]
    .elseif \j == 1
    ldr q6, [x14, \off, lsl #4]
    .elseif \j == 2
    ldr q7, [x15, \off, lsl #4]
    .else
    ldr q8, [x19, \off, lsl #4]
    .endif
  .elseif \g == 2
    .if \j == 0
    ldr q5, [x20, \off, lsl #4]
    .elseif \j == 1
    ldr q6, [x21, \off, lsl #4]
    .elseif \j == 2
    ldr q7, [x22, \off, lsl #4]
    .else
    ldr q8, [x23, \off, lsl #4]
    .endif
  .else
    .if \j == 0
    ldr q5, [x24, \off, lsl #4]
    .elseif \j == 1
    ldr q6, [x25, \off, lsl #4]
    .elseif \j == 2
    ldr q7, [x26, \off, lsl #4]
    .else
    ldr q8, [x27, \off, lsl #4]
    .endif
  .endif
.endm

/* The next block's B_\j of group 0. */
.macro NLB j, off
    LB \j, 0, \off
.endm

/* The next block's raw A row \r: rows 0-3 in place (v\r), row 4 into v10. */
.macro NLA r, off
  .if \r == 0
    ldr q0, [x3, \off]
  .elseif \r == 1
    ldr q1, [x9, \off]
  .elseif \r == 2
    ldr q2, [x10, \off]
  .elseif \r == 3
    ldr q3, [x11, \off]
  .else
    ldr q10, [x12, \off]
  .endif
.endm

/* One block of 4 groups (\off = 16 * its index: x17 for even blocks, x28 for odd ones;
 * v5-v8 hold its group 0's B, v0-v4 its flipped A). With next = 1 it also loads and
 * flips the next block's A and loads its group 0's B; with next = 0 nothing past this
 * block (the last). tail = 1 (the loop's even block) advances x17 by two blocks and
 * counts x16 down, tail = 2 (its odd block) advances x28. The order below was found
 * with llvm-mca (see the header): both halves of the loop use it. */
.macro BLOCK next, off, tail
    /* group 0: B_j of group 1 after its last use here */
    SD 0, 0, 0
    SD 1, 0, 0
    SD 2, 0, 0
    SD 3, 0, 0
    SD 4, 0, 0
    SD 0, 1, 0
    LB 0, 1, \off
    SD 1, 1, 0
    SD 2, 1, 0
    SD 3, 1, 0
    SD 4, 1, 0
    LB 1, 1, \off
    SD 0, 2, 0
    SD 1, 2, 0
    SD 2, 2, 0
    SD 3, 2, 0
    SD 4, 2, 0
    LB 2, 1, \off
    SD 0, 3, 0
    SD 1, 3, 0
    SD 2, 3, 0
    SD 3, 3, 0
    SD 4, 3, 0
    /* group 1: B_j of group 2 */
    SD 0, 0, 1
    LB 3, 1, \off
    SD 1, 0, 1
    SD 2, 0, 1
    SD 3, 0, 1
    SD 4, 0, 1
    LB 0, 2, \off
    SD 0, 1, 1
    SD 1, 1, 1
    SD 2, 1, 1
    SD 3, 1, 1
    SD 4, 1, 1
    LB 1, 2, \off
    SD 0, 2, 1
    SD 1, 2, 1
    SD 2, 2, 1
    SD 3, 2, 1
    SD 4, 2, 1
    SD 0, 3, 1
    LB 2, 2, \off
    SD 1, 3, 1
    SD 2, 3, 1
    SD 3, 3, 1
    SD 4, 3, 1
    LB 3, 2, \off
    /* group 2: B_j of group 3; the next block's A row 4, raw, into v10 */
    SD 0, 0, 2
    SD 1, 0, 2
  .if \next
  NLA 4, \off
  .endif
    SD 2, 0, 2
    SD 3, 0, 2
    SD 4, 0, 2
    LB 0, 3, \off
    SD 0, 1, 2
    SD 1, 1, 2
    SD 2, 1, 2
    SD 3, 1, 2
    SD 4, 1, 2
    LB 1, 3, \off
    SD 0, 2, 2
    SD 1, 2, 2
    SD 2, 2, 2
    SD 3, 2, 2
    SD 4, 2, 2
    SD 0, 3, 2
    LB 2, 3, \off
    SD 1, 3, 2
    SD 2, 3, 2
    SD 3, 3, 2
    SD 4, 3, 2
    LB 3, 3, \off
    /* group 3, row by row: each of rows 0-3 reloaded raw in place after its last use, then
     * B_j of the next block's group 0 */
    SD 0, 0, 3
    SD 0, 1, 3
    SD 0, 2, 3
    SD 0, 3, 3
  .if \next
  NLA 0, \off
  .endif
    SD 1, 0, 3
    SD 1, 1, 3
    SD 1, 2, 3
    SD 1, 3, 3
  .if \next
  NLA 1, \off
  .endif
    SD 2, 0, 3
    SD 2, 1, 3
    SD 2, 2, 3
    SD 2, 3, 3
  .if \next
  NLA 2, \off
  .endif
    SD 3, 0, 3
    SD 3, 1, 3
    SD 3, 2, 3
    SD 3, 3, 3
  .if \next
  NLA 3, \off
  .endif
    SD 4, 0, 3
  .if \next
  NLB 0, \off
  .endif
    SD 4, 1, 3
  .if \next
  NLB 1, \off
  .endif
    SD 4, 2, 3
  .if \next
  NLB 2, \off
  .endif
    SD 4, 3, 3
  .if \next
  NLB 3, \off
  .endif
  .if \tail == 1
    add x17, x17, #32
    subs x16, x16, #1
  .elseif \tail == 2
    add x28, x28, #32
  .endif
  .if \next
    eor v0.16b, v0.16b, v9.16b
    eor v1.16b, v1.16b, v9.16b
    eor v2.16b, v2.16b, v9.16b
    eor v3.16b, v3.16b, v9.16b
    eor v4.16b, v10.16b, v9.16b
  .endif
.endm

/* Restores d8-d15 and the stack, and returns: after the stores, as v12-v15 hold
 * results (Q8_EPILOGUE5). */
.macro LEAVE
    ldp d14, d15, [sp, #48]
    ldp d12, d13, [sp, #32]
    ldp d10, d11, [sp, #16]
    ldp d8, d9, [sp], #176
    ret
.endm

FUNC_BEGIN(sepconv_q8_gemm_5x16c4_dotprod_neon)
    ldr x8, [sp]                    /* params */
    /* v8-v15 (low 64 bits) and x19-x28 are callee-saved: all are used. mr, c and
     * c_stride wait on the stack while their registers hold B bases; so does the block
     * count. */
    stp d8, d9, [sp, #-176]!
    stp d10, d11, [sp, #16]
    stp d12, d13, [sp, #32]
    stp d14, d15, [sp, #48]
    stp x19, x20, [sp, #64]
    stp x21, x22, [sp, #80]
    stp x23, x24, [sp, #96]
    stp x25, x26, [sp, #112]
    stp x27, x0, [sp, #128]
    stp x6, x7, [sp, #144]

    /* A rows at x3, x9-x12 (past mr: row mr-1); accumulators = the 16 biases. */
    NEXT_ROW x3, x9, x4, 1
    NEXT_ROW x9, x10, x4, 2
    NEXT_ROW x10, x11, x4, 3
    NEXT_ROW x11, x12, x4, 4
    ldp q12, q13, [x5]
    ldp q14, q15, [x5, #32]
    mov v16.16b, v12.16b
    mov v17.16b, v13.16b
    mov v18.16b, v14.16b
    mov v19.16b, v15.16b
    mov v20.16b, v12.16b
    mov v21.16b, v13.16b
    mov v22.16b, v14.16b
    mov v23.16b, v15.16b
    mov v24.16b, v12.16b
    mov v25.16b, v13.16b
    mov v26.16b, v14.16b
    mov v27.16b, v15.16b
    mov v28.16b, v12.16b
    mov v29.16b, v13.16b
    mov v30.16b, v14.16b
    mov v31.16b, v15.16b
    movi v9.16b, #0x80

    /* x16 = blocks of 4 groups (also at [sp, #168]), x2 = the groups left over. A is
     * addressed from row + 16 (the next block's, in the loop). */
    lsr x16, x2, #2
    and x2, x2, #3
    stp x28, x16, [sp, #160]
    add x3, x3, #16
    add x9, x9, #16
    add x10, x10, #16
    add x11, x11, #16
    add x12, x12, #16
    cbz x16, 3f
    /* The first block's A (flipped) and group 0's B; each block then loads the next's. */
    add x15, x5, #128
    ldur q0, [x3, #-16]
    ldur q1, [x9, #-16]
    ldur q2, [x10, #-16]
    ldur q3, [x11, #-16]
    ldur q4, [x12, #-16]
    ldp q5, q6, [x15]
    ldp q7, q8, [x15, #32]
    eor v0.16b, v0.16b, v9.16b
    eor v1.16b, v1.16b, v9.16b
    eor v2.16b, v2.16b, v9.16b
    eor v3.16b, v3.16b, v9.16b
    eor v4.16b, v4.16b, v9.16b
    /* B bases Q[g][j] = weights + 64 g + 16 j for groups 1-3, and + 256 + 16 j for the
     * next block's group 0 (LB). */
    add x0, x15, #256
    add x4, x15, #256 + 16
    add x6, x15, #256 + 32
    add x7, x15, #256 + 48
    add x13, x15, #64
    add x14, x15, #64 + 16
    add x19, x15, #64 + 48
    add x20, x15, #128
    add x21, x15, #128 + 16
    add x22, x15, #128 + 32
    add x23, x15, #128 + 48
    add x24, x15, #192
    add x25, x15, #192 + 16
    add x26, x15, #192 + 32
    add x27, x15, #192 + 48
    add x15, x15, #64 + 32
    /* Two blocks per iteration (one more block with next loads would leave the loop
     * nothing to load for): x16 = (blocks - 1) / 2 iterations, x17 and x28 = 16 * the
     * even and the odd block's index. */
    mov x17, #0
    mov x28, #16
    sub x16, x16, #1
    lsr x16, x16, #1
    cbz x16, 6f
1:  BLOCK 1, x17, 1
    BLOCK 1, x28, 2
    b.ne 1b
6:  /* One block left (an odd count) or two. */
    ldr x16, [sp, #168]
    tbnz x16, #0, 7f
    BLOCK 1, x17, 0
    BLOCK 0, x28, 0
    b 3f
7:  BLOCK 0, x17, 0
3:  cbz x2, 5f
    /* One group at a time: lane 0 of each A row (at row + 16 + x17), B at x15. */
    ldr x17, [sp, #168]
    lsl x17, x17, #4
    add x15, x5, #128
    add x15, x15, x17, lsl #4
    sub x17, x17, #16
4:  ldr s0, [x3, x17]
    ldr s1, [x9, x17]
    ldr s2, [x10, x17]
    ldr s3, [x11, x17]
    ldr s4, [x12, x17]
    ldp q5, q6, [x15]
    ldp q7, q8, [x15, #32]
    eor v0.8b, v0.8b, v9.8b
    eor v1.8b, v1.8b, v9.8b
    eor v2.8b, v2.8b, v9.8b
    eor v3.8b, v3.8b, v9.8b
    eor v4.8b, v4.8b, v9.8b
    add x17, x17, #4
    add x15, x15, #64
    SD 0, 0, 0
    SD 0, 1, 0
    SD 0, 2, 0
    SD 0, 3, 0
    SD 1, 0, 0
    SD 1, 1, 0
    SD 1, 2, 0
    SD 1, 3, 0
    SD 2, 0, 0
    SD 2, 1, 0
    SD 2, 2, 0
    SD 2, 3, 0
    SD 3, 0, 0
    SD 3, 1, 0
    SD 3, 2, 0
    SD 3, 3, 0
    SD 4, 0, 0
    SD 4, 1, 0
    SD 4, 2, 0
    SD 4, 3, 0
    subs x2, x2, #1
    b.ne 4b
5:  /* C rows at x6, x9-x12 (past mr: row mr-1). */
    ldr x0, [sp, #136]
    ldp x6, x7, [sp, #144]
    NEXT_ROW x6, x9, x7, 1
    NEXT_ROW x9, x10, x7, 2
    NEXT_ROW x10, x11, x7, 3
    NEXT_ROW x11, x12, x7, 4
    ldp x19, x20, [sp, #64]
    ldp x21, x22, [sp, #80]
    ldp x23, x24, [sp, #96]
    ldp x25, x26, [sp, #112]
    ldr x27, [sp, #128]
    ldr x28, [sp, #160]
    Q8_EPILOGUE5 LEAVE
FUNC_END(sepconv_q8_gemm_5x16c4_dotprod_neon)

NOEXEC_STACK
