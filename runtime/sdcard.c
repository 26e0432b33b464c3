// pybsim runtime: micro SD card on the SDIO host (pyb.SDCard), polled.
//
// The card is brought up as the SD Physical Layer Simplified Specification
// says (CMD0, CMD8, CMD55+ACMD41 until ready, CMD2, CMD3, CMD9, CMD7, ACMD6)
// at 400 kHz, then runs on a 4-bit bus at 24 MHz (PLL48CK / 2). Blocks move
// through the SDIO FIFO by polling STA (RM0090 section 31), with hardware
// flow control so the bus clock stops rather than overrun; no DMA, no
// interrupts. The card-detect switch is PA8 (low when a card is in).

#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "extmod/vfs.h"
#include "extmod/vfs_fat.h"
#include "pin.h"
#include "sdcard.h"

extern const pin_obj_t pin_A8, pin_C8, pin_C9, pin_C10, pin_C11, pin_C12, pin_D2;

// SDIO registers (RM0090 section 31.9).
typedef struct {
    volatile uint32_t POWER;        // 0x00
    volatile uint32_t CLKCR;        // 0x04
    volatile uint32_t ARG;          // 0x08
    volatile uint32_t CMD;          // 0x0c
    volatile uint32_t RESPCMD;      // 0x10
    volatile uint32_t RESP[4];      // 0x14
    volatile uint32_t DTIMER;       // 0x24
    volatile uint32_t DLEN;         // 0x28
    volatile uint32_t DCTRL;        // 0x2c
    volatile uint32_t DCOUNT;       // 0x30
    volatile uint32_t STA;          // 0x34
    volatile uint32_t ICR;          // 0x38
    volatile uint32_t MASK;         // 0x3c
    uint32_t reserved0[2];          // 0x40
    volatile uint32_t FIFOCNT;      // 0x48
    uint32_t reserved1[13];         // 0x4c
    volatile uint32_t FIFO;         // 0x80
} sdio_regs_t;

#define SDIO ((sdio_regs_t *)SDIO_BASE)

#define RCC_APB2ENR_SDIOEN      (1u << 11)

#define SDIO_POWER_ON           (3u)
#define SDIO_CLKCR_CLKEN        (1u << 8)
#define SDIO_CLKCR_WIDBUS_4     (1u << 11)
#define SDIO_CLKCR_HWFC_EN      (1u << 14)
#define SDIO_CMD_WAITRESP_SHORT (1u << 6)
#define SDIO_CMD_WAITRESP_LONG  (3u << 6)
#define SDIO_CMD_CPSMEN         (1u << 10)
#define SDIO_DCTRL_DTEN         (1u << 0)
#define SDIO_DCTRL_DTDIR        (1u << 1)
#define SDIO_DCTRL_BLOCK_512    (9u << 4)

#define SDIO_STA_CCRCFAIL       (1u << 0)
#define SDIO_STA_DCRCFAIL       (1u << 1)
#define SDIO_STA_CTIMEOUT       (1u << 2)
#define SDIO_STA_DTIMEOUT       (1u << 3)
#define SDIO_STA_TXUNDERR       (1u << 4)
#define SDIO_STA_RXOVERR        (1u << 5)
#define SDIO_STA_CMDREND        (1u << 6)
#define SDIO_STA_CMDSENT        (1u << 7)
#define SDIO_STA_DATAEND        (1u << 8)
#define SDIO_STA_DBCKEND        (1u << 10)
#define SDIO_STA_CMDACT         (1u << 11)
#define SDIO_STA_TXFIFOHE       (1u << 14)
#define SDIO_STA_RXFIFOHF       (1u << 15)
#define SDIO_STA_RXDAVL         (1u << 21)
#define SDIO_ICR_STATIC         (0x00c007ffu)

