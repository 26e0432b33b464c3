// pybsim runtime: the pyb module.

#include <stdio.h>

#include "py/runtime.h"
#include "py/gc.h"
#include "py/mphal.h"
#include "py/stackctrl.h"
#include "extmod/modmachine.h"
#include "stm32f405.h"
#include "pin.h"
#include "extint.h"
#include "led.h"
#include "rng.h"
#include "rtc.h"
#include "switch.h"
#include "timer.h"
#include "dac.h"
#include "uart.h"
#include "spi.h"
#include "flashbdev.h"
#include "sdcard.h"
#include "adc.h"
#include "i2c.h"

void pyb_set_main_file(const char *name);
extern const mp_obj_type_t pyb_accel_type;

// ---------------------------------------------------------------------------
// Clocks, decoded from the RCC registers

static const uint8_t ahb_shift[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 6, 7, 8, 9 };
static const uint8_t apb_shift[8] = { 0, 0, 0, 0, 1, 2, 3, 4 };

uint32_t pyb_sysclk_hz(void) {
    const uint32_t hse = 12000000u, hsi = 16000000u;
    uint32_t sws = (RCC->CFGR & RCC_CFGR_SWS_Msk) >> 2;
    if (sws == 0) {
        return hsi;
    } else if (sws == 1) {
        return hse;
    }
    uint32_t pllcfgr = RCC->PLLCFGR;
    uint32_t src = (pllcfgr & RCC_PLLCFGR_PLLSRC_HSE) ? hse : hsi;
    uint32_t m = pllcfgr & 0x3f;
    uint32_t n = (pllcfgr >> 6) & 0x1ff;
    uint32_t p = (((pllcfgr >> 16) & 3) + 1) * 2;
    if (m == 0) {
        return 0;
    }
    return (uint32_t)((uint64_t)src / m * n / p);
}

mp_obj_t pyb_freq_tuple(void) {
    uint32_t sysclk = pyb_sysclk_hz();
    uint32_t cfgr = RCC->CFGR;
    uint32_t hclk = sysclk >> ahb_shift[(cfgr >> 4) & 0xf];
    uint32_t pclk1 = hclk >> apb_shift[(cfgr >> 10) & 7];
    uint32_t pclk2 = hclk >> apb_shift[(cfgr >> 13) & 7];
    mp_obj_t tuple[4] = {
        mp_obj_new_int_from_uint(sysclk),
        mp_obj_new_int_from_uint(hclk),
        mp_obj_new_int_from_uint(pclk1),
        mp_obj_new_int_from_uint(pclk2),
    };
    return mp_obj_new_tuple(4, tuple);
}

// ---------------------------------------------------------------------------
// Reset

NORETURN void pyb_hard_reset(void) {
    flashbdev_flush();
    __asm volatile ("dsb" ::: "memory");
    SCB->AIRCR = SCB_AIRCR_VECTKEY | (SCB->AIRCR & SCB_AIRCR_PRIGROUP_Msk) | SCB_AIRCR_SYSRESETREQ;
    __asm volatile ("dsb" ::: "memory");
    for (;;) {
    }
}

static uint32_t pyb_reset_csr;

// Latches why the chip last reset (the RCC_CSR reset flags) and clears the
// flags with RMVF, so the next reset sets only its own; called once per hard
// reset, before the soft-reset loop, as the real board does.
void pyb_reset_cause_init(void) {
    pyb_reset_csr = RCC->CSR;
    RCC->CSR |= RCC_CSR_RMVF;
}

uint32_t pyb_reset_cause(void) {
    uint32_t csr = pyb_reset_csr;
    if (csr & (RCC_CSR_IWDGRSTF | RCC_CSR_WWDGRSTF)) {
        return 3;
    } else if (csr & RCC_CSR_SFTRSTF) {
        return 5;
    } else if (csr & (RCC_CSR_PORRSTF | RCC_CSR_BORRSTF)) {
        return 1;
    } else if (csr & RCC_CSR_PINRSTF) {
        return 2;
    }
    return 1;
}

// ---------------------------------------------------------------------------
// Module functions

