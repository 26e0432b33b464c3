//! The Solomon Systech SSD1306 OLED controller on a 128x64 module, on I2C or on 4-wire
//! SPI (SSD1306 datasheet Rev 1.1: §8.1.3 4-wire SPI, §8.1.5 I2C, §8.5 reset, §8.7 GDDRAM,
//! §9 command table, §10 command descriptions). An [`I2cDevice`], a [`SpiDevice`], and a
//! [`Part`] for its RES#, D/C# and CS# pins.
//!
//! Datasheet facts used:
//! - I2C: slave address 011110 SA0 (0x3C or 0x3D). After the address, a control byte:
//!   Co (bit 7) and D/C# (bit 6), the other bits 0. Co = 0: every following byte of the
//!   transfer is data (D/C# = 1) or command (D/C# = 0); Co = 1: one byte follows, then a
//!   new control byte.
//! - 4-wire SPI: bytes MSB first while CS# is low; D/C# is sampled with the byte's last
//!   bit (low: command, high: data). The controller has no data output.
//! - RES# low resets it (§8.5): display off, multiplex 64, normal SEG and COM mapping,
//!   start line 0, column 0, normal display, contrast 0x7F. Page addressing mode, column
//!   range 0-127 and page range 0-7, display offset 0, COM pins 0x12, charge pump off
//!   (the reset values of the §9 command table).
//! - GDDRAM: 8 pages of 128 columns; a data byte fills one column of the page under the
//!   pointer, bit 0 at the top. Addressing modes (§10.1.3): page (the column pointer
//!   advances and wraps to the start column, the page stays), horizontal (column, then
//!   page at the column end), vertical (page, then column at the page end), within the
//!   ranges set by 21h/22h, which also move the pointer to their starts.
//!
//! What drives it: micropython-lib's `ssd1306` (`SSD1306_I2C`: each command as a
//! two-byte transfer 0x80, cmd; the frame buffer as 0x40 then 1024 bytes; `SSD1306_SPI`:
//! D/C#, CS# and RES# on GPIO pins, a 1 ms / 10 ms reset pulse at start), after
//! `framebuf.FrameBuffer(MONO_VLSB)` draws: display off, horizontal mode, start line 0,
//! segment remap (A1h), multiplex 63, COM scan remapped (C8h), offset 0, COM pins 0x12,
//! clock 0x80, precharge, VCOMH, contrast 0xFF, A4h, A6h, ADh 30h (an SSD1315 command),
//! charge pump 14h, display on; `show()` sets columns 0-127 and pages 0-7 then writes the
//! buffer.
//!
//! Modelled:
//! - The commands above and all those micropython-lib sends: display on/off (AEh/AFh),
//!   addressing mode (20h), column and page address (21h, 22h), page start (B0h-B7h),
//!   column start nibbles (00h-1Fh), charge pump (8Dh), contrast (81h), segment remap
//!   (A0h/A1h), COM scan direction (C0h/C8h), multiplex ratio (A8h, 16-64), display
//!   offset (D3h), start line (40h-7Fh), inverse (A6h/A7h), entire display on
//!   (A4h/A5h). Clock (D5h), precharge (D9h), VCOMH (DBh) and COM pins (DAh) are stored;
//!   ADh takes its parameter and does nothing.
//! - What the glass shows ([`Ssd1306::screen`]): the module is mounted as the common
//!   0.96" 128x64 ones are, which show the RAM upright with A1h and C8h (as the drivers
//!   send): glass column x is on SEG 127 - x and glass row y on COM 63 - y. COM c shows
//!   the row counter k = c + offset (normal scan) or N - 1 - c + offset (remapped), modulo
//!   64, lit only when k < N, the multiplex ratio; row counter k shows GDDRAM row
//!   start + k (modulo 64). Inverse flips every pixel; entire display on lights them all
//!   (inverse or not); the panel is dark while the display is off, while RES# is low,
//!   or without the charge pump on a module that needs it (`external_vcc` false, as the
//!   driver's default).
//! - Outputs: the pixels as a [`Bitmap`], a text rendering in half-block characters
//!   (two pixel rows per character: '▀', '▄', '█', ' ') for the TUI, and PNG.
//!
//! Not modelled (logged once when used):
//! - Scrolling (26h/27h/29h/2Ah/A3h take their parameters; 2Fh does not scroll), fade and
//!   zoom, COM pins configurations other than 0x12 (drawn as 0x12), contrast and
//!   precharge as brightness (stored, reported by [`Ssd1306::contrast`]), reads over I2C
//!   (an address with R/W# = 1 is not acknowledged), the 3-wire SPI and parallel
//!   interfaces, the SPI clock limit (10 MHz), the power-on GDDRAM contents (random on
//!   silicon, zero here), other panel sizes (128x32, 64x48).

