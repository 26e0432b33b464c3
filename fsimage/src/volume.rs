//! A FAT volume read and written through the `fatfs` crate, made safe for damaged images.
//!
//! `fatfs` trusts what it reads: a boot sector with wild numbers, a FAT entry or a
//! directory entry naming a cluster outside the volume, or a cluster chain that loops
//! can make it overflow (a panic), read past the image or walk forever. So before a
//! volume is mounted, [`vet`] checks
//! - the boot sector, as FatFs' `find_volume` does, and the few things more that
//!   `fatfs`' own arithmetic needs;
//! - every entry of the FAT: free, bad, end of chain or a data cluster of the volume;
//! - every directory entry, walking the directory tree in the raw entries: its first
//!   cluster is a data cluster (a directory's cannot be "none"), and no directory or
//!   directory chain loops.
//!
//! That is all it reads itself: names, files and directories are read and written by
//! `fatfs`. While a volume is mounted, the storage sits behind a [`Guard`]: a read or
//! write past the end of the volume is an error, and so is reading more than eight
//! times the volume's size in one operation (a second line against loops). Walks stop
//! at [`MAX_DEPTH`] levels, and a file whose clusters hold fewer bytes than its size is
//! an error rather than a short read. Every such problem is a [`VolError::Corrupt`]
//! saying what was found where.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;

use fatfs::{Dir, DirEntry, FileSystem};

use crate::{check_name, fs_options};

/// Bytes per sector: MicroPython builds FatFs with 512-byte sectors only.
const SECTOR: u64 = 512;
/// Deepest directory nesting a walk follows.
pub(crate) const MAX_DEPTH: usize = 64;

/// The FAT variant, decided by the cluster count as `fatfs` decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Fat12,
    Fat16,
    Fat32,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Fat12 => "FAT12",
            Kind::Fat16 => "FAT16",
            Kind::Fat32 => "FAT32",
        })
    }
}

/// The layout of a vetted volume.
#[derive(Clone, Debug)]
pub(crate) struct Geometry {
    pub kind: Kind,
    /// Data clusters (numbered 2 ..= clusters + 1).
    pub clusters: u32,
    pub cluster_bytes: u64,
    /// Bytes the volume covers (its sector count times 512).
    pub volume_bytes: u64,
    /// Byte offset of the FAT that is read (the first, or FAT32's active one).
    pub fat_offset: u64,
    /// Where the root directory is: a fixed region (FAT12/16) or a cluster (FAT32).
    pub root: Root,
    /// Byte offset of cluster 2.
    pub data_offset: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Root {
    Region { offset: u64, bytes: u64 },
    Cluster(u32),
}

impl Geometry {
    /// Bytes available for files and directories.
    pub fn data_bytes(&self) -> u64 {
        u64::from(self.clusters) * self.cluster_bytes
    }
}

/// What went wrong with a volume operation. Paths are inside the volume, `/`-separated,
/// relative to its root.
#[derive(Debug)]
pub(crate) enum VolError {
    /// The volume is damaged (or not a FAT volume at all).
    Corrupt(String),
    NotFound(String),
    NotADirectory(String),
    IsADirectory(String),
    NotEmpty(String),
    /// No free cluster, or no free entry in a FAT12/16 root directory, was left for
    /// `path`.
    Full {
        path: String,
        what: &'static str,
    },
    BadPath {
        path: String,
        reason: String,
    },
    /// Reading or writing the storage itself failed.
    Io(io::Error),
}

impl fmt::Display for VolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VolError::Corrupt(what) => write!(f, "damaged FAT volume: {what}"),
            VolError::NotFound(p) => write!(f, "{p}: no such file or directory"),
            VolError::NotADirectory(p) => write!(f, "{p}: not a directory"),
            VolError::IsADirectory(p) => write!(f, "{p}: is a directory"),
            VolError::NotEmpty(p) => write!(f, "{p}: directory not empty"),
            VolError::Full { path, what } => write!(f, "{path}: {what}"),
            VolError::BadPath { path, reason } => write!(f, "{path}: {reason}"),
            VolError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn corrupt(what: impl Into<String>) -> VolError {
    VolError::Corrupt(what.into())
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn read_at<T: Read + Seek>(disk: &mut T, off: u64, buf: &mut [u8]) -> Result<(), VolError> {
    disk.seek(SeekFrom::Start(off)).map_err(VolError::Io)?;
    disk.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            corrupt(format!(
                "the image ends before byte {}",
                off + buf.len() as u64
            ))
        } else {
            VolError::Io(e)
        }
    })
}

