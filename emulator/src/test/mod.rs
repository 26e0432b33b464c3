//! `pybsim test`: deterministic regression tests for MicroPython code.
//!
//! Every `*.py` file under the given paths is a test (directories are searched
//! recursively; those whose name starts with `.` or `_` are not, so a test's `fs`
//! tree can live in `_name/`). Each test runs on a freshly booted board, like
//! `pybsim run`, and passes when:
//!
//! - its output, with CR LF made LF, equals `name.py.exp` beside it; without a `.exp`
//!   file, when the script ends without an uncaught exception (the test is then counted
//!   as one with "no expected output");
//! - no budget ran out and the guest did not fault;
//! - its scenario steps and text checks, if it has any, hold ([`scenario`]);
//! - its cycle count is within the tolerance (default 1 %) of the snapshot in
//!   `name.py.cycles`, either way: a test that got faster beyond it fails too, and is
//!   blessed deliberately like a slower one (a change within it is reported and passes).
//!
//! Counted cycles: from the raw REPL's "OK" (the firmware has the whole script) to
//! its final EOT (output and traceback written), as those bytes leave the board: exact
//! on any firmware and console; see [`exec`]. Boot is not counted.
//!
//! Options come from `# pybsim: KEY VALUE` lines in the test's header comment and from
//! a `pybsim-test.cfg` in its directory; see [`options`]. Budgets (`max-cycles`,
//! `max-time`) count from the moment the script is sent; every test has a time budget
//! (`--max-time`, default 10 s of board time). A test that runs out of budget is run
//! again (identically: runs are deterministic) under the profiler of
//! [`crate::profile`], stopping at the same cycle, and its top functions are shown.
//!
//! `--bless-exp` writes the output of every test that ran to its end as its `.exp`.
//! `--bless` writes the `.cycles` snapshot of every test that passed otherwise: it
//! creates missing ones ("new snapshot") and rewrites changed ones; and it writes the
//! `.exp` of a test that passed without one (a differing `.exp` is `--bless-exp`'s to
//! rewrite). Without them no file is written; a missing snapshot is reported and the
//! test passes.
//!
//! `--partition K/N`: the tests are sorted by path and shard K takes those whose index
//! i (from 0) has i mod N = K-1 (round robin, so long and short tests spread evenly).
//!
//! Reports: progress and failure details on stdout (stderr when the JSON report goes
//! to stdout), `--junit FILE` (JUnit XML, board times, valid against the strict schema
//! tests/pybsim-test/junit-strict.xsd; see [`report::junit`]), `--json [FILE]` (JSON;
//! `-` or no value: stdout). Exit status: 0 when every test passed or was skipped, 1
//! otherwise, 64 on a usage error.
//!
//! JSON report: `{"format": "pybsim-test", "version": 1, "summary": {tests, passed,
//! failed, skipped, new_snapshots, snapshots_written, exp_written, no_expected_output
//! (passed tests without `.exp`), board_ns, wall_ms}, "tests": [{name, status
//! ("passed"|"failed"|"skipped"), kind (failure kind: "output", "exception", "fault",
//! "budget", "cycles", "scenario", "watchdog", "error", "exit", "halted"; null unless
//! failed), reason, outcome ("done"|"exception"|"fault"|"budget"|"exit"|"halted"|
//! "watchdog"|"scenario"|"error"|null), cycles, cycles_exact, snapshot (null or {state
//! ("new"|"same"|"changed"|"over_tolerance"|"unreadable"), old, new, ratio, written}),
//! expected_output (the test has a `.exp`), scenario (null or {steps, done}), board_ns,
//! output, details}]}`. Only `wall_ms` varies from run to run.

pub mod exec;
pub mod options;
pub mod report;
pub mod scenario;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use crate::session::SessionConfig;
use exec::{Budgets, End, Extras};
use options::{DirConfig, TestOptions, DIR_CONFIG};

/// Exit status for usage errors.
pub const EXIT_USAGE: u8 = 64;

