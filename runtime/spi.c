// pybsim runtime: SPI1 and SPI2 (pyb.SPI and machine.SPI), polling, through
// the SPI registers (RM0090 section 28).
//
// SPI1 is on X6 (PA5, SCK), X7 (PA6, MISO), X8 (PA7, MOSI); SPI2 on Y6 (PB13),
// Y7 (PB14), Y8 (PB15); both on alternate function 5. NSS is managed by
// software (SSM = 1): a master keeps SSI = 1, a slave is always selected.

#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "extmod/modmachine.h"
#include "mphalport.h"
#include "pin.h"
#include "spi.h"

#define SPI_AF (5)
#define SPI_MAX_ID (2)
#define SPI_DEFAULT_TIMEOUT_MS (5000)

// pyb.SPI constants, with the values of the real board.
#define PYB_SPI_MASTER (SPI_CR1_MSTR | SPI_CR1_SSI)
#define PYB_SPI_SLAVE (0)
#define PYB_SPI_MSB (0)
#define PYB_SPI_LSB (SPI_CR1_LSBFIRST)

typedef struct _spi_info_t {
    spi_regs_t *regs;
    uint8_t apb;
    uint32_t en;
    const pin_obj_t *sck;
    const pin_obj_t *miso;
    const pin_obj_t *mosi;
} spi_info_t;

extern const pin_obj_t pin_A5, pin_A6, pin_A7, pin_B13, pin_B14, pin_B15;

static const spi_info_t spi_info[SPI_MAX_ID + 1] = {
    [1] = { SPI1, 2, RCC_APB2ENR_SPI1EN, &pin_A5, &pin_A6, &pin_A7 },
    [2] = { SPI2, 1, RCC_APB1ENR_SPI2EN, &pin_B13, &pin_B14, &pin_B15 },
};

typedef struct _spi_obj_t {
    mp_obj_base_t base;
    uint8_t id;
} spi_obj_t;

static uint32_t spi_pclk(int id) {
    return spi_info[id].apb == 2 ? PYB_PCLK2_HZ : PYB_PCLK1_HZ;
}

static int spi_id_from_obj(mp_obj_t id_in) {
    int id;
    if (mp_obj_is_str(id_in)) {
        const char *s = mp_obj_str_get_str(id_in);
        if (strcmp(s, "X") == 0) {
            id = 1;
        } else if (strcmp(s, "Y") == 0) {
            id = 2;
        } else {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("SPI(%s) doesn't exist"), s);
        }
    } else {
        id = mp_obj_get_int(id_in);
        if (id < 1 || id > SPI_MAX_ID) {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("SPI(%d) doesn't exist"), id);
        }
    }
    return id;
}

// The BR field for a baud rate: the fastest rate not above the one asked for
// (the slowest, PCLK/256, when even that is too fast).
static uint32_t spi_br_from_baudrate(int id, uint32_t baudrate) {
    uint32_t pclk = spi_pclk(id);
    uint32_t br = 0;
    while (br < 7 && (pclk >> (br + 1)) > baudrate) {
        ++br;
    }
    return br;
}

// The BR field for a prescaler: the smallest of 2..256 not below it.
static uint32_t spi_br_from_prescaler(mp_int_t prescaler) {
    uint32_t br = 0;
    while (br < 7 && (2 << br) < prescaler) {
        ++br;
    }
    return br;
}

static bool spi_enabled(int id) {
    const spi_info_t *info = &spi_info[id];
    uint32_t en = info->apb == 2 ? RCC->APB2ENR : RCC->APB1ENR;
    return (en & info->en) && (info->regs->CR1 & SPI_CR1_SPE);
}

// Clock, pins, then the SPI block: `cr1` holds everything but SPE.
static void spi_hw_init(int id, uint32_t cr1) {
    const spi_info_t *info = &spi_info[id];
    if (info->apb == 2) {
        RCC->APB2ENR |= info->en;
        (void)RCC->APB2ENR;
    } else {
        RCC->APB1ENR |= info->en;
        (void)RCC->APB1ENR;
    }
    uint32_t sck_pull = (cr1 & SPI_CR1_CPOL) ? PIN_PULL_UP : PIN_PULL_DOWN;
    pin_config(info->sck, PIN_MODE_AF_PP, sck_pull, SPI_AF);
    pin_config(info->miso, PIN_MODE_AF_PP, PIN_PULL_NONE, SPI_AF);
    pin_config(info->mosi, PIN_MODE_AF_PP, PIN_PULL_NONE, SPI_AF);
    spi_regs_t *r = info->regs;
    r->CR1 = 0;
    r->CR2 = 0;
    (void)r->DR;
    (void)r->SR;
    r->CR1 = cr1 | SPI_CR1_SSM;
    r->CR1 = cr1 | SPI_CR1_SSM | SPI_CR1_SPE;
}

