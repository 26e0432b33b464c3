//! Fuzz targets `board_ron` and `stimuli_ron`: mutated board files and generated stimuli
//! files. Nothing may panic or hang; an error is one line naming file, line and column;
//! a board that loads satisfies everything the machine relies on. See
//! tests/fuzz/harness.rs for the knobs (PYBSIM_FUZZ_CASES, PYBSIM_FUZZ_SEED).

#[path = "../../tests/fuzz/harness.rs"]
mod harness;
#[path = "../../tests/fuzz/text_mutations.rs"]
mod text_mutations;

use text_mutations::{mutate, mutation};

use proptest::prelude::*;
use proptest::sample::select;

use pybsim_boards::{
    rm0090_names, Board, Event, PeripheralKind, PinId, Stimuli, BUS_WINDOWS, CLOCK_RANGES,
    MAX_EVENTS, MAX_PINS,
};

const MINIMAL: &str = r#"Board(
    name: "T",
    mcu: Mcu(part: "STM32F405RG", core: "cortex-m4f", max_sysclk_hz: 168_000_000, irq_lines: 82),
    clocks: Clocks(hse_hz: 12_000_000, lse_hz: 32_768, hsi_hz: 16_000_000, lsi_hz: 32_000),
    peripherals: [
        (name: "GPIOA", kind: Gpio, base: 0x4002_0000, size: 0x400),
        (name: "TIM2", kind: GeneralPurposeTimer, base: 0x4000_0000, size: 0x400, irqs: [(name: "global", line: 28)]),
        (name: "USART1", kind: Usart, base: 0x4001_1000, size: 0x400, irqs: [(name: "global", line: 37)]),
    ],
    pins: [(name: "X1", cpu: "A0")],
)
"#;

fn base_text(which: u8) -> &'static str {
    match which % 3 {
        0 => include_str!("../pybv11.ron"),
        1 => include_str!("../pybv10.ron"),
        _ => MINIMAL,
    }
}

// ---------------------------------------------------------------------------------------
// checks

fn check_error(e: &pybsim_boards::LoadError, text: &str, file: &str) -> Result<(), String> {
    let msg = e.to_string();
    if msg.contains('\n') {
        return Err(format!("error message is not one line: {msg:?}"));
    }
    let Some(loc) = e.location() else {
        return Err(format!("error without a location: {msg}"));
    };
    if loc.file != file || !msg.starts_with(&format!("{file}:{}:{}: ", loc.line, loc.column)) {
        return Err(format!("error does not start with file:line:column: {msg}"));
    }
    let lines = text.lines().count().max(1);
    if loc.line == 0 || loc.line > lines + 1 || loc.column == 0 {
        return Err(format!(
            "location {loc} outside the text ({lines} lines): {msg}"
        ));
    }
    Ok(())
}

/// What the machine relies on, for a board that loaded.
fn board_invariants(b: &Board) -> Result<(), String> {
    for p in &b.peripherals {
        if !rm0090_names(p.kind).contains(&p.name.as_str()) {
            return Err(format!("peripheral {} of kind {:?} loaded", p.name, p.kind));
        }
        let (start, end) = (u64::from(p.base), u64::from(p.base) + u64::from(p.size));
        if p.size == 0 || p.base % 0x400 != 0 || p.size % 0x400 != 0 {
            return Err(format!("peripheral {} not on whole 1 KiB blocks", p.name));
        }
        if !BUS_WINDOWS
            .iter()
            .any(|&(lo, hi)| start >= u64::from(lo) && end <= u64::from(hi))
        {
            return Err(format!("peripheral {} outside the bus windows", p.name));
        }
        if p.kind == PeripheralKind::Gpio && !b.has_port(p.name.as_bytes()[4] - b'A') {
            return Err(format!("{} is not a port of the board", p.name));
        }
    }
    for (field, lo, hi, _) in CLOCK_RANGES {
        let v = match field {
            "hse_hz" => b.clocks.hse_hz,
            "lse_hz" => b.clocks.lse_hz,
            "hsi_hz" => b.clocks.hsi_hz,
            _ => b.clocks.lsi_hz,
        };
        if !(lo..=hi).contains(&v) {
            return Err(format!("clock {field} = {v} loaded"));
        }
    }
    if b.pins.len() > MAX_PINS {
        return Err(format!("{} pins loaded", b.pins.len()));
    }
    for p in &b.pins {
        let id = b
            .pin(&p.name)
            .ok_or_else(|| format!("pin {} does not resolve", p.name))?;
        if !b
            .pin_names(id)
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&p.name))
        {
            return Err(format!("pin {} not among the names of {id}", p.name));
        }
    }
    for l in &b.leds {
        b.pin(&l.pin)
            .ok_or_else(|| format!("LED pin {} does not resolve", l.pin))?;
    }
    for w in &b.wiring {
        b.resolve_wire(w).map_err(|e| format!("wire: {e}"))?;
    }
    if let Some(a) = &b.accelerometer {
        if !b
            .peripherals
            .iter()
            .any(|p| p.name == a.bus && p.kind == PeripheralKind::I2c)
        {
            return Err(format!("accelerometer on {} loaded", a.bus));
        }
    }
    for n in 0..8 {
        let _ = b.uart(n);
    }
    for port in 0..12u8 {
        for pin in [0u8, 15, 16] {
            let _ = PinId::new(port, pin).map(|id| b.pin_names(id));
        }
    }
    Ok(())
}