/// Options of `pybsim test`.
#[derive(clap::Args, Debug, Clone)]
pub struct TestArgs {
    /// Files or directories holding the `*.py` tests.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Tests run at once (default: the number of CPUs).
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Run shard K of N (1-based): of the tests sorted by path, every Nth from the Kth.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
    /// Write cycle snapshots: create missing ones, rewrite changed ones.
    #[arg(long)]
    pub bless: bool,
    /// Write each test's output, when it ran to its end, as its `.exp` file (creating
    /// missing ones): for scripts whose expected output legitimately changed.
    #[arg(long)]
    pub bless_exp: bool,
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a JSON report to FILE (`-` or no value: stdout; the progress then goes to
    /// stderr).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,
    /// Firmware for tests that name none (default: $PYBSIM_FIRMWARE, else pybsim's own
    /// runtime in .cache/firmware/firmware.elf).
    #[arg(long)]
    pub firmware: Option<PathBuf>,
    /// Board for tests that name none.
    #[arg(long, default_value = "pybv11")]
    pub board: String,
    /// Board-time budget of tests that set none, from the moment the script is sent.
    #[arg(long, default_value = "10s")]
    pub max_time: String,
    /// Allowed cycle increase over a snapshot for tests that set none, e.g. 1%.
    #[arg(long, default_value = "1%")]
    pub tolerance: String,
}

pub use crate::session::default_firmware;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

/// A test's cycle count against its snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Snapshot {
    /// No count to compare (the test did not run to its end, or failed first).
    NotTaken,
    New {
        new: u64,
        written: bool,
    },
    Same {
        n: u64,
    },
    Changed {
        old: u64,
        new: u64,
        over: bool,
        written: bool,
    },
    Unreadable {
        problem: String,
        written: bool,
    },
}

impl Snapshot {
    pub fn old(&self) -> Option<u64> {
        match self {
            Snapshot::Same { n } => Some(*n),
            Snapshot::Changed { old, .. } => Some(*old),
            _ => None,
        }
    }
}

/// The result of one test.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// The path as found (the arguments joined with what was found under them).
    pub name: String,
    pub status: Status,
    /// Failure kind (see the JSON format).
    pub kind: &'static str,
    /// One line: why it failed or was skipped, or notes on a pass.
    pub reason: String,
    /// Many lines: diff, traceback, fault report, budget.
    pub details: String,
    pub outcome: Option<&'static str>,
    /// Output, CR LF made LF.
    pub output: String,
    pub cycles: Option<u64>,
    pub cycles_exact: bool,
    pub snapshot: Snapshot,
    pub board_ns: u64,
    /// `--bless-exp` (or `--bless`, for a missing one) wrote its `.exp` file.
    pub exp_written: bool,
    /// The test has a `.exp` to compare its output with.
    pub expected_output: bool,
    /// Scenario steps in all and done, when it has a scenario.
    pub scenario: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub new_snapshots: usize,
    pub snapshots_written: usize,
    pub exp_written: usize,
    /// Tests that ran without a `.exp` (their output was not checked).
    pub no_expected_output: usize,
    pub board_ns: u64,
    pub wall_ms: u64,
}

/// Settings shared by all tests of a run.
struct Common {
    firmware: Option<PathBuf>,
    board: String,
    max_ns: u64,
    max_time_text: String,
    tolerance_pct: f64,
    bless: bool,
    bless_exp: bool,
    configs: HashMap<PathBuf, Result<DirConfig, String>>,
}

fn usage(msg: impl std::fmt::Display) -> anyhow::Result<u8> {
    eprintln!("pybsim test: {msg}");
    Ok(EXIT_USAGE)
}

/// Parses `K/N` with 1 <= K <= N.
pub fn parse_partition(s: &str) -> Result<(usize, usize), String> {
    let err = || format!("--partition {s}: expected K/N with 1 <= K <= N, e.g. 1/2");
    let (k, n) = s.split_once('/').ok_or_else(err)?;
    let k: usize = k.trim().parse().map_err(|_| err())?;
    let n: usize = n.trim().parse().map_err(|_| err())?;
    if k == 0 || n == 0 || k > n {
        return Err(err());
    }
    Ok((k, n))
}

/// The `*.py` tests under `paths`, sorted and without duplicates.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut found = BTreeSet::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut found).map_err(|e| format!("{}: {e}", p.display()))?;
        } else if p.extension().is_some_and(|e| e == "py") {
            found.insert(p.clone());
        } else {
            return Err(format!("{}: not a directory or a .py test", p.display()));
        }
    }
    Ok(found.into_iter().collect())
}

fn walk(dir: &Path, found: &mut BTreeSet<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let ty = entry.file_type()?;
        let is_dir = ty.is_dir() || (ty.is_symlink() && path.is_dir());
        if is_dir {
            if !name.starts_with('.') && !name.starts_with('_') {
                walk(&path, found)?;
            }
        } else if name.ends_with(".py") {
            found.insert(path);
        }
    }
    Ok(())
}

