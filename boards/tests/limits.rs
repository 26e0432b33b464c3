//! Board files that parse but would make the machine panic, loop or misbehave: each is
//! refused with an error naming file, line and column (issues 17 and 22).

use pybsim_boards::{Board, Problem};

const HEAD: &str = "Board(
    name: \"T\",
    mcu: Mcu(part: \"STM32F405RG\", core: \"cortex-m4f\", max_sysclk_hz: 168_000_000, irq_lines: 82),
    clocks: Clocks(hse_hz: 12_000_000, lse_hz: 32_768, hsi_hz: 16_000_000, lsi_hz: 32_000),
";

const GPIOA: &str = "        (name: \"GPIOA\", kind: Gpio, base: 0x4002_0000, size: 0x400),\n";

fn board(body: &str) -> String {
    format!("{HEAD}{body})\n")
}

fn with_peripheral(line: &str) -> String {
    board(&format!(
        "    peripherals: [\n{GPIOA}        {line}\n    ],\n"
    ))
}

fn pos_of(text: &str, needle: &str) -> (usize, usize) {
    assert_eq!(text.matches(needle).count(), 1, "{needle:?} must be unique");
    for (i, line) in text.lines().enumerate() {
        if let Some(byte) = line.find(needle) {
            return (i + 1, line[..byte].chars().count() + 1);
        }
    }
    unreachable!()
}

/// The error for `text`, which must be at `needle`; returns its message.
fn bad_at(text: &str, needle: &str) -> String {
    bad_after(text, needle, 0)
}

/// As [`bad_at`], the error `skip` characters after the start of `needle`.
fn bad_after(text: &str, needle: &str, skip: usize) -> String {
    let err = Board::parse(text, "b.ron").expect_err("the board must be refused");
    let msg = err.to_string();
    let (line, col) = pos_of(text, needle);
    let col = col + skip;
    assert!(
        msg.starts_with(&format!("b.ron:{line}:{col}: ")),
        "expected the error at {line}:{col}: {msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    assert!(
        matches!(err.problem(), Some(Problem::Invalid(_))),
        "{:?}",
        err.problem()
    );
    msg
}

#[test]
fn a_tenth_gpio_port_is_refused() {
    // GPIOJ made `Gpio::new(9)` assert (exit 101).
    let text = with_peripheral("(name: \"GPIOJ\", kind: Gpio, base: 0x4002_2400, size: 0x400),");
    let msg = bad_at(&text, "\"GPIOJ\"");
    assert!(msg.contains("GPIOA") && msg.contains("GPIOI"), "{msg}");
}

#[test]
fn gpio_names_that_are_no_port() {
    for name in ["GPIOZ", "GPIO1", "gpiob", "GPIO", "GPIOAB"] {
        let text = with_peripheral(&format!(
            "(name: \"{name}\", kind: Gpio, base: 0x4002_0400, size: 0x400),"
        ));
        bad_at(&text, &format!("\"{name}\""));
    }
}

#[test]
fn timer_names_the_model_would_assert_on() {
    // TIM99 made `timer::instance(99)` assert; TIM0 likewise.
    for name in ["TIM99", "TIM0", "TIM15", "TIM"] {
        let text = with_peripheral(&format!(
            "(name: \"{name}\", kind: GeneralPurposeTimer, base: 0x4000_0000, size: 0x400),"
        ));
        bad_at(&text, &format!("\"{name}\""));
    }
    // A real timer of the wrong kind.
    let text =
        with_peripheral("(name: \"TIM6\", kind: AdvancedTimer, base: 0x4000_1000, size: 0x400),");
    let msg = bad_at(&text, "\"TIM6\"");
    assert!(msg.contains("BasicTimer"), "{msg}");
}

#[test]
fn uart_names_the_model_would_panic_on() {
    // USART7 made `usart::instance(7)` panic; UART1 made a USART1 model nobody routes to.
    for name in ["USART7", "UART1", "USART0", "USART4", "UART6"] {
        let text = with_peripheral(&format!(
            "(name: \"{name}\", kind: Usart, base: 0x4001_1000, size: 0x400),"
        ));
        bad_at(&text, &format!("\"{name}\""));
    }
}

#[test]
fn other_instance_names() {
    for (name, kind) in [
        ("SPI4", "Spi"),
        ("I2C0", "I2c"),
        ("I2C4", "I2c"),
        ("DMA3", "Dma"),
        ("RCC2", "Rcc"),
        ("CONSOLE2", "Console"),
        ("ADC", "Dac"),
    ] {
        let text = with_peripheral(&format!(
            "(name: \"{name}\", kind: {kind}, base: 0x4000_3800, size: 0x400),"
        ));
        bad_at(&text, &format!("\"{name}\""));
    }
}

#[test]
fn a_peripheral_ending_at_4_gib_is_refused() {
    // `Bus::mount` looped forever: its address counter wrapped past 4 GiB.
    let text = with_peripheral("(name: \"RCC\", kind: Rcc, base: 0xFFFF_FC00, size: 0x400),");
    let msg = bad_at(&text, "0xFFFF_FC00");
    assert!(msg.contains("0x4000_0000"), "names the bus windows: {msg}");
}

#[test]
fn a_2_gib_peripheral_is_refused() {
    // `Bus::pages` was quadratic in the size.
    let text = with_peripheral("(name: \"RCC\", kind: Rcc, base: 0x5000_0000, size: 0x8000_0000),");
    bad_at(&text, "0x5000_0000");
}

#[test]
fn peripherals_sit_on_whole_1_kib_blocks_of_the_bus() {
    let text = with_peripheral("(name: \"RCC\", kind: Rcc, base: 0x4002_3900, size: 0x400),");
    let msg = bad_at(&text, "0x4002_3900");
    assert!(msg.contains("1 KiB"), "{msg}");
    let text = with_peripheral("(name: \"RCC\", kind: Rcc, base: 0x4002_3800, size: 0x10),");
    let msg = bad_after(&text, "size: 0x10", 6);
    assert!(msg.contains("1 KiB"), "{msg}");
    // Outside the windows the bus decodes (it would be mapped but never answer).
    let text = with_peripheral("(name: \"RCC\", kind: Rcc, base: 0x6000_0000, size: 0x400),");
    bad_at(&text, "0x6000_0000");
    let text = with_peripheral("(name: \"RCC\", kind: Rcc, base: 0x4007_FC00, size: 0x800),");
    bad_at(&text, "0x4007_FC00");
    // The last block of each window is fine.
    for base in ["0x4007_FC00", "0x5007_FC00"] {
        let text = with_peripheral(&format!(
            "(name: \"RCC\", kind: Rcc, base: {base}, size: 0x400),"
        ));
        Board::parse(&text, "b.ron").unwrap();
    }
}

#[test]
fn clock_sources_within_the_datasheet_ranges() {
    let clocks =
        "clocks: Clocks(hse_hz: 12_000_000, lse_hz: 32_768, hsi_hz: 16_000_000, lsi_hz: 32_000)";
    for (field, value, ok) in [
        ("hse_hz", "1", false),
        ("hse_hz", "3_999_999", false),
        ("hse_hz", "4_000_000", true),
        ("hse_hz", "26_000_000", true),
        ("hse_hz", "26_000_001", false),
        ("lse_hz", "32_768", true),
        ("lse_hz", "1_000_001", false),
        ("hsi_hz", "16_000_000", true),
        ("hsi_hz", "8_000_000", false),
        ("lsi_hz", "17_000", true),
        ("lsi_hz", "47_000", true),
        ("lsi_hz", "5", false),
        ("lsi_hz", "48_000", false),
    ] {
        let old = match field {
            "hse_hz" => "12_000_000",
            "lse_hz" => "32_768",
            "hsi_hz" => "16_000_000",
            _ => "32_000",
        };
        let mine = clocks.replace(&format!("{field}: {old}"), &format!("{field}: {value}"));
        let text = board("").replace(clocks, &mine);
        if ok {
            Board::parse(&text, "b.ron").unwrap();
        } else {
            let msg = bad_after(&text, &format!("{field}: {value}"), field.len() + 2);
            assert!(msg.contains("DS8626"), "cites the datasheet: {msg}");
        }
    }
}

#[test]
fn too_many_pins_wires_memories() {
    let pins: String = (0..1025)
        .map(|i| format!("(name: \"P{i}X\", cpu: \"A0\"),"))
        .collect();
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}    ],\n    pins: [{pins}],\n"
    ));
    let msg = bad_at(&text, "(name: \"P1024X\"");
    assert!(msg.contains("1024"), "{msg}");

    let wires: String = (0..1025).map(|_| "(a: \"A0\", b: \"A1\"),").collect();
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}    ],\n    wiring: [{wires}(a: \"A2\", b: \"A3\")],\n"
    ));
    let err = Board::parse(&text, "b.ron").unwrap_err().to_string();
    assert!(err.contains("wires") && err.contains("1024"), "{err}");

    let mems: String = (0..65)
        .map(|i| {
            format!(
                "(name: \"M{i}\", kind: Sram, base: {:#x}, size: 0x100, access: ReadWrite),",
                0x2000_0000u32 + i * 0x100
            )
        })
        .collect();
    let text = board(&format!("    memories: [{mems}],\n"));
    let err = Board::parse(&text, "b.ron").unwrap_err().to_string();
    assert!(err.contains("memories") && err.contains("64"), "{err}");
}

