//! Runs one test script on a freshly booted board and measures its cycles.
//!
//! The protocol is the one of [`Session::run_script`] (friendly prompt, Ctrl-A, the
//! script and Ctrl-D, "OK", stdout up to EOT, the exception text up to EOT), driven here
//! slice by slice so the runner can also stop a board whose firmware reported a fault
//! and went to sleep forever, and apply budgets that count from the script's start.
//!
//! Counted cycles: from the moment the raw REPL's "OK" leaves the board (the firmware
//! has read the whole script and starts compiling it) to the moment its final EOT does
//! (after the script's output and its traceback, if any). Both moments come from the
//! machine's console observer ([`crate::soc::SocObserver::console`]), which stamps
//! every console byte with its cycle: the instruction that wrote it to the console
//! device, the start of its UART frame, the USB IN transaction that carried it. So the
//! count is exact on any firmware and over any console, without symbols; boot time,
//! the transfer of the script and the slice boundaries do not move it.
//!
//! The test's scenario ([`super::scenario`]) runs beside the script from its "OK" on,
//! fed with the console and UART bytes and the pin changes the machine reports.

use std::path::PathBuf;

use super::scenario::{Failure, Plan, Runner};
use crate::core::decode_fault_status;
use crate::session::raw_repl::{Phase, RawRepl, ScriptEnd};
use crate::session::{Outcome, Session, SessionConfig};
use crate::soc::{ConsolePort, ConsoleTrace, DacTrace, PinChange, PinTrace};
use crate::vcd::{ClockMap, VcdOptions};

/// Cycles the firmware may take to reach its REPL prompt.
pub const BOOT_CYCLES: u64 = 1_680_000_000;

/// Slices a firmware that reported a fatal error may go on printing before it is
/// stopped.
const FATAL_SLICES: u32 = 50;

/// Budgets of one run, counted from the script's start.
#[derive(Debug, Clone, Default)]
pub struct Budgets {
    pub max_cycles: Option<u64>,
    pub max_ns: Option<u64>,
    /// How to name the time budget in messages (e.g. "max-time 2s").
    pub max_time_text: String,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// The script ended normally.
    Done,
    /// The script raised an uncaught exception (its traceback is in the output).
    Exception,
    /// The guest faulted; the report is in `RunResult::fault`.
    Fault,
    /// A budget ran out; says which.
    Budget(String),
    /// The firmware ended through semihosting.
    Exit(i32),
    /// The CPU sleeps with nothing left that could wake it.
    Halted,
    /// The board could not be built or run.
    Error(String),
    /// A watchdog reset the board during the test; says which and when.
    WatchdogReset(String),
    /// A scenario step or text check failed.
    Scenario(Failure),
}

/// What a test checks and writes beyond its output.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// Scenario steps and texts (empty: none).
    pub plan: Plan,
    /// Write the pin trace (and DAC codes) as VCD.
    pub vcd: Option<(PathBuf, VcdOptions)>,
    /// Write the DAC samples as CSV.
    pub dac_trace: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub end: End,
    /// What the script printed (stdout, then the traceback), plus whatever the firmware
    /// printed after a stop.
    pub output: Vec<u8>,
    /// Counted cycles (see the module documentation) when the script got to run: the
    /// whole count when it ended, the count so far when it was stopped.
    pub cycles: Option<u64>,
    /// False when the count is only good to a slice.
    pub cycles_exact: bool,
    /// Virtual time of the whole session (boot included), in ns.
    pub board_ns: u64,
    /// The fault report, for [`End::Fault`].
    pub fault: Option<String>,
    /// The machine's cycle (from reset) when the run ended.
    pub stop_cycle: u64,
    /// Scenario steps in all and done, when the test has a scenario.
    pub scenario: Option<(usize, usize)>,
    /// The scenario step in progress when the run was stopped (budget, fault).
    pub scenario_note: Option<String>,
    /// A trace file that could not be written.
    pub write_error: Option<String>,
}

enum Stop {
    Outcome(Outcome),
    /// The firmware's fault handler (or fatal error path) ran and went quiet.
    Fatal(String),
    Budget(String),
    /// A watchdog reset the board: the test's REPL session is gone.
    Watchdog(crate::core::ResetRecord),
}

