//! The terminal UI: rendering on ratatui's TestBackend (a pure function of the view
//! model), determinism of the engine at different speeds, and an end-to-end run of
//! `pybsim run --tui` under tmux.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pybsim::session::raw_repl::ScriptEnd;
use pybsim::session::{Session, SessionConfig};
use pybsim::tui::engine::{run_headless, Speed};
use pybsim::tui::view::{
    render, Focus, LedView, Overlay, PinMode, PinView, StatusView, SwitchView, ViewModel, WaveView,
};
use pybsim::tui::wave::Wave;
use pybsim_boards::Colour;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

mod common;
use common::{firmware, repo};

fn pin(name: &str, cpu: &str, mode: PinMode, level: bool, recent: bool) -> PinView {
    PinView {
        name: name.into(),
        cpu: cpu.into(),
        mode,
        level,
        recent,
    }
}

fn sample() -> ViewModel {
    let x_pins = (1..=12)
        .map(|n| {
            let mode = match n {
                1 => PinMode::Out,
                2 => PinMode::Af(1),
                3 => PinMode::Analog,
                _ => PinMode::In,
            };
            pin(
                &format!("X{n}"),
                &format!("A{}", n - 1),
                mode,
                n == 1,
                n == 1,
            )
        })
        .collect();
    let y_pins = (1..=12)
        .map(|n| pin(&format!("Y{n}"), "B0", PinMode::In, false, false))
        .collect();
    let leds = [
        ("LED1", Colour::Red, 1.0),
        ("LED2", Colour::Green, 0.0),
        ("LED3", Colour::Yellow, 0.0),
        ("LED4", Colour::Blue, 0.37),
    ]
    .into_iter()
    .map(|(n, c, b)| LedView {
        name: n.into(),
        colour: c,
        brightness: b,
    })
    .collect();
    let window = 1_000_000_000;
    let waves = vec![
        WaveView {
            label: "LED1".into(),
            wave: Wave {
                from: 0,
                to: window,
                start: false,
                changes: vec![(500_000_000, true)],
            },
        },
        WaveView {
            label: "LED2".into(),
            wave: Wave::constant(0, window, false),
        },
    ];
    ViewModel {
        board_name: "PYBv1.1".into(),
        leds,
        switch: Some(SwitchView {
            name: "USR".into(),
            pressed: false,
        }),
        x_pins,
        y_pins,
        console: vec![
            "MicroPython v1.25.0 on 2025-01-01; PYBv1.1 with STM32F405RG".into(),
            "start".into(),
            "done 400".into(),
            ">>> ".into(),
        ],
        console_cursor: Some(4),
        scrolled: 0,
        waves,
        wave_window_ns: window,
        status: StatusView {
            state: "running".into(),
            speed: "1x".into(),
            virtual_ns: 1_234_567_000,
            cycles: 207_000_000,
            mhz: 168.0,
            rtf: Some(0.99),
            script: Some("done".into()),
            step: "10ms".into(),
        },
        focus: Focus::Console,
        overlay: Overlay::None,
        message: None,
    }
}

/// Renders at `w`x`h` and returns the screen as lines of text.
fn screen(vm: &ViewModel, w: u16, h: u16) -> Vec<String> {
    let mut t = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => panic!("test terminal: {e}"),
    };
    if let Err(e) = t.draw(|f| render(f, vm)) {
        panic!("draw: {e}");
    }
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect()
}

fn find_line<'a>(s: &'a [String], pat: &str) -> &'a str {
    match s.iter().find(|l| l.contains(pat)) {
        Some(l) => l,
        None => panic!("no line with {pat:?} in\n{}", s.join("\n")),
    }
}

#[test]
fn leds_show_lit_off_and_dimmed() {
    let s = screen(&sample(), 100, 30);
    assert!(find_line(&s, "LED1 red").contains("● LED1 red    on"));
    assert!(find_line(&s, "LED2 green").contains("○ LED2 green  off"));
    assert!(find_line(&s, "LED4 blue").contains("◐ LED4 blue   37%"));
    assert!(find_line(&s, "[USR]").contains("[USR] up"));
    let mut vm = sample();
    if let Some(sw) = &mut vm.switch {
        sw.pressed = true;
    }
    let s = screen(&vm, 100, 30);
    assert!(find_line(&s, "[USR]").contains("[USR] PRESSED"));
}

