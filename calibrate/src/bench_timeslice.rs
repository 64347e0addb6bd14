//! Time-slice length and context-switch cost (`sharing.timeslice_us`, `sharing.context_switch_us`),
//! from two processes (two contexts, no MPS) that each spin a kernel reading `%globaltimer` and
//! record the gaps when their context was switched out. While both run, a process's run segments
//! are its slices and each of its gaps is the other's slice plus two switches.

use crate::bench_sharing::median;
use crate::roles::{Role, SliceRecord};
use serde::Serialize;
use simgpu_harness::worker::{GO, READY};
use simgpu_harness::HarnessError;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimesliceFit {
    pub slice_us: f64,
    pub switch_us: f64,
    pub gaps_seen: usize,
    pub runs_seen: usize,
}

/// Runs two `slice` workers for `ms` milliseconds each, started together.
pub fn measure(ms: u64, env: &[(String, String)]) -> Result<Vec<SliceRecord>, HarnessError> {
    let role = Role::Slice { ms };
    let mut a = role.spawn(env)?;
    let mut b = role.spawn(env)?;
    a.expect(READY, Duration::from_secs(60))?;
    b.expect(READY, Duration::from_secs(60))?;
    a.send_line(GO)?;
    b.send_line(GO)?;
    let timeout = Duration::from_millis(ms * 4 + 30_000);
    Ok(vec![a.finish_json(timeout)?, b.finish_json(timeout)?])
}

/// Slice = median run segment, switch = (median gap - median slice) / 2, over the window in
/// which both kernels ran.
pub fn fit(records: &[SliceRecord]) -> Option<TimesliceFit> {
    let from = records.iter().map(|r| r.t0).max()?;
    let to = records.iter().map(|r| r.t1).min()?;
    let (mut runs, mut gaps) = (Vec::new(), Vec::new());
    for r in records {
        let inside: Vec<(u64, u64)> = r.gaps.iter().copied().filter(|&(a, b)| a >= from && b <= to).collect();
        for w in inside.windows(2) {
            runs.push((w[1].0 - w[0].1) as f64 / 1e3);
        }
        gaps.extend(inside.iter().map(|&(a, b)| (b - a) as f64 / 1e3));
    }
    if runs.len() < 3 || gaps.len() < 3 {
        return None;
    }
    let (n_runs, n_gaps) = (runs.len(), gaps.len());
    let slice = median(runs);
    let gap = median(gaps);
    Some(TimesliceFit {
        slice_us: slice,
        switch_us: ((gap - slice) / 2.0).max(0.0),
        gaps_seen: n_gaps,
        runs_seen: n_runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two contexts alternating: 2000 us slices, 25 us switches.
    fn alternating() -> Vec<SliceRecord> {
        let (slice, sw) = (2_000_000u64, 25_000u64);
        let period = 2 * (slice + sw);
        let mut a = SliceRecord { t0: 0, t1: 40 * period, gaps: vec![] };
        let mut b = SliceRecord { t0: slice + sw, t1: 40 * period, gaps: vec![] };
        for i in 0..40 {
            let p = i * period;
            a.gaps.push((p + slice, p + period));
            if i > 0 {
                b.gaps.push((p - sw, p + slice + sw));
            }
        }
        vec![a, b]
    }

    #[test]
    fn recovers_slice_and_switch() {
        let f = fit(&alternating()).unwrap();
        assert!((f.slice_us - 2000.0).abs() < 1.0, "{f:?}");
        assert!((f.switch_us - 25.0).abs() < 1.0, "{f:?}");
    }

    #[test]
    fn no_gaps_no_fit() {
        assert!(fit(&[SliceRecord { t0: 0, t1: 10, gaps: vec![] }]).is_none());
    }
}
