//! ADC1-3, the 12-bit analog-to-digital converters, with their common registers
//! (RM0090 §13, registers §13.13): one block at 0x4001_2000 (ADC1 at +0x000, ADC2 at
//! +0x100, ADC3 at +0x200, common at +0x300).
//!
//! Modelled:
//! - Every register at its reset value (HTR = 0x0FFF, the rest 0) with its access kinds.
//! - Single regular conversions started by software: with ADON set, writing SWSTART
//!   starts a conversion of the first channel of the regular sequence (SQR3.SQ1); STRT
//!   rises at once and SWSTART reads back 0. The conversion lasts the channel's sampling
//!   time (SMPR1/SMPR2: 3 to 480 cycles) plus 12, 10, 8 or 6 cycles for the resolution
//!   (CR1.RES) of ADCCLK = PCLK2 / 2, 4, 6 or 8 (CCR.ADCPRE), computed from the clock
//!   tree of the moment. Then DR holds the sample, right or left aligned (CR2.ALIGN), and
//!   EOC rises; reading DR clears EOC. With EOCS set, a conversion that ends while EOC
//!   is still set also sets OVR. The ADC line (IRQ 18, shared) follows EOC & EOCIE.
//! - Inputs: channels 0-15 are the pins (PA0-PA7, PB0-PB1, PC0-PC5) at the voltage
//!   given by [`Adc::set_input_mv`] (0 V until set); channel 16 is the temperature
//!   sensor at 25 °C (0.76 V, datasheet V25) and channel 17 VREFINT (1.21 V), both only
//!   while CCR.TSVREFE is set; channel 18 is VBAT / 2 while CCR.VBATE is set (VBAT =
//!   3.3 V). VDDA = VREF+ = 3.3 V: code = mV * 4096 / 3300, clamped to 4095.
//! - The common status register CSR mirrors the three SR registers.
//!
//! Not modelled (fields declared; a write that changes one warns once):
//! - Scan mode and sequences longer than one (SCAN, SQR1.L), continuous and
//!   discontinuous mode, injected channels (JSWSTART, JSQR, JDRx, JOFRx), external
//!   triggers (EXTEN/EXTSEL, JEXTEN), the analog watchdog (AWD, HTR/LTR), DMA requests,
//!   multi-ADC modes (CCR.MULTI, CDR), the power-up stabilisation time after ADON, the
//!   sampling capacitor and source impedance, noise and offset errors.

use crate::device::{BusError, Ctx, Device, Size};
use crate::regs::{f, unmodelled, Access::*, Block, Field, Reg};

const T: &str = "periph::adc";

/// ADC1, ADC2 and ADC3 global interrupt line.
pub const IRQ_ADC: u16 = 18;

pub const SR: u32 = 0x00;
pub const CR1: u32 = 0x04;
pub const CR2: u32 = 0x08;
pub const SMPR1: u32 = 0x0C;
pub const SMPR2: u32 = 0x10;
pub const SQR3: u32 = 0x34;
pub const DR: u32 = 0x4C;
pub const CSR: u32 = 0x300;
pub const CCR: u32 = 0x304;

pub const EOC: u32 = 1 << 1;
pub const STRT: u32 = 1 << 4;
pub const OVR: u32 = 1 << 5;
pub const EOCIE: u32 = 1 << 5;
pub const ADON: u32 = 1 << 0;
pub const EOCS: u32 = 1 << 10;
pub const ALIGN: u32 = 1 << 11;
pub const SWSTART: u32 = 1 << 30;
pub const VBATE: u32 = 1 << 22;
pub const TSVREFE: u32 = 1 << 23;

/// Sampling times in ADCCLK cycles, by SMPx code.
const SAMPLE_CYCLES: [u64; 8] = [3, 15, 28, 56, 84, 112, 144, 480];
/// VDDA = VREF+ in millivolts.
const VREF_MV: u32 = 3300;
/// Temperature sensor output at 25 °C (datasheet V25), VREFINT, and VBAT, in mV.
const TEMP_MV: u32 = 760;
const VREFINT_MV: u32 = 1210;
const VBAT_MV: u32 = 3300;