fn check_board(text: &str) -> Result<(), String> {
    match Board::parse(text, "fuzz.ron") {
        Err(e) => check_error(&e, text, "fuzz.ron"),
        Ok(b) => board_invariants(&b),
    }
}

#[test]
fn board_ron() {
    let strategy = (0u8..3, proptest::collection::vec(mutation(), 1..6))
        .prop_map(|(which, muts)| mutate(base_text(which), &muts));
    harness::run(
        "board_ron",
        20_000,
        strategy,
        |_, bytes| String::from_utf8_lossy(bytes).into_owned(),
        |text| text.as_bytes().to_vec(),
        |text| check_board(text),
    );
}

// ---------------------------------------------------------------------------------------
// stimuli

fn time() -> impl Strategy<Value = String> {
    let fixed: Vec<String> = [
        "0s",
        "1ns",
        "2s",
        "1.5ms",
        ".25s",
        "10us",
        "10µs",
        "1000cycles",
        "1 cycle",
        "18446744073709551615ns",
        "18446744073709551614ns",
        "18446744073709551615cycles",
        "18446744073709551616cycles",
        "99999999999999999999999s",
        "18446744073.709551615s",
        "-1s",
        "1.0000000001s",
        "0.5ns",
        "",
        "s",
        "2",
        "1__0s",
        "_1s",
        "1..2s",
        "1e3ms",
        "0x10ms",
        "1.5cycles",
        "  3 ms ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    prop_oneof![
        3 => select(fixed),
        2 => (any::<u64>(), select(vec!["s", "ms", "us", "ns", "cycles"]))
            .prop_map(|(n, u)| format!("{n}{u}")),
        2 => (0u64..5_000_000, select(vec!["us", "ns", "ms"])).prop_map(|(n, u)| format!("{n}{u}")),
    ]
}

fn number() -> impl Strategy<Value = String> {
    let fixed: Vec<String> = [
        "0.0",
        "0",
        "-0.0",
        "1.0",
        "1.65",
        "3.3",
        "3.6",
        "3.6000001",
        "3.7",
        "-0.000001",
        "8.0",
        "-8.0",
        "8.000001",
        "1e9",
        "1e10",
        "-1e10",
        "NaN",
        "inf",
        "-inf",
        "0x10",
        "1e-7",
        "0.0000005",
        "9223372036854775807",
        "18446744073709551615",
        "1.5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    prop_oneof![
        3 => select(fixed),
        1 => any::<f64>().prop_map(|v| format!("{v:?}")),
        1 => (-10.0f64..10.0).prop_map(|v| format!("{v}")),
    ]
}

