//! Finds where an item sits in RON source text, so that errors found after parsing
//! (unknown pin, overlap, ...) can name a line and column.
//!
//! The scanner understands just enough RON to follow a path of struct fields and list
//! indices: `("peripherals", 3) ("irqs", 0) "line"`. It runs only on text that `ron`
//! has already accepted, and answers `None` rather than failing on anything odd.

/// One step of a path into a RON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    /// A named field of a struct (or struct-like enum variant).
    Field(&'a str),
    /// An element of a list or tuple.
    Index(usize),
}

/// 1-based line and byte column, as `ron` counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug)]
enum Kind {
    Leaf,
    /// `Name(a: 1, b: 2)` or `(a: 1)`.
    Struct(Vec<(String, Node)>),
    /// `Name(1, 2)`, `Some(x)`, `(1, 2)` or `[1, 2]`.
    Items(Vec<Node>),
    /// `{ k: v }`: the values, in order.
    Map(Vec<Node>),
}

#[derive(Debug)]
struct Node {
    pos: Pos,
    kind: Kind,
    /// Written as `Some(...)`.
    some: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Open(u8),
    Close(u8),
    Colon,
    Comma,
    Other,
}

struct Lexer<'s> {
    src: &'s [u8],
    i: usize,
    line: usize,
    col: usize,
}

impl<'s> Lexer<'s> {
    fn new(src: &'s str) -> Self {
        Lexer {
            src: src.as_bytes(),
            i: 0,
            line: 1,
            col: 1,
        }
    }

    fn peek_byte(&self, k: usize) -> Option<u8> {
        self.src.get(self.i + k).copied()
    }

    fn bump(&mut self) {
        if let Some(&b) = self.src.get(self.i) {
            if b == b'\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
            self.i += 1;
        }
    }

    fn skip_trivia(&mut self) {
        loop {
            match (self.peek_byte(0), self.peek_byte(1)) {
                (Some(b), _) if b.is_ascii_whitespace() => self.bump(),
                (Some(b'/'), Some(b'/')) => {
                    while !matches!(self.peek_byte(0), None | Some(b'\n')) {
                        self.bump();
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    self.bump();
                    self.bump();
                    let mut depth = 1;
                    while depth > 0 {
                        match (self.peek_byte(0), self.peek_byte(1)) {
                            (None, _) => return,
                            (Some(b'*'), Some(b'/')) => {
                                depth -= 1;
                                self.bump();
                                self.bump();
                            }
                            (Some(b'/'), Some(b'*')) => {
                                depth += 1;
                                self.bump();
                                self.bump();
                            }
                            _ => self.bump(),
                        }
                    }
                }
                _ => return,
            }
        }
    }

    /// Next token and where it starts; `None` at the end.
    fn next(&mut self) -> Option<(Pos, Tok)> {
        self.skip_trivia();
        let pos = Pos {
            line: self.line,
            col: self.col,
        };
        let b = self.peek_byte(0)?;
        let tok = match b {
            b'(' | b'[' | b'{' => {
                self.bump();
                Tok::Open(b)
            }
            b')' | b']' | b'}' => {
                self.bump();
                Tok::Close(b)
            }
            b':' => {
                self.bump();
                Tok::Colon
            }
            b',' => {
                self.bump();
                Tok::Comma
            }
            b'"' => {
                self.string();
                Tok::Other
            }
            b'\'' => {
                self.bump();
                while let Some(c) = self.peek_byte(0) {
                    self.bump();
                    if c == b'\\' {
                        self.bump();
                    } else if c == b'\'' {
                        break;
                    }
                }
                Tok::Other
            }
            b'r' if matches!(self.peek_byte(1), Some(b'"' | b'#')) => {
                self.raw_string();
                Tok::Other
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = self.i;
                while matches!(self.peek_byte(0), Some(c) if c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.bump();
                }
                let s = String::from_utf8_lossy(&self.src[start..self.i]).into_owned();
                Tok::Ident(s)
            }
            _ => {
                // Numbers and anything else: one run of non-delimiters.
                self.bump();
                while matches!(self.peek_byte(0), Some(c) if !c.is_ascii_whitespace()
                    && !b"()[]{}:,\"'/".contains(&c))
                {
                    self.bump();
                }
                Tok::Other
            }
        };
        Some((pos, tok))
    }

    fn string(&mut self) {
        self.bump();
        while let Some(c) = self.peek_byte(0) {
            self.bump();
            if c == b'\\' {
                self.bump();
            } else if c == b'"' {
                break;
            }
        }
    }

    fn raw_string(&mut self) {
        self.bump(); // r
        let mut hashes = 0;
        while self.peek_byte(0) == Some(b'#') {
            hashes += 1;
            self.bump();
        }
        self.bump(); // "
        while let Some(c) = self.peek_byte(0) {
            self.bump();
            if c == b'"' {
                let mut n = 0;
                while n < hashes && self.peek_byte(0) == Some(b'#') {
                    n += 1;
                    self.bump();
                }
                if n == hashes {
                    break;
                }
            }
        }
    }
}

struct Parser {
    toks: Vec<(Pos, Tok)>,
    k: usize,
}

const MAX_DEPTH: usize = 128;

impl Parser {
    fn peek(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.k + n).map(|t| &t.1)
    }

