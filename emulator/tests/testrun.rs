//! `pybsim test` end to end: the built binary on tests/pybsim-test/selftest (one test
//! per outcome) and on tests/scenarios, checking exit statuses, the human report, the
//! JSON and JUnit reports, snapshots, --bless and --partition.
//!
//! Tests that boot the board skip (with a note) when the firmware is not built.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{repo, scratch, text};

/// The firmware `pybsim test` will use: `PYBSIM_FIRMWARE` or the runtime's build.
fn have_firmware() -> bool {
    std::env::var_os("PYBSIM_FIRMWARE").is_some() || common::have_firmware()
}

/// `pybsim test` with `args`.
fn pybsim(args: &[&str]) -> Output {
    let mut all = vec!["test"];
    all.extend_from_slice(args);
    common::pybsim(&all)
}

/// A fresh copy of a test directory (files only), in the system's temp dir.
fn copy_dir(from: &Path, name: &str) -> PathBuf {
    let to = scratch(name);
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    to
}

fn snapshots(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".cycles"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

// ---- the JSON report, read with serde_json ----

use serde_json::Value as J;

/// Short ways into a JSON value that panic with the value when it is not what the test
/// expects.
trait Jx {
    fn at(&self, k: &str) -> &J;
    fn s(&self) -> &str;
    fn n(&self) -> f64;
    fn arr(&self) -> &[J];
}

impl Jx for J {
    fn at(&self, k: &str) -> &J {
        self.get(k)
            .unwrap_or_else(|| panic!("no key {k:?} in {self}"))
    }
    fn s(&self) -> &str {
        self.as_str()
            .unwrap_or_else(|| panic!("{self} is not a string"))
    }
    fn n(&self) -> f64 {
        self.as_f64()
            .unwrap_or_else(|| panic!("{self} is not a number"))
    }
    fn arr(&self) -> &[J] {
        self.as_array()
            .unwrap_or_else(|| panic!("{self} is not an array"))
    }
}

fn parse_json(s: &str) -> J {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("the JSON report does not parse: {e}\n{s}"))
}

/// The JUnit file keeps to the strict schema (when xmllint is there to say).
fn assert_strict_junit(file: &Path) {
    if let Some(Err(e)) = common::validate_junit(file) {
        panic!(
            "{} is not valid against junit-strict.xsd:\n{e}\n{}",
            file.display(),
            std::fs::read_to_string(file).unwrap_or_default()
        );
    }
}

/// Checks that `x` is well-formed XML (one root, balanced tags, quoted attributes,
/// escaped text) and returns the element names in document order.
fn check_xml(x: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = x;
    let mut roots = 0;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt]);
        rest = &rest[lt..];
        if rest.starts_with("<?") {
            let e = rest.find("?>").expect("unclosed declaration");
            rest = &rest[e + 2..];
            continue;
        }
        let gt = rest.find('>').expect("unclosed tag");
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag
            .split_whitespace()
            .next()
            .expect("empty tag")
            .to_string();
        // Attributes: name="value" pairs.
        let mut attrs = tag[name.len()..].trim();
        while !attrs.is_empty() {
            let eq = attrs.find("=\"").expect("attribute without =\"");
            let after = &attrs[eq + 2..];
            let end = after.find('"').expect("unclosed attribute");
            check_text(&after[..end]);
            attrs = after[end + 1..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        names.push(name.clone());
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert_eq!(roots, 1, "one root element");
    names
}

fn check_text(t: &str) {
    assert!(!t.contains('<'), "raw < in {t:?}");
    let mut s = t;
    while let Some(a) = s.find('&') {
        s = &s[a..];
        let semi = s.find(';').expect("unterminated entity");
        let ent = &s[1..semi];
        assert!(
            matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos") || ent.starts_with('#'),
            "bad entity &{ent};"
        );
        s = &s[semi + 1..];
    }
    assert!(
        t.chars()
            .all(|c| c >= ' ' || matches!(c, '\t' | '\n' | '\r')),
        "control character in XML text"
    );
}

fn by_name<'a>(report: &'a J, name: &str) -> &'a J {
    report
        .at("tests")
        .arr()
        .iter()
        .find(|t| t.at("name").s().ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("no test {name} in the report"))
}

fn selftest_copy(name: &str) -> PathBuf {
    let dir = copy_dir(&repo().join("tests/pybsim-test/selftest"), name);
    // Snapshots of the passing tests are made by the tests themselves, so a new firmware
    // does not break them; cycles_changed.py and cycles_faster.py keep their (far too
    // small, far too large) snapshots.
    for (f, _) in snapshots(&dir) {
        if f != "cycles_changed.py.cycles" && f != "cycles_faster.py.cycles" {
            std::fs::remove_file(dir.join(f)).unwrap();
        }
    }
    dir
}

