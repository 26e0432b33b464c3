//! The machine: an STM32F405 with its memories, the Cortex-M4 system control space, the
//! peripheral bus and one virtual clock, driven through unicorn.
//!
//! Time: `now` counts CPU cycles. The block hook charges each translated block its cost
//! from the cycle model before it runs, fires the events that are due, and takes pending
//! exceptions at block boundaries. WFI with nothing to do moves `now` to the next event.
//! Nothing here reads the wall clock or host randomness.

use std::cell::RefCell;
use std::rc::Rc;

use pybsim_peripherals::console::Console;
use pybsim_peripherals::device::{AfSignal, ResetKind};
use pybsim_peripherals::exti::Exti;
use pybsim_peripherals::flash::Flash;
use pybsim_peripherals::gpio::{Gpio, Mode as GpioMode};
use pybsim_peripherals::i2c::I2c;
use pybsim_peripherals::pwr::Pwr;
use pybsim_peripherals::rcc::{Rcc, ResetCause};
use pybsim_peripherals::syscfg::Syscfg;
use pybsim_peripherals::timer::Timer;
use pybsim_peripherals::usart::Usart;
use pybsim_peripherals::{Clocks, Ctx, Device, Effect, Size};

use crate::core::cpu::{Access, Backing, Cpu, CpuRef, Host, Reg, Region, UcError};
use crate::core::cycles::{self, Art, BlockCost};
use crate::core::sched::{Scheduler, Target};
use crate::core::scs::{self, Masks, Scs};
use crate::loader::Image;
use crate::soc::bus::Bus;

#[path = "soc/dma.rs"]
pub mod dma_engine;
#[path = "soc/spi.rs"]
mod spi_route;
#[path = "soc/usb_host.rs"]
pub mod usb_host;

pub const FLASH_BASE: u32 = 0x0800_0000;
pub const FLASH_SIZE: u32 = 1024 * 1024;
pub const SRAM_BASE: u32 = 0x2000_0000;
pub const SRAM_SIZE: u32 = 128 * 1024;
pub const CCM_BASE: u32 = 0x1000_0000;
pub const CCM_SIZE: u32 = 64 * 1024;
pub const BKPSRAM_BASE: u32 = 0x4002_4000;
pub const SYSMEM_BASE: u32 = 0x1FFF_0000;
/// System memory (bootloader), OTP and the device identity registers, read-only.
pub const SYSMEM_SIZE: u32 = 0x8000;
pub const OPTION_BYTES_BASE: u32 = 0x1FFF_C000;
pub const UID_ADDR: u32 = 0x1FFF_7A10;
pub const FLASH_SIZE_REG: u32 = 0x1FFF_7A22;

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

/// A system reset that happened during the run (not the power-on reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetRecord {
    pub kind: ResetKind,
    /// Virtual time of the reset, in CPU cycles and in nanoseconds since power-on.
    pub cycle: u64,
    pub ns: u64,
}

/// A guest fault, as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultReport {
    pub what: String,
    pub regs: [u32; 16],
    pub xpsr: u32,
    pub cfsr: u32,
    pub hfsr: u32,
    pub bfar: Option<u32>,
    pub mmfar: Option<u32>,
    /// Return addresses, innermost first: the faulting PC, the stacked PC of each
    /// exception frame found, and LR.
    pub backtrace: Vec<u32>,
    pub cycles: u64,
}

/// Decodes CFSR/HFSR bits into their names.
pub fn decode_fault_status(cfsr: u32, hfsr: u32) -> Vec<&'static str> {
    const CFSR: &[(u32, &str)] = &[
        (1 << 0, "IACCVIOL (instruction access violation)"),
        (1 << 1, "DACCVIOL (data access violation)"),
        (1 << 3, "MUNSTKERR"),
        (1 << 4, "MSTKERR"),
        (1 << 5, "MLSPERR"),
        (1 << 7, "MMARVALID"),
        (1 << 8, "IBUSERR (instruction bus error)"),
        (1 << 9, "PRECISERR (precise data bus error)"),
        (1 << 10, "IMPRECISERR (imprecise data bus error)"),
        (1 << 11, "UNSTKERR"),
        (1 << 12, "STKERR (stacking error)"),
        (1 << 13, "LSPERR"),
        (1 << 15, "BFARVALID"),
        (1 << 16, "UNDEFINSTR (undefined instruction)"),
        (1 << 17, "INVSTATE (invalid state: Thumb bit clear)"),
        (1 << 18, "INVPC (invalid EXC_RETURN)"),
        (1 << 19, "NOCP (coprocessor disabled)"),
        (1 << 24, "UNALIGNED"),
        (1 << 25, "DIVBYZERO"),
    ];
    let mut v: Vec<&str> = CFSR
        .iter()
        .filter(|(b, _)| cfsr & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if hfsr & scs::HFSR_FORCED != 0 {
        v.push("HFSR.FORCED (escalated to HardFault)");
    }
    if hfsr & scs::HFSR_VECTTBL != 0 {
        v.push("HFSR.VECTTBL (vector table read fault)");
    }
    if hfsr & (1 << 31) != 0 {
        v.push("HFSR.DEBUGEVT (breakpoint with no debugger)");
    }
    v
}

const CACHE_BITS: u32 = 15;

/// Alternate function number of each timer's channels (STM32F405 datasheet, Table 9).
fn timer_af(tim: u8) -> u8 {
    match tim {
        1 | 2 => 1,
        3..=5 => 2,
        8..=11 => 3,
        _ => 9,
    }
}

/// Timer channel pins of the STM32F405 (datasheet, Table 9): (timer, channel,
/// complementary, port, pin).
const TIM_PINS: &[(u8, u8, bool, u8, u8)] = &[
    (1, 1, false, 0, 8),
    (1, 2, false, 0, 9),
    (1, 3, false, 0, 10),
    (1, 4, false, 0, 11),
    (1, 1, false, 4, 9),
    (1, 2, false, 4, 11),
    (1, 3, false, 4, 13),
    (1, 4, false, 4, 14),
    (1, 1, true, 0, 7),
    (1, 1, true, 1, 13),
    (1, 2, true, 1, 0),
    (1, 2, true, 1, 14),
    (1, 3, true, 1, 1),
    (1, 3, true, 1, 15),
    (2, 1, false, 0, 0),
    (2, 1, false, 0, 5),
    (2, 1, false, 0, 15),
    (2, 2, false, 0, 1),
    (2, 2, false, 1, 3),
    (2, 3, false, 0, 2),
    (2, 3, false, 1, 10),
    (2, 4, false, 0, 3),
    (2, 4, false, 1, 11),
    (3, 1, false, 0, 6),
    (3, 1, false, 1, 4),
    (3, 1, false, 2, 6),
    (3, 2, false, 0, 7),
    (3, 2, false, 1, 5),
    (3, 2, false, 2, 7),
    (3, 3, false, 1, 0),
    (3, 3, false, 2, 8),
    (3, 4, false, 1, 1),
    (3, 4, false, 2, 9),
    (4, 1, false, 1, 6),
    (4, 2, false, 1, 7),
    (4, 3, false, 1, 8),
    (4, 4, false, 1, 9),
    (4, 1, false, 3, 12),
    (4, 2, false, 3, 13),
    (4, 3, false, 3, 14),
    (4, 4, false, 3, 15),
    (5, 1, false, 0, 0),
    (5, 2, false, 0, 1),
    (5, 3, false, 0, 2),
    (5, 4, false, 0, 3),
    (8, 1, false, 2, 6),
    (8, 2, false, 2, 7),
    (8, 3, false, 2, 8),
    (8, 4, false, 2, 9),
    (8, 1, true, 0, 5),
    (8, 1, true, 0, 7),
    (8, 2, true, 1, 0),
    (8, 2, true, 1, 14),
    (8, 3, true, 1, 1),
    (8, 3, true, 1, 15),
    (9, 1, false, 0, 2),
    (9, 2, false, 0, 3),
    (10, 1, false, 1, 8),
    (11, 1, false, 1, 9),
    (12, 1, false, 1, 14),
    (12, 2, false, 1, 15),
    (13, 1, false, 0, 6),
    (14, 1, false, 0, 7),
];

/// How long a fault handler may run before the run ends with a guest-fault report.
pub const FAULT_WATCH_MS: u64 = 200;

#[derive(Clone)]
struct CachedBlock {
    addr: u32,
    size: u32,
    /// First and last words of a block in RAM, to notice code rewritten in place.
    check: u64,
    cost: BlockCost,
    self_loop: bool,
}

/// Watches execution for profilers and tracers. Called from the block hook: keep it
/// cheap. It must not change what the machine computes (virtual time included).
pub trait Observer {
    /// A block at `addr` starts at virtual time `now` and costs `cycles`.
    fn block(&mut self, cpu: &CpuRef, addr: u32, cycles: u64, now: u64);
    /// Exception `exc` was entered (`entered` true) or returned from, at `now`.
    fn exception(&mut self, _cpu: &CpuRef, _exc: u32, _entered: bool, _now: u64) {}
}

/// Interrupt line wiring of the console/UART outputs to the host.
#[derive(Debug, Default, Clone)]
pub struct Outputs {
    /// Bytes written to the pybsim console device.
    pub console: Vec<u8>,
    /// Bytes written through semihosting (SYS_WRITE0/WRITEC/WRITE).
    pub semihost: Vec<u8>,
    /// Bytes sent by each U(S)ART (index 1-6) that no wire carries to another UART.
    pub uart: [Vec<u8>; 7],
}

