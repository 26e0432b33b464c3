// pybsim runtime: machine.WDT on the independent watchdog (RM0090 section 19).
// This file is included into extmod/machine_wdt.c.
//
// The IWDG counts LSI periods (32 kHz) through a prescaler of 4..256 down from
// the reload value; at 0 it resets the chip. Once started it cannot be stopped.

#include "py/mphal.h"
#include "stm32f405.h"

#define WDT_LSI_HZ (32000)

typedef struct _machine_wdt_obj_t {
    mp_obj_base_t base;
} machine_wdt_obj_t;

static const machine_wdt_obj_t machine_wdt = {{&machine_wdt_type}};

static void wdt_wait_sr(uint32_t flag) {
    // PVU/RVU fall after 5 LSI periods (about 160 us).
    while (IWDG->SR & flag) {
    }
}

static machine_wdt_obj_t *mp_machine_wdt_make_new_instance(mp_int_t id, mp_int_t timeout_ms) {
    if (id != 0) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("WDT(%d) doesn't exist"), id);
    }
    if (timeout_ms <= 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("WDT timeout too short"));
    }
    // The smallest prescaler (PR = 0: /4 .. PR = 6: /256) whose 12-bit reload
    // reaches the timeout: reload = timeout * LSI / (1000 * divider).
    uint32_t pr = 0;
    uint64_t reload;
    for (;;) {
        uint32_t divider = 4u << pr;
        reload = ((uint64_t)timeout_ms * WDT_LSI_HZ + 1000 * divider / 2) / (1000 * divider);
        if (reload <= 0xfff || pr == 6) {
            break;
        }
        ++pr;
    }
    if (reload > 0xfff) {
        mp_raise_ValueError(MP_ERROR_TEXT("WDT timeout too long"));
    }
    if (reload == 0) {
        reload = 1;
    }
    // Start first (the counter then runs from 0xfff), set the prescaler and the
    // reload value, wait until both reached the watchdog's clock domain, and
    // reload so the timeout counts from now.
    IWDG->KR = IWDG_KR_START;
    wdt_wait_sr(IWDG_SR_PVU | IWDG_SR_RVU);
    IWDG->KR = IWDG_KR_ACCESS;
    IWDG->PR = pr;
    IWDG->KR = IWDG_KR_ACCESS;
    IWDG->RLR = (uint32_t)reload;
    wdt_wait_sr(IWDG_SR_PVU | IWDG_SR_RVU);
    IWDG->KR = IWDG_KR_RELOAD;
    return (machine_wdt_obj_t *)&machine_wdt;
}

static void mp_machine_wdt_feed(machine_wdt_obj_t *self) {
    (void)self;
    IWDG->KR = IWDG_KR_RELOAD;
}
