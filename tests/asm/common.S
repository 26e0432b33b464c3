/*
 * common.S: start-up code and helpers linked into every pybsim test program.
 *
 * - the vector table (section .vectors, placed at 0x0800_0000 by link.ld): initial SP
 *   = end of SRAM, Reset_Handler, the 14 system exceptions and the STM32F405's 82
 *   external interrupts; every handler is a weak alias of Default_Handler, so a
 *   program overrides one by defining e.g. SysTick_Handler or IRQ3_Handler;
 * - Reset_Handler: VTOR = 0x0800_0000, copy .data from flash, zero .bss, call main,
 *   then exit with main's return value (r0) as the exit code;
 * - Default_Handler: exit code 0x100 + IPSR (an unexpected exception);
 * - semi_write0, semi_exit, print_hex, print_words (AAPCS calling convention).
 *
 * The FPU is NOT enabled here (fpu.S tests enabling it through CPACR).
 */
#include "common.h"

/* ---- vector table ---------------------------------------------------------- */
    .macro WEAK_HANDLER name
    .weak \name
    .thumb_set \name, Default_Handler
    .endm

    WEAK_HANDLER NMI_Handler
    WEAK_HANDLER HardFault_Handler
    WEAK_HANDLER MemManage_Handler
    WEAK_HANDLER BusFault_Handler
    WEAK_HANDLER UsageFault_Handler
    WEAK_HANDLER SVC_Handler
    WEAK_HANDLER DebugMon_Handler
    WEAK_HANDLER PendSV_Handler
    WEAK_HANDLER SysTick_Handler
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81
    WEAK_HANDLER IRQ\n\()_Handler
    .endr

    .section .vectors, "a", %progbits
    .global __vectors
    .type __vectors, %object
__vectors:
    .word _estack               /*  0: initial SP */
    .word Reset_Handler         /*  1 */
    .word NMI_Handler           /*  2 */
    .word HardFault_Handler     /*  3 */
    .word MemManage_Handler     /*  4 */
    .word BusFault_Handler      /*  5 */
    .word UsageFault_Handler    /*  6 */
    .word 0, 0, 0, 0            /*  7-10: reserved */
    .word SVC_Handler           /* 11 */
    .word DebugMon_Handler      /* 12 */
    .word 0                     /* 13: reserved */
    .word PendSV_Handler        /* 14 */
    .word SysTick_Handler       /* 15 */
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81
    .word IRQ\n\()_Handler      /* 16 + n */
    .endr
    .size __vectors, . - __vectors

/* ---- reset ----------------------------------------------------------------- */
FUNC Reset_Handler
    ldr r0, =SCB_VTOR
    ldr r1, =__vectors
    str r1, [r0]
    /* copy .data (LMA in flash) to SRAM */
    ldr r0, =_sdata
    ldr r1, =_edata
    ldr r2, =_sidata
1:  cmp r0, r1
    bhs 2f
    ldr r3, [r2], #4
    str r3, [r0], #4
    b 1b
    /* zero .bss */
2:  ldr r0, =_sbss
    ldr r1, =_ebss
    movs r3, #0
3:  cmp r0, r1
    bhs 4f
    str r3, [r0], #4
    b 3b
4:  bl main
    b semi_exit
ENDFUNC Reset_Handler

/* Any exception without its own handler: exit code 0x100 + exception number. */
FUNC Default_Handler
    mrs r0, ipsr
    add r0, r0, #0x100
    b semi_exit
ENDFUNC Default_Handler

/* ---- semihosting ----------------------------------------------------------- */

/* semi_write0(r0 = NUL-terminated string) */
FUNC semi_write0
    mov r1, r0
    movs r0, #SYS_WRITE0
    bkpt 0xab
    bx lr
ENDFUNC semi_write0

/* semi_exit(r0 = exit code): SYS_EXIT_EXTENDED {ADP_Stopped_ApplicationExit, code};
 * should the host not know it, SYS_EXIT with ApplicationExit (code 0) or
 * RunTimeErrorUnknown (any other code). Never returns. */
FUNC semi_exit
    sub sp, sp, #8
    ldr r1, =ADP_Stopped_ApplicationExit
    str r1, [sp]
    str r0, [sp, #4]
    mov r1, sp
    movs r0, #SYS_EXIT_EXTENDED
    bkpt 0xab
    ldr r2, [sp, #4]
    ldr r1, =ADP_Stopped_ApplicationExit
    cbz r2, 1f
    ldr r1, =ADP_Stopped_RunTimeErrorUnknown
1:  movs r0, #SYS_EXIT
    bkpt 0xab
2:  b 2b
ENDFUNC semi_exit

/* print_hex(r0 = value): 8 upper-case hex digits, no prefix, no newline */
FUNC print_hex
    ldr r1, =hexbuf
    movs r2, #8
1:  ror r0, r0, #28             /* next nibble to the bottom */
    and r3, r0, #0xF
    cmp r3, #10
    ite lo
    addlo r3, r3, #'0'
    addhs r3, r3, #('A' - 10)
    strb r3, [r1], #1
    subs r2, r2, #1
    bne 1b
    strb r2, [r1]               /* r2 == 0: terminator */
    ldr r0, =hexbuf
    b semi_write0
ENDFUNC print_hex

/* print_words(r0 = pointer, r1 = count): "XXXXXXXX XXXXXXXX ...\n" */
FUNC print_words
    push {r4, r5, r6, lr}
    mov r4, r0
    mov r5, r1
1:  cbz r5, 2f
    ldr r0, [r4], #4
    bl print_hex
    ldr r0, =space
    bl semi_write0
    subs r5, r5, #1
    b 1b
2:  ldr r0, =newline
    bl semi_write0
    pop {r4, r5, r6, pc}
ENDFUNC print_words

    .section .rodata.common, "a", %progbits
space:   .asciz " "
newline: .asciz "\n"

    BSS hexbuf, 12
