//! Value Change Dump of pin traces and DAC outputs in virtual time.
//!
//! The machine records every GPIO output change as `(cycle, port, pin, level)`, in CPU
//! cycles since reset. The dump has a timescale of 1 ns; cycles become nanoseconds through
//! the clock history (`(cycle, SYSCLK Hz)` from the moment each clock took effect), rounded
//! down. One cycle at 168 MHz is 125/21 ns, not a whole number of nanoseconds, but the
//! rounding loses nothing: within a stretch of constant clock that starts at cycle `c0`
//! (time `t0`), the cycle of a time stamp `t` is `c0 + ceil((t - t0) * Hz / 1e9)`
//! ([`ClockMap::cycle`]), and the dump's `$comment` lists the stretches.
//!
//! The last time stamp is the end of the recording (the end of the run, or 1 ns after
//! the last change when the writer is not told).
//!
//! One wire per pin that changed during the run, named by the board: `X1_PA0` for a pin
//! with a board name, `LED1_red_PA13` for an LED, `PB3` otherwise. Wires start as `x`
//! (the dump does not know a pin's level before its first change).
//!
//! DAC outputs (when the run recorded any sample) change at each output sample whose code
//! differs from the last. By default each channel is twelve 1-bit wires `DAC1_PA4[11]` ...
//! `DAC1_PA4[0]` (GTKWave coalesces them into a bus), because libsigrok 0.5 (sigrok-cli
//! 0.7, PulseView 0.4) reads 1-bit wires only and stops at the first vector value. With
//! [`VcdOptions::vectors`] they are 12-bit vectors `DAC1_PA4` and `DAC2_PA5`, and the
//! exact cycle count is there too as a 64-bit integer `cycle` that changes at every time
//! stamp: for GTKWave, Surfer (wellen), pyvcd and vcdvcd, not for sigrok.
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

/// Converts CPU cycles to nanoseconds through a clock history, and back.
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

    /// The stretches of constant clock: (first cycle, nanoseconds then, Hz).
    pub fn segments(&self) -> &[(u64, u64, u32)] {
        &self.segs
    }

    /// The first cycle whose time ([`ClockMap::ns`]) is at or after `ns`: the inverse of
    /// [`ClockMap::ns`] on its values (a clock below 1 GHz gives each cycle its own
    /// nanosecond), and the cycle a time stamp of the dump stands for.
    pub fn cycle(&self, ns: u64) -> u64 {
        let i = self.segs.partition_point(|s| s.1 <= ns).max(1) - 1;
        let (c0, ns0, hz) = self.segs[i];
        let d = ((ns - ns0) as u128 * hz as u128).div_ceil(1_000_000_000) as u64;
        let c = c0 + d;
        // A time past the end of this stretch belongs to the next one.
        match self.segs.get(i + 1) {
            Some(&(c1, _, _)) => c.min(c1),
            None => c,
        }
    }
}

/// What a dump holds besides the 1-bit wires (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VcdOptions {
    /// The exact cycle count as a 64-bit integer `cycle`, and the DAC outputs as 12-bit
    /// vectors instead of twelve wires each. Not readable by libsigrok 0.5.
    pub vectors: bool,
    /// The cycle the recording ended at (the end of the run): the dump's last time
    /// stamp. Without it the last time stamp is 1 ns after the last change. (A reader
    /// such as libsigrok takes the last time stamp as the end of the capture and drops
    /// changes made at it.)
    pub end: Option<u64>,
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
    write_with(path, trace, dac, clocks, board, VcdOptions::default())
}

/// Writes the pin changes and the DAC output samples as VCD, with `opts`.
pub fn write_with(
    path: &Path,
    trace: &[(u64, u8, u8, bool)],
    dac: &[(u64, u8, u16)],
    clocks: &[(u64, u32)],
    board: &pybsim_boards::Board,
    opts: VcdOptions,
) -> anyhow::Result<()> {
    let text = render_with(trace, dac, clocks, board, opts);
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
    render_with(trace, dac, clocks, board, VcdOptions::default())
}

/// The output pin of DAC channel `ch`.
fn dac_pin(ch: u8) -> &'static str {
    if ch == 1 {
        "PA4"
    } else {
        "PA5"
    }
}

