//! pybsim: a full-system emulator of the MicroPython Pyboard.
//!
//! Three layers, one folder each (docs/architecture.md has the picture):
//! - [`core`]: the Cortex-M4F as unicorn runs it and as the cycle model costs it.
//! - [`soc`]: the STM32F405 as the board file wires it.
//! - the frontends over a session: [`run`], [`test`], [`profile`], [`tui`], [`vcd`].

pub mod core;
pub mod flashcmd;
pub mod loader;
pub mod profile;
pub mod run;
pub mod session;
pub mod soc;
pub mod test;
pub mod testkit;
pub mod tools;
pub mod tui;
pub mod vcd;
