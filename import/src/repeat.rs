//! Finding repeated layers: the longest stretch of a kernel sequence made of one block of
//! kernels repeated back to back (a transformer layer, once per layer).

/// Longest sequence searched (a step of a large model launches a few thousand kernels).
pub const MAX_KERNELS: usize = 50_000;
/// Longest block searched for (a layer of a few hundred kernels fits many times over).
pub const MAX_PERIOD: usize = 4_096;

/// A block of `period` kernels from `start`, repeated `times` times in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub start: usize,
    pub period: usize,
    pub times: usize,
}

/// The repeat covering the most kernels (at least two repetitions of at least two kernels);
/// ties go to the shorter period, then the earlier start. O(n x MAX_PERIOD) comparisons.
pub fn find<T: PartialEq>(seq: &[T]) -> Option<Repeat> {
    let n = seq.len();
    let mut best: Option<Repeat> = None;
    for period in 2..=(n / 2).min(MAX_PERIOD) {
        // Runs where seq[i] == seq[i + period]: a run of length L from s holds 1 + L / period
        // repetitions of the block at s.
        let mut run_start = 0;
        let mut run = 0;
        for i in 0..=n - period {
            let same = i + period < n && seq[i] == seq[i + period];
            if same {
                if run == 0 {
                    run_start = i;
                }
                run += 1;
                continue;
            }
            if run >= period {
                let times = 1 + run / period;
                let cover = times * period;
                if best.is_none_or(|b| cover > b.times * b.period) {
                    best = Some(Repeat { start: run_start, period, times });
                }
            }
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_layers() {
        // embed, 5 layers of [a b c], head
        let mut s = vec![9];
        for _ in 0..5 {
            s.extend([1, 2, 3]);
        }
        s.push(8);
        assert_eq!(find(&s), Some(Repeat { start: 1, period: 3, times: 5 }));
        assert_eq!(find(&[1, 2, 3, 4]), None);
        assert_eq!(find::<u8>(&[]), None);
        // A layer whose own first kernels repeat inside it still comes out whole.
        let mut s = Vec::new();
        for _ in 0..4 {
            s.extend([1, 1, 2, 3, 4]);
        }
        assert_eq!(find(&s), Some(Repeat { start: 0, period: 5, times: 4 }));
    }
}
