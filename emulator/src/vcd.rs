//! Value Change Dump of pin traces in virtual time.
//!
//! The machine records every GPIO output change as `(cycle, port, pin, level)`, in CPU
//! cycles since reset. The dump has a timescale of 1 ns; cycles become nanoseconds through
//! the clock history (`(cycle, SYSCLK Hz)` from the moment each clock took effect), rounded
//! down. Since one cycle at 168 MHz is not a whole number of nanoseconds, the dump also
//! carries the exact cycle count as a 64-bit integer variable `cycle` that changes at every
//! time stamp: read it for exact intervals.
//!
//! One wire per pin that changed during the run, named by the board: `X1_PA0` for a pin
//! with a board name, `LED1_red_PA13` for an LED, `PB3` otherwise. Wires start as `x`
//! (the dump does not know a pin's level before its first change).
//!
//! DAC outputs (when the run recorded any sample) are 12-bit vectors `DAC1_PA4` and
//! `DAC2_PA5`, changing at each output sample whose code differs from the last.
//!
//! Without a clock history ([`write`]) the dump assumes [`DEFAULT_HZ`] from cycle 0:
//! the time stamps of a run that boots on the 16 MHz HSI and then switches to the PLL are
//! then early by `switch_cycle * (1/16 MHz - 1/168 MHz)` (a constant offset; intervals after
//! the switch are exact to the nanosecond). [`write_with_clocks`] is exact.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One recorded GPIO output change: (cycle, port, pin, level).
pub type PinChange = (u64, u8, u8, bool);

/// SYSCLK assumed when no clock history is given.
pub const DEFAULT_HZ: u32 = 168_000_000;

/// Converts CPU cycles to nanoseconds through a clock history.
#[derive(Debug, Clone)]
pub struct ClockMap {
    /// (first cycle, nanoseconds at that cycle, Hz), by cycle.
    segs: Vec<(u64, u64, u32)>,
}

impl ClockMap {
    /// From `(cycle, Hz)` pairs: the clock runs at `Hz` from `cycle` on. The clock before
    /// the first pair is the first pair's (or [`DEFAULT_HZ`] when there is none).
    pub fn new(history: &[(u64, u32)]) -> ClockMap {
        let mut h: Vec<(u64, u32)> = history.iter().copied().filter(|c| c.1 > 0).collect();
        h.sort_by_key(|c| c.0);
        let first = h.first().map(|c| c.1).unwrap_or(DEFAULT_HZ);
        let mut segs = vec![(0u64, 0u64, first)];
        for (cycle, hz) in h {
            let ns = Self::at(&segs, cycle);
            let last = segs.last_mut().expect("one segment");
            if last.0 == cycle {
                last.2 = hz;
            } else if last.2 != hz {
                segs.push((cycle, ns, hz));
            }
        }
        ClockMap { segs }
    }

    fn at(segs: &[(u64, u64, u32)], cycle: u64) -> u64 {
        let i = segs.partition_point(|s| s.0 <= cycle).max(1) - 1;
        let (c0, ns0, hz) = segs[i];
        ns0 + ((cycle - c0) as u128 * 1_000_000_000 / hz as u128) as u64
    }

    /// Nanoseconds since reset at `cycle` (rounded down).
    pub fn ns(&self, cycle: u64) -> u64 {
        Self::at(&self.segs, cycle)
    }

    /// The clock at `cycle`, in Hz.
    pub fn hz(&self, cycle: u64) -> u32 {
        let i = self.segs.partition_point(|s| s.0 <= cycle).max(1) - 1;
        self.segs[i].2
    }
}

/// Writes the pin changes recorded by the machine, `(cycle, port, pin, level)`, as VCD,
/// assuming [`DEFAULT_HZ`] from reset (see the module documentation).
pub fn write(
    path: &Path,
    trace: &[(u64, u8, u8, bool)],
    board: &pybsim_boards::Board,
) -> anyhow::Result<()> {
    write_with_clocks(path, trace, &[], board)
}

