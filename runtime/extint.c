// pybsim runtime: external interrupts through EXTI lines 0..15.
//
// Each GPIO line n of any port can be routed to EXTI line n through
// SYSCFG_EXTICRx; rising/falling triggers are chosen in EXTI_RTSR/FTSR.

#include "py/runtime.h"
#include "py/mphal.h"
#include "pin.h"
#include "extint.h"

#define EXTINT_IRQ_PRIORITY (8)

MP_REGISTER_ROOT_POINTER(mp_obj_t pyb_extint_callback[EXTINT_NUM_LINES]);
MP_REGISTER_ROOT_POINTER(mp_obj_t pyb_extint_arg[EXTINT_NUM_LINES]);

static uint16_t extint_hard_mask;

static const uint8_t extint_irqn[EXTINT_NUM_LINES] = {
    EXTI0_IRQn, EXTI1_IRQn, EXTI2_IRQn, EXTI3_IRQn, EXTI4_IRQn,
    EXTI9_5_IRQn, EXTI9_5_IRQn, EXTI9_5_IRQn, EXTI9_5_IRQn, EXTI9_5_IRQn,
    EXTI15_10_IRQn, EXTI15_10_IRQn, EXTI15_10_IRQn, EXTI15_10_IRQn, EXTI15_10_IRQn, EXTI15_10_IRQn,
};

typedef struct _extint_obj_t {
    mp_obj_base_t base;
    uint8_t line;
} extint_obj_t;

void extint_init0(void) {
    for (int i = 0; i < EXTINT_NUM_LINES; ++i) {
        MP_STATE_PORT(pyb_extint_callback)[i] = mp_const_none;
        MP_STATE_PORT(pyb_extint_arg)[i] = mp_const_none;
    }
    extint_hard_mask = 0;
}

void extint_deinit_all(void) {
    EXTI->IMR &= ~0xffffu;
    EXTI->EMR &= ~0xffffu;
    EXTI->PR = 0xffffu;
    extint_init0();
}

void extint_enable(unsigned int line) {
    EXTI->IMR |= 1u << line;
}

void extint_disable(unsigned int line) {
    EXTI->IMR &= ~(1u << line);
}

static bool extint_mode_valid(uint32_t mode) {
    return mode == PIN_IRQ_RISING || mode == PIN_IRQ_FALLING || mode == PIN_IRQ_RISING_FALLING
           || mode == PIN_EVT_RISING || mode == PIN_EVT_FALLING || mode == PIN_EVT_RISING_FALLING;
}

void extint_register(const pin_obj_t *pin, uint32_t mode, uint32_t pull,
    mp_obj_t callback, mp_obj_t arg, bool hard, bool configure_pin) {
    unsigned int line = pin->pin;
    uint32_t bit = 1u << line;

    EXTI->IMR &= ~bit;
    EXTI->EMR &= ~bit;
    if (callback == mp_const_none) {
        MP_STATE_PORT(pyb_extint_callback)[line] = mp_const_none;
        MP_STATE_PORT(pyb_extint_arg)[line] = mp_const_none;
        return;
    }
    if (!extint_mode_valid(mode)) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("invalid ExtInt Mode: %d"), (int)mode);
    }
    if (pull > PIN_PULL_DOWN) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("invalid ExtInt Pull: %d"), (int)pull);
    }
    if (configure_pin) {
        pin_config(pin, PIN_MODE_IN, pull, -1);
    } else {
        pin_clock_enable(pin);
    }

    // Route the port to the line.
    RCC->APB2ENR |= RCC_APB2ENR_SYSCFGEN;
    (void)RCC->APB2ENR;
    unsigned int shift = (line & 3) * 4;
    SYSCFG->EXTICR[line >> 2] = (SYSCFG->EXTICR[line >> 2] & ~(0xfu << shift)) | ((uint32_t)pin->port << shift);

    if (mode & 0x00100000) {
        EXTI->RTSR |= bit;
    } else {
        EXTI->RTSR &= ~bit;
    }
    if (mode & 0x00200000) {
        EXTI->FTSR |= bit;
    } else {
        EXTI->FTSR &= ~bit;
    }

    MP_STATE_PORT(pyb_extint_callback)[line] = callback;
    MP_STATE_PORT(pyb_extint_arg)[line] = arg;
    if (hard) {
        extint_hard_mask |= bit;
    } else {
        extint_hard_mask &= ~bit;
    }

    EXTI->PR = bit;
    if ((mode & 0x000f0000) == 0x00020000) {
        EXTI->EMR |= bit;
    } else {
        EXTI->IMR |= bit;
    }
    int irqn = extint_irqn[line];
    nvic_set_priority(irqn, EXTINT_IRQ_PRIORITY);
    nvic_clear_pending(irqn);
    nvic_enable_irq(irqn);
}