/// Fields of the registers each ADC has (RM0090 §13.13).
const SR_F: &[Field] = &[
    f("AWD", 0, 1, Rc0),
    f("EOC", 1, 1, Rc0),
    f("JEOC", 2, 1, Rc0),
    f("JSTRT", 3, 1, Rc0),
    f("STRT", 4, 1, Rc0),
    f("OVR", 5, 1, Rc0),
];
const CR1_F: &[Field] = &[
    unmodelled("AWDCH", 0, 5, Rw),
    f("EOCIE", 5, 1, Rw),
    unmodelled("AWDIE", 6, 1, Rw),
    unmodelled("JEOCIE", 7, 1, Rw),
    unmodelled("SCAN", 8, 1, Rw),
    unmodelled("AWDSGL", 9, 1, Rw),
    unmodelled("JAUTO", 10, 1, Rw),
    unmodelled("DISCEN", 11, 1, Rw),
    unmodelled("JDISCEN", 12, 1, Rw),
    unmodelled("DISCNUM", 13, 3, Rw),
    unmodelled("JAWDEN", 22, 1, Rw),
    unmodelled("AWDEN", 23, 1, Rw),
    f("RES", 24, 2, Rw),
    unmodelled("OVRIE", 26, 1, Rw),
];
const CR2_F: &[Field] = &[
    f("ADON", 0, 1, Rw),
    unmodelled("CONT", 1, 1, Rw),
    unmodelled("DMA", 8, 1, Rw),
    unmodelled("DDS", 9, 1, Rw),
    f("EOCS", 10, 1, Rw),
    f("ALIGN", 11, 1, Rw),
    unmodelled("JEXTSEL", 16, 4, Rw),
    unmodelled("JEXTEN", 20, 2, Rw),
    unmodelled("JSWSTART", 22, 1, Rw),
    unmodelled("EXTSEL", 24, 4, Rw),
    unmodelled("EXTEN", 28, 2, Rw),
    f("SWSTART", 30, 1, Rw),
];
const SMPR1_F: &[Field] = &[f("SMP10_18", 0, 27, Rw)];
const SMPR2_F: &[Field] = &[f("SMP0_9", 0, 30, Rw)];
const JOFR1_F: &[Field] = &[unmodelled("JOFFSET", 0, 12, Rw)];
const JOFR2_F: &[Field] = &[unmodelled("JOFFSET", 0, 12, Rw)];
const JOFR3_F: &[Field] = &[unmodelled("JOFFSET", 0, 12, Rw)];
const JOFR4_F: &[Field] = &[unmodelled("JOFFSET", 0, 12, Rw)];
const HTR_F: &[Field] = &[unmodelled("HT", 0, 12, Rw)];
const LTR_F: &[Field] = &[unmodelled("LT", 0, 12, Rw)];
const SQR1_F: &[Field] = &[unmodelled("SQ13_16", 0, 20, Rw), unmodelled("L", 20, 4, Rw)];
const SQR2_F: &[Field] = &[unmodelled("SQ7_12", 0, 30, Rw)];
const SQR3_F: &[Field] = &[f("SQ1", 0, 5, Rw), unmodelled("SQ2_6", 5, 25, Rw)];
const JSQR_F: &[Field] = &[unmodelled("JSQ1_4", 0, 20, Rw), unmodelled("JL", 20, 2, Rw)];
const JDR1_F: &[Field] = &[f("JDATA", 0, 16, R)];
const JDR2_F: &[Field] = &[f("JDATA", 0, 16, R)];
const JDR3_F: &[Field] = &[f("JDATA", 0, 16, R)];
const JDR4_F: &[Field] = &[f("JDATA", 0, 16, R)];
const DR_F: &[Field] = &[f("DATA", 0, 16, R)];

