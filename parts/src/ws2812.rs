//! A WS2812 / WS2812B ("NeoPixel") LED strip on one data pin, decoded from the pin's
//! time-stamped edges (Worldsemi WS2812 and WS2812B datasheets: "Data transfer time",
//! "Composition of 24bit data", "Data transmission method").
//!
//! Datasheet facts used:
//! - A bit is a high pulse then a low pulse. WS2812: T0H 0.35 µs, T1H 0.7 µs, T0L 0.8 µs,
//!   T1L 0.6 µs; WS2812B: T0H 0.4 µs, T1H 0.8 µs, T0L 0.85 µs, T1L 0.45 µs; all ±150 ns.
//!   A low of more than 50 µs (RES) is the reset code: the LEDs latch what they received.
//! - 24 bits per LED, green, red, blue, each most significant bit first. The first LED
//!   keeps the first 24 bits and reshapes the rest out of DOUT to the next one.
//!
//! What drives it on the Pyboard: micropython-lib's `neopixel` calls
//! `machine.bitstream(pin, 0, (400, 850, 800, 450), buf)` (800 kHz; `timing=0` gives
//! 800, 1700, 1600, 900 ns). ports/stm32/machine_bitstream.c (Cortex-M4 branch) turns each
//! time into SYSCLK cycles less 6 of overhead, and per bit resets DWT.CYCCNT, sets the pin
//! with BSRR, spins until the high time, clears it, spins until high + low: at 168 MHz a
//! 0 is high until cycle 61 and a 1 until cycle 128 of a bit that ends at cycle 197; with
//! the 6 cycles of loop overhead the code allows for (measured on a PYBV11), a 0 is high
//! about 400 ns, a 1 about 800 ns, a bit about 1.2 µs. Interrupts are off for the whole
//! buffer.
//!
//! Modelled:
//! - Decoding per bit: a high pulse inside T0H ± tolerance is a 0, inside T1H ± tolerance
//!   a 1. A high pulse outside both is read against the midpoint of T0H and T1H (the model
//!   of the chip's sampling instant, which the datasheet does not give) and reported as a
//!   [`Problem::HighOutOfSpec`] with what it was read as: that is how the strip mis-reads
//!   a bad bit.
//! - The low after a bit is checked against T0L/T1L ± tolerance ([`Problem::LowOutOfSpec`];
//!   the bit stands). A low of at least the reset time latches: every LED that received
//!   its 24 bits shows them from the latch instant (the fall + reset time). An LED caught
//!   with part of its bits is a reset mid-frame ([`Problem::ResetMidLed`]): it keeps its
//!   old colour and the next bits start again at the first LED. Bits beyond the strip's
//!   length leave through the last DOUT (counted in [`Frame::extra_bits`]).
//! - The line fed by SPI instead of bit-banging ([`Ws2812::mosi_frame`]): MOSI's bits at
//!   the frame's bit rate, holding the last bit after the frame.
//!
//! Not modelled:
//! - DOUT as a pin, the reshaping delay, colour brightness/PWM and current, the RGBW
//!   (SK6812) variants, the power-up colour (LEDs start dark here).

use crate::edges::EdgeMeter;
use crate::{ConfigError, Diagnostics, Part, PartCtx, PinDir, PinSpec};

const T: &str = "part::ws2812";

/// Timing of one chip type, in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub t0h: u64,
    pub t1h: u64,
    pub t0l: u64,
    pub t1l: u64,
    /// Allowed deviation of each of the four (± ns).
    pub tolerance: u64,
    /// A low at least this long latches.
    pub reset: u64,
}

impl Timing {
    /// WS2812 datasheet values.
    pub const WS2812: Timing = Timing {
        t0h: 350,
        t1h: 700,
        t0l: 800,
        t1l: 600,
        tolerance: 150,
        reset: 50_000,
    };
    /// WS2812B datasheet values.
    pub const WS2812B: Timing = Timing {
        t0h: 400,
        t1h: 800,
        t0l: 850,
        t1l: 450,
        tolerance: 150,
        reset: 50_000,
    };

