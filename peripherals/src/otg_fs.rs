//! USB OTG FS in device mode with no host attached (RM0090 §34, registers §34.16).
//!
//! Modelled:
//! - The core global and device registers the firmware's `USB_CoreInit`/`USB_DevInit`
//!   touches, stored with their reset values, and endpoint 0-3 IN/OUT control, interrupt
//!   and transfer-size registers.
//! - GRSTCTL: AHBIDL always reads 1; CSRST, HSRST, FCRST, RXFFLSH and TXFFLSH clear
//!   themselves at once (the reset or flush is instantaneous).
//! - GINTSTS: CMOD follows GUSBCFG.FHMOD; the rc_w1 interrupt bits clear on writing 1.
//!   No host is ever attached, so no USB event (reset, enumeration, SOF, session
//!   request) ever sets a bit; the OTG_FS line (IRQ 67) is GAHBCFG.GINT & (GINTSTS &
//!   GINTMSK) != 0, which stays low.
//! - GCCFG: VBUS is never present (no host supplies it), so with VBUSASEN/VBUSBSEN set
//!   no session ever becomes valid and with NOVBUSSENS the device simply sees no bus
//!   activity; PWRDWN is stored (the transceiver has nobody to talk to either way).
//! - DCTL: SDIS stored; SGINAK/CGINAK and SGONAK/CGONAK set and clear the GINSTS and
//!   GONSTS status bits at once.
//! - FIFO window (0x1000-0x1FFFF): reads 0, writes ignored.
//!
//! Not modelled (fields declared; a write that changes one warns once):
//! - Any USB traffic, host mode (host registers 0x400-0x7FF read 0), OTG protocols
//!   (GOTGCTL SRP/HNP requests), the SOF output pin (GCCFG.SOFOUTEN), remote wakeup and
//!   test modes (DCTL.RWUSIG, TCTL), the USB turnaround and timeout calibration
//!   (GUSBCFG.TRDT, TOCAL), power and clock gating (PCGCCTL stored), data FIFOs. The CID
//!   product ID value is not checked against silicon.

use crate::device::{BusError, Ctx, Device, Size};
use crate::regs::{f, unmodelled, Access::*, Block, Field, Reg};

const T: &str = "periph::otg_fs";

/// OTG_FS global interrupt line.
pub const IRQ_OTG_FS: u16 = 67;

pub const GOTGCTL: u32 = 0x000;
pub const GAHBCFG: u32 = 0x008;
pub const GUSBCFG: u32 = 0x00C;
pub const GRSTCTL: u32 = 0x010;
pub const GINTSTS: u32 = 0x014;
pub const GINTMSK: u32 = 0x018;
pub const DCFG: u32 = 0x800;
pub const DCTL: u32 = 0x804;
pub const DSTS: u32 = 0x808;
pub const PCGCCTL: u32 = 0xE00;

const AHBIDL: u32 = 1 << 31;
const FHMOD: u32 = 1 << 29;
const GINSTS: u32 = 1 << 2;
const GONSTS: u32 = 1 << 3;
const SGINAK: u32 = 1 << 7;
const CGINAK: u32 = 1 << 8;
const SGONAK: u32 = 1 << 9;
const CGONAK: u32 = 1 << 10;

/// Registers whose bits are all plain storage (masks, sizes, endpoint control).
const RW: &[Field] = &[f("bits", 0, 32, Rw)];
/// Status registers the model never sets (no traffic).
const RO: &[Field] = &[f("bits", 0, 32, R)];
/// Endpoint interrupt registers: rc_w1 flags the model never sets.
const RC1: &[Field] = &[f("bits", 0, 32, Rc1)];

const fn r(offset: u32, name: &'static str, reset: u32, fields: &'static [Field]) -> Reg {
    Reg {
        offset,
        name,
        reset,
        fields,
    }
}

