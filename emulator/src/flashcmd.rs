//! `pybsim flash ls|get|put|rm|mkdir IMAGE ...`: reads and writes the filesystem in a
//! flash image file (the board's 1 MiB internal flash, see [`pybsim_fsimage::FlashImage`])
//! from the host, without booting a board.
//!
//! Paths inside the image are from the volume's root (`lib/util.py`); a leading `/` or
//! `/flash/`, where the firmware mounts it, is accepted. `put` and `mkdir` create the
//! image, with the files a fresh board has, when the file does not exist yet. A command
//! that changes the image saves it (temporary file and rename) only when all of it
//! succeeded.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use pybsim_fsimage::{FlashImage, FsImageError, Node};

use crate::run::exit::*;
use crate::run::Fail;

#[derive(Args, Debug)]
pub struct FlashArgs {
    #[command(subcommand)]
    pub cmd: FlashCmd,
}

#[derive(Subcommand, Debug)]
pub enum FlashCmd {
    /// List files and directories, recursively, with file sizes in bytes.
    Ls {
        /// Flash image file (1 MiB).
        image: PathBuf,
        /// A directory or file in the image (default: everything).
        path: Option<String>,
    },
    /// Copy a file out of the image, to DEST or (without DEST) to standard output.
    Get {
        /// Flash image file (1 MiB).
        image: PathBuf,
        /// The file in the image.
        path: String,
        /// Host file, or directory to put it in.
        dest: Option<PathBuf>,
    },
    /// Copy a host file or directory tree into the image, making the directories on the
    /// way (and the image, if there is no such file yet).
    Put {
        /// Flash image file (1 MiB).
        image: PathBuf,
        /// Host file or directory.
        src: PathBuf,
        /// Where in the image (default: the root); a directory there, or a path ending
        /// in `/`, takes SRC under its own name.
        path: Option<String>,
    },
    /// Remove files, and directories that are empty (or all that is in them, with -r).
    Rm {
        /// Flash image file (1 MiB).
        image: PathBuf,
        /// Paths in the image.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Remove directories with everything in them.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Make directories, with their parents (an existing directory is fine).
    Mkdir {
        /// Flash image file (1 MiB).
        image: PathBuf,
        /// Directories in the image.
        #[arg(required = true)]
        paths: Vec<String>,
    },
}

/// A failed command: the exit status and what to say.
pub type Failure = Fail;

fn failure(code: u8, error: impl Into<anyhow::Error>) -> Failure {
    Fail(code, error.into())
}

/// The exit status an error of the image library gets.
fn code_of(e: &FsImageError) -> u8 {
    match e {
        _ if e.is_missing() => EXIT_NOINPUT,
        FsImageError::Read { .. } => EXIT_NOINPUT,
        FsImageError::BadPath { .. } | FsImageError::BadName { .. } => EXIT_USAGE,
        FsImageError::Save { .. } => EXIT_IOERR,
        _ => EXIT_DATAERR,
    }
}

impl From<FsImageError> for Failure {
    fn from(e: FsImageError) -> Self {
        failure(code_of(&e), e)
    }
}

/// Runs `pybsim flash ...`; returns the exit status.
pub fn main(args: &FlashArgs) -> Result<u8, Failure> {
    match &args.cmd {
        FlashCmd::Ls { image, path } => ls(image, path.as_deref().unwrap_or("")),
        FlashCmd::Get { image, path, dest } => get(image, path, dest.as_deref()),
        FlashCmd::Put { image, src, path } => put(image, src, path.as_deref()),
        FlashCmd::Rm {
            image,
            paths,
            recursive,
        } => change(image, false, |img| {
            for p in paths {
                img.remove(p, *recursive)?;
            }
            Ok(())
        }),
        FlashCmd::Mkdir { image, paths } => change(image, true, |img| {
            for p in paths {
                img.mkdir(p)?;
            }
            Ok(())
        }),
    }
}

/// Writes to stdout; a reader that went away (`| head`) ends the command quietly.
fn out(bytes: &[u8]) -> Result<(), Failure> {
    let mut o = std::io::stdout().lock();
    match o.write_all(bytes).and_then(|_| o.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(failure(EXIT_SOFTWARE, anyhow!("standard output: {e}")))
        }
        _ => Ok(()),
    }
}

fn ls(image: &Path, path: &str) -> Result<u8, Failure> {
    let img = FlashImage::load(image)?;
    let mut text = String::new();
    for e in img.list(path)? {
        if e.is_dir {
            text.push_str(&format!("{:>8}  {}/\n", "", e.path));
        } else {
            text.push_str(&format!("{:>8}  {}\n", e.size, e.path));
        }
    }
    out(text.as_bytes())?;
    Ok(EXIT_OK)
}

