//! The kernel replayer: a client that has no command of its own runs its scenario's kernels on the
//! card. Each kernel becomes a launch with the same grid, block and shared memory and the same
//! residency (blocks per SM) that the simulator gives it, doing the kernel's FLOPs on the unit it
//! names and moving its DRAM bytes ([`crate::replay_kernels`]), with the scenario's host gaps
//! between launches, its synchronisations, its CUDA graphs and its arrivals.
//!
//! What is not imitated, and why it may matter, is said in docs/validate.md ("The replayer"):
//! instruction mixes other than the named unit, L2 hits, and registers (residency is held by
//! padding shared memory, which changes what fits beside other clients' blocks).
//!
//! This module takes plain values ([`ReplayClient`]); turning a scenario's client into one is the
//! validate crate's job, so that this crate stays free of the simulator.

use crate::device::Gpu;
use crate::error::HarnessError;
use crate::nvrtc::compile_module_with;
use crate::replay_kernels::{DEPTHS, REPLAY_FP8_SRC, REPLAY_SRC};
use crate::timing::timing_event;
use cudarc::driver::{sys, CudaFunction, CudaGraph, CudaModule, CudaSlice, LaunchConfig, PushKernelArg};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The arithmetic unit a replayed kernel runs its work on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Fp32,
    Int32,
    Fp16Tensor,
    Bf16Tensor,
    Fp8Tensor,
}

impl Unit {
    fn function(self) -> &'static str {
        match self {
            Unit::Fp32 => "replay_fp32",
            Unit::Int32 => "replay_int32",
            Unit::Fp16Tensor => "replay_fp16",
            Unit::Bf16Tensor => "replay_bf16",
            Unit::Fp8Tensor => "replay_fp8",
        }
    }
}

/// One kernel as the replayer launches it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayKernel {
    pub name: String,
    pub grid: u32,
    pub threads: u32,
    /// Shared memory the kernel declares per block (bytes).
    pub smem_bytes: u32,
    /// Blocks per SM the simulator gives the kernel on an empty SM: the replay pads its dynamic
    /// shared memory until the card holds no more than that.
    pub blocks_per_sm: u32,
    pub unit: Unit,
    /// Arithmetic units per thread ([`crate::replay_kernels`]: 8 FMAs, 8 IMADs or 4 MMAs).
    pub units_per_thread: u64,
    /// 16-byte words each block loads from DRAM and stores.
    pub read_words: u32,
    pub write_words: u32,
    /// Host time from the previous launch call (or the request's start, or a synchronisation's
    /// return) to this launch call.
    pub host_gap_us: f64,
    /// The host waits for this kernel before going on.
    pub sync: bool,
}

/// When the client's requests start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrivals {
    /// The next request starts this long after the previous one completed.
    ClosedLoop { think_us: f64 },
    /// Poisson arrivals (a fixed stream from `seed`); requests queue while one is in flight.
    Poisson { rate_per_s: f64, seed: u64 },
}

/// A client to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayClient {
    pub name: String,
    pub kernels: Vec<ReplayKernel>,
    /// One request's launches in stream order: (kernel, launches in a row).
    pub sequence: Vec<(usize, u32)>,
    /// Launch each run of launches between synchronisations as one CUDA graph.
    pub cuda_graph: bool,
    pub arrivals: Arrivals,
    /// Time requests with CUDA events on the stream (else on the host, issue to completion).
    pub gpu_timed: bool,
    pub warmup_requests: u64,
    /// Requests to measure; `None`: until the window closes.
    pub requests: Option<u64>,
}

