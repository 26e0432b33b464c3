//! SDIO, the SD/SDIO/MMC card host interface (RM0090 §31, registers §31.9), with an
//! optional SD memory card in its slot ([`crate::sdcard::SdCard`]).
//!
//! Modelled:
//! - Clock: SDIO_CK = SDIOCLK / (CLKDIV + 2), or SDIOCLK with BYPASS, where SDIOCLK is
//!   PLL48CK; the bus runs only with POWER.PWRCTRL = 11 and CLKCR.CLKEN set. WIDBUS
//!   gives the data bus width (1, 4 or 8 bits). PWRSAV is stored; stopping the clock
//!   while the bus is idle has no visible effect here. Durations are computed with the clocks
//!   of the moment a command or block starts.
//! - Command path state machine (§31.3.2): writing CMD with CPSMEN sends CMDINDEX and
//!   ARG (48 SDIO_CK periods, CMDACT meanwhile). The card takes the command at its last
//!   bit. With WAITRESP = 00/10 the CPSM ends with CMDSENT; otherwise after NCR = 2
//!   periods a 48-bit (short) or 136-bit (long) response fills RESPCMD and RESP1-4 and
//!   ends with CMDREND, or with CCRCFAIL when the response carries no valid CRC (R3, the
//!   ACMD41 answer, as on silicon) or has the other length; no response within 64
//!   periods gives CTIMEOUT. Writing CPSMEN = 0 aborts a command.
//! - Data path state machine: writing DCTRL with DTEN starts a transfer of DLEN bytes
//!   in blocks of 2^DBLOCKSIZE bytes (DCOUNT counts down the bytes on the bus). Card to
//!   host (DTDIR = 1): after 8 periods of access time each block arrives as a start bit,
//!   one word every 32/width periods into the FIFO, then 16 CRC periods and the end bit;
//!   DBCKEND after each block, DATAEND when DCOUNT reaches 0; no data from the card within
//!   DTIMER periods gives DTIMEOUT. Host to card (DTDIR = 0): a block starts once the
//!   FIFO holds data, words leave every 32/width periods, then CRC, end bit, the card's
//!   CRC status token (8 periods) and its busy time ([`WRITE_BUSY_CLOCKS`]); DBCKEND,
//!   DATAEND as above; a block the card refuses gives DCRCFAIL, one it does not listen
//!   for gives DTIMEOUT. A bus width other than the card's (ACMD6) also gives DCRCFAIL.
//! - The 32-word FIFO (0x80-0xFC) with FIFOCNT (words left for software to move, loaded
//!   from DLEN), the flags TXACT/RXACT, TXFIFOHE (at least 8 free words), TXFIFOF,
//!   TXFIFOE, TXDAVL, RXFIFOHF (at least 8 words), RXFIFOF, RXFIFOE, RXDAVL, and
//!   underrun/overrun: with HWFC_EN the bus clock stops instead (no TXUNDERR/RXOVERR).
//! - STA, ICR (write 1 clears the static flags), MASK and the SDIO interrupt (IRQ 49,
//!   the OR of STA & MASK).
//! - DMA: with DCTRL.DMAEN, [`Effect::DmaRequest`] with [`DmaSignal::Sdio`] is high while
//!   a 4-word burst can be served (RM0090 §31.3.2 has the stream use PBURST = INC4): the
//!   receive FIFO holds at least 4 words (or the last words of the transfer), or the
//!   transmit FIFO has room for 4 of the words still to come (or for all of them when
//!   fewer remain). SDIO is the flow controller and signals the end of the transfer
//!   (DATAEND) with [`Effect::DmaPeripheralEnd`].
//!
//! Not modelled (stored; warns once when set):
//! - Stream mode (DTMODE), SDIO read wait (RWSTART/RWSTOP/RWMOD), SDIO card interrupts
//!   (SDIOEN, SDIOIT), suspend (SDIOSuspend), CE-ATA (ATACMD, nIEN, ENCMDcompl,
//!   CEATAEND), WAITINT/WAITPEND, NEGEDGE, STBITERR (no bus noise), the F405 errata on
//!   hardware flow control. A clock change in the middle of a command or block does not change its
//!   timing.

use std::collections::VecDeque;

use crate::device::{BusError, Ctx, Device, DmaSignal, Effect, Size};
use crate::regs::{f, guest_error, unmodelled, Access::*, Block, Reg};
use crate::sdcard::{Response, SdCard};

const TR: &str = "periph::sdio";

pub const POWER: u32 = 0x00;
pub const CLKCR: u32 = 0x04;
pub const ARG: u32 = 0x08;
pub const CMD: u32 = 0x0C;
pub const RESPCMD: u32 = 0x10;
pub const RESP1: u32 = 0x14;
pub const DTIMER: u32 = 0x24;
pub const DLEN: u32 = 0x28;
pub const DCTRL: u32 = 0x2C;
pub const DCOUNT: u32 = 0x30;
pub const STA: u32 = 0x34;
pub const ICR: u32 = 0x38;
pub const MASK: u32 = 0x3C;
pub const FIFOCNT: u32 = 0x48;
pub const FIFO: u32 = 0x80;

/// IRQ line of SDIO on the STM32F405.
pub const IRQ: u16 = 49;

// CLKCR
pub const CLKEN: u32 = 1 << 8;
pub const BYPASS: u32 = 1 << 10;
pub const HWFC_EN: u32 = 1 << 14;
// CMD
pub const CPSMEN: u32 = 1 << 10;
// DCTRL
pub const DTEN: u32 = 1 << 0;
pub const DTDIR: u32 = 1 << 1;
pub const DMAEN: u32 = 1 << 3;

