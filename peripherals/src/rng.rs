//! RNG, the random number generator (RM0090 §24, registers §24.4), deterministic.
//!
//! Modelled:
//! - CR.RNGEN starts the generator; a new 32-bit value is ready (SR.DRDY) 40 PLL48CLK
//!   periods after enabling and after each DR read (RM0090 §24.3.1). Values come from a
//!   seedable deterministic generator (SplitMix64; [`Rng::new`] takes the seed), so a
//!   run replays exactly.
//! - Clock error: with PLL48CLK stopped (0 Hz) an enable sets CECS and CEIS and no data
//!   comes.
//! - CR.IE: the HASH_RNG line (IRQ 80) is IE & (DRDY | CEIS | SEIS).
//!
//! Not modelled:
//! - Seed errors (SECS/SEIS never set by the model), the PLL48CLK < HCLK/16 clock check.

use crate::device::{BusError, Ctx, Device, Size};
use crate::regs::{f, Access::*, Block, Reg};

const T: &str = "periph::rng";

/// HASH_RNG global interrupt line.
pub const IRQ_HASH_RNG: u16 = 80;

pub const CR: u32 = 0x00;
pub const SR: u32 = 0x04;
pub const DR: u32 = 0x08;

pub const RNGEN: u32 = 1 << 2;
pub const IE: u32 = 1 << 3;
pub const DRDY: u32 = 1 << 0;
pub const CECS: u32 = 1 << 1;
pub const CEIS: u32 = 1 << 5;
pub const SEIS: u32 = 1 << 6;

pub const REGS: &[Reg] = &[
    Reg {
        offset: CR,
        name: "CR",
        reset: 0,
        fields: &[f("RNGEN", 2, 1, Rw), f("IE", 3, 1, Rw)],
    },
    Reg {
        offset: SR,
        name: "SR",
        reset: 0,
        fields: &[
            f("DRDY", 0, 1, R),
            f("CECS", 1, 1, R),
            f("SECS", 2, 1, R),
            f("CEIS", 5, 1, Rc0),
            f("SEIS", 6, 1, Rc0),
        ],
    },
    Reg {
        offset: DR,
        name: "DR",
        reset: 0,
        fields: &[f("RNDATA", 0, 32, R)],
    },
];

pub struct Rng {
    regs: Block,
    seed: u64,
    state: u64,
    irq: bool,
}

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng {
            regs: Block::new("RNG", REGS),
            seed,
            state: seed,
            irq: false,
        }
    }

    /// Changes the seed; the sequence starts from it at the next reset.
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
        self.state = seed;
    }

    fn next(&mut self) -> u32 {
        // SplitMix64.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as u32
    }

    fn start(&mut self, ctx: &mut Ctx) {
        if ctx.clocks.pll48 == 0 {
            let sr = self.regs.get(SR);
            self.regs.set(SR, sr | CECS | CEIS);
            return;
        }
        self.regs.set_bits(SR, CECS, false);
        let at = ctx.now + ctx.clocks.to_cycles(40, ctx.clocks.pll48);
        ctx.schedule(0, at);
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let level = self.regs.bit(CR, IE) && self.regs.get(SR) & (DRDY | CEIS | SEIS) != 0;
        if level != self.irq {
            self.irq = level;
            ctx.irq(IRQ_HASH_RNG, level);
        }
    }
}

impl Device for Rng {
    fn name(&self) -> &str {
        "RNG"
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = self.regs.read(offset, size).unwrap_or(0);
        if offset & !3 == DR && self.regs.bit(SR, DRDY) {
            self.regs.set_bits(SR, DRDY, false);
            if self.regs.bit(CR, RNGEN) {
                self.start(ctx);
            }
            self.update_irq(ctx);
        }
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
        if offset & !3 == CR {
            match (w.old & RNGEN != 0, w.new & RNGEN != 0) {
                (false, true) if !self.regs.bit(SR, DRDY) => self.start(ctx),
                (true, false) => ctx.cancel(0),
                _ => {}
            }
        }
        self.update_irq(ctx);
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, _token: u32) {
        if self.regs.bit(CR, RNGEN) {
            let v = self.next();
            self.regs.set(DR, v);
            self.regs.set_bits(SR, DRDY, true);
        }
        self.update_irq(ctx);
    }

    fn clocks_changed(&mut self, ctx: &mut Ctx) {
        if ctx.clocks.pll48 == 0 && self.regs.bit(CR, RNGEN) {
            let sr = self.regs.get(SR);
            self.regs.set(SR, sr | CECS | CEIS);
            self.update_irq(ctx);
        }
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.state = self.seed;
        ctx.cancel(0);
        if self.irq {
            ctx.irq(IRQ_HASH_RNG, false);
        }
        self.irq = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    const PYB: Clocks = crate::testing::PYBOARD;

    fn values(seed: u64) -> Vec<u32> {
        let mut b = FakeBus::new(Rng::new(seed), PYB);
        b.write32(CR, RNGEN | IE);
        let mut out = Vec::new();
        for _ in 0..3 {
            assert_eq!(b.read32(SR) & DRDY, 0);
            b.advance(140); // 40 periods of 48 MHz = 140 CPU cycles
            assert_eq!(b.read32(SR) & DRDY, DRDY);
            assert!(b.irq(IRQ_HASH_RNG));
            out.push(b.read32(DR));
            assert!(!b.irq(IRQ_HASH_RNG));
        }
        out
    }

    #[test]
    fn deterministic_per_seed() {
        let a = values(1);
        assert_eq!(a, values(1));
        assert_ne!(a, values(2));
        assert!(a[0] != a[1] && a[1] != a[2]);
    }

    #[test]
    fn clock_error_without_pll48() {
        let mut b = FakeBus::new(Rng::new(0), Clocks::RESET);
        b.write32(CR, RNGEN | IE);
        assert_eq!(b.read32(SR), CECS | CEIS);
        assert!(b.irq(IRQ_HASH_RNG));
        b.write32(SR, 0);
        assert_eq!(b.read32(SR), CECS);
        assert!(!b.irq(IRQ_HASH_RNG));
    }
}
