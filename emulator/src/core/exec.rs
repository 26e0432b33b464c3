//! The hot path: what happens at every translated block, every register access and every
//! CPU exception unicorn reports.
//!
//! Time: `now` counts CPU cycles. The block hook charges each block its cost from the
//! cycle model before it runs (the cost joins `now` when the next block starts), fires
//! the events that are due, and takes pending exceptions at block boundaries. A register
//! access inside a block happens at the cycle of its own instruction. WFI with nothing
//! to do moves `now` to the next event. Nothing here reads the wall clock.

use pybsim_peripherals::device::ResetKind;
use pybsim_peripherals::Size;

use super::cpu::{Access, CpuRef, Host, Reg};
use super::cycles::{self, Art, BlockCost};
use super::fault::FaultReport;
use super::observe::Observers;
use super::platform::{Io, Platform};
use super::sched::{Key, Scheduler, Target};
use super::scs::{self, Scs};

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The slice the caller asked for is over; call `run` again to go on.
    SliceEnd,
    /// The firmware ended through semihosting with this status.
    SemihostExit(i32),
    /// The cycle budget ran out.
    Budget,
    /// A fault the firmware did not handle (no handler, a spinning fault handler, lockup).
    Fault(Box<FaultReport>),
    /// Asleep (WFI) with no event that could ever wake the CPU.
    Halted,
}

/// Where code can be: which addresses are flash (with its accelerator), which can be
/// executed at all, and from where code may be rewritten in place (RAM).
#[derive(Debug, Clone, Default)]
pub struct CodeMap {
    /// Addresses where the flash array is seen, its own address first (the one its
    /// interface is programmed with), then its aliases; and its size.
    pub flash_bases: Vec<u32>,
    pub flash_size: u32,
    /// Other ranges instructions can be fetched from: (start, length).
    pub exec: Vec<(u32, u32)>,
    /// Blocks at or above this address may be rewritten in place: their cached cost is
    /// checked against their first and last words.
    pub rewritable_from: u32,
}

impl CodeMap {
    /// The offset of `addr` in the flash array, if it is flash.
    #[inline]
    pub fn flash_offset(&self, addr: u32) -> Option<u32> {
        self.flash_bases
            .iter()
            .find(|&&b| addr >= b && addr - b < self.flash_size)
            .map(|&b| addr - b)
    }

    /// The flash array's own address.
    pub fn flash_base(&self) -> u32 {
        self.flash_bases.first().copied().unwrap_or(0)
    }

    pub fn executable(&self, addr: u32) -> bool {
        self.flash_offset(addr).is_some()
            || self.exec.iter().any(|&(s, l)| addr >= s && addr - s < l)
    }
}

/// How long a fault handler may run before the run ends with a guest-fault report.
pub const FAULT_WATCH_MS: u64 = 200;

const CACHE_BITS: u32 = 15;

#[derive(Clone)]
pub(super) struct CachedBlock {
    addr: u32,
    size: u32,
    /// First and last words of a block in RAM, to notice code rewritten in place.
    check: u64,
    cost: BlockCost,
    self_loop: bool,
}

/// The core's state apart from the CPU registers (which unicorn holds).
pub struct CoreState<E> {
    /// Virtual time: CPU cycles since power-on.
    pub now: u64,
    /// SYSCLK and HCLK (SysTick's clock source) in Hz.
    pub sysclk: u32,
    pub hclk: u32,
    /// Every change of SYSCLK: (cycle, Hz), to turn cycles into time.
    pub clock_log: Vec<(u64, u32)>,
    pub sched: Scheduler<Target<E>>,
    pub scs: Scs,
    pub art: Art,
    pub code: CodeMap,
    /// Executed instructions and blocks (for speed reports).
    pub insns: u64,
    pub blocks_run: u64,
    /// Bytes written through semihosting (SYS_WRITE0/WRITEC/WRITE).
    pub semihost_out: Vec<u8>,
    /// Every system reset the firmware or a watchdog caused, in order.
    pub resets: Vec<ResetRecord>,
    pub observers: Observers,
    pub(super) budget: u64,
    pub(super) slice_end: u64,
    pub(super) next_deadline: u64,
    pub(super) stopping: bool,
    pub(super) exit: Option<Exit>,
    pub(super) reset_requested: bool,
    /// What asked for the pending reset, for the reset flags.
    pub(super) reset_kind: Option<ResetKind>,
    cache: Vec<Option<CachedBlock>>,
    /// Cost of the block running now, added to `now` when the next block starts.
    block_cost: u64,
    /// Peripheral-access offsets of the block running now, and how many were used.
    block_mem: Option<usize>,
    block_mem_idx: usize,
    pub(super) prev_fallthrough: u32,
    pub(super) prev_taken_extra: u32,
    prev_indirect: bool,
    pub(super) unmapped: Option<(Access, u32)>,
    /// Pending bus error raised from an MMIO callback (cannot abort the instruction).
    pub(super) mmio_fault: Option<u32>,
    /// Flash bytes to put right after a guest store went through the write-protect hook.
    pub(super) flash_fixups: Vec<(u32, Vec<u8>)>,
    /// A fault taken whose handler may spin: kept for the report.
    pub(super) last_fault: Option<(String, u32)>,
    /// The machine state when that fault happened.
    pub(super) last_fault_report: Option<FaultReport>,
}

