//! Fuzz targets of the SD card command layer: `sdcard` drives the card with command
//! sequences as a host sends them (often the proper bring-up first: CMD0, CMD8, ACMD41
//! until ready, CMD2, CMD3, CMD7, then reads, writes, CMD12, CMD16, ACMD6/13/51, CMD13,
//! CMD15...), with data blocks and time jumps; `sdio` does the same through the SDIO
//! host's registers (ARG, CMD, DTIMER, DLEN, DCTRL, FIFO, ICR), so the commands and data
//! reach the card as the firmware sends them.
//!
//! Nothing may panic or hang. The card is checked against what the SD specification
//! promises: each response has the kind of its command, an R1 reports the state the
//! command was received in, the image keeps its size, a write that is refused changes
//! nothing and one that is taken changes one whole block, reads return blocks of the
//! transfer's length. See tests/fuzz/harness.rs for the knobs.

#[path = "../../tests/fuzz/harness.rs"]
mod harness;

use proptest::prelude::*;
use proptest::sample::select;

use pybsim_peripherals::sdcard::{Response, SdCard, State, BLOCK, RCA};
use pybsim_peripherals::sdio::{self, Sdio};
use pybsim_peripherals::testing::{FakeBus, PYBOARD};
use pybsim_peripherals::{Device, Size};

/// Card sizes: SDSC (small, odd numbers of blocks), SDHC (multiples of 512 KiB).
const SIZES: [usize; 5] = [512, 1024, 9 * 512, 64 << 10, 512 << 10];

#[derive(Debug, Clone, Copy)]
enum Arg {
    /// A fixed value.
    Value(u32),
    /// The card's RCA in the upper half.
    Rca,
    /// Block `k` from the end of the image, as the card addresses it (SDHC: block
    /// number, SDSC: byte offset).
    FromEnd(u32),
}

#[derive(Debug, Clone)]
enum Op {
    Cmd {
        cmd: u8,
        arg: Arg,
    },
    /// CMD55 then the application command.
    Acmd {
        cmd: u8,
        arg: Arg,
    },
    Read,
    Write {
        len: usize,
        fill: u8,
    },
    Wait(u64),
}

fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        3 => Just(Arg::Rca),
        3 => (0u32..4).prop_map(Arg::FromEnd),
        3 => select(vec![0u32, 1, 0x1AA, 0x40FF_8000, 0x00FF_8000, 0x0010_0000, 2, 512, 513, 100, 0xFFFF_FFFF, 0x8000_0000])
            .prop_map(Arg::Value),
        1 => any::<u32>().prop_map(Arg::Value),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let cmd = prop_oneof![
        6 => select(vec![0u8, 2, 3, 7, 8, 9, 10, 12, 13, 15, 16, 17, 18, 24, 25, 55]),
        1 => select(vec![6u8, 11, 28, 29, 30, 32, 33, 38, 42, 56]),
        1 => 0u8..64,
    ];
    let acmd = prop_oneof![
        6 => select(vec![6u8, 13, 41, 42, 51, 22, 23]),
        1 => 0u8..64,
    ];
    prop_oneof![
        6 => (cmd, arg()).prop_map(|(cmd, arg)| Op::Cmd { cmd, arg }),
        3 => (acmd, arg()).prop_map(|(cmd, arg)| Op::Acmd { cmd, arg }),
        3 => Just(Op::Read),
        3 => (prop_oneof![6 => Just(BLOCK), 1 => 0usize..600], any::<u8>())
            .prop_map(|(len, fill)| Op::Write { len, fill }),
        2 => prop_oneof![
            4 => 0u64..2_000_000,
            1 => Just(u64::MAX / 4),
            1 => Just(u64::MAX),
        ]
        .prop_map(Op::Wait),
    ]
}

