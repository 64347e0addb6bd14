//! The discrete-event engine: host threads issue launches into in-order streams; the block
//! scheduler places runnable kernels on SM spaces; cohorts progress fluidly between events;
//! the time-slicer and the power controller act on their own events.
//!
//! Events in the heap are host steps, launches becoming visible on the GPU, arrivals, slice and
//! switch timers and controller ticks. Cohort completions are not queued: their times follow from
//! the fluid rates, which change only at events, so the next completion is found when rates are
//! recomputed.

use crate::event_queue::{EventQueue, Ns};
use crate::occupancy::Footprint;
use crate::placement::{CarveoutRules, Cohorts, PlaceRequest, Space};
use crate::power::{Activity, ClockController, PowerModel};
use crate::progress::{self, RateParams};
use crate::report::{ClientReport, GpuStats, KernelReport, Percentiles, Report, SimStats};
use crate::rng::Rng;
use crate::scenario::{Sharing, Timing};
use crate::slab::Slab;
use crate::timeslice::{Action, TimeSlicer};
use crate::trace::{Recording, Series, Span, Track, SMS_PER_TRACK};
use crate::workload::Workload;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy)]
enum Ev {
    Host(u32),
    Visible(u32),
    Arrival(u32),
    SliceEnd(u64),
    SwitchDone,
    PowerTick,
}

#[derive(Debug, Clone, Default)]
struct Launch {
    kernel: u32,
    client: u32,
    first_of_request: bool,
    visible: bool,
    unplaced: u64,
    running: u64,
    first_start: Option<Ns>,
}

#[derive(Debug, Default)]
struct Host {
    in_request: bool,
    op: usize,
    waiting_sync: bool,
    req_issue: Ns,
    gpu_start: Option<Ns>,
    started: u64,
    done: u64,
    finished: bool,
    arrivals: VecDeque<Ns>,
    latencies_us: Vec<f64>,
    window_start: Ns,
    last_done: Ns,
    stream: VecDeque<u32>,
    rng: Option<Rng>,
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

pub struct Engine<'w> {
    w: &'w Workload,
    now: Ns,
    q: EventQueue<Ev>,
    spaces: Vec<Space>,
    runnable: Vec<Vec<u32>>,
    cohorts: Cohorts,
    launches: Slab<Launch>,
    hosts: Vec<Host>,
    kstats: Vec<KernelStats>,
    slicer: Option<TimeSlicer>,
    power: PowerModel,
    clock: ClockController,
    rate_params: RateParams,
    scratch: progress::Scratch,
    new_cohorts: Vec<u32>,
    rules: CarveoutRules,
    caps: Vec<u32>,
    footprints: Vec<Footprint>,
    place_dirty: Vec<bool>,
    rates_dirty: bool,
    next_done: Option<(Ns, u32)>,
    activity: Activity,
    watts: f64,
    integ: Integrals,
    events: u64,
    stopped: bool,
    finished_clients: usize,
    rec: Option<Recording>,
}

/// Runs a workload to its end and reports. `record`: also return a recording for traces/plots.
pub fn run(w: &Workload, record: bool) -> (Report, Option<Recording>) {
    if w.sharing == Sharing::Dedicated && w.clients.len() > 1 {
        return run_dedicated(w, record);
    }
    let mut e = Engine::new(w, record);
    while e.step() {}
    e.finish()
}

