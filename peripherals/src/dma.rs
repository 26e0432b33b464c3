//! DMA1/DMA2, the two 8-stream DMA controllers (RM0090 §10, registers §10.5).
//!
//! The model is pure: it cannot reach memory or other peripherals. It decides which bus
//! access each stream wants next and when; the machine performs it. The protocol:
//! - a stream schedules an event (token = stream number) for the moment its next access
//!   completes, `now +` [`access_cycles`] of that access;
//! - when the event fires the machine calls [`Dma::access`] for every stream in
//!   [`Dma::due`], performs the returned [`Access`] (memory directly, peripherals through
//!   their registers, so a write to a DAC or USART data register has its usual effects) and
//!   hands the result back through [`Dma::done`] (`Err` for an address nothing answers);
//! - request lines come in through [`Dma::set_line`] (the machine routes each peripheral's
//!   request signal to the stream/channel pairs of RM0090 Tables 42 and 43) and the end of
//!   a peripheral-flow-controlled transfer through [`Dma::peripheral_end`].
//!
//! Modelled:
//! - Per stream: CHSEL (a stream serves its request line while that line is high, the
//!   stream is enabled and CHSEL selects the line's channel), DIR (peripheral-to-memory,
//!   memory-to-peripheral, memory-to-memory without requests, DMA2 only), PINC/MINC,
//!   PINCOS, PSIZE/MSIZE, NDTR counting down per peripheral-side item, CIRC (NDTR and
//!   addresses reload), DBM double buffer (CT toggles at each end of cycle, M0AR/M1AR).
//! - Direct mode (a one-item FIFO; MSIZE taken as PSIZE; memory-to-peripheral preloads one
//!   item as soon as the stream is enabled, RM0090 §10.3 "Direct mode") and FIFO mode (a
//!   16-byte FIFO: packing/unpacking when PSIZE != MSIZE; memory-to-peripheral keeps it
//!   filled, peripheral-to-memory drains it to memory once the FTH threshold is reached and
//!   flushes it at the end of the transfer). In memory-to-memory mode hardware sets
//!   DMDIS and clears PFCTRL; CIRC and DBM, not allowed there (§10.3.6), are cleared with
//!   a guest error and the stream runs once.
//! - Flags HTIF (half the items moved on the peripheral side), TCIF, TEIF (an access to an
//!   address nothing answers: the stream is disabled, as on silicon) in LISR/HISR, cleared
//!   through LIFCR/HIFCR; one interrupt line per stream (DMA1 streams 0-6 on IRQs 11-17,
//!   stream 7 on 47; DMA2 streams 0-4 on 56-60, 5-7 on 68-70).
//! - EN clears itself at the end of a non-circular transfer, on a transfer error and when
//!   software clears it (then TCIF is set, RM0090 §10.3 "DMA transfer suspension"). While
//!   EN = 1 the configuration registers ignore writes (logged as a guest error), except EN
//!   and, in double-buffer mode, the address register of the buffer not in use.
//! - Peripheral flow control (PFCTRL): NDTR starts at 0xFFFF, CIRC is forced to 0, and the
//!   peripheral ends the transfer ([`Dma::peripheral_end`]).
//! - Bus time: each access takes [`access_cycles`], from AN4031's breakdown of a DMA access
//!   (§3, "How to predict DMA latencies": stream arbitration 1 AHB cycle, address
//!   computation 1, bus-matrix arbitration 1 without contention, then the data phase: 1 AHB
//!   cycle for SRAM/flash, 2 for an AHB peripheral, 1 AHB cycle of bridge synchronisation
//!   plus 2 APB cycles for an APB peripheral). At 168/42 MHz a DAC or USART2 write is 12
//!   CPU cycles, an SRAM access 4.
//!
//! Not modelled:
//! - Arbitration between streams (PL priorities) and contention with the CPU on the bus
//!   matrix: each stream runs as if alone. Bursts (PBURST/MBURST are stored; single
//!   transfers are made).
//! - DMEIF (direct mode error) and FEIF (FIFO error) are never raised; the FIFO reload
//!   threshold of memory-to-peripheral FIFO mode (the FIFO is refilled whenever an item
//!   fits).
//! - DMA1's peripheral port reaching APB1 only: DMA1 serves any address the machine answers
//!   (CCM RAM, which no DMA reaches, does give a transfer error in the machine).
//! - A software disable drops what is still in the FIFO instead of flushing it.

use std::collections::VecDeque;

use crate::device::{BusError, Clocks, Ctx, Device, Size};
use crate::regs::{f, guest_error, unmodelled, Access::*, Block, Field, Reg};

const T: &str = "periph::dma";

pub const LISR: u32 = 0x00;
pub const HISR: u32 = 0x04;
pub const LIFCR: u32 = 0x08;
pub const HIFCR: u32 = 0x0C;

/// Offset of stream `x`'s SxCR; NDTR, PAR, M0AR, M1AR, FCR follow at +4 .. +0x14.
pub const fn sxcr(x: usize) -> u32 {
    0x10 + 0x18 * x as u32
}
pub const fn sxndtr(x: usize) -> u32 {
    sxcr(x) + 4
}
pub const fn sxpar(x: usize) -> u32 {
    sxcr(x) + 8
}
pub const fn sxm0ar(x: usize) -> u32 {
    sxcr(x) + 0xC
}
pub const fn sxm1ar(x: usize) -> u32 {
    sxcr(x) + 0x10
}
pub const fn sxfcr(x: usize) -> u32 {
    sxcr(x) + 0x14
}

// SxCR bits.
pub const EN: u32 = 1 << 0;
pub const DMEIE: u32 = 1 << 1;
pub const TEIE: u32 = 1 << 2;
pub const HTIE: u32 = 1 << 3;
pub const TCIE: u32 = 1 << 4;
pub const PFCTRL: u32 = 1 << 5;
pub const CIRC: u32 = 1 << 8;
pub const PINC: u32 = 1 << 9;
pub const MINC: u32 = 1 << 10;
pub const PINCOS: u32 = 1 << 15;
pub const DBM: u32 = 1 << 18;
pub const CT: u32 = 1 << 19;
/// DIR values (SxCR bits 7:6).
pub const DIR_P2M: u32 = 0;
pub const DIR_M2P: u32 = 1 << 6;
pub const DIR_M2M: u32 = 2 << 6;
// SxFCR bits.
pub const DMDIS: u32 = 1 << 2;
pub const FEIE: u32 = 1 << 7;
// Flags of one stream, before shifting into LISR/HISR.
pub const FEIF: u32 = 1 << 0;
pub const DMEIF: u32 = 1 << 2;
pub const TEIF: u32 = 1 << 3;
pub const HTIF: u32 = 1 << 4;
pub const TCIF: u32 = 1 << 5;

