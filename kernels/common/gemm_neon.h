/* Macros of the AArch64 GEMM tiles (kernels/aarch64/gemm_*.S): row pointers that alias
 * past mr, the clamp and the partial-width store. GNU as macros (assembled by GNU as
 * and clang's integrated assembler alike); include after asm.h. */
#ifndef SEPCONV_GEMM_NEON_H
#define SEPCONV_GEMM_NEON_H

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

#endif
