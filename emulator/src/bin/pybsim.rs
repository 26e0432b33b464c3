//! The `pybsim` command: run MicroPython firmware and scripts on an emulated Pyboard.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use pybsim::session::{Outcome, Session, SessionConfig};

/// Exit statuses (also in README.md).
const EXIT_OK: u8 = 0;
const EXIT_EXCEPTION: u8 = 1;
const EXIT_FAULT: u8 = 2;
const EXIT_BUDGET: u8 = 3;
const EXIT_WATCHDOG: u8 = 4;
const EXIT_USAGE: u8 = 64;
const EXIT_DATAERR: u8 = 65;
const EXIT_NOINPUT: u8 = 66;
const EXIT_SOFTWARE: u8 = 70;

#[derive(Parser)]
#[command(
    name = "pybsim",
    version,
    about = "Full-system emulator of the MicroPython Pyboard (STM32F405)",
    after_help = "Exit status of `run`: 0 script ended, 1 uncaught Python exception, \
                  2 guest fault, 3 budget exceeded, 4 a watchdog reset interrupted the \
                  script, 64 usage error, 65 bad input file, \
                  66 missing file."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot the board and run a script, or open its REPL.
    Run(Box<RunArgs>),
    /// Run `*.py` tests, each on a freshly booted board, against expected output and
    /// cycle snapshots.
    Test(pybsim::testrun::TestArgs),
    /// Run a script and report where the cycles went.
    Profile {
        #[command(flatten)]
        run: Box<RunArgs>,
        #[command(flatten)]
        opts: pybsim::profile::ProfileOpts,
    },
    /// List the built-in boards with their clocks, memories and pins.
    Boards,
    /// Make a raw SD card image (FAT) holding a copy of a host directory, for --sd.
    Sdimage {
        /// Host directory to copy into the image.
        dir: PathBuf,
        /// Image file to write.
        out: PathBuf,
        /// Image size: bytes, or with a K, M or G suffix (binary units), e.g. 32M;
        /// 64K to 32G (FAT12, FAT16 or FAT32 by size).
        #[arg(long, default_value = "32M")]
        size: String,
    },
    /// Read and write the filesystem in a flash image file without booting.
    Flash(pybsim::flashcmd::FlashArgs),
    /// Build (if needed) and locate the default firmware.
    Firmware {
        /// Rebuild even if the firmware exists.
        #[arg(long)]
        rebuild: bool,
    },
}

#[derive(Args, Debug)]
struct RunArgs {
    /// A MicroPython script to run; a .elf/.bin/.hex/.dfu here is taken as the firmware.
    script: Option<PathBuf>,
    /// Board: pybv11, pybv10 or a RON board file.
    #[arg(long, default_value = "pybv11")]
    board: String,
    /// Firmware image (ELF, BIN, Intel HEX or DfuSe); default: pybsim's own runtime.
    #[arg(long)]
    firmware: Option<PathBuf>,
    /// Where the console goes: stdio, pty or tcp:PORT.
    #[arg(long, default_value = "stdio")]
    serial: String,
    /// Host directory copied into the board's flash filesystem before boot.
    #[arg(long)]
    fs: Option<PathBuf>,
    /// Stop after this many CPU cycles (exit status 3).
    #[arg(long, value_parser = parse_count)]
    max_cycles: Option<u64>,
    /// Stop after this much virtual time, e.g. 2s, 500ms (exit status 3).
    #[arg(long)]
    max_time: Option<String>,
    /// Join two pins, e.g. Y1:Y2 (repeatable).
    #[arg(long = "wire")]
    wires: Vec<String>,
    /// Stimuli file (RON): switch presses, pin levels, UART and console input, analog
    /// voltages and acceleration in time.
    #[arg(long)]
    stimuli: Option<PathBuf>,
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, default_value = "warn")]
    log: String,
    /// Write a Value Change Dump of the GPIO pins and LEDs in virtual time.
    #[arg(long)]
    vcd: Option<PathBuf>,
    /// Write every DAC output sample as CSV: cycle,time_ns,channel,code.
    #[arg(long)]
    dac_trace: Option<PathBuf>,
    /// Show the board in the terminal: LEDs, pins, console, clock.
    #[arg(long)]
    tui: bool,
    /// Carry the console on U(S)ART n (1-6): for firmware whose REPL is on USB, such as
    /// the official MicroPython builds (a boot.py line moves the REPL there).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6))]
    repl_uart: Option<u8>,
    /// The console without --repl-uart: auto (the pybsim console device and a USB host
    /// on the board's USB connector, whichever the firmware uses), console (the console
    /// device only) or usb (USB CDC only, through the USB host model).
    #[arg(long, default_value = "auto", value_parser = parse_repl)]
    repl: pybsim::session::Repl,
    /// Seed of the board's random number generator (pyb.rng, os.urandom): every run
    /// with the same seed gives the same numbers.
    #[arg(long, value_parser = parse_count)]
    rng_seed: Option<u64>,
    /// Put a micro SD card holding this image (raw, a whole number of 512-byte blocks)
    /// in the slot; what the firmware writes is saved back to the file at exit.
    #[arg(long)]
    sd: Option<PathBuf>,
}