/// Runs the tests; returns the exit status.
pub fn run(args: &TestArgs) -> anyhow::Result<u8> {
    let wall = Instant::now();
    let partition = match &args.partition {
        Some(p) => match parse_partition(p) {
            Ok(kn) => Some(kn),
            Err(e) => return usage(e),
        },
        None => None,
    };
    let jobs = match args.jobs {
        Some(0) => return usage("-j 0: at least one job is needed"),
        Some(j) => j,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let max_ns = match pybsim_boards::parse_duration(&args.max_time) {
        Ok(t) => t.to_nanos(168_000_000),
        Err(e) => return usage(format!("--max-time: {e}")),
    };
    let Some(tolerance_pct) = options::parse_percent(&args.tolerance) else {
        return usage(format!(
            "--tolerance {}: not a percentage (such as 1% or 0.5%)",
            args.tolerance
        ));
    };
    if let Some(f) = &args.firmware {
        if !f.is_file() {
            return usage(format!("--firmware {}: no such file", f.display()));
        }
    }
    let all = match discover(&args.paths) {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    if all.is_empty() {
        let p: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        return usage(format!("no *.py tests under {}", p.join(" ")));
    }
    let total_found = all.len();
    let tests: Vec<PathBuf> = match partition {
        Some((k, n)) => all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, t)| t)
            .collect(),
        None => all,
    };
    let json_to_stdout = args.json.as_deref() == Some(Path::new("-"));
    let mut progress: Box<dyn Write> = if json_to_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };

    // Directory configurations, read once.
    let mut configs = HashMap::new();
    for t in &tests {
        let dir = t.parent().unwrap_or(Path::new("")).to_path_buf();
        configs.entry(dir.clone()).or_insert_with(|| {
            let path = dir.join(DIR_CONFIG);
            match std::fs::read_to_string(&path) {
                Ok(text) => DirConfig::parse(&path, &text)
                    .map(|mut c| {
                        c.sections.retain(|name, _| {
                            let exists = dir.join(name).is_file();
                            if !exists {
                                eprintln!(
                                    "pybsim test: warning: {}: section [{name}] names no test file",
                                    path.display()
                                );
                            }
                            exists
                        });
                        c
                    })
                    .map_err(|e| e.to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DirConfig::default()),
                Err(e) => Err(format!("{}: {e}", path.display())),
            }
        });
    }
    let common = Common {
        firmware: args.firmware.clone().or_else(default_firmware),
        board: args.board.clone(),
        max_ns,
        max_time_text: format!("max-time {}", args.max_time),
        tolerance_pct,
        bless: args.bless,
        bless_exp: args.bless_exp,
        configs,
    };

    let shard = match partition {
        Some((k, n)) => format!(" (shard {k}/{n} of {total_found})"),
        None => String::new(),
    };
    let _ = writeln!(
        progress,
        "pybsim test: {} tests{shard}, {} jobs",
        tests.len(),
        jobs.min(tests.len()).max(1)
    );

    let reports = run_all(&tests, &common, jobs, &mut *progress);

    let mut sum = Summary::default();
    for r in &reports {
        match r.status {
            Status::Passed => sum.passed += 1,
            Status::Failed => sum.failed += 1,
            Status::Skipped => sum.skipped += 1,
        }
        match &r.snapshot {
            Snapshot::New { written, .. } => {
                sum.new_snapshots += 1;
                sum.snapshots_written += usize::from(*written);
            }
            Snapshot::Changed { written: true, .. }
            | Snapshot::Unreadable { written: true, .. } => sum.snapshots_written += 1,
            _ => {}
        }
        sum.board_ns += r.board_ns;
        sum.exp_written += usize::from(r.exp_written);
        sum.no_expected_output += usize::from(!r.expected_output && r.status == Status::Passed);
    }
    sum.wall_ms = wall.elapsed().as_millis() as u64;

    // Failure details, in test order.
    for r in reports.iter().filter(|r| r.status == Status::Failed) {
        let _ = writeln!(progress, "\n==== {}: {}", r.name, r.reason);
        let _ = write!(progress, "{}", indent(&r.details));
    }
    let mut line = format!(
        "\n{} passed, {} failed, {} skipped",
        sum.passed, sum.failed, sum.skipped
    );
    if sum.new_snapshots > 0 {
        line.push_str(&format!(
            ", {} new snapshots{}",
            sum.new_snapshots,
            if args.bless {
                ""
            } else {
                " (not written: --bless writes them)"
            }
        ));
    }
    let written_other = sum.snapshots_written - if args.bless { sum.new_snapshots } else { 0 };
    if written_other > 0 {
        line.push_str(&format!(", {written_other} snapshots rewritten"));
    }
    if sum.exp_written > 0 {
        line.push_str(&format!(", {} .exp files written", sum.exp_written));
    }
    if sum.no_expected_output > 0 {
        line.push_str(&format!(
            ", {} with no expected output (no .exp; --bless writes it)",
            sum.no_expected_output
        ));
    }
    let _ = writeln!(
        progress,
        "{line}; board time {:.3} s, wall time {:.3} s",
        sum.board_ns as f64 / 1e9,
        sum.wall_ms as f64 / 1e3
    );
    let _ = progress.flush();

    let suite = match partition {
        Some((k, n)) => format!("pybsim test (shard {k}/{n})"),
        None => "pybsim test".to_string(),
    };
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&reports, &sum, &suite))
            .map_err(|e| anyhow::anyhow!("--junit {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.json {
        let text = report::json(&reports, &sum);
        if json_to_stdout {
            let mut out = std::io::stdout();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        } else {
            std::fs::write(path, text)
                .map_err(|e| anyhow::anyhow!("--json {}: {e}", path.display()))?;
        }
    }
    Ok(u8::from(sum.failed > 0))
}

