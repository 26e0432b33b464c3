// pybsim runtime: internal flash block device for the FAT filesystem.
//
// Blocks of 512 bytes; block n lives at 0x08004000 + 512 * n, over sectors
// 1..4 (three of 16 KiB and one of 64 KiB). Writes collect in a sector-sized
// buffer in CCM RAM and are written back, sector erase then word programming
// through the FLASH interface registers (RM0090 section 3.6), on sync or when
// another sector is written.

#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "extmod/vfs.h"
#include "flashbdev.h"

typedef struct _flash_sector_t {
    uint32_t addr;
    uint32_t size;
    uint8_t num;
} flash_sector_t;

static const flash_sector_t flash_fs_sectors[] = {
    { 0x08004000u, 0x4000u, 1 },
    { 0x08008000u, 0x4000u, 2 },
    { 0x0800c000u, 0x4000u, 3 },
    { 0x08010000u, 0x10000u, 4 },
};

#define NO_SECTOR (-1)

static uint8_t flash_cache[0x10000] __attribute__((section(".ccmram"), aligned(4)));
static int flash_cache_sector = NO_SECTOR;
static bool flash_cache_dirty;

static int flash_sector_index(uint32_t addr) {
    for (size_t i = 0; i < MP_ARRAY_SIZE(flash_fs_sectors); ++i) {
        const flash_sector_t *s = &flash_fs_sectors[i];
        if (addr >= s->addr && addr < s->addr + s->size) {
            return i;
        }
    }
    return NO_SECTOR;
}

// ---------------------------------------------------------------------------
// FLASH interface

static void flash_wait_idle(void) {
    while (FLASH->SR & FLASH_SR_BSY) {
    }
}

static void flash_unlock(void) {
    if (FLASH->CR & FLASH_CR_LOCK) {
        FLASH->KEYR = FLASH_KEY1;
        FLASH->KEYR = FLASH_KEY2;
    }
}

static void flash_lock(void) {
    FLASH->CR |= FLASH_CR_LOCK;
}

static uint32_t flash_check_errors(void) {
    uint32_t err = FLASH->SR & FLASH_SR_ERRORS;
    if (err) {
        FLASH->SR = err; // write 1 to clear
    }
    return err;
}

// The data cache may hold stale lines of the rewritten sector: reset it.
static void flash_reset_dcache(void) {
    uint32_t acr = FLASH->ACR;
    FLASH->ACR = acr & ~FLASH_ACR_DCEN;
    FLASH->ACR = (acr & ~FLASH_ACR_DCEN) | FLASH_ACR_DCRST;
    FLASH->ACR = acr & ~FLASH_ACR_DCRST;
}

static int flash_erase_sector(uint8_t snb) {
    flash_wait_idle();
    FLASH->SR = FLASH_SR_EOP | FLASH_SR_ERRORS;
    FLASH->CR = (FLASH->CR & ~(FLASH_CR_PSIZE_Msk | FLASH_CR_SNB_Msk | FLASH_CR_PG | FLASH_CR_MER))
        | FLASH_CR_PSIZE_X32 | FLASH_CR_SER | ((uint32_t)snb << FLASH_CR_SNB_Pos);
    FLASH->CR |= FLASH_CR_STRT;
    flash_wait_idle();
    FLASH->CR &= ~(FLASH_CR_SER | FLASH_CR_SNB_Msk);
    return flash_check_errors() ? -MP_EIO : 0;
}

static int flash_program_words(uint32_t addr, const uint32_t *src, size_t nwords) {
    flash_wait_idle();
    FLASH->SR = FLASH_SR_EOP | FLASH_SR_ERRORS;
    FLASH->CR = (FLASH->CR & ~(FLASH_CR_PSIZE_Msk | FLASH_CR_SER | FLASH_CR_MER))
        | FLASH_CR_PSIZE_X32 | FLASH_CR_PG;
    int ret = 0;
    volatile uint32_t *dst = (volatile uint32_t *)addr;
    for (size_t i = 0; i < nwords; ++i) {
        if (src[i] == 0xffffffffu) {
            continue; // erased state already
        }
        dst[i] = src[i];
        __asm volatile ("dsb" ::: "memory");
        flash_wait_idle();
        if (flash_check_errors()) {
            ret = -MP_EIO;
            break;
        }
    }
    FLASH->CR &= ~FLASH_CR_PG;
    return ret;
}

