//! FLASH, the embedded flash memory interface of the STM32F405 (RM0090 §3, registers §3.9).
//!
//! Modelled:
//! - ACR: LATENCY, PRFTEN, ICEN, DCEN stored; every change of those pushes
//!   [`Effect::FlashAcr`]. ICRST/DCRST are write-only strobes (reading 0); setting one
//!   while its cache is enabled is logged as a guest error.
//! - KEYR unlock sequence (0x45670123 then 0xCDEF89AB clears CR.LOCK); a wrong key locks
//!   CR until the next reset and answers with a bus error, as RM0090 §3.5.1 says.
//!   OPTKEYR likewise for OPTCR.OPTLOCK (0x08192A3B, 0x4C5D6E7F).
//! - CR: PG, SER, MER, SNB, PSIZE, STRT, EOPIE, ERRIE, LOCK; ignored while locked.
//! - Sector erase (12 sectors: 4 x 16 KiB at 0x0800_0000, 1 x 64 KiB, 7 x 128 KiB) and
//!   mass erase: BSY for the datasheet typical erase time of the selected parallelism
//!   ([`FlashTiming`]), then [`Effect::FlashErase`], EOP (if EOPIE) and the FLASH
//!   interrupt (IRQ 4).
//! - Programming: the machine calls [`Flash::program`] on every guest store to the flash
//!   address space; it pushes [`Effect::FlashProgram`] when allowed, else sets PGSERR
//!   (not unlocked / PG clear / outside main memory and OTP), PGPERR (access size differs
//!   from PSIZE), PGAERR (crossing a 128-bit row) or WRPERR (sector write-protected by
//!   nWRP) and returns false so the machine drops the store. BSY for the word
//!   programming time (16 µs), then EOP.
//! - SR: EOP, OPERR (set with an error when ERRIE), WRPERR, PGAERR, PGPERR, PGSERR
//!   (rc_w1), BSY. The FLASH line is EOP & EOPIE | OPERR & ERRIE.
//! - OPTCR: reset value from the (modelled) option bytes; OPTSTRT stores the new option
//!   bytes after a BSY period, and they survive a system reset.
//!
//! Not modelled:
//! - The bus stall of a CR write or flash read while BSY (writes go through at once).
//! - x64 parallelism (needs VPP; any CPU store then sets PGPERR), read protection levels
//!   (RDP stored only), the ART accelerator's effect on timing (the machine reads
//!   [`Effect::FlashAcr`]).

use crate::device::{BusError, Ctx, Device, Effect, Size};
use crate::regs::{f, guest_error, Access::*, Block, Reg};

const T: &str = "periph::flash";

/// FLASH global interrupt line.
pub const IRQ_FLASH: u16 = 4;

pub const ACR: u32 = 0x00;
pub const KEYR: u32 = 0x04;
pub const OPTKEYR: u32 = 0x08;
pub const SR: u32 = 0x0C;
pub const CR: u32 = 0x10;
pub const OPTCR: u32 = 0x14;

pub const KEY1: u32 = 0x4567_0123;
pub const KEY2: u32 = 0xCDEF_89AB;
pub const OPTKEY1: u32 = 0x0819_2A3B;
pub const OPTKEY2: u32 = 0x4C5D_6E7F;

// SR bits.
pub const EOP: u32 = 1 << 0;
pub const OPERR: u32 = 1 << 1;
pub const WRPERR: u32 = 1 << 4;
pub const PGAERR: u32 = 1 << 5;
pub const PGPERR: u32 = 1 << 6;
pub const PGSERR: u32 = 1 << 7;
pub const BSY: u32 = 1 << 16;
// CR bits.
pub const PG: u32 = 1 << 0;
pub const SER: u32 = 1 << 1;
pub const MER: u32 = 1 << 2;
pub const STRT: u32 = 1 << 16;
pub const EOPIE: u32 = 1 << 24;
pub const ERRIE: u32 = 1 << 25;
pub const LOCK: u32 = 1 << 31;
// OPTCR bits.
const OPTLOCK: u32 = 1 << 0;
const OPTSTRT: u32 = 1 << 1;

