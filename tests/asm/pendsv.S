/*
 * pendsv.S: a two-thread context switcher on PSP driven by PendSV, started by SVC.
 *
 * main (Thread mode, MSP) builds thread B's initial stack (an 8-word exception frame
 * plus 8 words for r4-r11), sets PendSV to the lowest priority and executes `svc #0x42`.
 * SVC_Handler checks the SVC number through the stacked PC, points PSP at thread A's
 * initial frame and returns with EXC_RETURN 0xFFFFFFFD (Thread mode, PSP): thread A
 * starts. A and B each loop: increment their counter, check that their own r4-r11
 * patterns survived, set ICSR.PENDSVSET. PendSV_Handler saves r4-r11 below the
 * current PSP, switches to the other thread and restores its r4-r11. After
 * SWITCHES (10) PendSVs it returns with EXC_RETURN 0xFFFFFFF9 (Thread mode, MSP):
 * main's frame is still on the main stack, so main resumes after its SVC and checks.
 *
 * Objects: `counters` = {count_a, count_b, switches} (expect 5, 5, 10).
 * Exit codes: 0 pass; 1 count_a != 5; 2 count_b != 5; 3 switches != 10;
 * 4 the SVC number read from the stacked PC was not 0x42; 5 a thread ran on MSP
 * (CONTROL.SPSEL clear); 0x10+k thread A's register r(4+k) was corrupted;
 * 0x20+k thread B's register r(4+k) was corrupted.
 */
#include "common.h"

#define SWITCHES 10
#define STACK_WORDS 128

FUNC main
    push {r4-r11, lr}
    /* PendSV lowest priority (SHPR3 bits 23:16), SVC (SHPR2 bits 31:24) above it */
    ldr r0, =SCB_SHPR3
    ldr r1, [r0]
    orr r1, r1, #(0xFF << 16)
    str r1, [r0]
    ldr r0, =SCB_SHPR2
    movs r1, #0x80
    lsls r1, r1, #24
    str r1, [r0]

    /* thread A: initial exception frame at the top of stack_a */
    ldr r0, =stack_a + STACK_WORDS * 4 - 32
    ldr r1, =thread_a
    bl init_frame
    ldr r1, =saved_sp
    str r0, [r1, #0]            /* SVC_Handler starts A with this PSP */
    /* thread B: frame plus r4-r11 slots, as if PendSV had saved it */
    ldr r0, =stack_b + STACK_WORDS * 4 - 32
    ldr r1, =thread_b
    bl init_frame
    subs r0, r0, #32
    ldr r1, =saved_sp
    str r0, [r1, #4]

    svc #0x42                   /* never comes back until SWITCHES PendSVs later */

    /* back on MSP in Thread mode */
    ldr r4, =counters
    ldr r0, [r4, #0]
    CHECK_EQ r0, SWITCHES / 2, 1
    ldr r0, [r4, #4]
    CHECK_EQ r0, SWITCHES / 2, 2
    ldr r0, [r4, #8]
    CHECK_EQ r0, SWITCHES, 3
    PRINT "pendsv: ok\n"
    movs r0, #0
    pop {r4-r11, pc}
ENDFUNC main

/* init_frame(r0 = frame address, r1 = entry): r0-r3, r12 = 0, lr = 0xFFFFFFFF,
 * pc = entry (Thumb bit cleared), xPSR = 0x01000000 (T bit). Returns r0 unchanged. */
FUNC init_frame
    movs r2, #0
    str r2, [r0, #0]
    str r2, [r0, #4]
    str r2, [r0, #8]
    str r2, [r0, #12]
    str r2, [r0, #16]
    mvn r2, #0
    str r2, [r0, #20]
    bic r1, r1, #1
    str r1, [r0, #24]
    mov r2, #0x01000000
    str r2, [r0, #28]
    bx lr
ENDFUNC init_frame

FUNC SVC_Handler
    /* SVC number: low byte of the SVC instruction just before the stacked PC
     * (main used MSP, so the frame is on MSP) */
    ldr r0, [sp, #24]
    ldrb r0, [r0, #-2]
    cmp r0, #0x42
    beq 1f
    EXIT 4
1:  ldr r1, =saved_sp
    ldr r0, [r1, #0]
    msr psp, r0
    ldr r1, =current
    movs r0, #0
    str r0, [r1]
    mvn lr, #2                  /* 0xFFFFFFFD: Thread mode, PSP, basic frame */
    bx lr
ENDFUNC SVC_Handler

FUNC PendSV_Handler
    mrs r0, psp
    stmdb r0!, {r4-r11}
    ldr r1, =current
    ldr r2, [r1]
    ldr r3, =saved_sp
    str r0, [r3, r2, lsl #2]
    ldr r0, =counters
    ldr r12, [r0, #8]
    add r12, r12, #1
    str r12, [r0, #8]
    cmp r12, #SWITCHES
    beq 1f
    eor r2, r2, #1
    str r2, [r1]
    ldr r0, [r3, r2, lsl #2]
    ldmia r0!, {r4-r11}
    msr psp, r0
    bx lr                       /* 0xFFFFFFFD from the thread */
1:  mvn lr, #6                  /* 0xFFFFFFF9: back to main, Thread mode, MSP */
    bx lr
ENDFUNC PendSV_Handler

/* THREAD name, counter offset, pattern base, fail base */
    .macro THREAD name, offset, pat, fail
FUNC \name
    ldr r4, =\pat + 0x04
    ldr r5, =\pat + 0x05
    ldr r6, =\pat + 0x06
    ldr r7, =\pat + 0x07
    ldr r8, =\pat + 0x08
    ldr r9, =\pat + 0x09
    ldr r10, =\pat + 0x0A
    ldr r11, =\pat + 0x0B
1:  mrs r0, control
    tst r0, #2                  /* SPSEL: running on PSP */
    bne 2f
    EXIT 5
2:  ldr r0, =counters
    ldr r1, [r0, #\offset]
    adds r1, r1, #1
    str r1, [r0, #\offset]
    CHECK_EQ r4, \pat + 0x04, \fail + 0
    CHECK_EQ r5, \pat + 0x05, \fail + 1
    CHECK_EQ r6, \pat + 0x06, \fail + 2
    CHECK_EQ r7, \pat + 0x07, \fail + 3
    CHECK_EQ r8, \pat + 0x08, \fail + 4
    CHECK_EQ r9, \pat + 0x09, \fail + 5
    CHECK_EQ r10, \pat + 0x0A, \fail + 6
    CHECK_EQ r11, \pat + 0x0B, \fail + 7
    ldr r0, =SCB_ICSR
    mov r1, #ICSR_PENDSVSET
    str r1, [r0]
    dsb
    isb                         /* PendSV switches away here */
    b 1b
ENDFUNC \name
    .endm

    THREAD thread_a, 0, 0xA0A0A000, 0x10
    THREAD thread_b, 4, 0xB0B0B000, 0x20

    BSS counters, 12
    BSS current, 4
    BSS saved_sp, 8
    BSS stack_a, STACK_WORDS * 4, 8
    BSS stack_b, STACK_WORDS * 4, 8
