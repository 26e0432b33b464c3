/*
 * fpu.S: single-precision FPU (FPv4-SP) arithmetic.
 *
 * Proves: CPACR enables CP10/CP11; VADD, VSUB, VMUL, VDIV, VSQRT and VCVT give the
 * IEEE-754 round-to-nearest results (compared as bit patterns); division by zero gives
 * +Inf and sets FPSCR.DZC; sqrt(-1) gives the default NaN and sets FPSCR.IOC.
 *
 * Exit codes: 0 pass; 1 vadd, 2 vsub, 3 vmul, 4 vdiv 1.5/2.25, 5 vdiv 1/3, 6 vsqrt 2,
 * 7 vcvt.s32 (3.75 -> 3), 8 1/0 != +Inf, 9 FPSCR.DZC not set, 10 sqrt(-1) != default
 * NaN, 11 FPSCR.IOC not set, 12 vmov round trip.
 */
#include "common.h"

    /* LOADF sreg, bits: load a float constant given by its bit pattern */
    .macro LOADF sreg, bits
    ldr r0, =\bits
    vmov \sreg, r0
    .endm

    /* EXPECT sreg, bits, code: exit with code unless sreg holds exactly bits */
    .macro EXPECT sreg, bits, code
    vmov r0, \sreg
    CHECK_EQ r0, \bits, \code
    .endm

FUNC main
    /* CPACR: CP10 and CP11 full access (bits 20-23) */
    ldr r0, =SCB_CPACR
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb

    LOADF s0, 0x3FC00000        /* 1.5 */
    LOADF s1, 0x40100000        /* 2.25 */

    vadd.f32 s2, s0, s1
    EXPECT s2, 0x40700000, 1    /* 3.75 */
    vsub.f32 s3, s0, s1
    EXPECT s3, 0xBF400000, 2    /* -0.75 */
    vmul.f32 s4, s0, s1
    EXPECT s4, 0x40580000, 3    /* 3.375 */
    vdiv.f32 s5, s0, s1
    EXPECT s5, 0x3F2AAAAB, 4    /* 0.6666667 (rounded up) */
    LOADF s6, 0x3F800000        /* 1.0 */
    LOADF s7, 0x40400000        /* 3.0 */
    vdiv.f32 s8, s6, s7
    EXPECT s8, 0x3EAAAAAB, 5    /* 0.33333334 */
    LOADF s9, 0x40000000        /* 2.0 */
    vsqrt.f32 s10, s9
    EXPECT s10, 0x3FB504F3, 6   /* 1.4142135 */
    vcvt.s32.f32 s11, s2        /* 3.75 -> 3, round towards zero */
    EXPECT s11, 3, 7

    /* clear the cumulative exception flags, then 1/0 */
    vmrs r0, fpscr
    bic r0, r0, #0x9F
    vmsr fpscr, r0
    LOADF s12, 0x00000000       /* +0.0 */
    vdiv.f32 s13, s6, s12
    EXPECT s13, 0x7F800000, 8   /* +Inf */
    vmrs r0, fpscr
    tst r0, #(1 << 1)           /* DZC */
    bne 1f
    EXIT 9
1:
    LOADF s14, 0xBF800000       /* -1.0 */
    vsqrt.f32 s15, s14
    EXPECT s15, 0x7FC00000, 10  /* default NaN */
    vmrs r0, fpscr
    tst r0, #(1 << 0)           /* IOC */
    bne 2f
    EXIT 11
2:
    /* d-register moves keep both halves */
    ldr r0, =0x12345678
    ldr r1, =0x9ABCDEF0
    vmov d8, r0, r1
    vmov r2, r3, d8
    cmp r2, r0
    bne 3f
    cmp r3, r1
    bne 3f
    PRINT "fpu: ok\n"
    movs r0, #0
    bx lr
3:  EXIT 12
ENDFUNC main
