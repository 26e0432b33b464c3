// pybsim runtime: port part of machine.ADC (included into extmod/machine_adc.c).

#include "py/mphal.h"
#include "adc.h"

#define MICROPY_PY_MACHINE_ADC_CLASS_CONSTANTS

typedef struct _machine_adc_obj_t {
    mp_obj_base_t base;
    uint32_t channel;
} machine_adc_obj_t;

static void mp_machine_adc_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    machine_adc_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "<ADC channel=%u>", (unsigned int)self->channel);
}

// machine.ADC(pin or channel)
static mp_obj_t mp_machine_adc_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 1, false);
    mp_obj_t adc = MP_OBJ_TYPE_GET_SLOT(&pyb_adc_type, make_new)(&pyb_adc_type, 1, 0, args);
    machine_adc_obj_t *self = mp_obj_malloc(machine_adc_obj_t, &machine_adc_type);
    // pyb.ADC checked the channel and set the pin up.
    self->channel = pyb_adc_channel(adc);
    return MP_OBJ_FROM_PTR(self);
}

// 12-bit result scaled to 16 bits by repeating its top bits below it.
static mp_int_t mp_machine_adc_read_u16(machine_adc_obj_t *self) {
    uint32_t raw = adc_convert_bits(self->channel, 12);
    return (raw << 4) | (raw >> 8);
}
