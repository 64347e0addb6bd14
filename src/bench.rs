//! `simgpu bench`: times the bundled benchmark scenarios and, as a yardstick in the same run, a
//! hold model: a bare binary heap of (time, sequence) keys holding as many entries as the
//! simulation's queue held on average, where each event pops the earliest key and pushes a later
//! one. The ratio says how close the engine comes to the cost of its event queue alone.

use serde::Serialize;
use simgpu_sim::spec::Sharing;
use simgpu_sim::{Layout, WorkloadSpec};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write;
use std::time::Instant;

const DECODE: &str = include_str!("../scenarios/bench/decode-mps.toml");

const BENCHES: &[(&str, &str, &str)] = &[
    ("seed000-mps-132", "scenarios/seed000/mps-132.toml", include_str!("../scenarios/seed000/mps-132.toml")),
    ("decode-mps", "scenarios/bench/decode-mps.toml", include_str!("../scenarios/bench/decode-mps.toml")),
];

#[derive(Serialize)]
struct Bench {
    name: String,
    /// The scenario file, as bundled.
    scenario: String,
    /// The profile the scenario resolves to, as `simgpu run` resolves it.
    profile: simgpu_sim::report::ProfileUsed,
    events: u64,
    /// Power-controller periods (kept out of the event queue).
    controller_ticks: u64,
    /// Of those, taken in batches while the controller sat at a fixed point.
    ticks_fast_forwarded: u64,
    /// What the engine stepped through one at a time: events plus the ticks not fast-forwarded.
    steps: u64,
    kernels: u64,
    wall_ms: f64,
    events_per_s: f64,
    simulated_s: f64,
    sim_to_wall: f64,
    /// Mean pending events in the simulation's queue: the hold model's heap size.
    mean_pending_events: f64,
    hold_events_per_s: f64,
    /// events_per_s / hold_events_per_s.
    hold_ratio: f64,
}

#[derive(Serialize)]
struct Benches {
    /// Runs per benchmark; wall_ms is the fastest.
    repeat: u32,
    /// What hold_events_per_s measures.
    yardstick: &'static str,
    benchmarks: Vec<Bench>,
    scaling: Vec<Scaling>,
    parallel: Parallel,
}

/// Runs every case once in order, then once through rayon (the engine itself stays one thread
/// per run): the speed-up of independent simulations on this machine.
fn parallel_speedup(cases: &[(String, String, simgpu_sim::Workload)]) -> Parallel {
    use rayon::prelude::*;
    let start = Instant::now();
    for (_, _, w) in cases {
        std::hint::black_box(simgpu_sim::run(w));
    }
    let sequential = start.elapsed().as_secs_f64();
    let start = Instant::now();
    cases.par_iter().for_each(|(_, _, w)| {
        std::hint::black_box(simgpu_sim::run(w));
    });
    let parallel = start.elapsed().as_secs_f64();
    Parallel {
        runs: cases.len(),
        threads: rayon::current_num_threads(),
        sequential_ms: sequential * 1e3,
        parallel_ms: parallel * 1e3,
        speedup: sequential / parallel,
    }
}

/// The hold model: a heap of `size` (time, seq) keys; `n` times, pop the earliest and push a key
/// a pseudo-random time later. Returns operations per second (one pop and one push per event,
/// as the simulator pops one event and pushes about one).
fn hold_rate(size: usize, n: u64) -> (f64, u64) {
    let mut h = BinaryHeap::with_capacity(size + 1);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let next = |x: &mut u64| {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x >> 44
    };
    for seq in 0..size as u64 {
        h.push(Reverse((next(&mut x), seq)));
    }
    let mut check = 0u64;
    let start = Instant::now();
    for seq in 0..n {
        if let Some(Reverse((t, _))) = h.pop() {
            check = check.wrapping_add(t);
            h.push(Reverse((t + 1 + next(&mut x), size as u64 + seq)));
        }
    }
    (n as f64 / start.elapsed().as_secs_f64(), check)
}

/// The decode bench's client, `n` times, sharing 100,000 kernels between them: how the engine
/// scales with clients (a workload generator on the typed front door, no TOML).
fn many_clients(sharing: Sharing, n: usize) -> Result<(WorkloadSpec, Layout), String> {
    let scn = simgpu_sim::Scenario::parse("decode-mps.toml", DECODE).map_err(|e| e.to_string())?;
    let (mut spec, _) = scn.to_spec();
    let one = spec.clients[0].clone();
    let launches: u64 = one.kernels.iter().map(|k| k.repeat as u64).sum();
    let requests = (100_000 / (launches * n as u64)).max(1);
    spec.name = format!("decode-{}-{n}", sharing.as_str());
    spec.clients = (0..n)
        .map(|i| simgpu_sim::spec::ClientSpec { name: format!("decode-{i}"), requests: Some(requests), ..one.clone() })
        .collect();
    let pct = (sharing == Sharing::Mps).then_some((100.0 / n as f64).max(1.0));
    Ok((spec, Layout::whole_gpu(sharing, &vec![pct; n])))
}

