//! A small read-only FAT12/FAT16 reader, careful with damaged images: every
//! inconsistency becomes a [`FsImageError::BadImage`] naming where it was found.

use std::collections::HashSet;

use crate::FsImageError;

const DIR_ENTRY: usize = 32;
const ATTR_VOLUME: u8 = 0x08;
const ATTR_DIR: u8 = 0x10;
const ATTR_LFN: u8 = 0x0F;
const MAX_DEPTH: usize = 64;

fn bad(what: impl Into<String>) -> FsImageError {
    FsImageError::BadImage { what: what.into() }
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

struct Volume<'a> {
    image: &'a [u8],
    fat12: bool,
    sector_size: usize,
    cluster_size: usize,
    fat_base: usize,
    root_base: usize,
    root_entries: usize,
    data_base: usize,
    clusters: u32,
}

struct Entry {
    name: String,
    is_dir: bool,
    first_cluster: u32,
    size: u32,
}

impl<'a> Volume<'a> {
    /// Checks the boot sector as FatFs' `find_volume` does.
    fn open(image: &'a [u8]) -> Result<Self, FsImageError> {
        let bs = &image[..512];
        if le16(bs, 510) != 0xAA55 {
            return Err(bad("boot sector: no 0x55AA signature, not a FAT volume"));
        }
        let sector_size = usize::from(le16(bs, 11));
        if sector_size != 512 {
            return Err(bad(format!(
                "boot sector: {sector_size} bytes per sector, expected 512"
            )));
        }
        let spc = usize::from(bs[13]);
        if spc == 0 || !spc.is_power_of_two() {
            return Err(bad(format!(
                "boot sector: {spc} sectors per cluster is not a power of two"
            )));
        }
        let reserved = usize::from(le16(bs, 14));
        if reserved == 0 {
            return Err(bad("boot sector: no reserved sectors"));
        }
        let fats = usize::from(bs[16]);
        if fats != 1 && fats != 2 {
            return Err(bad(format!("boot sector: {fats} FATs, expected 1 or 2")));
        }
        let root_entries = usize::from(le16(bs, 17));
        if root_entries == 0 || root_entries % (sector_size / DIR_ENTRY) != 0 {
            return Err(bad(format!(
                "boot sector: {root_entries} root directory entries (FAT32 or damaged)"
            )));
        }
        let mut total = u32::from(le16(bs, 19)) as usize;
        if total == 0 {
            total = le32(bs, 32) as usize;
        }
        if total > image.len() / sector_size {
            return Err(bad(format!(
                "boot sector: {total} sectors, more than the {} in the image",
                image.len() / sector_size
            )));
        }
        let fat_size = usize::from(le16(bs, 22));
        let root_sectors = root_entries * DIR_ENTRY / sector_size;
        let system = reserved + fat_size * fats + root_sectors;
        if fat_size == 0 || total <= system {
            return Err(bad(
                "boot sector: the FAT and root directory leave no data area",
            ));
        }
        let clusters = ((total - system) / spc) as u32;
        let fat12 = clusters <= 0xFF5;
        if clusters > 0xFFF5 {
            return Err(bad("boot sector: too many clusters for FAT12/FAT16"));
        }
        let entries = clusters as usize + 2;
        let needed = if fat12 {
            entries * 3 / 2 + (entries & 1)
        } else {
            entries * 2
        };
        if fat_size * sector_size < needed {
            return Err(bad("boot sector: the FAT is too small for the volume"));
        }
        Ok(Volume {
            image,
            fat12,
            sector_size,
            cluster_size: spc * sector_size,
            fat_base: reserved * sector_size,
            root_base: (reserved + fat_size * fats) * sector_size,
            root_entries,
            data_base: system * sector_size,
            clusters,
        })
    }

    fn fat_entry(&self, cluster: u32) -> u32 {
        let n = cluster as usize;
        if self.fat12 {
            let v = u32::from(le16(self.image, self.fat_base + n + n / 2));
            if n & 1 == 1 {
                v >> 4
            } else {
                v & 0xFFF
            }
        } else {
            u32::from(le16(self.image, self.fat_base + 2 * n))
        }
    }

    fn end_of_chain(&self) -> u32 {
        if self.fat12 {
            0xFF8
        } else {
            0xFFF8
        }
    }

    /// The clusters of the chain starting at `first`, checked for range and loops.
    fn chain(&self, first: u32, what: &str) -> Result<Vec<u32>, FsImageError> {
        let mut out = Vec::new();
        let mut c = first;
        loop {
            if c < 2 || c >= self.clusters + 2 {
                return Err(bad(format!("{what}: cluster chain points to cluster {c}")));
            }
            if out.len() as u32 >= self.clusters {
                return Err(bad(format!("{what}: cluster chain loops")));
            }
            out.push(c);
            let next = self.fat_entry(c);
            if next >= self.end_of_chain() {
                return Ok(out);
            }
            c = next;
        }
    }