#define SDIO_STA_CMD_DONE       (SDIO_STA_CCRCFAIL | SDIO_STA_CTIMEOUT | SDIO_STA_CMDREND | SDIO_STA_CMDSENT)
#define SDIO_STA_DATA_ERRORS    (SDIO_STA_DCRCFAIL | SDIO_STA_DTIMEOUT | SDIO_STA_TXUNDERR | SDIO_STA_RXOVERR)

// Clock dividers from SDIOCLK = 48 MHz: SDIO_CK = 48 MHz / (CLKDIV + 2).
#define SDIO_CLKDIV_INIT        (118u)  // 400 kHz
#define SDIO_CLKDIV_XFER        (0u)    // 24 MHz
// Data timeout: 250 ms at 24 MHz.
#define SDIO_DTIMER_XFER        (6000000u)
#define SDIO_DLEN_MAX           (0x01ffffffu)

// Card status (R1) error bits, OCR bits.
#define SD_R1_ERRORS            (0xfdf98008u)
#define SD_R1_STATE(r)          (((r) >> 9) & 0xf)
#define SD_R1_READY_FOR_DATA    (1u << 8)
#define SD_STATE_TRAN           (4)
#define SD_OCR_READY            (1u << 31)
#define SD_OCR_CCS              (1u << 30)
#define SD_OCR_VOLTAGES         (0x00ff8000u)

#define SD_BLOCK_SIZE           (512u)

typedef struct _sdcard_state_t {
    bool ready;
    bool sdhc;
    uint16_t rca;
    uint32_t num_blocks;
} sdcard_state_t;

static sdcard_state_t sdcard_state;

bool sdcard_is_present(void) {
    pin_config(&pin_A8, PIN_MODE_IN, PIN_PULL_UP, -1);
    return !(pin_gpio(&pin_A8)->IDR & pin_mask(&pin_A8));
}

// Sends a command and waits for the command path to finish. `r3` accepts the
// CRC failure that an R3 response (no CRC) always gives.
static int sdcard_cmd(uint32_t index, uint32_t arg, uint32_t waitresp, bool r3) {
    SDIO->ICR = SDIO_ICR_STATIC;
    SDIO->ARG = arg;
    SDIO->CMD = index | waitresp | SDIO_CMD_CPSMEN;
    mp_uint_t start = mp_hal_ticks_ms();
    uint32_t sta;
    for (;;) {
        sta = SDIO->STA;
        if (!(sta & SDIO_STA_CMDACT) && (sta & SDIO_STA_CMD_DONE)) {
            break;
        }
        if (mp_hal_ticks_ms() - start > 100) {
            SDIO->CMD = 0;
            return -MP_ETIMEDOUT;
        }
    }
    SDIO->ICR = SDIO_STA_CMD_DONE;
    if (sta & SDIO_STA_CTIMEOUT) {
        return -MP_ETIMEDOUT;
    }
    if ((sta & SDIO_STA_CCRCFAIL) && !r3) {
        return -MP_EIO;
    }
    return 0;
}

// A command with an R1 response: fails on a transport error or an error bit.
static int sdcard_cmd_r1(uint32_t index, uint32_t arg) {
    int ret = sdcard_cmd(index, arg, SDIO_CMD_WAITRESP_SHORT, false);
    if (ret == 0 && (SDIO->RESP[0] & SD_R1_ERRORS)) {
        ret = -MP_EIO;
    }
    return ret;
}

static int sdcard_app_cmd(uint32_t index, uint32_t arg) {
    int ret = sdcard_cmd_r1(55, (uint32_t)sdcard_state.rca << 16);
    if (ret == 0) {
        ret = sdcard_cmd_r1(index, arg);
    }
    return ret;
}

// Waits until the card is back in the transfer state, ready for data.
static int sdcard_wait_ready(void) {
    mp_uint_t start = mp_hal_ticks_ms();
    for (;;) {
        int ret = sdcard_cmd_r1(13, (uint32_t)sdcard_state.rca << 16);
        if (ret != 0) {
            return ret;
        }
        uint32_t r = SDIO->RESP[0];
        if (SD_R1_STATE(r) == SD_STATE_TRAN && (r & SD_R1_READY_FOR_DATA)) {
            return 0;
        }
        if (mp_hal_ticks_ms() - start > 1000) {
            return -MP_ETIMEDOUT;
        }
    }
}