/// Main memory of the STM32F405RG: 1 MiB at 0x0800_0000.
pub const FLASH_BASE: u32 = 0x0800_0000;
pub const FLASH_SIZE: u32 = 0x10_0000;
/// OTP area (512 bytes of data, 16 lock bytes).
pub const OTP_BASE: u32 = 0x1FFF_7800;
pub const OTP_SIZE: u32 = 0x210;

/// Address and length of sector `n` (0-11).
pub fn sector(n: u32) -> Option<(u32, u32)> {
    match n {
        0..=3 => Some((FLASH_BASE + n * 0x4000, 0x4000)),
        4 => Some((FLASH_BASE + 0x1_0000, 0x1_0000)),
        5..=11 => Some((FLASH_BASE + 0x2_0000 + (n - 5) * 0x2_0000, 0x2_0000)),
        _ => None,
    }
}

/// Sector holding main-memory address `addr`.
pub fn sector_of(addr: u32) -> Option<u32> {
    (0..12).find(|&n| sector(n).is_some_and(|(a, l)| addr >= a && addr - a < l))
}

pub const REGS: &[Reg] = &[
    Reg {
        offset: ACR,
        name: "ACR",
        reset: 0,
        fields: &[
            f("LATENCY", 0, 3, Rw),
            f("PRFTEN", 8, 1, Rw),
            f("ICEN", 9, 1, Rw),
            f("DCEN", 10, 1, Rw),
            f("ICRST", 11, 1, W),
            f("DCRST", 12, 1, W),
        ],
    },
    Reg {
        offset: KEYR,
        name: "KEYR",
        reset: 0,
        fields: &[f("KEY", 0, 32, W)],
    },
    Reg {
        offset: OPTKEYR,
        name: "OPTKEYR",
        reset: 0,
        fields: &[f("OPTKEY", 0, 32, W)],
    },
    Reg {
        offset: SR,
        name: "SR",
        reset: 0,
        fields: &[
            f("EOP", 0, 1, Rc1),
            f("OPERR", 1, 1, Rc1),
            f("WRPERR", 4, 1, Rc1),
            f("PGAERR", 5, 1, Rc1),
            f("PGPERR", 6, 1, Rc1),
            f("PGSERR", 7, 1, Rc1),
            f("BSY", 16, 1, R),
        ],
    },
    Reg {
        offset: CR,
        name: "CR",
        reset: 0x8000_0000,
        fields: &[
            f("PG", 0, 1, Rw),
            f("SER", 1, 1, Rw),
            f("MER", 2, 1, Rw),
            f("SNB", 3, 4, Rw),
            f("PSIZE", 8, 2, Rw),
            f("STRT", 16, 1, Rs),
            f("EOPIE", 24, 1, Rw),
            f("ERRIE", 25, 1, Rw),
            f("LOCK", 31, 1, Rs),
        ],
    },
    Reg {
        offset: OPTCR,
        name: "OPTCR",
        reset: 0x0FFF_AAED,
        fields: &[
            f("OPTLOCK", 0, 1, Rs),
            f("OPTSTRT", 1, 1, Rs),
            f("BOR_LEV", 2, 2, Rw),
            f("WDG_SW", 5, 1, Rw),
            f("nRST_STOP", 6, 1, Rw),
            f("nRST_STDBY", 7, 1, Rw),
            f("RDP", 8, 8, Rw),
            f("nWRP", 16, 12, Rw),
        ],
    },
];

