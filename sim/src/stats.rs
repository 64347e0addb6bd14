//! Statistics of one GPU's run, and the report built from them. The engine tells them what
//! happened (a request started or completed, a launch completed, time passed at some power);
//! they never look into the engine.

use crate::event_queue::Ns;
use crate::power::Activity;
use crate::report::{ClientReport, GpuStats, KernelReport, KernelSummary, Report, SimStats};
use crate::samples::Samples;
use crate::slowdown::{Cause, Lost, TimeAccount};
use crate::workload::GpuWorkload;

#[derive(Debug, Default, Clone)]
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
    /// Measured requests' work per time batch (`BATCHES` equal slices of the horizon), each
    /// request spread evenly over its latency (no quantisation to whole requests): the batch
    /// means behind the throughput's confidence interval.
    batches: [f64; BATCHES],
    /// Measured requests as (issue, completion), in completion order, where the horizon the
    /// batches divide is not known until the report (`Stats::keep_spans`).
    spans: Vec<(Ns, Ns)>,
}

/// Time batches of the horizon for the throughput's confidence interval (batch means).
const BATCHES: usize = 16;
/// Fewest whole batches inside the measured window for an interval.
const MIN_BATCHES: usize = 4;

#[derive(Debug, Default, Clone)]
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

#[derive(Debug, Clone)]
pub(crate) struct Stats {
    clients: Vec<ClientStats>,
    kernels: Vec<KernelStats>,
    warmup: Vec<u64>,
    integ: Integrals,
    /// Whether clients' time is accounted by state (for slowdown attribution).
    accounting: bool,
    /// The horizon the batches divide.
    horizon: Ns,
    /// Requests are kept as spans and spread into batches at the report (see `keep_spans`).
    keep_spans: bool,
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
            horizon: w.horizon_ns.max(1),
            keep_spans: false,
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

    /// Keep measured requests as spans until the report, which spreads them over its own
    /// horizon (`set_horizon`) in the order they completed: the same batches, to the bit, as
    /// spreading each at its completion. Memory grows with the requests: for runs that report
    /// at several horizons, which are short.
    pub fn keep_spans(&mut self) {
        self.keep_spans = true;
    }

    pub fn keeps_spans(&self) -> bool {
        self.keep_spans
    }

    /// The horizon the batches divide (a run reporting before its workload's horizon).
    pub fn set_horizon(&mut self, horizon: Ns) {
        self.horizon = horizon.max(1);
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
            let start = now.saturating_sub(latency);
            if self.keep_spans {
                c.spans.push((start, now));
            } else {
                spread(&mut c.batches, start, now, self.horizon);
            }
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
            for &(start, done) in &s.spans {
                spread(&mut s.batches, start, done, self.horizon);
            }
            let ci95 = batch_means_ci95(&s.batches, s.window_start, end, self.horizon, c.units_per_request);
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
                throughput_ci95_per_s: ci95,
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

/// The batch a time before the horizon falls in.
fn batch_of(t: Ns, horizon: Ns) -> usize {
    ((t as u128 * BATCHES as u128 / horizon as u128) as usize).min(BATCHES - 1)
}

/// Start of batch `i`.
fn edge(i: usize, horizon: Ns) -> Ns {
    (horizon as u128 * i as u128 / BATCHES as u128) as Ns
}

/// Adds one request over `[start, end]` to the batches it overlaps, in proportion (a request of
/// zero length counts whole where it ends); nothing past the horizon.
fn spread(batches: &mut [f64; BATCHES], start: Ns, end: Ns, horizon: Ns) {
    if start >= horizon {
        return;
    }
    if end <= start {
        batches[batch_of(start, horizon)] += 1.0;
        return;
    }
    let len = (end - start) as f64;
    let (first, last) = (batch_of(start, horizon), batch_of(end.min(horizon - 1), horizon));
    for (i, b) in batches.iter_mut().enumerate().take(last + 1).skip(first) {
        let (lo, hi) = (edge(i, horizon).max(start), edge(i + 1, horizon).min(end));
        if hi > lo {
            *b += (hi - lo) as f64 / len;
        }
    }
}

/// The half-width of the 95% confidence interval of the throughput by batch means: the
/// throughput of each whole batch inside the window `[start, end]`, their standard deviation
/// over the square root of their number, times Student's t. None with fewer than
/// `MIN_BATCHES` whole batches (a short window, or requests that stopped early).
fn batch_means_ci95(batches: &[f64; BATCHES], start: Ns, end: Ns, horizon: Ns, units: f64) -> Option<f64> {
    let edge = |i: usize| edge(i, horizon);
    let whole: Vec<f64> = (0..BATCHES)
        .filter(|&i| edge(i) >= start && edge(i + 1) <= end)
        .map(|i| batches[i] * units / ((edge(i + 1) - edge(i)) as f64 / 1e9))
        .collect();
    let b = whole.len();
    if b < MIN_BATCHES {
        return None;
    }
    let mean = whole.iter().sum::<f64>() / b as f64;
    let var = whole.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (b - 1) as f64;
    Some(student_t975(b - 1) * (var / b as f64).sqrt())
}

/// Student's t at 97.5% for `df` degrees of freedom (3 to 15, the batch counts possible).
fn student_t975(df: usize) -> f64 {
    const T: [f64; 13] = [3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131];
    T[df.clamp(3, 15) - 3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_means_interval() {
        // Every batch the same: no spread, a zero-width interval.
        let even = [10.0; BATCHES];
        assert_eq!(batch_means_ci95(&even, 0, 16_000, 16_000, 1.0), Some(0.0));
        // Batches before the window's start and after its end do not count.
        assert_eq!(batch_means_ci95(&even, 13_500, 16_000, 16_000, 1.0), None);
        // One batch of 1000 per second (1000 ns batches, 1 request each is 1e6/s) and one of
        // twice that alternate: mean 1.5e6, sd 0.5164e6 over 16, t(15) 2.131.
        let mut alt = [1.0; BATCHES];
        alt.iter_mut().skip(1).step_by(2).for_each(|x| *x = 2.0);
        let ci = batch_means_ci95(&alt, 0, 16_000, 16_000, 1.0).unwrap();
        let sd = (16.0 * 0.25e12 / 15.0f64).sqrt();
        assert!((ci - 2.131 * sd / 4.0).abs() < 1.0, "{ci}");
        assert_eq!(batch_of(15_999, 16_000), 15);
        assert_eq!(batch_of(u64::MAX - 1, u64::MAX), 15, "no overflow");
    }

    #[test]
    fn requests_spread_over_their_latency() {
        let mut b = [0.0; BATCHES];
        // 1600 ns horizon: 100 ns batches. A request from 50 to 250 is a quarter, a half, a quarter.
        spread(&mut b, 50, 250, 1600);
        assert_eq!(&b[..4], &[0.25, 0.5, 0.25, 0.0]);
        spread(&mut b, 1550, 1700, 1600);
        assert!((b[15] - 1.0 / 3.0).abs() < 1e-12, "only the part before the horizon counts");
        spread(&mut b, 420, 420, 1600);
        assert_eq!(b[4], 1.0);
        // Back-to-back requests of a steady closed loop fill every batch alike: no spread.
        let mut steady = [0.0; BATCHES];
        (0..64).for_each(|i| spread(&mut steady, i * 25, (i + 1) * 25, 1600));
        assert_eq!(batch_means_ci95(&steady, 0, 1600, 1600, 1.0), Some(0.0));
    }
}
