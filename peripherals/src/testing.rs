//! A fake clock and bus for unit tests of one model: register accesses at a chosen
//! virtual time, scheduled events fired in deadline order, effects recorded.

use crate::device::{Clocks, Ctx, Device, Effect, Size};

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

    /// Advances virtual time to `t`, firing every event due on the way, in order.
    /// Panics when the model keeps scheduling events without time moving on (a hang in
    /// the machine).
    pub fn advance_to(&mut self, t: u64) {
        let mut fired_here = 0u32;
        let mut last = self.now;
        loop {
            let next = self
                .pending
                .iter()
                .copied()
                .filter(|p| p.0 <= t)
                .min_by_key(|p| (p.0, p.1));
            let Some(p) = next else { break };
            self.pending.retain(|q| q.1 != p.1);
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

/// A small deterministic generator (xorshift64*) for tests that hammer a model with
/// arbitrary register values: the same seed gives the same run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A register value: random, all ones, zero, one bit or a small number.
    pub fn value(&mut self) -> u32 {
        match self.below(6) {
            0 => 0,
            1 => u32::MAX,
            2 => 1 << self.below(32),
            3 => self.below(16) as u32,
            _ => self.next_u64() as u32,
        }
    }

    pub fn size(&mut self) -> Size {
        [Size::Word, Size::Word, Size::Half, Size::Byte][self.below(4) as usize]
    }
}

/// Hammers the model on `bus` with `steps` arbitrary accesses to the registers at
/// `offsets` (any width, any lane, arbitrary values; bus errors are fine), interleaved
/// with time advances that fire its events and with `extra`, which pokes the model's own
/// inputs. The test fails if the model panics (overflow, index, unwrap) or keeps firing
/// events without time moving on.
pub fn hammer<D: Device>(
    bus: &mut FakeBus<D>,
    offsets: &[u32],
    steps: usize,
    seed: u64,
    mut extra: impl FnMut(&mut FakeBus<D>, &mut Rng),
) {
    let mut rng = Rng::new(seed);
    for _ in 0..steps {
        match rng.below(8) {
            0..=2 => {
                let off = offsets[rng.below(offsets.len() as u64) as usize];
                let size = rng.size();
                let off = off + (rng.below(4) as u32 & !(size.bytes() - 1));
                let v = rng.value();
                let _ = bus.with(|d, ctx| d.write(ctx, off, size, v));
            }
            3 | 4 => {
                let off = offsets[rng.below(offsets.len() as u64) as usize];
                let _ = bus.with(|d, ctx| d.read(ctx, off, Size::Word));
            }
            5 => {
                let dt = [0, 1, 10, 1_000, 100_000][rng.below(5) as usize];
                bus.advance(dt);
            }
            6 => {
                if let Some(t) = bus.next_deadline() {
                    if t <= bus.now + 10_000_000 {
                        bus.advance_to(t.max(bus.now));
                    }
                }
            }
            _ => extra(bus, &mut rng),
        }
    }
}
