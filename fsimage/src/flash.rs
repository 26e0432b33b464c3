//! The board's whole internal flash as a file: the STM32F405's 1 MiB flash array, from
//! `0x0800_0000`, in which sectors 1-4 (bytes `0x4000..0x20000`, 112 KiB) hold the
//! FAT filesystem that the firmware mounts at `/flash`.
//!
//! Both pybsim's runtime and the official MicroPython firmware keep the volume there
//! the same way: 512-byte blocks, block n at flash offset `0x4000 + 512 n`, the FAT boot
//! sector in block 0, and, when the firmware finds no volume, FAT12 as FatFs' `f_mkfs`
//! makes it for 224 blocks (1 reserved sector, one 1-sector FAT, 512 root entries, 190
//! clusters of 512 bytes), labelled PYBFLASH: what [`crate::empty_image`] makes. The
//! official firmware puts a generated partition table in front of the volume on its
//! block device (not in flash), so its boot sector says 1 hidden sector where ours says
//! 0; FatFs does not read that field. The other sectors (0: vectors and start-up, 5-11:
//! the rest of the firmware) are kept as they are; a fresh image has them erased (0xFF).
//!
//! [`FlashImage`] reads and writes the filesystem of such an image without booting
//! a board: list, get, put, remove, make directories. Paths are inside the volume, `/`
//! between components, case-insensitive as FAT is; a leading `/` or `/flash/` (where
//! the firmware mounts it) is accepted. Every change is made on a copy of the
//! filesystem region and kept only when the whole operation succeeded.

use std::fs;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};

use crate::volume::{ReadOnly, VolError, Volume};
use crate::{image_with_files, FsEntry, FsImageError, FLASH_ADDRESS, IMAGE_SIZE};

/// Bytes in the STM32F405's internal flash.
pub const FLASH_SIZE: usize = 1 << 20;
/// Address of the flash array's first byte.
pub const FLASH_BASE: u32 = 0x0800_0000;
/// Offset of the filesystem region (sector 1) in the flash image.
pub const FS_OFFSET: usize = (FLASH_ADDRESS - FLASH_BASE) as usize;
/// Offset just past the filesystem region (the start of sector 5).
pub const FS_END: usize = FS_OFFSET + IMAGE_SIZE;

/// The files a fresh board's flash filesystem holds (the emulator puts the same in when
/// no `--fs` directory is given).
pub const DEFAULT_FILES: [(&str, &[u8]); 2] = [
    (
        "boot.py",
        b"# boot.py: runs at every reset, before main.py\nimport machine\nimport pyb\n",
    ),
    (
        "main.py",
        b"# main.py: runs after boot.py; put your program here\n",
    ),
];

/// A 1 MiB flash image in memory, named (for messages) by the file it came from.
#[derive(Clone, Debug)]
pub struct FlashImage {
    name: String,
    bytes: Vec<u8>,
}

/// The path inside the volume: without a leading `/flash` mount point.
fn volume_path(path: &str) -> &str {
    match path.strip_prefix("/flash") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    }
}

impl FlashImage {
    /// A fresh board's flash: erased (0xFF) but for a formatted filesystem holding
    /// [`DEFAULT_FILES`].
    pub fn fresh(name: impl Into<String>) -> Result<Self, FsImageError> {
        let mut bytes = vec![0xFF; FLASH_SIZE];
        bytes[FS_OFFSET..FS_END].copy_from_slice(&image_with_files(&DEFAULT_FILES)?);
        Ok(FlashImage {
            name: name.into(),
            bytes,
        })
    }

