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
//!     // Analog inputs (volts) and the accelerometer (g):
//!     SetVoltage(at: "0s", pin: "X19", volts: 1.0),
//!     SetVoltage(at: "1.5s", pin: "X19", volts: 2.5),
//!     Waveform(at: "2s", pin: "X20", interp: Linear,
//!              times: ["0ms", "10ms", "20ms"], volts: [0.0, 3.3, 0.0]),
//!     SetAccel(at: "0s", x: 0.0, y: 0.0, z: 1.0),
//! ])
//! ```
//!
//! Analog inputs. A pin with an ADC channel (PA0-PA7, PB0-PB1, PC0-PC5; board names
//! such as `X19` work) is at 0 V until a stimulus says otherwise (the board default: an
//! unconnected input reads 0). `SetVoltage` holds a voltage from `at` on; several of them
//! on one pin make steps. `Waveform` is a table of points whose `times` are measured from
//! `at` (strictly increasing); between two points the voltage follows a straight line
//! (`interp: Linear`, the default) or stays at the earlier point's value (`interp: Hold`,
//! sample and hold); after the last point it keeps the last value. On one pin the
//! stimulus that started last is in force (at equal times, the later one in the file).
//! Voltages are numbers in volts, 0..=3.6 (VDD + 0.3 V, the pins' absolute maximum); the
//! ADC reads above VREF+ = 3.3 V as 4095. They are kept in whole microvolts.
//!
//! The ADC samples the pin's stimulus at the exact virtual instant its sampling time ends,
//! so a waveform gives the right value whatever the run's slicing: the analog stimuli are
//! handed to the models as functions of time when the session starts rather than applied
//! at slice boundaries. (Digital reads of these pins do not follow the voltage: use
//! `SetPin` for that.)
//!
//! Accelerometer. `SetAccel` gives the acceleration along the board's x, y and z axes, in
//! g (numbers, within ±8 g), from `at` on; several make steps. Before the first one the
//! board lies still and flat: 0, 0, +1 g. The MMA7660 saturates at ±1.5 g and reports
//! what it measured at its last sample instant.

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
    /// Hold analog pin `pin` at `volts` from `at` on.
    SetVoltage {
        at: SimTime,
        pin: String,
        volts: Micro,
    },
    /// Drive analog pin `pin` through the points (`at` + `times[i]`, `volts[i]`).
    Waveform {
        at: SimTime,
        pin: String,
        times: Vec<SimTime>,
        volts: Vec<Micro>,
        #[serde(default)]
        interp: Interp,
    },
    /// The acceleration along the board's axes, in g, from `at` on.
    SetAccel {
        at: SimTime,
        x: Micro,
        y: Micro,
        z: Micro,
    },
}

/// How a `Waveform` goes from one point to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
pub enum Interp {
    /// A straight line between the points.
    #[default]
    Linear,
    /// The earlier point's value until the next point (sample and hold).
    Hold,
}

/// A number in a stimuli file (volts, g), kept in millionths so that files compare
/// and replay exactly: `1.65` is `Micro(1_650_000)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Micro(pub i64);

