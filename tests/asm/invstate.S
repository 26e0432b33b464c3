/*
 * invstate.S: a branch to an even address (the Thumb bit clear) is a UsageFault with
 * CFSR.INVSTATE (ARMv7-M B1.4.2: EPSR.T cleared, the next instruction faults), not an
 * undefined instruction: the code at the target is a valid instruction.
 *
 * main enables UsageFault (SHCSR.USGFAULTENA, bit 18) and does `bx r0` with r0 the
 * address of `target` with bit 0 clear. The handler checks IPSR, CFSR and the stacked
 * PC and exits.
 *
 * Exit codes: 0 pass; 1 the handler's IPSR is not 6; 2 CFSR is not exactly INVSTATE
 * (0x0002_0000); 3 the stacked PC is not `target`; 4 the stacked xPSR has the T bit
 * set; 7 the branch did not fault (target ran).
 */
#include "common.h"

#define SHCSR_USGFAULTENA (1 << 18)

FUNC main
    ldr r0, =SCB_SHCSR
    ldr r1, [r0]
    orr r1, r1, #SHCSR_USGFAULTENA
    str r1, [r0]
    dsb
    isb
    ldr r0, =target
    bic r0, r0, #1
    bx r0
ENDFUNC main

FUNC target
    ldr r1, [r0]                /* a valid instruction, never reached in ARM state */
    EXIT 7
ENDFUNC target

FUNC UsageFault_Handler
    mrs r0, ipsr
    CHECK_EQ r0, 6, 1
    ldr r0, =SCB_CFSR
    ldr r0, [r0]
    PRINT "invstate: cfsr "
    PRINT_HEX r0
    CHECK_EQ r0, 0x00020000, 2
    ldr r0, [sp, #24]
    ldr r1, =target
    bic r1, r1, #1
    cmp r0, r1
    beq 1f
    EXIT 3
1:  ldr r0, [sp, #28]
    and r0, r0, #(1 << 24)
    CHECK_EQ r0, 0, 4
    EXIT 0
ENDFUNC UsageFault_Handler
