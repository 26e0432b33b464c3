use std::path::PathBuf;

use pybsim_boards::{
    AccelModel, Access, Board, Colour, Level, LoadError, MemoryKind, PeripheralKind, PinId,
    Problem, Pull, Wire,
};

const HEAD: &str = "Board(
    name: \"T\",
    mcu: Mcu(part: \"STM32F405RG\", core: \"cortex-m4f\", max_sysclk_hz: 168_000_000, irq_lines: 82),
    clocks: Clocks(hse_hz: 12_000_000, lse_hz: 32_768, hsi_hz: 16_000_000, lsi_hz: 32_000),
";

const GPIOA: &str = "        (name: \"GPIOA\", kind: Gpio, base: 0x4002_0000, size: 0x400),\n";

fn board(body: &str) -> String {
    format!("{HEAD}{body})\n")
}

/// 1-based line and column of the unique occurrence of `needle` in `text`, plus `skip`
/// characters.
fn pos_of(text: &str, needle: &str, skip: usize) -> (usize, usize) {
    assert_eq!(text.matches(needle).count(), 1, "{needle:?} must be unique");
    for (i, line) in text.lines().enumerate() {
        if let Some(byte) = line.find(needle) {
            return (i + 1, line[..byte].chars().count() + 1 + skip);
        }
    }
    unreachable!()
}

/// Parses `text` as bad.ron, expects a file error at `at`, checks its Display is one
/// line naming the file and position, and returns the problem.
fn bad(text: &str, at: (usize, usize)) -> Problem {
    let err = Board::parse(text, "dir/bad.ron").unwrap_err();
    let msg = err.to_string();
    let loc = err.location().expect("error has a location").clone();
    assert_eq!(loc.file, "dir/bad.ron");
    assert_eq!((loc.line, loc.column), at, "{msg}");
    assert!(
        msg.starts_with(&format!("dir/bad.ron:{}:{}: ", at.0, at.1)),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    err.problem().unwrap().clone()
}

#[test]
fn builtin_boards_load_and_validate() {
    assert_eq!(Board::builtin_names(), ["pybv11", "pybv10"]);
    for name in Board::builtin_names() {
        let b = Board::builtin(name).unwrap();
        assert_eq!(b.mcu.part, "STM32F405RG");
        assert_eq!(b.mcu.irq_lines, 82);
        assert_eq!(b.clocks.lse_hz, 32_768);
        assert_eq!(b.leds.len(), 4);
        assert!(b.wiring.is_empty());
    }
    assert_eq!(Board::builtin("pybv11").unwrap().clocks.hse_hz, 12_000_000);
    assert_eq!(Board::builtin("PYBV10").unwrap().clocks.hse_hz, 8_000_000);
    assert_eq!(Board::builtin("pybv11").unwrap().name, "PYBv1.1");
    assert_eq!(Board::builtin("pybv10").unwrap().name, "PYBv1.0");
}

#[test]
fn unknown_builtin() {
    let err = Board::builtin("pybv12").unwrap_err();
    assert!(matches!(err, LoadError::UnknownBuiltin { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("pybv12") && msg.contains("pybv11, pybv10"),
        "{msg}"
    );
}

#[test]
fn pybv11_memories() {
    let b = Board::builtin("pybv11").unwrap();
    let flash = b.memory("FLASH").unwrap();
    assert_eq!((flash.base, flash.size), (0x0800_0000, 1 << 20));
    assert_eq!(flash.aliases, [0]);
    assert_eq!(flash.kind, MemoryKind::Flash);
    assert!(flash.access.executable() && !flash.access.writable());
    let sram = b.memory("SRAM").unwrap();
    assert_eq!((sram.base, sram.size), (0x2000_0000, 128 << 10));
    let ccm = b.memory("CCM").unwrap();
    assert_eq!(
        (ccm.base, ccm.size, ccm.access),
        (0x1000_0000, 64 << 10, Access::ReadWrite)
    );
    assert!(!ccm.access.executable());
    let bkp = b.memory("BKPSRAM").unwrap();
    assert_eq!((bkp.base, bkp.size), (0x4002_4000, 4 << 10));
    let sys = b.memory("SYSTEM").unwrap();
    assert_eq!((sys.base, sys.size), (0x1FFF_0000, 30 << 10));
    let otp = b.memory("OTP").unwrap();
    assert_eq!((otp.base, otp.size), (0x1FFF_7800, 528));
    let ob = b.memory("OPTION_BYTES").unwrap();
    assert_eq!(
        (ob.base, ob.size, ob.access),
        (0x1FFF_C000, 16, Access::ReadOnly)
    );
}

#[test]
fn pybv11_peripherals() {
    let b = Board::builtin("pybv11").unwrap();
    let base = |n: &str| b.peripheral(n).unwrap_or_else(|| panic!("{n}")).base;
    let irq = |n: &str, i: &str| b.peripheral(n).unwrap().irq(i);
    for (i, port) in "ABCDEFGHI".chars().enumerate() {
        assert_eq!(base(&format!("GPIO{port}")), 0x4002_0000 + 0x400 * i as u32);
    }
    assert_eq!(base("RCC"), 0x4002_3800);
    assert_eq!(base("FLASH"), 0x4002_3C00);
    assert_eq!(base("CONSOLE"), 0x4000_8000);
    assert!(b.peripheral("CONSOLE").unwrap().irqs.is_empty());
    assert_eq!(
        b.peripheral("CONSOLE").unwrap().kind,
        PeripheralKind::Console
    );
    for (n, addr, line) in [
        ("USART1", 0x4001_1000, 37),
        ("USART2", 0x4000_4400, 38),
        ("USART3", 0x4000_4800, 39),
        ("UART4", 0x4000_4C00, 52),
        ("UART5", 0x4000_5000, 53),
        ("USART6", 0x4001_1400, 71),
        ("TIM2", 0x4000_0000, 28),
        ("TIM3", 0x4000_0400, 29),
        ("TIM4", 0x4000_0800, 30),
        ("TIM5", 0x4000_0C00, 50),
        ("TIM6", 0x4000_1000, 54),
        ("TIM7", 0x4000_1400, 55),
    ] {
        assert_eq!(base(n), addr, "{n}");
        assert_eq!(irq(n, "global"), Some(line), "{n}");
    }
    assert_eq!(b.uart(4).unwrap().name, "UART4");
    assert_eq!(b.uart(6).unwrap().name, "USART6");
    assert!(b.uart(7).is_none());
    let tim1: Vec<u32> = b
        .peripheral("TIM1")
        .unwrap()
        .irqs
        .iter()
        .map(|i| i.line)
        .collect();
    assert_eq!(tim1, [24, 25, 26, 27]);
    let tim8: Vec<u32> = b
        .peripheral("TIM8")
        .unwrap()
        .irqs
        .iter()
        .map(|i| i.line)
        .collect();
    assert_eq!(tim8, [43, 44, 45, 46]);
    assert_eq!(irq("TIM9", "global"), Some(24));
    assert_eq!(irq("TIM14", "global"), Some(45));
    assert_eq!(irq("I2C1", "ev"), Some(31));
    assert_eq!(irq("RNG", "global"), Some(80));
    assert_eq!(base("USB_OTG_FS"), 0x5000_0000);
    assert_eq!(base("RNG"), 0x5006_0800);
}

#[test]
fn pybv11_pins_and_devices() {
    let b = Board::builtin("pybv11").unwrap();
    let p = |port, pin| Some(PinId { port, pin });
    assert_eq!(b.pin("X1"), p(0, 0));
    assert_eq!(b.pin("A0"), p(0, 0));
    assert_eq!(b.pin("PA0"), p(0, 0));
    assert_eq!(b.pin("x1"), p(0, 0));
    assert_eq!(b.pin("X9"), p(1, 6));
    assert_eq!(b.pin("X12"), p(2, 5));
    assert_eq!(b.pin("Y1"), p(2, 6));
    assert_eq!(b.pin("Y12"), p(1, 1));
    assert_eq!(b.pin("X17"), p(1, 3));
    assert_eq!(b.pin("X18"), p(2, 13));
    assert_eq!(b.pin("X22"), p(2, 3));
    assert_eq!(b.pin("SD"), p(0, 8));
    assert_eq!(b.pin("SD_SW"), p(0, 8));
    assert_eq!(b.pin("X13"), None);
    assert_eq!(b.pin("PZ1"), None);
    assert_eq!(b.pin_names(PinId { port: 1, pin: 3 }), ["X17", "SW"]);

    let leds: Vec<_> = b
        .leds
        .iter()
        .map(|l| (l.name.as_str(), l.colour, b.pin(&l.pin).unwrap(), l.active))
        .collect();
    assert_eq!(
        leds,
        [
            ("LED1", Colour::Red, PinId { port: 0, pin: 13 }, Level::High),
            (
                "LED2",
                Colour::Green,
                PinId { port: 0, pin: 14 },
                Level::High
            ),
            (
                "LED3",
                Colour::Yellow,
                PinId { port: 0, pin: 15 },
                Level::High
            ),
            ("LED4", Colour::Blue, PinId { port: 1, pin: 4 }, Level::High),
        ]
    );
    let sw = b.switch.as_ref().unwrap();
    assert_eq!(b.pin(&sw.pin), p(1, 3));
    assert_eq!((sw.active, sw.pull), (Level::Low, Pull::Up));
    let acc = b.accelerometer.as_ref().unwrap();
    assert_eq!(acc.model, AccelModel::Mma7660);
    assert_eq!((acc.bus.as_str(), acc.address), ("I2C1", 0x4C));
    assert_eq!(b.pin(&acc.power_pin), p(1, 5));
    assert_eq!(b.pin(acc.int_pin.as_deref().unwrap()), p(1, 2));
}

#[test]
fn pybv10_matches_v11_but_for_the_crystal() {
    let mut v10 = Board::builtin("pybv10").unwrap();
    let v11 = Board::builtin("pybv11").unwrap();
    v10.name = v11.name.clone();
    v10.clocks.hse_hz = v11.clocks.hse_hz;
    assert_eq!(v10, v11);
}

#[test]
fn wires() {
    let b = Board::builtin("pybv11").unwrap();
    let w: Wire = "Y1:Y2".parse().unwrap();
    assert_eq!(
        b.resolve_wire(&w),
        Ok((PinId { port: 2, pin: 6 }, PinId { port: 2, pin: 7 }))
    );
    let w: Wire = "X1:PA0".parse().unwrap();
    assert!(b.resolve_wire(&w).unwrap_err().to_string().contains("PA0"));
    let w: Wire = "Q1:Y2".parse().unwrap();
    let e = b.resolve_wire(&w).unwrap_err().to_string();
    assert!(e.contains("unknown pin name \"Q1\""), "{e}");
}

#[test]
fn load_from_disk_and_missing_file() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("boards-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mine.ron");
    std::fs::write(&path, include_str!("../pybv11.ron")).unwrap();
    assert_eq!(
        Board::load(&path).unwrap(),
        Board::builtin("pybv11").unwrap()
    );

    let bad_path = dir.join("typo.ron");
    std::fs::write(&bad_path, board("    peripheral: [],\n")).unwrap();
    let err = Board::load(&bad_path).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}:5:5: ", bad_path.display())),
        "{msg}"
    );

    let missing = dir.join("nope.ron");
    let err = Board::load(&missing).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }));
    assert!(err.to_string().contains("nope.ron"));
}

