//! Pyboard board descriptions and stimuli files (RON), their serde types and checks.
//!
//! A board file (`boards/pybv11.ron`, `boards/pybv10.ron`) says what MCU the board has,
//! its clock sources, memories, peripherals (base address, size, NVIC lines), the board
//! names of its pins, its LEDs, switch and accelerometer, and default wiring.
//! [`Board::load`] / [`Board::parse`] read one and check it; every problem is a
//! [`LoadError`] naming file, line and column.
//!
//! A stimuli file ([`Stimuli`]) lists inputs to apply at virtual times: switch presses,
//! UART and console input, pin levels.

mod duration;
mod error;
pub mod input;
mod locate;
mod pin;
mod stimuli;

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

pub use duration::{parse_duration, DurationError, SimTime};
pub use error::{one_line_escaped, LoadError, Location, Problem};
pub use pin::{PinId, Wire, WireError, PORT_LETTERS};
pub use pybsim_peripherals::registry::{rm0090_names, PeripheralKind, ALL_KINDS};
pub use stimuli::{adc_channel, Bytes, Event, Interp, Micro, Stimuli, MAX_EVENTS};

use error::Source;
use locate::Seg;

/// The board files built into the crate: `(name, file name, text)`.
const BUILTIN: &[(&str, &str, &str)] = &[
    ("pybv11", "boards/pybv11.ron", include_str!("../pybv11.ron")),
    ("pybv10", "boards/pybv10.ron", include_str!("../pybv10.ron")),
];

/// A board: MCU, clocks, memories, peripherals, pins and on-board devices.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Human name, e.g. `"PYBv1.1"`.
    pub name: String,
    pub mcu: Mcu,
    pub clocks: Clocks,
    #[serde(default)]
    pub memories: Vec<Memory>,
    #[serde(default)]
    pub peripherals: Vec<Peripheral>,
    /// Board names of pins (`X1` -> `A0`).
    #[serde(default)]
    pub pins: Vec<PinAlias>,
    #[serde(default)]
    pub leds: Vec<Led>,
    #[serde(default)]
    pub switch: Option<Switch>,
    #[serde(default)]
    pub accelerometer: Option<Accelerometer>,
    /// Wires present unless the command line says otherwise.
    #[serde(default)]
    pub wiring: Vec<Wire>,
}

/// The microcontroller.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mcu {
    /// Part number, e.g. `"STM32F405RG"`.
    pub part: String,
    /// CPU core, e.g. `"cortex-m4f"`.
    pub core: String,
    /// Highest core clock the part is rated for, in Hz.
    pub max_sysclk_hz: u32,
    /// Number of external interrupt lines of the NVIC (82 on the F405: IRQ 0..=81).
    pub irq_lines: u32,
}

/// Clock sources, in Hz.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clocks {
    /// External crystal (HSE).
    pub hse_hz: u32,
    /// External 32.768 kHz crystal (LSE).
    pub lse_hz: u32,
    /// Internal RC (HSI).
    pub hsi_hz: u32,
    /// Internal low-speed RC (LSI).
    pub lsi_hz: u32,
}

/// A memory region.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub name: String,
    pub kind: MemoryKind,
    pub base: u32,
    pub size: u32,
    pub access: Access,
    /// Other addresses the same bytes appear at (flash at 0 after reset).
    #[serde(default)]
    pub aliases: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum MemoryKind {
    Flash,
    Sram,
    /// Core-coupled memory: on the data bus only.
    Ccm,
    BackupSram,
    /// The ST bootloader ROM.
    SystemMemory,
    Otp,
    OptionBytes,
}

/// What the CPU may do with a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Access {
    ReadOnly,
    ReadWrite,
    ReadExecute,
    ReadWriteExecute,
}

impl Access {
    pub fn readable(self) -> bool {
        true
    }

    pub fn writable(self) -> bool {
        matches!(self, Access::ReadWrite | Access::ReadWriteExecute)
    }

    pub fn executable(self) -> bool {
        matches!(self, Access::ReadExecute | Access::ReadWriteExecute)
    }
}

