//! SD card images: a FAT volume filling a raw image of a chosen size, with no partition
//! table (a "super floppy", which MicroPython's FatFs mounts as it mounts a partition).
//!
//! Like the flash image, the result is deterministic: fixed volume id and timestamps,
//! entries in name order. `fatfs` chooses the FAT type and cluster size from the size
//! (FAT12 below 4 MiB, FAT16 below 512 MiB, FAT32 above); the volume label is `PYBSD`.
//!
//! Sizes are those of real cards ([`check_sd_size`]): up to 32 GiB (SDHC; larger cards
//! are SDXC, formatted exFAT, which MicroPython's FatFs is built without), and above
//! 1 GiB a whole number of 512 KiB (the unit of an SDHC card's capacity register).
//! [`write_sd_image`] writes an image file sparsely: blocks that stay zero are never
//! written, so a 32 GiB card costs the host only what the filesystem uses.

use std::fs::{self, File};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;

use fatfs::{FileSystem, FormatVolumeOptions, ReadWriteSeek};

use crate::flash::resolve_links;
use crate::volume::{ReadOnly, Volume};
use crate::{copy_dir, fs_options, write_error, FsImageError, BLOCK_SIZE, VOLUME_ID};

/// Smallest SD image (64 KiB) pybsim makes.
pub const SD_MIN: u64 = 64 << 10;
/// Largest SD image: an SDHC card's 32 GiB.
pub const SD_MAX: u64 = 32 << 30;

/// Volume label of SD images.
pub const SD_LABEL: &str = "PYBSD";

/// A size in bytes as people write it (`32 GiB`, `1000 KiB`, `1536 bytes`).
fn human(size: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if size >= 1 << shift && size.is_multiple_of(1 << shift) {
            return format!("{} {unit}", size >> shift);
        }
    }
    format!("{size} bytes")
}

/// Whether an SD card can have `size` bytes; if not, why (a sentence naming the size).
pub fn check_sd_size(size: u64) -> Result<(), String> {
    let h = human(size);
    if !size.is_multiple_of(BLOCK_SIZE as u64) {
        Err(format!("{h} is not a whole number of 512-byte blocks"))
    } else if size < SD_MIN {
        Err(format!("{h} is less than the smallest image, 64 KiB"))
    } else if size > SD_MAX {
        Err(format!(
            "{h} is more than an SDHC card holds (32 GiB); larger cards are SDXC with exFAT, \
             which MicroPython does not mount"
        ))
    } else if size > 1 << 30 && !size.is_multiple_of(512 << 10) {
        Err(format!(
            "{h}: an SDHC card (above 1 GiB) holds a whole number of 512 KiB"
        ))
    } else {
        Ok(())
    }
}

fn check_size(size: u64) -> Result<(), FsImageError> {
    check_sd_size(size).map_err(|what| FsImageError::BadSdImage { what })
}

fn format_sd<T: ReadWriteSeek>(disk: &mut T, size: u64) -> Result<(), FsImageError> {
    let mut label = [b' '; 11];
    label[..SD_LABEL.len()].copy_from_slice(SD_LABEL.as_bytes());
    let opts = FormatVolumeOptions::new()
        .bytes_per_sector(BLOCK_SIZE as u16)
        .total_sectors((size / BLOCK_SIZE as u64) as u32)
        .volume_id(VOLUME_ID)
        .volume_label(label);
    fatfs::format_volume(&mut *disk, opts).map_err(|source| FsImageError::Format { source })
}

fn empty_sd(size: u64) -> Result<Vec<u8>, FsImageError> {
    check_size(size)?;
    let mut cursor = Cursor::new(vec![0u8; size as usize]);
    format_sd(&mut cursor, size)?;
    Ok(cursor.into_inner())
}

/// The flash image's "full" error, said of the SD image.
fn sd_full(e: FsImageError, size: u64) -> FsImageError {
    match e {
        FsImageError::ImageFull { path } => FsImageError::BadSdImage {
            what: format!(
                "{}: the {}-byte SD image is full (the files add up to more than it holds)",
                path.display(),
                size
            ),
        },
        other => other,
    }
}

