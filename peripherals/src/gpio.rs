//! GPIO ports A-I (RM0090 §8, registers §8.4).
//!
//! Modelled:
//! - MODER, OTYPER, OSPEEDR, PUPDR, ODR, AFRL, AFRH with the port-specific reset values
//!   (GPIOA MODER 0xA800_0000, PUPDR 0x6400_0000; GPIOB MODER 0x0000_0280, OSPEEDR
//!   0x0000_00C0, PUPDR 0x0000_0100; 0 elsewhere).
//! - BSRR (write-only, reads 0; set wins over reset; byte and half-word writes to either
//!   half work through the byte lanes).
//! - LCKR: the lock key sequence (write LCKK=1, LCKK=0, LCKK=1 with the same LCK[15:0],
//!   then read) freezes MODER/OTYPER/OSPEEDR/PUPDR/AFR of the locked pins until reset;
//!   LCKK reads 1 once locked.
//! - IDR, computed per pin: analog → 0; a pin the MCU drives → that level (output mode:
//!   ODR; AF mode: the level the machine gives with [`Gpio::set_af_level`]; open-drain
//!   drives only 0); otherwise the external drive ([`Gpio::set_external`]) if any, else the
//!   pull (up 1, down 0, none 0 — deterministic, no floating noise).
//! - Effects: [`Effect::PinOutput`] with the pad level whenever a pin becomes driven or
//!   the level of a driven pin changes (and when a pin stops being driven and its level
//!   changes). Input level changes (IDR bits) are collected for EXTI:
//!   [`Gpio::take_input_edges`].
//!
//! Not modelled:
//! - OSPEEDR has no effect (stored); contention between an MCU drive and an external
//!   drive (the MCU wins); electrical pull strength.
//! - An AF pin is only driven once the machine calls [`Gpio::set_af_level`] for it (AF
//!   inputs such as UART RX stay undriven); [`Gpio::release_af`] undoes that.

use crate::device::{BusError, Ctx, Device, Effect, NoSuchInstance, Size};
use crate::regs::{f, Access::*, Block, Field, Reg};

const T: &str = "periph::gpio";

pub const MODER: u32 = 0x00;
pub const OTYPER: u32 = 0x04;
pub const OSPEEDR: u32 = 0x08;
pub const PUPDR: u32 = 0x0C;
pub const IDR: u32 = 0x10;
pub const ODR: u32 = 0x14;
pub const BSRR: u32 = 0x18;
pub const LCKR: u32 = 0x1C;
pub const AFRL: u32 = 0x20;
pub const AFRH: u32 = 0x24;

const LCKK: u32 = 1 << 16;

/// Mode of a pin (MODER).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Input,
    Output,
    Af,
    Analog,
}

const TWO: &[Field] = &[f("x", 0, 32, Rw)];
const ONE: &[Field] = &[f("x", 0, 16, Rw)];
const AF: &[Field] = &[f("AFRy", 0, 32, Rw)];
const IDR_F: &[Field] = &[f("IDR", 0, 16, R)];
const BSRR_F: &[Field] = &[f("BS", 0, 16, W), f("BR", 16, 16, W)];
const LCKR_F: &[Field] = &[f("LCK", 0, 16, Rw), f("LCKK", 16, 1, R)];

const fn table(moder: u32, ospeedr: u32, pupdr: u32) -> [Reg; 10] {
    [
        Reg {
            offset: MODER,
            name: "MODER",
            reset: moder,
            fields: TWO,
        },
        Reg {
            offset: OTYPER,
            name: "OTYPER",
            reset: 0,
            fields: ONE,
        },
        Reg {
            offset: OSPEEDR,
            name: "OSPEEDR",
            reset: ospeedr,
            fields: TWO,
        },
        Reg {
            offset: PUPDR,
            name: "PUPDR",
            reset: pupdr,
            fields: TWO,
        },
        Reg {
            offset: IDR,
            name: "IDR",
            reset: 0,
            fields: IDR_F,
        },
        Reg {
            offset: ODR,
            name: "ODR",
            reset: 0,
            fields: ONE,
        },
        Reg {
            offset: BSRR,
            name: "BSRR",
            reset: 0,
            fields: BSRR_F,
        },
        Reg {
            offset: LCKR,
            name: "LCKR",
            reset: 0,
            fields: LCKR_F,
        },
        Reg {
            offset: AFRL,
            name: "AFRL",
            reset: 0,
            fields: AF,
        },
        Reg {
            offset: AFRH,
            name: "AFRH",
            reset: 0,
            fields: AF,
        },
    ]
}

