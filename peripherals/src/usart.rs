//! USART1-3/6 and UART4-5 in asynchronous mode (RM0090 §30, registers §30.6).
//!
//! Modelled:
//! - BRR (mantissa/fraction, OVER8) and the kernel clock of the instance (PCLK2 for
//!   USART1/6, PCLK1 otherwise) give the bit time; M (8/9 data bits) and STOP (0.5, 1,
//!   1.5, 2) give the frame length (PCE replaces the MSB, no extra bit). A frame's
//!   duration is computed from the clocks of the moment it starts.
//! - Transmit: enabling UE & TE first sends an idle frame (RM0090 §30.3.2); a DR write
//!   goes to TDR (TXE = 0) and moves to the shift register as soon as it is free (TXE =
//!   1 again), pushing [`Effect::UartTx`] with the frame's end time; at the end of a frame
//!   with nothing in TDR, TC = 1.
//! - Receive: the machine calls [`Usart::receive`] at the end of an incoming frame:
//!   RXNE, or ORE when RXNE is still set (the byte is lost). IDLE is set once the line
//!   stays idle one frame (plus one bit, so back-to-back frames do not raise it) after a
//!   received byte, once per RXNE.
//! - SR clear sequences: SR read then DR read clears PE, FE, NF, ORE, IDLE (those seen by
//!   the SR read); a DR read clears RXNE; SR read then DR write clears TC; RXNE, TC, LBD
//!   and CTS also clear by writing 0.
//! - The interrupt line: TXEIE·TXE | TCIE·TC | RXNEIE·(RXNE|ORE) | IDLEIE·IDLE |
//!   PEIE·PE | CTSIE·CTS | LBDIE·LBD | EIE·DMAR·(FE|NF|ORE).
//! - DMA requests (§30.3.13) as levels: [`DmaSignal::UsartTx`] while CR3.DMAT·UE·TXE,
//!   [`DmaSignal::UsartRx`] while CR3.DMAR·UE·RXNE; each falls with its flag (the DMA's
//!   DR write or read is the acknowledgement).
//!
//! Not modelled:
//! - Hardware flow control (RTSE/CTSE), LIN,
//!   IrDA, smartcard, synchronous clock output, half-duplex, multiprocessor wakeup (RWU),
//!   send break; these fields are stored and warn once when set.
//! - Parity and framing errors and noise on received data (the machine hands over clean
//!   bytes; PE/FE/NF stay 0). Baud-rate mismatch between the two ends is not checked.

use crate::device::{BusError, Ctx, Device, DmaSignal, Effect, Size};
use crate::regs::{f, guest_error, unmodelled, Access::*, Block, Reg};

const T: &str = "periph::usart";

pub const SR: u32 = 0x00;
pub const DR: u32 = 0x04;
pub const BRR: u32 = 0x08;
pub const CR1: u32 = 0x0C;
pub const CR2: u32 = 0x10;
pub const CR3: u32 = 0x14;
pub const GTPR: u32 = 0x18;

// SR bits.
pub const PE: u32 = 1 << 0;
pub const FE: u32 = 1 << 1;
pub const NF: u32 = 1 << 2;
pub const ORE: u32 = 1 << 3;
pub const IDLE: u32 = 1 << 4;
pub const RXNE: u32 = 1 << 5;
pub const TC: u32 = 1 << 6;
pub const TXE: u32 = 1 << 7;
pub const LBD: u32 = 1 << 8;
pub const CTS: u32 = 1 << 9;
// CR1 bits.
pub const RE: u32 = 1 << 2;
pub const TE: u32 = 1 << 3;
pub const IDLEIE: u32 = 1 << 4;
pub const RXNEIE: u32 = 1 << 5;
pub const TCIE: u32 = 1 << 6;
pub const TXEIE: u32 = 1 << 7;
pub const PEIE: u32 = 1 << 8;
pub const M: u32 = 1 << 12;
pub const UE: u32 = 1 << 13;
pub const OVER8: u32 = 1 << 15;

