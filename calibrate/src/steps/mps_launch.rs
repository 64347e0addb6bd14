//! `mps_launch` (with `--mps`): what an MPS client's launch call costs on the host against a
//! plain context's, kept apart from the host's own drift.
//!
//! A launch-bound stream is paced by the host's launch calls, and the host itself moves (by up to
//! 50% within one lease, by 25% between two machines of one kind). So the plain and MPS
//! measurements alternate in fresh processes (plain, MPS, MPS, plain, ...: a drift cancels in
//! each pair), and every round also times a fixed CPU loop: the pair's difference is trusted only
//! as far as the host held still. The fit is the median of the pairs' differences.

use crate::bench_launch::LaunchPathRound;
use crate::fit::summarize;
use crate::roles::Role;
use crate::step::{round, Field, Session, Step, Writes};
use serde::Serialize;
use simgpu_harness::{HarnessError, MpsDaemon};
use std::time::Duration;

const EXTRA: Field<f64> =
    Field { name: "launch.mps_host_launch_extra_us", get: |p| &mut p.launch.mps_host_launch_extra_us };

/// Plain/MPS pairs, and rounds per process.
const PAIRS: usize = 8;
const ROUNDS: u32 = 3;
/// A pair whose two processes timed the CPU loop this far apart saw the host move: left out.
const HOST_MOVED: f64 = 0.10;

pub const STEP: Step = Step {
    name: "mps_launch",
    measures: "a launch-bound stream of empty kernels and a fixed CPU loop, in fresh processes alternately plain and as MPS clients",
    fits: "median over plain/MPS pairs of the difference of their launch-call medians; the CPU loop's spread says how far the host moved",
    writes: &[Writes::F64(EXTRA)],
    needs_mps: true,
    always: false,
    run,
};

/// One process's medians.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProcessMedians {
    pub mps: bool,
    pub cpu_ref_us: f64,
    pub host_launch_us: f64,
    pub stream_us_per_kernel: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaunchPathFit {
    /// In the order they ran.
    pub processes: Vec<ProcessMedians>,
    /// MPS minus plain launch call, per pair, us.
    pub pair_differences_us: Vec<f64>,
    /// Whether each pair counts: its two CPU loops within `HOST_MOVED` of each other (all count
    /// where none would).
    pub pair_counts: Vec<bool>,
    pub extra_us: f64,
    /// (max - min) / median of the CPU loop over every process: how much the host moved.
    pub cpu_spread: f64,
    /// The same for the plain launch call.
    pub plain_launch_spread: f64,
}

fn median(v: &[f64]) -> f64 {
    summarize(v).map_or(f64::NAN, |s| s.median)
}

fn spread(v: &[f64]) -> f64 {
    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    (hi - lo) / median(v)
}

/// The fit from each process's rounds (`runs[i]`: whether under MPS, its rounds), pairs in order.
pub fn fit(runs: &[(bool, Vec<LaunchPathRound>)]) -> Option<LaunchPathFit> {
    let processes: Vec<ProcessMedians> = runs
        .iter()
        .map(|(mps, r)| ProcessMedians {
            mps: *mps,
            cpu_ref_us: median(&r.iter().map(|x| x.cpu_ref_us).collect::<Vec<_>>()),
            host_launch_us: median(&r.iter().map(|x| x.host_launch_us).collect::<Vec<_>>()),
            stream_us_per_kernel: median(&r.iter().map(|x| x.stream_us_per_kernel).collect::<Vec<_>>()),
        })
        .collect();
    let pairs: Vec<(f64, bool)> = processes
        .chunks(2)
        .filter_map(|p| match p {
            [a, b] if a.mps != b.mps => {
                let (plain, mps) = if a.mps { (b, a) } else { (a, b) };
                let still = (a.cpu_ref_us - b.cpu_ref_us).abs() <= HOST_MOVED * a.cpu_ref_us.min(b.cpu_ref_us);
                Some((mps.host_launch_us - plain.host_launch_us, still))
            }
            _ => None,
        })
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let any_still = pairs.iter().any(|p| p.1);
    let pair_counts: Vec<bool> = pairs.iter().map(|p| p.1 || !any_still).collect();
    let pair_differences_us: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let counted: Vec<f64> = pairs.iter().zip(&pair_counts).filter(|(_, &c)| c).map(|(p, _)| p.0).collect();
    let plain: Vec<f64> = processes.iter().filter(|p| !p.mps).map(|p| p.host_launch_us).collect();
    Some(LaunchPathFit {
        extra_us: median(&counted),
        cpu_spread: spread(&processes.iter().map(|p| p.cpu_ref_us).collect::<Vec<_>>()),
        plain_launch_spread: spread(&plain),
        processes,
        pair_differences_us,
        pair_counts,
    })
}

