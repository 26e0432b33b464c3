//! Runs a bare-metal firmware image on a board until it ends through semihosting, as
//! fast as the emulator goes: the runner of scripts/calibrate.sh's benchmark programs.
//!
//! `pybsim run FIRMWARE.elf` serves the console interactively (paced to wall time, ended
//! by end of input); a benchmark wants neither. This boots the board exactly as
//! `pybsim run` does, runs slices until the firmware exits, faults, halts or spends
//! `--max-cycles`, copies what it printed (semihosting and console) to stdout, and
//! reports on stderr:
//!
//! ```text
//! run_elf: exit=0 cycles=123456 insns=98765
//! ```
//!
//! Usage: `run_elf FIRMWARE [--board NAME] [--max-cycles N]`. The exit status is the
//! firmware's semihosting exit code, or 2 when it did not exit.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use pybsim::session::{Outcome, Repl, Session, SessionConfig};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("run_elf: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut args = std::env::args().skip(1);
    let mut firmware: Option<PathBuf> = None;
    let mut board = "pybv11".to_string();
    let mut max_cycles: Option<u64> = Some(20_000_000_000);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--board" => board = args.next().ok_or("--board needs a name")?,
            "--max-cycles" => {
                let v = args.next().ok_or("--max-cycles needs a number")?;
                max_cycles = Some(
                    v.parse()
                        .map_err(|_| format!("--max-cycles {v}: not a number"))?,
                );
            }
            _ if a.starts_with('-') => return Err(format!("unknown option {a}")),
            _ if firmware.is_none() => firmware = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument {a}")),
        }
    }
    let firmware = firmware.ok_or("usage: run_elf FIRMWARE [--board NAME] [--max-cycles N]")?;
    if !firmware.exists() {
        return Err(format!("{}: no such file", firmware.display()));
    }
    let cfg = SessionConfig {
        board,
        firmware,
        fs: None,
        wires: Vec::new(),
        stimuli: None,
        max_cycles,
        max_ns: None,
        repl_uart: None,
        rng_seed: None,
        sd: None,
        repl: Repl::Console,
    };
    let mut session = Session::new(&cfg).map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout();
    let outcome = loop {
        let o = session.step();
        let out = session.take_output();
        stdout.write_all(&out).map_err(|e| e.to_string())?;
        if let Some(o) = o {
            break o;
        }
    };
    stdout.flush().map_err(|e| e.to_string())?;
    let (cycles, insns) = (session.machine.now(), session.machine.insns());
    let code = match &outcome {
        Outcome::Exit(c) => {
            eprintln!("run_elf: exit={c} cycles={cycles} insns={insns}");
            ExitCode::from((*c).clamp(0, 255) as u8)
        }
        Outcome::Fault(r) => {
            eprint!("{}", session.describe_fault(r));
            eprintln!("run_elf: fault cycles={cycles} insns={insns}");
            ExitCode::from(2)
        }
        other => {
            eprintln!("run_elf: stopped ({other:?}) cycles={cycles} insns={insns}");
            ExitCode::from(2)
        }
    };
    Ok(code)
}