struct Driver {
    s: Session,
    /// Console output not yet given to the raw-REPL driver.
    pending: Vec<u8>,
    /// The last bytes of console output, where a fatal-error marker may have begun.
    recent: Vec<u8>,
    /// Console bytes leaving the board, with their cycles.
    trace: ConsoleTrace,
    /// The REPL's UART, when the console is on one.
    repl_uart: Option<u8>,
    /// Pin changes, when a scenario or a VCD needs them.
    pins: Option<PinTrace>,
    /// Every pin change so far, for the VCD.
    all_pins: Vec<PinChange>,
    keep_pins: bool,
    exact: bool,
    /// Virtual ns when the script was sent, once it was.
    start_ns: Option<u64>,
    budgets: Budgets,
    /// What the machine's cycle budget stands for.
    cycle_budget_text: String,
    /// A fatal error seen: its description and the slices since.
    fatal: Option<(String, u32)>,
}

const FAULT_EXCEPTIONS: [(u32, &str); 5] = [
    (3, "HardFault"),
    (4, "MemManage"),
    (5, "BusFault"),
    (6, "UsageFault"),
    (2, "NMI"),
];

impl Driver {
    fn step(&mut self) -> Option<Stop> {
        let r = self.s.step();
        if let Some(reset) = self.s.watchdog_resets.first() {
            return Some(Stop::Watchdog(*reset));
        }
        let out = self.s.take_output();
        let quiet = out.is_empty();
        // The new output with the end of the one before, for markers split by a slice.
        let mut scan = std::mem::take(&mut self.recent);
        scan.extend_from_slice(&out);
        self.pending.extend_from_slice(&out);
        if let Some(o) = r {
            if o == Outcome::Budget {
                return Some(Stop::Budget(self.cycle_budget_text.clone()));
            }
            return Some(Stop::Outcome(o));
        }
        if let Some((what, n)) = &mut self.fatal {
            *n += 1;
            if quiet || *n >= FATAL_SLICES {
                return Some(Stop::Fatal(what.clone()));
            }
        } else if let Some(what) = self.fatal_state(&scan) {
            self.fatal = Some((what, 0));
        }
        self.recent = scan[scan.len().saturating_sub(32)..].to_vec();
        if let (Some(start), Some(max)) = (self.start_ns, self.budgets.max_ns) {
            if self.s.virtual_ns().saturating_sub(start) >= max {
                return Some(Stop::Budget(self.budgets.max_time_text.clone()));
            }
        }
        None
    }

    /// A fault exception active, or the firmware's fatal error text in new output.
    fn fatal_state(&mut self, new: &[u8]) -> Option<String> {
        let active = self.s.machine.with_core(|st| {
            FAULT_EXCEPTIONS
                .iter()
                .find(|(exc, _)| st.scs.is_active(*exc))
                .map(|(_, name)| name.to_string())
        });
        if active.is_some() {
            return active;
        }
        for marker in [&b"FATAL ERROR:"[..], b"FATAL: uncaught exception"] {
            if find(new, marker).is_some() {
                return Some(
                    String::from_utf8_lossy(marker)
                        .trim_end_matches(':')
                        .to_string(),
                );
            }
        }
        None
    }

    fn describe_fatal(&mut self, what: &str, output: &[u8]) -> String {
        let (cfsr, hfsr, bfar, mmfar) = self
            .s
            .machine
            .with_core(|st| (st.scs.cfsr, st.scs.hfsr, st.scs.bfar, st.scs.mmfar));
        let mut s = String::new();
        if FAULT_EXCEPTIONS.iter().any(|(_, n)| *n == what) {
            s.push_str(&format!(
                "guest fault: the firmware's {what} handler ran; it printed its report (in the output) and sleeps for good\n"
            ));
            s.push_str(&format!(
                "  CFSR = {cfsr:#010x}  HFSR = {hfsr:#010x}  BFAR = {bfar:#010x}  MMFAR = {mmfar:#010x}\n"
            ));
            for d in decode_fault_status(cfsr, hfsr) {
                s.push_str(&format!("  - {d}\n"));
            }
        } else {
            s.push_str(&format!(
                "guest fault: the firmware stopped with \"{what}\" (its report is in the output)\n"
            ));
        }
        // The stacked PC and LR the firmware printed, with symbol names.
        let text = String::from_utf8_lossy(output).into_owned();
        for reg in ["PC", "LR"] {
            let key = format!("  {reg} 0x");
            if let Some(line) = text.lines().find(|l| l.starts_with(&key)) {
                let hex = line[key.len()..].split_whitespace().next().unwrap_or("");
                if let Ok(a) = u32::from_str_radix(hex, 16) {
                    let name = match self.s.image.symbols.lookup(a) {
                        Some((n, off)) => format!(" {n}+{off:#x}"),
                        None => String::new(),
                    };
                    s.push_str(&format!(
                        "  stacked {} = {a:#010x}{name}\n",
                        reg.to_lowercase()
                    ));
                }
            }
        }
        s.push_str(&format!("  stopped at cycle {}\n", self.s.machine.now()));
        s
    }
}

