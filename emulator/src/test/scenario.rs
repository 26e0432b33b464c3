//! Scenario steps of a `pybsim test`: what firmware CI checks beyond the transcript, in
//! the manner of wokwi-cli's `--expect-text`/`--fail-text` and scenario steps and of
//! Renode's Robot keywords (wait for a line on a UART, write to it, LED testers).
//!
//! A test's scenario comes from a RON file (`scenario FILE` option) and from header
//! lines (`# pybsim: step STEP`, `# pybsim: expect-text TEXT`, `# pybsim: fail-text
//! TEXT`); file steps come first. Steps run one after another on the board's virtual
//! clock, from the moment the script starts (the raw REPL's "OK"):
//!
//! ```ron
//! Scenario(
//!     expect_text: ["done"],          // the console output must hold it by the end
//!     fail_text: ["Traceback"],       // fails the test the moment it appears
//!     steps: [
//!         WaitLine(text: "ready", timeout: "1s"),          // a console line holding "ready"
//!         WaitLine(text: "pong", uart: 2, timeout: "50ms"), // a line U(S)ART 2 sent
//!         Send(data: "ping\r\n"),                          // console input; `uart: 2` for a UART
//!         Delay("10ms"),
//!         PressSwitch, Delay("50ms"), ReleaseSwitch,
//!         SetPin(pin: "X1", level: High), ReleasePin(pin: "X1"),
//!         ExpectPin(pin: "LED1", level: On),               // now
//!         ExpectPin(pin: "X2", level: Low, at: "150ms"),   // at 150 ms of script time
//!         ExpectPin(pin: "LED2", level: On, within: "20ms"),// reached within 20 ms
//!         ExpectPin(pin: "LED2", level: On, hold: "100ms"), // and held for 100 ms
//!         ExpectToggles(pin: "LED3", count: 10, during: "1s", tolerance: 1),
//!         ExpectFrequency(pin: "X3", hz: 1000.0, duty: 25.0, during: "20ms",
//!                         tolerance: "2%"),
//!     ],
//! )
//! ```
//!
//! Times: each step starts when the one before ended. `WaitLine` ends when its line
//! came (the line's last byte left the board), `ExpectPin ... within` when the level was
//! reached, `Delay`, `hold` and `during` after their span, `ExpectPin ... at` at its
//! instant of script time, inputs when they enter. A line counts for a `WaitLine` only
//! once: two `WaitLine` for the same text need two lines. Inputs (`Send`, switch, pins)
//! enter at their step's time exactly when that time is known in advance (after a
//! `Delay`, an `at`, a `hold` or a `during`); after a wait they enter at the next slice
//! boundary (the driver learns of the line there: at most 100 000 cycles later).
//!
//! Pins are board names (`X1`, `Y12`), CPU names (`A0`, `PB3`) or LED names (`LED1`);
//! levels are `High`/`Low`, and for LEDs also `On`/`Off` (through the LED's active
//! level). A pin's level is what the MCU drives on it (the machine's pin observers);
//! before it first drives the pin, the level is unknown and no expectation holds. Edges
//! (`ExpectToggles`) are level changes after the start of the span and up to its end.
//! `ExpectFrequency` measures from the rising edges in the span (at least two): the mean
//! frequency, and the duty cycle as high time over whole periods, in percent; both must
//! be within `tolerance` (default 5 %) of the expected value, relative.
//!
//! Lines: the console's are the script's output (and traceback) after the raw REPL's
//! "OK"; a UART's are what it sent from the script's start on (not one that a wire joins
//! to another UART). CR LF, LF and the raw REPL's EOT end a line. A scenario that is not
//! finished when the script ends goes on (the board runs on in its raw REPL) until it is,
//! within the test's time budget. A failure names the step, what was expected, what was
//! seen and the board time.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use pybsim_boards::{Board, Bytes, Event, Level, SimTime};
use serde::de::{self, Deserializer};
use serde::Deserialize;

/// Nanoseconds of a duration (cycles at 168 MHz).
fn ns(t: SimTime) -> u64 {
    t.to_nanos(168_000_000)
}

/// Tolerance of `ExpectFrequency` when the step gives none, in percent.
pub const DEFAULT_TOLERANCE_PCT: f64 = 5.0;

/// A scenario file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Texts the console output must hold by the end of the run.
    #[serde(default)]
    pub expect_text: Vec<String>,
    /// Texts that fail the test as soon as the console shows them.
    #[serde(default)]
    pub fail_text: Vec<String>,
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// A pin level to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PinLevel {
    High,
    Low,
    /// An LED lit (its active level).
    On,
    /// An LED dark.
    Off,
}