static void extint_handle(unsigned int line) {
    uint32_t bit = 1u << line;
    if (!(EXTI->PR & bit)) {
        return;
    }
    EXTI->PR = bit;
    mp_obj_t cb = MP_STATE_PORT(pyb_extint_callback)[line];
    if (cb == mp_const_none) {
        return;
    }
    mp_obj_t arg = MP_STATE_PORT(pyb_extint_arg)[line];
    if (extint_hard_mask & bit) {
        mp_obj_t exc = pyb_irq_call(cb, arg);
        if (exc != MP_OBJ_NULL) {
            MP_STATE_PORT(pyb_extint_callback)[line] = mp_const_none;
            EXTI->IMR &= ~bit;
            mp_printf(MICROPY_ERROR_PRINTER, "uncaught exception in ExtInt interrupt handler line %u\n", line);
            mp_obj_print_exception(MICROPY_ERROR_PRINTER, exc);
        }
    } else {
        mp_sched_schedule(cb, arg);
    }
}

void EXTI0_IRQHandler(void) {
    extint_handle(0);
}

void EXTI1_IRQHandler(void) {
    extint_handle(1);
}

void EXTI2_IRQHandler(void) {
    extint_handle(2);
}

void EXTI3_IRQHandler(void) {
    extint_handle(3);
}

void EXTI4_IRQHandler(void) {
    extint_handle(4);
}

void EXTI9_5_IRQHandler(void) {
    for (unsigned int line = 5; line <= 9; ++line) {
        extint_handle(line);
    }
}

void EXTI15_10_IRQHandler(void) {
    for (unsigned int line = 10; line <= 15; ++line) {
        extint_handle(line);
    }
}

// ---------------------------------------------------------------------------
// pyb.ExtInt(pin, mode, pull, callback)

static mp_obj_t extint_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *all_args) {
    enum { ARG_pin, ARG_mode, ARG_pull, ARG_callback };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_pin, MP_ARG_REQUIRED | MP_ARG_OBJ },
        { MP_QSTR_mode, MP_ARG_REQUIRED | MP_ARG_INT },
        { MP_QSTR_pull, MP_ARG_REQUIRED | MP_ARG_INT },
        { MP_QSTR_callback, MP_ARG_REQUIRED | MP_ARG_OBJ },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all_kw_array(n_args, n_kw, all_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    const pin_obj_t *pin = pin_find(args[ARG_pin].u_obj);
    extint_obj_t *self = mp_obj_malloc(extint_obj_t, type);
    self->line = pin->pin;
    if (args[ARG_callback].u_obj != mp_const_none
        && MP_STATE_PORT(pyb_extint_callback)[self->line] != mp_const_none) {
        mp_raise_msg_varg(&mp_type_OSError, MP_ERROR_TEXT("ExtInt vector %d is already in use"), self->line);
    }
    extint_register(pin, args[ARG_mode].u_int, args[ARG_pull].u_int, args[ARG_callback].u_obj,
        MP_OBJ_NEW_SMALL_INT(self->line), true, true);
    return MP_OBJ_FROM_PTR(self);
}

