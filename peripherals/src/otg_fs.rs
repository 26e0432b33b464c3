//! USB OTG FS core in device mode, with the bus side a host model drives (RM0090 §34,
//! device programming model §34.17.5-6, registers §34.16).
//!
//! The firmware sees the registers; a USB host model (the emulator's `usb_host`) sees the
//! bus through [`OtgFs::set_vbus`], [`OtgFs::pullup`], [`OtgFs::bus_reset`],
//! [`OtgFs::bus_reset_end`], [`OtgFs::sof`] and one call per transaction:
//! [`OtgFs::setup`], [`OtgFs::out`] and [`OtgFs::in_token`], each answering with the
//! handshake (or data) the core would put on the wire at that moment. Whenever what a host
//! would see changes (the D+ pull-up, an endpoint becoming ready or stalled) the model
//! pushes [`Effect::UsbDeviceChanged`] so the host can try again without polling.
//!
//! Modelled:
//! - GRSTCTL: AHBIDL always reads 1; CSRST, HSRST, FCRST, RXFFLSH and TXFFLSH complete at
//!   once. RXFFLSH empties the receive FIFO, TXFFLSH the TX FIFO TXFNUM (0x10: all), CSRST
//!   both and clears the GINTSTS interrupt flags.
//! - GCCFG/GOTGCTL/GOTGINT: VBUS on PA9 comes from the host side. With VBUSBSEN a B-session
//!   is valid while VBUS is present (GOTGCTL.BSVLD); its start sets GINTSTS.SRQINT, its end
//!   GOTGINT.SEDET (GINTSTS.OTGINT). NOVBUSSENS makes the session always valid.
//! - The D+ pull-up (the device is connected for the host): device mode, GCCFG.PWRDWN set
//!   (transceiver on), DCTL.SDIS clear and a valid session.
//! - Bus reset: USBRST when the host starts driving SE0, ENUMDNE with DSTS.ENUMSPD = 11
//!   (full speed, 48 MHz PHY clock) when it ends. SOF each frame with DSTS.FNSOF.
//! - GINTSTS: CMOD follows GUSBCFG.FHMOD; rc_w1 flags clear on writing 1; RXFLVL (the
//!   receive FIFO holds a status entry), GINAKEFF/GONAKEFF (DCTL global NAKs), IEPINT/OEPINT
//!   (DAINT & DAINTMSK) and OTGINT (GOTGINT) are computed. The OTG_FS line (IRQ 67) is
//!   GAHBCFG.GINT & (GINTSTS & GINTMSK) != 0.
//! - DAINT: bit n (IN) / 16+n (OUT) is set while DIEPINTn & (DIEPMSK | TXFE if DIEPEMPMSK
//!   bit n) or DOEPINTn & DOEPMSK is non-zero.
//! - The shared receive FIFO (GRXFSIZ words): entries of a status word (EPNUM, BCNT, DPID,
//!   PKTSTS) and the packet's data words; GRXSTSR peeks, GRXSTSP pops the status, then
//!   BCNT bytes are read as words from any FIFO window (0x1000 + 0x1000 n). Popping an
//!   "OUT transfer completed" entry sets DOEPINTn.XFRC, popping "SETUP stage done" sets
//!   DOEPINT0.STUP (§34.17.6, "Packet read from FIFO").
//! - Endpoints 0-3: DIEPCTLn/DOEPCTLn (MPSIZ, USBAEP, NAKSTS through CNAK/SNAK, STALL,
//!   EPDIS disabling an enabled endpoint at once with EPDISD, EPENA cleared by the core at
//!   the end of a transfer), DIEPTSIZn/DOEPTSIZn (XFRSIZ and PKTCNT count down per packet,
//!   DOEPTSIZ0.STUPCNT per SETUP), DIEPINTn (XFRC, EPDISD; TXFE computed from the TX FIFO
//!   level and GAHBCFG.TXFELVL), DOEPINTn (XFRC, EPDISD, STUP).
//! - TX FIFOs: one per IN endpoint, DIEPTXF0/DIEPTXFn depth in words; the firmware writes
//!   packets word by word into window n, DTXFSTSn gives the free words. An IN token is
//!   answered with data only when the whole next packet (min(XFRSIZ, MPSIZ) bytes) is in
//!   the FIFO, else NAK, as the core does.
//! - SETUP on endpoint 0 is always accepted (ACK), clears the EP0 STALL bits and NAKs
//!   EP0 OUT; the "SETUP stage done" entry follows at the next token on EP0 (the data or
//!   status stage), as in §34.17.6. OUT packets are ACKed only into an enabled,
//!   un-NAKed endpoint with room in the receive FIFO; a short packet or PKTCNT reaching 0
//!   completes the transfer (EPENA cleared, NAKSTS set).
//! - Address: the device answers tokens for DCFG.DAD; endpoint 0 also keeps answering the
//!   address of the last SETUP until the next one, so the status stage of SET_ADDRESS
//!   (sent to the old address after the firmware already wrote the new DAD) completes.
//! - DCTL: SDIS; SGINAK/CGINAK and SGONAK/CGONAK set and clear GINSTS/GONSTS at once
//!   (no packet is ever in flight between transactions).
//!
//! Not modelled (fields declared; a write that changes one warns once):
//! - Host mode (host registers 0x400-0x7FF read 0), OTG protocols (GOTGCTL SRP/HNP), the
//!   SOF output pin (GCCFG.SOFOUTEN), suspend/resume and remote wakeup (DCTL.RWUSIG),
//!   test modes (DCTL.TCTL), power and clock gating (PCGCCTL stored), isochronous
//!   endpoints (handled as bulk; warns once), data toggles (DPID is reported as DATA0 and never
//!   checked), bit timing: GUSBCFG.TRDT and TOCAL are stored and have no effect because
//!   FIFO accesses are instantaneous. Endpoints 4-15 do not exist on the F405's FS core.
//!   The CID product ID value is not checked against silicon.

use std::collections::VecDeque;

use crate::device::{BusError, Ctx, Device, Effect, Size};
use crate::regs::{
    f, guest_error, unimplemented, unmodelled, Access::*, Block, Field, Reg, Written,
};

const T: &str = "periph::otg_fs";

/// OTG_FS global interrupt line.
pub const IRQ_OTG_FS: u16 = 67;
/// Device endpoints of the FS core (RM0090 §34.2: 4 bidirectional including EP0).
pub const ENDPOINTS: usize = 4;

pub const GOTGCTL: u32 = 0x000;
pub const GOTGINT: u32 = 0x004;
pub const GAHBCFG: u32 = 0x008;
pub const GUSBCFG: u32 = 0x00C;
pub const GRSTCTL: u32 = 0x010;
pub const GINTSTS: u32 = 0x014;
pub const GINTMSK: u32 = 0x018;
pub const GRXSTSR: u32 = 0x01C;
pub const GRXSTSP: u32 = 0x020;
pub const GRXFSIZ: u32 = 0x024;
pub const DIEPTXF0: u32 = 0x028;
pub const GCCFG: u32 = 0x038;
pub const DCFG: u32 = 0x800;
pub const DCTL: u32 = 0x804;
pub const DSTS: u32 = 0x808;
pub const DIEPMSK: u32 = 0x810;
pub const DOEPMSK: u32 = 0x814;
pub const DAINT: u32 = 0x818;
pub const DAINTMSK: u32 = 0x81C;
pub const DIEPEMPMSK: u32 = 0x834;
pub const PCGCCTL: u32 = 0xE00;
/// The first FIFO window (endpoint 0); window n is at `FIFO + 0x1000 * n`.
pub const FIFO: u32 = 0x1000;

