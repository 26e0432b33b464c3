//! Firmware loader tests: ELF (built from tests/asm with arm-none-eabi-gcc), BIN, Intel HEX
//! and DfuSe (generated here), their malformed variants, and no-panic fuzzing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use pybsim::loader::{
    self, dfuse, load_bytes, load_file, load_files, Format, Image, LoadError, LoadRegion, Segment,
    SymbolKind, PYBOARD_REGIONS,
};
use pybsim::testkit::{build_program, program_names};

// ---------------------------------------------------------------------------------------
// helpers

fn elf_bytes(name: &str) -> (PathBuf, Vec<u8>) {
    let path = build_program(name).unwrap_or_else(|e| panic!("building {name}: {e}"));
    let bytes = std::fs::read(&path).expect("read ELF");
    (path, bytes)
}

fn tmp_path(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loader-tests");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(format!(
        "{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn write_tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let path = tmp_path(name);
    std::fs::write(&path, bytes).expect("write tmp file");
    path
}

fn err_text<T: std::fmt::Debug>(r: Result<T, LoadError>) -> String {
    let e = r.expect_err("expected an error");
    let text = e.to_string();
    assert!(!text.contains('\n'), "error is not one line: {text:?}");
    text
}

/// Intel HEX text for segments: 04 records when the upper half changes, 16-byte 00
/// records, an optional 05 start address and the 01 end.
fn to_hex(segments: &[Segment], entry: Option<u32>) -> String {
    fn record(kind: u8, offset: u16, data: &[u8]) -> String {
        let mut bytes = vec![data.len() as u8, (offset >> 8) as u8, offset as u8, kind];
        bytes.extend_from_slice(data);
        let sum = bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        bytes.push(sum.wrapping_neg());
        let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        format!(":{hex}\n")
    }
    let mut out = String::new();
    let mut upper: Option<u16> = None;
    for seg in segments {
        let mut at = seg.addr;
        let mut rest = &seg.data[..];
        while !rest.is_empty() {
            let hi = (at >> 16) as u16;
            if upper != Some(hi) {
                out += &record(0x04, 0, &hi.to_be_bytes());
                upper = Some(hi);
            }
            // stay inside one 64 KiB page
            let room = 0x1_0000 - (at & 0xFFFF) as usize;
            let n = rest.len().min(16).min(room);
            out += &record(0x00, at as u16, &rest[..n]);
            rest = &rest[n..];
            at = at.wrapping_add(n as u32);
        }
    }
    if let Some(e) = entry {
        out += &record(0x05, 0, &e.to_be_bytes());
    }
    out += &record(0x01, 0, &[]);
    out
}