#[test]
fn minimal_board_is_valid() {
    let b = Board::parse(&board(""), "min.ron").unwrap();
    assert!(b.peripherals.is_empty() && b.switch.is_none());
}

#[test]
fn syntax_error() {
    let text = board(
        "    peripherals: [\n        (name: \"GPIOA\" kind: Gpio, base: 0, size: 4),\n    ],\n",
    );
    let at = pos_of(&text, "kind: Gpio", 0);
    match bad(&text, at) {
        Problem::Syntax(m) => assert!(m.contains("comma"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_type() {
    let text = board("    leds: [(name: 1, colour: Red, pin: \"A0\", active: High)],\n");
    let at = pos_of(&text, "1, colour", 0);
    assert!(matches!(bad(&text, at), Problem::Syntax(_)));
}

#[test]
fn unknown_field_typo() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}        (name: \"GPIOB\", kind: Gpio, bsae: 0x4002_0400, size: 0x400),\n    ],\n"
    ));
    let at = pos_of(&text, "bsae", 0);
    match bad(&text, at) {
        Problem::UnknownField { field, expected } => {
            assert_eq!(field, "bsae");
            assert!(expected.contains("base"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_enum_variant() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}        (name: \"X\", kind: Gpoi, base: 0, size: 4),\n    ],\n"
    ));
    let at = pos_of(&text, "Gpoi", 0);
    match bad(&text, at) {
        Problem::Syntax(m) => assert!(m.contains("Gpoi") && m.contains("Gpio"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_field() {
    let text = "Board(\n    name: \"T\",\n    clocks: Clocks(hse_hz: 1, lse_hz: 1, hsi_hz: 1, lsi_hz: 1),\n)\n";
    let err = Board::parse(text, "m.ron").unwrap_err();
    assert_eq!(err.problem(), Some(&Problem::MissingField("mcu".into())));
    assert!(err
        .to_string()
        .starts_with("m.ron:4:1: missing field `mcu`"));
}

#[test]
fn unknown_pin_in_led() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}    ],\n    leds: [\n        (name: \"LED1\", colour: Red, pin: \"PZ9\", active: High),\n    ],\n"
    ));
    let at = pos_of(&text, "\"PZ9\"", 0);
    assert_eq!(bad(&text, at), Problem::UnknownPin("PZ9".into()));
}

#[test]
fn pin_on_a_port_the_board_lacks() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}    ],\n    pins: [(name: \"X1\", cpu: \"A0\"), (name: \"X2\", cpu: \"B1\")],\n"
    ));
    let at = pos_of(&text, "\"B1\"", 0);
    assert_eq!(bad(&text, at), Problem::UnknownPin("B1".into()));
}

#[test]
fn unknown_pin_in_switch_and_accelerometer() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}    ],\n    switch: Some((name: \"USR\", pin: \"X99\", active: Low, pull: Up)),\n"
    ));
    let at = pos_of(&text, "\"X99\"", 0);
    assert_eq!(bad(&text, at), Problem::UnknownPin("X99".into()));

    let text = board(&format!(
        "    peripherals: [\n{GPIOA}        (name: \"I2C1\", kind: I2c, base: 0x4000_5400, size: 0x400),\n    ],\n    accelerometer: Some((model: Mma7660, bus: \"I2C1\", address: 0x4C, power_pin: \"A5\", int_pin: Some(\"A77\"))),\n"
    ));
    let at = pos_of(&text, "\"A77\"", 0);
    assert_eq!(bad(&text, at), Problem::UnknownPin("A77".into()));
}

