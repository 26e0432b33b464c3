//! The Pyboard's micro SD slot: a card made from an image file (`pybsim run --sd IMAGE`,
//! the `sd` test option) is put in the SDIO host's slot, and the card-detect switch
//! (SD_SW, PA8 on PYBv1.0/v1.1: the firmware pulls it up, an inserted card grounds it)
//! is driven low.
//!
//! The card works on a copy of the image in memory. [`save`] writes it back to the file
//! when the firmware changed it; `pybsim run` calls it when the run ends, however it
//! ends (script done, exception, guest fault, budget). The write goes to a temporary
//! file beside the image, then replaces it by a rename, so the image file is always
//! either the old or the new whole image. If pybsim itself dies (killed, or a panic)
//! nothing is saved: the file keeps the contents it had at the start, and the writes of
//! that run are lost. `pybsim test` never writes back: every test starts from the same
//! image.

use std::path::Path;

use pybsim_boards::Board;
use pybsim_peripherals::sdcard::SdCard;

/// The card image cannot be used: unreadable, of a size no card has, or not writable
/// back.
#[derive(Debug, thiserror::Error)]
#[error("--sd {}: {msg}", path.display())]
pub struct SdError {
    pub path: std::path::PathBuf,
    pub msg: String,
}
use crate::soc::Machine;

/// Reads `path`, makes the card and puts it in the slot of `machine`; grounds the board's
/// SD_SW pin.
pub fn insert(machine: &mut Machine, board: &Board, path: &Path) -> Result<(), SdError> {
    let err = |msg: String| SdError {
        path: path.to_path_buf(),
        msg,
    };
    // Ask the size first: a file too big for any card is refused before it is read
    // into memory (SdCard::new says why).
    let size = std::fs::metadata(path)
        .map_err(|e| err(format!("cannot read the image: {e}")))?
        .len();
    if size > pybsim_peripherals::sdcard::MAX_BYTES {
        let e = pybsim_peripherals::sdcard::SdCardError::TooBig(size);
        return Err(err(format!("{e}")));
    }
    let image = std::fs::read(path).map_err(|e| err(format!("cannot read the image: {e}")))?;
    let card = SdCard::new(image).map_err(|e| err(format!("{e}")))?;
    tracing::info!(
        path = %path.display(),
        sdhc = card.is_sdhc(),
        bytes = card.image().len(),
        "SD card inserted"
    );
    machine
        .with_sdio(|s| s.insert(card))
        .ok_or_else(|| err(format!("board {:?} has no SDIO host", board.name)))?;
    let sw = board.pin("SD_SW").ok_or_else(|| {
        err(format!(
            "board {:?} has no SD_SW card-detect pin",
            board.name
        ))
    })?;
    machine.drive_pin(sw.port, sw.pin, Some(false));
    Ok(())
}

/// Writes the card's image back to `path` if it changed since it was loaded (or last
/// saved). Returns whether it wrote.
pub fn save(machine: &mut Machine, path: &Path) -> Result<bool, SdError> {
    let err = |msg: String| SdError {
        path: path.to_path_buf(),
        msg,
    };
    let Some(Some(image)) =
        machine.with_sdio(|s| s.card().filter(|c| c.dirty()).map(|c| c.image().to_vec()))
    else {
        return Ok(false);
    };
    // Write beside the file the path finally names (a symlink stays a symlink) and give
    // the new file the old one's permissions, then replace it in one rename.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sd.img".into());
    let tmp = target.with_file_name(format!(".{name}.pybsim-{}.tmp", std::process::id()));
    let perms = std::fs::metadata(&target).map(|m| m.permissions()).ok();
    std::fs::write(&tmp, &image)
        .and_then(|_| match perms {
            Some(p) => std::fs::set_permissions(&tmp, p),
            None => Ok(()),
        })
        .and_then(|_| std::fs::rename(&tmp, &target))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(format!("cannot write the card's contents back: {e}"))
        })?;
    machine.with_sdio(|s| s.card_mut().map(|c| c.mark_saved()));
    tracing::info!(path = %path.display(), "SD card image saved");
    Ok(true)
}
