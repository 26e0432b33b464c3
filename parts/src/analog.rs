//! A potentiometer and a photoresistor (LDR) as voltage dividers on an ADC pin: a voltage
//! in µV, as a [`Signal`] of virtual time, from a wiper position or a light level that
//! changes at chosen virtual times (stimuli, a TUI key).
//!
//! Modelled:
//! - Potentiometer: its ends on 0 V and VCC (3.3 V on the Pyboard), the wiper on the ADC
//!   pin. Linear taper: V = VCC x position. Audio ("A", logarithmic) taper made as real
//!   ones are, from two linear tracks: 10 % of the resistance at half travel (a common
//!   datasheet figure for A tapers), linear on each side of it.
//! - Photoresistor: a CdS cell whose resistance falls with light as R = R10 x (lux /
//!   10)^-gamma (the GL55 series datasheets specify R10, the resistance at 10 lux, and
//!   gamma, the slope between 10 and 100 lux; defaults here are a GL5528's: R10 = 15 kΩ,
//!   gamma = 0.7, dark resistance 1 MΩ), capped at the dark resistance, in a divider
//!   with a fixed resistor (default 10 kΩ), the LDR on either side.
//! - Changes take effect at their virtual time, steps only (the ADC evaluates the signal
//!   at its sampling instant).
//!
//! Not modelled: the wiper's and the divider's source resistance against the ADC's
//! sampling capacitor (the value is ideal), the LDR's response time (tens of ms for CdS)
//! and its spread between parts, wiper noise.

use pybsim_peripherals::analog::Signal;

use crate::ConfigError;

/// Full travel of a potentiometer, in parts per million.
pub const FULL: u32 = 1_000_000;

/// How resistance follows the wiper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Taper {
    #[default]
    Linear,
    /// Logarithmic (audio, "A") taper: 10 % at half travel.
    Audio,
}

/// Steps of a quantity in time, applied in order (a later step at the same time wins).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Steps<V: Copy> {
    initial: V,
    steps: Vec<(u64, V)>,
}

impl<V: Copy> Steps<V> {
    fn set(&mut self, at: u64, v: V) {
        let i = self.steps.partition_point(|s| s.0 <= at);
        self.steps.insert(i, (at, v));
    }

    fn at(&self, t: u64) -> V {
        let i = self.steps.partition_point(|s| s.0 <= t);
        i.checked_sub(1).map_or(self.initial, |i| self.steps[i].1)
    }

    /// The signal whose value follows `f` of each step.
    fn signal(&self, f: impl Fn(V) -> i64) -> Signal {
        let mut s = Signal::constant(f(self.initial));
        for &(t, v) in &self.steps {
            s.set(t, f(v));
        }
        s
    }
}

/// A potentiometer wired as a divider between 0 V and VCC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Potentiometer {
    vcc_uv: i64,
    taper: Taper,
    position: Steps<u32>,
}

impl Potentiometer {
    /// Supplied with `vcc_uv` µV, the wiper at `position` (0..=[`FULL`]) from power-on.
    pub fn new(vcc_uv: i64, taper: Taper, position: u32) -> Result<Potentiometer, ConfigError> {
        if !(0..=5_000_000).contains(&vcc_uv) {
            return Err(ConfigError::new(
                "potentiometer",
                format!("supply {vcc_uv} µV is outside 0..=5 V"),
            ));
        }
        check_position(position)?;
        Ok(Potentiometer {
            vcc_uv,
            taper,
            position: Steps {
                initial: position,
                steps: Vec::new(),
            },
        })
    }

    /// From `at` (ns) on the wiper stands at `position` (0..=[`FULL`] ppm of its travel).
    pub fn set_position(&mut self, at: u64, position: u32) -> Result<(), ConfigError> {
        check_position(position)?;
        self.position.set(at, position);
        Ok(())
    }

    pub fn position(&self, t: u64) -> u32 {
        self.position.at(t)
    }

    /// Fraction of the resistance below the wiper (ppm) at a position.
    fn ratio(&self, p: u32) -> i64 {
        let p = p as i64;
        match self.taper {
            Taper::Linear => p,
            Taper::Audio if p <= 500_000 => p / 5,
            Taper::Audio => 100_000 + (p - 500_000) * 9 / 5,
        }
    }