fn indent(text: &str) -> String {
    let mut s = String::new();
    for line in text.lines() {
        s.push_str("  ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// Runs the tests on `jobs` worker threads (each makes its own sessions: unicorn is
/// not `Send`) and prints a progress line per test, in test order.
fn run_all(
    tests: &[PathBuf],
    common: &Common,
    jobs: usize,
    progress: &mut dyn Write,
) -> Vec<TestReport> {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, TestReport)>();
    let mut done: BTreeMap<usize, TestReport> = BTreeMap::new();
    let mut reports = Vec::with_capacity(tests.len());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(tests.len()).max(1) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = tests.get(i) else { break };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_one(path, common)
                }))
                .unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failed(
                        path,
                        "error",
                        format!("internal error: pybsim panicked: {msg}"),
                    )
                });
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (i, r) in rx {
            done.insert(i, r);
            while let Some(r) = done.remove(&reports.len()) {
                let _ = writeln!(progress, "{}", progress_line(&r));
                let _ = progress.flush();
                reports.push(r);
            }
        }
    });
    reports
}

fn progress_line(r: &TestReport) -> String {
    let tag = match r.status {
        Status::Passed => "PASS",
        Status::Failed => "FAIL",
        Status::Skipped => "SKIP",
    };
    let mut s = format!("{tag} {}", r.name);
    if let Some(c) = r.cycles {
        s.push_str(&format!(" [{} cycles]", group(c)));
    }
    if !r.reason.is_empty() {
        s.push_str(": ");
        s.push_str(&r.reason);
    }
    s
}

/// 1234567 as 1_234_567.
pub fn group(n: u64) -> String {
    let d = n.to_string();
    let mut s = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            s.push('_');
        }
        s.push(c);
    }
    s
}

fn blank(path: &Path) -> TestReport {
    TestReport {
        name: {
            let n = path.to_string_lossy().replace('\\', "/");
            match n.strip_prefix("./") {
                Some(rest) if !rest.is_empty() => rest.to_string(),
                _ => n,
            }
        },
        status: Status::Passed,
        kind: "",
        reason: String::new(),
        details: String::new(),
        outcome: None,
        output: String::new(),
        cycles: None,
        cycles_exact: false,
        snapshot: Snapshot::NotTaken,
        board_ns: 0,
        exp_written: false,
        expected_output: false,
        scenario: None,
    }
}

