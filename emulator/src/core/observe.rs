//! Watching the core run: observers that frontends attach (profilers, tracers, event
//! logs). The core calls them; what they record is theirs, not the machine's. An
//! observer must not change what the machine computes, virtual time included.

use std::cell::RefCell;
use std::rc::Rc;

use super::cpu::CpuRef;

/// Watches execution. Called from the hot path: keep every method cheap.
pub trait Observer {
    /// Whether [`Observer::block`] wants to be called (every block is costly).
    fn wants_blocks(&self) -> bool {
        false
    }
    /// A block at `addr` starts at virtual time `now` and costs `cycles`.
    fn block(&mut self, _cpu: &CpuRef, _addr: u32, _cycles: u64, _now: u64) {}
    /// Exception `exc` was entered (`entered` true) or returned from, at `now`.
    fn exception(&mut self, _cpu: &CpuRef, _exc: u32, _entered: bool, _now: u64) {}
    /// A line of the machine's event log: exceptions taken and returned, events fired,
    /// clock changes, resets, sleeps.
    fn event(&mut self, _now: u64, _what: &str) {}
}

/// Names an attached observer, to detach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObserverId(u64);

/// The observers attached to a core, called in the order they were attached.
#[derive(Default)]
pub struct Observers {
    list: Vec<(ObserverId, Box<dyn Observer>)>,
    next_id: u64,
    /// How many of them want blocks (the hot path checks this one number).
    block_watchers: usize,
}

impl Observers {
    pub fn attach(&mut self, o: Box<dyn Observer>) -> ObserverId {
        if o.wants_blocks() {
            self.block_watchers += 1;
        }
        self.next_id += 1;
        let id = ObserverId(self.next_id);
        self.list.push((id, o));
        id
    }

    /// Detaches the observer `id` (nothing if it is not attached).
    pub fn detach(&mut self, id: ObserverId) {
        if let Some(i) = self.list.iter().position(|(k, _)| *k == id) {
            let (_, o) = self.list.remove(i);
            if o.wants_blocks() {
                self.block_watchers -= 1;
            }
        }
    }

    /// Detaches every observer.
    pub fn clear(&mut self) {
        self.list.clear();
        self.block_watchers = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    #[inline]
    pub fn watch_blocks(&self) -> bool {
        self.block_watchers != 0
    }

    pub fn block(&mut self, cpu: &CpuRef, addr: u32, cycles: u64, now: u64) {
        for (_, o) in self.list.iter_mut() {
            o.block(cpu, addr, cycles, now);
        }
    }

    pub fn exception(&mut self, cpu: &CpuRef, exc: u32, entered: bool, now: u64) {
        for (_, o) in self.list.iter_mut() {
            o.exception(cpu, exc, entered, now);
        }
    }

    /// Logs an event; `what` is formatted only when someone listens.
    pub fn event(&mut self, now: u64, what: impl FnOnce() -> String) {
        if self.list.is_empty() {
            return;
        }
        let s = what();
        for (_, o) in self.list.iter_mut() {
            o.event(now, &s);
        }
    }
}

/// An observer that keeps the event log: `(virtual time, what)` lines.
#[derive(Clone, Default)]
pub struct EventLog(pub Rc<RefCell<Vec<(u64, String)>>>);

impl EventLog {
    /// The lines so far.
    pub fn lines(&self) -> Vec<(u64, String)> {
        self.0.borrow().clone()
    }
}

impl Observer for EventLog {
    fn event(&mut self, now: u64, what: &str) {
        self.0.borrow_mut().push((now, what.to_string()));
    }
}
