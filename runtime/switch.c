// pybsim runtime: the USR switch on B3 (pull-up, pressed reads low).

#include "py/runtime.h"
#include "py/mphal.h"
#include "pin.h"
#include "extint.h"
#include "switch.h"

typedef struct _pyb_switch_obj_t {
    mp_obj_base_t base;
} pyb_switch_obj_t;

static const pyb_switch_obj_t pyb_switch_obj = {{&pyb_switch_type}};

MP_REGISTER_ROOT_POINTER(mp_obj_t pyb_switch_callback);

void switch_init0(void) {
    pin_config(&pin_B3, PIN_MODE_IN, PIN_PULL_UP, -1);
}

bool switch_get(void) {
    return !pin_read(&pin_B3);
}

static void pyb_switch_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    mp_print_str(print, "Switch()");
}

static mp_obj_t pyb_switch_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    return MP_OBJ_FROM_PTR(&pyb_switch_obj);
}

static mp_obj_t pyb_switch_call(mp_obj_t self_in, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    return mp_obj_new_bool(switch_get());
}

static mp_obj_t pyb_switch_value(mp_obj_t self_in) {
    return mp_obj_new_bool(switch_get());
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_switch_value_obj, pyb_switch_value);

// The EXTI handler passes its argument; the user's callback takes none.
static mp_obj_t pyb_switch_trampoline(mp_obj_t arg) {
    (void)arg;
    if (MP_STATE_PORT(pyb_switch_callback) != mp_const_none) {
        mp_call_function_0(MP_STATE_PORT(pyb_switch_callback));
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_switch_trampoline_obj, pyb_switch_trampoline);

static mp_obj_t pyb_switch_callback(mp_obj_t self_in, mp_obj_t callback) {
    MP_STATE_PORT(pyb_switch_callback) = callback;
    extint_register(&pin_B3, PIN_IRQ_FALLING, PIN_PULL_UP,
        callback == mp_const_none ? mp_const_none : MP_OBJ_FROM_PTR(&pyb_switch_trampoline_obj),
        mp_const_none, true, true);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_switch_callback_obj, pyb_switch_callback);

static const mp_rom_map_elem_t pyb_switch_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_value), MP_ROM_PTR(&pyb_switch_value_obj) },
    { MP_ROM_QSTR(MP_QSTR_callback), MP_ROM_PTR(&pyb_switch_callback_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_switch_locals_dict, pyb_switch_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_switch_type,
    MP_QSTR_Switch,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_switch_make_new,
    print, pyb_switch_print,
    call, pyb_switch_call,
    locals_dict, &pyb_switch_locals_dict
    );
