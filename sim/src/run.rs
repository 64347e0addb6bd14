//! Running a bound workload: one engine per GPU of the layout (GPUs do not interact yet), and
//! one report for them all; the caller's limits, progress and Ctrl-C are honoured here.

use crate::engine::{Engine, RunError};
use crate::event_queue::Ns;
use crate::report::{GpuStats, Report, SimStats};
use crate::trace::Recorder;
use crate::workload::Workload;

/// How often (in events) the progress callback is called.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Where a run stands, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub gpu: usize,
    pub gpus: usize,
    pub now_ns: Ns,
    pub horizon_ns: Ns,
    /// Events so far, over all GPUs.
    pub events: u64,
}

/// What the caller asks of a run beyond the workload.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Hears every span and sample (a trace file, a plot).
    pub recorder: Option<&'a mut dyn Recorder>,
    /// Stop with [`RunError::TooManyEvents`] past this many events (over all GPUs).
    pub max_events: Option<u64>,
    /// Called every few tens of thousands of events; returning false stops the run
    /// ([`RunError::Interrupted`]).
    pub progress: Option<&'a mut dyn FnMut(Progress) -> bool>,
    /// Keep each client's time by state (`ClientReport::time_account`), the input of
    /// [`crate::slowdown::attribute_all`].
    pub account_time: bool,
}

/// A run that stopped early: why, and the report of what it simulated until then.
#[derive(Debug)]
pub struct Stopped {
    pub error: RunError,
    pub partial: Box<Report>,
}

/// Runs a workload to its end and reports.
pub fn run(w: &Workload) -> Report {
    match run_with(w, RunOptions::default()) {
        Ok(r) => r,
        Err(s) => *s.partial,
    }
}

/// Each kernel's mean duration (us, first block's start to last block's end) when `kernels` run
/// in one stream alone on the whole GPU of `gpu`: three passes after one untimed. Calibration
/// fits and judgements of single ops use it.
pub fn alone_us(gpu: &crate::GpuProfile, kernels: Vec<crate::spec::KernelSpec>) -> Result<Vec<f64>, crate::SpecError> {
    use crate::spec::{Arrivals, ClientSpec, Sharing, Timing};
    let client = ClientSpec {
        name: "alone".into(),
        requests: Some(3),
        warmup_requests: 1,
        arrivals: Arrivals::ClosedLoop { think_us: 0.0 },
        timing: Timing::CudaEvents,
        unit: "passes".into(),
        units_per_request: 1.0,
        cuda_graph: false,
        kernels,
        groups: Vec::new(),
    };
    let spec = crate::WorkloadSpec { name: "alone".into(), seed: 1, duration_s: 60.0, clients: vec![client] };
    let w = Workload::build(&spec, &crate::Layout::whole_gpu(Sharing::Dedicated, &[None]), gpu)?;
    let r = run(&w);
    let entries = r.clients[0].kernel_entries.as_deref().unwrap_or_default();
    Ok(entries.iter().map(|e| e.duration_us.as_ref().map_or(0.0, |d| d.mean)).collect())
}

/// Steps an engine until it ends, honouring the event limit and the progress callback.
/// `events` counts over all GPUs (and both passes of a recorded multi-GPU run).
fn drive(e: &mut Engine<'_>, i: usize, w: &Workload, events: &mut u64, ctl: &mut Control<'_>) {
    drive_until(e, i, w, events, ctl, Ns::MAX)
}

/// `drive`, stopping short of the first step after `until` (which a later call may take).
fn drive_until(e: &mut Engine<'_>, i: usize, w: &Workload, events: &mut u64, ctl: &mut Control<'_>, until: Ns) {
    if ctl.account_time {
        e.account_time();
    }
    let limit = ctl.max_events.unwrap_or(u64::MAX);
    let base = *events - e.events();
    // One comparison per event: the next event count at which to look up.
    let mut check_at = limit.min(*events + PROGRESS_EVERY);
    e.pause_at(check_at - base);
    while (until == Ns::MAX || e.next_at() <= until) && e.step() {
        let total = base + e.events();
        if total < check_at {
            continue;
        }
        if total >= limit {
            e.stop(RunError::TooManyEvents { limit: total });
            break;
        }
        check_at = limit.min(total + PROGRESS_EVERY);
        e.pause_at(check_at - base);
        if let Some(p) = ctl.progress.as_mut() {
            let at = Progress { gpu: i, gpus: w.gpus.len(), now_ns: e.now(), horizon_ns: w.horizon_ns, events: total };
            if !p(at) {
                e.stop(RunError::Interrupted);
                break;
            }
        }
    }
    *events = base + e.events();
}