/// A peripheral block on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peripheral {
    /// RM0090 name, e.g. `"USART1"`, `"GPIOA"`.
    pub name: String,
    pub kind: PeripheralKind,
    pub base: u32,
    pub size: u32,
    /// NVIC lines, named (`"global"`, `"brk"`, `"ev"`, ...). Lines may be shared.
    #[serde(default)]
    pub irqs: Vec<Irq>,
}

impl Peripheral {
    /// The NVIC line of the interrupt named `name`.
    pub fn irq(&self, name: &str) -> Option<u32> {
        self.irqs.iter().find(|i| i.name == name).map(|i| i.line)
    }

    /// The instance number at the end of the name: 1 for `USART1`, `None` for `RCC`.
    pub fn instance(&self) -> Option<u32> {
        let digits = self.name.trim_start_matches(|c: char| !c.is_ascii_digit());
        digits.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Irq {
    pub name: String,
    pub line: u32,
}

/// A board name for a CPU pin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinAlias {
    /// Board name, e.g. `"X1"`.
    pub name: String,
    /// CPU pin, e.g. `"A0"`.
    pub cpu: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Level {
    Low,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Pull {
    None,
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Colour {
    Red,
    Green,
    Yellow,
    Blue,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Led {
    /// `"LED1"`..; `pyb.LED(n)` is the n-th LED of the list.
    pub name: String,
    pub colour: Colour,
    pub pin: String,
    /// Pin level that lights the LED.
    pub active: Level,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub name: String,
    pub pin: String,
    /// Pin level while pressed.
    pub active: Level,
    /// Pull the firmware is expected to enable (the switch itself only shorts to GND).
    pub pull: Pull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum AccelModel {
    Mma7660,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accelerometer {
    pub model: AccelModel,
    /// Name of the I2C peripheral it hangs on.
    pub bus: String,
    /// 7-bit I2C address.
    pub address: u8,
    /// Pin that powers it (AVDD): it answers only while this pin is high.
    pub power_pin: String,
    /// Interrupt output pin, if wired.
    #[serde(default)]
    pub int_pin: Option<String>,
}

impl Board {
    /// Reads and checks a board file.
    pub fn load(path: impl AsRef<Path>) -> Result<Board, LoadError> {
        let path = path.as_ref();
        let text = input::read_text(path, "a board file", input::MAX_BOARD_BYTES)?;
        Board::parse(&text, &path.display().to_string())
    }

    /// Parses and checks board-file text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Board, LoadError> {
        let src = Source { file, text };
        let board: Board = ron::from_str(text).map_err(|e| src.ron_error(e))?;
        board.validate(&src)?;
        Ok(board)
    }

    /// A built-in board: `"pybv11"` or `"pybv10"` (case-insensitive).
    pub fn builtin(name: &str) -> Result<Board, LoadError> {
        let (_, file, text) = BUILTIN
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| LoadError::UnknownBuiltin {
                name: name.to_string(),
                known: Board::builtin_names().to_vec(),
            })?;
        Board::parse(text, file)
    }

    /// Names accepted by [`Board::builtin`].
    pub fn builtin_names() -> &'static [&'static str] {
        &["pybv11", "pybv10"]
    }

    /// Resolves a board pin name (`"X1"`, `"LED_RED"`) or CPU name (`"A0"`, `"PA0"`).
    /// Board names are matched exactly first, then ignoring case.
    pub fn pin(&self, name: &str) -> Option<PinId> {
        let name = name.trim();
        let alias = self
            .pins
            .iter()
            .find(|p| p.name == name)
            .or_else(|| self.pins.iter().find(|p| p.name.eq_ignore_ascii_case(name)));
        let id = match alias {
            Some(a) => PinId::parse_cpu(&a.cpu)?,
            None => PinId::parse_cpu(name)?,
        };
        self.has_port(id.port).then_some(id)
    }

    /// Board names of a CPU pin, in file order.
    pub fn pin_names(&self, id: PinId) -> Vec<&str> {
        self.pins
            .iter()
            .filter(|p| PinId::parse_cpu(&p.cpu) == Some(id))
            .map(|p| p.name.as_str())
            .collect()
    }

    /// The GPIO port (0 = A) exists on this board.
    pub fn has_port(&self, port: u8) -> bool {
        self.gpio_ports().into_iter().any(|(p, _)| p == port)
    }

    fn gpio_ports(&self) -> Vec<(u8, &Peripheral)> {
        self.peripherals
            .iter()
            .filter(|p| p.kind == PeripheralKind::Gpio)
            .filter_map(|p| {
                let letter = p.name.strip_prefix("GPIO")?;
                let port = PORT_LETTERS.find(letter).filter(|_| letter.len() == 1)?;
                Some((port as u8, p))
            })
            .collect()
    }

    pub fn peripheral(&self, name: &str) -> Option<&Peripheral> {
        self.peripherals
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn memory(&self, name: &str) -> Option<&Memory> {
        self.memories
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }

    /// The USART/UART peripheral number `n` (`USART1`, `UART4`, ...).
    pub fn uart(&self, n: u32) -> Option<&Peripheral> {
        self.peripherals
            .iter()
            .find(|p| p.kind == PeripheralKind::Usart && p.instance() == Some(n))
    }

    /// Resolves both ends of a wire on this board.
    pub fn resolve_wire(&self, wire: &Wire) -> Result<(PinId, PinId), WireError> {
        let err = |reason: String| WireError {
            text: wire.to_string(),
            reason,
        };
        let a = self
            .pin(&wire.a)
            .ok_or_else(|| err(format!("unknown pin name {:?}", wire.a)))?;
        let b = self
            .pin(&wire.b)
            .ok_or_else(|| err(format!("unknown pin name {:?}", wire.b)))?;
        if a == b {
            return Err(err(format!("both ends are {a}")));
        }
        Ok((a, b))
    }

    fn validate(&self, src: &Source<'_>) -> Result<(), LoadError> {
        use Seg::{Field, Index};

        if self.mcu.irq_lines == 0 || self.mcu.irq_lines > 496 {
            return Err(src.error(
                &[Field("mcu"), Field("irq_lines")],
                Problem::Invalid(format!(
                    "{} NVIC lines: a Cortex-M has 1..=496",
                    self.mcu.irq_lines
                )),
            ));
        }
        self.check_clocks(src)?;
        self.check_counts(src)?;

        // Names: unique within each list.
        unique(
            src,
            "memories",
            "memory",
            self.memories.iter().map(|m| &m.name),
        )?;
        unique(
            src,
            "peripherals",
            "peripheral",
            self.peripherals.iter().map(|p| &p.name),
        )?;
        unique(src, "pins", "pin", self.pins.iter().map(|p| &p.name))?;
        unique(src, "leds", "LED", self.leds.iter().map(|l| &l.name))?;

        // Address map: memories, their aliases and peripherals must not overlap.
        struct Region<'b> {
            what: &'static str,
            name: String,
            start: u64,
            end: u64,
            path: Vec<Seg<'b>>,
        }
        let mut regions: Vec<Region<'_>> = Vec::new();
        for (i, m) in self.memories.iter().enumerate() {
            let mut starts = vec![(m.base, m.name.clone(), Field("base"), None)];
            for (k, &a) in m.aliases.iter().enumerate() {
                starts.push((a, format!("{} alias", m.name), Field("aliases"), Some(k)));
            }
            for (start, name, field, k) in starts {
                let mut path = vec![Field("memories"), Index(i), field];
                path.extend(k.map(Index));
                regions.push(Region {
                    what: "memory",
                    name,
                    start: u64::from(start),
                    end: u64::from(start) + u64::from(m.size),
                    path,
                });
            }
            if m.size == 0 {
                return Err(src.error(
                    &[Field("memories"), Index(i), Field("size")],
                    Problem::Invalid(format!("memory {} has size 0", m.name)),
                ));
            }
        }
        for (i, p) in self.peripherals.iter().enumerate() {
            if p.size == 0 {
                return Err(src.error(
                    &[Field("peripherals"), Index(i), Field("size")],
                    Problem::Invalid(format!("peripheral {} has size 0", p.name)),
                ));
            }
            regions.push(Region {
                what: "peripheral",
                name: p.name.clone(),
                start: u64::from(p.base),
                end: u64::from(p.base) + u64::from(p.size),
                path: vec![Field("peripherals"), Index(i), Field("base")],
            });
        }
        for r in &regions {
            if r.end > 1 << 32 {
                return Err(src.error(
                    &r.path,
                    Problem::Invalid(format!(
                        "{} {} runs past the end of the 4 GiB address space",
                        r.what, r.name
                    )),
                ));
            }
        }
        for (j, r) in regions.iter().enumerate() {
            if let Some(o) = regions[..j]
                .iter()
                .find(|o| r.start < o.end && o.start < r.end)
            {
                return Err(src.error(
                    &r.path,
                    Problem::Overlap {
                        what: r.what,
                        name: r.name.clone(),
                        start: r.start,
                        end: r.end,
                        other: o.name.clone(),
                        other_start: o.start,
                        other_end: o.end,
                    },
                ));
            }
        }

        // Placement: whole 1 KiB blocks in the windows the bus decodes.
        for (i, p) in self.peripherals.iter().enumerate() {
            check_placement(src, i, p)?;
        }

        // Names: the models and the machine know each block by its RM0090 name.
        for (i, p) in self.peripherals.iter().enumerate() {
            check_name(src, i, p)?;
        }

        // Interrupts.
        for (i, p) in self.peripherals.iter().enumerate() {
            if p.kind == PeripheralKind::Console && !p.irqs.is_empty() {
                return Err(src.error(
                    &[Field("peripherals"), Index(i), Field("irqs")],
                    Problem::Invalid(format!("{}: the pybsim console has no interrupt", p.name)),
                ));
            }
            unique_at(
                src,
                &[Field("peripherals"), Index(i), Field("irqs")],
                "IRQ",
                p.irqs.iter().map(|q| &q.name),
            )?;
            for (k, q) in p.irqs.iter().enumerate() {
                if q.line >= self.mcu.irq_lines {
                    return Err(src.error(
                        &[
                            Field("peripherals"),
                            Index(i),
                            Field("irqs"),
                            Index(k),
                            Field("line"),
                        ],
                        Problem::IrqOutOfRange {
                            peripheral: p.name.clone(),
                            line: q.line,
                            max: self.mcu.irq_lines - 1,
                        },
                    ));
                }
            }
        }

        // Pins.
        for (i, p) in self.pins.iter().enumerate() {
            // Lookups trim names and `--wire A:B` splits at ':': a name with other
            // characters could not be named again.
            let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
            if p.name.is_empty() || !p.name.chars().all(plain) {
                return Err(src.error(
                    &[Field("pins"), Index(i), Field("name")],
                    Problem::Invalid(format!(
                        "pin name {:?}: board pin names are letters, digits, '_', '-' and '.'",
                        p.name
                    )),
                ));
            }
            let ok = PinId::parse_cpu(&p.cpu).is_some_and(|id| self.has_port(id.port));
            if !ok {
                return Err(src.error(
                    &[Field("pins"), Index(i), Field("cpu")],
                    Problem::UnknownPin(p.cpu.clone()),
                ));
            }
            if let Some(id) = PinId::parse_cpu(&p.name) {
                if Some(id) != PinId::parse_cpu(&p.cpu) {
                    return Err(src.error(
                        &[Field("pins"), Index(i), Field("name")],
                        Problem::Invalid(format!(
                            "board pin name {:?} is also the name of CPU pin {id}",
                            p.name
                        )),
                    ));
                }
            }
        }
        let check_pin = |name: &str, path: &[Seg<'_>]| -> Result<(), LoadError> {
            match self.pin(name) {
                Some(_) => Ok(()),
                None => Err(src.error(path, Problem::UnknownPin(name.to_string()))),
            }
        };
        for (i, l) in self.leds.iter().enumerate() {
            check_pin(&l.pin, &[Field("leds"), Index(i), Field("pin")])?;
        }
        if let Some(s) = &self.switch {
            check_pin(&s.pin, &[Field("switch"), Field("pin")])?;
        }
        if let Some(a) = &self.accelerometer {
            check_pin(&a.power_pin, &[Field("accelerometer"), Field("power_pin")])?;
            if let Some(int) = &a.int_pin {
                check_pin(int, &[Field("accelerometer"), Field("int_pin")])?;
            }
            if a.address > 0x7F {
                return Err(src.error(
                    &[Field("accelerometer"), Field("address")],
                    Problem::Invalid(format!(
                        "I2C address {:#04x} does not fit in 7 bits",
                        a.address
                    )),
                ));
            }
            // The machine finds the bus by its exact name.
            if !self
                .peripherals
                .iter()
                .any(|p| p.name == a.bus && p.kind == PeripheralKind::I2c)
            {
                let i2c: Vec<&str> = self
                    .peripherals
                    .iter()
                    .filter(|p| p.kind == PeripheralKind::I2c)
                    .map(|p| p.name.as_str())
                    .collect();
                return Err(src.error(
                    &[Field("accelerometer"), Field("bus")],
                    Problem::Invalid(format!(
                        "no I2C peripheral named {:?} (the board has {})",
                        a.bus,
                        if i2c.is_empty() {
                            "none".to_string()
                        } else {
                            i2c.join(", ")
                        }
                    )),
                ));
            }
        }
        for (i, w) in self.wiring.iter().enumerate() {
            check_pin(&w.a, &[Field("wiring"), Index(i), Field("a")])?;
            check_pin(&w.b, &[Field("wiring"), Index(i), Field("b")])?;
            if let Err(e) = self.resolve_wire(w) {
                return Err(src.error(
                    &[Field("wiring"), Index(i)],
                    Problem::Invalid(e.to_string()),
                ));
            }
        }
        Ok(())
    }
}

/// Ranges of the clock sources the STM32F405 works with (datasheet DS8626, §6.3 "Operating
/// conditions": HSE 4-26 MHz crystal, LSE external clock up to 1 MHz, HSI 16 MHz
/// factory-calibrated to -8 %..+4.5 % over temperature, LSI 17-47 kHz).
pub const CLOCK_RANGES: [(&str, u32, u32, &str); 4] = [
    ("hse_hz", 4_000_000, 26_000_000, "the HSE crystal range, DS8626 table \"HSE 4-26 MHz oscillator characteristics\""),
    ("lse_hz", 1, 1_000_000, "the LSE range (32.768 kHz crystal, external clock up to 1 MHz), DS8626"),
    ("hsi_hz", 14_720_000, 16_720_000, "16 MHz -8 %..+4.5 %, the HSI accuracy over temperature, DS8626 table \"HSI oscillator characteristics\""),
    ("lsi_hz", 17_000, 47_000, "the LSI range, DS8626 table \"LSI oscillator characteristics\""),
];

/// Most entries a board file's lists may have: the STM32F405 has 144 GPIO pins at most,
/// and the checks and the machine's lookups go through these lists.
pub const MAX_PINS: usize = 1024;
pub const MAX_LEDS: usize = 144;
pub const MAX_WIRES: usize = 1024;
pub const MAX_MEMORIES: usize = 64;
pub const MAX_ALIASES: usize = 8;
/// pybsim knows 51 peripheral blocks by name: 50 of the STM32F405 and its console (see
/// [`rm0090_names`]).
pub const MAX_PERIPHERALS: usize = 64;
pub const MAX_IRQS: usize = 32;

/// The windows of the address space the peripheral bus decodes, in 1 KiB blocks: APB1,
/// APB2 and AHB1 at 0x4000_0000..0x4008_0000, AHB2 at 0x5000_0000..0x5008_0000
/// (RM0090 §2.3, Table 1).
pub const BUS_WINDOWS: [(u32, u32); 2] = [(0x4000_0000, 0x4008_0000), (0x5000_0000, 0x5008_0000)];

/// Bytes in one block of the peripheral bus.
pub const BUS_BLOCK: u32 = 0x400;

fn hex(a: u64) -> String {
    if a > u64::from(u32::MAX) {
        format!(
            "0x{:X}_{:04X}_{:04X}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF
        )
    } else {
        format!("0x{:04X}_{:04X}", a >> 16, a & 0xFFFF)
    }
}

/// `16 MHz`, `14.72 MHz`, `32.768 kHz`, `5 Hz`.
fn hz(n: u32) -> String {
    let (unit, per) = match n {
        1_000_000.. => ("MHz", 1_000_000),
        1_000.. => ("kHz", 1_000),
        _ => return format!("{n} Hz"),
    };
    let whole = n / per;
    let frac = n % per;
    if frac == 0 {
        return format!("{whole} {unit}");
    }
    let digits = if per == 1_000_000 { 6 } else { 3 };
    let f = format!("{frac:0digits$}");
    format!("{whole}.{} {unit}", f.trim_end_matches('0'))
}

/// A peripheral sits on whole 1 KiB blocks inside a window the bus decodes.
fn check_placement(src: &Source<'_>, i: usize, p: &Peripheral) -> Result<(), LoadError> {
    use Seg::{Field, Index};
    let start = u64::from(p.base);
    let end = start + u64::from(p.size);
    if !p.base.is_multiple_of(BUS_BLOCK) || !p.size.is_multiple_of(BUS_BLOCK) {
        let field = if !p.base.is_multiple_of(BUS_BLOCK) {
            "base"
        } else {
            "size"
        };
        return Err(src.error(
            &[Field("peripherals"), Index(i), Field(field)],
            Problem::Invalid(format!(
                "peripheral {} ({}..{}) is not made of whole 1 KiB blocks: the bus decodes \
                 peripherals in 1 KiB blocks, so base and size are multiples of 0x400",
                p.name,
                hex(start),
                hex(end)
            )),
        ));
    }
    let inside = BUS_WINDOWS
        .iter()
        .any(|&(lo, hi)| start >= u64::from(lo) && end <= u64::from(hi));
    if !inside {
        return Err(src.error(
            &[Field("peripherals"), Index(i), Field("base")],
            Problem::Invalid(format!(
                "peripheral {} ({}..{}) is outside the windows the peripheral bus decodes: \
                 0x4000_0000..0x4008_0000 (APB1, APB2, AHB1) and 0x5000_0000..0x5008_0000 (AHB2)",
                p.name,
                hex(start),
                hex(end)
            )),
        ));
    }
    Ok(())
}

/// A peripheral has the RM0090 name of a block of its kind.
fn check_name(src: &Source<'_>, i: usize, p: &Peripheral) -> Result<(), LoadError> {
    use Seg::{Field, Index};
    let names = rm0090_names(p.kind);
    if names.contains(&p.name.as_str()) {
        return Ok(());
    }
    let other = ALL_KINDS
        .iter()
        .find(|&&k| rm0090_names(k).contains(&p.name.as_str()));
    let why = match other {
        Some(k) => format!("{} is of kind {k:?}, not {:?}", p.name, p.kind),
        None => format!("the STM32F405 has no {:?} named {:?}", p.kind, p.name),
    };
    Err(src.error(
        &[Field("peripherals"), Index(i), Field("name")],
        Problem::Invalid(format!(
            "{why}; peripherals of kind {:?} are named {} (RM0090's names, which the models \
             and the machine know them by)",
            p.kind,
            one_of(names)
        )),
    ))
}

fn one_of(names: &[&str]) -> String {
    match names {
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
        [] => "nothing".to_string(),
    }
}

impl Board {
    fn check_clocks(&self, src: &Source<'_>) -> Result<(), LoadError> {
        for (field, lo, hi, what) in CLOCK_RANGES {
            let value = match field {
                "hse_hz" => self.clocks.hse_hz,
                "lse_hz" => self.clocks.lse_hz,
                "hsi_hz" => self.clocks.hsi_hz,
                _ => self.clocks.lsi_hz,
            };
            if !(lo..=hi).contains(&value) {
                return Err(src.error(
                    &[Seg::Field("clocks"), Seg::Field(field)],
                    Problem::Invalid(format!(
                        "clock {field} is {}, outside {}..{} ({what})",
                        hz(value),
                        hz(lo),
                        hz(hi)
                    )),
                ));
            }
        }
        Ok(())
    }

    fn check_counts(&self, src: &Source<'_>) -> Result<(), LoadError> {
        use Seg::{Field, Index};
        let lists = [
            ("pins", "pin names", self.pins.len(), MAX_PINS),
            ("leds", "LEDs", self.leds.len(), MAX_LEDS),
            ("wiring", "wires", self.wiring.len(), MAX_WIRES),
            ("memories", "memories", self.memories.len(), MAX_MEMORIES),
            (
                "peripherals",
                "peripherals",
                self.peripherals.len(),
                MAX_PERIPHERALS,
            ),
        ];
        for (field, what, len, max) in lists {
            if len > max {
                return Err(src.error(
                    &[Field(field), Index(max)],
                    Problem::Invalid(format!("{len} {what}: a board has at most {max}")),
                ));
            }
        }
        for (i, m) in self.memories.iter().enumerate() {
            if m.aliases.len() > MAX_ALIASES {
                return Err(src.error(
                    &[
                        Field("memories"),
                        Index(i),
                        Field("aliases"),
                        Index(MAX_ALIASES),
                    ],
                    Problem::Invalid(format!(
                        "memory {} has {} aliases: at most {MAX_ALIASES}",
                        m.name,
                        m.aliases.len()
                    )),
                ));
            }
        }
        for (i, p) in self.peripherals.iter().enumerate() {
            if p.irqs.len() > MAX_IRQS {
                return Err(src.error(
                    &[
                        Field("peripherals"),
                        Index(i),
                        Field("irqs"),
                        Index(MAX_IRQS),
                    ],
                    Problem::Invalid(format!(
                        "peripheral {} has {} interrupts: at most {MAX_IRQS}",
                        p.name,
                        p.irqs.len()
                    )),
                ));
            }
        }
        Ok(())
    }
}

/// Checks that the `name` fields of list `list` are unique (ignoring case).
fn unique<'n>(
    src: &Source<'_>,
    list: &str,
    what: &'static str,
    names: impl Iterator<Item = &'n String>,
) -> Result<(), LoadError> {
    unique_at(src, &[Seg::Field(list)], what, names)
}

fn unique_at<'n>(
    src: &Source<'_>,
    list: &[Seg<'_>],
    what: &'static str,
    names: impl Iterator<Item = &'n String>,
) -> Result<(), LoadError> {
    let mut seen = HashMap::new();
    for (i, name) in names.enumerate() {
        if seen.insert(name.to_ascii_uppercase(), i).is_some() {
            let mut path = list.to_vec();
            path.extend([Seg::Index(i), Seg::Field("name")]);
            return Err(src.error(
                &path,
                Problem::Duplicate {
                    what,
                    name: name.clone(),
                },
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_in_words() {
        assert_eq!(hz(16_000_000), "16 MHz");
        assert_eq!(hz(14_720_000), "14.72 MHz");
        assert_eq!(hz(32_768), "32.768 kHz");
        assert_eq!(hz(17_000), "17 kHz");
        assert_eq!(hz(5), "5 Hz");
        assert_eq!(hz(1_000_001), "1.000001 MHz");
    }

    #[test]
    fn every_name_belongs_to_one_kind() {
        let all: Vec<&str> = ALL_KINDS
            .iter()
            .flat_map(|&k| rm0090_names(k).to_vec())
            .collect();
        assert_eq!(all.len(), 51);
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "a name of two kinds");
        assert!(all.len() <= MAX_PERIPHERALS);
        let b = Board::builtin("pybv11").unwrap();
        assert_eq!(b.peripherals.len(), all.len(), "pybv11 has every block");
    }

    #[test]
    fn addresses_past_4_gib() {
        assert_eq!(hex(0x1_0000_0000), "0x1_0000_0000");
        assert_eq!(hex(0x4000_0400), "0x4000_0400");
    }
}
