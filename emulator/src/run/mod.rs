//! `pybsim run`: a board session driven from the command line. The script goes through
//! the raw REPL and its output to stdout; without a script the console is served on
//! stdio, a pty or TCP ([`serial`]). Exit statuses are in [`exit`] (and README.md).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;

pub mod serial;

use crate::session::{self, Outcome, Session, SessionConfig, SessionError};
use exit::*;

/// Exit statuses of `pybsim run` (also in README.md).
pub mod exit {
    pub const EXIT_OK: u8 = 0;
    pub const EXIT_EXCEPTION: u8 = 1;
    pub const EXIT_FAULT: u8 = 2;
    pub const EXIT_BUDGET: u8 = 3;
    pub const EXIT_WATCHDOG: u8 = 4;
    pub const EXIT_USAGE: u8 = 64;
    pub const EXIT_DATAERR: u8 = 65;
    pub const EXIT_NOINPUT: u8 = 66;
    /// An error inside pybsim itself.
    pub const EXIT_SOFTWARE: u8 = 70;
    /// A file pybsim had to write (the SD card image, a trace) could not be written.
    pub const EXIT_IOERR: u8 = 74;
}

/// The run's result, and whether saving the SD card worked: a failed save is never
/// lost. After a run that failed itself, the save's failure is reported on stderr and the
/// run's status stays; after a run that went well, it is the error (status 74).
fn with_save(run: Result<u8, Fail>, saved: Result<bool, SessionError>) -> Result<u8, Fail> {
    match (run, saved) {
        (run, Ok(_)) => run,
        (Ok(_), Err(e)) => Err(fail(EXIT_IOERR, e)),
        (Err(f), Err(e)) => {
            eprintln!("pybsim: {e}");
            Err(f)
        }
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A MicroPython script to run; a .elf/.bin/.hex/.dfu here is taken as the firmware.
    pub script: Option<PathBuf>,
    /// Board: pybv11, pybv10 or a RON board file.
    #[arg(long, default_value = "pybv11")]
    pub board: String,
    /// Firmware image (ELF, BIN, Intel HEX or DfuSe); default: pybsim's own runtime.
    #[arg(long)]
    pub firmware: Option<PathBuf>,
    /// Where the console goes: stdio, pty or tcp:PORT.
    #[arg(long, default_value = "stdio")]
    pub serial: String,
    /// Host directory copied into the board's flash filesystem before boot.
    #[arg(long)]
    pub fs: Option<PathBuf>,
    /// Stop after this many CPU cycles (exit status 3).
    #[arg(long, value_parser = parse_count)]
    pub max_cycles: Option<u64>,
    /// Stop after this much virtual time, e.g. 2s, 500ms (exit status 3).
    #[arg(long)]
    pub max_time: Option<String>,
    /// Join two pins, e.g. Y1:Y2 (repeatable).
    #[arg(long = "wire")]
    pub wires: Vec<String>,
    /// Stimuli file (RON): switch presses, pin levels, UART and console input, analog
    /// voltages and acceleration in time.
    #[arg(long)]
    pub stimuli: Option<PathBuf>,
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, default_value = "warn")]
    pub log: String,
    /// Write a Value Change Dump of the GPIO pins and LEDs in virtual time (1-bit wires
    /// only, as sigrok/PulseView read them).
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    /// In the --vcd dump, add the exact cycle count (64-bit `cycle`) and write the DAC
    /// outputs as 12-bit vectors (GTKWave, Surfer; libsigrok 0.5 cannot read vectors).
    #[arg(long, requires = "vcd")]
    pub vcd_vectors: bool,
    /// Write every DAC output sample as CSV: cycle,time_ns,channel,code.
    #[arg(long)]
    pub dac_trace: Option<PathBuf>,
    /// Show the board in the terminal: LEDs, pins, console, clock.
    #[arg(long)]
    pub tui: bool,
    /// Carry the console on U(S)ART n (1-6): for firmware whose REPL is on USB, such as
    /// the official MicroPython builds (a boot.py line moves the REPL there).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6))]
    pub repl_uart: Option<u8>,
    /// The console without --repl-uart: auto (the pybsim console device and a USB host
    /// on the board's USB connector, whichever the firmware uses), console (the console
    /// device only) or usb (USB CDC only, through the USB host model).
    #[arg(long, default_value = "auto", value_parser = parse_repl)]
    pub repl: session::Repl,
    /// Seed of the board's random number generator (pyb.rng, os.urandom): every run
    /// with the same seed gives the same numbers.
    #[arg(long, value_parser = parse_count)]
    pub rng_seed: Option<u64>,
    /// Put a micro SD card holding this image (raw, a whole number of 512-byte blocks)
    /// in the slot; what the firmware writes is saved back to the file at exit.
    #[arg(long)]
    pub sd: Option<PathBuf>,
}