/// A minimal ELF32 executable: header, program headers, then each segment's file bytes.
/// `phdrs`: (p_paddr, p_vaddr, file bytes, p_memsz).
fn synth_elf(class: u8, data: u8, machine: u16, phdrs: &[(u32, u32, Vec<u8>, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"\x7fELF");
    out.extend_from_slice(&[class, data, 1, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    out.extend_from_slice(&machine.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0x0800_0009u32.to_le_bytes()); // e_entry
    out.extend_from_slice(&52u32.to_le_bytes()); // e_phoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_shoff
    out.extend_from_slice(&0x0500_0400u32.to_le_bytes()); // e_flags
    out.extend_from_slice(&52u16.to_le_bytes()); // e_ehsize
    out.extend_from_slice(&32u16.to_le_bytes()); // e_phentsize
    out.extend_from_slice(&(phdrs.len() as u16).to_le_bytes());
    out.extend_from_slice(&40u16.to_le_bytes()); // e_shentsize
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    let mut offset = 52 + 32 * phdrs.len() as u32;
    for (paddr, vaddr, bytes, memsz) in phdrs {
        for word in [1, offset, *vaddr, *paddr, bytes.len() as u32, *memsz, 5, 4] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        offset += bytes.len() as u32;
    }
    for (_, _, bytes, _) in phdrs {
        out.extend_from_slice(bytes);
    }
    out
}

/// A vector table (SP, reset) followed by some code bytes.
fn vectors(sp: u32, reset: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sp.to_le_bytes());
    v.extend_from_slice(&reset.to_le_bytes());
    v.extend_from_slice(&[0x00, 0xBF, 0xFE, 0xE7]); // nop; b .
    v
}

/// Recomputes a DfuSe file's CRC after an edit.
fn fix_dfu_crc(bytes: &mut [u8]) {
    let n = bytes.len();
    let crc = !loader::crc32(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn all_formats() -> [Format; 4] {
    [Format::Elf, Format::Bin, Format::Hex, Format::Dfu]
}

/// Every parse path on these bytes, results ignored: the point is not panicking.
fn try_everything(name: &str, bytes: &[u8]) {
    let path = Path::new(name);
    for format in all_formats() {
        if let Ok(image) = load_bytes(path, bytes, format, None) {
            let _ = image.validate(PYBOARD_REGIONS);
            let _ = image.symbols.lookup(0x0800_0100);
        }
    }
    let _ = loader::detect_format(path, bytes, None);
}

// ---------------------------------------------------------------------------------------
// ELF

#[test]
fn every_test_program_builds_loads_and_validates() {
    let names = program_names();
    assert!(names.len() >= 11, "programs: {names:?}");
    for name in &names {
        let path = build_program(name).unwrap_or_else(|e| panic!("{e}"));
        let image = load_file(&path, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(image.format, Format::Elf);
        image
            .validate(PYBOARD_REGIONS)
            .unwrap_or_else(|e| panic!("{e}"));
        let (table, sp, reset) = image.vector_table().expect("vector table");
        assert_eq!(table, 0x0800_0000);
        assert_eq!(sp, 0x2002_0000, "{name}: SP is the end of SRAM");
        let reset_sym = image
            .symbols
            .by_name("Reset_Handler")
            .expect("Reset_Handler");
        assert_eq!(reset_sym.kind, SymbolKind::Function);
        assert_eq!(
            reset,
            reset_sym.addr | 1,
            "{name}: Thumb bit cleared in symbols"
        );
        assert_eq!(image.entry, Some(reset));
        let main = image.symbols.by_name("main").expect("main");
        assert_eq!(image.symbols.lookup(main.addr + 2), Some(("main", 2)));
    }
}

#[test]
fn elf_symbols_name_the_result_objects() {
    for (program, object, size) in [
        ("tailchain", "results", 24),
        ("systick", "systick_results", 12),
        ("wfi", "wfi_results", 12),
        ("nested_irq", "irq_log", 16),
        ("pendsv", "counters", 12),
        ("busfault", "fault_results", 16),
        ("hardfault", "fault_results", 16),
        ("compute", "compute_results", 8),
    ] {
        let (path, _) = elf_bytes(program);
        let image = load_file(&path, None).unwrap();
        let sym = image
            .symbols
            .by_name(object)
            .unwrap_or_else(|| panic!("{program}: no symbol {object}"));
        assert_eq!(sym.kind, SymbolKind::Object, "{program}: {object}");
        assert_eq!(sym.size, size, "{program}: {object}");
        assert!(
            (0x2000_0000..0x2002_0000).contains(&sym.addr),
            "{program}: {object} at {:#x}",
            sym.addr
        );
        assert_eq!(image.symbols.lookup(sym.addr + 4), Some((object, 4)));
    }
}

#[test]
fn elf_data_is_loaded_at_its_flash_lma() {
    let (path, _) = elf_bytes("data_init");
    let image = load_file(&path, None).unwrap();
    let init = image.symbols.by_name("init_words").unwrap();
    assert_eq!(init.addr, 0x2000_0000);
    // nothing is loaded in SRAM: .data goes to its LMA, .bss is not loaded
    assert!(image.segments.iter().all(|s| s.addr < 0x2000_0000));
    let pattern = [0x0D, 0xF0, 0xFE, 0xCA, 0x78, 0x56, 0x34, 0x12];
    let found = image
        .segments
        .iter()
        .any(|s| s.addr >= 0x0800_0000 && s.data.windows(pattern.len()).any(|w| w == pattern));
    assert!(found, "the .data image is in flash");
    // and it is exactly 8 bytes: the .bss tail of that segment is not zero-filled in flash
    let data_seg = image
        .segments
        .iter()
        .find(|s| s.data.ends_with(&pattern))
        .expect(".data at the end of a flash segment");
    assert!(data_seg.addr >= 0x0800_0000);
}

#[test]
fn elf_ram_segment_tail_is_zero_filled() {
    let elf = synth_elf(
        1,
        1,
        40,
        &[
            (
                0x0800_0000,
                0x0800_0000,
                vectors(0x2002_0000, 0x0800_0009),
                12,
            ),
            (0x2000_0000, 0x2000_0000, vec![1, 2, 3, 4], 16),
            // in flash, memsz > filesz: NOT zero-filled
            (0x0800_1000, 0x0800_1000, vec![9; 4], 64),
        ],
    );
    let image = load_bytes(Path::new("synth.elf"), &elf, Format::Elf, None).unwrap();
    image.validate(PYBOARD_REGIONS).unwrap();
    assert_eq!(image.entry, Some(0x0800_0009));
    assert!(image.symbols.is_empty());
    assert_eq!(
        image.segments[1],
        Segment {
            addr: 0x0800_1000,
            data: vec![9; 4]
        }
    );
    assert_eq!(
        image.segments[2],
        Segment {
            addr: 0x2000_0000,
            data: [vec![1, 2, 3, 4], vec![0; 12]].concat()
        }
    );
}

#[test]
fn elf_errors() {
    let ok = synth_elf(
        1,
        1,
        40,
        &[(
            0x0800_0000,
            0x0800_0000,
            vectors(0x2002_0000, 0x0800_0009),
            12,
        )],
    );
    let load = |bytes: &[u8]| load_bytes(Path::new("fw.elf"), bytes, Format::Elf, None);
    assert!(load(&ok).is_ok());

    assert_eq!(
        err_text(load(b"\x7fELX whatever")),
        "fw.elf: not an ELF file (wrong magic)"
    );
    assert_eq!(err_text(load(&ok[..30])), "fw.elf: truncated ELF header");
    assert_eq!(
        err_text(load(&ok[..60])),
        "fw.elf: truncated program header table"
    );
    assert!(err_text(load(&ok[..90])).starts_with("fw.elf: truncated: segment 0"));

    let mut elf64 = ok.clone();
    elf64[4] = 2;
    assert!(err_text(load(&elf64)).contains("64-bit ELF"));
    let mut big = ok.clone();
    big[5] = 2;
    assert!(err_text(load(&big)).contains("big-endian ELF"));
    let x86 = synth_elf(1, 1, 3, &[(0x0800_0000, 0x0800_0000, vec![0; 8], 8)]);
    assert!(err_text(load(&x86)).contains("not ARM"));
    let mut rel = ok.clone();
    rel[16] = 1; // ET_REL
    assert!(err_text(load(&rel)).contains("relocatable"));

    // a RAM segment whose zero-filled tail runs out of SRAM
    let huge = synth_elf(1, 1, 40, &[(0x2001_FFF0, 0x2001_FFF0, vec![1; 4], 0x100)]);
    assert_eq!(
        err_text(load(&huge)),
        "fw.elf: segment 0x2001_FFF0..0x2002_00F0 lies outside flash, SRAM and CCM RAM"
    );

    // a real ELF cut before its section headers
    let (_, real) = elf_bytes("fpu");
    let cut = load_bytes(
        Path::new("fpu.elf"),
        &real[..real.len() - 100],
        Format::Elf,
        None,
    );
    assert_eq!(err_text(cut), "fpu.elf: truncated section header table");
}

#[test]
fn elf_outside_memory_and_vector_table_checks() {
    let outside = synth_elf(
        1,
        1,
        40,
        &[
            (
                0x0800_0000,
                0x0800_0000,
                vectors(0x2002_0000, 0x0800_0009),
                12,
            ),
            (0x6000_0000, 0x6000_0000, vec![1; 16], 16),
        ],
    );
    let image = load_bytes(Path::new("fw.elf"), &outside, Format::Elf, None).unwrap();
    assert_eq!(
        err_text(image.validate(PYBOARD_REGIONS)),
        "fw.elf: segment 0x6000_0000..0x6000_0010 lies outside flash, SRAM and CCM RAM"
    );

    let even = synth_elf(
        1,
        1,
        40,
        &[(
            0x0800_0000,
            0x0800_0000,
            vectors(0x2002_0000, 0x0800_0008),
            12,
        )],
    );
    let image = load_bytes(Path::new("fw.elf"), &even, Format::Elf, None).unwrap();
    assert_eq!(
        err_text(image.validate(PYBOARD_REGIONS)),
        "fw.elf: no vector table at 0x0800_0000: reset vector 0x0800_0008 is even (not a Thumb address)"
    );

    let ram_reset = synth_elf(
        1,
        1,
        40,
        &[(
            0x0800_0000,
            0x0800_0000,
            vectors(0x1001_0000, 0x2000_0001),
            12,
        )],
    );
    let image = load_bytes(Path::new("fw.elf"), &ram_reset, Format::Elf, None).unwrap();
    assert_eq!(
        err_text(image.validate(PYBOARD_REGIONS)),
        "fw.elf: no vector table at 0x0800_0000: reset vector 0x2000_0001 is not in flash"
    );

    // only RAM: nothing at the boot address
    let ram_only = synth_elf(1, 1, 40, &[(0x2000_0000, 0x2000_0000, vec![1; 16], 16)]);
    let image = load_bytes(Path::new("fw.elf"), &ram_only, Format::Elf, None).unwrap();
    image.check_layout(PYBOARD_REGIONS).unwrap();
    assert!(err_text(image.validate(PYBOARD_REGIONS))
        .starts_with("fw.elf: no vector table at 0x0800_0000: nothing is loaded there"));

    // a table at the 0x0 alias is accepted when the caller maps it
    let alias = synth_elf(1, 1, 40, &[(0, 0, vectors(0x2002_0000, 0x0000_0009), 12)]);
    let image = load_bytes(Path::new("fw.elf"), &alias, Format::Elf, None).unwrap();
    let regions = [
        LoadRegion {
            name: "flash alias",
            start: 0,
            len: 1 << 20,
        },
        PYBOARD_REGIONS[0],
        PYBOARD_REGIONS[1],
    ];
    image.validate(&regions).unwrap();
}

// ---------------------------------------------------------------------------------------
// BIN

#[test]
fn bin_loads_at_base_and_checks_vector_table() {
    let (path, _) = elf_bytes("fpu");
    let elf = load_file(&path, None).unwrap();
    assert_eq!(elf.segments.len(), 1);
    let flat = elf.segments[0].data.clone();

    let bin = write_tmp("fw.bin", &flat);
    let image = load_file(&bin, None).unwrap();
    assert_eq!(image.format, Format::Bin);
    assert_eq!(image.segments, elf.segments);
    assert_eq!(image.entry, None);
    image.validate(PYBOARD_REGIONS).unwrap();

    // explicit base
    let image = load_file(&bin, Some(0x0802_0000)).unwrap();
    assert_eq!(image.segments[0].addr, 0x0802_0000);

    // erased flash: no vector table
    let erased = load_bytes(Path::new("fw.bin"), &[0xFF; 64], Format::Bin, None).unwrap();
    assert_eq!(
        err_text(erased.validate(PYBOARD_REGIONS)),
        "fw.bin: no vector table at 0x0800_0000: initial SP 0xFFFF_FFFF is not in RAM"
    );
    // outside memory
    let high = load_bytes(
        Path::new("fw.bin"),
        &[0; 0x100],
        Format::Bin,
        Some(0x2002_0000),
    )
    .unwrap();
    assert_eq!(
        err_text(high.validate(PYBOARD_REGIONS)),
        "fw.bin: segment 0x2002_0000..0x2002_0100 lies outside flash, SRAM and CCM RAM"
    );
    // runs past 4 GiB
    assert!(err_text(load_bytes(
        Path::new("fw.bin"),
        &[0; 16],
        Format::Bin,
        Some(0xFFFF_FFF8)
    ))
    .contains("32-bit address space"));
    assert_eq!(
        err_text(load_bytes(Path::new("fw.bin"), &[], Format::Bin, None)),
        "fw.bin: no data to load"
    );
}

#[test]
fn two_bin_parts_merge_and_overlaps_are_rejected() {
    let mut part0 = vectors(0x2002_0000, 0x0800_0009);
    part0.resize(0x400, 0xFF);
    let part1 = vec![0xAB; 0x300];
    let p0 = write_tmp("fw_0x08000000.bin", &part0);
    let p1 = write_tmp("fw_0x08020000.bin", &part1);
    let image = load_files(&[(p0.clone(), None), (p1.clone(), Some(0x0802_0000))]).unwrap();
    assert_eq!(image.segments.len(), 2);
    assert_eq!(image.segments[1].addr, 0x0802_0000);
    assert_eq!(image.path, p0);
    image.validate(PYBOARD_REGIONS).unwrap();
    assert_eq!(image.read_u32(0x0802_0010), Some(0xABAB_ABAB));

    let clash = load_files(&[(p0.clone(), None), (p1.clone(), Some(0x0800_0200))]);
    let text = err_text(clash);
    assert!(
        text.starts_with(&format!(
            "{}: segment 0x0800_0200..0x0800_0500 overlaps segment 0x0800_0000..0x0800_0400 of {}",
            p1.display(),
            p0.display()
        )),
        "{text}"
    );
    assert_eq!(err_text(load_files(&[])), "no firmware file given");

    let missing = tmp_path("missing.bin");
    assert!(err_text(load_file(&missing, None)).starts_with(&missing.display().to_string()));
}

// ---------------------------------------------------------------------------------------
// Intel HEX

#[test]
fn hex_round_trips_an_elf_image() {
    for program in ["fpu", "data_init", "compute"] {
        let (path, _) = elf_bytes(program);
        let elf = load_file(&path, None).unwrap();
        let text = to_hex(&elf.segments, elf.entry);
        let hex = write_tmp(&format!("{program}.hex"), text.as_bytes());
        let image = load_file(&hex, None).unwrap();
        assert_eq!(image.format, Format::Hex);
        // adjacent segments are coalesced; compare the byte maps
        let flatten = |segs: &[Segment]| -> Vec<(u32, u8)> {
            segs.iter()
                .flat_map(|s| {
                    s.data
                        .iter()
                        .enumerate()
                        .map(move |(i, &b)| (s.addr + i as u32, b))
                })
                .collect()
        };
        assert_eq!(
            flatten(&image.segments),
            flatten(&elf.segments),
            "{program}"
        );
        assert_eq!(image.entry, elf.entry);
        image.validate(PYBOARD_REGIONS).unwrap();
    }
}

#[test]
fn hex_record_types() {
    // 02 extended segment address, 03 start segment address, CRLF line ends, blank lines
    let text =
        ":020000021000EC\r\n:0400100001020304E2\r\n\r\n:0400000300120034B3\r\n:00000001FF\r\n";
    let image = load_bytes(Path::new("seg.hex"), text.as_bytes(), Format::Hex, None).unwrap();
    assert_eq!(
        image.segments,
        vec![Segment {
            addr: 0x1_0010,
            data: vec![1, 2, 3, 4]
        }]
    );
    assert_eq!(image.entry, Some(0x0012 * 16 + 0x0034));
}

#[test]
fn hex_errors_name_the_line() {
    let segs = vec![Segment {
        addr: 0x0800_0000,
        data: (0..64).collect(),
    }];
    let good = to_hex(&segs, Some(0x0800_0009));
    let lines: Vec<&str> = good.lines().collect();
    let load = |text: &str| {
        load_bytes(
            Path::new("firmware.hex"),
            text.as_bytes(),
            Format::Hex,
            None,
        )
    };
    assert!(load(&good).is_ok());

    // checksum: flip the checksum of line 3
    let mut bad: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let l = bad[2].clone();
    let last = u8::from_str_radix(&l[l.len() - 2..], 16).unwrap();
    bad[2] = format!("{}{:02X}", &l[..l.len() - 2], last ^ 0x55);
    let text = err_text(load(&bad.join("\n")));
    assert!(
        text.starts_with("firmware.hex: line 3: checksum mismatch"),
        "{text}"
    );

    // no EOF record
    let truncated = lines[..lines.len() - 1].join("\n");
    assert_eq!(
        err_text(load(&truncated)),
        format!(
            "firmware.hex: line {}: no end-of-file record (:00000001FF): truncated file?",
            lines.len() - 1
        )
    );
    // a record cut in the middle
    let cut = &good[..good.len() / 2];
    assert!(err_text(load(cut)).starts_with("firmware.hex: line "));
    // garbage characters
    assert_eq!(
        err_text(load(":10zz\n")),
        "firmware.hex: line 1: bad record: characters other than hex digits"
    );
    assert_eq!(
        err_text(load("\n\nhello\n")),
        "firmware.hex: line 3: bad record: no ':' start code"
    );
    // unknown record type 06
    assert_eq!(
        err_text(load(":00000006FA\n:00000001FF\n")),
        "firmware.hex: line 1: unknown record type 06"
    );
    // data after EOF
    assert!(err_text(load(":00000001FF\n:00000001FF\n"))
        .contains("line 2: data after the end-of-file record"));
    // overlapping records
    let overlap = ":0400000001020304F2\n:0400020005060708E0\n:00000001FF\n";
    assert!(err_text(load(overlap))
        .starts_with("firmware.hex: line 2: data at 0x0000_0002..0x0000_0006 overlaps"),);
    // empty (only EOF)
    assert_eq!(
        err_text(load(":00000001FF\n")),
        "firmware.hex: no data to load"
    );
    // data past 4 GiB
    let wrap = ":02000004FFFFFC\n:04FFFE0001020304F5\n:00000001FF\n";
    assert!(err_text(load(wrap)).contains("line 2: data at 0xFFFF_FFFE runs past"));
}

// ---------------------------------------------------------------------------------------
// DfuSe

#[test]
fn dfuse_crc_matches_the_reference_tool() {
    // The same file as ST's/dfu-util's dfuse-pack.py builds for one element of bytes 1..8
    // at 0x0800_0000, VID:PID 0483:DF11, target name "ST...": 317 bytes, dwCRC =
    // ~zlib.crc32(file[:-4]) = 0x8594E0A9 (computed with Python's zlib).
    let file = dfuse::build(
        &[dfuse::Target {
            alt: 0,
            name: Some("ST...".to_string()),
            elements: vec![dfuse::Element {
                addr: 0x0800_0000,
                data: vec![1, 2, 3, 4, 5, 6, 7, 8],
            }],
        }],
        0x0483,
        0xDF11,
    );
    assert_eq!(file.len(), 317);
    assert_eq!(&file[313..], &0x8594_E0A9u32.to_le_bytes());
    assert_eq!(&file[..5], b"DfuSe");
    assert_eq!(&file[file.len() - 8..file.len() - 5], b"UFD");
}

#[test]
fn dfuse_loads_several_targets_and_elements() {
    let (path, _) = elf_bytes("data_init");
    let elf = load_file(&path, None).unwrap();
    let mut elements: Vec<dfuse::Element> = elf
        .segments
        .iter()
        .map(|s| dfuse::Element {
            addr: s.addr,
            data: s.data.clone(),
        })
        .collect();
    let extra = dfuse::Element {
        addr: 0x0808_0000,
        data: vec![0x5A; 100],
    };
    let ccm = dfuse::Element {
        addr: 0x1000_0000,
        data: vec![0x11; 8],
    };
    elements.push(extra.clone());
    let targets = vec![
        dfuse::Target {
            alt: 0,
            name: Some("Internal Flash".to_string()),
            elements,
        },
        dfuse::Target {
            alt: 1,
            name: None,
            elements: vec![ccm.clone()],
        },
    ];
    let bytes = dfuse::build(&targets, 0x0483, 0xDF11);
    let parsed = dfuse::parse_targets("fw.dfu", &bytes).unwrap();
    assert_eq!(parsed, targets);

    let file = write_tmp("fw.dfu", &bytes);
    let image = load_file(&file, None).unwrap();
    assert_eq!(image.format, Format::Dfu);
    image.validate(PYBOARD_REGIONS).unwrap();
    let mut expected = elf.segments.clone();
    expected.push(Segment {
        addr: ccm.addr,
        data: ccm.data,
    });
    expected.push(Segment {
        addr: extra.addr,
        data: extra.data,
    });
    expected.sort_by_key(|s| s.addr);
    assert_eq!(image.segments, expected);

    // format from content even with another extension
    let renamed = write_tmp("firmware.img", &bytes);
    assert_eq!(load_file(&renamed, None).unwrap().format, Format::Dfu);
}

#[test]
fn dfuse_errors() {
    let one = |addr: u32, data: Vec<u8>| {
        dfuse::build(
            &[dfuse::Target {
                alt: 0,
                name: Some("Internal Flash".to_string()),
                elements: vec![dfuse::Element { addr, data }],
            }],
            0x0483,
            0xDF11,
        )
    };
    let good = one(0x0800_0000, vectors(0x2002_0000, 0x0800_0009));
    let load = |b: &[u8]| load_bytes(Path::new("fw.dfu"), b, Format::Dfu, None);
    load(&good).unwrap().validate(PYBOARD_REGIONS).unwrap();

    // bad CRC: one data byte flipped
    let mut flipped = good.clone();
    flipped[300] ^= 1;
    let stored = u32::from_le_bytes(good[good.len() - 4..].try_into().unwrap());
    let computed = !loader::crc32(&flipped[..flipped.len() - 4]);
    assert_eq!(
        err_text(load(&flipped)),
        format!("fw.dfu: bad CRC (file says {stored:#010x}, computed {computed:#010x})")
    );
    // wrong magic
    let mut magic = good.clone();
    magic[0] = b'X';
    assert_eq!(
        err_text(load(&magic)),
        "fw.dfu: not a DfuSe file (wrong magic: no \"DfuSe\" prefix)"
    );
    // truncated: the suffix is gone
    assert!(err_text(load(&good[..good.len() - 3])).contains("no DFU suffix"));
    assert!(err_text(load(&good[..20])).starts_with("fw.dfu: truncated"));
    // bcdDFU
    let mut bcd = good.clone();
    let n = bcd.len();
    bcd[n - 10] = 0x00;
    bcd[n - 9] = 0x01;
    fix_dfu_crc(&mut bcd);
    assert!(err_text(load(&bcd)).contains("bcdDFU 0x0100"));
    // "Target" signature
    let mut target = good.clone();
    target[11] = b't';
    fix_dfu_crc(&mut target);
    assert_eq!(
        err_text(load(&target)),
        "fw.dfu: target 0: no \"Target\" signature"
    );
    // version
    let mut version = good.clone();
    version[5] = 2;
    fix_dfu_crc(&mut version);
    assert_eq!(
        err_text(load(&version)),
        "fw.dfu: DfuSe version 2 (expected 1)"
    );
    // element size larger than the file (CRC fixed so the structure is what fails)
    let mut big = good.clone();
    big[11 + 274 + 4..11 + 274 + 8].copy_from_slice(&0x1000_0000u32.to_le_bytes());
    fix_dfu_crc(&mut big);
    assert_eq!(err_text(load(&big)), "fw.dfu: truncated target 0 element 0");
    // target size field disagrees with its elements
    let mut size = good.clone();
    size[11 + 266] ^= 4;
    fix_dfu_crc(&mut size);
    assert!(err_text(load(&size)).contains("prefix says"));
    // an element outside memory
    let outside = one(0x6000_0000, vec![0; 32]);
    let image = load(&outside).unwrap();
    assert_eq!(
        err_text(image.validate(PYBOARD_REGIONS)),
        "fw.dfu: segment 0x6000_0000..0x6000_0020 lies outside flash, SRAM and CCM RAM"
    );
}

// ---------------------------------------------------------------------------------------
// format detection

#[test]
fn formats_are_detected_from_content_and_extension() {
    let (elf_path, elf) = elf_bytes("fpu");
    let renamed = write_tmp("fpu.bin", &elf); // ELF content beats the .bin extension
    assert_eq!(load_file(&renamed, None).unwrap().format, Format::Elf);
    assert_eq!(load_file(&elf_path, None).unwrap().format, Format::Elf);

    let hex = write_tmp("noext", b":0400000001020304F2\n:00000001FF\n");
    assert_eq!(load_file(&hex, None).unwrap().format, Format::Hex);
    let with_base = write_tmp("image.raw", &[1, 2, 3, 4]);
    assert_eq!(
        load_file(&with_base, Some(0x0800_0000)).unwrap().format,
        Format::Bin
    );
    let unknown = write_tmp("image.raw", &[1, 2, 3, 4]);
    assert!(err_text(load_file(&unknown, None)).contains("cannot tell the firmware format"));
    let not_dfu = write_tmp("fw.dfu", b"hello world, this is not a dfu file");
    assert!(err_text(load_file(&not_dfu, None)).contains("wrong magic"));
    let not_elf = write_tmp("fw.elf", b"hello");
    assert!(err_text(load_file(&not_elf, None)).contains("not an ELF file"));
}

// ---------------------------------------------------------------------------------------
// robustness: nothing panics

#[test]
fn every_truncation_of_every_format_is_handled() {
    let (_, elf) = elf_bytes("data_init");
    let image = load_bytes(Path::new("x.elf"), &elf, Format::Elf, None).unwrap();
    let hex = to_hex(&image.segments, image.entry).into_bytes();
    let dfu = dfuse::build(
        &[dfuse::Target {
            alt: 0,
            name: Some("Internal Flash".to_string()),
            elements: image
                .segments
                .iter()
                .map(|s| dfuse::Element {
                    addr: s.addr,
                    data: s.data.clone(),
                })
                .collect(),
        }],
        0x0483,
        0xDF11,
    );
    for (name, bytes, format) in [
        ("x.elf", &elf, Format::Elf),
        ("x.hex", &hex, Format::Hex),
        ("x.dfu", &dfu, Format::Dfu),
    ] {
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            try_everything(name, cut);
            // a strict prefix of a valid ELF / DfuSe file is always an error
            if format != Format::Hex {
                assert!(
                    load_bytes(Path::new(name), cut, format, None).is_err(),
                    "{name} cut at {len} loaded"
                );
            }
        }
    }
}

#[test]
fn random_garbage_and_mutations_never_panic() {
    // PYBSIM_FUZZ_ITERS scales the rounds (default 4000) for a longer run by hand.
    let iters: usize = std::env::var("PYBSIM_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    // pure garbage, with and without each format's magic
    for i in 0..iters {
        let len = (rng.next() % 600) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        match i % 4 {
            1 if len >= 4 => bytes[..4].copy_from_slice(b"\x7fELF"),
            2 if len >= 5 => bytes[..5].copy_from_slice(b"DfuSe"),
            3 => {
                // hex-looking text
                bytes = bytes
                    .iter()
                    .map(|b| b":0123456789ABCDEF\n"[(*b as usize) % 18])
                    .collect();
            }
            _ => {}
        }
        if i % 8 == 1 && len >= 6 {
            bytes[4] = 1; // ELFCLASS32
            bytes[5] = 1; // little-endian
        }
        try_everything("garbage", &bytes);
    }

    // mutations of valid files, concentrated on the headers
    let (_, elf) = elf_bytes("pendsv");
    let dfu = dfuse::build(
        &[dfuse::Target {
            alt: 0,
            name: None,
            elements: vec![
                dfuse::Element {
                    addr: 0x0800_0000,
                    data: vectors(0x2002_0000, 0x0800_0009),
                },
                dfuse::Element {
                    addr: 0x2000_0000,
                    data: vec![7; 40],
                },
            ],
        }],
        0x0483,
        0xDF11,
    );
    let shoff = u32::from_le_bytes(elf[32..36].try_into().unwrap()) as usize;
    for _ in 0..iters {
        let mut m = elf.clone();
        for _ in 0..1 + rng.next() % 4 {
            let r = rng.next() as usize;
            let at = match r % 4 {
                0 => r / 4 % 52,                        // ELF header
                1 => 52 + r / 4 % 64,                   // program headers
                2 => shoff + r / 4 % (m.len() - shoff), // section headers
                _ => r / 4 % m.len(),                   // anywhere (symbols, strings)
            };
            m[at] = rng.next() as u8;
        }
        try_everything("mutant.elf", &m);
    }
    let hex = to_hex(
        &load_bytes(Path::new("x.elf"), &elf, Format::Elf, None)
            .unwrap()
            .segments,
        Some(0x0800_0009),
    )
    .into_bytes();
    for _ in 0..iters {
        let mut m = hex.clone();
        for _ in 0..1 + rng.next() % 3 {
            let at = (rng.next() as usize) % m.len();
            m[at] = b":0123456789ABCDEFxF\n\r"[(rng.next() % 21) as usize];
        }
        try_everything("mutant.hex", &m);
    }
    for _ in 0..iters {
        let mut m = dfu.clone();
        for _ in 0..1 + rng.next() % 3 {
            let at = (rng.next() as usize) % m.len();
            m[at] = rng.next() as u8;
        }
        fix_dfu_crc(&mut m);
        try_everything("mutant.dfu", &m);
    }
}

#[test]
fn image_helpers() {
    let (path, _) = elf_bytes("fpu");
    let image: Image = load_file(&path, None).unwrap();
    assert!(image.size() > 0x188);
    let reset = image.symbols.by_name("Reset_Handler").unwrap().addr;
    assert_eq!(image.read_u32(0x0800_0004), Some(reset | 1));
    assert_eq!(image.read_u32(0x0700_0000), None);
    assert_eq!(image.read(0x0800_0000, u32::MAX), None);
}
