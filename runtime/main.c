// pybsim runtime: boot sequence, soft reset loop and REPL.

#include <stdio.h>
#include <string.h>

#include "py/compile.h"
#include "py/runtime.h"
#include "py/gc.h"
#include "py/mperrno.h"
#include "py/stackctrl.h"
#include "py/mphal.h"
#include "extmod/vfs.h"
#include "extmod/vfs_fat.h"
#include "extmod/modnetwork.h"
#include "lib/oofatfs/ff.h"
#include "shared/readline/readline.h"
#include "shared/runtime/gchelper.h"
#include "shared/runtime/pyexec.h"
#include "shared/runtime/softtimer.h"
#include "mphalport.h"
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

extern uint32_t _heap_start, _heap_end, _sstack, _estack;

void pyb_reset_cause_init(void);

static const char pyb_default_boot_py[] =
    "# boot.py -- run on boot-up\n"
    "# can run arbitrary Python, but best to keep it minimal\n"
    "\n"
    "import machine\n"
    "import pyb\n"
    "pyb.country('US') # ISO 3166-1 Alpha-2 code, eg US, GB, DE, AU\n"
    "#pyb.main('main.py') # main script to run after this one\n";

static const char pyb_default_main_py[] =
    "# main.py -- put your code here!\n";

static void pyb_write_file(const char *name, const char *data) {
    mp_obj_t args[2] = { mp_obj_new_str(name, strlen(name)), MP_OBJ_NEW_QSTR(MP_QSTR_w) };
    mp_obj_t f = mp_vfs_open(2, args, (mp_map_t *)&mp_const_empty_map);
    mp_obj_t write = mp_load_attr(f, MP_QSTR_write);
    mp_call_function_1(write, mp_obj_new_str(data, strlen(data)));
    mp_call_function_0(mp_load_attr(f, MP_QSTR_close));
}

// Mount the internal flash FAT filesystem at /flash, making it if the flash
// holds no filesystem (a blank part reads 0xff everywhere).
static bool pyb_mount_flash(void) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t bdev = MP_OBJ_FROM_PTR(&pyb_flash_obj);
        mp_obj_t vfs = MP_OBJ_TYPE_GET_SLOT(&mp_fat_vfs_type, make_new)(&mp_fat_vfs_type, 1, 0, &bdev);
        fs_user_mount_t *fsm = MP_OBJ_TO_PTR(vfs);
        bool made = false;
        if (fsm->blockdev.flags & MP_BLOCKDEV_FLAG_NO_FILESYSTEM) {
            mp_printf(&mp_plat_print, "MPY: can't mount flash, creating filesystem\n");
            uint8_t working_buf[FF_MAX_SS];
            FRESULT res = f_mkfs(&fsm->fatfs, FM_FAT | FM_SFD, 0, working_buf, sizeof(working_buf));
            if (res == FR_OK) {
                res = f_mount(&fsm->fatfs);
            }
            if (res != FR_OK) {
                mp_raise_OSError(MP_EIO);
            }
            f_setlabel(&fsm->fatfs, "pybflash");
            fsm->blockdev.flags &= ~MP_BLOCKDEV_FLAG_NO_FILESYSTEM;
            made = true;
        }
        mp_obj_t mount_args[2] = { vfs, MP_OBJ_NEW_QSTR(MP_QSTR__slash_flash) };
        mp_vfs_mount(2, mount_args, (mp_map_t *)&mp_const_empty_map);
        mp_vfs_chdir(MP_OBJ_NEW_QSTR(MP_QSTR__slash_flash));
        if (made) {
            pyb_write_file("/flash/boot.py", pyb_default_boot_py);
            pyb_write_file("/flash/main.py", pyb_default_main_py);
            flashbdev_flush();
        }
        nlr_pop();
        return true;
    } else {
        mp_printf(&mp_plat_print, "MPY: can't mount flash\n");
        mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
        return false;
    }
}

static const char *pyb_main_file = "main.py";

void pyb_set_main_file(const char *name) {
    pyb_main_file = name;
}