fn parse_repl(s: &str) -> Result<pybsim::session::Repl, String> {
    use pybsim::session::Repl;
    match s {
        "auto" => Ok(Repl::Auto),
        "console" => Ok(Repl::Console),
        "usb" => Ok(Repl::Usb),
        _ => Err(format!("{s:?} is not a console: auto, console or usb")),
    }
}

fn parse_count(s: &str) -> Result<u64, String> {
    s.replace('_', "")
        .parse::<u64>()
        .map_err(|e| format!("{s:?} is not a cycle count: {e}"))
}

/// An error that carries its exit status.
#[derive(Debug)]
struct Fail(u8, anyhow::Error);

fn fail(code: u8, e: impl Into<anyhow::Error>) -> Fail {
    Fail(code, e.into())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let r = match cli.cmd {
        Cmd::Run(a) => run(*a, None),
        Cmd::Test(t) => pybsim::testrun::run(&t).map_err(|e| fail(EXIT_SOFTWARE, e)),
        Cmd::Profile { run: a, opts } => run(*a, Some(opts)),
        Cmd::Boards => boards().map_err(|e| fail(EXIT_SOFTWARE, e)),
        Cmd::Sdimage { dir, out, size } => sdimage(&dir, &out, &size),
        Cmd::Flash(a) => pybsim::flashcmd::main(&a).map_err(|f| fail(f.code, f.error)),
        Cmd::Firmware { rebuild } => firmware_path(rebuild)
            .map(|p| {
                println!("{}", p.display());
                EXIT_OK
            })
            .map_err(|e| fail(EXIT_SOFTWARE, e)),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, e)) => {
            eprintln!("pybsim: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn init_logging(level: &str) -> Result<(), Fail> {
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

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The default firmware: $PYBSIM_FIRMWARE, else the runtime built by
/// scripts/build-firmware.sh (built now if missing).
fn firmware_path(rebuild: bool) -> Result<PathBuf> {
    if !rebuild || std::env::var_os("PYBSIM_FIRMWARE").is_some() {
        if let Some(p) = pybsim::session::default_firmware() {
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

fn boards() -> Result<u8> {
    for name in pybsim_boards::Board::builtin_names() {
        let b = pybsim_boards::Board::builtin(name)?;
        println!("{name}: {} ({})", b.name, b.mcu.part);
        println!(
            "  clocks: HSE {} Hz, LSE {} Hz, CPU up to {} Hz",
            b.clocks.hse_hz, b.clocks.lse_hz, b.mcu.max_sysclk_hz
        );
        for m in &b.memories {
            println!(
                "  memory {:<13} {:#010x} {:>7} KiB",
                m.name,
                m.base,
                m.size / 1024
            );
        }
        let pins: Vec<String> = b
            .pins
            .iter()
            .map(|p| format!("{}={}", p.name, p.cpu))
            .collect();
        println!("  pins: {}", pins.join(" "));
        let leds: Vec<String> = b
            .leds
            .iter()
            .map(|l| format!("{} {:?} on {}", l.name, l.colour, l.pin))
            .collect();
        println!("  leds: {}", leds.join(", "));
        if let Some(s) = &b.switch {
            println!("  switch: {} on {} (active {:?})", s.name, s.pin, s.active);
        }
    }
    Ok(EXIT_OK)
}

/// `pybsim sdimage DIR OUT --size N`.
fn sdimage(dir: &Path, out: &Path, size: &str) -> Result<u8, Fail> {
    let t = size.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let bytes = num
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| fail(EXIT_USAGE, anyhow!("--size {size}: not a size such as 32M")))?;
    if !dir.exists() {
        return Err(fail(
            EXIT_NOINPUT,
            anyhow!("{}: no such directory", dir.display()),
        ));
    }
    pybsim_fsimage::check_sd_size(bytes)
        .map_err(|e| fail(EXIT_USAGE, anyhow!("--size {size}: {e}")))?;
    pybsim_fsimage::write_sd_image(dir, bytes, out).map_err(|e| match e {
        pybsim_fsimage::FsImageError::Save { .. } => fail(EXIT_SOFTWARE, e),
        _ => fail(EXIT_DATAERR, e),
    })?;
    Ok(EXIT_OK)
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

fn run(mut a: RunArgs, profile: Option<pybsim::profile::ProfileOpts>) -> Result<u8, Fail> {
    init_logging(&a.log)?;
    let max_ns = match &a.max_time {
        Some(t) => Some(
            pybsim_boards::parse_duration(t)
                .map_err(|e| fail(EXIT_USAGE, anyhow!("--max-time: {e}")))?
                .to_nanos(168_000_000),
        ),
        None => None,
    };
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
            for (p, _) in pybsim::session::firmware_parts(f) {
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
            pybsim::session::SessionError::Wire(_) => EXIT_USAGE,
            pybsim::session::SessionError::Io(_) => EXIT_NOINPUT,
            _ => EXIT_DATAERR,
        };
        fail(code, e)
    })?;
    session.report_resets = !a.tui;
    if a.vcd.is_some() {
        session.machine.sys().pin_trace = Some(Vec::new());
    }
    if a.vcd.is_some() || a.dac_trace.is_some() {
        session.machine.record_dac(true);
    }
    let code = (|| -> Result<u8, Fail> {
        Ok(if a.tui {
            pybsim::tui::run(&mut session, script.as_deref()).map_err(|e| fail(EXIT_SOFTWARE, e))?
        } else if let Some(opts) = &profile {
            let Some(script) = &script else {
                return Err(fail(EXIT_USAGE, anyhow!("pybsim profile needs a script")));
            };
            let mut out = CrLf(std::io::stdout(), false);
            let outcome = pybsim::profile::profile(&mut session, script, opts, &mut out)
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
            serve(&mut session, &a.serial, &cfg)?
        })
    })();
    // The card's image goes back to its file however the run ended.
    let saved = session.save_sd();
    let code = code?;
    saved.map_err(|e| fail(EXIT_SOFTWARE, e))?;
    let dac = session.machine.take_dac_samples();
    if let Some(path) = &a.vcd {
        let (trace, clocks) = {
            let mut s = session.machine.sys();
            let mut clocks = vec![(0, 16_000_000)];
            clocks.extend_from_slice(&s.clock_log);
            (s.pin_trace.take().unwrap_or_default(), clocks)
        };
        pybsim::vcd::write_with_dac(path, &trace, &dac, &clocks, &session.board)
            .map_err(|e| fail(EXIT_SOFTWARE, e))?;
    }
    if let Some(path) = &a.dac_trace {
        let mut clocks = vec![(0, 16_000_000)];
        clocks.extend_from_slice(&session.machine.sys().clock_log);
        pybsim::vcd::write_dac_csv(path, &dac, &clocks).map_err(|e| fail(EXIT_SOFTWARE, e))?;
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

/// A byte stream to and from the console: stdin/stdout, a pty, or a TCP client.
struct Link {
    rx: mpsc::Receiver<Option<Vec<u8>>>,
    tx: Box<dyn Write>,
    /// Interactive terminal: Ctrl-] or Ctrl-A X quit.
    escapes: bool,
}

fn spawn_reader(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    if tx.send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // A pty whose peer closed: wait for the next one.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    });
    rx
}

struct RawMode(bool);

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

fn open_link(serial: &str) -> Result<(Link, RawMode), Fail> {
    if serial == "stdio" {
        let tty = std::io::stdin().is_terminal();
        let raw = if tty {
            crossterm::terminal::enable_raw_mode()
                .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("raw terminal mode: {e}")))?;
            eprint!("pybsim: REPL on the console; Ctrl-] or Ctrl-A X quits\r\n");
            RawMode(true)
        } else {
            RawMode(false)
        };
        return Ok((
            Link {
                rx: spawn_reader(std::io::stdin()),
                tx: Box::new(std::io::stdout()),
                escapes: tty,
            },
            raw,
        ));
    }
    if serial == "pty" {
        let pty = nix::pty::openpty(None, None)
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("opening a pty: {e}")))?;
        let master = std::fs::File::from(pty.master);
        // Raw mode on our side so bytes pass untouched.
        if let Ok(mut t) = nix::sys::termios::tcgetattr(&pty.slave) {
            nix::sys::termios::cfmakeraw(&mut t);
            let _ =
                nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t);
        }
        let name = nix::unistd::ttyname(&pty.slave)
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("pty name: {e}")))?;
        // Keep the slave open so the pty survives its peers closing and reopening it.
        std::mem::forget(pty.slave);
        println!(
            "char device redirected to {} (label serial0)",
            name.display()
        );
        let _ = std::io::stdout().flush();
        let reader = master
            .try_clone()
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("pty: {e}")))?;
        return Ok((
            Link {
                rx: spawn_reader(reader),
                tx: Box::new(master),
                escapes: false,
            },
            RawMode(false),
        ));
    }
    if let Some(port) = serial.strip_prefix("tcp:") {
        let port: u16 = port.parse().map_err(|_| {
            fail(
                EXIT_USAGE,
                anyhow!("--serial {serial}: {port:?} is not a port number"),
            )
        })?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("--serial {serial}: {e}")))?;
        eprintln!("pybsim: waiting for a connection on 127.0.0.1:{port}");
        let (sock, _) = listener
            .accept()
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("--serial {serial}: {e}")))?;
        let r = sock
            .try_clone()
            .map_err(|e| fail(EXIT_SOFTWARE, anyhow!("--serial {serial}: {e}")))?;
        return Ok((
            Link {
                rx: spawn_reader(r),
                tx: Box::new(sock),
                escapes: false,
            },
            RawMode(false),
        ));
    }
    Err(fail(
        EXIT_USAGE,
        anyhow!("--serial {serial}: expected stdio, pty or tcp:PORT"),
    ))
}

