//! The Freescale MMA7660FC 3-axis ±1.5 g accelerometer on an I2C bus (the Pyboard's
//! `pyb.Accel`, I2C1 at 0x4C; MMA7660FC datasheet, register map and I2C protocol). An
//! [`I2cDevice`], not a memory-mapped block.
//!
//! Modelled:
//! - Power: the device answers only while its supply is on ([`I2cDevice::power`], the
//!   Pyboard's PB5 driving AVDD high); unpowered it acknowledges nothing. Switching the
//!   supply on is a power-on reset: every register 0x00, standby mode.
//! - The eleven registers: XOUT, YOUT, ZOUT (0x00-0x02), TILT (0x03), SRST (0x04), SPCNT
//!   (0x05), INTSU (0x06), MODE (0x07), SR (0x08), PDET (0x09), PD (0x0A). A write
//!   transfer's first byte sets the register pointer and the following bytes are stored
//!   from there; a read transfer returns bytes from the pointer; the pointer advances
//!   after each byte and wraps from 0x0A to 0x00. Registers other than MODE can be
//!   written only in standby mode (MODE bit 0 clear); other writes are acknowledged and
//!   ignored, with a warning.
//! - Measurement: in active mode (MODE bit 0 set) the axes are sampled at AMSR (SR bits
//!   2-0: 120, 64, 32, 16, 8, 4, 2, 1 samples/s), the first sample one period after the
//!   device becomes active; XOUT/YOUT/ZOUT hold the last sample as 6-bit two's complement
//!   at 21.33 counts per g (count = round(g * 64 / 3)), saturating at -32 and +31.
//!   In standby they keep the last sample. The acceleration comes from a [`Signal`] per
//!   axis in µg ([`Mma7660::set_axis`]), 0, 0, +1 g until set (the board lying flat).
//! - TILT from the same sample: BaFro (bits 1-0) front 01 when z >= +6 counts, back 10
//!   when z <= -6, else 00; PoLa (bits 4-2) 000 while |x| and |y| are both below 6
//!   counts, else along the larger of them: x > 0 left 001, x < 0 right 010, y < 0 down
//!   101, y > 0 up 110 (fixed thresholds: a simplification of the datasheet's angles).
//! - SRST bit 0 (AMSRS) reads 1 in active mode.
//!
//! Not modelled:
//! - The Alert bit (bit 6 of XOUT/YOUT/ZOUT/TILT) is never set: registers change
//!   atomically at the sample instant, so a read never collides with an update.
//! - Shake and tap detection, the interrupt output (INTSU, PDET, PD, the INT pin), auto-
//!   wake and auto-sleep (AWE/ASE, AWSR, SPCNT), the debounce filter (FILT), the
//!   test mode (TON), noise and offset.

use crate::analog::Signal;
use crate::i2c::{Ack, I2cDevice};

const T: &str = "periph::mma7660";

pub const XOUT: u8 = 0x00;
pub const YOUT: u8 = 0x01;
pub const ZOUT: u8 = 0x02;
pub const TILT: u8 = 0x03;
pub const SRST: u8 = 0x04;
pub const MODE: u8 = 0x07;
pub const SR: u8 = 0x08;
const NREGS: usize = 11;

/// Samples per second by AMSR code.
const AMSR_HZ: [u64; 8] = [120, 64, 32, 16, 8, 4, 2, 1];
/// Tilt thresholds in counts (about 0.28 g).
const TILT_COUNTS: i32 = 6;

/// The accelerometer.
pub struct Mma7660 {
    powered: bool,
    regs: [u8; NREGS],
    pointer: u8,
    /// The next byte written in this transfer is the register pointer.
    expect_pointer: bool,
    /// When active mode began (ns), if active.
    active_since: Option<u64>,
    /// Acceleration along x, y, z in µg.
    axes: [Signal; 3],
    warned: bool,
    /// Registers whose unmodelled bits were written (bit per register), warned once.
    warned_unmodelled: u16,
}

impl Default for Mma7660 {
    fn default() -> Self {
        Self::new()
    }
}

/// The 6-bit count for an acceleration in µg: 64 counts per 3 g, rounded to nearest,
/// saturating at -32 and +31.
pub fn counts(ug: i64) -> i32 {
    let ug = ug as i128;
    let c = (ug * 64 + ug.signum() * 1_500_000) / 3_000_000;
    c.clamp(-32, 31) as i32
}