/// Program and erase times (datasheet typical values), per parallelism x8, x16, x32, x64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashTiming {
    /// Word/half-word/byte programming time, µs.
    pub program_us: u64,
    /// 16 KiB sector erase, µs, per PSIZE.
    pub erase16k_us: [u64; 4],
    /// 64 KiB sector erase, µs, per PSIZE.
    pub erase64k_us: [u64; 4],
    /// 128 KiB sector erase, µs, per PSIZE.
    pub erase128k_us: [u64; 4],
    /// Mass erase, µs, per PSIZE.
    pub mass_us: [u64; 4],
}

impl Default for FlashTiming {
    /// STM32F405 datasheet, flash programming characteristics (typical): program 16 µs;
    /// 16 KiB erase 400/300/250 ms (x8/x16/x32), 64 KiB 1200/700/550 ms, 128 KiB
    /// 2/1.1/1 s, mass erase 16/11/8 s. x64 is taken as x32.
    fn default() -> Self {
        FlashTiming {
            program_us: 16,
            erase16k_us: [400_000, 300_000, 250_000, 250_000],
            erase64k_us: [1_200_000, 700_000, 550_000, 550_000],
            erase128k_us: [2_000_000, 1_100_000, 1_000_000, 1_000_000],
            mass_us: [16_000_000, 11_000_000, 8_000_000, 8_000_000],
        }
    }
}

impl FlashTiming {
    /// Every time divided by `factor` (at least 1 µs): for fast test runs.
    pub fn scaled_down(self, factor: u64) -> FlashTiming {
        let d = |v: u64| (v / factor.max(1)).max(1);
        let d4 = |a: [u64; 4]| a.map(d);
        FlashTiming {
            program_us: d(self.program_us),
            erase16k_us: d4(self.erase16k_us),
            erase64k_us: d4(self.erase64k_us),
            erase128k_us: d4(self.erase128k_us),
            mass_us: d4(self.mass_us),
        }
    }
}

/// The operation BSY stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Erase { addr: u32, len: u32 },
    Program,
    Options,
}

pub struct Flash {
    regs: Block,
    timing: FlashTiming,
    /// Unlock sequence progress: 1 after KEY1.
    key_stage: u8,
    opt_key_stage: u8,
    /// A wrong key sequence locked CR until reset.
    cr_dead: bool,
    opt_dead: bool,
    /// Option bytes as programmed (OPTCR is reloaded from them at reset).
    option_bytes: u32,
    op: Option<Op>,
    busy_until: u64,
    last_acr: (u8, bool, bool, bool),
    irq: bool,
}

const OP_TOKEN: u32 = 0;

impl Default for Flash {
    fn default() -> Self {
        Self::new()
    }
}

impl Flash {
    pub fn new() -> Flash {
        Flash {
            regs: Block::new("FLASH", REGS),
            timing: FlashTiming::default(),
            key_stage: 0,
            opt_key_stage: 0,
            cr_dead: false,
            opt_dead: false,
            option_bytes: 0x0FFF_AAEC,
            op: None,
            busy_until: 0,
            last_acr: (0, false, false, false),
            irq: false,
        }
    }

    pub fn with_timing(mut self, timing: FlashTiming) -> Flash {
        self.timing = timing;
        self
    }

    pub fn busy(&self) -> bool {
        self.regs.bit(SR, BSY)
    }

    /// The ACR settings: (latency, prefetch, icache, dcache).
    pub fn acr(&self) -> (u8, bool, bool, bool) {
        let a = self.regs.get(ACR);
        (
            (a & 7) as u8,
            a & (1 << 8) != 0,
            a & (1 << 9) != 0,
            a & (1 << 10) != 0,
        )
    }

    fn psize(&self) -> usize {
        ((self.regs.get(CR) >> 8) & 3) as usize
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let sr = self.regs.get(SR);
        let cr = self.regs.get(CR);
        let level = (sr & EOP != 0 && cr & EOPIE != 0) || (sr & OPERR != 0 && cr & ERRIE != 0);
        if level != self.irq {
            self.irq = level;
            ctx.irq(IRQ_FLASH, level);
        }
    }

