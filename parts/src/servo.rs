//! A hobby (RC) servo on a PWM pin: its angle from the width of the high pulses
//! (the common RC servo convention: a pulse of about 1 to 2 ms every 20 ms, 50 Hz; e.g.
//! the TowerPro SG90's "1-2 ms" and "0.1 s/60°" at 4.8 V).
//!
//! What drives it on the Pyboard: a timer channel in PWM mode (`pyb.Timer.channel`,
//! `machine.PWM`), or `pyb.Servo`, whose default calibration (ports/stm32/servo.c) puts
//! the centre at 1500 µs and ±90° at ±970 µs from it, clamped to 640-2420 µs, at 50 Hz:
//! [`ServoConfig::PYB_SERVO`] matches it.
//!
//! Modelled:
//! - The commanded angle: linear in the pulse width through two calibration points
//!   (default 1.0 ms = 0°, 2.0 ms = 180°), clamped to the mechanical end stops; a pulse
//!   asking for more than a stop gives the stop and a [`Problem::BeyondStop`].
//! - Period: the time from one rising edge to the next is checked against a window
//!   (default 10-30 ms around the 20 ms convention; [`Problem::Period`]). A servo that
//!   sees no pulse for `timeout` has lost its signal: it stays where it is, and the next
//!   period is not checked.
//! - Response: instant, or moving at a slew rate (degrees per second) from wherever it
//!   is towards the last commanded angle, in virtual time. Angles are in millidegrees.
//!
//! Not modelled: the motor's acceleration, overshoot and dead band, load, torque, a
//! continuous-rotation servo (speed instead of angle), supply voltage.

use crate::edges::EdgeMeter;
use crate::{ConfigError, Diagnostics, Part, PartCtx, PinDir, PinSpec, MS, US};

const T: &str = "part::servo";

/// How a servo maps pulses to angles, and how fast it turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServoConfig {
    /// Two calibration points: a pulse of `pulse_lo` ns turns it to `angle_lo` millidegrees,
    /// `pulse_hi` to `angle_hi`; linear between and beyond.
    pub pulse_lo: u64,
    pub angle_lo: i32,
    pub pulse_hi: u64,
    pub angle_hi: i32,
    /// Mechanical end stops (millidegrees).
    pub stop_min: i32,
    pub stop_max: i32,
    /// Accepted period between rising edges (ns).
    pub period_min: u64,
    pub period_max: u64,
    /// No pulse for this long (ns) is a lost signal.
    pub timeout: u64,
    /// Turning speed in millidegrees per second; `None` turns at once.
    pub slew: Option<u64>,
    /// Where it stands at power-on (millidegrees).
    pub start: i32,
}

impl ServoConfig {
    /// 1.0 ms = 0°, 2.0 ms = 180°, stops at 0° and 180°, 10-30 ms period, instant.
    pub const STANDARD: ServoConfig = ServoConfig {
        pulse_lo: MS,
        angle_lo: 0,
        pulse_hi: 2 * MS,
        angle_hi: 180_000,
        stop_min: 0,
        stop_max: 180_000,
        period_min: 10 * MS,
        period_max: 30 * MS,
        timeout: 100 * MS,
        slew: None,
        start: 90_000,
    };

    /// `pyb.Servo`'s default calibration: 1500 µs = 0°, +970 µs per +90°, angles -90° to
    /// +90°.
    pub const PYB_SERVO: ServoConfig = ServoConfig {
        pulse_lo: 530 * US,
        angle_lo: -90_000,
        pulse_hi: 2470 * US,
        angle_hi: 90_000,
        stop_min: -90_000,
        stop_max: 90_000,
        start: 0,
        ..ServoConfig::STANDARD
    };

    fn check(&self) -> Result<(), String> {
        if self.pulse_lo >= self.pulse_hi {
            return Err(format!(
                "pulse_lo {} ns must be shorter than pulse_hi {} ns",
                self.pulse_lo, self.pulse_hi
            ));
        }
        if self.stop_min > self.stop_max || !(self.stop_min..=self.stop_max).contains(&self.start) {
            return Err(format!(
                "start angle {} m° must lie within the stops {}..={} m°",
                self.start, self.stop_min, self.stop_max
            ));
        }
        if self.period_min > self.period_max || self.timeout == 0 {
            return Err(format!(
                "period window {}..={} ns and timeout {} ns are not usable",
                self.period_min, self.period_max, self.timeout
            ));
        }
        if self.slew == Some(0) {
            return Err("a slew rate of 0 never moves: use None for an instant servo".into());
        }
        Ok(())
    }

    /// The angle (m°) a pulse of `width` ns asks for, before the stops.
    fn commanded(&self, width: u64) -> i64 {
        let (p0, p1) = (self.pulse_lo as i128, self.pulse_hi as i128);
        let (a0, a1) = (self.angle_lo as i128, self.angle_hi as i128);
        let a = a0 + (width as i128 - p0) * (a1 - a0) / (p1 - p0);
        a.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }
}

