// pybsim runtime: pyb.Timer on TIM1..TIM14.
//
// Timer kernel clocks: APB1 timers run at 2 x PCLK1 = 84 MHz and APB2 timers
// (TIM1, TIM8, TIM9, TIM10, TIM11) at 2 x PCLK2 = 168 MHz, since both APB
// prescalers are above 1 (RM0090 section 6.2).

#include <string.h>

#include "py/runtime.h"
#include "py/gc.h"
#include "py/mphal.h"
#include "pin.h"
#include "timer.h"

#define TIMER_IRQ_PRIORITY  (6)
#define TIMER_MAX_ID        (14)

enum {
    CHANNEL_MODE_PWM_NORMAL,
    CHANNEL_MODE_PWM_INVERTED,
    CHANNEL_MODE_OC_TIMING,
    CHANNEL_MODE_OC_ACTIVE,
    CHANNEL_MODE_OC_INACTIVE,
    CHANNEL_MODE_OC_TOGGLE,
    CHANNEL_MODE_OC_FORCED_ACTIVE,
    CHANNEL_MODE_OC_FORCED_INACTIVE,
    CHANNEL_MODE_IC,
    CHANNEL_MODE_ENC_A,
    CHANNEL_MODE_ENC_B,
    CHANNEL_MODE_ENC_AB,
};

#define TIMER_COUNTER_UP        (0x00)
#define TIMER_COUNTER_DOWN      (0x10)
#define TIMER_COUNTER_CENTER    (0x20)

#define TIMER_POLARITY_HIGH     (0)
#define TIMER_POLARITY_LOW      (2)
#define TIMER_POLARITY_RISING   (0)
#define TIMER_POLARITY_FALLING  (2)
#define TIMER_POLARITY_BOTH     (10)

typedef struct _timer_info_t {
    uint32_t base;
    uint8_t apb;        // 1 or 2
    uint8_t en_bit;     // bit in RCC_APBxENR
    uint8_t irq_up;
    uint8_t irq_cc;
    uint8_t channels;   // number of capture/compare channels
    uint8_t is_32bit;
} timer_info_t;

static const timer_info_t timer_info[TIMER_MAX_ID + 1] = {
    [1] = { TIM1_BASE, 2, 0, TIM1_UP_TIM10_IRQn, TIM1_CC_IRQn, 4, 0 },
    [2] = { TIM2_BASE, 1, 0, TIM2_IRQn, TIM2_IRQn, 4, 1 },
    [3] = { TIM3_BASE, 1, 1, TIM3_IRQn, TIM3_IRQn, 4, 0 },
    [4] = { TIM4_BASE, 1, 2, TIM4_IRQn, TIM4_IRQn, 4, 0 },
    [5] = { TIM5_BASE, 1, 3, TIM5_IRQn, TIM5_IRQn, 4, 1 },
    [6] = { TIM6_BASE, 1, 4, TIM6_DAC_IRQn, TIM6_DAC_IRQn, 0, 0 },
    [7] = { TIM7_BASE, 1, 5, TIM7_IRQn, TIM7_IRQn, 0, 0 },
    [8] = { TIM8_BASE, 2, 1, TIM8_UP_TIM13_IRQn, TIM8_CC_IRQn, 4, 0 },
    [9] = { TIM9_BASE, 2, 16, TIM1_BRK_TIM9_IRQn, TIM1_BRK_TIM9_IRQn, 2, 0 },
    [10] = { TIM10_BASE, 2, 17, TIM1_UP_TIM10_IRQn, TIM1_UP_TIM10_IRQn, 1, 0 },
    [11] = { TIM11_BASE, 2, 18, TIM1_TRG_COM_TIM11_IRQn, TIM1_TRG_COM_TIM11_IRQn, 1, 0 },
    [12] = { TIM12_BASE, 1, 6, TIM8_BRK_TIM12_IRQn, TIM8_BRK_TIM12_IRQn, 2, 0 },
    [13] = { TIM13_BASE, 1, 7, TIM8_UP_TIM13_IRQn, TIM8_UP_TIM13_IRQn, 1, 0 },
    [14] = { TIM14_BASE, 1, 8, TIM8_TRG_COM_TIM14_IRQn, TIM8_TRG_COM_TIM14_IRQn, 1, 0 },
};

// Timer channel outputs on the pins of the LQFP64 part (datasheet AF map).
typedef struct _timer_pin_af_t {
    const pin_obj_t *pin;
    uint8_t tim;
    uint8_t channel;
    uint8_t af;
} timer_pin_af_t;

extern const pin_obj_t pin_A0, pin_A1, pin_A2, pin_A3, pin_A5, pin_A6, pin_A7, pin_A8, pin_A9,
    pin_A10, pin_A11, pin_B0, pin_B1, pin_B5, pin_B6, pin_B7, pin_B8, pin_B9, pin_B10,
    pin_B11, pin_B14, pin_B15, pin_C6, pin_C7, pin_C8, pin_C9;