use std::collections::BTreeSet;

use pybsim_peripherals::i2c::{Ack, I2cDevice};
use pybsim_peripherals::spi::SpiDevice;

use crate::{Part, PartCtx, PinDir, PinSpec};

const T: &str = "part::ssd1306";

pub const WIDTH: usize = 128;
pub const HEIGHT: usize = 64;

/// A monochrome picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    pub width: usize,
    pub height: usize,
    /// Row by row, `true` = lit.
    pub pixels: Vec<bool>,
}

/// A picture that cannot be encoded.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error("PNG scale must be 1 to 16, not {0}")]
    Scale(u32),
    #[error("PNG encoding: {0}")]
    Png(#[from] png::EncodingError),
}

impl Bitmap {
    pub fn new(width: usize, height: usize) -> Bitmap {
        Bitmap {
            width,
            height,
            pixels: vec![false; width * height],
        }
    }

    pub fn get(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.height && self.pixels[y * self.width + x]
    }

    pub fn set(&mut self, x: usize, y: usize, on: bool) {
        if x < self.width && y < self.height {
            self.pixels[y * self.width + x] = on;
        }
    }

    pub fn lit(&self) -> usize {
        self.pixels.iter().filter(|p| **p).count()
    }

    /// One line of text per two pixel rows: '▀' top lit, '▄' bottom lit, '█' both, ' '.
    pub fn half_blocks(&self) -> Vec<String> {
        (0..self.height.div_ceil(2))
            .map(|r| {
                (0..self.width)
                    .map(|x| match (self.get(x, 2 * r), self.get(x, 2 * r + 1)) {
                        (true, true) => '█',
                        (true, false) => '▀',
                        (false, true) => '▄',
                        (false, false) => ' ',
                    })
                    .collect()
            })
            .collect()
    }

    /// A PNG of the picture, each pixel a `scale` x `scale` square of colour `on` or
    /// `off` (RGB).
    pub fn to_png(&self, scale: u32, on: [u8; 3], off: [u8; 3]) -> Result<Vec<u8>, PictureError> {
        if !(1..=16).contains(&scale) {
            return Err(PictureError::Scale(scale));
        }
        let s = scale as usize;
        let (w, h) = (self.width * s, self.height * s);
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(if self.get(x / s, y / s) { &on } else { &off });
            }
        }
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&data)?;
        writer.finish()?;
        Ok(out)
    }
}

/// GDDRAM addressing mode (20h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    Horizontal,
    Vertical,
    Page,
}

/// Where an I2C write transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Not addressed, or addressed for reading.
    Idle,
    /// The next byte is a control byte.
    Control,
    /// Co = 1: one byte, then a control byte; `data` is D/C#.
    One { data: bool },
    /// Co = 0: bytes until the stop.
    Stream { data: bool },
}

/// Registers set by commands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Regs {
    display_on: bool,
    charge_pump: bool,
    contrast: u8,
    entire_on: bool,
    inverse: bool,
    seg_remap: bool,
    com_remap: bool,
    /// Multiplex ratio less one (15-63).
    mux: u8,
    offset: u8,
    start_line: u8,
    com_pins: u8,
    clock: u8,
    precharge: u8,
    vcomh: u8,
    mode: Addressing,
    col_range: (u8, u8),
    page_range: (u8, u8),
    /// Column the page mode wraps to (set by 00h-1Fh).
    page_col_start: u8,
    col: u8,
    page: u8,
}

impl Regs {
    const RESET: Regs = Regs {
        display_on: false,
        charge_pump: false,
        contrast: 0x7F,
        entire_on: false,
        inverse: false,
        seg_remap: false,
        com_remap: false,
        mux: 63,
        offset: 0,
        start_line: 0,
        com_pins: 0x12,
        clock: 0x80,
        precharge: 0x22,
        vcomh: 0x20,
        mode: Addressing::Page,
        col_range: (0, 127),
        page_range: (0, 7),
        page_col_start: 0,
        col: 0,
        page: 0,
    };
}

