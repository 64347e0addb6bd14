//! Launch costs (`launch.host_launch_us`, `launch.launch_latency_us`, and the shortest kernel),
//! with the empty kernel.
//!
//! Three different things: the CPU time of a launch call (what limits a host thread issuing
//! small kernels, e.g. decode at concurrency 1), the time from a launch to its completion on an
//! idle GPU, and how short a kernel can be when the GPU never waits for the host.

use crate::fit::{summarize, Summary};
use crate::kernels::Kernels;
use crate::kernels::{launch_empty, launch_spin};
use serde::Serialize;
use simgpu_harness::cudarc::driver::{sys, PushKernelArg};
use simgpu_harness::timing::time_on_stream;
use simgpu_harness::Gpu;
use simgpu_harness::HarnessError;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaunchBenchConfig {
    /// Launch calls timed on the host, in batches of `batch` with a synchronize between
    /// batches so that the launch queue never fills (a full queue makes the call wait for the GPU).
    pub host_launches: u32,
    pub batch: u32,
    /// Single launches on an idle GPU.
    pub latency_trials: u32,
    /// Empty kernels queued behind a spinning kernel and timed back to back (at most 512, inside
    /// the launch queue; a quarter as many are timed too, and the difference counts).
    pub back_to_back: u32,
}

impl Default for LaunchBenchConfig {
    fn default() -> Self {
        LaunchBenchConfig { host_launches: 10_000, batch: 200, latency_trials: 200, back_to_back: 512 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LaunchResult {
    /// CPU time of one launch call (cudarc's builder + cuLaunchKernel), per batch, us.
    pub host_launch_us: Summary,
    /// GPU time between events recorded just before and just after one empty kernel on an idle
    /// GPU, us. Includes the part of the launch call that the GPU waits for.
    pub event_latency_us: Summary,
    /// Host wall time from the launch call until stream synchronize returns, idle GPU, us.
    pub host_round_trip_us: Summary,
    /// GPU time per empty kernel when they run back to back without host gaps, us: the
    /// shortest a kernel can be.
    pub back_to_back_kernel_us: f64,
    /// GPU time per extra block of a wide empty kernel (one 32-thread block after another from
    /// the block scheduler), ns: the block dispatch rate's inverse.
    #[serde(default)]
    pub block_dispatch_ns: f64,
}

pub fn run_launch(gpu: &Gpu, k: &Kernels, cfg: &LaunchBenchConfig) -> Result<LaunchResult, HarnessError> {
    let stream = gpu.stream();
    // Warm-up: the first launches of a module pay one-time costs.
    for _ in 0..100 {
        launch_empty(gpu, &k.empty, 1, 1)?;
    }
    stream.synchronize()?;

    let batch = cfg.batch.max(1);
    let mut host_us = Vec::new();
    for _ in 0..cfg.host_launches.div_ceil(batch).max(1) {
        let t0 = Instant::now();
        for _ in 0..batch {
            launch_empty(gpu, &k.empty, 1, 1)?;
        }
        host_us.push(t0.elapsed().as_secs_f64() * 1e6 / batch as f64);
        stream.synchronize()?;
    }

    let mut event_us = Vec::new();
    let mut round_trip_us = Vec::new();
    for _ in 0..cfg.latency_trials.max(1) {
        stream.synchronize()?;
        event_us.push(time_on_stream(gpu, || launch_empty(gpu, &k.empty, 1, 1))? * 1e6);
        stream.synchronize()?;
        let t0 = Instant::now();
        launch_empty(gpu, &k.empty, 1, 1)?;
        stream.synchronize()?;
        round_trip_us.push(t0.elapsed().as_secs_f64() * 1e6);
    }

    // The spin holds the GPU while the host queues the launches (at least 20 ms, and 10 us of spin
    // per launch: several times the host cost), so the timed kernels never wait for the host. The launch
    // queue holds about a thousand kernels: past that the host blocks, and the rest would be
    // paced by the host's launch cost (2,000 in a row once read 8.1 us per kernel on an H100
    // whose host took 4.2 us per launch). So two short runs, well inside the queue, and their
    // difference per kernel, which also cancels the events' own cost.
    let per_kernel_s = empty_period_s(gpu, k, cfg.back_to_back)?;

    // Block dispatch: a wide empty kernel against a one-block one, both behind a spin.
    let wide = gpu.info().sm_count.max(1) * 256;
    let time_blocks = |blocks: u32| -> Result<f64, HarnessError> {
        launch_spin(gpu, &k.spin, 2_000_000)?;
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            best = best.min(time_on_stream(gpu, || launch_empty(gpu, &k.empty, blocks, 32))?);
        }
        Ok(best)
    };
    let (one, many) = (time_blocks(1)?, time_blocks(wide)?);
    let block_dispatch_ns = ((many - one) / (wide - 1) as f64 * 1e9).max(0.0);

    Ok(LaunchResult {
        block_dispatch_ns,
        host_launch_us: summary(&host_us),
        event_latency_us: summary(&event_us),
        host_round_trip_us: summary(&round_trip_us),
        back_to_back_kernel_us: per_kernel_s * 1e6,
    })
}

/// Seconds per empty kernel run back to back behind a spin: the difference of `n` and `n / 4`
/// in a row, per kernel (see `run_launch`).
pub fn empty_period_s(gpu: &Gpu, k: &Kernels, n: u32) -> Result<f64, HarnessError> {
    let back_to_back = |n: u32| -> Result<f64, HarnessError> {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            launch_spin(gpu, &k.spin, (10_000 * n as u64).max(20_000_000))?;
            best = best.min(time_on_stream(gpu, || (0..n).try_for_each(|_| launch_empty(gpu, &k.empty, 1, 1)))?);
            gpu.stream().synchronize()?;
        }
        Ok(best)
    };
    let (short, long) = (n.clamp(2, 512) / 4, n.clamp(2, 512));
    Ok(((back_to_back(long)? - back_to_back(short)?) / (long - short).max(1) as f64).max(0.0))
}

/// The gaps between back-to-back kernels (`stream_gap` step), us: `spin_mark` kernels queued
/// behind a spin in a stream, and the same captured in a CUDA graph; each kernel's start less
/// its predecessor's end from `%globaltimer` (its ticks can be coarse: the mean over many pairs,
/// whose phases differ, is what is kept), for kernels of several lengths; and the empty
/// kernel's back-to-back period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapResult {
    pub kernels: u32,
    /// (spin length ns, mean gap in a stream us, mean gap in a graph us, mean own time us).
    pub by_length: Vec<(u64, f64, f64, f64)>,
    pub empty_period_us: f64,
}

