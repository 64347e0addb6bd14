//! Statistics of one GPU's run, and the report built from them. The engine tells them what
//! happened (a request started or completed, a launch completed, time passed at some power);
//! they never look into the engine.

use crate::event_queue::Ns;
use crate::power::Activity;
use crate::report::{ClientReport, GpuStats, KernelReport, KernelSummary, Report, SimStats};
use crate::samples::Samples;
use crate::slowdown::{Cause, Lost, TimeAccount};
use crate::workload::GpuWorkload;

#[derive(Debug, Default)]
struct ClientStats {
    latencies: Samples,
    /// The measured window: from the first measured request's issue to the last completion.
    window_start: Ns,
    last_done: Ns,
    finished: bool,
    /// Time by state since the start (kept only when the run accounts time), and its values at
    /// the measured window's start and at the last measured completion.
    acct: TimeAccount,
    acct_start: TimeAccount,
    acct_end: Option<TimeAccount>,
}

#[derive(Debug, Default)]
struct KernelStats {
    launches: u64,
    completed: u64,
    durations: Samples,
}

/// Time integrals for the GPU statistics.
#[derive(Debug, Default, Clone, Copy)]
struct Integrals {
    energy_j: f64,
    clock_ns: f64,
    eff_clock_ns: f64,
    busy_sm_ns: f64,
    dram_bytes: f64,
    /// Highest average over a power-controller period (None before the first period ends).
    max_period_power: Option<f64>,
    min_clock: f64,
    period_energy: f64,
}

/// Power and clocks at the end of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AtEnd {
    pub watts: f64,
    /// The controller's clock.
    pub clock_mhz: f64,
    /// The SMs' clock (the fast limiter's).
    pub eff_mhz: f64,
}

#[derive(Debug)]
pub(crate) struct Stats {
    clients: Vec<ClientStats>,
    kernels: Vec<KernelStats>,
    warmup: Vec<u64>,
    integ: Integrals,
    /// Whether clients' time is accounted by state (for slowdown attribution).
    accounting: bool,
}

impl Stats {
    pub fn new(w: &GpuWorkload, clock_mhz: f64) -> Stats {
        let clients = w
            .clients
            .iter()
            .map(|c| ClientStats {
                latencies: Samples::with_capacity(c.requests.unwrap_or(0)),
                ..ClientStats::default()
            })
            .collect();
        Stats {
            clients,
            kernels: (0..w.kernels.len()).map(|_| KernelStats::default()).collect(),
            warmup: w.clients.iter().map(|c| c.warmup).collect(),
            integ: Integrals { min_clock: clock_mhz, ..Integrals::default() },
            accounting: false,
        }
    }

    /// `dt` ns passed at this power, controller clock, effective clock and activity.
    pub fn advance(&mut self, dt: Ns, watts: f64, clock_mhz: f64, eff_mhz: f64, a: &Activity) {
        let dtf = dt as f64;
        let j = watts * dtf * 1e-9;
        let i = &mut self.integ;
        i.energy_j += j;
        i.period_energy += j;
        i.clock_ns += clock_mhz * dtf;
        i.eff_clock_ns += eff_mhz * dtf;
        i.busy_sm_ns += a.active_sms * dtf;
        i.dram_bytes += a.dram_gbs * dtf;
    }

    /// Keep each client's time by state from now on.
    pub fn account_time(&mut self) {
        self.accounting = true;
    }

    /// Client `ci` spent `dt` ns in state `cause` (not executing).
    pub fn account(&mut self, ci: usize, cause: Cause, dt: f64) {
        self.clients[ci].acct.ns[cause as usize] += dt;
    }

    /// Client `ci` spent `dt` ns executing, with these fractions of its reference rate lost.
    pub fn account_executing(&mut self, ci: usize, dt: f64, lost: &Lost) {
        self.clients[ci].acct.add_executing(dt, lost);
    }

    /// Energy since the last call (the controller's period), in joules.
    pub fn take_period_energy(&mut self) -> f64 {
        std::mem::take(&mut self.integ.period_energy)
    }

