// pybsim runtime: I2C1/I2C2 bus masters (pyb.I2C).
//
// Polled master transfers on the registers of RM0090 §27.3.3: START and wait SB, address
// and wait ADDR (or AF: nobody answered), then bytes on TxE/BTF, or received with the
// ACK/POS/STOP sequence the reference manual gives for 1, 2 and N bytes. Standard mode up
// to 100 kHz, fast mode (DUTY 16:9) above, from PCLK1 = 42 MHz. Slave mode, DMA and the
// general call are not supported (init says so).

#include <string.h>

#include "py/runtime.h"
#include "py/mphal.h"
#include "py/mperrno.h"
#include "stm32f405.h"
#include "pin.h"
#include "i2c.h"

#define I2C_MODE_MASTER (0)
#define I2C_MODE_SLAVE  (1)
#define I2C_DEFAULT_TIMEOUT_MS (5000)
#define I2C_AF (4)

typedef struct _pyb_i2c_obj_t {
    mp_obj_base_t base;
    uint8_t id;
    bool on;
} pyb_i2c_obj_t;

static pyb_i2c_obj_t pyb_i2c_obj[2] = {
    { {&pyb_i2c_type}, 1, false },
    { {&pyb_i2c_type}, 2, false },
};

i2c_regs_t *i2c_regs(int id) {
    static i2c_regs_t *const regs[3] = {
        (i2c_regs_t *)I2C1_BASE, (i2c_regs_t *)I2C2_BASE, (i2c_regs_t *)I2C3_BASE,
    };
    return regs[id - 1];
}

// SCL and SDA: I2C1 on PB6/PB7 (X9/X10), I2C2 on PB10/PB11 (Y9/Y10), AF4 open drain.
static void i2c_pins(int id) {
    uint8_t scl = id == 1 ? 6 : 10;
    pin_obj_t p = { {&pin_type}, MP_QSTRnull, 1, scl };
    pin_config(&p, PIN_MODE_AF_OD, PIN_PULL_UP, I2C_AF);
    p.pin = scl + 1;
    pin_config(&p, PIN_MODE_AF_OD, PIN_PULL_UP, I2C_AF);
}

void i2c_master_init(int id, uint32_t freq) {
    i2c_regs_t *i2c = i2c_regs(id);
    uint32_t bit = RCC_APB1ENR_I2C1EN << (id - 1);
    i2c_pins(id);
    RCC->APB1RSTR |= bit;
    RCC->APB1RSTR &= ~bit;
    RCC->APB1ENR |= bit;
    (void)RCC->APB1ENR;
    const uint32_t pclk1 = PYB_PCLK1_HZ, mhz = PYB_PCLK1_HZ / 1000000;
    if (freq == 0) {
        freq = 1;
    }
    if (freq > 400000) {
        freq = 400000;
    }
    i2c->CR1 = 0;
    i2c->CR2 = mhz;
    i2c->OAR1 = 0;
    i2c->OAR2 = 0;
    // SCL period: 2 x CCR periods of PCLK1 in standard mode, 25 x CCR in fast mode with
    // DUTY (16:9); CCR rounded up so the clock is never faster than asked.
    if (freq <= 100000) {
        uint32_t ccr = (pclk1 + 2 * freq - 1) / (2 * freq);
        i2c->CCR = ccr < 4 ? 4 : ccr;
        i2c->TRISE = mhz + 1; // 1000 ns rise time
    } else {
        uint32_t ccr = (pclk1 + 25 * freq - 1) / (25 * freq);
        i2c->CCR = I2C_CCR_FS | I2C_CCR_DUTY | (ccr < 1 ? 1 : ccr);
        i2c->TRISE = mhz * 3 / 10 + 1; // 300 ns rise time
    }
    i2c->CR1 = I2C_CR1_PE;
}

void i2c_deinit(int id) {
    i2c_regs(id)->CR1 = 0;
    RCC->APB1ENR &= ~(RCC_APB1ENR_I2C1EN << (id - 1));
}

// Waits until SR1 has one of `mask`; returns SR1, or 0 on timeout.
static uint32_t i2c_wait(i2c_regs_t *i2c, uint32_t mask, uint32_t timeout_ms) {
    uint32_t start = mp_hal_ticks_ms();
    for (;;) {
        uint32_t sr1 = i2c->SR1;
        if (sr1 & mask) {
            return sr1;
        }
        if (mp_hal_ticks_ms() - start >= timeout_ms) {
            return 0;
        }
    }
}