/// The caller's limit and progress callback, apart from the recorder.
struct Control<'a> {
    max_events: Option<u64>,
    progress: Option<&'a mut dyn FnMut(Progress) -> bool>,
    account_time: bool,
}

/// Runs a workload with a recorder, an event limit and a progress callback. A run stopped early
/// gives its error and the report of what it simulated until then.
///
/// With several GPUs every GPU reports over one window, the longest GPU's: one whose clients
/// finished early idles (at idle power, its controller ticking) until then. With a recorder
/// that window is found by a first pass without it, since the recorder follows one GPU at a time.
pub fn run_with(w: &Workload, opts: RunOptions<'_>) -> Result<Report, Stopped> {
    let RunOptions { mut recorder, max_events, progress, account_time } = opts;
    let mut ctl = Control { max_events, progress, account_time };
    let mut events = 0u64;
    let mut error = None;
    let mut reports = Vec::with_capacity(w.gpus.len());
    if w.gpus.iter().any(|g| g.clients.iter().any(|c| c.ranks > 1)) {
        // Tensor-parallel clients couple their GPUs: one thread steps them all in time order.
        let rec = recorder.as_mut().map(|r| &mut **r as &mut dyn Recorder);
        let (r, e) = lockstep(w, &mut ctl, rec, &mut events);
        reports = r;
        error = e;
    } else if w.gpus.len() == 1 {
        let rec = recorder.as_mut().map(|r| &mut **r as &mut dyn Recorder);
        let mut e = Engine::for_gpu(&w.gpus[0], 0, rec);
        drive(&mut e, 0, w, &mut events, &mut ctl);
        error = e.error().cloned();
        reports.push(e.finish());
    } else if recorder.is_none() {
        // GPUs do not interact: each runs on a thread of its own (results do not depend on it).
        let (r, e) = parallel(w, &mut ctl);
        reports = r;
        error = e;
    } else {
        let mut end = 0;
        for (i, g) in w.gpus.iter().enumerate() {
            let mut e = Engine::for_gpu(g, i as u32, None);
            if error.is_none() {
                drive(&mut e, i, w, &mut events, &mut ctl);
                error = e.error().cloned();
            }
            end = end.max(e.now());
        }
        events = 0;
        for (i, g) in w.gpus.iter().enumerate() {
            let rec = recorder.as_mut().map(|r| &mut **r as &mut dyn Recorder);
            let mut e = Engine::for_gpu(g, i as u32, rec);
            if error.is_none() {
                drive(&mut e, i, w, &mut events, &mut ctl);
                e.idle_until(end);
                drive(&mut e, i, w, &mut events, &mut ctl);
                error = e.error().cloned();
            }
            reports.push(e.finish());
        }
    }
    let report = if reports.len() == 1 { reports.remove(0) } else { merge(w, reports) };
    match error {
        None => Ok(report),
        Some(error) => Err(Stopped { error, partial: Box::new(report) }),
    }
}

/// A run of a one-GPU workload that reports at horizons it reaches one after another (a plan's
/// growing windows): each report is the one a fresh run to that horizon gives, without
/// simulating the start again. The workload is built for the longest horizon. Requests are kept
/// as spans until a report (their memory grows with the requests: for short windows).
pub struct Windows<'w> {
    w: &'w Workload,
    engine: Engine<'w>,
    /// Events so far (what the caller's limit counts, as in a fresh run).
    events: u64,
}