/// Bytes a command takes, itself included.
fn command_len(cmd: u8) -> usize {
    match cmd {
        0x81 | 0x20 | 0xA8 | 0xD3 | 0xDA | 0xD5 | 0xD9 | 0xDB | 0x8D | 0xAD => 2,
        0x21 | 0x22 | 0xA3 => 3,
        0x29 | 0x2A => 6,
        0x26 | 0x27 => 7,
        _ => 1,
    }
}

/// The controller and its panel.
#[derive(Debug, Clone)]
pub struct Ssd1306 {
    ram: [[u8; WIDTH]; 8],
    regs: Regs,
    external_vcc: bool,
    /// A command and the parameters received so far.
    pending: Vec<u8>,
    link: Link,
    /// Pin levels: RES#, D/C#, CS#.
    res: bool,
    dc: bool,
    cs: bool,
    /// Time of the last pin change or bus call (ns), for SPI bytes, which carry none.
    last_t: u64,
    /// Commands and features already warned about.
    warned: BTreeSet<u8>,
    bytes: u64,
}

const PINS: &[PinSpec] = &[
    PinSpec {
        name: "RES",
        dir: PinDir::Input,
    },
    PinSpec {
        name: "DC",
        dir: PinDir::Input,
    },
    PinSpec {
        name: "CS",
        dir: PinDir::Input,
    },
];

/// Pin numbers in [`Part::pins`].
pub const PIN_RES: usize = 0;
pub const PIN_DC: usize = 1;
pub const PIN_CS: usize = 2;

impl Default for Ssd1306 {
    fn default() -> Self {
        Ssd1306::new(false)
    }
}

impl Ssd1306 {
    /// A module at power-on. `external_vcc`: the panel supply comes from outside, so the
    /// charge pump is not needed to light it.
    pub fn new(external_vcc: bool) -> Ssd1306 {
        Ssd1306 {
            ram: [[0; WIDTH]; 8],
            regs: Regs::RESET,
            external_vcc,
            pending: Vec::new(),
            link: Link::Idle,
            res: true,
            dc: false,
            cs: false,
            last_t: 0,
            warned: BTreeSet::new(),
            bytes: 0,
        }
    }

    /// The hardware reset (RES# low): registers to their reset values; GDDRAM kept.
    fn reset(&mut self) {
        self.regs = Regs::RESET;
        self.pending.clear();
        self.link = Link::Idle;
    }

    fn warn_once(&mut self, key: u8, what: &str) {
        if self.warned.insert(key) {
            tracing::warn!(target: "part::unmodelled", t_ns = self.last_t, dev = "SSD1306", code = key, "{what} (warned once)");
        }
    }

    /// A byte for the controller: a command (or parameter) or GDDRAM data.
    pub fn byte(&mut self, data: bool, b: u8) {
        if !self.res {
            return;
        }
        self.bytes += 1;
        if data {
            self.data(b);
        } else {
            self.command(b);
        }
    }

    fn data(&mut self, b: u8) {
        let r = &mut self.regs;
        self.ram[r.page as usize & 7][r.col as usize & 0x7F] = b;
        match r.mode {
            Addressing::Page => {
                r.col = if r.col >= 127 {
                    r.page_col_start
                } else {
                    r.col + 1
                };
            }
            Addressing::Horizontal => {
                if r.col >= r.col_range.1 {
                    r.col = r.col_range.0;
                    r.page = if r.page >= r.page_range.1 {
                        r.page_range.0
                    } else {
                        r.page + 1
                    };
                } else {
                    r.col += 1;
                }
            }
            Addressing::Vertical => {
                if r.page >= r.page_range.1 {
                    r.page = r.page_range.0;
                    r.col = if r.col >= r.col_range.1 {
                        r.col_range.0
                    } else {
                        r.col + 1
                    };
                } else {
                    r.page += 1;
                }
            }
        }
    }

