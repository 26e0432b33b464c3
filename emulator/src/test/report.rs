//! What `pybsim test` writes: the line diff of expected and actual output, the JUnit
//! XML report (valid against the strict JUnit schema Jenkins' xUnit plugin uses) and the
//! JSON report (through serde_json).

use std::fmt::Write as _;

use super::{Snapshot, Status, Summary, TestReport};

/// Normalises output the way MicroPython's run-tests.py does: CR LF becomes LF.
pub fn normalise(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}

/// A line diff of `expected` and `got` (longest common subsequence), with the first
/// differing line marked. Lines: `  ` same, `- ` expected only, `+ ` got only.
pub fn diff(expected: &str, got: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = got.split_inclusive('\n').collect();
    let first = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "first difference at line {} (- expected, + got):",
        first + 1
    );
    // Common lines at both ends need no table.
    let tail = a[first..]
        .iter()
        .rev()
        .zip(b[first..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[first..a.len() - tail], &b[first..b.len() - tail]);
    let ctx = 3;
    for line in &a[first.saturating_sub(ctx)..first] {
        push_line(&mut s, "  ", line, false);
    }
    let ops = if ma.len().saturating_mul(mb.len()) <= 4_000_000 {
        lcs_ops(ma, mb)
    } else {
        // Too big to align: all of one, then all of the other.
        ma.iter()
            .map(|l| ('-', *l))
            .chain(mb.iter().map(|l| ('+', *l)))
            .collect()
    };
    let mut marked = false;
    for (op, line) in ops {
        let changed = op != ' ';
        let mark = changed && !marked;
        marked |= changed;
        let prefix = match op {
            '-' => "- ",
            '+' => "+ ",
            _ => "  ",
        };
        push_line(&mut s, prefix, line, mark);
    }
    for line in a[a.len() - tail..].iter().take(ctx) {
        push_line(&mut s, "  ", line, false);
    }
    s
}

fn push_line(s: &mut String, prefix: &str, line: &str, mark: bool) {
    let (text, nl) = match line.strip_suffix('\n') {
        Some(t) => (t, ""),
        None => (line, " (no newline at end)"),
    };
    s.push_str(prefix);
    s.push_str(text);
    s.push_str(nl);
    if mark {
        s.push_str("    <-- first difference");
    }
    s.push('\n');
}

