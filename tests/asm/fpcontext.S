/*
 * fpcontext.S: the FP context survives an interrupt whose handler uses the FPU.
 *
 * main enables the FPU, puts 1.5 in s0 and 2.5 in s15 (this sets CONTROL.FPCA), then
 * pends IRQ0 through STIR. IRQ0_Handler checks that LR says an extended frame was
 * stacked (EXC_RETURN bit 4 clear), overwrites s0 and s15 and FPSCR's flags, and
 * returns. main checks s0, s15 and FPSCR are back: exception entry stacked S0-S15 and
 * FPSCR, and the return restored them.
 *
 * Exit codes: 0 pass; 1 s0 changed; 2 s15 changed; 3 the handler did not run;
 * 4 the handler saw a basic frame (EXC_RETURN bit 4 set); 5 FPSCR changed.
 */
#include "common.h"

FUNC main
    push {r4, lr}
    ldr r0, =SCB_CPACR
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
    ldr r0, =0x3FC00000         /* 1.5 */
    vmov s0, r0
    ldr r0, =0x40200000         /* 2.5 */
    vmov s15, r0
    movs r0, #0
    vmsr fpscr, r0
    ldr r0, =NVIC_ISER
    movs r1, #1
    str r1, [r0]
    ldr r0, =NVIC_STIR
    movs r1, #0
    str r1, [r0]
    dsb
    isb
    nop
    nop
    ldr r4, =fp_results
    ldr r0, [r4]
    CHECK_EQ r0, 1, 3
    ldr r0, [r4, #4]
    CHECK_EQ r0, 0, 4
    vmov r0, s0
    CHECK_EQ r0, 0x3FC00000, 1
    vmov r0, s15
    CHECK_EQ r0, 0x40200000, 2
    vmrs r0, fpscr
    CHECK_EQ r0, 0, 5
    movs r0, #0
    pop {r4, pc}
ENDFUNC main

FUNC IRQ0_Handler
    ldr r1, =fp_results
    movs r0, #1
    str r0, [r1]
    and r0, lr, #0x10           /* 0: extended frame */
    str r0, [r1, #4]
    ldr r0, =0xC0490FDB         /* -3.1415927 */
    vmov s0, r0
    vmov s15, r0
    vsqrt.f32 s0, s0            /* NaN, sets FPSCR.IOC */
    bx lr
ENDFUNC IRQ0_Handler

    BSS fp_results, 8