    fn command(&mut self, b: u8) {
        self.pending.push(b);
        if self.pending.len() < command_len(self.pending[0]) {
            return;
        }
        let c = std::mem::take(&mut self.pending);
        tracing::trace!(target: T, t_ns = self.last_t, cmd = ?c, "command");
        let r = &mut self.regs;
        match c[0] {
            0x00..=0x0F => {
                r.page_col_start = (r.page_col_start & 0xF0) | (c[0] & 0x0F);
                r.col = r.page_col_start;
            }
            0x10..=0x1F => {
                r.page_col_start = (r.page_col_start & 0x0F) | ((c[0] & 0x07) << 4);
                r.col = r.page_col_start;
            }
            0x20 => match c[1] & 3 {
                0 => r.mode = Addressing::Horizontal,
                1 => r.mode = Addressing::Vertical,
                2 => r.mode = Addressing::Page,
                _ => self.warn_once(0x20, "addressing mode 11b is invalid: ignored"),
            },
            0x21 => {
                r.col_range = (c[1] & 0x7F, c[2] & 0x7F);
                r.col = r.col_range.0;
            }
            0x22 => {
                r.page_range = (c[1] & 7, c[2] & 7);
                r.page = r.page_range.0;
            }
            0x40..=0x7F => r.start_line = c[0] & 0x3F,
            0x81 => r.contrast = c[1],
            0x8D => r.charge_pump = c[1] & 0x04 != 0,
            0xA0 | 0xA1 => r.seg_remap = c[0] & 1 != 0,
            0xA4 | 0xA5 => r.entire_on = c[0] & 1 != 0,
            0xA6 | 0xA7 => r.inverse = c[0] & 1 != 0,
            0xA8 => {
                let m = c[1] & 0x3F;
                if m < 15 {
                    self.warn_once(0xA8, "multiplex ratio below 16 is invalid: ignored");
                } else {
                    r.mux = m;
                }
            }
            0xAE | 0xAF => r.display_on = c[0] & 1 != 0,
            0xB0..=0xB7 => r.page = c[0] & 7,
            0xC0..=0xCF => r.com_remap = c[0] & 0x08 != 0,
            0xD3 => r.offset = c[1] & 0x3F,
            0xD5 => r.clock = c[1],
            0xD9 => r.precharge = c[1],
            0xDB => r.vcomh = c[1],
            0xDA => {
                r.com_pins = c[1];
                if c[1] & 0x32 != 0x12 {
                    self.warn_once(
                        0xDA,
                        "COM pins configuration other than 0x12 not modelled: drawn as 0x12",
                    );
                }
            }
            0xAD => self.warn_once(
                0xAD,
                "ADh (SSD1315 IREF select) is not an SSD1306 command: parameter ignored",
            ),
            0xE3 => {}
            0x26 | 0x27 | 0x29 | 0x2A | 0xA3 | 0x2E | 0x2F => {
                if c[0] != 0x2E {
                    self.warn_once(0x2F, "scrolling not modelled");
                }
            }
            other => self.warn_once(other, "command not modelled: ignored"),
        }
    }

    /// Whether the panel is lit at all.
    pub fn lit(&self) -> bool {
        self.res && self.regs.display_on && (self.regs.charge_pump || self.external_vcc)
    }

    /// The pixel at glass position (`x`, `y`), (0, 0) top left.
    pub fn pixel(&self, x: usize, y: usize) -> bool {
        if x >= WIDTH || y >= HEIGHT || !self.lit() {
            return false;
        }
        let r = &self.regs;
        if r.entire_on {
            return true;
        }
        let com = (63 - y) as i32;
        let n = r.mux as i32 + 1;
        let k = if r.com_remap { n - 1 - com } else { com } + r.offset as i32;
        let k = k.rem_euclid(64);
        if k >= n {
            return false;
        }
        let row = (r.start_line as usize + k as usize) % 64;
        let seg = WIDTH - 1 - x;
        let col = if r.seg_remap { WIDTH - 1 - seg } else { seg };
        let on = self.ram[row / 8][col] >> (row % 8) & 1 != 0;
        on != r.inverse
    }

    /// What the panel shows.
    pub fn screen(&self) -> Bitmap {
        let mut b = Bitmap::new(WIDTH, HEIGHT);
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                b.set(x, y, self.pixel(x, y));
            }
        }
        b
    }

    /// GDDRAM, page by page.
    pub fn gddram(&self) -> &[[u8; WIDTH]; 8] {
        &self.ram
    }

    pub fn contrast(&self) -> u8 {
        self.regs.contrast
    }

    pub fn addressing(&self) -> Addressing {
        self.regs.mode
    }

    /// Bytes taken (commands, parameters and data).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// An SPI frame at `t_ns` (8 or 16 bits, MSB first): taken while CS# is low, each byte
    /// a command or data by D/C#. Answers 0 (the controller has no data output).
    pub fn spi_frame(&mut self, t_ns: u64, mosi: u16, bits: u8) -> u16 {
        self.last_t = self.last_t.max(t_ns);
        if self.cs {
            return 0;
        }
        if bits > 8 {
            self.byte(self.dc, (mosi >> 8) as u8);
        }
        self.byte(self.dc, mosi as u8);
        0
    }
}