static void spi_hw_deinit(int id) {
    const spi_info_t *info = &spi_info[id];
    info->regs->CR1 = 0;
    if (info->apb == 2) {
        RCC->APB2ENR &= ~info->en;
    } else {
        RCC->APB1ENR &= ~info->en;
    }
}

static void spi_wait(spi_regs_t *r, uint32_t flag, uint32_t start, uint32_t timeout_ms) {
    while (!(r->SR & flag)) {
        if (mp_hal_ticks_ms() - start >= timeout_ms) {
            mp_raise_OSError(MP_ETIMEDOUT);
        }
    }
}

// Full-duplex transfer of `len` bytes: one frame per byte, or per half-word
// (little-endian in the buffers) with 16-bit frames. `src` NULL sends zeros,
// `dest` NULL drops what comes in.
static void spi_transfer(int id, size_t len, const uint8_t *src, uint8_t *dest, uint32_t timeout_ms) {
    spi_regs_t *r = spi_info[id].regs;
    if (!spi_enabled(id)) {
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("SPI not initialised"));
    }
    bool wide = (r->CR1 & SPI_CR1_DFF) != 0;
    if (wide && (len & 1)) {
        mp_raise_ValueError(MP_ERROR_TEXT("buffer length must be even for 16-bit frames"));
    }
    size_t step = wide ? 2 : 1;
    // A master drops a word left from before, which would be taken as the answer
    // to its first frame; a slave keeps it: it came from the master's clock.
    if ((r->CR1 & SPI_CR1_MSTR) && (r->SR & SPI_SR_RXNE)) {
        (void)r->DR;
    }
    (void)r->SR;
    for (size_t i = 0; i < len; i += step) {
        uint32_t start = mp_hal_ticks_ms();
        uint32_t w = 0;
        if (src != NULL) {
            w = wide ? (uint32_t)(src[i] | (src[i + 1] << 8)) : src[i];
        }
        spi_wait(r, SPI_SR_TXE, start, timeout_ms);
        r->DR = w;
        spi_wait(r, SPI_SR_RXNE, start, timeout_ms);
        uint32_t v = r->DR;
        if (dest != NULL) {
            dest[i] = v & 0xff;
            if (wide) {
                dest[i + 1] = (v >> 8) & 0xff;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// pyb.SPI

static void pyb_spi_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    spi_obj_t *self = MP_OBJ_TO_PTR(self_in);
    spi_regs_t *r = spi_info[self->id].regs;
    if (!spi_enabled(self->id)) {
        mp_printf(print, "SPI(%u)", self->id);
        return;
    }
    uint32_t cr1 = r->CR1;
    uint32_t prescaler = 2u << ((cr1 & SPI_CR1_BR_Msk) >> SPI_CR1_BR_Pos);
    if (cr1 & SPI_CR1_MSTR) {
        mp_printf(print, "SPI(%u, SPI.MASTER, baudrate=%u, prescaler=%u", self->id,
            (unsigned)(spi_pclk(self->id) / prescaler), (unsigned)prescaler);
    } else {
        mp_printf(print, "SPI(%u, SPI.SLAVE", self->id);
    }
    mp_printf(print, ", polarity=%u, phase=%u, bits=%u)", (cr1 & SPI_CR1_CPOL) ? 1 : 0,
        (cr1 & SPI_CR1_CPHA) ? 1 : 0, (cr1 & SPI_CR1_DFF) ? 16 : 8);
}

static mp_obj_t pyb_spi_init_helper(spi_obj_t *self, size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_mode, ARG_baudrate, ARG_prescaler, ARG_polarity, ARG_phase, ARG_dir, ARG_bits, ARG_nss, ARG_firstbit, ARG_ti, ARG_crc };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_mode, MP_ARG_REQUIRED | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_baudrate, MP_ARG_INT, {.u_int = 328125} },
        { MP_QSTR_prescaler, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_polarity, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 1} },
        { MP_QSTR_phase, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_dir, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_bits, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 8} },
        { MP_QSTR_nss, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_firstbit, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = PYB_SPI_MSB} },
        { MP_QSTR_ti, MP_ARG_KW_ONLY | MP_ARG_BOOL, {.u_bool = false} },
        { MP_QSTR_crc, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = mp_const_none} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    mp_int_t mode = args[ARG_mode].u_int;
    if (mode != PYB_SPI_MASTER && mode != PYB_SPI_SLAVE) {
        mp_raise_ValueError(MP_ERROR_TEXT("mode must be SPI.MASTER or SPI.SLAVE"));
    }
    mp_int_t bits = args[ARG_bits].u_int;
    if (bits != 8 && bits != 16) {
        mp_raise_ValueError(MP_ERROR_TEXT("bits must be 8 or 16"));
    }
    if (args[ARG_ti].u_bool || args[ARG_crc].u_obj != mp_const_none) {
        mp_raise_ValueError(MP_ERROR_TEXT("TI mode and CRC are not supported"));
    }
    uint32_t br;
    if (args[ARG_prescaler].u_int != -1) {
        mp_int_t p = args[ARG_prescaler].u_int;
        if (p < 2 || p > 256) {
            mp_raise_ValueError(MP_ERROR_TEXT("prescaler must be 2..256"));
        }
        br = spi_br_from_prescaler(p);
    } else {
        if (args[ARG_baudrate].u_int <= 0) {
            mp_raise_ValueError(MP_ERROR_TEXT("baudrate must be positive"));
        }
        br = spi_br_from_baudrate(self->id, args[ARG_baudrate].u_int);
    }
    uint32_t cr1 = (uint32_t)mode | (br << SPI_CR1_BR_Pos)
        | (args[ARG_polarity].u_int ? SPI_CR1_CPOL : 0)
        | (args[ARG_phase].u_int ? SPI_CR1_CPHA : 0)
        | (bits == 16 ? SPI_CR1_DFF : 0)
        | (args[ARG_firstbit].u_int == PYB_SPI_LSB ? SPI_CR1_LSBFIRST : 0);
    spi_hw_init(self->id, cr1);
    return mp_const_none;
}

