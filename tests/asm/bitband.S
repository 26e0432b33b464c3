/*
 * bitband.S: Cortex-M4 bit-banding, SRAM (0x2200_0000) and peripheral (0x4200_0000).
 *
 * Alias word for bit b of the word at A (A in 0x2000_0000..0x200F_FFFF or
 * 0x4000_0000..0x400F_FFFF): (A & 0xF000_0000) + 0x0200_0000 + (A & 0xF_FFFF) * 32 + b * 4.
 * A write to the alias sets/clears the one bit from bit 0 of the written value (an
 * atomic read-modify-write of the word); a read returns 0 or 1. Byte and halfword
 * accesses to the alias work the same.
 *
 * Exit codes: 0 pass;
 *  1 setting bit 1 of 0xA5A5A5A5 through the alias did not give 0xA5A5A5A7;
 *  2 alias read of bit 1 is not 1; 3 alias read of bit 3 is not 0;
 *  4 writing 0xFFFFFFFE (bit 0 clear) to the alias of bit 0 did not clear it;
 *  5 a byte write of 0 to the alias of bit 31 did not clear it;
 *  6 a byte read of the alias of bit 31 is not 0; 7 a halfword read of bit 2 is not 1;
 *  8 RCC AHB1ENR.GPIOAEN (bit 0) not set through its alias 0x4247_0600;
 *  9 GPIOA ODR is not 0x20 after setting bit 5 through its alias 0x4240_0294;
 * 10 alias read of ODR bit 5 is not 1; 11 clearing ODR bit 5 through the alias failed.
 */
#include "common.h"

    /* SRAM_ALIAS reg, bit: reg = alias of `bit` of the SRAM word whose address is in reg */
    .macro SRAM_ALIAS reg, bit
    sub \reg, \reg, #0x20000000
    lsl \reg, \reg, #5
    add \reg, \reg, #0x22000000
    add \reg, \reg, #(\bit * 4)
    .endm

FUNC main
    push {r4, lr}
    ldr r4, =bb_word
    ldr r0, =0xA5A5A5A5
    str r0, [r4]

    mov r1, r4
    SRAM_ALIAS r1, 1
    movs r0, #1
    str r0, [r1]
    ldr r0, [r4]
    CHECK_EQ r0, 0xA5A5A5A7, 1
    ldr r0, [r1]
    CHECK_EQ r0, 1, 2
    mov r1, r4
    SRAM_ALIAS r1, 3
    ldr r0, [r1]
    CHECK_EQ r0, 0, 3

    mov r1, r4
    SRAM_ALIAS r1, 0
    ldr r0, =0xFFFFFFFE         /* only bit 0 of the value counts */
    str r0, [r1]
    ldr r0, [r4]
    CHECK_EQ r0, 0xA5A5A5A6, 4

    mov r1, r4
    SRAM_ALIAS r1, 31
    movs r0, #0
    strb r0, [r1]
    ldr r0, [r4]
    CHECK_EQ r0, 0x25A5A5A6, 5
    ldrb r0, [r1]
    CHECK_EQ r0, 0, 6
    mov r1, r4
    SRAM_ALIAS r1, 2
    ldrh r0, [r1]
    CHECK_EQ r0, 1, 7

    /* peripheral: enable the GPIOA clock, then drive PA5 high and low */
    ldr r1, =BITBAND(RCC_AHB1ENR, 0)
    movs r0, #1
    str r0, [r1]
    ldr r0, =RCC_AHB1ENR
    ldr r0, [r0]
    and r0, r0, #1
    CHECK_EQ r0, 1, 8
    dsb

    ldr r1, =BITBAND(GPIOA_ODR, 5)
    movs r0, #1
    str r0, [r1]
    ldr r0, =GPIOA_ODR
    ldr r0, [r0]
    CHECK_EQ r0, 0x20, 9
    ldr r0, [r1]
    CHECK_EQ r0, 1, 10
    movs r0, #0
    str r0, [r1]
    ldr r0, =GPIOA_ODR
    ldr r0, [r0]
    CHECK_EQ r0, 0, 11

    PRINT "bitband: ok\n"
    movs r0, #0
    pop {r4, pc}
ENDFUNC main

    BSS bb_word, 4
