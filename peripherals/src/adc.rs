//! ADC1-3, the 12-bit analog-to-digital converters, with their common registers
//! (RM0090 §13, registers §13.13): one block at 0x4001_2000 (ADC1 at +0x000, ADC2 at
//! +0x100, ADC3 at +0x200, common at +0x300).
//!
//! Modelled:
//! - Every register at its reset value (HTR = 0x0FFF, the rest 0) with its access kinds.
//! - Regular conversions (§13.3.5-13.3.8): with ADON set, writing SWSTART (which reads
//!   back 0) or an external trigger ([`Adc::external_trigger`], EXTEN != 0 and EXTSEL
//!   naming the source) starts the regular sequence; STRT rises. Without CR1.SCAN the
//!   sequence is the one channel SQ1; with SCAN it is SQ1..SQ(L+1) (SQR3, SQR2, SQR1,
//!   L = SQR1.L). With CR2.CONT the sequence starts over as soon as it ends, until ADON
//!   or CONT is cleared (a cleared CONT stops at the end of the sequence).
//! - Timing (§13.5): each conversion lasts the channel's sampling time (SMPR1/SMPR2: 3 to
//!   480 cycles) plus 12, 10, 8 or 6 cycles for the resolution (CR1.RES) of ADCCLK =
//!   PCLK2 / 2, 4, 6 or 8 (CCR.ADCPRE), from the clock tree at the conversion's start;
//!   conversions of a sequence follow each other with no gap. The input is sampled at
//!   the end of its sampling time, at that exact virtual instant (see [`crate::analog`]).
//! - Results (§13.6, §13.8): DR holds each result, right or left aligned (CR2.ALIGN; 6-bit
//!   results left aligned on bit 7). EOC rises after every conversion with CR2.EOCS, else
//!   at the end of the sequence only; reading DR clears EOC. Overrun (§13.8.1): a result
//!   that replaces one not read yet sets OVR when EOCS or DMA is set; with DMA the ADC
//!   then stops converting and asking for DMA: the software clears DMA, sets it again
//!   and starts anew (clearing OVR is up to it; the model does not wait for it).
//! - DMA (§13.8.1): with CR2.DMA every result raises the request line
//!   ([`DmaSignal::Adc`]); reading DR drops it. With DDS = 0 the machine calls
//!   [`Adc::dma_transfer_complete`] when the DMA stream has made its last transfer, and no
//!   request follows until DMA is cleared and set again; with DDS = 1 requests go on.
//! - The ADC line (IRQ 18, shared) is (EOC & EOCIE) | (OVR & OVRIE) of the three ADCs.
//! - Inputs: channels 0-15 are the pins (PA0-PA7, PB0-PB1, PC0-PC5), each a
//!   [`Signal`] in µV set by [`Adc::set_signal`] (0 V until set: the board default);
//!   channel 16 is the temperature sensor at 25 °C (0.76 V, datasheet V25) and channel 17
//!   VREFINT (1.21 V), both only while CCR.TSVREFE is set; channel 18 is VBAT / 2 while
//!   CCR.VBATE is set (VBAT = 3.3 V). VDDA = VREF+ = 3.3 V: code = µV * 4096 / 3.3e6
//!   rounded down, clamped to 0..=4095.
//! - The common status register CSR mirrors the three SR registers.
//!
//! Not modelled (fields declared; a write that changes one warns once):
//! - Discontinuous mode, injected channels (JSWSTART, JSQR, JDRx, JOFRx, JEXTEN), the
//!   analog watchdog (AWD, HTR/LTR), multi-ADC modes (CCR.MULTI, DELAY, CDR, CCR.DMA/DDS),
//!   the edge polarity of EXTEN (every trigger pulse counts as its active edge), the
//!   power-up stabilisation time after ADON, the sampling capacitor and source
//!   impedance, noise and offset errors, a clock change during a conversion (the
//!   conversion keeps the timing it started with).

use crate::analog::{Signal, TimeBase};
use crate::device::{BusError, Ctx, Device, DmaSignal, Effect, Size};
use crate::regs::{f, unmodelled, Access::*, Block, Field, Reg};

