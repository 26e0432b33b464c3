//! I2C1-3 as bus masters, with the devices that hang on their buses (RM0090 §27,
//! registers §27.6).
//!
//! Modelled:
//! - The ten registers at their reset values (TRISE = 0x0002, the rest 0) with their
//!   access kinds: status flags are read-only, the SR1 error flags clear on writing 0.
//! - Devices: models of the [`I2cDevice`] trait attached at 7-bit addresses
//!   ([`I2c::attach`]); a device answers its address and each written byte with an ACK or
//!   a NACK and supplies the bytes the master reads. An address nobody acknowledges ends
//!   with SR1.AF.
//! - Master mode (§27.3.3): with PE set, START makes a start condition (SB, SR2.MSL and
//!   SR2.BUSY rise one SCL period later; START clears itself); the address byte written
//!   to DR goes out in 9 SCL periods (8 bits and the acknowledge). ACK: SR1.ADDR, with
//!   SR2.TRA for a write; reading SR2 clears ADDR (SCL is held low until then). NACK: AF.
//!   STOP makes a stop condition one SCL period after the byte under way (MSL and BUSY
//!   fall; STOP clears itself); START during a transfer is a repeated start after the byte
//!   under way. A start or stop clears TxE and BTF.
//! - Transmitter: after ADDR is cleared TxE is set; a byte written to DR moves to the shift
//!   register at once if it is empty (TxE stays set) or waits in DR (TxE clear); each byte
//!   takes 9 SCL periods; at its end the device's ACK moves the next byte from DR, or sets
//!   BTF when DR is empty (SCL held low); a NACK sets AF and ends the data phase.
//!   Writing DR clears BTF.
//! - Receiver: after ADDR is cleared the master clocks in bytes, 9 SCL periods each; a
//!   byte lands in DR (RxNE) or, with DR full, stays in the shift register with BTF set
//!   (SCL held low) until DR is read. The acknowledge the master gives a byte is CR1.ACK
//!   at the byte's end; with CR1.POS it is CR1.ACK as it was at the end of the previous
//!   byte (the first byte after the address is acknowledged), so ACK = 0 written before
//!   the first byte ends NACKs the second. After a NACKed byte no more bytes come; a
//!   pending STOP or START ends the transfer instead of starting another byte.
//! - Timing: the SCL period comes from CCR, DUTY and F/S and PCLK1 (standard mode 2 x CCR,
//!   fast mode 3 x CCR or 25 x CCR periods of PCLK1; 100 kHz while CCR is 0), taken when
//!   each phase starts.
//! - Interrupts: the event line follows ITEVTEN & (SB | ADDR | BTF | STOPF | ADD10 |
//!   ITBUFEN & (TxE | RxNE)) and the error line ITERREN & (BERR | ARLO | AF | OVR | PECERR
//!   | TIMEOUT | SMBALERT), on the lines of the instance (I2C1 31/32, I2C2 33/34, I2C3
//!   72/73).
//! - DMA (§27.3.9): with CR2.DMAEN the TX request ([`DmaSignal::I2cTx`]) follows TxE in
//!   the transmitter data phase and the RX request ([`DmaSignal::I2cRx`]) follows RxNE.
//!   With CR2.LAST, the byte received after the DMA's EOT_1 signal (the machine calls
//!   [`I2c::dma_eot_1`] when the stream has one transfer left) is NACKed.
//! - CR2.FREQ is checked when PE is set: a value other than PCLK1 in MHz (or outside
//!   2..=42) is a guest error, logged once; the model's timing follows PCLK1 regardless.
//! - SWRST puts the block back at its reset state and releases the bus (the addressed
//!   device sees a stop). Clearing PE clears what RM0090 §27.6 says PE = 0 clears (CR1
//!   START/ACK/POS/PEC, the SR1 flags, SR2 MSL/TRA) and releases the bus, but keeps the
//!   configuration (CR2, OAR1/2, CCR, TRISE, FLTR): drivers write it with PE = 0 and
//!   some (the official firmware's i2c.c) clear PE after every transfer.
//!
//! Not modelled (fields declared; a write that changes one warns once):
//! - Slave mode (own addresses OAR1/OAR2, general call), 10-bit addressing, SMBus, PEC,
//!   analog/digital noise filters, clock stretching by devices, arbitration with other
//!   masters, bus errors, the rise time (TRISE), and the SDA/SCL pins
//!   themselves (the bus is not routed through GPIO). PE cleared during a transfer
//!   disables the block at once (the silicon waits for the end of the communication). Clearing ADDR needs only the SR2
//!   read (the SR1 read before it is not checked); BTF clears on any DR access.

use crate::analog::TimeBase;
use crate::device::{BusError, Ctx, Device, DmaSignal, Effect, Size};
use crate::regs::{f, unmodelled, Access::*, Block, Reg};

const T: &str = "periph::i2c";

pub const CR1: u32 = 0x00;
pub const CR2: u32 = 0x04;
pub const DR: u32 = 0x10;
pub const SR1: u32 = 0x14;
pub const SR2: u32 = 0x18;
pub const CCR: u32 = 0x1C;

pub const PE: u32 = 1 << 0;
pub const START: u32 = 1 << 8;
pub const STOP: u32 = 1 << 9;
pub const ACK: u32 = 1 << 10;
pub const POS: u32 = 1 << 11;
pub const PEC: u32 = 1 << 12;
pub const SWRST: u32 = 1 << 15;
pub const ITERREN: u32 = 1 << 8;
pub const ITEVTEN: u32 = 1 << 9;
pub const ITBUFEN: u32 = 1 << 10;
pub const DMAEN: u32 = 1 << 11;
pub const LAST: u32 = 1 << 12;
pub const SB: u32 = 1 << 0;
pub const ADDR: u32 = 1 << 1;
pub const BTF: u32 = 1 << 2;
pub const RXNE: u32 = 1 << 6;
pub const TXE: u32 = 1 << 7;
pub const AF: u32 = 1 << 10;
pub const MSL: u32 = 1 << 0;
pub const BUSY: u32 = 1 << 1;
pub const TRA: u32 = 1 << 2;

