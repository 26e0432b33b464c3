//! I2C1-3 as bus masters on a bus with no device that answers (RM0090 §27, registers
//! §27.6).
//!
//! Modelled:
//! - The ten registers at their reset values (TRISE = 0x0002, the rest 0) with their
//!   access kinds: status flags are read-only, the SR1 error flags clear on writing 0.
//! - Master mode with nobody on the bus: with PE set, START makes a start condition
//!   (SB, SR2.MSL and SR2.BUSY rise one SCL period later; START clears itself); the
//!   address byte written to DR goes out in 9 SCL periods and, since no device
//!   acknowledges, ends with SR1.AF (acknowledge failure); STOP makes a stop condition
//!   (MSL and BUSY fall one SCL period later; STOP clears itself). A START while the
//!   master owns the bus is a repeated start. The SCL period comes from CCR, DUTY and
//!   F/S and PCLK1 (standard mode 2 x CCR, fast mode 3 x CCR or 25 x CCR periods of
//!   PCLK1; 100 kHz while CCR is 0).
//! - Interrupts: the event line follows ITEVTEN & (SB | ADDR | BTF | STOPF | ADD10) and
//!   the error line ITERREN & (BERR | ARLO | AF | OVR | PECERR | TIMEOUT | SMBALERT), on
//!   the lines of the instance (I2C1 31/32, I2C2 33/34, I2C3 72/73).
//! - SWRST and clearing PE put the block back at its reset state (PE aside) and release
//!   the bus.
//!
//! Not modelled (fields declared; a write that changes one warns once):
//! - Devices: nothing ever acknowledges, so there are no data phases (no TxE/RxNE/BTF),
//!   and the Pyboard's MMA7660 accelerometer on I2C1 is absent (`pyb.Accel()` reports it
//!   not found, `I2C.scan()` finds nothing). Slave mode (own addresses OAR1/OAR2, general
//!   call), SMBus, PEC, DMA requests, analog/digital noise filters, clock stretching,
//!   arbitration with other masters, the FREQ and TRISE timing checks, and the SDA/SCL
//!   pins themselves (the bus is not routed through GPIO).

use crate::device::{BusError, Ctx, Device, Size};
use crate::regs::{f, unmodelled, Access::*, Block, Reg};

const T: &str = "periph::i2c";

pub const CR1: u32 = 0x00;
pub const CR2: u32 = 0x04;
pub const DR: u32 = 0x10;
pub const SR1: u32 = 0x14;
pub const SR2: u32 = 0x18;
pub const CCR: u32 = 0x1C;

pub const PE: u32 = 1 << 0;
pub const START: u32 = 1 << 8;
pub const STOP: u32 = 1 << 9;
pub const SWRST: u32 = 1 << 15;
pub const ITERREN: u32 = 1 << 8;
pub const ITEVTEN: u32 = 1 << 9;
pub const SB: u32 = 1 << 0;
pub const AF: u32 = 1 << 10;
pub const MSL: u32 = 1 << 0;
pub const BUSY: u32 = 1 << 1;

const EVENT_FLAGS: u32 = 0x1F; // SB, ADDR, BTF, ADD10, STOPF
const ERROR_FLAGS: u32 = 0xDF00; // BERR, ARLO, AF, OVR, PECERR, TIMEOUT, SMBALERT

const TOKEN_START: u32 = 0;
const TOKEN_ADDR: u32 = 1;
const TOKEN_STOP: u32 = 2;

