//! The core as a whole: the CPU binding, the core's state and the platform, run in
//! deadline-bounded slices (`run_until(t) -> Exit`), reset, and reached from outside
//! between slices.

use std::cell::RefCell;
use std::rc::Rc;

use pybsim_peripherals::device::ResetKind;

use super::cpu::{Cpu, CpuRef, Reg, Region, UcError};
use super::cycles::Art;
use super::exec::{CodeMap, Core, CoreState, Exit, ResetRecord};
use super::observe::{Observer, ObserverId};
use super::platform::{Io, Platform};
use super::scs;

/// A Cortex-M4F core running inside platform `P`.
pub struct Engine<P: Platform> {
    cpu: Cpu<Core<P>>,
    core: Rc<RefCell<Core<P>>>,
    /// SYSCLK and HCLK after every reset.
    reset_clocks: (u32, u32),
}

impl<P: Platform> Engine<P> {
    /// Maps `regions` (flash backed by `flash`), with the core at its reset clocks.
    pub fn new(
        plat: P,
        code: CodeMap,
        reset_clocks: (u32, u32),
        flash: Vec<u8>,
        regions: &[Region],
    ) -> Result<Self, UcError> {
        let core = Rc::new(RefCell::new(Core {
            st: CoreState::new(code, reset_clocks.0, reset_clocks.1),
            plat,
        }));
        let cpu = Cpu::new(core.clone(), flash, regions)?;
        Ok(Engine {
            cpu,
            core,
            reset_clocks,
        })
    }