/// Spin lengths the gaps are measured after, ns.
pub const GAP_SPINS_NS: [u64; 5] = [0, 1_000, 2_000, 5_000, 20_000];

pub fn run_gaps(gpu: &Gpu, k: &Kernels) -> Result<GapResult, HarnessError> {
    const N: u32 = 400;
    let s = gpu.stream();
    let mut marks = s.alloc_zeros::<u64>(2 * N as usize)?;
    let launch_marks =
        |marks: &mut simgpu_harness::cudarc::driver::CudaSlice<u64>, spin_ns: u64| -> Result<(), HarnessError> {
            for i in 0..N {
                let mut b = s.launch_builder(&k.spin_mark);
                b.arg(&spin_ns).arg(&mut *marks).arg(&i);
                // SAFETY: spin_mark(u64, u64*, u32) writes marks[2i] and marks[2i+1], i < N, and
                // marks holds 2N values.
                unsafe { b.launch(simgpu_harness::timing::grid(1, 1)) }?;
            }
            Ok(())
        };
    // (mean gap, mean own time) over the pairs, us.
    let stats = |m: &[u64]| -> (f64, f64) {
        let n = N as usize;
        let gap: f64 = (1..n).map(|i| m[2 * i].saturating_sub(m[2 * i - 1]) as f64).sum::<f64>() / (n - 1) as f64;
        let own: f64 = (0..n).map(|i| m[2 * i + 1].saturating_sub(m[2 * i]) as f64).sum::<f64>() / n as f64;
        (gap / 1e3, own / 1e3)
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut by_length = Vec::new();
    for spin_ns in GAP_SPINS_NS {
        // In a stream, queued behind a spin so that the host never paces them.
        let (mut stream_gaps, mut owns) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            launch_spin(gpu, &k.spin, 20_000_000)?;
            launch_marks(&mut marks, spin_ns)?;
            s.synchronize()?;
            let (gap, own) = stats(&s.clone_dtoh(&marks)?);
            stream_gaps.push(gap);
            owns.push(own);
        }
        // In a CUDA graph: captured once, uploaded, launched (the first launch is left out).
        s.begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)?;
        let captured = launch_marks(&mut marks, spin_ns);
        let graph = s.end_capture(sys::CUgraphInstantiate_flags(0))?;
        captured?;
        let graph = graph.ok_or_else(|| HarnessError::Measurement("the stream captured no graph".into()))?;
        graph.upload()?;
        let mut graph_gaps = Vec::new();
        for round in 0..4 {
            graph.launch()?;
            s.synchronize()?;
            if round > 0 {
                graph_gaps.push(stats(&s.clone_dtoh(&marks)?).0);
            }
        }
        by_length.push((spin_ns, median(stream_gaps), median(graph_gaps), median(owns)));
    }
    Ok(GapResult { kernels: N, by_length, empty_period_us: empty_period_s(gpu, k, 512)? * 1e6 })
}