/// STA bits.
pub mod sta {
    pub const CCRCFAIL: u32 = 1 << 0;
    pub const DCRCFAIL: u32 = 1 << 1;
    pub const CTIMEOUT: u32 = 1 << 2;
    pub const DTIMEOUT: u32 = 1 << 3;
    pub const TXUNDERR: u32 = 1 << 4;
    pub const RXOVERR: u32 = 1 << 5;
    pub const CMDREND: u32 = 1 << 6;
    pub const CMDSENT: u32 = 1 << 7;
    pub const DATAEND: u32 = 1 << 8;
    pub const DBCKEND: u32 = 1 << 10;
    pub const CMDACT: u32 = 1 << 11;
    pub const TXACT: u32 = 1 << 12;
    pub const RXACT: u32 = 1 << 13;
    pub const TXFIFOHE: u32 = 1 << 14;
    pub const RXFIFOHF: u32 = 1 << 15;
    pub const TXFIFOF: u32 = 1 << 16;
    pub const RXFIFOF: u32 = 1 << 17;
    pub const TXFIFOE: u32 = 1 << 18;
    pub const RXFIFOE: u32 = 1 << 19;
    pub const TXDAVL: u32 = 1 << 20;
    pub const RXDAVL: u32 = 1 << 21;
    /// The flags ICR clears (the others follow the state).
    pub const STATIC: u32 = 0x00C0_07FF;
}

/// SDIO_CK periods a card is busy programming each written block.
pub const WRITE_BUSY_CLOCKS: u64 = 64;
/// SDIO_CK periods from the end of a read command (or block) to the next block's start
/// bit (the card's access time NAC).
pub const READ_ACCESS_CLOCKS: u64 = 8;
const NCR: u64 = 2;
const CMD_TIMEOUT_CLOCKS: u64 = 64;
const FIFO_WORDS: usize = 32;

const TOKEN_CMD: u32 = 0;
const TOKEN_RESP: u32 = 1;
const TOKEN_WORD: u32 = 2;
const TOKEN_BLOCK: u32 = 3;
const TOKEN_DTIMEOUT: u32 = 4;

/// The register table (RM0090 §31.9).
pub const REGS: &[Reg] = &[
    Reg {
        offset: POWER,
        name: "POWER",
        reset: 0x0,
        fields: &[f("PWRCTRL", 0, 2, Rw)],
    },
    Reg {
        offset: CLKCR,
        name: "CLKCR",
        reset: 0x0,
        fields: &[
            f("CLKDIV", 0, 8, Rw),
            f("CLKEN", 8, 1, Rw),
            f("PWRSAV", 9, 1, Rw),
            f("BYPASS", 10, 1, Rw),
            f("WIDBUS", 11, 2, Rw),
            unmodelled("NEGEDGE", 13, 1, Rw),
            f("HWFC_EN", 14, 1, Rw),
        ],
    },
    Reg {
        offset: ARG,
        name: "ARG",
        reset: 0x0,
        fields: &[f("CMDARG", 0, 32, Rw)],
    },
    Reg {
        offset: CMD,
        name: "CMD",
        reset: 0x0,
        fields: &[
            f("CMDINDEX", 0, 6, Rw),
            f("WAITRESP", 6, 2, Rw),
            unmodelled("WAITINT", 8, 1, Rw),
            unmodelled("WAITPEND", 9, 1, Rw),
            f("CPSMEN", 10, 1, Rw),
            unmodelled("SDIOSuspend", 11, 1, Rw),
            unmodelled("ENCMDcompl", 12, 1, Rw),
            unmodelled("nIEN", 13, 1, Rw),
            unmodelled("ATACMD", 14, 1, Rw),
        ],
    },
    Reg {
        offset: RESPCMD,
        name: "RESPCMD",
        reset: 0x0,
        fields: &[f("RESPCMD", 0, 6, R)],
    },
    Reg {
        offset: 0x14,
        name: "RESP1",
        reset: 0x0,
        fields: &[f("CARDSTATUS1", 0, 32, R)],
    },
    Reg {
        offset: 0x18,
        name: "RESP2",
        reset: 0x0,
        fields: &[f("CARDSTATUS2", 0, 32, R)],
    },
    Reg {
        offset: 0x1c,
        name: "RESP3",
        reset: 0x0,
        fields: &[f("CARDSTATUS3", 0, 32, R)],
    },
    Reg {
        offset: 0x20,
        name: "RESP4",
        reset: 0x0,
        fields: &[f("CARDSTATUS4", 0, 32, R)],
    },
    Reg {
        offset: DTIMER,
        name: "DTIMER",
        reset: 0x0,
        fields: &[f("DATATIME", 0, 32, Rw)],
    },
    Reg {
        offset: DLEN,
        name: "DLEN",
        reset: 0x0,
        fields: &[f("DATALENGTH", 0, 25, Rw)],
    },
    Reg {
        offset: DCTRL,
        name: "DCTRL",
        reset: 0x0,
        fields: &[
            f("DTEN", 0, 1, Rw),
            f("DTDIR", 1, 1, Rw),
            unmodelled("DTMODE", 2, 1, Rw),
            f("DMAEN", 3, 1, Rw),
            f("DBLOCKSIZE", 4, 4, Rw),
            unmodelled("RWSTART", 8, 1, Rw),
            unmodelled("RWSTOP", 9, 1, Rw),
            unmodelled("RWMOD", 10, 1, Rw),
            unmodelled("SDIOEN", 11, 1, Rw),
        ],
    },
    Reg {
        offset: DCOUNT,
        name: "DCOUNT",
        reset: 0x0,
        fields: &[f("DATACOUNT", 0, 25, R)],
    },
    Reg {
        offset: STA,
        name: "STA",
        reset: 0x0,
        fields: &[f("flags", 0, 24, R)],
    },
    Reg {
        offset: ICR,
        name: "ICR",
        reset: 0x0,
        fields: &[f("clear", 0, 24, W)],
    },
    Reg {
        offset: MASK,
        name: "MASK",
        reset: 0x0,
        fields: &[f("IE", 0, 24, Rw)],
    },
    Reg {
        offset: FIFOCNT,
        name: "FIFOCNT",
        reset: 0x0,
        fields: &[f("FIFOCOUNT", 0, 24, R)],
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Rx,
    Tx,
}

/// The data path state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dpsm {
    Idle,
    /// Card to host: waiting for a block (`wait`), or receiving one.
    Rx {
        wait: bool,
    },
    /// Host to card: `sending` a block (a word event is due), else waiting for the FIFO.
    Tx {
        sending: bool,
    },
}

