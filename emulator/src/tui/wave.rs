//! Pin levels in virtual time: the history of every GPIO pin, what a waveform strip
//! shows of it, and the duty (LED brightness) over a window.

use std::collections::VecDeque;

/// Ports A..I.
pub const PORTS: usize = 9;

/// Changes kept per pin at most (oldest dropped first).
const MAX_CHANGES: usize = 200_000;

/// The levels of one pin: its level before the first kept change, then its changes.
#[derive(Debug, Clone, Default)]
struct Track {
    before: bool,
    changes: VecDeque<(u64, bool)>,
}

impl Track {
    fn last(&self) -> bool {
        self.changes.back().map(|c| c.1).unwrap_or(self.before)
    }
}

/// Levels of all GPIO pins over virtual time (ns).
#[derive(Debug, Clone)]
pub struct PinHistory {
    tracks: Vec<Track>,
}

/// One pin over a window of virtual time: its level at `from` and its changes after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub from: u64,
    pub to: u64,
    pub start: bool,
    pub changes: Vec<(u64, bool)>,
}

/// What one column of a waveform strip shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    Low,
    High,
    Rise,
    Fall,
    /// Several changes: the fraction of the column's time the pin was high.
    Busy(f64),
}

impl Default for PinHistory {
    fn default() -> Self {
        PinHistory::new()
    }
}

fn idx(port: u8, pin: u8) -> usize {
    (port as usize % PORTS) * 16 + (pin as usize & 15)
}

impl PinHistory {
    pub fn new() -> PinHistory {
        PinHistory {
            tracks: vec![Track::default(); PORTS * 16],
        }
    }

    /// The pin's level before anything was recorded.
    pub fn set_initial(&mut self, port: u8, pin: u8, level: bool) {
        let t = &mut self.tracks[idx(port, pin)];
        if t.changes.is_empty() {
            t.before = level;
        }
    }

    /// The pin is at `level` from `ns` on (nothing is recorded if it already was).
    /// Times must not go backwards; a change dated before the last is dated at it.
    pub fn record(&mut self, port: u8, pin: u8, ns: u64, level: bool) -> bool {
        let t = &mut self.tracks[idx(port, pin)];
        if t.last() == level {
            return false;
        }
        let ns = ns.max(t.changes.back().map(|c| c.0).unwrap_or(0));
        t.changes.push_back((ns, level));
        if t.changes.len() > MAX_CHANGES {
            if let Some((_, l)) = t.changes.pop_front() {
                t.before = l;
            }
        }
        true
    }

    /// Forgets changes before `ns` (keeping the level they left).
    pub fn prune(&mut self, ns: u64) {
        for t in &mut self.tracks {
            while let Some(&(at, l)) = t.changes.front() {
                if at >= ns {
                    break;
                }
                t.before = l;
                t.changes.pop_front();
            }
        }
    }

    pub fn level(&self, port: u8, pin: u8) -> bool {
        self.tracks[idx(port, pin)].last()
    }

    /// When the pin last changed.
    pub fn last_change(&self, port: u8, pin: u8) -> Option<u64> {
        self.tracks[idx(port, pin)].changes.back().map(|c| c.0)
    }

    /// The pin over `[from, to]`.
    pub fn wave(&self, port: u8, pin: u8, from: u64, to: u64) -> Wave {
        let t = &self.tracks[idx(port, pin)];
        // First change after `from`.
        let first = t.changes.partition_point(|c| c.0 <= from);
        let start = if first == 0 {
            t.before
        } else {
            t.changes[first - 1].1
        };
        let changes = t
            .changes
            .range(first..)
            .take_while(|c| c.0 <= to)
            .copied()
            .collect();
        Wave {
            from,
            to,
            start,
            changes,
        }
    }
}

impl Wave {
    /// A pin that stays at `level` over the window.
    pub fn constant(from: u64, to: u64, level: bool) -> Wave {
        Wave {
            from,
            to,
            start: level,
            changes: Vec::new(),
        }
    }

