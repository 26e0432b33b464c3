// pybsim runtime: pyb.UART on USART1, USART2, USART3, UART4, UART5, USART6.
//
// Reception is interrupt driven (RXNE) into a ring buffer; transmission polls
// TXE. Baud rate divisor with OVER8 = 0: BRR = fPCLK / baud (RM0090 30.3.4).

#include <string.h>

#include "py/runtime.h"
#include "py/stream.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "pin.h"
#include "uart.h"

#define UART_IRQ_PRIORITY   (10)
#define UART_MAX_ID         (6)

typedef struct _uart_info_t {
    uint32_t base;
    uint8_t apb;
    uint8_t en_bit;
    uint8_t irqn;
    uint8_t af;
    const pin_obj_t *tx;
    const pin_obj_t *rx;
} uart_info_t;

extern const pin_obj_t pin_A0, pin_A1, pin_A2, pin_A3, pin_B6, pin_B7, pin_B10, pin_B11,
    pin_C6, pin_C7, pin_C12, pin_D2;

static const uart_info_t uart_info[UART_MAX_ID + 1] = {
    [1] = { USART1_BASE, 2, 4, USART1_IRQn, 7, &pin_B6, &pin_B7 },
    [2] = { USART2_BASE, 1, 17, USART2_IRQn, 7, &pin_A2, &pin_A3 },
    [3] = { USART3_BASE, 1, 18, USART3_IRQn, 7, &pin_B10, &pin_B11 },
    [4] = { UART4_BASE, 1, 19, UART4_IRQn, 8, &pin_A0, &pin_A1 },
    [5] = { UART5_BASE, 1, 20, UART5_IRQn, 8, &pin_C12, &pin_D2 },
    [6] = { USART6_BASE, 2, 5, USART6_IRQn, 8, &pin_C6, &pin_C7 },
};

typedef struct _pyb_uart_obj_t {
    mp_obj_base_t base;
    uint8_t uart_id;
    bool is_enabled;
    uint8_t bits;
    uint8_t stop;
    mp_obj_t parity;
    uint32_t baudrate;
    uint16_t timeout;       // ms to wait for the first character
    uint16_t timeout_char;  // ms to wait between characters
    uint16_t rxbuf_len;     // ring size (one slot is kept free)
    volatile uint16_t rx_head;
    volatile uint16_t rx_tail;
    uint16_t char_mask;
    uint8_t *rxbuf;
} pyb_uart_obj_t;

MP_REGISTER_ROOT_POINTER(struct _pyb_uart_obj_t *pyb_uart_obj_all[6]);
MP_REGISTER_ROOT_POINTER(mp_obj_t pyb_repl_uart);

static inline usart_regs_t *uart_regs(const pyb_uart_obj_t *self) {
    return (usart_regs_t *)uart_info[self->uart_id].base;
}

void uart_init0(void) {
    for (int i = 0; i < UART_MAX_ID; ++i) {
        MP_STATE_PORT(pyb_uart_obj_all)[i] = NULL;
    }
    MP_STATE_PORT(pyb_repl_uart) = mp_const_none;
}

static void uart_hw_deinit(pyb_uart_obj_t *self) {
    self->is_enabled = false;
    nvic_disable_irq(uart_info[self->uart_id].irqn);
    uart_regs(self)->CR1 = 0;
}

void uart_deinit_all(void) {
    for (int i = 0; i < UART_MAX_ID; ++i) {
        pyb_uart_obj_t *self = MP_STATE_PORT(pyb_uart_obj_all)[i];
        if (self != NULL && self->is_enabled) {
            uart_hw_deinit(self);
        }
        MP_STATE_PORT(pyb_uart_obj_all)[i] = NULL;
    }
    MP_STATE_PORT(pyb_repl_uart) = mp_const_none;
}

static size_t uart_rx_count(const pyb_uart_obj_t *self) {
    int n = (int)self->rx_head - (int)self->rx_tail;
    if (n < 0) {
        n += self->rxbuf_len;
    }
    return n;
}

static int uart_rx_get(pyb_uart_obj_t *self) {
    if (self->rxbuf_len == 0) {
        usart_regs_t *u = uart_regs(self);
        if (u->SR & USART_SR_RXNE) {
            return u->DR & self->char_mask;
        }
        return -1;
    }
    uint16_t tail = self->rx_tail;
    if (tail == self->rx_head) {
        return -1;
    }
    int c = self->rxbuf[tail];
    self->rx_tail = (tail + 1) % self->rxbuf_len;
    return c;
}