int sdcard_power_on(void) {
    if (sdcard_state.ready) {
        return 0;
    }
    if (!sdcard_is_present()) {
        return -MP_ENODEV;
    }
    // Pins: D0-D3 (PC8-PC11) and CMD (PD2) pulled up, CK (PC12), all AF12.
    const pin_obj_t *pulled[] = { &pin_C8, &pin_C9, &pin_C10, &pin_C11, &pin_D2 };
    for (size_t i = 0; i < MP_ARRAY_SIZE(pulled); ++i) {
        pin_config(pulled[i], PIN_MODE_AF_PP, PIN_PULL_UP, 12);
    }
    pin_config(&pin_C12, PIN_MODE_AF_PP, PIN_PULL_NONE, 12);
    RCC->APB2ENR |= RCC_APB2ENR_SDIOEN;
    (void)RCC->APB2ENR;

    SDIO->POWER = SDIO_POWER_ON;
    SDIO->CLKCR = SDIO_CLKCR_CLKEN | SDIO_CLKDIV_INIT;
    SDIO->MASK = 0;
    mp_hal_delay_ms(1); // at least 74 clocks before the first command

    sdcard_state.rca = 0;
    int ret = sdcard_cmd(0, 0, 0, false);
    if (ret != 0) {
        return ret;
    }
    // CMD8: a version 2.00 card echoes the check pattern; an older one does
    // not answer (and cannot be high capacity).
    bool v2 = sdcard_cmd(8, 0x1aa, SDIO_CMD_WAITRESP_SHORT, false) == 0
        && (SDIO->RESP[0] & 0xfff) == 0x1aa;
    uint32_t ocr = 0;
    mp_uint_t start = mp_hal_ticks_ms();
    for (;;) {
        ret = sdcard_cmd_r1(55, 0);
        if (ret == 0) {
            ret = sdcard_cmd(41, SD_OCR_VOLTAGES | (v2 ? SD_OCR_CCS : 0), SDIO_CMD_WAITRESP_SHORT, true);
        }
        if (ret != 0) {
            return ret;
        }
        ocr = SDIO->RESP[0];
        if (ocr & SD_OCR_READY) {
            break;
        }
        if (mp_hal_ticks_ms() - start > 1000) {
            return -MP_ETIMEDOUT;
        }
    }
    sdcard_state.sdhc = (ocr & SD_OCR_CCS) != 0;

    if ((ret = sdcard_cmd(2, 0, SDIO_CMD_WAITRESP_LONG, false)) != 0
        || (ret = sdcard_cmd(3, 0, SDIO_CMD_WAITRESP_SHORT, false)) != 0) {
        return ret;
    }
    sdcard_state.rca = SDIO->RESP[0] >> 16;
    uint32_t arg = (uint32_t)sdcard_state.rca << 16;
    if ((ret = sdcard_cmd(9, arg, SDIO_CMD_WAITRESP_LONG, false)) != 0) {
        return ret;
    }
    // Capacity from the CSD (RESP1 holds bits 127:96, RESP4 bits 31:0).
    uint32_t csd1 = SDIO->RESP[1], csd2 = SDIO->RESP[2];
    if ((SDIO->RESP[0] >> 30) == 1) {
        uint32_t c_size = ((csd1 & 0x3f) << 16) | (csd2 >> 16);
        sdcard_state.num_blocks = (c_size + 1) * 1024;
    } else {
        uint32_t c_size = ((csd1 & 0x3ff) << 2) | (csd2 >> 30);
        uint32_t mult = (csd2 >> 15) & 7;
        uint32_t read_bl_len = (csd1 >> 16) & 0xf;
        sdcard_state.num_blocks = ((c_size + 1) << (mult + 2 + read_bl_len)) / SD_BLOCK_SIZE;
    }
    if ((ret = sdcard_cmd_r1(7, arg)) != 0
        || (ret = sdcard_cmd_r1(16, SD_BLOCK_SIZE)) != 0
        || (ret = sdcard_app_cmd(6, 2)) != 0) {
        return ret;
    }
    SDIO->CLKCR = SDIO_CLKCR_CLKEN | SDIO_CLKCR_HWFC_EN | SDIO_CLKCR_WIDBUS_4 | SDIO_CLKDIV_XFER;
    sdcard_state.ready = true;
    return 0;
}

