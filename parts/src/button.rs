//! A push button with contact bounce, between a GPIO pin and a supply rail (to ground
//! with the pin pulled up, as the Pyboard's USR switch is wired, or to 3.3 V).
//!
//! When mechanical contacts close or open they bounce: the circuit opens and closes a
//! few times before settling. Tactile switch datasheets bound the bounce time at a few
//! milliseconds; the default here is 1 ms, configurable.
//!
//! Modelled:
//! - Each press or release is a sequence of contact changes: the first at the instant of
//!   the press, then up to `max_bounces` open/close pairs at increasing times within
//!   `bounce` ns, ending in the new state. The pattern is deterministic: a function of
//!   the seed and the transition's number (0 for the first press, 1 for its release, ...)
//!   ([`bounce_pattern`]), so a run replays exactly.
//! - Closed, the button drives the pin to its rail ([`PartEffect::Drive`]); open, it lets
//!   the pin go (the pin's pull decides the level). One event is scheduled for the next
//!   contact change. A press during the bounce of a release (or the other way round)
//!   starts the new pattern at once; the rest of the old one is dropped.
//!
//! Not modelled: contact resistance, slow edges (the level switches at once), bounce
//! that does not settle, a switch's travel and force.

use crate::{ConfigError, Part, PartCtx, PartEffect, PinDir, PinSpec, MS};

const T: &str = "part::button";
const TOKEN_EDGE: u32 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ButtonConfig {
    /// The level the closed contact puts on the pin (false: to ground).
    pub closed_level: bool,
    /// The bounce lasts at most this long after the first contact change (ns).
    pub bounce: u64,
    /// At most this many open/close pairs after the first change.
    pub max_bounces: u32,
    pub seed: u64,
}

impl Default for ButtonConfig {
    fn default() -> Self {
        ButtonConfig {
            closed_level: false,
            bounce: MS,
            max_bounces: 4,
            seed: 1,
        }
    }
}

/// A small deterministic generator (xorshift64*).
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// The contact changes (time ns, closed) of transition number `n` of a button configured
/// with `cfg`, starting at `t` towards `closed`: the first at `t`, the last at or before
/// `t + cfg.bounce`, alternating, ending in `closed`.
pub fn bounce_pattern(cfg: &ButtonConfig, n: u64, t: u64, closed: bool) -> Vec<(u64, bool)> {
    let mut s = (cfg.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).max(1);
    for _ in 0..4 {
        next(&mut s);
    }
    let mut edges = vec![(t, closed)];
    let pairs = (next(&mut s) % (cfg.max_bounces as u64 + 1)).min(cfg.bounce / 2);
    if pairs == 0 {
        return edges;
    }
    // 2 x pairs gaps, each at least 1 ns, adding up to at most `bounce`.
    let slot = cfg.bounce / (2 * pairs);
    let mut at = t;
    for k in 0..2 * pairs {
        at += 1 + next(&mut s) % slot;
        edges.push((at, if k % 2 == 0 { !closed } else { closed }));
    }
    edges
}

/// The button.
#[derive(Debug, Clone)]
pub struct Button {
    cfg: ButtonConfig,
    pressed: bool,
    contact: bool,
    transitions: u64,
    /// Contact changes still to come, in time order.
    queue: Vec<(u64, bool)>,
}

const PINS: &[PinSpec] = &[PinSpec {
    name: "OUT",
    dir: PinDir::Output,
}];

impl Button {
    pub fn new(cfg: ButtonConfig) -> Result<Button, ConfigError> {
        if cfg.max_bounces > 100 {
            return Err(ConfigError::new(
                "button",
                format!("{} bounces is not a switch (at most 100)", cfg.max_bounces),
            ));
        }
        Ok(Button {
            cfg,
            pressed: false,
            contact: false,
            transitions: 0,
            queue: Vec::new(),
        })
    }

    /// Whether the user holds it down.
    pub fn pressed(&self) -> bool {
        self.pressed
    }

    /// Whether the contact is closed now (it differs from [`Button::pressed`] while it
    /// bounces).
    pub fn contact(&self) -> bool {
        self.contact
    }

    /// The user presses (`true`) or releases it at `ctx.now`. Nothing happens if it is
    /// already in that state.
    pub fn set_pressed(&mut self, ctx: &mut PartCtx, pressed: bool) {
        if pressed == self.pressed {
            return;
        }
        self.pressed = pressed;
        let edges = bounce_pattern(&self.cfg, self.transitions, ctx.now, pressed);
        tracing::debug!(target: T, t_ns = ctx.now, pressed, changes = edges.len(), "button");
        self.transitions += 1;
        self.queue = edges;
        self.run(ctx);
    }

    pub fn press(&mut self, ctx: &mut PartCtx) {
        self.set_pressed(ctx, true);
    }

    pub fn release(&mut self, ctx: &mut PartCtx) {
        self.set_pressed(ctx, false);
    }