/// Dedicated: each client on a GPU of its own; GPU statistics are averaged over the GPUs.
fn run_dedicated(w: &Workload, record: bool) -> (Report, Option<Recording>) {
    let mut clients = Vec::new();
    let mut stats = Vec::new();
    let (mut events, mut simulated) = (0, 0.0f64);
    let mut first_rec = None;
    for ci in 0..w.clients.len() {
        let single = w.only_client(ci);
        let (r, rec) = run(&single, record && ci == 0);
        if first_rec.is_none() {
            first_rec = rec;
        }
        events += r.sim.events;
        simulated = simulated.max(r.simulated_s);
        clients.extend(r.clients);
        stats.push(r.gpu_stats);
    }
    let n = stats.len() as f64;
    let avg = |f: fn(&GpuStats) -> f64| stats.iter().map(f).sum::<f64>() / n;
    let gpu_stats = GpuStats {
        gpus: stats.len() as u32,
        avg_power_w: avg(|s| s.avg_power_w),
        max_power_w: stats.iter().map(|s| s.max_power_w).fold(0.0, f64::max),
        avg_sm_clock_mhz: avg(|s| s.avg_sm_clock_mhz),
        min_sm_clock_mhz: stats.iter().map(|s| s.min_sm_clock_mhz).fold(f64::INFINITY, f64::min),
        sm_busy_fraction: avg(|s| s.sm_busy_fraction),
        avg_dram_gbs: avg(|s| s.avg_dram_gbs),
        context_switches: 0,
    };
    let report = Report {
        scenario: w.name.clone(),
        gpu: w.gpu.name.clone(),
        sharing: w.sharing.as_str().into(),
        seed: w.seed,
        simulated_s: simulated,
        clients,
        gpu_stats,
        sim: SimStats { events, wall_ms: 0.0 },
    };
    (report, first_rec)
}

