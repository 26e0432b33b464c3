//! pybsim: the machine (CPU binding, bus, system control space, scheduler, cycle model,
//! loaders) and its frontends.

pub mod analog;
pub mod board;
pub mod bus;
pub mod cpu;
pub mod cycles;
pub mod flashcmd;
pub mod loader;
pub mod machine;
pub mod profile;
pub mod sched;
pub mod scs;
pub mod sdslot;
pub mod session;
pub mod testkit;
pub mod testrun;
pub mod tui;
pub mod vcd;
