//! Running a bound workload: one engine per GPU of the layout (GPUs do not interact yet), and
//! one report for them all.

use crate::engine::Engine;
use crate::report::{GpuStats, Report, SimStats};
use crate::trace::Recording;
use crate::workload::Workload;

/// Runs a workload to its end and reports. `record`: also return a recording for traces/plots.
pub fn run(w: &Workload, record: bool) -> (Report, Option<Recording>) {
    let mut reports = Vec::with_capacity(w.gpus.len());
    let mut first_rec = None;
    for (i, g) in w.gpus.iter().enumerate() {
        let mut e = Engine::new(g, record && i == 0);
        while e.step() {}
        let (r, rec) = e.finish();
        if first_rec.is_none() {
            first_rec = rec;
        }
        reports.push(r);
    }
    if reports.len() == 1 {
        return (reports.remove(0), first_rec);
    }
    (merge(w, reports), first_rec)
}

/// One report for several GPUs: every client, and GPU statistics averaged over the GPUs.
fn merge(w: &Workload, reports: Vec<Report>) -> Report {
    let stats: Vec<&GpuStats> = reports.iter().map(|r| &r.gpu_stats).collect();
    let n = stats.len() as f64;
    let avg = |f: fn(&GpuStats) -> f64| stats.iter().map(|s| f(s)).sum::<f64>() / n;
    let gpu_stats = GpuStats {
        gpus: stats.len() as u32,
        avg_power_w: avg(|s| s.avg_power_w),
        max_power_w: stats.iter().map(|s| s.max_power_w).fold(0.0, f64::max),
        avg_sm_clock_mhz: avg(|s| s.avg_sm_clock_mhz),
        min_sm_clock_mhz: stats.iter().map(|s| s.min_sm_clock_mhz).fold(f64::INFINITY, f64::min),
        sm_busy_fraction: avg(|s| s.sm_busy_fraction),
        avg_dram_gbs: avg(|s| s.avg_dram_gbs),
        context_switches: stats.iter().map(|s| s.context_switches).sum(),
    };
    let events = reports.iter().map(|r| r.sim.events).sum();
    let simulated_s = reports.iter().map(|r| r.simulated_s).fold(0.0, f64::max);
    // Clients in the workload's order, wherever the layout put them.
    let globals = w.gpus.iter().flat_map(|g| g.clients.iter().map(|c| c.global));
    let mut clients: Vec<_> = globals.zip(reports.into_iter().flat_map(|r| r.clients)).collect();
    clients.sort_by_key(|(g, _)| *g);
    Report {
        scenario: w.name.clone(),
        gpu: w.gpu_name.clone(),
        sharing: w.label.clone(),
        seed: w.seed,
        simulated_s,
        clients: clients.into_iter().map(|(_, c)| c).collect(),
        gpu_stats,
        sim: SimStats { events, wall_ms: 0.0 },
    }
}
