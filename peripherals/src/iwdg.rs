//! IWDG, the independent watchdog (RM0090 §19, registers §19.4).
//!
//! Modelled:
//! - KR: 0x5555 opens PR and RLR to writes, 0xCCCC starts the watchdog, 0xAAAA reloads
//!   the counter from RLR; any other key (and 0xAAAA, 0xCCCC) closes the write access
//!   again. A write to PR or RLR while they are closed is ignored (guest error).
//! - The 12-bit down-counter, clocked by the LSI (board parameter, 32 kHz on the
//!   STM32F405) through the PR prescaler (/4 .. /256): started by 0xCCCC from its reset
//!   value 0xFFF (as RM0090 §19.3.2 says, not from RLR), reloaded from RLR by 0xAAAA, and
//!   when it reaches 0 the whole chip resets ([`Effect::Reset`] with
//!   [`ResetKind::Iwdg`]). The counter is computed from virtual time, not ticked; it
//!   follows SYSCLK changes. PR applies from the next start or reload.
//! - SR: PVU and RVU rise on a PR or RLR write and fall after 5 LSI periods (the update
//!   crossing into the VDD domain; the LSI is taken as running).
//! - A system reset stops the watchdog (software watchdog option, WDG_SW = 1).
//!
//! Not modelled:
//! - The hardware watchdog option (WDG_SW = 0: started at reset), DBGMCU freeze in debug,
//!   LSI frequency spread. Reset flags in RCC_CSR are the machine's job (it sees
//!   `ResetKind::Iwdg`).

use crate::device::{BusError, Ctx, Device, Effect, ResetKind, Size};
use crate::regs::{f, guest_error, Access::*, Block, Reg};

const T: &str = "periph::iwdg";

pub const KR: u32 = 0x00;
pub const PR: u32 = 0x04;
pub const RLR: u32 = 0x08;
pub const SR: u32 = 0x0C;

pub const PVU: u32 = 1 << 0;
pub const RVU: u32 = 1 << 1;

const TOKEN_EXPIRE: u32 = 0;
const TOKEN_PVU: u32 = 1;
const TOKEN_RVU: u32 = 2;
/// LSI periods an update of PR or RLR takes.
const UPDATE_TICKS: u64 = 5;

pub const REGS: &[Reg] = &[
    Reg {
        offset: KR,
        name: "KR",
        reset: 0,
        fields: &[f("KEY", 0, 16, W)],
    },
    Reg {
        offset: PR,
        name: "PR",
        reset: 0,
        fields: &[f("PR", 0, 3, Rw)],
    },
    Reg {
        offset: RLR,
        name: "RLR",
        reset: 0x0FFF,
        fields: &[f("RL", 0, 12, Rw)],
    },
    Reg {
        offset: SR,
        name: "SR",
        reset: 0,
        fields: &[f("PVU", 0, 1, R), f("RVU", 1, 1, R)],
    },
];

pub struct Iwdg {
    regs: Block,
    lsi_hz: u32,
    /// PR and RLR open to writes (after 0x5555).
    access: bool,
    running: bool,
    /// Virtual time of the last (re)load or clock change, the LSI periods left from
    /// there to the end of count, and the SYSCLK then.
    anchor: u64,
    lsi_left: u64,
    anchor_sysclk: u32,
}

impl Iwdg {
    /// An IWDG clocked by an LSI of `lsi_hz` (32 kHz on the STM32F405).
    pub fn new(lsi_hz: u32) -> Iwdg {
        Iwdg {
            regs: Block::new("IWDG", REGS),
            lsi_hz: lsi_hz.max(1),
            access: false,
            running: false,
            anchor: 0,
            lsi_left: 0,
            anchor_sysclk: 1,
        }
    }

    /// Whether the watchdog has been started.
    pub fn running(&self) -> bool {
        self.running
    }

    /// The counter value now (12 bits), as the silicon would hold it.
    pub fn counter(&self, ctx: &Ctx) -> u32 {
        if !self.running {
            return 0x0FFF;
        }
        let div = self.divider();
        let left = self.lsi_left_at(ctx.now);
        left.div_ceil(div).min(0x0FFF) as u32
    }

    fn divider(&self) -> u64 {
        4u64 << self.regs.get(PR).min(6)
    }

    fn lsi_left_at(&self, now: u64) -> u64 {
        let elapsed = (now.saturating_sub(self.anchor) as u128 * self.lsi_hz as u128
            / self.anchor_sysclk.max(1) as u128) as u64;
        self.lsi_left.saturating_sub(elapsed)
    }

    /// Loads the counter with `value` now and schedules the end of count.
    fn load(&mut self, ctx: &mut Ctx, value: u32) {
        self.anchor = ctx.now;
        self.anchor_sysclk = ctx.clocks.sysclk;
        self.lsi_left = value as u64 * self.divider();
        self.schedule_expiry(ctx);
    }

    fn schedule_expiry(&mut self, ctx: &mut Ctx) {
        let at = self.anchor + ctx.clocks.to_cycles(self.lsi_left, self.lsi_hz);
        ctx.schedule(TOKEN_EXPIRE, at);
    }

    fn update_flag(&mut self, ctx: &mut Ctx, flag: u32, token: u32) {
        self.regs.set_bits(SR, flag, true);
        let at = ctx.now + ctx.clocks.to_cycles(UPDATE_TICKS, self.lsi_hz);
        ctx.schedule(token, at);
    }
}

