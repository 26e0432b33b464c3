// pybsim runtime: console, SysTick time base and stdio for the MicroPython core.

#include <string.h>

#include "py/runtime.h"
#include "py/mphal.h"
#include "py/stream.h"
#include "py/gc.h"
#include "extmod/misc.h"
#include "shared/runtime/interrupt_char.h"
#include "shared/runtime/softtimer.h"
#include "mphalport.h"
#include "flashbdev.h"
#include "uart.h"

// ---------------------------------------------------------------------------
// pybsim console device (docs/console.md)

typedef struct {
    volatile uint32_t SR;
    volatile uint32_t DR;
    volatile uint32_t RXCNT;
    volatile uint32_t ID;
} console_regs_t;

#define CONSOLE ((console_regs_t *)PYBS_CONSOLE_BASE)
#define CONSOLE_SR_RXNE (1u << 0)
#define CONSOLE_SR_TXE  (1u << 1)
#define CONSOLE_ID      (0x70796273u)

#define CONSOLE_RX_BUF_SIZE (1024) // power of two

static uint8_t console_rx_buf[CONSOLE_RX_BUF_SIZE];
static volatile uint32_t console_rx_head; // written by the producer (SysTick)
static volatile uint32_t console_rx_tail; // written by the consumer
static bool console_present;

void console_init(void) {
    console_rx_head = 0;
    console_rx_tail = 0;
    console_present = CONSOLE->ID == CONSOLE_ID;
}

// Drain the console device into the ring buffer. Runs in the SysTick handler
// and, with interrupts masked, from the stdin reader.
void console_poll(void) {
    if (!console_present) {
        return;
    }
    while (CONSOLE->SR & CONSOLE_SR_RXNE) {
        uint32_t head = console_rx_head;
        if (head - console_rx_tail >= CONSOLE_RX_BUF_SIZE) {
            // Ring full: leave the rest waiting in the device.
            break;
        }
        uint8_t c = CONSOLE->DR;
        if (c == mp_interrupt_char) {
            // Like the USB CDC receive path on a real board: the interrupt
            // character is not queued, it raises KeyboardInterrupt.
            mp_sched_keyboard_interrupt();
            continue;
        }
        console_rx_buf[head & (CONSOLE_RX_BUF_SIZE - 1)] = c;
        console_rx_head = head + 1;
    }
}

int console_rx_any(void) {
    return console_rx_head != console_rx_tail;
}

static int console_rx_get(void) {
    uint32_t tail = console_rx_tail;
    if (tail == console_rx_head) {
        return -1;
    }
    int c = console_rx_buf[tail & (CONSOLE_RX_BUF_SIZE - 1)];
    console_rx_tail = tail + 1;
    return c;
}

static void console_tx_strn(const char *str, size_t len) {
    if (!console_present) {
        return;
    }
    while (len--) {
        while (!(CONSOLE->SR & CONSOLE_SR_TXE)) {
        }
        CONSOLE->DR = (uint8_t)*str++;
    }
}

// ---------------------------------------------------------------------------
// Time base: SysTick at 1 kHz from the processor clock, DWT cycle counter

#define SYSTICK_RELOAD (PYB_HCLK_HZ / 1000u - 1u)

volatile uint32_t pyb_ticks_ms;

void pyb_systick_init(void) {
    pyb_ticks_ms = 0;
    SYSTICK->CTRL = 0;
    SYSTICK->LOAD = SYSTICK_RELOAD;
    SYSTICK->VAL = 0;
    systick_set_priority(0);
    // PendSV runs the soft timers below every other interrupt.
    pendsv_set_priority(15);
    SYSTICK->CTRL = SYSTICK_CTRL_CLKSOURCE | SYSTICK_CTRL_TICKINT | SYSTICK_CTRL_ENABLE;
}

void pyb_dwt_init(void) {
    DEMCR |= DEMCR_TRCENA;
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
}

void SysTick_Handler(void) {
    uint32_t now = pyb_ticks_ms + 1;
    pyb_ticks_ms = now;
    console_poll();
    if (soft_timer_next == now) {
        SCB->ICSR = SCB_ICSR_PENDSVSET;
    }
    flashbdev_systick(now);
}

void PendSV_Handler(void) {
    soft_timer_handler();
}

mp_uint_t mp_hal_ticks_us(void) {
    uint32_t irq = pyb_disable_irq();
    uint32_t ms = pyb_ticks_ms;
    uint32_t val = SYSTICK->VAL;
    if (SCB->ICSR & SCB_ICSR_PENDSTSET) {
        // The counter wrapped but the tick is not yet counted: re-read the
        // counter so it is known to be after the wrap.
        val = SYSTICK->VAL;
        ms += 1;
    }
    pyb_enable_irq(irq);
    uint32_t elapsed_cycles = SYSTICK_RELOAD - val;
    return ms * 1000u + elapsed_cycles / (PYB_HCLK_HZ / 1000000u);
}

void mp_hal_delay_us(mp_uint_t us) {
    if (us > 10000) {
        uint32_t start = mp_hal_ticks_us();
        while (mp_hal_ticks_us() - start < us) {
        }
    } else {
        uint32_t start = DWT_CYCCNT;
        uint32_t cycles = us * (PYB_SYSCLK_HZ / 1000000u);
        while (DWT_CYCCNT - start < cycles) {
        }
    }
}

void mp_hal_delay_ms(mp_uint_t ms) {
    uint32_t primask;
    __asm volatile ("mrs %0, primask" : "=r" (primask));
    if (pyb_get_ipsr() != 0 || (primask & 1)) {
        // In an interrupt handler or with interrupts off, SysTick cannot
        // advance: busy-wait on the cycle counter instead.
        while (ms--) {
            mp_hal_delay_us(1000);
        }
        return;
    }
    uint32_t start = mp_hal_ticks_ms();
    while (mp_hal_ticks_ms() - start < ms) {
        mp_event_wait_indefinite();
    }
}

// ---------------------------------------------------------------------------
// Python callbacks from interrupt handlers ("hard" IRQs)

mp_obj_t pyb_irq_call(mp_obj_t callback, mp_obj_t arg) {
    mp_obj_t exc = MP_OBJ_NULL;
    mp_sched_lock();
    gc_lock();
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_call_function_1(callback, arg);
        nlr_pop();
    } else {
        exc = MP_OBJ_FROM_PTR(nlr.ret_val);
    }
    gc_unlock();
    mp_sched_unlock();
    return exc;
}

// ---------------------------------------------------------------------------
// stdio

uintptr_t mp_hal_stdio_poll(uintptr_t poll_flags) {
    uintptr_t ret = 0;
    if ((poll_flags & MP_STREAM_POLL_RD) && (console_rx_any() || pyb_uart_repl_rx_any())) {
        ret |= MP_STREAM_POLL_RD;
    }
    if (poll_flags & MP_STREAM_POLL_WR) {
        ret |= MP_STREAM_POLL_WR;
    }
    return ret;
}

int mp_hal_stdin_rx_chr(void) {
    for (;;) {
        uint32_t irq = pyb_disable_irq();
        console_poll();
        int c = console_rx_get();
        pyb_enable_irq(irq);
        if (c >= 0) {
            return c;
        }
        c = pyb_uart_repl_rx_chr();
        if (c >= 0) {
            return c;
        }
        mp_event_wait_indefinite();
    }
}

mp_uint_t mp_hal_stdout_tx_strn(const char *str, size_t len) {
    console_tx_strn(str, len);
    pyb_uart_repl_tx_strn(str, len);
    return len;
}
