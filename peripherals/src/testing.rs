//! A fake clock and bus for unit tests of one model: register accesses at a chosen
//! virtual time, scheduled events fired in deadline order, effects recorded.

use crate::device::{Clocks, Ctx, Device, Effect, Size};

/// The Pyboard's clock tree as its firmware sets it up: SYSCLK 168 MHz from the PLL,
/// APB1 42 MHz (timers 84 MHz), APB2 84 MHz (timers 168 MHz), PLL48CK 48 MHz.
pub const PYBOARD: Clocks = Clocks {
    sysclk: 168_000_000,
    hclk: 168_000_000,
    pclk1: 42_000_000,
    pclk2: 84_000_000,
    tim_apb1: 84_000_000,
    tim_apb2: 168_000_000,
    pll48: 48_000_000,
};

pub struct FakeBus<D: Device> {
    pub dev: D,
    pub now: u64,
    pub clocks: Clocks,
    /// Every effect the model produced, with the virtual time it was produced at.
    pub log: Vec<(u64, Effect)>,
    /// Pending events: (deadline, sequence, token).
    pending: Vec<(u64, u64, u32)>,
    seq: u64,
    /// Current level of each IRQ line the model drove.
    pub irqs: std::collections::BTreeMap<u16, bool>,
}

impl<D: Device> FakeBus<D> {
    pub fn new(dev: D, clocks: Clocks) -> Self {
        let mut bus = FakeBus {
            dev,
            now: 0,
            clocks,
            log: Vec::new(),
            pending: Vec::new(),
            seq: 0,
            irqs: Default::default(),
        };
        bus.with(|d, ctx| d.reset(ctx));
        bus
    }

    /// Runs `f` on the model with a context at the current time and applies its effects.
    pub fn with<R>(&mut self, f: impl FnOnce(&mut D, &mut Ctx) -> R) -> R {
        let mut effects = Vec::new();
        let mut ctx = Ctx::new(self.now, self.clocks, &mut effects);
        let r = f(&mut self.dev, &mut ctx);
        self.apply(effects);
        r
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match &e {
                Effect::Schedule { token, at } => {
                    self.pending.retain(|p| p.2 != *token);
                    self.seq += 1;
                    self.pending.push((*at, self.seq, *token));
                }
                Effect::Cancel { token } => self.pending.retain(|p| p.2 != *token),
                Effect::Irq { irq, level } => {
                    self.irqs.insert(*irq, *level);
                }
                Effect::Clocks(c) => {
                    self.clocks = *c;
                }
                _ => {}
            }
            self.log.push((self.now, e));
        }
    }

    pub fn read(&mut self, offset: u32, size: Size) -> u32 {
        self.with(|d, ctx| d.read(ctx, offset, size))
            .unwrap_or_else(|e| panic!("read {offset:#x}: {e}"))
    }

    pub fn read32(&mut self, offset: u32) -> u32 {
        self.read(offset, Size::Word)
    }

    pub fn write(&mut self, offset: u32, size: Size, value: u32) {
        self.with(|d, ctx| d.write(ctx, offset, size, value))
            .unwrap_or_else(|e| panic!("write {offset:#x}: {e}"))
    }

    pub fn write32(&mut self, offset: u32, value: u32) {
        self.write(offset, Size::Word, value)
    }

    /// Takes the earliest pending event due at or before `t` (ties by schedule order).
    fn pop_due(&mut self, t: u64) -> Option<(u64, u64, u32)> {
        let p = self
            .pending
            .iter()
            .copied()
            .filter(|p| p.0 <= t)
            .min_by_key(|p| (p.0, p.1))?;
        self.pending.retain(|q| q.1 != p.1);
        Some(p)
    }

    /// Advances virtual time to `t`, firing every event due on the way, in order.
    /// Panics when the model keeps scheduling events without time moving on (a hang in
    /// the machine).
    pub fn advance_to(&mut self, t: u64) {
        let mut fired_here = 0u32;
        let mut last = self.now;
        while let Some(p) = self.pop_due(t) {
            if p.0 > last {
                last = p.0;
                fired_here = 0;
            }
            fired_here += 1;
            assert!(
                fired_here < 100_000,
                "{}: events keep firing at cycle {last} without time moving on",
                self.dev.name()
            );
            self.now = self.now.max(p.0);
            self.with(|d, ctx| d.event(ctx, p.2));
        }
        self.now = t;
    }

    pub fn advance(&mut self, cycles: u64) {
        self.advance_to(self.now + cycles);
    }

    /// The deadline of the next pending event.
    pub fn next_deadline(&self) -> Option<u64> {
        self.pending.iter().map(|p| p.0).min()
    }

    pub fn irq(&self, irq: u16) -> bool {
        self.irqs.get(&irq).copied().unwrap_or(false)
    }

    /// Effects logged so far, then cleared.
    pub fn take_log(&mut self) -> Vec<(u64, Effect)> {
        std::mem::take(&mut self.log)
    }
}

