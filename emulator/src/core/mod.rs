//! The Cortex-M4F core as unicorn runs it and as the cycle model costs it: the unicorn
//! binding (the only unsafe code), the block hook and per-block accounting, exceptions
//! and faults, the system control space (NVIC, SCB, SysTick, DWT, FPU registers), the
//! cycle model with the flash accelerator, semihosting, the scheduler of the virtual
//! clock, and observers.
//!
//! The core knows nothing of the board: it sees a [`platform::Platform`] (a bus and its
//! own scheduled events) through which everything else is reached.

pub mod cpu;
pub mod cycles;
pub mod engine;
mod exception;
pub mod exec;
pub mod fault;
pub mod observe;
pub mod platform;
pub mod sched;
pub mod scs;
mod semihost;

pub use engine::Engine;
pub use exec::{CodeMap, Core, CoreState, Exit, ResetRecord, FAULT_WATCH_MS};
pub use fault::{decode_fault_status, FaultReport};
pub use observe::{EventLog, Observer, ObserverId};
pub use platform::{Io, Platform};
