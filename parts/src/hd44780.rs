//! An HD44780 character LCD (16x2, 20x4, ...) on the common PCF8574 I2C backpack
//! (Hitachi HD44780U datasheet: instructions Table 6, 4-bit interface §"Interfacing to
//! the MPU", "Initializing by Instruction" Figure 24, DDRAM addresses, character ROM A00;
//! NXP PCF8574 datasheet: quasi-bidirectional I/O, I2C addresses). An [`I2cDevice`].
//!
//! Facts used:
//! - PCF8574: address 0100 A2 A1 A0 (0x20-0x27; 0x27 with the backpack's jumpers open),
//!   PCF8574A 0x38-0x3F. Each byte written sets the eight port pins; a read returns the
//!   pin levels. A pin written 1 is only weakly pulled up, so another device can pull it
//!   low; at power-on every pin is 1.
//! - The backpack: P0 = RS, P1 = R/W, P2 = E, P3 = backlight (1 = on), P4-P7 = D4-D7 of
//!   the LCD. D0-D3 are not connected; the HD44780U's pull-ups hold them at 1.
//! - HD44780U: data and instructions are latched on the falling edge of E. After power-on
//!   the internal reset leaves it in 8-bit mode, one line, 5x8 font, display off, entry
//!   increment, busy for 10 ms. In 4-bit mode each byte is two E pulses, high nibble
//!   first; reads present the busy flag and address counter (RS = 0) or RAM data (RS = 1)
//!   on D7-D4 while E is high. Execution times at fosc = 270 kHz: return home 1.52 ms,
//!   the others 37 µs (clear display is not given in Table 6; it takes 1.52 ms here, as
//!   later datasheets and all drivers assume).
//! - DDRAM: one line of 80 (0x00-0x4F) or two of 40 (0x00-0x27 and 0x40-0x67); the
//!   address counter runs on from the end of one line to the start of the next. A 20x4
//!   module shows line 1 as rows 0 and 2 and line 2 as rows 1 and 3 (rows start at 0x00,
//!   0x40, 0x14, 0x54); a 16x2 shows 0x00 and 0x40. Display shift moves every line by one
//!   within its own length.
//!
//! Modelled:
//! - The PCF8574 port and the backpack wiring; reads through the port (busy flag, address
//!   counter, RAM data), with the LCD driving D4-D7 while R/W and E are high.
//! - The whole instruction set: clear display, return home, entry mode set (I/D, S),
//!   display on/off control (D, C, B), cursor or display shift, function set (DL, N, F),
//!   set CGRAM address, set DDRAM address, read busy flag and address, write and read
//!   data to DDRAM and CGRAM. The "initialization by instruction" works as on silicon:
//!   in 8-bit mode a nibble 0x3 is the function set 0x3F (D3-D0 pulled up) and 0x2
//!   switches to 4-bit mode.
//! - Busy time (the choice for what the datasheet leaves undefined): a write (instruction
//!   or data, or one nibble of them) that arrives while the controller is busy is
//!   ignored and reported ([`Problem::Busy`], with the time left). A dropped nibble puts
//!   the 4-bit transfer out of step, as on real modules that are driven too fast.
//! - RS or data that change in the same PCF8574 write that drops E violate the hold time
//!   after E's fall (tAH, tH: 10 ns): the model latches the levels they had while E was
//!   high and reports [`Problem::Hold`] (for writes; a read has nothing to lose).
//! - Outputs: the text of each row ([`Lcd::lines`], character ROM A00 mapped to Unicode:
//!   ASCII except 0x5C '¥', 0x7E '→', 0x7F '←'; 0xA1-0xDF half-width katakana; 0xE0-0xFF
//!   symbols; CGRAM characters 0x00-0x0F as '▒', their patterns from [`Lcd::cgram`]),
//!   the cursor, the backlight.
//!
//! Not modelled: the cursor and blink drawing, the 5x10 font's effect on CGRAM, tADD
//! (the 4 µs before the address counter moves after busy clears), the ROM A02 character
//! set, the PCF8574's interrupt output, contrast.

