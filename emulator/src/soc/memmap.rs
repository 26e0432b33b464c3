//! The STM32F405's memory map (RM0090 §2.3, datasheet DS8626 §4): flash at 0x0800_0000
//! (aliased at 0 with BOOT0 low), SRAM1+SRAM2, the CCM data RAM, backup SRAM, system
//! memory with the device identity and factory calibration words, the option bytes, the
//! Cortex-M4 private peripheral bus, the bit-band aliases and the peripheral pages.

use crate::core::cpu::{Backing, Region};
use crate::core::CodeMap;

pub const FLASH_BASE: u32 = 0x0800_0000;
pub const FLASH_SIZE: u32 = 1024 * 1024;
pub const SRAM_BASE: u32 = 0x2000_0000;
pub const SRAM_SIZE: u32 = 128 * 1024;
pub const CCM_BASE: u32 = 0x1000_0000;
pub const CCM_SIZE: u32 = 64 * 1024;
pub const BKPSRAM_BASE: u32 = 0x4002_4000;
pub const SYSMEM_BASE: u32 = 0x1FFF_0000;
/// System memory (bootloader), OTP and the device identity registers, read-only.
pub const SYSMEM_SIZE: u32 = 0x8000;
pub const OPTION_BYTES_BASE: u32 = 0x1FFF_C000;
pub const UID_ADDR: u32 = 0x1FFF_7A10;
pub const FLASH_SIZE_REG: u32 = 0x1FFF_7A22;

/// Where code can run, for the core: flash (own address first, then the alias at 0),
/// SRAM and the bootloader part of system memory; code in SRAM may be rewritten.
pub fn code_map() -> CodeMap {
    CodeMap {
        flash_bases: vec![FLASH_BASE, 0],
        flash_size: FLASH_SIZE,
        exec: vec![(SRAM_BASE, SRAM_SIZE), (SYSMEM_BASE, 0x7800)],
        rewritable_from: SRAM_BASE,
    }
}

/// The memory regions of the chip with the unique device ID `uid`, and the peripheral
/// register pages `pages` (4 KiB each) mapped as register space.
pub fn regions(uid: &[u8; 12], pages: &[u32]) -> Vec<Region> {
    let mut sysmem = vec![0u8; SYSMEM_SIZE as usize];
    let uid_off = (UID_ADDR - SYSMEM_BASE) as usize;
    sysmem[uid_off..uid_off + 12].copy_from_slice(uid);
    // Factory calibration words (STM32F405 datasheet, temperature sensor and
    // VREFINT calibration values): VREFIN_CAL at 0x1FFF_7A2A, TS_CAL1 (30 °C) and
    // TS_CAL2 (110 °C) after it, as 12-bit codes at VDDA = 3.3 V of the typical
    // 1.21 V, 0.7725 V and 0.9725 V (what the ADC model converts).
    let cal_off = (0x1FFF_7A2A - SYSMEM_BASE) as usize;
    for (i, v) in [1501u16, 958, 1207].iter().enumerate() {
        sysmem[cal_off + 2 * i..cal_off + 2 * i + 2].copy_from_slice(&v.to_le_bytes());
    }
    let fs_off = (FLASH_SIZE_REG - SYSMEM_BASE) as usize;
    sysmem[fs_off..fs_off + 2].copy_from_slice(&((FLASH_SIZE / 1024) as u16).to_le_bytes());
    // OTP area erased.
    let otp = (0x1FFF_7800 - SYSMEM_BASE) as usize;
    sysmem[otp..otp + 528].fill(0xFF);
    // Option bytes (RM0090 §3.7.1): RDP level 0 (0xAA), USER 0xEF... as shipped.
    let mut opt = vec![0u8; 0x1000];
    opt[..16].copy_from_slice(&[
        0xEF, 0xAA, 0x10, 0x55, 0xFF, 0x0F, 0x00, 0xF0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    let mut regions = vec![
        Region {
            start: 0,
            len: FLASH_SIZE,
            exec: true,
            writable: false,
            backing: Backing::Flash {
                aliases: vec![0, FLASH_BASE],
            },
        },
        Region {
            start: SRAM_BASE,
            len: SRAM_SIZE,
            exec: true,
            writable: true,
            backing: Backing::Ram { init: Vec::new() },
        },
        Region {
            start: CCM_BASE,
            len: CCM_SIZE,
            exec: false,
            writable: true,
            backing: Backing::Ram { init: Vec::new() },
        },
        Region {
            start: BKPSRAM_BASE,
            len: 0x1000,
            exec: false,
            writable: true,
            backing: Backing::Ram { init: Vec::new() },
        },
        Region {
            start: SYSMEM_BASE,
            len: SYSMEM_SIZE,
            exec: true,
            writable: false,
            backing: Backing::Ram { init: sysmem },
        },
        Region {
            start: OPTION_BYTES_BASE,
            len: 0x1000,
            exec: false,
            writable: false,
            backing: Backing::Ram { init: opt },
        },
        // Private peripheral bus: ITM, DWT, FPB; SCS; DBGMCU.
        Region {
            start: 0xE000_0000,
            len: 0x3000,
            exec: false,
            writable: true,
            backing: Backing::Mmio,
        },
        Region {
            start: 0xE000_E000,
            len: 0x1000,
            exec: false,
            writable: true,
            backing: Backing::Mmio,
        },
        Region {
            start: 0xE004_2000,
            len: 0x1000,
            exec: false,
            writable: true,
            backing: Backing::Mmio,
        },
        // Bit-band aliases of SRAM and of the peripherals.
        Region {
            start: 0x2200_0000,
            len: 0x0200_0000,
            exec: false,
            writable: true,
            backing: Backing::Mmio,
        },
        Region {
            start: 0x4200_0000,
            len: 0x0200_0000,
            exec: false,
            writable: true,
            backing: Backing::Mmio,
        },
    ];
    for &p in pages {
        if p == BKPSRAM_BASE {
            continue;
        }
        regions.push(Region {
            start: p,
            len: 0x1000,
            exec: false,
            writable: true,
            backing: Backing::Mmio,
        });
    }
    regions
}
