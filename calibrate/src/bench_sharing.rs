//! Phenomenon 1 of docs/design.md: what happens to a short kernel beside a long issue-bound kernel
//! that holds one 1024-thread block on every SM.
//!
//! - Issue saturation (`sharing.warps_to_saturate_issue`): the probe alone, one block per SM,
//!   with 1 to 32 warps; per-SM throughput against warps has a knee where the issue slots fill.
//! - Co-residence and issue share, in one context (two streams; `carveout_locked_in_context`)
//!   and across MPS clients (`carveout_locked_across_clients`, `cross_client_min_issue_share`):
//!   probes with 1, 16 and 32 warps, and 32 warps with growing shared memory, launched while
//!   seed 000's own FMA kernel (no timer reads in its loop: they change the issue share) runs. `%globaltimer` and `%smid` say whether each probe block started inside a long
//!   block's residence on its SM (co-resident) or only after it left (waited), and how much
//!   slower its warps advanced than alone.

use crate::probe_kernels::{launch_probe, launch_seed, seed_iters, FmaBufs, ProbeKernels};
use serde::{Deserialize, Serialize};
use simgpu_harness::Gpu;
use simgpu_harness::HarnessError;
use std::time::Duration;

/// Probe variants: (warps per block, dynamic shared memory bytes): warps without shared memory,
/// then 32 warps with growing shared memory up to 48 KB (the most without an opt-in), which
/// brackets the slack beside a resident kernel's fixed carve-out.
pub const VARIANTS: [(u32, u32); 8] =
    [(16, 0), (32, 0), (32, 128), (32, 1024), (32, 2048), (32, 4096), (32, 49152), (1, 0)];
/// Across clients the prober sleeps this long before each launch, so the holder's current kernel
/// is resident on every SM (not between two kernels) when the probe arrives.
pub const SETTLE_MS: u64 = 100;
/// Per-block shared-memory reservation (CUDA >= 8.0), counted with a block's own.
const RESERVED: u32 = 1024;
/// FMA iterations per probe thread: about 130 us for 32 warps alone at 2 GHz, so that even a
/// 1000-fold slowdown ends inside the long kernel.
pub const PROBE_ITERS: i64 = 8_000;
/// How long the long kernel holds the SMs.
pub const LONG_S: f64 = 1.5;
/// FLOP per probe iteration per thread (4 chains x 2).
const FLOP_PER_ITER: f64 = 8.0;

/// One probe launch: every block's (start, end, SM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRun {
    pub warps: u32,
    pub smem: u32,
    pub blocks: Vec<(u64, u64, u32)>,
}

