//! What the terminal UI draws, as a pure function of a [`ViewModel`]: the board with
//! its LEDs, switch and header pins, the console, the waveform strip, the status line.
//! Nothing here touches the board, so it can be tested on ratatui's `TestBackend`.

use pybsim_boards::Colour;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::wave::{Cell, Wave};

/// Smallest terminal the UI draws in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Width of the board pane.
const BOARD_WIDTH: u16 = 50;

/// A pin's mode, as MODER says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMode {
    In,
    Out,
    Af(u8),
    Analog,
}

impl PinMode {
    pub fn label(self) -> String {
        match self {
            PinMode::In => "in".into(),
            PinMode::Out => "out".into(),
            PinMode::Af(n) => format!("AF{n}"),
            PinMode::Analog => "ana".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LedView {
    pub name: String,
    pub colour: Colour,
    /// 0 off .. 1 fully lit (PWM duty in between).
    pub brightness: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchView {
    pub name: String,
    pub pressed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinView {
    /// Board name, e.g. "X1".
    pub name: String,
    /// CPU pin, e.g. "A0".
    pub cpu: String,
    pub mode: PinMode,
    pub level: bool,
    /// Changed a moment ago.
    pub recent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveView {
    pub label: String,
    pub wave: Wave,
}

/// Where typed keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// To the board's REPL.
    Console,
    /// To the UI's single-key commands.
    Board,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusView {
    /// "running", "paused", "stepping", "stopped: fault", ...
    pub state: String,
    pub speed: String,
    pub virtual_ns: u64,
    pub cycles: u64,
    /// The CPU clock, MHz.
    pub mhz: f64,
    /// Virtual time per real time over the last second; `None` when not running.
    pub rtf: Option<f64>,
    /// What the script is doing ("booting", "running", "done", "exception").
    pub script: Option<String>,
    /// Single-step size label.
    pub step: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    /// Editing the list of waveform pins.
    Prompt(String),
}

/// Everything one frame shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewModel {
    pub board_name: String,
    pub leds: Vec<LedView>,
    pub switch: Option<SwitchView>,
    pub x_pins: Vec<PinView>,
    pub y_pins: Vec<PinView>,
    /// Console lines, oldest first, ending at the bottom of the pane.
    pub console: Vec<String>,
    /// Cursor column on the last console line, when following the bottom.
    pub console_cursor: Option<usize>,
    /// Lines scrolled back from the bottom (0: following the output).
    pub scrolled: usize,
    pub waves: Vec<WaveView>,
    pub wave_window_ns: u64,
    pub status: StatusView,
    pub focus: Focus,
    pub overlay: Overlay,
    /// A short note for the user (last command's result).
    pub message: Option<String>,
}

/// Virtual time for people: "1.234567 s", "12.5 ms".
pub fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.6} s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else {
        format!("{:.3} us", ns as f64 / 1e3)
    }
}

/// A span of time, short: "1s", "200ms", "50us".
pub fn fmt_span(ns: u64) -> String {
    if ns >= 1_000_000_000 && ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns >= 1_000_000 && ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns >= 1_000 && ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

/// Thousands separated: 1,234,567.
pub fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn colour_name(c: Colour) -> &'static str {
    match c {
        Colour::Red => "red",
        Colour::Green => "green",
        Colour::Yellow => "yellow",
        Colour::Blue => "blue",
    }
}

fn colour_rgb(c: Colour) -> (u8, u8, u8) {
    match c {
        Colour::Red => (255, 40, 40),
        Colour::Green => (40, 230, 60),
        Colour::Yellow => (250, 220, 40),
        Colour::Blue => (60, 110, 255),
    }
}

/// The LED's colour at a brightness (dim ones fade towards dark grey).
fn led_colour(c: Colour, b: f64) -> Color {
    let (r, g, bl) = colour_rgb(c);
    let b = b.clamp(0.0, 1.0);
    let mix = |x: u8| (40.0 + (x as f64 - 40.0) * b).round().clamp(0.0, 255.0) as u8;
    Color::Rgb(mix(r), mix(g), mix(bl))
}

/// How an LED reads as text: "on", "off", or its duty "37%".
pub fn led_state(brightness: f64) -> String {
    if brightness >= 0.95 {
        "on".into()
    } else if brightness <= 0.05 {
        "off".into()
    } else {
        format!("{:.0}%", brightness * 100.0)
    }
}

/// Draws a frame.
pub fn render(frame: &mut Frame, vm: &ViewModel) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        render_too_small(frame, area);
        return;
    }
    // Board pane rows: 12 header pins + borders.
    let board_h = 14u16;
    let fixed = 2 + board_h; // status + hints + board
    let max_waves = area.height.saturating_sub(fixed + 3) as usize;
    let nwaves = vm.waves.len().min(max_waves);
    let wave_h = nwaves as u16 + 3;
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(board_h),
        Constraint::Length(wave_h),
        Constraint::Length(1),
    ])
    .split(area);
    render_status(frame, rows[0], vm);
    let cols =
        Layout::horizontal([Constraint::Length(BOARD_WIDTH), Constraint::Min(20)]).split(rows[1]);
    render_board(frame, cols[0], vm);
    render_console(frame, cols[1], vm);
    render_waves(frame, rows[2], vm, nwaves);
    render_hints(frame, rows[3], vm);
    match &vm.overlay {
        Overlay::None => {}
        Overlay::Help => render_help(frame, area),
        Overlay::Prompt(text) => render_prompt(frame, rows[3], text),
    }
}