static REGS_A: [Reg; 10] = table(0xA800_0000, 0, 0x6400_0000);
static REGS_B: [Reg; 10] = table(0x0000_0280, 0x0000_00C0, 0x0000_0100);
static REGS_OTHER: [Reg; 10] = table(0, 0, 0);

const NAMES: [&str; 9] = [
    "GPIOA", "GPIOB", "GPIOC", "GPIOD", "GPIOE", "GPIOF", "GPIOG", "GPIOH", "GPIOI",
];

pub struct Gpio {
    port: u8,
    regs: Block,
    ext: [Option<bool>; 16],
    af_level: u16,
    af_driven: u16,
    /// Lock active: LCK[15:0] frozen pins.
    locked: Option<u16>,
    lck_stage: u8,
    lck_val: u32,
    /// Pins driven by the MCU and their pad levels, as last reported.
    last_driven: u16,
    last_pad: u16,
    /// IDR as of the last refresh.
    reported_idr: u16,
    /// IDR bit changes not yet taken by the machine, in order.
    edges: Vec<(u8, bool)>,
}

impl Gpio {
    /// Port `port`: 0 = A .. 8 = I.
    ///
    /// # Panics
    /// If there is no such port; [`Gpio::try_new`] says so with an error instead.
    pub fn new(port: u8) -> Gpio {
        Gpio::try_new(port).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Port `port` (0 = A .. 8 = I), or an error for a port the STM32F405 lacks.
    pub fn try_new(port: u8) -> Result<Gpio, NoSuchInstance> {
        if usize::from(port) >= NAMES.len() {
            return Err(NoSuchInstance {
                name: "GPIO port ",
                n: port,
                has: "ports 0-8, GPIOA-GPIOI",
            });
        }
        let table: &'static [Reg] = match port {
            0 => &REGS_A,
            1 => &REGS_B,
            _ => &REGS_OTHER,
        };
        let mut g = Gpio {
            port,
            regs: Block::new(NAMES[port as usize], table),
            ext: [None; 16],
            af_level: 0,
            af_driven: 0,
            locked: None,
            lck_stage: 0,
            lck_val: 0,
            last_driven: 0,
            last_pad: 0,
            reported_idr: 0,
            edges: Vec::new(),
        };
        g.reported_idr = g.idr();
        g.last_pad = g.pads();
        Ok(g)
    }

    pub fn port(&self) -> u8 {
        self.port
    }

    pub fn pin_mode(&self, pin: u8) -> Mode {
        match (self.regs.get(MODER) >> (2 * pin as u32)) & 3 {
            0 => Mode::Input,
            1 => Mode::Output,
            2 => Mode::Af,
            _ => Mode::Analog,
        }
    }

    /// Alternate function number (0-15) selected for `pin` in AFRL/AFRH.
    pub fn af(&self, pin: u8) -> u8 {
        let reg = if pin < 8 { AFRL } else { AFRH };
        ((self.regs.get(reg) >> (4 * (pin as u32 % 8))) & 0xF) as u8
    }

    fn open_drain(&self, pin: u8) -> bool {
        self.regs.get(OTYPER) & (1 << pin) != 0
    }

    fn pull(&self, pin: u8) -> bool {
        (self.regs.get(PUPDR) >> (2 * pin as u32)) & 3 == 1
    }

    /// The level the MCU drives on `pin`, `None` when it does not drive it.
    pub fn output_level(&self, pin: u8) -> Option<bool> {
        let level = match self.pin_mode(pin) {
            Mode::Output => self.regs.get(ODR) & (1 << pin) != 0,
            Mode::Af if self.af_driven & (1 << pin) != 0 => self.af_level & (1 << pin) != 0,
            _ => return None,
        };
        if level && self.open_drain(pin) {
            None
        } else {
            Some(level)
        }
    }