/// The register table (RM0090 §13.13.18, the register map): the same block for ADC1-3
/// at 0x000, 0x100 and 0x200, then the common registers.
macro_rules! adc_regs {
    ($($n:literal @ $base:literal),*) => {
        &[
            $(
                Reg { offset: $base + 0x000, name: concat!("ADC", $n, "_SR"), reset: 0x0, fields: SR_F },
                Reg { offset: $base + 0x004, name: concat!("ADC", $n, "_CR1"), reset: 0x0, fields: CR1_F },
                Reg { offset: $base + 0x008, name: concat!("ADC", $n, "_CR2"), reset: 0x0, fields: CR2_F },
                Reg { offset: $base + 0x00c, name: concat!("ADC", $n, "_SMPR1"), reset: 0x0, fields: SMPR1_F },
                Reg { offset: $base + 0x010, name: concat!("ADC", $n, "_SMPR2"), reset: 0x0, fields: SMPR2_F },
                Reg { offset: $base + 0x014, name: concat!("ADC", $n, "_JOFR1"), reset: 0x0, fields: JOFR1_F },
                Reg { offset: $base + 0x018, name: concat!("ADC", $n, "_JOFR2"), reset: 0x0, fields: JOFR2_F },
                Reg { offset: $base + 0x01c, name: concat!("ADC", $n, "_JOFR3"), reset: 0x0, fields: JOFR3_F },
                Reg { offset: $base + 0x020, name: concat!("ADC", $n, "_JOFR4"), reset: 0x0, fields: JOFR4_F },
                Reg { offset: $base + 0x024, name: concat!("ADC", $n, "_HTR"), reset: 0xfff, fields: HTR_F },
                Reg { offset: $base + 0x028, name: concat!("ADC", $n, "_LTR"), reset: 0x0, fields: LTR_F },
                Reg { offset: $base + 0x02c, name: concat!("ADC", $n, "_SQR1"), reset: 0x0, fields: SQR1_F },
                Reg { offset: $base + 0x030, name: concat!("ADC", $n, "_SQR2"), reset: 0x0, fields: SQR2_F },
                Reg { offset: $base + 0x034, name: concat!("ADC", $n, "_SQR3"), reset: 0x0, fields: SQR3_F },
                Reg { offset: $base + 0x038, name: concat!("ADC", $n, "_JSQR"), reset: 0x0, fields: JSQR_F },
                Reg { offset: $base + 0x03c, name: concat!("ADC", $n, "_JDR1"), reset: 0x0, fields: JDR1_F },
                Reg { offset: $base + 0x040, name: concat!("ADC", $n, "_JDR2"), reset: 0x0, fields: JDR2_F },
                Reg { offset: $base + 0x044, name: concat!("ADC", $n, "_JDR3"), reset: 0x0, fields: JDR3_F },
                Reg { offset: $base + 0x048, name: concat!("ADC", $n, "_JDR4"), reset: 0x0, fields: JDR4_F },
                Reg { offset: $base + 0x04c, name: concat!("ADC", $n, "_DR"), reset: 0x0, fields: DR_F },
            )*
            Reg { offset: 0x300, name: "CSR", reset: 0x0, fields: &[f("flags", 0, 22, R)] },
            Reg { offset: 0x304, name: "CCR", reset: 0x0, fields: &[
            unmodelled("MULTI", 0, 5, Rw),
            unmodelled("DELAY", 8, 4, Rw),
            unmodelled("DDS", 13, 1, Rw),
            unmodelled("DMA", 14, 2, Rw),
            f("ADCPRE", 16, 2, Rw),
            f("VBATE", 22, 1, Rw),
            f("TSVREFE", 23, 1, Rw),
        ] },
            Reg { offset: 0x308, name: "CDR", reset: 0x0, fields: &[f("DATA", 0, 32, R)] },
        ]
    };
}

pub const REGS: &[Reg] = adc_regs!(1 @ 0x000, 2 @ 0x100, 3 @ 0x200);

/// The three ADCs and their common registers.
pub struct Adc {
    regs: Block,
    /// Voltage at channels 0-15 (the pins), in mV.
    inputs: [u32; 16],
    /// Channel being converted by ADC n, if any.
    converting: [Option<u8>; 3],
    irq: bool,
}

impl Default for Adc {
    fn default() -> Self {
        Self::new()
    }
}

impl Adc {
    pub fn new() -> Adc {
        Adc {
            regs: Block::new("ADC", REGS),
            inputs: [0; 16],
            converting: [None; 3],
            irq: false,
        }
    }

    /// Sets the voltage at analog input `channel` (0-15: PA0-PA7, PB0-PB1, PC0-PC5).
    pub fn set_input_mv(&mut self, channel: u8, mv: u32) {
        if let Some(v) = self.inputs.get_mut(channel as usize) {
            *v = mv;
        }
    }

