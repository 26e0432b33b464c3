//! A Maxim DS18B20 digital thermometer on a 1-Wire bus (DS18B20 datasheet: "1-Wire Bus
//! System" with its initialization and read/write time slot figures, "ROM Commands",
//! "DS18B20 Function Commands", "Memory", "Configuration Register", "CRC Generation";
//! Maxim application note 27 for the CRC). A [`Part`] with one open-drain pin, DQ.
//!
//! Facts used:
//! - The bus idles high through a pull-up. Reset: the master holds it low at least 480 µs
//!   (tRSTL); after the rising edge the DS18B20 waits 15-60 µs (tPDHIGH) and pulls low
//!   for 60-240 µs (tPDLOW), the presence pulse.
//! - Time slots start with the master pulling low. Write 1: low for 1-15 µs (tLOW1);
//!   write 0: low 60-120 µs (tLOW0); the DS18B20 samples in a window 15-60 µs after the
//!   fall. Read: the master pulls low at least 1 µs and releases; a DS18B20 sending 0
//!   holds the line low, its data valid for 15 µs after the fall; sending 1 it does
//!   nothing. Bits go least significant first.
//! - ROM: family code 0x28, a 48-bit serial number, a CRC byte over the first seven.
//!   ROM commands: SEARCH ROM F0h (per bit: the bit, its complement, then the master's
//!   choice; a device whose bit differs drops out), READ ROM 33h, MATCH ROM 55h, SKIP ROM
//!   CCh, ALARM SEARCH ECh (only devices with the alarm flag take part).
//! - Function commands: CONVERT T 44h (read slots answer 0 while converting, 1 when done;
//!   tCONV max 93.75, 187.5, 375, 750 ms at 9, 10, 11, 12 bits), WRITE SCRATCHPAD 4Eh (TH,
//!   TL, configuration; all three before a reset, or the data may be corrupted), READ
//!   SCRATCHPAD BEh (nine bytes, the last the CRC of the first eight; the master may stop
//!   with a reset), COPY SCRATCHPAD 48h (to EEPROM, 10 ms), RECALL E2 B8h, READ POWER
//!   SUPPLY B4h.
//! - Scratchpad: temperature LSB, MSB (two's complement, 1/16 °C at 12 bits; the low bits
//!   undefined at lower resolutions; 0x0550 = +85 °C at power-up), TH, TL, configuration
//!   (R1 R0 in bits 6-5, the other bits 0 11111), three reserved bytes (FFh, FFh, 10h: the
//!   current datasheet gives FFh and 10h for bytes 5 and 7; byte 6 has no documented
//!   value and the older revisions say the reserved bytes read as ones), CRC. The alarm
//!   flag is set by a conversion whose result (bits 11-4) is >= TH or <= TL.
//!
//! What drives it on the Pyboard: the `onewire` and `ds18x20` modules frozen in the
//! firmware (micropython-lib) over extmod/modonewire.c, which bit-bangs an open-drain pin
//! with the pull-up on: reset low 480 µs, release, sample 70 µs later, wait 410 µs; read
//! slot low 6 µs, release, sample 9 µs later, wait 55 µs; write slot low 6 µs (1: release)
//! to 60 µs, release, 10 µs of recovery.
//!
//! Modelled:
//! - The line: the part hears every level change of DQ, its own included, and pulls low
//!   or lets go with [`PartEffect::Drive`](crate::PartEffect) at exact virtual times from
//!   scheduled events: the presence pulse from 30 µs to 150 µs after the reset's rising
//!   edge, and a 0 in a read slot held for 30 µs from the fall (model choices inside the
//!   datasheet's ranges). Several DS18B20s on one line each drive it; the board combines
//!   the drives (wired AND). From a reset until its own presence pulse ends a device
//!   takes no fall as a slot (the other devices' presence pulses overlap its own).
//! - Write slots are read at 30 µs after the fall (inside the 15-60 µs window): a low
//!   shorter than that is a 1. A low outside tLOW1 and tLOW0, or longer than a slot and
//!   shorter than a reset, is reported ([`Problem`]) with what was read; so is a read
//!   slot whose low the master holds past 15 µs (it would read its own low), and a reset
//!   that cuts WRITE SCRATCHPAD short (the bytes received are kept).
//! - The commands above. Temperature from a [`Signal`] in m°C of virtual time
//!   ([`Ds18b20::set_temperature`]), taken at the end of the conversion, clamped to the
//!   -55..+125 °C range, rounded to the nearest step of the resolution. Conversions take
//!   the datasheet's maximum tCONV.
//!
//! Not modelled: parasite power (the device is powered from VDD: READ POWER SUPPLY
//! answers 1, and no strong pull-up is needed), overdrive, the accuracy and noise of the
//! sensor, the EEPROM's write time beyond answering 0 for 10 ms after COPY SCRATCHPAD,
//! reset pulses longer than 960 µs (taken as resets), the DS18S20/DS1822 variants.

