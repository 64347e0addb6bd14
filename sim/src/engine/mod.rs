//! The discrete-event engine of one GPU: host threads ([`host`]) issue launches into in-order
//! streams; the block scheduler places runnable kernels on SM spaces; cohorts progress fluidly
//! between events; time-slice groups and the power controller act on their own events.
//! Statistics live in [`crate::stats`]; the engine only tells them what happened.
//!
//! Events in the heap are host steps, launches becoming visible on the GPU, arrivals, slice and
//! switch timers and controller ticks. Cohort completions are not queued: their times follow from
//! the fluid rates, which change only at events, so the next completion is found when rates are
//! recomputed.

mod host;

use crate::event_queue::{EventQueue, Ns};
use crate::occupancy::Footprint;
use crate::placement::{Cohorts, PlaceRequest, Space};
use crate::power::{Activity, ClockController, PowerModel};
use crate::progress::{self, RateParams};
use crate::report::Report;
use crate::sharing::timeslice::{Action, TimeSlicer};
use crate::slab::Slab;
use crate::stats::{AtEnd, Stats};
use crate::trace::{GpuInfo, Recorder, Sample, Span, Track, SMS_PER_TRACK};
use crate::workload::GpuWorkload;
use host::Host;

#[derive(Debug, Clone, Copy)]
enum Ev {
    Host(u32),
    Visible(u32),
    /// A launch at the front of its stream, visible, whose predecessor's gap has passed.
    Ready(u32),
    Arrival(u32),
    /// A slice-end timer of a time-slice group, with the generation it was armed in.
    SliceEnd(u32, u64),
    SwitchDone(u32),
    /// Every rank of a tensor-parallel client has started the collective this (local) client
    /// waits on longest: its blocks move their bytes from now on.
    Release(u32),
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
    /// The space's change count when this launch last failed to place all its blocks: until room
    /// appears where it could use it, trying again cannot place more (`Space::may_admit`).
    tried_at: Option<u64>,
    /// A collective every rank has started (its blocks are no longer gated).
    released: bool,
}

/// Where a space sits in the time-slice groups: (group, index within it).
type SliceSlot = Option<(usize, usize)>;

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// More events than the caller allowed (`--max-events`).
    TooManyEvents { limit: u64 },
    /// The caller asked to stop (Ctrl-C).
    Interrupted,
    /// Requests arrive faster than they complete: the queue of one client outgrew the bound.
    Overloaded { client: String, queued: usize },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::TooManyEvents { limit } => {
                write!(f, "stopped after {limit} events (the limit; raise it with --max-events, or shorten duration_s)")
            }
            RunError::Interrupted => write!(f, "interrupted"),
            RunError::Overloaded { client, queued } => write!(
                f,
                "client `{client}`: {queued} requests waiting: they arrive faster than the GPU serves them \
                 (lower arrival_rate_per_s or shorten duration_s)"
            ),
        }
    }
}

impl std::error::Error for RunError {}

/// Most requests one open-loop client may have waiting; past it the run stops (memory stays bounded).
pub const MAX_QUEUED_REQUESTS: usize = 1 << 20;

/// Where an engine's spans and samples go. A copy of an engine records nothing: one recorder
/// hears one run (`Engine::fork` is for runs without one).
struct Recording<'w>(Option<&'w mut dyn Recorder>);

impl Clone for Recording<'_> {
    fn clone(&self) -> Self {
        Recording(None)
    }
}