void sdcard_power_off(void) {
    SDIO->POWER = 0;
    sdcard_state.ready = false;
}

static uint32_t sdcard_addr(uint32_t block) {
    return sdcard_state.sdhc ? block : block * SD_BLOCK_SIZE;
}

// Ends a multi-block transfer with CMD12 and checks the data path flags.
static int sdcard_data_done(uint32_t nblocks, uint32_t sta) {
    SDIO->ICR = SDIO_ICR_STATIC;
    int ret = 0;
    if (nblocks > 1) {
        ret = sdcard_cmd_r1(12, 0);
    }
    if (sta & SDIO_STA_DATA_ERRORS) {
        ret = (sta & SDIO_STA_DTIMEOUT) ? -MP_ETIMEDOUT : -MP_EIO;
    }
    return ret;
}

// Checks a transfer of nblocks at block, programs the data length and timeout and
// sends the read or write command (single or multiple block). Returns 1 when there is
// nothing to transfer, 0 when the data phase is to follow, or a negative errno.
static int sdcard_start_transfer(uint32_t block, uint32_t nblocks, uint32_t cmd_single, uint32_t cmd_multi) {
    if (!sdcard_state.ready) {
        return -MP_ENODEV;
    }
    if (nblocks == 0) {
        return 1;
    }
    // DLEN holds at most 2^25 - 1 bytes.
    if (nblocks > SDIO_DLEN_MAX / SD_BLOCK_SIZE) {
        return -MP_EINVAL;
    }
    if (block + nblocks > sdcard_state.num_blocks || block + nblocks < block) {
        return -MP_EIO;
    }
    SDIO->DTIMER = SDIO_DTIMER_XFER;
    SDIO->DLEN = nblocks * SD_BLOCK_SIZE;
    return sdcard_cmd_r1(nblocks > 1 ? cmd_multi : cmd_single, sdcard_addr(block));
}

int sdcard_read_blocks(uint8_t *dest, uint32_t block, uint32_t nblocks) {
    int ret = sdcard_start_transfer(block, nblocks, 17, 18);
    if (ret != 0) {
        return ret < 0 ? ret : 0;
    }
    SDIO->ICR = SDIO_ICR_STATIC;
    SDIO->DCTRL = SDIO_DCTRL_DTEN | SDIO_DCTRL_DTDIR | SDIO_DCTRL_BLOCK_512;
    uint32_t words = nblocks * SD_BLOCK_SIZE / 4;
    uint32_t sta;
    for (;;) {
        sta = SDIO->STA;
        if (sta & SDIO_STA_DATA_ERRORS) {
            break;
        }
        if ((sta & SDIO_STA_RXFIFOHF) && words >= 8) {
            for (int i = 0; i < 8; ++i) {
                uint32_t w = SDIO->FIFO;
                memcpy(dest, &w, 4);
                dest += 4;
            }
            words -= 8;
        } else if ((sta & SDIO_STA_RXDAVL) && words > 0) {
            uint32_t w = SDIO->FIFO;
            memcpy(dest, &w, 4);
            dest += 4;
            words -= 1;
        } else if (sta & SDIO_STA_DATAEND) {
            break;
        }
    }
    return sdcard_data_done(nblocks, sta);
}

