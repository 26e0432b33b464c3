// pybsim runtime: the hardware random number generator.

#ifndef PYBSIM_RNG_H
#define PYBSIM_RNG_H

#include "py/obj.h"

uint32_t rng_get(void);

MP_DECLARE_CONST_FUN_OBJ_0(pyb_rng_obj);
MP_DECLARE_CONST_FUN_OBJ_1(mp_os_urandom_obj);

#endif // PYBSIM_RNG_H
