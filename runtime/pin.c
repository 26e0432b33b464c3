// pybsim runtime: GPIO pins (pyb.Pin / machine.Pin).
//
// Pins are named by CPU port and number (Pin.cpu.A0) and by their place on the
// PYBv1.1 headers (Pin.board.X1). All access is through the GPIO registers.

#include <string.h>

#include "py/runtime.h"
#include "py/mphal.h"
#include "extmod/virtpin.h"
#include "pin.h"
#include "extint.h"

// ---------------------------------------------------------------------------
// Pin objects: all of ports A, B and C, plus D2, H0 and H1 (the STM32F405RG
// in its LQFP64 package has no other GPIOs).

#define PIN_DEF(p, port_idx, n) \
    const pin_obj_t pin_##p##n = { {&pin_type}, MP_QSTR_##p##n, port_idx, n }

#define PORT_PINS(p, idx) \
    PIN_DEF(p, idx, 0); PIN_DEF(p, idx, 1); PIN_DEF(p, idx, 2); PIN_DEF(p, idx, 3); \
    PIN_DEF(p, idx, 4); PIN_DEF(p, idx, 5); PIN_DEF(p, idx, 6); PIN_DEF(p, idx, 7); \
    PIN_DEF(p, idx, 8); PIN_DEF(p, idx, 9); PIN_DEF(p, idx, 10); PIN_DEF(p, idx, 11); \
    PIN_DEF(p, idx, 12); PIN_DEF(p, idx, 13); PIN_DEF(p, idx, 14); PIN_DEF(p, idx, 15)

PORT_PINS(A, 0);
PORT_PINS(B, 1);
PORT_PINS(C, 2);
PIN_DEF(D, 3, 2);
PIN_DEF(H, 7, 0);
PIN_DEF(H, 7, 1);