use pybsim_peripherals::i2c::{Ack, I2cDevice};

use crate::{ConfigError, Diagnostics, MS, US};

const T: &str = "part::hd44780";

/// Backpack wiring: PCF8574 port bits.
pub const RS: u8 = 0x01;
pub const RW: u8 = 0x02;
pub const E: u8 = 0x04;
pub const BACKLIGHT: u8 = 0x08;

/// Execution times (ns) at fosc = 270 kHz.
pub const T_HOME: u64 = 1_520 * US;
pub const T_INSTR: u64 = 37 * US;
/// Busy after power-on (internal reset).
pub const T_POWER_ON: u64 = 10 * MS;

/// Module size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub cols: usize,
    pub rows: usize,
}

impl Geometry {
    pub const LCD1602: Geometry = Geometry { cols: 16, rows: 2 };
    pub const LCD2004: Geometry = Geometry { cols: 20, rows: 4 };
}

/// Something the LCD did not take as the driver meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A write (`rs`: data or instruction, `bits`: the nibble or byte) came `early` ns
    /// before the controller was ready: ignored.
    Busy { rs: bool, bits: u8, early: u64 },
    /// RS, R/W or D4-D7 changed in the write that dropped E: the old levels were latched.
    Hold { before: u8, after: u8 },
}

impl Problem {
    fn kind(&self) -> u32 {
        match self {
            Problem::Busy { .. } => 0,
            Problem::Hold { .. } => 1,
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
        match self.problem {
            Problem::Busy { rs, bits, early } => write!(
                f,
                "at {} ns: {} {bits:#04x} written while busy ({early} ns early): ignored",
                self.t,
                if rs { "data" } else { "instruction" }
            ),
            Problem::Hold { before, after } => write!(
                f,
                "at {} ns: port {before:#04x} -> {after:#04x} changes RS/RW/D4-D7 as E falls: \
                 hold time violated, the old levels latched",
                self.t
            ),
        }
    }
}

/// The HD44780U controller.
#[derive(Debug, Clone)]
struct Hd44780 {
    eight_bit: bool,
    two_lines: bool,
    font_5x10: bool,
    display: bool,
    cursor: bool,
    blink: bool,
    increment: bool,
    shift_on_write: bool,
    ddram: [u8; 128],
    cgram: [u8; 64],
    ac: u8,
    /// The address counter points into CGRAM.
    cg: bool,
    /// Display shift, 0..line length.
    scroll: usize,
    busy_until: u64,
    /// 4-bit mode: the high nibble of a write under way.
    high: Option<u8>,
    /// 4-bit mode: the next read nibble is the low one, of `read_byte`.
    read_low: bool,
    read_byte: u8,
}

impl Hd44780 {
    fn power_on() -> Hd44780 {
        Hd44780 {
            eight_bit: true,
            two_lines: false,
            font_5x10: false,
            display: false,
            cursor: false,
            blink: false,
            increment: true,
            shift_on_write: false,
            ddram: [0x20; 128],
            cgram: [0; 64],
            ac: 0,
            cg: false,
            scroll: 0,
            busy_until: T_POWER_ON,
            high: None,
            read_low: false,
            read_byte: 0,
        }
    }

    fn line_len(&self) -> usize {
        if self.two_lines {
            40
        } else {
            80
        }
    }

    /// The DDRAM address after `a` moving one step up or down.
    fn step_ddram(&self, a: u8, up: bool) -> u8 {
        if self.two_lines {
            match (a, up) {
                (0x27, true) => 0x40,
                (0x67, true) => 0x00,
                (0x40, false) => 0x27,
                (0x00, false) => 0x67,
                (a, true) => a.wrapping_add(1) & 0x7F,
                (a, false) => a.wrapping_sub(1) & 0x7F,
            }
        } else {
            match (a, up) {
                (0x4F, true) => 0x00,
                (0x00, false) => 0x4F,
                (a, true) => a.wrapping_add(1) & 0x7F,
                (a, false) => a.wrapping_sub(1) & 0x7F,
            }
        }
    }

