//! The STM32F405 as the board file wires it: the peripheral bus and its models, and the
//! interconnect between them (interrupt lines, GPIO/EXTI/alternate-function routing,
//! wires between pins, UART and SPI links, DMA requests, pins powering devices), the USB
//! host on the board's connector, analog inputs and the SD card slot. [`Soc`] is the
//! core's [`Platform`]; [`Machine`] is the whole board, built from a RON board file by
//! [`build::build`].

use std::cell::RefCell;
use std::rc::Rc;

use pybsim_peripherals::dac::Sample;
use pybsim_peripherals::device::ResetKind;
use pybsim_peripherals::flash::Flash;
use pybsim_peripherals::pwr::Pwr;
use pybsim_peripherals::rcc::{Rcc, ResetCause};
use pybsim_peripherals::usart::Usart;
use pybsim_peripherals::{BusError, Clocks, Ctx, Device, Effect, Size};

use crate::core::{Io, Platform};

pub mod analog;
pub mod build;
pub mod bus;
pub mod dma;
mod effects;
pub mod machine;
pub mod memmap;
mod pins;
pub mod sdslot;
pub mod spi;
pub mod usb_host;

use bus::Bus;
pub use machine::{Machine, MachineConfig, MachineError};

/// The events the chip schedules on the core's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocEvent {
    /// Peripheral number `n` on the bus.
    Device(u16),
    /// A byte arriving at U(S)ART `n` (1-6).
    UartRx(u8),
    /// The USB host model (usb_host.rs): frames and transactions.
    UsbHost,
}

/// The [`Io`] handle of the chip's calls.
pub type SIo<'s, 'c, 'u, 'a> = Io<'s, 'c, 'u, 'a, SocEvent>;

/// What the board sends to the host: console and U(S)ART output.
#[derive(Debug, Default, Clone)]
pub struct Outputs {
    /// Bytes written to the pybsim console device.
    pub console: Vec<u8>,
    /// Bytes sent by each U(S)ART (index 1-6) that no wire carries to another UART.
    pub uart: [Vec<u8>; 7],
}

/// Where console bytes leave the board for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsolePort {
    /// The pybsim console device.
    Device,
    /// U(S)ART n (1-6): bytes that no wire carries to another UART.
    Uart(u8),
    /// USB CDC, as the USB host model receives it.
    Usb,
}

/// Watches the board's pins, analog outputs and console bytes (frontends attach:
/// waveforms, VCD, the DAC trace, tests).
pub trait SocObserver {
    /// A GPIO output of `port` (0 = A) `pin` changed to `level` at virtual time `now`.
    fn pin(&mut self, _now: u64, _port: u8, _pin: u8, _level: bool) {}
    /// DAC channel `channel` (1-2) started putting out the 12-bit `code` at `at`.
    fn dac(&mut self, _at: u64, _channel: u8, _code: u16) {}
    /// `bytes` left the board for the host on `port` at virtual time `at`: at the
    /// instruction that wrote them to the console device, at the start of the UART
    /// frame that carries each (the data register write when the transmitter is idle,
    /// else the end of the frame before), at the USB IN transaction that carried them.
    /// Whatever the firmware, this is when its console output starts on its way.
    fn console(&mut self, _at: u64, _port: ConsolePort, _bytes: &[u8]) {}
}

/// Every console byte that left the board, with its time and port, shared with whoever
/// reads it.
#[derive(Clone, Default)]
pub struct ConsoleTrace(pub Rc<RefCell<Vec<(u64, ConsolePort, u8)>>>);

