//! SPI1-3 in SPI mode, master and slave (RM0090 §28, registers §28.5).
//!
//! Modelled:
//! - Frames of 8 or 16 bits (CR1.DFF), MSB or LSB first (CR1.LSBFIRST: the word is
//!   bit-reversed on its way to and from the wire, so two ends configured alike see the
//!   same values). CPOL/CPHA are stored and passed along with every frame (the machine
//!   warns when the two ends of a link disagree) but do not change what is exchanged.
//! - Master (CR1.MSTR, SPE): a DR write goes to the TX buffer (TXE = 0) and moves to the
//!   shift register as soon as it is free (TXE = 1 again); the frame lasts
//!   `bits x 2^(BR+1)` periods of the kernel clock (PCLK2 for SPI1, PCLK1 for SPI2/3,
//!   taken when the frame starts) and pushes [`Effect::SpiFrame`] with the word as it goes
//!   on the wire; the machine answers through [`Spi::set_incoming`] with what MISO
//!   carries (a wired peer, a [`SpiDevice`], or the pin's idle level). Back-to-back
//!   frames follow each other without gap. BSY is set while a frame is shifting or the
//!   TX buffer holds a word.
//! - Slave (MSTR = 0, SPE): the master's frame reaches it through [`Spi::slave_frame`]
//!   (the machine calls it when the pins are wired); the word in its TX buffer goes out
//!   (TXE rises at the frame start, as the buffer empties into the shift register), BSY
//!   is set for the frame, and what came in lands in the RX buffer at the frame's end.
//!   A slave with an empty TX buffer sends 0.
//! - Receive at the end of each frame: RXNE, or OVR when RXNE is still set (the new word
//!   is lost, the RX buffer keeps the old one). A DR read clears RXNE; a DR read then an
//!   SR read clears OVR (RM0090 §28.4.8).
//! - Software NSS (CR1.SSM, SSI): a master with SSM = 1 and SSI = 0 sees its NSS low:
//!   mode fault (MODF set, SPE and MSTR cleared by hardware, they stay clear while MODF
//!   is set); a slave with SSM = 1 is selected while SSI = 0. MODF clears by an SR access
//!   followed by a CR1 write.
//! - The interrupt line: TXEIE·TXE | RXNEIE·RXNE | ERRIE·(OVR | MODF).
//! - DMA requests (CR2.TXDMAEN/RXDMAEN): [`Effect::DmaRequest`] with
//!   [`DmaSignal::SpiTx`] at the level of TXE and [`DmaSignal::SpiRx`] at the level of
//!   RXNE, pushed when they change.
//!
//! Not modelled:
//! - The pins at bit level (SCK and MOSI do not toggle in pin traces), hardware NSS (an
//!   NSS pin in input mode is taken as high for a master, and as low, selected, for a
//!   slave with SSM = 0), SSOE, TI frame format (FRF), CRC (CRCEN, CRCNEXT), the
//!   bidirectional and receive-only modes (BIDIMODE, BIDIOE, RXONLY), I2S (I2SCFGR,
//!   I2SPR): stored, warned once when changed.
//! - A clock change during a frame (its length was fixed when it started), the delay of a
//!   few kernel clocks between a DR write and the first SCK edge.

use crate::device::{BusError, Ctx, Device, DmaSignal, Effect, Size};
use crate::regs::{f, guest_error, unmodelled, Access::*, Block, Reg};

const T: &str = "periph::spi";

pub const CR1: u32 = 0x00;
pub const CR2: u32 = 0x04;
pub const SR: u32 = 0x08;
pub const DR: u32 = 0x0C;

// CR1 bits.
pub const CPHA: u32 = 1 << 0;
pub const CPOL: u32 = 1 << 1;
pub const MSTR: u32 = 1 << 2;
pub const BR_SHIFT: u32 = 3;
pub const SPE: u32 = 1 << 6;
pub const LSBFIRST: u32 = 1 << 7;
pub const SSI: u32 = 1 << 8;
pub const SSM: u32 = 1 << 9;
pub const DFF: u32 = 1 << 11;
// CR2 bits.
pub const RXDMAEN: u32 = 1 << 0;
pub const TXDMAEN: u32 = 1 << 1;
pub const ERRIE: u32 = 1 << 5;
pub const RXNEIE: u32 = 1 << 6;
pub const TXEIE: u32 = 1 << 7;
// SR bits.
pub const RXNE: u32 = 1 << 0;
pub const TXE: u32 = 1 << 1;
pub const MODF: u32 = 1 << 5;
pub const OVR: u32 = 1 << 6;
pub const BSY: u32 = 1 << 7;

