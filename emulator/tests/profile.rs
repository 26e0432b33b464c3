//! `pybsim profile` and pin traces on the seed scenarios, with the firmware built by
//! scripts/build-firmware.sh (skipped with a note when .cache/firmware/firmware.elf is
//! missing).

use std::path::{Path, PathBuf};

use pybsim::profile::{profile_run, ProfileOpts, Report};
use pybsim::session::{Outcome, Session, SessionConfig};

mod common;
use common::{firmware, repo};

/// A seed scenario from the repository's tests/scenarios.
fn scenario(name: &str) -> Vec<u8> {
    let p = repo().join("tests/scenarios").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn session(fw: &Path) -> Session {
    Session::new(&SessionConfig {
        board: "pybv11".into(),
        firmware: fw.to_path_buf(),
        max_cycles: Some(2_000_000_000),
        ..Default::default()
    })
    .expect("session")
}

fn opts() -> ProfileOpts {
    ProfileOpts {
        trace_json: Some(PathBuf::from("unused")),
        trace_min_cycles: 1000,
        top: 25,
        ..Default::default()
    }
}

/// Profiles a scenario: (printed output, report, final cycle count).
fn profiled(fw: &Path, name: &str) -> (String, Report, u64) {
    let mut s = session(fw);
    let mut out = Vec::new();
    let (outcome, report) = profile_run(&mut s, &scenario(name), &opts(), &mut out).unwrap();
    assert_eq!(outcome, Outcome::Done, "{}", String::from_utf8_lossy(&out));
    (
        String::from_utf8_lossy(&out).into_owned(),
        report,
        s.machine.now(),
    )
}

/// The numbers on the output line starting with `key`.
fn numbers(out: &str, key: &str) -> Vec<i64> {
    let line = out
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no line {key:?} in {out}"));
    line.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[test]
fn s04_python_functions_ordered_and_match_ticks_cpu() {
    let Some(fw) = firmware() else { return };
    let (out, report, _) = profiled(&fw, "s04_emitters.py");
    let mut got = Vec::new();
    for (name, func) in [
        ("bytecode", "__main__.sum_bytecode"),
        ("native", "__main__.sum_native"),
        ("viper", "__main__.sum_viper"),
    ] {
        let printed = *numbers(&out, name).last().unwrap() as u64;
        let row = report
            .python_fn(func)
            .unwrap_or_else(|| panic!("{func} not in {}", report.summary(40)));
        assert_eq!(row.calls, 1, "{func}");
        // ticks_cpu around the call also counts the call itself and half of each
        // ticks_cpu call: a few thousand cycles.
        assert!(
            row.inclusive <= printed && printed - row.inclusive < 10_000,
            "{func}: profile {} vs ticks_cpu {printed}",
            row.inclusive
        );
        assert!(row.callers.iter().any(|c| c.0 == "py:__main__.<module>"));
        got.push(row.inclusive);
    }
    assert!(
        got[2] < got[1] && got[1] < got[0],
        "viper < native < bytecode: {got:?}"
    );
    // Every cycle is somewhere.
    let sum: u64 = report.folded.iter().map(|f| f.1).sum();
    assert_eq!(sum, report.total_cycles);
}

#[test]
fn s07_collections_listed_with_their_pauses() {
    let Some(fw) = firmware() else { return };
    let (out, report, _) = profiled(&fw, "s07_gc.py");
    let explicit: Vec<_> = report
        .gcs
        .iter()
        .filter(|g| g.trigger == "gc.collect()")
        .collect();
    assert_eq!(explicit.len(), 12, "{}", report.summary(10));
    for g in &explicit {
        assert_eq!(g.python, "__main__.<module>");
        assert!(g.heap_before.is_some() && g.heap_after.is_some());
    }
    let us = |g: &pybsim::profile::GcEvent| report.us(g.end) - report.us(g.start);
    // The timed collection: its pause and what it freed.
    let nums = numbers(&out, "collect us");
    let (dt, freed) = (nums[0] as f64, nums[1]);
    let g = explicit[1];
    assert!(us(g) <= dt && us(g) > 0.8 * dt, "pause {} vs {dt}", us(g));
    let reclaimed = g.heap_before.unwrap() as i64 - g.heap_after.unwrap() as i64;
    assert!((reclaimed - freed).abs() <= 256, "{reclaimed} vs {freed}");
    // Ten collections in a loop.
    let ten = numbers(&out, "10 collects us")[1] as f64;
    let sum: f64 = explicit[2..].iter().map(|g| us(g)).sum();
    assert!(sum <= ten && sum > 0.8 * ten, "sum {sum} vs {ten}");
}

#[test]
fn s05_vcd_has_1000_edges_one_loop_apart() {
    let Some(fw) = firmware() else { return };
    let mut s = session(&fw);
    let pins = s.machine.trace_pins();
    let mut out = Vec::new();
    let (outcome, report) =
        profile_run(&mut s, &scenario("s05_viper_toggle.py"), &opts(), &mut out).unwrap();
    assert_eq!(outcome, Outcome::Done);
    assert!(String::from_utf8_lossy(&out).contains("toggles 1000 X1 = 0"));
    let trace = pins.take();
    let clocks = s.machine.clock_history();
    let text = pybsim::vcd::render_with(
        &trace,
        &[],
        &clocks,
        &s.board,
        pybsim::vcd::VcdOptions {
            vectors: true,
            ..Default::default()
        },
    );
    // Parse the dump: the X1 wire's id, then its changes with the cycle counter.
    let id_of = |name: &str| {
        text.lines()
            .find(|l| l.starts_with("$var") && l.split_whitespace().nth(4) == Some(name))
            .map(|l| l.split_whitespace().nth(3).unwrap().to_string())
            .unwrap_or_else(|| panic!("no wire {name}:\n{text}"))
    };
    let x1 = id_of("X1_PA0");
    let cyc = id_of("cycle");
    let mut cycle = 0u64;
    let mut last_t = 0u64;
    let mut level: Option<char> = None;
    let mut edges = Vec::new();
    for l in text.lines() {
        if let Some(t) = l.strip_prefix('#') {
            let t: u64 = t.parse().unwrap();
            assert!(t >= last_t, "time goes back");
            last_t = t;
        } else if let Some(v) = l.strip_prefix('b') {
            let (v, id) = v.split_once(' ').unwrap();
            if id == cyc {
                cycle = u64::from_str_radix(v, 2).unwrap();
            }
        } else if l.len() > 1 && l[1..] == x1 {
            let v = l.chars().next().unwrap();
            if v == 'x' {
                continue;
            }
            if matches!(level, Some(p) if p != v) {
                edges.push(cycle);
            }
            level = Some(v);
        }
    }
    assert_eq!(edges.len(), 1000, "edges on X1");
    let mut iv: Vec<u64> = edges.windows(2).map(|w| w[1] - w[0]).collect();
    iv.sort();
    let median = iv[iv.len() / 2];
    let same = iv.iter().filter(|&&d| d == median).count();
    // All intervals are one loop iteration, but for the ones a SysTick interrupt lands in.
    assert!(same >= iv.len() * 95 / 100, "intervals {iv:?}");
    // One iteration: the whole viper function over 1000 iterations, give or take its
    // entry and exit.
    let f = report.python_fn("__main__.toggle_n").expect("toggle_n");
    let per = f.inclusive as f64 / 1000.0;
    assert!(
        (median as f64) <= per && (median as f64) > 0.9 * per,
        "interval {median} vs {per}"
    );
    // The nanosecond time stamps follow the cycle counter at 168 MHz.
    assert!(text.contains("$timescale 1 ns $end"));
    // The default dump (1-bit wires only, for sigrok) has no counter, but every edge's
    // cycle comes back from its time stamp through the clock stretches.
    let plain = pybsim::vcd::render(&trace, &clocks, &s.board);
    assert!(!plain.contains(" cycle $end"));
    let map = pybsim::vcd::ClockMap::new(&clocks);
    let x1 = plain
        .lines()
        .find(|l| l.starts_with("$var") && l.split_whitespace().nth(4) == Some("X1_PA0"))
        .map(|l| l.split_whitespace().nth(3).unwrap().to_string())
        .expect("X1 in the plain dump");
    let mut t = 0u64;
    let mut level: Option<char> = None;
    let mut plain_edges = Vec::new();
    for l in plain.lines() {
        if let Some(ts) = l.strip_prefix('#') {
            t = ts.parse().unwrap();
        } else if l.len() > 1 && l[1..] == x1 {
            let v = l.chars().next().unwrap();
            if v != 'x' && matches!(level, Some(p) if p != v) {
                plain_edges.push(map.cycle(t));
            }
            if v != 'x' {
                level = Some(v);
            }
        }
    }
    assert_eq!(plain_edges, edges);
}

#[test]
fn two_profiles_are_identical() {
    let Some(fw) = firmware() else { return };
    let (o1, r1, c1) = profiled(&fw, "s04_emitters.py");
    let (o2, r2, c2) = profiled(&fw, "s04_emitters.py");
    assert_eq!(o1, o2);
    assert_eq!(c1, c2);
    assert_eq!(r1.folded_text(), r2.folded_text());
    assert_eq!(r1.json(), r2.json());
    assert_eq!(r1.trace_json(), r2.trace_json());
    assert_eq!(r1.summary(30), r2.summary(30));
}

#[test]
fn profiling_does_not_change_cycle_counts() {
    let Some(fw) = firmware() else { return };
    for name in ["s04_emitters.py", "s07_gc.py"] {
        let mut s = session(&fw);
        let mut out = Vec::new();
        let outcome = s.run_script(&scenario(name), &mut out).unwrap();
        assert_eq!(outcome, Outcome::Done);
        let (pout, report, pnow) = profiled(&fw, name);
        assert_eq!(String::from_utf8_lossy(&out), pout, "{name}: output");
        assert_eq!(s.machine.now(), pnow, "{name}: cycles");
        assert_eq!(report.start_cycle + report.total_cycles, pnow);
    }
}

/// The Chrome trace is JSON (serde_json reads it back) with its threads named by
/// metadata events (Perfetto shows "CPU", "GC", "interrupts"); collections are on the
/// GC thread, exception handlers and what they call on the interrupts thread, and on each
/// thread the slices nest as a stack does.
#[test]
fn trace_json_names_its_threads_and_nests_per_thread() {
    let Some(fw) = firmware() else { return };
    let (_, report, _) = profiled(&fw, "s07_gc.py");
    let doc: serde_json::Value = serde_json::from_str(&report.trace_json()).expect("valid JSON");
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    let name_of = |tid: u64| {
        events
            .iter()
            .find(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["tid"] == tid)
            .map(|e| e["args"]["name"].as_str().unwrap().to_string())
    };
    assert_eq!(name_of(1).as_deref(), Some("CPU"));
    assert_eq!(name_of(2).as_deref(), Some("GC"));
    assert_eq!(name_of(3).as_deref(), Some("interrupts"));
    let slices: Vec<&serde_json::Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    let on = |tid: u64| slices.iter().filter(move |e| e["tid"] == tid);
    // Every collection of the report is a GC slice; every exception slice is on the
    // interrupts thread, and there are some (SysTick at least).
    assert_eq!(on(2).count(), report.gcs.len());
    assert!(report.gcs.len() >= 2);
    assert!(on(2).all(|e| e["cat"] == "gc"));
    assert!(slices
        .iter()
        .filter(|e| e["cat"] == "exception")
        .all(|e| e["tid"] == 3));
    assert!(on(3).any(|e| e["name"] == "[SysTick]"), "no SysTick slice");
    assert!(on(1).all(|e| e["cat"] != "exception"));
    // Nesting per thread: a slice that starts inside another ends inside it too.
    for tid in [1, 3] {
        // Times in whole nanoseconds (the trace has µs with three decimals).
        let ns = |v: &serde_json::Value| (v.as_f64().unwrap() * 1000.0).round() as u64;
        let mut open: Vec<u64> = Vec::new();
        for e in on(tid) {
            let (ts, end) = (ns(&e["ts"]), ns(&e["ts"]) + ns(&e["dur"]));
            while open.last().is_some_and(|&parent_end| parent_end <= ts) {
                open.pop();
            }
            if let Some(&parent_end) = open.last() {
                assert!(end <= parent_end, "tid {tid}: {e} crosses its parent");
            }
            open.push(end);
        }
    }
    // The report JSON is valid too and carries the same totals.
    let j: serde_json::Value = serde_json::from_str(&report.json()).expect("valid JSON");
    assert_eq!(j["total_cycles"].as_u64(), Some(report.total_cycles));
    assert_eq!(j["gc"].as_array().unwrap().len(), report.gcs.len());
}
