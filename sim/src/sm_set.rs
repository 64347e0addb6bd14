//! A fixed-size set of SM indices: SM groups and cohorts are sets of SMs, moved by word operations.

pub const MAX_SMS: usize = 256;
const WORDS: usize = MAX_SMS / 64;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct SmSet([u64; WORDS]);

impl SmSet {
    pub const EMPTY: SmSet = SmSet([0; WORDS]);

    /// SMs 0..n.
    pub fn first(n: usize) -> SmSet {
        let mut s = SmSet::EMPTY;
        let n = n.min(MAX_SMS);
        for (w, word) in s.0.iter_mut().enumerate() {
            let lo = w * 64;
            if n >= lo + 64 {
                *word = u64::MAX;
            } else if n > lo {
                *word = (1u64 << (n - lo)) - 1;
            }
        }
        s
    }

    /// SMs first..first + count (clipped to the largest GPU supported).
    pub fn range(first: usize, count: usize) -> SmSet {
        SmSet::first(first.saturating_add(count)).minus(&SmSet::first(first))
    }

    pub fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    pub fn union(&self, o: &SmSet) -> SmSet {
        let mut r = *self;
        for (a, b) in r.0.iter_mut().zip(o.0) {
            *a |= b;
        }
        r
    }

    pub fn minus(&self, o: &SmSet) -> SmSet {
        let mut r = *self;
        for (a, b) in r.0.iter_mut().zip(o.0) {
            *a &= !b;
        }
        r
    }

    pub fn intersects(&self, o: &SmSet) -> bool {
        self.0.iter().zip(o.0).any(|(a, b)| a & b != 0)
    }

    /// Splits off the `n` lowest SMs at or after `start` (wrapping round), so that consecutive
    /// kernels spread over the GPU as the hardware's round-robin dispatch does.
    pub fn take(&self, n: u32, start: usize) -> SmSet {
        let mut out = SmSet::EMPTY;
        let mut left = n;
        for pass in 0..2 {
            for (w, &word) in self.0.iter().enumerate() {
                if left == 0 {
                    return out;
                }
                let mut bits = word & !out.0[w];
                let base = w * 64;
                // First pass: only SMs at or after `start`; second pass: the rest.
                if pass == 0 {
                    if base + 64 <= start {
                        continue;
                    }
                    if base < start {
                        bits &= u64::MAX << (start - base);
                    }
                }
                // Whole words at once; only the last, partial word is taken bit by bit.
                let count = bits.count_ones();
                if count <= left {
                    out.0[w] |= bits;
                    left -= count;
                    continue;
                }
                while left > 0 {
                    let low = bits & bits.wrapping_neg();
                    out.0[w] |= low;
                    bits ^= low;
                    left -= 1;
                }
            }
        }
        out
    }

    /// The lowest SM index, if any.
    pub fn lowest(&self) -> Option<usize> {
        self.0.iter().enumerate().find(|(_, &w)| w != 0).map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(w * 64 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_wraps_from_start() {
        let all = SmSet::first(132);
        assert_eq!(all.len(), 132);
        let t = all.take(10, 128);
        assert_eq!(t.iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5, 128, 129, 130, 131]);
        assert_eq!(all.minus(&t).len(), 122);
        assert_eq!(all.take(200, 5).len(), 132);
        assert_eq!(SmSet::first(0).lowest(), None);
        assert_eq!(t.lowest(), Some(0));
    }

    #[test]
    fn ranges_and_takes_inside_them() {
        let r = SmSet::range(60, 10);
        assert_eq!(r.iter().collect::<Vec<_>>(), (60..70).collect::<Vec<_>>());
        // Taking from a position inside the range wraps round to its start, never outside it.
        assert_eq!(r.take(4, 68).iter().collect::<Vec<_>>(), vec![60, 61, 68, 69]);
        assert_eq!(SmSet::range(250, 100).len(), 6);
    }

    proptest::proptest! {
        /// Word-at-a-time `take` picks the same SMs as taking them one by one: the lowest at or
        /// after `start`, then the lowest from the beginning.
        #[test]
        fn take_matches_one_by_one(words in proptest::array::uniform4(proptest::prelude::any::<u64>()), n in 0u32..300, start in 0usize..300) {
            let set = SmSet(words);
            let mut want = SmSet::EMPTY;
            let members: Vec<usize> = set.iter().collect();
            let order = members.iter().filter(|&&i| i >= start).chain(members.iter().filter(|&&i| i < start));
            for &i in order.take(n as usize) {
                want.0[i / 64] |= 1 << (i % 64);
            }
            proptest::prop_assert_eq!(set.take(n, start), want);
        }
    }
}