const EVENT_FLAGS: u32 = 0x1F; // SB, ADDR, BTF, ADD10, STOPF
const ERROR_FLAGS: u32 = 0xDF00; // BERR, ARLO, AF, OVR, PECERR, TIMEOUT, SMBALERT

const TOKEN_START: u32 = 0;
const TOKEN_ADDR: u32 = 1;
const TOKEN_STOP: u32 = 2;
const TOKEN_BYTE: u32 = 3;

/// A device's answer to its address or to a byte written to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    Ack,
    Nack,
}

/// A device on an I2C bus, seen from the bus: it acknowledges (or not) its address and
/// the bytes written to it, and supplies the bytes read from it. Times are virtual
/// nanoseconds since power-on (see [`crate::analog`]).
pub trait I2cDevice: std::any::Any {
    /// Name for logs, e.g. "MMA7660".
    fn name(&self) -> &str;
    /// A start or repeated start condition appeared on the bus.
    fn start(&mut self, _t_ns: u64) {}
    /// The master sent this device's address; `read` is the R/W bit.
    fn address(&mut self, t_ns: u64, read: bool) -> Ack;
    /// The master wrote `byte` to this device.
    fn write(&mut self, t_ns: u64, byte: u8) -> Ack;
    /// The master reads a byte from this device.
    fn read(&mut self, t_ns: u64) -> u8;
    /// A stop condition (or the master let go of the bus).
    fn stop(&mut self, _t_ns: u64) {}
    /// The device's supply was switched on or off (a board pin powering it).
    fn power(&mut self, _t_ns: u64, _on: bool) {}
}

/// The register table (RM0090 §27.6).
pub const REGS: &[Reg] = &[
    Reg {
        offset: CR1,
        name: "CR1",
        reset: 0x0,
        fields: &[
            f("PE", 0, 1, Rw),
            unmodelled("SMBUS", 1, 1, Rw),
            unmodelled("SMBTYPE", 3, 1, Rw),
            unmodelled("ENARP", 4, 1, Rw),
            unmodelled("ENPEC", 5, 1, Rw),
            unmodelled("ENGC", 6, 1, Rw),
            unmodelled("NOSTRETCH", 7, 1, Rw),
            f("START", 8, 1, Rw),
            f("STOP", 9, 1, Rw),
            f("ACK", 10, 1, Rw),
            f("POS", 11, 1, Rw),
            unmodelled("PEC", 12, 1, Rw),
            unmodelled("ALERT", 13, 1, Rw),
            f("SWRST", 15, 1, Rw),
        ],
    },
    Reg {
        offset: CR2,
        name: "CR2",
        reset: 0x0,
        fields: &[
            f("FREQ", 0, 6, Rw),
            f("ITERREN", 8, 1, Rw),
            f("ITEVTEN", 9, 1, Rw),
            f("ITBUFEN", 10, 1, Rw),
            f("DMAEN", 11, 1, Rw),
            f("LAST", 12, 1, Rw),
        ],
    },
    Reg {
        offset: 0x08,
        name: "OAR1",
        reset: 0x0,
        fields: &[
            unmodelled("ADD", 0, 10, Rw),
            f("bit14", 14, 1, Rw),
            unmodelled("ADDMODE", 15, 1, Rw),
        ],
    },
    Reg {
        offset: 0x0C,
        name: "OAR2",
        reset: 0x0,
        fields: &[unmodelled("ENDUAL", 0, 1, Rw), unmodelled("ADD2", 1, 7, Rw)],
    },
    Reg {
        offset: DR,
        name: "DR",
        reset: 0x0,
        fields: &[f("DR", 0, 8, Rw)],
    },
    Reg {
        offset: SR1,
        name: "SR1",
        reset: 0x0,
        fields: &[
            f("SB", 0, 1, R),
            f("ADDR", 1, 1, R),
            f("BTF", 2, 1, R),
            f("ADD10", 3, 1, R),
            f("STOPF", 4, 1, R),
            f("RxNE", 6, 1, R),
            f("TxE", 7, 1, R),
            f("BERR", 8, 1, Rc0),
            f("ARLO", 9, 1, Rc0),
            f("AF", 10, 1, Rc0),
            f("OVR", 11, 1, Rc0),
            f("PECERR", 12, 1, Rc0),
            f("TIMEOUT", 14, 1, Rc0),
            f("SMBALERT", 15, 1, Rc0),
        ],
    },
    Reg {
        offset: SR2,
        name: "SR2",
        reset: 0x0,
        fields: &[
            f("MSL", 0, 1, R),
            f("BUSY", 1, 1, R),
            f("TRA", 2, 1, R),
            f("GENCALL", 4, 1, R),
            f("SMBDEFAULT", 5, 1, R),
            f("SMBHOST", 6, 1, R),
            f("DUALF", 7, 1, R),
            f("PEC", 8, 8, R),
        ],
    },
    Reg {
        offset: CCR,
        name: "CCR",
        reset: 0x0,
        fields: &[
            f("CCR", 0, 12, Rw),
            f("DUTY", 14, 1, Rw),
            f("F/S", 15, 1, Rw),
        ],
    },
    Reg {
        offset: 0x20,
        name: "TRISE",
        reset: 0x2,
        fields: &[unmodelled("TRISE", 0, 6, Rw)],
    },
    Reg {
        offset: 0x24,
        name: "FLTR",
        reset: 0x0,
        fields: &[unmodelled("DNF", 0, 4, Rw), unmodelled("ANOFF", 4, 1, Rw)],
    },
];

/// Instance names the block's warnings can carry (`Block` keeps a `&'static str`).
const NAMES: [&str; 3] = ["I2C1", "I2C2", "I2C3"];