/// How a replayed kernel sat on the card.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Residency {
    pub kernel: String,
    /// Blocks per SM the simulator gives it.
    pub wanted: u32,
    /// Blocks per SM the replay kernel would hold with the kernel's own shared memory.
    pub natural: u32,
    /// Blocks per SM it holds as launched (with its padding).
    pub got: u32,
    pub dynamic_smem_bytes: u32,
    /// Steps of loads each thread keeps in flight (the deepest ring that keeps the residency).
    pub depth: u32,
    /// Registers per thread capped at [`CAPPED_REGS`] (the build that holds more blocks per
    /// SM where the uncapped one's registers would cost the kernel its residency).
    pub capped: bool,
}

/// The register cap of the second build: 65536 registers over 2048 threads, so that a block of
/// any size can reach the SM's full thread count.
pub const CAPPED_REGS: u32 = 32;

/// What one replay measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayResult {
    /// Latency of every measured request, in completion order (microseconds).
    pub latencies_us: Vec<f64>,
    /// The measured window (seconds, from its start to the last measured completion or its end).
    pub seconds: f64,
    pub launches: u64,
    pub residency: Vec<Residency>,
}

impl ReplayResult {
    /// The `q` quantile of the latencies as step clients report it (the sorted value at
    /// `floor(q n)`); `None` without requests.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let mut v = self.latencies_us.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        (n > 0).then(|| v[((q * n as f64) as usize).min(n - 1)])
    }

    pub fn requests_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.latencies_us.len() as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// 16-byte words in each of the source and destination buffers: 256 MiB, five times an H200's
/// L2, so a walk through them reads DRAM.
const BUFFER_WORDS: u64 = 1 << 24;
/// Warm-up requests at least, and how long warm-up may take at most beyond the first request.
const MIN_WARMUP: u64 = 3;
const MAX_WARMUP: Duration = Duration::from_secs(3);
/// Copies of a request's graphs, each reading its own part of the buffers, so that a replayed
/// graph reads DRAM the second time too (a graph's arguments are fixed when it is captured).
const MAX_GRAPH_COPIES: u64 = 32;

struct Prepared {
    f: CudaFunction,
    cfg: LaunchConfig,
    reads: u32,
    writes: u32,
    units: u64,
    gap: Duration,
    sync: bool,
}

/// A captured run of launches: its graph, the host gaps inside it, and whether a synchronisation ends it.
struct Segment {
    graph: CudaGraph,
    gap: Duration,
    sync: bool,
}

struct Buffers {
    src: CudaSlice<u32>,
    dst: CudaSlice<u32>,
    sink: CudaSlice<f32>,
    /// The next launch's first word.
    base: u64,
}

/// Replays `c` on `gpu`: compiles and sizes its kernels, warms up, calls `ready` (which may wait
/// for a start signal), then measures for `seconds` (or the client's request count).
pub fn replay(
    gpu: &Gpu,
    c: &ReplayClient,
    seconds: f64,
    ready: impl FnOnce() -> Result<(), HarnessError>,
) -> Result<ReplayResult, HarnessError> {
    check(c, seconds)?;
    let (prepared, residency) = prepare(gpu, c)?;
    let s = gpu.stream();
    let mut bufs = Buffers {
        src: s.alloc_zeros::<u32>(4 * BUFFER_WORDS as usize)?,
        dst: s.alloc_zeros::<u32>(4 * BUFFER_WORDS as usize)?,
        sink: s.alloc_zeros::<f32>(1024)?,
        base: 0,
    };
    let order: Vec<usize> = c.sequence.iter().flat_map(|&(k, n)| std::iter::repeat_n(k, n as usize)).collect();
    let graphs = if c.cuda_graph { Some(capture(gpu, &prepared, &order, &mut bufs)?) } else { None };
    let mut runner = Runner { gpu, c, prepared: &prepared, order: &order, graphs, bufs, copy: 0, launches: 0 };
    let (start, end) = (timing_event(gpu)?, timing_event(gpu)?);

    // Warm-up: module loads, first launches and graph uploads out of the window.
    let t0 = Instant::now();
    let mut warm = 0;
    while warm < c.warmup_requests.max(MIN_WARMUP) && (warm == 0 || t0.elapsed() < MAX_WARMUP) {
        runner.request(Instant::now(), &start, &end)?;
        warm += 1;
    }
    runner.launches = 0;
    ready()?;

    let window = Duration::from_secs_f64(seconds);
    let begin = Instant::now();
    let mut rng = Exp::new(match c.arrivals {
        Arrivals::Poisson { seed, .. } => seed,
        Arrivals::ClosedLoop { .. } => 0,
    });
    let mut next_arrival = begin;
    let mut latencies = Vec::new();
    let mut last = begin;
    while begin.elapsed() < window && c.requests.is_none_or(|n| (latencies.len() as u64) < n) {
        let issue = match c.arrivals {
            Arrivals::ClosedLoop { .. } => Instant::now(),
            Arrivals::Poisson { rate_per_s, .. } => {
                let at = next_arrival;
                next_arrival += Duration::from_secs_f64(rng.next() / rate_per_s);
                spin_until(at);
                at
            }
        };
        let us = runner.request(issue, &start, &end)?;
        last = Instant::now();
        if last.duration_since(begin) <= window || c.requests.is_some() {
            latencies.push(us);
        }
        if let Arrivals::ClosedLoop { think_us } = c.arrivals {
            spin_until(Instant::now() + Duration::from_secs_f64(think_us * 1e-6));
        }
    }
    let seconds = if c.requests.is_some() { last.duration_since(begin) } else { window }.as_secs_f64();
    Ok(ReplayResult { latencies_us: latencies, seconds, launches: runner.launches, residency })
}

