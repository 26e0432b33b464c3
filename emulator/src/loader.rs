//! Firmware loaders: ELF, raw BIN, Intel HEX and DfuSe (`.dfu`, ST UM0391).
//!
//! Every loader turns a file into an [`Image`]: a list of [`Segment`]s (bytes at an
//! address), an optional entry point and, for ELF, the [`Symbols`]. No loader panics on
//! any input: malformed files give a [`LoadError`] whose `Display` is one line naming the
//! file and the problem. [`Image::validate`] then checks the image against the machine's
//! memory ([`LoadRegion`]s, e.g. [`PYBOARD_REGIONS`]) and that a vector table sits at the
//! boot address.
//!
//! Memory classification: a [`LoadRegion`] whose name contains "flash" (any case) is flash;
//! one whose name contains "ram" or "ccm" is RAM.
//!
//! Bounds: [`load_file`] reads regular files only (a FIFO or a device is refused without
//! blocking) of at most [`max_file_bytes`] for their format (the Pyboard's flash is
//! 1 MiB: a raw image of at most 1 MiB, DfuSe 4 MiB, Intel HEX 8 MiB, ELF 64 MiB for its
//! debug information), checked from the file's size before it is read. The segments of
//! one file hold at most [`MAX_IMAGE_BYTES`], however many program headers reuse the
//! same bytes, and an ELF symbol table at most [`MAX_SYMBOLS`] symbols whose names cost
//! a bounded amount to read. Every loop runs at most in proportion to the input.
//!
//! A firmware argument names one or more files: [`firmware_parts`].

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where the STM32F405 boots from (main flash; aliased at 0x0 when BOOT0 = 0).
pub const BOOT_ADDRESS: u32 = 0x0800_0000;

/// Default base address of a raw `.bin` image.
pub const DEFAULT_BIN_BASE: u32 = BOOT_ADDRESS;

/// Largest raw (BIN) image read: the flash.
pub const MAX_BIN_BYTES: u64 = 1 << 20;
/// Largest DfuSe file read: the flash and RAM images with room for the per-element
/// headers of small elements.
pub const MAX_DFU_BYTES: u64 = 4 << 20;
/// Largest Intel HEX file read: 1 MiB of flash in 16-byte records is ~2.9 MiB of text;
/// this leaves room for shorter records and CRLF line ends.
pub const MAX_HEX_BYTES: u64 = 8 << 20;
/// Largest ELF file read: the loadable bytes are small, but debug information is not.
pub const MAX_ELF_BYTES: u64 = 64 << 20;
/// Most bytes the segments of one file may hold in all.
pub const MAX_IMAGE_BYTES: u64 = 16 << 20;
/// Most symbols an ELF symbol table may have.
pub const MAX_SYMBOLS: u64 = 1 << 20;

/// Largest file of `format` that [`load_file`] reads.
pub fn max_file_bytes(format: Format) -> u64 {
    match format {
        Format::Bin => MAX_BIN_BYTES,
        Format::Dfu => MAX_DFU_BYTES,
        Format::Hex => MAX_HEX_BYTES,
        Format::Elf => MAX_ELF_BYTES,
    }
}

fn format_words(format: Format) -> &'static str {
    match format {
        Format::Bin => "a raw (BIN) image (the size of the flash)",
        Format::Dfu => "a DfuSe file",
        Format::Hex => "an Intel HEX file",
        Format::Elf => "an ELF file",
    }
}

/// The loadable memory of the Pyboard's STM32F405RG.
pub const PYBOARD_REGIONS: &[LoadRegion] = &[
    LoadRegion {
        name: "flash",
        start: 0x0800_0000,
        len: 1024 * 1024,
    },
    LoadRegion {
        name: "SRAM",
        start: 0x2000_0000,
        len: 128 * 1024,
    },
    LoadRegion {
        name: "CCM RAM",
        start: 0x1000_0000,
        len: 64 * 1024,
    },
];

/// Bytes to place at an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub addr: u32,
    pub data: Vec<u8>,
}

impl Segment {
    /// One past the last byte (may be 2^32).
    pub fn end(&self) -> u64 {
        u64::from(self.addr) + self.data.len() as u64
    }
}

/// What a symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SymbolKind {
    /// Data (`STT_OBJECT`).
    Object,
    /// Code (`STT_FUNC`); the address has the Thumb bit cleared.
    Function,
}

/// A function or data object from an ELF symbol table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// Address (Thumb bit cleared for functions).
    pub addr: u32,
    /// Size in bytes (0 when the ELF did not say).
    pub size: u32,
    pub name: String,
    pub kind: SymbolKind,
}

impl Symbol {
    fn contains(&self, addr: u32) -> bool {
        let off = addr.wrapping_sub(self.addr);
        addr >= self.addr && (off < self.size || off == 0)
    }
}

/// A symbol table sorted by address, searchable by address and by name.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    list: Vec<Symbol>,
    by_name: HashMap<String, usize>,
    max_size: u32,
}

impl Symbols {
    /// Builds the table. Of several symbols with one name, `by_name` finds the lowest
    /// address.
    pub fn new(mut list: Vec<Symbol>) -> Self {
        list.sort_by(|a, b| {
            (a.addr, a.kind, &a.name, a.size).cmp(&(b.addr, b.kind, &b.name, b.size))
        });
        list.dedup();
        let mut by_name = HashMap::with_capacity(list.len());
        for (i, sym) in list.iter().enumerate() {
            by_name.entry(sym.name.clone()).or_insert(i);
        }
        let max_size = list.iter().map(|s| s.size).max().unwrap_or(0);
        Symbols {
            list,
            by_name,
            max_size,
        }
    }

    /// The symbol containing `addr` (`addr` in `[sym.addr, sym.addr + size)`, or equal to
    /// the address of a symbol of unknown size) and the offset into it. Of nested symbols
    /// the innermost (greatest start) wins; at one address a function beats an object.
    pub fn lookup(&self, addr: u32) -> Option<(&str, u32)> {
        let upto = self.list.partition_point(|s| s.addr <= addr);
        for sym in self.list[..upto].iter().rev() {
            let off = addr - sym.addr;
            if off > self.max_size {
                break;
            }
            if sym.contains(addr) {
                return Some((sym.name.as_str(), off));
            }
        }
        None
    }

