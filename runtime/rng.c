// pybsim runtime: the hardware random number generator (RM0090 section 24):
// pyb.rng(), os.urandom() and the seed of the random module.

#include "py/runtime.h"
#include "py/mphal.h"
#include "stm32f405.h"
#include "rng.h"

#define RNG_CR      REG32(RNG_BASE + 0x00)
#define RNG_SR      REG32(RNG_BASE + 0x04)
#define RNG_DR      REG32(RNG_BASE + 0x08)

#define RNG_CR_RNGEN        (1u << 2)
#define RNG_SR_DRDY         (1u << 0)
#define RNG_SR_CECS         (1u << 1)
#define RNG_SR_SECS         (1u << 2)
#define RCC_AHB2ENR_RNGEN   (1u << 6)

// Polls this many times for DRDY (a value takes 40 PLL48CK periods) before giving up.
#define RNG_MAX_POLLS (10000)

// The next 32-bit random value, 0 if the generator fails
// (its clock stopped or a seed error).
uint32_t rng_get(void) {
    if (!(RCC->AHB2ENR & RCC_AHB2ENR_RNGEN)) {
        RCC->AHB2ENR |= RCC_AHB2ENR_RNGEN;
        (void)RCC->AHB2ENR;
    }
    if (!(RNG_CR & RNG_CR_RNGEN)) {
        RNG_CR |= RNG_CR_RNGEN;
    }
    for (int i = 0; i < RNG_MAX_POLLS; ++i) {
        uint32_t sr = RNG_SR;
        if (sr & (RNG_SR_CECS | RNG_SR_SECS)) {
            break;
        }
        if (sr & RNG_SR_DRDY) {
            return RNG_DR;
        }
    }
    return 0;
}

// pyb.rng(): a 30-bit random number, as on the Pyboard.
static mp_obj_t pyb_rng(void) {
    return mp_obj_new_int(rng_get() >> 2);
}
MP_DEFINE_CONST_FUN_OBJ_0(pyb_rng_obj, pyb_rng);

// os.urandom(n): n random bytes.
static mp_obj_t mp_os_urandom(mp_obj_t num) {
    mp_int_t n = mp_obj_get_int(num);
    if (n < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("negative length"));
    }
    vstr_t vstr;
    vstr_init_len(&vstr, n);
    uint32_t r = 0;
    for (mp_int_t i = 0; i < n; ++i) {
        if ((i & 3) == 0) {
            r = rng_get();
        }
        vstr.buf[i] = r;
        r >>= 8;
    }
    return mp_obj_new_bytes_from_vstr(&vstr);
}
MP_DEFINE_CONST_FUN_OBJ_1(mp_os_urandom_obj, mp_os_urandom);
