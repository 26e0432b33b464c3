//! Models of the parts users attach to a Pyboard: displays, LED strips, servos, sensors,
//! buttons, memories.
//!
//! Pure models, like the peripherals: no unicorn, no host I/O, no wall clock. Each part
//! plugs into the machine through one of three doors, and `parts/README.md` says which
//! part uses which and what the board side must call:
//!
//! - A bus: I2C parts implement [`pybsim_peripherals::i2c::I2cDevice`] and are attached to
//!   an I2C block at their address; the SSD1306 also implements
//!   [`pybsim_peripherals::spi::SpiDevice`].
//! - Pins: parts wired to GPIO pins implement [`Part`]. The board calls
//!   [`Part::pin_changed`] with every change of the level on each of the part's input and
//!   open-drain pins, and applies the [`PartEffect`]s the part pushes into its
//!   [`PartCtx`]: events to schedule, levels the part drives onto its pins.
//! - An analog level: the potentiometer and the photoresistor give a
//!   [`pybsim_peripherals::analog::Signal`] (µV) that the board installs in an ADC
//!   channel, as it does for stimuli.
//!
//! Time: parts count virtual time in nanoseconds since power-on, the unit of the I2C
//! device trait, of [`pybsim_peripherals::analog::Signal`] and of stimuli files. The
//! board converts its CPU-cycle clock to nanoseconds following SYSCLK through its changes
//! (as `Machine::virtual_ns` does) and turns a part's deadline back into a cycle with
//! [`cycle_at`].
//!
//! Unit tests drive a part through [`testing::Bench`], a fake clock with the lines of an
//! open-drain bus, in the manner of `pybsim_peripherals::testing::FakeBus`.

pub mod analog;
pub mod button;
pub mod ds18b20;
pub mod edges;
pub mod eeprom;
pub mod hd44780;
pub mod servo;
pub mod ssd1306;
pub mod testing;
pub mod ws2812;

/// One microsecond in the parts' time unit (ns).
pub const US: u64 = 1_000;
/// One millisecond in the parts' time unit (ns).
pub const MS: u64 = 1_000_000;

/// How a part's pin meets the board's pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinDir {
    /// The part only listens: the board reports every level change.
    Input,
    /// The part only drives (or lets go): it pushes [`PartEffect::Drive`].
    Output,
    /// Both on one open-drain line (1-Wire): the part pulls low or lets go and hears
    /// every level change, its own included.
    OpenDrain,
}

/// A pin of a part, by the name the part's datasheet or module silk screen gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinSpec {
    pub name: &'static str,
    pub dir: PinDir,
}

/// What a part asks the board to do. The board applies them in order, after the call
/// that produced them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartEffect {
    /// Call [`Part::event`] with `token` at virtual time `at` (ns); replaces an earlier
    /// schedule of the same token on the same part.
    Schedule { token: u32, at: u64 },
    /// Drop the pending event with `token`, if any.
    Cancel { token: u32 },
    /// The part drives its pin number `pin` (an index into [`Part::pins`]) to a level, or
    /// lets it go (`None`: the line falls back to the board's pull or to other drivers).
    Drive { pin: usize, level: Option<bool> },
}

/// What a part sees of the board during one call: the time, and where its effects go.
pub struct PartCtx<'a> {
    /// Virtual time in ns since power-on.
    pub now: u64,
    effects: &'a mut Vec<PartEffect>,
}

impl<'a> PartCtx<'a> {
    pub fn new(now: u64, effects: &'a mut Vec<PartEffect>) -> Self {
        PartCtx { now, effects }
    }

    pub fn push(&mut self, effect: PartEffect) {
        self.effects.push(effect);
    }

    pub fn schedule(&mut self, token: u32, at: u64) {
        self.push(PartEffect::Schedule { token, at });
    }

    pub fn cancel(&mut self, token: u32) {
        self.push(PartEffect::Cancel { token });
    }

    pub fn drive(&mut self, pin: usize, level: Option<bool>) {
        self.push(PartEffect::Drive { pin, level });
    }
}

