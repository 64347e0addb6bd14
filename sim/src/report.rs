//! What a run reports. Field names are a stable interface (`simgpu run --json`).

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub scenario: String,
    pub gpu: String,
    /// The GPU profile the run used.
    pub profile: ProfileUsed,
    pub sharing: String,
    pub seed: u64,
    pub simulated_s: f64,
    pub clients: Vec<ClientReport>,
    pub gpu_stats: GpuStats,
    /// With several GPUs, each one's statistics (GPU order of the layout); `gpu_stats` averages them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_gpu: Vec<GpuStats>,
    pub sim: SimStats,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClientReport {
    pub name: String,
    pub throughput_per_s: f64,
    pub unit: String,
    pub requests_completed: u64,
    /// Half-width of the throughput's 95% confidence interval (batch means over sixteen slices of
    /// the horizon), when at least four whole slices lie in the measured window. Read by the
    /// planner; not part of `simgpu run --json`.
    #[serde(skip)]
    pub throughput_ci95_per_s: Option<f64>,
    /// "host" (issue to completion) or "cuda_events" (start event on the GPU to completion).
    pub timing: String,
    /// None (JSON null) when no request was measured.
    pub latency_us: Option<Percentiles>,
    /// SMs the client may occupy (MPS cap after rounding; the SM count otherwise).
    pub sm_cap: u32,
    /// Where it ran when the layout has several GPUs or hard partitions: `gpu 0: 3g.40gb mps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    /// Kernels by name (entries of the same name together), most GPU time first.
    pub kernels: Vec<KernelSummary>,
    /// Every kernel entry of the scenario apart, in stream order (left out of `simgpu run`'s
    /// output unless asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_entries: Option<Vec<KernelReport>>,
    /// Its time in the measured window by state, when the run accounted time
    /// ([`crate::RunOptions::account_time`]); the input of `slowdown`.
    #[serde(skip)]
    pub time_account: Option<crate::slowdown::TimeAccount>,
    /// What it lost against running alone, and what from (filled in by
    /// [`crate::slowdown::attribute_all`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slowdown: Option<crate::slowdown::Slowdown>,
}

/// The kernels of one name in a client: how often they ran and their share of its GPU time.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KernelSummary {
    pub name: String,
    /// Kernel entries of this name (a GEMM of several shapes is several).
    pub entries: u64,
    pub launches: u64,
    pub completed: u64,
    /// Sum of the completed launches' durations.
    pub total_us: f64,
    pub mean_us: f64,
    /// total_us over the sum for all of the client's kernels (0 when none completed).
    pub share: f64,
}

impl KernelSummary {
    /// Groups entries by name, most GPU time first (ties by first appearance).
    pub fn of(entries: &[KernelReport]) -> Vec<KernelSummary> {
        let mut out: Vec<KernelSummary> = Vec::new();
        for e in entries {
            let total = e.duration_us.as_ref().map_or(0.0, |d| d.mean * e.completed as f64);
            match out.iter_mut().find(|s| s.name == e.name) {
                Some(s) => {
                    s.entries += 1;
                    s.launches += e.launches;
                    s.completed += e.completed;
                    s.total_us += total;
                }
                None => out.push(KernelSummary {
                    name: e.name.clone(),
                    entries: 1,
                    launches: e.launches,
                    completed: e.completed,
                    total_us: total,
                    mean_us: 0.0,
                    share: 0.0,
                }),
            }
        }
        let all: f64 = out.iter().map(|s| s.total_us).sum();
        for s in &mut out {
            s.mean_us = if s.completed > 0 { s.total_us / s.completed as f64 } else { 0.0 };
            s.share = if all > 0.0 { s.total_us / all } else { 0.0 };
        }
        out.sort_by(|a, b| b.total_us.total_cmp(&a.total_us));
        out
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KernelReport {
    pub name: String,
    pub launches: u64,
    pub completed: u64,
    /// From the first block's start to the last block's end, as a profiler shows it.
    pub duration_us: Option<Percentiles>,
}

/// Which GPU profile a run used, so that a number can be traced to its parameters.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ProfileUsed {
    pub name: String,
    /// "built-in" or the file it was read from (filled in by the caller that loaded it).
    pub origin: String,
    /// Whether any parameter comes from a calibration run.
    pub calibrated: bool,
    /// The calibration run's date (YYYY-MM-DD), when calibrated.
    pub calibration_date: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub mean: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles; sorts `v` in place. All zero when empty.
    pub fn of(v: &mut [f64]) -> Percentiles {
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            max: v[v.len() - 1],
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct GpuStats {
    /// GPUs simulated (dedicated mode: one per client); the figures below are averages over them.
    pub gpus: u32,
    pub avg_power_w: f64,
    /// Highest average over one power-controller period (what NVML shows and the limiter acts on).
    pub max_power_w: f64,
    pub avg_sm_clock_mhz: f64,
    pub min_sm_clock_mhz: f64,
    /// The clock the SMs ran at: the controller's, or lower where the fast power limiter held it
    /// (NVML reports the controller's).
    pub avg_effective_sm_clock_mhz: f64,
    /// Time-averaged share of SMs holding at least one running block.
    pub sm_busy_fraction: f64,
    pub avg_dram_gbs: f64,
    pub context_switches: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct SimStats {
    /// Events taken from the queue plus cohort completions (power-controller ticks apart).
    pub events: u64,
    /// Power-controller periods ended (one every `clock.period_ms`, kept out of the queue).
    pub controller_ticks: u64,
    /// Of those, ticks taken in a batch while the controller sat at a fixed point (no event in
    /// the period, clock held): only their statistics are kept, with the same results.
    pub ticks_fast_forwarded: u64,
    /// Mean number of pending events in the queue when one was taken (the heap size a fair
    /// yardstick uses).
    pub mean_pending_events: f64,
    /// Filled in by the caller, which owns the clock on the wall.
    pub wall_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(&mut []).p50, 0.0);
        assert_eq!(Percentiles::of(&mut [7.0]).p99, 7.0);
    }
}
