// pybsim runtime: the MMA7660 accelerometer on I2C1 (pyb.Accel).
//
// The sensor's supply (AVDD) comes from pin PB5: the driver switches it off and on again
// (30 ms each, so the part goes through a clean power-on reset), looks for the device at
// address 0x4C, puts it in active mode (MODE = 1) and waits 30 ms for its first samples
// (120 samples/s after reset). Axis registers hold 6-bit two's complement values.

#include "py/runtime.h"
#include "py/mphal.h"
#include "py/mperrno.h"
#include "stm32f405.h"
#include "pin.h"
#include "i2c.h"

#define ACCEL_I2C (1)
#define ACCEL_ADDR (0x4c)
#define ACCEL_BAUDRATE (400000)
#define ACCEL_TIMEOUT_MS (50)
#define ACCEL_REG_X (0)
#define ACCEL_REG_TILT (3)
#define ACCEL_REG_MODE (7)
#define ACCEL_MODE_ACTIVE (1)
#define ACCEL_AXES (3)
#define ACCEL_FILTER_DEPTH (4)

typedef struct _pyb_accel_obj_t {
    mp_obj_base_t base;
    // The last ACCEL_FILTER_DEPTH samples of each axis, for filtered_xyz().
    int16_t history[ACCEL_AXES * ACCEL_FILTER_DEPTH];
} pyb_accel_obj_t;

static pyb_accel_obj_t pyb_accel_obj;
extern const mp_obj_type_t pyb_accel_type;

// PB5 drives the accelerometer's AVDD.
static const pin_obj_t accel_avdd = { {&pin_type}, MP_QSTR_MMA_AVDD, 1, 5 };

static void accel_check(int ret) {
    if (ret < 0) {
        mp_raise_OSError(ret == -MP_ENODEV ? MP_EIO : -ret);
    }
}

static void accel_write(uint8_t reg, uint8_t value) {
    uint8_t data[2] = { reg, value };
    accel_check(i2c_writeto(ACCEL_I2C, ACCEL_ADDR, data, 2, true, ACCEL_TIMEOUT_MS));
}

static void accel_read(uint8_t reg, uint8_t *dst, size_t len) {
    accel_check(i2c_writeto(ACCEL_I2C, ACCEL_ADDR, &reg, 1, false, ACCEL_TIMEOUT_MS));
    accel_check(i2c_readfrom(ACCEL_I2C, ACCEL_ADDR, dst, len, ACCEL_TIMEOUT_MS));
}

static void accel_start(void) {
    i2c_master_init(ACCEL_I2C, ACCEL_BAUDRATE);
    pin_write(&accel_avdd, false);
    pin_config(&accel_avdd, PIN_MODE_OUT_PP, PIN_PULL_NONE, -1);
    mp_hal_delay_ms(30);
    pin_write(&accel_avdd, true);
    mp_hal_delay_ms(30);
    int ret = -MP_ENODEV;
    for (int i = 0; i < 4 && ret != 0; i++) {
        ret = i2c_writeto(ACCEL_I2C, ACCEL_ADDR, NULL, 0, true, ACCEL_TIMEOUT_MS);
    }
    if (ret != 0) {
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("accelerometer not found"));
    }
    accel_write(ACCEL_REG_MODE, ACCEL_MODE_ACTIVE);
    mp_hal_delay_ms(30);
}

// A 6-bit two's complement sample as a signed number.
static mp_int_t accel_signed(uint8_t v) {
    return (v & 0x20) ? (mp_int_t)(v & 0x3f) - 64 : (mp_int_t)(v & 0x3f);
}

static mp_obj_t pyb_accel_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    pyb_accel_obj.base.type = &pyb_accel_type;
    for (size_t i = 0; i < MP_ARRAY_SIZE(pyb_accel_obj.history); i++) {
        pyb_accel_obj.history[i] = 0;
    }
    accel_start();
    return MP_OBJ_FROM_PTR(&pyb_accel_obj);
}

static mp_obj_t accel_axis(uint8_t reg) {
    uint8_t v;
    accel_read(reg, &v, 1);
    return MP_OBJ_NEW_SMALL_INT(accel_signed(v));
}

static mp_obj_t pyb_accel_x(mp_obj_t self_in) {
    return accel_axis(ACCEL_REG_X);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_accel_x_obj, pyb_accel_x);

static mp_obj_t pyb_accel_y(mp_obj_t self_in) {
    return accel_axis(ACCEL_REG_X + 1);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_accel_y_obj, pyb_accel_y);

static mp_obj_t pyb_accel_z(mp_obj_t self_in) {
    return accel_axis(ACCEL_REG_X + 2);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_accel_z_obj, pyb_accel_z);

static mp_obj_t pyb_accel_tilt(mp_obj_t self_in) {
    uint8_t v;
    accel_read(ACCEL_REG_TILT, &v, 1);
    return MP_OBJ_NEW_SMALL_INT(v);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_accel_tilt_obj, pyb_accel_tilt);

// The sum of each axis' last four samples: this one and those of the three calls before.
static mp_obj_t pyb_accel_filtered_xyz(mp_obj_t self_in) {
    pyb_accel_obj_t *self = MP_OBJ_TO_PTR(self_in);
    uint8_t v[ACCEL_AXES];
    accel_read(ACCEL_REG_X, v, ACCEL_AXES);
    mp_obj_t sums[ACCEL_AXES];
    for (int a = 0; a < ACCEL_AXES; a++) {
        int16_t *h = &self->history[a * ACCEL_FILTER_DEPTH];
        mp_int_t sum = 0;
        for (int i = 0; i < ACCEL_FILTER_DEPTH - 1; i++) {
            h[i] = h[i + 1];
            sum += h[i];
        }
        h[ACCEL_FILTER_DEPTH - 1] = accel_signed(v[a]);
        sum += h[ACCEL_FILTER_DEPTH - 1];
        sums[a] = MP_OBJ_NEW_SMALL_INT(sum);
    }
    return mp_obj_new_tuple(ACCEL_AXES, sums);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_accel_filtered_xyz_obj, pyb_accel_filtered_xyz);

static mp_obj_t pyb_accel_read(mp_obj_t self_in, mp_obj_t reg) {
    uint8_t v;
    accel_read(mp_obj_get_int(reg), &v, 1);
    return MP_OBJ_NEW_SMALL_INT(v);
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_accel_read_obj, pyb_accel_read);

static mp_obj_t pyb_accel_write(mp_obj_t self_in, mp_obj_t reg, mp_obj_t val) {
    accel_write(mp_obj_get_int(reg), mp_obj_get_int(val));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(pyb_accel_write_obj, pyb_accel_write);

static const mp_rom_map_elem_t pyb_accel_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_x), MP_ROM_PTR(&pyb_accel_x_obj) },
    { MP_ROM_QSTR(MP_QSTR_y), MP_ROM_PTR(&pyb_accel_y_obj) },
    { MP_ROM_QSTR(MP_QSTR_z), MP_ROM_PTR(&pyb_accel_z_obj) },
    { MP_ROM_QSTR(MP_QSTR_tilt), MP_ROM_PTR(&pyb_accel_tilt_obj) },
    { MP_ROM_QSTR(MP_QSTR_filtered_xyz), MP_ROM_PTR(&pyb_accel_filtered_xyz_obj) },
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&pyb_accel_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&pyb_accel_write_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_accel_locals_dict, pyb_accel_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_accel_type,
    MP_QSTR_Accel,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_accel_make_new,
    locals_dict, &pyb_accel_locals_dict
    );