use pybsim_peripherals::analog::Signal;

use crate::{ConfigError, Diagnostics, Part, PartCtx, PinDir, PinSpec, MS, US};

const T: &str = "part::ds18b20";

pub const FAMILY: u8 = 0x28;

/// Shortest low taken as a reset pulse (tRSTL).
pub const T_RSTL: u64 = 480 * US;
/// From the reset's rising edge to the presence pulse (tPDHIGH, 15-60 µs).
pub const T_PDHIGH: u64 = 30 * US;
/// Length of the presence pulse (tPDLOW, 60-240 µs).
pub const T_PDLOW: u64 = 120 * US;
/// How long a 0 is held in a read slot, from the master's fall.
pub const T_READ0: u64 = 30 * US;
/// When a write slot is sampled, after the fall (inside 15-60 µs).
pub const T_SAMPLE: u64 = 30 * US;
/// Copy scratchpad to EEPROM (tWR).
pub const T_WR: u64 = 10 * MS;

const TOKEN_PRESENCE: u32 = 0;
const TOKEN_RELEASE: u32 = 1;

/// The Dallas/Maxim 1-Wire CRC (x^8 + x^5 + x^4 + 1, bits least significant first, from
/// 0), as the DS18B20 and `onewire.crc8` compute it. A block followed by its CRC gives 0.
pub fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in data {
        let mut b = byte;
        for _ in 0..8 {
            let mix = (crc ^ b) & 1;
            crc >>= 1;
            if mix != 0 {
                crc ^= 0x8C;
            }
            b >>= 1;
        }
    }
    crc
}

/// Conversion time at a resolution of 9-12 bits (datasheet maximum).
pub fn conversion_time(bits: u8) -> u64 {
    (93_750 * US) << (bits.clamp(9, 12) - 9)
}

/// Something the master did outside the datasheet's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A write slot's low outside tLOW1 (1-15 µs) and tLOW0 (60-120 µs), read as
    /// `read_as` by the sample at 30 µs.
    WriteSlot { low_ns: u64, read_as: bool },
    /// A low longer than a slot (120 µs) but shorter than a reset (480 µs): read as 0.
    LongLow { low_ns: u64 },
    /// A read slot whose low the master held `low_ns` (> 15 µs): it reads its own low.
    ReadSlotLow { low_ns: u64 },
    /// A reset after `bytes` of the three bytes of WRITE SCRATCHPAD.
    ShortWrite { bytes: u8 },
}