fn run(s: &mut Session) -> Result<String, HarnessError> {
    let mut daemon = MpsDaemon::start()?;
    let mps_env = daemon.client_env();
    let mut runs = Vec::new();
    for pair in 0..PAIRS {
        // Plain first in even pairs, MPS first in odd ones.
        for mps in [pair % 2 == 1, pair % 2 == 0] {
            let env = if mps { mps_env.clone() } else { Vec::new() };
            let rounds: Vec<LaunchPathRound> =
                Role::LaunchPath { rounds: ROUNDS }.spawn(&env)?.finish_json(Duration::from_secs(120))?;
            runs.push((mps, rounds));
        }
    }
    daemon.stop();
    let f = fit(&runs);
    s.record("mps_launch", serde_json::json!({ "runs": runs, "fit": f }));
    let f = f.ok_or_else(|| HarnessError::Measurement("no plain/MPS pair of launch-path runs".into()))?;
    s.set(&EXTRA, round(f.extra_us, 2));
    let plain = median(&f.processes.iter().filter(|p| !p.mps).map(|p| p.host_launch_us).collect::<Vec<_>>());
    Ok(format!(
        "launch call {:.2} us plain, {:+.2} us as an MPS client (pairs {:?}, {} of {} with a still host); the host's CPU loop moved {:.0}%, the plain call {:.0}%",
        plain,
        f.extra_us,
        f.pair_differences_us.iter().map(|d| round(*d, 2)).collect::<Vec<_>>(),
        f.pair_counts.iter().filter(|&&c| c).count(),
        f.pair_counts.len(),
        f.cpu_spread * 100.0,
        f.plain_launch_spread * 100.0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cpu: f64, launch: f64) -> Vec<LaunchPathRound> {
        vec![LaunchPathRound { cpu_ref_us: cpu, host_launch_us: launch, stream_us_per_kernel: launch }; 3]
    }

    #[test]
    fn pairs_cancel_a_drifting_host() {
        // The host slows by 1 us per process; MPS costs 0.5 us more per call.
        let runs: Vec<(bool, Vec<LaunchPathRound>)> = (0..8)
            .map(|i| {
                let mps = [false, true, true, false, false, true, true, false][i];
                (mps, r(1e4, 3.0 + i as f64 + if mps { 0.5 } else { 0.0 }))
            })
            .collect();
        let f = fit(&runs).unwrap();
        assert_eq!(f.pair_differences_us, vec![1.5, -0.5, 1.5, -0.5]);
        assert_eq!(f.extra_us, 0.5);
        assert_eq!(f.cpu_spread, 0.0);
        assert!(fit(&runs[..1]).is_none());
        // A pair whose host ran 40% slower in one process is left out.
        let mut moved = runs.clone();
        moved[0].1 = r(1.4e4, 9.0);
        let f = fit(&moved).unwrap();
        assert_eq!(f.pair_counts, vec![false, true, true, true]);
        assert_eq!(f.extra_us, -0.5);
    }
}
