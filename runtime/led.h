// pybsim runtime: the four Pyboard LEDs (pyb.LED).

#ifndef PYBSIM_LED_H
#define PYBSIM_LED_H

#include "py/obj.h"

extern const mp_obj_type_t pyb_led_type;

void led_init(void);
void led_state(int led, bool on);

#endif // PYBSIM_LED_H