/// The SDIO host.
pub struct Sdio {
    name: String,
    regs: Block,
    card: Option<SdCard>,
    /// Static STA flags (the rest is computed).
    flags: u32,
    /// A command on the bus (CMDACT): index, argument, WAITRESP.
    cmd: Option<(u8, u32, u32)>,
    /// The response coming in.
    resp: Option<Response>,
    dpsm: Dpsm,
    dir: Dir,
    fifo: VecDeque<u32>,
    fifocnt: u32,
    dcount: u32,
    block_size: u32,
    /// The block on the wire: Rx, the bytes still to arrive from `pos`; Tx, the bytes sent.
    block: Vec<u8>,
    pos: usize,
    /// The block will fail its CRC (wrong bus width or block length).
    bad_block: bool,
    /// Receive clock stopped by hardware flow control with the FIFO full.
    stalled: bool,
    irq_level: bool,
    dma_level: bool,
}

/// The SDIO block named `name`, with no card.
pub fn new(name: &str) -> Sdio {
    Sdio::new(name)
}

impl Sdio {
    pub fn new(name: &str) -> Sdio {
        Sdio {
            name: name.to_string(),
            regs: Block::new("SDIO", REGS),
            card: None,
            flags: 0,
            cmd: None,
            resp: None,
            dpsm: Dpsm::Idle,
            dir: Dir::Rx,
            fifo: VecDeque::with_capacity(FIFO_WORDS),
            fifocnt: 0,
            dcount: 0,
            block_size: 1,
            block: Vec::new(),
            pos: 0,
            bad_block: false,
            stalled: false,
            irq_level: false,
            dma_level: false,
        }
    }

    /// Puts a card in the slot (replacing any).
    pub fn insert(&mut self, card: SdCard) {
        self.card = Some(card);
    }

    /// Takes the card out of the slot.
    pub fn eject(&mut self) -> Option<SdCard> {
        self.card.take()
    }

    pub fn card(&self) -> Option<&SdCard> {
        self.card.as_ref()
    }

    pub fn card_mut(&mut self) -> Option<&mut SdCard> {
        self.card.as_mut()
    }

    /// CPU cycles of `n` SDIO_CK periods, None while the bus clock is stopped.
    fn clocks(&self, ctx: &Ctx, n: u64) -> Option<u64> {
        let clkcr = self.regs.get(CLKCR);
        let sdioclk = ctx.clocks.pll48;
        if self.regs.get(POWER) & 3 != 3 || clkcr & CLKEN == 0 || sdioclk == 0 {
            return None;
        }
        let div = if clkcr & BYPASS != 0 {
            1
        } else {
            (clkcr & 0xFF) as u64 + 2
        };
        Some(ctx.clocks.to_cycles(n * div, sdioclk).max(1))
    }

    fn after(&self, ctx: &mut Ctx, token: u32, n: u64) -> bool {
        match self.clocks(ctx, n) {
            Some(c) => {
                // Saturating: a time near 2^64 cycles must not wrap into the past.
                let at = ctx.now.saturating_add(c);
                ctx.schedule(token, at);
                true
            }
            None => {
                guest_error(
                    &self.name,
                    ctx.now,
                    "SDIO_CK is stopped (POWER not on, CLKCR.CLKEN clear or PLL48CK off): nothing moves on the bus",
                );
                false
            }
        }
    }

    fn width(&self) -> u64 {
        match self.regs.get(CLKCR) >> 11 & 3 {
            0 => 1,
            1 => 4,
            _ => 8,
        }
    }

    /// Periods that `bytes` bytes take on the data bus.
    fn data_clocks(&self, bytes: usize) -> u64 {
        (bytes as u64 * 8).div_ceil(self.width())
    }

    fn status(&self) -> u32 {
        let mut s = self.flags;
        if self.cmd.is_some() {
            s |= sta::CMDACT;
        }
        let n = self.fifo.len();
        match self.dir {
            Dir::Rx if matches!(self.dpsm, Dpsm::Rx { .. }) || n > 0 => {
                if matches!(self.dpsm, Dpsm::Rx { .. }) {
                    s |= sta::RXACT;
                }
                if n >= 8 {
                    s |= sta::RXFIFOHF;
                }
                if n == FIFO_WORDS {
                    s |= sta::RXFIFOF;
                }
                if n == 0 {
                    s |= sta::RXFIFOE;
                } else {
                    s |= sta::RXDAVL;
                }
            }
            Dir::Tx if matches!(self.dpsm, Dpsm::Tx { .. }) => {
                s |= sta::TXACT;
                if FIFO_WORDS - n >= 8 {
                    s |= sta::TXFIFOHE;
                }
                if n == FIFO_WORDS {
                    s |= sta::TXFIFOF;
                }
                if n == 0 {
                    s |= sta::TXFIFOE;
                } else {
                    s |= sta::TXDAVL;
                }
            }
            _ => {}
        }
        s
    }

    fn update(&mut self, ctx: &mut Ctx) {
        let irq = self.status() & self.regs.get(MASK) != 0;
        if irq != self.irq_level {
            self.irq_level = irq;
            ctx.irq(IRQ, irq);
        }
        // A request stands for one 4-beat burst (RM0090 §31.3.2 asks for PBURST = INC4):
        // four words to take or room for four, or the last words of the transfer.
        let n = self.fifo.len() as u32;
        let dma = self.regs.get(DCTRL) & DMAEN != 0
            && match self.dpsm {
                Dpsm::Rx { .. } => n >= 4 || (n > 0 && self.dcount == 0),
                Dpsm::Tx { .. } => self.fifocnt > 0 && FIFO_WORDS as u32 - n >= self.fifocnt.min(4),
                Dpsm::Idle => self.dir == Dir::Rx && n > 0,
            };
        if dma != self.dma_level {
            self.dma_level = dma;
            ctx.push(Effect::DmaRequest {
                signal: DmaSignal::Sdio,
                level: dma,
            });
        }
    }

    // ---- command path ----

    fn start_command(&mut self, ctx: &mut Ctx, cmd: u32) {
        if self.cmd.is_some() {
            guest_error(
                &self.name,
                ctx.now,
                "CMD written while a command is under way",
            );
            return;
        }
        let index = (cmd & 0x3F) as u8;
        let arg = self.regs.get(ARG);
        self.cmd = Some((index, arg, cmd >> 6 & 3));
        self.resp = None;
        tracing::trace!(target: TR, t = ctx.now, index, arg, "command");
        self.after(ctx, TOKEN_CMD, 48);
    }