impl Problem {
    fn kind(&self) -> u32 {
        match self {
            Problem::WriteSlot { .. } => 0,
            Problem::LongLow { .. } => 1,
            Problem::ReadSlotLow { .. } => 2,
            Problem::ShortWrite { .. } => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diagnostic {
    pub t: u64,
    pub problem: Problem,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.t;
        match self.problem {
            Problem::WriteSlot { low_ns, read_as } => write!(
                f,
                "at {t} ns: write slot low for {low_ns} ns, neither a 1 (1-15 µs) nor a 0 \
                 (60-120 µs): read as {}",
                read_as as u8
            ),
            Problem::LongLow { low_ns } => write!(
                f,
                "at {t} ns: low for {low_ns} ns, longer than a slot and shorter than a reset \
                 (480 µs): read as 0"
            ),
            Problem::ReadSlotLow { low_ns } => write!(
                f,
                "at {t} ns: read slot low for {low_ns} ns, past the 15 µs the data is valid"
            ),
            Problem::ShortWrite { bytes } => write!(
                f,
                "at {t} ns: reset after {bytes} of the 3 bytes of WRITE SCRATCHPAD"
            ),
        }
    }
}

/// Where the device is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a reset (power-up, deselected, or done).
    Idle,
    /// A reset was seen: waiting to send, or sending, the presence pulse. Falls on the
    /// line (other devices' presence pulses) are not slots.
    Presence,
    RomCommand,
    MatchRom,
    /// SEARCH ROM: bit `bit`, `step` 0 sends it, 1 its complement, 2 takes the master's.
    Search {
        bit: u8,
        step: u8,
    },
    /// Sending `tx`; then the function command, or ones.
    Send {
        then_function: bool,
    },
    FunctionCommand,
    WriteScratchpad,
    /// Read slots answer 0 until `until`, then 1.
    Status {
        until: u64,
    },
    /// Read slots answer 1.
    Ones,
}

/// The thermometer.
#[derive(Debug, Clone)]
pub struct Ds18b20 {
    rom: [u8; 8],
    temperature: Signal,
    /// Scratchpad bytes 0-4.
    temp_reg: u16,
    th: u8,
    tl: u8,
    config: u8,
    eeprom: (u8, u8, u8),
    alarm: bool,
    /// A conversion under way: its end.
    converting: Option<u64>,
    phase: Phase,
    /// Bits received in this phase, least significant first.
    rx: u64,
    rx_n: u8,
    /// Bytes to send and the next bit.
    tx: Vec<u8>,
    tx_pos: usize,
    /// Bytes of WRITE SCRATCHPAD received.
    written: u8,
    /// Level of DQ as last heard.
    line: bool,
    driving: bool,
    slot_start: Option<u64>,
    /// In the slot under way the device sends this bit.
    slot_tx: Option<bool>,
    diagnostics: Diagnostics<Diagnostic>,
    resets: u64,
}

const PINS: &[PinSpec] = &[PinSpec {
    name: "DQ",
    dir: PinDir::OpenDrain,
}];

impl Ds18b20 {
    /// A device with serial number `serial` (48 bits), at 25 °C until told otherwise, its
    /// EEPROM holding TH 75 °C, TL 70 °C, 12 bits (the model's defaults).
    pub fn new(serial: u64) -> Result<Ds18b20, ConfigError> {
        if serial >> 48 != 0 {
            return Err(ConfigError::new(
                "DS18B20",
                format!("serial number {serial:#x} is wider than 48 bits"),
            ));
        }
        let mut rom = [0u8; 8];
        rom[0] = FAMILY;
        rom[1..7].copy_from_slice(&serial.to_le_bytes()[..6]);
        rom[7] = crc8(&rom[..7]);
        let eeprom = (75, 70, 0x7F);
        Ok(Ds18b20 {
            rom,
            temperature: Signal::constant(25_000),
            temp_reg: 0x0550,
            th: eeprom.0,
            tl: eeprom.1,
            config: eeprom.2,
            eeprom,
            alarm: false,
            converting: None,
            phase: Phase::Idle,
            rx: 0,
            rx_n: 0,
            tx: Vec::new(),
            tx_pos: 0,
            written: 0,
            line: true,
            driving: false,
            slot_start: None,
            slot_tx: None,
            diagnostics: Diagnostics::default(),
            resets: 0,
        })
    }

    /// The 64-bit ROM code, in the order it goes on the wire.
    pub fn rom(&self) -> [u8; 8] {
        self.rom
    }

    /// The temperature (m°C) from `at` (ns) on.
    pub fn set_temperature(&mut self, at: u64, milli_c: i64) {
        self.temperature.set(at, milli_c);
    }

    /// The temperature as a function of virtual time (m°C), for tables and ramps.
    pub fn temperature_mut(&mut self) -> &mut Signal {
        &mut self.temperature
    }

    /// Resolution in bits (9-12) from the configuration register.
    pub fn resolution(&self) -> u8 {
        9 + ((self.config >> 5) & 3)
    }

    /// The temperature register at `now` (a conversion that ended is taken in).
    pub fn temperature_register(&mut self, now: u64) -> u16 {
        self.settle(now);
        self.temp_reg
    }

    pub fn alarm(&mut self, now: u64) -> bool {
        self.settle(now);
        self.alarm
    }

