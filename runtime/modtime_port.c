// pybsim runtime: port part of the time module (included into extmod/modtime.c).
//
// Wall-clock time is the RTC calendar (pyb.RTC), which starts at 2015-01-01
// 00:00:00 at power-on as on a Pyboard whose RTC has no battery backup.

#include "py/mphal.h"
#include "shared/timeutils/timeutils.h"
#include "rtc.h"

static mp_obj_t mp_time_localtime_get(void) {
    timeutils_struct_time_t tm;
    timeutils_seconds_since_2000_to_struct_time(rtc_seconds_since_2000(), &tm);
    mp_obj_t tuple[8] = {
        mp_obj_new_int(tm.tm_year),
        mp_obj_new_int(tm.tm_mon),
        mp_obj_new_int(tm.tm_mday),
        mp_obj_new_int(tm.tm_hour),
        mp_obj_new_int(tm.tm_min),
        mp_obj_new_int(tm.tm_sec),
        mp_obj_new_int(tm.tm_wday),
        mp_obj_new_int(tm.tm_yday),
    };
    return mp_obj_new_tuple(8, tuple);
}

static mp_obj_t mp_time_time_get(void) {
    return mp_obj_new_int(rtc_seconds_since_2000());
}