// Sends a stop and waits for it to go out.
static int i2c_stop(i2c_regs_t *i2c, uint32_t timeout_ms) {
    i2c->CR1 |= I2C_CR1_STOP;
    uint32_t start = mp_hal_ticks_ms();
    while (i2c->CR1 & I2C_CR1_STOP) {
        if (mp_hal_ticks_ms() - start >= timeout_ms) {
            return -MP_ETIMEDOUT;
        }
    }
    return 0;
}

// After a timeout the peripheral may be stuck mid-transfer: disable it and enable it
// again (a bus reset).
static int i2c_timed_out(i2c_regs_t *i2c) {
    uint32_t cr1 = i2c->CR1 & ~(I2C_CR1_START | I2C_CR1_STOP);
    i2c->CR1 = 0;
    i2c->CR1 = cr1 | I2C_CR1_PE;
    return -MP_ETIMEDOUT;
}

int i2c_start_addr(i2c_regs_t *i2c, bool read, uint8_t addr, size_t read_len, uint32_t timeout_ms) {
    i2c->CR1 = (i2c->CR1 & ~I2C_CR1_POS) | I2C_CR1_PE | I2C_CR1_START;
    if (!i2c_wait(i2c, I2C_SR1_SB, timeout_ms)) {
        return i2c_timed_out(i2c);
    }
    i2c->DR = (uint32_t)(addr << 1) | (read ? 1 : 0);
    uint32_t sr1 = i2c_wait(i2c, I2C_SR1_ADDR | I2C_SR1_AF, timeout_ms);
    if (!sr1) {
        return i2c_timed_out(i2c);
    }
    if (sr1 & I2C_SR1_AF) {
        i2c->SR1 = ~I2C_SR1_AF;
        i2c_stop(i2c, timeout_ms);
        return -MP_ENODEV;
    }
    if (read) {
        // The acknowledge the master gives each byte (RM0090 §27.3.3, master receiver):
        // one byte gets a NACK; of two, the second (POS); of more, all but the last.
        if (read_len <= 1) {
            i2c->CR1 &= ~I2C_CR1_ACK;
        } else if (read_len == 2) {
            i2c->CR1 = (i2c->CR1 & ~I2C_CR1_ACK) | I2C_CR1_POS;
        } else {
            i2c->CR1 |= I2C_CR1_ACK;
        }
    }
    (void)i2c->SR2; // SR1 then SR2 clears ADDR
    return 0;
}

int i2c_send_bytes(i2c_regs_t *i2c, const uint8_t *src, size_t len, bool stop, uint32_t timeout_ms) {
    for (size_t i = 0; i < len; i++) {
        if (!i2c_wait(i2c, I2C_SR1_TXE | I2C_SR1_AF, timeout_ms)) {
            return i2c_timed_out(i2c);
        }
        i2c->DR = src[i];
        uint32_t sr1 = i2c_wait(i2c, I2C_SR1_BTF | I2C_SR1_AF, timeout_ms);
        if (!sr1) {
            return i2c_timed_out(i2c);
        }
        if (sr1 & I2C_SR1_AF) {
            i2c->SR1 = ~I2C_SR1_AF;
            i2c_stop(i2c, timeout_ms);
            return -MP_EIO;
        }
    }
    if (stop) {
        return i2c_stop(i2c, timeout_ms);
    }
    return 0;
}

int i2c_recv_bytes(i2c_regs_t *i2c, uint8_t *dst, size_t len, uint32_t timeout_ms) {
    if (len == 1) {
        i2c->CR1 |= I2C_CR1_STOP;
        if (!i2c_wait(i2c, I2C_SR1_RXNE, timeout_ms)) {
            return i2c_timed_out(i2c);
        }
        dst[0] = i2c->DR;
    } else {
        size_t left = len;
        while (left > 3) {
            if (!i2c_wait(i2c, I2C_SR1_RXNE, timeout_ms)) {
                return i2c_timed_out(i2c);
            }
            *dst++ = i2c->DR;
            left--;
        }
        if (left == 3) {
            // Data N-2 in DR, N-1 in the shift register: NACK the last one.
            if (!i2c_wait(i2c, I2C_SR1_BTF, timeout_ms)) {
                return i2c_timed_out(i2c);
            }
            i2c->CR1 &= ~I2C_CR1_ACK;
            *dst++ = i2c->DR;
        }
        // The last two bytes: one in DR, one in the shift register.
        if (!i2c_wait(i2c, I2C_SR1_BTF, timeout_ms)) {
            return i2c_timed_out(i2c);
        }
        i2c->CR1 |= I2C_CR1_STOP;
        *dst++ = i2c->DR;
        *dst = i2c->DR;
    }
    uint32_t start = mp_hal_ticks_ms();
    while (i2c->CR1 & I2C_CR1_STOP) {
        if (mp_hal_ticks_ms() - start >= timeout_ms) {
            return i2c_timed_out(i2c);
        }
    }
    i2c->CR1 &= ~I2C_CR1_POS;
    return 0;
}