fn find(hay: &[u8], pat: &[u8]) -> Option<usize> {
    if pat.is_empty() || hay.len() < pat.len() {
        return None;
    }
    hay.windows(pat.len()).position(|w| w == pat)
}

/// The console ports of a session: its REPL UART, else the console device and USB.
fn is_console(port: ConsolePort, repl_uart: Option<u8>) -> bool {
    match (repl_uart, port) {
        (Some(n), ConsolePort::Uart(m)) => n == m,
        (Some(_), _) => false,
        (None, ConsolePort::Device | ConsolePort::Usb) => true,
        (None, ConsolePort::Uart(_)) => false,
    }
}

/// Boots a board made from `cfg` and runs `script` on it, with the scenario and trace
/// files of `extras`.
pub fn run_test(
    cfg: &SessionConfig,
    script: &[u8],
    budgets: &Budgets,
    extras: &Extras,
) -> RunResult {
    let mut result = RunResult {
        end: End::Done,
        output: Vec::new(),
        cycles: None,
        cycles_exact: false,
        board_ns: 0,
        fault: None,
        stop_cycle: 0,
        scenario: None,
        scenario_note: None,
        write_error: None,
    };
    let mut cfg = cfg.clone();
    cfg.max_cycles = None;
    cfg.max_ns = None;
    let mut session = match Session::new(&cfg) {
        Ok(s) => s,
        Err(e) => {
            result.end = End::Error(e.to_string());
            return result;
        }
    };
    let mut plan = extras.plan.clone();
    if let Err(e) = plan.resolve(&session.board) {
        result.end = End::Error(e);
        return result;
    }
    let trace = session.machine.trace_console();
    let needs_pins = extras.vcd.is_some() || plan.steps.iter().any(|p| p.step.uses_pins());
    let pins = needs_pins.then(|| session.machine.trace_pins());
    let dac =
        (extras.vcd.is_some() || extras.dac_trace.is_some()).then(|| session.machine.trace_dac());
    let mut d = Driver {
        s: session,
        pending: Vec::new(),
        recent: Vec::new(),
        trace,
        repl_uart: cfg.repl_uart,
        pins,
        all_pins: Vec::new(),
        keep_pins: extras.vcd.is_some(),
        exact: true,
        start_ns: None,
        budgets: budgets.clone(),
        cycle_budget_text: format!(
            "the firmware did not reach its REPL within {BOOT_CYCLES} cycles"
        ),
        fatal: None,
    };
    // A watchdog reset ends the test with its own report (no stderr line per job).
    d.s.report_resets = false;
    d.s.machine.set_budget(BOOT_CYCLES);
    let mut st = DriveState {
        repl: RawRepl::new(script, false),
        armed: false,
        console: Vec::new(),
        uart: Vec::new(),
        t_ok: None,
        ok_end: 0,
        fed: 0,
        runner: None,
        plan: Some(plan),
        script_end: None,
    };
    let r = drive(&mut d, &mut st, &mut result);
    if let Some(runner) = st.runner.as_ref().filter(|r| r.progress().0 > 0) {
        result.scenario = Some(runner.progress());
    } else if let Some(p) = &st.plan {
        if !p.steps.is_empty() {
            result.scenario = Some((p.steps.len(), 0));
        }
    }
    match r {
        Ok(end) => result.end = end,
        Err(stop) => {
            // Whatever the firmware printed after the stop belongs to the output.
            result.output.append(&mut d.pending);
            result.scenario_note = st.runner.as_ref().and_then(Runner::current);
            match stop {
                Stop::Outcome(Outcome::Fault(rep)) => {
                    result.end = End::Fault;
                    result.fault = Some(d.s.describe_fault(&rep));
                }
                Stop::Outcome(Outcome::Exit(c)) => result.end = End::Exit(c),
                Stop::Outcome(Outcome::Halted) => result.end = End::Halted,
                Stop::Outcome(Outcome::Budget) => {
                    result.end = End::Budget(d.cycle_budget_text.clone())
                }
                Stop::Outcome(Outcome::Done | Outcome::Exception) => result.end = End::Done,
                // Only `Session::run_script` reports this; the test driver steps itself.
                Stop::Outcome(Outcome::WatchdogReset(k)) => {
                    result.end = End::Error(format!("watchdog reset ({k:?})"))
                }
                Stop::Fatal(what) => {
                    result.end = End::Fault;
                    result.fault = Some(d.describe_fatal(&what, &result.output));
                }
                Stop::Budget(which) => result.end = End::Budget(which),
                Stop::Watchdog(r) => {
                    result.end = End::WatchdogReset(format!(
                        "watchdog reset ({:?}) at {} s of board time: the board restarted \
                         during the test",
                        r.kind,
                        crate::session::fmt_secs(r.ns)
                    ))
                }
            }
            if let (Some(t), None) = (st.t_ok, st.script_end) {
                result.cycles = Some(d.s.machine.now().saturating_sub(t));
            }
        }
    }
    result.board_ns = d.s.virtual_ns();
    result.stop_cycle = d.s.machine.now();
    result.write_error = write_traces(&mut d, extras, dac.as_ref());
    result
}

