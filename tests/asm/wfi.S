/*
 * wfi.S: WFI sleeps until the next interrupt; ten virtual seconds of SysTick.
 *
 * The core runs at the reset clock (HSI, 16 MHz). SysTick's 24-bit LOAD cannot hold
 * one second (16_000_000 > 0xFFFFFF), so it ticks at 10 Hz: LOAD = 1_599_999,
 * CLKSOURCE | TICKINT | ENABLE. main loops on WFI until SysTick_Handler has counted
 * 100 ticks (10 virtual seconds), counting its wake-ups.
 *
 * `wfi_results` (STT_OBJECT, 3 words): [0] ticks (100), [1] wake-ups: WFI returns
 * (expect 100: one per tick; an emulator treating WFI as a NOP gives millions),
 * [2] CYCCNT at the end (informational: whether CYCCNT counts while asleep is
 * implementation-defined). Printed as "wfi: ticks wakeups cyccnt".
 * The Rust test checks virtual time >= 10 s and a small wall-clock time.
 *
 * Exit codes: 0 pass; 1 more than 200 wake-ups (WFI did not sleep).
 */
#include "common.h"

#define CORE_HZ 16000000
#define TICK_HZ 10
#define SECONDS 10

FUNC main
    push {r4, r5, lr}
    ENABLE_CYCCNT
    ldr r0, =SCB_SCR
    movs r1, #0                 /* SLEEPDEEP = 0, SLEEPONEXIT = 0: plain Sleep */
    str r1, [r0]
    ldr r0, =SYST_RVR
    ldr r1, =(CORE_HZ / TICK_HZ - 1)
    str r1, [r0]
    ldr r0, =SYST_CVR
    movs r1, #0
    str r1, [r0]
    ldr r0, =SYST_CSR
    movs r1, #0x7
    str r1, [r0]

    ldr r4, =wfi_results
    movs r5, #0                 /* wake-ups */
1:  wfi
    adds r5, r5, #1
    ldr r0, [r4, #0]
    cmp r0, #(TICK_HZ * SECONDS)
    blo 1b

    ldr r0, =SYST_CSR
    movs r1, #0
    str r1, [r0]
    str r5, [r4, #4]
    ldr r0, =DWT_CYCCNT
    ldr r0, [r0]
    str r0, [r4, #8]

    PRINT "wfi: "
    mov r0, r4
    movs r1, #3
    bl print_words

    cmp r5, #200
    bls 2f
    EXIT 1
2:  movs r0, #0
    pop {r4, r5, pc}
ENDFUNC main

FUNC SysTick_Handler
    ldr r1, =wfi_results
    ldr r0, [r1, #0]
    adds r0, r0, #1
    str r0, [r1, #0]
    bx lr
ENDFUNC SysTick_Handler

    BSS wfi_results, 12
