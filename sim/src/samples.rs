//! Durations of requests or launches, summarised in bounded memory: exact (nearest-rank
//! percentiles over the sorted values) up to `EXACT_MAX` samples, then an HDR histogram with 3
//! significant digits (every percentile within 0.1%), whatever the number of samples.

use crate::event_queue::Ns;
use crate::report::Percentiles;
use hdrhistogram::Histogram;

/// Samples kept exactly; 512 KiB of f64 per statistic at most.
pub(crate) const EXACT_MAX: usize = 1 << 16;

#[derive(Debug, Default, Clone)]
pub(crate) struct Samples {
    /// Microseconds, while at most `EXACT_MAX`.
    exact: Vec<f64>,
    /// Nanoseconds, once there were more.
    hist: Option<Histogram<u64>>,
    count: u64,
    sum_us: f64,
    max_ns: Ns,
}

impl Samples {
    pub fn with_capacity(n: u64) -> Samples {
        Samples { exact: Vec::with_capacity(n.min(EXACT_MAX as u64) as usize), ..Samples::default() }
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn push(&mut self, ns: Ns) {
        self.count += 1;
        match self.hist.as_mut() {
            Some(h) => {
                record(h, ns);
                self.sum_us += ns as f64 / 1e3;
                self.max_ns = self.max_ns.max(ns);
            }
            None if self.exact.len() < EXACT_MAX => self.exact.push(ns as f64 / 1e3),
            None => {
                // 3 significant digits; the histogram grows to the largest value it sees. The
                // running sum and maximum start here, from the exact values.
                let mut h = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable!("3 digits are valid"));
                for &us in &self.exact {
                    let v = (us * 1e3).round() as u64;
                    record(&mut h, v);
                    self.sum_us += us;
                    self.max_ns = self.max_ns.max(v);
                }
                record(&mut h, ns);
                self.sum_us += ns as f64 / 1e3;
                self.max_ns = self.max_ns.max(ns);
                self.hist = Some(h);
                self.exact = Vec::new();
            }
        }
    }

    /// Percentiles, or None without samples.
    pub fn summary(&mut self) -> Option<Percentiles> {
        if self.count == 0 {
            return None;
        }
        let Some(h) = &self.hist else { return Some(Percentiles::of(&mut self.exact)) };
        let at = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
        Some(Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            mean: self.sum_us / self.count as f64,
            max: self.max_ns as f64 / 1e3,
        })
    }
}

/// Records a value, growing the histogram's range as needed (it starts small).
fn record(h: &mut Histogram<u64>, ns: Ns) {
    if h.record(ns).is_err() {
        h.saturating_record(ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_within_a_tenth_of_a_percent() {
        let mut s = Samples::default();
        assert_eq!(s.summary(), None);
        for i in 1..=100u64 {
            s.push(i * 1000);
        }
        let p = s.summary().unwrap();
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        // Past the exact threshold memory stays bounded and percentiles stay close.
        let mut s = Samples::default();
        let n = 4 * EXACT_MAX as u64 + 7;
        let mut max = 0;
        for i in 0..n {
            let v = 1_000 + (i * 7_919) % 1_000_000;
            max = max.max(v);
            s.push(v);
        }
        assert!(s.exact.capacity() == 0 && s.hist.is_some());
        assert_eq!(s.len(), n);
        let p = s.summary().unwrap();
        let want_p50 = (1_000.0 + 500_000.0) / 1e3;
        assert!((p.p50 / want_p50 - 1.0).abs() < 2e-3, "{p:?}");
        assert_eq!(p.max, max as f64 / 1e3, "the maximum is kept exactly");
    }
}