    fn within(&self, width: u64, nominal: u64) -> bool {
        width.abs_diff(nominal) <= self.tolerance
    }

    fn check(&self) -> Result<(), String> {
        if self.t0h + self.tolerance >= self.t1h.saturating_sub(self.tolerance) {
            return Err(format!(
                "T0H {} ns and T1H {} ns overlap with a tolerance of {} ns",
                self.t0h, self.t1h, self.tolerance
            ));
        }
        let longest = self.t0h.max(self.t1h) + self.t0l.max(self.t1l) + 2 * self.tolerance;
        if self.reset <= longest {
            return Err(format!(
                "reset time {} ns is not longer than a bit ({longest} ns)",
                self.reset
            ));
        }
        Ok(())
    }
}

/// A colour as an LED shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb {
    pub const fn new(r: u8, g: u8, b: u8) -> Rgb {
        Rgb { r, g, b }
    }

    /// From the 24 bits as they come on the wire (green, red, blue).
    pub fn from_grb(word: u32) -> Rgb {
        Rgb {
            g: (word >> 16) as u8,
            r: (word >> 8) as u8,
            b: word as u8,
        }
    }
}

/// Something wrong with the data the strip received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A high pulse outside T0H ± tol and T1H ± tol, read as `read_as`.
    HighOutOfSpec { high_ns: u64, read_as: bool },
    /// The low after a bit outside its TxL ± tol (shorter than the reset time).
    LowOutOfSpec { bit: bool, low_ns: u64 },
    /// A reset came when this LED had only `bit` of its 24 bits: it keeps its old colour.
    ResetMidLed { low_ns: u64 },
}

impl Problem {
    fn kind(&self) -> u32 {
        match self {
            Problem::HighOutOfSpec { .. } => 0,
            Problem::LowOutOfSpec { .. } => 1,
            Problem::ResetMidLed { .. } => 2,
        }
    }
}

/// A [`Problem`], where it happened: the LED (0 = nearest the MCU) and the bit of its 24
/// (0 = the first on the wire, green's most significant bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnostic {
    /// Virtual time (ns) of the edge that showed it.
    pub t: u64,
    pub led: usize,
    pub bit: u8,
    pub problem: Problem,
}

impl Diagnostic {
    /// Whether the strip shows something else than was probably meant.
    pub fn misread(&self) -> bool {
        !matches!(self.problem, Problem::LowOutOfSpec { .. })
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (led, bit, t) = (self.led, self.bit, self.t);
        match self.problem {
            Problem::HighOutOfSpec { high_ns, read_as } => write!(
                f,
                "at {t} ns: LED {led} bit {bit}: high pulse of {high_ns} ns is neither T0H nor \
                 T1H within tolerance: read as {}",
                read_as as u8
            ),
            Problem::LowOutOfSpec { bit: b, low_ns } => write!(
                f,
                "at {t} ns: LED {led} bit {bit}: low of {low_ns} ns after a {} is outside T{}L",
                b as u8, b as u8
            ),
            Problem::ResetMidLed { low_ns } => write!(
                f,
                "at {t} ns: reset (low for {low_ns} ns) with LED {led} at bit {bit} of 24: the \
                 LED keeps its colour and the next data starts at LED 0"
            ),
        }
    }
}

/// A latched frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// When the LEDs took the new colours (ns): the last fall plus the reset time.
    pub at: u64,
    /// How many LEDs received all their 24 bits.
    pub leds: usize,
    /// Bits that went on past the last LED.
    pub extra_bits: u64,
}

