use std::fs;
use std::path::PathBuf;

use pybsim_fsimage::{
    build_image, check_name, empty_image, list_files, FsImageError, BLOCK_COUNT, BLOCK_SIZE,
    DATA_CAPACITY, IMAGE_SIZE, VOLUME_ID,
};

/// A fresh, empty scratch directory under cargo's per-target temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("fsimage-tests")
        .join(name);
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn sample_tree(name: &str) -> PathBuf {
    let dir = scratch(name);
    fs::write(dir.join("main.py"), b"import pyb\npyb.LED(1).on()\n").unwrap();
    fs::write(dir.join("boot.py"), b"# boot.py\n").unwrap();
    fs::write(dir.join("a long file name.txt"), b"lfn").unwrap();
    fs::write(dir.join("empty"), b"").unwrap();
    fs::create_dir_all(dir.join("lib/pkg")).unwrap();
    fs::write(dir.join("lib/util.py"), b"def f():\n    return 1\n").unwrap();
    let big: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(dir.join("lib/pkg/data.bin"), &big).unwrap();
    dir
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

#[test]
fn round_trip() {
    let dir = sample_tree("round_trip");
    let image = build_image(&dir).unwrap();
    assert_eq!(image.len(), IMAGE_SIZE);
    assert_eq!(IMAGE_SIZE, 114_688);
    let files = list_files(&image).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "a long file name.txt",
            "boot.py",
            "empty",
            "lib/pkg/data.bin",
            "lib/util.py",
            "main.py"
        ]
    );
    for (name, data) in &files {
        assert_eq!(data, &fs::read(dir.join(name)).unwrap(), "{name}");
    }
}

#[test]
fn deterministic() {
    let dir = sample_tree("deterministic");
    let a = build_image(&dir).unwrap();
    let b = build_image(&dir).unwrap();
    assert!(a == b, "two builds of the same tree differ");
    // The same tree written elsewhere (other inode order, other mtimes) gives the same bytes.
    let dir2 = sample_tree("deterministic2");
    assert!(build_image(&dir2).unwrap() == a);
}

#[test]
fn fixed_timestamps_on_every_entry() {
    let dir = sample_tree("timestamps");
    let image = build_image(&dir).unwrap();
    // Root directory: after boot sector and the single FAT sector, 32 sectors.
    let root = &image[2 * BLOCK_SIZE..34 * BLOCK_SIZE];
    let date_2000_01_01: u16 = (20 << 9) | (1 << 5) | 1;
    let mut seen = 0;
    for e in root.chunks(32) {
        if e[0] == 0 {
            break;
        }
        let attr = e[11];
        if e[0] == 0xE5 || attr == 0x0F || attr & 0x08 != 0 {
            continue; // deleted, long-name part or the volume label
        }
        seen += 1;
        assert_eq!(le16(e, 14), 0, "create time");
        assert_eq!(le16(e, 16), date_2000_01_01, "create date");
        assert_eq!(le16(e, 18), date_2000_01_01, "access date");
        assert_eq!(le16(e, 22), 0, "write time");
        assert_eq!(le16(e, 24), date_2000_01_01, "write date");
    }
    assert_eq!(seen, 5);
}

/// The boot sector passes the checks oofatfs (FatFs R0.13) makes in find_volume().
#[test]
fn boot_sector_is_what_fatfs_mounts() {
    let image = empty_image().unwrap();
    let bs = &image[..512];
    assert_eq!(&bs[510..512], &[0x55, 0xAA]);
    assert!(bs[0] == 0xE9 || (bs[0] == 0xEB && bs[2] == 0x90));
    assert_eq!(&bs[54..59], b"FAT12");
    assert_eq!(le16(bs, 11), 512, "bytes per sector");
    let csize = bs[13];
    assert_eq!(csize, 1, "sectors per cluster");
    let nrsv = le16(bs, 14);
    assert!(nrsv >= 1);
    let nfats = bs[16];
    assert_eq!(nfats, 1);
    let nrootdir = le16(bs, 17);
    assert_eq!(nrootdir, 512);
    assert_eq!(nrootdir % 16, 0);
    let tsect = le16(bs, 19) as u32;
    assert_eq!(tsect, BLOCK_COUNT as u32);
    let fsize = le16(bs, 22) as u32;
    let sysect = nrsv as u32 + fsize * nfats as u32 + nrootdir as u32 / 16;
    let nclst = (tsect - sysect) / csize as u32;
    assert!(nclst > 0 && nclst <= 0xFF5, "FAT12 cluster count");
    let n_fatent = nclst + 2;
    let szbfat = n_fatent * 3 / 2 + (n_fatent & 1);
    assert!(fsize >= szbfat.div_ceil(512));
    assert_eq!(nclst as u64 * 512, DATA_CAPACITY);
    assert_eq!(
        u32::from_le_bytes([bs[39], bs[40], bs[41], bs[42]]),
        VOLUME_ID
    );
    assert_eq!(&bs[43..54], b"PYBFLASH   ");
    // The volume label entry in the root directory, as f_setlabel writes it.
    let root = &image[(nrsv as usize + fsize as usize) * 512..];
    assert_eq!(&root[..11], b"PYBFLASH   ");
    assert_eq!(root[11], 0x08);
}

