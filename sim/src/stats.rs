//! Statistics of one GPU's run, and the report built from them. The engine tells them what
//! happened (a request started or completed, a launch completed, time passed at some power);
//! they never look into the engine.

use crate::event_queue::Ns;
use crate::power::Activity;
use crate::report::{ClientReport, GpuStats, KernelReport, Percentiles, Report, SimStats};
use crate::workload::GpuWorkload;

#[derive(Debug, Default, Clone)]
struct ClientStats {
    latencies_us: Vec<f64>,
    /// The measured window: from the first measured request's issue to the last completion.
    window_start: Ns,
    last_done: Ns,
    finished: bool,
}

#[derive(Debug, Default, Clone)]
struct KernelStats {
    launches: u64,
    completed: u64,
    durations_us: Vec<f64>,
}

/// Time integrals for the GPU statistics.
#[derive(Debug, Default, Clone, Copy)]
struct Integrals {
    energy_j: f64,
    clock_ns: f64,
    busy_sm_ns: f64,
    dram_bytes: f64,
    max_power: f64,
    min_clock: f64,
    period_energy: f64,
}

#[derive(Debug)]
pub(crate) struct Stats {
    clients: Vec<ClientStats>,
    kernels: Vec<KernelStats>,
    warmup: Vec<u64>,
    integ: Integrals,
}

impl Stats {
    pub fn new(w: &GpuWorkload, clock_mhz: f64, idle_w: f64) -> Stats {
        let clients = w
            .clients
            .iter()
            .map(|c| ClientStats {
                latencies_us: Vec::with_capacity(c.requests.unwrap_or(0).min(1 << 20) as usize),
                ..ClientStats::default()
            })
            .collect();
        Stats {
            clients,
            kernels: vec![KernelStats::default(); w.kernels.len()],
            warmup: w.clients.iter().map(|c| c.warmup).collect(),
            integ: Integrals { min_clock: clock_mhz, max_power: idle_w, ..Integrals::default() },
        }
    }

    /// `dt` ns passed at this power, clock and activity.
    pub fn advance(&mut self, dt: Ns, watts: f64, clock_mhz: f64, a: &Activity) {
        let dtf = dt as f64;
        let j = watts * dtf * 1e-9;
        let i = &mut self.integ;
        i.energy_j += j;
        i.period_energy += j;
        i.clock_ns += clock_mhz * dtf;
        i.busy_sm_ns += a.active_sms * dtf;
        i.dram_bytes += a.dram_gbs * dtf;
    }

    /// Energy since the last call (the controller's period), in joules.
    pub fn take_period_energy(&mut self) -> f64 {
        std::mem::take(&mut self.integ.period_energy)
    }

    pub fn power_sampled(&mut self, watts: f64) {
        self.integ.max_power = self.integ.max_power.max(watts);
    }

    pub fn clock_moved(&mut self, mhz: f64) {
        self.integ.min_clock = self.integ.min_clock.min(mhz);
    }

    pub fn launched(&mut self, kernel: u32) {
        self.kernels[kernel as usize].launches += 1;
    }

    pub fn launch_done(&mut self, kernel: u32, duration: Ns) {
        let k = &mut self.kernels[kernel as usize];
        k.completed += 1;
        k.durations_us.push(duration as f64 / 1e3);
    }

    /// Request number `n` (from 1) of a client was issued at `issue`.
    pub fn request_started(&mut self, ci: usize, n: u64, issue: Ns) {
        if n == self.warmup[ci] + 1 {
            self.clients[ci].window_start = issue;
        }
    }

    /// Request number `n` (from 1) completed at `now` after `latency`.
    pub fn request_done(&mut self, ci: usize, n: u64, now: Ns, latency: Ns) {
        if n > self.warmup[ci] {
            let c = &mut self.clients[ci];
            c.latencies_us.push(latency as f64 / 1e3);
            c.last_done = now;
        }
    }

    pub fn client_finished(&mut self, ci: usize) {
        self.clients[ci].finished = true;
    }

    /// Blocks launched and completed so far, over all kernels.
    pub fn block_counts(&self, w: &GpuWorkload) -> (u64, u64) {
        let launched = self.kernels.iter().zip(&w.kernels).map(|(s, k)| s.launches * k.grid).sum();
        let completed = self.kernels.iter().zip(&w.kernels).map(|(s, k)| s.completed * k.grid).sum();
        (launched, completed)
    }

    /// The report of a run that ended at `now`.
    pub fn report(mut self, w: &GpuWorkload, now: Ns, events: u64, context_switches: u64) -> Report {
        let sim_ns = now.max(1) as f64;
        let mut clients = Vec::new();
        for (ci, c) in w.clients.iter().enumerate() {
            let s = &mut self.clients[ci];
            let n = s.latencies_us.len() as u64;
            let end = if s.finished { s.last_done } else { now };
            let window = end.saturating_sub(s.window_start) as f64 / 1e9;
            let throughput = if window > 0.0 { n as f64 * c.units_per_request / window } else { 0.0 };
            let kernels = c
                .kernel_ids
                .iter()
                .map(|&k| {
                    let ks = &mut self.kernels[k as usize];
                    KernelReport {
                        name: w.kernels[k as usize].name.clone(),
                        launches: ks.launches,
                        completed: ks.completed,
                        duration_us: Percentiles::of(&mut ks.durations_us),
                    }
                })
                .collect();
            clients.push(ClientReport {
                name: c.name.clone(),
                throughput_per_s: throughput,
                unit: c.unit.clone(),
                requests_completed: n,
                timing: c.timing.as_str().into(),
                latency_us: Percentiles::of(&mut s.latencies_us),
                sm_cap: c.sm_cap,
                kernels,
            });
        }
        let i = &self.integ;
        let gpu_stats = GpuStats {
            gpus: 1,
            avg_power_w: i.energy_j / (sim_ns * 1e-9),
            max_power_w: i.max_power,
            avg_sm_clock_mhz: i.clock_ns / sim_ns,
            min_sm_clock_mhz: i.min_clock,
            sm_busy_fraction: i.busy_sm_ns / sim_ns / w.params.n_sms as f64,
            avg_dram_gbs: i.dram_bytes / sim_ns,
            context_switches,
        };
        Report {
            scenario: w.name.clone(),
            gpu: w.gpu_name.clone(),
            sharing: w.label.clone(),
            seed: w.seed,
            simulated_s: now as f64 / 1e9,
            clients,
            gpu_stats,
            sim: SimStats { events, wall_ms: 0.0 },
        }
    }
}