int sdcard_write_blocks(const uint8_t *src, uint32_t block, uint32_t nblocks) {
    int ret = sdcard_start_transfer(block, nblocks, 24, 25);
    if (ret != 0) {
        return ret < 0 ? ret : 0;
    }
    SDIO->ICR = SDIO_ICR_STATIC;
    SDIO->DCTRL = SDIO_DCTRL_DTEN | SDIO_DCTRL_BLOCK_512;
    uint32_t words = nblocks * SD_BLOCK_SIZE / 4;
    uint32_t sta;
    for (;;) {
        sta = SDIO->STA;
        if (sta & SDIO_STA_DATA_ERRORS) {
            break;
        }
        if ((sta & SDIO_STA_TXFIFOHE) && words > 0) {
            uint32_t n = MIN(words, 8u);
            for (uint32_t i = 0; i < n; ++i) {
                uint32_t w;
                memcpy(&w, src, 4);
                SDIO->FIFO = w;
                src += 4;
            }
            words -= n;
        } else if (sta & SDIO_STA_DATAEND) {
            break;
        }
    }
    ret = sdcard_data_done(nblocks, sta);
    if (ret == 0) {
        ret = sdcard_wait_ready();
    }
    return ret;
}

// ---------------------------------------------------------------------------
// pyb.SDCard(): block protocol object

const mp_obj_base_t pyb_sdcard_obj = {&pyb_sdcard_type};

static mp_obj_t pyb_sdcard_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    return MP_OBJ_FROM_PTR(&pyb_sdcard_obj);
}

static mp_obj_t pyb_sdcard_present(mp_obj_t self) {
    return mp_obj_new_bool(sdcard_is_present());
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_sdcard_present_obj, pyb_sdcard_present);

static mp_obj_t pyb_sdcard_power(mp_obj_t self, mp_obj_t state) {
    bool ok = true;
    if (mp_obj_is_true(state)) {
        ok = sdcard_power_on() == 0;
    } else {
        sdcard_power_off();
    }
    return mp_obj_new_bool(ok);
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_sdcard_power_obj, pyb_sdcard_power);

// (capacity in bytes, block size, card type: 0 SDSC, 1 SDHC), or None.
static mp_obj_t pyb_sdcard_info(mp_obj_t self) {
    if (!sdcard_state.ready) {
        return mp_const_none;
    }
    mp_obj_t tuple[3] = {
        mp_obj_new_int_from_ull((uint64_t)sdcard_state.num_blocks * SD_BLOCK_SIZE),
        MP_OBJ_NEW_SMALL_INT(SD_BLOCK_SIZE),
        MP_OBJ_NEW_SMALL_INT(sdcard_state.sdhc ? 1 : 0),
    };
    return mp_obj_new_tuple(3, tuple);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_sdcard_info_obj, pyb_sdcard_info);

static mp_obj_t pyb_sdcard_read(mp_obj_t self, mp_obj_t block_in) {
    uint8_t *buf = m_new(uint8_t, SD_BLOCK_SIZE);
    int ret = sdcard_read_blocks(buf, mp_obj_get_int(block_in), 1);
    if (ret != 0) {
        m_del(uint8_t, buf, SD_BLOCK_SIZE);
        mp_raise_OSError(-ret);
    }
    return mp_obj_new_bytearray_by_ref(SD_BLOCK_SIZE, buf);
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_sdcard_read_obj, pyb_sdcard_read);

static mp_obj_t pyb_sdcard_write(mp_obj_t self, mp_obj_t block_in, mp_obj_t data) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(data, &bufinfo, MP_BUFFER_READ);
    if (bufinfo.len % SD_BLOCK_SIZE != 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("len must be multiple of 512"));
    }
    int ret = sdcard_write_blocks(bufinfo.buf, mp_obj_get_int(block_in), bufinfo.len / SD_BLOCK_SIZE);
    if (ret != 0) {
        mp_raise_OSError(-ret);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(pyb_sdcard_write_obj, pyb_sdcard_write);

static mp_obj_t pyb_sdcard_readblocks(mp_obj_t self, mp_obj_t block_in, mp_obj_t buf_in) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(buf_in, &bufinfo, MP_BUFFER_WRITE);
    int ret = sdcard_read_blocks(bufinfo.buf, mp_obj_get_int(block_in), bufinfo.len / SD_BLOCK_SIZE);
    return MP_OBJ_NEW_SMALL_INT(ret);
}
static MP_DEFINE_CONST_FUN_OBJ_3(pyb_sdcard_readblocks_obj, pyb_sdcard_readblocks);