pub const fn diepctl(n: usize) -> u32 {
    0x900 + 0x20 * n as u32
}
pub const fn diepint(n: usize) -> u32 {
    0x908 + 0x20 * n as u32
}
pub const fn dieptsiz(n: usize) -> u32 {
    0x910 + 0x20 * n as u32
}
pub const fn dtxfsts(n: usize) -> u32 {
    0x918 + 0x20 * n as u32
}
pub const fn doepctl(n: usize) -> u32 {
    0xB00 + 0x20 * n as u32
}
pub const fn doepint(n: usize) -> u32 {
    0xB08 + 0x20 * n as u32
}
pub const fn doeptsiz(n: usize) -> u32 {
    0xB10 + 0x20 * n as u32
}

const AHBIDL: u32 = 1 << 31;
const CSRST: u32 = 1 << 0;
const RXFFLSH: u32 = 1 << 4;
const TXFFLSH: u32 = 1 << 5;
const FHMOD: u32 = 1 << 29;
const GINT: u32 = 1 << 0;
const TXFELVL: u32 = 1 << 7;
const PWRDWN: u32 = 1 << 16;
const VBUSBSEN: u32 = 1 << 19;
const NOVBUSSENS: u32 = 1 << 21;
const BSVLD: u32 = 1 << 19;
const SEDET: u32 = 1 << 2;

// GINTSTS
pub const CMOD: u32 = 1 << 0;
pub const OTGINT: u32 = 1 << 2;
pub const SOF: u32 = 1 << 3;
pub const RXFLVL: u32 = 1 << 4;
pub const GINAKEFF: u32 = 1 << 6;
pub const GONAKEFF: u32 = 1 << 7;
pub const USBRST: u32 = 1 << 12;
pub const ENUMDNE: u32 = 1 << 13;
pub const IEPINT: u32 = 1 << 18;
pub const OEPINT: u32 = 1 << 19;
pub const SRQINT: u32 = 1 << 30;
/// GINTSTS bits the model computes on every read.
const GINTSTS_LIVE: u32 = CMOD | OTGINT | RXFLVL | GINAKEFF | GONAKEFF | IEPINT | OEPINT;

// DCTL
const SDIS: u32 = 1 << 1;
const GINSTS: u32 = 1 << 2;
const GONSTS: u32 = 1 << 3;
const SGINAK: u32 = 1 << 7;
const CGINAK: u32 = 1 << 8;
const SGONAK: u32 = 1 << 9;
const CGONAK: u32 = 1 << 10;

// DIEPCTLn / DOEPCTLn
pub const USBAEP: u32 = 1 << 15;
pub const NAKSTS: u32 = 1 << 17;
pub const STALL: u32 = 1 << 21;
pub const CNAK: u32 = 1 << 26;
pub const SNAK: u32 = 1 << 27;
const SD0PID: u32 = 1 << 28;
const SODDFRM: u32 = 1 << 29;
pub const EPDIS: u32 = 1 << 30;
pub const EPENA: u32 = 1 << 31;

// DIEPINTn / DOEPINTn
pub const XFRC: u32 = 1 << 0;
pub const EPDISD: u32 = 1 << 1;
pub const STUP: u32 = 1 << 3;
pub const TXFE: u32 = 1 << 7;

/// Receive status PKTSTS values in device mode (GRXSTSP bits 20:17).
pub const PKTSTS_GONAK: u32 = 1;
pub const PKTSTS_OUT_DATA: u32 = 2;
pub const PKTSTS_OUT_DONE: u32 = 3;
pub const PKTSTS_SETUP_DONE: u32 = 4;
pub const PKTSTS_SETUP_DATA: u32 = 6;

/// What the device puts on the wire after a token (and data packet, for OUT/SETUP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    Ack,
    Nak,
    Stall,
    /// No answer: not addressed, endpoint not active, or not connected (the host times
    /// out).
    None,
}

/// The device's answer to an IN token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InReply {
    Data(Vec<u8>),
    Nak,
    Stall,
    None,
}

const RW: &[Field] = &[f("bits", 0, 32, Rw)];
const RO: &[Field] = &[f("bits", 0, 32, R)];

const DIEPCTL0_F: &[Field] = &[
    f("MPSIZ", 0, 2, Rw),
    f("USBAEP", 15, 1, R),
    f("NAKSTS", 17, 1, R),
    f("EPTYP", 18, 2, R),
    f("STALL", 21, 1, Rs),
    f("TXFNUM", 22, 4, Rw),
    f("CNAK", 26, 1, W),
    f("SNAK", 27, 1, W),
    f("EPDIS", 30, 1, Rs),
    f("EPENA", 31, 1, Rs),
];
const DIEPCTL_F: &[Field] = &[
    f("MPSIZ", 0, 11, Rw),
    f("USBAEP", 15, 1, Rw),
    f("EONUM/DPID", 16, 1, R),
    f("NAKSTS", 17, 1, R),
    f("EPTYP", 18, 2, Rw),
    f("STALL", 21, 1, Rw),
    f("TXFNUM", 22, 4, Rw),
    f("CNAK", 26, 1, W),
    f("SNAK", 27, 1, W),
    f("SD0PID/SEVNFRM", 28, 1, W),
    f("SODDFRM", 29, 1, W),
    f("EPDIS", 30, 1, Rs),
    f("EPENA", 31, 1, Rs),
];
const DOEPCTL0_F: &[Field] = &[
    f("MPSIZ", 0, 2, R),
    f("USBAEP", 15, 1, R),
    f("NAKSTS", 17, 1, R),
    f("EPTYP", 18, 2, R),
    f("SNPM", 20, 1, Rw),
    f("STALL", 21, 1, Rs),
    f("CNAK", 26, 1, W),
    f("SNAK", 27, 1, W),
    f("EPDIS", 30, 1, R),
    f("EPENA", 31, 1, Rs),
];
const DOEPCTL_F: &[Field] = &[
    f("MPSIZ", 0, 11, Rw),
    f("USBAEP", 15, 1, Rw),
    f("EONUM/DPID", 16, 1, R),
    f("NAKSTS", 17, 1, R),
    f("EPTYP", 18, 2, Rw),
    f("SNPM", 20, 1, Rw),
    f("STALL", 21, 1, Rw),
    f("CNAK", 26, 1, W),
    f("SNAK", 27, 1, W),
    f("SD0PID/SEVNFRM", 28, 1, W),
    f("SODDFRM", 29, 1, W),
    f("EPDIS", 30, 1, Rs),
    f("EPENA", 31, 1, Rs),
];
const DIEPINT_F: &[Field] = &[
    f("XFRC", 0, 1, Rc1),
    f("EPDISD", 1, 1, Rc1),
    f("TOC", 3, 1, Rc1),
    f("ITTXFE", 4, 1, Rc1),
    f("INEPNE", 6, 1, Rc1),
    f("TXFE", 7, 1, R),
];
const DOEPINT_F: &[Field] = &[
    f("XFRC", 0, 1, Rc1),
    f("EPDISD", 1, 1, Rc1),
    f("STUP", 3, 1, Rc1),
    f("OTEPDIS", 4, 1, Rc1),
    f("B2BSTUP", 6, 1, Rc1),
];
const DIEPTSIZ0_F: &[Field] = &[f("XFRSIZ", 0, 7, Rw), f("PKTCNT", 19, 2, Rw)];
const DIEPTSIZ_F: &[Field] = &[
    f("XFRSIZ", 0, 19, Rw),
    f("PKTCNT", 19, 10, Rw),
    f("MCNT", 29, 2, Rw),
];
const DOEPTSIZ0_F: &[Field] = &[
    f("XFRSIZ", 0, 7, Rw),
    f("PKTCNT", 19, 1, Rw),
    f("STUPCNT", 29, 2, Rw),
];
const DOEPTSIZ_F: &[Field] = &[
    f("XFRSIZ", 0, 19, Rw),
    f("PKTCNT", 19, 10, Rw),
    f("RXDPID/STUPCNT", 29, 2, Rw),
];