/// A system reset that happened during the run (not the power-on reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetRecord {
    pub kind: ResetKind,
    /// Virtual time of the reset, in CPU cycles and in nanoseconds since power-on.
    pub cycle: u64,
    pub ns: u64,
}

impl<E: Key> CoreState<E> {
    pub fn new(code: CodeMap, sysclk: u32, hclk: u32) -> Self {
        CoreState {
            now: 0,
            sysclk,
            hclk,
            clock_log: Vec::new(),
            sched: Scheduler::default(),
            scs: Scs::new(),
            art: Art::default(),
            code,
            insns: 0,
            blocks_run: 0,
            semihost_out: Vec::new(),
            resets: Vec::new(),
            observers: Observers::default(),
            budget: u64::MAX,
            slice_end: u64::MAX,
            next_deadline: u64::MAX,
            stopping: false,
            exit: None,
            reset_requested: false,
            reset_kind: None,
            cache: vec![None; 1 << CACHE_BITS],
            block_cost: 0,
            block_mem: None,
            block_mem_idx: 0,
            prev_fallthrough: 0,
            prev_taken_extra: 0,
            prev_indirect: false,
            unmapped: None,
            mmio_fault: None,
            flash_fixups: Vec::new(),
            last_fault: None,
            last_fault_report: None,
        }
    }

    /// Ends the current block's run: its cycles join `now`.
    pub(super) fn retire_block(&mut self) {
        self.now += self.block_cost;
        self.block_cost = 0;
        self.block_mem = None;
        self.block_mem_idx = 0;
    }

    /// Virtual time of the peripheral access being made now: the block start plus the
    /// cycles before the n-th instruction of the block that may reach a peripheral.
    pub(super) fn access_time(&mut self) -> u64 {
        let Some(b) = self.block_mem.and_then(|i| self.cache[i].as_ref()) else {
            return self.now;
        };
        let off = match b.cost.mem_offsets.get(self.block_mem_idx) {
            Some(&o) => o as u64,
            None => self.block_cost.saturating_sub(1),
        };
        self.block_mem_idx += 1;
        self.now + off.min(self.block_cost)
    }

    pub(super) fn log(&mut self, what: impl FnOnce() -> String) {
        self.observers.event(self.now, what);
    }

    pub(super) fn refresh_deadline(&mut self) {
        self.next_deadline = self
            .sched
            .next_deadline()
            .min(self.slice_end)
            .min(self.budget);
    }

    pub(super) fn stop(&mut self, cpu: &mut CpuRef, exit: Exit) {
        if self.exit.is_none() {
            self.exit = Some(exit);
        }
        self.stopping = true;
        cpu.stop();
    }

    pub(super) fn request_reset(&mut self, kind: ResetKind) {
        self.reset_requested = true;
        self.reset_kind = Some(kind);
        self.stopping = true;
    }

    pub(super) fn invalidate_cache(&mut self) {
        for e in self.cache.iter_mut() {
            *e = None;
        }
    }

    // ----- time and events -----

    pub(super) fn set_clocks(&mut self, sysclk: u32, hclk: u32) {
        self.clock_log.push((self.now, sysclk));
        self.sysclk = sysclk;
        self.hclk = hclk;
        self.reschedule_systick();
    }

    pub(super) fn reschedule_systick(&mut self) {
        let tick = self.scs.systick.tick_cycles(self.sysclk, self.hclk);
        match self.scs.systick.next_zero(tick) {
            Some(t) => self.sched.schedule(Target::SysTick, 0, t),
            None => self.sched.cancel(Target::SysTick, 0),
        }
    }

