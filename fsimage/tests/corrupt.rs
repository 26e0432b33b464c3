//! Damaged filesystems: whatever bytes are in a flash image's filesystem region (or an
//! SD image), every operation ends with a result or an error, never a panic or a hang.
//!
//! Arithmetic overflow inside `fatfs` panics only where overflow checks are on (the dev
//! profile: `cargo test -p pybsim-fsimage`); in release it would wrap, so run these in
//! the dev profile after changing the vetting in `volume.rs`.

use std::path::Path;

use proptest::prelude::*;
use pybsim_fsimage::{
    image_with_files, list_files, sd_image_with_files, sd_list_files, FlashImage, FsImageError,
    FS_END, FS_OFFSET,
};

/// A flash image whose volume has subdirectories, long names and multi-cluster files.
fn base_flash() -> Vec<u8> {
    let mut img = FlashImage::fresh("base").unwrap();
    img.put("lib/deeper/a long name.py", &[3u8; 700]).unwrap();
    img.put("lib/x.py", &[2u8; 3000]).unwrap();
    img.put("data/log.txt", b"hello\n").unwrap();
    img.put("main.py", &[1u8; 1500]).unwrap();
    img.into_bytes()
}

/// Runs every operation on the image; only their not panicking is checked (and that
/// a failed change leaves the image as it was).
fn exercise(bytes: Vec<u8>) {
    let Ok(mut img) = FlashImage::from_bytes(Path::new("fuzz.img"), bytes) else {
        return;
    };
    let _ = list_files(img.fs_region());
    let _ = img.list("");
    let _ = img.list("lib");
    let _ = img.files();
    let _ = img.tree();
    let _ = img.get("main.py");
    let _ = img.get("lib/deeper/a long name.py");
    for change in 0..4 {
        let before = img.bytes().to_vec();
        let r = match change {
            0 => img.put("lib/new.py", &[9u8; 1200]),
            1 => img.mkdir("made/here"),
            2 => img.remove("lib", true),
            _ => img.remove("main.py", false),
        };
        if r.is_err() {
            assert!(
                img.bytes() == &before[..],
                "a failed change altered the image"
            );
        }
        let _ = img.files();
    }
}

/// Offsets in the region of the base image's short directory entries (files and
/// directories, "." and ".." included).
fn live_entries() -> Vec<usize> {
    let base = base_flash();
    let r = &base[FS_OFFSET..FS_END];
    let live: Vec<usize> = (2 * 512..r.len())
        .step_by(32)
        .filter(|&o| {
            matches!(r[o + 11], 0x00 | 0x10 | 0x20)
                && (r[o].is_ascii_uppercase() || r[o].is_ascii_digit() || r[o] == b'.')
                && r[o..o + 11].iter().all(|&b| (b' '..=b'~').contains(&b))
        })
        .collect();
    assert!(live.len() >= 12, "{live:?}");
    live
}

/// Where in the 112 KiB region to write: the boot sector, the FAT, the root directory,
/// the first data clusters, or anywhere.
fn offset() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..64,
        512usize..1024,
        1024usize..(33 * 512),
        (34 * 512usize)..(60 * 512),
        0usize..(FS_END - FS_OFFSET),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 600,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn bytes_written_over_a_volume(edits in prop::collection::vec((offset(), any::<u8>()), 1..24)) {
        let mut bytes = base_flash();
        for (off, b) in edits {
            bytes[FS_OFFSET + off] = b;
        }
        exercise(bytes);
    }

    #[test]
    fn words_written_over_directory_entries(
        edits in prop::collection::vec((0usize..2048, 0usize..32, any::<u32>()), 1..8)
    ) {
        // Directory entries' cluster numbers and sizes: 32-bit values at entry offsets,
        // in the root directory and in the data area where subdirectories live.
        let mut bytes = base_flash();
        for (entry, field, v) in edits {
            let root = FS_OFFSET + 2 * 512;
            let off = root + entry * 32 + (field & !3).min(28);
            if off + 4 <= FS_END {
                bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        exercise(bytes);
    }

    #[test]
    fn cluster_numbers_and_sizes_in_directory_entries(
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), prop_oneof![0u32..4, 185u32..200, 0xFF0u32..0x1000, 0xFFF0u32..0x10000, any::<u32>()], 0usize..4),
            1..4,
        )
    ) {
        // Each edit sets a live directory entry's first cluster (low or high half), size
        // or attributes.
        let mut bytes = base_flash();
        let live = live_entries();
        for (entry, v, field) in edits {
            let off = FS_OFFSET + live[entry.index(live.len())];
            let (at, width) = [(26, 2), (20, 2), (28, 4), (11, 1)][field];
            bytes[off + at..off + at + width].copy_from_slice(&v.to_le_bytes()[..width]);
        }
        exercise(bytes);
    }

    #[test]
    fn an_arbitrary_region(region in prop::collection::vec(any::<u8>(), FS_END - FS_OFFSET)) {
        let mut bytes = base_flash();
        bytes[FS_OFFSET..FS_END].copy_from_slice(&region);
        exercise(bytes.clone());
        // The same, behind a sound boot sector.
        bytes[FS_OFFSET..FS_OFFSET + 512].copy_from_slice(&base_flash()[FS_OFFSET..FS_OFFSET + 512]);
        exercise(bytes);
    }

    #[test]
    fn fat32_sd_images(edits in prop::collection::vec((0usize..(1 << 20), any::<u8>()), 1..32)) {
        let mut img = sd_image_with_files(
            600 << 20,
            &[("a.txt", b"x"), ("b.bin", &[5u8; 9000])],
        )
        .unwrap();
        for (off, b) in edits {
            // Boot sector, FSInfo, reserved area, FATs and the root directory's first
            // clusters are all in the first MiB.
            img[off] = b;
        }
        let _ = sd_list_files(&img);
    }
}