/// Generated benchmarks: (name, clients, sharing, slow). Slow ones run only with `--slow`.
const GENERATED: &[(&str, usize, Sharing, bool)] = &[
    ("decode-mps-2", 2, Sharing::Mps, false),
    ("decode-mps-16", 16, Sharing::Mps, false),
    ("decode-mps-32", 32, Sharing::Mps, true),
    ("decode-mps-64", 64, Sharing::Mps, true),
    ("decode-timeslice-2", 2, Sharing::Timeslice, false),
    ("decode-timeslice-256", 256, Sharing::Timeslice, false),
];

/// Seed 000's MPS scenario over a long horizon: mostly a steady GPU and controller ticks.
const LONG_S: f64 = 60_000.0;

/// How a generated benchmark's wall time compares with its two-client form.
#[derive(Serialize)]
struct Scaling {
    benchmark: String,
    baseline: String,
    wall_ratio: f64,
    /// The wall ratio is this one (the model's events: more clients on smaller MPS caps run
    /// more waves of blocks) times `per_event_ratio` (the engine's cost per event).
    events_ratio: f64,
    per_event_ratio: f64,
}

/// All benchmarks run once one after another, and once in parallel (one run per thread).
#[derive(Serialize)]
struct Parallel {
    runs: usize,
    threads: usize,
    sequential_ms: f64,
    parallel_ms: f64,
    speedup: f64,
}