    /// Applies the contact changes due and schedules the next.
    fn run(&mut self, ctx: &mut PartCtx) {
        let due = self.queue.partition_point(|e| e.0 <= ctx.now);
        for (_, closed) in self.queue.drain(..due) {
            if closed != self.contact {
                self.contact = closed;
                let level = closed.then_some(self.cfg.closed_level);
                ctx.push(PartEffect::Drive { pin: 0, level });
            }
        }
        match self.queue.first() {
            Some(&(at, _)) => ctx.schedule(TOKEN_EDGE, at),
            None => ctx.cancel(TOKEN_EDGE),
        }
    }
}

impl Part for Button {
    fn name(&self) -> &str {
        "button"
    }

    fn pins(&self) -> &'static [PinSpec] {
        PINS
    }

    fn pin_changed(&mut self, _ctx: &mut PartCtx, _pin: usize, _level: bool) {}

    fn event(&mut self, ctx: &mut PartCtx, _token: u32) {
        self.run(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Bench;
    use crate::US;

    #[test]
    fn patterns_alternate_stay_within_the_bounce_and_end_settled() {
        let cfg = ButtonConfig::default();
        let mut counts = [0usize; 10];
        for n in 0..200 {
            let closed = n % 2 == 0;
            let p = bounce_pattern(&cfg, n, 5_000, closed);
            assert_eq!(p[0], (5_000, closed));
            assert_eq!(p.last().unwrap().1, closed, "ends in the new state");
            for w in p.windows(2) {
                assert!(w[1].0 > w[0].0, "strictly later");
                assert_ne!(w[1].1, w[0].1, "alternating");
            }
            assert!(p.last().unwrap().0 <= 5_000 + cfg.bounce);
            counts[p.len()] += 1;
        }
        // 1 + 2 x (0..=4) changes, every count occurring.
        for len in [1, 3, 5, 7, 9] {
            assert!(counts[len] > 0, "no pattern with {len} changes");
        }
        assert_eq!(counts.iter().sum::<usize>(), 200);
        // Deterministic, and the seed matters.
        assert_eq!(
            bounce_pattern(&cfg, 7, 0, true),
            bounce_pattern(&cfg, 7, 0, true)
        );
        let other = ButtonConfig { seed: 2, ..cfg };
        assert!(
            (0..20).any(|n| bounce_pattern(&cfg, n, 0, true) != bounce_pattern(&other, n, 0, true))
        );
        // No bounce configured: one change.
        let clean = ButtonConfig {
            max_bounces: 0,
            ..cfg
        };
        assert_eq!(bounce_pattern(&clean, 3, 9, false), vec![(9, false)]);
    }

    #[test]
    fn a_press_drives_the_pin_through_its_bounce_pattern() {
        let cfg = ButtonConfig::default();
        let mut b = Bench::new(Button::new(cfg).unwrap()).with_pull(0, true);
        b.advance(10 * US);
        b.with(0, |btn, ctx| btn.press(ctx));
        let expect = bounce_pattern(&cfg, 0, 10 * US, true);
        b.advance(2 * MS);
        let seen: Vec<(u64, bool)> = b.trace.iter().map(|&(t, _, l)| (t, !l)).collect();
        assert_eq!(seen, expect, "pin low while the contact is closed");
        assert!(b.part().contact() && !b.line(0));
        assert_eq!(b.next_deadline(), None);
        // The release bounces with the next pattern; the pull-up gives the high level.
        b.trace.clear();
        let t = b.now;
        b.with(0, |btn, ctx| btn.release(ctx));
        b.advance(2 * MS);
        let seen: Vec<(u64, bool)> = b.trace.iter().map(|&(t, _, l)| (t, !l)).collect();
        assert_eq!(seen, bounce_pattern(&cfg, 1, t, false));
        assert!(b.line(0));
    }

    #[test]
    fn a_release_during_the_press_bounce_cuts_it_short() {
        let cfg = ButtonConfig {
            max_bounces: 4,
            bounce: 2 * MS,
            ..ButtonConfig::default()
        };
        let mut b = Bench::new(Button::new(cfg).unwrap()).with_pull(0, true);
        b.with(0, |btn, ctx| btn.press(ctx));
        let press = bounce_pattern(&cfg, 0, 0, true);
        let t = 300 * US;
        assert!(
            press.iter().any(|e| e.0 > t),
            "the press still bounces at {t}"
        );
        b.advance_to(t);
        b.with(0, |btn, ctx| btn.release(ctx));
        b.advance(5 * MS);
        let release = bounce_pattern(&cfg, 1, t, false);
        // What is left of the press, then the release; only real changes show on the pin.
        let (mut expect, mut closed) = (Vec::new(), false);
        for &e in press.iter().filter(|e| e.0 <= t).chain(&release) {
            if e.1 != closed {
                expect.push(e);
                closed = e.1;
            }
        }
        assert!(expect.iter().all(|e| e.0 <= t || release.contains(e)));
        let seen: Vec<(u64, bool)> = b.trace.iter().map(|&(t, _, l)| (t, !l)).collect();
        assert_eq!(seen, expect);
        assert!(!b.part().pressed() && b.line(0));
    }

    #[test]
    fn too_many_bounces_is_refused() {
        let e = Button::new(ButtonConfig {
            max_bounces: 1000,
            ..ButtonConfig::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "button: 1000 bounces is not a switch (at most 100)"
        );
    }
}