static const timer_pin_af_t timer_pin_af[] = {
    { &pin_A0, 2, 1, 1 }, { &pin_A0, 5, 1, 2 },
    { &pin_A1, 2, 2, 1 }, { &pin_A1, 5, 2, 2 },
    { &pin_A2, 2, 3, 1 }, { &pin_A2, 5, 3, 2 }, { &pin_A2, 9, 1, 3 },
    { &pin_A3, 2, 4, 1 }, { &pin_A3, 5, 4, 2 }, { &pin_A3, 9, 2, 3 },
    { &pin_A5, 2, 1, 1 },
    { &pin_A6, 3, 1, 2 }, { &pin_A6, 13, 1, 9 },
    { &pin_A7, 3, 2, 2 }, { &pin_A7, 14, 1, 9 },
    { &pin_A8, 1, 1, 1 }, { &pin_A9, 1, 2, 1 }, { &pin_A10, 1, 3, 1 }, { &pin_A11, 1, 4, 1 },
    { &pin_A15, 2, 1, 1 },
    { &pin_B0, 3, 3, 2 }, { &pin_B1, 3, 4, 2 },
    { &pin_B3, 2, 2, 1 },
    { &pin_B4, 3, 1, 2 }, { &pin_B5, 3, 2, 2 },
    { &pin_B6, 4, 1, 2 }, { &pin_B7, 4, 2, 2 },
    { &pin_B8, 4, 3, 2 }, { &pin_B8, 10, 1, 3 },
    { &pin_B9, 4, 4, 2 }, { &pin_B9, 11, 1, 3 },
    { &pin_B10, 2, 3, 1 }, { &pin_B11, 2, 4, 1 },
    { &pin_B14, 12, 1, 9 }, { &pin_B15, 12, 2, 9 },
    { &pin_C6, 3, 1, 2 }, { &pin_C6, 8, 1, 3 },
    { &pin_C7, 3, 2, 2 }, { &pin_C7, 8, 2, 3 },
    { &pin_C8, 3, 3, 2 }, { &pin_C8, 8, 3, 3 },
    { &pin_C9, 3, 4, 2 }, { &pin_C9, 8, 4, 3 },
};

typedef struct _pyb_timer_obj_t pyb_timer_obj_t;

typedef struct _pyb_timer_channel_obj_t {
    mp_obj_base_t base;
    pyb_timer_obj_t *timer;
    uint8_t channel;
    uint8_t mode;
    mp_obj_t callback;
} pyb_timer_channel_obj_t;

struct _pyb_timer_obj_t {
    mp_obj_base_t base;
    uint8_t tim_id;
    mp_obj_t callback;
    pyb_timer_channel_obj_t *channel[4];
};

MP_REGISTER_ROOT_POINTER(struct _pyb_timer_obj_t *pyb_timer_obj_all[14]);

extern const mp_obj_type_t pyb_timer_channel_type;

static inline tim_regs_t *timer_regs(int id) {
    return (tim_regs_t *)timer_info[id].base;
}

static uint32_t timer_source_freq(int id) {
    return timer_info[id].apb == 2 ? 2 * PYB_PCLK2_HZ : 2 * PYB_PCLK1_HZ;
}

static void timer_clock_enable(int id) {
    const timer_info_t *ti = &timer_info[id];
    if (ti->apb == 2) {
        RCC->APB2ENR |= 1u << ti->en_bit;
        (void)RCC->APB2ENR;
    } else {
        RCC->APB1ENR |= 1u << ti->en_bit;
        (void)RCC->APB1ENR;
    }
}

static bool timer_is_advanced(int id) {
    return id == 1 || id == 8;
}

static void timer_irq_enable(int id, int irqn) {
    nvic_set_priority(irqn, TIMER_IRQ_PRIORITY);
    nvic_enable_irq(irqn);
    (void)id;
}

void timer_init0(void) {
    for (int i = 0; i < TIMER_MAX_ID; ++i) {
        MP_STATE_PORT(pyb_timer_obj_all)[i] = NULL;
    }
}

static void timer_stop(int id) {
    tim_regs_t *tim = timer_regs(id);
    tim->DIER = 0;
    tim->CR1 &= ~TIM_CR1_CEN;
    tim->CCER = 0;
    tim->SR = 0;
}

void timer_deinit_all(void) {
    for (int i = 0; i < TIMER_MAX_ID; ++i) {
        pyb_timer_obj_t *t = MP_STATE_PORT(pyb_timer_obj_all)[i];
        if (t != NULL) {
            timer_stop(t->tim_id);
            MP_STATE_PORT(pyb_timer_obj_all)[i] = NULL;
        }
    }
}

// LED(4).intensity(): PWM on TIM3 CH1 at 100 Hz with a 1 MHz counter.
void timer_tim3_led_pwm(uint32_t pulse_permille) {
    tim_regs_t *tim = timer_regs(3);
    bool user_timer = MP_STATE_PORT(pyb_timer_obj_all)[3 - 1] != NULL;
    timer_clock_enable(3);
    if (!user_timer || !(tim->CR1 & TIM_CR1_CEN)) {
        tim->CR1 = TIM_CR1_ARPE;
        tim->PSC = timer_source_freq(3) / 1000000 - 1;
        tim->ARR = 10000 - 1;
        tim->EGR = TIM_EGR_UG;
        tim->SR = 0;
    }
    uint32_t period = tim->ARR + 1;
    tim->CCR[0] = pulse_permille * period / 1000u;
    tim->CCMR1 = (tim->CCMR1 & ~0xffu) | (TIM_CCMR_OCM_PWM1 << 4) | TIM_CCMR_OCPE;
    tim->CCER = (tim->CCER & ~0xfu) | 1u;
    tim->CR1 |= TIM_CR1_CEN;
}