fn render_too_small(frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::from("pybsim: terminal too small"),
        Line::from(format!(
            "{}x{}, needs {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::from("F10 quits"),
    ];
    frame.render_widget(Paragraph::new(text), area);
}

fn render_status(frame: &mut Frame, area: Rect, vm: &ViewModel) {
    let s = &vm.status;
    let state_style = match s.state.as_str() {
        "running" => Style::new().fg(Color::Black).bg(Color::Green),
        "paused" | "stepping" => Style::new().fg(Color::Black).bg(Color::Yellow),
        _ => Style::new().fg(Color::White).bg(Color::Red),
    };
    let rtf = match s.rtf {
        Some(r) => format!("x{r:.2} real"),
        None => "x- real".into(),
    };
    let mut spans = vec![
        Span::styled(format!(" {} ", s.state.to_uppercase()), state_style),
        Span::raw(format!(" {} ", s.speed)),
        Span::raw(format!("| t {} ", fmt_ns(s.virtual_ns))),
        Span::raw(format!("| {} cyc ", fmt_count(s.cycles))),
        Span::raw(format!("| {:.0} MHz ", s.mhz)),
        Span::raw(format!("| {rtf} ")),
    ];
    if let Some(sc) = &s.script {
        spans.push(Span::raw(format!("| script {sc} ")));
    }
    spans.push(Span::raw(format!("| step {}", s.step)));
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::new().add_modifier(Modifier::BOLD)),
        area,
    );
}

fn pin_spans(p: &PinView, right: bool) -> Vec<Span<'static>> {
    let level_style = if p.level {
        Style::new()
            .fg(Color::LightGreen)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::DarkGray)
    };
    let base = if p.recent {
        Style::new().bg(Color::Rgb(90, 70, 0)).fg(Color::White)
    } else {
        Style::new()
    };
    let level = if p.level { "1" } else { "0" };
    let name = Span::styled(format!("{:<4}", p.name), base.add_modifier(Modifier::BOLD));
    let cpu = Span::styled(format!("{:<4}", p.cpu), base.fg(Color::Gray));
    let mode = Span::styled(format!("{:<4}", p.mode.label()), base);
    let lvl = Span::styled(level.to_string(), base.patch(level_style));
    if right {
        vec![lvl, Span::raw(" "), mode, cpu, name]
    } else {
        vec![name, cpu, mode, lvl]
    }
}

