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
//! - FIFO window (0x1000-0x1FFFF): reads 0, writes ignored.
//!
//! Not modelled:
//! - Any USB traffic, host mode (host registers 0x400-0x7FF read 0), OTG protocols
//!   (SRP/HNP), VBUS sensing, the PHY power-down, power and clock gating (PCGCCTL stored),
//!   data FIFOs. The CID product ID value is not checked against silicon.

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

const RW: &[Field] = &[f("x", 0, 32, Rw)];
const RO: &[Field] = &[f("x", 0, 32, R)];
const RC1: &[Field] = &[f("x", 0, 32, Rc1)];
const UN: &[Field] = &[unmodelled("x", 0, 32, Rw)];

const fn r(offset: u32, name: &'static str, reset: u32, fields: &'static [Field]) -> Reg {
    Reg {
        offset,
        name,
        reset,
        fields,
    }
}

pub const REGS: &[Reg] = &[
    r(GOTGCTL, "GOTGCTL", 0x0000_0800, UN),
    r(0x004, "GOTGINT", 0, RC1),
    r(GAHBCFG, "GAHBCFG", 0, RW),
    r(GUSBCFG, "GUSBCFG", 0x0000_0A00, RW),
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
    r(0x038, "GCCFG", 0, UN),
    r(0x03C, "CID", 0x0000_1100, RW),
    r(0x100, "HPTXFSIZ", 0x0200_0600, RW),
    r(0x104, "DIEPTXF1", 0x0200_0400, RW),
    r(0x108, "DIEPTXF2", 0x0200_0400, RW),
    r(0x10C, "DIEPTXF3", 0x0200_0400, RW),
    r(DCFG, "DCFG", 0x0220_0000, RW),
    r(DCTL, "DCTL", 0, RW),
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
    r(PCGCCTL, "PCGCCTL", 0, UN),
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
    }
}
