//! A board session: the machine built from a board file, the firmware loaded, the flash
//! filesystem preloaded, stimuli applied at their virtual times, and the console driven
//! the way MicroPython's tools drive a real board (friendly prompt, raw REPL).
//!
//! The console is the pybsim console device, a U(S)ART (`repl_uart`), or USB CDC through
//! the USB host model plugged into the board ([`Repl`]; see machine/usb_host).
//!
//! The run advances in slices of [`SLICE_CYCLES`]; host input enters only at slice
//! boundaries, so a run with the same inputs is the same run, cycle for cycle.

use std::io::Write;
use std::path::{Path, PathBuf};

use pybsim_boards::{Board, Event, Level, Stimuli};

use crate::core::{decode_fault_status, Exit, FaultReport, ResetRecord};
use crate::loader::{self, Image, LoadRegion};

pub mod raw_repl;

use crate::soc::Machine;
use pybsim_peripherals::device::ResetKind;
use raw_repl::{Phase, RawRepl, ScriptEnd};

/// Cycles between two points where host input may enter.
pub const SLICE_CYCLES: u64 = 100_000;

/// The files a Pyboard's flash filesystem holds when new: a boot.py importing the
/// hardware modules (so the REPL's globals start as on a real board) and an empty
/// main.py.
pub use pybsim_fsimage::DEFAULT_FILES;