    /// The symbol with this name.
    pub fn by_name(&self, name: &str) -> Option<&Symbol> {
        self.by_name.get(name).and_then(|&i| self.list.get(i))
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// All symbols, by address.
    pub fn iter(&self) -> std::slice::Iter<'_, Symbol> {
        self.list.iter()
    }
}

/// The file formats the loaders read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Elf,
    Bin,
    Hex,
    Dfu,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Elf => "ELF",
            Format::Bin => "BIN",
            Format::Hex => "Intel HEX",
            Format::Dfu => "DfuSe",
        })
    }
}

/// A loaded firmware image.
#[derive(Debug, Clone)]
pub struct Image {
    pub path: PathBuf,
    pub format: Format,
    /// Sorted by address, not overlapping.
    pub segments: Vec<Segment>,
    /// ELF `e_entry` (as written, Thumb bit included) or the Intel HEX start address.
    pub entry: Option<u32>,
    pub symbols: Symbols,
}

/// A range of the address space that images may load into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadRegion {
    pub name: &'static str,
    pub start: u32,
    pub len: u32,
}

impl LoadRegion {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        u64::from(self.start) + u64::from(self.len)
    }

    /// Whether the name says flash.
    pub fn is_flash(&self) -> bool {
        self.name.to_ascii_lowercase().contains("flash")
    }

    /// Whether the name says RAM ("ram" or "ccm").
    pub fn is_ram(&self) -> bool {
        let name = self.name.to_ascii_lowercase();
        name.contains("ram") || name.contains("ccm")
    }

    fn contains_range(&self, start: u64, end: u64) -> bool {
        start >= u64::from(self.start) && end <= self.end() && start <= end
    }
}

/// Why a firmware file could not be loaded. `Display` is one line: "file: problem".
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{file}: {error}")]
    Io { file: String, error: std::io::Error },
    /// Not a regular file, over the size limit, a symbolic link loop.
    #[error("{0}")]
    Input(pybsim_boards::input::InputError),
    /// A firmware argument's `@` base is not an address.
    #[error("{spec}: bad base address {base:?} for {file} ({reason}); write file@0xADDRESS, or \\@ for an @ in a file name")]
    BadBase {
        spec: String,
        file: String,
        base: String,
        reason: String,
    },
    #[error(
        "{file}: cannot tell the firmware format ({detail}); name it .elf, .bin, .hex or .dfu"
    )]
    UnknownFormat { file: String, detail: String },
    #[error("{file}: {detail}")]
    Elf { file: String, detail: String },
    #[error("{file}: {detail}")]
    Bin { file: String, detail: String },
    #[error("{file}: line {line}: {detail}")]
    Hex {
        file: String,
        line: usize,
        detail: String,
    },
    #[error("{file}: {detail}")]
    Dfu { file: String, detail: String },
    #[error("{file}: bad CRC (file says {stored:#010x}, computed {computed:#010x})")]
    DfuCrc {
        file: String,
        stored: u32,
        computed: u32,
    },
    #[error("{file}: no data to load")]
    Empty { file: String },
    #[error("{file}: segment {}..{} lies outside {regions}", addr(*.start), addr(*.end))]
    OutsideMemory {
        file: String,
        start: u64,
        end: u64,
        regions: String,
    },
    #[error("{file}: segment {}..{} overlaps segment {}..{}{}", addr(*.start), addr(*.end),
        addr(*.other_start), addr(*.other_end), other_file_suffix(.file, .other_file))]
    Overlap {
        file: String,
        start: u64,
        end: u64,
        other_file: String,
        other_start: u64,
        other_end: u64,
    },
    #[error("{file}: no vector table at {}: {detail}", addr(u64::from(*.at)))]
    NoVectorTable {
        file: String,
        at: u32,
        detail: String,
    },
    #[error("no firmware file given")]
    NoFiles,
}

impl From<pybsim_boards::input::InputError> for LoadError {
    fn from(e: pybsim_boards::input::InputError) -> Self {
        match e {
            pybsim_boards::input::InputError::Io { path, source } => LoadError::Io {
                file: file_name(&path),
                error: source,
            },
            other => LoadError::Input(other),
        }
    }
}

fn other_file_suffix(file: &str, other: &str) -> String {
    if file == other {
        String::new()
    } else {
        format!(" of {other}")
    }
}

/// `0x2002_0000`: an address with an underscore between the 16-bit halves.
pub fn addr(a: u64) -> String {
    if a > u64::from(u32::MAX) {
        format!(
            "0x{:x}_{:04X}_{:04X}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF
        )
    } else {
        format!("0x{:04X}_{:04X}", a >> 16, a & 0xFFFF)
    }
}

/// The file as errors name it: on one line, whatever characters its name has.
fn file_name(path: &Path) -> String {
    pybsim_boards::one_line_escaped(&path.display().to_string())
}

/// Reads a firmware file. The format comes from the content (ELF magic, DfuSe prefix),
/// else the extension (`.hex`/`.ihex`/`.ihx` Intel HEX, `.bin` raw, `.dfu`, `.elf`/`.axf`),
/// else a `bin_base` means raw BIN, else text starting with ':' means Intel HEX. A raw
/// image loads at `bin_base` or 0x0800_0000.
///
/// Only a regular file is read (a FIFO, a device or a directory is refused without
/// blocking), and only up to [`max_file_bytes`] of its format, checked from its size
/// first.
pub fn load_file(path: &Path, bin_base: Option<u32>) -> Result<Image, LoadError> {
    use std::io::Read;
    let mut input = pybsim_boards::input::open(path)?;
    // Enough of the file to tell its format.
    let mut bytes = Vec::new();
    (&mut input.file)
        .take(4096)
        .read_to_end(&mut bytes)
        .map_err(|error| LoadError::Io {
            file: file_name(path),
            error,
        })?;
    let format = detect_format(path, &bytes, bin_base)?;
    input.read_to(&mut bytes, format_words(format), max_file_bytes(format))?;
    load_bytes(path, &bytes, format, bin_base)
}