    fn volts(&self, p: u32) -> i64 {
        self.vcc_uv * self.ratio(p) / FULL as i64
    }

    /// The wiper voltage at `t` (µV).
    pub fn voltage(&self, t: u64) -> i64 {
        self.volts(self.position.at(t))
    }

    /// The wiper voltage through time, for the ADC channel.
    pub fn signal(&self) -> Signal {
        self.position.signal(|p| self.volts(p))
    }
}

fn check_position(p: u32) -> Result<(), ConfigError> {
    if p > FULL {
        return Err(ConfigError::new(
            "potentiometer",
            format!("position {p} ppm is beyond full travel ({FULL} ppm)"),
        ));
    }
    Ok(())
}

/// Which side of the divider the LDR is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LdrSide {
    /// LDR from VCC to the pin, fixed resistor to ground: more light, higher voltage.
    #[default]
    High,
    /// Fixed resistor from VCC, LDR to ground: more light, lower voltage.
    Low,
}

/// A photoresistor's electrical data (ohms; gamma in thousandths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LdrSpec {
    pub r10: u64,
    pub gamma_milli: u32,
    pub r_dark: u64,
}

impl LdrSpec {
    /// A GL5528 (typical of its datasheet range).
    pub const GL5528: LdrSpec = LdrSpec {
        r10: 15_000,
        gamma_milli: 700,
        r_dark: 1_000_000,
    };

    /// Resistance (Ω) at `milli_lux` thousandths of a lux.
    pub fn resistance(&self, milli_lux: u64) -> u64 {
        if milli_lux == 0 {
            return self.r_dark;
        }
        let ratio = milli_lux as f64 / 10_000.0;
        let r = self.r10 as f64 * ratio.powf(-(self.gamma_milli as f64) / 1000.0);
        (r.round() as u64).min(self.r_dark)
    }
}

/// A photoresistor in a divider with a fixed resistor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photoresistor {
    spec: LdrSpec,
    r_fixed: u64,
    side: LdrSide,
    vcc_uv: i64,
    /// Light in thousandths of a lux.
    light: Steps<u64>,
}

impl Photoresistor {
    /// `spec` with a fixed resistor of `r_fixed` Ω on `side`, supplied with `vcc_uv` µV,
    /// lit with `milli_lux` from power-on.
    pub fn new(
        spec: LdrSpec,
        r_fixed: u64,
        side: LdrSide,
        vcc_uv: i64,
        milli_lux: u64,
    ) -> Result<Photoresistor, ConfigError> {
        if !(0..=5_000_000).contains(&vcc_uv) {
            return Err(ConfigError::new(
                "photoresistor",
                format!("supply {vcc_uv} µV is outside 0..=5 V"),
            ));
        }
        if r_fixed == 0 || spec.r10 == 0 || spec.r_dark < spec.r10 || spec.gamma_milli == 0 {
            return Err(ConfigError::new(
                "photoresistor",
                format!(
                    "resistances must be positive and the dark one the largest (fixed {r_fixed} \
                     Ω, R10 {} Ω, dark {} Ω), gamma above 0",
                    spec.r10, spec.r_dark
                ),
            ));
        }
        Ok(Photoresistor {
            spec,
            r_fixed,
            side,
            vcc_uv,
            light: Steps {
                initial: milli_lux,
                steps: Vec::new(),
            },
        })
    }

    /// A GL5528 over a 10 kΩ resistor to ground, on 3.3 V.
    pub fn gl5528(milli_lux: u64) -> Photoresistor {
        Photoresistor {
            spec: LdrSpec::GL5528,
            r_fixed: 10_000,
            side: LdrSide::High,
            vcc_uv: 3_300_000,
            light: Steps {
                initial: milli_lux,
                steps: Vec::new(),
            },
        }
    }

    /// From `at` (ns) on the light is `milli_lux` thousandths of a lux.
    pub fn set_light(&mut self, at: u64, milli_lux: u64) {
        self.light.set(at, milli_lux);
    }

    pub fn light(&self, t: u64) -> u64 {
        self.light.at(t)
    }