    /// Resets seen (each answered with a presence pulse).
    pub fn resets(&self) -> u64 {
        self.resets
    }

    pub fn diagnostics(&self) -> &[Diagnostic] {
        self.diagnostics.list()
    }

    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        self.diagnostics.take()
    }

    fn report(&mut self, t: u64, problem: Problem) {
        let d = Diagnostic { t, problem };
        let (first, d) = self.diagnostics.record(problem.kind(), d);
        if first {
            tracing::warn!(target: T, t_ns = t, "{d} (the first of its kind; more at debug level)");
        } else {
            tracing::debug!(target: T, t_ns = t, "{d}");
        }
    }

    /// Takes in a conversion that has ended by `now`.
    fn settle(&mut self, now: u64) {
        let Some(end) = self.converting else { return };
        if now < end {
            return;
        }
        self.converting = None;
        let mc = self.temperature.at(end).clamp(-55_000, 125_000);
        // Steps of 1/16 °C at 12 bits, 1/2 °C at 9; to the nearest, halves away from 0.
        let step = 1i64 << (12 - self.resolution());
        let units = mc * 16;
        let q = 1000 * step;
        let n = if units >= 0 {
            (units + q / 2) / q
        } else {
            -((-units + q / 2) / q)
        };
        self.temp_reg = (n * step) as i16 as u16;
        let whole = (self.temp_reg as i16 >> 4) as i8;
        self.alarm = whole >= self.th as i8 || whole <= self.tl as i8;
        tracing::debug!(target: T, t_ns = end, milli_c = mc, reg = self.temp_reg, alarm = self.alarm, "conversion done");
    }

    fn scratchpad(&self) -> Vec<u8> {
        let mut s = vec![
            self.temp_reg as u8,
            (self.temp_reg >> 8) as u8,
            self.th,
            self.tl,
            self.config,
            0xFF,
            0xFF,
            0x10,
        ];
        s.push(crc8(&s));
        s
    }

    fn send(&mut self, bytes: Vec<u8>, then_function: bool) {
        self.tx = bytes;
        self.tx_pos = 0;
        self.phase = Phase::Send { then_function };
    }

    /// The bit this device sends in a read slot starting at `t`, if it is sending.
    fn tx_bit(&mut self, t: u64) -> Option<bool> {
        match self.phase {
            Phase::Send { then_function } => {
                let bit = self
                    .tx
                    .get(self.tx_pos / 8)
                    .is_none_or(|b| b >> (self.tx_pos % 8) & 1 != 0);
                self.tx_pos += 1;
                if self.tx_pos >= self.tx.len() * 8 {
                    self.phase = if then_function {
                        Phase::FunctionCommand
                    } else {
                        Phase::Ones
                    };
                    self.rx_n = 0;
                }
                Some(bit)
            }
            Phase::Search { bit, step } if step < 2 => {
                let b = self.rom[bit as usize / 8] >> (bit % 8) & 1 != 0;
                self.phase = Phase::Search {
                    bit,
                    step: step + 1,
                };
                Some(b != (step == 1))
            }
            Phase::Status { until } => {
                self.settle(t);
                Some(t >= until)
            }
            Phase::Ones => Some(true),
            _ => None,
        }
    }

    /// A bit the master wrote, in a slot that began at `start`.
    fn rx_bit(&mut self, start: u64, bit: bool) {
        match self.phase {
            Phase::RomCommand | Phase::FunctionCommand | Phase::WriteScratchpad => {
                self.rx |= (bit as u64) << self.rx_n;
                self.rx_n += 1;
                if self.rx_n == 8 {
                    let byte = self.rx as u8;
                    (self.rx, self.rx_n) = (0, 0);
                    self.byte(start, byte);
                }
            }
            Phase::MatchRom => {
                self.rx |= (bit as u64) << self.rx_n;
                self.rx_n += 1;
                if self.rx_n == 64 {
                    let matched = self.rx.to_le_bytes() == self.rom;
                    self.phase = if matched {
                        Phase::FunctionCommand
                    } else {
                        Phase::Idle
                    };
                    (self.rx, self.rx_n) = (0, 0);
                }
            }
            Phase::Search { bit: i, step: 2 } => {
                let mine = self.rom[i as usize / 8] >> (i % 8) & 1 != 0;
                self.phase = if bit != mine {
                    Phase::Idle
                } else if i == 63 {
                    Phase::FunctionCommand
                } else {
                    Phase::Search {
                        bit: i + 1,
                        step: 0,
                    }
                };
            }
            _ => {}
        }
    }