/// The strip.
#[derive(Debug, Clone)]
pub struct Ws2812 {
    timing: Timing,
    shown: Vec<Rgb>,
    meter: EdgeMeter,
    /// The frame coming in: complete LED words, the partial one, bits past the end.
    words: Vec<u32>,
    acc: u32,
    nbits: u8,
    extra_bits: u64,
    /// The bit whose low is running.
    last_bit: Option<bool>,
    frames: u64,
    last_frame: Option<Frame>,
    diagnostics: Diagnostics<Diagnostic>,
}

const PINS: &[PinSpec] = &[PinSpec {
    name: "DIN",
    dir: PinDir::Input,
}];

/// Longest strip accepted.
pub const MAX_LEDS: usize = 4096;

impl Ws2812 {
    /// A strip of `n` LEDs of chips with `timing`, all dark, its data line low.
    pub fn new(n: usize, timing: Timing) -> Result<Ws2812, ConfigError> {
        if n == 0 || n > MAX_LEDS {
            return Err(ConfigError::new(
                "WS2812",
                format!("a strip has 1 to {MAX_LEDS} LEDs, not {n}"),
            ));
        }
        timing.check().map_err(|e| ConfigError::new("WS2812", e))?;
        Ok(Ws2812 {
            timing,
            shown: vec![Rgb::default(); n],
            meter: EdgeMeter::new(false),
            words: Vec::new(),
            acc: 0,
            nbits: 0,
            extra_bits: 0,
            last_bit: None,
            frames: 0,
            last_frame: None,
            diagnostics: Diagnostics::default(),
        })
    }

    pub fn len(&self) -> usize {
        self.shown.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The colours the LEDs show at `now` (latching a frame whose reset time has passed).
    pub fn colors(&mut self, now: u64) -> &[Rgb] {
        self.settle(now);
        &self.shown
    }

    /// How many frames have latched by `now`, and the last one.
    pub fn frames(&mut self, now: u64) -> (u64, Option<Frame>) {
        self.settle(now);
        (self.frames, self.last_frame)
    }

    /// Everything wrong seen so far, in order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        self.diagnostics.list()
    }

    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        self.diagnostics.take()
    }

    /// Latches the frame coming in if the line has been low for the reset time by `now`.
    pub fn settle(&mut self, now: u64) {
        if !self.meter.level() && self.meter.held(now).is_some_and(|l| l >= self.timing.reset) {
            let fall = self.meter.since().unwrap_or(0);
            self.latch(fall + self.timing.reset, now - fall);
        }
    }

    fn pending(&self) -> bool {
        !self.words.is_empty() || self.nbits > 0 || self.extra_bits > 0
    }

    fn latch(&mut self, at: u64, low_ns: u64) {
        if !self.pending() {
            return;
        }
        let n = self.words.len();
        for (led, w) in self.shown.iter_mut().zip(&self.words) {
            *led = Rgb::from_grb(*w);
        }
        if self.nbits > 0 {
            self.report(at, n, self.nbits, Problem::ResetMidLed { low_ns });
        }
        let frame = Frame {
            at,
            leds: n,
            extra_bits: self.extra_bits,
        };
        tracing::debug!(target: T, t_ns = at, leds = n, extra_bits = self.extra_bits, "frame latched");
        self.frames += 1;
        self.last_frame = Some(frame);
        self.words.clear();
        (self.acc, self.nbits, self.extra_bits) = (0, 0, 0);
    }

    fn report(&mut self, t: u64, led: usize, bit: u8, problem: Problem) {
        let d = Diagnostic {
            t,
            led,
            bit,
            problem,
        };
        let (first, d) = self.diagnostics.record(problem.kind(), d);
        if first {
            tracing::warn!(target: T, t_ns = t, "{d} (the first of its kind; more at debug level)");
        } else {
            tracing::debug!(target: T, t_ns = t, "{d}");
        }
    }

    /// (LED, bit) of bit number `k` of the frame; LEDs past the strip's end count on
    /// down the chain.
    fn place(k: u64) -> (usize, u8) {
        ((k / 24) as usize, (k % 24) as u8)
    }

    /// Bits of the frame received so far.
    fn received(&self) -> u64 {
        self.words.len() as u64 * 24 + self.nbits as u64 + self.extra_bits
    }

    /// The data line is at `level` from `t` on.
    pub fn level(&mut self, t: u64, level: bool) {
        let Some(pulse) = self.meter.edge(t, level) else {
            return;
        };
        let tm = self.timing;
        if level {
            // A low ended: the reset code, or the low half of the last bit.
            if pulse.width >= tm.reset {
                self.latch(pulse.start + tm.reset, pulse.width);
            } else if let Some(bit) = self.last_bit {
                let nominal = if bit { tm.t1l } else { tm.t0l };
                if !tm.within(pulse.width, nominal) {
                    // The bit before this low is the one just stored.
                    let (led, b) = Self::place(self.received().saturating_sub(1));
                    let problem = Problem::LowOutOfSpec {
                        bit,
                        low_ns: pulse.width,
                    };
                    self.report(t, led, b, problem);
                }
            }
            self.last_bit = None;
            return;
        }
        // A high ended: one bit.
        let h = pulse.width;
        let bit = if tm.within(h, tm.t0h) {
            false
        } else if tm.within(h, tm.t1h) {
            true
        } else {
            let bit = h >= (tm.t0h + tm.t1h) / 2;
            let (led, b) = Self::place(self.received());
            let problem = Problem::HighOutOfSpec {
                high_ns: h,
                read_as: bit,
            };
            self.report(t, led, b, problem);
            bit
        };
        self.last_bit = Some(bit);
        if self.words.len() >= self.shown.len() {
            self.extra_bits += 1;
            return;
        }
        self.acc = (self.acc << 1) | bit as u32;
        self.nbits += 1;
        if self.nbits == 24 {
            self.words.push(self.acc);
            (self.acc, self.nbits) = (0, 0);
        }
    }

    /// The data line is fed by an SPI master's MOSI: a frame of `bits` bits carrying
    /// `word` (first bit on the wire = bit `bits - 1`) from `start` to `end` (ns). The
    /// line holds the last bit after the frame.
    pub fn mosi_frame(&mut self, start: u64, end: u64, word: u16, bits: u8) {
        let span = end.saturating_sub(start) as u128;
        let n = bits.clamp(1, 16) as u128;
        for k in 0..n {
            let t = start + (span * k / n) as u64;
            let level = (word >> (n - 1 - k)) & 1 != 0;
            self.level(t, level);
        }
    }
}