const fn r(offset: u32, name: &'static str, reset: u32, fields: &'static [Field]) -> Reg {
    Reg {
        offset,
        name,
        reset,
        fields,
    }
}

macro_rules! ep_regs {
    ($n:literal, $ictl:expr, $its:expr, $octl:expr, $ots:expr, $octl_reset:expr) => {
        [
            r(diepctl($n), concat!("DIEPCTL", $n), $octl_reset, $ictl),
            r(diepint($n), concat!("DIEPINT", $n), 0x0000_0080, DIEPINT_F),
            r(dieptsiz($n), concat!("DIEPTSIZ", $n), 0, $its),
            r(dtxfsts($n), concat!("DTXFSTS", $n), 0x0000_0200, RO),
            r(doepctl($n), concat!("DOEPCTL", $n), $octl_reset, $octl),
            r(doepint($n), concat!("DOEPINT", $n), 0, DOEPINT_F),
            r(doeptsiz($n), concat!("DOEPTSIZ", $n), 0, $ots),
        ]
    };
}

const EP0: [Reg; 7] = ep_regs!(0, DIEPCTL0_F, DIEPTSIZ0_F, DOEPCTL0_F, DOEPTSIZ0_F, USBAEP);
const EP1: [Reg; 7] = ep_regs!(1, DIEPCTL_F, DIEPTSIZ_F, DOEPCTL_F, DOEPTSIZ_F, 0);
const EP2: [Reg; 7] = ep_regs!(2, DIEPCTL_F, DIEPTSIZ_F, DOEPCTL_F, DOEPTSIZ_F, 0);
const EP3: [Reg; 7] = ep_regs!(3, DIEPCTL_F, DIEPTSIZ_F, DOEPCTL_F, DOEPTSIZ_F, 0);

const CORE: &[Reg] = &[
    r(
        GOTGCTL,
        "GOTGCTL",
        0x0000_0800,
        &[
            f("SRQSCS", 0, 1, R),
            unmodelled("SRQ", 1, 1, Rw),
            f("HNGSCS", 8, 1, R),
            unmodelled("HNPRQ", 9, 1, Rw),
            unmodelled("HSHNPEN", 10, 1, Rw),
            unmodelled("DHNPEN", 11, 1, Rw),
            f("CIDSTS", 16, 1, R),
            f("DBCT", 17, 1, R),
            f("ASVLD", 18, 1, R),
            f("BSVLD", 19, 1, R),
        ],
    ),
    r(
        GOTGINT,
        "GOTGINT",
        0,
        &[
            f("SEDET", 2, 1, Rc1),
            f("SRSSCHG", 8, 1, Rc1),
            f("HNSSCHG", 9, 1, Rc1),
            f("HNGDET", 17, 1, Rc1),
            f("ADTOCHG", 18, 1, Rc1),
            f("DBCDNE", 19, 1, Rc1),
        ],
    ),
    r(
        GAHBCFG,
        "GAHBCFG",
        0,
        &[
            f("GINT", 0, 1, Rw),
            f("TXFELVL", 7, 1, Rw),
            f("PTXFELVL", 8, 1, Rw),
        ],
    ),
    r(
        GUSBCFG,
        "GUSBCFG",
        0x0000_0A00,
        &[
            f("TOCAL", 0, 3, Rw),
            f("PHYSEL", 6, 1, Rw),
            unmodelled("SRPCAP", 8, 1, Rw),
            unmodelled("HNPCAP", 9, 1, Rw),
            f("TRDT", 10, 4, Rw),
            f("FHMOD", 29, 1, Rw),
            f("FDMOD", 30, 1, Rw),
            unmodelled("CTXPKT", 31, 1, Rw),
        ],
    ),
    r(
        GRSTCTL,
        "GRSTCTL",
        AHBIDL,
        &[
            f("CSRST", 0, 1, Rs),
            f("HSRST", 1, 1, Rs),
            f("FCRST", 2, 1, Rs),
            f("RXFFLSH", 4, 1, Rs),
            f("TXFFLSH", 5, 1, Rs),
            f("TXFNUM", 6, 5, Rw),
            f("AHBIDL", 31, 1, R),
        ],
    ),
    r(
        GINTSTS,
        "GINTSTS",
        0x0400_0020,
        &[
            f("CMOD", 0, 1, R),
            f("MMIS", 1, 1, Rc1),
            f("OTGINT", 2, 1, R),
            f("SOF", 3, 1, Rc1),
            f("RXFLVL..GONAKEFF", 4, 4, R),
            f("ESUSP..EOPF", 10, 6, Rc1),
            f("IEPINT/OEPINT", 18, 2, R),
            f("IISOIXFR/IPXFR", 20, 2, Rc1),
            f("HPRTINT/HCINT/PTXFE", 24, 3, R),
            f("CIDSCHG..WKUPINT", 28, 4, Rc1),
        ],
    ),
    r(GINTMSK, "GINTMSK", 0, RW),
    r(GRXSTSR, "GRXSTSR", 0, RO),
    r(GRXSTSP, "GRXSTSP", 0, RO),
    r(GRXFSIZ, "GRXFSIZ", 0x0000_0200, RW),
    r(DIEPTXF0, "DIEPTXF0", 0x0000_0200, RW),
    r(0x02C, "HNPTXSTS", 0x0008_0200, RO),
    r(
        GCCFG,
        "GCCFG",
        0,
        &[
            f("PWRDWN", 16, 1, Rw),
            f("VBUSASEN", 18, 1, Rw),
            f("VBUSBSEN", 19, 1, Rw),
            unmodelled("SOFOUTEN", 20, 1, Rw),
            f("NOVBUSSENS", 21, 1, Rw),
        ],
    ),
    r(0x03C, "CID", 0x0000_1100, RW),
    r(0x100, "HPTXFSIZ", 0x0200_0600, RW),
    r(0x104, "DIEPTXF1", 0x0200_0400, RW),
    r(0x108, "DIEPTXF2", 0x0200_0400, RW),
    r(0x10C, "DIEPTXF3", 0x0200_0400, RW),
    r(
        DCFG,
        "DCFG",
        0x0220_0000,
        &[
            f("DSPD", 0, 2, Rw),
            f("NZLSOHSK", 2, 1, Rw),
            f("DAD", 4, 7, Rw),
            f("PFIVL", 11, 2, Rw),
            f("reserved", 21, 1, R),
            f("reserved", 25, 1, R),
        ],
    ),
    r(
        DCTL,
        "DCTL",
        0,
        &[
            unmodelled("RWUSIG", 0, 1, Rw),
            f("SDIS", 1, 1, Rw),
            f("GINSTS", 2, 1, R),
            f("GONSTS", 3, 1, R),
            unmodelled("TCTL", 4, 3, Rw),
            f("SGINAK", 7, 1, W),
            f("CGINAK", 8, 1, W),
            f("SGONAK", 9, 1, W),
            f("CGONAK", 10, 1, W),
            f("POPRGDNE", 11, 1, Rw),
        ],
    ),
    r(DSTS, "DSTS", 0x0000_0010, RO),
    r(DIEPMSK, "DIEPMSK", 0, RW),
    r(DOEPMSK, "DOEPMSK", 0, RW),
    r(DAINT, "DAINT", 0, RO),
    r(DAINTMSK, "DAINTMSK", 0, RW),
    r(0x828, "DVBUSDIS", 0x0000_17D7, RW),
    r(0x82C, "DVBUSPULSE", 0x0000_05B8, RW),
    r(DIEPEMPMSK, "DIEPEMPMSK", 0, RW),
    r(
        PCGCCTL,
        "PCGCCTL",
        0,
        &[
            unmodelled("STPPCLK", 0, 1, Rw),
            unmodelled("GATEHCLK", 1, 1, Rw),
            f("PHYSUSP", 4, 1, R),
        ],
    ),
];