    /// The 12-bit code channel `ch` converts to now.
    fn sample12(&self, ch: u8) -> u32 {
        let ccr = self.regs.get(CCR);
        let mv = match ch {
            0..=15 => self.inputs[ch as usize],
            16 if ccr & TSVREFE != 0 => TEMP_MV,
            17 if ccr & TSVREFE != 0 => VREFINT_MV,
            18 if ccr & VBATE != 0 => VBAT_MV / 2,
            _ => 0,
        };
        (mv as u64 * 4096 / VREF_MV as u64).min(4095) as u32
    }

    /// ADCCLK in Hz: PCLK2 / 2, 4, 6 or 8.
    fn adcclk(&self, ctx: &Ctx) -> u32 {
        let pre = (self.regs.get(CCR) >> 16) & 3;
        ctx.clocks.pclk2 / (2 * (pre + 1))
    }

    fn start(&mut self, ctx: &mut Ctx, n: usize) {
        let b = 0x100 * n as u32;
        let ch = (self.regs.get(b + SQR3) & 0x1F) as u8;
        let smp = if ch < 10 {
            (self.regs.get(b + SMPR2) >> (3 * ch as u32)) & 7
        } else {
            (self.regs.get(b + SMPR1) >> (3 * (ch.min(18) as u32 - 10))) & 7
        };
        let res = (self.regs.get(b + CR1) >> 24) & 3;
        let cycles = SAMPLE_CYCLES[smp as usize] + 12 - 2 * res as u64;
        let at = ctx.now + ctx.clocks.to_cycles(cycles, self.adcclk(ctx));
        self.converting[n] = Some(ch);
        self.regs.set_bits(b + SR, STRT, true);
        ctx.schedule(n as u32, at);
        tracing::trace!(target: T, t = ctx.now, adc = n + 1, ch, cycles, "conversion started");
    }

    fn finish(&mut self, ctx: &mut Ctx, n: usize) {
        let Some(ch) = self.converting[n].take() else {
            return;
        };
        let b = 0x100 * n as u32;
        let res = (self.regs.get(b + CR1) >> 24) & 3;
        let bits = 12 - 2 * res;
        let v = self.sample12(ch) >> (12 - bits);
        let dr = if self.regs.get(b + CR2) & ALIGN == 0 {
            v
        } else if bits == 6 {
            v << 2
        } else {
            v << (16 - bits)
        };
        let sr = self.regs.get(b + SR);
        if sr & EOC != 0 && self.regs.get(b + CR2) & EOCS != 0 {
            self.regs.set(b + SR, sr | OVR);
        }
        self.regs.set(b + DR, dr);
        self.regs.set_bits(b + SR, EOC, true);
        tracing::trace!(target: T, t = ctx.now, adc = n + 1, ch, dr, "conversion done");
        self.update_irq(ctx);
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let level = (0..3u32).any(|n| {
            self.regs.get(0x100 * n + SR) & EOC != 0 && self.regs.get(0x100 * n + CR1) & EOCIE != 0
        });
        if level != self.irq {
            self.irq = level;
            ctx.irq(IRQ_ADC, level);
        }
    }
}

