//! DAC, the two-channel 12-bit digital-to-analog converter (RM0090 §14, registers §14.5).
//!
//! Modelled:
//! - The holding registers of both channels: DHR12R/DHR12L/DHR8R per channel and the dual
//!   DHR12RD/DHR12LD/DHR8RD, all views of one 12-bit holding value per channel (a read
//!   returns that value in the register's alignment).
//! - DOR update (RM0090 §14.3, "DAC conversion"): with TENx = 0, one APB1 clock cycle after
//!   a holding register write (and after ENx is set); with TENx = 1, three APB1 clock
//!   cycles after a trigger, with the holding value of the moment of the trigger. Triggers
//!   (TSELx): TIM6/8/7/5/2/4 TRGO through [`Dac::timer_trgo`] (the machine routes
//!   [`Effect::TimerTrgo`](crate::Effect::TimerTrgo) here) and the software trigger
//!   (SWTRIGR, reads 0). A channel with ENx = 0 ignores triggers.
//! - DMA (§14.3, "DMA request"): an external trigger with DMAENx raises the request
//!   [`DmaSignal::Dac`]; a write to the channel's holding register acknowledges it (the
//!   request falls). A trigger while the request is still pending sets DMAUDRx in SR: the
//!   pending request is dropped and, until software clears DMAUDRx, triggers raise no
//!   request (§14.3.8: "DMA data transfers are then disabled and no further DMA request
//!   is treated"; the channel goes on converting its holding value). DMAUDRIEx puts it on
//!   IRQ 54 (TIM6_DAC, shared with TIM6; the machine ORs the sources).
//! - Wave generation on each trigger (TENx = 1): triangle (WAVEx = 1x, §14.3 "Triangle-wave
//!   generation": a counter from 0 up to the MAMPx amplitude 2^(MAMPx+1) - 1 and back down,
//!   added to the holding value) and noise (WAVEx = 01, §14.3 "Noise generation": a 12-bit
//!   LFSR preset to 0xAAA with RM0090's polynomial X^12 + X^6 + X^4 + X + 1, masked to
//!   MAMPx + 1 bits, added to the holding value; 0 is never kept, a 1 is injected). Sums
//!   wrap at 12 bits (our reading of "added without overflow"). Changing WAVEx restarts the
//!   generator.
//! - Every DOR load of an enabled channel is an output sample, reported as an
//!   [`Effect::DacOutput`] at its cycle (the machine hands it to whoever records: the
//!   `--dac-trace` CSV and the VCD).
//!
//! Not modelled:
//! - The bit order in which the noise LFSR shifts is our reading of RM0090 Figure 48, not
//!   checked against silicon: the noise is noise-like and deterministic, not bit-exact. The
//!   EXTI line 9 trigger (TSELx = 110: warned once, never fires), the output buffer (BOFFx
//!   stored) and the analog settling time (tSETTLING): the output is the code, at the DOR
//!   load.

use crate::device::{BusError, Ctx, Device, DmaSignal, Effect, Size};
use crate::regs::{f, unimplemented, Access::*, Block, Reg};

const T: &str = "periph::dac";

pub const CR: u32 = 0x00;
pub const SWTRIGR: u32 = 0x04;
pub const DHR12R1: u32 = 0x08;
pub const DHR12L1: u32 = 0x0C;
pub const DHR8R1: u32 = 0x10;
pub const DHR12R2: u32 = 0x14;
pub const DHR12L2: u32 = 0x18;
pub const DHR8R2: u32 = 0x1C;
pub const DHR12RD: u32 = 0x20;
pub const DHR12LD: u32 = 0x24;
pub const DHR8RD: u32 = 0x28;
pub const DOR1: u32 = 0x2C;
pub const DOR2: u32 = 0x30;
pub const SR: u32 = 0x34;

// CR bits of channel 1 (channel 2: << 16).
pub const EN1: u32 = 1 << 0;
pub const TEN1: u32 = 1 << 2;
pub const DMAEN1: u32 = 1 << 12;
pub const DMAUDRIE1: u32 = 1 << 13;
pub const DMAUDR1: u32 = 1 << 13;

/// The TIM6_DAC interrupt line.
pub const IRQ: u16 = 54;

