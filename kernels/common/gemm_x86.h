/* Macros of the x86-64 GEMM tiles (kernels/x86_64/gemm_*.S), shared by the AVX2 and the
 * AVX-512 ones: the aliasing row-pointer chain, the shared A index, the bias start, the
 * clamp, the stores and the prefetching k loop. GNU as macros (`.macro`, `.irp`), which
 * GNU as and clang's integrated assembler (ELF and Mach-O) both take, beside a few cpp
 * ones; include after asm.h. Accumulators are named by register kind and number
 * (`ymm`, 3 is %ymm3); row lists pair accumulators with a row pointer.
 * A tile that uses NEXT_ROW or ROW_CHAIN defines TILE_MR, where mr is (%rdi, or a stack
 * slot), before including this header: they compare against it, and cpp expands it in
 * ROW_CHAIN's body here. */
#ifndef SEPCONV_GEMM_X86_H
#define SEPCONV_GEMM_X86_H

/* Row pointer `dst` = `prev` + `stride`, or `prev` when row `row` >= mr (TILE_MR). */
#define NEXT_ROW(prev, dst, stride, row) \
    leaq (prev,stride), dst SEP \
    cmpq $(row), TILE_MR SEP \
    cmovbe prev, dst

/* NEXT_ROW down a list of row pointers: \dst (row \row) from \prev, then each of \more
 * from the one before it, rows \row + 1 ... */
.macro ROW_CHAIN stride, row, prev, dst, more:vararg
    NEXT_ROW(\prev, \dst, \stride, \row)
  .ifnb \more
    ROW_CHAIN \stride, \row+1, \dst, \more
  .endif
.endm

/* Point every row of \rows at its end (kc floats on; kc in rdx) and count a shared byte
 * index in rdx up from -4*kc to 0. Uses r8. */
.macro ROWS_TO_END rows:vararg
    leaq (,%rdx,4), %r8
  .irp r, \rows
    addq %r8, \r
  .endr
    negq %rdx
    shlq $2, %rdx
.endm

/* Accumulator pairs \lo, \hi (and those of \more) take row 0's (\reg 0 and 1). */
.macro FROM_ROW0 reg, lo, hi, more:vararg
    vmovaps %\reg\()0, %\reg\lo
    vmovaps %\reg\()1, %\reg\hi
  .ifnb \more
    FROM_ROW0 \reg, \more
  .endif
.endm

/* Accumulators 0, 1 start at the bias (the panel's first \kb bytes), the pairs \pairs at
 * row 0's (FROM_ROW0); the panel (r9) moves on to its first k row. */
.macro BIAS_2V reg, kb, pairs:vararg
    vmovups (%r9), %\reg\()0
    vmovups \kb/2(%r9), %\reg\()1
    FROM_ROW0 \reg, \pairs
    addq $\kb, %r9
.endm

/* Accumulators \accs take row 0's single one (\reg 0). */
.macro FROM_ACC0 reg, accs:vararg
  .irp n, \accs
    vmovaps %\reg\()0, %\reg\n
  .endr
.endm

/* Clamp accumulators \accs to [params->min, params->max], params at \params, the bounds
 * broadcast into \lo and \hi: every max, then every min. Uses rax. */
.macro CLAMP_ACCS params, reg, lo, hi, accs:vararg
    movq \params, %rax
    vbroadcastss (%rax), %\lo
    vbroadcastss 4(%rax), %\hi
  .irp n, \accs
    vmaxps %\lo, %\reg\n, %\reg\n
  .endr
  .irp n, \accs
    vminps %\hi, %\reg\n, %\reg\n
  .endr
.endm

/* `\op lo, hi, ptr` for each row of a list of (lo, hi, ptr) triples. */
.macro EACH_ROW2 op, lo, hi, ptr, more:vararg
    \op \lo, \hi, \ptr
  .ifnb \more
    EACH_ROW2 \op, \more
  .endif
.endm

/* `\op acc, ptr` for each row of a list of (acc, ptr) pairs. */
.macro EACH_ROW1 op, acc, ptr, more:vararg
    \op \acc, \ptr
  .ifnb \more
    EACH_ROW1 \op, \more
  .endif
.endm

/* Stores of one row at \ptr: two ymm (16 columns), masked by ymm12 (columns 0-7) and
 * ymm13 (8-15); two zmm (32 columns), masked by k1 (0-15) and k2 (16-31); one zmm (16
 * columns), masked by k1. */
.macro STORE2_YMM lo, hi, ptr
    vmovups %ymm\lo, (\ptr)
    vmovups %ymm\hi, 32(\ptr)