// ---------------------------------------------------------------------------
// Interrupts

static void timer_handle_irq(int id) {
    tim_regs_t *tim = timer_regs(id);
    uint32_t pending = tim->SR & tim->DIER & 0x1f;
    if (pending == 0) {
        return;
    }
    pyb_timer_obj_t *self = MP_STATE_PORT(pyb_timer_obj_all)[id - 1];
    if (pending & TIM_SR_UIF) {
        tim->SR = ~TIM_SR_UIF;
        if (self == NULL || self->callback == mp_const_none) {
            tim->DIER &= ~TIM_DIER_UIE;
        } else {
            mp_obj_t exc = pyb_irq_call(self->callback, MP_OBJ_FROM_PTR(self));
            if (exc != MP_OBJ_NULL) {
                self->callback = mp_const_none;
                tim->DIER &= ~TIM_DIER_UIE;
                mp_printf(MICROPY_ERROR_PRINTER, "uncaught exception in Timer(%u) interrupt handler\n", id);
                mp_obj_print_exception(MICROPY_ERROR_PRINTER, exc);
            }
        }
    }
    for (int ch = 1; ch <= 4; ++ch) {
        uint32_t bit = 1u << ch;
        if (!(pending & bit)) {
            continue;
        }
        tim->SR = ~bit;
        pyb_timer_channel_obj_t *chan = self == NULL ? NULL : self->channel[ch - 1];
        if (chan == NULL || chan->callback == mp_const_none) {
            tim->DIER &= ~bit;
            continue;
        }
        mp_obj_t exc = pyb_irq_call(chan->callback, MP_OBJ_FROM_PTR(self));
        if (exc != MP_OBJ_NULL) {
            chan->callback = mp_const_none;
            tim->DIER &= ~bit;
            mp_printf(MICROPY_ERROR_PRINTER, "uncaught exception in Timer(%u) channel %u interrupt handler\n", id, ch);
            mp_obj_print_exception(MICROPY_ERROR_PRINTER, exc);
        }
    }
}

static inline bool timer_clock_on(int id) {
    const timer_info_t *ti = &timer_info[id];
    uint32_t enr = ti->apb == 2 ? RCC->APB2ENR : RCC->APB1ENR;
    return (enr >> ti->en_bit) & 1;
}

static void timer_handle_irq_if_on(int id) {
    if (timer_clock_on(id)) {
        timer_handle_irq(id);
    }
}

void TIM1_BRK_TIM9_IRQHandler(void) {
    timer_handle_irq_if_on(9);
}

void TIM1_UP_TIM10_IRQHandler(void) {
    timer_handle_irq_if_on(1);
    timer_handle_irq_if_on(10);
}

void TIM1_TRG_COM_TIM11_IRQHandler(void) {
    timer_handle_irq_if_on(11);
}

void TIM1_CC_IRQHandler(void) {
    timer_handle_irq_if_on(1);
}

void TIM2_IRQHandler(void) {
    timer_handle_irq(2);
}

void TIM3_IRQHandler(void) {
    timer_handle_irq(3);
}

void TIM4_IRQHandler(void) {
    timer_handle_irq(4);
}

void TIM5_IRQHandler(void) {
    timer_handle_irq(5);
}

void TIM6_DAC_IRQHandler(void) {
    timer_handle_irq(6);
}

void TIM7_IRQHandler(void) {
    timer_handle_irq(7);
}

void TIM8_BRK_TIM12_IRQHandler(void) {
    timer_handle_irq_if_on(12);
}

void TIM8_UP_TIM13_IRQHandler(void) {
    timer_handle_irq_if_on(8);
    timer_handle_irq_if_on(13);
}

void TIM8_TRG_COM_TIM14_IRQHandler(void) {
    timer_handle_irq_if_on(14);
}

void TIM8_CC_IRQHandler(void) {
    timer_handle_irq_if_on(8);
}

// ---------------------------------------------------------------------------
// pyb.Timer

static pyb_timer_obj_t *timer_self(mp_obj_t self_in) {
    return MP_OBJ_TO_PTR(self_in);
}

static uint32_t timer_max_period(int id) {
    return timer_info[id].is_32bit ? 0xffffffffu : 0xffffu;
}

