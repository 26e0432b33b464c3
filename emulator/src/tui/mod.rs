//! `pybsim run --tui`: the board drawn in the terminal (ratatui on crossterm).
//!
//! - [`view`]: the drawing, a pure function of a [`view::ViewModel`].
//! - [`engine`]: the board without the terminal: slices, pacing, console, pin history,
//!   the script through the raw REPL ([`repl`]), the switch.
//! - this module: the terminal, the keys, the loop tying them together.
//!
//! Keys are listed in [`view::HELP`] (and on `F1`/`?` in the UI). The initial speed
//! may be set with `PYBSIM_TUI_SPEED` = `max`, `0.1`, `1` (default) or `10`.

pub mod console;
pub mod engine;
pub mod view;
pub mod wave;

use std::collections::{HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use pybsim_boards::PinId;
use pybsim_peripherals::gpio::Mode;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use self::engine::{Engine, Pacer, RunState, Speed};
use self::view::{
    Focus, LedView, Overlay, PinMode, PinView, StatusView, SwitchView, ViewModel, WaveView,
};
use crate::session::raw_repl::{Phase, ScriptEnd};
use crate::session::{Outcome, Session};

/// Waveform windows, ns.
pub const ZOOMS: &[u64] = &[
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
];
const DEFAULT_ZOOM: usize = 12;

/// Single-step sizes, ns (0: one slice).
pub const STEPS: &[u64] = &[
    0,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];
const DEFAULT_STEP: usize = 3;

/// A pin changed within this much real time is highlighted...
const RECENT_WALL: Duration = Duration::from_millis(1000);
/// ...or within this much virtual time.
const RECENT_NS: u64 = 250_000_000;

const FRAME: Duration = Duration::from_millis(33);

/// Runs the session in the terminal UI; returns the exit status.
pub fn run(session: &mut Session, script: Option<&[u8]>) -> anyhow::Result<u8> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!("--tui needs a terminal on stdin and stdout");
    }
    let speed = match std::env::var("PYBSIM_TUI_SPEED") {
        Ok(s) => Speed::parse(&s)
            .ok_or_else(|| anyhow::anyhow!("PYBSIM_TUI_SPEED={s:?}: expected max, 0.1, 1 or 10"))?,
        Err(_) => Speed::Real,
    };
    let hook = PanicHook::install();
    let guard = TermGuard::enter()?;
    let result = (|| -> anyhow::Result<u8> {
        let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        terminal.clear()?;
        let mut app = App::new(session, script, speed);
        app.run(&mut terminal)?;
        Ok(app.exit_status())
    })();
    drop(guard);
    drop(hook);
    // What must outlive the alternate screen.
    if let Some(Outcome::Fault(r)) = last_outcome(session) {
        eprint!("{}", session.describe_fault(&r));
    }
    result
}

fn last_outcome(_session: &Session) -> Option<Outcome> {
    LAST_OUTCOME.with(|o| o.borrow_mut().take())
}

thread_local! {
    /// How the run stopped, for the report after the terminal is restored.
    static LAST_OUTCOME: std::cell::RefCell<Option<Outcome>> = const { std::cell::RefCell::new(None) };
}

/// Puts the terminal back: raw mode off, main screen, cursor shown.
fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        crossterm::event::DisableBracketedPaste,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = out.flush();
}

/// Raw mode and the alternate screen while alive.
struct TermGuard;

impl TermGuard {
    fn enter() -> anyhow::Result<TermGuard> {
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| anyhow::anyhow!("raw terminal mode: {e}"))?;
        let g = TermGuard;
        crossterm::execute!(
            std::io::stdout(),
            crossterm::terminal::EnterAlternateScreen,
            crossterm::event::EnableBracketedPaste
        )?;
        Ok(g)
    }
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// A panic hook that restores the terminal before the message is printed; the hook
/// that was there before comes back on drop.
struct PanicHook {
    prev: Option<Arc<PrevHook>>,
}

type PrevHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync + 'static>;

impl PanicHook {
    fn install() -> PanicHook {
        let prev: Arc<PrevHook> = Arc::new(std::panic::take_hook());
        let p = prev.clone();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            p(info);
        }));
        PanicHook { prev: Some(prev) }
    }
}

impl Drop for PanicHook {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            let _ = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| prev(info)));
        }
    }
}