fn render_board(frame: &mut Frame, area: Rect, vm: &ViewModel) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} ", vm.board_name));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The centre column: USB socket, LEDs, switch.
    let mut centre: Vec<Line> = vec![Line::from("  ┌─USB─┐"), Line::from("")];
    for l in &vm.leds {
        let sym = if l.brightness >= 0.95 {
            "●"
        } else if l.brightness <= 0.05 {
            "○"
        } else {
            "◐"
        };
        let mut st = Style::new().fg(led_colour(l.colour, l.brightness));
        if l.brightness >= 0.95 {
            st = st.add_modifier(Modifier::BOLD);
        }
        centre.push(Line::from(vec![
            Span::styled(sym, st),
            Span::raw(format!(
                " {} {:<6} {}",
                l.name,
                colour_name(l.colour),
                led_state(l.brightness)
            )),
        ]));
    }
    centre.push(Line::from(""));
    if let Some(sw) = &vm.switch {
        let (txt, st) = if sw.pressed {
            (
                "PRESSED",
                Style::new().fg(Color::Black).bg(Color::LightYellow),
            )
        } else {
            ("up", Style::new().fg(Color::Gray))
        };
        centre.push(Line::from(vec![
            Span::raw(format!("[{}] ", sw.name)),
            Span::styled(txt, st),
        ]));
    }
    centre.push(Line::from("[RST]"));
    let rows = inner.height as usize;
    let x_w = 14u16;
    let cols = Layout::horizontal([
        Constraint::Length(x_w),
        Constraint::Min(1),
        Constraint::Length(x_w),
    ])
    .split(inner);
    let x: Vec<Line> = vm
        .x_pins
        .iter()
        .take(rows)
        .map(|p| Line::from(pin_spans(p, false)))
        .collect();
    let y: Vec<Line> = vm
        .y_pins
        .iter()
        .take(rows)
        .map(|p| Line::from(pin_spans(p, true)))
        .collect();
    frame.render_widget(Paragraph::new(x), cols[0]);
    let c = Rect {
        x: cols[1].x + 1,
        width: cols[1].width.saturating_sub(1),
        ..cols[1]
    };
    frame.render_widget(Paragraph::new(centre), c);
    frame.render_widget(Paragraph::new(y), cols[2]);
}

/// Splits a line into pieces of at most `width` characters.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.is_empty() || width == 0 {
        return vec![String::new()];
    }
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}

