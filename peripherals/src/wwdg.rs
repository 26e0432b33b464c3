//! WWDG, the window watchdog (RM0090 §20, registers §20.6): register table only,
//! through [`Stub`]; the counter does not run.
//!
//! Modelled:
//! - CR (reset 0x7F), CFR (reset 0x7F) and SR with their access kinds (WDGA and EWI set
//!   by software only, EWIF cleared by writing 0).
//!
//! Not modelled:
//! - The down-counter, the window check, the early-wakeup interrupt and the reset it
//!   causes: once WDGA is set nothing happens (warned once). MicroPython does not use it.

use crate::regs::{f, unmodelled, Access::*, Reg};
use crate::stub::Stub;

/// The register table (RM0090 §20.6).
pub const REGS: &[Reg] = &[
    Reg {
        offset: 0x00,
        name: "CR",
        reset: 0x7f,
        fields: &[unmodelled("T", 0, 7, Rw), unmodelled("WDGA", 7, 1, Rs)],
    },
    Reg {
        offset: 0x04,
        name: "CFR",
        reset: 0x7f,
        fields: &[
            unmodelled("W", 0, 7, Rw),
            unmodelled("WDGTB", 7, 2, Rw),
            unmodelled("EWI", 9, 1, Rs),
        ],
    },
    Reg {
        offset: 0x08,
        name: "SR",
        reset: 0x0,
        fields: &[f("EWIF", 0, 1, Rc0)],
    },
];

/// The WWDG block.
pub fn new(name: &str) -> Stub {
    Stub::new(name, "WWDG", REGS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    #[test]
    fn reset_values() {
        let mut b = FakeBus::new(new("WWDG"), Clocks::RESET);
        assert_eq!(b.read32(0x00), 0x7F);
        assert_eq!(b.read32(0x04), 0x7F);
        b.write32(0x00, 0);
        assert_eq!(b.read32(0x00), 0, "T stored, WDGA stays clear");
    }
}