#[test]
fn overlapping_peripherals() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}        (name: \"GPIOB\", kind: Gpio, base: 0x4002_0200, size: 0x400),\n    ],\n"
    ));
    let at = pos_of(&text, "0x4002_0200", 0);
    match bad(&text, at) {
        Problem::Overlap { name, other, .. } => {
            assert_eq!((name.as_str(), other.as_str()), ("GPIOB", "GPIOA"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn overlapping_memories_and_aliases() {
    let text = board(
        "    memories: [
        (name: \"FLASH\", kind: Flash, base: 0x0800_0000, size: 0x100000, access: ReadExecute, aliases: [0]),
        (name: \"SRAM\", kind: Sram, base: 0x2000_0000, size: 0x20000, access: ReadWriteExecute, aliases: [0x000F_0000]),
    ],
",
    );
    let at = pos_of(&text, "0x000F_0000", 0);
    match bad(&text, at) {
        Problem::Overlap { name, other, .. } => {
            assert_eq!(
                (name.as_str(), other.as_str()),
                ("SRAM alias", "FLASH alias")
            );
        }
        other => panic!("{other:?}"),
    }

    let text = board(
        "    memories: [
        (name: \"BKPSRAM\", kind: BackupSram, base: 0x4002_4000, size: 0x1000, access: ReadWrite),
    ],
    peripherals: [
        (name: \"DMA1\", kind: Dma, base: 0x4002_4C00, size: 0x400),
    ],
",
    );
    let at = pos_of(&text, "0x4002_4C00", 0);
    assert!(matches!(bad(&text, at), Problem::Overlap { .. }));
}

#[test]
fn region_past_4_gib() {
    let text =
        board("    peripherals: [(name: \"X\", kind: Rcc, base: 0xFFFF_FF00, size: 0x400)],\n");
    let at = pos_of(&text, "0xFFFF_FF00", 0);
    assert!(matches!(bad(&text, at), Problem::Invalid(_)));
}

#[test]
fn irq_out_of_range() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}        (name: \"USART1\", kind: Usart, base: 0x4001_1000, size: 0x400, irqs: [(name: \"global\", line: 82)]),\n    ],\n"
    ));
    let at = pos_of(&text, "line: 82", 6);
    assert_eq!(
        bad(&text, at),
        Problem::IrqOutOfRange {
            peripheral: "USART1".into(),
            line: 82,
            max: 81
        }
    );
}

#[test]
fn console_has_no_irq() {
    let text = board(
        "    peripherals: [(name: \"CONSOLE\", kind: Console, base: 0x4000_8000, size: 0x400, irqs: [(name: \"rx\", line: 3)])],\n",
    );
    let at = pos_of(&text, "[(name: \"rx\"", 0);
    assert!(matches!(bad(&text, at), Problem::Invalid(m) if m.contains("console")));
}

#[test]
fn duplicate_names() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}        (name: \"gpioa\", kind: Gpio, base: 0x4002_0400, size: 0x400),\n    ],\n"
    ));
    let at = pos_of(&text, "\"gpioa\"", 0);
    assert_eq!(
        bad(&text, at),
        Problem::Duplicate {
            what: "peripheral",
            name: "gpioa".into()
        }
    );

    let text = board(&format!(
        "    peripherals: [\n{GPIOA}    ],\n    pins: [(name: \"X1\", cpu: \"A0\"), (name: \"X1\", cpu: \"A1\")],\n"
    ));
    let at = pos_of(&text, "(name: \"X1\", cpu: \"A1\")", 7);
    assert!(matches!(
        bad(&text, at),
        Problem::Duplicate { what: "pin", .. }
    ));
}

