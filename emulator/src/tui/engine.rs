//! The board under the terminal UI, without the terminal: it runs the session slice by
//! slice, keeps the console text and the pin history, drives the script through the
//! raw REPL and the switch, and paces the run to real time.
//!
//! Determinism: everything from the host (console bytes, the switch, resets) enters
//! between two [`Session::step`] calls, and what this module reads between slices (pin
//! trace, GPIO registers, virtual time) does not change the run. Pacing only decides
//! when the next slice runs, never what it computes: the same inputs at the same slice
//! boundaries give the same run at any speed ([`run_headless`] shows it).

use std::time::{Duration, Instant};

use pybsim_boards::{Colour, Level};
use pybsim_peripherals::gpio::{Gpio, Mode};

use super::console::ConsoleBuf;
use super::wave::{PinHistory, Wave, PORTS};
use crate::session::raw_repl::{Phase, RawRepl, ScriptEnd};
use crate::session::{Outcome, Session};
use crate::soc::PinTrace;

/// How long a "click" of the switch holds it down, in virtual ns.
pub const CLICK_NS: u64 = 100_000_000;

/// Pin history kept, in virtual ns (the widest waveform window and then some).
const HISTORY_NS: u64 = 30_000_000_000;

/// Window over which LED brightness (PWM duty) is estimated, in virtual ns.
pub const DUTY_WINDOW_NS: u64 = 40_000_000;

const PORT_NAMES: [&str; PORTS] = [
    "GPIOA", "GPIOB", "GPIOC", "GPIOD", "GPIOE", "GPIOF", "GPIOG", "GPIOH", "GPIOI",
];

/// How fast virtual time goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// As fast as the host can.
    Max,
    /// A tenth of real time.
    Tenth,
    /// Real time.
    Real,
    /// Ten times real time.
    Ten,
}

impl Speed {
    /// Virtual ns per real ns; `None` for as fast as possible.
    pub fn factor(self) -> Option<f64> {
        match self {
            Speed::Max => None,
            Speed::Tenth => Some(0.1),
            Speed::Real => Some(1.0),
            Speed::Ten => Some(10.0),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Speed::Max => "max",
            Speed::Tenth => "0.1x",
            Speed::Real => "1x",
            Speed::Ten => "10x",
        }
    }

    /// The next speed in the cycle max → 0.1x → 1x → 10x → max.
    pub fn next(self) -> Speed {
        match self {
            Speed::Max => Speed::Tenth,
            Speed::Tenth => Speed::Real,
            Speed::Real => Speed::Ten,
            Speed::Ten => Speed::Max,
        }
    }

    pub fn prev(self) -> Speed {
        match self {
            Speed::Max => Speed::Ten,
            Speed::Tenth => Speed::Max,
            Speed::Real => Speed::Tenth,
            Speed::Ten => Speed::Real,
        }
    }

    /// "max", "0.1", "1", "10" (with or without a trailing x).
    pub fn parse(s: &str) -> Option<Speed> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("max") || s.eq_ignore_ascii_case("fast") {
            return Some(Speed::Max);
        }
        match s.trim_end_matches(['x', 'X']) {
            "0" => Some(Speed::Max),
            "0.1" | ".1" => Some(Speed::Tenth),
            "1" => Some(Speed::Real),
            "10" => Some(Speed::Ten),
            _ => None,
        }
    }
}

/// Ties virtual time to real time.
#[derive(Debug, Clone)]
pub struct Pacer {
    pub speed: Speed,
    anchor: Option<(Instant, u64)>,
}

impl Pacer {
    pub fn new(speed: Speed) -> Pacer {
        Pacer {
            speed,
            anchor: None,
        }
    }

    pub fn set_speed(&mut self, speed: Speed) {
        self.speed = speed;
        self.anchor = None;
    }

    /// Forgets the anchor (after a pause): pacing restarts from where the board is.
    pub fn reanchor(&mut self) {
        self.anchor = None;
    }

    /// Virtual time the board should have reached at `now`; `None` when unpaced.
    pub fn target(&mut self, now: Instant, ns: u64) -> Option<u64> {
        let f = self.speed.factor()?;
        let (t0, ns0) = *self.anchor.get_or_insert((now, ns));
        let wall = now.saturating_duration_since(t0).as_nanos() as f64;
        Some(ns0.saturating_add((wall * f) as u64))
    }

    /// The board cannot keep up: pace from here on.
    fn fell_behind(&mut self, now: Instant, ns: u64) {
        self.anchor = Some((now, ns));
    }