/// Loads several files into one image (e.g. two BIN parts at 0x0800_0000 and
/// 0x0802_0000), rejecting overlaps. Each entry is a path and its BIN base.
pub fn load_files(paths: &[(PathBuf, Option<u32>)]) -> Result<Image, LoadError> {
    let images = paths
        .iter()
        .map(|(path, base)| load_file(path, *base))
        .collect::<Result<Vec<_>, _>>()?;
    Image::merge(images)
}

/// BIN bases of the first and second unnamed-base `.bin` parts: MicroPython's
/// `firmware0.bin` (0x0800_0000) and `firmware1.bin` (0x0802_0000).
pub const BIN_PART_BASES: [u32; 2] = [0x0800_0000, 0x0802_0000];

/// The files a firmware argument names, each with its BIN base:
///
/// - A name that exists is one file, whatever characters it has (commas, `@`).
/// - Otherwise the argument is split at commas: `firmware0.bin,firmware1.bin` (raw parts
///   load at 0x0800_0000 and 0x0802_0000, in that order). `file@0xADDR` gives a part's
///   base explicitly (hex, `0x` and `_` optional); a base that is not a 32-bit hex
///   address is an error, not part of the file name.
/// - In a name, `\,` stands for a comma, `\@` for an `@` and `\\` for a backslash
///   (`fw\,v1.bin,more.bin`); any other backslash is itself.
pub fn firmware_parts(spec: &Path) -> Result<Vec<(PathBuf, Option<u32>)>, LoadError> {
    let bin_base = |p: &Path, i: usize| {
        let bin = p
            .extension()
            .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case("bin"));
        bin.then(|| BIN_PART_BASES.get(i).copied()).flatten()
    };
    if std::fs::symlink_metadata(spec).is_ok() {
        return Ok(vec![(spec.to_path_buf(), bin_base(spec, 0))]);
    }
    let text = spec.to_string_lossy();
    let mut parts = Vec::new();
    for raw in split_unescaped(&text, ',') {
        if raw.trim().is_empty() {
            continue;
        }
        let raw = raw.trim();
        let whole = PathBuf::from(unescape(raw));
        let i = parts.len();
        if std::fs::symlink_metadata(&whole).is_ok() {
            let base = bin_base(&whole, i);
            parts.push((whole, base));
            continue;
        }
        let pieces = split_unescaped(raw, '@');
        if pieces.len() == 1 {
            let base = bin_base(&whole, i);
            parts.push((whole, base));
            continue;
        }
        // The base follows the last unescaped `@`.
        let at = raw.len() - pieces[pieces.len() - 1].len() - 1;
        let (file, base_text) = (&raw[..at], &raw[at + 1..]);
        let file = unescape(file);
        let bad = |reason: &str| LoadError::BadBase {
            spec: pybsim_boards::one_line_escaped(&text),
            file: pybsim_boards::one_line_escaped(&file),
            base: base_text.to_string(),
            reason: reason.to_string(),
        };
        let digits = base_text
            .strip_prefix("0x")
            .or_else(|| base_text.strip_prefix("0X"))
            .unwrap_or(base_text);
        if digits.is_empty() {
            return Err(bad("no address after the @"));
        }
        if digits.starts_with('_') || digits.ends_with('_') {
            return Err(bad("misplaced _"));
        }
        let digits = digits.replace('_', "");
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("not a hexadecimal number"));
        }
        let base = u32::from_str_radix(&digits, 16).map_err(|_| bad("more than 32 bits"))?;
        if file.is_empty() {
            return Err(bad("no file name before the @"));
        }
        parts.push((PathBuf::from(file), Some(base)));
    }
    if parts.is_empty() {
        return Err(LoadError::NoFiles);
    }
    Ok(parts)
}

/// `text` split at each `sep` not escaped by a backslash (escapes kept).
fn split_unescaped(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&text[start..]);
    out
}

/// `\,` -> `,`, `\@` -> `@`, `\\` -> `\`; other backslashes stay.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n @ (',' | '@' | '\\')) = chars.peek() {
                out.push(n);
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Decides the format of a file from its content and name.
pub fn detect_format(
    path: &Path,
    bytes: &[u8],
    bin_base: Option<u32>,
) -> Result<Format, LoadError> {
    if bytes.starts_with(b"\x7fELF") {
        return Ok(Format::Elf);
    }
    if bytes.starts_with(b"DfuSe") {
        return Ok(Format::Dfu);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("hex" | "ihex" | "ihx") => return Ok(Format::Hex),
        Some("bin") => return Ok(Format::Bin),
        Some("dfu") => return Ok(Format::Dfu),
        Some("elf" | "axf") => return Ok(Format::Elf),
        _ => {}
    }
    if bin_base.is_some() {
        return Ok(Format::Bin);
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':') {
        return Ok(Format::Hex);
    }
    Err(LoadError::UnknownFormat {
        file: file_name(path),
        detail: if bytes.is_empty() {
            "empty file".to_string()
        } else {
            "no ELF or DfuSe signature, no known extension".to_string()
        },
    })
}

/// Parses bytes already read from `path` (used in messages) in a given format.
pub fn load_bytes(
    path: &Path,
    bytes: &[u8],
    format: Format,
    bin_base: Option<u32>,
) -> Result<Image, LoadError> {
    let file = file_name(path);
    let (segments, entry, symbols) = match format {
        Format::Elf => elf::parse(&file, bytes)?,
        Format::Bin => (
            bin(&file, bytes, bin_base.unwrap_or(DEFAULT_BIN_BASE))?,
            None,
            Symbols::default(),
        ),
        Format::Hex => {
            let (segments, entry) = hex::parse(&file, bytes)?;
            (segments, entry, Symbols::default())
        }
        Format::Dfu => (dfuse::parse(&file, bytes)?, None, Symbols::default()),
    };
    let segments = sort_and_check(&file, segments)?;
    if segments.is_empty() {
        return Err(LoadError::Empty { file });
    }
    Ok(Image {
        path: path.to_path_buf(),
        format,
        segments,
        entry,
        symbols,
    })
}

fn bin(file: &str, bytes: &[u8], base: u32) -> Result<Vec<Segment>, LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty {
            file: file.to_string(),
        });
    }
    let end = u64::from(base) + bytes.len() as u64;
    if end > 1 << 32 {
        return Err(LoadError::Bin {
            file: file.to_string(),
            detail: format!(
                "{} bytes at {} run past the end of the 32-bit address space",
                bytes.len(),
                addr(u64::from(base))
            ),
        });
    }
    Ok(vec![Segment {
        addr: base,
        data: bytes.to_vec(),
    }])
}