/// Where the flash filesystem lives (sectors 1-4).
pub const FS_BASE: u32 = 0x0800_4000;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Board(#[from] pybsim_boards::LoadError),
    #[error(transparent)]
    Firmware(#[from] loader::LoadError),
    #[error("--fs {path}: {source}")]
    Fs {
        path: PathBuf,
        source: pybsim_fsimage::FsImageError,
    },
    #[error(transparent)]
    Machine(#[from] crate::soc::MachineError),
    #[error("--wire {0}")]
    Wire(String),
    #[error("{0}")]
    Stimuli(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The `--sd` image: unreadable, of a size no card has, or not writable back.
    #[error(transparent)]
    Sd(#[from] crate::soc::sdslot::SdError),
}

/// What a session is made of.
#[derive(Debug, Clone, Default)]
pub struct SessionConfig {
    /// Board name ("pybv11", "pybv10") or a RON file.
    pub board: String,
    pub firmware: PathBuf,
    pub fs: Option<PathBuf>,
    pub wires: Vec<String>,
    pub stimuli: Option<PathBuf>,
    /// Budget in CPU cycles.
    pub max_cycles: Option<u64>,
    /// Budget in virtual nanoseconds.
    pub max_ns: Option<u64>,
    /// Carry the console on this U(S)ART (1-6) instead of the pybsim console device, for
    /// firmware whose REPL is on USB (the official MicroPython builds): the flash
    /// filesystem's boot.py gets `pyb.repl_uart(pyb.UART(n, 115200))` in front, the
    /// UART's TX bytes are the console output and console input enters its RX line at
    /// 115200 baud.
    pub repl_uart: Option<u8>,
    /// Seed of the RNG peripheral's generator (None: the board's fixed default), so a
    /// script using `pyb.rng()`/`os.urandom()` can be run on other fixed sequences.
    pub rng_seed: Option<u64>,
    /// SD card image (a whole number of 512-byte blocks) put in the card slot; the
    /// card-detect switch reads "card present". See [`crate::soc::sdslot`].
    pub sd: Option<PathBuf>,
    /// Which console the REPL is on when `repl_uart` is not given.
    pub repl: Repl,
}

/// The console transport of a session (without `--repl-uart`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Repl {
    /// The board is plugged into a USB host (emulator/src/usb_host.rs) and the pybsim
    /// console device is there too: output from both is the console output; input goes
    /// to USB CDC once a USB device has connected, else to the console device. pybsim's
    /// own runtime uses the console device and never turns USB on; the official
    /// MicroPython firmware has its REPL on USB CDC.
    #[default]
    Auto,
    /// Only the pybsim console device; no USB host attached.
    Console,
    /// Only USB CDC through the host model.
    Usb,
}

/// Why a session stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The script ended normally.
    Done,
    /// The script raised an uncaught exception.
    Exception,
    /// The firmware faulted.
    Fault(Box<FaultReport>),
    /// The cycle or time budget ran out.
    Budget,
    /// The firmware ended through semihosting with this status.
    Exit(i32),
    /// The CPU sleeps with nothing left that could wake it.
    Halted,
    /// A watchdog reset the board while `run_script` ran the script: the script was
    /// interrupted; the board booted again (boot.py, main.py) up to its REPL prompt.
    WatchdogReset(ResetKind),
}

/// Board time `run_script` lets the board take, after a watchdog reset interrupted the
/// script, to come back to its REPL prompt (a boot loop ends here at the latest).
pub const AFTER_RESET_SECS: u64 = 30;

pub struct Session {
    pub machine: Machine,
    pub board: Board,
    pub image: Image,
    max_ns: Option<u64>,
    /// Stimuli not yet applied, by virtual time in ns, in order.
    stimuli: Vec<(u64, Event)>,
    /// Console output not yet consumed by a waiting pattern.
    pending: Vec<u8>,
    /// The UART carrying the console, if not the console device.
    repl_uart: Option<u8>,
    /// Virtual time (cycles) at which the last queued input frame ends on that UART.
    rx_busy_until: u64,
    /// Watchdog resets so far, in order.
    pub watchdog_resets: Vec<ResetRecord>,
    /// Report each watchdog reset on stderr as it happens (off under the TUI).
    pub report_resets: bool,
    resets_seen: usize,
    /// The image file of the card in the SD slot.
    pub sd: Option<PathBuf>,
    /// The console transport without a REPL UART.
    repl: Repl,
    /// Console input for USB CDC not yet handed to the host, and the cycle at which the
    /// next chunk may go (see [`USB_CHUNK`]).
    usb_pending: std::collections::VecDeque<u8>,
    usb_next: u64,
    /// Under [`Repl::Auto`]: input typed before the firmware showed which console it
    /// uses, kept for USB in case a USB device turns up (it also went to the console
    /// device); and whether each console has shown itself.
    auto_early: Vec<u8>,
    auto_usb: bool,
    auto_console: bool,
}

/// Console input goes to USB CDC in chunks of this many bytes, [`USB_CHUNK_GAP_NS`]
/// apart, as MicroPython's pyboard.py writes to the raw REPL: the firmware's CDC receive
/// buffer (1 KiB) has no flow control by default and drops what overflows it, and a USB
/// host delivers a whole write at once (about 1.2 MB/s at full speed).
pub const USB_CHUNK: usize = 256;
pub const USB_CHUNK_GAP_NS: u64 = 10_000_000;

/// The line boot.py starts with under `--repl-uart n`.
pub fn repl_uart_boot_line(n: u8) -> String {
    format!("import pyb; pyb.repl_uart(pyb.UART({n}, 115200))\n")
}

/// The filesystem image for `dir` (or the default files) with the REPL moved to UART
/// `n` by boot.py: a copy of the tree is made in a scratch directory, its boot.py
/// prefixed with [`repl_uart_boot_line`].
fn image_with_repl_uart(
    dir: Option<&Path>,
    n: u8,
) -> Result<Vec<u8>, pybsim_fsimage::FsImageError> {
    fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            let dst = to.join(e.file_name());
            if std::fs::metadata(e.path())?.is_dir() {
                copy(&e.path(), &dst)?;
            } else {
                std::fs::copy(e.path(), dst)?;
            }
        }
        Ok(())
    }
    // One scratch directory per call: sessions of one process (`pybsim test -j`) make
    // theirs at the same time.
    static SCRATCH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!("pybsim-repl-uart-{}-{k}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let io = |source| pybsim_fsimage::FsImageError::Read {
        path: tmp.clone(),
        source,
    };
    match dir {
        Some(d) => copy(d, &tmp).map_err(io)?,
        None => {
            std::fs::create_dir_all(&tmp).map_err(io)?;
            for (name, data) in DEFAULT_FILES {
                std::fs::write(tmp.join(name), data).map_err(io)?;
            }
        }
    }
    let boot = tmp.join("boot.py");
    let mut text = repl_uart_boot_line(n).into_bytes();
    if let Ok(old) = std::fs::read(&boot) {
        text.extend_from_slice(&old);
    }
    std::fs::write(&boot, text).map_err(io)?;
    let img = pybsim_fsimage::build_image(&tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    img
}

impl Session {
    pub fn new(cfg: &SessionConfig) -> Result<Session, SessionError> {
        let board = if cfg.board.ends_with(".ron") || Path::new(&cfg.board).exists() {
            Board::load(&cfg.board)?
        } else {
            Board::builtin(&cfg.board)?
        };
        let image = loader::load_files(&firmware_parts(&cfg.firmware))?;
        image.validate(&load_regions())?;
        let mut wires = Vec::new();
        for w in &cfg.wires {
            let wire: pybsim_boards::Wire =
                w.parse().map_err(|e| SessionError::Wire(format!("{e}")))?;
            let pair = board
                .resolve_wire(&wire)
                .map_err(|e| SessionError::Wire(format!("{e}")))?;
            wires.push(pair);
        }
        let stimuli = match &cfg.stimuli {
            Some(p) => {
                let s =
                    Stimuli::load(p, &board).map_err(|e| SessionError::Stimuli(format!("{e}")))?;
                s.events
                    .into_iter()
                    .map(|e| (e.at().to_nanos(168_000_000), e))
                    .collect::<Vec<_>>()
            }
            None => Vec::new(),
        };
        let mut stimuli = stimuli;
        stimuli.sort_by_key(|(t, _)| *t);
        let mut machine = crate::soc::build::build(&board, &wires)?;
        machine.load(&image)?;
        // Analog stimuli go to the models whole: they sample them at their exact instants.
        let analog: Vec<Event> = stimuli.iter().map(|(_, e)| e.clone()).collect();
        crate::soc::analog::install(&mut machine, &board, &analog);
        stimuli.retain(|(_, e)| !crate::soc::analog::is_analog(e));
        // A board fresh from the factory already has its flash filesystem: start from an
        // empty FAT volume (or the --fs directory's files), not from erased flash, which
        // the firmware would spend seconds of board time formatting.
        let img = match (&cfg.fs, cfg.repl_uart) {
            (dir, Some(n)) => image_with_repl_uart(dir.as_deref(), n),
            (Some(dir), None) => pybsim_fsimage::build_image(dir),
            (None, None) => pybsim_fsimage::image_with_files(&DEFAULT_FILES),
        }
        .map_err(|source| SessionError::Fs {
            path: cfg.fs.clone().unwrap_or_default(),
            source,
        })?;
        machine.write_flash(FS_BASE, &img);
        if let Some(seed) = cfg.rng_seed {
            machine.with_device::<pybsim_peripherals::rng::Rng, _>("RNG", |rng| rng.set_seed(seed));
        }
        machine.reset();
        if let Some(path) = &cfg.sd {
            crate::soc::sdslot::insert(&mut machine, &board, path)?;
        }
        if cfg.repl_uart.is_none() && cfg.repl != Repl::Console {
            machine.usb_attach();
        }
        if let Some(c) = cfg.max_cycles {
            machine.set_budget(c);
        }
        Ok(Session {
            machine,
            board,
            image,
            max_ns: cfg.max_ns,
            stimuli,
            pending: Vec::new(),
            repl_uart: cfg.repl_uart,
            rx_busy_until: 0,
            watchdog_resets: Vec::new(),
            report_resets: true,
            resets_seen: 0,
            sd: cfg.sd.clone(),
            repl: cfg.repl,
            usb_pending: Default::default(),
            usb_next: 0,
            auto_early: Vec::new(),
            auto_usb: false,
            auto_console: false,
        })
    }

    /// Virtual time in nanoseconds, following the CPU clock through its changes.
    pub fn virtual_ns(&mut self) -> u64 {
        self.machine.virtual_ns()
    }

    fn apply_stimuli(&mut self) {
        let now_ns = self.virtual_ns();
        while let Some((t, _)) = self.stimuli.first() {
            if *t > now_ns {
                break;
            }
            let (_, ev) = self.stimuli.remove(0);
            let now = self.machine.now();
            match ev {
                Event::PressSwitch { .. } | Event::ReleaseSwitch { .. } => {
                    let pressed = matches!(ev, Event::PressSwitch { .. });
                    if let Some(sw) = &self.board.switch {
                        if let Some(p) = self.board.pin(&sw.pin) {
                            let active = sw.active == Level::High;
                            let level = if pressed { Some(active) } else { None };
                            self.machine.drive_pin(p.port, p.pin, level);
                        }
                    }
                }
                Event::SetPin { pin, level, .. } => {
                    if let Some(p) = self.board.pin(&pin) {
                        self.machine
                            .drive_pin(p.port, p.pin, Some(level == Level::High));
                    }
                }
                Event::ReleasePin { pin, .. } => {
                    if let Some(p) = self.board.pin(&pin) {
                        self.machine.drive_pin(p.port, p.pin, None);
                    }
                }
                Event::ConsoleInput { data, .. } => self.console_input(&data.0),
                // Installed in the models when the session starts (crate::soc::analog).
                Event::SetVoltage { .. } | Event::Waveform { .. } | Event::SetAccel { .. } => {}
                Event::UartInput { uart, data, .. } => {
                    // Back to back frames at 115200 baud, 10 bits each.
                    let frame = self.machine.sysclk() as u64 * 10 / 115_200;
                    for (i, b) in data.0.iter().enumerate() {
                        self.machine
                            .uart_input(uart, *b, now + frame * (i as u64 + 1));
                    }
                }
            }
        }
    }

    /// Adds an input event at virtual time `at_ns` (from reset), as if the stimuli file
    /// had it: the slice ends there and the event enters at its time; one whose time has
    /// passed enters at the start of the next slice. For frontends that decide inputs as
    /// the run goes (`pybsim test` scenarios). Analog events are not taken here (they are
    /// installed in the models when the session starts) and are ignored.
    pub fn add_stimulus(&mut self, at_ns: u64, ev: Event) {
        if crate::soc::analog::is_analog(&ev) {
            return;
        }
        let i = self.stimuli.partition_point(|(t, _)| *t <= at_ns);
        self.stimuli.insert(i, (at_ns, ev));
    }

    /// Hands the next chunk of pending USB console input to the host, when its time has
    /// come.
    fn feed_usb(&mut self) {
        if self.repl == Repl::Auto && !self.auto_usb && self.machine.usb_device_seen() {
            self.auto_usb = true;
            self.usb_pending.extend(self.auto_early.drain(..));
        }
        let now = self.machine.now();
        if self.usb_pending.is_empty() || now < self.usb_next {
            return;
        }
        let n = self.usb_pending.len().min(USB_CHUNK);
        let chunk: Vec<u8> = self.usb_pending.drain(..n).collect();
        self.machine.usb_input(&chunk);
        let hz = self.machine.sysclk() as u128;
        self.usb_next = now + (USB_CHUNK_GAP_NS as u128 * hz).div_ceil(1_000_000_000) as u64;
    }

    /// Runs one slice; returns an outcome when the run cannot go on.
    pub fn step(&mut self) -> Option<Outcome> {
        self.apply_stimuli();
        self.feed_usb();
        let mut until = self.machine.now() + SLICE_CYCLES;
        if !self.usb_pending.is_empty() {
            until = until.min(self.usb_next.max(self.machine.now() + 1));
        }
        // End the slice at the next stimulus, so that it enters at its own time (to
        // the block) rather than at the next slice boundary; and at the time budget, so
        // that it holds whatever the clock (a slice is long at a slow clock).
        let next_ns = [self.stimuli.first().map(|s| s.0), self.max_ns]
            .into_iter()
            .flatten()
            .min();
        if let Some(t) = next_ns {
            let now_ns = self.virtual_ns();
            let hz = self.machine.sysclk() as u128;
            let ahead = ((t.saturating_sub(now_ns)) as u128 * hz).div_ceil(1_000_000_000);
            until = until.min(self.machine.now() + (ahead as u64).max(1));
        }
        let exit = self.machine.run_until(until);
        self.note_resets();
        // What bare-metal firmware prints through semihosting joins the console.
        let mut out = self.machine.take_semihost_output();
        out.extend(match self.repl_uart {
            Some(n) => self.machine.take_uart_output(n),
            None => {
                let mut out = self.machine.take_console_output();
                if !out.is_empty() && !self.auto_console {
                    self.auto_console = true;
                    self.auto_early = Vec::new();
                }
                out.extend(self.machine.take_usb_output());
                out
            }
        });
        self.pending.extend_from_slice(&out);
        if let Some(max) = self.max_ns {
            if self.virtual_ns() >= max {
                return Some(Outcome::Budget);
            }
        }
        match exit {
            Exit::SliceEnd => None,
            Exit::Budget => Some(Outcome::Budget),
            Exit::Fault(r) => Some(Outcome::Fault(r)),
            Exit::SemihostExit(c) => Some(Outcome::Exit(c)),
            Exit::Halted => Some(Outcome::Halted),
        }
    }

    /// Takes the resets the machine went through since the last call; reports the
    /// watchdog ones.
    fn note_resets(&mut self) {
        let new: Vec<ResetRecord> = self.machine.resets_since(self.resets_seen);
        self.resets_seen += new.len();
        for r in new {
            let name = match r.kind {
                ResetKind::Iwdg => "IWDG",
                ResetKind::Wwdg => "WWDG",
                ResetKind::Software => continue,
            };
            if self.report_resets {
                eprintln!(
                    "pybsim: watchdog reset ({name}) at {} s (cycle {}); the board starts again",
                    fmt_secs(r.ns),
                    r.cycle
                );
            }
            self.watchdog_resets.push(r);
        }
    }

    /// After a watchdog reset interrupted the script: passes on what the board prints
    /// while it boots again (boot.py, main.py) until its REPL prompt, within
    /// [`AFTER_RESET_SECS`] of board time from the reset.
    fn after_watchdog_reset(&mut self, out: &mut dyn Write) -> Result<Outcome, std::io::Error> {
        let first = self.watchdog_resets[self.watchdog_resets.len() - 1];
        let kind = first.kind;
        let limit = first.ns + AFTER_RESET_SECS * 1_000_000_000;
        loop {
            if let Some(i) = find(&self.pending, b">>> ") {
                out.write_all(&self.pending[..i])?;
                out.flush()?;
                self.pending.drain(..i + 4);
                return Ok(Outcome::WatchdogReset(kind));
            }
            // Keep a possible partial prompt for the next round.
            let keep = self.pending.len().min(3);
            let n = self.pending.len() - keep;
            out.write_all(&self.pending[..n])?;
            out.flush()?;
            self.pending.drain(..n);
            if self.virtual_ns() > limit {
                return Ok(Outcome::WatchdogReset(kind));
            }
            if let Some(o) = self.step() {
                return Ok(o);
            }
        }
    }

    /// Sends host bytes to the firmware's console: the console device, or under
    /// `repl_uart` the UART's RX line, back to back at 115200 baud from now.
    pub fn console_input(&mut self, bytes: &[u8]) {
        let Some(n) = self.repl_uart else {
            let usb = match self.repl {
                Repl::Usb => true,
                Repl::Console => false,
                Repl::Auto => {
                    self.feed_usb();
                    if !self.auto_usb && !self.auto_console {
                        self.auto_early.extend_from_slice(bytes);
                    }
                    self.auto_usb
                }
            };
            if usb {
                self.usb_pending.extend(bytes.iter().copied());
                self.feed_usb();
            } else {
                self.machine.console_input(bytes);
            }
            return;
        };
        let frame = self.machine.sysclk() as u64 * 10 / 115_200;
        let mut t = self.rx_busy_until.max(self.machine.now());
        for &b in bytes {
            t += frame;
            self.machine.uart_input(n, b, t);
        }
        self.rx_busy_until = t;
    }

    /// Console output produced so far and not yet consumed.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// Runs until the console output contains `pat`; returns the output before and
    /// including it (the rest stays pending).
    pub fn wait_for(&mut self, pat: &[u8]) -> Result<Vec<u8>, Outcome> {
        loop {
            if let Some(i) = find(&self.pending, pat) {
                let rest = self.pending.split_off(i + pat.len());
                return Ok(std::mem::replace(&mut self.pending, rest));
            }
            if let Some(o) = self.step() {
                return Err(o);
            }
        }
    }

    /// Boots to the friendly REPL, runs `script` through the raw REPL and writes what
    /// it prints to `out` as it comes.
    pub fn run_script(
        &mut self,
        script: &[u8],
        out: &mut dyn Write,
    ) -> Result<Outcome, std::io::Error> {
        raw_repl::check_script(script)
            .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidData, m))?;
        let mut repl = RawRepl::new(script, false);
        let mut phase = repl.phase();
        let mut since = self.virtual_ns();
        // Set once the script is sent: a watchdog reset from then on interrupts it.
        let mut armed: Option<usize> = None;
        // Console text that is not the script's, in the phase now (boot messages).
        let mut text = Vec::new();
        let mut err = Vec::new();
        loop {
            let got = std::mem::take(&mut self.pending);
            let f = repl.feed(&got);
            if !f.stdout.is_empty() {
                out.write_all(&f.stdout)?;
                out.flush()?;
            }
            err.extend_from_slice(&f.stderr);
            text.extend_from_slice(&f.console);
            if repl.phase() != phase {
                if phase == Phase::WaitPrompt {
                    tracing::info!(
                        target: "session",
                        t = self.machine.now(),
                        ms = self.virtual_ns() / 1_000_000,
                        usb_open_ms = self.machine.usb_opened_us().map(|u| u / 1000),
                        "REPL prompt"
                    );
                }
                if repl.phase() == Phase::WaitOk {
                    armed = Some(self.watchdog_resets.len());
                }
                phase = repl.phase();
                since = self.virtual_ns();
                text.clear();
            }
            if !f.send.is_empty() {
                self.console_input(&f.send);
            }
            if let Some(end) = repl.end() {
                if end == ScriptEnd::Exception {
                    out.write_all(&err)?;
                    out.flush()?;
                    return Ok(Outcome::Exception);
                }
                return Ok(Outcome::Done);
            }
            if armed.is_some_and(|n| self.watchdog_resets.len() > n) {
                return self.after_watchdog_reset(out);
            }
            // The REPL handshake must happen within these spans of board time, or the
            // firmware has no REPL on this console (a USB-console firmware without
            // --repl-uart, or one that hangs at boot).
            let limit = match phase {
                Phase::WaitPrompt => Some((30, self.no_prompt_message())),
                Phase::WaitRaw => Some((5, "the firmware did not enter its raw REPL".into())),
                Phase::WaitOk => Some((30, "the raw REPL did not accept the script".into())),
                Phase::Stderr => Some((
                    30,
                    "the raw REPL did not end the script's error output".into(),
                )),
                _ => None,
            };
            if let Some((secs, what)) = limit {
                if self.virtual_ns() > since + secs * 1_000_000_000 {
                    let tail = text.len().saturating_sub(200);
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "{what} within {secs} s of board time; the console showed: {:?}",
                            String::from_utf8_lossy(&text[tail..])
                        ),
                    ));
                }
            }
            if let Some(o) = self.step() {
                // What the console showed outside the script stays for the caller.
                text.append(&mut self.pending);
                self.pending = text;
                return Ok(o);
            }
        }
    }

    /// Writes the SD card's image back to its file if the firmware changed it; returns
    /// whether it wrote. See [`crate::soc::sdslot::save`].
    pub fn save_sd(&mut self) -> Result<bool, SessionError> {
        match self.sd.clone() {
            Some(path) => Ok(crate::soc::sdslot::save(&mut self.machine, &path)?),
            None => Ok(false),
        }
    }

    /// Why no REPL prompt came, with what the USB host saw.
    fn no_prompt_message(&self) -> String {
        let mut what = "the firmware did not show a REPL prompt on the console".to_string();
        match (self.repl_uart, self.machine.usb_status()) {
            (None, Some(usb)) => what.push_str(&format!(" ({usb})")),
            (None, None) => what.push_str(
                " (for a firmware with its REPL on USB, use --repl usb or --repl-uart 1)",
            ),
            (Some(n), _) => what.push_str(&format!(" on UART {n}")),
        }
        what
    }

    /// The fault report as text, with symbol names from the firmware.
    pub fn describe_fault(&self, r: &FaultReport) -> String {
        format_fault(r, &self.image)
    }
}