const TOKEN_TX: u32 = 0;
const TOKEN_IDLE: u32 = 1;

pub const REGS: &[Reg] = &[
    Reg {
        offset: SR,
        name: "SR",
        reset: 0x0000_00C0,
        fields: &[
            f("PE", 0, 1, R),
            f("FE", 1, 1, R),
            f("NF", 2, 1, R),
            f("ORE", 3, 1, R),
            f("IDLE", 4, 1, R),
            f("RXNE", 5, 1, Rc0),
            f("TC", 6, 1, Rc0),
            f("TXE", 7, 1, R),
            f("LBD", 8, 1, Rc0),
            f("CTS", 9, 1, Rc0),
        ],
    },
    Reg {
        offset: DR,
        name: "DR",
        reset: 0,
        fields: &[f("DR", 0, 9, R)],
    },
    Reg {
        offset: BRR,
        name: "BRR",
        reset: 0,
        fields: &[f("DIV_Fraction", 0, 4, Rw), f("DIV_Mantissa", 4, 12, Rw)],
    },
    Reg {
        offset: CR1,
        name: "CR1",
        reset: 0,
        fields: &[
            unmodelled("SBK", 0, 1, Rw),
            unmodelled("RWU", 1, 1, Rw),
            f("RE", 2, 1, Rw),
            f("TE", 3, 1, Rw),
            f("IDLEIE", 4, 1, Rw),
            f("RXNEIE", 5, 1, Rw),
            f("TCIE", 6, 1, Rw),
            f("TXEIE", 7, 1, Rw),
            f("PEIE", 8, 1, Rw),
            f("PS", 9, 1, Rw),
            f("PCE", 10, 1, Rw),
            unmodelled("WAKE", 11, 1, Rw),
            f("M", 12, 1, Rw),
            f("UE", 13, 1, Rw),
            f("OVER8", 15, 1, Rw),
        ],
    },
    Reg {
        offset: CR2,
        name: "CR2",
        reset: 0,
        fields: &[
            unmodelled("ADD", 0, 4, Rw),
            unmodelled("LBDL", 5, 1, Rw),
            f("LBDIE", 6, 1, Rw),
            unmodelled("LBCL", 8, 1, Rw),
            unmodelled("CPHA", 9, 1, Rw),
            unmodelled("CPOL", 10, 1, Rw),
            unmodelled("CLKEN", 11, 1, Rw),
            f("STOP", 12, 2, Rw),
            unmodelled("LINEN", 14, 1, Rw),
        ],
    },
    Reg {
        offset: CR3,
        name: "CR3",
        reset: 0,
        fields: &[
            f("EIE", 0, 1, Rw),
            unmodelled("IREN", 1, 1, Rw),
            unmodelled("IRLP", 2, 1, Rw),
            unmodelled("HDSEL", 3, 1, Rw),
            unmodelled("NACK", 4, 1, Rw),
            unmodelled("SCEN", 5, 1, Rw),
            f("DMAR", 6, 1, Rw),
            f("DMAT", 7, 1, Rw),
            unmodelled("RTSE", 8, 1, Rw),
            unmodelled("CTSE", 9, 1, Rw),
            f("CTSIE", 10, 1, Rw),
            unmodelled("ONEBIT", 11, 1, Rw),
        ],
    },
    Reg {
        offset: GTPR,
        name: "GTPR",
        reset: 0,
        fields: &[unmodelled("PSC", 0, 8, Rw), unmodelled("GT", 8, 8, Rw)],
    },
];

/// Name, NVIC line and whether the instance sits on APB2, for U(S)ART `n` (1-6);
/// `None` for one the STM32F405 lacks.
pub fn instance(n: u8) -> Option<(&'static str, u16, bool)> {
    Some(match n {
        1 => ("USART1", 37, true),
        2 => ("USART2", 38, false),
        3 => ("USART3", 39, false),
        4 => ("UART4", 52, false),
        5 => ("UART5", 53, false),
        6 => ("USART6", 71, true),
        _ => return None,
    })
}