/// Sorts segments by address, drops empty ones and rejects overlaps.
fn sort_and_check(file: &str, mut segments: Vec<Segment>) -> Result<Vec<Segment>, LoadError> {
    segments.retain(|s| !s.data.is_empty());
    segments.sort_by_key(|s| s.addr);
    for pair in segments.windows(2) {
        if let [a, b] = pair {
            if u64::from(b.addr) < a.end() {
                return Err(LoadError::Overlap {
                    file: file.to_string(),
                    start: u64::from(b.addr),
                    end: b.end(),
                    other_file: file.to_string(),
                    other_start: u64::from(a.addr),
                    other_end: a.end(),
                });
            }
        }
    }
    Ok(segments)
}

/// Whether `a` lies in one of the Pyboard's RAM regions; returns that region.
fn pyboard_ram_at(a: u64) -> Option<&'static LoadRegion> {
    PYBOARD_REGIONS
        .iter()
        .find(|r| r.is_ram() && a >= u64::from(r.start) && a < r.end())
}

fn describe_regions(regions: &[LoadRegion]) -> String {
    match regions {
        [] => "all memory regions (none given)".to_string(),
        [one] => one.name.to_string(),
        [rest @ .., last] => {
            let names: Vec<&str> = rest.iter().map(|r| r.name).collect();
            format!("{} and {}", names.join(", "), last.name)
        }
    }
}

impl Image {
    /// Concatenates images (keeping the first one's path and format, the first entry
    /// point found, all symbols), rejecting overlapping segments.
    pub fn merge(images: Vec<Image>) -> Result<Image, LoadError> {
        let mut iter = images.into_iter();
        let Some(first) = iter.next() else {
            return Err(LoadError::NoFiles);
        };
        let mut tagged: Vec<(String, Segment)> = first
            .segments
            .iter()
            .map(|s| (file_name(&first.path), s.clone()))
            .collect();
        let mut symbols: Vec<Symbol> = first.symbols.iter().cloned().collect();
        let mut entry = first.entry;
        for image in iter {
            let name = file_name(&image.path);
            tagged.extend(image.segments.into_iter().map(|s| (name.clone(), s)));
            symbols.extend(image.symbols.list);
            entry = entry.or(image.entry);
        }
        tagged.sort_by_key(|(_, s)| s.addr);
        for pair in tagged.windows(2) {
            if let [(fa, a), (fb, b)] = pair {
                if u64::from(b.addr) < a.end() {
                    return Err(LoadError::Overlap {
                        file: fb.clone(),
                        start: u64::from(b.addr),
                        end: b.end(),
                        other_file: fa.clone(),
                        other_start: u64::from(a.addr),
                        other_end: a.end(),
                    });
                }
            }
        }
        Ok(Image {
            path: first.path,
            format: first.format,
            segments: tagged.into_iter().map(|(_, s)| s).collect(),
            entry,
            symbols: Symbols::new(symbols),
        })
    }

    fn file(&self) -> String {
        file_name(&self.path)
    }

    /// Total number of bytes in all segments.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|s| s.data.len() as u64).sum()
    }

    /// `len` bytes at `at`, if one segment holds them all.
    pub fn read(&self, at: u32, len: u32) -> Option<&[u8]> {
        let i = self
            .segments
            .partition_point(|s| s.addr <= at)
            .checked_sub(1)?;
        let seg = self.segments.get(i)?;
        let off = (at - seg.addr) as usize;
        seg.data.get(off..off.checked_add(len as usize)?)
    }

    /// The little-endian word at `at`, if loaded.
    pub fn read_u32(&self, at: u32) -> Option<u32> {
        let b = self.read(at, 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The initial SP and reset vector of the vector table at the boot address
    /// 0x0800_0000 (or its alias 0x0), with the table's address.
    pub fn vector_table(&self) -> Option<(u32, u32, u32)> {
        [BOOT_ADDRESS, 0]
            .into_iter()
            .find_map(|at| Some((at, self.read_u32(at)?, self.read_u32(at.checked_add(4)?)?)))
    }

    /// Every segment lies inside one region.
    pub fn check_layout(&self, regions: &[LoadRegion]) -> Result<(), LoadError> {
        if self.segments.iter().all(|s| s.data.is_empty()) {
            return Err(LoadError::Empty { file: self.file() });
        }
        for seg in &self.segments {
            let (start, end) = (u64::from(seg.addr), seg.end());
            if !regions.iter().any(|r| r.contains_range(start, end)) {
                return Err(LoadError::OutsideMemory {
                    file: self.file(),
                    start,
                    end,
                    regions: describe_regions(regions),
                });
            }
        }
        Ok(())
    }

    /// A vector table at 0x0800_0000 (or 0x0): the initial SP points into a RAM region
    /// (its end included), the reset vector is odd (Thumb) and inside flash.
    pub fn check_vector_table(&self, regions: &[LoadRegion]) -> Result<(), LoadError> {
        let no_table = |detail: String| LoadError::NoVectorTable {
            file: self.file(),
            at: BOOT_ADDRESS,
            detail,
        };
        let Some((at, sp, reset)) = self.vector_table() else {
            return Err(no_table(
                "nothing is loaded there (is the image linked for flash?)".to_string(),
            ));
        };
        let sp_ok = regions
            .iter()
            .any(|r| r.is_ram() && u64::from(sp) >= u64::from(r.start) && u64::from(sp) <= r.end());
        if !sp_ok {
            return Err(no_table(format!(
                "initial SP {} is not in RAM",
                addr(u64::from(sp))
            )));
        }
        if reset & 1 == 0 {
            return Err(no_table(format!(
                "reset vector {} is even (not a Thumb address)",
                addr(u64::from(reset))
            )));
        }
        let pc = u64::from(reset & !1);
        let in_flash = regions.iter().any(|r| {
            r.is_flash()
                && ((pc >= u64::from(r.start) && pc < r.end())
                    || (at == 0 && pc < u64::from(r.len)))
        });
        if !in_flash {
            return Err(no_table(format!(
                "reset vector {} is not in flash",
                addr(u64::from(reset))
            )));
        }
        Ok(())
    }

    /// [`check_layout`](Self::check_layout) and
    /// [`check_vector_table`](Self::check_vector_table).
    pub fn validate(&self, regions: &[LoadRegion]) -> Result<(), LoadError> {
        self.check_layout(regions)?;
        self.check_vector_table(regions)
    }
}

/// CRC-32 as zlib's `crc32()` (reflected polynomial 0xEDB88320, initial value and final
/// XOR 0xFFFF_FFFF). The DfuSe suffix stores its bitwise complement.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |crc, &b| {
        TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8)
    })
}