/// Writes the pin changes as VCD, converting cycles to time through `clocks`
/// (`(cycle, Hz)` pairs, see [`ClockMap::new`]).
pub fn write_with_clocks(
    path: &Path,
    trace: &[(u64, u8, u8, bool)],
    clocks: &[(u64, u32)],
    board: &pybsim_boards::Board,
) -> anyhow::Result<()> {
    write_with_dac(path, trace, &[], clocks, board)
}

/// Writes the pin changes and the DAC output samples `(cycle, channel, code)` as VCD.
pub fn write_with_dac(
    path: &Path,
    trace: &[(u64, u8, u8, bool)],
    dac: &[(u64, u8, u16)],
    clocks: &[(u64, u32)],
    board: &pybsim_boards::Board,
) -> anyhow::Result<()> {
    let text = render_all(trace, dac, clocks, board);
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Writes DAC output samples as CSV: `cycle,time_ns,channel,code`, one line per sample
/// (every DOR load of an enabled channel), times through `clocks` as in the VCD.
pub fn write_dac_csv(
    path: &Path,
    dac: &[(u64, u8, u16)],
    clocks: &[(u64, u32)],
) -> anyhow::Result<()> {
    let map = ClockMap::new(clocks);
    let mut s = String::from("cycle,time_ns,channel,code\n");
    for &(cycle, ch, code) in dac {
        let _ = writeln!(s, "{cycle},{},{ch},{code}", map.ns(cycle));
    }
    std::fs::write(path, s).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The wire name of a CPU pin on `board`.
pub fn pin_name(board: &pybsim_boards::Board, port: u8, pin: u8) -> String {
    let cpu = format!("P{}{}", (b'A' + port) as char, pin);
    let is = |name: &str| {
        board
            .pin(name)
            .map(|p| p.port == port && p.pin == pin)
            .unwrap_or(false)
    };
    if let Some(led) = board.leds.iter().find(|l| is(&l.pin)) {
        let colour = format!("{:?}", led.colour).to_ascii_lowercase();
        return format!("{}_{}_{}", sanitize(&led.name), colour, cpu);
    }
    if let Some(a) = board.pins.iter().find(|a| is(&a.name)) {
        return format!("{}_{}", sanitize(&a.name), cpu);
    }
    cpu
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// VCD identifier code number `i` (printable ASCII 33..126, base 94).
fn ident(mut i: usize) -> String {
    let mut s = String::new();
    loop {
        s.push((33 + (i % 94) as u8) as char);
        i /= 94;
        if i == 0 {
            break;
        }
        i -= 1;
    }
    s
}

/// One entry of the merged trace: a pin level (port, pin, level) or a DAC sample
/// (channel, code).
#[derive(Clone, Copy)]
enum Change {
    Pin(u8, u8, bool),
    Dac(u8, u16),
}

/// The VCD text of a pin trace.
pub fn render(
    trace: &[(u64, u8, u8, bool)],
    clocks: &[(u64, u32)],
    board: &pybsim_boards::Board,
) -> String {
    render_all(trace, &[], clocks, board)
}

/// The VCD text of a pin trace and DAC output samples.
pub fn render_all(
    trace: &[(u64, u8, u8, bool)],
    dac: &[(u64, u8, u16)],
    clocks: &[(u64, u32)],
    board: &pybsim_boards::Board,
) -> String {
    let map = ClockMap::new(clocks);
    // Wires, by (port, pin).
    let mut pins: BTreeMap<(u8, u8), usize> = BTreeMap::new();
    for &(_, port, pin, _) in trace {
        let n = pins.len();
        pins.entry((port, pin)).or_insert(n);
    }
    // Number the wires in pin order, after the cycle counter (code 0).
    for (i, v) in pins.values_mut().enumerate() {
        *v = i + 1;
    }
    let mut s = String::new();
    s.push_str("$date\n  (virtual time)\n$end\n");
    s.push_str("$version\n  pybsim ");
    s.push_str(env!("CARGO_PKG_VERSION"));
    s.push_str("\n$end\n");
    let _ = writeln!(
        s,
        "$comment\n  {}: GPIO outputs in virtual time; `cycle` is the exact CPU cycle \
         count since reset\n$end",
        board.name
    );
    s.push_str("$timescale 1 ns $end\n");
    s.push_str("$scope module pyboard $end\n");
    let _ = writeln!(s, "$var integer 64 {} cycle $end", ident(0));
    for (&(port, pin), &id) in &pins {
        let _ = writeln!(
            s,
            "$var wire 1 {} {} $end",
            ident(id),
            pin_name(board, port, pin)
        );
    }
    // DAC channels after the pins.
    let mut dacs: BTreeMap<u8, usize> = BTreeMap::new();
    for &(_, ch, _) in dac {
        dacs.entry(ch).or_insert(0);
    }
    for (i, v) in dacs.values_mut().enumerate() {
        *v = pins.len() + 1 + i;
    }
    for (&ch, &id) in &dacs {
        let pin = if ch == 1 { "PA4" } else { "PA5" };
        let _ = writeln!(s, "$var wire 12 {} DAC{ch}_{pin} $end", ident(id));
    }
    s.push_str("$upscope $end\n$enddefinitions $end\n");
    s.push_str("#0\n$dumpvars\n");
    let _ = writeln!(s, "b0 {}", ident(0));
    for &id in pins.values() {
        let _ = writeln!(s, "x{}", ident(id));
    }
    for &id in dacs.values() {
        let _ = writeln!(s, "bx {}", ident(id));
    }
    s.push_str("$end\n");
    let mut level: BTreeMap<(u8, u8), bool> = BTreeMap::new();
    let mut last_time: Option<u64> = Some(0);
    let mut last_cycle = 0u64;
    // Pin changes and DAC samples merged in time (pins first at equal cycles).
    let mut sorted: Vec<(u64, usize, Change)> = trace
        .iter()
        .enumerate()
        .map(|(i, t)| (t.0, i, Change::Pin(t.1, t.2, t.3)))
        .collect();
    sorted.extend(
        dac.iter()
            .enumerate()
            .map(|(i, d)| (d.0, trace.len() + i, Change::Dac(d.1, d.2))),
    );
    sorted.sort_by_key(|e| (e.0, e.1));
    let mut codes: BTreeMap<u8, u16> = BTreeMap::new();
    for (cycle, _, change) in sorted {
        let (port, pin, lv) = match change {
            Change::Pin(port, pin, lv) => (port, pin, lv),
            Change::Dac(ch, code) => {
                if codes.get(&ch) == Some(&code) {
                    continue;
                }
                codes.insert(ch, code);
                let t = map.ns(cycle);
                if last_time != Some(t) {
                    let _ = writeln!(s, "#{t}");
                    last_time = Some(t);
                }
                if cycle != last_cycle {
                    let _ = writeln!(s, "b{cycle:b} {}", ident(0));
                    last_cycle = cycle;
                }
                let _ = writeln!(s, "b{code:012b} {}", ident(dacs[&ch]));
                continue;
            }
        };
        if level.get(&(port, pin)) == Some(&lv) {
            continue;
        }
        level.insert((port, pin), lv);
        let t = map.ns(cycle);
        if last_time != Some(t) {
            let _ = writeln!(s, "#{t}");
            last_time = Some(t);
        }
        if cycle != last_cycle {
            let _ = writeln!(s, "b{cycle:b} {}", ident(0));
            last_cycle = cycle;
        }
        let _ = writeln!(
            s,
            "{}{}",
            if lv { '1' } else { '0' },
            ident(pins[&(port, pin)])
        );
    }
    s
}
