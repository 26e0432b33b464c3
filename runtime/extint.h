// pybsim runtime: external interrupts (pyb.ExtInt, Pin.irq, Switch callback).

#ifndef PYBSIM_EXTINT_H
#define PYBSIM_EXTINT_H

#include "py/obj.h"
#include "pin.h"

#define EXTINT_NUM_LINES (16)

extern const mp_obj_type_t extint_type;

void extint_init0(void);
void extint_deinit_all(void);
// Route the pin to its EXTI line, with the given trigger mode; the callback is
// called with `arg` as its argument. hard: run in the IRQ, else scheduled.
void extint_register(const pin_obj_t *pin, uint32_t mode, uint32_t pull,
    mp_obj_t callback, mp_obj_t arg, bool hard, bool configure_pin);
void extint_enable(unsigned int line);
void extint_disable(unsigned int line);

#endif // PYBSIM_EXTINT_H
