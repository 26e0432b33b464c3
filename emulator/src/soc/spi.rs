//! SPI links: what the MISO line of a master carries during a frame, and which slaves
//! take part, found from the GPIO alternate-function settings and the pin wiring.
//!
//! When SPI n (a master) starts a frame ([`Effect::SpiFrame`]), the machine asks, at the
//! frame's start:
//! 1. A [`SpiDevice`] attached to SPI n ([`Machine::attach_spi_device`]) answers first.
//! 2. The pins of SPI n are those in AF mode with the alternate function of an SPI n
//!    signal (datasheet DS8626 Table 9: SPI1/2 on AF5, SPI3 on AF6). A pin wired
//!    (`--wire`, board wiring) to SPI n's MOSI that is the MOSI pin of another SPI k,
//!    enabled as a selected slave, gives that slave the master's word; a pin wired to
//!    SPI n's MISO that is SPI k's MISO makes the slave's outgoing word the master's
//!    reply. A slave takes part when either of its data lines is wired to the master
//!    (SCK is not checked); a slave not wired on MOSI receives its MOSI pin's level.
//! 3. A pin wired to SPI n's MISO that is SPI n's own MOSI (e.g. `--wire Y8:Y7` on
//!    SPI2) loops the word back.
//! 4. Otherwise MISO reads as its pin's level for the whole frame: the GPIO input level
//!    (an external drive, a wired GPIO output, else the pull: up reads all ones, down or
//!    none reads zeros); with no MISO pin in AF mode the master reads zeros.
//!
//! A mismatch of clock mode (CPOL/CPHA) between master and slave is warned about once
//! and otherwise ignored.

use pybsim_peripherals::gpio::{Gpio, Mode as GpioMode};
use pybsim_peripherals::spi::{Spi, SpiDevice};
use pybsim_peripherals::Effect;

use super::{Machine, SIo, Soc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Miso,
    Mosi,
}

/// SPI data pins of the STM32F405 (DS8626 Table 9): (port, pin, SPI, AF, role).
const SPI_PINS: &[(u8, u8, u8, u8, Role)] = &[
    (0, 6, 1, 5, Role::Miso),  // PA6 SPI1_MISO (X7)
    (0, 7, 1, 5, Role::Mosi),  // PA7 SPI1_MOSI (X8)
    (1, 4, 1, 5, Role::Miso),  // PB4 SPI1_MISO
    (1, 5, 1, 5, Role::Mosi),  // PB5 SPI1_MOSI
    (1, 14, 2, 5, Role::Miso), // PB14 SPI2_MISO (Y7)
    (1, 15, 2, 5, Role::Mosi), // PB15 SPI2_MOSI (Y8)
    (2, 2, 2, 5, Role::Miso),  // PC2 SPI2_MISO
    (2, 3, 2, 5, Role::Mosi),  // PC3 SPI2_MOSI
    (1, 4, 3, 6, Role::Miso),  // PB4 SPI3_MISO
    (1, 5, 3, 6, Role::Mosi),  // PB5 SPI3_MOSI
    (2, 11, 3, 6, Role::Miso), // PC11 SPI3_MISO
    (2, 12, 3, 6, Role::Mosi), // PC12 SPI3_MOSI
];

/// Devices attached to SPI1-3 and the warn-once state.
#[derive(Default)]
pub struct SpiRoute {
    devices: [Option<Box<dyn SpiDevice>>; 4],
    mode_warned: bool,
}

impl Machine {
    /// Attaches `dev` to the bus of SPI `n` (1-3): it answers every frame SPI n sends as
    /// a master, before any wiring is looked at. Replaces an earlier device.
    pub fn attach_spi_device(&mut self, n: u8, dev: Box<dyn SpiDevice>) -> Result<(), String> {
        if !(1..=3).contains(&n) {
            return Err(format!("SPI{n} does not exist on the STM32F405 (SPI1-3)"));
        }
        self.with_soc(|s| s.spi.devices[n as usize] = Some(dev));
        Ok(())
    }
}

impl Soc {
    /// The SPI signal pin (`port`, `pin`) carries now, from its mode and AF.
    fn spi_role(&mut self, io: &SIo, port: u8, pin: u8) -> Option<(u8, Role)> {
        let gi = self.gpio(port)?;
        let (Some((mode, af)), _) =
            self.with_model(gi, io.now(), |g: &mut Gpio, _| (g.pin_mode(pin), g.af(pin)))
        else {
            return None;
        };
        if mode != GpioMode::Af {
            return None;
        }
        SPI_PINS
            .iter()
            .find(|p| (p.0, p.1, p.3) == (port, pin, af))
            .map(|p| (p.2, p.4))
    }

