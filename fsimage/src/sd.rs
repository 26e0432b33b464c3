//! SD card images: a FAT volume filling a raw image of a chosen size, with no partition
//! table (a "super floppy", which MicroPython's FatFs mounts as it mounts a partition).
//!
//! Like the flash image, the result is deterministic: fixed volume id and timestamps,
//! entries in name order. The FAT type follows the size as FatFs' `f_mkfs` would choose
//! it (FAT12 up to a few MiB, FAT16 above); the volume label is `PYBSD`.

use std::io::{Cursor, Write};
use std::path::Path;

use fatfs::{FileSystem, FormatVolumeOptions};

use crate::{copy_dir, fs_options, write_error, FsImageError, BLOCK_SIZE, VOLUME_ID};

/// Smallest SD image (64 KiB) and largest (256 MiB: above, `fatfs` formats FAT32,
/// which [`sd_list_files`] does not read; the card model itself takes any image).
pub const SD_MIN: u64 = 64 << 10;
pub const SD_MAX: u64 = 256 << 20;

/// Volume label of SD images.
pub const SD_LABEL: &str = "PYBSD";

fn check_size(size: u64) -> Result<(), FsImageError> {
    if !size.is_multiple_of(BLOCK_SIZE as u64) || !(SD_MIN..=SD_MAX).contains(&size) {
        return Err(FsImageError::BadSdImage {
            what: format!(
                "{size} bytes: the size must be a multiple of 512 between {SD_MIN} and {SD_MAX}"
            ),
        });
    }
    Ok(())
}

fn empty_sd(size: u64) -> Result<Vec<u8>, FsImageError> {
    check_size(size)?;
    let mut label = [b' '; 11];
    label[..SD_LABEL.len()].copy_from_slice(SD_LABEL.as_bytes());
    let mut cursor = Cursor::new(vec![0u8; size as usize]);
    let opts = FormatVolumeOptions::new()
        .bytes_per_sector(BLOCK_SIZE as u16)
        .total_sectors((size / BLOCK_SIZE as u64) as u32)
        .volume_id(VOLUME_ID)
        .volume_label(label);
    fatfs::format_volume(&mut cursor, opts).map_err(|source| FsImageError::Format { source })?;
    Ok(cursor.into_inner())
}

/// The flash image's "full" error, said of the SD image.
fn sd_full(e: FsImageError, size: u64) -> FsImageError {
    match e {
        FsImageError::ImageFull { path } => FsImageError::BadSdImage {
            what: format!(
                "{}: the {size}-byte SD image is full (the files add up to more than it holds)",
                path.display()
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

/// An SD image of `size` bytes holding a copy of the host directory tree `dir`.
pub fn sd_image_from_dir(dir: &Path, size: u64) -> Result<Vec<u8>, FsImageError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(FsImageError::NotADirectory {
                path: dir.to_path_buf(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
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
    let mut cursor = Cursor::new(empty_sd(size)?);
    {
        let fs =
            FileSystem::new(&mut cursor, fs_options()).map_err(|source| FsImageError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        copy_dir(&fs, &fs.root_dir(), dir, size).map_err(|e| sd_full(e, size))?;
        fs.unmount().map_err(|source| FsImageError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(cursor.into_inner())
}

/// Reads every regular file out of an SD image (FAT12 or FAT16), as [`crate::list_files`].
pub fn sd_list_files(image: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FsImageError> {
    if image.len() < BLOCK_SIZE || !image.len().is_multiple_of(BLOCK_SIZE) {
        return Err(FsImageError::BadSdImage {
            what: format!(
                "{} bytes is not a whole number of 512-byte blocks",
                image.len()
            ),
        });
    }
    crate::reader::list_files(image)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_largest_image_is_fat16() {
        let img = empty_sd(SD_MAX).unwrap();
        assert!(sd_list_files(&img).unwrap().is_empty());
    }
}
