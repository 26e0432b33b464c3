// pybsim runtime: the analog-to-digital converter ADC1 (pyb.ADC, pyb.ADCAll).
//
// Single regular conversions started by software (RM0090 §13.3.5): the channel goes in
// SQR3.SQ1, SWSTART starts it, EOC says it is done and reading DR clears EOC. ADCCLK is
// PCLK2 / 4 (21 MHz at 168 MHz, within the datasheet's 36 MHz). Pins are sampled for 15
// ADCCLK cycles, the internal channels (temperature sensor, VREFINT, VBAT / 2) for 480
// as the datasheet asks for them.

#include "py/runtime.h"
#include "py/binary.h"
#include "py/mphal.h"
#include "py/mperrno.h"
#include "stm32f405.h"
#include "pin.h"
#include "timer.h"
#include "adc.h"

// Factory calibration words (STM32F405 datasheet): VREFINT, and the temperature sensor at
// 30 and 110 degrees C, as 12-bit codes at VDDA = 3.3 V.
#define VREFIN_CAL (*(const volatile uint16_t *)0x1fff7a2au)
#define TS_CAL1 (*(const volatile uint16_t *)0x1fff7a2cu)
#define TS_CAL2 (*(const volatile uint16_t *)0x1fff7a2eu)

#define ADC_VDDA (3.3f)
#define ADC_FULL_SCALE (4095.0f)
#define ADC_EOC_TIMEOUT_MS (10)

// SMPx codes: 1 = 15 cycles, 7 = 480 cycles.
#define ADC_SMP_PIN (1)
#define ADC_SMP_INTERNAL (7)

static unsigned int adc_bits = 12;

int adc_channel_of_pin(const pin_obj_t *pin) {
    if (pin->port == 0 && pin->pin <= 7) {
        return pin->pin;
    } else if (pin->port == 1 && pin->pin <= 1) {
        return 8 + pin->pin;
    } else if (pin->port == 2 && pin->pin <= 5) {
        return 10 + pin->pin;
    }
    return -1;
}

// Puts the pin of ADC channel `channel` (0-15) in analog mode.
static void adc_pin_analog(uint32_t channel) {
    pin_obj_t p = { {&pin_type}, MP_QSTRnull, 0, 0 };
    if (channel < 8) {
        p.port = 0;
        p.pin = channel;
    } else if (channel < 10) {
        p.port = 1;
        p.pin = channel - 8;
    } else {
        p.port = 2;
        p.pin = channel - 10;
    }
    pin_config(&p, PIN_MODE_ANALOG, PIN_PULL_NONE, -1);
}

void adc_enable(unsigned int bits) {
    uint32_t res;
    switch (bits) {
        case 12:
            res = 0;
            break;
        case 10:
            res = 1;
            break;
        case 8:
            res = 2;
            break;
        case 6:
            res = 3;
            break;
        default:
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("resolution %d not supported"), bits);
    }
    RCC->APB2ENR |= RCC_APB2ENR_ADC1EN;
    (void)RCC->APB2ENR;
    ADC_COMMON->CCR = (ADC_COMMON->CCR & ~(3u << ADC_CCR_ADCPRE_Pos)) | (1u << ADC_CCR_ADCPRE_Pos);
    ADC1->CR1 = res << ADC_CR1_RES_Pos;
    ADC1->SQR1 = 0; // one conversion
    ADC1->CR2 = ADC_CR2_ADON | ADC_CR2_EOCS;
    adc_bits = bits;
}

static void adc_set_sample_time(uint32_t channel, uint32_t smp) {
    if (channel < 10) {
        unsigned int s = 3 * channel;
        ADC1->SMPR2 = (ADC1->SMPR2 & ~(7u << s)) | (smp << s);
    } else {
        unsigned int s = 3 * (channel - 10);
        ADC1->SMPR1 = (ADC1->SMPR1 & ~(7u << s)) | (smp << s);
    }
}

// Converts `channel` (0-18) once and returns the result (right aligned).
static uint32_t adc_convert(uint32_t channel) {
    if (!(ADC1->CR2 & ADC_CR2_ADON)) {
        adc_enable(adc_bits);
    }
    bool internal = channel >= ADC_CH_TEMP;
    if (channel == ADC_CH_VBAT) {
        ADC_COMMON->CCR = (ADC_COMMON->CCR & ~ADC_CCR_TSVREFE) | ADC_CCR_VBATE;
    } else if (internal) {
        // VBATE must be off for the temperature sensor and VREFINT.
        ADC_COMMON->CCR = (ADC_COMMON->CCR & ~ADC_CCR_VBATE) | ADC_CCR_TSVREFE;
    }
    adc_set_sample_time(channel, internal ? ADC_SMP_INTERNAL : ADC_SMP_PIN);
    ADC1->SQR3 = channel;
    ADC1->SR = 0;
    ADC1->CR2 |= ADC_CR2_SWSTART;
    uint32_t start = mp_hal_ticks_ms();
    while (!(ADC1->SR & ADC_SR_EOC)) {
        if (mp_hal_ticks_ms() - start >= ADC_EOC_TIMEOUT_MS) {
            mp_raise_OSError(MP_ETIMEDOUT);
        }
    }
    uint32_t value = ADC1->DR;
    if (channel == ADC_CH_VBAT) {
        // Keep the battery switch off between reads (it drains the battery).
        ADC_COMMON->CCR &= ~ADC_CCR_VBATE;
    }
    return value;
}