pub struct Usart {
    n: u8,
    name: &'static str,
    irq_line: u16,
    apb2: bool,
    regs: Block,
    tdr: Option<u16>,
    rdr: u16,
    /// The shift register is busy (a data or idle frame).
    shifting: bool,
    /// SR as seen by the last SR read, for the clear sequences.
    sr_seen: u32,
    idle_armed: bool,
    irq: bool,
    /// Levels of the TX and RX DMA request lines.
    dma_tx: bool,
    dma_rx: bool,
}

impl Usart {
    /// U(S)ART `n` (1-6) with its RM0090 vector (USART1 = 37, USART2 = 38, USART3 = 39,
    /// UART4 = 52, UART5 = 53, USART6 = 71).
    ///
    /// # Panics
    /// If there is no U(S)ARTn; [`Usart::try_new`] says so with an error instead.
    pub fn new(n: u8) -> Usart {
        Usart::try_new(n).unwrap_or_else(|e| panic!("{e}"))
    }

    /// U(S)ART `n`, or an error for one the STM32F405 lacks (0, 7, ...).
    pub fn try_new(n: u8) -> Result<Usart, crate::NoSuchInstance> {
        let (name, irq_line, apb2) = instance(n).ok_or(crate::NoSuchInstance {
            name: "U(S)ART",
            n,
            has: "USART1-USART3, UART4, UART5 and USART6",
        })?;
        Ok(Usart {
            n,
            name,
            irq_line,
            apb2,
            regs: Block::new(name, REGS),
            tdr: None,
            rdr: 0,
            shifting: false,
            sr_seen: 0,
            idle_armed: false,
            irq: false,
            dma_tx: false,
            dma_rx: false,
        })
    }

    pub fn irq_line(&self) -> u16 {
        self.irq_line
    }

    fn enabled(&self, bit: u32) -> bool {
        let cr1 = self.regs.get(CR1);
        cr1 & UE != 0 && cr1 & bit != 0
    }

    /// Duration of one bit and of one frame, in CPU cycles, at the clocks of `ctx`.
    pub fn timing(&self, ctx: &Ctx) -> Option<(u64, u64)> {
        let cr1 = self.regs.get(CR1);
        let brr = self.regs.get(BRR) & 0xFFFF;
        let ticks = if cr1 & OVER8 != 0 {
            (brr & !0xF) / 2 + (brr & 7)
        } else {
            brr
        } as u64;
        let pclk = if self.apb2 {
            ctx.clocks.pclk2
        } else {
            ctx.clocks.pclk1
        };
        if ticks == 0 || pclk == 0 {
            return None;
        }
        let data = if cr1 & M != 0 { 9 } else { 8 };
        let stop_half = [2, 1, 4, 3][((self.regs.get(CR2) >> 12) & 3) as usize];
        let halfbits = 2 * (1 + data) + stop_half;
        let bit = ctx.clocks.to_cycles(ticks, pclk);
        let frame = ctx.clocks.to_cycles(ticks * halfbits, 2 * pclk);
        Some((bit, frame))
    }

    /// Starts the next frame if the shift register is free.
    fn kick_tx(&mut self, ctx: &mut Ctx) {
        if self.shifting || !self.enabled(TE) {
            return;
        }
        let Some(byte) = self.tdr else { return };
        let Some((_, frame)) = self.timing(ctx) else {
            guest_error(self.name, ctx.now, "transmit with BRR = 0 (no baud rate)");
            return;
        };
        self.tdr = None;
        self.shifting = true;
        let sr = self.regs.get(SR);
        self.regs.set(SR, (sr | TXE) & !TC);
        let end = ctx.now + frame;
        tracing::trace!(target: T, t = ctx.now, dev = self.name, byte, end, "tx");
        ctx.push(Effect::UartTx {
            n: self.n,
            byte: byte as u8,
            end,
        });
        ctx.schedule(TOKEN_TX, end);
    }