#[test]
fn pin_table_shows_level_mode_and_recent_changes() {
    let vm = sample();
    let mut t = match Terminal::new(TestBackend::new(100, 30)) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    if let Err(e) = t.draw(|f| render(f, &vm)) {
        panic!("{e}");
    }
    let buf = t.backend().buffer().clone();
    let lines: Vec<String> = (0..30)
        .map(|y| (0..100).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect();
    assert!(find_line(&lines, "X1 ").contains("X1  A0  out 1"));
    assert!(find_line(&lines, "X2 ").contains("X2  A1  AF1 0"));
    assert!(find_line(&lines, "X3 ").contains("X3  A2  ana 0"));
    assert!(find_line(&lines, "X12").contains("X12 A11 in  0"));
    // Y pins mirror the X side: level, mode, CPU pin, name.
    assert!(find_line(&lines, "Y12").contains("0 in  B0  Y12"));
    // The recently changed X1 is highlighted, X4 is not.
    let y1 = lines.iter().position(|l| l.contains("X1  A0")).unwrap_or(0) as u16;
    let y4 = lines.iter().position(|l| l.contains("X4  A3")).unwrap_or(0) as u16;
    let x = lines[y1 as usize].find("X1").unwrap_or(0) as u16;
    assert_ne!(buf[(x, y1)].bg, buf[(x, y4)].bg);
}

#[test]
fn waveform_strip_shows_levels_in_virtual_time() {
    let s = screen(&sample(), 100, 30);
    let led1 = find_line(&s, "│LED1 ");
    let strip: Vec<char> = led1.chars().skip(11).take_while(|c| *c != '│').collect();
    assert!(strip.len() >= 80, "{led1}");
    // Low for the first half, high for the second, one edge between.
    let half = strip.len() / 2;
    assert!(strip[..half - 1].iter().all(|c| *c == '▁'), "{led1}");
    assert!(strip[half + 1..].iter().all(|c| *c == '█'), "{led1}");
    let led2 = find_line(&s, "│LED2 ");
    assert!(!led2.contains('█'));
    assert!(find_line(&s, " waves: ").contains("last 1s of virtual time"));
    assert!(find_line(&s, "-1s").contains("now"));
}

#[test]
fn status_line_shows_time_cycles_clock_speed_and_state() {
    let s = screen(&sample(), 120, 30);
    let st = &s[0];
    for part in [
        "RUNNING",
        "1x",
        "t 1.234567 s",
        "207,000,000 cyc",
        "168 MHz",
        "x0.99 real",
        "script done",
        "step 10ms",
    ] {
        assert!(st.contains(part), "{part:?} not in {st:?}");
    }
    let mut vm = sample();
    vm.status.state = "paused".into();
    vm.status.rtf = None;
    let s = screen(&vm, 120, 30);
    assert!(
        s[0].contains("PAUSED") && s[0].contains("x- real"),
        "{}",
        s[0]
    );
}

#[test]
fn console_pane_shows_the_tail_and_scrolls() {
    let mut vm = sample();
    vm.console = (0..100).map(|i| format!("line {i}")).collect();
    let s = screen(&vm, 100, 30);
    assert!(s.iter().any(|l| l.contains("line 99")));
    assert!(!s.iter().any(|l| l.contains("line 50 ")));
    vm.scrolled = 40;
    vm.console.truncate(60);
    let s = screen(&vm, 100, 30);
    assert!(find_line(&s, "scrolled back 40").contains("console"));
    assert!(s.iter().any(|l| l.contains("line 59")));
}

#[test]
fn small_terminal_says_so_and_resizes_cleanly() {
    let vm = sample();
    let s = screen(&vm, 60, 20);
    assert!(find_line(&s, "too small").contains("terminal too small"));
    assert!(find_line(&s, "needs").contains("60x20, needs 80x24"));
    // The minimum size draws the whole UI.
    let s = screen(&vm, 80, 24);
    assert!(s[0].contains("RUNNING"));
    assert!(s.iter().any(|l| l.contains("LED1 red")));
    assert!(s.iter().any(|l| l.contains("│LED1 ")));
    // Same model, one terminal resized: the second frame is the big layout.
    let mut t = match Terminal::new(TestBackend::new(60, 20)) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let _ = t.draw(|f| render(f, &vm));
    t.backend_mut().resize(100, 30);
    let _ = t.resize(ratatui::layout::Rect::new(0, 0, 100, 30));
    let _ = t.draw(|f| render(f, &vm));
    let buf = t.backend().buffer().clone();
    let top: String = (0..100).map(|x| buf[(x, 0)].symbol().to_string()).collect();
    assert!(top.contains("RUNNING"), "{top}");
}

#[test]
fn help_overlay_lists_the_keys() {
    let mut vm = sample();
    vm.overlay = Overlay::Help;
    let s = screen(&vm, 100, 30);
    assert!(find_line(&s, "pause").contains("F2"));
    assert!(find_line(&s, "quit").contains("F10"));
}

fn session(fw: &Path) -> Session {
    let cfg = SessionConfig {
        board: "pybv11".into(),
        firmware: fw.to_path_buf(),
        ..SessionConfig::default()
    };
    match Session::new(&cfg) {
        Ok(s) => s,
        Err(e) => panic!("session: {e}"),
    }
}

/// Pacing must not change what the board computes: the same script at full speed and
/// paced to 10x real time gives the same transcript and the same cycle count.
#[test]
fn headless_runs_at_two_speeds_agree() {
    let Some(fw) = firmware() else {
        return;
    };
    let script = include_bytes!("../../tests/scenarios/s02_led_blink.py").to_vec();
    let max = 20_000_000_000;
    let fast = run_headless(&mut session(&fw), &script, Speed::Max, max);
    let paced = run_headless(&mut session(&fw), &script, Speed::Ten, max);
    assert_eq!(fast.end, Some(ScriptEnd::Done), "{:?}", fast.console);
    let text = String::from_utf8_lossy(&fast.transcript);
    assert!(text.contains("done 40"), "{text}");
    assert_eq!(fast.transcript, paced.transcript);
    assert_eq!(fast.cycles, paced.cycles);
    assert_eq!(fast.ns, paced.ns);
    assert_eq!(fast.console, paced.console);
}

// ----- tmux end to end -----

struct Tmux {
    sock: PathBuf,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn start(name: &str, cmd: &str) -> Option<Tmux> {
        let t = Tmux {
            sock: std::env::temp_dir().join(format!("pybsim-tui-{name}-{}", std::process::id())),
        };
        t.cmd(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "120",
            "-y",
            "40",
            "sh",
            "-c",
            &format!("{cmd}; echo EXIT=$?; sleep 600"),
        ])?;
        Some(t)
    }

    fn capture(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "t"])
            .unwrap_or_default()
    }

    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "t"];
        a.extend_from_slice(keys);
        let _ = self.cmd(&a);
    }

    /// Polls the pane until `f` accepts it; panics with the last capture after the
    /// (generous) deadline.
    fn wait_for(&self, what: &str, mut f: impl FnMut(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let c = self.capture();
            if f(&c) {
                return c;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the pane shows:\n{c}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
        let _ = std::fs::remove_file(&self.sock);
    }
}

fn tmux_ready() -> Option<PathBuf> {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        common::skip("tmux is not installed");
        return None;
    }
    firmware()
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// Which LEDs the board pane shows lit.
fn lit(capture: &str) -> Vec<usize> {
    let names = ["LED1 red", "LED2 green", "LED3 yellow", "LED4 blue"];
    names
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            capture.lines().any(|l| {
                l.find(*n)
                    .map(|i| l[i + n.len()..].trim_start().starts_with("on"))
                    .unwrap_or(false)
            })
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// The column of the first rising edge on a waveform row, by label (before the
/// firmware drives them, LED pins sit at their reset pulls).
fn first_high(capture: &str, label: &str) -> Option<usize> {
    let row = capture
        .lines()
        .find(|l| l.starts_with(&format!("│{label} ")))?;
    row.chars()
        .skip(11)
        .position(|c| matches!(c, '▐' | '░' | '▒' | '▓'))
}

#[test]
fn tmux_blink_shows_leds_in_turn_and_done() {
    let Some(fw) = tmux_ready() else { return };
    let script = repo().join("tests/tui/blink.py");
    let cmd = format!(
        "PYBSIM_TUI_SPEED=0.1 {} run --tui --firmware {} {}",
        shell_quote(Path::new(env!("CARGO_BIN_EXE_pybsim"))),
        shell_quote(&fw),
        shell_quote(&script)
    );
    let Some(t) = Tmux::start("blink", &cmd) else {
        common::skip("tmux could not start a session");
        return;
    };
    t.wait_for("the UI", |c| c.contains("RUNNING"));
    // A 2 s waveform window (the default is 1 s): Alt-minus zooms out.
    t.keys(&["M--"]);
    let mut seen: Vec<usize> = Vec::new();
    let mut together = Vec::new();
    let c = t.wait_for("done", |c| {
        let now = lit(c);
        if now.len() > 1 {
            together.push(now.clone());
        }
        for l in now {
            if seen.last() != Some(&l) {
                seen.push(l);
            }
        }
        c.contains("done 40")
    });
    assert!(together.is_empty(), "LEDs lit together: {together:?}");
    // In turn: LED1, 2, 3, 4, 1, ... twice round at most (a poll may miss one).
    let steps: usize = seen.windows(2).map(|w| (w[1] + 4 - w[0]) % 4).sum();
    assert!(
        seen.first().is_none_or(|f| *f == 1) && steps <= 7,
        "LEDs lit out of turn: {seen:?}"
    );
    assert!(seen.len() >= 2, "saw only {seen:?} lit");
    // The waveform strip keeps the history: each LED went high after the one before.
    let cols: Vec<Option<usize>> = ["LED1", "LED2", "LED3", "LED4"]
        .iter()
        .map(|l| first_high(&c, l))
        .collect();
    assert!(cols.iter().all(Option::is_some), "waves: {cols:?}\n{c}");
    let cols: Vec<usize> = cols.into_iter().flatten().collect();
    assert!(cols.windows(2).all(|w| w[0] <= w[1]), "waves {cols:?}\n{c}");
    assert!(cols[0] < cols[3], "waves {cols:?}\n{c}");
    t.keys(&["F10"]);
    let c = t.wait_for("exit", |c| c.contains("EXIT="));
    assert!(c.contains("EXIT=0"), "{c}");
}

#[test]
fn tmux_switch_key_changes_b3_as_the_script_reads_it() {
    let Some(fw) = tmux_ready() else { return };
    let script = repo().join("tests/tui/switch.py");
    let cmd = format!(
        "{} run --tui --firmware {} {}",
        shell_quote(Path::new(env!("CARGO_BIN_EXE_pybsim"))),
        shell_quote(&fw),
        shell_quote(&script)
    );
    let Some(t) = Tmux::start("switch", &cmd) else {
        common::skip("tmux could not start a session");
        return;
    };
    t.wait_for("the script's first read", |c| c.contains("sw False"));
    t.keys(&["F5"]);
    t.wait_for("the press", |c| {
        c.contains("sw True") && c.contains("[USR] PRESSED")
    });
    t.keys(&["F5"]);
    let c = t.wait_for("the release", |c| {
        c.contains("switch done") && c.contains("[USR] up")
    });
    let seq: Vec<&str> = c
        .lines()
        .filter_map(|l| l.split('│').find(|p| p.trim_start().starts_with("sw ")))
        .map(str::trim)
        .collect();
    assert_eq!(seq, ["sw False", "sw True", "sw False"], "{c}");
    // The REPL is interactive after the script: typing goes to the board.
    t.keys(&["print(6*7)", "Enter"]);
    t.wait_for("the REPL's answer", |c| {
        c.lines().any(|l| l.contains("│42"))
    });
    t.keys(&["F10"]);
    let c = t.wait_for("exit", |c| c.contains("EXIT="));
    assert!(c.contains("EXIT=0"), "{c}");
}