/// Refuses what would make a duration or an index impossible (`Duration::from_secs_f64` panics
/// on negative, infinite and NaN values), before anything touches the card.
fn check(c: &ReplayClient, seconds: f64) -> Result<(), HarnessError> {
    let bad = |what: String| Err(HarnessError::Measurement(format!("client `{}`: {what}", c.name)));
    let time_ok = |x: f64| x.is_finite() && (0.0..=86_400e6).contains(&x);
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
        return bad(format!("a window of {seconds} s (must be more than 0 and at most a day)"));
    }
    if let Some(&(k, _)) = c.sequence.iter().find(|&&(k, _)| k >= c.kernels.len()) {
        return bad(format!("the launch sequence names kernel {k}, but there are {}", c.kernels.len()));
    }
    if let Some(k) = c.kernels.iter().find(|k| !time_ok(k.host_gap_us)) {
        return bad(format!("kernel `{}`: a host gap of {} us", k.name, k.host_gap_us));
    }
    match c.arrivals {
        Arrivals::ClosedLoop { think_us } if !time_ok(think_us) => bad(format!("a think time of {think_us} us")),
        Arrivals::Poisson { rate_per_s, .. } if !(rate_per_s.is_finite() && rate_per_s >= 1e-6) => {
            bad(format!("a Poisson rate of {rate_per_s} per second (must be at least 1e-6)"))
        }
        _ => Ok(()),
    }
}