/// Something wrong with the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A pulse of `width` ns asks for `wanted` m°, beyond a stop.
    BeyondStop { width: u64, wanted: i64 },
    /// Rising edges `period` ns apart, outside the accepted window.
    Period { period: u64 },
}

impl Problem {
    fn kind(&self) -> u32 {
        match self {
            Problem::BeyondStop { .. } => 0,
            Problem::Period { .. } => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnostic {
    /// Virtual time (ns) of the edge that showed it.
    pub t: u64,
    pub problem: Problem,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.problem {
            Problem::BeyondStop { width, wanted } => write!(
                f,
                "at {} ns: pulse of {width} ns asks for {wanted} m°, beyond the end stop",
                self.t
            ),
            Problem::Period { period } => write!(
                f,
                "at {} ns: pulses {period} ns apart, outside the servo's period window",
                self.t
            ),
        }
    }
}

/// The servo.
#[derive(Debug, Clone)]
pub struct Servo {
    cfg: ServoConfig,
    meter: EdgeMeter,
    last_rise: Option<u64>,
    last_pulse: Option<u64>,
    last_period: Option<u64>,
    /// Motion: at `from_t` it stood at `from`, heading for `target`.
    from: i32,
    from_t: u64,
    target: i32,
    diagnostics: Diagnostics<Diagnostic>,
}

const PINS: &[PinSpec] = &[PinSpec {
    name: "SIG",
    dir: PinDir::Input,
}];

impl Servo {
    pub fn new(cfg: ServoConfig) -> Result<Servo, ConfigError> {
        cfg.check().map_err(|e| ConfigError::new("servo", e))?;
        Ok(Servo {
            cfg,
            meter: EdgeMeter::new(false),
            last_rise: None,
            last_pulse: None,
            last_period: None,
            from: cfg.start,
            from_t: 0,
            target: cfg.start,
            diagnostics: Diagnostics::default(),
        })
    }

    pub fn config(&self) -> &ServoConfig {
        &self.cfg
    }

    /// Where the horn is at `now` (m°).
    pub fn angle(&self, now: u64) -> i32 {
        let Some(rate) = self.cfg.slew else {
            return self.target;
        };
        let dt = now.saturating_sub(self.from_t) as u128;
        let step = (dt * rate as u128 / 1_000_000_000).min(u32::MAX as u128) as i64;
        let (from, target) = (self.from as i64, self.target as i64);
        let moved = step.min((target - from).abs());
        (from + moved * (target - from).signum()) as i32
    }

    /// The angle it is heading for (m°).
    pub fn target(&self) -> i32 {
        self.target
    }

    /// Width of the last complete pulse (ns), and the last period between rising edges.
    pub fn last_pulse(&self) -> (Option<u64>, Option<u64>) {
        (self.last_pulse, self.last_period)
    }

    /// Whether a pulse began within the timeout before `now`.
    pub fn has_signal(&self, now: u64) -> bool {
        self.last_rise
            .is_some_and(|r| now.saturating_sub(r) < self.cfg.timeout)
    }

    pub fn diagnostics(&self) -> &[Diagnostic] {
        self.diagnostics.list()
    }

    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        self.diagnostics.take()
    }

    fn report(&mut self, t: u64, problem: Problem) {
        let d = Diagnostic { t, problem };
        let (first, d) = self.diagnostics.record(problem.kind(), d);
        if first {
            tracing::warn!(target: T, t_ns = t, "{d} (the first of its kind; more at debug level)");
        } else {
            tracing::debug!(target: T, t_ns = t, "{d}");
        }
    }

    /// The signal line is at `level` from `t` on.
    pub fn level(&mut self, t: u64, level: bool) {
        if level == self.meter.level() {
            return;
        }
        let had_signal = self.has_signal(t);
        let pulse = self.meter.edge(t, level);
        if level {
            if let (Some(r), true) = (self.last_rise, had_signal) {
                let period = t.saturating_sub(r);
                self.last_period = Some(period);
                if !(self.cfg.period_min..=self.cfg.period_max).contains(&period) {
                    self.report(t, Problem::Period { period });
                }
            }
            self.last_rise = Some(t);
            return;
        }
        if let Some(pulse) = pulse {
            let width = pulse.width;
            self.last_pulse = Some(width);
            let wanted = self.cfg.commanded(width);
            let angle = wanted.clamp(self.cfg.stop_min as i64, self.cfg.stop_max as i64) as i32;
            if angle as i64 != wanted {
                self.report(t, Problem::BeyondStop { width, wanted });
            }
            if angle != self.target {
                tracing::debug!(target: T, t_ns = t, width, angle, "new position");
            }
            self.from = self.angle(t);
            self.from_t = t;
            self.target = angle;
        }
    }
}

impl Part for Servo {
    fn name(&self) -> &str {
        "servo"
    }

    fn pins(&self) -> &'static [PinSpec] {
        PINS
    }