/// The terminal UI's state around the engine.
struct App<'s> {
    engine: Engine<'s>,
    pacer: Pacer,
    focus: Focus,
    overlay: Overlay,
    message: Option<(String, Instant)>,
    scroll: usize,
    waves: Vec<(String, PinId)>,
    zoom: usize,
    step: usize,
    quit: bool,
    x_pins: Vec<(String, PinId)>,
    y_pins: Vec<(String, PinId)>,
    /// Per header pin: the last change seen, and when (real time) it was seen.
    seen: HashMap<PinId, (Option<u64>, Option<Instant>)>,
    rtf: VecDeque<(Instant, u64)>,
    dirty: bool,
}

fn header(session: &Session, prefix: char) -> Vec<(String, PinId)> {
    (1..=12)
        .filter_map(|n| {
            let name = format!("{prefix}{n}");
            let id = session.board.pin(&name)?;
            Some((name, id))
        })
        .collect()
}

fn cpu_name(id: PinId) -> String {
    format!("{}{}", id.port_letter(), id.pin)
}

impl<'s> App<'s> {
    fn new(session: &'s mut Session, script: Option<&[u8]>, speed: Speed) -> App<'s> {
        let x_pins = header(session, 'X');
        let y_pins = header(session, 'Y');
        let waves = session
            .board
            .leds
            .iter()
            .filter_map(|l| Some((l.name.clone(), session.board.pin(&l.pin)?)))
            .collect();
        App {
            engine: Engine::new(session, script),
            pacer: Pacer::new(speed),
            focus: Focus::Console,
            overlay: Overlay::None,
            message: None,
            scroll: 0,
            waves,
            zoom: DEFAULT_ZOOM,
            step: DEFAULT_STEP,
            quit: false,
            x_pins,
            y_pins,
            seen: HashMap::new(),
            rtf: VecDeque::new(),
            dirty: true,
        }
    }

    fn run<B: ratatui::backend::Backend>(
        &mut self,
        terminal: &mut Terminal<B>,
    ) -> anyhow::Result<()> {
        let mut last_draw: Option<Instant> = None;
        while !self.quit {
            let now = Instant::now();
            let since_draw = last_draw.map(|t| now - t).unwrap_or(FRAME);
            if self.dirty || since_draw >= FRAME {
                let size = terminal.size()?;
                let vm = self.view_model(size.height as usize);
                terminal.draw(|f| view::render(f, &vm))?;
                last_draw = Some(Instant::now());
                self.dirty = false;
            }
            let to_frame = FRAME.saturating_sub(last_draw.map(|t| t.elapsed()).unwrap_or(FRAME));
            let wait = match self.engine.state {
                RunState::Running => self
                    .pacer
                    .wait(Instant::now(), self.engine.ns())
                    .min(to_frame),
                RunState::Stepping(_) => Duration::ZERO,
                RunState::Paused | RunState::Stopped(_) => to_frame,
            };
            // Host input: only here, between slices.
            if event::poll(wait)? {
                loop {
                    let ev = event::read()?;
                    self.on_event(ev);
                    if self.quit || !event::poll(Duration::ZERO)? {
                        break;
                    }
                }
                self.dirty = true;
            }
            if self.quit {
                break;
            }
            let before = self.engine.state.clone();
            self.engine
                .advance(&mut self.pacer, Duration::from_millis(25));
            if self.engine.state != before {
                self.dirty = true;
                if let RunState::Stopped(o) = &self.engine.state {
                    LAST_OUTCOME.with(|l| *l.borrow_mut() = Some(o.clone()));
                }
            }
        }
        Ok(())
    }

    fn exit_status(&self) -> u8 {
        match &self.engine.state {
            RunState::Stopped(Outcome::Fault(_)) | RunState::Stopped(Outcome::Halted) => 2,
            RunState::Stopped(Outcome::Budget) => 3,
            RunState::Stopped(Outcome::Exit(c)) => (*c).clamp(0, 255) as u8,
            _ => match self.engine.script_end() {
                Some(ScriptEnd::Exception) => 1,
                _ => 0,
            },
        }
    }

    fn say(&mut self, m: impl Into<String>) {
        self.message = Some((m.into(), Instant::now()));
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Key(k) => self.on_key(k),
            Event::Paste(text) => match &mut self.overlay {
                Overlay::Prompt(p) => p.push_str(&text.replace(['\r', '\n'], " ")),
                Overlay::Help => self.overlay = Overlay::None,
                Overlay::None => {
                    if self.focus == Focus::Console {
                        let bytes = text.replace("\r\n", "\r").replace('\n', "\r");
                        self.scroll = 0;
                        self.engine.send(bytes.as_bytes());
                    }
                }
            },
            _ => {}
        }
    }

