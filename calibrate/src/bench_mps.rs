//! MPS measurements (`calibrate --mps`), each with clients in worker processes under a daemon of
//! our own: the SM-cap granularity (`sharing.mps_sm_granularity`: sweep
//! CUDA_MPS_ACTIVE_THREAD_PERCENTAGE and read the multiprocessor count), the launch latency
//! through the server (`launch.mps_extra_latency_us`), and co-residence across clients
//! (`carveout_locked_across_clients`, `cross_client_min_issue_share`).

use crate::bench_sharing::{analyse, Coresidence};
use crate::roles::{ProbeRecord, Role, RUNNING};
use serde::Serialize;
use simgpu_harness::worker::{GO, READY};
use simgpu_harness::{HarnessError, MpsDaemon};
use std::time::Duration;

pub const PERCENTAGES: [u32; 14] = [1, 2, 3, 5, 8, 10, 15, 20, 25, 33, 50, 66, 75, 100];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GranularityFit {
    /// (percentage, SMs the client saw).
    pub samples: Vec<(u32, u32)>,
    pub granularity: u32,
    /// The fewest SMs any client got.
    pub min_sms: u32,
    /// Whether floor(p x SMs / 100 / g) x g (at least g) predicts every sample.
    pub floor_rule_matches: bool,
}

fn env_with(d: &MpsDaemon, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut e = d.client_env();
    e.extend_from_slice(extra);
    e
}

pub fn sm_counts(d: &MpsDaemon) -> Result<Vec<(u32, u32)>, HarnessError> {
    let mut out = Vec::new();
    for p in PERCENTAGES {
        let env = env_with(d, &[("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE".into(), p.to_string())]);
        out.push((p, Role::SmCount.spawn(&env)?.finish_json(Duration::from_secs(60))?));
    }
    Ok(out)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

pub fn fit_granularity(samples: &[(u32, u32)], sm_count: u32) -> Option<GranularityFit> {
    let capped: Vec<u32> = samples.iter().map(|s| s.1).filter(|&n| n > 0 && n < sm_count).collect();
    let g = capped.iter().copied().fold(0, gcd);
    if g == 0 {
        return None;
    }
    let min_sms = samples.iter().map(|s| s.1).filter(|&n| n > 0).min().unwrap_or(g).max(g);
    let matches = samples.iter().all(|&(p, n)| simgpu_sim::mps::sm_cap(p as f64, sm_count, g, min_sms) == n);
    Some(GranularityFit { samples: samples.to_vec(), granularity: g, min_sms, floor_rule_matches: matches })
}

/// Launch figures of a client of the daemon (JSON of `LaunchResult`).
pub fn launch_under_mps(d: &MpsDaemon) -> Result<crate::bench_launch::LaunchResult, HarnessError> {
    Role::Launch.spawn(&d.client_env())?.finish_json(Duration::from_secs(120))
}

/// One client holds every SM with long FMA kernels; another runs the probe variants beside them.
/// `hold_iters`: loop iterations of each of the holder's kernels (see `seed_iters`).
pub fn cross_client(d: &MpsDaemon, hold_iters: i64) -> Result<Vec<Coresidence>, HarnessError> {
    let env = d.client_env();
    // The prober loads and warms up first, so no module load of it waits behind the holder.
    let mut prober = Role::Probe.spawn(&env)?;
    prober.expect(READY, Duration::from_secs(120))?;
    let mut holder = Role::Hold { iters: hold_iters, count: 8 }.spawn(&env)?;
    holder.expect(READY, Duration::from_secs(120))?;
    holder.send_line(GO)?;
    holder.expect(RUNNING, Duration::from_secs(60))?;
    prober.send_line(GO)?;
    let rec: ProbeRecord = prober.finish_json(Duration::from_secs(300))?;
    let long: Vec<(u64, u64, u32)> = holder.finish_json(Duration::from_secs(300))?;
    // Each run was launched as the one before it ended: the gap to its first block is its wait.
    let ends: Vec<Option<u64>> =
        std::iter::once(&rec.warmup).chain(&rec.beside).map(|r| r.blocks.iter().map(|b| b.1).max()).collect();
    Ok(rec.beside.iter().zip(&rec.solo).zip(ends).map(|((b, s), e)| analyse(b, s, &long, false, e)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granularity_from_tpc_rounding() {
        let samples: Vec<(u32, u32)> =
            PERCENTAGES.iter().map(|&p| (p, simgpu_sim::mps::sm_cap(p as f64, 132, 2, 8))).collect();
        let f = fit_granularity(&samples, 132).unwrap();
        assert_eq!(f.granularity, 2);
        assert_eq!(f.min_sms, 8);
        assert!(f.floor_rule_matches);
        let samples: Vec<(u32, u32)> =
            PERCENTAGES.iter().map(|&p| (p, simgpu_sim::mps::sm_cap(p as f64, 132, 8, 8))).collect();
        assert_eq!(fit_granularity(&samples, 132).unwrap().granularity, 8);
        assert!(fit_granularity(&[(100, 132)], 132).is_none());
    }
}