/// The bring-up a host does, to reach the transfer state.
fn bring_up() -> Vec<Op> {
    let mut v = vec![
        Op::Cmd {
            cmd: 0,
            arg: Arg::Value(0),
        },
        Op::Cmd {
            cmd: 8,
            arg: Arg::Value(0x1AA),
        },
    ];
    for _ in 0..12 {
        v.push(Op::Acmd {
            cmd: 41,
            arg: Arg::Value(0x40FF_8000),
        });
        v.push(Op::Wait(168_000));
    }
    v.extend([
        Op::Cmd {
            cmd: 2,
            arg: Arg::Value(0),
        },
        Op::Cmd {
            cmd: 3,
            arg: Arg::Value(0),
        },
        Op::Cmd {
            cmd: 7,
            arg: Arg::Rca,
        },
    ]);
    v
}

#[derive(Debug, Clone)]
struct CardCase {
    size: usize,
    fill: u8,
    ops: Vec<Op>,
}

fn card_case() -> impl Strategy<Value = CardCase> {
    (
        select(SIZES.to_vec()),
        any::<u8>(),
        proptest::bool::weighted(0.7),
        proptest::collection::vec(op(), 0..40),
    )
        .prop_map(|(size, fill, init, ops)| CardCase {
            size,
            fill,
            ops: if init {
                bring_up().into_iter().chain(ops).collect()
            } else {
                ops
            },
        })
}

fn resolve(arg: Arg, card: &SdCard) -> u32 {
    match arg {
        Arg::Value(v) => v,
        Arg::Rca => u32::from(RCA) << 16,
        Arg::FromEnd(k) => {
            let blocks = (card.image().len() / BLOCK) as u32;
            let b = blocks.saturating_sub(k);
            if card.is_sdhc() {
                b
            } else {
                b.saturating_mul(BLOCK as u32)
            }
        }
    }
}

/// Checks one response against the command and the state it was received in.
fn check_response(cmd: u8, app: bool, before: State, r: Option<Response>) -> Result<(), String> {
    let Some(r) = r else { return Ok(()) };
    let ok = match r {
        Response::R1(s) => {
            let current = (s >> 9) & 0xF;
            if current != before as u32 {
                return Err(format!(
                    "CMD{cmd} (app {app}): R1 says state {current}, the command came in state {before:?}"
                ));
            }
            true
        }
        // An application command the card does not define is its standard namesake.
        Response::R2(_) => matches!(cmd, 2 | 9 | 10),
        Response::R3(_) => app && cmd == 41,
        Response::R6(_) => cmd == 3,
        Response::R7(_) => cmd == 8,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("CMD{cmd} (app {app}) answered {r:?}"))
    }
}