int main(void) {
    pyb_reset_cause_init();
    pyb_dwt_init();
    pyb_systick_init();
    console_init();
    led_init();
    flashbdev_init();
    switch_init0();
    rtc_init_start();

    for (;;) {
        // Soft reset starts here: the heap, the interpreter and the drivers
        // are set up again, the hardware clock tree stays as it is.
        mp_stack_set_top(&_estack);
        mp_stack_set_limit((char *)&_estack - (char *)&_sstack - 1024);
        gc_init(&_heap_start, &_heap_end);
        mp_init();
        readline_init0();
        pin_init0();
        extint_init0();
        timer_init0();
        uart_init0();
        mod_network_init();
        pyb_main_file = "main.py";

        bool mounted = pyb_mount_flash();
        // A card in the slot is mounted at /sd and becomes the current
        // directory, unless /flash holds a file named SKIPSD.
        bool mounted_sd = false;
        if (sdcard_is_present() && (!mounted || mp_vfs_import_stat("SKIPSD") == MP_IMPORT_STAT_NO_EXIST)) {
            mounted_sd = sdcard_mount();
        }
        if (mounted_sd) {
            mp_obj_list_append(mp_sys_path, MP_OBJ_NEW_QSTR(MP_QSTR__slash_sd));
            mp_obj_list_append(mp_sys_path, MP_OBJ_NEW_QSTR(MP_QSTR__slash_sd_slash_lib));
        }
        if (mounted) {
            mp_obj_list_append(mp_sys_path, MP_OBJ_NEW_QSTR(MP_QSTR__slash_flash));
            mp_obj_list_append(mp_sys_path, MP_OBJ_NEW_QSTR(MP_QSTR__slash_flash_slash_lib));
        }

        int ret = 0;
        // boot.py runs after every reset; main.py only when the friendly REPL
        // follows (a tool driving the raw REPL gets the board without it).
        if (mounted) {
            ret = pyexec_file_if_exists("boot.py");
            if (ret & PYEXEC_FORCED_EXIT) {
                goto soft_reset_exit;
            }
        }
        if (mounted && pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL) {
            ret = pyexec_file_if_exists(pyb_main_file);
            if (ret & PYEXEC_FORCED_EXIT) {
                goto soft_reset_exit;
            }
        }

        for (;;) {
            if (pyexec_mode_kind == PYEXEC_MODE_RAW_REPL) {
                if (pyexec_raw_repl() != 0) {
                    break;
                }
            } else {
                if (pyexec_friendly_repl() != 0) {
                    break;
                }
            }
        }

    soft_reset_exit:
        mp_printf(&mp_plat_print, "MPY: sync filesystems\n");
        flashbdev_flush();
        mp_printf(&mp_plat_print, "MPY: soft reboot\n");
        dac_deinit_all();
        timer_deinit_all();
        uart_deinit_all();
        spi_deinit_all();
        extint_deinit_all();
        rtc_deinit();
        soft_timer_deinit();
        mod_network_deinit();
        gc_sweep_all();
        mp_deinit();
    }
    return 0;
}

void gc_collect(void) {
    gc_collect_start();
    gc_helper_collect_regs_and_stack();
    soft_timer_gc_mark_all();
    gc_collect_end();
}

void nlr_jump_fail(void *val) {
    mp_printf(&mp_plat_print, "FATAL: uncaught exception %p\n", val);
    mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(val));
    for (;;) {
        __asm volatile ("wfi");
    }
}

void NORETURN __fatal_error(const char *msg) {
    mp_hal_stdout_tx_str("\nFATAL ERROR:\n");
    mp_hal_stdout_tx_str(msg);
    mp_hal_stdout_tx_str("\n");
    for (;;) {
        __asm volatile ("wfi");
    }
}

#ifndef NDEBUG
void MP_WEAK __assert_func(const char *file, int line, const char *func, const char *expr) {
    mp_printf(&mp_plat_print, "Assertion '%s' failed, at file %s:%d\n", expr, file, line);
    __fatal_error("Assertion failed");
}
#endif

// Called from the fault handlers in startup.c with the stacked registers.
void pyb_fault_handler(uint32_t *sp, uint32_t lr, const char *name) {
    mp_printf(&mp_plat_print, "\nFATAL: %s\n", name);
    static const char *const reg_names[8] = { "R0", "R1", "R2", "R3", "R12", "LR", "PC", "XPSR" };
    if ((uintptr_t)sp >= SRAM_BASE && (uintptr_t)sp < SRAM_BASE + 128 * 1024 - 32) {
        for (int i = 0; i < 8; ++i) {
            mp_printf(&mp_plat_print, "  %s 0x%08x\n", reg_names[i], (unsigned)sp[i]);
        }
    }
    mp_printf(&mp_plat_print, "  SP 0x%08x EXC_RETURN 0x%08x\n", (unsigned)(uintptr_t)sp, (unsigned)lr);
    mp_printf(&mp_plat_print, "  CFSR 0x%08x HFSR 0x%08x BFAR 0x%08x MMFAR 0x%08x\n",
        (unsigned)SCB->CFSR, (unsigned)SCB->HFSR, (unsigned)SCB->BFAR, (unsigned)SCB->MMFAR);
    for (;;) {
        __asm volatile ("wfi");
    }
}

// File times come from the RTC calendar, as on the Pyboard.
DWORD get_fattime(void) {
    return rtc_fattime();
}

// The random module's seed comes from the hardware RNG, as on the Pyboard.
uint32_t pyb_random_seed(void) {
    return rng_get();
}