mod elf {
    use super::*;
    use goblin::container::{Container, Ctx, Endian};
    use goblin::elf::{Header, ProgramHeader, SectionHeader, Symtab};

    const EM_ARM: u16 = 40;
    const PT_LOAD: u32 = 1;
    const SHT_SYMTAB: u32 = 2;
    const STT_OBJECT: u8 = 1;
    const STT_FUNC: u8 = 2;
    const EHDR_SIZE: usize = 52;
    const PHDR_SIZE: u64 = 32;
    const SHDR_SIZE: u64 = 40;
    const SYM_SIZE: u64 = 16;

    type Parsed = (Vec<Segment>, Option<u32>, Symbols);

    fn table_fits(bytes: &[u8], off: u64, count: u64, size: u64) -> bool {
        off.checked_add(count.saturating_mul(size))
            .is_some_and(|end| end <= bytes.len() as u64)
    }

    pub(super) fn parse(file: &str, bytes: &[u8]) -> Result<Parsed, LoadError> {
        let err = |detail: String| LoadError::Elf {
            file: file.to_string(),
            detail,
        };
        if !bytes.starts_with(b"\x7fELF") {
            return Err(err("not an ELF file (wrong magic)".to_string()));
        }
        if bytes.len() < 16 {
            return Err(err("truncated ELF header".to_string()));
        }
        match bytes[4] {
            1 => {}
            2 => {
                return Err(err(
                    "64-bit ELF: pybsim loads 32-bit little-endian ARM ELF files only".to_string(),
                ))
            }
            c => return Err(err(format!("bad ELF class {c}"))),
        }
        match bytes[5] {
            1 => {}
            2 => {
                return Err(err(
                    "big-endian ELF: pybsim loads 32-bit little-endian ARM ELF files only"
                        .to_string(),
                ))
            }
            d => return Err(err(format!("bad ELF data encoding {d}"))),
        }
        if bytes.len() < EHDR_SIZE {
            return Err(err("truncated ELF header".to_string()));
        }
        let header = goblin::elf::Elf::parse_header(bytes)
            .map_err(|e| err(format!("bad ELF header: {e}")))?;
        check_header(&header).map_err(err)?;
        let ctx = Ctx::new(Container::Little, Endian::Little);

        // program headers -> segments
        if header.e_phnum == 0 {
            return Err(err(
                "no program headers (an object file, not a linked executable?)".to_string(),
            ));
        }
        if u64::from(header.e_phentsize) != PHDR_SIZE {
            return Err(err(format!(
                "bad program header size {} (expected {PHDR_SIZE})",
                header.e_phentsize
            )));
        }
        if !table_fits(bytes, header.e_phoff, u64::from(header.e_phnum), PHDR_SIZE) {
            return Err(err("truncated program header table".to_string()));
        }
        let phdrs = ProgramHeader::parse(
            bytes,
            header.e_phoff as usize,
            usize::from(header.e_phnum),
            ctx,
        )
        .map_err(|_| err("truncated program header table".to_string()))?;
        let mut segments = Vec::new();
        // Bytes the segments hold so far: program headers may all name the same bytes.
        let mut total: u64 = 0;
        for (i, ph) in phdrs.iter().enumerate() {
            if ph.p_type != PT_LOAD || ph.p_filesz == 0 {
                continue;
            }
            if ph.p_filesz > ph.p_memsz {
                return Err(err(format!(
                    "segment {i}: file size {:#x} exceeds memory size {:#x}",
                    ph.p_filesz, ph.p_memsz
                )));
            }
            let data = ph
                .p_offset
                .checked_add(ph.p_filesz)
                .filter(|&end| end <= bytes.len() as u64)
                .and_then(|end| bytes.get(ph.p_offset as usize..end as usize))
                .ok_or_else(|| {
                    err(format!(
                        "truncated: segment {i} (file offset {:#x}, {:#x} bytes) runs past the end of the file ({} bytes)",
                        ph.p_offset,
                        ph.p_filesz,
                        bytes.len()
                    ))
                })?;
            let paddr = ph.p_paddr;
            let zero_fill = ph.p_memsz > ph.p_filesz && pyboard_ram_at(paddr).is_some();
            total = total.saturating_add(if zero_fill { ph.p_memsz } else { ph.p_filesz });
            if total > MAX_IMAGE_BYTES {
                return Err(err(format!(
                    "the program headers load more than {} MiB (segment {i}): a malformed file?",
                    MAX_IMAGE_BYTES >> 20
                )));
            }
            if paddr.saturating_add(ph.p_memsz) > 1 << 32 {
                return Err(err(format!(
                    "segment {i} at {} ({:#x} bytes) runs past the end of the 32-bit address space",
                    addr(paddr),
                    ph.p_memsz
                )));
            }
            let mut data = data.to_vec();
            // .bss-like tail: zero-filled only in RAM (in flash it would overwrite what
            // follows, e.g. the .data image loaded at its LMA)
            if zero_fill {
                if let Some(ram) = pyboard_ram_at(paddr) {
                    let end = paddr + ph.p_memsz;
                    if end > ram.end() {
                        return Err(LoadError::OutsideMemory {
                            file: file.to_string(),
                            start: paddr,
                            end,
                            regions: describe_regions(PYBOARD_REGIONS),
                        });
                    }
                    data.resize(ph.p_memsz as usize, 0);
                }
            }
            segments.push(Segment {
                addr: paddr as u32,
                data,
            });
        }
        let entry = (header.e_entry != 0).then_some(header.e_entry as u32);
        let symbols = symbols(file, bytes, &header, ctx)?;
        Ok((segments, entry, symbols))
    }

