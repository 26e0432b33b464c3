//! Stimuli files: inputs applied to the board at virtual times.
//!
//! ```ron
//! Stimuli(events: [
//!     PressSwitch(at: "2s"),
//!     ReleaseSwitch(at: "2.1s"),
//!     UartInput(at: "500ms", uart: 1, data: "hello\r\n"),
//!     UartInput(at: "1s", uart: 6, data: [0x01, 0xFF]),
//!     SetPin(at: "3s", pin: "X1", level: High),
//!     ReleasePin(at: "4s", pin: "X1"),
//!     ConsoleInput(at: "10us", data: "print(1)\r\n"),
//! ])
//! ```

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

use crate::error::Source;
use crate::locate::Seg;
use crate::{Board, Level, LoadError, Problem, SimTime};

/// A stimuli file: events in the order written (they need not be sorted by time).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stimuli {
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One input at virtual time `at` (measured from reset).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Event {
    /// Press the board's user switch.
    PressSwitch { at: SimTime },
    /// Release the user switch.
    ReleaseSwitch { at: SimTime },
    /// Bytes arriving on the RX pin of USART/UART `uart` (1..=6).
    UartInput { at: SimTime, uart: u8, data: Bytes },
    /// Drive a pin (board or CPU name) from outside.
    SetPin {
        at: SimTime,
        pin: String,
        level: Level,
    },
    /// Stop driving a pin.
    ReleasePin { at: SimTime, pin: String },
    /// Bytes typed into the pybsim console.
    ConsoleInput { at: SimTime, data: Bytes },
}

impl Event {
    pub fn at(&self) -> SimTime {
        match self {
            Event::PressSwitch { at }
            | Event::ReleaseSwitch { at }
            | Event::UartInput { at, .. }
            | Event::SetPin { at, .. }
            | Event::ReleasePin { at, .. }
            | Event::ConsoleInput { at, .. } => *at,
        }
    }
}

/// Input bytes, written in a file as a string (`"hi\r\n"`) or a list (`[0x01, 255]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bytes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of bytes (0..=255)")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                Ok(Bytes(v.as_bytes().to_vec()))
            }

            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(Bytes(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Stimuli {
    /// Reads a stimuli file and checks it against `board`.
    pub fn load(path: impl AsRef<Path>, board: &Board) -> Result<Stimuli, LoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Stimuli::parse(&text, &path.display().to_string(), board)
    }

    /// Parses stimuli text and checks it against `board`; `file` names it in errors.
    pub fn parse(text: &str, file: &str, board: &Board) -> Result<Stimuli, LoadError> {
        let src = Source { file, text };
        let stimuli: Stimuli = ron::from_str(text).map_err(|e| src.ron_error(e))?;
        stimuli.validate(&src, board)?;
        Ok(stimuli)
    }

    /// The events sorted by time (stable: equal times keep file order), with times
    /// in cycles at core clock `cpu_hz`.
    pub fn timeline(&self, cpu_hz: u64) -> Vec<(u64, &Event)> {
        let mut out: Vec<(u64, &Event)> = self
            .events
            .iter()
            .map(|e| (e.at().to_cycles(cpu_hz), e))
            .collect();
        out.sort_by_key(|(t, _)| *t);
        out
    }

    fn validate(&self, src: &Source<'_>, board: &Board) -> Result<(), LoadError> {
        use Seg::{Field, Index};
        for (i, e) in self.events.iter().enumerate() {
            match e {
                Event::PressSwitch { .. } | Event::ReleaseSwitch { .. } => {
                    if board.switch.is_none() {
                        return Err(src.error(
                            &[Field("events"), Index(i)],
                            Problem::Invalid(format!("board {} has no user switch", board.name)),
                        ));
                    }
                }
                Event::UartInput { uart, .. } => {
                    if board.uart(u32::from(*uart)).is_none() {
                        return Err(src.error(
                            &[Field("events"), Index(i), Field("uart")],
                            Problem::Invalid(format!(
                                "board {} has no USART/UART {uart}",
                                board.name
                            )),
                        ));
                    }
                }
                Event::SetPin { pin, .. } | Event::ReleasePin { pin, .. } => {
                    if board.pin(pin).is_none() {
                        return Err(src.error(
                            &[Field("events"), Index(i), Field("pin")],
                            Problem::UnknownPin(pin.clone()),
                        ));
                    }
                }
                Event::ConsoleInput { .. } => {
                    if !board
                        .peripherals
                        .iter()
                        .any(|p| p.kind == crate::PeripheralKind::Console)
                    {
                        return Err(src.error(
                            &[Field("events"), Index(i)],
                            Problem::Invalid(format!("board {} has no console", board.name)),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
