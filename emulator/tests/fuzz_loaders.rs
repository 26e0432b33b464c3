//! Fuzz targets of the four firmware loaders (`loader_elf`, `loader_bin`, `loader_hex`,
//! `loader_dfu`) and of building a machine from a board file (`board_machine`).
//!
//! Each loader target generates files of its format from a structure (headers, program
//! and section headers, symbols; records; targets and elements) and then breaks them:
//! header fields set to interesting values, bytes changed, the file cut short. Every
//! input goes through every loader, not only its own. Nothing may panic or hang; errors
//! are one line naming the file; an image that loads has sorted, disjoint, non-empty
//! segments of bounded size. See tests/fuzz/harness.rs for the knobs.

#[path = "../../tests/fuzz/harness.rs"]
mod harness;
#[path = "../../tests/fuzz/text_mutations.rs"]
mod text_mutations;

use std::path::Path;

use proptest::prelude::*;
use proptest::sample::select;

use pybsim::loader::{
    self, dfuse, load_bytes, Format, Image, LoadError, MAX_IMAGE_BYTES, PYBOARD_REGIONS,
};

const FORMATS: [Format; 4] = [Format::Elf, Format::Bin, Format::Hex, Format::Dfu];

/// A vector table the Pyboard boots from (SP at the top of SRAM, reset in flash) and two
/// Thumb instructions.
const BOOT: [u8; 12] = [
    0x00, 0x00, 0x02, 0x20, 0x09, 0x00, 0x00, 0x08, 0x00, 0xBF, 0xFE, 0xE7,
];

/// A file to load: its name (the extension matters to detection), bytes and BIN base.
#[derive(Debug, Clone)]
struct FwInput {
    name: &'static str,
    bytes: Vec<u8>,
    base: Option<u32>,
}

fn check_error(file: &str, e: &LoadError) -> Result<(), String> {
    let msg = e.to_string();
    if msg.contains('\n') {
        return Err(format!("error message is not one line: {msg:?}"));
    }
    if !matches!(e, LoadError::NoFiles) && !msg.starts_with(&format!("{file}: ")) {
        return Err(format!("error does not name the file first: {msg}"));
    }
    Ok(())
}

fn check_image(input: &FwInput, image: &Image) -> Result<(), String> {
    let mut prev_end = 0u64;
    let mut total = 0u64;
    for (i, s) in image.segments.iter().enumerate() {
        if s.data.is_empty() {
            return Err(format!("segment {i} is empty"));
        }
        if i > 0 && u64::from(s.addr) < prev_end {
            return Err(format!("segment {i} overlaps or is out of order"));
        }
        if s.end() > 1 << 32 {
            return Err(format!("segment {i} runs past 4 GiB"));
        }
        prev_end = s.end();
        total += s.data.len() as u64;
    }
    if image.segments.is_empty() {
        return Err("an image without segments loaded".into());
    }
    if total > MAX_IMAGE_BYTES.max(input.bytes.len() as u64) {
        return Err(format!(
            "{total} bytes of segments from a {}-byte file",
            input.bytes.len()
        ));
    }
    let _ = image.validate(PYBOARD_REGIONS);
    let _ = image.vector_table();
    for a in [
        0u32,
        0x0800_0000,
        0x0800_0004,
        0x2000_0000,
        u32::MAX,
        u32::MAX - 3,
    ] {
        let _ = image.read_u32(a);
        let _ = image.read(a, 8);
        let _ = image.symbols.lookup(a);
    }
    for s in image.symbols.iter() {
        if image.symbols.by_name(&s.name).is_none() {
            return Err(format!("symbol {:?} not found by name", s.name));
        }
        let _ = image.symbols.lookup(s.addr);
        let _ = image.symbols.lookup(s.addr.wrapping_add(s.size));
    }
    // The same image twice overlaps itself.
    match Image::merge(vec![image.clone(), image.clone()]) {
        Err(LoadError::Overlap { .. }) => {}
        other => return Err(format!("merging an image with itself gave {other:?}")),
    }
    Ok(())
}

