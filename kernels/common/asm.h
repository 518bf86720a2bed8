/* Portable symbol and section macros for the hand-written microkernels.
 *
 * One source assembles with GNU as (Linux, Android) and with clang's integrated assembler
 * (Android NDK, Xcode). ELF wants `.type`/`.size` and a non-executable-stack note; Mach-O
 * wants a leading underscore and accepts neither. Apple's arm64 assembler treats `;` as a
 * comment, so statements inside a macro are split with SEP instead. */
#ifndef SEPCONV_ASM_H
#define SEPCONV_ASM_H

#if defined(__APPLE__) && defined(__aarch64__)
#define SEP %%
#else
#define SEP ;
#endif

#if defined(__APPLE__)
#define SYM(name) _##name
#define FUNC_BEGIN(name) .text SEP .globl _##name SEP .p2align 4 SEP _##name:
#define FUNC_END(name)
#else
#define SYM(name) name
#define FUNC_BEGIN(name) .text SEP .globl name SEP .type name, %function SEP .p2align 4 SEP name:
#define FUNC_END(name) .size name, .-name
#endif

#if defined(__ELF__)
#define NOEXEC_STACK .section .note.GNU-stack,"",%progbits
#else
#define NOEXEC_STACK
#endif

#endif