/// SxCR fields (RM0090 §10.5.5), the same for the eight streams.
const SXCR: &[Field] = &[
    f("EN", 0, 1, Rw),
    f("DMEIE", 1, 1, Rw),
    f("TEIE", 2, 1, Rw),
    f("HTIE", 3, 1, Rw),
    f("TCIE", 4, 1, Rw),
    f("PFCTRL", 5, 1, Rw),
    f("DIR", 6, 2, Rw),
    f("CIRC", 8, 1, Rw),
    f("PINC", 9, 1, Rw),
    f("MINC", 10, 1, Rw),
    f("PSIZE", 11, 2, Rw),
    f("MSIZE", 13, 2, Rw),
    f("PINCOS", 15, 1, Rw),
    f("PL", 16, 2, Rw),
    f("DBM", 18, 1, Rw),
    f("CT", 19, 1, Rw),
    unmodelled("PBURST", 21, 2, Rw),
    unmodelled("MBURST", 23, 2, Rw),
    f("CHSEL", 25, 3, Rw),
];
const SXNDTR: &[Field] = &[f("NDT", 0, 16, Rw)];
const SXPAR: &[Field] = &[f("PA", 0, 32, Rw)];
const SXM0AR: &[Field] = &[f("M0A", 0, 32, Rw)];
const SXM1AR: &[Field] = &[f("M1A", 0, 32, Rw)];
/// SxFCR (RM0090 §10.5.10): reset 0x21, FIFO empty (FS = 100b), FTH = 01b.
const SXFCR: &[Field] = &[
    f("FTH", 0, 2, Rw),
    f("DMDIS", 2, 1, Rw),
    f("FS", 3, 3, R),
    f("FEIE", 7, 1, Rw),
];

/// The register table (RM0090 §10.5): the four interrupt registers, then six registers
/// per stream x at 0x10 + 0x18 * x.
macro_rules! dma_regs {
    ($($x:literal),*) => {
        &[
            Reg { offset: 0x00, name: "LISR", reset: 0x0, fields: &[f("flags", 0, 32, R)] },
            Reg { offset: 0x04, name: "HISR", reset: 0x0, fields: &[f("flags", 0, 32, R)] },
            Reg { offset: 0x08, name: "LIFCR", reset: 0x0, fields: &[f("clear", 0, 32, W)] },
            Reg { offset: 0x0c, name: "HIFCR", reset: 0x0, fields: &[f("clear", 0, 32, W)] },
            $(
                Reg { offset: 0x10 + 0x18 * $x, name: concat!("S", $x, "CR"), reset: 0x0, fields: SXCR },
                Reg { offset: 0x14 + 0x18 * $x, name: concat!("S", $x, "NDTR"), reset: 0x0, fields: SXNDTR },
                Reg { offset: 0x18 + 0x18 * $x, name: concat!("S", $x, "PAR"), reset: 0x0, fields: SXPAR },
                Reg { offset: 0x1c + 0x18 * $x, name: concat!("S", $x, "M0AR"), reset: 0x0, fields: SXM0AR },
                Reg { offset: 0x20 + 0x18 * $x, name: concat!("S", $x, "M1AR"), reset: 0x0, fields: SXM1AR },
                Reg { offset: 0x24 + 0x18 * $x, name: concat!("S", $x, "FCR"), reset: 0x21, fields: SXFCR },
            )*
        ]
    };
}

pub const REGS: &[Reg] = dma_regs!(0, 1, 2, 3, 4, 5, 6, 7);

/// NVIC lines of the streams of DMA1 and DMA2 (RM0090 Table 61).
pub const IRQS: [[u16; 8]; 2] = [
    [11, 12, 13, 14, 15, 16, 17, 47],
    [56, 57, 58, 59, 60, 68, 69, 70],
];

/// A bus access a stream asks the machine to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read { addr: u32, size: Size },
    Write { addr: u32, size: Size, value: u32 },
}

/// The access failed: nothing answers at the address (the stream gets TEIF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessError;

/// Bus time of one DMA access to `addr`, in CPU cycles (see the module doc and AN4031 §3):
/// 3 AHB cycles of arbitration and address computation, then the data phase.
pub fn access_cycles(clocks: &Clocks, addr: u32) -> u64 {
    let (ahb, apb, pclk) = match addr {
        0x4000_0000..=0x4000_FFFF => (4, 2, clocks.pclk1),
        0x4001_0000..=0x4001_FFFF => (4, 2, clocks.pclk2),
        0x4002_0000..=0x5FFF_FFFF => (5, 0, clocks.pclk1),
        _ => (4, 0, clocks.pclk1),
    };
    let c = clocks.to_cycles(ahb, clocks.hclk)
        + if apb > 0 {
            clocks.to_cycles(apb, pclk)
        } else {
            0
        };
    c.max(1)
}

/// What a stream does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    PeriphRead(Size),
    PeriphWrite(Size, u32),
    MemRead(Size),
    MemWrite(Size, u32),
}

#[derive(Debug, Clone, Default)]
struct Stream {
    active: bool,
    /// NDTR at the start of each cycle (reloaded in circular mode).
    initial: u32,
    ndtr: u32,
    /// Bytes the peripheral and memory addresses have advanced in this cycle.
    p_off: u32,
    m_off: u32,
    /// Bytes the memory side still reads (memory-to-peripheral).
    m_left: u32,
    fifo: VecDeque<u8>,
    half: bool,
    /// The flow-controlling peripheral ended the transfer.
    ended: bool,
    pending: Option<Step>,
}

/// One DMA controller.
pub struct Dma {
    n: u8,
    name: &'static str,
    regs: Block,
    st: [Stream; 8],
    /// Per stream, the channels (bits 0-7) whose request line is high.
    lines: [u8; 8],
    /// Streams whose event fired and that wait for [`Dma::access`].
    due: u8,
    /// Streams with an event scheduled.
    scheduled: u8,
    irq: [bool; 8],
}

