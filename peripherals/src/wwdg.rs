//! WWDG, the window watchdog (RM0090 §20, registers §20.6).
//!
//! Modelled:
//! - The 7-bit down-counter CR.T[6:0], clocked by PCLK1 / 4096 / 2^WDGTB, computed from
//!   virtual time (not ticked) and re-anchored when the clocks or WDGTB change. It is
//!   free-running: it counts (and wraps from 0x00 to 0x7F) even while the watchdog is
//!   off; a CR write loads it.
//! - Once CR.WDGA is set (by software; only a reset clears it), the whole chip resets
//!   ([`Effect::Reset`] with [`ResetKind::Wwdg`]) when T6 falls, i.e. the counter goes
//!   from 0x40 to 0x3F; when a CR write reloads the counter while it is above the window
//!   CFR.W[6:0]; and when a CR write clears T6 (the software reset RM0090 §20.3
//!   describes).
//! - Early wakeup: when the counter reaches 0x40, SR.EWIF is set; with CFR.EWI (set by
//!   software, cleared by reset) the WWDG interrupt (IRQ 0) is raised until EWIF is
//!   cleared by writing 0.
//!
//! Not modelled:
//! - The WWDG bus clock enable in RCC_APB1ENR (the counter runs whatever it says), the
//!   phase of the prescaler (the first decrement comes one full period after a CR
//!   write), DBGMCU freeze. Reset flags in RCC_CSR are the machine's job.

use crate::device::{BusError, Ctx, Device, Effect, ResetKind, Size};
use crate::regs::{f, guest_error, Access::*, Block, Reg};

const T: &str = "periph::wwdg";

pub const CR: u32 = 0x00;
pub const CFR: u32 = 0x04;
pub const SR: u32 = 0x08;

pub const WDGA: u32 = 1 << 7;
pub const EWI: u32 = 1 << 9;
pub const EWIF: u32 = 1 << 0;
/// The interrupt line (RM0090 Table 61).
pub const IRQ: u16 = 0;

const TOKEN_EWI: u32 = 0;
const TOKEN_RESET: u32 = 1;

/// The register table (RM0090 §20.6).
pub const REGS: &[Reg] = &[
    Reg {
        offset: CR,
        name: "CR",
        reset: 0x7f,
        fields: &[f("T", 0, 7, Rw), f("WDGA", 7, 1, Rs)],
    },
    Reg {
        offset: CFR,
        name: "CFR",
        reset: 0x7f,
        fields: &[f("W", 0, 7, Rw), f("WDGTB", 7, 2, Rw), f("EWI", 9, 1, Rs)],
    },
    Reg {
        offset: SR,
        name: "SR",
        reset: 0x0,
        fields: &[f("EWIF", 0, 1, Rc0)],
    },
];

pub struct Wwdg {
    regs: Block,
    /// The counter value at `anchor` (virtual cycles) and the SYSCLK/PCLK1 then.
    anchor: u64,
    anchor_val: u8,
    anchor_clk: (u32, u32),
    irq_level: bool,
}

impl Wwdg {
    pub fn new() -> Wwdg {
        Wwdg {
            regs: Block::new("WWDG", REGS),
            anchor: 0,
            anchor_val: 0x7F,
            anchor_clk: (16_000_000, 16_000_000),
            irq_level: false,
        }
    }

    /// PCLK1 periods per counter step: 4096 x 2^WDGTB.
    fn period(&self) -> u64 {
        4096 << ((self.regs.get(CFR) >> 7) & 3)
    }

    fn enabled(&self) -> bool {
        self.regs.bit(CR, WDGA)
    }

    /// Counter steps since the anchor.
    fn steps(&self, ctx: &Ctx) -> u64 {
        let (sysclk, pclk1) = self.anchor_clk;
        let pclk_ticks =
            ctx.now.saturating_sub(self.anchor) as u128 * pclk1 as u128 / sysclk.max(1) as u128;
        (pclk_ticks / self.period() as u128) as u64
    }

