//! Per-test options: `# pybsim: KEY VALUE` lines in a test's header comment, and the
//! same lines in a directory's `pybsim-test.cfg`.
//!
//! The header is the comment block at the top of the file: every line up to the first
//! one that is neither blank nor a `#` comment. In it, lines of the form
//! `# pybsim: KEY [VALUE]` are options. A `pybsim-test.cfg` beside the tests holds the
//! same `KEY [VALUE]` lines (without `# pybsim:`): those before any section apply to
//! every test of the directory, those after `[name.py]` to that test only. This keeps
//! test files byte-identical to where they come from.
//!
//! Precedence: directory-wide lines, then the file's section, then the header; a later
//! value replaces an earlier one, except `wire`, `step`, `expect-text` and `fail-text`,
//! which add up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Name of the per-directory options file.
pub const DIR_CONFIG: &str = "pybsim-test.cfg";

/// The keys an options line may use.
pub const KEYS: &str = "board, wire, stimuli, fs, sd, firmware, repl-uart, repl, max-cycles, \
     max-time, tolerance, rng-seed, vcd, vcd-vectors, dac-trace, scenario, step, expect-text, \
     fail-text, skip";

/// A problem with a test's options, naming the file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {msg}", file.display())]
pub struct OptionError {
    pub file: PathBuf,
    pub line: usize,
    pub msg: String,
}

/// Everything a test may set. Paths are resolved against the file that named them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestOptions {
    pub board: Option<String>,
    pub wires: Vec<String>,
    pub stimuli: Option<PathBuf>,
    pub fs: Option<PathBuf>,
    /// SD card image for the slot (the test works on a copy: nothing is written back).
    pub sd: Option<PathBuf>,
    pub firmware: Option<PathBuf>,
    /// Budget for the script's cycles (as counted for the snapshot).
    pub max_cycles: Option<u64>,
    /// Budget in virtual nanoseconds from the moment the script is sent.
    pub max_ns: Option<u64>,
    /// The text of `max-time`, for messages.
    pub max_time_text: Option<String>,
    /// Allowed increase of the cycle count over the snapshot, in percent.
    pub tolerance_pct: Option<f64>,
    /// Skip the test, with this reason.
    pub skip: Option<String>,
    /// Seed of the board's RNG.
    pub rng_seed: Option<u64>,
    /// Carry the console on this U(S)ART (as `pybsim run --repl-uart`).
    pub repl_uart: Option<u8>,
    /// The console without `repl-uart` (as `pybsim run --repl`).
    pub repl: Option<crate::session::Repl>,
    /// Write the test's pin trace as VCD here (as `pybsim run --vcd`).
    pub vcd: Option<PathBuf>,
    /// The VCD with the cycle counter and DAC vectors (as `--vcd-vectors`).
    pub vcd_vectors: bool,
    /// Write the test's DAC samples as CSV here (as `--dac-trace`).
    pub dac_trace: Option<PathBuf>,
    /// The scenario file (RON, see [`super::scenario`]).
    pub scenario: Option<PathBuf>,
    /// Steps from `step` lines: (where written, the step).
    pub steps: Vec<(String, super::scenario::Step)>,
    /// Texts from `expect-text` and `fail-text` lines: (where written, text).
    pub expect_text: Vec<(String, String)>,
    pub fail_text: Vec<(String, String)>,
}

/// A text option's value: as written, or a RON string when quoted (for escapes and
/// spaces at the ends).
fn text_value(v: &str) -> Result<String, String> {
    if v.starts_with('"') {
        ron::from_str::<String>(v).map_err(|e| format!("{v}: not a string ({})", e.code))
    } else {
        Ok(v.to_string())
    }
}

impl TestOptions {
    /// Applies one `KEY [VALUE]` line; `base` is the directory relative paths start from.
    pub fn apply(&mut self, text: &str, base: &Path) -> Result<(), String> {
        self.apply_at(text, base, "")
    }