/// Writes the test's VCD and DAC trace files, if it asked for them.
fn write_traces(d: &mut Driver, extras: &Extras, dac: Option<&DacTrace>) -> Option<String> {
    if let Some(p) = &d.pins {
        d.all_pins.extend(p.take());
    }
    let dac = dac.map(|t| t.take()).unwrap_or_default();
    let clocks = d.s.machine.clock_history();
    if let Some((path, opts)) = &extras.vcd {
        let opts = VcdOptions {
            end: Some(d.s.machine.now()),
            ..*opts
        };
        if let Err(e) = crate::vcd::write_with(path, &d.all_pins, &dac, &clocks, &d.s.board, opts) {
            return Some(format!("vcd {e}"));
        }
    }
    if let Some(path) = &extras.dac_trace {
        if let Err(e) = crate::vcd::write_dac_csv(path, &dac, &clocks) {
            return Some(format!("dac-trace {e}"));
        }
    }
    None
}

/// Where the cycles of a run that ran out of budget went: the same run again (it is
/// deterministic) with the profiler watching and a cycle budget at the cycle the first
/// run stopped at; the profiler's table of the top `top` functions.
pub fn profile_overrun(cfg: &SessionConfig, script: &[u8], stop_cycle: u64, top: usize) -> String {
    let mut cfg = cfg.clone();
    cfg.max_cycles = Some(stop_cycle);
    cfg.max_ns = None;
    let mut session = match Session::new(&cfg) {
        Ok(s) => s,
        Err(e) => return format!("(no profile: {e})\n"),
    };
    let opts = crate::profile::ProfileOpts {
        top,
        ..Default::default()
    };
    match crate::profile::profile_run(&mut session, script, &opts, &mut std::io::sink()) {
        Ok((_, report)) => format!(
            "where the cycles went (the same run again under the profiler, boot included):\n{}",
            report.summary(top)
        ),
        Err(e) => format!("(no profile: {e})\n"),
    }
}

/// Where the script and its scenario stand.
struct DriveState {
    repl: RawRepl,
    /// The script was sent: console bytes count from here.
    armed: bool,
    /// Console bytes since the script was sent, with their cycles.
    console: Vec<(u64, u8)>,
    /// Bytes of other UARTs since then: (cycle, UART, byte).
    uart: Vec<(u64, u8, u8)>,
    /// The cycle of the raw REPL's "OK", and the index in `console` after it.
    t_ok: Option<u64>,
    ok_end: usize,
    /// Console bytes given to the scenario so far.
    fed: usize,
    runner: Option<Runner>,
    /// The plan until the script starts.
    plan: Option<Plan>,
    /// How the script ended, once it did (the scenario may go on).
    script_end: Option<End>,
}

fn find_timed(hay: &[(u64, u8)], pat: &[u8]) -> Option<usize> {
    hay.windows(pat.len())
        .position(|w| w.iter().map(|x| x.1).eq(pat.iter().copied()))
}