fn parse_repl(s: &str) -> Result<session::Repl, String> {
    use session::Repl;
    match s {
        "auto" => Ok(Repl::Auto),
        "console" => Ok(Repl::Console),
        "usb" => Ok(Repl::Usb),
        _ => Err(format!("{s:?} is not a console: auto, console or usb")),
    }
}

pub fn parse_count(s: &str) -> Result<u64, String> {
    s.replace('_', "")
        .parse::<u64>()
        .map_err(|e| format!("{s:?} is not a cycle count: {e}"))
}

/// An error that carries its exit status.
#[derive(Debug)]
pub struct Fail(pub u8, pub anyhow::Error);

pub fn fail(code: u8, e: impl Into<anyhow::Error>) -> Fail {
    Fail(code, e.into())
}

pub fn init_logging(level: &str) -> Result<(), Fail> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|e| fail(EXIT_USAGE, anyhow!("--log {level}: {e}")))?;
    // Colours only on a terminal: a log piped to a file or a CI report stays plain.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
    Ok(())
}

fn is_firmware(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("elf" | "bin" | "hex" | "ihex" | "dfu")
    )
}

/// `pybsim run` (and `pybsim profile` with `profile` set): boots the board, runs the
/// script or serves the console, writes the traces asked for; returns the exit status.
pub fn main(mut a: RunArgs, profile: Option<crate::profile::ProfileOpts>) -> Result<u8, Fail> {
    init_logging(&a.log)?;
    // A time budget in seconds counts board time at whatever clock the board runs; one
    // in cycles is a cycle budget.
    let mut max_ns = None;
    if let Some(t) = &a.max_time {
        match pybsim_boards::parse_duration(t)
            .map_err(|e| fail(EXIT_USAGE, anyhow!("--max-time: {e}")))?
        {
            pybsim_boards::SimTime::Nanos(ns) => max_ns = Some(ns),
            pybsim_boards::SimTime::Cycles(c) => {
                a.max_cycles = Some(a.max_cycles.map_or(c, |m| m.min(c)));
            }
        }
    }
    if let Some(s) = &a.script {
        if is_firmware(s) {
            if a.firmware.is_some() {
                return Err(fail(
                    EXIT_USAGE,
                    anyhow!(
                        "{} looks like firmware, but --firmware was given too",
                        s.display()
                    ),
                ));
            }
            a.firmware = a.script.take();
        }
    }
    let script = match &a.script {
        Some(p) => Some(
            std::fs::read(p).map_err(|e| fail(EXIT_NOINPUT, anyhow!("{}: {e}", p.display())))?,
        ),
        None => None,
    };
    let firmware = match &a.firmware {
        Some(f) => {
            for (p, _) in crate::session::firmware_parts(f) {
                if !p.exists() {
                    return Err(fail(EXIT_NOINPUT, anyhow!("{}: no such file", p.display())));
                }
            }
            f.clone()
        }
        None => firmware_path(false).map_err(|e| fail(EXIT_SOFTWARE, e))?,
    };
    for p in a.fs.iter().chain(a.stimuli.iter()).chain(a.sd.iter()) {
        if !p.exists() {
            return Err(fail(
                EXIT_NOINPUT,
                anyhow!("{}: no such file or directory", p.display()),
            ));
        }
    }
    let cfg = SessionConfig {
        board: a.board.clone(),
        firmware,
        fs: a.fs.clone(),
        wires: a.wires.clone(),
        stimuli: a.stimuli.clone(),
        max_cycles: a.max_cycles,
        max_ns,
        repl_uart: a.repl_uart,
        rng_seed: a.rng_seed,
        sd: a.sd.clone(),
        repl: a.repl,
    };
    let mut session = Session::new(&cfg).map_err(|e| {
        let code = match e {
            crate::session::SessionError::Wire(_) => EXIT_USAGE,
            crate::session::SessionError::Io(_) => EXIT_NOINPUT,
            _ => EXIT_DATAERR,
        };
        fail(code, e)
    })?;
    session.report_resets = !a.tui;
    let pin_trace = a.vcd.is_some().then(|| session.machine.trace_pins());
    let dac_trace = (a.vcd.is_some() || a.dac_trace.is_some()).then(|| session.machine.trace_dac());
    let code = (|| -> Result<u8, Fail> {
        Ok(if a.tui {
            crate::tui::run(&mut session, script.as_deref()).map_err(|e| fail(EXIT_SOFTWARE, e))?
        } else if let Some(opts) = &profile {
            let Some(script) = &script else {
                return Err(fail(EXIT_USAGE, anyhow!("pybsim profile needs a script")));
            };
            let mut out = CrLf(std::io::stdout(), false);
            let outcome = crate::profile::profile(&mut session, script, opts, &mut out)
                .map_err(|e| fail(EXIT_SOFTWARE, e))?;
            finish(&mut session, outcome, &cfg)
        } else if let Some(script) = script {
            if a.serial != "stdio" {
                return Err(fail(
                    EXIT_USAGE,
                    anyhow!(
                        "--serial {} takes no script: the console is the REPL",
                        a.serial
                    ),
                ));
            }
            let mut out = CrLf(std::io::stdout(), false);
            let outcome = session
                .run_script(&script, &mut out)
                .map_err(|e| script_error(&a, e))?;
            finish(&mut session, outcome, &cfg)
        } else {
            serial::serve(&mut session, &a.serial, &cfg)?
        })
    })();
    // The card's image goes back to its file however the run ended.
    let code = with_save(code, session.save_sd())?;
    let dac = dac_trace.map(|t| t.take()).unwrap_or_default();
    if let Some(path) = &a.vcd {
        let trace = pin_trace.map(|t| t.take()).unwrap_or_default();
        let clocks = session.machine.clock_history();
        let opts = crate::vcd::VcdOptions {
            vectors: a.vcd_vectors,
            end: Some(session.machine.now()),
        };
        crate::vcd::write_with(path, &trace, &dac, &clocks, &session.board, opts)
            .map_err(|e| fail(EXIT_IOERR, e))?;
    }
    if let Some(path) = &a.dac_trace {
        let clocks = session.machine.clock_history();
        crate::vcd::write_dac_csv(path, &dac, &clocks).map_err(|e| fail(EXIT_IOERR, e))?;
    }
    Ok(code)
}