    fn check_header(header: &Header) -> Result<(), String> {
        if header.e_machine != EM_ARM {
            return Err(format!(
                "ELF for machine {} ({}), not ARM",
                header.e_machine,
                goblin::elf::header::machine_to_str(header.e_machine)
            ));
        }
        match header.e_type {
            goblin::elf::header::ET_EXEC | goblin::elf::header::ET_DYN => Ok(()),
            goblin::elf::header::ET_REL => {
                Err("relocatable object file, not a linked executable".to_string())
            }
            t => Err(format!("ELF type {t} is not an executable")),
        }
    }

    fn symbols(file: &str, bytes: &[u8], header: &Header, ctx: Ctx) -> Result<Symbols, LoadError> {
        let err = |detail: &str| LoadError::Elf {
            file: file.to_string(),
            detail: detail.to_string(),
        };
        if header.e_shoff == 0 {
            return Ok(Symbols::default()); // stripped of section headers: no symbols
        }
        if u64::from(header.e_shentsize) != SHDR_SIZE {
            return Err(err("bad section header size"));
        }
        // e_shnum == 0 with e_shoff set: the count is in section 0 (extended numbering)
        let count = u64::from(header.e_shnum).max(1);
        if !table_fits(bytes, header.e_shoff, count, SHDR_SIZE) {
            return Err(err("truncated section header table"));
        }
        let sections = SectionHeader::parse(
            bytes,
            header.e_shoff as usize,
            usize::from(header.e_shnum),
            ctx,
        )
        .map_err(|_| err("truncated section header table"))?;
        let Some(symtab) = sections.iter().rfind(|s| s.sh_type == SHT_SYMTAB) else {
            return Ok(Symbols::default());
        };
        if symtab.sh_entsize != SYM_SIZE {
            return Err(err("bad symbol table entry size"));
        }
        if !table_fits(bytes, symtab.sh_offset, symtab.sh_size, 1) {
            return Err(err("truncated symbol table"));
        }
        if symtab.sh_size / SYM_SIZE > MAX_SYMBOLS {
            return Err(err(&format!(
                "{} symbols: pybsim reads at most {MAX_SYMBOLS}",
                symtab.sh_size / SYM_SIZE
            )));
        }
        let strtab = sections
            .get(symtab.sh_link as usize)
            .ok_or_else(|| err("the symbol table's string table is missing"))?;
        let names = strtab
            .sh_offset
            .checked_add(strtab.sh_size)
            .filter(|&end| end <= bytes.len() as u64)
            .and_then(|end| bytes.get(strtab.sh_offset as usize..end as usize))
            .ok_or_else(|| err("truncated string table"))?;
        let syms = Symtab::parse(
            bytes,
            symtab.sh_offset as usize,
            (symtab.sh_size / SYM_SIZE) as usize,
            ctx,
        )
        .map_err(|_| err("truncated symbol table"))?;
        let mut list = Vec::new();
        // Names are read once per string-table offset; reading and copying them may
        // cost at most a few times the string table (several symbols can share a name,
        // but 40,000 symbols naming offsets 0, 1, 2, ... of one long string cannot make
        // gigabytes of names).
        let budget = 4 * names.len() as u64 + (1 << 20);
        let mut spent: u64 = 0;
        let mut lengths: HashMap<usize, Option<usize>> = HashMap::new();
        for sym in syms.iter() {
            let kind = match sym.st_type() {
                STT_FUNC => SymbolKind::Function,
                STT_OBJECT => SymbolKind::Object,
                _ => continue,
            };
            if sym.st_shndx == 0 {
                continue; // undefined
            }
            let over = |spent: u64| {
                (spent > budget).then(|| {
                    err(&format!(
                        "the symbol names take more than {budget} bytes to read, for a string \
                         table of {} bytes: a malformed file?",
                        names.len()
                    ))
                })
            };
            let tail = names.get(sym.st_name..).unwrap_or(&[]);
            let len = match lengths.get(&sym.st_name) {
                Some(&len) => len,
                None => {
                    let len = tail.iter().position(|&b| b == 0);
                    spent += len.map_or(tail.len(), |l| l + 1) as u64;
                    lengths.insert(sym.st_name, len);
                    len
                }
            };
            let Some(name) = len.and_then(|len| tail.get(..len)) else {
                if let Some(e) = over(spent) {
                    return Err(e);
                }
                continue;
            };
            spent += name.len() as u64;
            if let Some(e) = over(spent) {
                return Err(e);
            }
            if name.is_empty() {
                continue;
            }
            let mut at = sym.st_value as u32;
            if kind == SymbolKind::Function {
                at &= !1;
            }
            list.push(Symbol {
                addr: at,
                size: sym.st_size as u32,
                name: String::from_utf8_lossy(name).into_owned(),
                kind,
            });
        }
        Ok(Symbols::new(list))
    }
}

mod hex {
    use super::*;
    use ihex::{ReaderError, Record};

    struct Chunk {
        addr: u64,
        data: Vec<u8>,
        line: usize,
    }

    fn describe(e: ReaderError) -> String {
        match e {
            ReaderError::ChecksumMismatch(computed, stored) => {
                format!("checksum mismatch (record says {stored:#04x}, computed {computed:#04x})")
            }
            ReaderError::MissingStartCode => "bad record: no ':' start code".to_string(),
            ReaderError::RecordTooShort => "bad record: too short".to_string(),
            ReaderError::RecordTooLong => "bad record: too long".to_string(),
            ReaderError::RecordNotEvenLength => "bad record: odd number of hex digits".to_string(),
            ReaderError::ContainsInvalidCharacters => {
                "bad record: characters other than hex digits".to_string()
            }
            ReaderError::PayloadLengthMismatch => {
                "bad record: byte count does not match the data".to_string()
            }
            ReaderError::UnsupportedRecordType(t) => format!("unknown record type {t:02X}"),
            ReaderError::InvalidLengthForType => {
                "bad record: wrong length for its type".to_string()
            }
        }
    }

