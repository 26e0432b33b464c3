//! Virtual-time durations: `"2s"`, `"500ms"`, `"10us"`, `"250ns"`, `"1000cycles"`.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use thiserror::Error;

use crate::error::DURATION_TAG;

/// A span of virtual time: either wall-clock units of the emulated board (kept in
/// nanoseconds) or a number of CPU cycles, whose length depends on the core clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimTime {
    Nanos(u64),
    Cycles(u64),
}

impl SimTime {
    pub const ZERO: SimTime = SimTime::Nanos(0);

    /// CPU cycles at core clock `cpu_hz` (rounded down), saturating at `u64::MAX`.
    pub fn to_cycles(self, cpu_hz: u64) -> u64 {
        match self {
            SimTime::Cycles(c) => c,
            SimTime::Nanos(ns) => {
                let c = u128::from(ns) * u128::from(cpu_hz) / 1_000_000_000;
                u64::try_from(c).unwrap_or(u64::MAX)
            }
        }
    }

    /// Nanoseconds at core clock `cpu_hz` (rounded down; `cpu_hz` 0 counts as 1 Hz).
    pub fn to_nanos(self, cpu_hz: u64) -> u64 {
        match self {
            SimTime::Nanos(ns) => ns,
            SimTime::Cycles(c) => {
                let ns = u128::from(c) * 1_000_000_000 / u128::from(cpu_hz.max(1));
                u64::try_from(ns).unwrap_or(u64::MAX)
            }
        }
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SimTime::Cycles(c) => write!(f, "{c}cycles"),
            SimTime::Nanos(ns) => {
                for (unit, per) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
                    if ns != 0 && ns % per == 0 {
                        return write!(f, "{}{unit}", ns / per);
                    }
                }
                write!(f, "{ns}ns")
            }
        }
    }
}

/// Why a duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bad duration {text:?}: {reason}")]
pub struct DurationError {
    pub text: String,
    pub reason: String,
}

/// Parses a duration: a non-negative number (decimals allowed for time units, `_`
/// allowed between digits) followed by `s`, `ms`, `us` (or `µs`), `ns` or `cycles`
/// (`cycle`), optionally with spaces between. `"2s"`, `"1.5ms"`, `"1000cycles"`.
pub fn parse_duration(text: &str) -> Result<SimTime, DurationError> {
    let err = |reason: &str| DurationError {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit = unit.trim_start();
    if number.is_empty() {
        return Err(err(if s.starts_with('-') {
            "durations cannot be negative"
        } else {
            "expected a number followed by a unit, like \"2s\" or \"500ms\""
        }));
    }
    let nanos_per: u64 = match unit {
        "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "us" | "µs" => 1_000,
        "ns" => 1,
        "cycles" | "cycle" => 0,
        "" => return Err(err("missing unit (s, ms, us, ns or cycles)")),
        _ => return Err(err("unknown unit (expected s, ms, us, ns or cycles)")),
    };
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if frac_part.contains('.') {
        return Err(err("more than one decimal point"));
    }
    let digits = |part: &str| -> Result<String, DurationError> {
        if part.starts_with('_') || part.ends_with('_') || part.contains("__") {
            return Err(err("misplaced '_' in the number"));
        }
        Ok(part.replace('_', ""))
    };
    let int_digits = digits(int_part)?;
    let frac_digits = digits(frac_part)?;
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(err("expected a number before the unit"));
    }
    let too_long = || err("too long: more than 2^64 ns or cycles");
    let int: u128 = if int_digits.is_empty() {
        0
    } else {
        int_digits.parse().map_err(|_| too_long())?
    };
    if nanos_per == 0 {
        if !frac_digits.is_empty() || number.contains('.') {
            return Err(err("a number of cycles must be whole"));
        }
        return u64::try_from(int)
            .map(SimTime::Cycles)
            .map_err(|_| too_long());
    }
    // Exact decimal arithmetic: value = (int + frac / 10^len) * nanos_per.
    let mut nanos = int
        .checked_mul(u128::from(nanos_per))
        .ok_or_else(too_long)?;
    if !frac_digits.is_empty() {
        if frac_digits.len() > 9 {
            return Err(err("finer than a nanosecond"));
        }
        let frac: u128 = frac_digits.parse().map_err(|_| too_long())?;
        let scale = 10u128.pow(frac_digits.len() as u32);
        let scaled = frac * u128::from(nanos_per);
        let (whole, rest) = (scaled / scale, scaled % scale);
        if rest != 0 {
            return Err(err("finer than a nanosecond"));
        }
        nanos += whole;
    }
    u64::try_from(nanos)
        .map(SimTime::Nanos)
        .map_err(|_| too_long())
}

impl FromStr for SimTime {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s)
    }
}

impl<'de> Deserialize<'de> for SimTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SimTime;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"2s\", \"500ms\" or \"1000cycles\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<SimTime, E> {
                parse_duration(v)
                    .map_err(|e| E::custom(format!("{DURATION_TAG}{}\u{1}{}", e.text, e.reason)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("2s"), Ok(SimTime::Nanos(2_000_000_000)));
        assert_eq!(parse_duration("500ms"), Ok(SimTime::Nanos(500_000_000)));
        assert_eq!(parse_duration("10us"), Ok(SimTime::Nanos(10_000)));
        assert_eq!(parse_duration("10µs"), Ok(SimTime::Nanos(10_000)));
        assert_eq!(parse_duration("7ns"), Ok(SimTime::Nanos(7)));
        assert_eq!(parse_duration("1000cycles"), Ok(SimTime::Cycles(1000)));
        assert_eq!(parse_duration("1 cycle"), Ok(SimTime::Cycles(1)));
        assert_eq!(parse_duration("1.5ms"), Ok(SimTime::Nanos(1_500_000)));
        assert_eq!(parse_duration(".25s"), Ok(SimTime::Nanos(250_000_000)));
        assert_eq!(parse_duration("1_000ms"), Ok(SimTime::Nanos(1_000_000_000)));
        assert_eq!(parse_duration("0s"), Ok(SimTime::ZERO));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "s",
            "2",
            "2 parsecs",
            "-1s",
            "1.5cycles",
            "1.0000000001s",
            "0.5ns",
            "1..2s",
            "1__0s",
            "_1s",
            "99999999999999999999999s",
            "18446744073709551616cycles",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.text, bad);
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn converts_and_displays() {
        assert_eq!(
            SimTime::Nanos(1_000_000_000).to_cycles(168_000_000),
            168_000_000
        );
        assert_eq!(SimTime::Cycles(168).to_nanos(168_000_000), 1_000);
        assert_eq!(SimTime::Cycles(5).to_cycles(1), 5);
        assert_eq!(SimTime::Nanos(u64::MAX).to_cycles(u64::MAX), u64::MAX);
        for s in ["2s", "500ms", "10us", "7ns", "1000cycles", "0ns"] {
            assert_eq!(parse_duration(s).unwrap().to_string(), s);
        }
    }
}
