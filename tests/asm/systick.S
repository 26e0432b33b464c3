/*
 * systick.S: SysTick at 1 kHz against one virtual second of DWT CYCCNT.
 *
 * The core runs at the reset clock (HSI, 16 MHz). SysTick: LOAD = 15999 (16000
 * cycles per tick), VAL = 0, CTRL = CLKSOURCE (processor clock) | TICKINT | ENABLE.
 * SysTick_Handler counts ticks in `systick_results[0]` and checks that IPSR is 15.
 * main spins until CYCCNT >= 16_000_000 (one virtual second), then stops SysTick.
 *
 * `systick_results` (STT_OBJECT, 3 words): [0] ticks (expect 1000: exactly, for an
 * exact model; the program itself accepts 999..1001), [1] CYCCNT when main saw the
 * second elapse, [2] the number of times SysTick_Handler saw IPSR != 15 (expect 0).
 * Printed as "systick: ticks cycles bad_ipsr" (8 hex digits each).
 *
 * Exit codes: 0 pass; 1 ticks outside 999..1001; 2 a handler saw IPSR != 15;
 * 3 COUNTFLAG not set after the ticks; 4 CYCCNT does not count.
 */
#include "common.h"

#define TICKS_PER_SECOND 1000
#define CORE_HZ 16000000

FUNC main
    push {r4, lr}
    ENABLE_CYCCNT
    ldr r0, =SYST_RVR
    ldr r1, =(CORE_HZ / TICKS_PER_SECOND - 1)
    str r1, [r0]
    ldr r0, =SYST_CVR
    movs r1, #0
    str r1, [r0]
    ldr r0, =SYST_CSR
    movs r1, #0x7               /* CLKSOURCE | TICKINT | ENABLE */
    str r1, [r0]

    ldr r2, =DWT_CYCCNT
    ldr r3, =CORE_HZ
    ldr r0, [r2]
    ldr r4, [r2]
    cmp r0, r4                  /* two reads: CYCCNT must have moved */
    bne 1f
    EXIT 4
1:  ldr r0, [r2]
    cmp r0, r3
    blo 1b
    ldr r1, =systick_results
    str r0, [r1, #4]
    /* COUNTFLAG (bit 16) is set when the counter has wrapped since the last read */
    ldr r0, =SYST_CSR
    ldr r4, [r0]
    movs r2, #0
    str r2, [r0]                /* stop SysTick */

    ldr r0, =systick_results
    PRINT "systick: "
    movs r1, #3
    bl print_words

    ldr r1, =systick_results
    ldr r0, [r1, #8]
    CHECK_EQ r0, 0, 2
    tst r4, #(1 << 16)
    bne 2f
    EXIT 3
2:  ldr r0, [r1, #0]
    subw r0, r0, #(TICKS_PER_SECOND - 1)
    cmp r0, #2
    bls 3f
    EXIT 1
3:  movs r0, #0
    pop {r4, pc}
ENDFUNC main

FUNC SysTick_Handler
    ldr r1, =systick_results
    ldr r0, [r1, #0]
    adds r0, r0, #1
    str r0, [r1, #0]
    mrs r0, ipsr
    cmp r0, #15
    beq 1f
    ldr r0, [r1, #8]
    adds r0, r0, #1
    str r0, [r1, #8]
1:  bx lr
ENDFUNC SysTick_Handler

    BSS systick_results, 12
