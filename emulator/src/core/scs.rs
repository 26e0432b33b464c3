//! Cortex-M4 System Control Space (ARMv7-M ARM B3.2, Cortex-M4 TRM ch. 4): NVIC with the
//! STM32F405's 82 interrupt lines and 4 priority bits, SCB, SysTick, DWT cycle counter,
//! CoreDebug DEMCR and the FPU's FPCCR/FPCAR/FPDSCR.
//!
//! Modelled: ISER/ICER/ISPR/ICPR/IABR/IPR (byte access)/STIR/ICTR; CPUID (r0p1), ICSR
//! (PENDSVSET/CLR, PENDSTSET/CLR, NMIPENDSET, VECTACTIVE, VECTPENDING, ISRPENDING,
//! RETTOBASE), VTOR, AIRCR (PRIGROUP, SYSRESETREQ, VECTKEY), SCR, CCR, SHPR1-3, SHCSR,
//! CFSR/HFSR/DFSR/MMFAR/BFAR/AFSR, CPACR; SysTick CTRL/LOAD/VAL/CALIB with both clock
//! sources; DWT CTRL/CYCCNT; DEMCR.TRCENA; FPCCR/FPCAR/FPDSCR storage.
//! Not modelled: DWT comparators and profiling counters other than CYCCNT (read 0), ITM
//! stimulus ports (writes dropped), FPB, MPU (registers read 0, writes ignored:
//! MPU_TYPE says no regions), sleep-on-exit and SEVONPEND in SCR.
//!
//! This module is pure: the machine applies the exception state to the CPU.

use pybsim_peripherals::Size;

pub const NUM_IRQS: usize = 82;
/// Exception numbers: 1 reset, 2 NMI, 3 HardFault, 4 MemManage, 5 BusFault, 6 UsageFault,
/// 11 SVCall, 12 DebugMonitor, 14 PendSV, 15 SysTick, 16+n IRQ n.
pub const NUM_EXC: usize = 16 + NUM_IRQS;
pub const EXC_NMI: u32 = 2;
pub const EXC_HARDFAULT: u32 = 3;
pub const EXC_MEMMANAGE: u32 = 4;
pub const EXC_BUSFAULT: u32 = 5;
pub const EXC_USAGEFAULT: u32 = 6;
pub const EXC_SVCALL: u32 = 11;
pub const EXC_PENDSV: u32 = 14;
pub const EXC_SYSTICK: u32 = 15;

pub const CPUID_M4_R0P1: u32 = 0x410F_C241;

// CFSR bits (MMFSR | BFSR << 8 | UFSR << 16).
pub const CFSR_IACCVIOL: u32 = 1 << 0;
pub const CFSR_IBUSERR: u32 = 1 << 8;
pub const CFSR_PRECISERR: u32 = 1 << 9;
pub const CFSR_IMPRECISERR: u32 = 1 << 10;
pub const CFSR_STKERR: u32 = 1 << 12;
pub const CFSR_BFARVALID: u32 = 1 << 15;
pub const CFSR_UNDEFINSTR: u32 = 1 << 16;
pub const CFSR_INVSTATE: u32 = 1 << 17;
pub const CFSR_INVPC: u32 = 1 << 18;
pub const CFSR_NOCP: u32 = 1 << 19;
pub const CFSR_UNALIGNED: u32 = 1 << 24;
pub const CFSR_DIVBYZERO: u32 = 1 << 25;
pub const HFSR_VECTTBL: u32 = 1 << 1;
pub const HFSR_FORCED: u32 = 1 << 30;

/// The mask registers of the CPU that take part in the execution priority.
#[derive(Debug, Clone, Copy, Default)]
pub struct Masks {
    pub primask: bool,
    pub faultmask: bool,
    pub basepri: u8,
}

/// What a write to the SCS asks the machine to do besides changing state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScsAction {
    pub reset: bool,
    /// SysTick registers changed: reschedule its event.
    pub systick: bool,
    /// DWT CYCCNT enable/value changed.
    pub dwt: bool,
}

