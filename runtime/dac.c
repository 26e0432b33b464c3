// pybsim runtime: pyb.DAC on the two 12-bit DAC channels (RM0090 section 14).
//
// noise(freq) and triangle(freq) use the DAC's wave generators on TIM6 triggers.
// DAC(1) drives X5 (PA4), DAC(2) X6 (PA5). write_timed() runs as on the Pyboard:
// TIM6 counts at the requested frequency with its update event as TRGO (CR2.MMS = 010),
// each TRGO makes the DAC load its holding register into the output and request the
// next sample from DMA1 (stream 5 channel 7 for DAC1, stream 6 channel 7 for DAC2),
// which copies it from the buffer into the holding register. Like on silicon the first
// trigger outputs what the holding register held before, then the buffer follows, one
// sample per period.

#include "py/runtime.h"
#include "py/mphal.h"
#include "stm32f405.h"
#include "pin.h"
#include "dma.h"
#include "dac.h"

typedef struct {
    volatile uint32_t CR;           // 0x00
    volatile uint32_t SWTRIGR;      // 0x04
    volatile uint32_t DHR12R1;      // 0x08
    volatile uint32_t DHR12L1;      // 0x0c
    volatile uint32_t DHR8R1;       // 0x10
    volatile uint32_t DHR12R2;      // 0x14
    volatile uint32_t DHR12L2;      // 0x18
    volatile uint32_t DHR8R2;       // 0x1c
    volatile uint32_t DHR12RD;      // 0x20
    volatile uint32_t DHR12LD;      // 0x24
    volatile uint32_t DHR8RD;       // 0x28
    volatile uint32_t DOR1;         // 0x2c
    volatile uint32_t DOR2;         // 0x30
    volatile uint32_t SR;           // 0x34
} dac_regs_t;

#define DAC ((dac_regs_t *)DAC_BASE)

// CR bits of channel 1; channel 2 has them 16 bits up.
#define DAC_CR_EN1              (1u << 0)
#define DAC_CR_BOFF1            (1u << 1)
#define DAC_CR_TEN1             (1u << 2)
#define DAC_CR_TSEL1_Msk        (7u << 3)
#define DAC_CR_TSEL1_TIM6       (0u << 3)
#define DAC_CR_WAVE1_Msk        (3u << 6)
#define DAC_CR_WAVE1_NOISE      (1u << 6)
#define DAC_CR_WAVE1_TRIANGLE   (2u << 6)
#define DAC_CR_MAMP1_Msk        (15u << 8)
#define DAC_CR_MAMP1_4095       (11u << 8)
#define DAC_CR_DMAEN1           (1u << 12)
#define DAC_CR_DMAUDRIE1        (1u << 13)
#define DAC_SR_DMAUDR1          (1u << 13)

#define RCC_APB1ENR_DACEN       (1u << 29)

#define TIM6 ((tim_regs_t *)TIM6_BASE)
#define TIM_CR2_MMS_UPDATE      (2u << 4)

#define DAC_DMA_CHANNEL         (7)
#define DAC_MODE_NORMAL         (0)
#define DAC_MODE_CIRCULAR       (DMA_SxCR_CIRC)

typedef struct _pyb_dac_obj_t {
    mp_obj_base_t base;
    uint8_t channel;    // 1 or 2
    uint8_t bits;       // 8 or 12
    uint8_t buffering;  // output buffer on
    mp_obj_t timed_buf; // keeps the buffer of write_timed alive while DMA reads it
} pyb_dac_obj_t;

extern const pin_obj_t pin_A4, pin_A5;

static inline uint32_t dac_shift(const pyb_dac_obj_t *self) {
    return self->channel == 1 ? 0 : 16;
}

static inline unsigned int dac_stream(const pyb_dac_obj_t *self) {
    return self->channel == 1 ? 5 : 6;
}

static volatile uint32_t *dac_dhr(const pyb_dac_obj_t *self) {
    if (self->channel == 1) {
        return self->bits == 8 ? &DAC->DHR8R1 : &DAC->DHR12R1;
    } else {
        return self->bits == 8 ? &DAC->DHR8R2 : &DAC->DHR12R2;
    }
}