/// The files a firmware path names: one file, or parts separated by commas, e.g.
/// `firmware0.bin,firmware1.bin` (raw parts load at 0x0800_0000 and 0x0802_0000 in that
/// order) or `file@0xADDR` for an explicit base.
pub fn firmware_parts(spec: &Path) -> Vec<(PathBuf, Option<u32>)> {
    const BASES: [u32; 2] = [0x0800_0000, 0x0802_0000];
    let spec = spec.to_string_lossy();
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .enumerate()
        .map(|(i, s)| {
            let s = s.trim();
            if let Some((p, a)) = s.rsplit_once('@') {
                let hex = a.trim_start_matches("0x").replace('_', "");
                if let Ok(base) = u32::from_str_radix(&hex, 16) {
                    return (PathBuf::from(p), Some(base));
                }
            }
            let bin = s.to_ascii_lowercase().ends_with(".bin");
            (
                PathBuf::from(s),
                bin.then(|| BASES.get(i).copied()).flatten(),
            )
        })
        .collect()
}

/// Nanoseconds as seconds with up to six decimals ("1.024", "0.000125").
pub fn fmt_secs(ns: u64) -> String {
    let us = ns / 1000;
    let mut s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    while s.ends_with('0') && !s.ends_with(".0") {
        s.pop();
    }
    s
}

