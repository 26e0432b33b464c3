//! DAC, the two-channel 12-bit digital-to-analog converter (RM0090 §14, registers
//! §14.5): register table only, through [`Stub`]; conversion is not modelled.
//!
//! Modelled:
//! - The fourteen registers at their reset values (all 0) with their access kinds
//!   (SWTRIGR write-only, DORx read-only, SR underrun flags rc_w1), so the official
//!   firmware's soft-reset `dac_deinit_all` reads back as on silicon.
//!
//! Not modelled:
//! - Conversion: the holding registers never move to DOR1/DOR2, no output voltage on PA4
//!   or PA5, no triggers, noise/triangle generation or DMA. Every field that would act is
//!   declared unmodelled (warns once).

use crate::regs::{f, unmodelled, Access::*, Reg};
use crate::stub::Stub;

/// The register table (RM0090 §14.5).
pub const REGS: &[Reg] = &[
    Reg {
        offset: 0x00,
        name: "CR",
        reset: 0x0,
        fields: &[
            unmodelled("EN1", 0, 1, Rw),
            f("BOFF1", 1, 1, Rw),
            unmodelled("TEN1", 2, 1, Rw),
            unmodelled("TSEL1", 3, 3, Rw),
            unmodelled("WAVE1", 6, 2, Rw),
            unmodelled("MAMP1", 8, 4, Rw),
            unmodelled("DMAEN1", 12, 1, Rw),
            unmodelled("DMAUDRIE1", 13, 1, Rw),
            unmodelled("EN2", 16, 1, Rw),
            f("BOFF2", 17, 1, Rw),
            unmodelled("TEN2", 18, 1, Rw),
            unmodelled("TSEL2", 19, 3, Rw),
            unmodelled("WAVE2", 22, 2, Rw),
            unmodelled("MAMP2", 24, 4, Rw),
            unmodelled("DMAEN2", 28, 1, Rw),
            unmodelled("DMAUDRIE2", 29, 1, Rw),
        ],
    },
    Reg {
        offset: 0x04,
        name: "SWTRIGR",
        reset: 0x0,
        fields: &[
            unmodelled("SWTRIG1", 0, 1, W),
            unmodelled("SWTRIG2", 1, 1, W),
        ],
    },
    Reg {
        offset: 0x08,
        name: "DHR12R1",
        reset: 0x0,
        fields: &[unmodelled("DACC1DHR", 0, 12, Rw)],
    },
    Reg {
        offset: 0x0c,
        name: "DHR12L1",
        reset: 0x0,
        fields: &[unmodelled("DACC1DHR", 4, 12, Rw)],
    },
    Reg {
        offset: 0x10,
        name: "DHR8R1",
        reset: 0x0,
        fields: &[unmodelled("DACC1DHR", 0, 8, Rw)],
    },
    Reg {
        offset: 0x14,
        name: "DHR12R2",
        reset: 0x0,
        fields: &[unmodelled("DACC2DHR", 0, 12, Rw)],
    },
    Reg {
        offset: 0x18,
        name: "DHR12L2",
        reset: 0x0,
        fields: &[unmodelled("DACC2DHR", 4, 12, Rw)],
    },
    Reg {
        offset: 0x1c,
        name: "DHR8R2",
        reset: 0x0,
        fields: &[unmodelled("DACC2DHR", 0, 8, Rw)],
    },
    Reg {
        offset: 0x20,
        name: "DHR12RD",
        reset: 0x0,
        fields: &[
            unmodelled("DACC1DHR", 0, 12, Rw),
            unmodelled("DACC2DHR", 16, 12, Rw),
        ],
    },
    Reg {
        offset: 0x24,
        name: "DHR12LD",
        reset: 0x0,
        fields: &[
            unmodelled("DACC1DHR", 4, 12, Rw),
            unmodelled("DACC2DHR", 20, 12, Rw),
        ],
    },
    Reg {
        offset: 0x28,
        name: "DHR8RD",
        reset: 0x0,
        fields: &[
            unmodelled("DACC1DHR", 0, 8, Rw),
            unmodelled("DACC2DHR", 8, 8, Rw),
        ],
    },
    Reg {
        offset: 0x2c,
        name: "DOR1",
        reset: 0x0,
        fields: &[f("DACC1DOR", 0, 12, R)],
    },
    Reg {
        offset: 0x30,
        name: "DOR2",
        reset: 0x0,
        fields: &[f("DACC2DOR", 0, 12, R)],
    },
    Reg {
        offset: 0x34,
        name: "SR",
        reset: 0x0,
        fields: &[f("DMAUDR1", 13, 1, Rc1), f("DMAUDR2", 29, 1, Rc1)],
    },
];

/// The DAC block.
pub fn new(name: &str) -> Stub {
    Stub::new(name, "DAC", REGS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    #[test]
    fn registers_store_and_outputs_stay_at_reset() {
        let mut b = FakeBus::new(new("DAC"), Clocks::RESET);
        b.write32(0x00, 0x0001_0001);
        b.write32(0x08, 0xFFF);
        assert_eq!(b.read32(0x08), 0xFFF);
        b.write32(0x04, 1);
        assert_eq!(b.read32(0x04), 0, "SWTRIGR reads 0");
        assert_eq!(b.read32(0x2C), 0, "DOR1 not modelled");
        b.write32(0x00, 0);
        assert_eq!(b.read32(0x00), 0);
    }
}