#[derive(Debug, Clone)]
pub struct SysTick {
    pub ctrl: u32,
    pub load: u32,
    /// VAL at `anchor` (virtual cycles), counting down one per tick when enabled.
    val_at_anchor: u32,
    anchor: u64,
    countflag: bool,
}

/// SysTick CALIB of the STM32F4 (PM0214): TENMS = 18750 (1 ms of HCLK/8 at 150 MHz),
/// SKEW set, NOREF clear.
pub const SYSTICK_CALIB: u32 = 0x4000_493E;

impl SysTick {
    fn new() -> Self {
        SysTick {
            ctrl: 0,
            load: 0,
            val_at_anchor: 0,
            anchor: 0,
            countflag: false,
        }
    }

    pub fn enabled(&self) -> bool {
        self.ctrl & 1 != 0
    }

    /// CPU cycles per SysTick tick: 1 with the processor clock, else 8 HCLK periods.
    pub fn tick_cycles(&self, sysclk: u32, hclk: u32) -> u64 {
        if self.ctrl & 4 != 0 {
            1
        } else {
            (8 * sysclk as u64).div_ceil(hclk.max(1) as u64)
        }
    }

    /// (current VAL, number of 1->0 transitions since the anchor).
    fn state(&self, now: u64, tick: u64) -> (u32, u64) {
        if !self.enabled() {
            return (self.val_at_anchor, 0);
        }
        let elapsed = now.saturating_sub(self.anchor) / tick;
        let v = self.val_at_anchor as u64;
        if elapsed <= v {
            let zeros = if elapsed == v && v > 0 { 1 } else { 0 };
            return ((v - elapsed) as u32, zeros);
        }
        // After reaching 0 the counter reloads LOAD on the next tick.
        let period = self.load as u64 + 1;
        let k = elapsed - v - 1; // ticks since the first reload
        let val = self.load as u64 - (k % period);
        let mut zeros = if v > 0 { 1 } else { 0 };
        if self.load > 0 {
            // Every time val reaches 0 after a reload: at k = load, load+period, ...
            if k >= self.load as u64 {
                zeros += (k - self.load as u64) / period + 1;
            }
        }
        (val as u32, zeros)
    }

    /// Re-anchors at `now` so later computations start from the present state.
    fn rebase(&mut self, now: u64, tick: u64) {
        let (val, zeros) = self.state(now, tick);
        if zeros > 0 {
            self.countflag = true;
        }
        // Keep the sub-tick phase: anchor at the last whole tick.
        let elapsed = now.saturating_sub(self.anchor) / tick;
        if self.enabled() {
            self.anchor += elapsed * tick;
        } else {
            self.anchor = now;
        }
        self.val_at_anchor = val;
    }

    /// Virtual time of the next 1->0 transition (the interrupt), if the counter runs.
    pub fn next_zero(&self, tick: u64) -> Option<u64> {
        if !self.enabled() {
            return None;
        }
        let v = self.val_at_anchor as u64;
        if v > 0 {
            return Some(self.anchor + v * tick);
        }
        if self.load == 0 {
            return None;
        }
        Some(self.anchor + (1 + self.load as u64) * tick)
    }

    /// Called at the 1->0 transition: re-anchor there (VAL = 0).
    pub fn fire(&mut self, at: u64) {
        self.anchor = at;
        self.val_at_anchor = 0;
        self.countflag = true;
    }
}

#[derive(Debug, Clone)]
pub struct Scs {
    pub enabled: [u32; 3],
    pending: u128,
    active: u128,
    /// Priority byte per exception number (upper 4 bits implemented).
    prio: [u8; NUM_EXC],
    /// IRQ input line levels (a level-high line re-pends when not active).
    line: [u32; 3],
    pub vtor: u32,
    pub prigroup: u8,
    pub scr: u32,
    pub ccr: u32,
    pub shcsr: u32,
    pub cfsr: u32,
    pub hfsr: u32,
    pub dfsr: u32,
    pub mmfar: u32,
    pub bfar: u32,
    pub cpacr: u32,
    pub fpccr: u32,
    pub fpcar: u32,
    pub fpdscr: u32,
    pub demcr: u32,
    pub dwt_ctrl: u32,
    /// CYCCNT = cyc_base + (now - cyc_anchor) while running.
    cyc_base: u32,
    cyc_anchor: u64,
    pub systick: SysTick,
    /// Cached: some exception is pending and enabled.
    pub any_pending: bool,
}

