//! An SD memory card on the SD bus (SD Physical Layer Simplified Specification v2.00 and
//! later: §4 card functional description, §4.7 commands, §4.9 responses, §4.10 card
//! status, §5 card registers), backed by a disk image held in memory.
//!
//! The card is not a bus-mapped peripheral: it sits in the SDIO host's slot
//! ([`crate::sdio::Sdio::insert`]). The host hands it each command when the command's
//! last bit has gone out, takes the response it returns, and moves data blocks with
//! [`SdCard::read_block`] and [`SdCard::write_block`].
//!
//! Modelled:
//! - Two kinds, chosen from the image size: SDHC (CSD version 2.0, block addressing,
//!   OCR.CCS = 1) when the size is a multiple of 512 KiB or above 1 GiB, else SDSC (CSD
//!   version 1.0, byte addressing, CMD16 block length). The CSD gives the largest
//!   capacity its encoding can say that is not above the image size; the card itself
//!   reads and writes every block of the image, and an address past the image is out of
//!   range.
//! - The card states of §4.3 and §4.8 (idle, ready, ident, stby, tran, data, rcv, dis;
//!   prg is instantaneous): CMD0, CMD2, CMD3 (R6, a fixed RCA), CMD7 (select/deselect,
//!   R1b), CMD8 (R7, echoes the check pattern when the voltage is 2.7-3.6 V), CMD9/CMD10
//!   (R2 CSD/CID with their CRC7), CMD12, CMD13, CMD16, CMD17/CMD18 reads, CMD24/CMD25
//!   writes, CMD55, ACMD6 (bus width), ACMD13 (64-byte SD status), ACMD41 (R3 OCR; busy
//!   until [`INIT_US`] of virtual time after the first ACMD41 with a voltage window; an
//!   SDHC card stays busy for a host that did not send CMD8 or HCS), ACMD42 (no-op),
//!   ACMD51 (SCR).
//! - Card status (R1): CURRENT_STATE as when the command was received, READY_FOR_DATA,
//!   APP_CMD, and the error bits: ILLEGAL_COMMAND (a command not allowed in the state
//!   gets no response and is reported in the next response), OUT_OF_RANGE (a read or
//!   write whose address is past the image: reported in the command's response and no
//!   data moves; a multi-block transfer running past the end stops there and reports it
//!   in the CMD12 response), ADDRESS_ERROR (an SDSC address not a multiple of the block
//!   length), BLOCK_LEN_ERROR (CMD16 above 512, or an SDSC write with another length).
//!   Error bits clear once reported.
//! - Writes go to the image in memory and mark it dirty ([`SdCard::dirty`]); saving it
//!   is the emulator's business.
//!
//! Not modelled (a command of these warns once and gets no response):
//! - Erase (CMD32/33/38), CMD6 switch function (high speed), write protection (CMD28-30),
//!   password lock (CMD42), CMD56, ACMD22/23, CMD11/UHS-I voltage switching, SPI mode,
//!   CRC errors on the bus, and SDXC/CSD 3.0.

use crate::device::Clocks;

const T: &str = "periph::sdcard";

/// Virtual time a card takes to finish its power-up after the first ACMD41, in µs.
pub const INIT_US: u64 = 10_000;
/// The relative card address the card publishes with CMD3.
pub const RCA: u16 = 0xB368;
/// Bytes in a block of an SDHC card (and the largest SDSC block length).
pub const BLOCK: usize = 512;
/// The largest image a card can hold (SDHC: 32 GiB).
pub const MAX_BYTES: u64 = 32 << 30;

/// Card status bits (§4.10.1).
pub mod status {
    pub const OUT_OF_RANGE: u32 = 1 << 31;
    pub const ADDRESS_ERROR: u32 = 1 << 30;
    pub const BLOCK_LEN_ERROR: u32 = 1 << 29;
    pub const ILLEGAL_COMMAND: u32 = 1 << 22;
    pub const READY_FOR_DATA: u32 = 1 << 8;
    pub const APP_CMD: u32 = 1 << 5;
}

