//! SYSCFG, the system configuration controller (RM0090 §9, registers §9.2).
//!
//! Modelled:
//! - MEMRMP: MEM_MODE, reset value from the BOOT pins (constructor), read by the machine
//!   with [`Syscfg::mem_mode`] to map flash, system memory, FSMC or SRAM at 0.
//! - EXTICR1-4: the port (0 = A .. 8 = I) routed to each EXTI line 0-15, read by the
//!   machine with [`Syscfg::exti_port`].
//! - CMPCR: CMP_PD; READY rises a nominal delay (1 µs, not a datasheet value) after the
//!   cell is powered and falls when it is powered down.
//!
//! Not modelled:
//! - PMC.MII_RMII_SEL (stored; no Ethernet).

use crate::device::{BusError, Ctx, Device, Size};
use crate::regs::{f, unmodelled, Access::*, Block, Field, Reg};

const T: &str = "periph::syscfg";

pub const MEMRMP: u32 = 0x00;
pub const PMC: u32 = 0x04;
pub const EXTICR1: u32 = 0x08;
pub const CMPCR: u32 = 0x20;

const CMP_PD: u32 = 1 << 0;
const READY: u32 = 1 << 8;

const EXTICR: &[Field] = &[
    f("EXTI0", 0, 4, Rw),
    f("EXTI1", 4, 4, Rw),
    f("EXTI2", 8, 4, Rw),
    f("EXTI3", 12, 4, Rw),
];

pub const REGS: &[Reg] = &[
    Reg {
        offset: MEMRMP,
        name: "MEMRMP",
        reset: 0,
        fields: &[f("MEM_MODE", 0, 2, Rw)],
    },
    Reg {
        offset: PMC,
        name: "PMC",
        reset: 0,
        fields: &[unmodelled("MII_RMII_SEL", 23, 1, Rw)],
    },
    Reg {
        offset: 0x08,
        name: "EXTICR1",
        reset: 0,
        fields: EXTICR,
    },
    Reg {
        offset: 0x0C,
        name: "EXTICR2",
        reset: 0,
        fields: EXTICR,
    },
    Reg {
        offset: 0x10,
        name: "EXTICR3",
        reset: 0,
        fields: EXTICR,
    },
    Reg {
        offset: 0x14,
        name: "EXTICR4",
        reset: 0,
        fields: EXTICR,
    },
    Reg {
        offset: CMPCR,
        name: "CMPCR",
        reset: 0,
        fields: &[f("CMP_PD", 0, 1, Rw), f("READY", 8, 1, R)],
    },
];

pub struct Syscfg {
    regs: Block,
    boot_mode: u8,
}

impl Syscfg {
    /// `boot_mode` is MEM_MODE after reset as the BOOT pins select it: 0 main flash
    /// (BOOT0 = 0, the Pyboard's normal boot), 1 system memory, 3 embedded SRAM.
    pub fn new(boot_mode: u8) -> Syscfg {
        Syscfg {
            regs: Block::new("SYSCFG", REGS),
            boot_mode: boot_mode & 3,
        }
    }

    /// MEMRMP.MEM_MODE: what is mapped at 0x0000_0000.
    pub fn mem_mode(&self) -> u8 {
        (self.regs.get(MEMRMP) & 3) as u8
    }

    /// The port (0 = A .. 8 = I) selected for EXTI line `line` (0-15); 0 for other lines.
    pub fn exti_port(&self, line: u8) -> u8 {
        if line > 15 {
            return 0;
        }
        let reg = EXTICR1 + 4 * (line as u32 / 4);
        ((self.regs.get(reg) >> (4 * (line as u32 % 4))) & 0xF) as u8
    }
}

impl Device for Syscfg {
    fn name(&self) -> &str {
        "SYSCFG"
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
        if offset & !3 == CMPCR {
            match (w.old & CMP_PD != 0, w.new & CMP_PD != 0) {
                (false, true) => {
                    let at = ctx.now + ctx.clocks.to_cycles(1, 1_000_000);
                    ctx.schedule(0, at);
                }
                (true, false) => {
                    self.regs.set_bits(CMPCR, READY, false);
                    ctx.cancel(0);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn event(&mut self, _ctx: &mut Ctx, _token: u32) {
        if self.regs.bit(CMPCR, CMP_PD) {
            self.regs.set_bits(CMPCR, READY, true);
        }
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.regs.set(MEMRMP, self.boot_mode as u32);
        ctx.cancel(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    #[test]
    fn exticr_routing_boot_mode_and_cmpcr() {
        let mut b = FakeBus::new(Syscfg::new(1), Clocks::RESET);
        assert_eq!(b.read32(MEMRMP), 1);
        assert_eq!(b.dev.mem_mode(), 1);
        b.write32(0x0C, 0x0000_2100); // EXTI6 = port B, EXTI7 = port C
        assert_eq!(b.dev.exti_port(6), 1);
        assert_eq!(b.dev.exti_port(7), 2);
        assert_eq!(b.dev.exti_port(4), 0);
        b.write(0x15, Size::Byte, 0x03); // EXTI14 = port D via a byte write
        assert_eq!(b.dev.exti_port(14), 3);
        assert_eq!(b.dev.exti_port(13), 0);
        b.write32(CMPCR, 1);
        assert_eq!(b.read32(CMPCR), 1);
        b.advance(100);
        assert_eq!(b.read32(CMPCR), 0x101);
        b.write32(CMPCR, 0);
        assert_eq!(b.read32(CMPCR), 0);
    }
}