    fn step_ac(&mut self, up: bool) {
        self.ac = if self.cg {
            if up {
                (self.ac + 1) & 0x3F
            } else {
                self.ac.wrapping_sub(1) & 0x3F
            }
        } else {
            self.step_ddram(self.ac, up)
        };
    }

    fn shift_display(&mut self, left: bool) {
        let n = self.line_len();
        self.scroll = if left {
            (self.scroll + 1) % n
        } else {
            (self.scroll + n - 1) % n
        };
    }

    /// Executes a whole byte at `t`; returns the execution time.
    fn execute(&mut self, t: u64, rs: bool, b: u8) -> u64 {
        tracing::trace!(target: T, t_ns = t, rs, byte = b, "LCD byte");
        if rs {
            if self.cg {
                self.cgram[self.ac as usize & 0x3F] = b;
            } else {
                self.ddram[self.ac as usize & 0x7F] = b;
                if self.shift_on_write {
                    self.shift_display(self.increment);
                }
            }
            self.step_ac(self.increment);
            return T_INSTR;
        }
        match b {
            0x01 => {
                self.ddram = [0x20; 128];
                (self.ac, self.cg, self.scroll, self.increment) = (0, false, 0, true);
                T_HOME
            }
            0x02..=0x03 => {
                (self.ac, self.cg, self.scroll) = (0, false, 0);
                T_HOME
            }
            0x04..=0x07 => {
                self.increment = b & 2 != 0;
                self.shift_on_write = b & 1 != 0;
                T_INSTR
            }
            0x08..=0x0F => {
                (self.display, self.cursor, self.blink) = (b & 4 != 0, b & 2 != 0, b & 1 != 0);
                T_INSTR
            }
            0x10..=0x1F => {
                let right = b & 4 != 0;
                if b & 8 != 0 {
                    self.shift_display(!right);
                } else {
                    self.step_ac(right);
                }
                T_INSTR
            }
            0x20..=0x3F => {
                self.eight_bit = b & 0x10 != 0;
                self.two_lines = b & 0x08 != 0;
                self.font_5x10 = b & 0x04 != 0;
                self.high = None;
                self.read_low = false;
                self.scroll %= self.line_len();
                T_INSTR
            }
            0x40..=0x7F => {
                (self.ac, self.cg) = (b & 0x3F, true);
                T_INSTR
            }
            _ => {
                (self.ac, self.cg) = (b & 0x7F, false);
                T_INSTR
            }
        }
    }

    /// The byte a read presents at `t`.
    fn read_value(&self, t: u64, rs: bool) -> u8 {
        if rs {
            if self.cg {
                self.cgram[self.ac as usize & 0x3F]
            } else {
                self.ddram[self.ac as usize & 0x7F]
            }
        } else {
            ((t < self.busy_until) as u8) << 7 | (self.ac & 0x7F)
        }
    }
}

/// The module: PCF8574 backpack and LCD.
#[derive(Debug, Clone)]
pub struct Lcd {
    geometry: Geometry,
    port: u8,
    hd: Hd44780,
    /// What the LCD drives on D7-D4 (a nibble in bits 7-4) while it outputs.
    out: u8,
    diagnostics: Diagnostics<Diagnostic>,
}

impl Lcd {
    /// A module of `geometry` at power-on (virtual time 0).
    pub fn new(geometry: Geometry) -> Result<Lcd, ConfigError> {
        let Geometry { cols, rows } = geometry;
        let ok = match rows {
            1 | 2 => (8..=40).contains(&cols),
            4 => (8..=20).contains(&cols),
            _ => false,
        };
        if !ok {
            return Err(ConfigError::new(
                "HD44780",
                format!(
                    "a {cols}x{rows} module does not exist: 1 or 2 rows of 8-40 characters, \
                     or 4 rows of 8-20"
                ),
            ));
        }
        Ok(Lcd {
            geometry,
            port: 0xFF,
            hd: Hd44780::power_on(),
            out: 0xF0,
            diagnostics: Diagnostics::default(),
        })
    }

    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The PCF8574's output latch.
    pub fn port(&self) -> u8 {
        self.port
    }

