// pybsim runtime: the real-time clock (RM0090 section 26): pyb.RTC with
// datetime(), wakeup(), info(), and the calendar behind time.time()/localtime().
//
// The LSE crystal is started at boot (rtc_init_start) and the RTC is set up on
// first use (rtc_init_finalise), once the crystal runs: like on a Pyboard, the
// first use within the crystal's start-up time waits for it. A calendar found
// running (after a soft or watchdog reset: the RTC is in the backup domain) is
// kept as it is.

#include "py/runtime.h"
#include "py/mphal.h"
#include "shared/timeutils/timeutils.h"
#include "stm32f405.h"
#include "rtc.h"

#define RTC_TR      REG32(RTC_BASE + 0x00)
#define RTC_DR      REG32(RTC_BASE + 0x04)
#define RTC_CR      REG32(RTC_BASE + 0x08)
#define RTC_ISR     REG32(RTC_BASE + 0x0c)
#define RTC_PRER    REG32(RTC_BASE + 0x10)
#define RTC_WUTR    REG32(RTC_BASE + 0x14)
#define RTC_WPR     REG32(RTC_BASE + 0x24)
#define RTC_SSR     REG32(RTC_BASE + 0x28)

#define RTC_CR_WUCKSEL_Msk  (7u << 0)
#define RTC_CR_WUTE         (1u << 10)
#define RTC_CR_WUTIE        (1u << 14)
#define RTC_ISR_WUTWF       (1u << 2)
#define RTC_ISR_INITS       (1u << 4)
#define RTC_ISR_RSF         (1u << 5)
#define RTC_ISR_INITF       (1u << 6)
#define RTC_ISR_INIT        (1u << 7)
#define RTC_ISR_WUTF        (1u << 10)

#define RCC_BDCR_LSEON      (1u << 0)
#define RCC_BDCR_LSERDY     (1u << 1)
#define RCC_BDCR_RTCSEL_Msk (3u << 8)
#define RCC_BDCR_RTCSEL_LSE (1u << 8)
#define RCC_BDCR_RTCEN      (1u << 15)
#define PWR_CR_DBP          (1u << 8)

#define EXTI_RTC_WAKEUP     (22)

// 32768 Hz / 128 / 256 = 1 Hz.
#define RTC_ASYNCH_PREDIV   (127)
#define RTC_SYNCH_PREDIV    (255)
#define LSE_HZ              (32768)
// How long the first use waits for the crystal (MICROPY_HW_RTC_LSE_TIMEOUT_MS
// on the Pyboard).
#define LSE_TIMEOUT_MS      (1000)

MP_REGISTER_ROOT_POINTER(mp_obj_t pyb_rtc_wakeup_callback);

static bool rtc_ready;
// Milliseconds the RTC took to start (pyb.RTC().info()).
static uint32_t rtc_startup_ms;
static uint32_t rtc_start_tick;

static void rtc_unlock(void) {
    RTC_WPR = 0xca;
    RTC_WPR = 0x53;
}

static void rtc_lock(void) {
    RTC_WPR = 0xff;
}

static uint32_t bcd(uint32_t v) {
    return ((v / 10) << 4) | (v % 10);
}

static uint32_t unbcd(uint32_t v) {
    return (v >> 4) * 10 + (v & 0xf);
}

// Enters init mode; returns false if INITF never rises.
static bool rtc_enter_init(void) {
    RTC_ISR |= RTC_ISR_INIT;
    uint32_t t0 = mp_hal_ticks_ms();
    while (!(RTC_ISR & RTC_ISR_INITF)) {
        if (mp_hal_ticks_ms() - t0 > 10) {
            return false;
        }
    }
    return true;
}

static void rtc_leave_init(void) {
    RTC_ISR &= ~RTC_ISR_INIT;
    // Wait for the shadow registers to be resynchronised.
    RTC_ISR &= ~(RTC_ISR_RSF | RTC_ISR_INIT);
    uint32_t t0 = mp_hal_ticks_ms();
    while (!(RTC_ISR & RTC_ISR_RSF) && mp_hal_ticks_ms() - t0 < 10) {
    }
}

void rtc_init_start(void) {
    rtc_ready = false;
    PWR->CR |= PWR_CR_DBP;
    rtc_start_tick = mp_hal_ticks_ms();
    if ((RCC->BDCR & RCC_BDCR_RTCEN) && (RTC_ISR & RTC_ISR_INITS)) {
        // The calendar survived the reset.
        rtc_ready = true;
        rtc_startup_ms = 0;
        return;
    }
    RCC->BDCR |= RCC_BDCR_LSEON;
}