#define CPU_ENTRY(name) { MP_ROM_QSTR(MP_QSTR_##name), MP_ROM_PTR(&pin_##name) }
#define CPU_PORT(p) \
    CPU_ENTRY(p##0), CPU_ENTRY(p##1), CPU_ENTRY(p##2), CPU_ENTRY(p##3), \
    CPU_ENTRY(p##4), CPU_ENTRY(p##5), CPU_ENTRY(p##6), CPU_ENTRY(p##7), \
    CPU_ENTRY(p##8), CPU_ENTRY(p##9), CPU_ENTRY(p##10), CPU_ENTRY(p##11), \
    CPU_ENTRY(p##12), CPU_ENTRY(p##13), CPU_ENTRY(p##14), CPU_ENTRY(p##15)

static const mp_rom_map_elem_t pin_cpu_pins_locals_table[] = {
    CPU_PORT(A),
    CPU_PORT(B),
    CPU_PORT(C),
    CPU_ENTRY(D2),
    CPU_ENTRY(H0),
    CPU_ENTRY(H1),
};
static MP_DEFINE_CONST_DICT(pin_cpu_pins_locals_dict, pin_cpu_pins_locals_table);

#define BOARD_ENTRY(name, cpu) { MP_ROM_QSTR(MP_QSTR_##name), MP_ROM_PTR(&pin_##cpu) }

// PYBv1.1 pinout.
static const mp_rom_map_elem_t pin_board_pins_locals_table[] = {
    BOARD_ENTRY(X1, A0),
    BOARD_ENTRY(X2, A1),
    BOARD_ENTRY(X3, A2),
    BOARD_ENTRY(X4, A3),
    BOARD_ENTRY(X5, A4),
    BOARD_ENTRY(X6, A5),
    BOARD_ENTRY(X7, A6),
    BOARD_ENTRY(X8, A7),
    BOARD_ENTRY(X9, B6),
    BOARD_ENTRY(X10, B7),
    BOARD_ENTRY(X11, C4),
    BOARD_ENTRY(X12, C5),
    BOARD_ENTRY(X17, B3),
    BOARD_ENTRY(X18, C13),
    BOARD_ENTRY(X19, C0),
    BOARD_ENTRY(X20, C1),
    BOARD_ENTRY(X21, C2),
    BOARD_ENTRY(X22, C3),
    BOARD_ENTRY(Y1, C6),
    BOARD_ENTRY(Y2, C7),
    BOARD_ENTRY(Y3, B8),
    BOARD_ENTRY(Y4, B9),
    BOARD_ENTRY(Y5, B12),
    BOARD_ENTRY(Y6, B13),
    BOARD_ENTRY(Y7, B14),
    BOARD_ENTRY(Y8, B15),
    BOARD_ENTRY(Y9, B10),
    BOARD_ENTRY(Y10, B11),
    BOARD_ENTRY(Y11, B0),
    BOARD_ENTRY(Y12, B1),
    BOARD_ENTRY(P2, B14),
    BOARD_ENTRY(P3, A15),
    BOARD_ENTRY(P4, A14),
    BOARD_ENTRY(P5, A13),
    BOARD_ENTRY(LED_RED, A13),
    BOARD_ENTRY(LED_GREEN, A14),
    BOARD_ENTRY(LED_YELLOW, A15),
    BOARD_ENTRY(LED_BLUE, B4),
    BOARD_ENTRY(SW, B3),
    BOARD_ENTRY(SD, A8),
    BOARD_ENTRY(SD_SW, A8),
    BOARD_ENTRY(SD_D0, C8),
    BOARD_ENTRY(SD_D1, C9),
    BOARD_ENTRY(SD_D2, C10),
    BOARD_ENTRY(SD_D3, C11),
    BOARD_ENTRY(SD_CMD, D2),
    BOARD_ENTRY(SD_CK, C12),
    BOARD_ENTRY(MMA_INT, B2),
    BOARD_ENTRY(MMA_AVDD, B5),
    BOARD_ENTRY(USB_VBUS, A9),
    BOARD_ENTRY(USB_ID, A10),
    BOARD_ENTRY(USB_DM, A11),
    BOARD_ENTRY(USB_DP, A12),
};
static MP_DEFINE_CONST_DICT(pin_board_pins_locals_dict, pin_board_pins_locals_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pin_cpu_pins_obj_type,
    MP_QSTR_cpu,
    MP_TYPE_FLAG_NONE,
    locals_dict, &pin_cpu_pins_locals_dict
    );

MP_DEFINE_CONST_OBJ_TYPE(
    pin_board_pins_obj_type,
    MP_QSTR_board,
    MP_TYPE_FLAG_NONE,
    locals_dict, &pin_board_pins_locals_dict
    );

// ---------------------------------------------------------------------------
// Register level configuration

void pin_init0(void) {
}

void pin_clock_enable(const pin_obj_t *pin) {
    RCC->AHB1ENR |= RCC_AHB1ENR_GPIOAEN << pin->port;
    (void)RCC->AHB1ENR;
}

void pin_config(const pin_obj_t *pin, uint32_t mode, uint32_t pull, int af) {
    gpio_regs_t *gpio = pin_gpio(pin);
    unsigned int n = pin->pin;
    uint32_t moder = mode & 3; // IN=0, OUT=1, AF=2, ANALOG=3 by construction
    pin_clock_enable(pin);
    uint32_t irq = MICROPY_BEGIN_ATOMIC_SECTION();
    if (af >= 0) {
        unsigned int r = n >> 3, s = (n & 7) * 4;
        gpio->AFR[r] = (gpio->AFR[r] & ~(0xfu << s)) | ((uint32_t)(af & 0xf) << s);
    }
    if (mode & 0x10) {
        gpio->OTYPER |= 1u << n;
    } else {
        gpio->OTYPER &= ~(1u << n);
    }
    if (moder == 1 || moder == 2) {
        // high speed for outputs and alternate functions
        gpio->OSPEEDR = (gpio->OSPEEDR & ~(3u << (2 * n))) | (2u << (2 * n));
    }
    gpio->PUPDR = (gpio->PUPDR & ~(3u << (2 * n))) | ((pull & 3) << (2 * n));
    gpio->MODER = (gpio->MODER & ~(3u << (2 * n))) | (moder << (2 * n));
    MICROPY_END_ATOMIC_SECTION(irq);
}

uint32_t pin_get_mode(const pin_obj_t *pin) {
    gpio_regs_t *gpio = pin_gpio(pin);
    uint32_t moder = (gpio->MODER >> (2 * pin->pin)) & 3;
    if (moder == 1 || moder == 2) {
        if (gpio->OTYPER & (1u << pin->pin)) {
            moder |= 0x10;
        }
    }
    return moder;
}

uint32_t pin_get_pull(const pin_obj_t *pin) {
    return (pin_gpio(pin)->PUPDR >> (2 * pin->pin)) & 3;
}

static uint32_t pin_get_af(const pin_obj_t *pin) {
    return (pin_gpio(pin)->AFR[pin->pin >> 3] >> ((pin->pin & 7) * 4)) & 0xf;
}

// ---------------------------------------------------------------------------
// Python bindings

static const pin_obj_t *pin_find_named(const mp_obj_dict_t *dict, mp_obj_t name) {
    mp_map_elem_t *elem = mp_map_lookup((mp_map_t *)&dict->map, name, MP_MAP_LOOKUP);
    if (elem != NULL && elem->value != MP_OBJ_NULL) {
        return MP_OBJ_TO_PTR(elem->value);
    }
    return NULL;
}

const pin_obj_t *pin_find(mp_obj_t user_obj) {
    if (mp_obj_is_type(user_obj, &pin_type)) {
        return MP_OBJ_TO_PTR(user_obj);
    }
    if (mp_obj_is_str(user_obj)) {
        const pin_obj_t *pin = pin_find_named(&pin_board_pins_locals_dict, user_obj);
        if (pin == NULL) {
            pin = pin_find_named(&pin_cpu_pins_locals_dict, user_obj);
        }
        if (pin != NULL) {
            return pin;
        }
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("Pin(%s) doesn't exist"), mp_obj_str_get_str(user_obj));
    }
    mp_raise_ValueError(MP_ERROR_TEXT("invalid pin"));
}

static qstr pin_mode_qstr(uint32_t mode) {
    switch (mode) {
        case PIN_MODE_IN:
            return MP_QSTR_IN;
        case PIN_MODE_OUT_PP:
            return MP_QSTR_OUT;
        case PIN_MODE_OUT_OD:
            return MP_QSTR_OPEN_DRAIN;
        case PIN_MODE_AF_PP:
            return MP_QSTR_ALT;
        case PIN_MODE_AF_OD:
            return MP_QSTR_ALT_OPEN_DRAIN;
        default:
            return MP_QSTR_ANALOG;
    }
}

static void pin_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    const pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    uint32_t mode = pin_get_mode(self);
    mp_printf(print, "Pin(Pin.cpu.%q, mode=Pin.%q", self->name, pin_mode_qstr(mode));
    if (mode != PIN_MODE_ANALOG) {
        uint32_t pull = pin_get_pull(self);
        if (pull == PIN_PULL_UP) {
            mp_print_str(print, ", pull=Pin.PULL_UP");
        } else if (pull == PIN_PULL_DOWN) {
            mp_print_str(print, ", pull=Pin.PULL_DOWN");
        }
    }
    if (mode == PIN_MODE_AF_PP || mode == PIN_MODE_AF_OD) {
        mp_printf(print, ", alt=%u", (unsigned)pin_get_af(self));
    }
    mp_print_str(print, ")");
}

static mp_obj_t pin_obj_init_helper(const pin_obj_t *self, size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_mode, ARG_pull, ARG_af, ARG_value, ARG_alt };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_mode, MP_ARG_REQUIRED | MP_ARG_INT },
        { MP_QSTR_pull, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_af, MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_value, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_alt, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    uint32_t mode = args[ARG_mode].u_int;
    if (!(mode == PIN_MODE_IN || mode == PIN_MODE_OUT_PP || mode == PIN_MODE_OUT_OD
          || mode == PIN_MODE_AF_PP || mode == PIN_MODE_AF_OD || mode == PIN_MODE_ANALOG)) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("invalid pin mode: %d"), (int)mode);
    }
    uint32_t pull = PIN_PULL_NONE;
    if (args[ARG_pull].u_obj != mp_const_none) {
        pull = mp_obj_get_int(args[ARG_pull].u_obj);
        if (pull > PIN_PULL_DOWN) {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("invalid pin pull: %d"), (int)pull);
        }
    }
    int af = args[ARG_af].u_int;
    if (af == -1) {
        af = args[ARG_alt].u_int;
    }
    if ((mode == PIN_MODE_AF_PP || mode == PIN_MODE_AF_OD) && (af < 0 || af > 15)) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid pin af"));
    }
    if (args[ARG_value].u_obj != mp_const_none) {
        pin_write(self, mp_obj_is_true(args[ARG_value].u_obj));
    }
    pin_config(self, mode, pull, af);
    return mp_const_none;
}

