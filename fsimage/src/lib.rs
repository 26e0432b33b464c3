//! The Pyboard's internal flash filesystem image.
//!
//! MicroPython on the PYBv1.x keeps a FAT filesystem in internal flash sectors 1-4:
//! 112 KiB at `0x0800_4000`, seen by FatFs as 224 blocks of 512 bytes. The FAT volume
//! starts directly at block 0 (the virtual MBR that MicroPython shows over USB mass
//! storage is not stored in flash).
//!
//! [`build_image`] turns a host directory into such an image, deterministically: fixed
//! volume id, fixed timestamps (2000-01-01 00:00:00) and entries written in name order,
//! so the same directory always gives the same bytes. [`list_files`] reads files back.
//!
//! The volume is formatted the way MicroPython's own `f_mkfs` (oofatfs) formats it, on
//! pybsim's runtime and on the official firmware alike: FAT12, 512-byte sectors, 1
//! sector per cluster, 1 reserved sector, a single FAT and 512 root directory entries,
//! with the volume label `PYBFLASH`.
//!
//! Every FAT volume is read and written with the `fatfs` crate. Images a firmware wrote
//! (or damaged) are vetted first (see the `volume` module): a damaged volume is an
//! error saying what is wrong, never a panic or a hang.
//!
//! Beyond the filesystem region: [`FlashImage`] is the whole 1 MiB internal flash as a
//! file, with `ls`/`get`/`put`/`rm`/`mkdir` on its filesystem; [`changes`] says what a
//! guest changed relative to a host directory; the `sd` functions make SD card images
//! (FAT12/16/32, up to 32 GiB, written sparsely to a file by [`write_sd_image`]).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};

use fatfs::{
    Date, DateTime, Dir, FatType, FileSystem, FormatVolumeOptions, FsOptions, ReadWriteSeek, Time,
    TimeProvider,
};
use thiserror::Error;

mod flash;
mod sd;
mod sync;
mod volume;

pub use flash::{
    save_atomically, FlashImage, DEFAULT_FILES, FLASH_BASE, FLASH_SIZE, FS_END, FS_OFFSET,
};
pub use sd::{
    check_sd_size, sd_image_from_dir, sd_image_with_files, sd_list_files, sd_list_files_in,
    write_sd_image, SD_LABEL, SD_MAX, SD_MIN,
};
pub use sync::{changes, host_tree, Change, ChangeKind, Node, Tree};
pub use volume::FsEntry;

/// Bytes in one filesystem block (FatFs sector).
pub const BLOCK_SIZE: usize = 512;
/// Blocks in the flash filesystem (sectors 1-4: 16 + 16 + 16 + 64 KiB).
pub const BLOCK_COUNT: usize = 224;
/// Size of the image in bytes (112 KiB).
pub const IMAGE_SIZE: usize = BLOCK_SIZE * BLOCK_COUNT;
/// Address of the image in the STM32F405's internal flash.
pub const FLASH_ADDRESS: u32 = 0x0800_4000;
/// Volume label, as MicroPython names its flash drive.
pub const VOLUME_LABEL: &str = "PYBFLASH";
/// Fixed volume serial number ("pybs"), so images are reproducible.
pub const VOLUME_ID: u32 = 0x7079_6273;
/// Root directory entries, as MicroPython's `f_mkfs` makes them.
pub const ROOT_DIR_ENTRIES: u16 = 512;
/// Bytes available for file data and subdirectories: 224 blocks less the boot sector,
/// one FAT sector and 32 root-directory sectors.
pub const DATA_CAPACITY: u64 = ((BLOCK_COUNT - 1 - 1 - 32) * BLOCK_SIZE) as u64;

/// Errors from building or reading an image. Each names the host path or the path
/// inside the image it is about.
#[derive(Debug, Error)]
pub enum FsImageError {
    #[error("{}: directory not found", path.display())]
    DirectoryMissing { path: PathBuf },
    #[error("{}: not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not a regular file or directory", path.display())]
    Unsupported { path: PathBuf },
    #[error(
        "{}: file is {size} bytes, more than the {capacity} bytes the 112 KiB flash filesystem can hold",
        path.display()
    )]
    FileTooBig {
        path: PathBuf,
        size: u64,
        capacity: u64,
    },
    #[error("{}: FAT cannot hold this name: {reason}", path.display())]
    BadName { path: PathBuf, reason: String },
    #[error(
        "{}: clashes with {} (FAT names are case-insensitive)",
        path.display(),
        other.display()
    )]
    NameClash { path: PathBuf, other: PathBuf },
    #[error(
        "{}: the 112 KiB flash filesystem is full (the files add up to more than it holds)",
        path.display()
    )]
    ImageFull { path: PathBuf },
    #[error("{}: writing into the image failed: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("formatting the flash image failed: {source}")]
    Format {
        #[source]
        source: io::Error,
    },
    #[error("flash image is {len} bytes, expected {IMAGE_SIZE}")]
    BadImageSize { len: usize },
    #[error("flash image: {what}")]
    BadImage { what: String },
    #[error("SD image: {what}")]
    BadSdImage { what: String },
    #[error("{}: {len} bytes; a flash image is exactly {FLASH_SIZE} bytes (1 MiB)", path.display())]
    BadFlashSize { path: PathBuf, len: u64 },
    #[error("{}: cannot save: {source}", path.display())]
    Save {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{image}: {path}: no such file or directory")]
    NotFound { image: String, path: String },
    #[error("{image}: {path}: not a directory")]
    NotADirectoryInImage { image: String, path: String },
    #[error("{image}: {path}: is a directory")]
    IsADirectory { image: String, path: String },
    #[error("{image}: {path}: directory not empty")]
    NotEmpty { image: String, path: String },
    #[error("{image}: {path}: {what}")]
    Full {
        image: String,
        path: String,
        what: String,
    },
    #[error("{image}: {path}: {reason}")]
    BadPath {
        image: String,
        path: String,
        reason: String,
    },
    #[error("{image}: {what}")]
    Corrupt { image: String, what: String },
    #[error("{image}: {source}")]
    ImageIo {
        image: String,
        #[source]
        source: io::Error,
    },
}

