//! The Cortex-M4F core as unicorn runs it and as the cycle model costs it.

pub mod cpu;
pub mod cycles;
pub mod sched;
pub mod scs;
