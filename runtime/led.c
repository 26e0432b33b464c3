// pybsim runtime: the four LEDs of the PYBv1.1 (active high).
//
//   LED(1) red A13, LED(2) green A14, LED(3) yellow A15, LED(4) blue B4.
// LED(4) supports intensity through TIM3 channel 1 PWM (B4, AF2).

#include "py/runtime.h"
#include "py/mphal.h"
#include "pin.h"
#include "led.h"
#include "timer.h"

#define LED_PWM_AF_TIM3 (2)

typedef struct _pyb_led_obj_t {
    mp_obj_base_t base;
    mp_uint_t led_id;
    const pin_obj_t *pin;
} pyb_led_obj_t;

static const pyb_led_obj_t pyb_led_obj[] = {
    {{&pyb_led_type}, 1, &pin_A13},
    {{&pyb_led_type}, 2, &pin_A14},
    {{&pyb_led_type}, 3, &pin_A15},
    {{&pyb_led_type}, 4, &pin_B4},
};
#define NUM_LEDS MP_ARRAY_SIZE(pyb_led_obj)

static bool led4_pwm_active;
static uint8_t led4_intensity;

void led_init(void) {
    led4_pwm_active = false;
    led4_intensity = 0;
    for (size_t i = 0; i < NUM_LEDS; ++i) {
        pin_write(pyb_led_obj[i].pin, false);
        pin_config(pyb_led_obj[i].pin, PIN_MODE_OUT_PP, PIN_PULL_NONE, -1);
    }
}

static void led4_pwm_off(void) {
    if (led4_pwm_active) {
        pin_config(&pin_B4, PIN_MODE_OUT_PP, PIN_PULL_NONE, -1);
        led4_pwm_active = false;
    }
}

void led_state(int led, bool on) {
    if (led < 1 || led > (int)NUM_LEDS) {
        return;
    }
    if (led == 4) {
        led4_pwm_off();
        led4_intensity = on ? 255 : 0;
    }
    pin_write(pyb_led_obj[led - 1].pin, on);
}

static void led_toggle(int led) {
    const pin_obj_t *pin = pyb_led_obj[led - 1].pin;
    bool on;
    if (led == 4 && led4_pwm_active) {
        on = false; // as on the real board, toggling a dimmed LED turns it off
    } else {
        on = !((pin_gpio(pin)->ODR >> pin->pin) & 1);
    }
    led_state(led, on);
}

static int led_get_intensity(int led) {
    if (led == 4 && led4_pwm_active) {
        return led4_intensity;
    }
    const pin_obj_t *pin = pyb_led_obj[led - 1].pin;
    return ((pin_gpio(pin)->ODR >> pin->pin) & 1) ? 255 : 0;
}

static void led_set_intensity(int led, mp_int_t intensity) {
    if (intensity < 0) {
        intensity = 0;
    } else if (intensity > 255) {
        intensity = 255;
    }
    if (led == 4 && intensity > 0 && intensity < 255) {
        led4_intensity = intensity;
        timer_tim3_led_pwm((uint32_t)intensity * 1000u / 255u);
        pin_config(&pin_B4, PIN_MODE_AF_PP, PIN_PULL_NONE, LED_PWM_AF_TIM3);
        led4_pwm_active = true;
        return;
    }
    led_state(led, intensity > 0);
}

static void led_obj_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    pyb_led_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "LED(%u)", self->led_id);
}

static mp_obj_t led_obj_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 1, false);
    mp_int_t led_id = mp_obj_get_int(args[0]);
    if (led_id < 1 || led_id > (mp_int_t)NUM_LEDS) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("LED(%d) doesn't exist"), (int)led_id);
    }
    return MP_OBJ_FROM_PTR(&pyb_led_obj[led_id - 1]);
}

static mp_obj_t led_obj_on(mp_obj_t self_in) {
    pyb_led_obj_t *self = MP_OBJ_TO_PTR(self_in);
    led_state(self->led_id, true);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(led_obj_on_obj, led_obj_on);

static mp_obj_t led_obj_off(mp_obj_t self_in) {
    pyb_led_obj_t *self = MP_OBJ_TO_PTR(self_in);
    led_state(self->led_id, false);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(led_obj_off_obj, led_obj_off);

static mp_obj_t led_obj_toggle(mp_obj_t self_in) {
    pyb_led_obj_t *self = MP_OBJ_TO_PTR(self_in);
    led_toggle(self->led_id);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(led_obj_toggle_obj, led_obj_toggle);

static mp_obj_t led_obj_intensity(size_t n_args, const mp_obj_t *args) {
    pyb_led_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    if (n_args == 1) {
        return MP_OBJ_NEW_SMALL_INT(led_get_intensity(self->led_id));
    }
    led_set_intensity(self->led_id, mp_obj_get_int(args[1]));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(led_obj_intensity_obj, 1, 2, led_obj_intensity);

static const mp_rom_map_elem_t led_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_on), MP_ROM_PTR(&led_obj_on_obj) },
    { MP_ROM_QSTR(MP_QSTR_off), MP_ROM_PTR(&led_obj_off_obj) },
    { MP_ROM_QSTR(MP_QSTR_toggle), MP_ROM_PTR(&led_obj_toggle_obj) },
    { MP_ROM_QSTR(MP_QSTR_intensity), MP_ROM_PTR(&led_obj_intensity_obj) },
};
static MP_DEFINE_CONST_DICT(led_locals_dict, led_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_led_type,
    MP_QSTR_LED,
    MP_TYPE_FLAG_NONE,
    make_new, led_obj_make_new,
    print, led_obj_print,
    locals_dict, &led_locals_dict
    );