    fn volts(&self, milli_lux: u64) -> i64 {
        let r = self.spec.resistance(milli_lux) as i128;
        let rf = self.r_fixed as i128;
        let below = match self.side {
            LdrSide::High => rf,
            LdrSide::Low => r,
        };
        (self.vcc_uv as i128 * below / (r + rf)) as i64
    }

    /// The pin voltage at `t` (µV).
    pub fn voltage(&self, t: u64) -> i64 {
        self.volts(self.light.at(t))
    }

    /// The pin voltage through time, for the ADC channel.
    pub fn signal(&self) -> Signal {
        self.light.signal(|l| self.volts(l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MS;

    #[test]
    fn potentiometer_positions_and_tapers() {
        let mut p = Potentiometer::new(3_300_000, Taper::Linear, FULL / 2).unwrap();
        assert_eq!(p.voltage(0), 1_650_000);
        p.set_position(10 * MS, FULL / 4).unwrap();
        p.set_position(20 * MS, FULL).unwrap();
        assert_eq!(p.voltage(10 * MS - 1), 1_650_000);
        assert_eq!(p.voltage(10 * MS), 825_000);
        assert_eq!(p.voltage(20 * MS), 3_300_000);
        let s = p.signal();
        for t in [0, 10 * MS - 1, 10 * MS, 15 * MS, 20 * MS, 30 * MS] {
            assert_eq!(s.at(t), p.voltage(t), "signal at {t}");
        }
        let a = Potentiometer::new(3_300_000, Taper::Audio, FULL / 2).unwrap();
        assert_eq!(a.voltage(0), 330_000, "10 % at half travel");
        let a = Potentiometer::new(3_300_000, Taper::Audio, FULL / 4).unwrap();
        assert_eq!(a.voltage(0), 165_000);
        let a = Potentiometer::new(3_300_000, Taper::Audio, 750_000).unwrap();
        assert_eq!(a.voltage(0), 1_815_000, "55 % at three quarters");
        let a = Potentiometer::new(3_300_000, Taper::Audio, FULL).unwrap();
        assert_eq!(a.voltage(0), 3_300_000);
    }

    #[test]
    fn potentiometer_refuses_bad_input() {
        assert_eq!(
            Potentiometer::new(3_300_000, Taper::Linear, FULL + 1)
                .unwrap_err()
                .to_string(),
            "potentiometer: position 1000001 ppm is beyond full travel (1000000 ppm)"
        );
        let mut p = Potentiometer::new(3_300_000, Taper::Linear, 0).unwrap();
        assert!(p.set_position(5, 2 * FULL).is_err());
        assert_eq!(p.voltage(10), 0, "a refused change changes nothing");
        assert!(Potentiometer::new(-1, Taper::Linear, 0).is_err());
    }

    #[test]
    fn photoresistor_follows_light() {
        let mut l = Photoresistor::gl5528(10_000);
        // 10 lux: R = R10 = 15 kΩ over 10 kΩ: 3.3 V x 10/25.
        assert_eq!(l.voltage(0), 1_320_000);
        // 100 lux: R = 15 kΩ x 10^-0.7 = 2992.9 -> 2993 Ω.
        assert_eq!(LdrSpec::GL5528.resistance(100_000), 2_993);
        l.set_light(5 * MS, 100_000);
        assert_eq!(l.voltage(5 * MS), 3_300_000 * 10_000 / 12_993);
        // Darkness: the dark resistance.
        l.set_light(6 * MS, 0);
        assert_eq!(l.voltage(6 * MS), 3_300_000 * 10_000 / 1_010_000);
        // Very dim light would exceed the dark resistance: capped.
        assert_eq!(LdrSpec::GL5528.resistance(1), 1_000_000);
        let s = l.signal();
        assert_eq!(
            [s.at(0), s.at(5 * MS), s.at(6 * MS)],
            [1_320_000, 2_539_829, 32_673]
        );
        // The other side of the divider.
        let low =
            Photoresistor::new(LdrSpec::GL5528, 10_000, LdrSide::Low, 3_300_000, 10_000).unwrap();
        assert_eq!(low.voltage(0), 1_980_000);
        assert!(Photoresistor::new(LdrSpec::GL5528, 0, LdrSide::Low, 3_300_000, 0).is_err());
    }
}