/// Every list above has at least one value; NaN marks the impossible empty case.
fn summary(v: &[f64]) -> Summary {
    summarize(v).unwrap_or(Summary { n: 0, min: f64::NAN, median: f64::NAN, mean: f64::NAN, max: f64::NAN })
}

/// One round of the launch path in one process: the host's own speed (a fixed CPU loop), the
/// cost of a launch call, and a launch-bound stream's time per kernel.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LaunchPathRound {
    /// Microseconds of a fixed integer loop: how fast this host runs now, apart from CUDA.
    pub cpu_ref_us: f64,
    /// CPU time of one launch call (batches of 500 with a synchronize between), us.
    pub host_launch_us: f64,
    /// 2,000 launches issued as fast as the host can, to the last one's completion, per kernel, us.
    pub stream_us_per_kernel: f64,
}

/// Iterations of the CPU reference loop (about 10 ms on the machines seen so far).
const CPU_REF_ITERS: u64 = 20_000_000;

/// A fixed amount of integer work whose time says how fast the host runs.
fn cpu_ref_us() -> f64 {
    let t0 = Instant::now();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..CPU_REF_ITERS {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    std::hint::black_box(x);
    t0.elapsed().as_secs_f64() * 1e6
}

/// `rounds` rounds of the launch path, after a warm-up.
pub fn launch_path(gpu: &Gpu, k: &Kernels, rounds: u32) -> Result<Vec<LaunchPathRound>, HarnessError> {
    let stream = gpu.stream();
    for _ in 0..200 {
        launch_empty(gpu, &k.empty, 1, 1)?;
    }
    stream.synchronize()?;
    const BATCH: u32 = 500;
    const STREAM: u32 = 2000;
    let mut out = Vec::new();
    for _ in 0..rounds.max(1) {
        let cpu_ref_us = cpu_ref_us();
        let mut per_call = Vec::new();
        for _ in 0..4 {
            let t0 = Instant::now();
            for _ in 0..BATCH {
                launch_empty(gpu, &k.empty, 1, 1)?;
            }
            per_call.push(t0.elapsed().as_secs_f64() * 1e6 / BATCH as f64);
            stream.synchronize()?;
        }
        let t0 = Instant::now();
        for _ in 0..STREAM {
            launch_empty(gpu, &k.empty, 1, 1)?;
        }
        stream.synchronize()?;
        let stream_us_per_kernel = t0.elapsed().as_secs_f64() * 1e6 / STREAM as f64;
        per_call.sort_by(f64::total_cmp);
        let host_launch_us = (per_call[1] + per_call[2]) / 2.0;
        out.push(LaunchPathRound { cpu_ref_us, host_launch_us, stream_us_per_kernel });
    }
    Ok(out)
}
