//! DMA on the machine's side: routes request signals to streams (RM0090 Tables 42 and
//! 43), performs the bus accesses the DMA models ask for, and routes timer trigger
//! outputs to the DAC. The chip's effect plumbing (effects.rs) and its event dispatch
//! call in here.
//!
//! - Request lines are levels. Several signals can share one stream/channel input
//!   (TIM2_UP and TIM2_CH3 on DMA1 stream 1 channel 3): the input is their OR.
//! - A DMA access to memory goes to the CPU's memory directly (SRAM, flash, backup SRAM,
//!   read-only where the CPU cannot write); to the peripheral space through the peripheral
//!   models, with their usual effects (a DAC holding register write acknowledges the
//!   DAC's request, a USART DR write starts a frame). CCM RAM, unmapped addresses and
//!   registers that answer with a bus error give the stream a transfer error.
//! - A request edge takes effect at the virtual time of the access or event that raised
//!   it (the CPU's register access, the peripheral's event, the DMA's own access), so the
//!   first access of a stream follows its request by exactly its bus time.

use pybsim_peripherals::adc::Adc;
use pybsim_peripherals::dac::Dac;
use pybsim_peripherals::device::DmaSignal;
use pybsim_peripherals::dma::sxndtr;
use pybsim_peripherals::dma::{Access, AccessError, Dma};
use pybsim_peripherals::i2c::I2c;

use pybsim_peripherals::{Ctx, Device, Effect, Size};

use super::bus::Bus;
use super::memmap::{CCM_BASE, CCM_SIZE};
use super::{SIo, Soc};

use DmaSignal::*;

const fn ch(tim: u8, ch: u8) -> DmaSignal {
    TimCh { tim, ch }
}

