//! The CPU binding: unicorn-engine 2.1.5 as a Cortex-M4F. The only module that touches
//! unicorn or uses `unsafe`.
//!
//! Unicorn runs the instructions; everything architectural around them (exception entry
//! and return, NVIC, SysTick, faults, timing) is done by the [`Host`] through the safe
//! [`CpuRef`] handle that every hook receives. See docs/unicorn-notes.md for the
//! measured traps this module works around.

use std::cell::RefCell;
use std::rc::Rc;

use unicorn_engine::unicorn_const::{Arch, ArmCpuModel, HookType, MemType, Mode, Prot};
use unicorn_engine::{RegisterARM, Unicorn};

pub use unicorn_engine::uc_error as UcError;

/// A host access to guest memory that is not directly mapped RAM or flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotDirect;

/// Registers the host reads and writes.
pub type Reg = RegisterARM;

/// What kind of access missed every mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Fetch,
}

/// Callbacks from the running CPU into the machine.
pub trait Host: 'static {
    /// A translated block at `addr` of `size` bytes is about to run.
    fn on_block(&mut self, cpu: &mut CpuRef, addr: u32, size: u32);
    /// Unicorn raised CPU exception `intno` (2 SVC, 7 BKPT, 8 exception return, 3 prefetch
    /// abort, ...).
    fn on_interrupt(&mut self, cpu: &mut CpuRef, intno: u32);
    /// An undefined instruction (also WFE/YIELD). Return true to continue.
    fn on_invalid(&mut self, cpu: &mut CpuRef) -> bool;
    fn mmio_read(&mut self, cpu: &mut CpuRef, addr: u32, size: u32) -> u32;
    fn mmio_write(&mut self, cpu: &mut CpuRef, addr: u32, size: u32, value: u32);
    /// An access to an address nothing maps; emulation stops with an error afterwards.
    fn on_unmapped(&mut self, cpu: &mut CpuRef, access: Access, addr: u32, size: u32);
    /// A store into a read-only region (flash, system memory). Return true to let the
    /// store reach the backing buffer.
    fn on_write_protected(&mut self, cpu: &mut CpuRef, addr: u32, size: u32, value: u32) -> bool;
}

/// Host-side memory the CPU sees directly (no hooks on access).
#[derive(Debug, Clone, Copy)]
pub struct RamRegion {
    pub start: u32,
    pub len: u32,
    pub exec: bool,
    pub writable: bool,
}

/// The safe handle hooks use to look at and change the CPU.
pub struct CpuRef<'u, 'a> {
    uc: &'u mut Unicorn<'a, ()>,
    direct: &'u Shared,
    flash: *mut u8,
    flash_len: u32,
}

/// What the binding shares with every CPU handle: the directly mapped regions, and the
/// first register access unicorn refused (a bug in pybsim, never the guest's doing: the
/// run ends with it as an internal error instead of going on with a wrong value).
#[derive(Debug, Default)]
struct Shared {
    regions: Vec<RamRegion>,
    error: RefCell<Option<String>>,
}

impl Shared {
    fn note(&self, what: String) {
        let mut e = self.error.borrow_mut();
        if e.is_none() {
            tracing::error!(target: "core", "{what}");
            *e = Some(what);
        }
    }
}

impl CpuRef<'_, '_> {
    /// Reads a register; a register unicorn cannot read is an internal error (see
    /// [`Cpu::take_error`]) and reads as 0.
    pub fn reg(&self, r: Reg) -> u32 {
        match self.uc.reg_read(r) {
            Ok(v) => v as u32,
            Err(e) => {
                self.direct
                    .note(format!("unicorn refused reading register {r:?}: {e:?}"));
                0
            }
        }
    }

    /// Writes a register; a register unicorn cannot write is an internal error.
    pub fn set_reg(&mut self, r: Reg, v: u32) {
        if let Err(e) = self.uc.reg_write(r, v as u64) {
            self.direct
                .note(format!("unicorn refused writing register {r:?}: {e:?}"));
        }
    }

