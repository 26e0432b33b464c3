//! EXTI, the external interrupt/event controller (RM0090 §12, registers §12.3).
//!
//! Modelled:
//! - Lines 0-22: IMR, EMR, RTSR, FTSR, SWIER, PR (rc_w1; clearing a PR bit also clears its
//!   SWIER bit).
//! - Edge detection on the levels the machine reports with [`Exti::input`] (GPIO lines
//!   0-15 routed through SYSCFG_EXTICR by the machine; 16 PVD, 17 RTC alarm, 18 OTG FS
//!   wakeup, 19 Ethernet wakeup, 20 OTG HS wakeup, 21 tamper/time stamp, 22 RTC wakeup).
//!   A selected edge sets PR whatever IMR says; an interrupt line is high while
//!   PR & IMR has a bit of that line's group ([`IRQ_GROUPS`]).
//! - SWIER: writing 1 to a 0 bit sets PR.
//! - Event (EMR) lines: an edge or software trigger on an EMR line is remembered for the
//!   machine ([`Exti::take_event`], to wake a WFE).
//!
//! Not modelled:
//! - Nothing else in the block; the lines' sources are the machine's business.

use crate::device::{BusError, Ctx, Device, Size};
use crate::regs::{f, Access::*, Block, Reg};

const T: &str = "periph::exti";

pub const IMR: u32 = 0x00;
pub const EMR: u32 = 0x04;
pub const RTSR: u32 = 0x08;
pub const FTSR: u32 = 0x0C;
pub const SWIER: u32 = 0x10;
pub const PR: u32 = 0x14;

/// Lines 0-22.
pub const LINES: u32 = 0x007F_FFFF;

/// NVIC line of each group of EXTI lines: (IRQ, mask of EXTI lines).
pub const IRQ_GROUPS: [(u16, u32); 14] = [
    (6, 1 << 0),       // EXTI0
    (7, 1 << 1),       // EXTI1
    (8, 1 << 2),       // EXTI2
    (9, 1 << 3),       // EXTI3
    (10, 1 << 4),      // EXTI4
    (23, 0x0000_03E0), // EXTI9_5
    (40, 0x0000_FC00), // EXTI15_10
    (1, 1 << 16),      // PVD
    (41, 1 << 17),     // RTC_Alarm
    (42, 1 << 18),     // OTG_FS_WKUP
    (62, 1 << 19),     // ETH_WKUP
    (76, 1 << 20),     // OTG_HS_WKUP
    (2, 1 << 21),      // TAMP_STAMP
    (3, 1 << 22),      // RTC_WKUP
];

pub const REGS: &[Reg] = &[
    Reg {
        offset: IMR,
        name: "IMR",
        reset: 0,
        fields: &[f("MR", 0, 23, Rw)],
    },
    Reg {
        offset: EMR,
        name: "EMR",
        reset: 0,
        fields: &[f("MR", 0, 23, Rw)],
    },
    Reg {
        offset: RTSR,
        name: "RTSR",
        reset: 0,
        fields: &[f("TR", 0, 23, Rw)],
    },
    Reg {
        offset: FTSR,
        name: "FTSR",
        reset: 0,
        fields: &[f("TR", 0, 23, Rw)],
    },
    Reg {
        offset: SWIER,
        name: "SWIER",
        reset: 0,
        fields: &[f("SWIER", 0, 23, Rw)],
    },
    Reg {
        offset: PR,
        name: "PR",
        reset: 0,
        fields: &[f("PR", 0, 23, Rc1)],
    },
];

pub struct Exti {
    regs: Block,
    levels: u32,
    irq_levels: u16,
    event: bool,
}

impl Default for Exti {
    fn default() -> Self {
        Self::new()
    }
}

impl Exti {
    pub fn new() -> Exti {
        Exti {
            regs: Block::new("EXTI", REGS),
            levels: 0,
            irq_levels: 0,
            event: false,
        }
    }

