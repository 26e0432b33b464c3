/*
 * pipeline.S: load/store pipeline micro-benchmarks of the Cortex-M4, timed with DWT
 * CYCCNT; the Rust tests (emulator/tests/core.rs, pipeline_*) assert each snippet's cost.
 *
 * The rules come from measurements on an STM32F407 (Cortex-M4 r0p1, the F405's die
 * family) published in jnk0le's "pipeline cycle test" notes (jnk0le/random,
 * `pipeline cycle test/doc/cortex_m3m4.md`) and from the Cortex-M3/M4 TRM's load/store
 * timing section (docs/cycle-facts.md §5.2-5.3). The method is that of his test
 * template (CM3_pipetest_tmpl.S, read for the facts, this is our own program): a snippet
 * runs N times in a loop closed by `subs r9, #1; bne.w`, between two CYCCNT reads at
 * fixed distance from the loop; `results[k]` is the difference of those reads for
 * snippet k. Snippet 0 is empty, so (results[k] - results[0]) / N is what snippet k
 * costs per iteration; the tests assert it exactly (and that the difference is a whole
 * multiple of N). Every snippet starts at a word-aligned address.
 *
 * Registers at every snippet start (set by `setup`): r4 = buf (SRAM1), r5 = 4,
 * r6 = buf + 512 (SRAM1), r7 = CCM data RAM (0x1000_0000), r8 = SRAM2 (0x2001_C000),
 * r0-r3 = 0, buf[0] = buf (a pointer to chase). r9 counts, r10 and r11 (DWT) time.
 * Snippets leave r4-r8 as they found them (post/pre-indexed pairs step back).
 *
 * Exit code 0 always (the checks are in the Rust tests); the results are also printed.
 */
#include "common.h"

#define N 100
#define NSNIP 31
#define SRAM2 0x2001C000