uint32_t adc_convert_bits(uint32_t channel, unsigned int bits) {
    if (adc_bits != bits || !(ADC1->CR2 & ADC_CR2_ADON)) {
        adc_enable(bits);
    }
    return adc_convert(channel);
}

// ---------------------------------------------------------------------------
// pyb.ADC: one channel

typedef struct _pyb_adc_obj_t {
    mp_obj_base_t base;
    mp_obj_t pin_name;
    uint32_t channel;
} pyb_adc_obj_t;

uint32_t pyb_adc_channel(mp_obj_t adc) {
    pyb_adc_obj_t *self = MP_OBJ_TO_PTR(adc);
    return self->channel;
}

static void pyb_adc_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    pyb_adc_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_print_str(print, "<ADC on ");
    mp_obj_print_helper(print, self->pin_name, PRINT_STR);
    mp_printf(print, " channel=%u>", (unsigned int)self->channel);
}

static mp_obj_t pyb_adc_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 1, false);
    int channel;
    if (mp_obj_is_int(args[0])) {
        channel = mp_obj_get_int(args[0]);
        if (channel < 0 || channel >= ADC_NUM_CH) {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("not a valid ADC Channel: %d"), channel);
        }
    } else {
        const pin_obj_t *pin = pin_find(args[0]);
        channel = adc_channel_of_pin(pin);
        if (channel < 0) {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("Pin(%q) doesn't have ADC capabilities"), pin->name);
        }
    }
    if (channel < ADC_CH_TEMP) {
        adc_pin_analog(channel);
    }
    adc_enable(12);
    pyb_adc_obj_t *self = mp_obj_malloc(pyb_adc_obj_t, &pyb_adc_type);
    self->pin_name = args[0];
    self->channel = channel;
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t pyb_adc_read(mp_obj_t self_in) {
    pyb_adc_obj_t *self = MP_OBJ_TO_PTR(self_in);
    return MP_OBJ_NEW_SMALL_INT(adc_convert_bits(self->channel, 12));
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_adc_read_obj, pyb_adc_read);

// ADC.read_timed(buf, timer): one conversion per update event of `timer` (a Timer, or a
// frequency in Hz for TIM6), polling its UIF flag as the Pyboard does; 8-bit buffers get
// the top 8 bits. Returns the buffer's length in bytes.
static mp_obj_t pyb_adc_read_timed(mp_obj_t self_in, mp_obj_t buf_in, mp_obj_t tim_in) {
    pyb_adc_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(buf_in, &bufinfo, MP_BUFFER_WRITE);
    size_t typesize = mp_binary_get_size('@', bufinfo.typecode, NULL);
    mp_obj_t tim = tim_in;
    bool own_timer = mp_obj_is_int(tim_in);
    if (own_timer) {
        mp_obj_t args[3] = { MP_OBJ_NEW_SMALL_INT(6), MP_OBJ_NEW_QSTR(MP_QSTR_freq), tim_in };
        tim = mp_call_function_n_kw(MP_OBJ_FROM_PTR(&pyb_timer_type), 1, 1, args);
    }
    tim_regs_t *regs = pyb_timer_regs(tim);
    if (!(regs->CR1 & TIM_CR1_CEN)) {
        mp_raise_ValueError(MP_ERROR_TEXT("timer is not running"));
    }
    size_t n = bufinfo.len / typesize;
    for (size_t i = 0; i < n; i++) {
        while (!(regs->SR & TIM_SR_UIF)) {
        }
        regs->SR = ~TIM_SR_UIF;
        uint32_t value = adc_convert_bits(self->channel, 12);
        if (typesize == 1) {
            value >>= 4;
        }
        mp_binary_set_val_array_from_int(bufinfo.typecode, bufinfo.buf, i, value);
    }
    if (own_timer) {
        mp_obj_t deinit[2];
        mp_load_method(tim, MP_QSTR_deinit, deinit);
        mp_call_method_n_kw(0, 0, deinit);
    }
    return mp_obj_new_int(bufinfo.len);
}
static MP_DEFINE_CONST_FUN_OBJ_3(pyb_adc_read_timed_obj, pyb_adc_read_timed);

static const mp_rom_map_elem_t pyb_adc_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&pyb_adc_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_read_timed), MP_ROM_PTR(&pyb_adc_read_timed_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_adc_locals_dict, pyb_adc_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_adc_type,
    MP_QSTR_ADC,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_adc_make_new,
    print, pyb_adc_print,
    locals_dict, &pyb_adc_locals_dict
    );

// ---------------------------------------------------------------------------
// pyb.ADCAll: every channel at a chosen resolution, and the internal references