const TOKEN_FRAME: u32 = 0;

/// The register table (RM0090 §28.5).
pub const REGS: &[Reg] = &[
    Reg {
        offset: CR1,
        name: "CR1",
        reset: 0x0,
        fields: &[
            f("CPHA", 0, 1, Rw),
            f("CPOL", 1, 1, Rw),
            f("MSTR", 2, 1, Rw),
            f("BR", 3, 3, Rw),
            f("SPE", 6, 1, Rw),
            f("LSBFIRST", 7, 1, Rw),
            f("SSI", 8, 1, Rw),
            f("SSM", 9, 1, Rw),
            unmodelled("RXONLY", 10, 1, Rw),
            f("DFF", 11, 1, Rw),
            unmodelled("CRCNEXT", 12, 1, Rw),
            unmodelled("CRCEN", 13, 1, Rw),
            unmodelled("BIDIOE", 14, 1, Rw),
            unmodelled("BIDIMODE", 15, 1, Rw),
        ],
    },
    Reg {
        offset: CR2,
        name: "CR2",
        reset: 0x0,
        fields: &[
            f("RXDMAEN", 0, 1, Rw),
            f("TXDMAEN", 1, 1, Rw),
            unmodelled("SSOE", 2, 1, Rw),
            unmodelled("FRF", 4, 1, Rw),
            f("ERRIE", 5, 1, Rw),
            f("RXNEIE", 6, 1, Rw),
            f("TXEIE", 7, 1, Rw),
        ],
    },
    Reg {
        offset: SR,
        name: "SR",
        reset: 0x2,
        fields: &[
            f("RXNE", 0, 1, R),
            f("TXE", 1, 1, R),
            f("CHSIDE", 2, 1, R),
            f("UDR", 3, 1, R),
            f("CRCERR", 4, 1, Rc0),
            f("MODF", 5, 1, R),
            f("OVR", 6, 1, R),
            f("BSY", 7, 1, R),
            f("FRE", 8, 1, R),
        ],
    },
    Reg {
        offset: DR,
        name: "DR",
        reset: 0x0,
        // Reads and writes go to two different buffers; the model handles both.
        fields: &[f("DR", 0, 16, R)],
    },
    Reg {
        offset: 0x10,
        name: "CRCPR",
        reset: 0x7,
        fields: &[unmodelled("CRCPOLY", 0, 16, Rw)],
    },
    Reg {
        offset: 0x14,
        name: "RXCRCR",
        reset: 0x0,
        fields: &[f("RXCRC", 0, 16, R)],
    },
    Reg {
        offset: 0x18,
        name: "TXCRCR",
        reset: 0x0,
        fields: &[f("TXCRC", 0, 16, R)],
    },
    Reg {
        offset: 0x1c,
        name: "I2SCFGR",
        reset: 0x0,
        fields: &[
            unmodelled("CHLEN", 0, 1, Rw),
            unmodelled("DATLEN", 1, 2, Rw),
            unmodelled("CKPOL", 3, 1, Rw),
            unmodelled("I2SSTD", 4, 2, Rw),
            unmodelled("PCMSYNC", 7, 1, Rw),
            unmodelled("I2SCFG", 8, 2, Rw),
            unmodelled("I2SE", 10, 1, Rw),
            unmodelled("I2SMOD", 11, 1, Rw),
        ],
    },
    Reg {
        offset: 0x20,
        name: "I2SPR",
        reset: 0x2,
        fields: &[
            unmodelled("I2SDIV", 0, 8, Rw),
            unmodelled("ODD", 8, 1, Rw),
            unmodelled("MCKOE", 9, 1, Rw),
        ],
    },
];