/// Everything the hooks see: the state of the machine apart from the CPU registers.
pub struct System {
    pub now: u64,
    pub clocks: Clocks,
    pub sched: Scheduler,
    pub scs: Scs,
    pub art: Art,
    pub bus: Bus,
    pub out: Outputs,
    /// Executed instructions (for speed reports).
    pub insns: u64,
    pub blocks_run: u64,
    /// UART wiring: `uart_route[n]` = the UART that receives what UART n sends.
    pub uart_route: [Option<u8>; 7],
    /// (IRQ line, device) pairs whose device holds the line high.
    irq_sources: Vec<(u16, u16)>,
    /// Every system reset the firmware or a watchdog caused, in order.
    pub resets: Vec<ResetRecord>,
    /// Pin wiring: a driven level on the first pin drives the second, as (port, pin).
    pub pin_wires: Vec<((u8, u8), (u8, u8))>,
    /// SPI links: attached SPI devices (see spi_route.rs).
    spi: spi_route::SpiRoute,
    /// Pins that power a device on an I2C bus: ((port, pin), bus index of the I2C block,
    /// 7-bit device address). The device is on while the pin is driven high.
    pub pin_power: Vec<((u8, u8), u16, u8)>,
    /// Bus index of GPIO port n, of EXTI and of SYSCFG, found once.
    gpio_idx: [Option<u16>; 9],
    exti_idx: Option<u16>,
    syscfg_idx: Option<u16>,
    /// Every GPIO output change, when recording pin traces: (time, port, pin, level).
    pub pin_trace: Option<Vec<(u64, u8, u8, bool)>>,
    budget: u64,
    slice_end: u64,
    next_deadline: u64,
    stopping: bool,
    exit: Option<Exit>,
    reset_requested: bool,
    /// What asked for the pending reset, for the RCC_CSR reset flags.
    reset_kind: Option<ResetKind>,
    cache: Vec<Option<CachedBlock>>,
    /// Cost of the block running now, added to `now` when the next block starts.
    block_cost: u64,
    /// Peripheral-access offsets of the block running now, and how many were used.
    block_mem: Option<usize>,
    block_mem_idx: usize,
    prev_fallthrough: u32,
    prev_taken_extra: u32,
    prev_indirect: bool,
    unmapped: Option<(Access, u32)>,
    /// Pending bus error raised from an MMIO callback (cannot abort the instruction).
    mmio_fault: Option<u32>,
    /// Flash bytes to put right after a guest store went through the write-protect hook.
    flash_fixups: Vec<(u32, Vec<u8>)>,
    /// A fault taken whose handler may spin: kept for the report.
    last_fault: Option<(String, u32)>,
    /// The machine state when that fault happened.
    last_fault_report: Option<FaultReport>,
    /// Every change of SYSCLK: (cycle, Hz), to turn cycles into time.
    pub clock_log: Vec<(u64, u32)>,
    /// Profiler or tracer watching blocks and exceptions.
    pub observer: Option<Box<dyn Observer>>,
    /// Log of (time, what) of every event and exception, when recording.
    pub event_log: Option<Vec<(u64, String)>>,
    effects: Vec<Effect>,
    /// DMA controllers, the DAC and the DMA request lines that are high.
    dma_wiring: dma_engine::DmaWiring,
    /// Virtual time of the access or event whose effects are being applied (DMA request
    /// edges take effect then), when it is not `now`.
    fx_time: Option<u64>,
    /// The USB host on the board's connector, once attached (usb_host.rs).
    pub usb_host: Option<Box<usb_host::UsbHost>>,
}

fn in_flash(addr: u32) -> Option<u32> {
    if (FLASH_BASE..FLASH_BASE + FLASH_SIZE).contains(&addr) {
        Some(addr - FLASH_BASE)
    } else if addr < FLASH_SIZE {
        Some(addr)
    } else {
        None
    }
}

fn executable(addr: u32) -> bool {
    in_flash(addr).is_some()
        || (SRAM_BASE..SRAM_BASE + SRAM_SIZE).contains(&addr)
        || (SYSMEM_BASE..SYSMEM_BASE + 0x7800).contains(&addr)
}

impl System {
    fn new(bus: Bus) -> Self {
        let mut gpio_idx = [None; 9];
        for (port, slot) in gpio_idx.iter_mut().enumerate() {
            *slot = bus.index_of(&format!("GPIO{}", (b'A' + port as u8) as char));
        }
        let exti_idx = bus.index_of("EXTI");
        let syscfg_idx = bus.index_of("SYSCFG");
        let dma_wiring = dma_engine::DmaWiring::find(&bus);
        let mut sys = System::new_inner(bus);
        sys.dma_wiring = dma_wiring;
        sys.gpio_idx = gpio_idx;
        sys.exti_idx = exti_idx;
        sys.syscfg_idx = syscfg_idx;
        sys
    }

    fn new_inner(bus: Bus) -> Self {
        System {
            now: 0,
            clocks: Clocks::RESET,
            sched: Scheduler::default(),
            scs: Scs::new(),
            art: Art::default(),
            bus,
            out: Outputs::default(),
            insns: 0,
            blocks_run: 0,
            uart_route: [None; 7],
            pin_wires: Vec::new(),
            resets: Vec::new(),
            spi: Default::default(),
            pin_power: Vec::new(),
            irq_sources: Vec::new(),
            gpio_idx: [None; 9],
            exti_idx: None,
            syscfg_idx: None,
            pin_trace: None,
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
            event_log: None,
            observer: None,
            clock_log: Vec::new(),
            effects: Vec::new(),
            dma_wiring: Default::default(),
            fx_time: None,
            usb_host: None,
        }
    }

    /// Ends the current block's run: its cycles join `now`.
    fn retire_block(&mut self) {
        self.now += self.block_cost;
        self.block_cost = 0;
        self.block_mem = None;
        self.block_mem_idx = 0;
    }

