//! `pybsim run --tui`: the board drawn in the terminal (being written).

use crate::session::Session;

/// Runs the session in the terminal UI; returns the exit status.
pub fn run(_session: &mut Session, _script: Option<&[u8]>) -> anyhow::Result<u8> {
    anyhow::bail!("the terminal UI is not written yet")
}