/// Checks the boot sector and the FAT of the volume at the start of `disk` (`len` bytes
/// long) and returns its layout.
pub(crate) fn vet<T: Read + Seek>(disk: &mut T, len: u64) -> Result<Geometry, VolError> {
    if len < SECTOR {
        return Err(corrupt(format!(
            "the image is {len} bytes, less than one 512-byte sector"
        )));
    }
    let mut bs = [0u8; 512];
    read_at(disk, 0, &mut bs)?;
    if &bs[8..16] == b"littlefs" || &bs[..8] == b"littlefs" {
        return Err(corrupt(
            "this is a littlefs volume; only FAT volumes can be read",
        ));
    }
    if le16(&bs, 510) != 0xAA55 {
        let what = if bs.iter().all(|&b| b == 0xFF) {
            "boot sector: erased (all 0xFF), no filesystem was ever made here"
        } else if bs.iter().all(|&b| b == 0) {
            "boot sector: all zero, not a FAT volume"
        } else {
            "boot sector: no 0x55AA signature, not a FAT volume"
        };
        return Err(corrupt(what));
    }
    let bps = u64::from(le16(&bs, 11));
    if bps != SECTOR {
        return Err(corrupt(format!(
            "boot sector: {bps} bytes per sector; MicroPython's FatFs uses 512"
        )));
    }
    let spc = u64::from(bs[13]);
    if !spc.is_power_of_two() || spc > 128 {
        return Err(corrupt(format!(
            "boot sector: {spc} sectors per cluster (must be a power of two up to 128)"
        )));
    }
    let reserved = u64::from(le16(&bs, 14));
    if reserved == 0 {
        return Err(corrupt("boot sector: no reserved sectors"));
    }
    let fats = u64::from(bs[16]);
    if fats != 1 && fats != 2 {
        return Err(corrupt(format!(
            "boot sector: {fats} FATs (FatFs takes 1 or 2)"
        )));
    }
    let root_entries = u64::from(le16(&bs, 17));
    let total16 = u64::from(le16(&bs, 19));
    let total32 = u64::from(le32(&bs, 32));
    let spf16 = u64::from(le16(&bs, 22));
    let fat32_layout = spf16 == 0;
    if (total16 == 0) == (total32 == 0) {
        return Err(corrupt(
            "boot sector: the sector count must be in exactly one of its two fields",
        ));
    }
    let total = total16.max(total32);
    if total * SECTOR > len {
        return Err(corrupt(format!(
            "boot sector: {total} sectors, more than the {} in the image",
            len / SECTOR
        )));
    }
    let mut fat_index = 0;
    let mut root_cluster = 0;
    let spf = if fat32_layout {
        if root_entries != 0 || total16 != 0 {
            return Err(corrupt(
                "boot sector: a FAT32 volume with a FAT12/16 root directory or sector count",
            ));
        }
        let spf = u64::from(le32(&bs, 36));
        let flags = le16(&bs, 40);
        if le16(&bs, 42) != 0 {
            return Err(corrupt("boot sector: unknown FAT32 version"));
        }
        root_cluster = le32(&bs, 44);
        let fs_info = u64::from(le16(&bs, 48));
        let backup = u64::from(le16(&bs, 50));
        if fs_info == 0 || fs_info >= reserved || backup >= reserved {
            return Err(corrupt(
                "boot sector: the FAT32 FSInfo or backup boot sector is outside the reserved sectors",
            ));
        }
        if flags & 0x80 != 0 {
            fat_index = u64::from(flags & 0x0F);
            if fat_index >= fats {
                return Err(corrupt(format!(
                    "boot sector: active FAT {fat_index} of {fats}"
                )));
            }
        }
        spf
    } else {
        if root_entries == 0 || root_entries % (SECTOR / 32) != 0 {
            return Err(corrupt(format!(
                "boot sector: {root_entries} root directory entries (must fill whole sectors)"
            )));
        }
        spf16
    };
    if spf == 0 || spf >= 1 << 20 {
        return Err(corrupt(format!("boot sector: a FAT of {spf} sectors")));
    }
    let first_data = reserved + fats * spf + root_entries * 32 / SECTOR;
    if first_data >= total {
        return Err(corrupt(
            "boot sector: the FATs and root directory leave no data area",
        ));
    }
    let clusters = (total - first_data) / spc;
    // fatfs: FAT12 below 4085 clusters, FAT16 below 65525. FatFs counts the boundary
    // values themselves to the smaller type: a volume with exactly those counts would
    // be read differently by the two.
    let kind = match clusters {
        0 => return Err(corrupt("boot sector: no data clusters")),
        4085 | 65525 => {
            return Err(corrupt(format!(
                "boot sector: {clusters} clusters, a count FAT implementations disagree on"
            )))
        }
        1..=4084 => Kind::Fat12,
        4086..=65524 => Kind::Fat16,
        _ => Kind::Fat32,
    };
    if (kind == Kind::Fat32) != fat32_layout {
        return Err(corrupt(format!(
            "boot sector: {clusters} clusters make a {kind} volume, but the boot sector is laid out for {}",
            if fat32_layout { "FAT32" } else { "FAT12/16" }
        )));
    }
    if clusters > 0x0FFF_FFF5 {
        return Err(corrupt("boot sector: too many clusters"));
    }
    let entries = clusters + 2;
    let fat_needed = match kind {
        Kind::Fat12 => entries * 3 / 2 + (entries & 1),
        Kind::Fat16 => entries * 2,
        Kind::Fat32 => entries * 4,
    };
    if spf * SECTOR < fat_needed {
        return Err(corrupt(format!(
            "boot sector: a FAT of {spf} sectors is too small for {clusters} clusters"
        )));
    }
    if kind == Kind::Fat32 && !(2..entries).contains(&u64::from(root_cluster)) {
        return Err(corrupt(format!(
            "boot sector: the root directory starts at cluster {root_cluster}, outside the volume"
        )));
    }
    let geometry = Geometry {
        kind,
        clusters: clusters as u32,
        cluster_bytes: spc * SECTOR,
        volume_bytes: total * SECTOR,
        fat_offset: (reserved + fat_index * spf) * SECTOR,
        root: if kind == Kind::Fat32 {
            Root::Cluster(root_cluster)
        } else {
            Root::Region {
                offset: (reserved + fats * spf) * SECTOR,
                bytes: root_entries * 32,
            }
        },
        data_offset: first_data * SECTOR,
    };
    scan_fat(disk, &geometry)?;
    scan_dirs(disk, &geometry)?;
    Ok(geometry)
}

