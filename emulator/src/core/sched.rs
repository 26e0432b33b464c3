//! The event queue of the virtual clock: a binary heap keyed by (deadline, sequence
//! number), so events due at the same cycle fire in the order they were scheduled, on
//! every run. Each (target, token) has at most one live event; rescheduling bumps its
//! generation and the stale heap entry is skipped when it surfaces.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Who an event wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Peripheral number `n` on the bus.
    Device(u16),
    /// The SysTick counter reaching zero.
    SysTick,
    /// A byte arriving at U(S)ART `n` (1-6).
    UartRx(u8),
    /// A fault handler still running long after the fault: the firmware gave up.
    FaultWatch,
    /// The USB host model (emulator/src/usb_host.rs): frames and transactions.
    UsbHost,
}

#[derive(Debug, Default)]
pub struct Scheduler {
    heap: BinaryHeap<Reverse<(u64, u64, Target, u32)>>,
    live: HashMap<(Target, u32), u64>,
    seq: u64,
}

impl Scheduler {
    pub fn schedule(&mut self, target: Target, token: u32, at: u64) {
        self.seq += 1;
        self.live.insert((target, token), self.seq);
        self.heap.push(Reverse((at, self.seq, target, token)));
    }

    /// Adds an event without replacing others of the same (target, token): for queues
    /// such as bytes in flight on a wire.
    pub fn push(&mut self, target: Target, token: u32, at: u64) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, target, token)));
    }

    pub fn cancel(&mut self, target: Target, token: u32) {
        self.live.remove(&(target, token));
    }

    fn is_live(&self, seq: u64, target: Target, token: u32) -> bool {
        match target {
            Target::UartRx(_) => true,
            _ => self.live.get(&(target, token)) == Some(&seq),
        }
    }

    /// The deadline of the next live event.
    pub fn next_deadline(&mut self) -> u64 {
        while let Some(Reverse((at, seq, target, token))) = self.heap.peek().copied() {
            if self.is_live(seq, target, token) {
                return at;
            }
            self.heap.pop();
        }
        u64::MAX
    }

    /// Removes and returns the next live event due at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<(u64, Target, u32)> {
        while let Some(Reverse((at, seq, target, token))) = self.heap.peek().copied() {
            if !self.is_live(seq, target, token) {
                self.heap.pop();
                continue;
            }
            if at > now {
                return None;
            }
            self.heap.pop();
            if !matches!(target, Target::UartRx(_)) {
                self.live.remove(&(target, token));
            }
            return Some((at, target, token));
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

    #[test]
    fn ties_fire_in_scheduling_order_and_reschedule_replaces() {
        let mut s = Scheduler::default();
        s.schedule(Target::Device(2), 0, 100);
        s.schedule(Target::Device(1), 0, 100);
        s.schedule(Target::SysTick, 0, 50);
        s.schedule(Target::SysTick, 0, 150); // replaces the one at 50
        assert_eq!(s.next_deadline(), 100);
        assert_eq!(s.pop_due(200), Some((100, Target::Device(2), 0)));
        assert_eq!(s.pop_due(200), Some((100, Target::Device(1), 0)));
        assert_eq!(s.pop_due(149), None);
        assert_eq!(s.pop_due(150), Some((150, Target::SysTick, 0)));
        s.schedule(Target::Device(3), 1, 10);
        s.cancel(Target::Device(3), 1);
        assert_eq!(s.next_deadline(), u64::MAX);
    }
}