const T: &str = "periph::adc";

/// ADC1, ADC2 and ADC3 global interrupt line.
pub const IRQ_ADC: u16 = 18;

pub const SR: u32 = 0x00;
pub const CR1: u32 = 0x04;
pub const CR2: u32 = 0x08;
pub const SMPR1: u32 = 0x0C;
pub const SMPR2: u32 = 0x10;
pub const SQR1: u32 = 0x2C;
pub const SQR2: u32 = 0x30;
pub const SQR3: u32 = 0x34;
pub const DR: u32 = 0x4C;
pub const CSR: u32 = 0x300;
pub const CCR: u32 = 0x304;

pub const EOC: u32 = 1 << 1;
pub const STRT: u32 = 1 << 4;
pub const OVR: u32 = 1 << 5;
pub const EOCIE: u32 = 1 << 5;
pub const SCAN: u32 = 1 << 8;
pub const OVRIE: u32 = 1 << 26;
pub const ADON: u32 = 1 << 0;
pub const CONT: u32 = 1 << 1;
pub const DMA: u32 = 1 << 8;
pub const DDS: u32 = 1 << 9;
pub const EOCS: u32 = 1 << 10;
pub const ALIGN: u32 = 1 << 11;
pub const SWSTART: u32 = 1 << 30;
pub const VBATE: u32 = 1 << 22;
pub const TSVREFE: u32 = 1 << 23;

/// Sampling times in ADCCLK cycles, by SMPx code.
const SAMPLE_CYCLES: [u64; 8] = [3, 15, 28, 56, 84, 112, 144, 480];
/// VDDA = VREF+ in microvolts.
const VREF_UV: i64 = 3_300_000;
/// Temperature sensor output at 25 °C (datasheet V25), VREFINT, and VBAT, in µV.
const TEMP_UV: i64 = 760_000;
const VREFINT_UV: i64 = 1_210_000;
const VBAT_UV: i64 = 3_300_000;

/// A source of the regular external trigger, as CR2.EXTSEL selects it (RM0090 §13.13.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Timer `tim` capture/compare channel `ch` event.
    TimCc { tim: u8, ch: u8 },
    /// Timer `tim` TRGO.
    TimTrgo(u8),
    /// EXTI line 11.
    Exti11,
}