/// Serves the console over a link until the peer quits, the input ends or the run
/// stops. Virtual time is paced to wall time while nothing is waiting, so an idle REPL
/// does not spin.
fn serve(session: &mut Session, serial: &str, cfg: &SessionConfig) -> Result<u8, Fail> {
    let (mut link, _raw) = open_link(serial)?;
    let start = Instant::now();
    let mut eof = false;
    let mut ctrl_a = false;
    let mut idle_after_eof = 0u32;
    loop {
        // Host input enters between slices.
        while let Ok(msg) = link.rx.try_recv() {
            match msg {
                None => eof = true,
                Some(bytes) => {
                    let mut fwd = Vec::with_capacity(bytes.len());
                    for b in bytes {
                        if link.escapes {
                            if ctrl_a {
                                ctrl_a = false;
                                match b {
                                    b'x' | b'X' => return Ok(EXIT_OK),
                                    0x01 => fwd.push(0x01),
                                    _ => fwd.extend_from_slice(&[0x01, b]),
                                }
                                continue;
                            }
                            match b {
                                0x1D => return Ok(EXIT_OK),
                                0x01 => {
                                    ctrl_a = true;
                                    continue;
                                }
                                _ => {}
                            }
                        }
                        fwd.push(b);
                    }
                    session.console_input(&fwd);
                }
            }
        }
        if let Some(o) = session.step() {
            let out = session.take_output();
            let _ = link.tx.write_all(&out);
            let _ = link.tx.flush();
            return Ok(finish(session, o, cfg));
        }
        let out = session.take_output();
        if !out.is_empty()
            && link
                .tx
                .write_all(&out)
                .and_then(|_| link.tx.flush())
                .is_err()
        {
            // The reader is gone (a closed pipe or socket): nobody can see the board.
            tracing::info!(
                t = session.machine.now(),
                "console peer went away; stopping"
            );
            return Ok(EXIT_OK);
        }
        if eof && session.machine.console_pending() == 0 {
            idle_after_eof = if out.is_empty() {
                idle_after_eof + 1
            } else {
                0
            };
            if idle_after_eof > 200 {
                return Ok(EXIT_OK);
            }
            continue;
        }
        if session.machine.console_pending() == 0 {
            let virt = Duration::from_nanos(session.virtual_ns());
            let wall = start.elapsed();
            if virt > wall {
                std::thread::sleep((virt - wall).min(Duration::from_millis(20)));
            }
        }
    }
}
