//! Builds the small Thumb test programs of `tests/asm/` with Debian's `arm-none-eabi-gcc`.
//!
//! `build_program("fpu")` compiles `tests/asm/fpu.S` (or `fpu.c`, at `-O2`) together with
//! `tests/asm/common.S` (vector table, start-up, semihosting helpers) and links it with
//! `tests/asm/link.ld`. The ELF goes to `<workspace>/target/asm-tests/<flags-hash>/<name>.elf`
//! and is rebuilt only when a source (`<name>.S`/`.c`, `common.S`, `common.h`, `link.ld`)
//! is newer than it. Concurrent callers are safe: builds in one process are serialised, and
//! every build writes a uniquely named temporary file that is renamed into place atomically,
//! so parallel test processes never see a half-written ELF.
//!
//! Set `PYBSIM_ARM_GCC` to use another compiler than `arm-none-eabi-gcc` from `PATH`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

/// Target flags shared by every test program.
const CPU_FLAGS: &[&str] = &[
    "-mcpu=cortex-m4",
    "-mthumb",
    "-mfloat-abi=hard",
    "-mfpu=fpv4-sp-d16",
];

/// Everything else given to the compiler driver, before the sources.
const BUILD_FLAGS: &[&str] = &[
    "-nostdlib",
    "-nostartfiles",
    "-ffreestanding",
    "-g",
    "-Wall",
    "-Wl,--gc-sections",
    "-Wl,--no-warn-rwx-segments",
];

/// Extra flags for C sources.
const C_FLAGS: &[&str] = &["-O2", "-std=c11"];

/// Serialises builds within one process (tests of one binary run on several threads).
static BUILD_LOCK: Mutex<()> = Mutex::new(());
/// Makes temporary names unique within one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The workspace root (the parent of the `emulator` crate).
pub fn workspace_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// `<workspace>/tests/asm`: the test programs' sources.
pub fn asm_dir() -> PathBuf {
    workspace_dir().join("tests").join("asm")
}

/// `<workspace>/target/asm-tests`: where the built programs are cached.
pub fn cache_dir() -> PathBuf {
    workspace_dir().join("target").join("asm-tests")
}

/// The compiler driver: `$PYBSIM_ARM_GCC` or `arm-none-eabi-gcc`.
fn compiler() -> String {
    std::env::var("PYBSIM_ARM_GCC").unwrap_or_else(|_| "arm-none-eabi-gcc".to_string())
}

/// 32-bit FNV-1a, to key the cache directory on the compiler and flags.
fn fnv1a(parts: &[&str]) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for part in parts {
        for &b in part.as_bytes().iter().chain(std::iter::once(&0u8)) {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

fn mtime(path: &Path) -> Result<SystemTime, String> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Compiles and links `tests/asm/<name>.S` (or `<name>.c`) into an ELF, or returns the
/// cached one when it is up to date. Returns the ELF's path, or a message (with the
/// compiler's output) saying what went wrong.
pub fn build_program(name: &str) -> Result<PathBuf, String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!("bad test program name {name:?}"));
    }
    if name == "common" {
        return Err("`common` is the shared start-up code, not a program".to_string());
    }
    let dir = asm_dir();
    let asm = dir.join(format!("{name}.S"));
    let c = dir.join(format!("{name}.c"));
    let (source, is_c) = if asm.is_file() {
        (asm, false)
    } else if c.is_file() {
        (c, true)
    } else {
        return Err(format!(
            "no test program {name}: neither {} nor {} exists",
            asm.display(),
            c.display()
        ));
    };
    let common = dir.join("common.S");
    let header = dir.join("common.h");
    let script = dir.join("link.ld");

    let gcc = compiler();
    let mut key: Vec<&str> = vec![gcc.as_str()];
    key.extend_from_slice(CPU_FLAGS);
    key.extend_from_slice(BUILD_FLAGS);
    if is_c {
        key.extend_from_slice(C_FLAGS);
    }
    let out_dir = cache_dir().join(format!("{:08x}", fnv1a(&key)));
    let elf = out_dir.join(format!("{name}.elf"));

    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());

    // Any file of tests/asm may be included (hardfault.S includes busfault.S): rebuild
    // when any of them is newer than the program.
    let mut newest = mtime(&source)?;
    for dep in [&common, &header, &script] {
        newest = newest.max(mtime(dep)?);
    }
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            if let Ok(t) = mtime(&e.path()) {
                newest = newest.max(t);
            }
        }
    }
    if let Ok(built) = mtime(&elf) {
        if built >= newest {
            return Ok(elf);
        }
    }

    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let tmp = out_dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut cmd = Command::new(&gcc);
    cmd.args(CPU_FLAGS).args(BUILD_FLAGS);
    if is_c {
        cmd.args(C_FLAGS);
    }
    cmd.arg("-I")
        .arg(&dir)
        .arg(format!("-Wl,-T,{}", script.display()))
        .arg("-o")
        .arg(&tmp)
        .arg(&common)
        .arg(&source);
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {gcc}: {e} (install gcc-arm-none-eabi)"))?;
    if !output.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "{gcc} failed on {} ({}):\n{}{}",
            source.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    fs::rename(&tmp, &elf).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("{}: {e}", elf.display())
    })?;
    Ok(elf)
}

/// The names of all test programs in `tests/asm` (`*.S` and `*.c` except `common.S`),
/// sorted.
pub fn program_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(asm_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let ext = path.extension()?.to_str()?;
            if ext != "S" && ext != "c" {
                return None;
            }
            let stem = path.file_stem()?.to_str()?.to_string();
            (stem != "common").then_some(stem)
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_names() {
        assert!(build_program("../etc/passwd").is_err());
        assert!(build_program("").is_err());
        assert!(build_program("common").is_err());
        assert!(build_program("no_such_program").is_err());
    }

    #[test]
    fn lists_programs() {
        let names = program_names();
        for expected in ["fpu", "nested_irq", "tailchain", "pendsv", "systick", "wfi"] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing");
        }
        assert!(!names.iter().any(|n| n == "common"));
    }
}