impl Trigger {
    /// The EXTSEL code that selects this source, if any does.
    pub fn extsel(self) -> Option<u32> {
        Some(match self {
            Trigger::TimCc { tim: 1, ch: 1 } => 0,
            Trigger::TimCc { tim: 1, ch: 2 } => 1,
            Trigger::TimCc { tim: 1, ch: 3 } => 2,
            Trigger::TimCc { tim: 2, ch: 2 } => 3,
            Trigger::TimCc { tim: 2, ch: 3 } => 4,
            Trigger::TimCc { tim: 2, ch: 4 } => 5,
            Trigger::TimTrgo(2) => 6,
            Trigger::TimCc { tim: 3, ch: 1 } => 7,
            Trigger::TimTrgo(3) => 8,
            Trigger::TimCc { tim: 4, ch: 4 } => 9,
            Trigger::TimCc { tim: 5, ch: 1 } => 10,
            Trigger::TimCc { tim: 5, ch: 2 } => 11,
            Trigger::TimCc { tim: 5, ch: 3 } => 12,
            Trigger::TimCc { tim: 8, ch: 1 } => 13,
            Trigger::TimTrgo(8) => 14,
            Trigger::Exti11 => 15,
            _ => return None,
        })
    }
}

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
    f("SCAN", 8, 1, Rw),
    unmodelled("AWDSGL", 9, 1, Rw),
    unmodelled("JAUTO", 10, 1, Rw),
    unmodelled("DISCEN", 11, 1, Rw),
    unmodelled("JDISCEN", 12, 1, Rw),
    unmodelled("DISCNUM", 13, 3, Rw),
    unmodelled("JAWDEN", 22, 1, Rw),
    unmodelled("AWDEN", 23, 1, Rw),
    f("RES", 24, 2, Rw),
    f("OVRIE", 26, 1, Rw),
];
const CR2_F: &[Field] = &[
    f("ADON", 0, 1, Rw),
    f("CONT", 1, 1, Rw),
    f("DMA", 8, 1, Rw),
    f("DDS", 9, 1, Rw),
    f("EOCS", 10, 1, Rw),
    f("ALIGN", 11, 1, Rw),
    unmodelled("JEXTSEL", 16, 4, Rw),
    unmodelled("JEXTEN", 20, 2, Rw),
    unmodelled("JSWSTART", 22, 1, Rw),
    f("EXTSEL", 24, 4, Rw),
    f("EXTEN", 28, 2, Rw),
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
const SQR1_F: &[Field] = &[f("SQ13_16", 0, 20, Rw), f("L", 20, 4, Rw)];
const SQR2_F: &[Field] = &[f("SQ7_12", 0, 30, Rw)];
const SQR3_F: &[Field] = &[f("SQ1", 0, 5, Rw), f("SQ2_6", 5, 25, Rw)];
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

/// The conversion under way on one ADC.
#[derive(Debug, Clone, Copy)]
struct Conv {
    /// Position in the regular sequence (0 = SQ1).
    pos: u8,
    ch: u8,
    /// Virtual time (ns) of the end of the sampling time.
    sample_ns: u64,
}

/// State of one ADC besides its registers.
#[derive(Debug, Clone, Copy, Default)]
struct Unit {
    conv: Option<Conv>,
    /// DR holds a result nobody has read.
    unread: bool,
    /// The DMA request line is high.
    dma_req: bool,
    /// No DMA requests until CR2.DMA is cleared and set again (DDS = 0 after the last
    /// transfer, or an overrun).
    dma_stopped: bool,
}

/// The three ADCs and their common registers.
pub struct Adc {
    regs: Block,
    /// Voltage at channels 0-15 (the pins), in µV.
    inputs: [Signal; 16],
    units: [Unit; 3],
    time: TimeBase,
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
            inputs: Default::default(),
            units: [Unit::default(); 3],
            time: TimeBase::default(),
            irq: false,
        }
    }

    /// Sets the voltage at analog input `channel` (0-15: PA0-PA7, PB0-PB1, PC0-PC5) to a
    /// constant `mv` millivolts.
    pub fn set_input_mv(&mut self, channel: u8, mv: u32) {
        self.set_signal(channel, Signal::constant(mv as i64 * 1000));
    }

    /// Sets the voltage at analog input `channel` (0-15) as a function of virtual time,
    /// in µV. The signal survives resets (it is outside the chip).
    pub fn set_signal(&mut self, channel: u8, signal: Signal) {
        if let Some(v) = self.inputs.get_mut(channel as usize) {
            *v = signal;
        }
    }

    /// The voltage (µV) channel `ch` sees at virtual time `ns`.
    fn input_uv(&self, ch: u8, ns: u64) -> i64 {
        let ccr = self.regs.get(CCR);
        match ch {
            0..=15 => self.inputs[ch as usize].at(ns),
            16 if ccr & TSVREFE != 0 => TEMP_UV,
            17 if ccr & TSVREFE != 0 => VREFINT_UV,
            18 if ccr & VBATE != 0 => VBAT_UV / 2,
            _ => 0,
        }
    }

    /// The 12-bit code channel `ch` converts to at virtual time `ns`.
    fn sample12(&self, ch: u8, ns: u64) -> u32 {
        (self.input_uv(ch, ns) as i128 * 4096 / VREF_UV as i128).clamp(0, 4095) as u32
    }

    /// ADCCLK in Hz: PCLK2 / 2, 4, 6 or 8.
    fn adcclk(&self, ctx: &Ctx) -> u32 {
        let pre = (self.regs.get(CCR) >> 16) & 3;
        ctx.clocks.pclk2 / (2 * (pre + 1))
    }

    /// Length of the regular sequence of ADC `n`: L + 1 in scan mode, else 1.
    fn seq_len(&self, n: usize) -> u8 {
        let b = 0x100 * n as u32;
        if self.regs.get(b + CR1) & SCAN != 0 {
            ((self.regs.get(b + SQR1) >> 20) & 0xF) as u8 + 1
        } else {
            1
        }
    }

    /// The channel at position `pos` (0 = SQ1) of ADC `n`'s regular sequence.
    fn seq_channel(&self, n: usize, pos: u8) -> u8 {
        let b = 0x100 * n as u32;
        let (reg, i) = match pos {
            0..=5 => (SQR3, pos),
            6..=11 => (SQR2, pos - 6),
            _ => (SQR1, pos - 12),
        };
        ((self.regs.get(b + reg) >> (5 * i as u32)) & 0x1F) as u8
    }

    /// Starts the conversion at position `pos` of ADC `n`'s regular sequence.
    fn start(&mut self, ctx: &mut Ctx, n: usize, pos: u8) {
        let b = 0x100 * n as u32;
        let ch = self.seq_channel(n, pos);
        let smp = if ch < 10 {
            (self.regs.get(b + SMPR2) >> (3 * ch as u32)) & 7
        } else {
            (self.regs.get(b + SMPR1) >> (3 * (ch.min(18) as u32 - 10))) & 7
        };
        let res = (self.regs.get(b + CR1) >> 24) & 3;
        let adcclk = self.adcclk(ctx);
        let sampling = SAMPLE_CYCLES[smp as usize];
        let cycles = sampling + 12 - 2 * res as u64;
        let sample_at = ctx.now + ctx.clocks.to_cycles(sampling, adcclk);
        let at = ctx.now + ctx.clocks.to_cycles(cycles, adcclk);
        self.units[n].conv = Some(Conv {
            pos,
            ch,
            sample_ns: self.time.ns(sample_at),
        });
        self.regs.set_bits(b + SR, STRT, true);
        ctx.schedule(n as u32, at);
        tracing::trace!(target: T, t = ctx.now, adc = n + 1, ch, pos, cycles, "conversion started");
    }

    /// Stops ADC `n`'s conversions (the one under way is lost).
    fn stop(&mut self, ctx: &mut Ctx, n: usize) {
        if self.units[n].conv.take().is_some() {
            ctx.cancel(n as u32);
        }
    }

    fn finish(&mut self, ctx: &mut Ctx, n: usize) {
        let Some(conv) = self.units[n].conv.take() else {
            return;
        };
        let b = 0x100 * n as u32;
        let cr2 = self.regs.get(b + CR2);
        let res = (self.regs.get(b + CR1) >> 24) & 3;
        let bits = 12 - 2 * res;
        let v = self.sample12(conv.ch, conv.sample_ns) >> (12 - bits);
        let dr = if cr2 & ALIGN == 0 {
            v
        } else if bits == 6 {
            v << 2
        } else {
            v << (16 - bits)
        };
        let dma = cr2 & DMA != 0;
        let overrun = self.units[n].unread && (cr2 & EOCS != 0 || dma);
        self.regs.set(b + DR, dr);
        self.units[n].unread = true;
        let last = conv.pos + 1 >= self.seq_len(n);
        if cr2 & EOCS != 0 || last {
            self.regs.set_bits(b + SR, EOC, true);
        }
        tracing::trace!(target: T, t = ctx.now, adc = n + 1, ch = conv.ch, dr, overrun, "conversion done");
        if overrun {
            self.regs.set_bits(b + SR, OVR, true);
            tracing::debug!(target: T, t = ctx.now, adc = n + 1, "overrun");
            if dma {
                // Conversions and DMA requests stop until the software restarts both.
                self.units[n].dma_stopped = true;
                self.set_dma(ctx, n, false);
                self.update_irq(ctx);
                return;
            }
        }
        if dma && !self.units[n].dma_stopped {
            self.set_dma(ctx, n, true);
        }
        if !last {
            self.start(ctx, n, conv.pos + 1);
        } else if cr2 & CONT != 0 {
            self.start(ctx, n, 0);
        }
        self.update_irq(ctx);
    }

    fn set_dma(&mut self, ctx: &mut Ctx, n: usize, level: bool) {
        if self.units[n].dma_req != level {
            self.units[n].dma_req = level;
            ctx.push(Effect::DmaRequest {
                signal: DmaSignal::Adc(n as u8 + 1),
                level,
            });
        }
    }

    /// The DMA stream serving ADC `n` (1-3) made its last transfer (NDTR reached 0):
    /// with CR2.DDS = 0 the ADC asks for no more DMA until CR2.DMA is cleared and set.
    pub fn dma_transfer_complete(&mut self, ctx: &mut Ctx, n: u8) {
        let Some(i) = (n as usize).checked_sub(1).filter(|i| *i < 3) else {
            return;
        };
        if self.regs.get(0x100 * i as u32 + CR2) & DDS == 0 {
            self.units[i].dma_stopped = true;
            self.set_dma(ctx, i, false);
        }
    }

    /// An external trigger pulse from `source`: every ADC that is on, idle, has EXTEN set
    /// and EXTSEL naming `source` starts its regular sequence.
    pub fn external_trigger(&mut self, ctx: &mut Ctx, source: Trigger) {
        let Some(sel) = source.extsel() else {
            return;
        };
        for n in 0..3 {
            let cr2 = self.regs.get(0x100 * n as u32 + CR2);
            let armed = cr2 & ADON != 0 && (cr2 >> 28) & 3 != 0 && (cr2 >> 24) & 0xF == sel;
            if armed && self.units[n].conv.is_none() {
                self.start(ctx, n, 0);
            }
        }
    }

    /// Timer `tim`'s TRGO pulsed (the machine passes a context at the pulse's time): the
    /// ADCs whose EXTSEL selects that TRGO start (TIM2, TIM3 and TIM8 can trigger them).
    pub fn timer_trgo(&mut self, ctx: &mut Ctx, tim: u8) {
        self.external_trigger(ctx, Trigger::TimTrgo(tim));
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let level = (0..3u32).any(|n| {
            let sr = self.regs.get(0x100 * n + SR);
            let cr1 = self.regs.get(0x100 * n + CR1);
            (sr & EOC != 0 && cr1 & EOCIE != 0) || (sr & OVR != 0 && cr1 & OVRIE != 0)
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
            // Reading the data register clears EOC and serves the DMA request.
            let n = (offset >> 8) as usize;
            self.regs.set_bits((offset & 0x300) + SR, EOC, false);
            self.units[n].unread = false;
            self.set_dma(ctx, n, false);
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
                if w.new & DMA == 0 || w.old & DMA == 0 {
                    // Clearing DMA (or setting it anew) re-arms the requests.
                    self.units[n].dma_stopped = false;
                    if w.new & DMA == 0 {
                        self.set_dma(ctx, n, false);
                    }
                }
                if w.new & ADON == 0 {
                    self.stop(ctx, n);
                } else if w.new & SWSTART != 0 && self.units[n].conv.is_none() {
                    self.start(ctx, n, 0);
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

    fn clocks_changed(&mut self, ctx: &mut Ctx) {
        self.time.update(ctx.now, ctx.clocks.sysclk);
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.time.update(ctx.now, ctx.clocks.sysclk);
        self.regs.reset();
        for n in 0..3 {
            self.stop(ctx, n);
            self.set_dma(ctx, n, false);
            self.units[n] = Unit::default();
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

    fn bus() -> FakeBus<Adc> {
        FakeBus::new(Adc::new(), crate::testing::PYBOARD)
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

    /// Scan of three channels, EOC per conversion (EOCS), then continuous: each
    /// conversion takes (3 + 12) ADCCLK cycles at 21 MHz = 120 CPU cycles.
    #[test]
    fn scan_sequence_with_eocs_then_continuous() {
        let mut b = bus();
        for ch in 0..3 {
            b.dev.set_input_mv(ch, 1000 * (ch as u32 + 1));
        }
        b.write32(CCR, 1 << 16);
        b.write32(SQR1, 2 << 20); // L = 2: three conversions
        b.write32(SQR3, 2 | (1 << 5)); // SQ1 = ch2, SQ2 = ch1, SQ3 = ch0
        b.write32(CR1, SCAN);
        b.write32(CR2, ADON | EOCS);
        b.write32(CR2, ADON | EOCS | SWSTART);
        let mut seen = Vec::new();
        for _ in 0..3 {
            b.advance(119);
            assert_eq!(b.read32(SR) & EOC, 0, "not yet at {}", b.now);
            b.advance(1);
            assert_eq!(b.read32(SR) & EOC, EOC);
            seen.push((b.now, b.read32(DR)));
        }
        assert_eq!(seen, vec![(120, 3723), (240, 2482), (360, 1241)]);
        b.advance(1000);
        assert_eq!(
            b.next_deadline(),
            None,
            "single mode: the sequence ran once"
        );
        // Without EOCS, EOC only at the end of the sequence.
        b.write32(CR2, ADON | SWSTART);
        b.advance(240);
        assert_eq!(b.read32(SR) & EOC, 0);
        b.advance(120);
        assert_eq!(
            b.read32(SR) & (EOC | OVR),
            EOC,
            "no overrun without EOCS/DMA"
        );
        assert_eq!(b.read32(DR), 1241);
        // Continuous: the sequence starts over with no gap.
        b.write32(CR1, 0);
        b.write32(CR2, ADON | CONT | SWSTART);
        let t0 = b.now;
        b.advance(120 * 5);
        assert_eq!(b.next_deadline(), Some(t0 + 120 * 6));
        assert_eq!(b.read32(DR), 3723, "SQ1 only without SCAN");
        b.write32(CR2, ADON);
        assert_eq!(
            b.next_deadline(),
            Some(t0 + 120 * 6),
            "CONT cleared: this one ends"
        );
        b.advance(1000);
        assert_eq!(b.next_deadline(), None, "and no other starts");
        b.write32(CR2, ADON | CONT | SWSTART);
        b.write32(CR2, 0);
        assert_eq!(b.next_deadline(), None, "ADON off stops");
    }

    #[test]
    fn overrun_with_eocs_and_its_interrupt() {
        let mut b = bus();
        b.write32(CCR, 1 << 16);
        b.write32(CR1, OVRIE);
        b.write32(CR2, ADON | EOCS | CONT | SWSTART);
        b.advance(120);
        assert_eq!(b.read32(SR) & OVR, 0);
        assert!(!b.irq(IRQ_ADC));
        b.advance(120);
        assert_eq!(
            b.read32(SR) & OVR,
            OVR,
            "second result while the first was unread"
        );
        assert!(b.irq(IRQ_ADC));
        b.write32(SR, !OVR);
        assert!(!b.irq(IRQ_ADC));
    }

    /// DMA requests: one per result, dropped when DR is read; DDS = 0 stops after the
    /// stream's last transfer, DDS = 1 goes on; a missed read with DMA is an overrun
    /// that stops the ADC.
    #[test]
    fn dma_requests_dds_and_overrun() {
        let mut b = bus();
        b.write32(CCR, 1 << 16);
        b.write32(CR2, ADON | DMA | CONT | SWSTART);
        let reqs = |b: &mut FakeBus<Adc>| -> Vec<(u64, bool)> {
            b.take_log()
                .into_iter()
                .filter_map(|(t, e)| match e {
                    Effect::DmaRequest {
                        signal: DmaSignal::Adc(1),
                        level,
                    } => Some((t, level)),
                    _ => None,
                })
                .collect()
        };
        reqs(&mut b);
        b.advance(120);
        b.read32(DR);
        b.advance(120);
        b.read32(DR);
        assert_eq!(
            reqs(&mut b),
            vec![(120, true), (120, false), (240, true), (240, false)]
        );
        b.with(|a, ctx| a.dma_transfer_complete(ctx, 1));
        b.advance(120);
        b.read32(DR);
        assert_eq!(
            reqs(&mut b),
            vec![],
            "DDS = 0: no request after the last transfer"
        );
        b.write32(CR2, ADON | DDS | CONT);
        b.write32(CR2, ADON | DDS | DMA | CONT);
        b.advance(120);
        b.read32(DR);
        b.with(|a, ctx| a.dma_transfer_complete(ctx, 1));
        b.advance(120);
        assert_eq!(reqs(&mut b), vec![(480, true), (480, false), (600, true)]);
        // Nobody reads DR: the next result is an overrun and the ADC stops.
        b.advance(120);
        assert_eq!(b.read32(SR) & OVR, OVR);
        assert_eq!(reqs(&mut b), vec![(720, false)]);
        b.advance(1000);
        assert_eq!(b.next_deadline(), None);
    }

    /// The input is sampled at the end of the sampling time, on the signal of that
    /// instant: a 480-cycle sample at 21 MHz ends 3840 CPU cycles (22857 ns) after the
    /// start.
    #[test]
    fn samples_a_waveform_at_the_sampling_instant() {
        let mut b = bus();
        let mut s = Signal::default();
        // 0 V until 22 us, then a ramp to 3.3 V at 23 us.
        s.table(
            vec![(22_000, 0), (23_000, 3_300_000)],
            crate::analog::Interp::Linear,
        );
        b.dev.set_signal(10, s);
        b.write32(CCR, 1 << 16);
        b.write32(SMPR1, 7); // channel 10: 480 cycles
        b.write32(SQR3, 10);
        b.write32(CR2, ADON | SWSTART);
        b.advance(10_000);
        assert_eq!(b.now, 10_000);
        // Sample at cycle 3840 = 22857 ns: 0.857 of the ramp.
        assert_eq!(b.read32(DR), (2_828_100i64 * 4096 / 3_300_000) as u32);
    }

    #[test]
    fn external_trigger_starts_the_sequence() {
        let mut b = bus();
        b.write32(CCR, 1 << 16);
        b.write32(CR2, ADON | (1 << 28) | (8 << 24)); // rising edge of TIM3 TRGO
        b.with(|a, ctx| a.external_trigger(ctx, Trigger::TimTrgo(2)));
        assert_eq!(b.next_deadline(), None, "not the selected source");
        b.with(|a, ctx| a.timer_trgo(ctx, 3));
        assert_eq!(b.next_deadline(), Some(120));
        b.with(|a, ctx| a.timer_trgo(ctx, 3));
        assert_eq!(
            b.next_deadline(),
            Some(120),
            "busy: a trigger during a conversion is ignored"
        );
        assert_eq!(Trigger::Exti11.extsel(), Some(15));
    }

    /// Arbitrary register writes (channels above 18, every sample time, resolution and
    /// sequence length, every EXTSEL), triggers, DMA completions and extreme input
    /// signals: no panic, no event storm.
    #[test]
    fn arbitrary_programming_never_panics() {
        use crate::analog::Interp;
        let offsets: Vec<u32> = REGS.iter().map(|r| r.offset).chain([0x3FC]).collect();
        for seed in 1..=30 {
            let mut b = bus();
            let mut s = Signal::constant(i64::MAX);
            s.table(
                vec![(0, i64::MIN), (5, i64::MAX), (5, 0), (3, 7)],
                Interp::Linear,
            );
            b.dev.set_signal(0, s);
            b.dev.set_signal(1, Signal::constant(i64::MIN));
            crate::testing::hammer(&mut b, seed, 3000, &offsets, |b, rng| match rng.below(3) {
                0 => {
                    let tim = rng.below(10) as u8;
                    b.with(|d, ctx| d.timer_trgo(ctx, tim));
                }
                1 => {
                    let t = Trigger::TimCc {
                        tim: rng.below(9) as u8,
                        ch: rng.below(5) as u8,
                    };
                    b.with(|d, ctx| d.external_trigger(ctx, t));
                }
                _ => {
                    let n = rng.below(5) as u8;
                    b.with(|d, ctx| d.dma_transfer_complete(ctx, n));
                }
            });
        }
    }
}