/// The register table (RM0090 §14.5).
pub const REGS: &[Reg] = &[
    Reg {
        offset: CR,
        name: "CR",
        reset: 0x0,
        fields: &[
            f("EN1", 0, 1, Rw),
            f("BOFF1", 1, 1, Rw),
            f("TEN1", 2, 1, Rw),
            f("TSEL1", 3, 3, Rw),
            f("WAVE1", 6, 2, Rw),
            f("MAMP1", 8, 4, Rw),
            f("DMAEN1", 12, 1, Rw),
            f("DMAUDRIE1", 13, 1, Rw),
            f("EN2", 16, 1, Rw),
            f("BOFF2", 17, 1, Rw),
            f("TEN2", 18, 1, Rw),
            f("TSEL2", 19, 3, Rw),
            f("WAVE2", 22, 2, Rw),
            f("MAMP2", 24, 4, Rw),
            f("DMAEN2", 28, 1, Rw),
            f("DMAUDRIE2", 29, 1, Rw),
        ],
    },
    Reg {
        offset: SWTRIGR,
        name: "SWTRIGR",
        reset: 0x0,
        fields: &[f("SWTRIG1", 0, 1, W), f("SWTRIG2", 1, 1, W)],
    },
    Reg {
        offset: DHR12R1,
        name: "DHR12R1",
        reset: 0x0,
        fields: &[f("DACC1DHR", 0, 12, Rw)],
    },
    Reg {
        offset: DHR12L1,
        name: "DHR12L1",
        reset: 0x0,
        fields: &[f("DACC1DHR", 4, 12, Rw)],
    },
    Reg {
        offset: DHR8R1,
        name: "DHR8R1",
        reset: 0x0,
        fields: &[f("DACC1DHR", 0, 8, Rw)],
    },
    Reg {
        offset: DHR12R2,
        name: "DHR12R2",
        reset: 0x0,
        fields: &[f("DACC2DHR", 0, 12, Rw)],
    },
    Reg {
        offset: DHR12L2,
        name: "DHR12L2",
        reset: 0x0,
        fields: &[f("DACC2DHR", 4, 12, Rw)],
    },
    Reg {
        offset: DHR8R2,
        name: "DHR8R2",
        reset: 0x0,
        fields: &[f("DACC2DHR", 0, 8, Rw)],
    },
    Reg {
        offset: DHR12RD,
        name: "DHR12RD",
        reset: 0x0,
        fields: &[f("DACC1DHR", 0, 12, Rw), f("DACC2DHR", 16, 12, Rw)],
    },
    Reg {
        offset: DHR12LD,
        name: "DHR12LD",
        reset: 0x0,
        fields: &[f("DACC1DHR", 4, 12, Rw), f("DACC2DHR", 20, 12, Rw)],
    },
    Reg {
        offset: DHR8RD,
        name: "DHR8RD",
        reset: 0x0,
        fields: &[f("DACC1DHR", 0, 8, Rw), f("DACC2DHR", 8, 8, Rw)],
    },
    Reg {
        offset: DOR1,
        name: "DOR1",
        reset: 0x0,
        fields: &[f("DACC1DOR", 0, 12, R)],
    },
    Reg {
        offset: DOR2,
        name: "DOR2",
        reset: 0x0,
        fields: &[f("DACC2DOR", 0, 12, R)],
    },
    Reg {
        offset: SR,
        name: "SR",
        reset: 0x0,
        fields: &[f("DMAUDR1", 13, 1, Rc1), f("DMAUDR2", 29, 1, Rc1)],
    },
];

/// Value of the noise LFSR after reset (RM0090 §14.3, "Noise generation").
const LFSR_PRESET: u16 = 0xAAA;

/// One output sample: (CPU cycle, channel 1-2, 12-bit code).
pub type Sample = (u64, u8, u16);

/// The DAC block.
pub struct Dac {
    regs: Block,
    dhr: [u16; 2],
    dor: [u16; 2],
    /// The value a scheduled DOR load (token = channel index) will take.
    load: [Option<u16>; 2],
    /// DMA request raised and not yet acknowledged.
    req: [bool; 2],
    /// Triangle counter and its direction (true: counting down), noise LFSR.
    tri: [(u16, bool); 2],
    lfsr: [u16; 2],
    irq: bool,
    warned_exti9: bool,
}

