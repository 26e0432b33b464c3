//! Value Change Dump of pin traces in virtual time (being written).

use std::path::Path;

/// Writes the pin changes recorded by the machine, `(cycle, port, pin, level)`, as VCD.
pub fn write(
    path: &Path,
    _trace: &[(u64, u8, u8, bool)],
    _board: &pybsim_boards::Board,
) -> anyhow::Result<()> {
    anyhow::bail!("{}: VCD output is not written yet", path.display())
}
