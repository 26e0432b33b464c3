//! The unmodified official MicroPython v1.25.0 Pyboard firmware on pybsim (issue 5).
//!
//! The official firmware is not part of this repository and is not built by it. These
//! tests read its location from the environment and skip, with a note on stderr, when it
//! is not given:
//!
//! - `PYBSIM_OFFICIAL_FIRMWARE_PYBV11`: the PYBV11 build;
//! - `PYBSIM_OFFICIAL_FIRMWARE_PYBV10`: the PYBV10 build.
//!
//! Each holds the path of `firmware.elf`, `firmware.dfu` or `firmware.hex`, or the two
//! raw parts separated by a comma, `firmware0.bin,firmware1.bin` (loaded at 0x0800_0000
//! and 0x0802_0000; `path@0xADDR` gives another base). Other formats of the same build are
//! looked up next to it (`firmware.elf` beside `firmware.dfu`, ...) by the format tests.
//!
//! The official firmware's REPL is on USB; these tests build the machine without the USB
//! host model (official_usb.rs runs the REPL over USB CDC). The harness puts it on
//! USART1 the way a user would without rebuilding: a `boot.py` in the flash filesystem
//! calls `pyb.repl_uart(pyb.UART(1, 115200))`. USART1's TX bytes reach
//! `Machine::take_uart_output(1)` (no wire carries them anywhere else) and the harness feeds RX
//! bytes with `Machine::uart_input` at 115200 baud, then drives the raw REPL over it the
//! way `mpremote`/`pyboard.py` do.
//!
//! `PYBSIM_OFFICIAL_TRACE=1` prints, every slice, the virtual time, the PC of the block
//! running and its symbol, to find where a boot stalls.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use pybsim::core::cpu::CpuRef;
use pybsim::core::{Exit, Observer};
use pybsim::loader::{self, Image};
use pybsim::session::raw_repl::{Phase, RawRepl, RAW_BANNER};
use pybsim::session::{format_fault, load_regions, FS_BASE};
use pybsim::soc::Machine;
use pybsim_boards::Board;

mod common;
use common::{official_firmware, scratch, write};

/// Cycles per slice: host input enters between slices.
const SLICE: u64 = 100_000;
/// The boot.py that moves the REPL to USART1 (PB6 TX, PB7 RX).
const BOOT_PY: &str = "import pyb\npyb.repl_uart(pyb.UART(1, 115200))\n";
/// The same with USB left off (no OTG FS access at all).
const BOOT_PY_NO_USB: &str = "import pyb\npyb.usb_mode(None)\npyb.repl_uart(pyb.UART(1, 115200))\n";
const BANNER_END: &[u8] = b"Type \"help()\" for more information.\r\n>>> ";

/// Firmware files with their BIN base address (None: the format says where it goes).
type Parts = Vec<(PathBuf, Option<u32>)>;

/// Which firmware parts to load for `board` ("PYBV11", "PYBV10"), from the environment.
fn firmware_parts(board: &str) -> Option<Parts> {
    official_firmware(board).map(|v| parse_parts(&v))
}

/// `a.elf`, or `part0.bin,part1.bin`, or `file@0xADDR,...`.
fn parse_parts(v: &str) -> Parts {
    let bases = [0x0800_0000u32, 0x0802_0000];
    v.split(',')
        .filter(|s| !s.trim().is_empty())
        .enumerate()
        .map(|(i, s)| {
            let s = s.trim();
            match s.rsplit_once('@') {
                Some((p, a)) if a.starts_with("0x") => (
                    PathBuf::from(p),
                    u32::from_str_radix(&a[2..].replace('_', ""), 16).ok(),
                ),
                _ => {
                    let is_bin = s.ends_with(".bin");
                    let base = is_bin.then(|| bases.get(i).copied()).flatten();
                    (PathBuf::from(s), base)
                }
            }
        })
        .collect()
}

/// The last block that ran, for stall traces.
#[derive(Default)]
struct LastPc(Rc<RefCell<u32>>);

impl Observer for LastPc {
    fn wants_blocks(&self) -> bool {
        true
    }

    fn block(&mut self, _cpu: &CpuRef, addr: u32, _cycles: u64, _now: u64) {
        *self.0.borrow_mut() = addr;
    }
}