const fn table() -> [Reg; CORE.len() + 28] {
    let mut out = [CORE[0]; CORE.len() + 28];
    let mut i = 0;
    while i < CORE.len() {
        out[i] = CORE[i];
        i += 1;
    }
    let eps = [EP0, EP1, EP2, EP3];
    let mut e = 0;
    while e < 4 {
        let mut k = 0;
        while k < 7 {
            out[CORE.len() + e * 7 + k] = eps[e][k];
            k += 1;
        }
        e += 1;
    }
    out
}

static TABLE: [Reg; CORE.len() + 28] = table();
pub static REGS: &[Reg] = &TABLE;

/// One entry of the receive FIFO: its status word and the packet's data words.
#[derive(Debug, Clone)]
struct RxEntry {
    status: u32,
    data: Vec<u32>,
}

impl RxEntry {
    fn words(&self) -> u32 {
        1 + self.data.len() as u32
    }
}

fn rx_status(ep: usize, bcnt: usize, pktsts: u32) -> u32 {
    (ep as u32 & 0xF) | ((bcnt as u32 & 0x7FF) << 4) | (pktsts << 17)
}

fn words_of(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}

pub struct OtgFs {
    regs: Block,
    irq: bool,
    /// VBUS present on PA9 (host side; survives a reset of the core).
    vbus: bool,
    /// The B-session was valid at the last check (for SRQINT/SEDET edges).
    session: bool,
    /// Receive FIFO entries not yet popped through GRXSTSP.
    rx: VecDeque<RxEntry>,
    /// Data words of the popped entry still to be read from the FIFO window.
    rx_data: VecDeque<u32>,
    /// TX FIFO words per IN endpoint.
    tx: [VecDeque<u32>; ENDPOINTS],
    /// A SETUP was received; its "SETUP stage done" entry waits for the next EP0 token.
    setup_pending: bool,
    /// Address the last SETUP was sent to (EP0 answers it until the next SETUP).
    setup_addr: u8,
    /// The bus-visible state last reported with `UsbDeviceChanged`.
    bus_state: u32,
    /// An isochronous endpoint was configured (warned once).
    iso_warned: bool,
}

impl Default for OtgFs {
    fn default() -> Self {
        Self::new()
    }
}

impl OtgFs {
    pub fn new() -> OtgFs {
        OtgFs {
            regs: Block::new("OTG_FS", REGS),
            irq: false,
            vbus: false,
            session: false,
            rx: VecDeque::new(),
            rx_data: VecDeque::new(),
            tx: Default::default(),
            setup_pending: false,
            setup_addr: 0,
            bus_state: 0,
            iso_warned: false,
        }
    }

    // ----- derived state -----

    fn device_mode(&self) -> bool {
        self.regs.get(GUSBCFG) & FHMOD == 0
    }

    fn session_valid(&self) -> bool {
        let g = self.regs.get(GCCFG);
        g & NOVBUSSENS != 0 || (g & VBUSBSEN != 0 && self.vbus)
    }

    /// The device's D+ pull-up is on: a host sees a full-speed device attached.
    pub fn pullup(&self) -> bool {
        self.device_mode()
            && self.regs.get(GCCFG) & PWRDWN != 0
            && self.regs.get(DCTL) & SDIS == 0
            && self.session_valid()
    }

    /// The address the device answers (DCFG.DAD).
    pub fn address(&self) -> u8 {
        ((self.regs.get(DCFG) >> 4) & 0x7F) as u8
    }

    fn mps_in(&self, ep: usize) -> usize {
        let ctl = self.regs.get(diepctl(ep));
        if ep == 0 {
            [64, 32, 16, 8][(ctl & 3) as usize]
        } else {
            (ctl & 0x7FF) as usize
        }
    }

    fn mps_out(&self, ep: usize) -> usize {
        if ep == 0 {
            // DOEPCTL0.MPSIZ mirrors DIEPCTL0.MPSIZ.
            self.mps_in(0)
        } else {
            (self.regs.get(doepctl(ep)) & 0x7FF) as usize
        }
    }

    fn tsiz_fields(ep: usize, out: bool) -> (u32, u32) {
        // (XFRSIZ mask, PKTCNT mask after shifting down by 19)
        match (ep, out) {
            (0, false) => (0x7F, 0x3),
            (0, true) => (0x7F, 0x1),
            _ => (0x7_FFFF, 0x3FF),
        }
    }

    fn tx_depth(&self, ep: usize) -> u32 {
        let r = if ep == 0 {
            DIEPTXF0
        } else {
            0x100 + 4 * ep as u32
        };
        self.regs.get(r) >> 16
    }

    fn tx_free(&self, ep: usize) -> u32 {
        self.tx_depth(ep).saturating_sub(self.tx[ep].len() as u32)
    }

    fn rx_used(&self) -> u32 {
        self.rx.iter().map(RxEntry::words).sum::<u32>() + self.rx_data.len() as u32
    }

    fn rx_free(&self) -> u32 {
        (self.regs.get(GRXFSIZ) & 0xFFFF).saturating_sub(self.rx_used())
    }

    fn txfe(&self, ep: usize) -> bool {
        if self.regs.get(GAHBCFG) & TXFELVL != 0 {
            self.tx[ep].is_empty()
        } else {
            self.tx_free(ep) * 2 >= self.tx_depth(ep)
        }
    }

    fn diepint_val(&self, ep: usize) -> u32 {
        let v = self.regs.get(diepint(ep)) & !TXFE;
        if self.txfe(ep) {
            v | TXFE
        } else {
            v
        }
    }

    fn daint(&self) -> u32 {
        let mut v = 0;
        let imsk = self.regs.get(DIEPMSK);
        let emp = self.regs.get(DIEPEMPMSK);
        let omsk = self.regs.get(DOEPMSK);
        for ep in 0..ENDPOINTS {
            let m = imsk | (((emp >> ep) & 1) << 7);
            if self.diepint_val(ep) & m != 0 {
                v |= 1 << ep;
            }
            if self.regs.get(doepint(ep)) & omsk != 0 {
                v |= 1 << (16 + ep);
            }
        }
        v
    }

    fn gintsts(&self) -> u32 {
        let mut v = self.regs.get(GINTSTS) & !GINTSTS_LIVE;
        if !self.device_mode() {
            v |= CMOD;
        }
        if self.regs.get(GOTGINT) != 0 {
            v |= OTGINT;
        }
        if !self.rx.is_empty() {
            v |= RXFLVL;
        }
        let dctl = self.regs.get(DCTL);
        if dctl & GINSTS != 0 {
            v |= GINAKEFF;
        }
        if dctl & GONSTS != 0 {
            v |= GONAKEFF;
        }
        let d = self.daint() & self.regs.get(DAINTMSK);
        if d & 0xFFFF != 0 {
            v |= IEPINT;
        }
        if d >> 16 != 0 {
            v |= OEPINT;
        }
        v
    }

    fn in_ready(&self, ep: usize) -> bool {
        let ctl = self.regs.get(diepctl(ep));
        if ctl & STALL != 0 {
            return true;
        }
        if ctl & EPENA == 0 || ctl & NAKSTS != 0 || self.regs.get(DCTL) & GINSTS != 0 {
            return false;
        }
        let (xm, pm) = Self::tsiz_fields(ep, false);
        let ts = self.regs.get(dieptsiz(ep));
        let len = ((ts & xm) as usize).min(self.mps_in(ep));
        (ts >> 19) & pm != 0 && self.tx[ep].len() >= len.div_ceil(4)
    }

    fn out_ready(&self, ep: usize) -> bool {
        let ctl = self.regs.get(doepctl(ep));
        if ctl & STALL != 0 {
            return true;
        }
        ctl & EPENA != 0
            && ctl & NAKSTS == 0
            && self.regs.get(DCTL) & GONSTS == 0
            && self.rx_free() as usize > self.mps_out(ep).div_ceil(4)
    }