/// The VCD text of a pin trace and DAC output samples, with `opts`.
pub fn render_with(
    trace: &[(u64, u8, u8, bool)],
    dac: &[(u64, u8, u16)],
    clocks: &[(u64, u32)],
    board: &pybsim_boards::Board,
    opts: VcdOptions,
) -> String {
    let map = ClockMap::new(clocks);
    let mut next_id = 0usize;
    let mut new_id = || {
        next_id += 1;
        next_id - 1
    };
    // The cycle counter first (code 0), then the wires in pin order, then the DAC.
    let cycle_id = opts.vectors.then(&mut new_id);
    let mut pins: BTreeMap<(u8, u8), usize> = BTreeMap::new();
    for &(_, port, pin, _) in trace {
        pins.entry((port, pin)).or_insert(0);
    }
    for v in pins.values_mut() {
        *v = new_id();
    }
    // DAC channels: one vector id, or twelve wire ids (bit 11 first).
    let mut dacs: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    for &(_, ch, _) in dac {
        dacs.entry(ch).or_default();
    }
    for ids in dacs.values_mut() {
        let n = if opts.vectors { 1 } else { 12 };
        *ids = (0..n).map(|_| new_id()).collect();
    }

    let mut s = String::new();
    s.push_str("$date\n  (virtual time)\n$end\n");
    s.push_str("$version\n  pybsim ");
    s.push_str(env!("CARGO_PKG_VERSION"));
    s.push_str("\n$end\n");
    let _ = writeln!(
        s,
        "$comment\n  {}: GPIO outputs{} in virtual time.",
        board.name,
        if dacs.is_empty() {
            ""
        } else {
            " and DAC codes"
        }
    );
    s.push_str(
        "  A time stamp t (ns) is CPU cycle c0 + ceil((t - t0) * Hz / 1e9) of the stretch\n  \
         of constant clock it falls in (from cycle c0, t0 ns):\n",
    );
    for &(c0, t0, hz) in map.segments() {
        let _ = writeln!(s, "  clock from cycle {c0} (t0 {t0} ns) at {hz} Hz");
    }
    if opts.vectors {
        s.push_str("  `cycle` is the exact CPU cycle count since reset.\n");
    }
    s.push_str("$end\n");
    s.push_str("$timescale 1 ns $end\n");
    s.push_str("$scope module pyboard $end\n");
    if let Some(id) = cycle_id {
        let _ = writeln!(s, "$var integer 64 {} cycle $end", ident(id));
    }
    for (&(port, pin), &id) in &pins {
        let _ = writeln!(
            s,
            "$var wire 1 {} {} $end",
            ident(id),
            pin_name(board, port, pin)
        );
    }
    for (&ch, ids) in &dacs {
        let pin = dac_pin(ch);
        if opts.vectors {
            let _ = writeln!(s, "$var wire 12 {} DAC{ch}_{pin} $end", ident(ids[0]));
        } else {
            for (i, &id) in ids.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "$var wire 1 {} DAC{ch}_{pin}[{}] $end",
                    ident(id),
                    11 - i
                );
            }
        }
    }
    s.push_str("$upscope $end\n$enddefinitions $end\n");
    s.push_str("#0\n$dumpvars\n");
    if let Some(id) = cycle_id {
        let _ = writeln!(s, "b0 {}", ident(id));
    }
    for &id in pins.values() {
        let _ = writeln!(s, "x{}", ident(id));
    }
    for ids in dacs.values() {
        if opts.vectors {
            let _ = writeln!(s, "bx {}", ident(ids[0]));
        } else {
            for &id in ids {
                let _ = writeln!(s, "x{}", ident(id));
            }
        }
    }
    s.push_str("$end\n");

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
    let mut level: BTreeMap<(u8, u8), bool> = BTreeMap::new();
    let mut codes: BTreeMap<u8, u16> = BTreeMap::new();
    let mut last_time: Option<u64> = Some(0);
    let mut last_cycle = 0u64;
    for (cycle, _, change) in sorted {
        // What changes: skip repeats of the level or code already shown.
        match change {
            Change::Pin(port, pin, lv) => {
                if level.insert((port, pin), lv) == Some(lv) {
                    continue;
                }
            }
            Change::Dac(ch, code) => {
                if codes.get(&ch) == Some(&code) {
                    continue;
                }
            }
        }
        let t = map.ns(cycle);
        if last_time != Some(t) {
            let _ = writeln!(s, "#{t}");
            last_time = Some(t);
        }
        if let Some(id) = cycle_id {
            if cycle != last_cycle {
                let _ = writeln!(s, "b{cycle:b} {}", ident(id));
                last_cycle = cycle;
            }
        }
        match change {
            Change::Pin(port, pin, lv) => {
                let _ = writeln!(
                    s,
                    "{}{}",
                    if lv { '1' } else { '0' },
                    ident(pins[&(port, pin)])
                );
            }
            Change::Dac(ch, code) => {
                let old = codes.insert(ch, code);
                let ids = &dacs[&ch];
                if opts.vectors {
                    let _ = writeln!(s, "b{code:012b} {}", ident(ids[0]));
                } else {
                    for (i, &id) in ids.iter().enumerate() {
                        let bit = 11 - i;
                        let v = (code >> bit) & 1;
                        if old.map(|o| (o >> bit) & 1) != Some(v) {
                            let _ = writeln!(s, "{v}{}", ident(id));
                        }
                    }
                }
            }
        }
    }
    // The end of the recording, after the last change.
    let last = last_time.unwrap_or(0);
    let end = match opts.end {
        Some(c) => map.ns(c).max(last + 1),
        None => last + 1,
    };
    let _ = writeln!(s, "#{end}");
    if let (Some(id), Some(c)) = (cycle_id, opts.end) {
        if c != last_cycle {
            let _ = writeln!(s, "b{c:b} {}", ident(id));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> pybsim_boards::Board {
        pybsim_boards::Board::builtin("pybv11").expect("built-in board")
    }

    #[test]
    fn every_cycle_is_recovered_from_its_time_stamp() {
        // Boot on the HSI, switch to 168 MHz, then to 48 MHz.
        let map = ClockMap::new(&[
            (0, 16_000_000),
            (1_000_003, 168_000_000),
            (5_000_000, 48_000_000),
        ]);
        for c in (0..2_000_000)
            .chain(4_999_000..5_001_000)
            .chain([u64::from(u32::MAX) * 7])
        {
            assert_eq!(map.cycle(map.ns(c)), c, "cycle {c}");
        }
        // Time stamps between two cycles' times belong to the later cycle.
        assert_eq!(map.cycle(map.ns(1_000_010) + 1), 1_000_011);
        assert_eq!(map.segments().len(), 3);
    }

    fn lines_of(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn the_default_dump_has_only_one_bit_wires() {
        let trace = [(1000, 0, 0, true), (2000, 0, 0, false), (2000, 0, 13, true)];
        let dac = [(1500, 1, 0x0A5), (1600, 1, 0x0A5), (3000, 1, 0xFA0)];
        let v = render_with(
            &trace,
            &dac,
            &[(0, 168_000_000)],
            &board(),
            VcdOptions::default(),
        );
        assert!(!v.lines().any(|l| l.starts_with('b')), "{v}");
        assert!(!v.contains("cycle $end"), "{v}");
        let vars: Vec<&str> = v.lines().filter(|l| l.starts_with("$var")).collect();
        assert_eq!(vars.len(), 2 + 12, "{v}");
        assert!(vars.iter().all(|l| l.starts_with("$var wire 1 ")), "{v}");
        assert!(v.contains(" DAC1_PA4[11] $end") && v.contains(" DAC1_PA4[0] $end"));
        // 0x0A5 = 0000 1010 0101: at 1500 cycles (8928 ns) every bit is set from x.
        let body = &v[v.find("#8928\n").expect("DAC time stamp")..];
        let first: Vec<&str> = lines_of(body)[1..13].to_vec();
        let bits: String = first.iter().map(|l| &l[..1]).collect();
        assert_eq!(bits, "000010100101", "{body}");
        // The repeat at 1600 cycles is left out; at 3000 only the bits that change.
        assert!(!v.contains("#9523\n"), "{v}");
        let last = &v[v.find("#17857\n").expect("second DAC change")..];
        // Then the end of the recording, 1 ns later.
        assert_eq!(
            lines_of(last).len(),
            2 + (0x0A5u16 ^ 0xFA0).count_ones() as usize
        );
        assert!(v.ends_with("#17858\n"), "{v}");
        // Pin changes at cycles 1000 and 2000 (5952 and 11904 ns).
        assert!(v.contains("#5952\n1"), "{v}");
        assert!(v.contains("#11904\n0"), "{v}");
    }

    #[test]
    fn vectors_bring_the_cycle_counter_and_dac_vectors() {
        let trace = [(1000, 0, 0, true)];
        let dac = [(1500, 2, 0x123)];
        let v = render_with(
            &trace,
            &dac,
            &[],
            &board(),
            VcdOptions {
                vectors: true,
                end: Some(2000),
            },
        );
        assert!(v.contains("$var integer 64 ! cycle $end"), "{v}");
        assert!(v.contains("$var wire 12 # DAC2_PA5 $end"), "{v}");
        assert!(v.contains("#5952\nb1111101000 !\n1\"\n"), "{v}");
        assert!(
            v.contains("#8928\nb10111011100 !\nb000100100011 #\n"),
            "{v}"
        );
        // The end of the run, with the counter there.
        assert!(v.ends_with("#11904\nb11111010000 !\n"), "{v}");
    }

    #[test]
    fn the_comment_lists_the_clock_stretches() {
        let v = render_with(
            &[(10, 1, 4, true)],
            &[],
            &[(0, 16_000_000), (800, 168_000_000)],
            &board(),
            VcdOptions::default(),
        );
        assert!(
            v.contains("clock from cycle 0 (t0 0 ns) at 16000000 Hz"),
            "{v}"
        );
        assert!(
            v.contains("clock from cycle 800 (t0 50000 ns) at 168000000 Hz"),
            "{v}"
        );
    }
}