/// The official firmware booted on a board, with its REPL on USART1.
struct Official {
    machine: Machine,
    image: Image,
    /// USART1 output not yet consumed.
    pending: Vec<u8>,
    /// Everything USART1 sent, for failure messages.
    transcript: Vec<u8>,
    /// Time at which the next input byte may start (back-to-back frames).
    next_rx: u64,
    last_pc: Option<Rc<RefCell<u32>>>,
}

/// `PYBSIM_OFFICIAL_LOG=warn` (or any `tracing` filter) shows the models' diagnostics.
fn init_log() {
    if let Ok(f) = std::env::var("PYBSIM_OFFICIAL_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(f))
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
}

fn trace_enabled() -> bool {
    std::env::var("PYBSIM_OFFICIAL_TRACE").is_ok_and(|v| v != "0")
}

impl Official {
    /// Builds the board, loads the firmware, preloads the flash filesystem with `files`
    /// and resets.
    fn boot(board: &str, parts: &[(PathBuf, Option<u32>)], files: &[(&str, &[u8])]) -> Self {
        Self::boot_wired(board, parts, files, &[])
    }

    /// [`Official::boot`] with pins joined by wires ("Y1:Y2").
    fn boot_wired(
        board: &str,
        parts: &[(PathBuf, Option<u32>)],
        files: &[(&str, &[u8])],
        wires: &[String],
    ) -> Self {
        init_log();
        let board = Board::builtin(board).expect("builtin board");
        let wires: Vec<_> = wires
            .iter()
            .map(|w| {
                let w: pybsim_boards::Wire = w.parse().expect("wire");
                board.resolve_wire(&w).expect("wire resolves")
            })
            .collect();
        let image = loader::load_files(parts).expect("firmware loads");
        image.validate(&load_regions()).expect("firmware fits");
        let mut machine = pybsim::soc::build::build(&board, &wires).expect("machine");
        machine.load(&image).expect("load");
        // No files at all: the filesystem sectors erased, as on a board fresh from the
        // factory before MicroPython ever ran.
        let fs = if files.is_empty() {
            vec![0xFF; 0x1_C000]
        } else {
            fs_image(files)
        };
        machine.write_flash(FS_BASE, &fs);
        machine.reset();
        let last_pc = trace_enabled().then(|| {
            let o = LastPc::default();
            let r = o.0.clone();
            machine.attach_observer(Box::new(o));
            r
        });
        Official {
            machine,
            image,
            pending: Vec::new(),
            transcript: Vec::new(),
            next_rx: 0,
            last_pc,
        }
    }

    /// Virtual time in ms (following the clock through the switch from 16 to 168 MHz).
    fn ms(&self) -> f64 {
        self.machine.virtual_ns() as f64 / 1e6
    }

    /// Runs one slice; Err with a description when the run cannot go on.
    fn step(&mut self) -> Result<(), String> {
        let until = self.machine.now() + SLICE;
        let exit = self.machine.run_until(until);
        let out = self.machine.take_uart_output(1);
        self.pending.extend_from_slice(&out);
        self.transcript.extend_from_slice(&out);
        if let Some(pc) = &self.last_pc {
            let pc = *pc.borrow();
            let sym = self
                .image
                .symbols
                .lookup(pc)
                .map(|(n, o)| format!("{n}+{o:#x}"))
                .unwrap_or_default();
            eprintln!("[{:10.3} ms] pc={pc:#010x} {sym}", self.ms());
        }
        match exit {
            Exit::SliceEnd => Ok(()),
            Exit::Fault(r) => Err(format_fault(&r, &self.image)),
            e => Err(format!("run ended: {e:?}")),
        }
    }

    /// Runs until USART1 output contains `pat` (within `max_ms` of virtual time); returns
    /// the output up to and including it.
    fn wait_for(&mut self, pat: &[u8], max_ms: f64) -> Result<Vec<u8>, String> {
        let deadline = self.ms() + max_ms;
        loop {
            if let Some(i) = find(&self.pending, pat) {
                let rest = self.pending.split_off(i + pat.len());
                return Ok(std::mem::replace(&mut self.pending, rest));
            }
            if self.ms() > deadline {
                return Err(format!(
                    "no {:?} within {max_ms} ms (at {:.1} ms); USART1 so far:\n{}",
                    String::from_utf8_lossy(pat),
                    self.ms(),
                    String::from_utf8_lossy(&self.transcript)
                ));
            }
            self.step().map_err(|e| {
                format!(
                    "{e}\nUSART1 so far:\n{}",
                    String::from_utf8_lossy(&self.transcript)
                )
            })?;
        }
    }

    /// Sends bytes into USART1's RX line, back to back at 115200 baud (10-bit frames).
    fn send(&mut self, bytes: &[u8]) {
        let frame = self.machine.sysclk() as u64 * 10 / 115_200;
        let mut t = self.next_rx.max(self.machine.now());
        for &b in bytes {
            t += frame;
            self.machine.uart_input(1, b, t);
        }
        self.next_rx = t;
    }

    /// Sends `bytes` in chunks, letting the firmware catch up between them (as
    /// pyboard.py does: 256 bytes, then 10 ms).
    fn send_paced(&mut self, bytes: &[u8]) -> Result<(), String> {
        for chunk in bytes.chunks(256) {
            self.send(chunk);
            let until = self.next_rx + self.machine.sysclk() as u64 / 100;
            while self.machine.now() < until {
                self.step()?;
            }
        }
        Ok(())
    }

    /// Enters the raw REPL from the friendly prompt.
    fn enter_raw(&mut self) -> Result<(), String> {
        self.send(b"\r\x03\x03\x01");
        self.wait_for(RAW_BANNER, 1000.0)?;
        Ok(())
    }

    /// Runs `code` in the raw REPL; returns (stdout, stderr).
    fn exec_raw(&mut self, code: &[u8], max_ms: f64) -> Result<(Vec<u8>, Vec<u8>), String> {
        let mut repl = RawRepl::in_raw_repl();
        let send = repl
            .exec(code)
            .expect("a driver in the raw REPL takes a script");
        self.send_paced(&send[..send.len() - 1])?;
        self.send(b"\x04");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut phase = repl.phase();
        let mut since = self.ms();
        loop {
            let got = std::mem::take(&mut self.pending);
            let f = repl.feed(&got);
            out.extend_from_slice(&f.stdout);
            err.extend_from_slice(&f.stderr);
            if let Phase::Ready(_) = repl.phase() {
                // What came after the raw REPL's prompt stays pending.
                self.pending = f.console;
                return Ok((out, err));
            }
            if repl.phase() != phase {
                phase = repl.phase();
                since = self.ms();
            }
            let limit = if phase == Phase::Stdout {
                max_ms
            } else {
                1000.0
            };
            if self.ms() > since + limit {
                return Err(format!(
                    "raw REPL stuck in {phase:?} for {limit} ms (at {:.1} ms); USART1 so far:\n{}",
                    self.ms(),
                    String::from_utf8_lossy(&self.transcript)
                ));
            }
            self.step().map_err(|e| {
                format!(
                    "{e}\nUSART1 so far:\n{}",
                    String::from_utf8_lossy(&self.transcript)
                )
            })?;
        }
    }
}

/// A flash filesystem image holding `files`, built from a scratch directory.
fn fs_image(files: &[(&str, &[u8])]) -> Vec<u8> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = scratch(&format!("fs{n}"));
    for (name, data) in files {
        write(&dir, name, data);
    }
    let img = pybsim_fsimage::build_image(&dir).expect("fs image");
    let _ = std::fs::remove_dir_all(&dir);
    img
}