/// Every loader on the input, and format detection.
fn check(input: &FwInput) -> Result<(), String> {
    let path = Path::new(input.name);

    match loader::detect_format(path, &input.bytes, input.base) {
        Ok(_) => {}
        Err(e) => check_error(input.name, &e)?,
    }
    for format in FORMATS {
        match load_bytes(path, &input.bytes, format, input.base) {
            Ok(image) => check_image(input, &image).map_err(|e| format!("as {format}: {e}"))?,
            Err(e) => check_error(input.name, &e).map_err(|e| format!("as {format}: {e}"))?,
        }
    }
    Ok(())
}

/// Corpus files: the extension says the format; `name@base.bin` gives a BIN base.
fn from_corpus(name: &str, bytes: &[u8]) -> FwInput {
    let ext = name.rsplit('.').next().unwrap_or("");
    let base = name
        .split_once('@')
        .and_then(|(_, rest)| rest.split('.').next())
        .and_then(|h| u32::from_str_radix(h.trim_start_matches("0x"), 16).ok());
    FwInput {
        name: match ext {
            "elf" => "fuzz.elf",
            "hex" => "fuzz.hex",
            "dfu" => "fuzz.dfu",
            "bin" => "fuzz.bin",
            _ => "fuzz",
        },
        bytes: bytes.to_vec(),
        base,
    }
}

/// Changes made to a generated file: a recorded field set to a value, a byte set, the
/// file cut.
#[derive(Debug, Clone)]
enum Edit {
    Field(usize, u32),
    Byte(usize, u8),
    Cut(usize),
}

/// No edit half the time (the file as generated), else a few.
fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => proptest::collection::vec(edit(), 1..4),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        5 => (any::<usize>(), harness::interesting_u32()).prop_map(|(i, v)| Edit::Field(i, v)),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Byte(i, b)),
        1 => any::<usize>().prop_map(Edit::Cut),
    ]
}

/// Bytes being laid out, with the offsets and widths of the fields worth editing.
#[derive(Default)]
struct Layout {
    out: Vec<u8>,
    fields: Vec<(usize, usize)>,
}