/// Checks that every FAT entry of a data cluster is free, bad, an end of chain or the
/// number of another data cluster.
fn scan_fat<T: Read + Seek>(disk: &mut T, g: &Geometry) -> Result<(), VolError> {
    let entries = u64::from(g.clusters) + 2;
    // Where entry c lies in the FAT, and how many bytes it is read from.
    let (place, width, bad): (fn(u64) -> u64, u64, u32) = match g.kind {
        Kind::Fat12 => (|c| c + c / 2, 2, 0xFF7),
        Kind::Fat16 => (|c| c * 2, 2, 0xFFF7),
        Kind::Fat32 => (|c| c * 4, 4, 0x0FFF_FFF7),
    };
    const BLOCK: u64 = 1 << 14;
    let mut buf = Vec::new();
    let mut first = 2;
    while first < entries {
        let end = (first + BLOCK).min(entries);
        let start = place(first);
        buf.resize((place(end - 1) + width - start) as usize, 0);
        read_at(disk, g.fat_offset + start, &mut buf)?;
        for c in first..end {
            let off = (place(c) - start) as usize;
            let value = match g.kind {
                Kind::Fat12 if c & 1 == 1 => u32::from(le16(&buf, off)) >> 4,
                Kind::Fat12 => u32::from(le16(&buf, off)) & 0xFFF,
                Kind::Fat16 => u32::from(le16(&buf, off)),
                Kind::Fat32 => le32(&buf, off) & 0x0FFF_FFFF,
            };
            if value != 0 && value < bad && !(2..entries).contains(&u64::from(value)) {
                return Err(corrupt(format!(
                    "FAT: cluster {c} links to cluster {value}, outside the volume's {} clusters",
                    g.clusters
                )));
            }
        }
        first = end;
    }
    Ok(())
}

/// The FAT entry of cluster `c` (a data cluster of a vetted volume).
fn fat_entry<T: Read + Seek>(disk: &mut T, g: &Geometry, c: u32) -> Result<u32, VolError> {
    let c = u64::from(c);
    let mut b = [0u8; 4];
    Ok(match g.kind {
        Kind::Fat12 => {
            read_at(disk, g.fat_offset + c + c / 2, &mut b[..2])?;
            let v = u32::from(le16(&b, 0));
            if c & 1 == 1 {
                v >> 4
            } else {
                v & 0xFFF
            }
        }
        Kind::Fat16 => {
            read_at(disk, g.fat_offset + c * 2, &mut b[..2])?;
            u32::from(le16(&b, 0))
        }
        Kind::Fat32 => {
            read_at(disk, g.fat_offset + c * 4, &mut b)?;
            le32(&b, 0) & 0x0FFF_FFFF
        }
    })
}

/// The bytes of the cluster chain starting at `first` (whose FAT entries [`scan_fat`]
/// has checked), refusing a chain that loops.
fn read_chain<T: Read + Seek>(
    disk: &mut T,
    g: &Geometry,
    first: u32,
    what: &str,
) -> Result<Vec<u8>, VolError> {
    let mut out = Vec::new();
    let mut c = first;
    for _ in 0..g.clusters {
        let start = out.len();
        out.resize(start + g.cluster_bytes as usize, 0);
        read_at(
            disk,
            g.data_offset + u64::from(c - 2) * g.cluster_bytes,
            &mut out[start..],
        )?;
        match fat_entry(disk, g, c)? {
            next if (2..g.clusters + 2).contains(&next) => c = next,
            _ => return Ok(out),
        }
    }
    Err(corrupt(format!("{what}: its cluster chain loops")))
}

