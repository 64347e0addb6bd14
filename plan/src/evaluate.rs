//! One unit, simulated: its memory checked first (a layout that does not fit is a result, never
//! a simulation), then its clients run closed-loop at full load over a window that doubles until
//! every client's throughput is known to the plan's confidence target.

use crate::file::{PlanSpec, SimSettings};
use crate::layouts::Unit;
use serde::{Deserialize, Serialize};
use simgpu_sim::spec::{ClientSpec, GpuLayout, Layout, Member, Partition, Slice, WorkloadSpec};
use simgpu_sim::{RunOptions, Workload};
use simgpu_workloads::{client, memory, StepRequest};

/// Most events one simulation of a unit may take (a few seconds of wall time).
const MAX_EVENTS: u64 = 400_000_000;

/// What one unit serves of one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Served {
    pub workload: String,
    /// Summed over the unit's replicas of the workload, per copy of the unit.
    pub throughput_per_s: f64,
    /// Half-width of its 95% confidence interval (replicas' in quadrature); None when a
    /// replica's window held too few batches to tell.
    pub ci95_per_s: Option<f64>,
    /// The slowest replica's p99 step latency, ms (None: no step completed).
    pub p99_ms: Option<f64>,
}

/// The outcome of one unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitResult {
    pub id: usize,
    pub gpu: String,
    pub label: String,
    pub gpus: u32,
    /// Why it was not simulated (memory, an impossible placement, dominance); None if it was.
    pub pruned: Option<String>,
    /// Per workload in the unit.
    pub served: Vec<Served>,
    /// Simulated seconds of the last window.
    pub window_s: f64,
    pub avg_power_w: f64,
    pub avg_sm_clock_mhz: f64,
    pub events: u64,
}

impl UnitResult {
    pub fn pruned(plan: &PlanSpec, u: &Unit, why: String) -> UnitResult {
        UnitResult {
            id: u.id,
            gpu: plan.gpus[u.gpu].name.clone(),
            label: u.label.clone(),
            gpus: u.gpus.len() as u32,
            pruned: Some(why),
            served: Vec::new(),
            window_s: 0.0,
            avg_power_w: 0.0,
            avg_sm_clock_mhz: 0.0,
            events: 0,
        }
    }

    /// What it serves of workload `name` per copy (0 when it runs none).
    pub fn throughput(&self, name: &str) -> f64 {
        self.served.iter().find(|s| s.workload == name).map_or(0.0, |s| s.throughput_per_s)
    }
}

/// Workload `w`'s step on GPU type `gpu` as one rank of `tp`.
fn step_client(plan: &PlanSpec, gpu: usize, w: usize, name: &str, tp: u32) -> Result<ClientSpec, String> {
    let g = &plan.gpus[gpu];
    let wl = &plan.workloads[w];
    let req = StepRequest {
        phase: wl.phase,
        weight_bytes: wl.weight_bytes,
        launch: wl.launch_on(&g.profile),
        tp: tp as u64,
        engine: wl.engine,
    };
    client(name, &wl.config, &req, simgpu_workloads::Gpu::from_profile(&g.profile))
}

/// The client specs of a unit on its GPU type.
fn client_specs(plan: &PlanSpec, u: &Unit) -> Result<Vec<ClientSpec>, String> {
    u.clients.iter().map(|c| step_client(plan, u.gpu, c.workload, &c.name, c.tp)).collect()
}

/// What workload `w` needs per unit of its throughput (per token, per sequence) on GPU type
/// `gpu`, one replica on one GPU, at least: DRAM bytes (every kernel of its step, by grid and
/// launches) and SM-nanoseconds (every block's FLOPs at its kind's peak per SM at the highest
/// clock: no block runs faster on an SM).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Needs {
    pub dram_bytes: f64,
    pub sm_ns: f64,
}