/// Where the master is in a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No transfer (or a start condition waiting for its address).
    Idle,
    /// The address byte is going out.
    Address,
    /// Address acknowledged, ADDR not cleared yet.
    AddrWait {
        read: bool,
    },
    Tx,
    Rx,
    /// A NACK ended the transfer; the master waits for the software's STOP or START.
    Ended,
}

/// One I2C block.
pub struct I2c {
    name: String,
    /// Instance number (1-3).
    n: u8,
    regs: Block,
    /// Event and error interrupt lines.
    irqs: (u16, u16),
    levels: (bool, bool),
    /// Levels of the TX and RX DMA request lines.
    dma: (bool, bool),
    devices: Vec<(u8, Box<dyn I2cDevice>)>,
    /// Index in `devices` of the device the master addressed.
    target: Option<usize>,
    phase: Phase,
    /// A byte transfer (TOKEN_BYTE) is under way.
    shifting: bool,
    /// The byte being shifted out or in.
    shift: Option<u8>,
    /// Receiver: a received byte held in the shift register while DR is full (BTF); it
    /// survives a stop condition until DR is read.
    held: Option<u8>,
    /// Transmitter: DR holds a byte waiting for the shift register.
    dr_full: bool,
    /// Receiver: the acknowledge of the last byte received (the device goes on after
    /// an ACK).
    acked: bool,
    /// Receiver with POS: CR1.ACK at the end of the previous byte.
    pos_ack: bool,
    /// Receiver: NACK the byte under way (CR2.LAST after the DMA's EOT_1).
    nack_next: bool,
    stop_pending: bool,
    start_pending: bool,
    time: TimeBase,
    freq_warned: bool,
}

/// An I2C block named `name` ("I2C1".."I2C3").
pub fn new(name: &str) -> I2c {
    I2c::new(name)
}

impl I2c {
    pub fn new(name: &str) -> I2c {
        let n = name
            .trim_start_matches("I2C")
            .parse::<u8>()
            .unwrap_or(1)
            .clamp(1, 3);
        let irqs = match n {
            2 => (33, 34),
            3 => (72, 73),
            _ => (31, 32),
        };
        I2c {
            name: name.to_string(),
            n,
            regs: Block::new(NAMES[n as usize - 1], REGS),
            irqs,
            levels: (false, false),
            dma: (false, false),
            devices: Vec::new(),
            target: None,
            phase: Phase::Idle,
            shifting: false,
            shift: None,
            held: None,
            dr_full: false,
            acked: false,
            pos_ack: true,
            nack_next: false,
            stop_pending: false,
            start_pending: false,
            time: TimeBase::default(),
            freq_warned: false,
        }
    }

    /// Puts `dev` on the bus at 7-bit address `addr` (replacing any device there).
    pub fn attach(&mut self, addr: u8, dev: Box<dyn I2cDevice>) {
        self.devices.retain(|(a, _)| *a != addr);
        self.devices.push((addr & 0x7F, dev));
    }

    /// The device at `addr` as its concrete type.
    pub fn device_mut<D: I2cDevice>(&mut self, addr: u8) -> Option<&mut D> {
        let (_, d) = self.devices.iter_mut().find(|(a, _)| *a == addr)?;
        let any: &mut dyn std::any::Any = d.as_mut();
        any.downcast_mut::<D>()
    }

    /// Switches the supply of the device at `addr` (the machine calls this when the
    /// board pin that powers it changes level).
    pub fn set_device_power(&mut self, ctx: &mut Ctx, addr: u8, on: bool) {
        let t = self.time.ns(ctx.now);
        if let Some((_, d)) = self.devices.iter_mut().find(|(a, _)| *a == addr) {
            tracing::debug!(target: T, t = ctx.now, dev = %self.name, addr, on, "device power");
            d.power(t, on);
        }
    }

    /// The DMA stream serving the RX requests has one transfer left (EOT_1): with
    /// CR2.LAST the byte being received is NACKed.
    pub fn dma_eot_1(&mut self, _ctx: &mut Ctx) {
        if self.regs.get(CR2) & LAST != 0 {
            self.nack_next = true;
        }
    }

    /// CR2.FREQ must give PCLK1 in MHz (RM0090 §27.6.2); the silicon derives its setup
    /// and hold times from it.
    fn check_freq(&mut self, ctx: &Ctx) {
        let freq = self.regs.get(CR2) & 0x3F;
        let mhz = ctx.clocks.pclk1 / 1_000_000;
        if (freq != mhz || !(2..=42).contains(&freq)) && !self.freq_warned {
            self.freq_warned = true;
            crate::regs::guest_error(
                &self.name,
                ctx.now,
                &format!("CR2.FREQ is {freq} MHz but PCLK1 is {mhz} MHz (must match, 2..=42)"),
            );
        }
    }

    /// One SCL period in CPU cycles.
    fn scl_period(&self, ctx: &Ctx) -> u64 {
        let ccr = self.regs.get(CCR);
        let c = (ccr & 0xFFF) as u64;
        if c == 0 {
            return ctx.clocks.to_cycles(1, 100_000);
        }
        let pclk_periods = match (ccr >> 15 & 1, ccr >> 14 & 1) {
            (0, _) => 2 * c,
            (_, 0) => 3 * c,
            _ => 25 * c,
        };
        ctx.clocks.to_cycles(pclk_periods, ctx.clocks.pclk1)
    }

    fn after(&self, ctx: &mut Ctx, token: u32, periods: u64) {
        let at = ctx.now + periods * self.scl_period(ctx);
        ctx.schedule(token, at);
    }

    fn ns(&self, ctx: &Ctx) -> u64 {
        self.time.ns(ctx.now)
    }