static mp_obj_t pyb_spi_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, MP_OBJ_FUN_ARGS_MAX, true);
    spi_obj_t *self = mp_obj_malloc(spi_obj_t, type);
    self->id = spi_id_from_obj(args[0]);
    if (n_args > 1 || n_kw > 0) {
        mp_map_t kw_args;
        mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
        pyb_spi_init_helper(self, n_args - 1, args + 1, &kw_args);
    }
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t pyb_spi_init(size_t n_args, const mp_obj_t *args, mp_map_t *kw_args) {
    return pyb_spi_init_helper(MP_OBJ_TO_PTR(args[0]), n_args - 1, args + 1, kw_args);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_spi_init_obj, 1, pyb_spi_init);

static mp_obj_t pyb_spi_deinit(mp_obj_t self_in) {
    spi_obj_t *self = MP_OBJ_TO_PTR(self_in);
    spi_hw_deinit(self->id);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_spi_deinit_obj, pyb_spi_deinit);

// A buffer from an int (one byte) or an object with the buffer protocol.
static void spi_get_send_buffer(mp_obj_t o, mp_buffer_info_t *bufinfo, uint8_t *one) {
    if (mp_obj_is_int(o)) {
        *one = mp_obj_get_int(o);
        bufinfo->buf = one;
        bufinfo->len = 1;
        bufinfo->typecode = 'B';
    } else {
        mp_get_buffer_raise(o, bufinfo, MP_BUFFER_READ);
    }
}

// A receive buffer: a new bytearray of n bytes for an int, else the object's
// own buffer. Returns the object to hand back (a bytes object for an int).
static mp_obj_t spi_get_recv_buffer(mp_obj_t o, vstr_t *vstr, mp_buffer_info_t *bufinfo) {
    if (mp_obj_is_int(o)) {
        mp_int_t n = mp_obj_get_int(o);
        if (n < 0) {
            mp_raise_ValueError(MP_ERROR_TEXT("negative length"));
        }
        vstr_init_len(vstr, n);
        bufinfo->buf = vstr->buf;
        bufinfo->len = n;
        return MP_OBJ_NULL;
    }
    mp_get_buffer_raise(o, bufinfo, MP_BUFFER_WRITE);
    return o;
}