    /// The pins now carrying `role` of SPI `n`.
    fn spi_pins(&mut self, io: &SIo, n: u8, role: Role) -> Vec<(u8, u8)> {
        let mut v = Vec::new();
        for p in SPI_PINS.iter().filter(|p| p.2 == n && p.4 == role) {
            if self.spi_role(io, p.0, p.1) == Some((n, role)) {
                v.push((p.0, p.1));
            }
        }
        v
    }

    /// The level of a pin as its input buffer sees it, as a frame of `bits`.
    fn spi_idle_word(&mut self, io: &SIo, pin: Option<(u8, u8)>, bits: u8) -> u16 {
        let Some((port, pin)) = pin else { return 0 };
        let Some(gi) = self.gpio(port) else { return 0 };
        let (idr, _) = self.with_model(gi, io.now(), |g: &mut Gpio, _| g.idr());
        if idr.unwrap_or(0) & (1 << pin) != 0 {
            if bits == 16 {
                0xFFFF
            } else {
                0xFF
            }
        } else {
            0
        }
    }

    /// SPI `n` (on bus device `dev`) started a frame: finds the reply and the slaves.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn spi_frame(
        &mut self,
        io: &mut SIo,
        dev: u16,
        n: u8,
        word: u16,
        bits: u8,
        mode: u8,
        end: u64,
        work: &mut Vec<(u16, Effect)>,
    ) {
        let mut reply = self
            .spi
            .devices
            .get_mut(n as usize)
            .and_then(|d| d.as_mut())
            .map(|d| d.exchange(word, bits, mode));
        let mosi = self.spi_pins(io, n, Role::Mosi);
        let miso = self.spi_pins(io, n, Role::Miso);
        // (slave, gets MOSI, drives MISO)
        let mut slaves: Vec<(u8, bool, bool)> = Vec::new();
        let mut loopback = false;
        let wires = self.pin_wires.clone();
        for &(a, b) in &wires {
            let (is_mosi, is_miso) = (mosi.contains(&a), miso.contains(&a));
            if !is_mosi && !is_miso {
                continue;
            }
            match self.spi_role(io, b.0, b.1) {
                Some((k, Role::Mosi)) if k != n && is_mosi => {
                    match slaves.iter_mut().find(|s| s.0 == k) {
                        Some(s) => s.1 = true,
                        None => slaves.push((k, true, false)),
                    }
                }
                Some((k, Role::Miso)) if k != n && is_miso => {
                    match slaves.iter_mut().find(|s| s.0 == k) {
                        Some(s) => s.2 = true,
                        None => slaves.push((k, false, true)),
                    }
                }
                Some((k, Role::Mosi)) if k == n && is_miso => loopback = true,
                _ => {}
            }
        }
        for (k, gets_mosi, drives_miso) in slaves {
            let Some(si) = self.bus.index_of(&format!("SPI{k}")) else {
                continue;
            };
            let rx = if gets_mosi {
                word
            } else {
                let pin = self.spi_pins(io, k, Role::Mosi).first().copied();
                self.spi_idle_word(io, pin, bits)
            };
            let (out, fx) = self.with_model(si, io.now(), |s: &mut Spi, ctx| {
                let m = s.mode();
                s.slave_frame(ctx, rx, bits, end).map(|o| (o, m))
            });
            work.extend(fx.into_iter().map(|e| (si, e)));
            let Some(Some((out, slave_mode))) = out else {
                continue;
            };
            if slave_mode != mode && !self.spi.mode_warned {
                self.spi.mode_warned = true;
                tracing::warn!(
                    target: "periph::guest_error",
                    t = io.now(),
                    "SPI{n} (master, mode {mode}) and SPI{k} (slave, mode {slave_mode}) \
                     disagree on CPOL/CPHA; the frame is exchanged as if they agreed (warned once)"
                );
            }
            if drives_miso && reply.is_none() {
                reply = Some(out);
            }
        }
        if reply.is_none() && loopback {
            reply = Some(word);
        }
        let reply = match reply {
            Some(r) => r,
            None => self.spi_idle_word(io, miso.first().copied(), bits),
        };
        io.log(|| format!("SPI{n} frame {word:#x} -> {reply:#x}"));
        let (_, fx) = self.with_model(dev, io.now(), |s: &mut Spi, _| s.set_incoming(reply));
        work.extend(fx.into_iter().map(|e| (dev, e)));
    }
}