static void uart_handle_irq(int id) {
    pyb_uart_obj_t *self = MP_STATE_PORT(pyb_uart_obj_all)[id - 1];
    usart_regs_t *u = (usart_regs_t *)uart_info[id].base;
    uint32_t sr = u->SR;
    if (!(sr & (USART_SR_RXNE | USART_SR_ORE))) {
        return;
    }
    uint32_t data = u->DR; // reading SR then DR clears RXNE and ORE
    if (self == NULL || !self->is_enabled) {
        u->CR1 &= ~USART_CR1_RXNEIE;
        return;
    }
    if (!(sr & USART_SR_RXNE) || self->rxbuf_len == 0) {
        return;
    }
    uint16_t next = (self->rx_head + 1) % self->rxbuf_len;
    if (next != self->rx_tail) {
        self->rxbuf[self->rx_head] = data & self->char_mask;
        self->rx_head = next;
    }
    // else: buffer full, character dropped
    if (mp_interrupt_char >= 0 && MP_STATE_PORT(pyb_repl_uart) == MP_OBJ_FROM_PTR(self)
        && (int)(data & 0xff) == mp_interrupt_char) {
        self->rx_head = self->rx_tail;
        mp_sched_keyboard_interrupt();
    }
}

void USART1_IRQHandler(void) {
    uart_handle_irq(1);
}

void USART2_IRQHandler(void) {
    uart_handle_irq(2);
}

void USART3_IRQHandler(void) {
    uart_handle_irq(3);
}

void UART4_IRQHandler(void) {
    uart_handle_irq(4);
}

void UART5_IRQHandler(void) {
    uart_handle_irq(5);
}

void USART6_IRQHandler(void) {
    uart_handle_irq(6);
}

static bool uart_tx_wait(pyb_uart_obj_t *self, uint32_t timeout_ms) {
    usart_regs_t *u = uart_regs(self);
    uint32_t start = mp_hal_ticks_ms();
    while (!(u->SR & USART_SR_TXE)) {
        if (mp_hal_ticks_ms() - start >= timeout_ms) {
            return false;
        }
    }
    return true;
}

static bool uart_tx_char(pyb_uart_obj_t *self, uint32_t c) {
    if (!uart_tx_wait(self, self->timeout_char + 10)) {
        return false;
    }
    uart_regs(self)->DR = c & self->char_mask;
    return true;
}

// Wait up to timeout ms for a received character.
static bool uart_rx_wait(pyb_uart_obj_t *self, uint32_t timeout) {
    uint32_t start = mp_hal_ticks_ms();
    for (;;) {
        if (uart_rx_count(self) > 0 || (self->rxbuf_len == 0 && (uart_regs(self)->SR & USART_SR_RXNE))) {
            return true;
        }
        if (mp_hal_ticks_ms() - start >= timeout) {
            return false;
        }
        mp_event_wait_indefinite();
    }
}

// ---------------------------------------------------------------------------
// repl_uart hooks for the stdio layer

int pyb_uart_repl_rx_any(void) {
    mp_obj_t o = MP_STATE_PORT(pyb_repl_uart);
    if (o == mp_const_none || o == MP_OBJ_NULL) {
        return 0;
    }
    return uart_rx_count(MP_OBJ_TO_PTR(o)) > 0;
}

int pyb_uart_repl_rx_chr(void) {
    mp_obj_t o = MP_STATE_PORT(pyb_repl_uart);
    if (o == mp_const_none || o == MP_OBJ_NULL) {
        return -1;
    }
    return uart_rx_get(MP_OBJ_TO_PTR(o));
}

void pyb_uart_repl_tx_strn(const char *str, size_t len) {
    mp_obj_t o = MP_STATE_PORT(pyb_repl_uart);
    if (o == mp_const_none || o == MP_OBJ_NULL) {
        return;
    }
    pyb_uart_obj_t *self = MP_OBJ_TO_PTR(o);
    if (!self->is_enabled) {
        return;
    }
    while (len--) {
        uart_tx_char(self, (uint8_t)*str++);
    }
}

mp_obj_t pyb_uart_repl_get(void) {
    return MP_STATE_PORT(pyb_repl_uart);
}

