/*
 * idle.S: a firmware that never talks: SysTick at 1 kHz and WFI forever.
 *
 * Used by the CLI tests: `pybsim run --firmware idle.elf script.py` must give up waiting
 * for a REPL prompt after its limit of board time, with exit status 2, not hang.
 * Never exits.
 */
#include "common.h"

FUNC main
    ldr r0, =SYST_RVR
    ldr r1, =15999
    str r1, [r0]
    ldr r0, =SYST_CVR
    movs r1, #0
    str r1, [r0]
    ldr r0, =SYST_CSR
    movs r1, #0x7
    str r1, [r0]
1:  wfi
    b 1b
ENDFUNC main

FUNC SysTick_Handler
    bx lr
ENDFUNC SysTick_Handler