    fn update_irq(&mut self, ctx: &mut Ctx) {
        let cr2 = self.regs.get(CR2);
        let sr1 = self.regs.get(SR1);
        let buf = cr2 & ITBUFEN != 0 && sr1 & (TXE | RXNE) != 0;
        let ev = cr2 & ITEVTEN != 0 && (sr1 & EVENT_FLAGS != 0 || buf);
        let er = cr2 & ITERREN != 0 && sr1 & ERROR_FLAGS != 0;
        if ev != self.levels.0 {
            ctx.irq(self.irqs.0, ev);
        }
        if er != self.levels.1 {
            ctx.irq(self.irqs.1, er);
        }
        self.levels = (ev, er);
        let dmaen = cr2 & DMAEN != 0;
        let tx = dmaen && self.phase == Phase::Tx && sr1 & TXE != 0;
        let rx = dmaen && sr1 & RXNE != 0;
        if tx != self.dma.0 {
            ctx.push(Effect::DmaRequest {
                signal: DmaSignal::I2cTx(self.n),
                level: tx,
            });
        }
        if rx != self.dma.1 {
            ctx.push(Effect::DmaRequest {
                signal: DmaSignal::I2cRx(self.n),
                level: rx,
            });
        }
        self.dma = (tx, rx);
    }

    /// The addressed device sees a stop; the transfer state goes.
    fn end_transfer(&mut self, ctx: &Ctx) {
        let t = self.ns(ctx);
        if let Some(i) = self.target.take() {
            self.devices[i].1.stop(t);
        }
        self.phase = Phase::Idle;
        self.shifting = false;
        self.shift = None;
        self.dr_full = false;
        self.nack_next = false;
        self.stop_pending = false;
        self.start_pending = false;
    }

    /// Back to the reset state, keeping CR1 as `cr1`; the bus is released.
    fn clear(&mut self, ctx: &mut Ctx, cr1: u32) {
        self.release(ctx);
        self.regs.reset();
        self.regs.set(CR1, cr1);
    }

    /// The bus is let go of at once: no condition or byte under way goes on.
    fn release(&mut self, ctx: &mut Ctx) {
        self.end_transfer(ctx);
        self.held = None;
        for t in [TOKEN_START, TOKEN_ADDR, TOKEN_STOP, TOKEN_BYTE] {
            ctx.cancel(t);
        }
    }

    /// PE cleared: what RM0090 §27.6 says PE = 0 clears (CR1 START, ACK, POS and PEC; every
    /// SR1 flag; SR2 MSL and TRA) goes, and the bus is released (the addressed device sees
    /// a stop, so STOP and BUSY go too). The configuration stays: CR2 (FREQ, the interrupt
    /// and DMA enables), OAR1/OAR2, CCR, TRISE and FLTR, which software writes while PE is
    /// 0 precisely so that they apply once it is set.
    fn disable(&mut self, ctx: &mut Ctx, cr1: u32) {
        self.release(ctx);
        self.regs.set(CR1, cr1 & !(START | STOP | ACK | POS | PEC));
        self.regs.set(SR1, 0);
        self.regs.set(SR2, 0);
    }

    /// A byte (address or data) finished: a pending STOP or START happens now.
    /// Returns true if one was pending.
    fn pending_condition(&mut self, ctx: &mut Ctx) -> bool {
        if self.stop_pending {
            self.stop_pending = false;
            self.after(ctx, TOKEN_STOP, 1);
            true
        } else if self.start_pending {
            self.start_pending = false;
            self.after(ctx, TOKEN_START, 1);
            true
        } else {
            false
        }
    }

    /// Starts shifting `byte` out.
    fn send(&mut self, ctx: &mut Ctx, byte: u8) {
        self.shift = Some(byte);
        self.shifting = true;
        self.after(ctx, TOKEN_BYTE, 9);
    }

    /// Starts clocking a byte in from the addressed device.
    fn receive(&mut self, ctx: &mut Ctx) {
        let t = self.ns(ctx);
        let byte = match self.target {
            Some(i) => self.devices[i].1.read(t),
            None => 0xFF,
        };
        self.shift = Some(byte);
        self.shifting = true;
        self.after(ctx, TOKEN_BYTE, 9);
    }

    /// ADDR was cleared: the data phase begins.
    fn addr_cleared(&mut self, ctx: &mut Ctx, read: bool) {
        self.regs.set_bits(SR1, ADDR, false);
        if read {
            self.phase = Phase::Rx;
            self.pos_ack = true;
            self.receive(ctx);
        } else {
            self.phase = Phase::Tx;
            self.regs.set_bits(SR1, TXE, true);
            if self.dr_full {
                self.dr_full = false;
                let b = self.regs.get(DR) as u8;
                self.send(ctx, b);
            }
        }
    }

    fn address_done(&mut self, ctx: &mut Ctx) {
        let dr = self.regs.get(DR) as u8;
        let (addr, read) = (dr >> 1, dr & 1 != 0);
        let t = self.ns(ctx);
        let found = self.devices.iter().position(|(a, _)| *a == addr);
        let ack = match found {
            Some(i) => self.devices[i].1.address(t, read),
            None => Ack::Nack,
        };
        tracing::debug!(target: T, t = ctx.now, dev = %self.name, addr, read, ?ack, "address");
        if ack == Ack::Ack {
            self.target = found;
            self.phase = Phase::AddrWait { read };
            self.regs.set_bits(SR1, ADDR, true);
            self.regs.set_bits(SR2, TRA, !read);
        } else {
            self.target = None;
            self.phase = Phase::Ended;
            self.regs.set_bits(SR1, AF, true);
        }
        self.pending_condition(ctx);
    }