/// An error of the raw-REPL exchange: a script that is not text is bad input (65); a
/// firmware that never shows its REPL is the guest's failure (2).
fn script_error(a: &RunArgs, e: std::io::Error) -> Fail {
    let name = a
        .script
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match e.kind() {
        std::io::ErrorKind::InvalidData => fail(EXIT_DATAERR, anyhow!("{name}: {e}")),
        std::io::ErrorKind::TimedOut => fail(EXIT_FAULT, anyhow!("{e}")),
        _ => fail(EXIT_SOFTWARE, e),
    }
}

/// Writes the board's CR LF line ends as LF, as a host command's output should be.
struct CrLf<W: Write>(W, bool);

impl<W: Write> Write for CrLf<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len());
        for &b in buf {
            if self.1 && b != b'\n' {
                out.push(b'\r');
            }
            self.1 = b == b'\r';
            if !self.1 {
                out.push(b);
            }
        }
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn finish(session: &mut Session, outcome: Outcome, cfg: &SessionConfig) -> u8 {
    // Whatever the firmware printed that no step consumed is still its output (after a
    // normal end it is only the raw REPL's prompt).
    let rest = session.take_output();
    if !matches!(outcome, Outcome::Done | Outcome::Exception) {
        let _ = std::io::stdout().write_all(&rest);
    }
    let _ = std::io::stdout().flush();
    match outcome {
        Outcome::Done => EXIT_OK,
        Outcome::Exception => EXIT_EXCEPTION,
        Outcome::Fault(r) => {
            eprint!("{}", session.describe_fault(&r));
            EXIT_FAULT
        }
        Outcome::Budget => {
            let ns = session.virtual_ns();
            let what = match (cfg.max_cycles, cfg.max_ns) {
                (Some(c), _) if session.machine.now() >= c => format!("--max-cycles {c}"),
                _ => format!("--max-time {}", cfg.max_ns.map(fmt_ns).unwrap_or_default()),
            };
            eprintln!(
                "pybsim: budget exceeded ({what}): stopped at cycle {} ({} of virtual time)",
                session.machine.now(),
                fmt_ns(ns)
            );
            EXIT_BUDGET
        }
        Outcome::Exit(c) => c.clamp(0, 255) as u8,
        Outcome::WatchdogReset(kind) => {
            eprintln!(
                "pybsim: the script was interrupted by a watchdog reset ({kind:?}); \
                 the board booted again (output above)"
            );
            EXIT_WATCHDOG
        }
        Outcome::Halted => {
            eprintln!(
                "pybsim: the CPU sleeps (WFI) with interrupts it could wake on all disabled: halted at cycle {}",
                session.machine.now()
            );
            EXIT_FAULT
        }
    }
}

