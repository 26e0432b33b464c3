//! The fuzzing harness shared by the fuzz targets of every crate (each includes this file
//! with `#[path]`): proptest runs a target's strategy with a fixed seed, first replaying
//! the target's corpus (tests/fuzz/corpus/<target>/), and turns a panic, a failed check
//! or a hang into a test failure that names the input.
//!
//! Environment:
//! - `PYBSIM_FUZZ_CASES`: generated cases per target (each target has a default sized for
//!   CI; the nightly-length run is 100000).
//! - `PYBSIM_FUZZ_SEED`: a number mixed into every target's seed, to explore other inputs
//!   (the default, 0, gives the same inputs on every run and machine).
//! - `PYBSIM_FUZZ_HANG_SECS`: how long one case may run before it counts as a hang
//!   (default 60 s; cases take micro- to milliseconds).
//!
//! A failing input is shrunk, written to `target/fuzz-failures/<target>-<hash>`, and the
//! test fails naming that file; once fixed, copy it into the target's corpus.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// Cases a target runs: `PYBSIM_FUZZ_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    match std::env::var("PYBSIM_FUZZ_CASES") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("PYBSIM_FUZZ_CASES={v:?} is not a number")),
        Err(_) => default,
    }
}

/// The seed of `target`: its name hashed (FNV-1a) with `PYBSIM_FUZZ_SEED`.
pub fn seed(target: &str) -> [u8; 32] {
    let extra: u64 = std::env::var("PYBSIM_FUZZ_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ extra;
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        for b in target.bytes().chain([i as u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
        chunk.copy_from_slice(&h.to_le_bytes());
    }
    out
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate inside the repository")
        .to_path_buf()
}

/// The corpus files of `target`, sorted by name: (file name, bytes).
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = repo().join("tests/fuzz/corpus").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("corpus entry").path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read corpus file"))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "corpus {} is empty", dir.display());
    out
}

fn failure_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let dir = target.join("fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn save(target: &str, bytes: &[u8]) -> PathBuf {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    let path = failure_dir().join(format!("{target}-{h:016x}"));
    let _ = std::fs::write(&path, bytes);
    path
}

/// Watches a target run: if one case runs longer than the hang limit, saves its input
/// and aborts the process with a message naming it (a hang must fail, not stall CI).
struct Watchdog {
    done: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
    current: Arc<Mutex<Vec<u8>>>,
}

impl Watchdog {
    fn start(target: &'static str) -> Watchdog {
        let limit = std::env::var("PYBSIM_FUZZ_HANG_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60u64);
        let w = Watchdog {
            done: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(AtomicU64::new(0)),
            current: Arc::new(Mutex::new(Vec::new())),
        };
        let (done, progress, current) = (w.done.clone(), w.progress.clone(), w.current.clone());
        std::thread::spawn(move || {
            let mut seen = u64::MAX;
            let mut since = Instant::now();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let now = progress.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    since = Instant::now();
                } else if since.elapsed() > Duration::from_secs(limit) {
                    let bytes = current.lock().map(|b| b.clone()).unwrap_or_default();
                    let path = save(target, &bytes);
                    eprintln!(
                        "fuzz target {target}: case {now} has run for more than {limit} s: a hang; \
                         its input is in {}",
                        path.display()
                    );
                    std::process::abort();
                }
            }
        });
        w
    }

    fn enter(&self, bytes: Vec<u8>) {
        if let Ok(mut c) = self.current.lock() {
            *c = bytes;
        }
        self.progress.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// One fuzz target: the corpus replayed through `from_corpus`, then `default_cases`
/// (or `PYBSIM_FUZZ_CASES`) inputs of `strategy`, each serialised by `to_bytes` (for the
/// failure and hang reports) and checked by `check`, which returns `Err` (or panics)
/// on a finding.
pub fn run<S, B, C, F>(
    target: &'static str,
    default_cases: u32,
    strategy: S,
    from_corpus: F,
    to_bytes: B,
    check: C,
) where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(&str, &[u8]) -> S::Value,
    B: Fn(&S::Value) -> Vec<u8>,
    C: Fn(&S::Value) -> Result<(), String>,
{
    let started = Instant::now();
    let watch = Watchdog::start(target);
    let corpus = corpus(target);
    for (name, bytes) in &corpus {
        watch.enter(bytes.clone());
        let input = from_corpus(name, bytes);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("fuzz target {target}: corpus file {name}: {e}"),
            Err(_) => panic!("fuzz target {target}: corpus file {name} panicked"),
        }
    }
    let n = cases(default_cases);
    let config = Config {
        cases: n,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed(target));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&strategy, |input| {
        watch.enter(to_bytes(&input));
        check(&input).map_err(TestCaseError::fail)
    });
    drop(watch);
    match result {
        Ok(()) => eprintln!(
            "fuzz target {target}: {} corpus files and {n} generated cases, no finding, in {:.1} s",
            corpus.len(),
            started.elapsed().as_secs_f64()
        ),
        Err(TestError::Fail(why, input)) => {
            let path = save(target, &to_bytes(&input));
            let shown = format!("{input:?}");
            let shown: String = shown.chars().take(2000).collect();
            panic!(
                "fuzz target {target}: {why}\nminimal input saved to {} (add it to \
                 tests/fuzz/corpus/{target}/ with the fix): {shown}",
                path.display()
            );
        }
        Err(TestError::Abort(why)) => panic!("fuzz target {target}: aborted: {why}"),
    }
}

/// Interesting 32-bit values: edges of the STM32F405's memories and of the integer
/// range, small counts.
pub fn interesting_u32() -> impl Strategy<Value = u32> + Clone {
    use proptest::prelude::*;
    prop_oneof![
        3 => proptest::sample::select(vec![
            0u32, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 40, 52, 63, 64, 255, 256, 511, 512, 513,
            1023, 1024, 4095, 4096, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
            0xFFFF_FFFE, 0xFFFF_FFFC, 0xFFFF_FC00, 0xFFFF_0000, 0x0800_0000, 0x0800_0001,
            0x0800_0009, 0x080F_FFFC, 0x0810_0000, 0x0802_0000, 0x1000_0000, 0x1000_FFFC,
            0x1FFF_0000, 0x2000_0000, 0x2001_FFFC, 0x2002_0000, 0x4000_0000, 0x4002_0000,
            0x4008_0000, 0x5000_0000, 0xE000_E000,
        ]),
        1 => any::<u32>(),
        1 => 0u32..0x1000,
    ]
}