fn render_console(frame: &mut Frame, area: Rect, vm: &ViewModel) {
    let focused = vm.focus == Focus::Console;
    let title = if vm.scrolled > 0 {
        format!(
            " console (scrolled back {} lines, End follows) ",
            vm.scrolled
        )
    } else if focused {
        " console: keys go to the board (Esc: board keys) ".to_string()
    } else {
        " console ".to_string()
    };
    let style = if focused {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let h = inner.height as usize;
    if w == 0 || h == 0 {
        return;
    }
    let mut rows: Vec<String> = Vec::new();
    // Only the lines that can show: walk back from the bottom.
    let mut cursor = None;
    for (i, l) in vm.console.iter().enumerate().rev() {
        let mut pieces = wrap(l, w);
        if i + 1 == vm.console.len() && vm.scrolled == 0 {
            if let Some(col) = vm.console_cursor {
                // The cursor may sit just past the end of a full row.
                while col / w >= pieces.len() {
                    pieces.push(String::new());
                }
                cursor = Some((col / w, col % w, pieces.len()));
            }
        }
        for p in pieces.into_iter().rev() {
            rows.push(p);
        }
        if rows.len() >= h {
            break;
        }
    }
    rows.truncate(h);
    rows.reverse();
    let first = h - rows.len();
    let lines: Vec<Line> = rows.into_iter().map(Line::from).collect();
    let para_area = Rect {
        y: inner.y + first as u16,
        height: inner.height - first as u16,
        ..inner
    };
    frame.render_widget(Paragraph::new(lines), para_area);
    if focused && vm.overlay == Overlay::None {
        if let Some((row, col, n)) = cursor {
            // The last line's pieces end at the bottom row.
            let up = (n - row).min(inner.height as usize) as u16;
            let y = inner.y + inner.height - up;
            frame.set_cursor_position((inner.x + col as u16, y));
        }
    }
}

fn cell_char(c: Cell) -> char {
    match c {
        Cell::Low => '▁',
        Cell::High => '█',
        Cell::Rise => '▐',
        Cell::Fall => '▌',
        Cell::Busy(d) if d < 0.34 => '░',
        Cell::Busy(d) if d < 0.67 => '▒',
        Cell::Busy(_) => '▓',
    }
}

fn render_waves(frame: &mut Frame, area: Rect, vm: &ViewModel, n: usize) {
    let block = Block::default().borders(Borders::ALL).title(format!(
        " waves: last {} of virtual time (+/- zoom, w pins) ",
        fmt_span(vm.wave_window_ns)
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let label_w = 10usize;
    let strip = (inner.width as usize).saturating_sub(label_w);
    let mut lines: Vec<Line> = Vec::new();
    for w in vm.waves.iter().take(n) {
        let cells: String = w.wave.cells(strip).into_iter().map(cell_char).collect();
        let label: String = w.label.chars().take(label_w - 1).collect();
        lines.push(Line::from(vec![
            Span::styled(
                format!("{label:<width$}", width = label_w),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::styled(cells, Style::new().fg(Color::LightGreen)),
        ]));
    }
    // Axis: the window's start on the left, now on the right.
    let left = format!("-{}", fmt_span(vm.wave_window_ns));
    let right = "now";
    let mid = strip.saturating_sub(left.len() + right.len());
    lines.push(Line::from(Span::styled(
        format!("{:<label_w$}{left}{}{right}", "", "·".repeat(mid)),
        Style::new().fg(Color::DarkGray),
    )));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn render_hints(frame: &mut Frame, area: Rect, vm: &ViewModel) {
    let text = if let Some(m) = &vm.message {
        m.clone()
    } else {
        match vm.focus {
            Focus::Console => "F1 help  F2 pause  F3 step  F4 speed  F5 switch  F6 reset  \
                               F10 quit  Esc board keys  PgUp/PgDn scroll"
                .to_string(),
            Focus::Board => "BOARD KEYS: spc pause  s step  [] size  f speed  u switch  \
                             c click  r reset  +- zoom  w pins  ? help  q quit  Esc console"
                .to_string(),
        }
    };
    frame.render_widget(
        Paragraph::new(text).style(Style::new().fg(Color::Black).bg(Color::Gray)),
        area,
    );
}

/// The keys, as the help shows them.
pub const HELP: &[(&str, &str)] = &[
    (
        "any key",
        "goes to the board's REPL while the console has focus",
    ),
    ("Ctrl-C", "to the board: interrupts the running program"),
    ("Esc", "switch focus: console <-> board keys"),
    ("Alt-<key>", "a board key while the console has focus"),
    ("F1  ?", "this help"),
    ("F2  space", "pause / resume"),
    ("F3  s", "single-step by the step size (pauses)"),
    ("[  ]", "step size smaller / larger"),
    ("F4  f / F", "speed: max, 0.1x, 1x, 10x"),
    ("F5  u", "USR switch: press / release"),
    ("c", "USR switch: click (held 100 ms of virtual time)"),
    ("F6  r", "reset the board (the script runs again)"),
    ("+  -", "waveform: zoom in / out"),
    ("w", "waveform: choose pins (X1 Y2 LED_RED A13 ...)"),
    ("PgUp PgDn End", "console scrollback"),
    ("F10  q  Ctrl-Q", "quit"),
];

fn render_help(frame: &mut Frame, area: Rect) {
    let h = (HELP.len() as u16 + 4).min(area.height);
    let w = 72u16.min(area.width);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!(" {k:<16}"), Style::new().fg(Color::Yellow)),
                Span::raw(*d),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" any key closes this help"));
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")),
        r,
    );
}

fn render_prompt(frame: &mut Frame, area: Rect, text: &str) {
    let line = format!("waveform pins (Enter applies, Esc cancels): {text}");
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(line.clone()).style(Style::new().fg(Color::Black).bg(Color::LightCyan)),
        area,
    );
    let x = area.x + (line.chars().count() as u16).min(area.width.saturating_sub(1));
    frame.set_cursor_position((x, area.y));
}