impl I2cDevice for Ssd1306 {
    fn name(&self) -> &str {
        "SSD1306"
    }

    fn start(&mut self, t_ns: u64) {
        self.last_t = t_ns;
        self.link = Link::Idle;
    }

    fn address(&mut self, t_ns: u64, read: bool) -> Ack {
        self.last_t = t_ns;
        if read || !self.res {
            self.link = Link::Idle;
            return Ack::Nack;
        }
        self.link = Link::Control;
        Ack::Ack
    }

    fn write(&mut self, t_ns: u64, b: u8) -> Ack {
        self.last_t = t_ns;
        match self.link {
            Link::Idle => return Ack::Nack,
            Link::Control => {
                if b & 0x3F != 0 {
                    self.warn_once(0x00, "control byte with its low six bits set");
                }
                let data = b & 0x40 != 0;
                self.link = if b & 0x80 != 0 {
                    Link::One { data }
                } else {
                    Link::Stream { data }
                };
            }
            Link::One { data } => {
                self.byte(data, b);
                self.link = Link::Control;
            }
            Link::Stream { data } => self.byte(data, b),
        }
        Ack::Ack
    }

    fn read(&mut self, _t_ns: u64) -> u8 {
        0xFF
    }

    fn stop(&mut self, t_ns: u64) {
        self.last_t = t_ns;
        self.link = Link::Idle;
    }
}

impl SpiDevice for Ssd1306 {
    /// The frame is taken at the time of the last pin change (the CS# fall before it);
    /// a board that knows the frame's time calls [`Ssd1306::spi_frame`] instead.
    fn exchange(&mut self, mosi: u16, bits: u8, _mode: u8) -> u16 {
        self.spi_frame(self.last_t, mosi, bits)
    }
}

impl Part for Ssd1306 {
    fn name(&self) -> &str {
        "SSD1306"
    }