/// RM0090 Table 42 (DMA1) and Table 43 (DMA2): (signal, controller, stream, channel).
/// Requests of blocks the STM32F405 does not have (I2S ext, DCMI, CRYP, HASH, SPI4-6)
/// are left out.
pub const ROUTES: &[(DmaSignal, u8, u8, u8)] = &[
    // DMA1 channel 0
    (SpiRx(3), 1, 0, 0),
    (SpiRx(3), 1, 2, 0),
    (SpiRx(2), 1, 3, 0),
    (SpiTx(2), 1, 4, 0),
    (SpiTx(3), 1, 5, 0),
    (SpiTx(3), 1, 7, 0),
    // DMA1 channel 1
    (I2cRx(1), 1, 0, 1),
    (TimUp(7), 1, 2, 1),
    (TimUp(7), 1, 4, 1),
    (I2cRx(1), 1, 5, 1),
    (I2cTx(1), 1, 6, 1),
    (I2cTx(1), 1, 7, 1),
    // DMA1 channel 2
    (ch(4, 1), 1, 0, 2),
    (ch(4, 2), 1, 3, 2),
    (TimUp(4), 1, 6, 2),
    (ch(4, 3), 1, 7, 2),
    // DMA1 channel 3
    (TimUp(2), 1, 1, 3),
    (ch(2, 3), 1, 1, 3),
    (I2cRx(3), 1, 2, 3),
    (I2cTx(3), 1, 4, 3),
    (ch(2, 1), 1, 5, 3),
    (ch(2, 2), 1, 6, 3),
    (ch(2, 4), 1, 6, 3),
    (TimUp(2), 1, 7, 3),
    (ch(2, 4), 1, 7, 3),
    // DMA1 channel 4
    (UsartRx(5), 1, 0, 4),
    (UsartRx(3), 1, 1, 4),
    (UsartRx(4), 1, 2, 4),
    (UsartTx(3), 1, 3, 4),
    (UsartTx(4), 1, 4, 4),
    (UsartRx(2), 1, 5, 4),
    (UsartTx(2), 1, 6, 4),
    (UsartTx(5), 1, 7, 4),
    // DMA1 channel 5
    (ch(3, 4), 1, 2, 5),
    (TimUp(3), 1, 2, 5),
    (ch(3, 1), 1, 4, 5),
    (TimTrig(3), 1, 4, 5),
    (ch(3, 2), 1, 5, 5),
    (ch(3, 3), 1, 7, 5),
    // DMA1 channel 6
    (ch(5, 3), 1, 0, 6),
    (TimUp(5), 1, 0, 6),
    (ch(5, 4), 1, 1, 6),
    (TimTrig(5), 1, 1, 6),
    (ch(5, 1), 1, 2, 6),
    (ch(5, 4), 1, 3, 6),
    (TimTrig(5), 1, 3, 6),
    (ch(5, 2), 1, 4, 6),
    (TimUp(5), 1, 6, 6),
    // DMA1 channel 7
    (TimUp(6), 1, 1, 7),
    (I2cRx(2), 1, 2, 7),
    (I2cRx(2), 1, 3, 7),
    (UsartTx(3), 1, 4, 7),
    (Dac(1), 1, 5, 7),
    (Dac(2), 1, 6, 7),
    (I2cTx(2), 1, 7, 7),
    // DMA2 channel 0
    (Adc(1), 2, 0, 0),
    (ch(8, 1), 2, 2, 0),
    (ch(8, 2), 2, 2, 0),
    (ch(8, 3), 2, 2, 0),
    (Adc(1), 2, 4, 0),
    (ch(1, 1), 2, 6, 0),
    (ch(1, 2), 2, 6, 0),
    (ch(1, 3), 2, 6, 0),
    // DMA2 channel 1
    (Adc(2), 2, 2, 1),
    (Adc(2), 2, 3, 1),
    // DMA2 channel 2
    (Adc(3), 2, 0, 2),
    (Adc(3), 2, 1, 2),
    // DMA2 channel 3
    (SpiRx(1), 2, 0, 3),
    (SpiRx(1), 2, 2, 3),
    (SpiTx(1), 2, 3, 3),
    (SpiTx(1), 2, 5, 3),
    // DMA2 channel 4
    (UsartRx(1), 2, 2, 4),
    (Sdio, 2, 3, 4),
    (UsartRx(1), 2, 5, 4),
    (Sdio, 2, 6, 4),
    (UsartTx(1), 2, 7, 4),
    // DMA2 channel 5
    (UsartRx(6), 2, 1, 5),
    (UsartRx(6), 2, 2, 5),
    (UsartTx(6), 2, 6, 5),
    (UsartTx(6), 2, 7, 5),
    // DMA2 channel 6
    (TimTrig(1), 2, 0, 6),
    (ch(1, 1), 2, 1, 6),
    (ch(1, 2), 2, 2, 6),
    (ch(1, 1), 2, 3, 6),
    (ch(1, 4), 2, 4, 6),
    (TimTrig(1), 2, 4, 6),
    (TimCom(1), 2, 4, 6),
    (TimUp(1), 2, 5, 6),
    (ch(1, 3), 2, 6, 6),
    // DMA2 channel 7
    (TimUp(8), 2, 1, 7),
    (ch(8, 1), 2, 2, 7),
    (ch(8, 2), 2, 3, 7),
    (ch(8, 3), 2, 4, 7),
    (ch(8, 4), 2, 7, 7),
    (TimTrig(8), 2, 7, 7),
    (TimCom(8), 2, 7, 7),
];

/// The (controller, stream, channel) inputs `signal` reaches.
pub fn routes(signal: DmaSignal) -> impl Iterator<Item = (u8, u8, u8)> {
    ROUTES
        .iter()
        .filter(move |r| r.0 == signal)
        .map(|r| (r.1, r.2, r.3))
}

/// Where the DMA controllers and the DAC sit on the bus, and which request signals are
/// high.
#[derive(Debug, Default)]
pub struct DmaWiring {
    dma: [Option<u16>; 2],
    dac: Option<u16>,
    adc: Option<u16>,
    high: Vec<DmaSignal>,
}

impl DmaWiring {
    pub fn find(bus: &Bus) -> DmaWiring {
        DmaWiring {
            dma: [bus.index_of("DMA1"), bus.index_of("DMA2")],
            dac: bus.index_of("DAC"),
            adc: bus.index_of("ADC"),
            high: Vec::new(),
        }
    }

    pub fn is_dma(&self, idx: u16) -> bool {
        self.dma.contains(&Some(idx))
    }

    /// Machine reset: every request line low (the models start from reset too).
    pub fn reset_lines(&mut self) {
        self.high.clear();
    }
}