fn lcs_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(char, &'a str)> {
    let (n, m) = (a.len(), b.len());
    // len[i][j]: LCS length of a[i..] and b[j..].
    let mut len = vec![0u32; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i * (m + 1) + j] = if a[i] == b[j] {
                len[(i + 1) * (m + 1) + j + 1] + 1
            } else {
                len[(i + 1) * (m + 1) + j].max(len[i * (m + 1) + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || len[(i + 1) * (m + 1) + j] >= len[i * (m + 1) + j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    ops
}

/// Escapes text for XML content and attributes; drops the characters XML 1.0 cannot
/// hold (control characters other than tab, LF and CR) as `\xNN`.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' => o.push(c),
            '\r' => o.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn secs(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, ns % 1_000_000_000 / 1000)
}

/// The JUnit XML report. Times are virtual (board time of each session, boot
/// included), so the file is the same on every run.
///
/// It keeps to the strict schema (tests/pybsim-test/junit-strict.xsd, Jenkins' junit-10
/// rules): no `skipped` on `<testsuites>`, no `file` or `<properties>` on a
/// `<testcase>`. pybsim's own figures go into the suite's `<properties>`: the pybsim
/// version, and per test `cycles:NAME` (the counted cycles), `snapshot:NAME` (the
/// snapshot it was compared with) and `expected-output:NAME` (`none` for a test without
/// `.exp`); the test's output is its `<system-out>`.
pub fn junit(reports: &[TestReport], sum: &Summary, suite_name: &str) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"pybsim test\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{}\">",
        reports.len(),
        sum.failed,
        secs(sum.board_ns)
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
        xml_escape(suite_name),
        reports.len(),
        sum.failed,
        sum.skipped,
        secs(sum.board_ns)
    );
    let mut props = vec![(
        "pybsim.version".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    )];
    for r in reports {
        if let Some(c) = r.cycles {
            props.push((format!("cycles:{}", r.name), c.to_string()));
        }
        if let Some(old) = r.snapshot.old() {
            props.push((format!("snapshot:{}", r.name), old.to_string()));
        }
        if !r.expected_output && r.status != Status::Skipped {
            props.push((format!("expected-output:{}", r.name), "none".to_string()));
        }
    }
    x.push_str("    <properties>\n");
    for (k, v) in &props {
        let _ = writeln!(
            x,
            "      <property name=\"{}\" value=\"{}\"/>",
            xml_escape(k),
            xml_escape(v)
        );
    }
    x.push_str("    </properties>\n");
    for r in reports {
        let (dir, file) = match r.name.rsplit_once('/') {
            Some((d, f)) => (d.replace('/', "."), f),
            None => (String::new(), r.name.as_str()),
        };
        let _ = write!(
            x,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            xml_escape(file),
            xml_escape(if dir.is_empty() { "pybsim" } else { &dir }),
            secs(r.board_ns)
        );
        if r.status == Status::Passed && r.output.is_empty() {
            x.push_str("/>\n");
            continue;
        }
        x.push_str(">\n");
        match r.status {
            Status::Failed => {
                let _ = writeln!(
                    x,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                    xml_escape(&r.reason),
                    r.kind,
                    xml_escape(&r.details)
                );
            }
            Status::Skipped => {
                let _ = writeln!(x, "      <skipped message=\"{}\"/>", xml_escape(&r.reason));
            }
            Status::Passed => {}
        }
        if !r.output.is_empty() {
            let _ = writeln!(
                x,
                "      <system-out>{}</system-out>",
                xml_escape(&r.output)
            );
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// The JSON report (format 1; see the module documentation of [`crate::test`]).
pub fn json(reports: &[TestReport], sum: &Summary) -> String {
    #[derive(serde::Serialize)]
    struct JSummary {
        tests: usize,
        passed: usize,
        failed: usize,
        skipped: usize,
        new_snapshots: usize,
        snapshots_written: usize,
        exp_written: usize,
        no_expected_output: usize,
        board_ns: u64,
        wall_ms: u64,
    }
    #[derive(serde::Serialize)]
    struct JScenario {
        steps: usize,
        done: usize,
    }
    #[derive(serde::Serialize)]
    struct JTest<'a> {
        name: &'a str,
        status: &'static str,
        kind: Option<&'static str>,
        reason: &'a str,
        outcome: Option<&'static str>,
        cycles: Option<u64>,
        cycles_exact: bool,
        snapshot: Option<JSnapshot>,
        expected_output: bool,
        scenario: Option<JScenario>,
        board_ns: u64,
        output: &'a str,
        details: &'a str,
    }
    #[derive(serde::Serialize)]
    struct JReport<'a> {
        format: &'static str,
        version: u32,
        summary: JSummary,
        tests: Vec<JTest<'a>>,
    }
    let report = JReport {
        format: "pybsim-test",
        version: 1,
        summary: JSummary {
            tests: reports.len(),
            passed: sum.passed,
            failed: sum.failed,
            skipped: sum.skipped,
            new_snapshots: sum.new_snapshots,
            snapshots_written: sum.snapshots_written,
            exp_written: sum.exp_written,
            no_expected_output: sum.no_expected_output,
            board_ns: sum.board_ns,
            wall_ms: sum.wall_ms,
        },
        tests: reports
            .iter()
            .map(|r| JTest {
                name: &r.name,
                status: match r.status {
                    Status::Passed => "passed",
                    Status::Failed => "failed",
                    Status::Skipped => "skipped",
                },
                kind: (r.status == Status::Failed).then_some(r.kind),
                reason: &r.reason,
                outcome: r.outcome,
                cycles: r.cycles,
                cycles_exact: r.cycles_exact,
                snapshot: snapshot_json(&r.snapshot),
                expected_output: r.expected_output,
                scenario: r.scenario.map(|(steps, done)| JScenario { steps, done }),
                board_ns: r.board_ns,
                output: &r.output,
                details: &r.details,
            })
            .collect(),
    };
    let mut j = serde_json::to_string_pretty(&report).expect("the report serialises");
    j.push('\n');
    j
}

/// A snapshot in the JSON report.
#[derive(serde::Serialize)]
struct JSnapshot {
    state: &'static str,
    old: Option<u64>,
    new: Option<u64>,
    ratio: Option<f64>,
    written: bool,
}

fn snapshot_json(s: &Snapshot) -> Option<JSnapshot> {
    let (state, old, new, written) = match s {
        Snapshot::NotTaken => return None,
        Snapshot::New { new, written } => ("new", None, Some(*new), *written),
        Snapshot::Same { n } => ("same", Some(*n), Some(*n), false),
        Snapshot::Changed {
            old,
            new,
            over,
            written,
        } => (
            if *over { "over_tolerance" } else { "changed" },
            Some(*old),
            Some(*new),
            *written,
        ),
        Snapshot::Unreadable { written, .. } => ("unreadable", None, None, *written),
    };
    // The ratio new/old to six decimals.
    let ratio = match (old, new) {
        (Some(o), Some(n)) if o > 0 => Some((n as f64 / o as f64 * 1e6).round() / 1e6),
        _ => None,
    };
    Some(JSnapshot {
        state,
        old,
        new,
        ratio,
        written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_first_difference() {
        let d = diff("a\nb\nc\n", "a\nB\nc\n");
        assert!(d.starts_with("first difference at line 2"));
        assert!(d.contains("- b    <-- first difference\n+ B\n"), "{d}");
        assert!(d.contains("  a\n") && d.contains("  c\n"));
        let d = diff("a\n", "a\nextra");
        assert!(
            d.contains("+ extra (no newline at end)    <-- first difference"),
            "{d}"
        );
        let d = diff("x\ny\n", "");
        assert!(d.contains("- x    <-- first difference\n- y\n"), "{d}");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            xml_escape("<a & \"b\">\x01"),
            "&lt;a &amp; &quot;b&quot;&gt;\\x01"
        );
        assert_eq!(normalise(b"a\r\nb\r\n"), "a\nb\n");
        assert_eq!(secs(1_500_000_000), "1.500000");
    }
}
