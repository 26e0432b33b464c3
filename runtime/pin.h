// pybsim runtime: GPIO pins (pyb.Pin / machine.Pin).

#ifndef PYBSIM_PIN_H
#define PYBSIM_PIN_H

#include "py/obj.h"
#include "stm32f405.h"

// Pin modes, same values as on the real Pyboard.
#define PIN_MODE_IN         (0x00)
#define PIN_MODE_OUT_PP     (0x01)
#define PIN_MODE_AF_PP      (0x02)
#define PIN_MODE_ANALOG     (0x03)
#define PIN_MODE_OUT_OD     (0x11)
#define PIN_MODE_AF_OD      (0x12)

#define PIN_PULL_NONE       (0)
#define PIN_PULL_UP         (1)
#define PIN_PULL_DOWN       (2)

// EXTI trigger modes (as exposed by pyb.ExtInt / Pin.irq on the real board).
#define PIN_IRQ_RISING          (0x10110000)
#define PIN_IRQ_FALLING         (0x10210000)
#define PIN_IRQ_RISING_FALLING  (0x10310000)
#define PIN_EVT_RISING          (0x10120000)
#define PIN_EVT_FALLING         (0x10220000)
#define PIN_EVT_RISING_FALLING  (0x10320000)

typedef struct _pin_obj_t {
    mp_obj_base_t base;
    qstr name;
    uint8_t port;   // 0 = A, 1 = B, ...
    uint8_t pin;    // 0..15
} pin_obj_t;

typedef struct _pin_named_t {
    qstr name;
    const pin_obj_t *pin;
} pin_named_t;

extern const mp_obj_type_t pin_type;

extern const pin_obj_t pin_A13, pin_A14, pin_A15, pin_B3, pin_B4;

void pin_init0(void);
const pin_obj_t *pin_find(mp_obj_t user_obj);
void pin_clock_enable(const pin_obj_t *pin);
void pin_config(const pin_obj_t *pin, uint32_t mode, uint32_t pull, int af);
uint32_t pin_get_mode(const pin_obj_t *pin);
uint32_t pin_get_pull(const pin_obj_t *pin);

static inline gpio_regs_t *pin_gpio(const pin_obj_t *pin) {
    return GPIO_PORT(pin->port);
}

static inline uint32_t pin_mask(const pin_obj_t *pin) {
    return 1u << pin->pin;
}

static inline void pin_write(const pin_obj_t *pin, bool value) {
    pin_gpio(pin)->BSRR = value ? pin_mask(pin) : (pin_mask(pin) << 16);
}

static inline bool pin_read(const pin_obj_t *pin) {
    return (pin_gpio(pin)->IDR >> pin->pin) & 1;
}

#endif // PYBSIM_PIN_H