/// The CCM data RAM is reachable by the CPU only (RM0090 §2.3.1).
fn ccm(addr: u32, len: u32) -> bool {
    addr < CCM_BASE + CCM_SIZE && addr.wrapping_add(len) > CCM_BASE
}

impl Soc {
    /// The time of the access or event whose effects are being applied.
    fn fx_now(&self, io: &SIo) -> u64 {
        self.fx_time.unwrap_or(io.now())
    }

    /// A peripheral raised or dropped DMA request `signal`.
    pub(super) fn dma_request(
        &mut self,
        io: &mut SIo,
        signal: DmaSignal,
        level: bool,
        work: &mut Vec<(u16, Effect)>,
    ) {
        let was = self.dma_wiring.high.contains(&signal);
        if was == level {
            return;
        }
        if level {
            self.dma_wiring.high.push(signal);
        } else {
            self.dma_wiring.high.retain(|s| *s != signal);
        }
        for (d, x, c) in routes(signal) {
            let Some(idx) = self.dma_wiring.dma[d as usize - 1] else {
                continue;
            };
            // The input is the OR of the signals that share it.
            let line = self
                .dma_wiring
                .high
                .iter()
                .any(|s| routes(*s).any(|r| r == (d, x, c)));
            let (_, fx) = self.with_model(idx, self.fx_now(io), |m: &mut Dma, ctx| {
                m.set_line(ctx, x as usize, c, line)
            });
            work.extend(fx.into_iter().map(|e| (idx, e)));
        }
    }

    /// The flow-controlling peripheral on `signal` ended its block transfer.
    pub(super) fn dma_peripheral_end(
        &mut self,
        io: &mut SIo,
        signal: DmaSignal,
        work: &mut Vec<(u16, Effect)>,
    ) {
        for (d, x, c) in routes(signal) {
            let Some(idx) = self.dma_wiring.dma[d as usize - 1] else {
                continue;
            };
            let (_, fx) = self.with_model(idx, self.fx_now(io), |m: &mut Dma, ctx| {
                if m.chsel(x as usize) == c {
                    m.peripheral_end(ctx, x as usize);
                }
            });
            work.extend(fx.into_iter().map(|e| (idx, e)));
        }
    }

    /// Timer `tim`'s TRGO pulsed at cycle `at`: the DAC listens (TSELx).
    pub(super) fn timer_trgo(&mut self, tim: u8, at: u64, work: &mut Vec<(u16, Effect)>) {
        if let Some(idx) = self.dma_wiring.dac {
            let (_, fx) = self.with_model(idx, at, |d: &mut Dac, ctx| d.timer_trgo(ctx, tim, at));
            work.extend(fx.into_iter().map(|e| (idx, e)));
        }
        if let Some(idx) = self.dma_wiring.adc {
            let (_, fx) = self.with_model(idx, at, |a: &mut Adc, ctx| a.timer_trgo(ctx, tim));
            work.extend(fx.into_iter().map(|e| (idx, e)));
        }
    }

    /// After a transfer of stream `x` of DMA controller `idx`: the EOT_1 (one transfer
    /// left) and EOT (none left) signals that I2C (CR2.LAST) and ADC (CR2.DDS) listen to.
    fn dma_count_signals(&mut self, io: &mut SIo, idx: u16, x: usize, at: u64) {
        let (info, _) = self.with_model(idx, at, |m: &mut Dma, ctx| {
            let ndtr = m.read(ctx, sxndtr(x), Size::Word).unwrap_or(u32::MAX);
            (m.number(), m.chsel(x), ndtr)
        });
        let Some((d, c, ndtr)) = info else { return };
        let here = |sig: DmaSignal| routes(sig).any(|r| r == (d, x as u8, c));
        for n in 1..=3u8 {
            if ndtr == 1 && here(DmaSignal::I2cRx(n)) {
                let name = format!("I2C{n}");
                if let Some(i) = self.bus.index_of(&name) {
                    let (_, mut fx) = self.with_model(i, at, |m: &mut I2c, ctx| m.dma_eot_1(ctx));
                    self.apply_effects(io, i, &mut fx);
                }
            }
            if ndtr == 0 && here(DmaSignal::Adc(n)) {
                if let Some(i) = self.dma_wiring.adc {
                    let (_, mut fx) =
                        self.with_model(i, at, |m: &mut Adc, ctx| m.dma_transfer_complete(ctx, n));
                    self.apply_effects(io, i, &mut fx);
                }
            }
        }
    }