/// A percentage: `"2%"`, `"0.5%"` or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent(pub f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage such as \"2%\" or 2.0")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Percent, E> {
                super::options::parse_percent(v)
                    .map(Percent)
                    .ok_or_else(|| E::custom(format!("{v:?} is not a percentage such as \"2%\"")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Percent, E> {
                if v.is_finite() && v >= 0.0 {
                    Ok(Percent(v))
                } else {
                    Err(E::custom(format!("{v} is not a percentage")))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Percent, E> {
                Ok(Percent(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Percent, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// One step (see the module documentation).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Step {
    /// Wait for a line holding `text` on the console, or on U(S)ART `uart`, for at most
    /// `timeout` (default: the test's time budget).
    WaitLine {
        text: String,
        #[serde(default)]
        uart: Option<u8>,
        #[serde(default)]
        timeout: Option<SimTime>,
    },
    /// Send bytes to the console, or into U(S)ART `uart`'s RX line (115200 baud).
    Send {
        data: Bytes,
        #[serde(default)]
        uart: Option<u8>,
    },
    /// Let time pass.
    Delay(SimTime),
    /// Press the board's user switch (it stays pressed until `ReleaseSwitch`).
    PressSwitch,
    ReleaseSwitch,
    /// Drive a pin from outside, or stop driving it.
    SetPin {
        pin: String,
        level: Level,
    },
    ReleasePin {
        pin: String,
    },
    /// The pin's level now, at `at` of script time, reached `within` a span, or held
    /// for `hold`.
    ExpectPin {
        pin: String,
        level: PinLevel,
        #[serde(default)]
        at: Option<SimTime>,
        #[serde(default)]
        within: Option<SimTime>,
        #[serde(default)]
        hold: Option<SimTime>,
    },
    /// `count` level changes (± `tolerance`) during the span.
    ExpectToggles {
        pin: String,
        count: u64,
        during: SimTime,
        #[serde(default)]
        tolerance: u64,
    },
    /// A square wave of `hz` (and `duty` percent high) during the span.
    ExpectFrequency {
        pin: String,
        hz: f64,
        during: SimTime,
        #[serde(default)]
        duty: Option<f64>,
        #[serde(default)]
        tolerance: Option<Percent>,
    },
}

impl Step {
    /// The step reads pin levels.
    pub fn uses_pins(&self) -> bool {
        matches!(
            self,
            Step::ExpectPin { .. } | Step::ExpectToggles { .. } | Step::ExpectFrequency { .. }
        )
    }
}

fn bytes_text(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

fn on(uart: Option<u8>) -> String {
    match uart {
        Some(n) => format!("UART {n}"),
        None => "the console".into(),
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::WaitLine {
                text,
                uart,
                timeout,
            } => {
                write!(f, "WaitLine {text:?} on {}", on(*uart))?;
                if let Some(t) = timeout {
                    write!(f, " within {t}")?;
                }
                Ok(())
            }
            Step::Send { data, uart } => write!(f, "Send {} to {}", bytes_text(&data.0), on(*uart)),
            Step::Delay(t) => write!(f, "Delay {t}"),
            Step::PressSwitch => f.write_str("PressSwitch"),
            Step::ReleaseSwitch => f.write_str("ReleaseSwitch"),
            Step::SetPin { pin, level } => write!(f, "SetPin {pin} {level:?}"),
            Step::ReleasePin { pin } => write!(f, "ReleasePin {pin}"),
            Step::ExpectPin {
                pin,
                level,
                at,
                within,
                hold,
            } => {
                write!(f, "ExpectPin {pin} {level:?}")?;
                if let Some(t) = at {
                    write!(f, " at {t}")?;
                }
                if let Some(t) = within {
                    write!(f, " within {t}")?;
                }
                if let Some(t) = hold {
                    write!(f, " hold {t}")?;
                }
                Ok(())
            }
            Step::ExpectToggles {
                pin,
                count,
                during,
                tolerance,
            } => {
                write!(f, "ExpectToggles {pin} {count}")?;
                if *tolerance > 0 {
                    write!(f, " \u{b1}{tolerance}")?;
                }
                write!(f, " during {during}")
            }
            Step::ExpectFrequency {
                pin,
                hz,
                during,
                duty,
                tolerance,
            } => {
                write!(f, "ExpectFrequency {pin} {hz} Hz")?;
                if let Some(d) = duty {
                    write!(f, " duty {d}%")?;
                }
                let tol = tolerance.map_or(DEFAULT_TOLERANCE_PCT, |t| t.0);
                write!(f, " \u{b1}{tol}% during {during}")
            }
        }
    }
}

/// Where a line was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Console,
    Uart(u8),
}

/// A step ready to run: where it was written, and its pin resolved.
#[derive(Debug, Clone)]
pub struct Planned {
    /// `FILE step N` or `FILE:LINE`.
    pub origin: String,
    pub step: Step,
    /// (port, pin) for pin steps.
    pin: Option<(u8, u8)>,
    /// The level to expect, for ExpectPin.
    want: bool,
    /// The active level of the LED the step names, if it names one.
    led: Option<Level>,
}

/// A test's checks: steps and texts, checked against the board.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Planned>,
    pub expect_text: Vec<(String, String)>,
    pub fail_text: Vec<(String, String)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.expect_text.is_empty() && self.fail_text.is_empty()
    }

    /// Adds the steps and texts of a scenario written at `origin` (its steps are named
    /// `origin step N`).
    pub fn add_scenario(&mut self, origin: &str, sc: Scenario) {
        for (i, s) in sc.steps.into_iter().enumerate() {
            self.add_step(format!("{origin} step {}", i + 1), s);
        }
        for t in sc.expect_text {
            self.expect_text.push((origin.to_string(), t));
        }
        for t in sc.fail_text {
            self.fail_text.push((origin.to_string(), t));
        }
    }

    pub fn add_step(&mut self, origin: String, step: Step) {
        self.steps.push(Planned {
            origin,
            step,
            pin: None,
            want: false,
            led: None,
        });
    }

    /// Resolves pins and checks values against `board`; Err names the step.
    pub fn resolve(&mut self, board: &Board) -> Result<(), String> {
        for p in &mut self.steps {
            let label = format!("{}: {}", p.origin, p.step);
            let err = |m: String| format!("{label}: {m}");
            let pin_of = |name: &str| -> Result<((u8, u8), Option<Level>), String> {
                if let Some(led) = board
                    .leds
                    .iter()
                    .find(|l| l.name.eq_ignore_ascii_case(name))
                {
                    let id = board.pin(&led.pin).ok_or_else(|| {
                        format!("LED {name}'s pin {} is not on the board", led.pin)
                    })?;
                    return Ok(((id.port, id.pin), Some(led.active)));
                }
                board
                    .pin(name)
                    .map(|id| ((id.port, id.pin), None))
                    .ok_or_else(|| {
                        format!(
                            "no pin {name:?} on {} (board, CPU or LED names)",
                            board.name
                        )
                    })
            };
            let uart_ok = |u: &Option<u8>| match u {
                Some(n) if !(1..=6).contains(n) => Err(format!("uart {n}: U(S)ARTs are 1 to 6")),
                _ => Ok(()),
            };
            let step = p.step.clone();
            match &step {
                Step::WaitLine { uart, .. } | Step::Send { uart, .. } => {
                    uart_ok(uart).map_err(err)?
                }
                Step::PressSwitch | Step::ReleaseSwitch => {
                    if board.switch.is_none() {
                        return Err(err(format!("{} has no user switch", board.name)));
                    }
                }
                Step::SetPin { pin, .. } | Step::ReleasePin { pin } => {
                    // Driven through the stimuli, which take board and CPU names.
                    board
                        .pin(pin)
                        .ok_or_else(|| err(format!("no pin {pin:?} on {}", board.name)))?;
                }
                Step::ExpectPin {
                    pin,
                    level,
                    at,
                    within,
                    hold,
                } => {
                    let (id, active) = pin_of(pin).map_err(err)?;
                    p.pin = Some(id);
                    p.led = active;
                    p.want = match (level, active) {
                        (PinLevel::High, _) => true,
                        (PinLevel::Low, _) => false,
                        (PinLevel::On | PinLevel::Off, None) => {
                            return Err(err(format!("{pin} is not an LED: expect High or Low")))
                        }
                        (PinLevel::On, Some(a)) => a == Level::High,
                        (PinLevel::Off, Some(a)) => a == Level::Low,
                    };
                    let n = [at, within, hold].iter().filter(|t| t.is_some()).count();
                    if n > 1 {
                        return Err(err("give at most one of `at`, `within` and `hold`".into()));
                    }
                }
                Step::ExpectToggles { pin, .. } => p.pin = Some(pin_of(pin).map_err(err)?.0),
                Step::ExpectFrequency { pin, hz, duty, .. } => {
                    p.pin = Some(pin_of(pin).map_err(err)?.0);
                    if !(hz.is_finite() && *hz > 0.0) {
                        return Err(err(format!("hz {hz}: a frequency above 0")));
                    }
                    if let Some(d) = duty {
                        if !(0.0..=100.0).contains(d) {
                            return Err(err(format!("duty {d}: a percentage, 0 to 100")));
                        }
                    }
                }
                Step::Delay(_) => {}
            }
        }
        Ok(())
    }
}

/// RON as scenarios are written: an optional value needs no `Some(...)`.
fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

/// Parses a scenario file's text; errors name `file:line:column`.
pub fn parse_scenario(file: &Path, text: &str) -> Result<Scenario, String> {
    ron_options().from_str(text).map_err(|e| {
        format!(
            "{}:{}:{}: {}",
            file.display(),
            e.position.line,
            e.position.col,
            ron_message(&e.code.to_string())
        )
    })
}

/// Parses one step as a header line gives it (RON, e.g. `WaitLine(text: "ready")`).
pub fn parse_step(text: &str) -> Result<Step, String> {
    ron_options().from_str(text).map_err(|e| {
        format!(
            "step {text:?}: {} (at column {})",
            ron_message(&e.code.to_string()),
            e.position.col
        )
    })
}

/// A RON message with the boards crate's duration marker made readable.
fn ron_message(m: &str) -> String {
    match m.split_once("\u{1}duration\u{1}") {
        Some((before, rest)) => {
            let (text, reason) = rest.split_once('\u{1}').unwrap_or((rest, ""));
            format!("{before}bad duration {text:?}: {reason}")
        }
        None => m.to_string(),
    }
}

/// A failed step or text check.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// One line: the step, expected and observed.
    pub reason: String,
    /// More: times, the lines seen.
    pub details: String,
}

/// Lines of one source, as they complete.
#[derive(Debug, Default, Clone)]
struct Lines {
    done: Vec<(u64, String)>,
    partial: Vec<u8>,
    /// Lines before this index were taken by a WaitLine.
    cursor: usize,
}

impl Lines {
    fn push(&mut self, ns: u64, b: u8) {
        match b {
            b'\n' | 0x04 => {
                if self.partial.last() == Some(&b'\r') {
                    self.partial.pop();
                }
                let line = String::from_utf8_lossy(&self.partial).into_owned();
                self.partial.clear();
                // The EOT right after a line's LF ends no further line.
                if b == 0x04 && line.is_empty() {
                    return;
                }
                self.done.push((ns, line));
            }
            _ => self.partial.push(b),
        }
    }

    fn last(&self) -> Option<&(u64, String)> {
        self.done.last()
    }
}

/// A check whose span is fixed: decided once the board time passes its end.
#[derive(Debug, Clone)]
struct Pending {
    step: usize,
    from: u64,
    to: u64,
}

/// The step in progress whose end depends on what the board does.
#[derive(Debug, Clone)]
struct Blocking {
    step: usize,
    from: u64,
    until: Option<u64>,
}

/// Runs a plan against what the board shows, slice by slice.
#[derive(Debug)]
pub struct Runner {
    plan: Plan,
    /// Script start (the raw REPL's OK), ns from reset.
    start: u64,
    next: usize,
    /// Start time of step `next`.
    t: u64,
    pending: Vec<Pending>,
    blocking: Option<Blocking>,
    done: usize,
    lines: BTreeMap<Source, Lines>,
    /// The console output since the script started, with the time of each byte.
    console: Vec<u8>,
    console_ns: Vec<u64>,
    /// Where the fail-text search goes on.
    scanned: usize,
    pins: BTreeMap<(u8, u8), Vec<(u64, bool)>>,
    /// The test's time budget ends here (ns from reset): the default timeout of a wait.
    deadline: Option<u64>,
}

/// A duration in ns as seconds.
fn secs(ns: u64) -> String {
    format!("{} s", crate::session::fmt_secs(ns))
}

fn level_name(l: Option<bool>) -> &'static str {
    match l {
        Some(true) => "High",
        Some(false) => "Low",
        None => "not driven yet",
    }
}

/// A level as the step's pin knows it: `On (High)` for an LED.
fn level_of(p: &Planned, l: Option<bool>) -> String {
    match (p.led, l) {
        (Some(active), Some(v)) => format!(
            "{} ({})",
            if v == (active == Level::High) {
                "On"
            } else {
                "Off"
            },
            level_name(l)
        ),
        _ => level_name(l).to_string(),
    }
}

impl Runner {
    /// Starts the plan at `start` (ns from reset: the script's start); waits without a
    /// timeout end at `deadline`.
    pub fn new(plan: Plan, start: u64, deadline: Option<u64>) -> Runner {
        Runner {
            plan,
            start,
            next: 0,
            t: start,
            pending: Vec::new(),
            blocking: None,
            done: 0,
            lines: BTreeMap::new(),
            console: Vec::new(),
            console_ns: Vec::new(),
            scanned: 0,
            pins: BTreeMap::new(),
            deadline,
        }
    }

    /// Steps done and steps in all.
    pub fn progress(&self) -> (usize, usize) {
        (self.plan.steps.len(), self.done)
    }

    /// The steps are all done.
    pub fn finished(&self) -> bool {
        self.next == self.plan.steps.len() && self.blocking.is_none() && self.pending.is_empty()
    }

    /// A console byte at `ns` (after the raw REPL's OK).
    pub fn console_byte(&mut self, ns: u64, b: u8) {
        self.console.push(b);
        self.console_ns.push(ns);
        self.lines.entry(Source::Console).or_default().push(ns, b);
    }

    /// A byte U(S)ART `n` sent at `ns`.
    pub fn uart_byte(&mut self, n: u8, ns: u64, b: u8) {
        self.lines.entry(Source::Uart(n)).or_default().push(ns, b);
    }

    /// The MCU drove `port`/`pin` to `level` at `ns`.
    pub fn pin(&mut self, ns: u64, port: u8, pin: u8, level: bool) {
        let h = self.pins.entry((port, pin)).or_default();
        if h.last().map(|l| l.1) != Some(level) {
            h.push((ns, level));
        }
    }

    fn level_at(&self, pin: (u8, u8), t: u64) -> Option<bool> {
        let h = self.pins.get(&pin)?;
        let i = h.partition_point(|c| c.0 <= t);
        (i > 0).then(|| h[i - 1].1)
    }

    /// Level changes of `pin` in (from, to].
    fn changes(&self, pin: (u8, u8), from: u64, to: u64) -> &[(u64, bool)] {
        let Some(h) = self.pins.get(&pin) else {
            return &[];
        };
        let a = h.partition_point(|c| c.0 <= from);
        let b = h.partition_point(|c| c.0 <= to);
        &h[a..b]
    }

    /// "0.12 s of script time (board time 0.31 s)".
    fn when(&self, t: u64) -> String {
        if t < self.start {
            return format!("board time {}, before the script started", secs(t));
        }
        format!(
            "{} of script time (board time {})",
            secs(t - self.start),
            secs(t)
        )
    }

    fn fail(&self, i: usize, expected: String, observed: String, t: u64, more: String) -> Failure {
        let p = &self.plan.steps[i];
        Failure {
            reason: format!(
                "step {} of {} ({}) failed: expected {expected}, observed {observed}, at {}",
                i + 1,
                self.plan.steps.len(),
                p.step,
                self.when(t)
            ),
            details: format!(
                "scenario step {} of {}, {}: {}\n  expected: {expected}\n  observed: {observed}\n  at {}\n{more}",
                i + 1,
                self.plan.steps.len(),
                p.origin,
                p.step,
                self.when(t)
            ),
        }
    }

    /// Checks the fail texts against the console output so far.
    fn scan_fail_text(&mut self) -> Result<(), Failure> {
        let longest = self
            .plan
            .fail_text
            .iter()
            .map(|t| t.1.len())
            .max()
            .unwrap_or(0);
        if longest == 0 {
            return Ok(());
        }
        let from = self.scanned.saturating_sub(longest - 1);
        let hay = &self.console[from..];
        // The earliest match of any fail text.
        let mut best: Option<(usize, &(String, String))> = None;
        for ft in &self.plan.fail_text {
            let pat = ft.1.as_bytes();
            if pat.is_empty() {
                continue;
            }
            if let Some(i) = hay.windows(pat.len()).position(|w| w == pat) {
                let end = from + i + pat.len() - 1;
                if best.is_none_or(|b| end < b.0) {
                    best = Some((end, ft));
                }
            }
        }
        self.scanned = self.console.len();
        if let Some((end, (origin, text))) = best {
            let t = self.console_ns[end];
            let line = self.lines[&Source::Console]
                .done
                .iter()
                .find(|l| l.0 >= t)
                .map(|l| l.1.clone())
                .unwrap_or_else(|| {
                    String::from_utf8_lossy(&self.lines[&Source::Console].partial).into_owned()
                });
            return Err(Failure {
                reason: format!(
                    "fail-text {text:?} seen on the console at {}",
                    self.when(t)
                ),
                details: format!(
                    "fail-text {text:?} ({origin}) seen on the console at {}\n  in the line: {line:?}\n",
                    self.when(t)
                ),
            });
        }
        Ok(())
    }

    /// The expect texts the console output lacks (at the end of the run).
    pub fn missing_text(&self, output: &str) -> Option<Failure> {
        let missing: Vec<&(String, String)> = self
            .plan
            .expect_text
            .iter()
            .filter(|t| !output.contains(t.1.as_str()))
            .collect();
        if missing.is_empty() {
            return None;
        }
        let names: Vec<String> = missing.iter().map(|t| format!("{:?}", t.1)).collect();
        Some(Failure {
            reason: format!("expect-text {} never seen on the console", names.join(", ")),
            details: missing
                .iter()
                .map(|t| {
                    format!(
                        "expect-text {:?} ({}): not in the console output\n",
                        t.1, t.0
                    )
                })
                .collect(),
        })
    }

    /// The step in progress, for a budget message.
    pub fn current(&self) -> Option<String> {
        let i = match (&self.blocking, self.pending.first()) {
            (Some(b), _) => b.step,
            (None, Some(p)) => p.step,
            (None, None) if self.next < self.plan.steps.len() => self.next,
            _ => return None,
        };
        let p = &self.plan.steps[i];
        Some(format!(
            "scenario step {} of {} ({}: {}) was in progress",
            i + 1,
            self.plan.steps.len(),
            p.origin,
            p.step
        ))
    }

    /// Decides what the board time `now` (ns from reset) allows; returns the inputs to
    /// schedule (ns from reset, event).
    pub fn advance(&mut self, now: u64) -> Result<Vec<(u64, Event)>, Failure> {
        self.scan_fail_text()?;
        let mut actions = Vec::new();
        loop {
            // Fixed spans that have passed, the earliest end first.
            self.pending.sort_by_key(|p| (p.to, p.step));
            while let Some(p) = self.pending.first().cloned() {
                if p.to > now {
                    break;
                }
                self.pending.remove(0);
                self.check_span(&p)?;
                self.done += 1;
            }
            if let Some(b) = self.blocking.clone() {
                match self.try_blocking(&b, now)? {
                    Some(t) => {
                        self.blocking = None;
                        self.t = t;
                        self.done += 1;
                        continue;
                    }
                    None => break,
                }
            }
            if self.next >= self.plan.steps.len() {
                break;
            }
            let i = self.next;
            self.next += 1;
            self.start_step(i, now, &mut actions)?;
        }
        Ok(actions)
    }

    fn start_step(
        &mut self,
        i: usize,
        now: u64,
        actions: &mut Vec<(u64, Event)>,
    ) -> Result<(), Failure> {
        let t = self.t;
        let step = self.plan.steps[i].step.clone();
        let at = SimTime::Nanos(t);
        // An input whose time has passed enters at the next slice.
        let mut input = |ev: Event, t: &mut u64| {
            actions.push((*t, ev));
            *t = (*t).max(now);
        };
        match step {
            Step::Delay(d) => {
                self.t = t + ns(d);
                self.done += 1;
            }
            Step::Send { data, uart } => {
                let ev = match uart {
                    Some(n) => Event::UartInput { at, uart: n, data },
                    None => Event::ConsoleInput { at, data },
                };
                input(ev, &mut self.t);
                self.done += 1;
            }
            Step::PressSwitch => {
                input(Event::PressSwitch { at }, &mut self.t);
                self.done += 1;
            }
            Step::ReleaseSwitch => {
                input(Event::ReleaseSwitch { at }, &mut self.t);
                self.done += 1;
            }
            Step::SetPin { pin, level } => {
                input(Event::SetPin { at, pin, level }, &mut self.t);
                self.done += 1;
            }
            Step::ReleasePin { pin } => {
                input(Event::ReleasePin { at, pin }, &mut self.t);
                self.done += 1;
            }
            Step::WaitLine { timeout, .. } => {
                self.blocking = Some(Blocking {
                    step: i,
                    from: t,
                    until: timeout.map(|d| t + ns(d)).or(self.deadline),
                });
            }
            Step::ExpectPin { at: Some(when), .. } => {
                let when = self.start + ns(when);
                if when < t {
                    return Err(self.fail(
                        i,
                        format!(
                            "a time at or after the step's start ({})",
                            secs(t - self.start)
                        ),
                        format!("at {} of script time", secs(when - self.start)),
                        t,
                        "`at` counts from the script's start; the steps before ended later\n"
                            .into(),
                    ));
                }
                self.pending.push(Pending {
                    step: i,
                    from: when,
                    to: when,
                });
                self.t = when;
            }
            Step::ExpectPin {
                within: Some(w), ..
            } => {
                self.blocking = Some(Blocking {
                    step: i,
                    from: t,
                    until: Some(t + ns(w)),
                });
            }
            Step::ExpectPin { hold: Some(h), .. } => {
                self.pending.push(Pending {
                    step: i,
                    from: t,
                    to: t + ns(h),
                });
                self.t = t + ns(h);
            }
            Step::ExpectPin { .. } => {
                self.pending.push(Pending {
                    step: i,
                    from: t,
                    to: t,
                });
            }
            Step::ExpectToggles { during, .. } | Step::ExpectFrequency { during, .. } => {
                self.pending.push(Pending {
                    step: i,
                    from: t,
                    to: t + ns(during),
                });
                self.t = t + ns(during);
            }
        }
        Ok(())
    }

    /// A wait: Some(time it ended) once it did, None while it goes on.
    fn try_blocking(&mut self, b: &Blocking, now: u64) -> Result<Option<u64>, Failure> {
        let p = self.plan.steps[b.step].clone();
        match &p.step {
            Step::WaitLine { text, uart, .. } => {
                let src = uart.map_or(Source::Console, Source::Uart);
                let lines = self.lines.entry(src).or_default();
                let found = lines.done[lines.cursor..]
                    .iter()
                    .position(|(t, l)| *t >= b.from && l.contains(text.as_str()));
                if let Some(k) = found {
                    let idx = lines.cursor + k;
                    let (t, _) = lines.done[idx];
                    if b.until.is_none_or(|u| t <= u) {
                        lines.cursor = idx + 1;
                        return Ok(Some(t));
                    }
                }
                match b.until {
                    Some(u) if now >= u || found.is_some() => {
                        let last = match self.lines.get(&src).and_then(Lines::last) {
                            Some((t, l)) => format!("the last line was {l:?} at {}", self.when(*t)),
                            None => "no line at all".into(),
                        };
                        Err(self.fail(
                            b.step,
                            format!(
                                "a line holding {text:?} on {} by {} of script time",
                                on(*uart),
                                secs(u - self.start)
                            ),
                            "no such line".into(),
                            u,
                            format!("  {last}\n"),
                        ))
                    }
                    _ => Ok(None),
                }
            }
            Step::ExpectPin { pin, .. } => {
                let id = p.pin.expect("resolved");
                let until = b.until.expect("within has an end");
                if now < b.from {
                    return Ok(None);
                }
                let reached = if self.level_at(id, b.from) == Some(p.want) {
                    Some(b.from)
                } else {
                    self.changes(id, b.from, until)
                        .iter()
                        .find(|c| c.1 == p.want)
                        .map(|c| c.0)
                };
                if let Some(t) = reached {
                    return Ok(Some(t));
                }
                if now < until {
                    return Ok(None);
                }
                let seen = self.level_at(id, until);
                Err(self.fail(
                    b.step,
                    format!(
                        "{pin} {} by {}",
                        level_of(&p, Some(p.want)),
                        secs(until - self.start)
                    ),
                    format!(
                        "{} all along ({} at the end)",
                        if seen.is_some() {
                            "not reached"
                        } else {
                            "not driven"
                        },
                        level_of(&p, seen)
                    ),
                    until,
                    String::new(),
                ))
            }
            _ => Ok(Some(b.from)),
        }
    }

    /// Decides a fixed-span check.
    fn check_span(&self, s: &Pending) -> Result<(), Failure> {
        let p = &self.plan.steps[s.step];
        let id = p.pin.expect("pin steps are resolved");
        match &p.step {
            Step::ExpectPin { pin, hold, .. } => {
                let want = p.want;
                let at_start = self.level_at(id, s.from);
                if at_start != Some(want) {
                    let last = self.changes(id, 0, s.from).last().map(|c| c.0);
                    let more = match last {
                        Some(c) => format!("  its last change before was at {}\n", self.when(c)),
                        None => "  the MCU had not driven it yet\n".into(),
                    };
                    return Err(self.fail(
                        s.step,
                        format!("{pin} {}", level_of(p, Some(want))),
                        level_of(p, at_start),
                        s.from,
                        more,
                    ));
                }
                if hold.is_some() {
                    if let Some(c) = self.changes(id, s.from, s.to).iter().find(|c| c.1 != want) {
                        return Err(self.fail(
                            s.step,
                            format!(
                                "{pin} {} until {} of script time",
                                level_of(p, Some(want)),
                                secs(s.to - self.start)
                            ),
                            format!("{} after {}", level_of(p, Some(c.1)), secs(c.0 - s.from)),
                            c.0,
                            String::new(),
                        ));
                    }
                }
                Ok(())
            }
            Step::ExpectToggles {
                pin,
                count,
                tolerance,
                ..
            } => {
                let edges = self.changes(id, s.from, s.to);
                // The first drive of a pin is not an edge.
                let n = edges.len() as u64
                    - u64::from(self.level_at(id, s.from).is_none() && !edges.is_empty());
                if n.abs_diff(*count) > *tolerance {
                    let tol = if *tolerance > 0 {
                        format!(" \u{b1}{tolerance}")
                    } else {
                        String::new()
                    };
                    return Err(self.fail(
                        s.step,
                        format!(
                            "{count}{tol} changes of {pin} between {} and {} of script time",
                            secs(s.from - self.start),
                            secs(s.to - self.start)
                        ),
                        format!("{n}"),
                        s.to,
                        String::new(),
                    ));
                }
                Ok(())
            }
            Step::ExpectFrequency {
                pin,
                hz,
                duty,
                tolerance,
                ..
            } => {
                let tol = tolerance.map_or(DEFAULT_TOLERANCE_PCT, |t| t.0);
                let edges = self.changes(id, s.from, s.to);
                let mut before = self.level_at(id, s.from);
                let mut rises = Vec::new();
                let mut falls = Vec::new();
                for &(t, l) in edges {
                    if before.is_some() {
                        if l {
                            rises.push(t);
                        } else {
                            falls.push(t);
                        }
                    }
                    before = Some(l);
                }
                let span = format!(
                    "between {} and {} of script time",
                    secs(s.from - self.start),
                    secs(s.to - self.start)
                );
                let expected = match duty {
                    Some(d) => format!("{pin} at {hz} Hz, {d}% high, \u{b1}{tol}%, {span}"),
                    None => format!("{pin} at {hz} Hz \u{b1}{tol}% {span}"),
                };
                if rises.len() < 2 {
                    return Err(self.fail(
                        s.step,
                        expected,
                        format!("{} rising edges: no whole period", rises.len()),
                        s.to,
                        String::new(),
                    ));
                }
                let periods = (rises.len() - 1) as f64;
                let first = rises[0];
                let last = *rises.last().expect("two rises");
                let f = periods * 1e9 / (last - first) as f64;
                let high: u64 = rises
                    .windows(2)
                    .map(|w| {
                        falls
                            .iter()
                            .find(|&&x| x > w[0] && x < w[1])
                            .map_or(0, |&x| x - w[0])
                    })
                    .sum();
                let d = 100.0 * high as f64 / (last - first) as f64;
                let f_ok = (f - hz).abs() <= hz * tol / 100.0;
                let d_ok = duty.is_none_or(|want| (d - want).abs() <= want * tol / 100.0);
                if !(f_ok && d_ok) {
                    return Err(self.fail(
                        s.step,
                        expected,
                        format!("{f:.3} Hz, {d:.2}% high over {} periods", periods as u64),
                        s.to,
                        String::new(),
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> Board {
        Board::builtin("pybv11").unwrap()
    }

    fn plan(steps: &str) -> Plan {
        let sc =
            parse_scenario(Path::new("t.ron"), &format!("Scenario(steps: [{steps}])")).unwrap();
        let mut p = Plan::default();
        p.add_scenario("t.ron", sc);
        p.resolve(&board()).unwrap();
        p
    }

    const MS: u64 = 1_000_000;

    fn feed_line(r: &mut Runner, ns: u64, text: &str) {
        for b in text.bytes() {
            r.console_byte(ns, b);
        }
    }

    #[test]
    fn parses_every_step_and_names_bad_ones() {
        let p = plan(
            r#"WaitLine(text: "ready", timeout: "1s"), WaitLine(text: "x", uart: 2),
               Send(data: "ping\r\n"), Send(data: [1, 2], uart: 6), Delay("10ms"),
               PressSwitch, ReleaseSwitch, SetPin(pin: "X1", level: High), ReleasePin(pin: "X1"),
               ExpectPin(pin: "LED1", level: On), ExpectPin(pin: "X2", level: Low, at: "150ms"),
               ExpectPin(pin: "LED2", level: Off, within: "20ms"), ExpectPin(pin: "PA0", level: High, hold: "1ms"),
               ExpectToggles(pin: "LED3", count: 10, during: "1s", tolerance: 1),
               ExpectFrequency(pin: "X3", hz: 1000.0, duty: 25.0, during: "20ms", tolerance: "2%")"#,
        );
        assert_eq!(p.steps.len(), 15);
        assert_eq!(p.steps[0].origin, "t.ron step 1");
        assert_eq!(p.steps[9].pin, Some((0, 13)));
        assert!(p.steps[9].want);
        assert_eq!(
            p.steps[14].step.to_string(),
            "ExpectFrequency X3 1000 Hz duty 25% \u{b1}2% during 20ms"
        );
        let bad = |steps: &str| -> String {
            match parse_scenario(Path::new("t.ron"), &format!("Scenario(steps: [{steps}])")) {
                Err(e) => e,
                Ok(sc) => {
                    let mut p = Plan::default();
                    p.add_scenario("t.ron", sc);
                    p.resolve(&board()).unwrap_err()
                }
            }
        };
        assert!(bad(r#"ExpectPin(pin: "X1", level: On)"#).contains("X1 is not an LED"));
        assert!(bad(r#"ExpectPin(pin: "Z9", level: High)"#).contains("no pin \"Z9\""));
        assert!(bad(r#"Send(data: "a", uart: 7)"#).contains("uart 7"));
        assert!(bad(r#"Delay("soon")"#).starts_with("t.ron:1:"));
        assert!(
            bad(r#"Delay("soon")"#).contains("bad duration \"soon\""),
            "{}",
            bad(r#"Delay("soon")"#)
        );
        assert!(bad(r#"Jump"#).contains("t.ron:1:"));
        assert!(
            bad(r#"ExpectPin(pin: "X1", level: High, at: "1s", hold: "1s")"#)
                .contains("at most one")
        );
        assert_eq!(
            parse_step(r#"Delay("5ms")"#),
            Ok(Step::Delay(SimTime::Nanos(5 * MS)))
        );
    }

    #[test]
    fn a_wait_ends_at_its_line_and_the_input_after_it_is_scheduled() {
        let mut r = Runner::new(
            plan(
                r#"WaitLine(text: "ready", timeout: "10ms"), Send(data: "go\n"), Delay("2ms"), PressSwitch"#,
            ),
            100 * MS,
            None,
        );
        assert_eq!(r.advance(101 * MS), Ok(vec![]));
        feed_line(&mut r, 103 * MS, "not yet\r\n");
        feed_line(&mut r, 104 * MS, "ready!\r\n");
        // Seen at the slice end (105 ms): the input enters now; the press 2 ms later, to the
        // nanosecond.
        let acts = r.advance(105 * MS).unwrap();
        assert_eq!(acts.len(), 2, "{acts:?}");
        assert_eq!(acts[0].0, 104 * MS);
        assert!(matches!(&acts[0].1, Event::ConsoleInput { data, .. } if data.0 == b"go\n"));
        assert_eq!(acts[1].0, 107 * MS);
        assert!(matches!(acts[1].1, Event::PressSwitch { .. }));
        assert!(r.finished());
        assert_eq!(r.progress(), (4, 4));
    }

    #[test]
    fn a_wait_that_times_out_names_the_step_and_the_last_line() {
        let mut r = Runner::new(
            plan(r#"Delay("1ms"), WaitLine(text: "ready", timeout: "5ms")"#),
            0,
            None,
        );
        feed_line(&mut r, 2 * MS, "booting\n");
        assert_eq!(r.advance(5 * MS), Ok(vec![]));
        // A line that came after the limit does not count, even if seen in the same slice.
        feed_line(&mut r, 7 * MS, "ready\n");
        let e = r.advance(8 * MS).unwrap_err();
        assert!(e.reason.starts_with("step 2 of 2 (WaitLine \"ready\" on the console within 5ms) failed: expected a line holding \"ready\" on the console by 0.006 s of script time, observed no such line, at 0.006 s"), "{}", e.reason);
        assert!(
            e.details.contains("the last line was \"ready\""),
            "{}",
            e.details
        );
        assert!(e.details.contains("t.ron step 2"), "{}", e.details);
    }

    #[test]
    fn one_line_serves_one_wait() {
        let mut r = Runner::new(
            plan(r#"WaitLine(text: "tick"), WaitLine(text: "tick")"#),
            0,
            Some(50 * MS),
        );
        feed_line(&mut r, MS, "tick\n");
        r.advance(2 * MS).unwrap();
        assert!(!r.finished());
        feed_line(&mut r, 3 * MS, "tick\n");
        r.advance(4 * MS).unwrap();
        assert!(r.finished());
        // Without a timeout a wait ends with the test's budget.
        let mut r = Runner::new(plan(r#"WaitLine(text: "x")"#), 0, Some(50 * MS));
        r.advance(49 * MS).unwrap();
        assert!(r.advance(50 * MS).unwrap_err().reason.contains("by 0.05 s"));
    }

    #[test]
    fn pin_levels_at_an_instant_within_a_span_and_held() {
        let steps = r#"ExpectPin(pin: "LED1", level: On, at: "10ms"),
                       ExpectPin(pin: "LED1", level: Off, within: "5ms"),
                       ExpectPin(pin: "LED1", level: Off, hold: "3ms")"#;
        let mut r = Runner::new(plan(steps), 0, None);
        r.pin(MS, 0, 13, true);
        r.pin(12 * MS, 0, 13, false);
        assert_eq!(r.advance(9 * MS), Ok(vec![]));
        r.advance(20 * MS).unwrap();
        assert!(r.finished(), "{r:?}");
        // Off reached at 12 ms; held to 15 ms; a blip at 14 ms fails the hold.
        let mut r = Runner::new(plan(steps), 0, None);
        r.pin(MS, 0, 13, true);
        r.pin(12 * MS, 0, 13, false);
        r.pin(14 * MS, 0, 13, true);
        let e = r.advance(20 * MS).unwrap_err();
        assert!(e.reason.starts_with("step 3 of 3"), "{}", e.reason);
        assert!(
            e.reason.contains("observed On (High) after 0.002 s"),
            "{}",
            e.reason
        );
        assert!(
            e.reason.contains("at 0.014 s of script time"),
            "{}",
            e.reason
        );
        // Never driven.
        let mut r = Runner::new(plan(r#"ExpectPin(pin: "X1", level: High)"#), 0, None);
        let e = r.advance(MS).unwrap_err();
        assert!(e.reason.contains("observed not driven yet"), "{}", e.reason);
        // `within` that runs out.
        let mut r = Runner::new(
            plan(r#"ExpectPin(pin: "X1", level: High, within: "2ms")"#),
            0,
            None,
        );
        r.pin(0, 0, 0, false);
        assert_eq!(r.advance(MS), Ok(vec![]));
        let e = r.advance(3 * MS).unwrap_err();
        assert!(
            e.reason.contains("expected X1 High by 0.002 s"),
            "{}",
            e.reason
        );
        assert!(
            e.reason.contains("not reached all along (Low at the end)"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn toggles_and_frequency() {
        // 1 kHz, 25 % high, from 1 ms on.
        let wave = |r: &mut Runner| {
            r.pin(0, 0, 1, false);
            for k in 1..=20u64 {
                r.pin(k * MS, 0, 1, true);
                r.pin(k * MS + 250_000, 0, 1, false);
            }
        };
        let mut r = Runner::new(
            plan(
                r#"ExpectToggles(pin: "PA1", count: 19, during: "10ms", tolerance: 0),
                    ExpectFrequency(pin: "PA1", hz: 1000.0, duty: 25.0, during: "10ms", tolerance: "1%")"#,
            ),
            0,
            None,
        );
        wave(&mut r);
        r.advance(25 * MS).unwrap();
        assert!(r.finished());
        let mut r = Runner::new(
            plan(
                r#"ExpectFrequency(pin: "PA1", hz: 900.0, duty: 25.0, during: "10ms", tolerance: "5%")"#,
            ),
            0,
            None,
        );
        wave(&mut r);
        let e = r.advance(25 * MS).unwrap_err();
        assert!(
            e.reason
                .contains("observed 1000.000 Hz, 25.00% high over 9 periods"),
            "{}",
            e.reason
        );
        let mut r = Runner::new(
            plan(r#"ExpectToggles(pin: "PA1", count: 5, during: "2ms")"#),
            0,
            None,
        );
        wave(&mut r);
        let e = r.advance(3 * MS).unwrap_err();
        assert!(
            e.reason
                .contains("expected 5 changes of PA1 between 0.0 s and 0.002 s"),
            "{}",
            e.reason
        );
        assert!(e.reason.contains("observed 3,"), "{}", e.reason);
    }

    #[test]
    fn fail_text_and_expect_text() {
        let mut p = Plan::default();
        p.add_scenario(
            "t.py",
            Scenario {
                expect_text: vec!["done".into()],
                fail_text: vec!["Error".into()],
                steps: vec![],
            },
        );
        let mut r = Runner::new(p, 0, None);
        feed_line(&mut r, MS, "all fine\nEr");
        r.advance(MS).unwrap();
        feed_line(&mut r, 2 * MS, "ror here\n");
        let e = r.advance(3 * MS).unwrap_err();
        assert_eq!(e.reason, "fail-text \"Error\" seen on the console at 0.002 s of script time (board time 0.002 s)");
        assert!(
            e.details.contains("in the line: \"Error here\""),
            "{}",
            e.details
        );
        assert!(r.missing_text("the end: done\n").is_none());
        assert!(r
            .missing_text("nothing")
            .unwrap()
            .reason
            .contains("\"done\""));
    }
}
