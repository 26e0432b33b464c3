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

// ---- a small JSON reader, enough to check the report ----

#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn get(&self, k: &str) -> &J {
        match self {
            J::Obj(m) => m
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key {k:?} in {self:?}")),
            _ => panic!("{self:?} is not an object"),
        }
    }
    fn s(&self) -> &str {
        match self {
            J::Str(s) => s,
            _ => panic!("{self:?} is not a string"),
        }
    }
    fn n(&self) -> f64 {
        match self {
            J::Num(n) => *n,
            _ => panic!("{self:?} is not a number"),
        }
    }
    fn arr(&self) -> &[J] {
        match self {
            J::Arr(a) => a,
            _ => panic!("{self:?} is not an array"),
        }
    }
}

struct P<'a> {
    b: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) {
        self.ws();
        assert_eq!(
            self.b.get(self.i),
            Some(&c),
            "JSON: expected {:?} at {}",
            c as char,
            self.i
        );
        self.i += 1;
    }
    fn value(&mut self) -> J {
        self.ws();
        match self.b[self.i] {
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.b[self.i] == b'}' {
                    self.i += 1;
                    return J::Obj(m);
                }
                loop {
                    self.ws();
                    let k = match self.value() {
                        J::Str(s) => s,
                        v => panic!("JSON: key {v:?}"),
                    };
                    self.eat(b':');
                    m.push((k, self.value()));
                    self.ws();
                    self.i += 1;
                    match self.b[self.i - 1] {
                        b',' => continue,
                        b'}' => return J::Obj(m),
                        c => panic!("JSON: {:?} in object", c as char),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.b[self.i] == b']' {
                    self.i += 1;
                    return J::Arr(a);
                }
                loop {
                    a.push(self.value());
                    self.ws();
                    self.i += 1;
                    match self.b[self.i - 1] {
                        b',' => continue,
                        b']' => return J::Arr(a),
                        c => panic!("JSON: {:?} in array", c as char),
                    }
                }
            }
            b'"' => {
                self.i += 1;
                let mut s = Vec::new();
                loop {
                    let c = self.b[self.i];
                    self.i += 1;
                    match c {
                        b'"' => return J::Str(String::from_utf8(s).unwrap()),
                        b'\\' => {
                            let e = self.b[self.i];
                            self.i += 1;
                            match e {
                                b'n' => s.push(b'\n'),
                                b'r' => s.push(b'\r'),
                                b't' => s.push(b'\t'),
                                b'"' | b'\\' | b'/' => s.push(e),
                                b'u' => {
                                    let h =
                                        std::str::from_utf8(&self.b[self.i..self.i + 4]).unwrap();
                                    let c = char::from_u32(u32::from_str_radix(h, 16).unwrap())
                                        .unwrap();
                                    self.i += 4;
                                    s.extend_from_slice(c.to_string().as_bytes());
                                }
                                _ => panic!("JSON: escape \\{}", e as char),
                            }
                        }
                        c if c < 0x20 => panic!("JSON: raw control character in string"),
                        c => s.push(c),
                    }
                }
            }
            b't' if self.b[self.i..].starts_with(b"true") => {
                self.i += 4;
                J::Bool(true)
            }
            b'f' if self.b[self.i..].starts_with(b"false") => {
                self.i += 5;
                J::Bool(false)
            }
            b'n' if self.b[self.i..].starts_with(b"null") => {
                self.i += 4;
                J::Null
            }
            _ => {
                let st = self.i;
                while self.i < self.b.len() && b"-+.eE0123456789".contains(&self.b[self.i]) {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.b[st..self.i]).unwrap();
                J::Num(
                    t.parse()
                        .unwrap_or_else(|_| panic!("JSON: bad number {t:?}")),
                )
            }
        }
    }
}