impl<'w> Engine<'w> {
    pub fn new(w: &'w Workload, record: bool) -> Engine<'w> {
        let n_sms = w.gpu.sm_count() as usize;
        let n_spaces = w.spaces();
        let clock = ClockController::new(&w.gpu);
        let slicer = (w.sharing == Sharing::Timeslice).then(|| {
            TimeSlicer::new(
                n_spaces,
                (w.gpu.sharing.timeslice_us.value * 1e3) as Ns,
                (w.gpu.sharing.context_switch_us.value * 1e3) as Ns,
            )
        });
        let mut e = Engine {
            w,
            now: 0,
            q: EventQueue::default(),
            spaces: (0..n_spaces).map(|s| Space::new(s as u32, n_sms, w.clients.len())).collect(),
            runnable: vec![Vec::new(); n_spaces],
            cohorts: Cohorts::default(),
            launches: Slab::default(),
            hosts: (0..w.clients.len()).map(|_| Host::default()).collect(),
            kstats: vec![KernelStats::default(); w.kernels.len()],
            slicer,
            power: PowerModel::new(&w.gpu),
            rate_params: RateParams::new(w, clock.mhz),
            clock,
            scratch: progress::Scratch::default(),
            new_cohorts: Vec::new(),
            rules: CarveoutRules {
                locked_across_clients: w.gpu.sharing.carveout_locked_across_clients.value,
                locked_in_context: w.gpu.sharing.carveout_locked_in_context.value,
            },
            caps: w.clients.iter().map(|c| c.sm_cap).collect(),
            footprints: w.kernels.iter().map(|k| k.footprint).collect(),
            place_dirty: vec![false; n_spaces],
            rates_dirty: false,
            next_done: None,
            activity: Activity::default(),
            watts: w.gpu.power.idle_w.value,
            integ: Integrals { min_clock: clock.mhz, max_power: w.gpu.power.idle_w.value, ..Integrals::default() },
            events: 0,
            stopped: false,
            finished_clients: 0,
            rec: record.then(|| Recording {
                client_names: w.clients.iter().map(|c| c.name.clone()).collect(),
                kernel_names: w.kernels.iter().map(|k| k.name.clone()).collect(),
                n_sms: n_sms as u32,
                client_sms: w.clients.iter().map(|c| Series { name: c.name.clone(), points: vec![(0, 0.0)] }).collect(),
                ..Recording::default()
            }),
        };
        for (ci, c) in w.clients.iter().enumerate() {
            let h = &mut e.hosts[ci];
            if let Some(n) = c.requests {
                h.latencies_us.reserve(n.min(1 << 20) as usize);
            }
            match c.arrival_rate_per_s {
                Some(rate) => {
                    let mut rng = Rng::new(w.seed.wrapping_mul(1_000_003).wrapping_add(ci as u64));
                    let first = (rng.exponential(1e9 / rate)) as Ns;
                    h.rng = Some(rng);
                    e.q.push(first, Ev::Arrival(ci as u32));
                }
                None => e.q.push(0, Ev::Host(ci as u32)),
            }
        }
        e.q.push((w.gpu.clock.period_ms.value * 1e6) as Ns, Ev::PowerTick);
        e
    }

    pub fn now(&self) -> Ns {
        self.now
    }

    fn running(&self, space: u32) -> bool {
        self.slicer.as_ref().is_none_or(|s| s.running(space as usize))
    }

    fn has_work(spaces: &[Space], runnable: &[Vec<u32>], s: usize) -> bool {
        !spaces[s].is_idle() || !runnable[s].is_empty()
    }

    /// Processes one event (or simultaneous cohort completions). Returns false when the run is over.
    pub fn step(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        let heap_t = self.q.peek_time();
        let done_t = self.next_done.map(|d| d.0);
        let t = match (heap_t, done_t) {
            (None, None) => {
                self.stopped = true;
                return false;
            }
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (Some(a), Some(b)) => a.min(b),
        };
        if t > self.w.horizon_ns {
            self.advance(self.w.horizon_ns);
            self.stopped = true;
            return false;
        }
        self.advance(t);
        self.events += 1;
        if done_t == Some(t) {
            self.complete_due_cohorts();
        } else if let Some((_, ev)) = self.q.pop() {
            self.handle(ev);
        }
        self.settle();
        !self.stopped
    }

    /// Moves time forward, advancing every running cohort and the statistics integrals.
    fn advance(&mut self, t: Ns) {
        let dt = t.saturating_sub(self.now);
        if dt > 0 {
            let dtf = dt as f64;
            self.cohorts.advance(dtf);
            let j = self.watts * dtf * 1e-9;
            self.integ.energy_j += j;
            self.integ.period_energy += j;
            self.integ.clock_ns += self.clock.mhz * dtf;
            self.integ.busy_sm_ns += self.activity.active_sms * dtf;
            self.integ.dram_bytes += self.activity.dram_gbs * dtf;
        }
        self.now = t;
    }

    fn complete_due_cohorts(&mut self) {
        // Every cohort due now finishes (ties resolved in creation order).
        let now = self.now;
        let mut i = 0;
        while i < self.cohorts.live.len() {
            let id = self.cohorts.live[i];
            let c = &self.cohorts.get(id);
            let due = c.rate > 0.0 && self.running(c.space) && now + ceil_ns(c.remaining / c.rate) <= now;
            let is_next = self.next_done.is_some_and(|d| d.1 == id);
            if due || is_next {
                self.complete_cohort(id);
            } else {
                i += 1;
            }
        }
        self.next_done = None;
        self.rates_dirty = true;
    }

    fn complete_cohort(&mut self, id: u32) {
        let c = self.cohorts.get(id).clone();
        if let Some(rec) = self.rec.as_mut() {
            let g = &self.spaces[c.space as usize].groups[c.group as usize];
            let mut counts = [0u32; crate::sm_set::MAX_SMS / SMS_PER_TRACK];
            for sm in g.sms.iter() {
                counts[sm / SMS_PER_TRACK] += 1;
            }
            for (t, &n) in counts.iter().enumerate().filter(|(_, &n)| n > 0) {
                rec.spans.push(Span {
                    track: Track::Sms(t as u32),
                    kernel: c.kernel,
                    start: c.placed_at,
                    end: self.now,
                    sms: n,
                    blocks: c.blocks_per_sm as u64,
                });
            }
        }
        self.spaces[c.space as usize].remove(&mut self.cohorts, id, &self.footprints, &self.w.limits);
        self.place_dirty[c.space as usize] = true;
        let l = &mut self.launches.v[c.launch as usize];
        l.running -= (c.blocks_per_sm * c.n_sms) as u64;
        if l.running == 0 && l.unplaced == 0 {
            self.complete_launch(c.launch);
        }
    }

    fn complete_launch(&mut self, lid: u32) {
        let l = self.launches.v[lid as usize].clone();
        let start = l.first_start.unwrap_or(self.now);
        let ks = &mut self.kstats[l.kernel as usize];
        ks.completed += 1;
        ks.durations_us.push((self.now - start) as f64 / 1e3);
        if let Some(rec) = self.rec.as_mut() {
            let k = &self.w.kernels[l.kernel as usize];
            rec.spans.push(Span {
                track: Track::Client(l.client),
                kernel: l.kernel,
                start,
                end: self.now,
                sms: 0,
                blocks: k.grid,
            });
        }
        let ci = l.client as usize;
        let h = &mut self.hosts[ci];
        let front = h.stream.pop_front();
        debug_assert_eq!(front, Some(lid));
        self.launches.release(lid);
        if let Some(&next) = self.hosts[ci].stream.front() {
            if self.launches.v[next as usize].visible {
                self.make_runnable(next);
            }
        } else if self.hosts[ci].waiting_sync {
            self.hosts[ci].waiting_sync = false;
            let c = &self.w.clients[ci];
            if self.hosts[ci].op < c.ops.len() {
                let gap = self.w.kernels[c.ops[self.hosts[ci].op] as usize].host_gap_ns;
                self.q.push(self.now + gap, Ev::Host(ci as u32));
            } else {
                self.finish_request(ci);
            }
        }
    }

    fn make_runnable(&mut self, lid: u32) {
        let l = &self.launches.v[lid as usize];
        let ci = l.client as usize;
        let space = self.w.clients[ci].space;
        let first = l.first_of_request;
        self.runnable[space].push(lid);
        self.place_dirty[space] = true;
        if first && self.running(space as u32) && self.hosts[ci].gpu_start.is_none() {
            self.hosts[ci].gpu_start = Some(self.now);
        }
        if self.slicer.is_some() {
            self.timeslice_changed();
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Host(c) => self.host_step(c as usize),
            Ev::Visible(lid) => {
                self.launches.v[lid as usize].visible = true;
                let ci = self.launches.v[lid as usize].client as usize;
                if self.hosts[ci].stream.front() == Some(&lid) {
                    self.make_runnable(lid);
                }
            }
            Ev::Arrival(c) => {
                let ci = c as usize;
                let rate = self.w.clients[ci].arrival_rate_per_s.unwrap_or(1.0);
                let h = &mut self.hosts[ci];
                let more = self.w.clients[ci].requests.is_none_or(|n| h.started + (h.arrivals.len() as u64) < n);
                if more {
                    h.arrivals.push_back(self.now);
                    if let Some(rng) = h.rng.as_mut() {
                        let gap = rng.exponential(1e9 / rate) as Ns;
                        self.q.push(self.now + gap.max(1), Ev::Arrival(c));
                    }
                    if !h.in_request && !h.finished {
                        self.start_request(ci);
                    }
                }
            }
            Ev::SliceEnd(g) => {
                let (spaces, runnable) = (&self.spaces, &self.runnable);
                let a = self.slicer.as_mut().map(|s| s.on_timer(self.now, g, &|x| Self::has_work(spaces, runnable, x)));
                self.apply_slice_action(a.unwrap_or(Action::None));
            }
            Ev::SwitchDone => {
                let (spaces, runnable) = (&self.spaces, &self.runnable);
                let a =
                    self.slicer.as_mut().map(|s| s.on_switch_done(self.now, &|x| Self::has_work(spaces, runnable, x)));
                let active = self.slicer.as_ref().map(|s| s.active).unwrap_or(0);
                self.place_dirty[active] = true;
                self.rates_dirty = true;
                // Requests whose first kernel waited for this context start (CUDA events) now.
                for i in 0..self.runnable[active].len() {
                    let l = &self.launches.v[self.runnable[active][i] as usize];
                    let h = &mut self.hosts[l.client as usize];
                    if l.first_of_request && h.gpu_start.is_none() {
                        h.gpu_start = Some(self.now);
                    }
                }
                self.apply_slice_action(a.unwrap_or(Action::None));
            }
            Ev::PowerTick => self.power_tick(),
        }
    }

    fn power_tick(&mut self) {
        let period = (self.w.gpu.clock.period_ms.value * 1e6) as Ns;
        let avg = self.integ.period_energy / (period as f64 * 1e-9);
        self.integ.period_energy = 0.0;
        let up = self.power.watts(&self.activity, (self.clock.mhz + self.clock.step_mhz).min(self.clock.max_mhz));
        if self.clock.update(avg, up) {
            self.rate_params = RateParams::new(self.w, self.clock.mhz);
            self.rates_dirty = true;
            self.integ.min_clock = self.integ.min_clock.min(self.clock.mhz);
        }
        if let Some(rec) = self.rec.as_mut() {
            rec.power_w.push(self.now, avg);
            rec.clock_mhz.push(self.now, self.clock.mhz);
        }
        self.q.push(self.now + period.max(1), Ev::PowerTick);
    }

    fn timeslice_changed(&mut self) {
        let (spaces, runnable) = (&self.spaces, &self.runnable);
        let a = self.slicer.as_mut().map(|s| s.on_change(self.now, &|x| Self::has_work(spaces, runnable, x)));
        self.apply_slice_action(a.unwrap_or(Action::None));
    }

    fn apply_slice_action(&mut self, a: Action) {
        match a {
            Action::None => {}
            Action::ArmTimer(t, g) => self.q.push(t, Ev::SliceEnd(g)),
            Action::Switching(t) => {
                self.rates_dirty = true;
                self.q.push(t, Ev::SwitchDone);
            }
        }
    }

    fn start_request(&mut self, ci: usize) {
        let c = &self.w.clients[ci];
        let h = &mut self.hosts[ci];
        h.in_request = true;
        h.op = 0;
        h.gpu_start = None;
        h.req_issue = h.arrivals.pop_front().unwrap_or(self.now);
        h.started += 1;
        if h.started == c.warmup + 1 {
            h.window_start = h.req_issue;
        }
        let gap = self.w.kernels[c.ops[0] as usize].host_gap_ns;
        self.q.push(self.now + gap, Ev::Host(ci as u32));
    }

    fn host_step(&mut self, ci: usize) {
        let c = &self.w.clients[ci];
        if !self.hosts[ci].in_request {
            if !self.hosts[ci].finished {
                self.start_request(ci);
            }
            return;
        }
        let op = self.hosts[ci].op;
        let kid = c.ops[op];
        let k = &self.w.kernels[kid as usize];
        let launch =
            Launch { kernel: kid, client: ci as u32, first_of_request: op == 0, unplaced: k.grid, ..Launch::default() };
        let lid = self.launches.alloc(launch);
        self.kstats[kid as usize].launches += 1;
        let h = &mut self.hosts[ci];
        h.stream.push_back(lid);
        h.op += 1;
        self.q.push(self.now + c.launch_latency_ns, Ev::Visible(lid));
        if k.sync || h.op >= c.ops.len() {
            h.waiting_sync = true;
        } else {
            let gap = self.w.kernels[c.ops[h.op] as usize].host_gap_ns;
            self.q.push(self.now + gap, Ev::Host(ci as u32));
        }
    }

    fn finish_request(&mut self, ci: usize) {
        let c = &self.w.clients[ci];
        let now = self.now;
        let h = &mut self.hosts[ci];
        h.in_request = false;
        h.done += 1;
        if h.done > c.warmup {
            let from = match c.timing {
                Timing::Host => h.req_issue,
                Timing::CudaEvents => h.gpu_start.unwrap_or(h.req_issue),
            };
            h.latencies_us.push((now - from) as f64 / 1e3);
            h.last_done = now;
        }
        if c.requests.is_some_and(|n| h.done >= n) {
            h.finished = true;
            self.finished_clients += 1;
            // Clients without a request count run to the horizon.
            if self.finished_clients == self.w.clients.len() {
                self.stopped = true;
            }
            return;
        }
        if c.arrival_rate_per_s.is_some() {
            if !h.arrivals.is_empty() {
                self.start_request(ci);
            }
        } else {
            self.q.push(now + c.think_ns, Ev::Host(ci as u32));
        }
    }

    /// Places what can be placed, then recomputes rates if anything changed.
    fn settle(&mut self) {
        for s in 0..self.spaces.len() {
            if self.place_dirty[s] {
                self.place_dirty[s] = false;
                if self.running(s as u32) {
                    self.place_space(s);
                }
                if self.slicer.is_some() {
                    self.timeslice_changed();
                }
            }
        }
        if self.rates_dirty {
            self.rates_dirty = false;
            self.recompute_rates();
        }
    }

    fn place_space(&mut self, s: usize) {
        let mut i = 0;
        while i < self.runnable[s].len() {
            let lid = self.runnable[s][i];
            let l = &self.launches.v[lid as usize];
            let ci = l.client as usize;
            let req = PlaceRequest {
                launch: lid,
                kernel: l.kernel,
                client: l.client,
                process: self.w.clients[ci].process as u32,
                footprint: self.footprints[l.kernel as usize],
                blocks: l.unplaced,
                cap: self.caps[ci],
                now: self.now,
            };
            self.new_cohorts.clear();
            let placed =
                self.spaces[s].place(&mut self.cohorts, &req, &self.w.limits, self.rules, &mut self.new_cohorts);
            if placed > 0 {
                self.rates_dirty = true;
                let l = &mut self.launches.v[lid as usize];
                l.unplaced -= placed;
                l.running += placed;
                l.first_start.get_or_insert(self.now);
            }
            if self.launches.v[lid as usize].unplaced == 0 {
                self.runnable[s].remove(i);
            } else {
                i += 1;
            }
        }
    }

    fn recompute_rates(&mut self) {
        let slicer = self.slicer.clone();
        let running = |s: u32| slicer.as_ref().is_none_or(|t| t.running(s as usize));
        progress::recompute(self.w, &self.spaces, &mut self.cohorts, &self.rate_params, &running, &mut self.scratch);
        // Activity for power, and the next completion.
        let mut a = Activity::default();
        let mut next: Option<(Ns, u32)> = None;
        for (si, s) in self.spaces.iter().enumerate() {
            if running(si as u32) {
                a.active_sms += s.busy_sms as f64;
            }
        }
        for &id in &self.cohorts.live {
            let c = &self.cohorts.get(id);
            if c.rate <= 0.0 {
                continue;
            }
            let k = &self.w.kernels[c.kernel as usize];
            if k.op.is_tensor() {
                a.tensor_busy_sms += c.issue_used * c.n_sms as f64;
            } else {
                a.fp32_busy_sms += c.issue_used * c.n_sms as f64;
            }
            a.dram_gbs += c.dram_bytes_per_ns;
            let t = self.now + ceil_ns(c.remaining / c.rate);
            if next.is_none_or(|(nt, _)| t < nt) {
                next = Some((t, id));
            }
        }
        self.next_done = next;
        self.activity = a;
        self.watts = self.power.watts(&a, self.clock.mhz);
        self.integ.max_power = self.integ.max_power.max(self.watts);
        if let Some(rec) = self.rec.as_mut() {
            for (ci, c) in self.w.clients.iter().enumerate() {
                let v = if running(c.space as u32) { self.spaces[c.space].client_sms[ci] as f64 } else { 0.0 };
                rec.client_sms[ci].push(self.now, v);
            }
        }
    }

    /// Checks the invariants of every space (for tests).
    pub fn check_invariants(&self) -> Result<(), String> {
        let fp = |k: u32| self.footprints[k as usize];
        for s in &self.spaces {
            s.check(&self.cohorts, &self.w.limits, &fp, &self.caps)?;
        }
        for &id in &self.cohorts.live {
            let c = &self.cohorts.get(id);
            if !(0.0..=1.0).contains(&c.remaining) || !c.rate.is_finite() || c.rate < 0.0 {
                return Err(format!("cohort {id}: remaining {} rate {}", c.remaining, c.rate));
            }
        }
        Ok(())
    }

    /// Blocks launched and completed so far, over all kernels.
    pub fn block_counts(&self) -> (u64, u64) {
        let launched: u64 = self.kstats.iter().zip(&self.w.kernels).map(|(s, k)| s.launches * k.grid).sum();
        let completed: u64 = self.kstats.iter().zip(&self.w.kernels).map(|(s, k)| s.completed * k.grid).sum();
        (launched, completed)
    }

    pub fn finish(mut self) -> (Report, Option<Recording>) {
        let sim_ns = self.now.max(1) as f64;
        let mut clients = Vec::new();
        for (ci, c) in self.w.clients.iter().enumerate() {
            let h = &mut self.hosts[ci];
            let n = h.latencies_us.len() as u64;
            let end = if h.finished { h.last_done } else { self.now };
            let window = end.saturating_sub(h.window_start) as f64 / 1e9;
            let throughput = if window > 0.0 { n as f64 * c.units_per_request / window } else { 0.0 };
            let kernels = c
                .kernel_ids
                .iter()
                .map(|&k| {
                    let ks = &mut self.kstats[k as usize];
                    KernelReport {
                        name: self.w.kernels[k as usize].name.clone(),
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
                timing: match c.timing {
                    Timing::Host => "host".into(),
                    Timing::CudaEvents => "cuda_events".into(),
                },
                latency_us: Percentiles::of(&mut h.latencies_us),
                sm_cap: c.sm_cap,
                kernels,
            });
        }
        let n_sms = self.w.gpu.sm_count() as f64;
        let gpu_stats = GpuStats {
            gpus: 1,
            avg_power_w: self.integ.energy_j / (sim_ns * 1e-9),
            max_power_w: self.integ.max_power,
            avg_sm_clock_mhz: self.integ.clock_ns / sim_ns,
            min_sm_clock_mhz: self.integ.min_clock,
            sm_busy_fraction: self.integ.busy_sm_ns / sim_ns / n_sms,
            avg_dram_gbs: self.integ.dram_bytes / sim_ns,
            context_switches: self.slicer.as_ref().map(|s| s.switches).unwrap_or(0),
        };
        let mut rec = self.rec.take();
        if let Some(r) = rec.as_mut() {
            r.end = self.now;
        }
        let report = Report {
            scenario: self.w.name.clone(),
            gpu: self.w.gpu.name.clone(),
            sharing: self.w.sharing.as_str().into(),
            seed: self.w.seed,
            simulated_s: self.now as f64 / 1e9,
            clients,
            gpu_stats,
            sim: SimStats { events: self.events, wall_ms: 0.0 },
        };
        (report, rec)
    }
}

/// Nanoseconds to cover `x` (>= 0), rounded up; huge values saturate.
fn ceil_ns(x: f64) -> Ns {
    if x.is_finite() {
        x.max(0.0).ceil().min(u64::MAX as f64 / 4.0) as Ns
    } else {
        u64::MAX / 4
    }
}