    fn pin_changed(&mut self, ctx: &mut PartCtx, _pin: usize, level: bool) {
        self.level(ctx.now, level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Bench;

    /// `n` PWM periods of `period` ns with high pulses of `width` ns.
    fn pwm(b: &mut Bench<Servo>, width: u64, period: u64, n: usize) {
        for _ in 0..n {
            b.wave(0, &[(true, width), (false, period - width)]);
        }
    }

    #[test]
    fn angle_follows_the_pulse_width() {
        let mut b = Bench::new(Servo::new(ServoConfig::STANDARD).unwrap());
        assert_eq!(b.part().angle(0), 90_000, "power-on position");
        pwm(&mut b, 1_000_000, 20 * MS, 2);
        assert_eq!(b.part().angle(b.now), 0);
        pwm(&mut b, 1_500_000, 20 * MS, 1);
        assert_eq!(b.part().angle(b.now), 90_000);
        pwm(&mut b, 1_250_000, 20 * MS, 1);
        assert_eq!(b.part().angle(b.now), 45_000);
        // The angle changes at the falling edge that ends the pulse.
        let t = b.now;
        b.wave(0, &[(true, 2 * MS)]);
        assert_eq!(b.part().angle(b.now - 1), 45_000);
        b.set(0, Some(false));
        assert_eq!(b.part().angle(b.now), 180_000);
        assert_eq!(b.part().last_pulse(), (Some(2 * MS), Some(20 * MS)));
        assert!(b.now == t + 2 * MS);
        assert_eq!(b.part().diagnostics(), &[]);
    }

    #[test]
    fn pulses_beyond_the_stops_and_bad_periods_are_reported() {
        let mut b = Bench::new(Servo::new(ServoConfig::STANDARD).unwrap());
        pwm(&mut b, 2_500_000, 20 * MS, 1);
        assert_eq!(b.part().angle(b.now), 180_000, "held at the stop");
        // A 100 Hz signal: 10 ms is the edge of the window, 5 ms is outside.
        pwm(&mut b, 1_000_000, 10 * MS, 1);
        pwm(&mut b, 1_000_000, 5 * MS, 2);
        let d = b.part().diagnostics().to_vec();
        assert_eq!(
            d,
            vec![
                Diagnostic {
                    t: 2_500_000,
                    problem: Problem::BeyondStop {
                        width: 2_500_000,
                        wanted: 270_000
                    }
                },
                Diagnostic {
                    t: 35 * MS,
                    problem: Problem::Period { period: 5 * MS }
                },
            ]
        );
        // After a pause longer than the timeout the signal is lost; the next period is
        // not checked.
        assert!(b.part().has_signal(b.now));
        b.advance(200 * MS);
        assert!(!b.part().has_signal(b.now));
        pwm(&mut b, 1_500_000, 20 * MS, 2);
        assert_eq!(b.part().diagnostics().len(), 2);
        assert_eq!(b.part().angle(b.now), 90_000);
    }

    #[test]
    fn slew_rate_moves_the_horn_in_virtual_time() {
        let cfg = ServoConfig {
            slew: Some(600_000), // 600°/s: 0.1 s per 60°
            ..ServoConfig::STANDARD
        };
        let mut b = Bench::new(Servo::new(cfg).unwrap());
        pwm(&mut b, 2 * MS, 20 * MS, 1); // to 180° from 90°, from t = 2 ms
        assert_eq!(b.part().target(), 180_000);
        assert_eq!(b.part().angle(2 * MS), 90_000);
        assert_eq!(b.part().angle(2 * MS + 50 * MS), 120_000);
        assert_eq!(b.part().angle(2 * MS + 150 * MS), 180_000);
        assert_eq!(b.part().angle(2 * MS + 151 * MS), 180_000);
        // A new command half way turns it back from where it is (at 21 ms: 101.4°).
        pwm(&mut b, MS, 20 * MS, 1);
        assert_eq!(b.part().angle(21 * MS), 101_400);
        assert_eq!(b.part().angle(21 * MS + 169 * MS), 0);
    }

    #[test]
    fn pyb_servo_calibration() {
        let mut b = Bench::new(Servo::new(ServoConfig::PYB_SERVO).unwrap());
        for (us, angle) in [(1500, 0), (2470, 90_000), (1015, -45_000), (640, -79_794)] {
            pwm(&mut b, us * US, 20 * MS, 1);
            assert_eq!(b.part().angle(b.now), angle, "{us} µs");
        }
    }

    #[test]
    fn bad_configurations_are_refused() {
        let e = Servo::new(ServoConfig {
            pulse_lo: 2 * MS,
            ..ServoConfig::STANDARD
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "servo: pulse_lo 2000000 ns must be shorter than pulse_hi 2000000 ns"
        );
        assert!(Servo::new(ServoConfig {
            slew: Some(0),
            ..ServoConfig::STANDARD
        })
        .is_err());
    }
}