.endm
.macro MASKSTORE2_YMM lo, hi, ptr
    vmaskmovps %ymm\lo, %ymm12, (\ptr)
    vmaskmovps %ymm\hi, %ymm13, 32(\ptr)
.endm
.macro STORE2_ZMM lo, hi, ptr
    vmovups %zmm\lo, (\ptr)
    vmovups %zmm\hi, 64(\ptr)
.endm
.macro MASKSTORE2_ZMM lo, hi, ptr
    vmovups %zmm\lo, (\ptr){%k1}
    vmovups %zmm\hi, 64(\ptr){%k2}
.endm
.macro STORE1_ZMM acc, ptr
    vmovups %zmm\acc, (\ptr)
.endm
.macro MASKSTORE1_ZMM acc, ptr
    vmovups %zmm\acc, (\ptr){%k1}
.endm

/* k1 = columns 0-15 and k2 = columns 16-31 below nr (rsi < 32) of a 32-column tile.
 * Moves rcx to r9 (shifts take their count in cl); uses rdx. A cpp macro: clang reads
 * $1 in a GNU as macro without parameters as its first argument. */
#define MASKS_32 \
    movq %rcx, %r9 SEP \
    movl %esi, %ecx SEP \
    movl $1, %edx SEP \
    shlq %cl, %rdx SEP \
    decq %rdx SEP \
    kmovw %edx, %k1 SEP \
    shrl $16, %edx SEP \
    kmovw %edx, %k2

/* The short-tile and one-row k steps of a tile of two vectors per row (gemm_avx2.S's
 * 6x16, gemm_avx512.S's 7x32), at byte offset `o` into the A rows and panel row `j`,
 * `v` being the register kind (ymm, zmm) and `kb` the panel bytes per k; each starts
 * with the tile's own PF(j), its prefetch of the panel ahead. KSTEP4_2V: rows 0-3, B
 * into b0, b1, the rows' broadcasts into t0-t3, FMAs into accumulators 0-7. KSTEP1_2V:
 * row 0, its broadcast into `t`, B read by the FMAs into accumulators 0, 1. */
#define KSTEP4_2V(o, j, v, kb, b0, b1, t0, t1, t2, t3) \
    PF(j) \
    vmovups ((kb)*(j))(%r9), %v##b0 SEP \
    vmovups ((kb)*(j)+(kb)/2)(%r9), %v##b1 SEP \
    vbroadcastss o(%rcx,%rdx), %v##t0 SEP \
    vbroadcastss o(%rax,%rdx), %v##t1 SEP \
    vbroadcastss o(%r10,%rdx), %v##t2 SEP \
    vbroadcastss o(%r11,%rdx), %v##t3 SEP \
    vfmadd231ps %v##b0, %v##t0, %v##0 SEP \
    vfmadd231ps %v##b1, %v##t0, %v##1 SEP \
    vfmadd231ps %v##b0, %v##t1, %v##2 SEP \
    vfmadd231ps %v##b1, %v##t1, %v##3 SEP \
    vfmadd231ps %v##b0, %v##t2, %v##4 SEP \
    vfmadd231ps %v##b1, %v##t2, %v##5 SEP \
    vfmadd231ps %v##b0, %v##t3, %v##6 SEP \
    vfmadd231ps %v##b1, %v##t3, %v##7
#define KSTEP1_2V(o, j, v, kb, t) \
    PF(j) \
    vbroadcastss o(%rcx,%rdx), %v##t SEP \
    vfmadd231ps ((kb)*(j))(%r9), %v##t, %v##0 SEP \
    vfmadd231ps ((kb)*(j)+(kb)/2)(%r9), %v##t, %v##1

/* The k loop of one row count, `step` being its KSTEP(o, j) (A at byte offset o, panel
 * row j): 4 steps per iteration while at least four remain, each iteration prefetching
 * one line from `pf` on (a slice of the next panel) into L2, then single steps; the
 * panel (r9) advances `kbytes` per k, rdx counts the byte index up to 0. Labels 20-23
 * are its own (each use defines them afresh). */
#define KLOOP(step, pf, kbytes) \
    cmpq $-16, %rdx SEP \
    jg 21f SEP \
20: prefetcht1 (pf) SEP \
    addq $64, pf SEP \
    step(0, 0) SEP \
    step(4, 1) SEP \
    step(8, 2) SEP \
    step(12, 3) SEP \
    addq $(4*(kbytes)), %r9 SEP \
    addq $16, %rdx SEP \
    cmpq $-16, %rdx SEP \
    jle 20b SEP \
21: testq %rdx, %rdx SEP \
    jz 23f SEP \
22: step(0, 0) SEP \
    addq $(kbytes), %r9 SEP \
    addq $4, %rdx SEP \
    jnz 22b SEP \
23:

#endif