enum {
    RTC_OK,
    RTC_ERR_LSE,
    RTC_ERR_INIT,
};

// Sets the RTC up once the LSE runs; returns RTC_OK or what went wrong. Does not
// raise, so that FatFs can take file times from it (get_fattime).
static int rtc_try_finalise(void) {
    if (rtc_ready) {
        return RTC_OK;
    }
    while (!(RCC->BDCR & RCC_BDCR_LSERDY)) {
        if (mp_hal_ticks_ms() - rtc_start_tick > LSE_TIMEOUT_MS) {
            return RTC_ERR_LSE;
        }
    }
    PWR->CR |= PWR_CR_DBP;
    RCC->BDCR = (RCC->BDCR & ~RCC_BDCR_RTCSEL_Msk) | RCC_BDCR_RTCSEL_LSE;
    RCC->BDCR |= RCC_BDCR_RTCEN;
    rtc_unlock();
    if (!rtc_enter_init()) {
        rtc_lock();
        return RTC_ERR_INIT;
    }
    RTC_PRER = RTC_SYNCH_PREDIV;
    RTC_PRER = (RTC_ASYNCH_PREDIV << 16) | RTC_SYNCH_PREDIV;
    // 2015-01-01 (a Thursday) 00:00:00, as the Pyboard starts.
    RTC_DR = (bcd(15) << 16) | (4 << 13) | (bcd(1) << 8) | bcd(1);
    RTC_TR = 0;
    rtc_leave_init();
    rtc_lock();
    rtc_startup_ms = mp_hal_ticks_ms() - rtc_start_tick;
    rtc_ready = true;
    return RTC_OK;
}

void rtc_init_finalise(void) {
    switch (rtc_try_finalise()) {
        case RTC_ERR_LSE:
            mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("RTC: the LSE crystal did not start"));
        case RTC_ERR_INIT:
            mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("RTC: init mode not entered"));
        default:
            break;
    }
}

// Reads the calendar consistently. Reading SSR freezes TR and DR until DR is read
// (RM0090 section 26.3.6), so SSR, TR, DR is one snapshot; the read is repeated if
// SSR moved meanwhile (a model or part that does not freeze the shadow registers),
// with DR read last each time so that nothing stays frozen.
static void rtc_read(uint32_t *tr, uint32_t *dr, uint32_t *ssr) {
    uint32_t s;
    do {
        s = RTC_SSR;
        *tr = RTC_TR;
        *dr = RTC_DR;
        *ssr = RTC_SSR;
        (void)RTC_DR;
    } while (s != *ssr);
}

static uint32_t rtc_calendar_seconds(uint32_t tr, uint32_t dr) {
    return timeutils_seconds_since_2000(
        2000 + unbcd((dr >> 16) & 0xff), unbcd((dr >> 8) & 0x1f), unbcd(dr & 0x3f),
        unbcd((tr >> 16) & 0x3f), unbcd((tr >> 8) & 0x7f), unbcd(tr & 0x7f));
}

uint32_t rtc_seconds_since_2000(void) {
    rtc_init_finalise();
    uint32_t tr, dr, ssr;
    rtc_read(&tr, &dr, &ssr);
    return rtc_calendar_seconds(tr, dr);
}

// Nanoseconds since 2000-01-01 (the port's epoch, as time.time()), to the RTC's
// sub-second resolution: SSR counts down from RTC_SYNCH_PREDIV within each second.
uint64_t mp_hal_time_ns(void) {
    rtc_init_finalise();
    uint32_t tr, dr, ssr;
    rtc_read(&tr, &dr, &ssr);
    uint32_t sub = RTC_SYNCH_PREDIV - MIN(ssr & 0xffff, RTC_SYNCH_PREDIV);
    return (uint64_t)rtc_calendar_seconds(tr, dr) * 1000000000ull
           + (uint64_t)sub * 1000000000ull / (RTC_SYNCH_PREDIV + 1);
}

// FAT timestamp of the current calendar time (FatFs's get_fattime). Before the
// RTC runs it waits for the LSE like every other user of the calendar; if the
// crystal never starts, files get the RTC's start date, 2015-01-01 00:00:00.
uint32_t rtc_fattime(void) {
    uint32_t year = 15, month = 1, day = 1, hour = 0, min = 0, sec = 0;
    if (rtc_try_finalise() == RTC_OK) {
        uint32_t tr, dr, ssr;
        rtc_read(&tr, &dr, &ssr);
        year = unbcd((dr >> 16) & 0xff);
        month = unbcd((dr >> 8) & 0x1f);
        day = unbcd(dr & 0x3f);
        hour = unbcd((tr >> 16) & 0x3f);
        min = unbcd((tr >> 8) & 0x7f);
        sec = unbcd(tr & 0x7f);
    }
    return ((2000 + year - 1980) << 25) | (month << 21) | (day << 16)
           | (hour << 11) | (min << 5) | (sec / 2);
}