static mp_obj_t pyb_spi_send(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_send, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = SPI_DEFAULT_TIMEOUT_MS} },
    };
    spi_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    uint8_t one;
    mp_buffer_info_t bufinfo;
    spi_get_send_buffer(args[0].u_obj, &bufinfo, &one);
    spi_transfer(self->id, bufinfo.len, bufinfo.buf, NULL, args[1].u_int);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_spi_send_obj, 1, pyb_spi_send);

static mp_obj_t pyb_spi_recv(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_recv, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = SPI_DEFAULT_TIMEOUT_MS} },
    };
    spi_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    vstr_t vstr;
    mp_buffer_info_t bufinfo;
    mp_obj_t o = spi_get_recv_buffer(args[0].u_obj, &vstr, &bufinfo);
    spi_transfer(self->id, bufinfo.len, NULL, bufinfo.buf, args[1].u_int);
    return o == MP_OBJ_NULL ? mp_obj_new_bytes_from_vstr(&vstr) : o;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_spi_recv_obj, 1, pyb_spi_recv);

static mp_obj_t pyb_spi_send_recv(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_send, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_recv, MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = SPI_DEFAULT_TIMEOUT_MS} },
    };
    spi_obj_t *self = MP_OBJ_TO_PTR(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    uint8_t one;
    mp_buffer_info_t send;
    spi_get_send_buffer(args[0].u_obj, &send, &one);
    vstr_t vstr;
    mp_buffer_info_t recv;
    mp_obj_t o;
    if (args[1].u_obj == MP_OBJ_NULL) {
        o = spi_get_recv_buffer(MP_OBJ_NEW_SMALL_INT(send.len), &vstr, &recv);
    } else {
        o = spi_get_recv_buffer(args[1].u_obj, &vstr, &recv);
        if (recv.len != send.len) {
            mp_raise_ValueError(MP_ERROR_TEXT("recv must be the same length as send"));
        }
    }
    spi_transfer(self->id, send.len, send.buf, recv.buf, args[2].u_int);
    return o == MP_OBJ_NULL ? mp_obj_new_bytes_from_vstr(&vstr) : o;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_spi_send_recv_obj, 1, pyb_spi_send_recv);

static const mp_rom_map_elem_t pyb_spi_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&pyb_spi_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_deinit), MP_ROM_PTR(&pyb_spi_deinit_obj) },
    { MP_ROM_QSTR(MP_QSTR_send), MP_ROM_PTR(&pyb_spi_send_obj) },
    { MP_ROM_QSTR(MP_QSTR_recv), MP_ROM_PTR(&pyb_spi_recv_obj) },
    { MP_ROM_QSTR(MP_QSTR_send_recv), MP_ROM_PTR(&pyb_spi_send_recv_obj) },
    // machine.SPI's methods work on a pyb.SPI too, as on the real board.
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&mp_machine_spi_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&mp_machine_spi_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&mp_machine_spi_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_write_readinto), MP_ROM_PTR(&mp_machine_spi_write_readinto_obj) },

    { MP_ROM_QSTR(MP_QSTR_CONTROLLER), MP_ROM_INT(PYB_SPI_MASTER) },
    { MP_ROM_QSTR(MP_QSTR_PERIPHERAL), MP_ROM_INT(PYB_SPI_SLAVE) },
    { MP_ROM_QSTR(MP_QSTR_MASTER), MP_ROM_INT(PYB_SPI_MASTER) },
    { MP_ROM_QSTR(MP_QSTR_SLAVE), MP_ROM_INT(PYB_SPI_SLAVE) },
    { MP_ROM_QSTR(MP_QSTR_MSB), MP_ROM_INT(PYB_SPI_MSB) },
    { MP_ROM_QSTR(MP_QSTR_LSB), MP_ROM_INT(PYB_SPI_LSB) },
};
static MP_DEFINE_CONST_DICT(pyb_spi_locals_dict, pyb_spi_locals_dict_table);

static void spi_p_transfer(mp_obj_base_t *self_in, size_t len, const uint8_t *src, uint8_t *dest) {
    spi_obj_t *self = (spi_obj_t *)self_in;
    spi_transfer(self->id, len, src, dest, SPI_DEFAULT_TIMEOUT_MS);
}

