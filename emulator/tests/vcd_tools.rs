//! The VCD dumps of `pybsim run --vcd` read by the tools people use, each compared
//! change for change with what pybsim wrote: sigrok-cli (libsigrok 0.5, as PulseView
//! reads files) on the default dump, GTKWave's vcd2fst and fst2vcd on both forms, and
//! wellen (the parser of the Surfer viewer) on both forms.
//!
//! The tools come from Debian (scripts/setup-deps.sh installs sigrok-cli and gtkwave);
//! a test whose tool is missing records a skip. The traces: s05's 1000 viper toggles of
//! X1 and LED changes, and DAC samples from `write_timed`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{have_tool, repo, scratch, text};

/// A signal's changes: (time stamp, value; None for x).
type Changes = Vec<(u64, Option<u64>)>;

/// Reads the value changes of a VCD, by signal name (a name given twice, as sigrok's
/// output never does, would merge). Handles several changes on one line, as sigrok
/// writes them.
fn parse_vcd(text: &str) -> BTreeMap<String, Changes> {
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (head, body) = text
        .split_once("$enddefinitions")
        .expect("a VCD header ends with $enddefinitions");
    for var in head.split("$var").skip(1) {
        let parts: Vec<&str> = var.split_whitespace().collect();
        // type size id name [index] $end
        let end = parts
            .iter()
            .position(|p| *p == "$end")
            .expect("$var ... $end");
        let mut name = parts[3].to_string();
        if end > 4 {
            name.push_str(parts[4]);
        }
        names.entry(parts[2].to_string()).or_default().push(name);
    }
    let mut out: BTreeMap<String, Changes> = BTreeMap::new();
    let mut t = 0u64;
    let mut tokens = body.split_whitespace().skip(1); // "$end" of $enddefinitions
    let mut put = |id: &str, t: u64, v: Option<u64>| {
        for n in names.get(id).unwrap_or_else(|| panic!("unknown id {id:?}")) {
            out.entry(n.clone()).or_default().push((t, v));
        }
    };
    while let Some(tok) = tokens.next() {
        if let Some(ts) = tok.strip_prefix('#') {
            t = ts.parse().expect("time stamp");
        } else if tok.starts_with('$') {
            if tok == "$comment" {
                for x in tokens.by_ref() {
                    if x == "$end" {
                        break;
                    }
                }
            }
        } else if let Some(bits) = tok.strip_prefix(['b', 'B']) {
            let id = tokens.next().expect("vector id");
            let v = u64::from_str_radix(bits, 2).ok();
            put(id, t, v);
        } else {
            let (v, id) = tok.split_at(1);
            let v = match v {
                "0" => Some(0),
                "1" => Some(1),
                _ => None,
            };
            put(id, t, v);
        }
    }
    out
}

/// The value of `c` at time `t` (the last change at or before it).
fn value_at(c: &Changes, t: u64) -> Option<u64> {
    let i = c.partition_point(|x| x.0 <= t);
    if i == 0 {
        None
    } else {
        c[i - 1].1
    }
}

/// `theirs` shows what `ours` does: from our first known value on, at every time either
/// of them changes, both hold the same value. Returns how many times were compared.
fn same_signal(name: &str, ours: &Changes, theirs: &Changes) -> usize {
    let Some(first) = ours.iter().find(|c| c.1.is_some()).map(|c| c.0) else {
        return 0;
    };
    let mut times: Vec<u64> = ours
        .iter()
        .chain(theirs.iter())
        .map(|c| c.0)
        .filter(|&t| t >= first)
        .collect();
    times.sort();
    times.dedup();
    for &t in &times {
        assert_eq!(
            value_at(theirs, t),
            value_at(ours, t),
            "{name} at {t} ns: the tool shows {:?}, pybsim wrote {:?}",
            value_at(theirs, t),
            value_at(ours, t)
        );
    }
    times.len()
}

