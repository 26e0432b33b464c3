//! A Microchip 24LC-series I2C serial EEPROM (24LC32/64/128/256/512 datasheets: "Device
//! addressing", "Write operations", "Acknowledge polling", "Read operations"). An
//! [`I2cDevice`].
//!
//! Datasheet facts used (24LC256 in brackets): control byte 1010 A2 A1 A0 R/W, so
//! addresses 0x50-0x57 by the A pins; two address bytes, high first (the bits above the
//! array size are don't-care); 32 KiB array with 64-byte pages [24LC32 and 24LC64: 32-byte
//! pages, 24LC128: 64, 24LC512: 128]; write cycle time TWC 5 ms max; WP high inhibits
//! writes. The array ships erased (0xFF).
//!
//! Modelled:
//! - Byte and page writes: after the two address bytes, data bytes go into the page latch
//!   at the address, the low address bits wrapping within the page (bytes beyond a page
//!   overwrite its start). The stop condition starts the write cycle: the bytes land in
//!   the array and for TWC (5 ms, the datasheet maximum) the device acknowledges nothing,
//!   not even its address (acknowledge polling). A repeated start or a write with no data
//!   byte (setting the address for a random read) starts no write cycle.
//! - Reads: current-address read, random read (address write, repeated start, read) and
//!   sequential read; the address counter wraps from the last byte to 0. After a write it
//!   points past the last byte written (wrapping within the page).
//! - WP ([`Eeprom::set_write_protect`]): high, data bytes are acknowledged but no write
//!   cycle starts.
//!
//! Not modelled: the 24LC512's and 24LC1025's block select bits, endurance and data
//! retention, a write cycle shorter than the maximum, the 400 kHz / 1 MHz bus limits,
//! a stop in the middle of a byte.

use pybsim_peripherals::i2c::{Ack, I2cDevice};

use crate::{ConfigError, MS};

const T: &str = "part::eeprom";

/// Write cycle time TWC (ns): the datasheet maximum.
pub const TWC: u64 = 5 * MS;

/// A member of the family: array size and page size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    pub size: usize,
    pub page: usize,
}

impl Kind {
    pub const LC32: Kind = Kind {
        name: "24LC32",
        size: 4096,
        page: 32,
    };
    pub const LC64: Kind = Kind {
        name: "24LC64",
        size: 8192,
        page: 32,
    };
    pub const LC128: Kind = Kind {
        name: "24LC128",
        size: 16384,
        page: 64,
    };
    pub const LC256: Kind = Kind {
        name: "24LC256",
        size: 32768,
        page: 64,
    };
    pub const LC512: Kind = Kind {
        name: "24LC512",
        size: 65536,
        page: 128,
    };

    /// By name ("24LC256"), for board files.
    pub fn by_name(name: &str) -> Option<Kind> {
        [
            Kind::LC32,
            Kind::LC64,
            Kind::LC128,
            Kind::LC256,
            Kind::LC512,
        ]
        .into_iter()
        .find(|k| k.name.eq_ignore_ascii_case(name))
    }
}

/// Where the device is in a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not addressed (or after a read).
    Idle,
    AddrHigh,
    AddrLow,
    /// Taking data bytes into the page latch.
    Data,
}

/// The EEPROM.
#[derive(Debug, Clone)]
pub struct Eeprom {
    kind: Kind,
    mem: Vec<u8>,
    pointer: usize,
    state: State,
    /// The page latch: (address, byte) in the order written.
    latch: Vec<(usize, u8)>,
    busy_until: Option<u64>,
    wp: bool,
    writes: u64,
}

impl Eeprom {
    /// An erased device.
    pub fn new(kind: Kind) -> Eeprom {
        Eeprom {
            kind,
            mem: vec![0xFF; kind.size],
            pointer: 0,
            state: State::Idle,
            latch: Vec::new(),
            busy_until: None,
            wp: false,
            writes: 0,
        }
    }

    /// A device holding `image` (exactly its size: a saved EEPROM file).
    pub fn with_contents(kind: Kind, image: &[u8]) -> Result<Eeprom, ConfigError> {
        if image.len() != kind.size {
            return Err(ConfigError::new(
                "EEPROM",
                format!(
                    "a {} image is {} bytes, not {}",
                    kind.name,
                    kind.size,
                    image.len()
                ),
            ));
        }
        let mut e = Eeprom::new(kind);
        e.mem.copy_from_slice(image);
        Ok(e)
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The array (to save it, or to check it in a test).
    pub fn contents(&self) -> &[u8] {
        &self.mem
    }

    /// Write cycles completed or under way.
    pub fn write_cycles(&self) -> u64 {
        self.writes
    }

    /// Whether a write cycle is under way at `t`.
    pub fn busy(&self, t: u64) -> bool {
        self.busy_until.is_some_and(|b| t < b)
    }

    /// The level on the WP pin.
    pub fn set_write_protect(&mut self, high: bool) {
        self.wp = high;
    }

    fn mask(&self, addr: usize) -> usize {
        addr % self.kind.size
    }
}

impl I2cDevice for Eeprom {
    fn name(&self) -> &str {
        self.kind.name
    }

