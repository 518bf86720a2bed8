/* The output stage of the AArch64 int8 GEMM tiles (kernels/aarch64/q8_gemm_*.S):
 * requantization and the stores of the accumulator tile (4x16: v16-v31, row r in
 * v16+4r .. v19+4r; 5x16: v12-v31). GNU as macros; include after asm.h. */
#ifndef SEPCONV_Q8_GEMM_NEON_H
#define SEPCONV_Q8_GEMM_NEON_H

/* The tile's row pointers and accumulators, from the arguments (x0 mr, x3 a,
 * x4 a_stride, x5 panel, x6 c, x7 c_stride): A rows at x3, x9-x11 and C rows at x6,
 * x12-x14, each row past mr aliasing row mr-1 (so it computes and stores the same
 * values); v16-v31 = the panel's 16 biases, per row. */
.macro Q8_SETUP
    NEXT_ROW x3, x9, x4, 1
    NEXT_ROW x9, x10, x4, 2
    NEXT_ROW x10, x11, x4, 3
    NEXT_ROW x6, x12, x7, 1
    NEXT_ROW x12, x13, x7, 2
    NEXT_ROW x13, x14, x7, 3

    /* Accumulators start at the bias. */
    ldp q16, q17, [x5]
    ldp q18, q19, [x5, #32]
    mov v20.16b, v16.16b
    mov v21.16b, v17.16b
    mov v22.16b, v18.16b
    mov v23.16b, v19.16b
    mov v24.16b, v16.16b
    mov v25.16b, v17.16b
    mov v26.16b, v18.16b
    mov v27.16b, v19.16b
    mov v28.16b, v16.16b
    mov v29.16b, v17.16b
    mov v30.16b, v18.16b
    mov v31.16b, v19.16b
.endm

/* Requantize one accumulator vector v\acc with the scales v\s: lo v0, hi v1, zp v2. */
.macro REQUANT acc, s
    scvtf v\acc\().4s, v\acc\().4s
    fmul v\acc\().4s, v\acc\().4s, v\s\().4s
    fmax v\acc\().4s, v\acc\().4s, v0.4s
    fmin v\acc\().4s, v\acc\().4s, v1.4s
    fcvtns v\acc\().4s, v\acc\().4s
    add v\acc\().4s, v\acc\().4s, v2.4s
.endm

/* One row's 16 requantized values (each in 0..=255, so exact) narrowed to bytes in v\c0. */
.macro NARROW c0, c1, c2, c3
    sqxtn v\c0\().4h, v\c0\().4s
    sqxtn2 v\c0\().8h, v\c1\().4s
    sqxtn v\c2\().4h, v\c2\().4s
    sqxtn2 v\c2\().8h, v\c3\().4s
    sqxtun v\c0\().8b, v\c0\().8h
    sqxtun2 v\c0\().16b, v\c2\().8h
.endm

/* The first nr (x1 < 16) bytes of v\r at \ptr (advanced). */
.macro STORE_U8_PARTIAL ptr, r
    tbz x1, #3, 1f
    str d\r, [\ptr], #8
    ext v\r\().16b, v\r\().16b, v\r\().16b, #8
1:  tbz x1, #2, 2f
    str s\r, [\ptr], #4
    ext v\r\().16b, v\r\().16b, v\r\().16b, #4
2:  tbz x1, #1, 3f
    str h\r, [\ptr], #2
    ext v\r\().16b, v\r\().16b, v\r\().16b, #2
3:  tbz x1, #0, 4f
    str b\r, [\ptr]
4:
.endm

/* The first nr (x1 < 16) i32 of one row (v\c0-v\c3) at \ptr (advanced). */
.macro STORE_I32_PARTIAL ptr, c0, c1, c2, c3
    tbz x1, #3, 1f
    stp q\c0, q\c1, [\ptr], #32
    mov v\c0\().16b, v\c2\().16b
    mov v\c1\().16b, v\c3\().16b
1:  tbz x1, #2, 2f
    str q\c0, [\ptr], #16
    mov v\c0\().16b, v\c1\().16b
2:  tbz x1, #1, 3f
    str d\c0, [\ptr], #8
    ext v\c0\().16b, v\c0\().16b, v\c0\().16b, #8
3:  tbz x1, #0, 4f
    str s\c0, [\ptr]
4:
.endm

/* Stores the tile: x1 = nr, x5 = panel (its scales at +64), C rows at x6, x12-x14,
 * x8 = struct q8_params { float lo, hi; int32_t zp; uint32_t raw; }. Uses v0-v7 and
 * returns. */
.macro Q8_EPILOGUE
    ldr w16, [x8, #12]              /* raw */
    cbnz w16, 18f

    /* Requantize: lo, hi, zp, then the panel's scales. */
    ld1r {v0.4s}, [x8], #4
    ld1r {v1.4s}, [x8], #4
    ld1r {v2.4s}, [x8]
    ldp q4, q5, [x5, #64]
    ldp q6, q7, [x5, #96]
    REQUANT 16, 4
    REQUANT 17, 5
    REQUANT 18, 6
    REQUANT 19, 7
    REQUANT 20, 4
    REQUANT 21, 5
    REQUANT 22, 6
    REQUANT 23, 7
    REQUANT 24, 4
    REQUANT 25, 5
    REQUANT 26, 6
    REQUANT 27, 7
    REQUANT 28, 4
    REQUANT 29, 5
    REQUANT 30, 6
    REQUANT 31, 7
    NARROW 16, 17, 18, 19
    NARROW 20, 21, 22, 23
    NARROW 24, 25, 26, 27
    NARROW 28, 29, 30, 31
    cmp x1, #16
    b.ne 16f
    str q16, [x6]
    str q20, [x12]
    str q24, [x13]
    str q28, [x14]
    ret
16: STORE_U8_PARTIAL x6, 16
    STORE_U8_PARTIAL x12, 20
    STORE_U8_PARTIAL x13, 24
    STORE_U8_PARTIAL x14, 28
    ret

18: /* Raw i32 accumulators. */
    cmp x1, #16
    b.ne 19f
    stp q16, q17, [x6]
    stp q18, q19, [x6, #32]
    stp q20, q21, [x12]
    stp q22, q23, [x12, #32]
    stp q24, q25, [x13]
    stp q26, q27, [x13, #32]
    stp q28, q29, [x14]
    stp q30, q31, [x14, #32]
    ret
19: STORE_I32_PARTIAL x6, 16, 17, 18, 19
    STORE_I32_PARTIAL x12, 20, 21, 22, 23
    STORE_I32_PARTIAL x13, 24, 25, 26, 27
    STORE_I32_PARTIAL x14, 28, 29, 30, 31
    ret
.endm

/* Q8_EPILOGUE for the 5x16 tile: accumulators v12-v31 (row r in v12+4r .. v15+4r), C
 * rows at x6, x9-x12; otherwise the same (x1 = nr, x5 = panel, x8 = params; uses v0-v7),
 * but returns through the macro \leave: v12-v15 hold results until the stores, so the
 * caller's d12-d15 can only come back then. */
.macro Q8_EPILOGUE5 leave
    ldr w16, [x8, #12]              /* raw */
    cbnz w16, 18f

    ld1r {v0.4s}, [x8], #4
    ld1r {v1.4s}, [x8], #4
    ld1r {v2.4s}, [x8]
    ldp q4, q5, [x5, #64]
    ldp q6, q7, [x5, #96]
    REQUANT 12, 4
    REQUANT 13, 5
    REQUANT 14, 6
    REQUANT 15, 7
    REQUANT 16, 4
    REQUANT 17, 5
    REQUANT 18, 6
    REQUANT 19, 7
    REQUANT 20, 4
    REQUANT 21, 5
    REQUANT 22, 6
    REQUANT 23, 7
    REQUANT 24, 4
    REQUANT 25, 5
    REQUANT 26, 6
    REQUANT 27, 7
    REQUANT 28, 4
    REQUANT 29, 5
    REQUANT 30, 6
    REQUANT 31, 7
    NARROW 12, 13, 14, 15
    NARROW 16, 17, 18, 19
    NARROW 20, 21, 22, 23
    NARROW 24, 25, 26, 27
    NARROW 28, 29, 30, 31
    cmp x1, #16
    b.ne 16f
    str q12, [x6]
    str q16, [x9]
    str q20, [x10]
    str q24, [x11]
    str q28, [x12]
    \leave
16: STORE_U8_PARTIAL x6, 12
    STORE_U8_PARTIAL x9, 16
    STORE_U8_PARTIAL x10, 20
    STORE_U8_PARTIAL x11, 24
    STORE_U8_PARTIAL x12, 28
    \leave

18: /* Raw i32 accumulators. */
    cmp x1, #16
    b.ne 19f
    stp q12, q13, [x6]
    stp q14, q15, [x6, #32]
    stp q16, q17, [x9]
    stp q18, q19, [x9, #32]
    stp q20, q21, [x10]
    stp q22, q23, [x10, #32]
    stp q24, q25, [x11]
    stp q26, q27, [x11, #32]
    stp q28, q29, [x12]
    stp q30, q31, [x12, #32]
    \leave
19: STORE_I32_PARTIAL x6, 12, 13, 14, 15
    STORE_I32_PARTIAL x9, 16, 17, 18, 19
    STORE_I32_PARTIAL x10, 20, 21, 22, 23
    STORE_I32_PARTIAL x11, 24, 25, 26, 27
    STORE_I32_PARTIAL x12, 28, 29, 30, 31
    \leave
.endm

#endif
