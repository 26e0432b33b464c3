// pybsim runtime: internal flash block device (pyb.Flash).

#ifndef PYBSIM_FLASHBDEV_H
#define PYBSIM_FLASHBDEV_H

#include "py/obj.h"

#define FLASHBDEV_BASE          (0x08004000u)
#define FLASHBDEV_BLOCK_SIZE    (512u)
#define FLASHBDEV_NUM_BLOCKS    (224u)

extern const mp_obj_type_t pyb_flash_type;
extern const mp_obj_base_t pyb_flash_obj;

void flashbdev_init(void);
int flashbdev_flush(void);
void flashbdev_systick(uint32_t now_ms);

#endif // PYBSIM_FLASHBDEV_H