    pub(super) fn parse(
        file: &str,
        bytes: &[u8],
    ) -> Result<(Vec<Segment>, Option<u32>), LoadError> {
        let err = |line: usize, detail: String| LoadError::Hex {
            file: file.to_string(),
            line,
            detail,
        };
        let text = String::from_utf8_lossy(bytes);
        let mut base: u64 = 0;
        let mut entry = None;
        let mut eof_line: Option<usize> = None;
        let mut chunks: Vec<Chunk> = Vec::new();
        let mut last_line = 0;
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            last_line = line;
            let record = raw.trim();
            if record.is_empty() {
                continue;
            }
            if let Some(eof) = eof_line {
                return Err(err(
                    line,
                    format!("data after the end-of-file record (line {eof})"),
                ));
            }
            let record = Record::from_record_string(record).map_err(|e| err(line, describe(e)))?;
            match record {
                Record::Data { offset, value } => {
                    if value.is_empty() {
                        continue;
                    }
                    let at = base + u64::from(offset);
                    if at + value.len() as u64 > 1 << 32 {
                        return Err(err(
                            line,
                            format!(
                                "data at {} runs past the end of the 32-bit address space",
                                addr(at)
                            ),
                        ));
                    }
                    match chunks.last_mut() {
                        Some(last) if last.addr + last.data.len() as u64 == at => {
                            last.data.extend_from_slice(&value)
                        }
                        _ => chunks.push(Chunk {
                            addr: at,
                            data: value,
                            line,
                        }),
                    }
                }
                Record::EndOfFile => eof_line = Some(line),
                Record::ExtendedSegmentAddress(seg) => base = u64::from(seg) << 4,
                Record::StartSegmentAddress { cs, ip } => {
                    entry = Some((u32::from(cs) << 4).wrapping_add(u32::from(ip)))
                }
                Record::ExtendedLinearAddress(upper) => base = u64::from(upper) << 16,
                Record::StartLinearAddress(a) => entry = Some(a),
            }
        }
        if eof_line.is_none() {
            return Err(err(
                last_line.max(1),
                "no end-of-file record (:00000001FF): truncated file?".to_string(),
            ));
        }
        chunks.sort_by_key(|c| c.addr);
        let mut segments: Vec<Segment> = Vec::new();
        let mut prev: Option<(u64, u64, usize)> = None; // start, end, line
        for chunk in chunks {
            let end = chunk.addr + chunk.data.len() as u64;
            if let Some((pstart, pend, pline)) = prev {
                if chunk.addr < pend {
                    return Err(err(
                        chunk.line,
                        format!(
                            "data at {}..{} overlaps data at {}..{} from line {pline}",
                            addr(chunk.addr),
                            addr(end),
                            addr(pstart),
                            addr(pend)
                        ),
                    ));
                }
            }
            prev = Some((chunk.addr, end, chunk.line));
            match segments.last_mut() {
                Some(last) if last.end() == chunk.addr => last.data.extend_from_slice(&chunk.data),
                _ => segments.push(Segment {
                    addr: chunk.addr as u32,
                    data: chunk.data,
                }),
            }
        }
        Ok((segments, entry))
    }
}

/// DfuSe (ST UM0391): prefix, targets of elements, DFU 1.1 suffix with CRC.
pub mod dfuse {
    use super::*;

    /// "DfuSe", version, image size, target count.
    pub const PREFIX_LEN: usize = 11;
    /// "Target", alternate setting, named flag, name, size, element count.
    pub const TARGET_PREFIX_LEN: usize = 274;
    /// bcdDevice, idProduct, idVendor, bcdDFU, "UFD", bLength, dwCRC.
    pub const SUFFIX_LEN: usize = 16;
    /// bcdDFU of a DfuSe file.
    pub const BCD_DFU_DFUSE: u16 = 0x011A;