mp_obj_t mp_pin_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, MP_OBJ_FUN_ARGS_MAX, true);
    const pin_obj_t *pin = pin_find(args[0]);
    if (n_args > 1 || n_kw > 0) {
        mp_map_t kw_args;
        mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
        pin_obj_init_helper(pin, n_args - 1, args + 1, &kw_args);
    }
    return MP_OBJ_FROM_PTR(pin);
}

static mp_obj_t pin_call(mp_obj_t self_in, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 1, false);
    const pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (n_args == 0) {
        return MP_OBJ_NEW_SMALL_INT(pin_read(self));
    }
    pin_write(self, mp_obj_is_true(args[0]));
    return mp_const_none;
}

static mp_obj_t pin_obj_init(size_t n_args, const mp_obj_t *args, mp_map_t *kw_args) {
    return pin_obj_init_helper(MP_OBJ_TO_PTR(args[0]), n_args - 1, args + 1, kw_args);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pin_init_obj, 1, pin_obj_init);

static mp_obj_t pin_value(size_t n_args, const mp_obj_t *args) {
    return pin_call(args[0], n_args - 1, 0, args + 1);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pin_value_obj, 1, 2, pin_value);

static mp_obj_t pin_off(mp_obj_t self_in) {
    pin_write(MP_OBJ_TO_PTR(self_in), false);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pin_off_obj, pin_off);

