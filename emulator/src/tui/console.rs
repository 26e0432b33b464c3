//! The console pane's text: the board's output interpreted the way a terminal would
//! for the few controls MicroPython's REPL uses (CR, LF, BS, TAB, `ESC [ K`,
//! `ESC [ n D`, `ESC [ n C`), kept as lines with a bounded scrollback.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    Start,
    Csi,
}

/// Lines of console text and the cursor column on the last one.
#[derive(Debug, Clone)]
pub struct ConsoleBuf {
    lines: VecDeque<Vec<char>>,
    col: usize,
    max_lines: usize,
    esc: Esc,
    csi: String,
    utf8: Vec<u8>,
}

impl ConsoleBuf {
    /// A console keeping at most `max_lines` lines (at least 1).
    pub fn new(max_lines: usize) -> ConsoleBuf {
        let mut lines = VecDeque::new();
        lines.push_back(Vec::new());
        ConsoleBuf {
            lines,
            col: 0,
            max_lines: max_lines.max(1),
            esc: Esc::None,
            csi: String::new(),
            utf8: Vec::new(),
        }
    }

    /// Interprets bytes written by the board.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// Adds a line of our own (a note from pybsim), on a line of its own.
    pub fn note(&mut self, text: &str) {
        if !self.current().is_empty() {
            self.newline();
        }
        for c in text.chars() {
            self.put(c);
        }
        self.newline();
    }

    /// Number of lines, the unfinished last one included.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.len() == 1 && self.lines[0].is_empty()
    }

    /// The last `n` lines that end `skip` lines above the bottom, oldest first.
    pub fn tail(&self, n: usize, skip: usize) -> Vec<String> {
        let end = self.lines.len().saturating_sub(skip);
        let start = end.saturating_sub(n);
        self.lines
            .range(start..end)
            .map(|l| l.iter().collect())
            .collect()
    }

    /// Cursor column on the last line.
    pub fn cursor_col(&self) -> usize {
        self.col
    }

    fn current(&mut self) -> &mut Vec<char> {
        if self.lines.is_empty() {
            self.lines.push_back(Vec::new());
        }
        let last = self.lines.len() - 1;
        &mut self.lines[last]
    }

    fn newline(&mut self) {
        self.lines.push_back(Vec::new());
        self.col = 0;
        while self.lines.len() > self.max_lines {
            self.lines.pop_front();
        }
    }

    fn put(&mut self, c: char) {
        let col = self.col;
        let line = self.current();
        if col < line.len() {
            line[col] = c;
        } else {
            line.resize(col, ' ');
            line.push(c);
        }
        self.col += 1;
    }

    fn byte(&mut self, b: u8) {
        match self.esc {
            Esc::Start => {
                self.esc = if b == b'[' {
                    self.csi.clear();
                    Esc::Csi
                } else {
                    Esc::None
                };
                return;
            }
            Esc::Csi => {
                if (0x40..=0x7E).contains(&b) {
                    self.esc = Esc::None;
                    self.csi_final(b);
                } else if self.csi.len() < 16 {
                    self.csi.push(char::from(b));
                } else {
                    self.esc = Esc::None;
                }
                return;
            }
            Esc::None => {}
        }
        if !self.utf8.is_empty() || b >= 0x80 {
            self.utf8_byte(b);
            return;
        }
        match b {
            b'\r' => self.col = 0,
            b'\n' => self.newline(),
            0x08 => self.col = self.col.saturating_sub(1),
            b'\t' => {
                let n = 8 - self.col % 8;
                for _ in 0..n {
                    self.put(' ');
                }
            }
            0x1B => self.esc = Esc::Start,
            0x20..=0x7E => self.put(char::from(b)),
            _ => {}
        }
    }

    fn csi_final(&mut self, fin: u8) {
        let n = self.csi.parse::<usize>().unwrap_or(1).max(1);
        match fin {
            b'K' => {
                let col = self.col;
                let mode = self.csi.parse::<u8>().unwrap_or(0);
                let line = self.current();
                match mode {
                    0 => line.truncate(col),
                    1 => {
                        for c in line.iter_mut().take(col + 1) {
                            *c = ' ';
                        }
                    }
                    _ => line.clear(),
                }
            }
            b'D' => self.col = self.col.saturating_sub(n),
            b'C' => self.col = self.col.saturating_add(n).min(4096),
            _ => {}
        }
    }

    fn utf8_byte(&mut self, b: u8) {
        if self.utf8.is_empty() {
            let need = match b {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => {
                    self.put('\u{FFFD}');
                    return;
                }
            };
            self.utf8.reserve(need);
            self.utf8.push(b);
            return;
        }
        if b & 0xC0 != 0x80 {
            // A broken sequence: show it as one replacement and take `b` afresh.
            self.utf8.clear();
            self.put('\u{FFFD}');
            self.byte(b);
            return;
        }
        self.utf8.push(b);
        let need = match self.utf8[0] {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        if self.utf8.len() == need {
            let c = std::str::from_utf8(&self.utf8)
                .ok()
                .and_then(|s| s.chars().next())
                .unwrap_or('\u{FFFD}');
            self.utf8.clear();
            self.put(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(c: &ConsoleBuf) -> Vec<String> {
        c.tail(usize::MAX, 0)
    }

    #[test]
    fn crlf_and_prompt() {
        let mut c = ConsoleBuf::new(100);
        c.feed(b"MicroPython v1.25\r\nType \"help()\"\r\n>>> ");
        assert_eq!(text(&c), ["MicroPython v1.25", "Type \"help()\"", ">>> "]);
        assert_eq!(c.cursor_col(), 4);
    }

    #[test]
    fn line_editing_controls() {
        let mut c = ConsoleBuf::new(100);
        // Typed "abc", backspace erases the c, cursor moved 1 left then erase to end.
        c.feed(b">>> abc\x08 \x08");
        assert_eq!(text(&c), [">>> ab "]);
        assert_eq!(c.cursor_col(), 6);
        c.feed(b"\x1b[2D\x1b[K");
        assert_eq!(text(&c), [">>> "]);
        c.feed(b"x\x1b[3Cy");
        assert_eq!(text(&c), [">>> x   y"]);
        c.feed(b"\tz");
        assert_eq!(text(&c), [">>> x   y       z"]);
    }

    #[test]
    fn utf8_and_scrollback_bound() {
        let mut c = ConsoleBuf::new(3);
        c.feed("é€\r\n".as_bytes());
        c.feed(b"1\r\n2\r\n3");
        assert_eq!(text(&c), ["1", "2", "3"]);
        c.feed(&[0xE2, 0x82]);
        c.feed(&[0xAC, b'\xff']);
        assert_eq!(text(&c), ["1", "2", "3€\u{FFFD}"]);
        assert_eq!(c.tail(1, 1), ["2"]);
    }

    #[test]
    fn notes_start_their_own_line() {
        let mut c = ConsoleBuf::new(10);
        c.feed(b">>> ");
        c.note("[reset]");
        assert_eq!(text(&c), [">>> ", "[reset]", ""]);
    }
}