impl Mma7660 {
    pub fn new() -> Mma7660 {
        Mma7660 {
            powered: false,
            regs: [0; NREGS],
            pointer: 0,
            expect_pointer: false,
            active_since: None,
            axes: [
                Signal::constant(0),
                Signal::constant(0),
                Signal::constant(1_000_000),
            ],
            warned: false,
            warned_unmodelled: 0,
        }
    }

    /// Sets the acceleration along axis `axis` (0 = x, 1 = y, 2 = z) in µg as a function
    /// of virtual time. Kept across power cycles (it is the board's motion).
    pub fn set_axis(&mut self, axis: usize, signal: Signal) {
        if let Some(a) = self.axes.get_mut(axis) {
            *a = signal;
        }
    }

    pub fn powered(&self) -> bool {
        self.powered
    }

    /// Brings XOUT/YOUT/ZOUT/TILT up to the last sample at or before `t_ns`.
    fn update(&mut self, t_ns: u64) {
        let Some(since) = self.active_since else {
            return;
        };
        let period = 1_000_000_000 / AMSR_HZ[(self.regs[SR as usize] & 7) as usize];
        let k = (t_ns.saturating_sub(since)) / period;
        if k == 0 {
            return;
        }
        let at = since + k * period;
        let c: Vec<i32> = self.axes.iter().map(|a| counts(a.at(at))).collect();
        for (i, v) in c.iter().enumerate() {
            self.regs[i] = (*v as u8) & 0x3F;
        }
        let bafro = if c[2] >= TILT_COUNTS {
            1
        } else if c[2] <= -TILT_COUNTS {
            2
        } else {
            0
        };
        let (x, y) = (c[0], c[1]);
        let pola = if x.abs() < TILT_COUNTS && y.abs() < TILT_COUNTS {
            0
        } else if x.abs() >= y.abs() {
            if x > 0 {
                1
            } else {
                2
            }
        } else if y < 0 {
            5
        } else {
            6
        };
        self.regs[TILT as usize] = bafro | (pola << 2);
    }

    fn store(&mut self, t_ns: u64, reg: u8, byte: u8) {
        let standby = self.regs[MODE as usize] & 1 == 0;
        if reg != MODE && !standby {
            if !self.warned {
                self.warned = true;
                tracing::warn!(target: T, reg, byte, "register written in active mode: ignored (the device takes writes in standby only)");
            }
            return;
        }
        if reg == MODE {
            self.update(t_ns);
            let active = byte & 1 != 0;
            match (active, self.active_since) {
                (true, None) => self.active_since = Some(t_ns),
                (false, Some(_)) => self.active_since = None,
                _ => {}
            }
            self.regs[SRST as usize] = active as u8;
        }
        if reg > TILT && reg != SRST {
            self.regs[reg as usize] = byte;
        }
        // Bits of features the model lacks: auto-wake/sleep, interrupts, shake/tap,
        // debounce, test mode.
        let unmodelled = match reg {
            0x05 | 0x06 | 0x09 | 0x0A => 0xFF,
            MODE => 0xFE,
            SR => 0xF8,
            _ => 0,
        };
        if byte & unmodelled != 0 && self.warned_unmodelled & (1 << reg) == 0 {
            self.warned_unmodelled |= 1 << reg;
            tracing::warn!(target: "periph::unmodelled", dev = "MMA7660", reg, byte,
                "register bits written but not modelled (warned once)");
        }
    }
}

impl I2cDevice for Mma7660 {
    fn name(&self) -> &str {
        "MMA7660"
    }

    fn start(&mut self, _t_ns: u64) {
        self.expect_pointer = false;
    }

    fn address(&mut self, _t_ns: u64, read: bool) -> Ack {
        if !self.powered {
            return Ack::Nack;
        }
        self.expect_pointer = !read;
        Ack::Ack
    }

    fn write(&mut self, t_ns: u64, byte: u8) -> Ack {
        if !self.powered {
            return Ack::Nack;
        }
        if self.expect_pointer {
            self.expect_pointer = false;
            self.pointer = byte % NREGS as u8;
        } else {
            self.store(t_ns, self.pointer, byte);
            self.pointer = (self.pointer + 1) % NREGS as u8;
        }
        Ack::Ack
    }