int i2c_writeto(int id, uint8_t addr, const uint8_t *src, size_t len, bool stop, uint32_t timeout_ms) {
    i2c_regs_t *i2c = i2c_regs(id);
    int ret = i2c_start_addr(i2c, false, addr, 0, timeout_ms);
    if (ret < 0) {
        return ret;
    }
    return i2c_send_bytes(i2c, src, len, stop, timeout_ms);
}

int i2c_readfrom(int id, uint8_t addr, uint8_t *dst, size_t len, uint32_t timeout_ms) {
    i2c_regs_t *i2c = i2c_regs(id);
    int ret = i2c_start_addr(i2c, true, addr, len, timeout_ms);
    if (ret < 0) {
        return ret;
    }
    return i2c_recv_bytes(i2c, dst, len, timeout_ms);
}

// ---------------------------------------------------------------------------
// pyb.I2C

static void i2c_check(int ret) {
    if (ret == -MP_ENODEV) {
        // As the Pyboard: a device that does not answer is an I/O error.
        mp_raise_OSError(MP_EIO);
    } else if (ret < 0) {
        mp_raise_OSError(-ret);
    }
}

static pyb_i2c_obj_t *i2c_self(mp_obj_t self_in) {
    pyb_i2c_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (!self->on) {
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("I2C bus not initialised"));
    }
    return self;
}

static void pyb_i2c_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    pyb_i2c_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (!self->on) {
        mp_printf(print, "I2C(%u)", self->id);
        return;
    }
    uint32_t ccr = i2c_regs(self->id)->CCR;
    uint32_t n = ccr & 0xfff;
    uint32_t baud = ccr & I2C_CCR_FS ? PYB_PCLK1_HZ / (25 * n) : PYB_PCLK1_HZ / (2 * n);
    mp_printf(print, "I2C(%u, I2C.MASTER, baudrate=%u)", self->id, (unsigned int)baud);
}

static mp_obj_t pyb_i2c_init_helper(pyb_i2c_obj_t *self, size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_mode, ARG_addr, ARG_baudrate, ARG_gencall, ARG_dma };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_mode, MP_ARG_INT, {.u_int = I2C_MODE_MASTER} },
        { MP_QSTR_addr, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0x12} },
        { MP_QSTR_baudrate, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 400000} },
        { MP_QSTR_gencall, MP_ARG_KW_ONLY | MP_ARG_BOOL, {.u_bool = false} },
        { MP_QSTR_dma, MP_ARG_KW_ONLY | MP_ARG_BOOL, {.u_bool = false} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    if (args[ARG_mode].u_int != I2C_MODE_MASTER) {
        mp_raise_NotImplementedError(MP_ERROR_TEXT("I2C slave mode not supported"));
    }
    if (args[ARG_gencall].u_bool) {
        mp_raise_NotImplementedError(MP_ERROR_TEXT("I2C general call not supported"));
    }
    if (args[ARG_baudrate].u_int <= 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid baudrate"));
    }
    // dma=True is accepted; transfers are polled.
    i2c_master_init(self->id, args[ARG_baudrate].u_int);
    self->on = true;
    return mp_const_none;
}

static mp_obj_t pyb_i2c_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, MP_OBJ_FUN_ARGS_MAX, true);
    int id;
    if (mp_obj_is_str(args[0])) {
        const char *s = mp_obj_str_get_str(args[0]);
        if (strcmp(s, "X") == 0) {
            id = 1;
        } else if (strcmp(s, "Y") == 0) {
            id = 2;
        } else {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("I2C(%s) doesn't exist"), s);
        }
    } else {
        id = mp_obj_get_int(args[0]);
        if (id < 1 || id > 2) {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("I2C(%d) doesn't exist"), id);
        }
    }
    pyb_i2c_obj_t *self = &pyb_i2c_obj[id - 1];
    if (n_args > 1 || n_kw > 0) {
        mp_map_t kw_args;
        mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
        pyb_i2c_init_helper(self, n_args - 1, args + 1, &kw_args);
    }
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t pyb_i2c_init(size_t n_args, const mp_obj_t *args, mp_map_t *kw_args) {
    return pyb_i2c_init_helper(MP_OBJ_TO_PTR(args[0]), n_args - 1, args + 1, kw_args);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_i2c_init_obj, 1, pyb_i2c_init);

