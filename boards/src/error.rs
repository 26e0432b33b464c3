//! Errors of board and stimuli files: each names the file, line and column.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::locate::{locate, Pos, Seg};

/// Where in which file something is: `file:line:column`, 1-based, column in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What is wrong with a board or stimuli file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// Not valid RON, or a value of the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// A field the format does not have (often a typo).
    #[error("unknown field `{field}`{expected}")]
    UnknownField { field: String, expected: String },
    #[error("missing field `{0}`")]
    MissingField(String),
    #[error("unknown pin name {0:?}")]
    UnknownPin(String),
    #[error("{what} {name} ({start:#010x}..{end:#010x}) overlaps {other} ({other_start:#010x}..{other_end:#010x})")]
    Overlap {
        what: &'static str,
        name: String,
        start: u64,
        end: u64,
        other: String,
        other_start: u64,
        other_end: u64,
    },
    #[error("IRQ {line} of {peripheral} is out of range 0..={max}")]
    IrqOutOfRange {
        peripheral: String,
        line: u32,
        max: u32,
    },
    #[error("duplicate {what} name {name:?}")]
    Duplicate { what: &'static str, name: String },
    #[error("bad duration {text:?}: {reason}")]
    BadDuration { text: String, reason: String },
    /// Any other inconsistency, described in words.
    #[error("{0}")]
    Invalid(String),
}

/// An error loading a board or stimuli file.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{}: cannot read: {source}", one_line_escaped(&path.display().to_string()))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Not a regular file, over the size limit, a symbolic link loop.
    #[error("{0}")]
    Input(crate::input::InputError),
    #[error("unknown built-in board {name:?} (built in: {})", known.join(", "))]
    UnknownBuiltin {
        name: String,
        known: Vec<&'static str>,
    },
    /// One line, whatever the names in it hold (control characters are escaped).
    #[error("{}", one_line_escaped(&format!("{at}: {problem}")))]
    Invalid { at: Location, problem: Box<Problem> },
}

impl From<crate::input::InputError> for LoadError {
    fn from(e: crate::input::InputError) -> Self {
        match e {
            crate::input::InputError::Io { path, source } => LoadError::Io { path, source },
            other => LoadError::Input(other),
        }
    }
}

impl LoadError {
    /// The location of the problem, if it is in a file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            LoadError::Invalid { at, .. } => Some(at),
            _ => None,
        }
    }

    /// The problem, if the file could be read.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            LoadError::Invalid { problem, .. } => Some(problem.as_ref()),
            _ => None,
        }
    }
}

/// Source text and its file name, to turn positions and paths into locations.
pub(crate) struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// Location of a 1-based line and byte column (as `ron` counts).
    pub fn at_pos(&self, pos: Pos) -> Location {
        let column = self
            .text
            .lines()
            .nth(pos.line.saturating_sub(1))
            .map(|l| {
                let byte = pos.col.saturating_sub(1).min(l.len());
                // Count characters up to the byte column (rounding down inside one).
                l.char_indices().take_while(|(i, _)| *i < byte).count() + 1
            })
            .unwrap_or(pos.col);
        Location {
            file: self.file.to_string(),
            line: pos.line,
            column,
        }
    }

    /// Location of the value at `path`; the start of the file if it cannot be found.
    pub fn at_path(&self, path: &[Seg<'_>]) -> Location {
        // Fall back to the longest prefix that can be found.
        let pos = (0..=path.len())
            .rev()
            .find_map(|n| locate(self.text, &path[..n]))
            .unwrap_or(Pos { line: 1, col: 1 });
        self.at_pos(pos)
    }

    pub fn error(&self, path: &[Seg<'_>], problem: Problem) -> LoadError {
        LoadError::Invalid {
            at: self.at_path(path),
            problem: Box::new(problem),
        }
    }

    /// Converts a `ron` error, keeping its position.
    pub fn ron_error(&self, e: ron::error::SpannedError) -> LoadError {
        let problem = match e.code {
            ron::Error::NoSuchStructField {
                expected, found, ..
            } => Problem::UnknownField {
                field: found,
                expected: if expected.is_empty() {
                    String::new()
                } else {
                    format!(", expected one of: {}", expected.join(", "))
                },
            },
            ron::Error::NoSuchEnumVariant {
                expected, found, ..
            } => Problem::Syntax(format!(
                "unknown variant `{found}`, expected one of: {}",
                expected.join(", ")
            )),
            ron::Error::MissingStructField { field, .. } => {
                Problem::MissingField(field.to_string())
            }
            ron::Error::Message(m) => match parse_custom(&m) {
                Some(p) => p,
                None => Problem::Syntax(one_line(&m)),
            },
            other => Problem::Syntax(one_line(&other.to_string())),
        };
        let pos = self.token_start(Pos {
            line: e.position.line,
            col: e.position.col,
        });
        LoadError::Invalid {
            at: self.at_pos(pos),
            problem: Box::new(problem),
        }
    }

    /// `ron` reports many errors just after the offending token (a field name, a
    /// number, a string); move such a position back to where the token starts.
    fn token_start(&self, pos: Pos) -> Pos {
        let Some(line) = self.text.lines().nth(pos.line.saturating_sub(1)) else {
            return pos;
        };
        let bytes = line.as_bytes();
        let end = pos.col.saturating_sub(1).min(bytes.len());
        let before = &bytes[..end];
        let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
        let start = match before.last() {
            Some(b'"') if end >= 2 => {
                // Back to the opening quote, skipping escaped quotes.
                let mut i = end - 1;
                loop {
                    match i.checked_sub(1) {
                        None => break end,
                        Some(j) => {
                            i = j;
                            if bytes[i] == b'"' && (i == 0 || bytes[i - 1] != b'\\') {
                                break i;
                            }
                        }
                    }
                }
            }
            Some(&b) if is_word(b) => before
                .iter()
                .rposition(|&c| !is_word(c))
                .map_or(0, |i| i + 1),
            _ => end,
        };
        Pos {
            line: pos.line,
            col: start + 1,
        }
    }
}

/// `s` with control characters (newlines, tabs, ...) written as escapes, so that a
/// name or file name holding them cannot break an error over several lines.
pub fn one_line_escaped(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Marker that custom deserializers put in front of a bad duration's message.
pub(crate) const DURATION_TAG: &str = "\u{1}duration\u{1}";

fn parse_custom(m: &str) -> Option<Problem> {
    let rest = m.strip_prefix(DURATION_TAG)?;
    let (text, reason) = rest.split_once('\u{1}')?;
    Some(Problem::BadDuration {
        text: text.to_string(),
        reason: reason.to_string(),
    })
}
