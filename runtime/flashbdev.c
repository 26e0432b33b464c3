// pybsim runtime: internal flash block device for the FAT filesystem.
//
// Blocks of 512 bytes; block n lives at 0x08004000 + 512 * n, over flash sectors
// 1..4 (three of 16 KiB and one of 64 KiB). Writes go to a write-back cache of 128
// block slots in CCM RAM and reach the flash (RM0090 section 3.6: sector erase and
// word programming through FLASH_KEYR/CR/SR) only when the filesystem syncs (every
// file close, os.sync(), unmount, soft reset), when the cache is full, and after
// FLASHBDEV_IDLE_MS without a write (from the FLASH interrupt, which SysTick pends),
// as the Pyboard's firmware does. LED1 (red) is on while the cache holds unwritten
// blocks, as on the Pyboard.
//
// Unlike the Pyboard's one-sector cache, several sectors can be dirty at once: FatFs
// alternates between the FAT and directory in sector 1 and file data further up,
// and a one-sector cache erases both sectors for every 512 bytes written.
//
// Writing back a sector: if every changed word only clears bits of what the flash
// holds (data written over erased space, the usual case for new file data), the
// words are programmed in place without an erase; programming can clear bits of a
// programmed word, never set them. Otherwise the whole sector is read into free
// slots, erased and programmed. At most CACHE_DIRTY_MAX blocks are kept dirty so
// that there is always room for that: the 16 KiB sectors are written back first
// (each needs at most 32 slots), then the 64 KiB sector, which needs all 128.

#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "extmod/vfs.h"
#include "flashbdev.h"
#include "led.h"

#define FLASH_FS_NUM_SECTORS (4)
#define CACHE_SLOTS         (128)
#define CACHE_DIRTY_MAX     (CACHE_SLOTS - 32)
#define FLASHBDEV_IDLE_MS   (5000)
#define FLASH_IRQ_PRIORITY  (14)
#define LED_DIRTY           (1)

typedef struct _flash_sector_t {
    uint16_t first_block;
    uint16_t num_blocks;
    uint8_t num; // FLASH_CR.SNB
} flash_sector_t;

static const flash_sector_t flash_fs_sectors[FLASH_FS_NUM_SECTORS] = {
    { 0, 32, 1 },
    { 32, 32, 2 },
    { 64, 32, 3 },
    { 96, 128, 4 },
};

static uint8_t cache_data[CACHE_SLOTS][FLASHBDEV_BLOCK_SIZE] __attribute__((section(".ccmram"), aligned(4)));
// Slot + 1 of each cached block (0: not cached), and block + 1 of each slot (0: free).
static uint8_t cache_slot_of[FLASHBDEV_NUM_BLOCKS];
static uint8_t cache_block_of[CACHE_SLOTS];
// Slots in use. Outside a write-back every cached block is dirty.
static uint32_t cache_used;
static volatile uint32_t cache_last_write_ms;

static const uint8_t *block_in_flash(uint32_t block) {
    return (const uint8_t *)(FLASHBDEV_BASE + block * FLASHBDEV_BLOCK_SIZE);
}

// The FLASH interrupt writes the cache back when the filesystem is idle: thread code
// masks it while it uses the cache.
static void cache_lock(void) {
    nvic_disable_irq(FLASH_IRQn);
}

static void cache_unlock(void) {
    nvic_enable_irq(FLASH_IRQn);
}

static int cache_alloc(uint32_t block) {
    for (int i = 0; i < CACHE_SLOTS; ++i) {
        if (cache_block_of[i] == 0) {
            cache_block_of[i] = block + 1;
            cache_slot_of[block] = i + 1;
            ++cache_used;
            return i;
        }
    }
    return -1;
}