    fn error(&mut self, ctx: &mut Ctx, bits: u32, what: &str) {
        guest_error("FLASH", ctx.now, what);
        let mut sr = self.regs.get(SR) | bits;
        if self.regs.bit(CR, ERRIE) {
            sr |= OPERR;
        }
        self.regs.set(SR, sr);
        self.update_irq(ctx);
    }

    fn begin(&mut self, ctx: &mut Ctx, op: Op, us: u64) {
        let start = self.busy_until.max(ctx.now);
        self.busy_until = start + ctx.clocks.to_cycles(us, 1_000_000);
        // A program queued behind an erase keeps the erase's completion pending first.
        if !matches!(self.op, Some(Op::Erase { .. })) {
            self.op = Some(op);
        }
        self.regs.set_bits(SR, BSY, true);
        ctx.schedule(OP_TOKEN, self.busy_until);
    }

    /// Write-protected (nWRP bit clear) sector?
    fn protected(&self, n: u32) -> bool {
        self.regs.get(OPTCR) & (1 << (16 + n)) == 0
    }

    fn start(&mut self, ctx: &mut Ctx) {
        let cr = self.regs.get(CR);
        self.regs.set_bits(CR, STRT, false);
        if self.busy() {
            guest_error("FLASH", ctx.now, "STRT while BSY (ignored)");
            return;
        }
        let ps = self.psize();
        match (cr & SER != 0, cr & MER != 0) {
            (true, true) => self.error(ctx, PGSERR, "STRT with both SER and MER"),
            (true, false) => {
                let snb = (cr >> 3) & 0xF;
                let Some((addr, len)) = sector(snb) else {
                    return self.error(ctx, PGSERR, "erase of a sector that does not exist");
                };
                if self.protected(snb) {
                    return self.error(ctx, WRPERR, "erase of a write-protected sector");
                }
                let us = match len {
                    0x4000 => self.timing.erase16k_us[ps],
                    0x1_0000 => self.timing.erase64k_us[ps],
                    _ => self.timing.erase128k_us[ps],
                };
                tracing::debug!(target: T, t = ctx.now, sector = snb, "sector erase started");
                self.begin(ctx, Op::Erase { addr, len }, us);
            }
            (false, true) => {
                if (0..12).any(|n| self.protected(n)) {
                    return self.error(ctx, WRPERR, "mass erase with write-protected sectors");
                }
                tracing::debug!(target: T, t = ctx.now, "mass erase started");
                let us = self.timing.mass_us[ps];
                self.begin(
                    ctx,
                    Op::Erase {
                        addr: FLASH_BASE,
                        len: FLASH_SIZE,
                    },
                    us,
                );
            }
            (false, false) => {}
        }
    }

    /// A guest store of `size` bytes of `value` to flash address `addr` (absolute). Returns
    /// true (and pushes [`Effect::FlashProgram`]) when the interface programs it; false
    /// when the store must be dropped (error flags set as RM0090 §3.9.5 says).
    pub fn program(&mut self, ctx: &mut Ctx, addr: u32, size: Size, value: u32) -> bool {
        let cr = self.regs.get(CR);
        let in_main = addr.wrapping_sub(FLASH_BASE) < FLASH_SIZE;
        let in_otp = addr.wrapping_sub(OTP_BASE) < OTP_SIZE;
        if cr & LOCK != 0 || cr & PG == 0 || !(in_main || in_otp) {
            self.error(ctx, PGSERR, "store to flash without an unlocked CR.PG");
            return false;
        }
        let want = match self.psize() {
            0 => Some(Size::Byte),
            1 => Some(Size::Half),
            2 => Some(Size::Word),
            _ => None,
        };
        if want != Some(size) {
            self.error(ctx, PGPERR, "store size differs from CR.PSIZE");
            return false;
        }
        if (addr & 15) + size.bytes() > 16 {
            self.error(ctx, PGAERR, "store crosses a 128-bit flash row");
            return false;
        }
        if in_main && sector_of(addr).is_some_and(|n| self.protected(n)) {
            self.error(ctx, WRPERR, "store to a write-protected sector");
            return false;
        }
        let data = value.to_le_bytes()[..size.bytes() as usize].to_vec();
        tracing::trace!(target: T, t = ctx.now, addr, val = value, "program");
        ctx.push(Effect::FlashProgram { addr, data });
        self.begin(ctx, Op::Program, self.timing.program_us);
        true
    }

