/* Macros of the x86-64 GEMM tiles (kernels/x86_64/gemm_*.S), shared by the AVX2 and the
 * AVX-512 ones: the aliasing row-pointer chain, the shared A index, the bias start, the
 * clamp, the stores and the prefetching k loop. GNU as macros (`.macro`, `.irp`), which
 * GNU as and clang's integrated assembler (ELF and Mach-O) both take, beside a few cpp
 * ones; include after asm.h. Accumulators are named by register kind and number
 * (`ymm`, 3 is %ymm3); row lists pair accumulators with a row pointer.
 * A tile defines TILE_MR, where mr is (%rdi, or a stack slot), before including this
 * header: NEXT_ROW and ROW_CHAIN compare against it. */
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
