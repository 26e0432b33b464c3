//! `pybsim test`: deterministic regression tests for MicroPython code (being written).

use std::path::PathBuf;

/// Options of `pybsim test`.
#[derive(clap::Args, Debug, Clone)]
pub struct TestArgs {
    /// Files or directories holding the `*.py` tests.
    pub paths: Vec<PathBuf>,
}

/// Runs the tests; returns the exit status.
pub fn run(args: &TestArgs) -> anyhow::Result<u8> {
    anyhow::bail!(
        "pybsim test is not written yet ({} paths given)",
        args.paths.len()
    )
}