    fn key(&mut self, ctx: &mut Ctx, offset: u32, size: Size, value: u32) -> Result<(), BusError> {
        let opt = offset == OPTKEYR;
        let (k1, k2) = if opt {
            (OPTKEY1, OPTKEY2)
        } else {
            (KEY1, KEY2)
        };
        let (reg, bit) = if opt { (OPTCR, OPTLOCK) } else { (CR, LOCK) };
        let dead = if opt { self.opt_dead } else { self.cr_dead };
        if !self.regs.bit(reg, bit) && !dead {
            guest_error(
                "FLASH",
                ctx.now,
                "key written while already unlocked (ignored)",
            );
            return Ok(());
        }
        let stage = if opt {
            &mut self.opt_key_stage
        } else {
            &mut self.key_stage
        };
        let ok = !dead
            && size == Size::Word
            && match *stage {
                0 => value == k1,
                _ => value == k2,
            };
        if !ok {
            *stage = 0;
            if opt {
                self.opt_dead = true;
            } else {
                self.cr_dead = true;
            }
            guest_error(
                "FLASH",
                ctx.now,
                "wrong unlock key: locked until reset, bus error",
            );
            return Err(BusError { offset, size });
        }
        if *stage == 0 {
            *stage = 1;
        } else {
            *stage = 0;
            self.regs.set_bits(reg, bit, false);
            tracing::debug!(target: T, t = ctx.now, reg = if opt { "OPTCR" } else { "CR" }, "unlocked");
        }
        Ok(())
    }
}