void pyb_uart_repl_set(mp_obj_t uart) {
    if (uart != mp_const_none && !mp_obj_is_type(uart, &pyb_uart_type)) {
        mp_raise_ValueError(MP_ERROR_TEXT("need a UART object"));
    }
    MP_STATE_PORT(pyb_repl_uart) = uart;
}

// ---------------------------------------------------------------------------
// Python bindings

static void pyb_uart_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    pyb_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (!self->is_enabled) {
        mp_printf(print, "UART(%u)", self->uart_id);
        return;
    }
    mp_printf(print, "UART(%u, baudrate=%u, bits=%u, parity=", self->uart_id,
        (unsigned)self->baudrate, self->bits);
    mp_obj_print_helper(print, self->parity, PRINT_REPR);
    mp_printf(print, ", stop=%u, flow=0, timeout=%u, timeout_char=%u, rxbuf=%u)",
        self->stop, self->timeout, self->timeout_char,
        self->rxbuf_len == 0 ? 0 : self->rxbuf_len - 1);
}

static mp_obj_t pyb_uart_init_helper(pyb_uart_obj_t *self, size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    enum { ARG_baudrate, ARG_bits, ARG_parity, ARG_stop, ARG_flow, ARG_timeout, ARG_timeout_char, ARG_rxbuf, ARG_read_buf_len };
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_baudrate, MP_ARG_REQUIRED | MP_ARG_INT, {.u_int = 9600} },
        { MP_QSTR_bits, MP_ARG_INT, {.u_int = 8} },
        { MP_QSTR_parity, MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_stop, MP_ARG_INT, {.u_int = 1} },
        { MP_QSTR_flow, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_timeout_char, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 0} },
        { MP_QSTR_rxbuf, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_read_buf_len, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 64} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args, pos_args, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    const uart_info_t *info = &uart_info[self->uart_id];
    usart_regs_t *u = (usart_regs_t *)info->base;

    mp_int_t baudrate = args[ARG_baudrate].u_int;
    if (baudrate <= 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid baudrate"));
    }
    mp_int_t bits = args[ARG_bits].u_int;
    mp_obj_t parity = args[ARG_parity].u_obj;
    uint32_t cr1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    uint32_t word_bits = bits;
    if (parity != mp_const_none) {
        cr1 |= USART_CR1_PCE;
        if (mp_obj_get_int(parity) & 1) {
            cr1 |= USART_CR1_PS;
        }
        word_bits += 1;
    }
    if (word_bits == 9) {
        cr1 |= USART_CR1_M;
    } else if (word_bits != 8) {
        mp_raise_ValueError(MP_ERROR_TEXT("unsupported combination of bits and parity"));
    }
    mp_int_t stop = args[ARG_stop].u_int;
    if (stop != 1 && stop != 2) {
        mp_raise_ValueError(MP_ERROR_TEXT("invalid stop bits"));
    }

    if (self->is_enabled) {
        uart_hw_deinit(self);
    }

    mp_int_t rxbuf = args[ARG_rxbuf].u_int >= 0 ? args[ARG_rxbuf].u_int : args[ARG_read_buf_len].u_int;
    if (rxbuf > 0) {
        self->rxbuf = m_new(uint8_t, rxbuf + 1);
        self->rxbuf_len = rxbuf + 1;
    } else {
        self->rxbuf = NULL;
        self->rxbuf_len = 0;
    }
    self->rx_head = 0;
    self->rx_tail = 0;
    self->bits = bits;
    self->stop = stop;
    self->parity = parity;
    self->baudrate = baudrate;
    self->char_mask = bits == 9 ? 0x1ff : (bits == 7 ? 0x7f : 0xff);
    self->timeout = args[ARG_timeout].u_int;
    // At least the time of two characters, as on the real board.
    uint32_t min_tc = 13000 / baudrate + 2;
    self->timeout_char = args[ARG_timeout_char].u_int < (mp_int_t)min_tc ? min_tc : args[ARG_timeout_char].u_int;

    // Clock, pins, then the USART itself.
    if (info->apb == 2) {
        RCC->APB2ENR |= 1u << info->en_bit;
        (void)RCC->APB2ENR;
    } else {
        RCC->APB1ENR |= 1u << info->en_bit;
        (void)RCC->APB1ENR;
    }
    pin_config(info->tx, PIN_MODE_AF_PP, PIN_PULL_UP, info->af);
    pin_config(info->rx, PIN_MODE_AF_PP, PIN_PULL_UP, info->af);

    uint32_t pclk = info->apb == 2 ? PYB_PCLK2_HZ : PYB_PCLK1_HZ;
    u->CR1 = 0;
    u->BRR = (pclk + baudrate / 2) / baudrate;
    u->CR2 = (stop == 2 ? 2u : 0u) << USART_CR2_STOP_Pos;
    u->CR3 = 0;
    (void)u->SR;
    (void)u->DR;
    u->CR1 = cr1;

    self->is_enabled = true;
    nvic_set_priority(info->irqn, UART_IRQ_PRIORITY);
    nvic_clear_pending(info->irqn);
    nvic_enable_irq(info->irqn);
    return mp_const_none;
}