    /// Virtual time of the peripheral access being made now: the block start plus the
    /// cycles before the n-th instruction of the block that may reach a peripheral.
    fn access_time(&mut self) -> u64 {
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

    fn log(&mut self, what: impl FnOnce() -> String) {
        if let Some(l) = self.event_log.as_mut() {
            l.push((self.now, what()));
        }
    }

    fn refresh_deadline(&mut self) {
        self.next_deadline = self
            .sched
            .next_deadline()
            .min(self.slice_end)
            .min(self.budget);
    }

    fn stop(&mut self, cpu: &mut CpuRef, exit: Exit) {
        if self.exit.is_none() {
            self.exit = Some(exit);
        }
        self.stopping = true;
        cpu.stop();
    }

    // ----- time and events -----

    fn reschedule_systick(&mut self) {
        let tick = self
            .scs
            .systick
            .tick_cycles(self.clocks.sysclk, self.clocks.hclk);
        match self.scs.systick.next_zero(tick) {
            Some(t) => self.sched.schedule(Target::SysTick, 0, t),
            None => self.sched.cancel(Target::SysTick, 0),
        }
    }

    /// Fires every event due at `now`; returns with `stopping` set when the run must end.
    fn service(&mut self, cpu: &mut CpuRef) {
        while let Some((at, target, token)) = self.sched.pop_due(self.now) {
            match target {
                Target::SysTick => {
                    if let Some(l) = self.event_log.as_mut() {
                        l.push((at, "systick".into()));
                    }
                    self.scs.systick.fire(at);
                    if self.scs.systick.ctrl & 2 != 0 {
                        self.scs.set_pending(scs::EXC_SYSTICK);
                    }
                    self.reschedule_systick();
                }
                Target::Device(i) => {
                    let mut fx = std::mem::take(&mut self.effects);
                    {
                        let mut ctx = Ctx::new(at, self.clocks, &mut fx);
                        self.bus.devices[i as usize].dev.event(&mut ctx, token);
                    }
                    let prev = self.fx_time.replace(at);
                    self.apply_effects(cpu, i, &mut fx);
                    self.fx_time = prev;
                    self.effects = fx;
                    if self.dma_wiring.is_dma(i) {
                        self.dma_serve(cpu, i, at);
                    }
                }
                Target::UartRx(n) => self.uart_deliver(cpu, n, token as u8, at),
                Target::UsbHost => self.usb_host_event(cpu, at, token),
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

    /// Runs `f` on device `idx` as its concrete model type `T` with a context at time
    /// `at`; returns what `f` returned (None if the device is not a `T`) and the effects.
    fn with_model<T: Device, R>(
        &mut self,
        idx: u16,
        at: u64,
        f: impl FnOnce(&mut T, &mut Ctx) -> R,
    ) -> (Option<R>, Vec<Effect>) {
        let mut fx = Vec::new();
        let mut ctx = Ctx::new(at, self.clocks, &mut fx);
        let dd: &mut dyn std::any::Any = self.bus.devices[idx as usize].dev.as_mut();
        let r = dd.downcast_mut::<T>().map(|m| f(m, &mut ctx));
        (r, fx)
    }

    /// The bus index of GPIO port `port` (0 = A).
    fn gpio(&self, port: u8) -> Option<u16> {
        self.gpio_idx.get(port as usize).copied().flatten()
    }

    fn uart_deliver(&mut self, cpu: &mut CpuRef, n: u8, byte: u8, at: u64) {
        let name = if n == 4 || n == 5 {
            format!("UART{n}")
        } else {
            format!("USART{n}")
        };
        let Some(idx) = self.bus.index_of(&name) else {
            return;
        };
        let (_, mut fx) = self.with_model(idx, at, |u: &mut Usart, ctx| u.receive(ctx, byte));
        let prev = self.fx_time.replace(at);
        self.apply_effects(cpu, idx, &mut fx);
        self.fx_time = prev;
    }

    /// Applies what device `dev` asked for.
    fn apply_effects(&mut self, cpu: &mut CpuRef, dev: u16, fx: &mut Vec<Effect>) {
        let is_gpio = self.gpio_idx.contains(&Some(dev));
        if fx.is_empty() && !is_gpio {
            return;
        }
        let mut work: Vec<(u16, Effect)> = fx.drain(..).map(|e| (dev, e)).collect();
        if is_gpio {
            self.route_edges(cpu, dev, &mut work);
        }
        let mut i = 0;
        while i < work.len() {
            let (d, e) = work[i].clone();
            i += 1;
            match e {
                Effect::Irq { irq, level } => {
                    // Lines shared by several devices (TIM1 with TIM9-11, ...) are the
                    // OR of their sources.
                    let key = (irq, d);
                    let pos = self.irq_sources.iter().position(|k| *k == key);
                    match (level, pos) {
                        (true, None) => self.irq_sources.push(key),
                        (false, Some(p)) => {
                            self.irq_sources.swap_remove(p);
                        }
                        _ => {}
                    }
                    let any = self.irq_sources.iter().any(|k| k.0 == irq);
                    self.scs.set_irq_line(irq, any);
                }
                Effect::Schedule { token, at } => {
                    self.sched.schedule(Target::Device(d), token, at);
                }
                Effect::Cancel { token } => self.sched.cancel(Target::Device(d), token),
                Effect::Clocks(c) => {
                    if c != self.clocks {
                        self.clocks = c;
                        self.clock_log.push((self.now, c.sysclk));
                        self.log(|| format!("clocks sysclk={} hclk={}", c.sysclk, c.hclk));
                        for j in 0..self.bus.devices.len() {
                            if j as u16 == d {
                                continue;
                            }
                            let mut more = Vec::new();
                            {
                                let mut ctx = Ctx::new(self.now, self.clocks, &mut more);
                                self.bus.devices[j].dev.clocks_changed(&mut ctx);
                            }
                            work.extend(more.into_iter().map(|e| (j as u16, e)));
                        }
                        self.reschedule_systick();
                    }
                }
                Effect::UartTx { n, byte, end } => {
                    match self.uart_route.get(n as usize).copied().flatten() {
                        Some(to) => self.sched.push(Target::UartRx(to), byte as u32, end),
                        None => {
                            if let Some(v) = self.out.uart.get_mut(n as usize) {
                                v.push(byte);
                            }
                        }
                    }
                }
                Effect::FlashErase { addr, len } => {
                    if let Some(off) = in_flash(addr) {
                        cpu.flash_update(off, |f| {
                            let n = (len as usize).min(f.len());
                            f[..n].fill(0xFF);
                        });
                        self.invalidate_cache();
                    }
                }
                Effect::FlashProgram { addr, data } => {
                    if let Some(off) = in_flash(addr) {
                        cpu.flash_update(off, |f| {
                            for (dst, src) in f.iter_mut().zip(&data) {
                                *dst &= *src;
                            }
                        });
                        self.invalidate_cache();
                    }
                }
                Effect::FlashAcr {
                    latency,
                    prefetch,
                    icache,
                    dcache: _,
                } => {
                    self.art.latency = latency as u32;
                    self.art.prefetch = prefetch;
                    if !icache {
                        self.art.flush();
                    }
                    self.art.icache = icache;
                }
                Effect::Reset(kind) => {
                    self.log(|| format!("reset requested: {kind:?}"));
                    self.reset_requested = true;
                    self.reset_kind = Some(kind);
                    self.stopping = true;
                    cpu.stop();
                }
                Effect::ConsoleTx(bytes) => self.out.console.extend_from_slice(&bytes),
                Effect::UsbDeviceChanged => self.usb_wake(),
                Effect::ExtiLine { line, level } => {
                    if let Some(ei) = self.exti_idx {
                        let (_, more) = self.with_model(ei, self.now, |x: &mut Exti, ctx| {
                            x.input(ctx, line, level)
                        });
                        work.extend(more.into_iter().map(|e| (ei, e)));
                    }
                }
                Effect::SpiFrame {
                    n,
                    word,
                    bits,
                    mode,
                    end,
                } => self.spi_frame(d, n, word, bits, mode, end, &mut work),
                Effect::DmaRequest { signal, level } => {
                    self.dma_request(signal, level, &mut work);
                }
                Effect::DmaPeripheralEnd { signal } => {
                    self.dma_peripheral_end(signal, &mut work);
                }
                Effect::TimerTrgo { tim, at } => self.timer_trgo(tim, at, &mut work),
                Effect::PinOutput { port, pin, level } => {
                    if let Some(t) = self.pin_trace.as_mut() {
                        t.push((self.now, port, pin, level));
                    }
                    self.power_i2c_devices(port, pin, level);
                    let peers: Vec<(u8, u8)> = self
                        .pin_wires
                        .iter()
                        .filter(|w| w.0 == (port, pin))
                        .map(|w| w.1)
                        .collect();
                    for (pp, pn) in peers {
                        if let Some(gi) = self.gpio(pp) {
                            let (_, more) = self.with_model(gi, self.now, |g: &mut Gpio, ctx| {
                                g.set_external(ctx, pn, Some(level))
                            });
                            work.extend(more.into_iter().map(|e| (gi, e)));
                            self.route_edges(cpu, gi, &mut work);
                        }
                    }
                }
                Effect::AfRelease {
                    signal:
                        AfSignal::TimCh {
                            tim,
                            ch,
                            complementary,
                        },
                } => {
                    for &(t, c, n, port, pin) in TIM_PINS {
                        if (t, c, n) != (tim, ch, complementary) {
                            continue;
                        }
                        let Some(gi) = self.gpio(port) else {
                            continue;
                        };
                        let (_, more) = self
                            .with_model(gi, self.now, |g: &mut Gpio, ctx| g.release_af(ctx, pin));
                        work.extend(more.into_iter().map(|e| (gi, e)));
                        self.route_edges(cpu, gi, &mut work);
                    }
                }
                Effect::AfRelease { .. } => {}
                Effect::AfOutput { signal, level } => {
                    let AfSignal::TimCh {
                        tim,
                        ch,
                        complementary,
                    } = signal
                    else {
                        continue;
                    };
                    let af = timer_af(tim);
                    for &(t, c, n, port, pin) in TIM_PINS {
                        if (t, c, n) != (tim, ch, complementary) {
                            continue;
                        }
                        let Some(gi) = self.gpio(port) else {
                            continue;
                        };
                        let (_, more) = self.with_model(gi, self.now, |g: &mut Gpio, ctx| {
                            if g.pin_mode(pin) == GpioMode::Af && g.af(pin) == af {
                                g.set_af_level(ctx, pin, level);
                            }
                        });
                        work.extend(more.into_iter().map(|e| (gi, e)));
                    }
                }
            }
        }
        self.refresh_deadline();
    }

    /// Switches the I2C devices that pin (`port`, `pin`) powers.
    fn power_i2c_devices(&mut self, port: u8, pin: u8, level: bool) {
        let targets: Vec<(u16, u8)> = self
            .pin_power
            .iter()
            .filter(|p| p.0 == (port, pin))
            .map(|p| (p.1, p.2))
            .collect();
        for (idx, addr) in targets {
            self.with_model(idx, self.now, |i: &mut I2c, ctx| {
                i.set_device_power(ctx, addr, level)
            });
        }
    }

    /// Sends the input edges of GPIO device `dev` to EXTI, through SYSCFG_EXTICR.
    fn route_edges(&mut self, _cpu: &mut CpuRef, dev: u16, work: &mut Vec<(u16, Effect)>) {
        let Some(port) = self.gpio_idx.iter().position(|g| *g == Some(dev)) else {
            return;
        };
        let (Some(edges), _) = self.with_model(dev, self.now, |g: &mut Gpio, _| {
            g.has_input_edges().then(|| g.take_input_edges())
        }) else {
            return;
        };
        let Some(edges) = edges else { return };
        self.route_timer_inputs(dev, port as u8, &edges, work);
        let (Some(ei), Some(si)) = (self.exti_idx, self.syscfg_idx) else {
            return;
        };
        for (pin, level) in edges {
            let (src, _) = self.with_model(si, self.now, |s: &mut Syscfg, _| s.exti_port(pin));
            if src != Some(port as u8) {
                continue;
            }
            let (_, more) =
                self.with_model(ei, self.now, |x: &mut Exti, ctx| x.input(ctx, pin, level));
            work.extend(more.into_iter().map(|e| (ei, e)));
        }
    }

    /// Sends the input edges of GPIO port `port` (bus index `dev`) to the timer inputs
    /// TI1-TI4 of the channel pins that are in alternate-function mode with their
    /// timer's AF number (input capture).
    fn route_timer_inputs(
        &mut self,
        dev: u16,
        port: u8,
        edges: &[(u8, bool)],
        work: &mut Vec<(u16, Effect)>,
    ) {
        for &(pin, level) in edges {
            for &(tim, ch, comp, p, n) in TIM_PINS {
                if comp || p != port || n != pin {
                    continue;
                }
                let (sel, _) = self.with_model(dev, self.now, |g: &mut Gpio, _| {
                    g.pin_mode(pin) == GpioMode::Af && g.af(pin) == timer_af(tim)
                });
                if sel != Some(true) {
                    continue;
                }
                let Some(ti) = self.bus.index_of(&format!("TIM{tim}")) else {
                    continue;
                };
                let (_, more) = self.with_model(ti, self.now, |t: &mut Timer, ctx| {
                    t.input_edge(ctx, ch as usize - 1, level)
                });
                work.extend(more.into_iter().map(|e| (ti, e)));
            }
        }
    }

    /// Gives every EXTI line 0-15 the level of the pin SYSCFG_EXTICR selects for it, as
    /// the line's input multiplexer does (after a remap or a reset).
    fn sync_exti(&mut self, cpu: &mut CpuRef) {
        let (Some(ei), Some(si)) = (self.exti_idx, self.syscfg_idx) else {
            return;
        };
        let mut levels = [false; 16];
        for (line, lv) in levels.iter_mut().enumerate() {
            let (port, _) =
                self.with_model(si, self.now, |s: &mut Syscfg, _| s.exti_port(line as u8));
            if let Some(gi) = port.and_then(|p| self.gpio(p)) {
                let (idr, _) = self.with_model(gi, self.now, |g: &mut Gpio, _| g.idr());
                *lv = idr.unwrap_or(0) & (1 << line) != 0;
            }
        }
        let (_, mut fx) = self.with_model(ei, self.now, |x: &mut Exti, ctx| {
            for (line, lv) in levels.iter().enumerate() {
                x.input(ctx, line as u8, *lv);
            }
        });
        self.apply_effects(cpu, ei, &mut fx);
    }

    /// Drives pin `pin` of port `port` from outside (stimuli, switch), or releases it.
    pub fn drive_pin(&mut self, cpu: &mut CpuRef, port: u8, pin: u8, level: Option<bool>) {
        let Some(gi) = self.gpio(port) else {
            return;
        };
        let (_, mut fx) = self.with_model(gi, self.now, |g: &mut Gpio, ctx| {
            g.set_external(ctx, pin, level)
        });
        self.apply_effects(cpu, gi, &mut fx);
    }

    fn invalidate_cache(&mut self) {
        for e in self.cache.iter_mut() {
            *e = None;
        }
    }

    // ----- exceptions -----

    fn masks(cpu: &CpuRef) -> Masks {
        Masks {
            primask: cpu.reg(Reg::PRIMASK) & 1 != 0,
            faultmask: cpu.reg(Reg::FAULTMASK) & 1 != 0,
            basepri: cpu.reg(Reg::BASEPRI) as u8,
        }
    }

    /// Takes the pending exception that can preempt, if any. `ret` is the address the
    /// exception returns to.
    fn try_take(&mut self, cpu: &mut CpuRef, ret: u32) -> bool {
        let exec = self.scs.exec_priority(Self::masks(cpu));
        if let Some(exc) = self.scs.preempting(exec) {
            self.enter(cpu, exc, ret);
            return true;
        }
        false
    }

    /// Exception entry (ARMv7-M B1.5.6): stack the frame, switch to handler mode, jump.
    fn enter(&mut self, cpu: &mut CpuRef, exc: u32, ret: u32) {
        let xpsr = cpu.reg(Reg::XPSR);
        let control = cpu.reg(Reg::CONTROL);
        let ipsr = xpsr & 0x1FF;
        let handler = ipsr != 0;
        let use_psp = !handler && control & 2 != 0;
        let fpca = control & 4 != 0;
        let msp = cpu.reg(Reg::MSP);
        let psp = cpu.reg(Reg::PSP);
        let sp = if use_psp { psp } else { msp };
        let words: u32 = if fpca { 26 } else { 8 };
        let mut frame = sp.wrapping_sub(words * 4);
        let realign = frame & 4 != 0;
        if realign {
            frame = frame.wrapping_sub(4);
        }
        let regs = [Reg::R0, Reg::R1, Reg::R2, Reg::R3, Reg::R12, Reg::LR];
        let mut buf = Vec::with_capacity(words as usize * 4);
        for r in regs {
            buf.extend_from_slice(&cpu.reg(r).to_le_bytes());
        }
        buf.extend_from_slice(&(ret & !1).to_le_bytes());
        let stacked_xpsr = (xpsr & !(1 << 9)) | if realign { 1 << 9 } else { 0 };
        buf.extend_from_slice(&stacked_xpsr.to_le_bytes());
        if fpca {
            for k in 0..16 {
                let r = fp_reg(k);
                buf.extend_from_slice(&cpu.reg(r).to_le_bytes());
            }
            buf.extend_from_slice(&cpu.reg(Reg::FPSCR).to_le_bytes());
            buf.extend_from_slice(&0u32.to_le_bytes());
        }
        if cpu.write_mem(frame, &buf).is_err() {
            // Stacking error: the stack pointer is not in RAM.
            self.scs.cfsr |= scs::CFSR_STKERR;
            if exc == scs::EXC_HARDFAULT || handler {
                self.lockup(cpu, format!("stacking error: SP {sp:#010x} is not in RAM"));
                return;
            }
            self.scs.hfsr |= scs::HFSR_FORCED;
            // Without a usable stack, a HardFault cannot be stacked either.
            self.lockup(cpu, format!("stacking error: SP {sp:#010x} is not in RAM"));
            return;
        }
        let (new_msp, new_psp) = if use_psp { (msp, frame) } else { (frame, psp) };
        if use_psp && control & 1 == 0 {
            // Thread mode on PSP, privileged: select MSP while still in thread mode.
            cpu.set_reg(Reg::CONTROL, control & !2);
        }
        let new_xpsr = (xpsr & 0xF80F_0000) | (1 << 24) | exc;
        cpu.set_reg(Reg::XPSR_NZCVQG, new_xpsr);
        let ctl_now = cpu.reg(Reg::CONTROL);
        cpu.set_reg(Reg::CONTROL, ctl_now & !4);
        cpu.set_reg(Reg::MSP, new_msp);
        cpu.set_reg(Reg::PSP, new_psp);
        let exc_return = 0xFFFF_FFE1
            | if fpca { 0 } else { 0x10 }
            | if handler { 0 } else { 8 }
            | if use_psp { 4 } else { 0 };
        cpu.set_reg(Reg::LR, exc_return);
        let vector = match cpu.read_u32(self.scs.vtor.wrapping_add(4 * exc)) {
            Ok(v) => v,
            Err(_) => {
                self.scs.hfsr |= scs::HFSR_VECTTBL;
                self.lockup(cpu, format!("vector table read fault for exception {exc}"));
                return;
            }
        };
        self.scs.activate(exc);
        let mut cost = cycles::EXC_ENTRY;
        if fpca && self.scs.fpccr & (1 << 30) == 0 {
            cost += cycles::FP_STACKING;
        }
        self.now += cost;
        self.art.discontinuity();
        self.prev_fallthrough = u32::MAX;
        self.prev_taken_extra = 0;
        self.log(|| format!("enter {exc}"));
        if let Some(o) = self.observer.as_mut() {
            o.exception(cpu, exc, true, self.now);
        }
        if vector & !1 == 0 || !executable(vector & !1) {
            let what = match &self.last_fault {
                Some((w, _)) if exc <= 6 => w.clone(),
                _ => format!("exception {exc} taken but its vector is {vector:#010x}"),
            };
            let report = self.report(cpu, format!("{what} (no handler)"), ret);
            self.stop(cpu, Exit::Fault(Box::new(report)));
            return;
        }
        cpu.set_pc(vector);
        cpu.rebuild_mode_flags();
    }

    /// Exception return (ARMv7-M B1.5.8), with tail-chaining.
    fn exception_return(&mut self, cpu: &mut CpuRef) {
        let exc_return = cpu.pc() | 1;
        let ipsr = cpu.reg(Reg::XPSR) & 0x1FF;
        if exc_return >> 5 != 0x07FF_FFFF || !matches!(exc_return & 0xF, 1 | 9 | 0xD) {
            self.scs.cfsr |= scs::CFSR_INVPC;
            self.fault(
                cpu,
                scs::EXC_USAGEFAULT,
                "invalid EXC_RETURN".into(),
                exc_return,
            );
            return;
        }
        self.scs.deactivate(ipsr);
        self.log(|| format!("return {ipsr}"));
        if let Some(o) = self.observer.as_mut() {
            o.exception(cpu, ipsr, false, self.now);
        }
        let to_thread = exc_return & 8 != 0;
        let use_psp = exc_return & 4 != 0;
        let ext = exc_return & 0x10 == 0;
        // Tail-chain when a pending exception outranks the context we return to.
        let m = Self::masks(cpu);
        let exec = self.scs.exec_priority(m);
        if let Some(exc) = self.scs.preempting(exec) {
            let xpsr = cpu.reg(Reg::XPSR);
            cpu.set_reg(Reg::XPSR_NZCVQG, (xpsr & !0x1FF) | exc);
            let vector = cpu
                .read_u32(self.scs.vtor.wrapping_add(4 * exc))
                .unwrap_or(0);
            self.scs.activate(exc);
            cpu.set_reg(Reg::LR, exc_return);
            self.now += cycles::TAIL_CHAIN;
            self.art.discontinuity();
            self.prev_fallthrough = u32::MAX;
            self.log(|| format!("tail-chain {exc}"));
            if vector & !1 == 0 || !executable(vector & !1) {
                let report = self.report(cpu, format!("exception {exc} has no handler"), 0);
                self.stop(cpu, Exit::Fault(Box::new(report)));
                return;
            }
            cpu.set_pc(vector);
            cpu.rebuild_mode_flags();
            return;
        }
        let msp = cpu.reg(Reg::MSP);
        let psp = cpu.reg(Reg::PSP);
        let sp = if use_psp { psp } else { msp };
        let words = if ext { 26 } else { 8 };
        let mut frame = vec![0u8; words * 4];
        if cpu.read_mem(sp, &mut frame).is_err() {
            self.scs.cfsr |= 1 << 11; // UNSTKERR
            self.lockup(
                cpu,
                format!("unstacking error: SP {sp:#010x} is not in RAM"),
            );
            return;
        }
        let w = |i: usize| u32::from_le_bytes(frame[i * 4..i * 4 + 4].try_into().unwrap());
        let xpsr = w(7);
        let mut new_sp = sp + (words as u32) * 4;
        if xpsr & (1 << 9) != 0 {
            new_sp += 4;
        }
        for (i, r) in [Reg::R0, Reg::R1, Reg::R2, Reg::R3, Reg::R12, Reg::LR]
            .into_iter()
            .enumerate()
        {
            cpu.set_reg(r, w(i));
        }
        let pc = w(6);
        if ext {
            for k in 0..16 {
                cpu.set_reg(fp_reg(k), w(8 + k));
            }
            cpu.set_reg(Reg::FPSCR, w(24));
        }
        let (new_msp, new_psp) = if use_psp {
            (msp, new_sp)
        } else {
            (new_sp, psp)
        };
        let control = cpu.reg(Reg::CONTROL);
        let npriv = control & 1;
        if to_thread {
            if npriv != 0 {
                cpu.set_reg(Reg::CONTROL, control & !1);
            }
            cpu.set_reg(Reg::XPSR_NZCVQG, xpsr & !0x1FF & !(1 << 9));
            cpu.set_reg(
                Reg::CONTROL,
                npriv | if use_psp { 2 } else { 0 } | if ext { 4 } else { 0 },
            );
        } else {
            cpu.set_reg(Reg::XPSR_NZCVQG, xpsr & !(1 << 9));
            cpu.set_reg(Reg::CONTROL, (control & !4) | if ext { 4 } else { 0 });
        }
        cpu.set_reg(Reg::MSP, new_msp);
        cpu.set_reg(Reg::PSP, new_psp);
        cpu.set_pc(pc);
        cpu.rebuild_mode_flags();
        self.now += cycles::EXC_EXIT;
        self.art.discontinuity();
        self.prev_fallthrough = u32::MAX;
        if xpsr & (1 << 24) == 0 {
            self.scs.cfsr |= scs::CFSR_INVSTATE;
            self.fault(
                cpu,
                scs::EXC_USAGEFAULT,
                "return to a frame with the Thumb bit clear".into(),
                pc,
            );
        }
    }

    /// Raises a synchronous fault `exc` whose return address is `ret`: taken if enabled
    /// and allowed by priority, else escalated to HardFault, else lockup.
    fn fault(&mut self, cpu: &mut CpuRef, exc: u32, what: String, ret: u32) {
        self.log(|| format!("fault {exc}: {what}"));
        self.last_fault = Some((what.clone(), ret));
        let mut at_fault = self.report(cpu, what.clone(), ret);
        at_fault.regs[15] = ret;
        self.last_fault_report = Some(at_fault);
        let exec = self.scs.exec_priority(Self::masks(cpu));
        let mut target = exc;
        if exc != scs::EXC_HARDFAULT
            && (!self.scs.fault_enabled(exc) || self.scs.group(self.scs.priority(exc)) >= exec)
        {
            target = scs::EXC_HARDFAULT;
            self.scs.hfsr |= scs::HFSR_FORCED;
        }
        if target == scs::EXC_HARDFAULT && exec <= -1 {
            self.lockup(cpu, what);
            return;
        }
        // A handler that reports the fault and never returns (prints, blinks, spins)
        // ends the run after FAULT_WATCH of board time, with the fault's report.
        let watch = self.now + self.clocks.sysclk as u64 / 1000 * FAULT_WATCH_MS;
        self.sched.schedule(Target::FaultWatch, 0, watch);
        self.refresh_deadline();
        self.enter(cpu, target, ret);
    }

    fn lockup(&mut self, cpu: &mut CpuRef, what: String) {
        let pc = cpu.pc();
        let report = self.report(cpu, format!("lockup: {what}"), pc);
        self.stop(cpu, Exit::Fault(Box::new(report)));
    }

    fn report(&mut self, cpu: &CpuRef, what: String, fault_pc: u32) -> FaultReport {
        let mut regs = [0u32; 16];
        let ids = [
            Reg::R0,
            Reg::R1,
            Reg::R2,
            Reg::R3,
            Reg::R4,
            Reg::R5,
            Reg::R6,
            Reg::R7,
            Reg::R8,
            Reg::R9,
            Reg::R10,
            Reg::R11,
            Reg::R12,
            Reg::SP,
            Reg::LR,
            Reg::PC,
        ];
        for (i, r) in ids.into_iter().enumerate() {
            regs[i] = cpu.reg(r);
        }
        let mut bt = vec![fault_pc];
        // Walk the exception frames on the main stack when in handler mode.
        let lr = regs[14];
        if lr >> 28 == 0xF {
            let sp = if lr & 4 != 0 {
                cpu.reg(Reg::PSP)
            } else {
                cpu.reg(Reg::MSP)
            };
            if let (Ok(pc), Ok(lr2)) = (cpu.read_u32(sp + 24), cpu.read_u32(sp + 20)) {
                bt.push(pc);
                bt.push(lr2 & !1);
            }
        } else {
            bt.push(lr & !1);
        }
        bt.dedup();
        let cfsr = self.scs.cfsr;
        FaultReport {
            what,
            regs,
            xpsr: cpu.reg(Reg::XPSR),
            cfsr,
            hfsr: self.scs.hfsr,
            bfar: (cfsr & scs::CFSR_BFARVALID != 0).then_some(self.scs.bfar),
            mmfar: (cfsr & (1 << 7) != 0).then_some(self.scs.mmfar),
            backtrace: bt,
            cycles: self.now,
        }
    }

    fn bus_fault_data(&mut self, cpu: &mut CpuRef, addr: u32, ret: u32) {
        self.scs.cfsr |= scs::CFSR_PRECISERR | scs::CFSR_BFARVALID;
        self.scs.bfar = addr;
        self.fault(
            cpu,
            scs::EXC_BUSFAULT,
            format!("bus error: nothing answers at {addr:#010x}"),
            ret,
        );
    }

    // ----- semihosting -----

    fn semihost(&mut self, cpu: &mut CpuRef) {
        let op = cpu.reg(Reg::R0);
        let arg = cpu.reg(Reg::R1);
        let mut ret: u32 = 0;
        match op {
            0x03 => {
                let mut b = [0u8];
                if cpu.read_mem(arg, &mut b).is_ok() {
                    self.out.semihost.push(b[0]);
                }
            }
            0x04 => {
                let mut a = arg;
                let mut b = [0u8];
                while cpu.read_mem(a, &mut b).is_ok() && b[0] != 0 && a - arg < 1 << 20 {
                    self.out.semihost.push(b[0]);
                    a += 1;
                }
            }
            0x05 => {
                let (fd, buf, len) = (
                    cpu.read_u32(arg).unwrap_or(0),
                    cpu.read_u32(arg + 4).unwrap_or(0),
                    cpu.read_u32(arg + 8).unwrap_or(0),
                );
                let mut data = vec![0u8; len.min(1 << 20) as usize];
                if (fd == 1 || fd == 2) && cpu.read_mem(buf, &mut data).is_ok() {
                    self.out.semihost.extend_from_slice(&data);
                } else {
                    ret = len;
                }
            }
            0x10 => ret = (self.now / (self.clocks.sysclk as u64 / 100).max(1)) as u32,
            0x11 => ret = (self.now / self.clocks.sysclk.max(1) as u64) as u32,
            0x13 => ret = 0,
            0x18 => {
                let code = if arg == 0x20026 { 0 } else { 1 };
                self.stop(cpu, Exit::SemihostExit(code));
            }
            0x20 => {
                let reason = cpu.read_u32(arg).unwrap_or(0);
                let sub = cpu.read_u32(arg + 4).unwrap_or(1);
                let code = if reason == 0x20026 { sub as i32 } else { 1 };
                self.stop(cpu, Exit::SemihostExit(code));
            }
            _ => {
                tracing::warn!(t = self.now, op, "semihosting operation not modelled");
                ret = u32::MAX;
            }
        }
        cpu.set_reg(Reg::R0, ret);
        let pc = cpu.pc();
        cpu.set_pc(pc + 2);
    }

    // ----- memory-mapped system space -----

    fn scs_read(&mut self, cpu: &mut CpuRef, addr: u32, size: Size) -> u32 {
        match addr {
            0xE000_E000..=0xE000_EFFF | 0xE000_1000..=0xE000_1FFF => {
                let ipsr = cpu.reg(Reg::XPSR) & 0x1FF;
                let t = self.access_time();
                self.scs
                    .read(addr, size, t, ipsr, self.clocks.sysclk, self.clocks.hclk)
            }
            // DBGMCU_IDCODE: DEV_ID 0x413 (STM32F405/407), REV_ID 0x1007 (revision 1).
            0xE004_2000 => 0x1007_6413,
            _ => 0,
        }
    }

    fn scs_write(&mut self, cpu: &mut CpuRef, addr: u32, size: Size, value: u32) {
        if let 0xE000_E000..=0xE000_EFFF | 0xE000_1000..=0xE000_1FFF = addr {
            let t = self.access_time();
            let act = self
                .scs
                .write(addr, size, value, t, self.clocks.sysclk, self.clocks.hclk);
            if act.systick {
                self.reschedule_systick();
                self.refresh_deadline();
            }
            if act.reset {
                self.log(|| "SYSRESETREQ".into());
                self.reset_requested = true;
                self.reset_kind = Some(ResetKind::Software);
                self.stopping = true;
                cpu.stop();
            }
        }
    }

    fn periph_read(&mut self, cpu: &mut CpuRef, addr: u32, size: Size) -> u32 {
        let mut fx = std::mem::take(&mut self.effects);
        let t = self.access_time();
        let r = {
            let mut ctx = Ctx::new(t, self.clocks, &mut fx);
            self.bus.read(&mut ctx, addr, size)
        };
        let v = match r {
            Ok((idx, v)) => {
                let prev = self.fx_time.replace(t);
                self.apply_effects(cpu, idx, &mut fx);
                self.fx_time = prev;
                v
            }
            Err(_) => {
                self.mmio_fault = Some(addr);
                cpu.stop();
                0
            }
        };
        self.effects = fx;
        v
    }

    fn periph_write(&mut self, cpu: &mut CpuRef, addr: u32, size: Size, value: u32) {
        let mut fx = std::mem::take(&mut self.effects);
        let t = self.access_time();
        let r = {
            let mut ctx = Ctx::new(t, self.clocks, &mut fx);
            self.bus.write(&mut ctx, addr, size, value)
        };
        match r {
            Ok(idx) => {
                let prev = self.fx_time.replace(t);
                self.apply_effects(cpu, idx, &mut fx);
                self.fx_time = prev;
                if Some(idx) == self.syscfg_idx {
                    self.sync_exti(cpu);
                }
                // PWR_CR.DBP gates writes to the backup domain (RCC_BDCR).
                if self.bus.devices[idx as usize].name == "PWR" {
                    let dbp = self.bus.get_mut::<Pwr>("PWR").map(|p| p.dbp());
                    if let (Some(dbp), Some(rcc)) = (dbp, self.bus.get_mut::<Rcc>("RCC")) {
                        rcc.set_dbp(dbp);
                    }
                }
            }
            Err(_) => {
                // Writes are buffered on silicon: the error is imprecise.
                self.scs.cfsr |= scs::CFSR_IMPRECISERR;
                self.mmio_fault = Some(addr);
                cpu.stop();
            }
        }
        self.effects = fx;
    }

    fn apply_flash_fixups(&mut self, cpu: &mut CpuRef) {
        for (off, bytes) in std::mem::take(&mut self.flash_fixups) {
            cpu.flash_update(off, |f| {
                let n = bytes.len().min(f.len());
                f[..n].copy_from_slice(&bytes[..n]);
            });
        }
    }
}

fn fp_reg(k: usize) -> Reg {
    const S: [Reg; 16] = [
        Reg::S0,
        Reg::S1,
        Reg::S2,
        Reg::S3,
        Reg::S4,
        Reg::S5,
        Reg::S6,
        Reg::S7,
        Reg::S8,
        Reg::S9,
        Reg::S10,
        Reg::S11,
        Reg::S12,
        Reg::S13,
        Reg::S14,
        Reg::S15,
    ];
    S[k]
}

fn size_of(n: u32) -> Size {
    match n {
        1 => Size::Byte,
        2 => Size::Half,
        _ => Size::Word,
    }
}

impl Host for System {
    fn on_block(&mut self, cpu: &mut CpuRef, addr: u32, size: u32) {
        self.retire_block();
        if !self.flash_fixups.is_empty() {
            self.apply_flash_fixups(cpu);
        }
        if self.stopping {
            cpu.stop();
            return;
        }
        let idx = (((addr >> 1) ^ (addr >> 16)) & ((1 << CACHE_BITS) - 1)) as usize;
        let in_ram = addr >= SRAM_BASE;
        let check = if in_ram {
            let a = cpu.read_u32(addr).unwrap_or(0) as u64;
            let b = cpu.read_u32((addr + size).saturating_sub(4)).unwrap_or(0) as u64;
            a | (b << 32)
        } else {
            0
        };
        let hit = matches!(&self.cache[idx], Some(c) if c.addr == addr && c.size == size && c.check == check);
        if !hit {
            if !executable(addr) {
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
            self.service(cpu);
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
        if in_flash(addr).is_some() {
            extra += self.art.fetch_cost(cost.first_line, &cost.line_cycles);
        }
        self.block_cost = cost.base as u64 + extra;
        self.insns += cost.insns as u64;
        if let Some(o) = self.observer.as_mut() {
            o.block(cpu, addr, self.block_cost, self.now);
        }
        self.blocks_run += 1;
        self.prev_fallthrough = cost.fallthrough;
        self.prev_taken_extra = cost.taken_extra;
        self.prev_indirect = cost.ends_indirect;
        self.block_mem = (!cost.mem_offsets.is_empty()).then_some(idx);
    }

    fn on_interrupt(&mut self, cpu: &mut CpuRef, intno: u32) {
        match intno {
            8 => self.exception_return(cpu),
            2 => {
                let ret = cpu.pc();
                let exec = self.scs.exec_priority(Self::masks(cpu));
                if self.scs.group(self.scs.priority(scs::EXC_SVCALL)) < exec {
                    self.enter(cpu, scs::EXC_SVCALL, ret);
                } else {
                    self.scs.hfsr |= scs::HFSR_FORCED;
                    self.fault(
                        cpu,
                        scs::EXC_HARDFAULT,
                        "SVC executed where SVCall cannot be taken".into(),
                        ret,
                    );
                }
            }
            7 => {
                let pc = cpu.pc();
                if cpu.read_u16(pc) == Ok(0xBEAB) {
                    self.semihost(cpu);
                } else {
                    self.scs.hfsr |= 1 << 31;
                    self.fault(cpu, scs::EXC_HARDFAULT, "BKPT with no debugger".into(), pc);
                }
            }
            18 => {
                self.scs.cfsr |= scs::CFSR_INVSTATE;
                let pc = cpu.pc();
                self.fault(
                    cpu,
                    scs::EXC_USAGEFAULT,
                    "invalid state (Thumb bit clear)".into(),
                    pc,
                );
            }
            22 => {
                self.scs.cfsr |= scs::CFSR_UNALIGNED;
                let pc = cpu.pc();
                self.fault(cpu, scs::EXC_USAGEFAULT, "unaligned access".into(), pc);
            }
            17 => {
                self.scs.cfsr |= scs::CFSR_NOCP;
                let pc = cpu.pc();
                self.fault(cpu, scs::EXC_USAGEFAULT, "coprocessor access".into(), pc);
            }
            3 => {
                let pc = cpu.pc();
                self.scs.cfsr |= scs::CFSR_IACCVIOL;
                self.fault(
                    cpu,
                    scs::EXC_MEMMANAGE,
                    format!("instruction fetch from {pc:#010x} (execute-never region)"),
                    pc,
                );
            }
            _ => {
                let pc = cpu.pc();
                let report = self.report(cpu, format!("CPU exception {intno} not modelled"), pc);
                self.stop(cpu, Exit::Fault(Box::new(report)));
            }
        }
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
        let size = size_of(size);
        match addr >> 24 {
            0xE0 => self.scs_read(cpu, addr, size),
            0x22 | 0x23 => {
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
            0x42 | 0x43 => {
                let off = addr - 0x4200_0000;
                let byte = 0x4000_0000 + (off >> 5);
                let bit = (off >> 2) & 7;
                (self.periph_read(cpu, byte, Size::Byte) >> bit) & 1
            }
            _ => self.periph_read(cpu, addr, size),
        }
    }

    fn mmio_write(&mut self, cpu: &mut CpuRef, addr: u32, size: u32, value: u32) {
        let size = size_of(size);
        match addr >> 24 {
            0xE0 => self.scs_write(cpu, addr, size, value),
            0x22 | 0x23 => {
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
            0x42 | 0x43 => {
                let off = addr - 0x4200_0000;
                let byte = 0x4000_0000 + (off >> 5);
                let bit = (off >> 2) & 7;
                let old = self.periph_read(cpu, byte, Size::Byte);
                let new = if value & 1 != 0 {
                    old | (1 << bit)
                } else {
                    old & !(1 << bit)
                };
                self.periph_write(cpu, byte, Size::Byte, new);
            }
            _ => self.periph_write(cpu, addr, size, value),
        }
    }

    fn on_unmapped(&mut self, _cpu: &mut CpuRef, access: Access, addr: u32, _size: u32) {
        self.unmapped = Some((access, addr));
    }

    fn on_write_protected(&mut self, cpu: &mut CpuRef, addr: u32, size: u32, value: u32) -> bool {
        let Some(off) = in_flash(addr) else {
            self.unmapped = Some((Access::Write, addr));
            return false;
        };
        let n = size.min(4) as usize;
        let mut old = vec![0u8; n];
        let _ = cpu.read_mem(FLASH_BASE + off, &mut old);
        let mut programmed = false;
        if let Some(i) = self.bus.index_of("FLASH") {
            let t = self.access_time();
            let (r, mut fx) = self.with_model(i, t, |f: &mut Flash, ctx| {
                f.program(ctx, FLASH_BASE + off, size_of(size), value)
            });
            programmed = r.unwrap_or(false);
            // The flash interface's FlashProgram effect ANDs the value in; the store
            // that unicorn performs after this hook is undone by the fixup below.
            fx.retain(|e| !matches!(e, Effect::FlashProgram { .. }));
            self.apply_effects(cpu, i, &mut fx);
        }
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

/// Machine settings.
pub struct MachineConfig {
    /// Devices to mount: name (as in RM0090), base, size, model.
    pub devices: Vec<(String, u32, u32, Box<dyn Device>)>,
    /// The 96-bit unique device ID (RM0090 §39.1).
    pub uid: [u8; 12],
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            devices: Vec::new(),
            uid: [
                0x33, 0x00, 0x2A, 0x00, 0x0D, 0x47, 0x31, 0x34, 0x31, 0x36, 0x32, 0x30,
            ],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("unicorn refused the machine setup: {0:?}")]
    Unicorn(UcError),
    #[error("{0}")]
    Image(String),
}

impl From<UcError> for MachineError {
    fn from(e: UcError) -> Self {
        MachineError::Unicorn(e)
    }
}

/// An STM32F405 board ready to run firmware.
pub struct Machine {
    cpu: Cpu<System>,
    sys: Rc<RefCell<System>>,
}

impl Machine {
    pub fn new(config: MachineConfig) -> Result<Machine, MachineError> {
        let mut bus = Bus::default();
        for (name, base, size, dev) in config.devices {
            bus.mount(&name, base, size, dev);
        }
        let pages = bus.pages();
        let sys = Rc::new(RefCell::new(System::new(bus)));
        let mut sysmem = vec![0u8; SYSMEM_SIZE as usize];
        let uid_off = (UID_ADDR - SYSMEM_BASE) as usize;
        sysmem[uid_off..uid_off + 12].copy_from_slice(&config.uid);
        // Factory calibration words (STM32F405 datasheet, temperature sensor and
        // VREFINT calibration values): VREFIN_CAL at 0x1FFF_7A2A, TS_CAL1 (30 °C) and
        // TS_CAL2 (110 °C) after it, as 12-bit codes at VDDA = 3.3 V of the typical
        // 1.21 V, 0.7725 V and 0.9725 V (what the ADC model converts).
        let cal_off = (0x1FFF_7A2A - SYSMEM_BASE) as usize;
        for (i, v) in [1501u16, 958, 1207].iter().enumerate() {
            sysmem[cal_off + 2 * i..cal_off + 2 * i + 2].copy_from_slice(&v.to_le_bytes());
        }
        let fs_off = (FLASH_SIZE_REG - SYSMEM_BASE) as usize;
        sysmem[fs_off..fs_off + 2].copy_from_slice(&((FLASH_SIZE / 1024) as u16).to_le_bytes());
        // OTP area erased.
        let otp = (0x1FFF_7800 - SYSMEM_BASE) as usize;
        sysmem[otp..otp + 528].fill(0xFF);
        // Option bytes (RM0090 §3.7.1): RDP level 0 (0xAA), USER 0xEF... as shipped.
        let mut opt = vec![0u8; 0x1000];
        opt[..16].copy_from_slice(&[
            0xEF, 0xAA, 0x10, 0x55, 0xFF, 0x0F, 0x00, 0xF0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        let mut regions = vec![
            Region {
                start: 0,
                len: FLASH_SIZE,
                exec: true,
                writable: false,
                backing: Backing::Flash {
                    aliases: vec![0, FLASH_BASE],
                },
            },
            Region {
                start: SRAM_BASE,
                len: SRAM_SIZE,
                exec: true,
                writable: true,
                backing: Backing::Ram { init: Vec::new() },
            },
            Region {
                start: CCM_BASE,
                len: CCM_SIZE,
                exec: false,
                writable: true,
                backing: Backing::Ram { init: Vec::new() },
            },
            Region {
                start: BKPSRAM_BASE,
                len: 0x1000,
                exec: false,
                writable: true,
                backing: Backing::Ram { init: Vec::new() },
            },
            Region {
                start: SYSMEM_BASE,
                len: SYSMEM_SIZE,
                exec: true,
                writable: false,
                backing: Backing::Ram { init: sysmem },
            },
            Region {
                start: OPTION_BYTES_BASE,
                len: 0x1000,
                exec: false,
                writable: false,
                backing: Backing::Ram { init: opt },
            },
            // Private peripheral bus: ITM, DWT, FPB; SCS; DBGMCU.
            Region {
                start: 0xE000_0000,
                len: 0x3000,
                exec: false,
                writable: true,
                backing: Backing::Mmio,
            },
            Region {
                start: 0xE000_E000,
                len: 0x1000,
                exec: false,
                writable: true,
                backing: Backing::Mmio,
            },
            Region {
                start: 0xE004_2000,
                len: 0x1000,
                exec: false,
                writable: true,
                backing: Backing::Mmio,
            },
            // Bit-band aliases of SRAM and of the peripherals.
            Region {
                start: 0x2200_0000,
                len: 0x0200_0000,
                exec: false,
                writable: true,
                backing: Backing::Mmio,
            },
            Region {
                start: 0x4200_0000,
                len: 0x0200_0000,
                exec: false,
                writable: true,
                backing: Backing::Mmio,
            },
        ];
        for p in pages {
            if p == BKPSRAM_BASE {
                continue;
            }
            regions.push(Region {
                start: p,
                len: 0x1000,
                exec: false,
                writable: true,
                backing: Backing::Mmio,
            });
        }
        let cpu = Cpu::new(sys.clone(), vec![0xFF; FLASH_SIZE as usize], &regions)?;
        Ok(Machine { cpu, sys })
    }

    pub fn sys(&self) -> std::cell::RefMut<'_, System> {
        self.sys.borrow_mut()
    }

    /// Copies an image's segments into flash and RAM.
    pub fn load(&mut self, image: &Image) -> Result<(), MachineError> {
        for seg in &image.segments {
            if let Some(off) = in_flash(seg.addr) {
                if off as usize + seg.data.len() > FLASH_SIZE as usize {
                    return Err(MachineError::Image(format!(
                        "{}: segment at {:#010x} runs past the end of flash",
                        image.path.display(),
                        seg.addr
                    )));
                }
                let data = seg.data.clone();
                self.cpu
                    .with(|c| c.flash_update(off, |f| f[..data.len()].copy_from_slice(&data)));
            } else {
                let ok = self.cpu.with(|c| c.write_mem(seg.addr, &seg.data));
                if ok.is_err() {
                    return Err(MachineError::Image(format!(
                        "{}: segment at {:#010x} ({} bytes) lies outside flash and RAM",
                        image.path.display(),
                        seg.addr,
                        seg.data.len()
                    )));
                }
            }
        }
        self.sys.borrow_mut().invalidate_cache();
        Ok(())
    }

    /// Writes bytes into the flash array at absolute address `addr` (host side).
    pub fn write_flash(&mut self, addr: u32, data: &[u8]) {
        if let Some(off) = in_flash(addr) {
            self.cpu.with(|c| {
                c.flash_update(off, |f| {
                    let n = data.len().min(f.len());
                    f[..n].copy_from_slice(&data[..n]);
                })
            });
            self.sys.borrow_mut().invalidate_cache();
        }
    }

    pub fn flash(&self) -> &[u8] {
        self.cpu.flash()
    }

    /// Reads `n` words of directly mapped memory (0 where unreadable).
    pub fn read_words(&mut self, addr: u32, n: usize) -> Vec<u32> {
        self.cpu.with(|c| {
            (0..n as u32)
                .map(|i| c.read_u32(addr + 4 * i).unwrap_or(0))
                .collect()
        })
    }

    /// Power-on or system reset: core and peripherals to their reset state, SP and PC
    /// from the vector table at address 0 (flash, BOOT0 low). Memory keeps its contents.
    pub fn reset(&mut self) {
        let kind = self.sys.borrow().reset_kind;
        if let Some(kind) = kind {
            let ns = self.virtual_ns();
            let mut s = self.sys.borrow_mut();
            let cycle = s.now;
            s.resets.push(ResetRecord { kind, cycle, ns });
        }
        let sys = self.sys.clone();
        self.cpu.with(|cpu| {
            let mut s = sys.borrow_mut();
            s.scs.reset();
            s.sched.clear();
            s.irq_sources.clear();
            s.dma_wiring.reset_lines();
            s.art = Art::default();
            s.clocks = Clocks::RESET;
            let now = s.now;
            if now > 0 {
                s.clock_log.push((now, Clocks::RESET.sysclk));
            }
            s.stopping = false;
            s.reset_requested = false;
            s.flash_fixups.clear();
            s.prev_fallthrough = u32::MAX;
            let mut fx = Vec::new();
            for i in 0..s.bus.devices.len() {
                {
                    let now = s.now;
                    let mut ctx = Ctx::new(now, Clocks::RESET, &mut fx);
                    s.bus.devices[i].dev.reset(&mut ctx);
                }
                // Reset may schedule events (ready flags) but must not change clocks.
                let mut mine = std::mem::take(&mut fx);
                s.apply_effects(cpu, i as u16, &mut mine);
            }
            s.sync_exti(cpu);
            // Pins are inputs again: the devices they powered are off.
            let powered: Vec<(u8, u8)> = s.pin_power.iter().map(|p| p.0).collect();
            for (port, pin) in powered {
                s.power_i2c_devices(port, pin, false);
            }
            // The reset flags of RCC_CSR say why (a power-on reset keeps the reset
            // values, PORRSTF/PINRSTF/BORRSTF); DBP is 0 again after any reset.
            let cause = s.reset_kind.take().map(|k| match k {
                ResetKind::Software => ResetCause::Software,
                ResetKind::Iwdg => ResetCause::Iwdg,
                ResetKind::Wwdg => ResetCause::Wwdg,
            });
            if let Some(rcc) = s.bus.get_mut::<Rcc>("RCC") {
                if let Some(c) = cause {
                    rcc.set_reset_cause(c);
                }
                rcc.set_dbp(false);
            }
            s.refresh_deadline();
            let sp = cpu.read_u32(0).unwrap_or(0);
            let pc = cpu.read_u32(4).unwrap_or(0);
            for r in [
                Reg::R0,
                Reg::R1,
                Reg::R2,
                Reg::R3,
                Reg::R4,
                Reg::R5,
                Reg::R6,
                Reg::R7,
                Reg::R8,
                Reg::R9,
                Reg::R10,
                Reg::R11,
                Reg::R12,
            ] {
                cpu.set_reg(r, 0);
            }
            cpu.set_reg(Reg::PRIMASK, 0);
            cpu.set_reg(Reg::FAULTMASK, 0);
            cpu.set_reg(Reg::BASEPRI, 0);
            cpu.set_reg(Reg::XPSR_NZCVQG, 1 << 24);
            cpu.set_reg(Reg::CONTROL, 0);
            cpu.set_reg(Reg::MSP, sp & !3);
            cpu.set_reg(Reg::PSP, 0);
            cpu.set_reg(Reg::LR, 0xFFFF_FFFF);
            cpu.set_pc(pc);
            cpu.rebuild_mode_flags();
        });
    }

    /// Queues host bytes for the firmware's console (they enter at the current virtual
    /// time, between runs).
    pub fn console_input(&mut self, bytes: &[u8]) {
        let mut s = self.sys.borrow_mut();
        if let Some(c) = s.bus.get_mut::<Console>("CONSOLE") {
            c.push_rx(bytes);
        }
    }

    /// Bytes queued for the console that the firmware has not read yet.
    pub fn console_pending(&mut self) -> usize {
        let mut s = self.sys.borrow_mut();
        s.bus
            .get_mut::<Console>("CONSOLE")
            .map(|c| c.rx_len())
            .unwrap_or(0)
    }

    /// Takes what the firmware wrote to the console since the last call.
    pub fn take_console_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.sys.borrow_mut().out.console)
    }

    /// Drives a GPIO pin from outside the board (stimuli, the switch), or releases it.
    pub fn drive_pin(&mut self, port: u8, pin: u8, level: Option<bool>) {
        let sys = self.sys.clone();
        self.cpu
            .with(|cpu| sys.borrow_mut().drive_pin(cpu, port, pin, level));
    }

    /// Runs `f` on the SDIO host model (its card slot), if the board has one.
    pub fn with_sdio<R>(
        &mut self,
        f: impl FnOnce(&mut pybsim_peripherals::sdio::Sdio) -> R,
    ) -> Option<R> {
        let mut s = self.sys.borrow_mut();
        s.bus
            .get_mut::<pybsim_peripherals::sdio::Sdio>("SDIO")
            .map(f)
    }

    /// Runs `f` on the model mounted as `name` as its concrete type (host side, between
    /// runs: e.g. to hand a model its analog stimuli). None if there is no such model.
    pub fn with_device<T: Device, R>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut T) -> R,
    ) -> Option<R> {
        self.sys.borrow_mut().bus.get_mut::<T>(name).map(f)
    }

    /// Sends a byte into U(S)ART `n`'s RX line, arriving at virtual time `at`.
    pub fn uart_input(&mut self, n: u8, byte: u8, at: u64) {
        let mut s = self.sys.borrow_mut();
        s.sched.push(Target::UartRx(n), byte as u32, at);
        s.refresh_deadline();
    }

    /// Sets the total cycle budget (absolute virtual time); `u64::MAX` for none.
    pub fn set_budget(&mut self, cycles: u64) {
        let mut s = self.sys.borrow_mut();
        s.budget = cycles;
        s.refresh_deadline();
    }

    pub fn now(&self) -> u64 {
        self.sys.borrow().now
    }

    /// Virtual time in nanoseconds since power-on: cycles converted at the SYSCLK of
    /// each stretch of the run (16 MHz HSI from every reset until the firmware switches).
    pub fn virtual_ns(&self) -> u64 {
        let s = self.sys.borrow();
        let (mut ns, mut t0, mut hz) = (0u128, 0u64, Clocks::RESET.sysclk);
        for &(t, h) in &s.clock_log {
            ns += (t - t0) as u128 * 1_000_000_000 / hz.max(1) as u128;
            (t0, hz) = (t, h);
        }
        ns += (s.now - t0) as u128 * 1_000_000_000 / hz.max(1) as u128;
        ns as u64
    }

    /// Runs until virtual time `until` (absolute cycles) or an earlier exit.
    pub fn run_until(&mut self, until: u64) -> Exit {
        {
            let mut s = self.sys.borrow_mut();
            s.slice_end = until;
            s.refresh_deadline();
        }
        loop {
            // Between runs: events due, pending exceptions, exits.
            let sys = self.sys.clone();
            let exit = self.cpu.with(|cpu| {
                let mut s = sys.borrow_mut();
                s.apply_flash_fixups(cpu);
                s.stopping = false;
                if s.now >= s.next_deadline {
                    s.service(cpu);
                }
                if let Some(e) = s.exit.take() {
                    return Some(e);
                }
                if s.scs.any_pending {
                    let pc = cpu.pc();
                    s.try_take(cpu, pc);
                }
                s.exit.take()
            });
            if let Some(e) = exit {
                self.sys.borrow_mut().stopping = false;
                return e;
            }
            if self.sys.borrow().reset_requested {
                self.reset();
                continue;
            }
            let r = self.cpu.run();
            let sys = self.sys.clone();
            let exit = self.cpu.with(|cpu| {
                let mut s = sys.borrow_mut();
                s.retire_block();
                s.apply_flash_fixups(cpu);
                if let Some(e) = s.exit.take() {
                    return Some(e);
                }
                if s.reset_requested {
                    return None;
                }
                if let Some(addr) = s.mmio_fault.take() {
                    let pc = cpu.pc();
                    if s.scs.cfsr & scs::CFSR_IMPRECISERR != 0 {
                        s.fault(
                            cpu,
                            scs::EXC_BUSFAULT,
                            format!("bus error: write to {addr:#010x}, where no register is"),
                            pc,
                        );
                    } else {
                        s.bus_fault_data(cpu, addr, pc);
                    }
                    return s.exit.take();
                }
                match r {
                    Ok(()) => {
                        if s.stopping {
                            return None;
                        }
                        // WFI: sleep until something can wake the core.
                        let pc = cpu.pc();
                        let wfi = cpu.read_u16(pc.wrapping_sub(2)) == Ok(0xBF30)
                            || (cpu.read_u16(pc.wrapping_sub(4)) == Ok(0xF3AF)
                                && cpu.read_u16(pc.wrapping_sub(2)) == Ok(0x8003));
                        if wfi {
                            s.sleep(cpu);
                        }
                        s.exit.take()
                    }
                    Err(e) => {
                        let pc = cpu.pc();
                        match (e, s.unmapped.take()) {
                            (UcError::READ_UNMAPPED | UcError::WRITE_UNMAPPED | UcError::WRITE_PROT, Some((_, addr))) => {
                                s.bus_fault_data(cpu, addr, pc);
                            }
                            (UcError::FETCH_UNMAPPED | UcError::FETCH_PROT, a) => {
                                let addr = a.map(|x| x.1).unwrap_or(pc);
                                s.scs.cfsr |= scs::CFSR_IBUSERR;
                                s.fault(
                                    cpu,
                                    scs::EXC_BUSFAULT,
                                    format!("instruction fetch from {addr:#010x}, which holds no code memory"),
                                    addr,
                                );
                            }
                            (UcError::INSN_INVALID, _) => {
                                let op = cpu.read_u16(pc).unwrap_or(0);
                                s.scs.cfsr |= scs::CFSR_UNDEFINSTR;
                                s.fault(
                                    cpu,
                                    scs::EXC_USAGEFAULT,
                                    format!("undefined instruction {op:#06x} at {pc:#010x}"),
                                    pc,
                                );
                            }
                            (UcError::EXCEPTION, _) => {
                                s.scs.cfsr |= scs::CFSR_INVSTATE;
                                s.fault(
                                    cpu,
                                    scs::EXC_USAGEFAULT,
                                    format!("invalid state at {pc:#010x} (Thumb bit clear)"),
                                    pc,
                                );
                            }
                            (e, _) => {
                                let report = s.report(cpu, format!("CPU stopped: {e:?}"), pc);
                                return Some(Exit::Fault(Box::new(report)));
                            }
                        }
                        s.exit.take()
                    }
                }
            });
            if let Some(e) = exit {
                self.sys.borrow_mut().stopping = false;
                return e;
            }
        }
    }

    /// Runs to the end: semihosting exit, fault, budget or halt.
    pub fn run(&mut self) -> Exit {
        loop {
            match self.run_until(u64::MAX) {
                Exit::SliceEnd => continue,
                e => return e,
            }
        }
    }
}

impl System {
    /// WFI: if an exception could wake the core, wake; else jump to the next event.
    fn sleep(&mut self, cpu: &mut CpuRef) {
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
            self.service(cpu);
            if self.stopping {
                return;
            }
        }
    }
}
