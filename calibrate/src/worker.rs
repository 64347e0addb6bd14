//! The worker side of multi-process measurements: `simgpu calibrate-worker ROLE [ARGS]`.
//! A worker opens the GPU itself (so it is a separate CUDA context, or a separate MPS client),
//! prints `ready` once its kernels are loaded and warm, waits for `go` on stdin, measures, and
//! prints one JSON line.

use crate::bench_sharing::{run_probe, ProbeRun, VARIANTS};
use crate::children::die_with_parent;
use crate::device::Gpu;
use crate::error::CalibrateError;
use crate::probe_kernels::{launch_seed, FmaBufs, ProbeKernels};
use cudarc::driver::PushKernelArg;
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::time::Duration;

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

fn say(line: &str) {
    println!("{line}");
}

fn wait_go() -> Result<(), CalibrateError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| CalibrateError::Process(e.to_string()))?;
    if line.trim() == "go" {
        Ok(())
    } else {
        Err(CalibrateError::Process(format!("expected `go`, got {line:?}")))
    }
}

fn json<T: Serialize>(v: &T) -> Result<(), CalibrateError> {
    let s = serde_json::to_string(v).map_err(|e| CalibrateError::Process(e.to_string()))?;
    say(&s);
    Ok(())
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, CalibrateError> {
    args.get(i).and_then(|a| a.parse().ok()).ok_or_else(|| CalibrateError::Process(format!("worker needs {what}")))
}

/// Runs one worker role; everything it reports goes to stdout.
pub fn run_worker(args: &[String]) -> Result<(), CalibrateError> {
    die_with_parent();
    let role = args.first().map(String::as_str).unwrap_or("");
    let gpu = Gpu::open(0)?;
    match role {
        // The SM count this client sees (MPS applies its thread percentage here).
        "sm-count" => say(&gpu.info().sm_count.to_string()),
        "launch" => {
            let k = crate::kernels::Kernels::load(&gpu)?;
            let cfg = crate::bench_launch::LaunchBenchConfig {
                host_launches: 2000,
                batch: 200,
                latency_trials: 100,
                back_to_back: 500,
            };
            json(&crate::bench_launch::run_launch(&gpu, &k, &cfg)?)?;
        }
        // Seed 000's FMA kernel on every SM, back to back: `hold ITERS COUNT`.
        "hold" => {
            let (iters, count): (i64, u32) = (arg(args, 1, "ITERS")?, arg(args, 2, "COUNT")?);
            let k = ProbeKernels::load(&gpu)?;
            let sms = gpu.info().sm_count;
            let s = gpu.stream();
            let mut warm = FmaBufs::new(s, sms)?;
            launch_seed(s, &k, &mut warm, 1000)?;
            s.synchronize()?;
            let mut bufs: Vec<FmaBufs> = (0..count).map(|_| FmaBufs::new(s, sms)).collect::<Result<_, _>>()?;
            s.synchronize()?;
            say("ready");
            wait_go()?;
            for (i, b) in bufs.iter_mut().enumerate() {
                launch_seed(s, &k, b, iters)?;
                if i == 0 {
                    std::thread::sleep(Duration::from_millis(30));
                    say("running");
                }
            }
            s.synchronize()?;
            let mut all = Vec::new();
            for b in &bufs {
                all.extend(b.records(s)?);
            }
            json(&all)?;
        }
        // Each probe variant alone, then (after `go`) beside the other client's kernel.
        "probe" => {
            let k = ProbeKernels::load(&gpu)?;
            let sms = gpu.info().sm_count;
            let s = gpu.stream().clone();
            let solo =
                VARIANTS.iter().map(|&(w, m)| run_probe(&gpu, &k, &s, w, m, sms)).collect::<Result<Vec<_>, _>>()?;
            say("ready");
            wait_go()?;
            let settled = |w: u32, m: u32| {
                std::thread::sleep(Duration::from_millis(crate::bench_sharing::SETTLE_MS));
                run_probe(&gpu, &k, &s, w, m, sms)
            };
            let warmup = settled(32, 0)?;
            let beside = VARIANTS.iter().map(|&(w, m)| settled(w, m)).collect::<Result<Vec<_>, _>>()?;
            json(&ProbeRecord { solo, warmup, beside })?;
        }
        // A spinning kernel that records the gaps in its execution: `slice MS`.
        "slice" => {
            let ms: u64 = arg(args, 1, "MS")?;
            let k = ProbeKernels::load(&gpu)?;
            let s = gpu.stream();
            const MAX_GAPS: u32 = 16384;
            let mut gaps = s.alloc_zeros::<u64>(2 * MAX_GAPS as usize + 2)?;
            let mut n = s.alloc_zeros::<u32>(1)?;
            let launch =
                |gaps: &mut cudarc::driver::CudaSlice<u64>, n: &mut cudarc::driver::CudaSlice<u32>, ns: u64| {
                    let mut b = s.launch_builder(&k.slice_spin);
                    let gap_ns: u64 = 5_000;
                    b.arg(&ns).arg(&gap_ns).arg(gaps).arg(&MAX_GAPS).arg(n);
                    // SAFETY: slice_spin(u64, u64, u64*, u32, u32*); gaps holds 2*MAX_GAPS+2 entries.
                    unsafe { b.launch(crate::timing::grid(1, 32)) }.map(|_| ())
                };
            launch(&mut gaps, &mut n, 1_000_000)?;
            s.synchronize()?;
            say("ready");
            wait_go()?;
            launch(&mut gaps, &mut n, ms * 1_000_000)?;
            s.synchronize()?;
            let g = s.clone_dtoh(&gaps)?;
            let count = s.clone_dtoh(&n)?.first().copied().unwrap_or(0).min(MAX_GAPS) as usize;
            let m = MAX_GAPS as usize;
            json(&SliceRecord {
                t0: g[2 * m],
                t1: g[2 * m + 1],
                gaps: (0..count).map(|i| (g[2 * i], g[2 * i + 1])).collect(),
            })?;
        }
        other => return Err(CalibrateError::Process(format!("unknown worker role `{other}`"))),
    }
    Ok(())
}