/// Something on the far side of an SPI bus: one full-duplex frame at a time.
///
/// Words are in wire order: the first bit on the wire is bit `bits - 1` (the models of
/// the SPI blocks undo LSBFIRST before and after). `mode` is CPOL << 1 | CPHA of the
/// master.
pub trait SpiDevice {
    /// The master shifts `mosi` out; the device answers with what it shifts out on MISO
    /// during the same frame (bits above `bits` are ignored).
    fn exchange(&mut self, mosi: u16, bits: u8, mode: u8) -> u16;
}

/// The interrupt line of SPI `n` (RM0090 Table 61).
pub fn irq_of(n: u8) -> u16 {
    match n {
        1 => 35,
        2 => 36,
        _ => 51,
    }
}

/// A word between DR and the wire: bit-reversed within `bits` when `lsb_first`.
fn wire_order(word: u16, bits: u8, lsb_first: bool) -> u16 {
    let mask = if bits == 16 { 0xFFFF } else { 0x00FF };
    let w = word & mask;
    if lsb_first {
        w.reverse_bits() >> (16 - bits as u32)
    } else {
        w
    }
}

pub struct Spi {
    n: u8,
    name: String,
    regs: Block,
    /// Word waiting in the TX buffer (TXE = 0 while it is there).
    tx_buf: Option<u16>,
    /// The frame shifting now: what comes in on the data line (wire order).
    shifting: Option<u16>,
    /// Frame length of the frame shifting now.
    frame_bits: u8,
    /// The RX buffer (what DR reads).
    rx_buf: u16,
    /// A DR read happened while OVR was set: the next SR read clears OVR.
    ovr_dr_read: bool,
    /// An SR access happened while MODF was set: the next CR1 write clears MODF.
    modf_sr_seen: bool,
    irq_level: bool,
    dma_tx: bool,
    dma_rx: bool,
}

impl Spi {
    /// SPI block `n` (1-3).
    pub fn new(n: u8) -> Spi {
        Spi {
            n,
            name: format!("SPI{n}"),
            regs: Block::new("SPI", REGS),
            tx_buf: None,
            shifting: None,
            frame_bits: 8,
            rx_buf: 0,
            ovr_dr_read: false,
            modf_sr_seen: false,
            irq_level: false,
            dma_tx: false,
            dma_rx: false,
        }
    }

    pub fn instance(&self) -> u8 {
        self.n
    }

    fn cr1(&self) -> u32 {
        self.regs.get(CR1)
    }

    fn bits(&self) -> u8 {
        if self.cr1() & DFF != 0 {
            16
        } else {
            8
        }
    }

    fn lsb_first(&self) -> bool {
        self.cr1() & LSBFIRST != 0
    }

    /// Clock mode: CPOL << 1 | CPHA.
    pub fn mode(&self) -> u8 {
        (self.cr1() & 3) as u8
    }

    /// Enabled as a master.
    pub fn is_master(&self) -> bool {
        self.cr1() & (SPE | MSTR) == SPE | MSTR
    }

    /// Enabled as a slave and selected (NSS low: SSI = 0 under SSM, or hardware NSS,
    /// which is taken as asserted).
    pub fn is_selected_slave(&self) -> bool {
        let cr1 = self.cr1();
        cr1 & (SPE | MSTR) == SPE && (cr1 & SSM == 0 || cr1 & SSI == 0)
    }

    /// CPU cycles one frame of `bits` takes now.
    pub fn frame_cycles(&self, ctx: &Ctx, bits: u8) -> u64 {
        let pclk = if self.n == 1 {
            ctx.clocks.pclk2
        } else {
            ctx.clocks.pclk1
        };
        let div = 2u64 << ((self.cr1() >> BR_SHIFT) & 7);
        ctx.clocks.to_cycles(bits as u64 * div, pclk)
    }

    /// The machine says what MISO carries during the master frame shifting now (wire
    /// order); without a call the master reads 0.
    pub fn set_incoming(&mut self, word: u16) {
        if self.shifting.is_some() {
            self.shifting = Some(word);
        }
    }