    /// The counter now (7 bits).
    pub fn counter(&self, ctx: &Ctx) -> u8 {
        let s = self.steps(ctx);
        let v = (self.anchor_val as u64).wrapping_sub(s) & 0x7F;
        if self.enabled() {
            // An enabled watchdog resets at 0x3F; it never shows less.
            (self.anchor_val as u64).saturating_sub(s).max(0x3F) as u8
        } else {
            v as u8
        }
    }

    /// Loads the counter with `val` now and schedules its edges.
    fn load(&mut self, ctx: &mut Ctx, val: u8) {
        self.anchor = ctx.now;
        self.anchor_val = val & 0x7F;
        self.anchor_clk = (ctx.clocks.sysclk, ctx.clocks.pclk1);
        self.schedule(ctx);
    }

    /// Virtual time at which the counter, loaded at the anchor, reaches `v`.
    fn time_of(&self, ctx: &Ctx, v: u8) -> u64 {
        let steps = (self.anchor_val - v) as u64;
        self.anchor
            + ctx
                .clocks
                .to_cycles(steps * self.period(), ctx.clocks.pclk1)
    }

    fn schedule(&mut self, ctx: &mut Ctx) {
        if !self.enabled() || self.anchor_val < 0x40 {
            ctx.cancel(TOKEN_EWI);
            ctx.cancel(TOKEN_RESET);
            return;
        }
        if self.anchor_val > 0x40 {
            let at = self.time_of(ctx, 0x40);
            ctx.schedule(TOKEN_EWI, at);
        } else {
            ctx.cancel(TOKEN_EWI);
        }
        let at = self.time_of(ctx, 0x3F);
        ctx.schedule(TOKEN_RESET, at);
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let level = self.regs.bit(SR, EWIF) && self.regs.bit(CFR, EWI);
        if level != self.irq_level {
            self.irq_level = level;
            ctx.irq(IRQ, level);
        }
    }

    fn reset_chip(&mut self, ctx: &mut Ctx, why: &str) {
        tracing::debug!(target: T, t = ctx.now, why, "watchdog reset");
        ctx.cancel(TOKEN_EWI);
        ctx.cancel(TOKEN_RESET);
        ctx.push(Effect::Reset(ResetKind::Wwdg));
    }
}

impl Default for Wwdg {
    fn default() -> Self {
        Wwdg::new()
    }
}

