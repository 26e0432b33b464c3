//! The event queue of the virtual clock: a binary heap keyed by (deadline, sequence
//! number), so events due at the same cycle fire in the order they were scheduled, on
//! every run. Each (target, token) has at most one live event; rescheduling bumps its
//! generation and the stale heap entry is skipped when it surfaces. Queued events
//! ([`Scheduler::push`]) are independent of each other and always live.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Debug;
use std::hash::Hash;

/// Who an event wakes: the core itself, or the platform around it (whose events the
/// core does not interpret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target<E> {
    /// The SysTick counter reaching zero.
    SysTick,
    /// A fault handler still running long after the fault: the firmware gave up.
    FaultWatch,
    /// An event of the platform (a peripheral, a wire, a host model).
    Platform(E),
}

/// What a target must be to be scheduled.
pub trait Key: Copy + Eq + Hash + Debug {}
impl<T: Copy + Eq + Hash + Debug> Key for T {}

#[derive(Debug, Clone, Copy)]
struct Entry<T> {
    at: u64,
    seq: u64,
    /// Pushed with [`Scheduler::push`]: live until it fires.
    queued: bool,
    target: T,
    token: u32,
}

// Entries are ordered by (time, sequence number) alone; sequence numbers are unique.
impl<T> PartialEq for Entry<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

#[derive(Debug)]
pub struct Scheduler<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    live: HashMap<(T, u32), u64>,
    seq: u64,
}

impl<T> Default for Scheduler<T> {
    fn default() -> Self {
        Scheduler {
            heap: BinaryHeap::new(),
            live: HashMap::new(),
            seq: 0,
        }
    }
}

impl<T: Key> Scheduler<T> {
    /// Schedules (target, token) at `at`, replacing its earlier event if any.
    pub fn schedule(&mut self, target: T, token: u32, at: u64) {
        self.seq += 1;
        self.live.insert((target, token), self.seq);
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            queued: false,
            target,
            token,
        }));
    }

    /// Adds an event without replacing others of the same (target, token): for queues
    /// such as bytes in flight on a wire.
    pub fn push(&mut self, target: T, token: u32, at: u64) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            queued: true,
            target,
            token,
        }));
    }

    pub fn cancel(&mut self, target: T, token: u32) {
        self.live.remove(&(target, token));
    }

    fn is_live(&self, e: &Entry<T>) -> bool {
        e.queued || self.live.get(&(e.target, e.token)) == Some(&e.seq)
    }

    /// The deadline of the next live event.
    pub fn next_deadline(&mut self) -> u64 {
        while let Some(Reverse(e)) = self.heap.peek().copied() {
            if self.is_live(&e) {
                return e.at;
            }
            self.heap.pop();
        }
        u64::MAX
    }

    /// Removes and returns the next live event due at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<(u64, T, u32)> {
        while let Some(Reverse(e)) = self.heap.peek().copied() {
            if !self.is_live(&e) {
                self.heap.pop();
                continue;
            }
            if e.at > now {
                return None;
            }
            self.heap.pop();
            if !e.queued {
                self.live.remove(&(e.target, e.token));
            }
            return Some((e.at, e.target, e.token));
        }
        None
    }

    pub fn clear(&mut self) {
        self.heap.clear();
        self.live.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type T = Target<u16>;

    #[test]
    fn ties_fire_in_scheduling_order_and_reschedule_replaces() {
        let mut s: Scheduler<T> = Scheduler::default();
        s.schedule(Target::Platform(2), 0, 100);
        s.schedule(Target::Platform(1), 0, 100);
        s.schedule(Target::SysTick, 0, 50);
        s.schedule(Target::SysTick, 0, 150); // replaces the one at 50
        assert_eq!(s.next_deadline(), 100);
        assert_eq!(s.pop_due(200), Some((100, Target::Platform(2), 0)));
        assert_eq!(s.pop_due(200), Some((100, Target::Platform(1), 0)));
        assert_eq!(s.pop_due(149), None);
        assert_eq!(s.pop_due(150), Some((150, Target::SysTick, 0)));
        s.schedule(Target::Platform(3), 1, 10);
        s.cancel(Target::Platform(3), 1);
        assert_eq!(s.next_deadline(), u64::MAX);
    }

    #[test]
    fn queued_events_all_fire_and_ignore_cancel() {
        let mut s: Scheduler<T> = Scheduler::default();
        s.push(Target::Platform(7), 0x41, 30);
        s.push(Target::Platform(7), 0x42, 20);
        s.push(Target::Platform(7), 0x41, 40);
        s.cancel(Target::Platform(7), 0x41);
        assert_eq!(s.pop_due(100), Some((20, Target::Platform(7), 0x42)));
        assert_eq!(s.pop_due(100), Some((30, Target::Platform(7), 0x41)));
        assert_eq!(s.pop_due(100), Some((40, Target::Platform(7), 0x41)));
        assert_eq!(s.pop_due(100), None);
    }
}