    /// [`TestOptions::apply`] for a line written at `origin` (`file:line`, which steps
    /// and texts keep for their messages).
    pub fn apply_at(&mut self, text: &str, base: &Path, origin: &str) -> Result<(), String> {
        let text = text.trim();
        let (key, value) = match text.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => (text, ""),
        };
        let need = |what: &str| -> Result<&str, String> {
            if value.is_empty() {
                Err(format!("`{key}` needs {what}"))
            } else {
                Ok(value)
            }
        };
        match key {
            "board" => self.board = Some(need("a board name or RON file")?.to_string()),
            "wire" => {
                for w in need("a pin pair such as Y1:Y2")?.split_whitespace() {
                    self.wires.push(w.to_string());
                }
            }
            "stimuli" => self.stimuli = Some(base.join(need("a stimuli file")?)),
            "fs" => self.fs = Some(base.join(need("a directory")?)),
            "sd" => self.sd = Some(base.join(need("an SD card image file")?)),
            "firmware" => self.firmware = Some(base.join(need("a firmware file")?)),
            "max-cycles" => {
                let v = need("a cycle count")?;
                let n = parse_count(v)
                    .ok_or_else(|| format!("max-cycles: {v:?} is not a cycle count"))?;
                self.max_cycles = Some(n);
            }
            "max-time" => {
                let v = need("a duration such as 2s or 500ms")?;
                let t = pybsim_boards::parse_duration(v).map_err(|e| format!("max-time: {e}"))?;
                self.max_ns = Some(t.to_nanos(168_000_000));
                self.max_time_text = Some(v.to_string());
            }
            "rng-seed" => {
                let v = need("a number")?;
                let n = parse_count(v).ok_or_else(|| format!("rng-seed: {v:?} is not a number"))?;
                self.rng_seed = Some(n);
            }
            "tolerance" => {
                let v = need("a percentage such as 5%")?;
                self.tolerance_pct = Some(parse_percent(v).ok_or_else(|| {
                    format!("tolerance: {v:?} is not a percentage (such as 5% or 0.5%)")
                })?);
            }
            "repl-uart" => {
                let v = need("a U(S)ART number, 1 to 6")?;
                match v.parse::<u8>() {
                    Ok(n) if (1..=6).contains(&n) => self.repl_uart = Some(n),
                    _ => return Err(format!("repl-uart: {v:?} is not a U(S)ART number, 1 to 6")),
                }
            }
            "repl" => {
                use crate::session::Repl;
                self.repl = Some(match need("auto, console or usb")? {
                    "auto" => Repl::Auto,
                    "console" => Repl::Console,
                    "usb" => Repl::Usb,
                    v => {
                        return Err(format!(
                            "repl: {v:?} is not a console: auto, console or usb"
                        ))
                    }
                });
            }
            "vcd" => self.vcd = Some(base.join(need("a file to write")?)),
            "vcd-vectors" => {
                if !value.is_empty() {
                    return Err("`vcd-vectors` takes no value".into());
                }
                self.vcd_vectors = true;
            }
            "dac-trace" => self.dac_trace = Some(base.join(need("a file to write")?)),
            "scenario" => self.scenario = Some(base.join(need("a scenario file (RON)")?)),
            "step" => {
                let step =
                    super::scenario::parse_step(need("a step such as WaitLine(text: \"ready\")")?)?;
                self.steps.push((origin.to_string(), step));
            }
            "expect-text" => {
                let t = text_value(need("a text")?)?;
                self.expect_text.push((origin.to_string(), t));
            }
            "fail-text" => {
                let t = text_value(need("a text")?)?;
                self.fail_text.push((origin.to_string(), t));
            }
            "skip" => {
                self.skip = Some(if value.is_empty() {
                    "skipped".to_string()
                } else {
                    value.to_string()
                })
            }
            "" => return Err("empty option".to_string()),
            _ => return Err(format!("unknown option `{key}` (known: {KEYS})")),
        }
        Ok(())
    }
}

/// A cycle count: digits with optional `_` separators.
pub fn parse_count(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.starts_with('_') || !s.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    s.replace('_', "").parse().ok()
}

/// A percentage: `5%`, `0.5%` or `5`; not negative.
pub fn parse_percent(s: &str) -> Option<f64> {
    let s = s.trim();
    let s = s.strip_suffix('%').unwrap_or(s).trim_end();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// The `# pybsim:` lines of a test's header, with their line numbers.
pub fn header_lines(source: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let Some(comment) = t.strip_prefix('#') else {
            break;
        };
        if let Some(rest) = comment.trim_start().strip_prefix("pybsim:") {
            out.push((i + 1, rest.trim()));
        }
    }
    out
}

