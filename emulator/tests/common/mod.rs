//! Helpers shared by the end-to-end test files (`mod common;` in each): where the
//! repository and the firmware are, running the `pybsim` binary, scratch files, and the
//! environment variables naming the official firmware. Each test binary compiles its own
//! copy and uses only some of it, hence `dead_code` is allowed here.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's top directory (the emulator crate's parent).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the emulator crate is inside the repository")
        .to_path_buf()
}

/// Records that the running test skips its work, and why: a note on stderr, and a line
/// `test name<TAB>reason` appended to the file `PYBSIM_SKIP_LOG` names (scripts/test.sh
/// sets it and lists every skipped test in its summary).
pub fn skip(reason: &str) {
    let name = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_string();
    eprintln!("skipped {name}: {reason}");
    if let Some(log) = std::env::var_os("PYBSIM_SKIP_LOG") {
        let line = format!("{}::{name}\t{reason}\n", env!("CARGO_CRATE_NAME"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log);
        if let Ok(mut f) = file {
            // One write of a short line: lines of concurrent tests do not interleave.
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// pybsim's runtime firmware, `.cache/firmware/firmware.elf`. When it is not built the
/// test skips (see [`skip`]); under the README's test command, which builds it first
/// and sets `PYBSIM_REQUIRE_FIRMWARE`, a missing firmware is a failure instead.
pub fn firmware() -> Option<PathBuf> {
    let f = repo().join(".cache/firmware/firmware.elf");
    if f.exists() {
        return Some(f);
    }
    if std::env::var_os("PYBSIM_REQUIRE_FIRMWARE").is_some() {
        panic!(
            "{} is missing, and PYBSIM_REQUIRE_FIRMWARE is set (scripts/test.sh builds it)",
            f.display()
        );
    }
    skip(&format!(
        "{} is missing (run scripts/build-firmware.sh)",
        f.display()
    ));
    None
}

/// [`firmware`] as a yes/no for tests that let `pybsim` find it.
pub fn have_firmware() -> bool {
    firmware().is_some()
}

/// The official v1.25.0 firmware for `board` ("PYBV11", "PYBV10") as the environment
/// variable `PYBSIM_OFFICIAL_FIRMWARE_<board>` gives it, or None when it is not set (the
/// firmware is not part of this repository): the test is recorded as skipped.
pub fn official_firmware(board: &str) -> Option<String> {
    let var = format!("PYBSIM_OFFICIAL_FIRMWARE_{board}");
    match std::env::var(&var) {
        Ok(v) => Some(v),
        Err(_) => {
            skip(&format!("{var} is not set (the official {board} firmware)"));
            None
        }
    }
}

/// Runs the `pybsim` binary with `args` and no input.
pub fn pybsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pybsim"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn pybsim")
}

/// Runs the `pybsim` binary with `args`, writing `stdin` to its standard input.
pub fn pybsim_fed(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pybsim"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pybsim");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("stdin written");
    child.wait_with_output().expect("pybsim ends")
}

/// Output bytes as text (invalid UTF-8 replaced).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// This test binary's own directory in the system's temp dir, shared by its tests and
/// kept between calls: `pybsim-<test file>-<pid>`.
pub fn shared_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "pybsim-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// A fresh, empty scratch directory of its own for one test:
/// `pybsim-<test file>-<pid>-<name>`.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "pybsim-{}-{}-{name}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Writes `data` to `dir/name` and returns its path.
pub fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("scratch file");
    p
}

/// Writes a script (or any small input file) into [`shared_dir`] and returns its path.
pub fn script(name: &str, body: &str) -> PathBuf {
    write(&shared_dir(), name, body)
}

/// Whether the host tool `name` (installed by scripts/setup-deps.sh) can be run; when it
/// cannot, the test records a skip (see [`skip`]) naming what it would have checked.
pub fn have_tool(name: &str, checks: &str) -> bool {
    let found = Command::new(name)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        skip(&format!(
            "{name} is not installed (scripts/setup-deps.sh installs it): {checks} not checked"
        ));
    }
    found
}

/// Validates a JUnit report against the strict schema (tests/pybsim-test/junit-strict.xsd,
/// the rules of Jenkins' junit-10) with xmllint: Ok, Err(xmllint's complaints), or None
/// when xmllint is not installed (a skip is recorded).
pub fn validate_junit(file: &Path) -> Option<Result<(), String>> {
    if !have_tool("xmllint", "the JUnit report against the strict schema") {
        return None;
    }
    let schema = repo().join("tests/pybsim-test/junit-strict.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(file)
        .output()
        .expect("xmllint runs");
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(text(&out.stderr))
    })
}
