//! Firmware files that are not plain files, far too big, or built to blow memory up, and
//! firmware arguments with commas and `@` in them (issue 17).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use pybsim::loader::{self, load_bytes, load_file, Format, LoadError};

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("loader-inputs")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `f` on another thread and fails (instead of hanging the run) if it has not
/// returned within 20 s.
fn within_20s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} did not return within 20 s"))
}

fn load_error(path: &Path, base: Option<u32>) -> String {
    let p = path.to_path_buf();
    let r = within_20s("load_file", move || {
        load_file(&p, base).map(|_| ()).map_err(|e| e.to_string())
    });
    let msg = r.expect_err("must be refused");
    assert!(!msg.contains('\n'), "{msg}");
    msg
}

fn sparse(path: &Path, len: u64) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let d = dir("fifo");
    let fifo = d.join("fw.elf");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let msg = load_error(&fifo, None);
    assert!(msg.contains("fw.elf") && msg.contains("FIFO"), "{msg}");
}

#[test]
fn a_device_or_directory_is_refused() {
    let msg = load_error(Path::new("/dev/zero"), Some(0x0800_0000));
    assert!(
        msg.contains("/dev/zero") && msg.contains("character device"),
        "{msg}"
    );
    let msg = load_error(&dir("dir.bin"), None);
    assert!(msg.contains("a directory"), "{msg}");
}

#[test]
fn each_format_has_a_size_limit_checked_before_reading() {
    let d = dir("big");
    for (name, limit, words) in [
        ("fw.bin", 1u64 << 20, "1 MiB"),
        ("fw.hex", 8 << 20, "8 MiB"),
        ("fw.dfu", 4 << 20, "4 MiB"),
        ("fw.elf", 64 << 20, "64 MiB"),
    ] {
        let path = d.join(name);
        sparse(&path, 1 << 30);
        let msg = load_error(&path, None);
        assert!(
            msg.contains(name) && msg.contains("too big") && msg.contains(words),
            "{msg}"
        );
        sparse(&path, limit + 1);
        assert!(load_error(&path, None).contains("too big"), "{name}");
        // At the limit the file is read (and then found wanting, being all zeros; a raw
        // image of zeros is fine).
        sparse(&path, limit);
        if name != "fw.bin" {
            let msg = load_error(&path, None);
            assert!(!msg.contains("too big"), "{msg}");
        }
    }
    // A raw image of exactly the flash loads.
    let path = d.join("full.bin");
    std::fs::write(&path, vec![0xFF; 1 << 20]).unwrap();
    let image = load_file(&path, None).unwrap();
    assert_eq!(image.size(), 1 << 20);
}

#[test]
fn a_symlink_loop_is_named_as_such() {
    let d = dir("loop");
    let a = d.join("a.elf");
    let b = d.join("b.elf");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let msg = load_error(&a, None);
    assert!(
        msg.contains("a.elf") && msg.contains("symbolic link loop"),
        "{msg}"
    );
}

#[test]
fn a_missing_file_is_an_io_error() {
    let d = dir("missing");
    let err = load_file(&d.join("nope.bin"), None).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
}

/// A string table and symbols (st_name, value, size, info).
type SymTable<'a> = (&'a [u8], &'a [(u32, u32, u32, u8)]);

