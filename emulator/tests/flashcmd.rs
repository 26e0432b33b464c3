//! `pybsim flash ls|get|put|rm|mkdir` through the binary: files into and out of a
//! flash image file, its exit statuses (README: 64 usage, 65 bad input, 66 missing
//! file), and `pybsim sdimage` sizes.

mod common;

use common::{pybsim, scratch, text, write};

fn ok(o: &std::process::Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn put_ls_get_round_trip() {
    let d = scratch("roundtrip");
    let img = d.join("flash.img");
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 256) as u8).collect();
    let host = write(&d, "blob.bin", &data);

    // The first put makes the image, with a fresh board's files, and says so.
    let o = pybsim(&["flash", "put", s(&img), s(&host), "lib/blob.bin"]);
    ok(&o);
    assert!(
        text(&o.stderr).contains("flash.img did not exist: made it"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 1 << 20);

    let o = pybsim(&["flash", "ls", s(&img)]);
    ok(&o);
    let boot = pybsim_fsimage::DEFAULT_FILES[0].1.len();
    let main = pybsim_fsimage::DEFAULT_FILES[1].1.len();
    assert_eq!(
        text(&o.stdout),
        format!(
            "{boot:>8}  boot.py\n{:>8}  lib/\n    3000  lib/blob.bin\n{main:>8}  main.py\n",
            ""
        )
    );

    // To standard output, to a file, into a directory (under its own name).
    let o = pybsim(&["flash", "get", s(&img), "/flash/lib/blob.bin"]);
    ok(&o);
    assert!(o.stdout == data);
    let out = d.join("copy.bin");
    ok(&pybsim(&["flash", "get", s(&img), "lib/blob.bin", s(&out)]));
    assert!(std::fs::read(&out).unwrap() == data);
    let into = d.join("into");
    std::fs::create_dir(&into).unwrap();
    ok(&pybsim(&[
        "flash",
        "get",
        s(&img),
        "LIB/BLOB.BIN",
        s(&into),
    ]));
    assert!(std::fs::read(into.join("BLOB.BIN")).unwrap() == data);

    // Into an existing directory of the image, and a whole host tree.
    let tree = d.join("pkg");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("__init__.py"), b"").unwrap();
    std::fs::write(tree.join("sub/m.py"), b"M = 1\n").unwrap();
    ok(&pybsim(&["flash", "put", s(&img), s(&host), "lib"]));
    ok(&pybsim(&["flash", "put", s(&img), s(&tree), "lib/"]));
    let o = pybsim(&["flash", "ls", s(&img), "lib"]);
    ok(&o);
    assert_eq!(
        text(&o.stdout),
        format!(
            "    3000  lib/blob.bin\n{:>8}  lib/pkg/\n       0  lib/pkg/__init__.py\n{:>8}  lib/pkg/sub/\n       6  lib/pkg/sub/m.py\n",
            "", ""
        )
    );
    assert_eq!(
        pybsim(&["flash", "get", s(&img), "lib/pkg/sub/m.py"]).stdout,
        b"M = 1\n"
    );
}

#[test]
fn rm_and_mkdir() {
    let d = scratch("rm");
    let img = d.join("f.img");
    ok(&pybsim(&["flash", "mkdir", s(&img), "a/b", "c"]));
    let host = write(&d, "x.py", "x = 1\n");
    ok(&pybsim(&["flash", "put", s(&img), s(&host), "a/b/x.py"]));

    let o = pybsim(&["flash", "rm", s(&img), "a"]);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!("{}: a: directory not empty", img.display())),
        "{}",
        text(&o.stderr)
    );
    ok(&pybsim(&["flash", "rm", s(&img), "main.py", "c"]));
    ok(&pybsim(&["flash", "rm", "-r", s(&img), "a"]));
    let o = pybsim(&["flash", "ls", s(&img)]);
    ok(&o);
    let boot = pybsim_fsimage::DEFAULT_FILES[0].1.len();
    assert_eq!(text(&o.stdout), format!("{boot:>8}  boot.py\n"));

    // A failing command leaves the image file as it was.
    let before = std::fs::read(&img).unwrap();
    let o = pybsim(&["flash", "rm", s(&img), "boot.py", "not-there.py"]);
    assert_eq!(o.status.code(), Some(66));
    assert_eq!(std::fs::read(&img).unwrap(), before);
}