/// Level changes of a 1-bit signal (from a known level to the other).
fn edges(c: &Changes) -> usize {
    let mut last = None;
    let mut n = 0;
    for &(_, v) in c {
        if v.is_some() {
            if last.is_some() && last != v {
                n += 1;
            }
            last = v;
        }
    }
    n
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

const DAC_SCRIPT: &str = "import pyb\n\
    buf = bytearray([10, 20, 30, 40, 250])\n\
    d = pyb.DAC(1)\n\
    d.write_timed(buf, 1000)\n\
    pyb.delay(8)\n\
    d2 = pyb.DAC(2, bits=12)\n\
    d2.write(0x123)\n\
    pyb.LED(3).on()\n\
    pyb.delay(1)\n";

/// The dumps: (s05 default, s05 vectors, DAC default, DAC vectors), made once per test.
fn dumps(dir: &Path) -> Option<[PathBuf; 4]> {
    common::firmware()?;
    let s05 = repo().join("tests/scenarios/s05_viper_toggle.py");
    let dac = common::write(dir, "dac.py", DAC_SCRIPT);
    let mut files = Vec::new();
    for (script, name) in [(&s05, "s05"), (&dac, "dac")] {
        for vectors in [false, true] {
            let f = dir.join(format!(
                "{name}-{}.vcd",
                if vectors { "vec" } else { "plain" }
            ));
            let mut args = vec!["run", "--vcd", f.to_str().unwrap()];
            if vectors {
                args.push("--vcd-vectors");
            }
            args.push(script.to_str().unwrap());
            let out = common::pybsim(&args);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            files.push(f);
        }
    }
    Some(files.try_into().expect("four dumps"))
}

/// The codes of a DAC channel written as twelve wires `NAME[11]`..`NAME[0]`, at every
/// time one of them changes.
fn dac_codes(sigs: &BTreeMap<String, Changes>, name: &str) -> Vec<(u64, u64)> {
    let bits: Vec<&Changes> = (0..12).map(|b| &sigs[&format!("{name}[{b}]")]).collect();
    let mut times: Vec<u64> = bits.iter().flat_map(|c| c.iter().map(|x| x.0)).collect();
    times.sort();
    times.dedup();
    times
        .into_iter()
        .filter_map(|t| {
            let mut code = 0;
            for (b, c) in bits.iter().enumerate() {
                code |= value_at(c, t)? << b;
            }
            Some((t, code))
        })
        .collect()
}

#[test]
fn sigrok_reads_the_default_dump_to_its_end() {
    if !have_tool("sigrok-cli", "the VCD as libsigrok reads it") {
        return;
    }
    let dir = scratch("sigrok");
    let Some([s05, _, dac, _]) = dumps(&dir) else {
        return;
    };
    for ours in [&s05, &dac] {
        let back = ours.with_extension("sigrok.vcd");
        run(Command::new("sigrok-cli")
            .arg("-i")
            .arg(ours)
            .args(["-O", "vcd", "-o"])
            .arg(&back));
        let mine = parse_vcd(&std::fs::read_to_string(ours).unwrap());
        let theirs = parse_vcd(&std::fs::read_to_string(&back).unwrap());
        // sigrok keeps every wire (libsigrok 0.5 would drop vectors and stop at the
        // first vector value).
        assert_eq!(
            mine.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{}",
            ours.display()
        );
        let mut compared = 0;
        for (name, c) in &mine {
            compared += same_signal(name, c, &theirs[name]);
        }
        assert!(compared > 10, "{compared}");
        // The last change pybsim wrote is in sigrok's view too.
        let last = mine
            .values()
            .flat_map(|c| c.iter().map(|x| x.0))
            .max()
            .unwrap();
        let their_last = theirs
            .values()
            .flat_map(|c| c.iter().map(|x| x.0))
            .max()
            .unwrap();
        assert_eq!(their_last, last, "{}", ours.display());
    }
    let sig = parse_vcd(&std::fs::read_to_string(s05.with_extension("sigrok.vcd")).unwrap());
    assert_eq!(
        edges(&sig["X1_PA0"]),
        1000,
        "X1's toggles as sigrok sees them"
    );
    // The DAC codes as sigrok's wires give them: the write_timed buffer in order.
    let sig = parse_vcd(&std::fs::read_to_string(dac.with_extension("sigrok.vcd")).unwrap());
    let codes: Vec<u64> = dac_codes(&sig, "DAC1_PA4").iter().map(|c| c.1).collect();
    assert_eq!(&codes[..6], &[0, 160, 320, 480, 640, 4000], "{codes:?}");
    assert_eq!(dac_codes(&sig, "DAC2_PA5").last().map(|c| c.1), Some(0x123));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gtkwave_vcd2fst_and_back_keeps_every_change() {
    if !have_tool("vcd2fst", "the VCD through GTKWave's FST conversion") {
        return;
    }
    let dir = scratch("gtkwave");
    let Some(all) = dumps(&dir) else {
        return;
    };
    for ours in &all {
        let fst = ours.with_extension("fst");
        run(Command::new("vcd2fst").arg(ours).arg(&fst));
        let back = run(Command::new("fst2vcd").arg(&fst));
        let mine = parse_vcd(&std::fs::read_to_string(ours).unwrap());
        let theirs = parse_vcd(&back);
        assert_eq!(
            mine.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{}",
            ours.display()
        );
        for (name, c) in &mine {
            same_signal(name, c, &theirs[name]);
        }
        // The vector form keeps the exact cycle counter and the 12-bit codes.
        if let Some(cycle) = mine.get("cycle") {
            assert!(cycle.len() > 10);
            same_signal("cycle", cycle, &theirs["cycle"]);
        }
    }
    let vec = parse_vcd(&std::fs::read_to_string(&all[3]).unwrap());
    let codes: Vec<Option<u64>> = vec["DAC1_PA4"].iter().map(|c| c.1).collect();
    assert_eq!(
        &codes[1..7],
        &[
            Some(0),
            Some(160),
            Some(320),
            Some(480),
            Some(640),
            Some(4000)
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wellen_reads_both_forms() {
    let dir = scratch("wellen");
    let Some(all) = dumps(&dir) else {
        return;
    };
    for ours in &all {
        let mine = parse_vcd(&std::fs::read_to_string(ours).unwrap());
        let mut w =
            wellen::simple::read(ours).unwrap_or_else(|e| panic!("{}: {e:?}", ours.display()));
        let h = w.hierarchy();
        let vars: Vec<(String, wellen::SignalRef)> = h
            .iter_vars()
            .map(|v| {
                let mut name = v.name(h).to_string();
                if let Some(i) = v.index() {
                    if !name.ends_with(']') {
                        name.push_str(&format!("[{}]", i.msb()));
                    }
                }
                (name, v.signal_ref())
            })
            .collect();
        let refs: Vec<wellen::SignalRef> = vars.iter().map(|v| v.1).collect();
        w.load_signals(&refs);
        let mut names: Vec<&String> = vars.iter().map(|v| &v.0).collect();
        names.sort();
        assert_eq!(names, mine.keys().collect::<Vec<_>>(), "{}", ours.display());
        for (name, r) in &vars {
            let sig = w.get_signal(*r).expect("loaded");
            let theirs: Changes = sig
                .iter_changes()
                .map(|(ti, v)| {
                    let t = w.time_table()[ti as usize];
                    let bits = v.to_bit_string().expect("bits");
                    (t, u64::from_str_radix(&bits, 2).ok())
                })
                .collect();
            same_signal(name, &mine[name], &theirs);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
