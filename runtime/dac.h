// pybsim runtime: the DAC (pyb.DAC).

#ifndef PYBSIM_DAC_H
#define PYBSIM_DAC_H

#include "py/obj.h"

extern const mp_obj_type_t pyb_dac_type;

// Stops both channels and their DMA streams (soft reset).
void dac_deinit_all(void);

#endif // PYBSIM_DAC_H