/// A parsed `pybsim-test.cfg`: directory-wide lines and per-file sections.
#[derive(Debug, Clone, Default)]
pub struct DirConfig {
    pub path: PathBuf,
    pub common: Vec<(usize, String)>,
    pub sections: BTreeMap<String, Vec<(usize, String)>>,
}

impl DirConfig {
    /// Parses the text of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<DirConfig, OptionError> {
        let mut cfg = DirConfig {
            path: path.to_path_buf(),
            ..DirConfig::default()
        };
        let mut section: Option<String> = None;
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if let Some(rest) = t.strip_prefix('[') {
                let Some(name) = rest.strip_suffix(']') else {
                    return Err(OptionError {
                        file: path.to_path_buf(),
                        line: i + 1,
                        msg: format!("section header {t:?} lacks its closing `]`"),
                    });
                };
                let name = name.trim();
                if name.is_empty() || name.contains('/') || name.contains('\\') {
                    return Err(OptionError {
                        file: path.to_path_buf(),
                        line: i + 1,
                        msg: format!("section [{name}] must name a test file of this directory"),
                    });
                }
                cfg.sections.entry(name.to_string()).or_default();
                section = Some(name.to_string());
                continue;
            }
            // Check the line now so a mistake is reported even for tests not run.
            TestOptions::default()
                .apply(t, Path::new(""))
                .map_err(|msg| OptionError {
                    file: path.to_path_buf(),
                    line: i + 1,
                    msg,
                })?;
            match &section {
                Some(s) => cfg
                    .sections
                    .entry(s.clone())
                    .or_default()
                    .push((i + 1, t.to_string())),
                None => cfg.common.push((i + 1, t.to_string())),
            }
        }
        Ok(cfg)
    }
}

