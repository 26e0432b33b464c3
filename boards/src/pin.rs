//! CPU pins (`PA0`..`PI15`) and wires between pins.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use thiserror::Error;

/// A GPIO pin of the MCU: port 0 = A .. 8 = I, pin 0..=15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PinId {
    pub port: u8,
    pub pin: u8,
}

/// Ports the STM32F405 has: GPIOA..GPIOI.
pub const PORT_LETTERS: &str = "ABCDEFGHI";

impl PinId {
    pub fn new(port: u8, pin: u8) -> Option<Self> {
        (usize::from(port) < PORT_LETTERS.len() && pin < 16).then_some(PinId { port, pin })
    }

    /// The port letter, `'A'` for port 0.
    pub fn port_letter(self) -> char {
        char::from(b'A' + self.port)
    }

    /// Parses a CPU pin name: `"A0"`, `"PA0"`, `"pb12"`. `None` if it is not one.
    pub fn parse_cpu(name: &str) -> Option<Self> {
        let upper = name.trim().to_ascii_uppercase();
        let s = upper.strip_prefix('P').filter(|r| {
            // "P" followed by a port letter and digits; bare "PA" etc. is not a pin.
            r.len() >= 2 && r.as_bytes()[0].is_ascii_uppercase()
        });
        let s = s.unwrap_or(&upper);
        let mut chars = s.chars();
        let letter = chars.next()?;
        let digits = chars.as_str();
        if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if digits.len() == 2 && digits.starts_with('0') {
            return None;
        }
        let port = PORT_LETTERS.find(letter)? as u8;
        PinId::new(port, digits.parse().ok()?)
    }
}

impl fmt::Display for PinId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}{}", self.port_letter(), self.pin)
    }
}

/// A wire joining two pins, by board or CPU name: `Y1:Y2` on the command line,
/// `(a: "Y1", b: "Y2")` in a board file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wire {
    pub a: String,
    pub b: String,
}

/// Why a `--wire` argument could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bad wire {text:?}: {reason}")]
pub struct WireError {
    pub text: String,
    pub reason: String,
}

impl FromStr for Wire {
    type Err = WireError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| WireError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let (a, b) = text
            .split_once(':')
            .ok_or_else(|| err("expected two pin names joined by ':', like Y1:Y2"))?;
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() || b.is_empty() {
            return Err(err("a pin name is missing on one side of ':'"));
        }
        if b.contains(':') {
            return Err(err("a wire joins exactly two pins"));
        }
        Ok(Wire {
            a: a.to_string(),
            b: b.to_string(),
        })
    }
}

impl fmt::Display for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.a, self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_names() {
        assert_eq!(PinId::parse_cpu("A0"), Some(PinId { port: 0, pin: 0 }));
        assert_eq!(PinId::parse_cpu("PA0"), Some(PinId { port: 0, pin: 0 }));
        assert_eq!(PinId::parse_cpu("pb15"), Some(PinId { port: 1, pin: 15 }));
        assert_eq!(PinId::parse_cpu("PI3"), Some(PinId { port: 8, pin: 3 }));
        // "P1" is not port P: there is none.
        for bad in [
            "", "P", "PA", "A16", "J1", "A01", "A-1", "X1", "PZ9", "A100",
        ] {
            assert_eq!(PinId::parse_cpu(bad), None, "{bad}");
        }
        assert_eq!(PinId { port: 2, pin: 13 }.to_string(), "PC13");
    }

    #[test]
    fn wires() {
        assert_eq!(
            "Y1:Y2".parse::<Wire>(),
            Ok(Wire {
                a: "Y1".into(),
                b: "Y2".into()
            })
        );
        for bad in ["Y1", "Y1:", ":Y2", "Y1:Y2:Y3", ""] {
            let e = bad.parse::<Wire>().unwrap_err();
            assert!(e.to_string().contains("bad wire"), "{e}");
        }
    }
}
