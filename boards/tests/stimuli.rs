use std::path::PathBuf;

use pybsim_boards::{
    Board, Bytes, Event, Interp, Level, LoadError, Micro, Problem, SimTime, Stimuli,
};

fn pyb() -> Board {
    Board::builtin("pybv11").unwrap()
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

fn bad(text: &str, needle: &str) -> Problem {
    let err = Stimuli::parse(text, "in/stim.ron", &pyb()).unwrap_err();
    let msg = err.to_string();
    let at = pos_of(text, needle);
    let loc = err.location().unwrap();
    assert_eq!((loc.line, loc.column), at, "{msg}");
    assert!(
        msg.starts_with(&format!("in/stim.ron:{}:{}: ", at.0, at.1)),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    err.problem().unwrap().clone()
}

const EXAMPLE: &str = r#"// Press the switch, type into UART1 and the console, drive a pin.
Stimuli(events: [
    PressSwitch(at: "2s"),
    ReleaseSwitch(at: "2.1s"),
    UartInput(at: "500ms", uart: 1, data: "hello\r\n"),
    UartInput(at: "1s", uart: 6, data: [0x01, 0xFF, 7]),
    SetPin(at: "3s", pin: "X1", level: High),
    ReleasePin(at: "4s", pin: "PA0"),
    ConsoleInput(at: "10us", data: "print(1)\r\n"),
    ConsoleInput(at: "1000cycles", data: [3]),
])
"#;

#[test]
fn example_parses() {
    let s = Stimuli::parse(EXAMPLE, "example.ron", &pyb()).unwrap();
    assert_eq!(s.events.len(), 8);
    assert_eq!(
        s.events[0],
        Event::PressSwitch {
            at: SimTime::Nanos(2_000_000_000)
        }
    );
    assert_eq!(
        s.events[2],
        Event::UartInput {
            at: SimTime::Nanos(500_000_000),
            uart: 1,
            data: Bytes(b"hello\r\n".to_vec())
        }
    );
    assert_eq!(
        s.events[3],
        Event::UartInput {
            at: SimTime::Nanos(1_000_000_000),
            uart: 6,
            data: Bytes(vec![1, 255, 7])
        }
    );
    assert_eq!(
        s.events[4],
        Event::SetPin {
            at: SimTime::Nanos(3_000_000_000),
            pin: "X1".into(),
            level: Level::High
        }
    );
    assert_eq!(s.events[7].at(), SimTime::Cycles(1000));

    let order: Vec<u64> = s.timeline(168_000_000).iter().map(|(t, _)| *t).collect();
    assert_eq!(
        order,
        [
            1000,
            1680,
            84_000_000,
            168_000_000,
            336_000_000,
            352_800_000,
            504_000_000,
            672_000_000
        ]
    );
}

#[test]
fn empty_stimuli() {
    assert!(Stimuli::parse("Stimuli()", "e.ron", &pyb())
        .unwrap()
        .events
        .is_empty());
    assert!(Stimuli::parse("Stimuli(events: [])", "e.ron", &pyb())
        .unwrap()
        .events
        .is_empty());
}

#[test]
fn bad_duration() {
    let text = "Stimuli(events: [\n    PressSwitch(at: \"2 parsecs\"),\n])\n";
    match bad(text, "\"2 parsecs\"") {
        Problem::BadDuration { text, reason } => {
            assert_eq!(text, "2 parsecs");
            assert!(reason.contains("unit"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_pin() {
    let text = "Stimuli(events: [\n    SetPin(at: \"1s\", pin: \"X1\", level: Low),\n    ReleasePin(at: \"2s\", pin: \"X99\"),\n])\n";
    assert_eq!(bad(text, "\"X99\""), Problem::UnknownPin("X99".into()));
}

#[test]
fn uart_the_board_lacks() {
    let text = "Stimuli(events: [\n    UartInput(at: \"1s\", uart: 7, data: \"x\"),\n])\n";
    assert!(matches!(bad(text, "7, data"), Problem::Invalid(m) if m.contains("UART 7")));
}

#[test]
fn byte_out_of_range() {
    let text = "Stimuli(events: [\n    ConsoleInput(at: \"1s\", data: [1, 256]),\n])\n";
    assert!(matches!(bad(text, "256"), Problem::Syntax(_)));
}

#[test]
fn data_of_wrong_type() {
    let text = "Stimuli(events: [\n    ConsoleInput(at: \"1s\", data: 5),\n])\n";
    assert!(matches!(bad(text, "5)"), Problem::Syntax(m) if m.contains("list of bytes")));
}

#[test]
fn unknown_event_and_field() {
    let text = "Stimuli(events: [\n    PushSwitch(at: \"1s\"),\n])\n";
    assert!(matches!(bad(text, "PushSwitch"), Problem::Syntax(m) if m.contains("PressSwitch")));
    let text = "Stimuli(events: [\n    PressSwitch(at: \"1s\", pin: \"X1\"),\n])\n";
    assert!(matches!(bad(text, "pin"), Problem::UnknownField { field, .. } if field == "pin"));
    let text = "Stimuli(event: [])\n";
    assert!(matches!(bad(text, "event"), Problem::UnknownField { .. }));
}

#[test]
fn switch_events_need_a_switch() {
    let mut board = pyb();
    board.switch = None;
    let text = "Stimuli(events: [\n    PressSwitch(at: \"1s\"),\n])\n";
    let err = Stimuli::parse(text, "s.ron", &board).unwrap_err();
    assert_eq!(err.location().unwrap().line, 2);
    assert!(err.to_string().contains("no user switch"));
}

#[test]
fn load_from_disk() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stimuli-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stim.ron");
    std::fs::write(&path, EXAMPLE).unwrap();
    assert_eq!(Stimuli::load(&path, &pyb()).unwrap().events.len(), 8);
    let err = Stimuli::load(dir.join("absent.ron"), &pyb()).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }));
    assert!(err.to_string().contains("absent.ron"));
}

#[test]
fn analog_and_accelerometer_stimuli_parse() {
    let text = r#"Stimuli(events: [
    SetVoltage(at: "1s", pin: "X19", volts: 1.65),
    SetVoltage(at: "2s", pin: "PC1", volts: 3),
    Waveform(at: "3s", pin: "X20", times: ["0ms", "1ms"], volts: [0.0, 3.3]),
    Waveform(at: "3s", pin: "X20", interp: Hold, times: ["0ms"], volts: [1.0]),
    SetAccel(at: "0s", x: 0.5, y: -1, z: 1.0),
])"#;
    let s = Stimuli::parse(text, "a.ron", &pyb()).unwrap();
    assert_eq!(
        s.events[0],
        Event::SetVoltage {
            at: SimTime::Nanos(1_000_000_000),
            pin: "X19".into(),
            volts: Micro(1_650_000)
        }
    );
    assert_eq!(
        s.events[2],
        Event::Waveform {
            at: SimTime::Nanos(3_000_000_000),
            pin: "X20".into(),
            times: vec![SimTime::Nanos(0), SimTime::Nanos(1_000_000)],
            volts: vec![Micro(0), Micro(3_300_000)],
            interp: Interp::Linear,
        }
    );
    assert!(matches!(
        s.events[3],
        Event::Waveform {
            interp: Interp::Hold,
            ..
        }
    ));
    assert_eq!(
        s.events[4],
        Event::SetAccel {
            at: SimTime::ZERO,
            x: Micro(500_000),
            y: Micro(-1_000_000),
            z: Micro(1_000_000)
        }
    );
}

#[test]
fn analog_stimuli_errors_name_the_place() {
    let p = bad(
        r#"Stimuli(events: [SetVoltage(at: "1s", pin: "X9", volts: 1.0)])"#,
        r#""X9""#,
    );
    assert!(p.to_string().contains("has no ADC channel"), "{p}");
    let p = bad(
        r#"Stimuli(events: [SetVoltage(at: "1s", pin: "X19", volts: 5.0)])"#,
        "5.0",
    );
    assert!(p.to_string().contains("outside 0..=3.6 V"), "{p}");
    let p = bad(
        r#"Stimuli(events: [Waveform(at: "1s", pin: "X19", times: ["0s", "2ms", "1ms"], volts: [0, 1, 2])])"#,
        r#""1ms""#,
    );
    assert!(p.to_string().contains("must increase"), "{p}");
    let p = bad(
        r#"Stimuli(events: [Waveform(at: "1s", pin: "X19", times: ["0s"], volts: [0, 1])])"#,
        "[0, 1]",
    );
    assert!(p.to_string().contains("as many volts as times"), "{p}");
    let p = bad(
        r#"Stimuli(events: [Waveform(at: "1s", pin: "X19", times: ["0s", "1s"], volts: [0, -1])])"#,
        "-1",
    );
    assert!(p.to_string().contains("outside"), "{p}");
    let p = bad(
        r#"Stimuli(events: [SetAccel(at: "1s", x: 0, y: 9.5, z: 1)])"#,
        "9.5",
    );
    assert!(p.to_string().contains("-8..=8 g"), "{p}");
    let p = bad(
        r#"Stimuli(events: [SetVoltage(at: "1s", pin: "X19", volts: "1V")])"#,
        r#""1V""#,
    );
    assert!(p.to_string().contains("number"), "{p}");
}
