// pybsim runtime: port part of the machine module.
// This file is included into extmod/modmachine.c.

#include "py/mphal.h"
#include "stm32f405.h"
#include "pin.h"
#include "uart.h"
#include "timer.h"
#include "rtc.h"

#define PYB_RESET_PWRON     (1)
#define PYB_RESET_HARD      (2)
#define PYB_RESET_WDT       (3)
#define PYB_RESET_DEEPSLEEP (4)
#define PYB_RESET_SOFT      (5)

#define MICROPY_PY_MACHINE_EXTRA_GLOBALS \
    { MP_ROM_QSTR(MP_QSTR_Pin), MP_ROM_PTR(&pin_type) }, \
    { MP_ROM_QSTR(MP_QSTR_UART), MP_ROM_PTR(&pyb_uart_type) }, \
    { MP_ROM_QSTR(MP_QSTR_RTC), MP_ROM_PTR(&pyb_rtc_type) }, \
    { MP_ROM_QSTR(MP_QSTR_Timer), MP_ROM_PTR(&machine_timer_type) }, \
    { MP_ROM_QSTR(MP_QSTR_PWRON_RESET), MP_ROM_INT(PYB_RESET_PWRON) }, \
    { MP_ROM_QSTR(MP_QSTR_HARD_RESET), MP_ROM_INT(PYB_RESET_HARD) }, \
    { MP_ROM_QSTR(MP_QSTR_WDT_RESET), MP_ROM_INT(PYB_RESET_WDT) }, \
    { MP_ROM_QSTR(MP_QSTR_DEEPSLEEP_RESET), MP_ROM_INT(PYB_RESET_DEEPSLEEP) }, \
    { MP_ROM_QSTR(MP_QSTR_SOFT_RESET), MP_ROM_INT(PYB_RESET_SOFT) }, \

NORETURN void pyb_hard_reset(void);
uint32_t pyb_reset_cause(void);
mp_obj_t pyb_freq_tuple(void);
uint32_t pyb_sysclk_hz(void);

static void mp_machine_idle(void) {
    __asm volatile ("wfi");
}

NORETURN static void mp_machine_reset(void) {
    pyb_hard_reset();
}

static mp_int_t mp_machine_reset_cause(void) {
    return pyb_reset_cause();
}

static mp_obj_t mp_machine_unique_id(void) {
    return mp_obj_new_bytes((const byte *)UID_BASE, 12);
}

static mp_obj_t mp_machine_get_freq(void) {
    return mp_obj_new_int_from_uint(pyb_sysclk_hz());
}

static void mp_machine_set_freq(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    (void)args;
    mp_raise_NotImplementedError(MP_ERROR_TEXT("changing the clock is not supported"));
}

static void mp_machine_lightsleep(size_t n_args, const mp_obj_t *args) {
    if (n_args == 0) {
        __asm volatile ("wfi");
    } else {
        mp_hal_delay_ms(mp_obj_get_int(args[0]));
    }
}

NORETURN static void mp_machine_deepsleep(size_t n_args, const mp_obj_t *args) {
    mp_machine_lightsleep(n_args, args);
    pyb_hard_reset();
}