// Rewrites the channel's CR bits: disabled, no trigger, no DMA, no wave, with `on`.
static void dac_config_channel(const pyb_dac_obj_t *self, uint32_t on) {
    uint32_t sh = dac_shift(self);
    uint32_t off = DAC_CR_EN1 | DAC_CR_BOFF1 | DAC_CR_TEN1 | DAC_CR_TSEL1_Msk
        | DAC_CR_WAVE1_Msk | DAC_CR_MAMP1_Msk | DAC_CR_DMAEN1 | DAC_CR_DMAUDRIE1;
    if (!self->buffering) {
        on |= DAC_CR_BOFF1;
    }
    DAC->CR = (DAC->CR & ~(off << sh)) | (on << sh);
}

static void dac_stop_dma(const pyb_dac_obj_t *self) {
    if (RCC->AHB1ENR & RCC_AHB1ENR_DMA1EN) {
        dma_stream_stop(DMA1, dac_stream(self));
    }
}

static void dac_deinit(pyb_dac_obj_t *self) {
    dac_stop_dma(self);
    DAC->CR = (DAC->CR & ~(DAC_CR_EN1 << dac_shift(self))) | (DAC_CR_BOFF1 << dac_shift(self));
    self->timed_buf = MP_OBJ_NULL;
}

void dac_deinit_all(void) {
    if (!(RCC->APB1ENR & RCC_APB1ENR_DACEN)) {
        return;
    }
    if (RCC->AHB1ENR & RCC_AHB1ENR_DMA1EN) {
        dma_stream_stop(DMA1, 5);
        dma_stream_stop(DMA1, 6);
    }
    DAC->CR = DAC_CR_BOFF1 | (DAC_CR_BOFF1 << 16);
}

static mp_obj_t pyb_dac_init_helper(pyb_dac_obj_t *self, size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_bits, ARG_buffering };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_bits, MP_ARG_INT, {.u_int = 8} },
        { MP_QSTR_buffering, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    if (args[ARG_bits].u_int != 8 && args[ARG_bits].u_int != 12) {
        mp_raise_ValueError(MP_ERROR_TEXT("unsupported bits"));
    }
    self->bits = args[ARG_bits].u_int;
    self->buffering = args[ARG_buffering].u_obj == mp_const_none || mp_obj_is_true(args[ARG_buffering].u_obj);

    RCC->APB1ENR |= RCC_APB1ENR_DACEN;
    (void)RCC->APB1ENR;
    pin_config(self->channel == 1 ? &pin_A4 : &pin_A5, PIN_MODE_ANALOG, PIN_PULL_NONE, -1);
    dac_deinit(self);
    return mp_const_none;
}

static mp_obj_t pyb_dac_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *all_args) {
    mp_arg_check_num(n_args, n_kw, 1, MP_OBJ_FUN_ARGS_MAX, true);
    mp_int_t channel;
    if (mp_obj_is_int(all_args[0])) {
        channel = mp_obj_get_int(all_args[0]);
    } else {
        const pin_obj_t *pin = pin_find(all_args[0]);
        channel = pin == &pin_A4 ? 1 : pin == &pin_A5 ? 2 : 0;
    }
    if (channel != 1 && channel != 2) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("DAC(%d) doesn't exist"), (int)channel);
    }
    pyb_dac_obj_t *self = mp_obj_malloc(pyb_dac_obj_t, &pyb_dac_type);
    self->channel = channel;
    self->timed_buf = MP_OBJ_NULL;
    mp_map_t kw_args;
    mp_map_init_fixed_table(&kw_args, n_kw, all_args + n_args);
    pyb_dac_init_helper(self, n_args - 1, all_args + 1, &kw_args);
    return MP_OBJ_FROM_PTR(self);
}

static void pyb_dac_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    pyb_dac_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "DAC(%u, bits=%u)", self->channel, self->bits);
}