    fn start(&mut self, t_ns: u64) {
        if self.state == State::Data && !self.latch.is_empty() {
            tracing::debug!(target: T, t_ns, bytes = self.latch.len(), "repeated start: the page latch is dropped, no write cycle");
        }
        self.latch.clear();
        self.state = State::Idle;
    }

    fn address(&mut self, t_ns: u64, read: bool) -> Ack {
        if self.busy(t_ns) {
            tracing::trace!(target: T, t_ns, "address during the write cycle: NACK");
            return Ack::Nack;
        }
        self.state = if read { State::Idle } else { State::AddrHigh };
        Ack::Ack
    }

    fn write(&mut self, t_ns: u64, byte: u8) -> Ack {
        if self.busy(t_ns) {
            return Ack::Nack;
        }
        match self.state {
            State::Idle => return Ack::Nack,
            State::AddrHigh => {
                self.pointer = self.mask((byte as usize) << 8);
                self.state = State::AddrLow;
            }
            State::AddrLow => {
                self.pointer = self.mask((self.pointer & !0xFF) | byte as usize);
                self.state = State::Data;
            }
            State::Data => {
                let page = self.kind.page;
                self.latch.push((self.pointer, byte));
                self.pointer = self.pointer / page * page + (self.pointer + 1) % page;
            }
        }
        Ack::Ack
    }

    fn read(&mut self, _t_ns: u64) -> u8 {
        let v = self.mem[self.pointer];
        self.pointer = self.mask(self.pointer + 1);
        v
    }

