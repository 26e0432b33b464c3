//! Board and stimuli files that are not plain files, or far too big: refused at once,
//! naming the file (issue 17: a FIFO blocked forever, /dev/zero grew without end, a
//! 1 GB file was read whole before any check).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use pybsim_boards::{Board, LoadError, Stimuli};

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("input-files")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `f` on another thread and fails (instead of hanging the test run) if it has not
/// returned within 20 s.
fn within_20s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} did not return within 20 s (blocked?)"))
}

fn board_error(path: &Path) -> String {
    let p = path.to_path_buf();
    let r = within_20s("Board::load", move || {
        Board::load(&p).map(|_| ()).map_err(|e| e.to_string())
    });
    r.expect_err("must be refused")
}

fn stimuli_error(path: &Path) -> String {
    let p = path.to_path_buf();
    let r = within_20s("Stimuli::load", move || {
        let board = Board::builtin("pybv11").unwrap();
        Stimuli::load(&p, &board)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    r.expect_err("must be refused")
}

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(st.success());
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let d = dir("fifo");
    let fifo = d.join("board.ron");
    mkfifo(&fifo);
    let msg = board_error(&fifo);
    assert!(msg.contains("board.ron") && msg.contains("FIFO"), "{msg}");
    let msg = stimuli_error(&fifo);
    assert!(msg.contains("board.ron") && msg.contains("FIFO"), "{msg}");
}

#[test]
fn a_device_or_directory_is_refused() {
    let msg = board_error(Path::new("/dev/zero"));
    assert!(
        msg.contains("/dev/zero") && msg.contains("character device"),
        "{msg}"
    );
    let msg = stimuli_error(Path::new("/dev/zero"));
    assert!(msg.contains("character device"), "{msg}");
    let d = dir("directory");
    let msg = board_error(&d);
    assert!(msg.contains("a directory"), "{msg}");
}

#[test]
fn a_huge_file_is_refused_from_its_size() {
    let d = dir("huge");
    let path = d.join("huge.ron");
    // Sparse: 1 GiB of nothing on disk.
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(1 << 30).unwrap();
    drop(f);
    let msg = board_error(&path);
    assert!(
        msg.contains("huge.ron") && msg.contains("too big") && msg.contains("4 MiB"),
        "{msg}"
    );
    let msg = stimuli_error(&path);
    assert!(msg.contains("too big"), "{msg}");
    // Just over the limit is too big; the limit itself is read (and then parsed).
    let f = std::fs::File::create(&path).unwrap();
    f.set_len((4 << 20) + 1).unwrap();
    drop(f);
    assert!(board_error(&path).contains("too big"));
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(4 << 20).unwrap();
    drop(f);
    let msg = board_error(&path);
    assert!(!msg.contains("too big"), "{msg}");
}

#[test]
fn a_symlink_loop_is_named_as_such() {
    let d = dir("loop");
    let a = d.join("a.ron");
    let b = d.join("b.ron");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let msg = board_error(&a);
    assert!(
        msg.contains("a.ron") && msg.contains("symbolic link loop"),
        "{msg}"
    );
    let msg = stimuli_error(&a);
    assert!(msg.contains("symbolic link loop"), "{msg}");
}

#[test]
fn a_missing_file_is_still_an_io_error() {
    let d = dir("missing");
    let err = Board::load(d.join("nope.ron")).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.ron"));
}

#[test]
fn a_file_that_is_not_utf8_says_so() {
    let d = dir("binary");
    let path = d.join("bin.ron");
    std::fs::write(&path, [b'B', b'o', 0xFF, 0xFE]).unwrap();
    let msg = board_error(&path);
    assert!(
        msg.contains("bin.ron") && msg.contains("UTF-8") && msg.contains("offset 2"),
        "{msg}"
    );
}