/// The options of the test at `test` with source `source`, given its directory's
/// configuration.
pub fn resolve(
    test: &Path,
    source: &str,
    dir_cfg: Option<&DirConfig>,
) -> Result<TestOptions, OptionError> {
    let base = test.parent().unwrap_or(Path::new(""));
    let mut o = TestOptions::default();
    if let Some(cfg) = dir_cfg {
        let name = test
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let section = cfg.sections.get(&name).map(Vec::as_slice).unwrap_or(&[]);
        for (line, text) in cfg.common.iter().chain(section) {
            let origin = format!("{}:{line}", cfg.path.display());
            o.apply_at(text, base, &origin).map_err(|msg| OptionError {
                file: cfg.path.clone(),
                line: *line,
                msg,
            })?;
        }
    }
    for (line, text) in header_lines(source) {
        let origin = format!("{}:{line}", test.display());
        o.apply_at(text, base, &origin).map_err(|msg| OptionError {
            file: test.to_path_buf(),
            line,
            msg,
        })?;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_stops_at_code() {
        let src = "# a test\n# pybsim: board pybv10\n\n#pybsim: wire Y1:Y2\nimport pyb\n# pybsim: skip late\n";
        assert_eq!(
            header_lines(src),
            vec![(2, "board pybv10"), (4, "wire Y1:Y2")]
        );
    }

    #[test]
    fn options_parse() {
        let mut o = TestOptions::default();
        let base = Path::new("t");
        o.apply("max-cycles 2_000_000", base).unwrap();
        o.apply("max-time 2s", base).unwrap();
        o.apply("tolerance 5%", base).unwrap();
        o.apply("wire Y1:Y2 X1:X2", base).unwrap();
        o.apply("fs data", base).unwrap();
        o.apply("sd card.img", base).unwrap();
        o.apply("skip", base).unwrap();
        assert_eq!(o.max_cycles, Some(2_000_000));
        assert_eq!(o.max_ns, Some(2_000_000_000));
        assert_eq!(o.tolerance_pct, Some(5.0));
        assert_eq!(o.wires, vec!["Y1:Y2", "X1:X2"]);
        assert_eq!(o.fs, Some(PathBuf::from("t/data")));
        assert_eq!(o.sd, Some(PathBuf::from("t/card.img")));
        assert_eq!(o.skip.as_deref(), Some("skipped"));
        o.apply("repl-uart 1", base).unwrap();
        o.apply("repl usb", base).unwrap();
        o.apply("vcd pins.vcd", base).unwrap();
        o.apply("vcd-vectors", base).unwrap();
        o.apply("dac-trace dac.csv", base).unwrap();
        o.apply("scenario s.ron", base).unwrap();
        o.apply_at(
            r#"step WaitLine(text: "ready", timeout: "1s")"#,
            base,
            "t.py:3",
        )
        .unwrap();
        o.apply_at("expect-text all done", base, "t.py:4").unwrap();
        o.apply_at(r#"fail-text " Error\t""#, base, "t.py:5")
            .unwrap();
        assert_eq!(o.repl_uart, Some(1));
        assert_eq!(o.repl, Some(crate::session::Repl::Usb));
        assert_eq!(o.vcd, Some(PathBuf::from("t/pins.vcd")));
        assert!(o.vcd_vectors);
        assert_eq!(o.dac_trace, Some(PathBuf::from("t/dac.csv")));
        assert_eq!(o.scenario, Some(PathBuf::from("t/s.ron")));
        assert_eq!(o.steps.len(), 1);
        assert_eq!(o.steps[0].0, "t.py:3");
        assert_eq!(
            o.expect_text,
            vec![("t.py:4".to_string(), "all done".to_string())]
        );
        assert_eq!(
            o.fail_text,
            vec![("t.py:5".to_string(), " Error\t".to_string())]
        );
    }

    #[test]
    fn option_errors() {
        let mut o = TestOptions::default();
        let base = Path::new("");
        assert!(o
            .apply("colour red", base)
            .unwrap_err()
            .contains("unknown option `colour`"));
        assert!(o.apply("max-cycles 12x", base).is_err());
        assert!(o.apply("max-cycles", base).unwrap_err().contains("needs"));
        assert!(o.apply("max-time forever", base).is_err());
        assert!(o.apply("tolerance -1%", base).is_err());
        assert!(o.apply("board", base).is_err());
        assert!(o
            .apply("sd", base)
            .unwrap_err()
            .contains("needs an SD card image"));
        assert!(o.apply("repl-uart 7", base).unwrap_err().contains("1 to 6"));
        assert!(o
            .apply("repl serial", base)
            .unwrap_err()
            .contains("auto, console or usb"));
        assert!(o.apply("vcd-vectors yes", base).is_err());
        assert!(o
            .apply("step Wait(text: 1)", base)
            .unwrap_err()
            .starts_with("step \"Wait(text: 1)\""));
        assert!(o.apply("fail-text \"open", base).is_err());
        assert_eq!(parse_count("_1"), None);
        assert_eq!(parse_count("1_0"), Some(10));
        assert_eq!(parse_percent("0.5%"), Some(0.5));
        assert_eq!(parse_percent("%"), None);
    }

    #[test]
    fn dir_config_sections_and_precedence() {
        let cfg = DirConfig::parse(
            Path::new("d/pybsim-test.cfg"),
            "# c\nmax-time 1s\n[a.py]\nwire Y1:Y2\nmax-time 3s\n[b.py]\nskip no\n",
        )
        .unwrap();
        let a = resolve(Path::new("d/a.py"), "# pybsim: wire X1:X2\n", Some(&cfg)).unwrap();
        assert_eq!(a.wires, vec!["Y1:Y2", "X1:X2"]);
        assert_eq!(a.max_ns, Some(3_000_000_000));
        let b = resolve(Path::new("d/b.py"), "print(1)\n", Some(&cfg)).unwrap();
        assert_eq!(b.skip.as_deref(), Some("no"));
        assert_eq!(b.max_ns, Some(1_000_000_000));
        let e = DirConfig::parse(Path::new("x.cfg"), "[a.py\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = DirConfig::parse(Path::new("x.cfg"), "\nbogus 1\n").unwrap_err();
        assert_eq!(
            e.to_string().split(':').take(2).collect::<Vec<_>>(),
            ["x.cfg", "2"]
        );
        let e = resolve(Path::new("t.py"), "# pybsim: max-time soon\n", None).unwrap_err();
        assert!(e.to_string().starts_with("t.py:1: max-time"));
    }
}
