//! `pybsim profile`: exact cycle attribution to firmware functions (being written).

use std::path::PathBuf;

use crate::session::{Outcome, Session};

/// Options of `pybsim profile` beyond those of `run`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ProfileOpts {
    /// Write folded stacks (flamegraph.pl, speedscope, inferno).
    #[arg(long)]
    pub folded: Option<PathBuf>,
    /// Write a Chrome trace-event JSON in virtual time (Perfetto, chrome://tracing).
    #[arg(long)]
    pub trace_json: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Profiles `script` on `session`, writing its output to `out` and the report to stderr
/// and the files asked for.
pub fn profile(
    _session: &mut Session,
    _script: &[u8],
    _opts: &ProfileOpts,
    _out: &mut dyn std::io::Write,
) -> anyhow::Result<Outcome> {
    anyhow::bail!("pybsim profile is not written yet")
}
