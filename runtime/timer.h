// pybsim runtime: hardware timers TIM1..TIM14 (pyb.Timer).

#ifndef PYBSIM_TIMER_H
#define PYBSIM_TIMER_H

#include "py/obj.h"
#include "stm32f405.h"

extern const mp_obj_type_t pyb_timer_type;

void timer_init0(void);
void timer_deinit_all(void);
// Prepare TIM3 channel 1 for LED4 intensity (PWM on B4).
void timer_tim3_led_pwm(uint32_t pulse_permille);

// The registers of a pyb.Timer object (raises TypeError for anything else).
tim_regs_t *pyb_timer_regs(mp_obj_t timer);

#endif // PYBSIM_TIMER_H