    fn on_key(&mut self, k: KeyEvent) {
        if k.kind == KeyEventKind::Release {
            return;
        }
        match &mut self.overlay {
            Overlay::Help => {
                self.overlay = Overlay::None;
                return;
            }
            Overlay::Prompt(text) => {
                match k.code {
                    KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => {
                        text.push(c)
                    }
                    KeyCode::Backspace => {
                        text.pop();
                    }
                    KeyCode::Enter => {
                        let t = std::mem::take(text);
                        self.overlay = Overlay::None;
                        self.set_waves(&t);
                    }
                    KeyCode::Esc => self.overlay = Overlay::None,
                    _ => {}
                }
                return;
            }
            Overlay::None => {}
        }
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let alt = k.modifiers.contains(KeyModifiers::ALT);
        match k.code {
            KeyCode::F(1) => return self.overlay = Overlay::Help,
            KeyCode::F(2) => return self.toggle_pause(),
            KeyCode::F(3) => return self.single_step(),
            KeyCode::F(4) => return self.set_speed(self.pacer.speed.next()),
            KeyCode::F(5) => return self.toggle_switch(),
            KeyCode::F(6) => return self.reset(),
            KeyCode::F(10) => return self.quit = true,
            KeyCode::Char('q') | KeyCode::Char('Q') if ctrl => return self.quit = true,
            // Ctrl-] (as some terminals report it: Ctrl-5), as in `pybsim run`.
            KeyCode::Char(']') | KeyCode::Char('5') if ctrl => return self.quit = true,
            KeyCode::PageUp => {
                let page = 10;
                self.scroll = (self.scroll + page).min(self.engine.console.len().saturating_sub(1));
                return;
            }
            KeyCode::PageDown => {
                self.scroll = self.scroll.saturating_sub(10);
                return;
            }
            KeyCode::End if self.scroll > 0 => {
                self.scroll = 0;
                return;
            }
            KeyCode::Esc => {
                self.focus = match self.focus {
                    Focus::Console => Focus::Board,
                    Focus::Board => Focus::Console,
                };
                return;
            }
            KeyCode::Char(c) if alt && !ctrl => return self.command(c),
            _ => {}
        }
        match self.focus {
            Focus::Board => match k.code {
                KeyCode::Char(c) if !ctrl => self.command(c),
                KeyCode::Tab | KeyCode::Enter => self.focus = Focus::Console,
                _ => {}
            },
            Focus::Console => {
                if let Some(bytes) = key_bytes(&k) {
                    self.scroll = 0;
                    self.engine.send(&bytes);
                }
            }
        }
    }

    /// A board key.
    fn command(&mut self, c: char) {
        match c {
            ' ' | 'p' => self.toggle_pause(),
            's' | '.' => self.single_step(),
            '[' => {
                self.step = self.step.saturating_sub(1);
                self.say(format!("step size {}", step_label(STEPS[self.step])));
            }
            ']' => {
                self.step = (self.step + 1).min(STEPS.len() - 1);
                self.say(format!("step size {}", step_label(STEPS[self.step])));
            }
            'f' => self.set_speed(self.pacer.speed.next()),
            'F' => self.set_speed(self.pacer.speed.prev()),
            'u' => self.toggle_switch(),
            'c' if self.engine.has_switch() => {
                self.engine.click_switch();
                self.say("switch clicked (100 ms of virtual time)");
            }
            'r' => self.reset(),
            '+' | '=' => self.zoom = self.zoom.saturating_sub(1),
            '-' | '_' => self.zoom = (self.zoom + 1).min(ZOOMS.len() - 1),
            'w' => {
                let cur: Vec<&str> = self.waves.iter().map(|w| w.0.as_str()).collect();
                self.overlay = Overlay::Prompt(cur.join(" "));
            }
            '?' | 'h' => self.overlay = Overlay::Help,
            'q' => self.quit = true,
            'i' => self.focus = Focus::Console,
            _ => {}
        }
    }

