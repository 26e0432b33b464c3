//! End-to-end tests of the `pybsim` command with the default runtime firmware: every
//! exit status, bad inputs, the serial modes. They need .cache/firmware/firmware.elf
//! (scripts/setup.sh builds it); without it they say so and pass vacuously only on a
//! developer machine: CI always builds the firmware first.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;
use common::{firmware, pybsim, repo, script, text};

/// A seed scenario from the repository's tests/scenarios.
fn scenario(name: &str) -> String {
    let p = repo().join("tests/scenarios").join(name);
    assert!(p.exists(), "{} is missing", p.display());
    p.to_string_lossy().into_owned()
}

#[test]
fn a_script_runs_and_exits_0() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "hello.py",
        "import sys, os\nprint('hi', 6 * 7)\nprint(sys.platform)\nprint(os.uname().machine)\n",
    );
    let o = pybsim(&["run", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "hi 42\npyboard\nPYBv1.1 with STM32F405RG\n"
    );
}

#[test]
fn an_uncaught_exception_exits_1_with_its_traceback() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "raise.py",
        "print('before')\nraise ValueError('bad value')\n",
    );
    let o = pybsim(&["run", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(out.starts_with("before\n"), "{out}");
    assert!(out.contains("ValueError: bad value"), "{out}");
    assert!(out.contains("Traceback"), "{out}");
}

#[test]
fn a_syntax_error_exits_1() {
    if firmware().is_none() {
        return;
    }
    let s = script("syntax.py", "x = (\n");
    let o = pybsim(&["run", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("SyntaxError"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn a_guest_fault_exits_2_with_a_symbolized_report() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "fault.py",
        "import machine\nprint(machine.mem32[0x60000000])\n",
    );
    let o = pybsim(&["run", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("guest fault: bus error: nothing answers at 0x60000000"),
        "{err}"
    );
    assert!(err.contains("BFAR = 0x60000000"), "{err}");
    assert!(err.contains("PRECISERR"), "{err}");
    assert!(err.contains("machine_mem"), "backtrace with symbols: {err}");
}

#[test]
fn a_script_that_never_ends_stops_at_max_time_with_3() {
    if firmware().is_none() {
        return;
    }
    let s = script("forever.py", "print('spinning')\nwhile True:\n    pass\n");
    let o = pybsim(&["run", "--max-time", "300ms", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(text(&o.stdout), "spinning\n");
    // The run stops at the budget itself (within a block), not at the end of a slice.
    let err = text(&o.stderr);
    assert!(
        err.contains("budget exceeded (--max-time 300ms): stopped at cycle ")
            && err.contains(" (0.300000s of virtual time)"),
        "{err}"
    );
    // A time budget in cycles is a cycle budget, at whatever clock the board runs (the
    // firmware's first 2 M cycles are at the 16 MHz of the reset clock).
    let o = pybsim(&["run", "--max-time", "2000000cycles", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let err = text(&o.stderr);
    let cycle: u64 = err
        .split("stopped at cycle ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!((2_000_000..2_000_100).contains(&cycle), "{err}");
    let o = pybsim(&["run", "--max-cycles", "5_000_000", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o.stderr).contains("--max-cycles 5000000"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_corrupt_firmware_file_is_named_and_exits_65() {
    let s = script("x.py", "print(1)\n");
    let bad = script("corrupt.elf", "\x7fELF\x01\x01\x01garbage");
    let o = pybsim(&[
        "run",
        "--firmware",
        bad.to_str().unwrap(),
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("corrupt.elf"), "{err}");
    assert_eq!(err.lines().count(), 1, "one-line reason: {err}");
    let junk = script("junk.bin", &"\u{ff}".repeat(64));
    let o = pybsim(&[
        "run",
        "--firmware",
        junk.to_str().unwrap(),
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(65));
    assert!(text(&o.stderr).contains("junk.bin"), "{}", text(&o.stderr));
}

#[test]
fn a_board_file_with_a_typo_gives_file_line_and_column() {
    let good = std::fs::read_to_string(repo().join("boards/pybv11.ron")).unwrap();
    let bad = good.replacen("hse_hz", "hse_hzz", 1);
    let line = bad.lines().position(|l| l.contains("hse_hzz")).unwrap() + 1;
    let b = script("typo.ron", &bad);
    let s = script("y.py", "print(1)\n");
    let fw = firmware().unwrap_or_else(|| repo().join("emulator/Cargo.toml"));
    let o = pybsim(&[
        "run",
        "--board",
        b.to_str().unwrap(),
        "--firmware",
        fw.to_str().unwrap(),
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains(&format!("typo.ron:{line}:")), "{err}");
    assert!(err.contains("hse_hzz"), "{err}");
}

#[test]
fn missing_files_exit_66_and_bad_options_64() {
    let o = pybsim(&["run", "/nonexistent/script.py"]);
    assert_eq!(o.status.code(), Some(66));
    assert!(text(&o.stderr).contains("/nonexistent/script.py"));
    let o = pybsim(&[
        "run",
        "--firmware",
        "/nonexistent/fw.elf",
        "/nonexistent/s.py",
    ]);
    assert_eq!(o.status.code(), Some(66));
    let o = pybsim(&["run", "--bogus-option"]);
    assert_eq!(o.status.code(), Some(64));
    let o = pybsim(&["run", "--max-time", "ten seconds", "x.py"]);
    assert_eq!(o.status.code(), Some(64));
    if firmware().is_some() {
        let s = script("z.py", "print(1)\n");
        let o = pybsim(&["run", "--wire", "Y1:Q99", s.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(64), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains("Q99"), "{}", text(&o.stderr));
    }
}

#[test]
fn the_same_script_gives_the_same_output_and_cycles_every_run() {
    if firmware().is_none() {
        return;
    }
    let s4 = scenario("s04_emitters.py");
    let a = pybsim(&["run", &s4]);
    let b = pybsim(&["run", &s4]);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(a.stdout, b.stdout);
    let out = text(&a.stdout);
    let cycles: Vec<u64> = out
        .lines()
        .map(|l| l.split_whitespace().last().unwrap().parse().unwrap())
        .collect();
    assert_eq!(cycles.len(), 3, "{out}");
    assert!(
        cycles[2] < cycles[1] && cycles[1] < cycles[0],
        "viper < native < bytecode: {out}"
    );
}

#[test]
fn uart_loopback_through_a_wire() {
    if firmware().is_none() {
        return;
    }
    let s = scenario("s09_uart_readinto.py");
    let o = pybsim(&["run", "--wire", "Y1:Y2", &s]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o.stdout).starts_with("read 8 b'pyboard!'\n"),
        "{}",
        text(&o.stdout)
    );
    // Without the wire nothing arrives: readinto times out.
    let o = pybsim(&["run", &s]);
    assert!(
        !text(&o.stdout).starts_with("read 8 b'pyboard!'"),
        "{}",
        text(&o.stdout)
    );
}

/// `pybsim run --stimuli STIMULI SCRIPT`.
fn run_with_stimuli(script: &Path, stimuli: &Path) -> Output {
    pybsim(&[
        "run",
        "--stimuli",
        stimuli.to_str().unwrap(),
        script.to_str().unwrap(),
    ])
}

#[test]
fn stimuli_press_the_switch_and_its_callback_runs() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "switch.py",
        "import pyb\nsw = pyb.Switch()\nn = []\nsw.callback(lambda: n.append(1))\n\
         print(sw.value())\npyb.delay(300)\nprint(sw.value())\npyb.delay(300)\nprint(sw.value(), len(n))\n",
    );
    let st = script(
        "press.ron",
        "Stimuli(events: [PressSwitch(at: \"200ms\"), ReleaseSwitch(at: \"400ms\")])\n",
    );
    let o = run_with_stimuli(&s, &st);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "False\nTrue\nFalse 1\n");
}

/// Timer input capture from pin edges that a stimuli file sets at exact virtual
/// times: TIM2 at 1 MHz captures rising edges on X1 (TIM2_CH1) 2500 and 700 us apart,
/// to the count, because a stimulus enters at its own time, not at a slice boundary.
#[test]
fn stimuli_edges_are_captured_by_a_timer_channel_to_the_microsecond() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "capture.py",
        "import pyb\nt = pyb.Timer(2, prescaler=83, period=0x0fffffff)\ncaps = []\n\
         ch = t.channel(1, pyb.Timer.IC, pin=pyb.Pin.board.X1, polarity=pyb.Timer.RISING,\n\
         \x20   callback=lambda t: caps.append(ch.capture()))\n\
         pyb.delay(400)\nprint(len(caps), [b - a for a, b in zip(caps, caps[1:])])\n",
    );
    let st = script(
        "edges.ron",
        "Stimuli(events: [\n\
         SetPin(at: \"300ms\", pin: \"X1\", level: High),\n\
         SetPin(at: \"300.1ms\", pin: \"X1\", level: Low),\n\
         SetPin(at: \"302.5ms\", pin: \"X1\", level: High),\n\
         SetPin(at: \"302.6ms\", pin: \"X1\", level: Low),\n\
         SetPin(at: \"303.2ms\", pin: \"X1\", level: High),\n\
         ReleasePin(at: \"303.3ms\", pin: \"X1\"),\n])\n",
    );
    let o = run_with_stimuli(&s, &st);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "3 [2500, 700]\n");
}

/// The USB host gives up on a device that connects (D+ pull-up, here set by hand through
/// the OTG FS registers) but never answers its first GET_DESCRIPTOR: 5 s after the request
/// started (USB 2.0 §9.2.6.4) it logs the failure, and the board runs on.
#[test]
fn usb_host_gives_up_on_a_device_that_never_answers() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "usbnak.py",
        "import machine, time\nmachine.mem32[0x40023834] |= 1 << 7\notg = 0x50000000\n\
         machine.mem32[otg + 0x0C] |= 1 << 30\nmachine.mem32[otg + 0x38] = (1 << 16) | (1 << 21)\n\
         machine.mem32[otg + 0x804] &= ~2\ntime.sleep(6)\nprint('done')\n",
    );
    let o = pybsim(&["run", "--log", "usb_host=info", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "done\n");
    let err = text(&o.stderr);
    let us_of = |what: &str| -> u64 {
        let line = err
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in: {err}"));
        line.split("us=")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no us= in {line}"))
    };
    // The first request starts 10 ms (reset recovery) after the reset ends; the host
    // notices the 5 s at its first run after them (within a frame).
    let start = us_of("reset done") + 10_000;
    let failed = us_of("did not complete the request within 5 s");
    assert!(
        (5_000_000..=5_001_000).contains(&(failed - start)),
        "{start} -> {failed} us"
    );
}

/// The RNG is deterministic and `--rng-seed` picks its sequence: the same seed gives
/// the same `pyb.rng()`, `os.urandom()` and `random` numbers, another seed others.
#[test]
fn rng_seed_chooses_the_random_sequence() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "rng.py",
        "import pyb, os, random\nprint(pyb.rng(), os.urandom(4), random.getrandbits(16))\n",
    );
    let run = |seed: Option<&str>| {
        let mut args = vec!["run"];
        if let Some(v) = seed {
            args.extend(["--rng-seed", v]);
        }
        args.push(s.to_str().unwrap());
        let o = pybsim(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let (a, b) = (run(Some("7")), run(Some("7")));
    assert_eq!(a, b);
    assert_ne!(a, run(Some("8")));
    assert_eq!(run(None), run(None));
    let o = pybsim(&["run", "--rng-seed", "x", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(64), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("\"x\""), "{}", text(&o.stderr));
}

/// pyb.RTC on the RTC model: the calendar starts at 2015-01-01 once the LSE runs
/// (600 ms after power-on), `datetime()` sets it, `wakeup(100, cb)` calls back every
/// 3276 LSE periods (99.976 ms) and `time.localtime()` reads the same calendar. The
/// official firmware prints the same lines for this script.
#[test]
fn rtc_calendar_and_wakeup_callbacks() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "rtc.py",
        "import pyb, time, machine\nrtc = pyb.RTC()\nprint(rtc.datetime(), time.localtime()[:6])\n\
         ts = []\nrtc.datetime((2026, 11, 23, 1, 12, 0, 0, 0))\n\
         rtc.wakeup(100, lambda r: ts.append(time.ticks_us()))\npyb.delay(1050)\nrtc.wakeup(None)\n\
         d = [time.ticks_diff(b, a) for a, b in zip(ts, ts[1:])]\n\
         print(len(ts), min(d) >= 99965, max(d) <= 99986)\n\
         print(rtc.datetime()[4:7], time.localtime()[:6], machine.RTC is pyb.RTC, hex(rtc.info()))\n",
    );
    let o = pybsim(&["run", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "(2015, 1, 1, 4, 0, 0, 0, 255) (2015, 1, 1, 0, 0, 0)\n10 True True\n\
         (12, 0, 1) (2026, 11, 23, 12, 0, 1) True 0x30000258\n"
    );
}

#[test]
fn serial_stdio_serves_the_repl_to_a_pipe() {
    let Some(fw) = firmware() else { return };
    let mut child = Command::new(env!("CARGO_BIN_EXE_pybsim"))
        .args(["run", fw.to_str().unwrap(), "--serial", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"print(6 * 7)\r")
        .unwrap();
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert!(out.contains(">>> print(6 * 7)\r\n42\r\n"), "{out:?}");
}

/// Starts `pybsim run --serial pty`; returns the child and its first stdout line.
fn spawn_pty(fw: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pybsim"))
        .args(["run", "--firmware", fw.to_str().unwrap(), "--serial", "pty"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// Reads from `r` until the bytes read so far contain `want`. Fails (instead of hanging)
/// when nothing arrives for a minute of wall time: only a broken run is that slow.
fn read_until(r: &mut (impl std::io::Read + std::os::fd::AsFd), want: &str) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains(want) {
        let ready = {
            let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(60_000u16)).unwrap()
        };
        assert!(
            ready > 0,
            "nothing for 60 s while waiting for {want:?}; got {:?}",
            String::from_utf8_lossy(&got)
        );
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn serial_pty_announces_its_device_like_qemu() {
    let Some(fw) = firmware() else { return };
    let (mut child, line) = spawn_pty(&fw);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.starts_with("char device redirected to /dev/pts/")
            && line.ends_with(" (label serial0)\n"),
        "{line:?}"
    );
}

#[test]
fn boards_lists_both_pyboards() {
    let o = pybsim(&["boards"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert!(out.contains("pybv11: PYBv1.1 (STM32F405RG)"), "{out}");
    assert!(out.contains("pybv10: PYBv1.0"), "{out}");
    assert!(out.contains("X1=A0"), "{out}");
    assert!(
        out.contains("HSE 8000000 Hz"),
        "v1.0 has an 8 MHz crystal: {out}"
    );
}

#[test]
fn the_pty_survives_its_peer_closing_and_reopening() {
    let Some(fw) = firmware() else { return };
    let (mut child, line) = spawn_pty(&fw);
    let dev = line
        .trim_start_matches("char device redirected to ")
        .trim_end_matches(" (label serial0)\n")
        .to_string();
    let ask = |expr: &str, want: &str| {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&dev)
            .unwrap();
        f.write_all(format!("print({expr})\r").as_bytes()).unwrap();
        read_until(&mut f, want);
    };
    ask("6 * 7", "\r\n42\r\n");
    // A second peer after the first closed the device.
    ask("100 + 23", "\r\n123\r\n");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn files_from_fs_are_on_the_flash_filesystem() {
    if firmware().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pybsim-cli-fs-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("helper.py"), "def answer():\n    return 42\n").unwrap();
    std::fs::write(dir.join("lib/data.txt"), "from the host\n").unwrap();
    let s = script(
        "usefs.py",
        "import os, helper\nprint(helper.answer())\nprint(sorted(os.listdir('/flash')))\n\
         print(open('/flash/lib/data.txt').read().strip())\n",
    );
    let o = pybsim(&["run", "--fs", dir.to_str().unwrap(), s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "42\n['helper.py', 'lib']\nfrom the host\n");
    let o = pybsim(&["run", "--fs", "/nonexistent/dir", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(66));
}

#[test]
fn serial_tcp_serves_the_repl_on_loopback() {
    let Some(fw) = firmware() else { return };
    // A free port: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pybsim"))
        .args(["run", "--firmware", fw.to_str().unwrap()])
        .arg(format!("--serial=tcp:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sock = None;
    for _ in 0..500 {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            sock = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut sock = sock.expect("pybsim listens on the port");
    sock.write_all(b"print(7 * 6)\r").unwrap();
    read_until(&mut sock, "\r\n42\r\n");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_script_that_is_not_text_is_refused_before_it_reaches_the_board() {
    let s = script("binary.py", "print(1)\n\u{3}garbage\n");
    let fw = firmware().unwrap_or_else(|| repo().join("emulator/Cargo.toml"));
    let o = pybsim(&[
        "run",
        "--firmware",
        fw.to_str().unwrap(),
        s.to_str().unwrap(),
    ]);
    if firmware().is_none() {
        return;
    }
    assert_eq!(o.status.code(), Some(65), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("binary.py") && err.contains("control byte 0x03 at offset 9"),
        "{err}"
    );
}

#[test]
fn a_firmware_without_a_console_repl_gives_up_after_30_virtual_seconds() {
    let elf = pybsim::testkit::build_program("idle").expect("assemble idle.S");
    let s = script("never.py", "print(1)\n");
    let o = pybsim(&[
        "run",
        "--firmware",
        elf.to_str().unwrap(),
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("did not show a REPL prompt"), "{err}");
    assert!(err.contains("within 30 s of board time"), "{err}");
}