fn failed(path: &Path, kind: &'static str, reason: String) -> TestReport {
    TestReport {
        status: Status::Failed,
        kind,
        reason,
        ..blank(path)
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Runs one test and judges it.
fn run_one(path: &Path, common: &Common) -> TestReport {
    let source = match std::fs::read(path) {
        Ok(s) => s,
        Err(e) => return failed(path, "error", format!("{}: {e}", path.display())),
    };
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let cfg = match common.configs.get(&dir) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return failed(path, "error", e.clone()),
        None => None,
    };
    let opts = match options::resolve(path, &String::from_utf8_lossy(&source), cfg) {
        Ok(o) => o,
        Err(e) => return failed(path, "error", e.to_string()),
    };
    if let Some(reason) = &opts.skip {
        return TestReport {
            status: Status::Skipped,
            reason: reason.clone(),
            ..blank(path)
        };
    }
    let session_cfg = match session_config(&opts, common) {
        Ok(c) => c,
        Err(e) => return failed(path, "error", e),
    };
    let budgets = Budgets {
        max_cycles: opts.max_cycles,
        max_ns: Some(opts.max_ns.unwrap_or(common.max_ns)),
        max_time_text: match &opts.max_time_text {
            Some(t) => format!("max-time {t}"),
            None => common.max_time_text.clone(),
        },
    };
    let extras = match test_extras(&opts) {
        Ok(e) => e,
        Err(e) => return failed(path, "error", e),
    };
    let exp_path = with_suffix(path, ".exp");
    let mut expected = match std::fs::read(&exp_path) {
        Ok(e) => Some(report::normalise(&e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return failed(path, "error", format!("{}: {e}", exp_path.display())),
    };

    let res = exec::run_test(&session_cfg, &source, &budgets, &extras);
    let mut r = blank(path);
    r.scenario = res.scenario;
    r.output = report::normalise(&res.output);
    r.cycles = res.cycles;
    r.cycles_exact = res.cycles_exact;
    r.board_ns = res.board_ns;
    r.outcome = Some(match &res.end {
        End::Done => "done",
        End::Exception => "exception",
        End::Fault => "fault",
        End::Budget(_) => "budget",
        End::Exit(_) => "exit",
        End::Halted => "halted",
        End::Error(_) => "error",
        End::WatchdogReset(_) => "watchdog",
        End::Scenario(_) => "scenario",
    });
    let mut exp_note = None;
    // --bless-exp takes any output of a script that ran to its end; --bless writes the
    // .exp of a test that has none and passed.
    let bless_exp = common.bless_exp
        && matches!(res.end, End::Done | End::Exception)
        && expected.as_deref() != Some(r.output.as_str());
    if bless_exp {
        if let Err(e) = std::fs::write(&exp_path, &r.output) {
            return failed(path, "error", format!("{}: {e}", exp_path.display()));
        }
        exp_note = Some(if expected.is_some() {
            ".exp rewritten"
        } else {
            ".exp written"
        });
        expected = Some(r.output.clone());
    }
    r.expected_output = expected.is_some();
    let mut fail = |kind: &'static str, reason: String, details: String| {
        r.status = Status::Failed;
        r.kind = kind;
        r.reason = reason;
        r.details = details;
    };
    let output_block = |out: &str| {
        if out.is_empty() {
            "output: (none)\n".to_string()
        } else {
            format!(
                "output:\n{}{}",
                out,
                if out.ends_with('\n') { "" } else { "\n" }
            )
        }
    };
    match &res.end {
        End::Error(e) => fail("error", format!("cannot run the board: {e}"), String::new()),
        End::WatchdogReset(what) => fail("watchdog", what.clone(), output_block(&r.output)),
        End::Fault => fail(
            "fault",
            "guest fault".into(),
            format!(
                "{}{}",
                res.fault.clone().unwrap_or_default(),
                output_block(&r.output)
            ),
        ),
        End::Scenario(f) => fail(
            "scenario",
            f.reason.clone(),
            format!("{}{}", f.details, output_block(&r.output)),
        ),
        End::Budget(which) => {
            let so_far = match res.cycles {
                Some(c) => format!(" after {} cycles of the script", group(c)),
                None => " before the script started".to_string(),
            };
            let step = match &res.scenario_note {
                Some(n) => format!("{n}\n"),
                None => String::new(),
            };
            fail(
                "budget",
                format!("budget exceeded ({which})"),
                format!(
                    "stopped{so_far} ({:.6} s of board time in all)\n{step}{}{}",
                    res.board_ns as f64 / 1e9,
                    output_block(&r.output),
                    exec::profile_overrun(&session_cfg, &source, res.stop_cycle, 8)
                ),
            )
        }
        End::Exit(c) => fail(
            "exit",
            format!("the firmware exited (semihosting) with status {c}"),
            output_block(&r.output),
        ),
        End::Halted => fail(
            "halted",
            "the CPU sleeps with nothing that could wake it".into(),
            output_block(&r.output),
        ),
        End::Done | End::Exception => match &expected {
            Some(exp) if *exp != r.output => fail(
                "output",
                format!("output differs from {}", exp_path.display()),
                report::diff(exp, &r.output),
            ),
            Some(_) => {}
            None if res.end == End::Exception => fail(
                "exception",
                "uncaught exception".into(),
                output_block(&r.output),
            ),
            None => {}
        },
    }
    if let (Some(e), Status::Passed) = (&res.write_error, r.status) {
        r.status = Status::Failed;
        r.kind = "error";
        r.reason = e.clone();
    }
    if r.status == Status::Passed {
        if let Some(c) = res.cycles {
            check_snapshot(path, c, &opts, common, &mut r);
        }
    }
    if r.status == Status::Passed && !r.expected_output {
        if common.bless && res.end == End::Done {
            // --bless writes the .exp of a test that passed without one.
            if let Err(e) = std::fs::write(&exp_path, &r.output) {
                r.status = Status::Failed;
                r.kind = "error";
                r.reason = format!("{}: {e}", exp_path.display());
                return r;
            }
            r.expected_output = true;
            exp_note = Some(".exp written");
        } else {
            r.reason = if r.reason.is_empty() {
                "no expected output".to_string()
            } else {
                format!("no expected output; {}", r.reason)
            };
        }
    }
    if let Some(note) = exp_note {
        r.exp_written = true;
        r.reason = if r.reason.is_empty() {
            note.to_string()
        } else {
            format!("{note}; {}", r.reason)
        };
    }
    r
}

/// The scenario and trace files a test's options ask for.
fn test_extras(opts: &TestOptions) -> Result<Extras, String> {
    let mut plan = scenario::Plan::default();
    if let Some(f) = &opts.scenario {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("scenario {}: {e}", f.display()))?;
        let sc = scenario::parse_scenario(f, &text)?;
        plan.add_scenario(&f.display().to_string(), sc);
    }
    for (origin, step) in &opts.steps {
        plan.add_step(origin.clone(), step.clone());
    }
    plan.expect_text.extend(opts.expect_text.iter().cloned());
    plan.fail_text.extend(opts.fail_text.iter().cloned());
    if opts.vcd_vectors && opts.vcd.is_none() {
        return Err("`vcd-vectors` needs a `vcd` file".into());
    }
    Ok(Extras {
        plan,
        vcd: opts.vcd.clone().map(|p| {
            (
                p,
                crate::vcd::VcdOptions {
                    vectors: opts.vcd_vectors,
                    end: None,
                },
            )
        }),
        dac_trace: opts.dac_trace.clone(),
    })
}

fn session_config(opts: &TestOptions, common: &Common) -> Result<SessionConfig, String> {
    let firmware = match opts.firmware.clone().or_else(|| common.firmware.clone()) {
        Some(f) => f,
        None => {
            return Err(
                "no firmware: build it (pybsim firmware, or scripts/build-firmware.sh), \
                        or give --firmware or a `firmware` option"
                    .into(),
            )
        }
    };
    if !firmware.is_file() {
        return Err(format!("firmware {}: no such file", firmware.display()));
    }
    if let Some(fs) = &opts.fs {
        if !fs.is_dir() {
            return Err(format!("fs {}: no such directory", fs.display()));
        }
    }
    if let Some(st) = &opts.stimuli {
        if !st.is_file() {
            return Err(format!("stimuli {}: no such file", st.display()));
        }
    }
    if let Some(sd) = &opts.sd {
        if !sd.is_file() {
            return Err(format!("sd {}: no such file", sd.display()));
        }
    }
    Ok(SessionConfig {
        board: opts.board.clone().unwrap_or_else(|| common.board.clone()),
        firmware,
        fs: opts.fs.clone(),
        wires: opts.wires.clone(),
        stimuli: opts.stimuli.clone(),
        max_cycles: None,
        max_ns: None,
        repl_uart: opts.repl_uart,
        rng_seed: opts.rng_seed,
        sd: opts.sd.clone(),
        repl: opts.repl.unwrap_or_default(),
    })
}

/// Reads a `.cycles` snapshot: `#` comment lines, then the count.
pub fn parse_snapshot(text: &str) -> Result<u64, String> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(first) = lines.next() else {
        return Err("holds no cycle count".into());
    };
    if lines.next().is_some() {
        return Err("holds more than one line besides comments".into());
    }
    options::parse_count(first).ok_or_else(|| format!("{first:?} is not a cycle count"))
}