/// Compiles the kernels (fp8 only where the card has it) and sizes every launch.
fn prepare(gpu: &Gpu, c: &ReplayClient) -> Result<(Vec<Prepared>, Vec<Residency>), HarnessError> {
    let cc = gpu.info().compute_capability;
    let has_fp8 = cc >= (8, 9);
    if !has_fp8 {
        if let Some(k) = c.kernels.iter().find(|k| k.unit == Unit::Fp8Tensor) {
            return Err(HarnessError::Measurement(format!(
                "kernel `{}`: fp8 tensor work needs compute capability 8.9 or later (this card: {}.{})",
                k.name, cc.0, cc.1
            )));
        }
    }
    let src = if has_fp8 { format!("{REPLAY_SRC}{REPLAY_FP8_SRC}") } else { REPLAY_SRC.to_string() };
    // Diagnostic only (Nsight Compute comparisons of the depths): the deepest ring allowed.
    let max_depth = match std::env::var("SIMGPU_REPLAY_MAX_DEPTH") {
        Err(_) => DEPTHS[0],
        Ok(v) => v.parse::<u32>().ok().filter(|d| DEPTHS.contains(d)).ok_or_else(|| {
            HarnessError::Measurement(format!("SIMGPU_REPLAY_MAX_DEPTH={v}: must be one of {DEPTHS:?}"))
        })?,
    };
    let module = compile_module_with(gpu, "replay.cu", &src, &[])?;
    let capped_regs = format!("--maxrregcount={CAPPED_REGS}");
    let capped = compile_module_with(gpu, "replay_capped.cu", &src, &[&capped_regs])?;
    let optin =
        gpu.ctx().attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)?.max(0)
            as u32;
    let mut prepared = Vec::new();
    let mut residency = Vec::new();
    for k in &c.kernels {
        if k.smem_bytes > optin {
            return Err(HarnessError::Measurement(format!(
                "kernel `{}`: {} bytes of shared memory per block, more than this card allows ({optin})",
                k.name, k.smem_bytes
            )));
        }
        // Every build at every ring depth allowed, in the order preferred: the uncapped one from
        // the deepest ring down, then the register-capped one from the shallowest ring up (the
        // fewest registers to spill under the cap; whether spilling costs less than blocks is
        // what the card is to say).
        let mut options = Vec::new();
        for (m, is_capped) in [(&module, false), (&capped, true)] {
            let mut depths: Vec<u32> = DEPTHS.into_iter().filter(|&d| d <= max_depth).collect();
            if is_capped {
                depths.reverse();
            }
            for d in depths {
                let f = load_at(m, k.unit, d, optin)?;
                let blocks = occupancy(&f, k.threads, k.smem_bytes)?;
                options.push((f, d, is_capped, blocks));
            }
        }
        // The residency to keep: the most either build holds at depth 1, at most what the
        // simulator wants; the first option that keeps it is launched.
        let occ1 = options.iter().filter(|o| o.1 == 1).map(|o| o.3).max().unwrap_or(0);
        let floor = if k.blocks_per_sm > 0 { occ1.min(k.blocks_per_sm) } else { occ1 };
        let (f, depth, is_capped, _) = options.into_iter().find(|o| o.3 >= floor).ok_or_else(|| {
            HarnessError::Measurement(format!("kernel `{}`: no replay build fits on this card", k.name))
        })?;
        let occ = |smem: u32| occupancy(&f, k.threads, smem);
        let natural = occ(k.smem_bytes)?;
        let mut smem = k.smem_bytes;
        if k.blocks_per_sm > 0 && natural > k.blocks_per_sm {
            // The least shared memory that holds the replay to the simulated residency.
            let (mut lo, mut hi) = (k.smem_bytes, optin);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if occ(mid)? <= k.blocks_per_sm {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            smem = lo;
        }
        let got = occ(smem)?;
        residency.push(Residency {
            kernel: k.name.clone(),
            wanted: k.blocks_per_sm,
            natural,
            got,
            depth,
            capped: is_capped,
            dynamic_smem_bytes: smem,
        });
        prepared.push(Prepared {
            f,
            cfg: LaunchConfig { grid_dim: (k.grid, 1, 1), block_dim: (k.threads, 1, 1), shared_mem_bytes: smem },
            reads: k.read_words,
            writes: k.write_words,
            units: k.units_per_thread,
            gap: Duration::from_secs_f64(k.host_gap_us.max(0.0) * 1e-6),
            sync: k.sync,
        });
    }
    Ok((prepared, residency))
}

/// Kernel `unit` at ring depth `depth`, allowed the card's opt-in shared memory (so that padding
/// and large declared shared memory launch).
fn load_at(module: &Arc<CudaModule>, unit: Unit, depth: u32, optin: u32) -> Result<CudaFunction, HarnessError> {
    let f = module.load_function(&format!("{}_d{depth}", unit.function()))?;
    f.set_attribute(sys::CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, optin as i32)?;
    Ok(f)
}