    fn byte_done(&mut self, ctx: &mut Ctx) {
        self.shifting = false;
        let t = self.ns(ctx);
        match self.phase {
            Phase::Tx => {
                let byte = self.shift.take().unwrap_or(0);
                let ack = match self.target {
                    Some(i) => self.devices[i].1.write(t, byte),
                    None => Ack::Nack,
                };
                tracing::trace!(target: T, t = ctx.now, dev = %self.name, byte, ?ack, "byte sent");
                if ack == Ack::Nack {
                    self.regs.set_bits(SR1, AF, true);
                    self.phase = Phase::Ended;
                    self.pending_condition(ctx);
                } else if self.pending_condition(ctx) {
                } else if self.dr_full {
                    self.dr_full = false;
                    self.regs.set_bits(SR1, TXE, true);
                    let b = self.regs.get(DR) as u8;
                    self.send(ctx, b);
                } else {
                    self.regs.set_bits(SR1, BTF, true);
                }
            }
            Phase::Rx => {
                let cr1 = self.regs.get(CR1);
                let ack = if std::mem::take(&mut self.nack_next) {
                    false
                } else if cr1 & POS != 0 {
                    self.pos_ack
                } else {
                    cr1 & ACK != 0
                };
                self.pos_ack = cr1 & ACK != 0;
                self.acked = ack;
                let byte = self.shift.take().unwrap_or(0);
                tracing::trace!(target: T, t = ctx.now, dev = %self.name, byte, ack, "byte received");
                if self.regs.get(SR1) & RXNE == 0 {
                    self.regs.set(DR, byte as u32);
                    self.regs.set_bits(SR1, RXNE, true);
                } else {
                    self.held = Some(byte);
                    self.regs.set_bits(SR1, BTF, true);
                }
                if !ack {
                    self.phase = Phase::Ended;
                }
                if !self.pending_condition(ctx) && ack && self.held.is_none() {
                    self.receive(ctx);
                }
            }
            _ => {}
        }
    }
}