#[test]
fn board_name_that_is_another_cpu_pin() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}    ],\n    pins: [(name: \"A1\", cpu: \"A0\")],\n"
    ));
    let at = pos_of(&text, "\"A1\"", 0);
    assert!(matches!(bad(&text, at), Problem::Invalid(_)));
}

#[test]
fn accelerometer_on_a_bus_that_is_not_i2c() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}    ],\n    accelerometer: Some((model: Mma7660, bus: \"GPIOA\", address: 0x4C, power_pin: \"A5\")),\n"
    ));
    let at = pos_of(&text, "\"GPIOA\", address", 0);
    assert!(matches!(bad(&text, at), Problem::Invalid(m) if m.contains("I2C")));
}

#[test]
fn bad_default_wiring() {
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}    ],\n    wiring: [(a: \"A1\", b: \"B1\")],\n"
    ));
    let at = pos_of(&text, "\"B1\"", 0);
    assert_eq!(bad(&text, at), Problem::UnknownPin("B1".into()));
}

#[test]
fn non_ascii_columns_count_characters() {
    let text = board(&format!(
        "    // größe\n    peripherals: [\n{GPIOA}    ],\n    leds: [(name: \"Ä\", colour: Red, pin: \"PZ9\", active: High)],\n"
    ));
    let at = pos_of(&text, "\"PZ9\"", 0);
    assert_eq!(bad(&text, at), Problem::UnknownPin("PZ9".into()));
}