static void cache_free(uint32_t block) {
    int slot = cache_slot_of[block] - 1;
    cache_block_of[slot] = 0;
    cache_slot_of[block] = 0;
    --cache_used;
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

// Programs the words of src that differ from what the flash holds.
static int flash_program_words(uint32_t addr, const uint32_t *src, size_t nwords) {
    flash_wait_idle();
    FLASH->SR = FLASH_SR_EOP | FLASH_SR_ERRORS;
    FLASH->CR = (FLASH->CR & ~(FLASH_CR_PSIZE_Msk | FLASH_CR_SER | FLASH_CR_MER))
        | FLASH_CR_PSIZE_X32 | FLASH_CR_PG;
    int ret = 0;
    volatile uint32_t *dst = (volatile uint32_t *)addr;
    for (size_t i = 0; i < nwords; ++i) {
        if (dst[i] == src[i]) {
            continue;
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

// ---------------------------------------------------------------------------
// Write-back

// True if every cached block of the sector can be programmed over the flash as it
// is: no word of it needs a bit set that the flash holds clear.
static bool sector_programmable(const flash_sector_t *sec) {
    for (uint32_t b = sec->first_block; b < sec->first_block + sec->num_blocks; ++b) {
        if (cache_slot_of[b] == 0) {
            continue;
        }
        const uint32_t *now = (const uint32_t *)block_in_flash(b);
        const uint32_t *want = (const uint32_t *)cache_data[cache_slot_of[b] - 1];
        for (size_t i = 0; i < FLASHBDEV_BLOCK_SIZE / 4; ++i) {
            if ((now[i] & want[i]) != want[i]) {
                return false;
            }
        }
    }
    return true;
}

static int sector_write_back(const flash_sector_t *sec) {
    uint32_t first = sec->first_block, end = sec->first_block + sec->num_blocks;
    uint32_t dirty = 0;
    for (uint32_t b = first; b < end; ++b) {
        dirty += cache_slot_of[b] != 0;
    }
    if (dirty == 0) {
        return 0;
    }
    bool erase = !sector_programmable(sec);
    if (erase) {
        // The erase takes the whole sector: hold its other blocks in free slots.
        if (CACHE_SLOTS - cache_used < sec->num_blocks - dirty) {
            return -MP_ENOMEM; // cannot happen while cache_used <= CACHE_DIRTY_MAX
        }
        for (uint32_t b = first; b < end; ++b) {
            if (cache_slot_of[b] == 0) {
                memcpy(cache_data[cache_alloc(b)], block_in_flash(b), FLASHBDEV_BLOCK_SIZE);
            }
        }
    }
    flash_unlock();
    int ret = erase ? flash_erase_sector(sec->num) : 0;
    for (uint32_t b = first; b < end && ret == 0; ++b) {
        if (cache_slot_of[b] != 0) {
            ret = flash_program_words((uint32_t)block_in_flash(b),
                (const uint32_t *)cache_data[cache_slot_of[b] - 1], FLASHBDEV_BLOCK_SIZE / 4);
        }
    }
    flash_lock();
    flash_reset_dcache();
    for (uint32_t b = first; b < end; ++b) {
        if (cache_slot_of[b] != 0) {
            cache_free(b);
        }
    }
    return ret;
}

static int cache_write_back(void) {
    int ret = 0;
    // The 16 KiB sectors first: the 64 KiB one may need every slot.
    for (int s = 0; s < FLASH_FS_NUM_SECTORS; ++s) {
        int r = sector_write_back(&flash_fs_sectors[s]);
        if (ret == 0) {
            ret = r;
        }
    }
    led_state(LED_DIRTY, false);
    return ret;
}

int flashbdev_flush(void) {
    cache_lock();
    int ret = cache_used ? cache_write_back() : 0;
    cache_unlock();
    return ret;
}

// Called by SysTick every millisecond: after a quiet spell, pend the FLASH
// interrupt to write the cache back at low priority.
void flashbdev_systick(uint32_t now_ms) {
    if ((now_ms & 0x7f) == 0 && cache_used != 0
        && now_ms - cache_last_write_ms >= FLASHBDEV_IDLE_MS) {
        NVIC_ISPR(FLASH_IRQn >> 5) = 1u << (FLASH_IRQn & 31);
    }
}

void FLASH_IRQHandler(void) {
    if (cache_used != 0 && mp_hal_ticks_ms() - cache_last_write_ms >= FLASHBDEV_IDLE_MS) {
        cache_write_back();
    }
}

void flashbdev_init(void) {
    nvic_set_priority(FLASH_IRQn, FLASH_IRQ_PRIORITY);
    nvic_enable_irq(FLASH_IRQn);
}

static int flashbdev_read(uint8_t *dest, uint32_t block, uint32_t nblocks) {
    if (block >= FLASHBDEV_NUM_BLOCKS || nblocks > FLASHBDEV_NUM_BLOCKS - block) {
        return -MP_EIO;
    }
    cache_lock();
    for (uint32_t i = 0; i < nblocks; ++i, ++block, dest += FLASHBDEV_BLOCK_SIZE) {
        int slot = cache_slot_of[block];
        memcpy(dest, slot ? cache_data[slot - 1] : block_in_flash(block), FLASHBDEV_BLOCK_SIZE);
    }
    cache_unlock();
    return 0;
}

static int flashbdev_write(const uint8_t *src, uint32_t block, uint32_t nblocks) {
    if (block >= FLASHBDEV_NUM_BLOCKS || nblocks > FLASHBDEV_NUM_BLOCKS - block) {
        return -MP_EIO;
    }
    int ret = 0;
    cache_lock();
    for (uint32_t i = 0; i < nblocks; ++i, ++block, src += FLASHBDEV_BLOCK_SIZE) {
        int slot = cache_slot_of[block];
        if (memcmp(slot ? cache_data[slot - 1] : block_in_flash(block), src, FLASHBDEV_BLOCK_SIZE) == 0) {
            continue; // the block already holds this data
        }
        if (slot == 0) {
            if (cache_used >= CACHE_DIRTY_MAX) {
                ret = cache_write_back();
                if (ret != 0) {
                    break;
                }
            }
            slot = cache_alloc(block) + 1;
        }
        memcpy(cache_data[slot - 1], src, FLASHBDEV_BLOCK_SIZE);
        cache_last_write_ms = mp_hal_ticks_ms();
        led_state(LED_DIRTY, true);
    }
    cache_unlock();
    return ret;
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
            return MP_OBJ_NEW_SMALL_INT(flashbdev_flush());
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