static mp_obj_t pyb_i2c_deinit(mp_obj_t self_in) {
    pyb_i2c_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->on) {
        i2c_deinit(self->id);
        self->on = false;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_i2c_deinit_obj, pyb_i2c_deinit);

// Whether the device at `addr` acknowledges its address (a start, the address, a stop).
static bool i2c_probe(pyb_i2c_obj_t *self, uint8_t addr) {
    i2c_regs_t *i2c = i2c_regs(self->id);
    int ret = i2c_start_addr(i2c, false, addr, 0, 10);
    if (ret == 0) {
        i2c_stop(i2c, 10);
    }
    return ret == 0;
}

static mp_obj_t pyb_i2c_is_ready(mp_obj_t self_in, mp_obj_t addr_in) {
    pyb_i2c_obj_t *self = i2c_self(self_in);
    mp_int_t addr = mp_obj_get_int(addr_in);
    for (int i = 0; i < 10; i++) {
        if (i2c_probe(self, addr & 0x7f)) {
            return mp_const_true;
        }
    }
    return mp_const_false;
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_i2c_is_ready_obj, pyb_i2c_is_ready);

// The addresses 0x08..0x77 that answer.
static mp_obj_t pyb_i2c_scan(mp_obj_t self_in) {
    pyb_i2c_obj_t *self = i2c_self(self_in);
    mp_obj_t list = mp_obj_new_list(0, NULL);
    for (uint8_t addr = 0x08; addr < 0x78; addr++) {
        if (i2c_probe(self, addr)) {
            mp_obj_list_append(list, MP_OBJ_NEW_SMALL_INT(addr));
        }
    }
    return list;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_i2c_scan_obj, pyb_i2c_scan);

// A buffer to receive into: `data` itself, or a new bytes of length `data`.
static mp_obj_t i2c_recv_buffer(mp_obj_t data, vstr_t *vstr, mp_buffer_info_t *bufinfo) {
    if (mp_obj_is_int(data)) {
        mp_int_t n = mp_obj_get_int(data);
        if (n < 1) {
            mp_raise_ValueError(MP_ERROR_TEXT("need at least one byte"));
        }
        vstr_init_len(vstr, n);
        bufinfo->buf = vstr->buf;
        bufinfo->len = vstr->len;
        return MP_OBJ_NULL;
    }
    mp_get_buffer_raise(data, bufinfo, MP_BUFFER_WRITE);
    if (bufinfo->len == 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("need at least one byte"));
    }
    return data;
}

static mp_obj_t i2c_recv_result(mp_obj_t given, vstr_t *vstr) {
    if (given == MP_OBJ_NULL) {
        return mp_obj_new_bytes_from_vstr(vstr);
    }
    return given;
}

static mp_obj_t pyb_i2c_send(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_send, ARG_addr, ARG_timeout };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_send, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_addr, MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = I2C_DEFAULT_TIMEOUT_MS} },
    };
    pyb_i2c_obj_t *self = i2c_self(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    uint8_t one;
    mp_buffer_info_t bufinfo;
    if (mp_obj_is_int(args[ARG_send].u_obj)) {
        one = mp_obj_get_int(args[ARG_send].u_obj);
        bufinfo.buf = &one;
        bufinfo.len = 1;
    } else {
        mp_get_buffer_raise(args[ARG_send].u_obj, &bufinfo, MP_BUFFER_READ);
    }
    i2c_check(i2c_writeto(self->id, args[ARG_addr].u_int, bufinfo.buf, bufinfo.len, true, args[ARG_timeout].u_int));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_i2c_send_obj, 1, pyb_i2c_send);

static mp_obj_t pyb_i2c_recv(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_recv, ARG_addr, ARG_timeout };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_recv, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_addr, MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = I2C_DEFAULT_TIMEOUT_MS} },
    };
    pyb_i2c_obj_t *self = i2c_self(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    vstr_t vstr;
    mp_buffer_info_t bufinfo;
    mp_obj_t given = i2c_recv_buffer(args[ARG_recv].u_obj, &vstr, &bufinfo);
    i2c_check(i2c_readfrom(self->id, args[ARG_addr].u_int, bufinfo.buf, bufinfo.len, args[ARG_timeout].u_int));
    return i2c_recv_result(given, &vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_i2c_recv_obj, 1, pyb_i2c_recv);

static const mp_arg_t pyb_i2c_mem_args[] = {
    { MP_QSTR_data, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
    { MP_QSTR_addr, MP_ARG_REQUIRED | MP_ARG_INT, {.u_int = 0} },
    { MP_QSTR_memaddr, MP_ARG_REQUIRED | MP_ARG_INT, {.u_int = 0} },
    { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = I2C_DEFAULT_TIMEOUT_MS} },
    { MP_QSTR_addr_size, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 8} },
};
enum { ARG_mem_data, ARG_mem_addr, ARG_mem_memaddr, ARG_mem_timeout, ARG_mem_addr_size };