#[test]
fn accelerometer_bus_named_exactly() {
    // The machine looks the bus up by its exact name: "i2c1" hung the accelerometer
    // nowhere, silently.
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}        (name: \"I2C1\", kind: I2c, base: 0x4000_5400, size: 0x400),\n    ],\n    accelerometer: Some((model: Mma7660, bus: \"i2c1\", address: 0x4C, power_pin: \"A5\")),\n"
    ));
    let msg = bad_at(&text, "\"i2c1\"");
    assert!(msg.contains("I2C1"), "{msg}");
}

#[test]
fn the_builtin_boards_still_load() {
    for name in Board::builtin_names() {
        Board::builtin(name).unwrap();
    }
}

#[test]
fn pin_names_that_cannot_be_named_again_are_refused() {
    // Found by fuzzing: a pin named " " loaded, but lookups trim names, so nothing could
    // refer to it; "A:B" cannot be given to `--wire A:B`.
    for name in [" ", "", " X1", "X1 ", "A:B", "X,1", "X\\t1"] {
        let text = board(&format!(
            "    peripherals: [\n{GPIOA}    ],\n    pins: [(name: \"{name}\", cpu: \"A0\")],\n"
        ));
        let msg = bad_at(&text, &format!("\"{name}\", cpu"));
        assert!(msg.contains("letters, digits"), "{msg}");
    }
    let text = board(&format!(
        "    peripherals: [\n{GPIOA}    ],\n    pins: [(name: \"LED_RED-2.b\", cpu: \"A0\")],\n"
    ));
    Board::parse(&text, "b.ron").unwrap();
}

#[test]
fn names_with_control_characters_keep_errors_on_one_line() {
    // Found by fuzzing: a peripheral named "\n" made a two-line error.
    let text = with_peripheral("(name: \"\\n\", kind: Gpio, base: 0, size: 0x400),");
    let msg = bad_after(&text, "base: 0,", 6);
    assert!(msg.contains("\\n"), "{msg}");
    let text =
        with_peripheral("(name: \"A\\tB\\u{7}\", kind: Gpio, base: 0x4002_0400, size: 0x400),");
    let msg = bad_at(&text, "\"A\\tB");
    assert!(msg.contains("\\t") && msg.contains("\\u{7}"), "{msg}");
    // File names too.
    let err = Board::parse("Board(", "two\nlines.ron")
        .unwrap_err()
        .to_string();
    assert!(
        !err.contains('\n') && err.starts_with("two\\nlines.ron:"),
        "{err}"
    );
}
