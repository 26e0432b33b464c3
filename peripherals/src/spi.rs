//! SPI1-3 / I2S2-3 (RM0090 §28, registers §28.5): register table only, through
//! [`Stub`]; the serial function is not modelled.
//!
//! Modelled:
//! - The nine registers at their reset values (SR = 0x0002: TXE set; CRCPR = 0x0007;
//!   I2SPR = 0x0002) with their access kinds, so enabling, configuring and disabling the
//!   block reads back as on silicon.
//!
//! Not modelled:
//! - Transfers: a write to DR shifts nothing out, RXNE never rises, BSY never sets, no
//!   CRC, no I2S, no interrupt or DMA request. Every control field is declared
//!   unmodelled (warns once when first changed). The official firmware's
//!   `HAL_SPI_TransmitReceive` therefore times out (OSError ETIMEDOUT in Python).

use crate::regs::{f, unmodelled, Access::*, Reg};
use crate::stub::Stub;

/// The register table (RM0090 §28.5).
pub const REGS: &[Reg] = &[
    Reg {
        offset: 0x00,
        name: "CR1",
        reset: 0x0,
        fields: &[
            unmodelled("CPHA", 0, 1, Rw),
            unmodelled("CPOL", 1, 1, Rw),
            unmodelled("MSTR", 2, 1, Rw),
            unmodelled("BR", 3, 3, Rw),
            unmodelled("SPE", 6, 1, Rw),
            unmodelled("LSBFIRST", 7, 1, Rw),
            unmodelled("SSI", 8, 1, Rw),
            unmodelled("SSM", 9, 1, Rw),
            unmodelled("RXONLY", 10, 1, Rw),
            unmodelled("DFF", 11, 1, Rw),
            unmodelled("CRCNEXT", 12, 1, Rw),
            unmodelled("CRCEN", 13, 1, Rw),
            unmodelled("BIDIOE", 14, 1, Rw),
            unmodelled("BIDIMODE", 15, 1, Rw),
        ],
    },
    Reg {
        offset: 0x04,
        name: "CR2",
        reset: 0x0,
        fields: &[
            unmodelled("RXDMAEN", 0, 1, Rw),
            unmodelled("TXDMAEN", 1, 1, Rw),
            unmodelled("SSOE", 2, 1, Rw),
            unmodelled("FRF", 4, 1, Rw),
            unmodelled("ERRIE", 5, 1, Rw),
            unmodelled("RXNEIE", 6, 1, Rw),
            unmodelled("TXEIE", 7, 1, Rw),
        ],
    },
    Reg {
        offset: 0x08,
        name: "SR",
        reset: 0x2,
        fields: &[
            f("RXNE", 0, 1, R),
            f("TXE", 1, 1, R),
            f("CHSIDE", 2, 1, R),
            f("UDR", 3, 1, R),
            f("CRCERR", 4, 1, Rc0),
            f("MODF", 5, 1, R),
            f("OVR", 6, 1, R),
            f("BSY", 7, 1, R),
            f("FRE", 8, 1, R),
        ],
    },
    Reg {
        offset: 0x0c,
        name: "DR",
        reset: 0x0,
        fields: &[unmodelled("DR", 0, 16, Rw)],
    },
    Reg {
        offset: 0x10,
        name: "CRCPR",
        reset: 0x7,
        fields: &[unmodelled("CRCPOLY", 0, 16, Rw)],
    },
    Reg {
        offset: 0x14,
        name: "RXCRCR",
        reset: 0x0,
        fields: &[f("RXCRC", 0, 16, R)],
    },
    Reg {
        offset: 0x18,
        name: "TXCRCR",
        reset: 0x0,
        fields: &[f("TXCRC", 0, 16, R)],
    },
    Reg {
        offset: 0x1c,
        name: "I2SCFGR",
        reset: 0x0,
        fields: &[
            unmodelled("CHLEN", 0, 1, Rw),
            unmodelled("DATLEN", 1, 2, Rw),
            unmodelled("CKPOL", 3, 1, Rw),
            unmodelled("I2SSTD", 4, 2, Rw),
            unmodelled("PCMSYNC", 7, 1, Rw),
            unmodelled("I2SCFG", 8, 2, Rw),
            unmodelled("I2SE", 10, 1, Rw),
            unmodelled("I2SMOD", 11, 1, Rw),
        ],
    },
    Reg {
        offset: 0x20,
        name: "I2SPR",
        reset: 0x2,
        fields: &[
            unmodelled("I2SDIV", 0, 8, Rw),
            unmodelled("ODD", 8, 1, Rw),
            unmodelled("MCKOE", 9, 1, Rw),
        ],
    },
];

/// An SPI block named `name` ("SPI1".."SPI3").
pub fn new(name: &str) -> Stub {
    Stub::new(name, "SPI", REGS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    #[test]
    fn reset_values_and_disable_on_soft_reset() {
        let mut b = FakeBus::new(new("SPI1"), Clocks::RESET);
        assert_eq!(b.read32(0x08), 0x0002, "TXE at reset");
        assert_eq!(b.read32(0x10), 0x0007);
        assert_eq!(b.read32(0x20), 0x0002);
        b.write32(0x00, 0x0344);
        assert_eq!(b.read32(0x00), 0x0344);
        b.write32(0x00, 0x0304);
        assert_eq!(b.read32(0x00), 0x0304, "SPE cleared");
        b.write32(0x08, 0);
        assert_eq!(b.read32(0x08), 0x0002, "status bits are read-only");
        assert_eq!(b.read32(0x3FC), 0, "reserved offsets read 0");
    }
}