pub fn needs_per_unit(plan: &PlanSpec, gpu: usize, w: usize) -> Result<Needs, String> {
    let g = &plan.gpus[gpu];
    let c = step_client(plan, gpu, w, &plan.workloads[w].name, 1)?;
    let ghz = g.profile.clock.max_sm_mhz.value / 1000.0;
    let (mut bytes, mut ns) = (0.0, 0.0);
    for (i, times) in c.launch_sequence() {
        let k = &c.kernels[i];
        let launched = k.grid as f64 * times as f64;
        bytes += launched * k.per_block.dram_bytes;
        let peak = g.profile.rates.per_clk(k.op) * ghz;
        if peak > 0.0 {
            ns += launched * k.per_block.flops / peak;
        }
    }
    Ok(Needs { dram_bytes: bytes / c.units_per_request, sm_ns: ns / c.units_per_request })
}

/// The most DRAM bytes per second a pool with `share` of the GPU's memory bandwidth can move:
/// the simulator's pool holds the read bandwidth, and a written byte costs no less than the
/// cheaper of a read and a write.
pub fn pool_bytes_per_s(plan: &PlanSpec, gpu: usize, share: f64) -> f64 {
    let m = &plan.gpus[gpu].profile.memory;
    m.read_bw_gbs.value * 1e9 * share / m.write_cost().clamp(1e-3, 1.0)
}