impl ProbeRun {
    pub fn median_duration_ns(&self) -> f64 {
        median(self.blocks.iter().map(|b| b.1.saturating_sub(b.0) as f64).collect())
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs one probe variant on `blocks` blocks and returns its records.
pub fn run_probe(
    gpu: &Gpu,
    k: &ProbeKernels,
    stream: &std::sync::Arc<simgpu_harness::cudarc::driver::CudaStream>,
    warps: u32,
    smem: u32,
    blocks: u32,
) -> Result<ProbeRun, HarnessError> {
    let mut bufs = FmaBufs::new(stream, blocks)?;
    stream.synchronize()?;
    launch_probe(stream, k, &mut bufs, warps * 32, smem, PROBE_ITERS)?;
    stream.synchronize()?;
    let _ = gpu;
    Ok(ProbeRun { warps, smem, blocks: bufs.records(stream)? })
}

/// Per-SM FP32 throughput of the probe alone against its warps: (warps, FLOP per ns per SM).
pub fn issue_sweep(gpu: &Gpu, k: &ProbeKernels) -> Result<Vec<(f64, f64)>, HarnessError> {
    let sms = gpu.info().sm_count;
    run_probe(gpu, k, gpu.stream(), 32, 0, sms)?; // warm-up
    let mut out = Vec::new();
    for warps in [1u32, 2, 4, 8, 12, 16, 24, 32] {
        let r = run_probe(gpu, k, gpu.stream(), warps, 0, sms)?;
        let flops = FLOP_PER_ITER * PROBE_ITERS as f64 * (warps * 32) as f64;
        out.push((warps as f64, flops / r.median_duration_ns()));
    }
    Ok(out)
}

/// What one variant did beside the long kernel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coresidence {
    pub warps: u32,
    pub smem: u32,
    /// Share of probe blocks that started while a long block was resident on their SM.
    pub coresident: f64,
    /// Median block duration beside the long kernel over alone.
    pub slowdown: f64,
    /// Distinct SMs the probe's blocks ran on.
    pub probe_sms: usize,
    /// Most long blocks resident on one SM while the probe ran.
    pub long_blocks_per_sm: usize,
    /// Median of (probe block start - end of the long block on its SM that started before it), us:
    /// negative when it started while that block ran.
    pub start_vs_long_end_us: f64,
    /// From the previous probe run's end to this one's first block, us (0 when unknown).
    pub start_gap_us: f64,
    /// Probe and long-kernel blocks ((start, end, SM), ns) around the probe, for the report.
    pub probe_blocks: Vec<(u64, u64, u32)>,
    pub long_blocks: Vec<(u64, u64, u32)>,
}

/// Classifies probe blocks against the long kernel's blocks (all on the global timer).
/// `same_sm_ids`: whether `%smid` of both kernels name the same SMs (one process). Across MPS
/// clients they need not (seen on driver 580: more blocks on one `%smid` than an SM holds), so a
/// block there counts as having waited only if it started within 200 us after a long block ended.
/// `prev_end`: the end of the probe run before this one (launched `SETTLE_MS` later); the gap to
/// this run's first block says whether it started at once or waited (used across clients).
pub fn analyse(
    probe: &ProbeRun,
    solo: &ProbeRun,
    long_blocks: &[(u64, u64, u32)],
    same_sm_ids: bool,
    prev_end: Option<u64>,
) -> Coresidence {
    let first_start = probe.blocks.iter().map(|b| b.0).min().unwrap_or(0);
    let gap_ns = prev_end.map(|e| first_start.saturating_sub(e)).unwrap_or(0);
    let inside =
        |&(s, _, sm): &(u64, u64, u32)| long_blocks.iter().any(|&(ls, le, lsm)| lsm == sm && ls <= s && s + 1000 < le);
    let n = probe.blocks.len().max(1) as f64;
    let coresident = if same_sm_ids {
        probe.blocks.iter().filter(|b| inside(b)).count() as f64 / n
    } else if gap_ns < (SETTLE_MS + 50) * 1_000_000
        && long_blocks.iter().any(|&(ls, le, _)| ls <= first_start && first_start < le)
    {
        1.0
    } else {
        0.0
    };
    let (from, to) =
        (probe.blocks.iter().map(|b| b.0).min().unwrap_or(0), probe.blocks.iter().map(|b| b.1).max().unwrap_or(0));
    let around: Vec<(u64, u64, u32)> =
        long_blocks.iter().copied().filter(|&(ls, le, _)| ls <= to && le >= from).collect();
    let mut per_sm = std::collections::BTreeMap::new();
    for &(_, _, sm) in &around {
        *per_sm.entry(sm).or_insert(0usize) += 1;
    }
    let rel: Vec<f64> = probe
        .blocks
        .iter()
        .filter_map(|&(s, _, sm)| {
            long_blocks
                .iter()
                .filter(|&&(ls, _, lsm)| lsm == sm && ls <= s)
                .max_by_key(|b| b.0)
                .map(|&(_, le, _)| (s as f64 - le as f64) / 1e3)
        })
        .collect();
    Coresidence {
        warps: probe.warps,
        smem: probe.smem,
        coresident,
        slowdown: probe.median_duration_ns() / solo.median_duration_ns(),
        probe_sms: probe.blocks.iter().map(|b| b.2).collect::<std::collections::BTreeSet<_>>().len(),
        long_blocks_per_sm: per_sm.values().copied().max().unwrap_or(0),
        start_vs_long_end_us: median(rel),
        start_gap_us: gap_ns as f64 / 1e3,
        probe_blocks: probe.blocks.clone(),
        long_blocks: around,
    }
}

/// In one context: the long kernel on one stream, each probe on another, launched after it.
/// `fp32_rate`: FLOP/clk/SM, to size the long kernel.
pub fn in_context(gpu: &Gpu, k: &ProbeKernels, fp32_rate: f64) -> Result<Vec<Coresidence>, HarnessError> {
    let iters = seed_iters(LONG_S, fp32_rate, gpu.info().max_sm_clock_mhz);
    let sms = gpu.info().sm_count;
    let other = gpu.ctx().new_stream()?;
    run_probe(gpu, k, &other, 32, 0, sms)?; // warm-up on this stream
    let mut out = Vec::new();
    for (warps, smem) in VARIANTS {
        let solo = run_probe(gpu, k, &other, warps, smem, sms)?;
        let mut long = FmaBufs::new(gpu.stream(), sms)?;
        let mut probe = FmaBufs::new(&other, sms)?;
        gpu.stream().synchronize()?;
        other.synchronize()?;
        launch_seed(gpu.stream(), k, &mut long, iters)?;
        std::thread::sleep(Duration::from_millis(30));
        launch_probe(&other, k, &mut probe, warps * 32, smem, PROBE_ITERS)?;
        other.synchronize()?;
        gpu.stream().synchronize()?;
        let run = ProbeRun { warps, smem, blocks: probe.records(&other)? };
        out.push(analyse(&run, &solo, &long.records(gpu.stream())?, true, None));
    }
    Ok(out)
}

/// The fitted sharing parameters and what they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharingFit {
    pub warps_to_saturate: Option<f64>,
    pub carveout_locked_in_context: Option<bool>,
    pub carveout_locked_across_clients: Option<bool>,
    pub cross_client_min_issue_share: Option<f64>,
}

