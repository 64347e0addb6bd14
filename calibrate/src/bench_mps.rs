//! MPS measurements (`calibrate --mps`), each with clients in worker processes under a daemon of
//! our own: the SM-cap granularity (`sharing.mps_sm_granularity`: sweep
//! CUDA_MPS_ACTIVE_THREAD_PERCENTAGE and read the multiprocessor count), the launch latency
//! through the server (`launch.mps_extra_latency_us`), and co-residence across clients
//! (`carveout_locked_across_clients`, `cross_client_min_issue_share`).

use crate::bench_sharing::{analyse, Coresidence};
use crate::children::Worker;
use crate::error::CalibrateError;
use crate::mps_daemon::MpsDaemon;
use crate::worker::ProbeRecord;
use serde::Serialize;
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

pub fn sm_counts(d: &MpsDaemon) -> Result<Vec<(u32, u32)>, CalibrateError> {
    let mut out = Vec::new();
    for p in PERCENTAGES {
        let env = env_with(d, &[("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE".into(), p.to_string())]);
        let line = Worker::spawn(&["sm-count".into()], &env)?.finish(Duration::from_secs(60))?;
        let n = line.trim().parse().map_err(|_| CalibrateError::Process(format!("bad SM count {line:?}")))?;
        out.push((p, n));
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
pub fn launch_under_mps(d: &MpsDaemon) -> Result<crate::bench_launch::LaunchResult, CalibrateError> {
    let line = Worker::spawn(&["launch".into()], &d.client_env())?.finish(Duration::from_secs(120))?;
    serde_json::from_str(&line).map_err(|e| CalibrateError::Process(format!("bad launch record: {e}")))
}

/// One client holds every SM with long FMA kernels; another runs the probe variants beside them.
/// `hold_iters`: loop iterations of each of the holder's kernels (see `seed_iters`).
pub fn cross_client(d: &MpsDaemon, hold_iters: i64) -> Result<Vec<Coresidence>, CalibrateError> {
    let env = d.client_env();
    // The prober loads and warms up first, so no module load of it waits behind the holder.
    let mut prober = Worker::spawn(&["probe".into()], &env)?;
    prober.expect("ready", Duration::from_secs(120))?;
    let mut holder = Worker::spawn(&["hold".into(), hold_iters.to_string(), "8".into()], &env)?;
    holder.expect("ready", Duration::from_secs(120))?;
    holder.send_line("go")?;
    holder.expect("running", Duration::from_secs(60))?;
    prober.send_line("go")?;
    let probe_line = prober.finish(Duration::from_secs(300))?;
    let hold_line = holder.finish(Duration::from_secs(300))?;
    let rec: ProbeRecord =
        serde_json::from_str(&probe_line).map_err(|e| CalibrateError::Process(format!("bad probe record: {e}")))?;
    let long: Vec<(u64, u64, u32)> =
        serde_json::from_str(&hold_line).map_err(|e| CalibrateError::Process(format!("bad hold record: {e}")))?;
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