impl Device for Flash {
    fn name(&self) -> &str {
        "FLASH"
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
        let word = offset & !3;
        if word == KEYR || word == OPTKEYR {
            return self.key(ctx, word, size, value);
        }
        let before = self.regs.get_or(word);
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: T, t = ctx.now, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        match word {
            ACR => {
                let a = w.new;
                if a & (1 << 11) != 0 && a & (1 << 9) != 0 {
                    guest_error("FLASH", ctx.now, "ICRST while the I-cache is enabled");
                }
                if a & (1 << 12) != 0 && a & (1 << 10) != 0 {
                    guest_error("FLASH", ctx.now, "DCRST while the D-cache is enabled");
                }
                self.regs.set(ACR, a & !(3 << 11));
                let acr = self.acr();
                if acr != self.last_acr {
                    self.last_acr = acr;
                    let (latency, prefetch, icache, dcache) = acr;
                    ctx.push(Effect::FlashAcr {
                        latency,
                        prefetch,
                        icache,
                        dcache,
                    });
                }
            }
            CR => {
                if before & LOCK != 0 {
                    // Locked: only LOCK itself (already 1) "changes"; nothing else sticks.
                    self.regs.set(CR, before);
                    if w.val & !LOCK & w.lane != 0 {
                        guest_error("FLASH", ctx.now, "CR written while locked (ignored)");
                    }
                } else if w.new & STRT != 0 {
                    self.start(ctx);
                }
            }
            OPTCR => {
                if before & OPTLOCK != 0 {
                    self.regs.set(OPTCR, before);
                } else if w.new & OPTSTRT != 0 {
                    if self.busy() {
                        self.regs.set_bits(OPTCR, OPTSTRT, false);
                        guest_error("FLASH", ctx.now, "OPTSTRT while BSY (ignored)");
                    } else {
                        // Option byte programming takes about a 16 KiB sector erase.
                        let us = self.timing.erase16k_us[2];
                        self.begin(ctx, Op::Options, us);
                    }
                }
            }
            _ => {}
        }
        self.update_irq(ctx);
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        if token != OP_TOKEN {
            return;
        }
        if let Some(Op::Erase { addr, len }) = self.op {
            ctx.push(Effect::FlashErase { addr, len });
            tracing::debug!(target: T, t = ctx.now, addr, len, "erase done");
        }
        if self.op == Some(Op::Options) {
            self.option_bytes = self.regs.get(OPTCR) & !(OPTLOCK | OPTSTRT);
            self.regs.set_bits(OPTCR, OPTSTRT, false);
        }
        self.op = None;
        if ctx.now < self.busy_until {
            // Programs queued behind the erase.
            self.op = Some(Op::Program);
            ctx.schedule(OP_TOKEN, self.busy_until);
            return;
        }
        self.regs.set_bits(SR, BSY, false);
        if self.regs.bit(CR, EOPIE) {
            self.regs.set_bits(SR, EOP, true);
        }
        self.update_irq(ctx);
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.regs.reset();
        self.regs.set(OPTCR, self.option_bytes | OPTLOCK);
        self.key_stage = 0;
        self.opt_key_stage = 0;
        self.cr_dead = false;
        self.opt_dead = false;
        self.op = None;
        self.busy_until = 0;
        ctx.cancel(OP_TOKEN);
        self.irq = false;
        ctx.irq(IRQ_FLASH, false);
        self.last_acr = (0, false, false, false);
        ctx.push(Effect::FlashAcr {
            latency: 0,
            prefetch: false,
            icache: false,
            dcache: false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    fn bus() -> FakeBus<Flash> {
        FakeBus::new(Flash::new(), Clocks::RESET)
    }

    fn ms(b: &FakeBus<Flash>, n: u64) -> u64 {
        b.clocks.to_cycles(n, 1_000)
    }

    fn unlock(b: &mut FakeBus<Flash>) {
        b.write32(KEYR, KEY1);
        b.write32(KEYR, KEY2);
    }

    fn try_write(b: &mut FakeBus<Flash>, off: u32, v: u32) -> Result<(), BusError> {
        b.with(|d, ctx| d.write(ctx, off, Size::Word, v))
    }

    #[test]
    fn reset_values() {
        let mut b = bus();
        assert_eq!(b.read32(ACR), 0);
        assert_eq!(b.read32(SR), 0);
        assert_eq!(b.read32(CR), 0x8000_0000);
        assert_eq!(b.read32(OPTCR), 0x0FFF_AAED);
    }

    #[test]
    fn acr_byte_write_pushes_settings() {
        let mut b = bus();
        b.write32(ACR, 0x700);
        b.take_log();
        b.write(ACR, Size::Byte, 5);
        assert_eq!(b.read32(ACR), 0x705);
        let log = b.take_log();
        assert!(log.iter().any(|(_, e)| *e
            == Effect::FlashAcr {
                latency: 5,
                prefetch: true,
                icache: true,
                dcache: true
            }));
        // DCRST strobe reads back 0 and changes nothing visible.
        b.write32(ACR, 0x1305);
        assert_eq!(b.read32(ACR), 0x305);
    }

    #[test]
    fn unlock_and_wrong_key() {
        let mut b = bus();
        unlock(&mut b);
        assert_eq!(b.read32(CR), 0);
        b.write32(CR, LOCK);
        assert_eq!(b.read32(CR), LOCK);
        b.write32(KEYR, KEY1);
        assert!(try_write(&mut b, KEYR, 0x1234).is_err());
        // Dead until reset, even with the right sequence.
        assert!(try_write(&mut b, KEYR, KEY1).is_err());
        assert_eq!(b.read32(CR), LOCK);
        b.with(|d, ctx| d.reset(ctx));
        unlock(&mut b);
        assert_eq!(b.read32(CR), 0);
    }

    /// The firmware's sector 1 erase: SR = 0xF3, CR = 0x200, 0x20A, 0x1020A, poll BSY.
    #[test]
    fn sector_erase_takes_the_datasheet_time() {
        let mut b = bus();
        unlock(&mut b);
        b.write32(SR, 0xF3);
        b.write32(CR, 0x200);
        b.write32(CR, 0x20A);
        b.write32(CR, 0x1020A | EOPIE);
        assert_ne!(b.read32(SR) & BSY, 0);
        assert_eq!(b.read32(CR) & STRT, 0);
        b.advance(ms(&b, 249));
        assert_ne!(b.read32(SR) & BSY, 0);
        b.advance(ms(&b, 2));
        assert_eq!(b.read32(SR), EOP);
        assert!(b.irq(IRQ_FLASH));
        assert!(b.log.iter().any(|(_, e)| *e
            == Effect::FlashErase {
                addr: 0x0800_4000,
                len: 0x4000
            }));
        b.write32(SR, EOP);
        assert!(!b.irq(IRQ_FLASH));
        // 128 KiB sector 11 at x32: 1 s.
        b.write32(CR, 0x200 | SER | (11 << 3) | STRT);
        b.advance(ms(&b, 1001));
        assert!(b.log.iter().any(|(_, e)| *e
            == Effect::FlashErase {
                addr: 0x080E_0000,
                len: 0x2_0000
            }));
    }

    #[test]
    fn program_word_and_errors() {
        let mut b = bus();
        // Locked: PGSERR.
        assert!(!b.with(|d, ctx| d.program(ctx, 0x0800_4000, Size::Word, 0)));
        assert_eq!(b.read32(SR), PGSERR);
        b.write32(SR, 0xF3);
        unlock(&mut b);
        b.write32(CR, 0x200 | PG | ERRIE);
        assert!(b.with(|d, ctx| d.program(ctx, 0x0800_4000, Size::Word, 0x1122_3344)));
        assert!(b.log.iter().any(|(_, e)| *e
            == Effect::FlashProgram {
                addr: 0x0800_4000,
                data: vec![0x44, 0x33, 0x22, 0x11]
            }));
        assert_ne!(b.read32(SR) & BSY, 0);
        b.advance(b.clocks.to_cycles(16, 1_000_000));
        assert_eq!(b.read32(SR), 0, "EOP only with EOPIE");
        // Wrong size: PGPERR + OPERR (ERRIE) + IRQ.
        assert!(!b.with(|d, ctx| d.program(ctx, 0x0800_4004, Size::Half, 0)));
        assert_eq!(b.read32(SR), PGPERR | OPERR);
        assert!(b.irq(IRQ_FLASH));
        b.write32(SR, 0xF3);
        assert!(!b.irq(IRQ_FLASH));
        // Crossing a 128-bit row.
        assert!(!b.with(|d, ctx| d.program(ctx, 0x0800_400E, Size::Word, 0)));
        assert_eq!(b.read32(SR) & PGAERR, PGAERR);
    }

    #[test]
    fn option_bytes_write_protection() {
        let mut b = bus();
        b.write32(OPTKEYR, OPTKEY1);
        b.write32(OPTKEYR, OPTKEY2);
        assert_eq!(b.read32(OPTCR) & OPTLOCK, 0);
        // Protect sector 1 (nWRP bit 17 = 0), start.
        b.write32(OPTCR, (0x0FFF_AAEC & !(1 << 17)) | OPTSTRT);
        assert_ne!(b.read32(SR) & BSY, 0);
        b.advance(ms(&b, 300));
        assert_eq!(b.read32(SR) & BSY, 0);
        b.with(|d, ctx| d.reset(ctx));
        assert_eq!(b.read32(OPTCR), 0x0FFD_AAED);
        unlock(&mut b);
        b.write32(CR, 0x200 | SER | (1 << 3) | STRT);
        assert_eq!(b.read32(SR), WRPERR);
    }
}