    fn read(&mut self, t_ns: u64) -> u8 {
        if !self.powered {
            return 0xFF;
        }
        self.update(t_ns);
        let v = self.regs[self.pointer as usize];
        tracing::trace!(target: T, reg = self.pointer, val = v, "read");
        self.pointer = (self.pointer + 1) % NREGS as u8;
        v
    }

    fn power(&mut self, _t_ns: u64, on: bool) {
        if on != self.powered {
            tracing::debug!(target: T, on, "supply");
        }
        if on && !self.powered {
            self.regs = [0; NREGS];
            self.pointer = 0;
            self.active_since = None;
        }
        self.powered = on;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn write(m: &mut Mma7660, t: u64, bytes: &[u8]) -> Vec<Ack> {
        m.start(t);
        let mut acks = vec![m.address(t, false)];
        acks.extend(bytes.iter().map(|b| m.write(t, *b)));
        m.stop(t);
        acks
    }

    fn read(m: &mut Mma7660, t: u64, reg: u8, n: usize) -> Vec<u8> {
        write(m, t, &[reg]);
        m.start(t);
        assert_eq!(m.address(t, true), Ack::Ack);
        let v = (0..n).map(|_| m.read(t)).collect();
        m.stop(t);
        v
    }

    #[test]
    fn counts_are_six_bit_at_21_33_per_g() {
        assert_eq!(counts(1_000_000), 21);
        assert_eq!(counts(-1_000_000), -21);
        assert_eq!(counts(500_000), 11, "10.67 rounds to 11");
        assert_eq!(counts(23_000), 0);
        assert_eq!(counts(1_500_000), 31, "saturates");
        assert_eq!(counts(-1_500_000), -32);
        assert_eq!(counts(-8_000_000), -32);
    }

    #[test]
    fn unpowered_it_answers_nothing() {
        let mut m = Mma7660::new();
        assert_eq!(write(&mut m, 0, &[]), vec![Ack::Nack]);
        m.power(0, true);
        assert_eq!(write(&mut m, 0, &[MODE, 1]), vec![Ack::Ack; 3]);
        m.power(MS, false);
        assert_eq!(m.address(MS, true), Ack::Nack);
        m.power(2 * MS, true);
        assert_eq!(
            read(&mut m, 2 * MS, MODE, 1),
            vec![0],
            "power-on reset: standby"
        );
    }

    #[test]
    fn samples_at_the_active_rate_and_holds_in_standby() {
        let mut m = Mma7660::new();
        let mut x = Signal::constant(0);
        x.set(20 * MS, -1_000_000);
        x.set(150 * MS, 0);
        m.set_axis(0, x);
        m.set_axis(1, Signal::constant(500_000));
        m.power(0, true);
        write(&mut m, 0, &[SR, 0b011]); // 16 samples/s: every 62.5 ms
        assert_eq!(read(&mut m, MS, SR, 1), vec![3]);
        write(&mut m, 10 * MS, &[MODE, 1]);
        assert_eq!(read(&mut m, 10 * MS, SRST, 1), vec![1]);
        assert_eq!(
            read(&mut m, 72 * MS, XOUT, 3),
            vec![0, 0, 0],
            "no sample yet"
        );
        // First sample at 72.5 ms: x = -1 g, y = 0.5 g, z = 1 g.
        assert_eq!(
            read(&mut m, 73 * MS, XOUT, 4),
            vec![(-21i8 as u8) & 0x3F, 11, 21, 0x01 | (2 << 2)]
        );
        // Pointer wraps from PD (0x0A) to XOUT.
        assert_eq!(read(&mut m, 73 * MS, 0x0A, 2), vec![0, 0x2B]);
        // Writes other than MODE are ignored while active.
        write(&mut m, 80 * MS, &[SR, 0]);
        assert_eq!(read(&mut m, 80 * MS, SR, 1), vec![3]);
        // Standby keeps the last sample (x is back to 0 g from 150 ms).
        write(&mut m, 100 * MS, &[MODE, 0]);
        assert_eq!(read(&mut m, 500 * MS, XOUT, 1), vec![0x2B]);
    }

    #[test]
    fn counts_saturate_for_any_input() {
        assert_eq!(counts(i64::MAX), 31);
        assert_eq!(counts(i64::MIN), -32);
        assert_eq!(counts(1_000_000), 21);
        assert_eq!(counts(-1_000_000), -21);
    }
}
