//! The event queue: keyed by integer-nanosecond time, then by insertion sequence, so that
//! events at the same time come out in the order they were scheduled (deterministic).
//!
//! Events a source schedules in time order (a client's launches becoming visible: host time
//! plus a fixed latency) can go in a lane, a FIFO whose front alone sits in the heap. The order
//! is the same total order of (time, sequence) as one heap of everything; the heap stays the
//! size of the other events plus one per lane (a CUDA graph queues a thousand launches at once).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Simulated time in nanoseconds.
pub type Ns = u64;

/// What a heap entry stands for: an event, or the front of a lane.
#[derive(Clone)]
enum Slot<E> {
    Event(E),
    Lane(u32),
}

#[derive(Clone)]
struct Entry<E> {
    time: Ns,
    seq: u64,
    slot: Slot<E>,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

#[derive(Clone)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    /// Per lane, its events in (time, sequence) order; the front's key also stands in the heap.
    lanes: Vec<VecDeque<(Ns, u64, E)>>,
    seq: u64,
    /// Events pending, in the heap and in lanes.
    len: usize,
    /// Pops so far and the sum of the queue's length before each (its mean size, for the
    /// benchmark's yardstick: a heap of that size).
    pops: u64,
    len_sum: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::with_capacity(64), lanes: Vec::new(), seq: 0, len: 0, pops: 0, len_sum: 0 }
    }
}

impl<E> EventQueue<E> {
    pub fn push(&mut self, time: Ns, event: E) {
        self.seq += 1;
        self.len += 1;
        self.heap.push(Entry { time, seq: self.seq, slot: Slot::Event(event) });
    }

    /// Pushes into lane `lane`. Meant for events whose times do not decrease along the lane;
    /// one that would goes straight into the heap (the order is the same either way).
    pub fn push_lane(&mut self, lane: u32, time: Ns, event: E) {
        let l = lane as usize;
        if self.lanes.len() <= l {
            self.lanes.resize_with(l + 1, VecDeque::new);
        }
        self.seq += 1;
        self.len += 1;
        let seq = self.seq;
        let lq = &mut self.lanes[l];
        match lq.back() {
            Some(&(last, _, _)) if time < last => self.heap.push(Entry { time, seq, slot: Slot::Event(event) }),
            Some(_) => lq.push_back((time, seq, event)),
            None => {
                lq.push_back((time, seq, event));
                self.heap.push(Entry { time, seq, slot: Slot::Lane(lane) });
            }
        }
    }

    /// The earliest entry's time and sequence number.
    pub fn peek_key(&self) -> Option<(Ns, u64)> {
        self.heap.peek().map(|e| (e.time, e.seq))
    }

    /// The sequence number of the latest push: entries pushed later have larger ones.
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    pub fn pop(&mut self) -> Option<(Ns, E)> {
        self.pops += 1;
        self.len_sum += self.len as u64;
        let e = self.heap.pop()?;
        self.len -= 1;
        match e.slot {
            Slot::Event(ev) => Some((e.time, ev)),
            Slot::Lane(lane) => {
                let lq = &mut self.lanes[lane as usize];
                // The lane's front is the entry popped (its key stood in the heap).
                let (time, _, ev) = lq.pop_front().expect("a lane in the heap has a front");
                if let Some(&(t, seq, _)) = lq.front() {
                    self.heap.push(Entry { time: t, seq, slot: Slot::Lane(lane) });
                }
                Some((time, ev))
            }
        }
    }

    /// Mean number of pending events seen by a pop.
    pub fn mean_len(&self) -> f64 {
        if self.pops == 0 {
            0.0
        } else {
            self.len_sum as f64 / self.pops as f64
        }
    }
}

/// Converts microseconds (as users write them) to whole nanoseconds.
pub fn us_to_ns(us: f64) -> Ns {
    (us * 1000.0).round().max(0.0) as Ns
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn earliest_first_then_fifo() {
        let mut q = EventQueue::default();
        q.push(5, 'a');
        q.push(3, 'b');
        q.push(5, 'c');
        q.push(3, 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
    }

    proptest! {
        /// Lanes change nothing: the same pushes give the same pops, times and mean length as
        /// one heap, pops interleaved anywhere, times going back in a lane included.
        #[test]
        fn lanes_keep_the_order(ops in proptest::collection::vec((0u64..50, 0u32..4, 0u8..3), 1..200)) {
            let (mut laned, mut plain) = (EventQueue::default(), EventQueue::default());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let mut now = 0;
            for (i, &(dt, lane, what)) in ops.iter().enumerate() {
                match what {
                    0 => {
                        laned.push(now + dt, i);
                        plain.push(now + dt, i);
                    }
                    1 => {
                        laned.push_lane(lane, now + dt, i);
                        plain.push(now + dt, i);
                    }
                    _ => {
                        let (x, y) = (laned.pop(), plain.pop());
                        prop_assert_eq!(laned.peek_key(), plain.peek_key());
                        if let Some((t, _)) = y {
                            now = t;
                        }
                        a.push(x);
                        b.push(y);
                    }
                }
            }
            while let Some(y) = plain.pop() {
                b.push(Some(y));
                a.push(laned.pop());
            }
            prop_assert_eq!(laned.pop(), None);
            prop_assert_eq!(a, b);
            prop_assert_eq!(laned.mean_len().to_bits(), plain.mean_len().to_bits());
        }
    }
}
