//! The pybsim console device (not an RM0090 block; see docs/console.md): a polled byte
//! channel between the firmware and the host at 0x4000_8000, reserved APB1 space on the
//! STM32F405.
//!
//! Modelled:
//! - SR (RXNE, TXE always 1), DR (read pops the oldest received byte, 0 when empty; write
//!   sends the low 8 bits as [`Effect::ConsoleTx`], one effect per write), RXCNT, ID
//!   ("pybs" = 0x7079_6273). Word, half-word and byte accesses; other offsets are bus
//!   errors.
//! - Host input queued by the machine with [`Console::push_rx`] at slice boundaries.
//!
//! Not modelled:
//! - Nothing: the device has no interrupt by design (the firmware polls SR from SysTick).

use std::collections::VecDeque;

use crate::device::{extract, BusError, Ctx, Device, Effect, Size};

const T: &str = "periph::console";

/// Base address of the console block.
pub const BASE: u32 = 0x4000_8000;
pub const SR: u32 = 0x00;
pub const DR: u32 = 0x04;
pub const RXCNT: u32 = 0x08;
pub const ID: u32 = 0x0C;

pub const RXNE: u32 = 1 << 0;
pub const TXE: u32 = 1 << 1;
/// "pybs".
pub const ID_VALUE: u32 = 0x7079_6273;

#[derive(Debug, Default)]
pub struct Console {
    rx: VecDeque<u8>,
}

impl Console {
    pub fn new() -> Console {
        Console::default()
    }

    /// Queues host input for the firmware.
    pub fn push_rx(&mut self, bytes: &[u8]) {
        self.rx.extend(bytes);
    }

    /// Bytes waiting to be read by the firmware.
    pub fn rx_len(&self) -> usize {
        self.rx.len()
    }
}

impl Device for Console {
    fn name(&self) -> &str {
        "CONSOLE"
    }

    fn read(&mut self, ctx: &mut Ctx, offset: u32, size: Size) -> Result<u32, BusError> {
        let word = match offset & !3 {
            SR => TXE | if self.rx.is_empty() { 0 } else { RXNE },
            DR => self.rx.pop_front().unwrap_or(0) as u32,
            RXCNT => self.rx.len() as u32,
            ID => ID_VALUE,
            _ => return Err(BusError { offset, size }),
        };
        let v = extract(offset, size, word);
        tracing::trace!(target: T, t = ctx.now, offset, val = v, "read");
        Ok(v)
    }

    fn write(
        &mut self,
        ctx: &mut Ctx,
        offset: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        match offset & !3 {
            DR => {
                // Only the lane holding DR[7:0] carries a byte.
                if offset & 3 == 0 {
                    let byte = value as u8;
                    tracing::trace!(target: T, t = ctx.now, byte, "tx");
                    ctx.push(Effect::ConsoleTx(vec![byte]));
                }
                Ok(())
            }
            SR | RXCNT | ID => Ok(()),
            _ => Err(BusError { offset, size }),
        }
    }

    fn reset(&mut self, _ctx: &mut Ctx) {
        // Host input already queued is not the firmware's state: it survives a reset.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBus;
    use crate::Clocks;

    #[test]
    fn polled_rx_and_tx() {
        let mut b = FakeBus::new(Console::new(), Clocks::RESET);
        assert_eq!(b.read32(ID), ID_VALUE);
        assert_eq!(b.read32(SR), TXE);
        assert_eq!(b.read32(DR), 0);
        b.dev.push_rx(b"hi");
        assert_eq!(b.read32(SR), TXE | RXNE);
        assert_eq!(b.read32(RXCNT), 2);
        assert_eq!(b.read(DR, Size::Byte), b'h' as u32);
        assert_eq!(b.read32(DR), b'i' as u32);
        assert_eq!(b.read32(SR), TXE);
        b.take_log();
        b.write32(DR, 0x141);
        b.write(DR, Size::Byte, b'\n' as u32);
        let tx: Vec<_> = b.take_log().into_iter().map(|(_, e)| e).collect();
        assert_eq!(
            tx,
            vec![
                Effect::ConsoleTx(vec![b'A']),
                Effect::ConsoleTx(vec![b'\n'])
            ]
        );
        assert!(b.with(|d, ctx| d.read(ctx, 0x10, Size::Word)).is_err());
    }
}
