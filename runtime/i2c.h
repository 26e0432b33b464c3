// pybsim runtime: I2C1/I2C2 bus masters (pyb.I2C) and the register-level transfers
// the accelerometer driver shares.

#ifndef PYBSIM_I2C_H
#define PYBSIM_I2C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "py/obj.h"
#include "stm32f405.h"

extern const mp_obj_type_t pyb_i2c_type;

// The registers of bus `id` (1-3).
i2c_regs_t *i2c_regs(int id);
// Resets bus `id`, routes its pins and sets it up as a master at `freq` Hz (<= 400 kHz).
void i2c_master_init(int id, uint32_t freq);
void i2c_deinit(int id);
// A start condition and the address `addr` (7 bits) with the R/W bit; for a read,
// `read_len` bytes follow (it sets up the ACK/POS handling). 0 if acknowledged,
// -MP_ENODEV if not (a stop is sent), -MP_ETIMEDOUT.
int i2c_start_addr(i2c_regs_t *i2c, bool read, uint8_t addr, size_t read_len, uint32_t timeout_ms);
// Sends `len` bytes after i2c_start_addr; a stop after them if `stop`. 0, -MP_EIO on a
// NACK (a stop is sent), -MP_ETIMEDOUT.
int i2c_send_bytes(i2c_regs_t *i2c, const uint8_t *src, size_t len, bool stop, uint32_t timeout_ms);
// Receives `len` (>= 1) bytes after i2c_start_addr(read), then a stop. 0 or -MP_ETIMEDOUT.
int i2c_recv_bytes(i2c_regs_t *i2c, uint8_t *dst, size_t len, uint32_t timeout_ms);
// Whole transfers: write, or read, `len` bytes at `addr`.
int i2c_writeto(int id, uint8_t addr, const uint8_t *src, size_t len, bool stop, uint32_t timeout_ms);
int i2c_readfrom(int id, uint8_t addr, uint8_t *dst, size_t len, uint32_t timeout_ms);

#endif // PYBSIM_I2C_H