static int uart_id_from_obj(mp_obj_t id_in) {
    if (mp_obj_is_str(id_in)) {
        const char *s = mp_obj_str_get_str(id_in);
        if (strcmp(s, "XA") == 0) {
            return 4;
        } else if (strcmp(s, "XB") == 0) {
            return 1;
        } else if (strcmp(s, "YA") == 0) {
            return 6;
        } else if (strcmp(s, "YB") == 0) {
            return 3;
        }
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("UART(%s) doesn't exist"), s);
    }
    mp_int_t id = mp_obj_get_int(id_in);
    if (id < 1 || id > UART_MAX_ID) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("UART(%d) doesn't exist"), (int)id);
    }
    return id;
}

static mp_obj_t pyb_uart_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 1, MP_OBJ_FUN_ARGS_MAX, true);
    int id = uart_id_from_obj(args[0]);
    pyb_uart_obj_t *self = MP_STATE_PORT(pyb_uart_obj_all)[id - 1];
    if (self == NULL) {
        self = mp_obj_malloc(pyb_uart_obj_t, &pyb_uart_type);
        memset((uint8_t *)self + sizeof(mp_obj_base_t), 0, sizeof(*self) - sizeof(mp_obj_base_t));
        self->uart_id = id;
        self->parity = mp_const_none;
        self->char_mask = 0xff;
        MP_STATE_PORT(pyb_uart_obj_all)[id - 1] = self;
    }
    if (n_args > 1 || n_kw > 0) {
        mp_map_t kw_args;
        mp_map_init_fixed_table(&kw_args, n_kw, args + n_args);
        pyb_uart_init_helper(self, n_args - 1, args + 1, &kw_args);
    }
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t pyb_uart_init(size_t n_args, const mp_obj_t *args, mp_map_t *kw_args) {
    return pyb_uart_init_helper(MP_OBJ_TO_PTR(args[0]), n_args - 1, args + 1, kw_args);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_uart_init_obj, 1, pyb_uart_init);

static mp_obj_t pyb_uart_deinit(mp_obj_t self_in) {
    pyb_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->is_enabled) {
        uart_hw_deinit(self);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_uart_deinit_obj, pyb_uart_deinit);

static mp_obj_t pyb_uart_any(mp_obj_t self_in) {
    pyb_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    size_t n = uart_rx_count(self);
    if (self->rxbuf_len == 0 && (uart_regs(self)->SR & USART_SR_RXNE)) {
        n = 1;
    }
    return MP_OBJ_NEW_SMALL_INT(n);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_uart_any_obj, pyb_uart_any);

static mp_obj_t pyb_uart_writechar(mp_obj_t self_in, mp_obj_t char_in) {
    pyb_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (!self->is_enabled) {
        mp_raise_ValueError(MP_ERROR_TEXT("UART not enabled"));
    }
    if (!uart_tx_char(self, mp_obj_get_int(char_in))) {
        mp_raise_OSError(MP_ETIMEDOUT);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_uart_writechar_obj, pyb_uart_writechar);

static mp_obj_t pyb_uart_readchar(mp_obj_t self_in) {
    pyb_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->is_enabled && uart_rx_wait(self, self->timeout)) {
        return MP_OBJ_NEW_SMALL_INT(uart_rx_get(self));
    }
    return MP_OBJ_NEW_SMALL_INT(-1);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_uart_readchar_obj, pyb_uart_readchar);

static mp_obj_t pyb_uart_sendbreak(mp_obj_t self_in) {
    pyb_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    uart_regs(self)->CR1 |= 1u; // SBK
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_uart_sendbreak_obj, pyb_uart_sendbreak);