    /// What a host would notice: pull-up, and per endpoint whether a token would now get
    /// something other than NAK.
    fn bus_view(&self) -> u32 {
        let mut s = self.pullup() as u32;
        for ep in 0..ENDPOINTS {
            if self.in_ready(ep) {
                s |= 2 << ep;
            }
            if self.out_ready(ep) {
                s |= 0x100 << ep;
            }
        }
        s
    }

    /// After any change: the session edges, the interrupt line and the host wake-up.
    fn settle(&mut self, ctx: &mut Ctx) {
        let session = self.session_valid();
        if session != self.session {
            self.session = session;
            self.regs.set_bits(GOTGCTL, BSVLD, session);
            if session {
                self.regs.set_bits(GINTSTS, SRQINT, true);
            } else {
                self.regs.set_bits(GOTGINT, SEDET, true);
            }
        }
        let level =
            self.regs.get(GAHBCFG) & GINT != 0 && self.gintsts() & self.regs.get(GINTMSK) != 0;
        if level != self.irq {
            self.irq = level;
            ctx.irq(IRQ_OTG_FS, level);
        }
        let view = self.bus_view();
        if view != self.bus_state {
            self.bus_state = view;
            ctx.push(Effect::UsbDeviceChanged);
        }
    }

    fn flush_tx(&mut self, num: u32) {
        if num >= 0x10 {
            self.tx.iter_mut().for_each(VecDeque::clear);
        } else if let Some(q) = self.tx.get_mut(num as usize) {
            q.clear();
        }
    }

    fn push_rx(&mut self, ep: usize, bytes: &[u8], pktsts: u32) {
        self.rx.push_back(RxEntry {
            status: rx_status(ep, bytes.len(), pktsts),
            data: words_of(bytes),
        });
    }

    /// The SETUP stage ends when the host sends the next token on EP0.
    fn end_setup_stage(&mut self) {
        if self.setup_pending {
            self.setup_pending = false;
            self.push_rx(0, &[], PKTSTS_SETUP_DONE);
        }
    }

    fn answers(&self, addr: u8, ep: usize) -> bool {
        self.pullup()
            && ep < ENDPOINTS
            && (addr == self.address() || (ep == 0 && addr == self.setup_addr))
    }

    fn pop_status(&mut self, t: u64) -> u32 {
        let Some(e) = self.rx.pop_front() else {
            guest_error("OTG_FS", t, "GRXSTSP read with the receive FIFO empty");
            return 0;
        };
        if !self.rx_data.is_empty() {
            guest_error(
                "OTG_FS",
                t,
                "GRXSTSP popped before the previous packet's data was read (data dropped)",
            );
            self.rx_data.clear();
        }
        let ep = (e.status & 0xF) as usize;
        match (e.status >> 17) & 0xF {
            PKTSTS_OUT_DONE => self.regs.set_bits(doepint(ep), XFRC, true),
            PKTSTS_SETUP_DONE => self.regs.set_bits(doepint(ep), STUP, true),
            _ => {}
        }
        self.rx_data = e.data.into();
        e.status
    }

    // ----- the bus side, driven by a host model -----

    /// VBUS on PA9 rises or falls (the host's port power).
    pub fn set_vbus(&mut self, ctx: &mut Ctx, on: bool) {
        self.vbus = on;
        self.settle(ctx);
    }

    /// The host starts a bus reset (SE0): USBRST.
    pub fn bus_reset(&mut self, ctx: &mut Ctx) {
        if !self.pullup() {
            return;
        }
        tracing::debug!(target: T, t = ctx.now, "bus reset");
        self.regs.set_bits(GINTSTS, USBRST, true);
        self.regs.set_bits(DSTS, 1, false); // SUSPSTS
        self.setup_pending = false;
        self.setup_addr = 0;
        self.settle(ctx);
    }

    /// The bus reset ends: speed enumeration done at full speed (ENUMDNE).
    pub fn bus_reset_end(&mut self, ctx: &mut Ctx) {
        if !self.pullup() {
            return;
        }
        self.regs.set_bits(GINTSTS, ENUMDNE, true);
        let d = (self.regs.get(DSTS) & !0b110) | (0b11 << 1);
        self.regs.set(DSTS, d);
        self.settle(ctx);
    }

    /// A start-of-frame packet with frame number `frame`.
    pub fn sof(&mut self, ctx: &mut Ctx, frame: u16) {
        if !self.pullup() {
            return;
        }
        self.regs.set_bits(GINTSTS, SOF, true);
        let d = (self.regs.get(DSTS) & !(0x3FFF << 8)) | ((frame as u32 & 0x3FFF) << 8);
        self.regs.set(DSTS, d);
        self.settle(ctx);
    }

    /// A SETUP transaction to `addr`, endpoint `ep`, with its 8-byte data packet.
    pub fn setup(&mut self, ctx: &mut Ctx, addr: u8, ep: usize, data: [u8; 8]) -> Handshake {
        if ep != 0 || !self.pullup() || addr != self.address() {
            return Handshake::None;
        }
        // Back-to-back SETUPs: the earlier one's stage is over.
        self.end_setup_stage();
        self.push_rx(0, &data, PKTSTS_SETUP_DATA);
        let ts = self.regs.get(doeptsiz(0));
        let stupcnt = (ts >> 29) & 3;
        self.regs.set(
            doeptsiz(0),
            (ts & !(3 << 29)) | (stupcnt.saturating_sub(1) << 29),
        );
        // A SETUP clears the EP0 STALLs; EP0 OUT NAKs until the firmware clears it.
        self.regs.set_bits(diepctl(0), STALL, false);
        let o = self.regs.get(doepctl(0));
        self.regs.set(doepctl(0), (o & !(STALL | EPENA)) | NAKSTS);
        self.setup_pending = true;
        self.setup_addr = addr;
        self.settle(ctx);
        Handshake::Ack
    }

    /// An OUT transaction carrying `data` to `addr`, endpoint `ep`.
    pub fn out(&mut self, ctx: &mut Ctx, addr: u8, ep: usize, data: &[u8]) -> Handshake {
        if !self.answers(addr, ep) {
            return Handshake::None;
        }
        if ep == 0 {
            self.end_setup_stage();
        }
        let hs = self.out_inner(ep, data);
        self.settle(ctx);
        hs
    }

    fn out_inner(&mut self, ep: usize, data: &[u8]) -> Handshake {
        let ctl = self.regs.get(doepctl(ep));
        if ep != 0 && ctl & USBAEP == 0 {
            return Handshake::None;
        }
        if ctl & STALL != 0 {
            return Handshake::Stall;
        }
        if ctl & EPENA == 0 || ctl & NAKSTS != 0 || self.regs.get(DCTL) & GONSTS != 0 {
            return Handshake::Nak;
        }
        if (self.rx_free() as usize) < 2 + data.len().div_ceil(4) {
            return Handshake::Nak;
        }
        self.push_rx(ep, data, PKTSTS_OUT_DATA);
        let (xm, pm) = Self::tsiz_fields(ep, true);
        let ts = self.regs.get(doeptsiz(ep));
        let xfr = (ts & xm).saturating_sub(data.len() as u32);
        let pkt = ((ts >> 19) & pm).saturating_sub(1);
        self.regs
            .set(doeptsiz(ep), (ts & !(xm | (pm << 19))) | xfr | (pkt << 19));
        if pkt == 0 || data.len() < self.mps_out(ep) {
            self.push_rx(ep, &[], PKTSTS_OUT_DONE);
            self.regs.set(doepctl(ep), (ctl & !EPENA) | NAKSTS);
        }
        Handshake::Ack
    }

    /// An IN token to `addr`, endpoint `ep`: the next packet from the TX FIFO, or a
    /// handshake.
    pub fn in_token(&mut self, ctx: &mut Ctx, addr: u8, ep: usize) -> InReply {
        if !self.answers(addr, ep) {
            return InReply::None;
        }
        if ep == 0 {
            self.end_setup_stage();
        }
        let r = self.in_inner(ep);
        self.settle(ctx);
        r
    }

