/*
 * busfault.S: a precise BusFault with BusFault enabled (SHCSR.BUSFAULTENA, bit 17).
 * hardfault.S includes this file with ESCALATE defined: BusFault left disabled (its
 * reset state), so the same bus error escalates to HardFault with HFSR.FORCED.
 *
 * main enables BusFault and loads from 0x6000_0000 (FSMC bank 1: nothing there on the
 * Pyboard's STM32F405RG, an access is a bus error). The handler (exception 5, or 3 when
 * escalated) checks the fault status and exits: it does not return.
 *
 * `fault_results` (STT_OBJECT, 4 words): CFSR, BFAR, HFSR and the stacked PC, as the
 * handler found them; printed as "busfault: cfsr bfar hfsr pc" (8 hex digits each).
 *
 * Exit codes: 0 pass; 1 the handler's IPSR is not 5; 2 CFSR lacks PRECISERR (bit 9)
 * or BFARVALID (bit 15); 3 BFAR is not 0x6000_0000;
 * 4 HFSR.FORCED is set (the fault escalated although BusFault was enabled), or, with
 *   ESCALATE, clear (a HardFault escalated from a BusFault must set it);
 * 5 the stacked PC is not the faulting load; 6 the fault status bits did not clear
 * on writing 1s; 7 the load did not fault (main went on).
 */
#include "common.h"

#define BAD_ADDRESS 0x60000000

#ifdef ESCALATE
#define FAULT_HANDLER HardFault_Handler
#define FAULT_EXC 3
#define FORCED_BIT HFSR_FORCED
#define NAME "hardfault: "
#else
#define FAULT_HANDLER BusFault_Handler
#define FAULT_EXC 5
#define FORCED_BIT 0
#define NAME "busfault: "
#endif

FUNC main
#ifndef ESCALATE
    ldr r0, =SCB_SHCSR
    ldr r1, [r0]
    orr r1, r1, #SHCSR_BUSFAULTENA
    str r1, [r0]
    dsb
    isb
#endif
    ldr r0, =BAD_ADDRESS
    .global fault_insn
    .type fault_insn, %function
fault_insn:
    ldr r1, [r0]                /* precise bus error */
    EXIT 7
ENDFUNC main

FUNC FAULT_HANDLER
    /* main runs on MSP: the exception frame is at SP */
    ldr r4, =fault_results
    ldr r0, =SCB_CFSR
    ldr r0, [r0]
    str r0, [r4, #0]
    ldr r0, =SCB_BFAR
    ldr r0, [r0]
    str r0, [r4, #4]
    ldr r0, =SCB_HFSR
    ldr r0, [r0]
    str r0, [r4, #8]
    ldr r0, [sp, #24]
    str r0, [r4, #12]

    PRINT NAME
    mov r0, r4
    movs r1, #4
    bl print_words

    mrs r0, ipsr
    CHECK_EQ r0, FAULT_EXC, 1
    ldr r0, [r4, #0]
    and r0, r0, #(CFSR_PRECISERR | CFSR_BFARVALID)
    CHECK_EQ r0, (CFSR_PRECISERR | CFSR_BFARVALID), 2
    ldr r0, [r4, #4]
    CHECK_EQ r0, BAD_ADDRESS, 3
    ldr r0, [r4, #8]
    and r0, r0, #HFSR_FORCED
    CHECK_EQ r0, FORCED_BIT, 4
    ldr r0, [r4, #12]
    ldr r1, =fault_insn
    bic r1, r1, #1
    cmp r0, r1
    beq 1f
    EXIT 5
1:  /* the status registers are write-one-to-clear */
    ldr r0, =SCB_CFSR
    ldr r1, [r0]
    str r1, [r0]
    ldr r1, [r0]
    ldr r0, =SCB_HFSR
    ldr r2, [r0]
    str r2, [r0]
    ldr r2, [r0]
    orr r1, r1, r2
    CHECK_EQ r1, 0, 6
    EXIT 0
ENDFUNC FAULT_HANDLER

    BSS fault_results, 16
