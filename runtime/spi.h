// pybsim runtime: SPI1 and SPI2 (pyb.SPI, machine.SPI).

#ifndef PYBSIM_SPI_H
#define PYBSIM_SPI_H

#include "py/obj.h"

extern const mp_obj_type_t pyb_spi_type;

void spi_deinit_all(void);

#endif // PYBSIM_SPI_H