    fn take(&mut self) -> Option<(Pos, Tok)> {
        let t = self.toks.get(self.k).cloned();
        self.k += 1;
        t
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (pos, tok) = self.take()?;
        match tok {
            Tok::Ident(ident) => {
                if self.peek(0) == Some(&Tok::Open(b'(')) {
                    self.take();
                    let kind = self.paren_body(depth)?;
                    let some = ident == "Some";
                    Some(Node { pos, kind, some })
                } else {
                    Some(Node {
                        pos,
                        kind: Kind::Leaf,
                        some: false,
                    })
                }
            }
            Tok::Open(b'(') => {
                let kind = self.paren_body(depth)?;
                Some(Node {
                    pos,
                    kind,
                    some: false,
                })
            }
            Tok::Open(b'[') => {
                let items = self.items(b']', depth)?;
                Some(Node {
                    pos,
                    kind: Kind::Items(items),
                    some: false,
                })
            }
            Tok::Open(b'{') => {
                let mut values = Vec::new();
                loop {
                    if self.peek(0) == Some(&Tok::Close(b'}')) {
                        self.take();
                        break;
                    }
                    self.value(depth + 1)?;
                    if self.take()?.1 != Tok::Colon {
                        return None;
                    }
                    values.push(self.value(depth + 1)?);
                    match self.take()?.1 {
                        Tok::Comma => {}
                        Tok::Close(b'}') => break,
                        _ => return None,
                    }
                }
                Some(Node {
                    pos,
                    kind: Kind::Map(values),
                    some: false,
                })
            }
            Tok::Other => Some(Node {
                pos,
                kind: Kind::Leaf,
                some: false,
            }),
            _ => None,
        }
    }

    /// After `(`: struct fields if it starts with `ident :`, else tuple items.
    fn paren_body(&mut self, depth: usize) -> Option<Kind> {
        let is_struct =
            matches!(self.peek(0), Some(Tok::Ident(_))) && self.peek(1) == Some(&Tok::Colon);
        if !is_struct {
            return Some(Kind::Items(self.items(b')', depth)?));
        }
        let mut fields = Vec::new();
        loop {
            if self.peek(0) == Some(&Tok::Close(b')')) {
                self.take();
                break;
            }
            let name = match self.take()?.1 {
                Tok::Ident(name) => name,
                _ => return None,
            };
            if self.take()?.1 != Tok::Colon {
                return None;
            }
            fields.push((name, self.value(depth + 1)?));
            match self.take()?.1 {
                Tok::Comma => {}
                Tok::Close(b')') => break,
                _ => return None,
            }
        }
        Some(Kind::Struct(fields))
    }

    fn items(&mut self, close: u8, depth: usize) -> Option<Vec<Node>> {
        let mut items = Vec::new();
        loop {
            if self.peek(0) == Some(&Tok::Close(close)) {
                self.take();
                break;
            }
            items.push(self.value(depth + 1)?);
            match self.take()?.1 {
                Tok::Comma => {}
                Tok::Close(c) if c == close => break,
                _ => return None,
            }
        }
        Some(items)
    }
}

fn parse(src: &str) -> Option<Node> {
    let mut lexer = Lexer::new(src);
    let mut toks = Vec::new();
    // Skip `#![enable(...)]` attributes at the top.
    while let Some(t) = lexer.next() {
        toks.push(t);
    }
    let mut k = 0;
    while toks.get(k).map(|t| &t.1) == Some(&Tok::Other)
        && toks.get(k + 1).map(|t| &t.1) == Some(&Tok::Open(b'['))
    {
        // `#` then `!`? The lexer folds `#!` into one Other token.
        let mut depth = 0;
        k += 1;
        while let Some((_, t)) = toks.get(k) {
            match t {
                Tok::Open(_) => depth += 1,
                Tok::Close(_) => depth -= 1,
                _ => {}
            }
            k += 1;
            if depth == 0 {
                break;
            }
        }
    }
    let mut p = Parser { toks, k };
    p.value(0)
}

/// Where the value at `path` starts, if the scanner can find it.
pub fn locate(src: &str, path: &[Seg<'_>]) -> Option<Pos> {
    let root = parse(src)?;
    let mut node = &root;
    for seg in path {
        node = step(node, *seg)?;
    }
    // Point at the value inside `Some(...)`.
    while let (true, Kind::Items(items)) = (node.some, &node.kind) {
        match items.as_slice() {
            [inner] => node = inner,
            _ => break,
        }
    }
    Some(node.pos)
}

fn step<'n>(mut node: &'n Node, seg: Seg<'_>) -> Option<&'n Node> {
    loop {
        match (&node.kind, seg) {
            (Kind::Struct(fields), Seg::Field(name)) => {
                return fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            }
            (Kind::Items(items), Seg::Index(i)) => return items.get(i),
            (Kind::Map(values), Seg::Index(i)) => return values.get(i),
            // `Some(x)` and other one-element wrappers: look inside.
            (Kind::Items(items), Seg::Field(_)) if items.len() == 1 => node = &items[0],
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_items() {
        let src = "#![enable(implicit_some)]\nBoard(\n  // comment (with parens\n  name: \"x\",\n  list: [\n    (a: 1, b: r#\"q\"#),\n    Thing(a: 2, b: Some(Inner(c: 'x'))),\n  ],\n)\n";
        assert_eq!(
            locate(src, &[Seg::Field("name")]),
            Some(Pos { line: 4, col: 9 })
        );
        assert_eq!(
            locate(src, &[Seg::Field("list"), Seg::Index(1), Seg::Field("a")]),
            Some(Pos { line: 7, col: 14 })
        );
        assert_eq!(
            locate(
                src,
                &[
                    Seg::Field("list"),
                    Seg::Index(1),
                    Seg::Field("b"),
                    Seg::Field("c")
                ]
            ),
            Some(Pos { line: 7, col: 34 })
        );
        assert_eq!(locate(src, &[Seg::Field("nope")]), None);
        assert_eq!(locate("(((", &[Seg::Field("a")]), None);
    }
}