pub const REGS: &[Reg] = &[
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
    r(0x004, "GOTGINT", 0, RC1),
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
            unmodelled("TOCAL", 0, 3, Rw),
            f("PHYSEL", 6, 1, Rw),
            unmodelled("SRPCAP", 8, 1, Rw),
            unmodelled("HNPCAP", 9, 1, Rw),
            unmodelled("TRDT", 10, 4, Rw),
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
    r(0x01C, "GRXSTSR", 0, RO),
    r(0x020, "GRXSTSP", 0, RO),
    r(0x024, "GRXFSIZ", 0x0000_0200, RW),
    r(0x028, "DIEPTXF0", 0x0000_0200, RW),
    r(0x02C, "HNPTXSTS", 0x0008_0200, RO),
    r(
        0x038,
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
    r(0x810, "DIEPMSK", 0, RW),
    r(0x814, "DOEPMSK", 0, RW),
    r(0x818, "DAINT", 0, RO),
    r(0x81C, "DAINTMSK", 0, RW),
    r(0x828, "DVBUSDIS", 0x0000_17D7, RW),
    r(0x82C, "DVBUSPULSE", 0x0000_05B8, RW),
    r(0x834, "DIEPEMPMSK", 0, RW),
    r(0x900, "DIEPCTL0", 0, RW),
    r(0x908, "DIEPINT0", 0x0000_0080, RC1),
    r(0x910, "DIEPTSIZ0", 0, RW),
    r(0x918, "DTXFSTS0", 0x0000_0200, RO),
    r(0x920, "DIEPCTL1", 0, RW),
    r(0x928, "DIEPINT1", 0x0000_0080, RC1),
    r(0x930, "DIEPTSIZ1", 0, RW),
    r(0x938, "DTXFSTS1", 0x0000_0200, RO),
    r(0x940, "DIEPCTL2", 0, RW),
    r(0x948, "DIEPINT2", 0x0000_0080, RC1),
    r(0x950, "DIEPTSIZ2", 0, RW),
    r(0x958, "DTXFSTS2", 0x0000_0200, RO),
    r(0x960, "DIEPCTL3", 0, RW),
    r(0x968, "DIEPINT3", 0x0000_0080, RC1),
    r(0x970, "DIEPTSIZ3", 0, RW),
    r(0x978, "DTXFSTS3", 0x0000_0200, RO),
    r(0xB00, "DOEPCTL0", 0x0000_8000, RW),
    r(0xB08, "DOEPINT0", 0, RC1),
    r(0xB10, "DOEPTSIZ0", 0, RW),
    r(0xB20, "DOEPCTL1", 0, RW),
    r(0xB28, "DOEPINT1", 0, RC1),
    r(0xB30, "DOEPTSIZ1", 0, RW),
    r(0xB40, "DOEPCTL2", 0, RW),
    r(0xB48, "DOEPINT2", 0, RC1),
    r(0xB50, "DOEPTSIZ2", 0, RW),
    r(0xB60, "DOEPCTL3", 0, RW),
    r(0xB68, "DOEPINT3", 0, RC1),
    r(0xB70, "DOEPTSIZ3", 0, RW),
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

pub struct OtgFs {
    regs: Block,
    irq: bool,
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
        }
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let level =
            self.regs.get(GAHBCFG) & 1 != 0 && self.regs.get(GINTSTS) & self.regs.get(GINTMSK) != 0;
        if level != self.irq {
            self.irq = level;
            ctx.irq(IRQ_OTG_FS, level);
        }
    }
}

impl Device for OtgFs {
    fn name(&self) -> &str {
        "OTG_FS"
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = self.regs.read(offset, size).unwrap_or(0);
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
        if offset >= 0x1000 {
            return Ok(()); // FIFO window
        }
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        match offset & !3 {
            GRSTCTL => {
                // Resets and flushes complete at once; the AHB master is always idle.
                self.regs.set(GRSTCTL, (w.new & !0x37) | AHBIDL);
            }
            GUSBCFG => {
                let host = w.new & FHMOD != 0;
                self.regs.set_bits(GINTSTS, 1, host);
            }
            DCTL => {
                // The global NAK requests take effect at once (no packet in flight).
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
            _ => {}
        }
        self.update_irq(ctx);
        Ok(())
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        if self.irq {
            ctx.irq(IRQ_OTG_FS, false);
        }
        self.irq = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    /// The firmware's core and device init path, with the polls it makes.
    #[test]
    fn firmware_init_without_a_host() {
        let mut b = FakeBus::new(OtgFs::new(), Clocks::RESET);
        b.write32(GAHBCFG, 0);
        b.write32(GUSBCFG, 0xA40);
        assert_ne!(b.read32(GRSTCTL) & AHBIDL, 0);
        b.write32(GRSTCTL, 1);
        assert_eq!(b.read32(GRSTCTL), AHBIDL, "CSRST self-clears");
        b.write32(GUSBCFG, 0x4000_0A40);
        b.write32(GRSTCTL, 0x420);
        assert_eq!(b.read32(GRSTCTL) & 0x20, 0, "TXFFLSH self-clears");
        assert_eq!(b.read32(GRSTCTL) & (0x1F << 6), 0x10 << 6, "TXFNUM stored");
        b.write32(GRSTCTL, 0x10);
        assert_eq!(b.read32(GRSTCTL) & 0x10, 0);
        b.write32(0x908, 0xFF);
        assert_eq!(b.read32(0x908), 0);
        b.write32(GINTMSK, 0);
        b.write32(GINTSTS, 0xBFFF_FFFF);
        assert_eq!(b.read32(GINTSTS) & 1, 0, "device mode");
        b.write32(GINTMSK, 0xC03C_3814);
        b.write32(GAHBCFG, 1);
        assert!(!b.irq(IRQ_OTG_FS), "no host: no interrupt");
        assert_eq!(b.read32(DSTS), 0x10);
        assert_eq!(b.read32(0x1000), 0);
        b.write32(0x1000, 5);
        // VBUS sensing on, soft disconnect off: still no session, no interrupt.
        b.write32(0x038, 0x9_0000);
        let dcfg = b.read32(DCFG);
        b.write32(DCFG, dcfg | 3);
        assert_eq!(b.read32(DCFG), 0x0220_0003, "reserved reset bits stay");
        b.write32(DCTL, 2);
        b.write32(DCTL, 0);
        assert!(!b.irq(IRQ_OTG_FS));
    }

    #[test]
    fn global_nak_requests_set_and_clear_their_status() {
        let mut b = FakeBus::new(OtgFs::new(), Clocks::RESET);
        b.write32(DCTL, SGINAK | SGONAK);
        assert_eq!(b.read32(DCTL), GINSTS | GONSTS, "set/clear bits read 0");
        b.write32(DCTL, GINSTS | GONSTS | CGINAK);
        assert_eq!(b.read32(DCTL), GONSTS);
        b.write32(DCTL, CGONAK | 2);
        assert_eq!(b.read32(DCTL), 2);
    }
}
