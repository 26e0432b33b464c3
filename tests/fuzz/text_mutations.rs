//! Mutations of RON text for the board and stimuli fuzz targets: numbers, strings and
//! identifiers replaced by interesting ones, lines deleted, repeated or swapped,
//! punctuation inserted, the text cut short.

#![allow(dead_code)]

use proptest::prelude::*;
use proptest::sample::select;

use crate::harness;

#[derive(Debug, Clone, Copy, PartialEq)]
enum TokKind {
    Number,
    Str,
    Ident,
}

/// Byte ranges of the numbers, strings and identifiers of RON-ish text (approximate:
/// good enough to aim mutations).
fn tokens(text: &str, kind: TokKind) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
            if kind == TokKind::Str {
                out.push((start, i));
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            if kind == TokKind::Number {
                out.push((start, i));
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            if kind == TokKind::Ident {
                out.push((start, i));
            }
        } else {
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone)]
pub enum Mutation {
    Number(usize, u32, bool),
    Str(usize, String),
    Ident(usize, &'static str),
    DeleteLine(usize),
    RepeatLine(usize, u16),
    SwapLines(usize, usize),
    Insert(usize, char),
    Truncate(usize),
}

const IDENTS: &[&str] = &[
    "Gpio",
    "Rcc",
    "FlashInterface",
    "Pwr",
    "Syscfg",
    "Exti",
    "Usart",
    "AdvancedTimer",
    "GeneralPurposeTimer",
    "BasicTimer",
    "Rtc",
    "Iwdg",
    "Wwdg",
    "Rng",
    "UsbOtgFs",
    "Dma",
    "Adc",
    "Dac",
    "I2c",
    "Spi",
    "Sdio",
    "Console",
    "Flash",
    "Sram",
    "Ccm",
    "ReadOnly",
    "ReadWrite",
    "High",
    "Low",
    "Up",
    "Down",
    "None",
    "Some",
    "Red",
    "Mma7660",
    "Board",
    "name",
    "base",
    "size",
    "irqs",
    "pins",
    "cpu",
    "true",
    "Gpoi",
    "inf",
    "NaN",
];

fn strings() -> impl Strategy<Value = String> {
    let fixed: Vec<String> = [
        "GPIOA",
        "GPIOJ",
        "GPIOZ",
        "gpioa",
        "GPIO",
        "TIM99",
        "TIM0",
        "TIM1",
        "TIM6",
        "TIM14",
        "TIM15",
        "USART1",
        "USART7",
        "UART4",
        "UART1",
        "SPI4",
        "I2C1",
        "i2c1",
        "I2C9",
        "DMA3",
        "RCC",
        "CONSOLE",
        "SDIO",
        "ADC",
        "X1",
        "X99",
        "A0",
        "PA0",
        "PI15",
        "PJ0",
        "P",
        "A",
        "B3",
        "LED1",
        "",
        " ",
        "\\\"",
        "\\u{1F600}",
        "größe",
        "\\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    prop_oneof![
        4 => select(fixed),
        1 => "[A-Z0-9_]{0,8}",
        1 => (1usize..400).prop_map(|n| "A".repeat(n)),
    ]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<usize>(), harness::interesting_u32(), any::<bool>())
            .prop_map(|(i, v, h)| Mutation::Number(i, v, h)),
        4 => (any::<usize>(), strings()).prop_map(|(i, s)| Mutation::Str(i, s)),
        2 => (any::<usize>(), select(IDENTS)).prop_map(|(i, s)| Mutation::Ident(i, s)),
        2 => any::<usize>().prop_map(Mutation::DeleteLine),
        2 => (any::<usize>(), prop_oneof![3 => 1u16..4, 1 => 60u16..80, 1 => 1000u16..1100])
            .prop_map(|(i, n)| Mutation::RepeatLine(i, n)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        2 => (any::<usize>(), select(vec!['(', ')', '[', ']', ',', ':', '"', '/', '*', '#', '\\', '\u{e9}', '\0', '\n']))
            .prop_map(|(i, c)| Mutation::Insert(i, c)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn floor_char(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub fn apply(text: &str, m: &Mutation) -> String {
    let replace = |kind: TokKind, i: usize, with: &str| -> String {
        let toks = tokens(text, kind);
        if toks.is_empty() {
            return text.to_string();
        }
        let (a, b) = toks[i % toks.len()];
        format!("{}{}{}", &text[..a], with, &text[b..])
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let n = lines.len().max(1);
    match m {
        Mutation::Number(i, v, hex) => {
            let s = if *hex {
                format!("{v:#x}")
            } else {
                v.to_string()
            };
            replace(TokKind::Number, *i, &s)
        }
        Mutation::Str(i, s) => replace(TokKind::Str, *i, &format!("\"{s}\"")),
        Mutation::Ident(i, s) => replace(TokKind::Ident, *i, s),
        Mutation::DeleteLine(i) => {
            let k = i % n;
            lines
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, l)| *l)
                .collect()
        }
        Mutation::RepeatLine(i, times) => {
            let k = i % n;
            let mut out = String::new();
            for (j, l) in lines.iter().enumerate() {
                out.push_str(l);
                if j == k {
                    for _ in 0..*times {
                        out.push_str(l);
                    }
                }
            }
            out
        }
        Mutation::SwapLines(a, b) => {
            let mut v = lines.clone();
            let len = v.len();
            if len > 0 {
                v.swap(a % len, b % len);
            }
            v.concat()
        }
        Mutation::Insert(i, c) => {
            let at = floor_char(text, i % (text.len() + 1));
            format!("{}{}{}", &text[..at], c, &text[at..])
        }
        Mutation::Truncate(i) => text[..floor_char(text, i % (text.len() + 1))].to_string(),
    }
}

pub fn mutate(text: &str, muts: &[Mutation]) -> String {
    let mut t = text.to_string();
    for m in muts {
        t = apply(&t, m);
    }
    t
}