fn size_of_field(v: u32) -> Option<Size> {
    match v & 3 {
        0 => Some(Size::Byte),
        1 => Some(Size::Half),
        2 => Some(Size::Word),
        _ => None,
    }
}

fn isr_pos(x: usize) -> (u32, u32) {
    let reg = if x < 4 { LISR } else { HISR };
    (reg, [0, 6, 16, 22][x % 4])
}

impl Dma {
    /// DMA `n` (1 or 2).
    pub fn new(n: u8) -> Dma {
        let name = if n == 1 { "DMA1" } else { "DMA2" };
        Dma {
            n,
            name,
            regs: Block::new(name, REGS),
            st: Default::default(),
            lines: [0; 8],
            due: 0,
            scheduled: 0,
            irq: [false; 8],
        }
    }

    pub fn number(&self) -> u8 {
        self.n
    }

    fn cr(&self, x: usize) -> u32 {
        self.regs.get(sxcr(x))
    }

    fn fcr(&self, x: usize) -> u32 {
        self.regs.get(sxfcr(x))
    }

    /// The channel stream `x` serves (CHSEL), whether enabled or not.
    pub fn chsel(&self, x: usize) -> u8 {
        ((self.cr(x) >> 25) & 7) as u8
    }

    /// Stream `x` is enabled (EN = 1).
    pub fn enabled(&self, x: usize) -> bool {
        self.st[x].active
    }

    /// Streams whose event fired: call [`Dma::access`] for each.
    pub fn due(&self) -> u8 {
        self.due
    }

    /// Flags (FEIF, DMEIF, TEIF, HTIF, TCIF) of stream `x`, right-aligned.
    pub fn flags(&self, x: usize) -> u32 {
        let (reg, sh) = isr_pos(x);
        (self.regs.get(reg) >> sh) & 0x3D
    }

    fn set_flag(&mut self, x: usize, flag: u32) {
        let (reg, sh) = isr_pos(x);
        self.regs.set_bits(reg, flag << sh, true);
    }

    fn dir(&self, x: usize) -> u32 {
        self.cr(x) & (3 << 6)
    }

    fn psize(&self, x: usize) -> Size {
        size_of_field(self.cr(x) >> 11).unwrap_or(Size::Byte)
    }

    fn direct(&self, x: usize) -> bool {
        self.fcr(x) & DMDIS == 0
    }

    fn msize(&self, x: usize) -> Size {
        if self.direct(x) {
            self.psize(x)
        } else {
            size_of_field(self.cr(x) >> 13).unwrap_or(Size::Byte)
        }
    }

    fn capacity(&self, x: usize) -> usize {
        if self.direct(x) {
            self.psize(x).bytes() as usize
        } else {
            16
        }
    }

    fn threshold(&self, x: usize) -> usize {
        if self.direct(x) {
            self.psize(x).bytes() as usize
        } else {
            4 * ((self.fcr(x) & 3) as usize + 1)
        }
    }

    fn request(&self, x: usize) -> bool {
        self.dir(x) == DIR_M2M || self.lines[x] & (1 << self.chsel(x)) != 0
    }

    fn periph_addr(&self, x: usize) -> u32 {
        self.regs.get(sxpar(x)).wrapping_add(self.st[x].p_off)
    }

    fn mem_addr(&self, x: usize) -> u32 {
        let base = if self.cr(x) & CT != 0 {
            self.regs.get(sxm1ar(x))
        } else {
            self.regs.get(sxm0ar(x))
        };
        base.wrapping_add(self.st[x].m_off)
    }

    fn peek(&self, x: usize, size: Size) -> u32 {
        let mut v = 0u32;
        for (i, b) in self.st[x]
            .fifo
            .iter()
            .take(size.bytes() as usize)
            .enumerate()
        {
            v |= (*b as u32) << (8 * i);
        }
        v
    }

    /// What stream `x` does next, if it can do anything now.
    fn choose(&self, x: usize) -> Option<Step> {
        let s = &self.st[x];
        if !s.active {
            return None;
        }
        let psz = self.psize(x);
        let msz = self.msize(x);
        let room = self.capacity(x) - s.fifo.len();
        let req = self.request(x);
        if self.dir(x) == DIR_M2P {
            if req && s.ndtr > 0 && !s.ended && s.fifo.len() >= psz.bytes() as usize {
                return Some(Step::PeriphWrite(psz, self.peek(x, psz)));
            }
            if s.m_left > 0 && !s.ended {
                let size = if s.m_left >= msz.bytes() {
                    msz
                } else {
                    Size::Byte
                };
                if room >= size.bytes() as usize {
                    return Some(Step::MemRead(size));
                }
            }
            return None;
        }
        // Peripheral-to-memory and memory-to-memory: the peripheral port is the source.
        let flush = s.ndtr == 0 || s.ended;
        let level = s.fifo.len();
        if level >= msz.bytes() as usize && (level >= self.threshold(x) || flush) {
            return Some(Step::MemWrite(msz, self.peek(x, msz)));
        }
        if flush && level > 0 {
            return Some(Step::MemWrite(Size::Byte, self.peek(x, Size::Byte)));
        }
        if !flush && req && room >= psz.bytes() as usize {
            return Some(Step::PeriphRead(psz));
        }
        None
    }

    fn step_addr(&self, x: usize, step: Step) -> u32 {
        match step {
            Step::PeriphRead(_) | Step::PeriphWrite(..) => self.periph_addr(x),
            Step::MemRead(_) | Step::MemWrite(..) => self.mem_addr(x),
        }
    }

    /// Schedules stream `x`'s next access if it has one and none is scheduled.
    fn kick(&mut self, ctx: &mut Ctx, x: usize) {
        if self.scheduled & (1 << x) != 0 {
            return;
        }
        if let Some(step) = self.choose(x) {
            let at = ctx.now + access_cycles(&ctx.clocks, self.step_addr(x, step));
            self.scheduled |= 1 << x;
            ctx.schedule(x as u32, at);
        }
    }

    /// The machine: the request line of channel `ch` (0-7) at stream `x` is `level`.
    pub fn set_line(&mut self, ctx: &mut Ctx, x: usize, ch: u8, level: bool) {
        let bit = 1u8 << (ch & 7);
        if level {
            self.lines[x] |= bit;
        } else {
            self.lines[x] &= !bit;
        }
        if level && self.st[x].active && self.chsel(x) == ch {
            self.kick(ctx, x);
        }
    }