    /// A master's frame reaches this block as a slave: `mosi` comes in (wire order),
    /// the frame ends at `end`. Returns what the slave shifts out (wire order), or
    /// `None` when the block is not an enabled, selected slave or is busy with a frame.
    pub fn slave_frame(&mut self, ctx: &mut Ctx, mosi: u16, bits: u8, end: u64) -> Option<u16> {
        if !self.is_selected_slave() || self.shifting.is_some() {
            return None;
        }
        if bits != self.bits() {
            guest_error(
                &self.name,
                ctx.now,
                &format!(
                    "a {bits}-bit frame reaches a slave set for {}-bit frames",
                    self.bits()
                ),
            );
        }
        let out = self.tx_buf.take().unwrap_or(0);
        self.frame_bits = self.bits();
        self.shifting = Some(mosi);
        self.regs.set_bits(SR, TXE | BSY, true);
        ctx.schedule(TOKEN_FRAME, end);
        self.update_lines(ctx);
        Some(wire_order(out, self.frame_bits, self.lsb_first()))
    }

    /// Master: moves the TX buffer into the shift register and starts a frame.
    fn start_frame(&mut self, ctx: &mut Ctx) {
        let Some(word) = self.tx_buf.take() else {
            return;
        };
        let bits = self.bits();
        let end = ctx.now + self.frame_cycles(ctx, bits);
        self.frame_bits = bits;
        self.shifting = Some(0);
        self.regs.set_bits(SR, TXE | BSY, true);
        ctx.schedule(TOKEN_FRAME, end);
        let wire = wire_order(word, bits, self.lsb_first());
        tracing::trace!(target: T, t = ctx.now, spi = self.n, word, end, "frame starts");
        ctx.push(Effect::SpiFrame {
            n: self.n,
            word: wire,
            bits,
            mode: self.mode(),
            end,
        });
    }

    fn end_frame(&mut self, ctx: &mut Ctx) {
        let Some(incoming) = self.shifting.take() else {
            return;
        };
        let word = wire_order(incoming, self.frame_bits, self.lsb_first());
        if self.regs.bit(SR, RXNE) {
            self.regs.set_bits(SR, OVR, true);
            tracing::trace!(target: T, t = ctx.now, spi = self.n, word, "overrun: word lost");
        } else {
            self.rx_buf = word;
            self.regs.set_bits(SR, RXNE, true);
        }
        if self.is_master() && self.tx_buf.is_some() {
            self.start_frame(ctx);
        } else {
            self.regs
                .set_bits(SR, BSY, self.tx_buf.is_some() && self.is_master());
        }
    }

    /// Mode fault check (software NSS only): a master whose NSS reads low.
    fn check_modf(&mut self, ctx: &mut Ctx) {
        let cr1 = self.cr1();
        if cr1 & MSTR != 0 && cr1 & SSM != 0 && cr1 & SSI == 0 && cr1 & SPE != 0 {
            guest_error(
                &self.name,
                ctx.now,
                "master with SSM = 1 and SSI = 0: mode fault (MODF), SPE and MSTR cleared",
            );
            self.regs.set_bits(SR, MODF, true);
            self.regs.set_bits(CR1, SPE | MSTR, false);
            self.modf_sr_seen = false;
        }
    }

    /// Drives the interrupt line and the DMA request lines from the flags.
    fn update_lines(&mut self, ctx: &mut Ctx) {
        let sr = self.regs.get(SR);
        let cr2 = self.regs.get(CR2);
        let irq = (cr2 & TXEIE != 0 && sr & TXE != 0)
            || (cr2 & RXNEIE != 0 && sr & RXNE != 0)
            || (cr2 & ERRIE != 0 && sr & (OVR | MODF) != 0);
        if irq != self.irq_level {
            self.irq_level = irq;
            ctx.irq(irq_of(self.n), irq);
        }
        let tx = cr2 & TXDMAEN != 0 && sr & TXE != 0;
        if tx != self.dma_tx {
            self.dma_tx = tx;
            ctx.push(Effect::DmaRequest {
                signal: DmaSignal::SpiTx(self.n),
                level: tx,
            });
        }
        let rx = cr2 & RXDMAEN != 0 && sr & RXNE != 0;
        if rx != self.dma_rx {
            self.dma_rx = rx;
            ctx.push(Effect::DmaRequest {
                signal: DmaSignal::SpiRx(self.n),
                level: rx,
            });
        }
    }
}