pub fn bench(json: bool, repeat: u32, slow: bool, only: &[String]) -> Result<(), String> {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let h100 = crate::profiles::builtin("h100-sxm").ok_or("no built-in h100-sxm")??;
    let mut cases: Vec<(String, String, simgpu_sim::Workload)> = Vec::new();
    for (name, file, text) in BENCHES {
        if !wanted(name) {
            continue;
        }
        let scn = simgpu_sim::Scenario::parse(file, text).map_err(|e| e.to_string())?;
        // The built-in profile, as `simgpu run` picks it from any directory.
        let gpu = crate::profiles::builtin(scn.spec.gpu.get_ref())
            .ok_or_else(|| format!("{file}: no built-in profile"))??;
        cases.push((name.to_string(), file.to_string(), scn.bind(&gpu).map_err(|e| e.to_string())?));
    }
    if wanted(&format!("seed000-mps-132-{LONG_S}s")) {
        let (_, file, text) = BENCHES[0];
        let scn = simgpu_sim::Scenario::parse(file, text).map_err(|e| e.to_string())?;
        let (mut spec, layout) = scn.to_spec();
        spec.name = format!("seed000-mps-132-{LONG_S}s");
        spec.duration_s = LONG_S;
        let w = simgpu_sim::Workload::build(&spec, &layout, &h100).map_err(|e| e.to_string())?;
        let what = format!("generated: {file} over {LONG_S} s");
        cases.push((spec.name.clone(), what, w));
    }
    for &(name, n, sharing, is_slow) in GENERATED {
        if !wanted(name) || (is_slow && !slow && only.is_empty()) {
            continue;
        }
        let (spec, layout) = many_clients(sharing, n)?;
        let w = simgpu_sim::Workload::build(&spec, &layout, &h100).map_err(|e| e.to_string())?;
        let what = format!("generated: decode-mps's client x {n}, {} (100,000 kernels)", sharing.as_str());
        cases.push((name.to_string(), what, w));
    }
    if let Some(bad) = only.iter().find(|o| !cases.iter().any(|(n, _, _)| n == *o)) {
        let names: Vec<String> = BENCHES
            .iter()
            .map(|b| b.0.to_string())
            .chain([format!("seed000-mps-132-{LONG_S}s")])
            .chain(GENERATED.iter().map(|g| g.0.to_string()))
            .collect();
        return Err(format!("--only {bad}: no such benchmark (there are: {})", names.join(", ")));
    }
    let mut out = Vec::new();
    for (_, _, w) in cases.iter_mut() {
        w.set_profile_origin("built-in");
    }
    let parallel = parallel_speedup(&cases);
    for (name, file, w) in cases {
        let mut best = f64::INFINITY;
        let mut report = None;
        for _ in 0..repeat {
            let start = Instant::now();
            let r = simgpu_sim::run(&w);
            best = best.min(start.elapsed().as_secs_f64());
            report = Some(r);
        }
        let r = report.ok_or("no repetition ran")?;
        let ticks = r.sim.controller_ticks;
        let kernels: u64 = r.clients.iter().flat_map(|c| &c.kernels).map(|k| k.completed).sum();
        // The yardstick in the same run, at the simulation's own mean queue size.
        let size = r.sim.mean_pending_events.round().max(1.0) as usize;
        let mut hold = 0.0f64;
        for _ in 0..repeat {
            hold = hold.max(hold_rate(size, r.sim.events.max(1)).0);
        }
        let events_per_s = r.sim.events as f64 / best;
        out.push(Bench {
            name,
            scenario: file,
            profile: r.profile.clone(),
            events: r.sim.events,
            controller_ticks: ticks,
            ticks_fast_forwarded: r.sim.ticks_fast_forwarded,
            steps: r.sim.events + ticks - r.sim.ticks_fast_forwarded,
            kernels,
            wall_ms: best * 1e3,
            events_per_s,
            simulated_s: r.simulated_s,
            sim_to_wall: r.simulated_s / best,
            mean_pending_events: r.sim.mean_pending_events,
            hold_events_per_s: hold,
            hold_ratio: events_per_s / hold,
        });
    }
    let find = |n: &str| out.iter().find(|b| b.name == n);
    let mut scaling = Vec::new();
    for &(name, n, sharing, _) in GENERATED {
        let baseline = format!("decode-{}-2", sharing.as_str());
        if let (Some(a), Some(b)) = (find(name), find(&baseline)) {
            if n > 2 {
                let wall_ratio = a.wall_ms / b.wall_ms;
                let events_ratio = a.events as f64 / b.events.max(1) as f64;
                let per_event_ratio = wall_ratio / events_ratio;
                scaling.push(Scaling { benchmark: name.into(), baseline, wall_ratio, events_ratio, per_event_ratio });
            }
        }
    }
    let mut text = String::new();
    if json {
        let doc = Benches { repeat, yardstick: YARDSTICK, benchmarks: out, scaling, parallel };
        text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())? + "\n";
    } else {
        let _ = writeln!(
            text,
            "{:<20} {:>10} {:>10} {:>10} {:>9} {:>10} {:>12} {:>12} {:>10} {:>8} {:>12} {:>7}",
            "benchmark",
            "events",
            "ticks",
            "steps",
            "kernels",
            "wall ms",
            "events/s",
            "simulated s",
            "sim/wall",
            "queue",
            "hold ev/s",
            "ratio"
        );
        for b in &out {
            let _ = writeln!(
                text,
                "{:<20} {:>10} {:>10} {:>10} {:>9} {:>10.2} {:>12.0} {:>12.3} {:>10.1} {:>8.1} {:>12.0} {:>7.3}",
                b.name,
                b.events,
                b.controller_ticks,
                b.steps,
                b.kernels,
                b.wall_ms,
                b.events_per_s,
                b.simulated_s,
                b.sim_to_wall,
                b.mean_pending_events,
                b.hold_events_per_s,
                b.hold_ratio
            );
        }
        let _ = writeln!(text, "ratio: events/s over the hold model's ({YARDSTICK})");
        let _ = writeln!(
            text,
            "steps: events plus the controller ticks not fast-forwarded (a tick at a fixed point is batched)"
        );
        for x in &scaling {
            let _ = writeln!(
                text,
                "{}: {:.2}x the wall time of {} ({:.2}x its events, {:.2}x its cost per event)",
                x.benchmark, x.wall_ratio, x.baseline, x.events_ratio, x.per_event_ratio
            );
        }
        let _ = writeln!(
            text,
            "all {} runs once: {:.1} ms one after another, {:.1} ms on {} threads ({:.2}x)",
            parallel.runs, parallel.sequential_ms, parallel.parallel_ms, parallel.threads, parallel.speedup
        );
        if let Some(p) = out.first().map(|b| &b.profile) {
            let _ = writeln!(
                text,
                "profile: {} ({}, calibrated {})",
                p.name,
                p.origin,
                p.calibration_date.as_deref().unwrap_or("no")
            );
        }
    }
    crate::files::print(&text)
}

const YARDSTICK: &str = "a binary heap of (time, sequence) keys at the simulation's mean queue size; \
                         each event pops the earliest key and pushes a later one";