typedef struct _pyb_rtc_obj_t {
    mp_obj_base_t base;
} pyb_rtc_obj_t;

static const pyb_rtc_obj_t pyb_rtc_obj = {{&pyb_rtc_type}};

static mp_obj_t pyb_rtc_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    return MP_OBJ_FROM_PTR(&pyb_rtc_obj);
}

// RTC.init(): re-initialise the calendar at 2015-01-01 00:00:00.
static mp_obj_t pyb_rtc_init(mp_obj_t self_in) {
    rtc_ready = false;
    RCC->BDCR &= ~RCC_BDCR_RTCEN;
    rtc_init_finalise();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_rtc_init_obj, pyb_rtc_init);

// RTC.info(): start-up time in ms in the low 16 bits; bit 28: running on the LSE.
static mp_obj_t pyb_rtc_info(mp_obj_t self_in) {
    rtc_init_finalise();
    return mp_obj_new_int(0x20000000 | (1 << 28) | (rtc_startup_ms & 0xffff));
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_rtc_info_obj, pyb_rtc_info);

// RTC.datetime([(year, month, day, weekday, hours, minutes, seconds, subseconds)])
// weekday is 1-7 for Monday-Sunday; subseconds count down from 255 to 0. The
// weekday is stored as given in the 3-bit WDU field: RM0090 calls 0 forbidden, but
// the Pyboard's firmware writes it unchecked and MicroPython's tests set it to 0.
static mp_obj_t pyb_rtc_datetime(size_t n_args, const mp_obj_t *args) {
    rtc_init_finalise();
    if (n_args == 1) {
        uint32_t tr, dr, ssr;
        rtc_read(&tr, &dr, &ssr);
        mp_obj_t tuple[8] = {
            mp_obj_new_int(2000 + unbcd((dr >> 16) & 0xff)),
            mp_obj_new_int(unbcd((dr >> 8) & 0x1f)),
            mp_obj_new_int(unbcd(dr & 0x3f)),
            mp_obj_new_int((dr >> 13) & 7),
            mp_obj_new_int(unbcd((tr >> 16) & 0x3f)),
            mp_obj_new_int(unbcd((tr >> 8) & 0x7f)),
            mp_obj_new_int(unbcd(tr & 0x7f)),
            mp_obj_new_int(ssr & 0xffff),
        };
        return mp_obj_new_tuple(8, tuple);
    }
    mp_obj_t *items;
    mp_obj_get_array_fixed_n(args[1], 8, &items);
    mp_int_t year = mp_obj_get_int(items[0]);
    mp_int_t month = mp_obj_get_int(items[1]);
    mp_int_t day = mp_obj_get_int(items[2]);
    mp_int_t weekday = mp_obj_get_int(items[3]);
    mp_int_t hours = mp_obj_get_int(items[4]);
    mp_int_t minutes = mp_obj_get_int(items[5]);
    mp_int_t seconds = mp_obj_get_int(items[6]);
    if (year < 2000 || year > 2099 || month < 1 || month > 12 || day < 1 || day > 31
        || weekday < 0 || weekday > 7 || hours < 0 || hours > 23 || minutes < 0 || minutes > 59
        || seconds < 0 || seconds > 59) {
        mp_raise_ValueError(MP_ERROR_TEXT("datetime out of range"));
    }
    rtc_unlock();
    if (!rtc_enter_init()) {
        rtc_lock();
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("RTC: init mode not entered"));
    }
    RTC_DR = (bcd(year - 2000) << 16) | (weekday << 13) | (bcd(month) << 8) | bcd(day);
    RTC_TR = (bcd(hours) << 16) | (bcd(minutes) << 8) | bcd(seconds);
    rtc_leave_init();
    rtc_lock();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_rtc_datetime_obj, 1, 2, pyb_rtc_datetime);