/// Walks the directory tree in the raw directory entries and checks what `fatfs`
/// would take on trust: that every entry's first cluster is a data cluster of the
/// volume (or none, for a file), that a directory has one, and that directories and
/// their chains do not loop. The names are the entries' 8.3 names; the crate reads
/// the long ones.
fn scan_dirs<T: Read + Seek>(disk: &mut T, g: &Geometry) -> Result<(), VolError> {
    let root = match g.root {
        Root::Region { offset, bytes } => {
            let mut raw = vec![0u8; bytes as usize];
            read_at(disk, offset, &mut raw)?;
            raw
        }
        Root::Cluster(c) => read_chain(disk, g, c, "/")?,
    };
    let mut seen = std::collections::HashSet::new();
    if let Root::Cluster(c) = g.root {
        seen.insert(c);
    }
    let mut todo = vec![(root, String::new(), 0)];
    while let Some((raw, path, depth)) = todo.pop() {
        for e in raw.chunks_exact(32) {
            if e[0] == 0 {
                break;
            }
            let attr = e[11];
            if e[0] == 0xE5 || attr & 0x3F == 0x0F || attr & 0x08 != 0 || e[0] == b'.' {
                continue;
            }
            let base = String::from_utf8_lossy(&e[..8]).trim_end().to_string();
            let ext = String::from_utf8_lossy(&e[8..11]).trim_end().to_string();
            let name = if ext.is_empty() {
                base
            } else {
                format!("{base}.{ext}")
            };
            let full = if path.is_empty() {
                name
            } else {
                format!("{path}/{name}")
            };
            let hi = if g.kind == Kind::Fat32 {
                u32::from(le16(e, 20)) << 16
            } else {
                0
            };
            let cluster = hi | u32::from(le16(e, 26));
            let is_dir = attr & 0x10 != 0;
            if cluster == 0 && !is_dir {
                continue;
            }
            if !(2..g.clusters + 2).contains(&cluster) {
                return Err(corrupt(format!(
                    "{full}: its first cluster, {cluster}, is not one of the volume's (2-{})",
                    g.clusters + 1
                )));
            }
            if is_dir {
                if depth + 1 >= MAX_DEPTH {
                    return Err(corrupt(format!(
                        "{full}: directories nested more than {MAX_DEPTH} deep"
                    )));
                }
                if !seen.insert(cluster) {
                    return Err(corrupt(format!(
                        "{full}: a directory whose clusters another directory uses too (a loop?)"
                    )));
                }
                let sub = read_chain(disk, g, cluster, &full)?;
                todo.push((sub, full, depth + 1));
            }
        }
    }
    Ok(())
}

/// Why the guard refused an access.
#[derive(Debug)]
enum GuardError {
    PastEnd { offset: u64, end: u64 },
    Budget { limit: u64 },
    ReadOnly,
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::PastEnd { offset, end } => write!(
                f,
                "an access at byte {offset} is past the end of the volume ({end} bytes)"
            ),
            GuardError::Budget { limit } => write!(
                f,
                "one operation read more than {limit} bytes: a cluster chain or directory loops"
            ),
            GuardError::ReadOnly => f.write_str("the image is read-only here"),
        }
    }
}

impl std::error::Error for GuardError {}

fn guard_error(e: GuardError) -> io::Error {
    io::Error::other(e)
}

/// Storage that `fatfs` reads and writes: bounded to the volume, with a read budget.
pub(crate) struct Guard<T> {
    inner: T,
    len: u64,
    pos: u64,
    /// Bytes left to read in the current operation.
    budget: Rc<Cell<u64>>,
    limit: u64,
}

impl<T: Read + Seek> Read for Guard<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.len {
            return Err(guard_error(GuardError::PastEnd {
                offset: self.pos,
                end: self.len,
            }));
        }
        let left = self.budget.get();
        if left == 0 {
            return Err(guard_error(GuardError::Budget { limit: self.limit }));
        }
        let n = (buf.len() as u64).min(self.len - self.pos).min(left) as usize;
        self.inner.seek(SeekFrom::Start(self.pos))?;
        let got = self.inner.read(&mut buf[..n])?;
        self.pos += got as u64;
        self.budget.set(left - got as u64);
        Ok(got)
    }
}

impl<T: Write + Seek> Write for Guard<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos + buf.len() as u64 > self.len {
            return Err(guard_error(GuardError::PastEnd {
                offset: self.pos + buf.len() as u64,
                end: self.len,
            }));
        }
        self.inner.seek(SeekFrom::Start(self.pos))?;
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T> Seek for Guard<T> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the volume",
            )),
        }
    }
}

/// Read-only storage: writes fail. Listing and reading never write (accessed dates are
/// not updated), so a volume in a shared slice can be read through this.
pub(crate) struct ReadOnly<T>(pub T);

impl<T: Read> Read for ReadOnly<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<T> Write for ReadOnly<T> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(guard_error(GuardError::ReadOnly))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<T: Seek> Seek for ReadOnly<T> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

/// One entry of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsEntry {
    /// Path from the volume's root, `/` between components (`"lib/util.py"`).
    pub path: String,
    /// Bytes of a file; 0 for a directory.
    pub size: u64,
    pub is_dir: bool,
}

