//! Quantities from outside the chip that follow a schedule in virtual time: the voltage at
//! an analog pin, an accelerometer axis. Not a register block: the ADC and the sensors
//! that hang on I2C hold one [`Signal`] per input and evaluate it at the exact instant
//! they sample, so a waveform gives the value of that instant, whatever the slicing of
//! the run.
//!
//! Signals are functions of virtual time in nanoseconds since power-on (the unit of
//! stimuli files). A model turns its CPU-cycle time into nanoseconds with a
//! [`TimeBase`] that it advances from [`crate::Device::clocks_changed`] and
//! [`crate::Device::reset`], exactly as the machine does for its clock log (one stretch
//! per clock change, each rounded down to whole nanoseconds).

use crate::device::Clocks;

/// How a table of points is read between two points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Interp {
    /// Straight line between the two points (rounded toward zero).
    #[default]
    Linear,
    /// The earlier point's value until the next point (sample and hold).
    Hold,
}

/// One part of a signal, in force from its start until a later part starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Constant(i64),
    /// (time ns, value) points, strictly increasing in time; the first point's time is
    /// the piece's start. After the last point the last value holds.
    Table {
        points: Vec<(u64, i64)>,
        interp: Interp,
    },
}

/// A value (in micro-units: µV, µg) as a function of virtual time in ns. Before any
/// part starts it is `default`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signal {
    default: i64,
    /// (start ns, piece), sorted by start; equal starts keep insertion order and the
    /// later one wins.
    pieces: Vec<(u64, Piece)>,
}

impl Signal {
    /// A signal that is `value` at all times (until parts are added).
    pub fn constant(value: i64) -> Signal {
        Signal {
            default: value,
            pieces: Vec::new(),
        }
    }

    fn insert(&mut self, start: u64, piece: Piece) {
        let i = self.pieces.partition_point(|(s, _)| *s <= start);
        self.pieces.insert(i, (start, piece));
    }

    /// From `at_ns` on the value is `value`.
    pub fn set(&mut self, at_ns: u64, value: i64) {
        self.insert(at_ns, Piece::Constant(value));
    }

    /// From the first point on, the value follows the table `points` ((time ns, value),
    /// strictly increasing times), read with `interp`; after the last point it holds the
    /// last value. An empty table adds nothing; a point whose time does not come after
    /// the one kept before it is dropped (callers check their input and say so).
    pub fn table(&mut self, mut points: Vec<(u64, i64)>, interp: Interp) {
        let mut last = None;
        points.retain(|&(t, _)| {
            let keep = last.is_none_or(|l| t > l);
            if keep {
                last = Some(t);
            }
            keep
        });
        if let Some(&(start, _)) = points.first() {
            self.insert(start, Piece::Table { points, interp });
        }
    }

    /// The value at virtual time `t_ns`.
    pub fn at(&self, t_ns: u64) -> i64 {
        let i = self.pieces.partition_point(|(s, _)| *s <= t_ns);
        let Some((_, piece)) = i.checked_sub(1).map(|i| &self.pieces[i]) else {
            return self.default;
        };
        match piece {
            Piece::Constant(v) => *v,
            Piece::Table { points, interp } => {
                let j = points.partition_point(|(t, _)| *t <= t_ns);
                let (t0, v0) = points[j - 1];
                match (interp, points.get(j)) {
                    (Interp::Linear, Some(&(t1, v1))) => {
                        let dv =
                            (v1 as i128 - v0 as i128) * (t_ns - t0) as i128 / (t1 - t0) as i128;
                        (v0 as i128 + dv) as i64
                    }
                    _ => v0,
                }
            }
        }
    }
}

/// Converts a model's CPU-cycle time to virtual nanoseconds since power-on, following
/// SYSCLK through its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBase {
    /// Cycle and nanosecond at which the current stretch began, and its SYSCLK.
    t0: u64,
    ns0: u64,
    hz: u32,
}

impl Default for TimeBase {
    fn default() -> Self {
        TimeBase {
            t0: 0,
            ns0: 0,
            hz: Clocks::RESET.sysclk,
        }
    }
}

impl TimeBase {
    /// A new stretch at cycle `now` with SYSCLK `sysclk` (call on every clock change and
    /// reset, as the machine logs them).
    pub fn update(&mut self, now: u64, sysclk: u32) {
        self.ns0 = self.ns(now);
        self.t0 = now;
        self.hz = sysclk;
    }

    /// Nanoseconds at cycle `t` (`t` at or after the last update).
    pub fn ns(&self, t: u64) -> u64 {
        let d = t.saturating_sub(self.t0) as u128 * 1_000_000_000 / self.hz.max(1) as u128;
        self.ns0 + d as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_steps_and_tables() {
        let mut s = Signal::constant(7);
        assert_eq!(s.at(0), 7);
        s.set(100, 1_000);
        s.table(vec![(200, 0), (300, 1_000), (400, 500)], Interp::Linear);
        s.set(1_000, 42);
        assert_eq!(s.at(99), 7);
        assert_eq!(s.at(100), 1_000);
        assert_eq!(s.at(199), 1_000);
        assert_eq!(s.at(200), 0);
        assert_eq!(s.at(250), 500);
        assert_eq!(s.at(350), 750);
        assert_eq!(s.at(999), 500, "holds the last point");
        assert_eq!(s.at(1_000), 42);
        let mut h = Signal::default();
        h.table(vec![(0, 10), (10, 20)], Interp::Hold);
        assert_eq!((h.at(9), h.at(10)), (10, 20));
        // Equal starts: the later one wins.
        h.set(10, 5);
        assert_eq!(h.at(10), 5);
    }

    /// Points out of order or at equal times are dropped (no division by zero, no
    /// underflow); extreme values interpolate without overflow.
    #[test]
    fn tables_with_bad_points_and_extreme_values() {
        let mut s = Signal::default();
        s.table(
            vec![(10, i64::MIN), (20, i64::MAX), (20, 0), (15, 3), (30, 0)],
            Interp::Linear,
        );
        assert_eq!(s.at(10), i64::MIN);
        assert_eq!(s.at(20), i64::MAX);
        assert_eq!(s.at(25), i64::MAX - i64::MAX / 2);
        assert_eq!(s.at(15), -1, "halfway from MIN to MAX");
        for t in 0..40 {
            s.at(t);
        }
    }

    #[test]
    fn time_base_follows_clock_changes() {
        let mut tb = TimeBase::default();
        assert_eq!(tb.ns(16), 1_000, "16 MHz after reset");
        tb.update(16_000, 168_000_000);
        assert_eq!(tb.ns(16_000 + 168), 1_000_000 + 1_000);
    }
}