    /// Real time until the board is due to run again (zero when unpaced or behind).
    pub fn wait(&mut self, now: Instant, ns: u64) -> Duration {
        let Some(f) = self.speed.factor() else {
            return Duration::ZERO;
        };
        match self.target(now, ns) {
            Some(t) if t < ns => Duration::from_nanos(((ns - t) as f64 / f) as u64),
            _ => Duration::ZERO,
        }
    }
}

/// Whether the board runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    Running,
    Paused,
    /// Running as fast as possible until this virtual time, then paused.
    Stepping(u64),
    /// The run cannot go on (fault, budget, semihosting exit, halted).
    Stopped(Outcome),
}

/// The board, its console, its pins' history and the script.
pub struct Engine<'s> {
    pub session: &'s mut Session,
    pub console: ConsoleBuf,
    pub history: PinHistory,
    pub state: RunState,
    driver: Option<RawRepl>,
    transcript: Option<Vec<u8>>,
    /// Virtual time and cycle count at the last slice boundary.
    ns: u64,
    cycles: u64,
    /// The pins' output changes, recorded for the waveforms.
    trace: PinTrace,
    /// The switch: (port, pin, level while pressed), and whether it is held down.
    switch: Option<(u8, u8, bool)>,
    pressed: bool,
    release_at: Option<u64>,
    /// Slices run (for speed figures).
    pub slices: u64,
    /// [`Engine::advance`] returns at the slice boundary where the script ended.
    pub stop_at_script_end: bool,
}

/// What the status line needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub ns: u64,
    pub cycles: u64,
    pub sysclk: u32,
}

impl<'s> Engine<'s> {
    /// Takes over a session: turns on its pin trace and samples the pins.
    pub fn new(session: &'s mut Session, script: Option<&[u8]>) -> Engine<'s> {
        let trace = session.machine.trace_pins();
        let switch = session.board.switch.as_ref().and_then(|sw| {
            let p = session.board.pin(&sw.pin)?;
            Some((p.port, p.pin, sw.active == Level::High))
        });
        let ns = session.virtual_ns();
        let cycles = session.machine.now();
        let mut e = Engine {
            session,
            console: ConsoleBuf::new(10_000),
            history: PinHistory::new(),
            state: RunState::Running,
            driver: script.map(|s| RawRepl::new(s, true)),
            transcript: None,
            ns,
            cycles,
            trace,
            switch,
            pressed: false,
            release_at: None,
            slices: 0,
            stop_at_script_end: false,
        };
        for (port, idr) in e.idrs() {
            for pin in 0..16 {
                e.history.set_initial(port, pin, idr & (1 << pin) != 0);
            }
        }
        e
    }

    /// Keeps every byte the board writes to its console (for tests).
    pub fn keep_transcript(&mut self) {
        self.transcript.get_or_insert_with(Vec::new);
    }

    pub fn transcript(&self) -> &[u8] {
        self.transcript.as_deref().unwrap_or(&[])
    }

    pub fn clock(&self) -> Clock {
        Clock {
            ns: self.ns,
            cycles: self.cycles,
            sysclk: self.session.machine.sysclk(),
        }
    }

    pub fn has_script(&self) -> bool {
        self.driver.is_some()
    }

    pub fn script_phase(&self) -> Option<Phase> {
        self.driver.as_ref().map(RawRepl::phase)
    }

    pub fn script_end(&self) -> Option<ScriptEnd> {
        self.driver.as_ref().and_then(RawRepl::end)
    }

    pub fn switch_pressed(&self) -> bool {
        self.pressed
    }

    pub fn has_switch(&self) -> bool {
        self.switch.is_some()
    }

    /// Host bytes for the board's console (they enter before the next slice).
    pub fn send(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.session.console_input(bytes);
        }
    }

    /// Presses (`true`) or releases the switch.
    pub fn set_switch(&mut self, pressed: bool) {
        self.release_at = None;
        let Some((port, pin, active)) = self.switch else {
            return;
        };
        self.pressed = pressed;
        let level = pressed.then_some(active);
        self.session.machine.drive_pin(port, pin, level);
        self.sample_pins();
    }

    /// Presses the switch for [`CLICK_NS`] of virtual time.
    pub fn click_switch(&mut self) {
        self.set_switch(true);
        self.release_at = Some(self.ns + CLICK_NS);
    }

    /// Resets the board (as the RST button does): the script, if any, runs again.
    pub fn reset(&mut self) {
        self.session.machine.reset();
        let _ = self.session.take_output();
        if let Some(d) = &mut self.driver {
            d.restart();
        }
        self.console.note("[pybsim: board reset]");
        if matches!(self.state, RunState::Stopped(_)) {
            self.state = RunState::Running;
        }
        // The switch is a button on the board: it stays as the user holds it.
        self.sample_pins();
    }