    /// Time high within `[a, b]`, and the number of changes inside.
    fn high_in(&self, a: u64, b: u64) -> (u64, usize) {
        let mut level = self.start;
        let mut t = a;
        let mut high = 0;
        let mut n = 0;
        for &(at, l) in &self.changes {
            if at <= a {
                level = l;
                continue;
            }
            if at > b {
                break;
            }
            if level {
                high += at - t;
            }
            t = at;
            level = l;
            n += 1;
        }
        if level {
            high += b - t;
        }
        (high, n)
    }

    fn level_at(&self, ns: u64) -> bool {
        self.changes
            .iter()
            .take_while(|c| c.0 <= ns)
            .last()
            .map(|c| c.1)
            .unwrap_or(self.start)
    }

    /// The strip in `n` columns, oldest first.
    pub fn cells(&self, n: usize) -> Vec<Cell> {
        let span = self.to.saturating_sub(self.from).max(1);
        (0..n as u64)
            .map(|k| {
                let a = self.from + span * k / n as u64;
                let b = (self.from + span * (k + 1) / n as u64).max(a + 1);
                let (high, changes) = self.high_in(a, b);
                match changes {
                    0 if self.level_at(a) => Cell::High,
                    0 => Cell::Low,
                    1 if self.level_at(b) => Cell::Rise,
                    1 => Cell::Fall,
                    _ => Cell::Busy(high as f64 / (b - a) as f64),
                }
            })
            .collect()
    }

    /// Brightness of an LED on this pin (lit at `active`): the fraction of the window
    /// it was lit when the pin toggles like PWM (at least 4 changes), else whether it is
    /// lit at the end.
    pub fn brightness(&self, active: bool) -> f64 {
        let span = self.to.saturating_sub(self.from);
        if self.changes.len() >= 4 && span > 0 {
            let (high, _) = self.high_in(self.from, self.to);
            let high = high as f64 / span as f64;
            if active {
                high
            } else {
                1.0 - high
            }
        } else if self.level_at(self.to) == active {
            1.0
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_changes_only() {
        let mut h = PinHistory::new();
        h.set_initial(0, 13, false);
        assert!(!h.record(0, 13, 10, false));
        assert!(h.record(0, 13, 20, true));
        assert!(h.record(0, 13, 30, false));
        assert_eq!(h.last_change(0, 13), Some(30));
        let w = h.wave(0, 13, 0, 100);
        assert_eq!(w.changes, [(20, true), (30, false)]);
        assert!(!w.start);
        let w = h.wave(0, 13, 25, 100);
        assert!(w.start);
        assert_eq!(w.changes, [(30, false)]);
        h.prune(25);
        let w = h.wave(0, 13, 0, 100);
        assert!(w.start);
        assert_eq!(w.changes, [(30, false)]);
    }

    #[test]
    fn cells_show_levels_edges_and_busy_columns() {
        let w = Wave {
            from: 0,
            to: 100,
            start: false,
            changes: vec![(25, true), (55, false), (61, true), (62, false), (63, true)],
        };
        let c = w.cells(10);
        assert_eq!(c[0], Cell::Low);
        assert_eq!(c[1], Cell::Low);
        assert_eq!(c[2], Cell::Rise);
        assert_eq!(c[3], Cell::High);
        assert_eq!(c[5], Cell::Fall);
        assert!(matches!(c[6], Cell::Busy(_)));
        assert_eq!(c[9], Cell::High);
    }

    #[test]
    fn brightness_from_pwm_duty() {
        // 25% duty, period 100.
        let mut changes = Vec::new();
        for p in 0..10u64 {
            changes.push((p * 100, true));
            changes.push((p * 100 + 25, false));
        }
        let w = Wave {
            from: 0,
            to: 1000,
            start: false,
            changes,
        };
        assert!((w.brightness(true) - 0.25).abs() < 0.01);
        assert!((w.brightness(false) - 0.75).abs() < 0.01);
        // A plain on/off pin: lit or not, by its level at the end.
        let w = Wave {
            from: 0,
            to: 1000,
            start: false,
            changes: vec![(900, true)],
        };
        assert_eq!(w.brightness(true), 1.0);
        assert_eq!(w.brightness(false), 0.0);
        assert_eq!(Wave::constant(0, 10, true).brightness(true), 1.0);
    }
}