fn find(hay: &[u8], pat: &[u8]) -> Option<usize> {
    if pat.is_empty() || hay.len() < pat.len() {
        return None;
    }
    hay.windows(pat.len()).position(|w| w == pat)
}

/// The default firmware: `$PYBSIM_FIRMWARE`, else pybsim's runtime built by
/// scripts/build-firmware.sh into the repository's .cache (None if not built yet).
pub fn default_firmware() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PYBSIM_FIRMWARE") {
        return Some(PathBuf::from(p));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let elf = repo.join(".cache/firmware/firmware.elf");
    elf.exists().then_some(elf)
}

/// Memory the loaders may fill: flash (and its alias at 0), SRAM, CCM.
pub fn load_regions() -> Vec<LoadRegion> {
    vec![
        LoadRegion {
            name: "flash",
            start: 0x0800_0000,
            len: 0x10_0000,
        },
        LoadRegion {
            name: "flash (boot alias)",
            start: 0,
            len: 0x10_0000,
        },
        LoadRegion {
            name: "SRAM",
            start: 0x2000_0000,
            len: 0x2_0000,
        },
        LoadRegion {
            name: "CCM",
            start: 0x1000_0000,
            len: 0x1_0000,
        },
    ]
}

/// A fault report for people: what happened, the registers, the fault status decoded,
/// and a backtrace with symbol names when the firmware has them.
pub fn format_fault(r: &FaultReport, image: &Image) -> String {
    let mut s = String::new();
    let sym = |a: u32| match image.symbols.lookup(a) {
        Some((n, off)) => format!("{a:#010x} {n}+{off:#x}"),
        None => format!("{a:#010x}"),
    };
    s.push_str(&format!("guest fault: {}\n", r.what));
    s.push_str(&format!("  at cycle {}\n", r.cycles));
    let names = [
        "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "sp",
        "lr", "pc",
    ];
    for (i, n) in names.iter().enumerate() {
        s.push_str(&format!("  {n:>4} = {:#010x}", r.regs[i]));
        if i % 4 == 3 {
            s.push('\n');
        }
    }
    s.push_str(&format!(
        "  xpsr = {:#010x}  CFSR = {:#010x}  HFSR = {:#010x}\n",
        r.xpsr, r.cfsr, r.hfsr
    ));
    if let Some(b) = r.bfar {
        s.push_str(&format!("  BFAR = {b:#010x}\n"));
    }
    if let Some(m) = r.mmfar {
        s.push_str(&format!("  MMFAR = {m:#010x}\n"));
    }
    for d in decode_fault_status(r.cfsr, r.hfsr) {
        s.push_str(&format!("  - {d}\n"));
    }
    s.push_str("  backtrace:\n");
    for (i, a) in r.backtrace.iter().enumerate() {
        s.push_str(&format!("    #{i} {}\n", sym(*a)));
    }
    s
}