impl Part for Ws2812 {
    fn name(&self) -> &str {
        "WS2812"
    }

    fn pins(&self) -> &'static [PinSpec] {
        PINS
    }

    fn pin_changed(&mut self, ctx: &mut PartCtx, _pin: usize, level: bool) {
        self.level(ctx.now, level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Bench;

    /// Bit timings as MicroPython's bitstream makes them at 168 MHz (see the module doc):
    /// high 61 + 6 cycles for a 0, 128 + 6 for a 1, bit period 197 + 6 cycles; in ns.
    fn ns(cycles: u64) -> u64 {
        cycles * 1_000_000_000 / 168_000_000
    }

    fn bit_steps(byte: u8, steps: &mut Vec<(bool, u64)>) {
        for k in (0..8).rev() {
            let one = byte >> k & 1 != 0;
            let high = if one { ns(134) } else { ns(67) };
            steps.push((true, high));
            steps.push((false, ns(203) - high));
        }
    }

    fn send(b: &mut Bench<Ws2812>, bytes: &[u8]) {
        let mut steps = Vec::new();
        for &x in bytes {
            bit_steps(x, &mut steps);
        }
        b.wave(0, &steps);
    }

    #[test]
    fn micropython_bitstream_timing_is_in_spec_and_latches_after_reset() {
        // The bitstream's bits: 0 = 398 ns high, 1 = 797 ns high, 1208 ns period.
        assert_eq!((ns(67), ns(134), ns(203)), (398, 797, 1208));
        let mut b = Bench::new(Ws2812::new(3, Timing::WS2812B).unwrap());
        // neopixel's buffer is G, R, B per LED.
        send(
            &mut b,
            &[0x10, 0xFF, 0x00, 0x00, 0x00, 0x80, 0x01, 0x02, 0x03],
        );
        let t_end = b.now;
        let last_fall = t_end - (ns(203) - ns(134));
        // Not latched until the reset time has passed since the last fall.
        assert_eq!(b.part_mut().colors(last_fall + 49_999)[0], Rgb::default());
        let colors = b.part_mut().colors(last_fall + 50_000).to_vec();
        assert_eq!(
            colors,
            vec![
                Rgb::new(0xFF, 0x10, 0),
                Rgb::new(0, 0, 0x80),
                Rgb::new(0x02, 0x01, 0x03)
            ]
        );
        assert_eq!(
            b.part_mut().frames(t_end + 1_000_000),
            (
                1,
                Some(Frame {
                    at: last_fall + 50_000,
                    leds: 3,
                    extra_bits: 0
                })
            )
        );
        // The last bit's low runs into the reset: not a low out of spec. Lows of 1 bits
        // are 411 ns (T1L 450 ± 150) and of 0 bits 810 ns (T0L 850 ± 150): in spec.
        assert_eq!(b.part().diagnostics(), &[]);
    }

    #[test]
    fn a_long_high_is_misread_and_reported_with_its_place() {
        let mut b = Bench::new(Ws2812::new(2, Timing::WS2812B).unwrap());
        let mut steps = Vec::new();
        for _ in 0..24 {
            steps.push((true, 400));
            steps.push((false, 850));
        }
        // LED 1, bit 5: a 0 whose high lasts 620 ns (beyond 550): read as a 1.
        for k in 0..24 {
            steps.push((true, if k == 5 { 620 } else { 400 }));
            steps.push((false, 850));
        }
        b.wave(0, &steps);
        b.advance(100_000);
        let colors = {
            let now = b.now;
            b.part_mut().colors(now)
        }
        .to_vec();
        assert_eq!(colors, vec![Rgb::new(0, 0, 0), Rgb::new(0, 0x04, 0)]);
        let d = b.part().diagnostics()[0];
        assert_eq!(
            d,
            Diagnostic {
                t: 24 * 1250 + 5 * 1250 + 620,
                led: 1,
                bit: 5,
                problem: Problem::HighOutOfSpec {
                    high_ns: 620,
                    read_as: true
                }
            }
        );
        assert!(d.misread());
        // The 0 bit with a 620 ns high had a 850 ns low: a fine low after what was read
        // as a 1 is reported too (T1L is 450 ± 150).
        assert_eq!(
            b.part().diagnostics()[1].problem,
            Problem::LowOutOfSpec {
                bit: true,
                low_ns: 850
            }
        );
        assert_eq!(b.part().diagnostics().len(), 2);
        assert_eq!(
            d.to_string(),
            format!(
                "at {} ns: LED 1 bit 5: high pulse of 620 ns is neither T0H nor T1H within \
                 tolerance: read as 1",
                d.t
            )
        );
    }

    #[test]
    fn a_pause_longer_than_reset_splits_the_frame() {
        let mut b = Bench::new(Ws2812::new(2, Timing::WS2812B).unwrap());
        // LED 0 all ones, then 12 bits of LED 1, then an interrupt holds the line low
        // for 60 µs, then 24 more bits.
        let mut steps = Vec::new();
        for _ in 0..36 {
            steps.push((true, 800));
            steps.push((false, 450));
        }
        let t_pause = 36 * 1250 - 450;
        steps.last_mut().unwrap().1 = 60_000;
        for _ in 0..24 {
            steps.push((true, 400));
            steps.push((false, 850));
        }
        b.wave(0, &steps);
        b.advance(100_000);
        let colors = {
            let now = b.now;
            b.part_mut().colors(now)
        }
        .to_vec();
        // The second "frame" (24 zeros) overwrote LED 0; LED 1 never got a whole word.
        assert_eq!(colors, vec![Rgb::new(0, 0, 0), Rgb::new(0, 0, 0)]);
        let d = b.part().diagnostics();
        assert_eq!(
            d,
            &[Diagnostic {
                t: t_pause + 50_000,
                led: 1,
                bit: 12,
                problem: Problem::ResetMidLed { low_ns: 60_000 }
            }]
        );
        assert_eq!(
            {
                let now = b.now;
                b.part_mut().frames(now)
            }
            .0,
            2
        );
    }

    #[test]
    fn bits_past_the_last_led_go_on_down_the_chain() {
        let mut b = Bench::new(Ws2812::new(1, Timing::WS2812).unwrap());
        let mut steps = Vec::new();
        for k in 0..30 {
            let one = k < 8;
            steps.push((true, if one { 700 } else { 350 }));
            steps.push((false, if one { 600 } else { 800 }));
        }
        b.wave(0, &steps);
        b.advance(60_000);
        assert_eq!(
            {
                let now = b.now;
                b.part_mut().colors(now)
            },
            &[Rgb::new(0, 0xFF, 0)]
        );
        assert_eq!(
            {
                let now = b.now;
                b.part_mut().frames(now)
            }
            .1
            .unwrap()
            .extra_bits,
            6
        );
        assert_eq!(b.part().diagnostics(), &[]);
        // A bad bit past the end is placed down the chain: bit 50 is bit 2 of LED 2.
        let mut steps = Vec::new();
        for k in 0..51 {
            steps.push((true, if k == 50 { 520 } else { 350 }));
            steps.push((false, 800));
        }
        b.wave(0, &steps);
        let d = b.part().diagnostics();
        assert_eq!((d.len(), d[0].led, d[0].bit), (1, 2, 2));
    }

    #[test]
    fn spi_fed_data() {
        // Three SPI bits per WS2812 bit at 2.4 MHz (417 ns): 100 = 0, 110 = 1. One
        // byte on the wire, 0xA5, takes three 8-bit frames.
        let mut s = Ws2812::new(1, Timing::WS2812B).unwrap();
        let pattern: u32 = (0..8).rev().fold(0, |acc, k| {
            (acc << 3) | if 0xA5u32 >> k & 1 != 0 { 0b110 } else { 0b100 }
        });
        let bit_ns = 417u64;
        let mut t = 0;
        for byte in [
            (pattern >> 16) as u16 & 0xFF,
            (pattern >> 8) as u16 & 0xFF,
            pattern as u16 & 0xFF,
        ] {
            s.mosi_frame(t, t + 8 * bit_ns, byte, 8);
            t += 8 * bit_ns;
        }
        // The two other colours as zeros: 8 x 100 is 0x92 0x49 0x24, twice.
        for byte in [0x92, 0x49, 0x24, 0x92, 0x49, 0x24] {
            s.mosi_frame(t, t + 8 * bit_ns, byte, 8);
            t += 8 * bit_ns;
        }
        s.settle(t + 60_000);
        assert_eq!(s.colors(t + 60_000), &[Rgb::new(0, 0xA5, 0)]);
        assert!(s.diagnostics().iter().all(|d| !d.misread()));
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert_eq!(
            Ws2812::new(0, Timing::WS2812B).unwrap_err().to_string(),
            "WS2812: a strip has 1 to 4096 LEDs, not 0"
        );
        let t = Timing {
            t1h: 600,
            ..Timing::WS2812B
        };
        assert_eq!(
            Ws2812::new(8, t).unwrap_err().to_string(),
            "WS2812: T0H 400 ns and T1H 600 ns overlap with a tolerance of 150 ns"
        );
    }
}