impl Default for Dac {
    fn default() -> Self {
        Self::new()
    }
}

impl Dac {
    pub fn new() -> Dac {
        Dac {
            regs: Block::new("DAC", REGS),
            dhr: [0; 2],
            dor: [0; 2],
            load: [None; 2],
            req: [false; 2],
            tri: [(0, false); 2],
            lfsr: [LFSR_PRESET; 2],
            irq: false,
            warned_exti9: false,
        }
    }

    /// The output code of channel `ch` (1-2) now.
    pub fn output(&self, ch: u8) -> u16 {
        self.dor[(ch as usize - 1) & 1]
    }

    /// CR bits of channel `i` (0-1), shifted down to channel 1's positions.
    fn cr(&self, i: usize) -> u32 {
        (self.regs.get(CR) >> (16 * i)) & 0xFFFF
    }

    fn apb1_cycles(ctx: &Ctx, n: u64) -> u64 {
        ctx.clocks.to_cycles(n, ctx.clocks.pclk1).max(1)
    }

    fn schedule_load(&mut self, ctx: &mut Ctx, i: usize, at: u64, value: u16) {
        self.load[i] = Some(value);
        ctx.schedule(i as u32, at);
    }

    /// A trigger for channel `i` at cycle `at` (`external`: not the software trigger).
    fn trigger(&mut self, ctx: &mut Ctx, i: usize, at: u64, external: bool) {
        let cr = self.cr(i);
        if cr & EN1 == 0 || cr & TEN1 == 0 {
            return;
        }
        let when = at + Self::apb1_cycles(ctx, 3);
        let value = self.dhr[i].wrapping_add(self.wave_step(i)) & 0xFFF;
        self.schedule_load(ctx, i, when, value);
        if external && cr & DMAEN1 != 0 {
            if self.regs.get(SR) & (DMAUDR1 << (16 * i)) != 0 {
                // After an underrun no DMA request is treated until DMAUDRx is cleared.
            } else if self.req[i] {
                tracing::debug!(target: T, t = at, ch = i + 1, "DMA underrun");
                self.regs.set_bits(SR, DMAUDR1 << (16 * i), true);
                self.drop_request(ctx, i);
                self.update_irq(ctx);
            } else {
                self.req[i] = true;
                ctx.push(Effect::DmaRequest {
                    signal: DmaSignal::Dac(i as u8 + 1),
                    level: true,
                });
            }
        }
    }

    /// The wave generator's next value for channel `i` (0 without wave generation).
    fn wave_step(&mut self, i: usize) -> u16 {
        let cr = self.cr(i);
        let mamp = ((cr >> 8) & 15).min(11);
        let amplitude = ((1u32 << (mamp + 1)) - 1) as u16;
        match (cr >> 6) & 3 {
            0 => 0,
            1 => {
                let l = self.lfsr[i];
                let bit = ((l >> 11) ^ (l >> 5) ^ (l >> 3) ^ l) & 1;
                let mut next = ((l << 1) | bit) & 0xFFF;
                if next == 0 {
                    next = 1;
                }
                self.lfsr[i] = next;
                next & amplitude
            }
            _ => {
                let (v, down) = &mut self.tri[i];
                if *down {
                    *v = v.saturating_sub(1);
                    if *v == 0 {
                        *down = false;
                    }
                } else {
                    *v = (*v + 1).min(amplitude);
                    if *v >= amplitude {
                        *down = true;
                    }
                }
                *v
            }
        }
    }

    /// Timer `tim`'s TRGO pulsed at cycle `at`: triggers the channels whose TSELx
    /// selects it (000 TIM6, 001 TIM8, 010 TIM7, 011 TIM5, 100 TIM2, 101 TIM4).
    pub fn timer_trgo(&mut self, ctx: &mut Ctx, tim: u8, at: u64) {
        let tsel = match tim {
            6 => 0,
            8 => 1,
            7 => 2,
            5 => 3,
            2 => 4,
            4 => 5,
            _ => return,
        };
        for i in 0..2 {
            if (self.cr(i) >> 3) & 7 == tsel {
                self.trigger(ctx, i, at, true);
            }
        }
    }

    fn drop_request(&mut self, ctx: &mut Ctx, i: usize) {
        if self.req[i] {
            self.req[i] = false;
            ctx.push(Effect::DmaRequest {
                signal: DmaSignal::Dac(i as u8 + 1),
                level: false,
            });
        }
    }