static const mp_rom_map_elem_t pyb_uart_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_init), MP_ROM_PTR(&pyb_uart_init_obj) },
    { MP_ROM_QSTR(MP_QSTR_deinit), MP_ROM_PTR(&pyb_uart_deinit_obj) },
    { MP_ROM_QSTR(MP_QSTR_any), MP_ROM_PTR(&pyb_uart_any_obj) },
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&mp_stream_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_readline), MP_ROM_PTR(&mp_stream_unbuffered_readline_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&mp_stream_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&mp_stream_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_writechar), MP_ROM_PTR(&pyb_uart_writechar_obj) },
    { MP_ROM_QSTR(MP_QSTR_readchar), MP_ROM_PTR(&pyb_uart_readchar_obj) },
    { MP_ROM_QSTR(MP_QSTR_sendbreak), MP_ROM_PTR(&pyb_uart_sendbreak_obj) },
    { MP_ROM_QSTR(MP_QSTR_flush), MP_ROM_PTR(&mp_stream_flush_obj) },
    { MP_ROM_QSTR(MP_QSTR_RTS), MP_ROM_INT(1) },
    { MP_ROM_QSTR(MP_QSTR_CTS), MP_ROM_INT(2) },
};
static MP_DEFINE_CONST_DICT(pyb_uart_locals_dict, pyb_uart_locals_dict_table);

static mp_uint_t pyb_uart_read(mp_obj_t self_in, void *buf_in, mp_uint_t size, int *errcode) {
    pyb_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (!self->is_enabled) {
        *errcode = MP_EIO;
        return MP_STREAM_ERROR;
    }
    if (size == 0) {
        return 0;
    }
    uint8_t *buf = buf_in;
    if (!uart_rx_wait(self, self->timeout)) {
        *errcode = MP_EAGAIN;
        return MP_STREAM_ERROR;
    }
    size_t n = 0;
    for (;;) {
        int c = uart_rx_get(self);
        if (c < 0) {
            break;
        }
        buf[n++] = c;
        if (n == size) {
            break;
        }
        if (uart_rx_count(self) == 0 && !uart_rx_wait(self, self->timeout_char)) {
            break;
        }
    }
    return n;
}

static mp_uint_t pyb_uart_write(mp_obj_t self_in, const void *buf_in, mp_uint_t size, int *errcode) {
    pyb_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (!self->is_enabled) {
        *errcode = MP_EIO;
        return MP_STREAM_ERROR;
    }
    const uint8_t *buf = buf_in;
    for (mp_uint_t i = 0; i < size; ++i) {
        if (!uart_tx_char(self, buf[i])) {
            if (i == 0) {
                *errcode = MP_ETIMEDOUT;
                return MP_STREAM_ERROR;
            }
            return i;
        }
    }
    return size;
}

static mp_uint_t pyb_uart_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    pyb_uart_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (request == MP_STREAM_POLL) {
        uintptr_t flags = arg;
        mp_uint_t ret = 0;
        if ((flags & MP_STREAM_POLL_RD) && (uart_rx_count(self) > 0
                                            || (self->rxbuf_len == 0 && (uart_regs(self)->SR & USART_SR_RXNE)))) {
            ret |= MP_STREAM_POLL_RD;
        }
        if ((flags & MP_STREAM_POLL_WR) && (uart_regs(self)->SR & USART_SR_TXE)) {
            ret |= MP_STREAM_POLL_WR;
        }
        return ret;
    } else if (request == MP_STREAM_FLUSH) {
        usart_regs_t *u = uart_regs(self);
        uint32_t start = mp_hal_ticks_ms();
        while (!(u->SR & USART_SR_TC)) {
            if (mp_hal_ticks_ms() - start > 100) {
                *errcode = MP_ETIMEDOUT;
                return MP_STREAM_ERROR;
            }
        }
        return 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}

static const mp_stream_p_t pyb_uart_stream_p = {
    .read = pyb_uart_read,
    .write = pyb_uart_write,
    .ioctl = pyb_uart_ioctl,
    .is_text = false,
};

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_uart_type,
    MP_QSTR_UART,
    MP_TYPE_FLAG_ITER_IS_STREAM,
    make_new, pyb_uart_make_new,
    print, pyb_uart_print,
    protocol, &pyb_uart_stream_p,
    locals_dict, &pyb_uart_locals_dict
    );