    fn set_waves(&mut self, text: &str) {
        let mut waves = Vec::new();
        let mut bad = Vec::new();
        for name in text.split([' ', ',']).filter(|s| !s.is_empty()) {
            match self.engine.session.board.pin(name) {
                Some(id) => waves.push((name.to_string(), id)),
                None => bad.push(name.to_string()),
            }
        }
        if !bad.is_empty() {
            self.say(format!("no such pin: {}", bad.join(" ")));
        }
        if waves.is_empty() {
            waves = self
                .engine
                .session
                .board
                .leds
                .iter()
                .filter_map(|l| Some((l.name.clone(), self.engine.session.board.pin(&l.pin)?)))
                .collect();
        }
        self.waves = waves;
    }

    fn toggle_pause(&mut self) {
        match self.engine.state {
            RunState::Running => self.engine.state = RunState::Paused,
            RunState::Paused | RunState::Stepping(_) => {
                self.pacer.reanchor();
                self.rtf.clear();
                self.engine.state = RunState::Running;
            }
            RunState::Stopped(_) => self.say("the run has stopped: F6 resets, F10 quits"),
        }
    }

    fn single_step(&mut self) {
        if matches!(self.engine.state, RunState::Stopped(_)) {
            return self.say("the run has stopped: F6 resets, F10 quits");
        }
        let until = self.engine.ns() + STEPS[self.step].max(1);
        self.engine.state = RunState::Stepping(until);
        self.rtf.clear();
    }

    fn set_speed(&mut self, s: Speed) {
        self.pacer.set_speed(s);
        self.rtf.clear();
        self.say(format!("speed {}", s.label()));
    }

    fn toggle_switch(&mut self) {
        if !self.engine.has_switch() {
            return self.say("this board has no switch");
        }
        let p = !self.engine.switch_pressed();
        self.engine.set_switch(p);
    }

    fn reset(&mut self) {
        self.engine.reset();
        self.pacer.reanchor();
        self.rtf.clear();
        self.say("board reset");
    }

    fn pin_view(&mut self, name: &str, id: PinId, now: Instant) -> PinView {
        let mode = match self.engine.pin_mode(id.port, id.pin) {
            Some((Mode::Input, _)) | None => PinMode::In,
            Some((Mode::Output, _)) => PinMode::Out,
            Some((Mode::Af, n)) => PinMode::Af(n),
            Some((Mode::Analog, _)) => PinMode::Analog,
        };
        let last = self.engine.history.last_change(id.port, id.pin);
        let e = self.seen.entry(id).or_insert((last, None));
        if e.0 != last {
            *e = (last, Some(now));
        }
        let recent_wall = e.1.map(|t| now - t < RECENT_WALL).unwrap_or(false);
        let recent_virt = last
            .map(|t| self.engine.ns().saturating_sub(t) < RECENT_NS)
            .unwrap_or(false);
        PinView {
            name: name.to_string(),
            cpu: cpu_name(id),
            mode,
            level: self.engine.history.level(id.port, id.pin),
            recent: recent_wall || recent_virt,
        }
    }

