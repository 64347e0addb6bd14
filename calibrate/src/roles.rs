//! The worker processes of multi-process steps: `simgpu calibrate-worker ROLE [ARGS]`, one
//! [`Role`] each. The process plumbing (spawning, the `ready`/`go` handshake, dying with the
//! parent, the JSON reply) is [`simgpu_harness::children`] and [`simgpu_harness::worker`]; this
//! file says what each role measures.

use crate::bench_sharing::{run_probe, ProbeRun, VARIANTS};
use crate::probe_kernels::{launch_seed, FmaBufs, ProbeKernels};
use serde::{Deserialize, Serialize};
use simgpu_harness::cudarc::driver::PushKernelArg;
use simgpu_harness::worker::{die_with_parent, reply, say, wait_for, GO, READY};
use simgpu_harness::{Gpu, HarnessError, Worker};
use std::time::Duration;

/// The hidden subcommand of the `simgpu` binary that runs a worker.
pub const SUBCOMMAND: &str = "calibrate-worker";

/// Said by a `hold` worker once its first long kernel runs.
pub const RUNNING: &str = "running";

/// What a worker process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Prints the SM count this client sees (MPS applies its thread percentage here).
    SmCount,
    /// The launch benchmark (as a client of an MPS daemon); replies a `LaunchResult`.
    Launch,
    /// Seed 000's FMA kernel on every SM, `count` launches of `iters` loop iterations back to
    /// back; replies every block's (start ns, end ns, SM).
    Hold { iters: i64, count: u32 },
    /// Each probe variant alone, then (after `go`) beside the other client's kernel; replies a
    /// [`ProbeRecord`].
    Probe,
    /// A kernel that spins for `ms` milliseconds and records the gaps in its execution; replies a
    /// [`SliceRecord`].
    Slice { ms: u64 },
    /// `rounds` rounds of the launch path (host speed, launch call, launch-bound stream); replies
    /// a list of `LaunchPathRound`.
    LaunchPath { rounds: u32 },
}

impl Role {
    /// The role's words on the worker's command line.
    pub fn args(&self) -> Vec<String> {
        match *self {
            Role::SmCount => vec!["sm-count".into()],
            Role::Launch => vec!["launch".into()],
            Role::Hold { iters, count } => vec!["hold".into(), iters.to_string(), count.to_string()],
            Role::Probe => vec!["probe".into()],
            Role::Slice { ms } => vec!["slice".into(), ms.to_string()],
            Role::LaunchPath { rounds } => vec!["launch-path".into(), rounds.to_string()],
        }
    }

    /// Reads what [`Role::args`] wrote.
    pub fn parse(args: &[String]) -> Result<Role, HarnessError> {
        fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, HarnessError> {
            args.get(i)
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| HarnessError::Process(format!("worker role `{}` needs {what}", args[0])))
        }
        let role = match args.first().map(String::as_str) {
            Some("sm-count") => Role::SmCount,
            Some("launch") => Role::Launch,
            Some("hold") => Role::Hold { iters: arg(args, 1, "ITERS")?, count: arg(args, 2, "COUNT")? },
            Some("probe") => Role::Probe,
            Some("slice") => Role::Slice { ms: arg(args, 1, "MS")? },
            Some("launch-path") => Role::LaunchPath { rounds: arg(args, 1, "ROUNDS")? },
            other => return Err(HarnessError::Process(format!("unknown worker role {other:?}"))),
        };
        if args.len() > role.args().len() {
            return Err(HarnessError::Process(format!(
                "worker role `{}`: unexpected {:?}",
                args[0],
                &args[role.args().len()..]
            )));
        }
        Ok(role)
    }

    /// Starts a worker process in this role with extra environment variables.
    pub fn spawn(&self, env: &[(String, String)]) -> Result<Worker, HarnessError> {
        Worker::spawn(SUBCOMMAND, &self.args(), env)
    }
}

/// What a `slice` worker saw: its kernel's start and end, and the gaps in its execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceRecord {
    pub t0: u64,
    pub t1: u64,
    pub gaps: Vec<(u64, u64)>,
}

/// What a `probe` worker saw: each variant alone, then beside the other client's long kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub solo: Vec<ProbeRun>,
    /// A first run beside the other client (not analysed): its end dates the next launch.
    pub warmup: ProbeRun,
    pub beside: Vec<ProbeRun>,
}