fn find(hay: &[u8], pat: &[u8]) -> Option<usize> {
    if pat.is_empty() || hay.len() < pat.len() {
        return None;
    }
    hay.windows(pat.len()).position(|w| w == pat)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace("\r\n", "\n")
}

/// Boots `board` with the REPL on USART1 and checks the banner.
fn boot_to_repl(board_env: &str, board: &str, boot_py: &str) -> Option<Official> {
    let parts = firmware_parts(board_env)?;
    let wall = Instant::now();
    let mut o = Official::boot(board, &parts, &[("boot.py", boot_py.as_bytes())]);
    let banner = o
        .wait_for(BANNER_END, 2000.0)
        .unwrap_or_else(|e| panic!("{e}"));
    let banner = text(&banner);
    eprintln!(
        "{board_env}: REPL after {:.2} ms virtual, {} ms wall:\n{banner}",
        o.ms(),
        wall.elapsed().as_millis()
    );
    assert!(banner.contains("MicroPython v1.25.0"), "{banner}");
    Some(o)
}

/// Boots `board` to the REPL on USART1, checks the banner names `model` and that the
/// friendly REPL evaluates an expression.
fn boots_to_the_uart_repl(board_env: &str, board: &str, model: &[u8]) {
    let Some(mut o) = boot_to_repl(board_env, board, BOOT_PY) else {
        return;
    };
    assert!(o.transcript.windows(model.len()).any(|w| w == model));
    o.send(b"print(1+1)\r");
    let out = o
        .wait_for(b">>> ", 1000.0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(text(&out).contains("\n2\n"), "{}", text(&out));
}

#[test]
fn pybv11_boots_to_the_uart_repl() {
    boots_to_the_uart_repl("PYBV11", "pybv11", b"PYBv1.1 w");
}

#[test]
fn pybv10_boots_to_the_uart_repl() {
    boots_to_the_uart_repl("PYBV10", "pybv10", b"PYBv1.0 w");
}

#[test]
fn pybv11_boots_without_usb() {
    let Some(mut o) = boot_to_repl("PYBV11", "pybv11", BOOT_PY_NO_USB) else {
        return;
    };
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let (out, err) = o
        .exec_raw(b"import os\nprint(os.uname().machine)", 1000.0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text(&err), "");
    assert_eq!(text(&out), "PYBv1.1 with STM32F405RG\n");
}

/// Every format of one build boots: the ELF, DfuSe, Intel HEX and the two raw parts, from
/// the directory of the file `PYBSIM_OFFICIAL_FIRMWARE_PYBV11` names.
#[test]
fn pybv11_every_format_boots() {
    let Some(parts) = firmware_parts("PYBV11") else {
        return;
    };
    let dir = parts[0].0.parent().unwrap_or(Path::new(".")).to_path_buf();
    let variants: Vec<(&str, Parts)> = vec![
        ("elf", vec![(dir.join("firmware.elf"), None)]),
        ("dfu", vec![(dir.join("firmware.dfu"), None)]),
        ("hex", vec![(dir.join("firmware.hex"), None)]),
        (
            "bin",
            vec![
                (dir.join("firmware0.bin"), Some(0x0800_0000)),
                (dir.join("firmware1.bin"), Some(0x0802_0000)),
            ],
        ),
    ];
    // The official build writes every format beside each other: all must be there.
    let missing: Vec<String> = variants
        .iter()
        .flat_map(|(_, parts)| parts.iter().map(|(p, _)| p))
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "the official build's formats are not all there: {missing:?}"
    );
    for (name, parts) in variants {
        let mut o = Official::boot("pybv11", &parts, &[("boot.py", BOOT_PY.as_bytes())]);
        o.wait_for(BANNER_END, 2000.0)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("{name}: REPL at {:.2} ms", o.ms());
    }
}