/// An ELF32 ARM executable with `phdrs` = (p_offset, p_paddr, p_filesz, p_memsz) over
/// `data` (placed right after the program headers; offsets count from there), and an
/// optional symbol table `(names, symbols as (st_name, value, size, info))`.
fn elf(phdrs: &[(u32, u32, u32, u32)], data: &[u8], syms: Option<SymTable<'_>>) -> Vec<u8> {
    let phoff = 52u32;
    let data_off = phoff + 32 * phdrs.len() as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"\x7fELF\x01\x01\x01\x00");
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&40u16.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0x0800_0009u32.to_le_bytes());
    out.extend_from_slice(&phoff.to_le_bytes());
    let shoff_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes()); // e_shoff, patched below
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&52u16.to_le_bytes());
    out.extend_from_slice(&32u16.to_le_bytes());
    out.extend_from_slice(&(phdrs.len() as u16).to_le_bytes());
    out.extend_from_slice(&40u16.to_le_bytes());
    let shnum_at = out.len();
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    for &(off, paddr, filesz, memsz) in phdrs {
        for w in [1, data_off + off, paddr, paddr, filesz, memsz, 5, 4] {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out.extend_from_slice(data);
    if let Some((names, symbols)) = syms {
        let strtab_off = out.len() as u32;
        out.extend_from_slice(names);
        let symtab_off = out.len() as u32;
        for &(name, value, size, info) in symbols {
            out.extend_from_slice(&name.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.push(info);
            out.push(0);
            out.extend_from_slice(&1u16.to_le_bytes()); // st_shndx
        }
        let shoff = out.len() as u32;
        // [0] null, [1] strtab, [2] symtab (link 1)
        out.extend_from_slice(&[0; 40]);
        for (kind, off, size, link, entsize) in [
            (3u32, strtab_off, names.len() as u32, 0u32, 0u32),
            (2, symtab_off, 16 * symbols.len() as u32, 1, 16),
        ] {
            for w in [0, kind, 0, 0, off, size, link, 0, 1, entsize] {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out[shoff_at..shoff_at + 4].copy_from_slice(&shoff.to_le_bytes());
        out[shnum_at..shnum_at + 2].copy_from_slice(&3u16.to_le_bytes());
    }
    out
}

fn load_elf(bytes: &[u8]) -> Result<loader::Image, LoadError> {
    load_bytes(Path::new("fw.elf"), bytes, Format::Elf, None)
}

#[test]
fn program_headers_reusing_the_same_bytes_cannot_blow_memory_up() {
    // 4000 segments of the same 64 KiB at different addresses: 250 MiB of copies from a
    // 190 KiB file.
    let data = vec![0xA5; 64 << 10];
    let phdrs: Vec<(u32, u32, u32, u32)> = (0..4000u32)
        .map(|i| (0, 0x0800_0000 + i * 0x1_0000, 64 << 10, 64 << 10))
        .collect();
    let bytes = elf(&phdrs, &data, None);
    let msg = within_20s("load", move || {
        load_elf(&bytes).map(|_| ()).map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(msg.contains("16 MiB"), "{msg}");

    // Zero-filled RAM tails: 4000 x 128 KiB from 4000 one-byte segments.
    let phdrs: Vec<(u32, u32, u32, u32)> = (0..4000u32)
        .map(|_| (0, 0x2000_0000, 1, 128 << 10))
        .collect();
    let bytes = elf(&phdrs, &[1], None);
    let msg = within_20s("load", move || {
        load_elf(&bytes).map(|_| ()).map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(msg.contains("16 MiB"), "{msg}");
}

#[test]
fn symbol_names_sharing_one_long_string_cannot_blow_up() {
    // 40,000 symbols naming offsets 0, 1, 2, ... of one 4 MiB string: each name ~4 MiB,
    // 160 GB of names and 10^11 bytes scanned.
    let mut names = vec![b'x'; 4 << 20];
    names.push(0);
    let syms: Vec<(u32, u32, u32, u8)> = (0..40_000u32)
        .map(|i| (i, 0x0800_0000 + 4 * i, 4, 0x12)) // global FUNC
        .collect();
    let code = vec![0u8; 16];
    let bytes = elf(&[(0, 0x0800_0000, 16, 16)], &code, Some((&names, &syms)));
    let msg = within_20s("load", move || {
        load_elf(&bytes).map(|_| ()).map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(msg.contains("symbol"), "{msg}");

    // Many symbols sharing one name are fine (the name is looked up once).
    let names = b"\0reset_handler\0".to_vec();
    let syms: Vec<(u32, u32, u32, u8)> = (0..20_000u32)
        .map(|i| (1, 0x0800_0000 + 4 * i, 4, 0x12))
        .collect();
    let bytes = elf(&[(0, 0x0800_0000, 16, 16)], &code, Some((&names, &syms)));
    let image = load_elf(&bytes).unwrap();
    assert_eq!(image.symbols.len(), 20_000);
    assert_eq!(
        image.symbols.lookup(0x0800_0004),
        Some(("reset_handler", 0))
    );
}

// ---------------------------------------------------------------------------------------
// firmware arguments: `a.bin,b.bin`, `file@0xADDR`

#[test]
fn firmware_parts_split_at_commas_with_bases() {
    let d = dir("parts");
    let spec = format!("{0}/fw0.bin,{0}/fw1.bin", d.display());
    let parts = loader::firmware_parts(Path::new(&spec)).unwrap();
    assert_eq!(
        parts,
        [
            (d.join("fw0.bin"), Some(0x0800_0000)),
            (d.join("fw1.bin"), Some(0x0802_0000)),
        ]
    );
    let parts = loader::firmware_parts(Path::new("a.bin@0x0804_0000,b.hex")).unwrap();
    assert_eq!(
        parts,
        [
            (PathBuf::from("a.bin"), Some(0x0804_0000)),
            (PathBuf::from("b.hex"), None),
        ]
    );
    assert_eq!(
        loader::firmware_parts(Path::new("fw.elf")).unwrap(),
        [(PathBuf::from("fw.elf"), None)]
    );
    assert!(matches!(
        loader::firmware_parts(Path::new(",")),
        Err(LoadError::NoFiles)
    ));
}

#[test]
fn a_bad_base_is_reported_as_a_bad_base() {
    // It used to become part of the file name: "fw.bin@0x08zz: no such file".
    for (spec, bad) in [
        ("fw.bin@0x08zz", "0x08zz"),
        ("fw.bin@", ""),
        ("fw.bin@0x1_0000_0000", "0x1_0000_0000"),
        ("a.bin,fw.bin@-1", "-1"),
    ] {
        let err = loader::firmware_parts(Path::new(spec)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("bad base address {bad:?}")) && msg.contains("fw.bin"),
            "{spec}: {msg}"
        );
        assert!(!msg.contains("no such file"), "{msg}");
    }
}

#[test]
fn a_file_name_with_a_comma_or_at_sign_can_be_given() {
    let d = dir("comma");
    // A name that exists is taken whole.
    let odd = d.join("fw,v1@2.bin");
    std::fs::write(&odd, [1, 2, 3, 4]).unwrap();
    assert_eq!(
        loader::firmware_parts(&odd).unwrap(),
        [(odd.clone(), Some(0x0800_0000))]
    );
    // As one part of several, escaped with a backslash.
    let other = d.join("fw1.bin");
    let spec = format!(
        "{}\\,v1\\@2.bin,{}",
        d.join("fw").display(),
        other.display()
    );
    assert_eq!(
        loader::firmware_parts(Path::new(&spec)).unwrap(),
        [(odd.clone(), Some(0x0800_0000)), (other, Some(0x0802_0000))]
    );
    // With an explicit base after an escaped name.
    let spec = format!("{}\\,v1\\@2.bin@0x2000_0000", d.join("fw").display());
    assert_eq!(
        loader::firmware_parts(Path::new(&spec)).unwrap(),
        [(odd, Some(0x2000_0000))]
    );
    // `\\` is a backslash.
    assert_eq!(
        loader::firmware_parts(Path::new("a\\\\b.elf")).unwrap(),
        [(PathBuf::from("a\\b.elf"), None)]
    );
}

#[test]
fn file_names_with_control_characters_keep_errors_on_one_line() {
    let d = dir("newline");
    let p = d.join("two\nlines.bin");
    let msg = load_file(&p, None).unwrap_err().to_string();
    assert!(
        !msg.contains('\n') && msg.contains("two\\nlines.bin"),
        "{msg}"
    );
    std::fs::write(&p, [0u8; 4]).unwrap();
    let msg = load_bytes(&p, b"DfuSe", Format::Dfu, None)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(!msg.contains('\n'), "{msg}");
}