static int flash_cache_flush(void) {
    if (flash_cache_sector == NO_SECTOR || !flash_cache_dirty) {
        return 0;
    }
    const flash_sector_t *s = &flash_fs_sectors[flash_cache_sector];
    int ret;
    flash_unlock();
    ret = flash_erase_sector(s->num);
    if (ret == 0) {
        ret = flash_program_words(s->addr, (const uint32_t *)flash_cache, s->size / 4);
    }
    flash_lock();
    flash_reset_dcache();
    flash_cache_dirty = false;
    return ret;
}

void flashbdev_flush(void) {
    flash_cache_flush();
}

static int flash_cache_load(int idx) {
    if (flash_cache_sector == idx) {
        return 0;
    }
    int ret = flash_cache_flush();
    if (ret != 0) {
        return ret;
    }
    const flash_sector_t *s = &flash_fs_sectors[idx];
    memcpy(flash_cache, (const void *)s->addr, s->size);
    flash_cache_sector = idx;
    flash_cache_dirty = false;
    return 0;
}

static int flashbdev_read(uint8_t *dest, uint32_t block, uint32_t nblocks) {
    for (uint32_t i = 0; i < nblocks; ++i, ++block, dest += FLASHBDEV_BLOCK_SIZE) {
        if (block >= FLASHBDEV_NUM_BLOCKS) {
            return -MP_EIO;
        }
        uint32_t addr = FLASHBDEV_BASE + block * FLASHBDEV_BLOCK_SIZE;
        int idx = flash_sector_index(addr);
        if (idx == flash_cache_sector) {
            memcpy(dest, flash_cache + (addr - flash_fs_sectors[idx].addr), FLASHBDEV_BLOCK_SIZE);
        } else {
            memcpy(dest, (const void *)addr, FLASHBDEV_BLOCK_SIZE);
        }
    }
    return 0;
}

static int flashbdev_write(const uint8_t *src, uint32_t block, uint32_t nblocks) {
    for (uint32_t i = 0; i < nblocks; ++i, ++block, src += FLASHBDEV_BLOCK_SIZE) {
        if (block >= FLASHBDEV_NUM_BLOCKS) {
            return -MP_EIO;
        }
        uint32_t addr = FLASHBDEV_BASE + block * FLASHBDEV_BLOCK_SIZE;
        int idx = flash_sector_index(addr);
        // Skip the write if the block already holds this data.
        const uint8_t *cur = idx == flash_cache_sector
            ? flash_cache + (addr - flash_fs_sectors[idx].addr)
            : (const uint8_t *)addr;
        if (memcmp(cur, src, FLASHBDEV_BLOCK_SIZE) == 0) {
            continue;
        }
        int ret = flash_cache_load(idx);
        if (ret != 0) {
            return ret;
        }
        memcpy(flash_cache + (addr - flash_fs_sectors[idx].addr), src, FLASHBDEV_BLOCK_SIZE);
        flash_cache_dirty = true;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// pyb.Flash(): block protocol object

const mp_obj_base_t pyb_flash_obj = {&pyb_flash_type};

static void pyb_flash_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    mp_printf(print, "Flash(start=%u, len=%u)", 0, FLASHBDEV_NUM_BLOCKS * FLASHBDEV_BLOCK_SIZE);
}

static mp_obj_t pyb_flash_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    return MP_OBJ_FROM_PTR(&pyb_flash_obj);
}