static mp_obj_t pin_on(mp_obj_t self_in) {
    pin_write(MP_OBJ_TO_PTR(self_in), true);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pin_on_obj, pin_on);

static mp_obj_t pin_name(mp_obj_t self_in) {
    const pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return MP_OBJ_NEW_QSTR(self->name);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pin_name_obj, pin_name);

static mp_obj_t pin_names(mp_obj_t self_in) {
    const pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_obj_t result = mp_obj_new_list(0, NULL);
    mp_obj_list_append(result, MP_OBJ_NEW_QSTR(self->name));
    for (size_t i = 0; i < MP_ARRAY_SIZE(pin_board_pins_locals_table); ++i) {
        if (pin_board_pins_locals_table[i].value == MP_ROM_PTR(self)) {
            mp_obj_list_append(result, (mp_obj_t)pin_board_pins_locals_table[i].key);
        }
    }
    return result;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pin_names_obj, pin_names);

static mp_obj_t pin_port(mp_obj_t self_in) {
    const pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return MP_OBJ_NEW_SMALL_INT(self->port);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pin_port_obj, pin_port);

static mp_obj_t pin_pin(mp_obj_t self_in) {
    const pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return MP_OBJ_NEW_SMALL_INT(self->pin);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pin_pin_obj, pin_pin);

static mp_obj_t pin_gpio_addr(mp_obj_t self_in) {
    const pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return mp_obj_new_int_from_uint((uintptr_t)pin_gpio(self));
}
static MP_DEFINE_CONST_FUN_OBJ_1(pin_gpio_obj, pin_gpio_addr);

static mp_obj_t pin_mode(mp_obj_t self_in) {
    return MP_OBJ_NEW_SMALL_INT(pin_get_mode(MP_OBJ_TO_PTR(self_in)));
}
static MP_DEFINE_CONST_FUN_OBJ_1(pin_mode_obj, pin_mode);

static mp_obj_t pin_pull(mp_obj_t self_in) {
    return MP_OBJ_NEW_SMALL_INT(pin_get_pull(MP_OBJ_TO_PTR(self_in)));
}
static MP_DEFINE_CONST_FUN_OBJ_1(pin_pull_obj, pin_pull);

static mp_obj_t pin_af(mp_obj_t self_in) {
    return MP_OBJ_NEW_SMALL_INT(pin_get_af(MP_OBJ_TO_PTR(self_in)));
}
static MP_DEFINE_CONST_FUN_OBJ_1(pin_af_obj, pin_af);

// Pin.irq(handler=None, trigger=IRQ_FALLING|IRQ_RISING, hard=False)
static mp_obj_t pin_irq(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_handler, ARG_trigger, ARG_hard };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_handler, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_trigger, MP_ARG_INT, {.u_int = PIN_IRQ_RISING_FALLING} },
        { MP_QSTR_hard, MP_ARG_BOOL, {.u_bool = false} },
    };
    const pin_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    if (n_args > 1 || kw_args->used != 0) {
        extint_register(self, args[ARG_trigger].u_int, pin_get_pull(self),
            args[ARG_handler].u_obj, MP_OBJ_FROM_PTR(self), args[ARG_hard].u_bool, false);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pin_irq_obj, 1, pin_irq);