    /// The machine delivers a byte whose frame ends now on the RX line.
    pub fn receive(&mut self, ctx: &mut Ctx, byte: u8) {
        if !self.enabled(RE) {
            tracing::debug!(target: T, t = ctx.now, dev = self.name, byte, "rx while disabled (dropped)");
            return;
        }
        let sr = self.regs.get(SR);
        if sr & RXNE != 0 {
            self.regs.set(SR, sr | ORE);
            tracing::debug!(target: T, t = ctx.now, dev = self.name, byte, "overrun");
        } else {
            self.rdr = byte as u16;
            self.regs.set(SR, sr | RXNE);
        }
        self.idle_armed = true;
        if let Some((bit, frame)) = self.timing(ctx) {
            ctx.schedule(TOKEN_IDLE, ctx.now + frame + bit);
        }
        self.update_irq(ctx);
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let sr = self.regs.get(SR);
        let cr1 = self.regs.get(CR1);
        let cr2 = self.regs.get(CR2);
        let cr3 = self.regs.get(CR3);
        let on = |c: u32, b: u32| c & b != 0;
        let level = (on(cr1, TXEIE) && on(sr, TXE))
            || (on(cr1, TCIE) && on(sr, TC))
            || (on(cr1, RXNEIE) && on(sr, RXNE | ORE))
            || (on(cr1, IDLEIE) && on(sr, IDLE))
            || (on(cr1, PEIE) && on(sr, PE))
            || (on(cr3, 1 << 10) && on(sr, CTS))
            || (on(cr2, 1 << 6) && on(sr, LBD))
            || (on(cr3, 1) && on(cr3, 1 << 6) && on(sr, FE | NF | ORE));
        if level != self.irq {
            self.irq = level;
            ctx.irq(self.irq_line, level);
        }
        let ue = on(cr1, UE);
        let tx = ue && on(cr3, 1 << 7) && on(sr, TXE);
        let rx = ue && on(cr3, 1 << 6) && on(sr, RXNE);
        if tx != self.dma_tx {
            self.dma_tx = tx;
            ctx.push(Effect::DmaRequest {
                signal: DmaSignal::UsartTx(self.n),
                level: tx,
            });
        }
        if rx != self.dma_rx {
            self.dma_rx = rx;
            ctx.push(Effect::DmaRequest {
                signal: DmaSignal::UsartRx(self.n),
                level: rx,
            });
        }
    }
}