impl Device for Spi {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = match offset & !3 {
            DR => {
                if self.regs.bit(SR, OVR) {
                    self.ovr_dr_read = true;
                }
                self.regs.set_bits(SR, RXNE, false);
                self.update_lines(ctx);
                crate::device::extract(offset, size, self.rx_buf as u32)
            }
            SR => {
                let v = self.regs.read(offset, size).unwrap_or(0);
                if self.ovr_dr_read {
                    self.ovr_dr_read = false;
                    self.regs.set_bits(SR, OVR, false);
                    self.update_lines(ctx);
                }
                if self.regs.bit(SR, MODF) {
                    self.modf_sr_seen = true;
                }
                v
            }
            _ => self.regs.read(offset, size).unwrap_or(0),
        };
        tracing::trace!(target: T, t = ctx.now, spi = self.n, reg = self.regs.name_at(offset), val = v, "read");
        Ok(v)
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        tracing::trace!(target: T, t = ctx.now, spi = self.n, reg = self.regs.name_at(offset), val = value, "write");
        match offset & !3 {
            DR => {
                let (_, v, lane) = crate::device::lanes(offset, size, value);
                let mask = if self.bits() == 16 { 0xFFFF } else { 0xFF };
                let word = (v & lane & mask) as u16;
                if self.tx_buf.is_some() {
                    guest_error(
                        &self.name,
                        ctx.now,
                        "DR written while TXE = 0: the word in the TX buffer is overwritten",
                    );
                }
                self.tx_buf = Some(word);
                self.regs.set_bits(SR, TXE, false);
                if self.is_master() {
                    self.regs.set_bits(SR, BSY, true);
                    if self.shifting.is_none() {
                        self.start_frame(ctx);
                    }
                }
            }
            CR1 => {
                let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
                    return Ok(());
                };
                if self.regs.bit(SR, MODF) {
                    if self.modf_sr_seen {
                        self.modf_sr_seen = false;
                        self.regs.set_bits(SR, MODF, false);
                    } else {
                        // SPE and MSTR cannot be set while MODF is set.
                        self.regs.set_bits(CR1, SPE | MSTR, false);
                    }
                }
                if (w.old ^ w.new) & DFF != 0 && w.old & SPE != 0 && w.new & SPE != 0 {
                    guest_error(&self.name, ctx.now, "CR1.DFF changed while SPE = 1");
                }
                self.check_modf(ctx);
                if self.is_master() && self.shifting.is_none() && self.tx_buf.is_some() {
                    self.regs.set_bits(SR, BSY, true);
                    self.start_frame(ctx);
                }
            }
            SR => {
                self.regs.write(ctx.now, offset, size, value);
                if self.regs.bit(SR, MODF) {
                    self.modf_sr_seen = true;
                }
            }
            _ => {
                self.regs.write(ctx.now, offset, size, value);
            }
        }
        self.update_lines(ctx);
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        if token == TOKEN_FRAME {
            self.end_frame(ctx);
            self.update_lines(ctx);
        }
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.tx_buf = None;
        self.shifting = None;
        self.rx_buf = 0;
        self.ovr_dr_read = false;
        self.modf_sr_seen = false;
        ctx.cancel(TOKEN_FRAME);
        if self.irq_level {
            self.irq_level = false;
            ctx.irq(irq_of(self.n), false);
        }
        for (on, signal) in [
            (&mut self.dma_tx, DmaSignal::SpiTx(self.n)),
            (&mut self.dma_rx, DmaSignal::SpiRx(self.n)),
        ] {
            if *on {
                *on = false;
                ctx.push(Effect::DmaRequest {
                    signal,
                    level: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    /// The Pyboard's clock tree: SYSCLK 168 MHz, PCLK1 42 MHz, PCLK2 84 MHz.
    fn clocks() -> Clocks {
        crate::testing::PYBOARD
    }

    fn bus(n: u8) -> FakeBus<Spi> {
        FakeBus::new(Spi::new(n), clocks())
    }

    /// Enables a master with software NSS (SSM = SSI = 1), prescaler field `br`.
    fn master(b: &mut FakeBus<Spi>, br: u32, extra: u32) {
        b.write32(CR1, MSTR | SSM | SSI | (br << BR_SHIFT) | extra);
        b.write32(CR1, MSTR | SSM | SSI | (br << BR_SHIFT) | extra | SPE);
    }

    fn frames(b: &mut FakeBus<Spi>) -> Vec<(u64, u16, u8, u64)> {
        b.take_log()
            .into_iter()
            .filter_map(|(t, e)| match e {
                Effect::SpiFrame {
                    word, bits, end, ..
                } => Some((t, word, bits, end)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reset_values() {
        let mut b = bus(1);
        assert_eq!(b.read32(SR), TXE, "TXE at reset");
        assert_eq!(b.read32(0x10), 0x0007);
        assert_eq!(b.read32(0x20), 0x0002);
        b.write32(SR, 0);
        assert_eq!(b.read32(SR), TXE, "status bits are read-only");
        assert_eq!(b.read32(0x3FC), 0, "reserved offsets read 0");
    }

    /// Frame time = bits x 2^(BR+1) kernel clocks: SPI1 on PCLK2 (84 MHz, 2 CPU cycles
    /// a tick), SPI2 on PCLK1 (42 MHz, 4 CPU cycles a tick).
    #[test]
    fn frame_time_follows_the_prescaler_and_the_bus() {
        for (n, br, dff, cycles) in [
            (1u8, 0u32, 0u32, 32u64), // 8 bits x 2 x 2
            (1, 3, 0, 256),           // 8 x 16 x 2
            (1, 7, 0, 4096),          // 8 x 256 x 2
            (2, 0, 0, 64),            // 8 x 2 x 4
            (2, 3, DFF, 1024),        // 16 x 16 x 4
            (3, 7, 0, 8192),          // 8 x 256 x 4
        ] {
            let mut b = bus(n);
            master(&mut b, br, dff);
            b.take_log();
            b.advance(10);
            b.write32(DR, 0xA5);
            let f = frames(&mut b);
            assert_eq!(
                f,
                vec![(10, 0xA5, if dff != 0 { 16 } else { 8 }, 10 + cycles)]
            );
            assert_eq!(b.read32(SR), TXE | BSY, "the word went to the shifter");
            b.with(|d, _| d.set_incoming(0x3C));
            b.advance(cycles - 1);
            assert_eq!(b.read32(SR) & RXNE, 0, "SPI{n} BR={br}: not before the end");
            b.advance(1);
            assert_eq!(b.read32(SR), TXE | RXNE, "SPI{n} BR={br}: frame over");
            assert_eq!(b.read32(DR), 0x3C);
            assert_eq!(b.read32(SR), TXE);
        }
    }

    #[test]
    fn back_to_back_frames_and_overrun() {
        let mut b = bus(1);
        master(&mut b, 1, 0); // /4: 8 x 4 x 2 = 64 cycles
        b.take_log();
        b.write32(DR, 1);
        b.write32(DR, 2);
        assert_eq!(b.read32(SR), BSY, "second word waits in the TX buffer");
        b.with(|d, _| d.set_incoming(0x11));
        b.advance(64);
        assert_eq!(b.read32(SR), TXE | RXNE | BSY, "second frame started");
        b.with(|d, _| d.set_incoming(0x22));
        b.advance(64);
        assert_eq!(b.read32(SR), TXE | RXNE | OVR, "RX not read: overrun");
        let f = frames(&mut b);
        assert_eq!(f, vec![(0, 1, 8, 64), (64, 2, 8, 128)]);
        assert_eq!(b.read32(DR), 0x11, "the second word was lost");
        assert_eq!(b.read32(SR), TXE | OVR, "this SR read clears OVR");
        assert_eq!(b.read32(SR), TXE);
    }

    #[test]
    fn sixteen_bit_frames_and_lsb_first() {
        let mut b = bus(2);
        master(&mut b, 0, DFF | LSBFIRST);
        b.take_log();
        b.write32(DR, 0x0001);
        assert_eq!(frames(&mut b), vec![(0, 0x8000, 16, 128)]);
        b.with(|d, _| d.set_incoming(0x8000));
        b.advance(128);
        assert_eq!(b.read32(DR), 0x0001, "reversed back on the way in");
        let mut b = bus(1);
        master(&mut b, 0, LSBFIRST);
        b.take_log();
        b.write(DR, Size::Byte, 0x03);
        assert_eq!(frames(&mut b), vec![(0, 0xC0, 8, 32)]);
    }

    #[test]
    fn interrupt_and_dma_lines() {
        let mut b = bus(2);
        master(&mut b, 0, 0);
        b.write32(CR2, RXNEIE);
        assert!(!b.irq(36));
        b.write32(DR, 7);
        b.advance(64);
        assert!(b.irq(36), "RXNE with RXNEIE raises IRQ 36");
        b.read32(DR);
        assert!(!b.irq(36));
        b.write32(CR2, TXEIE);
        assert!(b.irq(36), "TXE with TXEIE");
        b.take_log();
        b.write32(CR2, TXDMAEN | RXDMAEN);
        assert!(!b.irq(36));
        b.write32(DR, 8);
        b.advance(64);
        let dma: Vec<_> = b
            .take_log()
            .into_iter()
            .filter_map(|(t, e)| match e {
                Effect::DmaRequest { signal, level } => Some((t, signal, level)),
                _ => None,
            })
            .collect();
        assert_eq!(
            dma,
            // The word moves to the shifter at once, so TXE (and its request) stays up.
            vec![
                (64, DmaSignal::SpiTx(2), true),
                (128, DmaSignal::SpiRx(2), true),
            ]
        );
        assert_eq!(irq_of(1), 35);
        assert_eq!(irq_of(3), 51);
    }

    #[test]
    fn mode_fault_with_software_nss() {
        let mut b = bus(1);
        b.write32(CR2, ERRIE);
        b.write32(CR1, MSTR | SSM | SPE);
        assert_eq!(b.read32(SR) & MODF, MODF);
        assert_eq!(b.read32(CR1), SSM, "SPE and MSTR cleared by hardware");
        assert!(b.irq(35));
        // SR was read above; a CR1 write now clears MODF.
        b.write32(CR1, MSTR | SSM | SSI | SPE);
        assert_eq!(b.read32(SR), TXE);
        assert_eq!(b.read32(CR1), MSTR | SSM | SSI | SPE);
        assert!(!b.irq(35));
    }

    #[test]
    fn a_slave_exchanges_when_the_master_clocks() {
        let mut b = bus(2);
        b.write32(CR1, SSM | SPE);
        assert!(b.dev.is_selected_slave());
        b.write32(DR, 0x5A);
        assert_eq!(b.read32(SR), 0, "slave TX word waits for the clock");
        let out = b.with(|d, ctx| d.slave_frame(ctx, 0xC3, 8, 100));
        assert_eq!(out, Some(0x5A));
        assert_eq!(b.read32(SR), TXE | BSY);
        b.advance(99);
        assert_eq!(b.read32(SR) & RXNE, 0);
        b.advance(1);
        assert_eq!(b.read32(SR), TXE | RXNE);
        assert_eq!(b.read32(DR), 0xC3);
        // Not selected: SSI = 1.
        b.write32(CR1, SSM | SSI | SPE);
        assert_eq!(b.with(|d, ctx| d.slave_frame(ctx, 1, 8, 200)), None);
    }

    /// Arbitrary register writes (every BR, DFF, MSTR/SSM/SSI combination), frames as a
    /// slave of either length and incoming words: no panic, no event storm.
    #[test]
    fn arbitrary_programming_never_panics() {
        let offsets: Vec<u32> = REGS.iter().map(|r| r.offset).chain([0x24, 0x3FC]).collect();
        for seed in 1..=30 {
            let mut b = bus(1 + (seed % 3) as u8);
            crate::testing::hammer(&mut b, seed, 3000, &offsets, |b, rng| {
                let word = rng.next_u64() as u16;
                if rng.below(2) == 0 {
                    b.dev.set_incoming(word);
                } else {
                    let bits = [8, 16, 0, 7][rng.below(4) as usize];
                    let end = b.now + rng.below(1000);
                    b.with(|d, ctx| d.slave_frame(ctx, word, bits, end));
                }
            });
        }
    }
}