/// A part wired to GPIO pins.
///
/// `Any` lets the board reach the part's own methods (its display, its colours, its
/// diagnostics) through `&mut dyn Part`.
pub trait Part: std::any::Any {
    /// Name for logs, e.g. "DS18B20".
    fn name(&self) -> &str;
    /// The part's pins; [`Part::pin_changed`] and [`PartEffect::Drive`] number them by
    /// their index here.
    fn pins(&self) -> &'static [PinSpec];
    /// The level on the part's pin `pin` changed to `level` (at `ctx.now`). Called for
    /// [`PinDir::Input`] and [`PinDir::OpenDrain`] pins.
    fn pin_changed(&mut self, ctx: &mut PartCtx, pin: usize, level: bool);
    /// A scheduled event fired (`ctx.now` is at or just after its deadline: the board
    /// rounds deadlines up to whole CPU cycles).
    fn event(&mut self, _ctx: &mut PartCtx, _token: u32) {}
}

/// What a part noticed wrong, in order, with the first of each kind to be logged as a
/// warning and the rest at debug level (a program that gets a timing wrong gets it wrong
/// on every bit; the list keeps them all for checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics<D> {
    list: Vec<D>,
    /// Kinds seen (bit per kind).
    seen: u32,
}

impl<D> Default for Diagnostics<D> {
    fn default() -> Self {
        Diagnostics {
            list: Vec::new(),
            seen: 0,
        }
    }
}

impl<D> Diagnostics<D> {
    /// Keeps `d`, of kind `kind` (0-31); returns it and whether it is the first of its
    /// kind.
    pub fn record(&mut self, kind: u32, d: D) -> (bool, &D) {
        let bit = 1u32 << (kind & 31);
        let first = self.seen & bit == 0;
        self.seen |= bit;
        self.list.push(d);
        (first, self.list.last().expect("just pushed"))
    }

    pub fn list(&self) -> &[D] {
        &self.list
    }

    /// The list so far, emptied (the kinds stay seen).
    pub fn take(&mut self) -> Vec<D> {
        std::mem::take(&mut self.list)
    }
}

/// A bad part configuration, naming the part and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {problem}")]
pub struct ConfigError {
    pub part: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(part: &'static str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            part,
            problem: problem.into(),
        }
    }
}