    fn view_model(&mut self, rows: usize) -> ViewModel {
        let now = Instant::now();
        if let Some((_, t)) = &self.message {
            if now - *t > Duration::from_secs(3) {
                self.message = None;
            }
        }
        let clock = self.engine.clock();
        let running = matches!(self.engine.state, RunState::Running);
        if running {
            self.rtf.push_back((now, clock.ns));
            while self.rtf.len() > 2 && now - self.rtf[0].0 > Duration::from_secs(1) {
                self.rtf.pop_front();
            }
        }
        let rtf = match (running, self.rtf.front(), self.rtf.back()) {
            (true, Some(a), Some(b)) if b.0 - a.0 >= Duration::from_millis(200) => {
                Some(b.1.saturating_sub(a.1) as f64 / (b.0 - a.0).as_nanos() as f64)
            }
            _ => None,
        };
        let state = match &self.engine.state {
            RunState::Running => "running".to_string(),
            RunState::Paused => "paused".to_string(),
            RunState::Stepping(_) => "stepping".to_string(),
            RunState::Stopped(o) => match o {
                Outcome::Fault(_) => "stopped: fault".to_string(),
                Outcome::Budget => "stopped: budget".to_string(),
                Outcome::Exit(c) => format!("stopped: exit {c}"),
                Outcome::Halted => "stopped: halted".to_string(),
                Outcome::WatchdogReset(_) => "stopped: watchdog reset".to_string(),
                Outcome::Done => "stopped: done".to_string(),
                Outcome::Exception => "stopped: exception".to_string(),
            },
        };
        let script = self.engine.script_phase().map(|p| {
            match p {
                Phase::WaitPrompt | Phase::WaitRaw | Phase::WaitOk => "booting",
                Phase::Stdout | Phase::Stderr => "running",
                Phase::Leaving(e) | Phase::Finished(e) | Phase::WaitNext(e) | Phase::Ready(e) => {
                    match e {
                        ScriptEnd::Done => "done",
                        ScriptEnd::Exception => "exception",
                    }
                }
            }
            .to_string()
        });
        let x: Vec<(String, PinId)> = self.x_pins.clone();
        let y: Vec<(String, PinId)> = self.y_pins.clone();
        let x_pins = x.iter().map(|(n, id)| self.pin_view(n, *id, now)).collect();
        let y_pins = y.iter().map(|(n, id)| self.pin_view(n, *id, now)).collect();
        let window = ZOOMS[self.zoom];
        let waves = self
            .waves
            .iter()
            .map(|(label, id)| WaveView {
                label: label.clone(),
                wave: self.engine.wave(id.port, id.pin, window),
            })
            .collect();
        self.scroll = self.scroll.min(self.engine.console.len().saturating_sub(1));
        let board = &self.engine.session.board;
        ViewModel {
            board_name: board.name.clone(),
            leds: self
                .engine
                .leds()
                .into_iter()
                .map(|(name, colour, brightness)| LedView {
                    name,
                    colour,
                    brightness,
                })
                .collect(),
            switch: board.switch.as_ref().map(|s| SwitchView {
                name: s.name.clone(),
                pressed: self.engine.switch_pressed(),
            }),
            x_pins,
            y_pins,
            console: self.engine.console.tail(rows, self.scroll),
            console_cursor: Some(self.engine.console.cursor_col()),
            scrolled: self.scroll,
            waves,
            wave_window_ns: window,
            status: StatusView {
                state,
                speed: self.pacer.speed.label().to_string(),
                virtual_ns: clock.ns,
                cycles: clock.cycles,
                mhz: clock.sysclk as f64 / 1e6,
                rtf,
                script,
                step: step_label(STEPS[self.step]),
            },
            focus: self.focus,
            overlay: self.overlay.clone(),
            message: self.message.as_ref().map(|m| m.0.clone()),
        }
    }
}

fn step_label(ns: u64) -> String {
    if ns == 0 {
        "1 slice".to_string()
    } else {
        view::fmt_span(ns)
    }
}

/// The bytes a key sends to the board's console, as a VT100 terminal would.
pub fn key_bytes(k: &KeyEvent) -> Option<Vec<u8>> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let b: Vec<u8> = match k.code {
        KeyCode::Char(c) if ctrl => {
            let c = c.to_ascii_lowercase();
            match c {
                'a'..='z' => vec![c as u8 - b'a' + 1],
                '@' | ' ' => vec![0],
                '[' => vec![0x1B],
                '\\' => vec![0x1C],
                _ => return None,
            }
        }
        KeyCode::Char(c) => c.to_string().into_bytes(),
        KeyCode::Enter => vec![b'\r'],
        KeyCode::Backspace => vec![0x7F],
        KeyCode::Tab => vec![b'\t'],
        KeyCode::Left => b"\x1b[D".to_vec(),
        KeyCode::Right => b"\x1b[C".to_vec(),
        KeyCode::Up => b"\x1b[A".to_vec(),
        KeyCode::Down => b"\x1b[B".to_vec(),
        KeyCode::Home => b"\x1b[H".to_vec(),
        KeyCode::End => b"\x1b[F".to_vec(),
        KeyCode::Delete => b"\x1b[3~".to_vec(),
        _ => return None,
    };
    Some(b)
}