fn run_card(case: &CardCase) -> Result<(), String> {
    let original = vec![case.fill; case.size];
    let mut card = SdCard::new(original.clone()).map_err(|e| e.to_string())?;
    let mut now: u64 = 0;
    // The card took CMD55: the next command is an application command.
    let mut app = false;
    let send = |card: &mut SdCard, app: &mut bool, now: u64, cmd: u8, arg: Arg| {
        let a = resolve(arg, card);
        let st = card.state();
        let was_app = std::mem::take(app);
        let r = card.command(now, &PYBOARD, cmd, a);
        check_response(cmd, was_app, st, r)?;
        *app = cmd == 55 && matches!(r, Some(Response::R1(s)) if s & (1 << 5) != 0);
        Ok::<(), String>(())
    };
    for op in &case.ops {
        let before_image_len = card.image().len();
        match *op {
            Op::Cmd { cmd, arg } => {
                let st = card.state();
                send(&mut card, &mut app, now, cmd, arg)?;
                if cmd == 0 && card.state() != State::Idle && st != State::Ina {
                    return Err(format!("CMD0 left the card in {:?}", card.state()));
                }
            }
            Op::Acmd { cmd, arg } => {
                send(&mut card, &mut app, now, 55, Arg::Rca)?;
                send(&mut card, &mut app, now, cmd, arg)?;
            }
            Op::Read => {
                // Data on the data lines is no command: a CMD55 stays pending.
                let sending = card.sending();
                let st = card.state();
                if let Some(b) = card.read_block() {
                    if !sending {
                        return Err("a block came while the card said it was not sending".into());
                    }
                    if ![8usize, 64].contains(&b.len()) && (b.is_empty() || b.len() > BLOCK) {
                        return Err(format!("a block of {} bytes", b.len()));
                    }
                    if st != State::Data {
                        return Err(format!("a block sent in state {st:?}"));
                    }
                }
            }
            Op::Write { len, fill } => {
                let data = vec![fill; len];
                let before = card.image().to_vec();
                let receiving = card.receiving();
                let took = card.write_block(&data);
                let after = card.image();
                if !took && after != before.as_slice() {
                    return Err("a refused block changed the image".into());
                }
                if took {
                    if !receiving || len != BLOCK {
                        return Err(format!("a {len}-byte block taken (receiving {receiving})"));
                    }
                    let changed: Vec<usize> = (0..before.len() / BLOCK)
                        .filter(|&i| {
                            before[i * BLOCK..(i + 1) * BLOCK] != after[i * BLOCK..(i + 1) * BLOCK]
                        })
                        .collect();
                    match changed.as_slice() {
                        [] => {}
                        [i] if after[i * BLOCK..(i + 1) * BLOCK] == data[..] => {}
                        other => return Err(format!("a write changed blocks {other:?}")),
                    }
                }
            }
            Op::Wait(dt) => now = now.saturating_add(dt),
        }
        if card.image().len() != before_image_len {
            return Err("the image changed size".into());
        }
        if card.image() != original.as_slice() && !card.dirty() {
            return Err("the image changed but is not dirty".into());
        }
        let _ = card.csd();
        let _ = card.csd_capacity();
    }
    Ok(())
}

/// Corpus files: a line per op (`cmd N ARG`, `acmd N ARG`, `read`, `write LEN FILL`,
/// `wait CYCLES`), ARG a number, `rca` or `end-K`; a first line `size N`.
fn parse_script(text: &str) -> CardCase {
    let mut case = CardCase {
        size: 512 << 10,
        fill: 0,
        ops: Vec::new(),
    };
    let num = |s: &str| -> u64 {
        let s = s.trim();
        s.strip_prefix("0x")
            .map(|h| u64::from_str_radix(h, 16).unwrap_or(0))
            .unwrap_or_else(|| s.parse().unwrap_or(0))
    };
    let arg = |s: &str| match s {
        "rca" => Arg::Rca,
        _ if s.starts_with("end-") => Arg::FromEnd(num(&s[4..]) as u32),
        _ => Arg::Value(num(s) as u32),
    };
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["size", n] => case.size = num(n) as usize,
            ["init"] => case.ops.extend(bring_up()),
            ["cmd", n, a] => case.ops.push(Op::Cmd {
                cmd: num(n) as u8,
                arg: arg(a),
            }),
            ["acmd", n, a] => case.ops.push(Op::Acmd {
                cmd: num(n) as u8,
                arg: arg(a),
            }),
            ["read"] => case.ops.push(Op::Read),
            ["write", l, f] => case.ops.push(Op::Write {
                len: num(l) as usize,
                fill: num(f) as u8,
            }),
            ["wait", t] => case.ops.push(Op::Wait(num(t))),
            _ => {}
        }
    }
    case
}

fn script(case: &CardCase) -> Vec<u8> {
    let a = |arg: &Arg| match arg {
        Arg::Value(v) => format!("{v:#x}"),
        Arg::Rca => "rca".into(),
        Arg::FromEnd(k) => format!("end-{k}"),
    };
    let mut out = format!("size {}\n", case.size);
    for op in &case.ops {
        out += &match op {
            Op::Cmd { cmd, arg } => format!("cmd {cmd} {}\n", a(arg)),
            Op::Acmd { cmd, arg } => format!("acmd {cmd} {}\n", a(arg)),
            Op::Read => "read\n".into(),
            Op::Write { len, fill } => format!("write {len} {fill}\n"),
            Op::Wait(t) => format!("wait {t}\n"),
        };
    }
    out.into_bytes()
}