/// Wires the scenarios ask for: `wire A:B` lines of `pybsim-test.cfg` beside them, and
/// `# pybsim: wire A:B` header lines. One board carries them all (the scenarios use
/// different pins).
fn scenario_wires(dir: &Path, scripts: &[PathBuf]) -> Vec<String> {
    let mut wires = Vec::new();
    let mut take = |line: &str| {
        let line = line.trim();
        if let Some(w) = line.strip_prefix("wire ") {
            let w = w.trim().to_string();
            if !wires.contains(&w) {
                wires.push(w);
            }
        }
    };
    if let Ok(cfg) = std::fs::read_to_string(dir.join("pybsim-test.cfg")) {
        cfg.lines().for_each(&mut take);
    }
    for p in scripts {
        if let Ok(src) = std::fs::read_to_string(p) {
            src.lines()
                .filter_map(|l| l.strip_prefix("# pybsim:"))
                .for_each(&mut take);
        }
    }
    wires
}

/// Runs every scenario in `dir` through the raw REPL of one boot; returns the
/// transcript (name, stdout, stderr) of each.
fn run_scenarios(
    board_env: &str,
    board: &str,
    dir: &Path,
) -> Option<Vec<(String, String, String)>> {
    let parts = firmware_parts(board_env)?;
    let mut scripts: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(d) => d.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => {
            eprintln!("note: no scenarios at {}; skipped", dir.display());
            return None;
        }
    };
    scripts.retain(|p| p.extension().is_some_and(|e| e == "py"));
    scripts.sort();
    let wires = scenario_wires(dir, &scripts);
    let wall = Instant::now();
    let mut o = Official::boot_wired(board, &parts, &[("boot.py", BOOT_PY.as_bytes())], &wires);
    o.wait_for(BANNER_END, 2000.0)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{board_env}: REPL after {:.2} ms virtual, {} ms wall (wires {wires:?})",
        o.ms(),
        wall.elapsed().as_millis()
    );
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let mut results = Vec::new();
    for p in scripts {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let code = std::fs::read(&p).expect("scenario");
        let t0 = o.ms();
        let wall = Instant::now();
        let (out, err) = o
            .exec_raw(&code, 20_000.0)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (out, err) = (text(&out), text(&err));
        eprintln!(
            "== {name} ({:.1} ms virtual, {} ms wall)\n{out}{err}",
            o.ms() - t0,
            wall.elapsed().as_millis(),
        );
        results.push((name, out, err));
    }
    Some(results)
}