#[test]
fn bad_images_and_missing_files() {
    let d = scratch("bad");
    let img = d.join("f.img");
    let host = write(&d, "x.py", "x\n");
    ok(&pybsim(&["flash", "put", s(&img), s(&host)]));
    let short = write(&d, "short.img", [0u8; 1000]);
    let zero = write(&d, "zero.img", vec![0u8; 1 << 20]);
    let mut erased = std::fs::read(&img).unwrap();
    erased[0x4000..0x20000].fill(0xFF);
    let erased = write(&d, "erased.img", erased);
    let missing = d.join("missing.img");

    for (args, code, msg) in [
        (
            vec!["flash", "ls", s(&short)],
            65,
            "short.img: 1000 bytes; a flash image is exactly 1048576 bytes (1 MiB)",
        ),
        (vec!["flash", "ls", s(&zero)], 65, "zero.img: filesystem region (flash 0x04000..0x20000): damaged FAT volume: boot sector: all zero"),
        (vec!["flash", "get", s(&erased), "x.py"], 65, "erased (all 0xFF)"),
        (vec!["flash", "put", s(&zero), s(&host)], 65, "zero.img"),
        (vec!["flash", "ls", s(&missing)], 66, "missing.img"),
        (vec!["flash", "rm", s(&missing), "x.py"], 66, "missing.img"),
        (
            vec!["flash", "get", s(&img), "lib/none.py"],
            66,
            "f.img: lib: no such file or directory",
        ),
        (vec!["flash", "rm", s(&img), "none.py"], 66, "none.py: no such file"),
        (
            vec!["flash", "put", s(&img), "/nonexistent/h.py"],
            66,
            "/nonexistent/h.py",
        ),
        (vec!["flash", "get", s(&img), "/"], 65, "f.img: /: is a directory"),
        (
            vec!["flash", "put", s(&img), s(&host), "bad:name.py"],
            64,
            "f.img: bad:name.py: the character ':' is not allowed in FAT names",
        ),
        (vec!["flash", "frobnicate", s(&img)], 64, "frobnicate"),
    ] {
        let o = pybsim(&args);
        let e = text(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {e}");
        assert!(e.contains(msg), "{args:?}: {e}");
        assert!(!e.contains("panicked"), "{e}");
    }
    assert!(!missing.exists(), "ls and rm do not make an image");
    let big = write(&d, "big.bin", vec![1u8; 200_000]);
    let o = pybsim(&["flash", "put", s(&img), s(&big)]);
    assert_eq!(o.status.code(), Some(65));
    assert!(
        text(&o.stderr).contains("big.bin: the filesystem is full"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn images_are_deterministic() {
    let d = scratch("det");
    let host = write(&d, "m.py", "print('hi')\n");
    for name in ["a.img", "b.img"] {
        let img = d.join(name);
        ok(&pybsim(&["flash", "put", s(&img), s(&host), "lib/m.py"]));
        ok(&pybsim(&["flash", "mkdir", s(&img), "data"]));
    }
    assert!(std::fs::read(d.join("a.img")).unwrap() == std::fs::read(d.join("b.img")).unwrap());
}

#[test]
fn sdimage_sizes() {
    let d = scratch("sdsizes");
    let src = d.join("tree");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("main.py"), b"print('sd')\n").unwrap();
    let out = d.join("card.img");
    // A 32 GiB FAT32 card, written sparsely.
    let o = pybsim(&["sdimage", s(&src), s(&out), "--size", "32G"]);
    ok(&o);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 32 << 30);
    let files = pybsim_fsimage::sd_list_files_in(&out).unwrap();
    assert_eq!(files, [("main.py".to_string(), b"print('sd')\n".to_vec())]);
    for (size, msg) in [
        (
            "64G",
            "--size 64G: 64 GiB is more than an SDHC card holds (32 GiB)",
        ),
        (
            "1000",
            "--size 1000: 1000 bytes is not a whole number of 512-byte blocks",
        ),
        ("1025M", ""),
        (
            "1073742336",
            "an SDHC card (above 1 GiB) holds a whole number of 512 KiB",
        ),
        (
            "32K",
            "--size 32K: 32 KiB is less than the smallest image, 64 KiB",
        ),
    ] {
        let o = pybsim(&["sdimage", s(&src), s(&out), "--size", size]);
        if msg.is_empty() {
            ok(&o);
            continue;
        }
        assert_eq!(o.status.code(), Some(64), "{size}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains(msg), "{}", text(&o.stderr));
    }
    let _ = std::fs::remove_dir_all(&d);
}