// Work out prescaler and period for a frequency; returns the PSC value and
// writes ARR to *period.
static uint32_t timer_compute_psc_period(int id, mp_obj_t freq_in, uint32_t *period) {
    uint32_t source = timer_source_freq(id);
    uint64_t ticks;
    #if MICROPY_PY_BUILTINS_FLOAT
    if (mp_obj_is_float(freq_in)) {
        mp_float_t f = mp_obj_get_float(freq_in);
        if (f <= 0) {
            goto bad_freq;
        }
        ticks = (uint64_t)((mp_float_t)source / f);
    } else
    #endif
    {
        mp_int_t f = mp_obj_get_int(freq_in);
        if (f <= 0) {
            goto bad_freq;
        }
        ticks = source / (uint32_t)f;
    }
    if (ticks == 0) {
        ticks = 1;
    }
    uint64_t max = (uint64_t)timer_max_period(id) + 1;
    uint64_t psc = (ticks + max - 1) / max;
    if (psc == 0) {
        psc = 1;
    }
    if (psc > 0x10000) {
        mp_raise_ValueError(MP_ERROR_TEXT("period too large"));
    }
    uint64_t per = ticks / psc;
    if (per == 0) {
        per = 1;
    }
    *period = (uint32_t)(per - 1);
    return (uint32_t)(psc - 1);

bad_freq:
    mp_raise_ValueError(MP_ERROR_TEXT("must be positive"));
}

static void pyb_timer_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    pyb_timer_obj_t *self = timer_self(self_in);
    tim_regs_t *tim = timer_regs(self->tim_id);
    if (!timer_clock_on(self->tim_id) || !(tim->CR1 & TIM_CR1_CEN)) {
        mp_printf(print, "Timer(%u)", self->tim_id);
        return;
    }
    uint32_t cr1 = tim->CR1;
    qstr mode = MP_QSTR_UP;
    if (cr1 & TIM_CR1_CMS_Msk) {
        mode = MP_QSTR_CENTER;
    } else if (cr1 & TIM_CR1_DIR) {
        mode = MP_QSTR_DOWN;
    }
    mp_printf(print, "Timer(%u, freq=%u, prescaler=%u, period=%u, mode=%q, div=%u",
        self->tim_id,
        (unsigned)(timer_source_freq(self->tim_id) / (tim->PSC + 1) / (tim->ARR + 1)),
        (unsigned)tim->PSC, (unsigned)tim->ARR, mode,
        1u << ((cr1 & TIM_CR1_CKD_Msk) >> 8));
    if (timer_is_advanced(self->tim_id)) {
        mp_printf(print, ", deadtime=%u", (unsigned)(tim->BDTR & 0xff));
    }
    mp_print_str(print, ")");
}

static mp_obj_t pyb_timer_callback(mp_obj_t self_in, mp_obj_t callback);

static mp_obj_t pyb_timer_init_helper(pyb_timer_obj_t *self, size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_freq, ARG_prescaler, ARG_period, ARG_tick_hz, ARG_mode, ARG_div, ARG_callback, ARG_deadtime };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_freq, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_prescaler, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_period, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_tick_hz, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 1000} },
        { MP_QSTR_mode, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = TIMER_COUNTER_UP} },
        { MP_QSTR_div, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 1} },
        { MP_QSTR_callback, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_deadtime, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    int id = self->tim_id;
    uint32_t psc, period;
    if (args[ARG_freq].u_obj != mp_const_none) {
        psc = timer_compute_psc_period(id, args[ARG_freq].u_obj, &period);
    } else if (args[ARG_prescaler].u_int >= 0 && args[ARG_period].u_int >= 0) {
        psc = args[ARG_prescaler].u_int;
        period = args[ARG_period].u_int;
    } else {
        mp_raise_TypeError(MP_ERROR_TEXT("must specify either freq, or prescaler and period"));
    }
    if (psc > 0xffff) {
        mp_raise_ValueError(MP_ERROR_TEXT("prescaler too large"));
    }
    if (period > timer_max_period(id)) {
        mp_raise_ValueError(MP_ERROR_TEXT("period too large"));
    }
    uint32_t cr1 = TIM_CR1_ARPE;
    switch (args[ARG_mode].u_int) {
        case TIMER_COUNTER_UP:
            break;
        case TIMER_COUNTER_DOWN:
            cr1 |= TIM_CR1_DIR;
            break;
        case TIMER_COUNTER_CENTER:
            cr1 |= 1u << 5;
            break;
        default:
            mp_raise_ValueError(MP_ERROR_TEXT("invalid mode"));
    }
    switch (args[ARG_div].u_int) {
        case 2:
            cr1 |= 1u << 8;
            break;
        case 4:
            cr1 |= 2u << 8;
            break;
        default:
            break;
    }

    timer_clock_enable(id);
    tim_regs_t *tim = timer_regs(id);
    tim->CR1 = 0;
    tim->DIER = 0;
    tim->CR1 = cr1;
    tim->PSC = psc;
    tim->ARR = period;
    tim->CNT = 0;
    if (timer_is_advanced(id)) {
        tim->RCR = 0;
        uint32_t dt = args[ARG_deadtime].u_int;
        tim->BDTR = (dt > 0xff ? 0xff : dt);
    }
    tim->EGR = TIM_EGR_UG; // load the prescaler now
    tim->SR = 0;
    tim->CR1 = cr1 | TIM_CR1_CEN;

    pyb_timer_callback(MP_OBJ_FROM_PTR(self), args[ARG_callback].u_obj);
    return mp_const_none;
}