/// Splits a volume path into its components. `/` separates them; empty components
/// (leading, trailing or doubled slashes) are dropped. `.` and `..` are refused.
pub(crate) fn components(path: &str) -> Result<Vec<&str>, VolError> {
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" => {}
            "." | ".." => {
                return Err(VolError::BadPath {
                    path: path.to_string(),
                    reason: "\".\" and \"..\" are not allowed in image paths".into(),
                })
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(parts: &[&str]) -> String {
    if parts.is_empty() {
        "/".to_string()
    } else {
        parts.join("/")
    }
}

/// FAT compares names without regard to case (FatFs up-cases both, as does `fatfs`).
fn same_name(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_uppercase)
        .eq(b.chars().flat_map(char::to_uppercase))
}

/// A mounted, vetted FAT volume.
pub(crate) struct Volume<T: Read + Write + Seek> {
    fs: FileSystem<Guard<T>>,
    budget: Rc<Cell<u64>>,
    limit: u64,
    geometry: Geometry,
}

/// What [`Volume::walk`] calls for each entry: the listing entry, and a file's
/// directory entry.
type Visit<'f, 'a, T> =
    dyn FnMut(FsEntry, Option<&DirEntry<'a, Guard<T>>>) -> Result<(), VolError> + 'f;

enum Found<'a, T: Read + Write + Seek> {
    Root,
    Entry(DirEntry<'a, Guard<T>>),
}

impl<T: Read + Write + Seek> Volume<T> {
    /// Vets the volume at the start of `disk` (`len` bytes of storage) and mounts it.
    pub fn open(mut disk: T, len: u64) -> Result<Self, VolError> {
        let geometry = vet(&mut disk, len)?;
        let len = geometry.volume_bytes;
        let limit = 8 * len + (1 << 20);
        let budget = Rc::new(Cell::new(limit));
        disk.seek(SeekFrom::Start(0)).map_err(VolError::Io)?;
        let guard = Guard {
            inner: disk,
            len,
            pos: 0,
            budget: budget.clone(),
            limit,
        };
        let fs =
            FileSystem::new(guard, fs_options()).map_err(|e| classify(e, "/", Context::Read))?;
        Ok(Volume {
            fs,
            budget,
            limit,
            geometry,
        })
    }

    /// Starts an operation: a fresh read budget.
    fn begin(&self) {
        self.budget.set(self.limit);
    }

    /// Unmounts, writing what `fatfs` still holds (the FAT32 FSInfo sector, the
    /// volume's clean flag).
    pub fn close(self) -> Result<(), VolError> {
        self.begin();
        self.fs
            .unmount()
            .map_err(|e| classify(e, "/", Context::Write))
    }

    /// The entries of `dir`, without "." and "..".
    fn entries<'a>(
        &'a self,
        dir: &Dir<'a, Guard<T>>,
        where_: &str,
    ) -> Result<Vec<DirEntry<'a, Guard<T>>>, VolError> {
        let mut out = Vec::new();
        for e in dir.iter() {
            let e = e.map_err(|e| classify(e, where_, Context::Read))?;
            let name = e.file_name();
            if name == "." || name == ".." {
                continue;
            }
            if name.is_empty() || name.contains(['/', '\0']) {
                return Err(corrupt(format!(
                    "{where_}: a directory entry named {name:?}"
                )));
            }
            out.push(e);
        }
        Ok(out)
    }

    fn find<'a>(
        &'a self,
        dir: &Dir<'a, Guard<T>>,
        name: &str,
        where_: &str,
    ) -> Result<Option<DirEntry<'a, Guard<T>>>, VolError> {
        Ok(self
            .entries(dir, where_)?
            .into_iter()
            .find(|e| same_name(&e.file_name(), name) || same_name(&e.short_file_name(), name)))
    }

    /// The directory `parts` names.
    fn dir_at<'a>(&'a self, parts: &[&str]) -> Result<Dir<'a, Guard<T>>, VolError> {
        let mut dir = self.fs.root_dir();
        for (i, name) in parts.iter().enumerate() {
            let here = join(&parts[..i]);
            let there = join(&parts[..=i]);
            match self.find(&dir, name, &here)? {
                Some(e) if e.is_dir() => dir = e.to_dir(),
                Some(_) => return Err(VolError::NotADirectory(there)),
                None => return Err(VolError::NotFound(there)),
            }
        }
        Ok(dir)
    }

    fn lookup<'a>(&'a self, parts: &[&str]) -> Result<Found<'a, T>, VolError> {
        let Some((last, parents)) = parts.split_last() else {
            return Ok(Found::Root);
        };
        let dir = self.dir_at(parents)?;
        match self.find(&dir, last, &join(parents))? {
            Some(e) => Ok(Found::Entry(e)),
            None => Err(VolError::NotFound(join(parts))),
        }
    }

    /// Every file and directory under `path` (the root for `""`), depth first, sorted
    /// by path. `path` itself is not listed; a file's path lists just that file.
    pub fn list(&self, path: &str) -> Result<Vec<FsEntry>, VolError> {
        self.begin();
        let parts = components(path)?;
        let mut out = Vec::new();
        match self.lookup(&parts)? {
            Found::Root => self.walk(&self.fs.root_dir(), "", 0, &mut |e, _| {
                out.push(e);
                Ok(())
            })?,
            Found::Entry(e) if e.is_dir() => {
                let prefix = join(&parts);
                self.walk(&e.to_dir(), &prefix, parts.len(), &mut |e, _| {
                    out.push(e);
                    Ok(())
                })?
            }
            Found::Entry(e) => out.push(FsEntry {
                path: join(&parts),
                size: e.len(),
                is_dir: false,
            }),
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Every regular file with its contents, sorted by path.
    pub fn files(&self) -> Result<Vec<(String, Vec<u8>)>, VolError> {
        self.begin();
        let mut out = Vec::new();
        self.walk(&self.fs.root_dir(), "", 0, &mut |e, entry| {
            if let Some(entry) = entry {
                let data = self.read_entry(entry, &e.path)?;
                out.push((e.path, data));
            }
            Ok(())
        })?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Calls `f` for every entry under `dir`, with the directory entry of files.
    fn walk<'a>(
        &'a self,
        dir: &Dir<'a, Guard<T>>,
        prefix: &str,
        depth: usize,
        f: &mut Visit<'_, 'a, T>,
    ) -> Result<(), VolError> {
        let where_ = if prefix.is_empty() { "/" } else { prefix };
        if depth >= MAX_DEPTH {
            return Err(corrupt(format!(
                "{where_}: directories nested more than {MAX_DEPTH} deep (a directory loop?)"
            )));
        }
        for e in self.entries(dir, where_)? {
            let name = e.file_name();
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if e.is_dir() {
                f(
                    FsEntry {
                        path: path.clone(),
                        size: 0,
                        is_dir: true,
                    },
                    None,
                )?;
                self.walk(&e.to_dir(), &path, depth + 1, f)?;
            } else {
                let size = e.len();
                f(
                    FsEntry {
                        path,
                        size,
                        is_dir: false,
                    },
                    Some(&e),
                )?;
            }
        }
        Ok(())
    }

    fn read_entry(&self, e: &DirEntry<'_, Guard<T>>, path: &str) -> Result<Vec<u8>, VolError> {
        let size = e.len();
        if size > self.geometry.data_bytes() {
            return Err(corrupt(format!(
                "{path}: {size} bytes long, more than the volume's {} bytes of data space",
                self.geometry.data_bytes()
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        e.to_file()
            .read_to_end(&mut data)
            .map_err(|err| classify(err, path, Context::Read))?;
        if data.len() as u64 != size {
            return Err(corrupt(format!(
                "{path}: {size} bytes long but its clusters hold only {}",
                data.len()
            )));
        }
        Ok(data)
    }

    /// The contents of the file at `path`.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, VolError> {
        self.begin();
        let parts = components(path)?;
        match self.lookup(&parts)? {
            Found::Root => Err(VolError::IsADirectory("/".into())),
            Found::Entry(e) if e.is_dir() => Err(VolError::IsADirectory(join(&parts))),
            Found::Entry(e) => self.read_entry(&e, &join(&parts)),
        }
    }

    fn check_new_name(parts: &[&str]) -> Result<(), VolError> {
        for (i, name) in parts.iter().enumerate() {
            check_name(name).map_err(|reason| VolError::BadPath {
                path: join(&parts[..=i]),
                reason,
            })?;
        }
        Ok(())
    }

    /// Creates the directories `parts` names that do not exist yet; returns the last.
    fn make_dirs<'a>(&'a self, parts: &[&str]) -> Result<Dir<'a, Guard<T>>, VolError> {
        let mut dir = self.fs.root_dir();
        for (i, name) in parts.iter().enumerate() {
            let here = join(&parts[..i]);
            let there = join(&parts[..=i]);
            dir = match self.find(&dir, name, &here)? {
                Some(e) if e.is_dir() => e.to_dir(),
                Some(_) => return Err(VolError::NotADirectory(there)),
                None => {
                    check_name(name).map_err(|reason| VolError::BadPath {
                        path: there.clone(),
                        reason,
                    })?;
                    dir.create_dir(name)
                        .map_err(|e| self.write_failure(e, &there))?
                }
            };
        }
        Ok(dir)
    }

    /// Creates the directory `path` and any missing parents. An existing directory is
    /// fine; an existing file is not.
    pub fn mkdir(&self, path: &str) -> Result<(), VolError> {
        self.begin();
        let parts = components(path)?;
        self.make_dirs(&parts).map(|_| ())
    }

    /// Writes `data` as the file `path`, replacing a file of that name and creating
    /// missing parent directories.
    pub fn write(&self, path: &str, data: &[u8]) -> Result<(), VolError> {
        self.begin();
        let parts = components(path)?;
        let Some((name, parents)) = parts.split_last() else {
            return Err(VolError::IsADirectory("/".into()));
        };
        Self::check_new_name(&parts)?;
        let full = join(&parts);
        let dir = self.make_dirs(parents)?;
        if let Some(e) = self.find(&dir, name, &join(parents))? {
            if e.is_dir() {
                return Err(VolError::IsADirectory(full));
            }
        }
        let mut file = dir
            .create_file(name)
            .map_err(|e| self.write_failure(e, &full))?;
        file.truncate().map_err(|e| self.write_failure(e, &full))?;
        file.write_all(data)
            .map_err(|e| self.write_failure(e, &full))?;
        file.flush().map_err(|e| self.write_failure(e, &full))?;
        Ok(())
    }

    /// Removes the file or directory `path`; a directory with entries only if
    /// `recursive`.
    pub fn remove(&self, path: &str, recursive: bool) -> Result<(), VolError> {
        self.begin();
        let parts = components(path)?;
        let Some((name, parents)) = parts.split_last() else {
            return Err(VolError::BadPath {
                path: "/".into(),
                reason: "the root directory cannot be removed".into(),
            });
        };
        let dir = self.dir_at(parents)?;
        let full = join(&parts);
        let Some(e) = self.find(&dir, name, &join(parents))? else {
            return Err(VolError::NotFound(full));
        };
        if e.is_dir() {
            let sub = e.to_dir();
            let children = self.entries(&sub, &full)?;
            if !children.is_empty() && !recursive {
                return Err(VolError::NotEmpty(full));
            }
            self.remove_children(&sub, &full, parts.len())?;
        }
        // Remove by the entry's own (long or short) name: what the user typed may
        // differ in case.
        dir.remove(&e.file_name())
            .map_err(|err| self.write_failure(err, &full))
    }

    fn remove_children<'a>(
        &'a self,
        dir: &Dir<'a, Guard<T>>,
        path: &str,
        depth: usize,
    ) -> Result<(), VolError> {
        if depth >= MAX_DEPTH {
            return Err(corrupt(format!(
                "{path}: directories nested more than {MAX_DEPTH} deep (a directory loop?)"
            )));
        }
        for e in self.entries(dir, path)? {
            let name = e.file_name();
            let child = format!("{path}/{name}");
            if e.is_dir() {
                self.remove_children(&e.to_dir(), &child, depth + 1)?;
            }
            dir.remove(&name)
                .map_err(|err| self.write_failure(err, &child))?;
        }
        Ok(())
    }

    /// What a failed write means: the volume is full, the fixed-size root directory of
    /// a FAT12/16 volume is full (`fatfs` then runs off its end), or (the volume having
    /// been vetted) it is damaged in a way only the write found.
    fn write_failure(&self, e: io::Error, path: &str) -> VolError {
        if let Some(v) = guard_cause(&e) {
            return v;
        }
        self.begin();
        let no_cluster = self
            .fs
            .stats()
            .map(|s| s.free_clusters() == 0)
            .unwrap_or(false);
        let path = path.to_string();
        if no_cluster {
            VolError::Full {
                path,
                what: "the filesystem is full",
            }
        } else if matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::WriteZero
        ) {
            VolError::Full {
                path,
                what:
                    "the root directory is full (a FAT12/16 root holds a fixed number of entries)",
            }
        } else {
            classify(e, &path, Context::Write)
        }
    }
}