/// OCR bits (§5.1): busy/ready, card capacity status, the 2.7-3.6 V window.
pub const OCR_READY: u32 = 1 << 31;
pub const OCR_CCS: u32 = 1 << 30;
pub const OCR_VOLTAGES: u32 = 0x00FF_8000;

/// A card state (§4.10.1, CURRENT_STATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Idle = 0,
    Ready = 1,
    Ident = 2,
    Stby = 3,
    Tran = 4,
    Data = 5,
    Rcv = 6,
    Prg = 7,
    Dis = 8,
    /// Inactive (§4.2.3): left by a power cycle only.
    Ina = 15,
}

/// A response as the card sends it (§4.9); the host checks its length and CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// R1 and R1b: 48 bits with the command index and the card status.
    R1(u32),
    /// R2: 136 bits, the CID or CSD with its CRC7 in bits 7:1 (bit 0 is 0 here, as the
    /// SDIO host stores it).
    R2(u128),
    /// R3: 48 bits with the OCR; its CRC field is all ones.
    R3(u32),
    /// R6: 48 bits, RCA and a status summary.
    R6(u32),
    /// R7: 48 bits, the voltage and check pattern echoed.
    R7(u32),
}

impl Response {
    /// 136-bit response.
    pub fn is_long(&self) -> bool {
        matches!(self, Response::R2(_))
    }

    /// The command index field (all ones for R2 and R3).
    pub fn index(&self, cmd: u8) -> u8 {
        match self {
            Response::R2(_) | Response::R3(_) => 0x3F,
            _ => cmd,
        }
    }

    /// Whether the response carries a valid CRC7 over its bits (R3 does not).
    pub fn crc_valid(&self) -> bool {
        !matches!(self, Response::R3(_))
    }
}

/// Why an image cannot be a card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdCardError {
    #[error("the image is empty")]
    Empty,
    #[error("the image is {0} bytes, not a whole number of 512-byte blocks")]
    NotBlocks(usize),
    #[error("the image is {0} bytes; SDHC cards hold at most 32 GiB")]
    TooBig(u64),
}

/// What the card is sending or receiving on its data lines.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Transfer {
    None,
    /// Reading from `next` (byte offset); `multi` until CMD12.
    Read {
        next: u64,
        len: usize,
        multi: bool,
    },
    /// One register block (SCR, SD status) to send.
    Reg(Vec<u8>),
    /// Writing at `next` (byte offset).
    Write {
        next: u64,
        multi: bool,
    },
}

/// An SD memory card.
pub struct SdCard {
    image: Vec<u8>,
    dirty: bool,
    sdhc: bool,
    state: State,
    /// The next command is an application command (after CMD55).
    app: bool,
    /// CMD8 was answered since the last CMD0.
    if_cond: bool,
    /// Virtual time (cycles) of the first ACMD41 with a voltage window.
    init_start: Option<u64>,
    ocr_ready: bool,
    rca: u16,
    block_len: usize,
    bus_width: u8,
    /// Error bits waiting to be reported.
    errors: u32,
    xfer: Transfer,
    warned: Vec<u8>,
}

impl SdCard {
    /// A card holding `image` (a whole number of 512-byte blocks, not empty).
    pub fn new(image: Vec<u8>) -> Result<SdCard, SdCardError> {
        let len = image.len();
        if len == 0 {
            return Err(SdCardError::Empty);
        }
        if !len.is_multiple_of(BLOCK) {
            return Err(SdCardError::NotBlocks(len));
        }
        if len as u64 > MAX_BYTES {
            return Err(SdCardError::TooBig(len as u64));
        }
        let sdhc = len.is_multiple_of(512 << 10) || len > 1 << 30;
        Ok(SdCard {
            image,
            dirty: false,
            sdhc,
            state: State::Idle,
            app: false,
            if_cond: false,
            init_start: None,
            ocr_ready: false,
            rca: 0,
            block_len: BLOCK,
            bus_width: 1,
            errors: 0,
            xfer: Transfer::None,
            warned: Vec::new(),
        })
    }

