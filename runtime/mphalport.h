// pybsim runtime: hardware abstraction used by the MicroPython core.

#ifndef PYBSIM_MPHALPORT_H
#define PYBSIM_MPHALPORT_H

#include "py/obj.h"
#include "stm32f405.h"
#include "shared/runtime/interrupt_char.h"

#define PYB_SYSCLK_HZ   (168000000u)
#define PYB_HCLK_HZ     (168000000u)
#define PYB_PCLK1_HZ    (42000000u)
#define PYB_PCLK2_HZ    (84000000u)

extern volatile uint32_t pyb_ticks_ms;

// Interrupt masking through PRIMASK.
static inline uint32_t pyb_disable_irq(void) {
    uint32_t state;
    __asm volatile ("mrs %0, primask\n cpsid i" : "=r" (state) :: "memory");
    return state;
}

static inline void pyb_enable_irq(uint32_t state) {
    __asm volatile ("msr primask, %0" :: "r" (state) : "memory");
}

static inline uint32_t pyb_get_ipsr(void) {
    uint32_t ipsr;
    __asm volatile ("mrs %0, ipsr" : "=r" (ipsr));
    return ipsr;
}

#define MICROPY_BEGIN_ATOMIC_SECTION()      pyb_disable_irq()
#define MICROPY_END_ATOMIC_SECTION(state)   pyb_enable_irq(state)

// The soft timers' heap is changed from PendSV and from thread code.
#define MICROPY_PY_PENDSV_ENTER             uint32_t pendsv_state = pyb_disable_irq()
#define MICROPY_PY_PENDSV_EXIT              pyb_enable_irq(pendsv_state)

#ifndef __IO
#define __IO volatile
#endif

// Sleep until the next interrupt (SysTick fires every millisecond).
#define MICROPY_INTERNAL_WFE(TIMEOUT_MS)    __asm volatile ("wfi")

static inline mp_uint_t mp_hal_ticks_ms(void) {
    return pyb_ticks_ms;
}

static inline mp_uint_t mp_hal_ticks_cpu(void) {
    return DWT_CYCCNT;
}

mp_uint_t mp_hal_ticks_us(void);
uint64_t mp_hal_time_ns(void);
void mp_hal_delay_ms(mp_uint_t ms);
void mp_hal_delay_us(mp_uint_t us);
uintptr_t mp_hal_stdio_poll(uintptr_t poll_flags);

#define mp_hal_quiet_timing_enter() pyb_disable_irq()
#define mp_hal_quiet_timing_exit(irq_state) pyb_enable_irq(irq_state)
#define mp_hal_delay_us_fast(us) mp_hal_delay_us(us)

// Run a Python callback from an interrupt handler with the heap locked.
// Returns MP_OBJ_NULL on success, else the exception raised.
mp_obj_t pyb_irq_call(mp_obj_t callback, mp_obj_t arg);

// Console ring buffer, filled from SysTick.
void console_init(void);
void console_poll(void);
int console_rx_any(void);

// Called from the SysTick handler every millisecond.
void pyb_systick_init(void);
void pyb_dwt_init(void);

#endif // PYBSIM_MPHALPORT_H
