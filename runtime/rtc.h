// pybsim runtime: the real-time clock (pyb.RTC).

#ifndef PYBSIM_RTC_H
#define PYBSIM_RTC_H

#include "py/obj.h"

extern const mp_obj_type_t pyb_rtc_type;

void rtc_init_start(void);
void rtc_init_finalise(void);
void rtc_deinit(void);
uint32_t rtc_seconds_since_2000(void);
uint32_t rtc_fattime(void);

#endif // PYBSIM_RTC_H