#[test]
fn sdcard() {
    harness::run(
        "sdcard",
        10_000,
        card_case(),
        |_, bytes| parse_script(&String::from_utf8_lossy(bytes)),
        script,
        run_card,
    );
}

// ---------------------------------------------------------------------------------------
// through the SDIO host

#[derive(Debug, Clone)]
enum HostOp {
    /// ARG then CMD: index, wait-response bits (0 none, 1 short, 3 long), CPSMEN.
    Command {
        cmd: u8,
        arg: Arg,
        resp: u32,
    },
    /// DTIMER, DLEN, then DCTRL (DTEN, direction, block size 2^n, DMAEN).
    Data {
        len: u32,
        dir_read: bool,
        block_pow: u32,
        dma: bool,
    },
    FifoRead,
    FifoWrite(u32),
    ReadReg(u32),
    WriteReg(u32, u32),
    Clear,
    Wait(u64),
}

fn host_op() -> impl Strategy<Value = HostOp> {
    let regs = vec![
        sdio::POWER,
        sdio::CLKCR,
        sdio::ARG,
        sdio::CMD,
        sdio::RESPCMD,
        0x14,
        0x18,
        0x1C,
        0x20,
        sdio::DTIMER,
        sdio::DLEN,
        sdio::DCTRL,
        sdio::DCOUNT,
        sdio::STA,
        sdio::ICR,
        sdio::MASK,
        sdio::FIFOCNT,
        sdio::FIFO,
    ];
    prop_oneof![
        6 => (
            prop_oneof![4 => select(vec![0u8, 2, 3, 7, 8, 9, 12, 13, 16, 17, 18, 24, 25, 41, 55, 6, 51]), 1 => 0u8..64],
            arg(),
            select(vec![0u32, 1, 3, 2]),
        )
            .prop_map(|(cmd, arg, resp)| HostOp::Command { cmd, arg, resp }),
        3 => (
            prop_oneof![4 => select(vec![512u32, 1024, 8, 64, 2048]), 1 => 0u32..0x0200_0000],
            any::<bool>(),
            prop_oneof![4 => Just(9u32), 1 => 0u32..16],
            proptest::bool::weighted(0.1),
        )
            .prop_map(|(len, dir_read, block_pow, dma)| HostOp::Data {
                len,
                dir_read,
                block_pow,
                dma,
            }),
        4 => Just(HostOp::FifoRead),
        3 => any::<u32>().prop_map(HostOp::FifoWrite),
        1 => select(regs.clone()).prop_map(HostOp::ReadReg),
        1 => (select(regs), harness::interesting_u32()).prop_map(|(r, v)| HostOp::WriteReg(r, v)),
        1 => Just(HostOp::Clear),
        3 => prop_oneof![4 => 0u64..20_000, 1 => 0u64..5_000_000].prop_map(HostOp::Wait),
    ]
}

#[derive(Debug, Clone)]
struct HostCase {
    size: usize,
    ops: Vec<HostOp>,
}

fn host_case() -> impl Strategy<Value = HostCase> {
    let init: Vec<HostOp> = bring_up()
        .into_iter()
        .flat_map(|op| match op {
            Op::Cmd { cmd, arg } => vec![HostOp::Command { cmd, arg, resp: 1 }, HostOp::Wait(2000)],
            Op::Acmd { cmd, arg } => vec![
                HostOp::Command {
                    cmd: 55,
                    arg: Arg::Rca,
                    resp: 1,
                },
                HostOp::Wait(2000),
                HostOp::Command { cmd, arg, resp: 1 },
                HostOp::Wait(2000),
            ],
            Op::Wait(t) => vec![HostOp::Wait(t)],
            _ => vec![],
        })
        .collect();
    (
        select(SIZES.to_vec()),
        proptest::bool::weighted(0.7),
        proptest::collection::vec(host_op(), 0..60),
    )
        .prop_map(move |(size, with_init, ops)| HostCase {
            size,
            ops: if with_init {
                init.iter().cloned().chain(ops).collect()
            } else {
                ops
            },
        })
}