    /// The average power of one controller period (or of the last, partial one).
    pub fn period_power(&mut self, avg_w: f64) {
        let m = &mut self.integ.max_period_power;
        *m = Some(m.map_or(avg_w, |x| x.max(avg_w)));
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
        k.durations.push(duration);
    }

    /// Request number `n` (from 1) of a client was issued at `issue`.
    pub fn request_started(&mut self, ci: usize, n: u64, issue: Ns) {
        if n == self.warmup[ci] + 1 {
            let c = &mut self.clients[ci];
            c.window_start = issue;
            c.acct_start = c.acct;
        }
    }

    /// Request number `n` (from 1) completed at `now` after `latency`.
    pub fn request_done(&mut self, ci: usize, n: u64, now: Ns, latency: Ns) {
        if n > self.warmup[ci] {
            let c = &mut self.clients[ci];
            c.latencies.push(latency);
            c.last_done = now;
            if self.accounting {
                c.acct_end = Some(c.acct);
            }
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

    /// The report of a run that ended at `now`, with the power and clocks at that instant (the
    /// averages of a run that simulated no time at all).
    pub fn report(mut self, w: &GpuWorkload, now: Ns, events: u64, context_switches: u64, at_end: AtEnd) -> Report {
        let AtEnd { watts, clock_mhz, eff_mhz } = at_end;
        let sim_ns = now.max(1) as f64;
        let mut clients = Vec::new();
        for (ci, c) in w.clients.iter().enumerate() {
            let s = &mut self.clients[ci];
            let n = s.latencies.len();
            let end = if s.finished { s.last_done } else { now };
            let window = end.saturating_sub(s.window_start) as f64 / 1e9;
            let throughput = if window > 0.0 { n as f64 * c.units_per_request / window } else { 0.0 };
            // Over the same window as the throughput.
            let time_account = self.accounting.then(|| {
                let end = if s.finished { s.acct_end.unwrap_or(s.acct) } else { s.acct };
                end.minus(&s.acct_start)
            });
            let kernels: Vec<KernelReport> = c
                .kernel_ids
                .iter()
                .map(|&k| {
                    let ks = &mut self.kernels[k as usize];
                    KernelReport {
                        name: w.kernels[k as usize].name.clone(),
                        launches: ks.launches,
                        completed: ks.completed,
                        duration_us: ks.durations.summary(),
                    }
                })
                .collect();
            clients.push(ClientReport {
                name: c.name.clone(),
                throughput_per_s: throughput,
                unit: c.unit.clone(),
                requests_completed: n,
                timing: c.timing.as_str().into(),
                latency_us: s.latencies.summary(),
                sm_cap: c.sm_cap,
                placement: c.placement.clone(),
                kernels: KernelSummary::of(&kernels),
                kernel_entries: Some(kernels),
                time_account,
                slowdown: None,
            });
        }
        let i = &self.integ;
        let zero_time = now == 0;
        let max_power_w = i.max_period_power.unwrap_or(watts);
        // An average cannot exceed the largest period average nor the clock its maximum: where
        // summing rounding says otherwise by a last bit, clamp.
        let avg_power_w = if zero_time { watts } else { (i.energy_j / (sim_ns * 1e-9)).min(max_power_w) };
        let avg_clock = if zero_time { clock_mhz } else { (i.clock_ns / sim_ns).min(w.params.clock.max_mhz) };
        let avg_eff = if zero_time { eff_mhz } else { (i.eff_clock_ns / sim_ns).min(avg_clock) };
        let gpu_stats = GpuStats {
            gpus: 1,
            avg_power_w,
            max_power_w,
            avg_sm_clock_mhz: avg_clock,
            min_sm_clock_mhz: i.min_clock,
            avg_effective_sm_clock_mhz: avg_eff,
            sm_busy_fraction: i.busy_sm_ns / sim_ns / w.params.n_sms as f64,
            avg_dram_gbs: i.dram_bytes / sim_ns,
            context_switches,
        };
        let sim =
            SimStats { events, controller_ticks: 0, ticks_fast_forwarded: 0, mean_pending_events: 0.0, wall_ms: 0.0 };
        w.meta.report(now as f64 / 1e9, clients, gpu_stats, sim)
    }
}