static mp_obj_t pyb_timer_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, MP_OBJ_FUN_ARGS_MAX, true);
    mp_int_t id = mp_obj_get_int(args[0]);
    if (id < 1 || id > TIMER_MAX_ID) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("Timer(%d) doesn't exist"), (int)id);
    }
    pyb_timer_obj_t *self = MP_STATE_PORT(pyb_timer_obj_all)[id - 1];
    if (self == NULL) {
        self = m_new_obj(pyb_timer_obj_t);
        memset(self, 0, sizeof(*self));
        self->base.type = &pyb_timer_type;
        self->tim_id = id;
        self->callback = mp_const_none;
        MP_STATE_PORT(pyb_timer_obj_all)[id - 1] = self;
    }
    if (n_args > 1 || n_kw > 0) {
        mp_map_t kw_args;
        mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
        pyb_timer_init_helper(self, n_args - 1, args + 1, &kw_args);
    }
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t pyb_timer_init(size_t n_args, const mp_obj_t *args, mp_map_t *kw_args) {
    return pyb_timer_init_helper(timer_self(args[0]), n_args - 1, args + 1, kw_args);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_timer_init_obj, 1, pyb_timer_init);

static mp_obj_t pyb_timer_deinit(mp_obj_t self_in) {
    pyb_timer_obj_t *self = timer_self(self_in);
    self->callback = mp_const_none;
    for (int i = 0; i < 4; ++i) {
        if (self->channel[i] != NULL) {
            self->channel[i]->callback = mp_const_none;
        }
        self->channel[i] = NULL;
    }
    if (timer_clock_on(self->tim_id)) {
        timer_stop(self->tim_id);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_timer_deinit_obj, pyb_timer_deinit);

static mp_obj_t pyb_timer_callback(mp_obj_t self_in, mp_obj_t callback) {
    pyb_timer_obj_t *self = timer_self(self_in);
    tim_regs_t *tim = timer_regs(self->tim_id);
    if (callback == mp_const_none) {
        tim->DIER &= ~TIM_DIER_UIE;
        self->callback = mp_const_none;
    } else if (mp_obj_is_callable(callback)) {
        tim->DIER &= ~TIM_DIER_UIE;
        self->callback = callback;
        tim->SR = ~TIM_SR_UIF;
        timer_irq_enable(self->tim_id, timer_info[self->tim_id].irq_up);
        tim->DIER |= TIM_DIER_UIE;
    } else {
        mp_raise_ValueError(MP_ERROR_TEXT("callback must be None or a callable object"));
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_timer_callback_obj, pyb_timer_callback);

static mp_obj_t pyb_timer_counter(size_t n_args, const mp_obj_t *args) {
    pyb_timer_obj_t *self = timer_self(args[0]);
    tim_regs_t *tim = timer_regs(self->tim_id);
    if (n_args == 1) {
        return mp_obj_new_int_from_uint(tim->CNT);
    }
    tim->CNT = mp_obj_get_int_truncated(args[1]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_timer_counter_obj, 1, 2, pyb_timer_counter);

static mp_obj_t pyb_timer_source_freq(mp_obj_t self_in) {
    pyb_timer_obj_t *self = timer_self(self_in);
    return mp_obj_new_int_from_uint(timer_source_freq(self->tim_id));
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_timer_source_freq_obj, pyb_timer_source_freq);

static mp_obj_t pyb_timer_freq(size_t n_args, const mp_obj_t *args) {
    pyb_timer_obj_t *self = timer_self(args[0]);
    tim_regs_t *tim = timer_regs(self->tim_id);
    if (n_args == 1) {
        uint32_t div = (tim->PSC + 1) * (tim->ARR + 1);
        uint32_t source = timer_source_freq(self->tim_id);
        if (source % div == 0) {
            return mp_obj_new_int_from_uint(source / div);
        }
        return mp_obj_new_float((mp_float_t)source / (mp_float_t)div);
    }
    uint32_t period;
    uint32_t psc = timer_compute_psc_period(self->tim_id, args[1], &period);
    tim->PSC = psc;
    tim->ARR = period;
    if (tim->CNT > period) {
        tim->CNT = 0;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_timer_freq_obj, 1, 2, pyb_timer_freq);

static mp_obj_t pyb_timer_prescaler(size_t n_args, const mp_obj_t *args) {
    pyb_timer_obj_t *self = timer_self(args[0]);
    tim_regs_t *tim = timer_regs(self->tim_id);
    if (n_args == 1) {
        return mp_obj_new_int_from_uint(tim->PSC);
    }
    tim->PSC = mp_obj_get_int(args[1]) & 0xffff;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_timer_prescaler_obj, 1, 2, pyb_timer_prescaler);

static mp_obj_t pyb_timer_period(size_t n_args, const mp_obj_t *args) {
    pyb_timer_obj_t *self = timer_self(args[0]);
    tim_regs_t *tim = timer_regs(self->tim_id);
    if (n_args == 1) {
        return mp_obj_new_int_from_uint(tim->ARR);
    }
    tim->ARR = mp_obj_get_int_truncated(args[1]) & timer_max_period(self->tim_id);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_timer_period_obj, 1, 2, pyb_timer_period);

// ---------------------------------------------------------------------------
// Timer channels

static void channel_set_ccmr(tim_regs_t *tim, int ch, uint32_t byte) {
    volatile uint32_t *ccmr = ch <= 2 ? &tim->CCMR1 : &tim->CCMR2;
    unsigned int shift = ((ch - 1) & 1) * 8;
    *ccmr = (*ccmr & ~(0xffu << shift)) | (byte << shift);
}

static void channel_set_ccer(tim_regs_t *tim, int ch, uint32_t nibble) {
    unsigned int shift = (ch - 1) * 4;
    tim->CCER = (tim->CCER & ~(0xfu << shift)) | (nibble << shift);
}

static uint32_t channel_percent_to_ccr(tim_regs_t *tim, mp_obj_t percent_in) {
    uint32_t period = tim->ARR + 1;
    #if MICROPY_PY_BUILTINS_FLOAT
    if (mp_obj_is_float(percent_in)) {
        mp_float_t p = mp_obj_get_float(percent_in);
        if (p <= 0) {
            return 0;
        }
        if (p >= 100) {
            return period;
        }
        return (uint32_t)(p / (mp_float_t)100 * (mp_float_t)period);
    }
    #endif
    mp_int_t p = mp_obj_get_int(percent_in);
    if (p <= 0) {
        return 0;
    }
    if (p >= 100) {
        return period;
    }
    return (uint32_t)((uint64_t)p * period / 100);
}

static mp_obj_t pyb_timer_channel(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_mode, ARG_callback, ARG_pin, ARG_pulse_width, ARG_pulse_width_percent, ARG_compare, ARG_polarity };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_mode, MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_callback, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_pin, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_pulse_width, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_pulse_width_percent, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_compare, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_polarity, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
    };
    pyb_timer_obj_t *self = timer_self(pos_args[0]);
    int id = self->tim_id;
    mp_int_t ch = mp_obj_get_int(pos_args[1]);
    if (ch < 1 || ch > timer_info[id].channels) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("invalid channel (%d)"), (int)ch);
    }
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 2, pos_args + 2, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    pyb_timer_channel_obj_t *chan = self->channel[ch - 1];
    if (args[ARG_mode].u_int == -1) {
        if (chan == NULL) {
            mp_raise_ValueError(MP_ERROR_TEXT("channel not configured"));
        }
        return MP_OBJ_FROM_PTR(chan);
    }

    tim_regs_t *tim = timer_regs(id);
    if (chan == NULL) {
        chan = m_new_obj(pyb_timer_channel_obj_t);
        chan->base.type = &pyb_timer_channel_type;
        chan->timer = self;
        chan->channel = ch;
        self->channel[ch - 1] = chan;
    }
    chan->callback = mp_const_none;
    tim->DIER &= ~(1u << ch);
    channel_set_ccer(tim, ch, 0);

    int mode = args[ARG_mode].u_int;
    chan->mode = mode;

    if (args[ARG_pin].u_obj != mp_const_none) {
        const pin_obj_t *pin = pin_find(args[ARG_pin].u_obj);
        int af = -1;
        for (size_t i = 0; i < MP_ARRAY_SIZE(timer_pin_af); ++i) {
            if (timer_pin_af[i].pin == pin && timer_pin_af[i].tim == id && timer_pin_af[i].channel == ch) {
                af = timer_pin_af[i].af;
                break;
            }
        }
        if (af < 0) {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("Pin(%q) doesn't have an alt for Timer(%d)"), pin->name, id);
        }
        uint32_t pull = mode == CHANNEL_MODE_IC ? PIN_PULL_NONE : PIN_PULL_NONE;
        pin_config(pin, PIN_MODE_AF_PP, pull, af);
    }

    uint32_t ccer = 1; // CCxE
    switch (mode) {
        case CHANNEL_MODE_PWM_NORMAL:
        case CHANNEL_MODE_PWM_INVERTED: {
            uint32_t ccr;
            if (args[ARG_pulse_width_percent].u_obj != mp_const_none) {
                ccr = channel_percent_to_ccr(tim, args[ARG_pulse_width_percent].u_obj);
            } else {
                ccr = args[ARG_pulse_width].u_int;
            }
            tim->CCR[ch - 1] = ccr;
            uint32_t ocm = mode == CHANNEL_MODE_PWM_NORMAL ? TIM_CCMR_OCM_PWM1 : TIM_CCMR_OCM_PWM2;
            channel_set_ccmr(tim, ch, (ocm << 4) | TIM_CCMR_OCPE);
            if (args[ARG_polarity].u_int == TIMER_POLARITY_LOW) {
                ccer |= 2;
            }
            break;
        }
        case CHANNEL_MODE_OC_TIMING:
        case CHANNEL_MODE_OC_ACTIVE:
        case CHANNEL_MODE_OC_INACTIVE:
        case CHANNEL_MODE_OC_TOGGLE:
        case CHANNEL_MODE_OC_FORCED_ACTIVE:
        case CHANNEL_MODE_OC_FORCED_INACTIVE: {
            static const uint8_t ocm_for_mode[] = {
                TIM_CCMR_OCM_FROZEN, TIM_CCMR_OCM_ACTIVE, TIM_CCMR_OCM_INACTIVE,
                TIM_CCMR_OCM_TOGGLE, TIM_CCMR_OCM_FORCE_HIGH, TIM_CCMR_OCM_FORCE_LOW,
            };
            tim->CCR[ch - 1] = args[ARG_compare].u_int;
            channel_set_ccmr(tim, ch, (uint32_t)ocm_for_mode[mode - CHANNEL_MODE_OC_TIMING] << 4);
            if (args[ARG_polarity].u_int == TIMER_POLARITY_LOW) {
                ccer |= 2;
            }
            break;
        }
        case CHANNEL_MODE_IC: {
            channel_set_ccmr(tim, ch, 1); // CCxS = 01: input, ICx mapped on TIx
            int pol = args[ARG_polarity].u_int;
            if (pol == TIMER_POLARITY_FALLING) {
                ccer |= 2;
            } else if (pol == TIMER_POLARITY_BOTH) {
                ccer |= 2 | 8;
            }
            break;
        }
        case CHANNEL_MODE_ENC_A:
        case CHANNEL_MODE_ENC_B:
        case CHANNEL_MODE_ENC_AB: {
            channel_set_ccmr(tim, 1, 1);
            channel_set_ccmr(tim, 2, 1);
            tim->SMCR = (tim->SMCR & ~7u) | (uint32_t)(mode - CHANNEL_MODE_ENC_A + 1);
            ccer = 1;
            channel_set_ccer(tim, 1, 1);
            channel_set_ccer(tim, 2, 1);
            break;
        }
        default:
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("invalid mode (%d)"), mode);
    }
    channel_set_ccer(tim, ch, ccer);
    if (timer_is_advanced(id)) {
        tim->BDTR |= TIM_BDTR_MOE;
    }
    if (!(tim->CR1 & TIM_CR1_CEN)) {
        tim->EGR = TIM_EGR_UG;
        tim->SR = 0;
        tim->CR1 |= TIM_CR1_CEN;
    }
    if (args[ARG_callback].u_obj != mp_const_none) {
        chan->callback = args[ARG_callback].u_obj;
        tim->SR = ~(1u << ch);
        timer_irq_enable(id, timer_info[id].irq_cc);
        tim->DIER |= 1u << ch;
    }
    return MP_OBJ_FROM_PTR(chan);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_timer_channel_obj, 2, pyb_timer_channel);

