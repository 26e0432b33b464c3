//! End-to-end tests of SPI and the watchdogs through the `pybsim` binary with the
//! default runtime firmware (issue 9): SPI loopback over `--wire`, frame timing in
//! virtual time, a master and a slave wired together, MISO's idle level; an unfed
//! `machine.WDT` resetting the board at its timeout, the reset cause after the reboot,
//! the exit status, boot loops ending at the budget, and the window watchdog.
//! They need .cache/firmware/firmware.elf (scripts/build-firmware.sh).

use std::process::Output;

mod common;
use common::{firmware, pybsim, scratch, script, text};

/// Reads `stm.mem32` DWT_CYCCNT around a transfer: the CPU cycles it took.
const CYC: &str = "import stm\ndef cyc():\n    return stm.mem32[0xE0001004]\n";

#[test]
fn spi_loopback_returns_what_was_sent_in_the_time_the_baud_rate_says() {
    if firmware().is_none() {
        return;
    }
    let body = format!(
        "{CYC}import pyb, machine\n\
         buf = bytes((i * 37 + 5) & 0xff for i in range(64))\n\
         for pre in (2, 16, 256):\n\
         \x20   spi = pyb.SPI(2, pyb.SPI.MASTER, prescaler=pre)\n\
         \x20   t0 = cyc()\n\
         \x20   r = spi.send_recv(buf)\n\
         \x20   t1 = cyc()\n\
         \x20   print(pre, r == buf, t1 - t0)\n\
         m = machine.SPI(2, baudrate=1000000)\n\
         print(m)\n\
         print(m.read(3, 0x5a))\n\
         rb = bytearray(4)\n\
         m.write_readinto(b'wxyz', rb)\n\
         print(rb)\n\
         w = pyb.SPI(1, pyb.SPI.MASTER, prescaler=4, bits=16, firstbit=pyb.SPI.LSB)\n\
         print(w.send_recv(b'\\x01\\x80\\x34\\x12'))\n"
    );
    let s = script("loop.py", &body);
    let o = pybsim(&[
        "run",
        "--wire",
        "Y8:Y7",
        "--wire",
        "X8:X7",
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 7, "{out}");
    for (line, pre) in lines[..3].iter().zip([2u64, 16, 256]) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[0], pre.to_string());
        assert_eq!(
            f[1], "True",
            "prescaler {pre}: loopback returns what was sent"
        );
        let cycles: u64 = f[2].parse().unwrap();
        // SPI2 runs on PCLK1 = 42 MHz, 4 CPU cycles a tick: 8 bits x prescaler x 4
        // cycles a frame; the polling loop adds a bounded overhead per byte.
        let frames = 64 * 8 * pre * 4;
        assert!(
            cycles >= frames && cycles < frames + 64 * 250,
            "prescaler {pre}: {cycles} cycles for 64 frames of {} cycles",
            8 * pre * 4
        );
    }
    assert_eq!(
        lines[3], "SPI(2, baudrate=656250, polarity=0, phase=0, bits=8)",
        "1 MHz asked: the fastest rate not above it is 42 MHz / 64"
    );
    assert_eq!(lines[4], "b'ZZZ'");
    assert_eq!(lines[5], "bytearray(b'wxyz')");
    assert_eq!(lines[6], "b'\\x01\\x804\\x12'", "16-bit LSB-first frames");
}