    /// Takes a flash image's bytes (exactly [`FLASH_SIZE`]) read from `path`.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, FsImageError> {
        if bytes.len() != FLASH_SIZE {
            return Err(FsImageError::BadFlashSize {
                path: path.to_path_buf(),
                len: bytes.len() as u64,
            });
        }
        Ok(FlashImage {
            name: path.display().to_string(),
            bytes,
        })
    }

    /// Reads the flash image file at `path`. Its size is checked before it is read.
    pub fn load(path: &Path) -> Result<Self, FsImageError> {
        let read_err = |source| FsImageError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = fs::metadata(path).map_err(read_err)?;
        if !meta.is_file() {
            return Err(FsImageError::Unsupported {
                path: path.to_path_buf(),
            });
        }
        if meta.len() != FLASH_SIZE as u64 {
            return Err(FsImageError::BadFlashSize {
                path: path.to_path_buf(),
                len: meta.len(),
            });
        }
        Self::from_bytes(path, fs::read(path).map_err(read_err)?)
    }

    /// Reads the image at `path`, or makes a [fresh](Self::fresh) one if there is no
    /// file there. Says whether it made one.
    pub fn load_or_fresh(path: &Path) -> Result<(Self, bool), FsImageError> {
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Ok((Self::fresh(path.display().to_string())?, true))
            }
            _ => Ok((Self::load(path)?, false)),
        }
    }

    /// Writes the image to `path` with [`save_atomically`].
    pub fn save(&self, path: &Path) -> Result<(), FsImageError> {
        save_atomically(path, &self.bytes)
    }

    /// The name errors give the image.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole 1 MiB.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The filesystem region (sectors 1-4), as [`crate::list_files`] takes it.
    pub fn fs_region(&self) -> &[u8] {
        &self.bytes[FS_OFFSET..FS_END]
    }

    fn error(&self, e: VolError) -> FsImageError {
        let image = self.name.clone();
        match e {
            VolError::NotFound(path) => FsImageError::NotFound { image, path },
            VolError::NotADirectory(path) => FsImageError::NotADirectoryInImage { image, path },
            VolError::IsADirectory(path) => FsImageError::IsADirectory { image, path },
            VolError::NotEmpty(path) => FsImageError::NotEmpty { image, path },
            VolError::Full { path, what } => FsImageError::Full {
                image,
                path,
                what: what.to_string(),
            },
            VolError::BadPath { path, reason } => FsImageError::BadPath {
                image,
                path,
                reason,
            },
            e @ VolError::Corrupt(_) => FsImageError::Corrupt {
                image,
                what: format!("filesystem region (flash 0x{FS_OFFSET:05x}..0x{FS_END:05x}): {e}"),
            },
            VolError::Io(source) => FsImageError::ImageIo { image, source },
        }
    }

    fn read<R>(
        &self,
        f: impl FnOnce(&Volume<ReadOnly<Cursor<&[u8]>>>) -> Result<R, VolError>,
    ) -> Result<R, FsImageError> {
        let region = self.fs_region();
        Volume::open(ReadOnly(Cursor::new(region)), region.len() as u64)
            .and_then(|v| f(&v))
            .map_err(|e| self.error(e))
    }

    fn modify(
        &mut self,
        f: impl FnOnce(&Volume<Cursor<&mut [u8]>>) -> Result<(), VolError>,
    ) -> Result<(), FsImageError> {
        let mut region = self.fs_region().to_vec();
        let len = region.len() as u64;
        Volume::open(Cursor::new(&mut region[..]), len)
            .and_then(|v| {
                f(&v)?;
                v.close()
            })
            .map_err(|e| self.error(e))?;
        self.bytes[FS_OFFSET..FS_END].copy_from_slice(&region);
        Ok(())
    }

    /// Everything under `path` (`""` or `"/"`: the whole volume), recursively, sorted
    /// by path; directories with size 0. A file's path lists that file alone.
    pub fn list(&self, path: &str) -> Result<Vec<FsEntry>, FsImageError> {
        self.read(|v| v.list(volume_path(path)))
    }

    /// Every regular file with its contents, sorted by path.
    pub fn files(&self) -> Result<Vec<(String, Vec<u8>)>, FsImageError> {
        self.read(|v| v.files())
    }

    /// The contents of the file at `path`.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, FsImageError> {
        self.read(|v| v.read(volume_path(path)))
    }

    /// Writes `data` as the file at `path` (replacing one of that name), creating the
    /// directories on the way. Timestamps are the fixed 2000-01-01 00:00:00.
    pub fn put(&mut self, path: &str, data: &[u8]) -> Result<(), FsImageError> {
        self.modify(|v| v.write(volume_path(path), data))
    }

    /// Removes the file or empty directory at `path`; with `recursive`, a directory and
    /// everything in it.
    pub fn remove(&mut self, path: &str, recursive: bool) -> Result<(), FsImageError> {
        self.modify(|v| v.remove(volume_path(path), recursive))
    }

    /// Makes the directory `path` and its missing parents (an existing directory is
    /// fine).
    pub fn mkdir(&mut self, path: &str) -> Result<(), FsImageError> {
        self.modify(|v| v.mkdir(volume_path(path)))
    }

    /// The files and directories of the volume, for [`crate::changes`].
    pub fn tree(&self) -> Result<crate::Tree, FsImageError> {
        self.read(|v| {
            let mut tree = crate::Tree::new();
            for e in v.list("")? {
                if e.is_dir {
                    tree.insert(e.path, crate::Node::Dir);
                }
            }
            for (path, data) in v.files()? {
                tree.insert(path, crate::Node::File(data));
            }
            Ok(tree)
        })
    }
}

/// The file a chain of symbolic links at `path` finally names (`path` itself when it is
/// not a link); the last target need not exist yet.
pub(crate) fn resolve_links(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => match fs::read_link(&p) {
                Ok(t) => {
                    p = match p.parent() {
                        Some(dir) if t.is_relative() => dir.join(t),
                        _ => t,
                    }
                }
                Err(_) => return p,
            },
            _ => return p,
        }
    }
    p
}