static const mp_machine_spi_p_t pyb_spi_p = {
    .transfer = spi_p_transfer,
};

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_spi_type,
    MP_QSTR_SPI,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_spi_make_new,
    print, pyb_spi_print,
    protocol, &pyb_spi_p,
    locals_dict, &pyb_spi_locals_dict
    );

// ---------------------------------------------------------------------------
// machine.SPI

static void machine_spi_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    spi_obj_t *self = MP_OBJ_TO_PTR(self_in);
    uint32_t cr1 = spi_info[self->id].regs->CR1;
    uint32_t prescaler = 2u << ((cr1 & SPI_CR1_BR_Msk) >> SPI_CR1_BR_Pos);
    mp_printf(print, "SPI(%u, baudrate=%u, polarity=%u, phase=%u, bits=%u)", self->id,
        (unsigned)(spi_pclk(self->id) / prescaler), (cr1 & SPI_CR1_CPOL) ? 1 : 0,
        (cr1 & SPI_CR1_CPHA) ? 1 : 0, (cr1 & SPI_CR1_DFF) ? 16 : 8);
}

static void machine_spi_init(mp_obj_base_t *self_in, size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_baudrate, ARG_polarity, ARG_phase, ARG_bits, ARG_firstbit, ARG_sck, ARG_mosi, ARG_miso };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_baudrate, MP_ARG_INT, {.u_int = 500000} },
        { MP_QSTR_polarity, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_phase, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_bits, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 8} },
        { MP_QSTR_firstbit, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = MICROPY_PY_MACHINE_SPI_MSB} },
        { MP_QSTR_sck, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_mosi, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_miso, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
    };
    spi_obj_t *self = (spi_obj_t *)self_in;
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    const spi_info_t *info = &spi_info[self->id];
    const pin_obj_t *fixed[3] = { info->sck, info->mosi, info->miso };
    for (int i = 0; i < 3; ++i) {
        mp_obj_t p = args[ARG_sck + i].u_obj;
        if (p != MP_OBJ_NULL && pin_find(p) != fixed[i]) {
            mp_raise_ValueError(MP_ERROR_TEXT("explicit choice of sck/mosi/miso is not implemented"));
        }
    }
    mp_int_t bits = args[ARG_bits].u_int;
    if (bits != 8 && bits != 16) {
        mp_raise_ValueError(MP_ERROR_TEXT("bits must be 8 or 16"));
    }
    if (args[ARG_baudrate].u_int <= 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("baudrate must be positive"));
    }
    uint32_t br = spi_br_from_baudrate(self->id, args[ARG_baudrate].u_int);
    uint32_t cr1 = PYB_SPI_MASTER | (br << SPI_CR1_BR_Pos)
        | (args[ARG_polarity].u_int ? SPI_CR1_CPOL : 0)
        | (args[ARG_phase].u_int ? SPI_CR1_CPHA : 0)
        | (bits == 16 ? SPI_CR1_DFF : 0)
        | (args[ARG_firstbit].u_int == MICROPY_PY_MACHINE_SPI_LSB ? SPI_CR1_LSBFIRST : 0);
    spi_hw_init(self->id, cr1);
}

static void machine_spi_deinit(mp_obj_base_t *self_in) {
    spi_obj_t *self = (spi_obj_t *)self_in;
    spi_hw_deinit(self->id);
}

static mp_obj_t machine_spi_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, MP_OBJ_FUN_ARGS_MAX, true);
    spi_obj_t *self = mp_obj_malloc(spi_obj_t, type);
    self->id = spi_id_from_obj(args[0]);
    mp_map_t kw_args;
    mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
    machine_spi_init(&self->base, n_args - 1, args + 1, &kw_args);
    return MP_OBJ_FROM_PTR(self);
}

static const mp_machine_spi_p_t machine_spi_p = {
    .init = machine_spi_init,
    .deinit = machine_spi_deinit,
    .transfer = spi_p_transfer,
};

MP_DEFINE_CONST_OBJ_TYPE(
    machine_spi_type,
    MP_QSTR_SPI,
    MP_TYPE_FLAG_NONE,
    make_new, machine_spi_make_new,
    print, machine_spi_print,
    protocol, &machine_spi_p,
    locals_dict, &mp_machine_spi_locals_dict
    );

void spi_deinit_all(void) {
    for (int id = 1; id <= SPI_MAX_ID; ++id) {
        if (spi_enabled(id)) {
            spi_hw_deinit(id);
        }
    }
}