// RTC.wakeup(None) | wakeup(ms, callback=None) | wakeup(wucksel, wut, callback)
static mp_obj_t pyb_rtc_wakeup(size_t n_args, const mp_obj_t *args) {
    rtc_init_finalise();
    bool enable = false;
    uint32_t wucksel = 0;
    uint32_t wut = 0;
    mp_obj_t callback = mp_const_none;
    if (n_args <= 3 && args[1] != mp_const_none) {
        // wakeup(ms[, callback]): the finest RTCCLK divider (2, 4, 8, 16) that
        // fits the 16-bit counter, else the 1 Hz clock.
        mp_int_t ms = mp_obj_get_int(args[1]);
        if (ms <= 0) {
            mp_raise_ValueError(MP_ERROR_TEXT("wakeup period must be positive"));
        }
        uint32_t div = 2;
        wucksel = 3;
        while (div <= 16 && (uint64_t)ms * (LSE_HZ / div) / 1000 > 0x10000) {
            div *= 2;
            wucksel -= 1;
        }
        if (div <= 16) {
            wut = (uint64_t)ms * (LSE_HZ / div) / 1000;
            wut = wut > 0 ? wut - 1 : 0;
        } else {
            wucksel = 4;
            wut = ms / 1000;
            if (wut > 0x10000) {
                wucksel = 6;
                wut -= 0x10000;
                if (wut > 0x10000) {
                    mp_raise_ValueError(MP_ERROR_TEXT("wakeup period too long"));
                }
            }
            wut = wut > 0 ? wut - 1 : 0;
        }
        if (n_args == 3) {
            callback = args[2];
        }
        enable = true;
    } else if (n_args == 4) {
        wucksel = mp_obj_get_int(args[1]) & 7;
        wut = mp_obj_get_int(args[2]) & 0xffff;
        callback = args[3];
        enable = true;
    }
    MP_STATE_PORT(pyb_rtc_wakeup_callback) = callback;

    rtc_unlock();
    RTC_CR &= ~RTC_CR_WUTE;
    uint32_t t0 = mp_hal_ticks_ms();
    while (!(RTC_ISR & RTC_ISR_WUTWF) && mp_hal_ticks_ms() - t0 < 10) {
    }
    if (enable) {
        RTC_WUTR = wut;
        RTC_CR = (RTC_CR & ~RTC_CR_WUCKSEL_Msk) | RTC_CR_WUTIE | RTC_CR_WUTE | wucksel;
        rtc_lock();
        EXTI->IMR |= 1u << EXTI_RTC_WAKEUP;
        EXTI->RTSR |= 1u << EXTI_RTC_WAKEUP;
        RTC_ISR &= ~(RTC_ISR_WUTF | RTC_ISR_INIT);
        EXTI->PR = 1u << EXTI_RTC_WAKEUP;
        nvic_set_priority(RTC_WKUP_IRQn, 2);
        nvic_enable_irq(RTC_WKUP_IRQn);
    } else {
        RTC_CR &= ~(RTC_CR_WUTE | RTC_CR_WUTIE);
        rtc_lock();
        EXTI->IMR &= ~(1u << EXTI_RTC_WAKEUP);
        nvic_disable_irq(RTC_WKUP_IRQn);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_rtc_wakeup_obj, 2, 4, pyb_rtc_wakeup);

void RTC_WKUP_IRQHandler(void) {
    RTC_ISR &= ~(RTC_ISR_WUTF | RTC_ISR_INIT);
    EXTI->PR = 1u << EXTI_RTC_WAKEUP;
    // A soft callback, scheduled like on the Pyboard, with the EXTI line number
    // as its argument.
    mp_obj_t cb = MP_STATE_PORT(pyb_rtc_wakeup_callback);
    if (cb != mp_const_none) {
        mp_sched_schedule(cb, MP_OBJ_NEW_SMALL_INT(EXTI_RTC_WAKEUP));
    }
}

void rtc_deinit(void) {
    // Soft reset: the wakeup timer stops calling into a heap that is gone.
    MP_STATE_PORT(pyb_rtc_wakeup_callback) = mp_const_none;
    if (rtc_ready) {
        rtc_unlock();
        RTC_CR &= ~(RTC_CR_WUTE | RTC_CR_WUTIE);
        rtc_lock();
    }
    EXTI->IMR &= ~(1u << EXTI_RTC_WAKEUP);
    nvic_disable_irq(RTC_WKUP_IRQn);
}

static const mp_rom_map_elem_t pyb_rtc_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&pyb_rtc_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_info), MP_ROM_PTR(&pyb_rtc_info_obj) },
    { MP_ROM_QSTR(MP_QSTR_datetime), MP_ROM_PTR(&pyb_rtc_datetime_obj) },
    { MP_ROM_QSTR(MP_QSTR_wakeup), MP_ROM_PTR(&pyb_rtc_wakeup_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_rtc_locals_dict, pyb_rtc_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_rtc_type,
    MP_QSTR_RTC,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_rtc_make_new,
    locals_dict, &pyb_rtc_locals_dict
    );