impl Default for Scs {
    fn default() -> Self {
        Self::new()
    }
}

impl Scs {
    pub fn new() -> Self {
        Scs {
            enabled: [0; 3],
            pending: 0,
            active: 0,
            prio: [0; NUM_EXC],
            line: [0; 3],
            vtor: 0,
            prigroup: 0,
            scr: 0,
            ccr: 0x200, // STKALIGN
            shcsr: 0,
            cfsr: 0,
            hfsr: 0,
            dfsr: 0,
            mmfar: 0,
            bfar: 0,
            cpacr: 0,
            fpccr: 0xC000_0000, // ASPEN | LSPEN
            fpcar: 0,
            fpdscr: 0,
            demcr: 0,
            dwt_ctrl: 0x4000_0000, // NUMCOMP = 4
            cyc_base: 0,
            cyc_anchor: 0,
            systick: SysTick::new(),
            any_pending: false,
        }
    }

    // ----- exception state -----

    /// Priority of exception `exc` (negative for the fixed ones).
    pub fn priority(&self, exc: u32) -> i16 {
        match exc {
            1 => -3,
            EXC_NMI => -2,
            EXC_HARDFAULT => -1,
            e if (e as usize) < NUM_EXC => self.prio[e as usize] as i16,
            _ => 256,
        }
    }

    /// Group priority under the current PRIGROUP.
    pub fn group(&self, prio: i16) -> i16 {
        if prio < 0 {
            return prio;
        }
        let mask = (0xFFu16 << (self.prigroup as u16 + 1)) as u8;
        (prio as u8 & mask) as i16
    }

    fn is_enabled(&self, exc: u32) -> bool {
        match exc {
            0..=3 | EXC_SVCALL | EXC_PENDSV | EXC_SYSTICK => true,
            EXC_MEMMANAGE => self.shcsr & (1 << 16) != 0,
            EXC_BUSFAULT => self.shcsr & (1 << 17) != 0,
            EXC_USAGEFAULT => self.shcsr & (1 << 18) != 0,
            e if e >= 16 && (e as usize) < NUM_EXC => {
                let n = (e - 16) as usize;
                self.enabled[n / 32] & (1 << (n % 32)) != 0
            }
            _ => false,
        }
    }

    /// Whether a configurable fault is enabled in SHCSR (else it escalates to HardFault).
    pub fn fault_enabled(&self, exc: u32) -> bool {
        self.is_enabled(exc)
    }

    fn refresh(&mut self) {
        let mut any = false;
        let mut p = self.pending;
        while p != 0 {
            let e = p.trailing_zeros();
            if self.is_enabled(e) {
                any = true;
                break;
            }
            p &= p - 1;
        }
        self.any_pending = any;
    }

    pub fn set_pending(&mut self, exc: u32) {
        if (exc as usize) < NUM_EXC {
            self.pending |= 1u128 << exc;
            self.refresh();
        }
    }

    pub fn clear_pending(&mut self, exc: u32) {
        self.pending &= !(1u128 << exc);
        self.refresh();
    }

    pub fn is_pending(&self, exc: u32) -> bool {
        self.pending & (1u128 << exc) != 0
    }

    pub fn is_active(&self, exc: u32) -> bool {
        self.active & (1u128 << exc) != 0
    }

    /// Sets the level of IRQ line `irq`. A rising level pends the interrupt; a line held
    /// high pends it again when its handler returns.
    pub fn set_irq_line(&mut self, irq: u16, level: bool) {
        let n = irq as usize;
        if n >= NUM_IRQS {
            return;
        }
        let bit = 1u32 << (n % 32);
        if level {
            self.line[n / 32] |= bit;
            if !self.is_active(16 + irq as u32) {
                self.set_pending(16 + irq as u32);
            }
        } else {
            self.line[n / 32] &= !bit;
        }
    }