    fn pins(&self) -> &'static [PinSpec] {
        PINS
    }

    fn pin_changed(&mut self, ctx: &mut PartCtx, pin: usize, level: bool) {
        self.last_t = ctx.now;
        match pin {
            PIN_RES => {
                if !level && self.res {
                    tracing::debug!(target: T, t_ns = ctx.now, "RES# low: reset");
                    self.reset();
                }
                self.res = level;
            }
            PIN_DC => self.dc = level,
            PIN_CS => self.cs = level,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands micropython-lib's `init_display` sends for a 128x64 module.
    const INIT: &[u8] = &[
        0xAE, 0x20, 0x00, 0x40, 0xA1, 0xA8, 63, 0xC8, 0xD3, 0x00, 0xDA, 0x12, 0xD5, 0x80, 0xD9,
        0xF1, 0xDB, 0x30, 0x81, 0xFF, 0xA4, 0xA6, 0xAD, 0x30, 0x8D, 0x14, 0xAF,
    ];

    /// `SSD1306_I2C.write_cmd`: one transfer 0x80, cmd.
    fn cmd(d: &mut Ssd1306, t: u64, c: u8) {
        d.start(t);
        assert_eq!(d.address(t, false), Ack::Ack);
        d.write(t, 0x80);
        d.write(t, c);
        d.stop(t);
    }

    /// `SSD1306_I2C.write_data`: 0x40 then the buffer.
    fn data(d: &mut Ssd1306, t: u64, buf: &[u8]) {
        d.start(t);
        d.address(t, false);
        d.write(t, 0x40);
        for &b in buf {
            d.write(t, b);
        }
        d.stop(t);
    }

    /// `show()`: columns 0-127, pages 0-7, the MONO_VLSB buffer.
    fn show(d: &mut Ssd1306, fb: &[u8]) {
        for c in [0x21, 0, 127, 0x22, 0, 7] {
            cmd(d, 0, c);
        }
        data(d, 0, fb);
    }

    /// A MONO_VLSB frame buffer (what `framebuf` draws) with pixels set.
    fn framebuf(pixels: &[(usize, usize)]) -> Vec<u8> {
        let mut fb = vec![0u8; 1024];
        for &(x, y) in pixels {
            fb[(y / 8) * 128 + x] |= 1 << (y % 8);
        }
        fb
    }

    fn booted() -> Ssd1306 {
        let mut d = Ssd1306::new(false);
        for &c in INIT {
            cmd(&mut d, 0, c);
        }
        show(&mut d, &[0; 1024]);
        d
    }

    #[test]
    fn micropython_driver_over_i2c_shows_the_frame_buffer_upright() {
        let mut d = booted();
        assert!(d.lit());
        assert_eq!(d.screen().lit(), 0);
        let px = [(0, 0), (127, 0), (0, 63), (127, 63), (5, 9), (64, 32)];
        show(&mut d, &framebuf(&px));
        let s = d.screen();
        assert_eq!(s.lit(), px.len());
        for (x, y) in px {
            assert!(s.get(x, y), "({x}, {y})");
        }
        assert_eq!(d.addressing(), Addressing::Horizontal);
        assert_eq!(d.contrast(), 0xFF);
        // The ADh command took its parameter: nothing after it was misread.
        assert_eq!(d.gddram()[1][5], 0x02);
    }

    #[test]
    fn rotate_off_turns_the_picture_half_round() {
        let mut d = booted();
        show(&mut d, &framebuf(&[(0, 0), (10, 3)]));
        // `rotate(0)`: C0h, A0h.
        cmd(&mut d, 0, 0xC0);
        cmd(&mut d, 0, 0xA0);
        let s = d.screen();
        assert!(s.get(127, 63) && s.get(117, 60));
        assert_eq!(s.lit(), 2);
    }

    #[test]
    fn invert_entire_on_display_off_and_charge_pump() {
        let mut d = booted();
        show(&mut d, &framebuf(&[(1, 1)]));
        cmd(&mut d, 0, 0xA7);
        assert_eq!(d.screen().lit(), 128 * 64 - 1);
        assert!(!d.pixel(1, 1));
        cmd(&mut d, 0, 0xA5);
        assert_eq!(d.screen().lit(), 128 * 64);
        cmd(&mut d, 0, 0xA4);
        cmd(&mut d, 0, 0xA6);
        cmd(&mut d, 0, 0xAE);
        assert_eq!(d.screen().lit(), 0, "display off");
        cmd(&mut d, 0, 0xAF);
        assert_eq!(d.screen().lit(), 1);
        cmd(&mut d, 0, 0x8D);
        cmd(&mut d, 0, 0x10);
        assert!(!d.lit(), "no charge pump, no panel supply");
        let mut ext = Ssd1306::new(true);
        for c in [0x8D, 0x10, 0xAF, 0xA5] {
            cmd(&mut ext, 0, c);
        }
        assert_eq!(ext.screen().lit(), 128 * 64, "external VCC");
    }

    #[test]
    fn multiplex_offset_and_start_line() {
        let mut d = booted();
        // RAM rows 0 and 40 at column 0.
        show(&mut d, &framebuf(&[(0, 0), (0, 40)]));
        // Start line 8: glass row y shows RAM row y + 8.
        cmd(&mut d, 0, 0x48);
        assert!(d.pixel(0, 56) && d.pixel(0, 32));
        assert_eq!(d.screen().lit(), 2);
        cmd(&mut d, 0, 0x40);
        // Multiplex 32 with the remapped scan: COM 31..0 carry rows 0..31, the bottom
        // half of the glass; RAM row 40 is beyond the ratio.
        cmd(&mut d, 0, 0xA8);
        cmd(&mut d, 0, 31);
        let s = d.screen();
        assert!(s.get(0, 32));
        assert_eq!(s.lit(), 1);
        // Offset 32 moves them to COM 63..32, the top half.
        cmd(&mut d, 0, 0xD3);
        cmd(&mut d, 0, 32);
        let s = d.screen();
        assert!(s.get(0, 0));
        assert_eq!(s.lit(), 1);
    }

    #[test]
    fn page_and_vertical_addressing() {
        let mut d = booted();
        // Page mode: page 2, column 0x7E; writes wrap to the page-mode start column 0x7E.
        for c in [0x20, 0x02, 0xB2, 0x0E, 0x17] {
            cmd(&mut d, 0, c);
        }
        data(&mut d, 0, &[1, 2, 3]);
        assert_eq!((d.gddram()[2][126], d.gddram()[2][127]), (3, 2));
        assert_eq!(d.gddram()[3][0], 0, "the page stays");
        // Vertical mode in a window of columns 10-11 and pages 6-7.
        for c in [0x20, 0x01, 0x21, 10, 11, 0x22, 6, 7] {
            cmd(&mut d, 0, c);
        }
        data(&mut d, 0, &[0xA, 0xB, 0xC, 0xD, 0xE]);
        let g = d.gddram();
        assert_eq!(
            (g[6][10], g[7][10], g[6][11], g[7][11]),
            (0xE, 0xB, 0xC, 0xD)
        );
        // A stream of commands with Co = 0.
        d.start(0);
        d.address(0, false);
        for b in [0x00, 0xA7, 0xAE] {
            d.write(0, b);
        }
        d.stop(0);
        assert!(!d.lit());
        assert_eq!(d.bytes(), 5 + 3 + 8 + 5 + 2 + INIT.len() as u64 + 6 + 1024);
        // A read address is not acknowledged.
        assert_eq!(d.address(0, true), Ack::Nack);
    }

    #[test]
    fn spi_samples_dc_per_byte_and_honours_cs_and_res() {
        use crate::testing::Bench;
        let mut b = Bench::new(Ssd1306::new(false));
        // SSD1306_SPI.__init__: RES high, 1 ms, low, 10 ms, high.
        b.set(PIN_RES, Some(true));
        b.set(PIN_CS, Some(true));
        b.wave(
            PIN_RES,
            &[(true, 1_000_000), (false, 10_000_000), (true, 0)],
        );
        // SSD1306_SPI.write_cmd / write_data: CS# high, D/C#, CS# low, bytes, CS# high.
        fn send(b: &mut Bench<Ssd1306>, dc: bool, bytes: &[u8]) {
            b.set(PIN_CS, Some(true));
            b.set(PIN_DC, Some(dc));
            b.set(PIN_CS, Some(false));
            for &x in bytes {
                let t = b.now;
                b.part_mut().spi_frame(t, x as u16, 8);
            }
            b.set(PIN_CS, Some(true));
        }
        for &c in INIT {
            send(&mut b, false, &[c]);
        }
        send(&mut b, false, &[0x21, 0, 127, 0x22, 0, 7]);
        send(&mut b, true, &framebuf(&[(3, 4)]));
        assert!(b.part().pixel(3, 4));
        assert_eq!(b.part().screen().lit(), 1);
        // CS# high: ignored.
        let t = b.now;
        b.part_mut().spi_frame(t, 0xA7, 8);
        assert!(!b.part().pixel(0, 0));
        // The SpiDevice door, a 16-bit frame: two commands.
        b.set(PIN_DC, Some(false));
        b.set(PIN_CS, Some(false));
        assert_eq!(SpiDevice::exchange(b.part_mut(), 0xA7A5, 16, 0), 0);
        assert_eq!(b.part().screen().lit(), 128 * 64);
        // RES# low: registers reset (display off), GDDRAM kept.
        b.set(PIN_RES, Some(false));
        assert!(!b.part().lit());
        assert_eq!(b.part().gddram()[0][3], 0x10);
        b.set(PIN_RES, Some(true));
        assert_eq!(b.part().addressing(), Addressing::Page);
    }

    #[test]
    fn half_blocks_and_png() {
        let mut bm = Bitmap::new(4, 4);
        for (x, y) in [(0, 0), (1, 1), (2, 0), (2, 1), (3, 3)] {
            bm.set(x, y, true);
        }
        assert_eq!(
            bm.half_blocks(),
            vec!["▀▄█ ".to_string(), "   ▄".to_string()]
        );
        let png = bm.to_png(2, [255, 255, 255], [0, 0, 40]).unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(png));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (8, 8));
        let px = |x: usize, y: usize| &buf[(y * 8 + x) * 3..(y * 8 + x) * 3 + 3];
        assert_eq!(px(0, 0), &[255, 255, 255]);
        assert_eq!(px(1, 1), &[255, 255, 255]);
        assert_eq!(px(2, 0), &[0, 0, 40]);
        assert_eq!(px(7, 7), &[255, 255, 255]);
        assert!(matches!(
            bm.to_png(0, [0; 3], [0; 3]),
            Err(PictureError::Scale(0))
        ));
        // The whole display renders as 32 lines of 128 characters.
        let d = booted();
        let text = d.screen().half_blocks();
        assert_eq!((text.len(), text[0].chars().count()), (32, 128));
    }
}