static const mp_rom_map_elem_t pyb_timer_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&pyb_timer_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_deinit), MP_ROM_PTR(&pyb_timer_deinit_obj) },
    { MP_ROM_QSTR(MP_QSTR_channel), MP_ROM_PTR(&pyb_timer_channel_obj) },
    { MP_ROM_QSTR(MP_QSTR_counter), MP_ROM_PTR(&pyb_timer_counter_obj) },
    { MP_ROM_QSTR(MP_QSTR_source_freq), MP_ROM_PTR(&pyb_timer_source_freq_obj) },
    { MP_ROM_QSTR(MP_QSTR_freq), MP_ROM_PTR(&pyb_timer_freq_obj) },
    { MP_ROM_QSTR(MP_QSTR_prescaler), MP_ROM_PTR(&pyb_timer_prescaler_obj) },
    { MP_ROM_QSTR(MP_QSTR_period), MP_ROM_PTR(&pyb_timer_period_obj) },
    { MP_ROM_QSTR(MP_QSTR_callback), MP_ROM_PTR(&pyb_timer_callback_obj) },
    { MP_ROM_QSTR(MP_QSTR_UP), MP_ROM_INT(TIMER_COUNTER_UP) },
    { MP_ROM_QSTR(MP_QSTR_DOWN), MP_ROM_INT(TIMER_COUNTER_DOWN) },
    { MP_ROM_QSTR(MP_QSTR_CENTER), MP_ROM_INT(TIMER_COUNTER_CENTER) },
    { MP_ROM_QSTR(MP_QSTR_PWM), MP_ROM_INT(CHANNEL_MODE_PWM_NORMAL) },
    { MP_ROM_QSTR(MP_QSTR_PWM_INVERTED), MP_ROM_INT(CHANNEL_MODE_PWM_INVERTED) },
    { MP_ROM_QSTR(MP_QSTR_OC_TIMING), MP_ROM_INT(CHANNEL_MODE_OC_TIMING) },
    { MP_ROM_QSTR(MP_QSTR_OC_ACTIVE), MP_ROM_INT(CHANNEL_MODE_OC_ACTIVE) },
    { MP_ROM_QSTR(MP_QSTR_OC_INACTIVE), MP_ROM_INT(CHANNEL_MODE_OC_INACTIVE) },
    { MP_ROM_QSTR(MP_QSTR_OC_TOGGLE), MP_ROM_INT(CHANNEL_MODE_OC_TOGGLE) },
    { MP_ROM_QSTR(MP_QSTR_OC_FORCED_ACTIVE), MP_ROM_INT(CHANNEL_MODE_OC_FORCED_ACTIVE) },
    { MP_ROM_QSTR(MP_QSTR_OC_FORCED_INACTIVE), MP_ROM_INT(CHANNEL_MODE_OC_FORCED_INACTIVE) },
    { MP_ROM_QSTR(MP_QSTR_IC), MP_ROM_INT(CHANNEL_MODE_IC) },
    { MP_ROM_QSTR(MP_QSTR_ENC_A), MP_ROM_INT(CHANNEL_MODE_ENC_A) },
    { MP_ROM_QSTR(MP_QSTR_ENC_B), MP_ROM_INT(CHANNEL_MODE_ENC_B) },
    { MP_ROM_QSTR(MP_QSTR_ENC_AB), MP_ROM_INT(CHANNEL_MODE_ENC_AB) },
    { MP_ROM_QSTR(MP_QSTR_HIGH), MP_ROM_INT(TIMER_POLARITY_HIGH) },
    { MP_ROM_QSTR(MP_QSTR_LOW), MP_ROM_INT(TIMER_POLARITY_LOW) },
    { MP_ROM_QSTR(MP_QSTR_RISING), MP_ROM_INT(TIMER_POLARITY_RISING) },
    { MP_ROM_QSTR(MP_QSTR_FALLING), MP_ROM_INT(TIMER_POLARITY_FALLING) },
    { MP_ROM_QSTR(MP_QSTR_BOTH), MP_ROM_INT(TIMER_POLARITY_BOTH) },
};
static MP_DEFINE_CONST_DICT(pyb_timer_locals_dict, pyb_timer_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_timer_type,
    MP_QSTR_Timer,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_timer_make_new,
    print, pyb_timer_print,
    locals_dict, &pyb_timer_locals_dict
    );