    fn in_inner(&mut self, ep: usize) -> InReply {
        let ctl = self.regs.get(diepctl(ep));
        if ep != 0 && ctl & USBAEP == 0 {
            return InReply::None;
        }
        if ctl & STALL != 0 {
            return InReply::Stall;
        }
        if !self.in_ready(ep) {
            return InReply::Nak;
        }
        let (xm, pm) = Self::tsiz_fields(ep, false);
        let ts = self.regs.get(dieptsiz(ep));
        let len = ((ts & xm) as usize).min(self.mps_in(ep));
        let mut bytes = Vec::with_capacity(len);
        for _ in 0..len.div_ceil(4) {
            let w = self.tx[ep].pop_front().unwrap_or(0);
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        bytes.truncate(len);
        let xfr = (ts & xm) - len as u32;
        let pkt = ((ts >> 19) & pm).saturating_sub(1);
        self.regs
            .set(dieptsiz(ep), (ts & !(xm | (pm << 19))) | xfr | (pkt << 19));
        if pkt == 0 {
            self.regs.set(diepctl(ep), ctl & !EPENA);
            self.regs.set_bits(diepint(ep), XFRC, true);
        }
        InReply::Data(bytes)
    }

    // ----- firmware side -----

    fn ep_ctl_write(&mut self, t: u64, off: u32, w: Written, is_in: bool, ep: usize) {
        let (old, new, val) = (w.old, w.new, w.val);
        if (new >> 18) & 3 == 1 && !self.iso_warned {
            self.iso_warned = true;
            unimplemented(
                "OTG_FS",
                t,
                "isochronous endpoint: handled as bulk (no frame parity, no incomplete-transfer interrupts)",
            );
        }
        let mut v = new;
        if val & CNAK != 0 {
            v &= !NAKSTS;
        }
        if val & SNAK != 0 {
            v |= NAKSTS;
        }
        v &= !(CNAK | SNAK | SD0PID | SODDFRM);
        if val & EPDIS != 0 && old & EPENA != 0 {
            // Disabling an enabled endpoint completes at once.
            v &= !EPENA;
            let int = if is_in { diepint(ep) } else { doepint(ep) };
            self.regs.set_bits(int, EPDISD, true);
        }
        v &= !EPDIS;
        if ep == 0 {
            v |= USBAEP;
        }
        self.regs.set(off, v);
    }

    fn fifo_write(&mut self, t: u64, offset: u32, value: u32) {
        let ep = ((offset - FIFO) / 0x1000) as usize;
        if ep >= ENDPOINTS {
            guest_error(
                "OTG_FS",
                t,
                "write to the FIFO window of an endpoint the FS core lacks",
            );
            return;
        }
        if self.tx_free(ep) == 0 {
            guest_error(
                "OTG_FS",
                t,
                "TX FIFO write with the FIFO full (word dropped)",
            );
            return;
        }
        self.tx[ep].push_back(value);
    }
}

impl Device for OtgFs {
    fn name(&self) -> &str {
        "OTG_FS"
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let word = offset & !3;
        let v = if (FIFO..0x2_0000).contains(&offset) {
            // Any FIFO window reads the receive FIFO (the popped packet's data).
            let w = match self.rx_data.pop_front() {
                Some(w) => w,
                None => {
                    guest_error(
                        "OTG_FS",
                        ctx.now,
                        "receive FIFO read with no packet data left",
                    );
                    0
                }
            };
            self.settle(ctx);
            tracing::trace!(target: T, t = ctx.now, reg = "FIFO", val = w, "read");
            return Ok(crate::device::extract(offset, size, w));
        } else {
            match word {
                GINTSTS => self.gintsts(),
                GRXSTSR => self.rx.front().map_or(0, |e| e.status),
                GRXSTSP => {
                    let s = self.pop_status(ctx.now);
                    self.settle(ctx);
                    s
                }
                DAINT => self.daint(),
                o if (0x900..0x980).contains(&o) && o & 0x1F == 0x08 => {
                    self.diepint_val(((o - 0x900) / 0x20) as usize)
                }
                o if (0x900..0x980).contains(&o) && o & 0x1F == 0x18 => {
                    self.tx_free(((o - 0x900) / 0x20) as usize)
                }
                _ => self.regs.read(word, Size::Word).unwrap_or(0),
            }
        };
        let v = crate::device::extract(offset, size, v);
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
        if (FIFO..0x2_0000).contains(&offset) {
            tracing::trace!(target: T, t = ctx.now, reg = "FIFO", offset, val = value, "write");
            self.fifo_write(ctx.now, offset, value);
            self.settle(ctx);
            return Ok(());
        }
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        let off = offset & !3;
        match off {
            GRSTCTL => {
                if w.new & CSRST != 0 {
                    self.rx.clear();
                    self.rx_data.clear();
                    self.flush_tx(0x10);
                    let keep = self.regs.get(GINTSTS) & !0xF03C_FC0A;
                    self.regs.set(GINTSTS, keep);
                }
                if w.new & RXFFLSH != 0 {
                    self.rx.clear();
                    self.rx_data.clear();
                }
                if w.new & TXFFLSH != 0 {
                    self.flush_tx((w.new >> 6) & 0x1F);
                }
                // Resets and flushes complete at once; the AHB master is always idle.
                self.regs.set(GRSTCTL, (w.new & !0x37) | AHBIDL);
            }
            DCTL => {
                let mut v = w.new & !(SGINAK | CGINAK | SGONAK | CGONAK);
                if w.val & SGINAK != 0 {
                    v |= GINSTS;
                }
                if w.val & CGINAK != 0 {
                    v &= !GINSTS;
                }
                if w.val & SGONAK != 0 {
                    v |= GONSTS;
                }
                if w.val & CGONAK != 0 {
                    v &= !GONSTS;
                }
                self.regs.set(DCTL, v);
            }
            o if (0x900..0x980).contains(&o) && o & 0x1F == 0 => {
                let ep = ((o - 0x900) / 0x20) as usize;
                self.ep_ctl_write(ctx.now, o, w, true, ep);
            }
            o if (0xB00..0xB80).contains(&o) && o & 0x1F == 0 => {
                let ep = ((o - 0xB00) / 0x20) as usize;
                self.ep_ctl_write(ctx.now, o, w, false, ep);
            }
            _ => {}
        }
        self.settle(ctx);
        Ok(())
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.rx.clear();
        self.rx_data.clear();
        self.flush_tx(0x10);
        self.setup_pending = false;
        self.setup_addr = 0;
        self.session = false;
        if self.irq {
            ctx.irq(IRQ_OTG_FS, false);
        }
        self.irq = false;
        // The pull-up is off after a reset; tell a host that saw it on.
        if self.bus_state != 0 {
            self.bus_state = 0;
            ctx.push(Effect::UsbDeviceChanged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    /// The firmware's core and device init path (HAL USB_CoreInit/USB_DevInit), with the
    /// polls it makes, up to DCTL.SDIS cleared and GINT set.
    fn init(b: &mut FakeBus<OtgFs>, gccfg: u32) {
        b.write32(GAHBCFG, 0);
        b.write32(GUSBCFG, 0xA40);
        assert_ne!(b.read32(GRSTCTL) & AHBIDL, 0);
        b.write32(GRSTCTL, 1);
        assert_eq!(b.read32(GRSTCTL), AHBIDL, "CSRST self-clears");
        b.write32(GCCFG, PWRDWN);
        b.write32(GUSBCFG, 0x4000_0A40);
        b.write32(GCCFG, gccfg);
        set_bits(b, DCFG, 3);
        b.write32(GRSTCTL, 0x420);
        assert_eq!(b.read32(GRSTCTL) & TXFFLSH, 0, "TXFFLSH self-clears");
        b.write32(GRSTCTL, 0x10);
        b.write32(DAINT, 0xFFFF_FFFF);
        for ep in 0..4 {
            b.write32(diepctl(ep), 0);
            b.write32(diepint(ep), 0xFF);
            b.write32(doepctl(ep), 0);
            b.write32(doepint(ep), 0xFF);
        }
        b.write32(GINTMSK, 0);
        b.write32(GINTSTS, 0xBFFF_FFFF);
        b.write32(GINTMSK, 0xC03C_3814);
        b.write32(DCTL, SDIS);
        b.write32(GRXFSIZ, 0x80);
        b.write32(DIEPTXF0, 0x0020_0080);
        b.write32(0x104, 0x0040_00A0);
        b.write32(DCTL, 0);
        b.write32(GAHBCFG, GINT);
        // A session that became valid at init (NOVBUSSENS) left SRQINT (0xBFFF_FFFF
        // does not clear bit 30).
        b.write32(GINTSTS, SRQINT);
    }

    /// What the HAL's USBRST handler does, then ENUMDNE's.
    fn on_reset(b: &mut FakeBus<OtgFs>) {
        b.write32(DAINTMSK, 0x1_0001);
        b.write32(DOEPMSK, STUP | XFRC | EPDISD);
        b.write32(DIEPMSK, XFRC | EPDISD | 8);
        {
            let v = b.read32(DCFG) & !(0x7F << 4);
            b.write32(DCFG, v);
        }
        b.write32(doeptsiz(0), (3 << 29) | (1 << 19) | 24);
        b.write32(GINTSTS, USBRST);
    }

    fn set_bits(b: &mut FakeBus<OtgFs>, off: u32, bits: u32) {
        let v = b.read32(off) | bits;
        b.write32(off, v);
    }

    fn wakes(b: &mut FakeBus<OtgFs>) -> usize {
        b.take_log()
            .iter()
            .filter(|(_, e)| *e == Effect::UsbDeviceChanged)
            .count()
    }

    fn pop(b: &mut FakeBus<OtgFs>) -> (usize, usize, u32) {
        let s = b.read32(GRXSTSP);
        (
            (s & 0xF) as usize,
            ((s >> 4) & 0x7FF) as usize,
            (s >> 17) & 0xF,
        )
    }

    #[test]
    fn no_host_no_interrupt() {
        let mut b = FakeBus::new(OtgFs::new(), Clocks::RESET);
        init(&mut b, VBUSBSEN | PWRDWN);
        assert!(!b.irq(IRQ_OTG_FS), "no VBUS: no session, no interrupt");
        assert!(!b.dev.pullup());
        assert_eq!(b.read32(DSTS), 0x10);
        assert_eq!(b.read32(GINTSTS) & CMOD, 0, "device mode");
        assert_eq!(b.read32(DCFG), 0x0220_0003, "reserved reset bits stay");
        assert_eq!(
            b.read32(dtxfsts(0)),
            0x20,
            "TX FIFO 0 empty: all 32 words free"
        );
        assert_eq!(b.read32(dtxfsts(1)), 0x40);
    }

    #[test]
    fn vbus_session_reset_and_enumeration_interrupts() {
        let mut b = FakeBus::new(OtgFs::new(), Clocks::RESET);
        init(&mut b, VBUSBSEN | PWRDWN);
        b.take_log();
        b.with(|d, ctx| d.set_vbus(ctx, true));
        assert!(b.dev.pullup(), "VBUS valid, SDIS clear: D+ pulled up");
        assert_eq!(wakes(&mut b), 1, "the host is told the pull-up came on");
        assert_ne!(b.read32(GOTGCTL) & BSVLD, 0);
        assert_ne!(b.read32(GINTSTS) & SRQINT, 0, "new session detected");
        assert!(b.irq(IRQ_OTG_FS));
        b.write32(GINTSTS, SRQINT);
        assert!(!b.irq(IRQ_OTG_FS));

        b.with(|d, ctx| d.bus_reset(ctx));
        assert_ne!(b.read32(GINTSTS) & USBRST, 0);
        assert!(b.irq(IRQ_OTG_FS));
        on_reset(&mut b);
        assert!(!b.irq(IRQ_OTG_FS));
        b.with(|d, ctx| d.bus_reset_end(ctx));
        assert_ne!(b.read32(GINTSTS) & ENUMDNE, 0);
        assert_eq!((b.read32(DSTS) >> 1) & 3, 3, "enumerated at full speed");
        b.write32(GINTSTS, ENUMDNE);
        b.with(|d, ctx| d.sof(ctx, 0x123));
        assert_eq!((b.read32(DSTS) >> 8) & 0x3FFF, 0x123);
        assert_ne!(b.read32(GINTSTS) & SOF, 0);
        assert!(!b.irq(IRQ_OTG_FS), "SOF is masked");

        // VBUS going away ends the session: OTGINT with GOTGINT.SEDET, pull-up off.
        b.with(|d, ctx| d.set_vbus(ctx, false));
        assert!(!b.dev.pullup());
        assert_eq!(b.read32(GOTGINT), SEDET);
        assert_ne!(b.read32(GINTSTS) & OTGINT, 0);
        b.write32(GOTGINT, SEDET);
        assert_eq!(b.read32(GINTSTS) & OTGINT, 0);
    }

    #[test]
    fn setup_goes_through_the_receive_fifo_then_stup() {
        let mut b = FakeBus::new(OtgFs::new(), Clocks::RESET);
        init(&mut b, NOVBUSSENS | PWRDWN);
        b.with(|d, ctx| d.bus_reset(ctx));
        on_reset(&mut b);
        let req = [0x80, 6, 0, 1, 0, 0, 64, 0];
        assert_eq!(
            b.with(|d, ctx| d.setup(ctx, 5, 0, req)),
            Handshake::None,
            "wrong address"
        );
        assert_eq!(b.with(|d, ctx| d.setup(ctx, 0, 0, req)), Handshake::Ack);
        assert_ne!(b.read32(GINTSTS) & RXFLVL, 0);
        assert!(b.irq(IRQ_OTG_FS));
        assert_eq!(b.read32(GRXSTSR), b.read32(GRXSTSR), "GRXSTSR only peeks");
        assert_eq!(pop(&mut b), (0, 8, PKTSTS_SETUP_DATA));
        assert_eq!(b.read32(GINTSTS) & RXFLVL, 0);
        assert_eq!(b.read32(FIFO), 0x0100_0680);
        assert_eq!(b.read32(FIFO), 0x0040_0000);
        assert_eq!((b.read32(doeptsiz(0)) >> 29) & 3, 2, "STUPCNT counts down");
        assert_eq!(
            b.read32(doepint(0)) & STUP,
            0,
            "no STUP before the stage ends"
        );
        // The host's IN token for the data stage ends the SETUP stage (NAKed: EP0 IN
        // is not armed yet).
        assert_eq!(b.with(|d, ctx| d.in_token(ctx, 0, 0)), InReply::Nak);
        assert_eq!(pop(&mut b), (0, 0, PKTSTS_SETUP_DONE));
        assert_eq!(b.read32(doepint(0)) & STUP, STUP);
        assert_eq!(b.read32(DAINT), 1 << 16);
        assert_ne!(b.read32(GINTSTS) & OEPINT, 0);
        assert!(b.irq(IRQ_OTG_FS));
        b.write32(doepint(0), STUP);
        assert!(!b.irq(IRQ_OTG_FS));
        assert_ne!(
            b.read32(doepctl(0)) & NAKSTS,
            0,
            "EP0 OUT NAKs after a SETUP"
        );
    }

    #[test]
    fn tx_fifo_packet_goes_out_on_an_in_token_then_xfrc() {
        let mut b = FakeBus::new(OtgFs::new(), Clocks::RESET);
        init(&mut b, NOVBUSSENS | PWRDWN);
        b.with(|d, ctx| d.bus_reset(ctx));
        on_reset(&mut b);
        b.take_log();
        // Arm EP0 IN for 18 bytes (one packet), as USB_EP0StartXfer does.
        b.write32(dieptsiz(0), (1 << 19) | 18);
        set_bits(&mut b, diepctl(0), CNAK | EPENA);
        b.write32(DIEPEMPMSK, 1);
        assert_eq!(wakes(&mut b), 0, "enabled but the FIFO is empty: still NAK");
        assert_eq!(b.read32(diepint(0)) & TXFE, TXFE);
        assert!(b.irq(IRQ_OTG_FS), "TXFE unmasked by DIEPEMPMSK");
        assert_eq!(b.with(|d, ctx| d.in_token(ctx, 0, 0)), InReply::Nak);
        let data: Vec<u8> = (1..=18).collect();
        for w in words_of(&data) {
            b.write32(FIFO, w);
        }
        assert_eq!(b.read32(dtxfsts(0)), 0x20 - 5);
        assert_eq!(wakes(&mut b), 1, "the whole packet is in: the host may try");
        b.write32(DIEPEMPMSK, 0);
        assert_eq!(b.with(|d, ctx| d.in_token(ctx, 0, 0)), InReply::Data(data));
        assert_eq!(b.read32(dtxfsts(0)), 0x20);
        assert_eq!(
            b.read32(diepctl(0)) & EPENA,
            0,
            "the core ends the transfer"
        );
        assert_eq!(b.read32(dieptsiz(0)), 0);
        assert_eq!(b.read32(diepint(0)) & XFRC, XFRC);
        assert_eq!(b.read32(DAINT) & 1, 1);
        assert!(b.irq(IRQ_OTG_FS));
        b.write32(diepint(0), XFRC);
        assert!(!b.irq(IRQ_OTG_FS));
        assert_eq!(b.with(|d, ctx| d.in_token(ctx, 0, 0)), InReply::Nak);
        // A zero-length packet needs nothing in the FIFO.
        b.write32(dieptsiz(0), 1 << 19);
        set_bits(&mut b, diepctl(0), CNAK | EPENA);
        assert_eq!(
            b.with(|d, ctx| d.in_token(ctx, 0, 0)),
            InReply::Data(vec![])
        );
        // STALL answers until the next SETUP clears it.
        set_bits(&mut b, diepctl(0), STALL);
        assert_eq!(b.with(|d, ctx| d.in_token(ctx, 0, 0)), InReply::Stall);
        b.with(|d, ctx| d.setup(ctx, 0, 0, [0; 8]));
        assert_eq!(b.read32(diepctl(0)) & STALL, 0);
    }

    #[test]
    fn bulk_out_packets_complete_on_a_short_packet() {
        let mut b = FakeBus::new(OtgFs::new(), Clocks::RESET);
        init(&mut b, NOVBUSSENS | PWRDWN);
        b.with(|d, ctx| d.bus_reset(ctx));
        on_reset(&mut b);
        set_bits(&mut b, DCFG, 3 << 4);
        assert_eq!(b.dev.address(), 3);
        // EP1 OUT bulk, MPS 64, inactive: no answer at all.
        assert_eq!(b.with(|d, ctx| d.out(ctx, 3, 1, b"x")), Handshake::None);
        set_bits(&mut b, DAINTMSK, 2 << 16);
        b.write32(doepctl(1), 64 | (2 << 18) | USBAEP | SD0PID);
        assert_eq!(b.with(|d, ctx| d.out(ctx, 3, 1, b"x")), Handshake::Nak);
        // Receive up to 2 packets (128 bytes).
        b.write32(doeptsiz(1), (2 << 19) | 128);
        set_bits(&mut b, doepctl(1), CNAK | EPENA);
        let full = [0x41u8; 64];
        assert_eq!(b.with(|d, ctx| d.out(ctx, 3, 1, &full)), Handshake::Ack);
        assert_eq!(
            b.with(|d, ctx| d.out(ctx, 0, 1, b"hi")),
            Handshake::None,
            "address 0 no longer"
        );
        assert_eq!(b.with(|d, ctx| d.out(ctx, 3, 1, b"hi!")), Handshake::Ack);
        assert_eq!(
            b.read32(doepctl(1)) & EPENA,
            0,
            "short packet ends the transfer"
        );
        assert_eq!(b.with(|d, ctx| d.out(ctx, 3, 1, b"more")), Handshake::Nak);
        assert_eq!((b.read32(doeptsiz(1)) >> 19) & 0x3FF, 0);
        assert_eq!(b.read32(doeptsiz(1)) & 0x7FFFF, 128 - 67);
        assert!(b.irq(IRQ_OTG_FS), "RXFLVL");
        assert_eq!(pop(&mut b), (1, 64, PKTSTS_OUT_DATA));
        for _ in 0..16 {
            assert_eq!(b.read32(FIFO + 0x1000), 0x4141_4141);
        }
        assert_eq!(pop(&mut b), (1, 3, PKTSTS_OUT_DATA));
        assert_eq!(b.read32(FIFO), 0x0021_6968);
        assert_eq!(
            b.read32(doepint(1)) & XFRC,
            0,
            "XFRC waits for the completion entry"
        );
        assert_eq!(pop(&mut b), (1, 0, PKTSTS_OUT_DONE));
        assert_eq!(b.read32(doepint(1)) & XFRC, XFRC);
        assert_eq!(b.read32(GINTSTS) & (RXFLVL | OEPINT), OEPINT);
        // Global OUT NAK holds off OUT data.
        b.write32(doeptsiz(1), (1 << 19) | 64);
        set_bits(&mut b, doepctl(1), CNAK | EPENA);
        b.write32(DCTL, SGONAK);
        assert_ne!(b.read32(GINTSTS) & GONAKEFF, 0);
        assert_eq!(b.with(|d, ctx| d.out(ctx, 3, 1, b"z")), Handshake::Nak);
        b.write32(DCTL, CGONAK);
        assert_eq!(b.with(|d, ctx| d.out(ctx, 3, 1, b"z")), Handshake::Ack);
    }

    #[test]
    fn endpoint_disable_and_set_address_status_stage() {
        let mut b = FakeBus::new(OtgFs::new(), Clocks::RESET);
        init(&mut b, NOVBUSSENS | PWRDWN);
        b.with(|d, ctx| d.bus_reset(ctx));
        on_reset(&mut b);
        // SET_ADDRESS(7): the firmware writes DAD before the status stage, which the
        // host still sends to address 0.
        b.with(|d, ctx| d.setup(ctx, 0, 0, [0, 5, 7, 0, 0, 0, 0, 0]));
        set_bits(&mut b, DCFG, 7 << 4);
        b.write32(dieptsiz(0), 1 << 19);
        set_bits(&mut b, diepctl(0), CNAK | EPENA);
        assert_eq!(
            b.with(|d, ctx| d.in_token(ctx, 0, 0)),
            InReply::Data(vec![])
        );
        assert_eq!(b.with(|d, ctx| d.setup(ctx, 0, 0, [0; 8])), Handshake::None);
        assert_eq!(b.with(|d, ctx| d.setup(ctx, 7, 0, [0; 8])), Handshake::Ack);
        // EPDIS on an enabled endpoint: disabled at once, EPDISD.
        b.write32(diepctl(1), 64 | (2 << 18) | USBAEP | EPENA);
        set_bits(&mut b, diepctl(1), EPDIS | SNAK);
        let c = b.read32(diepctl(1));
        assert_eq!(c & (EPENA | EPDIS), 0);
        assert_ne!(c & NAKSTS, 0);
        assert_eq!(b.read32(diepint(1)) & EPDISD, EPDISD);
        assert_eq!(
            b.read32(diepctl(0)) & USBAEP,
            USBAEP,
            "EP0 is always active"
        );
    }
}