static mp_obj_t pyb_dac_init(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    return pyb_dac_init_helper(MP_OBJ_TO_PTR(pos_args[0]), n_args - 1, pos_args + 1, kw_args);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_dac_init_obj, 1, pyb_dac_init);

static mp_obj_t pyb_dac_deinit_fun(mp_obj_t self_in) {
    dac_deinit(MP_OBJ_TO_PTR(self_in));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_dac_deinit_obj, pyb_dac_deinit_fun);

// write(value): the output follows one APB1 cycle after the holding register write.
static mp_obj_t pyb_dac_write(mp_obj_t self_in, mp_obj_t val) {
    pyb_dac_obj_t *self = MP_OBJ_TO_PTR(self_in);
    uint32_t cr = DAC->CR >> dac_shift(self);
    if ((cr & (DAC_CR_EN1 | DAC_CR_TEN1 | DAC_CR_DMAEN1)) != DAC_CR_EN1) {
        // Leave triggered/DMA mode (or start): plain software updates.
        dac_stop_dma(self);
        self->timed_buf = MP_OBJ_NULL;
        dac_config_channel(self, 0);
        *dac_dhr(self) = mp_obj_get_int(val);
        DAC->CR |= DAC_CR_EN1 << dac_shift(self);
    } else {
        *dac_dhr(self) = mp_obj_get_int(val);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_dac_write_obj, pyb_dac_write);

// TIM6 at `freq` Hz with its update event on TRGO.
static void dac_tim6_start(mp_obj_t freq_in) {
    uint32_t source = 2 * PYB_PCLK1_HZ;
    uint64_t ticks;
    #if MICROPY_PY_BUILTINS_FLOAT
    if (mp_obj_is_float(freq_in)) {
        mp_float_t f = mp_obj_get_float(freq_in);
        if (!(f > 0)) {
            mp_raise_ValueError(MP_ERROR_TEXT("freq must be positive"));
        }
        ticks = (uint64_t)((mp_float_t)source / f);
    } else
    #endif
    {
        mp_int_t f = mp_obj_get_int(freq_in);
        if (f <= 0) {
            mp_raise_ValueError(MP_ERROR_TEXT("freq must be positive"));
        }
        ticks = source / (uint32_t)f;
    }
    if (ticks == 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("freq too high"));
    }
    uint64_t psc = (ticks + 0xffff) / 0x10000;
    if (psc > 0x10000) {
        mp_raise_ValueError(MP_ERROR_TEXT("freq too low"));
    }
    RCC->APB1ENR |= RCC_APB1ENR_TIM6EN;
    (void)RCC->APB1ENR;
    TIM6->CR1 = 0;
    TIM6->PSC = (uint32_t)(psc - 1);
    TIM6->ARR = (uint32_t)(ticks / psc - 1);
    TIM6->EGR = TIM_EGR_UG;
    TIM6->SR = 0;
    TIM6->CR2 = TIM_CR2_MMS_UPDATE;
    TIM6->CR1 = TIM_CR1_CEN;
}

// Wave generation (noise or triangle) on TIM6 triggers at `freq`, from a holding value
// of 0, with all 12 bits of amplitude (MAMP = 1011).
static mp_obj_t dac_wave(mp_obj_t self_in, mp_obj_t freq, uint32_t wave) {
    pyb_dac_obj_t *self = MP_OBJ_TO_PTR(self_in);
    dac_stop_dma(self);
    self->timed_buf = MP_OBJ_NULL;
    dac_tim6_start(freq);
    dac_config_channel(self, DAC_CR_TEN1 | DAC_CR_TSEL1_TIM6 | wave | DAC_CR_MAMP1_4095);
    if (self->channel == 1) {
        DAC->DHR12R1 = 0;
    } else {
        DAC->DHR12R2 = 0;
    }
    DAC->CR |= DAC_CR_EN1 << dac_shift(self);
    return mp_const_none;
}

// noise(freq): a pseudo-random sample at each of `freq` triggers per second.
static mp_obj_t pyb_dac_noise(mp_obj_t self_in, mp_obj_t freq) {
    return dac_wave(self_in, freq, DAC_CR_WAVE1_NOISE);
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_dac_noise_obj, pyb_dac_noise);