#[test]
fn spi_miso_reads_its_pull_level_when_nothing_is_wired() {
    if firmware().is_none() {
        return;
    }
    let s = script(
        "idle.py",
        "import pyb\n\
         spi = pyb.SPI(2, pyb.SPI.MASTER, prescaler=2)\n\
         print(spi.send_recv(b'ab'))\n\
         pyb.Pin('Y7', pyb.Pin.AF_PP, pull=pyb.Pin.PULL_UP, af=5)\n\
         print(spi.send_recv(b'ab'))\n",
    );
    let o = pybsim(&["run", s.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "b'\\x00\\x00'\nb'\\xff\\xff'\n");
}

#[test]
fn spi_master_and_slave_exchange_over_wires() {
    if firmware().is_none() {
        return;
    }
    // The slave's word is put in its DR before the master clocks (SPI2 DR at
    // 0x4000380C); the master's word lands in the slave's RX buffer.
    let s = script(
        "slave.py",
        "import pyb, stm\n\
         m = pyb.SPI(1, pyb.SPI.MASTER, prescaler=8)\n\
         s = pyb.SPI(2, pyb.SPI.SLAVE)\n\
         print(s)\n\
         stm.mem16[0x4000380C] = 0x5A\n\
         print(m.send_recv(b'\\xc3'))\n\
         print(s.recv(1))\n",
    );
    let o = pybsim(&[
        "run",
        "--wire",
        "X8:Y8",
        "--wire",
        "X7:Y7",
        "--wire",
        "X6:Y6",
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "SPI(2, SPI.SLAVE, polarity=1, phase=0, bits=8)\nb'Z'\nb'\\xc3'\n"
    );
}

/// Runs an unfed `machine.WDT(timeout=ms)` with a main.py that prints the reset cause;
/// returns the output and the cycle of the reset from pybsim's report.
fn unfed_wdt(ms: u32) -> (Output, u64) {
    let fs = scratch(&format!("fs{ms}"));
    std::fs::write(
        fs.join("main.py"),
        "import machine\nprint('main.py: reset cause', machine.reset_cause())\n",
    )
    .unwrap();
    let s = script(
        &format!("wdt{ms}.py"),
        &format!("import machine\nw = machine.WDT(timeout={ms})\nprint('started')\nwhile True:\n    pass\n"),
    );
    let o = pybsim(&[
        "run",
        "--fs",
        fs.to_str().unwrap(),
        "--max-time",
        "20s",
        s.to_str().unwrap(),
    ]);
    let err = text(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("pybsim: watchdog reset (IWDG) at "))
        .unwrap_or_else(|| panic!("no reset report: {err}"));
    let cycle: u64 = line
        .split("(cycle ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no cycle in {line:?}"));
    (o, cycle)
}

#[test]
fn an_unfed_wdt_resets_the_board_at_its_timeout() {
    if firmware().is_none() {
        return;
    }
    let (o1, c1) = unfed_wdt(1000);
    let (o2, c2) = unfed_wdt(2000);
    for o in [&o1, &o2] {
        assert_eq!(o.status.code(), Some(4), "stderr: {}", text(&o.stderr));
        let out = text(&o.stdout);
        // The script's output, then what the board prints as it boots again: main.py
        // with the cause machine.WDT_RESET (3), the banner of the friendly REPL.
        assert!(
            out.starts_with("started\nmain.py: reset cause 3\nMicroPython v1.25.0"),
            "{out}"
        );
        assert!(
            text(&o.stderr).contains("the script was interrupted by a watchdog reset"),
            "{}",
            text(&o.stderr)
        );
    }
    // Same script up to the timeout value: the resets are one second apart at 168 MHz
    // (RLR 4000 at /8 against 4000 at /16 of the 32 kHz LSI), give or take the few
    // cycles the prescaler search takes.
    let diff = c2 as i64 - c1 as i64;
    assert!(
        (diff - 168_000_000).abs() < 2_000,
        "resets at cycles {c1} and {c2}: {diff} apart"
    );
    // The first comes a second after the script started the watchdog, after the boot.
    let err = text(&o1.stderr);
    let at: f64 = err
        .split("watchdog reset (IWDG) at ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!((1.0..1.2).contains(&at), "reset at {at} s");
}

#[test]
fn a_watchdog_boot_loop_ends_at_the_budget() {
    if firmware().is_none() {
        return;
    }
    let fs = scratch("loopfs");
    std::fs::write(
        fs.join("main.py"),
        "import machine\nprint('boot', machine.reset_cause())\nmachine.WDT(timeout=100)\nwhile True:\n    pass\n",
    )
    .unwrap();
    let s = script("noop.py", "print('never')\n");
    let o = pybsim(&[
        "run",
        "--fs",
        fs.to_str().unwrap(),
        "--max-time",
        "1s",
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "stderr: {}", text(&o.stderr));
    let err = text(&o.stderr);
    let resets = err.matches("pybsim: watchdog reset (IWDG)").count();
    assert!((5..=10).contains(&resets), "{resets} resets in 1 s: {err}");
    assert!(err.contains("budget exceeded (--max-time 1s)"), "{err}");
}

#[test]
fn the_window_watchdog_resets_when_t6_falls() {
    if firmware().is_none() {
        return;
    }
    // WWDG on PCLK1 = 42 MHz / 4096 / 8 (WDGTB = 3): 64 steps from 0x7F to 0x3F are
    // 64 x 131072 = 8388608 CPU cycles (49.93 ms).
    let fs = scratch("wwdgfs");
    std::fs::write(
        fs.join("main.py"),
        "import machine\nprint('cause', machine.reset_cause())\n",
    )
    .unwrap();
    let s = script(
        "wwdg.py",
        "import stm\n\
         stm.mem32[0x40023840] |= 1 << 11\n\
         stm.mem32[0x40002C04] = (3 << 7) | 0x7F\n\
         stm.mem32[0x40002C00] = 0xFF\n\
         t0 = stm.mem32[0xE0001004]\n\
         while True:\n\
         \x20   pass\n",
    );
    let o = pybsim(&[
        "run",
        "--fs",
        fs.to_str().unwrap(),
        "--max-time",
        "5s",
        s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4), "stderr: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("pybsim: watchdog reset (WWDG) at "),
        "{}",
        text(&o.stderr)
    );
    let out = text(&o.stdout);
    assert!(out.starts_with("cause 3\nMicroPython v1.25.0"), "{out}");
}

/// A device on the SPI bus that answers each frame with the previous one inverted (a
/// one-frame delay, as many SPI peripherals have), counting what it saw.
struct Inverter {
    last: u16,
    seen: std::rc::Rc<std::cell::RefCell<Vec<(u16, u8, u8)>>>,
}

impl pybsim_peripherals::spi::SpiDevice for Inverter {
    fn exchange(&mut self, mosi: u16, bits: u8, mode: u8) -> u16 {
        self.seen.borrow_mut().push((mosi, bits, mode));
        std::mem::replace(&mut self.last, !mosi)
    }
}

#[test]
fn an_attached_spi_device_answers_the_master() {
    let Some(fw) = firmware() else {
        return;
    };
    let mut s = pybsim::session::Session::new(&pybsim::session::SessionConfig {
        board: "pybv11".into(),
        firmware: fw,
        max_ns: Some(10_000_000_000),
        ..Default::default()
    })
    .expect("session");
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    s.machine
        .attach_spi_device(
            1,
            Box::new(Inverter {
                last: 0x00A5,
                seen: seen.clone(),
            }),
        )
        .unwrap();
    assert!(s
        .machine
        .attach_spi_device(
            4,
            Box::new(Inverter {
                last: 0,
                seen: seen.clone(),
            })
        )
        .unwrap_err()
        .contains("SPI4 does not exist"));
    let mut out = Vec::new();
    let o = s
        .run_script(
            b"import machine\nm = machine.SPI(1, baudrate=2000000, polarity=1, phase=1)\nprint(m.read(3, 0x0f))\n",
            &mut out,
        )
        .expect("run");
    assert_eq!(o, pybsim::session::Outcome::Done, "{}", text(&out));
    assert_eq!(text(&out).replace("\r\n", "\n"), "b'\\xa5\\xf0\\xf0'\n");
    assert_eq!(*seen.borrow(), vec![(0x0F, 8, 3); 3]);
}