fn drive(d: &mut Driver, st: &mut DriveState, result: &mut RunResult) -> Result<End, Stop> {
    loop {
        let before = st.repl.phase();
        let got = std::mem::take(&mut d.pending);
        let f = st.repl.feed(&got);
        if st.script_end.is_none() {
            result.output.extend_from_slice(&f.stdout);
            result.output.extend_from_slice(&f.stderr);
        }
        let now = st.repl.phase();
        if before == Phase::WaitRaw && now != before {
            // The raw REPL is up and the script goes now: from here on the budgets count.
            d.trace.take();
            st.armed = true;
            d.start_ns = Some(d.s.virtual_ns());
            d.s.machine.set_budget(u64::MAX);
            d.cycle_budget_text = String::new();
        }
        if !f.send.is_empty() {
            d.s.console_input(&f.send);
        }
        // The console bytes that left the board since the last round.
        for (c, port, b) in d.trace.take() {
            if !st.armed {
                continue;
            }
            if is_console(port, d.repl_uart) {
                st.console.push((c, b));
            }
            // A UART's lines, the REPL's UART included.
            if let ConsolePort::Uart(n) = port {
                st.uart.push((c, n, b));
            }
        }
        if st.t_ok.is_none()
            && matches!(before, Phase::WaitRaw | Phase::WaitOk)
            && !matches!(now, Phase::WaitRaw | Phase::WaitOk)
        {
            // The raw REPL accepted the script: its cycles count from its "OK".
            let t = match find_timed(&st.console, b"OK") {
                Some(i) => {
                    st.ok_end = i + 2;
                    st.console[i].0
                }
                None => {
                    d.exact = false;
                    st.ok_end = st.console.len();
                    d.s.machine.now()
                }
            };
            st.t_ok = Some(t);
            if let Some(max) = d.budgets.max_cycles {
                d.s.machine.set_budget(t.saturating_add(max));
                d.cycle_budget_text = format!("max-cycles {}", super::group(max));
            }
            if let Some(plan) = st.plan.take() {
                if !plan.is_empty() {
                    let map = ClockMap::new(&d.s.machine.clock_history());
                    let deadline = match (d.start_ns, d.budgets.max_ns) {
                        (Some(s), Some(m)) => Some(s + m),
                        _ => None,
                    };
                    st.runner = Some(Runner::new(plan, map.ns(t), deadline));
                }
            }
        }
        // The scenario sees what the board did up to now.
        if let Some(runner) = &mut st.runner {
            let t_ok = st.t_ok.unwrap_or(0);
            let map = ClockMap::new(&d.s.machine.clock_history());
            let from = st.fed.max(st.ok_end);
            for &(c, b) in &st.console[from.min(st.console.len())..] {
                runner.console_byte(map.ns(c), b);
            }
            st.fed = st.console.len();
            for (c, n, b) in st.uart.drain(..) {
                if c >= t_ok {
                    runner.uart_byte(n, map.ns(c), b);
                }
            }
            if let Some(p) = &d.pins {
                let changes = p.take();
                for &(c, port, pin, level) in &changes {
                    runner.pin(map.ns(c), port, pin, level);
                }
                if d.keep_pins {
                    d.all_pins.extend(changes);
                }
            }
            match runner.advance(d.s.virtual_ns()) {
                Ok(actions) => {
                    for (t, ev) in actions {
                        d.s.add_stimulus(t, ev);
                    }
                }
                Err(fail) => return Ok(End::Scenario(fail)),
            }
        } else {
            if st.t_ok.is_some() {
                // No scenario: nobody reads the other UARTs.
                st.uart.clear();
            }
            if let (Some(p), true) = (&d.pins, d.keep_pins) {
                d.all_pins.extend(p.take());
            }
        }
        if st.script_end.is_none() {
            if let Some(end) = st.repl.end() {
                let t = st.t_ok.unwrap_or(0);
                // The final EOT: the second after the OK.
                let eot = st.console[st.ok_end.min(st.console.len())..]
                    .iter()
                    .filter(|x| x.1 == 0x04)
                    .nth(1)
                    .map(|x| x.0);
                let t_end = match eot {
                    Some(c) => c,
                    None => {
                        d.exact = false;
                        d.s.machine.now()
                    }
                };
                let cycles = t_end.saturating_sub(t);
                result.cycles = Some(cycles);
                result.cycles_exact = d.exact;
                if let Some(max) = d.budgets.max_cycles {
                    if cycles > max {
                        return Ok(End::Budget(format!("max-cycles {}", super::group(max))));
                    }
                }
                st.script_end = Some(match end {
                    ScriptEnd::Done => End::Done,
                    ScriptEnd::Exception => End::Exception,
                });
                // The scenario may go on: the board runs on in its raw REPL.
                d.s.machine.set_budget(u64::MAX);
            }
        }
        if let Some(end) = &st.script_end {
            match &st.runner {
                Some(r) if !r.finished() => {}
                Some(r) => {
                    let out = super::report::normalise(&result.output);
                    return Ok(match r.missing_text(&out) {
                        Some(fail) => End::Scenario(fail),
                        None => end.clone(),
                    });
                }
                None => return Ok(end.clone()),
            }
        }
        if let Some(stop) = d.step() {
            return Err(stop);
        }
    }
}
