//! Semihosting (Arm's semihosting specification, the BKPT 0xAB form of Armv7-M): the
//! operations a bare-metal test program uses to print and to end with a status.

use super::cpu::{CpuRef, Reg};
use super::exec::{CoreState, Exit};
use super::sched::Key;

impl<E: Key> CoreState<E> {
    pub(super) fn semihost(&mut self, cpu: &mut CpuRef) {
        let op = cpu.reg(Reg::R0);
        let arg = cpu.reg(Reg::R1);
        let mut ret: u32 = 0;
        match op {
            0x03 => {
                let mut b = [0u8];
                if cpu.read_mem(arg, &mut b).is_ok() {
                    self.semihost_out.push(b[0]);
                }
            }
            0x04 => {
                let mut a = arg;
                let mut b = [0u8];
                while cpu.read_mem(a, &mut b).is_ok() && b[0] != 0 && a - arg < 1 << 20 {
                    self.semihost_out.push(b[0]);
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
                    self.semihost_out.extend_from_slice(&data);
                } else {
                    ret = len;
                }
            }
            0x10 => ret = (self.now / (self.sysclk as u64 / 100).max(1)) as u32,
            0x11 => ret = (self.now / self.sysclk.max(1) as u64) as u32,
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
}