static mp_obj_t pyb_delay(mp_obj_t ms_in) {
    mp_int_t ms = mp_obj_get_int(ms_in);
    if (ms >= 0) {
        mp_hal_delay_ms(ms);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_delay_obj, pyb_delay);

static mp_obj_t pyb_udelay(mp_obj_t us_in) {
    mp_int_t us = mp_obj_get_int(us_in);
    if (us > 0) {
        mp_hal_delay_us(us);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_udelay_obj, pyb_udelay);

static mp_obj_t pyb_millis(void) {
    return MP_OBJ_NEW_SMALL_INT(mp_hal_ticks_ms() & 0x3fffffff);
}
static MP_DEFINE_CONST_FUN_OBJ_0(pyb_millis_obj, pyb_millis);

static mp_obj_t pyb_elapsed_millis(mp_obj_t start) {
    uint32_t s = mp_obj_get_int(start);
    return MP_OBJ_NEW_SMALL_INT((mp_hal_ticks_ms() - s) & 0x3fffffff);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_elapsed_millis_obj, pyb_elapsed_millis);

static mp_obj_t pyb_micros(void) {
    return MP_OBJ_NEW_SMALL_INT(mp_hal_ticks_us() & 0x3fffffff);
}
static MP_DEFINE_CONST_FUN_OBJ_0(pyb_micros_obj, pyb_micros);

static mp_obj_t pyb_elapsed_micros(mp_obj_t start) {
    uint32_t s = mp_obj_get_int(start);
    return MP_OBJ_NEW_SMALL_INT((mp_hal_ticks_us() - s) & 0x3fffffff);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_elapsed_micros_obj, pyb_elapsed_micros);

static mp_obj_t pyb_freq(size_t n_args, const mp_obj_t *args) {
    if (n_args == 0) {
        return pyb_freq_tuple();
    }
    mp_raise_NotImplementedError(MP_ERROR_TEXT("changing the clock is not supported"));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_freq_obj, 0, 4, pyb_freq);

static mp_obj_t pyb_wfi(void) {
    __asm volatile ("wfi");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(pyb_wfi_obj, pyb_wfi);

static mp_obj_t pyb_disable_irq_fun(void) {
    uint32_t state = pyb_disable_irq();
    return mp_obj_new_bool((state & 1) == 0);
}
static MP_DEFINE_CONST_FUN_OBJ_0(pyb_disable_irq_obj, pyb_disable_irq_fun);

static mp_obj_t pyb_enable_irq_fun(size_t n_args, const mp_obj_t *args) {
    if (n_args == 0 || mp_obj_is_true(args[0])) {
        pyb_enable_irq(0);
    } else {
        pyb_disable_irq();
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_enable_irq_obj, 0, 1, pyb_enable_irq_fun);

static mp_obj_t pyb_unique_id(void) {
    return mp_obj_new_bytes((const byte *)UID_BASE, 12);
}
static MP_DEFINE_CONST_FUN_OBJ_0(pyb_unique_id_obj, pyb_unique_id);

static mp_obj_t pyb_hard_reset_fun(void) {
    pyb_hard_reset();
}
static MP_DEFINE_CONST_FUN_OBJ_0(pyb_hard_reset_obj, pyb_hard_reset_fun);

static mp_obj_t pyb_info(size_t n_args, const mp_obj_t *args) {
    const uint32_t *uid = (const uint32_t *)UID_BASE;
    mp_printf(&mp_plat_print, "ID=%08x:%08x:%08x\n", (unsigned)uid[0], (unsigned)uid[1], (unsigned)uid[2]);
    mp_obj_t f = pyb_freq_tuple();
    mp_obj_t *items;
    mp_obj_get_array_fixed_n(f, 4, &items);
    mp_printf(&mp_plat_print, "S=%u\nH=%u\nP1=%u\nP2=%u\n",
        (unsigned)mp_obj_get_int_truncated(items[0]), (unsigned)mp_obj_get_int_truncated(items[1]),
        (unsigned)mp_obj_get_int_truncated(items[2]), (unsigned)mp_obj_get_int_truncated(items[3]));
    extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack, _heap_start, _heap_end;
    mp_printf(&mp_plat_print, "_sidata=%p\n_sdata=%p\n_edata=%p\n_sbss=%p\n_ebss=%p\n_sstack=%p\n_estack=%p\n_ram_start=%p\n_heap_start=%p\n_heap_end=%p\n_ram_end=%p\n",
        &_sidata, &_sdata, &_edata, &_sbss, &_ebss, &_sstack, &_estack, (void *)SRAM_BASE,
        &_heap_start, &_heap_end, (void *)(SRAM_BASE + 128 * 1024));
    size_t n_pool, n_qstr, n_str_data_bytes, n_total_bytes;
    qstr_pool_info(&n_pool, &n_qstr, &n_str_data_bytes, &n_total_bytes);
    mp_printf(&mp_plat_print, "qstr:\n  n_pool=%u\n  n_qstr=%u\n  n_str_data_bytes=%u\n  n_total_bytes=%u\n",
        (unsigned)n_pool, (unsigned)n_qstr, (unsigned)n_str_data_bytes, (unsigned)n_total_bytes);
    gc_info_t info;
    gc_info(&info);
    mp_printf(&mp_plat_print, "GC:\n  %u total\n  %u : %u\n  1=%u 2=%u m=%u\n",
        (unsigned)info.total, (unsigned)info.used, (unsigned)info.free,
        (unsigned)info.num_1block, (unsigned)info.num_2block, (unsigned)info.max_block);
    if (n_args == 1) {
        gc_dump_alloc_table(&mp_plat_print);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_info_obj, 0, 1, pyb_info);

static mp_obj_t pyb_repl_uart(size_t n_args, const mp_obj_t *args) {
    if (n_args == 0) {
        return pyb_uart_repl_get();
    }
    pyb_uart_repl_set(args[0]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_repl_uart_obj, 0, 1, pyb_repl_uart);

static mp_obj_t pyb_main(size_t n_args, const mp_obj_t *args, mp_map_t *kw_args) {
    static char main_file[64];
    const char *name = mp_obj_str_get_str(args[0]);
    snprintf(main_file, sizeof(main_file), "%s", name);
    pyb_set_main_file(main_file);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_main_obj, 1, pyb_main);

static char pyb_country_code[3] = "XX";

static mp_obj_t pyb_country(size_t n_args, const mp_obj_t *args) {
    if (n_args == 0) {
        return mp_obj_new_str(pyb_country_code, 2);
    }
    size_t len;
    const char *s = mp_obj_str_get_data(args[0], &len);
    if (len != 2) {
        mp_raise_ValueError(NULL);
    }
    pyb_country_code[0] = s[0];
    pyb_country_code[1] = s[1];
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_country_obj, 0, 1, pyb_country);

static mp_obj_t pyb_sync(void) {
    flashbdev_flush();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(pyb_sync_obj, pyb_sync);

static mp_obj_t pyb_have_cdc(void) {
    return mp_const_false;
}
static MP_DEFINE_CONST_FUN_OBJ_0(pyb_have_cdc_obj, pyb_have_cdc);

static mp_obj_t pyb_stop(void) {
    __asm volatile ("wfi");
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(pyb_stop_obj, pyb_stop);

static const mp_rom_map_elem_t pyb_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_pyb) },

    { MP_ROM_QSTR(MP_QSTR_delay), MP_ROM_PTR(&pyb_delay_obj) },
    { MP_ROM_QSTR(MP_QSTR_udelay), MP_ROM_PTR(&pyb_udelay_obj) },
    { MP_ROM_QSTR(MP_QSTR_millis), MP_ROM_PTR(&pyb_millis_obj) },
    { MP_ROM_QSTR(MP_QSTR_micros), MP_ROM_PTR(&pyb_micros_obj) },
    { MP_ROM_QSTR(MP_QSTR_elapsed_millis), MP_ROM_PTR(&pyb_elapsed_millis_obj) },
    { MP_ROM_QSTR(MP_QSTR_elapsed_micros), MP_ROM_PTR(&pyb_elapsed_micros_obj) },
    { MP_ROM_QSTR(MP_QSTR_freq), MP_ROM_PTR(&pyb_freq_obj) },
    { MP_ROM_QSTR(MP_QSTR_wfi), MP_ROM_PTR(&pyb_wfi_obj) },
    { MP_ROM_QSTR(MP_QSTR_stop), MP_ROM_PTR(&pyb_stop_obj) },
    { MP_ROM_QSTR(MP_QSTR_standby), MP_ROM_PTR(&pyb_stop_obj) },
    { MP_ROM_QSTR(MP_QSTR_disable_irq), MP_ROM_PTR(&pyb_disable_irq_obj) },
    { MP_ROM_QSTR(MP_QSTR_enable_irq), MP_ROM_PTR(&pyb_enable_irq_obj) },
    { MP_ROM_QSTR(MP_QSTR_unique_id), MP_ROM_PTR(&pyb_unique_id_obj) },
    { MP_ROM_QSTR(MP_QSTR_hard_reset), MP_ROM_PTR(&pyb_hard_reset_obj) },
    { MP_ROM_QSTR(MP_QSTR_info), MP_ROM_PTR(&pyb_info_obj) },
    { MP_ROM_QSTR(MP_QSTR_repl_uart), MP_ROM_PTR(&pyb_repl_uart_obj) },
    { MP_ROM_QSTR(MP_QSTR_main), MP_ROM_PTR(&pyb_main_obj) },
    { MP_ROM_QSTR(MP_QSTR_country), MP_ROM_PTR(&pyb_country_obj) },
    { MP_ROM_QSTR(MP_QSTR_sync), MP_ROM_PTR(&pyb_sync_obj) },
    { MP_ROM_QSTR(MP_QSTR_have_cdc), MP_ROM_PTR(&pyb_have_cdc_obj) },
    { MP_ROM_QSTR(MP_QSTR_rng), MP_ROM_PTR(&pyb_rng_obj) },
    { MP_ROM_QSTR(MP_QSTR_RTC), MP_ROM_PTR(&pyb_rtc_type) },

    { MP_ROM_QSTR(MP_QSTR_Pin), MP_ROM_PTR(&pin_type) },
    { MP_ROM_QSTR(MP_QSTR_ExtInt), MP_ROM_PTR(&extint_type) },
    { MP_ROM_QSTR(MP_QSTR_LED), MP_ROM_PTR(&pyb_led_type) },
    { MP_ROM_QSTR(MP_QSTR_Switch), MP_ROM_PTR(&pyb_switch_type) },
    { MP_ROM_QSTR(MP_QSTR_Timer), MP_ROM_PTR(&pyb_timer_type) },
    { MP_ROM_QSTR(MP_QSTR_DAC), MP_ROM_PTR(&pyb_dac_type) },
    { MP_ROM_QSTR(MP_QSTR_UART), MP_ROM_PTR(&pyb_uart_type) },
    { MP_ROM_QSTR(MP_QSTR_SPI), MP_ROM_PTR(&pyb_spi_type) },
    { MP_ROM_QSTR(MP_QSTR_Flash), MP_ROM_PTR(&pyb_flash_type) },
    { MP_ROM_QSTR(MP_QSTR_SDCard), MP_ROM_PTR(&pyb_sdcard_type) },
    { MP_ROM_QSTR(MP_QSTR_ADC), MP_ROM_PTR(&pyb_adc_type) },
    { MP_ROM_QSTR(MP_QSTR_ADCAll), MP_ROM_PTR(&pyb_adc_all_type) },
    { MP_ROM_QSTR(MP_QSTR_I2C), MP_ROM_PTR(&pyb_i2c_type) },
    { MP_ROM_QSTR(MP_QSTR_Accel), MP_ROM_PTR(&pyb_accel_type) },
};

static MP_DEFINE_CONST_DICT(pyb_module_globals, pyb_module_globals_table);

const mp_obj_module_t pyb_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&pyb_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_pyb, pyb_module);