impl Device for Usart {
    fn name(&self) -> &str {
        self.name
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let word = match offset & !3 {
            SR => {
                let sr = self.regs.get(SR);
                self.sr_seen = sr;
                sr
            }
            DR => {
                let sr = self.regs.get(SR);
                let clear = RXNE | (self.sr_seen & (PE | FE | NF | ORE | IDLE));
                self.regs.set(SR, sr & !clear);
                self.sr_seen = 0;
                self.update_irq(ctx);
                self.rdr as u32
            }
            o => self.regs.get_or(o),
        };
        let v = crate::device::extract(offset, size, word);
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
        if offset & !3 == DR {
            let (_, val, _) = crate::device::lanes(offset, size, value);
            tracing::trace!(target: T, t = ctx.now, dev = self.name, reg = "DR", val, "write");
            if self.sr_seen & TC != 0 {
                self.regs.set_bits(SR, TC, false);
            }
            self.sr_seen = 0;
            if self.tdr.is_some() {
                guest_error(
                    self.name,
                    ctx.now,
                    "DR written while TXE = 0 (previous byte lost)",
                );
            }
            self.tdr = Some((val & 0x1FF) as u16);
            self.regs.set_bits(SR, TXE, false);
            self.kick_tx(ctx);
            self.update_irq(ctx);
            return Ok(());
        }
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: T, t = ctx.now, dev = self.name, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        if offset & !3 == CR1 {
            let was = w.old & (UE | TE) == UE | TE;
            let is = w.new & (UE | TE) == UE | TE;
            if is && !was && !self.shifting {
                // Enabling the transmitter sends an idle frame first.
                if let Some((_, frame)) = self.timing(ctx) {
                    self.shifting = true;
                    ctx.schedule(TOKEN_TX, ctx.now + frame);
                }
            }
            if w.new & UE == 0 {
                self.idle_armed = false;
                ctx.cancel(TOKEN_IDLE);
            }
            self.kick_tx(ctx);
        }
        self.update_irq(ctx);
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        match token {
            TOKEN_TX => {
                self.shifting = false;
                self.kick_tx(ctx);
                if !self.shifting {
                    self.regs.set_bits(SR, TC, true);
                }
            }
            TOKEN_IDLE if self.idle_armed => {
                self.idle_armed = false;
                self.regs.set_bits(SR, IDLE, true);
            }
            _ => {}
        }
        self.update_irq(ctx);
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.tdr = None;
        self.rdr = 0;
        self.shifting = false;
        self.sr_seen = 0;
        self.idle_armed = false;
        ctx.cancel(TOKEN_TX);
        ctx.cancel(TOKEN_IDLE);
        self.irq = false;
        ctx.irq(self.irq_line, false);
        for (on, signal) in [
            (&mut self.dma_tx, DmaSignal::UsartTx(self.n)),
            (&mut self.dma_rx, DmaSignal::UsartRx(self.n)),
        ] {
            if std::mem::take(on) {
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

    const PYB: Clocks = crate::testing::PYBOARD;
    /// 115200 baud at 84 MHz: 8N1 frame = 10 bits of 729 PCLK2 ticks = 14580 CPU cycles.
    const FRAME: u64 = 14580;

    fn usart1() -> FakeBus<Usart> {
        let mut b = FakeBus::new(Usart::new(1), PYB);
        b.write32(BRR, 0x2D9);
        b
    }

    fn txs(b: &mut FakeBus<Usart>) -> Vec<(u64, u8, u64)> {
        b.take_log()
            .into_iter()
            .filter_map(|(t, e)| match e {
                Effect::UartTx { byte, end, .. } => Some((t, byte, end)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reset_values_and_instances() {
        let mut b = FakeBus::new(Usart::new(6), PYB);
        assert_eq!(b.read32(SR), 0xC0);
        assert_eq!(b.read32(CR1), 0);
        assert_eq!(b.dev.irq_line(), 71);
        assert_eq!(instance(4), Some(("UART4", 52, false)));
    }

    #[test]
    fn transmit_timing_txe_tc_and_irq() {
        let mut b = usart1();
        b.write32(CR1, UE | TE | RE | TCIE);
        // Idle frame first.
        b.write32(DR, b'A' as u32);
        assert_eq!(
            b.read32(SR) & (TXE | TC),
            TC,
            "TDR full behind the idle frame"
        );
        b.advance(FRAME);
        assert_eq!(txs(&mut b), vec![(FRAME, b'A', 2 * FRAME)]);
        assert_eq!(b.read32(SR) & (TXE | TC), TXE);
        b.write32(DR, b'B' as u32);
        assert_eq!(b.read32(SR) & TXE, 0);
        b.advance(FRAME);
        assert_eq!(txs(&mut b), vec![(2 * FRAME, b'B', 3 * FRAME)]);
        assert_eq!(b.read32(SR) & (TXE | TC), TXE);
        assert!(!b.irq(37));
        b.advance(FRAME);
        assert_eq!(b.read32(SR) & (TXE | TC), TXE | TC);
        assert!(b.irq(37));
        // TC cleared by writing 0.
        b.write32(SR, !TC);
        assert_eq!(b.read32(SR) & TC, 0);
        assert!(!b.irq(37));
    }

    #[test]
    fn frame_length_follows_m_stop_and_over8() {
        let mut b = usart1();
        b.write32(CR2, 2 << 12); // 2 stop bits
        b.write32(CR1, UE | TE | M); // 9 data bits: 12 bits
        b.with(|d, ctx| assert_eq!(d.timing(ctx), Some((1458, 12 * 1458))));
        b.write32(CR2, 1 << 12); // 0.5 stop bit: 10.5 bits
        b.with(|d, ctx| assert_eq!(d.timing(ctx).unwrap().1, 15309));
        // OVER8: USARTDIV = 45 + 4/8 → 364 ticks per bit.
        b.write32(BRR, (45 << 4) | 4);
        b.write32(CR1, UE | TE | OVER8);
        b.write32(CR2, 0);
        b.with(|d, ctx| assert_eq!(d.timing(ctx), Some((728, 7280))));
    }

    #[test]
    fn receive_rxne_overrun_idle_and_clear_sequences() {
        let mut b = usart1();
        b.write32(CR1, UE | RE | RXNEIE | IDLEIE);
        b.with(|d, ctx| d.receive(ctx, b'x'));
        assert!(b.irq(37));
        assert_eq!(b.read32(SR) & (RXNE | ORE), RXNE);
        b.with(|d, ctx| d.receive(ctx, b'y'));
        assert_eq!(b.read32(SR) & (RXNE | ORE), RXNE | ORE);
        // SR was read, DR read: clears RXNE and ORE; the first byte is what is read.
        assert_eq!(b.read32(DR), b'x' as u32);
        assert_eq!(b.read32(SR) & (RXNE | ORE), 0);
        assert!(!b.irq(37));
        // Idle after one frame + one bit of silence.
        b.advance(FRAME + 1458);
        assert_eq!(b.read32(SR) & IDLE, IDLE);
        assert!(b.irq(37));
        b.read32(DR);
        assert_eq!(b.read32(SR) & IDLE, 0);
        b.advance(10 * FRAME);
        assert_eq!(b.read32(SR) & IDLE, 0, "IDLE once per received byte");
        // Back-to-back frames do not raise IDLE in between.
        b.with(|d, ctx| d.receive(ctx, 1));
        b.advance(FRAME);
        b.with(|d, ctx| d.receive(ctx, 2));
        assert_eq!(b.read32(SR) & IDLE, 0);
    }

    fn dma(b: &mut FakeBus<Usart>) -> Vec<(u64, DmaSignal, bool)> {
        b.take_log()
            .into_iter()
            .filter_map(|(t, e)| match e {
                Effect::DmaRequest { signal, level } => Some((t, signal, level)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn dma_requests_follow_txe_and_rxne() {
        let mut b = usart1();
        b.write32(CR1, UE | TE | RE);
        assert!(dma(&mut b).is_empty(), "no request without DMAT/DMAR");
        b.write32(CR3, 3 << 6);
        assert_eq!(dma(&mut b), vec![(0, DmaSignal::UsartTx(1), true)]);
        // The DMA writes DR: TXE falls behind the idle frame, so does the request.
        b.write32(DR, b'a' as u32);
        assert_eq!(dma(&mut b), vec![(0, DmaSignal::UsartTx(1), false)]);
        b.advance(FRAME);
        assert_eq!(dma(&mut b), vec![(FRAME, DmaSignal::UsartTx(1), true)]);
        b.with(|d, ctx| d.receive(ctx, b'z'));
        assert_eq!(dma(&mut b), vec![(FRAME, DmaSignal::UsartRx(1), true)]);
        assert_eq!(b.read32(DR), b'z' as u32);
        assert_eq!(dma(&mut b), vec![(FRAME, DmaSignal::UsartRx(1), false)]);
        b.write32(CR3, 0);
        assert_eq!(dma(&mut b), vec![(FRAME, DmaSignal::UsartTx(1), false)]);
    }

    #[test]
    fn receive_ignored_when_disabled() {
        let mut b = usart1();
        b.with(|d, ctx| d.receive(ctx, 1));
        assert_eq!(b.read32(SR), 0xC0);
    }
}