fn occupancy(f: &CudaFunction, threads: u32, smem: u32) -> Result<u32, HarnessError> {
    Ok(f.occupancy_max_active_blocks_per_multiprocessor(threads, smem as usize, None)?)
}

/// Enqueues one launch of `p` on the stream, reading and writing from the buffers' next words.
fn launch(gpu: &Gpu, p: &Prepared, bufs: &mut Buffers) -> Result<(), HarnessError> {
    let mask = BUFFER_WORDS - 1;
    let base = bufs.base;
    let mut b = gpu.stream().launch_builder(&p.f);
    b.arg(&bufs.src).arg(&bufs.dst).arg(&mask).arg(&base).arg(&p.reads).arg(&p.writes).arg(&p.units).arg(&bufs.sink);
    // SAFETY: the arguments match replay_kernels.rs's signatures; every index is masked into the
    // buffers, and `sink` holds a value per thread of a block (at most 1024).
    unsafe { b.launch(p.cfg) }?;
    let words = p.cfg.grid_dim.0 as u64 * p.reads.max(p.writes) as u64;
    bufs.base = (base + words) & mask;
    Ok(())
}

/// One request's launches as graphs: a graph per run of launches ending at a synchronisation
/// (or the request's end), in as many copies as it takes for each copy's bytes to be out of L2
/// by the time it is replayed again.
fn capture(
    gpu: &Gpu,
    prepared: &[Prepared],
    order: &[usize],
    bufs: &mut Buffers,
) -> Result<Vec<Vec<Segment>>, HarnessError> {
    let words: u64 = order
        .iter()
        .map(|&k| prepared[k].cfg.grid_dim.0 as u64 * prepared[k].reads.max(prepared[k].writes) as u64)
        .sum();
    let l2_words = gpu.info().l2_bytes / 16;
    let copies = (2 * l2_words).div_ceil(words.max(1)).clamp(1, MAX_GRAPH_COPIES);
    let s = gpu.stream();
    let mut out = Vec::new();
    for _ in 0..copies {
        let mut graphs = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            let mut gap = Duration::ZERO;
            s.begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)?;
            let mut captured = Ok(());
            while j < order.len() {
                let p = &prepared[order[j]];
                gap += p.gap;
                captured = captured.and_then(|_| launch(gpu, p, bufs));
                j += 1;
                if p.sync {
                    break;
                }
            }
            let graph = s.end_capture(sys::CUgraphInstantiate_flags(0))?;
            captured?;
            let graph = graph.ok_or_else(|| HarnessError::Measurement("the stream captured no graph".into()))?;
            graph.upload()?;
            graphs.push(Segment { graph, gap, sync: prepared[order[j - 1]].sync });
            i = j;
        }
        out.push(graphs);
    }
    Ok(out)
}

struct Runner<'a> {
    gpu: &'a Gpu,
    c: &'a ReplayClient,
    prepared: &'a [Prepared],
    order: &'a [usize],
    graphs: Option<Vec<Vec<Segment>>>,
    bufs: Buffers,
    copy: usize,
    launches: u64,
}