/// The first CPU cycle at or after virtual time `at_ns`, given that cycle `now_cycle`
/// is at `now_ns` and SYSCLK runs at `sysclk` Hz from there on (for a part's
/// [`PartEffect::Schedule`]; the board converts again if SYSCLK changes before the
/// deadline). A deadline in the past gives `now_cycle`.
pub fn cycle_at(now_cycle: u64, now_ns: u64, sysclk: u32, at_ns: u64) -> u64 {
    let dns = at_ns.saturating_sub(now_ns) as u128;
    let dc = (dns * sysclk.max(1) as u128).div_ceil(1_000_000_000);
    now_cycle.saturating_add(dc.min(u64::MAX as u128) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cycle found is the first whose time (rounded down, as the machine converts)
    /// is at or after the deadline.
    #[test]
    fn deadlines_round_up_to_whole_cycles() {
        let hz = 168_000_000u32;
        let ns_of = |c: u64| (c as u128 * 1_000_000_000 / hz as u128) as u64;
        for at in [0u64, 1, 5, 6, 1_000, 15_000, 480_000, 123_456_789] {
            let c = cycle_at(0, 0, hz, at);
            assert!(ns_of(c) >= at, "cycle {c} is before {at} ns");
            assert!(c == 0 || ns_of(c - 1) < at, "cycle {c} is not the first");
        }
        // 30 µs at 168 MHz is 5040 cycles exactly; from an offset start.
        assert_eq!(cycle_at(1_000, 2_000, hz, 32_000), 1_000 + 5_040);
        assert_eq!(cycle_at(7, 100, hz, 50), 7, "a past deadline is now");
    }

    #[test]
    fn diagnostics_flag_the_first_of_each_kind() {
        let mut d = Diagnostics::default();
        assert_eq!(d.record(2, "a"), (true, &"a"));
        assert_eq!(d.record(2, "b"), (false, &"b"));
        assert_eq!(d.record(0, "c"), (true, &"c"));
        assert_eq!(d.take(), vec!["a", "b", "c"]);
        assert_eq!(
            d.record(2, "d"),
            (false, &"d"),
            "kinds stay seen after take"
        );
        assert_eq!(d.list(), &["d"]);
    }

    use crate::testing::Bench;
    use pybsim_peripherals::i2c::I2cDevice;
    use pybsim_peripherals::testing::Hammer;

    /// Arbitrary levels on every input pin at arbitrary times (glitches of 0 ns to
    /// pauses of seconds): no panic, no endless events.
    fn hammer_pins<P: Part>(part: P, seed: u64) -> Bench<P> {
        let mut h = Hammer::new(seed);
        let n = part.pins().len();
        let mut b = Bench::new(part).with_pull(0, true);
        for _ in 0..20_000 {
            let pin = h.below(n as u64) as usize;
            let drive = h.pick(&[Some(false), Some(true), None]);
            b.set(pin, drive);
            let dt = match h.below(4) {
                0 => 0,
                1 => h.below(2_000),
                2 => h.below(200_000),
                _ => h.below(2_000_000_000),
            };
            b.advance(dt);
        }
        b
    }

    #[test]
    fn pin_parts_survive_arbitrary_edges() {
        for seed in 1..4 {
            let mut w = hammer_pins(
                ws2812::Ws2812::new(16, ws2812::Timing::WS2812B).unwrap(),
                seed,
            );
            let now = w.now;
            w.part_mut().colors(now);
            let s = hammer_pins(
                servo::Servo::new(servo::ServoConfig::STANDARD).unwrap(),
                seed,
            );
            let a = s.part().angle(s.now);
            assert!((0..=180_000).contains(&a));
            let mut d = hammer_pins(ds18b20::Ds18b20::new(seed).unwrap(), seed);
            let now = d.now;
            d.part_mut().temperature_register(now);
            hammer_pins(ssd1306::Ssd1306::new(false), seed)
                .part()
                .screen();
            // Presses and releases at any pace: the pin always shows the contact.
            let mut h = Hammer::new(seed);
            let cfg = button::ButtonConfig::default();
            let mut b = Bench::new(button::Button::new(cfg).unwrap()).with_pull(0, true);
            for _ in 0..5_000 {
                let press = h.below(2) == 0;
                b.with(0, |p, ctx| p.set_pressed(ctx, press));
                b.advance(h.below(3 * MS));
                assert_eq!(b.line(0), !b.part().contact());
            }
        }
    }

    /// Arbitrary I2C traffic: starts, addresses, bytes, reads and stops in any order.
    fn hammer_i2c<D: I2cDevice>(dev: &mut D, seed: u64) {
        let mut h = Hammer::new(seed);
        let mut t = 0;
        for _ in 0..50_000 {
            t += h.below(300_000);
            match h.below(6) {
                0 => dev.start(t),
                1 => {
                    dev.address(t, h.below(2) == 0);
                }
                2 | 3 => {
                    dev.write(t, h.value() as u8);
                }
                4 => {
                    dev.read(t);
                }
                _ => dev.stop(t),
            }
        }
    }

    #[test]
    fn bus_parts_survive_arbitrary_traffic() {
        for seed in 1..4 {
            let mut e = eeprom::Eeprom::new(eeprom::Kind::LC32);
            hammer_i2c(&mut e, seed);
            let mut o = ssd1306::Ssd1306::new(false);
            hammer_i2c(&mut o, seed);
            o.screen().half_blocks();
            let mut l = hd44780::Lcd::new(hd44780::Geometry::LCD2004).unwrap();
            hammer_i2c(&mut l, seed);
            l.lines();
        }
    }
}