/* MEASURE k, snippet: time N runs of the macro `snippet` into results[k]. */
    .macro MEASURE k, snippet
    bl setup
    movw r9, #N
    dsb
    isb
    .balign 4
    ldr.w r10, [r11, #4]
    nop.w
9992:
    \snippet
    subs.w r9, r9, #1
    bne.w 9992b
    nop.w
    ldr.w r9, [r11, #4]
    subs r9, r9, r10
    movw r0, #:lower16:results
    movt r0, #:upper16:results
    str r9, [r0, #(\k * 4)]
    .endm

    .macro S_EMPTY
    .endm
/* 1: one ALU instruction: 1. */
    .macro S_ALU
    adds r0, r0, #1
    .endm
/* 2: a single load: 2 (TRM). */
    .macro S_LDR
    ldr r0, [r4]
    .endm
/* 3: two neighbouring loads pipeline: 3 (TRM: "normally three cycles total"). */
    .macro S_LDR_LDR
    ldr r0, [r4]
    ldr r1, [r4, #4]
    .endm
/* 4: the TRM's three-load example: 4 ("normally four cycles total"). */
    .macro S_LDR3
    ldr r0, [r4, r5]
    ldr r1, [r4]
    ldr r2, [r4, #8]
    .endm
/* 5: an immediate-offset store: 1 (write buffer). */
    .macro S_STR
    str r0, [r4]
    .endm
/* 6: two stores: 2. */
    .macro S_STR_STR
    str r0, [r4]
    str r1, [r4, #4]
    .endm
/* 7: a register-offset store: 2 (jnk0le: "reg offset store execute in 2 cycles"). */
    .macro S_STR_REG
    str r0, [r4, r5]
    .endm
/* 8: a register-offset store eats a following nop: 2. */
    .macro S_STR_REG_NOP
    str r0, [r4, r5]
    nop
    .endm
/* 9: a load eats a following nop: 2 (jnk0le: "load instructions can eat following nop"). */
    .macro S_LDR_NOP
    ldr r0, [r4]
    nop
    .endm
/* 10: ... but not a following cmp: 3 ("cmp, tst don't work"). */
    .macro S_LDR_CMP
    ldr r0, [r4]
    cmp r1, #0
    .endm
/* 11: base register written by the previous instruction: +1, 1 + 2 + 1 = 4
 * (jnk0le: "base address and offset must be available 1 cycle earlier than normally"). */
    .macro S_ALU_BASE_LDR
    adds r4, r4, #0
    ldr r0, [r4]
    .endm
/* 12: the same for the offset register: 4. */
    .macro S_ALU_OFFSET_LDR
    adds r5, r5, #0
    ldr r0, [r4, r5]
    .endm
/* 13: the same for a store's base: 1 + 1 + 1 = 3. */
    .macro S_ALU_BASE_STR
    adds r4, r4, #0
    str r0, [r4]
    .endm
/* 14: one instruction in between: no stall, 1 + 1 + 2 = 4. */
    .macro S_ALU_GAP_LDR
    adds r4, r4, #0
    adds r0, r0, #1
    ldr r0, [r4]
    .endm
/* 15: a store followed by a load does not pipeline: the store takes 2, 2 + 2 = 4
 * (jnk0le: "stores cannot be pipelined with following load instructions (adds extra
 * cycle to store)"). */
    .macro S_STR_LDR
    str r0, [r4]
    ldr r1, [r4, #4]
    .endm
/* 16: a register-offset store is 2 already ("even a stalled STR normally only takes
 * two cycles", TRM): 2 + 2 = 4. */
    .macro S_STR_REG_LDR
    str r0, [r4, r5]
    ldr r1, [r4, #8]
    .endm
/* 17: an immediate-offset store after a load removes the load's stall: 1 IPC, 2
 * (jnk0le: "immediate offset ... store placed after load, removes the stall, making
 * effective execution of 1 IPC"). */
    .macro S_LDR_STR
    ldr r0, [r4]
    str r1, [r4, #8]
    .endm
/* 18: a store before a load multiple: +1, 2 + (1 + 2) = 5 ("stores can't be pipelined
 * with following load multiple"). */
    .macro S_STR_LDM
    str r0, [r4]
    ldmia.w r6, {r0, r1}
    .endm
/* 19: ... but with a store multiple: 1 + 3 = 4 ("but can with stm"). */
    .macro S_STR_STM
    str r0, [r4]
    stmia.w r6, {r0, r1}
    .endm
/* 20: post-indexed loads on the same base do not chain (CM4): 2 + 2 = 4. */
    .macro S_LDR_POST_SAME
    ldr r0, [r4], #4
    ldr r1, [r4], #-4
    .endm
/* 21: alternating two bases chains: 2 + 1 + 1 + 1 = 5 ("alternating 2 different
 * registers works"). */
    .macro S_LDR_POST_ALT
    ldr r0, [r4], #4
    ldr r1, [r6], #4
    ldr r2, [r4], #-4
    ldr r3, [r6], #-4
    .endm
/* 22: pre-indexed loads on the same base: 4. */
    .macro S_LDR_PRE_SAME
    ldr r0, [r4, #4]!
    ldr r1, [r4, #-4]!
    .endm
/* 23: post-indexed stores on the same base do not chain: 1 + 2 = 3 ("post and pre
 * indexed stores cannot be chained back to back on same register base address"). */
    .macro S_STR_POST_SAME
    str r0, [r4], #4
    str r1, [r4], #-4
    .endm
/* 24: alternating bases: 4 x 1 = 4. */
    .macro S_STR_POST_ALT
    str r0, [r4], #4
    str r1, [r6], #4
    str r2, [r4], #-4
    str r3, [r6], #-4
    .endm
/* 25: pointer chase, the base loaded by the previous load: 2 + (2 + 1) = 5 (the base
 * must be available a cycle earlier than an ALU operand would be). */
    .macro S_LDR_CHASE
    ldr r0, [r4]
    ldr r1, [r0]
    .endm
/* 26: word-aligned 32-bit loads pipeline: 3. */
    .macro S_LDRW_ALIGNED
    ldr.w r0, [r4]
    ldr.w r1, [r4, #4]
    .endm
/* 27: 32-bit loads at half-word addresses fail to pipeline: 1 + 2 + 2 = 5
 * (jnk0le: "32bit opcode loads ... may fail to pipeline correctly if they are not
 * positioned at word aligned boundaries"). */
    .macro S_LDRW_UNALIGNED
    adds r0, r0, #1
    ldr.w r1, [r4]
    ldr.w r2, [r4, #4]
    .endm
/* 28: loads pipeline only within one memory block: SRAM1 then CCM, 2 + 2 = 4
 * ("load pipelining happens only when targeting the same memory block"). */
    .macro S_LDR_CCM
    ldr r0, [r4]
    ldr r1, [r7]
    .endm
/* 29: SRAM1 then SRAM2: 4. */
    .macro S_LDR_SRAM2
    ldr r0, [r4]
    ldr r1, [r8]
    .endm
/* 30: a store pipelines with a preceding load only within one memory block: 2 + 1 = 3. */
    .macro S_LDR_STR_CCM
    ldr r0, [r4]
    str r1, [r7]
    .endm

FUNC main
    push {r4-r11, lr}
    ENABLE_CYCCNT
    ldr r11, =DWT_CTRL
    cpsid i
    MEASURE 0, S_EMPTY
    MEASURE 1, S_ALU
    MEASURE 2, S_LDR
    MEASURE 3, S_LDR_LDR
    MEASURE 4, S_LDR3
    MEASURE 5, S_STR
    MEASURE 6, S_STR_STR
    MEASURE 7, S_STR_REG
    MEASURE 8, S_STR_REG_NOP
    MEASURE 9, S_LDR_NOP
    MEASURE 10, S_LDR_CMP
    MEASURE 11, S_ALU_BASE_LDR
    MEASURE 12, S_ALU_OFFSET_LDR
    MEASURE 13, S_ALU_BASE_STR
    MEASURE 14, S_ALU_GAP_LDR
    MEASURE 15, S_STR_LDR
    MEASURE 16, S_STR_REG_LDR
    MEASURE 17, S_LDR_STR
    MEASURE 18, S_STR_LDM
    MEASURE 19, S_STR_STM
    MEASURE 20, S_LDR_POST_SAME
    MEASURE 21, S_LDR_POST_ALT
    MEASURE 22, S_LDR_PRE_SAME
    MEASURE 23, S_STR_POST_SAME
    MEASURE 24, S_STR_POST_ALT
    MEASURE 25, S_LDR_CHASE
    MEASURE 26, S_LDRW_ALIGNED
    MEASURE 27, S_LDRW_UNALIGNED
    MEASURE 28, S_LDR_CCM
    MEASURE 29, S_LDR_SRAM2
    MEASURE 30, S_LDR_STR_CCM
    cpsie i
    PRINT "pipeline: "
    ldr r0, =results
    movs r1, #NSNIP
    bl print_words
    movs r0, #0
    pop {r4-r11, pc}
ENDFUNC main

/* setup: the registers every snippet starts from (see the file comment). */
FUNC setup
    ldr r4, =buf
    movs r5, #4
    add r6, r4, #512
    ldr r7, =0x10000000
    ldr r8, =SRAM2
    str r4, [r4]
    movs r0, #0
    movs r1, #0
    movs r2, #0
    movs r3, #0
    bx lr
ENDFUNC setup

    BSS results, (NSNIP * 4)
    BSS buf, 1024
