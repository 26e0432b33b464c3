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
    pub fn advance_to(&mut self, t: u64) {
        loop {
            let next = self
                .pending
                .iter()
                .copied()
                .filter(|p| p.0 <= t)
                .min_by_key(|p| (p.0, p.1));
            let Some(p) = next else { break };
            self.pending.retain(|q| q.1 != p.1);
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