static mp_obj_t pyb_flash_readblocks(size_t n_args, const mp_obj_t *args) {
    uint32_t block = mp_obj_get_int(args[1]);
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(args[2], &bufinfo, MP_BUFFER_WRITE);
    int ret;
    if (n_args == 4) {
        // extended protocol: byte offset within the block
        uint32_t offset = mp_obj_get_int(args[3]);
        uint32_t addr = block * FLASHBDEV_BLOCK_SIZE + offset;
        if (addr + bufinfo.len > FLASHBDEV_NUM_BLOCKS * FLASHBDEV_BLOCK_SIZE) {
            return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
        }
        uint8_t tmp[FLASHBDEV_BLOCK_SIZE];
        uint8_t *dest = bufinfo.buf;
        size_t len = bufinfo.len;
        ret = 0;
        while (len > 0 && ret == 0) {
            uint32_t b = addr / FLASHBDEV_BLOCK_SIZE, off = addr % FLASHBDEV_BLOCK_SIZE;
            size_t n = MIN(len, FLASHBDEV_BLOCK_SIZE - off);
            ret = flashbdev_read(tmp, b, 1);
            memcpy(dest, tmp + off, n);
            dest += n;
            addr += n;
            len -= n;
        }
    } else {
        ret = flashbdev_read(bufinfo.buf, block, bufinfo.len / FLASHBDEV_BLOCK_SIZE);
    }
    return MP_OBJ_NEW_SMALL_INT(ret);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_flash_readblocks_obj, 3, 4, pyb_flash_readblocks);

static mp_obj_t pyb_flash_writeblocks(size_t n_args, const mp_obj_t *args) {
    uint32_t block = mp_obj_get_int(args[1]);
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(args[2], &bufinfo, MP_BUFFER_READ);
    int ret;
    if (n_args == 4) {
        uint32_t offset = mp_obj_get_int(args[3]);
        uint32_t addr = block * FLASHBDEV_BLOCK_SIZE + offset;
        if (addr + bufinfo.len > FLASHBDEV_NUM_BLOCKS * FLASHBDEV_BLOCK_SIZE) {
            return MP_OBJ_NEW_SMALL_INT(-MP_EINVAL);
        }
        uint8_t tmp[FLASHBDEV_BLOCK_SIZE];
        const uint8_t *src = bufinfo.buf;
        size_t len = bufinfo.len;
        ret = 0;
        while (len > 0 && ret == 0) {
            uint32_t b = addr / FLASHBDEV_BLOCK_SIZE, off = addr % FLASHBDEV_BLOCK_SIZE;
            size_t n = MIN(len, FLASHBDEV_BLOCK_SIZE - off);
            ret = flashbdev_read(tmp, b, 1);
            if (ret == 0) {
                memcpy(tmp + off, src, n);
                ret = flashbdev_write(tmp, b, 1);
            }
            src += n;
            addr += n;
            len -= n;
        }
    } else {
        ret = flashbdev_write(bufinfo.buf, block, bufinfo.len / FLASHBDEV_BLOCK_SIZE);
    }
    return MP_OBJ_NEW_SMALL_INT(ret);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_flash_writeblocks_obj, 3, 4, pyb_flash_writeblocks);

static mp_obj_t pyb_flash_ioctl(mp_obj_t self_in, mp_obj_t cmd_in, mp_obj_t arg_in) {
    mp_int_t cmd = mp_obj_get_int(cmd_in);
    switch (cmd) {
        case MP_BLOCKDEV_IOCTL_INIT:
            return MP_OBJ_NEW_SMALL_INT(0);
        case MP_BLOCKDEV_IOCTL_DEINIT:
        case MP_BLOCKDEV_IOCTL_SYNC:
            return MP_OBJ_NEW_SMALL_INT(flash_cache_flush());
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(FLASHBDEV_NUM_BLOCKS);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(FLASHBDEV_BLOCK_SIZE);
        case MP_BLOCKDEV_IOCTL_BLOCK_ERASE:
            return MP_OBJ_NEW_SMALL_INT(0);
        default:
            return mp_const_none;
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(pyb_flash_ioctl_obj, pyb_flash_ioctl);

static const mp_rom_map_elem_t pyb_flash_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&pyb_flash_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&pyb_flash_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&pyb_flash_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_flash_locals_dict, pyb_flash_locals_dict_table);

MP_DEFINE_CONST_OBJ_TYPE(
    pyb_flash_type,
    MP_QSTR_Flash,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_flash_make_new,
    print, pyb_flash_print,
    locals_dict, &pyb_flash_locals_dict
    );