    /// The machine: the peripheral on channel `ch` that controls the flow of stream `x`
    /// (PFCTRL) says the transfer is complete.
    pub fn peripheral_end(&mut self, ctx: &mut Ctx, x: usize) {
        let s = &self.st[x];
        if !s.active || self.cr(x) & PFCTRL == 0 {
            return;
        }
        self.st[x].ended = true;
        if self.dir(x) == DIR_M2P {
            // What was preloaded beyond the end is dropped.
            self.st[x].fifo.clear();
        }
        self.check_end(ctx, x);
        self.kick(ctx, x);
        self.update_irq(ctx, x);
    }

    /// The access stream `x` wants now (after its event fired), to be performed by the
    /// machine and answered with [`Dma::done`].
    pub fn access(&mut self, x: usize) -> Option<Access> {
        self.due &= !(1 << x);
        let step = self.choose(x)?;
        self.st[x].pending = Some(step);
        let addr = self.step_addr(x, step);
        Some(match step {
            Step::PeriphRead(size) | Step::MemRead(size) => Access::Read { addr, size },
            Step::PeriphWrite(size, value) | Step::MemWrite(size, value) => {
                Access::Write { addr, size, value }
            }
        })
    }

    /// The result of the access [`Dma::access`] returned: the value read (0 for a
    /// write), or an error when nothing answered.
    pub fn done(&mut self, ctx: &mut Ctx, x: usize, result: Result<u32, AccessError>) {
        // The access may have stopped the stream (a DMA writing its own SxCR, a
        // flow-controlling peripheral ending the transfer): then its result is dropped.
        let Some(step) = self.st[x].pending.take() else {
            return;
        };
        if !self.st[x].active {
            return;
        }
        let value = match result {
            Ok(v) => v,
            Err(AccessError) => {
                let addr = self.step_addr(x, step);
                tracing::debug!(target: T, t = ctx.now, dev = self.name, stream = x, addr, "transfer error");
                self.set_flag(x, TEIF);
                self.stop(ctx, x);
                self.update_irq(ctx, x);
                return;
            }
        };
        let cr = self.cr(x);
        let pinc = |sz: Size| {
            if cr & PINC == 0 {
                0
            } else if cr & PINCOS != 0 {
                4
            } else {
                sz.bytes()
            }
        };
        let minc = |sz: Size| if cr & MINC != 0 { sz.bytes() } else { 0 };
        let s = &mut self.st[x];
        match step {
            Step::PeriphRead(sz) => {
                for i in 0..sz.bytes() {
                    s.fifo.push_back((value >> (8 * i)) as u8);
                }
                s.p_off = s.p_off.wrapping_add(pinc(sz));
                s.ndtr -= 1;
            }
            Step::PeriphWrite(sz, _) => {
                s.fifo.drain(..sz.bytes() as usize);
                s.p_off = s.p_off.wrapping_add(pinc(sz));
                s.ndtr -= 1;
            }
            Step::MemRead(sz) => {
                for i in 0..sz.bytes() {
                    s.fifo.push_back((value >> (8 * i)) as u8);
                }
                s.m_off = s.m_off.wrapping_add(minc(sz));
                s.m_left -= sz.bytes();
            }
            Step::MemWrite(sz, _) => {
                s.fifo.drain(..sz.bytes() as usize);
                s.m_off = s.m_off.wrapping_add(minc(sz));
            }
        }
        let ndtr = s.ndtr;
        self.regs.set(sxndtr(x), ndtr);
        let s = &self.st[x];
        if !s.half && cr & PFCTRL == 0 && s.initial > 0 && (s.initial - s.ndtr) * 2 >= s.initial {
            self.st[x].half = true;
            self.set_flag(x, HTIF);
        }
        self.update_fs(x);
        self.check_end(ctx, x);
        self.kick(ctx, x);
        self.update_irq(ctx, x);
    }

    /// Ends the cycle when everything has reached its destination.
    fn check_end(&mut self, ctx: &mut Ctx, x: usize) {
        let s = &self.st[x];
        if !s.active {
            return;
        }
        let complete = if self.dir(x) == DIR_M2P {
            s.ndtr == 0 || s.ended
        } else {
            (s.ndtr == 0 || s.ended) && s.fifo.is_empty()
        };
        if !complete {
            return;
        }
        self.set_flag(x, TCIF);
        let cr = self.cr(x);
        tracing::trace!(target: T, t = ctx.now, dev = self.name, stream = x, "transfer complete");
        if cr & (CIRC | DBM) != 0 && cr & PFCTRL == 0 {
            let psz = self.psize(x).bytes();
            let s = &mut self.st[x];
            s.ndtr = s.initial;
            s.p_off = 0;
            s.m_off = 0;
            s.m_left = s.initial * psz;
            s.half = false;
            let ndtr = s.ndtr;
            self.regs.set(sxndtr(x), ndtr);
            if cr & DBM != 0 {
                self.regs.set(sxcr(x), cr ^ CT);
            }
        } else {
            self.stop(ctx, x);
        }
    }

    /// The stream stops: EN reads 0.
    fn stop(&mut self, ctx: &mut Ctx, x: usize) {
        self.st[x].active = false;
        self.st[x].pending = None;
        self.st[x].fifo.clear();
        self.update_fs(x);
        self.regs.set_bits(sxcr(x), EN, false);
        if self.scheduled & (1 << x) != 0 {
            self.scheduled &= !(1 << x);
            ctx.cancel(x as u32);
        }
        self.due &= !(1 << x);
    }