    /// The core's state and the platform, between runs.
    pub fn core(&self) -> std::cell::RefMut<'_, Core<P>> {
        self.core.borrow_mut()
    }

    /// Runs `f` with the platform and an [`Io`] handle on the core, between runs.
    pub fn with_platform<R>(&mut self, f: impl FnOnce(&mut P, &mut Io<P::Event>) -> R) -> R {
        let core = self.core.clone();
        self.cpu.with(|cpu| {
            let mut c = core.borrow_mut();
            let Core { st, plat } = &mut *c;
            let mut io = Io { st, cpu };
            f(plat, &mut io)
        })
    }

    /// Runs `f` with a CPU handle, between runs.
    pub fn with_cpu<R>(&mut self, f: impl FnOnce(&mut CpuRef) -> R) -> R {
        self.cpu.with(f)
    }

    pub fn flash(&self) -> &[u8] {
        self.cpu.flash()
    }

    /// Drops every cached block cost (code changed under the core, host side).
    pub fn invalidate_code(&mut self) {
        self.core.borrow_mut().st.invalidate_cache();
    }

    pub fn attach_observer(&mut self, o: Box<dyn Observer>) -> ObserverId {
        self.core.borrow_mut().st.observers.attach(o)
    }

    pub fn detach_observer(&mut self, id: ObserverId) {
        self.core.borrow_mut().st.observers.detach(id);
    }

    /// SYSCLK after a reset, in Hz.
    pub fn reset_sysclk(&self) -> u32 {
        self.reset_clocks.0
    }

    pub fn now(&self) -> u64 {
        self.core.borrow().st.now
    }

    /// Sets the total cycle budget (absolute virtual time); `u64::MAX` for none.
    pub fn set_budget(&mut self, cycles: u64) {
        let mut c = self.core.borrow_mut();
        c.st.budget = cycles;
        c.st.refresh_deadline();
    }

    /// Virtual time in nanoseconds since power-on: cycles converted at the SYSCLK of
    /// each stretch of the run (the reset clock from every reset until the firmware
    /// switches).
    pub fn virtual_ns(&self) -> u64 {
        let c = self.core.borrow();
        let s = &c.st;
        let (mut ns, mut t0, mut hz) = (0u128, 0u64, self.reset_clocks.0);
        for &(t, h) in &s.clock_log {
            ns += (t - t0) as u128 * 1_000_000_000 / hz.max(1) as u128;
            (t0, hz) = (t, h);
        }
        ns += (s.now - t0) as u128 * 1_000_000_000 / hz.max(1) as u128;
        ns as u64
    }

    /// Power-on or system reset: core and platform to their reset state, SP and PC from
    /// the vector table at address 0. Memory keeps its contents.
    pub fn reset(&mut self) {
        let kind = self.core.borrow().st.reset_kind;
        if let Some(kind) = kind {
            let ns = self.virtual_ns();
            let mut c = self.core.borrow_mut();
            let cycle = c.st.now;
            c.st.resets.push(ResetRecord { kind, cycle, ns });
        }
        let core = self.core.clone();
        let (sysclk, hclk) = self.reset_clocks;
        self.cpu.with(|cpu| {
            let mut c = core.borrow_mut();
            let Core { st, plat } = &mut *c;
            st.scs.reset();
            st.sched.clear();
            st.art = Art::default();
            st.sysclk = sysclk;
            st.hclk = hclk;
            let now = st.now;
            if now > 0 {
                st.clock_log.push((now, sysclk));
            }
            st.stopping = false;
            st.reset_requested = false;
            st.flash_fixups.clear();
            st.prev_fallthrough = u32::MAX;
            let cause: Option<ResetKind> = st.reset_kind.take();
            {
                let mut io = Io { st, cpu };
                plat.reset(&mut io, cause);
            }
            st.refresh_deadline();
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

    /// Runs until virtual time `until` (absolute cycles) or an earlier exit.
    pub fn run_until(&mut self, until: u64) -> Exit {
        {
            let mut c = self.core.borrow_mut();
            c.st.slice_end = until;
            c.st.refresh_deadline();
        }
        loop {
            // Between runs: events due, pending exceptions, exits.
            let core = self.core.clone();
            let exit = self.cpu.with(|cpu| {
                let mut c = core.borrow_mut();
                let Core { st, plat } = &mut *c;
                st.apply_flash_fixups(cpu);
                st.stopping = false;
                if st.now >= st.next_deadline {
                    st.service(plat, cpu);
                }
                if let Some(e) = st.exit.take() {
                    return Some(e);
                }
                if st.scs.any_pending {
                    let pc = cpu.pc();
                    st.try_take(cpu, pc);
                }
                st.exit.take()
            });
            if let Some(e) = exit {
                self.core.borrow_mut().st.stopping = false;
                return e;
            }
            if let Some(msg) = self.cpu.take_error() {
                return self.internal_error(msg);
            }
            if self.core.borrow().st.reset_requested {
                self.reset();
                continue;
            }
            let r = self.cpu.run();
            let core = self.core.clone();
            let exit = self.cpu.with(|cpu| {
                let mut c = core.borrow_mut();
                let Core { st, plat } = &mut *c;
                st.retire_block();
                st.apply_flash_fixups(cpu);
                if let Some(e) = st.exit.take() {
                    return Some(e);
                }
                if st.reset_requested {
                    return None;
                }
                if let Some(addr) = st.mmio_fault.take() {
                    let pc = cpu.pc();
                    if st.scs.cfsr & scs::CFSR_IMPRECISERR != 0 {
                        st.fault(
                            cpu,
                            scs::EXC_BUSFAULT,
                            format!("bus error: write to {addr:#010x}, where no register is"),
                            pc,
                        );
                    } else {
                        st.bus_fault_data(cpu, addr, pc);
                    }
                    return st.exit.take();
                }
                match r {
                    Ok(()) => {
                        if st.stopping {
                            return None;
                        }
                        // WFI: sleep until something can wake the core.
                        let pc = cpu.pc();
                        let wfi = cpu.read_u16(pc.wrapping_sub(2)) == Ok(0xBF30)
                            || (cpu.read_u16(pc.wrapping_sub(4)) == Ok(0xF3AF)
                                && cpu.read_u16(pc.wrapping_sub(2)) == Ok(0x8003));
                        if wfi {
                            st.sleep(plat, cpu);
                        }
                        st.exit.take()
                    }
                    Err(e) => {
                        st.cpu_error(cpu, e);
                        st.exit.take()
                    }
                }
            });
            if let Some(e) = exit {
                self.core.borrow_mut().st.stopping = false;
                return e;
            }
            if let Some(msg) = self.cpu.take_error() {
                return self.internal_error(msg);
            }
        }
    }

    /// Ends the run with an internal error of pybsim (unicorn refused a register it must
    /// take), reported like a fault so that the user sees where the CPU was.
    fn internal_error(&mut self, msg: String) -> Exit {
        let core = self.core.clone();
        self.cpu.with(|cpu| {
            let mut c = core.borrow_mut();
            let pc = cpu.pc();
            c.st.stopping = false;
            let report =
                c.st.report(cpu, format!("internal error in pybsim: {msg}"), pc);
            Exit::Fault(Box::new(report))
        })
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