static const mp_rom_map_elem_t pin_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&pin_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_value), MP_ROM_PTR(&pin_value_obj) },
    { MP_ROM_QSTR(MP_QSTR_off), MP_ROM_PTR(&pin_off_obj) },
    { MP_ROM_QSTR(MP_QSTR_on), MP_ROM_PTR(&pin_on_obj) },
    { MP_ROM_QSTR(MP_QSTR_low), MP_ROM_PTR(&pin_off_obj) },
    { MP_ROM_QSTR(MP_QSTR_high), MP_ROM_PTR(&pin_on_obj) },
    { MP_ROM_QSTR(MP_QSTR_irq), MP_ROM_PTR(&pin_irq_obj) },
    { MP_ROM_QSTR(MP_QSTR_name), MP_ROM_PTR(&pin_name_obj) },
    { MP_ROM_QSTR(MP_QSTR_names), MP_ROM_PTR(&pin_names_obj) },
    { MP_ROM_QSTR(MP_QSTR_port), MP_ROM_PTR(&pin_port_obj) },
    { MP_ROM_QSTR(MP_QSTR_pin), MP_ROM_PTR(&pin_pin_obj) },
    { MP_ROM_QSTR(MP_QSTR_gpio), MP_ROM_PTR(&pin_gpio_obj) },
    { MP_ROM_QSTR(MP_QSTR_mode), MP_ROM_PTR(&pin_mode_obj) },
    { MP_ROM_QSTR(MP_QSTR_pull), MP_ROM_PTR(&pin_pull_obj) },
    { MP_ROM_QSTR(MP_QSTR_af), MP_ROM_PTR(&pin_af_obj) },

    { MP_ROM_QSTR(MP_QSTR_board), MP_ROM_PTR(&pin_board_pins_obj_type) },
    { MP_ROM_QSTR(MP_QSTR_cpu), MP_ROM_PTR(&pin_cpu_pins_obj_type) },

    { MP_ROM_QSTR(MP_QSTR_IN), MP_ROM_INT(PIN_MODE_IN) },
    { MP_ROM_QSTR(MP_QSTR_OUT), MP_ROM_INT(PIN_MODE_OUT_PP) },
    { MP_ROM_QSTR(MP_QSTR_OPEN_DRAIN), MP_ROM_INT(PIN_MODE_OUT_OD) },
    { MP_ROM_QSTR(MP_QSTR_ALT), MP_ROM_INT(PIN_MODE_AF_PP) },
    { MP_ROM_QSTR(MP_QSTR_ALT_OPEN_DRAIN), MP_ROM_INT(PIN_MODE_AF_OD) },
    { MP_ROM_QSTR(MP_QSTR_ANALOG), MP_ROM_INT(PIN_MODE_ANALOG) },
    { MP_ROM_QSTR(MP_QSTR_OUT_PP), MP_ROM_INT(PIN_MODE_OUT_PP) },
    { MP_ROM_QSTR(MP_QSTR_OUT_OD), MP_ROM_INT(PIN_MODE_OUT_OD) },
    { MP_ROM_QSTR(MP_QSTR_AF_PP), MP_ROM_INT(PIN_MODE_AF_PP) },
    { MP_ROM_QSTR(MP_QSTR_AF_OD), MP_ROM_INT(PIN_MODE_AF_OD) },
    { MP_ROM_QSTR(MP_QSTR_PULL_NONE), MP_ROM_INT(PIN_PULL_NONE) },
    { MP_ROM_QSTR(MP_QSTR_PULL_UP), MP_ROM_INT(PIN_PULL_UP) },
    { MP_ROM_QSTR(MP_QSTR_PULL_DOWN), MP_ROM_INT(PIN_PULL_DOWN) },
    { MP_ROM_QSTR(MP_QSTR_IRQ_RISING), MP_ROM_INT(PIN_IRQ_RISING) },
    { MP_ROM_QSTR(MP_QSTR_IRQ_FALLING), MP_ROM_INT(PIN_IRQ_FALLING) },
};
static MP_DEFINE_CONST_DICT(pin_locals_dict, pin_locals_dict_table);

static mp_uint_t pin_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    const pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (request) {
        case MP_PIN_READ:
            return pin_read(self);
        case MP_PIN_WRITE:
            pin_write(self, arg);
            return 0;
    }
    return -1;
}

static const mp_pin_p_t pin_pin_p = {
    .ioctl = pin_ioctl,
};

MP_DEFINE_CONST_OBJ_TYPE(
    pin_type,
    MP_QSTR_Pin,
    MP_TYPE_FLAG_NONE,
    make_new, mp_pin_make_new,
    print, pin_print,
    call, pin_call,
    protocol, &pin_pin_p,
    locals_dict, &pin_locals_dict
    );