fn scenario_dir() -> PathBuf {
    match std::env::var("PYBSIM_SCENARIOS") {
        Ok(d) => PathBuf::from(d),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios"),
    }
}

/// The seed scenarios (tests/scenarios, or `PYBSIM_SCENARIOS`), run through the raw REPL
/// of the official firmware: none raises, each prints what its header expects, and a
/// second boot prints exactly the same (cycle figures included).
#[test]
fn pybv11_runs_the_scenarios() {
    let dir = scenario_dir();
    let Some(first) = run_scenarios("PYBV11", "pybv11", &dir) else {
        return;
    };
    for (name, out, err) in &first {
        assert_eq!(err, "", "{name} raised:\n{out}{err}");
        let check = |want: &str| assert!(out.contains(want), "{name}: no {want:?} in\n{out}");
        match name.as_str() {
            "s01_hello.py" => check("hello from pyboard\npyboard\nPYBv1.1 with STM32F405RG\n"),
            "s02_led_blink.py" => {
                // "done <ms>" with <ms> the board time the blinks took: 400 to 410.
                check("start\ndone ");
                let ms: u32 = out
                    .lines()
                    .find_map(|l| l.strip_prefix("done "))
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or_else(|| panic!("{name}: no \"done <ms>\" in\n{out}"));
                assert!((400..=410).contains(&ms), "{name}: done {ms}, not 400-410");
            }
            "s05_viper_toggle.py" => check("toggles 1000 X1 = 0\n"),
            "s06_mem16_led.py" => check("green on\ngreen off\n"),
            "s09_uart_readinto.py" => check("read 8 b'pyboard!'\nheap change "),
            "s10_timer_irq.py" => check("alloc in ISR: MemoryError\n"),
            "s14_asm_thumb.py" => check("asm add 42\nasm loop 5050\n"),
            _ => {}
        }
    }
    let second = run_scenarios("PYBV11", "pybv11", &dir).expect("second run");
    assert_eq!(first, second, "a second boot printed something else");
}

/// Runs the script `PYBSIM_OFFICIAL_SCRIPT` names on the official PYBV11 firmware and
/// prints what it prints: a probe for trying things by hand, run with `--ignored`. It
/// fails when the script raises.
#[test]
#[ignore = "a probe for trying a script by hand: set PYBSIM_OFFICIAL_SCRIPT and run with --ignored"]
fn pybv11_runs_a_script_from_the_environment() {
    let path = std::env::var("PYBSIM_OFFICIAL_SCRIPT")
        .expect("PYBSIM_OFFICIAL_SCRIPT names the script to run");
    let Some(mut o) = boot_to_repl("PYBV11", "pybv11", BOOT_PY) else {
        return;
    };
    let code = std::fs::read(&path).expect("script");
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let t0 = o.ms();
    let (out, err) = o
        .exec_raw(&code, 60_000.0)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "== {path} ({:.1} ms virtual)\n{}{}",
        o.ms() - t0,
        text(&out),
        text(&err)
    );
    assert_eq!(text(&err), "", "{path} raised");
}

