//! I2C1-3 (RM0090 §27, registers §27.6): register table only, through [`Stub`]; the
//! bus function is not modelled.
//!
//! Modelled:
//! - The ten registers at their reset values (TRISE = 0x0002, the rest 0) with their
//!   access kinds: status flags are read-only, the SR1 error flags clear on writing 0.
//!
//! Not modelled:
//! - The bus: START generates nothing, SB/ADDR/TxE/RxNE never rise, no device (the
//!   Pyboard's MMA7660 accelerometer on I2C1 included) ever answers, no interrupt or DMA
//!   request. Control fields are declared unmodelled (warn once). The official firmware's
//!   I2C calls time out (OSError ETIMEDOUT), `I2C.scan()` finds nothing and `pyb.Accel()`
//!   fails.

use crate::regs::{f, unmodelled, Access::*, Reg};
use crate::stub::Stub;

/// The register table (RM0090 §27.6).
pub const REGS: &[Reg] = &[
    Reg {
        offset: 0x00,
        name: "CR1",
        reset: 0x0,
        fields: &[
            unmodelled("PE", 0, 1, Rw),
            unmodelled("SMBUS", 1, 1, Rw),
            unmodelled("SMBTYPE", 3, 1, Rw),
            unmodelled("ENARP", 4, 1, Rw),
            unmodelled("ENPEC", 5, 1, Rw),
            unmodelled("ENGC", 6, 1, Rw),
            unmodelled("NOSTRETCH", 7, 1, Rw),
            unmodelled("START", 8, 1, Rw),
            unmodelled("STOP", 9, 1, Rw),
            unmodelled("ACK", 10, 1, Rw),
            unmodelled("POS", 11, 1, Rw),
            unmodelled("PEC", 12, 1, Rw),
            unmodelled("ALERT", 13, 1, Rw),
            unmodelled("SWRST", 15, 1, Rw),
        ],
    },
    Reg {
        offset: 0x04,
        name: "CR2",
        reset: 0x0,
        fields: &[
            unmodelled("FREQ", 0, 6, Rw),
            unmodelled("ITERREN", 8, 1, Rw),
            unmodelled("ITEVTEN", 9, 1, Rw),
            unmodelled("ITBUFEN", 10, 1, Rw),
            unmodelled("DMAEN", 11, 1, Rw),
            unmodelled("LAST", 12, 1, Rw),
        ],
    },
    Reg {
        offset: 0x08,
        name: "OAR1",
        reset: 0x0,
        fields: &[
            unmodelled("ADD", 0, 10, Rw),
            f("bit14", 14, 1, Rw),
            unmodelled("ADDMODE", 15, 1, Rw),
        ],
    },
    Reg {
        offset: 0x0c,
        name: "OAR2",
        reset: 0x0,
        fields: &[unmodelled("ENDUAL", 0, 1, Rw), unmodelled("ADD2", 1, 7, Rw)],
    },
    Reg {
        offset: 0x10,
        name: "DR",
        reset: 0x0,
        fields: &[unmodelled("DR", 0, 8, Rw)],
    },
    Reg {
        offset: 0x14,
        name: "SR1",
        reset: 0x0,
        fields: &[
            f("SB", 0, 1, R),
            f("ADDR", 1, 1, R),
            f("BTF", 2, 1, R),
            f("ADD10", 3, 1, R),
            f("STOPF", 4, 1, R),
            f("RxNE", 6, 1, R),
            f("TxE", 7, 1, R),
            f("BERR", 8, 1, Rc0),
            f("ARLO", 9, 1, Rc0),
            f("AF", 10, 1, Rc0),
            f("OVR", 11, 1, Rc0),
            f("PECERR", 12, 1, Rc0),
            f("TIMEOUT", 14, 1, Rc0),
            f("SMBALERT", 15, 1, Rc0),
        ],
    },
    Reg {
        offset: 0x18,
        name: "SR2",
        reset: 0x0,
        fields: &[
            f("MSL", 0, 1, R),
            f("BUSY", 1, 1, R),
            f("TRA", 2, 1, R),
            f("GENCALL", 4, 1, R),
            f("SMBDEFAULT", 5, 1, R),
            f("SMBHOST", 6, 1, R),
            f("DUALF", 7, 1, R),
            f("PEC", 8, 8, R),
        ],
    },
    Reg {
        offset: 0x1c,
        name: "CCR",
        reset: 0x0,
        fields: &[
            unmodelled("CCR", 0, 12, Rw),
            unmodelled("DUTY", 14, 1, Rw),
            unmodelled("F/S", 15, 1, Rw),
        ],
    },
    Reg {
        offset: 0x20,
        name: "TRISE",
        reset: 0x2,
        fields: &[unmodelled("TRISE", 0, 6, Rw)],
    },
    Reg {
        offset: 0x24,
        name: "FLTR",
        reset: 0x0,
        fields: &[unmodelled("DNF", 0, 4, Rw), unmodelled("ANOFF", 4, 1, Rw)],
    },
];

/// An I2C block named `name` ("I2C1".."I2C3").
pub fn new(name: &str) -> Stub {
    Stub::new(name, "I2C", REGS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    #[test]
    fn reset_values_and_flags() {
        let mut b = FakeBus::new(new("I2C1"), Clocks::RESET);
        assert_eq!(b.read32(0x20), 0x0002, "TRISE");
        b.write32(0x04, 42);
        b.write32(0x00, 1);
        assert_eq!(b.read32(0x00), 1);
        b.write32(0x00, 0);
        b.write32(0x14, 0xFFFF);
        assert_eq!(b.read32(0x14), 0);
        assert_eq!(b.read32(0x18), 0, "bus never busy");
    }
}