    /// Fires every event due at `now`; returns with `stopping` set when the run must end.
    pub(super) fn service<P: Platform<Event = E>>(&mut self, plat: &mut P, cpu: &mut CpuRef) {
        while let Some((at, target, token)) = self.sched.pop_due(self.now) {
            match target {
                Target::SysTick => {
                    self.observers.event(at, || "systick".into());
                    self.scs.systick.fire(at);
                    if self.scs.systick.ctrl & 2 != 0 {
                        self.scs.set_pending(scs::EXC_SYSTICK);
                    }
                    self.reschedule_systick();
                }
                Target::Platform(ev) => {
                    let mut io = Io { st: self, cpu };
                    plat.event(&mut io, at, ev, token);
                }
                Target::FaultWatch => {
                    let active = (3..=6).any(|e| self.scs.is_active(e));
                    if active {
                        let mut report = match self.last_fault_report.take() {
                            Some(r) => r,
                            None => self.report(cpu, "fault".into(), cpu.pc()),
                        };
                        report.what = format!(
                            "{} (the firmware's fault handler did not return)",
                            report.what
                        );
                        // Status registers as the handler left them.
                        report.cfsr = self.scs.cfsr;
                        report.hfsr = self.scs.hfsr;
                        self.stop(cpu, Exit::Fault(Box::new(report)));
                    }
                }
            }
        }
        self.refresh_deadline();
        if self.now >= self.budget {
            self.stop(cpu, Exit::Budget);
        } else if self.now >= self.slice_end {
            self.stop(cpu, Exit::SliceEnd);
        }
    }

    /// WFI: if an exception could wake the core, wake; else jump to the next event.
    pub(super) fn sleep<P: Platform<Event = E>>(&mut self, plat: &mut P, cpu: &mut CpuRef) {
        loop {
            // WFI wakes on any pending exception that would preempt if PRIMASK were clear.
            let mut m = Self::masks(cpu);
            m.primask = false;
            let exec = self.scs.exec_priority(m);
            if self.scs.preempting(exec).is_some() {
                return;
            }
            let next = self.next_deadline;
            if next == u64::MAX {
                self.stop(cpu, Exit::Halted);
                return;
            }
            self.log(|| format!("sleep until {next}"));
            self.now = self.now.max(next);
            self.service(plat, cpu);
            if self.stopping {
                return;
            }
        }
    }

    // ----- the block hook -----

    fn on_block<P: Platform<Event = E>>(
        &mut self,
        plat: &mut P,
        cpu: &mut CpuRef,
        addr: u32,
        size: u32,
    ) {
        self.retire_block();
        if !self.flash_fixups.is_empty() {
            self.apply_flash_fixups(cpu);
        }
        if self.stopping {
            cpu.stop();
            return;
        }
        let idx = (((addr >> 1) ^ (addr >> 16)) & ((1 << CACHE_BITS) - 1)) as usize;
        let in_ram = addr >= self.code.rewritable_from;
        let check = if in_ram {
            let a = cpu.read_u32(addr).unwrap_or(0) as u64;
            let b = cpu.read_u32((addr + size).saturating_sub(4)).unwrap_or(0) as u64;
            a | (b << 32)
        } else {
            0
        };
        let hit = matches!(&self.cache[idx], Some(c) if c.addr == addr && c.size == size && c.check == check);
        if !hit {
            if !self.code.executable(addr) {
                self.scs.cfsr |= scs::CFSR_IBUSERR;
                self.fault(
                    cpu,
                    scs::EXC_BUSFAULT,
                    format!("instruction fetch from {addr:#010x}, which holds no code memory"),
                    addr,
                );
                return;
            }
            let mut bytes = vec![0u8; size as usize];
            if cpu.read_mem(addr, &mut bytes).is_err() {
                self.scs.cfsr |= scs::CFSR_IBUSERR;
                self.fault(
                    cpu,
                    scs::EXC_BUSFAULT,
                    format!("instruction fetch from {addr:#010x} failed"),
                    addr,
                );
                return;
            }
            let cost = cycles::cost_block(addr, &bytes);
            let self_loop = bytes.len() == 2 && bytes == [0xFE, 0xE7];
            self.cache[idx] = Some(CachedBlock {
                addr,
                size,
                check,
                cost,
                self_loop,
            });
        }
        let entry = self.cache[idx].as_ref().expect("filled above");
        let self_loop = entry.self_loop;

        if self.now >= self.next_deadline {
            self.service(plat, cpu);
            if self.stopping {
                cpu.stop();
                return;
            }
        }
        if self.scs.any_pending && self.try_take(cpu, addr) {
            return;
        }
        if self_loop {
            let ipsr = cpu.reg(Reg::XPSR) & 0x1FF;
            if (3..=6).contains(&ipsr) {
                let what = self
                    .last_fault
                    .as_ref()
                    .map(|f| f.0.clone())
                    .unwrap_or_else(|| format!("fault exception {ipsr}"));
                let fpc = self.last_fault.as_ref().map(|f| f.1).unwrap_or(addr);
                let report = self.report(
                    cpu,
                    format!("{what} (the fault handler spins at {addr:#010x})"),
                    fpc,
                );
                self.stop(cpu, Exit::Fault(Box::new(report)));
                return;
            }
        }
        let Some(CachedBlock { cost, .. }) = self.cache[idx].as_ref() else {
            return;
        };
        let mut extra = 0u64;
        if addr != self.prev_fallthrough && self.prev_fallthrough != u32::MAX {
            extra += self.prev_taken_extra as u64;
            if cost.first_wide_unaligned {
                extra += 1;
            }
            if self.prev_indirect {
                extra += 1;
            }
            self.art.discontinuity();
        }
        if self.code.flash_offset(addr).is_some() {
            extra += self.art.fetch_cost(cost.first_line, &cost.line_cycles);
        }
        self.block_cost = cost.base as u64 + extra;
        self.insns += cost.insns as u64;
        if self.observers.watch_blocks() {
            self.observers.block(cpu, addr, self.block_cost, self.now);
        }
        self.blocks_run += 1;
        self.prev_fallthrough = cost.fallthrough;
        self.prev_taken_extra = cost.taken_extra;
        self.prev_indirect = cost.ends_indirect;
        self.block_mem = (!cost.mem_offsets.is_empty()).then_some(idx);
    }

