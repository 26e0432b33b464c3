//! The STM32F405 as the board file wires it.

pub mod analog;
pub mod build;
pub mod bus;
pub mod sdslot;