    pub fn pc(&self) -> u32 {
        self.reg(Reg::PC)
    }

    /// Sets the PC; the Thumb bit is forced (Cortex-M has only Thumb state).
    pub fn set_pc(&mut self, pc: u32) {
        self.set_reg(Reg::PC, pc | 1);
    }

    /// Forces unicorn to rebuild its cached mode flags after IPSR/CONTROL changed
    /// (2.1.5 does not do it when IPSR is written).
    pub fn rebuild_mode_flags(&mut self) {
        let v = self.reg(Reg::APSR_NZCV);
        self.set_reg(Reg::APSR_NZCV, v);
    }

    fn is_direct(&self, addr: u32, len: usize) -> bool {
        let end = addr as u64 + len as u64;
        self.direct
            .regions
            .iter()
            .any(|r| addr >= r.start && end <= r.start as u64 + r.len as u64)
    }

    /// Reads directly mapped memory (flash, RAM). Fails for MMIO or unmapped addresses.
    pub fn read_mem(&self, addr: u32, buf: &mut [u8]) -> Result<(), NotDirect> {
        if !self.is_direct(addr, buf.len()) {
            return Err(NotDirect);
        }
        self.uc.mem_read(addr as u64, buf).map_err(|_| NotDirect)
    }

    pub fn read_u32(&self, addr: u32) -> Result<u32, NotDirect> {
        let mut b = [0u8; 4];
        self.read_mem(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub fn read_u16(&self, addr: u32) -> Result<u16, NotDirect> {
        let mut b = [0u8; 2];
        self.read_mem(addr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    /// Writes directly mapped writable memory (RAM). Fails elsewhere.
    pub fn write_mem(&mut self, addr: u32, data: &[u8]) -> Result<(), NotDirect> {
        let end = addr as u64 + data.len() as u64;
        let ok = self
            .direct
            .regions
            .iter()
            .any(|r| r.writable && addr >= r.start && end <= r.start as u64 + r.len as u64);
        if !ok {
            return Err(NotDirect);
        }
        self.uc.mem_write(addr as u64, data).map_err(|_| NotDirect)
    }

    pub fn write_u32(&mut self, addr: u32, v: u32) -> Result<(), NotDirect> {
        self.write_mem(addr, &v.to_le_bytes())
    }

    /// Changes the flash array (erase, programming) and drops translations of that range.
    /// `offset` is relative to the start of flash.
    pub fn flash_update(&mut self, offset: u32, f: impl FnOnce(&mut [u8])) {
        if offset >= self.flash_len {
            return;
        }
        // SAFETY: `flash` points to the `flash_len`-byte buffer owned by `Cpu`, which
        // outlives every hook; unicorn only reads it while no hook runs.
        let all = unsafe { std::slice::from_raw_parts_mut(self.flash, self.flash_len as usize) };
        f(&mut all[offset as usize..]);
        self.invalidate_flash(offset, self.flash_len - offset);
    }

    fn invalidate_flash(&mut self, offset: u32, len: u32) {
        for base in [0u64, 0x0800_0000] {
            let s = base + offset as u64;
            let _ = self.uc.ctl_remove_cache(s, s + len as u64);
        }
    }

    /// Drops translations of `[start, end)` (code changed under the CPU).
    pub fn invalidate(&mut self, start: u32, end: u32) {
        let _ = self.uc.ctl_remove_cache(start as u64, end as u64);
    }

    /// Ends the current `run` before the next block.
    pub fn stop(&mut self) {
        let _ = self.uc.emu_stop();
    }
}

/// The Cortex-M4F core with its directly mapped memories.
pub struct Cpu<H: Host> {
    uc: Unicorn<'static, ()>,
    host: Rc<RefCell<H>>,
    direct: Rc<Shared>,
    flash: Box<[u8]>,
}

/// Where a memory region of the machine lives.
pub enum Backing {
    /// The one flash buffer, mapped at each of the given addresses.
    Flash { aliases: Vec<u32> },
    /// Plain RAM (or ROM when not writable) inside unicorn.
    Ram { init: Vec<u8> },
    /// Register space: every access goes to the host.
    Mmio,
}

pub struct Region {
    pub start: u32,
    pub len: u32,
    pub exec: bool,
    pub writable: bool,
    pub backing: Backing,
}

fn page_align(len: u32) -> u64 {
    (len as u64).div_ceil(0x1000) * 0x1000
}

impl<H: Host> Cpu<H> {
    /// Opens a Cortex-M4 with FPU (Thumb mode, then the M4 model; MCLASS would force
    /// an M33 in 2.1.5), maps the regions and installs the hooks.
    pub fn new(host: Rc<RefCell<H>>, flash: Vec<u8>, regions: &[Region]) -> Result<Self, UcError> {
        let mut uc = Unicorn::new(Arch::ARM, Mode::THUMB)?;
        uc.ctl_set_cpu_model(ArmCpuModel::CORTEX_M4 as i32)?;
        let mut flash = flash.into_boxed_slice();
        let mut direct = Vec::new();
        for r in regions {
            let mut perms = Prot::READ;
            if r.exec {
                perms |= Prot::EXEC;
            }
            if r.writable {
                perms |= Prot::WRITE;
            }
            match &r.backing {
                Backing::Flash { aliases } => {
                    for &a in aliases {
                        // SAFETY: the buffer is owned by the returned `Cpu`, lives as long
                        // as the unicorn instance and is never reallocated.
                        unsafe {
                            uc.mem_map_ptr(
                                a as u64,
                                flash.len() as u64,
                                perms,
                                flash.as_mut_ptr().cast(),
                            )?;
                        }
                        direct.push(RamRegion {
                            start: a,
                            len: flash.len() as u32,
                            exec: r.exec,
                            writable: false,
                        });
                    }
                }
                Backing::Ram { init } => {
                    uc.mem_map(r.start as u64, page_align(r.len), perms)?;
                    if !init.is_empty() {
                        uc.mem_write(r.start as u64, init)?;
                    }
                    direct.push(RamRegion {
                        start: r.start,
                        len: r.len,
                        exec: r.exec,
                        writable: r.writable,
                    });
                }
                Backing::Mmio => {}
            }
        }
        let direct = Rc::new(Shared {
            regions: direct,
            error: RefCell::new(None),
        });
        let flash_ptr = flash.as_mut_ptr() as usize;
        let flash_len = flash.len() as u32;
        let mk = move |d: &Rc<Shared>| (d.clone(), flash_ptr, flash_len);

        for r in regions {
            if let Backing::Mmio = r.backing {
                let (h1, h2) = (host.clone(), host.clone());
                let (d1, fp, fl) = mk(&direct);
                let d2 = d1.clone();
                let base = r.start;
                uc.mmio_map(
                    r.start as u64,
                    page_align(r.len),
                    Some(move |uc: &mut Unicorn<()>, off: u64, size: usize| {
                        let mut cpu = CpuRef {
                            uc,
                            direct: &d1,
                            flash: fp as *mut u8,
                            flash_len: fl,
                        };
                        h1.borrow_mut().mmio_read(
                            &mut cpu,
                            base.wrapping_add(off as u32),
                            size as u32,
                        ) as u64
                    }),
                    Some(
                        move |uc: &mut Unicorn<()>, off: u64, size: usize, value: u64| {
                            let mut cpu = CpuRef {
                                uc,
                                direct: &d2,
                                flash: fp as *mut u8,
                                flash_len: fl,
                            };
                            h2.borrow_mut().mmio_write(
                                &mut cpu,
                                base.wrapping_add(off as u32),
                                size as u32,
                                value as u32,
                            )
                        },
                    ),
                )?;
            }
        }

        {
            let h = host.clone();
            let (d, fp, fl) = mk(&direct);
            uc.add_block_hook(1, 0, move |uc, addr, size| {
                let mut cpu = CpuRef {
                    uc,
                    direct: &d,
                    flash: fp as *mut u8,
                    flash_len: fl,
                };
                h.borrow_mut().on_block(&mut cpu, addr as u32, size);
            })?;
        }
        {
            let h = host.clone();
            let (d, fp, fl) = mk(&direct);
            uc.add_intr_hook(move |uc, intno| {
                let mut cpu = CpuRef {
                    uc,
                    direct: &d,
                    flash: fp as *mut u8,
                    flash_len: fl,
                };
                h.borrow_mut().on_interrupt(&mut cpu, intno);
            })?;
        }
        {
            let h = host.clone();
            let (d, fp, fl) = mk(&direct);
            uc.add_insn_invalid_hook(move |uc| {
                let mut cpu = CpuRef {
                    uc,
                    direct: &d,
                    flash: fp as *mut u8,
                    flash_len: fl,
                };
                h.borrow_mut().on_invalid(&mut cpu)
            })?;
        }
        {
            let h = host.clone();
            let (d, fp, fl) = mk(&direct);
            uc.add_mem_hook(
                HookType::MEM_UNMAPPED,
                1,
                0,
                move |uc, kind, addr, size, _value| {
                    let access = match kind {
                        MemType::WRITE_UNMAPPED => Access::Write,
                        MemType::FETCH_UNMAPPED => Access::Fetch,
                        _ => Access::Read,
                    };
                    let mut cpu = CpuRef {
                        uc,
                        direct: &d,
                        flash: fp as *mut u8,
                        flash_len: fl,
                    };
                    h.borrow_mut()
                        .on_unmapped(&mut cpu, access, addr as u32, size as u32);
                    false
                },
            )?;
        }
        {
            let h = host.clone();
            let (d, fp, fl) = mk(&direct);
            uc.add_mem_hook(
                HookType::MEM_WRITE_PROT,
                1,
                0,
                move |uc, _kind, addr, size, value| {
                    let mut cpu = CpuRef {
                        uc,
                        direct: &d,
                        flash: fp as *mut u8,
                        flash_len: fl,
                    };
                    h.borrow_mut().on_write_protected(
                        &mut cpu,
                        addr as u32,
                        size as u32,
                        value as u32,
                    )
                },
            )?;
        }
        Ok(Cpu {
            uc,
            host,
            direct,
            flash,
        })
    }

    /// The first register access unicorn refused since the last call, if any.
    pub fn take_error(&self) -> Option<String> {
        self.direct.error.borrow_mut().take()
    }

    pub fn host(&self) -> &Rc<RefCell<H>> {
        &self.host
    }

    /// Runs `f` with a CPU handle outside of any hook (between runs).
    pub fn with<R>(&mut self, f: impl FnOnce(&mut CpuRef) -> R) -> R {
        let fp = self.flash.as_mut_ptr();
        let fl = self.flash.len() as u32;
        let direct = self.direct.clone();
        let mut cpu = CpuRef {
            uc: &mut self.uc,
            direct: &direct,
            flash: fp,
            flash_len: fl,
        };
        f(&mut cpu)
    }

    /// Runs from the current PC until a hook stops the CPU, WFI, or an error.
    pub fn run(&mut self) -> Result<(), UcError> {
        let pc = self.uc.reg_read(Reg::PC)? | 1;
        self.uc.emu_start(pc, u64::MAX, 0, 0)
    }

    pub fn flash(&self) -> &[u8] {
        &self.flash
    }
}

/// Runs a program on a bare unicorn Cortex-M4 with no hooks at all (flash at 0 and
/// 0x0800_0000, SRAM, CCM), from its reset vector until the first exception unicorn
/// cannot handle without hooks (the program's semihosting call at its end). For the
/// speed benchmark's baseline: returns the wall time taken.
pub fn bare_run(flash: &[u8]) -> Result<std::time::Duration, UcError> {
    bare_run_hooked(flash, false)
}

/// As [`bare_run`], with an empty block hook when `empty_hook`: the cost of unicorn's
/// hook dispatch alone.
pub fn bare_run_hooked(flash: &[u8], empty_hook: bool) -> Result<std::time::Duration, UcError> {
    let mut uc = Unicorn::new(Arch::ARM, Mode::THUMB)?;
    uc.ctl_set_cpu_model(ArmCpuModel::CORTEX_M4 as i32)?;
    if empty_hook {
        uc.add_block_hook(1, 0, |_, _, _| {})?;
    }
    let mut buf = vec![0xFFu8; 1 << 20];
    let n = flash.len().min(buf.len());
    buf[..n].copy_from_slice(&flash[..n]);
    uc.mem_map(0, 1 << 20, Prot::READ | Prot::EXEC)?;
    uc.mem_map(0x0800_0000, 1 << 20, Prot::READ | Prot::EXEC)?;
    uc.mem_write(0, &buf)?;
    uc.mem_write(0x0800_0000, &buf)?;
    uc.mem_map(0x2000_0000, 128 << 10, Prot::ALL)?;
    uc.mem_map(0x1000_0000, 64 << 10, Prot::READ | Prot::WRITE)?;
    // The system control space as plain memory: CPACR and friends accept writes.
    uc.mem_map(0xE000_0000, 0x10_0000, Prot::READ | Prot::WRITE)?;
    let sp = u32::from_le_bytes(buf[0..4].try_into().unwrap_or([0; 4]));
    let pc = u32::from_le_bytes(buf[4..8].try_into().unwrap_or([0; 4]));
    uc.reg_write(Reg::MSP, sp as u64)?;
    uc.reg_write(Reg::PC, (pc | 1) as u64)?;
    let t = std::time::Instant::now();
    let r = uc.emu_start((pc | 1) as u64, u64::MAX, 0, 0);
    let dt = t.elapsed();
    let end = uc.reg_read(Reg::PC).unwrap_or(0);
    if std::env::var_os("PYBSIM_BENCH_DEBUG").is_some() {
        eprintln!("bare run ended: {r:?} at pc {end:#x}");
    }
    Ok(dt)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Idle;

    impl Host for Idle {
        fn on_block(&mut self, _: &mut CpuRef, _: u32, _: u32) {}
        fn on_interrupt(&mut self, _: &mut CpuRef, _: u32) {}
        fn on_invalid(&mut self, _: &mut CpuRef) -> bool {
            false
        }
        fn mmio_read(&mut self, _: &mut CpuRef, _: u32, _: u32) -> u32 {
            0
        }
        fn mmio_write(&mut self, _: &mut CpuRef, _: u32, _: u32, _: u32) {}
        fn on_unmapped(&mut self, _: &mut CpuRef, _: Access, _: u32, _: u32) {}
        fn on_write_protected(&mut self, _: &mut CpuRef, _: u32, _: u32, _: u32) -> bool {
            false
        }
    }

    #[test]
    fn registers_round_trip_and_a_refused_access_is_kept_as_an_error() {
        let cpu = Cpu::new(Rc::new(RefCell::new(Idle)), vec![0; 4096], &[]);
        let mut cpu = cpu.expect("a bare core");
        let v = cpu.with(|c| {
            c.set_reg(Reg::R3, 7);
            c.reg(Reg::R3)
        });
        assert_eq!(v, 7);
        assert_eq!(cpu.take_error(), None);
        // unicorn 2.1.5 answers even an unknown register with OK (and a warning on
        // stderr), so a refusal is made here by hand: the first one is kept, once.
        cpu.direct
            .note("unicorn refused reading register X: ARG".into());
        cpu.direct.note("a second one".into());
        let e = cpu.take_error().expect("the refusal is kept");
        assert!(e.contains("reading register X"), "{e}");
        assert_eq!(cpu.take_error(), None, "taken once");
    }
}