/// Writes `bytes` to `path` so that the file is at every moment either its old or its
/// new whole contents: into a temporary file beside the file `path` finally names (a
/// symbolic link stays a link, and its target gets the new contents), with the old
/// file's permissions, synced, then renamed over it.
pub fn save_atomically(path: &Path, bytes: &[u8]) -> Result<(), FsImageError> {
    let target = resolve_links(path);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let tmp = target.with_file_name(format!(".{name}.pybsim-{}.tmp", std::process::id()));
    let perms = fs::metadata(&target).map(|m| m.permissions()).ok();
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if let Some(p) = perms {
            f.set_permissions(p)?;
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &target)
    })();
    written.map_err(|source| {
        let _ = fs::remove_file(&tmp);
        FsImageError::Save {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "pybsim-fsimage-flash-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn layout_constants() {
        assert_eq!(FS_OFFSET, 0x4000);
        assert_eq!(FS_END, 0x20000);
        assert_eq!(FS_END - FS_OFFSET, 112 << 10);
    }

    #[test]
    fn a_fresh_image_is_erased_flash_around_the_default_filesystem() {
        let img = FlashImage::fresh("new").unwrap();
        assert_eq!(img.bytes().len(), FLASH_SIZE);
        assert!(img.bytes()[..FS_OFFSET].iter().all(|&b| b == 0xFF));
        assert!(img.bytes()[FS_END..].iter().all(|&b| b == 0xFF));
        assert_eq!(
            img.fs_region(),
            &image_with_files(&DEFAULT_FILES).unwrap()[..]
        );
        let files = img.files().unwrap();
        assert_eq!(
            files,
            DEFAULT_FILES
                .iter()
                .map(|(n, d)| (n.to_string(), d.to_vec()))
                .collect::<Vec<_>>()
        );
        assert_eq!(crate::list_files(img.fs_region()).unwrap(), files);
    }

    #[test]
    fn put_get_list_mkdir_remove() {
        let mut img = FlashImage::fresh("t.img").unwrap();
        img.put("/flash/lib/pkg/mod.py", b"X = 1\n").unwrap();
        img.put("lib/big.bin", &vec![7u8; 5000]).unwrap();
        img.mkdir("/empty/deeper").unwrap();
        img.mkdir("empty").unwrap(); // exists: fine
        assert_eq!(img.get("lib/pkg/mod.py").unwrap(), b"X = 1\n");
        assert_eq!(
            img.get("/LIB/PKG/MOD.PY").unwrap(),
            b"X = 1\n",
            "FAT ignores case"
        );
        let list = img.list("").unwrap();
        let shown: Vec<(&str, u64, bool)> = list
            .iter()
            .map(|e| (e.path.as_str(), e.size, e.is_dir))
            .collect();
        assert_eq!(
            shown,
            [
                ("boot.py", DEFAULT_FILES[0].1.len() as u64, false),
                ("empty", 0, true),
                ("empty/deeper", 0, true),
                ("lib", 0, true),
                ("lib/big.bin", 5000, false),
                ("lib/pkg", 0, true),
                ("lib/pkg/mod.py", 6, false),
                ("main.py", DEFAULT_FILES[1].1.len() as u64, false),
            ]
        );
        assert_eq!(img.list("lib/pkg").unwrap().len(), 1);
        assert_eq!(img.list("/flash/main.py").unwrap()[0].path, "main.py");
        // Replacing a file keeps one entry with the new contents.
        img.put("main.py", b"print(2)\n").unwrap();
        assert_eq!(img.get("main.py").unwrap(), b"print(2)\n");
        assert_eq!(img.list("").unwrap().len(), 8);

        let e = img.remove("lib", false).unwrap_err();
        assert!(matches!(e, FsImageError::NotEmpty { .. }), "{e}");
        assert_eq!(e.to_string(), "t.img: lib: directory not empty");
        img.remove("lib", true).unwrap();
        img.remove("/flash/empty/deeper", false).unwrap();
        img.remove("EMPTY", false).unwrap();
        img.remove("boot.py", false).unwrap();
        let left: Vec<String> = img.list("").unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(left, ["main.py"]);
        // Freed clusters are free again: the data area takes a file as big as before.
        img.put("fill.bin", &vec![1u8; 90_000]).unwrap();
    }

    #[test]
    fn errors_name_the_image_and_the_path() {
        let mut img = FlashImage::fresh("f.img").unwrap();
        let msg = |e: FsImageError| e.to_string();
        assert_eq!(
            msg(img.get("nope.py").unwrap_err()),
            "f.img: nope.py: no such file or directory"
        );
        assert!(img.get("nope.py").unwrap_err().is_missing());
        assert_eq!(
            msg(img.get("main.py/x").unwrap_err()),
            "f.img: main.py: not a directory"
        );
        img.mkdir("d").unwrap();
        assert_eq!(msg(img.get("d").unwrap_err()), "f.img: d: is a directory");
        assert_eq!(
            msg(img.put("d", b"").unwrap_err()),
            "f.img: d: is a directory"
        );
        assert_eq!(
            msg(img.mkdir("main.py/sub").unwrap_err()),
            "f.img: main.py: not a directory"
        );
        assert!(msg(img.put("a?b", b"").unwrap_err()).starts_with("f.img: a?b: the character"));
        assert!(msg(img.put("../x", b"").unwrap_err()).contains("not allowed"));
        assert_eq!(
            msg(img.remove("/", true).unwrap_err()),
            "f.img: /: the root directory cannot be removed"
        );
        let before = img.bytes().to_vec();
        let e = img.put("huge.bin", &vec![0u8; 200_000]).unwrap_err();
        assert!(matches!(e, FsImageError::Full { .. }), "{e}");
        assert_eq!(msg(e), "f.img: huge.bin: the filesystem is full");
        assert_eq!(img.bytes(), &before[..], "a failed put changes nothing");
    }

    #[test]
    fn the_fixed_root_directory_fills_up() {
        let mut img = FlashImage::fresh("r.img").unwrap();
        let mut failed = None;
        for i in 0..600 {
            if let Err(e) = img.put(&format!("F{i}.TXT"), b"") {
                failed = Some((i, e));
                break;
            }
        }
        // fatfs gives every name a long-name entry too: two entries a file.
        let (i, e) = failed.expect("512 root entries run out");
        assert_eq!(
            i, 253,
            "label, boot.py, main.py and 253 files: 511 of 512 entries"
        );
        assert!(e.to_string().contains("the root directory is full"), "{e}");
    }

    #[test]
    fn erased_and_littlefs_regions_are_named() {
        let mut bytes = FlashImage::fresh("x").unwrap().into_bytes();
        bytes[FS_OFFSET..FS_END].fill(0xFF);
        let img = FlashImage::from_bytes(Path::new("e.img"), bytes.clone()).unwrap();
        let e = img.list("").unwrap_err().to_string();
        assert!(
            e.starts_with("e.img: filesystem region (flash 0x04000..0x20000)"),
            "{e}"
        );
        assert!(e.contains("erased"), "{e}");
        bytes[FS_OFFSET + 8..FS_OFFSET + 16].copy_from_slice(b"littlefs");
        let img = FlashImage::from_bytes(Path::new("l.img"), bytes).unwrap();
        assert!(img.files().unwrap_err().to_string().contains("littlefs"));
    }

    #[test]
    fn load_checks_the_size_and_save_is_atomic_and_follows_links() {
        let d = scratch("save");
        let p = d.join("flash.img");
        let (img, created) = FlashImage::load_or_fresh(&p).unwrap();
        assert!(created);
        img.save(&p).unwrap();
        let (again, created) = FlashImage::load_or_fresh(&p).unwrap();
        assert!(!created);
        assert_eq!(again.bytes(), img.bytes());
        assert_eq!(again.name(), p.display().to_string());

        fs::write(d.join("short.img"), [0u8; 1000]).unwrap();
        let e = FlashImage::load(&d.join("short.img")).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("short.img: 1000 bytes; a flash image is exactly 1048576 bytes (1 MiB)"),
            "{e}"
        );
        let e = FlashImage::load(&d.join("missing.img")).unwrap_err();
        assert!(e.is_missing(), "{e}");
        assert!(e.to_string().contains("missing.img"));

        #[cfg(unix)]
        {
            use std::os::unix::fs::{symlink, PermissionsExt};
            fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
            let link = d.join("link.img");
            symlink("flash.img", &link).unwrap();
            let mut img = FlashImage::load(&link).unwrap();
            img.put("new.py", b"1").unwrap();
            img.save(&link).unwrap();
            assert!(fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o640
            );
            assert_eq!(FlashImage::load(&p).unwrap().get("new.py").unwrap(), b"1");
            // A link to a file not made yet: the file is made at the link's target.
            symlink("later.img", d.join("dangling.img")).unwrap();
            img.save(&d.join("dangling.img")).unwrap();
            assert!(d.join("later.img").is_file());
        }
        let leftovers: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        // A directory that cannot be written: the error names the file.
        let e = save_atomically(&d.join("no/such/dir/f.img"), b"x").unwrap_err();
        assert!(e.to_string().contains("f.img: cannot save"), "{e}");
    }
}
