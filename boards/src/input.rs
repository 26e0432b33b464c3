//! Reading an input file with bounds: only a regular file, only up to a size limit.
//!
//! Every file pybsim reads whole (board and stimuli files here, firmware images in the
//! emulator's loaders) goes through [`open`] and [`read_to`], so that
//! - a FIFO, a terminal or a socket given as a file is refused at once instead of
//!   blocking forever (the file is opened non-blocking, then checked with `fstat` on the
//!   open handle, so it cannot be swapped between the check and the read);
//! - a device such as `/dev/zero`, or a directory, is refused instead of read without
//!   end;
//! - a file over the limit for its kind is refused from its size before anything is
//!   read, and a file that grows while it is read stops one byte past the limit;
//! - a symbolic link loop is named as such, not as a missing file.
//!
//! The errors say which file and what is wrong, on one line.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Largest board file read: the built-in boards are 13 KiB.
pub const MAX_BOARD_BYTES: u64 = 4 << 20;
/// Largest stimuli file read.
pub const MAX_STIMULI_BYTES: u64 = 4 << 20;

/// Why an input file cannot be read.
#[derive(Debug, Error)]
pub enum InputError {
    #[error("{}: not a regular file ({kind}): give a file", crate::error::one_line_escaped(&path.display().to_string()))]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{}: too big: {size} bytes, over the {} limit for {what}",
        crate::error::one_line_escaped(&path.display().to_string()), human(*limit)
    )]
    TooBig {
        path: PathBuf,
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("{}: symbolic link loop (too many levels of symbolic links)", crate::error::one_line_escaped(&path.display().to_string()))]
    SymlinkLoop { path: PathBuf },
    #[error("{}: cannot read: {source}", crate::error::one_line_escaped(&path.display().to_string()))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl InputError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            InputError::NotRegular { path, .. }
            | InputError::TooBig { path, .. }
            | InputError::SymlinkLoop { path }
            | InputError::Io { path, .. } => path,
        }
    }
}

/// `4 MiB`, `1.5 KiB`, `12 bytes`.
fn human(n: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= size {
            let whole = n / size;
            let tenths = (n % size) * 10 / size;
            return if tenths == 0 {
                format!("{whole} {unit}")
            } else {
                format!("{whole}.{tenths} {unit}")
            };
        }
    }
    format!("{n} bytes")
}

fn io_error(path: &Path, source: io::Error) -> InputError {
    #[cfg(unix)]
    if source.raw_os_error() == Some(libc::ELOOP) {
        return InputError::SymlinkLoop {
            path: path.to_path_buf(),
        };
    }
    InputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a file that is not a regular file is, in words.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

/// An open regular file and its size.
#[derive(Debug)]
pub struct Input {
    pub file: File,
    pub path: PathBuf,
    pub size: u64,
}

/// Opens `path` for reading without blocking, and checks that it is a regular file.
pub fn open(path: &Path) -> Result<Input, InputError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading blocks until a writer comes; non-blocking it does
        // not, and the type check below refuses it.
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(InputError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta),
        });
    }
    Ok(Input {
        file,
        path: path.to_path_buf(),
        size: meta.len(),
    })
}

impl Input {
    /// Refuses the file if it is bigger than `limit` bytes (`what` names the kind of
    /// input in the message: "a board file").
    pub fn check_size(&self, what: &'static str, limit: u64) -> Result<(), InputError> {
        if self.size > limit {
            return Err(InputError::TooBig {
                path: self.path.clone(),
                what,
                size: self.size,
                limit,
            });
        }
        Ok(())
    }

    /// Reads the rest of the file, at most `limit` bytes in all (counting `buf`'s
    /// bytes), into `buf`.
    pub fn read_to(
        &mut self,
        buf: &mut Vec<u8>,
        what: &'static str,
        limit: u64,
    ) -> Result<(), InputError> {
        self.check_size(what, limit)?;
        let room = (limit + 1).saturating_sub(buf.len() as u64);
        (&mut self.file)
            .take(room)
            .read_to_end(buf)
            .map_err(|e| io_error(&self.path, e))?;
        if buf.len() as u64 > limit {
            // It grew while being read.
            return Err(InputError::TooBig {
                path: self.path.clone(),
                what,
                size: buf.len() as u64,
                limit,
            });
        }
        Ok(())
    }
}

/// Reads a whole regular file of at most `limit` bytes.
pub fn read(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>, InputError> {
    let mut input = open(path)?;
    input.check_size(what, limit)?;
    let mut buf = Vec::with_capacity(input.size as usize);
    input.read_to(&mut buf, what, limit)?;
    Ok(buf)
}

/// Reads a whole regular text file (UTF-8) of at most `limit` bytes.
pub fn read_text(path: &Path, what: &'static str, limit: u64) -> Result<String, InputError> {
    let bytes = read(path, what, limit)?;
    String::from_utf8(bytes).map_err(|e| InputError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_words() {
        assert_eq!(human(12), "12 bytes");
        assert_eq!(human(4 << 20), "4 MiB");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 30), "3 GiB");
    }
}