/// An SD image of `size` bytes holding `files` (name, contents) in its root directory.
pub fn sd_image_with_files(size: u64, files: &[(&str, &[u8])]) -> Result<Vec<u8>, FsImageError> {
    let mut cursor = Cursor::new(empty_sd(size)?);
    {
        let fs =
            FileSystem::new(&mut cursor, fs_options()).map_err(|source| FsImageError::Write {
                path: "/".into(),
                source,
            })?;
        for (name, data) in files {
            let path = Path::new(name);
            crate::check_name(name).map_err(|reason| FsImageError::BadName {
                path: path.to_path_buf(),
                reason,
            })?;
            let write_err = |source| write_error(&fs, path, source);
            let mut file = fs.root_dir().create_file(name).map_err(write_err)?;
            file.truncate().map_err(write_err)?;
            file.write_all(data)
                .map_err(write_err)
                .map_err(|e| sd_full(e, size))?;
            file.flush().map_err(write_err)?;
        }
        fs.unmount().map_err(|source| FsImageError::Write {
            path: "/".into(),
            source,
        })?;
    }
    Ok(cursor.into_inner())
}

fn check_dir(dir: &Path) -> Result<(), FsImageError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(FsImageError::NotADirectory {
            path: dir.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(FsImageError::DirectoryMissing {
            path: dir.to_path_buf(),
        }),
        Err(source) => Err(FsImageError::Read {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Copies `dir` into the freshly formatted volume on `disk`.
fn fill<T: ReadWriteSeek>(disk: &mut T, dir: &Path, size: u64) -> Result<(), FsImageError> {
    let fs = FileSystem::new(&mut *disk, fs_options()).map_err(|source| FsImageError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    copy_dir(&fs, &fs.root_dir(), dir, size).map_err(|e| sd_full(e, size))?;
    fs.unmount().map_err(|source| FsImageError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// An SD image of `size` bytes holding a copy of the host directory tree `dir`, in
/// memory (see [`write_sd_image`] for large cards).
pub fn sd_image_from_dir(dir: &Path, size: u64) -> Result<Vec<u8>, FsImageError> {
    check_dir(dir)?;
    let mut cursor = Cursor::new(empty_sd(size)?);
    fill(&mut cursor, dir, size)?;
    Ok(cursor.into_inner())
}

/// Writes to `out` an SD image of `size` bytes holding a copy of `dir`: the same bytes
/// as [`sd_image_from_dir`], made in a sparse temporary file beside the file `out`
/// finally names (a symbolic link stays a link) and renamed over it when complete, with
/// the old file's permissions, so a failed build leaves `out` as it was.
pub fn write_sd_image(dir: &Path, size: u64, out: &Path) -> Result<(), FsImageError> {
    check_dir(dir)?;
    check_size(size)?;
    let target = resolve_links(out);
    // The image being made must not be one of the files copied into it.
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let (Ok(d), Ok(p)) = (fs::canonicalize(dir), fs::canonicalize(parent)) {
        if p.starts_with(d) {
            return Err(FsImageError::BadSdImage {
                what: format!(
                    "{}: the image would be inside {}, the directory copied into it",
                    out.display(),
                    dir.display()
                ),
            });
        }
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sd.img".into());
    let tmp = target.with_file_name(format!(".{name}.pybsim-{}.tmp", std::process::id()));
    let perms = fs::metadata(&target).map(|m| m.permissions()).ok();
    let save_err = |source| FsImageError::Save {
        path: out.to_path_buf(),
        source,
    };
    let built = (|| {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(save_err)?;
        file.set_len(size).map_err(save_err)?;
        let mut disk = SparseFile::new(file, size);
        format_sd(&mut disk, size)?;
        fill(&mut disk, dir, size)?;
        if let Some(p) = perms {
            disk.file.set_permissions(p).map_err(save_err)?;
        }
        disk.file.sync_all().map_err(save_err)?;
        fs::rename(&tmp, &target).map_err(save_err)
    })();
    if built.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    built
}

/// A file made by `set_len` (all holes, reading as zeros) that skips writes of zeros
/// to 4 KiB pages never written: they already read as zero, and leaving them out keeps
/// the file sparse.
struct SparseFile {
    file: File,
    len: u64,
    pos: u64,
    /// One bit per page: written at least once.
    touched: Vec<u64>,
}

const PAGE: u64 = 4096;

impl SparseFile {
    fn new(file: File, len: u64) -> Self {
        let pages = len.div_ceil(PAGE);
        SparseFile {
            file,
            len,
            pos: 0,
            touched: vec![0; pages.div_ceil(64) as usize],
        }
    }

    fn touched(&self, page: u64) -> bool {
        self.touched[(page / 64) as usize] & (1 << (page % 64)) != 0
    }

    fn touch(&mut self, page: u64) {
        self.touched[(page / 64) as usize] |= 1 << (page % 64);
    }
}

impl Read for SparseFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.seek(SeekFrom::Start(self.pos))?;
        let n = self.file.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for SparseFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pos + buf.len() as u64 > self.len {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the SD image",
            ));
        }
        let mut done = 0;
        while done < buf.len() {
            let at = self.pos + done as u64;
            let page = at / PAGE;
            let n = ((PAGE - at % PAGE) as usize).min(buf.len() - done);
            let chunk = &buf[done..done + n];
            if self.touched(page) || chunk.iter().any(|&b| b != 0) {
                self.file.seek(SeekFrom::Start(at))?;
                self.file.write_all(chunk)?;
                self.touch(page);
            }
            done += n;
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for SparseFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

/// Reads every regular file out of an SD image (FAT12, FAT16 or FAT32), as
/// [`crate::list_files`] does.
pub fn sd_list_files(image: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FsImageError> {
    if image.len() < BLOCK_SIZE || !image.len().is_multiple_of(BLOCK_SIZE) {
        return Err(FsImageError::BadSdImage {
            what: format!(
                "{} bytes is not a whole number of 512-byte blocks",
                image.len()
            ),
        });
    }
    let disk = ReadOnly(Cursor::new(image));
    Volume::open(disk, image.len() as u64)
        .and_then(|v| v.files())
        .map_err(|e| FsImageError::BadSdImage {
            what: e.to_string(),
        })
}

/// [`sd_list_files`] of the image file at `path`, read from the file as needed (a
/// 32 GiB image is not read whole).
pub fn sd_list_files_in(path: &Path) -> Result<Vec<(String, Vec<u8>)>, FsImageError> {
    let read_err = |source| FsImageError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let len = file.metadata().map_err(read_err)?.len();
    Volume::open(ReadOnly(file), len)
        .and_then(|v| v.files())
        .map_err(|e| FsImageError::BadSdImage {
            what: format!("{}: {e}", path.display()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("pybsim-fsimage-sd-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn files_round_trip_and_sizes_are_checked() {
        let img = sd_image_with_files(1 << 20, &[("hello.txt", b"hi from sd\n")]).unwrap();
        assert_eq!(img.len(), 1 << 20);
        assert_eq!(
            sd_list_files(&img).unwrap(),
            vec![("hello.txt".to_string(), b"hi from sd\n".to_vec())]
        );
        assert_eq!(
            img,
            sd_image_with_files(1 << 20, &[("hello.txt", b"hi from sd\n")]).unwrap(),
            "deterministic"
        );
        assert!(sd_image_with_files(1000, &[]).is_err());
        assert!(sd_image_with_files(SD_MAX + 512, &[]).is_err());
        let big = vec![0u8; 200 << 10];
        let e = sd_image_with_files(128 << 10, &[("big.bin", &big)]).unwrap_err();
        assert!(format!("{e}").contains("SD image is full"), "{e}");
    }

    #[test]
    fn sizes_real_cards_have() {
        for ok in [
            SD_MIN,
            1000 << 10,
            (1 << 30) - 512,
            1 << 30,
            3 << 30,
            SD_MAX,
        ] {
            assert_eq!(check_sd_size(ok), Ok(()), "{ok}");
        }
        let why = |s| check_sd_size(s).unwrap_err();
        assert_eq!(
            why(1000),
            "1000 bytes is not a whole number of 512-byte blocks"
        );
        assert_eq!(
            why(32 << 10),
            "32 KiB is less than the smallest image, 64 KiB"
        );
        assert!(why(64 << 30).starts_with("64 GiB is more than an SDHC card holds (32 GiB)"));
        assert!(why(SD_MAX + (512 << 10)).contains("more than an SDHC card holds"));
        assert_eq!(
            why((2 << 30) + 512),
            "2147484160 bytes: an SDHC card (above 1 GiB) holds a whole number of 512 KiB"
        );
    }

    #[test]
    fn the_fat_type_follows_the_size() {
        // (size, boot sector offset of the type string, the type)
        for (size, at, kind) in [
            (1u64 << 20, 54, &b"FAT12"[..]),
            (256 << 20, 54, b"FAT16"),
            (1 << 30, 82, b"FAT32"),
        ] {
            let d = scratch(&format!("kind{size}"));
            fs::create_dir(d.join("empty")).unwrap();
            let out = d.join("card.img");
            write_sd_image(&d.join("empty"), size, &out).unwrap();
            let mut head = [0u8; 512];
            File::open(&out).unwrap().read_exact(&mut head).unwrap();
            assert_eq!(&head[at..at + 5], kind, "{size}");
            assert_eq!(fs::metadata(&out).unwrap().len(), size);
            assert!(sd_list_files_in(&out).unwrap().is_empty());
            let _ = fs::remove_dir_all(&d);
        }
    }

    #[test]
    fn a_file_image_is_the_memory_image_and_sparse() {
        let d = scratch("sparse");
        let src = d.join("tree");
        fs::create_dir_all(src.join("lib")).unwrap();
        fs::write(src.join("main.py"), b"print('sd')\n").unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(src.join("lib/data.bin"), &data).unwrap();
        let out = d.join("card.img");
        write_sd_image(&src, 8 << 20, &out).unwrap();
        assert!(
            fs::read(&out).unwrap() == sd_image_from_dir(&src, 8 << 20).unwrap(),
            "file and memory images differ"
        );
        // A 32 GiB card: FAT32, the files read back, and the file on the host holds
        // only what is not zero (the FATs alone would be 2 x 8 MiB if written).
        write_sd_image(&src, SD_MAX, &out).unwrap();
        let files = sd_list_files_in(&out).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0], ("lib/data.bin".to_string(), data));
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = fs::metadata(&out).unwrap();
            assert_eq!(m.len(), SD_MAX);
            assert!(
                m.blocks() * 512 < 4 << 20,
                "{} bytes allocated",
                m.blocks() * 512
            );
        }
        // A failed build leaves the old file as it was and no temporary file.
        let before = fs::metadata(&out).unwrap().len();
        assert!(write_sd_image(&src, 64 << 10, &out).is_err());
        assert_eq!(fs::metadata(&out).unwrap().len(), before);
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::{symlink, PermissionsExt};
            fs::set_permissions(&out, fs::Permissions::from_mode(0o600)).unwrap();
            let link = d.join("link.img");
            symlink("card.img", &link).unwrap();
            write_sd_image(&src, 1 << 20, &link).unwrap();
            assert!(fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            let m = fs::metadata(&out).unwrap();
            assert_eq!((m.len(), m.permissions().mode() & 0o777), (1 << 20, 0o600));
            fs::remove_file(&link).unwrap();
        }
        let e = write_sd_image(&src, 1 << 20, &src.join("lib/card.img")).unwrap_err();
        assert!(e.to_string().contains("the image would be inside"), "{e}");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn the_largest_in_memory_fat16_image_reads_back() {
        let img = empty_sd(256 << 20).unwrap();
        assert!(sd_list_files(&img).unwrap().is_empty());
    }
}