impl Layout {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.fields.push((self.out.len(), 2));
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.fields.push((self.out.len(), 4));
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn set32(&mut self, at: usize, v: u32) {
        self.out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn apply(mut self, edits: &[Edit]) -> Vec<u8> {
        for e in edits {
            match *e {
                Edit::Field(i, v) if !self.fields.is_empty() => {
                    let (at, w) = self.fields[i % self.fields.len()];
                    if at + w <= self.out.len() {
                        self.out[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
                    }
                }
                Edit::Byte(i, b) if !self.out.is_empty() => {
                    let n = self.out.len();
                    self.out[i % n] = b;
                }
                Edit::Cut(i) => {
                    let n = self.out.len();
                    self.out.truncate(i % (n + 1));
                }
                _ => {}
            }
        }
        self.out
    }
}

// ---------------------------------------------------------------------------------------
// ELF

#[derive(Debug, Clone)]
struct Ph {
    p_type: u32,
    /// Offset into the data area, or (if it does not fit) used as is.
    offset: u32,
    paddr: u32,
    filesz: u32,
    memsz: u32,
}

/// A string table and symbols (st_name, value, size, info, shndx).
type SymTable = (Vec<u8>, Vec<(u32, u32, u32, u8, u16)>);

#[derive(Debug, Clone)]
struct ElfSpec {
    class: u8,
    data: u8,
    e_type: u16,
    machine: u16,
    entry: u32,
    phdrs: Vec<Ph>,
    blob: Vec<u8>,
    /// String table and symbols (st_name, value, size, info, shndx).
    syms: Option<SymTable>,
    /// Starts with a PT_LOAD of a boot vector table at 0x0800_0000.
    boot: bool,
    edits: Vec<Edit>,
}

fn elf_bytes(s: &ElfSpec) -> Vec<u8> {
    if s.boot {
        let mut t = s.clone();
        t.boot = false;
        t.blob = BOOT.iter().copied().chain(s.blob.iter().copied()).collect();
        for ph in &mut t.phdrs {
            ph.offset = ph.offset.wrapping_add(BOOT.len() as u32);
        }
        t.phdrs.insert(
            0,
            Ph {
                p_type: 1,
                offset: 0,
                paddr: 0x0800_0000,
                filesz: BOOT.len() as u32,
                memsz: BOOT.len() as u32,
            },
        );
        return elf_bytes(&t);
    }
    let mut l = Layout::default();
    l.out.extend_from_slice(b"\x7fELF");
    l.u8(s.class);
    l.u8(s.data);
    l.u8(1);
    l.out.extend_from_slice(&[0; 9]);
    l.u16(s.e_type);
    l.u16(s.machine);
    l.u32(1);
    l.u32(s.entry);
    let phoff = 52u32;
    l.u32(phoff);
    let shoff_at = l.out.len();
    l.u32(0);
    l.u32(0x0500_0400);
    l.u16(52);
    l.u16(32);
    l.u16(s.phdrs.len() as u16);
    l.u16(40);
    let shnum_at = l.out.len();
    l.u16(0);
    l.u16(0);
    let data_off = phoff + 32 * s.phdrs.len() as u32;
    for ph in &s.phdrs {
        let offset = if (ph.offset as usize) < s.blob.len() {
            data_off + ph.offset
        } else {
            ph.offset
        };
        for w in [
            ph.p_type, offset, ph.paddr, ph.paddr, ph.filesz, ph.memsz, 5, 4,
        ] {
            l.u32(w);
        }
    }
    l.out.extend_from_slice(&s.blob);
    if let Some((names, syms)) = &s.syms {
        let strtab_off = l.out.len() as u32;
        l.out.extend_from_slice(names);
        let symtab_off = l.out.len() as u32;
        for &(name, value, size, info, shndx) in syms {
            l.u32(name);
            l.u32(value);
            l.u32(size);
            l.u8(info);
            l.u8(0);
            l.u16(shndx);
        }
        let shoff = l.out.len() as u32;
        l.out.extend_from_slice(&[0; 40]);
        for (kind, off, size, link, entsize) in [
            (3u32, strtab_off, names.len() as u32, 0u32, 0u32),
            (2, symtab_off, 16 * syms.len() as u32, 1, 16),
        ] {
            for w in [0, kind, 0, 0, off, size, link, 0, 1, entsize] {
                l.u32(w);
            }
        }
        l.set32(shoff_at, shoff);
        l.out[shnum_at..shnum_at + 2].copy_from_slice(&3u16.to_le_bytes());
    }
    l.apply(&s.edits)
}

fn elf_spec() -> impl Strategy<Value = ElfSpec> {
    let ph = (
        prop_oneof![8 => Just(1u32), 1 => Just(0u32), 1 => Just(6u32), 1 => any::<u32>()],
        prop_oneof![3 => 0u32..256, 1 => harness::interesting_u32()],
        harness::interesting_u32(),
        prop_oneof![3 => 0u32..300, 1 => harness::interesting_u32()],
        prop_oneof![3 => 0u32..600, 1 => harness::interesting_u32()],
    )
        .prop_map(|(p_type, offset, paddr, filesz, memsz)| Ph {
            p_type,
            offset,
            paddr,
            filesz,
            memsz,
        });
    let sym = (
        prop_oneof![3 => 0u32..40, 1 => harness::interesting_u32()],
        harness::interesting_u32(),
        prop_oneof![3 => 0u32..64, 1 => harness::interesting_u32()],
        select(vec![0x12u8, 0x11, 0x02, 0x01, 0x00, 0x03, 0xFF]),
        prop_oneof![4 => Just(1u16), 1 => Just(0u16), 1 => any::<u16>()],
    );
    let syms = proptest::option::weighted(
        0.6,
        (
            proptest::collection::vec(
                prop_oneof![4 => select(b"abcdefgh_0".to_vec()), 1 => Just(0u8), 1 => any::<u8>()],
                0..48,
            ),
            proptest::collection::vec(sym, 0..12),
        ),
    );
    (
        prop_oneof![20 => Just(1u8), 1 => Just(2u8), 1 => any::<u8>()],
        prop_oneof![20 => Just(1u8), 1 => Just(2u8), 1 => any::<u8>()],
        prop_oneof![20 => Just(2u16), 1 => Just(1u16), 1 => Just(3u16), 1 => any::<u16>()],
        prop_oneof![20 => Just(40u16), 1 => any::<u16>()],
        harness::interesting_u32(),
        proptest::collection::vec(ph, 0..6),
        proptest::collection::vec(any::<u8>(), 0..300),
        syms,
        (any::<bool>(), edits()),
    )
        .prop_map(
            |(class, data, e_type, machine, entry, phdrs, blob, syms, (boot, edits))| ElfSpec {
                class,
                data,
                e_type,
                machine,
                entry,
                phdrs,
                blob,
                syms,
                boot,
                edits,
            },
        )
}

#[test]
fn loader_elf() {
    harness::run(
        "loader_elf",
        50_000,
        elf_spec().prop_map(|s| FwInput {
            name: "fuzz.elf",
            bytes: elf_bytes(&s),
            base: None,
        }),
        from_corpus,
        |i| i.bytes.clone(),
        check,
    );
}

// ---------------------------------------------------------------------------------------
// BIN

#[test]
fn loader_bin() {
    let input = (
        prop_oneof![
            2 => proptest::collection::vec(any::<u8>(), 0..64),
            2 => (0usize..4096).prop_map(|n| {
                let mut v = BOOT.to_vec();
                v.resize(BOOT.len() + n, 0xFF);
                v
            }),
            1 => (harness::interesting_u32(), harness::interesting_u32(), 0usize..2048)
                .prop_map(|(sp, reset, n)| {
                    let mut v = sp.to_le_bytes().to_vec();
                    v.extend_from_slice(&reset.to_le_bytes());
                    v.resize(8 + n, 0xBF);
                    v
                }),
        ],
        proptest::option::of(harness::interesting_u32()),
        select(vec!["fuzz.bin", "fuzz", "fuzz.BIN"]),
    )
        .prop_map(|(bytes, base, name)| FwInput { name, bytes, base });
    harness::run(
        "loader_bin",
        50_000,
        input,
        from_corpus,
        |i| i.bytes.clone(),
        check,
    );
}

// ---------------------------------------------------------------------------------------
// Intel HEX

#[derive(Debug, Clone)]
struct Rec {
    kind: u8,
    offset: u16,
    data: Vec<u8>,
    bad_sum: bool,
}

fn hex_text(recs: &[Rec], sep: &str, lower: bool, eof: bool) -> String {
    let mut out = String::new();
    for r in recs {
        let mut b = vec![
            r.data.len() as u8,
            (r.offset >> 8) as u8,
            r.offset as u8,
            r.kind,
        ];
        b.extend_from_slice(&r.data);
        let sum = b.iter().fold(0u8, |a, &x| a.wrapping_add(x)).wrapping_neg();
        b.push(if r.bad_sum { sum ^ 1 } else { sum });
        let hex: String = b
            .iter()
            .map(|x| {
                if lower {
                    format!("{x:02x}")
                } else {
                    format!("{x:02X}")
                }
            })
            .collect();
        out.push(':');
        out.push_str(&hex);
        out.push_str(sep);
    }
    if eof {
        out.push_str(":00000001FF");
        out.push_str(sep);
    }
    out
}

#[test]
fn loader_hex() {
    let rec = (
        prop_oneof![
            8 => Just(0u8), 2 => Just(4u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8),
            1 => Just(5u8), 1 => 6u8..=255
        ],
        prop_oneof![3 => 0u16..0x40, 1 => any::<u16>(), 1 => Just(0xFFF8u16)],
        proptest::collection::vec(any::<u8>(), 0..24),
        proptest::bool::weighted(0.05),
    )
        .prop_map(|(kind, offset, data, bad_sum)| {
            // Address records carry 2 bytes (4: upper address, 2: segment), start
            // records 4; keep them mostly well-formed.
            let data = match kind {
                4 | 2 if data.len() != 2 && !bad_sum => {
                    data.iter().copied().chain([0, 0]).take(2).collect()
                }
                3 | 5 if data.len() != 4 && !bad_sum => {
                    data.iter().copied().chain([0; 4]).take(4).collect()
                }
                _ => data,
            };
            Rec {
                kind,
                offset,
                data,
                bad_sum,
            }
        });
    let boot = [
        Rec {
            kind: 4,
            offset: 0,
            data: vec![0x08, 0x00],
            bad_sum: false,
        },
        Rec {
            kind: 0,
            offset: 0,
            data: BOOT.to_vec(),
            bad_sum: false,
        },
    ];
    let input = (
        (any::<bool>(), proptest::collection::vec(rec, 0..12))
            .prop_map(move |(b, recs)| if b { boot.iter().cloned().chain(recs).collect() } else { recs }),
        select(vec!["\n", "\r\n", "", " \n", "\n\n"]),
        any::<bool>(),
        proptest::bool::weighted(0.9),
        prop_oneof![2 => Just(Vec::new()), 1 => proptest::collection::vec(text_mutations::mutation(), 1..3)],
        prop_oneof![2 => Just(Vec::new()), 1 => proptest::collection::vec((any::<usize>(), select(b":0123456789ABCDEFxz\n\r ".to_vec())), 1..3)],
    )
        .prop_map(|(recs, sep, lower, eof, muts, bytes)| {
            let text = text_mutations::mutate(&hex_text(&recs, sep, lower, eof), &muts);
            let mut b = text.into_bytes();
            for (i, c) in bytes {
                if !b.is_empty() {
                    let n = b.len();
                    b[i % n] = c;
                }
            }
            FwInput {
                name: "fuzz.hex",
                bytes: b,
                base: None,
            }
        });
    harness::run(
        "loader_hex",
        50_000,
        input,
        from_corpus,
        |i| i.bytes.clone(),
        check,
    );
}

// ---------------------------------------------------------------------------------------
// DfuSe

#[test]
fn loader_dfu() {
    let element = (
        harness::interesting_u32(),
        proptest::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(|(addr, data)| dfuse::Element { addr, data });
    let target = (
        any::<u8>(),
        proptest::option::of("[A-Za-z ]{0,12}"),
        proptest::collection::vec(element, 0..4),
    )
        .prop_map(|(alt, name, elements)| dfuse::Target {
            alt,
            name,
            elements,
        });
    let input = (
        proptest::collection::vec(target, 0..3),
        any::<bool>(),
        edits(),
        proptest::bool::weighted(0.8),
    )
        .prop_map(|(mut targets, boot, edits, fix_crc)| {
            if boot {
                if targets.is_empty() {
                    targets.push(dfuse::Target {
                        alt: 0,
                        name: None,
                        elements: Vec::new(),
                    });
                }
                targets[0].elements.insert(
                    0,
                    dfuse::Element {
                        addr: 0x0800_0000,
                        data: BOOT.to_vec(),
                    },
                );
            }
            let built = dfuse::build(&targets, 0x0483, 0xDF11);
            // Record the prefix, target and element fields for edits.
            let mut l = Layout {
                out: built,
                fields: vec![(6, 4), (10, 1)],
            };
            let mut at = 11;
            for t in &targets {
                l.fields
                    .extend([(at + 6, 1), (at + 7, 4), (at + 266, 4), (at + 270, 4)]);
                at += 274;
                for e in &t.elements {
                    l.fields.extend([(at, 4), (at + 4, 4)]);
                    at += 8 + e.data.len();
                }
            }
            let n = l.out.len();
            l.fields
                .extend([(n - 16, 2), (n - 10, 2), (n - 5, 1), (n - 4, 4)]);
            let mut bytes = l.apply(&edits);
            let n = bytes.len();
            if fix_crc && n >= 4 {
                let crc = !loader::crc32(&bytes[..n - 4]);
                bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
            }
            FwInput {
                name: "fuzz.dfu",
                bytes,
                base: None,
            }
        });
    harness::run(
        "loader_dfu",
        50_000,
        input,
        from_corpus,
        |i| i.bytes.clone(),
        check,
    );
}

// ---------------------------------------------------------------------------------------
// board file -> machine

/// A board file that loads builds a machine: no model constructor panics, no mapping is
/// refused, the bus mounts in bounded time.
fn check_machine(text: &str) -> Result<(), String> {
    let Ok(board) = pybsim_boards::Board::parse(text, "fuzz.ron") else {
        return Ok(());
    };

    let wires: Vec<_> = board
        .wiring
        .iter()
        .filter_map(|w| board.resolve_wire(w).ok())
        .collect();
    match pybsim::soc::build::build(&board, &wires) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("a board that loads does not build: {e}")),
    }
}

#[test]
fn board_machine() {
    let strategy = (
        0u8..2,
        proptest::collection::vec(text_mutations::mutation(), 1..5),
    )
        .prop_map(|(which, muts)| {
            let base = if which == 0 {
                include_str!("../../boards/pybv11.ron")
            } else {
                include_str!("../../boards/pybv10.ron")
            };
            text_mutations::mutate(base, &muts)
        });
    harness::run(
        "board_machine",
        5000,
        strategy,
        |_, bytes| String::from_utf8_lossy(bytes).into_owned(),
        |t| t.as_bytes().to_vec(),
        |t| check_machine(t),
    );
}