impl<'w> Windows<'w> {
    /// None where the workload has several GPUs (they report over one common window).
    pub fn new(w: &'w Workload) -> Option<Windows<'w>> {
        if w.gpus.len() != 1 {
            return None;
        }
        let mut engine = Engine::for_gpu(&w.gpus[0], 0, None);
        engine.keep_request_spans();
        Some(Windows { w, engine, events: 0 })
    }

    /// The report at `horizon_ns`, with the caller's event limit and progress as `run_with`
    /// honours them. Horizons rise from call to call, up to the workload's (one past it reports
    /// at the workload's; one before what was already simulated, at that time).
    pub fn report_at(
        &mut self,
        horizon_ns: Ns,
        max_events: Option<u64>,
        progress: Option<&mut dyn FnMut(Progress) -> bool>,
    ) -> Result<Report, Stopped> {
        let horizon = horizon_ns.min(self.w.horizon_ns);
        let mut ctl = Control { max_events, progress, account_time: false };
        // Ticks fast-forwarded up to the horizon, never past it, as a run ending there does.
        self.engine.hold_before(horizon.saturating_add(1));
        drive_until(&mut self.engine, 0, self.w, &mut self.events, &mut ctl, horizon);
        let mut end = self.engine.fork_ending_at(horizon.max(self.engine.now()));
        let mut events = self.events;
        if self.engine.error().is_none() {
            drive(&mut end, 0, self.w, &mut events, &mut ctl);
        }
        let error = end.error().cloned();
        let report = end.finish();
        match error {
            None => Ok(report),
            Some(error) => Err(Stopped { error, partial: Box::new(report) }),
        }
    }
}

/// One recorder heard by several engines at once (lock-step runs interleave their GPUs).
struct Shared<'a, 'r>(&'a std::cell::RefCell<&'r mut dyn Recorder>);

impl Recorder for Shared<'_, '_> {
    fn gpu(&mut self, info: &crate::trace::GpuInfo) {
        self.0.borrow_mut().gpu(info)
    }
    fn span(&mut self, gpu: u32, span: &crate::trace::Span<'_>) {
        self.0.borrow_mut().span(gpu, span)
    }
    fn sample(&mut self, gpu: u32, what: crate::trace::Sample, t: Ns, value: f64) {
        self.0.borrow_mut().sample(gpu, what, t, value)
    }
    fn end(&mut self, gpu: u32, t: Ns) {
        self.0.borrow_mut().end(gpu, t)
    }
}

/// Runs GPUs coupled by tensor-parallel clients: always the GPU whose next step comes first
/// (the lowest index on a tie), so that a collective every rank has started is released on
/// each at the time the last rank started it, never in a GPU's past. Deterministic; one thread.
/// Then, as elsewhere, every GPU idles to the common end.
fn lockstep(
    w: &Workload,
    ctl: &mut Control<'_>,
    rec: Option<&mut dyn Recorder>,
    events: &mut u64,
) -> (Vec<Report>, Option<RunError>) {
    let cell = rec.map(std::cell::RefCell::new);
    let mut shared: Vec<Option<Shared<'_, '_>>> = w.gpus.iter().map(|_| cell.as_ref().map(Shared)).collect();
    let mut engines: Vec<Engine<'_>> = w
        .gpus
        .iter()
        .zip(shared.iter_mut())
        .enumerate()
        .map(|(i, (g, s))| Engine::for_gpu(g, i as u32, s.as_mut().map(|s| s as &mut dyn Recorder)))
        .collect();
    if ctl.account_time {
        engines.iter_mut().for_each(|e| e.account_time());
    }
    // Ranks of each global client, and the starts each of its collectives has seen so far.
    let clients = w.gpus.iter().flat_map(|g| g.clients.iter().map(|c| c.global + 1)).max().unwrap_or(0);
    let mut ranks = vec![0u32; clients];
    for g in &w.gpus {
        for c in &g.clients {
            ranks[c.global] = c.ranks;
        }
    }
    let mut started: std::collections::HashMap<(u32, u64), u32> = std::collections::HashMap::new();
    let mut arrived = Vec::new();
    let mut error = None;
    for round in 0..2 {
        if round == 1 {
            let end = engines.iter().map(|e| e.now()).max().unwrap_or(0);
            engines.iter_mut().for_each(|e| e.idle_until(end));
        }
        let limit = ctl.max_events.unwrap_or(u64::MAX);
        let mut check_at = (*events + PROGRESS_EVERY).min(limit);
        while error.is_none() {
            let mut next: Option<(Ns, usize)> = None;
            let mut second = Ns::MAX;
            for (i, e) in engines.iter().enumerate() {
                let Some(t) = e.next_time() else { continue };
                match next {
                    Some((nt, _)) if t >= nt => second = second.min(t),
                    _ => {
                        if let Some((nt, _)) = next {
                            second = second.min(nt);
                        }
                        next = Some((t, i));
                    }
                }
            }
            let Some((_, i)) = next else { break };
            let e = &mut engines[i];
            e.hold_before(second);
            e.pause_at(e.events() + (check_at - *events).max(1));
            let before = e.events();
            e.step();
            *events += e.events() - before;
            let now = e.now();
            arrived.clear();
            arrived.append(e.arrivals());
            for &(client, seq) in &arrived {
                let n = started.entry((client, seq)).or_insert(0);
                *n += 1;
                if *n == ranks[client as usize] {
                    started.remove(&(client, seq));
                    engines.iter_mut().for_each(|e| e.release(client, now));
                }
            }
            if *events >= check_at {
                if *events >= limit {
                    error = Some(RunError::TooManyEvents { limit: *events });
                    break;
                }
                check_at = (*events + PROGRESS_EVERY).min(limit);
                if let Some(p) = ctl.progress.as_mut() {
                    let at =
                        Progress { gpu: i, gpus: w.gpus.len(), now_ns: now, horizon_ns: w.horizon_ns, events: *events };
                    if !p(at) {
                        error = Some(RunError::Interrupted);
                    }
                }
            }
            if let Some(e) = engines.iter().find_map(|e| e.error().cloned()) {
                error = Some(e);
            }
        }
    }
    if let Some(err) = &error {
        engines.iter_mut().for_each(|e| e.stop(err.clone()));
    }
    (engines.into_iter().map(|e| e.finish()).collect(), error)
}

/// Runs every GPU on a thread of its own: first to its own end, then (after all reached theirs)
/// idling to the common end. The caller's thread calls the progress callback and relays a stop;
/// the event limit counts over all GPUs.
fn parallel(w: &Workload, ctl: &mut Control<'_>) -> (Vec<Report>, Option<RunError>) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    let n = w.gpus.len();
    let limit = ctl.max_events.unwrap_or(u64::MAX);
    let account_time = ctl.account_time;
    let (stop, total, end, done) = (AtomicBool::new(false), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let barrier = std::sync::Barrier::new(n);
    // Steps until the engine ends, adding to the shared count every so often.
    let run = |e: &mut Engine<'_>| {
        let mut counted = e.events();
        while e.step() {
            if e.events() - counted >= PROGRESS_EVERY {
                let all = total.fetch_add(e.events() - counted, SeqCst) + e.events() - counted;
                counted = e.events();
                if all >= limit {
                    e.stop(RunError::TooManyEvents { limit: all });
                } else if stop.load(SeqCst) {
                    e.stop(RunError::Interrupted);
                }
            }
        }
        total.fetch_add(e.events() - counted, SeqCst);
    };
    let results: Vec<(Report, Option<RunError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = w
            .gpus
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let (run, barrier, end, stop, done) = (&run, &barrier, &end, &stop, &done);
                s.spawn(move || {
                    let mut e = Engine::for_gpu(g, i as u32, None);
                    if account_time {
                        e.account_time();
                    }
                    run(&mut e);
                    end.fetch_max(e.now(), SeqCst);
                    if e.error().is_some() {
                        stop.store(true, SeqCst);
                    }
                    barrier.wait();
                    if !stop.load(SeqCst) {
                        e.idle_until(end.load(SeqCst));
                        run(&mut e);
                    }
                    let error = e.error().cloned();
                    if error.is_some() {
                        stop.store(true, SeqCst);
                    }
                    done.fetch_add(1, SeqCst);
                    (e.finish(), error)
                })
            })
            .collect();
        while handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(std::time::Duration::from_millis(20));
            if let Some(p) = ctl.progress.as_mut() {
                let finished = done.load(SeqCst) as usize;
                let at = Progress {
                    gpu: finished.min(n - 1),
                    gpus: n,
                    now_ns: 0,
                    horizon_ns: w.horizon_ns,
                    events: total.load(SeqCst),
                };
                if !p(at) {
                    stop.store(true, SeqCst);
                }
            }
        }
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    // The cause, not the other GPUs it stopped.
    let errors: Vec<&RunError> = results.iter().filter_map(|(_, e)| e.as_ref()).collect();
    let error = errors.iter().find(|e| **e != &RunError::Interrupted).or(errors.first()).map(|e| (*e).clone());
    (results.into_iter().map(|(r, _)| r).collect(), error)
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
        avg_effective_sm_clock_mhz: avg(|s| s.avg_effective_sm_clock_mhz),
        sm_busy_fraction: avg(|s| s.sm_busy_fraction),
        avg_dram_gbs: avg(|s| s.avg_dram_gbs),
        context_switches: stats.iter().map(|s| s.context_switches).sum(),
    };
    let events: u64 = reports.iter().map(|r| r.sim.events).sum();
    let reports_ticks: u64 = reports.iter().map(|r| r.sim.controller_ticks).sum();
    let ticks_fast_forwarded = reports.iter().map(|r| r.sim.ticks_fast_forwarded).sum();
    let pending = reports.iter().map(|r| r.sim.mean_pending_events * r.sim.events as f64).sum::<f64>();
    let mean_pending_events = if events > 0 { pending / events as f64 } else { 0.0 };
    let simulated_s = reports.iter().map(|r| r.simulated_s).fold(0.0, f64::max);
    let per_gpu: Vec<GpuStats> = stats.into_iter().cloned().collect();
    // Clients in the workload's order, wherever the layout put them.
    let globals = w.gpus.iter().flat_map(|g| g.clients.iter().map(|c| c.global));
    let mut clients: Vec<_> = globals.zip(reports.into_iter().flat_map(|r| r.clients)).collect();
    clients.sort_by_key(|(g, _)| *g);
    // A tensor-parallel client reports once: its first rank's report (its ranks step together).
    clients.dedup_by_key(|(g, _)| *g);
    let clients = clients.into_iter().map(|(_, c)| c).collect();
    let controller_ticks = reports_ticks;
    let mut r = w.meta.report(
        simulated_s,
        clients,
        gpu_stats,
        SimStats { events, controller_ticks, ticks_fast_forwarded, mean_pending_events, wall_ms: 0.0 },
    );
    r.per_gpu = per_gpu;
    r
}