    /// A whole byte received in phase `self.phase`.
    fn byte(&mut self, t: u64, b: u8) {
        tracing::debug!(target: T, t_ns = t, phase = ?self.phase, byte = b, "byte");
        match self.phase {
            Phase::RomCommand => match b {
                0x33 => self.send(self.rom.to_vec(), true),
                0x55 => self.phase = Phase::MatchRom,
                0xCC => self.phase = Phase::FunctionCommand,
                0xF0 => self.phase = Phase::Search { bit: 0, step: 0 },
                0xEC => {
                    self.settle(t);
                    self.phase = if self.alarm {
                        Phase::Search { bit: 0, step: 0 }
                    } else {
                        Phase::Idle
                    };
                }
                _ => self.phase = Phase::Idle,
            },
            Phase::FunctionCommand => match b {
                0x44 => {
                    let end = t + conversion_time(self.resolution());
                    self.converting = Some(end);
                    self.phase = Phase::Status { until: end };
                }
                0xBE => {
                    self.settle(t);
                    self.send(self.scratchpad(), false);
                }
                0x4E => {
                    self.phase = Phase::WriteScratchpad;
                    self.written = 0;
                }
                0x48 => {
                    self.eeprom = (self.th, self.tl, self.config);
                    self.phase = Phase::Status { until: t + T_WR };
                }
                0xB8 => {
                    (self.th, self.tl, self.config) = self.eeprom;
                    self.phase = Phase::Status { until: t };
                }
                0xB4 => self.phase = Phase::Ones,
                _ => self.phase = Phase::Idle,
            },
            Phase::WriteScratchpad => {
                match self.written {
                    0 => self.th = b,
                    1 => self.tl = b,
                    _ => self.config = (b & 0x60) | 0x1F,
                }
                self.written += 1;
                if self.written == 3 {
                    self.phase = Phase::Idle;
                }
            }
            _ => {}
        }
    }

    fn reset(&mut self, ctx: &mut PartCtx, _low: u64) {
        if self.phase == Phase::WriteScratchpad {
            let bytes = self.written;
            self.report(ctx.now, Problem::ShortWrite { bytes });
        }
        self.resets += 1;
        self.phase = Phase::Presence;
        (self.rx, self.rx_n) = (0, 0);
        tracing::debug!(target: T, t_ns = ctx.now, "reset: presence pulse follows");
        ctx.schedule(TOKEN_PRESENCE, ctx.now + T_PDHIGH);
    }

    fn rise(&mut self, ctx: &mut PartCtx) {
        let Some(start) = self.slot_start.take() else {
            return;
        };
        let w = ctx.now.saturating_sub(start);
        if w >= T_RSTL {
            self.reset(ctx, w);
            return;
        }
        match self.slot_tx.take() {
            Some(true) if w > 15 * US => self.report(ctx.now, Problem::ReadSlotLow { low_ns: w }),
            Some(_) => {}
            None => {
                let listening = matches!(
                    self.phase,
                    Phase::RomCommand
                        | Phase::MatchRom
                        | Phase::FunctionCommand
                        | Phase::WriteScratchpad
                        | Phase::Search { step: 2, .. }
                );
                if !listening {
                    return;
                }
                let bit = w < T_SAMPLE;
                if w > 120 * US {
                    self.report(ctx.now, Problem::LongLow { low_ns: w });
                } else if w > 15 * US && w < 60 * US {
                    let problem = Problem::WriteSlot {
                        low_ns: w,
                        read_as: bit,
                    };
                    self.report(ctx.now, problem);
                }
                self.rx_bit(start, bit);
            }
        }
    }
}

impl Part for Ds18b20 {
    fn name(&self) -> &str {
        "DS18B20"
    }