    /// The level of line `line` changed (or was re-reported) to `level`.
    pub fn input(&mut self, ctx: &mut Ctx, line: u8, level: bool) {
        if line > 22 {
            return;
        }
        let bit = 1u32 << line;
        let old = self.levels & bit != 0;
        if old == level {
            return;
        }
        self.levels ^= bit;
        let edge_reg = if level { RTSR } else { FTSR };
        if self.regs.get(edge_reg) & bit != 0 {
            self.trigger(ctx, bit);
        }
    }

    /// Pending lines (PR).
    pub fn pending(&self) -> u32 {
        self.regs.get(PR)
    }

    /// Whether an event (EMR line) happened since the last call.
    pub fn take_event(&mut self) -> bool {
        std::mem::take(&mut self.event)
    }

    fn trigger(&mut self, ctx: &mut Ctx, bits: u32) {
        let pr = self.regs.get(PR) | bits;
        self.regs.set(PR, pr);
        if self.regs.get(EMR) & bits != 0 {
            self.event = true;
        }
        tracing::debug!(target: T, t = ctx.now, lines = bits, "trigger");
        self.update(ctx);
    }

    fn update(&mut self, ctx: &mut Ctx) {
        let active = self.regs.get(PR) & self.regs.get(IMR);
        for (i, (irq, mask)) in IRQ_GROUPS.iter().enumerate() {
            let level = active & mask != 0;
            if level != (self.irq_levels & (1 << i) != 0) {
                self.irq_levels ^= 1 << i;
                ctx.irq(*irq, level);
            }
        }
    }
}

impl Device for Exti {
    fn name(&self) -> &str {
        "EXTI"
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
            SWIER => {
                let rising = w.new & !w.old;
                if rising != 0 {
                    self.trigger(ctx, rising);
                }
            }
            PR => {
                let cleared = w.old & !w.new;
                let sw = self.regs.get(SWIER) & !cleared;
                self.regs.set(SWIER, sw);
            }
            _ => {}
        }
        self.update(ctx);
        Ok(())
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.event = false;
        for (i, (irq, _)) in IRQ_GROUPS.iter().enumerate() {
            if self.irq_levels & (1 << i) != 0 {
                ctx.irq(*irq, false);
            }
        }
        self.irq_levels = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    fn input(b: &mut FakeBus<Exti>, line: u8, level: bool) {
        b.with(|d, ctx| d.input(ctx, line, level));
    }

    #[test]
    fn rising_and_falling_edges_set_pr_and_irq_groups() {
        let mut b = FakeBus::new(Exti::new(), Clocks::RESET);
        b.write32(RTSR, 1 << 3);
        b.write32(FTSR, 1 << 12);
        input(&mut b, 3, true);
        assert_eq!(b.read32(PR), 1 << 3, "PR set even when masked");
        assert!(!b.irq(9));
        b.write32(IMR, (1 << 3) | (1 << 12));
        assert!(b.irq(9));
        b.write32(PR, 1 << 3);
        assert!(!b.irq(9));
        // Falling edge on 12 → EXTI15_10.
        input(&mut b, 12, true);
        assert!(!b.irq(40));
        input(&mut b, 12, false);
        assert!(b.irq(40));
        // A repeated level is no edge.
        b.write32(PR, 1 << 12);
        input(&mut b, 12, false);
        assert_eq!(b.read32(PR), 0);
    }

    #[test]
    fn software_trigger_and_events() {
        let mut b = FakeBus::new(Exti::new(), Clocks::RESET);
        b.write32(IMR, 1 << 7);
        b.write32(EMR, 1 << 7);
        b.write32(SWIER, 1 << 7);
        assert_eq!(b.read32(PR), 1 << 7);
        assert!(b.irq(23));
        assert!(b.dev.take_event());
        assert!(!b.dev.take_event());
        b.write32(PR, 1 << 7);
        assert_eq!(b.read32(SWIER), 0);
        assert!(!b.irq(23));
    }
}