/// The unit's layout in the simulator's terms.
fn layout(u: &Unit) -> Layout {
    let gpus = u
        .gpus
        .iter()
        .map(|parts| GpuLayout {
            partitions: parts
                .iter()
                .map(|p| Partition {
                    slice: p.slice.clone(),
                    sharing: p.sharing,
                    members: p
                        .members
                        .iter()
                        .map(|&(client, pct)| Member { client, mps_thread_percentage: pct })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Layout { label: u.label.clone(), gpus }
}

/// Whether the unit's processes fit in memory: per GPU, every process on it, and per MIG
/// instance its own; an explanation when not.
pub fn memory_fit(plan: &PlanSpec, u: &Unit) -> Result<(), String> {
    let g = &plan.gpus[u.gpu];
    let gb = |x: f64| x / 1e9;
    let need = |ci: usize| -> Result<f64, String> {
        let c = &u.clients[ci];
        let wl = &plan.workloads[c.workload];
        let shard = wl.config.shard(c.tp as u64)?;
        Ok(memory::footprint(&shard, wl.phase, wl.weight_bytes, wl.context_bytes).total())
    };
    let capacity = g.profile.memory.capacity_gb.value * 1e9;
    for (gi, parts) in u.gpus.iter().enumerate() {
        let mut total = 0.0;
        for p in parts {
            let mut here = 0.0;
            for &(ci, _) in &p.members {
                here += need(ci)?;
            }
            if let Slice::Mig { profile, .. } = &p.slice {
                let table = g.profile.partitioning.as_ref().map(|t| &t.mig);
                let cap =
                    table.and_then(|t| t.profiles.iter().find(|m| &m.name == profile)).map_or(0.0, |m| m.memory_gib);
                let cap = cap * (1u64 << 30) as f64;
                if here > cap {
                    return Err(format!(
                        "does not fit: instance {profile} on GPU {gi} needs {:.1} GB, has {:.1} GB",
                        gb(here),
                        gb(cap)
                    ));
                }
            }
            total += here;
        }
        if total > capacity {
            return Err(format!("does not fit: GPU {gi} needs {:.1} GB, has {:.1} GB", gb(total), gb(capacity)));
        }
    }
    Ok(())
}

/// Simulates a unit (which fits) until its throughputs are known to the target, or the window
/// reaches its maximum; an error when the layout cannot be built or the run stops. Each longer
/// window continues the run of the last (`simgpu_sim::Windows`), reporting what a fresh run to
/// it would.
pub fn simulate(plan: &PlanSpec, u: &Unit, stop: &(dyn Fn() -> bool + Sync)) -> Result<UnitResult, String> {
    let g = &plan.gpus[u.gpu];
    let clients = client_specs(plan, u)?;
    let lay = layout(u);
    let SimSettings { window_s, max_window_s, ci_target } = plan.sim;
    let mut window = window_s;
    // One run to the longest window, reporting at each window it reaches: what fresh runs to
    // each give, without simulating the start again (a layout over several GPUs runs afresh).
    let longest_spec =
        WorkloadSpec { name: format!("{}-{}", plan.name, u.id), seed: plan.seed, duration_s: max_window_s, clients };
    let build = |duration_s: f64| {
        let spec = WorkloadSpec { duration_s, ..longest_spec.clone() };
        Workload::build(&spec, &lay, &g.profile).map_err(|e| format!("not a valid layout: {e}"))
    };
    let longest_run = build(max_window_s)?;
    let mut windows = simgpu_sim::Windows::new(&longest_run);
    loop {
        let mut keep_going = |_: simgpu_sim::Progress| !stop();
        let r = match windows.as_mut() {
            Some(runs) => runs.report_at((window * 1e9) as u64, Some(MAX_EVENTS), Some(&mut keep_going)),
            None => {
                let opts = RunOptions {
                    max_events: Some(MAX_EVENTS),
                    progress: Some(&mut keep_going),
                    ..RunOptions::default()
                };
                simgpu_sim::run_with(&build(window)?, opts)
            }
        };
        let r = r.map_err(|s| format!("simulation stopped: {}", s.error))?;
        // Per workload: the sums over its replicas.
        let mut served: Vec<Served> = Vec::new();
        for (ci, c) in u.clients.iter().enumerate() {
            let name = &plan.workloads[c.workload].name;
            let cr = r.clients.iter().find(|x| x.name == c.name).unwrap_or(&r.clients[ci]);
            let p99 = cr.latency_us.as_ref().map(|l| l.p99 / 1e3);
            let ci95 = cr.throughput_ci95_per_s;
            match served.iter_mut().find(|s| &s.workload == name) {
                Some(s) => {
                    s.throughput_per_s += cr.throughput_per_s;
                    s.ci95_per_s = s.ci95_per_s.zip(ci95).map(|(a, b)| (a * a + b * b).sqrt());
                    s.p99_ms = match (s.p99_ms, p99) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                }
                None => served.push(Served {
                    workload: name.clone(),
                    throughput_per_s: cr.throughput_per_s,
                    ci95_per_s: ci95,
                    p99_ms: p99,
                }),
            }
        }
        // The widest interval of a workload's throughput (its replicas together, as fleets use
        // it) relative to that throughput; infinite where not known.
        let widest = served.iter().fold(0.0f64, |m, s| match s.ci95_per_s {
            Some(h) if s.throughput_per_s > 0.0 => m.max(h / s.throughput_per_s),
            _ => f64::INFINITY,
        });
        let longest = window >= max_window_s * (1.0 - 1e-9);
        if longest {
            if let Some(s) = served.iter().find(|s| s.throughput_per_s <= 0.0) {
                // A step longer than the window (an eager mixture of experts' takes seconds).
                return Err(format!(
                    "no step of `{}` finished in the longest window ({max_window_s} s) after its warm-up step: \
                     raise [simulation] max_window_s",
                    s.workload
                ));
            }
        }
        if widest <= ci_target || longest {
            return Ok(UnitResult {
                id: u.id,
                gpu: g.name.clone(),
                label: u.label.clone(),
                gpus: u.gpus.len() as u32,
                pruned: None,
                served,
                window_s: window,
                avg_power_w: r.gpu_stats.avg_power_w,
                avg_sm_clock_mhz: r.gpu_stats.avg_sm_clock_mhz,
                events: r.sim.events,
            });
        }
        // Batch means narrow as one over the root of the window: go to the window that should
        // reach the target (a fifth more, at least twice as long), or the longest.
        let factor = if widest.is_finite() { ((widest / ci_target).powi(2) * 1.2).max(2.0) } else { 4.0 };
        window = (window * factor).min(max_window_s);
    }
}
