/*
 * common.h: constants and macros shared by the pybsim test programs.
 *
 * Included (through the C preprocessor) by common.S and by every <name>.S program.
 * The programs report through ARM semihosting: BKPT 0xAB with r0 = operation and
 * r1 = parameter (block pointer). Exit code 0 means pass; a non-zero code names the
 * check that failed (each program documents its codes). Codes 0x100 + n mean that an
 * unexpected exception n (IPSR) was taken; see Default_Handler in common.S.
 */
#ifndef PYBSIM_TEST_COMMON_H
#define PYBSIM_TEST_COMMON_H

/* ---- semihosting ------------------------------------------------------------ */
#define SYS_WRITE0          0x04
#define SYS_EXIT            0x18
#define SYS_EXIT_EXTENDED   0x20
#define ADP_Stopped_ApplicationExit 0x20026
#define ADP_Stopped_RunTimeErrorUnknown 0x20023

/* ---- Cortex-M4 System Control Space (architectural) -------------------------- */
#define NVIC_ISER   0xE000E100
#define NVIC_ICER   0xE000E180
#define NVIC_ISPR   0xE000E200
#define NVIC_ICPR   0xE000E280
#define NVIC_IABR   0xE000E300
#define NVIC_IPR    0xE000E400      /* one priority byte per IRQ */
#define NVIC_STIR   0xE000EF00

#define SCB_ICSR    0xE000ED04
#define SCB_VTOR    0xE000ED08
#define SCB_AIRCR   0xE000ED0C
#define SCB_SCR     0xE000ED10
#define SCB_CCR     0xE000ED14
#define SCB_SHPR1   0xE000ED18
#define SCB_SHPR2   0xE000ED1C
#define SCB_SHPR3   0xE000ED20
#define SCB_SHCSR   0xE000ED24
#define SCB_CFSR    0xE000ED28
#define SCB_HFSR    0xE000ED2C
#define SCB_MMFAR   0xE000ED34
#define SCB_BFAR    0xE000ED38
#define SCB_CPACR   0xE000ED88

#define ICSR_PENDSVSET  (1 << 28)
#define ICSR_PENDSTSET  (1 << 26)
#define SHCSR_BUSFAULTENA (1 << 17)
#define CFSR_PRECISERR  (1 << 9)
#define CFSR_BFARVALID  (1 << 15)
#define HFSR_FORCED     (1 << 30)

#define SYST_CSR    0xE000E010      /* SysTick CTRL */
#define SYST_RVR    0xE000E014      /* SysTick LOAD */
#define SYST_CVR    0xE000E018      /* SysTick VAL */
#define SYST_CALIB  0xE000E01C

#define DWT_CTRL    0xE0001000
#define DWT_CYCCNT  0xE0001004
#define DEMCR       0xE000EDFC
#define DEMCR_TRCENA (1 << 24)
#define FPCCR       0xE000EF34

/* ---- STM32F405 -------------------------------------------------------------- */
#define RCC_AHB1ENR 0x40023830
#define GPIOA_ODR   0x40020014

/* bit-band alias of bit `bit` of the word at `addr` (SRAM or peripheral region) */
#define BITBAND(addr, bit) \
    (((addr) & 0xF0000000) + 0x02000000 + (((addr) & 0x000FFFFF) << 5) + ((bit) << 2))

#ifdef __ASSEMBLER__

    .syntax unified
    .cpu cortex-m4
    .fpu fpv4-sp-d16
    .thumb

/* FUNC name: start a global Thumb function (so `.word name` carries the Thumb bit and
 * the loader sees an STT_FUNC symbol); close it with ENDFUNC name. */
    .macro FUNC name
    .section .text.\name, "ax", %progbits
    .global \name
    .type \name, %function
    .thumb_func
    .align 1
\name:
    .endm

    .macro ENDFUNC name
    .size \name, . - \name
    .ltorg
    .endm

/* DATA name, size, align: a global zero-initialised object in .bss (the loader sees an
 * STT_OBJECT symbol, so the Rust tests can find it by name). */
    .macro BSS name, size, align=4
    .section .bss.\name, "aw", %nobits
    .global \name
    .type \name, %object
    .balign \align
\name:
    .space \size
    .size \name, \size
    .endm

/* PRINT "text": write a literal string through SYS_WRITE0. Preserves r0-r3, r12, lr
 * and the flags. */
    .macro PRINT str
    .pushsection .rodata.str, "a", %progbits
9990:
    .asciz "\str"
    .popsection
    push {r0-r3, r12, lr}
    mrs r12, apsr
    push {r12}
    ldr r0, =9990b
    bl semi_write0
    pop {r12}
    msr apsr_nzcvq, r12
    pop {r0-r3, r12, lr}
    .endm

/* PRINT_HEX reg: print a register as 8 hex digits (no newline). Same preservation. */
    .macro PRINT_HEX reg
    push {r0-r3, r12, lr}
    mrs r12, apsr
    push {r12}
    mov r0, \reg
    bl print_hex
    pop {r12}
    msr apsr_nzcvq, r12
    pop {r0-r3, r12, lr}
    .endm

/* EXIT code: end the program with an exit code (immediate). Never returns. */
    .macro EXIT code
    ldr r0, =\code
    b semi_exit
    .endm

/* EXIT_REG reg: end the program with the code in a register. Never returns. */
    .macro EXIT_REG reg
    mov r0, \reg
    b semi_exit
    .endm

/* CHECK_EQ reg, value, code: exit with `code` unless reg == value (clobbers r12). */
    .macro CHECK_EQ reg, value, code
    ldr r12, =\value
    cmp \reg, r12
    beq 9991f
    EXIT \code
9991:
    .endm

/* ENABLE_CYCCNT: DEMCR.TRCENA = 1, DWT CYCCNT = 0, DWT_CTRL.CYCCNTENA = 1 (clobbers r0, r1). */
    .macro ENABLE_CYCCNT
    ldr r0, =DEMCR
    ldr r1, [r0]
    orr r1, r1, #DEMCR_TRCENA
    str r1, [r0]
    ldr r0, =DWT_CYCCNT
    movs r1, #0
    str r1, [r0]
    ldr r0, =DWT_CTRL
    ldr r1, [r0]
    orr r1, r1, #1
    str r1, [r0]
    .endm

#else /* C */

#include <stdint.h>
void semi_write0(const char *s);
void print_hex(uint32_t value);
void print_words(const uint32_t *words, uint32_t count);
__attribute__((noreturn)) void semi_exit(uint32_t code);

#endif /* __ASSEMBLER__ */
#endif /* PYBSIM_TEST_COMMON_H */
