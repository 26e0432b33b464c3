//! A fake clock and pin lines for unit tests of parts: the test plays the MCU (it drives
//! the lines at chosen virtual times), scheduled events fire in deadline order, and every
//! part on the bench hears every change of its lines' levels, its own drives included,
//! as the board does it with GPIO pads.

use crate::{Part, PartCtx, PartEffect, PinDir};

/// One or more parts of one kind sharing lines pin by pin (pin `i` of every part is on
/// line `i`), and an MCU that drives those lines.
pub struct Bench<P: Part> {
    pub parts: Vec<P>,
    /// Virtual time in ns.
    pub now: u64,
    /// Every effect a part produced: (time, part index, effect).
    pub log: Vec<(u64, usize, PartEffect)>,
    /// Pending events: (deadline, sequence, part, token).
    pending: Vec<(u64, u64, usize, u32)>,
    seq: u64,
    /// What the MCU drives on each line.
    mcu: Vec<Option<bool>>,
    /// What each part drives on each line.
    drives: Vec<Vec<Option<bool>>>,
    /// Level of each line when nobody drives it.
    pull: Vec<bool>,
    /// Level of each line as the parts last heard it.
    heard: Vec<bool>,
    /// Level changes of each line: (time, line, level).
    pub trace: Vec<(u64, usize, bool)>,
}

impl<P: Part> Bench<P> {
    /// One part, its lines pulled low.
    pub fn new(part: P) -> Bench<P> {
        Bench::many(vec![part])
    }

    /// Several parts on the same lines, pulled low.
    pub fn many(parts: Vec<P>) -> Bench<P> {
        let n = parts.first().map(|p| p.pins().len()).unwrap_or(0);
        Bench {
            drives: vec![vec![None; n]; parts.len()],
            parts,
            now: 0,
            log: Vec::new(),
            pending: Vec::new(),
            seq: 0,
            mcu: vec![None; n],
            pull: vec![false; n],
            heard: vec![false; n],
            trace: Vec::new(),
        }
    }

    /// Line `pin` rests at `level` when nobody drives it (a pull-up resistor for 1-Wire).
    /// Set before anything happens: the parts are not told.
    pub fn with_pull(mut self, pin: usize, level: bool) -> Bench<P> {
        self.pull[pin] = level;
        self.heard[pin] = level;
        self
    }

    pub fn part(&self) -> &P {
        &self.parts[0]
    }

    pub fn part_mut(&mut self) -> &mut P {
        &mut self.parts[0]
    }

    /// The level on line `pin`: the MCU's drive wins (as in the GPIO model), else a part
    /// pulling low, else a part driving high, else the pull.
    pub fn line(&self, pin: usize) -> bool {
        if let Some(l) = self.mcu[pin] {
            return l;
        }
        let d = self.drives.iter().map(|d| d[pin]);
        if d.clone().any(|l| l == Some(false)) {
            false
        } else if d.into_iter().any(|l| l == Some(true)) {
            true
        } else {
            self.pull[pin]
        }
    }

    /// What part `i` drives on line `pin`.
    pub fn drive_of(&self, i: usize, pin: usize) -> Option<bool> {
        self.drives[i][pin]
    }

    /// Runs `f` on part `i` at the current time and applies its effects.
    pub fn with<R>(&mut self, i: usize, f: impl FnOnce(&mut P, &mut PartCtx) -> R) -> R {
        let mut fx = Vec::new();
        let r = f(&mut self.parts[i], &mut PartCtx::new(self.now, &mut fx));
        self.apply(i, fx);
        self.settle();
        r
    }

    fn apply(&mut self, i: usize, fx: Vec<PartEffect>) {
        for e in fx {
            match e {
                PartEffect::Schedule { token, at } => {
                    self.pending.retain(|p| (p.2, p.3) != (i, token));
                    self.seq += 1;
                    self.pending.push((at, self.seq, i, token));
                }
                PartEffect::Cancel { token } => self.pending.retain(|p| (p.2, p.3) != (i, token)),
                PartEffect::Drive { pin, level } => self.drives[i][pin] = level,
            }
            self.log.push((self.now, i, e));
        }
    }

    /// Tells the parts about every line whose level changed, until nothing changes.
    fn settle(&mut self) {
        for _ in 0..1_000 {
            let Some(pin) = (0..self.heard.len()).find(|&p| self.line(p) != self.heard[p]) else {
                return;
            };
            let level = self.line(pin);
            self.heard[pin] = level;
            self.trace.push((self.now, pin, level));
            for i in 0..self.parts.len() {
                if self.parts[i].pins()[pin].dir != PinDir::Output {
                    let mut fx = Vec::new();
                    self.parts[i].pin_changed(&mut PartCtx::new(self.now, &mut fx), pin, level);
                    self.apply(i, fx);
                }
            }
        }
        panic!("lines keep changing at {} ns", self.now);
    }

    /// The MCU drives line `pin` (`Some(level)`) or lets it go (`None`), now.
    pub fn set(&mut self, pin: usize, drive: Option<bool>) {
        self.mcu[pin] = drive;
        self.settle();
    }

    /// Advances to `t`, firing every event due on the way in deadline order (ties in the
    /// order they were scheduled).
    pub fn advance_to(&mut self, t: u64) {
        for _ in 0..1_000_000 {
            let Some(p) = self
                .pending
                .iter()
                .copied()
                .filter(|p| p.0 <= t)
                .min_by_key(|p| (p.0, p.1))
            else {
                self.now = self.now.max(t);
                return;
            };
            self.pending.retain(|q| q.1 != p.1);
            self.now = self.now.max(p.0);
            self.with(p.2, |part, ctx| part.event(ctx, p.3));
        }
        panic!("events keep firing before {t} ns");
    }

    pub fn advance(&mut self, dt: u64) {
        self.advance_to(self.now + dt);
    }

    /// The MCU drives `pin` through `(level, duration)` steps, from now on.
    pub fn wave(&mut self, pin: usize, steps: &[(bool, u64)]) {
        for &(level, d) in steps {
            self.set(pin, Some(level));
            self.advance(d);
        }
    }

    /// The deadline of the next pending event.
    pub fn next_deadline(&self) -> Option<u64> {
        self.pending.iter().map(|p| p.0).min()
    }
}