    /// Execution priority of the running code (256 = thread mode, nothing boosting).
    pub fn exec_priority(&self, m: Masks) -> i16 {
        let mut p: i16 = 256;
        let mut a = self.active;
        while a != 0 {
            let e = a.trailing_zeros();
            p = p.min(self.group(self.priority(e)));
            a &= a - 1;
        }
        if m.basepri != 0 {
            p = p.min(self.group((m.basepri & 0xF0) as i16));
        }
        if m.primask {
            p = p.min(0);
        }
        if m.faultmask {
            p = p.min(-1);
        }
        p
    }

    /// The enabled pending exception with the highest priority (lowest number on ties).
    pub fn highest_pending(&self) -> Option<u32> {
        let mut best: Option<(i16, u32)> = None;
        let mut p = self.pending;
        while p != 0 {
            let e = p.trailing_zeros();
            p &= p - 1;
            if !self.is_enabled(e) {
                continue;
            }
            let key = (self.priority(e), e);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        best.map(|b| b.1)
    }

    /// The exception that would preempt code running at execution priority `exec`.
    pub fn preempting(&self, exec: i16) -> Option<u32> {
        let e = self.highest_pending()?;
        (self.group(self.priority(e)) < exec).then_some(e)
    }

    /// Marks `exc` active and no longer pending (exception entry).
    pub fn activate(&mut self, exc: u32) {
        self.pending &= !(1u128 << exc);
        self.active |= 1u128 << exc;
        self.refresh();
    }

    /// Exception return from `exc`.
    pub fn deactivate(&mut self, exc: u32) {
        self.active &= !(1u128 << exc);
        if exc >= 16 {
            let n = (exc - 16) as usize;
            if n < NUM_IRQS && self.line[n / 32] & (1 << (n % 32)) != 0 {
                self.pending |= 1u128 << exc;
            }
        }
        self.refresh();
    }

    pub fn active_count(&self) -> u32 {
        self.active.count_ones()
    }

    /// Resets the exception state (machine reset).
    pub fn reset(&mut self) {
        *self = Scs::new();
    }

    // ----- DWT -----

    pub fn cyccnt(&self, now: u64) -> u32 {
        if self.cyc_running() {
            self.cyc_base
                .wrapping_add((now.wrapping_sub(self.cyc_anchor)) as u32)
        } else {
            self.cyc_base
        }
    }

    fn cyc_running(&self) -> bool {
        self.dwt_ctrl & 1 != 0 && self.demcr & (1 << 24) != 0
    }

    fn set_cyc(&mut self, now: u64, f: impl FnOnce(&mut Self)) {
        self.cyc_base = self.cyccnt(now);
        self.cyc_anchor = now;
        f(self);
    }

    // ----- register access -----

    /// ICSR as read.
    fn icsr(&self, current_exc: u32) -> u32 {
        let mut v = current_exc & 0x1FF;
        if let Some(p) = self.highest_pending() {
            v |= (p & 0x1FF) << 12;
        }
        if self.pending >> 16 != 0 {
            v |= 1 << 22; // ISRPENDING
        }
        // RETTOBASE: returning from the current exception goes to thread mode.
        if current_exc != 0 && self.active.count_ones() <= 1 {
            v |= 1 << 11;
        }
        if self.is_pending(EXC_SYSTICK) {
            v |= 1 << 26;
        }
        if self.is_pending(EXC_PENDSV) {
            v |= 1 << 28;
        }
        if self.is_pending(EXC_NMI) {
            v |= 1 << 31;
        }
        v
    }

    fn shcsr_read(&self) -> u32 {
        let mut v = self.shcsr & 0x0007_0000;
        let bits = [
            (EXC_MEMMANAGE, 0),
            (EXC_BUSFAULT, 1),
            (EXC_USAGEFAULT, 3),
            (EXC_SVCALL, 7),
            (12, 8),
            (EXC_PENDSV, 10),
            (EXC_SYSTICK, 11),
        ];
        for (e, b) in bits {
            if self.is_active(e) {
                v |= 1 << b;
            }
        }
        for (e, b) in [
            (EXC_USAGEFAULT, 12),
            (EXC_MEMMANAGE, 13),
            (EXC_BUSFAULT, 14),
            (EXC_SVCALL, 15),
        ] {
            if self.is_pending(e) {
                v |= 1 << b;
            }
        }
        v
    }

    /// Reads SCS register at absolute `addr`. `current_exc` is IPSR.
    pub fn read(
        &mut self,
        addr: u32,
        size: Size,
        now: u64,
        current_exc: u32,
        sysclk: u32,
        hclk: u32,
    ) -> u32 {
        let word_addr = addr & !3;
        // Byte-accessible priority registers.
        if (0xE000_E400..0xE000_E400 + NUM_IRQS as u32).contains(&addr)
            || (0xE000_ED18..0xE000_ED24).contains(&addr)
        {
            let mut v = 0u32;
            for i in 0..size.bytes() {
                let a = addr + i;
                let exc = if a >= 0xE000_ED18 {
                    4 + (a - 0xE000_ED18)
                } else {
                    16 + (a - 0xE000_E400)
                };
                let b = if (exc as usize) < NUM_EXC && exc >= 4 {
                    self.prio[exc as usize]
                } else {
                    0
                };
                v |= (b as u32) << (8 * i);
            }
            return v;
        }
        let tick = self.systick.tick_cycles(sysclk, hclk);
        let w = match word_addr {
            0xE000_E004 => 2, // ICTR: (2+1)*32 lines
            0xE000_E010 => {
                let (_, zeros) = self.systick.state(now, tick);
                let flag = self.systick.countflag || zeros > 0;
                let v = self.systick.ctrl | if flag { 1 << 16 } else { 0 };
                // COUNTFLAG clears on read.
                self.systick.rebase(now, tick);
                self.systick.countflag = false;
                v
            }
            0xE000_E014 => self.systick.load,
            0xE000_E018 => self.systick.state(now, tick).0,
            0xE000_E01C => SYSTICK_CALIB,
            0xE000_E100..=0xE000_E108 => self.enabled[((word_addr - 0xE000_E100) / 4) as usize],
            0xE000_E180..=0xE000_E188 => self.enabled[((word_addr - 0xE000_E180) / 4) as usize],
            0xE000_E200..=0xE000_E208 | 0xE000_E280..=0xE000_E288 => {
                let i = (word_addr & 0x7F) / 4;
                ((self.pending >> (16 + 32 * i)) as u32) & self.irq_mask(i)
            }
            0xE000_E300..=0xE000_E308 => {
                let i = (word_addr - 0xE000_E300) / 4;
                ((self.active >> (16 + 32 * i)) as u32) & self.irq_mask(i)
            }
            0xE000_ED00 => CPUID_M4_R0P1,
            0xE000_ED04 => self.icsr(current_exc),
            0xE000_ED08 => self.vtor,
            0xE000_ED0C => 0xFA05_0000 | ((self.prigroup as u32) << 8),
            0xE000_ED10 => self.scr,
            0xE000_ED14 => self.ccr,
            0xE000_ED24 => self.shcsr_read(),
            0xE000_ED28 => self.cfsr,
            0xE000_ED2C => self.hfsr,
            0xE000_ED30 => self.dfsr,
            0xE000_ED34 => self.mmfar,
            0xE000_ED38 => self.bfar,
            0xE000_ED3C => 0,
            // ID registers of the Cortex-M4 (TRM 4.1).
            0xE000_ED40 => 0x0000_0030,
            0xE000_ED44 => 0x0000_0200,
            0xE000_ED48 => 0x0010_0000,
            0xE000_ED4C => 0,
            0xE000_ED50 => 0x0010_0030,
            0xE000_ED54 => 0,
            0xE000_ED58 => 0x0100_0000,
            0xE000_ED5C => 0,
            0xE000_ED60 => 0x0110_1110,
            0xE000_ED64 => 0x0211_2111,
            0xE000_ED68 => 0x2123_2231,
            0xE000_ED6C => 0x0111_1131,
            0xE000_ED70 => 0x0131_0102,
            0xE000_ED88 => self.cpacr,
            0xE000_ED90 => 0, // MPU_TYPE: no regions
            0xE000_EDFC => self.demcr,
            0xE000_EF34 => self.fpccr,
            0xE000_EF38 => self.fpcar,
            0xE000_EF3C => self.fpdscr,
            0xE000_EF40 => 0x1011_0021, // MVFR0
            0xE000_EF44 => 0x1100_0011, // MVFR1
            0xE000_1000 => self.dwt_ctrl,
            0xE000_1004 => self.cyccnt(now),
            _ => 0,
        };
        pybsim_peripherals::device::extract(addr, size, w)
    }

    fn irq_mask(&self, word: u32) -> u32 {
        let lo = word as usize * 32;
        if lo >= NUM_IRQS {
            0
        } else if lo + 32 <= NUM_IRQS {
            u32::MAX
        } else {
            (1u32 << (NUM_IRQS - lo)) - 1
        }
    }

    /// Writes SCS register at absolute `addr`.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &mut self,
        addr: u32,
        size: Size,
        value: u32,
        now: u64,
        sysclk: u32,
        hclk: u32,
    ) -> ScsAction {
        let mut act = ScsAction::default();
        if (0xE000_E400..0xE000_E400 + NUM_IRQS as u32).contains(&addr)
            || (0xE000_ED18..0xE000_ED24).contains(&addr)
        {
            for i in 0..size.bytes() {
                let a = addr + i;
                let exc = if a >= 0xE000_ED18 {
                    4 + (a - 0xE000_ED18)
                } else {
                    16 + (a - 0xE000_E400)
                };
                let b = (value >> (8 * i)) as u8 & 0xF0;
                // Only configurable exceptions have a priority field.
                if (exc as usize) < NUM_EXC && exc >= 4 && !matches!(exc, 7..=10 | 13) {
                    self.prio[exc as usize] = b;
                }
            }
            self.refresh();
            return act;
        }
        let (woff, v, _mask) = pybsim_peripherals::device::lanes(addr, size, value);
        let tick = self.systick.tick_cycles(sysclk, hclk);
        match woff {
            0xE000_E010 => {
                self.systick.rebase(now, tick);
                self.systick.ctrl = v & 0x7;
                act.systick = true;
            }
            0xE000_E014 => {
                self.systick.rebase(now, tick);
                self.systick.load = v & 0x00FF_FFFF;
                act.systick = true;
            }
            0xE000_E018 => {
                self.systick.rebase(now, tick);
                self.systick.anchor = now;
                self.systick.val_at_anchor = 0;
                self.systick.countflag = false;
                act.systick = true;
            }
            0xE000_E100..=0xE000_E108 => {
                let i = ((woff - 0xE000_E100) / 4) as usize;
                self.enabled[i] |= v & self.irq_mask(i as u32);
            }
            0xE000_E180..=0xE000_E188 => {
                let i = ((woff - 0xE000_E180) / 4) as usize;
                self.enabled[i] &= !v;
            }
            0xE000_E200..=0xE000_E208 => {
                let i = (woff - 0xE000_E200) / 4;
                self.pending |= ((v & self.irq_mask(i)) as u128) << (16 + 32 * i);
            }
            0xE000_E280..=0xE000_E288 => {
                let i = (woff - 0xE000_E280) / 4;
                self.pending &= !(((v & self.irq_mask(i)) as u128) << (16 + 32 * i));
            }
            0xE000_EF00 => {
                let irq = v & 0x1FF;
                if (irq as usize) < NUM_IRQS {
                    self.pending |= 1u128 << (16 + irq);
                }
            }
            0xE000_ED04 => {
                if v & (1 << 31) != 0 {
                    self.pending |= 1 << EXC_NMI;
                }
                if v & (1 << 28) != 0 {
                    self.pending |= 1 << EXC_PENDSV;
                }
                if v & (1 << 27) != 0 {
                    self.pending &= !(1 << EXC_PENDSV);
                }
                if v & (1 << 26) != 0 {
                    self.pending |= 1 << EXC_SYSTICK;
                }
                if v & (1 << 25) != 0 {
                    self.pending &= !(1 << EXC_SYSTICK);
                }
            }
            0xE000_ED08 => self.vtor = v & 0xFFFF_FF80,
            0xE000_ED0C if v >> 16 == 0x05FA => {
                self.prigroup = ((v >> 8) & 7) as u8;
                if v & (1 << 2) != 0 {
                    act.reset = true;
                }
            }
            0xE000_ED10 => self.scr = v & 0x16,
            0xE000_ED14 => self.ccr = (v & 0x31B) | 0x200,
            0xE000_ED24 => self.shcsr = v & 0x0007_0000,
            0xE000_ED28 => self.cfsr &= !v,
            0xE000_ED2C => self.hfsr &= !v,
            0xE000_ED30 => self.dfsr &= !v,
            0xE000_ED34 => self.mmfar = v,
            0xE000_ED38 => self.bfar = v,
            0xE000_ED88 => self.cpacr = v & 0x00F0_0000,
            0xE000_EDFC => {
                self.set_cyc(now, |s| s.demcr = v & 0x010F_03F1);
                act.dwt = true;
            }
            0xE000_EF34 => self.fpccr = (self.fpccr & 0x1FF) | (v & 0xC000_0000),
            0xE000_EF38 => self.fpcar = v & !7,
            0xE000_EF3C => self.fpdscr = v & 0x07C0_0000,
            0xE000_1000 => {
                self.set_cyc(now, |s| {
                    s.dwt_ctrl = (s.dwt_ctrl & 0xFFFF_0000) | (v & 0x1FFF)
                });
                act.dwt = true;
            }
            0xE000_1004 => {
                self.set_cyc(now, |s| s.cyc_base = v);
                act.dwt = true;
            }
            _ => {}
        }
        self.refresh();
        act
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systick_counts_down_and_reloads() {
        let mut s = Scs::new();
        s.write(0xE000_E014, Size::Word, 9, 0, 16_000_000, 16_000_000);
        s.write(0xE000_E018, Size::Word, 0, 0, 16_000_000, 16_000_000);
        s.write(0xE000_E010, Size::Word, 7, 0, 16_000_000, 16_000_000);
        // VAL = 0 at enable: reloads 9 on the first tick, reaches 0 at tick 10.
        assert_eq!(s.systick.next_zero(1), Some(10));
        assert_eq!(
            s.read(0xE000_E018, Size::Word, 1, 0, 16_000_000, 16_000_000),
            9
        );
        assert_eq!(
            s.read(0xE000_E018, Size::Word, 5, 0, 16_000_000, 16_000_000),
            5
        );
        s.systick.fire(10);
        assert_eq!(s.systick.next_zero(1), Some(20));
        assert_eq!(
            s.read(0xE000_E018, Size::Word, 11, 0, 16_000_000, 16_000_000),
            9
        );
        // COUNTFLAG set once, cleared by the read.
        assert_ne!(
            s.read(0xE000_E010, Size::Word, 12, 0, 16_000_000, 16_000_000) & (1 << 16),
            0
        );
        assert_eq!(
            s.read(0xE000_E010, Size::Word, 13, 0, 16_000_000, 16_000_000) & (1 << 16),
            0
        );
    }

    #[test]
    fn priorities_group_and_preempt() {
        let mut s = Scs::new();
        s.write(0xE000_E100, Size::Word, 0b111, 0, 1, 1);
        s.write(0xE000_E400, Size::Byte, 0x80, 0, 1, 1);
        s.write(0xE000_E401, Size::Byte, 0x40, 0, 1, 1);
        s.write(0xE000_E402, Size::Byte, 0x41, 0, 1, 1); // low nibble not implemented
        assert_eq!(s.priority(18), 0x40);
        s.set_pending(16);
        s.set_pending(17);
        assert_eq!(s.preempting(256), Some(17));
        s.activate(17);
        assert_eq!(s.preempting(s.exec_priority(Masks::default())), None);
        assert_eq!(
            s.preempting(s.exec_priority(Masks {
                primask: true,
                ..Default::default()
            })),
            None
        );
        s.deactivate(17);
        assert_eq!(s.preempting(s.exec_priority(Masks::default())), Some(16));
        // PRIGROUP 5: priorities 0x80 and 0xC0 are in the same group (bits 7:6).
        s.prigroup = 5;
        assert_eq!(s.group(0x80), 0x80);
        assert_eq!(s.group(0xA0), 0x80);
    }
}
