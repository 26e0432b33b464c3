//! DMA1/DMA2, the two 8-stream DMA controllers (RM0090 §10, registers §10.5): register
//! table only, through [`Stub`]; no transfer is modelled.
//!
//! Modelled:
//! - LISR/HISR (read-only, never set), LIFCR/HIFCR (write-only), and per stream SxCR,
//!   SxNDTR, SxPAR, SxM0AR, SxM1AR at reset 0 and SxFCR at reset 0x0000_0021 (FS = 100b,
//!   FIFO empty; FTH = 01b).
//!
//! Not modelled:
//! - Transfers: setting SxCR.EN moves no data, NDTR does not count, EN does not clear
//!   itself at the end, no flag or interrupt. All control fields are declared unmodelled
//!   (warn once). Firmware that waits for a DMA transfer (the official firmware's
//!   `DAC.write_timed`, SPI/I2C with DMA, SD card) runs into its own timeout.

use crate::regs::{f, unmodelled, Access::*, Field, Reg};
use crate::stub::Stub;

/// SxCR fields (RM0090 §10.5.5), the same for the eight streams.
const SXCR: &[Field] = &[
    unmodelled("EN", 0, 1, Rw),
    unmodelled("DMEIE", 1, 1, Rw),
    unmodelled("TEIE", 2, 1, Rw),
    unmodelled("HTIE", 3, 1, Rw),
    unmodelled("TCIE", 4, 1, Rw),
    unmodelled("PFCTRL", 5, 1, Rw),
    unmodelled("DIR", 6, 2, Rw),
    unmodelled("CIRC", 8, 1, Rw),
    unmodelled("PINC", 9, 1, Rw),
    unmodelled("MINC", 10, 1, Rw),
    unmodelled("PSIZE", 11, 2, Rw),
    unmodelled("MSIZE", 13, 2, Rw),
    unmodelled("PINCOS", 15, 1, Rw),
    unmodelled("PL", 16, 2, Rw),
    unmodelled("DBM", 18, 1, Rw),
    unmodelled("CT", 19, 1, Rw),
    unmodelled("PBURST", 21, 2, Rw),
    unmodelled("MBURST", 23, 2, Rw),
    unmodelled("CHSEL", 25, 3, Rw),
];
const SXNDTR: &[Field] = &[unmodelled("NDT", 0, 16, Rw)];
const SXPAR: &[Field] = &[unmodelled("PA", 0, 32, Rw)];
const SXM0AR: &[Field] = &[unmodelled("M0A", 0, 32, Rw)];
const SXM1AR: &[Field] = &[unmodelled("M1A", 0, 32, Rw)];
/// SxFCR (RM0090 §10.5.10): reset 0x21, FIFO empty (FS = 100b), FTH = 01b.
const SXFCR: &[Field] = &[
    unmodelled("FTH", 0, 2, Rw),
    unmodelled("DMDIS", 2, 1, Rw),
    f("FS", 3, 3, R),
    unmodelled("FEIE", 7, 1, Rw),
];

/// The register table (RM0090 §10.5): the four interrupt registers, then six registers
/// per stream x at 0x10 + 0x18 * x.
macro_rules! dma_regs {
    ($($x:literal),*) => {
        &[
            Reg { offset: 0x00, name: "LISR", reset: 0x0, fields: &[f("flags", 0, 32, R)] },
            Reg { offset: 0x04, name: "HISR", reset: 0x0, fields: &[f("flags", 0, 32, R)] },
            Reg { offset: 0x08, name: "LIFCR", reset: 0x0, fields: &[unmodelled("clear", 0, 32, W)] },
            Reg { offset: 0x0c, name: "HIFCR", reset: 0x0, fields: &[unmodelled("clear", 0, 32, W)] },
            $(
                Reg { offset: 0x10 + 0x18 * $x, name: concat!("S", $x, "CR"), reset: 0x0, fields: SXCR },
                Reg { offset: 0x14 + 0x18 * $x, name: concat!("S", $x, "NDTR"), reset: 0x0, fields: SXNDTR },
                Reg { offset: 0x18 + 0x18 * $x, name: concat!("S", $x, "PAR"), reset: 0x0, fields: SXPAR },
                Reg { offset: 0x1c + 0x18 * $x, name: concat!("S", $x, "M0AR"), reset: 0x0, fields: SXM0AR },
                Reg { offset: 0x20 + 0x18 * $x, name: concat!("S", $x, "M1AR"), reset: 0x0, fields: SXM1AR },
                Reg { offset: 0x24 + 0x18 * $x, name: concat!("S", $x, "FCR"), reset: 0x21, fields: SXFCR },
            )*
        ]
    };
}

pub const REGS: &[Reg] = dma_regs!(0, 1, 2, 3, 4, 5, 6, 7);

/// A DMA controller named `name` ("DMA1" or "DMA2").
pub fn new(name: &str) -> Stub {
    Stub::new(name, "DMA", REGS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    #[test]
    fn stream_registers_at_reset() {
        let mut b = FakeBus::new(new("DMA2"), Clocks::RESET);
        for x in 0..8 {
            assert_eq!(b.read32(0x10 + 0x18 * x), 0);
            assert_eq!(b.read32(0x24 + 0x18 * x), 0x21, "S{x}FCR");
        }
        b.write32(0x10 + 0x18 * 7, 0x0C00_0001);
        assert_eq!(b.read32(0x10 + 0x18 * 7), 0x0C00_0001);
        b.write32(0x08, 0xFFFF_FFFF);
        assert_eq!(b.read32(0x08), 0, "LIFCR reads 0");
        assert_eq!(b.read32(0x00), 0);
    }
}
