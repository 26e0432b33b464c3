//! The small commands of `pybsim`: list the boards, make an SD card image.

use std::path::Path;

use anyhow::{anyhow, Result};

use crate::run::exit::*;
use crate::run::{fail, Fail};

pub fn boards() -> Result<u8> {
    for name in pybsim_boards::Board::builtin_names() {
        let b = pybsim_boards::Board::builtin(name)?;
        println!("{name}: {} ({})", b.name, b.mcu.part);
        println!(
            "  clocks: HSE {} Hz, LSE {} Hz, CPU up to {} Hz",
            b.clocks.hse_hz, b.clocks.lse_hz, b.mcu.max_sysclk_hz
        );
        for m in &b.memories {
            println!(
                "  memory {:<13} {:#010x} {:>7} KiB",
                m.name,
                m.base,
                m.size / 1024
            );
        }
        let pins: Vec<String> = b
            .pins
            .iter()
            .map(|p| format!("{}={}", p.name, p.cpu))
            .collect();
        println!("  pins: {}", pins.join(" "));
        let leds: Vec<String> = b
            .leds
            .iter()
            .map(|l| format!("{} {:?} on {}", l.name, l.colour, l.pin))
            .collect();
        println!("  leds: {}", leds.join(", "));
        if let Some(s) = &b.switch {
            println!("  switch: {} on {} (active {:?})", s.name, s.pin, s.active);
        }
    }
    Ok(EXIT_OK)
}

/// `pybsim sdimage DIR OUT --size N`.
pub fn sdimage(dir: &Path, out: &Path, size: &str) -> Result<u8, Fail> {
    let t = size.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let bytes = num
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| fail(EXIT_USAGE, anyhow!("--size {size}: not a size such as 32M")))?;
    if !dir.exists() {
        return Err(fail(
            EXIT_NOINPUT,
            anyhow!("{}: no such directory", dir.display()),
        ));
    }
    pybsim_fsimage::check_sd_size(bytes)
        .map_err(|e| fail(EXIT_USAGE, anyhow!("--size {size}: {e}")))?;
    pybsim_fsimage::write_sd_image(dir, bytes, out).map_err(|e| match e {
        pybsim_fsimage::FsImageError::Save { .. } => fail(EXIT_IOERR, e),
        _ => fail(EXIT_DATAERR, e),
    })?;
    Ok(EXIT_OK)
}