fn pin() -> impl Strategy<Value = String> {
    let fixed: Vec<String> = [
        "X1", "X19", "X20", "x19", "Y1", "SW", "LED_RED", "PA0", "PA7", "PB1", "PC5", "PC6", "A0",
        "C0", "PI15", "PJ0", "P", "", " X1 ", "X99", "MMA_AVDD",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    select(fixed)
}

fn data() -> impl Strategy<Value = String> {
    prop_oneof![
        "\"[a-z\\\\r\\\\n]{0,12}\"",
        proptest::collection::vec(
            prop_oneof![3 => 0i32..256, 1 => select(vec![-1, 256, 1000])],
            0..12
        )
        .prop_map(|v| format!("{v:?}")),
        (1usize..3000).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
    ]
}

fn event() -> impl Strategy<Value = String> {
    prop_oneof![
        time().prop_map(|t| format!("PressSwitch(at: \"{t}\")")),
        time().prop_map(|t| format!("ReleaseSwitch(at: \"{t}\")")),
        (time(), prop_oneof![3 => 1u16..7, 1 => 0u16..300], data())
            .prop_map(|(t, u, d)| format!("UartInput(at: \"{t}\", uart: {u}, data: {d})")),
        (time(), pin(), select(vec!["High", "Low", "Medium"]))
            .prop_map(|(t, p, l)| format!("SetPin(at: \"{t}\", pin: \"{p}\", level: {l})")),
        (time(), pin()).prop_map(|(t, p)| format!("ReleasePin(at: \"{t}\", pin: \"{p}\")")),
        (time(), data()).prop_map(|(t, d)| format!("ConsoleInput(at: \"{t}\", data: {d})")),
        (time(), pin(), number())
            .prop_map(|(t, p, v)| format!("SetVoltage(at: \"{t}\", pin: \"{p}\", volts: {v})")),
        (
            time(),
            pin(),
            proptest::collection::vec(time(), 0..6),
            proptest::collection::vec(number(), 0..6),
            select(vec![
                "",
                ", interp: Linear",
                ", interp: Hold",
                ", interp: Cubic"
            ])
        )
            .prop_map(|(t, p, ts, vs, i)| {
                let ts: Vec<String> = ts.iter().map(|t| format!("\"{t}\"")).collect();
                format!(
                    "Waveform(at: \"{t}\", pin: \"{p}\", times: [{}], volts: [{}]{i})",
                    ts.join(", "),
                    vs.join(", ")
                )
            }),
        (time(), number(), number(), number())
            .prop_map(|(t, x, y, z)| format!("SetAccel(at: \"{t}\", x: {x}, y: {y}, z: {z})")),
    ]
}

/// A stimuli file: (board 0 = pybv11, 1 = the minimal board without switch, console or
/// accelerometer; text).
fn stimuli_input() -> impl Strategy<Value = (u8, String)> {
    (
        0u8..2,
        proptest::collection::vec(event(), 0..12),
        prop_oneof![200 => Just(0usize), 1 => Just(MAX_EVENTS), 1 => Just(MAX_EVENTS - 12)],
        proptest::collection::vec(mutation(), 0..3),
    )
        .prop_map(|(board, events, pad, muts)| {
            let mut text = String::from("Stimuli(events: [\n");
            for _ in 0..pad {
                text.push_str("PressSwitch(at: \"1ms\"),\n");
            }
            for e in &events {
                text.push_str("    ");
                text.push_str(e);
                text.push_str(",\n");
            }
            text.push_str("])\n");
            // Mutate only small files (the padded ones stay as written).
            let text = if pad == 0 { mutate(&text, &muts) } else { text };
            (board, text)
        })
}

fn check_stimuli(boards: &[Board; 2], input: &(u8, String)) -> Result<(), String> {
    let (which, text) = input;
    let board = &boards[usize::from(*which % 2)];
    let s = match Stimuli::parse(text, "stim.ron", board) {
        Err(e) => return check_error(&e, text, "stim.ron"),
        Ok(s) => s,
    };
    if s.events.len() > MAX_EVENTS {
        return Err(format!("{} events loaded", s.events.len()));
    }
    for hz in [1u64, 168_000_000, u64::MAX] {
        let tl = s.timeline(hz);
        if tl.windows(2).any(|w| w[0].0 > w[1].0) {
            return Err("timeline out of order".into());
        }
    }
    for e in &s.events {
        match e {
            Event::SetPin { pin, .. } | Event::ReleasePin { pin, .. } => {
                board
                    .pin(pin)
                    .ok_or_else(|| format!("pin {pin:?} loaded but does not resolve"))?;
            }
            Event::SetVoltage { pin, volts, .. } => {
                let id = board.pin(pin).ok_or("analog pin does not resolve")?;
                pybsim_boards::adc_channel(id).ok_or("analog pin without ADC channel")?;
                if !(0..=3_600_000).contains(&volts.0) {
                    return Err(format!("{} µV loaded", volts.0));
                }
            }
            Event::Waveform { times, volts, .. } => {
                if times.is_empty() || times.len() != volts.len() {
                    return Err("waveform with unmatched lists loaded".into());
                }
                // Times increase (a waveform running past 2^64 ns saturates there:
                // emulator/src/analog.rs).
                if times
                    .windows(2)
                    .any(|w| w[1].to_nanos(168_000_000) <= w[0].to_nanos(168_000_000))
                {
                    return Err("waveform times not increasing loaded".into());
                }
            }
            Event::UartInput { uart, .. } => {
                board
                    .uart(u32::from(*uart))
                    .ok_or("UART input for a missing UART loaded")?;
            }
            _ => {}
        }
    }
    Ok(())
}

#[test]
fn stimuli_ron() {
    let boards = [
        Board::builtin("pybv11").unwrap(),
        Board::parse(MINIMAL, "minimal.ron").unwrap(),
    ];
    harness::run(
        "stimuli_ron",
        20_000,
        stimuli_input(),
        |name, bytes| {
            // Corpus files for the minimal board are named min-*.
            let which = u8::from(name.starts_with("min-"));
            (which, String::from_utf8_lossy(bytes).into_owned())
        },
        |(_, text)| text.as_bytes().to_vec(),
        |input| check_stimuli(&boards, input),
    );
}