/// The register table (RM0090 §27.6).
pub const REGS: &[Reg] = &[
    Reg {
        offset: CR1,
        name: "CR1",
        reset: 0x0,
        fields: &[
            f("PE", 0, 1, Rw),
            unmodelled("SMBUS", 1, 1, Rw),
            unmodelled("SMBTYPE", 3, 1, Rw),
            unmodelled("ENARP", 4, 1, Rw),
            unmodelled("ENPEC", 5, 1, Rw),
            unmodelled("ENGC", 6, 1, Rw),
            unmodelled("NOSTRETCH", 7, 1, Rw),
            f("START", 8, 1, Rw),
            f("STOP", 9, 1, Rw),
            f("ACK", 10, 1, Rw),
            f("POS", 11, 1, Rw),
            unmodelled("PEC", 12, 1, Rw),
            unmodelled("ALERT", 13, 1, Rw),
            f("SWRST", 15, 1, Rw),
        ],
    },
    Reg {
        offset: CR2,
        name: "CR2",
        reset: 0x0,
        fields: &[
            unmodelled("FREQ", 0, 6, Rw),
            f("ITERREN", 8, 1, Rw),
            f("ITEVTEN", 9, 1, Rw),
            f("ITBUFEN", 10, 1, Rw),
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
        offset: 0x0C,
        name: "OAR2",
        reset: 0x0,
        fields: &[unmodelled("ENDUAL", 0, 1, Rw), unmodelled("ADD2", 1, 7, Rw)],
    },
    Reg {
        offset: DR,
        name: "DR",
        reset: 0x0,
        fields: &[f("DR", 0, 8, Rw)],
    },
    Reg {
        offset: SR1,
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
        offset: SR2,
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
        offset: CCR,
        name: "CCR",
        reset: 0x0,
        fields: &[
            f("CCR", 0, 12, Rw),
            f("DUTY", 14, 1, Rw),
            f("F/S", 15, 1, Rw),
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

/// Instance names the block's warnings can carry (`Block` keeps a `&'static str`).
const NAMES: [&str; 3] = ["I2C1", "I2C2", "I2C3"];

/// One I2C block.
pub struct I2c {
    name: String,
    regs: Block,
    /// Event and error interrupt lines.
    irqs: (u16, u16),
    levels: (bool, bool),
}

/// An I2C block named `name` ("I2C1".."I2C3").
pub fn new(name: &str) -> I2c {
    I2c::new(name)
}

impl I2c {
    pub fn new(name: &str) -> I2c {
        let n = name.trim_start_matches("I2C").parse::<usize>().unwrap_or(1);
        let irqs = match n {
            2 => (33, 34),
            3 => (72, 73),
            _ => (31, 32),
        };
        I2c {
            name: name.to_string(),
            regs: Block::new(NAMES[n.clamp(1, 3) - 1], REGS),
            irqs,
            levels: (false, false),
        }
    }

    /// One SCL period in CPU cycles.
    fn scl_period(&self, ctx: &Ctx) -> u64 {
        let ccr = self.regs.get(CCR);
        let c = (ccr & 0xFFF) as u64;
        if c == 0 {
            return ctx.clocks.to_cycles(1, 100_000);
        }
        let pclk_periods = match (ccr >> 15 & 1, ccr >> 14 & 1) {
            (0, _) => 2 * c,
            (_, 0) => 3 * c,
            _ => 25 * c,
        };
        ctx.clocks.to_cycles(pclk_periods, ctx.clocks.pclk1)
    }

    fn after(&self, ctx: &mut Ctx, token: u32, periods: u64) {
        let at = ctx.now + periods * self.scl_period(ctx);
        ctx.schedule(token, at);
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let cr2 = self.regs.get(CR2);
        let sr1 = self.regs.get(SR1);
        let ev = cr2 & ITEVTEN != 0 && sr1 & EVENT_FLAGS != 0;
        let er = cr2 & ITERREN != 0 && sr1 & ERROR_FLAGS != 0;
        if ev != self.levels.0 {
            ctx.irq(self.irqs.0, ev);
        }
        if er != self.levels.1 {
            ctx.irq(self.irqs.1, er);
        }
        self.levels = (ev, er);
    }

    /// Back to the reset state, keeping CR1 as `cr1`; the bus is released.
    fn clear(&mut self, ctx: &mut Ctx, cr1: u32) {
        self.regs.reset();
        self.regs.set(CR1, cr1);
        for t in [TOKEN_START, TOKEN_ADDR, TOKEN_STOP] {
            ctx.cancel(t);
        }
    }
}

impl Device for I2c {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = self.regs.read(offset, size).unwrap_or(0);
        tracing::trace!(target: T, t = ctx.now, dev = %self.name, reg = self.regs.name_at(offset), val = v, "read");
        Ok(v)
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: T, t = ctx.now, dev = %self.name, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        match offset & !3 {
            CR1 => {
                if w.new & SWRST != 0 {
                    self.clear(ctx, w.new & SWRST);
                } else if w.new & PE == 0 {
                    self.clear(ctx, w.new & !(START | STOP));
                } else {
                    if w.new & START != 0 && w.old & START == 0 {
                        self.after(ctx, TOKEN_START, 1);
                    }
                    if w.new & STOP != 0 && w.old & STOP == 0 {
                        ctx.cancel(TOKEN_ADDR);
                        self.after(ctx, TOKEN_STOP, 1);
                    }
                }
            }
            DR if self.regs.get(SR1) & SB != 0 => {
                // SB is cleared by reading SR1 then writing DR: the address goes out.
                self.regs.set_bits(SR1, SB, false);
                self.after(ctx, TOKEN_ADDR, 9);
            }
            _ => {}
        }
        self.update_irq(ctx);
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        match token {
            TOKEN_START if self.regs.bit(CR1, PE) => {
                self.regs.set_bits(CR1, START, false);
                self.regs.set_bits(SR1, SB, true);
                self.regs.set_bits(SR2, MSL | BUSY, true);
            }
            TOKEN_ADDR => {
                // Nobody acknowledges the address.
                tracing::debug!(target: T, t = ctx.now, dev = %self.name,
                    addr = self.regs.get(DR) >> 1, "address not acknowledged (no device)");
                self.regs.set_bits(SR1, AF, true);
            }
            TOKEN_STOP => {
                self.regs.set_bits(CR1, STOP, false);
                self.regs.set_bits(SR2, MSL | BUSY, false);
            }
            _ => {}
        }
        self.update_irq(ctx);
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.clear(ctx, 0);
        if self.levels.0 {
            ctx.irq(self.irqs.0, false);
        }
        if self.levels.1 {
            ctx.irq(self.irqs.1, false);
        }
        self.levels = (false, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    fn bus() -> FakeBus<I2c> {
        FakeBus::new(
            new("I2C1"),
            Clocks {
                sysclk: 168_000_000,
                hclk: 168_000_000,
                pclk1: 42_000_000,
                pclk2: 84_000_000,
                tim_apb1: 84_000_000,
                tim_apb2: 168_000_000,
                pll48: 48_000_000,
            },
        )
    }

    #[test]
    fn reset_values_and_flags() {
        let mut b = bus();
        assert_eq!(b.read32(0x20), 0x0002, "TRISE");
        b.write32(CR2, 42);
        b.write32(CR1, PE);
        assert_eq!(b.read32(CR1), PE);
        b.write32(SR1, 0xFFFF);
        assert_eq!(b.read32(SR1), 0);
        assert_eq!(b.read32(SR2), 0, "bus idle");
    }

    /// The HAL's `HAL_I2C_IsDeviceReady` (what `I2C.scan()` does per address) at 400 kHz.
    #[test]
    fn an_address_is_not_acknowledged_then_stop_releases_the_bus() {
        let mut b = bus();
        b.write32(CCR, (1 << 15) | 35); // fast mode, DUTY 0: 3 * 35 / 42 MHz = 2.5 us
        b.write32(CR2, 42 | ITERREN);
        b.write32(CR1, PE);
        b.write32(CR1, PE | START);
        assert_eq!(b.read32(SR1) & SB, 0);
        b.advance(420);
        assert_eq!(b.read32(SR1), SB);
        assert_eq!(b.read32(SR2), MSL | BUSY);
        assert_eq!(b.read32(CR1), PE, "START clears itself");
        b.write32(DR, 0x4C << 1);
        assert_eq!(b.read32(SR1), 0, "SB cleared by the DR write");
        b.advance(9 * 420 - 1);
        assert_eq!(b.read32(SR1) & AF, 0);
        b.advance(1);
        assert_eq!(b.read32(SR1), AF);
        assert!(b.irq(32), "error interrupt");
        b.write32(CR1, PE | STOP);
        b.write32(SR1, !AF & 0xFFFF);
        assert!(!b.irq(32));
        b.advance(420);
        assert_eq!(b.read32(SR2), 0, "bus released");
        assert_eq!(b.read32(CR1), PE, "STOP clears itself");
    }

    #[test]
    fn disabling_releases_the_bus() {
        let mut b = bus();
        b.write32(CR1, PE);
        b.write32(CR1, PE | START);
        b.advance(10_000);
        assert_eq!(b.read32(SR2), MSL | BUSY);
        b.write32(CR1, 0);
        assert_eq!(b.read32(SR2), 0);
        assert_eq!(b.read32(SR1), 0);
        b.write32(CR1, SWRST);
        b.write32(CR1, 0);
        assert_eq!(b.read32(0x20), 2);
    }
}