    pub(super) fn apply_flash_fixups(&mut self, cpu: &mut CpuRef) {
        for (off, bytes) in std::mem::take(&mut self.flash_fixups) {
            cpu.flash_update(off, |f| {
                let n = bytes.len().min(f.len());
                f[..n].copy_from_slice(&bytes[..n]);
            });
        }
    }

    // ----- register space -----

    fn mmio_read<P: Platform<Event = E>>(
        &mut self,
        plat: &mut P,
        cpu: &mut CpuRef,
        addr: u32,
        size: Size,
    ) -> u32 {
        match addr {
            0xE000_E000..=0xE000_EFFF | 0xE000_1000..=0xE000_1FFF => {
                let ipsr = cpu.reg(Reg::XPSR) & 0x1FF;
                let t = self.access_time();
                self.scs.read(addr, size, t, ipsr, self.sysclk, self.hclk)
            }
            0x2200_0000..=0x23FF_FFFF => {
                // Bit-band alias of SRAM.
                let off = addr - 0x2200_0000;
                let byte = 0x2000_0000 + (off >> 5);
                let bit = (off >> 2) & 7;
                let mut b = [0u8];
                if cpu.read_mem(byte, &mut b).is_err() {
                    self.mmio_fault = Some(addr);
                    cpu.stop();
                    return 0;
                }
                ((b[0] >> bit) & 1) as u32
            }
            0x4200_0000..=0x43FF_FFFF => {
                // Bit-band alias of the peripheral space.
                let off = addr - 0x4200_0000;
                let byte = 0x4000_0000 + (off >> 5);
                let bit = (off >> 2) & 7;
                (self.platform_read(plat, cpu, byte, Size::Byte) >> bit) & 1
            }
            // ITM, FPB and the rest of the Arm part of the private peripheral bus.
            0xE000_0000..=0xE003_FFFF => 0,
            _ => self.platform_read(plat, cpu, addr, size),
        }
    }

    fn mmio_write<P: Platform<Event = E>>(
        &mut self,
        plat: &mut P,
        cpu: &mut CpuRef,
        addr: u32,
        size: Size,
        value: u32,
    ) {
        match addr {
            0xE000_E000..=0xE000_EFFF | 0xE000_1000..=0xE000_1FFF => {
                let t = self.access_time();
                let act = self.scs.write(addr, size, value, t, self.sysclk, self.hclk);
                if act.systick {
                    self.reschedule_systick();
                    self.refresh_deadline();
                }
                if act.reset {
                    self.log(|| "SYSRESETREQ".into());
                    self.request_reset(ResetKind::Software);
                    cpu.stop();
                }
            }
            0x2200_0000..=0x23FF_FFFF => {
                let off = addr - 0x2200_0000;
                let byte = 0x2000_0000 + (off >> 5);
                let bit = (off >> 2) & 7;
                let mut b = [0u8];
                if cpu.read_mem(byte, &mut b).is_ok() {
                    let nb = if value & 1 != 0 {
                        b[0] | (1 << bit)
                    } else {
                        b[0] & !(1 << bit)
                    };
                    let _ = cpu.write_mem(byte, &[nb]);
                } else {
                    self.mmio_fault = Some(addr);
                    cpu.stop();
                }
            }
            0x4200_0000..=0x43FF_FFFF => {
                let off = addr - 0x4200_0000;
                let byte = 0x4000_0000 + (off >> 5);
                let bit = (off >> 2) & 7;
                let old = self.platform_read(plat, cpu, byte, Size::Byte);
                let new = if value & 1 != 0 {
                    old | (1 << bit)
                } else {
                    old & !(1 << bit)
                };
                self.platform_write(plat, cpu, byte, Size::Byte, new);
            }
            0xE000_0000..=0xE003_FFFF => {}
            _ => self.platform_write(plat, cpu, addr, size, value),
        }
    }

