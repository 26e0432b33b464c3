//! Pulse measurement from time-stamped level changes, shared by the parts that decode a
//! pin's edges (WS2812 data, servo pulses, 1-Wire time slots).

/// A stretch of one level that just ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pulse {
    /// The level the line held.
    pub level: bool,
    /// When it began (ns).
    pub start: u64,
    /// How long it lasted (ns).
    pub width: u64,
}

/// The level of a line and since when it holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeMeter {
    level: bool,
    /// When the current level began; `None` before the first edge (the stretch before it
    /// has no known start, so it is not reported as a pulse).
    since: Option<u64>,
}

impl EdgeMeter {
    /// A line resting at `level`, with no edge seen yet.
    pub fn new(level: bool) -> EdgeMeter {
        EdgeMeter { level, since: None }
    }

    pub fn level(&self) -> bool {
        self.level
    }

    /// When the current level began, if an edge has been seen.
    pub fn since(&self) -> Option<u64> {
        self.since
    }

    /// How long the current level has held at `now`, if an edge has been seen.
    pub fn held(&self, now: u64) -> Option<u64> {
        self.since.map(|s| now.saturating_sub(s))
    }

    /// The line is at `level` from `t` on. Returns the stretch that ended, when the level
    /// changed and the stretch's start is known; a repeated level is not an edge.
    pub fn edge(&mut self, t: u64, level: bool) -> Option<Pulse> {
        if level == self.level {
            return None;
        }
        let ended = self.since.map(|start| Pulse {
            level: self.level,
            start,
            width: t.saturating_sub(start),
        });
        self.level = level;
        self.since = Some(t);
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulses_are_measured_between_edges() {
        let mut m = EdgeMeter::new(false);
        assert_eq!(m.edge(100, false), None, "no change, no edge");
        assert_eq!(
            m.edge(100, true),
            None,
            "first edge: the low before has no start"
        );
        assert_eq!(m.held(150), Some(50));
        assert_eq!(
            m.edge(500, false),
            Some(Pulse {
                level: true,
                start: 100,
                width: 400
            })
        );
        assert_eq!(m.edge(500, false), None);
        assert_eq!(
            m.edge(1_350, true),
            Some(Pulse {
                level: false,
                start: 500,
                width: 850
            })
        );
        assert_eq!((m.level(), m.since()), (true, Some(1_350)));
    }
}
