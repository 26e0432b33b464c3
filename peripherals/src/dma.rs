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

use crate::regs::{f, unmodelled, Access::*, Reg};
use crate::stub::Stub;

/// The register table (RM0090 §10.5).
pub const REGS: &[Reg] = &[
    Reg {
        offset: 0x00,
        name: "LISR",
        reset: 0x0,
        fields: &[f("flags", 0, 32, R)],
    },
    Reg {
        offset: 0x04,
        name: "HISR",
        reset: 0x0,
        fields: &[f("flags", 0, 32, R)],
    },
    Reg {
        offset: 0x08,
        name: "LIFCR",
        reset: 0x0,
        fields: &[unmodelled("clear", 0, 32, W)],
    },
    Reg {
        offset: 0x0c,
        name: "HIFCR",
        reset: 0x0,
        fields: &[unmodelled("clear", 0, 32, W)],
    },
    Reg {
        offset: 0x10,
        name: "S0CR",
        reset: 0x0,
        fields: &[
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
        ],
    },
    Reg {
        offset: 0x14,
        name: "S0NDTR",
        reset: 0x0,
        fields: &[unmodelled("NDT", 0, 16, Rw)],
    },
    Reg {
        offset: 0x18,
        name: "S0PAR",
        reset: 0x0,
        fields: &[unmodelled("PA", 0, 32, Rw)],
    },
    Reg {
        offset: 0x1c,
        name: "S0M0AR",
        reset: 0x0,
        fields: &[unmodelled("M0A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x20,
        name: "S0M1AR",
        reset: 0x0,
        fields: &[unmodelled("M1A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x24,
        name: "S0FCR",
        reset: 0x21,
        fields: &[
            unmodelled("FTH", 0, 2, Rw),
            unmodelled("DMDIS", 2, 1, Rw),
            f("FS", 3, 3, R),
            unmodelled("FEIE", 7, 1, Rw),
        ],
    },
    Reg {
        offset: 0x28,
        name: "S1CR",
        reset: 0x0,
        fields: &[
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
        ],
    },
    Reg {
        offset: 0x2c,
        name: "S1NDTR",
        reset: 0x0,
        fields: &[unmodelled("NDT", 0, 16, Rw)],
    },
    Reg {
        offset: 0x30,
        name: "S1PAR",
        reset: 0x0,
        fields: &[unmodelled("PA", 0, 32, Rw)],
    },
    Reg {
        offset: 0x34,
        name: "S1M0AR",
        reset: 0x0,
        fields: &[unmodelled("M0A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x38,
        name: "S1M1AR",
        reset: 0x0,
        fields: &[unmodelled("M1A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x3c,
        name: "S1FCR",
        reset: 0x21,
        fields: &[
            unmodelled("FTH", 0, 2, Rw),
            unmodelled("DMDIS", 2, 1, Rw),
            f("FS", 3, 3, R),
            unmodelled("FEIE", 7, 1, Rw),
        ],
    },
    Reg {
        offset: 0x40,
        name: "S2CR",
        reset: 0x0,
        fields: &[
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
        ],
    },
    Reg {
        offset: 0x44,
        name: "S2NDTR",
        reset: 0x0,
        fields: &[unmodelled("NDT", 0, 16, Rw)],
    },
    Reg {
        offset: 0x48,
        name: "S2PAR",
        reset: 0x0,
        fields: &[unmodelled("PA", 0, 32, Rw)],
    },
    Reg {
        offset: 0x4c,
        name: "S2M0AR",
        reset: 0x0,
        fields: &[unmodelled("M0A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x50,
        name: "S2M1AR",
        reset: 0x0,
        fields: &[unmodelled("M1A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x54,
        name: "S2FCR",
        reset: 0x21,
        fields: &[
            unmodelled("FTH", 0, 2, Rw),
            unmodelled("DMDIS", 2, 1, Rw),
            f("FS", 3, 3, R),
            unmodelled("FEIE", 7, 1, Rw),
        ],
    },
    Reg {
        offset: 0x58,
        name: "S3CR",
        reset: 0x0,
        fields: &[
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
        ],
    },
    Reg {
        offset: 0x5c,
        name: "S3NDTR",
        reset: 0x0,
        fields: &[unmodelled("NDT", 0, 16, Rw)],
    },
    Reg {
        offset: 0x60,
        name: "S3PAR",
        reset: 0x0,
        fields: &[unmodelled("PA", 0, 32, Rw)],
    },
    Reg {
        offset: 0x64,
        name: "S3M0AR",
        reset: 0x0,
        fields: &[unmodelled("M0A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x68,
        name: "S3M1AR",
        reset: 0x0,
        fields: &[unmodelled("M1A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x6c,
        name: "S3FCR",
        reset: 0x21,
        fields: &[
            unmodelled("FTH", 0, 2, Rw),
            unmodelled("DMDIS", 2, 1, Rw),
            f("FS", 3, 3, R),
            unmodelled("FEIE", 7, 1, Rw),
        ],
    },
    Reg {
        offset: 0x70,
        name: "S4CR",
        reset: 0x0,
        fields: &[
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
        ],
    },
    Reg {
        offset: 0x74,
        name: "S4NDTR",
        reset: 0x0,
        fields: &[unmodelled("NDT", 0, 16, Rw)],
    },
    Reg {
        offset: 0x78,
        name: "S4PAR",
        reset: 0x0,
        fields: &[unmodelled("PA", 0, 32, Rw)],
    },
    Reg {
        offset: 0x7c,
        name: "S4M0AR",
        reset: 0x0,
        fields: &[unmodelled("M0A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x80,
        name: "S4M1AR",
        reset: 0x0,
        fields: &[unmodelled("M1A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x84,
        name: "S4FCR",
        reset: 0x21,
        fields: &[
            unmodelled("FTH", 0, 2, Rw),
            unmodelled("DMDIS", 2, 1, Rw),
            f("FS", 3, 3, R),
            unmodelled("FEIE", 7, 1, Rw),
        ],
    },
    Reg {
        offset: 0x88,
        name: "S5CR",
        reset: 0x0,
        fields: &[
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
        ],
    },
    Reg {
        offset: 0x8c,
        name: "S5NDTR",
        reset: 0x0,
        fields: &[unmodelled("NDT", 0, 16, Rw)],
    },
    Reg {
        offset: 0x90,
        name: "S5PAR",
        reset: 0x0,
        fields: &[unmodelled("PA", 0, 32, Rw)],
    },
    Reg {
        offset: 0x94,
        name: "S5M0AR",
        reset: 0x0,
        fields: &[unmodelled("M0A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x98,
        name: "S5M1AR",
        reset: 0x0,
        fields: &[unmodelled("M1A", 0, 32, Rw)],
    },
    Reg {
        offset: 0x9c,
        name: "S5FCR",
        reset: 0x21,
        fields: &[
            unmodelled("FTH", 0, 2, Rw),
            unmodelled("DMDIS", 2, 1, Rw),
            f("FS", 3, 3, R),
            unmodelled("FEIE", 7, 1, Rw),
        ],
    },
    Reg {
        offset: 0xa0,
        name: "S6CR",
        reset: 0x0,
        fields: &[
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
        ],
    },
    Reg {
        offset: 0xa4,
        name: "S6NDTR",
        reset: 0x0,
        fields: &[unmodelled("NDT", 0, 16, Rw)],
    },
    Reg {
        offset: 0xa8,
        name: "S6PAR",
        reset: 0x0,
        fields: &[unmodelled("PA", 0, 32, Rw)],
    },
    Reg {
        offset: 0xac,
        name: "S6M0AR",
        reset: 0x0,
        fields: &[unmodelled("M0A", 0, 32, Rw)],
    },
    Reg {
        offset: 0xb0,
        name: "S6M1AR",
        reset: 0x0,
        fields: &[unmodelled("M1A", 0, 32, Rw)],
    },
    Reg {
        offset: 0xb4,
        name: "S6FCR",
        reset: 0x21,
        fields: &[
            unmodelled("FTH", 0, 2, Rw),
            unmodelled("DMDIS", 2, 1, Rw),
            f("FS", 3, 3, R),
            unmodelled("FEIE", 7, 1, Rw),
        ],
    },
    Reg {
        offset: 0xb8,
        name: "S7CR",
        reset: 0x0,
        fields: &[
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
        ],
    },
    Reg {
        offset: 0xbc,
        name: "S7NDTR",
        reset: 0x0,
        fields: &[unmodelled("NDT", 0, 16, Rw)],
    },
    Reg {
        offset: 0xc0,
        name: "S7PAR",
        reset: 0x0,
        fields: &[unmodelled("PA", 0, 32, Rw)],
    },
    Reg {
        offset: 0xc4,
        name: "S7M0AR",
        reset: 0x0,
        fields: &[unmodelled("M0A", 0, 32, Rw)],
    },
    Reg {
        offset: 0xc8,
        name: "S7M1AR",
        reset: 0x0,
        fields: &[unmodelled("M1A", 0, 32, Rw)],
    },
    Reg {
        offset: 0xcc,
        name: "S7FCR",
        reset: 0x21,
        fields: &[
            unmodelled("FTH", 0, 2, Rw),
            unmodelled("DMDIS", 2, 1, Rw),
            f("FS", 3, 3, R),
            unmodelled("FEIE", 7, 1, Rw),
        ],
    },
];

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