    fn start(&mut self, ctx: &mut Ctx, x: usize) {
        let cr = self.cr(x);
        let bad_size = size_of_field(cr >> 11).is_none()
            || (self.fcr(x) & DMDIS != 0 && size_of_field(cr >> 13).is_none());
        if bad_size {
            guest_error(
                self.name,
                ctx.now,
                "stream enabled with PSIZE or MSIZE = 11 (reserved)",
            );
        }
        if cr & (3 << 6) == 3 << 6 {
            guest_error(
                self.name,
                ctx.now,
                "stream enabled with DIR = 11 (reserved)",
            );
        }
        let m2m = cr & (3 << 6) == DIR_M2M;
        if m2m && self.n == 1 {
            guest_error(
                self.name,
                ctx.now,
                "memory-to-memory transfer on DMA1 (only DMA2 can)",
            );
        }
        if bad_size || cr & (3 << 6) == 3 << 6 || (m2m && self.n == 1) {
            self.set_flag(x, TEIF);
            self.regs.set_bits(sxcr(x), EN, false);
            self.update_irq(ctx, x);
            return;
        }
        let mut cr = cr;
        if m2m {
            // Direct mode is not allowed memory-to-memory: hardware sets DMDIS; the DMA is
            // the flow controller: hardware forces PFCTRL to 0 (RM0090 §10.5.5).
            self.regs.set_bits(sxfcr(x), DMDIS, true);
            cr &= !PFCTRL;
            if cr & (CIRC | DBM) != 0 {
                // RM0090 §10.3.6: circular (and so double-buffer) mode is not allowed
                // memory-to-memory; the stream runs once.
                guest_error(
                    self.name,
                    ctx.now,
                    "memory-to-memory stream with CIRC or DBM (not allowed): runs once",
                );
                cr &= !(CIRC | DBM);
            }
        }
        if cr & PFCTRL != 0 {
            cr &= !CIRC;
            self.regs.set(sxndtr(x), 0xFFFF);
        } else if cr & DBM != 0 {
            cr |= CIRC;
        }
        self.regs.set(sxcr(x), cr);
        let ndtr = self.regs.get(sxndtr(x)) & 0xFFFF;
        let psz = self.psize(x).bytes();
        self.st[x] = Stream {
            active: true,
            initial: ndtr,
            ndtr,
            m_left: ndtr * psz,
            ..Default::default()
        };
        tracing::trace!(target: T, t = ctx.now, dev = self.name, stream = x, cr, ndtr, "stream enabled");
        self.update_fs(x);
        self.kick(ctx, x);
    }

    /// FIFO status (SxFCR.FS) from the FIFO level.
    fn update_fs(&mut self, x: usize) {
        let n = self.st[x].fifo.len();
        let fs = match n {
            0 => 4,
            16.. => 5,
            _ => (n / 4) as u32,
        };
        let fcr = self.fcr(x);
        self.regs.set(sxfcr(x), (fcr & !(7 << 3)) | (fs << 3));
    }

    fn update_irq(&mut self, ctx: &mut Ctx, x: usize) {
        let cr = self.cr(x);
        let fl = self.flags(x);
        let level = (fl & TCIF != 0 && cr & TCIE != 0)
            || (fl & HTIF != 0 && cr & HTIE != 0)
            || (fl & TEIF != 0 && cr & TEIE != 0)
            || (fl & DMEIF != 0 && cr & DMEIE != 0)
            || (fl & FEIF != 0 && self.fcr(x) & FEIE != 0);
        if level != self.irq[x] {
            self.irq[x] = level;
            ctx.irq(IRQS[(self.n - 1) as usize][x], level);
        }
    }

    fn write_stream(&mut self, ctx: &mut Ctx, x: usize, reg: u32, old: u32, new: u32) {
        let active = self.st[x].active;
        if reg == sxcr(x) {
            if active {
                // Only EN can change while the stream runs.
                self.regs.set(reg, (old & !EN) | (new & EN));
                if new & EN == 0 {
                    self.stop(ctx, x);
                    self.set_flag(x, TCIF);
                }
            } else if new & EN != 0 {
                self.start(ctx, x);
            }
            self.update_irq(ctx, x);
            return;
        }
        if !active {
            if reg == sxfcr(x) {
                // FS is read-only: keep it.
                self.regs.set(reg, (new & !(7 << 3)) | (old & (7 << 3)));
            }
            return;
        }
        let cr = self.cr(x);
        let other_buffer = if cr & CT != 0 { sxm0ar(x) } else { sxm1ar(x) };
        if cr & DBM != 0 && reg == other_buffer {
            return;
        }
        if reg == sxfcr(x) {
            self.regs.set(reg, (old & !FEIE) | (new & FEIE));
            self.update_irq(ctx, x);
            return;
        }
        self.regs.set(reg, old);
        guest_error(
            self.name,
            ctx.now,
            "stream register written while EN = 1 (ignored)",
        );
    }
}