// The memory address as 1 or 2 bytes, most significant first; returns the length.
static size_t i2c_memaddr(mp_arg_val_t *args, uint8_t *out) {
    mp_int_t memaddr = args[ARG_mem_memaddr].u_int;
    if (args[ARG_mem_addr_size].u_int == 16) {
        out[0] = memaddr >> 8;
        out[1] = memaddr;
        return 2;
    }
    out[0] = memaddr;
    return 1;
}

static mp_obj_t pyb_i2c_mem_read(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    pyb_i2c_obj_t *self = i2c_self(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(pyb_i2c_mem_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(pyb_i2c_mem_args), pyb_i2c_mem_args, args);
    vstr_t vstr;
    mp_buffer_info_t bufinfo;
    mp_obj_t given = i2c_recv_buffer(args[ARG_mem_data].u_obj, &vstr, &bufinfo);
    uint8_t mem[2];
    size_t mem_len = i2c_memaddr(args, mem);
    uint8_t addr = args[ARG_mem_addr].u_int;
    uint32_t timeout = args[ARG_mem_timeout].u_int;
    i2c_check(i2c_writeto(self->id, addr, mem, mem_len, false, timeout));
    i2c_check(i2c_readfrom(self->id, addr, bufinfo.buf, bufinfo.len, timeout));
    return i2c_recv_result(given, &vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_i2c_mem_read_obj, 1, pyb_i2c_mem_read);

static mp_obj_t pyb_i2c_mem_write(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    pyb_i2c_obj_t *self = i2c_self(pos_args[0]);
    mp_arg_val_t args[MP_ARRAY_SIZE(pyb_i2c_mem_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(pyb_i2c_mem_args), pyb_i2c_mem_args, args);
    uint8_t one;
    mp_buffer_info_t bufinfo;
    if (mp_obj_is_int(args[ARG_mem_data].u_obj)) {
        one = mp_obj_get_int(args[ARG_mem_data].u_obj);
        bufinfo.buf = &one;
        bufinfo.len = 1;
    } else {
        mp_get_buffer_raise(args[ARG_mem_data].u_obj, &bufinfo, MP_BUFFER_READ);
    }
    uint8_t mem[2];
    size_t mem_len = i2c_memaddr(args, mem);
    uint8_t addr = args[ARG_mem_addr].u_int;
    uint32_t timeout = args[ARG_mem_timeout].u_int;
    i2c_regs_t *i2c = i2c_regs(self->id);
    i2c_check(i2c_start_addr(i2c, false, addr, 0, timeout));
    i2c_check(i2c_send_bytes(i2c, mem, mem_len, false, timeout));
    i2c_check(i2c_send_bytes(i2c, bufinfo.buf, bufinfo.len, true, timeout));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_i2c_mem_write_obj, 1, pyb_i2c_mem_write);

static const mp_rom_map_elem_t pyb_i2c_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&pyb_i2c_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_deinit), MP_ROM_PTR(&pyb_i2c_deinit_obj) },
    { MP_ROM_QSTR(MP_QSTR_is_ready), MP_ROM_PTR(&pyb_i2c_is_ready_obj) },
    { MP_ROM_QSTR(MP_QSTR_scan), MP_ROM_PTR(&pyb_i2c_scan_obj) },
    { MP_ROM_QSTR(MP_QSTR_send), MP_ROM_PTR(&pyb_i2c_send_obj) },
    { MP_ROM_QSTR(MP_QSTR_recv), MP_ROM_PTR(&pyb_i2c_recv_obj) },
    { MP_ROM_QSTR(MP_QSTR_mem_read), MP_ROM_PTR(&pyb_i2c_mem_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_mem_write), MP_ROM_PTR(&pyb_i2c_mem_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_MASTER), MP_ROM_INT(I2C_MODE_MASTER) },
    { MP_ROM_QSTR(MP_QSTR_SLAVE), MP_ROM_INT(I2C_MODE_SLAVE) },
};
static MP_DEFINE_CONST_DICT(pyb_i2c_locals_dict, pyb_i2c_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_i2c_type,
    MP_QSTR_I2C,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_i2c_make_new,
    print, pyb_i2c_print,
    locals_dict, &pyb_i2c_locals_dict
    );