impl FsImageError {
    /// Whether the error is about something that does not exist (a host file or
    /// directory, or a path inside an image), as opposed to bad contents.
    pub fn is_missing(&self) -> bool {
        match self {
            FsImageError::DirectoryMissing { .. } | FsImageError::NotFound { .. } => true,
            FsImageError::Read { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// Supplies the fixed timestamp 2000-01-01 00:00:00 for every entry.
#[derive(Debug)]
struct FixedTime;

const FIXED_DATE: Date = Date {
    year: 2000,
    month: 1,
    day: 1,
};

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> Date {
        FIXED_DATE
    }

    fn get_current_date_time(&self) -> DateTime {
        DateTime {
            date: FIXED_DATE,
            time: Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

static FIXED_TIME: FixedTime = FixedTime;

fn fs_options() -> FsOptions {
    FsOptions::new()
        .update_accessed_date(false)
        .time_provider(&FIXED_TIME)
}

fn format_options() -> FormatVolumeOptions {
    let mut label = [b' '; 11];
    label[..VOLUME_LABEL.len()].copy_from_slice(VOLUME_LABEL.as_bytes());
    FormatVolumeOptions::new()
        .bytes_per_sector(BLOCK_SIZE as u16)
        .total_sectors(BLOCK_COUNT as u32)
        .bytes_per_cluster(BLOCK_SIZE as u32)
        .fat_type(FatType::Fat12)
        .fats(1)
        .max_root_dir_entries(ROOT_DIR_ENTRIES)
        .volume_id(VOLUME_ID)
        .volume_label(label)
}

/// Returns an empty, freshly formatted image ([`IMAGE_SIZE`] bytes).
pub fn empty_image() -> Result<Vec<u8>, FsImageError> {
    let mut cursor = Cursor::new(vec![0u8; IMAGE_SIZE]);
    fatfs::format_volume(&mut cursor, format_options())
        .map_err(|source| FsImageError::Format { source })?;
    Ok(cursor.into_inner())
}

/// Builds the flash filesystem image (exactly [`IMAGE_SIZE`] bytes) holding a copy of
/// the host directory tree `dir`: files and subdirectories, in name order. Symbolic
/// links are followed.
pub fn build_image(dir: &Path) -> Result<Vec<u8>, FsImageError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(FsImageError::NotADirectory {
                path: dir.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(FsImageError::DirectoryMissing {
                path: dir.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(FsImageError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    }

    let mut cursor = Cursor::new(empty_image()?);
    {
        let fs =
            FileSystem::new(&mut cursor, fs_options()).map_err(|source| FsImageError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        copy_dir(&fs, &fs.root_dir(), dir, DATA_CAPACITY)?;
        fs.unmount().map_err(|source| FsImageError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let image = cursor.into_inner();
    debug_assert_eq!(image.len(), IMAGE_SIZE);
    Ok(image)
}

/// One directory entry of the host tree, checked for FAT.
struct HostEntry {
    path: PathBuf,
    name: String,
    is_dir: bool,
    size: u64,
}

fn read_host_dir(dir: &Path) -> Result<Vec<HostEntry>, FsImageError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FsImageError::Read { path, source }
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err(dir))? {
        let entry = entry.map_err(read_err(dir))?;
        let path = entry.path();
        let meta = fs::metadata(&path).map_err(read_err(&path))?;
        let name = match entry.file_name().into_string() {
            Ok(name) => name,
            Err(_) => {
                return Err(FsImageError::BadName {
                    path,
                    reason: "the name is not valid UTF-8".into(),
                })
            }
        };
        check_name(&name).map_err(|reason| FsImageError::BadName {
            path: path.clone(),
            reason,
        })?;
        if !meta.is_dir() && !meta.is_file() {
            return Err(FsImageError::Unsupported { path });
        }
        entries.push(HostEntry {
            is_dir: meta.is_dir(),
            size: meta.len(),
            path,
            name,
        });
    }
    entries.sort_by(|a, b| compare_names(&a.name, &b.name));

    // FAT names are case-insensitive: "A.py" and "a.py" would be one file.
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for e in &entries {
        if let Some(other) = seen.insert(e.name.to_uppercase(), e.path.clone()) {
            return Err(FsImageError::NameClash {
                path: e.path.clone(),
                other,
            });
        }
    }
    Ok(entries)
}

fn compare_names(a: &str, b: &str) -> Ordering {
    a.as_bytes().cmp(b.as_bytes())
}

/// Checks that FAT (with long file names, as MicroPython builds FatFs) can store `name`
/// unchanged. Returns what is wrong otherwise.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name == "." || name == ".." {
        return Err("\".\" and \"..\" are reserved".into());
    }
    if name.len() > 255 {
        return Err(format!(
            "the name is {} bytes long, FAT allows at most 255",
            name.len()
        ));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err("FAT drops dots and spaces at the end of a name".into());
    }
    for c in name.chars() {
        let ok = c.is_ascii_alphanumeric()
            || ('\u{80}'..='\u{FFFF}').contains(&c)
            || "$%'-_@~`!(){}. +,;=[]^#&".contains(c);
        if !ok {
            return Err(format!("the character {c:?} is not allowed in FAT names"));
        }
    }
    Ok(())
}

/// Builds an image holding the given files in its root directory, in the order given.
pub fn image_with_files(files: &[(&str, &[u8])]) -> Result<Vec<u8>, FsImageError> {
    let mut cursor = Cursor::new(empty_image()?);
    {
        let fs =
            FileSystem::new(&mut cursor, fs_options()).map_err(|source| FsImageError::Write {
                path: "/".into(),
                source,
            })?;
        for (name, data) in files {
            let path = Path::new(name);
            check_name(name).map_err(|reason| FsImageError::BadName {
                path: path.to_path_buf(),
                reason,
            })?;
            let write_err = |source: io::Error| write_error(&fs, path, source);
            let mut file = fs.root_dir().create_file(name).map_err(write_err)?;
            file.truncate().map_err(write_err)?;
            file.write_all(data).map_err(write_err)?;
            file.flush().map_err(write_err)?;
        }
        fs.unmount().map_err(|source| FsImageError::Write {
            path: "/".into(),
            source,
        })?;
    }
    Ok(cursor.into_inner())
}

fn copy_dir<T: ReadWriteSeek>(
    fs: &FileSystem<T>,
    target: &Dir<'_, T>,
    host: &Path,
    capacity: u64,
) -> Result<(), FsImageError> {
    for entry in read_host_dir(host)? {
        let write_err = |source: io::Error| write_error(fs, &entry.path, source);
        if entry.is_dir {
            let sub = target.create_dir(&entry.name).map_err(write_err)?;
            copy_dir(fs, &sub, &entry.path, capacity)?;
        } else {
            if entry.size > capacity {
                return Err(FsImageError::FileTooBig {
                    path: entry.path,
                    size: entry.size,
                    capacity,
                });
            }
            let data = fs::read(&entry.path).map_err(|source| FsImageError::Read {
                path: entry.path.clone(),
                source,
            })?;
            if data.len() as u64 > capacity {
                // The file grew between metadata() and read().
                return Err(FsImageError::FileTooBig {
                    path: entry.path,
                    size: data.len() as u64,
                    capacity,
                });
            }
            let mut file = target.create_file(&entry.name).map_err(write_err)?;
            file.truncate().map_err(write_err)?;
            file.write_all(&data).map_err(write_err)?;
            file.flush().map_err(write_err)?;
        }
    }
    Ok(())
}

fn write_error<T: ReadWriteSeek>(
    fs: &FileSystem<T>,
    path: &Path,
    source: io::Error,
) -> FsImageError {
    let full = fs.stats().map(|s| s.free_clusters() == 0).unwrap_or(false);
    if full {
        FsImageError::ImageFull {
            path: path.to_path_buf(),
        }
    } else {
        FsImageError::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Reads every regular file out of a flash image. Returns `(path, contents)` pairs,
/// paths relative to the root with `/` between components (`"lib/util.py"`), sorted by
/// path. The volume label entry and directories themselves are not listed.
///
/// An image the firmware left damaged gives [`FsImageError::BadImage`] saying what is
/// wrong, never a panic.
pub fn list_files(image: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FsImageError> {
    if image.len() != IMAGE_SIZE {
        return Err(FsImageError::BadImageSize { len: image.len() });
    }
    read_only_files(image).map_err(|e| FsImageError::BadImage {
        what: e.to_string(),
    })
}

/// Every file of the FAT volume at the start of `image`.
fn read_only_files(image: &[u8]) -> Result<Vec<(String, Vec<u8>)>, volume::VolError> {
    let disk = volume::ReadOnly(Cursor::new(image));
    volume::Volume::open(disk, image.len() as u64)?.files()
}