impl Device for Wwdg {
    fn name(&self) -> &str {
        "WWDG"
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        if offset & !3 == CR {
            let c = self.counter(ctx) as u32;
            let v = self.regs.get(CR);
            self.regs.set(CR, (v & !0x7F) | c);
        }
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
        let counter_before = self.counter(ctx);
        let was_enabled = self.enabled();
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.reg(w.idx).name, val = w.val, "write");
        match offset & !3 {
            CR => {
                let t = (w.new & 0x7F) as u8;
                let window = (self.regs.get(CFR) & 0x7F) as u8;
                if was_enabled && counter_before > window {
                    guest_error(
                        "WWDG",
                        ctx.now,
                        &format!(
                            "counter reloaded at {counter_before:#04x}, above the window {window:#04x}: reset"
                        ),
                    );
                    self.reset_chip(ctx, "reload outside the window");
                    return Ok(());
                }
                if self.enabled() && t & 0x40 == 0 {
                    self.reset_chip(ctx, "T6 cleared by software");
                    return Ok(());
                }
                self.load(ctx, t);
            }
            CFR => {
                if (w.old ^ w.new) & (3 << 7) != 0 {
                    // Keep the count, change the pace from now.
                    // The count so far went at the old pace (the anchor's WDGTB is
                    // gone: it is taken at the new one from the anchor).
                    let c = self.counter(ctx);
                    self.load(ctx, c);
                }
                self.update_irq(ctx);
            }
            SR => self.update_irq(ctx),
            _ => {}
        }
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        match token {
            TOKEN_EWI => {
                self.regs.set_bits(SR, EWIF, true);
                self.update_irq(ctx);
            }
            TOKEN_RESET => self.reset_chip(ctx, "T6 fell to 0"),
            _ => {}
        }
    }

    fn clocks_changed(&mut self, ctx: &mut Ctx) {
        // The count so far went at the anchor's clocks; the rest at the new ones.
        let c = self.counter(ctx);
        self.load(ctx, c);
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.anchor = ctx.now;
        self.anchor_val = 0x7F;
        self.anchor_clk = (ctx.clocks.sysclk, ctx.clocks.pclk1);
        ctx.cancel(TOKEN_EWI);
        ctx.cancel(TOKEN_RESET);
        if self.irq_level {
            self.irq_level = false;
            ctx.irq(IRQ, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    /// SYSCLK 168 MHz, PCLK1 42 MHz: one counter step is 4096 x 4 = 16384 CPU cycles
    /// at WDGTB = 0, 131072 at WDGTB = 3.
    fn bus() -> FakeBus<Wwdg> {
        FakeBus::new(
            Wwdg::new(),
            Clocks {
                sysclk: 168_000_000,
                pclk1: 42_000_000,
                ..Clocks::RESET
            },
        )
    }

    fn resets(b: &FakeBus<Wwdg>) -> Vec<u64> {
        b.log
            .iter()
            .filter(|(_, e)| matches!(e, Effect::Reset(ResetKind::Wwdg)))
            .map(|(t, _)| *t)
            .collect()
    }

    #[test]
    fn reset_values_and_free_running_counter() {
        let mut b = bus();
        assert_eq!(b.read32(CR), 0x7F);
        assert_eq!(b.read32(CFR), 0x7F);
        assert_eq!(b.read32(SR), 0);
        b.advance(16384 * 3);
        assert_eq!(b.read32(CR), 0x7C, "counts while disabled");
        b.advance(16384 * 0x7D);
        assert_eq!(b.read32(CR), 0x7F, "and wraps from 0 to 0x7F");
        assert!(resets(&b).is_empty());
    }

    #[test]
    fn timeout_with_early_wakeup() {
        let mut b = bus();
        b.write32(CFR, EWI | (3 << 7) | 0x7F);
        b.write32(CR, WDGA | 0x7F);
        let step = 131_072u64;
        b.advance(63 * step - 1);
        assert_eq!(b.read32(SR), 0);
        assert!(!b.irq(IRQ));
        b.advance(1);
        assert_eq!(b.read32(SR), EWIF, "counter at 0x40");
        assert_eq!(b.read32(CR), WDGA | 0x40);
        assert!(b.irq(IRQ), "EWI raises IRQ 0");
        b.write32(SR, 0);
        assert!(!b.irq(IRQ), "EWIF cleared by writing 0");
        b.advance(step - 1);
        assert!(resets(&b).is_empty());
        b.advance(1);
        // 64 steps of 131072 cycles: 8388608 cycles = 49.93 ms at 168 MHz.
        assert_eq!(resets(&b), vec![64 * step]);
        b.with(|d, ctx| d.reset(ctx));
        assert_eq!(b.read32(CR), 0x7F, "WDGA cleared by the reset");
    }

    #[test]
    fn refresh_inside_and_outside_the_window() {
        let mut b = bus();
        let step = 16_384u64;
        b.write32(CFR, 0x50);
        b.write32(CR, WDGA | 0x7F);
        b.advance(0x2F * step);
        assert_eq!(b.read32(CR) & 0x7F, 0x50, "at the window");
        b.write32(CR, WDGA | 0x7F);
        assert!(resets(&b).is_empty(), "refresh at W is allowed");
        b.advance(0x10 * step);
        assert_eq!(b.read32(CR) & 0x7F, 0x6F);
        b.write32(CR, WDGA | 0x7F);
        assert_eq!(resets(&b), vec![0x3F * step], "refresh above W resets");
    }

    #[test]
    fn clearing_t6_resets_at_once() {
        let mut b = bus();
        b.write32(CR, WDGA | 0x7F);
        b.advance(100);
        b.write32(CR, WDGA | 0x3F);
        assert_eq!(resets(&b), vec![100]);
    }
}