    fn cluster_bytes(&self, c: u32) -> &'a [u8] {
        let start = self.data_base + (c as usize - 2) * self.cluster_size;
        &self.image[start..start + self.cluster_size]
    }

    fn read_chain(&self, first: u32, what: &str) -> Result<Vec<u8>, FsImageError> {
        let mut out = Vec::new();
        for c in self.chain(first, what)? {
            out.extend_from_slice(self.cluster_bytes(c));
        }
        Ok(out)
    }

    fn read_file(&self, e: &Entry, path: &str) -> Result<Vec<u8>, FsImageError> {
        let size = e.size as usize;
        if size == 0 {
            return Ok(Vec::new());
        }
        if e.first_cluster == 0 {
            return Err(bad(format!(
                "{path}: {size} bytes long but has no clusters"
            )));
        }
        let mut data = self.read_chain(e.first_cluster, path)?;
        if data.len() < size {
            return Err(bad(format!(
                "{path}: {size} bytes long but its clusters hold only {}",
                data.len()
            )));
        }
        data.truncate(size);
        Ok(data)
    }

    fn root(&self) -> &'a [u8] {
        let len = self.root_entries * DIR_ENTRY;
        &self.image[self.root_base..self.root_base + len]
    }

    fn entries(&self, raw: &[u8], where_: &str) -> Result<Vec<Entry>, FsImageError> {
        let mut out = Vec::new();
        let mut lfn = LongName::default();
        for e in raw.chunks_exact(DIR_ENTRY) {
            match e[0] {
                0 => break,
                0xE5 => {
                    lfn = LongName::default();
                    continue;
                }
                _ => {}
            }
            let attr = e[11];
            if attr & 0x3F == ATTR_LFN {
                lfn.add(e);
                continue;
            }
            let name = lfn.take(e).unwrap_or_else(|| short_name(e));
            if attr & ATTR_VOLUME != 0 || name == "." || name == ".." {
                continue;
            }
            if name.is_empty() || name.contains(['/', '\\', '\0']) {
                return Err(bad(format!("{where_}: directory entry named {name:?}")));
            }
            out.push(Entry {
                name,
                is_dir: attr & ATTR_DIR != 0,
                first_cluster: u32::from(le16(e, 26)),
                size: le32(e, 28),
            });
        }
        Ok(out)
    }

    fn walk(
        &self,
        raw: &[u8],
        prefix: &str,
        depth: usize,
        seen: &mut HashSet<u32>,
        out: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<(), FsImageError> {
        let where_ = if prefix.is_empty() { "/" } else { prefix };
        if depth > MAX_DEPTH {
            return Err(bad(format!("{where_}: directories nested too deep")));
        }
        for e in self.entries(raw, where_)? {
            let path = if prefix.is_empty() {
                e.name.clone()
            } else {
                format!("{prefix}/{}", e.name)
            };
            if e.is_dir {
                if e.first_cluster == 0 {
                    return Err(bad(format!("{path}: directory has no clusters")));
                }
                if !seen.insert(e.first_cluster) {
                    return Err(bad(format!("{path}: directory loop")));
                }
                let sub = self.read_chain(e.first_cluster, &path)?;
                self.walk(&sub, &path, depth + 1, seen, out)?;
            } else {
                let data = self.read_file(&e, &path)?;
                out.push((path, data));
            }
        }
        Ok(())
    }
}

/// Collects the parts of a long file name (VFAT) that precede a short entry.
#[derive(Default)]
struct LongName {
    parts: Vec<Option<[u16; 13]>>,
    checksum: u8,
}

impl LongName {
    fn add(&mut self, e: &[u8]) {
        let ord = usize::from(e[0] & 0x3F);
        if e[0] & 0x40 != 0 {
            self.parts = vec![None; ord];
            self.checksum = e[13];
        }
        if ord == 0 || ord > self.parts.len() || e[13] != self.checksum {
            self.parts.clear();
            return;
        }
        let mut units = [0u16; 13];
        let offsets = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        for (u, off) in units.iter_mut().zip(offsets) {
            *u = le16(e, off);
        }
        self.parts[ord - 1] = Some(units);
    }

    /// The long name for short entry `e`, if a complete one with the right checksum
    /// was collected; resets the collector either way.
    fn take(&mut self, e: &[u8]) -> Option<String> {
        let parts = std::mem::take(&mut self.parts);
        if parts.is_empty() || lfn_checksum(&e[..11]) != self.checksum {
            return None;
        }
        let mut units = Vec::new();
        for p in parts {
            units.extend_from_slice(&p?);
        }
        let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
        Some(String::from_utf16_lossy(&units[..end]))
    }
}

fn lfn_checksum(short: &[u8]) -> u8 {
    short
        .iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// The 8.3 name, honouring the lower-case flags Windows NT (and FatFs) set.
fn short_name(e: &[u8]) -> String {
    let decode = |bytes: &[u8], lower: bool| -> String {
        let s: String = bytes
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>()
            .trim_end_matches(' ')
            .to_string();
        if lower {
            s.to_ascii_lowercase()
        } else {
            s
        }
    };
    let mut base_bytes = [0u8; 8];
    base_bytes.copy_from_slice(&e[..8]);
    if base_bytes[0] == 0x05 {
        base_bytes[0] = 0xE5;
    }
    let base = decode(&base_bytes, e[12] & 0x08 != 0);
    let ext = decode(&e[8..11], e[12] & 0x10 != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

pub(crate) fn list_files(image: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FsImageError> {
    let vol = Volume::open(image)?;
    debug_assert_eq!(vol.sector_size, 512);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    vol.walk(vol.root(), "", 0, &mut seen, &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
