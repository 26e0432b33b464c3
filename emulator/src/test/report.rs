//! What `pybsim test` writes: the line diff of expected and actual output, the JUnit
//! XML report and the JSON report. All written by hand (escaping included).

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

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_opt_u64(v: Option<u64>) -> String {
    v.map_or("null".to_string(), |v| v.to_string())
}

fn secs(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, ns % 1_000_000_000 / 1000)
}

/// The JUnit XML report. Times are virtual (board time of each session, boot
/// included), so the file is the same on every run.
pub fn junit(reports: &[TestReport], sum: &Summary, suite_name: &str) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"pybsim test\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\">",
        reports.len(),
        sum.failed,
        sum.skipped,
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
    for r in reports {
        let (dir, file) = match r.name.rsplit_once('/') {
            Some((d, f)) => (d.replace('/', "."), f),
            None => (String::new(), r.name.as_str()),
        };
        let _ = write!(
            x,
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{}\"",
            xml_escape(file),
            xml_escape(if dir.is_empty() { "pybsim" } else { &dir }),
            xml_escape(&r.name),
            secs(r.board_ns)
        );
        let mut props = Vec::new();
        if let Some(c) = r.cycles {
            props.push(("cycles", c.to_string()));
        }
        if let Some(old) = r.snapshot.old() {
            props.push(("snapshot", old.to_string()));
        }
        match r.status {
            Status::Passed if props.is_empty() && r.output.is_empty() => {
                x.push_str("/>\n");
                continue;
            }
            _ => x.push_str(">\n"),
        }
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
        if !props.is_empty() {
            x.push_str("      <properties>\n");
            for (k, v) in props {
                let _ = writeln!(x, "        <property name=\"{k}\" value=\"{v}\"/>");
            }
            x.push_str("      </properties>\n");
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

/// The JSON report (format 1; see the module documentation of `testrun`).
pub fn json(reports: &[TestReport], sum: &Summary) -> String {
    let mut j = String::from("{\n  \"format\": \"pybsim-test\",\n  \"version\": 1,\n");
    let _ = writeln!(
        j,
        "  \"summary\": {{\"tests\": {}, \"passed\": {}, \"failed\": {}, \"skipped\": {}, \"new_snapshots\": {}, \"snapshots_written\": {}, \"exp_written\": {}, \"board_ns\": {}, \"wall_ms\": {}}},",
        reports.len(),
        sum.passed,
        sum.failed,
        sum.skipped,
        sum.new_snapshots,
        sum.snapshots_written,
        sum.exp_written,
        sum.board_ns,
        sum.wall_ms
    );
    j.push_str("  \"tests\": [");
    for (i, r) in reports.iter().enumerate() {
        j.push_str(if i == 0 { "\n" } else { ",\n" });
        let status = match r.status {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        };
        let _ = write!(
            j,
            "    {{\"name\": {}, \"status\": \"{status}\", \"kind\": {}, \"reason\": {}, \"outcome\": {}, \"cycles\": {}, \"cycles_exact\": {}, \"snapshot\": {}, \"board_ns\": {}, \"output\": {}, \"details\": {}}}",
            json_str(&r.name),
            if r.status == Status::Failed { json_str(r.kind) } else { "null".into() },
            json_str(&r.reason),
            r.outcome.map_or("null".to_string(), json_str),
            json_opt_u64(r.cycles),
            r.cycles_exact,
            snapshot_json(&r.snapshot),
            r.board_ns,
            json_str(&r.output),
            json_str(&r.details),
        );
    }
    j.push_str(if reports.is_empty() {
        "]\n}\n"
    } else {
        "\n  ]\n}\n"
    });
    j
}

fn snapshot_json(s: &Snapshot) -> String {
    let (state, old, new, written) = match s {
        Snapshot::NotTaken => return "null".into(),
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
    let ratio = match (old, new) {
        (Some(o), Some(n)) if o > 0 => format!("{:.6}", n as f64 / o as f64),
        _ => "null".into(),
    };
    format!(
        "{{\"state\": \"{state}\", \"old\": {}, \"new\": {}, \"ratio\": {ratio}, \"written\": {written}}}",
        json_opt_u64(old),
        json_opt_u64(new)
    )
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
        assert_eq!(json_str("a\"\\\n\x02é"), "\"a\\\"\\\\\\n\\u0002é\"");
        assert_eq!(normalise(b"a\r\nb\r\n"), "a\nb\n");
        assert_eq!(secs(1_500_000_000), "1.500000");
    }
}