    /// Level on the wire: MCU drive, else external drive, else pull.
    fn pad(&self, pin: u8) -> bool {
        self.output_level(pin)
            .or(self.ext[pin as usize])
            .unwrap_or_else(|| self.pull(pin))
    }

    fn pads(&self) -> u16 {
        (0..16)
            .filter(|&p| self.pad(p))
            .fold(0, |a, p| a | (1 << p))
    }

    /// The input data register as the CPU reads it.
    pub fn idr(&self) -> u16 {
        (0..16)
            .filter(|&p| self.pin_mode(p) != Mode::Analog && self.pad(p))
            .fold(0, |a, p| a | (1 << p))
    }

    /// The output data register.
    pub fn odr(&self) -> u16 {
        self.regs.get(ODR) as u16
    }

    /// Something outside drives `pin` to a level (`Some`) or lets it go (`None`).
    pub fn set_external(&mut self, ctx: &mut Ctx, pin: u8, drive: Option<bool>) {
        self.ext[pin as usize & 15] = drive;
        self.refresh(ctx);
    }

    /// The peripheral behind the pin's alternate function drives it to `level` (while the
    /// pin is in AF mode).
    pub fn set_af_level(&mut self, ctx: &mut Ctx, pin: u8, level: bool) {
        let bit = 1u16 << (pin & 15);
        self.af_driven |= bit;
        if level {
            self.af_level |= bit;
        } else {
            self.af_level &= !bit;
        }
        self.refresh(ctx);
    }

    /// The pin's alternate function stops driving it (an AF input).
    pub fn release_af(&mut self, ctx: &mut Ctx, pin: u8) {
        self.af_driven &= !(1 << (pin & 15));
        self.refresh(ctx);
    }

    /// IDR bit changes since the last call, as (pin, new level), in the order they
    /// happened. The machine routes them to EXTI through SYSCFG_EXTICR.
    pub fn take_input_edges(&mut self) -> Vec<(u8, bool)> {
        std::mem::take(&mut self.edges)
    }

    /// Whether [`Gpio::take_input_edges`] has something.
    pub fn has_input_edges(&self) -> bool {
        !self.edges.is_empty()
    }

    /// Pushes PinOutput for driven pins that changed.
    fn refresh(&mut self, ctx: &mut Ctx) {
        let mut driven = 0u16;
        for p in 0..16 {
            if self.output_level(p).is_some() {
                driven |= 1 << p;
            }
        }
        let pads = self.pads();
        let changed = pads ^ self.last_pad;
        let newly = driven & !self.last_driven;
        let report = (changed & (driven | self.last_driven)) | newly;
        for p in 0..16u8 {
            if report & (1 << p) != 0 {
                let level = pads & (1 << p) != 0;
                tracing::debug!(target: T, t = ctx.now, port = NAMES[self.port as usize], pin = p, level, "pin output");
                ctx.push(Effect::PinOutput {
                    port: self.port,
                    pin: p,
                    level,
                });
            }
        }
        self.last_driven = driven;
        self.last_pad = pads;
        let idr = self.idr();
        let changed = idr ^ self.reported_idr;
        if changed != 0 {
            self.reported_idr = idr;
            for p in (0..16u8).filter(|p| changed & (1 << p) != 0) {
                self.edges.push((p, idr & (1 << p) != 0));
            }
        }
    }

    /// Mask of the register bits the lock freezes (`bits` per pin, pins from `first`).
    fn lock_mask(&self, bits: u32, first: u8) -> u32 {
        let Some(lck) = self.locked else { return 0 };
        let mut m = 0u32;
        for p in 0..(32 / bits) as u8 {
            let pin = p + first;
            if pin < 16 && lck & (1 << pin) != 0 {
                m |= ((1u32 << bits) - 1) << (bits * p as u32);
            }
        }
        m
    }