impl ConsoleTrace {
    /// Takes the bytes recorded so far.
    pub fn take(&self) -> Vec<(u64, ConsolePort, u8)> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

impl SocObserver for ConsoleTrace {
    fn console(&mut self, at: u64, port: ConsolePort, bytes: &[u8]) {
        self.0
            .borrow_mut()
            .extend(bytes.iter().map(|&b| (at, port, b)));
    }
}

/// A GPIO output change: (cycle, port, pin, level).
pub type PinChange = (u64, u8, u8, bool);

/// Every GPIO output change, shared with whoever reads it.
#[derive(Clone, Default)]
pub struct PinTrace(pub Rc<RefCell<Vec<PinChange>>>);

impl PinTrace {
    /// Takes the changes recorded so far.
    pub fn take(&self) -> Vec<PinChange> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// Every DAC output sample: (cycle, channel 1-2, 12-bit code), shared with whoever
/// reads it.
#[derive(Clone, Default)]
pub struct DacTrace(pub Rc<RefCell<Vec<Sample>>>);

impl DacTrace {
    /// Takes the samples recorded so far.
    pub fn take(&self) -> Vec<Sample> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

impl SocObserver for DacTrace {
    fn dac(&mut self, at: u64, channel: u8, code: u16) {
        self.0.borrow_mut().push((at, channel, code));
    }
}

impl SocObserver for PinTrace {
    fn pin(&mut self, now: u64, port: u8, pin: u8, level: bool) {
        self.0.borrow_mut().push((now, port, pin, level));
    }
}

/// The STM32F405: its peripherals on the bus and what connects them.
pub struct Soc {
    /// Bus and kernel clocks as RCC sets them.
    pub clocks: Clocks,
    pub bus: Bus,
    pub out: Outputs,
    /// UART wiring: `uart_route[n]` = the UART that receives what UART n sends.
    pub uart_route: [Option<u8>; 7],
    /// (IRQ line, device) pairs whose device holds the line high.
    irq_sources: Vec<(u16, u16)>,
    /// Pin wiring: a driven level on the first pin drives the second, as (port, pin).
    pub pin_wires: Vec<((u8, u8), (u8, u8))>,
    /// SPI links: attached SPI devices (see spi.rs).
    spi: spi::SpiRoute,
    /// Pins that power a device on an I2C bus: ((port, pin), bus index of the I2C block,
    /// 7-bit device address). The device is on while the pin is driven high.
    pub pin_power: Vec<((u8, u8), u16, u8)>,
    /// Bus index of GPIO port n, of EXTI and of SYSCFG, found once.
    gpio_idx: [Option<u16>; 9],
    exti_idx: Option<u16>,
    syscfg_idx: Option<u16>,
    /// Scratch list of effects, reused.
    effects: Vec<Effect>,
    /// DMA controllers, the DAC and the DMA request lines that are high.
    dma_wiring: dma::DmaWiring,
    /// Virtual time of the access or event whose effects are being applied (DMA request
    /// edges take effect then), when it is not `now`.
    fx_time: Option<u64>,
    /// The USB host on the board's connector, once attached (usb_host.rs).
    pub usb_host: Option<Box<usb_host::UsbHost>>,
    pub observers: Vec<Box<dyn SocObserver>>,
}

impl Soc {
    pub fn new(bus: Bus) -> Self {
        let mut gpio_idx = [None; 9];
        for (port, slot) in gpio_idx.iter_mut().enumerate() {
            *slot = bus.index_of(&format!("GPIO{}", (b'A' + port as u8) as char));
        }
        Soc {
            clocks: Clocks::RESET,
            uart_route: [None; 7],
            irq_sources: Vec::new(),
            pin_wires: Vec::new(),
            spi: Default::default(),
            pin_power: Vec::new(),
            gpio_idx,
            exti_idx: bus.index_of("EXTI"),
            syscfg_idx: bus.index_of("SYSCFG"),
            effects: Vec::new(),
            dma_wiring: dma::DmaWiring::find(&bus),
            fx_time: None,
            usb_host: None,
            observers: Vec::new(),
            out: Outputs::default(),
            bus,
        }
    }

    /// Runs `f` on device `idx` as its concrete model type `T` with a context at time
    /// `at`; returns what `f` returned (None if the device is not a `T`) and the effects.
    pub(crate) fn with_model<T: Device, R>(
        &mut self,
        idx: u16,
        at: u64,
        f: impl FnOnce(&mut T, &mut Ctx) -> R,
    ) -> (Option<R>, Vec<Effect>) {
        let mut fx = Vec::new();
        let mut ctx = Ctx::new(at, self.clocks, &mut fx);
        let dd: &mut dyn std::any::Any = self.bus.devices[idx as usize].dev.as_mut();
        let r = dd.downcast_mut::<T>().map(|m| f(m, &mut ctx));
        (r, fx)
    }

    /// The bus index of GPIO port `port` (0 = A).
    pub(crate) fn gpio(&self, port: u8) -> Option<u16> {
        self.gpio_idx.get(port as usize).copied().flatten()
    }

    fn uart_deliver(&mut self, io: &mut SIo, n: u8, byte: u8, at: u64) {
        let name = if n == 4 || n == 5 {
            format!("UART{n}")
        } else {
            format!("USART{n}")
        };
        let Some(idx) = self.bus.index_of(&name) else {
            return;
        };
        let (_, mut fx) = self.with_model(idx, at, |u: &mut Usart, ctx| u.receive(ctx, byte));
        let prev = self.fx_time.replace(at);
        self.apply_effects(io, idx, &mut fx);
        self.fx_time = prev;
    }
}

impl Platform for Soc {
    type Event = SocEvent;