    /// Channel `i`'s holding register got `value` (12-bit right-aligned).
    fn hold(&mut self, ctx: &mut Ctx, i: usize, value: u16) {
        self.dhr[i] = value & 0xFFF;
        self.drop_request(ctx, i);
        if self.cr(i) & TEN1 == 0 {
            let at = ctx.now + Self::apb1_cycles(ctx, 1);
            self.schedule_load(ctx, i, at, self.dhr[i]);
        }
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let sr = self.regs.get(SR);
        let cr = self.regs.get(CR);
        let level = (sr & cr & (DMAUDR1 | DMAUDR1 << 16)) != 0;
        if level != self.irq {
            self.irq = level;
            ctx.irq(IRQ, level);
        }
    }

    fn dhr_read(&self, reg: u32) -> u32 {
        let (a, b) = (self.dhr[0] as u32, self.dhr[1] as u32);
        match reg {
            DHR12R1 => a,
            DHR12L1 => a << 4,
            DHR8R1 => a >> 4,
            DHR12R2 => b,
            DHR12L2 => b << 4,
            DHR8R2 => b >> 4,
            DHR12RD => a | b << 16,
            DHR12LD => a << 4 | b << 20,
            DHR8RD => a >> 4 | (b >> 4) << 8,
            _ => 0,
        }
    }
}

impl Device for Dac {
    fn name(&self) -> &str {
        "DAC"
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let reg = offset & !3;
        let word = match reg {
            DHR12R1..=DHR8RD => self.dhr_read(reg),
            DOR1 => self.dor[0] as u32,
            DOR2 => self.dor[1] as u32,
            _ => self.regs.read(reg, Size::Word).unwrap_or(0),
        };
        let v = crate::device::extract(offset, size, word);
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.name_at(offset), val = v, "read");
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
        let v = w.new;
        match offset & !3 {
            CR => {
                for i in 0..2 {
                    let (old, new) = ((w.old >> (16 * i)) & 0xFFFF, (v >> (16 * i)) & 0xFFFF);
                    if new & EN1 != 0 && old & EN1 == 0 && new & TEN1 == 0 {
                        let at = ctx.now + Self::apb1_cycles(ctx, 1);
                        self.schedule_load(ctx, i, at, self.dhr[i]);
                    }
                    if new & (EN1 | DMAEN1) != EN1 | DMAEN1 {
                        self.drop_request(ctx, i);
                    }
                    if (new ^ old) & (3 << 6) != 0 {
                        self.tri[i] = (0, false);
                        self.lfsr[i] = LFSR_PRESET;
                    }
                    if new & EN1 != 0
                        && new & TEN1 != 0
                        && (new >> 3) & 7 == 6
                        && !self.warned_exti9
                    {
                        self.warned_exti9 = true;
                        unimplemented("DAC", ctx.now, "trigger from EXTI line 9 (TSELx = 110)");
                    }
                }
                self.update_irq(ctx);
            }
            SWTRIGR => {
                self.regs.set(SWTRIGR, 0);
                for i in 0..2 {
                    if v & (1 << i) != 0 && (self.cr(i) >> 3) & 7 == 7 {
                        self.trigger(ctx, i, ctx.now, false);
                    }
                }
            }
            DHR12R1 => self.hold(ctx, 0, v as u16),
            DHR12L1 => self.hold(ctx, 0, (v >> 4) as u16),
            DHR8R1 => self.hold(ctx, 0, ((v & 0xFF) << 4) as u16),
            DHR12R2 => self.hold(ctx, 1, v as u16),
            DHR12L2 => self.hold(ctx, 1, (v >> 4) as u16),
            DHR8R2 => self.hold(ctx, 1, ((v & 0xFF) << 4) as u16),
            DHR12RD => {
                self.hold(ctx, 0, v as u16);
                self.hold(ctx, 1, (v >> 16) as u16);
            }
            DHR12LD => {
                self.hold(ctx, 0, (v >> 4) as u16);
                self.hold(ctx, 1, (v >> 20) as u16);
            }
            DHR8RD => {
                self.hold(ctx, 0, ((v & 0xFF) << 4) as u16);
                self.hold(ctx, 1, ((v >> 8 & 0xFF) << 4) as u16);
            }
            SR => self.update_irq(ctx),
            _ => {}
        }
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        let i = (token & 1) as usize;
        let Some(value) = self.load[i].take() else {
            return;
        };
        self.dor[i] = value;
        if self.cr(i) & EN1 != 0 {
            tracing::trace!(target: T, t = ctx.now, ch = i + 1, code = value, "output");
            ctx.push(Effect::DacOutput {
                channel: i as u8 + 1,
                code: value,
            });
        }
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        for i in 0..2 {
            ctx.cancel(i as u32);
            self.drop_request(ctx, i);
        }
        self.dhr = [0; 2];
        self.dor = [0; 2];
        self.load = [None; 2];
        self.tri = [(0, false); 2];
        self.lfsr = [LFSR_PRESET; 2];
        if self.irq {
            ctx.irq(IRQ, false);
        }
        self.irq = false;
    }
}