/// One line per variant, for the progress output.
pub fn summary(results: &[Coresidence]) -> String {
    results
        .iter()
        .map(|c| {
            format!(
                "{}w/{}B: {:.0}% beside on {} SMs, x{:.2}",
                c.warps,
                c.smem,
                c.coresident * 100.0,
                c.probe_sms,
                c.slowdown
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether a variant ran beside the long kernel. Across MPS clients `%smid` values do not match,
/// so there a variant counts as kept out when it ran on at most 3/4 as many SMs as the 32-warp
/// probe without shared memory (it only found the SMs the other client left empty: after a
/// probe has waited for a boundary, the other client's next kernel may pack two blocks per SM).
pub fn beside(results: &[Coresidence], r: &Coresidence, same_sm_ids: bool) -> bool {
    if same_sm_ids {
        return r.coresident >= 0.5;
    }
    let base = results.iter().find(|x| x.warps == 32 && x.smem == 0).map(|x| x.probe_sms).unwrap_or(0);
    r.coresident >= 0.5 && r.probe_sms * 4 > base * 3
}

/// The largest block shared memory (with its reservation) that still ran beside the long
/// kernel, and whether the largest probe was kept out (the carve-out did not grow for it).
pub fn carveout_fit(results: &[Coresidence], same_sm_ids: bool) -> Option<(u32, bool)> {
    let smem: Vec<&Coresidence> = results.iter().filter(|r| r.smem > 0).collect();
    let largest = smem.iter().max_by_key(|r| r.smem)?;
    let locked = !beside(results, largest, same_sm_ids);
    let slack = smem.iter().filter(|r| beside(results, r, same_sm_ids)).map(|r| r.smem + RESERVED).max().unwrap_or(0);
    Some((if locked { slack } else { 0 }, locked))
}

/// The share of issue slots a newer 32-warp block got beside a saturating incumbent: its
/// demand alone, min(1, 32 / saturation), over its slowdown.
pub fn newcomer_share(results: &[Coresidence], warps_to_saturate: f64, same_sm_ids: bool) -> Option<f64> {
    let r = results.iter().find(|r| r.warps == 32 && r.smem == 0 && beside(results, r, same_sm_ids))?;
    let demand = (32.0 / warps_to_saturate).min(1.0);
    Some((demand / r.slowdown.max(1.0)).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(warps: u32, blocks: Vec<(u64, u64, u32)>) -> ProbeRun {
        ProbeRun { warps, smem: 0, blocks }
    }

    #[test]
    fn coresident_and_slowdown() {
        let long = vec![(0, 100_000, 0), (0, 100_000, 1)];
        let solo = run(32, vec![(0, 1000, 0), (0, 1000, 1)]);
        // Both blocks started inside the long blocks and took 30x longer.
        let beside = run(32, vec![(50_000, 80_000, 0), (50_000, 80_000, 1)]);
        let a = analyse(&beside, &solo, &long, true, None);
        assert_eq!(analyse(&beside, &solo, &long, false, Some(1_000)).coresident, 1.0);
        assert_eq!(a.coresident, 1.0);
        assert!((a.slowdown - 30.0).abs() < 1e-9);
        // Started only when the long blocks had left: waited.
        let waited = run(32, vec![(100_000, 101_000, 0), (100_500, 101_500, 1)]);
        assert_eq!(analyse(&waited, &solo, &long, true, None).coresident, 0.0);
        // Across clients: the run before ended 500 ms earlier: it waited.
        let late = run(32, vec![(600_000_000, 600_001_000, 0)]);
        let long_late = vec![(0, 600_000_000, 0), (600_000_500, 900_000_000, 0)];
        assert_eq!(analyse(&late, &solo, &long_late, false, Some(100_000_000)).coresident, 0.0);
    }

    fn c() -> Coresidence {
        Coresidence {
            warps: 0,
            smem: 0,
            coresident: 0.0,
            slowdown: 1.0,
            probe_sms: 0,
            long_blocks_per_sm: 0,
            start_vs_long_end_us: 0.0,
            start_gap_us: 0.0,
            probe_blocks: vec![],
            long_blocks: vec![],
        }
    }

    #[test]
    fn fits_from_results() {
        let r = vec![
            Coresidence { warps: 32, smem: 0, coresident: 1.0, slowdown: 1.25, probe_sms: 132, ..c() },
            Coresidence { warps: 32, smem: 128, coresident: 1.0, slowdown: 1.3, probe_sms: 132, ..c() },
            Coresidence { warps: 32, smem: 4096, coresident: 0.0, slowdown: 1.0, probe_sms: 60, ..c() },
            Coresidence { warps: 32, smem: 49152, coresident: 0.0, slowdown: 1.0, probe_sms: 60, ..c() },
        ];
        assert_eq!(carveout_fit(&r, true), Some((128 + 1024, true)));
        assert!((newcomer_share(&r, 4.0, true).unwrap() - 0.8).abs() < 1e-9);
        // Across clients: the timing said "beside", but on few SMs: kept out.
        let mut x = r.clone();
        x[2].coresident = 1.0;
        x[2].probe_sms = 20;
        x[3].coresident = 1.0;
        x[3].probe_sms = 20;
        assert_eq!(carveout_fit(&x, false), Some((128 + 1024, true)));
        assert_eq!(carveout_fit(&r[..1], true), None);
    }
}
