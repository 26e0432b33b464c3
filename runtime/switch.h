// pybsim runtime: the USR switch (pyb.Switch).

#ifndef PYBSIM_SWITCH_H
#define PYBSIM_SWITCH_H

#include "py/obj.h"

extern const mp_obj_type_t pyb_switch_type;

void switch_init0(void);
bool switch_get(void);

#endif // PYBSIM_SWITCH_H
