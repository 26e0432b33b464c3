//! The CI examples in examples/ci/ run here as CI would run them: the shell lines of
//! the GitHub Actions workflow and the GitLab CI file that call examples/ci/ are taken
//! from the YAML, their matrix or `parallel` variables filled in for every shard, and run
//! with bash in a scratch directory that holds the repository's `examples` and `tests`.
//! The shards must run every test of the suite exactly once, and the merged JUnit file
//! must count them all and keep to the strict schema.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{repo, scratch, text};

/// The lines of `yaml` that call a script of examples/ci/, with their YAML list or
/// `run:` prefix taken off.
fn ci_lines(yaml: &str) -> Vec<String> {
    yaml.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains("examples/ci/"))
        .map(|l| {
            l.strip_prefix("run:")
                .or_else(|| l.strip_prefix("- "))
                .unwrap_or(l)
                .trim()
                .to_string()
        })
        .collect()
}

/// The value after `key:` on a line of `yaml`.
fn yaml_value<'a>(yaml: &'a str, key: &str) -> &'a str {
    yaml.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in the example"))
        .trim()
}

/// A scratch directory where the example's relative paths work: `examples` and
/// `tests` of the repository, nothing else (the reports land here).
fn workdir(name: &str) -> PathBuf {
    let d = scratch(name);
    for sub in ["examples", "tests"] {
        std::os::unix::fs::symlink(repo().join(sub), d.join(sub)).expect("symlink");
    }
    d
}

fn bash(dir: &Path, line: &str) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PYBSIM", env!("CARGO_BIN_EXE_pybsim"))
        .output()
        .expect("bash runs")
}

/// Runs the shard lines for shards 1..=n (with `fill` giving the line for shard k),
/// then the merge line; checks the result against the suite.
fn run_example(
    name: &str,
    shard_line: &str,
    merge_line: &str,
    n: usize,
    fill: impl Fn(&str, usize) -> String,
) {
    let dir = workdir(name);
    for k in 1..=n {
        let line = fill(shard_line, k);
        assert!(!line.contains('$'), "a variable is left in {line:?}");
        let out = bash(&dir, &line);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name} shard {k}: {line}\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains(&format!("(shard {k}/{n} of ")),
            "{}",
            text(&out.stdout)
        );
    }
    let out = bash(&dir, merge_line);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{merge_line}\n{}",
        text(&out.stderr)
    );
    // The merged file: every test of the suite once, counts summed, strict JUnit.
    let merged_name = merge_line
        .split_whitespace()
        .skip_while(|w| *w != "-o")
        .nth(1)
        .expect("-o FILE");
    let merged = dir.join(merged_name);
    let x = std::fs::read_to_string(&merged).expect("the merged report");
    let suite: BTreeSet<String> = std::fs::read_dir(repo().join("tests/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".py"))
        .collect();
    let cases: Vec<String> = x
        .split("<testcase name=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    let once: BTreeSet<String> = cases.iter().cloned().collect();
    assert_eq!(cases.len(), suite.len(), "{x}");
    assert_eq!(once, suite);
    assert!(
        x.contains(&format!(
            "<testsuites name=\"pybsim test\" tests=\"{}\" failures=\"0\" errors=\"0\" time=\"",
            suite.len()
        )),
        "{x}"
    );
    assert_eq!(
        x.matches("<testsuite name=\"pybsim test (shard ").count(),
        n
    );
    assert!(text(&out.stdout).contains(&format!(
        "merge-junit: {n} files, {n} suites, {} tests, 0 failures",
        suite.len()
    )));
    if let Some(r) = common::validate_junit(&merged) {
        assert_eq!(r, Ok(()), "the merged report");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn have_python() -> bool {
    common::have_tool("python3", "the JUnit merge of the CI examples")
}

#[test]
fn github_actions_example_shards_and_merges() {
    if !common::have_firmware() || !have_python() {
        return;
    }
    let yaml = std::fs::read_to_string(repo().join("examples/ci/github-actions.yml")).unwrap();
    let lines = ci_lines(&yaml);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let shards: Vec<usize> = yaml_value(&yaml, "shard:")
        .trim_matches(['[', ']'])
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let n = shards.len();
    assert_eq!(shards, (1..=n).collect::<Vec<_>>());
    run_example("github", &lines[0], &lines[1], n, |l, k| {
        l.replace("${{ matrix.shard }}", &k.to_string())
            .replace("${{ strategy.job-total }}", &n.to_string())
    });
}

#[test]
fn gitlab_ci_example_shards_and_merges() {
    if !common::have_firmware() || !have_python() {
        return;
    }
    let yaml = std::fs::read_to_string(repo().join("examples/ci/gitlab-ci.yml")).unwrap();
    let lines = ci_lines(&yaml);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let n: usize = yaml_value(&yaml, "parallel:").parse().unwrap();
    run_example("gitlab", &lines[0], &lines[1], n, |l, k| {
        l.replace("$CI_NODE_INDEX", &k.to_string())
            .replace("$CI_NODE_TOTAL", &n.to_string())
    });
}

/// The merge names a file that is not a JUnit report, and writes nothing.
#[test]
fn merge_junit_refuses_what_is_not_junit() {
    if !have_python() {
        return;
    }
    let dir = scratch("merge-bad");
    let bad = common::write(&dir, "bad.xml", "<html/>");
    let broken = common::write(&dir, "broken.xml", "<testsuites><testsuite");
    let script = repo().join("examples/ci/merge-junit.py");
    for f in [&bad, &broken, &dir.join("missing.xml")] {
        let out = Command::new("python3")
            .arg(&script)
            .arg("-o")
            .arg(dir.join("out.xml"))
            .arg(f)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", f.display());
        assert!(
            text(&out.stderr).contains(&f.display().to_string()),
            "{}",
            text(&out.stderr)
        );
        assert!(!dir.join("out.xml").exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