static mp_obj_t pyb_sdcard_writeblocks(mp_obj_t self, mp_obj_t block_in, mp_obj_t buf_in) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(buf_in, &bufinfo, MP_BUFFER_READ);
    int ret = sdcard_write_blocks(bufinfo.buf, mp_obj_get_int(block_in), bufinfo.len / SD_BLOCK_SIZE);
    return MP_OBJ_NEW_SMALL_INT(ret);
}
static MP_DEFINE_CONST_FUN_OBJ_3(pyb_sdcard_writeblocks_obj, pyb_sdcard_writeblocks);

static mp_obj_t pyb_sdcard_ioctl(mp_obj_t self, mp_obj_t cmd_in, mp_obj_t arg_in) {
    switch (mp_obj_get_int(cmd_in)) {
        case MP_BLOCKDEV_IOCTL_INIT:
            return MP_OBJ_NEW_SMALL_INT(sdcard_power_on() == 0 ? 0 : -1);
        case MP_BLOCKDEV_IOCTL_DEINIT:
            sdcard_power_off();
            return MP_OBJ_NEW_SMALL_INT(0);
        case MP_BLOCKDEV_IOCTL_SYNC:
            // Writes are complete when writeblocks returns.
            return MP_OBJ_NEW_SMALL_INT(0);
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(sdcard_state.num_blocks);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(SD_BLOCK_SIZE);
        default:
            return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(pyb_sdcard_ioctl_obj, pyb_sdcard_ioctl);

static const mp_rom_map_elem_t pyb_sdcard_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_present), MP_ROM_PTR(&pyb_sdcard_present_obj) },
    { MP_ROM_QSTR(MP_QSTR_power), MP_ROM_PTR(&pyb_sdcard_power_obj) },
    { MP_ROM_QSTR(MP_QSTR_info), MP_ROM_PTR(&pyb_sdcard_info_obj) },
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&pyb_sdcard_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&pyb_sdcard_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&pyb_sdcard_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&pyb_sdcard_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&pyb_sdcard_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_sdcard_locals_dict, pyb_sdcard_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_sdcard_type,
    MP_QSTR_SDCard,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_sdcard_make_new,
    locals_dict, &pyb_sdcard_locals_dict
    );

// ---------------------------------------------------------------------------
// Mounting at boot

bool sdcard_mount(void) {
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_t bdev = MP_OBJ_FROM_PTR(&pyb_sdcard_obj);
        mp_obj_t vfs = MP_OBJ_TYPE_GET_SLOT(&mp_fat_vfs_type, make_new)(&mp_fat_vfs_type, 1, 0, &bdev);
        fs_user_mount_t *fsm = MP_OBJ_TO_PTR(vfs);
        if (!sdcard_state.ready || (fsm->blockdev.flags & MP_BLOCKDEV_FLAG_NO_FILESYSTEM)) {
            nlr_pop();
            mp_printf(&mp_plat_print, "MPY: can't mount SD card\n");
            return false;
        }
        mp_obj_t mount_args[2] = { vfs, MP_OBJ_NEW_QSTR(MP_QSTR__slash_sd) };
        mp_vfs_mount(2, mount_args, (mp_map_t *)&mp_const_empty_map);
        mp_vfs_chdir(MP_OBJ_NEW_QSTR(MP_QSTR__slash_sd));
        nlr_pop();
        return true;
    } else {
        mp_printf(&mp_plat_print, "MPY: can't mount SD card\n");
        mp_obj_print_exception(&mp_plat_print, MP_OBJ_FROM_PTR(nlr.ret_val));
        return false;
    }
}