static void extint_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    extint_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "<ExtInt line=%u>", self->line);
}

static mp_obj_t extint_obj_line(mp_obj_t self_in) {
    extint_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return MP_OBJ_NEW_SMALL_INT(self->line);
}
static MP_DEFINE_CONST_FUN_OBJ_1(extint_obj_line_obj, extint_obj_line);

static mp_obj_t extint_obj_enable(mp_obj_t self_in) {
    extint_obj_t *self = MP_OBJ_TO_PTR(self_in);
    extint_enable(self->line);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(extint_obj_enable_obj, extint_obj_enable);

static mp_obj_t extint_obj_disable(mp_obj_t self_in) {
    extint_obj_t *self = MP_OBJ_TO_PTR(self_in);
    extint_disable(self->line);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(extint_obj_disable_obj, extint_obj_disable);

static mp_obj_t extint_obj_swint(mp_obj_t self_in) {
    extint_obj_t *self = MP_OBJ_TO_PTR(self_in);
    EXTI->SWIER = 1u << self->line;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(extint_obj_swint_obj, extint_obj_swint);

static mp_obj_t extint_regs(void) {
    mp_printf(&mp_plat_print, "EXTI_IMR   %08x\n", (unsigned)EXTI->IMR);
    mp_printf(&mp_plat_print, "EXTI_EMR   %08x\n", (unsigned)EXTI->EMR);
    mp_printf(&mp_plat_print, "EXTI_RTSR  %08x\n", (unsigned)EXTI->RTSR);
    mp_printf(&mp_plat_print, "EXTI_FTSR  %08x\n", (unsigned)EXTI->FTSR);
    mp_printf(&mp_plat_print, "EXTI_SWIER %08x\n", (unsigned)EXTI->SWIER);
    mp_printf(&mp_plat_print, "EXTI_PR    %08x\n", (unsigned)EXTI->PR);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(extint_regs_fun_obj, extint_regs);
static MP_DEFINE_CONST_STATICMETHOD_OBJ(extint_regs_obj, MP_ROM_PTR(&extint_regs_fun_obj));

static const mp_rom_map_elem_t extint_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_line), MP_ROM_PTR(&extint_obj_line_obj) },
    { MP_ROM_QSTR(MP_QSTR_enable), MP_ROM_PTR(&extint_obj_enable_obj) },
    { MP_ROM_QSTR(MP_QSTR_disable), MP_ROM_PTR(&extint_obj_disable_obj) },
    { MP_ROM_QSTR(MP_QSTR_swint), MP_ROM_PTR(&extint_obj_swint_obj) },
    { MP_ROM_QSTR(MP_QSTR_regs), MP_ROM_PTR(&extint_regs_obj) },
    { MP_ROM_QSTR(MP_QSTR_IRQ_RISING), MP_ROM_INT(PIN_IRQ_RISING) },
    { MP_ROM_QSTR(MP_QSTR_IRQ_FALLING), MP_ROM_INT(PIN_IRQ_FALLING) },
    { MP_ROM_QSTR(MP_QSTR_IRQ_RISING_FALLING), MP_ROM_INT(PIN_IRQ_RISING_FALLING) },
    { MP_ROM_QSTR(MP_QSTR_EVT_RISING), MP_ROM_INT(PIN_EVT_RISING) },
    { MP_ROM_QSTR(MP_QSTR_EVT_FALLING), MP_ROM_INT(PIN_EVT_FALLING) },
    { MP_ROM_QSTR(MP_QSTR_EVT_RISING_FALLING), MP_ROM_INT(PIN_EVT_RISING_FALLING) },
};
static MP_DEFINE_CONST_DICT(extint_locals_dict, extint_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    extint_type,
    MP_QSTR_ExtInt,
    MP_TYPE_FLAG_NONE,
    make_new, extint_make_new,
    print, extint_print,
    locals_dict, &extint_locals_dict
    );