    /// Runs one slice; returns the outcome if the run cannot go on.
    pub fn slice(&mut self) -> Option<Outcome> {
        if let Some(t) = self.release_at {
            if self.ns >= t {
                self.set_switch(false);
            }
        }
        let (c0, ns0) = (self.cycles, self.ns);
        let outcome = self.session.step();
        self.slices += 1;
        self.ns = self.session.virtual_ns();
        self.cycles = self.session.machine.now();
        self.take_trace(c0, ns0);
        self.sample_pins();
        if self.slices.is_multiple_of(1024) {
            self.history.prune(self.ns.saturating_sub(HISTORY_NS));
        }
        let out = self.session.take_output();
        if let Some(t) = &mut self.transcript {
            t.extend_from_slice(&out);
        }
        match &mut self.driver {
            Some(d) => {
                let f = d.feed(&out);
                self.console.feed(&f.show);
                if !f.send.is_empty() {
                    self.session.console_input(&f.send);
                }
            }
            None => self.console.feed(&out),
        }
        if let Some(o) = &outcome {
            let note = match o {
                Outcome::Fault(r) => self.session.describe_fault(r),
                Outcome::Budget => "budget exceeded".to_string(),
                Outcome::Exit(c) => format!("the firmware exited with status {c}"),
                Outcome::Halted => {
                    "the CPU sleeps with nothing left that could wake it: halted".to_string()
                }
                Outcome::WatchdogReset(k) => format!("watchdog reset ({k:?}) during the script"),
                Outcome::Done | Outcome::Exception => String::new(),
            };
            for line in note.lines() {
                self.console.note(&format!("[pybsim: {line}]"));
            }
            self.state = RunState::Stopped(o.clone());
        }
        outcome
    }

    /// Runs slices while the state says so, the pacer allows and `budget` of real time
    /// lasts. Returns the number of slices run.
    pub fn advance(&mut self, pacer: &mut Pacer, budget: Duration) -> u64 {
        let start = Instant::now();
        let mut n = 0;
        loop {
            match self.state {
                RunState::Running => {
                    if let Some(t) = pacer.target(Instant::now(), self.ns) {
                        if self.ns >= t {
                            return n;
                        }
                    }
                }
                RunState::Stepping(until) => {
                    if self.ns >= until {
                        self.state = RunState::Paused;
                        return n;
                    }
                }
                RunState::Paused | RunState::Stopped(_) => return n,
            }
            let ended = self.script_end().is_some();
            self.slice();
            n += 1;
            if self.stop_at_script_end && !ended && self.script_end().is_some() {
                return n;
            }
            if start.elapsed() >= budget {
                if self.state == RunState::Running {
                    let now = Instant::now();
                    if let Some(t) = pacer.target(now, self.ns) {
                        // More than a budget's worth behind: stop owing the time.
                        let f = pacer.speed.factor().unwrap_or(1.0);
                        if t > self.ns + (budget.as_nanos() as f64 * f) as u64 {
                            pacer.fell_behind(now, self.ns);
                        }
                    }
                }
                return n;
            }
        }
    }

    /// Pin levels of every port, as read through IDR.
    fn idrs(&self) -> Vec<(u8, u16)> {
        let m = &self.session.machine;
        PORT_NAMES
            .iter()
            .enumerate()
            .filter_map(|(i, n)| m.with_device::<Gpio, _>(n, |g| (i as u8, g.idr())))
            .collect()
    }

    /// Mode and AF number of a pin; `None` when its port is not there.
    pub fn pin_mode(&self, port: u8, pin: u8) -> Option<(Mode, u8)> {
        let name = PORT_NAMES.get(port as usize)?;
        self.session
            .machine
            .with_device::<Gpio, _>(name, |g| (g.pin_mode(pin), g.af(pin)))
    }

    /// The MCU drives the pin (output, or AF with a driven level).
    pub fn driven(&self, port: u8, pin: u8) -> bool {
        let Some(name) = PORT_NAMES.get(port as usize) else {
            return false;
        };
        self.session
            .machine
            .with_device::<Gpio, _>(name, |g| g.output_level(pin))
            .flatten()
            .is_some()
    }