// ---------------------------------------------------------------------------
// TimerChannel

static void pyb_timer_channel_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    pyb_timer_channel_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "TimerChannel(timer=%u, channel=%u, mode=%u)",
        self->timer->tim_id, self->channel, self->mode);
}

static mp_obj_t pyb_timer_channel_capture_compare(size_t n_args, const mp_obj_t *args) {
    pyb_timer_channel_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    tim_regs_t *tim = timer_regs(self->timer->tim_id);
    if (n_args == 1) {
        return mp_obj_new_int_from_uint(tim->CCR[self->channel - 1]);
    }
    tim->CCR[self->channel - 1] = mp_obj_get_int_truncated(args[1]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_timer_channel_capture_compare_obj, 1, 2, pyb_timer_channel_capture_compare);

static mp_obj_t pyb_timer_channel_pulse_width_percent(size_t n_args, const mp_obj_t *args) {
    pyb_timer_channel_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    tim_regs_t *tim = timer_regs(self->timer->tim_id);
    if (n_args == 1) {
        uint32_t period = tim->ARR + 1;
        uint32_t ccr = tim->CCR[self->channel - 1];
        if (ccr * 100 % period == 0) {
            return MP_OBJ_NEW_SMALL_INT(ccr * 100 / period);
        }
        return mp_obj_new_float((mp_float_t)ccr * 100 / (mp_float_t)period);
    }
    tim->CCR[self->channel - 1] = channel_percent_to_ccr(tim, args[1]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_timer_channel_pulse_width_percent_obj, 1, 2, pyb_timer_channel_pulse_width_percent);

static mp_obj_t pyb_timer_channel_callback(mp_obj_t self_in, mp_obj_t callback) {
    pyb_timer_channel_obj_t *self = MP_OBJ_TO_PTR(self_in);
    int id = self->timer->tim_id;
    tim_regs_t *tim = timer_regs(id);
    uint32_t bit = 1u << self->channel;
    tim->DIER &= ~bit;
    if (callback == mp_const_none) {
        self->callback = mp_const_none;
    } else if (mp_obj_is_callable(callback)) {
        self->callback = callback;
        tim->SR = ~bit;
        timer_irq_enable(id, timer_info[id].irq_cc);
        tim->DIER |= bit;
    } else {
        mp_raise_ValueError(MP_ERROR_TEXT("callback must be None or a callable object"));
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_timer_channel_callback_obj, pyb_timer_channel_callback);

static const mp_rom_map_elem_t pyb_timer_channel_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_callback), MP_ROM_PTR(&pyb_timer_channel_callback_obj) },
    { MP_ROM_QSTR(MP_QSTR_pulse_width), MP_ROM_PTR(&pyb_timer_channel_capture_compare_obj) },
    { MP_ROM_QSTR(MP_QSTR_pulse_width_percent), MP_ROM_PTR(&pyb_timer_channel_pulse_width_percent_obj) },
    { MP_ROM_QSTR(MP_QSTR_capture), MP_ROM_PTR(&pyb_timer_channel_capture_compare_obj) },
    { MP_ROM_QSTR(MP_QSTR_compare), MP_ROM_PTR(&pyb_timer_channel_capture_compare_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_timer_channel_locals_dict, pyb_timer_channel_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_timer_channel_type,
    MP_QSTR_TimerChannel,
    MP_TYPE_FLAG_NONE,
    print, pyb_timer_channel_print,
    locals_dict, &pyb_timer_channel_locals_dict
    );

tim_regs_t *pyb_timer_regs(mp_obj_t timer) {
    if (!mp_obj_is_type(timer, &pyb_timer_type)) {
        mp_raise_TypeError(MP_ERROR_TEXT("need a Timer object"));
    }
    return timer_regs(timer_self(timer)->tim_id);
}