#[derive(Clone, Copy)]
enum Context {
    Read,
    Write,
}

fn guard_cause(e: &io::Error) -> Option<VolError> {
    let g = e.get_ref()?.downcast_ref::<GuardError>()?;
    Some(match g {
        GuardError::ReadOnly => VolError::Io(io::Error::new(
            io::ErrorKind::PermissionDenied,
            g.to_string(),
        )),
        _ => corrupt(g.to_string()),
    })
}

/// Turns an error `fatfs` returned for `path` into a [`VolError`]. On a vetted volume
/// an error while reading means the structures are damaged.
fn classify(e: io::Error, path: &str, ctx: Context) -> VolError {
    if let Some(v) = guard_cause(&e) {
        return v;
    }
    match (e.kind(), ctx) {
        (io::ErrorKind::NotFound, _) => VolError::NotFound(path.to_string()),
        (_, Context::Read)
        | (io::ErrorKind::UnexpectedEof, _)
        | (io::ErrorKind::InvalidInput, _) => corrupt(format!("{path}: {e}")),
        _ => VolError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::{empty_image, image_with_files, sd_image_with_files};

    fn guard(data: Vec<u8>, budget: u64) -> Guard<Cursor<Vec<u8>>> {
        let len = data.len() as u64;
        Guard {
            inner: Cursor::new(data),
            len,
            pos: 0,
            budget: Rc::new(Cell::new(budget)),
            limit: budget,
        }
    }

    #[test]
    fn the_guard_bounds_reads_and_writes_and_counts_bytes_read() {
        let mut g = guard(vec![7; 100], 150);
        let mut buf = [0u8; 64];
        assert_eq!(g.read(&mut buf).unwrap(), 64);
        assert_eq!(g.read(&mut buf).unwrap(), 36, "stops at the end");
        let e = g.read(&mut buf).unwrap_err();
        assert!(
            e.to_string()
                .contains("at byte 100 is past the end of the volume (100 bytes)"),
            "{e}"
        );
        g.seek(SeekFrom::Start(0)).unwrap();
        assert_eq!(
            g.read(&mut buf).unwrap(),
            50,
            "the last 50 bytes of the budget"
        );
        let e = g.read(&mut buf).unwrap_err();
        assert!(e.to_string().contains("read more than 150 bytes"), "{e}");
        assert!(matches!(
            classify(e, "x", Context::Read),
            VolError::Corrupt(_)
        ));
        g.budget.set(150);
        g.seek(SeekFrom::End(-10)).unwrap();
        assert!(g.write(&[1; 11]).is_err(), "a write past the end");
        assert_eq!(g.write(&[1; 10]).unwrap(), 10);
        assert!(g.seek(SeekFrom::Current(-200)).is_err());
        let mut ro = ReadOnly(Cursor::new(vec![0u8; 4]));
        assert!(ro.write(b"x").is_err());
        assert_eq!(ro.read(&mut buf).unwrap(), 4);
    }

    #[test]
    fn paths_split_into_components() {
        assert_eq!(components("").unwrap(), Vec::<&str>::new());
        assert_eq!(components("/").unwrap(), Vec::<&str>::new());
        assert_eq!(components("/a//b/c.py/").unwrap(), ["a", "b", "c.py"]);
        assert!(matches!(
            components("a/../b"),
            Err(VolError::BadPath { .. })
        ));
        assert!(components("./a").is_err());
        assert_eq!(join(&[]), "/");
        assert_eq!(join(&["a", "b"]), "a/b");
    }

    #[test]
    fn names_compare_without_case() {
        assert!(same_name("main.py", "MAIN.PY"));
        assert!(same_name("ä.py", "Ä.PY"));
        assert!(!same_name("a.py", "b.py"));
    }

    #[test]
    fn vet_reads_the_layout_of_each_fat_type() {
        let g = vet(
            &mut Cursor::new(empty_image().unwrap()),
            crate::IMAGE_SIZE as u64,
        )
        .unwrap();
        assert_eq!(g.kind, Kind::Fat12);
        assert_eq!(g.clusters, 190);
        assert_eq!(g.data_bytes(), crate::DATA_CAPACITY);
        assert_eq!(g.data_offset, 34 * 512);
        assert!(matches!(
            g.root,
            Root::Region {
                offset: 1024,
                bytes: 16384
            }
        ));
        let sd16 = sd_image_with_files(8 << 20, &[]).unwrap();
        assert_eq!(
            vet(&mut Cursor::new(&sd16), 8 << 20).unwrap().kind,
            Kind::Fat16
        );
        let sd32 = sd_image_with_files(600 << 20, &[("a", b"1")]).unwrap();
        let g = vet(&mut Cursor::new(&sd32), 600 << 20).unwrap();
        assert_eq!(g.kind, Kind::Fat32);
        assert!(matches!(g.root, Root::Cluster(2)));
        // The image may be longer than the volume, not shorter.
        assert!(vet(&mut Cursor::new(&sd16[..4 << 20]), 4 << 20).is_err());
        assert!(vet(&mut Cursor::new(vec![0u8; 100]), 100).is_err());
    }

    #[test]
    fn volume_operations_on_a_fat16_card() {
        let mut img = sd_image_with_files(8 << 20, &[("a.txt", b"abc")]).unwrap();
        let v = Volume::open(Cursor::new(&mut img[..]), 8 << 20).unwrap();
        v.write("x/y/z.bin", &[5; 10_000]).unwrap();
        v.mkdir("x/w").unwrap();
        assert_eq!(v.read("X/Y/Z.BIN").unwrap(), vec![5; 10_000]);
        let paths: Vec<String> = v.list("x").unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["x/w", "x/y", "x/y/z.bin"]);
        assert!(matches!(v.remove("x", false), Err(VolError::NotEmpty(p)) if p == "x"));
        v.remove("x", true).unwrap();
        assert!(matches!(v.read("x/y/z.bin"), Err(VolError::NotFound(p)) if p == "x"));
        v.close().unwrap();
        assert_eq!(
            crate::sd_list_files(&img).unwrap(),
            [("a.txt".to_string(), b"abc".to_vec())]
        );
    }

    #[test]
    fn a_read_only_volume_reads_and_refuses_changes() {
        let img = image_with_files(&[("m.py", b"1")]).unwrap();
        let v = Volume::open(ReadOnly(Cursor::new(&img[..])), img.len() as u64).unwrap();
        assert_eq!(v.read("m.py").unwrap(), b"1");
        assert!(matches!(v.write("n.py", b"2"), Err(VolError::Io(_))));
    }
}