fn parse_json(s: &str) -> J {
    let mut p = P {
        b: s.as_bytes(),
        i: 0,
    };
    let v = p.value();
    p.ws();
    assert_eq!(p.i, s.len(), "JSON: trailing text");
    v
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
        .get("tests")
        .arr()
        .iter()
        .find(|t| t.get("name").s().ends_with(&format!("/{name}")))
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
    assert_eq!(r.get("format").s(), "pybsim-test");
    let sum = r.get("summary");
    assert_eq!(sum.get("tests").n(), 12.0);
    assert_eq!(sum.get("passed").n(), 4.0);
    assert_eq!(sum.get("failed").n(), 7.0);
    assert_eq!(sum.get("skipped").n(), 1.0);
    assert_eq!(sum.get("new_snapshots").n(), 4.0);
    assert_eq!(sum.get("snapshots_written").n(), 0.0);
    let status = |n: &str| by_name(&r, n).get("status").s().to_string();
    let kind = |n: &str| by_name(&r, n).get("kind").clone();
    for p in ["pass.py", "no_exp.py", "exception_expected.py", "wired.py"] {
        assert_eq!(status(p), "passed", "{p}: {:?}", by_name(&r, p));
        let snap = by_name(&r, p).get("snapshot");
        assert_eq!(snap.get("state").s(), "new");
        assert_eq!(snap.get("written"), &J::Bool(false));
        assert!(by_name(&r, p).get("cycles").n() > 0.0);
        assert_eq!(by_name(&r, p).get("cycles_exact"), &J::Bool(true));
    }
    assert_eq!(
        by_name(&r, "exception_expected.py").get("outcome").s(),
        "exception"
    );
    assert_eq!(
        by_name(&r, "pass.py").get("output").s(),
        "hello 42\nline 0\nline 1\nline 2\n"
    );
    assert_eq!(
        by_name(&r, "wired.py").get("output").s(),
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
        assert_eq!(kind(n), J::Str(k.into()), "{n}");
        assert_eq!(by_name(&r, n).get("outcome").s(), o, "{n}");
    }
    assert!(by_name(&r, "fail_output.py")
        .get("details")
        .s()
        .contains("first difference at line 2"));
    let fault = by_name(&r, "fault.py");
    assert!(fault.get("details").s().contains("0x60000000"), "{fault:?}");
    assert!(fault.get("output").s().starts_with("before the fault\n"));
    assert!(!fault.get("output").s().contains("not reached"));
    let bc = by_name(&r, "budget_cycles.py");
    assert!(bc.get("reason").s().contains("max-cycles 2_000_000"));
    assert!(bc.get("cycles").n() >= 2_000_000.0);
    assert!(
        bc.get("details").s().contains("where the cycles went"),
        "{bc:?}"
    );
    let cc = by_name(&r, "cycles_changed.py").get("snapshot");
    assert_eq!(cc.get("state").s(), "over_tolerance");
    assert_eq!(cc.get("old").n(), 597_597.0);
    assert!(cc.get("ratio").n() > 1.01);
    assert_eq!(cc.get("written"), &J::Bool(false));
    // Faster beyond the tolerance fails as well: a drop is blessed like a rise.
    let cf = by_name(&r, "cycles_faster.py").get("snapshot");
    assert_eq!(cf.get("state").s(), "over_tolerance");
    assert_eq!(cf.get("old").n(), 100_000_000.0);
    assert!(cf.get("ratio").n() < 0.99);
    assert_eq!(status("skipped.py"), "skipped");
    assert_eq!(
        by_name(&r, "skipped.py").get("reason").s(),
        "needs a host on the USB port"
    );
    assert_eq!(by_name(&r, "skipped.py").get("outcome"), &J::Null);

    // Without --bless nothing was written.
    let snaps = snapshots(&dir);
    assert_eq!(snaps.len(), 2, "{snaps:?}");

    // JUnit report.
    let x = std::fs::read_to_string(&junit).unwrap();
    let names = check_xml(&x);
    assert_eq!(names[0], "testsuites");
    assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 12);
    assert_eq!(names.iter().filter(|n| *n == "failure").count(), 7);
    assert_eq!(names.iter().filter(|n| *n == "skipped").count(), 1);
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
    assert_eq!(r.get("summary").get("new_snapshots").n(), 4.0);
    assert_eq!(r.get("summary").get("snapshots_written").n(), 6.0);
    let cc = by_name(&r, "cycles_changed.py");
    assert_eq!(cc.get("status").s(), "passed");
    assert_eq!(cc.get("snapshot").get("written"), &J::Bool(true));
    assert!(cc.get("reason").s().contains("snapshot rewritten"));
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
    let pass_cycles = by_name(&r, "pass.py").get("cycles").n() as u64;
    let snap = text(&first.iter().find(|(n, _)| n == "pass.py.cycles").unwrap().1);
    assert_eq!(
        snap.lines().last().unwrap().replace('_', ""),
        pass_cycles.to_string()
    );

    let out = pybsim(&[d, "--bless", "--json", "-"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(snapshots(&dir), first, "a second run changed a snapshot");
    let r = parse_json(&text(&out.stdout));
    assert_eq!(r.get("summary").get("snapshots_written").n(), 0.0);
    for n in [
        "pass.py",
        "no_exp.py",
        "exception_expected.py",
        "wired.py",
        "cycles_changed.py",
        "cycles_faster.py",
    ] {
        assert_eq!(
            by_name(&r, n).get("snapshot").get("state").s(),
            "same",
            "{n}"
        );
    }
    // Without --bless, the blessed tests pass now, cycles_changed.py included.
    let out = pybsim(&[d, "--json", "-"]);
    let r = parse_json(&text(&out.stdout));
    assert_eq!(r.get("summary").get("passed").n(), 6.0);

    // --bless-exp takes the output as the new expectation.
    let f = dir.join("fail_output.py");
    let out = pybsim(&[f.to_str().unwrap(), "--bless-exp", "--json", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r = parse_json(&text(&out.stdout));
    assert_eq!(r.get("summary").get("exp_written").n(), 1.0);
    assert!(by_name(&r, "fail_output.py")
        .get("reason")
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
        r.get("tests")
            .arr()
            .iter()
            .map(|t| t.get("name").s().to_string())
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
    assert_eq!(a.get("kind").s(), "error");
    assert!(a.get("reason").s().ends_with("a.py:1: unknown option `colour` (known: board, wire, stimuli, fs, sd, firmware, max-cycles, max-time, tolerance, rng-seed, skip)"), "{a:?}");
    assert_eq!(by_name(&r, "b.py").get("status").s(), "passed");
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
    assert_eq!(r.get("summary").get("passed").n(), 14.0);
    assert_eq!(r.get("summary").get("snapshots_written").n(), 0.0);
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
    assert_eq!(t.get("kind").s(), "watchdog", "{t:?}");
    let reason = t.get("reason").s();
    assert!(
        reason.starts_with("watchdog reset (Iwdg) at 0.2") && reason.ends_with("during the test"),
        "{reason}"
    );
    assert_eq!(t.get("output").s(), "armed\n");
    // Ended at the reset: well before the 2 s of the sleep, let alone the 10 s budget.
    let board_ns = t.get("board_ns").n();
    assert!(board_ns > 0.2e9 && board_ns < 0.5e9, "{board_ns}");
    assert!(!text(&out.stderr).contains("pybsim: watchdog"));
    let _ = std::fs::remove_dir_all(&dir);
}