#[derive(Clone)]
pub struct Engine<'w> {
    w: &'w GpuWorkload,
    gpu_index: u32,
    now: Ns,
    q: EventQueue<Ev>,
    spaces: Vec<Space>,
    runnable: Vec<Vec<u32>>,
    cohorts: Cohorts,
    launches: Slab<Launch>,
    hosts: Vec<Host>,
    slicers: Vec<TimeSlicer>,
    slots: Vec<SliceSlot>,
    power: PowerModel,
    clock: ClockController,
    rate_params: RateParams,
    /// The clock the SMs run at: the controller's, or lower where the fast limiter holds it
    /// (`rate_params` and power follow this one; reports show both).
    eff_mhz: f64,
    /// Numbers `rate_params` (groups keep their shares while it stays the same).
    rates_gen: u64,
    scratch: progress::Scratch,
    new_cohorts: Vec<u32>,
    caps: Vec<u32>,
    footprints: Vec<Footprint>,
    /// Spaces where placement may have become possible: a flag each, and the flagged ones.
    place_dirty: Vec<bool>,
    place_list: Vec<u32>,
    /// The spaces that run now: those outside time-slicing, then each time-slice group's
    /// active one (none during a switch). Kept at every slicing action, so that an event's cost
    /// does not grow with the contexts that wait.
    running_spaces: Vec<u32>,
    unsliced: usize,
    rates_dirty: bool,
    next_done: Option<(Ns, u32)>,
    activity: Activity,
    watts: f64,
    stats: Stats,
    events: u64,
    stopped: bool,
    finished_clients: usize,
    rec: Recording<'w>,
    /// Last SM count sent to the recorder per client (only changes are sent).
    rec_client_sms: Vec<f64>,
    error: Option<RunError>,
    /// When the current power-controller period began.
    last_tick: Ns,
    /// The controller's ticks are kept out of the queue (one is always due, and most change
    /// nothing): the next one, and the queue's last sequence number when it was scheduled
    /// (queued events at the same time with a larger one come after it).
    next_tick: Ns,
    tick_seq: u64,
    ticks: u64,
    /// Ticks fast-forwarded (see `fast_forward_ticks`); also counted in `ticks`.
    ticks_skipped: u64,
    /// `events - ticks` at the last tick: whether anything happened since.
    work_events_at_tick: u64,
    /// The last tick saw a period without events and left the clock alone: the controller is at
    /// a fixed point until the next event.
    steady: bool,
    /// Off only in tests that check fast-forwarding changes nothing.
    fast_forward: bool,
    /// The event count at which the caller next looks (its limit, progress): a fast-forward
    /// batch stops there.
    pause_at: u64,
    /// Where the run ends at the latest: the workload's horizon, or a later common end.
    horizon: Ns,
    /// Whether each client's time is accounted by state (slowdown attribution), and per client
    /// the fractions of its reference rate its executing kernel loses (set with the rates).
    accounting: bool,
    lost: Vec<crate::slowdown::Lost>,
    lost_weight: Vec<f64>,
    /// Collectives of tensor-parallel clients: per local client, how many it has started and
    /// the launches still waiting for their peers (oldest first); the collectives started since
    /// the caller last looked, as (global client, sequence number).
    collectives_started: Vec<u64>,
    collectives_waiting: Vec<std::collections::VecDeque<u32>>,
    arrivals: Vec<(u32, u64)>,
    /// Ticks are not fast-forwarded to this time or past it: another GPU's event may release a
    /// collective here then (set by the caller running GPUs in lock-step).
    hold_before: Ns,
}

/// Whether a space's blocks run now (time-slicing freezes all but the active context).
fn space_running(slicers: &[TimeSlicer], slots: &[SliceSlot], space: u32) -> bool {
    // Without time-slicing every space runs: no lookup.
    slicers.is_empty() || slots[space as usize].is_none_or(|(g, i)| slicers[g].running(i))
}

