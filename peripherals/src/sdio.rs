//! SDIO, the SD/SDIO/MMC card host interface (RM0090 §31, registers §31.9): register
//! table only, through [`Stub`]; no card is modelled.
//!
//! Modelled:
//! - The registers at their reset values (all 0) with their access kinds (RESPx, STA,
//!   DCOUNT and FIFOCNT read-only).
//!
//! Not modelled:
//! - Cards, commands, responses, data transfers, the FIFO and interrupts. The Pyboard's
//!   card-detect switch (PA8) reads "no card" through its pull-up, so the official
//!   firmware never starts the block.

use crate::regs::{f, unmodelled, Access::*, Reg};
use crate::stub::Stub;

/// The register table (RM0090 §31.9).
pub const REGS: &[Reg] = &[
    Reg {
        offset: 0x00,
        name: "POWER",
        reset: 0x0,
        fields: &[unmodelled("PWRCTRL", 0, 2, Rw)],
    },
    Reg {
        offset: 0x04,
        name: "CLKCR",
        reset: 0x0,
        fields: &[
            unmodelled("CLKDIV", 0, 8, Rw),
            unmodelled("CLKEN", 8, 1, Rw),
            unmodelled("PWRSAV", 9, 1, Rw),
            unmodelled("BYPASS", 10, 1, Rw),
            unmodelled("WIDBUS", 11, 2, Rw),
            unmodelled("NEGEDGE", 13, 1, Rw),
            unmodelled("HWFC_EN", 14, 1, Rw),
        ],
    },
    Reg {
        offset: 0x08,
        name: "ARG",
        reset: 0x0,
        fields: &[unmodelled("CMDARG", 0, 32, Rw)],
    },
    Reg {
        offset: 0x0c,
        name: "CMD",
        reset: 0x0,
        fields: &[
            unmodelled("CMDINDEX", 0, 6, Rw),
            unmodelled("WAITRESP", 6, 2, Rw),
            unmodelled("WAITINT", 8, 1, Rw),
            unmodelled("WAITPEND", 9, 1, Rw),
            unmodelled("CPSMEN", 10, 1, Rw),
            unmodelled("SDIOSuspend", 11, 1, Rw),
            unmodelled("ENCMDcompl", 12, 1, Rw),
            unmodelled("nIEN", 13, 1, Rw),
            unmodelled("ATACMD", 14, 1, Rw),
        ],
    },
    Reg {
        offset: 0x10,
        name: "RESPCMD",
        reset: 0x0,
        fields: &[f("RESPCMD", 0, 6, R)],
    },
    Reg {
        offset: 0x14,
        name: "RESP1",
        reset: 0x0,
        fields: &[f("CARDSTATUS1", 0, 32, R)],
    },
    Reg {
        offset: 0x18,
        name: "RESP2",
        reset: 0x0,
        fields: &[f("CARDSTATUS2", 0, 32, R)],
    },
    Reg {
        offset: 0x1c,
        name: "RESP3",
        reset: 0x0,
        fields: &[f("CARDSTATUS3", 0, 32, R)],
    },
    Reg {
        offset: 0x20,
        name: "RESP4",
        reset: 0x0,
        fields: &[f("CARDSTATUS4", 0, 32, R)],
    },
    Reg {
        offset: 0x24,
        name: "DTIMER",
        reset: 0x0,
        fields: &[unmodelled("DATATIME", 0, 32, Rw)],
    },
    Reg {
        offset: 0x28,
        name: "DLEN",
        reset: 0x0,
        fields: &[unmodelled("DATALENGTH", 0, 25, Rw)],
    },
    Reg {
        offset: 0x2c,
        name: "DCTRL",
        reset: 0x0,
        fields: &[
            unmodelled("DTEN", 0, 1, Rw),
            unmodelled("DTDIR", 1, 1, Rw),
            unmodelled("DTMODE", 2, 1, Rw),
            unmodelled("DMAEN", 3, 1, Rw),
            unmodelled("DBLOCKSIZE", 4, 4, Rw),
            unmodelled("RWSTART", 8, 1, Rw),
            unmodelled("RWSTOP", 9, 1, Rw),
            unmodelled("RWMOD", 10, 1, Rw),
            unmodelled("SDIOEN", 11, 1, Rw),
        ],
    },
    Reg {
        offset: 0x30,
        name: "DCOUNT",
        reset: 0x0,
        fields: &[f("DATACOUNT", 0, 25, R)],
    },
    Reg {
        offset: 0x34,
        name: "STA",
        reset: 0x0,
        fields: &[f("flags", 0, 24, R)],
    },
    Reg {
        offset: 0x38,
        name: "ICR",
        reset: 0x0,
        fields: &[unmodelled("clear", 0, 24, Rw)],
    },
    Reg {
        offset: 0x3c,
        name: "MASK",
        reset: 0x0,
        fields: &[unmodelled("IE", 0, 24, Rw)],
    },
    Reg {
        offset: 0x48,
        name: "FIFOCNT",
        reset: 0x0,
        fields: &[f("FIFOCOUNT", 0, 24, R)],
    },
    Reg {
        offset: 0x80,
        name: "FIFO",
        reset: 0x0,
        fields: &[unmodelled("FIFOData", 0, 32, Rw)],
    },
];

/// The SDIO block.
pub fn new(name: &str) -> Stub {
    Stub::new(name, "SDIO", REGS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    #[test]
    fn status_is_read_only() {
        let mut b = FakeBus::new(new("SDIO"), Clocks::RESET);
        b.write32(0x34, 0xFFFF_FFFF);
        assert_eq!(b.read32(0x34), 0);
        b.write32(0x04, 0x76);
        assert_eq!(b.read32(0x04), 0x76);
    }
}
