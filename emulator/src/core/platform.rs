//! What the core sees of the chip around it: a [`Platform`] answering the register
//! space and its own scheduled events, and the [`Io`] handle through which the platform
//! acts back on the core (interrupt lines, the scheduler, memory, flash wait states,
//! clocks, resets). The core knows nothing else of the chip.

use pybsim_peripherals::device::ResetKind;
use pybsim_peripherals::{BusError, Size};

use super::cpu::{CpuRef, NotDirect};
use super::exec::CoreState;
use super::sched::{Key, Target};

/// The system around the core: everything behind the bus.
pub trait Platform: 'static {
    /// The platform's own scheduled events (the core only orders them in time).
    type Event: Key + 'static;

    /// A data read of the platform's address space (peripherals, and the vendor part of
    /// the private peripheral bus) at virtual time `at`.
    fn read(
        &mut self,
        io: &mut Io<Self::Event>,
        at: u64,
        addr: u32,
        size: Size,
    ) -> Result<u32, BusError>;

    /// A data write, as [`Platform::read`].
    fn write(
        &mut self,
        io: &mut Io<Self::Event>,
        at: u64,
        addr: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError>;

    /// Event `ev` with `token`, scheduled through [`Io::schedule`], fell due at `at`.
    fn event(&mut self, io: &mut Io<Self::Event>, at: u64, ev: Self::Event, token: u32);

    /// A guest store into flash (read-only to the core): the flash interface decides
    /// whether it programs. Returns true when the bits were programmed (ANDed in).
    fn flash_store(
        &mut self,
        io: &mut Io<Self::Event>,
        at: u64,
        addr: u32,
        size: Size,
        value: u32,
    ) -> bool;

    /// A system reset: every model to its reset state. `cause` is None at power-on.
    fn reset(&mut self, io: &mut Io<Self::Event>, cause: Option<ResetKind>);
}

/// The platform's handle on the core during one of its calls.
pub struct Io<'s, 'c, 'u, 'a, E> {
    pub(super) st: &'s mut CoreState<E>,
    pub(super) cpu: &'c mut CpuRef<'u, 'a>,
}

impl<E: Key> Io<'_, '_, '_, '_, E> {
    /// Virtual time (CPU cycles) at the start of the block running now.
    #[inline]
    pub fn now(&self) -> u64 {
        self.st.now
    }

    /// Every change of SYSCLK so far: (cycle, Hz); the reset clock before the first.
    pub fn clock_log(&self) -> &[(u64, u32)] {
        &self.st.clock_log
    }

    /// Schedules the platform's event (`ev`, `token`) at `at`, replacing an earlier one.
    pub fn schedule(&mut self, ev: E, token: u32, at: u64) {
        self.st.sched.schedule(Target::Platform(ev), token, at);
    }

    /// Queues an event that does not replace others of the same (`ev`, `token`).
    pub fn push(&mut self, ev: E, token: u32, at: u64) {
        self.st.sched.push(Target::Platform(ev), token, at);
    }

    pub fn cancel(&mut self, ev: E, token: u32) {
        self.st.sched.cancel(Target::Platform(ev), token);
    }

    /// Recomputes the next deadline after the schedule changed.
    pub fn refresh_deadline(&mut self) {
        self.st.refresh_deadline();
    }

    /// Sets the level of external interrupt line `irq` (NVIC input).
    pub fn set_irq(&mut self, irq: u16, level: bool) {
        self.st.scs.set_irq_line(irq, level);
    }

    /// A line of the event log (formatted only when someone listens).
    pub fn log(&mut self, what: impl FnOnce() -> String) {
        let now = self.st.now;
        self.st.observers.event(now, what);
    }

    /// The core's clock (SYSCLK) and SysTick's clock source (HCLK) changed.
    pub fn set_clocks(&mut self, sysclk: u32, hclk: u32) {
        self.st.set_clocks(sysclk, hclk);
    }

    /// Flash access time and accelerator settings (FLASH_ACR).
    pub fn set_flash_access(&mut self, latency: u32, prefetch: bool, icache: bool) {
        let art = &mut self.st.art;
        art.latency = latency;
        art.prefetch = prefetch;
        if !icache {
            art.flush();
        }
        art.icache = icache;
    }

    /// Changes the flash array (erase, programming) from `offset` on; translated code and
    /// block costs of flash are dropped.
    pub fn flash_update(&mut self, offset: u32, f: impl FnOnce(&mut [u8])) {
        self.cpu.flash_update(offset, f);
        self.st.invalidate_cache();
    }

    /// Whether `addr` is in flash (any alias): its offset in the array.
    pub fn flash_offset(&self, addr: u32) -> Option<u32> {
        self.st.code.flash_offset(addr)
    }

    /// Reads directly mapped memory (RAM, flash) as a bus master other than the CPU.
    pub fn read_mem(&self, addr: u32, buf: &mut [u8]) -> Result<(), NotDirect> {
        self.cpu.read_mem(addr, buf)
    }

    /// Writes directly mapped RAM as a bus master other than the CPU.
    pub fn write_mem(&mut self, addr: u32, data: &[u8]) -> Result<(), NotDirect> {
        self.cpu.write_mem(addr, data)
    }

    /// Asks for a system reset of `kind`; the run stops before the next block and the
    /// machine resets.
    pub fn request_reset(&mut self, kind: ResetKind) {
        self.st
            .observers
            .event(self.st.now, || format!("reset requested: {kind:?}"));
        self.st.request_reset(kind);
        self.cpu.stop();
    }
}