impl Device for Adc {
    fn name(&self) -> &str {
        "ADC"
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = if offset & !3 == CSR {
            let csr = (0..3u32).fold(0, |acc, n| {
                acc | (self.regs.get(0x100 * n + SR) & 0x3F) << (8 * n)
            });
            crate::device::extract(offset, size, csr)
        } else {
            self.regs.read(offset, size).unwrap_or(0)
        };
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.name_at(offset), val = v, "read");
        if offset < 0x300 && offset & 0xFC == DR {
            // Reading the data register clears EOC.
            let b = offset & 0x300;
            self.regs.set_bits(b + SR, EOC, false);
            self.update_irq(ctx);
        }
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
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        if offset >= 0x300 {
            return Ok(());
        }
        let n = (offset >> 8) as usize;
        let b = offset & 0x300;
        match offset & 0xFC {
            CR2 => {
                // SWSTART is cleared by hardware as soon as the conversion starts.
                self.regs.set(b + CR2, w.new & !SWSTART);
                if w.new & ADON == 0 {
                    if self.converting[n].take().is_some() {
                        ctx.cancel(n as u32);
                    }
                } else if w.new & SWSTART != 0 && self.converting[n].is_none() {
                    self.start(ctx, n);
                }
            }
            SR | CR1 => self.update_irq(ctx),
            _ => {}
        }
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        if token < 3 {
            self.finish(ctx, token as usize);
        }
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        for n in 0..3 {
            if self.converting[n].take().is_some() {
                ctx.cancel(n as u32);
            }
        }
        if self.irq {
            ctx.irq(IRQ_ADC, false);
        }
        self.irq = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    fn bus() -> FakeBus<Adc> {
        FakeBus::new(
            Adc::new(),
            Clocks {
                sysclk: 168_000_000,
                hclk: 168_000_000,
                pclk1: 42_000_000,
                pclk2: 84_000_000,
                tim_apb1: 84_000_000,
                tim_apb2: 168_000_000,
                pll48: 48_000_000,
            },
        )
    }

    /// The official firmware's `pyb.ADC(pin).read()`: ADON, channel, 15-cycle sampling,
    /// SWSTART, poll EOC, read DR.
    #[test]
    fn single_conversion_of_a_pin() {
        let mut b = bus();
        b.dev.set_input_mv(0, 1650);
        b.write32(CCR, 1 << 16); // ADCPRE /4: 21 MHz
        b.write32(CR2, ADON);
        b.write32(SMPR2, 1); // channel 0: 15 cycles
        b.write32(SQR3, 0);
        b.write32(CR2, ADON | SWSTART);
        assert_eq!(b.read32(CR2), ADON, "SWSTART reads 0");
        assert_eq!(b.read32(SR), STRT);
        // 15 + 12 cycles at 21 MHz = 216 CPU cycles.
        b.advance(215);
        assert_eq!(b.read32(SR) & EOC, 0);
        b.advance(1);
        assert_eq!(b.read32(SR), STRT | EOC);
        assert_eq!(b.read32(CSR), STRT | EOC, "common status mirrors ADC1");
        assert_eq!(b.read32(DR), 2048);
        assert_eq!(b.read32(SR), STRT, "reading DR clears EOC");
        b.write32(SR, 0);
        assert_eq!(b.read32(SR), 0);
    }

    #[test]
    fn internal_channels_resolution_alignment_and_irq() {
        let mut b = bus();
        b.write32(0x100 + CR2, ADON);
        b.write32(0x100 + SQR3, 17);
        b.write32(0x100 + CR2, ADON | SWSTART);
        b.advance(1000);
        assert_eq!(b.read32(0x100 + DR), 0, "VREFINT off without TSVREFE");
        b.write32(CCR, TSVREFE);
        b.write32(0x100 + CR2, ADON | SWSTART);
        b.advance(1000);
        assert_eq!(b.read32(0x100 + DR), 1501, "1.21 V");
        b.write32(0x100 + SQR3, 16);
        b.write32(0x100 + CR1, EOCIE | (1 << 24)); // 10 bits
        b.write32(0x100 + CR2, ADON | ALIGN | SWSTART);
        b.advance(1000);
        assert!(b.irq(IRQ_ADC));
        assert_eq!(
            b.read32(0x100 + DR),
            (943 >> 2) << 6,
            "0.76 V, 10 bits, left"
        );
        assert!(!b.irq(IRQ_ADC));
        b.write32(CCR, VBATE);
        b.write32(0x100 + SQR3, 18);
        b.write32(0x100 + CR1, 0);
        b.write32(0x100 + CR2, ADON | SWSTART);
        b.advance(1000);
        assert_eq!(b.read32(0x100 + DR), 2048, "VBAT / 2");
    }

    #[test]
    fn adon_off_cancels_and_reset_values() {
        let mut b = bus();
        assert_eq!(b.read32(0x24), 0x0FFF, "HTR");
        b.write32(CR2, ADON);
        b.write32(CR2, ADON | SWSTART);
        b.write32(CR2, 0);
        b.advance(10_000);
        assert_eq!(b.read32(SR) & EOC, 0);
    }
}