    /// The pins' outputs since the last slice, into the history, at their times.
    fn take_trace(&mut self, c0: u64, ns0: u64) {
        let events = self.trace.take();
        let (c1, ns1) = (self.cycles, self.ns);
        for (c, port, pin, level) in events {
            let ns = if c1 > c0 {
                let k = c.clamp(c0, c1) - c0;
                ns0 + (ns1.saturating_sub(ns0) as u128 * k as u128 / (c1 - c0) as u128) as u64
            } else {
                ns1
            };
            self.history.record(port, pin, ns, level);
        }
    }

    /// Input levels (not in the trace) as of now.
    fn sample_pins(&mut self) {
        let ns = self.ns;
        for (port, idr) in self.idrs() {
            for pin in 0..16 {
                self.history.record(port, pin, ns, idr & (1 << pin) != 0);
            }
        }
    }

    /// Virtual time now (as of the last slice boundary).
    pub fn ns(&self) -> u64 {
        self.ns
    }

    /// A pin over the last `window` ns.
    pub fn wave(&self, port: u8, pin: u8, window: u64) -> Wave {
        self.history
            .wave(port, pin, self.ns.saturating_sub(window), self.ns)
    }

    /// The board's LEDs: name, colour, brightness (0..1).
    pub fn leds(&self) -> Vec<(String, Colour, f64)> {
        self.session
            .board
            .leds
            .iter()
            .map(|l| {
                // An LED lights only while the MCU drives its pin (a pull-up on an
                // input does not light it).
                let b = match self.session.board.pin(&l.pin) {
                    Some(p) if self.driven(p.port, p.pin) => self
                        .wave(p.port, p.pin, DUTY_WINDOW_NS)
                        .brightness(l.active == Level::High),
                    _ => 0.0,
                };
                (l.name.clone(), l.colour, b)
            })
            .collect()
    }
}

/// What a headless run produced.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse_and_cycle() {
        assert_eq!(Speed::parse("max"), Some(Speed::Max));
        assert_eq!(Speed::parse("MAX"), Some(Speed::Max));
        assert_eq!(Speed::parse("0.1x"), Some(Speed::Tenth));
        assert_eq!(Speed::parse("1"), Some(Speed::Real));
        assert_eq!(Speed::parse("10X"), Some(Speed::Ten));
        assert_eq!(Speed::parse("2"), None);
        let mut s = Speed::Max;
        for _ in 0..4 {
            assert_eq!(s.next().prev(), s);
            s = s.next();
        }
        assert_eq!(s, Speed::Max);
    }

    #[test]
    fn pacer_targets_follow_real_time_by_the_factor() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Speed::Ten);
        assert_eq!(p.target(t0, 1_000), Some(1_000));
        assert_eq!(p.target(t0 + Duration::from_millis(1), 0), Some(10_001_000));
        // Ahead of the target: wait the virtual lead divided by the factor.
        assert_eq!(p.wait(t0, 10_001_000), Duration::from_millis(1));
        p.set_speed(Speed::Max);
        assert_eq!(p.target(t0, 5), None);
        assert_eq!(p.wait(t0, 5), Duration::ZERO);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadlessRun {
    /// Every byte the board wrote to its console.
    pub transcript: Vec<u8>,
    /// Cycle count and virtual time when the script ended (or the run stopped).
    pub cycles: u64,
    pub ns: u64,
    pub end: Option<ScriptEnd>,
    pub outcome: Option<Outcome>,
    /// The console pane's text at the end.
    pub console: Vec<String>,
}

/// Runs a script the way the terminal UI does, at `speed`, without a terminal, until
/// it ends, the run stops or `max_ns` of virtual time passes.
pub fn run_headless(
    session: &mut Session,
    script: &[u8],
    speed: Speed,
    max_ns: u64,
) -> HeadlessRun {
    let mut e = Engine::new(session, Some(script));
    e.keep_transcript();
    e.stop_at_script_end = true;
    let mut pacer = Pacer::new(speed);
    while e.script_end().is_none() && matches!(e.state, RunState::Running) && e.ns < max_ns {
        e.advance(&mut pacer, Duration::from_millis(20));
        let wait = pacer.wait(Instant::now(), e.ns);
        if e.script_end().is_none() && !wait.is_zero() {
            std::thread::sleep(wait.min(Duration::from_millis(5)));
        }
        // Stop at the slice boundary where the script ended, whatever the speed.
        if e.script_end().is_some() {
            break;
        }
    }
    HeadlessRun {
        transcript: e.transcript().to_vec(),
        cycles: e.cycles,
        ns: e.ns,
        end: e.script_end(),
        outcome: match &e.state {
            RunState::Stopped(o) => Some(o.clone()),
            _ => None,
        },
        console: e.console.tail(usize::MAX, 0),
    }
}
