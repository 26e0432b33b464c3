/*
 * tailchain.S: tail-chaining of two equal-priority interrupts, timed with DWT CYCCNT.
 *
 * IRQ0 and IRQ1 both get priority 0x80. With PRIMASK set, both are enabled and pended
 * together through ISPR; CPSIE then lets them in: IRQ0 runs first (lower number wins
 * at equal priority) and IRQ1 must follow tail-chained, without returning to main in
 * between. r7 holds the address of DWT_CYCCNT across the exceptions (callee-saved
 * registers are not touched by exception entry), so each handler's FIRST instruction
 * is `ldr r0, [r7]`, a CYCCNT sample.
 *
 * `results` (6 words, STT_OBJECT):
 *   [0] t0: CYCCNT read by main just before CPSIE
 *   [1] t1: CYCCNT read by IRQ0's first instruction
 *   [2] t2: CYCCNT read by IRQ1's first instruction
 *   [3] t3: CYCCNT read by main's first instruction after the handlers
 *   [4] IPSR seen by the first handler (expect 16)
 *   [5] IPSR seen by the second handler (expect 17)
 * They are printed as "tailchain: t0 t1 t2 t3 ipsr0 ipsr1" (8 hex digits each).
 *
 * Between the samples (what the Rust test turns into cycle deltas):
 *   t0 -> t1: cpsie i, exception entry (stacking 8 words, vector fetch), the ldr;
 *   t1 -> t2: rest of IRQ0 (ldr literal, str, mrs, str, bx lr = 5 instructions),
 *             tail-chain (no unstacking/restacking), the ldr;
 *   t2 -> t3: rest of IRQ1 (same 5 instructions), exception return (unstacking), ldr.
 * On a Cortex-M4 with zero-wait-state memory entry is 12 cycles, tail-chain 6, return 10.
 *
 * Exit codes: 0 pass; 1 the first handler was not IRQ0; 2 the second was not IRQ1;
 * 3 CYCCNT did not advance (t3 == t0); 4 the samples are not in order.
 */
#include "common.h"

FUNC main
    push {r4-r7, lr}
    ENABLE_CYCCNT
    ldr r0, =NVIC_IPR
    movs r1, #0x80
    strb r1, [r0, #0]
    strb r1, [r0, #1]
    cpsid i
    ldr r0, =NVIC_ISER
    movs r1, #0x3
    str r1, [r0]
    ldr r0, =NVIC_ISPR
    str r1, [r0]                /* pend IRQ0 and IRQ1 together */
    dsb
    isb
    ldr r7, =DWT_CYCCNT
    ldr r4, =results
    ldr r0, [r7]                /* t0 */
    cpsie i                     /* IRQ0, then IRQ1 tail-chained */
    ldr r1, [r7]                /* t3 */
    str r0, [r4, #0]
    str r1, [r4, #12]

    PRINT "tailchain: "
    mov r0, r4
    movs r1, #6
    bl print_words

    ldr r0, [r4, #16]
    CHECK_EQ r0, 16, 1
    ldr r0, [r4, #20]
    CHECK_EQ r0, 17, 2
    ldr r0, [r4, #0]
    ldr r1, [r4, #12]
    cmp r0, r1
    bne 1f
    EXIT 3
1:  ldr r2, [r4, #4]
    ldr r3, [r4, #8]
    subs r2, r2, r0             /* t1 - t0 */
    subs r3, r3, r0             /* t2 - t0 */
    subs r1, r1, r0             /* t3 - t0 */
    cmp r2, r3                  /* t0 < t1 < t2 < t3 (modulo wrap) */
    bhs 2f
    cmp r3, r1
    bhs 2f
    cbz r2, 2f
    movs r0, #0
    pop {r4-r7, pc}
2:  EXIT 4
ENDFUNC main

FUNC IRQ0_Handler
    ldr r0, [r7]                /* t1: first instruction */
    ldr r1, =results
    str r0, [r1, #4]
    mrs r0, ipsr
    str r0, [r1, #16]
    bx lr
ENDFUNC IRQ0_Handler

FUNC IRQ1_Handler
    ldr r0, [r7]                /* t2: first instruction */
    ldr r1, =results
    str r0, [r1, #8]
    mrs r0, ipsr
    str r0, [r1, #20]
    bx lr
ENDFUNC IRQ1_Handler

    BSS results, 24