impl<'w> Engine<'w> {
    /// An engine for GPU `gpu_index` of a run; `rec` hears what happens.
    pub fn new(w: &'w GpuWorkload, rec: Option<&'w mut dyn Recorder>) -> Engine<'w> {
        Self::for_gpu(w, 0, rec)
    }

    pub(crate) fn for_gpu(w: &'w GpuWorkload, gpu_index: u32, rec: Option<&'w mut dyn Recorder>) -> Engine<'w> {
        let p = &w.params;
        let n_spaces = w.spaces.len();
        let clock = p.clock;
        let mut slots: Vec<SliceSlot> = vec![None; n_spaces];
        let slicers = w
            .slice_groups
            .iter()
            .enumerate()
            .map(|(g, group)| {
                for (i, &s) in group.spaces.iter().enumerate() {
                    slots[s] = Some((g, i));
                }
                TimeSlicer::new(group.spaces.len(), group.params.slice_ns, group.params.switch_ns)
            })
            .collect();
        let mut e = Engine {
            w,
            gpu_index,
            now: 0,
            q: EventQueue::default(),
            spaces: w.spaces.iter().enumerate().map(|(i, s)| Space::new(i as u32, s.sms, w.clients.len())).collect(),
            runnable: vec![Vec::new(); n_spaces],
            cohorts: Cohorts::default(),
            launches: Slab::default(),
            hosts: (0..w.clients.len()).map(|_| Host::default()).collect(),
            slicers,
            slots,
            power: p.power,
            rate_params: p.rates.at(clock.mhz),
            eff_mhz: clock.mhz,
            rates_gen: 1,
            clock,
            scratch: progress::Scratch::default(),
            new_cohorts: Vec::new(),
            caps: w.clients.iter().map(|c| c.sm_cap).collect(),
            footprints: w.kernels.iter().map(|k| k.footprint).collect(),
            place_dirty: vec![false; n_spaces],
            place_list: Vec::new(),
            running_spaces: Vec::new(),
            unsliced: 0,
            rates_dirty: false,
            next_done: None,
            activity: Activity::default(),
            watts: p.power.idle_w,
            stats: Stats::new(w, clock.mhz),
            events: 0,
            stopped: false,
            finished_clients: 0,
            rec: Recording(rec),
            rec_client_sms: vec![0.0; w.clients.len()],
            error: None,
            last_tick: 0,
            next_tick: 0,
            tick_seq: 0,
            ticks: 0,
            ticks_skipped: 0,
            work_events_at_tick: 0,
            steady: false,
            fast_forward: true,
            pause_at: u64::MAX,
            horizon: w.horizon_ns,
            accounting: false,
            lost: vec![crate::slowdown::Lost::default(); w.clients.len()],
            lost_weight: vec![0.0; w.clients.len()],
            collectives_started: vec![0; w.clients.len()],
            collectives_waiting: vec![std::collections::VecDeque::new(); w.clients.len()],
            arrivals: Vec::new(),
            hold_before: Ns::MAX,
        };
        if let Some(r) = e.rec.0.as_mut() {
            let clients = w.clients.iter().map(|c| (c.global as u32, c.name.clone())).collect();
            r.gpu(&GpuInfo { index: gpu_index, n_sms: p.n_sms, clients });
            for c in &w.clients {
                r.sample(gpu_index, Sample::ClientSms(c.global as u32), 0, 0.0);
            }
            // The clock starts at its maximum; power samples are period averages, each stamped at
            // the start of the period it covers.
            r.sample(gpu_index, Sample::ClockMhz, 0, clock.mhz);
        }
        e.running_spaces = (0..n_spaces as u32).filter(|&s| e.slots[s as usize].is_none()).collect();
        e.unsliced = e.running_spaces.len();
        e.update_running_spaces();
        for ci in 0..w.clients.len() {
            e.start_client(ci);
        }
        e.schedule_tick(p.control_period_ns);
        e
    }

    pub fn now(&self) -> Ns {
        self.now
    }

    fn running(&self, space: u32) -> bool {
        space_running(&self.slicers, &self.slots, space)
    }

    fn has_work(spaces: &[Space], runnable: &[Vec<u32>], s: usize) -> bool {
        !spaces[s].is_idle() || !runnable[s].is_empty()
    }

    /// Processes one event (or simultaneous cohort completions). Returns false when the run is over.
    pub fn step(&mut self) -> bool {
        if self.stopped {
            return false;
        }
        // The next queued event, or the controller's tick when it comes first.
        let (tick_first, queued_t) = match self.q.peek_key() {
            Some((t, seq)) if (t, seq) < (self.next_tick, self.tick_seq + 1) => (false, t),
            _ => (true, self.next_tick),
        };
        let done_t = self.next_done.map(|d| d.0);
        if tick_first && self.steady && self.fast_forward && self.events - self.ticks == self.work_events_at_tick {
            // Nothing can change before the next event: every tick until then repeats the last.
            let bound = self.q.peek_key().map_or(Ns::MAX, |k| k.0).min(done_t.unwrap_or(Ns::MAX)).min(self.hold_before);
            if self.next_tick < bound {
                self.fast_forward_ticks(bound);
                return !self.stopped;
            }
        }
        // Completions due at the same time go first.
        let t = done_t.map_or(queued_t, |d| d.min(queued_t));
        if t > self.horizon {
            self.advance(self.horizon);
            self.stopped = true;
            return false;
        }
        self.advance(t);
        self.events += 1;
        if done_t == Some(t) {
            self.complete_due_cohorts();
        } else if tick_first {
            self.ticks += 1;
            self.power_tick();
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
            self.cohorts.advance(dt as f64);
            self.stats.advance(dt, self.watts, self.clock.mhz, self.eff_mhz, &self.activity);
            if self.accounting {
                self.account(dt as f64);
            }
        }
        self.now = t;
    }

    /// Keeps every client's time by state from now on (`slowdown`); a little work per event and
    /// client.
    pub fn account_time(&mut self) {
        self.accounting = true;
        self.stats.account_time();
    }

    /// Charges `dt` ns to each client's state (see [`crate::slowdown::Cause`]).
    fn account(&mut self, dt: f64) {
        use crate::slowdown::Cause;
        for ci in 0..self.w.clients.len() {
            let Some(&lid) = self.hosts[ci].stream.front() else {
                self.stats.account(ci, Cause::Host, dt);
                continue;
            };
            let l = &self.launches.v[lid as usize];
            let space = self.w.clients[ci].space;
            let cause = if !l.visible {
                Cause::LaunchPath
            } else if !self.running(space as u32) {
                match self.slots[space] {
                    Some((g, _)) if self.slicers[g].switching_until.is_some() => Cause::Switch,
                    _ => Cause::TimeSlice,
                }
            } else if l.running == 0 {
                Cause::WaitingForSms
            } else {
                self.stats.account_executing(ci, dt, &self.lost[ci]);
                continue;
            };
            self.stats.account(ci, cause, dt);
        }
    }

    /// Per client, the block-weighted fractions of the reference rate its running cohorts lose
    /// (each client has one in-order stream: its cohorts are its front launch's).
    fn set_lost(&mut self) {
        use crate::slowdown::Lost;
        let p = &self.rate_params;
        let at_max = self.w.params.rates.at(self.w.params.clock.max_mhz);
        let weight = &mut self.lost_weight;
        weight.iter_mut().for_each(|w| *w = 0.0);
        self.lost.iter_mut().for_each(|l| *l = Lost::default());
        let by_min = 1.0 / p.block_min_ns;
        for &id in &self.cohorts.live {
            let c = self.cohorts.get(id);
            if c.rate <= 0.0 {
                continue;
            }
            let k = &self.w.kernels[c.kernel as usize];
            let demand = c.first_pass.issue_demand;
            let bps = c.blocks_per_sm as f64;
            let rate_at = |full: f64| if full > 0.0 { (demand / bps / full).min(by_min) } else { by_min };
            // The same per-block latency on every rate of the chain, so that it counts as no loss.
            let lat = |r: f64| crate::progress::with_latency(r, k.block_latency_ns);
            let l = Lost::from_rates(
                lat(rate_at(at_max.full_sm_ns(k))),
                lat(rate_at(p.full_sm_ns(k))),
                lat(c.first_pass.r0),
                c.rate,
            );
            let w = (c.blocks_per_sm * c.n_sms) as f64;
            let ci = c.client as usize;
            weight[ci] += w;
            for (acc, x) in self.lost[ci].0.iter_mut().zip(l.0) {
                *acc += w * x;
            }
        }
        for (l, &w) in self.lost.iter_mut().zip(weight.iter()) {
            if w > 0.0 {
                l.0.iter_mut().for_each(|x| *x /= w);
            }
        }
    }

    fn complete_due_cohorts(&mut self) {
        // Every cohort due now finishes (ties resolved in creation order).
        let mut i = 0;
        while i < self.cohorts.live.len() {
            let id = self.cohorts.live[i];
            let c = &self.cohorts.get(id);
            // `now + ceil_ns(x) <= now` exactly when x <= 0 (no call to `ceil` per cohort).
            let due = c.rate > 0.0 && self.running(c.space) && c.remaining / c.rate <= 0.0;
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
        self.record_cohort(&c, true);
        self.spaces[c.space as usize].remove(&mut self.cohorts, id, &self.footprints, &self.w.params.limits);
        self.mark_place(c.space as usize);
        let l = &mut self.launches.v[c.launch as usize];
        l.running -= (c.blocks_per_sm * c.n_sms) as u64;
        if l.running == 0 && l.unplaced == 0 {
            self.complete_launch(c.launch);
        }
    }

    /// SM-track spans of a cohort, from its placement to now.
    fn record_cohort(&mut self, c: &crate::placement::Cohort, done: bool) {
        let Some(rec) = self.rec.0.as_mut() else { return };
        let g = &self.spaces[c.space as usize].groups[c.group as usize];
        let mut counts = [0u32; crate::sm_set::MAX_SMS / SMS_PER_TRACK];
        for sm in g.sms.iter() {
            counts[sm / SMS_PER_TRACK] += 1;
        }
        let kernel = &self.w.kernels[c.kernel as usize].name;
        for (t, &n) in counts.iter().enumerate().filter(|(_, &n)| n > 0) {
            let span = Span {
                track: Track::Sms(t as u32),
                kernel,
                start: c.placed_at,
                end: self.now,
                sms: n,
                blocks: c.blocks_per_sm as u64,
                done,
            };
            rec.span(self.gpu_index, &span);
        }
    }

    fn complete_launch(&mut self, lid: u32) {
        let l = self.launches.v[lid as usize].clone();
        let start = l.first_start.unwrap_or(self.now);
        self.stats.launch_done(l.kernel, self.now - start);
        if let Some(rec) = self.rec.0.as_mut() {
            let k = &self.w.kernels[l.kernel as usize];
            let span = Span {
                track: Track::Client(self.w.clients[l.client as usize].global as u32),
                kernel: &k.name,
                start,
                end: self.now,
                sms: 0,
                blocks: k.grid,
                done: true,
            };
            rec.span(self.gpu_index, &span);
        }
        self.launches.release(lid);
        self.stream_advanced(l.client as usize, lid);
    }

    fn make_runnable(&mut self, lid: u32) {
        let l = &self.launches.v[lid as usize];
        let ci = l.client as usize;
        let space = self.w.clients[ci].space;
        let first = l.first_of_request;
        self.runnable[space].push(lid);
        self.mark_place(space);
        if first && self.running(space as u32) && self.hosts[ci].gpu_start.is_none() {
            self.hosts[ci].gpu_start = Some(self.now);
        }
        if let Some((g, _)) = self.slots[space] {
            self.timeslice_changed(g);
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Host(c) => self.host_step(c as usize),
            Ev::Ready(lid) => self.make_runnable(lid),
            Ev::Visible(lid) => {
                self.launches.v[lid as usize].visible = true;
                let ci = self.launches.v[lid as usize].client as usize;
                if self.hosts[ci].stream.front() == Some(&lid) {
                    self.make_runnable(lid);
                }
            }
            Ev::Arrival(c) => self.arrival(c as usize),
            Ev::Release(c) => self.release_collective(c as usize),
            Ev::SliceEnd(g, generation) => {
                let g = g as usize;
                let (spaces, runnable, members) = (&self.spaces, &self.runnable, &self.w.slice_groups[g].spaces);
                let a =
                    self.slicers[g].on_timer(self.now, generation, &|x| Self::has_work(spaces, runnable, members[x]));
                self.apply_slice_action(g, a);
            }
            Ev::SwitchDone(g) => {
                let g = g as usize;
                let (spaces, runnable, members) = (&self.spaces, &self.runnable, &self.w.slice_groups[g].spaces);
                let a = self.slicers[g].on_switch_done(self.now, &|x| Self::has_work(spaces, runnable, members[x]));
                let active = members[self.slicers[g].active];
                self.mark_place(active);
                self.rates_dirty = true;
                // Requests whose first kernel waited for this context start (CUDA events) now.
                for i in 0..self.runnable[active].len() {
                    let l = &self.launches.v[self.runnable[active][i] as usize];
                    let h = &mut self.hosts[l.client as usize];
                    if l.first_of_request && h.gpu_start.is_none() {
                        h.gpu_start = Some(self.now);
                    }
                }
                self.apply_slice_action(g, a);
            }
        }
    }

    fn power_tick(&mut self) {
        let avg = self.period_average();
        // One bin up, as the fast limiter would let it run.
        let up_mhz = (self.clock.mhz + self.clock.step_mhz).min(self.clock.max_mhz);
        let up_eff = self.w.params.fast_limit.effective_mhz(&self.power, &self.activity, up_mhz);
        let up = self.power.watts(&self.activity, up_eff);
        let moved = self.clock.update(avg, up);
        if moved {
            // The fast limiter takes the new clock from here (recompute_rates).
            self.set_effective_clock(self.clock.mhz);
            self.stats.clock_moved(self.clock.mhz);
        }
        // A period without events has one power throughout; if the clock held, the next period
        // without events has the same average and the same decision, and so on.
        let work_events = self.events - self.ticks;
        self.steady = !moved && work_events == self.work_events_at_tick;
        self.work_events_at_tick = work_events;
        self.end_period(avg);
    }

    /// The average power of the period that ends now.
    fn period_average(&mut self) -> f64 {
        let period = self.w.params.control_period_ns;
        self.stats.take_period_energy() / (period as f64 * 1e-9)
    }

    /// Statistics and trace samples of a tick, and the next one.
    fn end_period(&mut self, avg: f64) {
        let period_start = std::mem::replace(&mut self.last_tick, self.now);
        self.stats.period_power(avg);
        if let Some(rec) = self.rec.0.as_mut() {
            rec.sample(self.gpu_index, Sample::PowerW, period_start, avg);
            rec.sample(self.gpu_index, Sample::ClockMhz, self.now, self.clock.mhz);
        }
        self.schedule_tick(self.now + self.w.params.control_period_ns);
    }

    /// The controller at a fixed point: the ticks before `bound` (the next event) change nothing
    /// but the statistics. They are taken here without the controller's decision or any event
    /// handling, period by period, so that the integrals add up exactly as if each were stepped.
    fn fast_forward_ticks(&mut self, bound: Ns) {
        // A bounded batch per step, so that event limits, progress and Ctrl-C are still heard;
        // never past the count the caller looks at next (`pause_at`), so a limit is met exactly.
        let room = self.pause_at.saturating_sub(self.events).clamp(1, FAST_FORWARD_BATCH as u64);
        for _ in 0..room {
            if self.next_tick >= bound || self.stopped {
                break;
            }
            if self.next_tick > self.horizon {
                self.advance(self.horizon);
                self.stopped = true;
                break;
            }
            self.advance(self.next_tick);
            self.ticks += 1;
            self.ticks_skipped += 1;
            self.events += 1;
            let avg = self.period_average();
            self.end_period(avg);
        }
        self.work_events_at_tick = self.events - self.ticks;
    }

    /// The controller's next tick, ordered among queued events as if it were pushed now.
    fn schedule_tick(&mut self, t: Ns) {
        self.next_tick = t;
        self.tick_seq = self.q.last_seq();
    }

    fn timeslice_changed(&mut self, g: usize) {
        let (spaces, runnable, members) = (&self.spaces, &self.runnable, &self.w.slice_groups[g].spaces);
        let a = self.slicers[g].on_change(self.now, &|x| Self::has_work(spaces, runnable, members[x]));
        self.apply_slice_action(g, a);
    }

    fn apply_slice_action(&mut self, g: usize, a: Action) {
        match a {
            Action::None => {}
            Action::ArmTimer(t, generation) => self.q.push(t, Ev::SliceEnd(g as u32, generation)),
            Action::Switching(t) => {
                self.rates_dirty = true;
                self.q.push(t, Ev::SwitchDone(g as u32));
            }
        }
        self.update_running_spaces();
    }

    /// The running spaces after a slicing action (a switch begins or ends).
    fn update_running_spaces(&mut self) {
        self.running_spaces.truncate(self.unsliced);
        for (g, sl) in self.slicers.iter().enumerate() {
            if sl.switching_until.is_none() {
                self.running_spaces.push(self.w.slice_groups[g].spaces[sl.active] as u32);
            }
        }
    }

    /// Placement may have become possible in space `s`.
    fn mark_place(&mut self, s: usize) {
        if !std::mem::replace(&mut self.place_dirty[s], true) {
            self.place_list.push(s as u32);
        }
    }

    /// Places what can be placed, then recomputes rates if anything changed.
    fn settle(&mut self) {
        // In space order, as a scan of every space visits them (placing flags no other space;
        // one flagged meanwhile would still be visited, after).
        self.place_list.sort_unstable();
        let mut i = 0;
        while i < self.place_list.len() {
            let s = self.place_list[i] as usize;
            i += 1;
            self.place_dirty[s] = false;
            if self.running(s as u32) {
                self.place_space(s);
            }
            if let Some((g, _)) = self.slots[s] {
                self.timeslice_changed(g);
            }
        }
        self.place_list.clear();
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
            let p = &self.w.params;
            if let Some(since) = l.tried_at {
                if !self.spaces[s].may_admit(&self.cohorts, since, &req, &p.limits, p.carveout) {
                    self.launches.v[lid as usize].tried_at = Some(self.spaces[s].changes);
                    i += 1;
                    continue;
                }
            }
            self.new_cohorts.clear();
            let placed = self.spaces[s].place(&mut self.cohorts, &req, &p.limits, p.carveout, &mut self.new_cohorts);
            if placed > 0 {
                self.rates_dirty = true;
                let l = &mut self.launches.v[lid as usize];
                l.unplaced -= placed;
                l.running += placed;
                let first = l.first_start.is_none();
                l.first_start.get_or_insert(self.now);
                if self.w.kernels[l.kernel as usize].link_bytes_per_block > 0.0 && self.w.clients[ci].ranks > 1 {
                    self.collective_placed(ci, lid, first);
                }
            }
            let l = &mut self.launches.v[lid as usize];
            if l.unplaced == 0 {
                self.runnable[s].remove(i);
            } else {
                l.tried_at = Some(self.spaces[s].changes);
                i += 1;
            }
        }
        let launches = &self.launches.v;
        let oldest = self.runnable[s].iter().filter_map(|&l| launches[l as usize].tried_at).min();
        self.spaces[s].forget_changes(oldest);
    }

    /// Blocks of a collective were placed: gated until every rank has started it; its first
    /// blocks announce this rank's arrival.
    fn collective_placed(&mut self, ci: usize, lid: u32, first: bool) {
        if !self.launches.v[lid as usize].released {
            for &id in &self.new_cohorts {
                self.cohorts.get_mut(id).gated = true;
            }
        }
        if first {
            let seq = self.collectives_started[ci];
            self.collectives_started[ci] += 1;
            self.collectives_waiting[ci].push_back(lid);
            self.arrivals.push((self.w.clients[ci].global as u32, seq));
        }
    }

    /// Every rank has started the collective client `ci` waits on longest: it moves its bytes.
    fn release_collective(&mut self, ci: usize) {
        let Some(lid) = self.collectives_waiting[ci].pop_front() else { return };
        self.launches.v[lid as usize].released = true;
        for i in 0..self.cohorts.live.len() {
            let c = self.cohorts.get_mut(self.cohorts.live[i]);
            if c.launch == lid {
                c.gated = false;
            }
        }
        self.rates_dirty = true;
    }

    /// When this GPU's next step happens (None once it has ended): the caller running GPUs in
    /// lock-step steps the earliest.
    pub(crate) fn next_time(&self) -> Option<Ns> {
        if self.stopped {
            return None;
        }
        let queued = self.q.peek_key().map_or(Ns::MAX, |k| k.0);
        Some(queued.min(self.next_tick).min(self.next_done.map_or(Ns::MAX, |d| d.0)))
    }

    /// No fast-forwarded tick at or past `t` (see `hold_before`).
    pub(crate) fn hold_before(&mut self, t: Ns) {
        self.hold_before = t;
    }

    /// The collectives this GPU's ranks started since the caller last cleared the list.
    pub(crate) fn arrivals(&mut self) -> &mut Vec<(u32, u64)> {
        &mut self.arrivals
    }

    /// Every rank of global client `global` has started its next collective, the last at `at`
    /// (not before this GPU's now): this rank's copy runs from then.
    pub(crate) fn release(&mut self, global: u32, at: Ns) {
        if let Some(ci) = self.w.clients.iter().position(|c| c.global as u32 == global) {
            self.q.push(at.max(self.now), Ev::Release(ci as u32));
        }
    }

    /// Rates at a new effective clock: every group's shares are recomputed.
    fn set_effective_clock(&mut self, mhz: f64) {
        if mhz != self.eff_mhz {
            self.eff_mhz = mhz;
            self.rate_params = self.w.params.rates.at(mhz);
            self.rates_gen += 1;
            self.rates_dirty = true;
        }
    }

    /// Rates, activity, power and clock (below); then, where time is accounted, what the
    /// final rates lose.
    fn recompute_rates(&mut self) {
        self.settle_rates_and_clock();
        if self.accounting {
            self.set_lost();
        }
    }

    /// Rates, activity and power; then the fast limiter: where the activity would draw more than
    /// it allows at the controller's clock (or less than it needs to hold a lower one), the SMs'
    /// clock moves and the rates follow. At most a few rounds (the activity of compute-bound
    /// work does not depend on the clock, so one usually settles it).
    fn settle_rates_and_clock(&mut self) {
        for _ in 0..FAST_LIMIT_ROUNDS {
            self.recompute_rates_once();
            // The common case: at the controller's clock and under the limit (power already known).
            if self.eff_mhz == self.clock.mhz && self.watts <= self.w.params.fast_limit.limit_w {
                return;
            }
            let target = self.w.params.fast_limit.effective_mhz(&self.power, &self.activity, self.clock.mhz);
            if target == self.eff_mhz {
                return;
            }
            self.set_effective_clock(target);
        }
        self.recompute_rates_once();
    }

    fn recompute_rates_once(&mut self) {
        let (slicers, slots) = (&self.slicers, &self.slots);
        let running = |s: u32| space_running(slicers, slots, s);
        let gen = self.rates_gen;
        let out = progress::recompute(
            self.w,
            &mut self.spaces,
            &self.running_spaces,
            &mut self.cohorts,
            &self.rate_params,
            gen,
            &running,
            &mut self.scratch,
            self.now,
        );
        // Activity for power, and the next completion.
        let mut a = Activity {
            tensor_busy_sms: out.tensor_busy_sms,
            fp32_busy_sms: out.fp32_busy_sms,
            dram_gbs: out.dram_gbs,
            ..Activity::default()
        };
        // Whole SM counts: the sum is exact in any order.
        for &si in &self.running_spaces {
            a.active_sms += self.spaces[si as usize].busy_sms as f64;
        }
        self.next_done = out.next;
        self.activity = a;
        self.watts = self.power.watts(&a, self.eff_mhz);
        if let Some(rec) = self.rec.0.as_mut() {
            for (ci, c) in self.w.clients.iter().enumerate() {
                let v = if running(c.space as u32) { self.spaces[c.space].client_sms[ci] as f64 } else { 0.0 };
                if v != self.rec_client_sms[ci] {
                    self.rec_client_sms[ci] = v;
                    rec.sample(self.gpu_index, Sample::ClientSms(c.global as u32), self.now, v);
                }
            }
        }
    }

    /// Steps every controller tick one at a time (for tests: the results must not change).
    pub fn step_every_tick(&mut self) {
        self.fast_forward = false;
    }

    /// Checks the invariants of every space (for tests).
    pub fn check_invariants(&self) -> Result<(), String> {
        let fp = |k: u32| self.footprints[k as usize];
        for s in &self.spaces {
            s.check(&self.cohorts, &self.w.params.limits, &fp, &self.caps)?;
        }
        for &id in &self.cohorts.live {
            let c = &self.cohorts.get(id);
            if !(0.0..=1.0).contains(&c.remaining) || !c.rate.is_finite() || c.rate < 0.0 {
                return Err(format!("cohort {id}: remaining {} rate {}", c.remaining, c.rate));
            }
        }
        // The kept list of running spaces is the spaces that run.
        let mut listed = self.running_spaces.clone();
        listed.sort_unstable();
        let running: Vec<u32> = (0..self.spaces.len() as u32).filter(|&s| self.running(s)).collect();
        if listed != running {
            return Err(format!("running spaces {listed:?} kept, {running:?} in fact"));
        }
        // The incremental rates equal rates computed afresh (a generation no group has seen
        // invalidates every kept share), to the bit.
        let (mut spaces, mut cohorts) = (self.spaces.clone(), self.cohorts.clone());
        let (slicers, slots) = (&self.slicers, &self.slots);
        let running = |s: u32| space_running(slicers, slots, s);
        let fresh_gen = self.rates_gen + 1;
        let mut scratch = progress::Scratch::default();
        let all: Vec<u32> = (0..spaces.len() as u32).collect();
        progress::recompute(
            self.w,
            &mut spaces,
            &all,
            &mut cohorts,
            &self.rate_params,
            fresh_gen,
            &running,
            &mut scratch,
            self.now,
        );
        for &id in &self.cohorts.live {
            let (kept, fresh) = (self.cohorts.get(id).rate, cohorts.get(id).rate);
            if kept.to_bits() != fresh.to_bits() {
                return Err(format!("cohort {id}: rate {kept} kept, {fresh} computed afresh"));
            }
        }
        Ok(())
    }

    /// Blocks launched and completed so far, over all kernels.
    pub fn block_counts(&self) -> (u64, u64) {
        self.stats.block_counts(self.w)
    }

    /// Keeps an idle GPU running (its power controller ticking) until `t`, so that several GPUs
    /// report over one common window. Does nothing after an error.
    pub(crate) fn idle_until(&mut self, t: Ns) {
        if self.error.is_none() && t > self.now {
            self.horizon = t;
            self.stopped = false;
        }
    }

    /// When the next step happens: the earliest of the queue, the next completion and the
    /// controller's tick.
    pub fn next_at(&self) -> Ns {
        let queued = self.q.peek_key().map_or(Ns::MAX, |k| k.0);
        queued.min(self.next_tick).min(self.next_done.map_or(Ns::MAX, |d| d.0))
    }

    /// A copy of this engine that will end at `horizon` (at or after now, before any step past
    /// it), reporting as an engine built for that horizon would. For runs without a recorder
    /// whose requests are kept as spans (`keep_request_spans`): the batches of the throughput's
    /// interval divide the horizon, which is only known now.
    pub(crate) fn fork_ending_at(&self, horizon: Ns) -> Engine<'w> {
        debug_assert!(self.rec.0.is_none() && self.stats.keeps_spans() && (self.stopped || self.next_at() > horizon));
        let mut e = self.clone();
        e.horizon = horizon;
        e.hold_before = Ns::MAX;
        e.stats.set_horizon(horizon);
        e
    }

    /// Keep measured requests as spans, so that a fork can report at its own horizon.
    pub(crate) fn keep_request_spans(&mut self) {
        self.stats.keep_spans();
    }

    /// The caller looks at the event count when it reaches `n` (a limit, progress): fast-forwarded
    /// ticks stop there rather than overshoot it.
    pub fn pause_at(&mut self, n: u64) {
        self.pause_at = n;
    }

    /// Steps taken so far: events and controller ticks (what limits and progress count).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Why the run stopped early, if it did.
    pub fn error(&self) -> Option<&RunError> {
        self.error.as_ref()
    }

    /// Stops the run here (the caller's limit or Ctrl-C); `finish` still reports what happened.
    pub fn stop(&mut self, why: RunError) {
        self.error.get_or_insert(why);
        self.stopped = true;
    }

    /// Ends the run: the report of this GPU.
    pub fn finish(mut self) -> Report {
        let switches = self.slicers.iter().map(|s| s.switches).sum();
        // The last, partial controller period counts for the power maximum and the trace.
        let period_ns = self.now.saturating_sub(self.last_tick);
        let partial = (period_ns > 0).then(|| self.stats.take_period_energy() / (period_ns as f64 * 1e-9));
        if let Some(avg) = partial {
            self.stats.period_power(avg);
        }
        // Work still running at the end shows up to the end, marked unfinished.
        if self.rec.0.is_some() {
            for i in 0..self.cohorts.live.len() {
                let c = self.cohorts.get(self.cohorts.live[i]).clone();
                self.record_cohort(&c, false);
            }
            for h in 0..self.hosts.len() {
                for j in 0..self.hosts[h].stream.len() {
                    let l = &self.launches.v[self.hosts[h].stream[j] as usize];
                    let (Some(start), Some(rec)) = (l.first_start, self.rec.0.as_mut()) else { continue };
                    let k = &self.w.kernels[l.kernel as usize];
                    let span = Span {
                        track: Track::Client(self.w.clients[h].global as u32),
                        kernel: &k.name,
                        start,
                        end: self.now,
                        sms: 0,
                        blocks: k.grid,
                        done: false,
                    };
                    rec.span(self.gpu_index, &span);
                }
            }
        }
        if let Some(rec) = self.rec.0.as_mut() {
            if let Some(avg) = partial {
                rec.sample(self.gpu_index, Sample::PowerW, self.last_tick, avg);
            }
            rec.end(self.gpu_index, self.now);
        }
        let events = self.events - self.ticks;
        let mut r = self.stats.report(
            self.w,
            self.now,
            events,
            switches,
            AtEnd { watts: self.watts, clock_mhz: self.clock.mhz, eff_mhz: self.eff_mhz },
        );
        r.sim.controller_ticks = self.ticks;
        r.sim.ticks_fast_forwarded = self.ticks_skipped;
        r.sim.mean_pending_events = self.q.mean_len();
        r
    }
}

/// Rounds of rates and the fast limiter per event (bounded: activity could move with the clock).
const FAST_LIMIT_ROUNDS: u32 = 3;

/// Most ticks one step fast-forwards.
const FAST_FORWARD_BATCH: u32 = 4096;