impl Device for Dma {
    fn name(&self) -> &str {
        self.name
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = self.regs.read(offset, size).unwrap_or(0);
        tracing::trace!(target: T, t = ctx.now, dev = self.name, reg = self.regs.name_at(offset), val = v, "read");
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
        tracing::trace!(target: T, t = ctx.now, dev = self.name, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        let reg = offset & !3;
        match reg {
            LIFCR | HIFCR => {
                let isr = reg - 8;
                let clear = w.new & 0x0F7D_0F7D;
                let now = self.regs.get(isr);
                self.regs.set(isr, now & !clear);
                self.regs.set(reg, 0);
                let first = if reg == LIFCR { 0 } else { 4 };
                for x in first..first + 4 {
                    self.update_irq(ctx, x);
                }
            }
            LISR | HISR => {}
            _ => {
                let x = ((reg - 0x10) / 0x18) as usize;
                if x < 8 {
                    self.write_stream(ctx, x, reg, w.old, w.new);
                }
            }
        }
        Ok(())
    }

    fn event(&mut self, _ctx: &mut Ctx, token: u32) {
        let x = (token & 7) as usize;
        self.scheduled &= !(1 << x);
        if self.st[x].active {
            self.due |= 1 << x;
        }
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        let lines = IRQS[(self.n - 1) as usize];
        for (x, &line) in lines.iter().enumerate() {
            ctx.cancel(x as u32);
            if self.irq[x] {
                ctx.irq(line, false);
            }
        }
        self.st = Default::default();
        self.lines = [0; 8];
        self.due = 0;
        self.scheduled = 0;
        self.irq = [false; 8];
    }
}

/// A DMA controller named `name` ("DMA1" or "DMA2").
pub fn new(name: &str) -> Dma {
    Dma::new(if name == "DMA1" { 1 } else { 2 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Effect;
    use std::collections::BTreeMap;

    const PYB: Clocks = crate::testing::PYBOARD;

    /// A byte-addressed fake bus: SRAM at 0x2000_0000, a "peripheral" data register
    /// at 0x4000_7408 (DAC DHR8R1) that logs writes and returns a counter on reads.
    #[derive(Default)]
    struct World {
        mem: BTreeMap<u32, u8>,
        periph_writes: Vec<(u64, u32, u32)>,
        periph_reads: u32,
    }

    impl World {
        fn perform(&mut self, now: u64, a: Access) -> Result<u32, AccessError> {
            match a {
                Access::Read { addr, size } => {
                    if addr >= 0x4000_0000 {
                        if addr != 0x4000_7408 {
                            return Err(AccessError);
                        }
                        self.periph_reads += 1;
                        return Ok(self.periph_reads & size.mask());
                    }
                    if !(0x2000_0000..0x2002_0000).contains(&addr) {
                        return Err(AccessError);
                    }
                    let mut v = 0;
                    for i in 0..size.bytes() {
                        v |= (*self.mem.get(&(addr + i)).unwrap_or(&0) as u32) << (8 * i);
                    }
                    Ok(v)
                }
                Access::Write { addr, size, value } => {
                    if addr >= 0x4000_0000 {
                        if addr != 0x4000_7408 {
                            return Err(AccessError);
                        }
                        self.periph_writes.push((now, size.bytes(), value));
                        return Ok(0);
                    }
                    if !(0x2000_0000..0x2002_0000).contains(&addr) {
                        return Err(AccessError);
                    }
                    for i in 0..size.bytes() {
                        self.mem.insert(addr + i, (value >> (8 * i)) as u8);
                    }
                    Ok(0)
                }
            }
        }
    }

    /// Runs the DMA until `t`, performing its accesses against `w` like the machine.
    fn run(b: &mut FakeBus<Dma>, w: &mut World, t: u64) {
        while let Some(next) = b.next_deadline().filter(|&d| d <= t) {
            b.advance_to(next);
            for x in 0..8 {
                if b.dev.due() & (1 << x) == 0 {
                    continue;
                }
                if let Some(a) = b.dev.access(x) {
                    let r = w.perform(b.now, a);
                    b.with(|d, ctx| d.done(ctx, x, r));
                }
            }
        }
        b.advance_to(t);
    }

    fn setup(n: u8, x: usize, cr: u32, ndtr: u32, par: u32, m0ar: u32, fcr: u32) -> FakeBus<Dma> {
        let mut b = FakeBus::new(Dma::new(n), PYB);
        b.write32(sxndtr(x), ndtr);
        b.write32(sxpar(x), par);
        b.write32(sxm0ar(x), m0ar);
        b.write32(sxfcr(x), fcr);
        b.write32(sxcr(x), cr);
        b
    }

    fn irq(b: &FakeBus<Dma>, n: u8, x: usize) -> bool {
        b.irq(IRQS[n as usize - 1][x])
    }

    /// Arbitrary register writes, request lines, peripheral ends and accesses performed
    /// the way the machine does, some of them to the DMA's own registers (a stream that
    /// disables itself between its access and the answer), some failing: no panic, no
    /// event storm.
    #[test]
    fn arbitrary_programming_never_panics() {
        use crate::testing::{hammer, Hammer as Rng};
        let mut offsets: Vec<u32> = REGS.iter().map(|r| r.offset).collect();
        offsets.extend([0x0D0, 0x3FC]);
        let accesses = std::cell::Cell::new(0u32);
        for seed in 1..=40u64 {
            let mut b = FakeBus::new(Dma::new(1 + (seed % 2) as u8), PYB);
            let mut w = World::default();
            let serve = |b: &mut FakeBus<Dma>, w: &mut World, rng: &mut Rng| {
                for x in 0..8 {
                    if b.dev.due() & (1 << x) == 0 {
                        continue;
                    }
                    let Some(a) = b.dev.access(x) else { continue };
                    accesses.set(accesses.get() + 1);
                    let addr = match a {
                        Access::Read { addr, .. } | Access::Write { addr, .. } => addr,
                    };
                    let r = if addr & 0xFFFF_F000 == 0x4002_6000 {
                        // The DMA's own registers (DMA1's base), with their effects.
                        let off = addr & 0x3FF;
                        match a {
                            Access::Read { size, .. } => b
                                .with(|d, ctx| d.read(ctx, off, size))
                                .map_err(|_| AccessError),
                            Access::Write { size, value, .. } => b
                                .with(|d, ctx| d.write(ctx, off, size, value))
                                .map(|_| 0)
                                .map_err(|_| AccessError),
                        }
                    } else if rng.below(50) == 0 {
                        Err(AccessError)
                    } else {
                        w.perform(b.now, a).or(Ok(rng.value()))
                    };
                    b.with(|d, ctx| d.done(ctx, x, r));
                }
            };
            hammer(&mut b, seed, 3000, &offsets, |b, rng| {
                let x = rng.below(8) as usize;
                match rng.below(4) {
                    0 => {
                        let (ch, level) = (rng.below(8) as u8, rng.below(2) == 0);
                        b.with(|d, ctx| d.set_line(ctx, x, ch, level));
                    }
                    1 => b.with(|d, ctx| d.peripheral_end(ctx, x)),
                    2 => {
                        // Point a stream at its own controller.
                        let off = [sxpar(x), sxm0ar(x), sxm1ar(x)][rng.below(3) as usize];
                        let target =
                            0x4002_6000 + [sxcr(x), LIFCR, sxndtr(x)][rng.below(3) as usize];
                        b.write32(off, target);
                    }
                    _ => {}
                }
                serve(b, &mut w, rng);
            });
        }
        assert!(
            accesses.get() > 1000,
            "the hammer moved data: {}",
            accesses.get()
        );
    }

    /// A stream whose access disables it (a DMA writing its own SxCR, RM0090 §10.3.17
    /// "stream disabled by software") drops the result of that access; no panic.
    #[test]
    fn a_stream_disabled_during_its_own_access_drops_the_result() {
        let mut w = World::default();
        w.mem.insert(0x2000_0000, 0x5A);
        let cr = (7 << 25) | MINC | DIR_M2P | TCIE | EN;
        let mut b = setup(1, 5, cr, 4, 0x4000_7408, 0x2000_0000, 0x21);
        run(&mut b, &mut w, 100);
        b.with(|d, ctx| d.set_line(ctx, 5, 7, true));
        b.advance(12);
        let a = b.dev.access(5).expect("the preloaded item goes out");
        assert!(matches!(a, Access::Write { value: 0x5A, .. }));
        // Performing it disables the stream before the answer comes.
        b.write32(sxcr(5), cr & !EN);
        b.with(|d, ctx| d.done(ctx, 5, Ok(0)));
        assert_eq!(b.read32(sxcr(5)) & EN, 0);
        assert_eq!(b.read32(sxndtr(5)), 4, "the dropped item is not counted");
        assert_eq!(b.dev.flags(5), TCIF);
    }

    /// RM0090 §10.5.5: PFCTRL is forced to 0 memory-to-memory (the DMA controls the
    /// flow); §10.3.6: no circular mode memory-to-memory (the stream runs once).
    #[test]
    fn memory_to_memory_forces_dma_flow_control_and_runs_once() {
        let mut w = World::default();
        let cr = PINC | MINC | DIR_M2M | PFCTRL | CIRC | TCIE | EN;
        let mut b = setup(2, 1, cr, 3, 0x2000_0000, 0x2000_0100, 0x21);
        assert_eq!(b.read32(sxcr(1)) & (PFCTRL | CIRC), 0);
        assert_eq!(b.read32(sxndtr(1)), 3, "NDTR is not forced to 0xFFFF");
        run(&mut b, &mut w, 10_000);
        assert_eq!(b.read32(sxndtr(1)), 0);
        assert_eq!(b.read32(sxcr(1)) & EN, 0, "stopped after one pass");
        assert_eq!(w.mem.len(), 3);
    }

    #[test]
    fn bus_time_of_an_access() {
        assert_eq!(access_cycles(&PYB, 0x2000_0000), 4);
        // APB1 (DAC): 4 AHB + 2 APB1 cycles of 4 CPU cycles.
        assert_eq!(access_cycles(&PYB, 0x4000_7408), 12);
        assert_eq!(access_cycles(&PYB, 0x4001_1004), 8);
        assert_eq!(access_cycles(&PYB, 0x4002_0000), 5);
    }

    #[test]
    fn memory_to_peripheral_direct_mode_counts_ndtr_and_sets_ht_tc() {
        let mut w = World::default();
        for i in 0..4 {
            w.mem.insert(0x2000_0100 + i, 10 + i as u8);
        }
        // DMA1 stream 5 channel 7 (DAC1), M2P, MINC, bytes, HTIE|TCIE.
        let cr = (7 << 25) | MINC | DIR_M2P | HTIE | TCIE | EN;
        let mut b = setup(1, 5, cr, 4, 0x4000_7408, 0x2000_0100, 0x21 & !DMDIS);
        // Preload: one item read from memory 4 cycles after EN.
        run(&mut b, &mut w, 100);
        assert_eq!(b.read32(sxndtr(5)), 4);
        assert!(w.periph_writes.is_empty(), "nothing without a request");
        // A request on another channel is not served.
        b.with(|d, ctx| d.set_line(ctx, 5, 6, true));
        run(&mut b, &mut w, 200);
        assert!(w.periph_writes.is_empty());
        for k in 0..4u32 {
            let t = 1000 * (k as u64 + 1);
            run(&mut b, &mut w, t);
            b.with(|d, ctx| d.set_line(ctx, 5, 7, true));
            run(&mut b, &mut w, t + 12);
            // The peripheral acknowledges by dropping its request when written.
            b.with(|d, ctx| d.set_line(ctx, 5, 7, false));
            assert_eq!(w.periph_writes.last(), Some(&(t + 12, 1, 10 + k)));
            assert_eq!(b.read32(sxndtr(5)), 3 - k);
            let fl = b.dev.flags(5);
            assert_eq!(fl & HTIF != 0, k >= 1, "HT after 2 of 4");
            assert_eq!(fl & TCIF != 0, k == 3);
            assert_eq!(irq(&b, 1, 5), k >= 1);
        }
        assert_eq!(b.read32(sxcr(5)) & EN, 0, "EN cleared at the end");
        // HISR: stream 5 flags at bit 6.
        assert_eq!(b.read32(HISR), (TCIF | HTIF) << 6);
        b.write32(HIFCR, HTIF << 6);
        assert!(irq(&b, 1, 5), "TC still pending");
        b.write32(HIFCR, TCIF << 6);
        assert_eq!(b.read32(HISR), 0);
        assert!(!irq(&b, 1, 5));
        // Another request: the disabled stream does nothing.
        b.with(|d, ctx| d.set_line(ctx, 5, 7, true));
        run(&mut b, &mut w, 10_000);
        assert_eq!(w.periph_writes.len(), 4);
    }

    #[test]
    fn circular_mode_reloads_and_keeps_going() {
        let mut w = World::default();
        w.mem.insert(0x2000_0000, 1);
        w.mem.insert(0x2000_0001, 2);
        let cr = (7 << 25) | MINC | DIR_M2P | CIRC | TCIE | EN;
        let mut b = setup(1, 6, cr, 2, 0x4000_7408, 0x2000_0000, 0x21);
        let mut values = Vec::new();
        for k in 0..5u64 {
            let t = 1000 * (k + 1);
            run(&mut b, &mut w, t);
            b.with(|d, ctx| d.set_line(ctx, 6, 7, true));
            run(&mut b, &mut w, t + 20);
            b.with(|d, ctx| d.set_line(ctx, 6, 7, false));
            values.push(w.periph_writes.last().unwrap().2);
            if k == 1 {
                assert_eq!(b.dev.flags(6) & TCIF, TCIF);
                assert_eq!(b.read32(sxndtr(6)), 2, "NDTR reloaded");
            }
        }
        assert_eq!(values, vec![1, 2, 1, 2, 1]);
        assert_eq!(b.read32(sxcr(6)) & EN, EN, "circular streams stay enabled");
    }

    #[test]
    fn peripheral_to_memory_fifo_packs_bytes_into_words() {
        let mut w = World::default();
        // P2M, PSIZE byte, MSIZE word, MINC, FIFO mode threshold full (FTH = 11).
        let cr = (2 << 13) | MINC | DIR_P2M | EN | (4 << 25);
        let mut b = setup(2, 2, cr, 8, 0x4000_7408, 0x2000_0200, DMDIS | 3);
        b.with(|d, ctx| d.set_line(ctx, 2, 4, true));
        run(&mut b, &mut w, 1000);
        // 8 bytes read (values 1..8), written as two words once the FIFO was full...
        // the threshold is 16 bytes, so both words are written when NDTR reaches 0.
        let word = |a: u32| (0..4).fold(0u32, |v, i| v | (w.mem[&(a + i)] as u32) << (8 * i));
        assert_eq!(word(0x2000_0200), 0x0403_0201);
        assert_eq!(word(0x2000_0204), 0x0807_0605);
        assert_eq!(b.read32(sxndtr(2)), 0);
        assert_eq!(b.dev.flags(2) & TCIF, TCIF);
        assert_eq!(b.read32(sxfcr(2)) & (7 << 3), 4 << 3, "FIFO empty");
        // 8 peripheral reads of 12 cycles then 2 memory writes of 4.
        assert_eq!(w.periph_reads, 8);
    }

    #[test]
    fn memory_to_memory_runs_without_requests_and_only_on_dma2() {
        let mut w = World::default();
        for i in 0..8 {
            w.mem.insert(0x2000_0000 + i, 0xA0 + i as u8);
        }
        // Words from the peripheral port (the source) to the memory port.
        let cr = (2 << 11) | (2 << 13) | PINC | MINC | DIR_M2M | TCIE | EN;
        let mut b = setup(2, 0, cr, 2, 0x2000_0000, 0x2000_1000, 0x21);
        assert_eq!(b.read32(sxfcr(0)) & DMDIS, DMDIS, "DMDIS forced in M2M");
        run(&mut b, &mut w, 1000);
        for i in 0..8 {
            assert_eq!(w.mem[&(0x2000_1000 + i)], 0xA0 + i as u8);
        }
        assert_eq!(b.dev.flags(0), TCIF | HTIF);
        assert!(irq(&b, 2, 0));
        // Two word reads of 4 cycles (4 bytes stay below the 8-byte threshold), then the
        // flush at NDTR = 0: two word writes of 4 cycles. TC at 16.
        let log: Vec<u64> = b
            .take_log()
            .into_iter()
            .filter_map(|(t, e)| matches!(e, Effect::Irq { level: true, .. }).then_some(t))
            .collect();
        assert_eq!(log, vec![16], "two reads and two writes of 4 cycles");
        // On DMA1 memory-to-memory is refused with a transfer error.
        let mut b1 = setup(1, 0, cr | TEIE, 2, 0x2000_0000, 0x2000_1000, 0x21);
        assert_eq!(b1.read32(sxcr(0)) & EN, 0);
        assert_eq!(b1.dev.flags(0), TEIF);
        assert!(irq(&b1, 1, 0));
    }

    #[test]
    fn an_address_nothing_answers_gives_te_and_disables() {
        let mut w = World::default();
        let cr = (4 << 25) | MINC | DIR_M2P | TEIE | EN;
        // Memory address in CCM: the DMA cannot reach it.
        let mut b = setup(1, 3, cr, 4, 0x4000_7408, 0x1000_0000, 0x21);
        run(&mut b, &mut w, 1000);
        assert_eq!(b.dev.flags(3), TEIF);
        assert_eq!(b.read32(sxcr(3)) & EN, 0);
        assert!(irq(&b, 1, 3));
        assert_eq!(b.read32(LISR), TEIF << 22);
        b.write32(LIFCR, TEIF << 22);
        assert!(!irq(&b, 1, 3));
    }

    #[test]
    fn writes_while_enabled_are_ignored_and_disable_sets_tc() {
        let cr = (4 << 25) | MINC | DIR_M2P | EN;
        let mut b = setup(1, 1, cr, 4, 0x4000_7408, 0x2000_0000, 0x21);
        b.write32(sxndtr(1), 99);
        assert_eq!(b.read32(sxndtr(1)), 4);
        b.write32(sxcr(1), cr & !EN);
        assert_eq!(b.read32(sxcr(1)) & EN, 0);
        assert_eq!(b.dev.flags(1), TCIF);
        b.write32(sxndtr(1), 99);
        assert_eq!(b.read32(sxndtr(1)), 99);
    }

    #[test]
    fn double_buffer_switches_target_memory() {
        let mut w = World::default();
        let cr = (4 << 25) | MINC | DIR_P2M | DBM | EN;
        let mut b = FakeBus::new(Dma::new(1), PYB);
        b.write32(sxndtr(0), 2);
        b.write32(sxpar(0), 0x4000_7408);
        b.write32(sxm0ar(0), 0x2000_0000);
        b.write32(sxm1ar(0), 0x2000_0010);
        b.write32(sxcr(0), cr);
        b.with(|d, ctx| d.set_line(ctx, 0, 4, true));
        run(&mut b, &mut w, 65);
        // 4 reads of 12 + 4 writes of 4 = 64 cycles: two cycles of two bytes.
        assert_eq!(w.mem[&0x2000_0000], 1);
        assert_eq!(w.mem[&0x2000_0001], 2);
        assert_eq!(w.mem[&0x2000_0010], 3);
        assert_eq!(w.mem[&0x2000_0011], 4);
        assert_eq!(b.read32(sxcr(0)) & CT, 0, "back to memory 0");
    }

    #[test]
    fn peripheral_flow_control_ends_on_the_peripheral_signal() {
        let mut w = World::default();
        let cr = (4 << 25) | MINC | DIR_P2M | PFCTRL | CIRC | TCIE | EN;
        let mut b = setup(2, 3, cr, 0, 0x4000_7408, 0x2000_0000, DMDIS | 1);
        assert_eq!(b.read32(sxndtr(3)), 0xFFFF);
        assert_eq!(b.read32(sxcr(3)) & CIRC, 0, "CIRC forced to 0");
        b.with(|d, ctx| d.set_line(ctx, 3, 4, true));
        run(&mut b, &mut w, 12 * 6);
        b.with(|d, ctx| d.set_line(ctx, 3, 4, false));
        assert_eq!(b.read32(sxndtr(3)), 0xFFFF - 6);
        b.with(|d, ctx| d.peripheral_end(ctx, 3));
        run(&mut b, &mut w, 1000);
        // 6 bytes stay below the 8-byte threshold until the end flushes them (MSIZE byte).
        assert_eq!(
            (0..6)
                .map(|i| w.mem[&(0x2000_0000 + i)])
                .collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert_eq!(b.dev.flags(3), TCIF);
        assert_eq!(b.read32(sxcr(3)) & EN, 0);
    }
}
