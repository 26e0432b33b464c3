//! pybsim: the machine (CPU binding, bus, system control space, scheduler, cycle model,
//! loaders) and its frontends.

pub mod cpu;
pub mod scs;
pub mod loader;
pub mod testkit;