    /// High capacity (block-addressed) card.
    pub fn is_sdhc(&self) -> bool {
        self.sdhc
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Data bus width the card was set to (1 or 4).
    pub fn bus_width(&self) -> u8 {
        self.bus_width
    }

    pub fn image(&self) -> &[u8] {
        &self.image
    }

    /// Whether the image changed since it was loaded (or since [`SdCard::mark_saved`]).
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    pub fn mark_saved(&mut self) {
        self.dirty = false;
    }

    /// Capacity the CSD states, in bytes.
    pub fn csd_capacity(&self) -> u64 {
        if self.sdhc {
            self.image.len() as u64 / (512 << 10) * (512 << 10)
        } else {
            let (c, mult) = self.sdsc_size();
            (c as u64 + 1) << (mult + 2 + 9)
        }
    }

    /// C_SIZE and C_SIZE_MULT of a CSD 1.0 saying the largest capacity not above the
    /// image (at least one unit).
    fn sdsc_size(&self) -> (u32, u32) {
        let len = self.image.len() as u64;
        let mut best = (0u32, 0u32, 0u64);
        for mult in 0..8u32 {
            let unit = 512u64 << (mult + 2);
            let n = (len / unit).min(4096);
            if n * unit > best.2 {
                best = (n.max(1) as u32 - 1, mult, n * unit);
            }
        }
        (best.0, best.1)
    }

    /// The CID register (§5.2) with its CRC7 in bits 7:1.
    pub fn cid(&self) -> u128 {
        let mut v: u128 = 0;
        v |= 0x50 << 120; // MID
        v |= (u16::from_be_bytes(*b"PB") as u128) << 104; // OID
        let pnm = u64::from_be_bytes([0, 0, 0, b'P', b'Y', b'B', b'S', b'D']);
        v |= (pnm as u128) << 64;
        v |= 0x10 << 56; // PRV 1.0
        v |= 0x5059_4253u128 << 24; // PSN
        v |= ((25u128 << 4) | 1) << 8; // MDT: January 2025
        with_crc(v)
    }

    /// The CSD register (§5.3) with its CRC7 in bits 7:1.
    pub fn csd(&self) -> u128 {
        let mut v: u128 = 0;
        let bits = |v: &mut u128, lsb: u32, width: u32, val: u64| {
            let m = ((1u128 << width) - 1) << lsb;
            *v = (*v & !m) | (((val as u128) << lsb) & m);
        };
        bits(&mut v, 112, 8, 0x0E); // TAAC 1 ms
        bits(&mut v, 96, 8, 0x32); // TRAN_SPEED 25 MHz
        bits(&mut v, 80, 4, 9); // READ_BL_LEN 512
        bits(&mut v, 46, 1, 1); // ERASE_BLK_EN
        bits(&mut v, 39, 7, 0x7F); // SECTOR_SIZE
        bits(&mut v, 26, 3, 2); // R2W_FACTOR
        bits(&mut v, 22, 4, 9); // WRITE_BL_LEN 512
        if self.sdhc {
            bits(&mut v, 126, 2, 1);
            bits(&mut v, 84, 12, 0x5B5); // CCC
            let units = self.image.len() as u64 / (512 << 10);
            bits(&mut v, 48, 22, units.max(1) - 1);
        } else {
            bits(&mut v, 84, 12, 0x5F5);
            bits(&mut v, 79, 1, 1); // READ_BL_PARTIAL
            let (c, mult) = self.sdsc_size();
            bits(&mut v, 62, 12, c as u64);
            bits(&mut v, 56, 6, 0x3F); // VDD_R_CURR_MIN/MAX
            bits(&mut v, 50, 6, 0x3F); // VDD_W_CURR_MIN/MAX
            bits(&mut v, 47, 3, mult as u64);
        }
        with_crc(v)
    }

    /// The SCR register (§5.6), as sent on the bus (most significant byte first).
    pub fn scr(&self) -> [u8; 8] {
        let security = if self.sdhc { 3 } else { 2 };
        [0x02, (security << 4) | 0x5, 0, 0, 0, 0, 0, 0]
    }

    fn warn_once(&mut self, cmd: u8, what: &str) {
        if !self.warned.contains(&cmd) {
            self.warned.push(cmd);
            tracing::warn!(target: "periph::unimplemented", dev = "SD card", cmd, "{what}");
        }
    }

    fn status(&self, state: State) -> u32 {
        let mut s = (state as u32 & 0xF) << 9 | self.errors;
        if !matches!(state, State::Data | State::Rcv | State::Prg) {
            s |= status::READY_FOR_DATA;
        }
        if self.app {
            s |= status::APP_CMD;
        }
        s
    }

    /// R1 with the state the command was received in; reported errors clear.
    fn r1(&mut self, state: State, extra: u32) -> Option<Response> {
        self.errors |= extra;
        let s = self.status(state);
        self.errors = 0;
        Some(Response::R1(s))
    }

    fn illegal(&mut self, cmd: u8, app: bool) -> Option<Response> {
        tracing::debug!(target: T, cmd, app, state = ?self.state, "illegal command: no response");
        self.errors |= status::ILLEGAL_COMMAND;
        None
    }

    /// Byte offset of a data address, or the error bits it earns.
    fn address(&self, arg: u32, len: usize) -> Result<u64, u32> {
        let off = if self.sdhc {
            arg as u64 * BLOCK as u64
        } else {
            if !(arg as usize).is_multiple_of(len) {
                return Err(status::ADDRESS_ERROR);
            }
            arg as u64
        };
        if off + len as u64 > self.image.len() as u64 {
            return Err(status::OUT_OF_RANGE);
        }
        Ok(off)
    }

    fn data_len(&self) -> usize {
        if self.sdhc {
            BLOCK
        } else {
            self.block_len
        }
    }

    /// Back to the idle state, as after power-up or CMD0.
    fn go_idle(&mut self) {
        self.state = State::Idle;
        self.app = false;
        self.if_cond = false;
        self.init_start = None;
        self.ocr_ready = false;
        self.rca = 0;
        self.block_len = BLOCK;
        self.bus_width = 1;
        self.errors = 0;
        self.xfer = Transfer::None;
    }

    /// The card receives command `cmd` with argument `arg` at virtual time `now`
    /// (cycles of `clocks.sysclk`). Returns its response, or None when it sends none.
    pub fn command(&mut self, now: u64, clocks: &Clocks, cmd: u8, arg: u32) -> Option<Response> {
        let app = std::mem::take(&mut self.app);
        let st = self.state;
        tracing::debug!(target: T, cmd, arg, app, state = ?st, "command");
        if st == State::Ina {
            return None;
        }
        let rca_ok = (arg >> 16) as u16 == self.rca;
        if app {
            match cmd {
                6 | 13 | 22 | 23 | 42 | 51 if st != State::Tran => return self.illegal(cmd, true),
                6 => {
                    return match arg & 3 {
                        0 | 2 => {
                            self.bus_width = if arg & 3 == 2 { 4 } else { 1 };
                            self.app = false;
                            self.r1_app(st)
                        }
                        _ => self.illegal(cmd, true),
                    };
                }
                13 => {
                    let mut b = vec![0u8; 64];
                    b[0] = if self.bus_width == 4 { 0x80 } else { 0 };
                    self.xfer = Transfer::Reg(b);
                    self.state = State::Data;
                    return self.r1_app(st);
                }
                51 => {
                    self.xfer = Transfer::Reg(self.scr().to_vec());
                    self.state = State::Data;
                    return self.r1_app(st);
                }
                42 => return self.r1_app(st),
                41 if matches!(st, State::Idle | State::Ready) => {
                    let window = arg & OCR_VOLTAGES;
                    if arg & 0x00FF_FFFF == 0 {
                        // Inquiry: the OCR only.
                        return Some(Response::R3(OCR_VOLTAGES));
                    }
                    if window == 0 {
                        self.state = State::Ina;
                        return None;
                    }
                    let start = *self.init_start.get_or_insert(now);
                    let hcs = arg & OCR_CCS != 0;
                    let done = now >= start.saturating_add(clocks.to_cycles(INIT_US, 1_000_000));
                    if done && (!self.sdhc || (hcs && self.if_cond)) {
                        self.ocr_ready = true;
                        self.state = State::Ready;
                    }
                    let mut ocr = OCR_VOLTAGES;
                    if self.ocr_ready {
                        ocr |= OCR_READY;
                        if self.sdhc {
                            ocr |= OCR_CCS;
                        }
                    }
                    return Some(Response::R3(ocr));
                }
                22 | 23 => {
                    self.warn_once(100 + cmd, "ACMD22/ACMD23 are not modelled");
                    return None;
                }
                41 => return self.illegal(cmd, true),
                // Other application commands are their standard namesakes.
                _ => {}
            }
        }
        match cmd {
            0 => {
                self.go_idle();
                None
            }
            8 if st == State::Idle => {
                if (arg >> 8) & 0xF == 1 {
                    self.if_cond = true;
                    Some(Response::R7(arg & 0xFFF))
                } else {
                    None
                }
            }
            2 if st == State::Ready => {
                self.state = State::Ident;
                Some(Response::R2(self.cid()))
            }
            3 if matches!(st, State::Ident | State::Stby) => {
                self.rca = RCA;
                self.state = State::Stby;
                let s = self.status(st);
                self.errors = 0;
                let summary = (s >> 8 & 0xC000) | (s >> 6 & 0x2000) | (s & 0x1FFF);
                Some(Response::R6((RCA as u32) << 16 | summary))
            }
            9 | 10 if st == State::Stby && rca_ok => {
                Some(Response::R2(if cmd == 9 { self.csd() } else { self.cid() }))
            }
            7 => match st {
                State::Stby if rca_ok => {
                    self.state = State::Tran;
                    self.r1(st, 0)
                }
                State::Dis if rca_ok => {
                    self.state = State::Prg;
                    self.r1(st, 0)
                }
                State::Tran | State::Data | State::Prg if !rca_ok => {
                    self.state = if st == State::Prg {
                        State::Dis
                    } else {
                        State::Stby
                    };
                    // A transfer under way stops (§4.8: data -> stby).
                    if st == State::Data {
                        self.xfer = Transfer::None;
                    }
                    // Deselected by another address (usually 0): no response.
                    None
                }
                State::Stby => None,
                _ => self.illegal(cmd, false),
            },
            13 if !matches!(st, State::Idle | State::Ready | State::Ident) && rca_ok => {
                self.r1(st, 0)
            }
            55 if matches!(st, State::Idle | State::Ready | State::Ident) || rca_ok => {
                self.app = true;
                self.r1(st, 0)
            }
            16 if st == State::Tran => {
                if arg == 0 || arg as usize > BLOCK {
                    self.r1(st, status::BLOCK_LEN_ERROR)
                } else {
                    self.block_len = arg as usize;
                    self.r1(st, 0)
                }
            }
            17 | 18 if st == State::Tran => {
                let len = self.data_len();
                match self.address(arg, len) {
                    Ok(next) => {
                        self.xfer = Transfer::Read {
                            next,
                            len,
                            multi: cmd == 18,
                        };
                        self.state = State::Data;
                        self.r1(st, 0)
                    }
                    Err(e) => self.r1(st, e),
                }
            }
            24 | 25 if st == State::Tran => {
                if !self.sdhc && self.block_len != BLOCK {
                    return self.r1(st, status::BLOCK_LEN_ERROR);
                }
                match self.address(arg, BLOCK) {
                    Ok(next) => {
                        self.xfer = Transfer::Write {
                            next,
                            multi: cmd == 25,
                        };
                        self.state = State::Rcv;
                        self.r1(st, 0)
                    }
                    Err(e) => self.r1(st, e),
                }
            }
            12 if matches!(st, State::Data | State::Rcv) => {
                self.xfer = Transfer::None;
                self.state = State::Tran;
                self.r1(st, 0)
            }
            // GO_INACTIVE_STATE is addressed (§4.7.4) and legal once the card has an
            // address (§4.8): a transfer under way ends with it.
            15 if !matches!(st, State::Idle | State::Ready | State::Ident) => {
                if rca_ok {
                    self.state = State::Ina;
                    self.xfer = Transfer::None;
                }
                None
            }
            6 | 28..=30 | 32 | 33 | 38 | 42 | 56 | 11 => {
                self.warn_once(cmd, "SD command not modelled; the card does not answer");
                None
            }
            _ => self.illegal(cmd, false),
        }
    }

    /// R1 of an application command: APP_CMD set (the card status shows the command was
    /// taken as one).
    fn r1_app(&mut self, st: State) -> Option<Response> {
        let s = self.status(st) | status::APP_CMD;
        self.errors = 0;
        Some(Response::R1(s))
    }

    /// Whether the card has data to send (a read command or ACMD13/ACMD51 under way).
    pub fn sending(&self) -> bool {
        if self.state != State::Data {
            return false;
        }
        match &self.xfer {
            Transfer::Read { next, len, .. } => next + *len as u64 <= self.image.len() as u64,
            Transfer::Reg(_) => true,
            _ => false,
        }
    }

    /// Whether the card listens for a data block (a write command is under way).
    pub fn receiving(&self) -> bool {
        self.state == State::Rcv && matches!(self.xfer, Transfer::Write { .. })
    }

    /// The next block the card sends on its data lines, or None when it sends nothing
    /// (no read under way, or a multi-block read that reached the end of the image).
    pub fn read_block(&mut self) -> Option<Vec<u8>> {
        // Only the data state sends (a transfer left over from it must not).
        if self.state != State::Data {
            return None;
        }
        match std::mem::replace(&mut self.xfer, Transfer::None) {
            Transfer::Read { next, len, multi } => {
                let end = next + len as u64;
                if end > self.image.len() as u64 {
                    self.errors |= status::OUT_OF_RANGE;
                    self.xfer = Transfer::Read { next, len, multi };
                    return None;
                }
                let b = self.image[next as usize..end as usize].to_vec();
                if multi {
                    self.xfer = Transfer::Read {
                        next: end,
                        len,
                        multi,
                    };
                } else {
                    self.state = State::Tran;
                }
                Some(b)
            }
            Transfer::Reg(b) => {
                self.state = State::Tran;
                Some(b)
            }
            other => {
                self.xfer = other;
                None
            }
        }
    }

    /// The card receives a data block; returns whether it took it (a positive CRC status
    /// token). A block with no write under way, of the wrong length, or past the end of
    /// the image is refused.
    pub fn write_block(&mut self, data: &[u8]) -> bool {
        let Transfer::Write { next, multi } = self.xfer else {
            return false;
        };
        // Only the receive-data state takes blocks.
        if self.state != State::Rcv {
            return false;
        }
        if data.len() != BLOCK {
            return false;
        }
        let end = next + BLOCK as u64;
        if end > self.image.len() as u64 {
            self.errors |= status::OUT_OF_RANGE;
            return false;
        }
        let dst = &mut self.image[next as usize..end as usize];
        if dst != data {
            dst.copy_from_slice(data);
            self.dirty = true;
        }
        if multi {
            self.xfer = Transfer::Write { next: end, multi };
        } else {
            self.xfer = Transfer::None;
            self.state = State::Tran;
        }
        true
    }
}

/// CRC7 (polynomial x^7 + x^3 + 1) of `bytes` (§4.5).
pub fn crc7(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in bytes {
        for i in (0..8).rev() {
            let bit = (b >> i) & 1;
            let top = (crc >> 6) & 1;
            crc = (crc << 1) & 0x7F;
            if bit ^ top != 0 {
                crc ^= 0x09;
            }
        }
    }
    crc
}

/// A CID/CSD value with its CRC7 (over bits 127:8) in bits 7:1 and bit 0 clear.
fn with_crc(v: u128) -> u128 {
    let bytes = v.to_be_bytes();
    let crc = crc7(&bytes[..15]);
    (v & !0xFF) | ((crc as u128) << 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Clocks = crate::testing::PYBOARD;

    fn r1(r: Option<Response>) -> u32 {
        match r {
            Some(Response::R1(s)) => s,
            other => panic!("expected R1, got {other:?}"),
        }
    }

    /// Brings a card to the transfer state; returns the OCR it ended with.
    fn init(card: &mut SdCard) -> u32 {
        assert_eq!(card.command(0, &C, 0, 0), None);
        assert_eq!(card.command(0, &C, 8, 0x1AA), Some(Response::R7(0x1AA)));
        let mut t = 0;
        let ocr = loop {
            let s = r1(card.command(t, &C, 55, 0));
            assert_ne!(s & status::APP_CMD, 0);
            let Some(Response::R3(ocr)) = card.command(t, &C, 41, 0x40FF_8000) else {
                panic!("ACMD41 must answer R3")
            };
            if ocr & OCR_READY != 0 {
                break ocr;
            }
            t += 168_000; // 1 ms
        };
        assert_eq!(t, 10 * 168_000, "ready INIT_US after the first ACMD41");
        assert!(matches!(card.command(t, &C, 2, 0), Some(Response::R2(_))));
        assert_eq!(
            card.command(t, &C, 3, 0),
            Some(Response::R6(
                (RCA as u32) << 16 | 2 << 9 | status::READY_FOR_DATA
            ))
        );
        let arg = (RCA as u32) << 16;
        assert!(matches!(card.command(t, &C, 9, arg), Some(Response::R2(_))));
        assert_eq!(
            r1(card.command(t, &C, 7, arg)) >> 9 & 0xF,
            State::Stby as u32
        );
        assert_eq!(card.state(), State::Tran);
        ocr
    }

    #[test]
    fn crc7_of_the_spec_examples() {
        // §4.5: CMD0 with argument 0 has CRC7 0x4A; CMD17 at 0 has 0x2A.
        assert_eq!(crc7(&[0x40, 0, 0, 0, 0]), 0x4A);
        assert_eq!(crc7(&[0x51, 0, 0, 0, 0]), 0x2A);
    }

    #[test]
    fn sdhc_init_and_csd_capacity() {
        let mut card = SdCard::new(vec![0; 4 << 20]).unwrap();
        assert!(card.is_sdhc());
        let ocr = init(&mut card);
        assert_eq!(ocr, OCR_READY | OCR_CCS | OCR_VOLTAGES);
        let csd = card.csd();
        assert_eq!(csd >> 126, 1, "CSD 2.0");
        assert_eq!((csd >> 48) & 0x3F_FFFF, 7, "C_SIZE = 4 MiB / 512 KiB - 1");
        assert_eq!(card.csd_capacity(), 4 << 20);
    }

    #[test]
    fn sdhc_card_stays_busy_for_a_host_without_cmd8_or_hcs() {
        let mut card = SdCard::new(vec![0; 1 << 20]).unwrap();
        card.command(0, &C, 0, 0);
        for t in [0, 1 << 30] {
            card.command(t, &C, 55, 0);
            assert_eq!(
                card.command(t, &C, 41, 0x00FF_8000),
                Some(Response::R3(OCR_VOLTAGES))
            );
        }
        assert_eq!(card.state(), State::Idle);
    }

    #[test]
    fn sdsc_is_byte_addressed_and_describes_its_size() {
        let mut img = vec![0u8; 100 * 1024];
        img[1024] = 0xAB;
        let mut card = SdCard::new(img).unwrap();
        assert!(!card.is_sdhc());
        let ocr = init(&mut card);
        assert_eq!(ocr & OCR_CCS, 0);
        assert_eq!(card.csd() >> 126, 0, "CSD 1.0");
        assert_eq!(card.csd_capacity(), 100 * 1024);
        let s = r1(card.command(0, &C, 17, 1000));
        assert_ne!(s & status::ADDRESS_ERROR, 0, "not block aligned");
        assert_eq!(card.read_block(), None);
        r1(card.command(0, &C, 17, 1024));
        assert_eq!(card.read_block().unwrap()[0], 0xAB);
    }

    #[test]
    fn read_write_and_out_of_range() {
        let mut img = vec![0u8; 1 << 20];
        img[512 * 3] = 7;
        let mut card = SdCard::new(img).unwrap();
        init(&mut card);
        let s = r1(card.command(0, &C, 17, 3));
        assert_eq!(s >> 9 & 0xF, State::Tran as u32);
        assert_eq!(card.state(), State::Data);
        assert_eq!(card.read_block().unwrap()[0], 7);
        assert_eq!(card.state(), State::Tran);
        // Past the end: OUT_OF_RANGE in the response, no data.
        let s = r1(card.command(0, &C, 17, 2048));
        assert_ne!(s & status::OUT_OF_RANGE, 0);
        assert_eq!(card.read_block(), None);
        assert_eq!(
            r1(card.command(0, &C, 13, (RCA as u32) << 16)) & status::OUT_OF_RANGE,
            0
        );
        // Multi-block write up to the end, then one more block is refused.
        r1(card.command(0, &C, 25, 2046));
        assert!(card.write_block(&[1; 512]));
        assert!(card.write_block(&[2; 512]));
        assert!(!card.write_block(&[3; 512]));
        let s = r1(card.command(0, &C, 12, 0));
        assert_ne!(s & status::OUT_OF_RANGE, 0, "reported with CMD12");
        assert!(card.dirty());
        assert_eq!(card.image()[2046 * 512], 1);
        assert_eq!(card.image()[2047 * 512 + 511], 2);
    }

    #[test]
    fn illegal_commands_get_no_response_and_are_reported_next() {
        let mut card = SdCard::new(vec![0; 1 << 20]).unwrap();
        assert_eq!(card.command(0, &C, 17, 0), None, "read in idle state");
        let s = r1(card.command(0, &C, 55, 0));
        assert_ne!(s & status::ILLEGAL_COMMAND, 0);
        let s = r1(card.command(0, &C, 55, 0));
        assert_eq!(s & status::ILLEGAL_COMMAND, 0, "cleared once reported");
    }

    #[test]
    fn bus_width_and_scr() {
        let mut card = SdCard::new(vec![0; 1 << 20]).unwrap();
        init(&mut card);
        let arg = (RCA as u32) << 16;
        card.command(0, &C, 55, arg);
        r1(card.command(0, &C, 51, 0));
        assert_eq!(
            card.read_block().unwrap(),
            vec![0x02, 0x35, 0, 0, 0, 0, 0, 0]
        );
        card.command(0, &C, 55, arg);
        r1(card.command(0, &C, 6, 2));
        assert_eq!(card.bus_width(), 4);
    }

    #[test]
    fn bad_images() {
        assert_eq!(SdCard::new(vec![]).err(), Some(SdCardError::Empty));
        assert_eq!(
            SdCard::new(vec![0; 1000]).err(),
            Some(SdCardError::NotBlocks(1000))
        );
    }
}
