//! Exceptions as ARMv7-M takes them (B1.5): entry with the basic or extended frame,
//! return with tail-chaining, synchronous faults with escalation to HardFault and
//! lockup, and what unicorn reports as CPU exceptions (SVC, BKPT, exception return,
//! invalid state, unaligned access, coprocessor access, prefetch abort).

use super::cpu::{CpuRef, Reg, UcError};
use super::cycles;
use super::exec::{CoreState, Exit, FAULT_WATCH_MS};
use super::fault::FaultReport;
use super::sched::{Key, Target};
use super::scs::{self, Masks};

impl<E: Key> CoreState<E> {
    pub(super) fn masks(cpu: &CpuRef) -> Masks {
        Masks {
            primask: cpu.reg(Reg::PRIMASK) & 1 != 0,
            faultmask: cpu.reg(Reg::FAULTMASK) & 1 != 0,
            basepri: cpu.reg(Reg::BASEPRI) as u8,
        }
    }

    /// Takes the pending exception that can preempt, if any. `ret` is the address the
    /// exception returns to.
    pub(super) fn try_take(&mut self, cpu: &mut CpuRef, ret: u32) -> bool {
        let exec = self.scs.exec_priority(Self::masks(cpu));
        if let Some(exc) = self.scs.preempting(exec) {
            self.enter(cpu, exc, ret);
            return true;
        }
        false
    }

    /// Exception entry (ARMv7-M B1.5.6): stack the frame, switch to handler mode, jump.
    pub(super) fn enter(&mut self, cpu: &mut CpuRef, exc: u32, ret: u32) {
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
        self.observers.exception(cpu, exc, true, self.now);
        if vector & !1 == 0 || !self.code.executable(vector & !1) {
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
    pub(super) fn exception_return(&mut self, cpu: &mut CpuRef) {
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
        self.observers.exception(cpu, ipsr, false, self.now);
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
            if vector & !1 == 0 || !self.code.executable(vector & !1) {
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
    pub(super) fn fault(&mut self, cpu: &mut CpuRef, exc: u32, what: String, ret: u32) {
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
        let watch = self.now + self.sysclk as u64 / 1000 * FAULT_WATCH_MS;
        self.sched.schedule(Target::FaultWatch, 0, watch);
        self.refresh_deadline();
        self.enter(cpu, target, ret);
    }

    pub(super) fn lockup(&mut self, cpu: &mut CpuRef, what: String) {
        let pc = cpu.pc();
        let report = self.report(cpu, format!("lockup: {what}"), pc);
        self.stop(cpu, Exit::Fault(Box::new(report)));
    }

    pub(super) fn report(&mut self, cpu: &CpuRef, what: String, fault_pc: u32) -> FaultReport {
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

    pub(super) fn bus_fault_data(&mut self, cpu: &mut CpuRef, addr: u32, ret: u32) {
        self.scs.cfsr |= scs::CFSR_PRECISERR | scs::CFSR_BFARVALID;
        self.scs.bfar = addr;
        self.fault(
            cpu,
            scs::EXC_BUSFAULT,
            format!("bus error: nothing answers at {addr:#010x}"),
            ret,
        );
    }

    /// Unicorn raised CPU exception `intno`.
    pub(super) fn on_interrupt(&mut self, cpu: &mut CpuRef, intno: u32) {
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

    /// Unicorn stopped with an error: the fault it stands for.
    pub(super) fn cpu_error(&mut self, cpu: &mut CpuRef, e: UcError) {
        let pc = cpu.pc();
        match (e, self.unmapped.take()) {
            (
                UcError::READ_UNMAPPED | UcError::WRITE_UNMAPPED | UcError::WRITE_PROT,
                Some((_, addr)),
            ) => {
                self.bus_fault_data(cpu, addr, pc);
            }
            (UcError::FETCH_UNMAPPED | UcError::FETCH_PROT, a) => {
                let addr = a.map(|x| x.1).unwrap_or(pc);
                self.scs.cfsr |= scs::CFSR_IBUSERR;
                self.fault(
                    cpu,
                    scs::EXC_BUSFAULT,
                    format!("instruction fetch from {addr:#010x}, which holds no code memory"),
                    addr,
                );
            }
            // A branch to an even address clears EPSR.T: the next instruction faults
            // with INVSTATE (ARMv7-M B1.4.2); unicorn reports it as an invalid
            // instruction, so the T bit tells the two apart.
            (UcError::INSN_INVALID, _) if cpu.reg(Reg::XPSR) & (1 << 24) == 0 => {
                self.scs.cfsr |= scs::CFSR_INVSTATE;
                self.fault(
                    cpu,
                    scs::EXC_USAGEFAULT,
                    format!("invalid state: branch to {pc:#010x} with the Thumb bit clear"),
                    pc,
                );
            }
            (UcError::INSN_INVALID, _) => {
                let op = cpu.read_u16(pc).unwrap_or(0);
                self.scs.cfsr |= scs::CFSR_UNDEFINSTR;
                self.fault(
                    cpu,
                    scs::EXC_USAGEFAULT,
                    format!("undefined instruction {op:#06x} at {pc:#010x}"),
                    pc,
                );
            }
            (UcError::EXCEPTION, _) => {
                self.scs.cfsr |= scs::CFSR_INVSTATE;
                self.fault(
                    cpu,
                    scs::EXC_USAGEFAULT,
                    format!("invalid state at {pc:#010x} (Thumb bit clear)"),
                    pc,
                );
            }
            (e, _) => {
                let report = self.report(cpu, format!("CPU stopped: {e:?}"), pc);
                self.exit = Some(Exit::Fault(Box::new(report)));
            }
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
