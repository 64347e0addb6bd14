//! `simgpu bench`: times the bundled benchmark scenarios, and as a yardstick the same number of
//! push/pop operations on a bare binary heap of (time, sequence) keys.

use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

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
    kernels: u64,
    wall_ms: f64,
    events_per_s: f64,
    simulated_s: f64,
    sim_to_wall: f64,
    heap_events_per_s: f64,
}

#[derive(Serialize)]
struct Benches {
    /// Runs per benchmark; wall_ms is the fastest.
    repeat: u32,
    /// What heap_events_per_s measures.
    heap_yardstick: &'static str,
    benchmarks: Vec<Bench>,
}

/// Pushes `n` pseudo-random (time, seq) keys, then pops them all; returns operations per second
/// counting a push and its pop as one event, as the simulator counts one popped event.
fn heap_rate(n: u64) -> (f64, u64) {
    let mut h = BinaryHeap::with_capacity(n as usize);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let start = Instant::now();
    for seq in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        h.push(Reverse((x >> 24, seq)));
    }
    let mut check = 0u64;
    while let Some(Reverse((t, _))) = h.pop() {
        check = check.wrapping_add(t);
    }
    (n as f64 / start.elapsed().as_secs_f64(), check)
}

pub fn bench(json: bool, repeat: u32) -> Result<(), String> {
    let mut out = Vec::new();
    for (name, file, text) in BENCHES {
        let scn = simgpu_sim::Scenario::parse(file, text).map_err(|e| e.to_string())?;
        // The built-in profile, as `simgpu run` picks it from any directory.
        let gpu = crate::profiles::builtin(scn.spec.gpu.get_ref())
            .ok_or_else(|| format!("{file}: no built-in profile"))??;
        let mut w = scn.bind(&gpu).map_err(|e| e.to_string())?;
        w.set_profile_origin("built-in");
        let mut best = f64::INFINITY;
        let mut report = None;
        for _ in 0..repeat {
            let start = Instant::now();
            let r = simgpu_sim::run(&w);
            best = best.min(start.elapsed().as_secs_f64());
            report = Some(r);
        }
        let r = report.ok_or("no repetition ran")?;
        let kernels: u64 = r.clients.iter().flat_map(|c| &c.kernels).map(|k| k.completed).sum();
        let mut heap = 0.0f64;
        for _ in 0..repeat {
            heap = heap.max(heap_rate(r.sim.events.max(1)).0);
        }
        out.push(Bench {
            name: name.to_string(),
            scenario: file.to_string(),
            profile: r.profile.clone(),
            events: r.sim.events,
            kernels,
            wall_ms: best * 1e3,
            events_per_s: r.sim.events as f64 / best,
            simulated_s: r.simulated_s,
            sim_to_wall: r.simulated_s / best,
            heap_events_per_s: heap,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&Benches {
                repeat,
                heap_yardstick: "push all keys into a binary heap of (time, sequence), then pop them all; one push and one pop per event",
                benchmarks: out,
            }).map_err(|e| e.to_string())?);
    } else {
        println!(
            "{:<18} {:>10} {:>9} {:>10} {:>14} {:>12} {:>12} {:>16}",
            "benchmark", "events", "kernels", "wall ms", "events/s", "simulated s", "sim/wall", "heap events/s"
        );
        for b in out {
            println!(
                "{:<18} {:>10} {:>9} {:>10.2} {:>14.0} {:>12.3} {:>12.1} {:>16.0}",
                b.name,
                b.events,
                b.kernels,
                b.wall_ms,
                b.events_per_s,
                b.simulated_s,
                b.sim_to_wall,
                b.heap_events_per_s
            );
        }
    }
    Ok(())
}