    fn write_lckr(&mut self, ctx: &mut Ctx, size: Size, old: u32, value: u32) {
        if self.locked.is_some() {
            self.regs.set(LCKR, old);
            return;
        }
        if size != Size::Word {
            self.lck_stage = 0;
            return;
        }
        let lck = value & 0xFFFF;
        let kk = value & LCKK != 0;
        self.lck_stage = match (self.lck_stage, kk) {
            (0, true) => 1,
            (1, false) if lck == self.lck_val => 2,
            (2, true) if lck == self.lck_val => 3,
            (_, true) => 1,
            _ => 0,
        };
        self.lck_val = lck;
        let _ = ctx;
    }
}

impl Device for Gpio {
    fn name(&self) -> &str {
        NAMES[self.port as usize]
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let word = match offset & !3 {
            IDR => self.idr() as u32,
            LCKR => {
                if self.lck_stage == 3 && size == Size::Word {
                    self.lck_stage = 0;
                    self.locked = Some(self.lck_val as u16);
                    self.regs.set(LCKR, self.lck_val | LCKK);
                    tracing::debug!(target: T, t = ctx.now, port = NAMES[self.port as usize], pins = self.lck_val, "configuration locked");
                }
                self.regs.get(LCKR)
            }
            BSRR => 0,
            o => self.regs.get_or(o),
        };
        let v = crate::device::extract(offset, size, word);
        tracing::trace!(target: T, t = ctx.now, port = NAMES[self.port as usize], reg = self.regs.name_at(offset), val = v, "read");
        Ok(v)
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: T, t = ctx.now, port = NAMES[self.port as usize], reg = self.regs.reg(w.idx).name, val = w.val, "write");
        let reg = offset & !3;
        let frozen = match reg {
            MODER | OSPEEDR | PUPDR => self.lock_mask(2, 0),
            OTYPER => self.lock_mask(1, 0),
            AFRL => self.lock_mask(4, 0),
            AFRH => self.lock_mask(4, 8),
            _ => 0,
        };
        if frozen != 0 {
            self.regs.set(reg, (w.new & !frozen) | (w.old & frozen));
        }
        match reg {
            BSRR => {
                self.regs.set(BSRR, 0);
                let set = w.val & 0xFFFF;
                let clr = w.val >> 16;
                let odr = self.regs.get(ODR);
                self.regs.set(ODR, ((odr & !clr) | set) & 0xFFFF);
            }
            LCKR => self.write_lckr(ctx, size, w.old, value),
            _ => {}
        }
        self.refresh(ctx);
        Ok(())
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.af_level = 0;
        self.af_driven = 0;
        self.locked = None;
        self.lck_stage = 0;
        self.refresh(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    fn port(n: u8) -> FakeBus<Gpio> {
        FakeBus::new(Gpio::new(n), Clocks::RESET)
    }

    fn outputs(b: &mut FakeBus<Gpio>) -> Vec<(u8, bool)> {
        b.take_log()
            .into_iter()
            .filter_map(|(_, e)| match e {
                Effect::PinOutput { pin, level, .. } => Some((pin, level)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reset_values_per_port() {
        let mut a = port(0);
        assert_eq!(a.read32(MODER), 0xA800_0000);
        assert_eq!(a.read32(PUPDR), 0x6400_0000);
        assert_eq!(a.read32(OSPEEDR), 0);
        let mut b = port(1);
        assert_eq!(b.read32(MODER), 0x0000_0280);
        assert_eq!(b.read32(OSPEEDR), 0x0000_00C0);
        assert_eq!(b.read32(PUPDR), 0x0000_0100);
        let mut c = port(2);
        assert_eq!(c.read32(MODER), 0);
        assert_eq!(c.read32(IDR), 0);
        // Pull-ups read 1: PA15 (JTDI), PB4 (NJTRST).
        // PA13 pull-up, PA14 pull-down, PA15 pull-up (the SWD/JTAG pins).
        assert_eq!(a.read32(IDR), (1 << 13) | (1 << 15));
        assert_eq!(b.read32(IDR), 1 << 4);
    }

    /// The firmware's led_init on PA13-15 and the USR switch on PB3.
    #[test]
    fn leds_and_switch_like_the_firmware() {
        let mut a = port(0);
        a.write32(BSRR, 0xE000_0000); // LEDs off (not outputs yet: no effect)
        assert_eq!(outputs(&mut a), vec![]);
        let m = a.read32(MODER);
        a.write32(MODER, (m & !(0x3F << 26)) | (0x15 << 26));
        assert_eq!(outputs(&mut a), vec![(13, false), (14, false), (15, false)]);
        a.write32(BSRR, 1 << 14);
        assert_eq!(outputs(&mut a), vec![(14, true)]);
        assert_eq!(a.dev.output_level(14), Some(true));
        assert_eq!(a.read32(ODR), 1 << 14);
        assert_eq!(a.read32(BSRR), 0);
        // Half-word write to the BR half.
        a.write(BSRR + 2, Size::Half, 1 << 14);
        assert_eq!(a.read32(ODR), 0);
        assert_eq!(outputs(&mut a), vec![(14, false)]);
        // Set wins over reset.
        a.write32(BSRR, (1 << 13) | (1 << 29));
        assert_eq!(a.read32(ODR), 1 << 13);

        let mut b = port(1);
        let p = b.read32(PUPDR);
        b.write32(PUPDR, p | 0x40);
        assert_eq!(b.read32(IDR) & (1 << 3), 1 << 3, "switch not pressed");
        assert_eq!(b.dev.take_input_edges(), vec![(3, true)]);
        b.with(|d, ctx| d.set_external(ctx, 3, Some(false)));
        assert_eq!(b.read32(IDR) & (1 << 3), 0, "switch pressed");
        assert_eq!(b.dev.take_input_edges(), vec![(3, false)]);
        assert_eq!(b.dev.take_input_edges(), vec![]);
    }

    #[test]
    fn open_drain_af_and_analog() {
        let mut c = port(2);
        c.write32(MODER, 1); // PC0 output
        c.write32(OTYPER, 1); // open-drain
        c.write32(ODR, 1); // released
        assert_eq!(c.dev.output_level(0), None);
        assert_eq!(c.read32(IDR), 0, "floating reads 0");
        c.write32(PUPDR, 1);
        assert_eq!(c.read32(IDR), 1, "released to the pull-up");
        c.write32(ODR, 0);
        assert_eq!(c.read32(IDR), 0);
        // AF: PC6 AF8 (USART6 TX) driven by the machine.
        c.write32(MODER, 2 << 12);
        c.write32(AFRL, 8 << 24);
        assert_eq!(c.dev.af(6), 8);
        assert_eq!(c.dev.pin_mode(6), Mode::Af);
        c.take_log();
        c.with(|d, ctx| d.set_af_level(ctx, 6, true));
        assert_eq!(outputs(&mut c), vec![(6, true)]);
        assert_eq!(c.read32(IDR) & (1 << 6), 1 << 6);
        // Analog reads 0 whatever drives it.
        c.write32(MODER, 3 << 14);
        c.with(|d, ctx| d.set_external(ctx, 7, Some(true)));
        assert_eq!(c.read32(IDR) & (1 << 7), 0);
    }

    #[test]
    fn lock_sequence_freezes_configuration() {
        let mut d = port(3);
        d.write32(MODER, 0x5);
        d.write32(LCKR, LCKK | 0x1);
        d.write32(LCKR, 0x1);
        d.write32(LCKR, LCKK | 0x1);
        assert_eq!(d.read32(LCKR), LCKK | 0x1);
        d.write32(MODER, 0xA);
        assert_eq!(d.read32(MODER), 0x9, "pin 0 locked, pin 1 free");
        d.write32(LCKR, 0);
        assert_eq!(d.read32(LCKR), LCKK | 0x1);
        d.with(|g, ctx| g.reset(ctx));
        d.write32(MODER, 0xA);
        assert_eq!(d.read32(MODER), 0xA);
        // A broken sequence does not lock.
        d.write32(LCKR, LCKK | 0x1);
        d.write32(LCKR, 0x3);
        d.write32(LCKR, LCKK | 0x3);
        assert_eq!(d.read32(LCKR) & LCKK, 0);
    }
}