#[test]
fn the_base_image_is_sound() {
    let img = FlashImage::from_bytes(Path::new("b"), base_flash()).unwrap();
    assert_eq!(img.files().unwrap().len(), 5);
    assert_eq!(
        image_with_files(&[]).unwrap().len(),
        FS_END - FS_OFFSET,
        "the region is one volume"
    );
}

/// Hand-made damage of each kind gets an error saying what is wrong.
#[test]
fn each_kind_of_damage_is_named() {
    let base = base_flash();
    let check = |edit: &dyn Fn(&mut [u8]), want: &str| {
        let mut b = base.clone();
        edit(&mut b[FS_OFFSET..FS_END]);
        let img = FlashImage::from_bytes(Path::new("d.img"), b).unwrap();
        let e = img.files().unwrap_err();
        assert!(matches!(e, FsImageError::Corrupt { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.starts_with("d.img: "), "{msg}");
        assert!(msg.contains(want), "{msg} (wanted {want:?})");
    };
    check(&|r| r[510] = 0, "no 0x55AA signature");
    check(
        &|r| r[11..13].copy_from_slice(&4096u16.to_le_bytes()),
        "4096 bytes per sector",
    );
    check(&|r| r[13] = 3, "3 sectors per cluster");
    check(&|r| r[16] = 4, "4 FATs");
    check(
        &|r| r[19..21].copy_from_slice(&2000u16.to_le_bytes()),
        "2000 sectors, more than the 224",
    );
    check(
        &|r| r[22] = 0,
        "FAT32 volume with a FAT12/16 root directory",
    );
    // FAT entry 2 (the first data cluster) pointing far outside: FAT12 at byte 512+3.
    check(
        &|r| {
            r[515] = 0xF0;
            r[516] = 0x0E;
        },
        "links to cluster",
    );
    // A file longer than its chain: main.py's size in its directory entry.
    check(
        &|r| {
            let root = &mut r[1024..1024 + 16 * 512];
            let e = root
                .chunks_mut(32)
                .find(|e| &e[..11] == b"MAIN    PY ")
                .expect("main.py's short entry");
            e[28..32].copy_from_slice(&60_000u32.to_le_bytes());
        },
        "main.py: 60000 bytes long but its clusters hold only",
    );
}

/// A FAT chain that loops (a directory whose last cluster links back to its first) is
/// caught by the read budget rather than walked forever.
#[test]
fn a_looping_directory_chain_ends() {
    let mut img = FlashImage::fresh("loop").unwrap();
    for i in 0..40 {
        img.put(&format!("dir/file number {i}.txt"), b"x").unwrap();
    }
    let mut b = img.into_bytes();
    // FAT12: find dir's chain (its entry in the root) and point its last cluster back.
    let r = &mut b[FS_OFFSET..FS_END];
    let root = 1024;
    let e = r[root..root + 16 * 512]
        .chunks(32)
        .position(|e| &e[..11] == b"DIR        ")
        .expect("dir's entry");
    let first = u16::from_le_bytes([r[root + e * 32 + 26], r[root + e * 32 + 27]]) as usize;
    let fat = |r: &[u8], c: usize| {
        let v = u16::from_le_bytes([r[512 + c + c / 2], r[512 + c + c / 2 + 1]]);
        (if c & 1 == 1 { v >> 4 } else { v & 0xFFF }) as usize
    };
    let mut chain = vec![first];
    while fat(r, *chain.last().unwrap()) < 0xFF8 {
        chain.push(fat(r, *chain.last().unwrap()));
    }
    assert!(chain.len() >= 3, "the directory spans clusters: {chain:?}");
    // The next to last cluster (full of entries; the end mark is in the last one)
    // links back to the first.
    let last = chain[chain.len() - 2];
    let off = 512 + last + last / 2;
    let v = u16::from_le_bytes([r[off], r[off + 1]]);
    let v = if last & 1 == 1 {
        (v & 0x000F) | ((first as u16) << 4)
    } else {
        (v & 0xF000) | first as u16
    };
    r[off..off + 2].copy_from_slice(&v.to_le_bytes());
    let img = FlashImage::from_bytes(Path::new("loop.img"), b).unwrap();
    let e = img.list("").unwrap_err().to_string();
    assert!(e.contains("loops"), "{e}");
}

/// Directory entries whose first cluster is 0 (none), 1 (reserved) or past the volume.
#[test]
fn directory_entries_with_impossible_clusters() {
    let base = base_flash();
    for (cluster, size) in [
        (1u16, 1500u32),
        (0, 1500),
        (191, 1500),
        (192, 1500),
        (0xFFF, 100),
        (0xFFFF, 1),
    ] {
        let mut b = base.clone();
        let r = &mut b[FS_OFFSET..FS_END];
        let e = r[1024..1024 + 16 * 512]
            .chunks(32)
            .position(|e| &e[..11] == b"MAIN    PY ")
            .unwrap();
        let at = 1024 + e * 32;
        r[at + 26..at + 28].copy_from_slice(&cluster.to_le_bytes());
        r[at + 28..at + 32].copy_from_slice(&size.to_le_bytes());
        let img = FlashImage::from_bytes(Path::new("c.img"), b).unwrap();
        let e = img.get("main.py").unwrap_err();
        assert!(
            matches!(e, FsImageError::Corrupt { .. }),
            "{cluster}: {e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains("MAIN.PY") || msg.contains("main.py"), "{msg}");
        exercise(img.into_bytes());
    }
}