    fn platform_read<P: Platform<Event = E>>(
        &mut self,
        plat: &mut P,
        cpu: &mut CpuRef,
        addr: u32,
        size: Size,
    ) -> u32 {
        let t = self.access_time();
        let mut io = Io { st: self, cpu };
        match plat.read(&mut io, t, addr, size) {
            Ok(v) => v,
            Err(_) => {
                self.mmio_fault = Some(addr);
                cpu.stop();
                0
            }
        }
    }

    fn platform_write<P: Platform<Event = E>>(
        &mut self,
        plat: &mut P,
        cpu: &mut CpuRef,
        addr: u32,
        size: Size,
        value: u32,
    ) {
        let t = self.access_time();
        let mut io = Io { st: self, cpu };
        if plat.write(&mut io, t, addr, size, value).is_err() {
            // Writes are buffered on silicon: the error is imprecise.
            self.scs.cfsr |= scs::CFSR_IMPRECISERR;
            self.mmio_fault = Some(addr);
            cpu.stop();
        }
    }

    fn on_write_protected<P: Platform<Event = E>>(
        &mut self,
        plat: &mut P,
        cpu: &mut CpuRef,
        addr: u32,
        size: u32,
        value: u32,
    ) -> bool {
        let Some(off) = self.code.flash_offset(addr) else {
            self.unmapped = Some((Access::Write, addr));
            return false;
        };
        let n = size.min(4) as usize;
        let mut old = vec![0u8; n];
        let flash_base = self.code.flash_base();
        let _ = cpu.read_mem(flash_base + off, &mut old);
        let t = self.access_time();
        let programmed = {
            let mut io = Io { st: self, cpu };
            plat.flash_store(&mut io, t, flash_base + off, size_of(size), value)
        };
        let expected: Vec<u8> = if programmed {
            old.iter()
                .zip(value.to_le_bytes())
                .map(|(o, v)| o & v)
                .collect()
        } else {
            old
        };
        self.flash_fixups.push((off, expected));
        self.invalidate_cache();
        true
    }
}

pub(super) fn size_of(n: u32) -> Size {
    match n {
        1 => Size::Byte,
        2 => Size::Half,
        _ => Size::Word,
    }
}

/// The core unicorn calls back into: its state and the platform around it.
pub struct Core<P: Platform> {
    pub st: CoreState<P::Event>,
    pub plat: P,
}

impl<P: Platform> Host for Core<P> {
    fn on_block(&mut self, cpu: &mut CpuRef, addr: u32, size: u32) {
        self.st.on_block(&mut self.plat, cpu, addr, size);
    }

    fn on_interrupt(&mut self, cpu: &mut CpuRef, intno: u32) {
        self.st.on_interrupt(cpu, intno);
    }

    fn on_invalid(&mut self, cpu: &mut CpuRef) -> bool {
        let pc = cpu.pc();
        match cpu.read_u16(pc) {
            // WFE and YIELD: hints. WFE sleeps like WFI here (no event register modelled).
            Ok(0xBF20) | Ok(0xBF10) => {
                cpu.set_pc(pc + 2);
                true
            }
            _ => false,
        }
    }

    fn mmio_read(&mut self, cpu: &mut CpuRef, addr: u32, size: u32) -> u32 {
        self.st.mmio_read(&mut self.plat, cpu, addr, size_of(size))
    }

    fn mmio_write(&mut self, cpu: &mut CpuRef, addr: u32, size: u32, value: u32) {
        self.st
            .mmio_write(&mut self.plat, cpu, addr, size_of(size), value)
    }

    fn on_unmapped(&mut self, _cpu: &mut CpuRef, access: Access, addr: u32, _size: u32) {
        self.st.unmapped = Some((access, addr));
    }

    fn on_write_protected(&mut self, cpu: &mut CpuRef, addr: u32, size: u32, value: u32) -> bool {
        self.st
            .on_write_protected(&mut self.plat, cpu, addr, size, value)
    }
}
