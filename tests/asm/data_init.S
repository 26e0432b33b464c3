/*
 * data_init.S: initialised data is loaded at its flash LMA and copied to SRAM.
 *
 * `init_words` lives in .data (VMA 0x2000_0000.., LMA in flash after the code): the
 * loader must place its initial bytes at the LMA, and Reset_Handler copies them to
 * SRAM before main runs. `zero_words` lives in .bss and must read as zero.
 *
 * Exit codes: 0 pass; 1 init_words[0] != 0xCAFEF00D; 2 init_words[1] != 0x12345678;
 * 3 zero_words not zero; 4 init_words not writable.
 */
#include "common.h"

    .section .data.init_words, "aw", %progbits
    .global init_words
    .type init_words, %object
    .balign 4
init_words:
    .word 0xCAFEF00D, 0x12345678
    .size init_words, . - init_words

    BSS zero_words, 8

FUNC main
    ldr r2, =init_words
    ldr r0, [r2, #0]
    CHECK_EQ r0, 0xCAFEF00D, 1
    ldr r0, [r2, #4]
    CHECK_EQ r0, 0x12345678, 2
    ldr r3, =zero_words
    ldr r0, [r3, #0]
    ldr r1, [r3, #4]
    orrs r0, r0, r1
    CHECK_EQ r0, 0, 3
    ldr r0, =0x5A5A5A5A
    str r0, [r2, #0]
    ldr r1, [r2, #0]
    CHECK_EQ r1, 0x5A5A5A5A, 4
    PRINT "data_init: ok\n"
    movs r0, #0
    bx lr
ENDFUNC main