    fn pins(&self) -> &'static [PinSpec] {
        PINS
    }

    fn pin_changed(&mut self, ctx: &mut PartCtx, _pin: usize, level: bool) {
        if level == self.line {
            return;
        }
        self.line = level;
        if level {
            self.rise(ctx);
            return;
        }
        if self.driving || self.phase == Phase::Presence {
            return;
        }
        self.slot_start = Some(ctx.now);
        self.slot_tx = self.tx_bit(ctx.now);
        if self.slot_tx == Some(false) {
            self.driving = true;
            ctx.drive(0, Some(false));
            ctx.schedule(TOKEN_RELEASE, ctx.now + T_READ0);
        }
    }

    fn event(&mut self, ctx: &mut PartCtx, token: u32) {
        match token {
            TOKEN_PRESENCE => {
                self.driving = true;
                ctx.drive(0, Some(false));
                ctx.schedule(TOKEN_RELEASE, ctx.now + T_PDLOW);
            }
            _ => {
                self.driving = false;
                if self.phase == Phase::Presence {
                    self.phase = Phase::RomCommand;
                }
                ctx.drive(0, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Bench;

    /// The master as extmod/modonewire.c times it (µs), on a bench whose line is pulled up.
    struct Master {
        b: Bench<Ds18b20>,
    }

    impl Master {
        fn new(parts: Vec<Ds18b20>) -> Master {
            Master {
                b: Bench::many(parts).with_pull(0, true),
            }
        }

        fn reset(&mut self) -> bool {
            self.b.set(0, Some(false));
            self.b.advance(480 * US);
            self.b.set(0, None);
            self.b.advance(70 * US);
            let present = !self.b.line(0);
            self.b.advance(410 * US);
            present
        }

        fn write_bit(&mut self, v: bool) {
            self.b.set(0, Some(false));
            self.b.advance(6 * US);
            if v {
                self.b.set(0, None);
            }
            self.b.advance(54 * US);
            self.b.set(0, None);
            self.b.advance(10 * US);
        }

        fn read_bit(&mut self) -> bool {
            self.b.set(0, Some(false));
            self.b.advance(6 * US);
            self.b.set(0, None);
            self.b.advance(9 * US);
            let v = self.b.line(0);
            self.b.advance(55 * US);
            v
        }

        fn write(&mut self, bytes: &[u8]) {
            for &x in bytes {
                for i in 0..8 {
                    self.write_bit(x >> i & 1 != 0);
                }
            }
        }

        fn read(&mut self, n: usize) -> Vec<u8> {
            (0..n)
                .map(|_| (0..8).fold(0u8, |acc, i| acc | (self.read_bit() as u8) << i))
                .collect()
        }

        /// onewire.OneWire._search_rom, one pass.
        fn search(&mut self, l_rom: [u8; 8], diff: u32) -> Option<([u8; 8], u32)> {
            if !self.reset() {
                return None;
            }
            self.write(&[0xF0]);
            let mut rom = [0u8; 8];
            let (mut next_diff, mut i) = (0, 64);
            for byte in 0..8 {
                for bit in 0..8 {
                    let mut b = self.read_bit();
                    if self.read_bit() {
                        if b {
                            return None;
                        }
                    } else if !b && (diff > i || (l_rom[byte] & (1 << bit) != 0 && diff != i)) {
                        b = true;
                        next_diff = i;
                    }
                    self.write_bit(b);
                    if b {
                        rom[byte] |= 1 << bit;
                    }
                    i -= 1;
                }
            }
            Some((rom, next_diff))
        }
    }

    #[test]
    fn crc8_of_the_application_note_example() {
        // Maxim AN27: ROM 02 1C B8 01 00 00 00 has CRC A2h.
        assert_eq!(crc8(&[0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00]), 0xA2);
        assert_eq!(crc8(&[0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00, 0xA2]), 0);
        let d = Ds18b20::new(0x0000_1234_5678_9ABC).unwrap();
        assert_eq!(d.rom()[..7], [0x28, 0xBC, 0x9A, 0x78, 0x56, 0x34, 0x12]);
        assert_eq!(crc8(&d.rom()), 0);
        assert_eq!(
            Ds18b20::new(1 << 48).unwrap_err().to_string(),
            "DS18B20: serial number 0x1000000000000 is wider than 48 bits"
        );
    }

    #[test]
    fn reset_gets_a_presence_pulse_at_exact_times() {
        let mut m = Master::new(vec![Ds18b20::new(1).unwrap()]);
        assert!(m.reset());
        // Master low at 0, released at 480 µs; the device pulls low 30 µs later for
        // 120 µs.
        assert_eq!(
            m.b.trace,
            vec![
                (0, 0, false),
                (480 * US, 0, true),
                (510 * US, 0, false),
                (630 * US, 0, true)
            ]
        );
        assert_eq!(m.b.part().resets(), 1);
        assert_eq!(m.b.next_deadline(), None);
    }

    #[test]
    fn read_rom_and_read_scratchpad_at_power_up() {
        let mut m = Master::new(vec![Ds18b20::new(0xABCDEF).unwrap()]);
        assert!(m.reset());
        m.write(&[0x33]);
        let rom = m.read(8);
        assert_eq!(rom, m.b.part().rom().to_vec());
        // READ ROM is a ROM command: a function command follows. The first bit of the
        // scratchpad is a 0 (0x50): the device holds the line from the master's fall for
        // 30 µs, past the master's release at 6 µs and its sample at 15 µs.
        m.write(&[0xBE]);
        let t = m.b.now;
        m.b.trace.clear();
        assert!(!m.read_bit());
        assert_eq!(m.b.trace, vec![(t, 0, false), (t + 30 * US, 0, true)]);
        assert!(m.reset());
        m.write(&[0xCC, 0xBE]);
        let s = m.read(9);
        assert_eq!(
            s,
            vec![0x50, 0x05, 75, 70, 0x7F, 0xFF, 0xFF, 0x10, crc8(&s[..8])]
        );
        assert_eq!(crc8(&s), 0);
        // Past the ninth byte the line stays released: ones.
        assert_eq!(m.read(1), vec![0xFF]);
        assert_eq!(m.b.part().diagnostics(), &[]);
    }

    #[test]
    fn convert_t_polls_busy_then_reads_the_temperature() {
        let mut d = Ds18b20::new(7).unwrap();
        d.set_temperature(0, 23_562); // 23.5625 °C, 12 bits: 377 sixteenths
        let mut m = Master::new(vec![d]);
        m.reset();
        m.write(&[0xCC, 0x44]);
        // The conversion starts with the slot of the command's last bit and ends 750 ms
        // later (12 bits); read slots answer 0 until then.
        let end = m.b.now - 70 * US + 750 * MS;
        assert!(!m.read_bit(), "converting");
        m.b.advance_to(end - 1);
        assert_eq!(m.b.part_mut().temperature_register(end - 1), 0x0550);
        assert!(!m.read_bit(), "a slot 1 ns before the end");
        assert!(m.read_bit(), "the next slot");
        let now = m.b.now;
        assert_eq!(m.b.part_mut().temperature_register(now), 377);
        m.reset();
        m.write(&[0xCC, 0xBE]);
        let s = m.read(9);
        assert_eq!(u16::from_le_bytes([s[0], s[1]]), 377);
        assert_eq!(crc8(&s), 0);
        assert_eq!(m.b.part().diagnostics(), &[]);
    }

    #[test]
    fn resolution_negative_temperatures_and_alarm() {
        let mut d = Ds18b20::new(9).unwrap();
        d.set_temperature(0, -10_125); // datasheet example: FF5Eh at 12 bits
        let mut m = Master::new(vec![d]);
        m.reset();
        m.write(&[0xCC, 0x44]);
        m.b.advance(800 * MS);
        assert_eq!(m.b.part_mut().temperature_register(800 * MS), 0xFF5E);
        // WRITE SCRATCHPAD: TH 30, TL -5, 9 bits.
        m.reset();
        m.write(&[0xCC, 0x4E, 30, (-5i8) as u8, 0x1F]);
        assert_eq!(m.b.part().resolution(), 9);
        m.b.parts[0].set_temperature(m.b.now, 23_562);
        m.reset();
        m.write(&[0xCC, 0x44]);
        let end = m.b.now - 70 * US + conversion_time(9);
        assert_eq!(conversion_time(9), 93_750 * US);
        m.b.advance_to(end - 1);
        assert!(!m.read_bit(), "9 bits: 93.75 ms");
        assert!(m.read_bit());
        // 23.5625 at 9 bits (0.5 °C steps): 23.5 = 0x0178; no alarm.
        let now = m.b.now;
        assert_eq!(m.b.part_mut().temperature_register(now), 0x0178);
        assert!(!m.b.part_mut().alarm(now));
        // -10.125 at 9 bits: -10.0 (nearest half degree: halves away from zero) and
        // below TL: alarm. ALARM SEARCH finds it.
        m.b.parts[0].set_temperature(m.b.now, -10_125);
        m.reset();
        m.write(&[0xCC, 0x44]);
        m.b.advance(100 * MS);
        let now = m.b.now;
        assert_eq!(m.b.part_mut().temperature_register(now), 0xFF60);
        assert!(m.b.part_mut().alarm(now));
        assert!(m.reset());
        m.write(&[0xEC]);
        let rom = m.b.part().rom();
        for i in 0..64 {
            let bit = rom[i / 8] >> (i % 8) & 1 != 0;
            assert_eq!((m.read_bit(), m.read_bit()), (bit, !bit), "bit {i}");
            m.write_bit(bit);
        }
    }

    #[test]
    fn search_rom_finds_two_devices_as_onewire_scan_does() {
        let a = Ds18b20::new(0x0000_0000_00A5).unwrap();
        let b = Ds18b20::new(0x0000_0000_0035).unwrap();
        let (ra, rb) = (a.rom(), b.rom());
        let mut m = Master::new(vec![a, b]);
        // onewire.OneWire.scan
        let (mut devices, mut diff, mut rom) = (Vec::new(), 65, [0u8; 8]);
        for _ in 0..0xFF {
            let Some((r, d)) = m.search(rom, diff) else {
                break;
            };
            devices.push(r);
            (rom, diff) = (r, d);
            if diff == 0 {
                break;
            }
        }
        let mut want = vec![ra, rb];
        want.sort_by_key(|r| u64::from_le_bytes(*r));
        devices.sort_by_key(|r| u64::from_le_bytes(*r));
        assert_eq!(devices, want);
        // MATCH ROM selects one: only it answers READ SCRATCHPAD.
        m.b.parts[1].set_temperature(0, 50_000);
        m.reset();
        m.write(&[0xCC, 0x44]);
        m.b.advance(800 * MS);
        m.reset();
        m.write(&[0x55]);
        m.write(&rb);
        m.write(&[0xBE]);
        let s = m.read(9);
        assert_eq!(u16::from_le_bytes([s[0], s[1]]), 50 * 16);
        assert_eq!(crc8(&s), 0);
    }

    #[test]
    fn bad_slot_timing_is_reported() {
        let mut m = Master::new(vec![Ds18b20::new(3).unwrap()]);
        m.reset();
        // SKIP ROM with the first bit's low stretched to 20 µs (read as 1), then a
        // 0 with a 40 µs low (read as 0), then 150 µs (longer than a slot).
        let t0 = m.b.now;
        m.b.wave(0, &[(false, 20 * US), (true, 50 * US)]);
        m.b.wave(0, &[(false, 40 * US), (true, 30 * US)]);
        m.b.wave(0, &[(false, 150 * US), (true, 30 * US)]);
        m.b.set(0, None);
        let d = m.b.part().diagnostics().to_vec();
        assert_eq!(
            d,
            vec![
                Diagnostic {
                    t: t0 + 20 * US,
                    problem: Problem::WriteSlot {
                        low_ns: 20 * US,
                        read_as: true
                    }
                },
                Diagnostic {
                    t: t0 + 110 * US,
                    problem: Problem::WriteSlot {
                        low_ns: 40 * US,
                        read_as: false
                    }
                },
                Diagnostic {
                    t: t0 + 290 * US,
                    problem: Problem::LongLow { low_ns: 150 * US }
                },
            ]
        );
        // A reset in the middle of WRITE SCRATCHPAD.
        m.reset();
        m.write(&[0xCC, 0x4E, 0x11]);
        m.reset();
        assert_eq!(
            m.b.part().diagnostics()[3].problem,
            Problem::ShortWrite { bytes: 1 }
        );
        // A master that holds a read slot low for 20 µs.
        m.write(&[0xCC, 0xB4]);
        m.b.wave(0, &[(false, 20 * US), (true, 50 * US)]);
        assert_eq!(
            m.b.part().diagnostics()[4].problem,
            Problem::ReadSlotLow { low_ns: 20 * US }
        );
    }
}
