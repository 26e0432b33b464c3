/*
 * nested_irq.S: NVIC preemption by priority, three levels deep.
 *
 * IRQ0 priority 0x80 (lowest of the three), IRQ1 0x40, IRQ2 0x20 (highest).
 * main pends IRQ0 through STIR; IRQ0's handler pends IRQ1 through ISPR, which preempts
 * it at once; IRQ1's handler pends IRQ2 through STIR, which preempts IRQ1. Each handler
 * appends 0x10+n on entry and 0x20+n on exit to the byte array `irq_log` (count in
 * `irq_log_len`). Inside IRQ2 the handler also records IABR (expect 0x7: all three
 * active) and ICSR.VECTACTIVE (expect 18) in `nested_results`.
 *
 * Expected irq_log: 10 11 12 22 21 20.
 * Exit codes: 0 pass; 1..6 the log entry at that position (1-based) is wrong;
 * 7 the log length is not 6; 8 IABR inside IRQ2 was not 0x7; 9 VECTACTIVE inside IRQ2
 * was not 18; 10 IABR not 0 after all handlers; 11 ISPR not 0 after all handlers.
 */
#include "common.h"

/* LOG code: append a byte to irq_log (clobbers r0-r3) */
    .macro LOG code
    ldr r0, =irq_log_len
    ldr r1, [r0]
    ldr r2, =irq_log
    movs r3, #\code
    strb r3, [r2, r1]
    adds r1, r1, #1
    str r1, [r0]
    .endm

FUNC main
    push {r4, lr}
    /* priorities: IPR byte n belongs to IRQ n */
    ldr r0, =NVIC_IPR
    movs r1, #0x80
    strb r1, [r0, #0]
    movs r1, #0x40
    strb r1, [r0, #1]
    movs r1, #0x20
    strb r1, [r0, #2]
    /* enable IRQ0..2 */
    ldr r0, =NVIC_ISER
    movs r1, #0x7
    str r1, [r0]
    /* pend IRQ0 by software trigger */
    ldr r0, =NVIC_STIR
    movs r1, #0
    str r1, [r0]
    dsb
    isb
    /* all three handlers have run by now */
    ldr r0, =irq_log_len
    ldr r0, [r0]
    CHECK_EQ r0, 6, 7
    ldr r4, =irq_log
    ldrb r0, [r4, #0]
    CHECK_EQ r0, 0x10, 1
    ldrb r0, [r4, #1]
    CHECK_EQ r0, 0x11, 2
    ldrb r0, [r4, #2]
    CHECK_EQ r0, 0x12, 3
    ldrb r0, [r4, #3]
    CHECK_EQ r0, 0x22, 4
    ldrb r0, [r4, #4]
    CHECK_EQ r0, 0x21, 5
    ldrb r0, [r4, #5]
    CHECK_EQ r0, 0x20, 6
    ldr r4, =nested_results
    ldr r0, [r4, #0]
    CHECK_EQ r0, 0x7, 8
    ldr r0, [r4, #4]
    CHECK_EQ r0, 18, 9
    ldr r0, =NVIC_IABR
    ldr r0, [r0]
    CHECK_EQ r0, 0, 10
    ldr r0, =NVIC_ISPR
    ldr r0, [r0]
    CHECK_EQ r0, 0, 11
    PRINT "nested_irq: ok\n"
    movs r0, #0
    pop {r4, pc}
ENDFUNC main

FUNC IRQ0_Handler
    LOG 0x10
    ldr r0, =NVIC_ISPR
    movs r1, #(1 << 1)          /* pend IRQ1 */
    str r1, [r0]
    dsb
    isb                         /* IRQ1 preempts here */
    LOG 0x20
    bx lr
ENDFUNC IRQ0_Handler

FUNC IRQ1_Handler
    LOG 0x11
    ldr r0, =NVIC_STIR
    movs r1, #2                 /* pend IRQ2 */
    str r1, [r0]
    dsb
    isb                         /* IRQ2 preempts here */
    LOG 0x21
    bx lr
ENDFUNC IRQ1_Handler

FUNC IRQ2_Handler
    LOG 0x12
    ldr r2, =nested_results
    ldr r0, =NVIC_IABR
    ldr r0, [r0]
    str r0, [r2, #0]
    ldr r0, =SCB_ICSR
    ldr r0, [r0]
    ubfx r0, r0, #0, #9         /* VECTACTIVE */
    str r0, [r2, #4]
    LOG 0x22
    bx lr
ENDFUNC IRQ2_Handler

    BSS irq_log, 16
    BSS irq_log_len, 4
    BSS nested_results, 8