// triangle(freq): the output steps by one at `freq`; the full triangle takes 8190 steps.
static mp_obj_t pyb_dac_triangle(mp_obj_t self_in, mp_obj_t freq) {
    return dac_wave(self_in, freq, DAC_CR_WAVE1_TRIANGLE);
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_dac_triangle_obj, pyb_dac_triangle);

static mp_obj_t pyb_dac_write_timed(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_data, ARG_freq, ARG_mode };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_data, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_freq, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_mode, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = DAC_MODE_NORMAL} },
    };
    pyb_dac_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(args[ARG_data].u_obj, &bufinfo, MP_BUFFER_READ);
    if (args[ARG_mode].u_int != DAC_MODE_NORMAL && args[ARG_mode].u_int != DAC_MODE_CIRCULAR) {
        mp_raise_ValueError(MP_ERROR_TEXT("mode must be DAC.NORMAL or DAC.CIRCULAR"));
    }
    if (!mp_obj_is_int(args[ARG_freq].u_obj) && !mp_obj_is_float(args[ARG_freq].u_obj)) {
        mp_raise_TypeError(MP_ERROR_TEXT("freq must be a number (a Timer is not supported)"));
    }
    size_t n = self->bits == 8 ? bufinfo.len : bufinfo.len / 2;
    if (n == 0 || n > 0xffff) {
        mp_raise_ValueError(MP_ERROR_TEXT("data must hold 1 to 65535 samples"));
    }

    dac_tim6_start(args[ARG_freq].u_obj);
    dac_config_channel(self, DAC_CR_TEN1 | DAC_CR_TSEL1_TIM6 | DAC_CR_DMAEN1);

    RCC->AHB1ENR |= RCC_AHB1ENR_DMA1EN;
    (void)RCC->AHB1ENR;
    unsigned int x = dac_stream(self);
    dma_stream_stop(DMA1, x);
    dma_stream_regs_t *s = &DMA1->S[x];
    uint32_t size = self->bits == 8 ? DMA_SxCR_PSIZE_8 | DMA_SxCR_MSIZE_8 : DMA_SxCR_PSIZE_16 | DMA_SxCR_MSIZE_16;
    s->CR = DMA_SxCR_CHSEL(DAC_DMA_CHANNEL) | DMA_SxCR_DIR_M2P | DMA_SxCR_MINC | size | (uint32_t)args[ARG_mode].u_int;
    s->FCR = DMA_SxFCR_RESET; // direct mode
    s->NDTR = n;
    s->PAR = (uint32_t)dac_dhr(self);
    s->M0AR = (uint32_t)bufinfo.buf;
    self->timed_buf = args[ARG_data].u_obj;
    DAC->SR = DAC_SR_DMAUDR1 << dac_shift(self);
    s->CR |= DMA_SxCR_EN;
    DAC->CR |= DAC_CR_EN1 << dac_shift(self);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_dac_write_timed_obj, 1, pyb_dac_write_timed);

static const mp_rom_map_elem_t pyb_dac_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&pyb_dac_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_deinit), MP_ROM_PTR(&pyb_dac_deinit_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&pyb_dac_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_write_timed), MP_ROM_PTR(&pyb_dac_write_timed_obj) },
    { MP_ROM_QSTR(MP_QSTR_noise), MP_ROM_PTR(&pyb_dac_noise_obj) },
    { MP_ROM_QSTR(MP_QSTR_triangle), MP_ROM_PTR(&pyb_dac_triangle_obj) },
    { MP_ROM_QSTR(MP_QSTR_NORMAL), MP_ROM_INT(DAC_MODE_NORMAL) },
    { MP_ROM_QSTR(MP_QSTR_CIRCULAR), MP_ROM_INT(DAC_MODE_CIRCULAR) },
};
static MP_DEFINE_CONST_DICT(pyb_dac_locals_dict, pyb_dac_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_dac_type,
    MP_QSTR_DAC,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_dac_make_new,
    print, pyb_dac_print,
    locals_dict, &pyb_dac_locals_dict
    );