    fn command_out(&mut self, ctx: &mut Ctx) {
        let Some((index, arg, wait)) = self.cmd else {
            return;
        };
        let clocks = ctx.clocks;
        let r = self
            .card
            .as_mut()
            .and_then(|c| c.command(ctx.now, &clocks, index, arg));
        if wait == 0 || wait == 2 {
            self.cmd = None;
            self.flags |= sta::CMDSENT;
            return;
        }
        match r {
            Some(r) => {
                let bits = if r.is_long() { 136 } else { 48 };
                self.resp = Some(r);
                self.after(ctx, TOKEN_RESP, NCR + bits);
            }
            None => {
                self.after(ctx, TOKEN_RESP, CMD_TIMEOUT_CLOCKS);
            }
        }
    }

    fn response_in(&mut self, ctx: &mut Ctx) {
        let Some((index, _, wait)) = self.cmd.take() else {
            return;
        };
        let Some(r) = self.resp.take() else {
            self.flags |= sta::CTIMEOUT;
            return;
        };
        self.regs.set(RESPCMD, r.index(index) as u32);
        let words: [u32; 4] = match r {
            Response::R2(v) => [
                (v >> 96) as u32,
                (v >> 64) as u32,
                (v >> 32) as u32,
                v as u32,
            ],
            Response::R1(s) | Response::R3(s) | Response::R6(s) | Response::R7(s) => [s, 0, 0, 0],
        };
        for (i, w) in words.iter().enumerate() {
            self.regs.set(RESP1 + 4 * i as u32, *w);
        }
        let long = wait == 3;
        if r.crc_valid() && r.is_long() == long {
            self.flags |= sta::CMDREND;
        } else {
            self.flags |= sta::CCRCFAIL;
        }
        // A read command may have given the waiting data path its first block.
        let sending = self.card.as_ref().is_some_and(|c| c.sending());
        if self.dpsm == (Dpsm::Rx { wait: true }) && sending {
            ctx.cancel(TOKEN_DTIMEOUT);
            self.next_rx_block(ctx);
        }
    }

    // ---- data path ----

    fn start_data(&mut self, ctx: &mut Ctx, dctrl: u32) {
        let bs = dctrl >> 4 & 0xF;
        if bs > 14 {
            guest_error(&self.name, ctx.now, "DCTRL.DBLOCKSIZE 15 is reserved");
        }
        self.block_size = 1 << bs.min(14);
        self.dcount = self.regs.get(DLEN) & 0x1FF_FFFF;
        self.fifocnt = self.dcount.div_ceil(4);
        self.fifo.clear();
        self.stalled = false;
        if dctrl & DTDIR != 0 {
            self.dir = Dir::Rx;
            self.dpsm = Dpsm::Rx { wait: true };
            self.next_rx_block(ctx);
        } else {
            self.dir = Dir::Tx;
            self.dpsm = Dpsm::Tx { sending: false };
            self.block.clear();
            self.try_send(ctx);
        }
    }

    fn stop_data(&mut self, ctx: &mut Ctx) {
        self.dpsm = Dpsm::Idle;
        self.stalled = false;
        for t in [TOKEN_WORD, TOKEN_BLOCK, TOKEN_DTIMEOUT] {
            ctx.cancel(t);
        }
    }

    fn fail_data(&mut self, ctx: &mut Ctx, flag: u32) {
        self.flags |= flag;
        self.stop_data(ctx);
    }

    /// Card to host: asks the card for its next block, or waits DTIMER periods for one.
    fn next_rx_block(&mut self, ctx: &mut Ctx) {
        if self.dcount == 0 {
            return;
        }
        let width = self.width() as u8;
        let got = self.card.as_mut().map(|c| (c.read_block(), c.bus_width()));
        match got {
            Some((Some(mut b), card_width)) => {
                let want = self.block_size.min(self.dcount) as usize;
                self.bad_block = b.len() != want || card_width != width;
                b.resize(want, 0);
                self.block = b;
                self.pos = 0;
                self.dpsm = Dpsm::Rx { wait: false };
                let first = self.data_clocks(4.min(want));
                self.after(ctx, TOKEN_WORD, READ_ACCESS_CLOCKS + 1 + first);
            }
            _ => {
                self.dpsm = Dpsm::Rx { wait: true };
                let n = self.regs.get(DTIMER) as u64;
                self.after(ctx, TOKEN_DTIMEOUT, n.max(1));
            }
        }
    }