    pub fn backlight(&self) -> bool {
        self.port & BACKLIGHT != 0
    }

    pub fn display_on(&self) -> bool {
        self.hd.display
    }

    /// The character codes the module shows, row by row (spaces while the display is
    /// off, or for a row the one-line mode does not drive).
    pub fn codes(&self) -> Vec<Vec<u8>> {
        let Geometry { cols, rows } = self.geometry;
        let h = &self.hd;
        let n = h.line_len();
        (0..rows)
            .map(|r| {
                let (line, seg) = if rows == 4 { (r % 2, r / 2) } else { (r, 0) };
                (0..cols)
                    .map(|c| {
                        if !h.display || (line == 1 && !h.two_lines) {
                            return 0x20;
                        }
                        let base = if line == 1 { 0x40 } else { 0 };
                        h.ddram[base + (seg * cols + c + h.scroll) % n]
                    })
                    .collect()
            })
            .collect()
    }

    /// The text the module shows, row by row.
    pub fn lines(&self) -> Vec<String> {
        self.codes()
            .iter()
            .map(|row| row.iter().map(|&c| glyph(c)).collect())
            .collect()
    }

    /// DDRAM address of the cursor and whether it (or the blinking block) shows.
    pub fn cursor(&self) -> (u8, bool) {
        (
            self.hd.ac,
            self.hd.display && (self.hd.cursor || self.hd.blink) && !self.hd.cg,
        )
    }

    /// CGRAM: 8 characters of 8 rows, 5 bits each.
    pub fn cgram(&self) -> &[u8; 64] {
        &self.hd.cgram
    }

    /// Interface (8 or 4 bits), lines, 5x10 font.
    pub fn function(&self) -> (u8, u8, bool) {
        let h = &self.hd;
        (
            if h.eight_bit { 8 } else { 4 },
            if h.two_lines { 2 } else { 1 },
            h.font_5x10,
        )
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

    /// The PCF8574 port becomes `new` at `t`.
    pub fn set_port(&mut self, t: u64, new: u8) {
        let old = std::mem::replace(&mut self.port, new);
        let (e_old, e_new) = (old & E != 0, new & E != 0);
        if !e_old && e_new && new & RW != 0 {
            self.read_begin(t, new & RS != 0);
        }
        if e_old && !e_new {
            if old & RW == 0 && (old ^ new) & (RS | RW | 0xF0) != 0 {
                self.report(
                    t,
                    Problem::Hold {
                        before: old,
                        after: new,
                    },
                );
            }
            let rs = old & RS != 0;
            if old & RW != 0 {
                self.read_end(t, rs);
            } else {
                self.write_nibble(t, rs, old >> 4);
            }
        }
    }

    fn write_nibble(&mut self, t: u64, rs: bool, nibble: u8) {
        let h = &mut self.hd;
        if t < h.busy_until {
            let early = h.busy_until - t;
            self.report(
                t,
                Problem::Busy {
                    rs,
                    bits: nibble,
                    early,
                },
            );
            return;
        }
        let byte = if h.eight_bit {
            Some(nibble << 4 | 0x0F)
        } else if let Some(high) = h.high.take() {
            Some(high << 4 | nibble)
        } else {
            h.high = Some(nibble);
            None
        };
        if let Some(b) = byte {
            let dt = h.execute(t, rs, b);
            h.busy_until = t + dt;
        }
    }

    fn read_begin(&mut self, t: u64, rs: bool) {
        let h = &mut self.hd;
        if h.eight_bit || !h.read_low {
            h.read_byte = h.read_value(t, rs);
            self.out = h.read_byte & 0xF0;
        } else {
            self.out = h.read_byte << 4;
        }
    }

    fn read_end(&mut self, t: u64, rs: bool) {
        let h = &mut self.hd;
        let done = h.eight_bit || h.read_low;
        if !h.eight_bit {
            h.read_low = !h.read_low;
        }
        if done && rs && t >= h.busy_until {
            h.step_ac(h.increment);
            h.busy_until = t + T_INSTR;
        }
    }

    /// The port pins as a read sees them: a pin written 0 is low; D4-D7 carry the LCD's
    /// output while R/W and E are high; the other pins are pulled up.
    pub fn pins(&self) -> u8 {
        let lcd_drives = self.port & (RW | E) == RW | E;
        let ext = if lcd_drives { self.out | 0x0F } else { 0xFF };
        self.port & ext
    }
}

/// The Unicode character nearest to code `c` of character ROM A00.
pub fn glyph(c: u8) -> char {
    const HIGH: [char; 32] = [
        'α', 'ä', 'β', 'ε', 'μ', 'σ', 'ρ', 'g', '√', '¹', 'j', 'ˣ', '¢', '£', 'ñ', 'ö', 'p', 'q',
        'θ', '∞', 'Ω', 'ü', 'Σ', 'π', 'x', 'y', '千', '万', '円', '÷', ' ', '█',
    ];
    match c {
        0x00..=0x0F => '▒',
        0x5C => '¥',
        0x7E => '→',
        0x7F => '←',
        0x20..=0x7D => c as char,
        0xA1..=0xDF => char::from_u32(0xFF61 + (c - 0xA1) as u32).unwrap_or(' '),
        0xE0..=0xFF => HIGH[(c - 0xE0) as usize],
        _ => ' ',
    }
}

impl I2cDevice for Lcd {
    fn name(&self) -> &str {
        "HD44780 (PCF8574)"
    }

