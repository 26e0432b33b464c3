//! PWR, the power controller (RM0090 §5, registers §5.4).
//!
//! Modelled:
//! - CR: LPDS, PDDS (stored for the machine's low-power entry), CWUF/CSBF (write 1 clears
//!   WUF/SBF, read 0), DBP (read back; the machine wires it to RCC with
//!   [`Pwr::dbp`] → `Rcc::set_dbp`), VOS (reset 1).
//! - CSR: WUF and SBF (set by the machine with [`Pwr::set_wakeup_flag`] /
//!   [`Pwr::set_standby_flag`]), BRE/BRR (BRR rises a nominal delay after BRE),
//!   VOSRDY (rises a nominal delay after reset and after a VOS change).
//!
//! Not modelled:
//! - PVD (PVDE, PLS stored; PVDO reads 0), EWUP (stored), FPDS, the low-power modes
//!   themselves. The "nominal delay" of VOSRDY and BRR (1 µs) is not a datasheet value.

use crate::device::{BusError, Ctx, Device, Size};
use crate::regs::{f, unmodelled, Access::*, Block, Reg};

const T: &str = "periph::pwr";

pub const CR: u32 = 0x00;
pub const CSR: u32 = 0x04;

const CWUF: u32 = 1 << 2;
const CSBF: u32 = 1 << 3;
pub const DBP: u32 = 1 << 8;
pub const VOS: u32 = 1 << 14;
pub const WUF: u32 = 1 << 0;
pub const SBF: u32 = 1 << 1;
pub const BRR: u32 = 1 << 3;
pub const BRE: u32 = 1 << 9;
pub const VOSRDY: u32 = 1 << 14;

const TOKEN_VOS: u32 = 0;
const TOKEN_BRR: u32 = 1;
const NOMINAL_US: u64 = 1;

pub const REGS: &[Reg] = &[
    Reg {
        offset: CR,
        name: "CR",
        reset: 0x0000_4000,
        fields: &[
            f("LPDS", 0, 1, Rw),
            f("PDDS", 1, 1, Rw),
            f("CWUF", 2, 1, W),
            f("CSBF", 3, 1, W),
            unmodelled("PVDE", 4, 1, Rw),
            unmodelled("PLS", 5, 3, Rw),
            f("DBP", 8, 1, Rw),
            unmodelled("FPDS", 9, 1, Rw),
            f("VOS", 14, 1, Rw),
        ],
    },
    Reg {
        offset: CSR,
        name: "CSR",
        reset: 0,
        fields: &[
            f("WUF", 0, 1, R),
            f("SBF", 1, 1, R),
            f("PVDO", 2, 1, R),
            f("BRR", 3, 1, R),
            unmodelled("EWUP", 8, 1, Rw),
            f("BRE", 9, 1, Rw),
            f("VOSRDY", 14, 1, R),
        ],
    },
];

pub struct Pwr {
    regs: Block,
}

impl Default for Pwr {
    fn default() -> Self {
        Self::new()
    }
}

impl Pwr {
    pub fn new() -> Pwr {
        Pwr {
            regs: Block::new("PWR", REGS),
        }
    }

    /// PWR_CR.DBP: backup domain write access enabled.
    pub fn dbp(&self) -> bool {
        self.regs.bit(CR, DBP)
    }

    /// PWR_CR.LPDS and PDDS, for the machine's Stop/Standby entry.
    pub fn lpds_pdds(&self) -> (bool, bool) {
        let cr = self.regs.get(CR);
        (cr & 1 != 0, cr & 2 != 0)
    }

    /// Sets CSR.WUF (a wakeup event happened).
    pub fn set_wakeup_flag(&mut self) {
        self.regs.set_bits(CSR, WUF, true);
    }

    /// Sets or clears CSR.SBF (the device was in Standby).
    pub fn set_standby_flag(&mut self, on: bool) {
        self.regs.set_bits(CSR, SBF, on);
    }

    fn nominal(ctx: &mut Ctx, token: u32) {
        let at = ctx.now + ctx.clocks.to_cycles(NOMINAL_US, 1_000_000);
        ctx.schedule(token, at);
    }
}

impl Device for Pwr {
    fn name(&self) -> &str {
        "PWR"
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = self.regs.read(offset, size).unwrap_or(0);
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.name_at(offset), val = v, "read");
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
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        match offset & !3 {
            CR => {
                let mut csr = self.regs.get(CSR);
                if w.new & CWUF != 0 {
                    csr &= !WUF;
                }
                if w.new & CSBF != 0 {
                    csr &= !SBF;
                }
                if (w.old ^ w.new) & VOS != 0 {
                    csr &= !VOSRDY;
                    Self::nominal(ctx, TOKEN_VOS);
                }
                self.regs.set(CSR, csr);
                self.regs.set(CR, w.new & !(CWUF | CSBF));
            }
            CSR => match (w.old & BRE != 0, w.new & BRE != 0) {
                (false, true) => Self::nominal(ctx, TOKEN_BRR),
                (true, false) => {
                    self.regs.set_bits(CSR, BRR, false);
                    ctx.cancel(TOKEN_BRR);
                }
                _ => {}
            },
            _ => {}
        }
        Ok(())
    }

    fn event(&mut self, _ctx: &mut Ctx, token: u32) {
        match token {
            TOKEN_VOS => self.regs.set_bits(CSR, VOSRDY, true),
            TOKEN_BRR if self.regs.bit(CSR, BRE) => self.regs.set_bits(CSR, BRR, true),
            _ => {}
        }
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        ctx.cancel(TOKEN_BRR);
        Self::nominal(ctx, TOKEN_VOS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    #[test]
    fn reset_dbp_and_flags() {
        let mut b = FakeBus::new(Pwr::new(), Clocks::RESET);
        assert_eq!(b.read32(CR), 0x4000);
        assert_eq!(b.read32(CSR), 0);
        b.advance(100);
        assert_eq!(b.read32(CSR), VOSRDY);
        // The firmware's bit-band DBP write is a word read-modify-write.
        b.write32(CR, 0x4000 | DBP);
        assert!(b.dev.dbp());
        assert_eq!(b.read32(CR), 0x4100);
        b.dev.set_wakeup_flag();
        b.dev.set_standby_flag(true);
        assert_eq!(b.read32(CSR), VOSRDY | WUF | SBF);
        b.write32(CR, 0x4100 | CWUF);
        assert_eq!(b.read32(CSR), VOSRDY | SBF);
        assert_eq!(b.read32(CR), 0x4100, "CWUF reads 0");
        b.write32(CR, 0x4100 | CSBF);
        assert_eq!(b.read32(CSR), VOSRDY);
    }

    #[test]
    fn backup_regulator_ready_follows_bre() {
        let mut b = FakeBus::new(Pwr::new(), Clocks::RESET);
        b.write32(CSR, BRE);
        assert_eq!(b.read32(CSR) & BRR, 0);
        b.advance(100);
        assert_eq!(b.read32(CSR) & (BRR | BRE), BRR | BRE);
        b.write32(CSR, 0);
        assert_eq!(b.read32(CSR) & BRR, 0);
    }
}