/// The DAC block (`name` is "DAC").
pub fn new(_name: &str) -> Dac {
    Dac::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    const PYB: Clocks = crate::testing::PYBOARD;

    fn dac() -> FakeBus<Dac> {
        FakeBus::new(Dac::new(), PYB)
    }

    /// The output samples reported so far: (cycle, channel, code).
    fn samples(b: &FakeBus<Dac>) -> Vec<Sample> {
        b.log
            .iter()
            .filter_map(|(t, e)| match e {
                Effect::DacOutput { channel, code } => Some((*t, *channel, *code)),
                _ => None,
            })
            .collect()
    }

    fn requests(b: &mut FakeBus<Dac>) -> Vec<(u64, u8, bool)> {
        b.take_log()
            .into_iter()
            .filter_map(|(t, e)| match e {
                Effect::DmaRequest {
                    signal: DmaSignal::Dac(n),
                    level,
                } => Some((t, n, level)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn software_write_reaches_dor_one_apb1_cycle_later() {
        let mut b = dac();
        b.write32(CR, EN1 | (EN1 << 16));
        b.advance(100);
        b.write32(DHR12R1, 0xABC);
        // One APB1 cycle at 42 MHz is 4 CPU cycles.
        b.advance(3);
        assert_eq!(b.read32(DOR1), 0);
        b.advance(1);
        assert_eq!(b.read32(DOR1), 0xABC);
        b.write32(DHR8R2, 0x12);
        b.write32(DHR12L1, 0x5670);
        b.advance(4);
        assert_eq!(b.read32(DOR2), 0x120);
        assert_eq!(b.read32(DOR1), 0x567);
        assert_eq!(b.read32(DHR12RD), 0x0120_0567);
        assert_eq!(b.read32(DHR8RD), 0x1256);
        b.write32(DHR12RD, 0x0FFF_0001);
        b.advance(4);
        assert_eq!((b.dev.output(1), b.dev.output(2)), (1, 0xFFF));
        assert_eq!(
            samples(&b),
            vec![
                (4, 1, 0),
                (4, 2, 0),
                (104, 1, 0xABC),
                (108, 2, 0x120),
                (108, 1, 0x567),
                (112, 1, 1),
                (112, 2, 0xFFF)
            ]
        );
    }

    #[test]
    fn triggered_write_waits_for_the_trigger_then_three_apb1_cycles() {
        let mut b = dac();
        // TIM6 trigger (TSEL1 = 000), TEN1.
        b.write32(CR, EN1 | TEN1);
        b.write32(DHR12R1, 0x800);
        b.advance(1000);
        assert_eq!(b.read32(DOR1), 0, "no trigger yet");
        b.with(|d, ctx| d.timer_trgo(ctx, 7, 1000)); // TIM7: not selected
        b.with(|d, ctx| d.timer_trgo(ctx, 6, 1000));
        b.write32(DHR12R1, 0x100); // after the trigger: not this sample
        b.advance(11);
        assert_eq!(b.read32(DOR1), 0);
        b.advance(1);
        assert_eq!(b.read32(DOR1), 0x800, "12 cycles = 3 APB1 cycles");
        // Software trigger: TSEL1 = 111.
        b.write32(CR, EN1 | TEN1 | (7 << 3));
        b.write32(SWTRIGR, 1);
        assert_eq!(b.read32(SWTRIGR), 0);
        b.advance(12);
        assert_eq!(b.read32(DOR1), 0x100);
        assert_eq!(samples(&b), vec![(1012, 1, 0x800), (1024, 1, 0x100)]);
        assert!(requests(&mut b).is_empty(), "no DMA without DMAEN");
    }

    #[test]
    fn triangle_and_noise_waves_on_software_triggers() {
        let mut b = dac();
        // Triangle, amplitude 3 (MAMP1 = 0001), on DHR 0x100, software trigger.
        b.write32(CR, EN1 | TEN1 | (7 << 3) | (2 << 6) | (1 << 8));
        b.write32(DHR12R1, 0x100);
        let mut out = Vec::new();
        for _ in 0..8 {
            b.write32(SWTRIGR, 1);
            b.advance(12);
            out.push(b.read32(DOR1));
        }
        assert_eq!(
            out,
            vec![0x101, 0x102, 0x103, 0x102, 0x101, 0x100, 0x101, 0x102]
        );
        // Noise masked to 4 bits (MAMP1 = 0011): LFSR values from 0xAAA, never 0.
        b.write32(CR, EN1 | TEN1 | (7 << 3) | (1 << 6) | (3 << 8));
        b.write32(DHR12R1, 0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..64 {
            b.write32(SWTRIGR, 1);
            b.advance(12);
            let v = b.read32(DOR1);
            assert!(v <= 15, "{v:#x} masked to 4 bits");
            seen.insert(v);
        }
        assert!(seen.len() > 8, "noise takes many values: {seen:?}");
    }

    #[test]
    fn dma_request_on_trigger_acknowledged_by_dhr_write_and_underrun() {
        let mut b = dac();
        b.write32(CR, (EN1 | TEN1 | DMAEN1 | DMAUDRIE1) << 16 | (3 << 19));
        requests(&mut b);
        b.with(|d, ctx| d.timer_trgo(ctx, 5, 0));
        assert_eq!(requests(&mut b), vec![(0, 2, true)]);
        b.advance(20);
        b.write32(DHR8R2, 0x40); // the DMA's write
        assert_eq!(requests(&mut b), vec![(20, 2, false)]);
        b.with(|d, ctx| d.timer_trgo(ctx, 5, 100));
        b.advance(100);
        assert_eq!(b.read32(DOR2), 0x400);
        assert_eq!(requests(&mut b), vec![(20, 2, true)]);
        // Nobody answers: the next trigger is an underrun.
        b.with(|d, ctx| d.timer_trgo(ctx, 5, 200));
        assert_eq!(b.read32(SR), DMAUDR1 << 16);
        assert!(b.irq(IRQ));
        // RM0090 §14.3.8: DMA transfers stop: the pending request falls and later
        // triggers raise none while DMAUDR2 is set.
        assert_eq!(requests(&mut b), vec![(120, 2, false)]);
        b.with(|d, ctx| d.timer_trgo(ctx, 5, 300));
        assert!(requests(&mut b).is_empty());
        b.write32(SR, DMAUDR1 << 16);
        assert!(!b.irq(IRQ));
        // Cleared: the next trigger asks again; clearing DMAEN drops the request.
        b.with(|d, ctx| d.timer_trgo(ctx, 5, 400));
        assert_eq!(requests(&mut b), vec![(120, 2, true)]);
        b.write32(CR, (EN1 | TEN1) << 16 | (3 << 19));
        assert_eq!(requests(&mut b), vec![(120, 2, false)]);
    }

    /// Arbitrary register writes (reserved TSEL/WAVE, any MAMP), triggers from every
    /// timer and time advances: no panic, no event storm.
    #[test]
    fn arbitrary_programming_never_panics() {
        let offsets: Vec<u32> = REGS.iter().map(|r| r.offset).chain([0x38, 0x3FC]).collect();
        for seed in 1..=30 {
            let mut b = dac();
            crate::testing::hammer(&mut b, seed, 3000, &offsets, |b, rng| {
                let tim = rng.below(16) as u8;
                let at = b.now;
                b.with(|d, ctx| d.timer_trgo(ctx, tim, at));
            });
            for ch in 1..=2 {
                assert!(b.dev.output(ch) <= 0xFFF);
            }
        }
    }
}
