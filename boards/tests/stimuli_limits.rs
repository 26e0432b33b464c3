//! Stimuli files that parse but would make a run crawl or lose data silently.

use pybsim_boards::{Board, Problem, Stimuli};

/// `pybsim_boards::MAX_EVENTS`.
const MAX_EVENTS: usize = 20_000;

fn pyb() -> Board {
    Board::builtin("pybv11").unwrap()
}

#[test]
fn the_limit_is_the_crates() {
    assert_eq!(pybsim_boards::MAX_EVENTS, MAX_EVENTS);
}

#[test]
fn too_many_events_are_refused() {
    // The session applies events one by one from the front of a list: 100k events took
    // 14.5 s, 200k over a minute (issue 17). A file has at most MAX_EVENTS.
    let ok: String = (0..MAX_EVENTS)
        .map(|i| format!("PressSwitch(at: \"{i}us\"),\n"))
        .collect();
    let text = format!("Stimuli(events: [\n{ok}])\n");
    assert_eq!(
        Stimuli::parse(&text, "s.ron", &pyb()).unwrap().events.len(),
        MAX_EVENTS
    );
    let text = format!("Stimuli(events: [\n{ok}ReleaseSwitch(at: \"1s\"),\n])\n");
    let err = Stimuli::parse(&text, "s.ron", &pyb()).unwrap_err();
    let msg = err.to_string();
    // Pointing at the first event too many.
    assert!(
        msg.starts_with(&format!("s.ron:{}:1: ", MAX_EVENTS + 2)),
        "{msg}"
    );
    assert!(msg.contains(&MAX_EVENTS.to_string()), "{msg}");
    assert!(matches!(err.problem(), Some(Problem::Invalid(_))));
}