/// The last component of an image path.
fn base_name(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

fn get(image: &Path, path: &str, dest: Option<&Path>) -> Result<u8, Failure> {
    let img = FlashImage::load(image)?;
    let data = img.get(path)?;
    match dest {
        None => out(&data)?,
        Some(d) => {
            let target = if d.is_dir() {
                d.join(base_name(path))
            } else {
                d.to_path_buf()
            };
            std::fs::write(&target, &data).map_err(|e| {
                failure(
                    EXIT_SOFTWARE,
                    anyhow!("{}: cannot write: {e}", target.display()),
                )
            })?;
        }
    }
    Ok(EXIT_OK)
}

/// Loads the image (or makes a fresh one when `create` and there is none), applies
/// `f`, and saves the result.
fn change(
    image: &Path,
    create: bool,
    f: impl FnOnce(&mut FlashImage) -> Result<(), Failure>,
) -> Result<u8, Failure> {
    let (mut img, created) = if create {
        FlashImage::load_or_fresh(image)?
    } else {
        (FlashImage::load(image)?, false)
    };
    f(&mut img)?;
    img.save(image)?;
    if created {
        eprintln!(
            "pybsim: {} did not exist: made it, a fresh 1 MiB flash (boot.py, main.py) with this change",
            image.display()
        );
    }
    Ok(EXIT_OK)
}

fn put(image: &Path, src: &Path, path: Option<&str>) -> Result<u8, Failure> {
    let meta = std::fs::metadata(src)
        .map_err(|e| failure(EXIT_NOINPUT, anyhow!("{}: {e}", src.display())))?;
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    change(image, true, |img| {
        // Into a directory (given as such, or one the image has) under SRC's name.
        let target = match path {
            None => name.clone(),
            Some(p) if p.ends_with('/') || is_dir(img, p) => {
                format!("{}/{name}", p.trim_end_matches('/'))
            }
            Some(p) => p.to_string(),
        };
        if meta.is_dir() {
            img.mkdir(&target)?;
            for (rel, node) in pybsim_fsimage::host_tree(src)? {
                let at = format!("{target}/{rel}");
                match node {
                    Node::Dir => img.mkdir(&at)?,
                    Node::File(data) => img.put(&at, &data)?,
                }
            }
        } else {
            let data = std::fs::read(src)
                .map_err(|e| failure(EXIT_NOINPUT, anyhow!("{}: {e}", src.display())))?;
            img.put(&target, &data)?;
        }
        Ok(())
    })
}

/// Whether `path` is a directory in the image (the root included).
fn is_dir(img: &FlashImage, path: &str) -> bool {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() || trimmed == "flash" && path.starts_with('/') {
        return true;
    }
    matches!(img.get(path), Err(FsImageError::IsADirectory { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names() {
        assert_eq!(base_name("lib/util.py"), "util.py");
        assert_eq!(base_name("/flash/main.py"), "main.py");
        assert_eq!(base_name("x.py"), "x.py");
        assert_eq!(base_name("dir/"), "dir");
    }

    #[test]
    fn errors_get_the_readme_exit_statuses() {
        let img = FlashImage::fresh("t.img").unwrap();
        assert_eq!(code_of(&img.get("nope").unwrap_err()), EXIT_NOINPUT);
        assert_eq!(
            code_of(&FlashImage::load(Path::new("/nonexistent/f.img")).unwrap_err()),
            EXIT_NOINPUT
        );
        let mut img2 = img.clone();
        assert_eq!(code_of(&img2.put("a*b", b"").unwrap_err()), EXIT_USAGE);
        assert_eq!(code_of(&img2.remove("/", true).unwrap_err()), EXIT_USAGE);
        assert_eq!(
            code_of(&img2.put("big", &vec![0; 200_000]).unwrap_err()),
            EXIT_DATAERR
        );
        let bad = FlashImage::from_bytes(Path::new("z.img"), vec![0; pybsim_fsimage::FLASH_SIZE])
            .unwrap();
        assert_eq!(code_of(&bad.list("").unwrap_err()), EXIT_DATAERR);
    }

    #[test]
    fn directories_in_the_image() {
        let mut img = FlashImage::fresh("t.img").unwrap();
        img.mkdir("lib").unwrap();
        assert!(is_dir(&img, "lib"));
        assert!(is_dir(&img, "/flash/lib"));
        assert!(is_dir(&img, "/"));
        assert!(is_dir(&img, "/flash"));
        assert!(!is_dir(&img, "main.py"));
        assert!(!is_dir(&img, "none"));
    }
}