    fn rx_word(&mut self, ctx: &mut Ctx) {
        if self.fifo.len() == FIFO_WORDS {
            if self.regs.get(CLKCR) & HWFC_EN != 0 {
                self.stalled = true;
            } else {
                self.fail_data(ctx, sta::RXOVERR);
            }
            return;
        }
        let n = 4.min(self.block.len() - self.pos);
        let mut w = [0u8; 4];
        w[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.fifo.push_back(u32::from_le_bytes(w));
        self.pos += n;
        self.dcount -= n as u32;
        if self.pos < self.block.len() {
            let next = self.data_clocks(4.min(self.block.len() - self.pos));
            self.after(ctx, TOKEN_WORD, next);
        } else {
            self.after(ctx, TOKEN_BLOCK, 16 + 1);
        }
    }

    /// Host to card: starts (or resumes) sending when the FIFO has a word.
    fn try_send(&mut self, ctx: &mut Ctx) {
        if self.dpsm != (Dpsm::Tx { sending: false }) || self.fifo.is_empty() || self.dcount == 0 {
            return;
        }
        // The block's size counts the bytes already sent of it (DCOUNT no longer does).
        let want = self.block_size.min(self.dcount + self.block.len() as u32) as usize;
        let start = if self.block.is_empty() { 2 + 1 } else { 0 };
        let n = 4.min(want - self.block.len());
        if self.after(ctx, TOKEN_WORD, start + self.data_clocks(n)) {
            self.dpsm = Dpsm::Tx { sending: true };
        }
    }

    fn tx_word(&mut self, ctx: &mut Ctx) {
        let want = self.block_size.min(self.dcount + self.block.len() as u32) as usize;
        let Some(w) = self.fifo.pop_front() else {
            if self.regs.get(CLKCR) & HWFC_EN != 0 {
                self.dpsm = Dpsm::Tx { sending: false };
            } else {
                self.fail_data(ctx, sta::TXUNDERR);
            }
            return;
        };
        let n = 4.min(want - self.block.len());
        self.block.extend_from_slice(&w.to_le_bytes()[..n]);
        self.dcount -= n as u32;
        if self.block.len() < want {
            if self.fifo.is_empty() && self.regs.get(CLKCR) & HWFC_EN != 0 {
                self.dpsm = Dpsm::Tx { sending: false };
            } else {
                let next = self.data_clocks(4.min(want - self.block.len()));
                self.after(ctx, TOKEN_WORD, next);
            }
        } else {
            // CRC, end bit, CRC status token, then the card's busy time.
            self.dpsm = Dpsm::Tx { sending: true };
            self.after(ctx, TOKEN_BLOCK, 16 + 1 + 8 + WRITE_BUSY_CLOCKS);
        }
    }

    fn block_end(&mut self, ctx: &mut Ctx) {
        match self.dpsm {
            Dpsm::Rx { .. } => {
                if self.bad_block {
                    self.fail_data(ctx, sta::DCRCFAIL);
                    return;
                }
                self.flags |= sta::DBCKEND;
                if self.dcount == 0 {
                    self.data_end(ctx);
                } else {
                    self.next_rx_block(ctx);
                }
            }
            Dpsm::Tx { .. } => {
                let block = std::mem::take(&mut self.block);
                let width = self.width() as u8;
                let outcome = self.card.as_mut().map(|c| {
                    if !c.receiving() {
                        None
                    } else {
                        Some(c.bus_width() == width && c.write_block(&block))
                    }
                });
                match outcome.flatten() {
                    None => {
                        // Nobody sends a CRC status token: wait DTIMER periods.
                        let n = self.regs.get(DTIMER) as u64;
                        self.after(ctx, TOKEN_DTIMEOUT, n.max(1));
                    }
                    Some(false) => self.fail_data(ctx, sta::DCRCFAIL),
                    Some(true) => {
                        self.flags |= sta::DBCKEND;
                        if self.dcount == 0 {
                            self.data_end(ctx);
                        } else {
                            self.dpsm = Dpsm::Tx { sending: false };
                            self.try_send(ctx);
                        }
                    }
                }
            }
            Dpsm::Idle => {}
        }
    }

    fn data_end(&mut self, ctx: &mut Ctx) {
        self.flags |= sta::DATAEND;
        self.stop_data(ctx);
        if self.regs.get(DCTRL) & DMAEN != 0 {
            ctx.push(Effect::DmaPeripheralEnd {
                signal: DmaSignal::Sdio,
            });
        }
    }

    fn fifo_read(&mut self, ctx: &mut Ctx) -> u32 {
        let Some(w) = self.fifo.pop_front() else {
            guest_error(
                &self.name,
                ctx.now,
                "FIFO read while the receive FIFO is empty",
            );
            return 0;
        };
        self.fifocnt = self.fifocnt.saturating_sub(1);
        if self.stalled {
            self.stalled = false;
            let next = self.data_clocks(4.min(self.block.len() - self.pos));
            self.after(ctx, TOKEN_WORD, next);
        }
        w
    }

    fn fifo_write(&mut self, ctx: &mut Ctx, w: u32) {
        if self.fifo.len() == FIFO_WORDS {
            guest_error(
                &self.name,
                ctx.now,
                "FIFO write while the transmit FIFO is full: word lost",
            );
            return;
        }
        self.fifo.push_back(w);
        self.fifocnt = self.fifocnt.saturating_sub(1);
        self.try_send(ctx);
    }
}

impl Device for Sdio {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = match offset & !3 {
            o if (FIFO..FIFO + 0x80).contains(&o) => {
                let w = self.fifo_read(ctx);
                self.update(ctx);
                crate::device::extract(offset, size, w)
            }
            STA => crate::device::extract(offset, size, self.status()),
            DCOUNT => crate::device::extract(offset, size, self.dcount),
            FIFOCNT => crate::device::extract(offset, size, self.fifocnt),
            _ => self.regs.read(offset, size).unwrap_or(0),
        };
        tracing::trace!(target: TR, t = ctx.now, reg = self.regs.name_at(offset), val = v, "read");
        Ok(v)
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        if (FIFO..FIFO + 0x80).contains(&(offset & !3)) {
            self.fifo_write(ctx, value);
            self.update(ctx);
            return Ok(());
        }
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: TR, t = ctx.now, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        match offset & !3 {
            CMD => {
                if w.new & CPSMEN != 0 {
                    self.start_command(ctx, w.new);
                } else if self.cmd.take().is_some() {
                    ctx.cancel(TOKEN_CMD);
                    ctx.cancel(TOKEN_RESP);
                }
            }
            DCTRL => {
                if w.new & DTEN != 0 {
                    if self.dpsm == Dpsm::Idle {
                        self.start_data(ctx, w.new);
                    }
                } else if self.dpsm != Dpsm::Idle {
                    self.stop_data(ctx);
                }
            }
            ICR => {
                self.flags &= !(w.new & sta::STATIC);
                self.regs.set(ICR, 0);
            }
            POWER if w.new & 3 == 0 => {
                // Power off: the card is no longer clocked; transfers stop.
                if self.cmd.take().is_some() {
                    ctx.cancel(TOKEN_CMD);
                    ctx.cancel(TOKEN_RESP);
                }
                self.stop_data(ctx);
            }
            _ => {}
        }
        self.update(ctx);
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        match token {
            TOKEN_CMD => self.command_out(ctx),
            TOKEN_RESP => self.response_in(ctx),
            TOKEN_WORD => match self.dpsm {
                Dpsm::Rx { wait: false } => self.rx_word(ctx),
                Dpsm::Tx { .. } => self.tx_word(ctx),
                _ => {}
            },
            TOKEN_BLOCK => self.block_end(ctx),
            TOKEN_DTIMEOUT if self.dpsm != Dpsm::Idle => self.fail_data(ctx, sta::DTIMEOUT),
            _ => {}
        }
        self.update(ctx);
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        for t in [
            TOKEN_CMD,
            TOKEN_RESP,
            TOKEN_WORD,
            TOKEN_BLOCK,
            TOKEN_DTIMEOUT,
        ] {
            ctx.cancel(t);
        }
        self.regs.reset();
        self.flags = 0;
        self.cmd = None;
        self.resp = None;
        self.dpsm = Dpsm::Idle;
        self.dir = Dir::Rx;
        self.fifo.clear();
        self.fifocnt = 0;
        self.dcount = 0;
        self.block.clear();
        self.stalled = false;
        if self.irq_level {
            ctx.irq(IRQ, false);
            self.irq_level = false;
        }
        if self.dma_level {
            ctx.push(Effect::DmaRequest {
                signal: DmaSignal::Sdio,
                level: false,
            });
            self.dma_level = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdcard::{self, RCA};
    use crate::testing::FakeBus;
    use crate::Clocks;

    const CLK: Clocks = crate::testing::PYBOARD;
    /// CPU cycles per SDIO_CK period at 400 kHz (CLKDIV 118) and 24 MHz (CLKDIV 0).
    const SLOW: u64 = 420;
    const FAST: u64 = 7;
    const SHORT: u32 = 1 << 6;
    const LONG: u32 = 3 << 6;

    fn host(image: Option<Vec<u8>>) -> FakeBus<Sdio> {
        let mut s = Sdio::new("SDIO");
        if let Some(img) = image {
            s.insert(SdCard::new(img).unwrap());
        }
        let mut b = FakeBus::new(s, CLK);
        b.write32(POWER, 3);
        b.write32(CLKCR, CLKEN | 118);
        b
    }

    /// Sends a command and runs until the CPSM is done; returns the static flags set.
    fn cmd(b: &mut FakeBus<Sdio>, index: u32, arg: u32, wait: u32) -> u32 {
        b.write32(ICR, sta::STATIC);
        b.write32(ARG, arg);
        b.write32(CMD, CPSMEN | wait | index);
        while b.read32(STA) & sta::CMDACT != 0 {
            let t = b.next_deadline().expect("a command event is due");
            b.advance_to(t);
        }
        b.read32(STA) & sta::STATIC
    }

    /// CMD0 to the transfer state, 4-bit bus at 24 MHz with flow control.
    fn init(b: &mut FakeBus<Sdio>) {
        assert_eq!(cmd(b, 0, 0, 0), sta::CMDSENT);
        assert_eq!(cmd(b, 8, 0x1AA, SHORT), sta::CMDREND);
        loop {
            assert_eq!(cmd(b, 55, 0, SHORT), sta::CMDREND);
            assert_eq!(
                cmd(b, 41, 0x40FF_8000, SHORT),
                sta::CCRCFAIL,
                "R3 has no CRC"
            );
            if b.read32(RESP1) & sdcard::OCR_READY != 0 {
                break;
            }
        }
        assert_eq!(cmd(b, 2, 0, LONG), sta::CMDREND);
        assert_eq!(cmd(b, 3, 0, SHORT), sta::CMDREND);
        assert_eq!(b.read32(RESP1) >> 16, RCA as u32);
        let rca = (RCA as u32) << 16;
        assert_eq!(cmd(b, 9, rca, LONG), sta::CMDREND);
        assert_eq!(cmd(b, 7, rca, SHORT), sta::CMDREND);
        assert_eq!(cmd(b, 55, rca, SHORT), sta::CMDREND);
        assert_eq!(cmd(b, 6, 2, SHORT), sta::CMDREND);
        b.write32(CLKCR, CLKEN | HWFC_EN | 1 << 11);
    }

    #[test]
    fn command_timing_and_flags() {
        let mut b = host(Some(vec![0; 1 << 20]));
        b.write32(MASK, sta::CMDSENT | sta::CMDREND);
        b.write32(CMD, CPSMEN);
        assert_eq!(b.read32(STA), sta::CMDACT);
        b.advance(48 * SLOW - 1);
        assert_eq!(b.read32(STA), sta::CMDACT);
        assert!(!b.irq(IRQ));
        b.advance(1);
        assert_eq!(b.read32(STA), sta::CMDSENT);
        assert!(b.irq(IRQ), "CMDSENT is unmasked");
        b.write32(ICR, sta::CMDSENT);
        assert!(!b.irq(IRQ));
        // CMD8: 48 bits out, NCR, 48 bits back.
        let t0 = b.now;
        assert_eq!(cmd(&mut b, 8, 0x1AA, SHORT), sta::CMDREND);
        assert_eq!(b.now - t0, (48 + 2 + 48) * SLOW);
        assert_eq!(b.read32(RESPCMD), 8);
        assert_eq!(b.read32(RESP1), 0x1AA);
        // ACMD41: CCRCFAIL, RESPCMD all ones, the OCR still in RESP1.
        cmd(&mut b, 55, 0, SHORT);
        assert_eq!(cmd(&mut b, 41, 0x40FF_8000, SHORT), sta::CCRCFAIL);
        assert_eq!(b.read32(RESPCMD), 0x3F);
        assert_eq!(b.read32(RESP1), sdcard::OCR_VOLTAGES, "busy");
    }

    #[test]
    fn no_card_times_out_after_64_periods() {
        let mut b = host(None);
        let t0 = b.now;
        assert_eq!(cmd(&mut b, 8, 0x1AA, SHORT), sta::CTIMEOUT);
        assert_eq!(b.now - t0, (48 + 64) * SLOW);
    }

    #[test]
    fn clock_divider_and_bypass() {
        let mut b = host(None);
        b.write32(CLKCR, CLKEN | BYPASS);
        b.write32(CMD, CPSMEN);
        b.advance(48 * 168 / 48 - 1);
        assert_eq!(b.read32(STA), sta::CMDACT);
        b.advance(1);
        assert_eq!(b.read32(STA), sta::CMDSENT);
        // Clock disabled: nothing moves.
        b.write32(CLKCR, 0);
        b.write32(ICR, sta::STATIC);
        b.write32(CMD, CPSMEN);
        assert_eq!(b.next_deadline(), None);
        assert_eq!(b.read32(STA), sta::CMDACT);
    }

    #[test]
    fn long_response_fills_resp1_to_4() {
        let mut b = host(Some(vec![0; 1 << 20]));
        init(&mut b);
        let csd = b.dev.card().unwrap().csd();
        cmd(&mut b, 7, 0, 0); // deselect
        assert_eq!(cmd(&mut b, 9, (RCA as u32) << 16, LONG), sta::CMDREND);
        assert_eq!(b.read32(RESPCMD), 0x3F);
        let got = (0..4).fold(0u128, |v, i| v << 32 | b.read32(RESP1 + 4 * i) as u128);
        assert_eq!(got, csd);
    }

    /// Reads `n` words through the FIFO, polling every `step` cycles.
    fn drain(b: &mut FakeBus<Sdio>, n: usize, step: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < n * 4 {
            let s = b.read32(STA);
            assert_eq!(
                s & (sta::RXOVERR | sta::DCRCFAIL | sta::DTIMEOUT),
                0,
                "{s:#x}"
            );
            if s & sta::RXDAVL != 0 {
                out.extend_from_slice(&b.read32(FIFO).to_le_bytes());
            } else {
                b.advance(step);
            }
        }
        out
    }

    #[test]
    fn block_read_through_the_fifo() {
        let mut img = vec![0u8; 1 << 20];
        for (i, x) in img[512 * 5..512 * 7].iter_mut().enumerate() {
            *x = (i * 7) as u8;
        }
        let mut b = host(Some(img.clone()));
        init(&mut b);
        b.write32(DTIMER, 100_000);
        b.write32(DLEN, 1024);
        assert_eq!(cmd(&mut b, 18, 5, SHORT), sta::CMDREND);
        b.write32(ICR, sta::STATIC);
        let t0 = b.now;
        b.write32(DCTRL, DTEN | DTDIR | 9 << 4);
        assert_eq!(b.read32(FIFOCNT), 256);
        assert_ne!(b.read32(STA) & sta::RXACT, 0);
        // First word: access time, start bit, 8 periods.
        b.advance((8 + 1 + 8) * FAST - 1);
        assert_eq!(b.read32(STA) & sta::RXDAVL, 0);
        b.advance(1);
        assert_ne!(b.read32(STA) & sta::RXDAVL, 0);
        let data = drain(&mut b, 256, FAST);
        assert_eq!(data, img[512 * 5..512 * 7]);
        assert_eq!(b.read32(FIFOCNT), 0);
        while b.read32(STA) & sta::DATAEND == 0 {
            b.advance(1);
        }
        // Two blocks: (8 + 1 + 128 * 8 + 17) periods each.
        assert_eq!(b.now - t0, 2 * (8 + 1 + 1024 + 17) * FAST);
        assert_eq!(b.read32(STA) & sta::STATIC, sta::DATAEND | sta::DBCKEND);
        assert_eq!(b.read32(DCOUNT), 0);
        assert_eq!(cmd(&mut b, 12, 0, SHORT), sta::CMDREND);
        assert_eq!(b.dev.card().unwrap().state(), sdcard::State::Tran);
    }

    /// DCTRL before CMD17 (the HAL's order): the DPSM waits, and other commands'
    /// responses do not restart its DTIMER count.
    #[test]
    fn the_data_path_may_start_before_the_read_command() {
        let mut b = host(Some(vec![0x33; 1 << 20]));
        init(&mut b);
        b.write32(DTIMER, 5000);
        b.write32(DLEN, 512);
        b.write32(DCTRL, DTEN | DTDIR | 9 << 4);
        let t0 = b.now;
        cmd(&mut b, 13, (RCA as u32) << 16, SHORT);
        assert_eq!(cmd(&mut b, 17, 1, SHORT), sta::CMDREND);
        assert_eq!(b.read32(STA) & sta::DTIMEOUT, 0);
        assert_eq!(drain(&mut b, 128, FAST), vec![0x33; 512]);
        b.advance(17 * FAST);
        assert_eq!(
            b.read32(STA) & sta::STATIC & !sta::CMDREND,
            sta::DATAEND | sta::DBCKEND
        );
        // Again, with only a status command: the timeout counts from DCTRL.
        b.write32(ICR, sta::STATIC);
        b.write32(DCTRL, DTEN | DTDIR | 9 << 4);
        let t1 = b.now;
        cmd(&mut b, 13, (RCA as u32) << 16, SHORT);
        b.advance_to(t1 + 5000 * FAST);
        assert_ne!(b.read32(STA) & sta::DTIMEOUT, 0);
        assert!(b.now > t0);
    }

    #[test]
    fn flow_control_stops_the_clock_and_no_flow_control_overruns() {
        let mut b = host(Some(vec![0x5A; 1 << 20]));
        init(&mut b);
        b.write32(DTIMER, 100_000);
        b.write32(DLEN, 512);
        cmd(&mut b, 17, 0, SHORT);
        b.write32(DCTRL, DTEN | DTDIR | 9 << 4);
        b.advance(100_000);
        let s = b.read32(STA);
        assert_ne!(s & sta::RXFIFOF, 0);
        assert_eq!(s & (sta::RXOVERR | sta::DATAEND), 0, "clock stopped");
        assert_eq!(drain(&mut b, 128, FAST), vec![0x5A; 512]);
        b.advance(17 * FAST);
        assert_ne!(b.read32(STA) & sta::DATAEND, 0);
        // Without HWFC_EN the 33rd word overruns.
        b.write32(CLKCR, CLKEN | 1 << 11);
        b.write32(ICR, sta::STATIC);
        cmd(&mut b, 17, 0, SHORT);
        b.write32(DCTRL, DTEN | DTDIR | 9 << 4);
        b.advance(100_000);
        let s = b.read32(STA);
        assert_eq!(s & (sta::RXOVERR | sta::RXACT), sta::RXOVERR);
    }

    #[test]
    fn block_write_through_the_fifo() {
        let mut b = host(Some(vec![0; 1 << 20]));
        init(&mut b);
        b.write32(DTIMER, 100_000);
        b.write32(DLEN, 512);
        assert_eq!(cmd(&mut b, 24, 9, SHORT), sta::CMDREND);
        b.write32(ICR, sta::STATIC);
        b.write32(DCTRL, DTEN | 9 << 4);
        let s = b.read32(STA);
        assert_eq!(
            s & (sta::TXACT | sta::TXFIFOE | sta::TXFIFOHE),
            sta::TXACT | sta::TXFIFOE | sta::TXFIFOHE
        );
        let t0 = b.now;
        let mut sent = 0u32;
        while sent < 128 {
            if b.read32(STA) & sta::TXFIFOHE != 0 {
                for _ in 0..8 {
                    b.write32(FIFO, sent * 0x0101_0101);
                    sent += 1;
                }
            } else {
                b.advance(FAST);
            }
        }
        while b.read32(STA) & (sta::DATAEND | sta::DCRCFAIL | sta::DTIMEOUT) == 0 {
            b.advance(1);
        }
        assert_eq!(b.read32(STA) & sta::STATIC, sta::DATAEND | sta::DBCKEND);
        // Nwr, start bit, 128 words, CRC, end bit, CRC status token, busy.
        assert_eq!(b.now - t0, (3 + 1024 + 17 + 8 + WRITE_BUSY_CLOCKS) * FAST);
        let card = b.dev.card().unwrap();
        assert!(card.dirty());
        assert_eq!(card.image()[9 * 512 + 4 * 100], 100);
        assert_eq!(card.state(), sdcard::State::Tran);
    }

    /// With flow control a block paused for data resumes at its own size: a 12-byte
    /// write fed one word at a time (this underflowed when the third word came).
    #[test]
    fn flow_controlled_write_resumes_mid_block() {
        let mut b = host(Some(vec![0; 1 << 20]));
        init(&mut b);
        b.write32(DTIMER, 100_000);
        b.write32(DLEN, 12);
        assert_eq!(cmd(&mut b, 24, 9, SHORT), sta::CMDREND);
        b.write32(ICR, sta::STATIC);
        b.write32(DCTRL, DTEN | 9 << 4);
        for i in 0..3 {
            b.write32(FIFO, 0x1111_1111 * (i + 1));
            b.advance(200 * FAST);
            assert_eq!(b.read32(DCOUNT), 12 - 4 * (i + 1));
        }
        b.advance(10_000 * FAST);
        // The card wants 512-byte blocks: it refuses a 12-byte one.
        assert_eq!(b.read32(STA) & sta::STATIC, sta::DCRCFAIL);
    }

    #[test]
    fn data_errors() {
        let mut b = host(Some(vec![0; 1 << 20]));
        init(&mut b);
        b.write32(MASK, sta::DTIMEOUT);
        // No read command: DTIMEOUT after DTIMER periods.
        b.write32(DTIMER, 1000);
        b.write32(DLEN, 512);
        b.write32(DCTRL, DTEN | DTDIR | 9 << 4);
        b.advance(1000 * FAST - 1);
        assert_eq!(b.read32(STA) & sta::DTIMEOUT, 0);
        b.advance(1);
        assert_eq!(b.read32(STA) & (sta::DTIMEOUT | sta::RXACT), sta::DTIMEOUT);
        assert!(b.irq(IRQ));
        b.write32(ICR, sta::STATIC);
        // Out of range: the response says so and no data follows.
        assert_eq!(cmd(&mut b, 17, 4096, SHORT), sta::CMDREND);
        assert_ne!(b.read32(RESP1) & sdcard::status::OUT_OF_RANGE, 0);
        // Host on a 1-bit bus, card on 4 bits: the block fails its CRC.
        b.write32(CLKCR, CLKEN | HWFC_EN);
        cmd(&mut b, 17, 0, SHORT);
        b.write32(ICR, sta::STATIC);
        b.write32(DCTRL, DTEN | DTDIR | 9 << 4);
        for _ in 0..500 {
            while b.read32(STA) & sta::RXDAVL != 0 {
                b.read32(FIFO);
            }
            b.advance(100);
        }
        assert_eq!(b.read32(STA) & sta::STATIC, sta::DCRCFAIL);
    }

    #[test]
    fn dma_requests_and_end() {
        let mut b = host(Some(vec![1; 1 << 20]));
        init(&mut b);
        b.write32(DTIMER, 100_000);
        b.write32(DLEN, 512);
        cmd(&mut b, 17, 0, SHORT);
        b.take_log();
        b.write32(DCTRL, DTEN | DTDIR | DMAEN | 9 << 4);
        let mut words = 0;
        let mut ended = false;
        for _ in 0..10_000 {
            b.advance(FAST);
            for (_, e) in b.take_log() {
                match e {
                    Effect::DmaRequest {
                        signal: DmaSignal::Sdio,
                        level: true,
                    } => {
                        assert!(b.dev.fifo.len() >= 4, "a request stands for a 4-word burst");
                        // What a DMA stream would do: empty the FIFO.
                        while b.read32(STA) & sta::RXDAVL != 0 {
                            b.read32(FIFO);
                            words += 1;
                        }
                    }
                    Effect::DmaPeripheralEnd {
                        signal: DmaSignal::Sdio,
                    } => ended = true,
                    _ => {}
                }
            }
        }
        assert_eq!(words, 128);
        assert!(ended);
        // Transmit: the request is up as soon as the FIFO can take a burst.
        cmd(&mut b, 24, 0, SHORT);
        b.take_log();
        b.write32(DCTRL, DTEN | DMAEN | 9 << 4);
        let up = |l: Vec<(u64, Effect)>| {
            l.into_iter().any(|(_, e)| {
                e == Effect::DmaRequest {
                    signal: DmaSignal::Sdio,
                    level: true,
                }
            })
        };
        assert!(up(b.take_log()));
        for i in 0..28 {
            b.write32(FIFO, i);
        }
        assert!(b.dev.dma_level, "room for 4 more");
        b.write32(FIFO, 28);
        assert!(!b.dev.dma_level, "room for 3 only");
    }
}
