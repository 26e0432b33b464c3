// pybsim runtime: micro SD card on the SDIO host (pyb.SDCard).

#ifndef PYBSIM_SDCARD_H
#define PYBSIM_SDCARD_H

#include "py/obj.h"

extern const mp_obj_type_t pyb_sdcard_type;
extern const mp_obj_base_t pyb_sdcard_obj;

bool sdcard_is_present(void);
int sdcard_power_on(void);
void sdcard_power_off(void);
int sdcard_read_blocks(uint8_t *dest, uint32_t block, uint32_t nblocks);
int sdcard_write_blocks(const uint8_t *src, uint32_t block, uint32_t nblocks);
// Mounts the card's FAT volume at /sd and makes /sd the current directory.
bool sdcard_mount(void);

#endif // PYBSIM_SDCARD_H