impl Runner<'_> {
    /// Runs one request issued at `issue`; returns its latency in microseconds.
    fn request(
        &mut self,
        issue: Instant,
        start: &cudarc::driver::CudaEvent,
        end: &cudarc::driver::CudaEvent,
    ) -> Result<f64, HarnessError> {
        let s = self.gpu.stream();
        if self.c.gpu_timed {
            start.record(s)?;
        }
        // Host gaps run from the previous launch call's start (or a synchronisation's return).
        let mut prev = Instant::now().max(issue);
        match &self.graphs {
            Some(copies) => {
                for seg in &copies[self.copy] {
                    spin_until(prev + seg.gap);
                    prev = Instant::now();
                    seg.graph.launch()?;
                    if seg.sync {
                        s.synchronize()?;
                        prev = Instant::now();
                    }
                }
                self.copy = (self.copy + 1) % copies.len();
                self.launches += self.order.len() as u64;
            }
            None => {
                for &k in self.order {
                    let p = &self.prepared[k];
                    spin_until(prev + p.gap);
                    prev = Instant::now();
                    launch(self.gpu, p, &mut self.bufs)?;
                    if p.sync {
                        s.synchronize()?;
                        prev = Instant::now();
                    }
                }
                self.launches += self.order.len() as u64;
            }
        }
        if self.c.gpu_timed {
            end.record(s)?;
        }
        s.synchronize()?;
        let done = Instant::now();
        Ok(if self.c.gpu_timed {
            start.elapsed_ms(end)? as f64 * 1e3
        } else {
            done.duration_since(issue).as_secs_f64() * 1e6
        })
    }
}

/// Busy-waits until `t` (host gaps are microseconds: a sleep would overshoot them), sleeping
/// through all but the last millisecond of long waits.
fn spin_until(t: Instant) {
    let now = Instant::now();
    if t > now + Duration::from_millis(2) {
        std::thread::sleep(t - now - Duration::from_millis(1));
    }
    while Instant::now() < t {
        std::hint::spin_loop();
    }
}

/// Exponential variates of mean 1 from a xorshift64* stream.
struct Exp(u64);

impl Exp {
    fn new(seed: u64) -> Exp {
        Exp(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let u = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        -(1.0 - u).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_sorted_value() {
        let r =
            ReplayResult { latencies_us: vec![5.0, 1.0, 3.0, 2.0, 4.0], seconds: 2.0, launches: 0, residency: vec![] };
        assert_eq!(r.quantile_us(0.5), Some(3.0));
        assert_eq!(r.quantile_us(0.99), Some(5.0));
        assert_eq!(r.requests_per_s(), 2.5);
        let empty = ReplayResult { latencies_us: vec![], seconds: 0.0, launches: 0, residency: vec![] };
        assert_eq!(empty.quantile_us(0.5), None);
        assert_eq!(empty.requests_per_s(), 0.0);
    }

    #[test]
    fn impossible_times_and_indices_are_refused() {
        let k = ReplayKernel {
            name: "k".into(),
            grid: 1,
            threads: 32,
            smem_bytes: 0,
            blocks_per_sm: 0,
            unit: Unit::Fp32,
            units_per_thread: 1,
            read_words: 0,
            write_words: 0,
            host_gap_us: 1.0,
            sync: false,
        };
        let c = ReplayClient {
            name: "c".into(),
            kernels: vec![k],
            sequence: vec![(0, 2)],
            cuda_graph: false,
            arrivals: Arrivals::ClosedLoop { think_us: 0.0 },
            gpu_timed: true,
            warmup_requests: 0,
            requests: None,
        };
        assert!(check(&c, 1.0).is_ok());
        assert!(check(&c, -1.0).is_err());
        assert!(check(&c, f64::NAN).is_err());
        let mut bad = c.clone();
        bad.sequence = vec![(1, 1)];
        assert!(check(&bad, 1.0).is_err());
        let mut bad = c.clone();
        bad.kernels[0].host_gap_us = f64::INFINITY;
        assert!(check(&bad, 1.0).is_err());
        let mut bad = c.clone();
        bad.arrivals = Arrivals::Poisson { rate_per_s: 0.0, seed: 1 };
        assert!(check(&bad, 1.0).is_err());
        bad.arrivals = Arrivals::ClosedLoop { think_us: -5.0 };
        assert!(check(&bad, 1.0).is_err());
    }

    #[test]
    fn exponential_variates_have_mean_one() {
        let mut e = Exp::new(7);
        let n = 200_000;
        let mean = (0..n).map(|_| e.next()).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.01, "{mean}");
    }
}