    /// The event of DMA controller `idx` fired at `at`: perform the accesses its streams
    /// are due for.
    pub(super) fn dma_serve(&mut self, io: &mut SIo, idx: u16, at: u64) {
        let (due, _) = self.with_model(idx, at, |m: &mut Dma, _| m.due());
        let due = due.unwrap_or(0);
        for x in 0..8 {
            if due & (1 << x) == 0 {
                continue;
            }
            let (acc, _) = self.with_model(idx, at, |m: &mut Dma, _| m.access(x));
            let Some(Some(acc)) = acc else {
                continue;
            };
            let r = self.dma_perform(io, acc, at);
            let (_, mut fx) = self.with_model(idx, at, |m: &mut Dma, ctx| m.done(ctx, x, r));
            let prev = self.fx_time.replace(at);
            self.apply_effects(io, idx, &mut fx);
            self.dma_count_signals(io, idx, x, at);
            self.fx_time = prev;
        }
    }

    fn dma_perform(&mut self, io: &mut SIo, acc: Access, at: u64) -> Result<u32, AccessError> {
        match acc {
            Access::Read { addr, size } => {
                if ccm(addr, size.bytes()) {
                    return Err(AccessError);
                }
                let mut buf = [0u8; 4];
                let n = size.bytes() as usize;
                if io.read_mem(addr, &mut buf[..n]).is_ok() {
                    return Ok(u32::from_le_bytes(buf));
                }
                let mut fx = Vec::new();
                let r = {
                    let mut ctx = Ctx::new(at, self.clocks, &mut fx);
                    self.bus.read(&mut ctx, addr, size)
                };
                match r {
                    Ok((i, v)) => {
                        let prev = self.fx_time.replace(at);
                        self.apply_effects(io, i, &mut fx);
                        self.fx_time = prev;
                        Ok(v)
                    }
                    Err(_) => Err(AccessError),
                }
            }
            Access::Write { addr, size, value } => {
                if ccm(addr, size.bytes()) {
                    return Err(AccessError);
                }
                let bytes = value.to_le_bytes();
                let n = size.bytes() as usize;
                if io.write_mem(addr, &bytes[..n]).is_ok() {
                    return Ok(0);
                }
                let mut fx = Vec::new();
                let r = {
                    let mut ctx = Ctx::new(at, self.clocks, &mut fx);
                    self.bus.write(&mut ctx, addr, size, value)
                };
                match r {
                    Ok(i) => {
                        let prev = self.fx_time.replace(at);
                        self.apply_effects(io, i, &mut fx);
                        self.fx_time = prev;
                        Ok(0)
                    }
                    Err(_) => Err(AccessError),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_a_real_stream_and_channel_once() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(matches!(r.1, 1 | 2) && r.2 < 8 && r.3 < 8, "{r:?}");
            assert!(!ROUTES[..i].contains(r), "{r:?} twice");
        }
        // The pairs the MicroPython firmware uses (its dma.c descriptors) and the DAC.
        let has = |s, d, x, c| routes(s).any(|r| r == (d, x, c));
        assert!(has(Dac(1), 1, 5, 7) && has(Dac(2), 1, 6, 7));
        assert!(has(SpiRx(1), 2, 2, 3) && has(SpiTx(1), 2, 3, 3));
        assert!(has(Sdio, 2, 3, 4) && has(Sdio, 2, 6, 4));
        assert!(has(I2cTx(1), 1, 7, 1) && has(I2cRx(2), 1, 2, 7));
        assert!(has(UsartTx(2), 1, 6, 4) && has(UsartRx(1), 2, 5, 4));
        assert!(has(Adc(1), 2, 0, 0) && has(TimUp(6), 1, 1, 7));
        // Every signal kind the peripherals emit has somewhere to go.
        for n in 1..=6 {
            assert!(routes(UsartRx(n)).count() > 0 && routes(UsartTx(n)).count() > 0);
        }
        for n in 1..=3 {
            for s in [SpiRx(n), SpiTx(n), I2cRx(n), I2cTx(n), Adc(n)] {
                assert!(routes(s).count() > 0, "{s:?}");
            }
        }
    }
}