impl<'de> Deserialize<'de> for Micro {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Micro;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Micro, E> {
                if !v.is_finite() || v.abs() > 1e9 {
                    return Err(E::custom(format!("{v} is not a usable number")));
                }
                Ok(Micro((v * 1e6).round() as i64))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Micro, E> {
                self.visit_f64(v as f64)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Micro, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// The ADC channel (0-15) of an STM32F405 pin, if it has one: PA0-PA7 are channels
/// 0-7, PB0-PB1 8-9, PC0-PC5 10-15.
pub fn adc_channel(id: crate::PinId) -> Option<u8> {
    match (id.port, id.pin) {
        (0, p @ 0..=7) => Some(p),
        (1, p @ 0..=1) => Some(8 + p),
        (2, p @ 0..=5) => Some(10 + p),
        _ => None,
    }
}

/// Most events a stimuli file may have. The session takes them in time order from the
/// front of a list, which costs time quadratic in their number (100k events: 15 s);
/// 20k keep that under a second.
pub const MAX_EVENTS: usize = 20_000;

/// Highest voltage a stimulus may put on a pin: VDD + 0.3 V.
const MAX_UV: i64 = 3_600_000;
/// Largest acceleration a stimulus may give, in µg.
const MAX_UG: i64 = 8_000_000;

impl Event {
    pub fn at(&self) -> SimTime {
        match self {
            Event::PressSwitch { at }
            | Event::ReleaseSwitch { at }
            | Event::UartInput { at, .. }
            | Event::SetPin { at, .. }
            | Event::ReleasePin { at, .. }
            | Event::ConsoleInput { at, .. }
            | Event::SetVoltage { at, .. }
            | Event::Waveform { at, .. }
            | Event::SetAccel { at, .. } => *at,
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
        let text =
            crate::input::read_text(path, "a stimuli file", crate::input::MAX_STIMULI_BYTES)?;
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
        if self.events.len() > MAX_EVENTS {
            return Err(src.error(
                &[Field("events"), Index(MAX_EVENTS)],
                Problem::Invalid(format!(
                    "{} events: a stimuli file has at most {MAX_EVENTS} (a waveform is one event)",
                    self.events.len()
                )),
            ));
        }
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
                Event::SetVoltage { pin, volts, .. } => {
                    analog_pin(src, board, i, pin)?;
                    check_volts(src, &[Field("events"), Index(i), Field("volts")], *volts)?;
                }
                Event::Waveform {
                    pin, times, volts, ..
                } => {
                    analog_pin(src, board, i, pin)?;
                    let here = |f| [Field("events"), Index(i), Field(f)];
                    if times.is_empty() || times.len() != volts.len() {
                        return Err(src.error(
                            &here("volts"),
                            Problem::Invalid(format!(
                                "a waveform needs as many volts as times, at least one ({} times, {} volts)",
                                times.len(),
                                volts.len()
                            )),
                        ));
                    }
                    for (j, v) in volts.iter().enumerate() {
                        check_volts(
                            src,
                            &[Field("events"), Index(i), Field("volts"), Index(j)],
                            *v,
                        )?;
                    }
                    for (j, w) in times.windows(2).enumerate() {
                        if w[1].to_nanos(168_000_000) <= w[0].to_nanos(168_000_000) {
                            return Err(src.error(
                                &[Field("events"), Index(i), Field("times"), Index(j + 1)],
                                Problem::Invalid(format!(
                                    "waveform times must increase: {} does not come after {}",
                                    w[1], w[0]
                                )),
                            ));
                        }
                    }
                }
                Event::SetAccel { x, y, z, .. } => {
                    if board.accelerometer.is_none() {
                        return Err(src.error(
                            &[Field("events"), Index(i)],
                            Problem::Invalid(format!("board {} has no accelerometer", board.name)),
                        ));
                    }
                    for (f, v) in [("x", x), ("y", y), ("z", z)] {
                        if v.0.abs() > MAX_UG {
                            return Err(src.error(
                                &[Field("events"), Index(i), Field(f)],
                                Problem::Invalid(format!(
                                    "acceleration {} g is outside -8..=8 g",
                                    v.0 as f64 / 1e6
                                )),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Checks that `pin` names a pin with an ADC channel (event `i`).
fn analog_pin(src: &Source<'_>, board: &Board, i: usize, pin: &str) -> Result<u8, LoadError> {
    use Seg::{Field, Index};
    let at = [Field("events"), Index(i), Field("pin")];
    let id = board
        .pin(pin)
        .ok_or_else(|| src.error(&at, Problem::UnknownPin(pin.to_string())))?;
    adc_channel(id).ok_or_else(|| {
        src.error(
            &at,
            Problem::Invalid(format!(
                "pin {pin} (P{}{}) has no ADC channel; analog pins are PA0-PA7, PB0-PB1 and PC0-PC5",
                id.port_letter(),
                id.pin
            )),
        )
    })
}

fn check_volts(src: &Source<'_>, at: &[Seg<'_>], v: Micro) -> Result<(), LoadError> {
    if !(0..=MAX_UV).contains(&v.0) {
        return Err(src.error(
            at,
            Problem::Invalid(format!(
                "{} V is outside 0..=3.6 V (VDD + 0.3 V, the pins' absolute maximum)",
                v.0 as f64 / 1e6
            )),
        ));
    }
    Ok(())
}