impl<D: Device> FakeBus<D> {
    /// Advances virtual time towards `t` like [`FakeBus::advance_to`], but fires at most
    /// `limit` events (stopping short of `t` when it reaches that). Returns the longest
    /// run of events fired at one instant: a model that keeps rescheduling itself at
    /// the same time shows up as a long run.
    pub fn advance_bounded(&mut self, t: u64, limit: usize) -> usize {
        let (mut fired, mut run, mut longest, mut at) = (0, 0, 0, None);
        while fired < limit {
            let Some(p) = self.pop_due(t) else { break };
            self.now = self.now.max(p.0);
            run = if at == Some(self.now) { run + 1 } else { 1 };
            at = Some(self.now);
            longest = longest.max(run);
            self.with(|d, ctx| d.event(ctx, p.2));
            fired += 1;
        }
        if fired < limit {
            self.now = self.now.max(t);
        }
        longest
    }
}

/// A small deterministic generator for tests that hammer a model with arbitrary input
/// (xorshift64*; no host randomness).
#[derive(Debug, Clone)]
pub struct Hammer(u64);

impl Hammer {
    pub fn new(seed: u64) -> Hammer {
        Hammer(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A register value with the extremes over-represented: 0, all ones, a single bit,
    /// a small number or anything.
    pub fn value(&mut self) -> u32 {
        match self.below(6) {
            0 => 0,
            1 => u32::MAX,
            2 => 1 << self.below(32),
            3 => self.below(16) as u32,
            _ => self.next_u64() as u32,
        }
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Hammers `bus` with `steps` arbitrary accesses (reads and writes of every width at
/// `offsets`, plus `extra` operations the caller adds) and time steps, checking that no
/// single time step fires an unbounded number of events. Panics (the test fails) if
/// the model panics or loops.
pub fn hammer<D: Device>(
    bus: &mut FakeBus<D>,
    seed: u64,
    steps: usize,
    offsets: &[u32],
    mut extra: impl FnMut(&mut FakeBus<D>, &mut Hammer),
) {
    const LIMIT: usize = 5_000;
    const SAME_INSTANT: usize = 1_000;
    let mut h = Hammer::new(seed);
    for step in 0..steps {
        match h.below(10) {
            0..=3 => {
                let off = h.pick(offsets);
                let size = h.pick(&[Size::Word, Size::Half, Size::Byte]);
                let off = off
                    + if size == Size::Word {
                        0
                    } else {
                        h.below(4) as u32 & !(size.bytes() - 1)
                    };
                let v = h.value();
                let _ = bus.with(|d, ctx| d.write(ctx, off, size, v));
            }
            4..=5 => {
                let off = h.pick(offsets);
                let _ = bus.with(|d, ctx| d.read(ctx, off, Size::Word));
            }
            6 => extra(bus, &mut h),
            7 => {
                // Clock tree changes (SYSCLK from 4 MHz HSE up), including a stopped PLL.
                let mut c = bus.clocks;
                c.sysclk = h.pick(&[16_000_000, 168_000_000, 8_000_000, 4_000_000]);
                c.pll48 = h.pick(&[0, 48_000_000, 24_000_000]);
                c.pclk1 = h.pick(&[c.sysclk, 42_000_000]);
                c.pclk2 = h.pick(&[c.sysclk, 84_000_000]);
                c.tim_apb1 = c.pclk1 * 2;
                c.tim_apb2 = c.pclk2 * 2;
                c.hclk = c.sysclk;
                bus.clocks = c;
                bus.with(|d, ctx| d.clocks_changed(ctx));
            }
            _ => {
                let dt = match h.below(4) {
                    0 => h.below(16),
                    1 => h.below(10_000),
                    2 => h.below(10_000_000),
                    _ => 1 << h.below(40),
                };
                let t = bus.now.saturating_add(dt);
                let run = bus.advance_bounded(t, LIMIT);
                assert!(
                    run < SAME_INSTANT,
                    "step {step} (seed {seed}): {run} events at cycle {}: the model loops",
                    bus.now
                );
            }
        }
    }
}