fn fmt_ns(ns: u64) -> String {
    if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{:.6}s", ns as f64 / 1e9)
    }
}

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The default firmware: $PYBSIM_FIRMWARE, else the runtime built by
/// scripts/build-firmware.sh (built now if missing).
pub fn firmware_path(rebuild: bool) -> Result<PathBuf> {
    if !rebuild || std::env::var_os("PYBSIM_FIRMWARE").is_some() {
        if let Some(p) = crate::session::default_firmware() {
            return Ok(p);
        }
    }
    let repo = repo_dir();
    let elf = repo.join(".cache/firmware/firmware.elf");
    let script = repo.join("scripts/build-firmware.sh");
    eprintln!(
        "pybsim: building the default firmware ({})",
        script.display()
    );
    let st = std::process::Command::new("bash")
        .arg(&script)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !st.success() || !elf.exists() {
        bail!(
            "building the default firmware failed ({})",
            script.display()
        );
    }
    Ok(elf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save_failed() -> Result<bool, SessionError> {
        Err(SessionError::Io(std::io::Error::other("disk full")))
    }

    #[test]
    fn a_failed_save_is_reported_whatever_the_run_did() {
        // The run went well: the save's failure is the result.
        let r = with_save(Ok(EXIT_OK), save_failed());
        assert!(matches!(r, Err(Fail(EXIT_IOERR, _))), "{r:?}");
        // The run failed: its own status stays (the save error went to stderr).
        let r = with_save(Err(fail(EXIT_FAULT, anyhow!("no prompt"))), save_failed());
        assert!(matches!(r, Err(Fail(EXIT_FAULT, _))), "{r:?}");
        // A save that worked changes nothing.
        assert!(matches!(
            with_save(Ok(EXIT_BUDGET), Ok(true)),
            Ok(EXIT_BUDGET)
        ));
    }
}
