//! Register models of the STM32F405 peripherals for pybsim.
//!
//! Pure models: no unicorn, no host I/O, no wall clock. Every model implements
//! [`Device`]: the bus hands it register accesses with a [`Ctx`] that carries the
//! virtual time (in CPU cycles) and the clock tree of the moment, and the model answers
//! by pushing [`Effect`]s (IRQ line changes, events to schedule, pin changes, bytes on a
//! line, flash writes). The machine in `emulator/` applies the effects; a model never
//! holds a reference to another model (the board file wires them).
//!
//! Unit tests drive a model through [`testing::FakeBus`], a fake clock that collects
//! effects and fires scheduled events in order.

pub mod adc;
pub mod analog;
pub mod console;
pub mod dac;
pub mod device;
pub mod dma;
pub mod exti;
pub mod flash;
pub mod gpio;
pub mod i2c;
pub mod iwdg;
pub mod mma7660;
pub mod otg_fs;
pub mod pwr;
pub mod rcc;
pub mod registry;
pub mod regs;
pub mod rng;
pub mod rtc;
pub mod sdcard;
pub mod sdio;
pub mod spi;
pub mod stub;
pub mod syscfg;
pub mod testing;
pub mod timer;
pub mod unmodelled;
pub mod usart;
pub mod wwdg;

#[cfg(test)]
mod hammer_tests;

pub use device::{BusError, Clocks, Ctx, Device, Effect, NoSuchInstance, Size};