/// Ctrl-D at the friendly prompt soft-resets (boot.py runs again and brings the REPL
/// back on USART1); `machine.reset()` resets the whole chip through AIRCR.SYSRESETREQ
/// and the firmware boots again from flash, keeping a file written before.
#[test]
fn pybv11_soft_and_hard_reset() {
    let Some(mut o) = boot_to_repl("PYBV11", "pybv11", BOOT_PY) else {
        return;
    };
    o.send(b"\x04");
    let out = o
        .wait_for(BANNER_END, 2000.0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(text(&out).contains("MPY: soft reboot\n"), "{}", text(&out));
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let (out, err) = o
        .exec_raw(
            b"f = open('keep.txt', 'w')\nf.write('kept')\nf.close()\nimport os\nos.sync()\nprint(os.listdir())",
            2000.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text(&err), "");
    assert!(text(&out).contains("keep.txt"), "{}", text(&out));
    // The file reached the flash array, in the FAT volume at 0x0800_4000.
    let fs = o.machine.flash()[0x4000..0x2_0000].to_vec();
    let files = pybsim_fsimage::list_files(&fs).expect("FAT volume");
    assert!(
        files
            .iter()
            .any(|(n, d)| n.ends_with("keep.txt") && d == b"kept"),
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    o.send_paced(b"import machine\nmachine.reset()\x04")
        .unwrap_or_else(|e| panic!("{e}"));
    o.pending.clear();
    o.wait_for(BANNER_END, 2000.0)
        .unwrap_or_else(|e| panic!("{e}"));
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let (out, err) = o
        .exec_raw(
            b"import machine\nprint(open('keep.txt').read(), machine.reset_cause())",
            2000.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("after machine.reset(): {}{}", text(&out), text(&err));
    assert_eq!(text(&err), "");
    assert!(text(&out).starts_with("kept "), "{}", text(&out));
}

/// First boot on erased flash: the firmware formats its filesystem itself (flash erase and
/// program through the flash interface, FatFs timestamps from the RTC) and writes its
/// factory files.
#[test]
#[ignore = "slow: about 6 s of board time (LSE start, 19 sector erases at datasheet times) \
            spent polling FLASH_SR, about a minute of wall time; run with --ignored"]
fn pybv11_first_boot_creates_the_filesystem() {
    let Some(parts) = firmware_parts("PYBV11") else {
        return;
    };
    let wall = Instant::now();
    let mut o = Official::boot("pybv11", &parts, &[]);
    let mut names = Vec::new();
    while o.ms() < 12_000.0 {
        o.step().unwrap_or_else(|e| panic!("{e}"));
        let fs = o.machine.flash()[0x4000..0x2_0000].to_vec();
        if let Ok(files) = pybsim_fsimage::list_files(&fs) {
            names = files.into_iter().map(|f| f.0).collect::<Vec<_>>();
            if names.len() == 4 {
                break;
            }
        }
    }
    eprintln!(
        "factory filesystem after {:.1} ms virtual, {} ms wall: {names:?}",
        o.ms(),
        wall.elapsed().as_millis()
    );
    for want in ["boot.py", "main.py", "pybcdc.inf", "README.txt"] {
        assert!(
            names.iter().any(|n| n.eq_ignore_ascii_case(want)),
            "{want} missing: {names:?}"
        );
    }
}

/// `machine.WDT` resets the board when not fed, and the firmware then reports a
/// watchdog reset.
#[test]
fn pybv11_watchdog_resets_the_board() {
    let Some(mut o) = boot_to_repl("PYBV11", "pybv11", BOOT_PY) else {
        return;
    };
    let mounted = o
        .machine
        .with_device::<pybsim_peripherals::iwdg::Iwdg, _>("IWDG", |_| ())
        .is_some();
    assert!(mounted, "the board mounts the IWDG model");
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let (out, err) = o
        .exec_raw(
            b"import machine\nw = machine.WDT(timeout=500)\nw.feed()\nprint('armed')",
            1000.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((text(&out), text(&err)), ("armed\n".into(), String::new()));
    let t0 = o.ms();
    o.pending.clear();
    match o.wait_for(BANNER_END, 2000.0) {
        Ok(_) => eprintln!("watchdog reset after {:.1} ms", o.ms() - t0),
        Err(e) => panic!("no reset by the watchdog: {e}"),
    }
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let (out, _) = o
        .exec_raw(
            b"import machine\nprint(machine.reset_cause() == machine.WDT_RESET)",
            1000.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("reset_cause() == WDT_RESET: {}", text(&out));
}

/// `pyb.ADC` and `pyb.ADCAll` on the ADC model: a pin at a set voltage, the core
/// temperature, VREFINT and VBAT (needs the ADC model mounted and the factory
/// calibration words in system memory; skipped with a note otherwise).
#[test]
fn pybv11_adc_reads_pins_and_internal_channels() {
    use pybsim_peripherals::adc::Adc;
    let Some(mut o) = boot_to_repl("PYBV11", "pybv11", BOOT_PY) else {
        return;
    };
    let ok = o
        .machine
        .with_device::<Adc, _>("ADC", |adc| adc.set_input_mv(0, 1650)); // X1 = PA0 = ADC channel 0
    assert!(ok.is_some(), "the board mounts the ADC model");
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let (out, err) = o
        .exec_raw(
            b"import pyb, machine\nprint(pyb.ADC(pyb.Pin('X1')).read())\n\
              a = pyb.ADCAll(12, 0x70000)\ncal = machine.mem16[0x1FFF7A2C]\n\
              t = round(a.read_core_temp()) if cal else 'nocal'\n\
              print(t, a.read_channel(17), round(a.read_core_vbat(), 1))",
            1000.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text(&err), "");
    let out = text(&out);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("2048"), "{out}");
    let core = lines.next().unwrap_or_default();
    if core.starts_with("nocal ") {
        eprintln!(
            "note: no factory calibration (TS_CAL1) in system memory: temperature not checked"
        );
    } else {
        assert!(core.starts_with("25 "), "{out}");
    }
    assert!(core.ends_with(" 1501 3.3"), "{out}");
}

/// `pyb.I2C` on I2C1 while the accelerometer is unpowered (the firmware drives PB5, its
/// AVDD, low at boot): `scan()` is empty and quick (NACKs, not timeouts) and a write fails
/// with EIO. `pyb.Accel()` powers it up; then it answers at 0x4C (76) and lies flat
/// (z = 21 counts, 1 g).
#[test]
fn pybv11_i2c_and_the_accelerometer() {
    use pybsim_peripherals::i2c::I2c;
    let Some(mut o) = boot_to_repl("PYBV11", "pybv11", BOOT_PY) else {
        return;
    };
    assert!(
        o.machine.with_device::<I2c, _>("I2C1", |_| ()).is_some(),
        "the board mounts the I2C model"
    );
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let t0 = o.ms();
    let (out, err) = o
        .exec_raw(
            b"import pyb\ni2c = pyb.I2C(1, pyb.I2C.CONTROLLER)\nprint(i2c.scan())\n\
              try:\n    i2c.send(b'x', 0x4c)\nexcept OSError as e:\n    print(e.errno)\n\
              a = pyb.Accel()\nprint(i2c.scan(), a.z())",
            5000.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text(&err), "");
    assert_eq!(text(&out), "[]\n5\n[76] 21\n");
    // Two scans of 112 addresses at 400 kHz and the accelerometer's 90 ms of power-up
    // and start-up delays.
    assert!(o.ms() - t0 < 1000.0, "took {:.0} ms", o.ms() - t0);
}

/// `pyb.RTC().wakeup(100, cb)`: the wakeup timer (RTCCLK/2 with WUTR = 1637: 3276 LSE
/// periods, 99.976 ms) raises EXTI line 22 and RTC_WKUP; the callbacks come exactly one
/// period apart in `time.ticks_us()` (within the callback latency), and the calendar moves on with virtual time.
#[test]
fn pybv11_rtc_wakeup_callbacks_and_calendar() {
    let Some(mut o) = boot_to_repl("PYBV11", "pybv11", BOOT_PY) else {
        return;
    };
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let (out, err) = o
        .exec_raw(
            b"import pyb, time\nts = []\nrtc = pyb.RTC()\n\
              rtc.datetime((2026, 11, 23, 1, 12, 0, 0, 0))\n\
              rtc.wakeup(100, lambda _: ts.append(time.ticks_us()))\n\
              pyb.delay(1050)\nrtc.wakeup(None)\n\
              d = [time.ticks_diff(b, a) for a, b in zip(ts, ts[1:])]\n\
              print(len(ts), min(d), max(d))\n\
              print(rtc.datetime()[4:7])",
            3000.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text(&err), "");
    let out = text(&out);
    let mut lines = out.lines();
    let first = lines.next().unwrap_or_default();
    // 3276 / 32768 s = 99 975.6 us; the callbacks read ticks_us a few us after the
    // interrupt, with a latency that varies by a few us from call to call.
    let v: Vec<u64> = first.split(' ').filter_map(|x| x.parse().ok()).collect();
    assert_eq!(v.len(), 3, "{out}");
    assert_eq!(v[0], 10, "{out}");
    assert!(v[1] >= 99_965 && v[2] <= 99_986, "{out}");
    assert_eq!(lines.next(), Some("(12, 0, 1)"), "{out}");
}

/// `pyb.SPI` / `machine.SPI` of the official firmware on the SPI model, MOSI wired to
/// MISO (Y8:Y7). One-byte transfers are polled and come back; longer ones go through
/// DMA (the official `spi_transfer` uses DMA for more than one byte when interrupts
/// are on) and come back too.
#[test]
fn pybv11_spi_loopback() {
    let Some(parts) = firmware_parts("PYBV11") else {
        return;
    };
    let wires = vec!["Y8:Y7".to_string()];
    let mut o = Official::boot_wired("pybv11", &parts, &[("boot.py", BOOT_PY.as_bytes())], &wires);
    o.wait_for(BANNER_END, 2000.0)
        .unwrap_or_else(|e| panic!("{e}"));
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let (out, err) = o
        .exec_raw(
            b"import pyb, machine\n\
              spi = pyb.SPI(2, pyb.SPI.MASTER, baudrate=328125)\n\
              print(spi.send_recv(b'\\xa7'), spi.send_recv(0x3c))\n\
              m = machine.SPI(2, baudrate=1000000)\n\
              print(m.read(1, 0x5a))",
            1000.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (text(&out), text(&err)),
        ("b'\\xa7' b'<'\nb'Z'\n".into(), String::new())
    );
    // Longer transfers go through DMA1 (SPI2 RX stream 3, TX stream 4, channel 0).
    let (out, err) = o
        .exec_raw(
            b"print(spi.send_recv(b'0123456789', timeout=100))\n\
              buf = bytearray(100)\nspi.send_recv(bytes(range(100)), buf)\n\
              print(buf == bytes(range(100)))",
            2000.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (text(&out), text(&err)),
        ("b'0123456789'\nTrue\n".into(), String::new())
    );
}

/// `pyb.DAC.write_timed` on the official firmware: TIM6 TRGO, DMA1 stream 5 channel 7
/// and the DAC, one sample per period (1 kHz: 168 000 cycles), then `DAC.write` on
/// channel 2.
#[test]
fn pybv11_dac_write_timed_by_dma() {
    let Some(mut o) = boot_to_repl("PYBV11", "pybv11", BOOT_PY) else {
        return;
    };
    let dac = o.machine.trace_dac();
    o.enter_raw().unwrap_or_else(|e| panic!("{e}"));
    let (out, err) = o
        .exec_raw(
            b"import pyb\nd = pyb.DAC(1)\nd.write_timed(bytearray([10, 20, 30, 40, 250]), 1000)\n\
              pyb.delay(8)\npyb.DAC(2, bits=12).write(0x123)\npyb.delay(1)\nprint('done')",
            1000.0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text(&err), "");
    assert_eq!(text(&out), "done\n");
    let samples = dac.take();
    let ch1: Vec<_> = samples.iter().filter(|s| s.1 == 1).collect();
    let codes: Vec<u16> = ch1.iter().map(|s| s.2).take(7).collect();
    assert_eq!(
        codes,
        vec![0, 160, 320, 480, 640, 4000, 4000],
        "{samples:?}"
    );
    for w in ch1.windows(2) {
        assert_eq!(w[1].0 - w[0].0, 168_000, "{w:?}");
    }
    assert_eq!(samples.iter().rfind(|s| s.1 == 2).map(|s| s.2), Some(0x123));
}