typedef struct _pyb_adc_all_obj_t {
    mp_obj_base_t base;
    unsigned int bits;
} pyb_adc_all_obj_t;

// VREFINT as factory-calibrated over as read now: corrects for VDDA away from 3.3 V.
static float adc_ref_correction = 1.0f;

static mp_obj_t pyb_adc_all_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, 2, false);
    unsigned int bits = mp_obj_get_int(args[0]);
    uint32_t mask = n_args > 1 ? (uint32_t)mp_obj_get_int_truncated(args[1]) : 0xffffffffu;
    adc_enable(bits);
    for (uint32_t ch = 0; ch < ADC_CH_TEMP; ch++) {
        if (mask & (1u << ch)) {
            adc_pin_analog(ch);
        }
    }
    pyb_adc_all_obj_t *self = mp_obj_malloc(pyb_adc_all_obj_t, &pyb_adc_all_type);
    self->bits = bits;
    return MP_OBJ_FROM_PTR(self);
}

// A conversion at the object's resolution.
static uint32_t adc_all_convert(pyb_adc_all_obj_t *self, uint32_t channel) {
    return adc_convert_bits(channel, self->bits);
}

// A conversion scaled to 12 bits, as the calibration words are.
static uint32_t adc_all_convert12(pyb_adc_all_obj_t *self, uint32_t channel) {
    return adc_all_convert(self, channel) << (12 - self->bits);
}

static mp_obj_t pyb_adc_all_read_channel(mp_obj_t self_in, mp_obj_t channel_in) {
    pyb_adc_all_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_int_t channel = mp_obj_get_int(channel_in);
    if (channel < 0 || channel >= ADC_NUM_CH) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("not a valid ADC Channel: %d"), (int)channel);
    }
    return MP_OBJ_NEW_SMALL_INT(adc_all_convert(self, channel));
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_adc_all_read_channel_obj, pyb_adc_all_read_channel);

static float adc_all_vref(pyb_adc_all_obj_t *self) {
    uint32_t raw = adc_all_convert12(self, ADC_CH_VREFINT);
    if (raw != 0) {
        adc_ref_correction = (float)VREFIN_CAL / (float)raw;
    }
    return (float)VREFIN_CAL * ADC_VDDA / ADC_FULL_SCALE;
}

// Temperature in degrees C: on the straight line through the two calibration points.
static mp_obj_t pyb_adc_all_read_core_temp(mp_obj_t self_in) {
    pyb_adc_all_obj_t *self = MP_OBJ_TO_PTR(self_in);
    float raw = (float)adc_all_convert12(self, ADC_CH_TEMP) * adc_ref_correction;
    float per_degree = (float)(TS_CAL2 - TS_CAL1) / 80.0f;
    return mp_obj_new_float((raw - (float)TS_CAL1) / per_degree + 30.0f);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_adc_all_read_core_temp_obj, pyb_adc_all_read_core_temp);

// VBAT in volts: the ADC sees VBAT / 2.
static mp_obj_t pyb_adc_all_read_core_vbat(mp_obj_t self_in) {
    pyb_adc_all_obj_t *self = MP_OBJ_TO_PTR(self_in);
    float raw = (float)adc_all_convert12(self, ADC_CH_VBAT);
    return mp_obj_new_float(raw * 2.0f * ADC_VDDA / ADC_FULL_SCALE * adc_ref_correction);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_adc_all_read_core_vbat_obj, pyb_adc_all_read_core_vbat);

// VREFINT in volts (its calibrated value); updates the VDDA correction.
static mp_obj_t pyb_adc_all_read_core_vref(mp_obj_t self_in) {
    return mp_obj_new_float(adc_all_vref(MP_OBJ_TO_PTR(self_in)));
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_adc_all_read_core_vref_obj, pyb_adc_all_read_core_vref);

// VDDA (the ADC's reference) in volts, measured through VREFINT.
static mp_obj_t pyb_adc_all_read_vref(mp_obj_t self_in) {
    adc_all_vref(MP_OBJ_TO_PTR(self_in));
    return mp_obj_new_float(ADC_VDDA * adc_ref_correction);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_adc_all_read_vref_obj, pyb_adc_all_read_vref);

static const mp_rom_map_elem_t pyb_adc_all_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_read_channel), MP_ROM_PTR(&pyb_adc_all_read_channel_obj) },
    { MP_ROM_QSTR(MP_QSTR_read_core_temp), MP_ROM_PTR(&pyb_adc_all_read_core_temp_obj) },
    { MP_ROM_QSTR(MP_QSTR_read_core_vbat), MP_ROM_PTR(&pyb_adc_all_read_core_vbat_obj) },
    { MP_ROM_QSTR(MP_QSTR_read_core_vref), MP_ROM_PTR(&pyb_adc_all_read_core_vref_obj) },
    { MP_ROM_QSTR(MP_QSTR_read_vref), MP_ROM_PTR(&pyb_adc_all_read_vref_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_adc_all_locals_dict, pyb_adc_all_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_adc_all_type,
    MP_QSTR_ADCAll,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_adc_all_make_new,
    locals_dict, &pyb_adc_all_locals_dict
    );