/// An upper estimate of the events a run takes, before running it: per client, the requests
/// that fit in the horizon (its request count, or the horizon over a lower bound on one
/// request's time), times the events per request (a host step and a visibility per launch, a
/// completion or two per wave of blocks), plus the power controller's ticks. Used to refuse a
/// run that would take hours before it starts.
pub fn estimate_events(w: &Workload) -> f64 {
    let mut total = 0.0;
    for g in &w.gpus {
        let p = &g.params;
        let rates = p.rates.at(p.clock.max_mhz);
        let horizon = g.horizon_ns as f64;
        total += horizon / p.control_period_ns as f64;
        // Time-slicing: a slice end and a switch per slice while contexts contend.
        for group in &g.slice_groups {
            total += 2.0 * horizon / group.params.slice_ns.max(1) as f64;
        }
        for c in &g.clients {
            let (mut request_ns, mut per_request) = (0.0f64, 1.0f64);
            for op in &c.ops {
                let k = &g.kernels[op.kernel as usize];
                let resident = (k.footprint.max_per_sm.max(1) as f64) * p.n_sms as f64;
                let waves = (k.grid as f64 / resident).ceil();
                // A lone kernel on the whole GPU at the maximum clock can go no faster than its
                // work at peak rate, its bytes at full bandwidth, or its shortest block.
                let work_ns = k.grid as f64 * rates.full_sm_ns(k) / p.n_sms as f64;
                let bytes_ns = k.grid as f64 * k.bytes_per_block * k.bw_weight / p.read_bw;
                let kernel_ns = work_ns.max(bytes_ns).max(rates.block_min_ns).max(1.0) + waves * k.block_latency_ns;
                request_ns += op.repeat as f64 * kernel_ns.max(k.host_gap_ns as f64);
                per_request += op.repeat as f64 * (2.0 + 2.0 * waves);
            }
            request_ns += c.think_ns as f64;
            let by_time = horizon / request_ns.max(1.0);
            let by_arrivals = c.arrival_rate_per_s.map_or(f64::INFINITY, |r| r * horizon / 1e9 + 1.0);
            let requests = (c.requests.map_or(f64::INFINITY, |n| n as f64)).min(by_time).min(by_arrivals);
            total += requests * per_request;
        }
    }
    total
}
