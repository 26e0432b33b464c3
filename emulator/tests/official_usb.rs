//! The official MicroPython v1.25.0 Pyboard firmware with its REPL on USB CDC, through the
//! `pybsim` binary and the USB host model (emulator/src/usb_host.rs): no `--repl-uart`,
//! no boot.py. Reads `PYBSIM_OFFICIAL_FIRMWARE_PYBV11` (a firmware.elf/.dfu/.hex, as in
//! official.rs) and skips with a note on stderr without it.

mod common;
use common::{official_firmware, pybsim_fed as pybsim, scratch};

fn firmware() -> Option<String> {
    official_firmware("PYBV11")
}

/// stderr without terminal colours.
fn plain(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

/// The `name=value` field of the first log line containing `what`.
fn field(log: &str, what: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no {what:?} in the log:\n{log}"));
    let key = format!("{name}=");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line:?}"));
    line[at + key.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("{name} in {line:?}"))
}

/// A script through the raw REPL on USB: more than one bulk IN packet of output, a line
/// ending exactly on a 64-byte packet boundary (the firmware follows it with a
/// zero-length packet), and a script of more than 1 KiB (many bulk OUT packets, paced as
/// pyboard.py writes). The enumeration is in the log in the order a host does it, with
/// the USB 2.0 timings, and a second run is the same to the cycle.
#[test]
fn official_firmware_runs_a_script_over_usb_cdc() {
    let Some(fw) = firmware() else { return };
    let dir = scratch("cdc");
    let script = dir.join("usb.py");
    let mut src = String::from("print('hello over usb', 6 * 7)\n");
    // 63 characters and the newline: one full packet.
    src.push_str("print('z' * 63)\n");
    src.push_str("for i in range(40):\n    print(i, 'abcdefghijklmnopqrstuvwxyz')\n");
    for i in 0..40 {
        src.push_str(&format!(
            "v{i} = {i} * 3  # padding the script past one kilobyte\n"
        ));
    }
    src.push_str("print(sum(globals()['v%d' % i] for i in range(40)))\n");
    assert!(src.len() > 1024);
    std::fs::write(&script, &src).unwrap();
    let args = [
        "run",
        "--firmware",
        fw.as_str(),
        "--log",
        "warn,usb_host=info,session=info",
        script.to_str().unwrap(),
    ];
    let out = pybsim(&args, b"");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = plain(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{log}"
    );
    let mut want = String::from("hello over usb 42\n");
    want.push_str(&"z".repeat(63));
    want.push('\n');
    for i in 0..40 {
        want.push_str(&format!("{i} abcdefghijklmnopqrstuvwxyz\n"));
    }
    want.push_str(&format!("{}\n", (0..40).map(|i| i * 3).sum::<i32>()));
    assert_eq!(stdout, want);

    // The enumeration steps, in order.
    let steps = [
        "device attached (D+ pull-up)",
        "bus reset",
        "reset done; SOF every 1 ms",
        "GET_DESCRIPTOR device at address 0",
        "SET_ADDRESS",
        "GET_DESCRIPTOR device: USB 2.00, class ef, VID f055 PID 9800",
        "GET_DESCRIPTOR configuration (header)",
        "interface 0: class 08/06, mass storage (not used",
        "interface 1: class 02/02, CDC ACM control (console)",
        "interface 2: class 0a/00, CDC data",
        "SET_CONFIGURATION",
        "SET_LINE_CODING 115200 8N1",
        "SET_CONTROL_LINE_STATE DTR RTS: CDC port open",
        "REPL prompt",
    ];
    let mut at = 0;
    for s in steps {
        let i = log[at..]
            .find(s)
            .unwrap_or_else(|| panic!("{s:?} missing or out of order in:\n{log}"));
        at += i + s.len();
    }
    // The last attach (the firmware's init briefly pulls D+ up before it sets SDIS) is
    // debounced for exactly 100 ms, the reset lasts exactly 10 ms, and enumeration starts
    // after the 10 ms reset recovery.
    let attach = log
        .lines()
        .rfind(|l| l.contains("device attached"))
        .map(|l| field(l, "device attached", "us"))
        .unwrap();
    let reset = field(&log, "bus reset", "us");
    let done = field(&log, "reset done", "us");
    let first = field(&log, "GET_DESCRIPTOR device at address 0", "us");
    let open = field(&log, "CDC port open", "us");
    let prompt_ms = field(&log, "REPL prompt", "ms");
    assert_eq!(reset - attach, 100_000, "{log}");
    assert_eq!(done - reset, 10_000, "{log}");
    assert!(first >= done + 10_000, "{log}");
    assert!(
        open > first && open < first + 20_000,
        "enumeration in under 20 ms:\n{log}"
    );
    assert!(
        (150..400).contains(&prompt_ms),
        "REPL prompt at {prompt_ms} ms:\n{log}"
    );
    eprintln!(
        "USB: attach {attach} us, reset {reset} us, port open {open} us, REPL prompt {prompt_ms} ms"
    );

    // Deterministic: the same run again gives the same output and the same log.
    let again = pybsim(&args, b"");
    assert_eq!(String::from_utf8_lossy(&again.stdout), stdout);
    assert_eq!(plain(&again.stderr), log);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `pybsim run --firmware <official>` alone: the interactive REPL over USB CDC. What is
/// typed before the port opens waits for it, as in a terminal.
#[test]
fn official_firmware_interactive_repl_over_usb() {
    let Some(fw) = firmware() else { return };
    let out = pybsim(
        &["run", "--firmware", fw.as_str(), "--max-time", "1s"],
        b"6*7\r",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("PYBv1.1 with STM32F405RG\r\nType \"help()\" for more information.\r\n>>> 6*7\r\n42\r\n>>> "),
        "{stdout}\n{}",
        plain(&out.stderr)
    );
}

/// `--repl console` leaves USB unplugged: the official firmware's REPL never shows, and
/// the error says so; with the host the error names where USB got to.
#[test]
fn official_firmware_without_a_usb_host_has_no_repl() {
    let Some(fw) = firmware() else { return };
    let dir = scratch("none");
    let script = dir.join("x.py");
    std::fs::write(&script, "print(1)\n").unwrap();
    let out = pybsim(
        &[
            "run",
            "--firmware",
            fw.as_str(),
            "--repl",
            "console",
            script.to_str().unwrap(),
        ],
        b"",
    );
    let err = plain(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("--repl usb"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The official firmware with a card in the slot (`--sd`), its REPL on USB: it brings the
/// card up over SDIO (blocks by DMA2), mounts it at /sd and, as on a board, makes it the
/// current directory; a script lists it, reads a file, writes one and closes it, and after
/// pybsim exits the image holds the new file. The REPL prompt comes 14 ms later than
/// without a card (187 ms): the card's initialisation before USB starts.
#[test]
fn official_firmware_mounts_the_sd_card_and_writes_to_it() {
    let Some(fw) = firmware() else { return };
    let dir = scratch("sd");
    let img = pybsim_fsimage::sd_image_with_files(
        4 << 20,
        &[
            ("hello.txt", b"hello from the card\n"),
            ("data.bin", &[7u8; 3000]),
        ],
    )
    .unwrap();
    let img_path = dir.join("sd.img");
    std::fs::write(&img_path, &img).unwrap();
    let script = dir.join("sd.py");
    std::fs::write(
        &script,
        "import os\nprint(os.getcwd(), sorted(os.listdir('/sd')))\n\
         print(open('/sd/hello.txt').read(), len(open('data.bin', 'rb').read()))\n\
         f = open('/sd/new.txt', 'w')\nf.write('written by the official firmware\\n' * 40)\nf.close()\n\
         print(sorted(os.listdir()), os.stat('/sd/new.txt')[6])\n",
    )
    .unwrap();
    let out = pybsim(
        &[
            "run",
            "--firmware",
            fw.as_str(),
            "--sd",
            img_path.to_str().unwrap(),
            "--log",
            "warn,session=info",
            script.to_str().unwrap(),
        ],
        b"",
    );
    let log = plain(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{log}"
    );
    assert_eq!(
        stdout,
        "/sd ['data.bin', 'hello.txt']\nhello from the card\n 3000\n\
         ['data.bin', 'hello.txt', 'new.txt'] 1320\n"
    );
    let prompt_ms = field(&log, "REPL prompt", "ms");
    eprintln!("official firmware with a card: REPL prompt at {prompt_ms} ms");
    assert_eq!(prompt_ms, 201, "{log}");

    let files = pybsim_fsimage::sd_list_files(&std::fs::read(&img_path).unwrap()).unwrap();
    let get = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n.trim_start_matches('/') == name)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("{name} not in the image: {files:?}"))
    };
    assert_eq!(
        get("new.txt"),
        "written by the official firmware\n".repeat(40).into_bytes()
    );
    assert_eq!(get("hello.txt"), b"hello from the card\n");
    assert_eq!(get("data.bin"), vec![7u8; 3000]);
    let _ = std::fs::remove_dir_all(&dir);
}
