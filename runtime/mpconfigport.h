// pybsim runtime: MicroPython configuration for the emulated PYBv1.1.

#include <stdint.h>

#define MICROPY_HW_BOARD_NAME       "PYBv1.1"
#define MICROPY_HW_MCU_NAME         "STM32F405RG"

#define MICROPY_CONFIG_ROM_LEVEL    (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

// Memory and core runtime
#define MICROPY_ALLOC_PATH_MAX      (128)
#define MICROPY_ENABLE_GC           (1)
#define MICROPY_GC_STACK_ENTRY_TYPE uint16_t
#define MICROPY_ENABLE_EMERGENCY_EXCEPTION_BUF (1)
#define MICROPY_EMERGENCY_EXCEPTION_BUF_SIZE (0)
#define MICROPY_STACK_CHECK         (1)
#define MICROPY_LONGINT_IMPL        (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_FLOAT_IMPL          (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_USE_INTERNAL_ERRNO  (1)
#define MICROPY_SCHEDULER_DEPTH     (8)
#define MICROPY_SCHEDULER_STATIC_NODES (1)
#define MICROPY_KBD_EXCEPTION       (1)
#define MICROPY_REPL_INFO           (1)
#define MICROPY_READER_VFS          (1)
#define MICROPY_PERSISTENT_CODE_LOAD (1)
#define MICROPY_OPT_COMPUTED_GOTO   (1)
#define MICROPY_OPT_MAP_LOOKUP_CACHE (1)

// Emitters: bytecode, native, viper and the inline Thumb assembler
#define MICROPY_EMIT_THUMB          (1)
#define MICROPY_EMIT_INLINE_THUMB   (1)
#define MICROPY_MAKE_POINTER_CALLABLE(p) ((void *)((uint32_t)(p) | 1))

// Filesystem: FAT on the internal flash
#define MICROPY_VFS                 (1)
#define MICROPY_FATFS_ENABLE_LFN    (1)
#define MICROPY_FATFS_LFN_CODE_PAGE 437
#define MICROPY_FATFS_USE_LABEL     (1)
#define MICROPY_FATFS_RPATH         (2)
#define MICROPY_FATFS_MULTI_PARTITION (0)

// Builtins and modules
#define MICROPY_PY_SYS_PLATFORM     "pyboard"
#define MICROPY_PY_SYS_STDIO_BUFFER (1)
#define MICROPY_PY_THREAD           (0)
#define MICROPY_PY_OS_UNAME         (1)
#define MICROPY_PY_OS_SYNC          (1)
#define MICROPY_PY_OS_URANDOM       (1)
#define MICROPY_PY_OS_INCLUDEFILE   "rng.h"
#define MICROPY_PY_TIME_GMTIME_LOCALTIME_MKTIME (1)
#define MICROPY_PY_TIME_TIME_TIME_NS (1)
#define MICROPY_PY_TIME_INCLUDEFILE "modtime_port.c"
#define MICROPY_EPOCH_IS_1970 (0)
#define MICROPY_PY_RANDOM_SEED_INIT_FUNC (pyb_random_seed())
#define MICROPY_PY_MACHINE          (1)
#define MICROPY_PY_MACHINE_INCLUDEFILE "modmachine_port.c"
#define MICROPY_PY_MACHINE_RESET    (1)
#define MICROPY_PY_MACHINE_BARE_METAL_FUNCS (1)
#define MICROPY_PY_MACHINE_FREQ_NUM_ARGS_MAX (4)
#define MICROPY_PY_MACHINE_BOOTLOADER (0)
#define MICROPY_PY_MACHINE_PIN_BASE (0)
#define MICROPY_PY_MACHINE_PULSE    (0)
#define MICROPY_PY_MACHINE_SOFTI2C  (0)
#define MICROPY_PY_MACHINE_SOFTSPI  (0)
#define MICROPY_PY_MACHINE_SPI      (1)
#define MICROPY_PY_MACHINE_WDT      (1)
#define MICROPY_PY_MACHINE_WDT_INCLUDEFILE "wdt.c"
#define MICROPY_PY_MACHINE_SIGNAL   (1)
#define MICROPY_PY_MACHINE_ADC      (1)
#define MICROPY_PY_MACHINE_ADC_INCLUDEFILE "machine_adc_port.c"
#define MICROPY_PY_MACHINE_DISABLE_IRQ_ENABLE_IRQ (1)
// machine.Timer is the soft timer (shared/runtime/softtimer.c), driven from the
// SysTick millisecond count through PendSV, as on the Pyboard.
#define MICROPY_PY_MACHINE_TIMER    (1)
#define MICROPY_SOFT_TIMER_TICKS_MS pyb_ticks_ms
// network and socket as on the Pyboard: the modules with no network interface
// (a socket can be made and polled; connecting finds no NIC).
#define MICROPY_PY_NETWORK          (1)
#define MICROPY_PY_SOCKET           (1)
#define MICROPY_PY_NETWORK_HOSTNAME_DEFAULT "mpy-stm32"
#define MICROPY_PORT_NETWORK_INTERFACES
#define MICROPY_PY_SSL              (0)
#define MICROPY_PY_BLUETOOTH        (0)
#define MICROPY_PY_ONEWIRE          (0)
#define MICROPY_PY_FRAMEBUF         (1)
#define MICROPY_PY_BTREE            (0)

// Type definitions for the machine
#define MP_SSIZE_MAX (0x7fffffff)
#define UINT_FMT "%u"
#define INT_FMT "%d"
typedef int mp_int_t;           // must be pointer size
typedef unsigned int mp_uint_t; // must be pointer size
typedef long mp_off_t;

#define MP_STATE_PORT MP_STATE_VM

#include <alloca.h>

#define MP_NEED_LOG2 (1)

uint32_t pyb_random_seed(void);
