//! Runs one test script on a freshly booted board and measures its cycles.
//!
//! The protocol is the one of [`Session::run_script`] (friendly prompt, Ctrl-A, the
//! script and Ctrl-D, "OK", stdout up to EOT, the exception text up to EOT), driven here
//! slice by slice so the runner can also stop a board whose firmware reported a fault
//! and went to sleep forever, and apply budgets that count from the script's start.
//!
//! Counted cycles: from the moment the firmware writes the raw REPL's "OK" (it has read
//! the whole script and starts compiling it) to the moment it writes the final EOT
//! (after the script's output and its traceback, if any). Both moments are taken
//! exactly, at the entry of the firmware's `mp_hal_stdout_tx_strn`, by a block
//! observer; boot time, the transfer of the script and the slice boundaries do not
//! move the count. A firmware without that symbol is measured at slice boundaries
//! (100 000 cycles) instead, and the result says so.

use std::cell::RefCell;
use std::rc::Rc;

use crate::core::cpu::{CpuRef, Reg};
use crate::core::{decode_fault_status, Observer};
use crate::session::raw_repl::{Phase, RawRepl, ScriptEnd};
use crate::session::{Outcome, Session, SessionConfig};

/// Cycles the firmware may take to reach its REPL prompt.
pub const BOOT_CYCLES: u64 = 1_680_000_000;

/// Slices a firmware that reported a fatal error may go on printing before it is
/// stopped.
const FATAL_SLICES: u32 = 50;

/// The firmware function every console write goes through.
const TX_SYMBOL: &str = "mp_hal_stdout_tx_strn";

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
}

/// Console writes with their virtual time, shared by the observer and the driver.
type TxLog = Rc<RefCell<Vec<(u64, Vec<u8>)>>>;

/// Timestamps of console writes, taken at the entry of the firmware's TX function.
struct TxClock {
    entry: u32,
    log: TxLog,
}

impl Observer for TxClock {
    fn wants_blocks(&self) -> bool {
        true
    }

    fn block(&mut self, cpu: &CpuRef, addr: u32, _cycles: u64, now: u64) {
        if addr != self.entry {
            return;
        }
        let len = cpu.reg(Reg::R1).min(256) as usize;
        let mut buf = vec![0u8; len];
        if cpu.read_mem(cpu.reg(Reg::R0), &mut buf).is_err() {
            buf.clear();
        }
        self.log.borrow_mut().push((now, buf));
    }
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
    log: TxLog,
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

    /// Time of the first logged write that is exactly `bytes`.
    fn first_write(&self, bytes: &[u8]) -> Option<u64> {
        self.log
            .borrow()
            .iter()
            .find(|(_, b)| b == bytes)
            .map(|(t, _)| *t)
    }

    /// Time of the last logged write that contains `byte`.
    fn last_write_with(&self, byte: u8) -> Option<u64> {
        self.log
            .borrow()
            .iter()
            .rev()
            .find(|(_, b)| b.contains(&byte))
            .map(|(t, _)| *t)
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

/// Boots a board made from `cfg` and runs `script` on it.
pub fn run_test(cfg: &SessionConfig, script: &[u8], budgets: &Budgets) -> RunResult {
    let mut result = RunResult {
        end: End::Done,
        output: Vec::new(),
        cycles: None,
        cycles_exact: false,
        board_ns: 0,
        fault: None,
        stop_cycle: 0,
    };
    let mut cfg = cfg.clone();
    cfg.max_cycles = None;
    cfg.max_ns = None;
    let session = match Session::new(&cfg) {
        Ok(s) => s,
        Err(e) => {
            result.end = End::Error(e.to_string());
            return result;
        }
    };
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut d = Driver {
        s: session,
        pending: Vec::new(),
        recent: Vec::new(),
        log: log.clone(),
        exact: false,
        start_ns: None,
        budgets: budgets.clone(),
        cycle_budget_text: format!(
            "the firmware did not reach its REPL within {BOOT_CYCLES} cycles"
        ),
        fatal: None,
    };
    let mut watch = None;
    if let Some(sym) = d.s.image.symbols.by_name(TX_SYMBOL) {
        let entry = sym.addr & !1;
        watch = Some(
            d.s.machine
                .attach_observer(Box::new(TxClock { entry, log })),
        );
        d.exact = true;
    }
    // A watchdog reset ends the test with its own report (no stderr line per job).
    d.s.report_resets = false;
    d.s.machine.set_budget(BOOT_CYCLES);
    let mut t_ok = None;
    let r = drive(&mut d, script, &mut result, &mut t_ok);
    match r {
        Ok(end) => result.end = end,
        Err(stop) => {
            // Whatever the firmware printed after the stop belongs to the output.
            result.output.append(&mut d.pending);
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
            if let Some(t) = t_ok {
                result.cycles = Some(d.s.machine.now().saturating_sub(t));
            }
        }
    }
    // Stop observing before the session goes.
    if let Some(id) = watch {
        d.s.machine.detach_observer(id);
    }
    result.board_ns = d.s.virtual_ns();
    result.stop_cycle = d.s.machine.now();
    result
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

fn drive(
    d: &mut Driver,
    script: &[u8],
    result: &mut RunResult,
    t_ok: &mut Option<u64>,
) -> Result<End, Stop> {
    let mut repl = RawRepl::new(script, false);
    loop {
        let before = repl.phase();
        let got = std::mem::take(&mut d.pending);
        let f = repl.feed(&got);
        result.output.extend_from_slice(&f.stdout);
        result.output.extend_from_slice(&f.stderr);
        let now = repl.phase();
        if before == Phase::WaitRaw && now != before {
            // The raw REPL is up and the script goes now: from here on the budgets count.
            d.log.borrow_mut().clear();
            d.start_ns = Some(d.s.virtual_ns());
            d.s.machine.set_budget(u64::MAX);
            d.cycle_budget_text = String::new();
        }
        if !f.send.is_empty() {
            d.s.console_input(&f.send);
        }
        if matches!(before, Phase::WaitRaw | Phase::WaitOk)
            && !matches!(now, Phase::WaitRaw | Phase::WaitOk)
        {
            // The raw REPL accepted the script: its cycles count from its "OK".
            let t = match d.first_write(b"OK") {
                Some(t) if d.exact => t,
                _ => {
                    d.exact = false;
                    d.s.machine.now()
                }
            };
            *t_ok = Some(t);
            if let Some(max) = d.budgets.max_cycles {
                d.s.machine.set_budget(t.saturating_add(max));
                d.cycle_budget_text = format!("max-cycles {}", super::group(max));
            }
        }
        if let Some(end) = repl.end() {
            let t = t_ok.unwrap_or(0);
            let t_end = match d.last_write_with(0x04) {
                Some(t) if d.exact => t,
                _ => {
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
            return Ok(match end {
                ScriptEnd::Done => End::Done,
                ScriptEnd::Exception => End::Exception,
            });
        }
        if let Some(stop) = d.step() {
            return Err(stop);
        }
    }
}