/// The text of a `.cycles` snapshot.
pub fn snapshot_text(cycles: u64) -> String {
    format!(
        "# pybsim test: CPU cycles from the raw REPL's OK to its final EOT\n{}\n",
        group(cycles)
    )
}

fn check_snapshot(
    path: &Path,
    cycles: u64,
    opts: &TestOptions,
    common: &Common,
    r: &mut TestReport,
) {
    let snap_path = with_suffix(path, ".cycles");
    let tol = opts.tolerance_pct.unwrap_or(common.tolerance_pct);
    let write = |r: &mut TestReport| -> bool {
        match std::fs::write(&snap_path, snapshot_text(cycles)) {
            Ok(()) => true,
            Err(e) => {
                r.status = Status::Failed;
                r.kind = "error";
                r.reason = format!("{}: {e}", snap_path.display());
                false
            }
        }
    };
    let old = match std::fs::read_to_string(&snap_path) {
        Ok(t) => Some(parse_snapshot(&t).map_err(|e| format!("{}: {e}", snap_path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("{}: {e}", snap_path.display()))),
    };
    match old {
        None => {
            let written = common.bless && write(r);
            r.snapshot = Snapshot::New {
                new: cycles,
                written,
            };
            r.reason = if written {
                "new snapshot".into()
            } else {
                "no snapshot (--bless writes it)".into()
            };
        }
        Some(Err(problem)) => {
            let written = common.bless && write(r);
            if written {
                r.reason = format!("snapshot rewritten ({problem})");
            } else if r.status == Status::Passed {
                r.status = Status::Failed;
                r.kind = "cycles";
                r.reason = problem.clone();
                r.details = "--bless rewrites the snapshot\n".into();
            }
            r.snapshot = Snapshot::Unreadable { problem, written };
        }
        Some(Ok(old)) if old == cycles => r.snapshot = Snapshot::Same { n: old },
        Some(Ok(old)) => {
            // Beyond the tolerance either way: faster is a change to bless too.
            let over = (cycles as f64 - old as f64).abs() > old as f64 * (tol / 100.0);
            let ratio = if old == 0 {
                "inf".to_string()
            } else {
                format!("x{:.4}", cycles as f64 / old as f64)
            };
            let change = format!(
                "cycles {} -> {} ({ratio}, {:+.2}%)",
                group(old),
                group(cycles),
                if old == 0 {
                    100.0
                } else {
                    (cycles as f64 / old as f64 - 1.0) * 100.0
                }
            );
            let written = common.bless && write(r);
            if written {
                r.reason = format!("{change}, snapshot rewritten");
            } else if over {
                r.status = Status::Failed;
                r.kind = "cycles";
                r.reason = format!("{change}, over the {tol}% tolerance");
                r.details = format!(
                    "snapshot {}: {} cycles, now {} cycles ({ratio}); allowed: \u{b1}{tol}%\n\
                     --bless accepts the new count\n",
                    snap_path.display(),
                    group(old),
                    group(cycles)
                );
            } else {
                r.reason = format!("{change}, within the {tol}% tolerance");
            }
            r.snapshot = Snapshot::Changed {
                old,
                new: cycles,
                over,
                written,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_parse() {
        assert_eq!(parse_partition("1/2"), Ok((1, 2)));
        assert_eq!(parse_partition("2/2"), Ok((2, 2)));
        assert!(parse_partition("0/2").is_err());
        assert!(parse_partition("3/2").is_err());
        assert!(parse_partition("1").is_err());
        assert!(parse_partition("a/b").is_err());
    }

    #[test]
    fn snapshot_format() {
        assert_eq!(parse_snapshot(&snapshot_text(1_234_567)), Ok(1_234_567));
        assert_eq!(
            snapshot_text(1000),
            "# pybsim test: CPU cycles from the raw REPL's OK to its final EOT\n1_000\n"
        );
        assert!(parse_snapshot("# x\n").is_err());
        assert!(parse_snapshot("12\n13\n").is_err());
        assert!(parse_snapshot("twelve\n").is_err());
        assert_eq!(group(0), "0");
        assert_eq!(group(123), "123");
        assert_eq!(group(1234), "1_234");
    }
}