impl Device for I2c {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let v = self.regs.read(offset, size).unwrap_or(0);
        tracing::trace!(target: T, t = ctx.now, dev = %self.name, reg = self.regs.name_at(offset), val = v, "read");
        match offset & !3 {
            SR2 => {
                if let Phase::AddrWait { read } = self.phase {
                    // Reading SR2 after SR1 clears ADDR.
                    self.addr_cleared(ctx, read);
                }
            }
            DR if self.regs.get(SR1) & RXNE != 0 => {
                self.regs.set_bits(SR1, RXNE | BTF, false);
                if let Some(b) = self.held.take() {
                    // The byte held in the shift register moves to DR.
                    self.regs.set(DR, b as u32);
                    self.regs.set_bits(SR1, RXNE, true);
                    let go_on = self.phase == Phase::Rx && self.acked && !self.shifting;
                    // No new byte once the software asked for a stop or a restart.
                    if go_on && self.regs.get(CR1) & (STOP | START) == 0 {
                        self.receive(ctx);
                    }
                }
            }
            _ => return Ok(v),
        }
        self.update_irq(ctx);
        Ok(v)
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        let Some(w) = self.regs.write(ctx.now, offset, size, value) else {
            return Ok(());
        };
        tracing::trace!(target: T, t = ctx.now, dev = %self.name, reg = self.regs.reg(w.idx).name, val = w.new, "write");
        let busy = self.shifting || self.phase == Phase::Address;
        match offset & !3 {
            CR1 => {
                if w.new & SWRST != 0 {
                    self.clear(ctx, w.new & SWRST);
                } else if w.new & PE == 0 {
                    self.disable(ctx, w.new);
                } else {
                    if w.old & PE == 0 {
                        self.check_freq(ctx);
                    }
                    if w.new & START != 0 && w.old & START == 0 {
                        if busy {
                            self.start_pending = true;
                        } else {
                            self.after(ctx, TOKEN_START, 1);
                        }
                    }
                    if w.new & STOP != 0 && w.old & STOP == 0 {
                        if busy {
                            self.stop_pending = true;
                        } else {
                            self.after(ctx, TOKEN_STOP, 1);
                        }
                    }
                }
            }
            DR => {
                let byte = w.new as u8;
                if self.regs.get(SR1) & SB != 0 {
                    // SB is cleared by reading SR1 then writing DR: the address goes out.
                    self.regs.set_bits(SR1, SB, false);
                    self.phase = Phase::Address;
                    self.after(ctx, TOKEN_ADDR, 9);
                } else if self.phase == Phase::Tx {
                    self.regs.set_bits(SR1, BTF, false);
                    if self.shifting {
                        self.dr_full = true;
                        self.regs.set_bits(SR1, TXE, false);
                    } else {
                        self.send(ctx, byte);
                    }
                } else if self.phase == (Phase::AddrWait { read: false }) {
                    self.dr_full = true;
                }
            }
            _ => {}
        }
        self.update_irq(ctx);
        Ok(())
    }

    fn event(&mut self, ctx: &mut Ctx, token: u32) {
        match token {
            TOKEN_START if self.regs.bit(CR1, PE) => {
                let t = self.ns(ctx);
                self.regs.set_bits(CR1, START, false);
                self.regs.set_bits(SR1, SB, true);
                self.regs.set_bits(SR1, TXE | BTF, false);
                self.regs.set_bits(SR2, MSL | BUSY, true);
                self.regs.set_bits(SR2, TRA, false);
                self.phase = Phase::Idle;
                self.shift = None;
                self.dr_full = false;
                for (_, d) in self.devices.iter_mut() {
                    d.start(t);
                }
            }
            TOKEN_ADDR => self.address_done(ctx),
            TOKEN_BYTE => self.byte_done(ctx),
            TOKEN_STOP => {
                self.regs.set_bits(CR1, STOP, false);
                self.regs.set_bits(SR1, TXE | BTF, false);
                self.regs.set_bits(SR2, MSL | BUSY | TRA, false);
                self.end_transfer(ctx);
            }
            _ => {}
        }
        self.update_irq(ctx);
    }

    fn clocks_changed(&mut self, ctx: &mut Ctx) {
        self.time.update(ctx.now, ctx.clocks.sysclk);
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        self.time.update(ctx.now, ctx.clocks.sysclk);
        // The devices keep their supply: it comes from a board pin, which the machine
        // switches (a chip reset makes that pin an input, and the machine says so).
        self.clear(ctx, 0);
        if self.levels.0 {
            ctx.irq(self.irqs.0, false);
        }
        if self.levels.1 {
            ctx.irq(self.irqs.1, false);
        }
        self.levels = (false, false);
        self.update_irq(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;

    fn bus() -> FakeBus<I2c> {
        FakeBus::new(new("I2C1"), crate::testing::PYBOARD)
    }

    #[test]
    fn reset_values_and_flags() {
        let mut b = bus();
        assert_eq!(b.read32(0x20), 0x0002, "TRISE");
        b.write32(CR2, 42);
        b.write32(CR1, PE);
        assert_eq!(b.read32(CR1), PE);
        b.write32(SR1, 0xFFFF);
        assert_eq!(b.read32(SR1), 0);
        assert_eq!(b.read32(SR2), 0, "bus idle");
    }

    /// The HAL's `HAL_I2C_IsDeviceReady` (what `I2C.scan()` does per address) at 400 kHz.
    #[test]
    fn an_address_is_not_acknowledged_then_stop_releases_the_bus() {
        let mut b = bus();
        b.write32(CCR, (1 << 15) | 35); // fast mode, DUTY 0: 3 * 35 / 42 MHz = 2.5 us
        b.write32(CR2, 42 | ITERREN);
        b.write32(CR1, PE);
        b.write32(CR1, PE | START);
        assert_eq!(b.read32(SR1) & SB, 0);
        b.advance(420);
        assert_eq!(b.read32(SR1), SB);
        assert_eq!(b.read32(SR2), MSL | BUSY);
        assert_eq!(b.read32(CR1), PE, "START clears itself");
        b.write32(DR, 0x4C << 1);
        assert_eq!(b.read32(SR1), 0, "SB cleared by the DR write");
        b.advance(9 * 420 - 1);
        assert_eq!(b.read32(SR1) & AF, 0);
        b.advance(1);
        assert_eq!(b.read32(SR1), AF);
        assert!(b.irq(32), "error interrupt");
        b.write32(CR1, PE | STOP);
        b.write32(SR1, !AF & 0xFFFF);
        assert!(!b.irq(32));
        b.advance(420);
        assert_eq!(b.read32(SR2), 0, "bus released");
        assert_eq!(b.read32(CR1), PE, "STOP clears itself");
    }

    #[test]
    fn disabling_releases_the_bus() {
        let mut b = bus();
        b.write32(CR1, PE);
        b.write32(CR1, PE | START);
        b.advance(10_000);
        assert_eq!(b.read32(SR2), MSL | BUSY);
        b.write32(CR1, 0);
        assert_eq!(b.read32(SR2), 0);
        assert_eq!(b.read32(SR1), 0);
        b.write32(CR1, SWRST);
        b.write32(CR1, 0);
        assert_eq!(b.read32(0x20), 2);
    }

    /// PE = 0 clears START/ACK/POS and the status flags but not the configuration: the
    /// official firmware's i2c.c clears PE after every transfer and sets it again for the
    /// next, which must still run at the CCR it configured (here 400 kHz, 2.5 us SB).
    #[test]
    fn disabling_keeps_the_configuration() {
        let mut b = bus();
        b.write32(CCR, (1 << 15) | 35);
        b.write32(0x20, 13);
        b.write32(0x08, 1);
        b.write32(CR2, 42 | ITEVTEN | ITERREN);
        b.write32(CR1, PE | ACK | POS);
        b.write32(CR1, PE | ACK | POS | START);
        b.advance(420);
        assert_eq!(b.read32(SR1), SB);
        b.write32(CR1, ACK | POS);
        assert_eq!(b.read32(CR1), 0, "ACK and POS cleared by PE = 0");
        assert_eq!((b.read32(SR1), b.read32(SR2)), (0, 0));
        assert_eq!(b.read32(CR2), 42 | ITEVTEN | ITERREN);
        assert_eq!(b.read32(CCR), (1 << 15) | 35);
        assert_eq!(b.read32(0x20), 13);
        assert_eq!(b.read32(0x08), 1);
        assert!(!b.irq(31), "SB gone, so the event line falls");
        b.write32(CR1, PE);
        assert!(!b.dev.freq_warned, "FREQ kept");
        b.write32(CR1, PE | START);
        b.advance(419);
        assert_eq!(b.read32(SR1), 0);
        b.advance(1);
        assert_eq!(b.read32(SR1), SB, "still one 400 kHz SCL period");
        assert!(b.irq(31), "ITEVTEN kept: SB raises the event interrupt");
    }

    use crate::mma7660::{self, Mma7660};

    /// I2C1 with a powered MMA7660 at 0x4C, in standard mode at 100 kHz (CCR 210 of a
    /// 42 MHz PCLK1: 420 PCLK1 periods = 1680 CPU cycles per SCL period).
    fn with_mma(ccr: u32) -> FakeBus<I2c> {
        let mut b = bus();
        b.dev.attach(0x4C, Box::new(Mma7660::new()));
        b.with(|i, ctx| i.set_device_power(ctx, 0x4C, true));
        b.write32(CR2, 42);
        b.write32(CCR, ccr);
        b.write32(CR1, PE);
        b
    }

    /// Runs until `flag` is set in SR1 (as firmware polls) and returns the time.
    fn wait(b: &mut FakeBus<I2c>, flag: u32) -> u64 {
        for _ in 0..100 {
            if b.read32(SR1) & flag != 0 {
                return b.now;
            }
            let next = b.next_deadline().expect("nothing pending");
            b.advance_to(next);
        }
        panic!("flag {flag:#x} never set");
    }

    /// START, address: returns whether it was acknowledged (ADDR cleared).
    fn start(b: &mut FakeBus<I2c>, byte: u32) -> bool {
        let cr1 = b.read32(CR1);
        b.write32(CR1, cr1 | START);
        wait(b, SB);
        b.write32(DR, byte);
        wait(b, ADDR | AF);
        if b.read32(SR1) & AF != 0 {
            return false;
        }
        b.read32(SR2);
        true
    }

    fn write_bytes(b: &mut FakeBus<I2c>, bytes: &[u8]) {
        for &x in bytes {
            wait(b, TXE);
            b.write32(DR, x as u32);
            wait(b, BTF | AF);
        }
    }

    fn stop(b: &mut FakeBus<I2c>) {
        let cr1 = b.read32(CR1);
        b.write32(CR1, cr1 | STOP);
        while b.read32(CR1) & STOP != 0 {
            let next = b.next_deadline().unwrap();
            b.advance_to(next);
        }
    }

    /// Exact byte timing at 100 kHz: start 1 SCL period, address 9, each data byte 9,
    /// stop 1 (1680 CPU cycles per period).
    #[test]
    fn write_transfer_timing_at_100_khz() {
        let mut b = with_mma(210);
        let t0 = b.now;
        b.write32(CR1, PE | START);
        assert_eq!(wait(&mut b, SB) - t0, 1680);
        b.write32(DR, 0x4C << 1);
        assert_eq!(wait(&mut b, ADDR) - t0, 1680 * 10);
        assert_eq!(b.read32(SR2), MSL | BUSY | TRA, "reading SR2 clears ADDR");
        assert_eq!(b.read32(SR1), TXE);
        b.write32(DR, mma7660::MODE as u32);
        assert_eq!(b.read32(SR1), TXE, "the byte went to the shift register");
        b.write32(DR, 1);
        assert_eq!(b.read32(SR1), 0, "second byte waits in DR");
        assert_eq!(wait(&mut b, TXE) - t0, 1680 * 19);
        assert_eq!(wait(&mut b, BTF) - t0, 1680 * 28);
        b.write32(CR1, PE | STOP);
        b.advance(1679);
        assert_eq!(b.read32(SR2) & BUSY, BUSY);
        b.advance(1);
        assert_eq!(b.read32(SR2), 0);
        assert_eq!(b.read32(CR1), PE);
        assert_eq!(
            b.dev.device_mut::<Mma7660>(0x4C).map(|m| m.powered()),
            Some(true)
        );
    }

    /// At 400 kHz as the official firmware sets it (fast mode, DUTY 16:9, CCR 5: 125
    /// PCLK1 periods = 500 CPU cycles per SCL period; a byte is 4500 cycles).
    #[test]
    fn byte_timing_at_400_khz() {
        let mut b = with_mma(0xC000 | 5);
        let t0 = b.now;
        assert!(start(&mut b, 0x4C << 1));
        assert_eq!(b.now - t0, 500 * 10);
        b.write32(DR, 0);
        assert_eq!(wait(&mut b, BTF) - t0, 500 * 19);
        // Fast mode, DUTY 2:1, CCR 35: 105 PCLK1 periods = 420 cycles.
        let mut b = with_mma(0x8000 | 35);
        let t0 = b.now;
        assert!(start(&mut b, 0x4C << 1));
        assert_eq!(b.now - t0, 420 * 10);
    }

    #[test]
    fn absent_or_unpowered_device_does_not_acknowledge() {
        let mut b = with_mma(210);
        assert!(!start(&mut b, 0x1D << 1), "nobody at 0x1D");
        assert_eq!(b.read32(SR1), AF);
        stop(&mut b);
        b.write32(SR1, 0);
        b.with(|i, ctx| i.set_device_power(ctx, 0x4C, false));
        assert!(!start(&mut b, 0x4C << 1), "unpowered");
        stop(&mut b);
        b.write32(SR1, 0);
        b.with(|i, ctx| i.set_device_power(ctx, 0x4C, true));
        assert!(start(&mut b, 0x4C << 1), "powered again");
    }

    /// Reads of 1, 2 (POS) and 4 bytes the way the official firmware's i2c.c does them.
    #[test]
    fn reads_with_ack_pos_and_btf() {
        let mut b = with_mma(210);
        // Set SR = 0 (120 samples/s) and activate: MODE = 1.
        assert!(start(&mut b, 0x4C << 1));
        write_bytes(&mut b, &[mma7660::MODE, 1]);
        stop(&mut b);
        b.advance(168_000 * 20); // 20 ms: two samples at 120/s
                                 // One byte: ACK off before clearing ADDR, STOP, wait RxNE.
        assert!(start(&mut b, 0x4C << 1));
        write_bytes(&mut b, &[mma7660::ZOUT]);
        b.write32(CR1, PE | START); // repeated start after the byte
        wait(&mut b, SB);
        b.write32(DR, (0x4C << 1) | 1);
        wait(&mut b, ADDR);
        b.write32(CR1, PE);
        let t = b.now;
        b.read32(SR2);
        b.write32(CR1, PE | STOP);
        assert_eq!(wait(&mut b, RXNE) - t, 9 * 1680);
        assert_eq!(b.read32(DR), 21, "1 g: 21 counts");
        stop(&mut b);
        // Two bytes: POS and ACK = 0 before clearing ADDR; wait BTF; STOP; read twice.
        assert!(start(&mut b, 0x4C << 1));
        write_bytes(&mut b, &[mma7660::ZOUT]);
        stop(&mut b);
        b.write32(CR1, PE | START);
        wait(&mut b, SB);
        b.write32(DR, (0x4C << 1) | 1);
        wait(&mut b, ADDR);
        b.write32(CR1, PE | POS);
        let t = b.now;
        b.read32(SR2);
        assert_eq!(wait(&mut b, BTF) - t, 18 * 1680);
        b.write32(CR1, PE | POS | STOP);
        assert_eq!(b.read32(DR), 21, "ZOUT");
        assert_eq!(b.read32(DR), 0x01, "TILT: lying flat, BaFro = front");
        stop(&mut b);
        b.write32(CR1, PE);
        // Four bytes from XOUT, ACK on, NACK the last: XOUT YOUT ZOUT TILT.
        assert!(start(&mut b, 0x4C << 1));
        write_bytes(&mut b, &[mma7660::XOUT]);
        stop(&mut b);
        b.write32(CR1, PE | ACK | START);
        wait(&mut b, SB);
        b.write32(DR, (0x4C << 1) | 1);
        wait(&mut b, ADDR);
        b.read32(SR2);
        let mut got = Vec::new();
        let mut remain = 4;
        while remain > 0 {
            wait(&mut b, BTF);
            if remain == 2 {
                b.write32(CR1, PE | STOP);
                got.push(b.read32(DR));
                got.push(b.read32(DR));
                break;
            } else if remain == 3 {
                b.write32(CR1, PE);
            }
            got.push(b.read32(DR));
            remain -= 1;
        }
        stop(&mut b);
        assert_eq!(got, vec![0, 0, 21, 0x01]);
    }

    #[test]
    fn dma_requests_follow_txe_and_rxne() {
        let mut b = with_mma(210);
        b.write32(CR2, 42 | DMAEN);
        assert!(start(&mut b, 0x4C << 1));
        let reqs = |b: &mut FakeBus<I2c>| -> Vec<(DmaSignal, bool)> {
            b.take_log()
                .into_iter()
                .filter_map(|(_, e)| match e {
                    Effect::DmaRequest { signal, level } => Some((signal, level)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(reqs(&mut b), vec![(DmaSignal::I2cTx(1), true)]);
        b.write32(DR, 0);
        b.write32(DR, 0);
        assert_eq!(reqs(&mut b), vec![(DmaSignal::I2cTx(1), false)]);
        wait(&mut b, TXE);
        assert_eq!(reqs(&mut b), vec![(DmaSignal::I2cTx(1), true)]);
        stop(&mut b);
        reqs(&mut b);
        // Receive three bytes with LAST: the byte after EOT_1 is NACKed.
        b.write32(CR2, 42 | DMAEN | LAST);
        b.write32(CR1, PE | ACK);
        assert!(start(&mut b, (0x4C << 1) | 1));
        assert_eq!(reqs(&mut b), vec![]);
        wait(&mut b, RXNE);
        assert_eq!(reqs(&mut b), vec![(DmaSignal::I2cRx(1), true)]);
        b.read32(DR);
        assert_eq!(reqs(&mut b), vec![(DmaSignal::I2cRx(1), false)]);
        b.with(|i, ctx| i.dma_eot_1(ctx));
        wait(&mut b, RXNE);
        b.read32(DR);
        b.advance(100_000);
        assert_eq!(b.read32(SR1) & RXNE, 0, "NACKed: no third byte");
    }

    /// A device that takes two bytes and NACKs the third.
    struct Picky {
        got: Vec<u8>,
    }

    impl I2cDevice for Picky {
        fn name(&self) -> &str {
            "picky"
        }
        fn address(&mut self, _t: u64, _read: bool) -> Ack {
            Ack::Ack
        }
        fn write(&mut self, _t: u64, byte: u8) -> Ack {
            self.got.push(byte);
            if self.got.len() < 3 {
                Ack::Ack
            } else {
                Ack::Nack
            }
        }
        fn read(&mut self, _t: u64) -> u8 {
            0
        }
    }

    #[test]
    fn a_nacked_data_byte_sets_af_and_ends_the_data_phase() {
        let mut b = bus();
        b.dev.attach(0x20, Box::new(Picky { got: Vec::new() }));
        b.write32(CR2, 42 | ITERREN);
        b.write32(CCR, 210);
        b.write32(CR1, PE);
        assert!(start(&mut b, 0x20 << 1));
        write_bytes(&mut b, &[1, 2]);
        assert_eq!(b.read32(SR1) & AF, 0);
        b.write32(DR, 3);
        wait(&mut b, AF | BTF);
        assert_eq!(b.read32(SR1) & (AF | BTF), AF, "NACK, not BTF");
        assert!(b.irq(32), "error interrupt");
        b.write32(DR, 4);
        b.advance(100_000);
        assert_eq!(
            b.next_deadline(),
            None,
            "nothing more goes out after the NACK"
        );
        stop(&mut b);
        assert_eq!(b.dev.device_mut::<Picky>(0x20).unwrap().got, vec![1, 2, 3]);
    }

    #[test]
    fn freq_is_checked_against_pclk1_when_enabled() {
        let mut b = bus();
        b.write32(CR2, 42);
        b.write32(CR1, PE);
        assert!(!b.dev.freq_warned, "42 MHz is PCLK1");
        b.write32(CR1, 0);
        b.write32(CR2, 16);
        b.write32(CR1, PE);
        assert!(b.dev.freq_warned, "16 MHz is not");
    }

    /// Arbitrary register writes (CCR 0, any FREQ, START/STOP/PE/SWRST at any moment)
    /// with the accelerometer on the bus, switched on and off, and DMA EOT_1 signals: no
    /// panic, no event storm.
    #[test]
    fn arbitrary_programming_never_panics() {
        let offsets: Vec<u32> = REGS.iter().map(|r| r.offset).chain([0x28, 0x3FC]).collect();
        for seed in 1..=30 {
            let mut b = bus();
            b.dev.attach(0x4C, Box::new(crate::mma7660::Mma7660::new()));
            crate::testing::hammer(&mut b, seed, 3000, &offsets, |b, rng| {
                match rng.below(4) {
                    0 => {
                        let on = rng.below(2) == 0;
                        b.with(|d, ctx| d.set_device_power(ctx, 0x4C, on));
                    }
                    1 => b.with(|d, ctx| d.dma_eot_1(ctx)),
                    // The accelerometer's address, so that transfers reach it.
                    2 => b.write32(DR, [0x98, 0x99][rng.below(2) as usize]),
                    _ => {
                        let v = rng.value();
                        b.write32(CR1, PE | (v & (START | STOP | ACK | POS)));
                    }
                }
            });
        }
    }
}