/// The worker process's body (`simgpu calibrate-worker ARGS`); everything it reports goes to
/// stdout.
pub fn run_worker(args: &[String]) -> Result<(), HarnessError> {
    die_with_parent();
    let role = Role::parse(args)?;
    let gpu = Gpu::open(0)?;
    match role {
        Role::SmCount => reply(&gpu.info().sm_count)?,
        Role::Launch => {
            let k = crate::kernels::Kernels::load(&gpu)?;
            let cfg = crate::bench_launch::LaunchBenchConfig {
                host_launches: 2000,
                batch: 200,
                latency_trials: 100,
                back_to_back: 500,
            };
            reply(&crate::bench_launch::run_launch(&gpu, &k, &cfg)?)?;
        }
        Role::LaunchPath { rounds } => {
            let k = crate::kernels::Kernels::load(&gpu)?;
            reply(&crate::bench_launch::launch_path(&gpu, &k, rounds)?)?;
        }
        Role::Hold { iters, count } => {
            let k = ProbeKernels::load(&gpu)?;
            let sms = gpu.info().sm_count;
            let s = gpu.stream();
            let mut warm = FmaBufs::new(s, sms)?;
            launch_seed(s, &k, &mut warm, 1000)?;
            s.synchronize()?;
            let mut bufs: Vec<FmaBufs> = (0..count).map(|_| FmaBufs::new(s, sms)).collect::<Result<_, _>>()?;
            s.synchronize()?;
            say(READY);
            wait_for(GO)?;
            for (i, b) in bufs.iter_mut().enumerate() {
                launch_seed(s, &k, b, iters)?;
                if i == 0 {
                    std::thread::sleep(Duration::from_millis(30));
                    say(RUNNING);
                }
            }
            s.synchronize()?;
            let mut all = Vec::new();
            for b in &bufs {
                all.extend(b.records(s)?);
            }
            reply(&all)?;
        }
        Role::Probe => {
            let k = ProbeKernels::load(&gpu)?;
            let sms = gpu.info().sm_count;
            let s = gpu.stream().clone();
            let solo =
                VARIANTS.iter().map(|&(w, m)| run_probe(&gpu, &k, &s, w, m, sms)).collect::<Result<Vec<_>, _>>()?;
            say(READY);
            wait_for(GO)?;
            let settled = |w: u32, m: u32| {
                std::thread::sleep(Duration::from_millis(crate::bench_sharing::SETTLE_MS));
                run_probe(&gpu, &k, &s, w, m, sms)
            };
            let warmup = settled(32, 0)?;
            let beside = VARIANTS.iter().map(|&(w, m)| settled(w, m)).collect::<Result<Vec<_>, _>>()?;
            reply(&ProbeRecord { solo, warmup, beside })?;
        }
        Role::Slice { ms } => {
            let k = ProbeKernels::load(&gpu)?;
            let s = gpu.stream();
            const MAX_GAPS: u32 = 16384;
            let mut gaps = s.alloc_zeros::<u64>(2 * MAX_GAPS as usize + 2)?;
            let mut n = s.alloc_zeros::<u32>(1)?;
            let launch = |gaps: &mut simgpu_harness::cudarc::driver::CudaSlice<u64>,
                          n: &mut simgpu_harness::cudarc::driver::CudaSlice<u32>,
                          ns: u64| {
                let mut b = s.launch_builder(&k.slice_spin);
                let gap_ns: u64 = 5_000;
                b.arg(&ns).arg(&gap_ns).arg(gaps).arg(&MAX_GAPS).arg(n);
                // SAFETY: slice_spin(u64, u64, u64*, u32, u32*); gaps holds 2*MAX_GAPS+2 entries.
                unsafe { b.launch(simgpu_harness::timing::grid(1, 32)) }.map(|_| ())
            };
            launch(&mut gaps, &mut n, 1_000_000)?;
            s.synchronize()?;
            say(READY);
            wait_for(GO)?;
            launch(&mut gaps, &mut n, ms * 1_000_000)?;
            s.synchronize()?;
            let g = s.clone_dtoh(&gaps)?;
            let count = s.clone_dtoh(&n)?.first().copied().unwrap_or(0).min(MAX_GAPS) as usize;
            let m = MAX_GAPS as usize;
            reply(&SliceRecord {
                t0: g[2 * m],
                t1: g[2 * m + 1],
                gaps: (0..count).map(|i| (g[2 * i], g[2 * i + 1])).collect(),
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_back_what_they_write() {
        for role in [
            Role::SmCount,
            Role::Launch,
            Role::Hold { iters: 123_456_789, count: 8 },
            Role::Probe,
            Role::Slice { ms: 400 },
            Role::LaunchPath { rounds: 3 },
        ] {
            assert_eq!(Role::parse(&role.args()).unwrap(), role);
        }
    }

    #[test]
    fn bad_roles_are_errors() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for bad in [&[][..], &["nope"], &["hold", "1"], &["slice", "soon"], &["probe", "extra"], &["launch-path"]] {
            assert!(Role::parse(&words(bad)).is_err(), "{bad:?}");
        }
    }
}