#[test]
fn selftest_reports_every_outcome() {
    if !have_firmware() {
        return;
    }
    let dir = selftest_copy("outcomes");
    let json = dir.join("report.json");
    let junit = dir.join("report.xml");
    let out = pybsim(&[
        dir.to_str().unwrap(),
        "-j",
        "2",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));

    // Human report.
    assert!(stdout.contains("4 passed, 7 failed, 1 skipped"), "{stdout}");
    // Of the tests that passed, one had no .exp.
    assert!(
        stdout.contains(", 1 with no expected output (no .exp; --bless writes it)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("/no_exp.py [") && stdout.contains("]: no expected output; "),
        "{stdout}"
    );
    assert!(stdout.contains("/pass.py ["), "{stdout}");
    assert!(
        stdout.contains("- BETA    <-- first difference\n  + beta"),
        "{stdout}"
    );
    assert!(stdout.contains("ValueError: deliberate"), "{stdout}");
    assert!(stdout.contains("guest fault"), "{stdout}");
    assert!(
        stdout.contains("budget exceeded (max-cycles 2_000_000)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("budget exceeded (max-time 20ms)"),
        "{stdout}"
    );
    assert!(stdout.contains("cycles 597_597 -> "), "{stdout}");
    assert!(stdout.contains("SKIP ") && stdout.contains("needs a host on the USB port"));
    let fails: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(fails.len(), 7, "{stdout}");

    // JSON report.
    let r = parse_json(&std::fs::read_to_string(&json).unwrap());
    assert_eq!(r.at("format").s(), "pybsim-test");
    let sum = r.at("summary");
    assert_eq!(sum.at("tests").n(), 12.0);
    assert_eq!(sum.at("passed").n(), 4.0);
    assert_eq!(sum.at("failed").n(), 7.0);
    assert_eq!(sum.at("skipped").n(), 1.0);
    assert_eq!(sum.at("new_snapshots").n(), 4.0);
    assert_eq!(sum.at("snapshots_written").n(), 0.0);
    assert_eq!(sum.at("no_expected_output").n(), 1.0);
    assert_eq!(
        by_name(&r, "no_exp.py").at("expected_output"),
        &J::Bool(false)
    );
    assert_eq!(by_name(&r, "pass.py").at("expected_output"), &J::Bool(true));
    assert!(by_name(&r, "no_exp.py")
        .at("reason")
        .s()
        .starts_with("no expected output"));
    let status = |n: &str| by_name(&r, n).at("status").s().to_string();
    let kind = |n: &str| by_name(&r, n).at("kind").clone();
    for p in ["pass.py", "no_exp.py", "exception_expected.py", "wired.py"] {
        assert_eq!(status(p), "passed", "{p}: {:?}", by_name(&r, p));
        let snap = by_name(&r, p).at("snapshot");
        assert_eq!(snap.at("state").s(), "new");
        assert_eq!(snap.at("written"), &J::Bool(false));
        assert!(by_name(&r, p).at("cycles").n() > 0.0);
        assert_eq!(by_name(&r, p).at("cycles_exact"), &J::Bool(true));
    }
    assert_eq!(
        by_name(&r, "exception_expected.py").at("outcome").s(),
        "exception"
    );
    assert_eq!(
        by_name(&r, "pass.py").at("output").s(),
        "hello 42\nline 0\nline 1\nline 2\n"
    );
    assert_eq!(
        by_name(&r, "wired.py").at("output").s(),
        "X2 follows X1: 1 0\n"
    );
    let expect_fail = [
        ("fail_output.py", "output", "done"),
        ("exception.py", "exception", "exception"),
        ("fault.py", "fault", "fault"),
        ("budget_cycles.py", "budget", "budget"),
        ("budget_time.py", "budget", "budget"),
        ("cycles_changed.py", "cycles", "done"),
        ("cycles_faster.py", "cycles", "done"),
    ];
    for (n, k, o) in expect_fail {
        assert_eq!(status(n), "failed", "{n}");
        assert_eq!(kind(n), J::String(k.into()), "{n}");
        assert_eq!(by_name(&r, n).at("outcome").s(), o, "{n}");
    }
    assert!(by_name(&r, "fail_output.py")
        .at("details")
        .s()
        .contains("first difference at line 2"));
    let fault = by_name(&r, "fault.py");
    assert!(fault.at("details").s().contains("0x60000000"), "{fault:?}");
    assert!(fault.at("output").s().starts_with("before the fault\n"));
    assert!(!fault.at("output").s().contains("not reached"));
    let bc = by_name(&r, "budget_cycles.py");
    assert!(bc.at("reason").s().contains("max-cycles 2_000_000"));
    assert!(bc.at("cycles").n() >= 2_000_000.0);
    assert!(
        bc.at("details").s().contains("where the cycles went"),
        "{bc:?}"
    );
    let cc = by_name(&r, "cycles_changed.py").at("snapshot");
    assert_eq!(cc.at("state").s(), "over_tolerance");
    assert_eq!(cc.at("old").n(), 597_597.0);
    assert!(cc.at("ratio").n() > 1.01);
    assert_eq!(cc.at("written"), &J::Bool(false));
    // Faster beyond the tolerance fails as well: a drop is blessed like a rise.
    let cf = by_name(&r, "cycles_faster.py").at("snapshot");
    assert_eq!(cf.at("state").s(), "over_tolerance");
    assert_eq!(cf.at("old").n(), 100_000_000.0);
    assert!(cf.at("ratio").n() < 0.99);
    assert_eq!(status("skipped.py"), "skipped");
    assert_eq!(
        by_name(&r, "skipped.py").at("reason").s(),
        "needs a host on the USB port"
    );
    assert_eq!(by_name(&r, "skipped.py").at("outcome"), &J::Null);

    // Without --bless nothing was written.
    let snaps = snapshots(&dir);
    assert_eq!(snaps.len(), 2, "{snaps:?}");

    // JUnit report: valid against the strict schema, pybsim's figures in the suite's
    // properties.
    assert_strict_junit(&junit);
    let x = std::fs::read_to_string(&junit).unwrap();
    let names = check_xml(&x);
    assert_eq!(names.iter().filter(|n| *n == "properties").count(), 1);
    assert!(
        x.contains("<property name=\"pybsim.version\" value=\""),
        "{x}"
    );
    let pass_cycles = by_name(&r, "pass.py").at("cycles").n() as u64;
    assert!(
        x.contains(&format!("/pass.py\" value=\"{pass_cycles}\"/>")),
        "{x}"
    );
    assert!(x.contains("<property name=\"expected-output:"), "{x}");
    assert!(x.contains("/no_exp.py\" value=\"none\"/>"), "{x}");
    assert!(!x.contains(" file=\""), "{x}");
    assert_eq!(names[0], "testsuites");
    assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 12);
    assert_eq!(names.iter().filter(|n| *n == "failure").count(), 7);
    assert_eq!(names.iter().filter(|n| *n == "skipped").count(), 1);
    assert!(
        x.contains(
            "<testsuites name=\"pybsim test\" tests=\"12\" failures=\"7\" errors=\"0\" time=\""
        ),
        "{x}"
    );
    assert!(
        x.contains("tests=\"12\" failures=\"7\" errors=\"0\" skipped=\"1\""),
        "{x}"
    );
    assert!(x.contains("<testcase name=\"fail_output.py\""), "{x}");
    assert!(x.contains("<failure message=\"output differs from "), "{x}");
    assert!(x.contains("type=\"fault\""), "{x}");
    assert!(
        x.contains("<skipped message=\"needs a host on the USB port\"/>"),
        "{x}"
    );
    assert!(x.contains("KeyError: expected"), "{x}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bless_writes_snapshots_and_a_second_run_changes_none() {
    if !have_firmware() {
        return;
    }
    let dir = selftest_copy("bless");
    let d = dir.to_str().unwrap();
    let out = pybsim(&[d, "--bless", "--json", "-"]);
    assert_eq!(out.status.code(), Some(1));
    let r = parse_json(&text(&out.stdout));
    // Progress went to stderr, as the JSON went to stdout.
    assert!(text(&out.stderr).contains("PASS "));
    assert_eq!(r.at("summary").at("new_snapshots").n(), 4.0);
    assert_eq!(r.at("summary").at("snapshots_written").n(), 6.0);
    // --bless also writes the .exp of a test that passed without one (the two cycle
    // tests pass once blessed), and only that.
    assert_eq!(r.at("summary").at("exp_written").n(), 3.0);
    for n in ["cycles_changed.py", "cycles_faster.py"] {
        assert!(dir.join(format!("{n}.exp")).exists(), "{n}");
    }
    assert!(!dir.join("budget_time.py.exp").exists());
    assert_eq!(r.at("summary").at("no_expected_output").n(), 0.0);
    assert!(by_name(&r, "no_exp.py")
        .at("reason")
        .s()
        .starts_with(".exp written"));
    assert_eq!(
        std::fs::read_to_string(dir.join("no_exp.py.exp")).unwrap(),
        by_name(&r, "no_exp.py").at("output").s()
    );
    assert!(!dir.join("exception.py.exp").exists());
    // A differing .exp is --bless-exp's to rewrite, not --bless's.
    assert_eq!(
        std::fs::read(dir.join("fail_output.py.exp")).unwrap(),
        std::fs::read(repo().join("tests/pybsim-test/selftest/fail_output.py.exp")).unwrap()
    );
    let cc = by_name(&r, "cycles_changed.py");
    assert_eq!(cc.at("status").s(), "passed");
    assert_eq!(cc.at("snapshot").at("written"), &J::Bool(true));
    assert!(cc.at("reason").s().contains("snapshot rewritten"));
    let first = snapshots(&dir);
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "cycles_changed.py.cycles",
            "cycles_faster.py.cycles",
            "exception_expected.py.cycles",
            "no_exp.py.cycles",
            "pass.py.cycles",
            "wired.py.cycles"
        ]
    );
    let pass_cycles = by_name(&r, "pass.py").at("cycles").n() as u64;
    let snap = text(&first.iter().find(|(n, _)| n == "pass.py.cycles").unwrap().1);
    assert_eq!(
        snap.lines().last().unwrap().replace('_', ""),
        pass_cycles.to_string()
    );

    let out = pybsim(&[d, "--bless", "--json", "-"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(snapshots(&dir), first, "a second run changed a snapshot");
    let r = parse_json(&text(&out.stdout));
    assert_eq!(r.at("summary").at("snapshots_written").n(), 0.0);
    assert_eq!(r.at("summary").at("exp_written").n(), 0.0);
    for n in [
        "pass.py",
        "no_exp.py",
        "exception_expected.py",
        "wired.py",
        "cycles_changed.py",
        "cycles_faster.py",
    ] {
        assert_eq!(by_name(&r, n).at("snapshot").at("state").s(), "same", "{n}");
    }
    // Without --bless, the blessed tests pass now, cycles_changed.py included.
    let out = pybsim(&[d, "--json", "-"]);
    let r = parse_json(&text(&out.stdout));
    assert_eq!(r.at("summary").at("passed").n(), 6.0);

    // --bless-exp takes the output as the new expectation.
    let f = dir.join("fail_output.py");
    let out = pybsim(&[f.to_str().unwrap(), "--bless-exp", "--json", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r = parse_json(&text(&out.stdout));
    assert_eq!(r.at("summary").at("exp_written").n(), 1.0);
    assert!(by_name(&r, "fail_output.py")
        .at("reason")
        .s()
        .starts_with(".exp rewritten"));
    assert_eq!(
        std::fs::read_to_string(dir.join("fail_output.py.exp")).unwrap(),
        "alpha\nbeta\ngamma\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn partitions_run_every_test_exactly_once() {
    if !have_firmware() {
        return;
    }
    let d = repo().join("tests/pybsim-test/selftest");
    let d = d.to_str().unwrap();
    let names = |args: &[&str]| -> Vec<String> {
        let out = pybsim(args);
        let r = parse_json(&text(&out.stdout));
        r.at("tests")
            .arr()
            .iter()
            .map(|t| t.at("name").s().to_string())
            .collect()
    };
    let all = names(&[d, "--json"]);
    assert_eq!(all.len(), 12);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "tests are reported in path order");
    let a = names(&[d, "--partition", "1/2", "--json", "-"]);
    let b = names(&[d, "--partition", "2/2", "--json", "-"]);
    // Round robin over the sorted list.
    let even: Vec<String> = all.iter().step_by(2).cloned().collect();
    let odd: Vec<String> = all.iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(a, even);
    assert_eq!(b, odd);
    let sa: BTreeSet<_> = a.iter().collect();
    let sb: BTreeSet<_> = b.iter().collect();
    assert!(sa.is_disjoint(&sb));
    assert_eq!(sa.union(&sb).count(), all.len());
    // The JUnit files of the shards name their shard.
    let junit = scratch("shard").join("shard.xml");
    let out = pybsim(&[d, "--partition", "2/2", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let x = std::fs::read_to_string(&junit).unwrap();
    check_xml(&x);
    assert_strict_junit(&junit);
    assert!(x.contains("name=\"pybsim test (shard 2/2)\""));
    let _ = std::fs::remove_file(&junit);
}

#[test]
fn usage_errors_exit_64() {
    let d = repo().join("tests/pybsim-test/selftest");
    let d = d.to_str().unwrap();
    for args in [
        vec![d, "--partition", "0/2"],
        vec![d, "--partition", "3/2"],
        vec![d, "--partition", "x"],
        vec![d, "-j", "0"],
        vec![d, "--tolerance", "lots"],
        vec![d, "--max-time", "forever"],
        vec!["/nonexistent/pybsim-tests"],
        vec![],
    ] {
        let out = pybsim(&args);
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(
            !err.is_empty() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    // A directory without tests.
    let empty = scratch("empty");
    let out = pybsim(&[empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("no *.py tests"));
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn bad_options_fail_the_test_naming_file_and_line() {
    if !have_firmware() {
        return;
    }
    let dir = scratch("badopts");
    std::fs::write(dir.join("a.py"), "# pybsim: colour red\nprint(1)\n").unwrap();
    std::fs::write(dir.join("b.py"), "# pybsim: board pybv10\nprint(2)\n").unwrap();
    std::fs::write(dir.join("b.py.exp"), "2\n").unwrap();
    let out = pybsim(&[dir.to_str().unwrap(), "--json", "-"]);
    assert_eq!(out.status.code(), Some(1));
    let r = parse_json(&text(&out.stdout));
    let a = by_name(&r, "a.py");
    assert_eq!(a.at("kind").s(), "error");
    assert!(
        a.at("reason").s().ends_with(&format!(
            "a.py:1: unknown option `colour` (known: {})",
            pybsim::test::options::KEYS
        )),
        "{a:?}"
    );
    assert_eq!(by_name(&r, "b.py").at("status").s(), "passed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scenarios_pass_and_a_second_bless_changes_no_snapshot() {
    if !have_firmware() {
        return;
    }
    let dir = copy_dir(&repo().join("tests/scenarios"), "scenarios");
    let d = dir.to_str().unwrap();
    let out = pybsim(&[d, "--bless", "--json", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = snapshots(&dir);
    assert_eq!(first.len(), 14);
    let out = pybsim(&[d, "--bless", "--json", "-"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(snapshots(&dir), first, "a second run changed a snapshot");
    let r = parse_json(&text(&out.stdout));
    assert_eq!(r.at("summary").at("passed").n(), 14.0);
    assert_eq!(r.at("summary").at("snapshots_written").n(), 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A watchdog reset during a test ends it at once as a "watchdog" failure naming the
/// watchdog and the board time, with what the script printed, instead of running into
/// the time budget with the raw REPL gone.
#[test]
fn a_watchdog_reset_fails_the_test_at_once() {
    if !have_firmware() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pybsim-testrun-{}-wdt", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("wdt.py"),
        "import machine, time\nw = machine.WDT(timeout=200)\nprint('armed')\ntime.sleep(2)\n",
    )
    .unwrap();
    std::fs::write(dir.join("wdt.py.exp"), "armed\n").unwrap();
    let out = pybsim(&[dir.to_str().unwrap(), "--json", "-"]);
    assert_eq!(out.status.code(), Some(1));
    let r = parse_json(&text(&out.stdout));
    let t = by_name(&r, "wdt.py");
    assert_eq!(t.at("kind").s(), "watchdog", "{t:?}");
    let reason = t.at("reason").s();
    assert!(
        reason.starts_with("watchdog reset (Iwdg) at 0.2") && reason.ends_with("during the test"),
        "{reason}"
    );
    assert_eq!(t.at("output").s(), "armed\n");
    // Ended at the reset: well before the 2 s of the sleep, let alone the 10 s budget.
    let board_ns = t.at("board_ns").n();
    assert!(board_ns > 0.2e9 && board_ns < 0.5e9, "{board_ns}");
    assert!(!text(&out.stderr).contains("pybsim: watchdog"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The schema the JUnit reports are checked against is strict where Jenkins' junit-10
/// is: it rejects what earlier reports held (`skipped` on <testsuites>, `file` and
/// <properties> on a <testcase>).
#[test]
fn the_strict_schema_rejects_what_jenkins_rejects() {
    let dir = scratch("schema");
    let ok = common::write(
        &dir,
        "ok.xml",
        "<?xml version=\"1.0\"?>\n<testsuites tests=\"1\"><testsuite name=\"s\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\" time=\"0.5\"><properties><property name=\"a\" value=\"1\"/></properties><testcase name=\"t\" classname=\"c\" time=\"0.25\"><system-out>x</system-out></testcase></testsuite></testsuites>\n",
    );
    let Some(r) = common::validate_junit(&ok) else {
        return;
    };
    assert_eq!(r, Ok(()));
    for (name, xml, complaint) in [
        (
            "skipped.xml",
            "<testsuites skipped=\"0\"><testsuite name=\"s\" tests=\"0\" failures=\"0\" errors=\"0\"/></testsuites>",
            "skipped",
        ),
        (
            "file.xml",
            "<testsuites><testsuite name=\"s\" tests=\"1\" failures=\"0\" errors=\"0\"><testcase name=\"t\" file=\"t.py\"/></testsuite></testsuites>",
            "file",
        ),
        (
            "props.xml",
            "<testsuites><testsuite name=\"s\" tests=\"1\" failures=\"0\" errors=\"0\"><testcase name=\"t\"><properties/></testcase></testsuite></testsuites>",
            "properties",
        ),
        (
            "nocount.xml",
            "<testsuites><testsuite name=\"s\" tests=\"1\"/></testsuites>",
            "failures",
        ),
    ] {
        let f = common::write(&dir, name, xml);
        let e = common::validate_junit(&f).expect("xmllint is there").unwrap_err();
        assert!(e.contains(complaint), "{name}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes the test files of a scratch suite.
fn suite(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = scratch(name);
    for (f, body) in files {
        common::write(&dir, f, body);
    }
    dir
}

/// Scenario steps in header lines and a RON file: waits for console and UART lines,
/// console and UART input, the switch, pin levels at an instant and within a span, LED
/// toggles and frequency, fail-text and expect-text; failures name the step, the
/// expected and observed values and the board time.
#[test]
fn scenarios_wait_send_press_and_check_pins() {
    if !have_firmware() {
        return;
    }
    let dir = suite(
        "scenario",
        &[
            (
                "led.py",
                "# pybsim: step WaitLine(text: \"ready\", timeout: \"1s\")\n\
                 # pybsim: step ExpectPin(pin: \"LED1\", level: On)\n\
                 # pybsim: step Send(data: \"go\\r\")\n\
                 # pybsim: step WaitLine(text: \"got go\", timeout: \"100ms\")\n\
                 # pybsim: step ExpectPin(pin: \"LED1\", level: Off, within: \"10ms\")\n\
                 # pybsim: expect-text finished\n\
                 import pyb\npyb.LED(1).on()\nprint(\"ready\")\ns = input()\nprint(\"got\", s)\n\
                 pyb.LED(1).off()\nprint(\"finished\")\n",
            ),
            (
                "blink.py",
                "# pybsim: scenario _blink.ron\nimport pyb\nled = pyb.LED(2)\n\
                 t = pyb.Timer(4, freq=20, callback=lambda t: led.toggle())\nprint(\"blinking\")\n",
            ),
            (
                "_blink.ron",
                "Scenario(\n  expect_text: [\"blinking\"],\n  steps: [\n\
                 WaitLine(text: \"blinking\", timeout: \"100ms\"),\n\
                 ExpectToggles(pin: \"LED2\", count: 10, during: \"500ms\", tolerance: 1),\n\
                 ExpectFrequency(pin: \"LED2\", hz: 10.0, duty: 50.0, during: \"500ms\", tolerance: \"0.1%\"),\n\
                 ],\n)\n",
            ),
            (
                "blink_wrong.py",
                "# pybsim: step ExpectFrequency(pin: \"LED2\", hz: 12.0, during: \"500ms\")\nimport pyb\nled = pyb.LED(2)\n\
                 t = pyb.Timer(4, freq=20, callback=lambda t: led.toggle())\n",
            ),
            (
                "switch.py",
                "# pybsim: step Delay(\"20ms\")\n# pybsim: step PressSwitch\n\
                 # pybsim: step WaitLine(text: \"pressed\", timeout: \"50ms\")\n\
                 # pybsim: step ReleaseSwitch\n\
                 # pybsim: step WaitLine(text: \"released\", timeout: \"50ms\")\n\
                 import pyb\nsw = pyb.Switch()\nwhile not sw():\n    pass\nprint(\"pressed\")\n\
                 while sw():\n    pass\nprint(\"released\")\n",
            ),
            (
                "uart.py",
                "# pybsim: step WaitLine(text: \"hello uart\", uart: 2, timeout: \"100ms\")\n\
                 # pybsim: step Send(data: \"pong\\r\\n\", uart: 2)\n\
                 # pybsim: step WaitLine(text: \"read b'pong\", timeout: \"100ms\")\n\
                 import pyb\nu = pyb.UART(2, 115200, timeout=200)\nu.write(b\"hello uart\\r\\n\")\n\
                 print(\"read\", u.read(6))\n",
            ),
            (
                "late.py",
                "# pybsim: step ExpectPin(pin: \"LED1\", level: On, at: \"50ms\")\nimport pyb\n\
                 pyb.delay(100)\npyb.LED(1).on()\npyb.delay(10)\n",
            ),
            (
                "never.py",
                "# pybsim: step WaitLine(text: \"never\", timeout: \"20ms\")\nprint(\"hello\")\n\
                 import pyb\npyb.delay(50)\n",
            ),
            (
                "failtext.py",
                "# pybsim: fail-text ERROR\nprint(\"fine\")\nprint(\"ERROR: sensor missing\")\n",
            ),
            ("missing.py", "# pybsim: expect-text goodbye\nprint(\"hello\")\n"),
            (
                "repl_uart.py",
                "# pybsim: repl-uart 1\n\
                 # pybsim: step WaitLine(text: \"on uart\", uart: 1, timeout: \"100ms\")\n\
                 # pybsim: step WaitLine(text: \"on uart\", timeout: \"100ms\")\n\
                 print(\"on uart\")\n",
            ),
            (
                "budget.py",
                "# pybsim: max-time 30ms\n# pybsim: step WaitLine(text: \"never\")\n\
                 import pyb\npyb.delay(100)\n",
            ),
        ],
    );
    let out = pybsim(&[dir.to_str().unwrap(), "-j", "2", "--json", "-"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let r = parse_json(&text(&out.stdout));
    let t = |n: &str| by_name(&r, n).clone();
    for n in ["led.py", "blink.py", "switch.py", "uart.py", "repl_uart.py"] {
        assert_eq!(t(n).at("status").s(), "passed", "{n}: {}", t(n));
    }
    assert_eq!(
        t("led.py").at("output").s(),
        "ready\ngo\ngot go\nfinished\n"
    );
    assert_eq!(t("uart.py").at("output").s(), "read b'pong\\r\\n'\n");
    let sc = t("blink.py");
    assert_eq!(sc.at("scenario").at("steps").n(), 3.0);
    assert_eq!(sc.at("scenario").at("done").n(), 3.0);
    // The scenario went on after the script ended (the timer keeps blinking), and the
    // board time shows it: at least the two 500 ms spans.
    assert!(sc.at("board_ns").n() > 1.0e9, "{sc}");

    for n in [
        "blink_wrong.py",
        "late.py",
        "never.py",
        "failtext.py",
        "missing.py",
    ] {
        assert_eq!(t(n).at("status").s(), "failed", "{n}");
        assert_eq!(t(n).at("kind").s(), "scenario", "{n}: {}", t(n));
    }
    let reason = |n: &str| t(n).at("reason").s().to_string();
    assert!(
        reason("blink_wrong.py").contains("expected LED2 at 12 Hz \u{b1}5% between 0.0 s and 0.5 s of script time, observed 10.000 Hz, 50.00% high over 4 periods"),
        "{}",
        reason("blink_wrong.py")
    );
    let late = reason("late.py");
    assert!(
        late.starts_with("step 1 of 1 (ExpectPin LED1 On at 50ms) failed: expected LED1 On (High), observed Off (Low), at 0.05 s of script time (board time 0.0"),
        "{late}"
    );
    assert!(t("late.py")
        .at("details")
        .s()
        .contains("late.py:1: ExpectPin LED1 On at 50ms"));
    assert!(
        reason("never.py").contains("expected a line holding \"never\" on the console by 0.02 s of script time, observed no such line"),
        "{}",
        reason("never.py")
    );
    assert!(t("never.py")
        .at("details")
        .s()
        .contains("the last line was \"hello\""));
    assert!(
        reason("failtext.py").starts_with("fail-text \"ERROR\" seen on the console at 0.00"),
        "{}",
        reason("failtext.py")
    );
    assert!(t("failtext.py")
        .at("details")
        .s()
        .contains("in the line: \"ERROR: sensor missing\""));
    assert_eq!(
        reason("missing.py"),
        "expect-text \"goodbye\" never seen on the console"
    );
    assert_eq!(t("late.py").at("scenario").at("done").n(), 0.0);
    assert_eq!(t("failtext.py").at("scenario"), &J::Null);
    // A wait without a timeout lasts as long as the test's budget; the budget failure
    // names the step in progress.
    assert_eq!(t("budget.py").at("kind").s(), "budget");
    assert!(
        t("budget.py")
            .at("details")
            .s()
            .contains("budget.py:2: WaitLine \"never\" on the console) was in progress"),
        "{}",
        t("budget.py")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every `pybsim run` option that makes sense for one test works as a test option:
/// the console on a UART (two tests at once, each its own scratch filesystem) or on the
/// console device only, a VCD and a DAC trace of the test.
#[test]
fn run_options_work_per_test() {
    if !have_firmware() {
        return;
    }
    let dir = suite(
        "runopts",
        &[
            ("uart1.py", "# pybsim: repl-uart 1\nprint('on uart 1')\n"),
            ("uart1.py.exp", "on uart 1\n"),
            ("uart6.py", "# pybsim: repl-uart 6\nprint('on uart 6')\n"),
            ("uart6.py.exp", "on uart 6\n"),
            ("console.py", "# pybsim: repl console\nprint('console')\n"),
            ("console.py.exp", "console\n"),
            (
                "traced.py",
                "# pybsim: vcd traced.vcd\n# pybsim: dac-trace dac.csv\nimport pyb\n\
                 x1 = pyb.Pin('X1', pyb.Pin.OUT_PP)\nfor i in range(5):\n    x1.value(i & 1)\n\
                 pyb.DAC(1, bits=12).write(0x5A5)\n",
            ),
        ],
    );
    let out = pybsim(&[dir.to_str().unwrap(), "-j", "2", "--json", "-"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = parse_json(&text(&out.stdout));
    for n in ["uart1.py", "uart6.py", "console.py", "traced.py"] {
        assert_eq!(by_name(&r, n).at("cycles_exact"), &J::Bool(true), "{n}");
    }
    let vcd = std::fs::read_to_string(dir.join("traced.vcd")).expect("the test's VCD");
    assert!(vcd.contains(" X1_PA0 $end"), "{vcd}");
    assert!(vcd.contains(" DAC1_PA4[0] $end"), "{vcd}");
    assert!(!vcd.lines().any(|l| l.starts_with('b')), "{vcd}");
    let csv = std::fs::read_to_string(dir.join("dac.csv")).expect("the test's DAC trace");
    assert!(csv.lines().any(|l| l.ends_with(",1,1445")), "{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Loops of 1000 and 1003 iterations: counted exactly (from the console bytes the
/// machine stamps), so they differ by three iterations, on pybsim's runtime and on the
/// official firmware over USB and over a UART, where the count used to be rounded to the
/// 100 000-cycle slice.
#[test]
fn cycle_counts_are_exact_on_any_firmware_and_console() {
    // A suite of the two loops and a tiny test, each with `header`.
    let loops = |name: &str, header: &str| {
        let dir = scratch(name);
        for n in [1000, 1003] {
            common::write(
                &dir,
                &format!("loop{n}.py"),
                format!("{header}x = 0\nfor i in range({n}):\n    x += i\nprint(x)\n"),
            );
        }
        common::write(&dir, "tiny.py", format!("{header}print(1)\n"));
        dir
    };
    let check = |dir: &Path, args: &[&str]| {
        let mut all = vec![dir.to_str().unwrap()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--json", "-"]);
        let out = pybsim(&all);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let r = parse_json(&text(&out.stdout));
        let c = |n: &str| {
            let t = by_name(&r, n);
            assert_eq!(t.at("cycles_exact"), &J::Bool(true), "{t}");
            t.at("cycles").n() as u64
        };
        let (a, b, tiny) = (c("loop1000.py"), c("loop1003.py"), c("tiny.py"));
        // Three iterations of `x += i` (about 960 cycles each).
        assert!(
            b > a && b - a > 2_000 && b - a < 4_000,
            "{dir:?} {args:?}: {a} {b}"
        );
        // Not whole slices, as a count taken at slice boundaries would be.
        assert!(tiny > 10_000, "{dir:?} {args:?}: {tiny}");
        assert!(a % 100_000 != 0 && b % 100_000 != 0 && tiny % 100_000 != 0);
        let _ = std::fs::remove_dir_all(dir);
        (a, b, tiny)
    };
    if have_firmware() {
        check(&loops("exact-own", ""), &[]);
        check(&loops("exact-own-uart", "# pybsim: repl-uart 2\n"), &[]);
    }
    let Some(fw) = common::official_firmware("PYBV11") else {
        return;
    };
    check(&loops("exact-official", ""), &["--firmware", &fw]);
    check(
        &loops("exact-official-uart", "# pybsim: repl-uart 1\n"),
        &["--firmware", &fw],
    );
}