    fn stop(&mut self, t_ns: u64) {
        if self.state == State::Data && !self.latch.is_empty() {
            if self.wp {
                tracing::debug!(target: T, t_ns, "WP high: no write cycle");
            } else {
                for &(a, b) in &self.latch {
                    self.mem[a] = b;
                }
                self.writes += 1;
                self.busy_until = Some(t_ns + TWC);
                tracing::debug!(target: T, t_ns, bytes = self.latch.len(), at = self.latch[0].0, "write cycle");
            }
        }
        self.latch.clear();
        self.state = State::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::US;

    /// A write transfer (start, address, bytes, stop) at `t`, 100 µs per byte: the ACKs.
    fn write(e: &mut Eeprom, t: u64, bytes: &[u8]) -> Vec<Ack> {
        e.start(t);
        let mut acks = vec![e.address(t, false)];
        for (i, &b) in bytes.iter().enumerate() {
            if acks[0] == Ack::Ack {
                acks.push(e.write(t + (i as u64 + 1) * 100 * US, b));
            }
        }
        e.stop(t + (bytes.len() as u64 + 1) * 100 * US);
        acks
    }

    /// A random read: address write, repeated start, `n` bytes.
    fn read(e: &mut Eeprom, t: u64, addr: u16, n: usize) -> Option<Vec<u8>> {
        e.start(t);
        if e.address(t, false) == Ack::Nack {
            e.stop(t);
            return None;
        }
        e.write(t, (addr >> 8) as u8);
        e.write(t, addr as u8);
        e.start(t);
        e.address(t, true);
        let v = (0..n).map(|_| e.read(t)).collect();
        e.stop(t);
        Some(v)
    }

    #[test]
    fn page_write_then_acknowledge_polling_then_read_back() {
        let mut e = Eeprom::new(Kind::LC256);
        let acks = write(&mut e, 0, &[0x12, 0x34, 1, 2, 3, 4]);
        assert_eq!(acks, vec![Ack::Ack; 7]);
        // The stop at 700 µs starts the 5 ms write cycle: no ACK until 5.7 ms.
        let stop = 700 * US;
        assert!(e.busy(stop) && e.busy(stop + TWC - 1) && !e.busy(stop + TWC));
        assert_eq!(read(&mut e, stop + TWC - 1, 0x1234, 4), None);
        assert_eq!(
            read(&mut e, stop + TWC, 0x1234, 5),
            Some(vec![1, 2, 3, 4, 0xFF])
        );
        assert_eq!(e.write_cycles(), 1);
        assert_eq!(&e.contents()[0x1234..0x1238], &[1, 2, 3, 4]);
    }

    #[test]
    fn a_page_write_wraps_within_its_page() {
        let mut e = Eeprom::new(Kind::LC256);
        // 4 bytes from 0x003E: 0x3E, 0x3F, then 0x00, 0x01 of the same 64-byte page.
        write(&mut e, 0, &[0x00, 0x3E, 0xA, 0xB, 0xC, 0xD]);
        let m = e.contents();
        assert_eq!(
            (m[0x3E], m[0x3F], m[0x00], m[0x01], m[0x40]),
            (0xA, 0xB, 0xC, 0xD, 0xFF)
        );
        // A current-address read goes on from the address after the last byte written.
        e.start(10 * MS);
        assert_eq!(e.address(10 * MS, true), Ack::Ack);
        assert_eq!(e.read(10 * MS), 0xFF);
        assert_eq!(e.pointer, 3);
    }

    #[test]
    fn setting_the_address_alone_or_with_wp_writes_nothing() {
        let mut e = Eeprom::new(Kind::LC32);
        write(&mut e, 0, &[0x0F, 0xFF]);
        assert!(!e.busy(1_000 * US), "no data byte: no write cycle");
        // The high address bits beyond 4 KiB are don't-care: 0x0FFF then wraps to 0.
        e.start(MS);
        e.address(MS, true);
        assert_eq!((e.read(MS), e.pointer), (0xFF, 0));
        e.set_write_protect(true);
        assert_eq!(write(&mut e, 2 * MS, &[0, 0, 0x55]), vec![Ack::Ack; 4]);
        assert!(!e.busy(3 * MS));
        assert_eq!(e.contents()[0], 0xFF);
        assert_eq!(e.write_cycles(), 0);
    }

    #[test]
    fn sequential_read_wraps_at_the_end_of_the_array() {
        let mut img = vec![0u8; 4096];
        img[4095] = 7;
        img[0] = 9;
        let mut e = Eeprom::with_contents(Kind::LC32, &img).unwrap();
        assert_eq!(read(&mut e, 0, 0x0FFF, 2), Some(vec![7, 9]));
        assert_eq!(
            Eeprom::with_contents(Kind::LC256, &img)
                .unwrap_err()
                .to_string(),
            "EEPROM: a 24LC256 image is 32768 bytes, not 4096"
        );
        assert_eq!(Kind::by_name("24lc256"), Some(Kind::LC256));
    }

    /// Plugged into the I2C1 model and driven through its registers like the firmware
    /// does: a page write, then the address is NACKed (SR1.AF) until the write cycle ends.
    #[test]
    fn through_the_i2c_block() {
        use pybsim_peripherals::i2c::{self, I2c};
        use pybsim_peripherals::testing::{FakeBus, PYBOARD};
        let mut b = FakeBus::new(I2c::new("I2C1"), PYBOARD);
        b.dev.attach(0x50, Box::new(Eeprom::new(Kind::LC256)));
        b.with(|d, ctx| d.set_device_power(ctx, 0x50, true));
        b.write32(i2c::CR2, 42);
        b.write32(i2c::CCR, 210); // 100 kHz
        b.write32(i2c::CR1, i2c::PE);
        let wait = |b: &mut FakeBus<I2c>, flags: u32| {
            while b.read32(i2c::SR1) & flags == 0 {
                let next = b.next_deadline().expect("the I2C block waits for nothing");
                b.advance_to(next);
            }
        };
        let stop = |b: &mut FakeBus<I2c>| {
            b.write32(i2c::CR1, i2c::PE | i2c::STOP);
            while b.read32(i2c::CR1) & i2c::STOP != 0 {
                let next = b.next_deadline().unwrap();
                b.advance_to(next);
            }
        };
        let start = |b: &mut FakeBus<I2c>| -> bool {
            b.write32(i2c::CR1, i2c::PE | i2c::START);
            wait(b, i2c::SB);
            b.write32(i2c::DR, 0x50 << 1);
            wait(b, i2c::ADDR | i2c::AF);
            if b.read32(i2c::SR1) & i2c::AF != 0 {
                b.write32(i2c::SR1, 0);
                return false;
            }
            b.read32(i2c::SR2);
            true
        };
        assert!(start(&mut b));
        for x in [0x00, 0x10, 0xAB] {
            wait(&mut b, i2c::TXE);
            b.write32(i2c::DR, x);
        }
        wait(&mut b, i2c::BTF);
        stop(&mut b);
        let t_stop = b.now;
        let mut polls = 0;
        while !start(&mut b) {
            polls += 1;
            stop(&mut b);
        }
        stop(&mut b);
        // 100 kHz: 10 µs per SCL period. Poll k starts 110 k µs after the stop (start 1
        // + address 9 + stop 1 periods) and the device answers its address at the end of
        // the address byte, 100 µs into the poll: NACK while 110 k + 100 < 5000, k <= 44.
        assert_eq!(polls, 45);
        assert!(b.now - t_stop >= 5 * 168_000, "{} cycles", b.now - t_stop);
        let dev = b.dev.device_mut::<Eeprom>(0x50).unwrap();
        assert_eq!(dev.contents()[0x10], 0xAB);
    }
}
