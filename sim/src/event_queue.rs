//! The event queue: a binary heap keyed by integer-nanosecond time, then by insertion sequence,
//! so that events at the same time come out in the order they were scheduled (deterministic).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Simulated time in nanoseconds.
pub type Ns = u64;

#[derive(Clone)]
struct Entry<E> {
    time: Ns,
    seq: u64,
    event: E,
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
    seq: u64,
    /// Pops so far and the sum of the queue's length before each (its mean size, for the
    /// benchmark's yardstick: a heap of that size).
    pops: u64,
    len_sum: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::with_capacity(1024), seq: 0, pops: 0, len_sum: 0 }
    }
}

impl<E> EventQueue<E> {
    pub fn push(&mut self, time: Ns, event: E) {
        self.seq += 1;
        self.heap.push(Entry { time, seq: self.seq, event });
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
        self.len_sum += self.heap.len() as u64;
        self.heap.pop().map(|e| (e.time, e.event))
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
}