    /// One element: bytes at an address.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Element {
        pub addr: u32,
        pub data: Vec<u8>,
    }

    /// One target (alternate setting) of a DfuSe file.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Target {
        pub alt: u8,
        /// `None` when the target is not named.
        pub name: Option<String>,
        pub elements: Vec<Element>,
    }

    struct Cursor<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    impl<'a> Cursor<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            let end = self.pos.checked_add(n)?;
            let s = self.bytes.get(self.pos..end)?;
            self.pos = end;
            Some(s)
        }
        fn u8(&mut self) -> Option<u8> {
            self.take(1).map(|b| b[0])
        }
        fn u32(&mut self) -> Option<u32> {
            self.take(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
    }

    /// Builds a DfuSe file (for tests and tools): the given targets, the suffix with
    /// bcdDevice 0, the VID:PID and the CRC.
    pub fn build(targets: &[Target], vid: u16, pid: u16) -> Vec<u8> {
        let mut body = Vec::new();
        for t in targets {
            let mut elems = Vec::new();
            for e in &t.elements {
                elems.extend_from_slice(&e.addr.to_le_bytes());
                elems.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
                elems.extend_from_slice(&e.data);
            }
            body.extend_from_slice(b"Target");
            body.push(t.alt);
            body.extend_from_slice(&u32::from(t.name.is_some()).to_le_bytes());
            let mut name = [0u8; 255];
            if let Some(n) = &t.name {
                for (dst, src) in name.iter_mut().zip(n.bytes().take(254)) {
                    *dst = src;
                }
            }
            body.extend_from_slice(&name);
            body.extend_from_slice(&(elems.len() as u32).to_le_bytes());
            body.extend_from_slice(&(t.elements.len() as u32).to_le_bytes());
            body.extend_from_slice(&elems);
        }
        let mut out = Vec::with_capacity(PREFIX_LEN + body.len() + SUFFIX_LEN);
        out.extend_from_slice(b"DfuSe");
        out.push(1);
        out.extend_from_slice(&((PREFIX_LEN + body.len()) as u32).to_le_bytes());
        out.push(targets.len() as u8);
        out.extend_from_slice(&body);
        out.extend_from_slice(&0u16.to_le_bytes()); // bcdDevice
        out.extend_from_slice(&pid.to_le_bytes());
        out.extend_from_slice(&vid.to_le_bytes());
        out.extend_from_slice(&BCD_DFU_DFUSE.to_le_bytes());
        out.extend_from_slice(b"UFD");
        out.push(SUFFIX_LEN as u8);
        let crc = !crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses a DfuSe file into its targets.
    pub fn parse_targets(file: &str, bytes: &[u8]) -> Result<Vec<Target>, LoadError> {
        let err = |detail: String| LoadError::Dfu {
            file: file.to_string(),
            detail,
        };
        if !bytes.starts_with(b"DfuSe") {
            return Err(err(
                "not a DfuSe file (wrong magic: no \"DfuSe\" prefix)".to_string()
            ));
        }
        let len = bytes.len();
        if len < PREFIX_LEN + SUFFIX_LEN {
            return Err(err(format!(
                "truncated: {len} bytes, a DfuSe file has at least {}",
                PREFIX_LEN + SUFFIX_LEN
            )));
        }
        let suffix = &bytes[len - SUFFIX_LEN..];
        if &suffix[8..11] != b"UFD" {
            return Err(err(
                "no DFU suffix (\"UFD\" signature missing): truncated file?".to_string(),
            ));
        }
        if usize::from(suffix[11]) != SUFFIX_LEN {
            return Err(err(format!(
                "DFU suffix length {} (expected {SUFFIX_LEN})",
                suffix[11]
            )));
        }
        let bcd_dfu = u16::from_le_bytes([suffix[6], suffix[7]]);
        if bcd_dfu != BCD_DFU_DFUSE {
            return Err(err(format!(
                "bcdDFU {bcd_dfu:#06x} in the suffix (a DfuSe file has {BCD_DFU_DFUSE:#06x})"
            )));
        }
        let stored = u32::from_le_bytes([suffix[12], suffix[13], suffix[14], suffix[15]]);
        let computed = !crc32(&bytes[..len - 4]);
        if stored != computed {
            return Err(LoadError::DfuCrc {
                file: file.to_string(),
                stored,
                computed,
            });
        }

        let body_end = len - SUFFIX_LEN;
        let mut cur = Cursor {
            bytes: &bytes[..body_end],
            pos: 5,
        };
        let truncated = |what: &str| err(format!("truncated {what}"));
        let version = cur.u8().ok_or_else(|| truncated("prefix"))?;
        if version != 1 {
            return Err(err(format!("DfuSe version {version} (expected 1)")));
        }
        let image_size = cur.u32().ok_or_else(|| truncated("prefix"))?;
        if image_size as usize != body_end && image_size as usize != len {
            return Err(err(format!(
                "prefix says the image has {image_size} bytes, the file has {body_end} (+{SUFFIX_LEN} suffix)"
            )));
        }
        let n_targets = cur.u8().ok_or_else(|| truncated("prefix"))?;
        let mut targets = Vec::with_capacity(usize::from(n_targets));
        for t in 0..n_targets {
            let what = format!("target {t}");
            let prefix = cur
                .take(TARGET_PREFIX_LEN)
                .ok_or_else(|| truncated(&format!("{what} prefix")))?;
            if &prefix[..6] != b"Target" {
                return Err(err(format!("{what}: no \"Target\" signature")));
            }
            let alt = prefix[6];
            let named = u32::from_le_bytes([prefix[7], prefix[8], prefix[9], prefix[10]]) != 0;
            let raw_name = &prefix[11..266];
            let name_len = raw_name
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(raw_name.len());
            let name = named.then(|| String::from_utf8_lossy(&raw_name[..name_len]).into_owned());
            let size = u32::from_le_bytes([prefix[266], prefix[267], prefix[268], prefix[269]]);
            let n_elements =
                u32::from_le_bytes([prefix[270], prefix[271], prefix[272], prefix[273]]);
            let start = cur.pos;
            let mut elements = Vec::new();
            for e in 0..n_elements {
                let what = format!("{what} element {e}");
                let at = cur.u32().ok_or_else(|| truncated(&what))?;
                let esize = cur.u32().ok_or_else(|| truncated(&what))?;
                if u64::from(at) + u64::from(esize) > 1 << 32 {
                    return Err(err(format!(
                        "{what}: {esize} bytes at {} run past the end of the 32-bit address space",
                        addr(u64::from(at))
                    )));
                }
                let data = cur.take(esize as usize).ok_or_else(|| truncated(&what))?;
                elements.push(Element {
                    addr: at,
                    data: data.to_vec(),
                });
            }
            let actual = cur.pos - start;
            if actual != size as usize {
                return Err(err(format!(
                    "{what}: prefix says {size} bytes of elements, found {actual}"
                )));
            }
            targets.push(Target {
                alt,
                name,
                elements,
            });
        }
        if cur.pos != body_end {
            return Err(err(format!(
                "{} unexpected bytes after the last target",
                body_end - cur.pos
            )));
        }
        Ok(targets)
    }

    pub(super) fn parse(file: &str, bytes: &[u8]) -> Result<Vec<Segment>, LoadError> {
        Ok(parse_targets(file, bytes)?
            .into_iter()
            .flat_map(|t| t.elements)
            .map(|e| Segment {
                addr: e.addr,
                data: e.data,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn addr_format() {
        assert_eq!(addr(0x2002_0000), "0x2002_0000");
        assert_eq!(addr(0x1_0000_0000), "0x1_0000_0000");
    }

    #[test]
    fn symbol_lookup() {
        let s = Symbols::new(vec![
            Symbol {
                addr: 0x100,
                size: 0x20,
                name: "outer".into(),
                kind: SymbolKind::Function,
            },
            Symbol {
                addr: 0x108,
                size: 4,
                name: "inner".into(),
                kind: SymbolKind::Object,
            },
            Symbol {
                addr: 0x200,
                size: 0,
                name: "label".into(),
                kind: SymbolKind::Function,
            },
        ]);
        assert_eq!(s.lookup(0x100), Some(("outer", 0)));
        assert_eq!(s.lookup(0x109), Some(("inner", 1)));
        assert_eq!(s.lookup(0x10C), Some(("outer", 0xC)));
        assert_eq!(s.lookup(0x120), None);
        assert_eq!(s.lookup(0x200), Some(("label", 0)));
        assert_eq!(s.lookup(0x201), None);
        assert_eq!(s.lookup(0), None);
        assert_eq!(s.by_name("inner").map(|s| s.addr), Some(0x108));
        assert!(s.by_name("nope").is_none());
    }
}