    fn address(&mut self, _t_ns: u64, _read: bool) -> Ack {
        Ack::Ack
    }

    fn write(&mut self, t_ns: u64, byte: u8) -> Ack {
        self.set_port(t_ns, byte);
        Ack::Ack
    }

    fn read(&mut self, _t_ns: u64) -> u8 {
        self.pins()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A driver in the manner of the common MicroPython `i2c_lcd` drivers: each nibble
    /// is two PCF8574 writes, E high then E low, a byte transfer at 100 kHz apart.
    struct Drv {
        lcd: Lcd,
        t: u64,
        bl: u8,
    }

    /// One I2C transfer of address + one byte at 100 kHz: 20 SCL periods.
    const XFER: u64 = 200 * US;

    impl Drv {
        fn new(g: Geometry) -> Drv {
            Drv {
                lcd: Lcd::new(g).unwrap(),
                t: 0,
                bl: BACKLIGHT,
            }
        }

        fn port(&mut self, v: u8) {
            self.lcd.start(self.t);
            self.lcd.address(self.t, false);
            self.t += XFER;
            self.lcd.write(self.t, v);
            self.lcd.stop(self.t);
        }

        fn nibble(&mut self, rs: u8, n: u8) {
            let v = n << 4 | self.bl | rs;
            self.port(v | E);
            self.port(v);
        }

        fn byte(&mut self, rs: u8, b: u8) {
            self.nibble(rs, b >> 4);
            self.nibble(rs, b & 0xF);
        }

        fn cmd(&mut self, b: u8) {
            self.byte(0, b);
            if b <= 3 {
                self.t += 5 * MS;
            }
        }

        fn text(&mut self, s: &[u8]) {
            for &c in s {
                self.byte(RS, c);
            }
        }

        fn sleep_ms(&mut self, ms: u64) {
            self.t += ms * MS;
        }

        /// HD44780U Figure 24, 4-bit, then 2 lines, display on, clear, entry increment.
        fn init(&mut self) {
            self.port(0);
            self.sleep_ms(20);
            self.nibble(0, 0x3);
            self.sleep_ms(5);
            self.nibble(0, 0x3);
            self.sleep_ms(1);
            self.nibble(0, 0x3);
            self.sleep_ms(1);
            self.nibble(0, 0x2);
            self.sleep_ms(1);
            for c in [0x28, 0x08, 0x01, 0x06, 0x0C] {
                self.cmd(c);
            }
        }
    }

    #[test]
    fn four_bit_initialisation_and_text_on_a_1602() {
        let mut d = Drv::new(Geometry::LCD1602);
        assert_eq!(d.lcd.function(), (8, 1, false), "power-on state");
        d.init();
        assert_eq!(d.lcd.function(), (4, 2, false));
        d.text(b"Hello, world!");
        d.cmd(0xC0);
        d.text(b"t=23.5\xDFC \x5C\x7E");
        assert_eq!(d.lcd.lines(), vec!["Hello, world!   ", "t=23.5ﾟC ¥→     "]);
        assert!(d.lcd.backlight() && d.lcd.display_on());
        assert_eq!(d.lcd.cursor(), (0x4B, false));
        assert_eq!(d.lcd.diagnostics(), &[]);
    }

    #[test]
    fn writes_while_busy_are_dropped_and_the_nibbles_slip() {
        let mut d = Drv::new(Geometry::LCD1602);
        d.init();
        d.text(b"AB");
        // Clear display, then "C" 1 ms later: the first nibble of 'C' (0x4) is latched
        // 1.4 ms after the clear, 120 µs early, and dropped; its low nibble 0x3 comes
        // after the busy time and is taken as a high nibble...
        d.byte(0, 0x01);
        let t_clear = d.t;
        d.t += 1_000 * US;
        d.text(b"C");
        let busy = d.lcd.diagnostics().to_vec();
        assert_eq!(
            busy,
            vec![Diagnostic {
                t: t_clear + 1_400 * US,
                problem: Problem::Busy {
                    rs: true,
                    bits: 0x4,
                    early: 120 * US
                }
            }]
        );
        // ... and 'D' then completes it: 0x3 << 4 | 0x4 = '4', and 0x4 waits.
        d.text(b"D");
        assert_eq!(d.lcd.lines()[0], "4               ");
        assert_eq!(d.lcd.hd.high, Some(0x4));
    }

    #[test]
    fn busy_flag_and_address_read_through_the_port() {
        let mut d = Drv::new(Geometry::LCD1602);
        d.init();
        d.text(b"xyz");
        // A read: D4-D7 written 1 (inputs), R/W high, E high: the LCD drives them.
        d.port(0xF0 | d.bl | RW | E);
        let hi = d.lcd.read(d.t);
        d.port(0xF0 | d.bl | RW);
        d.port(0xF0 | d.bl | RW | E);
        let lo = d.lcd.read(d.t);
        d.port(0xF0 | d.bl | RW);
        // Busy flag clear (the last write executed 200 µs ago), AC = 3.
        assert_eq!((hi & 0xF0) | (lo >> 4), 0x03);
        assert_eq!(hi & 0x0F, d.bl | RW | E);
        // Read data: set DDRAM address 1, read 'y' and the counter moves to 2.
        d.cmd(0x81);
        d.port(0xF0 | d.bl | RW | RS | E);
        let hi = d.lcd.read(d.t);
        d.port(0xF0 | d.bl | RW | RS);
        d.port(0xF0 | d.bl | RW | RS | E);
        let lo = d.lcd.read(d.t);
        d.port(0xF0 | d.bl | RW | RS);
        assert_eq!((hi & 0xF0) | (lo >> 4), b'y');
        assert_eq!(d.lcd.cursor().0, 2);
        // Busy right after a clear: BF = 1.
        d.byte(0, 0x01);
        d.port(0xF0 | d.bl | RW | E);
        assert_eq!(d.lcd.read(d.t) & 0x80, 0x80);
        // With E low the LCD drives nothing: the port reads back what was written.
        d.t += 5 * MS;
        d.port(0x5A & !E);
        assert_eq!(d.lcd.read(d.t), 0x5A & !E);
    }

    #[test]
    fn rows_of_a_2004_shift_and_entry_modes() {
        let mut d = Drv::new(Geometry::LCD2004);
        d.init();
        for (addr, s) in [
            (0x00u8, b"row0"),
            (0x40, b"row1"),
            (0x14, b"row2"),
            (0x54, b"row3"),
        ] {
            d.cmd(0x80 | addr);
            d.text(s);
        }
        let l = d.lcd.lines();
        assert_eq!(
            l.iter().map(|s| s.trim_end()).collect::<Vec<_>>(),
            vec!["row0", "row1", "row2", "row3"]
        );
        // Shift the display left once: every row moves, row 0 pulls from row 2's line.
        d.cmd(0x18);
        let l = d.lcd.lines();
        assert_eq!(&l[0][..4], "ow0 ");
        assert_eq!(&l[2][..4], "ow2 ");
        assert_eq!(l[0].chars().nth(19), Some('r'), "row 2's first character");
        // Home undoes the shift; decrementing entry mode writes leftwards.
        d.cmd(0x02);
        d.cmd(0x04);
        d.cmd(0x80 | 0x13);
        d.text(b"ab");
        assert_eq!(&d.lcd.lines()[0][18..20], "ba");
        // One-line mode: rows 1 and 3 go blank.
        d.cmd(0x20);
        let l = d.lcd.lines();
        assert_eq!(l[1].trim(), "");
        assert_eq!(l[0].trim_end(), "row0              ba");
        assert_eq!(d.lcd.diagnostics(), &[]);
    }

    #[test]
    fn custom_characters_and_hold_violations() {
        let mut d = Drv::new(Geometry::LCD1602);
        d.init();
        d.cmd(0x40 | 8); // CGRAM character 1
        d.text(&[0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F, 0x00]);
        d.cmd(0x80);
        d.text(&[1, b'!']);
        assert_eq!(
            &d.lcd.cgram()[8..16],
            &[0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F, 0]
        );
        assert_eq!(d.lcd.codes()[0][..2], [1, b'!']);
        assert!(d.lcd.lines()[0].starts_with("▒!"));
        // A driver that drops E and changes the data in one write.
        let t = d.t;
        d.port(0x40 | d.bl | RS | E);
        d.port(0x10 | d.bl | RS);
        assert_eq!(
            d.lcd.diagnostics(),
            &[Diagnostic {
                t: t + 2 * XFER,
                problem: Problem::Hold {
                    before: 0x40 | BACKLIGHT | RS | E,
                    after: 0x10 | BACKLIGHT | RS
                }
            }]
        );
        assert_eq!(d.lcd.hd.high, Some(0x4), "the old nibble was latched");
        assert!(Lcd::new(Geometry { cols: 40, rows: 4 }).is_err());
        assert_eq!(
            Lcd::new(Geometry { cols: 16, rows: 3 })
                .unwrap_err()
                .to_string(),
            "HD44780: a 16x3 module does not exist: 1 or 2 rows of 8-40 characters, or 4 rows \
             of 8-20"
        );
    }

    #[test]
    fn writes_during_the_power_on_reset_are_dropped() {
        let mut lcd = Lcd::new(Geometry::LCD1602).unwrap();
        lcd.set_port(MS, 0x30 | E);
        lcd.set_port(2 * MS, 0x30);
        assert_eq!(
            lcd.diagnostics()[0].problem,
            Problem::Busy {
                rs: false,
                bits: 0x3,
                early: 8 * MS
            }
        );
        // The first write after power-on (port 0xFF -> 0x00) is the end of a read with
        // E high: not a write.
        let mut lcd = Lcd::new(Geometry::LCD1602).unwrap();
        lcd.set_port(20 * MS, 0x00);
        assert_eq!(lcd.diagnostics(), &[]);
        assert_eq!(glyph(0xA1), '｡');
        assert_eq!(glyph(0xE4), 'μ');
    }
}
