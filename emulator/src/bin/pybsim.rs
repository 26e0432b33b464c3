//! The `pybsim` command: run MicroPython firmware and scripts on an emulated Pyboard.
//! This file only parses the command line; the frontends live in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use pybsim::run::exit::*;
use pybsim::run::{fail, Fail};
use pybsim::tools;

#[derive(Parser)]
#[command(
    name = "pybsim",
    version,
    about = "Full-system emulator of the MicroPython Pyboard (STM32F405)",
    after_help = "Exit status of `run`: 0 script ended, 1 uncaught Python exception, \
                  2 guest fault, 3 budget exceeded, 4 a watchdog reset interrupted the \
                  script, 64 usage error, 65 bad input file, \
                  66 missing file, 70 internal error, 74 a file could not be written."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot the board and run a script, or open its REPL.
    Run(Box<pybsim::run::RunArgs>),
    /// Run `*.py` tests, each on a freshly booted board, against expected output and
    /// cycle snapshots.
    Test(pybsim::test::TestArgs),
    /// Run a script and report where the cycles went.
    Profile {
        #[command(flatten)]
        run: Box<pybsim::run::RunArgs>,
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
        Cmd::Run(a) => pybsim::run::main(*a, None),
        Cmd::Test(t) => pybsim::test::run(&t).map_err(|e| fail(EXIT_SOFTWARE, e)),
        Cmd::Profile { run: a, opts } => pybsim::run::main(*a, Some(opts)),
        Cmd::Flash(a) => pybsim::flashcmd::main(&a),
        Cmd::Boards => tools::boards().map_err(|e| fail(EXIT_SOFTWARE, e)),
        Cmd::Sdimage { dir, out, size } => tools::sdimage(&dir, &out, &size),
        Cmd::Firmware { rebuild } => pybsim::run::firmware_path(rebuild)
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