impl Device for Iwdg {
    fn name(&self) -> &str {
        "IWDG"
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
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.reg(w.idx).name, val = w.val, "write");
        match offset & !3 {
            KR => {
                self.regs.set(KR, 0);
                self.access = false;
                match w.val & 0xFFFF {
                    0x5555 => self.access = true,
                    0xCCCC if !self.running => {
                        self.running = true;
                        self.load(ctx, 0x0FFF);
                    }
                    0xAAAA if self.running => {
                        let rl = self.regs.get(RLR);
                        self.load(ctx, rl);
                    }
                    _ => {}
                }
            }
            PR | RLR if !self.access => {
                let idx = w.idx;
                let name = self.regs.reg(idx).name;
                self.regs.set(offset & !3, w.old);
                guest_error(
                    "IWDG",
                    ctx.now,
                    &format!("write to {name} without the 0x5555 key (ignored)"),
                );
            }
            PR => self.update_flag(ctx, PVU, TOKEN_PVU),
            RLR => self.update_flag(ctx, RVU, TOKEN_RVU),
            _ => {}
        }
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        match token {
            TOKEN_EXPIRE if self.running => {
                tracing::debug!(target: T, t = ctx.now, "counter reached 0: reset");
                self.running = false;
                ctx.push(Effect::Reset(ResetKind::Iwdg));
            }
            TOKEN_PVU => self.regs.set_bits(SR, PVU, false),
            TOKEN_RVU => self.regs.set_bits(SR, RVU, false),
            _ => {}
        }
    }

    fn clocks_changed(&mut self, ctx: &mut Ctx) {
        if self.running && ctx.clocks.sysclk != self.anchor_sysclk {
            self.lsi_left = self.lsi_left_at(ctx.now);
            self.anchor = ctx.now;
            self.anchor_sysclk = ctx.clocks.sysclk;
            self.schedule_expiry(ctx);
        }
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.access = false;
        self.running = false;
        for t in [TOKEN_EXPIRE, TOKEN_PVU, TOKEN_RVU] {
            ctx.cancel(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    fn bus() -> FakeBus<Iwdg> {
        FakeBus::new(
            Iwdg::new(32_000),
            Clocks {
                sysclk: 168_000_000,
                ..Clocks::RESET
            },
        )
    }

    fn ms(b: &FakeBus<Iwdg>, n: u64) -> u64 {
        b.clocks.to_cycles(n, 1000)
    }

    fn resets(b: &FakeBus<Iwdg>) -> usize {
        b.log
            .iter()
            .filter(|(_, e)| matches!(e, Effect::Reset(ResetKind::Iwdg)))
            .count()
    }

    #[test]
    fn reset_values_and_write_protection() {
        let mut b = bus();
        assert_eq!(b.read32(RLR), 0x0FFF);
        assert_eq!(b.read32(PR), 0);
        b.write32(RLR, 100);
        assert_eq!(b.read32(RLR), 0x0FFF, "closed without the key");
        b.write32(KR, 0x5555);
        b.write32(RLR, 100);
        assert_eq!(b.read32(RLR), 100);
        assert_eq!(b.read32(SR), RVU);
        b.advance(ms(&b, 1));
        assert_eq!(b.read32(SR), 0, "RVU falls after 5 LSI periods");
        b.write32(KR, 0x1234);
        b.write32(PR, 3);
        assert_eq!(b.read32(PR), 0, "any other key closes the access");
        assert_eq!(b.read32(KR), 0, "KR is write-only");
    }

    /// MicroPython's `machine.WDT(timeout=1000)`: RLR = 3999, PR = 1 (/8), then start.
    #[test]
    fn the_firmware_wdt_resets_unless_fed() {
        let mut b = bus();
        b.write32(KR, 0x5555);
        b.write32(RLR, 3999);
        b.write32(KR, 0x5555);
        b.write32(PR, 1);
        b.write32(KR, 0xCCCC);
        assert!(b.dev.running());
        // Started from 0xFFF at 32 kHz / 8: 4095 * 8 / 32000 = 1023.75 ms.
        b.advance(ms(&b, 1023));
        assert_eq!(resets(&b), 0);
        b.write32(KR, 0xAAAA);
        // Fed: now RLR = 3999 ticks of 0.25 ms = 999.75 ms.
        b.advance(ms(&b, 999));
        assert_eq!(resets(&b), 0);
        b.advance(ms(&b, 1));
        assert_eq!(resets(&b), 1);
        assert!(!b.dev.running());
    }

    #[test]
    fn follows_a_sysclk_change_and_stops_at_reset() {
        let mut b = bus();
        b.write32(KR, 0xCCCC);
        // /4 at 32 kHz: 4095 ticks = 511.875 ms.
        b.advance(ms(&b, 256));
        b.clocks.sysclk = 16_000_000;
        b.with(|d, ctx| d.clocks_changed(ctx));
        b.advance(ms(&b, 255));
        assert_eq!(resets(&b), 0);
        b.advance(ms(&b, 1));
        assert_eq!(resets(&b), 1);
        b.with(|d, ctx| d.reset(ctx));
        b.advance(ms(&b, 2000));
        assert_eq!(resets(&b), 1, "a system reset stops the software watchdog");
    }
}