fn run_host(case: &HostCase) -> Result<(), String> {
    let mut host = Sdio::new("SDIO");
    host.insert(SdCard::new(vec![0xA5; case.size]).map_err(|e| e.to_string())?);
    let mut b = FakeBus::new(host, PYBOARD);
    b.write32(sdio::POWER, 3);
    b.write32(sdio::CLKCR, sdio::CLKEN | 0x76);
    for op in &case.ops {
        match *op {
            HostOp::Command { cmd, arg, resp } => {
                let a = match b.dev.card() {
                    Some(card) => resolve(arg, card),
                    None => 0,
                };
                b.write32(sdio::ARG, a);
                b.write32(
                    sdio::CMD,
                    sdio::CPSMEN | (resp << 6) | u32::from(cmd & 0x3F),
                );
            }
            HostOp::Data {
                len,
                dir_read,
                block_pow,
                dma,
            } => {
                b.write32(sdio::DTIMER, 0x00FF_FFFF);
                b.write32(sdio::DLEN, len);
                let dctrl = sdio::DTEN
                    | if dir_read { sdio::DTDIR } else { 0 }
                    | if dma { sdio::DMAEN } else { 0 }
                    | ((block_pow & 0xF) << 4);
                b.write32(sdio::DCTRL, dctrl);
            }
            HostOp::FifoRead => {
                let _ = b.with(|d, ctx| d.read(ctx, sdio::FIFO, Size::Word));
            }
            HostOp::FifoWrite(v) => {
                let _ = b.with(|d, ctx| d.write(ctx, sdio::FIFO, Size::Word, v));
            }
            HostOp::ReadReg(r) => {
                let _ = b.with(|d, ctx| d.read(ctx, r, Size::Word));
            }
            HostOp::WriteReg(r, v) => {
                let _ = b.with(|d, ctx| d.write(ctx, r, Size::Word, v));
            }
            HostOp::Clear => b.write32(sdio::ICR, 0xFFFF_FFFF),
            HostOp::Wait(dt) => {
                let t = b.now.saturating_add(dt);
                // A model that keeps firing events at one instant is a hang.
                let longest = b.advance_bounded(t, 200_000);
                if longest > 10_000 {
                    return Err(format!("{longest} events fired at one instant"));
                }
            }
        }
        if let Some(card) = b.dev.card() {
            if card.image().len() != case.size {
                return Err("the image changed size".into());
            }
        }
    }
    Ok(())
}

fn host_script(case: &HostCase) -> Vec<u8> {
    format!("{case:?}").into_bytes()
}

#[test]
fn sdio() {
    harness::run(
        "sdio",
        20_000,
        host_case(),
        // The corpus holds card scripts (see `sdcard`), replayed through the host.
        |_, bytes| {
            let c = parse_script(&String::from_utf8_lossy(bytes));
            HostCase {
                size: c.size,
                ops: c
                    .ops
                    .into_iter()
                    .flat_map(|op| match op {
                        Op::Cmd { cmd, arg } => {
                            vec![HostOp::Command { cmd, arg, resp: 1 }, HostOp::Wait(2000)]
                        }
                        Op::Acmd { cmd, arg } => vec![
                            HostOp::Command {
                                cmd: 55,
                                arg: Arg::Rca,
                                resp: 1,
                            },
                            HostOp::Wait(2000),
                            HostOp::Command { cmd, arg, resp: 1 },
                            HostOp::Wait(2000),
                        ],
                        Op::Read => vec![HostOp::FifoRead],
                        Op::Write { fill, .. } => {
                            vec![HostOp::FifoWrite(u32::from_ne_bytes([fill; 4]))]
                        }
                        Op::Wait(t) => vec![HostOp::Wait(t)],
                    })
                    .collect(),
            }
        },
        host_script,
        run_host,
    );
}