#[test]
fn empty_directory_gives_an_empty_volume() {
    let dir = scratch("empty_dir");
    let image = build_image(&dir).unwrap();
    assert_eq!(image, empty_image().unwrap());
    assert!(list_files(&image).unwrap().is_empty());
}

#[test]
fn too_big_file_is_named() {
    let dir = scratch("too_big");
    let path = dir.join("huge.bin");
    fs::write(&path, vec![0u8; 112 * 1024]).unwrap();
    let err = build_image(&dir).unwrap_err();
    match &err {
        FsImageError::FileTooBig { path: p, size, .. } => {
            assert_eq!(p, &path);
            assert_eq!(*size, 112 * 1024);
        }
        other => panic!("unexpected error {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("huge.bin"), "{msg}");
    assert!(!msg.contains('\n'));
}

#[test]
fn files_that_add_up_to_too_much_fill_the_image() {
    let dir = scratch("full");
    for i in 0..4 {
        fs::write(dir.join(format!("part{i}.bin")), vec![i as u8; 30_000]).unwrap();
    }
    let err = build_image(&dir).unwrap_err();
    assert!(
        matches!(&err, FsImageError::ImageFull { path } if path.ends_with("part3.bin")),
        "{err:?}"
    );
}

#[test]
fn missing_directory_is_named() {
    let dir = scratch("missing").join("not-there");
    let err = build_image(&dir).unwrap_err();
    assert!(matches!(&err, FsImageError::DirectoryMissing { path } if *path == dir));
    assert!(err.to_string().contains("not-there"));
}

#[test]
fn a_file_is_not_a_directory() {
    let dir = scratch("not_dir");
    let file = dir.join("f.py");
    fs::write(&file, b"").unwrap();
    let err = build_image(&file).unwrap_err();
    assert!(matches!(err, FsImageError::NotADirectory { .. }));
}

#[test]
fn names_fat_cannot_hold() {
    for bad in [
        "a:b.py",
        "what?.py",
        "star*",
        "quote\"",
        "lt<",
        "pipe|",
        "trailing.",
    ] {
        let dir = scratch("bad_name");
        let path = dir.join(bad);
        fs::write(&path, b"x").unwrap();
        let err = build_image(&dir).unwrap_err();
        match &err {
            FsImageError::BadName { path: p, .. } => assert_eq!(p, &path),
            other => panic!("{bad}: unexpected error {other:?}"),
        }
        assert!(err.to_string().contains(bad), "{err}");
    }
    assert!(check_name("main.py").is_ok());
    assert!(check_name("Grüße.txt").is_ok());
    assert!(check_name(&"x".repeat(256)).is_err());
}

#[test]
fn case_insensitive_clash() {
    let dir = scratch("clash");
    fs::write(dir.join("Main.py"), b"1").unwrap();
    fs::write(dir.join("main.py"), b"2").unwrap();
    let err = build_image(&dir).unwrap_err();
    assert!(matches!(err, FsImageError::NameClash { .. }), "{err:?}");
}

#[test]
fn list_files_rejects_wrong_size_and_garbage() {
    assert!(matches!(
        list_files(&[0u8; 100]),
        Err(FsImageError::BadImageSize { len: 100 })
    ));
    let err = list_files(&vec![0xFFu8; IMAGE_SIZE]).unwrap_err();
    assert!(matches!(err, FsImageError::BadImage { .. }), "{err:?}");
    let err = list_files(&vec![0u8; IMAGE_SIZE]).unwrap_err();
    assert!(matches!(err, FsImageError::BadImage { .. }), "{err:?}");
}

/// Damaged images (random bytes written over the boot sector, the FAT and the
/// directories) give errors or wrong data, never a panic or a hang.
#[test]
fn damaged_images_do_not_panic() {
    let dir = scratch("damaged");
    fs::create_dir_all(dir.join("lib/deeper")).unwrap();
    fs::write(dir.join("main.py"), vec![1u8; 3000]).unwrap();
    fs::write(dir.join("lib/x.py"), vec![2u8; 3000]).unwrap();
    fs::write(dir.join("lib/deeper/a long name.py"), vec![3u8; 700]).unwrap();
    let base = build_image(&dir).unwrap();
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let mut img = base.clone();
        for _ in 0..1 + rnd() % 8 {
            let off = match rnd() % 3 {
                0 => rnd() % 64,
                1 => 512 + rnd() % 512,
                _ => 1024 + rnd() % (32 * 512 + 4096),
            } as usize;
            img[off] = rnd() as u8;
        }
        let _ = list_files(&img);
    }
}