    fn read(&mut self, io: &mut SIo, t: u64, addr: u32, size: Size) -> Result<u32, BusError> {
        if addr >> 24 == 0xE0 {
            // DBGMCU_IDCODE: DEV_ID 0x413 (STM32F405/407), REV_ID 0x1007 (revision 1);
            // the rest of the vendor part of the private peripheral bus reads as zero.
            return Ok(if addr == 0xE004_2000 { 0x1007_6413 } else { 0 });
        }
        let mut fx = std::mem::take(&mut self.effects);
        let r = {
            let mut ctx = Ctx::new(t, self.clocks, &mut fx);
            self.bus.read(&mut ctx, addr, size)
        };
        let r = match r {
            Ok((idx, v)) => {
                let prev = self.fx_time.replace(t);
                self.apply_effects(io, idx, &mut fx);
                self.fx_time = prev;
                Ok(v)
            }
            Err(e) => Err(e),
        };
        self.effects = fx;
        r
    }

    fn write(
        &mut self,
        io: &mut SIo,
        t: u64,
        addr: u32,
        size: Size,
        value: u32,
    ) -> Result<(), BusError> {
        if addr >> 24 == 0xE0 {
            return Ok(());
        }
        let mut fx = std::mem::take(&mut self.effects);
        let r = {
            let mut ctx = Ctx::new(t, self.clocks, &mut fx);
            self.bus.write(&mut ctx, addr, size, value)
        };
        let r = match r {
            Ok(idx) => {
                let prev = self.fx_time.replace(t);
                self.apply_effects(io, idx, &mut fx);
                self.fx_time = prev;
                if Some(idx) == self.syscfg_idx {
                    self.sync_exti(io);
                }
                // PWR_CR.DBP gates writes to the backup domain (RCC_BDCR).
                if self.bus.devices[idx as usize].name == "PWR" {
                    let dbp = self.bus.get_mut::<Pwr>("PWR").map(|p| p.dbp());
                    if let (Some(dbp), Some(rcc)) = (dbp, self.bus.get_mut::<Rcc>("RCC")) {
                        rcc.set_dbp(dbp);
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        self.effects = fx;
        r
    }

    fn event(&mut self, io: &mut SIo, at: u64, ev: SocEvent, token: u32) {
        match ev {
            SocEvent::Device(i) => {
                let mut fx = std::mem::take(&mut self.effects);
                {
                    let mut ctx = Ctx::new(at, self.clocks, &mut fx);
                    self.bus.devices[i as usize].dev.event(&mut ctx, token);
                }
                let prev = self.fx_time.replace(at);
                self.apply_effects(io, i, &mut fx);
                self.fx_time = prev;
                self.effects = fx;
                if self.dma_wiring.is_dma(i) {
                    self.dma_serve(io, i, at);
                }
            }
            SocEvent::UartRx(n) => self.uart_deliver(io, n, token as u8, at),
            SocEvent::UsbHost => self.usb_host_event(io, at, token),
        }
    }

    fn flash_store(&mut self, io: &mut SIo, t: u64, addr: u32, size: Size, value: u32) -> bool {
        let Some(i) = self.bus.index_of("FLASH") else {
            return false;
        };
        let (r, mut fx) =
            self.with_model(i, t, |f: &mut Flash, ctx| f.program(ctx, addr, size, value));
        // The flash interface's FlashProgram effect ANDs the value in; the core puts the
        // bytes right after unicorn's own store.
        fx.retain(|e| !matches!(e, Effect::FlashProgram { .. }));
        self.apply_effects(io, i, &mut fx);
        r.unwrap_or(false)
    }

    fn reset(&mut self, io: &mut SIo, cause: Option<ResetKind>) {
        self.irq_sources.clear();
        self.dma_wiring.reset_lines();
        self.clocks = Clocks::RESET;
        let mut fx = Vec::new();
        for i in 0..self.bus.devices.len() {
            {
                let mut ctx = Ctx::new(io.now(), Clocks::RESET, &mut fx);
                self.bus.devices[i].dev.reset(&mut ctx);
            }
            // Reset may schedule events (ready flags) but must not change clocks.
            let mut mine = std::mem::take(&mut fx);
            self.apply_effects(io, i as u16, &mut mine);
        }
        self.sync_exti(io);
        // Pins are inputs again: the devices they powered are off.
        let powered: Vec<(u8, u8)> = self.pin_power.iter().map(|p| p.0).collect();
        for (port, pin) in powered {
            self.power_i2c_devices(io, port, pin, false);
        }
        // The reset flags of RCC_CSR say why (a power-on reset keeps the reset values,
        // PORRSTF/PINRSTF/BORRSTF); DBP is 0 again after any reset.
        let cause = cause.map(|k| match k {
            ResetKind::Software => ResetCause::Software,
            ResetKind::Iwdg => ResetCause::Iwdg,
            ResetKind::Wwdg => ResetCause::Wwdg,
        });
        if let Some(rcc) = self.bus.get_mut::<Rcc>("RCC") {
            if let Some(c) = cause {
                rcc.set_reset_cause(c);
            }
            rcc.set_dbp(false);
        }
    }
}
